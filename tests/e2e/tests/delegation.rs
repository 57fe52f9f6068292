//! Delegation end to end: a real OpenID Connect issuer on loopback (discovery document, JWKS,
//! RS256 user tokens), the quickstart's `shop-assistant` exchanging a customer's token
//! (RFC 8693) and calling the real example API through the gateway, the one-policy rule "only
//! the orders of the customer it acts for", every RFC 8693 error, the key-fetch rate limit under
//! a flood of made-up key ids, key rotation at the issuer, and the issuer's access tokens
//! accepted directly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_config::{ClaimMapping, IdentityProviderConfig};
use portcullis_e2e::{ASSISTANT_SECRET, DEMO_SECRET, Harness};
use serde_json::{Value, json};

const AUDIENCE: &str = "shop-gateway";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

use portcullis_e2e::idp::TestIssuer as Issuer;

/// What these tests add to the test issuer: customers' tokens and the issuer's configuration.
trait Customers {
    fn customer_token(&self, customer: &str, extra: Value) -> String;
    fn provider(&self) -> IdentityProviderConfig;
}

impl Customers for Issuer {
    /// A customer's token: `sub` is the account id, `customer_number` the shop's customer id.
    fn customer_token(&self, customer: &str, extra: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.url,
            "sub": format!("account-{customer}"),
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
            "customer_number": customer,
            "groups": ["customers", "gold"],
            "tenant": "shop-eu",
            "azp": "shop-assistant",
        });
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                claims[k] = v;
            }
        }
        self.sign(&claims, None)
    }

    fn provider(&self) -> IdentityProviderConfig {
        let mut provider: IdentityProviderConfig = serde_json::from_value(json!({
            "issuer": self.url,
            "algorithms": ["RS256"],
            "audiences": [AUDIENCE],
            "default_scopes": ["orders:read"],
            "allow_insecure_http": true,
            "accept_access_tokens": true,
            "jwks_min_refresh": "1s",
            "egress": { "allow_private": ["127.0.0.1/32"] },
        }))
        .unwrap();
        provider.claims = ClaimMapping {
            user: "customer_number".to_owned(),
            tenant: Some("tenant".to_owned()),
            groups: Some("groups".to_owned()),
            ..ClaimMapping::default()
        };
        provider
    }
}

async fn start(issuer: &Issuer) -> Harness {
    let provider = issuer.provider();
    Harness::start_with(move |config| config.identity_providers = vec![provider]).await
}

/// A token-exchange request by `client` with `params` added.
async fn exchange(h: &Harness, client: (&str, &str), params: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", TOKEN_EXCHANGE)];
    form.extend_from_slice(params);
    let response = h
        .http
        .post(format!("{}/oauth/token", h.base))
        .basic_auth(client.0, Some(client.1))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

const ASSISTANT: (&str, &str) = ("shop-assistant", ASSISTANT_SECRET);

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn an_assistant_acts_for_a_customer_and_sees_only_that_customers_orders() {
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;
    let customer = issuer.customer_token("3", json!({}));

    let (status, body) = exchange(
        &h,
        ASSISTANT,
        &[
            ("subject_token", &customer),
            ("subject_token_type", ACCESS_TOKEN),
            ("resource", &format!("{}/mcp", h.base)),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "orders:read");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["sub"], "3");
    assert_eq!(claims["client_id"], "shop-assistant");
    assert_eq!(claims["act"], json!({"sub": "shop-assistant"}));
    assert_eq!(claims["user_iss"], issuer.url);
    assert_eq!(claims["tenant"], "shop-eu");
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 300);

    // The customer's own orders: allowed, and the upstream answers only theirs.
    let own = h
        .call(Some(&token), "listOrders", &json!({"customer_id": "3"}))
        .await;
    assert_eq!(own.status(), 200);
    let own: Value = own.json().await.unwrap();
    let orders = own["result"]["orders"].as_array().unwrap();
    assert!(!orders.is_empty());
    assert!(orders.iter().all(|o| o["customer_id"] == 3), "{own}");

    // Anyone else's, or everyone's: no permit.
    for args in [json!({"customer_id": "4"}), json!({})] {
        let other = h.call(Some(&token), "listOrders", &args).await;
        assert_eq!(other.status(), 403, "{args}");
        let body: Value = other.json().await.unwrap();
        assert_eq!(body["code"], "forbidden");
    }
    // Nor anything beyond the assistant's own permissions.
    let refund = h.call(Some(&token), "getOrder", &json!({"id": 3})).await;
    assert_eq!(
        refund.status(),
        404,
        "getOrder is not visible to the assistant"
    );

    // The assistant acting as itself has no user: the same call is denied.
    let itself = h.token_for("shop-assistant", ASSISTANT_SECRET).await;
    let alone = h
        .call(Some(&itself), "listOrders", &json!({"customer_id": "3"}))
        .await;
    assert_eq!(alone.status(), 403);

    // The audit record names the customer and the agent apart.
    let records = portcullis_audit::tail(&h.audit_path(), 20).await.unwrap();
    let allowed = records
        .iter()
        .find(|r| {
            r.event.tool.as_deref() == Some("listOrders") && r.event.upstream_status == Some(200)
        })
        .expect("an allowed listOrders record");
    assert_eq!(allowed.event.agent.as_deref(), Some("shop-assistant"));
    assert_eq!(allowed.event.subject.as_deref(), Some("3"));
}

#[tokio::test]
async fn token_exchange_errors_follow_rfc_8693() {
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;
    let customer = issuer.customer_token("3", json!({}));
    let subject = [
        ("subject_token", customer.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut params: Vec<(&str, &str)> = subject.to_vec();
        params.extend_from_slice(extra);
        params
    };

    // An agent not allowed to exchange.
    let (status, body) = exchange(&h, ("demo-agent", DEMO_SECRET), &subject).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    // Missing or unsupported parameters.
    let (status, body) = exchange(&h, ASSISTANT, &[("subject_token", &customer)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (_, body) = exchange(
        &h,
        ASSISTANT,
        &[
            ("subject_token", &customer),
            ("subject_token_type", "urn:example:saml"),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_request");
    let (_, body) = exchange(
        &h,
        ASSISTANT,
        &with(&[("actor_token", "x"), ("actor_token_type", ACCESS_TOKEN)]),
    )
    .await;
    assert_eq!(body["error"], "invalid_request");

    // Scopes beyond what both hold; another audience.
    let (_, body) = exchange(&h, ASSISTANT, &with(&[("scope", "orders:write")])).await;
    assert_eq!(body["error"], "invalid_scope");
    let (_, body) = exchange(
        &h,
        ASSISTANT,
        &with(&[("audience", "https://elsewhere.example")]),
    )
    .await;
    assert_eq!(body["error"], "invalid_target");
    let (_, body) = exchange(
        &h,
        ASSISTANT,
        &with(&[("resource", "https://elsewhere.example/mcp")]),
    )
    .await;
    assert_eq!(body["error"], "invalid_target");

    // Subject tokens that must not be accepted.
    let mut tampered = customer.clone();
    tampered.pop();
    tampered.push(if customer.ends_with('A') { 'B' } else { 'A' });
    let now = chrono::Utc::now().timestamp();
    let cases = [
        ("bad signature", tampered),
        (
            "expired",
            issuer.customer_token("3", json!({"iat": now - 900, "exp": now - 600})),
        ),
        (
            "other audience",
            issuer.customer_token("3", json!({"aud": "another-service"})),
        ),
        (
            "may_act names someone else",
            issuer.customer_token("3", json!({"may_act": {"sub": "other-agent"}})),
        ),
        (
            "no user claim",
            issuer.customer_token("3", json!({"customer_number": null})),
        ),
        (
            "another issuer",
            issuer.customer_token("3", json!({"iss": "https://unknown.example"})),
        ),
    ];
    for (case, token) in &cases {
        let (status, body) = exchange(
            &h,
            ASSISTANT,
            &[
                ("subject_token", token),
                ("subject_token_type", ACCESS_TOKEN),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{case}: {body}"
        );
        assert!(
            !body["error_description"]
                .as_str()
                .unwrap()
                .contains(token.as_str())
        );
    }
    // `may_act` naming this agent is honoured.
    let allowed = issuer.customer_token("3", json!({"may_act": {"sub": "shop-assistant"}}));
    let (status, _) = exchange(
        &h,
        ASSISTANT,
        &[
            ("subject_token", &allowed),
            ("subject_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    assert_eq!(status, 200);

    // An agent's own token stands for no user.
    let own = h.token_for("shop-assistant", ASSISTANT_SECRET).await;
    let (_, body) = exchange(
        &h,
        ASSISTANT,
        &[
            ("subject_token", &own),
            ("subject_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // The metadata advertises the grant.
    let metadata: Value = h
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(TOKEN_EXCHANGE))
    );
}

#[tokio::test]
async fn unknown_key_ids_are_fetched_at_most_once_per_interval_and_rotation_is_followed() {
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;
    let customer = issuer.customer_token("3", json!({}));
    let (status, _) = exchange(
        &h,
        ASSISTANT,
        &[
            ("subject_token", &customer),
            ("subject_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let fetches = issuer.jwks_fetches.load(Ordering::SeqCst);
    assert_eq!(fetches, 1, "the first token fetches the keys once");

    // A flood of made-up key ids, all inside one refresh interval: at most one more fetch.
    let now = chrono::Utc::now().timestamp();
    let mut refused = 0;
    for i in 0..30 {
        let claims = json!({"iss": issuer.url, "sub": "x", "customer_number": "3", "aud": AUDIENCE, "iat": now, "exp": now + 60, "azp": "shop-assistant"});
        let token = issuer.sign(&claims, Some(&format!("made-up-{i}")));
        let response = h
            .call(Some(&token), "listOrders", &json!({"customer_id": "3"}))
            .await;
        if response.status() == 401 {
            refused += 1;
        }
    }
    assert_eq!(refused, 30);
    let after_flood = issuer.jwks_fetches.load(Ordering::SeqCst);
    assert!(
        after_flood <= fetches + 1,
        "{after_flood} fetches after a flood of 30 unknown key ids"
    );

    // The issuer rotates its key; once the interval has passed, a token under the new key
    // triggers one fetch and verifies.
    issuer.rotate("idp-key-2");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotated = issuer.customer_token("3", json!({}));
    let direct = h
        .call(Some(&rotated), "listOrders", &json!({"customer_id": "3"}))
        .await;
    assert_eq!(direct.status(), 200, "{:?}", direct.text().await);
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), after_flood + 1);
}

#[tokio::test]
async fn the_issuers_access_tokens_are_accepted_directly_and_listed_in_the_metadata() {
    let issuer = Issuer::start().await;
    let h = start(&issuer).await;

    // The customer's token, issued to the assistant (`azp`), used as a bearer token.
    let token = issuer.customer_token("5", json!({}));
    let own = h
        .call(Some(&token), "listOrders", &json!({"customer_id": "5"}))
        .await;
    assert_eq!(own.status(), 200);
    let other = h
        .call(Some(&token), "listOrders", &json!({"customer_id": "6"}))
        .await;
    assert_eq!(other.status(), 403);

    // Issued to a client that is no configured agent: refused.
    let stranger = issuer.customer_token("5", json!({"azp": "some-other-app"}));
    let refused = h
        .call(Some(&stranger), "listOrders", &json!({"customer_id": "5"}))
        .await;
    assert_eq!(refused.status(), 401);

    // An HMAC token naming the issuer, keyed with anything: never accepted.
    let now = chrono::Utc::now().timestamp();
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": issuer.url, "aud": AUDIENCE, "customer_number": "5", "azp": "shop-assistant", "exp": now + 60}),
        &jsonwebtoken::EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let refused = h
        .call(Some(&hmac), "listOrders", &json!({"customer_id": "5"}))
        .await;
    assert_eq!(refused.status(), 401);

    let metadata: Value = h
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            h.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let servers = metadata["authorization_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2, "{metadata}");
    assert_eq!(servers[1], json!(issuer.url));
}
