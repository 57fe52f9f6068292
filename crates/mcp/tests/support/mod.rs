//! A loopback MCP server over a fake backend, plus raw JSON-RPC helpers.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: not every helper is used, and a failure must abort the test"
)]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use portcullis_catalog::Tool;
use portcullis_config::RiskClass;
use portcullis_core::{
    CallMeta, Caller, Denial, DenialKind, Front, Principal, UpstreamResponse, Violation,
};
use portcullis_mcp::{CallFuture, McpOptions, RefusalFuture, ToolBackend, mcp_service};
use serde_json::{Value, json};

/// One call the fake pipeline received.
#[derive(Clone, Debug)]
pub(crate) struct RecordedCall {
    pub(crate) agent: String,
    pub(crate) front: Front,
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) tool: String,
    pub(crate) args: Value,
}

/// One refusal the fake pipeline was asked to record.
#[derive(Clone, Debug)]
pub(crate) struct RecordedRefusal {
    pub(crate) agent: String,
    pub(crate) tool: Option<String>,
    pub(crate) kind: DenialKind,
}

/// Tools: `list_orders` (everyone), `refund_order`, `create_order`, `flaky_report`, `explode`,
/// `slow_report` (alice only). Bob is the restricted agent.
pub(crate) struct FakeBackend {
    tools: Vec<Arc<Tool>>,
    pub(crate) calls: Mutex<Vec<RecordedCall>>,
    pub(crate) refusals: Mutex<Vec<RecordedRefusal>>,
}

fn tool(name: &str, description: &str) -> Arc<Tool> {
    Arc::new(Tool {
        name: name.into(),
        api: "orders".into(),
        operation_id: name.into(),
        method: "POST".into(),
        path: format!("/{name}"),
        description: description.into(),
        params: Vec::new(),
        body: None,
        input_schema: json!({
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "additionalProperties": true
        }),
        output_schema: None,
        risk: RiskClass::Low,
        scopes: Vec::new(),
    })
}

impl FakeBackend {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            tools: vec![
                tool("list_orders", "List orders."),
                tool("refund_order", "Refund an order."),
                tool("create_order", "Create an order."),
                tool("flaky_report", "A report the upstream often fails."),
                tool("explode", "Fails inside the gateway."),
                tool("slow_report", "Answers after half a second."),
            ],
            calls: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
        })
    }

    fn visible(&self, principal: &Principal) -> Vec<Arc<Tool>> {
        self.tools
            .iter()
            .filter(|tool| principal.agent == "alice" || tool.name == "list_orders")
            .cloned()
            .collect()
    }

    pub(crate) fn recorded(&self) -> Vec<RecordedCall> {
        self.calls.lock().unwrap().clone()
    }

    pub(crate) fn refusals(&self) -> Vec<RecordedRefusal> {
        self.refusals.lock().unwrap().clone()
    }
}

impl ToolBackend for FakeBackend {
    fn list_tools(&self, principal: &Principal) -> Vec<Arc<Tool>> {
        self.visible(principal)
    }

    fn refuse(&self, caller: &Caller, tool: Option<&str>, denial: Denial) -> RefusalFuture {
        self.refusals.lock().unwrap().push(RecordedRefusal {
            agent: caller.principal.agent.clone(),
            tool: tool.map(str::to_owned),
            kind: denial.kind,
        });
        Box::pin(async move { denial })
    }

    fn call_tool(&self, caller: &Caller, name: String, args: Value) -> CallFuture {
        let visible = self
            .visible(&caller.principal)
            .iter()
            .any(|t| t.name == name);
        self.calls.lock().unwrap().push(RecordedCall {
            agent: caller.principal.agent.clone(),
            front: caller.meta.front,
            client_ip: caller.meta.client_ip,
            tool: name.clone(),
            args: args.clone(),
        });
        Box::pin(async move {
            if !visible {
                return Err(Denial::unknown_tool(&name));
            }
            let secret = |mut denial: Denial| {
                denial.policies = vec!["policy-refunds-7".into()];
                denial.internal = vec!["upstream token sk-live-123".into()];
                denial
            };
            match name.as_str() {
                "list_orders" => Ok(UpstreamResponse {
                    status: 200,
                    body: json!({"orders": [{"id": "o-1"}], "echo": args}),
                    content_type: Some("application/json".into()),
                    notices: Vec::new(),
                }),
                "slow_report" => {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    Ok(UpstreamResponse {
                        status: 200,
                        body: json!({"report": "done"}),
                        content_type: Some("application/json".into()),
                        notices: Vec::new(),
                    })
                }
                "flaky_report" => Ok(UpstreamResponse {
                    status: 503,
                    body: json!("maintenance"),
                    content_type: Some("text/plain".into()),
                    notices: Vec::new(),
                }),
                "refund_order" => Err(secret(Denial::new(
                    DenialKind::Forbidden,
                    "refunds need a human approval",
                ))),
                "create_order" => {
                    let mut denial = secret(Denial::new(
                        DenialKind::InvalidArguments,
                        "the arguments do not match the tool schema",
                    ));
                    denial.violations = vec![Violation {
                        path: "/quantity".into(),
                        rule: "minimum".into(),
                        message: "must be at least 1".into(),
                    }];
                    Err(denial)
                }
                _ => Err(secret(Denial::new(
                    DenialKind::Internal,
                    "audit store down",
                ))),
            }
        })
    }
}

/// Stand-in for the lead's authentication middleware: `Authorization: Bearer <agent>` becomes a
/// principal; no header means no principal.
async fn fake_auth(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let agent = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let Some(agent) = agent {
        request.extensions_mut().insert(Caller {
            principal: Arc::new(Principal {
                agent: agent.clone(),
                subject: agent.clone(),
                roles: Vec::new(),
                scopes: Vec::new(),
                token_id: format!("jti-{agent}"),
                issued_at: 0,
                expires_at: i64::MAX,
                user: None,
                actors: Vec::new(),
                certificate_thumbprint: None,
                mcp_only: false,
            }),
            meta: CallMeta::now(Front::Mcp, Some(peer.ip())),
        });
    }
    next.run(request).await
}

pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) backend: Arc<FakeBackend>,
}

impl TestServer {
    pub(crate) fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

pub(crate) fn test_options() -> McpOptions {
    McpOptions {
        allowed_hosts: vec!["127.0.0.1".into()],
        allowed_origins: vec!["https://console.example.com".into()],
        max_body_bytes: 64 * 1024,
        max_sessions: 8,
        ..McpOptions::default()
    }
}

pub(crate) async fn start(options: McpOptions) -> TestServer {
    let backend = FakeBackend::new();
    options.validate().expect("valid options");
    let service = mcp_service(backend.clone(), options);
    let app = Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn(fake_auth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestServer { addr, backend }
}

/// A raw JSON-RPC POST, as an MCP client sends it.
pub(crate) async fn post(
    url: &str,
    agent: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .timeout(Duration::from_secs(10))
        .body(body);
    if let Some(agent) = agent {
        request = request.bearer_auth(agent);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The JSON-RPC response in an answer: the JSON body, or the first SSE event that carries a
/// result or an error (SSE streams may stay open, so reading stops there).
pub(crate) async fn jsonrpc_answer(mut response: reqwest::Response) -> Value {
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        let text = response.text().await.unwrap();
        return serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    }
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("SSE event in time")
            .unwrap()
            .expect("stream ended before a response");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        for line in buffer.lines() {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            if let Ok(message) = serde_json::from_str::<Value>(data.trim())
                && (message.get("result").is_some() || message.get("error").is_some())
            {
                return message;
            }
        }
    }
}

/// `_meta` for a stateless 2026-07-28 request.
pub(crate) fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"}
    })
}
