//! Stage 8, approve: a permitted call that a person must approve is held here, between
//! authorize and meter.
//!
//! Where a hold comes from: a determining permit policy annotated `@approval("<group>")`
//! ([`Permitted::approval`]) or `tools[].approval`. A call needing neither pays one branch and
//! touches no storage.
//!
//! What a hold is bound to: the agent, the acting user, the tool and the digest of the
//! arguments (a [`Binding`]), plus the policy-set version and an expiry. A held call waits up
//! to `approvals.wait` for a decision on its own task, holding only the permitted call in
//! memory: it has not been metered yet, so it holds no concurrency permit and has spent no
//! rate or quota budget. Past the wait nothing of it stays in memory; the agent is told the
//! approval is pending, and the identical call repeated after the approval runs once (the
//! approval is consumed atomically, [`ApprovalStore::consume`]). The repeated call went
//! through every stage again, authorization included, so a call the policies now deny stays
//! denied whatever was approved.
//!
//! Accounting: a held call is metered only when it runs (stage 9 comes after this one), so a
//! denied or expired hold costs the agent no rate, quota or concurrency budget; only the
//! admission limit of stage 3 counts each attempt. Each agent may have at most
//! `approvals.max_pending_per_agent` pending holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portcullis_config::ApprovalsConfig;
use portcullis_core::{ApprovalHint, Denial, DenialKind, Principal, truncate_for_message};
use portcullis_identity::Approvers;
use portcullis_policy::{Call, Permitted};
use portcullis_store::approvals::{
    ApprovalRecord, ApprovalStatus, ApprovalStore, Binding, Decided, Held, Vote,
};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use crate::Gateway;
use crate::context::CallContext;

/// How often a waiting call reads its approval from the store on its own. Decisions wake it
/// instead: through the admin API at once, from the CLI (another process) when the sweep
/// finds them (every 0.5 s); this read is the safety net, kept rare so that many waiting calls
/// do not crowd the store's connection.
const POLL: Duration = Duration::from_secs(2);

/// How often a waiting MCP call tells its client it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What a waiting call reports to a front that can tell its client (MCP progress).
#[derive(Clone, Debug)]
pub struct HoldProgress {
    /// The approval waited for.
    pub approval_id: String,
    /// How long it has waited.
    pub waited: Duration,
    /// How long it will wait at most.
    pub wait: Duration,
    /// A sentence for the client.
    pub message: String,
}

/// What a front can do for a held call besides answering it: tell its client the call still
/// waits, and ask the user the agent acts for to confirm (MCP elicitation).
pub trait HoldChannel: Send + Sync {
    /// The call still waits (every few seconds).
    fn progress(&self, progress: &HoldProgress);
    /// Asks the user to confirm the call `question` describes; `None` when this client cannot
    /// be asked. The answer: confirmed, declined, or the request failed (its reason).
    fn confirm(&self, question: String) -> Option<ConfirmFuture>;
}

/// The user's answer to [`HoldChannel::confirm`].
pub type ConfirmFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, String>> + Send>>;

/// A front's channel for a held call.
pub type HoldWatch = Arc<dyn HoldChannel>;

/// The approver group that means "the user the agent acts for", asked through the client (MCP
/// elicitation) rather than an operator.
pub const USER_GROUP: &str = portcullis_config::USER_GROUP;

/// The approvals machinery of a running gateway.
pub(crate) struct Approvals {
    pub(crate) store: Arc<dyn ApprovalStore>,
    pub(crate) approvers: Approvers,
    wait: Duration,
    expiry: Duration,
    max_pending: u32,
    /// Distinct approvers each group needs.
    required: HashMap<String, u32>,
    /// `tools[].approval`: the group every call of the tool needs.
    by_tool: HashMap<String, Arc<str>>,
    /// Waiting calls by approval id (the notifier and how many wait on it), woken when a
    /// decision is made in this process; an entry goes when its last waiter does.
    waiters: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
    /// New holds for the webhook task.
    webhook: Option<mpsc::Sender<ApprovalRecord>>,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals")
            .field("wait", &self.wait)
            .field("groups", &self.required.len())
            .finish_non_exhaustive()
    }
}

impl Approvals {
    pub(crate) fn new(
        config: &ApprovalsConfig,
        store: Arc<dyn ApprovalStore>,
        approvers: Approvers,
        by_tool: HashMap<String, Arc<str>>,
        webhook: Option<mpsc::Sender<ApprovalRecord>>,
    ) -> Self {
        Self {
            store,
            approvers,
            wait: config.wait,
            expiry: config.expiry,
            max_pending: config.max_pending_per_agent,
            required: config
                .groups
                .iter()
                .map(|g| (g.name.to_string(), g.required))
                .collect(),
            by_tool,
            waiters: Mutex::new(HashMap::new()),
            webhook,
        }
    }

    /// Wakes the calls waiting on approval `id` (a decision or an expiry).
    pub(crate) fn wake(&self, id: &str) {
        let waiter = self
            .waiters
            .lock()
            .ok()
            .and_then(|waiters| waiters.get(id).map(|(notify, _)| Arc::clone(notify)));
        if let Some(notify) = waiter {
            notify.notify_waiters();
        }
    }

    fn waiter(&self, id: &str) -> Arc<Notify> {
        match self.waiters.lock() {
            Ok(mut waiters) => {
                let entry = waiters.entry(id.to_owned()).or_default();
                entry.1 += 1;
                Arc::clone(&entry.0)
            }
            Err(_) => Arc::new(Notify::new()),
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut waiters) = self.waiters.lock()
            && let Some(entry) = waiters.get_mut(id)
        {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                waiters.remove(id);
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// RFC 3339 (UTC, seconds) of a time in ms since the epoch.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The call an approval covers.
pub(crate) fn binding_of(call: &Call) -> Binding {
    let principal: &Principal = call.principal();
    Binding {
        agent: principal.agent.clone(),
        user: if principal.subject == principal.agent {
            String::new()
        } else {
            principal.subject.clone()
        },
        tool: call.tool().name.clone(),
        args_digest: call.digest().as_str().to_owned(),
    }
}

fn store_failed(err: &dyn std::fmt::Display) -> Denial {
    tracing::error!(%err, "the approval store failed; refusing the call");
    Denial::new(
        DenialKind::Internal,
        "this call needs a person's approval and the approval store is unavailable; it was not run. Try again later",
    )
    .with_internal(format!("approval store: {err}"))
}

/// The answer for a call whose approval is still pending.
fn pending(record: &ApprovalRecord, now: i64) -> Denial {
    let expires = rfc3339(record.expires_at);
    let left = (record.expires_at - now).max(0) / 1000;
    let mut denial = Denial::approval_answer(
        DenialKind::ApprovalPending,
        format!(
            "`{tool}` needs approval by the `{group}` group; approval `{id}` is pending until \
             {expires}. Nothing was run. Repeat this identical call once it is approved (it then \
             runs once), or poll GET /v1/approvals/{id}",
            tool = truncate_for_message(&record.binding.tool, 128),
            group = record.group,
            id = record.id,
        ),
        ApprovalHint {
            id: record.id.clone(),
            status: ApprovalStatus::Pending.as_str().to_owned(),
            expires_at: expires,
            retry_after_secs: u64::try_from(left.clamp(1, 30)).unwrap_or(30),
        },
    );
    denial
        .internal
        .push(format!("approval: pending `{}`", record.id));
    denial
}

/// The answer for a call whose approval was refused, expired, or already used.
fn refused(record: &ApprovalRecord, why: String, line: String) -> Denial {
    let mut denial = Denial::approval_answer(
        DenialKind::ApprovalDenied,
        why,
        ApprovalHint {
            id: record.id.clone(),
            status: record.status.as_str().to_owned(),
            expires_at: rfc3339(record.expires_at),
            retry_after_secs: 1,
        },
    );
    denial.internal.push(line);
    denial
}

fn denied(record: &ApprovalRecord) -> Denial {
    let (approver, reason) = record.denial_reason().unwrap_or(("an approver", None));
    let reason = reason.map_or_else(
        || "no reason given".to_owned(),
        |r| truncate_for_message(r, 256),
    );
    refused(
        record,
        format!(
            "approval `{}` was denied by {approver}: {reason}. The call was not run; do not repeat it unchanged",
            record.id
        ),
        format!("approval: denied `{}` by {approver}", record.id),
    )
}

fn expired(record: &ApprovalRecord) -> Denial {
    refused(
        record,
        format!(
            "approval `{}` expired before it was decided; the call was not run. Repeat it to ask again",
            record.id
        ),
        format!("approval: expired `{}`", record.id),
    )
}

fn used(record: &ApprovalRecord) -> Denial {
    refused(
        record,
        format!(
            "approval `{}` was already used by another identical call; repeat the call to ask again",
            record.id
        ),
        format!("approval: already used `{}`", record.id),
    )
}

impl Gateway {
    /// Stage 8, approve. An empty list: the call needs no approval. Otherwise the approvals
    /// that cover it, one per group that must approve (every group a determining policy's
    /// `@approval` names, and `tools[].approval`); the caller consumes them once the call is
    /// metered ([`Gateway::consume_approval`], each). Or the denial to answer with: pending (after
    /// waiting up to `approvals.wait`), denied, expired, or the store unavailable (fail
    /// closed).
    pub(crate) async fn approve(
        &self,
        ctx: &mut CallContext,
        call: &Permitted<Call>,
        watch: Option<&HoldWatch>,
        in_progress: &mut Option<portcullis_audit::Pending>,
    ) -> Result<Vec<ApprovalRecord>, Denial> {
        let by_tool = self
            .approvals
            .as_ref()
            .filter(|a| !a.by_tool.is_empty())
            .and_then(|a| a.by_tool.get(&call.tool().name));
        if call.approvals().is_empty() && by_tool.is_none() {
            return Ok(Vec::new());
        }
        let mut groups: Vec<Arc<str>> = call.approvals().to_vec();
        if let Some(group) = by_tool
            && !groups.contains(group)
        {
            groups.push(Arc::clone(group));
            groups.sort_unstable();
        }
        let Some(approvals) = &self.approvals else {
            // INVARIANT: `check` refuses `@approval` without an `approvals` section.
            return Err(Denial::new(
                DenialKind::Internal,
                "this call needs approval but no approvers are configured",
            ));
        };
        let binding = binding_of(call);
        let now = now_ms();
        // The operators' groups first, each held at once (so every group hears of it now), then
        // waited on against one deadline; the user's own confirmation last.
        let mut covered = Vec::with_capacity(groups.len());
        let mut waiting = Vec::new();
        for group in groups.iter().filter(|g| g.as_ref() != USER_GROUP) {
            let record = self
                .find_or_hold(ctx, approvals, call, &binding, group, now)
                .await?;
            match record.status {
                ApprovalStatus::Approved => {
                    ctx.approval
                        .push(format!("approval: found approved `{}`", record.id));
                    covered.push(record);
                }
                ApprovalStatus::Denied => return Err(denied(&record)),
                _ => waiting.push(record),
            }
        }
        if !waiting.is_empty() {
            // Waiting for a person is not work in progress for the audit writer's batching.
            in_progress.take();
            let until = Instant::now() + approvals.wait;
            for record in waiting {
                covered.push(self.wait_for(approvals, record, watch, until).await?);
            }
        }
        if groups.iter().any(|g| g.as_ref() == USER_GROUP) {
            covered.push(self.ask_user(ctx, call, watch, in_progress, now).await?);
        }
        Ok(covered)
    }

    /// A call the user the agent acts for must confirm (`@approval("user")`): asked through
    /// the client while the call waits (MCP elicitation); the answer is the user's vote, stored
    /// and recorded like an approver's. A token that names no user, or a client that cannot be
    /// asked, is refused with a reason saying so.
    async fn ask_user(
        &self,
        ctx: &mut CallContext,
        call: &Permitted<Call>,
        watch: Option<&HoldWatch>,
        in_progress: &mut Option<portcullis_audit::Pending>,
        now: i64,
    ) -> Result<ApprovalRecord, Denial> {
        let approvals = self.approvals_or_not_found()?;
        let binding = binding_of(call);
        let cannot = |why: &str| {
            Denial::new(
                DenialKind::ApprovalDenied,
                format!(
                    "`{}` needs the confirmation of the user this agent acts for, {why}; it was not run",
                    truncate_for_message(&call.tool().name, 128)
                ),
            )
        };
        if binding.user.is_empty() {
            return Err(cannot("and this token names no user"));
        }
        let question = format!(
            "The agent `{agent}` asks to call `{tool}` for you with: {args}. Allow it once?",
            agent = truncate_for_message(&binding.agent, 64),
            tool = truncate_for_message(&call.tool().name, 64),
            args = truncate_for_message(
                &self
                    .guards
                    .redact_for_review(&call.tool().name, &Value::Object(call.args().clone()))
                    .to_string(),
                1000
            ),
        );
        let Some(asked) = watch.and_then(|w| w.confirm(question)) else {
            return Err(cannot(
                "and this client cannot ask (use an MCP client that supports elicitation)",
            ));
        };
        let user = binding.user.clone();
        // The question is sent only when the future is polled: not at all for a confirmation
        // given or refused before (the identical call after a refused meter, say).
        let record = self
            .find_or_hold(ctx, approvals, call, &binding, USER_GROUP, now)
            .await?;
        match record.status {
            ApprovalStatus::Approved => {
                ctx.approval
                    .push(format!("approval: found confirmed `{}`", record.id));
                return Ok(record);
            }
            ApprovalStatus::Denied => return Err(denied(&record)),
            _ => {}
        }
        ctx.approval.push(format!(
            "approval: asked user `{}` to confirm `{}`",
            truncate_for_message(&user, 128),
            record.id
        ));
        in_progress.take();
        let answer = match tokio::time::timeout(approvals.wait, asked).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(err)) => {
                ctx.approval.push(format!(
                    "approval: asking the user failed: {}",
                    truncate_for_message(&err, 200)
                ));
                None
            }
            Err(_) => None,
        };
        let Some(approve) = answer else {
            // Nobody else can decide it: the next identical call asks the user again.
            return Err(refused(
                &record,
                format!(
                    "the user did not confirm `{}` (approval `{}`); it was not run. Repeating the identical call asks again",
                    truncate_for_message(&call.tool().name, 128),
                    record.id
                ),
                format!("approval: the user did not answer `{}`", record.id),
            ));
        };
        let vote = Vote {
            approval: record.id.clone(),
            approver: user,
            approve,
            reason: (!approve).then(|| "declined by the user".to_owned()),
            at: now_ms(),
            source: "elicitation".to_owned(),
            // This call's own record tells it.
            recorded: true,
        };
        let decided = approvals
            .store
            .decide(vote)
            .await
            .map_err(|e| store_failed(&e))?;
        let record = decision_result(&record.id, decided)?;
        match record.status {
            ApprovalStatus::Approved => {
                ctx.approval
                    .push(format!("approval: confirmed by the user `{}`", record.id));
                Ok(record)
            }
            ApprovalStatus::Denied => Err(denied(&record)),
            ApprovalStatus::Expired => Err(expired(&record)),
            _ => Err(pending(&record, now_ms())),
        }
    }

    /// The live approval of `call` for `group`, or a new pending hold stored and announced, in
    /// one store transaction (identical calls arriving together share one hold).
    async fn find_or_hold(
        &self,
        ctx: &mut CallContext,
        approvals: &Approvals,
        call: &Permitted<Call>,
        binding: &Binding,
        group: &str,
        now: i64,
    ) -> Result<ApprovalRecord, Denial> {
        let mut reasons: Vec<String> = call
            .policies()
            .iter()
            .filter(|_| call.approvals().iter().any(|g| g.as_ref() == group))
            .cloned()
            .collect();
        if reasons.is_empty() {
            reasons.push(format!("tools[].approval of `{}`", call.tool().name));
        }
        let arguments = self
            .guards
            .redact_for_review(&call.tool().name, &Value::Object(call.args().clone()));
        let expiry_ms = i64::try_from(approvals.expiry.as_millis()).unwrap_or(i64::MAX);
        let candidate = ApprovalRecord {
            id: format!("apr_{}", uuid::Uuid::new_v4().simple()),
            binding: binding.clone(),
            policy_version: call.policy_version().to_owned(),
            group: group.to_owned(),
            // `user` (the acting user) needs no configured approvers: one confirmation.
            required: approvals.required.get(group).copied().unwrap_or(1),
            arguments: arguments.to_string(),
            reasons,
            request_id: ctx.meta.request_id.to_string(),
            created_at: now,
            expires_at: now.saturating_add(expiry_ms),
            status: ApprovalStatus::Pending,
            decided_at: None,
            executed_at: None,
            executed_request: None,
            votes: Vec::new(),
        };
        let held = approvals
            .store
            .find_or_hold(candidate, approvals.max_pending)
            .await
            .map_err(|e| store_failed(&e))?;
        let record = match held {
            Held::Existing(record) => {
                if record.status == ApprovalStatus::Pending {
                    ctx.approval
                        .push(format!("approval: waiting on `{}`", record.id));
                }
                return Ok(record);
            }
            Held::TooMany(waiting) => {
                return Err(Denial::new(
                    DenialKind::RateLimited,
                    format!(
                        "this agent already has {waiting} calls waiting for approval for this user; wait for them to be decided before asking for more"
                    ),
                )
                .with_internal("approval: too many pending holds"));
            }
            Held::Created(record) => record,
        };
        ctx.approval.push(format!(
            "approval: held `{}` for group `{}`",
            record.id, record.group
        ));
        // Operators are told of holds they decide; the user's own confirmation is asked in the
        // client instead.
        if let Some(webhook) = approvals.webhook.as_ref().filter(|_| group != USER_GROUP)
            && webhook.try_send(record.clone()).is_err()
        {
            tracing::warn!(approval = %record.id, "the approvals webhook queue is full; this hold is not announced");
        }
        Ok(record)
    }

    /// Waits up to `approvals.wait` (and never past the expiry) for `record` to be decided.
    async fn wait_for(
        &self,
        approvals: &Approvals,
        record: ApprovalRecord,
        watch: Option<&HoldWatch>,
        until: Instant,
    ) -> Result<ApprovalRecord, Denial> {
        let started = Instant::now();
        let notify = approvals.waiter(&record.id);
        let mut next_progress = started;
        let id = record.id.clone();
        let result = loop {
            // Registered before the read, so a decision between the read and the sleep is not
            // missed.
            let woken = notify.notified();
            let now = now_ms();
            let current = match approvals.store.get(&id).await {
                Ok(Some(current)) => current,
                Ok(None) => break Err(store_failed(&"the held approval disappeared")),
                Err(err) => break Err(store_failed(&err)),
            };
            match current.status {
                ApprovalStatus::Approved => break Ok(current),
                ApprovalStatus::Denied => break Err(denied(&current)),
                ApprovalStatus::Expired => break Err(expired(&current)),
                ApprovalStatus::Executed => break Err(used(&current)),
                ApprovalStatus::Pending if current.expires_at <= now => {
                    break Err(expired(&current));
                }
                ApprovalStatus::Pending => {}
            }
            let at = Instant::now();
            if at >= until {
                break Err(pending(&current, now));
            }
            if let Some(watch) = watch
                && at >= next_progress
            {
                watch.progress(&HoldProgress {
                    approval_id: id.clone(),
                    waited: at - started,
                    wait: approvals.wait,
                    message: format!(
                        "waiting for approval `{id}` by the `{}` group ({} of {} approvals)",
                        current.group,
                        current.approvers().len(),
                        current.required
                    ),
                });
                next_progress = at + PROGRESS_EVERY;
            }
            let nap = POLL.min(until - at);
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(nap) => {}
            }
        };
        approvals.forget(&id);
        result
    }

    /// Marks the approval of a call that is about to run as used; a call whose approval was
    /// used meanwhile (a racing identical call) is refused. Records what covered the call.
    pub(crate) async fn consume_approval(
        &self,
        ctx: &mut CallContext,
        call: &Permitted<Call>,
        record: &ApprovalRecord,
    ) -> Result<(), Denial> {
        let Some(approvals) = &self.approvals else {
            return Err(Denial::new(
                DenialKind::Internal,
                "approvals are not configured",
            ));
        };
        let consumed = approvals
            .store
            .consume(&record.id, &ctx.meta.request_id.to_string(), now_ms())
            .await
            .map_err(|e| store_failed(&e))?;
        if !consumed {
            let current = approvals
                .store
                .get(&record.id)
                .await
                .map_err(|e| store_failed(&e))?
                .unwrap_or_else(|| record.clone());
            let lapsed = current.status == ApprovalStatus::Expired
                || (current.status == ApprovalStatus::Approved && current.expires_at <= now_ms());
            return Err(if lapsed {
                expired(&current)
            } else {
                used(&current)
            });
        }
        ctx.approval.push(format!(
            "approval: executed `{}` approved by {}",
            record.id,
            record.approvers().join(", ")
        ));
        if record.policy_version != call.policy_version() {
            ctx.approval.push(format!(
                "approval: policy set changed since the hold ({} -> {}); authorized again",
                record.policy_version,
                call.policy_version()
            ));
        }
        Ok(())
    }

    /// An approver's vote through the admin API (already authenticated as `approver`, member
    /// of `groups`). The vote is counted in the store and waiting calls are woken; the admin
    /// request's own record names it.
    pub(crate) async fn vote(
        &self,
        id: &str,
        approver: &str,
        groups: &[String],
        approve: bool,
        reason: Option<String>,
    ) -> Result<ApprovalRecord, Denial> {
        let Some(approvals) = &self.approvals else {
            return Err(Denial::new(
                DenialKind::NotFound,
                "approvals are not configured",
            ));
        };
        let record = approvals
            .store
            .get(id)
            .await
            .map_err(|e| store_failed(&e))?
            .ok_or_else(|| unknown_approval(id))?;
        if record.binding.user == approver {
            return Err(Denial::new(
                DenialKind::Forbidden,
                format!("`{approver}` is the user this call acts for and cannot approve it"),
            ));
        }
        if !groups.iter().any(|g| g == &record.group) {
            return Err(Denial::new(
                DenialKind::Forbidden,
                format!(
                    "`{approver}` is not an approver of the `{}` group this approval needs",
                    record.group
                ),
            ));
        }
        let vote = Vote {
            approval: id.to_owned(),
            approver: approver.to_owned(),
            approve,
            reason,
            at: now_ms(),
            source: "admin api".to_owned(),
            recorded: true,
        };
        let decided = approvals
            .store
            .decide(vote)
            .await
            .map_err(|e| store_failed(&e))?;
        let record = decision_result(id, decided)?;
        approvals.wake(id);
        Ok(record)
    }
}

/// The denial for an id no approval has.
pub(crate) fn unknown_approval(id: &str) -> Denial {
    Denial::new(
        DenialKind::NotFound,
        format!("no approval `{}`", truncate_for_message(id, 64)),
    )
}

/// The outcome of a vote as the admin API and the CLI report it.
pub fn decision_result(id: &str, decided: Decided) -> Result<ApprovalRecord, Denial> {
    match decided {
        Decided::Counted(record) => Ok(*record),
        Decided::Unknown => Err(unknown_approval(id)),
        Decided::Expired => Err(Denial::new(
            DenialKind::InvalidArguments,
            format!("approval `{id}` has expired; nothing was run"),
        )),
        Decided::AlreadyDecided(status) => Err(Denial::new(
            DenialKind::InvalidArguments,
            format!(
                "approval `{id}` is already {}; a decision cannot be changed",
                status.as_str()
            ),
        )),
        Decided::AlreadyVoted => Err(Denial::new(
            DenialKind::InvalidArguments,
            format!("you already decided on approval `{id}`; another approver must decide"),
        )),
    }
}

/// An approval as the admin API, the agents' poll and the CLI show it. `full` adds what only
/// approvers see (the redacted arguments and the reasons).
pub fn approval_json(record: &ApprovalRecord, full: bool) -> Value {
    let mut body = json!({
        "id": record.id,
        "status": record.status.as_str(),
        "tool": record.binding.tool,
        "agent": record.binding.agent,
        "user": (!record.binding.user.is_empty()).then_some(&record.binding.user),
        "group": record.group,
        "required": record.required,
        "approved_by": record.approvers(),
        "created_at": rfc3339(record.created_at),
        "expires_at": rfc3339(record.expires_at),
        "decided_at": record.decided_at.map(rfc3339),
        "executed_at": record.executed_at.map(rfc3339),
    });
    if let Some((approver, reason)) = record.denial_reason() {
        body["denied_by"] = json!(approver);
        body["reason"] = json!(reason);
    }
    if full {
        body["arguments"] = serde_json::from_str(&record.arguments).unwrap_or(Value::Null);
        body["args_digest"] = json!(record.binding.args_digest);
        body["policy_version"] = json!(record.policy_version);
        body["required_by"] = json!(record.reasons);
        body["request_id"] = json!(record.request_id);
        body["executed_request"] = json!(record.executed_request);
        body["votes"] = record
            .votes
            .iter()
            .map(|v| {
                json!({
                    "approver": v.approver,
                    "decision": if v.approve { "approve" } else { "deny" },
                    "reason": v.reason,
                    "at": rfc3339(v.at),
                    "source": v.source,
                })
            })
            .collect();
    }
    body
}

/// The approvals surface the admin API, the agents' poll and the console use.
impl Gateway {
    /// Whether human approvals are configured.
    pub fn approvals_enabled(&self) -> bool {
        self.approvals.is_some()
    }

    /// Checks an approver's `Authorization: Basic` credentials (argon2, off the request
    /// threads) from `client_ip`: the approver's id and groups, or `None`. Failures are throttled
    /// per address and the checks in flight bounded, with the token endpoint's client
    /// authentication brake, so the admin listener cannot be used to guess secrets or to tie up
    /// the gateway's CPU.
    pub async fn authenticate_approver(
        self: &Arc<Self>,
        authorization: String,
        client_ip: Option<std::net::IpAddr>,
    ) -> Option<(String, Vec<String>)> {
        self.approvals.as_ref()?;
        let throttle = self.identity.client_auth();
        if throttle.check(client_ip, None, Instant::now()).is_err() {
            return None;
        }
        let permit = throttle.check_permit().await?;
        let gateway = Arc::clone(self);
        let found = tokio::task::spawn_blocking(move || {
            gateway
                .approvals
                .as_ref()
                .and_then(|a| a.approvers.authenticate(&authorization))
        })
        .await
        .ok()
        .flatten();
        drop(permit);
        if found.is_none() {
            throttle.failed(client_ip, None, Instant::now());
        }
        found
    }

    /// Approvals, newest first (`status`: only those), as approvers see them.
    pub async fn list_approvals(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Value>, Denial> {
        let approvals = self.approvals_or_not_found()?;
        let status = match status {
            None => None,
            Some(text) => Some(ApprovalStatus::parse(text).ok_or_else(|| {
                Denial::new(
                    DenialKind::InvalidArguments,
                    "`status` must be one of pending, approved, denied, expired, executed",
                )
            })?),
        };
        let records = approvals
            .store
            .list(status, limit.clamp(1, 1000))
            .await
            .map_err(|e| store_failed(&e))?;
        Ok(records.iter().map(|r| approval_json(r, true)).collect())
    }

    /// One approval as approvers see it.
    pub async fn show_approval(&self, id: &str) -> Result<Value, Denial> {
        let approvals = self.approvals_or_not_found()?;
        let record = approvals
            .store
            .get(id)
            .await
            .map_err(|e| store_failed(&e))?
            .ok_or_else(|| unknown_approval(id))?;
        Ok(approval_json(&record, true))
    }

    /// An approver's decision through the admin API: the approval as it now stands.
    pub async fn decide_approval(
        &self,
        id: &str,
        approver: &str,
        groups: &[String],
        approve: bool,
        reason: Option<String>,
    ) -> Result<Value, Denial> {
        let record = self.vote(id, approver, groups, approve, reason).await?;
        Ok(approval_json(&record, true))
    }

    /// An agent's poll of its own held call (`GET /v1/approvals/{id}`): its state, without
    /// the arguments. Another agent's (or another user's) approval answers like an unknown one.
    pub async fn poll_approval(&self, principal: &Principal, id: &str) -> Result<Value, Denial> {
        let approvals = self.approvals_or_not_found()?;
        let record = approvals
            .store
            .get(id)
            .await
            .map_err(|e| store_failed(&e))?
            .filter(|r| {
                r.binding.agent == principal.agent
                    && (r.binding.user.is_empty() && principal.subject == principal.agent
                        || r.binding.user == principal.subject)
            })
            .ok_or_else(|| unknown_approval(id))?;
        let mut body = approval_json(&record, false);
        body["next"] = json!(match record.status {
            ApprovalStatus::Pending => "wait, then poll again or repeat the identical call",
            ApprovalStatus::Approved => "repeat the identical call now: it runs once",
            ApprovalStatus::Denied => "do not repeat the call unchanged",
            ApprovalStatus::Expired => "repeat the call to ask again",
            ApprovalStatus::Executed => "the approved call has run",
        });
        Ok(body)
    }

    fn approvals_or_not_found(&self) -> Result<&Approvals, Denial> {
        self.approvals.as_ref().ok_or_else(|| {
            Denial::new(
                DenialKind::NotFound,
                "human approvals are not configured (`approvals`)",
            )
        })
    }
}
