//! The `rmcp` server handler: tools only, backed by a [`ToolBackend`].
//!
//! One handler exists per handshake session, or per request for stateless 2026-07-28 calls.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use portcullis_core::{Caller, Principal};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, InitializeRequestParams,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::ToolBackend;
use crate::answer::{self, INTERNAL_MESSAGE};

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
pub(crate) struct SessionOwner {
    pub(crate) agent: String,
    subject: String,
}

impl SessionOwner {
    pub(crate) fn of(principal: &Principal) -> Self {
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

    /// The identified caller of the current HTTP request, checked against the session owner.
    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
        let caller = request_caller(context)?;
        if let Some(owner) = self.owner.get()
            && *owner != SessionOwner::of(&caller.principal)
        {
            tracing::warn!(
                agent = %caller.principal.agent,
                owner = %owner.agent,
                "refused a request on a session opened by another caller"
            );
            return Err(ErrorData::invalid_request(
                "the session was opened by another caller; start a new session",
                None,
            ));
        }
        Ok(caller)
    }
}

/// The caller the identify middleware put into the HTTP request extensions; `rmcp` hands the
/// request's `http::request::Parts` to the handler.
fn request_caller(context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
    let caller = context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>());
    let Some(caller) = caller else {
        // INVARIANT: the identify middleware runs first and either inserts a caller or answers
        // 401 itself; reaching this line is a wiring bug, so fail closed.
        tracing::error!("MCP request reached the handler without an identified caller");
        return Err(ErrorData::internal_error(INTERNAL_MESSAGE, None));
    };
    Ok(caller.clone())
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
        let caller = request_caller(&context)?;
        if self.owner.set(SessionOwner::of(&caller.principal)).is_err() {
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
        let caller = self.caller(&context)?;
        let tools = self
            .backend
            .list_tools(&caller.principal)
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
        let caller = self.caller(&context)?;
        let name = request.name.into_owned();
        let args = Value::Object(request.arguments.unwrap_or_default());
        // The backend detaches the call: if the client disconnects and `rmcp` drops this
        // future, the call still reaches its audit step instead of stopping halfway.
        // The way back to the client while the call runs: progress notifications when the
        // client sent a progress token (a call held for approval says every few seconds that it
        // still waits, so that the client's request timeout does not cut it), and the user's
        // confirmation through elicitation when the client declared it.
        let token = context.meta.get_progress_token();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let channel = Arc::new(Channel {
            progress: token.is_some().then_some(tx),
            peer: context.peer.clone(),
        });
        let call = self
            .backend
            .call_tool_with_client(&caller, name.clone(), args, channel);
        tokio::pin!(call);
        let mut step = 0.0_f64;
        let outcome = loop {
            tokio::select! {
                outcome = &mut call => break outcome,
                Some(message) = rx.recv() => {
                    let Some(token) = &token else { continue };
                    step += 1.0;
                    let note = rmcp::model::ProgressNotificationParam::new(token.clone(), step)
                        .with_message(message);
                    // A client gone away ends the call's wait on its own; nothing to do here.
                    let _ = context.peer.notify_progress(note).await;
                }
            }
        };
        answer::call_answer(&name, outcome).map(CallToolResponse::from)
    }
}

/// One `tools/call`'s way back to its client.
struct Channel {
    /// Where progress sentences go, when the client asked for progress.
    progress: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    peer: rmcp::Peer<RoleServer>,
}

impl crate::ClientChannel for Channel {
    fn progress(&self, message: String) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(message);
        }
    }

    fn confirm(&self, question: String) -> Option<crate::ConfirmFuture> {
        use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
        use rmcp::service::ElicitationMode;
        if !self
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form)
        {
            return None;
        }
        let schema = ElicitationSchema::builder()
            .required_bool_property("approve", |b| {
                b.title("Allow this call")
                    .description("Let the agent make exactly this call once")
            })
            .build_unchecked();
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: question,
            requested_schema: schema,
        };
        let peer = self.peer.clone();
        Some(Box::pin(async move {
            let result = peer
                .create_elicitation(params)
                .await
                .map_err(|e| e.to_string())?;
            Ok(result.action == ElicitationAction::Accept
                && result
                    .content
                    .as_ref()
                    .and_then(|c| c.get("approve"))
                    .and_then(serde_json::Value::as_bool)
                    == Some(true))
        }))
    }
}
