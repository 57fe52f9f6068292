//! The identify stage: from the credentials a request presented to the [`Principal`] they stand
//! for ([`Identity::identify`]), and the bearer-token check behind it ([`Identity::verify`]).
//!
//! Design decisions:
//! - One entry for every front: the fronts only read what the request carried ([`Presented`]);
//!   the rules (header only, `Bearer` scheme, revocation refresh, certificate binding) live
//!   here, and each refusal is a typed [`IdentifyError`] whose text is the audit detail.
//! - Verification is synchronous and reads only caches (verified tokens, keys in force, external
//!   issuers' keys, the revocation snapshot); the async entries ([`Identity::identify`],
//!   [`Identity::authenticate`]) add the two things that may wait: the revocation refresh and
//!   the fetch of an external issuer's keys for an unknown `kid`.
//! - Revocation is checked after the verified-token cache, on every call, so a cached token
//!   never outlives its revocation.

use std::fmt;
use std::sync::Arc;

use portcullis_core::{Principal, truncate_for_message};

use crate::Identity;
use crate::cache::TokenCache;
use crate::error::{IdentifyError, VerifyError};
use crate::external::{Issuer, unverified_issuer};
use crate::jws::Jws;
use crate::key::KeySet;
use crate::token::{self, VerifiedClaims};

/// What a request presented to identify its caller, as the front read it. `Debug` hides the
/// `Authorization` header.
#[derive(Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The raw `Authorization` header value, if any.
    pub authorization: Option<&'a str>,
    /// Whether the query string carried an `access_token` parameter (see [`query_has_token`]).
    pub token_in_query: bool,
    /// The RFC 8705 thumbprint (`x5t#S256`) of the client certificate the connection
    /// presented, if any.
    pub certificate: Option<&'a str>,
}

impl fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("authorization", &self.authorization.map(|_| "[redacted]"))
            .field("token_in_query", &self.token_in_query)
            .field("certificate", &self.certificate)
            .finish()
    }
}

/// Whether a raw query string carries an `access_token` parameter (name in any case), which
/// the identify stage refuses.
pub fn query_has_token(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes())
        .any(|(k, _)| k.eq_ignore_ascii_case("access_token"))
}

impl Identity {
    /// The identify stage: the credentials a request presented, to the [`Principal`] they
    /// stand for.
    ///
    /// The token is accepted only in the `Authorization` header with the `Bearer` scheme (in
    /// any case); a request whose query string carried one is refused outright, whatever its
    /// header. Revocations committed by another process are picked up first
    /// ([`Identity::refresh_revocations`]); the token is then verified as by
    /// [`Identity::authenticate`]. A certificate-bound token (RFC 8705) is accepted only over
    /// a connection that presented that very certificate. A revoked token, or one of a
    /// disabled agent, is refused like any other invalid token.
    ///
    /// The error's text is for the audit record only; agents get a generic 401.
    pub async fn identify(&self, presented: &Presented<'_>) -> Result<Principal, IdentifyError> {
        if presented.token_in_query {
            return Err(IdentifyError::QueryToken);
        }
        let Some(header) = presented.authorization else {
            return Err(IdentifyError::HeaderMissing);
        };
        let Some(token) = strip_bearer(header) else {
            return Err(IdentifyError::Scheme);
        };
        // Revocations made by another process (the CLI) apply from here on.
        self.refresh_revocations().await;
        let principal = self.authenticate(token).await?;
        if let Some(bound) = &principal.certificate_thumbprint
            && presented.certificate != Some(bound.as_str())
        {
            return Err(IdentifyError::CertificateMismatch);
        }
        Ok(principal)
    }

    /// Verifies a bearer token like [`Identity::verify`], first fetching the keys of its
    /// external issuer when the token names a key not yet cached or the cache has expired
    /// (at most once per `jwks_min_refresh` per issuer).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, VerifyError> {
        match self.verify(token) {
            Err(VerifyError::KeyId(kid)) => {
                if self.warm_keys(token).await {
                    self.verify(token)
                } else {
                    Err(VerifyError::KeyId(kid))
                }
            }
            other => other,
        }
    }

    /// Fetches the keys of the external issuer `token` claims to come from, when the cached
    /// ones cannot verify it. Call before [`Identity::token_endpoint`] for a token exchange
    /// (the endpoint itself only reads the cache). Returns whether keys were fetched.
    pub async fn warm_keys(&self, token: &str) -> bool {
        let Some(issuer) = ({
            let Ok(jws) = Jws::parse(token) else {
                return false;
            };
            let keys = Arc::clone(&self.keys.read());
            self.external_issuer_of(&jws, &keys)
                .filter(|issuer| {
                    matches!(
                        issuer.verify(&jws, self.now(), self.leeway),
                        Err(VerifyError::KeyId(_))
                    )
                })
                .map(|issuer| issuer.issuer.clone())
        }) else {
            return false;
        };
        self.external.refresh(&issuer).await
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
        let jws = Jws::parse(token)?;
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
        // Interactive clients' tokens name the MCP resource as their audience.
        let audience_ok = claims.aud.contains(&self.audience)
            || (self.interactive && claims.aud.contains(&self.mcp_resource));
        if !audience_ok {
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
        // A client that is not a configured agent may hold only a token this issuer gave it
        // through interactive sign-in: acting alone for a user this issuer authenticated, from
        // its built-in list or at the configured sign-in provider.
        let interactive_client = self.interactive
            && claims.user_iss.as_deref().is_some_and(|iss| {
                iss == self.issuer.as_str() || self.interactive_provider.as_deref() == Some(iss)
            })
            && claims
                .act
                .as_ref()
                .is_some_and(|act| act.act.is_none() && act.sub == claims.client_id);
        if !self.agents.contains_key(&claims.client_id) && !interactive_client {
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
            mcp_only: !claims.aud.contains(&self.audience),
        })
    }

    /// The external issuer a token claims to come from, when its `kid` names none of this
    /// gateway's keys and its `iss` is a configured external issuer.
    pub(crate) fn external_issuer_of(&self, jws: &Jws<'_>, keys: &KeySet) -> Option<Arc<Issuer>> {
        if self.external.is_empty() {
            return None;
        }
        if let Some(kid) = jws.header.kid.as_deref()
            && keys.find(kid).is_some()
        {
            return None;
        }
        let iss = unverified_issuer(jws)?;
        self.external.get(&iss).cloned()
    }

    /// A bearer token of an external issuer that accepts them: the agent is the configured
    /// agent its agent claim names, acting for the token's user with the scopes both hold.
    pub(crate) fn verify_external_bearer(
        &self,
        issuer: &Issuer,
        jws: &Jws<'_>,
        token: &str,
        now: i64,
    ) -> Result<Principal, VerifyError> {
        if !issuer.accept_access_tokens {
            return Err(VerifyError::Issuer);
        }
        let claims = issuer.verify(jws, now, self.leeway)?;
        let Some(agent_id) = claims.agent else {
            return Err(VerifyError::Claims(
                "the token names no agent (`azp` or `client_id`)".to_owned(),
            ));
        };
        let Some(agent) = self.agents.get(&agent_id) else {
            return Err(VerifyError::UnknownAgent(truncate_for_message(
                &agent_id, 64,
            )));
        };
        let scopes = agent
            .scopes
            .iter()
            .filter(|s| claims.scopes.contains(s))
            .cloned()
            .collect();
        // Tokens without `jti` get a stable id from their digest, so they can be revoked too.
        let token_id = claims.jti.unwrap_or_else(|| {
            let digest = crate::cache::TokenCache::digest(token);
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        });
        Ok(Principal {
            agent: agent.id.clone(),
            subject: claims.user.id.clone(),
            roles: agent.roles.clone(),
            scopes,
            token_id,
            issued_at: claims.iat,
            expires_at: claims.exp,
            user: Some(claims.user),
            actors: Vec::new(),
            certificate_thumbprint: None,
            mcp_only: false,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn strip_bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_strict() {
        assert_eq!(strip_bearer("Bearer abc"), Some("abc"));
        assert_eq!(strip_bearer("bearer  abc "), Some("abc"));
        assert_eq!(strip_bearer("Basic abc"), None);
        assert_eq!(strip_bearer("Bearer"), None);
        assert_eq!(strip_bearer("Bearer a b"), None);
    }

    #[test]
    fn query_tokens_are_detected() {
        assert!(query_has_token("a=1&access_token=x"));
        assert!(query_has_token("ACCESS_TOKEN=x"));
        assert!(!query_has_token("token=x"));
    }
}
