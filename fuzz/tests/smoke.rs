//! The CI smoke run of every fuzz target: its seeds (`corpus/<target>/`), every input that once
//! failed it (`regressions/<target>/`), then seeded mutations of the seeds, a few thousand or
//! about two seconds, whichever comes first. `PORTCULLIS_FUZZ_MUTATIONS` and
//! `PORTCULLIS_FUZZ_SECONDS` raise both for a longer run on the stable toolchain alone.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portcullis_fuzz::mutate::{Rng, mutate};

/// Longest mutant, in bytes.
const MAX_LEN: usize = 8192;

fn inputs(folder: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn smoke(name: &str) {
    let (_, target) = portcullis_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = inputs(&root.join("corpus").join(name));
    assert!(!seeds.is_empty(), "target `{name}` has no seeds");
    let regressions = inputs(&root.join("regressions").join(name));
    for (path, bytes) in seeds.iter().chain(&regressions) {
        eprintln!("{name}: {}", path.display());
        target(bytes);
    }
    let mutations = env_or("PORTCULLIS_FUZZ_MUTATIONS", 3000);
    let budget = Duration::from_secs(env_or("PORTCULLIS_FUZZ_SECONDS", 2));
    let mut rng = Rng::new(0x5eed ^ name.len() as u64);
    let start = Instant::now();
    let mut done = 0;
    while done < mutations && start.elapsed() < budget {
        let (_, seed) = &seeds[rng.below(seeds.len())];
        let (_, other) = &seeds[rng.below(seeds.len())];
        let input = mutate(seed, other, &mut rng, MAX_LEN);
        let outcome = std::panic::catch_unwind(|| target(&input));
        if outcome.is_err() {
            let escaped: String = input.escape_ascii().to_string();
            panic!("{name}: mutation {done} failed; input: b\"{escaped}\"");
        }
        done += 1;
    }
    eprintln!(
        "{name}: {} seeds, {} regressions, {done} mutations in {:?}",
        seeds.len(),
        regressions.len(),
        start.elapsed()
    );
}

#[test]
fn mcp_message() {
    smoke("mcp_message");
}

#[test]
fn jwt() {
    smoke("jwt");
}

#[test]
fn openapi() {
    smoke("openapi");
}

#[test]
fn config() {
    smoke("config");
}

#[test]
fn url_classify() {
    smoke("url_classify");
}

#[test]
fn dlp() {
    smoke("dlp");
}

#[test]
fn problem() {
    smoke("problem");
}

#[test]
fn every_target_has_a_smoke_test() {
    let source = include_str!("smoke.rs");
    for (name, _) in portcullis_fuzz::TARGETS {
        assert!(
            source.contains(&format!("fn {name}() {{\n    smoke(\"{name}\");")),
            "no smoke test for `{name}`"
        );
    }
}
