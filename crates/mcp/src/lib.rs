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
//! - The caller is taken from every HTTP request, never from the session: the identify
//!   middleware in front of [`McpService`] puts a [`portcullis_core::Caller`] (the principal
//!   and the request's metadata) into the request extensions, and `rmcp` hands each request's
//!   `http::request::Parts` to the handler in both modes. A session only remembers who opened
//!   it, so another caller cannot use it for `tools/list` or `tools/call`.
//! - Transport checks run before the SDK sees a request: `Host` allowlist (DNS rebinding),
//!   `Origin` allowlist, body size limit, JSON-RPC envelope parsing (so that malformed input
//!   gets a JSON-RPC error rather than an SDK-specific plain-text answer) and a cap on open
//!   sessions. The same allowlists are also given to the SDK as a second line of defence. Each
//!   refusal is recorded through [`ToolBackend::refuse`] before it is answered.
//! - A `tools/call` whose token lacks a scope the tool requires is answered at the HTTP level:
//!   403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope=...,
//!   resource_metadata=...`, as the MCP authorization specification (2025-11-25 and later)
//!   asks for step-up, so that a client can get a token with more scope and retry. On the
//!   stateless fast path the call's own `insufficient_scope` denial becomes that answer; before
//!   `rmcp` (whose session answers have their HTTP status sent before the handler runs) the
//!   backend's [`ToolBackend::step_up`] check decides it first. Only the challenge's wording is
//!   this crate's.
//! - `rmcp` moves fast, so its types stay behind this crate's API: callers see [`ToolBackend`],
//!   [`McpOptions`] and a tower service, nothing from `rmcp`.

mod answer;
mod handler;
mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{Caller, Denial, Principal, UpstreamResponse};
use tokio_util::sync::CancellationToken;

pub use transport::{McpOptionsError, McpService};

#[doc(hidden)]
pub use transport::fuzzing;

/// The future returned by [`ToolBackend::call_tool`].
/// The way back to the MCP client during one `tools/call`.
pub trait ClientChannel: Send + Sync {
    /// Tells the client the call is still working (a progress notification), when it asked
    /// for progress; otherwise nothing.
    fn progress(&self, message: String);
    /// Asks the user, through the client (MCP elicitation, form mode), to confirm what
    /// `question` describes: `Some(Ok(true))` confirmed, `Some(Ok(false))` declined or
    /// cancelled, `Some(Err(_))` the request failed; `None` when this client cannot be asked
    /// (it declared no elicitation capability, or the session is stateless).
    fn confirm(&self, question: String) -> Option<ConfirmFuture>;
}

/// The user's answer to [`ClientChannel::confirm`].
pub type ConfirmFuture = Pin<Box<dyn Future<Output = Result<bool, String>> + Send>>;

/// The answer of one tool call.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<UpstreamResponse, Denial>> + Send>>;

/// The future of a recorded refusal ([`ToolBackend::refuse`], [`ToolBackend::step_up`]): the
/// denial to answer with, or an internal error when the refusal could not be recorded.
pub type RefusalFuture = Pin<Box<dyn Future<Output = Denial> + Send>>;

/// The future returned by [`ToolBackend::admit`].
pub type AdmitFuture = Pin<Box<dyn Future<Output = Result<(), Denial>> + Send>>;

/// What the MCP front calls to list and run tools and to record its refusals: the gateway
/// pipeline.
pub trait ToolBackend: Send + Sync + 'static {
    /// Tools this principal may see.
    fn list_tools(&self, principal: &Principal) -> Vec<Arc<portcullis_catalog::Tool>>;

    /// Runs one call through the gateway pipeline, which writes its audit record. The backend
    /// detaches the call from the connection: it runs to its record even when the MCP client
    /// goes away and the returned future is dropped.
    fn call_tool(&self, caller: &Caller, name: String, args: serde_json::Value) -> CallFuture;

    /// [`ToolBackend::call_tool`] with a way back to the client while the call runs: `client`
    /// sends progress sentences (when the client asked for progress) and asks the user to
    /// confirm (when the client can be asked, MCP elicitation). The default ignores it.
    fn call_tool_with_client(
        &self,
        caller: &Caller,
        name: String,
        args: serde_json::Value,
        client: Arc<dyn ClientChannel>,
    ) -> CallFuture {
        let _ = client;
        self.call_tool(caller, name, args)
    }

    /// Checks, before the call enters an `rmcp` session, whether the token lacks a scope the
    /// tool requires. `None` lets the call go on to [`ToolBackend::call_tool`]; `Some(future)`
    /// means refuse: the future records the refusal and yields the denial to answer with (HTTP
    /// 403 with a step-up challenge for `insufficient_scope`, an internal error for anything
    /// else). The check itself must be cheap. The default never refuses.
    fn step_up(
        &self,
        caller: &Caller,
        name: &str,
        args: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Option<RefusalFuture> {
        let _ = (caller, name, args);
        None
    }

    /// Counts an `initialize` that would open a session against the caller's admission limit
    /// (stage 3 of a call): `Ok` lets it go on; a refusal is recorded and yields the denial
    /// (`rate_limited`, with its retry hint) to answer with. The default admits everything.
    fn admit(&self, caller: &Caller) -> AdmitFuture {
        let _ = caller;
        Box::pin(std::future::ready(Ok(())))
    }

    /// Records a request the transport refused (bad `Host` or `Origin`, oversized or malformed
    /// body, session cap, a request id still in flight) and yields the denial to answer with,
    /// or an internal error when the record could not be written.
    fn refuse(&self, caller: &Caller, tool: Option<&str>, denial: Denial) -> RefusalFuture;
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
    /// Most handshake sessions one agent may hold open at once; an `initialize` beyond it gets
    /// 429, so no agent can fill `max_sessions` alone.
    pub max_sessions_per_agent: usize,
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
    /// Loopback hosts only, no browser origin, 1 MiB bodies, 1024 sessions (16 per agent) idle
    /// for at most five minutes.
    fn default() -> Self {
        Self {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_sessions: 1024,
            max_sessions_per_agent: 16,
            session_idle_timeout: Duration::from_secs(300),
            shutdown: CancellationToken::new(),
            resource_metadata: None,
            stateless_fast_path: true,
        }
    }
}

/// Builds the tower service to mount at `/mcp` (`Router::route_service` or `nest_service`).
///
/// The identify middleware must run before it and insert a [`Caller`] into the request
/// extensions; a request without one is answered with a JSON-RPC internal error. Call [`McpOptions::validate`] first to report bad options at startup.
pub fn mcp_service(backend: Arc<dyn ToolBackend>, options: McpOptions) -> McpService {
    McpService::new(backend, options)
}
