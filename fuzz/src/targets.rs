//! The targets. Each takes the raw input and panics when a property fails; the panic message
//! names the property.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use portcullis_config::{Config, DlpAction};
use portcullis_core::{Denial, DenialKind, RateLimitHint};
use portcullis_egress::classify::special_purpose;
use portcullis_guard::dlp::{DlpPolicy, DlpReport, Hit};
use portcullis_guard::inspect::Disabled;
use portcullis_mcp::fuzzing::{Parsed, decode_light, parse_message};
use serde_json::{Map, Value, json};
use url::{Host, Url};

use crate::fixture::{AGENT, fixture};

/// Longest text the fronts and the validator may quote from a request, in characters, with
/// room for the words around it.
const MAX_ECHO_CHARS: usize = 200;

/// JSON-RPC / MCP message decoding, the stateless fast path and the general path side by side.
///
/// - Neither decoder panics.
/// - Whatever the fast path accepts, the general path accepts as a `tools/call` with the same
///   id, tool name and arguments, and would itself serve as a plain stateless call: the fast
///   path is a shortcut, never a different reading.
/// - A refusal is a JSON-RPC error object whose message quotes at most a short, cut piece of
///   the body.
pub fn mcp_message(data: &[u8]) {
    let light = decode_light(data);
    let parsed = parse_message(data);
    match (&light, &parsed) {
        (
            Some(light),
            Parsed::Message {
                message,
                plain_stateless,
            },
        ) => {
            assert_eq!(
                message["method"], "tools/call",
                "fast path accepted another method"
            );
            assert_eq!(message["id"], light.id, "the two paths read different ids");
            assert_eq!(
                message["params"]["name"].as_str(),
                Some(light.name.as_str()),
                "the two paths read different tool names"
            );
            let arguments = light.arguments.clone().map(Value::Object);
            let general = message["params"].get("arguments").cloned();
            assert_eq!(general, arguments, "the two paths read different arguments");
            if http_header_value(&light.name) {
                assert!(
                    *plain_stateless,
                    "the fast path took a call the general path would not serve statelessly"
                );
            }
        }
        (Some(_), Parsed::Refused(error)) => {
            panic!("the fast path accepted what the general path refuses: {error}")
        }
        (None, Parsed::Refused(error)) => {
            assert_eq!(error["jsonrpc"], "2.0", "a refusal is a JSON-RPC error");
            let Some(message) = error["error"]["message"].as_str() else {
                panic!("a refusal without a message: {error}");
            };
            assert!(
                message.chars().count() <= MAX_ECHO_CHARS,
                "a refusal quotes too much of the body: {message}"
            );
            assert!(
                error["error"]["code"].is_i64(),
                "a refusal without a code: {error}"
            );
        }
        (None, Parsed::Message { .. }) => {}
    }
}

/// JWT/JWS parsing and verification against real ES256 and EdDSA verifiers.
///
/// The first byte picks how the rest becomes a token: used as it is; as byte edits of a token
/// the issuer minted; as the protected header of a minted token's payload and signature (alg
/// `none`, `HS256` with the public key, `jwk`, `crit` ...); or as the payload under a minted
/// header and signature. Verification never panics, and a token only verifies when its signed
/// part (header and payload) is exactly that of a token the issuer minted.
pub fn jwt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    for issuer in &fixture.issuers {
        let Some(minted) = issuer.minted.first() else {
            continue;
        };
        let token = match mode % 4 {
            0 => String::from_utf8_lossy(rest).into_owned(),
            1 => {
                // Pairs of (position scaled to the token's length, new byte).
                let mut bytes = minted.as_bytes().to_vec();
                let len = bytes.len();
                for pair in rest.chunks_exact(2) {
                    if let [at, byte] = pair
                        && let Some(slot) = bytes.get_mut(usize::from(*at) * len / 256)
                    {
                        *slot = *byte;
                    }
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            2 => {
                let (_, tail) = minted.split_once('.').unwrap_or_default();
                format!("{}.{tail}", b64url(rest))
            }
            _ => {
                let mut parts = minted.splitn(3, '.');
                let header = parts.next().unwrap_or_default();
                let _payload = parts.next();
                let signature = parts.next().unwrap_or_default();
                format!("{header}.{}.{signature}", b64url(rest))
            }
        };
        let Ok(principal) = issuer.identity.verify(&token) else {
            continue;
        };
        let signed = |token: &str| token.rsplit_once('.').map(|(signed, _)| signed.to_owned());
        assert!(
            issuer
                .minted
                .iter()
                .any(|minted| signed(minted) == signed(&token)),
            "a token the issuer never signed verified: {token}"
        );
        assert_eq!(
            principal.agent, AGENT,
            "a verified token names another agent"
        );
    }
}

/// The OpenAPI loader: any document, as YAML or JSON, loads or is refused with an error, and
/// every tool it yields has an object input schema that the argument validator either compiles
/// or refuses, without panicking.
pub fn openapi(data: &[u8]) {
    let fixture = fixture();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if std::fs::write(&fixture.fuzzed_openapi, text).is_err() {
        panic!("the fuzzed document could not be written");
    }
    let Ok(catalog) = portcullis_catalog::Catalog::load(&fixture.fuzzed_config) else {
        return;
    };
    for tool in catalog.tools() {
        assert!(
            tool.input_schema.is_object(),
            "tool `{}` has a non-object input schema",
            tool.name
        );
    }
    let _ = portcullis_guard::Validator::new(&catalog, &fixture.fuzzed_config.limits);
}

/// The configuration loader (YAML): any text parses and checks, or is refused with an error that
/// names the file; nothing panics, whatever the aliases, tags, depth or types.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new("fuzz.yaml")) {
        Ok(config) => {
            let _ = config.scopes_supported();
            let _ = config.resource_identifiers();
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.is_empty(), "an empty configuration error");
        }
    }
}

/// URL and host classification, differential: the argument guard against the egress classifier.
///
/// The text is given to the guard as a URL argument (`format: uri`) and as free text. Whenever
/// the address a URL in it names (as the `url` crate reads it, the reading of the HTTP client
/// and of most upstreams; for schemes without a special host syntax, also the host read as an
/// HTTP host) is one the egress classifier refuses, the guard must have flagged the argument.
/// URLs whose scheme is shorter than 2 or longer than 16 characters are left out: no client
/// connects with them, and the guard's free-text URL search does not look for them.
pub fn url_classify(data: &[u8]) {
    let fixture = fixture();
    let text = String::from_utf8_lossy(data);
    let schema = json!({"properties": {
        "target_url": {"type": "string", "format": "uri"},
        "note": {"type": "string"},
    }});
    let mut args = Map::new();
    args.insert("target_url".to_owned(), Value::from(text.as_ref()));
    args.insert("note".to_owned(), Value::from(text.as_ref()));
    let findings = fixture
        .inspector
        .inspect(&schema, &args, Disabled::default());
    let flagged = |path: &str| {
        findings
            .iter()
            .any(|f| f.path == path && f.detector == "internal_url.address")
    };
    let trimmed = text.trim();
    let as_url = if trimmed.contains("://") {
        Some(trimmed.to_owned())
    } else if !trimmed.is_empty() && !trimmed.contains(char::is_whitespace) {
        Some(format!("http://{trimmed}"))
    } else {
        None
    };
    if let Some(candidate) = as_url
        && let Some((ip, range)) = refused_destination(&candidate)
    {
        assert!(
            flagged("/target_url"),
            "the guard let URL argument `{}` through, but egress refuses {ip} ({range})",
            text.escape_debug()
        );
    }
    for word in text.split_whitespace().filter(|w| w.contains("://")) {
        if let Some((ip, range)) = refused_destination(word) {
            assert!(
                flagged("/note"),
                "the guard let free text `{}` through, but egress refuses {ip} ({range}) in `{}`",
                text.escape_debug(),
                word.escape_debug()
            );
        }
    }
}

/// The DLP scanner: no panic; what `scan` matches in a string is gone from the redacted answer
/// (unless the same text also stands elsewhere, unmatched); and the time per byte does not grow
/// with the input (a sample of inputs is timed at 1 KiB and at 16 KiB, repeated).
pub fn dlp(data: &[u8]) {
    let fixture = fixture();
    let text = String::from_utf8_lossy(data);
    let policy = DlpPolicy::all(DlpAction::Redact);
    let mut value = match serde_json::from_str::<Value>(&text) {
        Ok(value) => value,
        Err(_) => Value::String(text.clone().into_owned()),
    };
    let mut strings = Vec::new();
    collect_strings(&value, &mut strings);
    let mut secrets = Vec::new();
    let mut rest = String::new();
    let mut hits: Vec<Hit> = Vec::new();
    for string in &strings {
        hits.clear();
        fixture.dlp.scan(string, &policy, &mut hits);
        let mut at = 0;
        for hit in &hits {
            let (Some(before), Some(secret)) =
                (string.get(at..hit.start), string.get(hit.start..hit.end))
            else {
                panic!("a hit that does not fall on character boundaries: {hit:?}");
            };
            rest.push_str(before);
            rest.push('\0');
            secrets.push(secret.to_owned());
            at = hit.end;
        }
        rest.push_str(string.get(at..).unwrap_or_default());
        rest.push('\0');
    }
    let mut report = DlpReport::default();
    fixture.dlp.redact(&mut value, &policy, &mut report);
    let mut redacted = Vec::new();
    collect_strings(&value, &mut redacted);
    let redacted = redacted.join("\0");
    for secret in &secrets {
        if secret.len() >= 4 && !rest.contains(secret.as_str()) {
            assert!(
                !redacted.contains(secret.as_str()),
                "a matched secret survived redaction: `{}`",
                secret.escape_debug()
            );
        }
    }
    if !secrets.is_empty() {
        assert!(
            !report.counts.is_empty(),
            "matches without counts in the report"
        );
    }
    if data.len() >= 32 && data.len() <= 1024 && sampled(data) {
        linear_time(&text, &policy);
    }
}

/// problem+json and error rendering: a denial of every kind carrying hostile text, the
/// unknown-tool answer, and the argument validator's answer to hostile arguments. Each renders
/// as JSON that parses back, without raw control bytes; the unknown-tool answer quotes a cut
/// name; the validator's answer never quotes a long argument value (where secrets live).
pub fn problem(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let request_id = uuid::Uuid::nil();
    let kinds = [
        DenialKind::Unauthenticated,
        DenialKind::UnknownTool,
        DenialKind::InvalidArguments,
        DenialKind::InsufficientScope,
        DenialKind::Forbidden,
        DenialKind::UpstreamFailure,
        DenialKind::EgressBlocked,
        DenialKind::RateLimited,
        DenialKind::Loop,
        DenialKind::GuardBlocked,
        DenialKind::ResponseWithheld,
        DenialKind::Internal,
        DenialKind::BadRequest,
        DenialKind::TooLarge,
        DenialKind::OriginRefused,
        DenialKind::Overloaded,
        DenialKind::TimedOut,
        DenialKind::NotFound,
    ];
    let kind = kinds[usize::from(selector) % kinds.len()];
    let mut denials = vec![
        Denial::new(kind, text.as_ref()),
        Denial::unknown_tool(&text),
        Denial::limited(
            kind,
            RateLimitHint {
                name: text.clone().into_owned(),
                quota: u64::from(selector),
                window_secs: 1,
                remaining: 0,
                retry_after_secs: 1,
            },
        ),
    ];
    let fixture = fixture();
    let args: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone().into_owned()));
    let tool = fixture
        .tools
        .get(usize::from(selector) % fixture.tools.len().max(1))
        .cloned()
        .unwrap_or_default();
    let validated = fixture.validator.validate(&tool, &args);
    let validation = validated.err();
    if let Some(denial) = &validation {
        denials.push(denial.clone());
    }
    for denial in &denials {
        let body = match serde_json::to_vec(&denial.problem(&request_id)) {
            Ok(body) => body,
            Err(error) => panic!("a problem body that does not serialise: {error}"),
        };
        // JSON requires the C0 controls escaped (a raw CR or LF would also let text pass for
        // a new line in a log); DEL and C1 need no escape in JSON.
        assert!(
            !body.iter().any(|&b| b < 0x20),
            "a problem body with raw control bytes"
        );
        let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
            panic!("a problem body that is not JSON");
        };
        assert_eq!(
            parsed["status"],
            denial.kind.status(),
            "a problem with the wrong status"
        );
    }
    let detail = Denial::unknown_tool(&text).message;
    assert!(
        detail.chars().count() <= 128 + 20,
        "the unknown-tool answer quotes too much: {} chars",
        detail.chars().count()
    );
    if let Some(denial) = validation {
        let body = serde_json::to_string(&denial.problem(&request_id)).unwrap_or_default();
        let mut values = Vec::new();
        collect_strings(&args, &mut values);
        let mut keys = String::new();
        collect_keys(&args, &mut keys);
        for value in values {
            if value.chars().count() >= 16
                && !keys.contains(value)
                && !tool.contains(value)
                && !crate::fixture::ORDERS_OPENAPI.contains(value)
            {
                let quoted = serde_json::to_string(value).unwrap_or_default();
                let quoted = quoted.trim_matches('"');
                assert!(
                    !body.contains(quoted),
                    "the validator's answer quotes an argument value: {body}"
                );
            }
        }
    }
}

/// Whether `name` can travel as an HTTP header value (visible ASCII and spaces).
fn http_header_value(name: &str) -> bool {
    name.bytes()
        .all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
}

/// Unpadded Base64url, as JWS segments are written.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// The refused address a URL names, as egress would meet it, and the refused range.
fn refused_destination(candidate: &str) -> Option<(IpAddr, &'static str)> {
    let url = Url::parse(candidate).ok()?;
    // The guard looks for URLs with schemes of 2 to 16 characters: a one-letter scheme is a
    // drive letter (`C://`), and no client connects with a longer made-up one.
    if !(2..=16).contains(&url.scheme().len()) {
        return None;
    }
    let ip = match url.host()? {
        Host::Ipv4(ip) => IpAddr::V4(ip),
        Host::Ipv6(ip) => IpAddr::V6(ip),
        Host::Domain(name) => {
            // A scheme without a special host syntax keeps the host as written; an HTTP client
            // given the same authority reads it as an address.
            let reread = Url::parse(&format!("http://{name}/")).ok()?;
            match reread.host()? {
                Host::Ipv4(ip) => IpAddr::V4(ip),
                Host::Ipv6(ip) => IpAddr::V6(ip),
                Host::Domain(_) => return None,
            }
        }
    };
    special_purpose(ip).map(|range| (ip, range))
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn collect_keys(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_keys(v, out)),
        Value::Object(map) => {
            for (key, v) in map {
                out.push_str(key);
                out.push('\0');
                collect_keys(v, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) | Value::Number(_) => {}
    }
}

/// One input in 256, chosen by content so that a run is reproducible.
fn sampled(data: &[u8]) -> bool {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    hash % 256 == 0
}

/// The scan of `text` repeated to about 16 KiB costs at most a generous constant times the
/// scan of it repeated to about 1 KiB, per byte: linear work gives 16 times the time, quadratic
/// work 256 times. The best of three runs of each is compared, and short times are ignored, so
/// that a busy machine does not raise false alarms.
fn linear_time(text: &str, policy: &DlpPolicy) {
    let dlp = &fixture().dlp;
    let small = text.repeat((1024 / text.len().max(1)).max(1));
    let large = small.repeat(16);
    let best = |input: &str| {
        (0..3)
            .map(|_| {
                let mut hits = Vec::new();
                let start = Instant::now();
                dlp.scan(input, policy, &mut hits);
                start.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let (small_time, large_time) = (best(&small), best(&large));
    let allowed = small_time * 16 * 8 + Duration::from_millis(50);
    assert!(
        large_time <= allowed,
        "DLP scan time grows faster than the input: {small_time:?} for {} bytes, {large_time:?} for {} bytes",
        small.len(),
        large.len()
    );
}
