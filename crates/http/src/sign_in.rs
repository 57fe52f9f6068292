//! The pages and endpoints of interactive sign-in: `GET /oauth/authorize` (the sign-in form),
//! `POST /oauth/authorize/sign-in`, `POST /oauth/authorize/consent` and `POST /oauth/register`
//! (RFC 7591). The decisions are made by `SignIn` in the identity crate; every step is recorded
//! through `Gateway::sign_in_step`.
//!
//! The pages are rendered here from the binary: no external asset, no script, a strict
//! Content-Security-Policy (one hashed stylesheet, forms only to this server and to the
//! client's redirect URI), `no-store`, no framing, no referrer. Each form carries the pending
//! request's id and a CSRF token that must also come back in a `SameSite=Strict` cookie.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use portcullis_identity::sign_in::{Page, Refusal, SignIn};
use portcullis_pipeline::{Refused, SignInStep};
use serde_json::Value;

use crate::{AppState, paths, problem, read_body};

/// The cookie that carries the CSRF token of the sign-in forms.
const CSRF_COOKIE: &str = "portcullis_signin";
/// The cookie that ties the identity provider's redirect back to the browser that left
/// (`SameSite=Lax`: that redirect is a cross-site navigation).
const UPSTREAM_COOKIE: &str = "portcullis_upstream";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.notice{color:#a00}code{background:#eee;padding:0 .2rem}ul{padding-left:1.2rem}";

/// The CSP source of the stylesheet.
static STYLE_HASH: LazyLock<String> = LazyLock::new(|| {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, STYLE.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
});

fn sign_in_of(state: &AppState) -> Option<Arc<SignIn>> {
    state.gateway.sign_in().cloned()
}

/// `GET /oauth/authorize`.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(sign_in) = sign_in_of(&state) else {
        return not_enabled();
    };
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let client = query
        .iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| portcullis_core::truncate_for_message(v, 128));
    let secure = state.base_url.starts_with("https:");
    let step = state
        .gateway
        .sign_in_step(Some(peer.ip()), "authorization request", async move {
            let result = sign_in.authorize(&query).await;
            SignInStep {
                client,
                user: None,
                error: result.as_ref().err().map(Refusal::code),
                value: result,
            }
        })
        .await;
    match step {
        Ok(Ok(page)) => sign_in_page(&page, secure),
        Ok(Err(refusal)) => refusal_response(refusal),
        Err(Refused { denial, meta }) => problem(&denial, &meta),
    }
}

/// The fields of a form post, each once.
async fn form(body: Body, limit: usize) -> Option<Vec<(String, String)>> {
    let bytes = read_body(body, limit).await.ok()?;
    Some(
        url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = form.iter().filter(|(k, _)| k == name);
    let first = values.next()?;
    values.next().is_none().then_some(first.1.as_str())
}

fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, CSRF_COOKIE)
}

/// What every form post of the sign-in pages starts with: the sign-in server (404 when sign-in
/// is off), the form's fields (an error page when unreadable) and the CSRF cookie.
async fn posted_form(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Arc<SignIn>, Vec<(String, String)>, Option<String>), Response> {
    let Some(server) = sign_in_of(state) else {
        return Err(not_enabled());
    };
    let Some(form) = form(body, state.max_body_bytes).await else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "The form could not be read.",
        ));
    };
    Ok((server, form, csrf_cookie(headers)))
}

/// Appends a `Set-Cookie` for `name=value` (`HttpOnly`, `Secure` under TLS).
fn set_cookie(
    response: &mut Response,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: u32,
    secure: bool,
) {
    let cookie = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn named_cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_owned())
}

/// `POST /oauth/authorize/upstream`: the sign-in page's button for the organization's
/// identity provider. Redirects there, with the binding cookie.
pub(crate) async fn start_upstream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (server, form, cookie) = match posted_form(&state, &headers, body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let secure = state.base_url.starts_with("https:");
    let step = state
        .gateway
        .sign_in_step(Some(peer.ip()), "sent to identity provider", async move {
            let request = field(&form, "request").unwrap_or_default();
            let client = server.pending_client(request);
            let result = server
                .start_upstream(request, field(&form, "csrf"), cookie.as_deref())
                .await;
            SignInStep {
                client,
                user: None,
                error: result.as_ref().err().map(Refusal::code),
                value: result,
            }
        })
        .await;
    match step {
        Ok(Ok(start)) => {
            let mut response = redirect(&start.location);
            set_cookie(
                &mut response,
                UPSTREAM_COOKIE,
                &start.binding,
                paths::CALLBACK,
                "Lax",
                600,
                secure,
            );
            response
        }
        Ok(Err(refusal)) => refusal_response(refusal),
        Err(Refused { denial, meta }) => problem(&denial, &meta),
    }
}

/// `GET /oauth/callback`: the identity provider sends the browser back; the consent page
/// follows.
pub(crate) async fn callback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(server) = sign_in_of(&state) else {
        return not_enabled();
    };
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let binding = named_cookie(&headers, UPSTREAM_COOKIE);
    let secure = state.base_url.starts_with("https:");
    let step = state
        .gateway
        .sign_in_step(
            Some(peer.ip()),
            "signed in at identity provider",
            async move {
                let result = server.finish_upstream(&query, binding.as_deref()).await;
                SignInStep {
                    client: result.as_ref().ok().map(|(page, _)| page.client.id.clone()),
                    user: result.as_ref().ok().map(|(_, user)| user.clone()),
                    error: result.as_ref().err().map(Refusal::code),
                    value: result.map(|(page, _)| page),
                }
            },
        )
        .await;
    let mut response = match step {
        Ok(Ok(page)) => consent_page(&page, secure),
        Ok(Err(refusal)) => refusal_response(refusal),
        Err(Refused { denial, meta }) => problem(&denial, &meta),
    };
    // The binding is used up either way.
    set_cookie(
        &mut response,
        UPSTREAM_COOKIE,
        "",
        paths::CALLBACK,
        "Lax",
        0,
        secure,
    );
    response
}

/// `POST /oauth/authorize/sign-in`.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (server, form, cookie) = match posted_form(&state, &headers, body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let secure = state.base_url.starts_with("https:");
    let ip = peer.ip();
    let step = state
        .gateway
        .sign_in_step(Some(ip), "signed in", async move {
            let request = field(&form, "request").unwrap_or_default();
            let client = server.pending_client(request);
            let result = server
                .sign_in(
                    request,
                    field(&form, "csrf"),
                    cookie.as_deref(),
                    field(&form, "username").unwrap_or_default(),
                    field(&form, "password").unwrap_or_default(),
                    Some(ip),
                )
                .await;
            let (error, user) = match &result {
                Ok((_, Some(user))) => (None, Some(user.clone())),
                Ok((_, None)) => (Some("access_denied"), None),
                Err(refusal) => (Some(refusal.code()), None),
            };
            SignInStep {
                client,
                user,
                error,
                value: result.map(|(page, _)| page),
            }
        })
        .await;
    match step {
        Ok(Ok(page)) if page.user.is_some() => consent_page(&page, secure),
        Ok(Ok(page)) => sign_in_page(&page, secure),
        Ok(Err(refusal)) => refusal_response(refusal),
        Err(Refused { denial, meta }) => problem(&denial, &meta),
    }
}

/// `POST /oauth/authorize/consent`.
pub(crate) async fn consent(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (server, form, cookie) = match posted_form(&state, &headers, body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let step = state
        .gateway
        .sign_in_step(Some(peer.ip()), "consent given", async move {
            let request = field(&form, "request").unwrap_or_default();
            let client = server.pending_client(request);
            let approve = field(&form, "decision") == Some("approve");
            let result = server.consent(request, field(&form, "csrf"), cookie.as_deref(), approve);
            match result {
                Ok((location, user, client)) => SignInStep {
                    client: Some(client),
                    user: Some(user),
                    error: None,
                    value: Ok(location),
                },
                Err(refusal) => SignInStep {
                    client,
                    user: None,
                    error: Some(refusal.code()),
                    value: Err(refusal),
                },
            }
        })
        .await;
    match step {
        Ok(Ok(location)) => redirect(&location),
        Ok(Err(refusal)) => refusal_response(refusal),
        Err(Refused { denial, meta }) => problem(&denial, &meta),
    }
}

/// `POST /oauth/register` (RFC 7591).
pub(crate) async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    let Some(server) = sign_in_of(&state).filter(|s| s.config().dynamic_registration) else {
        return crate::not_found_response();
    };
    let body: Option<Value> = match read_body(body, state.max_body_bytes).await {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(_) => None,
    };
    let step = state
        .gateway
        .sign_in_step(Some(peer.ip()), "client registered", async move {
            let result = match body {
                Some(body) => server.register(&body, Some(peer.ip())).await,
                None => Err(portcullis_identity::OAuthError {
                    error: "invalid_client_metadata",
                    ..portcullis_identity::OAuthError::invalid_request(
                        "the registration request must be a JSON object",
                    )
                }),
            };
            SignInStep {
                client: result
                    .as_ref()
                    .ok()
                    .and_then(|info| info["client_id"].as_str().map(str::to_owned)),
                user: None,
                error: result.as_ref().err().map(|e| e.error),
                value: result,
            }
        })
        .await;
    let mut response = match step {
        Ok(Ok(info)) => (StatusCode::CREATED, axum::Json(info)).into_response(),
        Ok(Err(err)) => {
            let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = (status, axum::Json(&err)).into_response();
            if let Some(wait) = err.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            }
            response
        }
        Err(Refused { denial, meta }) => return problem(&denial, &meta),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_enabled() -> Response {
    crate::not_found_response()
}

fn refusal_response(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page { description, .. } => error_page(StatusCode::BAD_REQUEST, &description),
        Refusal::Redirect { location, .. } => redirect(&location),
        Refusal::Throttled { retry_after } => {
            let mut response = error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins. Wait a moment and try again.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            response
        }
    }
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "The redirect URI is not usable."),
    }
    secure_headers(&mut response, None);
    response
}

/// Escapes text for HTML element content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The CSP source that lets a form's answer redirect to `redirect_uri`.
fn redirect_source(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

fn secure_headers(response: &mut Response, redirect_uri: Option<&str>) {
    let form_action = redirect_uri
        .and_then(redirect_source)
        .map_or_else(|| "'self'".to_owned(), |source| format!("'self' {source}"));
    let csp = format!(
        "default-src 'none'; style-src {}; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
        *STYLE_HASH
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn html(status: StatusCode, title: &str, body: &str, redirect_uri: Option<&str>) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        title = escape(title)
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response();
    secure_headers(&mut response, redirect_uri);
    response
}

fn error_page(status: StatusCode, message: &str) -> Response {
    html(
        status,
        "Sign-in failed",
        &format!("<h1>Sign-in failed</h1><p>{}</p>", escape(message)),
        None,
    )
}

fn with_cookie(mut response: Response, csrf: &str, secure: bool) -> Response {
    set_cookie(
        &mut response,
        CSRF_COOKIE,
        csrf,
        paths::AUTHORIZE,
        "Strict",
        600,
        secure,
    );
    response
}

fn sign_in_page(page: &Page, secure: bool) -> Response {
    let notice = page
        .notice
        .as_deref()
        .map(|n| format!("<p class=\"notice\" role=\"alert\">{}</p>", escape(n)))
        .unwrap_or_default();
    let hidden = format!(
        "<input type=\"hidden\" name=\"request\" value=\"{request}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">",
        request = escape(&page.request),
        csrf = escape(&page.csrf),
    );
    let upstream = page
        .upstream
        .as_ref()
        .map(|button| {
            format!(
                "<form method=\"post\" action=\"{action}\">{hidden}<button type=\"submit\">Sign in with {label}</button></form>",
                action = paths::UPSTREAM,
                label = escape(&button.label),
            )
        })
        .unwrap_or_default();
    let password = if page.password_form {
        format!(
            "{or}<form method=\"post\" action=\"{action}\">{hidden}\
<label for=\"username\">User name</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>",
            or = if upstream.is_empty() {
                ""
            } else {
                "<p>Or with a local account:</p>"
            },
            action = paths::SIGN_IN,
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Sign in</h1><p><strong>{client}</strong> wants to use the tools of this gateway on your behalf.</p>{notice}{upstream}{password}",
        client = escape(&page.client.name),
    );
    let status = if page.notice.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    // The provider button's form answers with a redirect to the provider.
    let provider = page.upstream.as_ref().and_then(|b| b.origin.as_deref());
    with_cookie(html(status, "Sign in", &body, provider), &page.csrf, secure)
}

fn consent_page(page: &Page, secure: bool) -> Response {
    let list = |items: &[String]| {
        if items.is_empty() {
            "<p>(none)</p>".to_owned()
        } else {
            format!(
                "<ul>{}</ul>",
                items
                    .iter()
                    .map(|i| format!("<li><code>{}</code></li>", escape(i)))
                    .collect::<String>()
            )
        }
    };
    let body = format!(
        "<h1>Allow access?</h1><p>Signed in as <strong>{user}</strong>.</p>\
<p><strong>{client}</strong> (<code>{client_id}</code>) asks to act for you with these scopes:</p>{scopes}\
<p>They reach these tools:</p>{tools}<p>After you answer, you go back to <code>{redirect}</code>.</p>\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"request\" value=\"{request}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        user = escape(page.user.as_deref().unwrap_or_default()),
        client = escape(&page.client.name),
        client_id = escape(&page.client.id),
        scopes = list(&page.scopes),
        tools = list(&page.tools),
        redirect = escape(&page.redirect_uri),
        action = paths::CONSENT,
        request = escape(&page.request),
        csrf = escape(&page.csrf),
    );
    with_cookie(
        html(
            StatusCode::OK,
            "Allow access?",
            &body,
            Some(&page.redirect_uri),
        ),
        &page.csrf,
        secure,
    )
}
