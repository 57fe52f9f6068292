//! Protocol translation: a tool call's arguments become an HTTP request (method, URL, headers,
//! body) for the API's base URL.
//!
//! Path values are percent-encoded as a single segment: every byte outside the RFC 3986
//! unreserved set is encoded, so `/`, `\`, `?`, `#` and `%` cannot change the URL's structure.
//! A segment made only of a substituted `.` or `..` is refused rather than encoded, because the
//! WHATWG URL parser (like most servers) treats `%2E` and `%2E%2E` as dot segments too.
//! The built path is then parsed by the `url` crate, and a parser that would rewrite it (a dot
//! segment in the template, say) makes the call fail closed.

use std::borrow::Cow;

use bytes::Bytes;
use http::Method;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use portcullis_catalog::{BodyMapping, ParamLocation, Tool};
use portcullis_core::{Arguments, Denial, DenialKind, Violation};
use serde_json::Value;
use url::Url;

/// An upstream request, before the credential is added.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
}

/// Header names the gateway controls. A tool parameter with one of these names is never sent:
/// OpenAPI says `Accept`, `Content-Type` and `Authorization` parameters are ignored, and the
/// rest decide framing, routing or the connection itself.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "expect",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
];

/// Builds the request for `tool` from `args` against `base` (fragment already removed).
pub(crate) fn prepare(base: &Url, tool: &Tool, args: &Arguments) -> Result<Prepared, Denial> {
    let method = Method::from_bytes(tool.method.as_bytes()).map_err(|_| {
        internal(format!(
            "tool `{}` has an invalid HTTP method `{}`",
            tool.name, tool.method
        ))
    })?;

    let path = build_path(base.path(), &tool.path, args)?;
    let query = build_query(base.query(), tool, args)?;
    let mut url = base.clone();
    url.set_path(&path);
    url.set_query(if query.is_empty() { None } else { Some(&query) });
    // INVARIANT: what is sent is exactly what was built; the parser must not have normalized
    // anything (dot segments, backslashes), or the template could be escaped.
    if url.path() != path || url.query().unwrap_or("") != query {
        return Err(internal(format!(
            "tool `{}`: the URL parser rewrote the request target built from path template `{}`",
            tool.name, tool.path
        )));
    }

    let mut headers = build_headers(tool, args)?;
    let body = build_body(tool, args, &mut headers)?;
    Ok(Prepared {
        method,
        url,
        headers,
        body,
    })
}

fn build_path(base_path: &str, template: &str, args: &Arguments) -> Result<String, Denial> {
    let base_path = base_path.trim_end_matches('/');
    let mut path = String::with_capacity(base_path.len() + template.len() + 32);
    path.push_str(base_path);
    let template = template.strip_prefix('/').unwrap_or(template);
    for segment in template.split('/') {
        path.push('/');
        let start = path.len();
        let mut rest = segment;
        let mut substituted = false;
        while let Some(open) = rest.find('{') {
            let (literal, after_open) = rest.split_at(open);
            push_literal(&mut path, literal);
            let after_open = after_open.get(1..).unwrap_or("");
            let Some(close) = after_open.find('}') else {
                // An unmatched brace is literal text (encoded as `%7B`).
                push_literal(&mut path, "{");
                rest = after_open;
                continue;
            };
            let name = after_open.get(..close).unwrap_or("");
            push_path_value(&mut path, name, args)?;
            substituted = true;
            rest = after_open.get(close + 1..).unwrap_or("");
        }
        push_literal(&mut path, rest);
        if substituted && matches!(path.get(start..), Some("." | "..")) {
            return Err(invalid(
                "",
                "path",
                "path parameters must not form a `.` or `..` path segment".to_owned(),
            ));
        }
    }
    Ok(path)
}

fn push_path_value(path: &mut String, name: &str, args: &Arguments) -> Result<(), Denial> {
    let Some(value) = args.get(name) else {
        return Err(invalid(
            name,
            "required",
            format!("missing path parameter `{name}`"),
        ));
    };
    let text = match scalar_text(value) {
        Some(text) if !text.is_empty() => text,
        Some(_) => {
            return Err(invalid(
                name,
                "minLength",
                format!("path parameter `{name}` must not be empty"),
            ));
        }
        None => {
            return Err(invalid(
                name,
                "type",
                format!("path parameter `{name}` must be a string, number or boolean"),
            ));
        }
    };
    encode_unreserved(path, &text);
    Ok(())
}

fn build_query(base_query: Option<&str>, tool: &Tool, args: &Arguments) -> Result<String, Denial> {
    let mut query = String::new();
    if let Some(base_query) = base_query {
        query.push_str(base_query);
    }
    for param in &tool.params {
        if param.location != ParamLocation::Query {
            continue;
        }
        let Some(value) = args.get(&param.name) else {
            continue;
        };
        let not_scalar = || {
            invalid(
                &param.name,
                "type",
                format!(
                    "query parameter `{}` must be a scalar or an array of scalars",
                    param.name
                ),
            )
        };
        match value {
            Value::Null => {}
            Value::Object(_) => return Err(not_scalar()),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Null => {}
                        Value::Array(_) | Value::Object(_) => return Err(not_scalar()),
                        scalar => {
                            let text = scalar_text(scalar).unwrap_or_default();
                            push_pair(&mut query, &param.name, &text);
                        }
                    }
                }
            }
            scalar => {
                let text = scalar_text(scalar).unwrap_or_default();
                push_pair(&mut query, &param.name, &text);
            }
        }
    }
    Ok(query)
}

fn push_pair(query: &mut String, name: &str, value: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    encode_unreserved(query, name);
    query.push('=');
    encode_unreserved(query, value);
}

fn build_headers(tool: &Tool, args: &Arguments) -> Result<HeaderMap, Denial> {
    let mut headers = HeaderMap::new();
    for param in &tool.params {
        if param.location != ParamLocation::Header {
            continue;
        }
        let Some(value) = args.get(&param.name) else {
            continue;
        };
        if RESERVED_HEADERS
            .iter()
            .any(|reserved| param.name.eq_ignore_ascii_case(reserved))
        {
            continue;
        }
        let header = HeaderName::from_bytes(param.name.as_bytes()).map_err(|_| {
            internal(format!(
                "tool `{}` declares `{}`, which is not a valid header name",
                tool.name, param.name
            ))
        })?;
        let not_scalar = || {
            invalid(
                &param.name,
                "type",
                format!(
                    "header parameter `{}` must be a scalar or an array of scalars",
                    param.name
                ),
            )
        };
        let text: Cow<'_, str> = match value {
            Value::Null => continue,
            Value::Object(_) => return Err(not_scalar()),
            // OpenAPI `simple` style: array items joined by commas.
            Value::Array(items) => {
                let mut joined = String::new();
                for item in items {
                    let text = scalar_text(item).ok_or_else(not_scalar)?;
                    if !joined.is_empty() {
                        joined.push(',');
                    }
                    joined.push_str(&text);
                }
                Cow::Owned(joined)
            }
            scalar => scalar_text(scalar).unwrap_or_default(),
        };
        // Only visible ASCII, space and tab pass: no CR/LF (no header injection), no NUL, and
        // no obs-text that servers would read in differing charsets.
        let header_safe = text
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
        let value = header_safe
            .then(|| HeaderValue::from_str(&text).ok())
            .flatten()
            .ok_or_else(|| {
                invalid(
                    &param.name,
                    "header",
                    format!(
                        "header parameter `{}` contains characters not allowed in an HTTP header",
                        param.name
                    ),
                )
            })?;
        headers.append(header, value);
    }
    Ok(headers)
}

fn build_body(
    tool: &Tool,
    args: &Arguments,
    headers: &mut HeaderMap,
) -> Result<Option<Bytes>, Denial> {
    let Some(body) = &tool.body else {
        return Ok(None);
    };
    let encoding_failed =
        |e: serde_json::Error| internal(format!("tool `{}`: body encoding failed: {e}", tool.name));
    let bytes = match &body.mapping {
        BodyMapping::Merged { properties } => {
            let present = properties
                .iter()
                .filter_map(|name| args.get(name.as_str()).map(|value| (name.as_str(), value)));
            let mut out = Vec::with_capacity(128);
            out.push(b'{');
            let mut empty = true;
            for (name, value) in present {
                if !empty {
                    out.push(b',');
                }
                empty = false;
                serde_json::to_writer(&mut out, name).map_err(encoding_failed)?;
                out.push(b':');
                serde_json::to_writer(&mut out, value).map_err(encoding_failed)?;
            }
            out.push(b'}');
            if empty && !body.required {
                return Ok(None);
            }
            out
        }
        BodyMapping::Wrapped { argument } => match args.get(argument.as_str()) {
            Some(value) => serde_json::to_vec(value).map_err(encoding_failed)?,
            None if body.required => {
                return Err(invalid(
                    argument,
                    "required",
                    format!("missing request body argument `{argument}`"),
                ));
            }
            None => return Ok(None),
        },
    };
    let content_type = HeaderValue::from_str(&body.content_type).map_err(|_| {
        internal(format!(
            "tool `{}` has an invalid body media type",
            tool.name
        ))
    })?;
    headers.insert(CONTENT_TYPE, content_type);
    Ok(Some(Bytes::from(bytes)))
}

/// The text of a scalar: strings as they are, numbers and booleans as JSON writes them.
fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Number(number) => Some(Cow::Owned(number.to_string())),
        Value::Bool(true) => Some(Cow::Borrowed("true")),
        Value::Bool(false) => Some(Cow::Borrowed("false")),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Appends `text` with every byte outside the RFC 3986 unreserved set percent-encoded.
fn encode_unreserved(out: &mut String, text: &str) {
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            push_escaped(out, byte);
        }
    }
}

/// Appends template text, keeping what is valid in a path (pchar, `/` and existing
/// percent-escapes) and encoding the rest, so the URL parser has nothing to rewrite.
fn push_literal(out: &mut String, text: &str) {
    for &byte in text.as_bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'%'
                    | b'/'
            );
        if keep {
            out.push(char::from(byte));
        } else {
            push_escaped(out, byte);
        }
    }
}

fn push_escaped(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

/// A denial for a bad argument, with its JSON pointer.
fn invalid(name: &str, rule: &str, message: String) -> Denial {
    let mut denial = Denial::new(DenialKind::InvalidArguments, message.clone());
    let path = if name.is_empty() {
        String::new()
    } else {
        format!("/{}", name.replace('~', "~0").replace('/', "~1"))
    };
    denial.violations.push(Violation {
        path,
        rule: rule.to_owned(),
        message,
    });
    denial
}

/// A denial for a tool definition egress cannot translate (a catalog or config fault).
pub(crate) fn internal(detail: String) -> Denial {
    Denial::new(
        DenialKind::Internal,
        "the gateway could not build the upstream request",
    )
    .with_internal(detail)
}

#[cfg(test)]
mod tests;
