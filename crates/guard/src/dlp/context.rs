//! The DLP checks that look past the match itself: a value judged by the name it is assigned
//! to, an `Authorization` value by its scheme, a national identifier by its label and check
//! digits, an e-mail address or IPv4 address by what surrounds it.
//!
//! Credential-like names are judged by their last word (`db_password`, `clientSecret`,
//! `X-Api-Key`, `NPM_AUTH_TOKEN`), so `password_policy`, `token_type` and `next_page_token`
//! are not credentials. Values under a password-like name count whatever their entropy (weak
//! passwords are passwords); values under other credential names need the shape of a random
//! token. Placeholders (`${VAR}`, `<password>`, `********`, `null`) never count.

use regex::Captures;

use super::KINDS;

/// The index of a kind of [`KINDS`], at compile time.
#[expect(
    clippy::panic,
    reason = "only evaluated in constants: an unknown name fails the build"
)]
const fn kind(name: &str) -> usize {
    let mut i = 0;
    while i < KINDS.len() {
        let known = KINDS[i].0.as_bytes();
        let wanted = name.as_bytes();
        if known.len() == wanted.len() {
            let mut j = 0;
            while j < known.len() && known[j] == wanted[j] {
                j += 1;
            }
            if j == known.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("unknown kind")
}

pub(super) const GENERIC: usize = kind("generic_secret");
const AWS_SECRET: usize = kind("aws_secret_key");
const AZURE_STORAGE: usize = kind("azure_storage_key");
const DB_URL: usize = kind("db_url");
const HTTP_AUTH: usize = kind("http_auth");
const NATIONAL_ID: usize = kind("national_id");
pub(super) const IP_ADDRESS: usize = kind("ip_address");

/// Whether an object key names a version, build or object identifier, whose dotted numbers
/// are not addresses.
pub(super) fn version_key(key: &str) -> bool {
    words(key).any(|word| {
        [
            "version",
            "ver",
            "build",
            "release",
            "firmware",
            "kernel",
            "oid",
            "agent",
            "sdk",
            "runtime",
            "revision",
            "rev",
            "tag",
            "engine",
            "platform",
            "os",
            "bios",
            "driver",
            "patch",
            "useragent",
            "osversion",
        ]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
    })
}

/// The words of a name: split at `_ - . : /` and spaces, and where a lowercase letter or digit
/// is followed by an uppercase one.
///
/// Every object key of an answer goes through here, so each byte costs one table lookup: its
/// class (see [`NAME_BYTES`]) and the class of the byte before it decide a boundary.
pub(super) fn words(name: &str) -> impl Iterator<Item = &str> {
    let bytes = name.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut previous = NAME_OTHER;
    std::iter::from_fn(move || {
        while i <= bytes.len() {
            let at = i;
            i += 1;
            let class = bytes
                .get(at)
                .map_or(NAME_SEPARATOR, |b| NAME_BYTES[usize::from(*b)]);
            let camel = class == NAME_UPPER && previous == NAME_LOWER_OR_DIGIT;
            previous = class;
            if class == NAME_SEPARATOR || camel {
                let word = name.get(start..at).unwrap_or("");
                start = if camel { at } else { at + 1 };
                if !word.is_empty() {
                    return Some(word);
                }
            }
        }
        None
    })
}

/// The class of each byte in a name, for [`words`].
const NAME_BYTES: [u8; 256] = {
    let mut table = [NAME_OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if matches!(c, b'_' | b'-' | b'.' | b':' | b'/' | b' ' | b'\t') {
            NAME_SEPARATOR
        } else if c.is_ascii_uppercase() {
            NAME_UPPER
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            NAME_LOWER_OR_DIGIT
        } else {
            NAME_OTHER
        };
        b += 1;
    }
    table
};
const NAME_OTHER: u8 = 0;
const NAME_SEPARATOR: u8 = 1;
const NAME_UPPER: u8 = 2;
const NAME_LOWER_OR_DIGIT: u8 = 3;

/// What an object key or assigned name says about its value.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(super) enum Name {
    /// Not a credential name.
    Other,
    /// A password: any value that is not a placeholder.
    Password,
    /// A key, secret or token: a value with the shape of a random token.
    Secret,
}

/// The class of a credential-like name, by its last word (camelCase, snake_case, kebab-case,
/// dotted and spaced names alike).
pub(super) fn name_class(name: &str) -> Name {
    let name = name.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    // A trailing word that only says how the value is written (`secret_value`, `apiKey2`,
    // `db_password_prod`) does not change what it is.
    let mut name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-');
    for _ in 0..2 {
        let (last, _) = last_words(name);
        if let Some(head) = name.strip_suffix(last)
            && !head.is_empty()
            && [
                "value",
                "val",
                "string",
                "str",
                "plain",
                "plaintext",
                "raw",
                "text",
                "data",
                "b64",
                "base64",
                "hex",
                "encoded",
                "enc",
                "new",
                "old",
                "current",
                "prod",
                "production",
                "dev",
                "staging",
                "live",
                "test",
                "v1",
                "v2",
                "base",
            ]
            .iter()
            .any(|w| last.eq_ignore_ascii_case(w))
        {
            name = head.trim_end_matches(['_', '-', '.', ' ', ':', '/']);
        }
    }
    let (last, before) = last_words(name);
    if last.is_empty() {
        return Name::Other;
    }
    if !known_signature(last) {
        return compound_class(last);
    }
    let is = |word: &str, options: &[&str]| options.iter().any(|o| word.eq_ignore_ascii_case(o));
    if is(last, PASSWORD_WORDS) {
        // `pass` and `pw` only as a word of their own (`DB_PASS`, `smtpPass`), which
        // `last_words` guarantees; `pwd` as a path (`cwd`/`pwd` pairs) is judged by its value.
        return Name::Password;
    }
    if is(last, SECRET_WORDS) {
        return Name::Secret;
    }
    if is(last, &["token"]) {
        let excluded = [
            "page",
            "next",
            "continuation",
            "cursor",
            "sync",
            "pagination",
            "resume",
            "delta",
            "start",
            "marker",
            "type",
            "csrf",
            "xsrf",
            "max",
            "input",
            "output",
            "total",
            "prompt",
            "completion",
            "idempotency",
        ];
        return if is(before, &excluded) {
            Name::Other
        } else {
            Name::Secret
        };
    }
    if is(last, &["key"])
        && name.len() > 4
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !is(
            before,
            &[
                "public",
                "publishable",
                "pub",
                "sort",
                "partition",
                "cache",
                "idempotency",
                "object",
                "bucket",
                "primary",
                "foreign",
                "unique",
                "row",
                "hash",
                "range",
                "routing",
                "dedup",
                "lookup",
                "site",
                "map",
                "group",
                "event",
                "message",
                "file",
                "s3",
                "id",
            ],
        )
    {
        // An environment variable named `<SERVICE>_KEY` holds that service's key.
        return Name::Secret;
    }
    if is(last, &["key"]) && name.get(..2).is_some_and(|h| h.eq_ignore_ascii_case("x-")) {
        // A custom HTTP header (`X-RapidAPI-Key`, `X-Auth-Key`).
        return Name::Secret;
    }
    if is(last, &["key"]) {
        let qualifiers = [
            "api",
            "access",
            "secret",
            "private",
            "auth",
            "client",
            "app",
            "application",
            "master",
            "signing",
            "encryption",
            "account",
            "shared",
            "storage",
            "service",
            "license",
            "server",
            "admin",
            "integration",
            "webhook",
            "sas",
            "subscription",
            "consumer",
            "ingest",
            "ingestion",
            "write",
            "read",
            "management",
            "deploy",
            "hmac",
            "session",
            "root",
            "personal",
            "user",
            "project",
            "sdk",
            "live",
            "test",
            "restricted",
            "primary",
            "secondary",
            "bot",
            "token",
            "dd",
            "datadog",
            "rest",
            "org",
            "organization",
            "search",
            "mgmt",
            "pass",
            "instrumentation",
        ];
        return if is(before, &qualifiers) {
            Name::Secret
        } else {
            Name::Other
        };
    }
    compound_class(last)
}

/// A name written as one word (`PGPASSWORD`, `accesstoken`, `clientsecret`): judged by how it
/// ends.
fn compound_class(word: &str) -> Name {
    let ends = |suffix: &str| {
        word.len() > suffix.len()
            && word
                .get(word.len() - suffix.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
    };
    if ["password", "passwd", "passphrase"].iter().any(|s| ends(s)) {
        return Name::Password;
    }
    let lower = word.to_ascii_lowercase();
    let token = ends("token")
        && ![
            "page",
            "next",
            "cursor",
            "continuation",
            "sync",
            "csrf",
            "xsrf",
            "resume",
            "delta",
            "marker",
            "idempotency",
            "type",
            "count",
            "max",
            "total",
            "prompt",
            "completion",
            "input",
            "output",
        ]
        .iter()
        .any(|part| lower.contains(part));
    if token
        || ["secret", "apikey", "secretkey", "privatekey", "accesskey"]
            .iter()
            .any(|s| ends(s))
    {
        return Name::Secret;
    }
    Name::Other
}

/// Whether a one-word name ends like a credential name (see [`compound_class`]).
pub(super) fn compound_credential(key: &str) -> bool {
    key.len() > 6 && !key.contains(['_', '-', '.', ' ']) && compound_class(key) != Name::Other
}

/// The last word of `name` and the word before it (empty when there is none). Words are split
/// at `_ - . : /` and spaces, and at a lowercase letter or digit followed by an uppercase one.
fn last_words(name: &str) -> (&str, &str) {
    let bytes = name.as_bytes();
    let boundaries = |end: usize| -> (usize, usize) {
        // The word ending at `end` (exclusive): its start, and where the separator before it
        // starts.
        let mut i = end;
        while i > 0 {
            let c = bytes[i - 1];
            if matches!(c, b'_' | b'-' | b'.' | b':' | b'/' | b' ' | b'\t') {
                break;
            }
            if i < end
                && c.is_ascii_lowercase() | c.is_ascii_digit()
                && bytes[i].is_ascii_uppercase()
            {
                break;
            }
            i -= 1;
        }
        let mut sep = i;
        while sep > 0
            && matches!(
                bytes[sep - 1],
                b'_' | b'-' | b'.' | b':' | b'/' | b' ' | b'\t'
            )
        {
            sep -= 1;
        }
        (i, sep)
    };
    let mut end = bytes.len();
    while end > 0
        && matches!(
            bytes[end - 1],
            b'_' | b'-' | b'.' | b':' | b'/' | b' ' | b'\t'
        )
    {
        end -= 1;
    }
    let (start, sep) = boundaries(end);
    let last = name.get(start..end).unwrap_or("");
    let (prev_start, _) = boundaries(sep);
    let before = name.get(prev_start..sep).unwrap_or("");
    (last, before)
}

/// Whether `value` is a placeholder rather than a credential.
fn placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let first = value.chars().next().unwrap_or(' ');
    let variable = value.strip_prefix('$').is_some_and(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    });
    variable
        || ["${", "$(", "{{", "%(", "[redacted", "<%", "#{"]
            .iter()
            .any(|p| lower.starts_with(p))
        || (first == '<' && value.ends_with('>'))
        || (first == '{' && value.ends_with('}'))
        || (first == '%' && value.ends_with('%'))
        || value
            .chars()
            .all(|c| matches!(c, '*' | '•' | '·' | '.' | 'x' | 'X' | '-' | '_'))
        || lower.contains("redacted")
        || lower.starts_with("your")
        || lower.starts_with("example")
        || lower.starts_with("env:")
        || lower.starts_with("file:")
        || lower.starts_with("vault:")
        || lower.starts_with("arn:")
        || lower.starts_with("http://")
        || lower.starts_with("https://")
        || [
            "null",
            "none",
            "nil",
            "true",
            "false",
            "undefined",
            "empty",
            "required",
            "optional",
            "hidden",
            "masked",
            "string",
            "bearer",
            "basic",
            "n/a",
            "na",
            "tbd",
            "todo",
            "unset",
            "not",
            "set",
            "is",
            "was",
            "are",
            "must",
            "should",
            "will",
            "can",
            "cannot",
            "expired",
            "invalid",
            "incorrect",
            "wrong",
            "missing",
            "reset",
            "changed",
            "updated",
            "rotated",
            "revoked",
            "sent",
            "stored",
            "encrypted",
            "hashed",
            "too",
            "the",
            "a",
            "an",
            "of",
            "for",
            "to",
            "and",
            "or",
            "in",
            "on",
            "policy",
            "length",
            "strength",
            "type",
            "field",
            "value",
            "auto",
            "default",
            "inherit",
            "generated",
            "supplied",
            "provided",
            "disabled",
            "enabled",
            "off",
            "on",
            "yes",
            "no",
            "case",
            "sensitive",
            "visible",
            "shown",
            "valid",
            "correct",
            "weak",
            "strong",
            "secure",
            "long",
            "short",
            "blank",
            "same",
            "different",
            "saved",
            "protected",
            "known",
            "unknown",
            "forgotten",
            "lost",
            "compromised",
            "needed",
            "mandatory",
            "about",
            "being",
            "still",
            "also",
            "now",
            "then",
            "only",
            "just",
            "usually",
            "always",
            "never",
            "their",
            "his",
            "her",
            "our",
            "my",
            "this",
            "that",
            "what",
            "which",
            "used",
            "emailed",
            "displayed",
            "printed",
            "kept",
            "managed",
            "created",
            "issued",
            "handled",
            "checked",
            "verified",
            "validated",
            "at",
            "by",
            "from",
            "with",
            "without",
            "within",
            "like",
            "as",
            "so",
            "very",
            "easy",
            "hard",
            "simple",
            "complex",
            "good",
            "bad",
            "unchanged",
            "different",
            "temporary",
            "new",
            "old",
            "current",
            "available",
            "unavailable",
            "active",
            "inactive",
            "pending",
            "locked",
            "unlocked",
            "due",
            "here",
            "there",
            "below",
            "above",
            "attached",
            "included",
        ]
        .contains(&lower.as_str())
}

/// A value with the shape of a random token: long enough, no spaces, varied characters.
pub(super) fn token_like(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() < 10 || bytes.len() > 4096 || placeholder(value) {
        return false;
    }
    if value.contains(char::is_whitespace) {
        return false;
    }
    let letters = bytes.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    let upper = bytes.iter().any(u8::is_ascii_uppercase);
    let lower = bytes.iter().any(u8::is_ascii_lowercase);
    if letters == 0 {
        return false;
    }
    // Words (`production`, `read-only`) and dates are not tokens.
    if digits == 0 && !(upper && lower && bytes.len() >= 16) {
        return false;
    }
    entropy(bytes) >= 3.0
}

/// A password under a password-like name: anything that is not a placeholder or a word of the
/// sentence around it.
fn password_like(value: &str, rest: &str) -> bool {
    let len = value.chars().count();
    if !(3..=256).contains(&len) || placeholder(value) {
        return false;
    }
    // A plain lowercase word followed by more words on the same line is prose
    // (`password: must be at least 12 characters`).
    let word = value.bytes().all(|b| b.is_ascii_lowercase());
    let more_words = rest
        .trim_start_matches([' ', '\t'])
        .chars()
        .next()
        .is_some_and(char::is_alphanumeric)
        && rest.starts_with([' ', '\t']);
    !(value.starts_with('/') || word && more_words)
}

/// Shannon entropy in bits per byte.
fn entropy(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for b in bytes {
        if let Some(slot) = counts.get_mut(usize::from(*b)) {
            *slot += 1;
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "lengths are small")]
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / len;
            -p * p.log2()
        })
        .sum()
}

/// The kind a credential takes from the name it is assigned to and its shape.
fn kind_of(name: &str, value: &str, text: &str, class: Name) -> usize {
    let lower = name.to_ascii_lowercase();
    let base64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    if value.len() == 40
        && value.bytes().all(base64)
        && (lower.contains("secret") || lower.contains("aws") || lower.contains("access"))
    {
        return AWS_SECRET;
    }
    let session = lower.contains("session") && lower.contains("token");
    if (lower.contains("aws") && (session || lower.contains("secret")))
        || (session
            && ["FwoG", "IQoJ", "AQoD", "FQoG"]
                .iter()
                .any(|p| value.starts_with(p)))
    {
        return AWS_SECRET;
    }
    if (value.len() == 88 && value.ends_with("==") && value.bytes().take(86).all(base64))
        || lower.contains("accountkey")
        || lower.contains("account_key")
        || lower.contains("storage")
    {
        return AZURE_STORAGE;
    }
    if class == Name::Password {
        let text = text.to_ascii_lowercase();
        if [
            "server=",
            "data source=",
            "host=",
            "jdbc:",
            "database=",
            "initial catalog=",
        ]
        .iter()
        .any(|marker| text.contains(marker))
        {
            return DB_URL;
        }
    }
    GENERIC
}

/// A value (group 2) assigned to a credential-like name (group 1): the value's span and kind.
pub(super) fn assigned(captures: &Captures<'_>, text: &str) -> Option<(usize, usize, usize)> {
    // The name and value groups of whichever alternative matched: (1, 2), (3, 4), (5, 6); a
    // name may be followed by either of two value groups (`--name=value`, `--name value`).
    let (name, value) = match (captures.get(1), captures.get(2)) {
        (Some(name), Some(value)) => (name, value),
        (Some(name), None) => (name, captures.get(3)?),
        _ => match (captures.get(3), captures.get(4)) {
            (Some(name), Some(value)) => (name, value),
            _ => (captures.get(5)?, captures.get(6)?),
        },
    };
    let class = name_class(name.as_str());
    let (start, mut end) = (value.start(), value.end());
    // A quoted value runs to its closing quote on the same line (`"p@ss,w;rd"`, a
    // passphrase of a few words), unless it reads like a sentence.
    if let Some(quote) = text
        .get(..start)
        .and_then(|head| head.chars().next_back())
        .filter(|c| matches!(c, '"' | '\''))
        && let Some(close) = text.get(end..).and_then(|tail| {
            tail.char_indices()
                .take_while(|(at, c)| *c != '\n' && *at < 64)
                .find(|(_, c)| *c == quote)
                .map(|(at, _)| at)
        })
        && let Some(quoted) = text.get(start..end + close)
        && quoted.split_whitespace().count() <= 5
        && !quoted
            .split_whitespace()
            .next()
            .is_some_and(|first| quoted.contains(' ') && placeholder(first))
    {
        end += close;
    }
    // An unquoted password runs on through `,` and `;` up to the next space, unless what
    // follows is another assignment (`password=x;user=y`): `pa,ss;word` is one password.
    let quoted = text
        .get(..start)
        .and_then(|head| head.chars().next_back())
        .is_some_and(|c| matches!(c, '"' | '\'' | '`'));
    if class == Name::Password && !quoted {
        while let Some(tail) = text.get(end..)
            && tail.starts_with([',', ';'])
            && tail
                .get(1..)
                .is_some_and(|t| t.starts_with(|c: char| !c.is_whitespace()))
        {
            let run = tail
                .get(1..)
                .unwrap_or("")
                .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`'))
                .next()
                .unwrap_or("");
            let piece = run.split([',', ';']).next().unwrap_or("");
            if piece.is_empty() || piece.contains('=') || piece.contains(':') {
                break;
            }
            end += 1 + piece.len();
        }
    }
    // Sentence punctuation after a value in prose is not part of it.
    while end > start
        && text
            .get(..end)
            .is_some_and(|head| head.ends_with(['.', ',', ';', ')', ']', '}', '>']))
        && text
            .get(end..)
            .is_none_or(|tail| tail.is_empty() || tail.starts_with(char::is_whitespace))
    {
        end -= 1;
    }
    let value_text = text.get(start..end)?;
    let rest = text.get(end..).unwrap_or("");
    // In prose (`the password is ...`) a word is the password; in an assignment a word
    // followed by more words is a sentence about it.
    let prose = text
        .get(name.end()..value.start())
        .is_some_and(|between| !between.contains([':', '=']));
    let ok = match class {
        Name::Other => false,
        Name::Password => password_like(value_text, if prose { "" } else { rest }),
        Name::Secret => token_like(value_text) || basic_credentials(value_text),
    };
    ok.then(|| (start, end, kind_of(name.as_str(), value_text, text, class)))
}

/// The kind of a JSON string value under a credential-like object key, or `None`.
pub(super) fn member(key: &str, value: &str) -> Option<usize> {
    let class = name_class(key);
    let ok = match class {
        Name::Other => false,
        Name::Password => password_like(value, ""),
        Name::Secret => token_like(value) || basic_credentials(value),
    };
    ok.then(|| kind_of(key, value, value, class))
}

/// An `Authorization` value or a `curl -u user:password`: the credential's span.
pub(super) fn auth(captures: &Captures<'_>, _text: &str) -> Option<(usize, usize, usize)> {
    // Groups: 1 the scheme after an `Authorization` header name, 2 a bare scheme word, 3 the
    // credential after either, 4 a `curl -u` password, 5 a header value without a scheme.
    if let Some(password) = captures.get(4) {
        return (!placeholder(password.as_str())).then_some((
            password.start(),
            password.end(),
            HTTP_AUTH,
        ));
    }
    let (scheme, value) = match (captures.get(1).or(captures.get(2)), captures.get(3)) {
        (Some(scheme), Some(value)) => (scheme.as_str(), value),
        _ => ("", captures.get(5)?),
    };
    let whole = captures.get(0)?.as_str();
    let header = whole.to_ascii_lowercase().contains("authorization");
    let v = value.as_str().trim_end_matches(['.', ',', ';', ')']);
    let end = value.start() + v.len();
    let ok = if scheme.eq_ignore_ascii_case("basic") {
        basic_credentials(v)
    } else if header {
        v.len() >= 8 && !placeholder(v) && v.bytes().any(|b| b.is_ascii_digit())
    } else {
        // `Bearer xyz` outside a header: only a token-shaped value.
        token_like(v) && v.len() >= 16
    };
    ok.then_some((value.start(), end, HTTP_AUTH))
}

/// Base64 that decodes to `user:password` (RFC 7617).
fn basic_credentials(value: &str) -> bool {
    let Some(decoded) = base64_decode(value) else {
        return false;
    };
    decoded.len() >= 3
        && decoded.contains(&b':')
        && decoded.iter().all(|b| (0x20..0x7f).contains(b))
}

fn base64_decode(value: &str) -> Option<Vec<u8>> {
    if value.trim_end_matches('=').len() < 4 {
        return None;
    }
    crate::decode::base64_any_alphabet(value)
}

/// The password of a URL's userinfo: not a placeholder, not a port.
pub(super) fn url_password(password: &str) -> bool {
    !placeholder(password) && !password.bytes().all(|b| b.is_ascii_digit())
}

/// An e-mail address, unless it is the user of a URL (`https://user@host`) or an SSH remote
/// (`git@host:org/repo`).
pub(super) fn email(text: &str, start: usize, end: usize) -> bool {
    let head = text.get(..start).unwrap_or("");
    let tail = text.get(end..).unwrap_or("");
    if head.ends_with("://") || head.ends_with(':') && head.ends_with("ssh:") {
        return false;
    }
    // The user of a URL with a path or port after the host.
    if head.ends_with("//") {
        return false;
    }
    let mut tail_chars = tail.chars();
    if tail_chars.next() == Some(':')
        && tail_chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '~' || c == '/')
        && !tail
            .get(1..)
            .is_some_and(|t| t.starts_with(char::is_whitespace))
    {
        return false;
    }
    true
}

/// Whether the match `start..end` sits inside a run of base64 (a key body, an image): a
/// base64 character right before or after it.
pub(super) fn inside_base64(text: &str, start: usize, end: usize) -> bool {
    let bytes = text.as_bytes();
    let b64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/');
    let before = start
        .checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(b64);
    let after = bytes.get(end).is_some_and(b64);
    before || after
}

/// An IPv4 address, unless it is part of a longer dotted number (a version, an OID), follows
/// a version marker or reads like a version (every part a single digit).
pub(super) fn ipv4(text: &str, start: usize, end: usize) -> bool {
    let span = text.get(start..end).unwrap_or("");
    if span.split('.').all(|part| part.len() == 1) {
        return false;
    }
    let after = text.get(end..).unwrap_or("").as_bytes();
    if matches!(after.first(), Some(b'-' | b'+' | b'_'))
        && after.get(1).is_some_and(u8::is_ascii_alphanumeric)
    {
        // `5.15.0.107-generic`, `1.2.3.4+build`
        return false;
    }
    let head = text.get(..start).unwrap_or("").as_bytes();
    let tail = text.get(end..).unwrap_or("").as_bytes();
    let dotted_after = tail.first() == Some(&b'.') && tail.get(1).is_some_and(u8::is_ascii_digit);
    let dotted_before = head.last() == Some(&b'.')
        && head.len() >= 2
        && head.get(head.len() - 2).is_some_and(u8::is_ascii_digit);
    if dotted_after || dotted_before {
        return false;
    }
    if matches!(head.last(), Some(b'v' | b'V' | b'-' | b'/' | b'=')) && !head.ends_with(b"ip=") {
        // `v1.2.3.4`, `pkg-1.2.3.4`, `name/1.2.3.4` (user agents)
        if head.last() != Some(&b'=') {
            return false;
        }
    }
    let lower: String =
        String::from_utf8_lossy(&head[head.len().saturating_sub(24)..]).to_ascii_lowercase();
    ![
        "version",
        "build",
        "release",
        "ver",
        "oid",
        "firmware",
        "kernel",
        "windows",
        "sdk",
        "runtime",
        "os",
        "package",
        "pkg",
        "agent",
        "bios",
        "driver",
        "update",
        "patch",
        "rev",
        "revision",
        "tag",
        "chrome",
        "edge",
        "safari",
        "firefox",
        "android",
        "ios",
        "macos",
        "linux",
        "node",
        "python",
        "java",
        "dotnet",
        ".net",
        "assembly",
        "fileversion",
        "productversion",
        "api",
        "schema",
        "protocol",
        "spec",
        "standard",
        "urn:oid:",
    ]
    .iter()
    .any(|marker| {
        lower.trim_end().ends_with(marker)
            || lower.trim_end_matches([' ', ':', '"']).ends_with(marker)
    })
}

/// A phone number, unless it is part of a longer run of digits and separators.
pub(super) fn phone(text: &str, start: usize, end: usize) -> bool {
    let head = text.get(..start).unwrap_or("").as_bytes();
    let tail = text.get(end..).unwrap_or("").as_bytes();
    let joined = |b: Option<&u8>, next: Option<&u8>| {
        matches!(b, Some(b'-' | b'.' | b'/')) && next.is_some_and(u8::is_ascii_digit)
    };
    !(joined(tail.first(), tail.get(1))
        || joined(
            head.last(),
            head.len().checked_sub(2).and_then(|i| head.get(i)),
        ))
}

/// A national identifier in `captures` group 2, the text after its label (group 1): the first
/// run of letters and digits (single spaces, dots, dashes or slashes between them) that passes
/// the check of one of the supported formats; failing that, the last one in the few words
/// before the label (`123-45-6789 (SSN)`).
pub(super) fn national(captures: &Captures<'_>, text: &str) -> Option<(usize, usize, usize)> {
    let tail = captures.get(2)?;
    if let Some((start, end)) = find_id(tail.as_str()) {
        return Some((tail.start() + start, tail.start() + end, NATIONAL_ID));
    }
    let label = captures.get(1)?;
    let mut from = label.start().saturating_sub(48);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let head = text.get(from..label.start())?;
    let (start, end) = find_id(head)?;
    Some((from + start, from + end, NATIONAL_ID))
}

/// The byte span in `text` of the first national identifier.
pub(super) fn find_id(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    // Token starts: an alphanumeric byte after a non-alphanumeric one.
    let mut i = 0;
    while i < bytes.len() {
        let starts =
            bytes[i].is_ascii_alphanumeric() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if starts {
            // Candidate ends: each end of an alphanumeric token reachable through single
            // separators, longest first.
            let mut ends = Vec::new();
            let mut j = i;
            loop {
                while j < bytes.len() && bytes[j].is_ascii_alphanumeric() {
                    j += 1;
                }
                ends.push(j);
                if j + 1 < bytes.len()
                    && matches!(bytes[j], b' ' | b'.' | b'-' | b'/' | b'+')
                    && bytes[j + 1].is_ascii_alphanumeric()
                    && ends.len() < 6
                {
                    j += 1;
                } else {
                    break;
                }
            }
            for &end in ends.iter().rev() {
                if let Some(candidate) = text.get(i..end)
                    && national_id(candidate)
                {
                    return Some((i, end));
                }
            }
        }
        i += 1;
    }
    None
}

/// Whether `candidate` is a national identifier of a supported format with a valid check.
pub(super) fn national_id(candidate: &str) -> bool {
    if hetu(candidate) {
        return true;
    }
    let compact: Vec<u8> = candidate
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_uppercase())
        .collect();
    let digits: Vec<u32> = compact
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
        .collect();
    let all_digits = digits.len() == compact.len();
    match compact.len() {
        8 => rut(&compact) || ppsn(&compact) || (all_digits && ird(&digits)),
        9 if all_digits => {
            us_ssn(&digits)
                || luhn(&digits)
                || bsn(&digits)
                || tfn(&digits)
                || itin(&digits)
                || portuguese_nif(&digits)
                || ird(&digits)
        }
        9 => nino(&compact) || dni(&compact) || nric(&compact) || rut(&compact) || ppsn(&compact),
        10 if all_digits => {
            luhn(&digits)
                || cpr(&digits)
                || czech(&digits)
                || egn(&digits)
                || nhs(&digits)
                || svnr(&digits)
                || medicare(&digits)
                || kennitala(&digits)
                || inn(&digits)
        }
        10 => taiwan(&compact) || pan(&compact),
        11 if all_digits => {
            cpf(&digits)
                || pesel(&digits)
                || belgian(&digits)
                || norwegian(&digits)
                || estonian(&digits)
                || turkish(&digits)
                || steuer_id(&digits)
                || cuit(&digits)
                || medicare(&digits)
                || amka(&digits)
                || snils(&digits)
        }
        12 if all_digits => {
            aadhaar(&digits)
                || digits.get(2..).is_some_and(luhn)
                || my_number(&digits)
                || mykad(&digits)
                || inn(&digits)
        }
        13 if all_digits => {
            south_african(&digits)
                || cnp(&digits)
                || korean(&digits)
                || ahv(&digits)
                || emso(&digits)
                || thai(&digits)
        }
        16 if all_digits => nik(&digits),
        15 => nir(&compact),
        16 => codice_fiscale(&compact),
        18 => chinese_id(&compact) || curp(&compact),
        _ => false,
    }
}

/// Portuguese NIF: nine digits, the first 1-3, 5, 6, 8 or 9, and a modulus-11 check digit
/// (weights 9 to 2; 10 or 11 read as 0).
fn portuguese_nif(d: &[u32]) -> bool {
    let check = 11 - weighted(d, &[9, 8, 7, 6, 5, 4, 3, 2]) % 11;
    let check = if check >= 10 { 0 } else { check };
    matches!(d[0], 1..=3 | 5 | 6 | 8 | 9) && check == d[8]
}

/// New Zealand IRD number: eight or nine digits, a modulus-11 check digit with a second set
/// of weights when the first gives 10.
fn ird(d: &[u32]) -> bool {
    let mut padded = [0u32; 9];
    let offset = 9 - d.len();
    for (slot, x) in padded.iter_mut().skip(offset).zip(d) {
        *slot = *x;
    }
    let body = &padded[..8];
    let value = number(&padded);
    if !(10_000_000..=150_000_000).contains(&value) {
        return false;
    }
    let check = |w: &[u32]| match weighted(body, w) % 11 {
        0 => Some(0),
        r => Some(11 - r),
    };
    let first = check(&[3, 2, 7, 6, 5, 4, 3, 2]);
    let expected = match first {
        Some(10) => check(&[7, 4, 3, 2, 5, 2, 7, 6]).filter(|c| *c != 10),
        other => other,
    };
    expected == Some(padded[8])
}

/// Icelandic kennitala: a birth date `DDMMYY`, two digits, a modulus-11 check digit and a
/// century digit (8, 9 or 0). A company number adds 40 to the day.
fn kennitala(d: &[u32]) -> bool {
    let day = number(&d[..2]);
    let day = if day > 40 { day - 40 } else { day };
    let check = match weighted(d, &[3, 2, 7, 6, 5, 4, 3, 2]) % 11 {
        0 => 0,
        r => 11 - r,
    };
    day_month(day, number(&d[2..4])) && matches!(d[9], 0 | 8 | 9) && check == d[8]
}

/// Russian INN of a person (12 digits, two check digits) or an organisation (10 digits, one).
fn inn(d: &[u32]) -> bool {
    let digit = |part: &[u32], w: &[u32]| weighted(part, w) % 11 % 10;
    match d.len() {
        10 => digit(&d[..9], &[2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[9],
        12 => {
            digit(&d[..10], &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[10]
                && digit(&d[..11], &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[11]
        }
        _ => false,
    }
}

/// Greek AMKA: a birth date `DDMMYY`, four digits and a Luhn check digit.
fn amka(d: &[u32]) -> bool {
    day_month(number(&d[..2]), number(&d[2..4])) && luhn(d)
}

/// Russian SNILS: nine digits and a two-digit check number (weights 9 to 1, modulus 101).
fn snils(d: &[u32]) -> bool {
    let sum = weighted(&d[..9], &[9, 8, 7, 6, 5, 4, 3, 2, 1]);
    let check = match sum {
        0..=99 => sum,
        100 | 101 => 0,
        _ => match sum % 101 {
            100 => 0,
            r => r,
        },
    };
    number(&d[..9]) > 1_001_998 && u64::from(check) == number(&d[9..])
}

/// Malaysian MyKad number: a birth date `YYMMDD`, a place-of-birth code and four digits.
fn mykad(d: &[u32]) -> bool {
    let place = number(&d[6..8]);
    day_month(number(&d[4..6]), number(&d[2..4]))
        && matches!(place, 1..=16 | 21..=59 | 60..=68 | 71 | 72 | 74..=79 | 82..=93 | 98 | 99)
}

/// Slovenian EMŠO (the former Yugoslav JMBG): a birth date `DDMMYYY`, a region, a serial and
/// a modulus-11 check digit.
fn emso(d: &[u32]) -> bool {
    let check = match weighted(d, &[7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) % 11 {
        0 => 0,
        r => 11 - r,
    };
    day_month(number(&d[..2]), number(&d[2..4])) && check < 10 && check == d[12]
}

/// Thai national ID: thirteen digits, the first 1-8, and a modulus-11 check digit.
fn thai(d: &[u32]) -> bool {
    let sum = weighted(d, &[13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    matches!(d[0], 1..=8) && (11 - sum % 11) % 10 == d[12]
}

/// Indonesian NIK: a region code, a birth date `DDMMYY` (40 added to the day for women) and a
/// serial.
fn nik(d: &[u32]) -> bool {
    let day = number(&d[6..8]);
    let day = if day > 40 { day - 40 } else { day };
    number(&d[..2]) >= 11 && day_month(day, number(&d[8..10]))
}

/// US individual taxpayer identification number: `9`, two digits, a group of 50-65, 70-88,
/// 90-92 or 94-99, and four digits.
fn itin(d: &[u32]) -> bool {
    let group = number(&d[3..5]);
    d[0] == 9 && matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// `d` read as a decimal number (at most 18 digits).
fn number(d: &[u32]) -> u64 {
    d.iter().fold(0, |a, x| a * 10 + u64::from(*x))
}

/// The sum of `d` times `w`, pairwise.
fn weighted(d: &[u32], w: &[u32]) -> u32 {
    d.iter().zip(w).map(|(x, w)| x * w).sum()
}

/// Whether `dd`, `mm` make a day of a month (any year).
fn day_month(dd: u64, mm: u64) -> bool {
    (1..=12).contains(&mm) && (1..=31).contains(&dd)
}

/// Danish CPR number: a birth date `DDMMYY` and four digits (the modulus-11 check was dropped
/// in 2007, so only the date is checked).
fn cpr(d: &[u32]) -> bool {
    day_month(number(&d[..2]), number(&d[2..4]))
}

/// Czech and Slovak birth number: `YYMMDD` (women's months plus 50, extra series plus 20) and
/// four digits, the whole divisible by 11.
fn czech(d: &[u32]) -> bool {
    let month = number(&d[2..4]) % 50;
    let month = if month > 20 { month - 20 } else { month };
    day_month(number(&d[4..6]), month) && number(d).is_multiple_of(11)
}

/// Bulgarian EGN: `YYMMDD` (months plus 20 or 40 for other centuries), three digits and a
/// weighted check digit.
fn egn(d: &[u32]) -> bool {
    let month = number(&d[2..4]) % 20;
    let r = weighted(d, &[2, 4, 8, 5, 10, 9, 7, 3, 6]) % 11;
    day_month(number(&d[4..6]), month) && (r % 10) == d[9]
}

/// NHS number (England, Wales, Isle of Man): modulus 11 with weights 10 to 2.
fn nhs(d: &[u32]) -> bool {
    let check = 11 - weighted(d, &[10, 9, 8, 7, 6, 5, 4, 3, 2]) % 11;
    let check = if check == 11 { 0 } else { check };
    check == d[9] && d.iter().any(|x| *x != d[0])
}

/// Austrian social insurance number: three digits, a check digit, and the birth date `DDMMYY`.
fn svnr(d: &[u32]) -> bool {
    let r = weighted(d, &[3, 7, 9, 0, 5, 8, 4, 2, 1, 6]) % 11;
    d[0] != 0 && r == d[3] && day_month(number(&d[4..6]), number(&d[6..8]))
}

/// Australian Medicare card number: first digit 2 to 6, a weighted check as the ninth digit
/// (then an issue digit and, in the 11-digit form, the position on the card).
fn medicare(d: &[u32]) -> bool {
    (2..=6).contains(&d[0]) && weighted(d, &[1, 3, 7, 9, 1, 3, 7, 9]) % 10 == d[8]
}

/// Australian tax file number: weighted sum divisible by 11.
fn tfn(d: &[u32]) -> bool {
    weighted(d, &[1, 4, 3, 7, 5, 8, 6, 9, 10]).is_multiple_of(11) && d.iter().any(|x| *x != 0)
}

/// Norwegian national identity number: a birth date and two modulus-11 check digits.
fn norwegian(d: &[u32]) -> bool {
    let check = |n: usize, w: &[u32]| {
        let c = 11 - weighted(&d[..n], w) % 11;
        match c {
            11 => Some(0),
            10 => None,
            c => Some(c),
        }
    };
    check(9, &[3, 7, 6, 1, 8, 9, 4, 5, 2]) == Some(d[9])
        && check(10, &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) == Some(d[10])
}

/// Estonian (and Lithuanian) personal code: century and sex digit, `YYMMDD`, serial, and a
/// two-pass modulus-11 check digit.
fn estonian(d: &[u32]) -> bool {
    let mut r = weighted(d, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 1]) % 11;
    if r == 10 {
        r = weighted(d, &[3, 4, 5, 6, 7, 8, 9, 1, 2, 3]) % 11 % 10;
    }
    (1..=8).contains(&d[0]) && day_month(number(&d[5..7]), number(&d[3..5])) && r == d[10]
}

/// Turkish identity number: no leading zero, two check digits.
fn turkish(d: &[u32]) -> bool {
    let odd: u32 = d.iter().take(9).step_by(2).sum();
    let even: u32 = d.iter().skip(1).take(8).step_by(2).sum();
    let tenth = (odd * 7 + 100 - even) % 10;
    let total: u32 = d.iter().take(10).sum();
    d[0] != 0 && tenth == d[9] && total % 10 == d[10]
}

/// German tax identification number: no leading zero, one digit of the first ten used twice
/// or three times, and an ISO 7064 MOD 11,10 check digit.
fn steuer_id(d: &[u32]) -> bool {
    let mut counts = [0u8; 10];
    for x in &d[..10] {
        if let Some(c) = counts.get_mut(usize::try_from(*x).unwrap_or(0)) {
            *c += 1;
        }
    }
    let repeated = counts.iter().filter(|c| **c > 1).count();
    let shaped = repeated == 1 && counts.iter().all(|c| *c <= 3);
    let mut product = 10;
    for x in &d[..10] {
        let sum = (x + product) % 10;
        let sum = if sum == 0 { 10 } else { sum };
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    d[0] != 0 && shaped && check == d[10]
}

/// Argentine CUIT/CUIL: a type prefix, the document number and a modulus-11 check digit.
fn cuit(d: &[u32]) -> bool {
    let prefix = number(&d[..2]);
    let check = 11 - weighted(d, &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) % 11;
    let check = match check {
        11 => 0,
        10 => 9,
        c => c,
    };
    matches!(prefix, 20 | 23 | 24 | 27 | 30 | 33 | 34) && check == d[10]
}

/// Japanese individual number (My Number): a weighted modulus-11 check digit.
fn my_number(d: &[u32]) -> bool {
    let sum: u32 = d[..11]
        .iter()
        .rev()
        .zip(1u32..)
        .map(|(p, n)| p * if n <= 6 { n + 1 } else { n - 5 })
        .sum();
    let r = sum % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    check == d[11]
}

/// South African identity number: birth date `YYMMDD`, citizenship digit 0 to 2, Luhn.
fn south_african(d: &[u32]) -> bool {
    day_month(number(&d[4..6]), number(&d[2..4])) && d[10] <= 2 && luhn(d)
}

/// Romanian CNP: sex and century digit, `YYMMDD`, county, serial and a weighted check digit.
fn cnp(d: &[u32]) -> bool {
    let r = weighted(d, &[2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9]) % 11;
    let check = if r == 10 { 1 } else { r };
    (1..=9).contains(&d[0]) && day_month(number(&d[5..7]), number(&d[3..5])) && check == d[12]
}

/// Korean resident registration number: `YYMMDD`, a sex and century digit and a weighted
/// check digit.
fn korean(d: &[u32]) -> bool {
    let sum = weighted(d, &[2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]);
    let check = (11 - sum % 11) % 10;
    day_month(number(&d[4..6]), number(&d[2..4])) && check == d[12]
}

/// Swiss social security number (AHV/AVS): `756`, nine digits and an EAN-13 check digit.
fn ahv(d: &[u32]) -> bool {
    let sum: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, x)| if i % 2 == 0 { *x } else { x * 3 })
        .sum();
    number(&d[..3]) == 756 && (10 - sum % 10) % 10 == d[12]
}

/// Chilean RUT/RUN: seven or eight digits and a modulus-11 check character (`K` for 10).
fn rut(c: &[u8]) -> bool {
    let [body @ .., check] = c else {
        return false;
    };
    if !(7..=8).contains(&body.len()) || !body.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = body
        .iter()
        .rev()
        .zip([2, 3, 4, 5, 6, 7].iter().cycle())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let expected = match 11 - sum % 11 {
        11 => b'0',
        10 => b'K',
        n => b'0' + u8::try_from(n).unwrap_or(0),
    };
    *check == expected
}

/// Irish PPS number: seven digits, a check letter (modulus 23) and an optional second letter.
fn ppsn(c: &[u8]) -> bool {
    const LETTERS: &[u8] = b"WABCDEFGHIJKLMNOPQRSTUV";
    let (digits, letters) = c.split_at(7.min(c.len()));
    if !digits.iter().all(u8::is_ascii_digit) || !(1..=2).contains(&letters.len()) {
        return false;
    }
    let mut sum: u32 = digits
        .iter()
        .zip((2..=8).rev())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    if let Some(second) = letters.get(1) {
        if !matches!(second, b'A' | b'B' | b'H' | b'W') {
            return false;
        }
        sum += 9 * u32::from(if *second == b'W' {
            0
        } else {
            second - b'A' + 1
        });
    }
    LETTERS.get(usize::try_from(sum % 23).unwrap_or(0)) == letters.first()
}

/// Singapore NRIC/FIN: a series letter, seven digits and a weighted check letter.
fn nric(c: &[u8]) -> bool {
    let [series, rest @ .., check] = c else {
        return false;
    };
    if rest.len() != 7 || !rest.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = rest
        .iter()
        .zip([2, 7, 6, 5, 4, 3, 2])
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let (offset, letters): (u32, &[u8]) = match series {
        b'S' => (0, b"JZIHGFEDCBA"),
        b'T' => (4, b"JZIHGFEDCBA"),
        b'F' => (0, b"XWUTRQPNMLK"),
        b'G' => (4, b"XWUTRQPNMLK"),
        _ => return false,
    };
    letters.get(usize::try_from((sum + offset) % 11).unwrap_or(0)) == Some(check)
}

/// Taiwanese national identification number: a region letter, a sex digit (1 or 2, 8 or 9
/// for residents), eight digits, the last a check digit.
fn taiwan(c: &[u8]) -> bool {
    const CODES: &[u8; 26] = &[
        10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32,
        30, 31, 33,
    ];
    let [letter, rest @ ..] = c else {
        return false;
    };
    if !letter.is_ascii_uppercase()
        || rest.len() != 9
        || !rest.iter().all(u8::is_ascii_digit)
        || !matches!(rest[0], b'1' | b'2' | b'8' | b'9')
    {
        return false;
    }
    let code = u32::from(CODES[usize::from(letter - b'A')]);
    let sum: u32 = code / 10
        + (code % 10) * 9
        + rest
            .iter()
            .zip([8, 7, 6, 5, 4, 3, 2, 1, 1])
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum::<u32>();
    sum.is_multiple_of(10)
}

/// Indian PAN: five letters (the fourth the holder type), four digits, a letter.
fn pan(c: &[u8]) -> bool {
    c.iter().enumerate().all(|(i, b)| match i {
        3 => b"PCHFATBLJG".contains(b),
        0..=4 | 9 => b.is_ascii_uppercase(),
        _ => b.is_ascii_digit(),
    })
}

/// Mexican CURP: four letters, birth date, sex, state and consonants, a homonym character and
/// a check digit.
fn curp(c: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ";
    let shape = c.iter().enumerate().all(|(i, b)| match i {
        0..=3 | 11..=15 => b.is_ascii_uppercase(),
        4..=9 | 17 => b.is_ascii_digit(),
        10 => matches!(b, b'H' | b'M' | b'X'),
        _ => b.is_ascii_alphanumeric(),
    });
    if !shape {
        return false;
    }
    let sum: usize = c[..17]
        .iter()
        .enumerate()
        .map(|(i, b)| ALPHABET.iter().position(|a| a == b).unwrap_or(0) * (18 - i))
        .sum();
    let check = (10 - sum % 10) % 10;
    usize::from(c[17] - b'0') == check
}

fn us_ssn(d: &[u32]) -> bool {
    let area = d.iter().take(3).fold(0, |a, x| a * 10 + x);
    let group = d.iter().skip(3).take(2).fold(0, |a, x| a * 10 + x);
    let serial = d.iter().skip(5).fold(0, |a, x| a * 10 + x);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn luhn(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, x)| {
            if i % 2 == 1 {
                if x * 2 > 9 { x * 2 - 9 } else { x * 2 }
            } else {
                *x
            }
        })
        .sum();
    d.len() >= 2 && sum.is_multiple_of(10)
}

fn bsn(d: &[u32]) -> bool {
    let mut sum: i64 = 0;
    for (i, x) in d.iter().enumerate() {
        let weight = if i == 8 {
            -1
        } else {
            9 - i64::try_from(i).unwrap_or(0)
        };
        sum += weight * i64::from(*x);
    }
    sum % 11 == 0 && sum != 0
}

fn nino(c: &[u8]) -> bool {
    let [a, b, rest @ .., last] = c else {
        return false;
    };
    let first_ok = !matches!(a, b'D' | b'F' | b'I' | b'Q' | b'U' | b'V') && a.is_ascii_uppercase();
    let second_ok =
        !matches!(b, b'D' | b'F' | b'I' | b'O' | b'Q' | b'U' | b'V') && b.is_ascii_uppercase();
    let prefix = [*a, *b];
    let banned = [b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"];
    first_ok
        && second_ok
        && !banned.iter().any(|p| **p == prefix)
        && rest.len() == 6
        && rest.iter().all(u8::is_ascii_digit)
        && matches!(last, b'A'..=b'D')
}

fn dni(c: &[u8]) -> bool {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let [head @ .., letter] = c else {
        return false;
    };
    let mut number: u32 = 0;
    for (i, b) in head.iter().enumerate() {
        let digit = match (i, b) {
            (0, b'X') => 0,
            (0, b'Y') => 1,
            (0, b'Z') => 2,
            (_, b'0'..=b'9') => u32::from(b - b'0'),
            _ => return false,
        };
        number = number * 10 + digit;
    }
    LETTERS.get(usize::try_from(number % 23).unwrap_or(0)) == Some(letter)
}

fn cpf(d: &[u32]) -> bool {
    if d.iter().all(|x| *x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = d
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, x)| x * (u32::try_from(n + 1 - i).unwrap_or(0)))
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r }
    };
    check(9) == d[9] && check(10) == d[10]
}

fn pesel(d: &[u32]) -> bool {
    const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = d.iter().zip(W).map(|(x, w)| x * w).sum();
    (10 - sum % 10) % 10 == d[10]
}

fn belgian(d: &[u32]) -> bool {
    let first9 = d.iter().take(9).fold(0u64, |a, x| a * 10 + u64::from(*x));
    let check = u64::from(d[9] * 10 + d[10]);
    97 - first9 % 97 == check || 97 - (2_000_000_000 + first9) % 97 == check
}

fn aadhaar(d: &[u32]) -> bool {
    const D: [[usize; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[usize; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    if d.first().is_none_or(|x| *x < 2) {
        return false;
    }
    let mut c = 0;
    for (i, x) in d.iter().rev().enumerate() {
        let digit = usize::try_from(*x).unwrap_or(0);
        c = D[c][P[i % 8][digit]];
    }
    c == 0
}

fn nir(c: &[u8]) -> bool {
    // Corsica: 2A and 2B stand for 19 and 18 in the key computation.
    let mut number: u64 = 0;
    for (i, b) in c.iter().take(13).enumerate() {
        let (value, width) = match (i, b) {
            (6, b'A') => (19, 2),
            (6, b'B') => (18, 2),
            (_, b'0'..=b'9') => (u64::from(b - b'0'), 1),
            _ => return false,
        };
        if width == 2 {
            // Replaces the `2` already read: 2A → 19, 2B → 18.
            number = (number / 10) * 100 + value;
        } else {
            number = number * 10 + value;
        }
    }
    let key: Option<u64> = c
        .get(13..15)
        .and_then(|k| std::str::from_utf8(k).ok())
        .and_then(|k| k.parse().ok());
    matches!(c.first(), Some(b'1' | b'2' | b'3' | b'4' | b'7' | b'8'))
        && key == Some(97 - number % 97)
}

fn codice_fiscale(c: &[u8]) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let shape = c.iter().enumerate().all(|(i, b)| match i {
        0..=5 | 8 | 11 | 15 => b.is_ascii_uppercase(),
        _ => b.is_ascii_alphanumeric(),
    });
    if !shape {
        return false;
    }
    let mut sum = 0;
    for (i, b) in c.iter().take(15).enumerate() {
        let index = if b.is_ascii_digit() {
            usize::from(b - b'0')
        } else {
            usize::from(b - b'A')
        };
        sum += if i % 2 == 0 {
            ODD.get(index).copied().unwrap_or(0)
        } else {
            u32::try_from(index).unwrap_or(0)
        };
    }
    c.get(15).copied() == u8::try_from(sum % 26).ok().map(|r| b'A' + r)
}

fn chinese_id(c: &[u8]) -> bool {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8] = b"10X98765432";
    let mut sum = 0;
    for (b, w) in c.iter().take(17).zip(W) {
        if !b.is_ascii_digit() {
            return false;
        }
        sum += u32::from(b - b'0') * w;
    }
    CHECK.get(usize::try_from(sum % 11).unwrap_or(0)) == c.get(17)
}

/// Finnish HETU: `DDMMYY`, a century sign, three digits and a check character (mod 31).
fn hetu(candidate: &str) -> bool {
    const CHECK: &[u8] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let c = candidate.as_bytes();
    if c.len() != 11 {
        return false;
    }
    let sign_ok = matches!(c[6].to_ascii_uppercase(), b'+' | b'-' | b'A'..=b'F' | b'U'..=b'Y');
    let digits_ok = c[..6].iter().chain(&c[7..10]).all(u8::is_ascii_digit);
    if !sign_ok || !digits_ok {
        return false;
    }
    let number = c[..6]
        .iter()
        .chain(&c[7..10])
        .fold(0u64, |a, b| a * 10 + u64::from(b - b'0'));
    CHECK.get(usize::try_from(number % 31).unwrap_or(0)) == Some(&c[10].to_ascii_uppercase())
}

const PHONE: usize = kind("phone");

/// The span and kind of a JSON string under a key naming a national identifier or a phone
/// number: the identifier found by [`find_id`], or the whole value when it is written like a
/// phone number.
pub(super) fn member_pii(key: &str, value: &str) -> Option<(usize, usize, usize)> {
    let is = |word: &str, options: &[&str]| options.iter().any(|o| word.eq_ignore_ascii_case(o));
    let (mut id, mut phone) = (false, false);
    for word in words(key).filter(|word| known_signature(word)) {
        id |= is(word, ID_WORDS);
        phone |= is(word, PHONE_WORDS);
    }
    if !id {
        // Two words that name one together (`tax_id`, `idNumber`, `national-id`).
        id = joined_pair(key, |joined| is(joined, ID_WORDS));
    }
    if !id && key.len() >= 10 && key.bytes().all(|b| b.is_ascii_lowercase()) {
        // One lowercase word (`socialsecuritynumber`).
        id = [
            "social",
            "insurance",
            "national",
            "identity",
            "fiscal",
            "taxcode",
            "idnumber",
        ]
        .iter()
        .any(|part| key.contains(part));
    }
    if id {
        return find_id(value).map(|(start, end)| (start, end, NATIONAL_ID));
    }
    if phone {
        let digits = value.bytes().filter(u8::is_ascii_digit).count();
        let shaped = value
            .bytes()
            .all(|b| b.is_ascii_digit() || b" +-.()/".contains(&b));
        return (shaped && (7..=15).contains(&digits)).then_some((0, value.len(), PHONE));
    }
    None
}

/// A phone number written near its label in national notation (`tel. 030 1234567`): 7 to 15
/// digits, starting with `+`, `(` or a trunk `0`, or in at least two groups.
pub(super) fn national_phone(captures: &Captures<'_>) -> Option<(usize, usize, usize)> {
    let number = captures.get(1)?;
    let text = number.as_str().trim_end_matches(['.', '-', '/', ' ', '(']);
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let groups = text
        .split([' ', '-', '.', '/', '(', ')'])
        .filter(|g| !g.is_empty())
        .count();
    let ok = (7..=15).contains(&digits)
        && (text.starts_with(['+', '(', '0']) || groups >= 2)
        && !looks_like_date(text);
    ok.then_some((number.start(), number.start() + text.len(), PHONE))
}

fn looks_like_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split(['-', '/', '.']).collect();
    parts.len() == 3
        && parts.iter().any(|p| p.len() == 4)
        && parts
            .iter()
            .all(|p| p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A Discord bot token: the first part decodes (base64) to a snowflake id of 17 to 20 digits.
pub(super) fn discord(token: &str) -> bool {
    let Some(first) = token.split('.').next() else {
        return false;
    };
    base64_decode(first)
        .is_some_and(|id| (17..=20).contains(&id.len()) && id.iter().all(u8::is_ascii_digit))
}

/// Last words of names whose value is a password, even a weak one.
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "pass",
    "pw",
    "dbpass",
    "dbpassword",
    "passwort",
    "kennwort",
    "contraseña",
    "contrasena",
    "passe",
    "senha",
    "wachtwoord",
    "hasło",
    "haslo",
    "heslo",
    "lozinka",
    "jelszó",
    "jelszo",
    "salasana",
    "adgangskode",
    "lösenord",
    "losenord",
    "passord",
    "пароль",
    "密码",
    "密碼",
    "パスワード",
    "비밀번호",
];

/// Last words of names whose value is a secret when it is token-shaped.
const SECRET_WORDS: &[&str] = &[
    "secret",
    "secrets",
    "apikey",
    "apitoken",
    "authtoken",
    "credential",
    "credentials",
    "creds",
    "authorization",
    "auth",
    "secretkey",
    "accesskey",
    "privatekey",
    "sharedaccesskey",
    "accountkey",
    "pat",
];

/// Words of keys that hold a national identifier.
const ID_WORDS: &[&str] = &[
    "ssn",
    "nino",
    "sin",
    "nir",
    "insee",
    "dni",
    "nie",
    "nif",
    "bsn",
    "aadhaar",
    "aadhar",
    "cpf",
    "personnummer",
    "hetu",
    "pesel",
    "nationalid",
    "national",
    "taxid",
    "fiscal",
    "fiscale",
    "codicefiscale",
    "burgerservicenummer",
    "rijksregisternummer",
    "personalid",
    "social",
    "insurance",
    "identity",
    "henkilotunnus",
    "resident",
    "residentid",
    "uid",
    "taxcode",
    "idnumber",
    "cpr",
    "fodselsnummer",
    "isikukood",
    "steuerid",
    "nhs",
    "ppsn",
    "ahv",
    "avs",
    "svnr",
    "cnp",
    "egn",
    "emso",
    "amka",
    "kimlik",
    "tckn",
    "rrn",
    "mynumber",
    "nric",
    "curp",
    "cuil",
    "cuit",
    "rut",
    "tfn",
    "medicare",
    "citizen",
    "citizenid",
    "personnummer",
    "tin",
    "itin",
    "taxpayerid",
    "personalnumber",
    "idno",
    "nationalidentifier",
];

/// Words of keys that hold a phone number.
const PHONE_WORDS: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "fax",
    "msisdn",
    "phonenumber",
    "mobilephone",
    "cellphone",
    "whatsapp",
    "telefon",
    "telefono",
    "homephone",
    "workphone",
];

/// Every word that can make a key special: the last words of credential names, and the words
/// of identifier and phone keys (see [`name_class`] and [`member_pii`]).
const KEY_WORDS: [&[&str]; 5] = [
    PASSWORD_WORDS,
    SECRET_WORDS,
    &["token", "key"],
    ID_WORDS,
    PHONE_WORDS,
];

/// Two signatures of a word, each a bit of a 256-bit set: from its length with its first and
/// last bytes, and with its second and second-to-last bytes (ASCII case ignored).
const fn signatures(word: &[u8]) -> (usize, usize) {
    let len = word.len();
    if len == 0 {
        return (0, 0);
    }
    let second = if len > 1 { 1 } else { 0 };
    let penultimate = if len > 1 { len - 2 } else { 0 };
    let first = word[0].to_ascii_lowercase() as usize;
    let last = word[len - 1].to_ascii_lowercase() as usize;
    let second = word[second].to_ascii_lowercase() as usize;
    let penultimate = word[penultimate].to_ascii_lowercase() as usize;
    (
        (len * 31 + first * 7 + last) % 256,
        (len * 17 + second * 11 + penultimate * 5) % 256,
    )
}

/// The signature sets of [`KEY_WORDS`].
const KEY_SIGNATURES: ([u64; 4], [u64; 4]) = {
    let mut first = [0u64; 4];
    let mut second = [0u64; 4];
    let mut list = 0;
    while list < KEY_WORDS.len() {
        let words = KEY_WORDS[list];
        let mut i = 0;
        while i < words.len() {
            let (a, b) = signatures(words[i].as_bytes());
            first[a / 64] |= 1 << (a % 64);
            second[b / 64] |= 1 << (b % 64);
            i += 1;
        }
        list += 1;
    }
    (first, second)
};

/// Whether some word of `key` is one of [`KEY_WORDS`], or the key is one long lowercase word:
/// most keys are settled here.
pub(super) fn may_be_special(key: &str) -> bool {
    let key = key.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-');
    (key.len() >= 10 && key.bytes().all(|b| b.is_ascii_lowercase()))
        || words(key).any(known_signature)
        || joined_pair(key, known_signature)
        || compound_credential(key)
}

/// Whether two adjacent words of `key`, written together, satisfy `known` (`tax_id` is
/// `taxid`, `idNumber` is `idnumber`). Joined in a stack buffer: pairs longer than it are
/// longer than every key word.
fn joined_pair(key: &str, known: impl Fn(&str) -> bool) -> bool {
    let mut buffer = [0u8; 32];
    let mut previous: Option<&str> = None;
    for word in words(key) {
        if let Some(first) = previous {
            let length = first.len() + word.len();
            if let Some(joined) = buffer.get_mut(..length) {
                let (head, tail) = joined.split_at_mut(first.len());
                head.copy_from_slice(first.as_bytes());
                tail.copy_from_slice(word.as_bytes());
                if std::str::from_utf8(joined).is_ok_and(&known) {
                    return true;
                }
            }
        }
        previous = Some(word);
    }
    false
}

/// Whether `word` is one of [`KEY_WORDS`] (ASCII case ignored). The two signature sets settle
/// nearly every other word at once; the few that share both signatures with a key word
/// (`notes`) are compared with the lists, so that the callers' longer checks are not run for
/// them.
fn known_signature(word: &str) -> bool {
    let (a, b) = signatures(word.as_bytes());
    let has = |set: &[u64; 4], bit: usize| {
        set.get(bit / 64)
            .is_some_and(|w| w & (1 << (bit % 64)) != 0)
    };
    has(&KEY_SIGNATURES.0, a)
        && has(&KEY_SIGNATURES.1, b)
        && KEY_WORDS_BY_LENGTH
            .get(word.len())
            .is_some_and(|words| words.iter().any(|known| known.eq_ignore_ascii_case(word)))
}

/// [`KEY_WORDS`] by length, so that the comparison in [`known_signature`] looks only at the
/// few words as long as the one asked about.
static KEY_WORDS_BY_LENGTH: std::sync::LazyLock<Vec<Vec<&'static str>>> =
    std::sync::LazyLock::new(|| {
        let words = || KEY_WORDS.iter().flat_map(|list| list.iter().copied());
        let longest = words().map(str::len).max().unwrap_or(0);
        let mut by_length = vec![Vec::new(); longest + 1];
        for word in words() {
            if let Some(same) = by_length.get_mut(word.len()) {
                same.push(word);
            }
        }
        by_length
    });
