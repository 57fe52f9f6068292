//! Durations written the human way (`10s`, `5m`, `1h 30m`), and the non-zero ones the settings
//! that divide by or wait for a duration require.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;

use crate::types::serde_as_text;

/// A [`Duration`] that (de)serializes as a human-readable string such as `10m` or `250ms`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct HumanDuration(pub Duration);

/// A text that is not a duration.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not a duration ({source}); write e.g. `30s`, `10m`")]
pub struct DurationError {
    /// The text.
    pub text: String,
    /// The parser's reason.
    pub source: humantime::DurationError,
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(text)
            .map(Self)
            .map_err(|source| DurationError {
                text: text.to_owned(),
                source,
            })
    }
}

serde_as_text!(HumanDuration);

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration such as `500ms`, `30s`, `10m` or `1h`.",
            "pattern": "^\\s*\\d+\\s*[a-zµ]+(\\s*\\d+\\s*[a-zµ]+)*\\s*$"
        })
    }
}

/// A duration greater than zero: a timeout, a refill period, a window.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct NonZeroDuration(Duration);

impl NonZeroDuration {
    /// The duration, unless it is zero.
    pub fn new(duration: Duration) -> Option<Self> {
        (!duration.is_zero()).then_some(Self(duration))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<NonZeroDuration> for Duration {
    fn from(value: NonZeroDuration) -> Duration {
        value.0
    }
}

impl fmt::Display for NonZeroDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        HumanDuration(self.0).fmt(f)
    }
}
