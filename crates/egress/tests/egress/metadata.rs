//! `MetadataClient::get_json`: identity providers' documents fetched under the egress rules,
//! with a typed error for every way a fetch fails.

use std::sync::Arc;

use portcullis_config::IdentityProviderConfig;
use portcullis_egress::{MetadataClient, MetadataError, StaticResolver};
use serde_json::json;

use crate::support::{self, Upstream};

fn client(issuer: &str, allow_private: &[&str]) -> MetadataClient {
    let mut provider: IdentityProviderConfig = serde_json::from_value(json!({
        "issuer": issuer,
        "algorithms": ["ES256"],
        "allow_insecure_http": true,
    }))
    .unwrap();
    provider.egress = support::api("idp", issuer, allow_private).egress;
    MetadataClient::new(&[provider], Arc::new(StaticResolver::new())).unwrap()
}

#[tokio::test]
async fn a_json_answer_is_returned_and_every_failure_is_typed() {
    let upstream = Upstream::start().await;
    let issuer = upstream.url();
    let metadata = client(&issuer, &["127.0.0.1/32"]);

    let document = metadata
        .get_json(&issuer, &format!("{issuer}/jwks"))
        .await
        .unwrap();
    assert_eq!(document, json!({"ok": true}));
    assert_eq!(
        upstream.last().headers["accept"],
        "application/json",
        "the client asks for JSON"
    );

    let missing = format!("{issuer}/missing");
    let err = metadata.get_json(&issuer, &missing).await.unwrap_err();
    assert!(
        matches!(&err, MetadataError::Status { url, status: 404 } if *url == missing),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("`{missing}` answered HTTP 404"));

    let text = format!("{issuer}/bad-json");
    let err = metadata.get_json(&issuer, &text).await.unwrap_err();
    assert!(
        matches!(&err, MetadataError::NotJson { url } if *url == text),
        "{err:?}"
    );

    let err = metadata
        .get_json("https://other.example", &format!("{issuer}/jwks"))
        .await
        .unwrap_err();
    assert!(matches!(err, MetadataError::UnknownIssuer), "{err:?}");

    let err = metadata
        .get_json(&issuer, "ftp://idp.example/jwks")
        .await
        .unwrap_err();
    assert!(matches!(err, MetadataError::Scheme { .. }), "{err:?}");
    let err = metadata
        .get_json(&issuer, "https://user:pw@idp.example/jwks")
        .await
        .unwrap_err();
    assert!(matches!(err, MetadataError::Scheme { .. }), "{err:?}");

    let err = metadata.get_json(&issuer, "not a url").await.unwrap_err();
    assert!(matches!(err, MetadataError::Url { .. }), "{err:?}");
}

#[tokio::test]
async fn a_private_address_is_refused_unless_allowed() {
    let upstream = Upstream::start().await;
    let issuer = upstream.url();
    let metadata = client(&issuer, &[]);
    let err = metadata
        .get_json(&issuer, &format!("{issuer}/jwks"))
        .await
        .unwrap_err();
    assert!(matches!(err, MetadataError::Send { .. }), "{err:?}");
    assert!(upstream.requests().is_empty(), "nothing was sent");
}
