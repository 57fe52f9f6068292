use std::path::Path;

use portcullis_core::media_type_is_json as is_json;
use serde_json::{Value, json};

use super::schema::{SchemaResolver, Version, child, local_pointer};
use super::{template_variables, valid_tool_name};
use crate::CatalogError;

fn resolve(doc: &Value, version: Version, schema: &Value) -> Result<(Value, Value), CatalogError> {
    let mut resolver = SchemaResolver::new(doc, version, Path::new("doc.yaml"));
    let resolved = resolver.resolve(schema, "/x")?;
    Ok((resolved, Value::Object(resolver.into_defs())))
}

fn invalid_message(err: CatalogError) -> (String, String) {
    match err {
        CatalogError::Invalid {
            pointer, message, ..
        } => (pointer, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn refs_are_inlined_with_escaped_pointers() {
    let doc = json!({"components": {"schemas": {
        "a/b": {"type": "string"},
        "t~x": {"type": "object", "properties": {"inner": {"$ref": "#/components/schemas/a~1b"}}},
        "Sp ace": {"type": "integer"}
    }}});
    let (resolved, defs) = resolve(
        &doc,
        Version::V31,
        &json!({"properties": {
            "one": {"$ref": "#/components/schemas/t~0x"},
            "two": {"$ref": "#/components/schemas/Sp%20ace"}
        }}),
    )
    .unwrap();
    assert_eq!(
        resolved,
        json!({"properties": {
            "one": {"type": "object", "properties": {"inner": {"type": "string"}}},
            "two": {"type": "integer"}
        }})
    );
    assert_eq!(defs, json!({}));
}

#[test]
fn remote_and_anchor_refs_are_refused() {
    let doc = json!({});
    for (reference, expected) in [
        (
            "https://example.com/s.json",
            "remote $ref `https://example.com/s.json` is not allowed",
        ),
        (
            "other.yaml#/A",
            "remote $ref `other.yaml#/A` is not allowed",
        ),
        ("#anchor", "anchors are not supported"),
        ("#/missing", "does not exist"),
    ] {
        let err = resolve(&doc, Version::V31, &json!({"$ref": reference})).unwrap_err();
        let (pointer, message) = invalid_message(err);
        assert_eq!(pointer, "/x/$ref");
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn recursive_schema_goes_to_defs() {
    let doc = json!({"components": {"schemas": {
        "Node": {"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
        }}
    }}});
    let (resolved, defs) = resolve(
        &doc,
        Version::V31,
        &json!({"$ref": "#/components/schemas/Node"}),
    )
    .unwrap();
    assert_eq!(resolved, json!({"$ref": "#/$defs/Node"}));
    assert_eq!(
        defs,
        json!({"Node": {"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
        }}})
    );
}

#[test]
fn mutual_recursion_and_reuse_share_defs() {
    let doc = json!({"components": {"schemas": {
        "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
        "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}}
    }}});
    let mut resolver = SchemaResolver::new(&doc, Version::V31, Path::new("d"));
    let first = resolver
        .resolve(&json!({"$ref": "#/components/schemas/A"}), "/x")
        .unwrap();
    let second = resolver
        .resolve(&json!({"$ref": "#/components/schemas/A"}), "/y")
        .unwrap();
    assert!(resolver.found_recursion());
    assert_eq!(first, json!({"$ref": "#/$defs/A"}));
    assert_eq!(second, first);
    let defs = Value::Object(resolver.into_defs());
    assert_eq!(
        defs,
        json!({"A": {"type": "object", "properties": {
            "b": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}
        }}})
    );
}

#[test]
fn v30_nullable_and_exclusive_bounds_are_rewritten() {
    let doc = json!({});
    let (resolved, _) = resolve(
        &doc,
        Version::V30,
        &json!({"type": "object", "properties": {
            "a": {"type": "string", "nullable": true, "example": "x"},
            "b": {"type": "integer", "minimum": 1, "exclusiveMinimum": true,
                  "maximum": 9, "exclusiveMaximum": false},
            "c": {"nullable": true, "enum": [1, 2]},
            "d": {"type": "number", "nullable": false}
        }}),
    )
    .unwrap();
    assert_eq!(
        resolved,
        json!({"type": "object", "properties": {
            "a": {"type": ["string", "null"], "example": "x"},
            "b": {"type": "integer", "maximum": 9, "exclusiveMinimum": 1},
            "c": {"enum": [1, 2]},
            "d": {"type": "number"}
        }})
    );
}

#[test]
fn v31_keeps_nullable_as_unknown_keyword_and_exclusive_numbers() {
    let doc = json!({});
    let schema = json!({"type": ["string", "null"], "nullable": true, "exclusiveMinimum": 3});
    let (resolved, _) = resolve(&doc, Version::V31, &schema).unwrap();
    assert_eq!(resolved, schema);
}

#[test]
fn ref_siblings_ignored_in_30_and_applied_in_31() {
    let doc = json!({"components": {"schemas": {"S": {"type": "string"}}}});
    let annotated = json!({"$ref": "#/components/schemas/S", "description": "d"});
    let constrained = json!({"$ref": "#/components/schemas/S", "maxLength": 3});
    assert_eq!(
        resolve(&doc, Version::V30, &annotated).unwrap().0,
        json!({"type": "string"})
    );
    assert_eq!(
        resolve(&doc, Version::V31, &annotated).unwrap().0,
        json!({"type": "string", "description": "d"})
    );
    assert_eq!(
        resolve(&doc, Version::V31, &constrained).unwrap().0,
        json!({"maxLength": 3, "allOf": [{"type": "string"}]})
    );
}

#[test]
fn data_keywords_are_not_treated_as_schemas() {
    let doc = json!({});
    let schema = json!({
        "enum": [{"$ref": "not a ref"}],
        "default": {"nullable": true},
        "properties": {"$ref": {"type": "string"}}
    });
    let (resolved, _) = resolve(&doc, Version::V30, &schema).unwrap();
    assert_eq!(resolved, schema);
}

#[test]
fn identifiers_and_local_defs_are_dropped_dynamic_refs_refused() {
    let doc = json!({});
    let (resolved, _) = resolve(
        &doc,
        Version::V31,
        &json!({"$id": "https://x/s", "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$defs": {"k": {}}, "type": "string"}),
    )
    .unwrap();
    assert_eq!(resolved, json!({"type": "string"}));
    let err = resolve(&doc, Version::V31, &json!({"$dynamicRef": "#meta"})).unwrap_err();
    assert_eq!(invalid_message(err).0, "/x/$dynamicRef");
}

#[test]
fn ref_expansion_bomb_is_bounded() {
    // Each level references the next twice: 2^30 nodes if fully inlined.
    let mut schemas = serde_json::Map::new();
    for i in 0..30 {
        let next = format!("#/components/schemas/L{}", i + 1);
        schemas.insert(
            format!("L{i}"),
            json!({"type": "array", "prefixItems": [{"$ref": next}, {"$ref": next}]}),
        );
    }
    schemas.insert("L30".to_owned(), json!({"type": "string"}));
    let doc = json!({"components": {"schemas": schemas}});
    let err = resolve(
        &doc,
        Version::V31,
        &json!({"$ref": "#/components/schemas/L0"}),
    )
    .unwrap_err();
    assert!(invalid_message(err).1.contains("too large"));
}

#[test]
fn pointer_helpers() {
    assert_eq!(child("/paths", "/orders/{id}"), "/paths/~1orders~1{id}");
    assert_eq!(child("", "a~b"), "/a~0b");
    assert_eq!(local_pointer("#").unwrap(), "");
    assert_eq!(local_pointer("#/a%7Bb%7D").unwrap(), "/a{b}");
    assert!(local_pointer("#/bad%zz").is_err());
    assert_eq!(template_variables("/a/{x}/b/{y}"), vec!["x", "y"]);
    assert!(template_variables("/a").is_empty());
    assert!(is_json("application/json; charset=utf-8"));
    assert!(is_json("application/merge-patch+json"));
    assert!(!is_json("application/xml"));
    assert!(!is_json("text/plain"));
    assert!(!is_json("+json"));
    assert!(valid_tool_name("get_order-2"));
    assert!(!valid_tool_name("get.order"));
    assert!(!valid_tool_name(""));
    assert!(!valid_tool_name(&"a".repeat(65)));
}
