//! Fuzz targets for the parsers an attacker reaches: one function per target, taking the raw
//! input bytes and panicking when a property does not hold.
//!
//! Key design decision: the targets are plain functions of this library, so one body of code
//! serves two drivers. `tests/smoke.rs` runs every target over its seeds, its regressions and a
//! few thousand seeded mutations on the stable toolchain in every `scripts/test`; the libFuzzer
//! binaries under `fuzz_targets/` (behind the `libfuzzer` feature, built by `scripts/fuzz` with
//! the stable sanitizer-coverage flags) run them coverage-guided. The targets never touch the
//! network: the identity and catalog fixtures live in a temporary folder, and the egress side of
//! the URL differential is the egress classifier itself, called on the address the URL names.
//! See docs/fuzzing.md.

// A fuzz target reports a finding by panicking; that is its whole job.
#![expect(clippy::panic, reason = "a fuzz target reports a finding by panicking")]

mod fixture;
pub mod mutate;
mod targets;

pub use targets::{config, dlp, jwt, mcp_message, openapi, problem, url_classify};

/// A fuzz target: the raw input in, a panic on a finding.
pub type Target = fn(&[u8]);

/// Every target by name, in the order the smoke test and `scripts/fuzz` run them.
pub const TARGETS: &[(&str, Target)] = &[
    ("mcp_message", mcp_message),
    ("jwt", jwt),
    ("openapi", openapi),
    ("config", config),
    ("url_classify", url_classify),
    ("dlp", dlp),
    ("problem", problem),
];
