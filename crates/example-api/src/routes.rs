//! The handlers. Every answer is JSON (`{"error": ...}` on failure) except the 204 of
//! `deleteCustomer`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ExampleApi;
use crate::data::{RefundRefusal, STATUSES};

/// Default page size of `listOrders`.
const DEFAULT_LIMIT: u64 = 20;
/// Largest page size of `listOrders`.
const MAX_LIMIT: u64 = 100;
/// Largest offset of `listOrders`, matching the OpenAPI document.
const MAX_OFFSET: u64 = 1_000_000;
/// Longest refund reason, in characters, matching the OpenAPI document.
const MAX_REASON_CHARS: usize = 500;

/// The routes, before the authentication middleware.
pub(crate) fn router(api: ExampleApi) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/orders", get(list_orders))
        .route("/orders/search", get(search_orders))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/refund", post(refund_order))
        .route("/orders/{id}/receipt", post(attach_receipt))
        .route("/debug/echo", get(echo_request))
        .route("/customers/{id}", delete(delete_customer))
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "not found") })
        .method_not_allowed_fallback(|| async {
            failure(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .with_state(api)
}

/// `{"error": message}`.
pub(crate) fn error_body(message: &str) -> Json<Value> {
    Json(json!({ "error": message }))
}

fn failure(status: StatusCode, message: &str) -> Response {
    (status, error_body(message)).into_response()
}

async fn health() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// Query parameters of `listOrders`, kept as text so bad values get a precise message.
#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    customer_id: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// Parses an optional integer parameter within bounds.
fn bounded(text: Option<&str>, default: u64, min: u64, max: u64) -> Option<u64> {
    match text {
        None => Some(default),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|value| (min..=max).contains(value)),
    }
}

async fn list_orders(
    State(api): State<ExampleApi>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return failure(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let status = match query.status.as_deref() {
        None => None,
        Some(status) if STATUSES.contains(&status) => Some(status),
        Some(_) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "`status` must be one of placed, shipped, delivered, refunded",
            );
        }
    };
    let Some(limit) = bounded(query.limit.as_deref(), DEFAULT_LIMIT, 1, MAX_LIMIT) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "`limit` must be an integer from 1 to 100",
        );
    };
    let Some(offset) = bounded(query.offset.as_deref(), 0, 0, MAX_OFFSET) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "`offset` must be an integer from 0 to 1000000",
        );
    };
    let customer = match query.customer_id.as_deref() {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(id) if !text.is_empty() && text.len() <= 9 => Some(id),
            _ => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "`customer_id` must be a customer number (digits only)",
                );
            }
        },
    };
    let store = api.store();
    let mut matching = store.orders_with_status(status);
    if let Some(customer) = customer {
        matching.retain(|order| order.customer_id == customer);
    }
    let page: Vec<Value> = matching
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|order| order.summary_json())
        .collect();
    Json(json!({ "orders": page, "total": matching.len() })).into_response()
}

/// Parses a path id; `None` when it is not a non-negative integer. Range checks are the
/// store's: an integer that names no record is a 404, not a 400.
fn parse_id(text: &str) -> Option<u64> {
    text.parse::<u64>().ok()
}

async fn get_order(State(api): State<ExampleApi>, Path(id): Path<String>) -> Response {
    let Some(id) = parse_id(&id) else {
        return failure(StatusCode::BAD_REQUEST, "order id must be an integer");
    };
    match api.store().order_json(id) {
        Some(order) => Json(order).into_response(),
        None => failure(StatusCode::NOT_FOUND, "order not found"),
    }
}

/// Query of `searchOrders`.
#[derive(Deserialize)]
struct SearchQuery {
    query: Option<String>,
}

/// Longest search query, in characters, matching the OpenAPI document.
const MAX_QUERY_CHARS: usize = 200;

async fn search_orders(
    State(api): State<ExampleApi>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(SearchQuery { query: Some(query) })) = query else {
        return failure(StatusCode::BAD_REQUEST, "`query` is required");
    };
    if query.chars().count() > MAX_QUERY_CHARS {
        return failure(
            StatusCode::BAD_REQUEST,
            "`query` must be at most 200 characters",
        );
    }
    let store = api.store();
    let orders: Vec<Value> = store
        .search(&query)
        .iter()
        .take(usize::try_from(DEFAULT_LIMIT).unwrap_or(20))
        .map(|order| order.summary_json())
        .collect();
    Json(json!({ "query": query, "orders": orders })).into_response()
}

/// The body of `attachReceipt`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptRequest {
    receipt_url: String,
}

async fn attach_receipt(
    State(api): State<ExampleApi>,
    Path(id): Path<String>,
    body: Result<Json<ReceiptRequest>, JsonRejection>,
) -> Response {
    let Some(id) = parse_id(&id) else {
        return failure(StatusCode::BAD_REQUEST, "order id must be an integer");
    };
    let Ok(Json(request)) = body else {
        return failure(
            StatusCode::BAD_REQUEST,
            "the body must be {\"receipt_url\": \"...\"}",
        );
    };
    // The URL is only stored: this API never fetches anything.
    if !api.store().attach_receipt(id, request.receipt_url) {
        return failure(StatusCode::NOT_FOUND, "order not found");
    }
    let receipt = api.store().receipt(id).map(str::to_owned);
    Json(json!({ "order_id": id, "receipt_url": receipt, "status": "attached" })).into_response()
}

/// Query of `echoRequest`.
#[derive(Deserialize)]
struct EchoQuery {
    text: Option<String>,
}

/// `GET /debug/echo`: the request's headers (credential included) and `text` back, like the
/// debug endpoints real APIs leave switched on. The quickstart does not expose it; the tests use
/// it to show the gateway's reflection guard.
async fn echo_request(
    headers: axum::http::HeaderMap,
    query: Result<Query<EchoQuery>, QueryRejection>,
) -> Response {
    let text = query.ok().and_then(|Query(q)| q.text);
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            )
        })
        .collect();
    Json(json!({ "headers": headers, "text": text })).into_response()
}

/// The body of `refundOrder`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundRequest {
    amount_cents: u64,
    reason: String,
}

async fn refund_order(
    State(api): State<ExampleApi>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Some(id) = parse_id(&id) else {
        return failure(StatusCode::BAD_REQUEST, "order id must be an integer");
    };
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => {
            // A wrong content type keeps its 415; every other body problem is a plain 400.
            let status = match rejection {
                JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            let message = format!("invalid refund request: {}", rejection.body_text());
            return failure(status, &message);
        }
    };
    // serde would also accept a JSON array for a struct; the body must be an object.
    if !body.is_object() {
        return failure(
            StatusCode::BAD_REQUEST,
            "invalid refund request: the body must be a JSON object",
        );
    }
    let request = match serde_json::from_value::<RefundRequest>(body) {
        Ok(request) => request,
        Err(err) => {
            return failure(
                StatusCode::BAD_REQUEST,
                &format!("invalid refund request: {err}"),
            );
        }
    };
    if request.amount_cents < 1 {
        return failure(StatusCode::BAD_REQUEST, "`amount_cents` must be at least 1");
    }
    if request.reason.chars().count() > MAX_REASON_CHARS {
        return failure(
            StatusCode::BAD_REQUEST,
            "`reason` must be at most 500 characters",
        );
    }
    let outcome = api.store().refund(id, request.amount_cents);
    match outcome {
        Ok(refund) => Json(json!({
            "order_id": id,
            "refund_id": refund.refund_id,
            "amount_cents": refund.amount_cents,
            "status": "refunded",
        }))
        .into_response(),
        Err(RefundRefusal::UnknownOrder) => failure(StatusCode::NOT_FOUND, "order not found"),
        Err(RefundRefusal::ExceedsBalance { remaining_cents }) => failure(
            StatusCode::BAD_REQUEST,
            &format!("`amount_cents` exceeds the refundable balance of {remaining_cents} cents"),
        ),
    }
}

async fn delete_customer(State(api): State<ExampleApi>, Path(id): Path<String>) -> Response {
    let Some(id) = parse_id(&id) else {
        return failure(StatusCode::BAD_REQUEST, "customer id must be an integer");
    };
    if api.store().delete_customer(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        failure(StatusCode::NOT_FOUND, "customer not found")
    }
}
