//! Audit stage: `AuditLog::record` with the shipped durability, `sync: full` (SQLite
//! `synchronous=FULL`: one WAL fsync per group commit), on a multi-thread Tokio runtime.
//!
//! - `append/concurrent/{32,256}`: that many tasks append records in a loop; one Criterion
//!   iteration is one record, so the throughput line is records per second. Each sample times
//!   a whole batch (all tasks started, all records acknowledged as committed) with
//!   `iter_custom`.
//! - `append/single`: one appender, one record at a time: the latency of a record, which is
//!   the latency of a commit (an fsync) when nothing else is queued.
//!
//! Before Criterion's runs, a sustained pass writes 50,000 records with 256 appenders and
//! prints the rate, and a latency pass prints the distribution of 300 single appends.
//!
//! The database lives in a scratch folder under Cargo's target folder (or
//! `$PORTCULLIS_BENCH_DIR`): it must be on the disk being measured, never a tmpfs, where fsync
//! costs nothing.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use portcullis_audit::AuditLog;
use portcullis_bench_stages::{Latencies, or_exit, scratch_dir};
use portcullis_config::AuditSync;
use portcullis_core::{AuditEvent, CallMeta, Decision, Front};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// Records written by the sustained pass.
const SUSTAINED_RECORDS: u64 = 50_000;
/// Single appends timed one by one for the latency distribution.
const LATENCY_RUNS: usize = 300;

/// An event as the pipeline records an allowed `getOrder` call received now: a UUID v7
/// request id and the receipt time, both rising, as in production (which matters: both are
/// indexed, and rising keys touch few index pages per commit).
fn event(n: u64) -> AuditEvent {
    let meta = CallMeta::now(Front::Http, Some(IpAddr::from([10, 1, 2, 3])));
    AuditEvent {
        time: meta
            .received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        request_id: meta.request_id.to_string(),
        agent: Some("demo-agent".to_owned()),
        subject: None,
        client_ip: meta.client_ip.map(|ip| ip.to_string()),
        front: meta.front,
        tool: Some("getOrder".to_owned()),
        args_digest: Some(format!("{n:064x}")),
        decision: Decision::Allow,
        reasons: vec!["permit".to_owned()],
        policies: vec!["support-read-orders".to_owned()],
        upstream_status: Some(200),
        latency_us: 850 + n % 400,
        policy_version: Some("3f1c2a9b7d6e5f40".to_owned()),
    }
}

/// Appends `records` records from `appenders` concurrent tasks; returns the time from the
/// first start to the last acknowledgement.
async fn append(log: &AuditLog, appenders: u64, records: u64, first: u64) -> Duration {
    let appenders = appenders.clamp(1, records.max(1));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for task in 0..appenders {
        // Spread the records evenly; the first `records % appenders` tasks take one more.
        let share = records / appenders + u64::from(task < records % appenders);
        let log = log.clone();
        tasks.spawn(async move {
            for i in 0..share {
                let n = first + task * 1_000_000 + i;
                or_exit(log.record(event(n)).await, "append an audit record");
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        or_exit(joined, "join an appender task");
    }
    started.elapsed()
}

fn records(c: &mut Criterion) {
    let scratch = scratch_dir(env!("CARGO_TARGET_TMPDIR"));
    let runtime: Runtime = or_exit(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        "start the runtime",
    );
    let log = or_exit(
        runtime.block_on(AuditLog::open(
            &scratch.path().join("audit.db"),
            AuditSync::Full,
        )),
        "open the audit log",
    );
    let mut next = 0u64;

    let mut group = c.benchmark_group("audit/append");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    for appenders in [32u64, 256] {
        let mut reported = false;
        group.bench_function(BenchmarkId::new("concurrent", appenders), |b| {
            if !reported && appenders == 256 {
                reported = true;
                let elapsed = runtime.block_on(append(&log, 256, SUSTAINED_RECORDS, next));
                next += SUSTAINED_RECORDS;
                eprintln!(
                    "audit/append sustained: {SUSTAINED_RECORDS} records from 256 appenders in {:.2} s = {:.0} records/s (sync: full)",
                    elapsed.as_secs_f64(),
                    SUSTAINED_RECORDS as f64 / elapsed.as_secs_f64()
                );
            }
            b.iter_custom(|iters| {
                let elapsed = runtime.block_on(append(&log, appenders, iters, next));
                next += iters;
                elapsed
            });
        });
    }

    let mut reported = false;
    group.bench_function("single", |b| {
        if !reported {
            reported = true;
            Latencies::measure(LATENCY_RUNS, || {
                or_exit(
                    runtime.block_on(log.record(event(next))),
                    "append an audit record",
                );
                next += 1;
            })
            .report("audit/append/single distribution");
        }
        b.iter_custom(|iters| {
            let elapsed = runtime.block_on(append(&log, 1, iters, next));
            next += iters;
            elapsed
        });
    });
    group.finish();

    runtime.block_on(log.close());
}

criterion_group! {
    name = benches;
    config = portcullis_bench_stages::criterion();
    targets = records
}
criterion_main!(benches);
