//! An allowlisted upstream is reached, and the request and answer are mapped faithfully.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_catalog::ParamLocation;
use portcullis_config::{CredentialConfig, HumanDuration, SecretRef};
use portcullis_core::DenialKind;
use portcullis_egress::{Egress, EgressError, StaticResolver};
use serde_json::{Value, json};

use crate::support::{
    Upstream, api, chunked_server, fixed_tool, param, permitted, secrets, tool, with_credential,
    with_merged_body,
};

const LOOPBACK: &[&str] = &["127.0.0.1/32"];

fn egress(apis: &[portcullis_config::ApiConfig]) -> Egress {
    Egress::new(
        apis,
        &secrets(&[("UPSTREAM_KEY", "s3cr3t-value")]),
        Arc::new(StaticResolver::new()),
    )
    .unwrap()
}

async fn call(
    egress: &Egress,
    tool: &portcullis_catalog::Tool,
    arguments: Value,
) -> Result<portcullis_core::UpstreamResponse, portcullis_core::Denial> {
    egress.send(&permitted(tool, arguments)).await
}

#[tokio::test]
async fn request_is_mapped_from_the_arguments() {
    let upstream = Upstream::start().await;
    let egress = egress(&[api("orders", &format!("{}/api/", upstream.url()), LOOPBACK)]);

    let get = tool(
        "orders",
        "get_order",
        "GET",
        "/orders/{id}",
        vec![param("id", ParamLocation::Path)],
    );
    let response = call(&egress, &get, json!({"id": "../admin"}))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, json!({"ok": true}));
    let seen = upstream.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/api/orders/..%2Fadmin");
    assert_eq!(seen.query, None);
    assert_eq!(
        seen.headers["user-agent"],
        concat!("portcullis/", env!("CARGO_PKG_VERSION"))
    );
    assert!(!seen.headers.contains_key("authorization"));

    let refund = with_merged_body(
        tool(
            "orders",
            "refund",
            "POST",
            "/orders/{id}/refund",
            vec![
                param("id", ParamLocation::Path),
                param("notify", ParamLocation::Query),
                param("X-Trace", ParamLocation::Header),
            ],
        ),
        &["amount", "reason"],
    );
    call(
        &egress,
        &refund,
        json!({
            "id": 42,
            "notify": ["email", "sms"],
            "X-Trace": "t-1",
            "amount": 12.5,
            "reason": "damaged box",
        }),
    )
    .await
    .unwrap();
    let seen = upstream.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/api/orders/42/refund");
    assert_eq!(seen.query.as_deref(), Some("notify=email&notify=sms"));
    assert_eq!(seen.headers["x-trace"], "t-1");
    assert_eq!(seen.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body, json!({"amount": 12.5, "reason": "damaged box"}));

    // A header value that would inject a header is refused and nothing is sent.
    let before = upstream.requests().len();
    let denial = call(
        &egress,
        &refund,
        json!({"id": 1, "X-Trace": "a\r\nX-Evil: 1", "amount": 1, "reason": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(denial.kind, DenialKind::InvalidArguments);
    assert_eq!(upstream.requests().len(), before);
}

#[tokio::test]
async fn each_credential_kind_is_injected() {
    let upstream = Upstream::start().await;
    let secret = || SecretRef::Env("UPSTREAM_KEY".to_owned());
    let base = upstream.url();
    let apis = [
        with_credential(
            api("bearer", &base, LOOPBACK),
            CredentialConfig::Bearer { secret: secret() },
        ),
        with_credential(
            api("header", &base, LOOPBACK),
            CredentialConfig::Header {
                name: "X-Api-Key".to_owned(),
                secret: secret(),
            },
        ),
        with_credential(
            api("query", &base, LOOPBACK),
            CredentialConfig::Query {
                name: "api_key".to_owned(),
                secret: secret(),
            },
        ),
        with_credential(
            api("basic", &base, LOOPBACK),
            CredentialConfig::Basic {
                username: "svc".to_owned(),
                secret: secret(),
            },
        ),
    ];
    let egress = egress(&apis);
    let lookup = |api: &str| {
        tool(
            api,
            &format!("{api}_list"),
            "GET",
            "/orders",
            vec![param("status", ParamLocation::Query)],
        )
    };

    call(&egress, &lookup("bearer"), json!({})).await.unwrap();
    assert_eq!(
        upstream.last().headers["authorization"],
        "Bearer s3cr3t-value"
    );

    call(&egress, &lookup("header"), json!({})).await.unwrap();
    let seen = upstream.last();
    assert_eq!(seen.headers["x-api-key"], "s3cr3t-value");
    assert!(!seen.headers.contains_key("authorization"));

    call(&egress, &lookup("query"), json!({"status": "open"}))
        .await
        .unwrap();
    assert_eq!(
        upstream.last().query.as_deref(),
        Some("status=open&api_key=s3cr3t-value")
    );

    call(&egress, &lookup("basic"), json!({})).await.unwrap();
    // base64("svc:s3cr3t-value")
    assert_eq!(
        upstream.last().headers["authorization"],
        "Basic c3ZjOnMzY3IzdC12YWx1ZQ=="
    );
}

#[tokio::test]
async fn a_missing_credential_fails_at_start_up() {
    let apis = [with_credential(
        api("bearer", "https://api.example.com", &[]),
        CredentialConfig::Bearer {
            secret: SecretRef::Env("PORTCULLIS_EGRESS_TEST_UNSET_VARIABLE".to_owned()),
        },
    )];
    let err = Egress::new(&apis, &secrets(&[]), Arc::new(StaticResolver::new())).unwrap_err();
    assert!(matches!(err, EgressError::Credential { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "API `bearer`: secret `env:PORTCULLIS_EGRESS_TEST_UNSET_VARIABLE` is not set"
    );

    // A base URL that is not http(s) cannot be configured (the client's own refusal is a unit
    // test of `Upstream::build`).
    let err = portcullis_config::HttpUrl::parse("ftp://files.example.com/").unwrap_err();
    assert!(
        matches!(err, portcullis_config::UrlError::Scheme(_)),
        "{err:?}"
    );

    let twice = [
        api("dup", "https://a.example.com/", &[]),
        api("dup", "https://b.example.com/", &[]),
    ];
    let err = Egress::new(&twice, &secrets(&[]), Arc::new(StaticResolver::new())).unwrap_err();
    assert!(matches!(err, EgressError::DuplicateApi(_)), "{err:?}");
}

#[tokio::test]
async fn answers_are_returned_whatever_their_status() {
    let upstream = Upstream::start().await;
    let egress = egress(&[api("orders", &upstream.url(), LOOPBACK)]);

    let missing = call(&egress, &fixed_tool("orders", "missing"), json!({}))
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
    assert!(!missing.is_success());
    assert_eq!(missing.body, json!({"title": "no such order"}));
    assert_eq!(
        missing.content_type.as_deref(),
        Some("application/problem+json")
    );

    let text = call(&egress, &fixed_tool("orders", "text"), json!({}))
        .await
        .unwrap();
    assert_eq!(text.body, json!("plain answer"));

    let bad = call(&egress, &fixed_tool("orders", "bad-json"), json!({}))
        .await
        .unwrap();
    assert_eq!(bad.body, json!("{not json"));
}

#[tokio::test]
async fn an_answer_over_the_cap_is_refused() {
    let upstream = Upstream::start().await;
    let chunked = chunked_server(50_000).await;
    let mut capped = api("capped", &upstream.url(), LOOPBACK);
    capped.egress.max_response_bytes = 1024;
    let mut streamed = api("streamed", &format!("http://{chunked}"), LOOPBACK);
    streamed.egress.max_response_bytes = 4096;
    let mut roomy = api("roomy", &upstream.url(), LOOPBACK);
    roomy.egress.max_response_bytes = 10_000;
    let egress = egress(&[capped, streamed, roomy]);

    let denial = call(&egress, &fixed_tool("capped", "big"), json!({}))
        .await
        .unwrap_err();
    assert_eq!(denial.kind, DenialKind::UpstreamFailure);
    assert_eq!(denial.message, "upstream answer exceeds 1024 bytes");

    // No Content-Length: the cap has to hold while streaming.
    let denial = call(&egress, &fixed_tool("streamed", "any"), json!({}))
        .await
        .unwrap_err();
    assert_eq!(denial.kind, DenialKind::UpstreamFailure);
    assert_eq!(denial.message, "upstream answer exceeds 4096 bytes");
    assert!(
        denial.internal[0].contains("streaming"),
        "{:?}",
        denial.internal
    );

    // Exactly at the cap is fine.
    let ok = call(&egress, &fixed_tool("roomy", "big"), json!({}))
        .await
        .unwrap();
    assert_eq!(ok.body.as_str().map(str::len), Some(10_000));
}

#[tokio::test]
async fn a_slow_upstream_times_out_quickly() {
    let upstream = Upstream::start().await;
    let mut slow = api("slow_api", &upstream.url(), LOOPBACK);
    slow.egress.timeout = HumanDuration(Duration::from_millis(300));
    let egress = egress(&[slow]);
    let started = Instant::now();
    let denial = call(&egress, &fixed_tool("slow_api", "slow"), json!({}))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(denial.kind, DenialKind::UpstreamFailure);
    assert_eq!(
        denial.message,
        "upstream `slow_api` did not answer within 300ms"
    );
}

#[tokio::test]
async fn a_refused_port_is_an_upstream_failure() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let secret_api = with_credential(
        api("closed", &format!("http://127.0.0.1:{port}/"), LOOPBACK),
        CredentialConfig::Query {
            name: "api_key".to_owned(),
            secret: SecretRef::Env("UPSTREAM_KEY".to_owned()),
        },
    );
    let egress = egress(&[secret_api]);
    let denial = call(&egress, &fixed_tool("closed", "x"), json!({}))
        .await
        .unwrap_err();
    assert_eq!(denial.kind, DenialKind::UpstreamFailure, "{denial:?}");
    assert_eq!(denial.message, "upstream `closed` refused the connection");
    let everything = format!("{denial:?}");
    assert!(
        !everything.contains("s3cr3t"),
        "credential leaked: {everything}"
    );
}

#[tokio::test]
async fn an_unknown_name_is_an_upstream_failure() {
    let egress = Egress::new(
        &[api("ghost", "http://ghost.test/", &[])],
        &secrets(&[]),
        Arc::new(StaticResolver::new()),
    )
    .unwrap();
    let denial = call(&egress, &fixed_tool("ghost", "x"), json!({}))
        .await
        .unwrap_err();
    assert_eq!(denial.kind, DenialKind::UpstreamFailure);
    assert_eq!(denial.message, "upstream `ghost` could not be resolved");
}
