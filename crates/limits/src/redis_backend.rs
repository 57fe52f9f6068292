//! The Redis backend: every limit of a call is checked and committed by one Lua script, in one
//! round trip, on the server's clock, so replicas sharing a Redis share the limits exactly.
//!
//! Every round trip is bounded by the configured timeout; a failure or a timeout counts as
//! unavailable (logged when the state changes, counted always), and the caller applies
//! `on_unavailable`. While no connection exists, a new one is tried at most once a second, so a
//! dead Redis costs a call nothing but a failed check.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portcullis_config::OnUnavailable;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::local::until_next_period;
use crate::{Check, Kind, LimitsError, Refusal, Rule, Unavailable};

/// Checks (mode 1) or charges without checking (mode 0) every key. Per key, four arguments:
/// kind (`r` rate, `q` quota), cost, then for a rate the emission interval and the tolerance
/// in microseconds, for a quota the limit and the seconds until the period ends. Answers
/// `{1}` when all passed (and were committed), `{0, index, retry_after_us}` otherwise.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local check = ARGV[1] == '1'
local values = {}
for i, key in ipairs(KEYS) do
  local at = 1 + (i - 1) * 4
  local kind = ARGV[at + 1]
  local cost = tonumber(ARGV[at + 2])
  local a = tonumber(ARGV[at + 3])
  local b = tonumber(ARGV[at + 4])
  local stored = tonumber(redis.call('GET', key))
  if kind == 'r' then
    local tat = stored or now
    if tat < now then tat = now end
    if check and cost * a > b then cost = math.floor(b / a) end
    local next = tat + cost * a
    if check and next - now > b then
      return {0, i, next - b - now}
    end
    values[i] = next
  else
    local next = (stored or 0) + cost
    if check and next > a then
      return {0, i, b * 1000000}
    end
    values[i] = next
  end
end
for i, key in ipairs(KEYS) do
  local at = 1 + (i - 1) * 4
  if ARGV[at + 1] == 'r' then
    local ttl = math.floor((values[i] - now) / 1000) + 1000
    redis.call('SET', key, string.format('%d', values[i]), 'PX', ttl)
  else
    redis.call('SET', key, string.format('%d', values[i]), 'EX', tonumber(ARGV[at + 4]) + 60)
  end
end
return {1}
";

pub(crate) struct RedisBackend {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    pub(crate) on_unavailable: OnUnavailable,
    script: redis::Script,
    conn: parking_lot::Mutex<Option<ConnectionManager>>,
    last_attempt: parking_lot::Mutex<Option<Instant>>,
    down: AtomicBool,
    pub(crate) unavailable: AtomicU64,
}

impl RedisBackend {
    pub(crate) async fn open(
        url: &str,
        prefix: &str,
        timeout: Duration,
        on_unavailable: OnUnavailable,
    ) -> Result<Self, LimitsError> {
        // INVARIANT: the URL may carry a password; errors never echo it.
        let client = redis::Client::open(url)
            .map_err(|err| LimitsError::RedisUrl(format!("{:?}", err.kind()).to_lowercase()))?;
        let backend = Self {
            client,
            prefix: format!("{prefix}:"),
            timeout,
            on_unavailable,
            script: redis::Script::new(SCRIPT),
            conn: parking_lot::Mutex::new(None),
            last_attempt: parking_lot::Mutex::new(None),
            down: AtomicBool::new(false),
            unavailable: AtomicU64::new(0),
        };
        if backend.connection().await.is_none() {
            tracing::warn!(
                "redis for limits is unreachable at start; `on_unavailable` applies until it answers"
            );
        }
        Ok(backend)
    }

    pub(crate) async fn check(
        &self,
        rules: &[Rule],
        checks: &[Check],
    ) -> Result<Result<(), Refusal>, Unavailable> {
        let answer = self.run(rules, checks, true).await?;
        match answer.as_slice() {
            [1, ..] => {
                self.recovered();
                Ok(Ok(()))
            }
            [0, index, retry_us] => {
                self.recovered();
                let index = usize::try_from(*index).unwrap_or(1).saturating_sub(1);
                Ok(Err(Refusal {
                    check: index.min(checks.len().saturating_sub(1)),
                    retry_after: Duration::from_micros(u64::try_from(*retry_us).unwrap_or(0)),
                }))
            }
            _ => Err(self.failed("unexpected answer from the limit script".to_owned())),
        }
    }

    pub(crate) async fn charge(&self, rules: &[Rule], checks: &[Check]) -> Result<(), Unavailable> {
        self.run(rules, checks, false).await.map(|_| ())
    }

    async fn run(
        &self,
        rules: &[Rule],
        checks: &[Check],
        check: bool,
    ) -> Result<Vec<i64>, Unavailable> {
        let Some(mut conn) = self.connection().await else {
            return Err(self.failed("no connection".to_owned()));
        };
        let now = chrono::Utc::now();
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(if check { "1" } else { "0" });
        for item in checks {
            invocation.key(format!("{}{}", self.prefix, item.key));
            match rules[item.rule].kind {
                Kind::Rate {
                    interval_us,
                    tolerance_us,
                } => {
                    invocation
                        .arg("r")
                        .arg(item.cost)
                        .arg(interval_us)
                        .arg(tolerance_us);
                }
                Kind::Quota { limit, period } => {
                    invocation
                        .arg("q")
                        .arg(item.cost)
                        .arg(limit)
                        .arg(until_next_period(period, now).as_secs());
                }
            }
        }
        match tokio::time::timeout(self.timeout, invocation.invoke_async::<Vec<i64>>(&mut conn))
            .await
        {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(err)) => Err(self.failed(err.to_string())),
            Err(_) => Err(self.failed(format!("no answer within {:?}", self.timeout))),
        }
    }

    /// The shared connection, connecting if there is none (at most one attempt a second).
    async fn connection(&self) -> Option<ConnectionManager> {
        if let Some(conn) = self.conn.lock().clone() {
            return Some(conn);
        }
        {
            let mut last = self.last_attempt.lock();
            if last.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(self.timeout.saturating_mul(2), connect).await {
            Ok(Ok(conn)) => {
                *self.conn.lock() = Some(conn.clone());
                Some(conn)
            }
            Ok(Err(err)) => {
                tracing::debug!(%err, "cannot connect to redis for limits");
                None
            }
            Err(_) => None,
        }
    }

    fn failed(&self, detail: String) -> Unavailable {
        self.unavailable.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(%detail, on_unavailable = ?self.on_unavailable,
                "redis for limits is unavailable");
        }
        Unavailable(detail)
    }

    fn recovered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("redis for limits answers again");
        }
    }
}
