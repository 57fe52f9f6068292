//! The HTTP surface of Portcullis, assembled with axum: the OAuth endpoints, the HTTP tools API
//! for agents that do not speak MCP, and the MCP endpoint.
//!
//! Design decisions:
//! - Handlers are thin: they parse the transport, call [`Gateway`] and map its answer to the
//!   front's idiom. The order of security stages lives in the pipeline crate, not here.
//! - One function per front maps a [`Denial`] to a response ([`problem`] for HTTP); denials are
//!   answers, so every handler is infallible.
//! - Tower layers are used only for transport plumbing (body limits, request timeouts).
//! - The admin API ([`admin`]) is a separate application for a separate listener, with its own
//!   credential; nothing routes between it and the agents' application.

pub mod admin;
mod serve;
mod sign_in;
mod tls;
mod tools;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portcullis_config::{Config, ConnectionLimits};
use portcullis_core::{CallMeta, Caller, Denial, DenialKind, Front, Principal};
use portcullis_mcp::{McpOptions, McpOptionsError, ToolBackend};
use portcullis_pipeline::{Arrival, Gateway, Refused, TokenForm, TokenRequest};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use crate::admin::admin_app;
pub use serve::{raise_open_file_limit, serve};
pub use tls::{ClientCertificate, Tls, TlsError};

/// Paths of the well-known endpoints, relative to the public base URL.
pub mod paths {
    /// OAuth 2 token endpoint.
    pub const TOKEN: &str = "/oauth/token";
    /// Authorization endpoint (interactive sign-in): the sign-in page.
    pub const AUTHORIZE: &str = "/oauth/authorize";
    /// Where the sign-in form is posted.
    pub const SIGN_IN: &str = "/oauth/authorize/sign-in";
    /// Where the consent form is posted.
    pub const CONSENT: &str = "/oauth/authorize/consent";
    /// Where the sign-in page's button for the organization's identity provider is posted.
    pub const UPSTREAM: &str = "/oauth/authorize/upstream";
    /// Where the organization's identity provider sends the browser back.
    pub const CALLBACK: &str = portcullis_identity::sign_in::CALLBACK_PATH;
    /// Dynamic client registration (RFC 7591).
    pub const REGISTER: &str = "/oauth/register";
    /// JWKS with the token-signing public keys.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// RFC 8414 authorization-server metadata.
    pub const AS_METADATA: &str = "/.well-known/oauth-authorization-server";
    /// RFC 9728 protected-resource metadata of the gateway as a whole (resource: the base URL).
    pub const RESOURCE_METADATA: &str = "/.well-known/oauth-protected-resource";
    /// RFC 9728 protected-resource metadata of the MCP endpoint (resource: the `/mcp` URL).
    pub const MCP_RESOURCE_METADATA: &str = "/.well-known/oauth-protected-resource/mcp";
    /// MCP Streamable HTTP endpoint.
    pub const MCP: &str = portcullis_config::MCP_PATH;
    /// HTTP tools API: list.
    pub const TOOLS: &str = "/v1/tools";
    /// An agent's poll of its own held call: `GET /v1/approvals/{id}`.
    pub const APPROVAL: &str = "/v1/approvals/{id}";
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
struct AppState {
    gateway: Arc<Gateway>,
    base_url: Arc<str>,
    max_body_bytes: usize,
    resource: Arc<ResourceInfo>,
}

/// What the gateway says about itself as an OAuth protected resource (RFC 9728).
struct ResourceInfo {
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
}

/// The assembled HTTP application: the router and the signal that ends long-lived MCP streams
/// on shutdown.
pub struct App {
    router: Router,
    shutdown: CancellationToken,
    tls: Option<Tls>,
    connections: ConnectionLimits,
}

impl App {
    /// Serves over TLS with this configuration (see [`Tls::load`]).
    #[must_use]
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// Builds the application for a gateway and its configuration.
pub fn app(gateway: Arc<Gateway>, config: &Config) -> Result<App, McpOptionsError> {
    let state = AppState {
        gateway: Arc::clone(&gateway),
        base_url: config.listener.base_url().into(),
        max_body_bytes: config.listener.max_body_bytes,
        resource: Arc::new(ResourceInfo {
            authorization_servers: config.authorization_servers(),
            scopes_supported: config.scopes_supported(),
        }),
    };
    let shutdown = CancellationToken::new();
    let options = McpOptions {
        allowed_hosts: config.listener.effective_allowed_hosts(),
        allowed_origins: config.listener.effective_allowed_origins(),
        max_body_bytes: config.listener.max_body_bytes,
        max_sessions: config.mcp.max_sessions,
        max_sessions_per_agent: config.mcp.max_sessions_per_agent,
        session_idle_timeout: config.mcp.session_idle_timeout.get(),
        shutdown: shutdown.clone(),
        resource_metadata: Some(format!(
            "{}{}",
            state.base_url,
            paths::MCP_RESOURCE_METADATA
        )),
        ..McpOptions::default()
    };
    // A host or origin entry that cannot be parsed would match nothing; stop at start-up instead.
    options.validate()?;
    let mcp = portcullis_mcp::mcp_service(
        Arc::new(Backend(Arc::clone(&gateway))) as Arc<dyn ToolBackend>,
        options,
    );
    let authenticated = Router::new()
        .route(paths::TOOLS, get(tools::list))
        .route("/v1/tools/{name}/call", post(tools::call))
        .route(paths::APPROVAL, get(tools::poll_approval))
        .route_service(paths::MCP, mcp)
        // Only on these routes: a path that does not exist is a 404 with or without a token.
        .route_layer(middleware::from_fn_with_state(state.clone(), identify));
    let router = Router::new()
        .route(paths::TOKEN, post(token))
        .route(paths::AUTHORIZE, get(sign_in::authorize))
        .route(paths::SIGN_IN, post(sign_in::sign_in))
        .route(paths::CONSENT, post(sign_in::consent))
        .route(paths::UPSTREAM, post(sign_in::start_upstream))
        .route(paths::CALLBACK, get(sign_in::callback))
        .route(paths::REGISTER, post(sign_in::register))
        .route(paths::JWKS, get(jwks))
        .route(paths::AS_METADATA, get(metadata))
        .route(paths::RESOURCE_METADATA, get(resource_metadata))
        .route(paths::MCP_RESOURCE_METADATA, get(mcp_resource_metadata))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"ok": true})) }),
        )
        .merge(authenticated)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(config.listener.max_body_bytes))
        .with_state(state);
    Ok(App {
        router,
        shutdown,
        tls: None,
        connections: config.listener.connections,
    })
}

/// Any path the gateway does not serve: a 404 problem, whoever asks (not a call, so not
/// recorded).
async fn not_found(request: Request) -> Response {
    not_found_from(client_ip(&request))
}

/// The 404 of a path that is not served, for handlers of features turned off.
pub(crate) fn not_found_response() -> Response {
    not_found_from(None)
}

fn not_found_from(client_ip: Option<IpAddr>) -> Response {
    let meta = CallMeta::now(Front::Http, client_ip);
    let denial = Denial::new(
        DenialKind::NotFound,
        "no such endpoint; tools are at `/v1/tools` and `/mcp`",
    );
    problem(&denial, &meta)
}

/// Adapts the gateway to the MCP front's backend trait.
struct Backend(Arc<Gateway>);

/// A held call's way back to its MCP client.
struct McpHold(Arc<dyn portcullis_mcp::ClientChannel>);

impl portcullis_pipeline::HoldChannel for McpHold {
    fn progress(&self, progress: &portcullis_pipeline::HoldProgress) {
        self.0.progress(progress.message.clone());
    }

    fn confirm(&self, question: String) -> Option<portcullis_pipeline::ConfirmFuture> {
        self.0.confirm(question)
    }
}

impl ToolBackend for Backend {
    fn list_tools(&self, principal: &Principal) -> Vec<Arc<portcullis_catalog::Tool>> {
        self.0.list_tools(principal)
    }

    fn call_tool(&self, caller: &Caller, name: String, args: Value) -> portcullis_mcp::CallFuture {
        let (gateway, caller) = (Arc::clone(&self.0), caller.clone());
        Box::pin(async move { gateway.call(&caller, &name, args).await })
    }

    fn call_tool_with_client(
        &self,
        caller: &Caller,
        name: String,
        args: Value,
        client: Arc<dyn portcullis_mcp::ClientChannel>,
    ) -> portcullis_mcp::CallFuture {
        let (gateway, caller) = (Arc::clone(&self.0), caller.clone());
        let watch: portcullis_pipeline::HoldWatch = Arc::new(McpHold(client));
        Box::pin(async move {
            gateway
                .call_watched(&caller, &name, args, Some(watch))
                .await
        })
    }

    fn step_up(
        &self,
        caller: &Caller,
        name: &str,
        args: Option<&serde_json::Map<String, Value>>,
    ) -> Option<portcullis_mcp::RefusalFuture> {
        self.0
            .step_up(caller, name, args)
            .map(|record| Box::pin(record) as portcullis_mcp::RefusalFuture)
    }

    fn admit(&self, caller: &Caller) -> portcullis_mcp::AdmitFuture {
        let (gateway, caller) = (Arc::clone(&self.0), caller.clone());
        Box::pin(async move { gateway.admit(&caller).await })
    }

    fn refuse(
        &self,
        caller: &Caller,
        tool: Option<&str>,
        denial: Denial,
    ) -> portcullis_mcp::RefusalFuture {
        let (gateway, caller, tool) =
            (Arc::clone(&self.0), caller.clone(), tool.map(str::to_owned));
        Box::pin(async move { gateway.refuse(&caller, tool.as_deref(), denial).await })
    }
}

/// The peer address of the connection, when the server was started with connect info.
fn client_ip(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Stage 2, identify, as a middleware in front of the tools API and MCP: a verified bearer
/// token becomes a [`Caller`] in the request extensions; anything else is answered with 401
/// (the pipeline records it).
async fn identify(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let front = if request.uri().path().starts_with(paths::MCP) {
        Front::Mcp
    } else {
        Front::Http
    };
    let token_in_query = request
        .uri()
        .query()
        .is_some_and(portcullis_identity::query_has_token);
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let certificate = request
        .extensions()
        .get::<ClientCertificate>()
        .and_then(|c| c.peer.as_ref())
        .map(|peer| peer.thumbprint.clone());
    let tool = tools::tool_from_path(request.uri().path());
    let arrival = Arrival {
        front,
        client_ip: client_ip(&request),
        tool: tool.as_deref(),
        authorization,
        token_in_query,
        certificate: certificate.as_deref(),
    };
    let presented = authorization.is_some() || token_in_query;
    match state.gateway.identify(arrival).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(Refused { denial, meta }) => {
            let metadata = state.resource_metadata_url(front);
            unauthorized(&denial, &meta, presented, &metadata)
        }
    }
}

/// 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750) that names the protected-resource
/// metadata (RFC 9728 section 5.1), where an MCP client starts its discovery. The body says only
/// that a valid token is needed; why a presented token failed stays in the audit log.
///
/// The challenge names no `scope`: no scope is needed to use the endpoint as such (listing tools
/// needs none), and naming the scope of the tool in the URL would tell an anonymous caller that
/// the tool exists. A client then asks for the metadata's `scopes_supported` (the MCP scope
/// selection rule), which is granted when its agent holds them all and `invalid_scope` otherwise.
fn unauthorized(denial: &Denial, meta: &CallMeta, presented: bool, metadata: &str) -> Response {
    if denial.kind != DenialKind::Unauthenticated {
        return problem(denial, meta);
    }
    let mut params = vec![("realm", "portcullis")];
    if presented {
        params.push(("error", "invalid_token"));
    }
    params.push(("resource_metadata", metadata));
    let mut response = problem(denial, meta);
    set_challenge(&mut response, &portcullis_core::bearer_challenge(&params));
    response
}

/// Puts a `WWW-Authenticate` header with `challenge` on a response.
fn set_challenge(response: &mut Response, challenge: &str) {
    match HeaderValue::from_str(challenge) {
        Ok(value) => {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        Err(_) => {
            // INVARIANT: the URLs were checked at load and scopes are checked scope tokens.
            tracing::error!("a WWW-Authenticate challenge is not a valid header value");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="portcullis""#),
            );
        }
    }
}

impl AppState {
    /// The protected-resource metadata URL for requests to `front`.
    fn resource_metadata_url(&self, front: Front) -> String {
        let path = match front {
            Front::Mcp => paths::MCP_RESOURCE_METADATA,
            Front::Http | Front::Token | Front::Admin => paths::RESOURCE_METADATA,
        };
        format!("{}{path}", self.base_url)
    }

    /// A denial of the HTTP tools API as problem+json; `insufficient_scope` also carries the
    /// RFC 6750 step-up challenge with the scopes the tool requires.
    fn refusal(&self, denial: &Denial, meta: &CallMeta) -> Response {
        let mut response = problem(denial, meta);
        if denial.kind == DenialKind::InsufficientScope {
            let metadata = self.resource_metadata_url(Front::Http);
            let challenge = denial.step_up_challenge(Some("portcullis"), Some(&metadata));
            set_challenge(&mut response, &challenge);
        }
        response
    }
}

/// A denial as an RFC 9457 problem+json response.
pub(crate) fn problem(denial: &Denial, meta: &CallMeta) -> Response {
    let status =
        StatusCode::from_u16(denial.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = denial.problem(&meta.request_id);
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Some(hint) = denial.rate_limit() {
        set_rate_limit_fields(headers, hint);
    }
    if let Some(approval) = denial.approval() {
        // A held call (202 Accepted): where to poll, and when it is worth it.
        if denial.kind == DenialKind::ApprovalPending {
            let location = paths::APPROVAL.replace("{id}", &approval.id);
            if let Ok(value) = HeaderValue::from_str(&location) {
                headers.insert(header::LOCATION, value);
            }
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(approval.retry_after_secs),
            );
            // Not an error: the body has the problem fields, as plain JSON.
            return response;
        }
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// `Retry-After` (RFC 9110) and the `RateLimit-Policy` and `RateLimit` fields of
/// draft-ietf-httpapi-ratelimit-headers-10: structured-field lists of one item, the limit's
/// name, with `q` (quota) and `w` (window, seconds), and `r` (remaining) and `t` (seconds
/// until it resets), respectively.
fn set_rate_limit_fields(headers: &mut HeaderMap, hint: &portcullis_core::RateLimitHint) {
    // INVARIANT: limit names are configuration names (letters, digits, `-_.@`) or fixed
    // names, so they need no escaping inside a structured-field string; anything else is
    // dropped rather than sent malformed.
    let name: String = hint
        .name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        .collect();
    let fields = [
        ("retry-after", hint.retry_after_secs.to_string()),
        (
            "ratelimit-policy",
            format!("\"{name}\";q={};w={}", hint.quota, hint.window_secs),
        ),
        (
            "ratelimit",
            format!(
                "\"{name}\";r={};t={}",
                hint.remaining, hint.retry_after_secs
            ),
        ),
    ];
    for (field, value) in fields {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(field), value);
        }
    }
}

/// `POST /oauth/token`: the client-credentials and token-exchange grants.
async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    certificate: Option<axum::Extension<ClientCertificate>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| portcullis_core::media_type_is(v, "application/x-www-form-urlencoded"));
    let form = match read_body(body, state.max_body_bytes).await {
        Err(denial) => TokenForm::Unreadable(denial),
        Ok(body) if is_form => TokenForm::Fields(
            url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ),
        Ok(_) => TokenForm::NotForm,
    };
    let request = TokenRequest {
        client_ip: Some(peer.ip()),
        form,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        certificate: certificate.and_then(|axum::Extension(c)| c.peer),
    };
    let mut response = match state.gateway.token(request).await {
        Ok(Ok(token)) => (StatusCode::OK, axum::Json(token)).into_response(),
        Ok(Err(err)) => {
            let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
            let challenge = err.challenge;
            let retry_after = err.retry_after;
            let mut response = (status, axum::Json(&err)).into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            if challenge {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="portcullis""#),
                );
            }
            response
        }
        Err(Refused { denial, meta }) => return problem(&denial, &meta),
    };
    // RFC 6749 section 5.1: token responses must not be cached.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /.well-known/jwks.json`.
async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.gateway.identity().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
async fn metadata(State(state): State<AppState>) -> Response {
    let base = &state.base_url;
    let mut metadata = state.gateway.identity().metadata(
        &format!("{base}{}", paths::TOKEN),
        &format!("{base}{}", paths::JWKS),
    );
    metadata["scopes_supported"] = json!(state.resource.scopes_supported);
    if let Some(sign_in) = state.gateway.sign_in() {
        let config = sign_in.config();
        metadata["authorization_endpoint"] = json!(format!("{base}{}", paths::AUTHORIZE));
        metadata["response_types_supported"] = json!(["code"]);
        metadata["response_modes_supported"] = json!(["query"]);
        metadata["code_challenge_methods_supported"] = json!(["S256"]);
        metadata["authorization_response_iss_parameter_supported"] = json!(true);
        if let Some(grants) = metadata["grant_types_supported"].as_array_mut() {
            grants.push(json!(portcullis_identity::sign_in::AUTHORIZATION_CODE));
            if !config.refresh_token_ttl.is_zero() {
                grants.push(json!(portcullis_identity::sign_in::REFRESH_TOKEN));
            }
        }
        if let Some(methods) = metadata["token_endpoint_auth_methods_supported"].as_array_mut() {
            methods.push(json!("none"));
        }
        if config.dynamic_registration {
            metadata["registration_endpoint"] = json!(format!("{base}{}", paths::REGISTER));
        }
        metadata["client_id_metadata_document_supported"] = json!(config.client_metadata_documents);
    }
    axum::Json(metadata).into_response()
}

/// `GET /.well-known/oauth-protected-resource` (RFC 9728): the gateway as a whole, the
/// resource of the HTTP tools API.
async fn resource_metadata(State(state): State<AppState>) -> Response {
    protected_resource(&state, state.base_url.to_string(), "Portcullis")
}

/// `GET /.well-known/oauth-protected-resource/mcp` (RFC 9728 section 3.1, the well-known
/// suffix inserted before the resource's path): the MCP endpoint.
async fn mcp_resource_metadata(State(state): State<AppState>) -> Response {
    let resource = format!("{}{}", state.base_url, paths::MCP);
    protected_resource(&state, resource, "Portcullis MCP endpoint")
}

/// RFC 9728 section 2 metadata for `resource`. Tokens go in the `Authorization` header only, so
/// `bearer_methods_supported` is `header`. Section 3.3: `resource` must be the identifier the
/// well-known URL was built from, which the client checks.
fn protected_resource(state: &AppState, resource: String, name: &str) -> Response {
    let body = json!({
        "resource": resource,
        "authorization_servers": state.resource.authorization_servers,
        "scopes_supported": state.resource.scopes_supported,
        "bearer_methods_supported": ["header"],
        "resource_name": name,
    });
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// Reads a request body that must be JSON, answering the front's problem on failure.
pub(crate) async fn read_json(body: Body, limit: usize) -> Result<Value, Denial> {
    let bytes = read_body(body, limit).await?;
    if bytes.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(&bytes).map_err(|err| {
        Denial::new(
            DenialKind::InvalidArguments,
            format!(
                "the request body is not valid JSON (line {}, column {}): send the arguments as a JSON object",
                err.line(),
                err.column()
            ),
        )
    })
}

/// Reads a whole request body of at most `limit` bytes: `too_large` beyond it (413),
/// `timed_out` when it did not arrive within the listener's body timeout (408).
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, Denial> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let source = err.into_inner();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
        while let Some(error) = cause {
            if error.is::<portcullis_core::BodyTimedOut>() {
                return Denial::new(
                    DenialKind::TimedOut,
                    "the request body did not arrive in time; send it at once",
                );
            }
            if error.is::<http_body_util::LengthLimitError>() {
                return Denial::new(
                    DenialKind::TooLarge,
                    format!("the request body exceeds {limit} bytes"),
                );
            }
            cause = error.source();
        }
        Denial::new(DenialKind::BadRequest, "the request body could not be read")
    })
}

/// The problem+json body of a refusal that no request id was minted for (a connection refused
/// at its cap), as bytes.
pub(crate) fn problem_body(kind: DenialKind, detail: &str) -> Vec<u8> {
    let denial = Denial::new(kind, detail);
    serde_json::to_vec(&denial.problem(&uuid::Uuid::now_v7())).unwrap_or_default()
}
