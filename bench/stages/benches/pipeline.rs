//! The whole pipeline in process: `Gateway::identify` (a cached token) then `Gateway::call`
//! for `getOrder {"id": 42}` on the quickstart configuration, without the HTTP front (no
//! axum, no client connection). Egress is real: the example orders API runs on loopback in the
//! same process, so each allowed call includes one loopback HTTP exchange. Every call writes
//! its audit record.
//!
//! - `call/allowed/{full,normal}`: one call at a time, with audit `sync: full` (shipped) and
//!   `sync: normal`; the difference is the fsync a lone call waits for;
//! - `call/denied/full`: a refund over the policy's limit, denied by Cedar (no egress);
//! - `concurrent/64/full`: 64 tasks calling in a loop; throughput in calls per second, which
//!   on a saturated runtime is the CPU cost per call without the HTTP front.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use portcullis_bench_stages::{fail, or_exit, scratch_dir};
use portcullis_config::{AuditSync, Config};
use portcullis_core::Front;
use portcullis_example_api::ExampleApi;
use portcullis_pipeline::{Arrival, Gateway};
use portcullis_secrets::{OverlayEnv, SecretStore};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// Bench-only credentials: the gateway needs them to resolve, nothing outside this process
/// ever sees them.
const UPSTREAM_TOKEN: &str = "bench-upstream-token";
const CLIENT_SECRET: &str = "bench-client-secret";

const CLIENT_IP: [u8; 4] = [127, 0, 0, 1];

/// A gateway on the quickstart configuration in front of `upstream`, its state in `data_dir`.
async fn gateway(data_dir: &Path, upstream: std::net::SocketAddr, sync: AuditSync) -> Arc<Gateway> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/portcullis.yaml");
    let mut loaded = or_exit(Config::load(&path), "load the quickstart config");
    loaded.config.data_dir = data_dir.to_owned();
    loaded.config.audit.sync = sync;
    let base_url = or_exit(
        portcullis_config::HttpUrl::parse(&format!("http://{upstream}")),
        "the upstream URL",
    );
    for api in &mut loaded.config.apis {
        api.base_url = base_url.clone();
    }
    let mut env = OverlayEnv::new();
    env.set("PORTCULLIS_DEMO_CLIENT_SECRET", CLIENT_SECRET);
    env.set("PORTCULLIS_READONLY_CLIENT_SECRET", CLIENT_SECRET);
    env.set("PORTCULLIS_ASSISTANT_CLIENT_SECRET", CLIENT_SECRET);
    env.set("PORTCULLIS_DEMO_OPERATOR_SECRET", CLIENT_SECRET);
    env.set("PORTCULLIS_DEMO_USER_PASSWORD", CLIENT_SECRET);
    env.set("ORDERS_API_TOKEN", UPSTREAM_TOKEN);
    let secrets = SecretStore::new(Arc::new(env));
    let resolver = Arc::new(portcullis_egress::StaticResolver::new());
    or_exit(
        Gateway::build(&loaded, &secrets, resolver).await,
        "build the gateway",
    )
}

/// One call as the HTTP front makes it, minus HTTP: identify, then run the pipeline. Returns
/// whether the call was allowed and answered 2xx.
async fn call(gateway: &Arc<Gateway>, authorization: &str, tool: &str, args: Value) -> bool {
    let arrival = Arrival {
        front: Front::Http,
        client_ip: Some(IpAddr::from(CLIENT_IP)),
        tool: Some(tool),
        authorization: Some(authorization),
        token_in_query: false,
        certificate: None,
    };
    let Ok(caller) = gateway.identify(arrival).await else {
        fail("identify", "the bench token was refused")
    };
    gateway
        .call(&caller, tool, args)
        .await
        .is_ok_and(|response| response.is_success())
}

fn get_order() -> Value {
    json!({ "id": 42 })
}

fn large_refund() -> Value {
    json!({ "id": 42, "amount_cents": 500_000, "reason": "goodwill" })
}

fn calls(c: &mut Criterion) {
    let scratch = scratch_dir(env!("CARGO_TARGET_TMPDIR"));
    let runtime: Runtime = or_exit(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        "start the runtime",
    );
    let upstream = runtime.block_on(async {
        let listener = or_exit(
            tokio::net::TcpListener::bind("127.0.0.1:0").await,
            "bind the example API",
        );
        let addr = or_exit(listener.local_addr(), "example API address");
        tokio::spawn(async move {
            if let Err(err) = ExampleApi::new(UPSTREAM_TOKEN.to_owned())
                .serve(listener)
                .await
            {
                eprintln!("example API stopped: {err}");
            }
        });
        addr
    });

    let mut gateways = Vec::new();
    for (label, sync) in [("full", AuditSync::Full), ("normal", AuditSync::Normal)] {
        let gateway = runtime.block_on(gateway(&scratch.path().join(label), upstream, sync));
        let token =
            or_exit(gateway.identity().mint("demo-agent", None), "mint a token").access_token;
        let authorization: Arc<str> = Arc::from(format!("Bearer {token}"));
        if !runtime.block_on(call(&gateway, &authorization, "getOrder", get_order())) {
            fail("pipeline", "the getOrder call was not allowed and answered");
        }
        if runtime.block_on(call(
            &gateway,
            &authorization,
            "refundOrder",
            large_refund(),
        )) {
            fail("pipeline", "the large refund was allowed");
        }
        gateways.push((label, gateway, authorization));
    }

    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    for (label, gateway, authorization) in &gateways {
        group.bench_function(BenchmarkId::new("call/allowed", label), |b| {
            b.iter(|| runtime.block_on(call(gateway, authorization, "getOrder", get_order())));
        });
    }
    if let Some((label, gateway, authorization)) = gateways.first() {
        group.bench_function(BenchmarkId::new("call/denied", label), |b| {
            b.iter(|| {
                runtime.block_on(call(gateway, authorization, "refundOrder", large_refund()))
            });
        });

        const TASKS: u64 = 64;
        group.throughput(Throughput::Elements(1));
        group.measurement_time(Duration::from_secs(4));
        group.bench_function(
            BenchmarkId::new(format!("concurrent/{TASKS}"), label),
            |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let tasks = TASKS.clamp(1, iters.max(1));
                        let started = Instant::now();
                        let mut set = JoinSet::new();
                        for task in 0..tasks {
                            let share = iters / tasks + u64::from(task < iters % tasks);
                            let gateway = Arc::clone(gateway);
                            let authorization = Arc::clone(authorization);
                            set.spawn(async move {
                                for _ in 0..share {
                                    if !call(&gateway, &authorization, "getOrder", get_order())
                                        .await
                                    {
                                        fail("pipeline", "a concurrent call failed");
                                    }
                                }
                            });
                        }
                        while let Some(joined) = set.join_next().await {
                            or_exit(joined, "join a caller task");
                        }
                        started.elapsed()
                    })
                });
            },
        );
    }
    group.finish();

    for (_, gateway, _) in &gateways {
        runtime.block_on(gateway.shutdown());
    }
}

criterion_group! {
    name = benches;
    config = portcullis_bench_stages::criterion();
    targets = calls
}
criterion_main!(benches);
