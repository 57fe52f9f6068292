//! The guard crate's errors: what stops the guards from being built. A call's refusal is a
//! denial (`portcullis_core::Denial`), never one of these.

/// Why the guards could not be built from a catalog and a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// A tool's input schema is not a valid draft 2020-12 schema, or refers outside itself.
    #[error("input schema of tool `{tool}` does not compile: {message}")]
    Schema {
        /// The tool.
        tool: String,
        /// What the schema compiler said.
        message: String,
    },
    /// A `guards` setting is wrong.
    #[error("`{key}`: {source}")]
    Settings {
        /// The configuration key (`guards`, `tools[2].guards`).
        key: String,
        /// What is wrong with it.
        source: SettingsError,
    },
    /// A built-in detector does not compile: a defect of the build, not of the configuration.
    #[error(transparent)]
    Detector(#[from] DetectorError),
}

/// What is wrong with a `guards` setting; each variant names the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// `dlp.kinds` names a kind the scanner does not have.
    #[error("unknown DLP kind `{0}`")]
    UnknownDlpKind(String),
    /// `inspect.disabled` names a detector family that does not exist.
    #[error("unknown detector family `{name}`; use one of {known}")]
    UnknownDetectorFamily {
        /// The name given.
        name: String,
        /// The families there are, comma-separated.
        known: String,
    },
    /// A `shape.keep` or `shape.drop` entry is not a JSON pointer.
    #[error("`{0}` is not a JSON pointer (it must start with `/`)")]
    NotAPointer(String),
}

/// A built-in rule (a DLP, prompt or inspection pattern, or the keyword set) that does not
/// compile. Tests build every detector, so this is never seen in a released binary.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("built-in rule `{rule}` does not compile: {message}")]
pub struct DetectorError {
    /// The rule (`dlp.card`, `prompt.override`, `inspect.urls`, `keywords`).
    pub rule: String,
    /// What the compiler said.
    pub message: String,
}

impl DetectorError {
    pub(crate) fn new(rule: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            rule: rule.into(),
            message: message.to_string(),
        }
    }
}
