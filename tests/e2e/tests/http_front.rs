//! The HTTP tools API and the OAuth endpoints, end to end: real gateway, real upstream, real
//! HTTP client on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use portcullis_e2e::{DEMO_SECRET, Harness, READONLY_SECRET, UPSTREAM_TOKEN};
use serde_json::{Value, json};

#[tokio::test]
async fn token_endpoint_accepts_basic_and_form_authentication() {
    let h = Harness::start().await;
    let basic = h.token_response("demo-agent", DEMO_SECRET).await;
    assert_eq!(basic.status(), 200);
    assert_eq!(basic.headers()["cache-control"], "no-store");
    let body: Value = basic.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);

    let form = h
        .http
        .post(format!("{}/oauth/token", h.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-agent"),
            ("client_secret", DEMO_SECRET),
            ("scope", "orders:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let body: Value = form.json().await.unwrap();
    assert_eq!(body["scope"], "orders:read");

    // A scope the agent does not hold, alone or beside one it holds: `invalid_scope` naming it
    // (RFC 6749 section 5.2), no token.
    for requested in ["orders:admin", "orders:read orders:admin"] {
        let refused = h
            .http
            .post(format!("{}/oauth/token", h.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "demo-agent"),
                ("client_secret", DEMO_SECRET),
                ("scope", requested),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{requested}");
        assert_eq!(
            refused.headers()["cache-control"].to_str().unwrap(),
            "no-store"
        );
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope", "{requested}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("`orders:admin`"),
            "{body}"
        );
        assert!(body.get("access_token").is_none(), "{body}");
    }

    let wrong = h.token_response("demo-agent", "not-the-secret").await;
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let unknown = h.token_response("nobody", "x").await;
    assert_eq!(unknown.status(), 401);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let json_body = h
        .http
        .post(format!("{}/oauth/token", h.base))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let body: Value = json_body.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn metadata_and_jwks_are_published() {
    let h = Harness::start().await;
    let meta: Value = h
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], h.base);
    assert_eq!(meta["token_endpoint"], format!("{}/oauth/token", h.base));
    assert_eq!(
        meta["jwks_uri"],
        format!("{}/.well-known/jwks.json", h.base)
    );
    let jwks: Value = h
        .http
        .get(meta["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "ES256");
    assert!(
        key.get("d").is_none(),
        "the private key must never be published"
    );
}

#[tokio::test]
async fn listing_shows_only_permitted_tools_in_both_formats() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let openai: Value = h
        .http
        .get(format!("{}/v1/tools?format=openai", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = openai["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "listOrders",
            "getOrder",
            "refundOrder",
            "searchOrders",
            "attachReceipt"
        ]
    );
    let get_order = &openai["tools"][1];
    assert_eq!(get_order["type"], "function");
    assert_eq!(
        get_order["function"]["parameters"]["properties"]["id"]["type"],
        "integer"
    );

    let anthropic: Value = h
        .http
        .get(format!("{}/v1/tools?format=anthropic", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anthropic["tools"][1]["name"], "getOrder");
    assert!(anthropic["tools"][1]["input_schema"]["properties"]["id"].is_object());

    // The OpenAI Responses API's flat function tools, strict mode off (the schemas have
    // optional arguments; the gateway validates them).
    let responses: Value = h
        .http
        .get(format!("{}/v1/tools?format=openai-responses", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let get_order = &responses["tools"][1];
    assert_eq!(get_order["type"], "function");
    assert_eq!(get_order["name"], "getOrder");
    assert_eq!(get_order["strict"], false);
    assert_eq!(
        get_order["parameters"]["properties"]["id"]["type"],
        "integer"
    );
    assert!(get_order.get("function").is_none(), "{get_order}");

    let readonly = h.token_for("readonly-agent", READONLY_SECRET).await;
    let listed: Value = h
        .http
        .get(format!("{}/v1/tools", h.base))
        .bearer_auth(&readonly)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["listOrders", "getOrder"]);

    let bad = h
        .http
        .get(format!("{}/v1/tools?format=yaml", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn get_order_reaches_the_upstream_with_the_injected_credential() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let response = h.call(Some(&token), "getOrder", &json!({"id": 42})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["status"], 200);
    assert_eq!(body["result"]["id"], 42);

    let seen = h.upstream.last_request().expect("upstream saw the call");
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/orders/42");
    let auth = seen
        .headers
        .get("authorization")
        .expect("credential injected");
    assert_eq!(auth, &format!("Bearer {UPSTREAM_TOKEN}"));
    assert!(
        !format!("{:?}", seen.headers).contains(&token),
        "the agent's token must never be forwarded"
    );
    assert!(!body.to_string().contains(UPSTREAM_TOKEN));
}

#[tokio::test]
async fn wrong_argument_types_are_refused_before_the_upstream() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let before = h.upstream.requests_seen();
    let response = h
        .call(Some(&token), "getOrder", &json!({"id": "forty-two"}))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_arguments");
    assert_eq!(body["violations"][0]["path"], "/id");
    assert_eq!(body["violations"][0]["rule"], "type");

    let missing = h.call(Some(&token), "getOrder", &json!({})).await;
    assert_eq!(missing.status(), 422);
    let extra = h
        .call(Some(&token), "getOrder", &json!({"id": 1, "sql": "x"}))
        .await;
    assert_eq!(extra.status(), 422);
    let not_json = h
        .http
        .post(format!("{}/v1/tools/getOrder/call", h.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 422);
    let body: Value = not_json.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("not valid JSON"));
    assert_eq!(
        h.upstream.requests_seen(),
        before,
        "the upstream must receive nothing"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_with_or_without_a_token() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    for bearer in [None, Some(token.as_str())] {
        let mut request = h.http.get(format!("{}/v2/tools", h.base));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "not_found");
    }
    // A path that exists still needs a token.
    let listed = h
        .http
        .get(format!("{}/v1/tools", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 401);
}

#[tokio::test]
async fn an_integer_written_as_a_float_reaches_the_upstream_as_an_integer() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let response = h.call(Some(&token), "getOrder", &json!({"id": 42.0})).await;
    assert_eq!(response.status(), 200);
    let seen = h.upstream.last_request().expect("upstream saw the call");
    assert_eq!(seen.path, "/orders/42");
    // A fraction is no integer: refused by the schema before the upstream.
    let before = h.upstream.requests_seen();
    let response = h.call(Some(&token), "getOrder", &json!({"id": 42.5})).await;
    assert_eq!(response.status(), 422);
    assert_eq!(h.upstream.requests_seen(), before);
    // The record holds the digest of what was sent: the same as for `42`.
    let records = portcullis_audit::tail(&h.audit_path(), 10).await.unwrap();
    let digests: Vec<_> = records
        .iter()
        .filter(|r| r.event.decision.as_str() == "allow")
        .map(|r| r.event.args_digest.clone())
        .collect();
    let plain = h.call(Some(&token), "getOrder", &json!({"id": 42})).await;
    assert_eq!(plain.status(), 200);
    let last = portcullis_audit::tail(&h.audit_path(), 1).await.unwrap();
    assert_eq!(digests.last(), Some(&last[0].event.args_digest));
}

#[tokio::test]
async fn oversized_bodies_are_refused_alike_on_every_front() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let tools = h
        .call(
            Some(&token),
            "refundOrder",
            &json!({"id": 1, "amount_cents": 1, "reason": huge}),
        )
        .await;
    let mcp = h
        .http
        .post(format!("{}/mcp", h.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    let oauth = h
        .http
        .post(format!("{}/oauth/token", h.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&pad={huge}"))
        .send()
        .await
        .unwrap();
    // One status and one body shape, whatever the front: a 413 problem.
    for response in [tools, mcp, oauth] {
        assert_eq!(response.status(), 413);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "too_large");
        assert_eq!(body["status"], 413);
        assert_eq!(body["title"], "Payload Too Large");
        assert_eq!(
            body["detail"], "the request body exceeds 1048576 bytes",
            "{body}"
        );
        assert!(body["request_id"].as_str().is_some_and(|id| id.len() == 36));
    }
}

#[tokio::test]
async fn hidden_and_forbidden_tools_are_refused_without_leaking_policy() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let before = h.upstream.requests_seen();

    let hidden = h
        .call(Some(&token), "deleteCustomer", &json!({"id": 3}))
        .await;
    assert_eq!(hidden.status(), 404);
    let hidden: Value = hidden.json().await.unwrap();
    let missing = h.call(Some(&token), "noSuchTool", &json!({"id": 3})).await;
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(hidden["code"], "unknown_tool");
    assert_eq!(
        hidden["detail"]
            .as_str()
            .unwrap()
            .replace("deleteCustomer", "X"),
        missing["detail"]
            .as_str()
            .unwrap()
            .replace("noSuchTool", "X"),
        "a hidden tool must look exactly like a missing one"
    );

    let too_big = h
        .call(
            Some(&token),
            "refundOrder",
            &json!({"id": 7, "amount_cents": 500_000, "reason": "customer asked"}),
        )
        .await;
    assert_eq!(too_big.status(), 403);
    let body: Value = too_big.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");
    let text = body.to_string();
    assert!(!text.contains("permit(") && !text.contains("@id"), "{text}");
    assert_eq!(h.upstream.requests_seen(), before);

    let small = h
        .call(
            Some(&token),
            "refundOrder",
            &json!({"id": 7, "amount_cents": 500, "reason": "damaged"}),
        )
        .await;
    assert_eq!(small.status(), 200);
    let body: Value = small.json().await.unwrap();
    assert_eq!(body["result"]["status"], "refunded");
}

#[tokio::test]
async fn upstream_answers_and_failures_are_reported() {
    let h = Harness::start().await;
    let token = h.demo_token().await;
    let not_found = h.call(Some(&token), "getOrder", &json!({"id": 999})).await;
    assert_eq!(not_found.status(), 200);
    let body: Value = not_found.json().await.unwrap();
    assert_eq!(body["ok"], false);
    assert_eq!(body["status"], 404);

    // An upstream that refuses connections: a clear tool error, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = Harness::start_with(|config| {
        config.apis[0].base_url =
            portcullis_config::HttpUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    })
    .await;
    let token = down.demo_token().await;
    let started = std::time::Instant::now();
    let response = down.call(Some(&token), "getOrder", &json!({"id": 1})).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_failure");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
