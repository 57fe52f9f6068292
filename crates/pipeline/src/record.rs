//! Stage 12, audit: the one function that turns an outcome into its audit record. Every front
//! and every kind of request (tool calls and their refusals, the token endpoint, the admin API)
//! is recorded here and nowhere else.

use portcullis_core::{
    AuditEvent, CallMeta, Decision, Denial, DenialKind, UpstreamResponse, truncate_for_message,
};

use portcullis_store::approvals::{ApprovalRecord, Vote};

use crate::Gateway;
use crate::context::CallContext;

/// What happened to a held call, for [`Outcome::Approval`].
#[derive(Debug)]
pub(crate) enum ApprovalEvent<'a> {
    /// An approver's vote made outside the admin API.
    Vote(&'a Vote),
    /// The hold expired undecided (or approved and never run).
    Expired,
}

/// The step of a token-endpoint record.
pub(crate) const TOKEN_ISSUED: &str = "token issued";

/// How one request ended, as its audit record tells it.
#[derive(Debug)]
pub(crate) enum Outcome<'a> {
    /// A tool call, or a request refused on its way to becoming one (at identify, on a body
    /// that could not be read, by a front's transport checks): what the stages learned and the
    /// answer.
    Call {
        /// The request's facts.
        ctx: &'a CallContext,
        /// The upstream's (filtered) answer or the refusal.
        result: Result<&'a UpstreamResponse, &'a Denial>,
    },
    /// A token-endpoint request.
    Token {
        /// The request.
        meta: &'a CallMeta,
        /// The agent the request named, if any.
        agent: Option<&'a str>,
        /// Issued, or refused with an OAuth error code and a detail for the record only.
        result: Result<(), (&'a str, Option<&'a str>)>,
        /// What was done when it succeeded (`token issued`, `signed in`, ...).
        step: &'a str,
        /// The user the request signed in or acted for, when known.
        user: Option<&'a str>,
    },
    /// Something that happened to a held call outside any request: a decision made by another
    /// process (the CLI), or an expiry.
    Approval {
        /// The approval.
        record: &'a ApprovalRecord,
        /// What happened.
        event: ApprovalEvent<'a>,
    },
    /// An admin API request.
    Admin {
        /// The request.
        meta: &'a CallMeta,
        /// What was asked (`revoke token`, `disable agent`, `POST /admin/...` when refused
        /// before routing).
        action: &'a str,
        /// What it applied to (a `jti`, an agent id, a key id).
        target: Option<&'a str>,
        /// What was done (`revoked`, `already disabled`, ...) or the refusal.
        result: Result<&'a str, &'a Denial>,
    },
}

impl Gateway {
    /// Appends the one audit record of `outcome`. A record that cannot be written becomes an
    /// internal denial: the caller gets an error rather than an unrecorded answer (fail
    /// closed).
    pub(crate) async fn record(&self, outcome: Outcome<'_>) -> Result<(), Denial> {
        let event = self.event(outcome);
        // The access log: one line per request, what an operator greps for first (the audit
        // record below is the evidence).
        tracing::info!(
            target: "portcullis::access",
            request_id = %event.request_id,
            front = %event.front,
            agent = event.agent.as_deref().unwrap_or("-"),
            tool = event.tool.as_deref().unwrap_or("-"),
            decision = event.decision.as_str(),
            reason = event.reasons.first().map_or("-", |reason| reason.split(':').next().unwrap_or("-")),
            upstream_status = event.upstream_status.unwrap_or(0),
            latency_us = event.latency_us,
        );
        let request_id = event.request_id.clone();
        self.audit.record(event).await.map(|_| ()).map_err(|err| {
            tracing::error!(%err, %request_id, "audit write failed; refusing to answer");
            Denial::new(
                DenialKind::Internal,
                "the gateway could not record this request; try again later",
            )
        })
    }

    fn event(&self, outcome: Outcome<'_>) -> AuditEvent {
        match outcome {
            Outcome::Call { ctx, result } => {
                let (decision, mut reasons, policies) = match result {
                    Ok(_) => (
                        Decision::Allow,
                        vec!["permit".to_owned()],
                        ctx.policies.clone(),
                    ),
                    Err(denial) => {
                        let policies = if denial.policies.is_empty() {
                            ctx.policies.clone()
                        } else {
                            denial.policies.clone()
                        };
                        (
                            Decision::from(denial.kind),
                            denial_reasons(denial),
                            policies,
                        )
                    }
                };
                reasons.extend(ctx.reason_lines());
                let principal = ctx.principal.as_deref();
                AuditEvent {
                    agent: principal.map(|p| p.agent.clone()),
                    subject: principal
                        .filter(|p| p.subject != p.agent)
                        .map(|p| p.subject.clone()),
                    tool: ctx.tool.as_deref().map(|t| truncate_for_message(t, 128)),
                    args_digest: ctx.args_digest.as_ref().map(|d| d.as_str().to_owned()),
                    decision,
                    reasons,
                    policies,
                    upstream_status: ctx.upstream_status,
                    ..self.blank_event(&ctx.meta)
                }
            }
            Outcome::Token {
                meta,
                agent,
                result,
                step,
                user,
            } => {
                let (decision, reasons) = match result {
                    Ok(()) => (Decision::Allow, vec!["permit".to_owned(), step.to_owned()]),
                    Err((code, detail)) => (
                        Decision::Unauthenticated,
                        std::iter::once(format!("{}: {code}", DenialKind::Unauthenticated.code()))
                            .chain(detail.map(str::to_owned))
                            .chain((step != TOKEN_ISSUED).then(|| format!("at: {step}")))
                            .collect(),
                    ),
                };
                AuditEvent {
                    agent: agent.map(|a| truncate_for_message(a, 128)),
                    subject: user.map(|u| truncate_for_message(u, 128)),
                    decision,
                    reasons,
                    ..self.blank_event(meta)
                }
            }
            Outcome::Approval { record, event } => {
                let meta = CallMeta::now(portcullis_core::Front::Admin, None);
                let (decision, reasons) = match event {
                    ApprovalEvent::Vote(vote) => {
                        let verb = if vote.approve { "approve" } else { "deny" };
                        let mut reasons = vec![
                            format!("admin: {verb} approval `{}`", record.id),
                            format!(
                                "approval: {} by {} ({}), now {}",
                                if vote.approve { "approved" } else { "denied" },
                                truncate_for_message(&vote.approver, 128),
                                vote.source,
                                record.status.as_str()
                            ),
                        ];
                        if let Some(reason) = &vote.reason {
                            reasons.push(format!("reason: {}", truncate_for_message(reason, 256)));
                        }
                        (
                            if vote.approve {
                                Decision::Allow
                            } else {
                                Decision::Deny
                            },
                            reasons,
                        )
                    }
                    ApprovalEvent::Expired => (
                        Decision::Deny,
                        vec![format!("approval: expired `{}`", record.id)],
                    ),
                };
                AuditEvent {
                    agent: Some(record.binding.agent.clone()),
                    subject: (!record.binding.user.is_empty()).then(|| record.binding.user.clone()),
                    tool: Some(truncate_for_message(&record.binding.tool, 128)),
                    args_digest: Some(record.binding.args_digest.clone()),
                    decision,
                    reasons,
                    ..self.blank_event(&meta)
                }
            }
            Outcome::Admin {
                meta,
                action,
                target,
                result,
            } => {
                let mut action_reason = format!("admin: {action}");
                if let Some(target) = target {
                    action_reason.push_str(&format!(" `{}`", truncate_for_message(target, 128)));
                }
                let (decision, reasons) = match result {
                    Ok(done) => (Decision::Allow, vec![action_reason, done.to_owned()]),
                    Err(denial) => {
                        let mut reasons = denial_reasons(denial);
                        reasons.push(action_reason);
                        (Decision::from(denial.kind), reasons)
                    }
                };
                AuditEvent {
                    decision,
                    reasons,
                    ..self.blank_event(meta)
                }
            }
        }
    }

    /// The fields every record has, for the request `meta` describes; the rest empty.
    fn blank_event(&self, meta: &CallMeta) -> AuditEvent {
        AuditEvent {
            time: meta
                .received_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            request_id: meta.request_id.to_string(),
            agent: None,
            subject: None,
            client_ip: meta.client_ip.map(|ip| ip.to_string()),
            front: meta.front,
            tool: None,
            args_digest: None,
            decision: Decision::Error,
            reasons: Vec::new(),
            policies: Vec::new(),
            upstream_status: None,
            latency_us: meta.elapsed_us(),
            policy_version: Some(self.policy.version().to_owned()),
        }
    }
}

/// A denial's reason lines: its code and agent-facing message, each violation, then the detail
/// for the record only.
fn denial_reasons(denial: &Denial) -> Vec<String> {
    let mut reasons = vec![format!("{}: {}", denial.kind.code(), denial.message)];
    reasons.extend(
        denial
            .violations
            .iter()
            .map(|v| format!("{} {}", v.path, v.rule)),
    );
    reasons.extend(denial.internal.iter().cloned());
    reasons
}
