//! Bearer validation at the fronts: missing, expired, foreign, unsigned and mis-addressed tokens
//! all get the same 401 with a `WWW-Authenticate: Bearer` challenge, on both fronts, and each
//! refusal is recorded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_e2e::Harness;
use serde_json::{Value, json};

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims the gateway would issue for `demo-agent`, adjustable per case.
fn claims(h: &Harness) -> Value {
    let now = now();
    json!({
        "iss": h.base, "sub": "demo-agent", "aud": h.base, "client_id": "demo-agent",
        "iat": now, "nbf": now, "exp": now + 300, "jti": "e2e-token",
        "scope": "orders:read orders:write", "roles": ["support"],
    })
}

async fn gateway_kid(h: &Harness) -> String {
    h.jwks_kids().await.swap_remove(0)
}

/// Signs with the gateway's own key, read from its data directory: the only way to make a
/// token that fails for its claims rather than its signature.
async fn sign_with_gateway_key(h: &Harness, claims: &Value) -> String {
    let kid = gateway_kid(h).await;
    let file = std::fs::read_dir(h.data_dir.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with(&format!("-{kid}.pem")))
        .unwrap();
    let pem = std::fs::read(file).unwrap();
    let key = EncodingKey::from_ec_pem(&pem).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn foreign_key() -> EncodingKey {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    EncodingKey::from_ec_der(pkcs8.as_ref())
}

async fn assert_refused(h: &Harness, token: Option<&str>, case: &str) {
    let before = h.upstream.requests_seen();
    let response = h.call(token, "getOrder", &json!({"id": 1})).await;
    assert_eq!(response.status(), 401, "{case}: HTTP front");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{case}: {challenge}");
    let body = response.text().await.unwrap();
    assert!(
        body.contains("a valid bearer token is required"),
        "{case}: {body}"
    );
    for leak in ["expired", "signature", "audience", "alg", "kid"] {
        assert!(
            !body.to_lowercase().contains(leak),
            "{case}: body says `{leak}`: {body}"
        );
    }

    let mut mcp = h
        .http
        .post(format!("{}/mcp", h.base))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    if let Some(token) = token {
        mcp = mcp.bearer_auth(token);
    }
    let response = mcp.send().await.unwrap();
    assert_eq!(response.status(), 401, "{case}: MCP front");
    assert!(
        response.headers().contains_key("www-authenticate"),
        "{case}"
    );
    assert_eq!(
        h.upstream.requests_seen(),
        before,
        "{case}: upstream reached"
    );
}

#[tokio::test]
async fn hostile_and_invalid_tokens_are_refused_on_both_fronts() {
    let h = Harness::start().await;
    let audit_before = h.audit_records().await;

    assert_refused(&h, None, "no token").await;
    assert_refused(&h, Some("not-a-jwt"), "garbage").await;

    let mut expired = claims(&h);
    expired["iat"] = json!(now() - 4000);
    expired["nbf"] = json!(now() - 4000);
    expired["exp"] = json!(now() - 3000);
    let token = sign_with_gateway_key(&h, &expired).await;
    assert_refused(&h, Some(&token), "expired").await;

    let mut other_audience = claims(&h);
    other_audience["aud"] = json!("https://some-other-api.example");
    let token = sign_with_gateway_key(&h, &other_audience).await;
    assert_refused(&h, Some(&token), "other audience").await;

    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(gateway_kid(&h).await);
    let forged = jsonwebtoken::encode(&header, &claims(&h), &foreign_key()).unwrap();
    assert_refused(&h, Some(&forged), "signed by another key").await;

    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt", "kid": gateway_kid(&h).await})),
        b64(&claims(&h))
    );
    assert_refused(&h, Some(&unsigned), "alg none").await;

    // The control case: the same claims, correctly signed, are accepted.
    let good = sign_with_gateway_key(&h, &claims(&h)).await;
    let response = h.call(Some(&good), "getOrder", &json!({"id": 1})).await;
    assert_eq!(response.status(), 200);

    // Two requests per refused case (HTTP and MCP), six cases, plus the accepted call.
    assert_eq!(h.audit_records().await - audit_before, 6 * 2 + 1);
}

#[tokio::test]
async fn tokens_in_the_query_string_are_refused() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let response = h
        .http
        .post(format!(
            "{}/v1/tools/getOrder/call?access_token={token}",
            h.base
        ))
        .json(&json!({"id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Even with a valid header, a token in the query is refused (it leaks into logs).
    let response = h
        .http
        .post(format!(
            "{}/v1/tools/getOrder/call?access_token={token}",
            h.base
        ))
        .bearer_auth(&token)
        .json(&json!({"id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
