//! Interactive sign-in grants: registered clients, the grants users gave them and the refresh
//! tokens of those grants, behind [`GrantStore`] so that an embedded SQLite store
//! ([`SqliteGrants`], `grants.db` in the data folder) and a shared PostgreSQL one fit the same
//! interface.
//!
//! Design decisions:
//! - Refresh tokens are stored only as their SHA-256 digest (the caller hashes them; this module
//!   never sees a token). A digest is enough: the tokens are 256 random bits, so no dictionary
//!   applies.
//! - A grant is a refresh-token family: every use of a refresh token replaces it with a new one
//!   in one transaction ([`GrantStore::rotate`]); presenting a token that was already replaced
//!   revokes the whole grant (RFC 9700 section 4.14.2), in the same transaction.
//! - Each grant remembers the id (`jti`) of the last access token issued under it, so revoking
//!   the grant can revoke that token too.
//! - Every operation is one statement or one transaction, so a PostgreSQL implementation maps
//!   each method onto the same SQL with row locks (`SELECT ... FOR UPDATE` in `rotate`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection as _, Row as _};
use tokio::sync::Mutex;

use crate::StoreError;
use crate::sqlite::{Database, Schema, Synchronous};

/// The grant store's file inside the data folder.
pub const GRANTS_DB_FILE: &str = "grants.db";

/// A boxed future, so that [`GrantStore`] can be used as a trait object.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A client registered dynamically (RFC 7591).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client id this server assigned.
    pub client_id: String,
    /// The client's registration metadata as it was accepted (JSON).
    pub metadata: String,
    /// When it was registered, seconds since the Unix epoch.
    pub created_at: i64,
}

/// A grant: what one user allowed one client, and its refresh-token family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRecord {
    /// The grant (refresh-token family) id.
    pub id: String,
    /// The user who signed in.
    pub user: String,
    /// The identity provider the user signed in at; `None` for the built-in user list.
    pub user_issuer: Option<String>,
    /// The user's tenant as the provider said at sign-in (empty: none); refreshed tokens
    /// carry it.
    pub user_tenant: String,
    /// The user's groups as the provider said at sign-in.
    pub user_groups: Vec<String>,
    /// The client the user allowed.
    pub client_id: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The resource (RFC 8707) the grant's tokens are for.
    pub resource: String,
    /// When it was given, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// The `jti` of the last access token issued under it.
    pub access_jti: Option<String>,
}

/// A refresh token, by its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRecord {
    /// SHA-256 of the token, hex.
    pub digest: String,
    /// The grant it belongs to.
    pub grant: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: i64,
}

/// What presenting a refresh token found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now replaced by the new one; the grant it belongs to.
    Rotated(GrantRecord),
    /// The token was already used: the grant is now revoked; the access token id to revoke.
    Reused {
        /// The grant that was revoked.
        grant: String,
        /// Its last access token.
        access_jti: Option<String>,
    },
    /// Unknown, expired, or of a revoked grant.
    Invalid,
}

/// Where grants live. Implementations must make [`GrantStore::rotate`] atomic.
pub trait GrantStore: Send + Sync + std::fmt::Debug {
    /// Stores a registered client.
    fn put_client(&self, client: ClientRecord) -> StoreFuture<'_, ()>;
    /// A registered client, if it exists.
    fn client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<ClientRecord>>;
    /// Stores a new grant with its first refresh token (if any).
    fn create_grant(
        &self,
        grant: GrantRecord,
        refresh: Option<RefreshRecord>,
    ) -> StoreFuture<'_, ()>;
    /// Records the last access token issued under a grant.
    fn set_access_jti<'a>(&'a self, grant: &'a str, jti: &'a str) -> StoreFuture<'a, ()>;
    /// Presents the refresh token with digest `old` at time `now`: replaces it by `new` if it
    /// is current, revokes its grant if it was already used.
    fn rotate<'a>(
        &'a self,
        old: &'a str,
        new: RefreshRecord,
        now: i64,
    ) -> StoreFuture<'a, Rotation>;
    /// Revokes one grant; returns its last access token id if it was not revoked before.
    fn revoke_grant<'a>(
        &'a self,
        grant: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<Option<String>>>;
    /// The grants of `user` (all users when `None`), revoked ones included, oldest first.
    fn list<'a>(&'a self, user: Option<&'a str>) -> StoreFuture<'a, Vec<GrantRecord>>;
    /// Revokes every live grant of `user`; returns the grants revoked.
    fn revoke_user<'a>(&'a self, user: &'a str, now: i64) -> StoreFuture<'a, Vec<GrantRecord>>;
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    access_jti TEXT,
    user_issuer TEXT,
    user_tenant TEXT NOT NULL DEFAULT '',
    user_groups TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS grants_by_user ON grants (user_id);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    digest TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id),
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX IF NOT EXISTS refresh_by_grant ON refresh_tokens (grant_id);
";

/// The embedded grant store: `grants.db` in the data folder.
#[derive(Debug)]
pub struct SqliteGrants {
    path: PathBuf,
    conn: Mutex<SqliteConnection>,
}

impl SqliteGrants {
    /// Opens (creating owner-only if missing) `data_dir/grants.db`.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(GRANTS_DB_FILE);
        let mut conn = Database::new(&path, Synchronous::Full)
            .open(Schema::Idempotent(SCHEMA))
            .await?;
        add_user_columns(&mut conn)
            .await
            .map_err(|source| StoreError::Database {
                path: path.clone(),
                source,
            })?;
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

/// Adds the columns describing an identity provider's user to a `grants` table created before
/// they existed (a file written by an earlier version).
async fn add_user_columns(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('grants')")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    for (name, statement) in [
        (
            "user_issuer",
            "ALTER TABLE grants ADD COLUMN user_issuer TEXT",
        ),
        (
            "user_tenant",
            "ALTER TABLE grants ADD COLUMN user_tenant TEXT NOT NULL DEFAULT ''",
        ),
        (
            "user_groups",
            "ALTER TABLE grants ADD COLUMN user_groups TEXT NOT NULL DEFAULT '[]'",
        ),
    ] {
        if !columns.iter().any(|c| c == name) {
            sqlx::query(statement).execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// The columns [`grant_row`] reads, in its order (a macro, so that the queries stay literals).
macro_rules! grant_columns {
    () => {
        "id, user_id, client_id, scope, resource, created_at, revoked_at, access_jti, \
         user_issuer, user_tenant, user_groups"
    };
}

fn grant_row(row: &sqlx::sqlite::SqliteRow) -> Result<GrantRecord, sqlx::Error> {
    let groups: String = row.try_get(10)?;
    Ok(GrantRecord {
        id: row.try_get(0)?,
        user: row.try_get(1)?,
        client_id: row.try_get(2)?,
        scope: row.try_get(3)?,
        resource: row.try_get(4)?,
        created_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
        access_jti: row.try_get(7)?,
        user_issuer: row.try_get(8)?,
        user_tenant: row.try_get(9)?,
        user_groups: serde_json::from_str(&groups).map_err(|e| sqlx::Error::ColumnDecode {
            index: "user_groups".to_owned(),
            source: Box::new(e),
        })?,
    })
}

impl GrantStore for SqliteGrants {
    fn put_client(&self, client: ClientRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            sqlx::query(
                "INSERT INTO clients (client_id, metadata, created_at) VALUES (?1, ?2, ?3)",
            )
            .bind(&client.client_id)
            .bind(&client.metadata)
            .bind(client.created_at)
            .execute(&mut *conn)
            .await
            .map_err(|e| self.failed(e))?;
            Ok(())
        })
    }

    fn client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<ClientRecord>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let row = sqlx::query(
                "SELECT client_id, metadata, created_at FROM clients WHERE client_id = ?1",
            )
            .bind(client_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| self.failed(e))?;
            row.map(|row| {
                Ok(ClientRecord {
                    client_id: row.try_get(0)?,
                    metadata: row.try_get(1)?,
                    created_at: row.try_get(2)?,
                })
            })
            .transpose()
            .map_err(|e| self.failed(e))
        })
    }

    fn create_grant(
        &self,
        grant: GrantRecord,
        refresh: Option<RefreshRecord>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let result: Result<(), sqlx::Error> = async {
                let mut tx = conn.begin().await?;
                let groups = serde_json::to_string(&grant.user_groups)
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                sqlx::query(
                    "INSERT INTO grants (id, user_id, client_id, scope, resource, created_at, \
                     revoked_at, access_jti, user_issuer, user_tenant, user_groups) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .bind(&grant.id)
                .bind(&grant.user)
                .bind(&grant.client_id)
                .bind(&grant.scope)
                .bind(&grant.resource)
                .bind(grant.created_at)
                .bind(grant.revoked_at)
                .bind(&grant.access_jti)
                .bind(&grant.user_issuer)
                .bind(&grant.user_tenant)
                .bind(groups)
                .execute(&mut *tx)
                .await?;
                if let Some(refresh) = &refresh {
                    insert_refresh(&mut tx, refresh).await?;
                }
                tx.commit().await
            }
            .await;
            result.map_err(|e| self.failed(e))
        })
    }

    fn set_access_jti<'a>(&'a self, grant: &'a str, jti: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            sqlx::query("UPDATE grants SET access_jti = ?1 WHERE id = ?2")
                .bind(jti)
                .bind(grant)
                .execute(&mut *conn)
                .await
                .map_err(|e| self.failed(e))?;
            Ok(())
        })
    }

    fn rotate<'a>(
        &'a self,
        old: &'a str,
        new: RefreshRecord,
        now: i64,
    ) -> StoreFuture<'a, Rotation> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let result: Result<Rotation, sqlx::Error> = async {
                let mut tx = conn.begin().await?;
                let row = sqlx::query(
                    "SELECT grant_id, expires_at, used_at FROM refresh_tokens WHERE digest = ?1",
                )
                .bind(old)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(Rotation::Invalid);
                };
                let grant_id: String = row.try_get(0)?;
                let expires_at: i64 = row.try_get(1)?;
                let used_at: Option<i64> = row.try_get(2)?;
                let grant = sqlx::query(concat!(
                    "SELECT ",
                    grant_columns!(),
                    " FROM grants WHERE id = ?1"
                ))
                .bind(&grant_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| grant_row(&row))
                .transpose()?;
                let Some(grant) = grant else {
                    return Ok(Rotation::Invalid);
                };
                if grant.revoked_at.is_some() {
                    return Ok(Rotation::Invalid);
                }
                if used_at.is_some() {
                    sqlx::query("UPDATE grants SET revoked_at = ?1 WHERE id = ?2")
                        .bind(now)
                        .bind(&grant.id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "DELETE FROM refresh_tokens WHERE grant_id = ?1 AND used_at IS NULL",
                    )
                    .bind(&grant.id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(Rotation::Reused {
                        grant: grant.id,
                        access_jti: grant.access_jti,
                    });
                }
                if expires_at <= now {
                    return Ok(Rotation::Invalid);
                }
                sqlx::query("UPDATE refresh_tokens SET used_at = ?1 WHERE digest = ?2")
                    .bind(now)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                insert_refresh(
                    &mut tx,
                    &RefreshRecord {
                        grant: grant.id.clone(),
                        ..new
                    },
                )
                .await?;
                tx.commit().await?;
                Ok(Rotation::Rotated(grant))
            }
            .await;
            result.map_err(|e| self.failed(e))
        })
    }

    fn revoke_grant<'a>(
        &'a self,
        grant: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<Option<String>>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let result: Result<Option<Option<String>>, sqlx::Error> = async {
                let mut tx = conn.begin().await?;
                let row = sqlx::query(
                    "UPDATE grants SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL \
                     RETURNING access_jti",
                )
                .bind(now)
                .bind(grant)
                .fetch_optional(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM refresh_tokens WHERE grant_id = ?1")
                    .bind(grant)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.map(|row| row.try_get(0)).transpose()
            }
            .await;
            result.map_err(|e| self.failed(e))
        })
    }

    fn list<'a>(&'a self, user: Option<&'a str>) -> StoreFuture<'a, Vec<GrantRecord>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let rows = sqlx::query(concat!(
                "SELECT ",
                grant_columns!(),
                " FROM grants WHERE ?1 IS NULL OR user_id = ?1 ORDER BY created_at, id"
            ))
            .bind(user)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.failed(e))?;
            rows.iter()
                .map(grant_row)
                .collect::<Result<_, _>>()
                .map_err(|e| self.failed(e))
        })
    }

    fn revoke_user<'a>(&'a self, user: &'a str, now: i64) -> StoreFuture<'a, Vec<GrantRecord>> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            let result: Result<Vec<GrantRecord>, sqlx::Error> = async {
                let mut tx = conn.begin().await?;
                let rows = sqlx::query(concat!(
                    "UPDATE grants SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL RETURNING ",
                    grant_columns!()
                ))
                .bind(now)
                .bind(user)
                .fetch_all(&mut *tx)
                .await?;
                let grants: Vec<GrantRecord> =
                    rows.iter().map(grant_row).collect::<Result<_, _>>()?;
                for grant in &grants {
                    sqlx::query("DELETE FROM refresh_tokens WHERE grant_id = ?1")
                        .bind(&grant.id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(grants)
            }
            .await;
            result.map_err(|e| self.failed(e))
        })
    }
}

async fn insert_refresh(
    conn: &mut SqliteConnection,
    refresh: &RefreshRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (digest, grant_id, expires_at, used_at) VALUES (?1, ?2, ?3, NULL)",
    )
    .bind(&refresh.digest)
    .bind(&refresh.grant)
    .bind(refresh.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str, user: &str) -> GrantRecord {
        GrantRecord {
            id: id.to_owned(),
            user: user.to_owned(),
            client_id: "c1".to_owned(),
            scope: "orders:read".to_owned(),
            resource: "http://gw/mcp".to_owned(),
            created_at: 100,
            revoked_at: None,
            access_jti: Some("j1".to_owned()),
            user_issuer: None,
            user_tenant: String::new(),
            user_groups: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_file_without_the_user_columns_gains_them_and_keeps_its_grants() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(GRANTS_DB_FILE);
        {
            let conn = Database::new(&path, Synchronous::Full)
                .open(Schema::Idempotent(
                    "CREATE TABLE grants (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, \
                     client_id TEXT NOT NULL, scope TEXT NOT NULL, resource TEXT NOT NULL, \
                     created_at INTEGER NOT NULL, revoked_at INTEGER, access_jti TEXT); \
                     INSERT INTO grants VALUES ('g0', 'ann', 'c1', 's', 'r', 5, NULL, NULL);",
                ))
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        let store = SqliteGrants::open(dir.path()).await.unwrap();
        let old = store.list(Some("ann")).await.unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].user_issuer, None);
        assert!(old[0].user_groups.is_empty());
        let mut external = grant("g1", "bob@example.com");
        external.user_issuer = Some("https://login.example.com".to_owned());
        external.user_tenant = "acme".to_owned();
        external.user_groups = vec!["finance".to_owned(), "ops team".to_owned()];
        store.create_grant(external.clone(), None).await.unwrap();
        drop(store);
        let reopened = SqliteGrants::open(dir.path()).await.unwrap();
        assert_eq!(
            reopened.list(Some("bob@example.com")).await.unwrap(),
            vec![external]
        );
    }

    fn refresh(digest: &str, grant: &str, expires_at: i64) -> RefreshRecord {
        RefreshRecord {
            digest: digest.to_owned(),
            grant: grant.to_owned(),
            expires_at,
        }
    }

    #[tokio::test]
    async fn rotation_replaces_and_reuse_revokes_the_family() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteGrants::open(dir.path()).await.unwrap();
        store
            .create_grant(grant("g1", "alice"), Some(refresh("r1", "g1", 1000)))
            .await
            .unwrap();
        let first = store
            .rotate("r1", refresh("r2", "", 1000), 200)
            .await
            .unwrap();
        assert!(matches!(first, Rotation::Rotated(ref g) if g.id == "g1"));
        let next = store
            .rotate("r2", refresh("r3", "", 1000), 201)
            .await
            .unwrap();
        assert!(matches!(next, Rotation::Rotated(_)));
        // r1 again: reuse; the family goes, r3 included.
        let reuse = store
            .rotate("r1", refresh("r4", "", 1000), 202)
            .await
            .unwrap();
        assert_eq!(
            reuse,
            Rotation::Reused {
                grant: "g1".to_owned(),
                access_jti: Some("j1".to_owned())
            }
        );
        assert_eq!(
            store
                .rotate("r3", refresh("r5", "", 1000), 203)
                .await
                .unwrap(),
            Rotation::Invalid
        );
        assert_eq!(
            store
                .rotate("nope", refresh("r6", "", 1000), 203)
                .await
                .unwrap(),
            Rotation::Invalid
        );
    }

    #[tokio::test]
    async fn expired_tokens_are_invalid_and_grants_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteGrants::open(dir.path()).await.unwrap();
            store
                .create_grant(grant("g1", "alice"), Some(refresh("r1", "g1", 150)))
                .await
                .unwrap();
            store
                .create_grant(grant("g2", "bob"), Some(refresh("b1", "g2", 1000)))
                .await
                .unwrap();
        }
        let store = SqliteGrants::open(dir.path()).await.unwrap();
        assert_eq!(
            store
                .rotate("r1", refresh("r2", "", 1000), 150)
                .await
                .unwrap(),
            Rotation::Invalid
        );
        assert_eq!(store.list(None).await.unwrap().len(), 2);
        let revoked = store.revoke_user("bob", 300).await.unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(
            store
                .rotate("b1", refresh("b2", "", 1000), 301)
                .await
                .unwrap(),
            Rotation::Invalid
        );
        assert!(store.revoke_user("bob", 302).await.unwrap().is_empty());
        let listed = store.list(Some("bob")).await.unwrap();
        assert_eq!(listed[0].revoked_at, Some(300));
    }
}
