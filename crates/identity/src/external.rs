//! Trusted external issuers: OpenID Connect providers (or any OAuth 2 server with a JWKS) whose
//! tokens stand for users.
//!
//! Design decisions:
//! - Keys come only from the configured issuer's JWKS, found by OIDC discovery (whose `issuer`
//!   must equal the configured one) or configured directly, and fetched through the gateway's
//!   SSRF-safe egress ([`MetadataFetcher`], implemented outside this crate, which opens no
//!   connection itself). A token routes to an issuer by its `iss`, but nothing it says is
//!   trusted until its signature verifies under one of that issuer's keys.
//! - Verification is synchronous and reads only the cache. A token whose `kid` is unknown (or
//!   whose issuer's keys have outlived `jwks_ttl`) fails with [`VerifyError::KeyId`]; the
//!   caller then asks [`ExternalIssuers::refresh`] and verifies once more. Fetches for one
//!   issuer are serialized and at least `jwks_min_refresh` apart, whatever triggers them, so a
//!   flood of made-up key ids costs the issuer one request per interval.
//! - A failed fetch keeps the keys already held: an issuer outage does not log every user out,
//!   and a key removed from the JWKS stops verifying at the next successful fetch.
//! - Algorithms are pinned per issuer; `none` and HMAC are never accepted. Keys are screened by
//!   the same JWK rule as this gateway's own ([`PublicJwk::screen`]), with RSA and P-384 also
//!   accepted: the `alg` of a JWK, when present, must equal the token's; RSA keys must have at
//!   least 2048 bits.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use parking_lot::RwLock;
use portcullis_config::{ClaimMapping, IdentityProviderConfig};
use portcullis_core::{ActingUser, truncate_for_message};
use serde_json::{Map, Value};

use crate::Identity;
use crate::error::VerifyError;
use crate::jws::{Family, Jws, PublicJwk};

/// Most keys kept from one JWKS; the rest are ignored.
const MAX_KEYS: usize = 32;

/// The key families an external issuer's key set may hold.
const FAMILIES: [Family; 4] = [Family::Rsa, Family::P256, Family::P384, Family::Ed25519];

/// What [`MetadataFetcher::post_form`] returns: the answer's status and JSON body.
pub type PostFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(u16, Value), FetchError>> + Send + 'a>>;

/// Fetches a discovery document or a JWKS for an issuer, through the SSRF-safe egress client.
/// `issuer` names the configured issuer whose egress rules apply.
pub trait MetadataFetcher: Send + Sync {
    /// GETs `url` and returns its JSON body, or why it could not.
    fn fetch<'a>(
        &'a self,
        issuer: &'a str,
        url: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Value, FetchError>> + Send + 'a>>;

    /// POSTs a form to `url` (an issuer's token endpoint) with the rules of `issuer`'s client,
    /// with HTTP Basic client authentication when `basic` is given, and returns the answer's
    /// status and JSON body (an OAuth error answer is a body too). The default refuses: a
    /// fetcher for keys alone need not post.
    fn post_form<'a>(
        &'a self,
        issuer: &'a str,
        url: &'a str,
        form: &'a [(&'a str, &'a str)],
        basic: Option<(&'a str, &'a portcullis_secrets::Secret)>,
    ) -> PostFuture<'a> {
        let _ = (issuer, form, basic);
        Box::pin(async move {
            Err(FetchError::Request(format!(
                "this client cannot post to `{}`",
                truncate_for_message(url, 128)
            )))
        })
    }
}

/// Why a [`MetadataFetcher`] returned no document. Messages name no secret.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The answer's body is not JSON.
    #[error("`{url}` did not answer JSON")]
    NotJson {
        /// The URL fetched.
        url: String,
    },
    /// No answer: no client for the issuer, a URL that is not plain http(s), a refused
    /// destination, an unreachable or slow server, an answer over the size cap.
    #[error("{0}")]
    Request(String),
    /// The answer's status is not 200.
    #[error("`{url}` answered HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status.
        status: u16,
    },
}

/// Why an issuer's keys could not be fetched; logged, never answered.
#[derive(Debug, thiserror::Error)]
enum KeysError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the discovery document's `jwks_uri` is not https")]
    InsecureJwksUri,
    #[error("the discovery document names another issuer; refusing its keys")]
    IssuerMismatch,
    #[error("the discovery document has no `jwks_uri`")]
    NoJwksUri,
    #[error("the JWKS has no `keys` array")]
    NoKeys,
    #[error("the JWKS holds no usable signature key")]
    NoUsableKey,
}

/// The configured external issuers and their key caches.
pub(crate) struct ExternalIssuers {
    issuers: HashMap<String, Arc<Issuer>>,
    fetcher: RwLock<Option<Arc<dyn MetadataFetcher>>>,
}

/// One external issuer.
pub(crate) struct Issuer {
    pub(crate) issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    claims: ClaimMapping,
    default_scopes: Vec<String>,
    pub(crate) accept_access_tokens: bool,
    configured_jwks: Option<String>,
    ttl: Duration,
    min_refresh: Duration,
    keys: RwLock<Arc<KeyState>>,
    /// When the last fetch was attempted; held across a fetch, so fetches are one at a time.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    /// Whether the last fetch failed: expired keys then stay in use until one succeeds.
    last_fetch_failed: std::sync::atomic::AtomicBool,
    /// The sign-in endpoints from the discovery document, and when they were read.
    endpoints: RwLock<Option<(Endpoints, Instant)>>,
    /// When reading them last failed: no new attempt within `jwks_min_refresh`, so an outage
    /// neither slows every sign-in page by a timeout nor hammers the provider.
    endpoints_failed: RwLock<Option<Instant>>,
}

/// The endpoints of an OpenID Connect provider that user sign-in needs, from its discovery
/// document.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    pub(crate) authorization: String,
    pub(crate) token: String,
}

#[derive(Default)]
struct KeyState {
    by_kid: HashMap<String, Arc<PublicJwk>>,
    /// Keys without a `kid`, tried when the token names none.
    unnamed: Vec<Arc<PublicJwk>>,
    fetched: Option<Instant>,
}

/// What a verified external token says about its user.
pub(crate) struct ExternalClaims {
    pub(crate) user: ActingUser,
    pub(crate) scopes: Vec<String>,
    /// The agent claim, for a token presented as a bearer token.
    pub(crate) agent: Option<String>,
    pub(crate) jti: Option<String>,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    /// `may_act`: who may act for the user (RFC 8693 section 4.4), when the token restricts it.
    pub(crate) may_act: Option<Vec<String>>,
}

impl Identity {
    /// Installs the client that fetches external issuers' discovery documents and keys (the
    /// egress crate's, so that every fetch is SSRF-checked).
    pub fn set_metadata_fetcher(&self, fetcher: Arc<dyn MetadataFetcher>) {
        self.external.set_fetcher(fetcher);
    }
}

impl ExternalIssuers {
    pub(crate) fn new(configs: &[IdentityProviderConfig], default_audience: &str) -> Self {
        let issuers = configs
            .iter()
            .map(|c| {
                let audiences = if c.audiences.is_empty() {
                    vec![default_audience.to_owned()]
                } else {
                    c.audiences.clone()
                };
                let algorithms = c
                    .algorithms
                    .iter()
                    .filter_map(|a| Algorithm::from_str(a).ok())
                    .filter(|a| {
                        !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
                    })
                    .collect();
                let issuer = Issuer {
                    issuer: c.issuer.to_string(),
                    audiences,
                    algorithms,
                    claims: c.claims.clone(),
                    default_scopes: c.default_scopes.iter().map(ToString::to_string).collect(),
                    accept_access_tokens: c.accept_access_tokens,
                    configured_jwks: c.jwks_uri.as_ref().map(ToString::to_string),
                    ttl: c.jwks_ttl.get(),
                    min_refresh: c.jwks_min_refresh.0,
                    keys: RwLock::new(Arc::new(KeyState::default())),
                    last_attempt: tokio::sync::Mutex::new(None),
                    last_fetch_failed: std::sync::atomic::AtomicBool::new(false),
                    endpoints: RwLock::new(None),
                    endpoints_failed: RwLock::new(None),
                };
                (c.issuer.to_string(), Arc::new(issuer))
            })
            .collect();
        Self {
            issuers,
            fetcher: RwLock::new(None),
        }
    }

    pub(crate) fn set_fetcher(&self, fetcher: Arc<dyn MetadataFetcher>) {
        *self.fetcher.write() = Some(fetcher);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    pub(crate) fn get(&self, issuer: &str) -> Option<&Arc<Issuer>> {
        self.issuers.get(issuer)
    }

    /// The issuers whose access tokens are accepted as bearer tokens.
    pub(crate) fn bearer_issuers(&self) -> Vec<String> {
        let mut issuers: Vec<String> = self
            .issuers
            .values()
            .filter(|i| i.accept_access_tokens)
            .map(|i| i.issuer.clone())
            .collect();
        issuers.sort_unstable();
        issuers
    }

    /// Fetches the keys of `issuer` again, unless a fetch happened less than
    /// `jwks_min_refresh` ago. Returns whether a fetch succeeded now.
    pub(crate) async fn refresh(&self, issuer: &str) -> bool {
        let Some(issuer) = self.issuers.get(issuer) else {
            return false;
        };
        let Some(fetcher) = self.fetcher.read().clone() else {
            tracing::warn!(issuer = %issuer.issuer, "no fetcher for external issuer keys");
            return false;
        };
        let mut last = issuer.last_attempt.lock().await;
        if last.is_some_and(|at| at.elapsed() < issuer.min_refresh) {
            return false;
        }
        *last = Some(Instant::now());
        let fetched = issuer.fetch_keys(fetcher.as_ref()).await;
        issuer
            .last_fetch_failed
            .store(fetched.is_err(), std::sync::atomic::Ordering::Relaxed);
        match fetched {
            Ok(state) => {
                tracing::info!(
                    issuer = %issuer.issuer,
                    keys = state.by_kid.len() + state.unnamed.len(),
                    "fetched the signing keys of an external issuer"
                );
                *issuer.keys.write() = Arc::new(state);
                true
            }
            Err(err) => {
                tracing::warn!(issuer = %issuer.issuer, %err, "cannot fetch the signing keys of an external issuer; the keys held are kept");
                false
            }
        }
    }
}

impl ExternalIssuers {
    /// The fetcher installed by [`Identity::set_metadata_fetcher`].
    pub(crate) fn fetcher(&self) -> Option<Arc<dyn MetadataFetcher>> {
        self.fetcher.read().clone()
    }

    /// Verifies an ID token of `issuer` for user sign-in (see [`Issuer::verify_id_token`]),
    /// fetching the issuer's keys once when the cached ones do not know its key.
    pub(crate) async fn verify_id_token(
        &self,
        issuer: &str,
        token: &str,
        expected: &IdTokenExpectations<'_>,
        now: i64,
        leeway: i64,
    ) -> Result<ExternalClaims, VerifyError> {
        let Some(found) = self.issuers.get(issuer) else {
            return Err(VerifyError::Issuer);
        };
        if token.len() > crate::token::MAX_TOKEN_BYTES {
            return Err(VerifyError::Malformed("too long"));
        }
        let jws = Jws::parse(token)?;
        match found.verify_id_token(&jws, expected, now, leeway) {
            Err(VerifyError::KeyId(kid)) => {
                if self.refresh(issuer).await {
                    found.verify_id_token(&jws, expected, now, leeway)
                } else {
                    Err(VerifyError::KeyId(kid))
                }
            }
            other => other,
        }
    }
}

/// What an ID token must say to sign a user in: it was issued to this gateway's client id
/// and carries the nonce sent with the authorization request (OpenID Connect Core 1.0,
/// section 3.1.3.7).
pub(crate) struct IdTokenExpectations<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) nonce: &'a str,
}

impl Issuer {
    /// The provider's authorization and token endpoints, from its discovery document (whose
    /// `issuer` must equal this one's; both URLs https unless the issuer is an allowed http
    /// one), read again after `jwks_ttl`.
    pub(crate) async fn endpoints(
        &self,
        fetcher: &dyn MetadataFetcher,
    ) -> Result<Endpoints, String> {
        if let Some((endpoints, read)) = self.endpoints.read().as_ref()
            && read.elapsed() < self.ttl
        {
            return Ok(endpoints.clone());
        }
        if self
            .endpoints_failed
            .read()
            .is_some_and(|at| at.elapsed() < self.min_refresh)
        {
            return Err("the discovery document could not be read a moment ago".to_owned());
        }
        let read = self.read_endpoints(fetcher).await;
        match &read {
            Ok(endpoints) => {
                *self.endpoints.write() = Some((endpoints.clone(), Instant::now()));
                *self.endpoints_failed.write() = None;
            }
            Err(_) => *self.endpoints_failed.write() = Some(Instant::now()),
        }
        read
    }

    async fn read_endpoints(&self, fetcher: &dyn MetadataFetcher) -> Result<Endpoints, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let document = fetcher
            .fetch(&self.issuer, &url)
            .await
            .map_err(|e| e.to_string())?;
        if document.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(KeysError::IssuerMismatch.to_string());
        }
        let endpoint = |name: &str| {
            let uri = document
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the discovery document has no `{name}`"))?;
            let secure = uri.starts_with("https://")
                || (uri.starts_with("http://") && self.issuer.starts_with("http://"));
            if secure && url::Url::parse(uri).is_ok() {
                Ok(uri.to_owned())
            } else {
                Err(format!(
                    "the discovery document's `{name}` is not an https URL"
                ))
            }
        };
        Ok(Endpoints {
            authorization: endpoint("authorization_endpoint")?,
            token: endpoint("token_endpoint")?,
        })
    }

    /// Verifies an ID token for user sign-in: signature, algorithm, issuer, expiry as for an
    /// access token, but the audience must contain this gateway's client id (and `azp`, when
    /// present, be it), and the `nonce` must equal the one sent. The user is mapped by the
    /// issuer's claim mapping.
    fn verify_id_token(
        &self,
        jws: &Jws<'_>,
        expected: &IdTokenExpectations<'_>,
        now: i64,
        leeway: i64,
    ) -> Result<ExternalClaims, VerifyError> {
        let claims = self.verified_claims(jws)?;
        if claims.get("nonce").and_then(Value::as_str) != Some(expected.nonce) {
            return Err(VerifyError::Claims(
                "the ID token's `nonce` is not the one sent".to_owned(),
            ));
        }
        if let Some(azp) = claims.get("azp")
            && azp.as_str() != Some(expected.client_id)
        {
            return Err(VerifyError::Audience);
        }
        self.check_claims(&claims, &[expected.client_id.to_owned()], now, leeway)
    }

    /// Whether the cached keys must be fetched again before use: older than `jwks_ttl` (or
    /// never fetched), unless the last fetch failed, in which case the keys held stay in force
    /// until a fetch succeeds (an issuer outage does not log every user out).
    fn stale(&self) -> bool {
        let expired = self
            .keys
            .read()
            .fetched
            .is_none_or(|at| at.elapsed() >= self.ttl);
        expired
            && !self
                .last_fetch_failed
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn fetch_keys(&self, fetcher: &dyn MetadataFetcher) -> Result<KeyState, KeysError> {
        let jwks_uri = match &self.configured_jwks {
            Some(uri) => uri.clone(),
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.issuer.trim_end_matches('/')
                );
                let document = fetcher.fetch(&self.issuer, &url).await?;
                if document.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
                    return Err(KeysError::IssuerMismatch);
                }
                let Some(uri) = document.get("jwks_uri").and_then(Value::as_str) else {
                    return Err(KeysError::NoJwksUri);
                };
                // The same scheme rule as for configured URLs: https, unless the issuer itself is
                // an allowed http one.
                let secure = uri.starts_with("https://")
                    || (uri.starts_with("http://") && self.issuer.starts_with("http://"));
                if !secure {
                    return Err(KeysError::InsecureJwksUri);
                }
                uri.to_owned()
            }
        };
        let jwks = fetcher.fetch(&self.issuer, &jwks_uri).await?;
        let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
            return Err(KeysError::NoKeys);
        };
        let mut state = KeyState {
            fetched: Some(Instant::now()),
            ..KeyState::default()
        };
        for jwk in keys.iter().take(MAX_KEYS) {
            let Ok(key) = PublicJwk::screen(jwk, &FAMILIES) else {
                // Keys of other uses (encryption) and types are normal in a JWKS.
                continue;
            };
            let key = Arc::new(key);
            match jwk.get("kid").and_then(Value::as_str) {
                Some(kid) => {
                    state.by_kid.insert(kid.to_owned(), key);
                }
                None => state.unnamed.push(key),
            }
        }
        if state.by_kid.is_empty() && state.unnamed.is_empty() {
            return Err(KeysError::NoUsableKey);
        }
        Ok(state)
    }

    /// Verifies a token of this issuer with the cached keys and maps its claims. `now` and
    /// `leeway` in seconds.
    pub(crate) fn verify(
        &self,
        jws: &Jws<'_>,
        now: i64,
        leeway: i64,
    ) -> Result<ExternalClaims, VerifyError> {
        let claims = self.verified_claims(jws)?;
        self.check_claims(&claims, &self.audiences, now, leeway)
    }

    /// The payload of a token whose signature verifies under one of this issuer's cached keys
    /// with one of its pinned algorithms.
    fn verified_claims(&self, jws: &Jws<'_>) -> Result<Map<String, Value>, VerifyError> {
        jws.check_forbidden_members()?;
        let alg_text = jws.header.alg.as_deref().unwrap_or_default();
        let algorithm = Algorithm::from_str(alg_text)
            .ok()
            .filter(|a| self.algorithms.contains(a))
            .ok_or_else(|| VerifyError::Algorithm(truncate_for_message(alg_text, 64)))?;
        let keys = Arc::clone(&self.keys.read());
        let key = match jws.header.kid.as_deref() {
            Some(kid) => keys.by_kid.get(kid).cloned(),
            None => keys.unnamed.iter().find(|k| k.accepts(algorithm)).cloned(),
        };
        let Some(key) = key.filter(|_| !self.stale()) else {
            return Err(VerifyError::KeyId(truncate_for_message(
                jws.header.kid.as_deref().unwrap_or_default(),
                64,
            )));
        };
        if !key.accepts(algorithm) {
            return Err(VerifyError::Algorithm(truncate_for_message(alg_text, 64)));
        }
        let payload = jws.verify_with(&key.decoding, algorithm)?;
        if !crate::jws::is_json_object(&payload) {
            return Err(VerifyError::Claims(
                "the payload is not a JSON object".to_owned(),
            ));
        }
        serde_json::from_slice(&payload)
            .map_err(|e| VerifyError::Claims(truncate_for_message(&e.to_string(), 64)))
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        audiences: &[String],
        now: i64,
        leeway: i64,
    ) -> Result<ExternalClaims, VerifyError> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(VerifyError::Issuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => audiences.contains(aud),
            Some(Value::Array(auds)) => auds
                .iter()
                .filter_map(Value::as_str)
                .any(|aud| audiences.iter().any(|a| a == aud)),
            _ => false,
        };
        if !audience_ok {
            return Err(VerifyError::Audience);
        }
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        let Some(exp) = number("exp") else {
            return Err(VerifyError::Claims("`exp` is missing".to_owned()));
        };
        if now >= exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        if number("nbf").is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(VerifyError::NotYetValid);
        }
        let iat = number("iat").unwrap_or(now);
        if iat > now.saturating_add(leeway) {
            return Err(VerifyError::IssuedInFuture);
        }
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && s.len() <= 256)
                .map(str::to_owned)
        };
        let Some(user) = text(&self.claims.user) else {
            return Err(VerifyError::Claims(format!(
                "the user claim `{}` is missing or not a string",
                truncate_for_message(&self.claims.user, 64)
            )));
        };
        let tenant = self
            .claims
            .tenant
            .as_deref()
            .and_then(&text)
            .unwrap_or_default();
        let groups = self
            .claims
            .groups
            .as_deref()
            .map(|name| strings(claims.get(name)))
            .unwrap_or_default();
        let scopes = match self.claims.scopes.as_deref() {
            Some(name) => claims.get(name).map(|v| strings(Some(v))),
            None => claims
                .get("scope")
                .or_else(|| claims.get("scp"))
                .map(|v| strings(Some(v))),
        }
        .unwrap_or_else(|| self.default_scopes.clone());
        let agent = match self.claims.agent.as_deref() {
            Some(name) => text(name),
            None => text("azp").or_else(|| text("client_id")),
        };
        let may_act = claims.get("may_act").map(|value| {
            ["sub", "client_id"]
                .iter()
                .filter_map(|name| value.get(name).and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        });
        Ok(ExternalClaims {
            user: ActingUser {
                id: user,
                issuer: self.issuer.clone(),
                tenant,
                groups,
            },
            scopes,
            agent,
            jti: text("jti"),
            iat,
            exp,
            may_act,
        })
    }
}

/// A claim that is a string array or a space-separated string, as strings (at most 64).
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .take(64)
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .take(64)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The `iss` of a token's payload, read without verifying anything: only to pick the issuer
/// whose keys will verify it.
pub(crate) fn unverified_issuer(jws: &Jws<'_>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = jws.payload_unverified()?;
    serde_json::from_slice::<Iss>(&payload).ok()?.iss
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::jws::JwkRefused;

    #[test]
    fn weak_rsa_private_and_symmetric_keys_are_skipped() {
        let short_n = URL_SAFE_NO_PAD.encode([0xc5u8; 128]);
        let rsa1024 = serde_json::json!({"kty": "RSA", "n": short_n, "e": "AQAB"});
        assert_eq!(
            PublicJwk::screen(&rsa1024, &FAMILIES).err(),
            Some(JwkRefused::Weak)
        );
        let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        assert_eq!(
            PublicJwk::screen(&oct, &FAMILIES).err(),
            Some(JwkRefused::Secret)
        );
        let long_n = URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
        let enc = serde_json::json!({"kty": "RSA", "n": long_n, "e": "AQAB", "use": "enc"});
        assert_eq!(
            PublicJwk::screen(&enc, &FAMILIES).err(),
            Some(JwkRefused::Usage)
        );
        let good = serde_json::json!({"kty": "RSA", "n": long_n, "e": "AQAB", "alg": "RS256"});
        let key = PublicJwk::screen(&good, &FAMILIES).unwrap();
        assert!(key.accepts(Algorithm::RS256));
        assert!(!key.accepts(Algorithm::PS256), "the JWK pins RS256");
        assert!(!key.accepts(Algorithm::ES256));
    }

    #[test]
    fn one_rule_screens_external_and_own_keys() {
        let long_n = URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
        let rsa = serde_json::json!({"kty": "RSA", "n": long_n, "e": "AQAB"});
        assert!(PublicJwk::screen(&rsa, &FAMILIES).is_ok());
        assert_eq!(
            crate::jws::VerifyingKey::from_jwk(&rsa).err(),
            Some(JwkRefused::KeyType),
            "this gateway's own keys are never RSA"
        );
        let mut pinned = rsa;
        pinned["alg"] = serde_json::json!("ES256");
        assert_eq!(
            PublicJwk::screen(&pinned, &FAMILIES).err(),
            Some(JwkRefused::Algorithm)
        );
    }

    #[test]
    fn list_claims_take_strings_or_arrays() {
        assert_eq!(
            strings(Some(&serde_json::json!("a  b"))),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert_eq!(
            strings(Some(&serde_json::json!(["x", 1, ""]))),
            vec!["x".to_owned()]
        );
        assert!(strings(Some(&serde_json::json!(3))).is_empty());
    }
}
