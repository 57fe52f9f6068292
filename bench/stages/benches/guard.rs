//! Validate stage: `Validator::validate` (input limits, then the tool's compiled JSON Schema).
//!
//! - `getOrder` and `refundOrder` with the quickstart's own catalog (loaded from
//!   `examples/quickstart`, schemas exactly as shipped): `{"id": 42}` and a refund body;
//! - `refundOrder_invalid`: a refund that breaks three rules, so the denial and its violation
//!   messages are built;
//! - `large`: a synthetic tool whose arguments object has 200 fields (strings with patterns,
//!   integers with bounds, booleans, arrays of item objects with nested tag arrays), about
//!   50 KB of JSON, all valid, within the default input limits.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use portcullis_bench_stages::{fail, or_exit};
use portcullis_catalog::{Catalog, Tool};
use portcullis_config::{Config, InputLimits, RiskClass};
use portcullis_guard::Validator;
use serde_json::{Map, Value, json};

const LARGE_FIELDS: usize = 200;
const LARGE_ITEMS: usize = 11;

/// The quickstart's catalog and limits, loaded as `portcullis serve` loads them.
fn quickstart() -> Validator {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/portcullis.yaml");
    let loaded = or_exit(Config::load(&path), "load the quickstart config");
    let catalog = or_exit(Catalog::load(&loaded.config), "load the quickstart catalog");
    or_exit(
        Validator::new(&catalog, &loaded.config.limits),
        "compile the quickstart schemas",
    )
}

fn large_field_schema(k: usize) -> Value {
    match k % 4 {
        0 if k.is_multiple_of(8) => {
            json!({ "type": "string", "maxLength": 1024, "pattern": "^[A-Za-z0-9 ,.:'-]*$" })
        }
        0 => json!({ "type": "string", "maxLength": 1024 }),
        1 => json!({ "type": "integer", "minimum": 0, "maximum": 1_000_000_000 }),
        2 => json!({ "type": "boolean" }),
        _ => json!({
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "properties": {
                    "sku": { "type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$" },
                    "qty": { "type": "integer", "minimum": 1, "maximum": 10_000 },
                    "price_cents": { "type": "integer", "minimum": 0 },
                    "tags": {
                        "type": "array",
                        "maxItems": 10,
                        "items": { "type": "string", "maxLength": 32 },
                    },
                },
                "required": ["sku", "qty", "price_cents"],
                "additionalProperties": false,
            },
        }),
    }
}

fn large_field_value(k: usize) -> Value {
    match k % 4 {
        0 => Value::String(format!(
            "Field {k:03}: a customer note, order reference and delivery details, as agents send them.{}",
            " Padding text.".repeat(2)
        )),
        1 => json!(k * 7_919),
        2 => json!(k.is_multiple_of(3)),
        _ => Value::Array(
            (0..LARGE_ITEMS)
                .map(|i| {
                    json!({
                        "sku": format!("ABC-{:04}", (k * 31 + i) % 10_000),
                        "qty": 1 + i,
                        "price_cents": 1_999 + 100 * i,
                        "tags": ["red", "large", "sale"],
                    })
                })
                .collect(),
        ),
    }
}

/// A catalog of one tool taking 200 fields, and valid arguments for it.
fn large() -> (Validator, Value) {
    let mut properties = Map::new();
    let mut arguments = Map::new();
    for k in 0..LARGE_FIELDS {
        properties.insert(format!("field_{k:03}"), large_field_schema(k));
        arguments.insert(format!("field_{k:03}"), large_field_value(k));
    }
    let required: Vec<&String> = properties.keys().collect();
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    let catalog = Catalog::from_tools(vec![Tool {
        name: "importRecords".to_owned(),
        api: "records".to_owned(),
        operation_id: "importRecords".to_owned(),
        method: "POST".to_owned(),
        path: "/records".to_owned(),
        description: String::new(),
        params: Vec::new(),
        body: None,
        input_schema: schema,
        output_schema: None,
        risk: RiskClass::Medium,
        scopes: Vec::new(),
    }]);
    let validator = or_exit(
        Validator::new(&catalog, &InputLimits::default()),
        "compile the large schema",
    );
    (validator, Value::Object(arguments))
}

fn validate(c: &mut Criterion) {
    let quickstart = quickstart();
    let (large_validator, large_args) = large();

    let cases: [(&str, &Validator, &str, Value, bool); 4] = [
        (
            "getOrder",
            &quickstart,
            "getOrder",
            json!({ "id": 42 }),
            true,
        ),
        (
            "refundOrder",
            &quickstart,
            "refundOrder",
            json!({
                "id": 42,
                "amount_cents": 2_500,
                "reason": "Customer request: the parcel arrived damaged.",
            }),
            true,
        ),
        (
            "refundOrder_invalid",
            &quickstart,
            "refundOrder",
            json!({ "id": 0, "amount_cents": "2500", "note": "x" }),
            false,
        ),
        ("large", &large_validator, "importRecords", large_args, true),
    ];

    let mut group = c.benchmark_group("guard/validate");
    for (label, validator, tool, args, valid) in &cases {
        let bytes = args.to_string().len();
        match (validator.validate(tool, args), valid) {
            (Ok(()), true) => {}
            (Err(denial), false) => eprintln!(
                "guard/validate/{label}: {bytes} bytes of JSON, denied with {} violations",
                denial.violations.len()
            ),
            (Ok(()), false) => fail(label, "the arguments were expected to be refused"),
            (Err(denial), true) => fail(label, denial.message),
        }
        if *valid {
            eprintln!("guard/validate/{label}: {bytes} bytes of JSON, valid");
        }
        group.throughput(Throughput::Bytes(u64::try_from(bytes).unwrap_or(u64::MAX)));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| validator.validate(black_box(tool), black_box(args)));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = portcullis_bench_stages::criterion();
    targets = validate
}
criterion_main!(benches);
