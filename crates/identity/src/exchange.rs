//! Delegation: the token-exchange grant (RFC 8693) and tokens of trusted external issuers.
//!
//! An agent authenticates with its own credentials and presents a user's token as
//! `subject_token`: one from a trusted external issuer, or one this gateway issued by an
//! earlier exchange (a chain: the new token nests the earlier agents in `act`). The new token
//! names the user as `sub` and the agent as `client_id` and `act.sub`; its scopes are those both
//! the user and the agent hold, narrowed further by `scope`; it never outlives the subject
//! token. A `may_act` claim in the subject token, when present, must name the agent.

use std::sync::Arc;

use portcullis_core::{ActingUser, Principal, truncate_for_message};

use crate::client::Form;
use crate::error::{OAuthError, VerifyError};
use crate::external::{Issuer, MetadataFetcher, unverified_issuer};
use crate::jws::Jws;
use crate::key::KeySet;
use crate::token::MAX_ACT_DEPTH;
use crate::{Agent, Delegation, Identity, TokenResponse};

/// The token-exchange grant type.
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of every token this gateway issues.
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Subject token types accepted: all are JWTs checked the same way.
const SUBJECT_TOKEN_TYPES: [&str; 3] = [
    ACCESS_TOKEN_TYPE,
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];

/// Who the subject token stands for, once verified.
struct Subject {
    user: ActingUser,
    scopes: Vec<String>,
    /// The agents already in the chain, nearest first.
    actors: Vec<String>,
    expires_at: i64,
    may_act: Option<Vec<String>>,
}

impl Identity {
    /// The token-exchange grant for an authenticated, enabled `agent`.
    pub(crate) fn exchange(
        &self,
        agent: &Agent,
        form: &Form<'_>,
        binding: Option<crate::token::Confirmation>,
    ) -> Result<TokenResponse, OAuthError> {
        if !agent.token_exchange {
            return Err(OAuthError::unauthorized_client(
                "this client may not use token exchange; set `token_exchange: true` on the agent",
            ));
        }
        let subject_token = form
            .get("subject_token")
            .ok_or_else(|| OAuthError::invalid_request("`subject_token` is required"))?;
        let subject_type = form
            .get("subject_token_type")
            .ok_or_else(|| OAuthError::invalid_request("`subject_token_type` is required"))?;
        if !SUBJECT_TOKEN_TYPES.contains(&subject_type) {
            return Err(OAuthError::invalid_request(format!(
                "`subject_token_type` `{}` is not supported; use `{ACCESS_TOKEN_TYPE}`",
                truncate_for_message(subject_type, 64)
            )));
        }
        if form.get("actor_token").is_some() || form.get("actor_token_type").is_some() {
            return Err(OAuthError::invalid_request(
                "`actor_token` is not supported: the authenticated client is the actor",
            ));
        }
        if let Some(requested) = form.get("requested_token_type")
            && requested != ACCESS_TOKEN_TYPE
            && requested != "urn:ietf:params:oauth:token-type:jwt"
        {
            return Err(OAuthError::invalid_request(format!(
                "`requested_token_type` `{}` is not supported; this server issues `{ACCESS_TOKEN_TYPE}`",
                truncate_for_message(requested, 64)
            )));
        }
        if let Some(audience) = form.get("audience")
            && audience != self.audience
            && !self.resources.iter().any(|r| r == audience)
        {
            return Err(OAuthError {
                error_description: "`audience` does not name this gateway".to_owned(),
                ..OAuthError::invalid_target()
            });
        }
        let subject = self.subject(subject_token)?;
        if let Some(allowed) = &subject.may_act
            && !allowed.iter().any(|a| a == &agent.id)
        {
            return Err(OAuthError::invalid_grant(
                "the subject token's `may_act` does not name this client",
            ));
        }
        if subject.actors.len() + 1 > MAX_ACT_DEPTH {
            return Err(OAuthError::invalid_grant(format!(
                "the delegation chain would be longer than {MAX_ACT_DEPTH} agents"
            )));
        }
        // Least privilege: what the user holds and the agent holds, narrowed by `scope`.
        let held: Vec<String> = agent
            .scopes
            .iter()
            .filter(|s| subject.scopes.contains(s))
            .cloned()
            .collect();
        let scopes = match form.get("scope") {
            None => held,
            Some(requested) => {
                let mut granted: Vec<String> = Vec::new();
                for scope in requested.split(' ').filter(|s| !s.is_empty()) {
                    if !held.iter().any(|h| h == scope) {
                        return Err(OAuthError::invalid_scope(format!(
                            "scope `{}` is not held by both the user and the agent",
                            truncate_for_message(scope, 64)
                        )));
                    }
                    if !granted.iter().any(|g| g == scope) {
                        granted.push(scope.to_owned());
                    }
                }
                granted
            }
        };
        let remaining = u64::try_from(subject.expires_at.saturating_sub(self.now())).unwrap_or(0);
        let ttl = self.token_ttl.min(remaining);
        if ttl == 0 {
            return Err(OAuthError::invalid_grant("the subject token has expired"));
        }
        let delegation = Delegation {
            user: &subject.user,
            actors: &subject.actors,
        };
        self.issue(agent, scopes, ttl, Some(&delegation), binding)
    }

    /// Verifies a subject token: one of this gateway's delegated tokens, or a token of a
    /// trusted external issuer whose keys are cached (see [`Identity::warm_keys`]).
    fn subject(&self, token: &str) -> Result<Subject, OAuthError> {
        let refused = |err: VerifyError| {
            tracing::debug!(%err, "subject token refused");
            OAuthError::invalid_grant(format!("the subject token is not accepted: {err}"))
        };
        if token.len() > crate::token::MAX_TOKEN_BYTES {
            return Err(refused(VerifyError::Malformed("too long")));
        }
        let jws = Jws::parse(token).map_err(refused)?;
        let keys = Arc::clone(&self.keys.read());
        if let Some(issuer) = self.external_issuer_of(&jws, &keys) {
            let claims = issuer
                .verify(&jws, self.now(), self.leeway)
                .map_err(refused)?;
            return Ok(Subject {
                user: claims.user,
                scopes: claims.scopes,
                actors: Vec::new(),
                expires_at: claims.exp,
                may_act: claims.may_act,
            });
        }
        let principal = self.verify(token).map_err(refused)?;
        let Some(user) = principal.user else {
            return Err(OAuthError::invalid_grant(
                "the subject token stands for an agent, not a user",
            ));
        };
        let actors = std::iter::once(principal.agent)
            .chain(principal.actors)
            .collect();
        Ok(Subject {
            user,
            scopes: principal.scopes,
            actors,
            expires_at: principal.expires_at,
            may_act: None,
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
        })
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

    /// Installs the client that fetches external issuers' discovery documents and keys (the
    /// egress crate's, so that every fetch is SSRF-checked).
    pub fn set_metadata_fetcher(&self, fetcher: Arc<dyn MetadataFetcher>) {
        self.external.set_fetcher(fetcher);
    }

    /// The external issuers whose access tokens are accepted as bearer tokens, for the
    /// protected-resource metadata.
    pub fn bearer_issuers(&self) -> Vec<String> {
        self.external.bearer_issuers()
    }

    /// The client authentication methods, for the RFC 8414 metadata.
    pub(crate) fn auth_methods(&self) -> Vec<&'static str> {
        let mut methods = vec!["client_secret_basic", "client_secret_post"];
        if self.agents.values().any(|a| a.certificate.is_some()) {
            methods.push("tls_client_auth");
        }
        methods
    }

    /// The grant types the token endpoint supports, for the RFC 8414 metadata.
    pub(crate) fn grant_types(&self) -> Vec<&'static str> {
        let mut grants = vec![crate::CLIENT_CREDENTIALS];
        if self.agents.values().any(|a| a.token_exchange) {
            grants.push(GRANT_TYPE);
        }
        grants
    }
}
