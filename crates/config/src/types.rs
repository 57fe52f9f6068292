//! The checked value types the sections share: names, scopes, URLs, tool patterns and secret
//! references. Each is built by one constructor that applies its rule, so a value of the type
//! is a checked value; consumers read it as text through `as_str` or `Deref<Target = str>`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::str::FromStr;

use globset::{Glob, GlobMatcher, GlobSet, GlobSetBuilder};
use schemars::JsonSchema;

/// A name of an agent, a role or a limit: 1 to 128 ASCII letters, digits, `-`, `_`, `.` or `@`.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Name(String);

impl Name {
    /// The name, when `text` follows the rule.
    pub fn new(text: &str) -> Option<Self> {
        token(text, |b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b)).map(Self)
    }
}

/// The name of an upstream API: a [`Name`] without `.` and `@`, since it appears in tool names
/// and Cedar entity ids.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct ApiName(String);

impl ApiName {
    /// The name, when `text` follows the rule.
    pub fn new(text: &str) -> Option<Self> {
        token(text, |b| b.is_ascii_alphanumeric() || b"-_".contains(&b)).map(Self)
    }
}

/// An OAuth scope: an RFC 6749 section 3.3 scope token (printable ASCII without space, `"` and
/// `\`), at most 128 bytes, so that it can be requested and named in a `WWW-Authenticate`
/// challenge.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Scope(String);

impl Scope {
    /// The scope, when `text` is a scope token.
    pub fn new(text: &str) -> Option<Self> {
        token(text, |b| {
            b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
        })
        .map(Self)
    }
}

/// `text` when it is 1 to 128 bytes, each of them `allowed`.
fn token(text: &str, allowed: impl Fn(u8) -> bool) -> Option<String> {
    (!text.is_empty() && text.len() <= 128 && text.bytes().all(allowed)).then(|| text.to_owned())
}

/// Text-like access shared by the checked text types.
macro_rules! text_access {
    ($($name:ident),*) => {$(
        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    )*};
}

text_access!(Name, ApiName, Scope);

/// An absolute `http` or `https` URL with a host and without user information, kept as written.
#[derive(Clone, Debug)]
pub struct HttpUrl {
    text: String,
    url: url::Url,
}

/// Why a text is not an [`HttpUrl`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// It does not parse as a URL.
    #[error("`{text}` is not a URL: {source}")]
    Syntax {
        /// The text.
        text: String,
        /// The parser's reason.
        source: url::ParseError,
    },
    /// Its scheme is neither `http` nor `https`.
    #[error("`{0}` must use http or https")]
    Scheme(String),
    /// It names no host.
    #[error("`{0}` has no host")]
    NoHost(String),
    /// It carries a user name or password; the value is not repeated since it may be a secret.
    #[error("URLs must not carry credentials; use `credential`")]
    Credentials,
}

impl HttpUrl {
    /// Parses and checks `text`.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let url = url::Url::parse(text).map_err(|source| UrlError::Syntax {
            text: text.to_owned(),
            source,
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme(text.to_owned()));
        }
        if url.host().is_none() {
            return Err(UrlError::NoHost(text.to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        Ok(Self {
            text: text.to_owned(),
            url,
        })
    }

    /// The URL as written in the file.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL (normalised: a bare host gains a trailing `/`).
    pub fn url(&self) -> &url::Url {
        &self.url
    }
}

impl Deref for HttpUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for HttpUrl {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for HttpUrl {}

impl PartialEq<&str> for HttpUrl {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// One entry of `tools[].operations` or of a limit's `tools`: an exact name, or a glob pattern
/// (`*`, `?`, `[...]`, `{a,b}`) compiled once at load.
#[derive(Clone, Debug)]
pub struct ToolPattern {
    text: String,
    /// `None`: the text has no glob character and is matched exactly.
    glob: Option<(Glob, GlobMatcher)>,
}

/// A tool pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("bad pattern `{pattern}`: {source}")]
pub struct PatternError {
    /// The pattern.
    pub pattern: String,
    /// The glob parser's reason.
    pub source: globset::Error,
}

impl ToolPattern {
    /// Compiles `text`. Every entry must be a valid glob, even one matched exactly.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let glob = Glob::new(text).map_err(|source| PatternError {
            pattern: text.to_owned(),
            source,
        })?;
        let literal = !text.contains(['*', '?', '[', '{']);
        Ok(Self {
            text: text.to_owned(),
            glob: (!literal).then(|| {
                let matcher = glob.compile_matcher();
                (glob, matcher)
            }),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` (a tool name or an operationId) matches.
    pub fn matches(&self, name: &str) -> bool {
        match &self.glob {
            Some((_, matcher)) => matcher.is_match(name),
            None => self.text == name,
        }
    }
}

impl fmt::Display for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<str> for ToolPattern {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for ToolPattern {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// A list of [`ToolPattern`]s, matched as one set: a name matches when any pattern does.
#[derive(Clone, Debug, Default)]
pub struct ToolPatterns {
    patterns: Vec<ToolPattern>,
    /// The glob patterns of the list in one automaton.
    globs: GlobSet,
}

impl ToolPatterns {
    /// Compiles every pattern of `texts`; the error names the first that does not compile.
    pub fn parse<T: AsRef<str>>(texts: impl IntoIterator<Item = T>) -> Result<Self, PatternError> {
        let patterns = texts
            .into_iter()
            .map(|text| ToolPattern::parse(text.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut globs = GlobSetBuilder::new();
        for (glob, _) in patterns.iter().filter_map(|p| p.glob.as_ref()) {
            globs.add(glob.clone());
        }
        let globs = globs.build().map_err(|source| PatternError {
            pattern: patterns
                .iter()
                .map(ToolPattern::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            source,
        })?;
        Ok(Self { patterns, globs })
    }

    /// Whether `name` matches any pattern of the list (never, for an empty list).
    pub fn matches(&self, name: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.glob.is_none() && p.text == name)
            || self.globs.is_match(name)
    }

    /// The patterns, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ToolPattern> {
        self.patterns.iter()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// How many patterns the list holds.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }
}

impl<'a> IntoIterator for &'a ToolPatterns {
    type Item = &'a ToolPattern;
    type IntoIter = std::slice::Iter<'a, ToolPattern>;

    fn into_iter(self) -> Self::IntoIter {
        self.patterns.iter()
    }
}

/// A reference to a secret: `env:NAME` or `file:PATH`. Inline values are refused.
#[derive(Clone, Debug, Eq, Hash, JsonSchema, PartialEq)]
#[schemars(with = "String")]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file; relative paths are resolved against the config file's folder. Surrounding
    /// whitespace (a trailing newline) is trimmed.
    File(PathBuf),
}

/// Why a text is not a [`SecretRef`].
#[derive(Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretRefError {
    /// `env:` followed by something other than a variable name (shown cut to 64 characters).
    #[error(
        "`env:` must be followed by a variable name made of letters, digits and `_`, got `env:{0}`"
    )]
    EnvName(String),
    /// `file:` with nothing after it.
    #[error("`file:` must be followed by a path")]
    EmptyFile,
    /// Neither form: a value written inline.
    // INVARIANT: the refused value is never echoed; it may be a real secret.
    #[error("inline secret values are not allowed; write `env:NAME` or `file:PATH`")]
    Inline,
}

impl FromStr for SecretRef {
    type Err = SecretRefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(name) = text.strip_prefix("env:") {
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(SecretRefError::EnvName(
                    portcullis_core::truncate_for_message(name, 64),
                ));
            }
            return Ok(Self::Env(name.to_owned()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err(SecretRefError::EmptyFile);
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        Err(SecretRefError::Inline)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// Implements `Deserialize` through `FromStr` and `Serialize` through `Display`, for the types
/// written as one YAML string.
macro_rules! serde_as_text {
    ($name:ty) => {
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}

pub(crate) use serde_as_text;

serde_as_text!(SecretRef);
