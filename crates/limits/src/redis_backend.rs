//! The Redis backend: every limit of a call is checked and committed by one Lua script, in one
//! round trip, on the server's clock, so replicas sharing a Redis share the limits exactly.
//!
//! Every round trip is bounded by the configured timeout. A failure or a timeout trips a
//! breaker: the connection is dropped, the caller applies `on_unavailable`, and from then on
//! every call gets that answer at once, without touching the network, until a background probe
//! (a fresh connection and a `PING`, once every [`PROBE_INTERVAL`]) succeeds. So a hanging Redis
//! costs one call one timeout, and a dead one costs calls nothing.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

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

/// How often the background probe tries a tripped Redis.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct RedisBackend {
    prefix: String,
    pub(crate) on_unavailable: OnUnavailable,
    script: redis::Script,
    link: Arc<Link>,
    pub(crate) unavailable: AtomicU64,
}

/// The connection and the breaker, shared with the background probe.
struct Link {
    client: redis::Client,
    timeout: Duration,
    conn: parking_lot::Mutex<Option<ConnectionManager>>,
    /// Tripped: calls answer unavailable at once until the probe reconnects.
    down: AtomicBool,
}

impl Link {
    /// A fresh connection that answered `PING`, within the timeout.
    async fn connect(&self) -> Result<ConnectionManager, String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(0);
        let attempt = async {
            let mut conn = ConnectionManager::new_with_config(self.client.clone(), config)
                .await
                .map_err(|err| err.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|err| err.to_string())?;
            Ok(conn)
        };
        match tokio::time::timeout(self.timeout.saturating_mul(2), attempt).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    /// Drops the connection and trips the breaker; `true` if it was closed before.
    fn trip(&self) -> bool {
        *self.conn.lock() = None;
        !self.down.swap(true, Ordering::AcqRel)
    }

    /// Tries to reconnect while tripped, once every [`PROBE_INTERVAL`], for as long as the
    /// backend exists.
    async fn probe(link: Weak<Self>) {
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(link) = link.upgrade() else {
                return;
            };
            if !link.down.load(Ordering::Acquire) {
                continue;
            }
            match link.connect().await {
                Ok(conn) => {
                    *link.conn.lock() = Some(conn);
                    link.down.store(false, Ordering::Release);
                    tracing::info!("redis for limits answers again");
                }
                Err(detail) => tracing::debug!(%detail, "redis for limits still unavailable"),
            }
        }
    }
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
        let link = Arc::new(Link {
            client,
            timeout,
            conn: parking_lot::Mutex::new(None),
            down: AtomicBool::new(false),
        });
        match link.connect().await {
            Ok(conn) => *link.conn.lock() = Some(conn),
            Err(detail) => {
                link.trip();
                tracing::warn!(%detail, on_unavailable = ?on_unavailable,
                    "redis for limits is unreachable at start; `on_unavailable` applies until it answers");
            }
        }
        tokio::spawn(Link::probe(Arc::downgrade(&link)));
        Ok(Self {
            prefix: format!("{prefix}:"),
            on_unavailable,
            script: redis::Script::new(SCRIPT),
            link,
            unavailable: AtomicU64::new(0),
        })
    }

    pub(crate) async fn check(
        &self,
        rules: &[Rule],
        checks: &[Check],
    ) -> Result<Result<(), Refusal>, Unavailable> {
        let answer = self.run(rules, checks, true).await?;
        match answer.as_slice() {
            [1, ..] => Ok(Ok(())),
            [0, index, retry_us] => {
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
        // Tripped: answer at once; the probe reconnects.
        let Some(mut conn) = self.link.conn.lock().clone() else {
            self.unavailable.fetch_add(1, Ordering::Relaxed);
            return Err(Unavailable(
                "redis is unavailable (waiting for the probe)".to_owned(),
            ));
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
        let timeout = self.link.timeout;
        match tokio::time::timeout(timeout, invocation.invoke_async::<Vec<i64>>(&mut conn)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(err)) => Err(self.failed(err.to_string())),
            Err(_) => Err(self.failed(format!("no answer within {timeout:?}"))),
        }
    }

    /// A failed round trip: counts it and trips the breaker (logged once per outage).
    fn failed(&self, detail: String) -> Unavailable {
        self.unavailable.fetch_add(1, Ordering::Relaxed);
        if self.link.trip() {
            tracing::warn!(%detail, on_unavailable = ?self.on_unavailable,
                "redis for limits is unavailable; calls skip it until a probe succeeds");
        }
        Unavailable(detail)
    }
}
