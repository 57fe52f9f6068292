//! Argument inspection: injection detectors over every string argument, after schema validation
//! and before authorization.
//!
//! Each string is judged by what its schema says it is:
//! - an `enum` field was already pinned down by the schema and is skipped;
//! - a URL field (`format: uri`, `hostname` ... or a name ending in `url`, `uri`, `host`) is
//!   parsed whole and its host classified; the pattern detectors run too, but not the
//!   prompt-injection phrasing;
//! - an identifier (a `pattern`, or a `format` such as `uuid` or `date`) gets the pattern
//!   detectors only;
//! - everything else is free text and gets every detector.
//!
//! Percent-encoded strings are also checked decoded once and twice, so `..%252f` is found.
//! Internal addresses are recognised with the egress classifier (passed in as a function so
//! this crate does not depend on egress) and a list of internal names; no name is resolved.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_config::Severity;
use regex::{Regex, RegexSet, RegexSetBuilder};
use serde_json::{Map, Value};
use url::{Host, Url};

use crate::error::{DetectorError, SettingsError};
use crate::prompt::{PromptDetector, PromptHit};

/// The detector families, as named in `guards.inspect.disabled`.
pub const FAMILIES: &[&str] = &[
    "sql",
    "shell",
    "path_traversal",
    "template",
    "script",
    "internal_url",
    "prompt_injection",
];

/// Names the special-purpose range of an address, `None` for an ordinary public one (the egress
/// classifier).
pub type Classifier = fn(IpAddr) -> Option<&'static str>;

/// One finding: which detector, how bad, and where (JSON pointer into the arguments).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Finding {
    /// Detector id, `<family>.<rule>`.
    pub detector: &'static str,
    /// Severity.
    pub severity: Severity,
    /// JSON pointer of the argument.
    pub path: String,
}

/// The risk a severity adds to `context.risk`.
pub fn weight(severity: Severity) -> i64 {
    match severity {
        Severity::Low => 10,
        Severity::Medium => 25,
        Severity::High => 50,
    }
}

/// The risk score of a set of findings: the sum of their weights, at most 100.
pub fn risk(findings: &[Finding]) -> i64 {
    findings
        .iter()
        .map(|f| weight(f.severity))
        .sum::<i64>()
        .min(100)
}

/// Detector id, severity and pattern of each pattern rule.
const PATTERNS: &[(&str, Severity, &str)] = &[
    (
        "sql.tautology",
        Severity::High,
        r#"(?i)['"]\s*\)?\s*(?:or|and|\|\|)\s*\(?\s*['"]?\w+['"]?\s*(?:=|<>|!=|\blike\b)\s*\(?['"]?\w+|\bor\s+1\s*=\s*1\b"#,
    ),
    (
        "sql.union",
        Severity::High,
        r"(?i)\bunion\b(?:\s+|/\*.*?\*/)+(?:all\s+|distinct\s+)?select\b",
    ),
    (
        "sql.stacked",
        Severity::High,
        r"(?i);\s*(?:drop|delete|truncate|alter|insert|update|create|exec(?:ute)?|shutdown|grant|declare)\s+\w",
    ),
    (
        "sql.comment",
        Severity::Medium,
        r"'\s*\)?\s*;?\s*(?:--(?:\s|$)|#\s*$|/\*)",
    ),
    (
        "sql.time",
        Severity::High,
        r"(?i)\b(?:sleep|pg_sleep|benchmark)\s*\(\s*\d|\bwaitfor\s+delay\s+'",
    ),
    (
        "sql.metadata",
        Severity::Medium,
        r"(?i)\binformation_schema\.|\bxp_cmdshell\b|\binto\s+(?:out|dump)file\b|\bload_file\s*\(",
    ),
    (
        "shell.chain",
        Severity::High,
        r"(?:[;&|\n]|&&|\|\|)\s*(?:rm\s+-[rf]|curl\s+\S|wget\s+\S|nc\s+-|ncat\s|bash\s+-[ci]|sh\s+-c|zsh\s+-c|cat\s+/|chmod\s+[0-7+]|chown\s|python[23]?\s+-c|perl\s+-e|ruby\s+-e|php\s+-r|powershell\b|cmd(?:\.exe)?\s+/c|mkfifo\s|id\s*$|whoami\b|uname\s+-a)",
    ),
    (
        "shell.substitution",
        Severity::High,
        r"\$\(\s*[a-z][a-z0-9_]*(?:\s[^)]*)?\)|`\s*(?:rm|curl|wget|cat|id|whoami|uname|nc|bash|sh|python[23]?|perl)\b[^`]*`|\$\{IFS\}",
    ),
    (
        "shell.device",
        Severity::High,
        r"/dev/tcp/|/bin/(?:ba|z|da)?sh\b",
    ),
    (
        "path_traversal.dotdot",
        Severity::High,
        r"(?:^|[\\/])\.\.(?:[\\/]|$)",
    ),
    (
        "path_traversal.sensitive_file",
        Severity::High,
        r"(?i)/etc/(?:passwd|shadow|sudoers)\b|/proc/self/|[a-z]:\\windows\\system32|\.ssh/(?:id_[a-z0-9]+|authorized_keys)\b",
    ),
    (
        "template.expression",
        Severity::High,
        r"\{\{[^}]{0,80}?(?:\d\s*[*+/-]\s*\d|__|\bconfig\b|\bself\b|\brequest\b|lipsum|cycler|joiner|\|\s*attr|range\()[^}]{0,80}\}\}|\$\{[^}]{0,80}?(?:\d\s*[*+/-]\s*\d|jndi:|T\(|Runtime|getClass|env:|sys:)[^}]{0,80}\}|#\{\s*\d+\s*[*+]\s*\d+\s*\}",
    ),
    (
        "template.directive",
        Severity::Medium,
        r"<%=?\s*[^%]{1,80}%>|\{%-?\s*(?:import|include|extends|for|set|macro)\b",
    ),
    (
        "script.tag",
        Severity::High,
        r"(?i)<\s*/?\s*(?:script|iframe|object|embed|applet|frameset)\b|<\s*meta\s+http-equiv|<\s*base\s+href",
    ),
    (
        "script.handler",
        Severity::High,
        r"(?i)<[a-z][^>]*[\s/]+on(?:error|load|click|mouse[a-z]+|focus|blur|key[a-z]+|submit|change|input|toggle|animation[a-z]+|pointer[a-z]+)\s*=",
    ),
    (
        "script.url",
        Severity::High,
        r"(?i)\b(?:javascript|vbscript|livescript):[^\s]|data:text/html",
    ),
];

/// Names that always mean "inside": exact names and suffixes.
const INTERNAL_NAMES: &[&str] = &[
    "localhost",
    "metadata",
    "metadata.google.internal",
    "instance-data",
    "kubernetes.default",
    "kubernetes.default.svc",
];
const INTERNAL_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".internal",
    ".intranet",
    ".corp",
    ".lan",
    ".home.arpa",
    ".svc",
    ".cluster.local",
];

/// The compiled detectors; built once, shared by every call.
pub struct Inspector {
    set: RegexSet,
    urls: Regex,
    prompt: Arc<PromptDetector>,
    classify: Classifier,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector").finish_non_exhaustive()
    }
}

/// Which detector families are off, as a bit per [`FAMILIES`] entry.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Disabled(u8);

impl Disabled {
    /// From family names; an unknown name is an error naming it.
    pub fn new(names: &[String]) -> Result<Self, SettingsError> {
        let mut bits = 0;
        for name in names {
            let Some(index) = FAMILIES.iter().position(|f| f == name) else {
                return Err(SettingsError::UnknownDetectorFamily {
                    name: name.clone(),
                    known: FAMILIES.join(", "),
                });
            };
            bits |= 1 << index;
        }
        Ok(Self(bits))
    }

    fn off(self, detector: &str) -> bool {
        let family = detector.split('.').next().unwrap_or(detector);
        FAMILIES
            .iter()
            .position(|f| *f == family)
            .is_some_and(|index| self.0 & (1 << index) != 0)
    }
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum FieldClass {
    Enum,
    Url,
    Identifier,
    FreeText,
}

impl Inspector {
    /// Compiles the detectors; `classify` is the egress address classifier.
    pub fn new(prompt: Arc<PromptDetector>, classify: Classifier) -> Result<Self, DetectorError> {
        let set = RegexSetBuilder::new(PATTERNS.iter().map(|(_, _, p)| *p))
            .size_limit(16 << 20)
            .build()
            .map_err(|e| DetectorError::new("inspect.patterns", e))?;
        // Special schemes also with fewer slashes (or backslashes): a WHATWG parser reads
        // `http:/127.0.0.1` and `http:127.0.0.1` as `http://127.0.0.1`.
        let urls =
            Regex::new(r#"(?i)\b(?:[a-z][a-z0-9+.-]{1,15}://|(?:https?|wss?|ftp):)[^\s"'<>`]+"#)
                .map_err(|e| DetectorError::new("inspect.urls", e))?;
        Ok(Self {
            set,
            urls,
            prompt,
            classify,
        })
    }

    /// Every finding in `args`, judged against the tool's `input_schema`.
    pub fn inspect(
        &self,
        input_schema: &Value,
        args: &Map<String, Value>,
        disabled: Disabled,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut path = String::new();
        for (key, value) in args {
            let schema = input_schema.get("properties").and_then(|p| p.get(key));
            push_segment(&mut path, key);
            self.walk(value, schema, key, &mut path, disabled, &mut findings);
            path.clear();
        }
        findings
    }

    fn walk(
        &self,
        value: &Value,
        schema: Option<&Value>,
        name: &str,
        path: &mut String,
        disabled: Disabled,
        findings: &mut Vec<Finding>,
    ) {
        match value {
            Value::String(text) => {
                let class = classify_field(schema, name);
                self.string(text, class, path, disabled, findings);
            }
            Value::Array(items) => {
                let items_schema = schema.and_then(|s| s.get("items"));
                let len = path.len();
                for (i, item) in items.iter().enumerate() {
                    path.push_str(&format!("/{i}"));
                    self.walk(item, items_schema, name, path, disabled, findings);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                let len = path.len();
                for (key, item) in map {
                    let inner = schema
                        .and_then(|s| s.get("properties"))
                        .and_then(|p| p.get(key));
                    push_segment(path, key);
                    self.walk(item, inner, key, path, disabled, findings);
                    path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn string(
        &self,
        text: &str,
        class: FieldClass,
        path: &str,
        disabled: Disabled,
        findings: &mut Vec<Finding>,
    ) {
        if class == FieldClass::Enum || text.is_empty() {
            return;
        }
        let mut add = |detector: &'static str, severity: Severity| {
            if disabled.off(detector)
                || findings
                    .iter()
                    .any(|f| f.detector == detector && f.path == path)
            {
                return;
            }
            findings.push(Finding {
                detector,
                severity,
                path: path.to_owned(),
            });
        };
        let once = percent_decode(text);
        let twice = once.as_deref().and_then(percent_decode);
        for variant in [Some(text), once.as_deref(), twice.as_deref()]
            .into_iter()
            .flatten()
        {
            for index in self.set.matches(variant).iter() {
                if let Some((id, severity, _)) = PATTERNS.get(index) {
                    add(id, *severity);
                }
            }
            if !disabled.off("internal_url")
                && let Some(severity) = self.internal(variant, class)
            {
                add("internal_url.address", severity);
            }
        }
        if class == FieldClass::FreeText && !disabled.off("prompt_injection") {
            let mut hits: Vec<PromptHit> = Vec::new();
            self.prompt.scan(text, &mut hits);
            for hit in hits {
                add(hit.id, hit.severity);
            }
        }
    }

    /// The severity when `text` is, or contains, a URL or host that points inside.
    fn internal(&self, text: &str, class: FieldClass) -> Option<Severity> {
        let trimmed = text.trim();
        if trimmed.contains("://") {
            if let Ok(url) = Url::parse(trimmed)
                && self.internal_url(&url)
            {
                return Some(Severity::High);
            }
        } else if !trimmed.is_empty() && !trimmed.contains(char::is_whitespace) {
            // A bare host[:port][/path]. Outside URL fields only IP literals written in full
            // and the well-known internal names count, so version strings (`10.0.1`) and file
            // names (`notes.local`) stay quiet.
            let host = trimmed
                .split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                .map_or_else(
                    || trimmed.split(['/', '?', '#']).next().unwrap_or(""),
                    |(h, _)| h,
                );
            let numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            // A URL field's value is a host whatever it looks like: `10.1` and `2130706433`
            // there are the addresses an HTTP client reads in them (10.0.0.1, 127.0.0.1).
            let judged = if class == FieldClass::Url {
                true
            } else if numeric {
                host.matches('.').count() == 3
            } else {
                host.starts_with('[')
                    || INTERNAL_NAMES.contains(&host.to_ascii_lowercase().as_str())
            };
            if judged
                && let Ok(url) = Url::parse(&format!("http://{trimmed}"))
                && self.internal_url(&url)
            {
                return Some(Severity::High);
            }
        }
        for found in self.urls.find_iter(text) {
            if let Ok(url) = Url::parse(found.as_str())
                && self.internal_url(&url)
            {
                return Some(Severity::High);
            }
        }
        None
    }

    fn internal_url(&self, url: &Url) -> bool {
        if url.scheme() == "file" {
            return true;
        }
        match url.host() {
            Some(Host::Ipv4(ip)) => (self.classify)(IpAddr::V4(ip)).is_some(),
            Some(Host::Ipv6(ip)) => (self.classify)(IpAddr::V6(ip)).is_some(),
            Some(Host::Domain(name)) => {
                // A scheme without special host syntax (gopher, dict, redis ...) keeps its host
                // as written, but the client that connects reads an address there as HTTP
                // does: `gopher://127.0.0.1/` is loopback.
                if let Some(ip) = http_address(name) {
                    return (self.classify)(ip).is_some();
                }
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                INTERNAL_NAMES.contains(&name.as_str())
                    || INTERNAL_SUFFIXES.iter().any(|s| name.ends_with(s))
                    // A single-label name only resolves through a local search domain.
                    || (url.scheme() != "mailto" && !name.contains('.'))
            }
            None => false,
        }
    }
}

/// The address an HTTP client reads in `host`, in any of the IPv4 forms it accepts (decimal,
/// octal, hexadecimal, shorthand) or in brackets; `None` for a name.
fn http_address(host: &str) -> Option<IpAddr> {
    match Url::parse(&format!("http://{host}/")).ok()?.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

fn push_segment(path: &mut String, key: &str) {
    path.push('/');
    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

fn classify_field(schema: Option<&Value>, name: &str) -> FieldClass {
    let lower = name.to_ascii_lowercase();
    let format = schema
        .and_then(|s| s.get("format"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if schema.is_some_and(|s| s.get("enum").is_some() || s.get("const").is_some()) {
        return FieldClass::Enum;
    }
    if matches!(
        format,
        "uri"
            | "url"
            | "uri-reference"
            | "iri"
            | "iri-reference"
            | "hostname"
            | "idn-hostname"
            | "ipv4"
            | "ipv6"
    ) || [
        "url", "uri", "host", "hostname", "link", "endpoint", "webhook",
    ]
    .iter()
    .any(|suffix| lower == *suffix || lower.ends_with(&format!("_{suffix}")))
    {
        return FieldClass::Url;
    }
    if !format.is_empty() || schema.is_some_and(|s| s.get("pattern").is_some()) {
        return FieldClass::Identifier;
    }
    FieldClass::FreeText
}

/// `text` with `%XX` escapes decoded, or `None` when it has none (or decodes to non-UTF-8).
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut changed = false;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
            && let Ok(byte) = u8::try_from(h * 16 + l)
        {
            out.push(byte);
            i += 3;
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    if !changed {
        return None;
    }
    String::from_utf8(out).ok()
}
