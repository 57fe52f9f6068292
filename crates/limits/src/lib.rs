//! Limits on calls: token-bucket rate limits, daily and monthly quotas, concurrency caps and
//! loop detection. The pipeline asks [`Limits::admit`] right after identify (cheap, per
//! principal) and [`Limits::meter`] after authorization (cost-weighted, so denied calls consume
//! nothing), then [`Metered::settle`] after the response, to charge what only the response
//! size can tell.
//!
//! Design decisions:
//! - Every limit that applies to a call is checked first and consumed only if all pass
//!   (check-then-commit under one lock in process, one Lua script in Redis). A refused call
//!   therefore costs nothing in any bucket.
//! - Rate limits are GCRA token buckets written by hand (a few lines of arithmetic on one
//!   "theoretical arrival time" per key) rather than the governor crate: governor consumes on
//!   a successful check and has no way to test several limiters and then commit all or none,
//!   and the same arithmetic must run inside the Redis script anyway.
//! - Loop detection is a token bucket too, keyed by principal, tool and argument digest, with
//!   `max_repeats` units per `window`: the same backends and the same atomicity for free.
//! - Token-weighted limits are charged in two steps: the tool's cost plus the request's
//!   estimated tokens at meter time, the response's estimated tokens after the response (a
//!   debt: the bucket may go below zero and later calls wait until it refills).
//! - Concurrency caps are per replica (in process) in every backend; rates, quotas and loop
//!   detection are shared when the backend is Redis.

mod local;
mod redis_backend;
mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use portcullis_catalog::{Catalog, Tool};
use portcullis_config::{
    Config, InputLimits, LimitBackendConfig, LimitKeyPart, LimitStage, LimitWeight, OnUnavailable,
    QuotaPeriod, ToolPatterns,
};
use portcullis_core::{Denial, DenialKind, Principal, RateLimitHint};

pub use local::ConcurrencyPermit;
pub use store::LIMITS_DB_FILE;

/// The tenant of a principal that carries none (an agent acting as itself, or a user whose
/// issuer names no tenant): every such principal shares this one tenant key, so a limit keyed
/// by `tenant` applies to them together.
pub const NO_TENANT: &str = "-";

/// The name reported for loop detection refusals.
pub const LOOP_LIMIT: &str = "loop";

/// Why the limits could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// The quota database could not be opened.
    #[error("cannot open the quota store `{path}`: {source}")]
    Store {
        /// The database file.
        path: std::path::PathBuf,
        /// The cause.
        source: sqlx::Error,
    },
    /// The Redis URL is not usable.
    #[error("the redis URL of `limits.backend` is invalid: {0}")]
    RedisUrl(String),
}

/// The limits of a running gateway, built once from the configuration.
pub struct Limits {
    rules: Arc<[Rule]>,
    /// Indexes into `rules` of the admit-stage limits.
    admit: Vec<usize>,
    /// Indexes into `rules` of the meter-stage limits and quotas.
    meter: Vec<usize>,
    /// Index into `rules` of loop detection, when on.
    loop_rule: Option<usize>,
    costs: HashMap<String, u64>,
    bytes_per_token: u64,
    per_agent: Option<u32>,
    per_api: Option<u32>,
    backend: Backend,
    local: Arc<local::Local>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("rules", &self.rules.len())
            .field("redis", &matches!(self.backend, Backend::Redis(_)))
            .finish_non_exhaustive()
    }
}

enum Backend {
    Local,
    Redis(Box<redis_backend::RedisBackend>),
}

/// One compiled limit.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    key: Vec<LimitKeyPart>,
    weigh: LimitWeight,
    /// `None`: every tool.
    tools: Option<ToolPatterns>,
    pub(crate) kind: Kind,
    /// `q` and `w` of the RateLimit-Policy field.
    quota: u64,
    window_secs: u64,
}

/// The arithmetic of a limit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// GCRA: one unit every `interval_us`, at most `tolerance_us` ahead (the burst).
    Rate { interval_us: u64, tolerance_us: u64 },
    /// A budget per calendar period.
    Quota { limit: u64, period: QuotaPeriod },
}

/// One unit of work for a backend: charge `cost` to `key` under `rule`.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    pub(crate) rule: usize,
    pub(crate) key: String,
    pub(crate) cost: u64,
}

/// A refusal found by a backend: which check failed and how long until it would pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refusal {
    pub(crate) check: usize,
    pub(crate) retry_after: Duration,
}

/// What the backends report when the shared store failed.
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) String);

/// A call that passed the meter: holds its concurrency permits until dropped, and charges the
/// response's estimated tokens in [`Metered::settle`].
#[must_use = "dropping it releases the concurrency permits; settle it after the response"]
pub struct Metered {
    _permits: Vec<ConcurrencyPermit>,
    /// Token-weighted checks, with cost 0, to which the response's tokens are added.
    token_checks: Vec<Check>,
    cost: u64,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl Metered {
    /// Whether the response size matters (some limit weighs tokens); when false, callers need
    /// not measure the response.
    pub fn wants_response_size(&self) -> bool {
        !self.token_checks.is_empty()
    }

    /// The weight charged at meter time (the tool's cost plus the request's tokens, for the
    /// heaviest applicable limit), for the audit record.
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// Charges the response's estimated tokens to the token-weighted limits (a debt: later
    /// calls wait) and releases the concurrency permits. Never refuses.
    pub async fn settle(self, limits: &Limits, response_bytes: usize) {
        if self.token_checks.is_empty() {
            return;
        }
        let tokens = limits.tokens(response_bytes);
        if tokens == 0 {
            return;
        }
        let checks: Vec<Check> = self
            .token_checks
            .iter()
            .map(|check| Check {
                cost: tokens,
                ..check.clone()
            })
            .collect();
        limits.charge(&checks).await;
    }
}

impl Limits {
    /// Builds the limits of a configuration: compiles the rules, opens the quota store
    /// (`limits.db` in the data directory) and, for the Redis backend, connects (a failure to
    /// connect is not fatal: the configured `on_unavailable` applies until Redis answers).
    /// `redis_url` is the resolved URL when the backend is Redis (the config holds a secret
    /// reference).
    pub async fn open(
        config: &Config,
        catalog: &Catalog,
        redis_url: Option<&str>,
    ) -> Result<Self, LimitsError> {
        let limits = &config.limits;
        let (rules, admit, meter, loop_rule) = compile(limits);
        let costs = tool_costs(config, catalog);
        let needs_store = rules
            .iter()
            .any(|rule| matches!(rule.kind, Kind::Quota { .. }));
        let store = if needs_store {
            Some(store::QuotaStore::open(&config.data_dir).await?)
        } else {
            None
        };
        let local = Arc::new(local::Local::new(store).await);
        let rules: Arc<[Rule]> = rules.into();
        let backend = match (&limits.backend, redis_url) {
            (
                LimitBackendConfig::Redis {
                    prefix,
                    timeout,
                    on_unavailable,
                    ..
                },
                Some(url),
            ) => Backend::Redis(Box::new(
                redis_backend::RedisBackend::open(url, prefix, timeout.get(), *on_unavailable)
                    .await?,
            )),
            (LimitBackendConfig::Redis { .. }, None) => {
                return Err(LimitsError::RedisUrl("no URL given".to_owned()));
            }
            (LimitBackendConfig::Local, _) => Backend::Local,
        };
        Ok(Self {
            rules,
            admit,
            meter,
            loop_rule,
            costs,
            bytes_per_token: u64::from(limits.estimator.bytes_per_token.max(1)),
            per_agent: limits.concurrency.per_agent,
            per_api: limits.concurrency.per_api,
            backend,
            local,
        })
    }

    /// Writes the quota counters still queued; call on shutdown.
    pub async fn close(&self) {
        self.local.flush().await;
    }

    /// How often the shared store was found unavailable since start (each occurrence is also
    /// logged).
    pub fn unavailable_count(&self) -> u64 {
        match &self.backend {
            Backend::Local => 0,
            Backend::Redis(redis) => redis.unavailable.load(Ordering::Relaxed),
        }
    }

    /// Stage 3, admit: the cheap per-principal limits, checked before any expensive stage. Each
    /// call weighs 1.
    pub async fn admit(&self, principal: &Principal) -> Result<(), Denial> {
        if self.admit.is_empty() {
            return Ok(());
        }
        let checks: Vec<Check> = self
            .admit
            .iter()
            .map(|&rule| Check {
                rule,
                key: self.key(rule, principal, None),
                cost: 1,
            })
            .collect();
        self.check(&checks).await
    }

    /// Stage 8, meter: the concurrency caps, then loop detection and the cost-weighted limits
    /// and quotas that apply to this tool. `request_bytes` is asked only when a limit weighs
    /// tokens. On success the returned [`Metered`] holds the concurrency permits.
    pub async fn meter(
        &self,
        principal: &Principal,
        tool: &Tool,
        args_digest: &str,
        request_bytes: impl FnOnce() -> usize,
    ) -> Result<Metered, Denial> {
        let cost = self.costs.get(&tool.name).copied().unwrap_or(1);
        let mut request_tokens = None;
        let mut request_bytes = Some(request_bytes);
        let mut checks = Vec::with_capacity(self.meter.len() + 1);
        let mut token_checks = Vec::new();
        let mut heaviest = 0;
        if let Some(rule) = self.loop_rule {
            checks.push(Check {
                rule,
                key: loop_key(principal, &tool.name, args_digest),
                cost: 1,
            });
        }
        for &rule in &self.meter {
            let compiled = &self.rules[rule];
            if let Some(tools) = &compiled.tools
                && !tools.matches(&tool.name)
            {
                continue;
            }
            let key = self.key(rule, principal, Some(tool));
            let weight = match compiled.weigh {
                LimitWeight::Calls => 1,
                LimitWeight::Cost => cost,
                LimitWeight::Tokens => {
                    let tokens = *request_tokens.get_or_insert_with(|| {
                        let bytes = request_bytes.take().map_or(0, |measure| measure());
                        self.tokens(bytes)
                    });
                    token_checks.push(Check {
                        rule,
                        key: key.clone(),
                        cost: 0,
                    });
                    cost.saturating_add(tokens)
                }
            };
            heaviest = heaviest.max(weight);
            checks.push(Check {
                rule,
                key,
                cost: weight,
            });
        }
        // Concurrency first: a call refused by a cap consumes no bucket, and a call refused
        // by a bucket frees its permits when they drop here.
        let mut permits = Vec::new();
        for (cap, name, key) in [
            (
                self.per_agent,
                "concurrency-agent",
                principal.agent.as_str(),
            ),
            (self.per_api, "concurrency-api", tool.api.as_str()),
        ] {
            let Some(cap) = cap else { continue };
            match self.local.acquire(name, key, cap) {
                Some(permit) => permits.push(permit),
                None => {
                    return Err(Denial::limited(
                        DenialKind::RateLimited,
                        RateLimitHint {
                            name: name.to_owned(),
                            quota: u64::from(cap),
                            window_secs: 1,
                            remaining: 0,
                            retry_after_secs: 1,
                        },
                    ));
                }
            }
        }
        if !checks.is_empty() {
            self.check(&checks).await?;
        }
        Ok(Metered {
            _permits: permits,
            token_checks,
            cost: heaviest.max(cost),
        })
    }

    /// Checks all `checks` and consumes them only if all pass.
    async fn check(&self, checks: &[Check]) -> Result<(), Denial> {
        let outcome = match &self.backend {
            Backend::Local => Ok(self.local.check(&self.rules, checks)),
            Backend::Redis(redis) => redis.check(&self.rules, checks).await,
        };
        let refused = match outcome {
            Ok(outcome) => outcome,
            Err(Unavailable(detail)) => match &self.backend {
                Backend::Redis(redis) if redis.on_unavailable == OnUnavailable::Local => {
                    self.local.check(&self.rules, checks)
                }
                _ => {
                    return Err(Denial::new(
                        DenialKind::Internal,
                        "the gateway cannot check its limits now; try again later",
                    )
                    .with_internal(format!("limit store unavailable: {detail}")));
                }
            },
        };
        let Err(refusal) = refused else {
            return Ok(());
        };
        let check = &checks[refusal.check];
        let rule = &self.rules[check.rule];
        let kind = if Some(check.rule) == self.loop_rule {
            DenialKind::Loop
        } else {
            DenialKind::RateLimited
        };
        let retry_after_secs = refusal
            .retry_after
            .as_secs()
            .saturating_add(u64::from(refusal.retry_after.subsec_nanos() > 0))
            .max(1);
        Err(Denial::limited(
            kind,
            RateLimitHint {
                name: rule.name.clone(),
                quota: rule.quota,
                window_secs: rule.window_secs,
                remaining: 0,
                retry_after_secs,
            },
        ))
    }

    /// Adds `checks` without checking (the debt of a response).
    async fn charge(&self, checks: &[Check]) {
        match &self.backend {
            Backend::Local => self.local.charge(&self.rules, checks),
            Backend::Redis(redis) => {
                if redis.charge(&self.rules, checks).await.is_err()
                    && redis.on_unavailable == OnUnavailable::Local
                {
                    self.local.charge(&self.rules, checks);
                }
            }
        }
    }

    /// Estimated model-context tokens of `bytes` of JSON.
    fn tokens(&self, bytes: usize) -> u64 {
        u64::try_from(bytes)
            .unwrap_or(u64::MAX)
            .div_ceil(self.bytes_per_token)
    }

    /// The counter key of `rule` for this principal and tool: the rule's name, then each key
    /// part's value, separated by a control character no value may hold unescaped.
    fn key(&self, rule: usize, principal: &Principal, tool: Option<&Tool>) -> String {
        let compiled = &self.rules[rule];
        let mut key = compiled.name.clone();
        for part in &compiled.key {
            key.push('\u{1f}');
            let value = match part {
                LimitKeyPart::Agent => principal.agent.as_str(),
                LimitKeyPart::User => principal.subject.as_str(),
                LimitKeyPart::Tenant => principal
                    .user
                    .as_ref()
                    .map(|u| u.tenant.as_str())
                    .filter(|t| !t.is_empty())
                    .unwrap_or(NO_TENANT),
                LimitKeyPart::Tool => tool.map_or("", |t| t.name.as_str()),
                LimitKeyPart::Api => tool.map_or("", |t| t.api.as_str()),
            };
            key.extend(value.chars().filter(|c| *c != '\u{1f}'));
        }
        if let Kind::Quota { period, .. } = compiled.kind {
            key.push('\u{1f}');
            key.push_str(&local::period_id(period, chrono::Utc::now()).to_string());
        }
        key
    }
}

/// The loop-detection key: who (agent and acting user), which tool, which arguments.
fn loop_key(principal: &Principal, tool: &str, args_digest: &str) -> String {
    let mut key = String::with_capacity(
        LOOP_LIMIT.len() + principal.agent.len() + principal.subject.len() + tool.len() + 68,
    );
    for part in [
        LOOP_LIMIT,
        principal.agent.as_str(),
        principal.subject.as_str(),
        tool,
        args_digest,
    ] {
        key.extend(part.chars().filter(|c| *c != '\u{1f}'));
        key.push('\u{1f}');
    }
    key
}

type Compiled = (Vec<Rule>, Vec<usize>, Vec<usize>, Option<usize>);

fn compile(limits: &InputLimits) -> Compiled {
    let mut rules = Vec::new();
    let mut admit = Vec::new();
    let mut meter = Vec::new();
    for rate in &limits.rates {
        let burst = rate.burst.unwrap_or(rate.rate).max(1);
        let per_us = u64::try_from(rate.per.get().as_micros()).unwrap_or(u64::MAX);
        let interval_us = (per_us / rate.rate.max(1)).max(1);
        let index = rules.len();
        rules.push(Rule {
            name: rate.name.to_string(),
            key: rate.key.clone(),
            weigh: rate.weigh,
            tools: tool_set(&rate.tools),
            kind: Kind::Rate {
                interval_us,
                tolerance_us: interval_us.saturating_mul(burst),
            },
            quota: rate.rate,
            window_secs: rate.per.get().as_secs().max(1),
        });
        match rate.stage {
            LimitStage::Admit => admit.push(index),
            LimitStage::Meter => meter.push(index),
        }
    }
    for quota in &limits.quotas {
        meter.push(rules.len());
        rules.push(Rule {
            name: quota.name.to_string(),
            key: quota.key.clone(),
            weigh: quota.weigh,
            tools: tool_set(&quota.tools),
            kind: Kind::Quota {
                limit: quota.limit,
                period: quota.period,
            },
            quota: quota.limit,
            window_secs: match quota.period {
                QuotaPeriod::Day => 86_400,
                QuotaPeriod::Month => 30 * 86_400,
            },
        });
    }
    let loop_rule = limits.loop_detection.as_ref().map(|detection| {
        let window_us = u64::try_from(detection.window.get().as_micros()).unwrap_or(u64::MAX);
        let repeats = u64::from(detection.max_repeats.max(1));
        let interval_us = (window_us / repeats).max(1);
        rules.push(Rule {
            name: LOOP_LIMIT.to_owned(),
            key: Vec::new(),
            weigh: LimitWeight::Calls,
            tools: None,
            kind: Kind::Rate {
                interval_us,
                tolerance_us: interval_us.saturating_mul(repeats),
            },
            quota: repeats,
            window_secs: detection.window.get().as_secs().max(1),
        });
        rules.len() - 1
    });
    (rules, admit, meter, loop_rule)
}

/// The tools a limit applies to; `None` (every tool) for an empty list.
fn tool_set(patterns: &ToolPatterns) -> Option<ToolPatterns> {
    (!patterns.is_empty()).then(|| patterns.clone())
}

/// The cost of each tool: the highest `cost` among the `tools` selections that pick its
/// operation (the catalog's rule for risk classes), 1 when none sets one.
fn tool_costs(config: &Config, catalog: &Catalog) -> HashMap<String, u64> {
    let mut costs = HashMap::new();
    for selection in &config.tools {
        let Some(cost) = selection.cost else { continue };
        for tool in catalog.tools() {
            if selection.api == tool.api && selection.operations.matches(&tool.operation_id) {
                let entry = costs.entry(tool.name.clone()).or_insert(0);
                *entry = (*entry).max(u64::from(cost));
            }
        }
    }
    costs
}

#[cfg(test)]
mod tests;
