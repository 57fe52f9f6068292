//! The Redis backend against the real Redis named by `PORTCULLIS_TEST_REDIS_URL` (`.ci/run`
//! starts one on 127.0.0.1:6379 and sets it). Without the variable each test prints
//! `skipped: ...` and passes, unless `PORTCULLIS_REQUIRE_SERVICES=1`, where it fails. Every run
//! uses its own key prefix, so runs never see each other's counters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use portcullis_catalog::{Catalog, Tool};
use portcullis_config::{Config, RiskClass};
use portcullis_core::{DenialKind, Principal};
use portcullis_limits::Limits;

fn redis_url() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("PORTCULLIS_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "PORTCULLIS_TEST_REDIS_URL is not set but PORTCULLIS_REQUIRE_SERVICES=1"
            );
            println!("skipped: PORTCULLIS_TEST_REDIS_URL is not set");
            None
        }
    }
}

fn unique_prefix(test: &str) -> String {
    format!(
        "portcullis-test-{test}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn tool() -> Tool {
    Tool {
        name: "getOrder".to_owned(),
        api: "orders".to_owned(),
        operation_id: "getOrder".to_owned(),
        method: "GET".to_owned(),
        path: "/orders/{id}".to_owned(),
        description: String::new(),
        params: Vec::new(),
        body: None,
        input_schema: serde_json::json!({"type": "object"}),
        output_schema: None,
        risk: RiskClass::Low,
        scopes: Vec::new(),
    }
}

fn principal(agent: &str) -> Principal {
    Principal {
        agent: agent.to_owned(),
        subject: agent.to_owned(),
        roles: Vec::new(),
        scopes: Vec::new(),
        token_id: "t".to_owned(),
        issued_at: 0,
        expires_at: i64::MAX,
        user: None,
        actors: Vec::new(),
        certificate_thumbprint: None,
        mcp_only: false,
    }
}

/// A gateway's limits from a `limits` section in YAML, with the Redis backend.
async fn limits(section: &str, prefix: &str, on_unavailable: &str, url: &str) -> Limits {
    let yaml = format!(
        "policies: p\nlimits:\n{section}\n  backend:\n    type: redis\n    url: env:UNUSED\n    prefix: {prefix}\n    timeout: 200ms\n    on_unavailable: {on_unavailable}\n"
    );
    let mut config = Config::parse(&yaml, Path::new("test.yaml")).unwrap();
    config.data_dir = tempfile::tempdir().unwrap().keep();
    let catalog = Catalog::from_tools(vec![tool()]);
    Limits::open(&config, &catalog, Some(url)).await.unwrap()
}

const SHARED: &str = "  rates:
    - name: per-agent
      key: [agent]
      stage: admit
      rate: 10
      per: 1h
  loop_detection:
    max_repeats: 3
    window: 1h
  quotas:
    - name: daily
      key: [agent]
      period: day
      limit: 5
      weigh: calls";

#[tokio::test]
async fn two_gateways_share_one_limit() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("shared");
    let first = limits(SHARED, &prefix, "fail_closed", &url).await;
    let second = limits(SHARED, &prefix, "fail_closed", &url).await;
    let agent = principal("a");
    let mut allowed = 0;
    for i in 0..30 {
        let gateway = if i % 2 == 0 { &first } else { &second };
        match gateway.admit(&agent).await {
            Ok(()) => allowed += 1,
            Err(denial) => {
                assert_eq!(denial.kind, DenialKind::RateLimited);
                let hint = denial.rate_limit().unwrap();
                assert_eq!(hint.name, "per-agent");
                // One unit every 6 minutes.
                assert!((300..=360).contains(&hint.retry_after_secs), "{hint:?}");
            }
        }
    }
    // The shared bucket holds 10, whichever replica the calls reach.
    assert_eq!(allowed, 10);
    // Another agent is untouched.
    first.admit(&principal("b")).await.unwrap();
}

#[tokio::test]
async fn loops_and_quotas_are_shared_and_nothing_is_consumed_on_refusal() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("meter");
    let first = limits(SHARED, &prefix, "fail_closed", &url).await;
    let second = limits(SHARED, &prefix, "fail_closed", &url).await;
    let agent = principal("a");
    let tool = tool();
    // Three repeats pass across both replicas; the fourth is a loop.
    for i in 0..3 {
        let gateway = if i % 2 == 0 { &first } else { &second };
        let _ = gateway.meter(&agent, &tool, "same", || 0).await.unwrap();
    }
    let denial = first.meter(&agent, &tool, "same", || 0).await.unwrap_err();
    assert_eq!(denial.kind, DenialKind::Loop);
    // The loop refusal consumed no quota: 2 of 5 are left.
    let _ = second.meter(&agent, &tool, "x", || 0).await.unwrap();
    let _ = first.meter(&agent, &tool, "y", || 0).await.unwrap();
    let denial = second.meter(&agent, &tool, "z", || 0).await.unwrap_err();
    assert_eq!(denial.kind, DenialKind::RateLimited);
    assert_eq!(denial.rate_limit().unwrap().name, "daily");
}

#[tokio::test]
async fn an_unreachable_redis_fails_closed_or_falls_back_without_hanging() {
    // Needs no Redis: nothing listens on port 1.
    let dead = "redis://127.0.0.1:1/";
    let prefix = unique_prefix("dead");
    let agent = principal("a");

    let closed = limits(SHARED, &prefix, "fail_closed", dead).await;
    let started = Instant::now();
    let denial = closed.admit(&agent).await.unwrap_err();
    assert_eq!(denial.kind, DenialKind::Internal);
    assert!(
        denial
            .internal
            .iter()
            .any(|d| d.starts_with("limit store unavailable"))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(closed.unavailable_count() >= 1);

    let local = limits(SHARED, &prefix, "local", dead).await;
    let mut allowed = 0;
    for _ in 0..15 {
        if local.admit(&agent).await.is_ok() {
            allowed += 1;
        }
    }
    // The local buckets enforce the same limit in this process alone.
    assert_eq!(allowed, 10);
    assert!(local.unavailable_count() >= 15);
}

#[tokio::test]
async fn a_hanging_redis_trips_the_fallback_after_one_timeout() {
    // A listener that accepts connections and never answers: a hung Redis.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/", hung.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            open.push(socket);
        }
    });
    let prefix = unique_prefix("hung");
    let agent = principal("a");
    let local = limits(SHARED, &prefix, "local", &url).await;
    // Start-up already found it unresponsive: every call falls back at once, with no round
    // trip (the timeout is 200 ms; 15 calls well under one timeout means none waited for it).
    let started = Instant::now();
    let mut allowed = 0;
    for _ in 0..15 {
        if local.admit(&agent).await.is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10, "the local buckets enforce the limit meanwhile");
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "calls waited for a hung redis: {:?}",
        started.elapsed()
    );
    assert!(local.unavailable_count() >= 15);
    held.abort();
}

#[tokio::test]
async fn the_breaker_closes_when_a_probe_reaches_redis() {
    let Some(url) = redis_url() else { return };
    // Redis appears behind a port that was dead at start: a relay started later.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("redis://{}/", relay.local_addr().unwrap());
    let port = relay.local_addr().unwrap();
    drop(relay);
    let prefix = unique_prefix("probe");
    let limits = limits(SHARED, &prefix, "fail_closed", &relay_url).await;
    let agent = principal("a");
    assert_eq!(
        limits.admit(&agent).await.unwrap_err().kind,
        DenialKind::Internal
    );
    let relay = tokio::net::TcpListener::bind(port).await.unwrap();
    let target = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    // The probe runs once a second; within three the shared limits apply again.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if limits.admit(&agent).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the breaker never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Added latency of one Redis round trip per call, printed (the machine may be loaded; the
/// figures are indicative, not a benchmark).
#[tokio::test]
async fn redis_round_trip_latency() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("latency");
    let section = "  rates:
    - name: per-agent
      key: [agent]
      stage: admit
      rate: 1000000
      per: 1s";
    let limits = limits(section, &prefix, "fail_closed", &url).await;
    let agent = principal("a");
    for _ in 0..100 {
        limits.admit(&agent).await.unwrap();
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let started = Instant::now();
        limits.admit(&agent).await.unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();
    let p50 = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    println!(
        "redis admit latency: p50 {p50:?}, p99 {p99:?} over {} calls",
        samples.len()
    );
    assert!(p50 < Duration::from_millis(50), "p50 {p50:?}");
}
