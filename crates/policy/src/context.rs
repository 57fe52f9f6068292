//! The request context, built directly as Cedar values.
//!
//! Arguments are converted by the same [`ArgType`] that generated the `args` record of the
//! schema: declared properties are converted (recursively), undeclared ones (including those whose
//! JSON Schema Cedar cannot express) are left out, and a value of the wrong JSON type or a missing
//! required property is an error, so the call is denied rather than judged on partial data.
//!
//! Only the attributes the deciding policies can read are built ([`Needs`], worked out at load
//! time); every argument is still checked against its type. Debug builds (and so every test) also
//! build the whole context and have Cedar check it against the schema.
//!
//! Cedar's JSON context parser is not used: it costs tens of microseconds per call (untagged serde
//! deserialization of every value), several times the whole decision. For the same reason the
//! `ipaddr` and `datetime` values are cached: Cedar re-parses the extension function's name each
//! time such a value is constructed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use cedar_policy::{Context, EntityUid, RestrictedExpression};
use chrono::{DateTime, Timelike, Utc};
use parking_lot::RwLock;
use portcullis_core::{Arguments, CallMeta, Principal};
use serde_json::Value;

use crate::error::ContextError;
use crate::needs::Needs;
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

/// One call's facts, as the context is built from them.
pub(crate) struct CallFacts<'a> {
    /// The declared fields of the tool's `args` record.
    pub(crate) args: &'a [Field],
    /// The arguments.
    pub(crate) values: &'a Arguments,
    /// Who calls.
    pub(crate) principal: &'a Principal,
    /// The uid of the user the agent acts for, if any.
    pub(crate) user: Option<&'a EntityUid>,
    /// Request facts: caller address and time.
    pub(crate) meta: &'a CallMeta,
    /// The inspection stage's risk score.
    pub(crate) risk: i64,
}

impl ContextBuilder {
    /// The part of the context of one call that `needs` says the deciding policies read
    /// ([`Needs::All`]: the whole context, `args`, `ip`, `time`, `hour`, `token`, `risk` and,
    /// when the agent acts for a user, `user`).
    ///
    /// Every argument is checked against its type whether or not it is read, so an argument
    /// that does not fit the schema is refused whatever the policies look at.
    pub(crate) fn build(
        &self,
        facts: &CallFacts<'_>,
        needs: &Needs,
    ) -> Result<Context, ContextError> {
        let CallFacts {
            args,
            values,
            principal,
            user,
            meta,
            risk,
        } = *facts;
        let (client_ip, received_at) = (meta.client_ip, meta.received_at);
        let mut pairs = Vec::with_capacity(5);
        if let Some(args) = record(args, values, &mut String::new(), needs.attribute("args"))? {
            pairs.push(("args".to_owned(), args));
        }
        if needs.attribute("ip").is_some() {
            pairs.push(("ip".to_owned(), self.ip(client_ip)));
        }
        if needs.attribute("time").is_some() {
            pairs.push(("time".to_owned(), self.time(received_at)));
        }
        if needs.attribute("hour").is_some() {
            pairs.push((
                "hour".to_owned(),
                RestrictedExpression::new_long(i64::from(received_at.hour())),
            ));
        }
        if let Some(token_needs) = needs.attribute("token") {
            pairs.push(("token".to_owned(), token(principal, token_needs)?));
        }
        if needs.attribute("risk").is_some() {
            pairs.push(("risk".to_owned(), RestrictedExpression::new_long(risk)));
        }
        if let Some(user) = user
            && needs.attribute("user").is_some()
        {
            pairs.push((
                "user".to_owned(),
                RestrictedExpression::new_entity_uid(user.clone()),
            ));
        }
        Context::from_pairs(pairs).map_err(|e| ContextError::Cedar(e.to_string()))
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

/// The `token` record, with the attributes `needs` names.
fn token(principal: &Principal, needs: &Needs) -> Result<RestrictedExpression, ContextError> {
    let strings = |items: &[String]| {
        RestrictedExpression::new_set(
            items
                .iter()
                .map(|s| RestrictedExpression::new_string(s.clone())),
        )
    };
    let wanted = |name: &str| needs.attribute(name).is_some();
    let mut attributes = Vec::with_capacity(7);
    if wanted("jti") {
        let jti = RestrictedExpression::new_string(principal.token_id.clone());
        attributes.push(("jti".to_owned(), jti));
    }
    if wanted("sub") {
        let sub = RestrictedExpression::new_string(principal.subject.clone());
        attributes.push(("sub".to_owned(), sub));
    }
    if wanted("client_id") {
        let client_id = RestrictedExpression::new_string(principal.agent.clone());
        attributes.push(("client_id".to_owned(), client_id));
    }
    if wanted("scopes") {
        attributes.push(("scopes".to_owned(), strings(&principal.scopes)));
    }
    if wanted("roles") {
        attributes.push(("roles".to_owned(), strings(&principal.roles)));
    }
    if wanted("iat") {
        let iat = RestrictedExpression::new_long(principal.issued_at);
        attributes.push(("iat".to_owned(), iat));
    }
    if wanted("exp") {
        let exp = RestrictedExpression::new_long(principal.expires_at);
        attributes.push(("exp".to_owned(), exp));
    }
    if wanted("actors") {
        attributes.push(("actors".to_owned(), strings(&principal.actors)));
    }
    RestrictedExpression::new_record(attributes).map_err(|e| ContextError::Cedar(e.to_string()))
}

/// Checks a JSON value against `ty` and, when `needs` is given, converts the part it names to
/// the Cedar value of `ty`. `path` is the JSON pointer of the value, for the error message.
fn convert(
    ty: &ArgType,
    value: &Value,
    path: &mut String,
    needs: Option<&Needs>,
) -> Result<Option<RestrictedExpression>, ContextError> {
    let mismatch = |path: &str, expected: &'static str| ContextError::Mismatch {
        path: path.to_owned(),
        expected,
    };
    match (ty, value) {
        (ArgType::String, Value::String(s)) => {
            Ok(needs.map(|_| RestrictedExpression::new_string(s.clone())))
        }
        (ArgType::Bool, Value::Bool(b)) => Ok(needs.map(|_| RestrictedExpression::new_bool(*b))),
        (ArgType::Long, Value::Number(n)) => n
            .as_i64()
            .or_else(|| integral(n))
            .map(|long| needs.map(|_| RestrictedExpression::new_long(long)))
            .ok_or_else(|| mismatch(path, "a 64-bit integer")),
        (ArgType::Set(item), Value::Array(items)) => {
            // A set is only ever read whole: Cedar has no attribute access into its elements.
            let element_needs = needs.map(|_| &Needs::All);
            let len = path.len();
            let mut elements = Vec::with_capacity(if needs.is_some() { items.len() } else { 0 });
            for (i, element) in items.iter().enumerate() {
                path.push_str(&format!("/{i}"));
                if let Some(element) = convert(item, element, path, element_needs)? {
                    elements.push(element);
                }
                path.truncate(len);
            }
            Ok(needs.map(|_| RestrictedExpression::new_set(elements)))
        }
        (ArgType::Record(fields), Value::Object(map)) => record(fields, map, path, needs),
        (ArgType::String, _) => Err(mismatch(path, "a string")),
        (ArgType::Bool, _) => Err(mismatch(path, "a boolean")),
        (ArgType::Long, _) => Err(mismatch(path, "an integer")),
        (ArgType::Set(_), _) => Err(mismatch(path, "an array")),
        (ArgType::Record(_), _) => Err(mismatch(path, "an object")),
    }
}

/// Checks an object against the declared fields and, when `needs` is given, converts it to a
/// record of the declared fields it names; undeclared properties are left out.
fn record(
    fields: &[Field],
    map: &serde_json::Map<String, Value>,
    path: &mut String,
    needs: Option<&Needs>,
) -> Result<Option<RestrictedExpression>, ContextError> {
    let len = path.len();
    let mut attributes = Vec::new();
    for field in fields {
        match map.get(&field.name) {
            Some(value) => {
                path.push('/');
                path.push_str(&field.name.replace('~', "~0").replace('/', "~1"));
                let field_needs = needs.and_then(|needs| needs.attribute(&field.name));
                if let Some(converted) = convert(&field.ty, value, path, field_needs)? {
                    attributes.push((field.name.clone(), converted));
                }
                path.truncate(len);
            }
            None if field.required => {
                return Err(ContextError::Missing {
                    path: format!("{path}/{}", field.name),
                });
            }
            None => {}
        }
    }
    needs
        .map(|_| {
            RestrictedExpression::new_record(attributes)
                .map_err(|e| ContextError::Cedar(e.to_string()))
        })
        .transpose()
}

/// `3.0` as `3`: JSON Schema counts integral floats as integers. `None` unless the number is
/// integral and fits in an `i64`.
fn integral(n: &serde_json::Number) -> Option<i64> {
    let f = n.as_f64()?;
    // -2^63 and 2^63 are exact in f64, so the range test is exact and the cast cannot saturate.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
    (f.fract() == 0.0 && in_range).then_some(f as i64)
}
