//! TLS on the listener, end to end: the real gateway serving HTTPS with rustls, client
//! certificates required or optional against a configured CA, and certificates replaced on disk
//! while it runs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_config::{ClientAuth, NonZeroDuration, SecretRef, TlsConfig};
use portcullis_e2e::{DEMO_SECRET, Harness};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::{Value, json};

/// A certificate authority that signs server and client certificates for one test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate and its key, both PEM.
    fn leaf(&self, names: &[&str], common_name: &str) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Certificate files for one gateway.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Replaces a file in one step, as a deployment tool would.
    fn write(&self, name: &str, text: &str) {
        let staging = self.path(&format!(".{name}.new"));
        std::fs::write(&staging, text).unwrap();
        std::fs::rename(&staging, self.path(name)).unwrap();
    }

    fn install_server(&self, ca: &Ca) {
        let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], "portcullis");
        self.write("server.pem", &format!("{cert}{}", ca.pem()));
        self.write("server.key", &key);
    }

    fn tls_config(&self, client_auth: ClientAuth) -> TlsConfig {
        TlsConfig {
            cert: self.path("server.pem"),
            key: SecretRef::File(self.path("server.key")),
            client_ca: (client_auth != ClientAuth::None).then(|| self.path("clients.pem")),
            client_auth,
            reload_interval: NonZeroDuration::new(Duration::from_millis(200)).unwrap(),
        }
    }
}

fn client(server_ca: &Ca, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .tls_certs_only([reqwest::Certificate::from_pem(server_ca.pem().as_bytes()).unwrap()]);
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

async fn start(files: &Files, client_auth: ClientAuth) -> Harness {
    let tls = files.tls_config(client_auth);
    let h = Harness::start_with(move |config| config.listener.tls = Some(tls)).await;
    assert!(h.base.starts_with("https://"), "{}", h.base);
    h
}

async fn token(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}/oauth/token"))
        .basic_auth("demo-agent", Some(DEMO_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn url(h: &Harness, path: &str) -> String {
    // The certificate names `localhost`; the harness listens on 127.0.0.1.
    format!("{}{path}", h.base.replace("127.0.0.1", "localhost"))
}

#[tokio::test]
async fn required_client_certificates_gate_the_listener() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let stranger_ca = Ca::new("someone else's CA");
    let files = Files::new();
    files.install_server(&server_ca);
    files.write("clients.pem", &client_ca.pem());
    let h = start(&files, ClientAuth::Required).await;

    // A client with a certificate from the configured CA runs the whole pipeline over TLS.
    let (cert, key) = client_ca.leaf(&[], "demo-agent");
    let trusted = client(&server_ca, Some((&cert, &key)));
    let access = token(&trusted, &url(&h, "")).await;
    let response = trusted
        .post(url(&h, "/v1/tools/getOrder/call"))
        .bearer_auth(&access)
        .json(&json!({"id": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["id"], 42, "{body}");

    // No certificate, or one from another CA: the handshake fails, nothing is served.
    let anonymous = client(&server_ca, None);
    assert!(anonymous.get(url(&h, "/healthz")).send().await.is_err());
    let (cert, key) = stranger_ca.leaf(&[], "demo-agent");
    let stranger = client(&server_ca, Some((&cert, &key)));
    assert!(stranger.get(url(&h, "/healthz")).send().await.is_err());

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let plain_url = url(&h, "/healthz").replace("https://", "http://");
    assert!(plain.get(plain_url).send().await.is_err());
}

#[tokio::test]
async fn optional_client_certificates_admit_both_kinds_of_client() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let stranger_ca = Ca::new("someone else's CA");
    let files = Files::new();
    files.install_server(&server_ca);
    files.write("clients.pem", &client_ca.pem());
    let h = start(&files, ClientAuth::Optional).await;

    let anonymous = client(&server_ca, None);
    let response = anonymous.get(url(&h, "/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (cert, key) = client_ca.leaf(&[], "demo-agent");
    let with_cert = client(&server_ca, Some((&cert, &key)));
    let response = with_cert.get(url(&h, "/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // A certificate that is presented must still verify.
    let (cert, key) = stranger_ca.leaf(&[], "demo-agent");
    let stranger = client(&server_ca, Some((&cert, &key)));
    assert!(stranger.get(url(&h, "/healthz")).send().await.is_err());
}

async fn wait_until(mut ready: impl AsyncFnMut() -> bool) {
    for _ in 0..50 {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the condition did not hold within 5 s");
}

#[tokio::test]
async fn certificates_reload_without_a_restart() {
    let first_ca = Ca::new("first server CA");
    let files = Files::new();
    files.install_server(&first_ca);
    let h = start(&files, ClientAuth::None).await;
    let health = url(&h, "/healthz");
    let old = client(&first_ca, None);
    assert_eq!(old.get(&health).send().await.unwrap().status(), 200);

    // A new certificate from another CA: new connections get it within the reload interval.
    let second_ca = Ca::new("second server CA");
    files.install_server(&second_ca);
    wait_until(async || {
        let new = client(&second_ca, None);
        new.get(&health).send().await.is_ok()
    })
    .await;
    let fresh_old = client(&first_ca, None);
    assert!(fresh_old.get(&health).send().await.is_err());

    // A broken file is refused and the certificate in use stays.
    files.write("server.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let new = client(&second_ca, None);
    assert_eq!(new.get(&health).send().await.unwrap().status(), 200);
}

#[test]
fn client_auth_without_a_ca_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let openapi = "orders.openapi.yaml";
    std::fs::copy(quickstart.join(openapi), dir.path().join(openapi)).unwrap();
    let cert = dir.path().join("server.pem");
    std::fs::write(&cert, "unused").unwrap();
    let text = std::fs::read_to_string(quickstart.join("portcullis.yaml"))
        .unwrap()
        .replacen(
            "listener:\n",
            "listener:\n  tls:\n    cert: server.pem\n    key: file:server.key\n    client_auth: required\n",
            1,
        );
    let config = dir.path().join("portcullis.yaml");
    std::fs::write(&config, text).unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    for entry in std::fs::read_dir(quickstart.join("policies")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            dir.path().join("policies").join(entry.file_name()),
        )
        .unwrap();
    }
    let error = portcullis_config::Config::load(&config)
        .unwrap_err()
        .to_string();
    assert!(error.contains("listener.tls.client_ca"), "{error}");
}

/// A client certificate carrying a SPIFFE id as its URI name, and its key, both PEM, and the
/// certificate's DER.
fn spiffe_leaf(ca: &Ca, spiffe_id: &str) -> (String, String, Vec<u8>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "workload");
    params.subject_alt_names.push(rcgen::SanType::URI(
        rcgen::string::Ia5String::try_from(spiffe_id).unwrap(),
    ));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

#[tokio::test]
async fn an_agent_identified_by_its_certificate_gets_tokens_bound_to_that_certificate() {
    use base64::Engine as _;
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let files = Files::new();
    files.install_server(&server_ca);
    files.write("clients.pem", &client_ca.pem());
    let tls = files.tls_config(ClientAuth::Optional);
    let h = Harness::start_with(move |config| {
        config.listener.tls = Some(tls);
        config.agents.push(
            serde_json::from_value(json!({
                "id": "billing-bot",
                "roles": ["support"],
                "scopes": ["orders:read"],
                "certificate": { "spiffe_id": "spiffe://shop.example/billing" },
            }))
            .unwrap(),
        );
    })
    .await;

    let (cert, key, der) = spiffe_leaf(&client_ca, "spiffe://shop.example/billing");
    let agent = client(&server_ca, Some((&cert, &key)));
    let request_token = |client: &reqwest::Client| {
        client
            .post(url(&h, "/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "billing-bot"),
            ])
            .send()
    };

    // No secret: the certificate is the credential (RFC 8705 tls_client_auth).
    let response = request_token(&agent).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der).as_ref());
    assert_eq!(claims["cnf"]["x5t#S256"], thumbprint);
    assert_eq!(claims["client_id"], "billing-bot");

    let call = |client: &reqwest::Client| {
        client
            .post(url(&h, "/v1/tools/getOrder/call"))
            .bearer_auth(&token)
            .json(&json!({"id": 7}))
            .send()
    };
    assert_eq!(call(&agent).await.unwrap().status(), 200);

    // The same token over a connection without that certificate: refused.
    let anonymous = client(&server_ca, None);
    assert_eq!(call(&anonymous).await.unwrap().status(), 401);
    let (other_cert, other_key, _) = spiffe_leaf(&client_ca, "spiffe://shop.example/billing");
    let twin = client(&server_ca, Some((&other_cert, &other_key)));
    assert_eq!(
        call(&twin).await.unwrap().status(),
        401,
        "another certificate with the same SPIFFE id is not the bound one"
    );

    // Another workload's certificate, or none at all, does not authenticate the agent.
    let (cert, key, _) = spiffe_leaf(&client_ca, "spiffe://shop.example/reports");
    let impostor = client(&server_ca, Some((&cert, &key)));
    let response = request_token(&impostor).await.unwrap();
    assert_eq!(response.status(), 401);
    let response = request_token(&anonymous).await.unwrap();
    assert_eq!(response.status(), 401);

    let metadata: Value = anonymous
        .get(url(&h, "/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("tls_client_auth"))
    );
    assert_eq!(metadata["tls_client_certificate_bound_access_tokens"], true);
}
