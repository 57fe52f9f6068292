//! Turning OpenAPI schema objects into self-contained JSON Schema (draft 2020-12).
//!
//! Every local `$ref` is inlined. A reference met again while it is still being resolved is
//! recursive: such a schema cannot be inlined, so its resolution is stored once under `$defs`
//! and every use points there (`#/$defs/<name>`); the caller places the `$defs` section at the
//! root of the tool's input schema. References that do not start with `#` are refused.
//!
//! OpenAPI 3.0 dialect is rewritten on the way: `nullable: true` becomes a type array with
//! `"null"`, boolean `exclusiveMinimum`/`exclusiveMaximum` become the numeric form, and
//! keywords next to a `$ref` are ignored as the 3.0 specification says. In 3.1 documents,
//! keywords next to a `$ref` apply together with it.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use portcullis_core::truncate_for_message;
use serde_json::{Map, Value};

use crate::CatalogError;

/// Deepest nesting of schema objects (references included) the resolver follows.
const MAX_DEPTH: usize = 256;
/// Most schema objects one tool may expand to once references are inlined.
const MAX_NODES: usize = 100_000;

/// Keywords whose value is one subschema.
const SUBSCHEMA: &[&str] = &[
    "additionalItems",
    "additionalProperties",
    "contains",
    "contentSchema",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
];
/// Keywords whose value maps names to subschemas.
const SUBSCHEMA_MAP: &[&str] = &["dependentSchemas", "patternProperties", "properties"];
/// Keywords whose value is a list of subschemas.
const SUBSCHEMA_LIST: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords dropped from the output: identifiers and local definitions lose their meaning once
/// every reference is inlined, and a nested `$id` would change what `#/$defs/...` points to.
const DROPPED: &[&str] = &[
    "$anchor",
    "$defs",
    "$dynamicAnchor",
    "$id",
    "$schema",
    "$vocabulary",
    "definitions",
];
/// Keywords that need run-time scope resolution, which a self-contained schema cannot offer.
const UNSUPPORTED: &[&str] = &["$dynamicRef", "$recursiveAnchor", "$recursiveRef"];
/// Keywords that only annotate; next to a 3.1 `$ref` they are merged into the inlined target.
const ANNOTATIONS: &[&str] = &[
    "$comment",
    "default",
    "deprecated",
    "description",
    "example",
    "examples",
    "readOnly",
    "summary",
    "title",
    "writeOnly",
];

/// The OpenAPI major.minor line of a document.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(super) enum Version {
    /// OpenAPI 3.0.x: schema objects are an extended subset of JSON Schema draft 4/5.
    V30,
    /// OpenAPI 3.1.x: schema objects are JSON Schema draft 2020-12.
    V31,
}

/// Resolves the schemas of one tool; collects the `$defs` its recursive schemas need.
pub(super) struct SchemaResolver<'d> {
    root: &'d Value,
    version: Version,
    file: &'d Path,
    /// References being resolved, innermost last.
    stack: Vec<String>,
    /// References found to be recursive.
    recursive: HashSet<String>,
    /// `$defs` name of each recursive reference.
    def_names: HashMap<String, String>,
    /// Names already taken in `defs`.
    taken: HashSet<String>,
    /// Completed definitions, by name.
    defs: Map<String, Value>,
    nodes: usize,
    depth: usize,
}

impl<'d> SchemaResolver<'d> {
    /// A resolver for schemas of the document `root`, read from `file`.
    pub(super) fn new(root: &'d Value, version: Version, file: &'d Path) -> Self {
        Self {
            root,
            version,
            file,
            stack: Vec::new(),
            recursive: HashSet::new(),
            def_names: HashMap::new(),
            taken: HashSet::new(),
            defs: Map::new(),
            nodes: 0,
            depth: 0,
        }
    }

    /// The self-contained JSON Schema for the schema object `schema`, found at `at`.
    pub(super) fn resolve(&mut self, schema: &Value, at: &str) -> Result<Value, CatalogError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.invalid(at, "schema nesting is too deep"));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.invalid(
                at,
                format!("schema is too large once references are inlined (over {MAX_NODES} nodes)"),
            ));
        }
        self.depth += 1;
        let result = self.resolve_node(schema, at);
        self.depth -= 1;
        result
    }

    /// True once some schema resolved so far turned out to be recursive.
    pub(super) fn found_recursion(&self) -> bool {
        !self.recursive.is_empty()
    }

    /// The `$defs` section the resolved schemas point into (empty when none is recursive).
    pub(super) fn into_defs(self) -> Map<String, Value> {
        self.defs
    }

    fn resolve_node(&mut self, schema: &Value, at: &str) -> Result<Value, CatalogError> {
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(_) => return Ok(schema.clone()),
            _ => return Err(self.invalid(at, "a schema must be a mapping or a boolean")),
        };
        let Some(reference) = map.get("$ref") else {
            return self.resolve_object(map, at);
        };
        let ref_at = child(at, "$ref");
        let Value::String(reference) = reference else {
            return Err(self.invalid(&ref_at, "`$ref` must be a string"));
        };
        let target = self.reference(reference, &ref_at)?;
        if self.version == Version::V30 || map.len() == 1 {
            // OpenAPI 3.0: "properties adjacent to a $ref are ignored".
            return Ok(target);
        }
        let siblings: Map<String, Value> = map
            .iter()
            .filter(|(key, _)| key.as_str() != "$ref")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let rest = self.resolve_object(&siblings, at)?;
        Ok(combine(target, rest))
    }

    fn resolve_object(
        &mut self,
        map: &Map<String, Value>,
        at: &str,
    ) -> Result<Value, CatalogError> {
        let mut out = Map::new();
        for (key, value) in map {
            let key_at = child(at, key);
            let key = key.as_str();
            if DROPPED.contains(&key) {
                continue;
            }
            if UNSUPPORTED.contains(&key) {
                return Err(self.invalid(&key_at, format!("`{key}` is not supported")));
            }
            let converted = if key == "items" && value.is_array() {
                return Err(self.invalid(&key_at, "`items` must be a schema, not a list"));
            } else if SUBSCHEMA.contains(&key) {
                self.resolve(value, &key_at)?
            } else if SUBSCHEMA_MAP.contains(&key) {
                let Value::Object(members) = value else {
                    return Err(self.invalid(&key_at, format!("`{key}` must be a mapping")));
                };
                let mut resolved = Map::new();
                for (name, member) in members {
                    let member = self.resolve(member, &child(&key_at, name))?;
                    resolved.insert(name.clone(), member);
                }
                Value::Object(resolved)
            } else if SUBSCHEMA_LIST.contains(&key) {
                let Value::Array(items) = value else {
                    return Err(self.invalid(&key_at, format!("`{key}` must be a list")));
                };
                let mut resolved = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    resolved.push(self.resolve(item, &child(&key_at, &i.to_string()))?);
                }
                Value::Array(resolved)
            } else if key == "dependencies" {
                // Draft 7: a value is either a list of property names or a subschema.
                let Value::Object(members) = value else {
                    return Err(self.invalid(&key_at, "`dependencies` must be a mapping"));
                };
                let mut resolved = Map::new();
                for (name, member) in members {
                    let member = if member.is_array() {
                        member.clone()
                    } else {
                        self.resolve(member, &child(&key_at, name))?
                    };
                    resolved.insert(name.clone(), member);
                }
                Value::Object(resolved)
            } else {
                value.clone()
            };
            out.insert(key.to_owned(), converted);
        }
        if self.version == Version::V30 {
            convert_v30(&mut out);
        }
        Ok(Value::Object(out))
    }

    /// The schema a `$ref` stands for: inlined, or a pointer into `$defs` when recursive.
    fn reference(&mut self, reference: &str, at: &str) -> Result<Value, CatalogError> {
        let pointer = local_pointer(reference).map_err(|message| self.invalid(at, message))?;
        if let Some(name) = self.def_names.get(reference)
            && self.defs.contains_key(name)
        {
            return Ok(def_ref(name));
        }
        if self.stack.iter().any(|r| r == reference) {
            self.recursive.insert(reference.to_owned());
            let name = self.def_name(reference, &pointer);
            return Ok(def_ref(&name));
        }
        let Some(target) = self.root.pointer(&pointer) else {
            return Err(self.invalid(
                at,
                format!(
                    "`$ref` target `{}` does not exist",
                    truncate_for_message(reference, 128)
                ),
            ));
        };
        self.stack.push(reference.to_owned());
        let resolved = self.resolve(target, &pointer);
        self.stack.pop();
        let resolved = resolved?;
        if !self.recursive.contains(reference) {
            return Ok(resolved);
        }
        let name = self.def_name(reference, &pointer);
        self.defs.insert(name.clone(), resolved);
        Ok(def_ref(&name))
    }

    /// A `$defs` name for a recursive reference: its last pointer segment, made unique.
    fn def_name(&mut self, reference: &str, pointer: &str) -> String {
        if let Some(name) = self.def_names.get(reference) {
            return name.clone();
        }
        let last = pointer.rsplit('/').next().unwrap_or_default();
        let mut base: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if base.is_empty() {
            base.push_str("schema");
        }
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        self.def_names.insert(reference.to_owned(), name.clone());
        name
    }

    fn invalid(&self, at: &str, message: impl Into<String>) -> CatalogError {
        CatalogError::Invalid {
            file: self.file.to_owned(),
            pointer: at.to_owned(),
            message: message.into(),
        }
    }
}

/// The JSON pointer a local reference (`#/...`, percent-encoded) designates.
pub(super) fn local_pointer(reference: &str) -> Result<String, String> {
    let Some(fragment) = reference.strip_prefix('#') else {
        return Err(format!(
            "remote $ref `{}` is not allowed",
            truncate_for_message(reference, 128)
        ));
    };
    let decoded = percent_decode(fragment).ok_or_else(|| {
        format!(
            "`$ref` `{}` is not valid percent-encoded UTF-8",
            truncate_for_message(reference, 128)
        )
    })?;
    if !decoded.is_empty() && !decoded.starts_with('/') {
        return Err(format!(
            "`$ref` `{}` is not a JSON pointer; anchors are not supported",
            truncate_for_message(reference, 128)
        ));
    }
    Ok(decoded)
}

/// `pointer` extended by one (escaped) segment.
pub(super) fn child(pointer: &str, segment: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + segment.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            _ => out.push(c),
        }
    }
    out
}

fn def_ref(name: &str) -> Value {
    let mut map = Map::new();
    map.insert("$ref".to_owned(), Value::String(format!("#/$defs/{name}")));
    Value::Object(map)
}

/// A 3.1 `$ref` with sibling keywords: annotations are folded into an inlined target; anything
/// else keeps both, the target as an `allOf` member so each applies to the instance.
fn combine(target: Value, mut rest: Value) -> Value {
    let only_annotations = rest.as_object().is_some_and(|rest| {
        rest.keys()
            .all(|key| ANNOTATIONS.contains(&key.as_str()) || key.starts_with("x-"))
    });
    match (target, rest.as_object_mut()) {
        (Value::Object(mut target), Some(rest))
            if only_annotations && !target.contains_key("$ref") =>
        {
            for (key, value) in std::mem::take(rest) {
                target.insert(key, value);
            }
            Value::Object(target)
        }
        (target, Some(rest)) => {
            match rest.get_mut("allOf") {
                Some(Value::Array(all)) => all.push(target),
                _ => {
                    rest.insert("allOf".to_owned(), Value::Array(vec![target]));
                }
            }
            Value::Object(std::mem::take(rest))
        }
        (target, None) => target,
    }
}

/// Rewrites OpenAPI 3.0 keywords that mean something else (or nothing) in draft 2020-12.
fn convert_v30(schema: &mut Map<String, Value>) {
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(exclusive)) = schema.get(flag) {
            let exclusive = *exclusive;
            schema.shift_remove(flag);
            if exclusive && let Some(limit) = schema.shift_remove(bound) {
                schema.insert(flag.to_owned(), limit);
            }
        }
    }
    // "A true value adds "null" to the allowed types specified by the type keyword, only if
    // type is explicitly defined within the same Schema Object" (OpenAPI 3.0.3).
    if let Some(nullable) = schema.shift_remove("nullable")
        && nullable == Value::Bool(true)
    {
        match schema.get_mut("type") {
            Some(Value::String(single)) => {
                let single = std::mem::take(single);
                schema.insert(
                    "type".to_owned(),
                    Value::Array(vec![
                        Value::String(single),
                        Value::String("null".to_owned()),
                    ]),
                );
            }
            Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
                types.push(Value::String("null".to_owned()));
            }
            _ => {}
        }
    }
}

fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
