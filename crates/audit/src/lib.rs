//! The tamper-evident audit log: exactly one record per call, hash-chained, in SQLite.
//!
//! Every record carries a sequence number, the hash of its predecessor and its own hash,
//! `hex(SHA-256(prev_hash || "\n" || canonical_json(record)))`, where the canonical JSON covers
//! the sequence number and every event field and is rebuilt from the stored columns alone. A
//! changed column, a deleted, inserted or reordered row therefore breaks [`verify`] at the first
//! affected record. Removing records from the very end leaves a valid, shorter chain; detecting
//! that needs the head hash anchored outside the database.
//!
//! Design decision: one writer task owns the only write connection and commits in groups. Each
//! [`AuditLog::record`] call queues its event on a bounded channel (back-pressure) and waits;
//! the writer takes up to [`MAX_BATCH`] queued events, chains them in order, inserts them in one
//! transaction and answers every caller only after the commit. With `synchronous=FULL` that is
//! one WAL fsync per batch instead of one per record, and nothing a client was answered for is
//! lost, even on power loss (`NORMAL` only protects against a process crash). A failed batch
//! is answered with errors (the pipeline fails closed) and the writer re-reads the chain head
//! from the database, so it never skips or forks the chain.
//!
//! Group commit only pays when batches are large, and under load they are not by themselves:
//! a commit's sync takes about as long as one call's work on a busy core, so the writer would
//! commit two or three records at a time and pay a sync (tens of microseconds of kernel CPU on
//! a virtual disk), a few WAL frames and two thread switches for each. So the writer gathers,
//! as PostgreSQL's `commit_delay` does: a call counts itself with [`AuditLog::pending`] from
//! its start until it hands over its record. When at least [`GATHER_SIBLINGS`] calls are in
//! progress, the writer waits for their records, for at most [`GATHER_LIMIT`], before it
//! commits; with fewer, it commits at once, so a lightly loaded gateway adds no latency.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use portcullis_config::AuditSync;
use portcullis_core::AuditEvent;
use portcullis_store::StoreError;
use portcullis_store::sqlite::{Database, Schema, Synchronous};
use serde::{Deserialize, Serialize};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{mpsc, oneshot, watch};

mod read;
mod record;
mod writer;

pub use read::{tail, verify};
pub use writer::{GATHER_LIMIT, GATHER_SIBLINGS, MAX_BATCH};

use record::Columns;
use writer::{Command, Writer, load_head};

/// Events that may wait for the writer before `record` itself has to wait.
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// Version 1 of the schema. Applied through sqlx's migrator so later versions can extend it.
const SCHEMA_V1: &str = "
CREATE TABLE audit_records (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    request_id TEXT NOT NULL,
    agent TEXT,
    subject TEXT,
    client_ip TEXT,
    front TEXT NOT NULL,
    tool TEXT,
    args_digest TEXT,
    decision TEXT NOT NULL,
    reasons TEXT NOT NULL,
    policies TEXT NOT NULL,
    upstream_status INTEGER,
    latency_us INTEGER NOT NULL,
    policy_version TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
) STRICT;
CREATE INDEX audit_records_request_id ON audit_records (request_id);
CREATE INDEX audit_records_time ON audit_records (time);
";

/// Why the audit log could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log was closed; no more records are accepted.
    #[error("the audit log is closed")]
    Closed,
    /// A record's columns cannot be decoded into an event.
    #[error("audit record {seq} cannot be decoded: {detail}")]
    Corrupt {
        /// The record's sequence number as stored.
        seq: i64,
        /// What is wrong with it.
        detail: String,
    },
    /// The directory for the database could not be created.
    #[error("cannot create the audit directory `{path}`")]
    CreateDir {
        /// The directory.
        path: String,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The event could not be encoded; it is not in the log.
    #[error("audit event cannot be encoded: {0}")]
    Encode(String),
    /// The database could not be opened.
    #[error("cannot open the audit log `{path}`")]
    Open {
        /// The database file.
        path: String,
        /// The underlying database error.
        #[source]
        source: sqlx::Error,
    },
    /// Reading records failed.
    #[error("cannot read the audit log")]
    Read(#[source] sqlx::Error),
    /// The schema could not be created or upgraded.
    #[error("cannot prepare the audit log schema in `{path}`")]
    Schema {
        /// The database file.
        path: String,
        /// The underlying migration error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// The batch holding this record failed and was rolled back; the record is not in the log.
    #[error("cannot write the audit log")]
    Write(#[source] Arc<sqlx::Error>),
    /// The writer stopped after a failure it could not recover from.
    #[error("the audit writer stopped after a failure")]
    WriterFailed,
}

/// A handle to an open audit log. Cheap to clone; all clones feed the same writer task.
#[derive(Clone, Debug)]
pub struct AuditLog {
    commands: mpsc::Sender<Command>,
    failed: Arc<AtomicBool>,
    /// Closed (sender dropped) when the writer task has finished.
    stopped: watch::Receiver<()>,
    load: Arc<Load>,
}

/// What the handles and the writer share besides the queue.
#[derive(Debug, Default)]
pub(crate) struct Load {
    /// Calls in progress, each to end with one record (see [`AuditLog::pending`]).
    in_progress: AtomicUsize,
    /// Batches committed since the log was opened.
    commits: AtomicU64,
}

impl Load {
    pub(crate) fn in_progress(&self) -> usize {
        self.in_progress.load(Ordering::Relaxed)
    }

    pub(crate) fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

/// A call in progress that will hand a record to the log: while it exists, a busy writer may
/// hold its next commit back (at most [`GATHER_LIMIT`]) so that the record joins that batch.
/// Drop it before handing the record to [`AuditLog::record`].
#[derive(Debug)]
pub struct Pending(Arc<Load>);

impl Pending {
    pub(crate) fn new(load: &Arc<Load>) -> Self {
        load.in_progress.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(load))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path` and starts its writer task.
    ///
    /// Creates the parent directory and the database file owner-only if missing, applies the
    /// schema, switches the database to WAL mode and resumes the chain after the last stored
    /// record. Must be called inside a Tokio runtime.
    pub async fn open(path: &Path, sync: AuditSync) -> Result<Self, AuditError> {
        let open_error = |source| AuditError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = database(path, sync)
            .open(Schema::Migrations(migrator()))
            .await
            .map_err(|err| match err {
                StoreError::Database {
                    source: sqlx::Error::Migrate(source),
                    ..
                } => AuditError::Schema {
                    path: path.display().to_string(),
                    source: *source,
                },
                StoreError::Database { source, .. } => open_error(source),
                StoreError::Directory { path, source } => AuditError::CreateDir {
                    path: path.display().to_string(),
                    source,
                },
            })?;
        let head = load_head(&mut conn).await.map_err(open_error)?;

        let (commands, queue) = mpsc::channel(QUEUE_CAPACITY);
        let (stopped_tx, stopped) = watch::channel(());
        let failed = Arc::new(AtomicBool::new(false));
        let load = Arc::new(Load::default());
        let writer = Writer::new(conn, head, Arc::clone(&failed), Arc::clone(&load));
        tokio::spawn(async move {
            writer.run(queue).await;
            drop(stopped_tx);
        });
        Ok(Self {
            commands,
            failed,
            stopped,
            load,
        })
    }

    /// Counts a call as in progress until the returned guard is dropped: under load the writer
    /// lets the call's record join its next commit instead of syncing without it. Take it when
    /// the call starts; drop it before calling [`AuditLog::record`].
    pub fn pending(&self) -> Pending {
        Pending::new(&self.load)
    }

    /// How many batches (transactions) the writer has committed since the log was opened;
    /// with the records written, it tells how well group commit is batching.
    pub fn commits(&self) -> u64 {
        self.load.commits.load(Ordering::Relaxed)
    }

    /// Appends one record; resolves once it is durably committed; returns its sequence number.
    ///
    /// "Durably" follows the configured [`AuditSync`]: with `Full` the commit survives power
    /// loss, with `Normal` a process crash. An error means the record was not committed and the
    /// caller must fail closed. Dropping the returned future after the event was queued does
    /// not withdraw it: it is still committed.
    pub async fn record(&self, event: AuditEvent) -> Result<u64, AuditError> {
        // The caller's task does the encoding, so the single writer only hashes and inserts.
        let (columns, parts) = Columns::from_event(event).map_err(|m| AuditError::Encode(m.0))?;
        let (ack, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Record {
                columns,
                parts,
                ack,
            })
            .await
            .is_err()
        {
            return Err(self.stopped_error());
        }
        answer.await.unwrap_or_else(|_| Err(self.stopped_error()))
    }

    /// Flushes and stops the writer.
    ///
    /// Events queued before the call are committed; later `record` calls fail with
    /// [`AuditError::Closed`]. Returns once the database connection is closed. Closing twice
    /// is harmless.
    pub async fn close(&self) {
        // A failed send means the writer is already stopping; wait for it all the same.
        let _ = self.commands.send(Command::Close).await;
        let mut stopped = self.stopped.clone();
        while stopped.changed().await.is_ok() {}
    }

    fn stopped_error(&self) -> AuditError {
        if self.failed.load(Ordering::SeqCst) {
            AuditError::WriterFailed
        } else {
            AuditError::Closed
        }
    }
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct VerifyReport {
    /// How many records the log holds (all are read, also after a break).
    pub records: u64,
    /// The first record that breaks the chain, if any.
    pub first_broken: Option<Broken>,
}

impl VerifyReport {
    /// True when every record verified.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// The first record at which the chain does not verify.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Broken {
    /// Its sequence number as stored.
    pub seq: u64,
    /// Its request id as stored (empty when unreadable).
    pub request_id: String,
    /// What failed: `hash mismatch`, `previous hash does not match record N`,
    /// `sequence gap after N` or `malformed record: ...`.
    pub reason: String,
}

/// One record as stored: the event plus its place in the chain.
///
/// Serialises to one flat JSON object: `seq`, every event field, `prev_hash`, `hash`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct StoredRecord {
    /// The sequence number, counting from 1 without gaps.
    pub seq: u64,
    /// The event the pipeline recorded.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The previous record's hash (64 zeros for the first record).
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// The log's database: synced as configured, and room in the statement cache for the insert
/// of every batch size.
fn database(path: &Path, sync: AuditSync) -> Database<'_> {
    let synchronous = match sync {
        AuditSync::Full => Synchronous::Full,
        AuditSync::Normal => Synchronous::Normal,
    };
    Database::new(path, synchronous).statement_cache(200)
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "audit records".into(),
        MigrationType::Simple,
        sqlx::SqlStr::from_static(SCHEMA_V1),
        false,
    )])
}

/// Opens an existing log for reading only; never creates a file.
async fn read_only_connection(path: &Path) -> Result<SqliteConnection, AuditError> {
    portcullis_store::sqlite::open_read_only(path)
        .await
        .map_err(|source| AuditError::Open {
            path: path.display().to_string(),
            source,
        })
}

#[cfg(test)]
mod tests;
