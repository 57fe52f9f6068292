//! Redirects: off by default, and each followed hop is checked like the first.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_config::{ApiConfig, CredentialConfig, SecretRef};
use portcullis_core::DenialKind;
use portcullis_egress::{Egress, StaticResolver};
use serde_json::{Value, json};

use crate::support::{
    CountingListener, Upstream, api, permitted, redirect_tool, secrets, with_credential,
    with_merged_body,
};

fn bearer(api: ApiConfig) -> ApiConfig {
    with_credential(
        api,
        CredentialConfig::Bearer {
            secret: SecretRef::Env("UPSTREAM_KEY".to_owned()),
        },
    )
}

fn following(name: &str, base: &str, max_redirects: u8) -> ApiConfig {
    let mut config = bearer(api(name, base, &["127.0.0.1/32"]));
    config.egress.max_redirects = max_redirects;
    config
}

fn egress(apis: &[ApiConfig], resolver: StaticResolver) -> Egress {
    Egress::new(
        apis,
        &secrets(&[("UPSTREAM_KEY", "s3cr3t-value")]),
        Arc::new(resolver),
    )
    .unwrap()
}

async fn redirect(
    egress: &Egress,
    api: &str,
    method: &str,
    to: &str,
    status: u16,
) -> Result<portcullis_core::UpstreamResponse, portcullis_core::Denial> {
    let tool = redirect_tool(api, method);
    egress
        .send(&permitted(
            &tool,
            json!({"to": to, "status": status.to_string()}),
        ))
        .await
}

#[tokio::test]
async fn redirects_to_internal_addresses_are_refused_without_connecting() {
    let upstream = Upstream::start().await;
    let internal = CountingListener::bind("127.0.0.2:0").await;
    let resolver =
        StaticResolver::new().with_host("intranet.test", ["10.0.0.1".parse::<IpAddr>().unwrap()]);
    let egress = egress(&[following("orders", &upstream.url(), 3)], resolver);

    let targets = [
        format!("http://127.0.0.2:{}/", internal.addr.port()),
        format!("http://2130706434:{}/", internal.addr.port()),
        format!("http://[::ffff:127.0.0.2]:{}/", internal.addr.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://intranet.test:{}/", internal.addr.port()),
    ];
    for target in &targets {
        for status in [301, 302, 303, 307, 308] {
            let denial = redirect(&egress, "orders", "GET", target, status)
                .await
                .unwrap_err();
            assert_eq!(
                denial.kind,
                DenialKind::EgressBlocked,
                "{target} {status}: {denial:?}"
            );
            assert!(
                denial.internal[0].contains("redirect hop 1"),
                "{:?}",
                denial.internal
            );
        }
    }
    assert_eq!(
        internal.accepted(),
        0,
        "a redirect reached the internal listener"
    );
    // The first hop was made each time.
    assert_eq!(upstream.requests().len(), targets.len() * 5);

    // Schemes other than http(s) and user information are refused too.
    for target in [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://user:pw@127.0.0.1/",
    ] {
        let denial = redirect(&egress, "orders", "GET", target, 302)
            .await
            .unwrap_err();
        assert_eq!(denial.kind, DenialKind::EgressBlocked, "{target}");
    }
}

#[tokio::test]
async fn redirects_are_answers_by_default() {
    let upstream = Upstream::start().await;
    let internal = CountingListener::bind("127.0.0.2:0").await;
    let egress = egress(
        &[following("orders", &upstream.url(), 0)],
        StaticResolver::new(),
    );
    let to = format!("http://127.0.0.2:{}/", internal.addr.port());
    let response = redirect(&egress, "orders", "GET", &to, 302).await.unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(upstream.requests().len(), 1);
    assert_eq!(internal.accepted(), 0);
}

#[tokio::test]
async fn followed_hops_get_the_credential_only_on_the_same_origin() {
    let upstream = Upstream::start().await;
    let other = Upstream::start().await;
    let egress = egress(
        &[following("orders", &upstream.url(), 3)],
        StaticResolver::new(),
    );

    // Same origin: followed, and the credential goes along.
    let response = redirect(&egress, "orders", "GET", "/landing?page=2", 302)
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let hops = upstream.requests();
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[1].path, "/landing");
    assert_eq!(hops[1].query.as_deref(), Some("page=2"));
    assert_eq!(hops[1].headers["authorization"], "Bearer s3cr3t-value");

    // Another origin (allowlisted, other port): followed without the credential.
    let to = format!("{}/elsewhere", other.url());
    let response = redirect(&egress, "orders", "GET", &to, 307).await.unwrap();
    assert_eq!(response.status, 200);
    let seen = other.last();
    assert_eq!(seen.path, "/elsewhere");
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(
        upstream.last().headers["authorization"],
        "Bearer s3cr3t-value"
    );
}

#[tokio::test]
async fn redirect_methods_follow_browser_rules() {
    let upstream = Upstream::start().await;
    let egress = egress(
        &[following("orders", &upstream.url(), 2)],
        StaticResolver::new(),
    );
    let post = with_merged_body(redirect_tool("orders", "POST"), &["note"]);
    let send = |status: u16| {
        let post = post.clone();
        let egress = &egress;
        async move {
            egress
                .send(&permitted(
                    &post,
                    json!({"to": "/next", "status": status.to_string(), "note": "n"}),
                ))
                .await
                .unwrap()
        }
    };

    send(303).await;
    let next = upstream.last();
    assert_eq!(next.method, "GET");
    assert!(next.body.is_empty());
    assert!(!next.headers.contains_key("content-type"));

    send(307).await;
    let next = upstream.last();
    assert_eq!(next.method, "POST");
    let body: Value = serde_json::from_slice(&next.body).unwrap();
    assert_eq!(body, json!({"note": "n"}));
}

#[tokio::test]
async fn redirect_chains_stop_at_the_limit() {
    let upstream = Upstream::start().await;
    let egress = egress(
        &[following("orders", &upstream.url(), 2)],
        StaticResolver::new(),
    );
    // Each hop redirects to itself: two are followed, the third 3xx is the answer.
    let looping = "/redirect?to=%2Fredirect%3Fto%3D%252Fredirect";
    let response = redirect(&egress, "orders", "GET", looping, 302)
        .await
        .unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(upstream.requests().len(), 3);
}
