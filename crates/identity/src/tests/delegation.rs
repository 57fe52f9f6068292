//! Token exchange with a delegation chain, against another Portcullis issuer acting as the
//! trusted external identity provider (its JWKS served from memory by a test fetcher).

use std::sync::atomic::AtomicUsize;

use super::*;

/// Serves one issuer's discovery document and JWKS, counting the JWKS fetches.
struct Fixed {
    discovery: Value,
    jwks: Value,
    fetches: AtomicUsize,
    /// When set, every fetch fails, as when the issuer is down.
    down: std::sync::atomic::AtomicBool,
}

impl MetadataFetcher for Fixed {
    fn fetch<'a>(
        &'a self,
        _issuer: &'a str,
        url: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, FetchError>> + Send + 'a>>
    {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(FetchError::Request("issuer unreachable".to_owned()));
            }
            if url.ends_with("/.well-known/openid-configuration") {
                Ok(self.discovery.clone())
            } else {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                Ok(self.jwks.clone())
            }
        })
    }
}

fn gateway(data_dir: &Path, idp: &Identity) -> Identity {
    let yaml = format!(
        r#"
policies: policies
listener:
  public_url: "https://gateway.test/"
agents:
  - id: assistant
    client_secret_hash: "{hash}"
    roles: [assistant]
    scopes: ["orders:read", "orders:write"]
    token_exchange: true
  - id: auditor-bot
    client_secret_hash: "{hash}"
    scopes: ["orders:read"]
    token_exchange: true
  - id: plain
    client_secret_hash: "{hash}"
    scopes: ["orders:read"]
identity_providers:
  - issuer: "{issuer}"
    audiences: ["{audience}"]
    algorithms: [ES256]
    jwks_ttl: 1s
    jwks_min_refresh: 1s
"#,
        hash = cheap_hash(SECRET),
        issuer = idp.issuer(),
        audience = idp.audience(),
    );
    let mut config = Config::parse(&yaml, Path::new("test.yaml")).unwrap();
    config.data_dir = data_dir.to_owned();
    Identity::open(&config, &store(), no_revocations()).unwrap()
}

fn exchange_form(subject: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("grant_type", exchange::GRANT_TYPE),
        ("subject_token", subject),
        ("subject_token_type", exchange::ACCESS_TOKEN_TYPE),
    ];
    pairs.extend_from_slice(extra);
    form(&pairs)
}

#[tokio::test]
async fn a_delegated_token_can_be_exchanged_again_and_nests_the_chain() {
    let idp = fixture("ES256");
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&dir.path().join("gw"), &idp.identity);
    let fetcher = Arc::new(Fixed {
        discovery: json!({ "issuer": idp.identity.issuer(), "jwks_uri": "https://gw.example/jwks" }),
        jwks: idp.identity.jwks(),
        fetches: AtomicUsize::new(0),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    gw.set_metadata_fetcher(fetcher.clone());

    // The user's token: the idp's `reporter` (scopes orders:read orders:write reports).
    let user = idp.identity.mint("reporter", None).unwrap().access_token;
    assert!(
        matches!(gw.verify(&user), Err(VerifyError::Issuer)),
        "not a bearer token here"
    );
    assert!(gw.warm_keys(&user).await);
    assert_eq!(fetcher.fetches.load(Ordering::SeqCst), 1);

    let first = gw
        .token_endpoint(
            &exchange_form(&user, &[("scope", "orders:read")]),
            Some(&basic("assistant", SECRET)),
        )
        .unwrap();
    assert_eq!(first.scope, "orders:read");
    assert_eq!(first.issued_token_type, Some(exchange::ACCESS_TOKEN_TYPE));
    let principal = gw.verify(&first.access_token).unwrap();
    assert_eq!(principal.agent, "assistant");
    assert_eq!(principal.subject, "reporter");
    assert_eq!(principal.roles, ["assistant"]);
    let acting = principal.user.clone().unwrap();
    assert_eq!(acting.id, "reporter");
    assert_eq!(acting.issuer, idp.identity.issuer());
    assert!(principal.actors.is_empty());

    // A second agent takes the delegated token further: the chain nests.
    let second = gw
        .token_endpoint(
            &exchange_form(&first.access_token, &[]),
            Some(&basic("auditor-bot", SECRET)),
        )
        .unwrap();
    let principal = gw.verify(&second.access_token).unwrap();
    assert_eq!(principal.agent, "auditor-bot");
    assert_eq!(principal.subject, "reporter");
    assert_eq!(principal.actors, ["assistant"]);
    assert_eq!(
        principal.scopes,
        ["orders:read"],
        "never wider than the subject token"
    );
    let payload = second.access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(
        claims["act"],
        json!({"sub": "auditor-bot", "act": {"sub": "assistant"}})
    );

    // Asking for more than the subject token holds is invalid_scope.
    let wider = gw
        .token_endpoint(
            &exchange_form(&first.access_token, &[("scope", "orders:write")]),
            Some(&basic("assistant", SECRET)),
        )
        .unwrap_err();
    assert_eq!(wider.error, "invalid_scope");

    // An agent without `token_exchange` may not.
    let refused = gw
        .token_endpoint(&exchange_form(&user, &[]), Some(&basic("plain", SECRET)))
        .unwrap_err();
    assert_eq!(refused.error, "unauthorized_client");

    // A token naming an unknown key within the refresh interval fetches nothing more.
    let forged = sign_raw(
        &idp.identity,
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": "unknown"}),
        &good_claims(&idp.identity),
    );
    assert!(!gw.warm_keys(&forged).await);
    assert_eq!(fetcher.fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn a_discovery_document_naming_another_issuer_is_refused() {
    let idp = fixture("ES256");
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&dir.path().join("gw"), &idp.identity);
    let fetcher = Arc::new(Fixed {
        discovery: json!({ "issuer": "https://evil.example/", "jwks_uri": "https://evil.example/jwks" }),
        jwks: idp.identity.jwks(),
        fetches: AtomicUsize::new(0),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    gw.set_metadata_fetcher(fetcher.clone());
    let user = idp.identity.mint("reporter", None).unwrap().access_token;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(!runtime.block_on(gw.warm_keys(&user)));
    assert_eq!(fetcher.fetches.load(Ordering::SeqCst), 0);
    let refused = gw
        .token_endpoint(
            &exchange_form(&user, &[]),
            Some(&basic("assistant", SECRET)),
        )
        .unwrap_err();
    assert_eq!(refused.error, "invalid_grant");
}

#[tokio::test]
async fn expired_keys_stay_in_force_while_the_issuer_is_unreachable() {
    let idp = fixture("ES256");
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&dir.path().join("gw"), &idp.identity);
    let fetcher = Arc::new(Fixed {
        discovery: json!({ "issuer": idp.identity.issuer(), "jwks_uri": "https://gw.example/jwks" }),
        jwks: idp.identity.jwks(),
        fetches: AtomicUsize::new(0),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    gw.set_metadata_fetcher(fetcher.clone());
    let user = idp.identity.mint("reporter", None).unwrap().access_token;
    assert!(gw.warm_keys(&user).await);
    let exchange = || {
        gw.token_endpoint(
            &exchange_form(&user, &[]),
            Some(&basic("assistant", SECRET)),
        )
    };
    assert!(exchange().is_ok());

    // The keys outlive `jwks_ttl` while the issuer is down: the fetch fails, the keys held
    // keep verifying.
    fetcher.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(!gw.warm_keys(&user).await, "the fetch fails");
    assert!(
        exchange().is_ok(),
        "expired keys stay in force after a failed fetch"
    );

    // Back up: the next fetch after the interval replaces them.
    fetcher.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let before = fetcher.fetches.load(Ordering::SeqCst);
    gw.external.refresh(idp.identity.issuer()).await;
    assert_eq!(fetcher.fetches.load(Ordering::SeqCst), before + 1);
    assert!(exchange().is_ok());
}
