#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::Duration;

use portcullis_config::{
    ConcurrencyConfig, LimitKeyPart, LimitStage, LimitWeight, LoopDetectionConfig, Name,
    NonZeroDuration, QuotaConfig, QuotaPeriod, RateLimitConfig, RiskClass, ToolPatterns,
};

use super::*;

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

fn tool(name: &str, api: &str) -> Tool {
    Tool {
        name: name.to_owned(),
        api: api.to_owned(),
        operation_id: name.to_owned(),
        method: "GET".to_owned(),
        path: "/x".to_owned(),
        description: String::new(),
        params: Vec::new(),
        body: None,
        input_schema: serde_json::json!({"type": "object"}),
        output_schema: None,
        risk: RiskClass::Low,
        scopes: Vec::new(),
    }
}

fn rate(
    name: &str,
    key: Vec<LimitKeyPart>,
    stage: LimitStage,
    rate: u64,
    burst: u64,
) -> RateLimitConfig {
    RateLimitConfig {
        name: Name::new(name).unwrap(),
        key,
        stage,
        weigh: LimitWeight::Cost,
        rate,
        per: NonZeroDuration::new(Duration::from_secs(60)).unwrap(),
        burst: Some(burst),
        tools: ToolPatterns::default(),
    }
}

/// Builds limits from a `limits` section without a config file: the test drives the parts
/// that do not need the catalog (costs come from `costs`).
async fn limits(
    section: InputLimits,
    costs: &[(&str, u64)],
    data_dir: Option<&std::path::Path>,
) -> Limits {
    let (rules, admit, meter, loop_rule) = compile(&section);
    let needs_store = rules.iter().any(|r| matches!(r.kind, Kind::Quota { .. }));
    let store = match (needs_store, data_dir) {
        (true, Some(dir)) => Some(store::QuotaStore::open(dir).await.unwrap()),
        _ => None,
    };
    Limits {
        rules: rules.into(),
        admit,
        meter,
        loop_rule,
        costs: costs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect(),
        bytes_per_token: 4,
        per_agent: section.concurrency.per_agent,
        per_api: section.concurrency.per_api,
        backend: Backend::Local,
        local: Arc::new(local::Local::new(store).await),
    }
}

#[tokio::test]
async fn admit_limit_refuses_after_the_burst_with_a_retry_hint() {
    let section = InputLimits {
        rates: vec![rate(
            "per-agent",
            vec![LimitKeyPart::Agent],
            LimitStage::Admit,
            60,
            3,
        )],
        ..InputLimits::default()
    };
    let limits = limits(section, &[], None).await;
    let a = principal("a");
    for _ in 0..3 {
        limits.admit(&a).await.unwrap();
    }
    let denial = limits.admit(&a).await.unwrap_err();
    assert_eq!(denial.kind, DenialKind::RateLimited);
    let hint = denial.rate_limit().unwrap();
    assert_eq!(hint.name, "per-agent");
    assert_eq!((hint.quota, hint.window_secs, hint.remaining), (60, 60, 0));
    // One unit per second refills.
    assert_eq!(hint.retry_after_secs, 1);
    assert!(denial.internal.contains(&"limit: per-agent".to_owned()));
    // Another agent has its own bucket.
    limits.admit(&principal("b")).await.unwrap();
}

#[tokio::test]
async fn no_limit_is_consumed_when_one_refuses() {
    let mut wide = rate("wide", vec![LimitKeyPart::Agent], LimitStage::Meter, 60, 10);
    wide.weigh = LimitWeight::Calls;
    let narrow = RateLimitConfig {
        tools: ToolPatterns::parse(["refund*"]).unwrap(),
        ..rate(
            "refunds",
            vec![LimitKeyPart::Agent, LimitKeyPart::Tool],
            LimitStage::Meter,
            60,
            5,
        )
    };
    let section = InputLimits {
        rates: vec![wide, narrow],
        ..InputLimits::default()
    };
    let limits = limits(section, &[("refundOrder", 3)], None).await;
    let a = principal("a");
    let refund = tool("refundOrder", "orders");
    let get = tool("getOrder", "orders");
    // Cost 3 against a burst of 5: the first passes, the second is refused by `refunds`.
    let _ = limits.meter(&a, &refund, "d1", || 0).await.unwrap();
    let denial = limits.meter(&a, &refund, "d2", || 0).await.unwrap_err();
    assert_eq!(denial.rate_limit().unwrap().name, "refunds");
    // The refused call consumed nothing from `wide`: 9 more calls fit in its burst of 10.
    for i in 0..9 {
        let _ = limits
            .meter(&a, &get, &format!("g{i}"), || 0)
            .await
            .unwrap();
    }
    let denial = limits.meter(&a, &get, "g-last", || 0).await.unwrap_err();
    assert_eq!(denial.rate_limit().unwrap().name, "wide");
}

#[tokio::test]
async fn the_same_call_repeated_is_refused_as_a_loop() {
    let section = InputLimits {
        loop_detection: Some(LoopDetectionConfig {
            max_repeats: 5,
            window: NonZeroDuration::new(Duration::from_secs(60)).unwrap(),
        }),
        ..InputLimits::default()
    };
    let limits = limits(section, &[], None).await;
    let a = principal("a");
    let get = tool("getOrder", "orders");
    for _ in 0..5 {
        let _ = limits.meter(&a, &get, "same", || 0).await.unwrap();
    }
    let denial = limits.meter(&a, &get, "same", || 0).await.unwrap_err();
    assert_eq!(denial.kind, DenialKind::Loop);
    assert_eq!(denial.kind.code(), "loop");
    assert_eq!(denial.rate_limit().unwrap().retry_after_secs, 12);
    // Other arguments, or another agent, are not the same call.
    let _ = limits.meter(&a, &get, "other", || 0).await.unwrap();
    let _ = limits
        .meter(&principal("b"), &get, "same", || 0)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrency_permits_are_released_on_drop() {
    let section = InputLimits {
        concurrency: ConcurrencyConfig {
            per_agent: Some(2),
            per_api: None,
        },
        ..InputLimits::default()
    };
    let limits = limits(section, &[], None).await;
    let a = principal("a");
    let get = tool("getOrder", "orders");
    let first = limits.meter(&a, &get, "1", || 0).await.unwrap();
    let second = limits.meter(&a, &get, "2", || 0).await.unwrap();
    let denial = limits.meter(&a, &get, "3", || 0).await.unwrap_err();
    assert_eq!(denial.rate_limit().unwrap().name, "concurrency-agent");
    drop(first);
    let third = limits.meter(&a, &get, "4", || 0).await.unwrap();
    // A cancelled call (its future dropped mid-way) frees its permit too.
    let held = tokio::spawn(async move {
        let _keep = (second, third);
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(limits.meter(&a, &get, "5", || 0).await.is_err());
    held.abort();
    let _ = held.await;
    let _ = limits.meter(&a, &get, "6", || 0).await.unwrap();
}

#[tokio::test]
async fn tokens_weigh_request_and_response_size() {
    let section = InputLimits {
        rates: vec![RateLimitConfig {
            weigh: LimitWeight::Tokens,
            ..rate(
                "context",
                vec![LimitKeyPart::Agent],
                LimitStage::Meter,
                1000,
                1000,
            )
        }],
        ..InputLimits::default()
    };
    let limits = limits(section, &[], None).await;
    let a = principal("a");
    let get = tool("getOrder", "orders");
    // 1 (cost) + 400 bytes / 4 = 101.
    let metered = limits.meter(&a, &get, "1", || 400).await.unwrap();
    assert_eq!(metered.cost(), 101);
    assert!(metered.wants_response_size());
    // A response of 3200 bytes is 800 tokens: the bucket (1000) is now nearly empty.
    metered.settle(&limits, 3200).await;
    let denial = limits.meter(&a, &get, "2", || 400).await.unwrap_err();
    assert_eq!(denial.rate_limit().unwrap().name, "context");
    // A small call still fits the 99 units left.
    let _ = limits.meter(&a, &get, "3", || 8).await.unwrap();
}

#[tokio::test]
async fn quotas_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let section = || InputLimits {
        quotas: vec![QuotaConfig {
            name: Name::new("daily").unwrap(),
            key: vec![LimitKeyPart::Agent],
            period: QuotaPeriod::Day,
            limit: 3,
            weigh: LimitWeight::Calls,
            tools: ToolPatterns::default(),
        }],
        ..InputLimits::default()
    };
    let a = principal("a");
    let get = tool("getOrder", "orders");
    {
        let limits = limits(section(), &[], Some(dir.path())).await;
        for i in 0..2 {
            let _ = limits.meter(&a, &get, &i.to_string(), || 0).await.unwrap();
        }
        limits.close().await;
    }
    let limits = limits(section(), &[], Some(dir.path())).await;
    let _ = limits.meter(&a, &get, "x", || 0).await.unwrap();
    let denial = limits.meter(&a, &get, "y", || 0).await.unwrap_err();
    let hint = denial.rate_limit().unwrap();
    assert_eq!(hint.name, "daily");
    assert!(hint.retry_after_secs <= 86_400 && hint.retry_after_secs >= 1);
}

/// Opened first, the quota store creates the data folder owner-only and its file owner-only.
#[cfg(unix)]
#[tokio::test]
async fn the_quota_store_creates_the_data_folder_and_its_file_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("state");
    let quota_store = store::QuotaStore::open(&data_dir).await.unwrap();
    quota_store.flush().await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join(store::LIMITS_DB_FILE)), 0o600);
}

#[test]
fn periods_are_calendar_days_and_months() {
    use chrono::TimeZone;
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 12, 31, 23, 0, 0)
        .unwrap();
    assert_eq!(
        local::until_next_period(QuotaPeriod::Day, now),
        Duration::from_secs(3600)
    );
    assert_eq!(
        local::until_next_period(QuotaPeriod::Month, now),
        Duration::from_secs(3600)
    );
    assert_ne!(
        local::period_id(QuotaPeriod::Month, now),
        local::period_id(QuotaPeriod::Month, now + chrono::Duration::hours(2))
    );
}

#[tokio::test]
async fn a_cap_refusal_consumes_no_bucket_and_a_bucket_refusal_holds_no_permit() {
    let section = InputLimits {
        rates: vec![RateLimitConfig {
            weigh: LimitWeight::Calls,
            ..rate(
                "per-agent",
                vec![LimitKeyPart::Agent],
                LimitStage::Meter,
                60,
                2,
            )
        }],
        concurrency: ConcurrencyConfig {
            per_agent: Some(1),
            per_api: None,
        },
        ..InputLimits::default()
    };
    let limits = limits(section, &[], None).await;
    let a = principal("a");
    let get = tool("getOrder", "orders");
    let held = limits.meter(&a, &get, "1", || 0).await.unwrap();
    for i in 0..3 {
        let denial = limits
            .meter(&a, &get, &format!("c{i}"), || 0)
            .await
            .unwrap_err();
        assert_eq!(denial.rate_limit().unwrap().name, "concurrency-agent");
    }
    drop(held);
    // The three refusals took nothing from the bucket of 2: one unit is left.
    drop(limits.meter(&a, &get, "2", || 0).await.unwrap());
    let denial = limits.meter(&a, &get, "3", || 0).await.unwrap_err();
    assert_eq!(denial.rate_limit().unwrap().name, "per-agent");
    // That refusal gave its permit back: the cap of 1 is free again.
    let denial = limits.meter(&a, &get, "4", || 0).await.unwrap_err();
    assert_eq!(denial.rate_limit().unwrap().name, "per-agent");
}
