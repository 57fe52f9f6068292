//! Two `portcullis serve` processes sharing one rate limit through the real Redis named by
//! `PORTCULLIS_TEST_REDIS_URL` (`.ci/run` provides it): a fleet of two replicas. Each process
//! has its own data directory, signing key, listener and memory; the only thing they share is
//! Redis (and the upstream). Without the variable the test prints `skipped: ...` and passes,
//! unless `PORTCULLIS_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_e2e::{copy_dir, spread_burst};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// The shared limit's burst. It refills one unit an hour, so nothing refills during the test
/// and the expected count is exact.
const SHARED_BURST: u64 = 30;

/// A gateway process, killed when dropped so a failed assertion leaves nothing running.
struct Replica {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the quickstart config lacks `{from}`");
    text.replacen(from, to, 1)
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The quickstart, pointed at `upstream`, with its per-agent admission limit replaced by one
/// shared limit kept in Redis under `prefix`.
fn fleet_config(dir: &Path, upstream: SocketAddr, prefix: &str) -> PathBuf {
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart"),
        dir,
    );
    let path = dir.join("portcullis.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = replace(
        &text,
        "base_url: http://127.0.0.1:8081",
        &format!("base_url: http://{upstream}"),
    );
    text = replace(
        &text,
        "    - name: per-agent\n      key: [agent]\n      stage: admit\n      rate: 20\n      per: 1s\n      burst: 40\n",
        &format!(
            "    - name: fleet\n      key: [agent]\n      stage: admit\n      rate: 1\n      per: 1h\n      burst: {SHARED_BURST}\n"
        ),
    );
    text = replace(
        &text,
        "  backend:\n    type: local\n",
        &format!(
            "  backend:\n    type: redis\n    url: env:PORTCULLIS_TEST_REDIS_URL\n    prefix: {prefix}\n    timeout: 500ms\n    on_unavailable: fail_closed\n"
        ),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn(config: &Path, data: &Path, name: &str) -> Replica {
    let listen = free_port();
    let log = data.with_extension("log");
    let child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--listen", &listen.to_string()])
        .env("PORTCULLIS_LOG", "warn")
        .env("PORTCULLIS_DEMO_CLIENT_SECRET", "demo-secret")
        .env("PORTCULLIS_READONLY_CLIENT_SECRET", "readonly-secret")
        .env("PORTCULLIS_ASSISTANT_CLIENT_SECRET", "assistant-secret")
        .env("PORTCULLIS_DEMO_OPERATOR_SECRET", "operator-secret")
        .env("PORTCULLIS_DEMO_USER_PASSWORD", "user-password")
        .env("ORDERS_API_TOKEN", "upstream-token")
        .env_remove("PORTCULLIS_CONFIG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start replica {name}: {err}"));
    Replica {
        child,
        base: format!("http://{listen}"),
        log,
    }
}

/// Waits for the replica's listener and returns a token for the demo agent from it.
async fn token(http: &reqwest::Client, replica: &mut Replica) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = replica.child.try_wait().unwrap() {
            panic!(
                "replica exited with {status}: {}",
                std::fs::read_to_string(&replica.log).unwrap_or_default()
            );
        }
        let answer = http
            .post(format!("{}/oauth/token", replica.base))
            .basic_auth("demo-agent", Some("demo-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        match answer {
            Ok(response) if response.status() == 200 => {
                let body: serde_json::Value = response.json().await.unwrap();
                return body["access_token"].as_str().unwrap().to_owned();
            }
            Ok(response) => panic!("token endpoint answered {}", response.status()),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("replica never answered: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_processes_enforce_one_shared_limit() {
    match std::env::var("PORTCULLIS_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {}
        _ => {
            assert!(
                std::env::var("PORTCULLIS_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "PORTCULLIS_TEST_REDIS_URL is not set but PORTCULLIS_REQUIRE_SERVICES=1"
            );
            println!("skipped: PORTCULLIS_TEST_REDIS_URL is not set");
            return;
        }
    }

    // One upstream for both replicas, as in a fleet.
    let api = portcullis_example_api::ExampleApi::new("upstream-token".to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let server = tokio::spawn(api.serve(listener));

    let dir = tempfile::tempdir().unwrap();
    let prefix = format!(
        "portcullis-replicas-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let config = fleet_config(&dir.path().join("config"), upstream, &prefix);
    let mut replicas = [
        spawn(&config, &dir.path().join("one"), "one"),
        spawn(&config, &dir.path().join("two"), "two"),
    ];
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut tokens = Vec::new();
    for replica in &mut replicas {
        tokens.push(token(&http, replica).await);
    }

    // 100 distinct calls, alternating between the replicas, four in flight on each at a time.
    let (allowed, refused) = spread_burst(
        &http,
        &[
            (&replicas[0].base, &tokens[0]),
            (&replicas[1].base, &tokens[1]),
        ],
        25,
        "\"fleet\";q=1;w=3600",
    )
    .await;
    let total = allowed[0] + allowed[1];
    // The script evaluates each call atomically on Redis's clock, so the cap is exact; the
    // tolerance of one unit covers a refill landing during the run (one unit an hour).
    assert!(
        (SHARED_BURST..=SHARED_BURST + 1).contains(&total),
        "{allowed:?} allowed, {refused:?} refused"
    );
    assert!(
        allowed.iter().all(|a| *a > 0) && refused.iter().all(|r| *r > 0),
        "both replicas should serve part of the budget and refuse the rest: {allowed:?} allowed, {refused:?} refused"
    );

    // Each replica audited each of its calls, refusals included, in its own log.
    drop(replicas);
    for (side, name) in ["one", "two"].iter().enumerate() {
        let output = Command::new(BIN)
            .args(["audit", "verify", "--data-dir"])
            .arg(dir.path().join(name))
            .env("PORTCULLIS_LOG", "error")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{text}");
        // One token request and 50 calls per replica.
        let records = allowed[side] + refused[side] + 1;
        assert!(
            text.contains(&format!(": ok: {records} records")),
            "replica {name}: expected {records} records: {text}"
        );
    }
    server.abort();
}
