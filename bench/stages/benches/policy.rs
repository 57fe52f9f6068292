//! Authorize stage: Cedar decisions with `PolicyEngine::decide`, and tool visibility with
//! `PolicyEngine::may_see` over a whole catalog.
//!
//! The catalog is synthetic: 200 tools over 4 APIs in four shapes (read by id, list with
//! filters, a money-moving write, a delete). The policies are generated with a fixed seed the
//! way an operator writes them: a fixed set of 8 guardrails over whole APIs and risk classes
//! (their number does not grow with the catalog), and per-tool policies for the rest:
//! role-scoped permits of one tool with argument conditions (65 %), agent-scoped permits
//! (10 %), role-scoped permits of three related tools (10 %) and forbids of one tool with
//! argument conditions (15 %). Most of them therefore do not concern a given caller and tool,
//! which is the realistic case.
//!
//! The decided call is `getOrder {"id": 42}` by an agent in the roles `support` and `reader`;
//! it is always allowed (the first policy, `p00-000`, permits it; no forbid's condition holds).
//! Variants:
//! - `decide/sparse/{10,100,1000}`: that many policies in total;
//! - `decide/dense50_of_1000`: 1000 policies, 50 of which (plus the base permit and whatever
//!   the sparse part contributes) apply to this very call, all evaluated;
//! - `may_see_catalog/{10,100,1000}`: `may_see` for every tool of the catalog (what
//!   `tools/list` costs).
//!
//! Besides Criterion's figures, each decision variant prints a latency distribution (p50, p99)
//! of 20,000 individually timed decisions to stderr.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis_bench_stages::{Latencies, Rng, fail, or_exit, scratch_dir};
use portcullis_catalog::{Catalog, Tool};
use portcullis_config::RiskClass;
use portcullis_core::{Arguments, CallMeta, Front, Principal};
use portcullis_policy::{AuthzRequest, PolicyEngine};
use serde_json::{Value, json};

const APIS: [&str; 4] = ["orders", "billing", "customers", "inventory"];
const ROLES: [&str; 8] = [
    "support",
    "reader",
    "finance",
    "ops",
    "admin",
    "auditor",
    "sales",
    "warehouse",
];
const TOOL_COUNT: usize = 200;
const AGENT_COUNT: usize = 32;
/// Tools with the same API and shape repeat with this period (4 APIs times 4 shapes).
const PERIOD: usize = 16;

const CALLER: &str = "support-bot";
const CALLER_ROLES: [&str; 2] = ["support", "reader"];
const CALLED_TOOL: &str = "getOrder";
/// Decisions timed one by one for the latency distribution.
const DISTRIBUTION_RUNS: usize = 20_000;

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Shape {
    Get,
    List,
    Mutate,
    Delete,
}

struct ToolSpec {
    name: String,
    api: &'static str,
    shape: Shape,
    risk: RiskClass,
}

/// Tool `i` belongs to API `i % 4` and has shape `(i / 4) % 4`; tool 0 is `getOrder`.
fn tool_specs() -> Vec<ToolSpec> {
    (0..TOOL_COUNT)
        .map(|i| {
            let api = APIS[i % APIS.len()];
            let (shape, verb, risk) = match (i / APIS.len()) % 4 {
                0 => (Shape::Get, "get", RiskClass::Low),
                1 => (Shape::List, "list", RiskClass::Medium),
                2 => (Shape::Mutate, "update", RiskClass::High),
                _ => (Shape::Delete, "delete", RiskClass::Critical),
            };
            let name = if i == 0 {
                CALLED_TOOL.to_owned()
            } else {
                format!("{verb}_{api}_{i:03}")
            };
            ToolSpec {
                name,
                api,
                shape,
                risk,
            }
        })
        .collect()
}

fn input_schema(shape: Shape) -> Value {
    match shape {
        Shape::Get => json!({
            "type": "object",
            "properties": {
                "id": { "type": "integer", "minimum": 1 },
                "expand": { "type": "array", "items": { "type": "string" } },
            },
            "required": ["id"],
            "additionalProperties": false,
        }),
        Shape::List => json!({
            "type": "object",
            "properties": {
                "limit": { "type": "integer", "minimum": 1, "maximum": 1000 },
                "status": { "type": "string", "enum": ["open", "paid", "shipped", "refunded"] },
                "cursor": { "type": "string", "maxLength": 128 },
            },
            "required": ["limit"],
            "additionalProperties": false,
        }),
        Shape::Mutate => json!({
            "type": "object",
            "properties": {
                "id": { "type": "integer", "minimum": 1 },
                "amount_cents": { "type": "integer", "minimum": 0 },
                "currency": { "type": "string", "pattern": "^[A-Z]{3}$" },
                "reason": { "type": "string", "maxLength": 500 },
            },
            "required": ["id", "amount_cents", "currency"],
            "additionalProperties": false,
        }),
        Shape::Delete => json!({
            "type": "object",
            "properties": {
                "id": { "type": "integer", "minimum": 1 },
                "confirm": { "type": "boolean" },
            },
            "required": ["id"],
            "additionalProperties": false,
        }),
    }
}

fn catalog(specs: &[ToolSpec]) -> Catalog {
    Catalog::from_tools(
        specs
            .iter()
            .map(|spec| {
                let (method, path) = match spec.shape {
                    Shape::Get => ("GET", format!("/{}/{{id}}", spec.api)),
                    Shape::List => ("GET", format!("/{}", spec.api)),
                    Shape::Mutate => ("PATCH", format!("/{}/{{id}}", spec.api)),
                    Shape::Delete => ("DELETE", format!("/{}/{{id}}", spec.api)),
                };
                Tool {
                    name: spec.name.clone(),
                    api: spec.api.to_owned(),
                    operation_id: spec.name.clone(),
                    method: method.to_owned(),
                    path,
                    description: String::new(),
                    params: Vec::new(),
                    body: None,
                    input_schema: input_schema(spec.shape),
                    output_schema: None,
                    risk: spec.risk,
                    scopes: Vec::new(),
                }
            })
            .collect(),
    )
}

/// Whom a generated policy names.
enum Who {
    Anyone,
    Role(&'static str),
    Agent(String),
}

/// Which actions a generated policy names.
enum Actions {
    /// Tools by index, all of one API and shape.
    Tools(Vec<usize>),
    Api(&'static str),
    Risk(RiskClass),
    /// Every action.
    Any,
}

struct GenPolicy {
    permit: bool,
    who: Who,
    actions: Actions,
    /// The resource constraint names the tools' API (only with `Actions::Tools`).
    pin_resource: bool,
    condition: Option<String>,
}

impl GenPolicy {
    fn render(&self, id: &str, specs: &[ToolSpec], out: &mut String) {
        let effect = if self.permit { "permit" } else { "forbid" };
        let principal = match &self.who {
            Who::Anyone => "principal".to_owned(),
            Who::Role(role) => format!("principal in Portcullis::Role::\"{role}\""),
            Who::Agent(agent) => format!("principal == Portcullis::Agent::\"{agent}\""),
        };
        let action_uid = |i: &usize| format!("Portcullis::Action::\"{}\"", specs[*i].name);
        let (action, api) = match &self.actions {
            Actions::Tools(tools) if tools.len() == 1 => (
                format!("action == {}", action_uid(&tools[0])),
                Some(specs[tools[0]].api),
            ),
            Actions::Tools(tools) => (
                format!(
                    "action in [{}]",
                    tools.iter().map(action_uid).collect::<Vec<_>>().join(", ")
                ),
                tools.first().map(|&i| specs[i].api),
            ),
            Actions::Api(api) => (format!("action in Portcullis::Action::\"api:{api}\""), None),
            Actions::Risk(risk) => (
                format!("action in Portcullis::Action::\"risk:{}\"", risk.as_str()),
                None,
            ),
            Actions::Any => ("action".to_owned(), None),
        };
        let resource = match api {
            Some(api) if self.pin_resource => format!("resource == Portcullis::Api::\"{api}\""),
            _ => "resource".to_owned(),
        };
        let _ = write!(
            out,
            "@id(\"{id}\")\n{effect} (\n    {principal},\n    {action},\n    {resource}\n)"
        );
        match &self.condition {
            Some(condition) => {
                let _ = writeln!(out, "\nwhen {{ {condition} }};\n");
            }
            None => out.push_str(";\n\n"),
        }
    }

    /// Whether the policy's scope holds for a call of `tool` by `agent` in `roles`.
    fn applies(&self, tool: usize, specs: &[ToolSpec], agent: &str, roles: &[&str]) -> bool {
        let who = match &self.who {
            Who::Anyone => true,
            Who::Role(role) => roles.contains(role),
            Who::Agent(a) => a == agent,
        };
        let action = match &self.actions {
            Actions::Tools(tools) => tools.contains(&tool),
            Actions::Api(api) => specs[tool].api == *api,
            Actions::Risk(risk) => specs[tool].risk == *risk,
            Actions::Any => true,
        };
        who && action
    }
}

/// A permit condition that type-checks for `shape`; some hold for the decided call.
fn permit_condition(spec: &ToolSpec, rng: &mut Rng) -> String {
    let api = spec.api;
    let choice = rng.below(3);
    match (spec.shape, choice) {
        (Shape::Get, 0) => "context.args.id > 0".to_owned(),
        (Shape::Get, 1) => format!("context.token.scopes.contains(\"{api}:read\")"),
        (Shape::Get, _) => {
            "context.args has expand && context.args.expand.contains(\"lines\")".to_owned()
        }
        (Shape::List, 0) => "context.args.limit <= 100".to_owned(),
        (Shape::List, 1) => {
            format!("context.args.limit <= 100 && context.token.scopes.contains(\"{api}:read\")")
        }
        (Shape::List, _) => "context.args has status && context.args.status == \"open\"".to_owned(),
        (Shape::Mutate, 0) => format!(
            "context.args.amount_cents <= {} && context.args.currency == \"EUR\"",
            1_000 * (1 + rng.below(100))
        ),
        (Shape::Mutate, 1) => format!(
            "context.token.scopes.contains(\"{api}:write\") && context.args.amount_cents <= {}",
            1_000 * (1 + rng.below(100))
        ),
        (Shape::Mutate, _) => {
            "context.args has reason && context.args.reason like \"*customer request*\"".to_owned()
        }
        (Shape::Delete, 0) => "context.args has confirm && context.args.confirm".to_owned(),
        (Shape::Delete, _) => "context.token.scopes.contains(\"admin\")".to_owned(),
    }
}

/// A forbid condition that type-checks for `shape` and never holds for the decided call
/// (`id` 42, caller address 10.1.2.3), so every call stays allowed and the work is the same.
fn forbid_condition(shape: Shape, rng: &mut Rng) -> String {
    match shape {
        Shape::List => "context.args.limit > 500".to_owned(),
        Shape::Get | Shape::Mutate | Shape::Delete => {
            format!("context.args.id == {}", 1_000 + rng.below(9_000))
        }
    }
}

/// The policy that allows the decided call.
fn base_policy() -> GenPolicy {
    GenPolicy {
        permit: true,
        who: Who::Role("support"),
        actions: Actions::Tools(vec![0]),
        pin_resource: true,
        condition: Some("context.token.scopes.contains(\"orders:read\")".to_owned()),
    }
}

/// Guardrails over whole APIs and risk classes: a fixed handful in every variant, as in a
/// real deployment, where their number does not grow with the number of tools. Two of them
/// concern the decided call (the global network blocklist and the readers' permit on
/// low-risk tools).
fn guardrails() -> Vec<GenPolicy> {
    let group = |permit, who, actions, condition: Option<&str>| GenPolicy {
        permit,
        who,
        actions,
        pin_resource: false,
        condition: condition.map(str::to_owned),
    };
    vec![
        group(
            false,
            Who::Anyone,
            Actions::Any,
            Some("context.ip.isInRange(ip(\"198.51.100.0/24\"))"),
        ),
        group(
            false,
            Who::Anyone,
            Actions::Risk(RiskClass::Critical),
            Some("!context.token.scopes.contains(\"admin\")"),
        ),
        group(
            false,
            Who::Anyone,
            Actions::Risk(RiskClass::High),
            Some("context.ip.isInRange(ip(\"192.0.2.0/24\"))"),
        ),
        group(
            false,
            Who::Role("sales"),
            Actions::Risk(RiskClass::Critical),
            None,
        ),
        group(
            true,
            Who::Role("reader"),
            Actions::Risk(RiskClass::Low),
            Some("context.token.scopes.contains(\"orders:read\")"),
        ),
        group(
            true,
            Who::Role("auditor"),
            Actions::Api("billing"),
            Some("context.token.scopes.contains(\"billing:read\")"),
        ),
        group(true, Who::Role("ops"), Actions::Api("inventory"), None),
        group(
            true,
            Who::Role("finance"),
            Actions::Api("billing"),
            Some("context.hour >= 6 && context.hour < 22"),
        ),
    ]
}

/// One per-tool policy of the sparse mix.
fn sparse_policy(specs: &[ToolSpec], rng: &mut Rng) -> GenPolicy {
    let tool = rng.below(TOOL_COUNT);
    let role = ROLES[rng.below(ROLES.len())];
    let roll = rng.below(100);
    if roll < 65 {
        // A role may call one tool, under conditions on its arguments.
        GenPolicy {
            permit: true,
            who: Who::Role(role),
            actions: Actions::Tools(vec![tool]),
            pin_resource: rng.percent(50),
            condition: Some(permit_condition(&specs[tool], rng)),
        }
    } else if roll < 75 {
        // One agent may call one tool.
        GenPolicy {
            permit: true,
            who: Who::Agent(format!("agent-{:02}", rng.below(AGENT_COUNT))),
            actions: Actions::Tools(vec![tool]),
            pin_resource: true,
            condition: rng.percent(50).then(|| permit_condition(&specs[tool], rng)),
        }
    } else if roll < 85 {
        // A role may call three tools of the same API and shape.
        let first = rng.below(TOOL_COUNT - 2 * PERIOD);
        GenPolicy {
            permit: true,
            who: Who::Role(role),
            actions: Actions::Tools(vec![first, first + PERIOD, first + 2 * PERIOD]),
            pin_resource: false,
            condition: Some(permit_condition(&specs[first], rng)),
        }
    } else {
        // Nobody may call one tool with certain arguments.
        GenPolicy {
            permit: false,
            who: Who::Anyone,
            actions: Actions::Tools(vec![tool]),
            pin_resource: false,
            condition: Some(forbid_condition(specs[tool].shape, rng)),
        }
    }
}

/// `count` policies on `getOrder` for the caller's roles, all evaluated for the decided call.
fn dense_policies(count: usize) -> Vec<GenPolicy> {
    (0..count)
        .map(|k| {
            let who = match k % 3 {
                0 => Who::Role("support"),
                1 => Who::Role("reader"),
                _ => Who::Anyone,
            };
            let (permit, condition) = match k % 5 {
                // Tenant ranges: id bands per team; most do not contain 42.
                0 => (
                    true,
                    format!(
                        "context.args.id >= {} && context.args.id < {}",
                        k * 1_000,
                        (k + 1) * 1_000
                    ),
                ),
                1 => (
                    true,
                    format!(
                        "context.token.scopes.contains(\"orders:read\") && context.args.id != {}",
                        7 + k
                    ),
                ),
                2 => (
                    true,
                    "context.args has expand && context.args.expand.contains(\"payments\")"
                        .to_owned(),
                ),
                3 => (false, format!("context.args.id == {}", 100_000 + k)),
                _ => (
                    false,
                    "context.ip.isInRange(ip(\"192.0.2.0/24\")) || context.hour > 24".to_owned(),
                ),
            };
            GenPolicy {
                permit,
                who,
                actions: Actions::Tools(vec![0]),
                pin_resource: k % 2 == 0,
                condition: Some(condition),
            }
        })
        .collect()
}

/// The base permit and the guardrails, then per-tool sparse policies up to `total - dense`,
/// then `dense` policies on the decided call.
fn policies(specs: &[ToolSpec], total: usize, dense: usize, seed: u64) -> Vec<GenPolicy> {
    let mut rng = Rng::new(seed);
    let mut all = vec![base_policy()];
    all.extend(guardrails());
    let sparse = total.saturating_sub(all.len() + dense);
    all.extend((0..sparse).map(|_| sparse_policy(specs, &mut rng)));
    all.extend(dense_policies(dense));
    all
}

/// Writes the policies, 100 per file, and loads them as the gateway would.
fn engine(dir: &Path, specs: &[ToolSpec], catalog: &Catalog, set: &[GenPolicy]) -> PolicyEngine {
    or_exit(std::fs::create_dir_all(dir), "create the policy folder");
    for (file, chunk) in set.chunks(100).enumerate() {
        let mut text = String::new();
        for (i, policy) in chunk.iter().enumerate() {
            policy.render(&format!("p{file:02}-{i:03}"), specs, &mut text);
        }
        or_exit(
            std::fs::write(dir.join(format!("{file:02}.cedar")), text),
            "write a policy file",
        );
    }
    let apis: Vec<String> = APIS.iter().map(|&a| a.to_owned()).collect();
    let started = Instant::now();
    let engine = or_exit(PolicyEngine::load(dir, catalog, &apis), "load the policies");
    eprintln!(
        "loaded {} policies in {:.1} ms",
        engine.policy_count(),
        started.elapsed().as_secs_f64() * 1e3
    );
    engine
}

fn caller() -> Principal {
    Principal {
        agent: CALLER.to_owned(),
        subject: CALLER.to_owned(),
        roles: CALLER_ROLES.iter().map(|&r| r.to_owned()).collect(),
        scopes: vec!["orders:read".to_owned(), "orders:write".to_owned()],
        token_id: "0190d5a4-0000-7000-8000-000000000000".to_owned(),
        issued_at: 1_767_225_600,
        expires_at: 1_767_226_200,
        user: None,
        actors: Vec::new(),
        certificate_thumbprint: None,
        mcp_only: false,
    }
}

fn authorize(c: &mut Criterion) {
    let scratch = scratch_dir(env!("CARGO_TARGET_TMPDIR"));
    let specs = tool_specs();
    let catalog = catalog(&specs);
    let Some(tool) = catalog.get(CALLED_TOOL) else {
        fail(CALLED_TOOL, "not in the catalog")
    };
    let principal = caller();
    let Value::Object(args) = json!({ "id": 42 }) else {
        fail("the arguments", "not an object")
    };
    let args: Arguments = args;
    let meta = CallMeta::now(Front::Http, Some(IpAddr::from([10, 1, 2, 3])));

    let variants: [(String, usize, usize); 4] = [
        ("sparse/10".to_owned(), 10, 0),
        ("sparse/100".to_owned(), 100, 0),
        ("sparse/1000".to_owned(), 1000, 0),
        ("dense50_of_1000".to_owned(), 1000, 50),
    ];
    let mut engines = Vec::new();
    for (label, total, dense) in &variants {
        let set = policies(&specs, *total, *dense, 0x5eed_0000 + *total as u64);
        let applying = set
            .iter()
            .filter(|p| p.applies(0, &specs, CALLER, &CALLER_ROLES))
            .count();
        let naming = set
            .iter()
            .filter(|p| matches!(&p.actions, Actions::Tools(tools) if tools.contains(&0)))
            .count();
        let engine = engine(&scratch.path().join(label), &specs, &catalog, &set);
        eprintln!(
            "policy/decide/{label}: {} policies, {naming} name `{CALLED_TOOL}`, {applying} apply to `{CALLED_TOOL}` for `{CALLER}`",
            set.len()
        );
        engines.push((label.clone(), *total, engine));
    }

    let mut group = c.benchmark_group("policy/decide");
    for (label, _, engine) in &engines {
        let request = AuthzRequest {
            principal: &principal,
            tool,
            args: &args,
            meta: &meta,
            risk: 0,
        };
        or_exit(
            engine
                .decide(&request)
                .map_err(|d| format!("{}: {}", d.message, d.internal.join("; "))),
            "the decided call must be allowed",
        );
        let mut reported = false;
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            if !reported {
                reported = true;
                Latencies::measure(DISTRIBUTION_RUNS, || {
                    let _ = black_box(engine.decide(black_box(&request)));
                })
                .report(&format!("policy/decide/{label} distribution"));
            }
            b.iter(|| engine.decide(black_box(&request)));
        });
    }
    group.finish();

    // Stage 8 on a call that needs no approval: what `authorize` adds for the `@approval`
    // annotations (a look-up of the determining policies, only when some policy carries one),
    // and the approve stage's own check (`Permitted::approval`, one branch). The pipeline
    // touches no storage on this path. `with_annotation` adds one `@approval` policy on another
    // tool to the 100 policies, so the look-up runs and finds nothing.
    let Some((_, _, plain)) = engines.iter().find(|(l, _, _)| l == "sparse/100") else {
        fail("sparse/100", "not built")
    };
    let annotated = {
        let dir = scratch.path().join("sparse100-annotated");
        let set = policies(&specs, 100, 0, 0x5eed_0000 + 100);
        let Some(other) = catalog.tools().iter().find(|t| t.name != CALLED_TOOL) else {
            fail("a second tool", "not in the catalog")
        };
        or_exit(std::fs::create_dir_all(&dir), "create the policy folder");
        or_exit(
            std::fs::write(
                dir.join("zz-approval.cedar"),
                format!(
                    "@id(\"held-elsewhere\")\n@approval(\"finance\")\npermit (principal, action == Portcullis::Action::\"{}\", resource);\n",
                    other.name
                ),
            ),
            "write the annotated policy",
        );
        engine(&dir, &specs, &catalog, &set)
    };
    let call = or_exit(
        portcullis_policy::Call::new(
            std::sync::Arc::new(principal.clone()),
            meta,
            std::sync::Arc::clone(tool),
            portcullis_core::CallArgs::new(Value::Object(args.clone())),
        )
        .map_err(|_| "not an object"),
        "build the call",
    );
    let mut group = c.benchmark_group("policy/authorize_approval_check");
    for (label, engine) in [
        ("without_annotation", plain),
        ("with_annotation", &annotated),
    ] {
        let permitted = or_exit(
            engine
                .authorize(call.clone(), portcullis_policy::AuthzContext::default())
                .map_err(|d| d.message),
            "the call must be allowed",
        );
        if !permitted.approvals().is_empty() {
            fail(label, "must need no approval");
        }
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                let permitted = engine.authorize(
                    black_box(call.clone()),
                    portcullis_policy::AuthzContext::default(),
                );
                black_box(permitted.map(|p| p.approvals().is_empty()))
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("policy/may_see_catalog");
    for (label, total, engine) in engines.iter().filter(|(l, _, _)| l.starts_with("sparse")) {
        let visible = catalog
            .tools()
            .iter()
            .filter(|t| engine.may_see(&principal, t))
            .count();
        eprintln!(
            "policy/may_see_catalog/{total}: {visible} of {} tools visible to `{CALLER}` ({label})",
            catalog.len()
        );
        group.bench_function(BenchmarkId::from_parameter(total), |b| {
            b.iter(|| {
                catalog
                    .tools()
                    .iter()
                    .filter(|t| engine.may_see(black_box(&principal), t))
                    .count()
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = portcullis_bench_stages::criterion();
    targets = authorize
}
criterion_main!(benches);
