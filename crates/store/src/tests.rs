use std::path::Path;

use sqlx::Row as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::*;
use crate::sqlite::{Database, Schema, Synchronous, open_read_only};

const TABLE: &str = "CREATE TABLE IF NOT EXISTS items (name TEXT PRIMARY KEY);";

/// The one value `sql` reads.
async fn scalar<T>(conn: &mut sqlx::SqliteConnection, sql: &'static str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
{
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

/// Opens the database at `path` with the items table and writes one item.
async fn open_with_item(path: &Path, name: &str) -> sqlx::SqliteConnection {
    let mut conn = Database::new(path, Synchronous::Full)
        .open(Schema::Idempotent(TABLE))
        .await
        .unwrap();
    sqlx::query("INSERT INTO items (name) VALUES (?1)")
        .bind(name)
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_first_store_creates_its_folders_and_files_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state").join("data");
    let path = data.join("first.db");
    let _conn = open_with_item(&path, "a").await;
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&path), 0o600);
    // SQLite gives its side files the database file's permissions.
    for side in ["first.db-wal", "first.db-shm"] {
        assert_eq!(mode(&data.join(side)), 0o600, "{side}");
    }
    // A second store in the same folder gets an owner-only file too.
    let second = data.join("second.db");
    Database::new(&second, Synchronous::Normal)
        .open(Schema::Idempotent(TABLE))
        .await
        .unwrap();
    assert_eq!(mode(&second), 0o600);
}

#[cfg(unix)]
#[tokio::test]
async fn existing_folders_and_files_keep_their_permissions() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
    let path = data.join("shared.db");
    Database::new(&path, Synchronous::Full)
        .open(Schema::Idempotent(TABLE))
        .await
        .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    Database::new(&path, Synchronous::Full)
        .open(Schema::Idempotent(TABLE))
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o750);
    assert_eq!(mode(&path), 0o640);
}

#[tokio::test]
async fn connections_use_wal_the_chosen_sync_mode_and_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    for (synchronous, expected) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
        let path = dir.path().join(format!("{expected}.db"));
        let mut conn = Database::new(&path, synchronous)
            .open(Schema::Idempotent(TABLE))
            .await
            .unwrap();
        let level: i64 = scalar(&mut conn, "PRAGMA synchronous").await;
        assert_eq!(level, expected, "{synchronous:?}");
        let journal: String = scalar(&mut conn, "PRAGMA journal_mode").await;
        assert_eq!(journal, "wal");
        let timeout: i64 = scalar(&mut conn, "PRAGMA busy_timeout").await;
        assert_eq!(timeout, 5000);
    }
}

#[tokio::test]
async fn migrations_run_once_and_idempotent_schemas_on_every_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("versioned.db");
    let migrator = || {
        Migrator::with_migrations(vec![Migration::new(
            1,
            "items".into(),
            MigrationType::Simple,
            sqlx::SqlStr::from_static("CREATE TABLE items (name TEXT PRIMARY KEY);"),
            false,
        )])
    };
    for _ in 0..2 {
        let mut conn = Database::new(&path, Synchronous::Full)
            .statement_cache(200)
            .open(Schema::Migrations(migrator()))
            .await
            .unwrap();
        let applied: i64 = scalar(&mut conn, "SELECT count(*) FROM _sqlx_migrations").await;
        assert_eq!(applied, 1);
    }
    let broken = Database::new(&path, Synchronous::Full)
        .open(Schema::Idempotent("CREATE TABLE items (name TEXT);"))
        .await
        .unwrap_err();
    assert!(
        matches!(&broken, StoreError::Database { path: p, .. } if *p == path),
        "{broken:?}"
    );
}

#[tokio::test]
async fn a_folder_path_taken_by_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken");
    std::fs::write(&taken, b"").unwrap();
    let err = Database::new(&taken.join("x.db"), Synchronous::Full)
        .open(Schema::Idempotent(TABLE))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Directory { path, .. } if *path == taken),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("folder `"), "{err}");
}

#[tokio::test]
async fn the_read_only_opener_creates_nothing_and_reads_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent").join("r.db");
    assert!(open_read_only(&path).await.is_err());
    assert!(!path.exists());
    assert!(!dir.path().join("absent").exists());

    let path = dir.path().join("r.db");
    let _writer = open_with_item(&path, "kept").await;
    let mut reader = open_read_only(&path).await.unwrap();
    let row = sqlx::query("SELECT name FROM items")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "kept");
    assert!(
        sqlx::query("INSERT INTO items (name) VALUES ('refused')")
            .execute(&mut reader)
            .await
            .is_err()
    );
}
