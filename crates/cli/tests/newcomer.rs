//! What a newcomer runs, against a real `portcullis demo`:
//!
//! - the README: every block marked `<!-- readme-test: sh ... -->` or
//!   `<!-- readme-test: python ... -->` runs, in order, in a folder whose `.portcullis` is the
//!   demo's data directory, with only the demo's address (a free port instead of 8080) and
//!   `cargo run --release --` (the test's binary) substituted;
//! - `portcullis token` against the running demo: one command, no secret, the demo's issuer;
//! - the MCP conformance suite (`tests/conformance`), every scenario passing except those
//!   listed with their reasons in `tests/conformance/expected-failures.yaml`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
const README_ADDRESS: &str = "127.0.0.1:8080";

/// A `portcullis demo` on free loopback ports, with `<dir>/.portcullis` as its data directory;
/// killed on drop.
struct Demo {
    dir: tempfile::TempDir,
    gateway: SocketAddr,
    child: Child,
}

impl Demo {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
        };
        let (gateway, api) = (free(), free());
        let mut child = Command::new(BIN)
            .args(["demo", "--listen", &gateway.to_string()])
            .args([
                "--api-listen",
                &api.to_string(),
                "--data-dir",
                ".portcullis",
            ])
            .current_dir(dir.path())
            .env("PORTCULLIS_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // The banner ends with the audit line; the gateway is listening by then.
        for line in BufReader::new(stdout).lines() {
            if line.unwrap().starts_with("Audit log:") {
                break;
            }
        }
        Self {
            dir,
            gateway,
            child,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join(".portcullis")
    }

    fn base(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// `portcullis <args>` in the demo's folder, with no configuration or secret in the
    /// environment.
    fn portcullis(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("PORTCULLIS_LOG", "error")
            .env_remove("PORTCULLIS_CONFIG")
            .env_remove("PORTCULLIS_DEMO_CLIENT_SECRET")
            .env_remove("ORDERS_API_TOKEN")
            .output()
            .unwrap()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's marked blocks, in order: (language, code).
fn marked_blocks(readme: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix("<!-- readme-test:") else {
            continue;
        };
        let language = rest.split_whitespace().next().unwrap().to_owned();
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "a readme-test marker must be followed by a fenced block, found `{fence}`"
        );
        let mut code = String::new();
        for line in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            code.push_str(line);
            code.push('\n');
        }
        blocks.push((language, code));
    }
    blocks
}

fn python() -> Option<PathBuf> {
    match std::env::var_os("PORTCULLIS_PYTHON") {
        Some(python) => Some(PathBuf::from(python)),
        None => {
            assert!(
                std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
                "PORTCULLIS_PYTHON is not set but external clients are required"
            );
            eprintln!(
                "the Python block is skipped: PORTCULLIS_PYTHON is not set (scripts/test sets it)"
            );
            None
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_readme_steps_work_against_the_demo() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let blocks = marked_blocks(&readme);
    let languages: Vec<&str> = blocks.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        languages,
        ["sh", "sh", "python"],
        "the README's tested blocks"
    );

    let demo = Demo::start();
    let address = demo.gateway.to_string();
    let mut outputs = Vec::new();
    for (language, code) in &blocks {
        let code = code
            .replace(README_ADDRESS, &address)
            .replace("cargo run --release --", BIN);
        assert!(
            !code.contains("8080"),
            "an address the test cannot move:\n{code}"
        );
        let output = match language.as_str() {
            "sh" => Command::new("bash")
                .args(["-euo", "pipefail", "-c", &code])
                .current_dir(demo.dir.path())
                .env_remove("PORTCULLIS_CONFIG")
                .output()
                .unwrap(),
            "python" => {
                let Some(python) = python() else { continue };
                Command::new(python)
                    .args(["-c", &code])
                    .current_dir(demo.dir.path())
                    .output()
                    .unwrap()
            }
            other => panic!("unknown readme-test language `{other}`"),
        };
        assert!(
            output.status.success(),
            "README {language} block failed:\n{}",
            text(&output)
        );
        outputs.push((
            language.clone(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ));
    }

    let (_, shell) = &outputs[0];
    // The listing, the order, the refusal and the audit commands, as the README says.
    assert!(shell.contains(r#""name":"getOrder""#), "{shell}");
    assert!(shell.contains(r#""ok":true"#), "{shell}");
    assert!(
        !shell.contains(r#""name":"deleteCustomer""#),
        "deleteCustomer is never allowed, so it is not listed:\n{shell}"
    );
    assert!(
        shell.contains("application/problem+json") || shell.contains(r#""code":"#),
        "the deleteCustomer call is refused with a reason:\n{shell}"
    );
    assert!(
        shell.contains("getOrder"),
        "audit tail shows the call:\n{shell}"
    );
    assert!(
        shell.contains("chain intact"),
        "audit verify reports the chain:\n{shell}"
    );
    let (_, held) = &outputs[1];
    // The held refund: listed pending with its arguments, approved, then run once.
    assert!(held.contains(r#""status":"pending""#), "{held}");
    assert!(held.contains(r#""amount_cents":25000"#), "{held}");
    assert!(held.contains(r#""status": "approved""#), "{held}");
    assert!(
        held.contains(r#""ok":true"#),
        "the approved refund ran:\n{held}"
    );
    if let Some((_, python)) = outputs.get(2) {
        assert!(python.contains("tools: ["), "{python}");
        assert!(python.contains("'getOrder'"), "{python}");
        assert!(
            python.contains("\"id\": 42") || python.contains("\"id\":42"),
            "{python}"
        );
    }
}

/// `portcullis token` against the running demo: one command, no configuration and no secret in
/// the environment, and the demo accepts the token although it listens on another port than
/// the quickstart file names. Given that file instead, the issuer mismatch is named.
#[test]
fn token_mints_for_the_running_demo_and_names_an_issuer_mismatch() {
    let demo = Demo::start();
    let minted = demo.portcullis(&["token", "--agent", "demo-agent", "--ttl", "2m"]);
    assert!(minted.status.success(), "{}", text(&minted));
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/v1/tools/getOrder/call", demo.base()))
            .bearer_auth(&token)
            .json(&serde_json::json!({"id": 42}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200, "the demo accepts the minted token");

    // The quickstart file says 127.0.0.1:8080; the demo listens elsewhere.
    let config = demo.data_dir().join("quickstart/portcullis.yaml");
    let mismatch = demo.portcullis(&[
        "token",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        ".portcullis",
        "--agent",
        "demo-agent",
    ]);
    assert!(!mismatch.status.success());
    let message = text(&mismatch);
    assert!(message.contains("issuer mismatch"), "{message}");
    assert!(message.contains(&demo.base()), "{message}");
    assert!(message.contains("http://127.0.0.1:8080"), "{message}");
    assert!(mismatch.stdout.is_empty(), "no token is printed");

    let unknown = demo.portcullis(&["token", "--agent", "nobody"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("`nobody` is not configured"),
        "{}",
        text(&unknown)
    );
}

/// A data directory no gateway has used is refused, and nothing is created in it.
#[test]
fn token_creates_no_key_in_a_folder_no_gateway_used() {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    portcullis_e2e::copy_dir(&source, dir.path());
    let config = dir.path().join("portcullis.yaml");
    let data = dir.path().join("elsewhere");
    std::fs::create_dir(&data).unwrap();
    let output = Command::new(BIN)
        .args([
            "token",
            "--config",
            config.to_str().unwrap(),
            "--agent",
            "demo-agent",
        ])
        .args(["--data-dir", data.to_str().unwrap()])
        .env("PORTCULLIS_LOG", "error")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("no signing key"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "nothing was created in the folder"
    );

    // Without `--config`, a folder no gateway started on is named as such.
    let output = Command::new(BIN)
        .args([
            "token",
            "--agent",
            "demo-agent",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .env("PORTCULLIS_LOG", "error")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("no gateway has started"),
        "{}",
        text(&output)
    );
}

/// The MCP conformance suite's server scenarios against the demo, through `proxy.mjs`, which
/// adds a token minted by `portcullis token` (the suite connects without credentials). The
/// suite fails on a scenario that fails and is not listed in `expected-failures.yaml`, and on
/// a listed one that passes, so the list stays exact.
#[test]
fn the_mcp_conformance_suite_passes_against_the_demo() {
    let Some(node) = std::env::var_os("PORTCULLIS_NODE").map(PathBuf::from) else {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
            "PORTCULLIS_NODE is not set but external clients are required"
        );
        eprintln!("skipped: PORTCULLIS_NODE is not set (scripts/test sets it)");
        return;
    };
    let suite_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance");
    let suite = suite_dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    assert!(
        suite.is_file(),
        "the suite is not installed (scripts/test runs `npm ci` in tests/conformance)"
    );

    let demo = Demo::start();
    let minted = demo.portcullis(&["token", "--agent", "demo-agent", "--ttl", "10m"]);
    assert!(minted.status.success(), "{}", text(&minted));
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = Command::new(&node)
        .arg(suite_dir.join("proxy.mjs"))
        .args([port.to_string(), demo.gateway.to_string()])
        .env("CONFORMANCE_TOKEN", &token)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(proxy.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(
        ready.starts_with("listening"),
        "the proxy did not start: {ready}"
    );

    let results = tempfile::tempdir().unwrap();
    let output = Command::new(&node)
        .arg(&suite)
        .args(["server", "--url", &format!("http://127.0.0.1:{port}/mcp")])
        .arg("--expected-failures")
        .arg(suite_dir.join("expected-failures.yaml"))
        .arg("--output-dir")
        .arg(results.path())
        .output()
        .unwrap();
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(
        output.status.success(),
        "conformance suite:\n{}",
        text(&output)
    );
}
