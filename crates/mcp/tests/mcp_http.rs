//! The MCP endpoint over loopback HTTP: driven by the `rmcp` client in both lifecycles, and by
//! raw JSON-RPC posts for the edge cases a well-behaved client never produces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure must abort the test"
)]

mod support;

use std::collections::BTreeSet;

use portcullis_core::{DenialKind, Front};
use portcullis_mcp::McpOptions;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig, ErrorCode, JsonObject, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use support::{TestServer, jsonrpc_answer, post, start, stateless_meta, test_options};

fn transport(url: &str, agent: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(agent),
    )
}

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments must be an object"),
    }
}

fn names(tools: &[rmcp::model::Tool]) -> BTreeSet<String> {
    tools.iter().map(|tool| tool.name.to_string()).collect()
}

// === rmcp client ===

async fn handshake_client_round_trip(version: ProtocolVersion) {
    let server = start(test_options()).await;
    let mut info = ClientConfig::default();
    info.protocol_version = version.clone();
    let client = info
        .serve(transport(&server.url(), "alice"))
        .await
        .expect("handshake");
    let peer = client.peer_info().expect("server info");
    assert_eq!(peer.protocol_version, version);
    let implementation = peer.server_info.clone().expect("server implementation");
    assert_eq!(implementation.name, "portcullis");
    assert_eq!(implementation.version, env!("CARGO_PKG_VERSION"));
    assert!(peer.capabilities.tools.is_some());
    assert!(peer.capabilities.resources.is_none());
    assert!(peer.instructions.is_some());

    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 6);
    let list_orders = tools.iter().find(|t| t.name == "list_orders").unwrap();
    assert_eq!(list_orders.description.as_deref(), Some("List orders."));
    assert_eq!(list_orders.input_schema["type"], "object");

    let result = client
        .call_tool(
            CallToolRequestParams::new("list_orders")
                .with_arguments(args(json!({"order_id": "o-1"}))),
        )
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(
        result.structured_content.as_ref().unwrap()["echo"],
        json!({"order_id": "o-1"})
    );

    let calls = server.backend.recorded();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].agent, "alice");
    assert_eq!(calls[0].front, Front::Mcp);
    assert_eq!(calls[0].client_ip, Some("127.0.0.1".parse().unwrap()));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_handshake_2025_11_25() {
    handshake_client_round_trip(ProtocolVersion::V_2025_11_25).await;
}

#[tokio::test]
async fn rmcp_client_handshake_2025_06_18() {
    handshake_client_round_trip(ProtocolVersion::V_2025_06_18).await;
}

#[tokio::test]
async fn rmcp_client_stateless_2026_07_28() {
    let server = start(test_options()).await;
    let client = ()
        .serve_with_lifecycle(
            transport(&server.url(), "bob"),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover");
    let peer = client.peer_info().expect("server info");
    assert_eq!(peer.protocol_version, ProtocolVersion::V_2026_07_28);

    // Bob sees only what the backend lists for him.
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(names(&tools), BTreeSet::from(["list_orders".to_owned()]));

    let result = client
        .call_tool(CallToolRequestParams::new("list_orders"))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(
        result.structured_content.as_ref().unwrap()["echo"],
        json!({})
    );

    // A hidden tool and a missing one get the same JSON-RPC error.
    let hidden = client
        .call_tool(CallToolRequestParams::new("refund_order"))
        .await
        .unwrap_err();
    let missing = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .unwrap_err();
    let (ServiceError::McpError(hidden), ServiceError::McpError(missing)) = (hidden, missing)
    else {
        panic!("expected JSON-RPC errors");
    };
    assert_eq!(hidden.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(hidden.message, "unknown tool `refund_order`");
    assert_eq!(missing.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(missing.message, "unknown tool `no_such_tool`");
    assert!(server.backend.recorded().iter().all(|c| c.agent == "bob"));
    client.cancel().await.unwrap();
}

// === raw JSON-RPC, handshake mode ===

/// Runs `initialize` + `notifications/initialized`; returns the session id.
async fn open_session(url: &str, agent: &str, version: &str) -> String {
    let response = post(
        url,
        Some(agent),
        &[],
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "1"}
            }
        })
        .to_string(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let session = response
        .headers()
        .get("mcp-session-id")
        .expect("session id")
        .to_str()
        .unwrap()
        .to_owned();
    let answer = jsonrpc_answer(response).await;
    assert_eq!(answer["result"]["protocolVersion"], version);
    assert_eq!(answer["result"]["serverInfo"]["name"], "portcullis");
    assert_eq!(answer["result"]["capabilities"], json!({"tools": {}}));

    let response = post(
        url,
        Some(agent),
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", version),
        ],
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 202);
    session
}

async fn session_call(url: &str, agent: &str, session: &str, body: Value) -> Value {
    let response = post(
        url,
        Some(agent),
        &[
            ("mcp-session-id", session),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        body.to_string(),
    )
    .await;
    assert_eq!(response.status(), 200);
    jsonrpc_answer(response).await
}

fn tool_call(id: u32, name: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}
    })
}

#[tokio::test]
async fn raw_session_list_and_call() {
    let server = start(test_options()).await;
    let url = server.url();
    let session = open_session(&url, "alice", "2025-11-25").await;

    let list = session_call(
        &url,
        "alice",
        &session,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let listed: BTreeSet<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([
            "create_order",
            "explode",
            "flaky_report",
            "list_orders",
            "refund_order",
            "slow_report"
        ])
    );
    // Legacy peers get no 2026-07-28 result fields.
    assert!(list["result"].get("resultType").is_none());

    let ok = session_call(
        &url,
        "alice",
        &session,
        tool_call(3, "list_orders", json!({"order_id": "o-9"})),
    )
    .await;
    assert_eq!(ok["id"], 3);
    assert_eq!(ok["result"]["isError"], false);
    let text = ok["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        ok["result"]["structuredContent"]
    );

    let unknown = session_call(&url, "alice", &session, tool_call(4, "nope", json!({}))).await;
    assert_eq!(unknown["error"]["code"], -32602);
    assert_eq!(unknown["error"]["message"], "unknown tool `nope`");

    let forbidden = session_call(
        &url,
        "alice",
        &session,
        tool_call(5, "refund_order", json!({})),
    )
    .await;
    assert_eq!(forbidden["result"]["isError"], true);
    assert_eq!(
        forbidden["result"]["content"][0]["text"],
        "refunds need a human approval"
    );
    assert_eq!(
        forbidden["result"]["structuredContent"],
        json!({"error": "forbidden", "message": "refunds need a human approval", "violations": []})
    );

    let invalid = session_call(
        &url,
        "alice",
        &session,
        tool_call(6, "create_order", json!({"quantity": 0})),
    )
    .await;
    assert_eq!(invalid["result"]["isError"], true);
    assert_eq!(
        invalid["result"]["content"][0]["text"],
        "the arguments do not match the tool schema\n/quantity: must be at least 1"
    );
    assert_eq!(
        invalid["result"]["structuredContent"]["violations"],
        json!([{"path": "/quantity", "rule": "minimum", "message": "must be at least 1"}])
    );

    let flaky = session_call(
        &url,
        "alice",
        &session,
        tool_call(7, "flaky_report", json!({})),
    )
    .await;
    assert_eq!(flaky["result"]["isError"], true);
    assert_eq!(
        flaky["result"]["content"][0]["text"],
        "upstream answered HTTP 503\nmaintenance"
    );
    assert!(flaky["result"].get("structuredContent").is_none());

    let internal = session_call(&url, "alice", &session, tool_call(8, "explode", json!({}))).await;
    assert_eq!(internal["error"]["code"], -32603);

    for answer in [&forbidden, &invalid, &internal] {
        let wire = answer.to_string();
        assert!(!wire.contains("policy-refunds-7"), "{wire}");
        assert!(!wire.contains("sk-live-123"), "{wire}");
        assert!(!wire.contains("audit store down"), "{wire}");
    }
}

#[tokio::test]
async fn a_request_id_in_flight_cannot_be_reused_in_the_session() {
    let server = start(test_options()).await;
    let url = server.url();
    let session = open_session(&url, "alice", "2025-11-25").await;

    let slow = {
        let (url, session) = (url.clone(), session.clone());
        tokio::spawn(async move {
            session_call(
                &url,
                "alice",
                &session,
                tool_call(7, "slow_report", json!({})),
            )
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;

    // The same id while the first call runs: refused at once, naming the id.
    let started = std::time::Instant::now();
    let response = post(
        &url,
        Some("alice"),
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        tool_call(7, "list_orders", json!({})).to_string(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["error"]["code"], -32600);
    assert!(started.elapsed() < std::time::Duration::from_millis(300));
    let refusals = server.backend.refusals();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].kind, DenialKind::BadRequest);
    assert_eq!(refusals[0].tool.as_deref(), Some("list_orders"));

    // The string "7" is another id, and so is 8: both are served while 7 is in flight.
    let mut call = tool_call(0, "list_orders", json!({}));
    call["id"] = json!("7");
    let answer = session_call(&url, "alice", &session, call).await;
    assert_eq!(answer["id"], "7");
    assert_eq!(answer["result"]["isError"], false);
    let answer = session_call(
        &url,
        "alice",
        &session,
        tool_call(8, "list_orders", json!({})),
    )
    .await;
    assert_eq!(answer["result"]["isError"], false);

    // The first call still gets its own answer, and then its id is free again.
    let first = slow.await.unwrap();
    assert_eq!(first["id"], 7);
    assert_eq!(first["result"]["structuredContent"]["report"], "done");
    let answer = session_call(
        &url,
        "alice",
        &session,
        tool_call(7, "list_orders", json!({})),
    )
    .await;
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["isError"], false);
}

#[tokio::test]
async fn raw_session_2025_06_18_handshake() {
    let server = start(test_options()).await;
    let url = server.url();
    let session = open_session(&url, "bob", "2025-06-18").await;
    let response = post(
        &url,
        Some("bob"),
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", "2025-06-18"),
        ],
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string(),
    )
    .await;
    let list = jsonrpc_answer(response).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_session_cannot_be_used_by_another_caller() {
    let server = start(test_options()).await;
    let url = server.url();
    let session = open_session(&url, "alice", "2025-11-25").await;
    let call = |agent: &'static str, session: String| {
        let url = url.clone();
        async move {
            post(
                &url,
                Some(agent),
                &[
                    ("mcp-session-id", &session),
                    ("mcp-protocol-version", "2025-11-25"),
                ],
                tool_call(2, "list_orders", json!({})).to_string(),
            )
            .await
        }
    };
    // To another caller the session does not exist: the very answer of an unknown session.
    let foreign = call("bob", session.clone()).await;
    let unknown = call("bob", "no-such-session".to_owned()).await;
    assert_eq!(foreign.status(), 404);
    assert_eq!(unknown.status(), 404);
    assert_eq!(foreign.headers()["content-type"], "application/json");
    assert_eq!(foreign.text().await.unwrap(), unknown.text().await.unwrap());
    assert!(server.backend.recorded().is_empty());
    let refusals = server.backend.refusals();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|r| r.agent == "bob" && r.kind == DenialKind::BadRequest)
    );

    // Nor can it listen to the session's stream or end it: again the answers of an unknown
    // session.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let send = |session: String| {
            let (url, method) = (url.clone(), method.clone());
            async move {
                let response = reqwest::Client::new()
                    .request(method, &url)
                    .bearer_auth("bob")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-session-id", session)
                    .header("mcp-protocol-version", "2025-11-25")
                    .send()
                    .await
                    .unwrap();
                (response.status(), response.text().await.unwrap())
            }
        };
        let foreign = send(session.clone()).await;
        let unknown = send("no-such-session".to_owned()).await;
        assert_eq!(foreign, unknown, "{method}");
    }
    // The owner's session is untouched.
    let answer = session_call(
        &url,
        "alice",
        &session,
        tool_call(3, "list_orders", json!({})),
    )
    .await;
    assert_eq!(answer["result"]["isError"], false);
}

#[tokio::test]
async fn sessions_are_capped_per_agent_and_the_owner_can_end_them() {
    let mut options = test_options();
    options.max_sessions_per_agent = 2;
    let server = start(options).await;
    let url = server.url();
    let first = open_session(&url, "alice", "2025-11-25").await;
    open_session(&url, "alice", "2025-11-25").await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    })
    .to_string();
    let refused = post(&url, Some("alice"), &[], initialize.clone()).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let answer = jsonrpc_answer(refused).await;
    assert_eq!(answer["error"]["data"]["error"], "rate_limited");
    assert_refusals(&server, &[DenialKind::RateLimited]);
    // Another agent is not locked out.
    open_session(&url, "bob", "2025-11-25").await;

    // Ending a session frees its place.
    let ended = reqwest::Client::new()
        .delete(&url)
        .bearer_auth("alice")
        .header("mcp-session-id", &first)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    open_session(&url, "alice", "2025-11-25").await;
}

#[tokio::test]
async fn refusals_never_echo_request_headers_and_are_json() {
    let server = start(test_options()).await;
    let url = server.url();
    let session = open_session(&url, "alice", "2025-11-25").await;
    let hostile = "<script>alert(1)</script>";
    let response = post(
        &url,
        Some("alice"),
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", hostile),
        ],
        tool_call(2, "list_orders", json!({})).to_string(),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    assert!(!text.contains("script"), "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], -32600);

    // A wrong content type and a wrong Accept: JSON answers in our words.
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth("alice")
        .header("content-type", "text/plain")
        .header("accept", "application/json, text/event-stream")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(response.headers()["content-type"], "application/json");
    let refusals = server.backend.refusals();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
}

#[tokio::test]
async fn a_request_without_principal_fails_closed() {
    let server = start(test_options()).await;
    let url = server.url();
    let session = open_session(&url, "alice", "2025-11-25").await;
    let response = post(
        &url,
        None,
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        tool_call(2, "list_orders", json!({})).to_string(),
    )
    .await;
    let answer = jsonrpc_answer(response).await;
    assert_eq!(answer["error"]["code"], -32603);

    // Stateless requests too.
    let response = post(
        &url,
        None,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ],
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": stateless_meta()}})
            .to_string(),
    )
    .await;
    let answer = jsonrpc_answer(response).await;
    assert_eq!(answer["error"]["code"], -32603);
    assert!(server.backend.recorded().is_empty());
}

// === raw JSON-RPC, stateless 2026-07-28 ===

#[tokio::test]
async fn raw_stateless_requests_need_no_session() {
    let server = start(test_options()).await;
    let url = server.url();
    let response = post(
        &url,
        Some("alice"),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": stateless_meta()}})
            .to_string(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("mcp-session-id").is_none());
    let list = jsonrpc_answer(response).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 6);
    // The list depends on the caller: it must not be cached for anyone else.
    assert_eq!(list["result"]["cacheScope"], "private");

    let call = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "list_orders", "arguments": {"order_id": "x"}, "_meta": stateless_meta()}
    });
    let response = post(
        &url,
        Some("alice"),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "list_orders"),
        ],
        call.to_string(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("mcp-session-id").is_none());
    let answer = jsonrpc_answer(response).await;
    assert_eq!(answer["result"]["isError"], false);
    assert_eq!(
        answer["result"]["structuredContent"]["echo"],
        json!({"order_id": "x"})
    );

    // Mcp-Name must agree with the body.
    let response = post(
        &url,
        Some("alice"),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "refund_order"),
        ],
        call.to_string(),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(jsonrpc_answer(response).await["error"]["code"], -32020);
    assert_eq!(server.backend.recorded().len(), 1);
}

/// The stateless fast path (served without `rmcp`'s per-request service) answers every
/// `tools/call` byte for byte as `rmcp` does: status, content type and body, for results, tool
/// errors, JSON-RPC errors, a missing principal, string ids, and the requests it leaves to `rmcp`.
#[tokio::test]
async fn the_stateless_fast_path_answers_what_rmcp_answers() {
    let fast = start(test_options()).await;
    let slow = start(McpOptions {
        stateless_fast_path: false,
        ..test_options()
    })
    .await;
    let call = |id: Value, name: &str, arguments: Value| {
        json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": stateless_meta()}
        })
        .to_string()
    };
    let with_meta = |id: Value, meta: Value| {
        json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "list_orders", "arguments": {"order_id": "m"}, "_meta": meta}
        })
        .to_string()
    };
    let plain = |name: &'static str| {
        vec![
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", name),
        ]
    };
    // Agent, headers beside the usual ones, body.
    type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case<'_>> = vec![
        (
            Some("alice"),
            plain("list_orders"),
            call(json!(1), "list_orders", json!({"order_id": "x"})),
        ),
        (
            Some("alice"),
            plain("list_orders"),
            call(json!("req-7"), "list_orders", json!({})),
        ),
        (
            Some("alice"),
            plain("flaky_report"),
            call(json!(2), "flaky_report", json!({})),
        ),
        (
            Some("alice"),
            plain("refund_order"),
            call(json!(3), "refund_order", json!({"order_id": "o-1"})),
        ),
        (
            Some("alice"),
            plain("create_order"),
            call(json!(4), "create_order", json!({"quantity": 0})),
        ),
        (
            Some("alice"),
            plain("explode"),
            call(json!(5), "explode", json!({})),
        ),
        // Hidden from bob: an unknown tool.
        (
            Some("bob"),
            plain("refund_order"),
            call(json!(6), "refund_order", json!({})),
        ),
        // No principal: fails closed.
        (
            None,
            plain("list_orders"),
            call(json!(7), "list_orders", json!({})),
        ),
        // Left to rmcp: a mismatched name, a missing header, a duplicate header.
        (
            Some("alice"),
            plain("refund_order"),
            call(json!(8), "list_orders", json!({})),
        ),
        (
            Some("alice"),
            vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
            ],
            call(json!(9), "list_orders", json!({})),
        ),
        (
            Some("alice"),
            vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "list_orders"),
            ],
            call(json!(10), "list_orders", json!({})),
        ),
        // Shapes around the light decoder's one shape: richer capabilities, no client info
        // and an integral float id are decoded by it; a progress token, a retry field and an
        // unknown member are not, and go the general way.
        (
            Some("alice"),
            plain("list_orders"),
            with_meta(
                json!(3.0),
                json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "roots": {"listChanged": true}}
                }),
            ),
        ),
        (
            Some("alice"),
            plain("list_orders"),
            with_meta(
                json!("p-1"),
                json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "progressToken": 5
                }),
            ),
        ),
        (
            Some("alice"),
            plain("list_orders"),
            json!({
                "jsonrpc": "2.0", "id": 11, "method": "tools/call",
                "params": {"name": "list_orders", "requestState": "opaque", "_meta": stateless_meta()}
            })
            .to_string(),
        ),
        (
            Some("alice"),
            plain("list_orders"),
            json!({
                "jsonrpc": "2.0", "id": 12, "method": "tools/call", "trace": "x",
                "params": {"name": "list_orders", "_meta": stateless_meta()}
            })
            .to_string(),
        ),
        // A malformed capability: refused by rmcp, whichever path it comes through.
        (
            Some("alice"),
            plain("list_orders"),
            with_meta(
                json!(13),
                json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": "everything"
                }),
            ),
        ),
    ];
    for (agent, headers, body) in cases {
        let mut answers = Vec::new();
        for server in [&fast, &slow] {
            let response = post(&server.url(), agent, &headers, body.clone()).await;
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|value| value.to_str().unwrap().to_owned());
            let bytes = response.bytes().await.unwrap();
            answers.push((
                status,
                content_type,
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        assert_eq!(answers[0], answers[1], "request {body} with {headers:?}");
    }
    // Both servers ran the same calls through their pipelines.
    let tools = |server: &support::TestServer| {
        server
            .backend
            .recorded()
            .into_iter()
            .map(|call| (call.agent, call.tool, call.args))
            .collect::<Vec<_>>()
    };
    assert_eq!(tools(&fast), tools(&slow));
    assert_eq!(tools(&fast).len(), 11);
}

#[tokio::test]
async fn server_discover_names_the_supported_versions() {
    let server = start(test_options()).await;
    let response = post(
        &server.url(),
        Some("alice"),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "server/discover"),
        ],
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": stateless_meta()}})
            .to_string(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer = jsonrpc_answer(response).await;
    let versions: BTreeSet<&str> = answer["result"]["supportedVersions"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        versions,
        BTreeSet::from(["2025-06-18", "2025-11-25", "2026-07-28"])
    );
}

// === transport checks ===

#[tokio::test]
async fn foreign_origin_is_refused() {
    let server = start(test_options()).await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    })
    .to_string();
    let response = post(
        &server.url(),
        Some("alice"),
        &[("origin", "https://evil.example")],
        initialize.clone(),
    )
    .await;
    assert_eq!(response.status(), 403);
    let response = post(
        &server.url(),
        Some("alice"),
        &[("origin", "https://console.example.com:8443")],
        initialize.clone(),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_refusals(
        &server,
        &[DenialKind::OriginRefused, DenialKind::OriginRefused],
    );
    let response = post(
        &server.url(),
        Some("alice"),
        &[("origin", "https://console.example.com")],
        initialize,
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn foreign_host_is_refused() {
    let server = start(test_options()).await;
    let response = post(
        &server.url(),
        Some("alice"),
        &[("host", "attacker.example")],
        "not even json",
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_refusals(&server, &[DenialKind::OriginRefused]);
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let server = start(test_options()).await;
    let response = post(&server.url(), Some("alice"), &[], "{\"jsonrpc\": \"2.0\", ").await;
    assert_eq!(response.status(), 400);
    let answer = jsonrpc_answer(response).await;
    assert_eq!(answer["jsonrpc"], "2.0");
    assert_eq!(answer["error"]["code"], -32700);

    let response = post(
        &server.url(),
        Some("alice"),
        &[],
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"arguments": 5}})
            .to_string(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let answer = jsonrpc_answer(response).await;
    assert_eq!(answer["error"]["code"], -32602);
    assert_eq!(answer["id"], 9);
    assert_refusals(&server, &[DenialKind::BadRequest, DenialKind::BadRequest]);
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let mut options = test_options();
    options.max_body_bytes = 1024;
    let server = start(options).await;
    let padding = "x".repeat(2048);
    let body = tool_call(1, "list_orders", json!({"pad": padding})).to_string();
    let response = post(&server.url(), Some("alice"), &[], body).await;
    assert_eq!(response.status(), 413);
    assert_refusals(&server, &[DenialKind::TooLarge]);
}

#[tokio::test]
async fn session_limit_is_enforced() {
    let mut options = test_options();
    options.max_sessions = 1;
    let server = start(options).await;
    let url = server.url();
    open_session(&url, "alice", "2025-11-25").await;
    let response = post(
        &url,
        Some("alice"),
        &[],
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        })
        .to_string(),
    )
    .await;
    assert_eq!(response.status(), 503);
    assert_refusals(&server, &[DenialKind::Overloaded]);
}

#[test]
fn bad_options_are_rejected_by_validate() {
    assert!(test_options().validate().is_ok());
    let mut options = test_options();
    options.allowed_origins = vec!["console.example.com".into()];
    assert!(options.validate().is_err());
    let mut options = test_options();
    options.allowed_hosts = vec!["https://gw.example.com".into()];
    assert!(options.validate().is_err());
    let mut options = test_options();
    options.max_body_bytes = 0;
    assert!(options.validate().is_err());
}

#[tokio::test]
async fn invalid_allowlist_entries_fail_closed() {
    let backend = support::FakeBackend::new();
    let mut options = test_options();
    // A URL is not a host entry: it must match nothing rather than something.
    options.allowed_hosts = vec!["http://127.0.0.1".into()];
    let service = portcullis_mcp::mcp_service(backend, options);
    let app = axum::Router::new().route_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let response = post(&url, Some("alice"), &[], body).await;
    assert_eq!(response.status(), 403);
}

// === official Python SDK ===

/// Runs `tests/python/mcp_smoke.py` with `args` and `env`: exit code, stdout, stderr.
async fn run_python_smoke(
    python: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/mcp_smoke.py"
    );
    let output = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("python runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the smoke script, which must succeed; returns its JSON report.
async fn python_smoke(python: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let (code, stdout, stderr) = run_python_smoke(python, args, env).await;
    assert_eq!(code, Some(0), "smoke failed:\n{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("not a JSON report: {stdout}"))
}

#[tokio::test]
#[ignore = "needs Python with the `mcp` package: set PORTCULLIS_MCP_PYTHON to that interpreter"]
async fn python_sdk_smoke() {
    let python = std::env::var("PORTCULLIS_MCP_PYTHON").expect("PORTCULLIS_MCP_PYTHON");
    let server = start(test_options()).await;
    let url = server.url();
    let base = format!("http://{}", server.addr);

    // Base URL and token as arguments; the SDK negotiates 2026-07-28 by itself.
    let report = python_smoke(
        &python,
        &[&base, "bob"],
        &[
            ("MCP_EXPECT_TOOLS", "list_orders"),
            ("MCP_CALL_ARGS", r#"{"order_id": "o-7"}"#),
        ],
    )
    .await;
    assert_eq!(report["protocol_version"], "2026-07-28");
    assert_eq!(report["server"]["name"], "portcullis");
    assert_eq!(report["call"]["tool"], "list_orders");
    assert_eq!(
        report["call"]["result"]["structuredContent"]["echo"],
        json!({"order_id": "o-7"})
    );

    // Options and environment; the handshake revision, and a refused call.
    let report = python_smoke(
        &python,
        &["--url", &url, "--protocol", "2025-11-25"],
        &[
            ("PORTCULLIS_TOKEN", "alice"),
            (
                "MCP_EXPECT_TOOLS",
                "list_orders,refund_order,create_order,flaky_report,explode",
            ),
            ("MCP_CALL_TOOL", "refund_order"),
            ("MCP_EXPECT_ERROR", "true"),
        ],
    )
    .await;
    assert_eq!(report["protocol_version"], "2025-11-25");
    assert_eq!(
        report["call"]["result"]["structuredContent"]["error"],
        "forbidden"
    );
    // The script fails when the listing is not what the caller may see.
    let (code, _, stderr) = run_python_smoke(
        &python,
        &[&base, "bob"],
        &[("MCP_EXPECT_TOOLS", "list_orders,refund_order")],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("differ from expected"), "{stderr}");

    let agents: BTreeSet<String> = server
        .backend
        .recorded()
        .into_iter()
        .map(|call| call.agent)
        .collect();
    assert_eq!(
        agents,
        BTreeSet::from(["alice".to_owned(), "bob".to_owned()])
    );
}

/// Every transport refusal so far was handed to the backend to record, once each, in order,
/// under the caller's identity.
fn assert_refusals(server: &TestServer, kinds: &[DenialKind]) {
    let refusals = server.backend.refusals();
    let got: Vec<DenialKind> = refusals.iter().map(|r| r.kind).collect();
    assert_eq!(got, kinds, "{refusals:?}");
    assert!(refusals.iter().all(|r| r.agent == "alice"), "{refusals:?}");
}
