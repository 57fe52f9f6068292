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
//!
//! `identity/exchange` measures delegation (RFC 8693): `exchange` is one token-exchange request
//! at the token endpoint (client authenticated by a secret reference, so no argon2; the
//! subject token is a user's ES256 token from a trusted external issuer whose keys are cached;
//! the answer a newly signed token), `verify_delegated/cold` and `/cached` the verification of
//! the delegated token the exchange issues.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis_bench_stages::{Latencies, or_exit, scratch_dir};
use portcullis_config::Config;
use portcullis_identity::{ChangeSource, FetchError, Identity, MetadataFetcher, Revocations};
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

/// Serves the external issuer's discovery document and JWKS from memory.
struct Fixed {
    issuer: String,
    jwks: serde_json::Value,
}

impl MetadataFetcher for Fixed {
    fn fetch<'a>(
        &'a self,
        _issuer: &'a str,
        url: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<serde_json::Value, FetchError>> + Send + 'a>,
    > {
        Box::pin(async move {
            if url.ends_with("/.well-known/openid-configuration") {
                Ok(
                    serde_json::json!({ "issuer": self.issuer, "jwks_uri": "https://idp.example/jwks" }),
                )
            } else {
                Ok(self.jwks.clone())
            }
        })
    }
}

fn exchange(c: &mut Criterion) {
    let scratch = scratch_dir(env!("CARGO_TARGET_TMPDIR"));
    // The user's issuer: another identity, trusted by the gateway as an external issuer.
    let idp = identity(&scratch.path().join("idp"), "ES256");
    let yaml = format!(
        r#"
policies: policies
listener:
  public_url: "https://gateway.example:8443/"
agents:
  - id: assistant
    client_secret: env:{SECRET_ENV}
    roles: [assistant]
    scopes: ["orders:read", "orders:write"]
    token_exchange: true
identity_providers:
  - issuer: "{issuer}"
    audiences: ["{audience}"]
    algorithms: [ES256]
"#,
        issuer = idp.issuer(),
        audience = idp.audience(),
    );
    let mut config = or_exit(
        Config::parse(&yaml, Path::new("bench.yaml")),
        "parse the config",
    );
    config.data_dir = scratch.path().join("gateway");
    let mut env = OverlayEnv::new();
    env.set(SECRET_ENV, "bench-assistant-secret");
    let secrets = SecretStore::new(Arc::new(env));
    let runtime = or_exit(tokio::runtime::Runtime::new(), "start a runtime");
    let revocations = or_exit(
        runtime.block_on(Revocations::open(
            &config.data_dir,
            Identity::revocation_retention(&config),
        )),
        "open the revocation store",
    );
    let gateway = or_exit(
        Identity::open(&config, &secrets, Arc::new(revocations)),
        "open the gateway identity",
    );
    gateway.set_metadata_fetcher(Arc::new(Fixed {
        issuer: idp.issuer().to_owned(),
        jwks: idp.jwks(),
    }));
    let user = mint(&idp);
    assert!(
        runtime.block_on(gateway.warm_keys(&user)),
        "the keys are fetched"
    );
    let authorization = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "assistant:bench-assistant-secret"
        )
    );
    let form: Vec<(String, String)> = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", user.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("scope", "orders:read"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let exchanged = || {
        or_exit(
            gateway.token_endpoint(&form, Some(&authorization)),
            "exchange the user's token",
        )
        .access_token
    };

    let mut group = c.benchmark_group("identity/exchange");
    let mut reported = false;
    group.bench_function("exchange", |b| {
        if !reported {
            reported = true;
            Latencies::measure(2_000, || {
                black_box(exchanged());
            })
            .report("identity/exchange/exchange distribution");
        }
        b.iter(|| black_box(exchanged()));
    });
    group.bench_function(BenchmarkId::new("verify_delegated", "cold"), |b| {
        b.iter_batched(
            exchanged,
            |token| {
                or_exit(
                    gateway.verify(black_box(&token)),
                    "verify a delegated token",
                );
            },
            BatchSize::SmallInput,
        );
    });
    let token = exchanged();
    or_exit(gateway.verify(&token), "verify the cached delegated token");
    group.bench_function(BenchmarkId::new("verify_delegated", "cached"), |b| {
        b.iter(|| gateway.verify(black_box(&token)));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = portcullis_bench_stages::criterion();
    targets = verify, exchange
}
criterion_main!(benches);
