//! Persistence of quota counters in the in-process backend: `limits.db` (SQLite) in the data
//! directory. Counters are loaded at start; each change is queued to a writer task that
//! upserts in batches, so the request path never waits for the disk. A crash may lose the
//! changes of the last moments (the batch not yet written); a clean shutdown flushes them
//! ([`crate::Limits::close`]).

use std::path::Path;

use portcullis_store::StoreError;
use portcullis_store::sqlite::{Database, Schema, Synchronous};
use sqlx::Row as _;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

use crate::LimitsError;

/// The database file's name inside the data folder.
pub const LIMITS_DB_FILE: &str = "limits.db";

/// Rows not updated for this long are dropped at start (longer than any period).
const FORGET_AFTER_SECS: i64 = 40 * 86_400;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS quota_usage (
    key TEXT PRIMARY KEY,
    used INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
";

enum Message {
    Save(String, u64),
    Flush(oneshot::Sender<()>),
}

pub(crate) struct QuotaStore {
    loaded: parking_lot::Mutex<Vec<(String, u64)>>,
    tx: mpsc::UnboundedSender<Message>,
}

impl QuotaStore {
    pub(crate) async fn open(data_dir: &Path) -> Result<Self, LimitsError> {
        let path = data_dir.join(LIMITS_DB_FILE);
        let failed = |source| LimitsError::Store {
            path: path.clone(),
            source,
        };
        let mut conn = Database::new(&path, Synchronous::Normal)
            .open(Schema::Idempotent(SCHEMA))
            .await
            .map_err(|err| match err {
                StoreError::Database { source, .. } => failed(source),
                StoreError::Directory { source, .. } => failed(sqlx::Error::Io(source)),
            })?;
        let now = chrono::Utc::now().timestamp();
        sqlx::query("DELETE FROM quota_usage WHERE updated_at < ?")
            .bind(now - FORGET_AFTER_SECS)
            .execute(&mut conn)
            .await
            .map_err(failed)?;
        let rows = sqlx::query("SELECT key, used FROM quota_usage")
            .fetch_all(&mut conn)
            .await
            .map_err(failed)?;
        let loaded = rows
            .iter()
            .filter_map(|row| {
                let key: String = row.try_get(0).ok()?;
                let used: i64 = row.try_get(1).ok()?;
                Some((key, u64::try_from(used).unwrap_or(0)))
            })
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(conn, rx));
        Ok(Self {
            loaded: parking_lot::Mutex::new(loaded),
            tx,
        })
    }

    /// The counters read at start (taken once).
    pub(crate) async fn current(&self) -> Vec<(String, u64)> {
        std::mem::take(&mut *self.loaded.lock())
    }

    /// Queues the new value of a counter.
    pub(crate) fn save(&self, key: &str, used: u64) {
        if self.tx.send(Message::Save(key.to_owned(), used)).is_err() {
            tracing::error!("the quota writer stopped; quota usage is no longer persisted");
        }
    }

    /// Waits until every queued value is written.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// Writes queued values, as many as are waiting in one transaction.
async fn writer(mut conn: SqliteConnection, mut rx: mpsc::UnboundedReceiver<Message>) {
    let mut batch: Vec<Message> = Vec::new();
    while rx.recv_many(&mut batch, 512).await > 0 {
        let now = chrono::Utc::now().timestamp();
        let mut waiting = Vec::new();
        let result: Result<(), sqlx::Error> = async {
            let mut tx = sqlx::Connection::begin(&mut conn).await?;
            for message in batch.drain(..) {
                match message {
                    Message::Save(key, used) => {
                        sqlx::query(
                            "INSERT INTO quota_usage (key, used, updated_at) VALUES (?, ?, ?) \
                             ON CONFLICT(key) DO UPDATE SET used = excluded.used, \
                             updated_at = excluded.updated_at",
                        )
                        .bind(key)
                        .bind(i64::try_from(used).unwrap_or(i64::MAX))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Message::Flush(done) => waiting.push(done),
                }
            }
            tx.commit().await
        }
        .await;
        batch.clear();
        if let Err(err) = result {
            tracing::error!(%err, "cannot persist quota usage");
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}
