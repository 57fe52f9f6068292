//! Integers written as floats: JSON Schema counts `42.0` as an integer, so `42.0` passes a
//! schema that types the argument `integer`; sent on as it came, it would reach the upstream as
//! `/orders/42.0` or a body field many JSON decoders refuse. After validation, every number the
//! tool's schema types `integer` and that has no fractional part is written as an integer.

use serde_json::{Map, Value};

/// The arguments with every integral float that `schema` types as `integer` written as an
/// integer; `None` when there is none (the common case, which copies nothing).
///
/// The walk follows `properties`, `additionalProperties`, `items` and `prefixItems`, `allOf`
/// and local `$ref`s (`#/...`), the shapes the catalog produces; a number under `anyOf` or
/// `oneOf`, whose branch is not known, is left as it is.
pub fn integral_numbers(schema: &Value, args: &Value) -> Option<Value> {
    // Most calls carry no float at all: a walk of the arguments alone settles them without
    // resolving a single schema.
    if !has_float(args, 0) || !needs_change(schema, schema, args, 0) {
        return None;
    }
    let mut normalized = args.clone();
    rewrite(schema, schema, &mut normalized, 0);
    Some(normalized)
}

/// Deepest schema nesting followed; the input limits keep arguments far shallower.
const MAX_DEPTH: usize = 64;

/// Whether `value` holds a number that is neither an `i64` nor a `u64`.
fn has_float(value: &Value, depth: usize) -> bool {
    match value {
        Value::Number(number) => !(number.is_i64() || number.is_u64()),
        Value::Array(items) if depth <= MAX_DEPTH => {
            items.iter().any(|item| has_float(item, depth + 1))
        }
        Value::Object(object) if depth <= MAX_DEPTH => {
            object.values().any(|item| has_float(item, depth + 1))
        }
        _ => false,
    }
}

fn needs_change(root: &Value, schema: &Value, value: &Value, depth: usize) -> bool {
    let mut found = false;
    visit(root, schema, value, depth, &mut |schema, value| {
        if integral_float(schema, value).is_some() {
            found = true;
        }
    });
    found
}

fn rewrite(root: &Value, schema: &Value, value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = resolve(root, schema);
    if let Some(integer) = integral_float(schema, value) {
        *value = Value::from(integer);
        return;
    }
    for part in all_of(schema) {
        rewrite(root, part, value, depth + 1);
    }
    match value {
        Value::Object(object) => {
            for (key, item) in object.iter_mut() {
                if let Some(sub) = property_schema(schema, key) {
                    rewrite(root, sub, item, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                if let Some(sub) = item_schema(schema, index) {
                    rewrite(root, sub, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn visit(
    root: &Value,
    schema: &Value,
    value: &Value,
    depth: usize,
    found: &mut impl FnMut(&Value, &Value),
) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = resolve(root, schema);
    found(schema, value);
    for part in all_of(schema) {
        visit(root, part, value, depth + 1, found);
    }
    match value {
        Value::Object(object) => {
            for (key, item) in object {
                if let Some(sub) = property_schema(schema, key) {
                    visit(root, sub, item, depth + 1, found);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if let Some(sub) = item_schema(schema, index) {
                    visit(root, sub, item, depth + 1, found);
                }
            }
        }
        _ => {}
    }
}

/// The integer `value` stands for, when it is a float without a fractional part (in the `i64`
/// range) and `schema` types it `integer`.
fn integral_float(schema: &Value, value: &Value) -> Option<i64> {
    let Value::Number(number) = value else {
        return None;
    };
    if number.is_i64() || number.is_u64() || !types_integer(schema) {
        return None;
    }
    let float = number.as_f64()?;
    // -2^63 and 2^63 are exact in f64, so the range test is exact and the cast cannot saturate.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&float);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "integral and in range, checked above"
    )]
    (float.fract() == 0.0 && in_range).then_some(float as i64)
}

fn types_integer(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(name)) => name == "integer",
        Some(Value::Array(names)) => names.iter().any(|name| name == "integer"),
        _ => false,
    }
}

/// The schema a local `$ref` points to (followed a few times), else `schema` itself.
fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        let Some(pointer) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|reference| reference.strip_prefix('#'))
        else {
            break;
        };
        match root.pointer(pointer) {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

fn all_of(schema: &Value) -> &[Value] {
    schema
        .get("allOf")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn property_schema<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .and_then(|properties: &Map<String, Value>| properties.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|v| v.is_object()))
}

fn item_schema(schema: &Value, index: usize) -> Option<&Value> {
    schema
        .get("prefixItems")
        .and_then(Value::as_array)
        .and_then(|prefix| prefix.get(index))
        .or_else(|| schema.get("items").filter(|items| items.is_object()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn integral_floats_typed_integer_become_integers_and_nothing_else_changes() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "price": {"type": "number"},
                "page": {"$ref": "#/$defs/page"},
                "ids": {"type": "array", "items": {"type": ["integer", "null"]}},
                "nested": {"allOf": [{"properties": {"n": {"type": "integer"}}}]},
                "extra": {"type": "object", "additionalProperties": {"type": "integer"}}
            },
            "$defs": {"page": {"type": "integer"}}
        });
        let args = json!({
            "id": 42.0, "price": 3.0, "page": 2.0, "ids": [1.0, 2, null, 3.5],
            "nested": {"n": -7.0}, "extra": {"a": 1e3}
        });
        let normalized = integral_numbers(&schema, &args).expect("changed");
        assert_eq!(
            normalized,
            json!({
                "id": 42, "price": 3.0, "page": 2, "ids": [1, 2, null, 3.5],
                "nested": {"n": -7}, "extra": {"a": 1000}
            })
        );
        assert_eq!(normalized["id"].to_string(), "42");
        assert!(integral_numbers(&schema, &json!({"id": 42, "price": 1.5})).is_none());
        // Out of the i64 range or fractional: left for validation's own verdict.
        let big = json!({"id": 1e30});
        assert!(integral_numbers(&schema, &big).is_none());
    }
}
