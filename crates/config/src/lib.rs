//! Portcullis configuration: one YAML file, parsed into typed sections.
//!
//! Design decisions:
//! - Parse, don't validate: every section is a serde type with `deny_unknown_fields`; a value that
//!   deserializes is well-formed, and [`Config::load`] then checks what types cannot (unique
//!   names, references between sections, files that must exist) and resolves relative paths
//!   against the config file's folder.
//! - Secrets appear only as references ([`SecretRef`]: `env:NAME` or `file:PATH`). This crate
//!   never reads a secret; `portcullis-secrets` does.
//! - The JSON Schema shipped for editors is generated from these types ([`json_schema`]).

mod duration;
mod error;
mod guards;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use duration::HumanDuration;
pub use error::ConfigError;
pub use guards::{
    DlpAction, DlpSettings, GuardSettings, InspectMode, InspectSettings, ResponseInjectionAction,
    Severity, ShapeSettings,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the gateway listens and which hosts and origins it answers.
    #[serde(default)]
    pub listener: ListenerConfig,
    /// Folder for state: the signing key, the audit database. Relative to the config file.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The built-in OAuth 2 authorization server.
    #[serde(default)]
    pub issuer: IssuerConfig,
    /// Agents (OAuth clients / service accounts) allowed to obtain tokens.
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// Upstream APIs the gateway fronts.
    #[serde(default)]
    pub apis: Vec<ApiConfig>,
    /// Which upstream operations are exposed as tools.
    #[serde(default)]
    pub tools: Vec<ToolSelection>,
    /// Folder of Cedar policy files (`*.cedar`). Relative to the config file.
    pub policies: PathBuf,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Limits applied to every call's arguments before anything else reads them.
    #[serde(default)]
    pub limits: InputLimits,
    /// The admin API (revocation, key rotation) on its own listener. Off unless `token` is set.
    #[serde(default)]
    pub admin: AdminConfig,
    /// External OpenID Connect / OAuth 2 issuers whose tokens the gateway trusts: as the
    /// `subject_token` of a token exchange and, where enabled, as bearer tokens.
    #[serde(default)]
    pub identity_providers: Vec<IdentityProviderConfig>,
    /// Argument inspection and response filtering defaults; `tools[].guards` overrides them.
    #[serde(default)]
    pub guards: GuardSettings,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".portcullis")
}

/// The listener section.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Socket address to bind, e.g. `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub address: SocketAddr,
    /// The URL agents use to reach the gateway. Defaults to `http://<address>`. It is the token
    /// issuer and audience unless the issuer section says otherwise.
    #[serde(default)]
    pub public_url: Option<String>,
    /// `Host` header values the MCP endpoint accepts (DNS rebinding defence). Defaults to the
    /// listen address, `localhost:<port>` and the public URL's authority.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the MCP endpoint. Requests carrying any other `Origin`
    /// header are refused with 403; requests without one (non-browser clients) are accepted.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// TLS on the listener (rustls). Without it the listener speaks plain HTTP, which suits
    /// loopback and a TLS-terminating proxy in front, nothing else.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// TLS on the listener, optionally asking clients for certificates.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server certificate chain, PEM, leaf first.
    #[schemars(with = "String")]
    pub cert: PathBuf,
    /// The server private key (PEM: PKCS#8, PKCS#1 or SEC1), as a secret reference:
    /// `file:PATH` or `env:NAME` holding the PEM text.
    pub key: SecretRef,
    /// PEM bundle of the certificate authorities whose client certificates are accepted.
    /// Required when `client_auth` is `optional` or `required`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub client_ca: Option<PathBuf>,
    /// Whether clients must present a certificate: `none` (never asked), `optional` (verified
    /// against `client_ca` when presented) or `required` (the handshake fails without one).
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// How often the certificate, key and CA files are checked for changes; a change applies
    /// to new connections without a restart. A file that fails to load keeps the previous
    /// configuration in place (and is logged).
    #[serde(default = "default_tls_reload")]
    pub reload_interval: HumanDuration,
}

/// Whether the listener asks TLS clients for a certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// Client certificates are not requested.
    #[default]
    None,
    /// Requested, and verified against `client_ca` when presented.
    Optional,
    /// Required: a client without a certificate from `client_ca` cannot connect.
    Required,
}

fn default_tls_reload() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    1024 * 1024
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            address: default_listen(),
            public_url: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_body_bytes: default_max_body(),
            tls: None,
        }
    }
}

impl ListenerConfig {
    /// The public base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if self.tls.is_some() => format!("https://{}", self.address),
            None => format!("http://{}", self.address),
        }
    }

    /// The `Host` values accepted: the configured list, or the defaults described on the field.
    pub fn effective_allowed_hosts(&self) -> Vec<String> {
        if !self.allowed_hosts.is_empty() {
            return self.allowed_hosts.clone();
        }
        let port = self.address.port();
        let mut hosts = vec![
            self.address.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ];
        if let Some(authority) = self
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
        {
            hosts.push(authority);
        }
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

/// The admin API section.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Socket address of the admin listener; never the agents' listener.
    #[serde(default = "default_admin_listen")]
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// The admin bearer credential (`env:NAME` or `file:PATH`). Without it the admin API does
    /// not start. It is never an agent's token.
    #[serde(default)]
    pub token: Option<SecretRef>,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9091))
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
            token: None,
        }
    }
}

/// Signing algorithm for issued access tokens.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
pub enum SigningAlgorithm {
    /// ECDSA with P-256 and SHA-256.
    #[default]
    ES256,
    /// Ed25519.
    EdDSA,
}

/// The built-in token issuer.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The `iss` claim. Defaults to the listener's public URL.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The `aud` claim required on every token. Defaults to the listener's public URL.
    #[serde(default)]
    pub audience: Option<String>,
    /// Lifetime of issued access tokens.
    #[serde(default = "default_ttl")]
    pub token_ttl: HumanDuration,
    /// Longest lifetime a caller may ask for (`portcullis token --ttl`).
    #[serde(default = "default_max_ttl")]
    pub max_token_ttl: HumanDuration,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway: HumanDuration,
    /// Signing algorithm of generated keys.
    #[serde(default)]
    pub algorithm: SigningAlgorithm,
    /// Age at which the signing key is replaced by a new one. Previous keys stay in the JWKS
    /// and keep verifying until every token they signed has expired.
    #[serde(default = "default_key_rotation")]
    pub key_rotation: HumanDuration,
}

fn default_key_rotation() -> HumanDuration {
    HumanDuration(Duration::from_secs(30 * 24 * 3600))
}

fn default_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}

fn default_max_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}

fn default_leeway() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            token_ttl: default_ttl(),
            max_token_ttl: default_max_ttl(),
            leeway: default_leeway(),
            algorithm: SigningAlgorithm::default(),
            key_rotation: default_key_rotation(),
        }
    }
}

/// A reference to a secret: `env:NAME` or `file:PATH`. Inline values are refused.
#[derive(Clone, Debug, Eq, Hash, JsonSchema, PartialEq)]
#[schemars(with = "String")]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file; relative paths are resolved against the config file's folder. Surrounding
    /// whitespace (a trailing newline) is trimmed.
    File(PathBuf),
}

impl FromStr for SecretRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(name) = text.strip_prefix("env:") {
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "`env:` must be followed by a variable name made of letters, digits and `_`, got `env:{}`",
                    portcullis_core::truncate_for_message(name, 64)
                ));
            }
            return Ok(Self::Env(name.to_owned()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err("`file:` must be followed by a path".to_owned());
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        // INVARIANT: the refused value is never echoed; it may be a real secret.
        Err("inline secret values are not allowed; write `env:NAME` or `file:PATH`".to_owned())
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An agent: an OAuth client that obtains tokens with the client-credentials grant.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The client id; also the Cedar `Agent` entity id.
    pub id: String,
    /// Argon2 PHC string of the client secret (`portcullis hash-secret` makes one).
    #[serde(default)]
    pub client_secret_hash: Option<String>,
    /// A reference to the client secret itself, for secrets managed outside this file.
    #[serde(default)]
    pub client_secret: Option<SecretRef>,
    /// Roles; each is a Cedar `Role` entity the agent is a member of.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Scopes the agent may be granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether the agent may use the token-exchange grant (RFC 8693) to act for a user.
    /// Off by default: an agent acts only as itself unless this is set.
    #[serde(default)]
    pub token_exchange: bool,
    /// Authenticate the agent at the token endpoint by its TLS client certificate (RFC 8705
    /// `tls_client_auth`) instead of, or as well as, a secret. Needs `listener.tls` with client
    /// certificates.
    #[serde(default)]
    pub certificate: Option<AgentCertificate>,
}

/// Which client certificate identifies an agent: exactly one of `subject` and `spiffe_id`.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentCertificate {
    /// The certificate's subject distinguished name, RFC 4514 form (`CN=billing-bot,O=Shop`).
    #[serde(default)]
    pub subject: Option<String>,
    /// A URI subject alternative name, typically a SPIFFE id (`spiffe://shop.example/billing`).
    #[serde(default)]
    pub spiffe_id: Option<String>,
    /// Bind the tokens issued on such a request to the certificate (RFC 8705 `cnf.x5t#S256`):
    /// they are refused on any connection that does not present the same certificate.
    #[serde(default = "default_true")]
    pub bind_tokens: bool,
}

fn default_true() -> bool {
    true
}

/// A trusted external issuer (an OpenID Connect provider or any OAuth 2 server publishing a
/// JWKS).
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// The issuer identifier: the exact `iss` of its tokens. Discovery reads
    /// `<issuer>/.well-known/openid-configuration`, whose `issuer` must equal it.
    pub issuer: String,
    /// The JWKS URL. When set, discovery is skipped.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Audiences accepted (the token's `aud` must contain one). Defaults to the gateway's
    /// audience, so that tokens minted for other services are refused.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Signature algorithms accepted from this issuer: any of `RS256`, `RS384`, `RS512`,
    /// `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `EdDSA`. Required; `none` and HMAC never are.
    pub algorithms: Vec<String>,
    /// Which claims carry the user id, tenant, groups, the agent and the scopes.
    #[serde(default)]
    pub claims: ClaimMapping,
    /// Scopes a user of this issuer holds when the token carries no scope claim.
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Accept this issuer's access tokens as bearer tokens at the gateway (the agent is the
    /// configured agent named by the `agent` claim). Off by default: the issuer's tokens are
    /// then only accepted as `subject_token` of a token exchange.
    #[serde(default)]
    pub accept_access_tokens: bool,
    /// How long fetched keys are used before they are fetched again.
    #[serde(default = "default_jwks_ttl")]
    pub jwks_ttl: HumanDuration,
    /// Least time between two fetches of the keys, whatever asks for them (a token with an
    /// unknown `kid`, an expired cache), so a flood of made-up key ids cannot hammer the issuer.
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh: HumanDuration,
    /// Allow `http://` discovery and JWKS URLs. For tests and loopback issuers only.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Outbound rules for discovery and JWKS requests (`allow_private`, timeouts, size cap).
    #[serde(default = "default_idp_egress")]
    pub egress: EgressConfig,
}

/// Which claims of an external token carry what.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    /// The user id.
    #[serde(default = "default_user_claim")]
    pub user: String,
    /// The tenant; none when unset.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The user's groups or roles: a string array or a space-separated string.
    #[serde(default)]
    pub groups: Option<String>,
    /// The agent (OAuth client) the token was issued to; read when the token is presented as a
    /// bearer token. `azp` is tried, then `client_id`, when unset.
    #[serde(default)]
    pub agent: Option<String>,
    /// The scopes: a space-separated string (`scope`) or a string array (`scp`). Both are
    /// tried when unset.
    #[serde(default)]
    pub scopes: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            user: default_user_claim(),
            tenant: None,
            groups: None,
            agent: None,
            scopes: None,
        }
    }
}

fn default_user_claim() -> String {
    "sub".to_owned()
}

fn default_jwks_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}

fn default_jwks_min_refresh() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_idp_egress() -> EgressConfig {
    EgressConfig {
        timeout: HumanDuration(Duration::from_secs(5)),
        max_response_bytes: 256 * 1024,
        ..EgressConfig::default()
    }
}

/// The algorithms an external issuer may be pinned to.
pub const EXTERNAL_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// An upstream API.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Short name, used in tool names on collision and as the Cedar `Api` entity id.
    pub name: String,
    /// Base URL requests are sent to; operation paths are appended to it.
    pub base_url: String,
    /// OpenAPI 3.0 or 3.1 document (YAML or JSON). Relative to the config file.
    pub openapi: PathBuf,
    /// The credential injected into every upstream request.
    #[serde(default)]
    pub credential: Option<CredentialConfig>,
    /// Egress rules for this API.
    #[serde(default)]
    pub egress: EgressConfig,
}

/// How the upstream credential is presented.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialConfig {
    /// `Authorization: Bearer <secret>`.
    Bearer {
        /// The token.
        secret: SecretRef,
    },
    /// `<name>: <secret>`.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        secret: SecretRef,
    },
    /// `?<name>=<secret>` appended to the URL.
    Query {
        /// Query parameter name.
        name: String,
        /// Its value.
        secret: SecretRef,
    },
    /// HTTP Basic with a fixed user name.
    Basic {
        /// User name (not secret).
        username: String,
        /// Password.
        secret: SecretRef,
    },
}

/// Egress rules for one API.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// CIDR ranges this API may reach although they are special-purpose (loopback, private,
    /// link-local ...). Empty by default: only public addresses are reachable.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub allow_private: Vec<ipnet::IpNet>,
    /// Time to establish the TCP (and TLS) connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// Time for the whole upstream exchange.
    #[serde(default = "default_upstream_timeout")]
    pub timeout: HumanDuration,
    /// Redirects followed (each hop re-checked). 0 disables following.
    #[serde(default)]
    pub max_redirects: u8,
    /// Largest upstream response body accepted, in bytes.
    #[serde(default = "default_max_response")]
    pub max_response_bytes: usize,
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(3))
}

fn default_upstream_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(15))
}

fn default_max_response() -> usize {
    4 * 1024 * 1024
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            allow_private: Vec::new(),
            connect_timeout: default_connect_timeout(),
            timeout: default_upstream_timeout(),
            max_redirects: 0,
            max_response_bytes: default_max_response(),
        }
    }
}

/// Risk class of a tool; each class is a Cedar action group (`risk:<class>`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, Hash, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskClass {
    /// Reads of non-sensitive data.
    Low,
    /// Reads of sensitive data, reversible writes.
    #[default]
    Medium,
    /// Writes with business impact (refunds, payments).
    High,
    /// Irreversible or destructive operations.
    Critical,
}

impl RiskClass {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// Operations of one API exposed as tools.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSelection {
    /// The API name.
    pub api: String,
    /// operationIds to expose; `*` and `?` glob patterns match several.
    pub operations: Vec<String>,
    /// Risk class of the selected tools.
    #[serde(default)]
    pub risk: RiskClass,
    /// OAuth scopes a token must carry to call the selected tools. A call whose token lacks one
    /// is refused with `insufficient_scope` (HTTP 403 naming the scopes, for step-up) before
    /// any policy is evaluated. Empty by default: the policies alone decide.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// What one call of the selected tools costs against the cost-weighted rate limits and
    /// quotas of the `limits` section (`weigh: cost` or `tokens`). Default 1; an operation
    /// selected twice takes the highest cost.
    #[serde(default)]
    pub cost: Option<u32>,
    /// Guard settings for the selected tools, over the global `guards` section.
    #[serde(default)]
    pub guards: GuardSettings,
}

/// Durability of the audit log.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditSync {
    /// fsync on every group commit: nothing answered is lost, even on power loss.
    #[default]
    Full,
    /// Survives a process crash but may lose the last commits on power loss.
    Normal,
}

/// The audit section.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// SQLite file. Defaults to `audit.db` in the data directory.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Durability setting.
    #[serde(default)]
    pub sync: AuditSync,
}

/// The `limits` section: input limits on call arguments (`max_depth`, `max_string_bytes`,
/// `max_items`) and the limits on calls themselves: rates, quotas, concurrency caps and loop
/// detection.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputLimits {
    /// Deepest nesting of arrays and objects in the arguments.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// Longest string (in bytes) anywhere in the arguments, keys included.
    #[serde(default = "default_max_string")]
    pub max_string_bytes: usize,
    /// Most elements of any array or members of any object.
    #[serde(default = "default_max_items")]
    pub max_items: usize,
    /// Token-bucket rate limits; every limit that applies to a call must pass.
    #[serde(default)]
    pub rates: Vec<RateLimitConfig>,
    /// Daily or monthly budgets, persisted across restarts.
    #[serde(default)]
    pub quotas: Vec<QuotaConfig>,
    /// Calls in flight at once, per agent and per upstream API.
    #[serde(default)]
    pub concurrency: ConcurrencyConfig,
    /// Refuses the same call (principal, tool, argument digest) repeated too often.
    #[serde(default)]
    pub loop_detection: Option<LoopDetectionConfig>,
    /// How the size of a call is turned into estimated model-context tokens (`weigh: tokens`).
    #[serde(default)]
    pub estimator: EstimatorConfig,
    /// Where limit state lives: in this process (default) or in Redis, shared by replicas.
    #[serde(default)]
    pub backend: LimitBackendConfig,
}

/// One part of a limit's key: the counter is kept per distinct value of each part.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitKeyPart {
    /// The agent (the token's `client_id`).
    Agent,
    /// The acting user (the token subject).
    User,
    /// The tenant; principals without one share the placeholder tenant `-`.
    Tenant,
    /// The tool name.
    Tool,
    /// The upstream API of the tool.
    Api,
}

/// Where in the pipeline a rate limit is checked.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitStage {
    /// Right after identify, before any expensive stage; every call weighs 1 and only
    /// `agent`, `user` and `tenant` may be key parts (the tool is not resolved yet).
    Admit,
    /// After authorization, so denied calls consume nothing; weighted as `weigh` says.
    #[default]
    Meter,
}

/// What one call weighs against a meter limit or a quota.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitWeight {
    /// Every call weighs 1.
    Calls,
    /// The tool's `cost` (default 1).
    #[default]
    Cost,
    /// The tool's `cost` plus the estimated context tokens of the request and the response.
    /// The response part is charged after the response arrived (the bucket may go into debt).
    Tokens,
}

/// A token-bucket rate limit.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Name of the limit, reported in answers (`RateLimit-Policy`) and audit records.
    pub name: String,
    /// What the counter is kept per; empty means one counter for all calls.
    #[serde(default)]
    pub key: Vec<LimitKeyPart>,
    /// Where the limit is checked.
    #[serde(default)]
    pub stage: LimitStage,
    /// What one call weighs (meter limits only; admit limits count calls).
    #[serde(default)]
    pub weigh: LimitWeight,
    /// Units refilled per `per`.
    pub rate: u64,
    /// The refill period.
    #[serde(default = "default_rate_period")]
    pub per: HumanDuration,
    /// Bucket capacity: the most units available at once. Defaults to `rate`.
    #[serde(default)]
    pub burst: Option<u64>,
    /// Apply only to these tools; empty: every tool.
    #[serde(default)]
    pub tools: Vec<String>,
}

fn default_rate_period() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

/// The period of a quota: calendar days or months in UTC.
#[derive(Clone, Copy, Debug, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    /// From midnight UTC to midnight UTC.
    Day,
    /// From the first of the month, midnight UTC.
    Month,
}

/// A budget per period.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Name of the quota, reported in answers and audit records.
    pub name: String,
    /// What the budget is kept per; empty means one budget for all calls.
    #[serde(default)]
    pub key: Vec<LimitKeyPart>,
    /// The period after which the budget starts again.
    pub period: QuotaPeriod,
    /// Units per period.
    pub limit: u64,
    /// What one call weighs.
    #[serde(default)]
    pub weigh: LimitWeight,
    /// Apply only to these tools; empty: every tool.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// Concurrency caps; absent means no cap.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyConfig {
    /// Most calls of one agent in flight at once (per gateway replica).
    #[serde(default)]
    pub per_agent: Option<u32>,
    /// Most calls to one upstream API in flight at once (per gateway replica).
    #[serde(default)]
    pub per_api: Option<u32>,
}

/// Loop detection.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoopDetectionConfig {
    /// Identical calls allowed within `window`; the next one is refused with `loop`.
    pub max_repeats: u32,
    /// The window.
    pub window: HumanDuration,
}

/// The estimator of model-context tokens from bytes.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EstimatorConfig {
    /// Bytes of JSON per estimated token.
    #[serde(default = "default_bytes_per_token")]
    pub bytes_per_token: u32,
}

fn default_bytes_per_token() -> u32 {
    4
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self {
            bytes_per_token: default_bytes_per_token(),
        }
    }
}

/// Where limit state is kept.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum LimitBackendConfig {
    /// In this process; quotas persist in `limits.db` in the data directory.
    #[default]
    Local,
    /// Redis, shared by every replica that names the same server and prefix.
    Redis {
        /// `redis://host:port/db` (or `rediss://`); may be a secret reference when it carries
        /// a password.
        url: SecretRef,
        /// Prefix of every key the gateway writes.
        #[serde(default = "default_redis_prefix")]
        prefix: String,
        /// Longest wait for one Redis round trip before it counts as unavailable.
        #[serde(default = "default_redis_timeout")]
        timeout: HumanDuration,
        /// What to do while Redis is unavailable.
        #[serde(default)]
        on_unavailable: OnUnavailable,
    },
}

fn default_redis_prefix() -> String {
    "portcullis".to_owned()
}

fn default_redis_timeout() -> HumanDuration {
    HumanDuration(Duration::from_millis(100))
}

/// Behaviour while the shared limit store cannot be reached.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// Refuse calls that a shared limit applies to.
    #[default]
    FailClosed,
    /// Enforce the limits in this process alone until Redis answers again.
    Local,
}

fn default_max_depth() -> usize {
    16
}

fn default_max_string() -> usize {
    16 * 1024
}

fn default_max_items() -> usize {
    1000
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_depth: default_max_depth(),
            max_string_bytes: default_max_string(),
            max_items: default_max_items(),
            rates: Vec::new(),
            quotas: Vec::new(),
            concurrency: ConcurrencyConfig::default(),
            loop_detection: None,
            estimator: EstimatorConfig::default(),
            backend: LimitBackendConfig::default(),
        }
    }
}

/// A loaded configuration with every relative path resolved.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The file it came from.
    pub path: PathBuf,
    /// The folder relative paths were resolved against.
    pub base_dir: PathBuf,
}

impl Config {
    /// Reads, parses and checks a config file. Relative paths are resolved against its folder.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base_dir = if base_dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base_dir
        };
        let config = Self::parse(&text, path)?;
        let config = config.resolve(&base_dir, path)?;
        Ok(Loaded {
            config,
            path: path.to_owned(),
            base_dir,
        })
    }

    /// Parses YAML text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        parse_yaml(text).map_err(|err| {
            let location = err.location();
            ConfigError::Syntax {
                path: origin.to_owned(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                message: error::first_line(&err.to_string()),
            }
        })
    }

    /// Resolves relative paths and checks cross-references.
    fn resolve(mut self, base: &Path, origin: &Path) -> Result<Self, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            key,
            message,
        };
        self.data_dir = join(base, &self.data_dir);
        self.policies = join(base, &self.policies);
        if let Some(audit) = self.audit.path.as_mut() {
            *audit = join(base, audit);
        }
        if let Some(url) = &self.listener.public_url {
            check_http_url(url).map_err(|m| invalid("listener.public_url".into(), m))?;
        }
        if let Some(tls) = self.listener.tls.as_mut() {
            tls.cert = join(base, &tls.cert);
            resolve_secret(base, &mut tls.key);
            if let Some(ca) = tls.client_ca.as_mut() {
                *ca = join(base, ca);
            }
            for (key, file) in [
                ("cert", Some(&tls.cert)),
                ("client_ca", tls.client_ca.as_ref()),
            ] {
                if let Some(file) = file
                    && !file.is_file()
                {
                    return Err(ConfigError::MissingFile {
                        path: origin.to_owned(),
                        key: format!("listener.tls.{key}"),
                        file: file.clone(),
                    });
                }
            }
            if tls.client_auth != ClientAuth::None && tls.client_ca.is_none() {
                return Err(invalid(
                    "listener.tls.client_ca".into(),
                    "client certificates need `client_ca`, the CAs they are verified against"
                        .into(),
                ));
            }
            if tls.reload_interval.0.is_zero() {
                return Err(invalid(
                    "listener.tls.reload_interval".into(),
                    "must be greater than zero".into(),
                ));
            }
        }

        let mut agent_ids = HashSet::new();
        for (i, agent) in self.agents.iter_mut().enumerate() {
            let key = format!("agents[{i}]");
            if !valid_name(&agent.id) {
                return Err(invalid(
                    format!("{key}.id"),
                    format!(
                        "`{}` is not a valid agent id; use letters, digits, `-`, `_`, `.` and `@`",
                        agent.id
                    ),
                ));
            }
            if !agent_ids.insert(agent.id.clone()) {
                return Err(invalid(
                    format!("{key}.id"),
                    format!("agent `{}` is declared twice", agent.id),
                ));
            }
            match (&agent.client_secret_hash, &mut agent.client_secret) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        key,
                        "give either `client_secret_hash` or `client_secret`, not both".into(),
                    ));
                }
                (None, None) if agent.certificate.is_none() => {
                    return Err(invalid(
                        key,
                        "agent needs `client_secret_hash`, `client_secret` (`env:NAME` or `file:PATH`) or `certificate`"
                            .into(),
                    ));
                }
                (None, None) => {}
                (Some(hash), None) => {
                    if !hash.starts_with("$argon2") {
                        return Err(invalid(
                            format!("{key}.client_secret_hash"),
                            "must be an argon2 PHC string (`$argon2id$...`); a plain secret belongs in an `env:` or `file:` reference".into(),
                        ));
                    }
                }
                (None, Some(secret)) => resolve_secret(base, secret),
            }
            for role in &agent.roles {
                if !valid_name(role) {
                    return Err(invalid(
                        format!("{key}.roles"),
                        format!("`{role}` is not a valid role name"),
                    ));
                }
            }
            check_scopes(&agent.scopes).map_err(|m| invalid(format!("{key}.scopes"), m))?;
            if let Some(certificate) = &agent.certificate {
                if certificate.subject.is_some() == certificate.spiffe_id.is_some() {
                    return Err(invalid(
                        format!("{key}.certificate"),
                        "give exactly one of `subject` and `spiffe_id`".into(),
                    ));
                }
                let client_certificates = self
                    .listener
                    .tls
                    .as_ref()
                    .is_some_and(|tls| tls.client_auth != ClientAuth::None);
                if !client_certificates {
                    return Err(invalid(
                        format!("{key}.certificate"),
                        "needs `listener.tls` with `client_auth: optional` or `required`".into(),
                    ));
                }
            }
        }

        let mut issuers = HashSet::new();
        for (i, idp) in self.identity_providers.iter().enumerate() {
            let key = format!("identity_providers[{i}]");
            let https_only = |text: &str| -> Result<(), String> {
                check_http_url(text)?;
                if !idp.allow_insecure_http && !text.starts_with("https://") {
                    return Err(format!(
                        "`{text}` must use https (set `allow_insecure_http` only for a loopback test issuer)"
                    ));
                }
                Ok(())
            };
            https_only(&idp.issuer).map_err(|m| invalid(format!("{key}.issuer"), m))?;
            if idp.issuer == self.issuer_url() {
                return Err(invalid(
                    format!("{key}.issuer"),
                    "this is the gateway's own issuer".into(),
                ));
            }
            if !issuers.insert(idp.issuer.clone()) {
                return Err(invalid(
                    format!("{key}.issuer"),
                    format!("issuer `{}` is declared twice", idp.issuer),
                ));
            }
            if let Some(jwks) = &idp.jwks_uri {
                https_only(jwks).map_err(|m| invalid(format!("{key}.jwks_uri"), m))?;
            }
            if idp.algorithms.is_empty() {
                return Err(invalid(
                    format!("{key}.algorithms"),
                    "pin at least one algorithm, e.g. `[RS256]`".into(),
                ));
            }
            for alg in &idp.algorithms {
                if !EXTERNAL_ALGORITHMS.contains(&alg.as_str()) {
                    return Err(invalid(
                        format!("{key}.algorithms"),
                        format!(
                            "`{alg}` is not accepted; use one of {}",
                            EXTERNAL_ALGORITHMS.join(", ")
                        ),
                    ));
                }
            }
            check_scopes(&idp.default_scopes)
                .map_err(|m| invalid(format!("{key}.default_scopes"), m))?;
            if idp.jwks_ttl.0.is_zero() {
                return Err(invalid(
                    format!("{key}.jwks_ttl"),
                    "must be greater than zero".into(),
                ));
            }
        }

        let mut api_names = HashSet::new();
        for (i, api) in self.apis.iter_mut().enumerate() {
            let key = format!("apis[{i}]");
            if !valid_name(&api.name) || api.name.contains(['@', '.']) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!(
                        "`{}` is not a valid API name; use letters, digits, `-` and `_`",
                        api.name
                    ),
                ));
            }
            if !api_names.insert(api.name.clone()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("API `{}` is declared twice", api.name),
                ));
            }
            check_http_url(&api.base_url).map_err(|m| invalid(format!("{key}.base_url"), m))?;
            api.openapi = join(base, &api.openapi);
            if !api.openapi.is_file() {
                return Err(ConfigError::MissingFile {
                    path: origin.to_owned(),
                    key: format!("{key}.openapi"),
                    file: api.openapi.clone(),
                });
            }
            if let Some(credential) = api.credential.as_mut() {
                match credential {
                    CredentialConfig::Bearer { secret }
                    | CredentialConfig::Basic { secret, .. } => resolve_secret(base, secret),
                    CredentialConfig::Header { name, secret } => {
                        if http_header_name_invalid(name) {
                            return Err(invalid(
                                format!("{key}.credential.name"),
                                format!("`{name}` is not a valid header name"),
                            ));
                        }
                        resolve_secret(base, secret);
                    }
                    CredentialConfig::Query { name, secret } => {
                        if name.is_empty() {
                            return Err(invalid(
                                format!("{key}.credential.name"),
                                "query parameter name must not be empty".into(),
                            ));
                        }
                        resolve_secret(base, secret);
                    }
                }
            }
            if api.egress.timeout.0.is_zero() || api.egress.connect_timeout.0.is_zero() {
                return Err(invalid(
                    format!("{key}.egress"),
                    "timeouts must be greater than zero".into(),
                ));
            }
        }

        for (i, selection) in self.tools.iter().enumerate() {
            let key = format!("tools[{i}]");
            if !api_names.contains(&selection.api) {
                return Err(invalid(
                    format!("{key}.api"),
                    format!("unknown API `{}`; declare it under `apis`", selection.api),
                ));
            }
            if selection.operations.is_empty() {
                return Err(invalid(
                    format!("{key}.operations"),
                    "list at least one operationId or pattern".into(),
                ));
            }
            for pattern in &selection.operations {
                globset::Glob::new(pattern).map_err(|e| {
                    invalid(
                        format!("{key}.operations"),
                        format!("bad pattern `{pattern}`: {e}"),
                    )
                })?;
            }
            check_scopes(&selection.scopes).map_err(|m| invalid(format!("{key}.scopes"), m))?;
        }

        if !self.policies.is_dir() {
            return Err(ConfigError::MissingFile {
                path: origin.to_owned(),
                key: "policies".into(),
                file: self.policies.clone(),
            });
        }
        if self.issuer.token_ttl.0.is_zero()
            || self.issuer.token_ttl.0 > self.issuer.max_token_ttl.0
        {
            return Err(invalid(
                "issuer.token_ttl".into(),
                "must be greater than zero and at most `issuer.max_token_ttl`".into(),
            ));
        }
        if self.issuer.key_rotation.0 < Duration::from_secs(60) {
            return Err(invalid(
                "issuer.key_rotation".into(),
                "must be at least one minute".into(),
            ));
        }
        if let Some(token) = self.admin.token.as_mut() {
            resolve_secret(base, token);
        }
        if self.admin.token.is_some() && self.admin.listen == self.listener.address {
            return Err(invalid(
                "admin.listen".into(),
                "the admin API needs its own address, not `listener.address`".into(),
            ));
        }
        if self.limits.max_depth == 0 || self.limits.max_string_bytes == 0 {
            return Err(invalid(
                "limits".into(),
                "limits must be greater than zero".into(),
            ));
        }
        self.check_call_limits(base)
            .map_err(|(key, message)| invalid(key, message))?;
        Ok(self)
    }

    /// Checks the call limits of the `limits` section; errors are `(key path, message)`.
    fn check_call_limits(&mut self, base: &Path) -> Result<(), (String, String)> {
        let limits = &mut self.limits;
        let mut names = HashSet::new();
        for (i, rate) in limits.rates.iter().enumerate() {
            let key = format!("limits.rates[{i}]");
            if !valid_name(&rate.name) || !names.insert(rate.name.clone()) {
                return Err((
                    format!("{key}.name"),
                    format!("`{}` is not a valid limit name or is used twice", rate.name),
                ));
            }
            if rate.rate == 0 || rate.per.0.is_zero() || rate.burst == Some(0) {
                return Err((
                    key,
                    "`rate`, `per` and `burst` must be greater than zero".into(),
                ));
            }
            check_globs(&rate.tools).map_err(|m| (format!("{key}.tools"), m))?;
            if rate.stage == LimitStage::Admit
                && (rate
                    .key
                    .iter()
                    .any(|k| matches!(k, LimitKeyPart::Tool | LimitKeyPart::Api))
                    || !rate.tools.is_empty())
            {
                return Err((
                    format!("{key}.key"),
                    "an `admit` limit runs before the tool is resolved; key it by `agent`, `user` or `tenant` only, without `tools`".into(),
                ));
            }
        }
        for (i, quota) in limits.quotas.iter().enumerate() {
            let key = format!("limits.quotas[{i}]");
            if !valid_name(&quota.name) || !names.insert(quota.name.clone()) {
                return Err((
                    format!("{key}.name"),
                    format!(
                        "`{}` is not a valid limit name or is used twice",
                        quota.name
                    ),
                ));
            }
            check_globs(&quota.tools).map_err(|m| (format!("{key}.tools"), m))?;
            if quota.limit == 0 {
                return Err((format!("{key}.limit"), "must be greater than zero".into()));
            }
        }
        if limits.concurrency.per_agent == Some(0) || limits.concurrency.per_api == Some(0) {
            return Err((
                "limits.concurrency".into(),
                "caps must be greater than zero".into(),
            ));
        }
        if let Some(detection) = &limits.loop_detection
            && (detection.max_repeats == 0 || detection.window.0.is_zero())
        {
            return Err((
                "limits.loop_detection".into(),
                "`max_repeats` and `window` must be greater than zero".into(),
            ));
        }
        if limits.estimator.bytes_per_token == 0 {
            return Err((
                "limits.estimator.bytes_per_token".into(),
                "must be greater than zero".into(),
            ));
        }
        if let LimitBackendConfig::Redis {
            url,
            prefix,
            timeout,
            ..
        } = &mut limits.backend
        {
            resolve_secret(base, url);
            if prefix.is_empty() || prefix.contains(['{', '}']) {
                return Err((
                    "limits.backend.prefix".into(),
                    "must be non-empty and without `{` or `}`".into(),
                ));
            }
            if timeout.0.is_zero() {
                return Err((
                    "limits.backend.timeout".into(),
                    "must be greater than zero".into(),
                ));
            }
        }
        Ok(())
    }

    /// The token issuer (`iss`).
    pub fn issuer_url(&self) -> String {
        self.issuer
            .issuer
            .clone()
            .unwrap_or_else(|| self.listener.base_url())
    }

    /// The required token audience (`aud`).
    pub fn audience(&self) -> String {
        self.issuer
            .audience
            .clone()
            .unwrap_or_else(|| self.listener.base_url())
    }

    /// The URLs that name this gateway as an OAuth protected resource (RFC 9728, RFC 8707):
    /// the public base URL and the MCP endpoint under it. A token request's `resource` must be
    /// one of them (or the configured audience); the token's `aud` is always [`Self::audience`].
    pub fn resource_identifiers(&self) -> Vec<String> {
        let base = self.listener.base_url();
        let mut ids = vec![format!("{base}{MCP_PATH}"), base, self.audience()];
        ids.dedup();
        ids
    }

    /// The authorization servers whose tokens this gateway accepts, for the `authorization_servers`
    /// of its protected-resource metadata: its own issuer, then the external issuers whose access
    /// tokens are accepted as bearer tokens.
    pub fn authorization_servers(&self) -> Vec<String> {
        let mut servers = vec![self.issuer_url()];
        servers.extend(
            self.identity_providers
                .iter()
                .filter(|idp| idp.accept_access_tokens)
                .map(|idp| idp.issuer.clone()),
        );
        servers
    }

    /// Every scope the configuration mentions, agents' first, then the tools' requirements, in
    /// order of appearance without duplicates: the `scopes_supported` of the metadata.
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        let all = self
            .agents
            .iter()
            .flat_map(|a| a.scopes.iter())
            .chain(self.tools.iter().flat_map(|t| t.scopes.iter()));
        for scope in all {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        scopes
    }

    /// The audit database path.
    pub fn audit_path(&self) -> PathBuf {
        self.audit
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit.db"))
    }
}

/// Parses YAML into any deserializable type, with the budgets of the YAML crate's defaults
/// (alias expansion, depth). Kept behind one function so the YAML crate can be swapped.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str(text)
}

/// The JSON Schema of the configuration file, for editors.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Config);
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}

fn join(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

fn resolve_secret(base: &Path, secret: &mut SecretRef) {
    if let SecretRef::File(path) = secret {
        *path = join(base, path);
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

fn http_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The path of the MCP endpoint under the public base URL.
pub const MCP_PATH: &str = "/mcp";

/// Scope names must be RFC 6749 section 3.3 scope tokens (printable ASCII without space, `"`
/// and `\\`), so that they can be requested and named in a `WWW-Authenticate` challenge.
fn check_scopes(scopes: &[String]) -> Result<(), String> {
    for scope in scopes {
        let valid = !scope.is_empty()
            && scope.len() <= 128
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(format!(
                "`{}` is not a valid scope; use printable ASCII without spaces, quotes or backslashes",
                portcullis_core::truncate_for_message(scope, 64)
            ));
        }
    }
    Ok(())
}

/// Tool name patterns (`*` and `?` globs) must parse.
fn check_globs(patterns: &[String]) -> Result<(), String> {
    for pattern in patterns {
        globset::Glob::new(pattern).map_err(|e| format!("bad pattern `{pattern}`: {e}"))?;
    }
    Ok(())
}

fn check_http_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` must use http or https"));
    }
    if url.host().is_none() {
        return Err(format!("`{text}` has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs must not carry credentials; use `credential`".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
