//! The `tools` section: which upstream operations are exposed as tools, with their risk class,
//! required scopes, cost and guard settings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ApiName, ConfigError, Context, GuardSettings, Problem, Scope, ToolPatterns};

/// Operations of one API exposed as tools, checked: the API is declared under `apis`, the
/// operation patterns compiled, the scopes are scope tokens.
#[derive(Clone, Debug)]
pub struct ToolSelection {
    /// The API.
    pub api: ApiName,
    /// operationIds and glob patterns; never empty.
    pub operations: ToolPatterns,
    /// Risk class of the selected tools.
    pub risk: RiskClass,
    /// OAuth scopes a token must carry to call the selected tools.
    pub scopes: Vec<Scope>,
    /// What one call of the selected tools costs against cost-weighted limits; 1 when unset.
    pub cost: Option<u32>,
    /// Guard settings for the selected tools, over the global `guards` section.
    pub guards: GuardSettings,
    /// The approver group every call of the selected tools needs, if any.
    pub approval: Option<crate::Name>,
}

/// `tools[].approval`: every call of the selected tools is held for a person of `group`.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolApproval {
    /// The approver group (declared under `approvals.groups`).
    pub group: String,
}

/// Risk class of a tool; each class is a Cedar action group (`risk:<class>`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, Hash, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskClass {
    /// Reads of non-sensitive data.
    Low,
    /// Reads of sensitive data, reversible writes.
    #[default]
    Medium,
    /// Writes with business impact (refunds, payments).
    High,
    /// Irreversible or destructive operations.
    Critical,
}

impl RiskClass {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

crate::deserialize_as_entry!(ToolSelection, RawToolSelection, "tool");

/// Operations of one API exposed as tools.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ToolSelection")]
pub(crate) struct RawToolSelection {
    /// The API name.
    api: String,
    /// operationIds to expose; `*` and `?` glob patterns match several.
    operations: Vec<String>,
    /// Risk class of the selected tools.
    #[serde(default)]
    risk: RiskClass,
    /// OAuth scopes a token must carry to call the selected tools. A call whose token lacks one
    /// is refused with `insufficient_scope` (HTTP 403 naming the scopes, for step-up) before
    /// any policy is evaluated. Empty by default: the policies alone decide.
    #[serde(default)]
    scopes: Vec<String>,
    /// What one call of the selected tools costs against the cost-weighted rate limits and
    /// quotas of the `limits` section (`weigh: cost` or `tokens`). Default 1; an operation
    /// selected twice takes the highest cost.
    #[serde(default)]
    cost: Option<u32>,
    /// Guard settings for the selected tools, over the global `guards` section.
    #[serde(default)]
    guards: GuardSettings,
    /// Hold every call of the selected tools for a person of this approver group, whatever
    /// the policies say (a policy can also ask for it with `@approval("<group>")`).
    #[serde(default)]
    approval: Option<ToolApproval>,
}

impl RawToolSelection {
    /// Checks one tool selection; that it names a declared API is checked with the other
    /// references between sections.
    pub(crate) fn parse(self, key: &str, cx: &Context<'_>) -> Result<ToolSelection, ConfigError> {
        // A text that is no API name names no declared API either.
        let api = ApiName::new(&self.api)
            .ok_or_else(|| cx.invalid(format!("{key}.api"), Problem::UnknownApi(self.api)))?;
        if self.operations.is_empty() {
            return Err(cx.invalid(format!("{key}.operations"), Problem::NoOperations));
        }
        Ok(ToolSelection {
            api,
            operations: cx.patterns(format!("{key}.operations"), &self.operations)?,
            risk: self.risk,
            scopes: cx.scopes(format!("{key}.scopes"), &self.scopes)?,
            cost: self.cost,
            guards: self.guards,
            approval: self
                .approval
                .map(|a| {
                    crate::Name::new(&a.group).ok_or_else(|| {
                        cx.invalid(format!("{key}.approval.group"), Problem::GroupName(a.group))
                    })
                })
                .transpose()?,
        })
    }
}
