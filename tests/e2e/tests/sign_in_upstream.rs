//! Users signing in at the organization's OpenID Connect provider: the sign-in page's button,
//! the redirect to the provider with `state`, `nonce` and PKCE, the callback with its binding
//! cookie, the code redeemed at the provider's token endpoint (client secret by HTTP Basic,
//! PKCE verifier), the ID token verified, the consent page, and the gateway's own tokens for
//! the user with the provider's tenant and groups. Each hostile answer of the provider is
//! refused: wrong nonce, wrong audience, expired, unknown key, another issuer, a replayed or
//! foreign callback. Then the real thing: the official Python MCP SDK from the bare URL, signing
//! in through oidc-provider (a certified OpenID Connect provider library, run on Node.js).

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests: a failed expectation must stop the test"
)]

use base64::Engine as _;
use portcullis_config::{ClaimMapping, IdentityProviderConfig, SecretRef, UpstreamSignIn};
use portcullis_e2e::forms::{browser, challenge, hidden, query_of, set_cookie};
use portcullis_e2e::idp::TestIssuer;
use portcullis_e2e::{Harness, IDP_CLIENT_SECRET};
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:33418/callback";
const CLIENT_AT_IDP: &str = "portcullis-gateway";
const VERIFIER: &str = "a-verifier-of-enough-length-0123456789-abcdefghijklmnop";

fn provider(issuer: &str) -> IdentityProviderConfig {
    let mut provider: IdentityProviderConfig = serde_json::from_value(json!({
        "issuer": issuer,
        "algorithms": ["RS256"],
        "default_scopes": ["orders:read"],
        "allow_insecure_http": true,
        "jwks_min_refresh": "1s",
        "egress": { "allow_private": ["127.0.0.1/32"] },
    }))
    .unwrap();
    provider.claims = ClaimMapping {
        tenant: Some("tenant".to_owned()),
        groups: Some("groups".to_owned()),
        ..ClaimMapping::default()
    };
    provider
}

/// The quickstart with sign-in at `issuer` added beside the built-in users.
async fn start(issuer: &str) -> Harness {
    let provider = provider(issuer);
    let issuer = issuer.to_owned();
    Harness::start_with(move |config| {
        config.identity_providers = vec![provider];
        let sign_in = config.sign_in.as_mut().expect("the quickstart has sign_in");
        sign_in.identity_provider = Some(UpstreamSignIn {
            issuer,
            client_id: CLIENT_AT_IDP.to_owned(),
            client_secret: Some(SecretRef::Env("PORTCULLIS_TEST_IDP_SECRET".to_owned())),
            scopes: vec!["openid".to_owned(), "profile".to_owned()],
            label: "Example SSO".to_owned(),
        });
    })
    .await
}

fn param(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no `{name}` in {pairs:?}"))
}

async fn register(h: &Harness) -> String {
    let info: Value = h
        .http
        .post(format!("{}/oauth/register", h.base))
        .json(&json!({"client_name": "Test Client", "redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    info["client_id"].as_str().unwrap().to_owned()
}

/// A flow sent to the provider: the provider's authorization URL's query and the binding
/// cookie.
struct AtProvider {
    client_id: String,
    query: Vec<(String, String)>,
    binding: String,
}

/// The authorization request, then the sign-in page's provider button.
async fn leave_for_provider(h: &Harness, issuer: &TestIssuer) -> AtProvider {
    let client_id = register(h).await;
    let challenge = challenge(VERIFIER);
    let url = reqwest::Url::parse_with_params(
        &format!("{}/oauth/authorize", h.base),
        &[
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "client-state"),
            ("scope", "orders:read orders:refund"),
        ],
    )
    .unwrap();
    let page = browser().get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' {}", issuer.url)),
        "the button's form may answer with a redirect to the provider: {csp}"
    );
    let csrf_cookie = set_cookie(&page, "portcullis_signin").expect("CSRF cookie");
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with Example SSO"), "{html}");
    assert!(
        html.contains("name=\"password\""),
        "the built-in users still sign in"
    );
    let start = browser()
        .post(format!("{}/oauth/authorize/upstream", h.base))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("request", hidden(&html, "request")),
            ("csrf", hidden(&html, "csrf")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let binding = set_cookie(&start, "portcullis_upstream").expect("binding cookie");
    let set = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("SameSite=Lax") && set.contains("HttpOnly"),
        "{set}"
    );
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/authorize?", issuer.url)),
        "{location}"
    );
    let query = query_of(&location);
    assert_eq!(param(&query, "client_id"), CLIENT_AT_IDP);
    assert_eq!(
        param(&query, "redirect_uri"),
        format!("{}/oauth/callback", h.base)
    );
    assert_eq!(param(&query, "code_challenge_method"), "S256");
    assert_eq!(param(&query, "scope"), "openid profile");
    AtProvider {
        client_id,
        query,
        binding,
    }
}

/// The ID token the provider would issue for `user` in this flow.
fn id_token(issuer: &TestIssuer, at: &AtProvider, user: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "iss": issuer.url,
        "sub": user,
        "aud": CLIENT_AT_IDP,
        "iat": now,
        "exp": now + 300,
        "nonce": param(&at.query, "nonce"),
        "tenant": "acme",
        "groups": ["finance", "staff"],
    })
}

/// The provider sends the browser back with `code` (and `extra` parameters).
async fn come_back(
    h: &Harness,
    at: &AtProvider,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let state = param(&at.query, "state");
    let mut query = vec![("code", "provider-code"), ("state", state.as_str())];
    query.extend_from_slice(extra);
    let url =
        reqwest::Url::parse_with_params(&format!("{}/oauth/callback", h.base), &query).unwrap();
    let mut request = browser().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_provider_user_signs_in_and_gets_the_gateways_tokens_with_their_groups() {
    let issuer = TestIssuer::start().await;
    let h = start(&issuer.url).await;
    let at = leave_for_provider(&h, &issuer).await;
    issuer.answer_token(
        200,
        json!({"access_token": "provider-access", "token_type": "Bearer",
               "id_token": issuer.sign(&id_token(&issuer, &at, "ann"), None)}),
    );
    let consent = come_back(&h, &at, Some(&at.binding), &[("iss", &issuer.url)]).await;
    assert_eq!(consent.status(), 200);
    let cleared = consent.headers()["set-cookie"].to_str().unwrap().to_owned();
    let csrf_cookie = set_cookie(&consent, "portcullis_signin").expect("CSRF cookie");
    let html = consent.text().await.unwrap();
    assert!(html.contains("Signed in as <strong>ann</strong>"), "{html}");
    assert!(html.contains("<code>orders:read</code>"));
    assert!(
        !html.contains("<code>orders:refund</code>"),
        "the provider's default scopes do not include refunds"
    );
    assert!(!cleared.is_empty());

    // What the gateway sent the provider's token endpoint.
    let sent = issuer.token_requests.lock().clone();
    assert_eq!(sent.len(), 1);
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{CLIENT_AT_IDP}:{IDP_CLIENT_SECRET}"));
    assert_eq!(
        sent[0].authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(sent[0].field("grant_type"), Some("authorization_code"));
    assert_eq!(sent[0].field("code"), Some("provider-code"));
    assert_eq!(
        sent[0].field("client_id"),
        None,
        "one client authentication method"
    );
    let verifier = sent[0].field("code_verifier").unwrap();
    assert_eq!(challenge(verifier), param(&at.query, "code_challenge"));

    // Consent, then the gateway's own code and tokens.
    let back = browser()
        .post(format!("{}/oauth/authorize/consent", h.base))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("request", hidden(&html, "request")),
            ("csrf", hidden(&html, "csrf")),
            ("decision", "approve".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303);
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    let pairs = query_of(&location);
    assert_eq!(param(&pairs, "state"), "client-state");
    let code = param(&pairs, "code");
    let redeem = |form: Vec<(&'static str, String)>| {
        let http = h.http.clone();
        let url = format!("{}/oauth/token", h.base);
        async move {
            let answer = http.post(url).form(&form).send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap())
        }
    };
    let (status, tokens) = redeem(vec![
        ("grant_type", "authorization_code".to_owned()),
        ("client_id", at.client_id.clone()),
        ("code", code),
        ("redirect_uri", REDIRECT.to_owned()),
        ("code_verifier", VERIFIER.to_owned()),
    ])
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "ann");
    assert_eq!(claims["user_iss"], issuer.url.as_str());
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["groups"], json!(["finance", "staff"]));
    assert_eq!(claims["act"]["sub"], at.client_id.as_str());
    let access = tokens["access_token"].as_str().unwrap();
    let called = h.mcp(access, Some(("getOrder", &json!({"id": 42})))).await;
    assert_eq!(called.status(), 200);
    let answer = called.text().await.unwrap();
    assert!(answer.contains("\"isError\":false"), "{answer}");
    // Bound to the MCP endpoint (RFC 8707): not a token for the HTTP API.
    let elsewhere = h.call(Some(access), "getOrder", &json!({"id": 42})).await;
    assert_eq!(elsewhere.status(), 401);

    // A refresh keeps the provider's description of the user; the grant names the provider.
    let (status, refreshed) = redeem(vec![
        ("grant_type", "refresh_token".to_owned()),
        ("client_id", at.client_id.clone()),
        (
            "refresh_token",
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        ),
    ])
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let claims = payload(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["groups"], json!(["finance", "staff"]));
    assert_eq!(claims["user_iss"], issuer.url.as_str());
    let grants = h
        .gateway
        .sign_in()
        .unwrap()
        .store()
        .list(Some("ann"))
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].user_issuer.as_deref(), Some(issuer.url.as_str()));
    assert_eq!(grants[0].user_tenant, "acme");

    // One audit record per step, the provider's step naming the user.
    let records = portcullis_audit::tail(&h.audit_path(), 100).await.unwrap();
    let step = |name: &str| {
        records
            .iter()
            .filter(|r| r.event.reasons.iter().any(|x| x == name))
            .count()
    };
    assert_eq!(step("sent to identity provider"), 1);
    assert_eq!(step("signed in at identity provider"), 1);
    let signed = records
        .iter()
        .find(|r| {
            r.event
                .reasons
                .iter()
                .any(|x| x == "signed in at identity provider")
        })
        .unwrap();
    assert_eq!(signed.event.subject.as_deref(), Some("ann"));
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// A change that spoils an ID token's claims.
type Defect = fn(&mut Value);

#[tokio::test]
async fn hostile_provider_answers_and_foreign_callbacks_are_refused() {
    let issuer = TestIssuer::start().await;
    let h = start(&issuer.url).await;

    // Each ID token defect: the callback shows an error page and no consent.
    let defects: [(&str, Defect); 6] = [
        ("another nonce", |c| c["nonce"] = json!("forged")),
        ("another audience", |c| c["aud"] = json!("someone-else")),
        ("issued to another party", |c| {
            c["azp"] = json!("someone-else")
        }),
        ("expired", |c| {
            c["exp"] = json!(c["iat"].as_u64().unwrap() - 3600)
        }),
        ("another issuer", |c| c["iss"] = json!("http://127.0.0.1:1")),
        ("no nonce", |c| c["nonce"] = Value::Null),
    ];
    for (defect, change) in defects {
        let at = leave_for_provider(&h, &issuer).await;
        let mut claims = id_token(&issuer, &at, "mallory");
        change(&mut claims);
        issuer.answer_token(200, json!({"id_token": issuer.sign(&claims, None)}));
        let answer = come_back(&h, &at, Some(&at.binding), &[]).await;
        assert_eq!(answer.status(), 400, "{defect}");
        let text = answer.text().await.unwrap();
        assert!(text.contains("could not be verified"), "{defect}: {text}");
        assert!(!text.contains("Allow access?"), "{defect}");
    }

    // Signed by a key the provider does not publish.
    let at = leave_for_provider(&h, &issuer).await;
    let other = TestIssuer::start().await;
    let mut claims = id_token(&issuer, &at, "mallory");
    claims["iss"] = json!(issuer.url);
    issuer.answer_token(200, json!({"id_token": other.sign(&claims, None)}));
    let answer = come_back(&h, &at, Some(&at.binding), &[]).await;
    assert_eq!(answer.status(), 400, "a signature by another key");

    // A token with `alg: none`.
    let at = leave_for_provider(&h, &issuer).await;
    let unsigned = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(id_token(&issuer, &at, "mallory").to_string())
    );
    issuer.answer_token(200, json!({"id_token": unsigned}));
    assert_eq!(
        come_back(&h, &at, Some(&at.binding), &[]).await.status(),
        400
    );

    // The provider's token endpoint refuses the code: no consent, a clear page.
    let at = leave_for_provider(&h, &issuer).await;
    issuer.answer_token(400, json!({"error": "invalid_grant"}));
    let answer = come_back(&h, &at, Some(&at.binding), &[]).await;
    assert_eq!(answer.status(), 400);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("did not complete the sign-in")
    );

    // A callback in a browser without the binding cookie (an attacker's own callback URL sent
    // to a victim): refused, and the leg is used up, so the real browser cannot finish either.
    let at = leave_for_provider(&h, &issuer).await;
    issuer.answer_token(
        200,
        json!({"id_token": issuer.sign(&id_token(&issuer, &at, "ann"), None)}),
    );
    let answer = come_back(&h, &at, None, &[]).await;
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("another browser"));
    assert_eq!(
        come_back(&h, &at, Some(&at.binding), &[]).await.status(),
        400
    );

    // A callback naming another issuer (RFC 9207 mix-up): refused before the code is redeemed.
    let at = leave_for_provider(&h, &issuer).await;
    let before = issuer.token_requests.lock().len();
    let answer = come_back(
        &h,
        &at,
        Some(&at.binding),
        &[("iss", "https://attacker.example")],
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert_eq!(issuer.token_requests.lock().len(), before);

    // The user cancels at the provider: the client hears `access_denied` with its state.
    let at = leave_for_provider(&h, &issuer).await;
    let state = param(&at.query, "state");
    let url = reqwest::Url::parse_with_params(
        &format!("{}/oauth/callback", h.base),
        &[("error", "access_denied"), ("state", state.as_str())],
    )
    .unwrap();
    let answer = browser()
        .get(url)
        .header("cookie", &at.binding)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let pairs = query_of(&location);
    assert_eq!(param(&pairs, "error"), "access_denied");
    assert_eq!(param(&pairs, "state"), "client-state");

    // An unknown state, and a callback with no state at all.
    let answer = browser()
        .get(format!("{}/oauth/callback?code=x&state=unknown", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let answer = browser()
        .get(format!("{}/oauth/callback?code=x", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
}

/// The official Python SDK's OAuth provider from the bare `/mcp` URL, the user signing in at
/// oidc-provider (its own login and consent pages, followed by an HTTP client), back through
/// the gateway's callback and consent page, a tool call and a refresh.
#[tokio::test]
async fn python_sdk_signs_in_through_a_real_openid_provider() {
    let (Some(python), Some(node)) = (
        std::env::var_os("PORTCULLIS_PYTHON"),
        std::env::var_os("PORTCULLIS_NODE"),
    ) else {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
            "PORTCULLIS_PYTHON and PORTCULLIS_NODE are not set but external clients are required"
        );
        eprintln!(
            "skipped: PORTCULLIS_PYTHON or PORTCULLIS_NODE is not set (scripts/test sets them)"
        );
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let h = start(&issuer).await;
    let mut idp = tokio::process::Command::new(&node)
        .arg(root.join("tests/oidc/idp.mjs"))
        .args([
            port.to_string(),
            CLIENT_AT_IDP.to_owned(),
            IDP_CLIENT_SECRET.to_owned(),
            format!("{}/oauth/callback", h.base),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the test provider");
    let stdout = idp.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("the provider starts within 30 s")
        .unwrap();
    assert_eq!(ready.as_deref(), Some(format!("ready {issuer}").as_str()));

    let mut command = std::process::Command::new(&python);
    command.arg(root.join("tests/python/mcp_sign_in.py")).args([
        format!("{}/mcp", h.base).as_str(),
        "idp:grace",
        "any-password",
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
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["left_for"], format!("{issuer}/auth"), "{report}");
    assert_eq!(report["consent_user"], "grace", "{report}");
    assert_eq!(report["call_is_error"], false, "{report}");
    assert_eq!(report["scope"], "orders:read", "{report}");
    assert_eq!(report["refresh_rotated"], true, "{report}");
    let grants = h
        .gateway
        .sign_in()
        .unwrap()
        .store()
        .list(Some("grace"))
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].user_issuer.as_deref(), Some(issuer.as_str()));
    assert_eq!(grants[0].user_groups, vec!["finance", "staff"]);
    idp.kill().await.ok();
}

/// The provider is down: the sign-in page still offers the button, pressing it shows a clear
/// page, and the password form keeps working.
#[tokio::test]
async fn an_unreachable_provider_is_named_and_local_users_still_sign_in() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let h = start(&format!("http://127.0.0.1:{port}")).await;
    let client_id = register(&h).await;
    let challenge = challenge(VERIFIER);
    let url = reqwest::Url::parse_with_params(
        &format!("{}/oauth/authorize", h.base),
        &[
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let page = browser().get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf_cookie = set_cookie(&page, "portcullis_signin").unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with Example SSO"));
    let form = [
        ("request", hidden(&html, "request")),
        ("csrf", hidden(&html, "csrf")),
    ];
    let pressed = browser()
        .post(format!("{}/oauth/authorize/upstream", h.base))
        .header("cookie", &csrf_cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 400);
    assert!(pressed.text().await.unwrap().contains("cannot be reached"));
    let signed_in = browser()
        .post(format!("{}/oauth/authorize/sign-in", h.base))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("request", form[0].1.clone()),
            ("csrf", form[1].1.clone()),
            ("username", "demo-user".to_owned()),
            ("password", portcullis_e2e::USER_PASSWORD.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    assert!(signed_in.text().await.unwrap().contains("Allow access?"));
}
