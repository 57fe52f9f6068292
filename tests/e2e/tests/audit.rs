//! The audit log end to end: exactly one record per call whatever its outcome, in order, with
//! the facts that matter; a modified row breaks verification at that row.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use portcullis_e2e::{DEMO_SECRET, Harness};
use serde_json::json;

#[tokio::test]
async fn every_call_leaves_exactly_one_record_and_tampering_is_named() {
    let h = Harness::start().await;
    assert_eq!(h.audit_records().await, 0);

    let token = h.demo_token().await; // 1: token issued
    let refused = h.token_response("demo-agent", "wrong").await; // 2: token refused
    assert_eq!(refused.status(), 401);
    let calls = [
        ("getOrder", json!({"id": 1}), 200),       // 3 allow
        ("getOrder", json!({"id": 999}), 200),     // 4 allow, upstream 404
        ("getOrder", json!({"id": "x"}), 422),     // 5 invalid
        ("nope", json!({}), 404),                  // 6 unknown
        ("deleteCustomer", json!({"id": 1}), 404), // 7 hidden
        (
            "refundOrder",
            json!({"id": 1, "amount_cents": 999999, "reason": "r"}),
            403,
        ), // 8 deny
    ];
    for (tool, args, status) in &calls {
        let response = h.call(Some(&token), tool, args).await;
        assert_eq!(response.status(), *status, "{tool} {args}");
    }
    let malformed = h
        .http
        .post(format!("{}/v1/tools/getOrder/call", h.base))
        .bearer_auth(&token)
        .body("{")
        .send()
        .await
        .unwrap(); // 9: invalid body
    assert_eq!(malformed.status(), 422);
    let anonymous = h.call(None, "getOrder", &json!({"id": 1})).await; // 10: unauthenticated
    assert_eq!(anonymous.status(), 401);

    let records = portcullis_audit::tail(&h.audit_path(), 100).await.unwrap();
    assert_eq!(records.len(), 10, "one record per call, no more, no less");
    let decisions: Vec<&str> = records.iter().map(|r| r.event.decision.as_str()).collect();
    assert_eq!(
        decisions,
        [
            "allow",
            "unauthenticated",
            "allow",
            "allow",
            "invalid",
            "invalid",
            "invalid",
            "deny",
            "invalid",
            "unauthenticated"
        ]
    );
    let allowed = &records[2].event;
    assert_eq!(allowed.agent.as_deref(), Some("demo-agent"));
    assert_eq!(allowed.tool.as_deref(), Some("getOrder"));
    assert_eq!(allowed.upstream_status, Some(200));
    assert_eq!(allowed.client_ip.as_deref(), Some("127.0.0.1"));
    assert!(allowed.args_digest.as_ref().is_some_and(|d| d.len() == 64));
    assert!(
        !allowed.policies.is_empty(),
        "the determining permit policy is recorded"
    );
    assert!(allowed.policy_version.is_some());
    assert_eq!(records[3].event.upstream_status, Some(404));
    let denied = &records[7].event;
    assert!(denied.reasons.iter().any(|r| r.starts_with("forbidden")));
    // The digest, never the arguments themselves.
    let all = serde_json::to_string(&records.iter().map(|r| &r.event).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains("99999") && !all.contains(DEMO_SECRET) && !all.contains(&token));

    // Tamper with record 5 and the chain must name it.
    let url = format!("sqlite://{}", h.audit_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_records SET decision = 'allow' WHERE seq = ?")
        .bind(records[4].seq as i64)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let report = portcullis_audit::verify(&h.audit_path()).await.unwrap();
    let broken = report.first_broken.expect("tampering detected");
    assert_eq!(broken.seq, records[4].seq);
    assert_eq!(broken.request_id, records[4].event.request_id);
}
