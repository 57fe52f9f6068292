//! The `portcullis` binary: `check` gives each class of bad configuration its own message and a
//! non-zero exit; `audit verify` names the first tampered record (`token`: see newcomer.rs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use portcullis_e2e::copy_dir;

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A copy of the quickstart in a temporary folder, so each test can break it its own way.
fn quickstart() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    copy_dir(&source, dir.path());
    let config = dir.path().join("portcullis.yaml");
    (dir, config)
}

fn portcullis(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("PORTCULLIS_LOG", "error")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap()
}

fn check(config: &Path) -> (i32, String) {
    let output = portcullis(&["check", "--config", config.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "fixture lacks `{from}`");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn check_accepts_the_quickstart() {
    let (_dir, config) = quickstart();
    let (code, text) = check(&config);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ok: 6 tools, 8 policies"), "{text}");
}

#[test]
fn check_prints_the_generated_cedar_schema() {
    let (_dir, config) = quickstart();
    let output = portcullis(&[
        "check",
        "--print-schema",
        "--config",
        config.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(text.contains("namespace Portcullis"), "{text}");
    assert!(text.contains("\"getOrder\""), "{text}");
}

#[test]
fn each_class_of_bad_config_gets_its_own_message() {
    // Unknown key: named, with its line.
    let (_dir, config) = quickstart();
    edit(
        &config,
        "max_body_bytes: 1048576",
        "max_body_bytes: 1048576\n  max_bodee: 3",
    );
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(text.contains("portcullis.yaml:"), "{text}");
    assert!(text.contains("max_bodee"), "{text}");

    // Missing file.
    let (_dir, config) = quickstart();
    edit(
        &config,
        "openapi: orders.openapi.yaml",
        "openapi: missing.yaml",
    );
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(
        text.contains("apis[0].openapi") && text.contains("missing.yaml"),
        "{text}"
    );
    assert!(text.contains("does not exist"), "{text}");

    // Inline secret: refused, and never echoed.
    let (_dir, config) = quickstart();
    edit(
        &config,
        "client_secret: env:PORTCULLIS_DEMO_CLIENT_SECRET",
        "client_secret: sup3r-s3cret-value",
    );
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(
        text.contains("inline secret values are not allowed"),
        "{text}"
    );
    assert!(!text.contains("sup3r-s3cret-value"), "{text}");

    // A policy with a syntax error: file and line.
    let (dir, config) = quickstart();
    std::fs::write(
        dir.path().join("policies/broken.cedar"),
        "@id(\"broken\")\npermit (\n  principal,\n  action,\n  resource\n) when { context.args. };\n",
    )
    .unwrap();
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(text.contains("broken.cedar"), "{text}");
    assert!(text.contains(":6"), "{text}");

    // A policy naming a tool that does not exist.
    let (dir, config) = quickstart();
    std::fs::write(
        dir.path().join("policies/typo.cedar"),
        "@id(\"typo\")\npermit (\n  principal,\n  action == Portcullis::Action::\"deleteCustomr\",\n  resource\n);\n",
    )
    .unwrap();
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(text.contains("typo.cedar"), "{text}");
    assert!(text.contains("deleteCustomr"), "{text}");

    // A policy naming an argument the tool does not have.
    let (dir, config) = quickstart();
    std::fs::write(
        dir.path().join("policies/arg.cedar"),
        "@id(\"arg\")\npermit (\n  principal,\n  action == Portcullis::Action::\"refundOrder\",\n  resource\n) when { context.args.amount <= 5 };\n",
    )
    .unwrap();
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(text.contains("arg.cedar"), "{text}");
    assert!(text.contains("amount"), "{text}");

    // A tool selection naming an operation the document lacks: said at the config line, with
    // the closest operationId.
    let (_dir, config) = quickstart();
    let line = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .position(|l| l.contains("operations: [refundOrder]"))
        .unwrap()
        + 1;
    edit(
        &config,
        "operations: [refundOrder]",
        "operations: [refundOrders]",
    );
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(
        text.contains(&format!("portcullis.yaml:{line}:")),
        "line {line}: {text}"
    );
    assert!(text.contains("`tools["), "{text}");
    assert!(
        text.contains("operation `refundOrders` is not in the OpenAPI document"),
        "{text}"
    );
    assert!(text.contains("did you mean `refundOrder`?"), "{text}");

    // A syntax error names its place once.
    let (_dir, config) = quickstart();
    edit(&config, "  token_ttl: 10m", "  token_ttl: 10q");
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(text.contains("portcullis.yaml:"), "{text}");
    assert!(!text.contains(" line "), "the place is said twice: {text}");
    assert_eq!(text.matches("error:").count(), 1, "{text}");

    // A policy naming a role no agent has, and a scope nobody declares: refused at the place
    // each is written, with the near names.
    let (dir, config) = quickstart();
    std::fs::write(
        dir.path().join("policies/names.cedar"),
        "@id(\"names\")\npermit (\n  principal in Portcullis::Role::\"suport\",\n  action,\n  resource\n) when { context.token.scopes.contains(\"orders:wrte\") };\n",
    )
    .unwrap();
    let (code, text) = check(&config);
    assert_ne!(code, 0);
    assert!(
        text.contains("names.cedar:3:") && text.contains("role `suport` is held by no agent"),
        "{text}"
    );
    assert!(text.contains("did you mean `support`?"), "{text}");
    assert!(
        text.contains("names.cedar:6:")
            && text.contains("scope `orders:wrte` is declared by no agent or tool"),
        "{text}"
    );
    assert!(text.contains("did you mean `orders:write`?"), "{text}");
}

#[test]
fn audit_verify_names_the_tampered_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let log = portcullis_audit::AuditLog::open(&path, portcullis_config::AuditSync::Full)
            .await
            .unwrap();
        for i in 0..5 {
            log.record(portcullis_core::AuditEvent {
                time: "2026-11-21T00:00:00.000000Z".into(),
                request_id: format!("req-{i}"),
                agent: Some("demo-agent".into()),
                subject: None,
                client_ip: Some("127.0.0.1".into()),
                front: portcullis_core::Front::Http,
                tool: Some("getOrder".into()),
                args_digest: None,
                decision: portcullis_core::Decision::Allow,
                reasons: vec!["permit".into()],
                policies: vec!["p".into()],
                upstream_status: Some(200),
                latency_us: 10,
                policy_version: Some("v".into()),
            })
            .await
            .unwrap();
        }
        log.close().await;
    });
    let data_dir = dir.path().to_str().unwrap();
    let ok = portcullis(&["audit", "verify", "--data-dir", data_dir]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("5 records, chain intact"));

    let tail = portcullis(&["audit", "tail", "--data-dir", data_dir, "-n", "2"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&tail.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["request_id"], "req-4");

    runtime.block_on(async {
        let url = format!("sqlite://{}", path.display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("UPDATE audit_records SET tool = 'deleteCustomer' WHERE seq = 3")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let broken = portcullis(&["audit", "verify", "--data-dir", data_dir]);
    assert_eq!(broken.status.code(), Some(2));
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(
        text.contains("record 3") && text.contains("req-2"),
        "{text}"
    );
}

/// `portcullis demo`: the banner, the credentials file, and a real call through the gateway.
#[test]
fn demo_runs_the_quickstart_end_to_end() {
    use std::io::{BufRead as _, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (gateway, api) = (free(), free());
    let data = dir.path().join("state");
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            &gateway.to_string(),
            "--api-listen",
            &api.to_string(),
        ])
        .args(["--data-dir", data.to_str().unwrap()])
        .env("PORTCULLIS_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut banner = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Audit log:") {
            break;
        }
    }
    let result = std::panic::catch_unwind(|| {
        let base = format!("http://{gateway}");
        assert!(
            banner.contains(&format!("MCP endpoint   {base}/mcp")),
            "{banner}"
        );
        assert!(banner.contains("\"mcpServers\""), "{banner}");
        let creds: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(data.join("demo-credentials.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(creds["client_id"], "demo-agent");
        let secret = creds["client_secret"].as_str().unwrap();
        assert!(
            banner.contains(secret),
            "the banner prints the secret for the user"
        );
        // The demo user signs interactive clients in; the client configuration needs no token.
        assert_eq!(creds["user"], "demo-user");
        let password = creds["password"].as_str().unwrap();
        assert!(banner.contains(password), "{banner}");
        let mcp_config = &banner[banner.find("\"mcpServers\"").unwrap()..];
        let mcp_config = &mcp_config[..mcp_config.find("\n\n").unwrap_or(mcp_config.len())];
        assert!(!mcp_config.contains("Authorization"), "{banner}");
        // How to approve a held refund: the CLI line and the approver.
        assert!(
            banner.contains("approvals approve <approval id> --as demo-operator"),
            "{banner}"
        );

        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            // Discovery names the address the demo listens on, not the config's 8080.
            let resource: serde_json::Value = http
                .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(resource["resource"], format!("{base}/mcp"));
            assert_eq!(resource["authorization_servers"][0], base.as_str());
            let token: serde_json::Value = http
                .post(format!("{base}/oauth/token"))
                .basic_auth("demo-agent", Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = token["access_token"].as_str().unwrap();
            let order: serde_json::Value = http
                .post(format!("{base}/v1/tools/getOrder/call"))
                .bearer_auth(token)
                .json(&serde_json::json!({"id": 42}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(order["result"]["id"], 42, "{order}");
            assert!(order["result"]["customer"]["card_number"].is_string());
        });
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Runs the binary against a running gateway's configuration and data directory.
fn against(h: &portcullis_e2e::Harness, args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .args(["--config", h.config_path.to_str().unwrap()])
        .args(["--data-dir", h.data_dir.to_str().unwrap()])
        .env("PORTCULLIS_LOG", "error")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

async fn call_status(h: &portcullis_e2e::Harness, token: &str) -> u16 {
    h.call(Some(token), "getOrder", &serde_json::json!({"id": 1}))
        .await
        .status()
        .as_u16()
}

fn jti_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

/// The CLI, a separate process, changes the store while the gateway runs; the gateway applies
/// the change within its refresh interval (50 ms), without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn revocations_from_the_cli_reach_a_running_gateway() {
    let h = portcullis_e2e::Harness::start().await;
    let revoked = h.demo_token().await;
    let kept = h.demo_token().await;
    assert_eq!(call_status(&h, &revoked).await, 200);
    assert_eq!(call_status(&h, &kept).await, 200);

    let jti = jti_of(&revoked);
    let out = against(&h, &["revoke", "token", &jti]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked token"));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(call_status(&h, &revoked).await, 401);
    assert_eq!(call_status(&h, &kept).await, 200);

    against(&h, &["agent", "disable", "readonly-agent"]);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let refused = h
        .token_response("readonly-agent", portcullis_e2e::READONLY_SECRET)
        .await;
    assert_eq!(refused.status(), 401);
    against(&h, &["agent", "enable", "readonly-agent"]);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let admitted = h
        .token_response("readonly-agent", portcullis_e2e::READONLY_SECRET)
        .await;
    assert_eq!(admitted.status(), 200);

    against(&h, &["revoke", "agent", "demo-agent"]);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(call_status(&h, &kept).await, 401);

    let unknown = Command::new(BIN)
        .args(["agent", "disable", "nobody"])
        .args(["--config", h.config_path.to_str().unwrap()])
        .args(["--data-dir", h.data_dir.to_str().unwrap()])
        .env("PORTCULLIS_LOG", "error")
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not configured"));
}

/// `portcullis keys rotate`, a separate process, adds a key to the data directory of a running
/// gateway: the gateway publishes it within its reload interval and signs with it, and the
/// tokens it signed before keep working.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_from_the_cli_reaches_a_running_gateway() {
    let h = portcullis_e2e::Harness::start().await;
    let before = h.demo_token().await;
    let old_kid = jsonwebtoken_kid(&before);

    let out = against(&h, &["keys", "rotate"]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(printed.starts_with("new signing key `"), "{printed}");
    let new_kid = printed.split('`').nth(1).unwrap().to_owned();
    assert_ne!(new_kid, old_kid);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let token = h.demo_token().await;
        if jsonwebtoken_kid(&token) == new_kid {
            assert_eq!(call_status(&h, &token).await, 200);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never picked up the new key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let kids = h.jwks_kids().await;
    assert_eq!(kids, [old_kid.as_str(), new_kid.as_str()]);
    assert_eq!(
        call_status(&h, &before).await,
        200,
        "the old key still verifies"
    );

    let listed = against(&h, &["keys", "list"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["kid"], new_kid.as_str());
    assert_eq!(lines[1]["current"], true);
}

fn jsonwebtoken_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// `serve --listen`: the quickstart's `public_url` (the configured address) follows the new
/// address, so discovery and the issuer name where the gateway answers; a `public_url` naming
/// another port of this machine is refused with both addresses named.
#[test]
fn serve_listen_moves_the_public_url_or_refuses_a_mismatch() {
    use std::io::{BufRead as _, BufReader};

    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (dir, config) = quickstart();
    let data = dir.path().join("state");
    let serve = || {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--config", config.to_str().unwrap()])
            .args(["--data-dir", data.to_str().unwrap()])
            .args(["--listen", &listen.to_string()])
            .env("PORTCULLIS_LOG", "info")
            .env("PORTCULLIS_DEMO_CLIENT_SECRET", "demo-secret")
            .env("PORTCULLIS_READONLY_CLIENT_SECRET", "readonly-secret")
            .env("PORTCULLIS_ASSISTANT_CLIENT_SECRET", "assistant-secret")
            .env("PORTCULLIS_DEMO_OPERATOR_SECRET", "operator-secret")
            .env("PORTCULLIS_DEMO_USER_PASSWORD", "user-password")
            .env("ORDERS_API_TOKEN", "upstream")
            .env_remove("PORTCULLIS_CONFIG");
        command
    };
    let mut child = serve()
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("portcullis is listening") {
            break;
        }
    }
    let base = format!("http://{listen}");
    let result = std::panic::catch_unwind(|| {
        assert!(log.contains("follows `--listen`"), "{log}");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let get = |path: &str| {
                let request = http.get(format!("{base}{path}"));
                async move {
                    request
                        .send()
                        .await
                        .unwrap()
                        .json::<serde_json::Value>()
                        .await
                        .unwrap()
                }
            };
            let resource = get("/.well-known/oauth-protected-resource/mcp").await;
            assert_eq!(resource["resource"], format!("{base}/mcp"));
            assert_eq!(resource["authorization_servers"][0], base.as_str());
            let server = get("/.well-known/oauth-authorization-server").await;
            assert_eq!(server["issuer"], base.as_str());
            assert_eq!(server["token_endpoint"], format!("{base}/oauth/token"));
        });
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }

    // A `public_url` on another port of this machine: refused before anything starts.
    edit(
        &config,
        "  public_url: http://127.0.0.1:8080",
        "  public_url: http://localhost:9",
    );
    let refused = serve().output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("`listener.public_url` (http://localhost:9)")
            && stderr.contains(&listen.to_string()),
        "{stderr}"
    );
}

/// `portcullis serve` starts the admin API on its own address only when `admin.token` is set,
/// says so in the log when it is not, and refuses to start when the credential cannot be read.
#[test]
fn serve_starts_the_admin_api_only_with_its_credential() {
    use std::io::{BufRead as _, BufReader};

    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (dir, config) = quickstart();
    let data = dir.path().join("state");
    let serve = |listen: std::net::SocketAddr| {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--config", config.to_str().unwrap()])
            .args(["--data-dir", data.to_str().unwrap()])
            .args(["--listen", &listen.to_string()])
            .env("PORTCULLIS_LOG", "info")
            .env("PORTCULLIS_DEMO_CLIENT_SECRET", "demo-secret")
            .env("PORTCULLIS_READONLY_CLIENT_SECRET", "readonly-secret")
            .env("PORTCULLIS_ASSISTANT_CLIENT_SECRET", "assistant-secret")
            .env("PORTCULLIS_DEMO_OPERATOR_SECRET", "operator-secret")
            .env("PORTCULLIS_DEMO_USER_PASSWORD", "user-password")
            .env("ORDERS_API_TOKEN", "upstream")
            .env_remove("PORTCULLIS_CONFIG");
        command
    };

    // Without `admin.token`: no admin listener, and the log says why.
    let mut child = serve(free())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("portcullis is listening") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(log.contains("the admin API is off"), "{log}");

    // With a credential that cannot be read: the gateway does not start.
    let admin = free();
    edit(
        &config,
        "  # token: env:PORTCULLIS_ADMIN_TOKEN",
        "  token: env:PORTCULLIS_ADMIN_TOKEN",
    );
    edit(
        &config,
        "  listen: 127.0.0.1:9091",
        &format!("  listen: {admin}"),
    );
    let refused = serve(free()).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("admin.token"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // With it: the admin API answers on its own address and only with the credential.
    let gateway = free();
    let mut child = serve(gateway)
        .env("PORTCULLIS_ADMIN_TOKEN", "the-admin-credential")
        .env("PORTCULLIS_LOG", "warn")
        .spawn()
        .unwrap();
    let result = std::panic::catch_unwind(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let keys = format!("http://{admin}/admin/keys");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let anonymous = loop {
                match http.get(&keys).send().await {
                    Ok(response) => break response,
                    Err(_) if std::time::Instant::now() < deadline => {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    Err(err) => panic!("the admin API never answered: {err}"),
                }
            };
            assert_eq!(anonymous.status(), 401);
            let listed = http
                .get(&keys)
                .bearer_auth("the-admin-credential")
                .send()
                .await
                .unwrap();
            assert_eq!(listed.status(), 200);
            let body: serde_json::Value = listed.json().await.unwrap();
            assert_eq!(body["keys"].as_array().unwrap().len(), 1);

            let disabled = http
                .post(format!("http://{admin}/admin/agents/demo-agent/disable"))
                .bearer_auth("the-admin-credential")
                .send()
                .await
                .unwrap();
            assert_eq!(disabled.status(), 200);
            let token = http
                .post(format!("http://{gateway}/oauth/token"))
                .basic_auth("demo-agent", Some("demo-secret"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(token.status(), 401);
            let other = http
                .post(format!("http://{gateway}/oauth/token"))
                .basic_auth("readonly-agent", Some("readonly-secret"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(other.status(), 200);
        });
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// `portcullis approvals`: a refund held by the served quickstart is listed, approved on the
/// data folder by `approvals approve --as`, then the identical call runs once; the decision is
/// refused a second time, an approver of no such name is refused, and the running gateway
/// writes the CLI's decision into the audit chain.
#[test]
fn approvals_cli_lists_and_decides_a_held_call_of_a_running_gateway() {
    use std::io::{BufRead as _, BufReader};

    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (dir, config) = quickstart();
    let data = dir.path().join("state");
    let (listen, api) = (free(), free());
    edit(&config, "  wait: 30s", "  wait: 1s");
    edit(
        &config,
        "base_url: http://127.0.0.1:8081",
        &format!("base_url: http://{api}"),
    );
    let mut upstream = Command::new(BIN)
        .args(["example-api", "--listen", &api.to_string()])
        .env("ORDERS_API_TOKEN", "upstream")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut gateway = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--listen", &listen.to_string()])
        .env("PORTCULLIS_LOG", "info")
        .env("PORTCULLIS_DEMO_CLIENT_SECRET", "demo-secret")
        .env("PORTCULLIS_READONLY_CLIENT_SECRET", "readonly-secret")
        .env("PORTCULLIS_ASSISTANT_CLIENT_SECRET", "assistant-secret")
        .env("PORTCULLIS_DEMO_OPERATOR_SECRET", "operator-secret")
        .env("PORTCULLIS_DEMO_USER_PASSWORD", "user-password")
        .env("ORDERS_API_TOKEN", "upstream")
        .env_remove("PORTCULLIS_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = gateway.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("portcullis is listening") {
            break;
        }
    }
    // Keep reading the log so the gateway never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let cli = |args: &[&str]| -> Output {
        Command::new(BIN)
            .args(args)
            .args(["--config", config.to_str().unwrap()])
            .args(["--data-dir", data.to_str().unwrap()])
            .env_remove("PORTCULLIS_CONFIG")
            .output()
            .unwrap()
    };
    let base = format!("http://{listen}");
    let result = std::panic::catch_unwind(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let token: serde_json::Value = http
                .post(format!("{base}/oauth/token"))
                .basic_auth("demo-agent", Some("demo-secret"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = token["access_token"].as_str().unwrap().to_owned();
            let refund = || {
                http.post(format!("{base}/v1/tools/refundOrder/call"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"id": 7, "amount_cents": 25000, "reason": "damaged"}))
                    .send()
            };
            let held = refund().await.unwrap();
            assert_eq!(held.status(), 202);
            let held: serde_json::Value = held.json().await.unwrap();
            let id = held["approval_id"].as_str().unwrap().to_owned();

            let listed = cli(&["approvals", "list", "--status", "pending"]);
            assert!(listed.status.success(), "{listed:?}");
            let listed: serde_json::Value =
                serde_json::from_slice(listed.stdout.split(|b| *b == b'\n').next().unwrap())
                    .unwrap();
            assert_eq!(listed["id"], id.as_str());
            assert_eq!(listed["arguments"]["amount_cents"], 25000);

            let stranger = cli(&["approvals", "approve", &id, "--as", "mallory"]);
            assert!(!stranger.status.success());
            assert!(
                String::from_utf8_lossy(&stranger.stderr).contains("`mallory` is not an approver"),
                "{stranger:?}"
            );
            let approved = cli(&[
                "approvals",
                "approve",
                &id,
                "--as",
                "demo-operator",
                "--reason",
                "photos checked",
            ]);
            assert!(approved.status.success(), "{approved:?}");
            let twice = cli(&[
                "approvals",
                "deny",
                &id,
                "--as",
                "demo-operator",
                "--reason",
                "no",
            ]);
            assert!(!twice.status.success());
            assert!(
                String::from_utf8_lossy(&twice.stderr).contains("already approved"),
                "{twice:?}"
            );

            let ran = refund().await.unwrap();
            assert_eq!(ran.status(), 200);
            let shown = cli(&["approvals", "show", &id]);
            let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
            assert_eq!(shown["status"], "executed");
            assert_eq!(shown["votes"][0]["source"], "cli");
            // The running gateway records the CLI's decision within its sweep.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                let tail = Command::new(BIN)
                    .args(["audit", "tail", "-n", "50", "--data-dir"])
                    .arg(&data)
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&tail.stdout).into_owned();
                if text.contains("approval: approved by demo-operator (cli)") {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "{text}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
    });
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    upstream.kill().unwrap();
    upstream.wait().unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
