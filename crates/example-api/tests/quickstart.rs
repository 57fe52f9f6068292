//! Checks that the quickstart files in `examples/quickstart` agree with each other and with
//! this crate: the config loads, the OpenAPI document describes exactly the routes the example
//! API serves, and the Cedar policies type-check and decide as documented.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly on purpose"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicyId, PolicySet,
    Request as CedarRequest, Schema, ValidationMode, Validator,
};
use portcullis_config::{AuditSync, Config, CredentialConfig, RiskClass, SecretRef};
use portcullis_example_api::ExampleApi;
use serde_json::{Value, json};
use tower::ServiceExt;

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart")
}

fn openapi() -> Value {
    let text = std::fs::read_to_string(quickstart().join("orders.openapi.yaml")).unwrap();
    portcullis_config::parse_yaml(&text).unwrap()
}

#[test]
fn config_loads_and_says_what_the_readme_says() {
    let loaded = Config::load(&quickstart().join("portcullis.yaml")).unwrap();
    let config = loaded.config;
    assert_eq!(config.listener.address.to_string(), "127.0.0.1:8080");
    assert!(config.data_dir.ends_with(".portcullis"));

    let agents: BTreeMap<&str, _> = config.agents.iter().map(|a| (a.id.as_str(), a)).collect();
    let demo = agents["demo-agent"];
    assert_eq!(
        demo.client_secret,
        Some(SecretRef::Env("PORTCULLIS_DEMO_CLIENT_SECRET".into()))
    );
    assert_eq!(demo.roles, ["support"]);
    assert_eq!(demo.scopes, ["orders:read", "orders:write"]);
    let readonly = agents["readonly-agent"];
    assert_eq!(
        readonly.client_secret,
        Some(SecretRef::Env("PORTCULLIS_READONLY_CLIENT_SECRET".into()))
    );
    assert_eq!(readonly.roles, ["viewer"]);

    let [api] = config.apis.as_slice() else {
        panic!("expected one API");
    };
    assert_eq!(api.name, "orders");
    assert_eq!(api.base_url, "http://127.0.0.1:8081");
    assert!(matches!(
        &api.credential,
        Some(CredentialConfig::Bearer { secret: SecretRef::Env(name) }) if name == "ORDERS_API_TOKEN"
    ));
    let allowed: Vec<String> = api
        .egress
        .allow_private
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(allowed, ["127.0.0.1/32"]);

    let risks: BTreeMap<&str, RiskClass> = config
        .tools
        .iter()
        .flat_map(|t| t.operations.iter().map(move |op| (op.as_str(), t.risk)))
        .collect();
    assert_eq!(
        risks,
        BTreeMap::from([
            ("attachReceipt", RiskClass::Medium),
            ("deleteCustomer", RiskClass::Critical),
            ("getOrder", RiskClass::Low),
            ("listOrders", RiskClass::Low),
            ("refundOrder", RiskClass::High),
            ("searchOrders", RiskClass::Low),
        ])
    );
    assert_eq!(config.audit.sync, AuditSync::Full);
    assert!(config.policies.is_dir());

    // The OpenAPI server entry and the config agree on where the upstream lives.
    assert_eq!(openapi()["servers"][0]["url"], api.base_url.as_str());
}

/// Every `$ref` in the document, as JSON pointers.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn openapi_refs_are_local_and_resolve() {
    let doc = openapi();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() >= 5, "{found:?}");
    for target in found {
        let pointer = target.strip_prefix('#').expect("only local refs");
        assert!(
            doc.pointer(pointer).is_some(),
            "`{target}` does not resolve"
        );
    }
    let refund = &doc["components"]["schemas"]["RefundRequest"];
    assert_eq!(refund["additionalProperties"], false);
    assert_eq!(refund["required"], json!(["amount_cents", "reason"]));
    assert_eq!(refund["properties"]["amount_cents"]["minimum"], 1);
    assert_eq!(refund["properties"]["reason"]["maxLength"], 500);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
}

/// (operationId, method, path template) of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty())
                    && operation["description"]
                        .as_str()
                        .is_some_and(|s| s.len() > 40),
                "{id} needs a summary and a real description"
            );
            out.insert((id, method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test]
async fn openapi_describes_exactly_the_served_operations() {
    let doc = openapi();
    let ops = operations(&doc);
    let expected: BTreeSet<(String, String, String)> = [
        ("listOrders", "GET", "/orders"),
        ("searchOrders", "GET", "/orders/search"),
        ("getOrder", "GET", "/orders/{id}"),
        ("attachReceipt", "POST", "/orders/{id}/receipt"),
        ("echoRequest", "GET", "/debug/echo"),
        ("refundOrder", "POST", "/orders/{id}/refund"),
        ("deleteCustomer", "DELETE", "/customers/{id}"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    .collect();
    assert_eq!(ops, expected);

    // Each documented operation is served (and answers something other than the fallback).
    let api = ExampleApi::new("t".repeat(32));
    for (id, method, path) in &ops {
        let mut uri = path.replace("{id}", "3");
        if id == "searchOrders" {
            uri.push_str("?query=lamp");
        }
        let mut builder = Request::builder()
            .method(Method::from_str(method).unwrap())
            .uri(&uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", "t".repeat(32)));
        let body = if id == "refundOrder" {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(r#"{"amount_cents": 100, "reason": "spec check"}"#)
        } else if id == "attachReceipt" {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(r#"{"receipt_url": "https://receipts.example.com/3.pdf"}"#)
        } else {
            Body::empty()
        };
        let response = api
            .router()
            .oneshot(builder.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "{id}: {method} {uri} answered {status}"
        );
        let documented = &doc["paths"][path][method.to_lowercase()]["responses"];
        assert!(
            documented.get(status.as_str()).is_some(),
            "{id}: status {status} is not documented"
        );
        let _ = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    }

    // /health exists but is not part of the document, so it never becomes a tool.
    assert!(doc["paths"].get("/health").is_none());
    let response = api
        .router()
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A Cedar schema following the gateway's conventions for the quickstart's tools, to check
/// that the policies type-check as the policy engine will require.
const SCHEMA: &str = r#"
namespace Portcullis {
    entity Role;
    entity Agent in [Role];
    entity Api;

    type Token = {
        jti: String,
        sub: String,
        client_id: String,
        scopes: Set<String>,
        roles: Set<String>,
        iat: Long,
        exp: Long,
    };

    action "api:orders";
    action "risk:low";
    action "risk:medium";
    action "risk:high";
    action "risk:critical";

    action listOrders in ["api:orders", "risk:low"] appliesTo {
        principal: [Agent], resource: [Api],
        context: { args: { status?: String, limit?: Long, offset?: Long },
                   ip: ipaddr, time: datetime, hour: Long, token: Token, risk: Long }
    };
    action searchOrders in ["api:orders", "risk:low"] appliesTo {
        principal: [Agent], resource: [Api],
        context: { args: { query: String },
                   ip: ipaddr, time: datetime, hour: Long, token: Token, risk: Long }
    };
    action attachReceipt in ["api:orders", "risk:medium"] appliesTo {
        principal: [Agent], resource: [Api],
        context: { args: { id: Long, receipt_url: String },
                   ip: ipaddr, time: datetime, hour: Long, token: Token, risk: Long }
    };
    action echoRequest in ["api:orders", "risk:low"] appliesTo {
        principal: [Agent], resource: [Api],
        context: { args: { text?: String },
                   ip: ipaddr, time: datetime, hour: Long, token: Token, risk: Long }
    };
    action getOrder in ["api:orders", "risk:low"] appliesTo {
        principal: [Agent], resource: [Api],
        context: { args: { id: Long }, ip: ipaddr, time: datetime, hour: Long, token: Token, risk: Long }
    };
    action refundOrder in ["api:orders", "risk:high"] appliesTo {
        principal: [Agent], resource: [Api],
        context: { args: { id: Long, amount_cents: Long, reason: String },
                   ip: ipaddr, time: datetime, hour: Long, token: Token, risk: Long }
    };
    action deleteCustomer in ["api:orders", "risk:critical"] appliesTo {
        principal: [Agent], resource: [Api],
        context: { args: { id: Long }, ip: ipaddr, time: datetime, hour: Long, token: Token, risk: Long }
    };
}
"#;

struct Policies {
    schema: Schema,
    set: PolicySet,
    entities: Entities,
}

fn load_policies() -> Policies {
    let (schema, warnings) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    let warnings: Vec<String> = warnings.map(|w| w.to_string()).collect();
    assert!(warnings.is_empty(), "{warnings:?}");

    let dir = quickstart().join("policies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cedar"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut text = String::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        // Every policy carries an id and is preceded by a comment explaining it.
        for (i, line) in source.lines().enumerate() {
            if line.starts_with("@id(") {
                let previous = source.lines().nth(i.checked_sub(1).unwrap()).unwrap();
                assert!(
                    previous.starts_with("//"),
                    "{}: `{line}` has no comment",
                    file.display()
                );
            }
        }
        text.push_str(&source);
        text.push('\n');
    }
    let set = PolicySet::from_str(&text).unwrap();
    let mut ids = BTreeSet::new();
    for policy in set.policies() {
        let id = policy.annotation("id").expect("every policy has @id");
        assert!(ids.insert(id.to_owned()), "duplicate @id `{id}`");
    }
    assert_eq!(ids.len(), set.policies().count());

    let validation = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    let errors: Vec<String> = validation
        .validation_errors()
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    let entities = Entities::from_json_value(
        json!([
            { "uid": { "type": "Portcullis::Role", "id": "support" }, "attrs": {}, "parents": [] },
            { "uid": { "type": "Portcullis::Role", "id": "viewer" }, "attrs": {}, "parents": [] },
            { "uid": { "type": "Portcullis::Agent", "id": "demo-agent" }, "attrs": {},
              "parents": [{ "type": "Portcullis::Role", "id": "support" }] },
            { "uid": { "type": "Portcullis::Agent", "id": "readonly-agent" }, "attrs": {},
              "parents": [{ "type": "Portcullis::Role", "id": "viewer" }] },
            { "uid": { "type": "Portcullis::Agent", "id": "both-roles" }, "attrs": {},
              "parents": [{ "type": "Portcullis::Role", "id": "support" },
                          { "type": "Portcullis::Role", "id": "viewer" }] },
            { "uid": { "type": "Portcullis::Api", "id": "orders" }, "attrs": {}, "parents": [] },
        ]),
        Some(&schema),
    )
    .unwrap()
    .add_entities(schema.action_entities().unwrap(), Some(&schema))
    .unwrap();
    Policies {
        schema,
        set,
        entities,
    }
}

impl Policies {
    fn decide(&self, agent: &str, tool: &str, args: Value, scopes: &[&str]) -> Decision {
        let principal = EntityUid::from_str(&format!(r#"Portcullis::Agent::"{agent}""#)).unwrap();
        let action = EntityUid::from_str(&format!(r#"Portcullis::Action::"{tool}""#)).unwrap();
        let resource = EntityUid::from_str(r#"Portcullis::Api::"orders""#).unwrap();
        let context = Context::from_json_value(
            json!({
                "args": args,
                "ip": "127.0.0.1",
                "time": "2026-01-15T10:00:00Z",
                "hour": 10,
                "token": {
                    "jti": "j", "sub": agent, "client_id": agent,
                    "scopes": scopes, "roles": [], "iat": 0, "exp": 600,
                },
                "risk": 0,
            }),
            Some((&self.schema, &action)),
        )
        .unwrap();
        let request =
            CedarRequest::new(principal, action, resource, context, Some(&self.schema)).unwrap();
        let response = Authorizer::new().is_authorized(&request, &self.set, &self.entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        response.decision()
    }
}

/// One documented decision: agent, its roles, tool, arguments, token scopes, allowed or not.
struct Case {
    agent: &'static str,
    roles: &'static [&'static str],
    tool: &'static str,
    args: Value,
    scopes: &'static [&'static str],
    allow: bool,
}

/// The decisions the quickstart README and the policy comments promise.
fn cases() -> Vec<Case> {
    const RW: &[&str] = &["orders:read", "orders:write"];
    const SUPPORT: &[&str] = &["support"];
    const VIEWER: &[&str] = &["viewer"];
    const BOTH: &[&str] = &["support", "viewer"];
    let refund = |amount: i64| json!({ "id": 29, "amount_cents": amount, "reason": "damaged" });
    let case = |agent, roles, tool, args, scopes, allow| Case {
        agent,
        roles,
        tool,
        args,
        scopes,
        allow,
    };
    vec![
        // support: reads need orders:read
        case("demo-agent", SUPPORT, "listOrders", json!({}), RW, true),
        case(
            "demo-agent",
            SUPPORT,
            "listOrders",
            json!({ "status": "placed", "limit": 5 }),
            RW,
            true,
        ),
        case(
            "demo-agent",
            SUPPORT,
            "getOrder",
            json!({ "id": 42 }),
            RW,
            true,
        ),
        case(
            "demo-agent",
            SUPPORT,
            "getOrder",
            json!({ "id": 42 }),
            &["orders:write"],
            false,
        ),
        case(
            "demo-agent",
            SUPPORT,
            "getOrder",
            json!({ "id": 42 }),
            &[],
            false,
        ),
        // support: refunds need orders:write; up to 10000 cents freely, up to 100000 cents
        // permitted by a policy that holds the call for the `finance` group (the approve stage
        // does the holding; the policy decision is an allow), above that denied
        case("demo-agent", SUPPORT, "refundOrder", refund(1), RW, true),
        case(
            "demo-agent",
            SUPPORT,
            "refundOrder",
            refund(10_000),
            RW,
            true,
        ),
        case(
            "demo-agent",
            SUPPORT,
            "refundOrder",
            refund(10_001),
            RW,
            true,
        ),
        case(
            "demo-agent",
            SUPPORT,
            "refundOrder",
            refund(100_000),
            RW,
            true,
        ),
        case(
            "demo-agent",
            SUPPORT,
            "refundOrder",
            refund(100_001),
            RW,
            false,
        ),
        case(
            "demo-agent",
            SUPPORT,
            "refundOrder",
            refund(2_500),
            &["orders:read"],
            false,
        ),
        // viewer: reads only, no scope needed
        case("readonly-agent", VIEWER, "listOrders", json!({}), &[], true),
        case(
            "readonly-agent",
            VIEWER,
            "getOrder",
            json!({ "id": 1 }),
            &[],
            true,
        ),
        case(
            "readonly-agent",
            VIEWER,
            "refundOrder",
            refund(1),
            RW,
            false,
        ),
        // nobody may delete a customer, whatever roles and scopes it has
        case(
            "demo-agent",
            SUPPORT,
            "deleteCustomer",
            json!({ "id": 2 }),
            RW,
            false,
        ),
        case(
            "readonly-agent",
            VIEWER,
            "deleteCustomer",
            json!({ "id": 2 }),
            RW,
            false,
        ),
        case(
            "both-roles",
            BOTH,
            "deleteCustomer",
            json!({ "id": 2 }),
            RW,
            false,
        ),
        case("both-roles", BOTH, "refundOrder", refund(500), RW, true),
        // an agent with no role gets nothing
        case("stranger", &[], "listOrders", json!({}), RW, false),
    ]
}

#[test]
fn policies_type_check_and_decide_as_documented() {
    let p = load_policies();
    for c in cases() {
        let expected = if c.allow {
            Decision::Allow
        } else {
            Decision::Deny
        };
        let decision = p.decide(c.agent, c.tool, c.args.clone(), c.scopes);
        assert_eq!(
            decision, expected,
            "{} {} {} {:?}",
            c.agent, c.tool, c.args, c.scopes
        );
    }
}

/// The same decisions through the gateway's own policy engine, with the schema it generates
/// from the quickstart's catalog.
#[test]
fn policy_engine_loads_the_quickstart_and_agrees() {
    let loaded = Config::load(&quickstart().join("portcullis.yaml")).unwrap();
    let config = &loaded.config;
    let catalog = portcullis_catalog::Catalog::load(config).unwrap();
    let apis: Vec<String> = config.apis.iter().map(|a| a.name.to_string()).collect();
    let engine = portcullis_policy::PolicyEngine::load(&config.policies, &catalog, &apis).unwrap();
    let meta = portcullis_core::CallMeta::now(
        portcullis_core::Front::Http,
        Some(std::net::IpAddr::from([127, 0, 0, 1])),
    );
    for c in cases() {
        let principal = portcullis_core::Principal {
            agent: c.agent.to_owned(),
            subject: c.agent.to_owned(),
            roles: c.roles.iter().map(|r| (*r).to_owned()).collect(),
            scopes: c.scopes.iter().map(|s| (*s).to_owned()).collect(),
            token_id: "test-jti".to_owned(),
            issued_at: 0,
            expires_at: i64::MAX,
            user: None,
            actors: Vec::new(),
            certificate_thumbprint: None,
            mcp_only: false,
        };
        let tool = catalog.get(c.tool).unwrap();
        let args = c.args.as_object().unwrap().clone();
        let request = portcullis_policy::AuthzRequest {
            principal: &principal,
            tool,
            args: &args,
            meta: &meta,
            risk: 0,
        };
        let allowed = engine.decide(&request).is_ok();
        assert_eq!(
            allowed, c.allow,
            "{} {} {} {:?}",
            c.agent, c.tool, c.args, c.scopes
        );
    }

    // Listing: the demo agent sees every tool but deleteCustomer, the viewer only the reads.
    let visible = |agent: &str, roles: &[&str]| -> Vec<String> {
        let principal = portcullis_core::Principal {
            agent: agent.to_owned(),
            subject: agent.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            scopes: vec!["orders:read".to_owned(), "orders:write".to_owned()],
            token_id: "test-jti".to_owned(),
            issued_at: 0,
            expires_at: i64::MAX,
            user: None,
            actors: Vec::new(),
            certificate_thumbprint: None,
            mcp_only: false,
        };
        let mut names: Vec<String> = catalog
            .tools()
            .iter()
            .filter(|t| engine.may_see(&principal, t))
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        visible("demo-agent", &["support"]),
        [
            "attachReceipt",
            "getOrder",
            "listOrders",
            "refundOrder",
            "searchOrders"
        ]
    );
    assert_eq!(
        visible("readonly-agent", &["viewer"]),
        ["getOrder", "listOrders"]
    );
}

#[test]
fn delete_customer_is_denied_by_the_forbid_even_if_someone_permits_it() {
    let mut p = load_policies();
    let extra = PolicySet::from_str(
        r#"@id("too-broad")
        permit (principal, action, resource);"#,
    )
    .unwrap();
    for policy in extra.policies() {
        p.set
            .add(policy.new_id(PolicyId::new("too-broad")))
            .unwrap();
    }
    let rw = ["orders:read", "orders:write"];
    assert_eq!(
        p.decide("demo-agent", "deleteCustomer", json!({ "id": 2 }), &rw),
        Decision::Deny
    );
    // The broad permit does open the other tools, which shows the forbid is what holds.
    assert_eq!(
        p.decide(
            "readonly-agent",
            "refundOrder",
            json!({ "id": 1, "amount_cents": 1, "reason": "x" }),
            &rw
        ),
        Decision::Allow
    );
}

#[test]
fn catalog_exposes_the_six_tools_with_their_risk() {
    let loaded = Config::load(&quickstart().join("portcullis.yaml")).unwrap();
    let catalog = portcullis_catalog::Catalog::load(&loaded.config).unwrap();
    let tools: BTreeMap<&str, RiskClass> = catalog
        .tools()
        .iter()
        .map(|t| (t.name.as_str(), t.risk))
        .collect();
    assert_eq!(
        tools,
        BTreeMap::from([
            ("attachReceipt", RiskClass::Medium),
            ("deleteCustomer", RiskClass::Critical),
            ("getOrder", RiskClass::Low),
            ("listOrders", RiskClass::Low),
            ("refundOrder", RiskClass::High),
            ("searchOrders", RiskClass::Low),
        ])
    );
    let refund = catalog.get("refundOrder").unwrap();
    assert_eq!(refund.method, "POST");
    assert_eq!(refund.path, "/orders/{id}/refund");
    let schema = &refund.input_schema;
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["amount_cents", "id", "reason"], "{schema}");
    assert_eq!(schema["properties"]["id"]["maximum"], 1_000_000, "{schema}");
    assert_eq!(
        schema["properties"]["amount_cents"]["minimum"], 1,
        "{schema}"
    );
    assert!(
        refund
            .description
            .contains("Refund part or all of an order")
    );
    let list = catalog.get("listOrders").unwrap();
    assert_eq!(
        list.input_schema["properties"]["status"]["enum"],
        json!(["placed", "shipped", "delivered", "refunded"]),
        "{}",
        list.input_schema
    );
}
