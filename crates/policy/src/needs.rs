//! Which parts of the request context a set of policies can read.
//!
//! Building the context is most of the cost of a decision: Cedar evaluates every value handed to
//! it, including the `ipaddr` and `datetime` extension values, which it parses again on every
//! call. A policy can only read the context through attribute access (`context.token.scopes`,
//! `context["x"]`) and attribute tests (`context has token`, `context.args has a.b`), or by
//! using a record as a whole (`context == {..}`, `context.args == {..}`). So the context of a
//! call needs only the attributes on those paths, and a record used as a whole needs everything
//! below it.
//!
//! The paths are read from each policy's JSON form (Cedar's stable external syntax) at load time.
//! The analysis errs towards including: anything it does not recognise as an attribute path is
//! treated as a use of the whole context. Leaving out an attribute a policy reads would make that
//! policy fail to evaluate, which denies the call (a failing `permit` does not allow and a failing
//! `forbid` denies, see `PolicyEngine::authorize`), so a mistake here cannot allow a call.

use std::collections::BTreeMap;

use cedar_policy::Policy;
use serde_json::Value;

/// The part of a record value (the context, or a record inside it) that policies can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    /// The whole value.
    All,
    /// Only these attributes, each with the part of it that is read. Empty: nothing.
    Some(BTreeMap<String, Needs>),
}

impl Default for Needs {
    fn default() -> Self {
        Self::Some(BTreeMap::new())
    }
}

impl Needs {
    /// What one policy reads. A policy whose JSON form cannot be produced reads everything.
    pub(crate) fn of_policy(policy: &Policy) -> Self {
        let mut needs = Self::default();
        match policy.to_json() {
            Ok(json) => collect(&json, &mut needs),
            Err(error) => {
                tracing::debug!(policy = %policy.id(), %error, "policy has no JSON form; its decisions get the whole context");
                needs = Self::All;
            }
        }
        needs
    }

    /// Adds everything `other` reads.
    pub(crate) fn merge(&mut self, other: &Self) {
        match (&mut *self, other) {
            (Self::All, _) => {}
            (_, Self::All) => *self = Self::All,
            (Self::Some(mine), Self::Some(theirs)) => {
                for (name, sub) in theirs {
                    mine.entry(name.clone())
                        .and_modify(|existing| existing.merge(sub))
                        .or_insert_with(|| sub.clone());
                }
            }
        }
    }

    /// The part of attribute `name` that is read; `None` when it is not read at all.
    pub(crate) fn attribute(&self, name: &str) -> Option<&Self> {
        match self {
            Self::All => Some(&Self::All),
            Self::Some(attributes) => attributes.get(name),
        }
    }

    /// Marks the value at `path` (attribute names from the context down) as read in full.
    fn add_path(&mut self, path: &[String]) {
        let Some((first, rest)) = path.split_first() else {
            *self = Self::All;
            return;
        };
        match self {
            Self::All => {}
            Self::Some(attributes) => attributes.entry(first.clone()).or_default().add_path(rest),
        }
    }
}

/// Walks a policy's JSON form and records every context path it reads.
fn collect(node: &Value, needs: &mut Needs) {
    match node {
        Value::Object(object) => {
            if let Some(path) = context_path(node) {
                needs.add_path(&path);
                return;
            }
            if let Some(path) = has_path(object) {
                needs.add_path(&path);
                return;
            }
            for value in object.values() {
                collect(value, needs);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect(item, needs);
            }
        }
        _ => {}
    }
}

/// The attribute path of an expression that is the context variable or an attribute access
/// chain starting at it: `{"Var": "context"}` is `[]`, `{".": {"left": <e>, "attr": "a"}}` is
/// the path of `<e>` followed by `a`.
fn context_path(node: &Value) -> Option<Vec<String>> {
    let object = node.as_object().filter(|object| object.len() == 1)?;
    if let Some(var) = object.get("Var") {
        return (var.as_str() == Some("context")).then(Vec::new);
    }
    let access = object.get(".")?.as_object()?;
    let mut path = context_path(access.get("left")?)?;
    path.push(access.get("attr")?.as_str()?.to_owned());
    Some(path)
}

/// The path tested by `<context path> has a` or `<context path> has a.b`: the tested
/// attributes must be present exactly when they are in the real context, so they are read.
/// An attribute list that is not all strings gives the path of the tested record itself.
fn has_path(object: &serde_json::Map<String, Value>) -> Option<Vec<String>> {
    if object.len() != 1 {
        return None;
    }
    let has = object.get("has")?.as_object()?;
    let mut path = context_path(has.get("left")?)?;
    match has.get("attr") {
        Some(Value::String(attr)) => path.push(attr.clone()),
        Some(Value::Array(attrs)) => {
            let names: Option<Vec<String>> = attrs
                .iter()
                .map(|attr| attr.as_str().map(str::to_owned))
                .collect();
            if let Some(names) = names {
                path.extend(names);
            }
        }
        _ => {}
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn needs(condition: &str) -> Needs {
        let policy = Policy::from_str(&format!(
            "permit(principal, action, resource) when {{ {condition} }};"
        ))
        .expect("parses");
        Needs::of_policy(&policy)
    }

    fn paths(list: &[&[&str]]) -> Needs {
        let mut needs = Needs::default();
        for path in list {
            let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
            needs.add_path(&path);
        }
        needs
    }

    #[test]
    fn attribute_access_reads_its_path() {
        assert_eq!(
            needs(r#"context.token.scopes.contains("orders:read")"#),
            paths(&[&["token", "scopes"]])
        );
        assert_eq!(
            needs(r#"context["args"]["x-request-id"] == "r""#),
            paths(&[&["args", "x-request-id"]])
        );
        assert_eq!(
            needs(r#"context.ip.isInRange(ip("10.0.0.0/8")) && context.hour < 3"#),
            paths(&[&["ip"], &["hour"]])
        );
    }

    #[test]
    fn has_reads_the_tested_attributes() {
        assert_eq!(
            needs("context.args has amount_cents"),
            paths(&[&["args", "amount_cents"]])
        );
        assert_eq!(
            needs("context has token.scopes"),
            paths(&[&["token", "scopes"]])
        );
    }

    #[test]
    fn a_record_used_whole_is_read_whole() {
        assert_eq!(needs("context == {}"), Needs::All);
        assert_eq!(
            needs("context.token == context.token"),
            paths(&[&["token"]])
        );
        assert_eq!(
            needs(r#"context.args == {"id": 1} || context.args.id == 2"#),
            paths(&[&["args"]])
        );
    }

    #[test]
    fn policies_without_context_read_nothing() {
        let policy = Policy::from_str("permit(principal, action, resource);").expect("parses");
        assert_eq!(Needs::of_policy(&policy), Needs::default());
        assert_eq!(
            needs(r#"principal == Portcullis::Agent::"a""#),
            Needs::default()
        );
    }

    #[test]
    fn merging_keeps_the_widest_need() {
        let mut merged = paths(&[&["token", "scopes"]]);
        merged.merge(&paths(&[&["token"], &["ip"]]));
        assert_eq!(merged, paths(&[&["token"], &["ip"]]));
        merged.merge(&Needs::All);
        assert_eq!(merged, Needs::All);
        assert_eq!(merged.attribute("anything"), Some(&Needs::All));
        assert_eq!(Needs::default().attribute("token"), None);
    }
}
