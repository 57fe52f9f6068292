//! The `rmcp` server handler: tools only, backed by a [`ToolBackend`].
//!
//! One handler exists per handshake session, or per request for stateless 2026-07-28 calls.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use portcullis_core::{CallMeta, Front, Principal};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, InitializeRequestParams,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::answer::{self, INTERNAL_MESSAGE};
use crate::{McpCaller, ToolBackend};

/// The protocol revisions this front implements. Older clients are offered 2025-11-25 by the
/// SDK's negotiation and may accept it or disconnect.
const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

const INSTRUCTIONS: &str = "Portcullis exposes organization APIs as tools; every call is checked \
                            against policy and recorded in an audit log.";

/// Serves `tools/list` and `tools/call` for one session or one stateless request.
pub(crate) struct GatewayHandler {
    backend: Arc<dyn ToolBackend>,
    /// Who opened the session (handshake mode only); every later request must come from them.
    owner: OnceLock<SessionOwner>,
}

/// The identity a handshake session is bound to.
#[derive(Debug, PartialEq, Eq)]
struct SessionOwner {
    agent: String,
    subject: String,
}

impl SessionOwner {
    fn of(principal: &Principal) -> Self {
        Self {
            agent: principal.agent.clone(),
            subject: principal.subject.clone(),
        }
    }
}

impl GatewayHandler {
    pub(crate) fn new(backend: Arc<dyn ToolBackend>) -> Self {
        Self {
            backend,
            owner: OnceLock::new(),
        }
    }

    /// The authenticated caller of the current HTTP request, checked against the session owner.
    fn caller(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<(Principal, Option<IpAddr>), ErrorData> {
        let (principal, client_ip) = request_caller(context)?;
        if let Some(owner) = self.owner.get()
            && *owner != SessionOwner::of(&principal)
        {
            tracing::warn!(
                agent = %principal.agent,
                owner = %owner.agent,
                "refused a request on a session opened by another caller"
            );
            return Err(ErrorData::invalid_request(
                "the session was opened by another caller; start a new session",
                None,
            ));
        }
        Ok((principal, client_ip))
    }
}

/// Reads the principal and connection facts that the authentication middleware put into the
/// HTTP request extensions; `rmcp` hands the request's `http::request::Parts` to the handler.
fn request_caller(
    context: &RequestContext<RoleServer>,
) -> Result<(Principal, Option<IpAddr>), ErrorData> {
    let parts = context.extensions.get::<http::request::Parts>();
    let principal = parts.and_then(|parts| parts.extensions.get::<Principal>());
    let Some(principal) = principal else {
        // INVARIANT: the authentication middleware runs first and either inserts a principal or
        // answers 401 itself; reaching this line is a wiring bug, so fail closed.
        tracing::error!("MCP request reached the handler without an authenticated principal");
        return Err(ErrorData::internal_error(INTERNAL_MESSAGE, None));
    };
    let client_ip = parts
        .and_then(|parts| parts.extensions.get::<McpCaller>())
        .and_then(|caller| caller.client_ip);
    Ok((principal.clone(), client_ip))
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("portcullis", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(SUPPORTED_VERSIONS)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let (principal, _) = request_caller(&context)?;
        if self.owner.set(SessionOwner::of(&principal)).is_err() {
            return Err(ErrorData::invalid_request(
                "the session is already initialized",
                None,
            ));
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (principal, _) = self.caller(&context)?;
        let tools = self
            .backend
            .list_tools(&principal)
            .iter()
            .map(|tool| answer::describe_tool(tool))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (principal, client_ip) = self.caller(&context)?;
        let name = request.name.into_owned();
        let args = Value::Object(request.arguments.unwrap_or_default());
        let meta = CallMeta::now(Front::Mcp, client_ip);
        // The pipeline runs on its own task: if the client disconnects and `rmcp` drops this
        // future, the call still reaches its audit step instead of stopping halfway.
        let call = self.backend.call_tool(principal, meta, name.clone(), args);
        let outcome = tokio::spawn(call).await.map_err(|error| {
            tracing::error!(%error, "the tools/call task failed");
            ErrorData::internal_error(INTERNAL_MESSAGE, None)
        })?;
        answer::call_answer(&name, outcome).map(CallToolResponse::from)
    }
}
