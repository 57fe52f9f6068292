//! Identify stage: bearer-token verification with `Identity::verify`.
//!
//! - `cold`: every iteration verifies a token the identity has never seen, so the verified-token
//!   cache misses and the full check runs (header, signature, claims) followed by the cache
//!   insert. Tokens are minted by the same identity outside the timed section
//!   (`iter_batched`), each verified exactly once.
//! - `cached`: the same token again and again: SHA-256 of the token, a cache lookup and a
//!   clone of the principal.
//! - `cached_revoked_1000`: `cached` with 1,000 other revoked token ids in the revocation
//!   snapshot, which every verification consults after the cache.
//!
//! Both for ES256 (the default) and EdDSA; the revocation case for ES256 only.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis_bench_stages::{Latencies, or_exit, scratch_dir};
use portcullis_config::Config;
use portcullis_identity::{ChangeSource, Identity, Revocations};
use portcullis_secrets::{OverlayEnv, SecretStore};

const AGENT: &str = "bench-agent";
const SECRET_ENV: &str = "PORTCULLIS_BENCH_AGENT_SECRET";

/// An identity with one agent, its signing key generated in `data_dir`, configured from YAML
/// text as an operator would write it.
fn identity(data_dir: &Path, algorithm: &str) -> Identity {
    let yaml = format!(
        r#"
policies: policies
listener:
  public_url: "https://gateway.example/"
issuer:
  algorithm: {algorithm}
  token_ttl: 10m
agents:
  - id: {AGENT}
    client_secret: env:{SECRET_ENV}
    roles: [support, reader]
    scopes: ["orders:read", "orders:write"]
"#
    );
    let mut config = or_exit(
        Config::parse(&yaml, Path::new("bench.yaml")),
        "parse the config",
    );
    config.data_dir = data_dir.to_owned();
    // The agent's secret is never used (tokens are minted directly); it only has to resolve.
    let mut env = OverlayEnv::new();
    env.set(SECRET_ENV, "bench-only-client-secret-not-used-for-login");
    let secrets = SecretStore::new(Arc::new(env));
    // The revocation store is real (SQLite in the scratch folder) and empty, as on most
    // requests; opening it needs a runtime, verifying does not.
    let runtime = or_exit(tokio::runtime::Runtime::new(), "start a runtime");
    let revocations = or_exit(
        runtime.block_on(Revocations::open(
            data_dir,
            Identity::revocation_retention(&config),
        )),
        "open the revocation store",
    );
    or_exit(
        Identity::open(&config, &secrets, Arc::new(revocations)),
        "open the identity",
    )
}

fn mint(identity: &Identity) -> String {
    or_exit(identity.mint(AGENT, None), "mint a token").access_token
}

fn verify(c: &mut Criterion) {
    let scratch = scratch_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut group = c.benchmark_group("identity/verify");
    for algorithm in ["ES256", "EdDSA"] {
        let identity = identity(&scratch.path().join(algorithm), algorithm);

        let mut reported = false;
        group.bench_function(BenchmarkId::new("cold", algorithm), |b| {
            if !reported {
                reported = true;
                let tokens: Vec<String> = (0..2_000).map(|_| mint(&identity)).collect();
                let mut tokens = tokens.iter();
                Latencies::measure(2_000, || {
                    if let Some(token) = tokens.next() {
                        let _ = black_box(identity.verify(black_box(token)));
                    }
                })
                .report(&format!("identity/verify/cold/{algorithm} distribution"));
            }
            b.iter_batched(
                || mint(&identity),
                |token| {
                    or_exit(identity.verify(black_box(&token)), "verify a fresh token");
                },
                BatchSize::SmallInput,
            );
        });

        let token = mint(&identity);
        or_exit(identity.verify(&token), "verify the cached token");
        let mut reported = false;
        group.bench_function(BenchmarkId::new("cached", algorithm), |b| {
            if !reported {
                reported = true;
                Latencies::measure(20_000, || {
                    let _ = black_box(identity.verify(black_box(&token)));
                })
                .report(&format!("identity/verify/cached/{algorithm} distribution"));
            }
            b.iter(|| identity.verify(black_box(&token)));
        });
    }

    // The revocation snapshot is consulted on every verification, cached or not.
    let identity = identity(&scratch.path().join("revocations"), "ES256");
    let runtime = or_exit(tokio::runtime::Runtime::new(), "start a runtime");
    runtime.block_on(async {
        for n in 0..1_000 {
            or_exit(
                identity
                    .revoke_token(&format!("revoked-{n:04}"), ChangeSource::Cli)
                    .await,
                "revoke a token",
            );
        }
    });
    let token = mint(&identity);
    or_exit(identity.verify(&token), "verify the cached token");
    group.bench_function(BenchmarkId::new("cached_revoked_1000", "ES256"), |b| {
        b.iter(|| identity.verify(black_box(&token)));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = portcullis_bench_stages::criterion();
    targets = verify
}
criterion_main!(benches);
