//! Turns the pipeline's answers into MCP: tool descriptions, tool results and JSON-RPC errors.
//!
//! Everything here is pure, so the mapping the agent sees is tested without a server.

use std::borrow::Cow;
use std::sync::Arc;

use http::StatusCode;
use portcullis_core::{Denial, DenialKind, UpstreamResponse, Violation};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolResult, ContentBlock, ErrorCode, JsonObject, RequestId, ServerJsonRpcMessage,
    ServerResult, Tool, ToolAnnotations,
};
use serde_json::{Value, json};

/// The message of every JSON-RPC internal error this front sends; details stay in the logs and
/// the audit record.
pub(crate) const INTERNAL_MESSAGE: &str = "the gateway could not complete the request";

/// The MCP description of a catalog tool: name, description, input schema, the behaviour hints
/// ([`annotations`]) and, when the catalog has one, the output schema.
pub(crate) fn describe_tool(tool: &portcullis_catalog::Tool) -> Tool {
    let schema = match &tool.input_schema {
        Value::Object(schema) => schema.clone(),
        _ => {
            // INVARIANT: the catalog always builds an object schema; a tool without one is
            // still listed, and the pipeline's validation stage keeps judging its arguments.
            tracing::warn!(tool = %tool.name, "tool input schema is not an object");
            let mut schema = JsonObject::new();
            schema.insert("type".into(), Value::from("object"));
            schema
        }
    };
    let description = (!tool.description.is_empty()).then(|| Cow::Owned(tool.description.clone()));
    let mut described = Tool::new_with_raw(tool.name.clone(), description, Arc::new(schema))
        .with_annotations(annotations(tool));
    // INVARIANT: the catalog keeps only object schemas here, as MCP requires of `outputSchema`.
    if let Some(Value::Object(output)) = &tool.output_schema {
        described = described.with_raw_output_schema(Arc::new(output.clone()));
    }
    described
}

/// MCP tool annotations from the HTTP method (RFC 9110 section 9.2) and the configured risk
/// class. `GET`, `HEAD` and `OPTIONS` are read-only, and then the other hints mean nothing.
/// Otherwise `PUT` and `DELETE` are idempotent; a write is destructive unless it is a `POST` of
/// low or medium risk (an additive one, as far as the gateway can tell). Hints are hints:
/// clients may use them to ask for confirmation, never as a security boundary.
fn annotations(tool: &portcullis_catalog::Tool) -> ToolAnnotations {
    let method = tool.method.as_str();
    if matches!(method, "GET" | "HEAD" | "OPTIONS") {
        return ToolAnnotations::new().read_only(true);
    }
    let additive = method == "POST" && matches!(tool.risk.as_str(), "low" | "medium");
    ToolAnnotations::from_raw(
        None,
        Some(false),
        Some(!additive),
        Some(matches!(method, "PUT" | "DELETE")),
        None,
    )
}

/// The answer to a `tools/call`: a tool result, or a JSON-RPC error for unknown tools and
/// gateway failures.
pub(crate) fn call_answer(
    name: &str,
    outcome: Result<UpstreamResponse, Denial>,
) -> Result<CallToolResult, ErrorData> {
    match outcome {
        Ok(response) => Ok(upstream_result(response)),
        Err(denial) => denial_answer(name, denial),
    }
}

/// The whole JSON-RPC answer to a `tools/call` with id `id`, encoded: byte for byte what
/// encoding [`call_answer`]'s result in a `ServerJsonRpcMessage` gives, with the HTTP status
/// the stateless transport answers with. An upstream answer (the common case) is written
/// directly, without building `rmcp`'s result types: its body is encoded once and used both as
/// the text content and as the structured content. Refusals and errors go through `rmcp`.
pub(crate) fn encode_call_answer(
    id: RequestId,
    name: &str,
    outcome: Result<UpstreamResponse, Denial>,
) -> Result<(StatusCode, Vec<u8>), serde_json::Error> {
    let message = match outcome {
        Ok(response) => return encode_upstream_answer(&id, response).map(|b| (StatusCode::OK, b)),
        Err(denial) => match denial_answer(name, denial) {
            Ok(result) => ServerJsonRpcMessage::response(ServerResult::CallToolResult(result), id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        },
    };
    Ok((stateless_status(&message), serde_json::to_vec(&message)?))
}

/// The HTTP status of a stateless JSON-RPC answer, as `rmcp` maps it: the protocol-level
/// refusals are 400, an unknown method 404, everything else (tool results and the other
/// errors) 200.
pub(crate) fn stateless_status(message: &ServerJsonRpcMessage) -> StatusCode {
    let ServerJsonRpcMessage::Error(error) = message else {
        return StatusCode::OK;
    };
    match error.error.code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// [`upstream_result`] inside its JSON-RPC response, written field by field in the order
/// `rmcp` serializes them (a test compares the two).
fn encode_upstream_answer(
    id: &RequestId,
    response: UpstreamResponse,
) -> Result<Vec<u8>, serde_json::Error> {
    let success = response.is_success();
    let rendered = match &response.body {
        Value::String(_) => None,
        other => Some(serde_json::to_string(other)?),
    };
    let body = match (&response.body, &rendered) {
        (_, Some(rendered)) => rendered.as_str(),
        (Value::String(text), None) => text.as_str(),
        (_, None) => "",
    };
    let mut out = Vec::with_capacity(2 * body.len() + 160);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut out, id)?;
    out.extend_from_slice(
        br#","result":{"resultType":"complete","content":[{"type":"text","text":"#,
    );
    if success {
        serde_json::to_writer(&mut out, body)?;
    } else {
        let text = format!("upstream answered HTTP {}\n{body}", response.status);
        serde_json::to_writer(&mut out, &text)?;
    }
    out.extend_from_slice(b"}]");
    if response.body.is_object() {
        out.extend_from_slice(br#","structuredContent":"#);
        out.extend_from_slice(body.as_bytes());
    }
    out.extend_from_slice(if success {
        br#","isError":false"#
    } else {
        br#","isError":true"#
    });
    if !response.notices.is_empty() {
        out.extend_from_slice(br#","_meta":{"portcullis/notices":"#);
        serde_json::to_writer(&mut out, &response.notices)?;
        out.push(b'}');
    }
    out.extend_from_slice(b"}}");
    Ok(out)
}

fn upstream_result(mut response: UpstreamResponse) -> CallToolResult {
    let notices = std::mem::take(&mut response.notices);
    let body = match &response.body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let success = response.is_success();
    let text = if success {
        body
    } else {
        format!("upstream answered HTTP {}\n{body}", response.status)
    };
    let structured = response.body.is_object().then_some(response.body);
    let mut result = if success {
        CallToolResult::success(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::error(vec![ContentBlock::text(text)])
    };
    result.structured_content = structured;
    // What the response guards flagged (detector ids and counts, never values), under a
    // vendor key of `_meta` so clients that do not know it ignore it.
    if !notices.is_empty() {
        let mut meta = serde_json::Map::new();
        meta.insert("portcullis/notices".to_owned(), json!(notices));
        result.meta = Some(rmcp::model::MetaObject(meta));
    }
    result
}

fn denial_answer(name: &str, denial: Denial) -> Result<CallToolResult, ErrorData> {
    // Only `kind`, `message` and `violations` may leave the gateway: `policies` and `internal`
    // are for the audit log.
    match denial.kind {
        DenialKind::UnknownTool => {
            // Built from the requested name, not from the denial, so a hidden tool and a missing
            // one get byte-identical answers.
            Err(ErrorData::invalid_params(
                Denial::unknown_tool(name).message,
                None,
            ))
        }
        DenialKind::InsufficientScope => Ok(insufficient_scope_result(&denial)),
        DenialKind::RateLimited | DenialKind::Loop => Ok(limited_result(&denial)),
        DenialKind::ApprovalPending | DenialKind::ApprovalDenied => Ok(approval_result(&denial)),
        DenialKind::InvalidArguments
        | DenialKind::Forbidden
        | DenialKind::EgressBlocked
        | DenialKind::GuardBlocked
        | DenialKind::ResponseWithheld
        | DenialKind::UpstreamFailure
        | DenialKind::BadRequest
        | DenialKind::TooLarge
        | DenialKind::OriginRefused
        | DenialKind::Overloaded
        | DenialKind::TimedOut
        | DenialKind::NotFound => Ok(refusal_result(&denial)),
        DenialKind::Unauthenticated => Err(ErrorData::invalid_request(
            denial.message,
            Some(json!({ "error": DenialKind::Unauthenticated.code() })),
        )),
        DenialKind::Internal => {
            tracing::warn!(tool = %portcullis_core::truncate_for_message(name, 128),
                "the gateway failed a tools/call");
            Err(ErrorData::internal_error(INTERNAL_MESSAGE, None))
        }
    }
}

fn refusal_result(denial: &Denial) -> CallToolResult {
    let mut text = denial.message.clone();
    for violation in &denial.violations {
        text.push('\n');
        text.push_str(&violation_line(violation));
    }
    let violations: Vec<Value> = denial
        .violations
        .iter()
        .map(|v| json!({ "path": v.path, "rule": v.rule, "message": v.message }))
        .collect();
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    result.structured_content = Some(json!({
        "error": denial.kind.code(),
        "message": denial.message,
        "violations": violations,
    }));
    result
}

/// A missing scope found inside the session (the transport normally answers it with HTTP 403
/// before the call gets here): a tool error that names the scopes to ask for.
fn insufficient_scope_result(denial: &Denial) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(denial.message.clone())]);
    result.structured_content = Some(json!({
        "error": denial.kind.code(),
        "message": denial.message,
        "scope": denial.required_scopes().join(" "),
    }));
    result
}

/// A refusal by a limit: a tool error whose text and structured content carry the retry hint
/// (seconds), so that both a model reading the text and a client reading the fields can wait.
fn limited_result(denial: &Denial) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(denial.message.clone())]);
    let mut content = json!({
        "error": denial.kind.code(),
        "message": denial.message,
    });
    if let Some(hint) = denial.rate_limit() {
        content["limit"] = json!(hint.name);
        content["retry_after"] = json!(hint.retry_after_secs);
    }
    result.structured_content = Some(content);
    result
}

/// A call held for a person's approval (not run: pending, denied or expired): a tool error,
/// since there is no answer yet, whose text tells the model what to do and whose structured
/// content names the approval, its state and its expiry.
fn approval_result(denial: &Denial) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(denial.message.clone())]);
    let mut content = json!({
        "error": denial.kind.code(),
        "message": denial.message,
    });
    if let Some(approval) = denial.approval() {
        content["approval_id"] = json!(approval.id);
        content["approval_status"] = json!(approval.status);
        content["expires_at"] = json!(approval.expires_at);
        if denial.kind == DenialKind::ApprovalPending {
            content["retry_after"] = json!(approval.retry_after_secs);
        }
    }
    result.structured_content = Some(content);
    result
}

fn violation_line(violation: &Violation) -> String {
    let path = if violation.path.is_empty() {
        "(arguments)"
    } else {
        violation.path.as_str()
    };
    format!("{path}: {}", violation.message)
}

#[cfg(test)]
mod tests;
