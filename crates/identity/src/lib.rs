//! The built-in OAuth 2 authorization server and the bearer-token check of Portcullis.
//!
//! Agents obtain short-lived access tokens with the client-credentials grant
//! ([`Identity::token_endpoint`], RFC 6749 section 4.4) and present them on every call; the
//! identify stage turns a token into a [`Principal`] with [`Identity::verify`]. The HTTP layer
//! only parses requests and calls in here; the answers are typed ([`TokenResponse`],
//! [`OAuthError`], [`VerifyError`]).
//!
//! Design decisions:
//! - Tokens are RFC 9068 JWTs signed by one asymmetric key (ES256 or EdDSA) that is generated on
//!   first start and kept in the data folder. Verification follows RFC 8725: the algorithm is
//!   pinned to that key, `typ` must be `at+jwt`, `kid` must be that key's RFC 7638 thumbprint,
//!   and headers that would let a token name its own key (`jku`, `jwk`, `x5u`, `x5c`) are
//!   refused outright rather than ignored.
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
mod jws;
mod key;
mod token;

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::{Argon2, PasswordHasher as _};
use portcullis_config::Config;
pub use portcullis_core::Principal;
use portcullis_secrets::SecretStore;
use serde::Serialize;

use crate::cache::TokenCache;
use crate::client::{Credential, Form};
pub use crate::error::{IdentityError, OAuthError, VerifyError};
use crate::key::SigningKey;
use crate::token::{IssuedClaims, VerifiedClaims};

/// The file name of the signing key inside the data folder.
pub const SIGNING_KEY_FILE: &str = key::KEY_FILE;

/// The only grant type this server supports.
const CLIENT_CREDENTIALS: &str = "client_credentials";

/// A configured agent as the issuer sees it.
struct Agent {
    id: String,
    credential: Credential,
    roles: Vec<String>,
    scopes: Vec<String>,
}

/// The token issuer and verifier. Built once at start-up and shared (`Arc<Identity>`).
pub struct Identity {
    issuer: String,
    audience: String,
    key: SigningKey,
    agents: HashMap<String, Agent>,
    decoy: Credential,
    token_ttl: u64,
    max_token_ttl: u64,
    leeway: i64,
    /// The `resource` values (RFC 8707) a token request may name: this gateway's identifiers.
    resources: Vec<String>,
    cache: TokenCache,
    #[cfg(test)]
    clock_skew: std::sync::atomic::AtomicI64,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("alg", &token::alg_str(self.key.algorithm))
            .field("kid", &self.key.kid)
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
    /// Loads or generates the signing key in `config.data_dir` (created with mode 0700 if
    /// missing; the key file is written with mode 0600 and reused on later starts; a corrupt key
    /// file is an error, never replaced) and resolves the agents' secret references through
    /// `secrets`, so that a missing secret fails now rather than on the first token request.
    pub fn open(config: &Config, secrets: &SecretStore) -> Result<Self, IdentityError> {
        let key = key::load_or_create(&config.data_dir, config.issuer.algorithm)?;
        Self::build(config, secrets, key)
    }

    fn build(
        config: &Config,
        secrets: &SecretStore,
        key: SigningKey,
    ) -> Result<Self, IdentityError> {
        let mut agents = HashMap::with_capacity(config.agents.len());
        for agent in &config.agents {
            let credential = match (&agent.client_secret_hash, &agent.client_secret) {
                (Some(phc), _) => Credential::from_phc(&agent.id, phc)?,
                (None, Some(reference)) => {
                    Credential::Plain(secrets.resolve(reference).map_err(|source| {
                        IdentityError::Secret {
                            agent: agent.id.clone(),
                            source,
                        }
                    })?)
                }
                (None, None) => {
                    return Err(IdentityError::SecretHash {
                        agent: agent.id.clone(),
                        reason: "the agent has neither `client_secret_hash` nor `client_secret`"
                            .to_owned(),
                    });
                }
            };
            agents.insert(
                agent.id.clone(),
                Agent {
                    id: agent.id.clone(),
                    credential,
                    roles: dedup(agent.roles.iter().map(String::as_str)),
                    scopes: dedup(agent.scopes.iter().map(String::as_str)),
                },
            );
        }
        let decoy = Credential::decoy(agents.values().map(|a| &a.credential))?;
        let issuer = config.issuer_url();
        let audience = config.audience();
        let leeway = config.issuer.leeway.0.as_secs();
        let identity = Self {
            issuer,
            audience,
            key,
            agents,
            decoy,
            token_ttl: config.issuer.token_ttl.0.as_secs(),
            max_token_ttl: config.issuer.max_token_ttl.0.as_secs(),
            leeway: i64::try_from(leeway).unwrap_or(i64::MAX),
            resources: config.resource_identifiers(),
            cache: TokenCache::new(cache::DEFAULT_CAPACITY),
            #[cfg(test)]
            clock_skew: std::sync::atomic::AtomicI64::new(0),
        };
        identity.self_test()?;
        Ok(identity)
    }

    /// Signs and verifies a probe so that a key that cannot sign fails at start-up.
    fn self_test(&self) -> Result<(), IdentityError> {
        let message = b"portcullis signing key self-test";
        let signature = jsonwebtoken::crypto::sign(message, &self.key.encoding, self.key.algorithm)
            .map_err(|e| IdentityError::Crypto(e.to_string()))?;
        if jws::verify_detached(
            message,
            &signature,
            &self.key.public.decoding,
            self.key.public.algorithm,
        ) {
            Ok(())
        } else {
            Err(IdentityError::Crypto(
                "the public key does not verify the private key's signature".to_owned(),
            ))
        }
    }

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
        let form = Form::parse(form)?;
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("`grant_type` is required"))?;
        let presented = client::presented(&form, authorization)?;
        if grant_type != CLIENT_CREDENTIALS {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant type `{}` is not supported; use `{CLIENT_CREDENTIALS}`",
                portcullis_core::truncate_for_message(grant_type, 64)
            )));
        }
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
        if let Some(resource) = form.get("resource")
            && !self.resources.iter().any(|r| r == resource)
        {
            return Err(OAuthError::invalid_target());
        }
        let scopes = match form.get("scope") {
            Some(requested) => granted_scopes(agent, requested)?,
            None => agent.scopes.clone(),
        };
        self.issue(agent, scopes, self.token_ttl)
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
            });
        };
        let ttl = ttl.map_or(self.token_ttl, |t| t.as_secs().min(self.max_token_ttl));
        if ttl == 0 {
            return Err(OAuthError::invalid_request(
                "token lifetime must be at least one second",
            ));
        }
        self.issue(agent, agent.scopes.clone(), ttl)
    }

    fn issue(
        &self,
        agent: &Agent,
        scopes: Vec<String>,
        ttl: u64,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let lifetime = i64::try_from(ttl).map_err(|_| OAuthError::server_error())?;
        let scope = scopes.join(" ");
        let claims = IssuedClaims {
            iss: &self.issuer,
            sub: &agent.id,
            aud: &self.audience,
            exp: now.saturating_add(lifetime),
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: &agent.id,
            scope: scope.clone(),
            roles: &agent.roles,
        };
        let access_token =
            jsonwebtoken::encode(&token::header(&self.key), &claims, &self.key.encoding).map_err(
                |e| {
                    tracing::error!(error = %e, "token signing failed");
                    OAuthError::server_error()
                },
            )?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
        })
    }

    /// Verifies a bearer token and returns who it stands for.
    ///
    /// The error text is for logs and the audit record only; agents get a generic 401. A token
    /// verified before is answered from a cache until its `exp`.
    pub fn verify(&self, token: &str) -> Result<Principal, VerifyError> {
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
        // RFC 8725 order: structure, key binding (forbidden members, pinned `alg`), RFC 9068
        // type and our key id, and only then the signature; the claims are read only from a
        // payload whose signature verified.
        let jws = jws::Jws::parse(token)?;
        jws.check_key_binding(self.key.public.algorithm)?;
        token::check_header(&jws.header, &self.key)?;
        let payload = jws.verify_signature(&self.key.public)?;
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
        Ok(Principal {
            agent: claims.client_id,
            subject: claims.sub,
            roles: claims.roles,
            scopes,
            token_id: claims.jti,
            issued_at: claims.iat,
            expires_at: claims.exp,
        })
    }

    /// The public key set (`{"keys":[...]}`) for the JWKS endpoint.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.key.jwk.clone()] })
    }

    /// RFC 8414 authorization server metadata, given the absolute URLs of the token endpoint
    /// and of the JWKS.
    pub fn metadata(&self, token_endpoint: &str, jwks_uri: &str) -> serde_json::Value {
        serde_json::json!({
            "issuer": self.issuer,
            "token_endpoint": token_endpoint,
            "jwks_uri": jwks_uri,
            "grant_types_supported": [CLIENT_CREDENTIALS],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
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
