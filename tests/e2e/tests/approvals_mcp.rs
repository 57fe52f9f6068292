//! Human approval over MCP, end to end: the quickstart holds `demo-agent`'s refunds of 100.01 to
//! 1,000.00 for the `finance` group, and an approver decides through the admin API (HTTP Basic).
//!
//! Proves, with the rmcp client against the real gateway and example orders API, that a held
//! call not decided within `approvals.wait` comes back as an `approval_pending` tool error without
//! reaching the upstream; that once approved the identical call runs exactly once (and a further
//! identical call is held anew); and that a denial made while the call waits ends that call at
//! once with `approval_denied` and the approver's reason. With the official Python `mcp` client,
//! in both lifecycles, that a waiting call sends progress notifications and, approved meanwhile,
//! returns the upstream's answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_config::{Config, SecretRef};
use portcullis_e2e::{Harness, OPERATOR_SECRET};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientConfig, JsonObject, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// The approver of the quickstart's `finance` group.
const APPROVER: &str = "demo-operator";

/// Starts the quickstart with the admin API on and held calls waiting `wait`.
async fn start(wait: Duration) -> Harness {
    Harness::start_with(|config: &mut Config| {
        config.admin.token = Some(SecretRef::Env("PORTCULLIS_ADMIN_TOKEN".to_owned()));
        config
            .approvals
            .as_mut()
            .expect("the quickstart configures approvals")
            .wait = wait;
    })
    .await
}

fn transport(h: &Harness, token: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", h.base)).auth_header(token),
    )
}

/// An rmcp client in the handshake lifecycle (2025-11-25).
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

/// An rmcp client in the stateless lifecycle (2026-07-28).
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

/// `refundOrder` of `amount_cents` on order `id`. The example API refuses a refund above the
/// order's balance: orders 9 (698.00), 6 (387.00) and 19 (1,396.00) can take 250.00.
fn refund(id: u64, amount_cents: u64) -> CallToolRequestParams {
    let Value::Object(arguments) =
        json!({"id": id, "amount_cents": amount_cents, "reason": "damaged"})
    else {
        unreachable!("a JSON object literal");
    };
    let arguments: JsonObject = arguments;
    CallToolRequestParams::new("refundOrder").with_arguments(arguments)
}

/// The structured content of a tool error, which must be a hold in `status` named by `error`.
fn held(result: CallToolResult, error: &str) -> Value {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let detail = result.structured_content.expect("structured content");
    assert_eq!(detail["error"], error, "{detail}");
    assert!(
        detail["approval_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{detail}"
    );
    detail
}

/// `GET` on the admin API, as the approver.
async fn admin_get(h: &Harness, path: &str) -> Value {
    let base = h.admin_base.as_deref().expect("the admin API is on");
    let response = h
        .http
        .get(format!("{base}{path}"))
        .basic_auth(APPROVER, Some(OPERATOR_SECRET))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// An approver's decision through the admin API; returns the approval as it now stands.
async fn decide(h: &Harness, id: &str, verb: &str, reason: &str) -> Value {
    let base = h.admin_base.as_deref().expect("the admin API is on");
    let response = h
        .http
        .post(format!("{base}/admin/approvals/{id}/{verb}"))
        .basic_auth(APPROVER, Some(OPERATOR_SECRET))
        .json(&json!({"reason": reason}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{verb} {id}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls the admin list until exactly one approval is pending; returns it.
async fn the_pending_approval(h: &Harness) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = admin_get(h, "/admin/approvals?status=pending").await;
        let approvals = listed["approvals"].as_array().expect("an approvals list");
        match approvals.as_slice() {
            [] => {}
            [one] => return one.clone(),
            more => panic!("more than one pending approval: {more:?}"),
        }
        assert!(Instant::now() < deadline, "no approval became pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn undecided_hold_is_pending_and_the_approved_repeat_runs_once() {
    let h = start(Duration::from_secs(2)).await;
    let token = h.demo_token().await;
    let client = handshake(&h, &token).await;
    let before = h.upstream.requests_seen();

    // Nobody decides within the wait: a pending hold, and the upstream saw nothing.
    let started = Instant::now();
    let result = client.call_tool(refund(9, 25000)).await.unwrap();
    let waited = started.elapsed();
    let pending = held(result, "approval_pending");
    assert_eq!(pending["approval_status"], "pending", "{pending}");
    assert!(pending["message"].is_string(), "{pending}");
    assert!(pending["expires_at"].is_string(), "{pending}");
    assert!(pending["retry_after"].is_u64(), "{pending}");
    assert!(
        waited >= Duration::from_millis(1500),
        "the call was not held for the wait: {waited:?}"
    );
    assert_eq!(h.upstream.requests_seen(), before);
    let first = pending["approval_id"].as_str().unwrap().to_owned();

    // The approver sees it, with its tool and agent, and approves it.
    let shown = admin_get(&h, &format!("/admin/approvals/{first}")).await;
    assert_eq!(shown["status"], "pending", "{shown}");
    assert_eq!(shown["tool"], "refundOrder", "{shown}");
    assert_eq!(shown["agent"], "demo-agent", "{shown}");
    let approved = decide(&h, &first, "approve", "customer sent photos").await;
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(h.upstream.requests_seen(), before);

    // The identical call now runs, once, with the approved arguments.
    let result = client.call_tool(refund(9, 25000)).await.unwrap();
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert!(result.structured_content.is_some(), "{result:?}");
    assert_eq!(h.upstream.requests_seen(), before + 1);
    let seen = h
        .upstream
        .last_request()
        .expect("the upstream saw the refund");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/orders/9/refund");
    assert_eq!(
        seen.body_json().expect("a JSON body")["amount_cents"],
        25000
    );
    let used = admin_get(&h, &format!("/admin/approvals/{first}")).await;
    assert_eq!(used["status"], "executed", "{used}");

    // The approval is spent: the same call again is held anew.
    let result = client.call_tool(refund(9, 25000)).await.unwrap();
    let again = held(result, "approval_pending");
    assert_eq!(again["approval_status"], "pending", "{again}");
    assert_ne!(again["approval_id"], first.as_str(), "{again}");
    assert_eq!(h.upstream.requests_seen(), before + 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn denial_while_the_call_waits_ends_it_with_the_reason() {
    let h = start(Duration::from_secs(20)).await;
    let token = h.demo_token().await;
    let client = stateless(&h, &token).await;
    let before = h.upstream.requests_seen();

    let peer = client.peer().clone();
    let started = Instant::now();
    let call = tokio::spawn(async move { peer.call_tool(refund(7, 50000)).await });

    let approval = the_pending_approval(&h).await;
    assert_eq!(approval["tool"], "refundOrder", "{approval}");
    assert_eq!(approval["agent"], "demo-agent", "{approval}");
    let id = approval["id"].as_str().expect("an approval id").to_owned();
    let denied = decide(&h, &id, "deny", "not covered by policy").await;
    assert_eq!(denied["status"], "denied", "{denied}");

    let result = tokio::time::timeout(Duration::from_secs(15), call)
        .await
        .expect("the denial ends the waiting call")
        .unwrap()
        .unwrap();
    let elapsed = started.elapsed();
    let detail = held(result, "approval_denied");
    assert_eq!(detail["approval_id"], id.as_str(), "{detail}");
    assert!(
        detail["message"]
            .as_str()
            .is_some_and(|m| m.contains("not covered by policy")),
        "{detail}"
    );
    assert!(
        elapsed < Duration::from_secs(15),
        "the call waited out its wait instead of ending on the denial: {elapsed:?}"
    );
    assert_eq!(h.upstream.requests_seen(), before);
    client.cancel().await.unwrap();
}

/// Runs `tests/python/mcp_approval.py` once; returns (exit code, stdout, stderr).
async fn python(interpreter: &std::ffi::OsStr, args: Vec<String>) -> (i32, String, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/mcp_approval.py");
    let mut command = Command::new(interpreter);
    command.arg(script).args(args);
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

/// The official Python SDK, with a progress callback, approved while its call waits.
#[tokio::test]
async fn python_client_gets_progress_and_the_approved_answer() {
    let Some(interpreter) = std::env::var_os("PORTCULLIS_PYTHON") else {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
            "PORTCULLIS_PYTHON is not set but external clients are required"
        );
        eprintln!("skipped: PORTCULLIS_PYTHON is not set (scripts/test sets it)");
        return;
    };
    let h = start(Duration::from_secs(20)).await;
    let token = h.demo_token().await;
    let url = format!("{}/mcp", h.base);
    let admin = h.admin_base.clone().expect("the admin API is on");
    for (version, order) in [("2025-11-25", 6u64), ("2026-07-28", 19)] {
        let before = h.upstream.requests_seen();
        let arguments = json!({"id": order, "amount_cents": 25000, "reason": "damaged"});
        let (code, out, err) = python(
            &interpreter,
            vec![
                url.clone(),
                token.clone(),
                admin.clone(),
                OPERATOR_SECRET.to_owned(),
                "--protocol".to_owned(),
                version.to_owned(),
                "--arguments".to_owned(),
                arguments.to_string(),
            ],
        )
        .await;
        assert_eq!(code, 0, "{version}:\n{out}\n{err}");
        let report: Value = serde_json::from_str(&out).expect("a JSON report");
        assert_eq!(report["protocol_version"], version, "{report}");
        let progress = report["progress"].as_array().expect("a progress list");
        assert!(!progress.is_empty(), "{version}: no progress: {report}");
        assert!(
            report["approved_after_progress"].as_u64() >= Some(1),
            "{version}: {report}"
        );
        // The first notification comes as soon as the call is held, not after a period, and
        // names the approval the script then found pending.
        assert!(
            progress[0]["seconds"].as_f64().is_some_and(|s| s < 4.0),
            "{version}: {report}"
        );
        let id = report["approval"]["id"].as_str().expect("an approval id");
        assert!(
            progress[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(id)),
            "{version}: {report}"
        );
        assert_eq!(report["call"]["result"]["isError"], false, "{report}");

        // The approval the script decided is spent on exactly one refund, of those arguments.
        let used = admin_get(&h, &format!("/admin/approvals/{id}")).await;
        assert_eq!(used["status"], "executed", "{version}: {used}");
        assert_eq!(h.upstream.requests_seen(), before + 1, "{version}");
        let seen = h
            .upstream
            .last_request()
            .expect("the upstream saw the refund");
        assert_eq!(seen.path, format!("/orders/{order}/refund"), "{version}");
        assert_eq!(
            seen.body_json().expect("a JSON body")["amount_cents"],
            25000,
            "{version}"
        );
    }
}

/// The official TypeScript SDK (`tests/typescript`), with a progress callback that keeps its
/// request timeout alive, approved while its call waits.
#[tokio::test]
async fn typescript_client_gets_progress_and_the_approved_answer() {
    let Some(node) = std::env::var_os("PORTCULLIS_NODE") else {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
            "PORTCULLIS_NODE is not set but external clients are required"
        );
        eprintln!("skipped: PORTCULLIS_NODE is not set (scripts/test sets it)");
        return;
    };
    let h = start(Duration::from_secs(20)).await;
    let token = h.demo_token().await;
    let before = h.upstream.requests_seen();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../typescript/approval.mjs");
    let mut command = Command::new(node);
    command.arg(script).args([
        format!("{}/mcp", h.base),
        token,
        h.admin_base.clone().expect("the admin API is on"),
        OPERATOR_SECRET.to_owned(),
        "refundOrder".to_owned(),
        json!({"id": 9, "amount_cents": 25000, "reason": "damaged"}).to_string(),
    ]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node runs");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{out}\n{err}");
    let report: Value = serde_json::from_str(&out).expect("a JSON report");
    assert!(
        report["progress"].as_array().is_some_and(|p| !p.is_empty()),
        "{report}"
    );
    let id = report["approved"].as_str().expect("the approved id");
    let used = admin_get(&h, &format!("/admin/approvals/{id}")).await;
    assert_eq!(used["status"], "executed", "{used}");
    assert_eq!(h.upstream.requests_seen(), before + 1);
    let seen = h
        .upstream
        .last_request()
        .expect("the upstream saw the refund");
    assert_eq!(seen.path, "/orders/9/refund");
}
