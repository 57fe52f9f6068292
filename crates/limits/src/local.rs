//! The in-process backend: GCRA buckets and quota counters in one map under one lock (so a
//! multi-limit check and its commit are atomic), and the concurrency counters.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Utc};
use parking_lot::Mutex;
use portcullis_config::QuotaPeriod;

use crate::store::QuotaStore;
use crate::{Check, Kind, Refusal, Rule};

/// Entries above which expired buckets are dropped on the next insert.
const PRUNE_ABOVE: usize = 100_000;

/// The state of one key.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// GCRA: the theoretical arrival time, microseconds since [`Local::epoch`].
    Tat(u64),
    /// Units used in the key's period (the period is part of the key).
    Used(u64),
}

pub(crate) struct Local {
    epoch: Instant,
    slots: Mutex<HashMap<String, Slot>>,
    store: Option<QuotaStore>,
    in_flight: Arc<Mutex<HashMap<String, u32>>>,
}

impl Local {
    pub(crate) async fn new(store: Option<QuotaStore>) -> Self {
        let mut slots = HashMap::new();
        if let Some(store) = &store {
            for (key, used) in store.current().await {
                slots.insert(key, Slot::Used(used));
            }
        }
        Self {
            epoch: Instant::now(),
            slots: Mutex::new(slots),
            store,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Waits until the quota counters are on disk.
    pub(crate) async fn flush(&self) {
        if let Some(store) = &self.store {
            store.flush().await;
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Checks every check; commits all of them if all pass, none otherwise.
    pub(crate) fn check(&self, rules: &[Rule], checks: &[Check]) -> Result<(), Refusal> {
        let now = self.now_us();
        let mut slots = self.slots.lock();
        let mut next = Vec::with_capacity(checks.len());
        for (index, check) in checks.iter().enumerate() {
            let slot = slots.get(&check.key).copied();
            match rules[check.rule].kind {
                Kind::Rate {
                    interval_us,
                    tolerance_us,
                } => {
                    let tat = match slot {
                        Some(Slot::Tat(tat)) => tat.max(now),
                        _ => now,
                    };
                    // A cost above the burst could never pass; it is charged as the burst.
                    let weight = check.cost.min(tolerance_us / interval_us.max(1));
                    let new_tat = tat.saturating_add(weight.saturating_mul(interval_us));
                    if new_tat - now > tolerance_us {
                        return Err(Refusal {
                            check: index,
                            retry_after: Duration::from_micros(new_tat - tolerance_us - now),
                        });
                    }
                    next.push(Slot::Tat(new_tat));
                }
                Kind::Quota { limit, period } => {
                    let used = match slot {
                        Some(Slot::Used(used)) => used,
                        _ => 0,
                    };
                    let total = used.saturating_add(check.cost);
                    if total > limit {
                        return Err(Refusal {
                            check: index,
                            retry_after: until_next_period(period, Utc::now()),
                        });
                    }
                    next.push(Slot::Used(total));
                }
            }
        }
        if slots.len() > PRUNE_ABOVE {
            // A bucket whose arrival time has passed is full: the same as no entry. Quota
            // entries of past periods are dropped the same way (their key names the period).
            let day = period_id(QuotaPeriod::Day, Utc::now());
            let month = period_id(QuotaPeriod::Month, Utc::now());
            slots.retain(|key, slot| match slot {
                Slot::Tat(tat) => *tat > now,
                Slot::Used(_) => {
                    key.ends_with(&day.to_string()) || key.ends_with(&month.to_string())
                }
            });
        }
        for (check, slot) in checks.iter().zip(next) {
            if let (Slot::Used(used), Some(store)) = (slot, &self.store) {
                store.save(&check.key, used);
            }
            // Updated in place when the key is known: no allocation on the common path.
            match slots.get_mut(&check.key) {
                Some(existing) => *existing = slot,
                None => {
                    slots.insert(check.key.clone(), slot);
                }
            }
        }
        Ok(())
    }

    /// Adds every check's cost without checking (the debt of a response).
    pub(crate) fn charge(&self, rules: &[Rule], checks: &[Check]) {
        let now = self.now_us();
        let mut slots = self.slots.lock();
        for check in checks {
            let slot = slots.get(&check.key).copied();
            let next = match rules[check.rule].kind {
                Kind::Rate { interval_us, .. } => {
                    let tat = match slot {
                        Some(Slot::Tat(tat)) => tat.max(now),
                        _ => now,
                    };
                    Slot::Tat(tat.saturating_add(check.cost.saturating_mul(interval_us)))
                }
                Kind::Quota { .. } => {
                    let used = match slot {
                        Some(Slot::Used(used)) => used,
                        _ => 0,
                    };
                    let used = used.saturating_add(check.cost);
                    if let Some(store) = &self.store {
                        store.save(&check.key, used);
                    }
                    Slot::Used(used)
                }
            };
            slots.insert(check.key.clone(), next);
        }
    }

    /// Takes one of `cap` concurrency slots of `key` under `name`, if one is free.
    pub(crate) fn acquire(&self, name: &str, key: &str, cap: u32) -> Option<ConcurrencyPermit> {
        let full = format!("{name}\u{1f}{key}");
        let mut in_flight = self.in_flight.lock();
        match in_flight.get_mut(&full) {
            Some(count) if *count >= cap => return None,
            Some(count) => *count += 1,
            None => {
                in_flight.insert(full.clone(), 1);
            }
        }
        Some(ConcurrencyPermit {
            table: Arc::clone(&self.in_flight),
            key: full,
        })
    }
}

/// One call in flight under a concurrency cap; the slot is freed when this is dropped, on
/// every exit path (an answer, an error, or the call's task being cancelled).
pub struct ConcurrencyPermit {
    table: Arc<Mutex<HashMap<String, u32>>>,
    key: String,
}

impl std::fmt::Debug for ConcurrencyPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrencyPermit").finish_non_exhaustive()
    }
}

impl Drop for ConcurrencyPermit {
    fn drop(&mut self) {
        let mut table = self.table.lock();
        if let Some(count) = table.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                table.remove(&self.key);
            }
        }
    }
}

/// The number of the calendar period containing `now`: days or months since 1970, UTC.
pub(crate) fn period_id(period: QuotaPeriod, now: DateTime<Utc>) -> i64 {
    match period {
        QuotaPeriod::Day => now.timestamp().div_euclid(86_400),
        QuotaPeriod::Month => i64::from(now.year() - 1970) * 12 + i64::from(now.month0()),
    }
}

/// Time from `now` to the start of the next period.
pub(crate) fn until_next_period(period: QuotaPeriod, now: DateTime<Utc>) -> Duration {
    let next = match period {
        QuotaPeriod::Day => (now.timestamp().div_euclid(86_400) + 1) * 86_400,
        QuotaPeriod::Month => {
            let (year, month) = if now.month() == 12 {
                (now.year() + 1, 1)
            } else {
                (now.year(), now.month() + 1)
            };
            chrono::NaiveDate::from_ymd_opt(year, month, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map_or(now.timestamp() + 86_400, |d| d.and_utc().timestamp())
        }
    };
    Duration::from_secs(u64::try_from(next - now.timestamp()).unwrap_or(1).max(1))
}
