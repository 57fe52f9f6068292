//! The MCP front end to end: the rmcp client, in the handshake lifecycle (2025-11-25) and the
//! stateless one (2026-07-28), against the real gateway in front of the real example API; and the
//! official Python `mcp` client the same way.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::collections::BTreeSet;
use std::process::Command;

use portcullis_e2e::{Harness, READONLY_SECRET};
use rmcp::model::{CallToolRequestParams, ClientConfig, ErrorCode, JsonObject, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

fn transport(h: &Harness, token: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", h.base)).auth_header(token),
    )
}

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments must be an object"),
    }
}

async fn handshake(h: &Harness, token: &str) -> RunningService<RoleClient, ClientConfig> {
    let mut info = ClientConfig::default();
    info.protocol_version = ProtocolVersion::V_2025_11_25;
    let client = info.serve(transport(h, token)).await.expect("handshake");
    assert_eq!(
        client.peer_info().unwrap().protocol_version,
        ProtocolVersion::V_2025_11_25
    );
    client
}

async fn stateless(h: &Harness, token: &str) -> RunningService<RoleClient, ()> {
    let client = ()
        .serve_with_lifecycle(
            transport(h, token),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover");
    assert_eq!(
        client.peer_info().unwrap().protocol_version,
        ProtocolVersion::V_2026_07_28
    );
    client
}

/// The scenario of the spine, run by any rmcp client lifecycle.
async fn scenario<S: rmcp::Service<RoleClient>>(
    h: &Harness,
    client: &RunningService<RoleClient, S>,
) {
    // tools/list: only what the policies could allow; deleteCustomer absent.
    let tools = client.list_all_tools().await.unwrap();
    let names: BTreeSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "attachReceipt".into(),
            "getOrder".into(),
            "listOrders".into(),
            "refundOrder".into(),
            "searchOrders".into()
        ])
    );
    let get_order = tools.iter().find(|t| t.name == "getOrder").unwrap();
    assert_eq!(
        get_order.input_schema["properties"]["id"]["type"],
        "integer"
    );
    // Behaviour hints from the method and risk class, and the response schema as
    // `outputSchema` (an object schema, from the OpenAPI document's 200 answer).
    let hints = |name: &str| {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        serde_json::to_value(&tool.annotations).unwrap()
    };
    assert_eq!(hints("getOrder"), json!({"readOnlyHint": true}));
    assert_eq!(
        hints("refundOrder"),
        json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false})
    );
    let output = get_order.output_schema.as_ref().expect("an output schema");
    assert_eq!(output["type"], "object");
    assert!(output["properties"]["customer"].is_object(), "{output:?}");
    let refund = tools.iter().find(|t| t.name == "refundOrder").unwrap();
    assert_eq!(refund.output_schema.as_ref().unwrap()["type"], "object");

    // tools/call getOrder: the real upstream answer comes back.
    let result = client
        .call_tool(CallToolRequestParams::new("getOrder").with_arguments(args(json!({"id": 42}))))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    let order = result.structured_content.expect("structured content");
    assert_eq!(order["id"], 42);
    assert!(order["customer"]["email"].is_string());

    // Wrong argument type: a tool error naming the path; the upstream receives nothing.
    let before = h.upstream.requests_seen();
    let result = client
        .call_tool(
            CallToolRequestParams::new("getOrder").with_arguments(args(json!({"id": "42x"}))),
        )
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let detail = result.structured_content.expect("structured error");
    assert_eq!(detail["error"], "invalid_arguments");
    assert_eq!(detail["violations"][0]["path"], "/id");
    assert_eq!(h.upstream.requests_seen(), before);

    // deleteCustomer: refused, and indistinguishable from a tool that does not exist.
    let hidden = client
        .call_tool(
            CallToolRequestParams::new("deleteCustomer").with_arguments(args(json!({"id": 1}))),
        )
        .await
        .unwrap_err();
    let ServiceError::McpError(hidden) = hidden else {
        panic!("expected a JSON-RPC error");
    };
    assert_eq!(hidden.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(hidden.message, "unknown tool `deleteCustomer`");

    // A refund above the policy's limit: a tool error with a reason, no policy internals.
    let result = client
        .call_tool(
            CallToolRequestParams::new("refundOrder").with_arguments(args(
                json!({"id": 5, "amount_cents": 200000, "reason": "late"}),
            )),
        )
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let detail = result.structured_content.expect("structured error");
    assert_eq!(detail["error"], "forbidden");
    assert!(!detail.to_string().contains("support-small-refunds"));
    assert_eq!(h.upstream.requests_seen(), before);
}

#[tokio::test]
async fn rmcp_client_in_handshake_mode() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let audit_before = h.audit_records().await;
    let client = handshake(&h, &token).await;
    scenario(&h, &client).await;
    client.cancel().await.unwrap();
    // Four tools/call requests, four records; listing and the handshake are not calls.
    assert_eq!(h.audit_records().await - audit_before, 4);
}

#[tokio::test]
async fn rmcp_client_in_stateless_mode() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let client = stateless(&h, &token).await;
    scenario(&h, &client).await;
    client.cancel().await.unwrap();

    // Another agent sees another catalog through the same endpoint.
    let readonly = h.token_for("readonly-agent", READONLY_SECRET).await;
    let client = stateless(&h, &readonly).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: BTreeSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["getOrder".into(), "listOrders".into()])
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn mcp_endpoint_checks_host_and_origin() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "e2e", "version": "0"}}
    });
    let post = |origin: Option<&str>, host: Option<&str>| {
        let mut request = h
            .http
            .post(format!("{}/mcp", h.base))
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(host) = host {
            request = request.header("host", host);
        }
        request.send()
    };
    assert_eq!(post(None, None).await.unwrap().status(), 200);
    assert_eq!(
        post(Some("https://evil.example"), None)
            .await
            .unwrap()
            .status(),
        403
    );
    let rebinding = post(None, Some("attacker.example:8080"))
        .await
        .unwrap()
        .status();
    assert!(
        rebinding.is_client_error(),
        "bad Host accepted: {rebinding}"
    );
}

/// Runs the Python smoke script once; returns (exit code, stdout, stderr).
async fn python(
    python: &std::ffi::OsStr,
    url: &str,
    token: &str,
    version: &str,
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/mcp_smoke.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .args(["--url", url, "--protocol", version])
        .env("PORTCULLIS_TOKEN", token);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("python runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The official Python SDK, installed by `scripts/test` into `.venv`, in both lifecycles.
#[tokio::test]
async fn python_mcp_client() {
    let Some(interpreter) = std::env::var_os("PORTCULLIS_PYTHON") else {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
            "PORTCULLIS_PYTHON is not set but external clients are required"
        );
        eprintln!("skipped: PORTCULLIS_PYTHON is not set (scripts/test sets it)");
        return;
    };
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let url = format!("{}/mcp", h.base);
    for version in ["2025-11-25", "2026-07-28"] {
        // Listing is exact (deleteCustomer absent) and getOrder returns the upstream's order.
        let before = h.upstream.requests_seen();
        let (code, out, err) = python(
            &interpreter,
            &url,
            &token,
            version,
            &[
                (
                    "MCP_EXPECT_TOOLS",
                    "listOrders,getOrder,refundOrder,searchOrders,attachReceipt",
                ),
                ("MCP_CALL_TOOL", "getOrder"),
                ("MCP_CALL_ARGS", r#"{"id": 42}"#),
            ],
        )
        .await;
        assert_eq!(code, 0, "{version}:\n{out}\n{err}");
        assert!(
            out.contains("\"id\": 42") || out.contains("\"id\":42"),
            "{version}: {out}"
        );
        // The SDK read the tool hints and output schema, and accepted getOrder's structured
        // answer against that schema (it validates every successful result).
        let report: Value = serde_json::from_str(&out).expect("a JSON report");
        let get_order = report["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|tool| tool["name"] == "getOrder")
            .unwrap();
        assert_eq!(get_order["annotations"]["readOnlyHint"], true, "{version}");
        assert_eq!(get_order["outputSchema"]["type"], "object", "{version}");
        assert_eq!(report["call"]["result"]["isError"], false, "{version}");
        assert_eq!(h.upstream.requests_seen(), before + 1, "{version}");

        // Wrong argument type: a tool error, and the upstream receives nothing.
        let (code, out, err) = python(
            &interpreter,
            &url,
            &token,
            version,
            &[
                ("MCP_CALL_TOOL", "getOrder"),
                ("MCP_CALL_ARGS", r#"{"id": "forty-two"}"#),
                ("MCP_EXPECT_ERROR", "true"),
            ],
        )
        .await;
        assert_eq!(code, 0, "{version}:\n{out}\n{err}");
        assert!(out.contains("invalid_arguments"), "{version}: {out}");
        assert_eq!(h.upstream.requests_seen(), before + 1, "{version}");

        // deleteCustomer: refused as an unknown tool.
        let (code, out, err) = python(
            &interpreter,
            &url,
            &token,
            version,
            &[
                ("MCP_CALL_TOOL", "deleteCustomer"),
                ("MCP_CALL_ARGS", r#"{"id": 1}"#),
            ],
        )
        .await;
        assert_eq!(code, 1, "{version}:\n{out}\n{err}");
        assert!(
            format!("{out}{err}").contains("unknown tool"),
            "{version}: {out}{err}"
        );

        // A bad token: the SDK fails (it reports the 401 as a generic error), and the gateway
        // recorded the refusal at the identify stage.
        let (code, out, err) = python(&interpreter, &url, "not-a-token", version, &[]).await;
        assert_eq!(code, 1, "{version}:\n{out}\n{err}");
        let last = portcullis_audit::tail(&h.audit_path(), 1).await.unwrap();
        assert_eq!(
            last[0].event.decision.as_str(),
            "unauthenticated",
            "{version}"
        );
        assert_eq!(last[0].event.front.as_str(), "mcp", "{version}");
        assert_eq!(h.upstream.requests_seen(), before + 1, "{version}");
    }
}

#[tokio::test]
async fn opening_sessions_counts_against_the_admission_limit() {
    // Session caps high enough that only the per-agent admission rate (burst 40) can refuse.
    let h = Harness::start_with(|config| {
        config.mcp.max_sessions = 1000;
        config.mcp.max_sessions_per_agent = 1000;
    })
    .await;
    let token = h.demo_token().await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "e2e", "version": "0"}}
    });
    let before = h.audit_records().await;
    let mut opened = 0;
    let mut limited = 0;
    for _ in 0..60 {
        let response = h
            .http
            .post(format!("{}/mcp", h.base))
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => opened += 1,
            429 => {
                limited += 1;
                assert!(response.headers().contains_key("retry-after"));
                let answer: Value = response.json().await.unwrap();
                assert_eq!(answer["error"]["data"]["error"], "rate_limited");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        limited > 0 && opened >= 40,
        "opened {opened}, limited {limited}"
    );
    // Each refused `initialize` left one record; opened sessions are not calls.
    assert_eq!(h.audit_records().await, before + limited);
}

#[tokio::test]
async fn own_origins_are_accepted_and_ending_a_session_answers_204() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "e2e", "version": "0"}}
    });
    let port = h.addr.port();
    let mut session = None;
    for origin in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ] {
        let response = h
            .http
            .post(format!("{}/mcp", h.base))
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .header("origin", &origin)
            .json(&initialize)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{origin}");
        session = response
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
    }
    // Another port on loopback is another site.
    let other = h
        .http
        .post(format!("{}/mcp", h.base))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .header(
            "origin",
            format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        )
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);

    let ended = h
        .http
        .delete(format!("{}/mcp", h.base))
        .bearer_auth(&token)
        .header("mcp-session-id", session.unwrap())
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
}
