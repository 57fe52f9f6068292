use rmcp::model::ErrorCode;

use super::*;

fn host(text: &str) -> HostPort {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_str(text).unwrap());
    request_host(&http::Uri::from_static("/mcp"), &headers).unwrap()
}

fn allowed(entry: &str, request: &str) -> bool {
    AllowedHost::parse(entry).unwrap().matches(&host(request))
}

#[test]
fn host_entries_without_port_match_any_port() {
    assert!(allowed("localhost", "localhost:8080"));
    assert!(allowed("localhost", "LOCALHOST"));
    assert!(allowed("::1", "[::1]:8080"));
    assert!(allowed("[::1]", "[::1]"));
    assert!(!allowed("localhost", "localhost.evil.example"));
    assert!(!allowed("127.0.0.1", "127.0.0.2:80"));
}

#[test]
fn host_entries_with_port_match_that_port_only() {
    assert!(allowed("gw.example.com:8443", "gw.example.com:8443"));
    assert!(!allowed("gw.example.com:8443", "gw.example.com"));
    assert!(!allowed("gw.example.com:8443", "gw.example.com:443"));
    assert!(allowed("[::1]:8080", "[::1]:8080"));
}

#[test]
fn malformed_host_entries_are_rejected() {
    for entry in ["", "user@host", "http://host", "host/path", "host:port"] {
        assert!(AllowedHost::parse(entry).is_none(), "{entry}");
    }
}

#[test]
fn duplicate_or_userinfo_host_headers_are_unusable() {
    let mut headers = HeaderMap::new();
    headers.append(header::HOST, HeaderValue::from_static("localhost"));
    headers.append(header::HOST, HeaderValue::from_static("evil.example"));
    assert!(request_host(&http::Uri::from_static("/mcp"), &headers).is_none());

    let mut headers = HeaderMap::new();
    headers.insert(
        header::HOST,
        HeaderValue::from_static("localhost@evil.example"),
    );
    assert!(request_host(&http::Uri::from_static("/mcp"), &headers).is_none());
}

#[test]
fn missing_host_header_falls_back_to_the_uri_authority() {
    let uri = http::Uri::from_static("http://localhost:3000/mcp");
    assert_eq!(
        request_host(&uri, &HeaderMap::new()),
        Some(HostPort {
            host: "localhost".into(),
            port: Some(3000)
        })
    );
    assert!(request_host(&http::Uri::from_static("/mcp"), &HeaderMap::new()).is_none());
}

#[test]
fn origins_compare_scheme_host_and_effective_port() {
    let entry = OriginTuple::parse("https://App.Example.com").unwrap();
    assert_eq!(
        OriginTuple::parse("https://app.example.com:443"),
        Some(entry)
    );
    let entry = OriginTuple::parse("https://app.example.com/").unwrap();
    assert_ne!(
        OriginTuple::parse("https://app.example.com:8443"),
        Some(entry)
    );
    let entry = OriginTuple::parse("http://localhost:5173").unwrap();
    assert_ne!(OriginTuple::parse("https://localhost:5173"), Some(entry));
    assert_eq!(OriginTuple::parse("null"), Some(OriginTuple::Null));
}

#[test]
fn malformed_origins_are_rejected() {
    for entry in [
        "app.example.com",
        "https://app.example.com/path",
        "https://app.example.com?x=1",
        "https://user@app.example.com",
        "",
    ] {
        assert!(OriginTuple::parse(entry).is_none(), "{entry}");
    }
}

#[test]
fn origins_are_passed_to_rmcp_with_explicit_ports() {
    let entry = |text: &str| OriginTuple::parse(text).unwrap().rmcp_entry();
    assert_eq!(
        entry("https://app.example.com"),
        "https://app.example.com:443"
    );
    assert_eq!(entry("http://[::1]:5173"), "http://[::1]:5173");
    assert_eq!(entry("null"), "null");
}

fn error_of(body: &str) -> JsonRpcError {
    *parse_message(body.as_bytes()).unwrap_err()
}

#[test]
fn invalid_json_is_a_parse_error_without_id() {
    let error = error_of(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list""#);
    assert_eq!(error.error.code, ErrorCode::PARSE_ERROR);
    assert_eq!(error.id, None);
}

#[test]
fn deeply_nested_json_is_a_parse_error() {
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(error_of(&body).error.code, ErrorCode::PARSE_ERROR);
}

#[test]
fn batches_and_scalars_are_invalid_requests() {
    assert_eq!(
        error_of(r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#)
            .error
            .code,
        ErrorCode::INVALID_REQUEST
    );
    assert_eq!(error_of("42").error.code, ErrorCode::INVALID_REQUEST);
}

#[test]
fn a_request_with_bad_params_is_invalid_params_and_keeps_its_id() {
    let error =
        error_of(r#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"arguments":{}}}"#);
    assert_eq!(error.error.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(error.id, Some(RequestId::String("a-1".into())));
    assert_eq!(error.error.message, "invalid params for `tools/call`");
}

#[test]
fn an_object_that_is_not_json_rpc_is_an_invalid_request() {
    let error = error_of(r#"{"id":3,"hello":"world"}"#);
    assert_eq!(error.error.code, ErrorCode::INVALID_REQUEST);
    assert_eq!(error.id, Some(RequestId::Number(3)));
}

#[test]
fn well_formed_messages_pass_and_initialize_opens_a_session() {
    let message = parse_message(
        br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    )
    .unwrap();
    assert!(opens_session(&message, &HeaderMap::new()));
    let mut with_session = HeaderMap::new();
    with_session.insert(SESSION_ID_HEADER, HeaderValue::from_static("abc"));
    assert!(!opens_session(&message, &with_session));

    let message =
        parse_message(br#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#).unwrap();
    assert!(!opens_session(&message, &HeaderMap::new()));
    // Unknown methods are the SDK's to answer (method not found), not a parse failure.
    assert!(parse_message(br#"{"jsonrpc":"2.0","id":3,"method":"x/unknown"}"#).is_ok());
}

#[test]
fn json_content_type_detection_ignores_parameters_and_case() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("Application/JSON; charset=utf-8"),
    );
    assert!(is_json(&headers));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    assert!(!is_json(&headers));
}

#[test]
fn non_numeric_ports_are_rejected_everywhere() {
    assert!(AllowedHost::parse("localhost:http").is_none());
    assert!(OriginTuple::parse("https://app.example.com:x").is_none());
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("localhost:abc"));
    assert!(request_host(&http::Uri::from_static("/mcp"), &headers).is_none());
}

#[test]
fn decoding_from_bytes_agrees_with_decoding_through_a_value() {
    let bodies = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"getOrder","arguments":{"id":42,"x":[1.5,{"a":null}]},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
        r#" {"jsonrpc":"2.0","id":"s","method":"tools/list","params":{}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":7,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"x/unknown","params":{"k":1,"k":2}}"#,
        r#"{"jsonrpc":"2.0","id":4,"id":5,"method":"tools/list"}"#,
    ];
    for body in bodies {
        let fast = parse_message(body.as_bytes()).map(|m| serde_json::to_value(m).unwrap());
        let value: Value = serde_json::from_str(body).unwrap();
        let slow = ClientJsonRpcMessage::deserialize(&value)
            .map(|m| serde_json::to_value(m).unwrap())
            .ok();
        assert_eq!(fast.ok(), slow, "{body}");
    }
}
