//! Issuing tokens: the RFC 6749 token endpoint (client credentials, with the token-exchange
//! grant in `exchange.rs`), `portcullis token` ([`Identity::mint`]), and the signing of every
//! token this gateway issues.
//!
//! Client authentication is by secret (argon2 or a constant-time comparison, see `client.rs`) or
//! by TLS client certificate (RFC 8705 `tls_client_auth`); a certificate-authenticated agent may
//! have its tokens bound to the certificate (`cnf.x5t#S256`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::client::{self, Form};
use crate::error::OAuthError;
use crate::token::{self, Act, Confirmation, IssuedClaims};
use crate::{Agent, Delegation, Identity, exchange};

/// The client-credentials grant type (RFC 6749 section 4.4).
pub(crate) const CLIENT_CREDENTIALS: &str = "client_credentials";

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
    /// A refresh token (interactive clients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl Identity {
    /// The RFC 6749 token endpoint.
    ///
    /// `form` is the decoded `application/x-www-form-urlencoded` body; a repeated parameter is
    /// `invalid_request`. `authorization` is the raw `Authorization` header, if any. Supports
    /// `grant_type=client_credentials` with the client authenticated by HTTP Basic
    /// (`client_secret_basic`) or by `client_id` and `client_secret` in the body
    /// (`client_secret_post`); both at once is `invalid_request`. An optional `scope` grants
    /// exactly the scopes requested, each of which the agent must hold (a malformed one or one
    /// it does not hold is `invalid_scope`); without one, all of them are granted. An optional `resource` (RFC 8707) must name this gateway (one of
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

    /// The client id a token request presents (by HTTP Basic or `client_id`), configured or
    /// not, for the client-authentication throttle only: never record or log it.
    pub fn presented_client_id(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
    ) -> Option<String> {
        let presented = presented_client(form, authorization)?;
        presented.within_limits().then_some(presented.client_id)
    }

    /// The configured agent a token request names (by HTTP Basic or `client_id`), for the audit
    /// record. `None` when the request names no configured agent: an unknown id is never
    /// echoed, since callers sometimes send a secret in its place.
    pub fn requested_agent(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
    ) -> Option<String> {
        let presented = presented_client(form, authorization)?;
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
                retry_after: None,
            });
        };
        if self.revocations.is_disabled(&agent.id) {
            return Err(OAuthError {
                error: "invalid_client",
                error_description: format!("agent `{}` is disabled", agent.id),
                status: 400,
                challenge: false,
                internal: Some("agent disabled"),
                retry_after: None,
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

    pub(crate) fn issue(
        &self,
        agent: &Agent,
        scopes: Vec<String>,
        ttl: u64,
        delegation: Option<&Delegation<'_>>,
        binding: Option<Confirmation>,
    ) -> Result<TokenResponse, OAuthError> {
        // One reading of the clock: `iat` is its second and the `jti` (a UUIDv7) carries its
        // millisecond, which revocation compares against a millisecond cut-off.
        let now_ms = self.now_ms();
        let now = now_ms.div_euclid(1000);
        let jti = token_id(now_ms);
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
            jti,
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
            refresh_token: None,
        })
    }

    /// Signs an access token for an interactive client acting for `user` (see `sign_in.rs`):
    /// the shape of a delegated token (`sub` the user, `client_id` and `act.sub` the client),
    /// with `audience` (the MCP resource) as `aud`. Returns the answer and the token's `jti`.
    pub(crate) fn issue_interactive(
        &self,
        client_id: &str,
        roles: &[String],
        user: &portcullis_core::ActingUser,
        scopes: Vec<String>,
        ttl: u64,
        audience: &str,
    ) -> Result<(TokenResponse, String), OAuthError> {
        let now_ms = self.now_ms();
        let now = now_ms.div_euclid(1000);
        let jti = token_id(now_ms);
        let lifetime =
            i64::try_from(ttl.min(self.max_token_ttl)).map_err(|_| OAuthError::server_error())?;
        let scope = scopes.join(" ");
        let claims = IssuedClaims {
            iss: &self.issuer,
            sub: &user.id,
            aud: audience,
            exp: now.saturating_add(lifetime),
            iat: now,
            nbf: now,
            jti: jti.clone(),
            client_id,
            scope: scope.clone(),
            roles,
            act: Act::from_chain(&[client_id.to_owned()]),
            user_iss: Some(&user.issuer),
            tenant: Some(user.tenant.as_str()).filter(|t| !t.is_empty()),
            groups: Some(user.groups.as_slice()).filter(|g| !g.is_empty()),
            cnf: None,
        };
        let key = Arc::clone(self.keys.read().current());
        let access_token = jsonwebtoken::encode(&token::header(&key), &claims, &key.encoding)
            .map_err(|e| {
                tracing::error!(error = %e, "token signing failed");
                OAuthError::server_error()
            })?;
        Ok((
            TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: u64::try_from(lifetime).unwrap_or(0),
                scope,
                issued_token_type: None,
                refresh_token: None,
            },
            jti,
        ))
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
/// (RFC 6749 section 3.3) that the agent holds, else the request is `invalid_scope` (section
/// 5.2) naming the first scope refused. Section 3.3 would let the server grant less than asked,
/// but a token silently missing a scope its client asked for only fails later, at a call, with
/// a less helpful answer; refusing matches the token-exchange grant. Duplicates are dropped;
/// order is kept.
fn granted_scopes(agent: &Agent, requested: &str) -> Result<Vec<String>, OAuthError> {
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        let well_formed = scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !well_formed {
            return Err(OAuthError::invalid_scope("`scope` is malformed"));
        }
        if !agent.scopes.iter().any(|s| s == scope) {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{}` is not granted to this client; omit `scope` to receive all the scopes it holds",
                portcullis_core::truncate_for_message(scope, 64)
            )));
        }
        if !granted.iter().any(|s| s == scope) {
            granted.push(scope.to_owned());
        }
    }
    Ok(granted)
}

/// A token id: a UUIDv7 whose timestamp is the issue time in milliseconds (RFC 9562 section
/// 5.7), the rest random.
fn token_id(now_ms: i64) -> String {
    let ms = u64::try_from(now_ms).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        ms / 1000,
        u32::try_from(ms % 1000).unwrap_or(0) * 1_000_000,
    );
    uuid::Uuid::new_v7(ts).to_string()
}

/// The client credentials a token request presents (HTTP Basic or `client_id`), unchecked.
fn presented_client(
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Option<client::Presented> {
    let form = Form::parse(form).ok()?;
    client::presented(&form, authorization).ok()
}
