//! Revocation: single tokens (by `jti`), every token an agent holds, and disabled agents.
//!
//! The durable state is a small SQLite database in the data folder (`identity.db`), shared by
//! the running gateway and the `portcullis` commands. The request path never touches it: each
//! request checks an in-memory [`Snapshot`] (a shared read lock and at most two hash look-ups).
//!
//! Freshness: a change made through this process (the admin API) replaces the snapshot before
//! the call that made it returns. A change committed by another process (the CLI) is noticed by
//! [`Revocations::refresh_if_due`], which the identify stage awaits before verifying: at most
//! once every [`REFRESH_INTERVAL`] it asks SQLite for `PRAGMA data_version` (a counter that moves
//! whenever another connection commits) and reloads the tables when it moved. So a change from
//! another process applies to every request that starts [`REFRESH_INTERVAL`] after its commit,
//! and in a quiet gateway (no request in the last interval) to the very next request.
//!
//! Retention: a revoked `jti` is remembered until every token that could carry it has expired:
//! `revoked_at + max_token_ttl + leeway` (verification refuses tokens whose lifetime exceeds
//! `max_token_ttl`, so that bound holds even if the setting was lowered since). Agent states are
//! kept until changed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use portcullis_config::Config;
use portcullis_core::Principal;
use portcullis_store::StoreError;
use portcullis_store::sqlite::{Database, Schema, Synchronous};
use sqlx::Row as _;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnection};
use tokio::sync::Mutex;

use crate::Identity;
use crate::error::{RevocationError, VerifyError};

/// The database file's name inside the data folder.
pub const IDENTITY_DB_FILE: &str = "identity.db";

/// How often, at most, the running gateway asks the database whether another process changed
/// it. This bounds how long a revocation made with the CLI takes to apply.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(50);

/// Longest `jti` accepted for revocation; our own are 36 characters.
const MAX_JTI_BYTES: usize = 256;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL,
    forget_after INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_states (
    agent TEXT PRIMARY KEY,
    not_before INTEGER,
    disabled INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_cutoffs (
    agent TEXT PRIMARY KEY,
    not_before_ms INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    source TEXT NOT NULL
);
";

/// Who made a change, stored beside it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ChangeSource {
    /// The `portcullis` command line.
    Cli,
    /// The admin HTTP API of a running gateway.
    AdminApi,
}

impl ChangeSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::AdminApi => "admin-api",
        }
    }
}

/// What the store says about one agent.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct AgentState {
    /// Tokens issued at or before this time (milliseconds since the epoch) are refused.
    pub not_before_ms: Option<i64>,
    /// The agent's tokens and token requests are refused.
    pub disabled: bool,
}

/// The revocation state the request path reads.
#[derive(Debug, Default)]
struct Snapshot {
    tokens: HashSet<String>,
    agents: HashMap<String, AgentState>,
}

impl Snapshot {
    fn check(&self, principal: &Principal) -> Result<(), VerifyError> {
        if self.tokens.is_empty() && self.agents.is_empty() {
            return Ok(());
        }
        if let Some(state) = self.agents.get(&principal.agent) {
            if state.disabled {
                return Err(VerifyError::AgentDisabled);
            }
            if state
                .not_before_ms
                .is_some_and(|cut_off| issued_at_ms(principal) <= cut_off)
            {
                return Err(VerifyError::Revoked("every token of the agent was revoked"));
            }
        }
        if self.tokens.contains(&principal.token_id) {
            return Err(VerifyError::Revoked("the token was revoked"));
        }
        // A delegated token dies with any agent of its chain: disabling an agent, or revoking
        // all its tokens, also ends what it handed on.
        for actor in &principal.actors {
            if let Some(state) = self.agents.get(actor) {
                if state.disabled {
                    return Err(VerifyError::AgentDisabled);
                }
                if state
                    .not_before_ms
                    .is_some_and(|cut_off| issued_at_ms(principal) <= cut_off)
                {
                    return Err(VerifyError::Revoked(
                        "every token of an agent in the delegation chain was revoked",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The revocation store and its in-memory snapshot.
pub struct Revocations {
    path: PathBuf,
    /// `max_token_ttl + leeway`, in seconds.
    retention: i64,
    conn: Option<Mutex<Store>>,
    snapshot: RwLock<Snapshot>,
    started: Instant,
    /// Milliseconds since `started` after which the next request checks for outside changes.
    next_check: AtomicU64,
}

struct Store {
    conn: SqliteConnection,
    data_version: i64,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot.read();
        f.debug_struct("Revocations")
            .field("path", &self.path)
            .field("tokens", &snapshot.tokens.len())
            .field("agents", &snapshot.agents.len())
            .finish_non_exhaustive()
    }
}

impl Revocations {
    /// Opens the store at `data_dir/identity.db` and loads the snapshot; the folder and the file
    /// are created owner-only if missing.
    /// `retention` is how long a revoked `jti` must be remembered: `max_token_ttl + leeway`.
    /// Must be called inside a Tokio runtime.
    pub async fn open(data_dir: &Path, retention: Duration) -> Result<Self, RevocationError> {
        let path = data_dir.join(IDENTITY_DB_FILE);
        let conn = Database::new(&path, Synchronous::Full)
            .open(Schema::Idempotent(SCHEMA))
            .await
            .map_err(|err| match err {
                StoreError::Database { path, source } => RevocationError::Store { path, source },
                StoreError::Directory { path, source } => RevocationError::DataDir { path, source },
            })?;
        let failed = |source| RevocationError::Store {
            path: path.clone(),
            source,
        };
        let retention = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
        let mut store = Store {
            conn,
            data_version: 0,
        };
        store.prune(now()).await.map_err(failed)?;
        store.data_version = store.data_version().await.map_err(failed)?;
        let snapshot = store.load(now()).await.map_err(failed)?;
        Ok(Self {
            path,
            retention,
            conn: Some(Mutex::new(store)),
            snapshot: RwLock::new(snapshot),
            started: Instant::now(),
            next_check: AtomicU64::new(0),
        })
    }

    /// A store that holds nothing and cannot be changed: for tests of the token logic alone.
    #[cfg(test)]
    pub(crate) fn empty() -> Self {
        Self {
            path: PathBuf::new(),
            retention: 0,
            conn: None,
            snapshot: RwLock::new(Snapshot::default()),
            started: Instant::now(),
            next_check: AtomicU64::new(u64::MAX),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses a verified principal whose token or agent is revoked or disabled. Reads only the
    /// in-memory snapshot.
    pub(crate) fn check(&self, principal: &Principal) -> Result<(), VerifyError> {
        self.snapshot.read().check(principal)
    }

    /// Whether the agent is disabled, per the in-memory snapshot.
    pub(crate) fn is_disabled(&self, agent: &str) -> bool {
        self.snapshot
            .read()
            .agents
            .get(agent)
            .is_some_and(|state| state.disabled)
    }

    /// Picks up changes another process committed, at most once per [`REFRESH_INTERVAL`].
    /// Cheap when not due (a clock read and an atomic load). A request that finds the check due
    /// runs it; concurrent requests meanwhile use the current snapshot. A store that cannot be
    /// read is logged and the last snapshot stays in force.
    pub async fn refresh_if_due(&self) {
        let Some(conn) = &self.conn else {
            return;
        };
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let due = self.next_check.load(Ordering::Acquire);
        if elapsed < due {
            return;
        }
        let next =
            elapsed.saturating_add(u64::try_from(REFRESH_INTERVAL.as_millis()).unwrap_or(u64::MAX));
        if self
            .next_check
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let mut store = conn.lock().await;
        match store.data_version().await {
            Ok(version) if version == store.data_version => {}
            Ok(version) => match store.load(now()).await {
                Ok(snapshot) => {
                    store.data_version = version;
                    *self.snapshot.write() = snapshot;
                    tracing::debug!("revocations reloaded after an outside change");
                }
                Err(err) => {
                    tracing::error!(%err, "cannot reload revocations; the last state stays in force");
                }
            },
            Err(err) => {
                tracing::error!(%err, "cannot check the revocation store for changes");
            }
        }
    }

    /// Revokes one token by its `jti`. Returns `false` if it was already revoked.
    pub async fn revoke_token(
        &self,
        jti: &str,
        source: ChangeSource,
    ) -> Result<bool, RevocationError> {
        if jti.is_empty() || jti.len() > MAX_JTI_BYTES || !jti.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(RevocationError::InvalidJti);
        }
        let now = now();
        let changed = self
            .write(
                sqlx::query(
                    "INSERT INTO revoked_tokens (jti, revoked_at, forget_after, source) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind(now)
                .bind(now.saturating_add(self.retention))
                .bind(source.as_str()),
            )
            .await?;
        Ok(changed == 1)
    }

    /// Revokes every token of `agent` issued up to now, to the millisecond: a token whose
    /// issue time (its UUIDv7 `jti`, or the end of its `iat` second for a token that carries
    /// none) is at or before the cut-off is refused; one issued a millisecond later is valid.
    /// Returns the cut-off in milliseconds since the epoch.
    pub async fn revoke_agent(
        &self,
        agent: &str,
        source: ChangeSource,
    ) -> Result<i64, RevocationError> {
        let now_ms = now_ms();
        self.write(
            sqlx::query(
                "INSERT INTO agent_cutoffs (agent, not_before_ms, updated_at, source) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (agent) DO UPDATE SET \
                 not_before_ms = max(not_before_ms, excluded.not_before_ms), \
                 updated_at = excluded.updated_at, source = excluded.source",
            )
            .bind(agent)
            .bind(now_ms)
            .bind(now())
            .bind(source.as_str()),
        )
        .await?;
        Ok(now_ms)
    }

    /// Disables or re-enables an agent. Returns `false` if it was already in that state.
    pub async fn set_disabled(
        &self,
        agent: &str,
        disabled: bool,
        source: ChangeSource,
    ) -> Result<bool, RevocationError> {
        let changed = self
            .write(
                sqlx::query(
                    "INSERT INTO agent_states (agent, not_before, disabled, updated_at, source) \
                     VALUES (?1, NULL, ?2, ?3, ?4) ON CONFLICT (agent) DO UPDATE SET \
                     disabled = excluded.disabled, updated_at = excluded.updated_at, \
                     source = excluded.source WHERE agent_states.disabled != excluded.disabled",
                )
                .bind(agent)
                .bind(i64::from(disabled))
                .bind(now())
                .bind(source.as_str()),
            )
            .await?;
        Ok(changed == 1)
    }

    /// The agents with a recorded state, sorted, and the number of remembered revoked tokens,
    /// as of the last snapshot.
    pub fn summary(&self) -> (Vec<(String, AgentState)>, usize) {
        let snapshot = self.snapshot.read();
        let mut agents: Vec<(String, AgentState)> = snapshot
            .agents
            .iter()
            .map(|(agent, state)| (agent.clone(), *state))
            .collect();
        agents.sort_by(|a, b| a.0.cmp(&b.0));
        (agents, snapshot.tokens.len())
    }

    /// Runs one change and publishes it (see [`Self::publish`]). Returns how many rows changed.
    async fn write(
        &self,
        change: Query<'_, Sqlite, SqliteArguments>,
    ) -> Result<u64, RevocationError> {
        let Some(conn) = &self.conn else {
            return Err(RevocationError::ReadOnly);
        };
        let mut store = conn.lock().await;
        let done = change
            .execute(&mut store.conn)
            .await
            .map_err(|e| self.failed(e))?;
        self.publish(&mut store).await?;
        Ok(done.rows_affected())
    }

    fn failed(&self, source: sqlx::Error) -> RevocationError {
        RevocationError::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// After a write: prunes what has expired and replaces the snapshot, so that this process
    /// sees the change before the caller is answered.
    async fn publish(&self, store: &mut Store) -> Result<(), RevocationError> {
        let now = now();
        store.prune(now).await.map_err(|e| self.failed(e))?;
        let snapshot = store.load(now).await.map_err(|e| self.failed(e))?;
        store.data_version = store.data_version().await.map_err(|e| self.failed(e))?;
        *self.snapshot.write() = snapshot;
        Ok(())
    }
}

impl Identity {
    /// How long a revoked token id must be remembered under `config`: the longest lifetime a
    /// token may have plus the leeway. Pass it to [`Revocations::open`].
    pub fn revocation_retention(config: &Config) -> Duration {
        config
            .issuer
            .max_token_ttl
            .0
            .saturating_add(config.issuer.leeway.0)
    }

    /// Picks up revocations committed by another process (the CLI); cheap unless due, see
    /// [`REFRESH_INTERVAL`].
    pub async fn refresh_revocations(&self) {
        self.revocations.refresh_if_due().await;
    }

    /// The revocation store.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Revokes one token by its `jti`; takes effect on this gateway's next request. Returns
    /// `false` if it was already revoked.
    pub async fn revoke_token(
        &self,
        jti: &str,
        source: ChangeSource,
    ) -> Result<bool, RevocationError> {
        self.revocations.revoke_token(jti, source).await
    }

    /// Revokes every token a configured agent holds now. The agent can obtain new tokens.
    /// Returns the cut-off (`iat` at or before it is refused).
    pub async fn revoke_agent(
        &self,
        agent: &str,
        source: ChangeSource,
    ) -> Result<i64, RevocationError> {
        let agent = self.configured(agent)?;
        self.revocations.revoke_agent(agent, source).await
    }

    /// Disables (refuses its tokens and token requests) or re-enables a configured agent.
    /// Returns `false` if it was already in that state.
    pub async fn set_agent_disabled(
        &self,
        agent: &str,
        disabled: bool,
        source: ChangeSource,
    ) -> Result<bool, RevocationError> {
        let agent = self.configured(agent)?;
        self.revocations.set_disabled(agent, disabled, source).await
    }

    fn configured<'a>(&'a self, agent: &str) -> Result<&'a str, RevocationError> {
        self.agents
            .get(agent)
            .map(|a| a.id.as_str())
            .ok_or_else(|| {
                RevocationError::UnknownAgent(portcullis_core::truncate_for_message(agent, 64))
            })
    }
}

impl Store {
    async fn data_version(&mut self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&mut self.conn)
            .await
    }

    async fn prune(&mut self, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM revoked_tokens WHERE forget_after < ?1")
            .bind(now)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn load(&mut self, now: i64) -> Result<Snapshot, sqlx::Error> {
        let tokens = sqlx::query("SELECT jti FROM revoked_tokens WHERE forget_after >= ?1")
            .bind(now)
            .fetch_all(&mut self.conn)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<HashSet<_>, _>>()?;
        let mut agents: HashMap<String, AgentState> = HashMap::new();
        // `not_before` in seconds is what earlier versions wrote: it covers the whole second.
        for row in sqlx::query(
            "SELECT agent, not_before, disabled FROM agent_states \
             WHERE disabled != 0 OR not_before IS NOT NULL",
        )
        .fetch_all(&mut self.conn)
        .await?
        {
            let seconds: Option<i64> = row.try_get(1)?;
            agents.insert(
                row.try_get::<String, _>(0)?,
                AgentState {
                    not_before_ms: seconds.map(|s| s.saturating_mul(1000).saturating_add(999)),
                    disabled: row.try_get::<i64, _>(2)? != 0,
                },
            );
        }
        for row in sqlx::query("SELECT agent, not_before_ms FROM agent_cutoffs")
            .fetch_all(&mut self.conn)
            .await?
        {
            let cut_off: i64 = row.try_get(1)?;
            let state = agents.entry(row.try_get::<String, _>(0)?).or_default();
            state.not_before_ms = Some(state.not_before_ms.map_or(cut_off, |c| c.max(cut_off)));
        }
        Ok(Snapshot { tokens, agents })
    }
}

/// When a token was issued, in milliseconds since the epoch: the timestamp of its UUIDv7 `jti`
/// when that lies within its `iat` second (the gateway's own tokens), else the last millisecond
/// of that second, so that an unknown sub-second time errs towards revoked.
fn issued_at_ms(principal: &Principal) -> i64 {
    let second = principal.issued_at.saturating_mul(1000);
    let end = second.saturating_add(999);
    uuid::Uuid::try_parse(&principal.token_id)
        .ok()
        .filter(|id| id.get_version_num() == 7)
        .and_then(|id| id.get_timestamp())
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            i64::try_from(secs)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000)
                .saturating_add(i64::from(nanos / 1_000_000))
        })
        .filter(|ms| (second..=end).contains(ms))
        .unwrap_or(end)
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
