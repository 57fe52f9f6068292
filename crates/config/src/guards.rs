//! The `guards` section (global) and `tools[].guards` (per tool selection): argument inspection,
//! response DLP, response prompt-injection scanning and response shaping.
//!
//! Every field is optional in both places. A tool's value wins over the global one, which wins
//! over the built-in default; DLP `kinds` maps merge key by key. Detector and kind names are
//! checked by the guard crate when the gateway is built, since only it knows them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Guard settings; the same shape globally (`guards`) and per tool selection (`tools[].guards`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, PartialEq, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardSettings {
    /// Injection detectors on the arguments, after schema validation and before authorization.
    pub inspect: InspectSettings,
    /// Secrets and personal data in upstream answers.
    pub dlp: DlpSettings,
    /// What to do when an upstream answer contains prompt-injection phrasing. Default `flag`.
    pub response_injection: Option<ResponseInjectionAction>,
    /// Projection and size caps on upstream answers. Default: none.
    pub shape: Option<ShapeSettings>,
}

/// Argument inspection settings.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, PartialEq, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InspectSettings {
    /// `block` refuses a call with a finding at or above `block_severity`; `flag` never refuses
    /// and only raises `context.risk`; `off` runs no detector. Default `block`.
    pub mode: Option<InspectMode>,
    /// The lowest severity that blocks in `block` mode. Default `high`.
    pub block_severity: Option<Severity>,
    /// Detector families not run (`sql`, `shell`, `path_traversal`, `template`, `script`,
    /// `internal_url`, `prompt_injection`).
    pub disabled: Option<Vec<String>>,
}

/// What argument findings do.
#[derive(Clone, Copy, Debug, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InspectMode {
    /// Refuse calls with findings at or above the block severity; all findings add risk.
    Block,
    /// Never refuse; findings add to `context.risk` for the policies.
    Flag,
    /// No inspection.
    Off,
}

/// Severity of a finding.
#[derive(
    Clone, Copy, Debug, Deserialize, Eq, Hash, JsonSchema, Ord, PartialEq, PartialOrd, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Weak signal.
    Low,
    /// Likely an attack.
    Medium,
    /// Almost certainly an attack.
    High,
}

/// Response DLP settings.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, PartialEq, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DlpSettings {
    /// Scan upstream answers at all. Default `true`.
    pub enabled: Option<bool>,
    /// Action per kind (`aws_access_key`, `card`, `email` ...), overriding the defaults. The key
    /// `all` sets every kind at once (`kinds: {all: redact}`); kinds named beside it override it.
    pub kinds: BTreeMap<String, DlpAction>,
}

/// What DLP does with one kind of finding.
#[derive(Clone, Copy, Debug, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DlpAction {
    /// Replace the value with `[REDACTED:<kind>]`.
    Redact,
    /// Refuse to pass the answer on at all.
    Withhold,
    /// Leave it.
    Allow,
}

/// What the response prompt-injection scan does.
#[derive(Clone, Copy, Debug, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseInjectionAction {
    /// Pass the answer on, audit the finding and tell the client in the answer's metadata.
    Flag,
    /// Remove the offending span and mark where it was.
    Strip,
    /// Refuse to pass the answer on.
    Withhold,
    /// No scan.
    Off,
}

/// Response shaping: projection by JSON pointer and size caps. Truncation is marked in the
/// answer (`_portcullis_truncated`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, PartialEq, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShapeSettings {
    /// JSON pointers to keep; everything else is dropped. Empty: keep everything.
    pub keep: Vec<String>,
    /// JSON pointers to drop (after `keep`). `*` as a segment matches every array element.
    pub drop: Vec<String>,
    /// Most elements kept in any array.
    pub max_items: Option<usize>,
    /// Largest serialized answer in bytes; longest arrays are shortened, then long strings cut.
    pub max_bytes: Option<usize>,
}
