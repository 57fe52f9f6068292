//! Revocation end to end: a revoked token, every token of a revoked agent and a disabled
//! agent's tokens are refused from the next request on, with the same generic 401 as any bad
//! token, across restarts; the admin API has its own credential and records every call.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::time::Duration;

use base64::Engine as _;
use portcullis_e2e::{ADMIN_TOKEN, DEMO_SECRET, Harness, READONLY_SECRET};
use portcullis_identity::{ChangeSource, Identity, Revocations};
use serde_json::{Value, json};

fn jti(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

async fn status(h: &Harness, token: &str) -> u16 {
    h.call(Some(token), "getOrder", &json!({"id": 1}))
        .await
        .status()
        .as_u16()
}

/// The 401 a revoked token gets is the one any invalid token gets: same body, same challenge.
async fn assert_generic_401(h: &Harness, token: &str) {
    let response = h.call(Some(token), "getOrder", &json!({"id": 1})).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            r#"Bearer realm="portcullis", error="invalid_token", resource_metadata="{}/.well-known/oauth-protected-resource""#,
            h.base
        )
        .as_str()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(body["detail"], "a valid bearer token is required");
    let text = body.to_string();
    assert!(
        !text.contains("revoked") && !text.contains("disabled"),
        "{text}"
    );
    // The MCP front goes through the same identify stage.
    let mcp = h
        .http
        .post(format!("{}/mcp", h.base))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "e2e", "version": "1"}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), 401, "MCP front");
}

async fn last_reasons(h: &Harness) -> Vec<String> {
    let records = portcullis_audit::tail(&h.audit_path(), 1).await.unwrap();
    records[0].event.reasons.clone()
}

#[tokio::test]
async fn a_token_revoked_through_the_admin_api_is_refused_on_the_next_call() {
    let h = Harness::start_with_admin().await;
    let revoked = h.demo_token().await;
    let kept = h.demo_token().await;
    // Both verified once, so both sit in the verified-token cache.
    assert_eq!(status(&h, &revoked).await, 200);
    assert_eq!(status(&h, &kept).await, 200);
    let before = h.upstream.requests_seen();

    let response = h
        .admin_post(
            "/admin/revocations/tokens",
            Some(ADMIN_TOKEN),
            Some(&json!({"jti": jti(&revoked)})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], true);
    let reasons = last_reasons(&h).await;
    assert!(
        reasons.iter().any(|r| r.contains("revoke token")),
        "{reasons:?}"
    );

    assert_generic_401(&h, &revoked).await;
    assert_eq!(
        h.upstream.requests_seen(),
        before,
        "nothing reached upstream"
    );
    let reasons = last_reasons(&h).await;
    assert!(
        reasons.iter().any(|r| r.contains("the token was revoked")),
        "the reason is in the audit record: {reasons:?}"
    );
    assert_eq!(status(&h, &kept).await, 200, "other tokens are unaffected");

    // Revoking again is not an error; a malformed body is a problem answer.
    let again = h
        .admin_post(
            "/admin/revocations/tokens",
            Some(ADMIN_TOKEN),
            Some(&json!({"jti": jti(&revoked)})),
        )
        .await;
    assert_eq!(again.status(), 200);
    let bad = h
        .admin_post(
            "/admin/revocations/tokens",
            Some(ADMIN_TOKEN),
            Some(&json!({"token": "x"})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(
        bad.headers()["content-type"],
        "application/problem+json",
        "admin errors are problem+json"
    );
}

#[tokio::test]
async fn the_admin_api_needs_its_own_credential_and_records_refusals() {
    let h = Harness::start_with_admin().await;
    let agent_token = h.demo_token().await;
    let records_before = h.audit_records().await;
    let body = json!({"jti": jti(&agent_token)});
    for credential in [None, Some("wrong-credential"), Some(agent_token.as_str())] {
        let response = h
            .admin_post("/admin/revocations/tokens", credential, Some(&body))
            .await;
        assert_eq!(response.status(), 401, "{credential:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="portcullis-admin""#
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    assert_eq!(
        h.audit_records().await - records_before,
        3,
        "one record per refused admin call"
    );
    let records = portcullis_audit::tail(&h.audit_path(), 3).await.unwrap();
    for record in &records {
        assert_eq!(record.event.front.as_str(), "admin");
        assert_eq!(record.event.decision.as_str(), "unauthenticated");
    }
    assert_eq!(status(&h, &agent_token).await, 200, "nothing was revoked");

    // The agents' listener does not serve the admin API.
    let on_agent_listener = h
        .http
        .post(format!("{}/admin/revocations/tokens", h.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    // There the path does not exist, whatever credential comes with it: a 404 problem.
    assert_eq!(on_agent_listener.status(), 404);
    assert_eq!(
        on_agent_listener.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(status(&h, &agent_token).await, 200, "still nothing revoked");
}

#[tokio::test]
async fn the_admin_api_is_off_without_a_credential() {
    let h = Harness::start().await;
    assert!(h.admin_base.is_none());
}

#[tokio::test]
async fn a_disabled_agent_gets_neither_calls_nor_tokens_until_enabled() {
    let h = Harness::start_with_admin().await;
    let token = h.demo_token().await;
    let other = h.token_for("readonly-agent", READONLY_SECRET).await;
    assert_eq!(status(&h, &token).await, 200);

    let response = h
        .admin_post("/admin/agents/demo-agent/disable", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(response.status(), 200);
    assert_generic_401(&h, &token).await;
    assert!(
        last_reasons(&h)
            .await
            .iter()
            .any(|r| r.contains("agent is disabled"))
    );
    let refused = h.token_response("demo-agent", DEMO_SECRET).await;
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"], "invalid_client",
        "the same answer as a wrong secret"
    );
    let reasons = last_reasons(&h).await;
    assert!(reasons.iter().any(|r| r == "agent disabled"), "{reasons:?}");
    assert_eq!(status(&h, &other).await, 200, "other agents are unaffected");

    let unknown = h
        .admin_post("/admin/agents/nobody/disable", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(unknown.status(), 422);

    let response = h
        .admin_post("/admin/agents/demo-agent/enable", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(response.status(), 200);
    let fresh = h.demo_token().await;
    assert_eq!(status(&h, &fresh).await, 200);
}

#[tokio::test]
async fn revoking_an_agent_refuses_its_current_tokens_but_not_later_ones() {
    let h = Harness::start_with_admin().await;
    let first = h.demo_token().await;
    let second = h.demo_token().await;
    assert_eq!(status(&h, &first).await, 200);

    let response = h
        .admin_post(
            "/admin/revocations/agents",
            Some(ADMIN_TOKEN),
            Some(&json!({"agent": "demo-agent"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_generic_401(&h, &first).await;
    assert_generic_401(&h, &second).await;

    // `iat` has one-second resolution: tokens issued in the second of the revocation are
    // refused too, so wait for the next second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = h.demo_token().await;
    assert_eq!(status(&h, &later).await, 200);
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let h = Harness::start_with_admin().await;
    let revoked = h.demo_token().await;
    let kept = h.demo_token().await;
    let response = h
        .admin_post(
            "/admin/revocations/tokens",
            Some(ADMIN_TOKEN),
            Some(&json!({"jti": jti(&revoked)})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = h
        .admin_post(
            "/admin/agents/readonly-agent/disable",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);

    let h = h.restart().await;
    assert_generic_401(&h, &revoked).await;
    assert_eq!(
        status(&h, &kept).await,
        200,
        "the same issuer and key after restart"
    );
    let refused = h.token_response("readonly-agent", READONLY_SECRET).await;
    assert_eq!(refused.status(), 401, "still disabled after the restart");
}

/// A change committed through another connection to the store (what the CLI does from its own
/// process; `crates/cli/tests` runs the real binary) applies within the refresh interval.
#[tokio::test]
async fn a_revocation_stored_by_another_connection_applies_within_the_refresh_interval() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    assert_eq!(status(&h, &token).await, 200);
    let config = portcullis_config::Config::load(&h.config_path)
        .unwrap()
        .config;
    let other = Revocations::open(&h.data_dir, Identity::revocation_retention(&config))
        .await
        .unwrap();
    assert!(
        other
            .revoke_token(&jti(&token), ChangeSource::Cli)
            .await
            .unwrap()
    );
    tokio::time::sleep(portcullis_identity::REFRESH_INTERVAL * 2).await;
    assert_generic_401(&h, &token).await;
}
