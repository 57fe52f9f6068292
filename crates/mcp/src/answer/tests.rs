use portcullis_config::RiskClass;
use portcullis_core::{Denial, DenialKind, UpstreamResponse, Violation};
use rmcp::model::ErrorCode;
use serde_json::{Value, json};

use super::*;

fn response(status: u16, body: Value) -> UpstreamResponse {
    UpstreamResponse {
        status,
        body,
        content_type: Some("application/json".into()),
        notices: Vec::new(),
    }
}

fn text_of(result: &CallToolResult) -> String {
    assert_eq!(result.content.len(), 1, "one text item expected");
    result.content[0]
        .as_text()
        .map(|text| text.text.clone())
        .expect("text content")
}

fn denial(kind: DenialKind, message: &str) -> Denial {
    Denial::new(kind, message)
        .with_internal("upstream said: password=hunter2")
        .with_policies(["secret-policy-id"])
}

trait WithPolicies {
    fn with_policies<const N: usize>(self, ids: [&str; N]) -> Self;
}

impl WithPolicies for Denial {
    fn with_policies<const N: usize>(mut self, ids: [&str; N]) -> Self {
        self.policies = ids.iter().map(|id| (*id).to_owned()).collect();
        self
    }
}

#[test]
fn object_body_becomes_text_and_structured_content() {
    let body = json!({"id": 7, "status": "shipped"});
    let result = call_answer("get_order", Ok(response(200, body.clone()))).unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(
        serde_json::from_str::<Value>(&text_of(&result)).unwrap(),
        body
    );
    assert_eq!(result.structured_content, Some(body));
}

#[test]
fn string_body_is_sent_as_is_without_structured_content() {
    let result = call_answer("ping", Ok(response(200, json!("pong \"quoted\"")))).unwrap();
    assert_eq!(text_of(&result), "pong \"quoted\"");
    assert_eq!(result.structured_content, None);
}

#[test]
fn array_body_is_serialized_without_structured_content() {
    let result = call_answer("list", Ok(response(201, json!([1, 2])))).unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(text_of(&result), "[1,2]");
    assert_eq!(result.structured_content, None);
}

#[test]
fn upstream_error_status_is_a_tool_error_with_a_prefix() {
    let body = json!({"detail": "no such order"});
    let result = call_answer("get_order", Ok(response(404, body.clone()))).unwrap();
    assert_eq!(result.is_error, Some(true));
    let text = text_of(&result);
    assert!(text.starts_with("upstream answered HTTP 404\n"), "{text}");
    assert!(text.ends_with(r#"{"detail":"no such order"}"#), "{text}");
    assert_eq!(result.structured_content, Some(body));
}

#[test]
fn unknown_tool_is_invalid_params_with_the_same_text_whatever_the_backend_says() {
    let hidden = Denial::new(DenialKind::UnknownTool, "tool is hidden by role ops");
    let missing = Denial::unknown_tool("refund");
    let a = call_answer("refund", Err(hidden)).unwrap_err();
    let b = call_answer("refund", Err(missing)).unwrap_err();
    assert_eq!(a, b);
    assert_eq!(a.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(a.message, "unknown tool `refund`");
    assert_eq!(a.data, None);
}

#[test]
fn refusals_are_tool_errors_with_code_and_message_only() {
    for kind in [
        DenialKind::Forbidden,
        DenialKind::EgressBlocked,
        DenialKind::UpstreamFailure,
    ] {
        let result = call_answer("refund", Err(denial(kind, "not allowed for you"))).unwrap();
        assert_eq!(result.is_error, Some(true));
        assert_eq!(text_of(&result), "not allowed for you");
        assert_eq!(
            result.structured_content,
            Some(json!({"error": kind.code(), "message": "not allowed for you", "violations": []}))
        );
        let wire = serde_json::to_string(&result).unwrap();
        assert!(!wire.contains("hunter2"), "{wire}");
        assert!(!wire.contains("secret-policy-id"), "{wire}");
    }
}

#[test]
fn a_missing_scope_inside_a_session_is_a_tool_error_naming_the_scopes() {
    let required = vec!["orders:write".to_owned(), "orders:read".to_owned()];
    let missing = &required[..1];
    let refusal =
        Denial::insufficient_scope("refund", &required, &missing.iter().collect::<Vec<_>>());
    let result = call_answer("refund", Err(refusal)).unwrap();
    assert_eq!(result.is_error, Some(true));
    let detail = result.structured_content.unwrap();
    assert_eq!(detail["error"], "insufficient_scope");
    assert_eq!(detail["scope"], "orders:write orders:read");
    // What is missing is for the audit log only.
    assert!(!serde_json::to_string(&detail).unwrap().contains("missing"));
}

#[test]
fn invalid_arguments_list_each_violation() {
    let mut refusal = denial(DenialKind::InvalidArguments, "the arguments are invalid");
    refusal.violations = vec![
        Violation {
            path: "/amount".into(),
            rule: "maximum".into(),
            message: "must be at most 100".into(),
        },
        Violation {
            path: String::new(),
            rule: "required".into(),
            message: "`order_id` is required".into(),
        },
    ];
    let result = call_answer("refund", Err(refusal)).unwrap();
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        text_of(&result),
        "the arguments are invalid\n/amount: must be at most 100\n(arguments): `order_id` is required"
    );
    assert_eq!(
        result.structured_content,
        Some(json!({
            "error": "invalid_arguments",
            "message": "the arguments are invalid",
            "violations": [
                {"path": "/amount", "rule": "maximum", "message": "must be at most 100"},
                {"path": "", "rule": "required", "message": "`order_id` is required"},
            ],
        }))
    );
}

#[test]
fn internal_denial_is_a_generic_internal_error() {
    let error =
        call_answer("refund", Err(denial(DenialKind::Internal, "audit db down"))).unwrap_err();
    assert_eq!(error.code, ErrorCode::INTERNAL_ERROR);
    assert_eq!(error.message, INTERNAL_MESSAGE);
    assert_eq!(error.data, None);
}

#[test]
fn unauthenticated_denial_is_an_invalid_request_error() {
    let error = call_answer(
        "refund",
        Err(denial(DenialKind::Unauthenticated, "the token expired")),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::INVALID_REQUEST);
    assert_eq!(error.message, "the token expired");
}

fn catalog_tool(schema: Value) -> portcullis_catalog::Tool {
    portcullis_catalog::Tool {
        name: "get_order".into(),
        api: "orders".into(),
        operation_id: "getOrder".into(),
        method: "GET".into(),
        path: "/orders/{id}".into(),
        description: "Fetch one order.".into(),
        params: Vec::new(),
        body: None,
        input_schema: schema,
        output_schema: None,
        risk: RiskClass::Low,
        scopes: Vec::new(),
    }
}

#[test]
fn tools_are_described_by_name_description_schema_and_hints() {
    let schema =
        json!({"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]});
    let tool = describe_tool(&catalog_tool(schema.clone()));
    let wire = serde_json::to_value(&tool).unwrap();
    assert_eq!(
        wire,
        json!({"name": "get_order", "description": "Fetch one order.", "inputSchema": schema,
               "annotations": {"readOnlyHint": true}})
    );
}

#[test]
fn annotations_follow_the_method_and_the_risk_class() {
    let hints = |method: &str, risk: RiskClass| {
        let mut tool = catalog_tool(json!({"type": "object"}));
        tool.method = method.into();
        tool.risk = risk;
        serde_json::to_value(describe_tool(&tool)).unwrap()["annotations"].clone()
    };
    let write = |destructive: bool, idempotent: bool| json!({"readOnlyHint": false, "destructiveHint": destructive, "idempotentHint": idempotent});
    assert_eq!(
        hints("HEAD", RiskClass::Critical),
        json!({"readOnlyHint": true})
    );
    assert_eq!(hints("POST", RiskClass::Low), write(false, false));
    assert_eq!(hints("POST", RiskClass::Medium), write(false, false));
    assert_eq!(hints("POST", RiskClass::High), write(true, false));
    assert_eq!(hints("PATCH", RiskClass::Low), write(true, false));
    assert_eq!(hints("PUT", RiskClass::Low), write(true, true));
    assert_eq!(hints("DELETE", RiskClass::Critical), write(true, true));
}

#[test]
fn an_output_schema_is_described_when_the_catalog_has_one() {
    let output = json!({"type": "object", "properties": {"id": {"type": "integer"}}});
    let mut tool = catalog_tool(json!({"type": "object"}));
    tool.output_schema = Some(output.clone());
    let wire = serde_json::to_value(describe_tool(&tool)).unwrap();
    assert_eq!(wire["outputSchema"], output);
    // None: no `outputSchema` key at all.
    let wire =
        serde_json::to_value(describe_tool(&catalog_tool(json!({"type": "object"})))).unwrap();
    assert!(wire.get("outputSchema").is_none(), "{wire}");
}

#[test]
fn a_non_object_schema_is_replaced_by_an_object_schema() {
    let tool = describe_tool(&catalog_tool(json!(true)));
    assert_eq!(
        serde_json::to_value(&tool).unwrap()["inputSchema"],
        json!({"type": "object"})
    );
}

/// The directly written answer to an upstream response is byte for byte what encoding the
/// `rmcp` result in its JSON-RPC response gives, whatever the body, status and notices.
#[test]
fn upstream_answers_are_encoded_as_rmcp_encodes_them() {
    let bodies = [
        json!({"id": 42, "customer": {"name": "Ada \"Countess\" Lovelace", "card": "[REDACTED:card]"},
               "lines": [1, 2.5, null, true], "notes": "line\nbreak\ttab \u{1F600} \u{7f} </script>"}),
        json!({}),
        json!("plain text answer\nwith \"quotes\" and \\ backslashes"),
        json!(""),
        json!([1, {"a": "b"}]),
        json!(null),
        json!(12.5),
    ];
    let ids = [
        RequestId::Number(7),
        RequestId::Number(-3),
        RequestId::String("req-\"7\"".into()),
    ];
    for status in [200, 204, 404, 503] {
        for body in &bodies {
            for notices in [
                Vec::new(),
                vec!["dlp: card x1 redacted".to_owned(), "n\"2".to_owned()],
            ] {
                for id in &ids {
                    let mut upstream = response(status, body.clone());
                    upstream.notices = notices.clone();
                    let expected = serde_json::to_vec(&ServerJsonRpcMessage::response(
                        ServerResult::CallToolResult(upstream_result(upstream.clone())),
                        id.clone(),
                    ))
                    .expect("rmcp encodes");
                    let (status_code, written) =
                        encode_call_answer(id.clone(), "get_order", Ok(upstream)).expect("encodes");
                    assert_eq!(status_code, StatusCode::OK);
                    assert_eq!(
                        String::from_utf8_lossy(&written),
                        String::from_utf8_lossy(&expected),
                        "status {status}, body {body}"
                    );
                }
            }
        }
    }
}

/// Refusals take `rmcp`'s own encoding, with the stateless transport's status.
#[test]
fn refusals_are_encoded_through_rmcp() {
    for (kind, status) in [
        (DenialKind::Forbidden, StatusCode::OK),
        (DenialKind::UnknownTool, StatusCode::OK),
        (DenialKind::Internal, StatusCode::OK),
    ] {
        let outcome = Err(denial(kind, "refused"));
        let (code, written) =
            encode_call_answer(RequestId::Number(1), "get_order", outcome).expect("encodes");
        assert_eq!(code, status);
        let text = String::from_utf8_lossy(&written);
        assert!(text.starts_with(r#"{"jsonrpc":"2.0","id":1,"#), "{text}");
        assert!(
            !text.contains("hunter2") && !text.contains("secret-policy-id"),
            "{text}"
        );
    }
}
