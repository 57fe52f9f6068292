//! The quickstart's orders API: a small, real HTTP upstream for `portcullis demo` and the tests.
//!
//! It serves 100 orders and 20 customers generated from their ids alone (no randomness, so every
//! run and every test sees the same data), requires a bearer token on every route but
//! `/health`, and carries the sensitive fields a gateway must protect: customer e-mail, phone
//! and a Luhn-valid test card number.
//!
//! Design decision: the API observes every request *before* authenticating it. Tests use
//! [`ExampleApi::requests_seen`] and [`ExampleApi::last_request`] to prove what reached the
//! upstream: that a denied call sent nothing, that the gateway injected the upstream
//! credential, and that the agent's own token never arrived.

mod data;
mod routes;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::data::Store;

/// Largest request body the API reads, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A handle to one orders API instance. Clones share the same data and counters.
#[derive(Clone)]
pub struct ExampleApi {
    inner: Arc<Inner>,
}

struct Inner {
    /// The bearer token every request must carry. Empty means nothing is accepted.
    token: String,
    store: Mutex<Store>,
    requests_seen: AtomicU64,
    last_request: Mutex<Option<SeenRequest>>,
}

/// One request as the API received it, before authentication.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SeenRequest {
    /// The method, uppercase (`GET`).
    pub method: String,
    /// Path and query string, such as `/orders?status=placed`.
    pub path: String,
    /// Every header by lowercase name; values decoded lossily as UTF-8. A header sent more
    /// than once has its values joined with `, `, as HTTP allows.
    pub headers: BTreeMap<String, String>,
    /// The raw body (empty when none was sent or it could not be read).
    pub body: Vec<u8>,
}

impl SeenRequest {
    /// A header's value; `name` is matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body parsed as JSON, or `None` when it is empty or not JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl fmt::Debug for ExampleApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // INVARIANT: the token is never formatted.
        f.debug_struct("ExampleApi")
            .field("requests_seen", &self.requests_seen())
            .finish_non_exhaustive()
    }
}

impl ExampleApi {
    /// An API requiring `token` as `Authorization: Bearer <token>` on every request except
    /// `/health`; a wrong or missing token is answered with 401 JSON. The comparison runs in
    /// constant time for tokens of equal length. An empty `token` accepts no request.
    pub fn new(token: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                token,
                store: Mutex::new(Store::generate()),
                requests_seen: AtomicU64::new(0),
                last_request: Mutex::new(None),
            }),
        }
    }

    /// The axum router: `GET /health`, `GET /orders`, `GET /orders/{id}`,
    /// `POST /orders/{id}/refund` and `DELETE /customers/{id}`.
    pub fn router(&self) -> Router {
        routes::router(self.clone()).layer(middleware::from_fn_with_state(
            self.clone(),
            observe_and_authenticate,
        ))
    }

    /// Serves on an already-bound listener until the future is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Number of requests received, authorized or not, `/health` included.
    pub fn requests_seen(&self) -> u64 {
        self.inner.requests_seen.load(Ordering::SeqCst)
    }

    /// The last request received, authorized or not.
    pub fn last_request(&self) -> Option<SeenRequest> {
        lock(&self.inner.last_request).clone()
    }

    /// Whether `deleteCustomer` has erased the customer with this id.
    pub fn customer_deleted(&self, id: u64) -> bool {
        self.store().customer_deleted(id)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected = self.inner.token.as_bytes();
        if expected.is_empty() {
            return false;
        }
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            // Missing, or ambiguous because sent twice.
            return false;
        };
        let value = value.as_bytes();
        let Some((scheme, token)) = value.split_first_chunk::<7>() else {
            return false;
        };
        // INVARIANT: the token comparison is constant-time; only its length may leak.
        scheme.eq_ignore_ascii_case(b"bearer ") && bool::from(token.ct_eq(expected))
    }
}

/// Locks a mutex, recovering the data if a panicking holder poisoned it: every critical
/// section here leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The headers as a map of lowercase names (`http` keeps names lowercase) to joined values.
fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        map.insert(name.as_str().to_owned(), values.join(", "));
    }
    map
}

/// Counts and records the request, then refuses it with 401 unless it carries the token or is a
/// health check.
async fn observe_and_authenticate(
    State(api): State<ExampleApi>,
    request: Request,
    next: Next,
) -> Response {
    api.inner.requests_seen.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY_BYTES).await;
    let seen = SeenRequest {
        method: parts.method.as_str().to_owned(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: header_map(&parts.headers),
        body: body.as_ref().map(|b| b.to_vec()).unwrap_or_default(),
    };
    *lock(&api.inner.last_request) = Some(seen);

    if parts.uri.path() != "/health" && !api.authorized(&parts.headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"orders\"")],
            routes::error_body("missing or invalid bearer token"),
        )
            .into_response();
    }
    let Ok(body) = body else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            routes::error_body("request body unreadable or larger than 1 MiB"),
        )
            .into_response();
    };
    next.run(Request::from_parts(parts, Body::from(body))).await
}

#[cfg(test)]
mod tests;
