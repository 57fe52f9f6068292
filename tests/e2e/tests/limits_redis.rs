//! Two gateways sharing one limit through the real Redis named by `PORTCULLIS_TEST_REDIS_URL`
//! (`.ci/run` provides it). Each gateway is a separate `Gateway` with its own listener, data
//! directory and in-process state, so the only thing they share is Redis: what two replicas
//! of a fleet share. Without the variable the test prints `skipped: ...` and passes, unless
//! `PORTCULLIS_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::time::Duration;

use portcullis_config::{
    LimitBackendConfig, LimitKeyPart, LimitStage, LimitWeight, Name, NonZeroDuration,
    OnUnavailable, RateLimitConfig, SecretRef, ToolPatterns,
};
use portcullis_e2e::{Harness, spread_burst};

/// Burst of the shared limit; it refills by one unit an hour, so nothing refills during the
/// test and the expected count is exact.
const SHARED_BURST: u64 = 30;

async fn gateway(prefix: String) -> Harness {
    Harness::start_with(move |config| {
        config.limits.rates = vec![RateLimitConfig {
            name: Name::new("fleet").unwrap(),
            key: vec![LimitKeyPart::Agent],
            stage: LimitStage::Admit,
            weigh: LimitWeight::Calls,
            rate: 1,
            per: NonZeroDuration::new(Duration::from_secs(3600)).unwrap(),
            burst: Some(SHARED_BURST),
            tools: ToolPatterns::default(),
        }];
        config.limits.backend = LimitBackendConfig::Redis {
            url: SecretRef::Env("PORTCULLIS_TEST_REDIS_URL".to_owned()),
            prefix,
            timeout: NonZeroDuration::new(Duration::from_millis(500)).unwrap(),
            on_unavailable: OnUnavailable::FailClosed,
        };
    })
    .await
}

#[tokio::test]
async fn a_burst_spread_over_two_gateways_is_capped_at_the_shared_limit() {
    match std::env::var("PORTCULLIS_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {}
        _ => {
            assert!(
                std::env::var("PORTCULLIS_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "PORTCULLIS_TEST_REDIS_URL is not set but PORTCULLIS_REQUIRE_SERVICES=1"
            );
            println!("skipped: PORTCULLIS_TEST_REDIS_URL is not set");
            return;
        }
    }
    let prefix = format!(
        "portcullis-e2e-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let first = gateway(prefix.clone()).await;
    let second = gateway(prefix).await;
    let tokens = [first.demo_token().await, second.demo_token().await];

    // 100 distinct calls, alternating between the gateways, four at a time on each.
    let (allowed, refused) = spread_burst(
        &first.http,
        &[(&first.base, &tokens[0]), (&second.base, &tokens[1])],
        25,
        "\"fleet\";q=1;w=3600",
    )
    .await;
    let total = allowed[0] + allowed[1];
    // Exact: one script evaluates each call atomically on the server's clock. A tolerance of
    // one unit covers a refill landing during the run (one unit an hour).
    assert!(
        (SHARED_BURST..=SHARED_BURST + 1).contains(&total),
        "{allowed:?} allowed, {refused:?} refused"
    );
    // Both gateways served part of the shared budget and refused the rest.
    assert!(allowed.iter().all(|a| *a > 0) && refused.iter().all(|r| *r > 0));
    assert_eq!(first.gateway.limits().unavailable_count(), 0);
}
