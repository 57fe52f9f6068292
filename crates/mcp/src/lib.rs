//! The MCP front end of Portcullis: MCP over Streamable HTTP at `/mcp`, as a thin adapter over
//! the official Rust SDK (`rmcp`).
//!
//! The crate speaks MCP and nothing else. It turns `tools/list` and `tools/call` into calls on a
//! [`ToolBackend`] (the gateway pipeline, which filters, authorizes and audits) and turns the
//! backend's answers back into MCP results and JSON-RPC errors. It never decides anything itself.
//!
//! Design decisions:
//! - One endpoint serves every supported protocol revision (2025-06-18, 2025-11-25,
//!   2026-07-28). `rmcp` 3.9 routes each POST by what it carries: an `initialize` request opens
//!   a handshake session (`Mcp-Session-Id`, answers over SSE); a request whose `_meta` names
//!   protocol 2026-07-28 (with `clientCapabilities`), or a `server/discover`, is served
//!   statelessly by a fresh handler with no handshake and no session id (answers as plain JSON);
//!   anything else needs a session id. On the stateless path `rmcp` also requires the
//!   `MCP-Protocol-Version` header to equal the `_meta` version and the `Mcp-Method` and
//!   `Mcp-Name` headers to match the body (JSON-RPC `-32020`, HTTP 400 otherwise).
//! - The common stateless case, a well-formed `tools/call` whose headers agree with its body,
//!   is served by this crate directly: `rmcp` would decode the body a second time, re-encode it
//!   to check the headers, and build and spawn a service for the one request, which together
//!   cost about a quarter of the gateway's CPU per call. The fast path accepts only what `rmcp`
//!   would accept and answers byte for byte what it would answer; everything else (a mismatch,
//!   a missing header, a Base64 `Mcp-Name`, `Mcp-Param-*` headers) goes to `rmcp`.
//! - The caller is taken from every HTTP request, never from the session: the authentication
//!   middleware in front of [`McpService`] puts a [`portcullis_core::Principal`] (and an
//!   [`McpCaller`]) into the request extensions, and `rmcp` hands each request's
//!   `http::request::Parts` to the handler in both modes. A session only remembers who opened
//!   it, so another caller cannot use it for `tools/list` or `tools/call`.
//! - Transport checks run before the SDK sees a request: `Host` allowlist (DNS rebinding),
//!   `Origin` allowlist, body size limit, JSON-RPC envelope parsing (so that malformed input
//!   gets a JSON-RPC error rather than an SDK-specific plain-text answer) and a cap on open
//!   sessions. The same allowlists are also given to the SDK as a second line of defence.
//! - A `tools/call` whose token lacks a scope the tool requires is answered at the HTTP level,
//!   before `rmcp` sees it: 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
//!   scope=..., resource_metadata=...`, as the MCP authorization specification (2025-11-25 and
//!   later) asks for step-up, so that a client can get a token with more scope and retry. A
//!   tool result could not carry that challenge, and the HTTP status of a session's answer is
//!   already sent when the handler runs.
//! - `rmcp` moves fast, so its types stay behind this crate's API: callers see [`ToolBackend`],
//!   [`McpOptions`] and a tower service, nothing from `rmcp`.

mod answer;
mod handler;
mod transport;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{CallMeta, Denial, Principal, UpstreamResponse};
use tokio_util::sync::CancellationToken;

pub use transport::{McpOptionsError, McpService};

/// The future returned by [`ToolBackend::call_tool`].
pub type CallFuture = Pin<Box<dyn Future<Output = Result<UpstreamResponse, Denial>> + Send>>;

/// What the MCP front calls to list and run tools: the gateway pipeline.
pub trait ToolBackend: Send + Sync + 'static {
    /// Tools this principal may see.
    fn list_tools(&self, principal: &Principal) -> Vec<Arc<portcullis_catalog::Tool>>;

    /// Runs one call through the gateway pipeline (which writes the audit record).
    ///
    /// The front drives the returned future to completion on its own task, even when the MCP
    /// client goes away, so the pipeline always reaches its audit step.
    fn call_tool(
        &self,
        principal: Principal,
        meta: CallMeta,
        name: String,
        args: serde_json::Value,
    ) -> CallFuture;

    /// Checks, before the call enters the MCP session, whether the token lacks a scope the tool
    /// requires. `None` lets the call go on to [`ToolBackend::call_tool`]; `Some(future)` means
    /// refuse: the future records the refusal and yields the denial to answer with (HTTP 403
    /// with a step-up challenge for `insufficient_scope`, an internal error for anything else).
    /// The check itself must be cheap: it runs for every `tools/call`. The default never refuses.
    fn scope_challenge(
        &self,
        principal: &Principal,
        meta: &CallMeta,
        name: &str,
        args: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Option<ChallengeFuture> {
        let _ = (principal, meta, name, args);
        None
    }
}

/// The future returned by [`ToolBackend::scope_challenge`].
pub type ChallengeFuture = Pin<Box<dyn Future<Output = Denial> + Send>>;

/// Connection facts the authentication middleware puts into the HTTP request extensions next to
/// the [`Principal`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct McpCaller {
    /// The peer address of the connection.
    pub client_ip: Option<IpAddr>,
}

/// Transport settings of the MCP endpoint.
#[derive(Clone, Debug)]
pub struct McpOptions {
    /// Accepted `Host` header values (DNS rebinding defence): `host` (any port) or `host:port`.
    /// IPv6 addresses may be written bare (`::1`) or bracketed (`[::1]:8080`). An empty list
    /// refuses every request.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the endpoint, as `scheme://host[:port]` (a missing port
    /// means the scheme's default) or `null`. A request with any other `Origin` header gets 403;
    /// a request without one (a non-browser client) is accepted.
    pub allowed_origins: Vec<String>,
    /// Largest accepted POST body, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Most handshake sessions (2025-06-18 and 2025-11-25 clients) open at once; an `initialize`
    /// beyond it gets 503.
    pub max_sessions: usize,
    /// A handshake session with no traffic for this long is closed.
    pub session_idle_timeout: Duration,
    /// Cancel to end every open session and event stream, for graceful shutdown.
    pub shutdown: CancellationToken,
    /// The URL of the RFC 9728 protected-resource metadata of this endpoint, named in the
    /// `WWW-Authenticate` challenge of an `insufficient_scope` refusal.
    pub resource_metadata: Option<String>,
    /// Serve a well-formed stateless (2026-07-28) `tools/call` directly instead of through
    /// `rmcp`'s per-request service; anything unusual still goes to `rmcp`, which words every
    /// refusal. The answers are the same either way (a test compares them); only the cost
    /// differs. Default `true`.
    pub stateless_fast_path: bool,
}

impl Default for McpOptions {
    /// Loopback hosts only, no browser origin, 1 MiB bodies, 1024 sessions idle for at most
    /// five minutes.
    fn default() -> Self {
        Self {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_sessions: 1024,
            session_idle_timeout: Duration::from_secs(300),
            shutdown: CancellationToken::new(),
            resource_metadata: None,
            stateless_fast_path: true,
        }
    }
}

/// Builds the tower service to mount at `/mcp` (`Router::route_service` or `nest_service`).
///
/// The authentication middleware must run before it and insert a [`Principal`] and an
/// [`McpCaller`] into the request extensions; a request without a principal is answered with a
/// JSON-RPC internal error. Call [`McpOptions::validate`] first to report bad options at startup.
pub fn mcp_service(backend: Arc<dyn ToolBackend>, options: McpOptions) -> McpService {
    McpService::new(backend, options)
}
