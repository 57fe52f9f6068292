//! The token endpoint under secret guessing: failed client authentication is throttled per
//! address and per client id with a doubling back-off, answered 429 with `Retry-After` before
//! any secret is checked, every answer audited, and a working agent is not locked out by
//! failures sent in its name from elsewhere.
//!
//! Client sockets are bound to other loopback addresses (127.0.0.0/8 is all loopback on Linux),
//! so the gateway sees several client addresses on one machine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::net::IpAddr;
use std::time::Duration;

use portcullis_config::HumanDuration;
use portcullis_e2e::{DEMO_SECRET, Harness, READONLY_SECRET};
use serde_json::Value;

/// An HTTP client whose connections come from `address`.
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn token(
    h: &Harness,
    client: &reqwest::Client,
    id: &str,
    secret: &str,
) -> (u16, Option<String>, Value) {
    let response = client
        .post(format!("{}/oauth/token", h.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap())
}

#[tokio::test]
async fn an_address_guessing_secrets_is_slowed_then_let_through_again() {
    let h = Harness::start_with(|config| {
        config.issuer.client_auth.failures_per_address = 3;
        config.issuer.client_auth.failures_per_client = 1000;
        config.issuer.client_auth.max_backoff = HumanDuration(Duration::from_secs(60));
    })
    .await;
    let before = h.audit_records().await;
    let guesser = client_from("127.0.0.2");
    // The allowance, then one failure more arms a one-second back-off.
    for _ in 0..4 {
        let (status, _, body) = token(&h, &guesser, "demo-agent", "wrong").await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_client");
    }
    // Even the right secret waits out the back-off: nothing is checked while it runs.
    let (status, retry, body) = token(&h, &guesser, "demo-agent", DEMO_SECRET).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(body["error"], "temporarily_unavailable");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("this address"), "{description}");
    assert!(!description.contains(DEMO_SECRET));
    // An unknown client id from the same address is answered alike.
    let (status, _, _) = token(&h, &guesser, "no-such-agent", "x").await;
    assert_eq!(status, 429);
    // Other addresses are not affected.
    let other = client_from("127.0.0.3");
    let (status, _, _) = token(&h, &other, "demo-agent", DEMO_SECRET).await;
    assert_eq!(status, 200);
    // After the back-off the right secret works and clears the count.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = token(&h, &guesser, "demo-agent", DEMO_SECRET).await;
    assert_eq!(status, 200);
    let (status, _, _) = token(&h, &guesser, "demo-agent", "wrong").await;
    assert_eq!(status, 401, "the success cleared the address's count");
    // Every answer, throttled ones included, left exactly one record.
    assert_eq!(h.audit_records().await, before + 9);
}

#[tokio::test]
async fn failures_in_an_agents_name_do_not_lock_out_its_own_address() {
    let h = Harness::start_with(|config| {
        config.issuer.client_auth.failures_per_address = 1000;
        config.issuer.client_auth.failures_per_client = 3;
    })
    .await;
    // The agent works from 127.0.0.10.
    let agent = client_from("127.0.0.10");
    let (status, _, _) = token(&h, &agent, "readonly-agent", READONLY_SECRET).await;
    assert_eq!(status, 200);
    // Someone guesses its secret from many addresses.
    for n in 20..30 {
        let attacker = client_from(&format!("127.0.0.{n}"));
        let (status, _, _) = token(&h, &attacker, "readonly-agent", "guess").await;
        assert!(status == 401 || status == 429, "{status}");
    }
    // A new address naming that id is slowed down, whatever it presents...
    let fresh = client_from("127.0.0.40");
    let (status, retry, body) = token(&h, &fresh, "readonly-agent", READONLY_SECRET).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry.is_some());
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("client id")
    );
    // ...but the agent's own address keeps getting tokens.
    let (status, _, _) = token(&h, &agent, "readonly-agent", READONLY_SECRET).await;
    assert_eq!(status, 200);
    // Other client ids are not affected.
    let (status, _, _) = token(&h, &fresh, "demo-agent", DEMO_SECRET).await;
    assert_eq!(status, 200);
}
