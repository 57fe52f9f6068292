//! The `audit` section: where the hash-chained audit log lives and how durable its commits are.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Context;

/// The audit section.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// SQLite file. Defaults to `audit.db` in the data directory.
    pub path: Option<PathBuf>,
    /// Durability setting.
    pub sync: AuditSync,
}

/// Durability of the audit log.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditSync {
    /// fsync on every group commit: nothing answered is lost, even on power loss.
    #[default]
    Full,
    /// Survives a process crash but may lose the last commits on power loss.
    Normal,
}

impl AuditConfig {
    /// Resolves the path.
    pub(crate) fn parse(self, cx: &Context<'_>) -> Self {
        Self {
            path: self.path.map(|path| cx.path(path)),
            sync: self.sync,
        }
    }
}
