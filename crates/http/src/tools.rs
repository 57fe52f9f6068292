//! The HTTP tools API: `GET /v1/tools` lists the caller's tools in a function-calling format and
//! `POST /v1/tools/{name}/call` runs one call with the request body as its arguments.

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::{CallMeta, Caller, Denial, DenialKind, Front};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{AppState, client_ip, problem, read_json};

/// Output formats of the tool listing.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Format {
    /// OpenAI Chat Completions function calling:
    /// `{"type":"function","function":{name,description,parameters}}`.
    Openai,
    /// OpenAI Responses API function tools, flat:
    /// `{"type":"function",name,description,parameters,"strict":false}`. `strict` is stated
    /// because the Responses API assumes strict mode otherwise, which requires every property
    /// to be listed as required and `additionalProperties: false`, and OpenAPI-derived schemas
    /// with optional arguments are not written that way; the gateway validates them instead.
    OpenaiResponses,
    /// Anthropic tool use: `{name, description, input_schema}`.
    Anthropic,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    format: Option<String>,
}

/// `GET /v1/tools?format=openai|openai-responses|anthropic`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    request: Request,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return missing_caller(&request);
    };
    let format = match query.format.as_deref() {
        None | Some("openai") => Format::Openai,
        Some("openai-responses") => Format::OpenaiResponses,
        Some("anthropic") => Format::Anthropic,
        Some(other) => {
            let denial = Denial::new(
                DenialKind::InvalidArguments,
                format!(
                    "unknown format `{}`; use `openai`, `openai-responses` or `anthropic`",
                    portcullis_core::truncate_for_message(other, 32)
                ),
            );
            return problem(&denial, &caller.meta);
        }
    };
    let tools: Vec<Value> = state
        .gateway
        .list_tools(&caller.principal)
        .iter()
        .map(|tool| match format {
            Format::Openai => json!({
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.input_schema,
                }
            }),
            Format::OpenaiResponses => json!({
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.input_schema,
                "strict": false,
            }),
            Format::Anthropic => json!({
                "name": tool.name,
                "description": tool.description,
                "input_schema": tool.input_schema,
            }),
        })
        .collect();
    axum::Json(json!({ "tools": tools })).into_response()
}

/// `POST /v1/tools/{name}/call`: the body is the arguments object. The answer is
/// `{"ok": bool, "status": <upstream status>, "result": <upstream body>}` when the call reached
/// the upstream, and problem+json when the gateway refused it.
pub(crate) async fn call(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return missing_caller(&request);
    };
    let body: Body = request.into_body();
    let args = match read_json(body, state.max_body_bytes).await {
        Ok(args) => args,
        Err(denial) => {
            let denial = state.gateway.refuse(&caller, Some(&name), denial).await;
            return problem(&denial, &caller.meta);
        }
    };
    match state.gateway.call(&caller, &name, args).await {
        Ok(response) => {
            let mut body = json!({
                "ok": response.is_success(),
                "status": response.status,
                "result": response.body,
            });
            // What the response guards flagged (never the values); absent when nothing was.
            if !response.notices.is_empty() {
                body["notices"] = json!(response.notices);
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(denial) => state.refusal(&denial, &caller.meta),
    }
}

/// `GET /v1/approvals/{id}`: the state of the caller's own held call (another agent's answers
/// like an unknown id). A read of the caller's own state, like the tool listing: not recorded.
pub(crate) async fn poll_approval(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return missing_caller(&request);
    };
    match state.gateway.poll_approval(&caller.principal, &id).await {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(denial) => problem(&denial, &caller.meta),
    }
}

/// The tool name of a `/v1/tools/{name}/call` path, for audit records of refused requests.
pub(crate) fn tool_from_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/tools/")?;
    let name = rest.strip_suffix("/call")?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
}

/// The identify middleware always runs first; reaching a handler without a caller is a bug
/// and fails closed.
fn missing_caller(request: &Request) -> Response {
    let meta = CallMeta::now(Front::Http, client_ip(request));
    tracing::error!("tools handler reached without an identified caller");
    problem(&Denial::new(DenialKind::Internal, "internal error"), &meta)
}
