//! The built-in OAuth 2 authorization server and the bearer-token check of Portcullis.
//!
//! Agents obtain short-lived access tokens with the client-credentials grant
//! ([`Identity::token_endpoint`], RFC 6749 section 4.4) and present them on every call; the
//! identify stage turns what a request presented into a [`Principal`] with
//! [`Identity::identify`]. The fronts only read requests and call in here; the answers are
//! typed ([`TokenResponse`], [`OAuthError`], [`IdentifyError`], [`VerifyError`]).
//!
//! Where each job lives:
//! - `identify.rs`: the identify stage and token verification (own and external issuers'
//!   tokens, the verified-token cache, the revocation check);
//! - `issue.rs`: the token endpoint, `portcullis token` and token signing; `exchange.rs`: the
//!   token-exchange grant; `client.rs`: client authentication and secret hashing;
//! - `rotation.rs`: the key set in force (rotation, listing); `key.rs`: the key files;
//! - `throttle.rs`: the brake on failed client authentication (per address and client id,
//!   bounded secret checks in flight);
//! - `revocation.rs`: revoked tokens and disabled agents; `external.rs`: trusted external
//!   issuers and their keys; `metadata.rs`: the JWKS and RFC 8414 metadata;
//! - `token.rs`, `jws.rs`: the token format, the header checks and the one JWK rule;
//!   `cache.rs`: the verified-token cache; `error.rs`: the error types.
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

mod approvers;
mod cache;
mod client;
mod error;
mod exchange;
mod external;
mod identify;
mod issue;
mod jws;
mod key;
mod metadata;
mod revocation;
mod rotation;
pub mod sign_in;
mod throttle;
mod token;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use portcullis_config::{Config, SigningAlgorithm};
pub use portcullis_core::Principal;
use portcullis_secrets::SecretStore;

pub use crate::approvers::Approvers;
use crate::cache::TokenCache;
use crate::client::Credential;
pub use crate::client::hash_secret;
pub use crate::error::{IdentifyError, IdentityError, OAuthError, RevocationError, VerifyError};
use crate::external::ExternalIssuers;
pub use crate::external::{FetchError, MetadataFetcher, PostFuture};
pub use crate::identify::{Presented, query_has_token};
pub use crate::issue::TokenResponse;
use crate::key::KeySet;
pub use crate::revocation::{
    AgentState, ChangeSource, IDENTITY_DB_FILE, REFRESH_INTERVAL, Revocations,
};
pub use crate::rotation::{KEY_RELOAD_INTERVAL, KeyInfo, list_keys_in, rotate_keys_in};
use crate::rotation::{key_window_ms, load_keys, self_test};
pub use crate::throttle::{CHECK_WAIT, ClientAuthThrottle, TRUSTED_FOR, Throttled};

/// The file name of the single signing key of earlier versions inside the data folder; it is
/// moved into [`KEYS_DIR`] on the first start.
pub const SIGNING_KEY_FILE: &str = key::KEY_FILE;
/// The folder of the signing key set inside the data folder: one `<created>-<kid>.pem` file
/// (mode 0600) per key, `created` in milliseconds since the Unix epoch.
pub const KEYS_DIR: &str = key::KEYS_DIR;

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
    /// Whether interactive sign-in is on (`sign_in`): its clients' tokens are accepted.
    interactive: bool,
    /// The identity provider interactive users may sign in at, besides the built-in list
    /// (`sign_in.identity_provider.issuer`): the `user_iss` of its users' tokens.
    interactive_provider: Option<String>,
    /// The MCP endpoint's resource identifier, the audience of interactive clients' tokens.
    mcp_resource: String,
    cache: TokenCache,
    revocations: Arc<Revocations>,
    /// Trusted external issuers (`identity_providers`).
    external: ExternalIssuers,
    /// The brake on failed client authentication.
    client_auth: ClientAuthThrottle,
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
        let keys = load_keys(config, wall_clock_ms())?;
        Self::build(config, Some(secrets), keys, revocations)
    }

    /// An issuer that can only [`Self::mint`] tokens with the signing keys a gateway already
    /// created in the configured data folder: no agent secret is resolved (minting checks
    /// none) and no key is created, so a wrong `--data-dir` is an error
    /// ([`IdentityError::NoSigningKey`]) rather than a token signed by a key no gateway knows.
    /// Client authentication always fails on it.
    pub fn open_for_minting(
        config: &Config,
        revocations: Arc<Revocations>,
    ) -> Result<Self, IdentityError> {
        let keys = rotation::load_existing_keys(config, wall_clock_ms())?;
        Self::build(config, None, keys, revocations)
    }

    /// Whether `data_dir` holds signing keys a gateway created (checked before anything else
    /// is opened there by a command that must not create state in a wrong folder).
    pub fn has_signing_keys(data_dir: &std::path::Path) -> bool {
        key::has_keys(data_dir)
    }

    /// `secrets` is `None` for a minting-only issuer: every agent then gets a decoy credential.
    fn build(
        config: &Config,
        secrets: Option<&SecretStore>,
        keys: KeySet,
        revocations: Arc<Revocations>,
    ) -> Result<Self, IdentityError> {
        let mut agents = HashMap::with_capacity(config.agents.len());
        for agent in &config.agents {
            let credential = match (&agent.client_secret_hash, &agent.client_secret, secrets) {
                (_, _, None) => Credential::decoy(std::iter::empty())?,
                (Some(phc), _, Some(_)) => Credential::from_phc(&agent.id, phc)?,
                (None, Some(reference), Some(secrets)) => {
                    Credential::Plain(secrets.resolve(reference).map_err(|source| {
                        IdentityError::Secret {
                            agent: agent.id.to_string(),
                            source,
                        }
                    })?)
                }
                // Authenticated by certificate only: a random secret nobody knows keeps the
                // secret path's cost and answer the same as for any other agent.
                (None, None, Some(_)) if agent.certificate.is_some() => {
                    Credential::decoy(std::iter::empty())?
                }
                (None, None, Some(_)) => {
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
            interactive: config.sign_in.is_some(),
            interactive_provider: config
                .sign_in
                .as_ref()
                .and_then(|s| s.identity_provider.as_ref())
                .map(|p| p.issuer.clone()),
            mcp_resource: format!(
                "{}{}",
                config.listener.base_url(),
                portcullis_config::MCP_PATH
            ),
            cache: TokenCache::new(cache::DEFAULT_CAPACITY),
            revocations,
            external: ExternalIssuers::new(&config.identity_providers, &config.audience()),
            client_auth: ClientAuthThrottle::new(&config.issuer.client_auth),
            #[cfg(test)]
            clock_skew: std::sync::atomic::AtomicI64::new(0),
        };
        self_test(&current)?;
        Ok(identity)
    }

    /// The brake on failed client authentication at the token endpoint.
    pub fn client_auth(&self) -> &ClientAuthThrottle {
        &self.client_auth
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

    /// The token issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience every token must name (`aud`).
    pub fn audience(&self) -> &str {
        &self.audience
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

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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

#[cfg(test)]
mod tests;
