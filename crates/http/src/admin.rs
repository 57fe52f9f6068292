//! The admin API: revocation of tokens and agents and signing-key rotation, on a listener of
//! its own.
//!
//! It is a separate router served on `admin.listen`, never merged into the agents' router, and
//! it has its own credential: a bearer secret from `admin.token`, compared in constant time.
//! Agents' access tokens are not accepted here. Every call, refused ones included, yields one
//! audit record (front `admin`); errors are problem+json like the rest of the HTTP surface.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portcullis_config::ConnectionLimits;
use portcullis_core::{Denial, DenialKind};
use portcullis_identity::{ChangeSource, RevocationError};
use portcullis_pipeline::{AdminAnswer, AdminDone, Gateway};
use portcullis_secrets::Secret;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{App, problem, read_json};

/// Paths of the admin API.
pub mod paths {
    /// `POST {"jti": "..."}`: revoke one token.
    pub const REVOKE_TOKEN: &str = "/admin/revocations/tokens";
    /// `POST {"agent": "..."}`: revoke every token an agent holds now.
    pub const REVOKE_AGENT: &str = "/admin/revocations/agents";
    /// `POST`: refuse an agent's tokens and token requests until enabled again.
    pub const DISABLE_AGENT: &str = "/admin/agents/{agent}/disable";
    /// `POST`: lift [`DISABLE_AGENT`].
    pub const ENABLE_AGENT: &str = "/admin/agents/{agent}/enable";
    /// `GET`: the signing keys in force.
    pub const KEYS: &str = "/admin/keys";
    /// `POST`: rotate the signing key now.
    pub const ROTATE_KEYS: &str = "/admin/keys/rotate";
    /// `POST {"user": "..."}`: revoke every interactive sign-in grant of a user.
    pub const REVOKE_GRANTS: &str = "/admin/revocations/grants";
    /// `GET [?status=pending&limit=N]`: held calls, newest first.
    pub const APPROVALS: &str = "/admin/approvals";
    /// `GET`: one held call, its redacted arguments and votes.
    pub const APPROVAL: &str = "/admin/approvals/{id}";
    /// `POST [{"reason": "..."}]`: approve (an approver's HTTP Basic credentials).
    pub const APPROVE: &str = "/admin/approvals/{id}/approve";
    /// `POST {"reason": "..."}`: deny (an approver's HTTP Basic credentials).
    pub const DENY: &str = "/admin/approvals/{id}/deny";
}

/// Largest admin request body; the bodies are one short JSON member.
const MAX_BODY_BYTES: usize = 4 * 1024;

#[derive(Clone)]
struct AdminState {
    gateway: Arc<Gateway>,
    token: Arc<Secret>,
}

/// Builds the admin application. `token` is the resolved `admin.token` and `connections` the
/// admin listener's limits (`admin.connections`); serve the result with [`crate::serve`] on its
/// own listener.
pub fn admin_app(gateway: Arc<Gateway>, token: Secret, connections: ConnectionLimits) -> App {
    let state = AdminState {
        gateway,
        token: Arc::new(token),
    };
    let router = Router::new()
        .route(paths::REVOKE_TOKEN, post(revoke_token))
        .route(paths::REVOKE_AGENT, post(revoke_agent))
        .route(paths::DISABLE_AGENT, post(disable_agent))
        .route(paths::ENABLE_AGENT, post(enable_agent))
        .route(paths::KEYS, get(list_keys))
        .route(paths::ROTATE_KEYS, post(rotate_keys))
        .route(paths::REVOKE_GRANTS, post(revoke_grants))
        .route(paths::APPROVALS, get(list_approvals))
        .route(paths::APPROVAL, get(show_approval))
        .route(paths::APPROVE, post(approve))
        .route(paths::DENY, post(deny))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    App {
        router,
        shutdown: CancellationToken::new(),
        tls: None,
        connections,
    }
}

/// Refuses any request without the admin credential, before routing reads its body. The
/// refusal is recorded and answered with a generic 401.
async fn authenticate(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if presented.is_some_and(|token| state.token.matches(token.as_bytes())) {
        return next.run(request).await;
    }
    // Approvers present their own credentials (HTTP Basic), which the approvals handlers check:
    // a decision must name a person, which the shared admin token does not.
    let basic = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    if basic && request.uri().path().starts_with(paths::APPROVALS) {
        return next.run(request).await;
    }
    let detail = if presented.is_some() {
        "wrong admin credential"
    } else {
        "no admin credential"
    };
    let denial = Denial::new(
        DenialKind::Unauthenticated,
        "a valid admin bearer credential is required",
    )
    .with_internal(detail);
    let action = format!("{} {}", request.method(), request.uri().path());
    let answer = state
        .gateway
        .admin(
            crate::client_ip(&request),
            &action,
            None,
            std::future::ready(Err(denial)),
        )
        .await;
    let unauthenticated = matches!(&answer.result, Err(d) if d.kind == DenialKind::Unauthenticated);
    let mut response = respond(answer);
    if unauthenticated {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="portcullis-admin""#),
        );
    }
    response
}

/// Who asks on the approvals routes: an approver (HTTP Basic, checked here) or the admin token
/// holder (let through by [`authenticate`]; may read, not decide).
enum Asker {
    Approver(String, Vec<String>),
    Admin,
}

/// The approver the request's HTTP Basic credentials name, or the admin token holder; a wrong
/// approver credential is refused.
async fn asker(
    state: &AdminState,
    headers: &axum::http::HeaderMap,
    peer: SocketAddr,
) -> Result<Asker, Denial> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_basic = authorization
        .trim()
        .split_once(' ')
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    if !is_basic {
        return Ok(Asker::Admin);
    }
    match state
        .gateway
        .authenticate_approver(authorization, Some(peer.ip()))
        .await
    {
        Some((id, groups)) => Ok(Asker::Approver(id, groups)),
        None => Err(Denial::new(
            DenialKind::Unauthenticated,
            "unknown approver or wrong secret",
        )
        .with_internal("approver authentication failed")),
    }
}

/// `GET /admin/approvals[?status=...&limit=N]`.
async fn list_approvals(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let asker = asker(&state, &headers, peer).await;
    let gateway = Arc::clone(&state.gateway);
    let op = async move {
        asker?;
        let mut status = None;
        let mut limit = 100u32;
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "status" => status = Some(value.into_owned()),
                "limit" => {
                    limit = value.parse().map_err(|_| {
                        Denial::new(DenialKind::InvalidArguments, "`limit` must be a number")
                    })?;
                }
                _ => {}
            }
        }
        let list = gateway.list_approvals(status.as_deref(), limit).await?;
        Ok(AdminDone {
            done: format!("listed {}", list.len()),
            body: json!({"approvals": list}),
            target: None,
        })
    };
    run(&state, peer, "list approvals", None, op).await
}

/// `GET /admin/approvals/{id}`.
async fn show_approval(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let asker = asker(&state, &headers, peer).await;
    let gateway = Arc::clone(&state.gateway);
    let target = Some(id.clone());
    let op = async move {
        asker?;
        let body = gateway.show_approval(&id).await?;
        Ok(AdminDone {
            done: "shown".to_owned(),
            body,
            target: None,
        })
    };
    run(&state, peer, "show approval", target, op).await
}

/// `POST /admin/approvals/{id}/approve [{"reason": "..."}]`.
async fn approve(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    decide(state, peer, headers, id, body, true).await
}

/// `POST /admin/approvals/{id}/deny {"reason": "..."}`.
async fn deny(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    decide(state, peer, headers, id, body, false).await
}

async fn decide(
    state: AdminState,
    peer: SocketAddr,
    headers: axum::http::HeaderMap,
    id: String,
    body: Body,
    approve: bool,
) -> Response {
    let action = if approve {
        "approve approval"
    } else {
        "deny approval"
    };
    let asker = asker(&state, &headers, peer).await;
    let reason = optional_reason(body).await;
    let gateway = Arc::clone(&state.gateway);
    let target = Some(id.clone());
    let op = async move {
        let Asker::Approver(approver, groups) = asker? else {
            return Err(Denial::new(
                DenialKind::Forbidden,
                "a decision must name a person: authenticate as an approver (HTTP Basic with the approver's id and secret), not with the admin token",
            ));
        };
        let reason = reason?;
        if !approve && reason.is_none() {
            return Err(Denial::new(
                DenialKind::InvalidArguments,
                "a denial needs a `reason` the agent can act on",
            ));
        }
        let body = gateway
            .decide_approval(&id, &approver, &groups, approve, reason.clone())
            .await?;
        let status = body["status"].as_str().unwrap_or_default().to_owned();
        let mut done = format!(
            "{} by {approver}, now {status}",
            if approve { "approved" } else { "denied" }
        );
        if let Some(reason) = reason {
            done.push_str(&format!(
                "; reason: {}",
                portcullis_core::truncate_for_message(&reason, 256)
            ));
        }
        Ok(AdminDone {
            done,
            body,
            target: None,
        })
    };
    run(&state, peer, action, target, op).await
}

/// The optional `reason` member of a decision's body (an empty body is no reason).
async fn optional_reason(body: Body) -> Result<Option<String>, Denial> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Denial::new(DenialKind::TooLarge, "the body is too large"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Denial::new(
            DenialKind::InvalidArguments,
            format!("the body must be a JSON object: {e}"),
        )
    })?;
    match value.get("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= 1000 => {
            Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
        }
        _ => Err(Denial::new(
            DenialKind::InvalidArguments,
            "`reason` must be a string of at most 1000 characters",
        )),
    }
}

/// `POST /admin/revocations/tokens {"jti": "..."}`.
async fn revoke_token(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    let jti = member(body, "jti").await;
    let target = jti.as_ref().ok().cloned();
    let gateway = Arc::clone(&state.gateway);
    let op = async move {
        let jti = jti?;
        let new = gateway
            .identity()
            .revoke_token(&jti, ChangeSource::AdminApi)
            .await
            .map_err(refusal)?;
        let done = if new { "revoked" } else { "already revoked" };
        Ok(AdminDone {
            done: done.to_owned(),
            body: json!({"jti": jti, "revoked": true}),
            target: None,
        })
    };
    run(&state, peer, "revoke token", target, op).await
}

/// `POST /admin/revocations/agents {"agent": "..."}`.
async fn revoke_agent(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    let agent = member(body, "agent").await;
    let target = agent.as_ref().ok().cloned();
    let gateway = Arc::clone(&state.gateway);
    let op = async move {
        let agent = agent?;
        let cut_off = gateway
            .identity()
            .revoke_agent(&agent, ChangeSource::AdminApi)
            .await
            .map_err(refusal)?;
        Ok(AdminDone {
            done: "revoked every token issued so far".to_owned(),
            body: json!({
                "agent": agent,
                "tokens_issued_until": cut_off.div_euclid(1000),
                "tokens_issued_until_ms": cut_off,
            }),
            target: None,
        })
    };
    run(&state, peer, "revoke agent tokens", target, op).await
}

/// `POST /admin/revocations/grants {"user": "..."}`: every grant the user gave interactive
/// clients, their refresh tokens and the last access token of each.
async fn revoke_grants(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    let user = member(body, "user").await;
    let target = user.as_ref().ok().cloned();
    let gateway = Arc::clone(&state.gateway);
    let op = async move {
        let user = user?;
        let Some(sign_in) = gateway.sign_in() else {
            return Err(Denial::new(
                DenialKind::NotFound,
                "interactive sign-in is not configured (`sign_in`)",
            ));
        };
        let revoked = sign_in.revoke_user(&user).await.map_err(|err| {
            tracing::error!(%err, "cannot revoke grants");
            Denial::new(DenialKind::Internal, "the grant store could not be changed")
        })?;
        Ok(AdminDone {
            done: format!("revoked {} grant(s)", revoked.len()),
            body: json!({
                "user": user,
                "revoked": revoked.iter().map(|g| json!({"grant": g.id, "client_id": g.client_id})).collect::<Vec<_>>(),
            }),
            target: None,
        })
    };
    run(&state, peer, "revoke user grants", target, op).await
}

/// `POST /admin/agents/{agent}/disable`.
async fn disable_agent(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(agent): Path<String>,
) -> Response {
    set_disabled(state, peer, agent, true).await
}

/// `POST /admin/agents/{agent}/enable`.
async fn enable_agent(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(agent): Path<String>,
) -> Response {
    set_disabled(state, peer, agent, false).await
}

async fn set_disabled(
    state: AdminState,
    peer: SocketAddr,
    agent: String,
    disabled: bool,
) -> Response {
    let action = if disabled {
        "disable agent"
    } else {
        "enable agent"
    };
    let target = Some(agent.clone());
    let gateway = Arc::clone(&state.gateway);
    let op = async move {
        let changed = gateway
            .identity()
            .set_agent_disabled(&agent, disabled, ChangeSource::AdminApi)
            .await
            .map_err(refusal)?;
        let done = match (disabled, changed) {
            (true, true) => "disabled",
            (true, false) => "already disabled",
            (false, true) => "enabled",
            (false, false) => "already enabled",
        };
        Ok(AdminDone {
            done: done.to_owned(),
            body: json!({"agent": agent, "disabled": disabled}),
            target: None,
        })
    };
    run(&state, peer, action, target, op).await
}

/// `GET /admin/keys`: the keys in force, oldest first; the last one signs new tokens.
async fn list_keys(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let keys = state.gateway.identity().keys();
    let op = std::future::ready(Ok(AdminDone {
        done: "listed".to_owned(),
        body: json!({"keys": keys}),
        target: None,
    }));
    run(&state, peer, "list keys", None, op).await
}

/// `POST /admin/keys/rotate`: a new current key; previous keys stay in force for their window.
async fn rotate_keys(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let gateway = Arc::clone(&state.gateway);
    let op = async move {
        // Key generation and file writes: off the request threads.
        let rotated = tokio::task::spawn_blocking(move || gateway.identity().rotate_keys()).await;
        let failed = |detail: String| {
            Denial::new(DenialKind::Internal, "the key could not be rotated").with_internal(detail)
        };
        let key = match rotated {
            Ok(Ok(key)) => key,
            Ok(Err(err)) => {
                tracing::error!(%err, "key rotation failed");
                return Err(failed(err.to_string()));
            }
            Err(err) => return Err(failed(err.to_string())),
        };
        let body = json!({"key": key});
        let kid = body["key"]["kid"].as_str().map(str::to_owned);
        Ok(AdminDone {
            done: "rotated".to_owned(),
            body,
            target: kid,
        })
    };
    run(&state, peer, "rotate keys", None, op).await
}

/// Runs `op` as the admin action `action` on `target` through the pipeline, which records it,
/// and answers.
async fn run<F>(
    state: &AdminState,
    peer: SocketAddr,
    action: &str,
    target: Option<String>,
    op: F,
) -> Response
where
    F: std::future::Future<Output = Result<AdminDone, Denial>> + Send + 'static,
{
    respond(
        state
            .gateway
            .admin(Some(peer.ip()), action, target, op)
            .await,
    )
}

/// The admin API's answer: 200 with the body, or the denial as problem+json (an internal error
/// when the request could not be recorded, even if the change was made).
fn respond(answer: AdminAnswer) -> Response {
    match answer.result {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(denial) => problem(&denial, &answer.meta),
    }
}

/// The one string member `name` of a JSON object body.
async fn member(body: Body, name: &str) -> Result<String, Denial> {
    let value = read_json(body, MAX_BODY_BYTES).await?;
    match value.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
        _ => Err(Denial::new(
            DenialKind::InvalidArguments,
            format!("the body must be a JSON object with a non-empty string `{name}`"),
        )),
    }
}

/// A store error as the admin caller's answer.
fn refusal(err: RevocationError) -> Denial {
    match err {
        RevocationError::InvalidJti | RevocationError::UnknownAgent(_) => {
            Denial::new(DenialKind::InvalidArguments, err.to_string())
        }
        other => {
            tracing::error!(err = %other, "admin change failed");
            Denial::new(DenialKind::Internal, "the change could not be stored")
                .with_internal(other.to_string())
        }
    }
}
