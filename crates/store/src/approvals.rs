//! Human approvals of held calls, behind [`ApprovalStore`] so that the embedded SQLite store
//! ([`SqliteApprovals`], `approvals.db` in the data folder) and a shared PostgreSQL one fit the
//! same interface.
//!
//! Design decisions:
//! - An approval is bound to one call: agent, acting user, tool and the digest of the canonical
//!   arguments, plus the policy-set version that decided it and an expiry. The store keeps no
//!   plaintext arguments that could be replayed: what it keeps for approvers to read is the
//!   DLP-redacted copy the pipeline hands it.
//! - Every state change is one conditional statement or one `BEGIN IMMEDIATE` transaction, so
//!   that two approvers racing, or an approval racing the agent's retry, serialize on the
//!   database, also across processes (the CLI beside a running gateway): an approval moves from
//!   `approved` to `executed` exactly once ([`ApprovalStore::consume`]).
//! - Decisions are votes, one per approver: a group can require several distinct approvers
//!   (the two-person rule); one refusal decides at once. Each vote carries a `recorded` flag:
//!   the running gateway writes the vote into the audit chain (the CLI cannot: the chain has
//!   one writer) and marks it.
//! - Times are milliseconds since the Unix epoch.

use std::path::{Path, PathBuf};

use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use tokio::sync::Mutex;

use crate::StoreError;
use crate::grants::StoreFuture;
use crate::sqlite::{Database, Schema, Synchronous};

/// The approval store's file inside the data folder.
pub const APPROVALS_DB_FILE: &str = "approvals.db";

/// Where a held call stands.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ApprovalStatus {
    /// Waiting for approvers.
    Pending,
    /// Approved by enough approvers; not run yet.
    Approved,
    /// Refused by an approver.
    Denied,
    /// Not decided (or not run) before its expiry.
    Expired,
    /// Approved and run; it covers nothing more.
    Executed,
}

impl ApprovalStatus {
    /// The stored (and displayed) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Executed => "executed",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "expired" => Self::Expired,
            "executed" => Self::Executed,
            _ => return None,
        })
    }
}

/// What an approval covers: exactly one call.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Binding {
    /// The agent (client id) that called.
    pub agent: String,
    /// The user it acted for (a delegated token's subject); empty when it acted as itself.
    pub user: String,
    /// The tool.
    pub tool: String,
    /// SHA-256 (hex) of the canonical JSON of the arguments.
    pub args_digest: String,
}

/// One approver's decision.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Vote {
    /// The approval it is about.
    pub approval: String,
    /// The approver's id.
    pub approver: String,
    /// Approve (`true`) or deny.
    pub approve: bool,
    /// The approver's reason, if given.
    pub reason: Option<String>,
    /// When, ms since the epoch.
    pub at: i64,
    /// Where it was given: `admin api` or `cli`.
    pub source: String,
    /// Whether it is already in the audit chain (the admin API records its own requests; the
    /// CLI's votes are recorded by the running gateway).
    pub recorded: bool,
}

/// A held call and what became of it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ApprovalRecord {
    /// The approval id (unguessable).
    pub id: String,
    /// The call it covers.
    pub binding: Binding,
    /// The version of the policy set that permitted the call when it was held.
    pub policy_version: String,
    /// The approver group that must decide.
    pub group: String,
    /// How many distinct approvers must approve.
    pub required: u32,
    /// The arguments as approvers see them: DLP-redacted JSON.
    pub arguments: String,
    /// Why approval is needed: the policy ids carrying `@approval`, or `tool`.
    pub reasons: Vec<String>,
    /// The request that was held.
    pub request_id: String,
    /// When it was held, ms since the epoch.
    pub created_at: i64,
    /// When it expires, ms since the epoch.
    pub expires_at: i64,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// When it was approved or denied.
    pub decided_at: Option<i64>,
    /// When it ran, and the request that ran it.
    pub executed_at: Option<i64>,
    /// The request that ran it.
    pub executed_request: Option<String>,
    /// The votes so far, oldest first.
    pub votes: Vec<Vote>,
}

impl ApprovalRecord {
    /// The reason of the refusing vote, when it was denied.
    pub fn denial_reason(&self) -> Option<(&str, Option<&str>)> {
        self.votes
            .iter()
            .find(|v| !v.approve)
            .map(|v| (v.approver.as_str(), v.reason.as_deref()))
    }

    /// The approvers who approved, in order.
    pub fn approvers(&self) -> Vec<&str> {
        self.votes
            .iter()
            .filter(|v| v.approve)
            .map(|v| v.approver.as_str())
            .collect()
    }
}

/// What [`ApprovalStore::find_or_hold`] found or did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Held {
    /// A live approval of the call and group already exists.
    Existing(ApprovalRecord),
    /// The candidate is now a pending hold.
    Created(ApprovalRecord),
    /// The agent and user already have this many pending holds; nothing was stored.
    TooMany(u32),
}

/// What a vote did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Decided {
    /// The vote was counted; the approval as it now stands (approved, denied, or still pending
    /// for more approvers).
    Counted(Box<ApprovalRecord>),
    /// No approval has this id.
    Unknown,
    /// The approval expired before the vote.
    Expired,
    /// The approval was already decided (or run): its status.
    AlreadyDecided(ApprovalStatus),
    /// This approver already voted on it.
    AlreadyVoted,
}

/// Where approvals live. Implementations must make [`ApprovalStore::decide`] and
/// [`ApprovalStore::consume`] atomic against concurrent callers, other processes included.
pub trait ApprovalStore: Send + Sync + std::fmt::Debug {
    /// Stores a new pending approval.
    fn create(&self, record: ApprovalRecord) -> StoreFuture<'_, ()>;
    /// The approval with this id and its votes.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApprovalRecord>>;
    /// In one transaction: the live approval of the candidate's call and group (see
    /// [`ApprovalStore::find`]), or else the candidate stored as a new pending hold, unless the
    /// agent and user already have `max_pending` pending holds. Two identical calls arriving
    /// together so get one hold.
    fn find_or_hold(&self, candidate: ApprovalRecord, max_pending: u32) -> StoreFuture<'_, Held>;
    /// The approval of this call that decides it at `now` (pending, approved or denied, and not
    /// expired): a denial first, then an approval, then the newest pending hold.
    fn find<'a>(
        &'a self,
        binding: &'a Binding,
        now: i64,
    ) -> StoreFuture<'a, Option<ApprovalRecord>>;
    /// Approvals, newest first: those with `status` (all when `None`), at most `limit`.
    fn list(
        &self,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<ApprovalRecord>>;
    /// Counts `vote` on its approval: a refusal denies it; approvals approve it once `required`
    /// distinct approvers agree.
    fn decide(&self, vote: Vote) -> StoreFuture<'_, Decided>;
    /// Marks an approved approval as run by `request_id`; `false` when it is not (or no longer)
    /// approved and unexpired at `now`, so that it runs at most once.
    fn consume<'a>(&'a self, id: &'a str, request_id: &'a str, now: i64) -> StoreFuture<'a, bool>;
    /// Marks every pending or approved approval whose expiry is past at `now` as expired and
    /// returns them.
    fn expire_due(&self, now: i64) -> StoreFuture<'_, Vec<ApprovalRecord>>;
    /// Votes not yet written into the audit chain, oldest first.
    fn unrecorded_votes(&self) -> StoreFuture<'_, Vec<Vote>>;
    /// Marks a vote as written into the audit chain.
    fn mark_recorded<'a>(&'a self, approval: &'a str, approver: &'a str) -> StoreFuture<'a, ()>;
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    user_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    args_digest TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    approver_group TEXT NOT NULL,
    required INTEGER NOT NULL,
    arguments TEXT NOT NULL,
    reasons TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    decided_at INTEGER,
    executed_at INTEGER,
    executed_request TEXT
);
CREATE INDEX IF NOT EXISTS approvals_by_call ON approvals (agent, tool, args_digest);
CREATE INDEX IF NOT EXISTS approvals_by_status ON approvals (status, expires_at);
CREATE TABLE IF NOT EXISTS approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    approver TEXT NOT NULL,
    approve INTEGER NOT NULL,
    reason TEXT,
    at INTEGER NOT NULL,
    source TEXT NOT NULL,
    recorded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (approval_id, approver)
);
CREATE INDEX IF NOT EXISTS votes_unrecorded ON approval_votes (recorded, at);
";

/// The embedded approval store: `approvals.db` in the data folder.
#[derive(Debug)]
pub struct SqliteApprovals {
    path: PathBuf,
    conn: Mutex<SqliteConnection>,
}

impl SqliteApprovals {
    /// Opens (creating owner-only if missing) `data_dir/approvals.db`.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(APPROVALS_DB_FILE);
        let conn = Database::new(&path, Synchronous::Full)
            .open(Schema::Idempotent(SCHEMA))
            .await?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn failed(&self, source: sqlx::Error) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            source,
        }
    }
}

/// The columns [`approval_row`] reads, in its order.
macro_rules! approval_columns {
    () => {
        "id, agent, user_id, tool, args_digest, policy_version, approver_group, required, \
         arguments, reasons, request_id, created_at, expires_at, status, decided_at, \
         executed_at, executed_request"
    };
}

fn approval_row(row: &SqliteRow) -> Result<ApprovalRecord, sqlx::Error> {
    let decode =
        |index: &str, e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::ColumnDecode {
            index: index.to_owned(),
            source: e,
        };
    let reasons: String = row.try_get(9)?;
    let status: String = row.try_get(13)?;
    let required: i64 = row.try_get(7)?;
    Ok(ApprovalRecord {
        id: row.try_get(0)?,
        binding: Binding {
            agent: row.try_get(1)?,
            user: row.try_get(2)?,
            tool: row.try_get(3)?,
            args_digest: row.try_get(4)?,
        },
        policy_version: row.try_get(5)?,
        group: row.try_get(6)?,
        required: u32::try_from(required).map_err(|e| decode("required", Box::new(e)))?,
        arguments: row.try_get(8)?,
        reasons: serde_json::from_str(&reasons).map_err(|e| decode("reasons", Box::new(e)))?,
        request_id: row.try_get(10)?,
        created_at: row.try_get(11)?,
        expires_at: row.try_get(12)?,
        status: ApprovalStatus::parse(&status)
            .ok_or_else(|| decode("status", format!("unknown status `{status}`").into()))?,
        decided_at: row.try_get(14)?,
        executed_at: row.try_get(15)?,
        executed_request: row.try_get(16)?,
        votes: Vec::new(),
    })
}

fn vote_row(row: &SqliteRow) -> Result<Vote, sqlx::Error> {
    let approve: i64 = row.try_get(2)?;
    let recorded: i64 = row.try_get(6)?;
    Ok(Vote {
        recorded: recorded != 0,
        approval: row.try_get(0)?,
        approver: row.try_get(1)?,
        approve: approve != 0,
        reason: row.try_get(3)?,
        at: row.try_get(4)?,
        source: row.try_get(5)?,
    })
}

async fn votes_of(conn: &mut SqliteConnection, id: &str) -> Result<Vec<Vote>, sqlx::Error> {
    sqlx::query(
        "SELECT approval_id, approver, approve, reason, at, source, recorded \
         FROM approval_votes WHERE approval_id = ?1 ORDER BY at, approver",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(vote_row)
    .collect()
}

async fn load(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<ApprovalRecord>, sqlx::Error> {
    let row = sqlx::query(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE id = ?1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut record = approval_row(&row)?;
    record.votes = votes_of(conn, id).await?;
    Ok(Some(record))
}

/// Runs `work` inside `BEGIN IMMEDIATE ... COMMIT`: the write lock is taken first, so a
/// read-then-write cannot be overtaken by another connection (another process's included).
/// The transaction is sqlx's: an error, a failed commit or a cancelled future rolls it back, so
/// the shared connection is never left inside an open transaction.
async fn immediate<T>(
    conn: &mut SqliteConnection,
    work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    use sqlx::Connection as _;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let value = work(&mut tx).await?;
    tx.commit().await?;
    Ok(value)
}

/// The live approval of `binding` for `group` at `now` that decides it: a denial first (a
/// refused call stays refused), then an approval, then the newest pending hold.
async fn live(
    conn: &mut SqliteConnection,
    binding: &Binding,
    group: Option<&str>,
    now: i64,
) -> Result<Option<ApprovalRecord>, sqlx::Error> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM approvals WHERE agent = ?1 AND user_id = ?2 AND tool = ?3 \
         AND args_digest = ?4 AND (?6 IS NULL OR approver_group = ?6) \
         AND status IN ('pending', 'approved', 'denied') AND expires_at > ?5 \
         ORDER BY CASE status WHEN 'denied' THEN 0 WHEN 'approved' THEN 1 ELSE 2 END, \
         created_at DESC LIMIT 1",
    )
    .bind(&binding.agent)
    .bind(&binding.user)
    .bind(&binding.tool)
    .bind(&binding.args_digest)
    .bind(now)
    .bind(group)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => load(conn, &id).await,
        None => Ok(None),
    }
}

async fn insert(conn: &mut SqliteConnection, record: &ApprovalRecord) -> Result<(), sqlx::Error> {
    let reasons =
        serde_json::to_string(&record.reasons).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO approvals (id, agent, user_id, tool, args_digest, policy_version, \
         approver_group, required, arguments, reasons, request_id, created_at, \
         expires_at, status) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
    .bind(&record.id)
    .bind(&record.binding.agent)
    .bind(&record.binding.user)
    .bind(&record.binding.tool)
    .bind(&record.binding.args_digest)
    .bind(&record.policy_version)
    .bind(&record.group)
    .bind(i64::from(record.required))
    .bind(&record.arguments)
    .bind(reasons)
    .bind(&record.request_id)
    .bind(record.created_at)
    .bind(record.expires_at)
    .bind(record.status.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl ApprovalStore for SqliteApprovals {
    fn create(&self, record: ApprovalRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            insert(&mut conn, &record).await.map_err(|e| self.failed(e))
        })
    }

    fn find_or_hold(&self, candidate: ApprovalRecord, max_pending: u32) -> StoreFuture<'_, Held> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let now = candidate.created_at;
            immediate(&mut conn, async |conn: &mut SqliteConnection| {
                if let Some(existing) =
                    live(conn, &candidate.binding, Some(&candidate.group), now).await?
                {
                    return Ok(Held::Existing(existing));
                }
                let pending: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM approvals WHERE agent = ?1 AND user_id = ?2 \
                     AND status = 'pending' AND expires_at > ?3",
                )
                .bind(&candidate.binding.agent)
                .bind(&candidate.binding.user)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                let pending = u32::try_from(pending).unwrap_or(u32::MAX);
                if pending >= max_pending {
                    return Ok(Held::TooMany(pending));
                }
                insert(conn, &candidate).await?;
                Ok(Held::Created(candidate))
            })
            .await
            .map_err(|e| self.failed(e))
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApprovalRecord>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            load(&mut conn, id).await.map_err(|e| self.failed(e))
        })
    }

    fn find<'a>(
        &'a self,
        binding: &'a Binding,
        now: i64,
    ) -> StoreFuture<'a, Option<ApprovalRecord>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            live(&mut conn, binding, None, now)
                .await
                .map_err(|e| self.failed(e))
        })
    }

    fn list(
        &self,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<ApprovalRecord>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let result: Result<_, sqlx::Error> = async {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    approval_columns!(),
                    " FROM approvals WHERE (?1 IS NULL OR status = ?1) \
                     ORDER BY created_at DESC LIMIT ?2"
                ))
                .bind(status.map(ApprovalStatus::as_str))
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
                let mut records = Vec::with_capacity(rows.len());
                for row in &rows {
                    let mut record = approval_row(row)?;
                    record.votes = votes_of(&mut conn, &record.id).await?;
                    records.push(record);
                }
                Ok(records)
            }
            .await;
            result.map_err(|e| self.failed(e))
        })
    }

    fn decide(&self, vote: Vote) -> StoreFuture<'_, Decided> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            immediate(&mut conn, async |conn: &mut SqliteConnection| {
                let Some(record) = load(conn, &vote.approval).await? else {
                    return Ok(Decided::Unknown);
                };
                match record.status {
                    ApprovalStatus::Pending if record.expires_at <= vote.at => {
                        return Ok(Decided::Expired);
                    }
                    ApprovalStatus::Pending => {}
                    ApprovalStatus::Expired => return Ok(Decided::Expired),
                    other => return Ok(Decided::AlreadyDecided(other)),
                }
                if record.votes.iter().any(|v| v.approver == vote.approver) {
                    return Ok(Decided::AlreadyVoted);
                }
                sqlx::query(
                    "INSERT INTO approval_votes (approval_id, approver, approve, reason, at, \
                     source, recorded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(&vote.approval)
                .bind(&vote.approver)
                .bind(i64::from(vote.approve))
                .bind(&vote.reason)
                .bind(vote.at)
                .bind(&vote.source)
                .bind(i64::from(vote.recorded))
                .execute(&mut *conn)
                .await?;
                let approvals =
                    record.votes.iter().filter(|v| v.approve).count() + usize::from(vote.approve);
                let status = if !vote.approve {
                    Some(ApprovalStatus::Denied)
                } else if approvals >= record.required as usize {
                    Some(ApprovalStatus::Approved)
                } else {
                    None
                };
                if let Some(status) = status {
                    sqlx::query(
                        "UPDATE approvals SET status = ?1, decided_at = ?2 WHERE id = ?3 \
                         AND status = 'pending'",
                    )
                    .bind(status.as_str())
                    .bind(vote.at)
                    .bind(&vote.approval)
                    .execute(&mut *conn)
                    .await?;
                }
                let record = load(conn, &vote.approval).await?;
                Ok(record.map_or(Decided::Unknown, |r| Decided::Counted(Box::new(r))))
            })
            .await
            .map_err(|e| self.failed(e))
        })
    }

    fn consume<'a>(&'a self, id: &'a str, request_id: &'a str, now: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let done = sqlx::query(
                "UPDATE approvals SET status = 'executed', executed_at = ?1, \
                 executed_request = ?2 WHERE id = ?3 AND status = 'approved' AND expires_at > ?1",
            )
            .bind(now)
            .bind(request_id)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(|e| self.failed(e))?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn expire_due(&self, now: i64) -> StoreFuture<'_, Vec<ApprovalRecord>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            immediate(&mut conn, async |conn: &mut SqliteConnection| {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM approvals WHERE status IN ('pending', 'approved') \
                     AND expires_at <= ?1 ORDER BY expires_at",
                )
                .bind(now)
                .fetch_all(&mut *conn)
                .await?;
                let mut expired = Vec::with_capacity(ids.len());
                for id in &ids {
                    sqlx::query("UPDATE approvals SET status = 'expired' WHERE id = ?1")
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    if let Some(record) = load(conn, id).await? {
                        expired.push(record);
                    }
                }
                Ok(expired)
            })
            .await
            .map_err(|e| self.failed(e))
        })
    }

    fn unrecorded_votes(&self) -> StoreFuture<'_, Vec<Vote>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let rows = sqlx::query(
                "SELECT approval_id, approver, approve, reason, at, source, recorded \
                 FROM approval_votes WHERE recorded = 0 ORDER BY at LIMIT 1000",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.failed(e))?;
            rows.iter()
                .map(vote_row)
                .collect::<Result<_, _>>()
                .map_err(|e| self.failed(e))
        })
    }

    fn mark_recorded<'a>(&'a self, approval: &'a str, approver: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            sqlx::query(
                "UPDATE approval_votes SET recorded = 1 WHERE approval_id = ?1 AND approver = ?2",
            )
            .bind(approval)
            .bind(approver)
            .execute(&mut *conn)
            .await
            .map_err(|e| self.failed(e))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, digest: &str, required: u32, expires_at: i64) -> ApprovalRecord {
        ApprovalRecord {
            id: id.to_owned(),
            binding: Binding {
                agent: "demo-agent".to_owned(),
                user: String::new(),
                tool: "refundOrder".to_owned(),
                args_digest: digest.to_owned(),
            },
            policy_version: "v1".to_owned(),
            group: "finance".to_owned(),
            required,
            arguments: "{\"amount_cents\":25000}".to_owned(),
            reasons: vec!["large-refunds".to_owned()],
            request_id: "r1".to_owned(),
            created_at: 1_000,
            expires_at,
            status: ApprovalStatus::Pending,
            decided_at: None,
            executed_at: None,
            executed_request: None,
            votes: Vec::new(),
        }
    }

    fn vote(id: &str, approver: &str, approve: bool, at: i64) -> Vote {
        Vote {
            approval: id.to_owned(),
            approver: approver.to_owned(),
            approve,
            reason: Some("checked".to_owned()),
            at,
            source: "cli".to_owned(),
            recorded: false,
        }
    }

    #[tokio::test]
    async fn an_approval_runs_once_and_covers_only_its_call() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteApprovals::open(dir.path()).await.unwrap();
        store.create(record("a1", "d1", 1, 10_000)).await.unwrap();
        let binding = record("a1", "d1", 1, 10_000).binding;
        let other = Binding {
            args_digest: "d2".to_owned(),
            ..binding.clone()
        };
        assert!(store.find(&other, 2_000).await.unwrap().is_none());
        assert!(!store.consume("a1", "r2", 2_000).await.unwrap(), "pending");
        let Decided::Counted(now) = store
            .decide(vote("a1", "alice", true, 2_000))
            .await
            .unwrap()
        else {
            panic!("vote not counted")
        };
        assert_eq!(now.status, ApprovalStatus::Approved);
        assert_eq!(
            store.decide(vote("a1", "bob", true, 2_001)).await.unwrap(),
            Decided::AlreadyDecided(ApprovalStatus::Approved)
        );
        assert_eq!(store.find(&binding, 2_000).await.unwrap().unwrap().id, "a1");
        assert!(store.consume("a1", "r2", 3_000).await.unwrap());
        assert!(
            !store.consume("a1", "r3", 3_000).await.unwrap(),
            "single use"
        );
        assert!(store.find(&binding, 3_000).await.unwrap().is_none());
        let got = store.get("a1").await.unwrap().unwrap();
        assert_eq!(got.status, ApprovalStatus::Executed);
        assert_eq!(got.executed_request.as_deref(), Some("r2"));
    }

    #[tokio::test]
    async fn two_approvers_are_needed_when_the_group_says_so_and_one_refusal_decides() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteApprovals::open(dir.path()).await.unwrap();
        store.create(record("a1", "d1", 2, 10_000)).await.unwrap();
        store.create(record("a2", "d2", 2, 10_000)).await.unwrap();
        let Decided::Counted(first) = store
            .decide(vote("a1", "alice", true, 2_000))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(first.status, ApprovalStatus::Pending);
        assert_eq!(
            store
                .decide(vote("a1", "alice", true, 2_001))
                .await
                .unwrap(),
            Decided::AlreadyVoted
        );
        let Decided::Counted(second) = store.decide(vote("a1", "bob", true, 2_002)).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(second.status, ApprovalStatus::Approved);
        assert_eq!(second.approvers(), ["alice", "bob"]);
        store
            .decide(vote("a2", "alice", true, 2_000))
            .await
            .unwrap();
        let Decided::Counted(denied) = store.decide(vote("a2", "bob", false, 2_001)).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(denied.status, ApprovalStatus::Denied);
        assert_eq!(denied.denial_reason(), Some(("bob", Some("checked"))));
        assert_eq!(store.unrecorded_votes().await.unwrap().len(), 4);
        store.mark_recorded("a1", "alice").await.unwrap();
        assert_eq!(store.unrecorded_votes().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn holds_expire_on_time_and_cannot_be_decided_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteApprovals::open(dir.path()).await.unwrap();
        store.create(record("a1", "d1", 1, 5_000)).await.unwrap();
        assert_eq!(
            store
                .find_or_hold(record("a2", "d2", 1, 10_000), 1)
                .await
                .unwrap(),
            Held::TooMany(1),
            "one pending hold is the cap here"
        );
        assert_eq!(
            store
                .decide(vote("a1", "alice", true, 5_000))
                .await
                .unwrap(),
            Decided::Expired
        );
        assert!(store.expire_due(4_999).await.unwrap().is_empty());
        let expired = store.expire_due(5_000).await.unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].status, ApprovalStatus::Expired);
        assert_eq!(
            store
                .decide(vote("a1", "alice", true, 5_001))
                .await
                .unwrap(),
            Decided::Expired
        );
        assert_eq!(
            store
                .decide(vote("zz", "alice", true, 5_001))
                .await
                .unwrap(),
            Decided::Unknown
        );
        // Reopening finds the same state (survives a restart).
        drop(store);
        let store = SqliteApprovals::open(dir.path()).await.unwrap();
        assert_eq!(
            store.get("a1").await.unwrap().unwrap().status,
            ApprovalStatus::Expired
        );
    }

    #[tokio::test]
    async fn racing_consumers_on_two_connections_run_the_call_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = std::sync::Arc::new(SqliteApprovals::open(dir.path()).await.unwrap());
        let second = std::sync::Arc::new(SqliteApprovals::open(dir.path()).await.unwrap());
        first.create(record("a1", "d1", 1, 10_000)).await.unwrap();
        first
            .decide(vote("a1", "alice", true, 2_000))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = if i % 2 == 0 { &first } else { &second };
            let store = std::sync::Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                store.consume("a1", &format!("r{i}"), 3_000).await.unwrap()
            }));
        }
        let mut won = 0;
        for task in tasks {
            won += usize::from(task.await.unwrap());
        }
        assert_eq!(won, 1);
    }

    #[tokio::test]
    async fn identical_calls_together_get_one_hold_and_a_denial_outranks_a_newer_hold() {
        let dir = tempfile::tempdir().unwrap();
        let first = std::sync::Arc::new(SqliteApprovals::open(dir.path()).await.unwrap());
        let second = std::sync::Arc::new(SqliteApprovals::open(dir.path()).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = std::sync::Arc::clone(if i % 2 == 0 { &first } else { &second });
            tasks.push(tokio::spawn(async move {
                store
                    .find_or_hold(record(&format!("h{i}"), "d1", 1, 10_000), 20)
                    .await
                    .unwrap()
            }));
        }
        let mut created = 0;
        for task in tasks {
            if matches!(task.await.unwrap(), Held::Created(_)) {
                created += 1;
            }
        }
        assert_eq!(created, 1, "one hold for identical calls");
        let live = first
            .find(&record("x", "d1", 1, 0).binding, 2_000)
            .await
            .unwrap()
            .unwrap();
        first
            .decide(vote(&live.id, "alice", false, 2_000))
            .await
            .unwrap();
        // A newer pending hold of the same call (another group) does not hide the denial.
        let mut other = record("later", "d1", 1, 10_000);
        other.group = "security".to_owned();
        other.created_at = 3_000;
        assert!(matches!(
            first.find_or_hold(other, 20).await.unwrap(),
            Held::Created(_)
        ));
        let found = first
            .find(&record("x", "d1", 1, 0).binding, 3_500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.status, ApprovalStatus::Denied);
    }
}
