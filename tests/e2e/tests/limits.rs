//! Call limits end to end, with the quickstart's own limits: loop detection over HTTP and MCP,
//! the per-agent admission rate with its retry hint, the cost of a refund, and a quota that
//! survives a restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use portcullis_config::{LimitKeyPart, LimitWeight, Name, QuotaConfig, QuotaPeriod, ToolPatterns};
use portcullis_e2e::Harness;
use rmcp::model::{CallToolRequestParams, JsonObject, ProtocolVersion};
use rmcp::service::ClientLifecycleMode;
use rmcp::service::ClientServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` field"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_same_call_repeated_is_refused_as_a_loop() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let before = h.upstream.requests_seen();
    let mut statuses = Vec::new();
    let mut codes = Vec::new();
    let mut first_refusal = None;
    for _ in 0..50 {
        let response = h.call(Some(&token), "getOrder", &json!({"id": 42})).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 && first_refusal.is_some() {
            let body: Value = response.json().await.unwrap();
            codes.push(body["limit"].as_str().unwrap().to_owned());
        } else if response.status() == 429 {
            let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
            assert!((1..=6).contains(&retry_after), "retry after {retry_after}");
            assert_eq!(header(&response, "ratelimit-policy"), "\"loop\";q=10;w=60");
            assert_eq!(
                header(&response, "ratelimit"),
                format!("\"loop\";r=0;t={retry_after}")
            );
            let body: Value = response.json().await.unwrap();
            first_refusal = Some(body);
        }
    }
    // The quickstart allows 10 identical calls a minute: the 11th and every later one is refused.
    assert_eq!(statuses[..10], [200; 10]);
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(h.upstream.requests_seen() - before, 10);
    let body = first_refusal.unwrap();
    assert_eq!(body["code"], "loop");
    assert_eq!(body["limit"], "loop");
    assert!(body["detail"].as_str().unwrap().contains("repeated"));
    // Calls 12 to 40 are loops too. The per-agent admission bucket (40, refilled at 20 a
    // second) is checked first, so from the 41st call on a fast caller may meet it instead.
    assert!(codes[..29].iter().all(|c| c == "loop"), "{codes:?}");
    assert!(
        codes.iter().all(|c| c == "loop" || c == "per-agent"),
        "{codes:?}"
    );
    let loops = 1 + codes.iter().filter(|c| *c == "loop").count();

    // Other arguments are another call (once the admission bucket has refilled a little).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let other = h.call(Some(&token), "getOrder", &json!({"id": 43})).await;
    assert_eq!(other.status(), 200);

    // The refusals are audited with the limit that fired.
    let records = portcullis_audit::tail(&h.audit_path(), 100).await.unwrap();
    let refused: Vec<_> = records
        .iter()
        .filter(|r| {
            r.event
                .reasons
                .iter()
                .any(|reason| reason.starts_with("loop:"))
        })
        .collect();
    assert_eq!(refused.len(), loops);
    assert!(refused.iter().all(|r| {
        r.event.decision.as_str() == "deny"
            && r.event.reasons.contains(&"limit: loop".to_owned())
            && r.event.upstream_status.is_none()
    }));
}

#[tokio::test]
async fn a_loop_over_mcp_is_a_tool_error_with_the_retry_hint() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", h.base)).auth_header(token),
    );
    let client = ()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover");
    let Value::Object(args) = json!({"id": 7}) else {
        panic!("object");
    };
    let args: JsonObject = args;
    for _ in 0..10 {
        let result = client
            .call_tool(CallToolRequestParams::new("getOrder").with_arguments(args.clone()))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false));
    }
    let result = client
        .call_tool(CallToolRequestParams::new("getOrder").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let detail = result.structured_content.expect("structured error");
    assert_eq!(detail["error"], "loop");
    assert_eq!(detail["limit"], "loop");
    assert!(detail["retry_after"].as_u64().is_some_and(|s| s >= 1));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_burst_beyond_the_agent_rate_gets_the_retry_hint() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let started = std::time::Instant::now();
    // Eight workers (under the quickstart's cap of 16 calls in flight), distinct ids so loop
    // detection stays out of it: 160 calls against a bucket of 40 refilled at 20 a second.
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..8u64 {
        let http = h.http.clone();
        let url = format!("{}/v1/tools/getOrder/call", h.base);
        let token = token.clone();
        workers.spawn(async move {
            let mut seen = Vec::new();
            for i in 0..20u64 {
                let response = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"id": worker * 100 + i + 1}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let hint = (status == 429).then(|| {
                    (
                        header(&response, "retry-after"),
                        header(&response, "ratelimit-policy"),
                        header(&response, "ratelimit"),
                    )
                });
                seen.push((status, hint));
            }
            seen
        });
    }
    let mut allowed = 0u64;
    let mut refused = 0u64;
    while let Some(seen) = workers.join_next().await {
        for (status, hint) in seen.unwrap() {
            match status {
                200 => allowed += 1,
                429 => {
                    refused += 1;
                    let (retry_after, policy, state) = hint.unwrap();
                    assert_eq!(retry_after, "1");
                    assert_eq!(policy, "\"per-agent\";q=20;w=1");
                    assert_eq!(state, "\"per-agent\";r=0;t=1");
                }
                other => panic!("unexpected status {other}"),
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(allowed + refused, 160);
    assert!(refused > 0, "the burst was not limited");
    // At most the burst plus what refilled while the burst ran (one spare for rounding).
    let ceiling = 40 + (20.0 * elapsed).ceil() as u64 + 1;
    assert!(allowed <= ceiling, "{allowed} allowed in {elapsed:.2} s");
    assert!(
        allowed >= 40,
        "{allowed} allowed: the burst itself must pass"
    );
}

#[tokio::test]
async fn refunds_cost_ten_and_a_quota_survives_a_restart() {
    let h = Harness::start_with(|config| {
        config.limits.quotas = vec![QuotaConfig {
            name: Name::new("tiny").unwrap(),
            key: vec![LimitKeyPart::Agent],
            period: QuotaPeriod::Day,
            limit: 25,
            weigh: LimitWeight::Cost,
            tools: ToolPatterns::default(),
        }];
    })
    .await;
    let token = h.demo_token().await;
    // Two refunds (10 each) fit the quota of 25; a third would not.
    for id in [1, 2] {
        let response = h
            .call(
                Some(&token),
                "refundOrder",
                &json!({"id": id, "amount_cents": 100, "reason": "late"}),
            )
            .await;
        assert_eq!(response.status(), 200, "refund {id}");
    }
    let third = h
        .call(
            Some(&token),
            "refundOrder",
            &json!({"id": 3, "amount_cents": 100, "reason": "late"}),
        )
        .await;
    assert_eq!(third.status(), 429);
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert!(
        body["limit"] == "tiny" || body["limit"] == "refunds",
        "{body}"
    );

    // After a restart the 20 units used are still counted: reads (cost 1) fit 5 more.
    let h = h.restart().await;
    let token = h.demo_token().await;
    for id in 1..6 {
        let response = h.call(Some(&token), "getOrder", &json!({"id": id})).await;
        assert_eq!(response.status(), 200, "read {id}");
    }
    let over = h.call(Some(&token), "getOrder", &json!({"id": 99})).await;
    assert_eq!(over.status(), 429);
    let body: Value = over.json().await.unwrap();
    assert_eq!(body["limit"], "tiny");
    let retry_after: u64 = body["retry_after"].as_u64().unwrap();
    assert!((1..=86_400).contains(&retry_after));
}

#[tokio::test]
async fn calls_denied_by_policy_consume_no_tool_budget() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let refund = |id: u64, cents: u64| json!({"id": id, "amount_cents": cents, "reason": "late"});
    // Refunds above the policy's ceiling are denied at authorize, before the meter stage.
    for id in 1..=5 {
        let response = h
            .call(Some(&token), "refundOrder", &refund(id, 500_000))
            .await;
        assert_eq!(response.status(), 403);
    }
    // So the `refunds` bucket (30 units, a refund costs 10) still holds three refunds.
    for id in 1..=3 {
        let response = h.call(Some(&token), "refundOrder", &refund(id, 100)).await;
        assert_eq!(response.status(), 200, "refund {id}");
    }
    let fourth = h.call(Some(&token), "refundOrder", &refund(4, 100)).await;
    assert_eq!(fourth.status(), 429);
    assert_eq!(header(&fourth, "ratelimit-policy"), "\"refunds\";q=30;w=60");
    let body: Value = fourth.json().await.unwrap();
    assert_eq!(body["limit"], "refunds");
    // A refund's cost refills in 20 s (10 units at 30 a minute), less the time the test took.
    let retry_after = body["retry_after"].as_u64().unwrap();
    assert!(
        (15..=20).contains(&retry_after),
        "retry after {retry_after}"
    );
}
