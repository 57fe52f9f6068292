//! The embedded stores' common ground: where their files live and how their databases are
//! opened.
//!
//! Portcullis keeps its durable state in the data folder: revocations (`identity.db`), quota
//! usage (`limits.db`) and, by default, the audit log (`audit.db`), beside the signing keys.
//! Each of those stores used to open its database its own way; this crate is the one place that
//! does it, so that every store gets the same settings and the same file permissions.
//!
//! Design decisions:
//! - Whichever store runs first creates the folder, so the folder is created owner-only (0700)
//!   by every store ([`create_private_dir`]), and each database file is created owner-only
//!   (0600) before SQLite opens it; SQLite gives its `-wal` and `-shm` files the permissions of
//!   the database file, so they are owner-only too. Existing folders and files are left as they
//!   are: an operator may have loosened them on purpose.
//! - A SQLite database is opened in one way ([`sqlite::Database`]): WAL journal, a synchronous
//!   mode the store chooses (how much a commit waits for the disk), a busy timeout for locks
//!   held by another process (the CLI and a running gateway share the files), statement logging
//!   off (statements carry token ids and agent names), and the store's schema applied.
//! - Stores that may later also live in PostgreSQL sit behind traits here, so that SQLite and
//!   PostgreSQL both fit: the interactive sign-in grants ([`grants::GrantStore`], embedded as
//!   [`grants::SqliteGrants`]) and the human approvals of held calls
//!   ([`approvals::ApprovalStore`], embedded as [`approvals::SqliteApprovals`]). Stores still to
//!   come (anomaly baselines) follow them.

pub mod approvals;
pub mod grants;
pub mod sqlite;

use std::io;
use std::path::{Path, PathBuf};

/// Why a store's database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be created, opened or given its schema.
    #[error("database `{path}`: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The cause; a schema migration failure is [`sqlx::Error::Migrate`].
        source: sqlx::Error,
    },
    /// The folder of the database could not be created, or its path is not a folder.
    #[error("folder `{path}` cannot be used: {source}")]
    Directory {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Creates `dir` and its missing parents owner-only (mode 0700 on Unix). An existing folder is
/// left as it is; an existing path that is not a folder is an error.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a folder",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the file at `path` empty and owner-only (mode 0600 on Unix) unless it exists. An
/// existing file is left as it is.
fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
