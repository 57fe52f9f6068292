//! The `approvals` section: human approval of risky calls. Which approver groups exist and how
//! many distinct approvers each needs, who the approvers are and how they authenticate, how
//! long a held call waits and stays decidable, and the webhook that announces each hold.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Context, EgressConfig, HttpUrl, HumanDuration, Name, Problem, SecretRef};

/// The approver group that means the user the agent acts for, asked through the MCP client
/// (elicitation); it is always available and cannot be declared.
pub const USER_GROUP: &str = "user";

/// The approvals section, checked.
#[derive(Clone, Debug)]
pub struct ApprovalsConfig {
    /// How long a held call waits for a decision before the agent is told it is pending.
    pub wait: std::time::Duration,
    /// How long a hold stays decidable, and an approval usable, after the call was held.
    pub expiry: std::time::Duration,
    /// Most pending holds one agent may have at once; further risky calls are refused.
    pub max_pending_per_agent: u32,
    /// Approver groups, by name.
    pub groups: Vec<ApproverGroup>,
    /// The people who decide.
    pub approvers: Vec<ApproverConfig>,
    /// Where each new hold is announced, if anywhere.
    pub webhook: Option<WebhookConfig>,
}

impl ApprovalsConfig {
    /// Whether `name` is a group a hold may name: a declared one, or [`USER_GROUP`].
    pub fn knows_group(&self, name: &str) -> bool {
        name == USER_GROUP || self.group(name).is_some()
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&ApproverGroup> {
        self.groups.iter().find(|g| g.name.as_str() == name)
    }
}

/// An approver group.
#[derive(Clone, Debug)]
pub struct ApproverGroup {
    /// Its name, as `@approval("<name>")` and `tools[].approval.group` write it.
    pub name: Name,
    /// How many distinct approvers must approve (2 or more: the two-person rule).
    pub required: u32,
}

/// A person who decides on held calls.
#[derive(Clone, Debug)]
pub struct ApproverConfig {
    /// The approver's id, named in audit records.
    pub id: Name,
    /// Argon2 PHC hash of the approver's secret.
    pub secret_hash: Option<String>,
    /// A reference to the approver's secret.
    pub secret: Option<SecretRef>,
    /// The groups the approver decides for.
    pub groups: Vec<Name>,
}

/// The webhook told of each new hold.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Where the notice is POSTed.
    pub url: HttpUrl,
    /// The HMAC-SHA256 key the body is signed with (`X-Portcullis-Signature`).
    pub secret: Option<SecretRef>,
    /// The body's shape.
    pub format: WebhookFormat,
    /// Delivery attempts before giving up (with exponential back-off).
    pub attempts: u32,
    /// Outbound rules for the webhook's host.
    pub egress: EgressConfig,
}

/// The shape of a webhook body.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Portcullis's own JSON event (documented in docs/approvals.md).
    #[default]
    Json,
    /// A Slack-compatible message (`text` and `blocks`), for an incoming-webhook URL.
    Slack,
}

/// Human approval of risky calls.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ApprovalsConfig")]
pub(crate) struct RawApprovals {
    /// How long a held call waits for a decision before the agent is answered "approval
    /// pending" (HTTP 202 with a `Location` to poll; MCP: a tool result naming the approval).
    /// Over MCP, progress notifications are sent while it waits.
    #[serde(default = "default_wait")]
    wait: HumanDuration,
    /// How long a hold stays decidable, and an approval usable by the repeated call, counted
    /// from the hold.
    #[serde(default = "default_expiry")]
    expiry: HumanDuration,
    /// Most pending holds one agent may have at once; further calls that need approval are
    /// refused until some are decided or expire.
    #[serde(default = "default_max_pending")]
    max_pending_per_agent: u32,
    /// Approver groups. `@approval("<group>")` on a permit policy, or `tools[].approval`, names
    /// one.
    groups: Vec<RawGroup>,
    /// The people who decide. They authenticate to the admin API with HTTP Basic (id and
    /// secret); agents' tokens never can.
    #[serde(default)]
    approvers: Vec<RawApprover>,
    /// A URL told of each new hold (signed JSON POST through the SSRF-safe egress).
    #[serde(default)]
    webhook: Option<RawWebhook>,
}

fn default_wait() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

fn default_expiry() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(3600))
}

fn default_max_pending() -> u32 {
    20
}

/// An approver group.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ApproverGroup")]
struct RawGroup {
    /// The group's name.
    name: String,
    /// How many distinct approvers must approve; 2 or more is the two-person rule. One
    /// refusal decides at once.
    #[serde(default = "one")]
    required: u32,
}

fn one() -> u32 {
    1
}

/// A person who decides on held calls.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ApproverConfig")]
struct RawApprover {
    /// The approver's id, named in audit records.
    id: String,
    /// Argon2 PHC hash of the approver's secret (`portcullis hash-secret`).
    #[serde(default)]
    secret_hash: Option<String>,
    /// A reference to the approver's secret (`env:NAME` or `file:PATH`).
    #[serde(default)]
    secret: Option<SecretRef>,
    /// The groups the approver decides for.
    groups: Vec<String>,
}

/// The webhook told of each new hold.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WebhookConfig")]
struct RawWebhook {
    /// Where the notice is POSTed (`http` or `https`).
    url: String,
    /// The HMAC-SHA256 key (`env:NAME` or `file:PATH`): the header `X-Portcullis-Signature`
    /// carries `t=<unix seconds>,v1=<hex HMAC of "<t>.<body>">`. Without it the body is not
    /// signed.
    #[serde(default)]
    secret: Option<SecretRef>,
    /// `json` (Portcullis's event) or `slack` (a Slack-compatible message).
    #[serde(default)]
    format: WebhookFormat,
    /// Delivery attempts before giving up; back-off doubles from one second.
    #[serde(default = "default_attempts")]
    attempts: u32,
    /// Outbound rules for the webhook's host (by default public addresses only).
    #[serde(default)]
    egress: EgressConfig,
}

fn default_attempts() -> u32 {
    5
}

impl RawApprovals {
    pub(crate) fn parse(self, cx: &Context<'_>) -> Result<ApprovalsConfig, ConfigError> {
        let key = "approvals";
        if self.wait.0.is_zero() {
            return Err(cx.invalid(format!("{key}.wait"), Problem::Zero));
        }
        if self.expiry.0 <= self.wait.0 {
            return Err(cx.invalid(format!("{key}.expiry"), Problem::ExpiryBeforeWait));
        }
        if self.max_pending_per_agent == 0 {
            return Err(cx.invalid(format!("{key}.max_pending_per_agent"), Problem::Zero));
        }
        if self.groups.is_empty() {
            return Err(cx.invalid(format!("{key}.groups"), Problem::NoApproverGroups));
        }
        let mut groups = Vec::with_capacity(self.groups.len());
        for (i, group) in self.groups.into_iter().enumerate() {
            let at = format!("{key}.groups[{i}]");
            let name = Name::new(&group.name).ok_or_else(|| {
                cx.invalid(format!("{at}.name"), Problem::GroupName(group.name.clone()))
            })?;
            if name.as_str() == USER_GROUP {
                return Err(cx.invalid(format!("{at}.name"), Problem::ReservedGroup));
            }
            if group.required == 0 {
                return Err(cx.invalid(format!("{at}.required"), Problem::Zero));
            }
            groups.push(ApproverGroup {
                name,
                required: group.required,
            });
        }
        cx.unique(
            "approvals.groups",
            "name",
            groups.iter().map(|g| g.name.as_str()),
            Problem::DuplicateName,
        )?;
        let mut approvers = Vec::with_capacity(self.approvers.len());
        for (i, approver) in self.approvers.into_iter().enumerate() {
            let at = format!("{key}.approvers[{i}]");
            let id = Name::new(&approver.id).ok_or_else(|| {
                cx.invalid(format!("{at}.id"), Problem::AgentId(approver.id.clone()))
            })?;
            let secret = match (&approver.secret_hash, approver.secret) {
                (Some(_), Some(_)) => return Err(cx.invalid(at, Problem::TwoSecrets)),
                (None, None) => return Err(cx.invalid(at, Problem::NoApproverSecret)),
                (Some(hash), None) if !hash.starts_with("$argon2") => {
                    return Err(cx.invalid(format!("{at}.secret_hash"), Problem::NotArgon2));
                }
                (_, secret) => secret.map(|s| cx.secret(s)),
            };
            let mut member_of = Vec::with_capacity(approver.groups.len());
            for name in &approver.groups {
                let known = groups.iter().find(|g| g.name.as_str() == name.as_str());
                let Some(group) = known else {
                    return Err(cx.invalid(
                        format!("{at}.groups"),
                        Problem::UnknownApproverGroup(portcullis_core::truncate_for_message(
                            name, 64,
                        )),
                    ));
                };
                member_of.push(group.name.clone());
            }
            approvers.push(ApproverConfig {
                id,
                secret_hash: approver.secret_hash,
                secret,
                groups: member_of,
            });
        }
        cx.unique(
            "approvals.approvers",
            "id",
            approvers.iter().map(|a| a.id.as_str()),
            Problem::DuplicateName,
        )?;
        // A group that can never gather enough approvers would hold its calls until they expire.
        for (i, group) in groups.iter().enumerate() {
            let members = approvers
                .iter()
                .filter(|a| a.groups.iter().any(|g| g == &group.name))
                .count();
            if members < group.required as usize {
                return Err(cx.invalid(
                    format!("{key}.groups[{i}].required"),
                    Problem::TooFewApprovers {
                        required: group.required,
                        members,
                    },
                ));
            }
        }
        let webhook = self
            .webhook
            .map(|hook| -> Result<WebhookConfig, ConfigError> {
                let url = HttpUrl::parse(&hook.url)
                    .map_err(|e| cx.invalid(format!("{key}.webhook.url"), Problem::Url(e)))?;
                if hook.attempts == 0 {
                    return Err(cx.invalid(format!("{key}.webhook.attempts"), Problem::Zero));
                }
                Ok(WebhookConfig {
                    url,
                    secret: hook.secret.map(|s| cx.secret(s)),
                    format: hook.format,
                    attempts: hook.attempts.min(20),
                    egress: EgressConfig {
                        max_redirects: 0,
                        ..hook.egress.checked(&format!("{key}.webhook.egress"), cx)?
                    },
                })
            })
            .transpose()?;
        Ok(ApprovalsConfig {
            wait: self.wait.0,
            expiry: self.expiry.0,
            max_pending_per_agent: self.max_pending_per_agent,
            groups,
            approvers,
            webhook,
        })
    }
}
