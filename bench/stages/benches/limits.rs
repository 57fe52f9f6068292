//! Admit and meter stages: `Limits::admit` and `Limits::meter` with the in-process backend,
//! and, when `PORTCULLIS_TEST_REDIS_URL` names a Redis, with the Redis backend.
//!
//! - `limits/admit/local`: one per-agent token bucket (the admission limit), passing;
//! - `limits/admit/local_refused`: the same bucket empty: the refusal and its hint are built;
//! - `limits/meter/local`: loop detection, a cost-weighted per-agent-and-tool bucket and a daily
//!   quota (all checked, then all committed) and a per-agent concurrency permit taken and
//!   released; the argument digests rotate over 1,000 values, as distinct calls would;
//! - `limits/admit/redis`: the admission limit in Redis, one round trip.
//!
//! The stage functions are `async`; with the local backend they never wait, and each
//! iteration polls them once on a current-thread runtime (`block_on`), whose cost is included.
//! `limits/block_on_ready` measures that cost alone (an empty future), so it can be
//! subtracted: in the pipeline the stage is awaited inside an already running task.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_bench_stages::{or_exit, scratch_dir};
use portcullis_catalog::{Catalog, Tool};
use portcullis_config::{Config, RiskClass};
use portcullis_core::Principal;
use portcullis_limits::Limits;

const SECTION: &str = "
  rates:
    - name: per-agent
      key: [agent]
      stage: admit
      rate: 1000000000
      per: 1s
    - name: per-tool
      key: [agent, tool]
      weigh: cost
      rate: 1000000000
      per: 1s
  quotas:
    - name: daily
      key: [agent]
      period: day
      limit: 1000000000000000
  concurrency:
    per_agent: 1000000
  loop_detection:
    max_repeats: 1000000000
    window: 1s
";

const REFUSING: &str = "
  rates:
    - name: per-agent
      key: [agent]
      stage: admit
      rate: 1
      per: 1h
";

fn principal() -> Principal {
    Principal {
        agent: "demo-agent".to_owned(),
        subject: "demo-agent".to_owned(),
        roles: vec!["support".to_owned()],
        scopes: vec!["orders:read".to_owned()],
        token_id: "bench".to_owned(),
        issued_at: 0,
        expires_at: i64::MAX,
        user: None,
        actors: Vec::new(),
        certificate_thumbprint: None,
        mcp_only: false,
    }
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

fn build(
    runtime: &tokio::runtime::Runtime,
    section: &str,
    backend: &str,
    data_dir: &Path,
    url: Option<&str>,
) -> Limits {
    let yaml = format!("policies: p\nlimits:\n{section}\n{backend}");
    let mut config = or_exit(
        Config::parse(&yaml, Path::new("bench.yaml")),
        "parse limits",
    );
    config.data_dir = data_dir.to_owned();
    let catalog = Catalog::from_tools(vec![tool()]);
    or_exit(
        runtime.block_on(Limits::open(&config, &catalog, url)),
        "open limits",
    )
}

fn limits(c: &mut Criterion) {
    let runtime = or_exit(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        "start a runtime",
    );
    let scratch = scratch_dir(env!("CARGO_TARGET_TMPDIR"));
    let who = principal();
    let tool = tool();
    let digests: Vec<String> = (0..1000).map(|i| format!("{i:064x}")).collect();

    // One data folder each: every in-process backend keeps its own quota store, written in
    // the background, which would lock the others out of a shared file.
    let folder = |name: &str| {
        let path = scratch.path().join(name);
        or_exit(std::fs::create_dir_all(&path), "create a data folder");
        path
    };
    let local = build(&runtime, SECTION, "", &folder("local"), None);
    let refusing = build(&runtime, REFUSING, "", &folder("refusing"), None);
    let _ = runtime.block_on(refusing.admit(&who));
    let mut group = c.benchmark_group("limits");
    group.bench_function("block_on_ready", |b| {
        b.iter(|| runtime.block_on(async { black_box(1u8) }))
    });
    group.bench_function("admit/local", |b| {
        b.iter(|| runtime.block_on(local.admit(black_box(&who))))
    });
    group.bench_function("admit/local_refused", |b| {
        b.iter(|| runtime.block_on(refusing.admit(black_box(&who))))
    });
    let mut next = 0usize;
    group.bench_function("meter/local", |b| {
        b.iter(|| {
            next = (next + 1) % digests.len();
            let metered = runtime.block_on(local.meter(&who, &tool, &digests[next], || 0));
            black_box(metered.is_ok())
        })
    });
    if let Ok(url) = std::env::var("PORTCULLIS_TEST_REDIS_URL") {
        let prefix = format!("portcullis-bench-{}", std::process::id());
        let backend = format!(
            "  backend:\n    type: redis\n    url: env:UNUSED\n    prefix: {prefix}\n    timeout: 1s\n"
        );
        let redis = build(&runtime, SECTION, &backend, &folder("redis"), Some(&url));
        group.bench_function("admit/redis", |b| {
            b.iter(|| runtime.block_on(redis.admit(black_box(&who))))
        });
    } else {
        eprintln!("limits/admit/redis skipped: PORTCULLIS_TEST_REDIS_URL is not set");
    }
    group.finish();
    runtime.block_on(local.close());
}

criterion_group! {
    name = benches;
    config = portcullis_bench_stages::criterion();
    targets = limits
}
criterion_main!(benches);
