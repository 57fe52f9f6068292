//! Portcullis configuration: one YAML file, parsed into typed sections.
//!
//! Design decisions:
//! - Parse, don't validate: each section has one file holding its raw serde form (the keys,
//!   `deny_unknown_fields`, the defaults, the docs the JSON Schema is made from), the checked
//!   form consumers receive, and the `parse` that turns the one into the other. Names, scopes,
//!   URLs, tool patterns and non-zero durations arrive as checked types ([`Name`], [`ApiName`],
//!   [`Scope`], [`HttpUrl`], [`ToolPatterns`], [`NonZeroDuration`]), and relative paths are
//!   resolved against the config file's folder during the parse. What spans sections (a tool
//!   selection naming an API, an agent certificate needing client TLS) is checked once after
//!   the sections, in `references.rs`.
//! - Secrets appear only as references ([`SecretRef`]: `env:NAME` or `file:PATH`). This crate
//!   never reads a secret; `portcullis-secrets` does.
//! - The JSON Schema shipped for editors is generated from the raw types ([`json_schema`]).

mod admin;
mod agents;
mod apis;
mod approvals;
mod audit;
mod connections;
mod duration;
mod error;
mod guards;
mod identity_providers;
mod issuer;
mod limits;
mod listener;
mod log;
mod mcp;
mod references;
mod sign_in;
mod tools;
mod types;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use admin::AdminConfig;
pub use agents::{AgentCertificate, AgentConfig};
pub use apis::{ApiConfig, CredentialConfig, EgressConfig};
pub use approvals::{
    ApprovalsConfig, ApproverConfig, ApproverGroup, USER_GROUP, WebhookConfig, WebhookFormat,
};
pub use audit::{AuditConfig, AuditSync};
pub use connections::ConnectionLimits;
pub use duration::{DurationError, HumanDuration, NonZeroDuration};
pub use error::{ConfigError, Problem};
pub use guards::{
    DlpAction, DlpSettings, GuardSettings, InspectMode, InspectSettings, ResponseInjectionAction,
    Severity, ShapeSettings,
};
pub use identity_providers::{ClaimMapping, EXTERNAL_ALGORITHMS, IdentityProviderConfig};
pub use issuer::{ClientAuthConfig, IssuerConfig, SigningAlgorithm};
pub use limits::{
    ConcurrencyConfig, EstimatorConfig, InputLimits, LimitBackendConfig, LimitKeyPart, LimitStage,
    LimitWeight, LoopDetectionConfig, OnUnavailable, QuotaConfig, QuotaPeriod, RateLimitConfig,
};
pub use listener::{ClientAuth, ListenerConfig, TlsConfig};
pub use log::{LogConfig, LogFormat};
pub use mcp::McpConfig;
pub use sign_in::{SignInConfig, UpstreamSignIn, UserConfig};
pub use tools::{RiskClass, ToolApproval, ToolSelection};
pub use types::{
    ApiName, HttpUrl, Name, PatternError, Scope, SecretRef, SecretRefError, ToolPattern,
    ToolPatterns, UrlError,
};

/// The path of the MCP endpoint under the public base URL.
pub const MCP_PATH: &str = "/mcp";

/// The whole configuration, checked: what [`Config::load`] and [`Config::parse`] return.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the gateway listens and which hosts and origins it answers.
    pub listener: ListenerConfig,
    /// Folder for state: the signing key, the audit database.
    pub data_dir: PathBuf,
    /// The built-in OAuth 2 authorization server.
    pub issuer: IssuerConfig,
    /// Agents allowed to obtain tokens.
    pub agents: Vec<AgentConfig>,
    /// Upstream APIs the gateway fronts.
    pub apis: Vec<ApiConfig>,
    /// Which upstream operations are exposed as tools.
    pub tools: Vec<ToolSelection>,
    /// Folder of Cedar policy files (`*.cedar`).
    pub policies: PathBuf,
    /// The audit log.
    pub audit: AuditConfig,
    /// Limits on call arguments and on calls.
    pub limits: InputLimits,
    /// The admin API on its own listener.
    pub admin: AdminConfig,
    /// External issuers whose tokens the gateway trusts.
    pub identity_providers: Vec<IdentityProviderConfig>,
    /// Argument inspection and response filtering defaults.
    pub guards: GuardSettings,
    /// The MCP endpoint's sessions.
    pub mcp: McpConfig,
    /// How the gateway's log lines are written.
    pub log: LogConfig,
    /// Interactive sign-in for MCP clients; `None` when off.
    pub sign_in: Option<SignInConfig>,
    /// Human approval of risky calls; `None` when no call can be held.
    pub approvals: Option<ApprovalsConfig>,
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

impl Loaded {
    /// Where `tools[selection].operations[index]` is written in the file, as
    /// `file:line:column`, for messages about an operation the OpenAPI document lacks. The file
    /// is read again (only on that error path); `None` if it changed or cannot be read.
    pub fn operation_location(&self, selection: usize, index: usize) -> Option<String> {
        /// Only the spans of the `tools` operations; every other key is skipped.
        #[derive(Deserialize)]
        struct Spans {
            #[serde(default)]
            tools: Vec<SelectionSpans>,
        }
        #[derive(Deserialize)]
        struct SelectionSpans {
            #[serde(default)]
            operations: Vec<serde_saphyr::Spanned<String>>,
        }
        let text = std::fs::read_to_string(&self.path).ok()?;
        let spans: Spans = parse_yaml(&text).ok()?;
        let at = spans
            .tools
            .get(selection)?
            .operations
            .get(index)?
            .referenced;
        Some(format!(
            "{}:{}:{}",
            self.path.display(),
            at.line(),
            at.column()
        ))
    }
}

impl Config {
    /// Reads, parses and checks a config file. Relative paths are resolved against its folder,
    /// and the files and folders it names must exist.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let config = Self::parse_in(
            &text,
            &Context {
                origin: path,
                base: Some(&base_dir),
            },
        )?;
        Ok(Loaded {
            config,
            path: path.to_owned(),
            base_dir,
        })
    }

    /// Parses and checks YAML text; `origin` names the file in errors. Paths stay as written
    /// and no file is looked at: [`Config::load`] resolves and checks them.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        Self::parse_in(text, &Context { origin, base: None })
    }

    fn parse_in(text: &str, cx: &Context<'_>) -> Result<Self, ConfigError> {
        let raw: RawConfig = parse_yaml(text).map_err(|err| {
            let location = err.location();
            ConfigError::Syntax {
                path: cx.origin.to_owned(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                message: error::first_line(&err.to_string()),
            }
        })?;
        raw.parse(cx)
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
                .map(|idp| idp.issuer.to_string()),
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
            if !scopes.iter().any(|s| s == scope.as_str()) {
                scopes.push(scope.to_string());
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
    let schema = schemars::schema_for!(RawConfig);
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}

/// The whole configuration file.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Config")]
struct RawConfig {
    /// Where the gateway listens and which hosts and origins it answers.
    #[serde(default)]
    listener: listener::RawListener,
    /// Folder for state: the signing key, the audit database. Relative to the config file.
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    /// The built-in OAuth 2 authorization server.
    #[serde(default)]
    issuer: IssuerConfig,
    /// Agents (OAuth clients / service accounts) allowed to obtain tokens.
    #[serde(default)]
    agents: Vec<agents::RawAgent>,
    /// Upstream APIs the gateway fronts.
    #[serde(default)]
    apis: Vec<apis::RawApi>,
    /// Which upstream operations are exposed as tools.
    #[serde(default)]
    tools: Vec<tools::RawToolSelection>,
    /// Folder of Cedar policy files (`*.cedar`). Relative to the config file.
    policies: PathBuf,
    /// The audit log.
    #[serde(default)]
    audit: AuditConfig,
    /// Limits applied to every call's arguments before anything else reads them.
    #[serde(default)]
    limits: limits::RawLimits,
    /// The admin API (revocation, key rotation) on its own listener. Off unless `token` is set.
    #[serde(default)]
    admin: admin::RawAdmin,
    /// External OpenID Connect / OAuth 2 issuers whose tokens the gateway trusts: as the
    /// `subject_token` of a token exchange and, where enabled, as bearer tokens.
    #[serde(default)]
    identity_providers: Vec<identity_providers::RawIdentityProvider>,
    /// Argument inspection and response filtering defaults; `tools[].guards` overrides them.
    #[serde(default)]
    guards: GuardSettings,
    /// The MCP endpoint's handshake sessions.
    #[serde(default)]
    mcp: mcp::RawMcp,
    /// How the gateway's own log lines are written.
    #[serde(default)]
    log: LogConfig,
    /// Interactive sign-in for MCP clients (authorization code with PKCE, refresh tokens,
    /// client registration, a built-in user list). Off unless present.
    #[serde(default)]
    sign_in: Option<sign_in::RawSignIn>,
    /// Human approval of risky calls: approver groups, approvers, how long a held call waits
    /// and stays decidable, the webhook told of each hold. A permit policy annotated
    /// `@approval("<group>")`, or `tools[].approval`, holds a call for a person.
    #[serde(default)]
    approvals: Option<approvals::RawApprovals>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".portcullis")
}

impl RawConfig {
    /// Parses each section in file-format order, then checks the references between them.
    fn parse(self, cx: &Context<'_>) -> Result<Config, ConfigError> {
        let issuer = self.issuer.parse(cx)?;
        let sign_in = self
            .sign_in
            .map(|s| s.parse(cx, issuer.token_ttl.0, issuer.max_token_ttl.0))
            .transpose()?;
        let config = Config {
            sign_in,
            data_dir: cx.path(self.data_dir),
            audit: self.audit.parse(cx),
            listener: self.listener.parse(cx)?,
            agents: cx.each("agents", self.agents, agents::RawAgent::parse)?,
            identity_providers: cx.each(
                "identity_providers",
                self.identity_providers,
                identity_providers::RawIdentityProvider::parse,
            )?,
            apis: cx.each("apis", self.apis, apis::RawApi::parse)?,
            tools: cx.each("tools", self.tools, tools::RawToolSelection::parse)?,
            policies: cx.existing("policies", self.policies, Path::is_dir)?,
            issuer,
            admin: self.admin.parse(cx)?,
            limits: self.limits.parse(cx)?,
            guards: self.guards,
            mcp: self.mcp.parse(cx)?,
            log: self.log,
            approvals: self.approvals.map(|a| a.parse(cx)).transpose()?,
        };
        let ids = config.agents.iter().map(|agent| agent.id.as_str());
        cx.unique("agents", "id", ids, Problem::DuplicateAgent)?;
        let issuers = config
            .identity_providers
            .iter()
            .map(|idp| idp.issuer.as_str());
        cx.unique(
            "identity_providers",
            "issuer",
            issuers,
            Problem::DuplicateIssuer,
        )?;
        let api_names = config.apis.iter().map(|api| api.name.as_str());
        cx.unique("apis", "name", api_names, Problem::DuplicateApi)?;
        references::check(&config, cx)?;
        Ok(config)
    }
}

/// Deserializes one entry of a list section on its own: its raw form, then its section's
/// checks, with paths left as written. The checks between sections need the whole file and do
/// not run; errors name the key under `entry` (`agent.id`).
fn deserialize_entry<'de, D, R, T>(
    deserializer: D,
    parse: impl FnOnce(R, &Context<'_>) -> Result<T, ConfigError>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    R: Deserialize<'de>,
{
    use serde::de::Error as _;
    let raw = R::deserialize(deserializer)?;
    let cx = Context {
        origin: Path::new(""),
        base: None,
    };
    parse(raw, &cx).map_err(|err| match err {
        ConfigError::Invalid { key, problem, .. } => {
            D::Error::custom(format_args!("`{key}`: {problem}"))
        }
        other => D::Error::custom(other),
    })
}

/// Implements `Deserialize` for the checked entry type `$checked` through [`deserialize_entry`]
/// and its raw form's `parse`, naming keys under `$entry`.
macro_rules! deserialize_as_entry {
    ($checked:ty, $raw:ty, $entry:literal) => {
        /// Checked like an entry of the file, apart from the checks between sections.
        impl<'de> serde::Deserialize<'de> for $checked {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::deserialize_entry(deserializer, |raw: $raw, cx| raw.parse($entry, cx))
            }
        }
    };
}

pub(crate) use deserialize_as_entry;

/// What a section's parse needs besides its own values: the file to name in errors and the
/// folder relative paths start from.
pub(crate) struct Context<'a> {
    /// The config file.
    origin: &'a Path,
    /// The config file's folder when loading a file; `None` when parsing text alone, which
    /// leaves paths as written and looks at no file.
    base: Option<&'a Path>,
}

impl Context<'_> {
    /// The error for `key` of this file.
    pub(crate) fn invalid(
        &self,
        key: impl Into<String>,
        problem: impl Into<Problem>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.origin.to_owned(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// `path` resolved against the config file's folder.
    pub(crate) fn path(&self, path: PathBuf) -> PathBuf {
        match self.base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }
    }

    /// `secret` with a relative `file:` path resolved.
    pub(crate) fn secret(&self, secret: SecretRef) -> SecretRef {
        match secret {
            SecretRef::File(path) => SecretRef::File(self.path(path)),
            env => env,
        }
    }

    /// Parses each entry of the list `section`, keyed `section[i]`.
    pub(crate) fn each<R, T>(
        &self,
        section: &str,
        entries: Vec<R>,
        parse: impl Fn(R, &str, &Self) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        (entries.into_iter().enumerate())
            .map(|(i, entry)| parse(entry, &format!("{section}[{i}]"), self))
            .collect()
    }

    /// Refuses the first of `names`, the `field` of each entry of the list `section`, that an
    /// earlier one used.
    pub(crate) fn unique<'n>(
        &self,
        section: &str,
        field: &str,
        names: impl Iterator<Item = &'n str>,
        problem: fn(String) -> Problem,
    ) -> Result<(), ConfigError> {
        self.unique_in(&mut HashSet::new(), section, field, names, problem)
    }

    /// [`Self::unique`] against the names in `seen` too, which then holds them all.
    pub(crate) fn unique_in<'n>(
        &self,
        seen: &mut HashSet<&'n str>,
        section: &str,
        field: &str,
        names: impl Iterator<Item = &'n str>,
        problem: fn(String) -> Problem,
    ) -> Result<(), ConfigError> {
        for (i, name) in names.enumerate() {
            if !seen.insert(name) {
                return Err(self.invalid(format!("{section}[{i}].{field}"), problem(name.into())));
            }
        }
        Ok(())
    }

    /// The resolved path of the file or folder `key` names, which must exist (by `exists`)
    /// when loading.
    pub(crate) fn existing(
        &self,
        key: impl Into<String>,
        path: PathBuf,
        exists: fn(&Path) -> bool,
    ) -> Result<PathBuf, ConfigError> {
        let path = self.path(path);
        if self.base.is_some() && !exists(&path) {
            return Err(ConfigError::MissingFile {
                path: self.origin.to_owned(),
                key: key.into(),
                file: path,
            });
        }
        Ok(path)
    }

    /// `duration` for a setting that must be greater than zero.
    pub(crate) fn non_zero(
        &self,
        key: impl Into<String>,
        duration: HumanDuration,
    ) -> Result<NonZeroDuration, ConfigError> {
        NonZeroDuration::new(duration.0).ok_or_else(|| self.invalid(key, Problem::Zero))
    }

    /// `texts` as scope tokens.
    pub(crate) fn scopes(
        &self,
        key: impl Into<String>,
        texts: &[String],
    ) -> Result<Vec<Scope>, ConfigError> {
        let key = key.into();
        texts
            .iter()
            .map(|text| {
                Scope::new(text).ok_or_else(|| {
                    let shown = portcullis_core::truncate_for_message(text, 64);
                    self.invalid(key.clone(), Problem::Scope(shown))
                })
            })
            .collect()
    }

    /// `texts` as a compiled tool pattern list.
    pub(crate) fn patterns(
        &self,
        key: impl Into<String>,
        texts: &[String],
    ) -> Result<ToolPatterns, ConfigError> {
        ToolPatterns::parse(texts).map_err(|e| self.invalid(key, e))
    }
}

#[cfg(test)]
mod tests;
