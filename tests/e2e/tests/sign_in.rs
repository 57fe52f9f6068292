//! Interactive sign-in end to end: dynamic registration, the authorization request, the
//! sign-in and consent forms, the code exchange with PKCE, refresh-token rotation, and each
//! refusal with its OAuth error.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a failed expectation must stop the test"
)]

use base64::Engine as _;
use portcullis_e2e::forms::{browser, challenge, hidden, query_of, set_cookie};
use portcullis_e2e::{Harness, USER_PASSWORD};
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:33418/callback";

struct Flow {
    client_id: String,
    verifier: String,
}

/// The CSRF cookie a sign-in page sets.
fn csrf_cookie(response: &reqwest::Response) -> String {
    set_cookie(response, "portcullis_signin").expect("a CSRF cookie")
}

async fn register(h: &Harness) -> String {
    let answer = h
        .http
        .post(format!("{}/oauth/register", h.base))
        .json(&json!({
            "client_name": "Test Client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(answer.status(), 201);
    let info: Value = answer.json().await.expect("json");
    assert_eq!(info["token_endpoint_auth_method"], "none");
    info["client_id"].as_str().expect("client_id").to_owned()
}

fn authorize_url(h: &Harness, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(&format!("{}/oauth/authorize", h.base), params).expect("url")
}

fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// Runs the authorization request with `extra` query parameters and returns the response.
async fn authorize(h: &Harness, client_id: &str, params: &[(&str, &str)]) -> reqwest::Response {
    let mut query = vec![("client_id", client_id), ("redirect_uri", REDIRECT)];
    query.extend_from_slice(params);
    browser()
        .get(authorize_url(h, &query))
        .send()
        .await
        .expect("authorize")
}

/// The whole browser part: authorization request, sign-in, consent. Returns the redirect's
/// query.
async fn sign_in_and_consent(h: &Harness, flow: &Flow, scope: &str) -> Vec<(String, String)> {
    let challenge = challenge(&flow.verifier);
    let resource = format!("{}/mcp", h.base);
    let page = authorize(
        h,
        &flow.client_id,
        &[
            ("response_type", "code"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "xyz-state"),
            ("scope", scope),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let jar = csrf_cookie(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains("Test Client"));
    let consent = browser()
        .post(format!("{}/oauth/authorize/sign-in", h.base))
        .header("cookie", &jar)
        .form(&[
            ("request", hidden(&html, "request")),
            ("csrf", hidden(&html, "csrf")),
            ("username", "demo-user".to_owned()),
            ("password", USER_PASSWORD.to_owned()),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(consent.status(), 200);
    let jar = csrf_cookie(&consent);
    let html = consent.text().await.unwrap();
    assert!(html.contains("Allow access?"), "{html}");
    assert!(
        html.contains("listOrders"),
        "the consent page names the tools"
    );
    let back = browser()
        .post(format!("{}/oauth/authorize/consent", h.base))
        .header("cookie", &jar)
        .form(&[
            ("request", hidden(&html, "request")),
            ("csrf", hidden(&html, "csrf")),
            ("decision", "approve".to_owned()),
        ])
        .send()
        .await
        .expect("consent");
    assert_eq!(back.status(), 303);
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    query_of(&location)
}

async fn token(h: &Harness, form: &[(&str, &str)]) -> (u16, Value) {
    let answer = h
        .http
        .post(format!("{}/oauth/token", h.base))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("json"))
}

async fn redeem(h: &Harness, flow: &Flow, code: &str) -> (u16, Value) {
    token(
        h,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &flow.client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &flow.verifier),
        ],
    )
    .await
}

async fn new_flow(h: &Harness) -> Flow {
    Flow {
        client_id: register(h).await,
        verifier: "a-verifier-of-enough-length-0123456789-abcdefghijklmnop".to_owned(),
    }
}

async fn list_tools(h: &Harness, token: &str) -> reqwest::Response {
    h.mcp(token, None).await
}

#[tokio::test]
async fn code_flow_issues_a_delegated_token_and_rotates_refresh_tokens() {
    let h = Harness::start().await;
    let metadata: Value = h
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert!(metadata["registration_endpoint"].is_string());
    assert_eq!(metadata["client_id_metadata_document_supported"], false);
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("none"))
    );

    let flow = new_flow(&h).await;
    let redirect = sign_in_and_consent(&h, &flow, "orders:read").await;
    assert_eq!(param(&redirect, "state").as_deref(), Some("xyz-state"));
    assert_eq!(param(&redirect, "iss").as_deref(), Some(h.base.as_str()));
    let code = param(&redirect, "code").expect("a code");
    let (status, body) = redeem(&h, &flow, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "orders:read");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // The token has the delegated shape.
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "demo-user");
    assert_eq!(claims["client_id"], flow.client_id.as_str());
    assert_eq!(claims["act"]["sub"], flow.client_id.as_str());
    assert_eq!(claims["aud"], format!("{}/mcp", h.base));
    assert_eq!(list_tools(&h, &access).await.status(), 200);

    // Rotation: the new refresh token works, the old one is reuse and ends the family.
    let (status, rotated) = token(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &flow.client_id),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, refresh);
    let (status, reused) = token(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &flow.client_id),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(reused["error"], "invalid_grant");
    let (status, after) = token(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &flow.client_id),
            ("refresh_token", &second),
        ],
    )
    .await;
    assert_eq!(status, 400, "the whole family is revoked: {after}");
    assert_eq!(after["error"], "invalid_grant");
    // The access token of the revoked grant is refused too.
    let latest = rotated["access_token"].as_str().unwrap();
    assert_eq!(list_tools(&h, latest).await.status(), 401);
}

#[tokio::test]
async fn grants_survive_a_restart() {
    let h = Harness::start().await;
    let flow = new_flow(&h).await;
    let redirect = sign_in_and_consent(&h, &flow, "orders:read orders:write").await;
    let (_, body) = redeem(&h, &flow, &param(&redirect, "code").unwrap()).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let h = h.restart().await;
    let (status, rotated) = token(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &flow.client_id),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["scope"], "orders:read orders:write");
}

#[tokio::test]
async fn code_replay_is_refused_and_revokes_its_tokens() {
    let h = Harness::start().await;
    let flow = new_flow(&h).await;
    let redirect = sign_in_and_consent(&h, &flow, "orders:read").await;
    let code = param(&redirect, "code").unwrap();
    let (status, first) = redeem(&h, &flow, &code).await;
    assert_eq!(status, 200);
    let (status, replay) = redeem(&h, &flow, &code).await;
    assert_eq!(status, 400);
    assert_eq!(replay["error"], "invalid_grant");
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(list_tools(&h, access).await.status(), 401);
    let (status, refreshed) = token(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &flow.client_id),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refreshed["error"], "invalid_grant");
}

#[tokio::test]
async fn wrong_verifier_and_wrong_redirect_uri_are_invalid_grant() {
    let h = Harness::start().await;
    let flow = new_flow(&h).await;
    let code = param(&sign_in_and_consent(&h, &flow, "orders:read").await, "code").unwrap();
    let (status, body) = token(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &flow.client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "another-verifier-of-enough-length-0123456789-abcdefgh",
            ),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    let code = param(&sign_in_and_consent(&h, &flow, "orders:read").await, "code").unwrap();
    let (status, body) = token(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &flow.client_id),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:33418/other"),
            ("code_verifier", &flow.verifier),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    // Not registered at the authorization request: shown to the user, never redirected.
    let answer = browser()
        .get(authorize_url(
            &h,
            &[
                ("client_id", flow.client_id.as_str()),
                ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
                ("response_type", "code"),
                ("code_challenge", &challenge(&flow.verifier)),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer.headers().get("location").is_none());
}

#[tokio::test]
async fn pkce_downgrades_and_a_foreign_resource_are_refused() {
    let h = Harness::start().await;
    let flow = new_flow(&h).await;
    let good = challenge(&flow.verifier);
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("response_type", "code"),
                ("code_challenge", &good),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            &[("response_type", "code"), ("code_challenge", &good)],
            "invalid_request",
        ),
        (&[("response_type", "code")], "invalid_request"),
        (
            &[
                ("response_type", "code"),
                ("code_challenge", &good),
                ("code_challenge_method", "S256"),
                ("resource", "https://other.example/mcp"),
            ],
            "invalid_target",
        ),
    ];
    for (params, error) in cases {
        let mut params = params.to_vec();
        params.push(("state", "s1"));
        let answer = authorize(&h, &flow.client_id, &params).await;
        assert_eq!(answer.status(), 303, "{params:?}");
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let query = query_of(&location);
        assert_eq!(param(&query, "error").as_deref(), Some(error), "{params:?}");
        assert_eq!(param(&query, "state").as_deref(), Some("s1"));
    }
}

#[tokio::test]
async fn forms_without_csrf_and_wrong_passwords_are_refused() {
    let h = Harness::start().await;
    let flow = new_flow(&h).await;
    let page = authorize(
        &h,
        &flow.client_id,
        &[
            ("response_type", "code"),
            ("code_challenge", &challenge(&flow.verifier)),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let jar = csrf_cookie(&page);
    let html = page.text().await.unwrap();
    let request = hidden(&html, "request");
    let csrf = hidden(&html, "csrf");
    // No CSRF field; then no cookie.
    for (with_field, with_cookie) in [(false, true), (true, false)] {
        let mut form = vec![
            ("request", request.clone()),
            ("username", "demo-user".to_owned()),
            ("password", USER_PASSWORD.to_owned()),
        ];
        if with_field {
            form.push(("csrf", csrf.clone()));
        }
        let mut post = browser().post(format!("{}/oauth/authorize/sign-in", h.base));
        if with_cookie {
            post = post.header("cookie", &jar);
        }
        let answer = post.form(&form).send().await.unwrap();
        assert_eq!(answer.status(), 400);
        assert!(answer.text().await.unwrap().contains("CSRF"));
    }
    // A wrong password shows the form again, with no session.
    let answer = browser()
        .post(format!("{}/oauth/authorize/sign-in", h.base))
        .header("cookie", &jar)
        .form(&[
            ("request", request.clone()),
            ("csrf", csrf.clone()),
            ("username", "demo-user".to_owned()),
            ("password", "not-the-password".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let html = answer.text().await.unwrap();
    assert!(html.contains("Wrong user name or password"));
    assert!(
        !html.contains("not-the-password"),
        "the secret is never echoed"
    );
    // Consent without a signed-in user is refused.
    let answer = browser()
        .post(format!("{}/oauth/authorize/consent", h.base))
        .header("cookie", &jar)
        .form(&[
            ("request", request.clone()),
            ("csrf", hidden(&html, "csrf")),
            ("decision", "approve".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
}

#[tokio::test]
async fn registration_refuses_foreign_redirect_uris_and_metadata_documents_need_public_addresses() {
    let h = Harness::start_with(|config| {
        if let Some(sign_in) = config.sign_in.as_mut() {
            sign_in.client_metadata_documents = true;
        }
    })
    .await;
    let answer = h
        .http
        .post(format!("{}/oauth/register", h.base))
        .json(&json!({"redirect_uris": ["https://attacker.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "invalid_redirect_uri");

    // A client id URL on an internal address is never fetched.
    for url in [
        "https://127.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data",
    ] {
        let answer = browser()
            .get(authorize_url(
                &h,
                &[
                    ("client_id", url),
                    ("redirect_uri", REDIRECT),
                    ("response_type", "code"),
                ],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400);
        assert!(answer.headers().get("location").is_none());
        let text = answer.text().await.unwrap();
        assert!(text.contains("could not be fetched"), "{text}");
    }
}

#[tokio::test]
async fn every_step_leaves_one_audit_record() {
    let h = Harness::start().await;
    let flow = new_flow(&h).await;
    let code = param(&sign_in_and_consent(&h, &flow, "orders:read").await, "code").unwrap();
    let (status, _) = redeem(&h, &flow, &code).await;
    assert_eq!(status, 200);
    let records = portcullis_audit::tail(&h.audit_path(), 100).await.unwrap();
    let allowed: Vec<String> = records
        .iter()
        .filter(|r| r.event.decision.as_str() == "allow")
        .map(|r| r.event.reasons.join("; "))
        .collect();
    // Register, authorize, sign in, consent, token: one record each.
    for step in [
        "client registered",
        "authorization request",
        "signed in",
        "consent given",
        "token issued",
    ] {
        assert_eq!(
            allowed.iter().filter(|r| r.contains(step)).count(),
            1,
            "{step}: {allowed:?}"
        );
    }
    assert_eq!(records.len(), 5, "one record per step");
    let signed_in = records
        .iter()
        .find(|r| r.event.reasons.iter().any(|x| x == "signed in"))
        .unwrap();
    assert_eq!(signed_in.event.subject.as_deref(), Some("demo-user"));
}

#[tokio::test]
async fn the_admin_api_revokes_a_users_grants() {
    let h = Harness::start_with_admin().await;
    let flow = new_flow(&h).await;
    let code = param(&sign_in_and_consent(&h, &flow, "orders:read").await, "code").unwrap();
    let (_, body) = redeem(&h, &flow, &code).await;
    let answer = h
        .admin_post(
            "/admin/revocations/grants",
            Some(portcullis_e2e::ADMIN_TOKEN),
            Some(&json!({"user": "demo-user"})),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let revoked: Value = answer.json().await.unwrap();
    assert_eq!(revoked["revoked"].as_array().unwrap().len(), 1);
    assert_eq!(
        list_tools(&h, body["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    let (status, refused) = token(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &flow.client_id),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"], "invalid_grant");
}

/// Runs `tests/python/<script>` with the gateway's MCP URL, the demo user and a `getOrder`
/// call; returns its JSON report, or `None` when no interpreter is configured.
async fn run_sign_in_client(h: &Harness, script: &str) -> Option<Value> {
    let Some(interpreter) = std::env::var_os("PORTCULLIS_PYTHON") else {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
            "PORTCULLIS_PYTHON is not set but external clients are required"
        );
        eprintln!("skipped: PORTCULLIS_PYTHON is not set (scripts/test sets it)");
        return None;
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../python")
        .join(script);
    let mut command = std::process::Command::new(&interpreter);
    command.arg(&script).args([
        format!("{}/mcp", h.base).as_str(),
        "demo-user",
        USER_PASSWORD,
        "getOrder",
        r#"{"id": 42}"#,
    ]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("python runs");
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{out}\n{err}");
    Some(serde_json::from_str(&out).unwrap())
}

/// The official Python SDK's OAuth client provider from the bare `/mcp` URL: discovery,
/// registration, the sign-in and consent forms (followed by an HTTP client in the redirect
/// handler), the code exchange with PKCE, a tool call, and a refresh with rotation.
#[tokio::test]
async fn python_sdk_oauth_provider_signs_in_from_the_bare_url() {
    let h = Harness::start().await;
    let Some(report) = run_sign_in_client(&h, "mcp_sign_in.py").await else {
        return;
    };
    assert_eq!(report["call_is_error"], false, "{report}");
    assert!(
        report["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("getOrder")),
        "{report}"
    );
    assert_eq!(report["consent_names_tool"], true);
    assert_eq!(report["has_refresh_token"], true);
    assert_eq!(report["refresh_rotated"], true, "{report}");
    assert!(
        report["csp"]
            .as_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

/// fastmcp's OAuth helper from the bare `/mcp` URL: its own registration with a
/// `http://localhost:<port>/callback` redirect URI, its own callback server receiving the code
/// from the gateway's redirect, PKCE, a tool list and call.
#[tokio::test]
async fn fastmcp_oauth_helper_signs_in_from_the_bare_url() {
    let h = Harness::start().await;
    let Some(report) = run_sign_in_client(&h, "fastmcp_sign_in.py").await else {
        return;
    };
    assert!(report.get("browser_error").is_none(), "{report}");
    assert_eq!(
        report["authorization_url"],
        format!("{}/oauth/authorize", h.base),
        "{report}"
    );
    let redirect = report["redirect_uri"].as_str().unwrap();
    assert!(
        redirect.starts_with("http://localhost:") && redirect.ends_with("/callback"),
        "{report}"
    );
    assert_eq!(report["code_in_redirect"], true);
    assert_eq!(report["callback_status"], 200, "{report}");
    assert_eq!(report["call_is_error"], false, "{report}");
    assert_eq!(report["structured"]["id"], 42, "{report}");
    assert!(
        report["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("getOrder")),
        "{report}"
    );
}

/// Registrations are capped per address: past the hour's allowance, 429 with `Retry-After`,
/// recorded like every registration.
#[tokio::test]
async fn registrations_from_one_address_are_capped() {
    let h = Harness::start_with(|config| {
        config
            .sign_in
            .as_mut()
            .expect("the quickstart has sign_in")
            .registrations_per_hour = 3;
    })
    .await;
    for _ in 0..3 {
        register(&h).await;
    }
    let refused = h
        .http
        .post(format!("{}/oauth/register", h.base))
        .json(&json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3600).contains(&wait), "{wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let records = portcullis_audit::tail(&h.audit_path(), 100).await.unwrap();
    assert_eq!(records.len(), 4, "one record per registration request");
}

/// Documents an HTTPS test server answers, by path.
type Documents = std::sync::Arc<parking_lot::Mutex<Vec<(String, Value)>>>;

/// An HTTPS server on loopback answering each path with a JSON document from the returned list
/// (404 otherwise), under a certificate for `host` signed by a fresh CA. Returns its port, the
/// CA's PEM and the list.
async fn document_server(host: &str) -> (u16, String, Documents) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Example Internal CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let documents: Documents = std::sync::Arc::default();
    let served = std::sync::Arc::clone(&documents);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, documents) = (acceptor.clone(), std::sync::Arc::clone(&served));
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if tls.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let document = documents
                    .lock()
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, d)| d.to_string());
                let answer = match document {
                    Some(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    }
                };
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca.pem(), documents)
}

/// A client metadata document (its HTTPS URL is the client id) hosted on an organization's
/// internal host, which `sign_in.client_metadata_egress` lets through (its private address and
/// its CA): the whole flow runs with it as the client, and its token names it. A document that
/// names another client id, and one whose redirect URI is not allowed, are refused.
#[tokio::test]
async fn a_client_metadata_document_on_an_allowed_host_is_the_client() {
    let host = "clients.example.test";
    let (port, ca_pem, documents) = document_server(host).await;
    let client_id = format!("https://{host}:{port}/test-client.json");
    documents.lock().extend([
        (
            "/test-client.json".to_owned(),
            json!({"client_id": client_id, "client_name": "Test Client", "redirect_uris": [REDIRECT]}),
        ),
        (
            "/impostor.json".to_owned(),
            json!({"client_id": "https://elsewhere.example/client.json", "redirect_uris": [REDIRECT]}),
        ),
        (
            "/foreign-redirect.json".to_owned(),
            json!({"client_id": format!("https://{host}:{port}/foreign-redirect.json"),
                   "redirect_uris": ["https://attacker.example/callback"]}),
        ),
    ]);
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("internal-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let resolver = portcullis_egress::StaticResolver::new()
        .with_host(host, [std::net::IpAddr::from([127, 0, 0, 1])]);
    let h = Harness::start_with_resolver(resolver, move |config| {
        let sign_in = config.sign_in.as_mut().expect("the quickstart has sign_in");
        sign_in.client_metadata_documents = true;
        sign_in.client_metadata_egress.allow_private = vec!["127.0.0.1/32".parse().unwrap()];
        sign_in.client_metadata_egress.ca_certificates = vec![ca_file];
    })
    .await;
    let flow = Flow {
        client_id: client_id.clone(),
        verifier: "a-verifier-of-enough-length-0123456789-abcdefghijklmnop".to_owned(),
    };
    let code = param(&sign_in_and_consent(&h, &flow, "orders:read").await, "code").unwrap();
    let (status, tokens) = redeem(&h, &flow, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let part = tokens["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(
        list_tools(&h, tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    for (path, why) in [
        ("impostor.json", "is not its own URL"),
        ("foreign-redirect.json", "is not allowed here"),
    ] {
        let page = authorize(&h, &format!("https://{host}:{port}/{path}"), &[]).await;
        assert_eq!(page.status(), 400, "{path}");
        let text = page.text().await.unwrap();
        assert!(text.contains(why), "{path}: {text}");
    }
}
