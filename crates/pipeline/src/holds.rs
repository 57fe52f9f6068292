//! The approvals' background work while the gateway runs: expiring holds on time and
//! recording decisions made by another process (the CLI) in the audit chain, and announcing
//! new holds to the webhook.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use portcullis_config::{WebhookConfig, WebhookFormat};
use portcullis_egress::WebhookClient;
use portcullis_secrets::Secret;
use portcullis_store::approvals::ApprovalRecord;
use serde_json::json;
use tokio::sync::mpsc;

use crate::Gateway;
use crate::approve::{now_ms, rfc3339};
use crate::record::{ApprovalEvent, Outcome};

/// How often expiries and the CLI's decisions are picked up.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// Most holds queued for the webhook; past it a hold is logged and not announced.
pub(crate) const WEBHOOK_QUEUE: usize = 1024;

/// Expires holds and records the CLI's decisions, for as long as the gateway lives.
pub(crate) fn spawn_sweeper(gateway: Weak<Gateway>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(gateway) = gateway.upgrade() else {
                break;
            };
            gateway.sweep().await;
        }
    });
}

impl Gateway {
    /// One sweep: expire what is due, record votes not yet in the audit chain.
    pub(crate) async fn sweep(&self) {
        let Some(approvals) = &self.approvals else {
            return;
        };
        match approvals.store.expire_due(now_ms()).await {
            Ok(expired) => {
                for record in expired {
                    approvals.wake(&record.id);
                    let _ = self
                        .record(Outcome::Approval {
                            record: &record,
                            event: ApprovalEvent::Expired,
                        })
                        .await;
                }
            }
            Err(err) => tracing::error!(%err, "cannot expire approvals"),
        }
        let votes = match approvals.store.unrecorded_votes().await {
            Ok(votes) => votes,
            Err(err) => {
                tracing::error!(%err, "cannot read approval decisions");
                return;
            }
        };
        for vote in votes {
            approvals.wake(&vote.approval);
            let Ok(Some(record)) = approvals.store.get(&vote.approval).await else {
                continue;
            };
            let recorded = self
                .record(Outcome::Approval {
                    record: &record,
                    event: ApprovalEvent::Vote(&vote),
                })
                .await;
            if recorded.is_ok()
                && let Err(err) = approvals
                    .store
                    .mark_recorded(&vote.approval, &vote.approver)
                    .await
            {
                tracing::error!(%err, "cannot mark an approval decision as recorded");
            }
        }
    }
}

/// Delivers each new hold to the webhook: signed, through egress, retried with back-off.
pub(crate) fn spawn_webhook(
    config: &WebhookConfig,
    client: WebhookClient,
    secret: Option<Secret>,
    public_url: String,
) -> mpsc::Sender<ApprovalRecord> {
    let (tx, mut rx) = mpsc::channel::<ApprovalRecord>(WEBHOOK_QUEUE);
    let format = config.format;
    let attempts = config.attempts;
    let client = Arc::new(client);
    let secret = secret.map(Arc::new);
    tokio::spawn(async move {
        while let Some(record) = rx.recv().await {
            let body = webhook_body(&record, format, &public_url);
            let client = Arc::clone(&client);
            let secret = secret.clone();
            // Each hold is delivered on its own, so a slow receiver delays no other notice.
            tokio::spawn(async move {
                deliver(&client, secret.as_deref(), &record.id, body, attempts).await;
            });
        }
    });
    tx
}

async fn deliver(
    client: &WebhookClient,
    secret: Option<&Secret>,
    id: &str,
    body: Bytes,
    attempts: u32,
) {
    let delivery = uuid::Uuid::new_v4().to_string();
    let mut backoff = Duration::from_secs(1);
    for attempt in 1..=attempts {
        let mut headers = http::HeaderMap::new();
        let timestamp = now_ms() / 1000;
        if let Some(secret) = secret {
            let mut signed = format!("{timestamp}.").into_bytes();
            signed.extend_from_slice(&body);
            let signature = format!("t={timestamp},v1={}", secret.hmac_sha256_hex(&signed));
            if let Ok(value) = http::HeaderValue::from_str(&signature) {
                headers.insert("x-portcullis-signature", value);
            }
        }
        headers.insert(
            "x-portcullis-event",
            http::HeaderValue::from_static("approval.requested"),
        );
        if let Ok(value) = http::HeaderValue::from_str(&delivery) {
            headers.insert("x-portcullis-delivery", value);
        }
        match client.post(body.clone(), headers).await {
            Ok(status) if (200..300).contains(&status) => {
                tracing::info!(approval = %id, attempt, "approvals webhook delivered");
                return;
            }
            Ok(status) => {
                tracing::warn!(approval = %id, attempt, status, "approvals webhook refused the notice");
            }
            Err(err) => {
                tracing::warn!(approval = %id, attempt, %err, "approvals webhook unreachable");
            }
        }
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }
    tracing::error!(approval = %id, attempts, "approvals webhook gave up; the hold is still listed by `portcullis approvals list`");
}

/// Slack's three control characters in message text (`&`, `<`, `>`) as its escapes.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The notice of a new hold: Portcullis's JSON event, or a Slack-compatible message.
pub(crate) fn webhook_body(
    record: &ApprovalRecord,
    format: WebhookFormat,
    public_url: &str,
) -> Bytes {
    let arguments: serde_json::Value =
        serde_json::from_str(&record.arguments).unwrap_or(serde_json::Value::Null);
    let approve = format!(
        "portcullis approvals approve {} --as <approver> --reason \"...\"",
        record.id
    );
    let value = match format {
        WebhookFormat::Json => json!({
            "type": "approval.requested",
            "approval_id": record.id,
            "tool": record.binding.tool,
            "agent": record.binding.agent,
            "user": (!record.binding.user.is_empty()).then_some(&record.binding.user),
            "group": record.group,
            "required": record.required,
            "arguments": arguments,
            "args_digest": record.binding.args_digest,
            "required_by": record.reasons,
            "request_id": record.request_id,
            "created_at": rfc3339(record.created_at),
            "expires_at": rfc3339(record.expires_at),
            "gateway": public_url,
            "decide": {
                "cli": approve,
                "admin_api": format!("/admin/approvals/{}", record.id),
            },
        }),
        WebhookFormat::Slack => {
            let who = if record.binding.user.is_empty() {
                format!("`{}`", record.binding.agent)
            } else {
                format!(
                    "`{}` for user `{}`",
                    record.binding.agent, record.binding.user
                )
            };
            let text = format!(
                "Approval needed ({group}): {who} wants to call `{tool}`. Approval `{id}` expires {expires}.",
                group = slack_escape(&record.group),
                who = slack_escape(&who),
                tool = slack_escape(&record.binding.tool),
                id = record.id,
                expires = rfc3339(record.expires_at),
            );
            // The arguments are the agent's text: escaped, and without backquotes, so that they
            // cannot leave the code block, mention a channel or draw a link.
            let args = slack_escape(&serde_json::to_string_pretty(&arguments).unwrap_or_default())
                .replace('`', "'");
            json!({
                "text": text,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": format!("```{args}```")}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("Decide: `{approve}`")}]},
                ],
            })
        }
    };
    Bytes::from(value.to_string())
}

#[cfg(test)]
mod tests {
    use portcullis_store::approvals::{ApprovalStatus, Binding};

    use super::*;

    fn record() -> ApprovalRecord {
        ApprovalRecord {
            id: "apr_1".to_owned(),
            binding: Binding {
                agent: "demo-agent".to_owned(),
                user: String::new(),
                tool: "refundOrder".to_owned(),
                args_digest: "ab".repeat(32),
            },
            policy_version: "v1".to_owned(),
            group: "finance".to_owned(),
            required: 2,
            arguments: r#"{"amount_cents":25000,"reason":"[REDACTED:card]"}"#.to_owned(),
            reasons: vec!["large-refunds".to_owned()],
            request_id: "r1".to_owned(),
            created_at: 1_767_225_600_000,
            expires_at: 1_767_229_200_000,
            status: ApprovalStatus::Pending,
            decided_at: None,
            executed_at: None,
            executed_request: None,
            votes: Vec::new(),
        }
    }

    #[test]
    fn the_json_notice_names_the_call_and_how_to_decide() {
        let body = webhook_body(&record(), WebhookFormat::Json, "https://gw.example");
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["type"], "approval.requested");
        assert_eq!(event["approval_id"], "apr_1");
        assert_eq!(event["user"], serde_json::Value::Null);
        assert_eq!(event["required"], 2);
        assert_eq!(event["arguments"]["reason"], "[REDACTED:card]");
        assert_eq!(event["expires_at"], "2026-01-01T01:00:00Z");
        assert_eq!(event["decide"]["admin_api"], "/admin/approvals/apr_1");
    }

    #[test]
    fn the_slack_notice_is_a_message_with_text_and_blocks() {
        let body = webhook_body(&record(), WebhookFormat::Slack, "https://gw.example");
        let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let text = message["text"].as_str().unwrap();
        assert!(
            text.contains("`refundOrder`") && text.contains("apr_1"),
            "{text}"
        );
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
        assert!(
            blocks[1]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("[REDACTED:card]")
        );
        assert_eq!(blocks[2]["type"], "context");
    }

    #[test]
    fn the_slack_notice_keeps_the_agents_text_inside_its_code_block() {
        let mut held = record();
        held.arguments =
            r#"{"reason":"```\n<!channel> <https://evil.example|Approve here> & more"}"#.to_owned();
        let body = webhook_body(&held, WebhookFormat::Slack, "https://gw.example");
        let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let block = message["blocks"][1]["text"]["text"].as_str().unwrap();
        let inner = &block[3..block.len() - 3];
        assert!(
            !inner.contains('`') && !inner.contains('<') && !inner.contains('>'),
            "{block}"
        );
        assert!(
            inner.contains("&lt;!channel&gt;") && inner.contains("&amp;"),
            "{block}"
        );
    }
}
