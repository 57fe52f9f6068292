//! The request context, built directly as Cedar values.
//!
//! Arguments are converted by the same [`ArgType`] that generated the `args` record of the
//! schema: declared properties are converted (recursively), undeclared ones (including those whose
//! JSON Schema Cedar cannot express) are left out, and a value of the wrong JSON type or a missing
//! required property is an error, so the call is denied rather than judged on partial data. The
//! request is then still checked against the schema by Cedar.
//!
//! Cedar's JSON context parser is not used: it costs tens of microseconds per call (untagged serde
//! deserialization of every value), several times the whole decision. For the same reason the
//! `ipaddr` and `datetime` values are cached: Cedar re-parses the extension function's name each
//! time such a value is constructed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use cedar_policy::{Context, RestrictedExpression};
use chrono::{DateTime, Timelike, Utc};
use parking_lot::RwLock;
use portcullis_core::{Arguments, Principal};
use serde_json::Value;

use crate::schema::{ArgType, Field};

/// Most client addresses whose `ipaddr` value is kept; the cache is emptied when full.
const MAX_CACHED_IPS: usize = 4096;

/// Builds request contexts; holds the caches of extension values.
#[derive(Default)]
pub(crate) struct ContextBuilder {
    ips: RwLock<HashMap<IpAddr, RestrictedExpression>>,
    /// The `datetime` value of the current second.
    second: RwLock<Option<(i64, RestrictedExpression)>>,
}

impl ContextBuilder {
    /// The context of one call: `args`, `ip`, `time`, `hour` and `token`.
    pub(crate) fn build(
        &self,
        args: &[Field],
        values: &Arguments,
        principal: &Principal,
        client_ip: Option<IpAddr>,
        received_at: DateTime<Utc>,
    ) -> Result<Context, String> {
        let strings = |items: &[String]| {
            RestrictedExpression::new_set(
                items
                    .iter()
                    .map(|s| RestrictedExpression::new_string(s.clone())),
            )
        };
        let token = RestrictedExpression::new_record([
            (
                "jti".to_owned(),
                RestrictedExpression::new_string(principal.token_id.clone()),
            ),
            (
                "sub".to_owned(),
                RestrictedExpression::new_string(principal.subject.clone()),
            ),
            (
                "client_id".to_owned(),
                RestrictedExpression::new_string(principal.agent.clone()),
            ),
            ("scopes".to_owned(), strings(&principal.scopes)),
            ("roles".to_owned(), strings(&principal.roles)),
            (
                "iat".to_owned(),
                RestrictedExpression::new_long(principal.issued_at),
            ),
            (
                "exp".to_owned(),
                RestrictedExpression::new_long(principal.expires_at),
            ),
        ])
        .map_err(|e| e.to_string())?;
        Context::from_pairs([
            ("args".to_owned(), record(args, values, &mut String::new())?),
            ("ip".to_owned(), self.ip(client_ip)),
            ("time".to_owned(), self.time(received_at)),
            (
                "hour".to_owned(),
                RestrictedExpression::new_long(i64::from(received_at.hour())),
            ),
            ("token".to_owned(), token),
        ])
        .map_err(|e| e.to_string())
    }

    /// The caller address; IPv4-mapped IPv6 addresses as IPv4, unknown as `0.0.0.0`.
    fn ip(&self, ip: Option<IpAddr>) -> RestrictedExpression {
        let ip = ip.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ip| ip.to_canonical());
        if let Some(cached) = self.ips.read().get(&ip) {
            return cached.clone();
        }
        let value = RestrictedExpression::new_ip(ip.to_string());
        let mut ips = self.ips.write();
        if ips.len() >= MAX_CACHED_IPS {
            ips.clear();
        }
        ips.insert(ip, value.clone());
        value
    }

    /// The request time, to the second.
    fn time(&self, at: DateTime<Utc>) -> RestrictedExpression {
        let second = at.timestamp();
        if let Some((cached_second, value)) = self.second.read().as_ref()
            && *cached_second == second
        {
            return value.clone();
        }
        let value = RestrictedExpression::new_datetime(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        *self.second.write() = Some((second, value.clone()));
        value
    }
}

/// Converts a JSON value to the Cedar value of `ty`. `path` is the JSON pointer of the value,
/// for the error message.
fn convert(ty: &ArgType, value: &Value, path: &mut String) -> Result<RestrictedExpression, String> {
    let mismatch = |path: &str, expected: &str| format!("argument `{path}` is not {expected}");
    match (ty, value) {
        (ArgType::String, Value::String(s)) => Ok(RestrictedExpression::new_string(s.clone())),
        (ArgType::Bool, Value::Bool(b)) => Ok(RestrictedExpression::new_bool(*b)),
        (ArgType::Long, Value::Number(n)) => n
            .as_i64()
            .or_else(|| integral(n))
            .map(RestrictedExpression::new_long)
            .ok_or_else(|| mismatch(path, "a 64-bit integer")),
        (ArgType::Set(item), Value::Array(items)) => {
            let len = path.len();
            let mut elements = Vec::with_capacity(items.len());
            for (i, element) in items.iter().enumerate() {
                path.push_str(&format!("/{i}"));
                elements.push(convert(item, element, path)?);
                path.truncate(len);
            }
            Ok(RestrictedExpression::new_set(elements))
        }
        (ArgType::Record(fields), Value::Object(map)) => record(fields, map, path),
        (ArgType::String, _) => Err(mismatch(path, "a string")),
        (ArgType::Bool, _) => Err(mismatch(path, "a boolean")),
        (ArgType::Long, _) => Err(mismatch(path, "an integer")),
        (ArgType::Set(_), _) => Err(mismatch(path, "an array")),
        (ArgType::Record(_), _) => Err(mismatch(path, "an object")),
    }
}

/// Converts an object to a record of the declared fields; undeclared properties are left out.
fn record(
    fields: &[Field],
    map: &serde_json::Map<String, Value>,
    path: &mut String,
) -> Result<RestrictedExpression, String> {
    let len = path.len();
    let mut attributes = Vec::with_capacity(fields.len());
    for field in fields {
        match map.get(&field.name) {
            Some(value) => {
                path.push('/');
                path.push_str(&field.name.replace('~', "~0").replace('/', "~1"));
                attributes.push((field.name.clone(), convert(&field.ty, value, path)?));
                path.truncate(len);
            }
            None if field.required => {
                return Err(format!(
                    "required argument `{path}/{}` is missing",
                    field.name
                ));
            }
            None => {}
        }
    }
    RestrictedExpression::new_record(attributes).map_err(|e| e.to_string())
}

/// `3.0` as `3`: JSON Schema counts integral floats as integers. `None` unless the number is
/// integral and fits in an `i64`.
fn integral(n: &serde_json::Number) -> Option<i64> {
    let f = n.as_f64()?;
    // -2^63 and 2^63 are exact in f64, so the range test is exact and the cast cannot saturate.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
    (f.fract() == 0.0 && in_range).then_some(f as i64)
}
