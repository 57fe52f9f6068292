//! The role and scope names policies use, with where each is written, so that a name no agent
//! holds (which makes its policy silently never match) is reported at load.
//!
//! Roles are found wherever a `Portcullis::Role` entity is written (the principal scope or a
//! condition); scopes wherever `context.token.scopes` is tested with `contains`, `containsAll`
//! or `containsAny` against literals. Both are read from Cedar's JSON form of each policy, so
//! the syntax of the text does not matter.

use serde_json::Value;

use crate::error::Problem;
use crate::load::{ParsedPolicy, SourceFile, line_column};
use crate::schema::{NAMESPACE, ROLE_TYPE};

/// What kind of name a policy refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    Role,
    Scope,
}

/// One use of a role or scope name in a policy.
#[derive(Clone, Debug)]
pub(crate) struct NameUse {
    pub(crate) kind: NameKind,
    pub(crate) name: String,
    /// Where it is written: the file and, when found, its line and column.
    pub(crate) at: Problem,
}

/// Every role and scope name the policies use, in file order.
pub(crate) fn collect(parsed: &[ParsedPolicy], files: &[SourceFile]) -> Vec<NameUse> {
    let role_type = format!("{NAMESPACE}::{ROLE_TYPE}");
    let mut uses = Vec::new();
    for policy in parsed {
        let Some(file) = files.get(policy.file) else {
            continue;
        };
        let Ok(json) = policy.policy.to_json() else {
            continue;
        };
        let mut found = Vec::new();
        walk(&json, &role_type, &mut found);
        for (kind, name) in found {
            // The literal as written, searched from the policy's start: its first occurrence.
            let quoted = serde_json::to_string(&name).unwrap_or_default();
            let offset = file
                .text
                .get(policy.offset..)
                .and_then(|rest| rest.find(&quoted))
                .map_or(policy.offset, |at| policy.offset + at);
            let (line, column) = line_column(&file.text, offset);
            uses.push(NameUse {
                kind,
                name,
                at: Problem {
                    file: file.path.clone(),
                    line: Some(line),
                    column: Some(column),
                    message: String::new(),
                },
            });
        }
    }
    uses
}

/// Collects role entities and scope literals from a policy's JSON form.
fn walk(node: &Value, role_type: &str, found: &mut Vec<(NameKind, String)>) {
    match node {
        Value::Object(map) => {
            if let (Some(Value::String(kind)), Some(Value::String(id))) =
                (map.get("type"), map.get("id"))
                && kind == role_type
            {
                found.push((NameKind::Role, id.clone()));
            }
            for method in ["contains", "containsAll", "containsAny"] {
                if let Some(Value::Object(call)) = map.get(method)
                    && call.get("left").is_some_and(is_token_scopes)
                    && let Some(right) = call.get("right")
                {
                    literals(right, found);
                }
            }
            for value in map.values() {
                walk(value, role_type, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, role_type, found);
            }
        }
        _ => {}
    }
}

/// Whether an expression is `context.token.scopes`.
fn is_token_scopes(expr: &Value) -> bool {
    let attr = |expr: &Value, name: &str| -> Option<Value> {
        let access = expr.get(".")?;
        (access.get("attr")?.as_str()? == name).then(|| access.get("left").cloned())?
    };
    attr(expr, "scopes")
        .and_then(|token| attr(&token, "token"))
        .is_some_and(|context| context.get("Var").and_then(Value::as_str) == Some("context"))
}

/// The string literals of a literal or a set of literals.
fn literals(expr: &Value, found: &mut Vec<(NameKind, String)>) {
    if let Some(Value::String(scope)) = expr.get("Value") {
        found.push((NameKind::Scope, scope.clone()));
    }
    if let Some(Value::Array(items)) = expr.get("Set") {
        for item in items {
            literals(item, found);
        }
    }
}
