//! The single writer task: group commit of queued events into the hash chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row, SqlSafeStr, SqlStr};
use tokio::sync::{mpsc, oneshot};

use crate::record::{COLUMN_COUNT, COLUMN_LIST, CanonicalParts, Columns, GENESIS_HASH};
use crate::{AuditError, Load};

/// Most events the writer commits in one transaction.
pub const MAX_BATCH: usize = 512;

/// Longest the writer holds a commit back to gather the records of calls in progress (see
/// the crate documentation). Tokio's timer counts whole milliseconds, so the wait can reach
/// about twice this.
pub const GATHER_LIMIT: Duration = Duration::from_millis(1);

/// Calls in progress from which on the writer gathers before committing. Below it, commits
/// are immediate: a lightly loaded gateway pays a sync per call or two but adds no wait.
pub const GATHER_SIBLINGS: usize = 8;

/// Rows per multi-row `INSERT` statement. 32 rows of 17 columns stay under SQLite's historical
/// limit of 999 bound parameters.
const ROWS_PER_STATEMENT: usize = 32;

/// The answer to one `record` call.
pub(crate) type Ack = oneshot::Sender<Result<u64, AuditError>>;

/// A request to the writer task.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every command is a record; boxing would add an allocation per call"
)]
pub(crate) enum Command {
    /// Append one record, already converted by the caller; the writer sets `seq`.
    Record {
        columns: Columns,
        parts: CanonicalParts,
        ack: Ack,
    },
    /// Commit everything queued before this command, then stop.
    Close,
}

/// The end of the chain: the last committed sequence number and hash.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Head {
    pub(crate) seq: i64,
    pub(crate) hash: String,
}

impl Head {
    fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// Reads the last committed record, or the genesis head for an empty log.
pub(crate) async fn load_head(conn: &mut SqliteConnection) -> Result<Head, sqlx::Error> {
    let row = sqlx::query("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(row) => Head {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        },
        None => Head::genesis(),
    })
}

/// A record ready to insert: its columns and both hashes.
struct Prepared {
    columns: Columns,
    prev_hash: String,
    hash: String,
}

/// Owns the connection and the chain head. Nothing else writes through this connection.
pub(crate) struct Writer {
    conn: SqliteConnection,
    head: Head,
    /// `inserts[n - 1]` inserts `n` rows.
    inserts: Vec<SqlStr>,
    failed: Arc<AtomicBool>,
    load: Arc<Load>,
}

impl Writer {
    pub(crate) fn new(
        conn: SqliteConnection,
        head: Head,
        failed: Arc<AtomicBool>,
        load: Arc<Load>,
    ) -> Self {
        let inserts = (1..=ROWS_PER_STATEMENT).map(insert_statement).collect();
        Self {
            conn,
            head,
            inserts,
            failed,
            load,
        }
    }

    /// After the first records of a batch arrived: when enough calls are in progress, waits
    /// for their records until as many have arrived, the batch is full, a close arrives or
    /// [`GATHER_LIMIT`] has passed.
    pub(crate) async fn gather(
        &self,
        commands: &mut mpsc::Receiver<Command>,
        queued: &mut Vec<Command>,
    ) {
        let in_progress = self.load.in_progress();
        if in_progress < GATHER_SIBLINGS {
            return;
        }
        let target = (queued.len() + in_progress).min(MAX_BATCH);
        let deadline = tokio::time::Instant::now() + GATHER_LIMIT;
        let mut seen = 0;
        while queued.len() < target {
            let closing = queued
                .get(seen..)
                .unwrap_or_default()
                .iter()
                .any(|command| matches!(command, Command::Close));
            if closing {
                return;
            }
            seen = queued.len();
            tokio::select! {
                biased;
                received = commands.recv_many(queued, MAX_BATCH - queued.len()) => {
                    if received == 0 {
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Serves commands until every handle is gone, `Close` arrives or the log cannot go on.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut queued = Vec::with_capacity(MAX_BATCH);
        let mut closing = false;
        let mut healthy = true;
        while !closing && healthy {
            if commands.recv_many(&mut queued, MAX_BATCH).await == 0 {
                break;
            }
            self.gather(&mut commands, &mut queued).await;
            let mut batch = Vec::with_capacity(queued.len());
            for command in queued.drain(..) {
                match command {
                    // Events queued behind a close are refused, never silently dropped.
                    Command::Record { ack, .. } if closing => {
                        let _ = ack.send(Err(AuditError::Closed));
                    }
                    Command::Record {
                        columns,
                        parts,
                        ack,
                    } => batch.push((columns, parts, ack)),
                    Command::Close => closing = true,
                }
            }
            if !batch.is_empty() {
                healthy = self.commit(batch).await;
            }
        }
        if !healthy {
            self.failed.store(true, Ordering::SeqCst);
        }
        // Refuse whatever is still queued, so no caller waits forever.
        commands.close();
        while let Some(command) = commands.recv().await {
            if let Command::Record { ack, .. } = command {
                let error = if healthy {
                    AuditError::Closed
                } else {
                    AuditError::WriterFailed
                };
                let _ = ack.send(Err(error));
            }
        }
        if let Err(error) = self.conn.close().await {
            tracing::error!(%error, "closing the audit log failed");
        }
    }

    /// Chains, inserts and commits one batch, then answers every caller in it.
    ///
    /// Returns false when the log cannot continue: the chain head is unknown after a failure.
    async fn commit(&mut self, batch: Vec<(Columns, CanonicalParts, Ack)>) -> bool {
        let fits = i64::try_from(batch.len())
            .ok()
            .and_then(|n| self.head.seq.checked_add(n))
            .is_some();
        if !fits {
            tracing::error!("audit sequence numbers are exhausted");
            for (_, _, ack) in batch {
                let _ = ack.send(Err(AuditError::WriterFailed));
            }
            return false;
        }
        let mut acks = Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        let mut head = self.head.clone();
        for (mut columns, parts, ack) in batch {
            // Cannot overflow: checked for the whole batch above.
            let seq = head.seq + 1;
            columns.seq = seq;
            let hash = parts.chain_hash(&head.hash, seq);
            let prev_hash = std::mem::replace(&mut head.hash, hash.clone());
            head.seq = seq;
            rows.push(Prepared {
                columns,
                prev_hash,
                hash,
            });
            acks.push((seq, ack));
        }

        match self.insert(rows).await {
            Ok(()) => {
                self.head = head;
                self.load.committed();
                for (seq, ack) in acks {
                    // seq counts up from 1, so it is positive and fits in u64.
                    let _ = ack.send(Ok(seq.unsigned_abs()));
                }
                true
            }
            Err(error) => {
                tracing::error!(%error, records = acks.len(), "audit batch was not committed");
                let shared = Arc::new(error);
                for (_, ack) in acks {
                    let _ = ack.send(Err(AuditError::Write(Arc::clone(&shared))));
                }
                // The transaction was rolled back; take the head from the database again so the
                // next batch chains onto what is really stored.
                match load_head(&mut self.conn).await {
                    Ok(head) => {
                        self.head = head;
                        true
                    }
                    Err(error) => {
                        tracing::error!(%error, "audit log head cannot be read; writer stops");
                        false
                    }
                }
            }
        }
    }

    /// Inserts the rows atomically. A batch that fits in one statement is one autocommit
    /// `INSERT`, which SQLite commits as its own transaction (with the configured fsync): one
    /// round trip to the database thread instead of three (begin, insert, commit). A larger
    /// batch is inserted in chunks inside an explicit transaction.
    async fn insert(&mut self, rows: Vec<Prepared>) -> Result<(), sqlx::Error> {
        if rows.len() <= ROWS_PER_STATEMENT {
            let query = insert_query(&self.inserts, rows)?;
            query.execute(&mut self.conn).await?;
            return Ok(());
        }
        let mut tx = self.conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Prepared> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
            let query = insert_query(&self.inserts, chunk)?;
            query.execute(&mut *tx).await?;
        }
        tx.commit().await
    }
}

/// One multi-row `INSERT` of at most [`ROWS_PER_STATEMENT`] rows (`inserts[n - 1]` inserts
/// `n`), with its values bound.
fn insert_query(
    inserts: &[SqlStr],
    rows: Vec<Prepared>,
) -> Result<sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>, sqlx::Error> {
    let Some(sql) = inserts.get(rows.len().saturating_sub(1)) else {
        return Err(sqlx::Error::Protocol(
            "insert chunk size out of range".into(),
        ));
    };
    let mut query = sqlx::query(sql.clone());
    for row in rows {
        let c = row.columns;
        query = query
            .bind(c.seq)
            .bind(c.time)
            .bind(c.request_id)
            .bind(c.agent)
            .bind(c.subject)
            .bind(c.client_ip)
            .bind(c.front)
            .bind(c.tool)
            .bind(c.args_digest)
            .bind(c.decision)
            .bind(c.reasons)
            .bind(c.policies)
            .bind(c.upstream_status)
            .bind(c.latency_us)
            .bind(c.policy_version)
            .bind(row.prev_hash)
            .bind(row.hash);
    }
    Ok(query)
}

/// `INSERT INTO audit_records (...) VALUES (?, ...), ...` for `rows` rows.
fn insert_statement(rows: usize) -> SqlStr {
    let placeholders = format!("({})", vec!["?"; COLUMN_COUNT].join(", "));
    let values = vec![placeholders; rows].join(", ");
    // An `Arc<str>` makes the per-batch clone of the statement text a reference count bump.
    let sql: Arc<str> = format!("INSERT INTO audit_records ({COLUMN_LIST}) VALUES {values}").into();
    sqlx::AssertSqlSafe(sql).into_sql_str()
}
