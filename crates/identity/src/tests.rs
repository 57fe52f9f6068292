use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use argon2::{Algorithm as ArgonAlgorithm, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_secrets::OverlayEnv;
use serde_json::{Value, json};

use super::*;

mod hardening;
mod wycheproof;

const SECRET: &str = "s3cret+with:odd/chars";
const ENV_SECRET: &str = "from-the-environment";

/// A token request body, its Authorization header and the expected error code.
type RequestCase = (Vec<(String, String)>, Option<String>, &'static str);

fn cheap_hash(secret: &str) -> String {
    let params = Params::new(8, 1, 1, None).unwrap();
    Argon2::new(ArgonAlgorithm::Argon2id, Version::V0x13, params)
        .hash_password(secret.as_bytes())
        .unwrap()
        .to_string()
}

fn config(data_dir: &Path, algorithm: &str) -> Config {
    let yaml = format!(
        r#"
policies: policies
listener:
  public_url: "https://gw.example/"
issuer:
  algorithm: {algorithm}
  leeway: 30s
  token_ttl: 10m
  max_token_ttl: 1h
agents:
  - id: reporter
    client_secret_hash: "{hash}"
    roles: [reader, auditor]
    scopes: ["orders:read", "orders:write", "reports"]
  - id: env-agent
    client_secret: env:PC_IDENTITY_TEST_SECRET
    roles: [writer]
    scopes: ["a"]
"#,
        hash = cheap_hash(SECRET)
    );
    let mut config = Config::parse(&yaml, Path::new("test.yaml")).unwrap();
    config.data_dir = data_dir.to_owned();
    config
}

fn store() -> SecretStore {
    let mut env = OverlayEnv::new();
    env.set("PC_IDENTITY_TEST_SECRET", ENV_SECRET);
    SecretStore::new(Arc::new(env))
}

struct Fixture {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    identity: Identity,
}

fn fixture(algorithm: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("state");
    let identity = Identity::open(&config(&data_dir, algorithm), &store()).unwrap();
    Fixture {
        _dir: dir,
        data_dir,
        identity,
    }
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn basic(id: &str, secret: &str) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

fn post_form() -> Vec<(String, String)> {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "reporter"),
        ("client_secret", SECRET),
    ])
}

/// Signs arbitrary header and claims with the identity's own key, so that a rejection can only
/// come from the header or claim checks.
fn sign_raw(identity: &Identity, header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &identity.key.encoding,
        identity.key.algorithm,
    )
    .unwrap();
    format!("{message}.{signature}")
}

fn good_header(identity: &Identity) -> Value {
    json!({ "alg": token::alg_str(identity.key.algorithm), "typ": "at+jwt", "kid": identity.key.kid })
}

fn good_claims(identity: &Identity) -> Value {
    let now = identity.now();
    json!({
        "iss": identity.issuer(), "sub": "reporter", "aud": identity.audience(),
        "exp": now + 600, "iat": now, "nbf": now, "jti": "b4f7c8a0-1",
        "client_id": "reporter", "scope": "orders:read", "roles": ["reader"],
    })
}

#[test]
fn token_via_form_verifies_into_a_principal() {
    let f = fixture("ES256");
    let response = f.identity.token_endpoint(&post_form(), None).unwrap();
    assert_eq!(response.token_type, "Bearer");
    assert_eq!(response.expires_in, 600);
    assert_eq!(response.scope, "orders:read orders:write reports");

    let principal = f.identity.verify(&response.access_token).unwrap();
    assert_eq!(principal.agent, "reporter");
    assert_eq!(principal.subject, "reporter");
    assert_eq!(principal.roles, ["reader", "auditor"]);
    assert_eq!(principal.scopes, ["orders:read", "orders:write", "reports"]);
    assert_eq!(principal.expires_at - principal.issued_at, 600);
    assert!(uuid::Uuid::parse_str(&principal.token_id).is_ok_and(|u| u.get_version_num() == 4));

    let header = jsonwebtoken::decode_header(&response.access_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), Some(f.identity.key.kid.as_str()));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&response.access_token)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], "https://gw.example");
    assert_eq!(claims["aud"], "https://gw.example");
    assert_eq!(claims["client_id"], "reporter");
    assert_eq!(claims["nbf"], claims["iat"]);

    let body = serde_json::to_value(&response).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(!format!("{response:?}").contains(&response.access_token));
}

#[test]
fn token_via_basic_with_encoded_credentials_verifies() {
    let f = fixture("ES256");
    let header = basic("reporter", SECRET);
    let response = f
        .identity
        .token_endpoint(
            &form(&[("grant_type", "client_credentials"), ("scope", "reports")]),
            Some(&header),
        )
        .unwrap();
    assert_eq!(response.scope, "reports");
    assert_eq!(
        f.identity.verify(&response.access_token).unwrap().scopes,
        ["reports"]
    );

    // A matching client_id in the body alongside Basic is allowed.
    let with_id = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "reporter"),
    ]);
    assert!(f.identity.token_endpoint(&with_id, Some(&header)).is_ok());
}

#[test]
fn secret_reference_agent_authenticates() {
    let f = fixture("ES256");
    let ok = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "env-agent"),
        ("client_secret", ENV_SECRET),
    ]);
    let principal = f
        .identity
        .verify(&f.identity.token_endpoint(&ok, None).unwrap().access_token)
        .unwrap();
    assert_eq!(principal.roles, ["writer"]);
    let wrong = basic("env-agent", "from-the-environmenT");
    let err = f
        .identity
        .token_endpoint(&form(&[("grant_type", "client_credentials")]), Some(&wrong))
        .unwrap_err();
    assert_eq!(err.error, "invalid_client");
}

#[test]
fn missing_secret_reference_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let err = Identity::open(
        &config(dir.path(), "ES256"),
        &SecretStore::new(Arc::new(OverlayEnv::new())),
    )
    .unwrap_err();
    assert!(
        matches!(err, IdentityError::Secret { ref agent, .. } if agent == "env-agent"),
        "{err}"
    );
}

#[test]
fn wrong_secret_and_unknown_client_get_the_same_answer() {
    let f = fixture("ES256");
    let wrong = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "reporter"),
        ("client_secret", "guess"),
    ]);
    let unknown = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "nobody"),
        ("client_secret", "guess"),
    ]);
    let a = f.identity.token_endpoint(&wrong, None).unwrap_err();
    let b = f.identity.token_endpoint(&unknown, None).unwrap_err();
    assert_eq!(a, b);
    assert_eq!(
        (a.error, a.status, a.challenge),
        ("invalid_client", 401, true)
    );
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        json!({"error": "invalid_client", "error_description": "client authentication failed"})
    );

    let c = f
        .identity
        .token_endpoint(
            &form(&[("grant_type", "client_credentials")]),
            Some(&basic("reporter", "guess")),
        )
        .unwrap_err();
    let d = f
        .identity
        .token_endpoint(
            &form(&[("grant_type", "client_credentials")]),
            Some(&basic("nobody", "guess")),
        )
        .unwrap_err();
    assert_eq!(c, d);
    assert_eq!(c, a);
    assert!(!a.to_string().contains("guess") && !a.to_string().contains("nobody"));
}

#[test]
fn malformed_requests_get_rfc6749_codes() {
    let f = fixture("ES256");
    let id = f.identity.token_endpoint(&[], None).unwrap_err();
    assert_eq!((id.error, id.status), ("invalid_request", 400));

    let cases: Vec<RequestCase> = vec![
        // Basic and client_secret in the body at once.
        (
            post_form(),
            Some(basic("reporter", SECRET)),
            "invalid_request",
        ),
        // client_id in the body that differs from Basic.
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "env-agent"),
            ]),
            Some(basic("reporter", SECRET)),
            "invalid_request",
        ),
        // No grant_type.
        (
            form(&[("client_id", "reporter"), ("client_secret", SECRET)]),
            None,
            "invalid_request",
        ),
        // Empty grant_type counts as absent.
        (
            form(&[
                ("grant_type", ""),
                ("client_id", "reporter"),
                ("client_secret", SECRET),
            ]),
            None,
            "invalid_request",
        ),
        // Repeated parameter.
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
                ("client_id", "reporter"),
                ("client_secret", SECRET),
            ]),
            None,
            "invalid_request",
        ),
        // Secret without id.
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_secret", SECRET),
            ]),
            None,
            "invalid_request",
        ),
        // Unsupported grant type.
        (
            form(&[
                ("grant_type", "password"),
                ("client_id", "reporter"),
                ("client_secret", SECRET),
            ]),
            None,
            "unsupported_grant_type",
        ),
        // No client authentication at all.
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "reporter"),
            ]),
            None,
            "invalid_client",
        ),
        // Another authentication scheme.
        (
            form(&[("grant_type", "client_credentials")]),
            Some("Bearer abc".to_owned()),
            "invalid_client",
        ),
        // A resource (RFC 8707) that is not this gateway.
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "reporter"),
                ("client_secret", SECRET),
                ("resource", "https://other.example/mcp"),
            ]),
            None,
            "invalid_target",
        ),
        // Close to this gateway's identifier is not this gateway.
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "reporter"),
                ("client_secret", SECRET),
                ("resource", "https://gw.example/mcp/"),
            ]),
            None,
            "invalid_target",
        ),
        // Malformed scope token.
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "reporter"),
                ("client_secret", SECRET),
                ("scope", "orders:read \"x\""),
            ]),
            None,
            "invalid_scope",
        ),
    ];
    for (n, (body, header, expected)) in cases.into_iter().enumerate() {
        let err = f
            .identity
            .token_endpoint(&body, header.as_deref())
            .unwrap_err();
        assert_eq!(err.error, expected, "case {n}: {err}");
        assert_eq!(
            err.status,
            if expected == "invalid_client" {
                401
            } else {
                400
            },
            "case {n}"
        );
        assert_eq!(err.challenge, expected == "invalid_client", "case {n}");
        assert!(!err.to_string().contains(SECRET), "case {n}");
    }
}

#[test]
fn scopes_the_agent_does_not_hold_are_left_out() {
    let f = fixture("ES256");
    let mut body = post_form();
    body.push(("scope".into(), "orders:read admin".into()));
    let response = f.identity.token_endpoint(&body, None).unwrap();
    assert_eq!(response.scope, "orders:read");
    let mut body = post_form();
    body.push(("scope".into(), "admin".into()));
    let response = f.identity.token_endpoint(&body, None).unwrap();
    assert_eq!(response.scope, "");
    assert!(
        f.identity
            .verify(&response.access_token)
            .unwrap()
            .scopes
            .is_empty()
    );
    // The JSON answer says what was granted even when it is nothing (RFC 6749 section 5.1).
    assert_eq!(serde_json::to_value(&response).unwrap()["scope"], "");
}

#[test]
fn resource_naming_this_gateway_is_accepted() {
    let f = fixture("ES256");
    for resource in ["https://gw.example/mcp", "https://gw.example"] {
        let mut body = post_form();
        body.push(("resource".into(), resource.into()));
        let response = f.identity.token_endpoint(&body, None).unwrap();
        // The audience stays the configured one, which `verify` requires.
        f.identity.verify(&response.access_token).unwrap();
    }
}

#[test]
fn requested_scopes_are_a_deduplicated_subset() {
    let f = fixture("ES256");
    let mut body = post_form();
    body.push(("scope".into(), "reports  orders:read reports".into()));
    let response = f.identity.token_endpoint(&body, None).unwrap();
    assert_eq!(response.scope, "reports orders:read");
    assert_eq!(
        f.identity.verify(&response.access_token).unwrap().scopes,
        ["reports", "orders:read"]
    );
}

#[test]
fn key_persists_across_opens_with_private_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested").join("state");
    let first = Identity::open(&config(&data_dir, "ES256"), &store()).unwrap();
    let token = first
        .token_endpoint(&post_form(), None)
        .unwrap()
        .access_token;
    let key_file = data_dir.join(SIGNING_KEY_FILE);
    let pem = std::fs::read_to_string(&key_file).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));

    let second = Identity::open(&config(&data_dir, "ES256"), &store()).unwrap();
    assert_eq!(first.key.kid, second.key.kid);
    assert_eq!(second.verify(&token).unwrap().agent, "reporter");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), pem);
    let leftovers = std::fs::read_dir(&data_dir).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary files are left behind");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key_file), 0o600);
        assert_eq!(mode(&data_dir), 0o700);
    }
}

#[test]
fn corrupt_key_file_is_an_error_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join(SIGNING_KEY_FILE);
    for content in [
        "",
        "garbage",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ] {
        std::fs::write(&key_file, content).unwrap();
        let err = Identity::open(&config(dir.path(), "ES256"), &store()).unwrap_err();
        assert!(matches!(err, IdentityError::KeyCorrupt { .. }), "{err}");
        assert!(err.to_string().contains("signing-key.pem"), "{err}");
        assert_eq!(std::fs::read_to_string(&key_file).unwrap(), content);
    }
}

#[test]
fn key_algorithm_must_match_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    Identity::open(&config(dir.path(), "EdDSA"), &store()).unwrap();
    let err = Identity::open(&config(dir.path(), "ES256"), &store()).unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::AlgorithmMismatch {
                found: "EdDSA",
                configured: "ES256",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("issuer.algorithm"), "{err}");
}

#[test]
fn bad_secret_hash_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), "ES256");
    cfg.agents[0].client_secret_hash = Some("$argon2id$v=19$m=8,t=1,p=1$bad".to_owned());
    let err = Identity::open(&cfg, &store()).unwrap_err();
    assert!(
        matches!(err, IdentityError::SecretHash { ref agent, .. } if agent == "reporter"),
        "{err}"
    );
}

#[test]
fn garbage_is_rejected_without_echo() {
    let f = fixture("ES256");
    let long = "a".repeat(20_000);
    let cases = [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "!!!.!!!.!!!",
        "eyJhbGciOiJFUzI1NiJ9.e30.",
        "e30.e30.e30",
        "bnVsbA.e30.AAAA",
        "W10.e30.AAAA",
        long.as_str(),
    ];
    for token in cases {
        let err = f.identity.verify(token).unwrap_err();
        if token.len() > 3 {
            assert!(!err.to_string().contains(token), "{err}");
        }
    }
    let real = f
        .identity
        .token_endpoint(&post_form(), None)
        .unwrap()
        .access_token;
    let truncated = &real[..real.len() - 4];
    let err = f.identity.verify(truncated).unwrap_err();
    assert!(!err.to_string().contains(truncated), "{err}");
}

#[test]
fn cache_serves_repeat_calls_and_honours_expiry() {
    let f = fixture("ES256");
    let id = &f.identity;
    let token = id.mint("reporter", Some(Duration::from_secs(5))).unwrap();
    assert_eq!(token.expires_in, 5);
    let first = id.verify(&token.access_token).unwrap();
    let digest = TokenCache::digest(&token.access_token);
    assert_eq!(id.cache.get(&digest, id.now()), Some(first.clone()));
    assert_eq!(id.verify(&token.access_token).unwrap(), first);
    assert_eq!(id.cache.len(), 1);

    // Past exp but within the leeway: the cache no longer answers, full verification still
    // accepts, and the token is not cached again.
    id.clock_skew.store(6, Ordering::Relaxed);
    assert_eq!(id.verify(&token.access_token).unwrap(), first);
    assert_eq!(id.cache.len(), 0);

    // Beyond the leeway: rejected.
    id.verify(&token.access_token).unwrap();
    id.clock_skew.store(5 + 30, Ordering::Relaxed);
    assert_eq!(
        id.verify(&token.access_token).unwrap_err(),
        VerifyError::Expired
    );

    // Failures are not cached.
    id.clock_skew.store(0, Ordering::Relaxed);
    assert!(id.verify("a.b.c").is_err());
    assert_eq!(id.cache.len(), 0);
}

#[test]
fn expired_token_in_cache_is_rejected() {
    let f = fixture("ES256");
    let id = &f.identity;
    let token = id
        .mint("reporter", Some(Duration::from_secs(2)))
        .unwrap()
        .access_token;
    id.verify(&token).unwrap();
    assert_eq!(id.cache.len(), 1);
    id.clock_skew.store(60, Ordering::Relaxed);
    assert_eq!(id.verify(&token).unwrap_err(), VerifyError::Expired);
}

#[test]
fn mint_caps_ttl_and_requires_a_known_agent() {
    let f = fixture("ES256");
    let long = f
        .identity
        .mint("reporter", Some(Duration::from_secs(10 * 3600)))
        .unwrap();
    assert_eq!(long.expires_in, 3600);
    let p = f.identity.verify(&long.access_token).unwrap();
    assert_eq!(p.expires_at - p.issued_at, 3600);
    assert_eq!(f.identity.mint("reporter", None).unwrap().expires_in, 600);
    assert_eq!(
        f.identity
            .mint("reporter", Some(Duration::from_millis(10)))
            .unwrap_err()
            .error,
        "invalid_request"
    );
    assert_eq!(
        f.identity.mint("ghost", None).unwrap_err().error,
        "invalid_client"
    );
}

#[test]
fn eddsa_configuration_issues_and_verifies() {
    let f = fixture("EdDSA");
    let response = f.identity.token_endpoint(&post_form(), None).unwrap();
    let header = jsonwebtoken::decode_header(&response.access_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(
        f.identity.verify(&response.access_token).unwrap().agent,
        "reporter"
    );
    let jwks = f.identity.jwks();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert!(jwks["keys"][0].get("y").is_none());
    let pem = std::fs::read_to_string(f.data_dir.join(SIGNING_KEY_FILE)).unwrap();
    assert!(pem.contains("PRIVATE KEY"));
}

#[test]
fn jwks_publishes_the_verifying_key_under_its_thumbprint() {
    let f = fixture("ES256");
    let jwks = f.identity.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    for (k, v) in [
        ("kty", "EC"),
        ("crv", "P-256"),
        ("alg", "ES256"),
        ("use", "sig"),
    ] {
        assert_eq!(jwk[k], v, "{k}");
    }
    assert!(jwk.get("d").is_none(), "no private part");
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    assert_eq!(jwk["kid"], URL_SAFE_NO_PAD.encode(digest.as_ref()));

    // A relying party using only the JWKS can verify our tokens.
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&parsed).unwrap();
    let token = f.identity.mint("reporter", None).unwrap().access_token;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[f.identity.audience()]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
}

#[test]
fn metadata_describes_the_token_endpoint() {
    let f = fixture("ES256");
    let m = f.identity.metadata(
        "https://gw.example/oauth/token",
        "https://gw.example/.well-known/jwks.json",
    );
    assert_eq!(m["issuer"], "https://gw.example");
    assert_eq!(m["token_endpoint"], "https://gw.example/oauth/token");
    assert_eq!(m["jwks_uri"], "https://gw.example/.well-known/jwks.json");
    assert_eq!(m["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
}

#[test]
fn hash_secret_makes_a_default_argon2id_hash() {
    let phc = hash_secret("correct horse").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    let credential = Credential::from_phc("a", &phc).unwrap();
    assert!(credential.verify(b"correct horse"));
    assert!(!credential.verify(b"correct horsE"));
    assert!(hash_secret("").is_err());
}

#[test]
fn identity_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Identity>();
}

#[test]
fn unknown_client_costs_about_as_much_as_a_wrong_secret() {
    // A hash costly enough to time; unknown ids must pay a comparable argon2 run.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), "ES256");
    let params = Params::new(4096, 2, 1, None).unwrap();
    cfg.agents[0].client_secret_hash = Some(
        Argon2::new(ArgonAlgorithm::Argon2id, Version::V0x13, params)
            .hash_password(SECRET.as_bytes())
            .unwrap()
            .to_string(),
    );
    let id = Identity::open(&cfg, &store()).unwrap();
    let attempt = |client: &str| {
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", "guess"),
        ]);
        let start = std::time::Instant::now();
        assert_eq!(
            id.token_endpoint(&body, None).unwrap_err().error,
            "invalid_client"
        );
        start.elapsed()
    };
    let fastest = |client: &str| (0..3).map(|_| attempt(client)).min().unwrap();
    let known = fastest("reporter");
    let unknown = fastest("nobody");
    assert!(
        unknown.as_secs_f64() > known.as_secs_f64() * 0.3,
        "unknown {unknown:?} vs known {known:?}"
    );
}
