//! A small OpenID Connect provider on loopback for the tests that trust an external issuer:
//! a discovery document, a JWKS with its current RSA key, RS256 token minting, and a token
//! endpoint whose answer the test sets (to hand the gateway a good or a hostile ID token) and
//! whose requests it can inspect.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// The issuer's signing keys by `kid`; the first signs.
type KeyRing = Arc<Mutex<Vec<(String, Arc<KeyPair>)>>>;

/// One request the token endpoint received: its `Authorization` header and form fields.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The form fields, in order.
    pub form: Vec<(String, String)>,
}

impl TokenRequest {
    /// The value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The provider. Cloning shares it.
#[derive(Clone)]
pub struct TestIssuer {
    /// `http://127.0.0.1:<port>`: the issuer identifier.
    pub url: String,
    keys: KeyRing,
    /// How many times the JWKS was fetched.
    pub jwks_fetches: Arc<AtomicUsize>,
    /// What the token endpoint answers: status and JSON body.
    pub token_answer: Arc<Mutex<(u16, Value)>>,
    /// What the token endpoint received.
    pub token_requests: Arc<Mutex<Vec<TokenRequest>>>,
}

impl TestIssuer {
    /// Starts the provider on an ephemeral loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let issuer = Self {
            url: format!("http://{addr}"),
            keys: Arc::new(Mutex::new(vec![(
                "idp-key-1".to_owned(),
                Arc::new(KeyPair::generate(KeySize::Rsa2048).expect("RSA key")),
            )])),
            jwks_fetches: Arc::new(AtomicUsize::new(0)),
            token_answer: Arc::new(Mutex::new((
                400,
                json!({"error": "invalid_grant", "error_description": "no answer set"}),
            ))),
            token_requests: Arc::new(Mutex::new(Vec::new())),
        };
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(issuer): State<Self>| async move {
                    Json(json!({
                        "issuer": issuer.url,
                        "jwks_uri": format!("{}/keys", issuer.url),
                        "authorization_endpoint": format!("{}/authorize", issuer.url),
                        "token_endpoint": format!("{}/token", issuer.url),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }))
                }),
            )
            .route("/keys", get(jwks))
            .route("/token", post(token))
            .with_state(issuer.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        issuer
    }

    /// Replaces the signing key with a new one (the old one leaves the JWKS).
    pub fn rotate(&self, kid: &str) {
        *self.keys.lock() = vec![(
            kid.to_owned(),
            Arc::new(KeyPair::generate(KeySize::Rsa2048).expect("RSA key")),
        )];
    }

    /// A signed RS256 JWT with these claims, under the current key (or another `kid`).
    pub fn sign(&self, claims: &Value, kid: Option<&str>) -> String {
        let (current_kid, key) = self.keys.lock()[0].clone();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid.unwrap_or(&current_kid)});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .expect("RSA signature");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Sets what the token endpoint answers next.
    pub fn answer_token(&self, status: u16, body: Value) {
        *self.token_answer.lock() = (status, body);
    }
}

async fn jwks(State(issuer): State<TestIssuer>) -> Json<Value> {
    issuer.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<Value> = issuer
        .keys
        .lock()
        .iter()
        .map(|(kid, key)| {
            let public = key.public_key();
            json!({
                "kty": "RSA",
                "kid": kid,
                "use": "sig",
                "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            })
        })
        // A key for encryption, which must be ignored.
        .chain(std::iter::once(
            json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}),
        ))
        .collect();
    Json(json!({ "keys": keys }))
}

async fn token(
    State(issuer): State<TestIssuer>,
    headers: HeaderMap,
    body: String,
) -> (axum::http::StatusCode, Json<Value>) {
    issuer.token_requests.lock().push(TokenRequest {
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        form: url::form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    });
    let (status, body) = issuer.token_answer.lock().clone();
    (
        axum::http::StatusCode::from_u16(status).expect("status"),
        Json(body),
    )
}
