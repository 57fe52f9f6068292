//! Test support for the end-to-end tests: starts the real gateway on loopback, on a copy of the
//! quickstart configuration, in front of the real example orders API, and offers a few helpers
//! for the OAuth flow and tool calls. The tests themselves live in `tests/`.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed setup must stop the test at once"
)]

pub mod forms;
pub mod idp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_config::Config;
use portcullis_example_api::ExampleApi;
use portcullis_pipeline::Gateway;
use portcullis_secrets::{OverlayEnv, SecretStore};
use serde_json::Value;

/// Client secret of `demo-agent` in tests.
pub const DEMO_SECRET: &str = "demo-secret-for-tests-0123456789";
/// Client secret of `readonly-agent` in tests.
pub const READONLY_SECRET: &str = "readonly-secret-for-tests-01234";
/// The client secret of `shop-assistant` in tests.
pub const ASSISTANT_SECRET: &str = "assistant-secret-for-tests-0123";
/// The quickstart approver `demo-operator`'s secret.
pub const OPERATOR_SECRET: &str = "operator-secret-for-tests-0123";
/// The password of `demo-user` (interactive sign-in) in tests.
pub const USER_PASSWORD: &str = "user-password-for-tests-0123456";
/// Bearer token the example API requires; only the gateway knows it.
pub const UPSTREAM_TOKEN: &str = "upstream-token-never-shown-to-agents";
/// The gateway's client secret at the test identity provider
/// (`sign_in.identity_provider.client_secret: env:PORTCULLIS_TEST_IDP_SECRET`).
pub const IDP_CLIENT_SECRET: &str = "idp-client-secret-for-tests-0123";
/// The admin API credential in tests (`admin.token: env:PORTCULLIS_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "admin-credential-for-tests-0123456789";

/// A running gateway and upstream. Dropping it stops both.
pub struct Harness {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The gateway's listen address.
    pub addr: SocketAddr,
    /// The data directory (signing key, audit log).
    pub data_dir: PathBuf,
    /// The config file the gateway was built from.
    pub config_path: PathBuf,
    /// The example orders API.
    pub upstream: ExampleApi,
    /// The gateway.
    pub gateway: Arc<Gateway>,
    /// An HTTP client with no proxy.
    pub http: reqwest::Client,
    /// `http://127.0.0.1:<port>` of the admin API, when `admin.token` is configured.
    pub admin_base: Option<String>,
    loaded: portcullis_config::Loaded,
    dir: Arc<tempfile::TempDir>,
    resolver: Arc<portcullis_egress::StaticResolver>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl Harness {
    /// Starts the quickstart on ephemeral loopback ports.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts the quickstart with the admin API on (credential [`ADMIN_TOKEN`]).
    pub async fn start_with_admin() -> Self {
        Self::start_with(|config| {
            config.admin.token = Some(portcullis_config::SecretRef::Env(
                "PORTCULLIS_ADMIN_TOKEN".to_owned(),
            ));
        })
        .await
    }

    /// Starts the quickstart after letting `adjust` change the loaded configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_resolver(portcullis_egress::StaticResolver::new(), adjust).await
    }

    /// Like [`Harness::start_with`], with egress resolving names through `resolver` (so a test
    /// can give a made-up host name a loopback address).
    pub async fn start_with_resolver(
        resolver: portcullis_egress::StaticResolver,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
        copy_dir(&quickstart, &dir.path().join("quickstart"));
        let config_path = dir.path().join("quickstart/portcullis.yaml");
        let data_dir = dir.path().join("data");

        let upstream = ExampleApi::new(UPSTREAM_TOKEN.to_owned());
        let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let api_addr = api_listener.local_addr().expect("addr");
        let serving = upstream.clone();
        tokio::spawn(async move {
            let _ = serving.serve(api_listener).await;
        });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");

        let mut loaded = Config::load(&config_path).expect("quickstart config loads");
        loaded.config.data_dir = data_dir.clone();
        loaded.config.listener.address = addr;
        loaded.config.listener.public_url = None;
        for api in &mut loaded.config.apis {
            if api.name == "orders" {
                api.base_url = portcullis_config::HttpUrl::parse(&format!("http://{api_addr}"))
                    .expect("the example API's URL");
            }
        }
        adjust(&mut loaded.config);
        Self::launch(
            loaded,
            listener,
            upstream,
            Arc::new(dir),
            Arc::new(resolver),
        )
        .await
    }

    /// Stops the gateway (draining connections, closing the audit log) and starts a new one on
    /// the same address, configuration and data directory: a restart.
    pub async fn restart(mut self) -> Self {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.expect("gateway task");
        }
        self.gateway.shutdown().await;
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind the same address again");
        Self::launch(
            self.loaded.clone(),
            listener,
            self.upstream.clone(),
            Arc::clone(&self.dir),
            Arc::clone(&self.resolver),
        )
        .await
    }

    async fn launch(
        loaded: portcullis_config::Loaded,
        listener: tokio::net::TcpListener,
        upstream: ExampleApi,
        dir: Arc<tempfile::TempDir>,
        resolver: Arc<portcullis_egress::StaticResolver>,
    ) -> Self {
        let addr = listener.local_addr().expect("addr");
        let mut env = OverlayEnv::new();
        env.set("PORTCULLIS_DEMO_CLIENT_SECRET", DEMO_SECRET);
        env.set("PORTCULLIS_READONLY_CLIENT_SECRET", READONLY_SECRET);
        env.set("PORTCULLIS_ASSISTANT_CLIENT_SECRET", ASSISTANT_SECRET);
        env.set("PORTCULLIS_DEMO_OPERATOR_SECRET", OPERATOR_SECRET);
        env.set("ORDERS_API_TOKEN", UPSTREAM_TOKEN);
        env.set("PORTCULLIS_ADMIN_TOKEN", ADMIN_TOKEN);
        env.set("PORTCULLIS_DEMO_USER_PASSWORD", USER_PASSWORD);
        env.set("PORTCULLIS_TEST_IDP_SECRET", IDP_CLIENT_SECRET);
        let secrets = SecretStore::new(Arc::new(env));
        let gateway = Gateway::build(&loaded, &secrets, Arc::clone(&resolver) as _)
            .await
            .expect("gateway builds");
        let mut app =
            portcullis_http::app(Arc::clone(&gateway), &loaded.config).expect("app builds");
        if let Some(tls) = &loaded.config.listener.tls {
            app = app.with_tls(portcullis_http::Tls::load(tls, &secrets).expect("TLS loads"));
        }
        let base = loaded.config.listener.base_url();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (admin_tx, admin_rx) = tokio::sync::oneshot::channel::<()>();
        let admin_base = match &loaded.config.admin.token {
            Some(reference) => {
                let token = secrets.resolve(reference).expect("admin token resolves");
                let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind admin");
                let admin_addr = admin_listener.local_addr().expect("admin addr");
                let admin = portcullis_http::admin_app(
                    Arc::clone(&gateway),
                    token,
                    loaded.config.admin.connections,
                );
                tokio::spawn(async move {
                    let _ = portcullis_http::serve(admin_listener, admin, async {
                        let _ = admin_rx.await;
                    })
                    .await;
                });
                Some(format!("http://{admin_addr}"))
            }
            None => None,
        };
        let served = tokio::spawn(async move {
            let _ = portcullis_http::serve(listener, app, async {
                let _ = rx.await;
                let _ = admin_tx.send(());
            })
            .await;
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Self {
            base,
            addr,
            data_dir: loaded.config.data_dir.clone(),
            config_path: loaded.path.clone(),
            upstream,
            gateway,
            http,
            admin_base,
            loaded,
            dir,
            resolver,
            shutdown: Some(tx),
            served: Some(served),
        }
    }

    /// The key ids the gateway's JWKS publishes, in its order.
    pub async fn jwks_kids(&self) -> Vec<String> {
        let jwks: Value = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.base))
            .send()
            .await
            .expect("JWKS request")
            .json()
            .await
            .expect("JWKS json");
        jwks["keys"]
            .as_array()
            .expect("a key list")
            .iter()
            .map(|key| key["kid"].as_str().expect("kid").to_owned())
            .collect()
    }

    /// `POST` to the admin API with an optional bearer credential and JSON body.
    pub async fn admin_post(
        &self,
        path: &str,
        credential: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let base = self.admin_base.as_deref().expect("the admin API is on");
        let mut request = self.http.post(format!("{base}{path}"));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("admin request")
    }

    /// The audit database.
    pub fn audit_path(&self) -> PathBuf {
        self.data_dir.join("audit.db")
    }

    /// Requests a token with the client-credentials grant and HTTP Basic authentication.
    pub async fn token_response(&self, client_id: &str, secret: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request")
    }

    /// A token for `demo-agent`.
    pub async fn demo_token(&self) -> String {
        self.token_for("demo-agent", DEMO_SECRET).await
    }

    /// A token for the given agent; panics if refused.
    pub async fn token_for(&self, client_id: &str, secret: &str) -> String {
        let response = self.token_response(client_id, secret).await;
        assert_eq!(response.status(), 200, "token request refused");
        let body: Value = response.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Sends one stateless MCP request (protocol 2026-07-28): `tools/list`, or `tools/call` of
    /// `tool` with `args` when a tool is given. Returns the HTTP response.
    pub async fn mcp(&self, token: &str, tool: Option<(&str, &Value)>) -> reqwest::Response {
        let meta = serde_json::json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"}
        });
        let (method, params) = match tool {
            Some((name, args)) => (
                "tools/call",
                serde_json::json!({"name": name, "arguments": args, "_meta": meta}),
            ),
            None => ("tools/list", serde_json::json!({"_meta": meta})),
        };
        let mut request = self
            .http
            .post(format!("{}/mcp", self.base))
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some((name, _)) = tool {
            request = request.header("mcp-name", name);
        }
        request
            .json(
                &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
            )
            .send()
            .await
            .expect("MCP request")
    }

    /// `POST /v1/tools/{tool}/call` with a JSON body.
    pub async fn call(&self, token: Option<&str>, tool: &str, args: &Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/v1/tools/{tool}/call", self.base))
            .json(args);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("call request")
    }

    /// Number of records in the audit log (after verifying the chain).
    pub async fn audit_records(&self) -> u64 {
        let report = portcullis_audit::verify(&self.audit_path())
            .await
            .expect("audit verify runs");
        assert!(report.first_broken.is_none(), "audit chain broken");
        report.records
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Copies a folder tree (the quickstart, for tests that edit their own copy).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read quickstart") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A burst of distinct `getOrder` calls spread over several gateways sharing one rate limit:
/// `rounds` rounds, two calls in flight on each gateway per round (distinct ids, so loop
/// detection stays out of it). `gateways` are `(base URL, bearer token)` pairs. Every answer
/// must be 200 or a 429 naming `policy` in `RateLimit-Policy` with a `Retry-After`; returns the
/// allowed and refused counts per gateway.
pub async fn spread_burst(
    http: &reqwest::Client,
    gateways: &[(&str, &str)],
    rounds: u64,
    policy: &str,
) -> (Vec<u64>, Vec<u64>) {
    let mut allowed = vec![0u64; gateways.len()];
    let mut refused = vec![0u64; gateways.len()];
    for round in 0..rounds {
        let mut calls = Vec::new();
        for (side, (base, token)) in gateways.iter().enumerate() {
            for j in 0..2u64 {
                let request = http
                    .post(format!("{base}/v1/tools/getOrder/call"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({"id": round * 10 + side as u64 * 2 + j + 1}));
                calls.push((side, tokio::spawn(request.send())));
            }
        }
        for (side, call) in calls {
            let response = call
                .await
                .expect("the call task")
                .expect("the gateway answers");
            match response.status().as_u16() {
                200 => allowed[side] += 1,
                429 => {
                    refused[side] += 1;
                    let named = response
                        .headers()
                        .get("ratelimit-policy")
                        .and_then(|value| value.to_str().ok());
                    assert_eq!(named, Some(policy));
                    assert!(response.headers().contains_key("retry-after"));
                }
                other => panic!(
                    "unexpected status {other}: {}",
                    response.text().await.unwrap_or_default()
                ),
            }
        }
    }
    (allowed, refused)
}
