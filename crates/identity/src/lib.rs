//! The built-in OAuth 2 authorization server and the bearer-token check of Portcullis.
//!
//! Agents obtain short-lived access tokens with the client-credentials grant
//! ([`Identity::token_endpoint`], RFC 6749 section 4.4) and present them on every call; the
//! identify stage turns a token into a [`Principal`] with [`Identity::verify`]. The HTTP layer
//! only parses requests and calls in here; the answers are typed ([`TokenResponse`],
//! [`OAuthError`], [`VerifyError`]).
//!
//! Design decisions:
//! - Tokens are RFC 9068 JWTs signed by an asymmetric key (ES256 or EdDSA) from a key set kept
//!   in the data folder (see [`KEYS_DIR`]). Keys rotate on a schedule (`issuer.key_rotation`) or
//!   on demand; the previous keys stay in the JWKS and keep verifying until every token they
//!   signed has expired, so a rotation never breaks a valid token. Verification follows
//!   RFC 8725: `kid` must name a key in force (its RFC 7638 thumbprint), the algorithm is pinned
//!   to that key, `typ` must be `at+jwt`, and headers that would let a token name its own key
//!   (`jku`, `jwk`, `x5u`, `x5c`) are refused outright rather than ignored.
//! - A running gateway re-reads the keys folder every [`KEY_RELOAD_INTERVAL`] (a directory
//!   listing; only new files are parsed), so a rotation made by `portcullis keys rotate` in
//!   another process is picked up within that interval, and runs the scheduled rotation there.
//! - Revocation ([`Revocations`]) is checked after the verified-token cache, on every call.
//! - A verified token is cached by the SHA-256 of its text until its `exp`, so the signature of
//!   a token is checked once, not on every call.
//! - Client secrets are checked in constant time (argon2 or a constant-time comparison), and an
//!   unknown client id is checked against a decoy credential of the same cost, so the answer and
//!   its timing do not reveal which ids exist.
//! - Checking an argon2 hash takes tens of milliseconds of CPU: call
//!   [`Identity::token_endpoint`] from a blocking-capable context (`spawn_blocking`).

mod cache;
mod client;
mod error;
mod exchange;
mod external;
mod jws;
mod key;
mod revocation;
mod token;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::{Argon2, PasswordHasher as _};
use parking_lot::RwLock;
use portcullis_config::{Config, SigningAlgorithm};
pub use portcullis_core::Principal;
use portcullis_secrets::SecretStore;
use serde::Serialize;

use crate::cache::TokenCache;
use crate::client::{Credential, Form};
pub use crate::error::{IdentityError, OAuthError, RevocationError, VerifyError};
use crate::external::ExternalIssuers;
pub use crate::external::MetadataFetcher;
use crate::key::{KeySet, SigningKey};
pub use crate::revocation::{
    AgentState, ChangeSource, IDENTITY_DB_FILE, REFRESH_INTERVAL, Revocations,
};
use crate::token::{Act, Confirmation, IssuedClaims, VerifiedClaims};

/// The file name of the single signing key of earlier versions inside the data folder; it is
/// moved into [`KEYS_DIR`] on the first start.
pub const SIGNING_KEY_FILE: &str = key::KEY_FILE;
/// The folder of the signing key set inside the data folder: one `<created>-<kid>.pem` file
/// (mode 0600) per key, `created` in milliseconds since the Unix epoch.
pub const KEYS_DIR: &str = key::KEYS_DIR;
/// How often a running gateway re-reads the keys folder and checks the rotation schedule.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The only grant type this server supports.
const CLIENT_CREDENTIALS: &str = "client_credentials";

/// A configured agent as the issuer sees it.
struct Agent {
    id: String,
    credential: Credential,
    roles: Vec<String>,
    scopes: Vec<String>,
    /// May use the token-exchange grant.
    token_exchange: bool,
    /// The client certificate that authenticates the agent, if any.
    certificate: Option<portcullis_config::AgentCertificate>,
}

/// The user a token being issued stands for, and the agents that handed it on.
struct Delegation<'a> {
    user: &'a portcullis_core::ActingUser,
    /// Earlier agents of the chain, nearest first (the new token's agent is not included).
    actors: &'a [String],
}

/// The token issuer and verifier. Built once at start-up and shared (`Arc<Identity>`).
pub struct Identity {
    issuer: String,
    audience: String,
    keys: RwLock<Arc<KeySet>>,
    data_dir: PathBuf,
    algorithm: SigningAlgorithm,
    rotation_ms: i64,
    /// How long a retired key stays in force, in milliseconds.
    window_ms: i64,
    agents: HashMap<String, Agent>,
    decoy: Credential,
    token_ttl: u64,
    max_token_ttl: u64,
    leeway: i64,
    /// The `resource` values (RFC 8707) a token request may name: this gateway's identifiers.
    resources: Vec<String>,
    cache: TokenCache,
    revocations: Arc<Revocations>,
    /// Trusted external issuers (`identity_providers`).
    external: ExternalIssuers,
    #[cfg(test)]
    clock_skew: std::sync::atomic::AtomicI64,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("kid", &self.keys.read().current().kid)
            .field("agents", &self.agents.len())
            .finish_non_exhaustive()
    }
}

/// A successful token endpoint answer (RFC 6749 section 5.1).
///
/// The HTTP layer must send it with `Cache-Control: no-store`. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The signed JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-separated. Always sent, even empty, because it may differ from
    /// the scope requested (RFC 6749 section 5.1).
    pub scope: String,
    /// The type of the token issued, for a token exchange (RFC 8693 section 2.2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

impl Identity {
    /// Loads the signing key set from `config.data_dir` (folders created with mode 0700 if
    /// missing; the first key is generated, key files are written with mode 0600; a
    /// `signing-key.pem` of earlier versions becomes the first key; a corrupt key file is an
    /// error, never replaced) and resolves the agents' secret references through
    /// `secrets`, so that a missing secret fails now rather than on the first token request.
    /// `revocations` is the store opened with [`Revocations::open`] on the same data folder.
    pub fn open(
        config: &Config,
        secrets: &SecretStore,
        revocations: Arc<Revocations>,
    ) -> Result<Self, IdentityError> {
        let window_ms = key_window_ms(config);
        let keys = key::load_or_create(
            &config.data_dir,
            config.issuer.algorithm,
            wall_clock_ms(),
            window_ms,
        )?;
        Self::build(config, secrets, keys, revocations)
    }

    /// How long a revoked token id must be remembered under `config`: the longest lifetime a
    /// token may have plus the leeway. Pass it to [`Revocations::open`].
    pub fn revocation_retention(config: &Config) -> Duration {
        config
            .issuer
            .max_token_ttl
            .0
            .saturating_add(config.issuer.leeway.0)
    }

    fn build(
        config: &Config,
        secrets: &SecretStore,
        keys: KeySet,
        revocations: Arc<Revocations>,
    ) -> Result<Self, IdentityError> {
        let mut agents = HashMap::with_capacity(config.agents.len());
        for agent in &config.agents {
            let credential = match (&agent.client_secret_hash, &agent.client_secret) {
                (Some(phc), _) => Credential::from_phc(&agent.id, phc)?,
                (None, Some(reference)) => {
                    Credential::Plain(secrets.resolve(reference).map_err(|source| {
                        IdentityError::Secret {
                            agent: agent.id.to_string(),
                            source,
                        }
                    })?)
                }
                // Authenticated by certificate only: a random secret nobody knows keeps the
                // secret path's cost and answer the same as for any other agent.
                (None, None) if agent.certificate.is_some() => {
                    Credential::decoy(std::iter::empty())?
                }
                (None, None) => {
                    return Err(IdentityError::SecretHash {
                        agent: agent.id.to_string(),
                        reason: "the agent has neither `client_secret_hash` nor `client_secret`"
                            .to_owned(),
                    });
                }
            };
            agents.insert(
                agent.id.to_string(),
                Agent {
                    id: agent.id.to_string(),
                    credential,
                    roles: dedup(agent.roles.iter().map(|role| role.as_str())),
                    scopes: dedup(agent.scopes.iter().map(|scope| scope.as_str())),
                    token_exchange: agent.token_exchange,
                    certificate: agent.certificate.clone(),
                },
            );
        }
        let decoy = Credential::decoy(agents.values().map(|a| &a.credential))?;
        let issuer = config.issuer_url();
        let audience = config.audience();
        let leeway = config.issuer.leeway.0.as_secs();
        let current = Arc::clone(keys.current());
        let identity = Self {
            issuer,
            audience,
            keys: RwLock::new(Arc::new(keys)),
            data_dir: config.data_dir.clone(),
            algorithm: config.issuer.algorithm,
            rotation_ms: millis(config.issuer.key_rotation.0),
            window_ms: key_window_ms(config),
            agents,
            decoy,
            token_ttl: config.issuer.token_ttl.0.as_secs(),
            max_token_ttl: config.issuer.max_token_ttl.0.as_secs(),
            leeway: i64::try_from(leeway).unwrap_or(i64::MAX),
            resources: config.resource_identifiers(),
            cache: TokenCache::new(cache::DEFAULT_CAPACITY),
            revocations,
            external: ExternalIssuers::new(&config.identity_providers, &config.audience()),
            #[cfg(test)]
            clock_skew: std::sync::atomic::AtomicI64::new(0),
        };
        self_test(&current)?;
        Ok(identity)
    }

    /// The issuer's clock in milliseconds (skewable in tests).
    fn now_ms(&self) -> i64 {
        let now = wall_clock_ms();
        #[cfg(test)]
        let now = now.saturating_add(
            self.clock_skew
                .load(std::sync::atomic::Ordering::Relaxed)
                .saturating_mul(1000),
        );
        now
    }

    /// Brings the key set up to date; a running gateway calls it every
    /// [`KEY_RELOAD_INTERVAL`]. Re-reads the keys folder (picking up a rotation made by another
    /// process), rotates when the current key is older than `issuer.key_rotation`, and drops and
    /// deletes retired keys whose every token has expired. On failure (a corrupt file appeared)
    /// the key set in force is kept, and the error is returned for the log.
    pub fn maintain_keys(&self) -> Result<(), IdentityError> {
        let now = self.now_ms();
        let known = Arc::clone(&self.keys.read());
        let (mut set, mut expired) = key::reload(&self.data_dir, &known, now, self.window_ms)?;
        if now.saturating_sub(set.current().created_ms) >= self.rotation_ms {
            let new = key::rotate(&self.data_dir, self.algorithm, now)?;
            self_test(&new)?;
            tracing::info!(kid = %new.kid, "rotated the token signing key on schedule");
            (set, expired) = key::reload(&self.data_dir, &set, now, self.window_ms)?;
        }
        self.install(set, &known);
        for key in expired {
            key::delete(&self.data_dir, &key);
        }
        Ok(())
    }

    /// Rotates now (`POST /admin/keys/rotate`): generates a key that becomes the current one at
    /// once; the previous keys stay in force for their window. Returns the new key.
    pub fn rotate_keys(&self) -> Result<KeyInfo, IdentityError> {
        let now = self.now_ms();
        let new = key::rotate(&self.data_dir, self.algorithm, now)?;
        self_test(&new)?;
        let known = Arc::clone(&self.keys.read());
        let (set, _) = key::reload(&self.data_dir, &known, now, self.window_ms)?;
        self.install(set, &known);
        tracing::info!(kid = %new.kid, "rotated the token signing key on request");
        self.keys()
            .into_iter()
            .find(|info| info.kid == new.kid)
            .ok_or_else(|| IdentityError::Crypto("the new key is not in force".to_owned()))
    }

    /// The keys in force, oldest first; the last one signs new tokens.
    pub fn keys(&self) -> Vec<KeyInfo> {
        let set = Arc::clone(&self.keys.read());
        key_infos(&set, self.window_ms)
    }

    fn install(&self, set: KeySet, known: &Arc<KeySet>) {
        let old_kid = known.current().kid.clone();
        let new_kid = set.current().kid.clone();
        *self.keys.write() = Arc::new(set);
        if old_kid != new_kid {
            tracing::info!(kid = %new_kid, previous = %old_kid, "now signing with a new key");
        }
    }

    /// The current signing key.
    #[cfg(test)]
    fn key(&self) -> Arc<SigningKey> {
        Arc::clone(self.keys.read().current())
    }
}

/// One signing key as `portcullis keys list` and `GET /admin/keys` show it. Times are seconds
/// since the Unix epoch.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct KeyInfo {
    /// The key id (RFC 7638 thumbprint).
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: &'static str,
    /// When the key was created.
    pub created: i64,
    /// When the next key replaced it; `None` for the current key.
    pub retired: Option<i64>,
    /// When it leaves the JWKS and stops verifying: `retired` plus the longest token lifetime,
    /// the leeway and a reload margin. `None` for the current key.
    pub expires: Option<i64>,
    /// Whether new tokens are signed with it.
    pub current: bool,
}

/// Generates a new current key in the data folder of `config`, for `portcullis keys rotate`.
/// A running gateway on the same folder starts signing with it within
/// [`KEY_RELOAD_INTERVAL`]; tokens signed by the previous keys keep verifying.
pub fn rotate_keys_in(config: &Config) -> Result<KeyInfo, IdentityError> {
    let now = wall_clock_ms();
    // Loading first moves an old `signing-key.pem` into the set and fails on corrupt files. A
    // current key of another algorithm is no error here: rotating is the way out of it.
    match key::load_or_create(
        &config.data_dir,
        config.issuer.algorithm,
        now,
        key_window_ms(config),
    ) {
        Ok(_) | Err(IdentityError::AlgorithmMismatch { .. }) => {}
        Err(other) => return Err(other),
    }
    let new = key::rotate(&config.data_dir, config.issuer.algorithm, now)?;
    self_test(&new)?;
    let kid = new.kid;
    list_keys_in(config)?
        .into_iter()
        .find(|info| info.kid == kid)
        .ok_or_else(|| IdentityError::Crypto("the new key is not in force".to_owned()))
}

/// The keys in force in the data folder of `config`, oldest first, for `portcullis keys list`.
pub fn list_keys_in(config: &Config) -> Result<Vec<KeyInfo>, IdentityError> {
    let window_ms = key_window_ms(config);
    let set = key::load_or_create(
        &config.data_dir,
        config.issuer.algorithm,
        wall_clock_ms(),
        window_ms,
    )?;
    Ok(key_infos(&set, window_ms))
}

fn key_infos(set: &KeySet, window_ms: i64) -> Vec<KeyInfo> {
    let count = set.keys().len();
    set.keys()
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let retired = set.retired_ms(i);
            KeyInfo {
                kid: key.kid.clone(),
                alg: token::alg_str(key.algorithm),
                created: key.created_ms.div_euclid(1000),
                retired: retired.map(|r| r.div_euclid(1000)),
                expires: retired.map(|r| r.saturating_add(window_ms).div_euclid(1000)),
                current: i + 1 == count,
            }
        })
        .collect()
}

/// How long a retired key stays in force: the longest token lifetime, the leeway, and twice the
/// reload interval for gateways that kept signing with it until they noticed the rotation.
fn key_window_ms(config: &Config) -> i64 {
    millis(
        config
            .issuer
            .max_token_ttl
            .0
            .saturating_add(config.issuer.leeway.0)
            .saturating_add(KEY_RELOAD_INTERVAL * 2),
    )
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Signs and verifies a probe so that a key that cannot sign is never used.
fn self_test(key: &SigningKey) -> Result<(), IdentityError> {
    {
        let message = b"portcullis signing key self-test";
        let signature = jsonwebtoken::crypto::sign(message, &key.encoding, key.algorithm)
            .map_err(|e| IdentityError::Crypto(e.to_string()))?;
        if jws::verify_detached(
            message,
            &signature,
            &key.public.decoding,
            key.public.algorithm,
        ) {
            Ok(())
        } else {
            Err(IdentityError::Crypto(
                "the public key does not verify the private key's signature".to_owned(),
            ))
        }
    }
}

impl Identity {
    /// The token issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience every token must name (`aud`).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The RFC 6749 token endpoint.
    ///
    /// `form` is the decoded `application/x-www-form-urlencoded` body; a repeated parameter is
    /// `invalid_request`. `authorization` is the raw `Authorization` header, if any. Supports
    /// `grant_type=client_credentials` with the client authenticated by HTTP Basic
    /// (`client_secret_basic`) or by `client_id` and `client_secret` in the body
    /// (`client_secret_post`); both at once is `invalid_request`. An optional `scope` grants
    /// those requested scopes the agent holds (a malformed one is `invalid_scope`); without one,
    /// all of them are granted. An optional `resource` (RFC 8707) must name this gateway (one of
    /// [`portcullis_config::Config::resource_identifiers`]), else `invalid_target`; the token's
    /// audience is the configured audience either way.
    ///
    /// CPU-bound for tens of milliseconds (argon2): run it on a blocking thread.
    pub fn token_endpoint(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        self.token_endpoint_tls(form, authorization, None)
    }

    /// [`Identity::token_endpoint`] on a connection that presented a verified TLS client
    /// certificate (`peer`). A request naming only `client_id` (no secret, no HTTP Basic) is
    /// then authenticated by the certificate (RFC 8705 `tls_client_auth`): it must match the
    /// agent's configured `certificate`. The tokens issued are bound to the certificate
    /// (`cnf.x5t#S256`) when the agent's `certificate.bind_tokens` says so.
    pub fn token_endpoint_tls(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
        peer: Option<&portcullis_core::PeerCertificate>,
    ) -> Result<TokenResponse, OAuthError> {
        let form = Form::parse(form)?;
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("`grant_type` is required"))?;
        if grant_type != CLIENT_CREDENTIALS && grant_type != exchange::GRANT_TYPE {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant type `{}` is not supported; use `{CLIENT_CREDENTIALS}` or `{}`",
                portcullis_core::truncate_for_message(grant_type, 64),
                exchange::GRANT_TYPE
            )));
        }
        let (agent, binding) = match (peer, authorization, form.get("client_secret")) {
            (Some(peer), None, None) => {
                let Some(agent) = form.get("client_id").and_then(|id| self.agents.get(id)) else {
                    return Err(OAuthError::invalid_client());
                };
                let Some(certificate) = agent
                    .certificate
                    .as_ref()
                    .filter(|expected| certificate_matches(expected, peer))
                else {
                    tracing::debug!(client_id = %agent.id, "client certificate does not match the agent");
                    return Err(OAuthError::invalid_client());
                };
                let binding = certificate.bind_tokens.then(|| Confirmation {
                    x5t_s256: peer.thumbprint.clone(),
                });
                (agent, binding)
            }
            _ => (self.secret_client(&form, authorization)?, None),
        };
        if self.revocations.is_disabled(&agent.id) {
            tracing::debug!(client_id = %agent.id, "token refused: the agent is disabled");
            return Err(OAuthError::invalid_client().with_internal("agent disabled"));
        }
        if let Some(resource) = form.get("resource")
            && !self.resources.iter().any(|r| r == resource)
        {
            return Err(OAuthError::invalid_target());
        }
        if grant_type == exchange::GRANT_TYPE {
            return self.exchange(agent, &form, binding);
        }
        let scopes = match form.get("scope") {
            Some(requested) => granted_scopes(agent, requested)?,
            None => agent.scopes.clone(),
        };
        self.issue(agent, scopes, self.token_ttl, None, binding)
    }

    /// Client authentication by secret (HTTP Basic or form fields), at the same cost for a
    /// known and an unknown client.
    fn secret_client(
        &self,
        form: &Form<'_>,
        authorization: Option<&str>,
    ) -> Result<&Agent, OAuthError> {
        let presented = client::presented(form, authorization)?;
        if !presented.within_limits() {
            return Err(OAuthError::invalid_client());
        }
        let agent = self.agents.get(&presented.client_id);
        // INVARIANT: exactly one credential check runs whether or not the client exists.
        let credential = agent.map_or(&self.decoy, |a| &a.credential);
        let authenticated = credential.verify(presented.secret.as_bytes());
        let agent = match agent {
            Some(agent) if authenticated => agent,
            _ => {
                // An unknown id is not logged: callers sometimes send a secret in its place.
                match agent {
                    Some(agent) => {
                        tracing::debug!(client_id = %agent.id, "client authentication failed");
                    }
                    None => tracing::debug!("client authentication failed for an unknown client"),
                }
                return Err(OAuthError::invalid_client());
            }
        };
        Ok(agent)
    }

    /// The configured agent a token request names (by HTTP Basic or `client_id`), for the audit
    /// record. `None` when the request names no configured agent: an unknown id is never
    /// echoed, since callers sometimes send a secret in its place.
    pub fn requested_agent(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
    ) -> Option<String> {
        let form = Form::parse(form).ok()?;
        let presented = client::presented(&form, authorization).ok()?;
        self.agents
            .get(&presented.client_id)
            .map(|agent| agent.id.clone())
    }

    /// Issues a token for a configured agent without its secret (the `portcullis token`
    /// command). `ttl` defaults to `issuer.token_ttl` and is capped at `issuer.max_token_ttl`.
    pub fn mint(&self, agent: &str, ttl: Option<Duration>) -> Result<TokenResponse, OAuthError> {
        let Some(agent) = self.agents.get(agent) else {
            return Err(OAuthError {
                error: "invalid_client",
                error_description: format!(
                    "agent `{}` is not configured",
                    portcullis_core::truncate_for_message(agent, 64)
                ),
                status: 400,
                challenge: false,
                internal: None,
            });
        };
        if self.revocations.is_disabled(&agent.id) {
            return Err(OAuthError {
                error: "invalid_client",
                error_description: format!("agent `{}` is disabled", agent.id),
                status: 400,
                challenge: false,
                internal: Some("agent disabled"),
            });
        }
        let ttl = ttl.map_or(self.token_ttl, |t| t.as_secs().min(self.max_token_ttl));
        if ttl == 0 {
            return Err(OAuthError::invalid_request(
                "token lifetime must be at least one second",
            ));
        }
        self.issue(agent, agent.scopes.clone(), ttl, None, None)
    }

    fn issue(
        &self,
        agent: &Agent,
        scopes: Vec<String>,
        ttl: u64,
        delegation: Option<&Delegation<'_>>,
        binding: Option<Confirmation>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let lifetime = i64::try_from(ttl).map_err(|_| OAuthError::server_error())?;
        let scope = scopes.join(" ");
        let act = delegation.and_then(|d| {
            let chain: Vec<String> = std::iter::once(agent.id.clone())
                .chain(d.actors.iter().cloned())
                .collect();
            Act::from_chain(&chain)
        });
        let claims = IssuedClaims {
            iss: &self.issuer,
            sub: delegation.map_or(agent.id.as_str(), |d| d.user.id.as_str()),
            aud: &self.audience,
            exp: now.saturating_add(lifetime),
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: &agent.id,
            scope: scope.clone(),
            roles: &agent.roles,
            act,
            user_iss: delegation.map(|d| d.user.issuer.as_str()),
            tenant: delegation
                .map(|d| d.user.tenant.as_str())
                .filter(|t| !t.is_empty()),
            groups: delegation
                .map(|d| d.user.groups.as_slice())
                .filter(|g| !g.is_empty()),
            cnf: binding,
        };
        let key = Arc::clone(self.keys.read().current());
        let access_token = jsonwebtoken::encode(&token::header(&key), &claims, &key.encoding)
            .map_err(|e| {
                tracing::error!(error = %e, "token signing failed");
                OAuthError::server_error()
            })?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
            issued_token_type: delegation.map(|_| exchange::ACCESS_TOKEN_TYPE),
        })
    }

    /// Verifies a bearer token and returns who it stands for.
    ///
    /// The error text is for logs and the audit record only; agents get a generic 401. A token
    /// verified before is answered from a cache until its `exp`; revocation is checked after
    /// the cache, on every call, against the in-memory revocation snapshot (call
    /// [`Identity::refresh_revocations`] first to pick up changes made by other processes).
    pub fn verify(&self, token: &str) -> Result<Principal, VerifyError> {
        let principal = self.verify_signed(token)?;
        self.revocations.check(&principal)?;
        Ok(principal)
    }

    /// Picks up revocations committed by another process (the CLI); cheap unless due, see
    /// [`REFRESH_INTERVAL`].
    pub async fn refresh_revocations(&self) {
        self.revocations.refresh_if_due().await;
    }

    /// The revocation store.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Revokes one token by its `jti`; takes effect on this gateway's next request. Returns
    /// `false` if it was already revoked.
    pub async fn revoke_token(
        &self,
        jti: &str,
        source: ChangeSource,
    ) -> Result<bool, RevocationError> {
        self.revocations.revoke_token(jti, source).await
    }

    /// Revokes every token a configured agent holds now. The agent can obtain new tokens.
    /// Returns the cut-off (`iat` at or before it is refused).
    pub async fn revoke_agent(
        &self,
        agent: &str,
        source: ChangeSource,
    ) -> Result<i64, RevocationError> {
        let agent = self.configured(agent)?;
        self.revocations.revoke_agent(agent, source).await
    }

    /// Disables (refuses its tokens and token requests) or re-enables a configured agent.
    /// Returns `false` if it was already in that state.
    pub async fn set_agent_disabled(
        &self,
        agent: &str,
        disabled: bool,
        source: ChangeSource,
    ) -> Result<bool, RevocationError> {
        let agent = self.configured(agent)?;
        self.revocations.set_disabled(agent, disabled, source).await
    }

    fn configured<'a>(&'a self, agent: &str) -> Result<&'a str, RevocationError> {
        self.agents
            .get(agent)
            .map(|a| a.id.as_str())
            .ok_or_else(|| {
                RevocationError::UnknownAgent(portcullis_core::truncate_for_message(agent, 64))
            })
    }

    /// Signature, header and claim checks, answered from the cache when possible.
    fn verify_signed(&self, token: &str) -> Result<Principal, VerifyError> {
        if token.is_empty() {
            return Err(VerifyError::Malformed("empty"));
        }
        if token.len() > token::MAX_TOKEN_BYTES {
            return Err(VerifyError::Malformed("too long"));
        }
        let now = self.now();
        let digest = TokenCache::digest(token);
        if let Some(principal) = self.cache.get(&digest, now) {
            return Ok(principal);
        }
        let principal = self.verify_uncached(token, now)?;
        self.cache.insert(digest, principal.clone(), now);
        Ok(principal)
    }

    fn verify_uncached(&self, token: &str, now: i64) -> Result<Principal, VerifyError> {
        // RFC 8725 order: structure, key binding (forbidden members, `alg` pinned to the key the
        // `kid` names among the keys in force), RFC 9068 type, and only then the signature; the
        // claims are read only from a payload whose signature verified.
        let jws = jws::Jws::parse(token)?;
        let keys = Arc::clone(&self.keys.read());
        if let Some(issuer) = self.external_issuer_of(&jws, &keys) {
            return self.verify_external_bearer(&issuer, &jws, token, now);
        }
        let key = token::check_header(&jws, &keys)?;
        let payload = jws.verify_signature(&key.public)?;
        let claims: VerifiedClaims = token::claims(&payload)?;
        if claims.iss != self.issuer {
            return Err(VerifyError::Issuer);
        }
        if !claims.aud.contains(&self.audience) {
            return Err(VerifyError::Audience);
        }
        if now >= claims.exp.saturating_add(self.leeway) {
            return Err(VerifyError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(VerifyError::NotYetValid);
        }
        if claims.iat > now.saturating_add(self.leeway) {
            return Err(VerifyError::IssuedInFuture);
        }
        // Revocations are remembered for `max_token_ttl + leeway`: a longer-lived token could
        // outlive the record of its revocation.
        if claims.exp.saturating_sub(claims.iat)
            > i64::try_from(self.max_token_ttl).unwrap_or(i64::MAX)
        {
            return Err(VerifyError::Lifetime);
        }
        for (name, value) in [
            ("sub", &claims.sub),
            ("jti", &claims.jti),
            ("client_id", &claims.client_id),
        ] {
            if value.is_empty() {
                return Err(VerifyError::Claims(format!("`{name}` is empty")));
            }
        }
        if !self.agents.contains_key(&claims.client_id) {
            return Err(VerifyError::UnknownAgent(
                portcullis_core::truncate_for_message(&claims.client_id, 64),
            ));
        }
        let scopes = claims
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let (user, actors) = match &claims.act {
            None => (None, Vec::new()),
            Some(act) => {
                let mut chain = act.chain();
                if chain.first() != Some(&claims.client_id) || chain.len() > token::MAX_ACT_DEPTH {
                    return Err(VerifyError::Claims(
                        "`act` does not match `client_id` or is too deep".to_owned(),
                    ));
                }
                chain.remove(0);
                let user = portcullis_core::ActingUser {
                    id: claims.sub.clone(),
                    issuer: claims.user_iss.clone().unwrap_or_default(),
                    tenant: claims.tenant.clone().unwrap_or_default(),
                    groups: claims.groups.clone(),
                };
                (Some(user), chain)
            }
        };
        Ok(Principal {
            agent: claims.client_id,
            subject: claims.sub,
            roles: claims.roles,
            scopes,
            token_id: claims.jti,
            issued_at: claims.iat,
            expires_at: claims.exp,
            user,
            actors,
            certificate_thumbprint: claims.cnf.map(|cnf| cnf.x5t_s256),
        })
    }

    /// The public key set (`{"keys":[...]}`) for the JWKS endpoint.
    pub fn jwks(&self) -> serde_json::Value {
        let keys = Arc::clone(&self.keys.read());
        let jwks: Vec<serde_json::Value> = keys.keys().iter().map(|k| k.jwk.clone()).collect();
        serde_json::json!({ "keys": jwks })
    }

    /// RFC 8414 authorization server metadata, given the absolute URLs of the token endpoint
    /// and of the JWKS.
    pub fn metadata(&self, token_endpoint: &str, jwks_uri: &str) -> serde_json::Value {
        serde_json::json!({
            "issuer": self.issuer,
            "token_endpoint": token_endpoint,
            "jwks_uri": jwks_uri,
            "grant_types_supported": self.grant_types(),
            "token_endpoint_auth_methods_supported": self.auth_methods(),
            "tls_client_certificate_bound_access_tokens": self.agents.values().any(|a| a.certificate.as_ref().is_some_and(|c| c.bind_tokens)),
            // No authorization endpoint: no response type is supported.
            "response_types_supported": [],
        })
    }

    /// Seconds since the Unix epoch.
    fn now(&self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        #[cfg(test)]
        let now = now + self.clock_skew.load(std::sync::atomic::Ordering::Relaxed);
        now
    }
}

/// Whether a presented client certificate is the one configured for an agent.
fn certificate_matches(
    expected: &portcullis_config::AgentCertificate,
    peer: &portcullis_core::PeerCertificate,
) -> bool {
    match (&expected.subject, &expected.spiffe_id) {
        (Some(subject), _) => &peer.subject == subject,
        (None, Some(spiffe)) => peer.uris.iter().any(|uri| uri == spiffe),
        (None, None) => false,
    }
}

/// The scopes granted for a `scope` request parameter: each must be a well-formed scope token
/// (RFC 6749 section 3.3); those the agent holds are granted, the others left out (section 3.3
/// lets the server grant less than asked, and MCP clients ask for every scope the resource
/// supports). Duplicates are dropped; order is kept.
fn granted_scopes(agent: &Agent, requested: &str) -> Result<Vec<String>, OAuthError> {
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        let well_formed = scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !well_formed {
            return Err(OAuthError::invalid_scope("`scope` is malformed"));
        }
        if agent.scopes.iter().any(|s| s == scope) && !granted.iter().any(|s| s == scope) {
            granted.push(scope.to_owned());
        }
    }
    Ok(granted)
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_owned());
        }
    }
    out
}

/// Hashes a client secret for `client_secret_hash`: an argon2id PHC string with the argon2
/// crate's default parameters and a random salt.
pub fn hash_secret(secret: &str) -> Result<String, IdentityError> {
    if secret.is_empty() {
        return Err(IdentityError::Hash("the secret is empty".to_owned()));
    }
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| IdentityError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests;
