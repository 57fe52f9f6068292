use portcullis_catalog::{Catalog, Tool};
use portcullis_config::{InputLimits, RiskClass};
use portcullis_core::{Denial, DenialKind, Violation};
use serde_json::{Value, json};

use super::{GuardError, MAX_VIOLATIONS, Validator};

fn tool(name: &str, input_schema: Value) -> Tool {
    Tool {
        name: name.to_owned(),
        api: "api".to_owned(),
        operation_id: name.to_owned(),
        method: "POST".to_owned(),
        path: "/x".to_owned(),
        description: String::new(),
        params: Vec::new(),
        body: None,
        input_schema,
        output_schema: None,
        risk: RiskClass::Low,
        scopes: Vec::new(),
    }
}

fn order_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "note": {"type": ["string", "null"], "maxLength": 5},
            "email": {"type": "string", "format": "email"},
            "items": {"type": "array", "items": {
                "type": "object",
                "properties": {"sku": {"type": "string", "pattern": "^[A-Z]+$"}},
                "required": ["sku"]
            }},
            "meta": {"type": "object"},
            "a/b~c": {"type": "boolean"}
        },
        "required": ["id"],
        "additionalProperties": false
    })
}

fn validator(limits: InputLimits) -> Validator {
    let catalog = Catalog::from_tools(vec![tool("create_order", order_schema())]);
    Validator::new(&catalog, &limits).unwrap()
}

fn small_limits() -> InputLimits {
    InputLimits {
        max_depth: 3,
        max_string_bytes: 16,
        max_items: 4,
        ..InputLimits::default()
    }
}

fn denied(validator: &Validator, args: Value) -> Denial {
    let denial = validator.validate("create_order", &args).unwrap_err();
    assert_eq!(denial.kind, DenialKind::InvalidArguments);
    denial
}

fn only(denial: &Denial) -> &Violation {
    assert_eq!(denial.violations.len(), 1, "{:?}", denial.violations);
    &denial.violations[0]
}

#[test]
fn valid_arguments_pass() {
    let v = validator(InputLimits::default());
    for args in [
        json!({"id": 1}),
        json!({"id": 7, "note": null, "email": "a@example.com", "a/b~c": true,
               "items": [{"sku": "ABC"}], "meta": {"k": [1, {"x": "y"}]}}),
    ] {
        assert_eq!(v.validate("create_order", &args), Ok(()), "{args}");
    }
}

#[test]
fn wrong_type_is_reported_at_its_pointer() {
    let v = validator(InputLimits::default());
    let denial = denied(&v, json!({"id": "seven"}));
    assert_eq!(
        denial.message,
        "arguments do not match the schema of `create_order`"
    );
    let violation = only(&denial);
    assert_eq!(violation.path, "/id");
    assert_eq!(violation.rule, "type");
    assert_eq!(violation.message, "expected integer, got string");

    let denial = denied(&v, json!({"id": 1, "note": 3}));
    assert_eq!(
        only(&denial).message,
        "expected one of null, string, got integer"
    );
}

#[test]
fn missing_required_property() {
    let v = validator(InputLimits::default());
    let denial = denied(&v, json!({"note": "hi"}));
    let violation = only(&denial);
    assert_eq!(violation.path, "");
    assert_eq!(violation.rule, "required");
    assert_eq!(violation.message, "required property `id` is missing");
}

#[test]
fn additional_property_is_refused_and_long_names_are_cut() {
    let v = validator(InputLimits::default());
    let denial = denied(&v, json!({"id": 1, "admin": true}));
    let violation = only(&denial);
    assert_eq!(violation.path, "");
    assert_eq!(violation.rule, "additionalProperties");
    assert_eq!(violation.message, "property `admin` is not allowed");

    let long = "k".repeat(500);
    let denial = denied(&v, json!({"id": 1, long.clone(): 1}));
    let message = &only(&denial).message;
    assert!(!message.contains(&long));
    assert!(message.contains(&"k".repeat(64)));
    assert!(!message.contains(&"k".repeat(65)));
}

#[test]
fn nested_violations_use_escaped_json_pointers() {
    let v = validator(InputLimits::default());
    let denial = denied(
        &v,
        json!({"id": 1, "items": [{"sku": "OK"}, {"sku": "bad"}, {}], "a/b~c": "no"}),
    );
    let mut found: Vec<(&str, &str)> = denial
        .violations
        .iter()
        .map(|v| (v.path.as_str(), v.rule.as_str()))
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        [
            ("/a~1b~0c", "type"),
            ("/items/1/sku", "pattern"),
            ("/items/2", "required")
        ]
    );
}

#[test]
fn messages_never_echo_argument_values() {
    let v = validator(InputLimits::default());
    let secret = "sk_live_ABCDEF";
    for args in [
        json!({"id": 1, "note": secret}),
        json!({"id": 1, "email": secret}),
        json!({"id": 1, "items": [{"sku": secret}]}),
        json!({"id": secret}),
    ] {
        let denial = denied(&v, args);
        for violation in &denial.violations {
            assert!(!violation.message.contains(secret), "{violation:?}");
        }
    }
    let denial = denied(&v, json!({"id": 1, "note": "toolong"}));
    let violation = only(&denial);
    assert_eq!(violation.rule, "maxLength");
    assert_eq!(
        violation.message,
        "string must be at most 5 characters long"
    );
}

#[test]
fn formats_are_asserted() {
    let v = validator(InputLimits::default());
    let denial = denied(&v, json!({"id": 1, "email": "not-an-email"}));
    let violation = only(&denial);
    assert_eq!(
        (violation.path.as_str(), violation.rule.as_str()),
        ("/email", "format")
    );
}

#[test]
fn non_object_arguments_are_refused() {
    let v = validator(InputLimits::default());
    for (args, got) in [
        (json!([1]), "array"),
        (json!("x"), "string"),
        (json!(null), "null"),
        (json!(1.5), "number"),
    ] {
        let denial = denied(&v, args);
        assert_eq!(denial.message, "arguments must be a JSON object");
        let violation = only(&denial);
        assert_eq!(
            (violation.path.as_str(), violation.rule.as_str()),
            ("", "type")
        );
        assert_eq!(violation.message, format!("expected an object, got {got}"));
    }
}

#[test]
fn unknown_tool_is_the_unknown_tool_denial() {
    let v = validator(InputLimits::default());
    let denial = v.validate("drop_tables", &json!({})).unwrap_err();
    assert_eq!(denial, Denial::unknown_tool("drop_tables"));
}

#[test]
fn too_deep_is_refused_before_the_schema() {
    let v = validator(small_limits());
    // Level 1 is the arguments object; `meta` is 2, its array 3, the object inside it 4.
    assert_eq!(
        v.validate("create_order", &json!({"id": 1, "meta": {"a": [1]}})),
        Ok(())
    );
    // The schema error (`id` missing) is not reported: limits come first.
    let denial = denied(&v, json!({"meta": {"a": [{"b": 1}]}}));
    assert_eq!(denial.message, "arguments exceed the input limits");
    let violation = only(&denial);
    assert_eq!(violation.path, "/meta/a/0");
    assert_eq!(violation.rule, "max_depth");
    assert_eq!(violation.message, "value is nested deeper than 3 levels");
}

#[test]
fn string_too_long_including_keys() {
    let v = validator(small_limits());
    let denial = denied(&v, json!({"id": 1, "meta": {"k": "x".repeat(17)}}));
    let violation = only(&denial);
    assert_eq!(
        (violation.path.as_str(), violation.rule.as_str()),
        ("/meta/k", "max_string_bytes")
    );
    assert_eq!(violation.message, "string is longer than 16 bytes");

    // Bytes, not characters: 6 three-byte characters are 18 bytes.
    let denial = denied(&v, json!({"id": 1, "note": "€€€€€€"}));
    assert_eq!(only(&denial).rule, "max_string_bytes");

    // A long key is reported at its object, so the pointer does not echo it.
    let key = "q".repeat(17);
    let denial = denied(&v, json!({"id": 1, "meta": {key.clone(): 1}}));
    let violation = only(&denial);
    assert_eq!(violation.path, "/meta");
    assert_eq!(violation.rule, "max_string_bytes");
    assert!(!violation.message.contains(&key));
}

#[test]
fn too_many_items_or_members() {
    let v = validator(small_limits());
    let denial = denied(&v, json!({"id": 1, "items": [{}, {}, {}, {}, {}]}));
    let violation = only(&denial);
    assert_eq!(
        (violation.path.as_str(), violation.rule.as_str()),
        ("/items", "max_items")
    );
    assert_eq!(violation.message, "more than 4 items");

    let denial = denied(&v, json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}));
    let violation = only(&denial);
    assert_eq!(
        (violation.path.as_str(), violation.rule.as_str()),
        ("", "max_items")
    );
    assert_eq!(violation.message, "more than 4 properties");
}

#[test]
fn at_most_ten_violations() {
    let limits = InputLimits {
        max_depth: 8,
        max_string_bytes: 2,
        max_items: 100,
        ..InputLimits::default()
    };
    let v = validator(limits);
    let strings: Vec<Value> = (0..50).map(|_| json!("long")).collect();
    // Keys within the 2-byte limit, so the walk reaches the strings.
    let denial = denied(&v, json!({"m": {"k": strings}}));
    assert_eq!(denial.violations.len(), MAX_VIOLATIONS);
    assert_eq!(denial.violations[9].path, "/m/k/9");

    let v = validator(InputLimits::default());
    let items: Vec<Value> = (0..50).map(|_| json!({"sku": 1})).collect();
    let denial = denied(&v, json!({"id": 1, "items": items}));
    assert_eq!(denial.violations.len(), MAX_VIOLATIONS);
}

#[test]
fn recursive_schema_with_local_defs_validates() {
    let schema = json!({
        "type": "object",
        "properties": {"body": {"$ref": "#/$defs/Node"}},
        "required": ["body"],
        "additionalProperties": false,
        "$defs": {"Node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
        }}}
    });
    let catalog = Catalog::from_tools(vec![tool("tree", schema)]);
    let v = Validator::new(&catalog, &InputLimits::default()).unwrap();
    assert_eq!(
        v.validate("tree", &json!({"body": {"children": [{"children": []}]}})),
        Ok(())
    );
    let denial = v
        .validate("tree", &json!({"body": {"children": [{"children": 1}]}}))
        .unwrap_err();
    assert_eq!(denial.violations[0].path, "/body/children/0/children");
}

#[test]
fn external_references_do_not_compile() {
    for reference in [
        "https://example.com/schema.json",
        "file:///etc/passwd",
        "other.json#/x",
    ] {
        let catalog = Catalog::from_tools(vec![
            tool("fine", json!({"type": "object"})),
            tool(
                "fetcher",
                json!({"type": "object", "properties": {"x": {"$ref": reference}}}),
            ),
        ]);
        let err = Validator::new(&catalog, &InputLimits::default()).unwrap_err();
        let GuardError::Schema { tool, .. } = &err else {
            panic!("expected a schema error, got {err}")
        };
        assert_eq!(tool, "fetcher");
        assert!(
            err.to_string()
                .starts_with("input schema of tool `fetcher` does not compile")
        );
    }
}

#[test]
fn invalid_schema_names_the_tool() {
    let catalog = Catalog::from_tools(vec![tool("broken", json!({"type": "objekt"}))]);
    let err = Validator::new(&catalog, &InputLimits::default()).unwrap_err();
    assert!(err.to_string().contains("`broken`"), "{err}");
}

#[test]
fn validator_is_shareable_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Validator>();
}
