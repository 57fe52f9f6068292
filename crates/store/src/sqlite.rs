//! The one way a store opens its SQLite database.

use std::path::Path;
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

use crate::StoreError;

/// How long a statement waits for a lock held by another connection (another process, such as
/// the CLI next to a running gateway) before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How much a commit waits for the disk (SQLite's `synchronous` in WAL mode).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Synchronous {
    /// Every commit is synced: it survives power loss.
    Full,
    /// Commits are synced at checkpoints: they survive a process crash, not power loss.
    Normal,
}

/// The tables of a store, applied every time its database is opened.
#[derive(Debug)]
pub enum Schema {
    /// SQL written to be run on every open (`CREATE TABLE IF NOT EXISTS ...`).
    Idempotent(&'static str),
    /// Numbered migrations, each applied once and in order by sqlx's migrator, which records
    /// them in the database (`_sqlx_migrations`).
    Migrations(Migrator),
}

/// The SQLite database of one store: its file and how it is opened.
#[derive(Clone, Debug)]
pub struct Database<'a> {
    path: &'a Path,
    synchronous: Synchronous,
    statement_cache: Option<usize>,
}

impl<'a> Database<'a> {
    /// The database at `path`, opened with `synchronous`.
    pub fn new(path: &'a Path, synchronous: Synchronous) -> Self {
        Self {
            path,
            synchronous,
            statement_cache: None,
        }
    }

    /// Keeps up to `capacity` prepared statements on the connection instead of sqlx's default
    /// (100): for a store that sends many distinct statements, such as multi-row inserts of
    /// varying length.
    #[must_use]
    pub fn statement_cache(mut self, capacity: usize) -> Self {
        self.statement_cache = Some(capacity);
        self
    }

    /// Opens the database read-write, creating what is missing: its folder and the folders
    /// above it (owner-only), the file (owner-only), and the tables (`schema`). The connection
    /// uses the WAL journal, the chosen synchronous mode, [`BUSY_TIMEOUT`] and no statement
    /// logging. Must be called inside a Tokio runtime.
    pub async fn open(&self, schema: Schema) -> Result<SqliteConnection, StoreError> {
        let path = self.path.to_owned();
        let prepared = tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::create_private_dir(dir).map_err(|source| StoreError::Directory {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            crate::create_private_file(&path).map_err(|source| StoreError::Database {
                path: path.clone(),
                source: sqlx::Error::Io(source),
            })
        })
        .await;
        let failed = |source| StoreError::Database {
            path: self.path.to_owned(),
            source,
        };
        prepared.map_err(|join| failed(sqlx::Error::Io(std::io::Error::other(join))))??;
        let mut options = common(self.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match self.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            });
        if let Some(capacity) = self.statement_cache {
            options = options.statement_cache_capacity(capacity);
        }
        let mut conn = options.connect().await.map_err(failed)?;
        match schema {
            Schema::Idempotent(sql) => {
                sqlx::raw_sql(sql)
                    .execute(&mut conn)
                    .await
                    .map_err(failed)?;
            }
            Schema::Migrations(migrator) => migrator
                .run(&mut conn)
                .await
                .map_err(|e| failed(sqlx::Error::Migrate(Box::new(e))))?,
        }
        Ok(conn)
    }
}

/// Opens an existing database for reading only (never creating anything), with the same busy
/// timeout and no statement logging: for readers beside a running writer, such as
/// `portcullis audit verify`.
pub async fn open_read_only(path: &Path) -> Result<SqliteConnection, sqlx::Error> {
    common(path).read_only(true).connect().await
}

/// The settings of every connection, read-write or read-only.
fn common(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(BUSY_TIMEOUT)
        .disable_statement_logging()
}
