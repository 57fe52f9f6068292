//! `portcullis demo`: the quickstart in one process. The quickstart files are embedded in the
//! binary and written to `<data dir>/quickstart/` on every start, so the demo needs nothing but
//! the binary; the example orders API runs on the address its config entry names.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use portcullis_config::Config;
use portcullis_secrets::{OverlayEnv, SecretStore};
use rust_embed::RustEmbed;
use serde::{Deserialize, Serialize};

#[derive(RustEmbed)]
#[folder = "../../examples/quickstart/"]
struct Quickstart;

/// The demo agent's credentials, as written to `demo-credentials.json`.
#[derive(Deserialize, Serialize)]
struct Credentials {
    client_id: String,
    client_secret: String,
    /// The demo user who signs in interactive MCP clients (only in `demo-credentials.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    /// That user's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

const DEMO_AGENT: &str = "demo-agent";
const READONLY_AGENT: &str = "readonly-agent";
const ASSISTANT_AGENT: &str = "shop-assistant";
const DEMO_USER: &str = "demo-user";
const DEMO_OPERATOR: &str = "demo-operator";

pub(crate) async fn run(
    listen: SocketAddr,
    data_dir: &Path,
    api_listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory `{}`", data_dir.display()))?;
    let data_dir = std::fs::canonicalize(data_dir)?;
    let config_path = write_quickstart(&data_dir.join("quickstart"))?;

    let demo = with_user(
        &data_dir.join("demo-credentials.json"),
        credentials(&data_dir.join("demo-credentials.json"), DEMO_AGENT)?,
    )?;
    let readonly = credentials(&data_dir.join("readonly-credentials.json"), READONLY_AGENT)?;
    let assistant = credentials(
        &data_dir.join("assistant-credentials.json"),
        ASSISTANT_AGENT,
    )?;
    let operator = credentials(&data_dir.join("operator-credentials.json"), DEMO_OPERATOR)?;
    let upstream_token = random_secret();
    let mut env = OverlayEnv::new();
    env.set("PORTCULLIS_DEMO_CLIENT_SECRET", demo.client_secret.clone());
    env.set("PORTCULLIS_READONLY_CLIENT_SECRET", readonly.client_secret);
    env.set(
        "PORTCULLIS_ASSISTANT_CLIENT_SECRET",
        assistant.client_secret,
    );
    env.set("ORDERS_API_TOKEN", upstream_token.clone());
    env.set(
        "PORTCULLIS_DEMO_OPERATOR_SECRET",
        operator.client_secret.clone(),
    );
    if let Some(password) = &demo.password {
        env.set("PORTCULLIS_DEMO_USER_PASSWORD", password.clone());
    }
    let secrets = SecretStore::new(Arc::new(env));

    let mut loaded = Config::load(&config_path)?;
    loaded.config.data_dir = data_dir.clone();
    loaded.config.listener.address = listen;
    loaded.config.listener.public_url = None;

    let api = loaded
        .config
        .apis
        .iter_mut()
        .find(|a| a.name == "orders")
        .context("the quickstart config has no `orders` API")?;
    let api_addr = match api_listen {
        Some(addr) => {
            api.base_url = portcullis_config::HttpUrl::parse(&format!("http://{addr}"))?;
            anyhow::ensure!(
                addr.ip().is_loopback(),
                "the example API must listen on loopback (the quickstart allowlists 127.0.0.1 only)"
            );
            addr
        }
        None => upstream_address(&api.base_url)?,
    };
    let api_listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("cannot start the example API on {api_addr}"))?;
    let example = portcullis_example_api::ExampleApi::new(upstream_token);
    tokio::spawn(async move {
        if let Err(err) = example.serve(api_listener).await {
            tracing::error!(%err, "example API stopped");
        }
    });

    let resolver = Arc::new(portcullis_egress::SystemResolver::new()?);
    let gateway = portcullis_pipeline::Gateway::build(&loaded, &secrets, resolver).await?;
    let app = portcullis_http::app(Arc::clone(&gateway), &loaded.config)?;
    crate::release_startup_memory();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    crate::state::record(&loaded)?;
    let base = loaded.config.listener.base_url();
    print_banner(&base, &demo, &data_dir, api_addr);
    crate::serve_until_signal(listener, app, None, &gateway).await
}

fn print_banner(base: &str, demo: &Credentials, data_dir: &Path, api: SocketAddr) {
    let mcp_config = serde_json::json!({
        "mcpServers": {
            "portcullis": {
                "type": "http",
                "url": format!("{base}/mcp")
            }
        }
    });
    let mcp_config = serde_json::to_string_pretty(&mcp_config).unwrap_or_default();
    println!(
        "\nPortcullis quickstart is running.\n\n  gateway        {base}\n  MCP endpoint   {base}/mcp\n  tools API      {base}/v1/tools\n  token endpoint {base}/oauth/token\n  example API    http://{api} (reachable only through the gateway's credential)\n\n  client_id      {id}\n  client_secret  {secret}\n  (also in {creds})\n\nGet a token:\n  curl -s -u {id}:{secret} -d grant_type=client_credentials {base}/oauth/token\n\nCall a tool:\n  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n       -d '{{\"id\": 42}}' {base}/v1/tools/getOrder/call\n\nMCP client configuration (no token needed: connecting opens the sign-in page;\nsign in as {user} with password {password}):\n{mcp_config}\n\nA refund above 100.00 is held for a person (the call waits 30 s, then answers 202 with the\napproval id and `Location` to poll):\n  curl -s -i -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n       -d '{{\"id\": 7, \"amount_cents\": 25000, \"reason\": \"damaged\"}}' {base}/v1/tools/refundOrder/call\nApprove it from another terminal, then repeat the identical call: it runs once.\n  portcullis approvals list --status pending --data-dir {dir}\n  portcullis approvals approve <approval id> --as {operator} --data-dir {dir}\n(approver {operator}, secret in {operator_creds}, for the admin API)\n\nAudit log: portcullis audit tail --data-dir {dir}\n",
        operator = DEMO_OPERATOR,
        operator_creds = data_dir.join("operator-credentials.json").display(),
        id = demo.client_id,
        secret = demo.client_secret,
        user = demo.user.as_deref().unwrap_or(DEMO_USER),
        password = demo.password.as_deref().unwrap_or_default(),
        creds = data_dir.join("demo-credentials.json").display(),
        dir = data_dir.display(),
    );
}

/// Writes the embedded quickstart files, replacing older copies, and returns the config path.
fn write_quickstart(dir: &Path) -> anyhow::Result<PathBuf> {
    for name in Quickstart::iter() {
        let Some(file) = Quickstart::get(&name) else {
            continue;
        };
        let path = dir.join(name.as_ref());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, file.data.as_ref())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(dir.join("portcullis.yaml"))
}

/// Reads an agent's demo credentials, or creates them (file mode 0600) on first start.
fn credentials(path: &Path, agent: &str) -> anyhow::Result<Credentials> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let creds: Credentials = serde_json::from_str(&text).with_context(|| {
            format!("`{}` is not valid; delete it to start over", path.display())
        })?;
        if creds.client_id == agent && !creds.client_secret.is_empty() {
            return Ok(creds);
        }
    }
    let creds = Credentials {
        client_id: agent.to_owned(),
        client_secret: random_secret(),
        user: None,
        password: None,
    };
    write_private(path, &serde_json::to_string_pretty(&creds)?)?;
    Ok(creds)
}

/// Adds the demo user and a generated password to the demo agent's credentials (written back
/// to the file) unless they are there already.
fn with_user(path: &Path, mut creds: Credentials) -> anyhow::Result<Credentials> {
    if creds.user.as_deref() == Some(DEMO_USER)
        && creds.password.as_ref().is_some_and(|p| !p.is_empty())
    {
        return Ok(creds);
    }
    creds.user = Some(DEMO_USER.to_owned());
    creds.password = Some(random_secret());
    write_private(path, &serde_json::to_string_pretty(&creds)?)?;
    Ok(creds)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn upstream_address(base_url: &str) -> anyhow::Result<SocketAddr> {
    let url = url::Url::parse(base_url)?;
    let host = url.host_str().context("the orders API URL has no host")?;
    let port = url
        .port_or_known_default()
        .context("the orders API URL has no port")?;
    format!("{host}:{port}")
        .parse()
        .with_context(|| format!("the example API must listen on an IP address, not `{host}`"))
}
