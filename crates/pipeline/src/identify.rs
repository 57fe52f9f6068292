//! Stage 2, identify: a request's credentials become a [`Caller`], and the request gets the
//! metadata (id, front, address, arrival time) it keeps until its record. A request that fails
//! here is recorded here.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_core::{CallMeta, Caller, Denial, DenialKind, Front, Principal};

use crate::Gateway;
use crate::context::CallContext;

/// What a front knows of a request when it arrives, before anything is verified.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    /// The front it came through.
    pub front: Front,
    /// The peer address of the connection.
    pub client_ip: Option<IpAddr>,
    /// The tool the request names, when its path names one (for the record of a refusal).
    pub tool: Option<&'a str>,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// Whether the query string carried an `access_token` (refused outright: tokens go in the
    /// header only).
    pub token_in_query: bool,
    /// The RFC 8705 thumbprint of the client certificate the connection presented, if any.
    pub certificate: Option<&'a str>,
}

/// A request refused at identify, already recorded: the denial to answer with (an internal
/// error when the record could not be written) and the request's metadata.
#[derive(Debug)]
pub struct Refused {
    /// The answer.
    pub denial: Denial,
    /// The request, as identify minted it.
    pub meta: CallMeta,
}

impl Gateway {
    /// Stage 2, identify: mints the request's metadata and verifies its bearer token.
    ///
    /// A token in the query string is refused outright, as is a revoked token or one of a
    /// disabled agent (the reason goes to the record only). A certificate-bound token is
    /// refused without that very certificate. A refusal is recorded before it is returned.
    pub async fn identify(self: &Arc<Self>, arrival: Arrival<'_>) -> Result<Caller, Refused> {
        let meta = CallMeta::now(arrival.front, arrival.client_ip);
        match self.verify_bearer(&arrival).await {
            Ok(principal) => Ok(Caller {
                principal: Arc::new(principal),
                meta,
            }),
            Err(denial) => {
                let ctx = CallContext::new(meta, None, arrival.tool.map(str::to_owned));
                let denial = self.refuse_detached(ctx, denial).await;
                Err(Refused { denial, meta })
            }
        }
    }

    async fn verify_bearer(&self, arrival: &Arrival<'_>) -> Result<Principal, Denial> {
        let unauthenticated = |detail: &str| {
            Denial::new(
                DenialKind::Unauthenticated,
                "a valid bearer token is required",
            )
            .with_internal(detail)
        };
        if arrival.token_in_query {
            return Err(unauthenticated("token in query string refused"));
        }
        let Some(header) = arrival.authorization else {
            return Err(unauthenticated("no authorization header"));
        };
        let Some(token) = strip_bearer(header) else {
            return Err(unauthenticated("authorization scheme is not bearer"));
        };
        // Revocations made by another process (the CLI) apply from here on.
        self.identity.refresh_revocations().await;
        let principal = self
            .identity
            .authenticate(token)
            .await
            .map_err(|err| unauthenticated(&err.to_string()))?;
        if let Some(bound) = &principal.certificate_thumbprint
            && arrival.certificate != Some(bound.as_str())
        {
            return Err(unauthenticated(
                "certificate-bound token presented without its certificate",
            ));
        }
        Ok(principal)
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
}
