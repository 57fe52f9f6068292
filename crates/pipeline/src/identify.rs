//! Stage 2, identify: a request's credentials become a [`Caller`], and the request gets the
//! metadata (id, front, address, arrival time) it keeps until its record. A request that fails
//! here is recorded here.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_core::{CallMeta, Caller, Denial, DenialKind, Front, Principal};
use portcullis_identity::Presented;

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
        let presented = Presented {
            authorization: arrival.authorization,
            token_in_query: arrival.token_in_query,
            certificate: arrival.certificate,
        };
        // Why a credential failed goes to the record only.
        let principal = self.identity.identify(&presented).await.map_err(|err| {
            Denial::new(
                DenialKind::Unauthenticated,
                "a valid bearer token is required",
            )
            .with_internal(err.to_string())
        })?;
        // A token bound to the MCP endpoint (RFC 8707) is not one for the HTTP API.
        if principal.mcp_only && arrival.front != Front::Mcp {
            return Err(Denial::new(
                DenialKind::Unauthenticated,
                "a valid bearer token is required",
            )
            .with_internal(
                "the token's audience is the MCP endpoint only; it is not accepted on the HTTP API"
                    .to_owned(),
            ));
        }
        Ok(principal)
    }
}
