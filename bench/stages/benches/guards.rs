//! Guard stages: response DLP and argument inspection.
//!
//! - `dlp/scan_16k`: `Dlp::redact` with every kind switched on over a typical 16 KB JSON
//!   answer (a page of orders with customer records: names, e-mails, phones, one card number
//!   each, free-text notes, timestamps, ids), reported in bytes per second. The answer is cloned
//!   outside the timed part (redaction changes it).
//! - `dlp/filter_get_order`: the whole filter stage (`Guards::filter`, quickstart settings) on
//!   the example API's `getOrder` answer.
//! - `dlp/filter_order_1k`: the same on the 1 KB order the end-to-end benchmark's upstream
//!   serves (`samples/order_1k.json`, a copy of the body in `bench/e2e/nginx-upstream.conf`).
//! - `inspect/<tool>`: `Guards::inspect` with the quickstart catalog on a typical call of
//!   `searchOrders` (free text), `attachReceipt` (a URL) and `refundOrder` (a reason sentence).

use std::hint::black_box;
use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use portcullis_bench_stages::{fail, or_exit};
use portcullis_catalog::Catalog;
use portcullis_config::{Config, DlpAction};
use portcullis_core::UpstreamResponse;
use portcullis_guard::Guards;
use portcullis_guard::dlp::{Dlp, DlpPolicy, DlpReport};
use serde_json::{Value, json};

// The 16 KB sample, shared with `examples/dlp_count.rs` so both scan the same bytes.
include!("../samples/dlp_answer.rs");

fn quickstart() -> (Catalog, Guards) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/portcullis.yaml");
    let loaded = or_exit(Config::load(&path), "load the quickstart config");
    let catalog = or_exit(Catalog::load(&loaded.config), "load the quickstart catalog");
    let guards = or_exit(
        Guards::new(
            &catalog,
            &loaded.config,
            portcullis_egress::classify::special_purpose,
        ),
        "build the guards",
    );
    (catalog, guards)
}

fn dlp(c: &mut Criterion) {
    let dlp = or_exit(Dlp::new(), "compile the DLP rules");
    let policy = DlpPolicy::all(DlpAction::Redact);
    let answer = typical_answer();
    let bytes = answer.to_string().len();
    let mut group = c.benchmark_group("dlp");
    group.throughput(Throughput::Bytes(u64::try_from(bytes).unwrap_or(0)));
    group.bench_function("scan_16k", |b| {
        b.iter_batched_ref(
            || answer.clone(),
            |value| {
                let mut report = DlpReport::default();
                dlp.redact(value, &policy, &mut report);
                black_box(report)
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();

    let (_, guards) = quickstart();
    let order = json!({
        "id": 42, "status": "shipped", "item": "Desk lamp", "quantity": 2, "total_cents": 9998,
        "refunded_cents": 0, "created_at": "2025-05-01T10:00:00Z",
        "customer": {"id": 2, "name": "Ada Lovelace", "email": "ada.lovelace@example.com",
                     "phone": "+12025550102", "card_number": "4111111111000025"},
    });
    // The answer nginx serves in the end-to-end benchmark (bench/e2e/nginx-upstream.conf), so
    // this stage figure and the guards-on/off ratio of bench/run.sh describe the same work.
    let bench_order: Value = or_exit(
        serde_json::from_str(include_str!("../samples/order_1k.json")),
        "parse samples/order_1k.json",
    );
    c.bench_function("dlp/filter_order_1k", |b| {
        b.iter_batched_ref(
            || UpstreamResponse {
                status: 200,
                body: bench_order.clone(),
                content_type: Some("application/json".into()),
                notices: Vec::new(),
            },
            |response| black_box(guards.filter("getOrder", response)),
            BatchSize::SmallInput,
        );
    });
    c.bench_function("dlp/filter_get_order", |b| {
        b.iter_batched_ref(
            || UpstreamResponse {
                status: 200,
                body: order.clone(),
                content_type: Some("application/json".into()),
                notices: Vec::new(),
            },
            |response| black_box(guards.filter("getOrder", response)),
            BatchSize::SmallInput,
        );
    });
}

fn inspect(c: &mut Criterion) {
    let (catalog, guards) = quickstart();
    let calls = [
        (
            "searchOrders",
            json!({"query": "blue desk lamp ordered last spring for the office"}),
        ),
        (
            "attachReceipt",
            json!({"id": 42, "receipt_url": "https://receipts.example.com/2025/05/42.pdf"}),
        ),
        (
            "refundOrder",
            json!({"id": 42, "amount_cents": 2500, "reason": "The lamp arrived with a cracked shade; customer sent photos."}),
        ),
    ];
    let mut group = c.benchmark_group("inspect");
    for (name, args) in calls {
        let Some(tool) = catalog.get(name) else {
            fail("find the tool", name);
        };
        let Value::Object(args) = args else {
            fail("build the arguments", name);
        };
        group.bench_function(name, |b| {
            b.iter(|| black_box(guards.inspect(tool, black_box(&args))));
        });
    }
    group.finish();
}

criterion_group!(benches, dlp, inspect);
criterion_main!(benches);
