//! The `log` section: how the gateway's own log lines are written (the audit log is another
//! thing, see `audit`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The log section.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (one human-readable line per event, coloured only on a terminal) or `json` (one
    /// JSON object per line, for log collectors). Which events are written is set by the
    /// `PORTCULLIS_LOG` environment variable (default `info` for the gateway, `warn` for the
    /// libraries it uses).
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
