//! The only place Portcullis holds plaintext secrets.
//!
//! Design decision: secrets never leave this crate as plain strings. Callers get a [`Secret`]
//! that can be compared in constant time, or they hand this crate an outbound request's headers
//! and URL and it writes the credential into them ([`SecretStore::inject`]). Header values are
//! marked sensitive so that no `Debug` or log of the request shows them. The environment is read
//! through [`EnvSource`], so tests and the demo can supply variables without touching the
//! process environment.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use portcullis_config::{CredentialConfig, SecretRef};
use secrecy::{ExposeSecret, SecretString};

/// Where `env:` references are looked up.
pub trait EnvSource: Send + Sync {
    /// The value of variable `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Variables given in code, consulted before the process environment.
#[derive(Default)]
pub struct OverlayEnv {
    vars: HashMap<String, SecretString>,
}

impl OverlayEnv {
    /// An empty overlay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars
            .insert(name.into(), SecretString::from(value.into()));
    }
}

impl fmt::Debug for OverlayEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OverlayEnv")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EnvSource for OverlayEnv {
    fn var(&self, name: &str) -> Option<String> {
        match self.vars.get(name) {
            Some(value) => Some(value.expose_secret().to_owned()),
            None => std::env::var(name).ok(),
        }
    }
}

/// Why a secret could not be produced. Messages name the reference, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set or empty.
    #[error("secret `env:{0}` is not set")]
    MissingEnv(String),
    /// The file could not be read.
    #[error("secret `file:{path}` cannot be read: {reason}")]
    File {
        /// The path.
        path: String,
        /// The IO error kind.
        reason: String,
    },
    /// The file is empty.
    #[error("secret `{0}` is empty")]
    Empty(String),
    /// The value cannot be used in an HTTP header.
    #[error("secret `{0}` contains characters not allowed in an HTTP header")]
    NotHeaderSafe(String),
    /// A configured header name is invalid.
    #[error("`{0}` is not a valid header name")]
    HeaderName(String),
}

/// A secret value. It has no `Display`, its `Debug` is redacted and it is zeroed on drop.
#[derive(Clone)]
pub struct Secret(SecretString);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Secret {
    /// Compares with a candidate in time independent of where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        use subtle::ConstantTimeEq as _;
        let ours = self.0.expose_secret().as_bytes();
        // Length is not secret for client secrets of a fixed format; the content is.
        ours.len() == candidate.len() && bool::from(ours.ct_eq(candidate))
    }

    /// Creates a secret from a value produced in process (a generated key, a demo credential).
    pub fn from_generated(value: String) -> Self {
        Self(SecretString::from(value))
    }

    /// HMAC-SHA256 of `message` keyed by this secret, hex: a webhook body's signature. The key
    /// stays inside this crate.
    pub fn hmac_sha256_hex(&self, message: &[u8]) -> String {
        use hmac::{KeyInit as _, Mac as _};
        // INVARIANT: HMAC takes keys of any length, so this never fails.
        let Ok(mut mac) =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.expose_secret().as_bytes())
        else {
            return String::new();
        };
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Calls `f` with the plaintext. Only for feeding a hash or key-derivation function.
    pub fn with_exposed<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.0.expose_secret().as_bytes())
    }
}

/// Resolves secret references and injects upstream credentials.
#[derive(Clone)]
pub struct SecretStore {
    env: Arc<dyn EnvSource>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore").finish_non_exhaustive()
    }
}

impl SecretStore {
    /// A store reading `env:` references from `env`.
    pub fn new(env: Arc<dyn EnvSource>) -> Self {
        Self { env }
    }

    /// A store over the process environment.
    pub fn from_process_env() -> Self {
        Self::new(Arc::new(ProcessEnv))
    }

    /// Reads the secret a reference points to.
    pub fn resolve(&self, reference: &SecretRef) -> Result<Secret, SecretError> {
        match reference {
            SecretRef::Env(name) => match self.env.var(name) {
                Some(value) if !value.is_empty() => Ok(Secret(SecretString::from(value))),
                _ => Err(SecretError::MissingEnv(name.clone())),
            },
            SecretRef::File(path) => read_file(path),
        }
    }

    /// Builds the injector for an API's credential, reading the secret now so that a missing
    /// secret fails at start-up, not on the first call.
    pub fn injector(&self, credential: &CredentialConfig) -> Result<Injector, SecretError> {
        let (reference, kind) = match credential {
            CredentialConfig::Bearer { secret } => (secret, InjectKind::Bearer),
            CredentialConfig::Header { name, secret } => {
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| SecretError::HeaderName(name.clone()))?;
                (secret, InjectKind::Header(header))
            }
            CredentialConfig::Query { name, secret } => (secret, InjectKind::Query(name.clone())),
            CredentialConfig::Basic { username, secret } => {
                (secret, InjectKind::Basic(username.clone()))
            }
        };
        let secret = self.resolve(reference)?;
        let header_value = match &kind {
            InjectKind::Bearer => Some(format!("Bearer {}", secret.0.expose_secret())),
            InjectKind::Header(_) => Some(secret.0.expose_secret().to_owned()),
            InjectKind::Basic(user) => {
                let raw = format!("{user}:{}", secret.0.expose_secret());
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            InjectKind::Query(_) => None,
        };
        let header_value = match header_value {
            Some(text) => {
                let mut value = HeaderValue::from_str(&text)
                    .map_err(|_| SecretError::NotHeaderSafe(reference.to_string()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let reflections = Reflections::new(secret.0.expose_secret(), header_value.as_ref());
        Ok(Injector {
            kind,
            secret,
            header_value,
            reflections,
        })
    }
}

enum InjectKind {
    Bearer,
    Header(HeaderName),
    Query(String),
    Basic(String),
}

/// Writes one API's credential into outbound requests.
pub struct Injector {
    kind: InjectKind,
    secret: Secret,
    header_value: Option<HeaderValue>,
    reflections: Reflections,
}

/// The forms of the credential the reflection guard looks for, with their searchers built once:
/// the guard runs on every string of every answer, and building a substring searcher per
/// string cost more than the search. Like `header_value`, the searchers hold the plaintext
/// (not zeroized on drop); they never leave this crate.
struct Reflections {
    forms: Vec<memchr::memmem::Finder<'static>>,
    /// The length of the shortest form: a shorter string cannot hold any.
    shortest: usize,
}

impl Reflections {
    /// The value itself, percent-encoded as in a query string, the header value as sent (when
    /// it differs from the value: the Basic pair in base64), in that order.
    fn new(value: &str, header_value: Option<&HeaderValue>) -> Self {
        let mut forms: Vec<Vec<u8>> = Vec::new();
        if !value.is_empty() {
            forms.push(value.as_bytes().to_vec());
            let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            if encoded != value {
                forms.push(encoded.into_bytes());
            }
            if let Some(header) = header_value
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.split_once(' ').map(|(_, v)| v))
                .filter(|v| *v != value)
            {
                forms.push(header.as_bytes().to_vec());
            }
        }
        Self {
            shortest: forms.iter().map(Vec::len).min().unwrap_or(usize::MAX),
            forms: forms
                .iter()
                .map(|form| memchr::memmem::Finder::new(form).into_owned())
                .collect(),
        }
    }
}

impl fmt::Debug for Injector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            InjectKind::Bearer => "bearer".to_owned(),
            InjectKind::Header(name) => format!("header {name}"),
            InjectKind::Query(name) => format!("query {name}"),
            InjectKind::Basic(user) => format!("basic {user}"),
        };
        f.debug_struct("Injector")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl Injector {
    /// Adds the credential to a request's headers or query string, replacing any value the
    /// caller supplied under the same name.
    pub fn inject(&self, headers: &mut http::HeaderMap, url: &mut url::Url) {
        match (&self.kind, &self.header_value) {
            (InjectKind::Bearer | InjectKind::Basic(_), Some(value)) => {
                headers.insert(AUTHORIZATION, value.clone());
            }
            (InjectKind::Header(name), Some(value)) => {
                headers.insert(name.clone(), value.clone());
            }
            (InjectKind::Query(name), _) => {
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != name)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let mut pairs = url.query_pairs_mut();
                pairs.clear();
                for (k, v) in &kept {
                    pairs.append_pair(k, v);
                }
                pairs.append_pair(name, self.secret.0.expose_secret());
            }
            _ => {}
        }
    }

    /// True when `text` contains the injected value (for the reflection guard).
    pub fn reflected_in(&self, text: &str) -> bool {
        let value = self.secret.0.expose_secret();
        !value.is_empty() && text.contains(value)
    }

    /// The reflection guard: `text` with every form of the injected credential an upstream
    /// could echo (the value itself, percent-encoded as in a query string, the whole header
    /// value as sent, the Basic `user:secret` pair in base64) replaced by `marker`, and how
    /// many were replaced; `None` when there was none. The value never leaves this crate.
    pub fn redact_reflections(&self, text: &str, marker: &str) -> Option<(String, usize)> {
        if text.len() < self.reflections.shortest {
            return None;
        }
        let mut out: Option<String> = None;
        let mut count = 0;
        for finder in &self.reflections.forms {
            let current = out.as_deref().unwrap_or(text);
            let mut starts = finder.find_iter(current.as_bytes()).peekable();
            if starts.peek().is_none() {
                continue;
            }
            let width = finder.needle().len();
            let mut replaced = String::with_capacity(current.len());
            let mut last = 0;
            for start in starts {
                // Both the form and the text are UTF-8, so a match starts and ends on
                // character boundaries.
                replaced.push_str(current.get(last..start).unwrap_or_default());
                replaced.push_str(marker);
                last = start + width;
                count += 1;
            }
            replaced.push_str(current.get(last..).unwrap_or_default());
            out = Some(replaced);
        }
        out.map(|text| (text, count))
    }
}

fn read_file(path: &Path) -> Result<Secret, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|e| SecretError::File {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SecretError::Empty(format!("file:{}", path.display())));
    }
    Ok(Secret(SecretString::from(trimmed.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        // RFC 4231, test case 2.
        let key = Secret::from_generated("Jefe".to_owned());
        assert_eq!(
            key.hmac_sha256_hex(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn store(vars: &[(&str, &str)]) -> SecretStore {
        let mut env = OverlayEnv::new();
        for (k, v) in vars {
            env.set(*k, *v);
        }
        SecretStore::new(Arc::new(env))
    }

    #[test]
    fn env_and_file_references_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s");
        std::fs::write(&file, "from-file\n").unwrap();
        let store = store(&[("PC_TEST_A", "from-env")]);
        assert!(
            store
                .resolve(&SecretRef::Env("PC_TEST_A".into()))
                .unwrap()
                .matches(b"from-env")
        );
        assert!(
            store
                .resolve(&SecretRef::File(file))
                .unwrap()
                .matches(b"from-file")
        );
        let err = store
            .resolve(&SecretRef::Env("PC_TEST_MISSING_XYZ".into()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret `env:PC_TEST_MISSING_XYZ` is not set"
        );
    }

    #[test]
    fn injection_writes_each_kind_and_replaces_caller_values() {
        let store = store(&[("K", "s3cr3t")]);
        let k = SecretRef::Env("K".into());
        let mut url = url::Url::parse("http://h/p?a=1&key=evil").unwrap();
        let mut headers = http::HeaderMap::new();
        store
            .injector(&CredentialConfig::Query {
                name: "key".into(),
                secret: k.clone(),
            })
            .unwrap()
            .inject(&mut headers, &mut url);
        assert_eq!(url.query(), Some("a=1&key=s3cr3t"));

        store
            .injector(&CredentialConfig::Bearer { secret: k.clone() })
            .unwrap()
            .inject(&mut headers, &mut url);
        assert_eq!(headers[AUTHORIZATION], "Bearer s3cr3t");
        assert!(headers[AUTHORIZATION].is_sensitive());

        store
            .injector(&CredentialConfig::Basic {
                username: "u".into(),
                secret: k.clone(),
            })
            .unwrap()
            .inject(&mut headers, &mut url);
        assert_eq!(headers[AUTHORIZATION], "Basic dTpzM2NyM3Q=");

        let injector = store
            .injector(&CredentialConfig::Header {
                name: "X-Api-Key".into(),
                secret: k,
            })
            .unwrap();
        injector.inject(&mut headers, &mut url);
        assert_eq!(headers["x-api-key"], "s3cr3t");
        assert!(injector.reflected_in("echo: s3cr3t"));
        assert_eq!(
            injector.redact_reflections("a s3cr3t b s3cr3t", "[X]"),
            Some(("a [X] b [X]".to_owned(), 2))
        );
        assert_eq!(injector.redact_reflections("nothing here", "[X]"), None);
        let basic = store
            .injector(&CredentialConfig::Basic {
                username: "u".into(),
                secret: SecretRef::Env("K".into()),
            })
            .unwrap();
        assert_eq!(
            basic.redact_reflections("auth: Basic dTpzM2NyM3Q=", "[X]"),
            Some(("auth: Basic [X]".to_owned(), 1))
        );
        assert!(!format!("{injector:?}").contains("s3cr3t"));
    }

    /// Every form is found, several times and next to multi-byte characters, and a string
    /// shorter than the shortest form is passed over.
    #[test]
    fn reflections_of_every_form_are_redacted() {
        let store = store(&[("Q", "p@ss wörd+1")]);
        let query = store
            .injector(&CredentialConfig::Query {
                name: "key".into(),
                secret: SecretRef::Env("Q".into()),
            })
            .unwrap();
        let encoded = "p%40ss+w%C3%B6rd%2B1";
        let text = format!("ä p@ss wörd+1|{encoded}{encoded} ü");
        assert_eq!(
            query.redact_reflections(&text, "[X]"),
            Some(("ä [X]|[X][X] ü".to_owned(), 3))
        );
        assert_eq!(query.redact_reflections("p@ss", "[X]"), None);
        assert_eq!(query.redact_reflections("", "[X]"), None);
    }

    #[test]
    fn debug_never_shows_values() {
        let secret = Secret::from_generated("topsecret".into());
        assert!(!format!("{secret:?}").contains("topsecret"));
        assert!(secret.matches(b"topsecret"));
        assert!(!secret.matches(b"topsecreT"));
    }
}
