//! The acting user's confirmation, end to end: a test policy annotated `@approval("user")`
//! permits the quickstart's `shop-assistant`, acting for a customer through a token exchange, to
//! call `getOrder` only once that customer confirmed the call.
//!
//! Proves, with the official Python `mcp` client against the real gateway and example orders
//! API, that a client declaring the elicitation capability (protocol 2025-11-25) is sent one
//! form elicitation naming the call and asking for a boolean `approve`; that accepting it runs
//! the call exactly once and returns the upstream's answer, and the audit log records the
//! question and the confirmation; that declining, cancelling or answering `approve: false` ends
//! the call with `approval_denied` ("declined by the user") without reaching the upstream, and
//! an identical repeat of a declined call is refused on that refusal without a new question; and
//! that a client without the capability, one on the stateless protocol (2026-07-28), or the HTTP
//! tools API, which cannot be asked, is refused the same way without any question.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::process::Command;
use std::time::Duration;

use portcullis_config::{ClaimMapping, Config, IdentityProviderConfig};
use portcullis_e2e::idp::TestIssuer as Issuer;
use portcullis_e2e::{ASSISTANT_SECRET, Harness};
use serde_json::{Value, json};

const AUDIENCE: &str = "shop-gateway";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The customer the assistant acts for; the delegated token's subject.
const CUSTOMER: &str = "3";

/// `getOrder` for the assistant, only once the user it acts for confirmed the call.
const CONFIRM_POLICY: &str = r#"// Test policy: the customer confirms every order the assistant reads for them.
@id("test-user-confirms-order-reads")
@approval("user")
permit (
    principal in Portcullis::Role::"assistant",
    action == Portcullis::Action::"getOrder",
    resource == Portcullis::Api::"orders"
)
when { context has user };
"#;

/// A customer's token at the test issuer: `customer_number` names the shop's customer.
fn customer_token(issuer: &Issuer, customer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    issuer.sign(
        &json!({
            "iss": issuer.url,
            "sub": format!("account-{customer}"),
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
            "customer_number": customer,
            "groups": ["customers"],
            "tenant": "shop-eu",
            "azp": "shop-assistant",
        }),
        None,
    )
}

/// The test issuer as an identity provider whose `customer_number` claim names the user.
fn provider(issuer: &Issuer) -> IdentityProviderConfig {
    let mut provider: IdentityProviderConfig = serde_json::from_value(json!({
        "issuer": issuer.url,
        "algorithms": ["RS256"],
        "audiences": [AUDIENCE],
        "default_scopes": ["orders:read"],
        "allow_insecure_http": true,
        "accept_access_tokens": true,
        "jwks_min_refresh": "1s",
        "egress": { "allow_private": ["127.0.0.1/32"] },
    }))
    .unwrap();
    provider.claims = ClaimMapping {
        user: "customer_number".to_owned(),
        tenant: Some("tenant".to_owned()),
        groups: Some("groups".to_owned()),
        ..ClaimMapping::default()
    };
    provider
}

/// The quickstart trusting `issuer`, with the confirmation policy and a 15 s approval wait.
async fn start(issuer: &Issuer) -> Harness {
    let provider = provider(issuer);
    Harness::start_with(move |config: &mut Config| {
        config.identity_providers = vec![provider];
        std::fs::write(config.policies.join("confirm.cedar"), CONFIRM_POLICY)
            .expect("the test policy is written");
        config
            .approvals
            .as_mut()
            .expect("the quickstart configures approvals")
            .wait = Duration::from_secs(15);
    })
    .await
}

/// The assistant's delegated token for [`CUSTOMER`], for the MCP endpoint.
async fn delegated_token(h: &Harness, issuer: &Issuer) -> String {
    let customer = customer_token(issuer, CUSTOMER);
    let resource = format!("{}/mcp", h.base);
    let response = h
        .http
        .post(format!("{}/oauth/token", h.base))
        .basic_auth("shop-assistant", Some(ASSISTANT_SECRET))
        .form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", customer.as_str()),
            ("subject_token_type", ACCESS_TOKEN),
            ("resource", resource.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The reasons of the last audit records, oldest first.
async fn audit_lines(h: &Harness) -> Vec<String> {
    portcullis_audit::tail(&h.audit_path(), 50)
        .await
        .unwrap()
        .iter()
        .flat_map(|r| r.event.reasons.clone())
        .collect()
}

/// The Python interpreter, or `None` (skip) when external clients are not required.
fn interpreter() -> Option<std::ffi::OsString> {
    let found = std::env::var_os("PORTCULLIS_PYTHON");
    if found.is_none() {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
            "PORTCULLIS_PYTHON is not set but external clients are required"
        );
        eprintln!("skipped: PORTCULLIS_PYTHON is not set (scripts/test sets it)");
    }
    found
}

/// Runs `tests/python/mcp_elicitation.py` once, calling `getOrder` of `order` and answering
/// any elicitation with `answer`; asserts it exited 0 on `protocol` and returns its summary.
async fn python(
    interpreter: &std::ffi::OsStr,
    h: &Harness,
    token: &str,
    answer: &str,
    protocol: &str,
    order: u64,
) -> Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/mcp_elicitation.py");
    let mut command = Command::new(interpreter);
    command.arg(script).args([
        format!("{}/mcp", h.base).as_str(),
        token,
        "--answer",
        answer,
        "--protocol",
        protocol,
        "--tool",
        "getOrder",
        "--arguments",
        &json!({"id": order}).to_string(),
    ]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("python runs");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{answer} on {protocol}:\n{out}\n{err}"
    );
    let report: Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(report["protocol_version"], protocol, "{report}");
    report
}

/// The call's result in `report`, which must be an `approval_denied` tool error whose message
/// contains `why`.
fn denied(report: &Value, why: &str) {
    let result = &report["call"]["result"];
    assert_eq!(result["isError"], true, "{report}");
    let detail = &result["structuredContent"];
    assert_eq!(detail["error"], "approval_denied", "{report}");
    assert!(
        detail["message"].as_str().is_some_and(|m| m.contains(why)),
        "the message does not say {why:?}: {report}"
    );
}

#[tokio::test]
async fn the_user_accepts_and_the_call_runs_once() {
    let Some(interpreter) = interpreter() else {
        return;
    };
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;
    let token = delegated_token(&h, &issuer).await;
    let before = h.upstream.requests_seen();

    let report = python(&interpreter, &h, &token, "accept", "2025-11-25", 3).await;

    // Exactly one question, naming the call and asking for the `approve` boolean.
    let elicitations = report["elicitations"].as_array().expect("a list");
    let [asked] = elicitations.as_slice() else {
        panic!("expected exactly one elicitation: {report}");
    };
    assert_eq!(asked["mode"], "form", "{asked}");
    let message = asked["message"].as_str().expect("a message");
    assert!(message.contains("getOrder"), "{asked}");
    assert!(message.contains("shop-assistant"), "{asked}");
    let schema = &asked["requestedSchema"];
    assert_eq!(schema["type"], "object", "{asked}");
    assert_eq!(
        schema["properties"]["approve"]["type"], "boolean",
        "{asked}"
    );
    assert!(
        schema["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("approve"))),
        "{asked}"
    );

    // The confirmed call ran, once, and its answer came back.
    let result = &report["call"]["result"];
    assert_eq!(result["isError"], false, "{report}");
    assert_eq!(h.upstream.requests_seen(), before + 1, "{report}");
    let seen = h
        .upstream
        .last_request()
        .expect("the upstream saw the read");
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/orders/3");
    assert_eq!(result["structuredContent"]["id"], 3, "{report}");

    // The audit log tells who was asked and that they confirmed.
    let lines = audit_lines(&h).await;
    let asked_line = lines
        .iter()
        .find(|l| {
            l.starts_with(&format!(
                "approval: asked user `{CUSTOMER}` to confirm `apr_"
            ))
        })
        .unwrap_or_else(|| panic!("no question in the audit log: {lines:?}"));
    let id = asked_line
        .split('`')
        .nth(3)
        .expect("the approval id in backquotes");
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("approval: confirmed by the user `{id}`")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn the_user_declines_and_the_call_never_runs() {
    let Some(interpreter) = interpreter() else {
        return;
    };
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;
    let token = delegated_token(&h, &issuer).await;
    let before = h.upstream.requests_seen();

    // Declined, dismissed, or accepted with `approve: false`: all a refusal. Distinct orders,
    // so each is a call of its own.
    let mut first = String::new();
    for (answer, order) in [("decline", 3), ("cancel", 4), ("refuse", 5)] {
        let report = python(&interpreter, &h, &token, answer, "2025-11-25", order).await;
        let elicitations = report["elicitations"].as_array().expect("a list");
        assert_eq!(elicitations.len(), 1, "{answer}: {report}");
        denied(&report, "declined by the user");
        assert_eq!(h.upstream.requests_seen(), before, "{answer}: {report}");
        if first.is_empty() {
            first = report["call"]["result"]["structuredContent"]["approval_id"]
                .as_str()
                .expect("an approval id")
                .to_owned();
        }
    }

    // The identical call again is refused on the user's refusal, without asking again.
    let report = python(&interpreter, &h, &token, "accept", "2025-11-25", 3).await;
    assert_eq!(report["elicitations"], json!([]), "{report}");
    denied(&report, "declined by the user");
    assert_eq!(
        report["call"]["result"]["structuredContent"]["approval_id"],
        first.as_str(),
        "{report}"
    );
    assert_eq!(h.upstream.requests_seen(), before, "{report}");

    let lines = audit_lines(&h).await;
    let asked = lines
        .iter()
        .filter(|l| l.starts_with(&format!("approval: asked user `{CUSTOMER}` to confirm")))
        .count();
    assert_eq!(asked, 3, "{lines:?}");
    assert!(
        !lines.iter().any(|l| l.starts_with("approval: confirmed")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn an_unanswered_question_is_asked_again_on_the_identical_call() {
    let Some(interpreter) = interpreter() else {
        return;
    };
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;
    let token = delegated_token(&h, &issuer).await;
    let before = h.upstream.requests_seen();

    // The client fails the question: nobody else can decide, so the call is refused with a
    // sentence saying a repeat asks again (not "pending" for an approver who does not exist).
    let failed = python(&interpreter, &h, &token, "error", "2025-11-25", 7).await;
    assert_eq!(
        failed["elicitations"].as_array().map(Vec::len),
        Some(1),
        "{failed}"
    );
    denied(&failed, "Repeating the identical call asks again");
    assert_eq!(h.upstream.requests_seen(), before);

    // The identical call is asked again, under the same approval, and runs once confirmed.
    let report = python(&interpreter, &h, &token, "accept", "2025-11-25", 7).await;
    assert_eq!(
        report["elicitations"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["call"]["result"]["isError"], false, "{report}");
    assert_eq!(h.upstream.requests_seen(), before + 1);
    let id = failed["call"]["result"]["structuredContent"]["approval_id"]
        .as_str()
        .expect("an approval id");
    assert!(
        audit_lines(&h)
            .await
            .contains(&format!("approval: confirmed by the user `{id}`"))
    );
}

#[tokio::test]
async fn a_client_that_cannot_be_asked_is_refused_without_a_question() {
    let Some(interpreter) = interpreter() else {
        return;
    };
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;
    let token = delegated_token(&h, &issuer).await;
    let before = h.upstream.requests_seen();

    // No elicitation capability declared; or the stateless protocol, which has no way to ask
    // mid-call, even with an elicitation callback.
    for (answer, protocol) in [("none", "2025-11-25"), ("accept", "2026-07-28")] {
        let report = python(&interpreter, &h, &token, answer, protocol, 3).await;
        assert_eq!(
            report["elicitations"],
            json!([]),
            "{answer} on {protocol}: {report}"
        );
        denied(&report, "cannot ask");
        assert_eq!(
            h.upstream.requests_seen(),
            before,
            "{answer} on {protocol}: {report}"
        );
    }
    let lines = audit_lines(&h).await;
    assert!(
        !lines.iter().any(|l| l.starts_with("approval: asked user")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn the_http_tools_api_cannot_ask_and_refuses() {
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;
    let token = delegated_token(&h, &issuer).await;
    let before = h.upstream.requests_seen();

    let response = h.call(Some(&token), "getOrder", &json!({"id": 3})).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "approval_denied", "{body}");
    assert!(
        body.to_string().contains("cannot ask"),
        "the answer does not say the client cannot be asked: {body}"
    );
    assert_eq!(h.upstream.requests_seen(), before);
}
