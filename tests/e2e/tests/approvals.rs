//! Human approval gates over the HTTP tools API, end to end: the real gateway on loopback in
//! front of the real example API. A refund from 100.01 to 1,000.00 by the quickstart's
//! `demo-agent` is held for the `finance` group (policies/support.cedar). These tests prove that
//! nothing reaches the upstream before an approval, that an approved call runs exactly once
//! (also when identical calls race), that changed arguments, a denial, an expiry, a restart and
//! a policy change each do what a security engineer expects, that decisions made on the store
//! (what `portcullis approvals approve` does) reach a waiting call and the audit chain, and that
//! the webhook receives a correctly signed notice.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};
use portcullis_e2e::{ADMIN_TOKEN, Harness, OPERATOR_SECRET};
use portcullis_store::approvals::{ApprovalStore as _, SqliteApprovals, Vote};
use serde_json::{Value, json};

fn refund(cents: u64) -> Value {
    json!({"id": 7, "amount_cents": cents, "reason": "damaged in transit"})
}

/// The quickstart with the admin API on and the held call's wait set to `wait`.
async fn start(wait: Duration, adjust: impl FnOnce(&mut portcullis_config::Config)) -> Harness {
    Harness::start_with(|config| {
        config.admin.token = Some(portcullis_config::SecretRef::Env(
            "PORTCULLIS_ADMIN_TOKEN".to_owned(),
        ));
        let approvals = config
            .approvals
            .as_mut()
            .expect("the quickstart has approvals");
        approvals.wait = wait;
        adjust(config);
    })
    .await
}

async fn admin_get(h: &Harness, path: &str) -> Value {
    let base = h.admin_base.as_deref().expect("admin API on");
    let response = h
        .http
        .get(format!("{base}{path}"))
        .basic_auth("demo-operator", Some(OPERATOR_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn decide(
    h: &Harness,
    id: &str,
    verb: &str,
    who: (&str, &str),
    reason: Option<&str>,
) -> reqwest::Response {
    let base = h.admin_base.as_deref().expect("admin API on");
    let mut request = h
        .http
        .post(format!("{base}/admin/approvals/{id}/{verb}"))
        .basic_auth(who.0, Some(who.1));
    if let Some(reason) = reason {
        request = request.json(&json!({ "reason": reason }));
    }
    request.send().await.unwrap()
}

/// Waits until one pending approval is listed; its JSON.
async fn first_pending(h: &Harness) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = admin_get(h, "/admin/approvals?status=pending").await;
        if let Some(first) = list["approvals"].as_array().and_then(|a| a.first()) {
            return first.clone();
        }
        assert!(Instant::now() < deadline, "no hold appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A decision as the CLI makes it: straight into the data folder's store.
async fn cli_vote(h: &Harness, id: &str, approver: &str, approve: bool, reason: Option<&str>) {
    let store = SqliteApprovals::open(&h.data_dir).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    store
        .decide(Vote {
            approval: id.to_owned(),
            approver: approver.to_owned(),
            approve,
            reason: reason.map(str::to_owned),
            at: now,
            source: "cli".to_owned(),
            recorded: false,
        })
        .await
        .unwrap();
}

async fn audit_lines(h: &Harness) -> Vec<String> {
    portcullis_audit::tail(&h.audit_path(), 200)
        .await
        .unwrap()
        .iter()
        .flat_map(|r| r.event.reasons.clone())
        .collect()
}

#[tokio::test]
async fn a_held_refund_waits_runs_once_after_an_admin_api_approval_and_never_before() {
    let h = Arc::new(start(Duration::from_secs(20), |_| {}).await);
    let token = h.demo_token().await;
    let before = h.upstream.requests_seen();

    // A refund within the free limit runs without any hold.
    let small = h.call(Some(&token), "refundOrder", &refund(5_000)).await;
    assert_eq!(small.status(), 200);
    assert_eq!(h.upstream.requests_seen(), before + 1);

    let caller = {
        let (h, token) = (Arc::clone(&h), token.clone());
        tokio::spawn(async move { h.call(Some(&token), "refundOrder", &refund(25_000)).await })
    };
    let held = first_pending(&h).await;
    let id = held["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("apr_") && id.len() > 30, "{id}");
    assert_eq!(held["tool"], "refundOrder");
    assert_eq!(held["agent"], "demo-agent");
    assert_eq!(held["group"], "finance");
    assert_eq!(held["arguments"]["amount_cents"], 25_000);
    assert_eq!(
        held["required_by"],
        json!(["support-large-refunds-need-approval"])
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.upstream.requests_seen(),
        before + 1,
        "nothing may reach the upstream before the approval"
    );

    // Nobody but an approver decides: not the admin token, not an agent's token, not a wrong
    // secret; a denial needs a reason.
    let base = h.admin_base.clone().unwrap();
    let with_admin = h
        .http
        .post(format!("{base}/admin/approvals/{id}/approve"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(with_admin.status(), 403);
    let with_agent = h
        .http
        .post(format!("{base}/admin/approvals/{id}/approve"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_agent.status(), 401);
    let wrong = decide(&h, &id, "approve", ("demo-operator", "wrong"), None).await;
    assert_eq!(wrong.status(), 401);
    let no_reason = decide(&h, &id, "deny", ("demo-operator", OPERATOR_SECRET), None).await;
    assert_eq!(no_reason.status(), 422);
    let unknown = decide(
        &h,
        "apr_0000",
        "approve",
        ("demo-operator", OPERATOR_SECRET),
        None,
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(h.upstream.requests_seen(), before + 1);

    let approved_at = Instant::now();
    let approved = decide(
        &h,
        &id,
        "approve",
        ("demo-operator", OPERATOR_SECRET),
        Some("customer sent photos"),
    )
    .await;
    assert_eq!(approved.status(), 200);
    let answer = caller.await.unwrap();
    let latency = approved_at.elapsed();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    // The upstream's own answer (the example order's balance decides it), not a refusal.
    assert!(
        body["status"].is_u64() && body.get("code").is_none(),
        "{body}"
    );
    assert_eq!(h.upstream.requests_seen(), before + 2);
    let sent = h.upstream.last_request().unwrap().body_json().unwrap();
    assert_eq!(sent["amount_cents"], 25_000);
    eprintln!("approval to answer: {latency:?}");
    assert!(latency < Duration::from_secs(2), "{latency:?}");

    // Single use: deciding again is refused, and the approval is spent.
    let again = decide(&h, &id, "approve", ("demo-operator", OPERATOR_SECRET), None).await;
    assert_eq!(again.status(), 422);
    let shown = admin_get(&h, &format!("/admin/approvals/{id}")).await;
    assert_eq!(shown["status"], "executed");
    assert_eq!(shown["approved_by"], json!(["demo-operator"]));

    let lines = audit_lines(&h).await;
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("approval: held `{id}` for group `finance`"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("approval: executed `{id}` approved by demo-operator")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l
            .starts_with("approved by demo-operator, now approved; reason: customer sent photos")),
        "{lines:?}"
    );
    h.audit_records().await;
}

#[tokio::test]
async fn past_the_wait_the_agent_is_told_it_is_pending_and_the_identical_call_runs_once_after_approval()
 {
    let h = Arc::new(start(Duration::from_millis(500), |_| {}).await);
    let token = h.demo_token().await;
    let before = h.upstream.requests_seen();

    let first = h.call(Some(&token), "refundOrder", &refund(25_000)).await;
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    assert!(first.headers().contains_key("retry-after"));
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["code"], "approval_pending");
    let id = body["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/approvals/{id}"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Repeat this identical call")
    );

    // The agent polls its own approval; another agent cannot see it.
    let poll = |token: String| {
        let url = format!("{}{location}", h.base);
        let http = h.http.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let mine: Value = poll(token.clone()).await.json().await.unwrap();
    assert_eq!(mine["status"], "pending");
    assert!(mine.get("arguments").is_none());
    let other = h
        .token_for("readonly-agent", portcullis_e2e::READONLY_SECRET)
        .await;
    assert_eq!(poll(other).await.status(), 404);

    // Repeating while pending joins the same hold; changed arguments are another call.
    let repeat: Value = h
        .call(Some(&token), "refundOrder", &refund(25_000))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(repeat["approval_id"], id.as_str());
    let changed: Value = h
        .call(Some(&token), "refundOrder", &refund(25_001))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["code"], "approval_pending");
    assert_ne!(changed["approval_id"], id.as_str());
    assert_eq!(h.upstream.requests_seen(), before);

    // Approved as the CLI approves (on the store); the gateway records the decision.
    cli_vote(&h, &id, "demo-operator", true, Some("ok")).await;
    let polled: Value = poll(token.clone()).await.json().await.unwrap();
    assert_eq!(polled["status"], "approved");

    // Identical calls racing: exactly one runs.
    let mut racing = Vec::new();
    for _ in 0..4 {
        let (h, token) = (Arc::clone(&h), token.clone());
        racing.push(tokio::spawn(async move {
            h.call(Some(&token), "refundOrder", &refund(25_000))
                .await
                .status()
                .as_u16()
        }));
    }
    let mut answers = Vec::new();
    for call in racing {
        answers.push(call.await.unwrap());
    }
    let ran = answers.iter().filter(|s| **s == 200).count();
    assert_eq!(ran, 1, "{answers:?}");
    assert_eq!(h.upstream.requests_seen(), before + 1);

    // The recorded decision.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = audit_lines(&h).await;
        if lines
            .iter()
            .any(|l| l.starts_with("approval: approved by demo-operator (cli), now "))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CLI decision not recorded: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.audit_records().await;
}

#[tokio::test]
async fn a_denied_hold_answers_with_the_approvers_reason_and_costs_no_budget() {
    let h = Arc::new(start(Duration::from_secs(20), |_| {}).await);
    let token = h.demo_token().await;
    let before = h.upstream.requests_seen();
    let caller = {
        let (h, token) = (Arc::clone(&h), token.clone());
        tokio::spawn(async move { h.call(Some(&token), "refundOrder", &refund(30_000)).await })
    };
    let id = first_pending(&h).await["id"].as_str().unwrap().to_owned();
    let denied = decide(
        &h,
        &id,
        "deny",
        ("demo-operator", OPERATOR_SECRET),
        Some("refunds over 250 need a manager"),
    )
    .await;
    assert_eq!(denied.status(), 200);
    let answer = caller.await.unwrap();
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "approval_denied");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("refunds over 250 need a manager"),
        "{body}"
    );
    // Repeating a denied call is refused at once, without a new hold.
    let again: Value = h
        .call(Some(&token), "refundOrder", &refund(30_000))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["code"], "approval_denied");
    assert_eq!(h.upstream.requests_seen(), before);
    // The refund budget (3 a minute) is untouched: three small refunds still pass.
    for _ in 0..3 {
        let small = h.call(Some(&token), "refundOrder", &refund(100)).await;
        assert_eq!(small.status(), 200);
    }
}

#[tokio::test]
async fn an_undecided_hold_expires_and_a_repeat_asks_again() {
    let h = start(Duration::from_millis(300), |config| {
        config.approvals.as_mut().unwrap().expiry = Duration::from_secs(2);
    })
    .await;
    let token = h.demo_token().await;
    let first: Value = h
        .call(Some(&token), "refundOrder", &refund(40_000))
        .await
        .json()
        .await
        .unwrap();
    let id = first["approval_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2_800)).await;
    let polled: Value = h
        .http
        .get(format!("{}/v1/approvals/{id}", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(polled["status"], "expired");
    let late = decide(&h, &id, "approve", ("demo-operator", OPERATOR_SECRET), None).await;
    assert_eq!(late.status(), 422);
    let again: Value = h
        .call(Some(&token), "refundOrder", &refund(40_000))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["code"], "approval_pending");
    assert_ne!(again["approval_id"], id.as_str());
    assert!(
        audit_lines(&h)
            .await
            .contains(&format!("approval: expired `{id}`"))
    );
    assert_eq!(h.upstream.requests_seen(), 0);
}

#[tokio::test]
async fn a_pending_hold_survives_a_restart_and_a_policy_change_is_authorized_again() {
    let h = start(Duration::from_millis(300), |_| {}).await;
    let token = h.demo_token().await;
    let kept: Value = h
        .call(Some(&token), "refundOrder", &refund(45_000))
        .await
        .json()
        .await
        .unwrap();
    let kept = kept["approval_id"].as_str().unwrap().to_owned();
    let dropped: Value = h
        .call(Some(&token), "refundOrder", &refund(90_000))
        .await
        .json()
        .await
        .unwrap();
    let dropped = dropped["approval_id"].as_str().unwrap().to_owned();

    // Restart: both still pending, then approvable.
    let h = h.restart().await;
    let token = h.demo_token().await;
    let shown = admin_get(&h, &format!("/admin/approvals/{kept}")).await;
    assert_eq!(shown["status"], "pending");
    let ok = decide(
        &h,
        &kept,
        "approve",
        ("demo-operator", OPERATOR_SECRET),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let ran = h.call(Some(&token), "refundOrder", &refund(45_000)).await;
    assert_eq!(ran.status(), 200);
    assert_eq!(h.upstream.requests_seen(), 1);

    // The policies change before the second is approved: refunds above 500.00 are no longer
    // permitted at all. The approval does not override the new policy.
    let policy = h
        .config_path
        .parent()
        .unwrap()
        .join("policies/support.cedar");
    let text = std::fs::read_to_string(&policy).unwrap();
    let text = text.replace(
        "context.args.amount_cents <= 100000",
        "context.args.amount_cents <= 50000",
    );
    std::fs::write(&policy, text).unwrap();
    let h = h.restart().await;
    let token = h.demo_token().await;
    let ok = decide(
        &h,
        &dropped,
        "approve",
        ("demo-operator", OPERATOR_SECRET),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let refused = h.call(Some(&token), "refundOrder", &refund(90_000)).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");
    assert_eq!(
        h.upstream.requests_seen(),
        1,
        "only the first, approved under the old policies"
    );
}

#[tokio::test]
async fn the_two_person_rule_needs_two_distinct_approvers() {
    let h = Arc::new(
        start(Duration::from_secs(20), |config| {
            let approvals = config.approvals.as_mut().unwrap();
            approvals.groups[0].required = 2;
            let mut second = approvals.approvers[0].clone();
            second.id = portcullis_config::Name::new("second-operator").unwrap();
            approvals.approvers.push(second);
        })
        .await,
    );
    let token = h.demo_token().await;
    let caller = {
        let (h, token) = (Arc::clone(&h), token.clone());
        tokio::spawn(async move { h.call(Some(&token), "refundOrder", &refund(50_000)).await })
    };
    let id = first_pending(&h).await["id"].as_str().unwrap().to_owned();
    let one = decide(&h, &id, "approve", ("demo-operator", OPERATOR_SECRET), None).await;
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.unwrap();
    assert_eq!(one["status"], "pending");
    let twice = decide(&h, &id, "approve", ("demo-operator", OPERATOR_SECRET), None).await;
    assert_eq!(twice.status(), 422, "the same person cannot approve twice");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.upstream.requests_seen(), 0);
    let two = decide(
        &h,
        &id,
        "approve",
        ("second-operator", OPERATOR_SECRET),
        None,
    )
    .await;
    assert_eq!(two.status(), 200);
    assert_eq!(caller.await.unwrap().status(), 200);
    assert_eq!(h.upstream.requests_seen(), 1);
}

/// What the webhook receiver got: each attempt's signature header, body and delivery id.
type Deliveries = Arc<parking_lot::Mutex<Vec<(String, Vec<u8>, String)>>>;

/// A webhook receiver on loopback: the bodies and signature headers it got.
async fn receiver() -> (String, Deliveries) {
    let seen: Deliveries = Arc::default();
    let kept = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    let signature = headers
                        .get("x-portcullis-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let delivery = headers
                        .get("x-portcullis-delivery")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let mut seen = kept.lock();
                    seen.push((signature, body.to_vec(), delivery));
                    // The first attempt fails: the notice must come again.
                    if seen.len() == 1 {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        axum::http::StatusCode::NO_CONTENT
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test]
async fn each_hold_is_announced_to_the_webhook_with_a_valid_signature() {
    let (url, seen) = receiver().await;
    let h = start(Duration::from_millis(300), |config| {
        config.approvals.as_mut().unwrap().webhook = Some(portcullis_config::WebhookConfig {
            url: portcullis_config::HttpUrl::parse(&url).unwrap(),
            // The test environment's admin token doubles as the signing key.
            secret: Some(portcullis_config::SecretRef::Env(
                "PORTCULLIS_ADMIN_TOKEN".to_owned(),
            )),
            format: portcullis_config::WebhookFormat::Json,
            attempts: 3,
            egress: portcullis_config::EgressConfig {
                allow_private: vec!["127.0.0.1/32".parse().unwrap()],
                ..Default::default()
            },
        });
    })
    .await;
    let token = h.demo_token().await;
    let held: Value = h
        .call(Some(&token), "refundOrder", &refund(26_000))
        .await
        .json()
        .await
        .unwrap();
    let id = held["approval_id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no retry after a refused delivery"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (first, again) = {
        let seen = seen.lock();
        (seen[0].clone(), seen[1].clone())
    };
    assert_eq!(first.1, again.1, "the same notice, retried");
    assert_eq!(first.2, again.2, "under the same delivery id");
    let (signature, body, _) = again;
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["type"], "approval.requested");
    assert_eq!(event["approval_id"], id);
    assert_eq!(event["arguments"]["amount_cents"], 26_000);
    let (t, v1) = signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .expect("t=...,v1=...");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(ADMIN_TOKEN.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()));
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..60).contains(&age));
}

#[tokio::test]
async fn approvers_see_the_arguments_redacted_like_responses() {
    let h = start(Duration::from_millis(200), |_| {}).await;
    let token = h.demo_token().await;
    let held = h
        .call(
            Some(&token),
            "refundOrder",
            &json!({"id": 9, "amount_cents": 12_345, "reason": "refund to card 4111 1111 1111 1111 please"}),
        )
        .await;
    assert_eq!(held.status(), 202);
    let listed = admin_get(&h, "/admin/approvals?status=pending").await;
    let reason = listed["approvals"][0]["arguments"]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!reason.contains("4111"), "{reason}");
    assert!(reason.contains("[REDACTED:card]"), "{reason}");
}

#[tokio::test]
async fn an_unavailable_approval_store_fails_closed_and_spares_calls_needing_none() {
    let h = start(Duration::from_millis(200), |_| {}).await;
    let token = h.demo_token().await;
    // Break the store under the running gateway.
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        h.data_dir.join("approvals.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("ALTER TABLE approvals RENAME TO approvals_gone")
        .execute(&mut conn)
        .await
        .unwrap();
    let started = Instant::now();
    let refused = h.call(Some(&token), "refundOrder", &refund(20_000)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    assert_eq!(refused.status(), 500);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("approval store is unavailable"),
        "{body}"
    );
    assert_eq!(h.upstream.requests_seen(), 0);
    let small = h.call(Some(&token), "refundOrder", &refund(100)).await;
    assert_eq!(small.status(), 200);
}

#[tokio::test]
async fn two_approvers_racing_yield_one_decision_and_one_execution() {
    let h = Arc::new(
        start(Duration::from_secs(20), |config| {
            let approvals = config.approvals.as_mut().unwrap();
            let mut second = approvals.approvers[0].clone();
            second.id = portcullis_config::Name::new("second-operator").unwrap();
            approvals.approvers.push(second);
        })
        .await,
    );
    let token = h.demo_token().await;
    let caller = {
        let (h, token) = (Arc::clone(&h), token.clone());
        tokio::spawn(async move { h.call(Some(&token), "refundOrder", &refund(60_000)).await })
    };
    let id = first_pending(&h).await["id"].as_str().unwrap().to_owned();
    let mut racing = Vec::new();
    for who in ["demo-operator", "second-operator"] {
        let (h, id) = (Arc::clone(&h), id.clone());
        racing.push(tokio::spawn(async move {
            decide(&h, &id, "approve", (who, OPERATOR_SECRET), None)
                .await
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in racing {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 422],
        "one decides, the other is told it is decided"
    );
    assert_eq!(caller.await.unwrap().status(), 200);
    assert_eq!(h.upstream.requests_seen(), 1);
    let shown = admin_get(&h, &format!("/admin/approvals/{id}")).await;
    assert_eq!(shown["status"], "executed");
    assert_eq!(shown["votes"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn an_approval_by_a_group_that_no_longer_decides_covers_nothing() {
    let with_treasury = |config: &mut portcullis_config::Config| {
        let approvals = config.approvals.as_mut().unwrap();
        let mut treasury = approvals.groups[0].clone();
        treasury.name = portcullis_config::Name::new("treasury").unwrap();
        approvals.groups.push(treasury.clone());
        approvals.approvers[0].groups.push(treasury.name);
    };
    let h = start(Duration::from_millis(300), with_treasury).await;
    let token = h.demo_token().await;
    let held: Value = h
        .call(Some(&token), "refundOrder", &refund(30_000))
        .await
        .json()
        .await
        .unwrap();
    let old = held["approval_id"].as_str().unwrap().to_owned();
    // The policies now ask the treasury group instead; finance approves its old hold anyway.
    let policy = h
        .config_path
        .parent()
        .unwrap()
        .join("policies/support.cedar");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replace("@approval(\"finance\")", "@approval(\"treasury\")"),
    )
    .unwrap();
    let h = h.restart().await;
    let token = h.demo_token().await;
    let ok = decide(
        &h,
        &old,
        "approve",
        ("demo-operator", OPERATOR_SECRET),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let again = h.call(Some(&token), "refundOrder", &refund(30_000)).await;
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_ne!(again["approval_id"], old.as_str());
    let shown = admin_get(
        &h,
        &format!(
            "/admin/approvals/{}",
            again["approval_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(shown["group"], "treasury");
    assert_eq!(h.upstream.requests_seen(), 0);
}

#[tokio::test]
async fn when_two_groups_apply_both_must_approve() {
    let h = start(Duration::from_millis(300), |config| {
        let approvals = config.approvals.as_mut().unwrap();
        let mut treasury = approvals.groups[0].clone();
        treasury.name = portcullis_config::Name::new("treasury").unwrap();
        approvals.groups.push(treasury.clone());
        approvals.approvers[0].groups.push(treasury.name);
        std::fs::write(
            config.policies.join("treasury.cedar"),
            "@id(\"treasury-large-refunds\")\n@approval(\"treasury\")\npermit (principal in Portcullis::Role::\"support\", action == Portcullis::Action::\"refundOrder\", resource)\nwhen { context.args.amount_cents > 20000 && context.args.amount_cents <= 100000 };\n",
        )
        .unwrap();
    })
    .await;
    let token = h.demo_token().await;
    let first = h.call(Some(&token), "refundOrder", &refund(35_000)).await;
    assert_eq!(first.status(), 202);
    let listed = admin_get(&h, "/admin/approvals?status=pending").await;
    let mut groups: Vec<String> = listed["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["group"].as_str().unwrap().to_owned())
        .collect();
    groups.sort();
    assert_eq!(groups, ["finance", "treasury"], "{listed}");
    let id_of = |group: &str| {
        listed["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["group"] == group)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ok = decide(
        &h,
        &id_of("finance"),
        "approve",
        ("demo-operator", OPERATOR_SECRET),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let still = h.call(Some(&token), "refundOrder", &refund(35_000)).await;
    assert_eq!(still.status(), 202, "treasury has not decided");
    let still: Value = still.json().await.unwrap();
    assert_eq!(still["approval_id"], id_of("treasury").as_str());
    assert_eq!(h.upstream.requests_seen(), 0);
    let ok = decide(
        &h,
        &id_of("treasury"),
        "approve",
        ("demo-operator", OPERATOR_SECRET),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let ran = h.call(Some(&token), "refundOrder", &refund(35_000)).await;
    assert_eq!(ran.status(), 200);
    assert_eq!(h.upstream.requests_seen(), 1);
    for group in ["finance", "treasury"] {
        let shown = admin_get(&h, &format!("/admin/approvals/{}", id_of(group))).await;
        assert_eq!(shown["status"], "executed", "{group}");
    }
}
