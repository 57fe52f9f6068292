use std::net::IpAddr;

use portcullis_config::RiskClass;
use portcullis_core::Front;
use serde_json::{Value, json};

use super::*;

fn tool(name: &str, method: &str, path: &str, risk: RiskClass, input_schema: Value) -> Tool {
    Tool {
        name: name.to_owned(),
        api: "orders".to_owned(),
        operation_id: name.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        description: String::new(),
        params: Vec::new(),
        body: None,
        input_schema,
        output_schema: None,
        risk,
        scopes: Vec::new(),
    }
}

fn catalog() -> Catalog {
    Catalog::from_tools(vec![
        tool(
            "getOrder",
            "GET",
            "/orders/{id}",
            RiskClass::Low,
            json!({
                "type": "object",
                "properties": { "id": { "type": "integer" } },
                "required": ["id"],
            }),
        ),
        tool(
            "refundOrder",
            "POST",
            "/orders/{id}/refund",
            RiskClass::High,
            json!({
                "type": "object",
                "properties": {
                    "id": { "type": "integer" },
                    "amount_cents": { "type": "integer" },
                    "reason": { "type": "string" },
                },
                "required": ["id", "amount_cents"],
            }),
        ),
        tool(
            "deleteCustomer",
            "DELETE",
            "/customers/{id}",
            RiskClass::Critical,
            json!({
                "type": "object",
                "properties": { "id": { "type": "integer" } },
                "required": ["id"],
            }),
        ),
        tool(
            "createOrder",
            "POST",
            "/orders",
            RiskClass::Medium,
            json!({
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "sku": { "type": "string" },
                                "qty": { "type": "integer" },
                            },
                            "required": ["sku", "qty"],
                        },
                    },
                    "customer": {
                        "type": "object",
                        "properties": {
                            "email": { "type": "string" },
                            "vip": { "type": "boolean" },
                        },
                        "required": ["email"],
                    },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "price": { "type": "number" },
                    "note": { "type": ["string", "null"] },
                    "legacy": { "type": "string", "nullable": true },
                    "anything": {},
                    "choice": { "oneOf": [{ "type": "string" }, { "type": "integer" }] },
                    "x-request-id": { "type": "string" },
                },
                "required": ["customer", "price"],
            }),
        ),
    ])
}

fn apis() -> Vec<String> {
    vec!["orders".to_owned()]
}

fn load(files: &[(&str, &str)]) -> Result<PolicyEngine, PolicyError> {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write policy");
    }
    PolicyEngine::load(dir.path(), &catalog(), &apis())
}

fn engine(policies: &str) -> PolicyEngine {
    match load(&[("p.cedar", policies)]) {
        Ok(engine) => engine,
        Err(e) => panic!("policies should load:\n{e}"),
    }
}

fn load_error(files: &[(&str, &str)]) -> String {
    match load(files) {
        Ok(_) => panic!("policies should not load"),
        Err(e) => e.to_string(),
    }
}

fn principal(agent: &str, roles: &[&str], scopes: &[&str]) -> Principal {
    Principal {
        agent: agent.to_owned(),
        subject: agent.to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        token_id: "jti-1".to_owned(),
        issued_at: 1_700_000_000,
        expires_at: 1_700_000_300,
        user: None,
        actors: Vec::new(),
        certificate_thumbprint: None,
        mcp_only: false,
    }
}

fn support() -> Principal {
    principal("bot", &["support"], &["orders:read"])
}

fn call_from(
    engine: &PolicyEngine,
    who: &Principal,
    tool_name: &str,
    args: Value,
    ip: Option<IpAddr>,
) -> Result<Permitted<Call>, Denial> {
    let catalog = catalog();
    let tool = catalog.get(tool_name).expect("tool in catalog");
    let meta = CallMeta::now(Front::Http, ip);
    let call = Call::new(
        Arc::new(who.clone()),
        meta,
        Arc::clone(tool),
        portcullis_core::CallArgs::new(args),
    )
    .expect("arguments must be an object");
    engine.authorize(call, AuthzContext::default())
}

fn call(
    engine: &PolicyEngine,
    who: &Principal,
    tool_name: &str,
    args: Value,
) -> Result<Permitted<Call>, Denial> {
    call_from(
        engine,
        who,
        tool_name,
        args,
        Some(IpAddr::from([10, 1, 2, 3])),
    )
}

fn sees(engine: &PolicyEngine, who: &Principal, tool_name: &str) -> bool {
    let catalog = catalog();
    engine.may_see(who, catalog.get(tool_name).expect("tool in catalog"))
}

const SUPPORT_READS: &str = r#"
permit(
    principal in Portcullis::Role::"support",
    action == Portcullis::Action::"getOrder",
    resource
);
"#;

#[test]
fn engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PolicyEngine>();
    assert_send_sync::<Permitted<Call>>();
}

#[test]
fn permit_by_role_allows_and_names_the_policy() {
    let engine = engine(SUPPORT_READS);
    let permit = call(&engine, &support(), "getOrder", json!({"id": 7})).expect("allowed");
    assert_eq!(permit.tool().name, "getOrder");
    assert_eq!(permit.principal().agent, "bot");
    assert_eq!(permit.args(), json!({"id": 7}).as_object().expect("object"));
    assert_eq!(permit.policies(), ["p.cedar#0"]);
    assert_eq!(permit.policy_version(), engine.version());
    assert_eq!(engine.policy_count(), 1);
}

#[test]
fn without_the_role_the_call_is_denied() {
    let engine = engine(SUPPORT_READS);
    let stranger = principal("bot", &["sales"], &[]);
    let denial = call(&engine, &stranger, "getOrder", json!({"id": 7})).expect_err("denied");
    assert_eq!(denial.kind, DenialKind::Forbidden);
    assert_eq!(
        denial.message,
        "this agent is not permitted to call `getOrder` with these arguments"
    );
    assert!(denial.policies.is_empty());
    assert_eq!(denial.internal, ["no permit policy matched"]);
    // The permit is for one action only.
    let denial = call(&engine, &support(), "deleteCustomer", json!({"id": 7})).expect_err("denied");
    assert_eq!(denial.internal, ["no permit policy matched"]);
}

#[test]
fn an_empty_policy_directory_loads_and_denies_everything() {
    let engine = load(&[]).expect("empty dir loads");
    assert_eq!(engine.policy_count(), 0);
    let denial = call(&engine, &support(), "getOrder", json!({"id": 1})).expect_err("denied");
    assert_eq!(denial.internal, ["no permit policy matched"]);
    assert!(!sees(&engine, &support(), "getOrder"));
}

#[test]
fn non_policy_and_hidden_files_are_ignored() {
    let engine = load(&[
        ("p.cedar", SUPPORT_READS),
        ("notes.txt", "not cedar at all"),
        (".#p.cedar", "also not cedar"),
    ])
    .expect("loads");
    assert_eq!(engine.policy_count(), 1);
}

#[test]
fn a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let err = PolicyEngine::load(&missing, &catalog(), &apis()).expect_err("fails");
    assert!(matches!(err, PolicyError::ReadDir { .. }), "{err}");
}

#[test]
fn forbid_overrides_permit_and_is_reported() {
    let engine = engine(
        r#"
permit(principal in Portcullis::Role::"support", action in Portcullis::Action::"api:orders", resource);

@id("no-deletes")
forbid(principal, action == Portcullis::Action::"deleteCustomer", resource);
"#,
    );
    let denial = call(&engine, &support(), "deleteCustomer", json!({"id": 1})).expect_err("denied");
    assert_eq!(denial.policies, ["no-deletes"]);
    assert!(denial.internal.is_empty(), "{:?}", denial.internal);
    assert!(!denial.message.contains("no-deletes"));
    assert!(!denial.message.contains("forbid"));
    let permit = call(&engine, &support(), "getOrder", json!({"id": 1})).expect("allowed");
    assert_eq!(permit.policies(), ["p.cedar#0"]);
}

#[test]
fn risk_groups_are_usable() {
    let engine = engine(
        r#"
permit(principal, action, resource);
forbid(principal, action in [Portcullis::Action::"risk:high", Portcullis::Action::"risk:critical"], resource)
unless { principal in Portcullis::Role::"admin" };
"#,
    );
    assert!(call(&engine, &support(), "getOrder", json!({"id": 1})).is_ok());
    let denial = call(
        &engine,
        &support(),
        "refundOrder",
        json!({"id": 1, "amount_cents": 1}),
    )
    .expect_err("high risk denied");
    assert_eq!(denial.policies, ["p.cedar#1"]);
    let admin = principal("ops", &["admin"], &[]);
    assert!(call(&engine, &admin, "deleteCustomer", json!({"id": 1})).is_ok());
}

#[test]
fn argument_conditions_decide() {
    let engine = engine(
        r#"
permit(principal in Portcullis::Role::"support", action == Portcullis::Action::"refundOrder", resource)
when { context.args.amount_cents <= 10000 };
"#,
    );
    let small = json!({"id": 1, "amount_cents": 5000, "reason": "damaged"});
    let large = json!({"id": 1, "amount_cents": 20000});
    assert!(call(&engine, &support(), "refundOrder", small).is_ok());
    let denial = call(&engine, &support(), "refundOrder", large).expect_err("too large");
    assert_eq!(denial.internal, ["no permit policy matched"]);
}

#[test]
fn optional_arguments_need_has() {
    let engine = engine(
        r#"
permit(principal, action == Portcullis::Action::"refundOrder", resource)
when { context.args has reason && context.args.reason like "*damaged*" };
"#,
    );
    assert!(
        call(
            &engine,
            &support(),
            "refundOrder",
            json!({"id": 1, "amount_cents": 1, "reason": "box damaged"})
        )
        .is_ok()
    );
    assert!(
        call(
            &engine,
            &support(),
            "refundOrder",
            json!({"id": 1, "amount_cents": 1})
        )
        .is_err()
    );
    // Without the `has` guard strict validation rejects the policy.
    let err = load_error(&[(
        "p.cedar",
        r#"permit(principal, action == Portcullis::Action::"refundOrder", resource)
when { context.args.reason == "x" };"#,
    )]);
    assert!(err.contains("p.cedar:2:"), "{err}");
    assert!(err.contains("reason"), "{err}");
}

#[test]
fn nested_records_sets_and_quoted_names_are_typed() {
    let engine = engine(
        r#"
permit(principal, action == Portcullis::Action::"createOrder", resource)
when {
    context.args.customer.email like "*@example.com" &&
    context.args has tags && context.args.tags.contains("rush") &&
    context.args has "x-request-id" && context.args["x-request-id"] == "r1" &&
    context.args has items && context.args.items.contains({sku: "A", qty: 2})
};
"#,
    );
    let args = json!({
        "customer": {"email": "a@example.com", "vip": true, "extra": "dropped"},
        "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1, "color": "red"}],
        "tags": ["rush", "rush"],
        "price": 12.5,
        "note": null,
        "legacy": null,
        "anything": {"deep": [1, 2.5]},
        "choice": 3,
        "x-request-id": "r1",
        "undeclared": 1.5,
    });
    let permit = call(&engine, &support(), "createOrder", args).expect("allowed");
    assert_eq!(permit.tool().name, "createOrder");
    let other = json!({"customer": {"email": "a@evil.test"}, "price": 1, "tags": ["rush"], "x-request-id": "r1", "items": []});
    assert!(call(&engine, &support(), "createOrder", other).is_err());
}

#[test]
fn arguments_that_do_not_fit_the_schema_are_denied() {
    let engine = engine("permit(principal, action, resource);");
    // A string where the schema says integer, and a missing required argument.
    for args in [json!({"id": "seven"}), json!({}), json!({"id": 1e30})] {
        let denial = call(&engine, &support(), "getOrder", args.clone())
            .map(|_| args.to_string())
            .expect_err("denied");
        assert_eq!(denial.kind, DenialKind::Forbidden);
        assert!(
            denial
                .internal
                .iter()
                .any(|m| m.contains("does not fit the policy schema")),
            "{args}: {:?}",
            denial.internal
        );
    }
    // An integral float is a valid JSON Schema integer.
    assert!(call(&engine, &support(), "getOrder", json!({"id": 7.0})).is_ok());
}

#[test]
fn unknown_action_fails_load_with_file_and_line() {
    let err = load_error(&[(
        "orders.cedar",
        "// deletes\n\npermit(principal, action == Portcullis::Action::\"deleteCustomr\", resource);\n",
    )]);
    assert!(err.contains("orders.cedar:3:"), "{err}");
    assert!(
        err.contains(r#"Portcullis::Action::"deleteCustomr""#),
        "{err}"
    );
    assert!(
        err.contains("deleteCustomer"),
        "should suggest the right name: {err}"
    );
}

#[test]
fn unknown_argument_fails_load() {
    let err = load_error(&[
        ("a.cedar", SUPPORT_READS),
        (
            "b.cedar",
            "permit(principal, action == Portcullis::Action::\"refundOrder\", resource);\n\
             permit(principal, action == Portcullis::Action::\"refundOrder\", resource)\n\
             when { context.args.amout < 100 };\n",
        ),
    ]);
    assert!(err.contains("b.cedar:3:"), "{err}");
    assert!(err.contains("amout"), "{err}");
    assert!(err.contains("b.cedar#1"), "names the policy: {err}");
    assert!(!err.contains("a.cedar"), "{err}");
}

#[test]
fn omitted_arguments_cannot_be_used() {
    let err = load_error(&[(
        "p.cedar",
        r#"permit(principal, action == Portcullis::Action::"createOrder", resource) when { context.args.price > 1 };"#,
    )]);
    assert!(err.contains("price"), "{err}");
}

#[test]
fn unknown_api_fails_load() {
    let err = load_error(&[(
        "p.cedar",
        r#"permit(principal, action, resource == Portcullis::Api::"ordrs");"#,
    )]);
    assert!(err.contains("p.cedar:1:"), "{err}");
    assert!(err.contains("ordrs"), "{err}");
}

#[test]
fn syntax_error_fails_load_with_location() {
    let err = load_error(&[(
        "broken.cedar",
        "permit(principal, action, resource);\n\npermit(principal action, resource);\n",
    )]);
    assert!(err.contains("broken.cedar:3:"), "{err}");
    assert!(err.contains("unexpected token"), "{err}");
}

#[test]
fn duplicate_ids_fail_load() {
    let err = load_error(&[
        (
            "a.cedar",
            "@id(\"reads\")\npermit(principal, action, resource);\n",
        ),
        (
            "b.cedar",
            "\n@id(\"reads\")\nforbid(principal, action, resource);\n",
        ),
    ]);
    assert!(
        err.contains("b.cedar:2:1: duplicate policy id `reads`"),
        "{err}"
    );
    assert!(err.contains("a.cedar:1:1"), "{err}");
    // A chosen id may not collide with a generated one either.
    let err = load_error(&[(
        "p.cedar",
        "permit(principal, action, resource);\n@id(\"p.cedar#0\")\npermit(principal, action, resource);\n",
    )]);
    assert!(err.contains("duplicate policy id `p.cedar#0`"), "{err}");
}

#[test]
fn templates_and_empty_ids_are_refused() {
    let err = load_error(&[(
        "t.cedar",
        "permit(principal, action, resource);\npermit(principal == ?principal, action, resource);\n",
    )]);
    assert!(err.contains("t.cedar:2:1: templates"), "{err}");
    let err = load_error(&[("e.cedar", "@id(\"\")\npermit(principal, action, resource);")]);
    assert!(err.contains("e.cedar:1:1"), "{err}");
}

#[test]
fn every_problem_is_reported() {
    let err = load_error(&[
        (
            "a.cedar",
            "permit(principal, action == Portcullis::Action::\"nope\", resource);",
        ),
        ("b.cedar", "permit(principal,"),
    ]);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.lines().any(|l| l.contains("a.cedar:1:")), "{err}");
    assert!(err.lines().any(|l| l.contains("b.cedar:1:")), "{err}");
}

#[test]
fn generated_ids_count_policies_in_each_file() {
    let engine = engine(
        r#"
@id("first")
permit(principal == Portcullis::Agent::"x", action, resource);
permit(principal == Portcullis::Agent::"y", action, resource);
permit(principal == Portcullis::Agent::"bot", action, resource);
"#,
    );
    let permit = call(&engine, &support(), "getOrder", json!({"id": 1})).expect("allowed");
    assert_eq!(permit.policies(), ["p.cedar#2"]);
}

#[test]
fn may_see_follows_permit_scopes() {
    let engine = engine(
        r#"
permit(principal in Portcullis::Role::"support", action == Portcullis::Action::"getOrder", resource);
permit(principal in Portcullis::Role::"support", action == Portcullis::Action::"refundOrder", resource)
when { context.args.amount_cents <= 100 };
permit(principal == Portcullis::Agent::"ops", action in Portcullis::Action::"risk:critical", resource == Portcullis::Api::"orders");
forbid(principal in Portcullis::Role::"frozen", action, resource);
forbid(principal, action == Portcullis::Action::"getOrder", resource) when { context.hour == 3 };
"#,
    );
    let bot = support();
    assert!(
        sees(&engine, &bot, "getOrder"),
        "conditional forbid does not hide"
    );
    assert!(
        sees(&engine, &bot, "refundOrder"),
        "conditional permit shows"
    );
    assert!(!sees(&engine, &bot, "deleteCustomer"), "no permit, hidden");
    assert!(!sees(&engine, &bot, "createOrder"), "no permit, hidden");
    let ops = principal("ops", &[], &[]);
    assert!(sees(&engine, &ops, "deleteCustomer"));
    assert!(!sees(&engine, &ops, "getOrder"));
    let frozen = principal("bot", &["support", "frozen"], &[]);
    assert!(
        !sees(&engine, &frozen, "getOrder"),
        "unconditional forbid hides"
    );
    assert!(call(&engine, &frozen, "getOrder", json!({"id": 1})).is_err());
}

#[test]
fn may_see_respects_is_constraints() {
    let engine = engine(
        r#"
permit(principal is Portcullis::Agent, action == Portcullis::Action::"getOrder", resource is Portcullis::Api);
permit(principal is Portcullis::Agent in Portcullis::Role::"admin", action == Portcullis::Action::"deleteCustomer", resource in Portcullis::Api::"orders");
"#,
    );
    assert!(sees(&engine, &support(), "getOrder"));
    assert!(!sees(&engine, &support(), "deleteCustomer"));
    assert!(sees(
        &engine,
        &principal("root", &["admin"], &[]),
        "deleteCustomer"
    ));
}

#[test]
fn ip_time_and_token_are_usable() {
    let engine = engine(
        r#"
permit(principal, action == Portcullis::Action::"getOrder", resource)
when { context.token.scopes.contains("orders:read") && context.ip.isLoopback() };
permit(principal, action == Portcullis::Action::"refundOrder", resource)
when {
    context.ip.isInRange(ip("10.0.0.0/8")) &&
    context.hour >= 0 && context.hour <= 23 &&
    context.time > datetime("2020-01-01") &&
    context.token.client_id == "bot" && context.token.jti == "jti-1" &&
    context.token.exp > context.token.iat && context.token.roles.contains("support") &&
    context.token.sub == "bot"
};
"#,
    );
    let loopback = Some(IpAddr::from([127, 0, 0, 1]));
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
    assert!(call_from(&engine, &support(), "getOrder", json!({"id": 1}), loopback).is_ok());
    assert!(
        call_from(
            &engine,
            &support(),
            "getOrder",
            json!({"id": 1}),
            Some(mapped)
        )
        .is_ok()
    );
    let no_scope = principal("bot", &["support"], &[]);
    assert!(call_from(&engine, &no_scope, "getOrder", json!({"id": 1}), loopback).is_err());
    let remote = Some(IpAddr::from([10, 0, 0, 1]));
    assert!(call_from(&engine, &support(), "getOrder", json!({"id": 1}), remote).is_err());
    // An unknown address is 0.0.0.0: not loopback, not in any private range.
    assert!(call_from(&engine, &support(), "getOrder", json!({"id": 1}), None).is_err());
    let refund = json!({"id": 1, "amount_cents": 1});
    assert!(call_from(&engine, &support(), "refundOrder", refund.clone(), remote).is_ok());
    assert!(call_from(&engine, &support(), "refundOrder", refund, None).is_err());
}

#[test]
fn a_forbid_that_fails_to_evaluate_denies() {
    let engine = engine(
        r#"
permit(principal, action, resource);
@id("overflow")
forbid(principal, action == Portcullis::Action::"refundOrder", resource)
when { context.args.amount_cents * 1000000000 > 5000000000000 };
"#,
    );
    // 10^12 * 10^9 overflows a Long: Cedar would skip the forbid and allow.
    let denial = call(
        &engine,
        &support(),
        "refundOrder",
        json!({"id": 1, "amount_cents": 1_000_000_000_000_i64}),
    )
    .expect_err("fails closed");
    assert_eq!(denial.policies, ["overflow"]);
    assert!(
        denial.internal.iter().any(|m| m.contains("overflow")),
        "{:?}",
        denial.internal
    );
    assert!(
        call(
            &engine,
            &support(),
            "refundOrder",
            json!({"id": 1, "amount_cents": 1})
        )
        .is_ok()
    );
    let denial = call(
        &engine,
        &support(),
        "refundOrder",
        json!({"id": 1, "amount_cents": 10_000}),
    )
    .expect_err("forbid holds");
    assert_eq!(denial.policies, ["overflow"]);
}

#[test]
fn unknown_tools_are_denied_and_hidden() {
    let engine = engine("permit(principal, action, resource);");
    let stray = tool(
        "stray",
        "GET",
        "/x",
        RiskClass::Low,
        json!({"type": "object"}),
    );
    assert!(!engine.may_see(&support(), &stray));
    let meta = CallMeta::now(Front::Mcp, None);
    let args = Arguments::new();
    let denial = engine
        .decide(&AuthzRequest {
            principal: &support(),
            tool: &stray,
            args: &args,
            meta: &meta,
            risk: 0,
        })
        .expect_err("denied");
    assert_eq!(denial.kind, DenialKind::Forbidden);
}

#[test]
fn schema_text_is_cedar_and_follows_the_conventions() {
    let text = PolicyEngine::schema_text(&catalog(), &apis()).expect("schema text");
    let text = text.as_str();
    // It parses back as a Cedar schema.
    let (_, warnings) = Schema::from_cedarschema_str(text).expect("schema text parses");
    assert_eq!(warnings.count(), 0);
    for expected in [
        "namespace Portcullis {",
        "entity Agent in [Role];",
        "entity Api enum [\"orders\"];",
        "action \"api:orders\";",
        "action \"risk:critical\";",
        "action \"getOrder\" in [Action::\"api:orders\", Action::\"risk:low\"] appliesTo {",
        "principal: [Agent],",
        "resource: [Api],",
        "amount_cents: Long",
        "reason?: String",
        "\"x-request-id\"?: String",
        "tags?: Set<String>",
        "ip: ipaddr",
        "time: datetime",
        "hour: Long",
        "token: Token",
        "scopes: Set<String>",
        "@doc(\"POST /orders/{id}/refund\")",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    for omitted in ["price", "note", "legacy", "anything", "choice", "extra"] {
        assert!(
            !text.contains(omitted),
            "`{omitted}` should be omitted:\n{text}"
        );
    }
}

#[test]
fn tool_names_may_not_collide_with_groups() {
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = Catalog::from_tools(vec![tool(
        "risk:low",
        "GET",
        "/x",
        RiskClass::Low,
        json!({}),
    )]);
    let err = PolicyEngine::load(dir.path(), &catalog, &apis()).expect_err("collision");
    assert!(matches!(err, PolicyError::Schema { .. }), "{err}");
}

#[test]
fn version_is_a_digest_of_names_and_contents() {
    let a = load(&[("a.cedar", SUPPORT_READS)]).expect("loads");
    let same = load(&[("a.cedar", SUPPORT_READS)]).expect("loads");
    let renamed = load(&[("b.cedar", SUPPORT_READS)]).expect("loads");
    let edited = load(&[("a.cedar", &format!("{SUPPORT_READS}\n"))]).expect("loads");
    assert_eq!(a.version().len(), 16);
    assert!(a.version().chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(a.version(), same.version());
    assert_ne!(a.version(), renamed.version());
    assert_ne!(a.version(), edited.version());
}

#[test]
fn line_and_column_count_characters() {
    assert_eq!(load::line_column("ab\ncd", 4), (2, 2));
    assert_eq!(load::line_column("é\nx", 3), (2, 1));
    assert_eq!(load::line_column("éx", 2), (1, 2));
    assert_eq!(load::line_column("x", 99), (1, 2));
}

#[test]
fn converted_context_conforms_to_the_schema() {
    let engine = engine(SUPPORT_READS);
    let tool = engine.tools.get("createOrder").expect("tool");
    let Value::Object(args) = json!({
        "customer": {"email": "a@example.com", "vip": false},
        "items": [{"sku": "A", "qty": 2}],
        "tags": [],
        "price": 3,
        "x-request-id": "r",
    }) else {
        panic!("object")
    };
    let meta = portcullis_core::CallMeta::now(portcullis_core::Front::Http, None);
    let facts = context::CallFacts {
        args: &tool.args,
        values: &args,
        principal: &support(),
        user: None,
        meta: &meta,
        risk: 0,
    };
    let context = engine
        .contexts
        .build(&facts, &Needs::All)
        .expect("converts");
    context
        .validate(&engine.schema, &tool.action)
        .expect("conforms to the schema");
}

#[test]
fn time_and_hour_come_from_the_request() {
    let engine = engine(
        r#"
permit(principal, action == Portcullis::Action::"getOrder", resource)
when { context.time < datetime("2000-01-01") && context.hour == 3 };
"#,
    );
    let catalog = catalog();
    let tool = catalog.get("getOrder").expect("tool");
    let Value::Object(args) = json!({"id": 1}) else {
        panic!("object")
    };
    let at = |text: &str| {
        let mut meta = CallMeta::now(Front::Http, None);
        meta.received_at = chrono::DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&chrono::Utc);
        meta
    };
    let decide = |meta: &CallMeta| {
        engine
            .decide(&AuthzRequest {
                principal: &support(),
                tool,
                args: &args,
                meta,
                risk: 0,
            })
            .is_ok()
    };
    assert!(decide(&at("1999-05-01T03:10:00Z")));
    assert!(!decide(&at("1999-05-01T04:10:00Z")), "hour 4");
    assert!(!decide(&at("2024-05-01T03:10:00Z")), "after 2000");
    assert!(decide(&at("1999-05-01T03:10:00.500Z")), "same second again");
}

#[test]
fn decisions_do_not_leak_between_principals() {
    let engine = engine(
        r#"
permit(principal in Portcullis::Role::"support", action == Portcullis::Action::"getOrder", resource);
permit(principal == Portcullis::Agent::"auditor", action == Portcullis::Action::"getOrder", resource);
"#,
    );
    let stranger = principal("bot", &[], &[]);
    let auditor = principal("auditor", &[], &[]);
    for _ in 0..2 {
        let permit = call(&engine, &support(), "getOrder", json!({"id": 1})).expect("support");
        assert_eq!(permit.policies(), ["p.cedar#0"]);
        assert!(call(&engine, &stranger, "getOrder", json!({"id": 1})).is_err());
        let permit = call(&engine, &auditor, "getOrder", json!({"id": 1})).expect("auditor");
        assert_eq!(permit.policies(), ["p.cedar#1"]);
    }
}

#[test]
fn contexts_hold_only_what_the_selected_policies_read() {
    let engine = engine(
        r#"
permit(principal in Portcullis::Role::"support", action == Portcullis::Action::"getOrder", resource)
when { context.token.scopes.contains("orders:read") };
permit(principal, action == Portcullis::Action::"refundOrder", resource)
when { context.args has amount_cents && context.ip.isLoopback() };
"#,
    );
    let who = support();
    let attributes = |tool_name: &str, args: Value| {
        let tool = engine.tools.get(tool_name).expect("tool");
        let selected = tool.index.select(&who.agent, &who.roles);
        let selection = engine.selection(&selected).expect("selection");
        let Value::Object(args) = args else {
            panic!("object")
        };
        let meta = portcullis_core::CallMeta::now(portcullis_core::Front::Http, None);
        let facts = context::CallFacts {
            args: &tool.args,
            values: &args,
            principal: &who,
            user: None,
            meta: &meta,
            risk: 0,
        };
        let context = engine
            .contexts
            .build(&facts, &selection.needs)
            .expect("converts");
        let mut names: Vec<String> = context.into_iter().map(|(name, _)| name).collect();
        names.sort();
        names
    };
    assert_eq!(attributes("getOrder", json!({"id": 1})), ["token"]);
    assert_eq!(
        attributes("refundOrder", json!({"id": 1, "amount_cents": 5})),
        ["args", "ip"]
    );
    // Arguments nobody reads are still checked.
    let tool = engine.tools.get("getOrder").expect("tool");
    let Value::Object(args) = json!({"id": "seven"}) else {
        panic!("object")
    };
    let meta = portcullis_core::CallMeta::now(portcullis_core::Front::Http, None);
    let facts = context::CallFacts {
        args: &tool.args,
        values: &args,
        principal: &who,
        user: None,
        meta: &meta,
        risk: 0,
    };
    assert!(engine.contexts.build(&facts, &Needs::default()).is_err());
    // The decisions are the ones the whole context gives.
    assert!(call(&engine, &who, "getOrder", json!({"id": 1})).is_ok());
    let loopback = Some(IpAddr::from([127, 0, 0, 1]));
    let refund = json!({"id": 1, "amount_cents": 5});
    assert!(call_from(&engine, &who, "refundOrder", refund.clone(), loopback).is_ok());
    assert!(call(&engine, &who, "refundOrder", refund).is_err());
    assert!(call_from(&engine, &who, "refundOrder", json!({"id": 1}), loopback).is_err());
}

#[test]
fn role_and_scope_names_nothing_grants_are_reported_where_written() {
    let engine = engine(
        "@id(\"a\")\npermit (principal in Portcullis::Role::\"suport\", action, resource)\n\
         when { context.token.scopes.containsAny([\"orders:read\", \"orders:red\"]) };\n\
         @id(\"b\")\nforbid (principal, action, resource)\n\
         unless { principal in Portcullis::Role::\"support\" && context.token.scopes.contains(\"x\") };\n",
    );
    let roles = ["support", "reader"];
    let scopes = ["orders:read", "orders:write"];
    let Err(PolicyError::Invalid { problems }) = engine.check_names(&roles, &scopes) else {
        panic!("unknown names should be refused");
    };
    let found: Vec<(Option<usize>, &str)> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[0].0, Some(2));
    assert!(found[0].1.starts_with("role `suport`"), "{found:?}");
    assert!(found[0].1.ends_with("did you mean `support`?"), "{found:?}");
    assert_eq!(found[1].0, Some(3));
    assert!(found[1].1.starts_with("scope `orders:red`"), "{found:?}");
    assert!(
        found[1].1.ends_with("did you mean `orders:read`?"),
        "{found:?}"
    );
    assert_eq!(found[2].0, Some(6));
    assert!(found[2].1.starts_with("scope `x`"), "{found:?}");
    assert!(!found[2].1.contains("did you mean"), "{found:?}");
    // With every name known, nothing to report.
    engine
        .check_names(&["support", "suport"], &["orders:read", "orders:red", "x"])
        .unwrap();
}

#[test]
fn an_approval_annotation_names_the_group_of_the_permitted_call() {
    let engine = engine(
        r#"
permit(principal in Portcullis::Role::"support", action == Portcullis::Action::"getOrder", resource);

@id("big-reads")
@approval("finance")
permit(principal in Portcullis::Role::"support", action == Portcullis::Action::"getOrder", resource)
when { context.args.id > 100 };
"#,
    );
    let small = call(&engine, &support(), "getOrder", json!({"id": 7})).expect("allowed");
    assert!(
        small.approvals().is_empty(),
        "only determining policies count"
    );
    let big = call(&engine, &support(), "getOrder", json!({"id": 700})).expect("allowed");
    assert_eq!(
        big.approvals()
            .iter()
            .map(|g| g.as_ref())
            .collect::<Vec<_>>(),
        ["finance"]
    );
    assert_eq!(engine.approval_groups(), ["finance"]);
    assert!(engine.check_approval_groups(&["finance", "user"]).is_ok());
    let unknown = engine
        .check_approval_groups(&["finanse-team", "user"])
        .expect_err("an undeclared group is refused")
        .to_string();
    assert!(unknown.contains(":5:"), "names the line: {unknown}");
    assert!(
        unknown.contains("`@approval(\"finance\")` names no approver group"),
        "{unknown}"
    );
    let none = engine
        .check_approval_groups(&[])
        .expect_err("no approvals section")
        .to_string();
    assert!(none.contains("no `approvals` section"), "{none}");
}

#[test]
fn approval_annotations_on_forbid_policies_or_empty_are_load_errors() {
    let forbid = load_error(&[(
        "p.cedar",
        "@approval(\"finance\")\nforbid(principal, action, resource);\n",
    )]);
    assert!(forbid.contains("p.cedar:1"), "{forbid}");
    assert!(forbid.contains("only to `permit` policies"), "{forbid}");
    let empty = load_error(&[(
        "p.cedar",
        "@approval(\"\")\npermit(principal, action, resource);\n",
    )]);
    assert!(empty.contains("must name an approver group"), "{empty}");
}
