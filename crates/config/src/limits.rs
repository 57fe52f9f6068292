//! The `limits` section: input limits on call arguments (`max_depth`, `max_string_bytes`,
//! `max_items`) and the limits on calls themselves: rates, quotas, concurrency caps, loop
//! detection, the token estimator and where limit state lives.

use std::collections::HashSet;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    ConfigError, Context, HumanDuration, Name, NonZeroDuration, Problem, SecretRef, ToolPatterns,
};

/// The `limits` section, checked: every size, rate, cap and period greater than zero, limit
/// names valid and unique across rates and quotas, tool patterns compiled.
#[derive(Clone, Debug)]
pub struct InputLimits {
    /// Deepest nesting of arrays and objects in the arguments.
    pub max_depth: usize,
    /// Longest string (in bytes) anywhere in the arguments, keys included.
    pub max_string_bytes: usize,
    /// Most elements of any array or members of any object.
    pub max_items: usize,
    /// Token-bucket rate limits; every limit that applies to a call must pass.
    pub rates: Vec<RateLimitConfig>,
    /// Daily or monthly budgets, persisted across restarts.
    pub quotas: Vec<QuotaConfig>,
    /// Calls in flight at once, per agent and per upstream API.
    pub concurrency: ConcurrencyConfig,
    /// Refuses the same call repeated too often.
    pub loop_detection: Option<LoopDetectionConfig>,
    /// How the size of a call is turned into estimated model-context tokens.
    pub estimator: EstimatorConfig,
    /// Where limit state lives.
    pub backend: LimitBackendConfig,
}

/// A token-bucket rate limit, checked.
#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    /// Name of the limit, reported in answers (`RateLimit-Policy`) and audit records.
    pub name: Name,
    /// What the counter is kept per; empty means one counter for all calls.
    pub key: Vec<LimitKeyPart>,
    /// Where the limit is checked; an `admit` limit is keyed by neither tool nor API and has no
    /// `tools`.
    pub stage: LimitStage,
    /// What one call weighs.
    pub weigh: LimitWeight,
    /// Units refilled per `per`; greater than zero.
    pub rate: u64,
    /// The refill period.
    pub per: NonZeroDuration,
    /// Bucket capacity; `rate` when unset, never zero.
    pub burst: Option<u64>,
    /// Apply only to these tools; empty: every tool.
    pub tools: ToolPatterns,
}

/// A budget per period, checked.
#[derive(Clone, Debug)]
pub struct QuotaConfig {
    /// Name of the quota, reported in answers and audit records.
    pub name: Name,
    /// What the budget is kept per; empty means one budget for all calls.
    pub key: Vec<LimitKeyPart>,
    /// The period after which the budget starts again.
    pub period: QuotaPeriod,
    /// Units per period; greater than zero.
    pub limit: u64,
    /// What one call weighs.
    pub weigh: LimitWeight,
    /// Apply only to these tools; empty: every tool.
    pub tools: ToolPatterns,
}

/// Loop detection, checked.
#[derive(Clone, Debug)]
pub struct LoopDetectionConfig {
    /// Identical calls allowed within `window`; greater than zero.
    pub max_repeats: u32,
    /// The window.
    pub window: NonZeroDuration,
}

/// Where limit state is kept, checked.
#[derive(Clone, Debug, Default)]
pub enum LimitBackendConfig {
    /// In this process; quotas persist in `limits.db` in the data directory.
    #[default]
    Local,
    /// Redis, shared by every replica that names the same server and prefix.
    Redis {
        /// The server URL, as a secret reference (its file resolved) or `env:` name.
        url: SecretRef,
        /// Prefix of every key the gateway writes: non-empty, without `{` or `}`.
        prefix: String,
        /// Longest wait for one Redis round trip.
        timeout: NonZeroDuration,
        /// What to do while Redis is unavailable.
        on_unavailable: OnUnavailable,
    },
}

/// One part of a limit's key: the counter is kept per distinct value of each part.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitKeyPart {
    /// The agent (the token's `client_id`).
    Agent,
    /// The acting user (the token subject).
    User,
    /// The tenant; principals without one share the placeholder tenant `-`.
    Tenant,
    /// The tool name.
    Tool,
    /// The upstream API of the tool.
    Api,
}

/// Where in the pipeline a rate limit is checked.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitStage {
    /// Right after identify, before any expensive stage; every call weighs 1 and only
    /// `agent`, `user` and `tenant` may be key parts (the tool is not resolved yet).
    Admit,
    /// After authorization, so denied calls consume nothing; weighted as `weigh` says.
    #[default]
    Meter,
}

/// What one call weighs against a meter limit or a quota.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitWeight {
    /// Every call weighs 1.
    Calls,
    /// The tool's `cost` (default 1).
    #[default]
    Cost,
    /// The tool's `cost` plus the estimated context tokens of the request and the response.
    /// The response part is charged after the response arrived (the bucket may go into debt).
    Tokens,
}

/// The period of a quota: calendar days or months in UTC.
#[derive(Clone, Copy, Debug, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    /// From midnight UTC to midnight UTC.
    Day,
    /// From the first of the month, midnight UTC.
    Month,
}

/// Concurrency caps; absent means no cap.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcurrencyConfig {
    /// Most calls of one agent in flight at once (per gateway replica).
    pub per_agent: Option<u32>,
    /// Most calls to one upstream API in flight at once (per gateway replica).
    pub per_api: Option<u32>,
}

/// The estimator of model-context tokens from bytes.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimatorConfig {
    /// Bytes of JSON per estimated token.
    pub bytes_per_token: u32,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self { bytes_per_token: 4 }
    }
}

/// Behaviour while the shared limit store cannot be reached.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// Refuse calls that a shared limit applies to.
    #[default]
    FailClosed,
    /// Enforce the limits in this process alone until Redis answers again.
    Local,
}

impl Default for InputLimits {
    fn default() -> Self {
        let input = RawLimits::default();
        Self {
            max_depth: input.max_depth,
            max_string_bytes: input.max_string_bytes,
            max_items: input.max_items,
            rates: Vec::new(),
            quotas: Vec::new(),
            concurrency: ConcurrencyConfig::default(),
            loop_detection: None,
            estimator: EstimatorConfig::default(),
            backend: LimitBackendConfig::Local,
        }
    }
}

/// The `limits` section: input limits on call arguments (`max_depth`, `max_string_bytes`,
/// `max_items`) and the limits on calls themselves: rates, quotas, concurrency caps and loop
/// detection.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
#[schemars(rename = "InputLimits")]
pub(crate) struct RawLimits {
    /// Deepest nesting of arrays and objects in the arguments.
    max_depth: usize,
    /// Longest string (in bytes) anywhere in the arguments, keys included.
    max_string_bytes: usize,
    /// Most elements of any array or members of any object.
    max_items: usize,
    /// Token-bucket rate limits; every limit that applies to a call must pass.
    rates: Vec<RawRate>,
    /// Daily or monthly budgets, persisted across restarts.
    quotas: Vec<RawQuota>,
    /// Calls in flight at once, per agent and per upstream API.
    concurrency: ConcurrencyConfig,
    /// Refuses the same call (principal, tool, argument digest) repeated too often.
    loop_detection: Option<RawLoopDetection>,
    /// How the size of a call is turned into estimated model-context tokens (`weigh: tokens`).
    estimator: EstimatorConfig,
    /// Where limit state lives: in this process (default) or in Redis, shared by replicas.
    backend: RawBackend,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_string_bytes: 16 * 1024,
            max_items: 1000,
            rates: Vec::new(),
            quotas: Vec::new(),
            concurrency: ConcurrencyConfig::default(),
            loop_detection: None,
            estimator: EstimatorConfig::default(),
            backend: RawBackend::Local,
        }
    }
}

/// A token-bucket rate limit.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RateLimitConfig")]
struct RawRate {
    /// Name of the limit, reported in answers (`RateLimit-Policy`) and audit records.
    name: String,
    /// What the counter is kept per; empty means one counter for all calls.
    #[serde(default)]
    key: Vec<LimitKeyPart>,
    /// Where the limit is checked.
    #[serde(default)]
    stage: LimitStage,
    /// What one call weighs (meter limits only; admit limits count calls).
    #[serde(default)]
    weigh: LimitWeight,
    /// Units refilled per `per`.
    rate: u64,
    /// The refill period.
    #[serde(default = "default_rate_period")]
    per: HumanDuration,
    /// Bucket capacity: the most units available at once. Defaults to `rate`.
    #[serde(default)]
    burst: Option<u64>,
    /// Apply only to these tools; empty: every tool.
    #[serde(default)]
    tools: Vec<String>,
}

fn default_rate_period() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

/// A budget per period.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "QuotaConfig")]
struct RawQuota {
    /// Name of the quota, reported in answers and audit records.
    name: String,
    /// What the budget is kept per; empty means one budget for all calls.
    #[serde(default)]
    key: Vec<LimitKeyPart>,
    /// The period after which the budget starts again.
    period: QuotaPeriod,
    /// Units per period.
    limit: u64,
    /// What one call weighs.
    #[serde(default)]
    weigh: LimitWeight,
    /// Apply only to these tools; empty: every tool.
    #[serde(default)]
    tools: Vec<String>,
}

/// Loop detection.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LoopDetectionConfig")]
struct RawLoopDetection {
    /// Identical calls allowed within `window`; the next one is refused with `loop`.
    max_repeats: u32,
    /// The window.
    window: HumanDuration,
}

/// Where limit state is kept.
#[derive(Default, Deserialize, JsonSchema, Serialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[schemars(rename = "LimitBackendConfig")]
enum RawBackend {
    /// In this process; quotas persist in `limits.db` in the data directory.
    #[default]
    Local,
    /// Redis, shared by every replica that names the same server and prefix.
    Redis {
        /// `redis://host:port/db` (or `rediss://`); may be a secret reference when it carries
        /// a password.
        url: SecretRef,
        /// Prefix of every key the gateway writes.
        #[serde(default = "default_redis_prefix")]
        prefix: String,
        /// Longest wait for one Redis round trip before it counts as unavailable.
        #[serde(default = "default_redis_timeout")]
        timeout: HumanDuration,
        /// What to do while Redis is unavailable.
        #[serde(default)]
        on_unavailable: OnUnavailable,
    },
}

fn default_redis_prefix() -> String {
    "portcullis".to_owned()
}

fn default_redis_timeout() -> HumanDuration {
    HumanDuration(Duration::from_millis(100))
}

impl RawLimits {
    /// Checks the section; limit names are unique across rates and quotas.
    pub(crate) fn parse(self, cx: &Context<'_>) -> Result<InputLimits, ConfigError> {
        if self.max_depth == 0 || self.max_string_bytes == 0 {
            return Err(cx.invalid("limits", Problem::AnyZero("limits")));
        }
        let rates: Vec<RateLimitConfig> = cx.each("limits.rates", self.rates, RawRate::parse)?;
        let quotas: Vec<QuotaConfig> = cx.each("limits.quotas", self.quotas, RawQuota::parse)?;
        let mut names = HashSet::new();
        let rate_names = rates.iter().map(|rate| rate.name.as_str());
        cx.unique_in(
            &mut names,
            "limits.rates",
            "name",
            rate_names,
            Problem::LimitName,
        )?;
        let quota_names = quotas.iter().map(|quota| quota.name.as_str());
        cx.unique_in(
            &mut names,
            "limits.quotas",
            "name",
            quota_names,
            Problem::LimitName,
        )?;
        let concurrency = self.concurrency;
        if concurrency.per_agent == Some(0) || concurrency.per_api == Some(0) {
            return Err(cx.invalid("limits.concurrency", Problem::AnyZero("caps")));
        }
        let loop_detection = self
            .loop_detection
            .map(|detection| {
                let window = NonZeroDuration::new(detection.window.0)
                    .filter(|_| detection.max_repeats > 0)
                    .ok_or_else(|| {
                        cx.invalid(
                            "limits.loop_detection",
                            Problem::AnyZero("`max_repeats` and `window`"),
                        )
                    })?;
                Ok(LoopDetectionConfig {
                    max_repeats: detection.max_repeats,
                    window,
                })
            })
            .transpose()?;
        if self.estimator.bytes_per_token == 0 {
            return Err(cx.invalid("limits.estimator.bytes_per_token", Problem::Zero));
        }
        Ok(InputLimits {
            max_depth: self.max_depth,
            max_string_bytes: self.max_string_bytes,
            max_items: self.max_items,
            rates,
            quotas,
            concurrency,
            loop_detection,
            estimator: self.estimator,
            backend: self.backend.parse(cx)?,
        })
    }
}

/// A limit's name; that names are unique across rates and quotas is checked over the lists.
fn limit_name(name: String, key: &str, cx: &Context<'_>) -> Result<Name, ConfigError> {
    Name::new(&name).ok_or_else(|| cx.invalid(format!("{key}.name"), Problem::LimitName(name)))
}

impl RawRate {
    fn parse(self, key: &str, cx: &Context<'_>) -> Result<RateLimitConfig, ConfigError> {
        let name = limit_name(self.name, key, cx)?;
        let per = NonZeroDuration::new(self.per.0)
            .filter(|_| self.rate > 0 && self.burst != Some(0))
            .ok_or_else(|| cx.invalid(key, Problem::AnyZero("`rate`, `per` and `burst`")))?;
        let tools = cx.patterns(format!("{key}.tools"), &self.tools)?;
        let resolved_later =
            |part: &LimitKeyPart| matches!(part, LimitKeyPart::Tool | LimitKeyPart::Api);
        if self.stage == LimitStage::Admit
            && (self.key.iter().any(resolved_later) || !tools.is_empty())
        {
            return Err(cx.invalid(format!("{key}.key"), Problem::AdmitKey));
        }
        Ok(RateLimitConfig {
            name,
            key: self.key,
            stage: self.stage,
            weigh: self.weigh,
            rate: self.rate,
            per,
            burst: self.burst,
            tools,
        })
    }
}

impl RawQuota {
    fn parse(self, key: &str, cx: &Context<'_>) -> Result<QuotaConfig, ConfigError> {
        let name = limit_name(self.name, key, cx)?;
        let tools = cx.patterns(format!("{key}.tools"), &self.tools)?;
        if self.limit == 0 {
            return Err(cx.invalid(format!("{key}.limit"), Problem::Zero));
        }
        Ok(QuotaConfig {
            name,
            key: self.key,
            period: self.period,
            limit: self.limit,
            weigh: self.weigh,
            tools,
        })
    }
}

impl RawBackend {
    fn parse(self, cx: &Context<'_>) -> Result<LimitBackendConfig, ConfigError> {
        let Self::Redis {
            url,
            prefix,
            timeout,
            on_unavailable,
        } = self
        else {
            return Ok(LimitBackendConfig::Local);
        };
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(cx.invalid("limits.backend.prefix", Problem::RedisPrefix));
        }
        Ok(LimitBackendConfig::Redis {
            url: cx.secret(url),
            prefix,
            timeout: cx.non_zero("limits.backend.timeout", timeout)?,
            on_unavailable,
        })
    }
}
