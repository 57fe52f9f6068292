//! Shared helpers of the Portcullis stage microbenchmarks (`benches/*.rs`): the Criterion
//! settings every bench uses, a scratch folder on a real disk, a seeded generator for
//! synthetic fixtures, and a latency-distribution pass for the figures Criterion does not give
//! (percentiles).
//!
//! Design decision: the benches drive the stage crates through their public APIs only, built
//! from the same inputs the gateway builds them from (YAML config text, a catalog of tools,
//! Cedar policy files in a folder), so a figure measures what a call pays, caches included.
//! Where a cache would hide the cost being measured (a token seen for the first time), the
//! bench feeds inputs the cache has never seen rather than reaching into it.

use std::fmt::{self, Display};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Environment variable naming the folder for scratch files (signing keys, audit databases).
/// It must be on the disk whose fsync cost is to be measured, not on a tmpfs.
pub const SCRATCH_ENV: &str = "PORTCULLIS_BENCH_DIR";

/// Criterion settings for the stage benches: short warm-up and measurement windows, so the
/// whole suite runs in a few minutes. Command-line options still override them.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

/// The value of `result`, or a message on stderr and exit status 1: a bench without its
/// fixture cannot run, and the workspace lints rule out panicking.
pub fn or_exit<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => fail(what, err),
    }
}

/// Prints `what` and `why` to stderr and exits with status 1.
pub fn fail(what: &str, why: impl Display) -> ! {
    eprintln!("benchmark setup failed: {what}: {why}");
    std::process::exit(1)
}

/// A fresh scratch folder, removed on drop: under `$PORTCULLIS_BENCH_DIR` when set, else under
/// `default_base` (the benches pass Cargo's `CARGO_TARGET_TMPDIR`, which lives in the target
/// folder and so on a real disk).
pub fn scratch_dir(default_base: &str) -> tempfile::TempDir {
    let base =
        std::env::var_os(SCRATCH_ENV).map_or_else(|| PathBuf::from(default_base), PathBuf::from);
    or_exit(std::fs::create_dir_all(&base), "create the scratch folder");
    or_exit(
        tempfile::Builder::new()
            .prefix("portcullis-bench-")
            .tempdir_in(&base),
        "create a scratch folder",
    )
}

/// A small deterministic generator (SplitMix64), so synthetic fixtures are the same on every
/// run and figures stay comparable.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0). The modulo bias is irrelevant for fixtures.
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = u64::try_from(bound).unwrap_or(u64::MAX);
        if bound == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % bound).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Sorted durations of individually timed runs.
#[derive(Clone, Debug)]
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    /// Times `runs` calls of `f` one by one. Each sample includes the cost of reading the clock
    /// twice (tens of nanoseconds with a TSC clock source).
    pub fn measure(runs: usize, mut f: impl FnMut()) -> Self {
        let mut sorted = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            f();
            sorted.push(start.elapsed());
        }
        sorted.sort_unstable();
        Self { sorted }
    }

    /// The nearest-rank quantile for `per_mille` (500 = median, 990 = p99); zero when empty.
    pub fn quantile(&self, per_mille: usize) -> Duration {
        let rank = (self.sorted.len() * per_mille.min(1000)).div_ceil(1000);
        self.sorted
            .get(rank.saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// True when nothing was measured.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Prints `label` and the distribution to stderr, where Criterion's own output goes too.
    pub fn report(&self, label: &str) {
        eprintln!("{label}: {self}");
    }
}

impl Display for Latencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "n={} p50={:.2}µs p90={:.2}µs p99={:.2}µs p99.9={:.2}µs max={:.2}µs",
            self.len(),
            micros(self.quantile(500)),
            micros(self.quantile(900)),
            micros(self.quantile(990)),
            micros(self.quantile(999)),
            micros(self.quantile(1000)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut values = (1..=1000u64).rev();
        let latencies = Latencies::measure(0, || {});
        assert!(latencies.is_empty());
        assert_eq!(latencies.quantile(990), Duration::ZERO);
        let sorted: Vec<Duration> = {
            let mut v: Vec<Duration> = values.by_ref().map(Duration::from_micros).collect();
            v.sort_unstable();
            v
        };
        let latencies = Latencies { sorted };
        assert_eq!(latencies.quantile(500), Duration::from_micros(500));
        assert_eq!(latencies.quantile(990), Duration::from_micros(990));
        assert_eq!(latencies.quantile(1000), Duration::from_micros(1000));
        assert_eq!(latencies.quantile(1), Duration::from_micros(1));
        assert_eq!(latencies.quantile(0), Duration::from_micros(1));
    }

    #[test]
    fn the_generator_is_deterministic_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.below(13);
            assert_eq!(x, b.below(13));
            assert!(x < 13);
        }
        assert_eq!(Rng::new(1).below(0), 0);
        assert!((0..100).all(|_| !a.percent(0)));
        assert!((0..100).all(|_| a.percent(100)));
    }
}
