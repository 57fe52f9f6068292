//! Signing-key rotation end to end: a rotation through the admin API publishes the new key next
//! to the old one, new tokens are signed with it, tokens signed before keep working, and the
//! old key leaves the JWKS (and the disk) once every token it signed has expired.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::time::{Duration, Instant};

use portcullis_config::HumanDuration;
use portcullis_e2e::{ADMIN_TOKEN, Harness};
use serde_json::{Value, json};

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn status(h: &Harness, token: &str) -> u16 {
    h.call(Some(token), "getOrder", &json!({"id": 1}))
        .await
        .status()
        .as_u16()
}

async fn rotate(h: &Harness) -> String {
    let response = h
        .admin_post("/admin/keys/rotate", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["key"]["current"], true);
    body["key"]["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotation_through_the_admin_api_never_breaks_a_valid_token() {
    let h = Harness::start_with_admin().await;
    let old_kid = h.jwks_kids().await.remove(0);
    // Issued before the rotation and presented only after it: not from the token cache.
    let before = h.demo_token().await;
    assert_eq!(kid_of(&before), old_kid);

    let new_kid = rotate(&h).await;
    assert_ne!(new_kid, old_kid);
    assert_eq!(h.jwks_kids().await, [old_kid.clone(), new_kid.clone()]);
    assert_eq!(status(&h, &before).await, 200);
    let after = h.demo_token().await;
    assert_eq!(kid_of(&after), new_kid);
    assert_eq!(status(&h, &after).await, 200);

    let listed: Value = h
        .http
        .get(format!("{}/admin/keys", h.admin_base.as_deref().unwrap()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kid"], old_kid.as_str());
    assert_eq!(keys[0]["current"], false);
    assert!(keys[0]["expires"].is_i64());
    assert_eq!(keys[1]["current"], true);
    let records = portcullis_audit::tail(&h.audit_path(), 10).await.unwrap();
    let admin: Vec<&str> = records
        .iter()
        .filter(|r| r.event.front.as_str() == "admin")
        .map(|r| r.event.reasons[0].as_str())
        .collect();
    assert_eq!(admin.len(), 2, "{admin:?}");
    assert!(admin[0].starts_with("admin: rotate keys `"), "{admin:?}");
    assert_eq!(admin[1], "admin: list keys");

    let refused = h.admin_post("/admin/keys/rotate", None, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        h.jwks_kids().await.len(),
        2,
        "nothing rotated without the credential"
    );
}

#[tokio::test]
async fn a_retired_key_leaves_once_every_token_it_signed_has_expired() {
    // Short lifetimes so the window (max_token_ttl + leeway + 2 s) passes within the test.
    let h = Harness::start_with(|config| {
        config.issuer.token_ttl = HumanDuration(Duration::from_secs(1));
        config.issuer.max_token_ttl = HumanDuration(Duration::from_secs(2));
        config.issuer.leeway = HumanDuration(Duration::ZERO);
        config.admin.token = Some(portcullis_config::SecretRef::Env(
            "PORTCULLIS_ADMIN_TOKEN".to_owned(),
        ));
    })
    .await;
    let old_kid = h.jwks_kids().await.remove(0);
    let new_kid = rotate(&h).await;
    assert_eq!(h.jwks_kids().await.len(), 2);

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let kids = h.jwks_kids().await;
        if kids == [new_kid.clone()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old key is still published: {kids:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let files: Vec<String> = std::fs::read_dir(h.data_dir.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(!files[0].contains(&old_kid));
    let token = h.demo_token().await;
    assert_eq!(status(&h, &token).await, 200);
}
