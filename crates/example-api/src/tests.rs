use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use super::*;
use crate::data::{ORDER_COUNT, luhn_check_digit, test_card_number};

const TOKEN: &str = "upstream-test-token-0123456789";

fn api() -> ExampleApi {
    ExampleApi::new(TOKEN.to_owned())
}

fn request(method: Method, uri: &str, auth: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        builder = builder.header(header::AUTHORIZATION, auth);
    }
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// Sends one request through a fresh router of `api`; returns status, headers and JSON body
/// (`Value::Null` for an empty body).
async fn send(api: &ExampleApi, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = api.router().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, body)
}

async fn get(api: &ExampleApi, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(api, request(Method::GET, uri, Some(&bearer()), None)).await;
    (status, body)
}

async fn refund(api: &ExampleApi, id: &str, body: Value) -> (StatusCode, Value) {
    let uri = format!("/orders/{id}/refund");
    let (status, _, body) = send(
        api,
        request(Method::POST, &uri, Some(&bearer()), Some(body)),
    )
    .await;
    (status, body)
}

/// An independent Luhn check over the whole number.
fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> = number.chars().map(|c| c.to_digit(10).unwrap()).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[test]
fn luhn_helper_matches_known_test_numbers() {
    assert_eq!(luhn_check_digit("411111111111111"), 1);
    assert_eq!(luhn_check_digit("555555555555444"), 4);
    assert!(luhn_valid("4111111111111111"));
    assert!(!luhn_valid("4111111111111112"));
}

#[tokio::test]
async fn health_needs_no_token() {
    let api = api();
    let (status, _, body) = send(&api, request(Method::GET, "/health", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "ok": true }));
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_json() {
    let api = api();
    let cases = [
        None,
        Some("Bearer wrong-token".to_owned()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Basic {TOKEN}")),
        Some(format!("Bearer  {TOKEN}")),
        Some(TOKEN.to_owned()),
        Some("Bearer ".to_owned()),
    ];
    for auth in cases {
        for uri in ["/orders", "/orders/1", "/no-such-route"] {
            let (status, headers, body) =
                send(&api, request(Method::GET, uri, auth.as_deref(), None)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?} {uri}");
            assert_eq!(body, json!({ "error": "missing or invalid bearer token" }));
            assert!(
                headers[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
        }
    }
}

#[tokio::test]
async fn scheme_is_case_insensitive() {
    let api = api();
    let auth = format!("bearer {TOKEN}");
    let (status, _, _) = send(&api, request(Method::GET, "/orders", Some(&auth), None)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let api = api();
    let request = Request::builder()
        .uri("/orders")
        .header(header::AUTHORIZATION, bearer())
        .header(header::AUTHORIZATION, bearer())
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send(&api, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let joined = format!("{}, {}", bearer(), bearer());
    assert_eq!(
        api.last_request().unwrap().header("Authorization"),
        Some(joined.as_str())
    );
}

#[tokio::test]
async fn empty_configured_token_accepts_nothing() {
    let api = ExampleApi::new(String::new());
    let (status, _, _) = send(&api, request(Method::GET, "/orders", Some("Bearer "), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_route_and_method_are_json_errors() {
    let api = api();
    let (status, body) = get(&api, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({ "error": "not found" }));
    let (status, _, body) = send(
        &api,
        request(Method::PUT, "/orders/1", Some(&bearer()), None),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body, json!({ "error": "method not allowed" }));
}

#[tokio::test]
async fn every_request_is_counted_and_recorded() {
    let api = api();
    assert_eq!(api.requests_seen(), 0);
    assert_eq!(api.last_request(), None);

    send(
        &api,
        request(Method::GET, "/orders", Some("Bearer agent-jwt"), None),
    )
    .await;
    assert_eq!(api.requests_seen(), 1);
    let seen = api.last_request().unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/orders");
    assert_eq!(seen.header("authorization"), Some("Bearer agent-jwt"));

    let refund_request = Request::builder()
        .method(Method::POST)
        .uri("/orders/7/refund?trace=1")
        .header("X-Request-Id", "abc")
        .header(header::AUTHORIZATION, bearer())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"amount_cents":5,"reason":"late"}"#))
        .unwrap();
    let (status, _, _) = send(&api, refund_request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.requests_seen(), 2);
    let seen = api.last_request().unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/orders/7/refund?trace=1");
    assert_eq!(
        seen.headers.get("x-request-id").map(String::as_str),
        Some("abc")
    );
    assert_eq!(seen.header("X-REQUEST-ID"), Some("abc"));
    assert_eq!(
        seen.body_json(),
        Some(json!({ "amount_cents": 5, "reason": "late" }))
    );

    send(&api, request(Method::GET, "/health", None, None)).await;
    assert_eq!(api.requests_seen(), 3);
    assert_eq!(api.last_request().unwrap().path, "/health");

    // Clones share the counters.
    assert_eq!(api.clone().requests_seen(), 3);
}

#[tokio::test]
async fn oversized_body_is_413_when_authorized() {
    let api = api();
    let big = vec![b'a'; MAX_BODY_BYTES + 1];
    let request = Request::builder()
        .method(Method::POST)
        .uri("/orders/1/refund")
        .header(header::AUTHORIZATION, bearer())
        .body(Body::from(big))
        .unwrap();
    let (status, _, _) = send(&api, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(api.requests_seen(), 1);
    assert!(api.last_request().unwrap().body.is_empty());
}

#[tokio::test]
async fn list_defaults_to_twenty_summaries_without_sensitive_fields() {
    let api = api();
    let (status, body) = get(&api, "/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 100);
    let orders = body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 20);
    for (i, order) in orders.iter().enumerate() {
        assert_eq!(order["id"], i + 1);
        let keys: Vec<&str> = order
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "status",
                "item",
                "quantity",
                "total_cents",
                "created_at",
                "customer_id"
            ]
        );
    }
    let text = body.to_string();
    assert!(!text.contains("4111"), "card number leaked into the list");
    assert!(!text.contains('@'), "email leaked into the list");
}

#[tokio::test]
async fn list_paginates_and_filters() {
    let api = api();
    let (_, body) = get(&api, "/orders?limit=100&offset=90").await;
    let ids: Vec<u64> = body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (91..=100).collect::<Vec<_>>());
    assert_eq!(body["total"], 100);

    let (_, body) = get(&api, "/orders?offset=1000000").await;
    assert_eq!(body["orders"], json!([]));

    let mut sum = 0;
    for status in ["placed", "shipped", "delivered", "refunded"] {
        let (code, body) = get(&api, &format!("/orders?status={status}&limit=100")).await;
        assert_eq!(code, StatusCode::OK);
        let orders = body["orders"].as_array().unwrap();
        assert!(!orders.is_empty(), "no {status} orders");
        assert_eq!(body["total"].as_u64().unwrap(), orders.len() as u64);
        assert!(orders.iter().all(|o| o["status"] == status));
        sum += orders.len();
    }
    assert_eq!(sum, 100);
}

#[tokio::test]
async fn list_rejects_out_of_range_parameters() {
    let api = api();
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "offset=-1",
        "offset=1000001",
        "status=lost",
        "status=PLACED",
    ] {
        let (status, body) = get(&api, &format!("/orders?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body["error"].is_string(), "{query}");
    }
}

#[tokio::test]
async fn get_order_returns_full_record_with_pii() {
    let api = api();
    let (status, order) = get(&api, "/orders/42").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["id"], 42);
    assert_eq!(order["customer"]["id"], 2);
    let customer = &order["customer"];
    let email = customer["email"].as_str().unwrap();
    assert!(email.ends_with("@example.com"), "{email}");
    let phone = customer["phone"].as_str().unwrap();
    assert!(phone.starts_with('+') && phone.len() <= 16, "{phone}");
    assert!(phone[1..].chars().all(|c| c.is_ascii_digit()), "{phone}");
    let card = customer["card_number"].as_str().unwrap();
    assert_eq!(card.len(), 16);
    assert!(card.starts_with("411111"));
    assert!(luhn_valid(card), "{card}");
    assert_eq!(order["refunded_cents"], 0);
    assert!(
        ["placed", "shipped", "delivered", "refunded"].contains(&order["status"].as_str().unwrap())
    );
    let quantity = order["quantity"].as_u64().unwrap();
    assert!((1..=4).contains(&quantity));
    assert!(order["total_cents"].as_u64().unwrap() >= quantity);
    let created = order["created_at"].as_str().unwrap();
    assert!(
        created.starts_with("2025-") && created.ends_with('Z'),
        "{created}"
    );
}

#[tokio::test]
async fn get_order_outside_range_is_404_and_non_integer_is_400() {
    let api = api();
    for id in ["0", "101", "1000000", "18446744073709551615"] {
        let (status, body) = get(&api, &format!("/orders/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(body, json!({ "error": "order not found" }));
    }
    for id in ["abc", "-1", "1.5", "18446744073709551616"] {
        let (status, _) = get(&api, &format!("/orders/{id}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}");
    }
}

#[tokio::test]
async fn data_is_deterministic_and_customers_are_distinct() {
    let (a, b) = (api(), api());
    let mut cards = std::collections::HashSet::new();
    let mut emails = std::collections::HashSet::new();
    for id in 1..=ORDER_COUNT {
        let uri = format!("/orders/{id}");
        let (_, first) = get(&a, &uri).await;
        let (_, second) = get(&b, &uri).await;
        assert_eq!(first, second, "order {id} differs between instances");
        let customer_id = first["customer"]["id"].as_u64().unwrap();
        assert!((1..=20).contains(&customer_id));
        let card = first["customer"]["card_number"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(luhn_valid(&card), "{card}");
        cards.insert((customer_id, card));
        emails.insert(first["customer"]["email"].as_str().unwrap().to_owned());
    }
    // Every customer appears, each with one card, and no two share a card or an e-mail.
    assert_eq!(cards.len(), 20);
    let distinct: std::collections::HashSet<_> = cards.iter().map(|(_, c)| c).collect();
    assert_eq!(distinct.len(), 20);
    assert_eq!(emails.len(), 20);
    assert_eq!(test_card_number(1), test_card_number(1));
    assert_ne!(test_card_number(1), test_card_number(2));
}

#[tokio::test]
async fn refund_within_balance_succeeds_and_updates_order() {
    let api = api();
    let (_, order) = get(&api, "/orders/42").await;
    let total = order["total_cents"].as_u64().unwrap();

    let (status, body) = refund(
        &api,
        "42",
        json!({ "amount_cents": 100, "reason": "damaged" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "order_id": 42, "refund_id": "rf_000001", "amount_cents": 100, "status": "refunded" })
    );
    let (_, order) = get(&api, "/orders/42").await;
    assert_eq!(order["status"], "refunded");
    assert_eq!(order["refunded_cents"], 100);

    // The balance is what is left, not the total.
    let (status, body) = refund(
        &api,
        "42",
        json!({ "amount_cents": total, "reason": "again" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&(total - 100).to_string())
    );
    let (status, body) = refund(
        &api,
        "42",
        json!({ "amount_cents": total - 100, "reason": "rest" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["refund_id"], "rf_000002");
}

#[tokio::test]
async fn refund_exceeding_total_is_400() {
    let api = api();
    let (_, order) = get(&api, "/orders/3").await;
    let total = order["total_cents"].as_u64().unwrap();
    let (status, _) = refund(
        &api,
        "3",
        json!({ "amount_cents": total + 1, "reason": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, order) = get(&api, "/orders/3").await;
    assert_eq!(order["refunded_cents"], 0);
}

#[tokio::test]
async fn refund_rejects_bad_bodies_and_unknown_orders() {
    let api = api();
    let long_reason = "r".repeat(501);
    let bad = [
        json!({ "amount_cents": 0, "reason": "x" }),
        json!({ "amount_cents": -5, "reason": "x" }),
        json!({ "amount_cents": 1.5, "reason": "x" }),
        json!({ "amount_cents": "10", "reason": "x" }),
        json!({ "amount_cents": 10 }),
        json!({ "reason": "x" }),
        json!({ "amount_cents": 10, "reason": "x", "extra": true }),
        json!({ "amount_cents": 10, "reason": long_reason }),
        json!([10, "x"]),
    ];
    for body in bad {
        let (status, response) = refund(&api, "1", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(response["error"].is_string(), "{body}");
    }
    let (status, _) = refund(
        &api,
        "1",
        json!({ "amount_cents": 1, "reason": "r".repeat(500) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = refund(&api, "101", json!({ "amount_cents": 1, "reason": "x" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({ "error": "order not found" }));

    let request = Request::builder()
        .method(Method::POST)
        .uri("/orders/1/refund")
        .header(header::AUTHORIZATION, bearer())
        .body(Body::from(r#"{"amount_cents":1,"reason":"x"}"#))
        .unwrap();
    let (status, _, _) = send(&api, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn delete_customer_marks_it_deleted_once() {
    let api = api();
    assert!(!api.customer_deleted(2));
    let (status, _, body) = send(
        &api,
        request(Method::DELETE, "/customers/2", Some(&bearer()), None),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert!(api.customer_deleted(2));
    assert!(!api.customer_deleted(3));

    let (_, order) = get(&api, "/orders/42").await;
    assert_eq!(order["customer"], json!({ "id": 2, "deleted": true }));

    for uri in ["/customers/2", "/customers/0", "/customers/21"] {
        let (status, _, body) =
            send(&api, request(Method::DELETE, uri, Some(&bearer()), None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body, json!({ "error": "customer not found" }));
    }
}

#[tokio::test]
async fn delete_without_token_changes_nothing() {
    let api = api();
    let (status, _, _) = send(&api, request(Method::DELETE, "/customers/1", None, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!api.customer_deleted(1));
}

#[test]
fn debug_does_not_print_the_token() {
    let text = format!("{:?}", api());
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn serves_on_a_real_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let api = api();
    let server = tokio::spawn(api.clone().serve(listener));

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET /orders/42 HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let order: Value = serde_json::from_str(body).unwrap();
    assert_eq!(order["id"], 42);
    assert_eq!(api.requests_seen(), 1);
    assert_eq!(
        api.last_request().unwrap().header("host"),
        Some(address.to_string().as_str())
    );
    server.abort();
}
