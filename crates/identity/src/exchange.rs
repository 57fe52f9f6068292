//! Delegation: the token-exchange grant (RFC 8693).
//!
//! An agent authenticates with its own credentials and presents a user's token as
//! `subject_token`: one from a trusted external issuer, or one this gateway issued by an
//! earlier exchange (a chain: the new token nests the earlier agents in `act`). The new token
//! names the user as `sub` and the agent as `client_id` and `act.sub`; its scopes are those both
//! the user and the agent hold, narrowed further by `scope`; it never outlives the subject
//! token. A `may_act` claim in the subject token, when present, must name the agent.

use std::sync::Arc;

use portcullis_core::{ActingUser, truncate_for_message};

use crate::client::Form;
use crate::error::{OAuthError, VerifyError};
use crate::jws::Jws;
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
}
