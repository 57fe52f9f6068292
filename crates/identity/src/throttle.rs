//! Throttling of failed client authentication at the token endpoint (`issuer.client_auth`).
//!
//! A wrong secret costs the gateway an argon2 check (tens of milliseconds of CPU) and an audit
//! record; without a brake, one client guessing secrets slows every agent down. Failures are
//! counted per client address (IPv6 by its /64, the unit one host usually controls) and per
//! client id named, known or not alike, so the throttle does not tell which ids exist. Past the
//! free allowance each further failure doubles a back-off (1 s, 2 s, 4 s, ... up to
//! `max_backoff`); while it runs, requests from that address, or naming that client id, are
//! answered 429 with `Retry-After` before any secret is checked. Counts are forgotten after
//! `forget_after` without a failure.
//!
//! The client-id back-off is the one an attacker could aim at a victim: it never applies to an
//! address from which that client authenticated in the last [`TRUSTED_FOR`], so a working agent
//! keeps getting tokens while someone else sends wrong secrets in its name.
//!
//! Separately, at most `concurrent_checks` secret checks run at once; a request that waits more
//! than [`CHECK_WAIT`] for a turn is answered 503, so a flood cannot queue unbounded work.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use portcullis_config::ClientAuthConfig;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a successful authentication from an address exempts that address from the
/// client-id back-off.
pub const TRUSTED_FOR: Duration = Duration::from_secs(24 * 3600);
/// Addresses remembered per client as trusted.
const TRUSTED_PER_CLIENT: usize = 16;
/// Entries per table; past it, stale entries are dropped, and if none is stale a new key is not
/// tracked (the other table still applies).
const MAX_ENTRIES: usize = 100_000;
/// How long a request waits for a turn to check a secret.
pub const CHECK_WAIT: Duration = Duration::from_secs(1);
/// The first back-off once the free allowance is spent.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Why a token request is not checked now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures from this address.
    Address(Duration),
    /// Too many failures naming this client id, from addresses it never authenticated from.
    Client(Duration),
}

impl Throttled {
    /// How long the caller should wait, rounded up to whole seconds (at least one).
    pub fn retry_after_secs(self) -> u64 {
        let (Self::Address(wait) | Self::Client(wait)) = self;
        let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        whole.max(1)
    }
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Tables {
    by_address: HashMap<IpAddr, Failures>,
    by_client: HashMap<String, Failures>,
    trusted: HashMap<String, VecDeque<(IpAddr, Instant)>>,
}

/// The token endpoint's brake on failed client authentication.
#[derive(Debug)]
pub struct ClientAuthThrottle {
    free_per_address: u32,
    free_per_client: u32,
    max_backoff: Duration,
    forget_after: Duration,
    tables: Mutex<Tables>,
    checks: Semaphore,
}

impl ClientAuthThrottle {
    /// A throttle with the configured allowances.
    pub fn new(config: &ClientAuthConfig) -> Self {
        let checks = config.concurrent_checks.map_or_else(
            || std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            |n| usize::try_from(n.get()).unwrap_or(usize::MAX),
        );
        Self {
            free_per_address: config.failures_per_address,
            free_per_client: config.failures_per_client,
            max_backoff: config.max_backoff.0,
            forget_after: config.forget_after.0,
            tables: Mutex::new(Tables::default()),
            checks: Semaphore::new(checks.min(Semaphore::MAX_PERMITS)),
        }
    }

    /// Whether a request from `address` naming `client_id` may have its credentials checked
    /// at `now`.
    pub fn check(
        &self,
        address: Option<IpAddr>,
        client_id: Option<&str>,
        now: Instant,
    ) -> Result<(), Throttled> {
        let tables = self.tables.lock();
        let address = address.map(bucket);
        if let Some(wait) = address
            .and_then(|a| tables.by_address.get(&a))
            .and_then(|f| self.remaining(f, now))
        {
            return Err(Throttled::Address(wait));
        }
        if let Some(id) = client_id
            && !address.is_some_and(|a| is_trusted(&tables, id, a, now))
            && let Some(wait) = tables
                .by_client
                .get(id)
                .and_then(|f| self.remaining(f, now))
        {
            return Err(Throttled::Client(wait));
        }
        Ok(())
    }

    /// Counts a failed authentication.
    pub fn failed(&self, address: Option<IpAddr>, client_id: Option<&str>, now: Instant) {
        let mut tables = self.tables.lock();
        let address = address.map(bucket);
        if let Some(address) = address {
            let free = self.free_per_address;
            self.count(&mut tables.by_address, address, free, now);
        }
        if let Some(id) = client_id
            && !address.is_some_and(|a| is_trusted(&tables, id, a, now))
        {
            let free = self.free_per_client;
            self.count(&mut tables.by_client, id.to_owned(), free, now);
        }
    }

    /// Records a successful authentication: the address's failures are forgotten and the
    /// address becomes trusted for that client.
    pub fn succeeded(&self, address: Option<IpAddr>, client_id: &str, now: Instant) {
        let Some(address) = address.map(bucket) else {
            return;
        };
        let mut tables = self.tables.lock();
        tables.by_address.remove(&address);
        if !tables.trusted.contains_key(client_id) && tables.trusted.len() >= MAX_ENTRIES {
            return;
        }
        let trusted = tables.trusted.entry(client_id.to_owned()).or_default();
        trusted.retain(|(a, _)| *a != address);
        if trusted.len() >= TRUSTED_PER_CLIENT {
            trusted.pop_front();
        }
        trusted.push_back((address, now));
    }

    /// Waits up to [`CHECK_WAIT`] for a turn to check a secret; `None` when the gateway is
    /// saturated.
    pub async fn check_permit(&self) -> Option<SemaphorePermit<'_>> {
        tokio::time::timeout(CHECK_WAIT, self.checks.acquire())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Time left on the back-off of `failures`, if any.
    fn remaining(&self, failures: &Failures, now: Instant) -> Option<Duration> {
        if now.saturating_duration_since(failures.last) >= self.forget_after {
            return None;
        }
        failures
            .blocked_until
            .map(|until| until.saturating_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    fn count<K: std::hash::Hash + Eq>(
        &self,
        table: &mut HashMap<K, Failures>,
        key: K,
        free: u32,
        now: Instant,
    ) {
        if !table.contains_key(&key) && table.len() >= MAX_ENTRIES {
            let forget = self.forget_after;
            table.retain(|_, f| now.saturating_duration_since(f.last) < forget);
            if table.len() >= MAX_ENTRIES {
                tracing::warn!("client authentication throttle table is full");
                return;
            }
        }
        let failures = table.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if now.saturating_duration_since(failures.last) >= self.forget_after {
            failures.count = 0;
            failures.blocked_until = None;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        if failures.count > free {
            let doublings = (failures.count - free - 1).min(31);
            let backoff = FIRST_BACKOFF
                .saturating_mul(1u32 << doublings)
                .min(self.max_backoff);
            failures.blocked_until = Some(now + backoff);
        }
    }
}

/// Whether `client_id` authenticated from `address` within [`TRUSTED_FOR`].
fn is_trusted(tables: &Tables, client_id: &str, address: IpAddr, now: Instant) -> bool {
    tables.trusted.get(client_id).is_some_and(|addresses| {
        addresses
            .iter()
            .any(|(a, at)| *a == address && now.saturating_duration_since(*at) < TRUSTED_FOR)
    })
}

/// The unit an address is counted in: an IPv4 address, or an IPv6 address's /64 (IPv4-mapped
/// IPv6 addresses count as their IPv4 address).
pub(crate) fn bucket(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                for segment in &mut segments[4..] {
                    *segment = 0;
                }
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_config::HumanDuration;

    fn throttle(per_address: u32, per_client: u32) -> ClientAuthThrottle {
        ClientAuthThrottle::new(&ClientAuthConfig {
            failures_per_address: per_address,
            failures_per_client: per_client,
            max_backoff: HumanDuration(Duration::from_secs(60)),
            forget_after: HumanDuration(Duration::from_secs(600)),
            concurrent_checks: None,
        })
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn an_address_is_slowed_after_its_allowance_with_doubling_backoff() {
        let t = throttle(3, 100);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.check(ip("192.0.2.1"), Some("a"), now), Ok(()));
            t.failed(ip("192.0.2.1"), Some("a"), now);
        }
        assert_eq!(t.check(ip("192.0.2.1"), Some("a"), now), Ok(()));
        t.failed(ip("192.0.2.1"), Some("a"), now);
        assert_eq!(
            t.check(ip("192.0.2.1"), Some("a"), now),
            Err(Throttled::Address(Duration::from_secs(1)))
        );
        // Another address is not affected.
        assert_eq!(t.check(ip("192.0.2.2"), Some("a"), now), Ok(()));
        let later = now + Duration::from_secs(1);
        assert_eq!(t.check(ip("192.0.2.1"), Some("a"), later), Ok(()));
        t.failed(ip("192.0.2.1"), Some("a"), later);
        assert_eq!(
            t.check(ip("192.0.2.1"), Some("a"), later),
            Err(Throttled::Address(Duration::from_secs(2)))
        );
        // The back-off is capped.
        let mut at = later;
        for _ in 0..40 {
            at += Duration::from_secs(61);
            t.failed(ip("192.0.2.1"), Some("a"), at);
        }
        assert_eq!(
            t.check(ip("192.0.2.1"), None, at),
            Err(Throttled::Address(Duration::from_secs(60)))
        );
        // Forgotten after a quiet period.
        assert_eq!(
            t.check(ip("192.0.2.1"), None, at + Duration::from_secs(600)),
            Ok(())
        );
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let t = throttle(1, 100);
        let now = Instant::now();
        t.failed(ip("2001:db8:1:2::1"), None, now);
        t.failed(ip("2001:db8:1:2:ffff::9"), None, now);
        assert!(t.check(ip("2001:db8:1:2::77"), None, now).is_err());
        assert_eq!(t.check(ip("2001:db8:1:3::1"), None, now), Ok(()));
        t.failed(ip("::ffff:192.0.2.9"), None, now);
        t.failed(ip("192.0.2.9"), None, now);
        assert!(t.check(ip("192.0.2.9"), None, now).is_err());
    }

    #[test]
    fn a_client_id_is_slowed_but_not_for_addresses_it_signed_in_from() {
        let t = throttle(1000, 2);
        let now = Instant::now();
        t.succeeded(ip("192.0.2.10"), "victim", now);
        for n in 0..5u8 {
            t.failed(ip(&format!("198.51.100.{n}")), Some("victim"), now);
        }
        assert!(matches!(
            t.check(ip("198.51.100.77"), Some("victim"), now),
            Err(Throttled::Client(_))
        ));
        // The agent's own address keeps working.
        assert_eq!(t.check(ip("192.0.2.10"), Some("victim"), now), Ok(()));
        // Unknown and known ids are counted alike.
        for n in 0..5u8 {
            t.failed(ip(&format!("198.51.100.{n}")), Some("nobody"), now);
        }
        assert!(matches!(
            t.check(ip("198.51.100.77"), Some("nobody"), now),
            Err(Throttled::Client(_))
        ));
    }

    #[test]
    fn success_clears_the_address() {
        let t = throttle(1, 100);
        let now = Instant::now();
        t.failed(ip("192.0.2.1"), Some("a"), now);
        t.failed(ip("192.0.2.1"), Some("a"), now);
        assert!(t.check(ip("192.0.2.1"), Some("a"), now).is_err());
        t.succeeded(ip("192.0.2.1"), "a", now);
        assert_eq!(t.check(ip("192.0.2.1"), Some("a"), now), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(
            Throttled::Address(Duration::from_millis(1500)).retry_after_secs(),
            2
        );
        assert_eq!(
            Throttled::Client(Duration::from_secs(3)).retry_after_secs(),
            3
        );
        assert_eq!(Throttled::Client(Duration::ZERO).retry_after_secs(), 1);
    }
}
