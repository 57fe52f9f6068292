//! The HTTP side: transport checks in front of `rmcp`'s Streamable HTTP service.
//!
//! Order of checks for each request, cheapest and least revealing first:
//! 1. `Host` against the allowlist (DNS rebinding): 403.
//! 2. `Origin`, when present, against the allowlist (cross-site browser calls): 403.
//! 3. POST body size: 413 before anything parses it.
//! 4. POST body as a JSON-RPC message: a JSON-RPC parse, invalid-request or invalid-params error
//!    with HTTP 400 instead of `rmcp`'s plain-text 415.
//! 5. Session cap for new handshake sessions: 503.
//! 6. For a `tools/call` going to `rmcp`, the tool's required scopes
//!    ([`ToolBackend::step_up`]): 403 with an `insufficient_scope` challenge.
//! 7. A request id still in flight in the session: 400.
//!
//! Each refusal above is recorded through [`ToolBackend::refuse`] (the step-up one by
//! [`ToolBackend::step_up`]) before it is answered, so every request the endpoint refuses
//! leaves its audit record.
//!
//! A well-formed stateless `tools/call` (see [`plain_stateless_call`]) is served here, without
//! `rmcp`. Its usual shape is decoded by [`light`] before anything else (steps 4 to 7 then do
//! not apply), its `insufficient_scope` denial becomes the step-up answer of step 6, and its
//! answer is written by `answer::encode_call_answer`.
//!
//! Then `rmcp` routes the message: `initialize` and session traffic to a handshake session,
//! 2026-07-28 requests (protocol version in `_meta`) and `server/discover` to the stateless path.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use rmcp::ErrorData;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, GetMeta, JsonObject, JsonRpcError, JsonRpcRequest,
    ProtocolVersion, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use serde_json::Value;

use portcullis_core::{Caller, Denial, DenialKind, Principal, RateLimitHint};

use crate::handler::{GatewayHandler, SessionOwner};

mod light;
use crate::{McpOptions, ToolBackend};

const SESSION_ID_HEADER: &str = "mcp-session-id";

/// Why [`McpOptions::validate`] rejected the options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpOptionsError {
    /// An `allowed_hosts` entry is not `host` or `host:port`.
    #[error("allowed host `{entry}` is not a host name, IP address or host:port")]
    Host {
        /// The offending entry.
        entry: String,
    },
    /// An `allowed_origins` entry is not `null` or `scheme://host[:port]`.
    #[error("allowed origin `{entry}` is not `null` or scheme://host[:port]")]
    Origin {
        /// The offending entry.
        entry: String,
    },
    /// `max_body_bytes`, `max_sessions` or `max_sessions_per_agent` is zero.
    #[error("`{field}` must be greater than zero")]
    Zero {
        /// The option name.
        field: &'static str,
    },
}

/// The MCP endpoint as a tower service; mount it with `Router::route_service("/mcp", ..)`.
///
/// It never fails: every refusal is an HTTP answer.
#[derive(Clone)]
pub struct McpService {
    inner: StreamableHttpService<GatewayHandler, LocalSessionManager>,
    sessions: Arc<LocalSessionManager>,
    owners: Arc<Owners>,
    checks: Arc<Checks>,
    in_flight: Arc<InFlight>,
    backend: Arc<dyn ToolBackend>,
}

/// Who opened each handshake session, by session id. Every request naming a session must come
/// from its owner; to anyone else the session does not exist. Entries of sessions `rmcp` has
/// closed are dropped whenever a session is opened, so the map stays as small as the set of
/// open sessions.
#[derive(Debug, Default)]
struct Owners {
    sessions: parking_lot::Mutex<std::collections::HashMap<String, SessionOwner>>,
}

/// JSON-RPC request ids in flight, per session.
///
/// A session answers each request on the stream of the POST that carried it, matched by id. A
/// second request reusing an id still in flight would leave one of the two streams without an
/// answer, holding the client's connection until it gives up; such a request is refused at
/// once. (MCP forbids reusing an id within a session at all; ids already answered are not
/// remembered, so only the case that would hang is refused.)
#[derive(Debug, Default)]
struct InFlight {
    ids: parking_lot::Mutex<std::collections::HashSet<(String, String)>>,
}

/// Removes its id from [`InFlight`] when the answer stream ends or is dropped.
struct InFlightGuard {
    owner: Arc<InFlight>,
    key: Option<(String, String)>,
}

impl InFlight {
    /// Claims `(session, id)`; `None` when it is already in flight.
    fn claim(self: &Arc<Self>, session: &str, id: &RequestId) -> Option<InFlightGuard> {
        // The JSON form keeps the number 7 and the string "7" apart, as JSON-RPC does.
        let key = (
            session.to_owned(),
            serde_json::to_string(id).unwrap_or_default(),
        );
        if !self.ids.lock().insert(key.clone()) {
            return None;
        }
        Some(InFlightGuard {
            owner: Arc::clone(self),
            key: Some(key),
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.owner.ids.lock().remove(&key);
        }
    }
}

/// The transport checks, parsed once from [`McpOptions`].
#[derive(Debug)]
struct Checks {
    hosts: Vec<AllowedHost>,
    origins: Vec<OriginTuple>,
    max_body_bytes: usize,
    max_sessions: usize,
    max_sessions_per_agent: usize,
    session_idle_timeout: std::time::Duration,
    resource_metadata: Option<String>,
    stateless_fast_path: bool,
}

impl std::fmt::Debug for McpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpService")
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

impl McpOptions {
    /// Checks every option; call it at startup so a typo in an allowlist stops the gateway
    /// instead of refusing requests later.
    pub fn validate(&self) -> Result<(), McpOptionsError> {
        if self.max_body_bytes == 0 {
            return Err(McpOptionsError::Zero {
                field: "max_body_bytes",
            });
        }
        if self.max_sessions == 0 {
            return Err(McpOptionsError::Zero {
                field: "max_sessions",
            });
        }
        if self.max_sessions_per_agent == 0 {
            return Err(McpOptionsError::Zero {
                field: "max_sessions_per_agent",
            });
        }
        if let Some(entry) = self
            .allowed_hosts
            .iter()
            .find(|entry| AllowedHost::parse(entry).is_none())
        {
            return Err(McpOptionsError::Host {
                entry: entry.clone(),
            });
        }
        if let Some(entry) = self
            .allowed_origins
            .iter()
            .find(|entry| OriginTuple::parse(entry).is_none())
        {
            return Err(McpOptionsError::Origin {
                entry: entry.clone(),
            });
        }
        Ok(())
    }
}

impl McpService {
    /// Builds the service. It never fails: options that [`McpOptions::validate`] would reject
    /// fail closed (an unparseable allowlist entry matches nothing, a zero limit refuses
    /// everything) and are logged.
    pub fn new(backend: Arc<dyn ToolBackend>, options: McpOptions) -> Self {
        if let Err(error) = options.validate() {
            tracing::error!(%error, "MCP endpoint options are invalid; the invalid parts refuse all requests");
        }
        let mut host_entries = Vec::new();
        let mut hosts = Vec::new();
        for entry in &options.allowed_hosts {
            if let Some(host) = AllowedHost::parse(entry) {
                host_entries.push(entry.clone());
                hosts.push(host);
            }
        }
        let origins: Vec<OriginTuple> = options
            .allowed_origins
            .iter()
            .filter_map(|entry| OriginTuple::parse(entry))
            .collect();

        // The same allowlists go to rmcp as a second line of defence. Origins are passed with
        // explicit ports so rmcp's matching is never looser than ours.
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(host_entries)
            .with_allowed_origins(origins.iter().map(OriginTuple::rmcp_entry))
            .enforce_origin_validation()
            .with_max_request_body_bytes(options.max_body_bytes)
            // Handshake clients get sessions; 2026-07-28 requests are stateless either way.
            .with_legacy_session_mode(true)
            // Stateless answers as plain JSON when the handler sends nothing before the result.
            .with_json_response(true)
            .with_cancellation_token(options.shutdown.clone());

        let mut sessions = LocalSessionManager::default();
        sessions.session_config.keep_alive = Some(options.session_idle_timeout);
        let sessions = Arc::new(sessions);

        let handler_backend = Arc::clone(&backend);
        let inner = StreamableHttpService::new(
            move || Ok(GatewayHandler::new(handler_backend.clone())),
            sessions.clone(),
            config,
        );
        Self {
            inner,
            sessions,
            owners: Arc::new(Owners::default()),
            checks: Arc::new(Checks {
                hosts,
                origins,
                max_body_bytes: options.max_body_bytes,
                max_sessions: options.max_sessions,
                max_sessions_per_agent: options.max_sessions_per_agent,
                session_idle_timeout: options.session_idle_timeout,
                resource_metadata: options.resource_metadata,
                stateless_fast_path: options.stateless_fast_path,
            }),
            in_flight: Arc::new(InFlight::default()),
            backend,
        }
    }

    async fn handle(self, request: Request<Body>) -> Response<Body> {
        // The identify middleware put the caller here; refusals are recorded under it.
        let caller = request.extensions().get::<Caller>().cloned();
        let caller = caller.as_ref();
        if let Err((kind, status, text)) =
            self.checks.admit_headers(request.uri(), request.headers())
        {
            let answer = problem_response(status, kind, text, caller);
            return self
                .refused(caller, None, Denial::new(kind, text), answer)
                .await;
        }
        let (mut parts, body) = request.into_parts();
        if let Some(caller) = caller
            && let Some(session) = parts
                .headers
                .get(SESSION_ID_HEADER)
                .and_then(|value| value.to_str().ok())
            && self.owners.foreign(session, &caller.principal)
        {
            // Someone else's session: served as a request for a session id that cannot exist,
            // so the answer is exactly an unknown session's, and recorded once as a refusal.
            tracing::warn!(agent = %caller.principal.agent, "refused a request naming another caller's MCP session");
            if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
                parts.headers.insert(SESSION_ID_HEADER, value);
            }
            let denial = Denial::new(DenialKind::BadRequest, UNKNOWN_SESSION)
                .with_internal("the session was opened by another caller");
            let answer = Box::pin(self.clone().serve(parts, body, None)).await;
            return self.refused(Some(caller), None, denial, answer).await;
        }
        self.serve(parts, body, caller).await
    }

    /// Serves a request whose `Host` and `Origin` passed; refusals are recorded under `caller`
    /// (none when `None`).
    async fn serve(
        self,
        parts: http::request::Parts,
        body: Body,
        caller: Option<&Caller>,
    ) -> Response<Body> {
        let session = parts
            .headers
            .get(SESSION_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if parts.method != Method::POST {
            // GET (session event stream) and DELETE (end session) carry no body.
            // Boxed here and below: rmcp's futures are large, and inline they would make every
            // request's future (moved into its task) that large, the fast path's included.
            let ends_session = parts.method == Method::DELETE;
            let request = Request::from_parts(parts, body);
            let mut response = Box::pin(self.inner.handle(request)).await.map(Body::new);
            if ends_session && response.status().is_success() {
                if let Some(session) = &session {
                    self.owners.sessions.lock().remove(session);
                }
                // `rmcp` answers 202; a session ended is a success without content, which is
                // what clients check for (the SDKs warn on anything but 200 or 204).
                response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            return self.rmcp_answer(caller, None, response).await;
        }

        let body = match self.checks.read_body(&parts.headers, body).await {
            Ok(body) => body,
            Err((kind, status, text)) => {
                let answer = problem_response(status, kind, &text, caller);
                return self
                    .refused(caller, None, Denial::new(kind, text), answer)
                    .await;
            }
        };
        let mut guard = None;
        let mut opening = None;
        let mut called = None;
        if is_json(&parts.headers) {
            // The common stateless call, decoded without rmcp's message types (see `light`).
            if self.checks.stateless_fast_path
                && plain_stateless_headers(&parts.headers)
                && let Some(call) = light::decode(&body)
                && names_agree(&parts.headers, &call.name)
            {
                return self
                    .serve_stateless_call(caller, call.id, call.name, call.arguments)
                    .await;
            }
            let message = match parse_message(&body) {
                Ok(message) => message,
                Err(error) => {
                    let denial = Denial::new(DenialKind::BadRequest, error.error.message.clone());
                    let answer = jsonrpc_error_response(StatusCode::BAD_REQUEST, *error);
                    return self.refused(caller, None, denial, answer).await;
                }
            };
            called = called_tool(&message).map(str::to_owned);
            if opens_session(&message, &parts.headers) {
                if let Some(refusal) = self.admit_session(caller, request_id(&message)).await {
                    return refusal;
                }
                opening = caller.map(|caller| SessionOwner::of(&caller.principal));
            }
            if let ClientJsonRpcMessage::Request(request) = &message
                && let ClientRequest::CallToolRequest(call) = &request.request
                && let Some(caller) = caller
                && let Some(record) =
                    self.backend
                        .step_up(caller, &call.params.name, call.params.arguments.as_ref())
            {
                return self.challenge(&request.id, record.await);
            }
            if let (Some(session), ClientJsonRpcMessage::Request(request)) = (&session, &message) {
                guard = self.in_flight.claim(session, &request.id);
                if guard.is_none() {
                    tracing::warn!("refused an MCP request reusing an id still in flight");
                    let text = "this request id is already in flight in the session; use a new id";
                    let error = JsonRpcError::new(
                        Some(request.id.clone()),
                        ErrorData::invalid_request(text, None),
                    );
                    let answer = jsonrpc_error_response(StatusCode::BAD_REQUEST, error);
                    let denial = Denial::new(DenialKind::BadRequest, text);
                    return self
                        .refused(caller, called.as_deref(), denial, answer)
                        .await;
                }
            }
            if self.checks.stateless_fast_path
                && plain_stateless_call(&parts.headers, &message)
                && let ClientJsonRpcMessage::Request(JsonRpcRequest {
                    id,
                    request: ClientRequest::CallToolRequest(call),
                    ..
                }) = message
            {
                let params = call.params;
                return self
                    .serve_stateless_call(caller, id, params.name.into_owned(), params.arguments)
                    .await;
            }
        }
        // Anything else (a wrong content type, say) is rmcp's to refuse.
        let request = Request::from_parts(parts, Full::new(body));
        let response = Box::pin(self.inner.handle(request)).await;
        if let Some(owner) = opening
            && let Some(session) = response
                .headers()
                .get(SESSION_ID_HEADER)
                .and_then(|value| value.to_str().ok())
        {
            self.owners
                .sessions
                .lock()
                .insert(session.to_owned(), owner);
        }
        let response = match guard {
            // The id stays claimed until the answer stream is finished or dropped.
            Some(guard) => response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _claimed = &guard;
                    frame
                }))
            }),
            None => response.map(Body::new),
        };
        self.rmcp_answer(caller, called.as_deref(), response).await
    }

    /// The session caps and the admission limit for an `initialize` that opens a session, or
    /// the (recorded) refusal to answer with.
    async fn admit_session(
        &self,
        caller: Option<&Caller>,
        id: Option<RequestId>,
    ) -> Option<Response<Body>> {
        let live: Vec<String> = self
            .sessions
            .sessions
            .read()
            .await
            .keys()
            .map(|id| id.to_string())
            .collect();
        if live.len() >= self.checks.max_sessions {
            tracing::warn!("refused a new MCP session: session limit reached");
            let text = "too many open sessions; retry later";
            let error = JsonRpcError::new(id, ErrorData::internal_error(text, None));
            let answer = jsonrpc_error_response(StatusCode::SERVICE_UNAVAILABLE, error);
            let denial = Denial::new(DenialKind::Overloaded, text);
            return Some(self.refused(caller, None, denial, answer).await);
        }
        let caller = caller?;
        let held = self.owners.held_by(&caller.principal.agent, &live);
        if held >= self.checks.max_sessions_per_agent {
            tracing::warn!(agent = %caller.principal.agent, held, "refused a new MCP session: the agent's session limit reached");
            let hint = RateLimitHint {
                name: "mcp_sessions".to_owned(),
                quota: u64::try_from(self.checks.max_sessions_per_agent).unwrap_or(u64::MAX),
                window_secs: self.checks.session_idle_timeout.as_secs().max(1),
                remaining: 0,
                retry_after_secs: 1,
            };
            let denial = Denial::limited(DenialKind::RateLimited, hint);
            let denial = self.backend.refuse(caller, None, denial).await;
            return Some(limited_jsonrpc_response(id, &denial));
        }
        if let Err(denial) = self.backend.admit(caller).await {
            return Some(limited_jsonrpc_response(id, &denial));
        }
        None
    }

    /// `rmcp`'s answer, with a refusal's plain-text body (which can echo request headers)
    /// replaced by a JSON-RPC error in our words, and recorded.
    async fn rmcp_answer(
        &self,
        caller: Option<&Caller>,
        tool: Option<&str>,
        response: Response<Body>,
    ) -> Response<Body> {
        if !response.status().is_client_error() && !response.status().is_server_error() {
            return response;
        }
        let status = response.status();
        let answer = plain_to_json(response);
        if is_json(answer.headers()) && status.is_client_error() {
            let denial = Denial::new(DenialKind::BadRequest, rmcp_refusal_text(status));
            return self.refused(caller, tool, denial, answer).await;
        }
        answer
    }
}

/// What a client is told for a session id that is unknown, closed or someone else's.
const UNKNOWN_SESSION: &str = "session not found; start a new session with `initialize`";

/// Our wording of `rmcp`'s plain-text refusals, by status; never the request's own text.
fn rmcp_refusal_text(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => {
            "malformed MCP request: check the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers and the session id"
        }
        404 => UNKNOWN_SESSION,
        405 => "method not allowed on the MCP endpoint",
        406 => "the Accept header must list both application/json and text/event-stream",
        415 => "the Content-Type must be application/json",
        _ => "the MCP request was refused",
    }
}

/// A response whose body is not JSON or an event stream (`rmcp`'s plain-text refusals) gets a
/// JSON-RPC error body in our words instead, keeping the status and the `Allow` header.
fn plain_to_json(response: Response<Body>) -> Response<Body> {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let structured = portcullis_core::media_type_is_json(content_type)
        || portcullis_core::media_type_is(content_type, "text/event-stream");
    if structured || response.status().is_success() {
        return response;
    }
    let status = response.status();
    let allow = response.headers().get(header::ALLOW).cloned();
    let error = JsonRpcError::new(
        None,
        ErrorData::invalid_request(rmcp_refusal_text(status), None),
    );
    let mut answer = jsonrpc_error_response(status, error);
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// A JSON-RPC error for a refusal by a limit (or an internal error when it could not be
/// recorded), with `Retry-After` from the limit's hint.
fn limited_jsonrpc_response(id: Option<RequestId>, denial: &Denial) -> Response<Body> {
    if !matches!(denial.kind, DenialKind::RateLimited | DenialKind::Loop) {
        return internal_error_response(id);
    }
    let retry_after = denial.rate_limit().map_or(1, |hint| hint.retry_after_secs);
    let error = JsonRpcError::new(
        id,
        ErrorData::invalid_request(
            denial.message.clone(),
            Some(serde_json::json!({
                "error": denial.kind.code(),
                "retry_after": retry_after,
            })),
        ),
    );
    let mut response = jsonrpc_error_response(StatusCode::TOO_MANY_REQUESTS, error);
    if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

impl Owners {
    /// Whether `session` is known and was opened by someone other than `principal`.
    fn foreign(&self, session: &str, principal: &Principal) -> bool {
        self.sessions
            .lock()
            .get(session)
            .is_some_and(|owner| *owner != SessionOwner::of(principal))
    }

    /// How many of the `live` sessions `agent` opened; forgets the sessions no longer live.
    fn held_by(&self, agent: &str, live: &[String]) -> usize {
        let mut sessions = self.sessions.lock();
        sessions.retain(|id, _| live.iter().any(|open| open == id));
        sessions
            .values()
            .filter(|owner| owner.agent == agent)
            .count()
    }
}

impl McpService {
    /// Records a transport refusal under `caller` and answers it with `answer`; when the
    /// record cannot be written, answers an internal error instead (fail closed). Without a
    /// caller (no identify middleware in front) there is nothing to record it under.
    async fn refused(
        &self,
        caller: Option<&Caller>,
        tool: Option<&str>,
        denial: Denial,
        answer: Response<Body>,
    ) -> Response<Body> {
        let Some(caller) = caller else {
            return answer;
        };
        let kind = denial.kind;
        let recorded = self.backend.refuse(caller, tool, denial).await;
        if recorded.kind == kind {
            answer
        } else {
            internal_error_response(None)
        }
    }

    /// Serves a stateless `tools/call` that [`plain_stateless_call`] accepted, answering what
    /// `rmcp`'s stateless path would: the JSON-RPC answer as one `application/json` body. A
    /// missing scope is answered as the step-up challenge, as before `rmcp`.
    async fn serve_stateless_call(
        &self,
        caller: Option<&Caller>,
        id: RequestId,
        name: String,
        arguments: Option<JsonObject>,
    ) -> Response<Body> {
        let Some(caller) = caller else {
            // INVARIANT: the identify middleware runs first; fail closed as the handler does.
            tracing::error!("MCP request reached the endpoint without an identified caller");
            let message = ServerJsonRpcMessage::error(
                ErrorData::internal_error(crate::answer::INTERNAL_MESSAGE, None),
                Some(id),
            );
            let status = crate::answer::stateless_status(&message);
            return match serde_json::to_vec(&message) {
                Ok(body) => json_response(status, body),
                Err(_) => internal_error_response(None),
            };
        };
        let args = Value::Object(arguments.unwrap_or_default());
        // The backend detaches the call: a client that hangs up cannot stop it before its
        // audit step.
        let outcome = self.backend.call_tool(caller, name.clone(), args).await;
        if let Err(denial) = &outcome
            && denial.kind == DenialKind::InsufficientScope
        {
            return self.challenge(&id, denial.clone());
        }
        match crate::answer::encode_call_answer(id, &name, outcome) {
            Ok((status, body)) => json_response(status, body),
            Err(error) => {
                tracing::error!(%error, "could not encode a tools/call answer");
                plain_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    crate::answer::INTERNAL_MESSAGE,
                )
            }
        }
    }

    /// The step-up answer for a recorded `insufficient_scope` refusal of request `id`: HTTP 403
    /// with a JSON-RPC error naming the scopes and the `WWW-Authenticate` challenge; any other
    /// denial (the refusal could not be recorded) is an internal error.
    fn challenge(&self, id: &RequestId, denial: Denial) -> Response<Body> {
        if denial.kind != DenialKind::InsufficientScope {
            return internal_error_response(Some(id.clone()));
        }
        let scope = denial.required_scopes().join(" ");
        let challenge = denial.step_up_challenge(None, self.checks.resource_metadata.as_deref());
        let error = JsonRpcError::new(
            Some(id.clone()),
            ErrorData::invalid_request(
                denial.message,
                Some(serde_json::json!({
                    "error": DenialKind::InsufficientScope.code(),
                    "scope": scope,
                })),
            ),
        );
        let mut response = jsonrpc_error_response(StatusCode::FORBIDDEN, error);
        match HeaderValue::from_str(&challenge) {
            Ok(value) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            Err(_) => tracing::error!("the step-up challenge is not a valid header value"),
        }
        response
    }
}

impl tower_service::Service<Request<Body>> for McpService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}

impl Checks {
    /// The `Host` and `Origin` checks; a refusal is a kind, a status and a plain-text reason.
    fn admit_headers(
        &self,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Result<(), (DenialKind, StatusCode, &'static str)> {
        let host = request_host(uri, headers).ok_or_else(|| {
            tracing::warn!("refused an MCP request without a usable Host header");
            (
                DenialKind::BadRequest,
                StatusCode::BAD_REQUEST,
                "missing or malformed Host header",
            )
        })?;
        if !self.hosts.iter().any(|allowed| allowed.matches(&host)) {
            tracing::warn!(host = %host.host, "refused an MCP request for a Host not allowed");
            return Err((
                DenialKind::OriginRefused,
                StatusCode::FORBIDDEN,
                "the Host header is not allowed",
            ));
        }
        let mut origins = headers.get_all(header::ORIGIN).iter();
        if let Some(origin) = origins.next() {
            let allowed = origins.next().is_none()
                && origin
                    .to_str()
                    .ok()
                    .and_then(OriginTuple::parse)
                    .is_some_and(|origin| self.origins.contains(&origin));
            if !allowed {
                tracing::warn!(origin = ?origin, "refused an MCP request from an Origin not allowed");
                return Err((
                    DenialKind::OriginRefused,
                    StatusCode::FORBIDDEN,
                    "the Origin is not allowed",
                ));
            }
        }
        Ok(())
    }

    /// Reads a POST body up to the size limit; a refusal is a kind, a status and a reason.
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Bytes, (DenialKind, StatusCode, String)> {
        let too_large = || {
            (
                DenialKind::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body exceeds {} bytes", self.max_body_bytes),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_body_bytes as u64) {
            return Err(too_large());
        }
        match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Err(error) if caused_by::<portcullis_core::BodyTimedOut>(error.as_ref()) => Err((
                DenialKind::TimedOut,
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time; send it at once".to_owned(),
            )),
            Err(error) => {
                tracing::debug!(%error, "could not read an MCP request body");
                Err((
                    DenialKind::BadRequest,
                    StatusCode::BAD_REQUEST,
                    "could not read the request body".to_owned(),
                ))
            }
        }
    }
}

/// Decodes a POST body into an MCP client message, or the JSON-RPC error to answer with.
fn parse_message(body: &[u8]) -> Result<ClientJsonRpcMessage, Box<JsonRpcError>> {
    // Fast path for the common case, a well-formed JSON object: decode the message straight from
    // the bytes, without the intermediate `Value` the error reporting below needs. Whatever it
    // does not accept goes the full way, which decides (and words) every refusal.
    let is_object = body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|&byte| byte == b'{');
    if is_object && let Ok(message) = serde_json::from_slice::<ClientJsonRpcMessage>(body) {
        return refuse_malformed_served(message);
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        Box::new(JsonRpcError::new(
            None,
            ErrorData::parse_error(
                format!(
                    "the request body is not valid JSON (line {}, column {})",
                    error.line(),
                    error.column()
                ),
                None,
            ),
        ))
    })?;
    let Value::Object(object) = &value else {
        let message = if value.is_array() {
            "batch requests are not supported"
        } else {
            "the request must be a JSON-RPC 2.0 object"
        };
        return Err(Box::new(JsonRpcError::new(
            None,
            ErrorData::invalid_request(message, None),
        )));
    };
    let id = object
        .get("id")
        .and_then(|id| RequestId::deserialize(id).ok());
    match ClientJsonRpcMessage::deserialize(&value) {
        Ok(message) => refuse_malformed_served(message),
        Err(_) => {
            let method = object.get("method").and_then(Value::as_str);
            let error = match method {
                Some(method) if object.get("jsonrpc") == Some(&Value::from("2.0")) => {
                    invalid_params(method)
                }
                _ => ErrorData::invalid_request(
                    "not a JSON-RPC 2.0 request from an MCP client",
                    None,
                ),
            };
            Err(Box::new(JsonRpcError::new(id, error)))
        }
    }
}

/// `rmcp` decodes a served method with malformed params as a custom request, which it would
/// answer with "method not found"; the truth is "invalid params".
fn refuse_malformed_served(
    message: ClientJsonRpcMessage,
) -> Result<ClientJsonRpcMessage, Box<JsonRpcError>> {
    match message {
        ClientJsonRpcMessage::Request(request)
            if matches!(&request.request, ClientRequest::CustomRequest(custom)
                if SERVED_METHODS.contains(&custom.method.as_str())) =>
        {
            Err(Box::new(JsonRpcError::new(
                Some(request.id),
                invalid_params(request.request.method()),
            )))
        }
        message => Ok(message),
    }
}

/// Request methods this server answers; their params have a schema `rmcp` checks.
const SERVED_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
];

fn invalid_params(method: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!(
            "invalid params for `{}`",
            portcullis_core::truncate_for_message(method, 64)
        ),
        None,
    )
}

/// True when `message` is a stateless (2026-07-28) `tools/call` that `rmcp` would serve as it
/// stands, with nothing for its checks to refuse or to interpret: no session id; `_meta`
/// naming 2026-07-28 with every required key; `MCP-Protocol-Version`, `Mcp-Method` and a plain
/// (not Base64) `Mcp-Name`, each given once and agreeing with the body; no `Mcp-Param-*`
/// header; no retry fields of an earlier incomplete result; and an `Accept` listing both JSON
/// and SSE without parameters. Anything else goes to `rmcp`, which decides it and words the
/// refusal.
fn plain_stateless_call(headers: &HeaderMap, message: &ClientJsonRpcMessage) -> bool {
    let ClientJsonRpcMessage::Request(request) = message else {
        return false;
    };
    let ClientRequest::CallToolRequest(call) = &request.request else {
        return false;
    };
    if call.params.input_responses.is_some() || call.params.request_state.is_some() {
        return false;
    }
    let version = ProtocolVersion::V_2026_07_28;
    let meta = request.request.get_meta();
    // A client that asked for progress gets rmcp's event stream, which can carry it.
    if meta.get_progress_token().is_some() {
        return false;
    }
    if meta.protocol_version().as_ref() != Some(&version)
        || !meta.missing_required_keys(&version).is_empty()
    {
        return false;
    }
    plain_stateless_headers(headers) && names_agree(headers, &call.params.name)
}

/// The header half of [`plain_stateless_call`]: no session id; `MCP-Protocol-Version`
/// 2026-07-28 and `Mcp-Method: tools/call`, each given once; no `Mcp-Param-*` header; an
/// `Accept` listing both JSON and SSE without parameters.
fn plain_stateless_headers(headers: &HeaderMap) -> bool {
    !headers.contains_key(SESSION_ID_HEADER)
        && single_header(headers, "mcp-protocol-version")
            == Some(ProtocolVersion::V_2026_07_28.as_str())
        && single_header(headers, "mcp-method") == Some("tools/call")
        && !headers
            .keys()
            .any(|header| header.as_str().starts_with("mcp-param-"))
        && accepts_json_and_sse(headers)
}

/// `Mcp-Name` is given once, plainly (not Base64), and names the tool the body calls.
fn names_agree(headers: &HeaderMap, name: &str) -> bool {
    single_header(headers, "mcp-name") == Some(name) && !name.starts_with("=?base64?")
}

/// The one value of a header, when it is given exactly once and is visible ASCII.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// True when `Accept` lists `application/json` and `text/event-stream`, both without
/// parameters (a weight of zero would exclude one, so any parameter defers to `rmcp`).
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for entry in value.split(',') {
            let entry = entry.trim();
            if entry.contains(';') || entry.contains('"') {
                return false;
            }
            json |= entry.eq_ignore_ascii_case("application/json");
            sse |= entry.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// True for an `initialize` that will open a new handshake session.
fn opens_session(message: &ClientJsonRpcMessage, headers: &HeaderMap) -> bool {
    matches!(
        message,
        ClientJsonRpcMessage::Request(request)
            if matches!(request.request, ClientRequest::InitializeRequest(_))
    ) && !headers.contains_key(SESSION_ID_HEADER)
}

/// The tool a `tools/call` message names, for the record of its refusal.
fn called_tool(message: &ClientJsonRpcMessage) -> Option<&str> {
    match message {
        ClientJsonRpcMessage::Request(JsonRpcRequest {
            request: ClientRequest::CallToolRequest(call),
            ..
        }) => Some(&call.params.name),
        _ => None,
    }
}

/// A JSON-RPC internal error with HTTP 500, naming no detail.
fn internal_error_response(id: Option<RequestId>) -> Response<Body> {
    let error = JsonRpcError::new(
        id,
        ErrorData::internal_error(crate::answer::INTERNAL_MESSAGE, None),
    );
    jsonrpc_error_response(StatusCode::INTERNAL_SERVER_ERROR, error)
}

fn request_id(message: &ClientJsonRpcMessage) -> Option<RequestId> {
    match message {
        ClientJsonRpcMessage::Request(request) => Some(request.id.clone()),
        _ => None,
    }
}

/// `rmcp` accepts exactly `application/json` (with any parameters) as a POST body.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| portcullis_core::media_type_is(value, "application/json"))
}

fn jsonrpc_error_response(status: StatusCode, error: JsonRpcError) -> Response<Body> {
    let body = serde_json::to_vec(&error).unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error"}}"#.to_vec()
    });
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Whether `error` or one of its sources is an `E`.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<E>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A refusal of the transport (before any JSON-RPC is read) as problem+json, named by the
/// request id identify minted when there is one.
fn problem_response(
    status: StatusCode,
    kind: DenialKind,
    text: &str,
    caller: Option<&Caller>,
) -> Response<Body> {
    let request_id = caller.map_or_else(uuid::Uuid::nil, |caller| caller.meta.request_id);
    let body =
        serde_json::to_vec(&Denial::new(kind, text).problem(&request_id)).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn plain_response(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A `Host` value: lowercase host without IPv6 brackets, and the port if one was given.
#[derive(Debug, PartialEq, Eq)]
struct HostPort {
    host: String,
    port: Option<u16>,
}

/// The request's authority: the single `Host` header, or the URI authority (HTTP/2).
fn request_host(uri: &http::Uri, headers: &HeaderMap) -> Option<HostPort> {
    let mut values = headers.get_all(header::HOST).iter();
    let authority = match values.next() {
        Some(value) => {
            if values.next().is_some() {
                return None;
            }
            http::uri::Authority::try_from(value.as_bytes()).ok()?
        }
        None => uri.authority()?.clone(),
    };
    if authority.as_str().contains('@') {
        return None;
    }
    Some(HostPort {
        host: normalize_host(authority.host()),
        port: numeric_port(&authority)?,
    })
}

/// The port of an authority: `Some(None)` when absent, `None` when present but not a number.
/// (`http` itself reports a non-numeric port as no port at all.) Assumes no userinfo.
fn numeric_port(authority: &http::uri::Authority) -> Option<Option<u16>> {
    let rest = authority.as_str().get(authority.host().len()..)?;
    if rest.is_empty() {
        return Some(None);
    }
    rest.strip_prefix(':')?.parse::<u16>().ok().map(Some)
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// An `allowed_hosts` entry: a host that matches any port, or a host with one port.
#[derive(Debug)]
struct AllowedHost(HostPort);

impl AllowedHost {
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        if entry.is_empty() || entry.contains(['@', '/', '?', '#']) {
            return None;
        }
        if let Ok(ip) = entry.parse::<IpAddr>() {
            return Some(Self(HostPort {
                host: ip.to_string().to_ascii_lowercase(),
                port: None,
            }));
        }
        let authority = http::uri::Authority::try_from(entry).ok()?;
        Some(Self(HostPort {
            host: normalize_host(authority.host()),
            port: numeric_port(&authority)?,
        }))
    }

    fn matches(&self, host: &HostPort) -> bool {
        self.0.host == host.host && self.0.port.is_none_or(|port| host.port == Some(port))
    }
}

/// A browser origin reduced to what RFC 6454 compares: scheme, host and effective port.
#[derive(Debug, PartialEq, Eq)]
enum OriginTuple {
    /// The opaque origin `null`.
    Null,
    /// `scheme://host:port`, with the scheme's default port filled in.
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

impl OriginTuple {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("null") {
            return Some(Self::Null);
        }
        let uri = http::Uri::try_from(text).ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        let path_ok = matches!(uri.path(), "" | "/") && uri.query().is_none();
        if !path_ok || authority.as_str().contains('@') || text.contains('#') {
            return None;
        }
        let default_port = match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        };
        Some(Self::Tuple {
            host: normalize_host(authority.host()),
            port: numeric_port(authority)?.or(default_port),
            scheme,
        })
    }

    /// The same origin in the syntax of `rmcp`'s allowlist, with an explicit port.
    fn rmcp_entry(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Tuple { scheme, host, port } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                match port {
                    Some(port) => format!("{scheme}://{host}:{port}"),
                    // Our own check already requires an origin without a port here.
                    None => format!("{scheme}://{host}:*"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// The two message decoders of the POST path, for the fuzz targets (`fuzz/`): not an API.
/// Results are JSON values, so that no `rmcp` type leaves this crate.
#[doc(hidden)]
pub mod fuzzing {
    use http::{HeaderMap, HeaderValue, header};
    use serde_json::{Map, Value};

    /// What the stateless fast path decoded.
    #[derive(Debug)]
    pub struct Light {
        /// The JSON-RPC id, as JSON.
        pub id: Value,
        /// The tool name.
        pub name: String,
        /// The arguments, when given.
        pub arguments: Option<Map<String, Value>>,
    }

    /// What the general path made of a body.
    #[derive(Debug)]
    pub enum Parsed {
        /// A message `rmcp` serves, as `rmcp` writes it back, and whether the POST path would
        /// serve it as a plain stateless call given the usual headers naming its tool.
        Message {
            /// The message re-encoded.
            message: Value,
            /// `plain_stateless_call` with the usual headers.
            plain_stateless: bool,
        },
        /// The JSON-RPC error the front answers with.
        Refused(Value),
    }

    /// The fast path's decoder (`light::decode`).
    pub fn decode_light(body: &[u8]) -> Option<Light> {
        let call = super::light::decode(body)?;
        Some(Light {
            id: serde_json::to_value(&call.id).unwrap_or(Value::Null),
            name: call.name,
            arguments: call.arguments,
        })
    }

    /// The general path's decoder (`parse_message`).
    pub fn parse_message(body: &[u8]) -> Parsed {
        match super::parse_message(body) {
            Ok(message) => {
                let name = super::called_tool(&message).unwrap_or_default();
                let mut headers = HeaderMap::new();
                headers.insert(
                    "mcp-protocol-version",
                    HeaderValue::from_static("2026-07-28"),
                );
                headers.insert("mcp-method", HeaderValue::from_static("tools/call"));
                headers.insert(
                    header::ACCEPT,
                    HeaderValue::from_static("application/json, text/event-stream"),
                );
                if let Ok(value) = HeaderValue::from_str(name) {
                    headers.insert("mcp-name", value);
                }
                Parsed::Message {
                    plain_stateless: super::plain_stateless_call(&headers, &message),
                    message: serde_json::to_value(&message).unwrap_or(Value::Null),
                }
            }
            Err(error) => Parsed::Refused(serde_json::to_value(&*error).unwrap_or(Value::Null)),
        }
    }
}
