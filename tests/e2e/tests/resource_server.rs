//! Portcullis as an OAuth protected resource (RFC 9728, RFC 6750, RFC 8707), end to end: the
//! metadata documents, the 401 and 403 challenges on both fronts, the `resource` parameter of
//! the token endpoint, and the discovery an MCP client walks from the bare `/mcp` URL to a
//! working token.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step must stop the test"
)]

use std::collections::BTreeMap;

use portcullis_e2e::{DEMO_SECRET, Harness, READONLY_SECRET};
use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";

/// Parses a `WWW-Authenticate: Bearer k="v", ...` challenge the way a client does: the scheme,
/// then comma-separated parameters whose quoted values may hold `\`-escapes.
fn parse_challenge(header: &str) -> BTreeMap<String, String> {
    let rest = header
        .strip_prefix("Bearer")
        .unwrap_or_else(|| panic!("not a Bearer challenge: {header}"));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == ',') {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if name.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('='), "{header}");
        assert_eq!(chars.next(), Some('"'), "{header}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => value.push(chars.next().unwrap()),
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated value in {header}"),
            }
        }
        params.insert(name.trim().to_owned(), value);
    }
    params
}

fn challenge(response: &reqwest::Response) -> BTreeMap<String, String> {
    let header = response
        .headers()
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap();
    parse_challenge(header)
}

async fn get_json(h: &Harness, url: &str) -> Value {
    let response = h.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

/// A token from the form-encoded endpoint; returns the whole answer.
async fn token_request(
    h: &Harness,
    url: &str,
    client: (&str, &str),
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let response = h
        .http
        .post(url)
        .basic_auth(client.0, Some(client.1))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn initialize_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "discovery-test", "version": "1"}
        }
    })
}

fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "discovery-test", "version": "1"}
    })
}

/// A stateless (2026-07-28) JSON-RPC request to `/mcp`.
fn stateless_request(
    h: &Harness,
    token: Option<&str>,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> reqwest::RequestBuilder {
    let mut params = params;
    params["_meta"] = stateless_meta();
    let mut request = h
        .http
        .post(format!("{}/mcp", h.base))
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}));
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
}

#[tokio::test]
async fn protected_resource_metadata_names_the_resource_and_its_authorization_server() {
    // Interactive sign-in off: the metadata advertises only the grants in force (with it on,
    // `sign_in.rs` checks the authorization endpoint and the rest).
    let h = Harness::start_with(|config| config.sign_in = None).await;
    let mcp = get_json(
        &h,
        &format!("{}/.well-known/oauth-protected-resource/mcp", h.base),
    )
    .await;
    assert_eq!(mcp["resource"], format!("{}/mcp", h.base));
    assert_eq!(mcp["authorization_servers"], json!([h.base]));
    assert_eq!(mcp["bearer_methods_supported"], json!(["header"]));
    assert_eq!(
        mcp["scopes_supported"],
        json!(["orders:read", "orders:write"])
    );
    assert!(mcp["resource_name"].as_str().is_some_and(|n| !n.is_empty()));

    let root = get_json(
        &h,
        &format!("{}/.well-known/oauth-protected-resource", h.base),
    )
    .await;
    assert_eq!(root["resource"], h.base);
    assert_eq!(root["authorization_servers"], mcp["authorization_servers"]);
    assert_eq!(root["scopes_supported"], mcp["scopes_supported"]);

    let server = get_json(
        &h,
        &format!("{}/.well-known/oauth-authorization-server", h.base),
    )
    .await;
    assert_eq!(server["issuer"], h.base);
    assert_eq!(server["token_endpoint"], format!("{}/oauth/token", h.base));
    assert_eq!(
        server["grant_types_supported"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        server["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(server["scopes_supported"], mcp["scopes_supported"]);
    assert!(
        server.get("authorization_endpoint").is_none(),
        "no such endpoint exists"
    );
}

#[tokio::test]
async fn every_401_points_to_the_resource_metadata_and_says_nothing_else() {
    let h = Harness::start().await;
    let audit_before = h.audit_records().await;

    // The MCP endpoint, with no token and with a bad one.
    for token in [None, Some("not-a-jwt")] {
        let mut request = h
            .http
            .post(format!("{}/mcp", h.base))
            .header("accept", ACCEPT)
            .json(&initialize_body());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let params = challenge(&response);
        assert_eq!(
            params["resource_metadata"],
            format!("{}/.well-known/oauth-protected-resource/mcp", h.base)
        );
        assert_eq!(
            params.get("error").map(String::as_str),
            token.map(|_| "invalid_token")
        );
        assert!(!params.contains_key("scope"), "{params:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"], "a valid bearer token is required");
    }

    // The tools API, for a tool that needs a scope: the anonymous caller learns nothing about it.
    let response = h
        .call(
            None,
            "refundOrder",
            &json!({"id": 1, "amount_cents": 1, "reason": "x"}),
        )
        .await;
    assert_eq!(response.status(), 401);
    let params = challenge(&response);
    assert_eq!(
        params["resource_metadata"],
        format!("{}/.well-known/oauth-protected-resource", h.base)
    );
    assert!(!params.contains_key("scope"), "{params:?}");
    assert_eq!(h.audit_records().await, audit_before + 3);
}

#[tokio::test]
async fn a_missing_scope_is_a_403_step_up_challenge_on_the_tools_api() {
    let h = Harness::start().await;
    let (status, body) = token_request(
        &h,
        &format!("{}/oauth/token", h.base),
        ("demo-agent", DEMO_SECRET),
        &[("scope", "orders:read")],
    )
    .await;
    assert_eq!(status, 200);
    let narrow = body["access_token"].as_str().unwrap().to_owned();
    let upstream_before = h.upstream.requests_seen();
    let audit_before = h.audit_records().await;

    let refund = json!({"id": 7, "amount_cents": 500, "reason": "damaged"});
    let response = h.call(Some(&narrow), "refundOrder", &refund).await;
    assert_eq!(response.status(), 403);
    let params = challenge(&response);
    assert_eq!(params["error"], "insufficient_scope");
    assert_eq!(params["scope"], "orders:write");
    assert_eq!(
        params["resource_metadata"],
        format!("{}/.well-known/oauth-protected-resource", h.base)
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "insufficient_scope");
    assert_eq!(
        h.upstream.requests_seen(),
        upstream_before,
        "refused before egress"
    );
    assert_eq!(
        h.audit_records().await,
        audit_before + 1,
        "one record per refusal"
    );

    // The scope check does not let a hidden tool be probed: it still looks missing.
    let hidden = h
        .call(Some(&narrow), "deleteCustomer", &json!({"id": 3}))
        .await;
    assert_eq!(hidden.status(), 404);

    // Step-up: a token with the named scope succeeds.
    let (status, body) = token_request(
        &h,
        &format!("{}/oauth/token", h.base),
        ("demo-agent", DEMO_SECRET),
        &[("scope", &format!("orders:read {}", params["scope"]))],
    )
    .await;
    assert_eq!(status, 200);
    let wide = body["access_token"].as_str().unwrap();
    let response = h.call(Some(wide), "refundOrder", &refund).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_missing_scope_is_a_403_step_up_challenge_on_mcp_in_both_lifecycles() {
    let h = Harness::start().await;
    let (_, body) = token_request(
        &h,
        &format!("{}/oauth/token", h.base),
        ("demo-agent", DEMO_SECRET),
        &[("scope", "orders:read")],
    )
    .await;
    let narrow = body["access_token"].as_str().unwrap().to_owned();
    let upstream_before = h.upstream.requests_seen();
    let refund = json!({"name": "refundOrder", "arguments": {"id": 7, "amount_cents": 500, "reason": "damaged"}});
    let expect_step_up = |response: &reqwest::Response| {
        assert_eq!(response.status(), 403);
        let params = challenge(response);
        assert_eq!(params["error"], "insufficient_scope");
        assert_eq!(params["scope"], "orders:write");
        assert_eq!(
            params["resource_metadata"],
            format!("{}/.well-known/oauth-protected-resource/mcp", h.base)
        );
    };

    // Stateless 2026-07-28.
    let audit_before = h.audit_records().await;
    let response = stateless_request(
        &h,
        Some(&narrow),
        "tools/call",
        Some("refundOrder"),
        refund.clone(),
    )
    .send()
    .await
    .unwrap();
    expect_step_up(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["data"]["error"], "insufficient_scope");
    assert_eq!(body["error"]["data"]["scope"], "orders:write");
    assert_eq!(h.audit_records().await, audit_before + 1);

    // A session (2025-11-25): the refusal does not end it; later calls in it still work.
    let response = h
        .http
        .post(format!("{}/mcp", h.base))
        .header("accept", ACCEPT)
        .bearer_auth(&narrow)
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    drop(response);
    let in_session = |body: Value| {
        h.http
            .post(format!("{}/mcp", h.base))
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", &session)
            .bearer_auth(&narrow)
            .json(&body)
    };
    let response = in_session(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let audit_before = h.audit_records().await;
    let response =
        in_session(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": refund}))
            .send()
            .await
            .unwrap();
    expect_step_up(&response);
    assert_eq!(h.audit_records().await, audit_before + 1);
    let response = in_session(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "getOrder", "arguments": {"id": 1}}}))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("\"id\":3") && !text.contains("isError\":true"),
        "{text}"
    );
    assert_eq!(
        h.upstream.requests_seen(),
        upstream_before + 1,
        "only getOrder went upstream"
    );
}

#[tokio::test]
async fn token_requests_for_another_resource_are_invalid_target() {
    let h = Harness::start().await;
    let endpoint = format!("{}/oauth/token", h.base);
    let client = ("demo-agent", DEMO_SECRET);
    for resource in [
        "https://elsewhere.example/mcp",
        &format!("{}/mcp/", h.base),
        &format!("{}/v1", h.base),
    ] {
        let (status, body) = token_request(&h, &endpoint, client, &[("resource", resource)]).await;
        assert_eq!(status, 400, "{resource}");
        assert_eq!(body["error"], "invalid_target", "{resource}");
        assert!(body.get("access_token").is_none());
    }
    for resource in [format!("{}/mcp", h.base), h.base.clone()] {
        let (status, body) = token_request(&h, &endpoint, client, &[("resource", &resource)]).await;
        assert_eq!(status, 200, "{resource}");
        let token = body["access_token"].as_str().unwrap();
        let response = h.call(Some(token), "getOrder", &json!({"id": 1})).await;
        assert_eq!(response.status(), 200);
    }
}

/// What an MCP client does, step by step (MCP authorization, 2025-06-18 and later): try the bare
/// MCP URL, follow the 401's `resource_metadata`, check the metadata names this resource, fetch
/// the authorization server's RFC 8414 metadata from `authorization_servers[0]`, check its
/// issuer, get a token at its `token_endpoint` with the client-credentials grant, the scopes
/// the resource supports and `resource` (RFC 8707), then use the MCP endpoint. Without a
/// token (the request refused) the tool list is empty.
async fn discover_and_list(
    h: &Harness,
    client_id: &str,
    secret: &str,
) -> (u16, Value, Vec<String>) {
    let mcp_url = format!("{}/mcp", h.base);
    let response = stateless_request(h, None, "tools/list", None, json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let metadata_url = challenge(&response)["resource_metadata"].clone();

    let resource = get_json(h, &metadata_url).await;
    assert_eq!(resource["resource"], mcp_url, "RFC 9728 section 3.3");
    let issuer = resource["authorization_servers"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let server = get_json(
        h,
        &format!(
            "{}/.well-known/oauth-authorization-server",
            issuer.trim_end_matches('/')
        ),
    )
    .await;
    assert_eq!(server["issuer"], issuer.as_str(), "RFC 8414 section 3.3");
    assert!(
        server["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
    assert!(
        server["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_secret_basic"))
    );
    let scope: Vec<&str> = resource["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let (status, token) = token_request(
        h,
        server["token_endpoint"].as_str().unwrap(),
        (client_id, secret),
        &[
            ("scope", &scope.join(" ")),
            ("resource", resource["resource"].as_str().unwrap()),
        ],
    )
    .await;
    if status != 200 {
        return (status, token, Vec::new());
    }
    let access_token = token["access_token"].as_str().unwrap();

    let response = stateless_request(h, Some(access_token), "tools/list", None, json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let names = body["result"]["tools"]
        .as_array()
        .expect("a tool list")
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect();
    (status, token, names)
}

#[tokio::test]
async fn an_mcp_client_discovers_its_way_from_the_bare_url_to_a_token() {
    let h = Harness::start().await;
    let (status, token, names) = discover_and_list(&h, "demo-agent", DEMO_SECRET).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["scope"], "orders:read orders:write");
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

    // An agent that holds none of the supported scopes asks for them all, as MCP clients do
    // without a scope in the challenge, and is refused with `invalid_scope` naming the first
    // scope it lacks (RFC 6749 section 5.2), not handed a token that can do less than asked.
    let (status, body, names) = discover_and_list(&h, "readonly-agent", READONLY_SECRET).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_scope");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("`orders:read`"),
        "{body}"
    );
    assert!(body.get("access_token").is_none());
    assert!(names.is_empty());
}

/// The same discovery with the official Python SDK's own helpers (`tests/python/mcp_discovery.py`):
/// its parsers accept the challenge and the protected-resource metadata, its resource check
/// passes, and its scope selection leads to a token that lists the tools.
#[tokio::test]
async fn python_sdk_discovery_from_the_bare_url() {
    let Some(interpreter) = std::env::var_os("PORTCULLIS_PYTHON") else {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_EXTERNAL").is_none(),
            "PORTCULLIS_PYTHON is not set but external clients are required"
        );
        eprintln!("skipped: PORTCULLIS_PYTHON is not set (scripts/test sets it)");
        return;
    };
    let h = Harness::start().await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/mcp_discovery.py");
    for (agent, secret, tools, granted) in [
        (
            "demo-agent",
            DEMO_SECRET,
            json!([
                "listOrders",
                "getOrder",
                "refundOrder",
                "searchOrders",
                "attachReceipt"
            ]),
            "orders:read orders:write",
        ),
        // It holds none of the scopes the SDK asks for: refused, so no token and no tools.
        ("readonly-agent", READONLY_SECRET, Value::Null, ""),
    ] {
        let mut command = std::process::Command::new(&interpreter);
        command
            .arg(&script)
            .args([format!("{}/mcp", h.base).as_str(), agent, secret]);
        let steps_up = agent == "demo-agent";
        if steps_up {
            command.arg(
                json!({"scope": "orders:read", "call": {"name": "refundOrder",
                    "arguments": {"id": 7, "amount_cents": 500, "reason": "damaged"}}})
                .to_string(),
            );
        }
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("python runs");
        let out = String::from_utf8_lossy(&output.stdout);
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{agent}:\n{out}\n{err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            report["resource_metadata"],
            format!("{}/.well-known/oauth-protected-resource/mcp", h.base)
        );
        assert_eq!(report["resource"], format!("{}/mcp", h.base));
        assert_eq!(report["requested_scope"], "orders:read orders:write");
        assert_eq!(report["tools"], tools, "{agent}");
        if tools.is_null() {
            assert_eq!(report["token_error"], "invalid_scope", "{agent}");
            assert_eq!(report["granted_scope"], Value::Null, "{agent}");
        } else {
            assert_eq!(report["granted_scope"], granted, "{agent}");
        }
        // The SDK's RFC 8414 model requires an `authorization_endpoint`, which this server
        // advertises with interactive sign-in on (as in the quickstart).
        assert_eq!(report["sdk_accepts_as_metadata"], true);
        if steps_up {
            let step = &report["step_up"];
            assert_eq!(step["status"], 403, "{step}");
            assert_eq!(step["error"], "insufficient_scope");
            assert_eq!(step["challenged_scope"], "orders:write");
            assert_eq!(step["requested_scope"], "orders:read orders:write");
            assert_eq!(step["retry_status"], 200, "{step}");
            assert_eq!(step["retry_is_error"], false, "{step}");
        }
    }
}
