//! The shared vocabulary of Portcullis: who is calling ([`Principal`]), what they asked for
//! ([`CallMeta`], tool name and arguments), what the gateway decided ([`Denial`], [`Outcome`])
//! and what gets recorded ([`AuditEvent`]).
//!
//! Design decision: this crate does no IO and holds no secrets. Every other crate speaks in these
//! types, so a stage can be added to the pipeline without teaching the fronts or the audit log a
//! new dialect.

use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The front end a call arrived through.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Front {
    /// The HTTP tools API (`/v1/tools`).
    Http,
    /// MCP Streamable HTTP (`/mcp`).
    Mcp,
    /// The OAuth token endpoint.
    Token,
    /// The admin API (revocation, key rotation).
    Admin,
}

impl Front {
    /// The lowercase name used in audit records and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Mcp => "mcp",
            Self::Token => "token",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Front {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller, produced by the identify stage from a verified access token.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// The agent (service account) id: the token's `client_id`.
    pub agent: String,
    /// The token subject; equal to `agent` unless the agent acts for a user.
    pub subject: String,
    /// Roles the agent holds; each becomes a parent `Role` entity in Cedar.
    pub roles: Vec<String>,
    /// OAuth scopes granted to the token.
    pub scopes: Vec<String>,
    /// The token id (`jti`).
    pub token_id: String,
    /// Issued-at, seconds since the Unix epoch.
    pub issued_at: i64,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: i64,
    /// The user the agent acts for (token exchange, or a user's token from a trusted external
    /// issuer); `None` when the agent acts as itself.
    pub user: Option<ActingUser>,
    /// The agents earlier in a delegation chain, nearest first (the nested `act` claims below
    /// the current agent). Empty unless a delegated token was exchanged again.
    pub actors: Vec<String>,
    /// For a certificate-bound token (RFC 8705), the base64url SHA-256 thumbprint of the client
    /// certificate it is bound to (`cnf.x5t#S256`); the token is good only on a connection
    /// that presented that certificate.
    pub certificate_thumbprint: Option<String>,
    /// The token's audience is only the MCP endpoint (an interactive client's token, RFC
    /// 8707): it is accepted on the MCP front only.
    pub mcp_only: bool,
}

/// What the gateway reads from a verified TLS client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The base64url (no padding) SHA-256 of the certificate's DER: RFC 8705's `x5t#S256`.
    pub thumbprint: String,
    /// The subject distinguished name in RFC 4514 form (`CN=agent-1,O=Example`).
    pub subject: String,
    /// The URI subject alternative names (a SPIFFE id is one of them).
    pub uris: Vec<String>,
}

/// The user an agent acts for, as the token names them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ActingUser {
    /// The user id (the subject token's mapped user claim).
    pub id: String,
    /// The issuer that authenticated the user.
    pub issuer: String,
    /// The user's tenant; empty when the issuer names none.
    pub tenant: String,
    /// The user's groups or roles at that issuer.
    pub groups: Vec<String>,
}

/// Facts about one request that do not depend on who sent it, minted once when the request
/// arrives (the pipeline's identify stage for tool calls) and carried to its audit record.
#[derive(Clone, Copy, Debug)]
pub struct CallMeta {
    /// A fresh id per request (UUID v7, so ids sort by time).
    pub request_id: uuid::Uuid,
    /// The peer address of the connection.
    pub client_ip: Option<IpAddr>,
    /// Which front end received the call.
    pub front: Front,
    /// When the gateway received the request.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The same moment on the monotonic clock, from which the record's latency is measured.
    pub started: Instant,
}

impl CallMeta {
    /// Metadata for a request received now.
    pub fn now(front: Front, client_ip: Option<IpAddr>) -> Self {
        Self {
            request_id: uuid::Uuid::now_v7(),
            client_ip,
            front,
            received_at: chrono::Utc::now(),
            started: Instant::now(),
        }
    }

    /// Microseconds since the request arrived.
    pub fn elapsed_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// A request that passed the identify stage: who sent it and the request's metadata. The
/// fronts keep it with the request (the HTTP request's extensions) and hand it to the pipeline
/// with the call.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The authenticated caller.
    pub principal: std::sync::Arc<Principal>,
    /// The request, as identify minted it.
    pub meta: CallMeta,
}

/// The SHA-256 (hex) of the canonical JSON of a call's arguments: what the audit record keeps
/// instead of the arguments, and what binds a decision to the exact arguments it was made on.
#[derive(Clone, Debug, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ArgsDigest(String);

impl ArgsDigest {
    /// The digest of `value`; object key order does not matter.
    pub fn of(value: &Value) -> Self {
        use sha2::Digest as _;
        Self(hex::encode(sha2::Sha256::digest(
            canonical_json(value).as_bytes(),
        )))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArgsDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A call's arguments as the caller sent them, with their digest computed once. Immutable:
/// nothing can change the arguments after the digest was taken, so a decision bound to the
/// digest is bound to exactly these arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct CallArgs {
    value: Value,
    digest: ArgsDigest,
}

impl CallArgs {
    /// Takes the arguments as received (any JSON value: the validate stage refuses all but
    /// objects) and digests them.
    pub fn new(value: Value) -> Self {
        let digest = ArgsDigest::of(&value);
        Self { value, digest }
    }

    /// The arguments as received.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The arguments as an object, when they are one.
    pub fn object(&self) -> Option<&Arguments> {
        self.value.as_object()
    }

    /// Their digest.
    pub fn digest(&self) -> &ArgsDigest {
        &self.digest
    }
}

/// Tool arguments: always a JSON object.
pub type Arguments = Map<String, Value>;

/// Why a call was refused. Every variant maps to one answer per front; see [`Denial::status`].
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialKind {
    /// No valid access token.
    Unauthenticated,
    /// The tool does not exist, or the caller may not see it; the two are indistinguishable.
    UnknownTool,
    /// The arguments failed schema validation or input limits.
    InvalidArguments,
    /// The token lacks a scope the tool requires (`tools[].scopes`); a token with more scope
    /// may succeed (RFC 6750 `insufficient_scope`, the step-up signal of MCP authorization).
    InsufficientScope,
    /// Authorization denied the call.
    Forbidden,
    /// The upstream could not be reached or failed; not the caller's fault.
    UpstreamFailure,
    /// The egress guard refused the destination.
    EgressBlocked,
    /// A rate limit, quota or concurrency cap refused the call; [`Denial::rate_limit`] says
    /// which and when to retry.
    RateLimited,
    /// The same call (principal, tool, arguments) was repeated too often in a short window.
    Loop,
    /// Argument inspection found injection in the arguments (`guards.inspect`, block mode).
    GuardBlocked,
    /// Response filtering withheld the upstream's answer (DLP or prompt-injection scan).
    ResponseWithheld,
    /// The gateway itself failed (audit unavailable, misconfiguration found at run time).
    Internal,
    /// The request could not be read as what the front expects (a malformed JSON-RPC message,
    /// an unreadable body, a JSON-RPC id still in flight, a malformed `Host`).
    BadRequest,
    /// The request body exceeds the configured limit.
    TooLarge,
    /// The request's `Host` or `Origin` is not on the allowlist (DNS rebinding, cross-site
    /// browser calls).
    OriginRefused,
    /// The gateway is at a capacity limit (open MCP sessions); retry later.
    Overloaded,
    /// The request body did not arrive within the listener's body timeout.
    TimedOut,
    /// No such endpoint.
    NotFound,
    /// The call needs a person's approval, which has not been given yet: it was not run. The
    /// approval id, its expiry and where to poll are in [`Denial::approval`]; repeating the
    /// identical call after the approval runs it once.
    ApprovalPending,
    /// The call needed a person's approval and an approver refused it (or it expired before
    /// anyone decided); the message carries the approver's reason.
    ApprovalDenied,
}

impl DenialKind {
    /// The short machine-readable code sent to agents and stored in audit records.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::UnknownTool => "unknown_tool",
            Self::InvalidArguments => "invalid_arguments",
            Self::InsufficientScope => "insufficient_scope",
            Self::Forbidden => "forbidden",
            Self::UpstreamFailure => "upstream_failure",
            Self::EgressBlocked => "egress_blocked",
            Self::RateLimited => "rate_limited",
            Self::Loop => "loop",
            Self::GuardBlocked => "guard_blocked",
            Self::ResponseWithheld => "response_withheld",
            Self::Internal => "internal",
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::OriginRefused => "origin_refused",
            Self::Overloaded => "overloaded",
            Self::TimedOut => "timed_out",
            Self::NotFound => "not_found",
            Self::ApprovalPending => "approval_pending",
            Self::ApprovalDenied => "approval_denied",
        }
    }

    /// The HTTP status used by the HTTP front for this kind of refusal.
    pub fn status(self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::UnknownTool => 404,
            Self::InvalidArguments => 422,
            Self::InsufficientScope => 403,
            Self::Forbidden => 403,
            Self::UpstreamFailure => 502,
            Self::EgressBlocked => 502,
            Self::RateLimited | Self::Loop => 429,
            Self::GuardBlocked => 422,
            Self::ResponseWithheld => 403,
            Self::Internal => 500,
            Self::BadRequest => 400,
            Self::TooLarge => 413,
            Self::OriginRefused => 403,
            Self::Overloaded => 503,
            Self::TimedOut => 408,
            Self::NotFound => 404,
            Self::ApprovalPending => 202,
            Self::ApprovalDenied => 403,
        }
    }

    /// The reason phrase of [`DenialKind::status`] (RFC 9110 section 15), the `title` of a
    /// problem+json answer.
    pub fn title(self) -> &'static str {
        match self.status() {
            202 => "Accepted",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            408 => "Request Timeout",
            413 => "Payload Too Large",
            422 => "Unprocessable Entity",
            429 => "Too Many Requests",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }
}

/// A refusal: a decision, not an error. The front always answers with it.
///
/// `message` is safe to show the agent: it says what to change, never which policy fired or
/// any secret. `internal` carries the detail that only the audit log sees.
#[derive(Clone, Debug, PartialEq)]
pub struct Denial {
    /// The class of refusal.
    pub kind: DenialKind,
    /// A reason the agent can act on.
    pub message: String,
    /// For validation failures: JSON pointer of the failing argument and the rule it broke.
    pub violations: Vec<Violation>,
    /// Ids of the policies that determined a policy denial (audit only, never sent).
    pub policies: Vec<String>,
    /// Detail for the audit log only (upstream error text, guard findings).
    pub internal: Vec<String>,
    /// What the fronts need for some kinds only: the scopes to name in a step-up challenge,
    /// the limit to name in a retry hint. Boxed, so that `Denial` stays small enough to be the
    /// error of every stage's `Result`; read it through [`Denial::required_scopes`] and
    /// [`Denial::rate_limit`].
    pub detail: Option<Box<DenialDetail>>,
}

/// The kind-specific part of a [`Denial`].
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DenialDetail {
    /// For [`DenialKind::InsufficientScope`]: the scopes the tool requires, which the fronts
    /// name in their step-up challenge.
    pub required_scopes: Vec<String>,
    /// For [`DenialKind::RateLimited`] and [`DenialKind::Loop`]: the limit that fired and when
    /// to retry, which the fronts turn into `Retry-After` and the RateLimit fields.
    pub rate_limit: Option<RateLimitHint>,
    /// For [`DenialKind::ApprovalPending`] and [`DenialKind::ApprovalDenied`]: the approval the
    /// call waits for or was refused by.
    pub approval: Option<ApprovalHint>,
}

/// The approval a held call waits for, as the fronts report it (HTTP: `202 Accepted` with a
/// `Location` to poll; MCP: a tool result naming the id).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ApprovalHint {
    /// The approval id (unguessable).
    pub id: String,
    /// Its state: `pending`, `denied` or `expired`.
    pub status: String,
    /// When it expires (RFC 3339, UTC).
    pub expires_at: String,
    /// Seconds after which polling or repeating the call is worthwhile.
    pub retry_after_secs: u64,
}

/// The limit that refused a call, as the fronts report it: the `RateLimit-Policy` and
/// `RateLimit` fields of the IETF draft (`q`, `w`; `r`, `t`) and `Retry-After`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RateLimitHint {
    /// The limit's configured name (`loop` for loop detection).
    pub name: String,
    /// Units the limit allows per window (`q`).
    pub quota: u64,
    /// The window in seconds (`w`).
    pub window_secs: u64,
    /// Units left now (`r`); 0 when refused.
    pub remaining: u64,
    /// Seconds until a call of the same weight may pass (`t`, and `Retry-After`); at least 1.
    pub retry_after_secs: u64,
}

impl Denial {
    /// A denial with an agent-facing message and no further detail.
    pub fn new(kind: DenialKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            violations: Vec::new(),
            policies: Vec::new(),
            internal: Vec::new(),
            detail: None,
        }
    }

    /// For [`DenialKind::InsufficientScope`]: the scopes the tool requires; empty otherwise.
    pub fn required_scopes(&self) -> &[String] {
        self.detail
            .as_deref()
            .map_or(&[], |detail| detail.required_scopes.as_slice())
    }

    /// For [`DenialKind::RateLimited`] and [`DenialKind::Loop`]: the limit that fired.
    pub fn rate_limit(&self) -> Option<&RateLimitHint> {
        self.detail.as_deref()?.rate_limit.as_ref()
    }

    /// For [`DenialKind::ApprovalPending`] and [`DenialKind::ApprovalDenied`]: the approval.
    pub fn approval(&self) -> Option<&ApprovalHint> {
        self.detail.as_deref()?.approval.as_ref()
    }

    /// A call held for approval `hint`, or refused by it, with an agent-facing `message`.
    pub fn approval_answer(
        kind: DenialKind,
        message: impl Into<String>,
        hint: ApprovalHint,
    ) -> Self {
        let mut denial = Self::new(kind, message);
        denial.detail = Some(Box::new(DenialDetail {
            approval: Some(hint),
            ..DenialDetail::default()
        }));
        denial
    }

    /// A refusal by a limit: `kind` is [`DenialKind::RateLimited`] or [`DenialKind::Loop`]. The
    /// message names the limit and the wait; the hint carries them for the fronts' headers.
    pub fn limited(kind: DenialKind, hint: RateLimitHint) -> Self {
        let what = match kind {
            DenialKind::Loop => "the same call was repeated too often".to_owned(),
            _ => format!("limit `{}` reached", hint.name),
        };
        let mut denial = Self::new(
            kind,
            format!("{what}; retry in {} s", hint.retry_after_secs),
        );
        denial.internal.push(format!("limit: {}", hint.name));
        denial.detail = Some(Box::new(DenialDetail {
            rate_limit: Some(hint),
            ..DenialDetail::default()
        }));
        denial
    }

    /// The answer for a token that lacks some of the scopes a tool requires. `required` are all
    /// of the tool's scopes (a client asks for them all at once); `missing` go to the audit log.
    pub fn insufficient_scope(tool: &str, required: &[String], missing: &[&String]) -> Self {
        let mut denial = Self::new(
            DenialKind::InsufficientScope,
            format!(
                "the access token lacks a scope `{}` requires; get a token with scope `{}`",
                truncate_for_message(tool, 128),
                required.join(" ")
            ),
        );
        denial.detail = Some(Box::new(DenialDetail {
            required_scopes: required.to_vec(),
            ..DenialDetail::default()
        }));
        let missing: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        denial
            .internal
            .push(format!("missing scope: {}", missing.join(" ")));
        denial
    }

    /// For [`DenialKind::InsufficientScope`]: the RFC 6750 `WWW-Authenticate` value that asks
    /// the client to step up, `Bearer [realm=...,] error="insufficient_scope", scope="<the
    /// tool's scopes>"[, resource_metadata=...]` (the metadata URL is where an MCP client
    /// learns how to get a token with more scope). Every front words its challenge here.
    pub fn step_up_challenge(
        &self,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
    ) -> String {
        let scope = self.required_scopes().join(" ");
        let mut params = Vec::with_capacity(4);
        if let Some(realm) = realm {
            params.push(("realm", realm));
        }
        params.push(("error", "insufficient_scope"));
        params.push(("scope", scope.as_str()));
        if let Some(url) = resource_metadata {
            params.push(("resource_metadata", url));
        }
        bearer_challenge(&params)
    }

    /// The RFC 9457 problem+json body of this denial for request `request_id`: `type`, `title`,
    /// `status`, `code`, `detail` (the agent-facing message), `request_id`, and where they apply
    /// `violations` and the limit that fired (`limit`, `retry_after`). Nothing for the audit
    /// log only (`policies`, `internal`) is ever in it. Every front renders its problem
    /// answers from this.
    pub fn problem(&self, request_id: &uuid::Uuid) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".to_owned(),
            Value::from(format!("urn:portcullis:problem:{}", self.kind.code())),
        );
        body.insert("title".to_owned(), Value::from(self.kind.title()));
        body.insert("status".to_owned(), Value::from(self.kind.status()));
        body.insert("code".to_owned(), Value::from(self.kind.code()));
        body.insert("detail".to_owned(), Value::from(self.message.clone()));
        body.insert("request_id".to_owned(), Value::from(request_id.to_string()));
        if !self.violations.is_empty() {
            body.insert(
                "violations".to_owned(),
                serde_json::to_value(&self.violations).unwrap_or(Value::Null),
            );
        }
        if let Some(hint) = self.rate_limit() {
            body.insert("limit".to_owned(), Value::from(hint.name.clone()));
            body.insert("retry_after".to_owned(), Value::from(hint.retry_after_secs));
        }
        if let Some(approval) = self.approval() {
            // A held call was not run: `ok: false` for clients that read any 2xx as done.
            body.insert("ok".to_owned(), Value::from(false));
            body.insert("approval_id".to_owned(), Value::from(approval.id.clone()));
            body.insert(
                "approval_status".to_owned(),
                Value::from(approval.status.clone()),
            );
            body.insert(
                "expires_at".to_owned(),
                Value::from(approval.expires_at.clone()),
            );
            if self.kind == DenialKind::ApprovalPending {
                body.insert(
                    "retry_after".to_owned(),
                    Value::from(approval.retry_after_secs),
                );
            }
        }
        Value::Object(body)
    }

    /// Adds audit-only detail.
    #[must_use]
    pub fn with_internal(mut self, detail: impl Into<String>) -> Self {
        self.internal.push(detail.into());
        self
    }

    /// The answer for a tool that is unknown or hidden: the same text in both cases.
    pub fn unknown_tool(name: &str) -> Self {
        Self::new(
            DenialKind::UnknownTool,
            format!("unknown tool `{}`", truncate_for_message(name, 128)),
        )
    }
}

/// A request body that did not arrive within the listener's body timeout: the error a timed
/// request body yields, which the fronts recognise in the body's error chain.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, thiserror::Error)]
#[error("the request body was not received in time")]
pub struct BodyTimedOut;

/// One schema or limit violation in a call's arguments.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Violation {
    /// JSON pointer into the arguments object (`""` for the object itself).
    pub path: String,
    /// The rule that failed (`type`, `required`, `maxLength`, `max_depth`, ...).
    pub rule: String,
    /// A human-readable explanation that never echoes long input.
    pub message: String,
}

/// Whether a `Content-Type` value names the media type `essence` (`type/subtype`), ignoring
/// parameters, surrounding space and case (RFC 9110 section 8.3.1).
pub fn media_type_is(content_type: &str, essence: &str) -> bool {
    media_essence(content_type).eq_ignore_ascii_case(essence)
}

/// Whether a `Content-Type` value names JSON: `application/json` or a structured-syntax
/// `type/name+json` type (RFC 6839), with a non-empty type and name.
pub fn media_type_is_json(content_type: &str) -> bool {
    let essence = media_essence(content_type);
    if essence.eq_ignore_ascii_case("application/json") {
        return true;
    }
    essence.split_once('/').is_some_and(|(kind, sub)| {
        !kind.is_empty()
            && sub.len() > 5
            && sub
                .get(sub.len() - 5..)
                .is_some_and(|suffix| suffix.eq_ignore_ascii_case("+json"))
    })
}

/// The media type of a `Content-Type` value without its parameters, trimmed.
fn media_essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// The candidate closest to `name` by edit distance (Levenshtein, over characters, ignoring
/// ASCII case), for a "did you mean" in a message; `None` when nothing is close: more than a
/// third of the name's length, and at least two edits, apart. Ties go to the first candidate.
pub fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let name: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    let limit = (name.len() / 3).max(2);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let other: Vec<char> = candidate.chars().map(|c| c.to_ascii_lowercase()).collect();
        // One row of the distance matrix at a time.
        let mut row: Vec<usize> = (0..=other.len()).collect();
        for (i, a) in name.iter().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, b) in other.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = (diagonal + usize::from(a != b))
                    .min(above + 1)
                    .min(row[j] + 1);
                diagonal = above;
            }
        }
        let distance = row[other.len()];
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Cuts user-provided text for inclusion in a message, on a character boundary.
pub fn truncate_for_message(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// An RFC 6750 `WWW-Authenticate` challenge: `Bearer` followed by `name="value"` parameters,
/// each value written as an RFC 9110 quoted string (`"` and `\` escaped). Parameters with an
/// empty value are left out.
pub fn bearer_challenge(params: &[(&str, &str)]) -> String {
    let mut out = String::from("Bearer");
    let mut first = true;
    for (name, value) in params {
        if value.is_empty() {
            continue;
        }
        out.push_str(if first { " " } else { ", " });
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out
}

/// The answer from the upstream API for an allowed call.
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamResponse {
    /// HTTP status of the upstream answer.
    pub status: u16,
    /// The body, parsed as JSON when it was JSON, else a JSON string.
    pub body: Value,
    /// The upstream's content type, if any.
    pub content_type: Option<String>,
    /// What the response guards flagged for the client (detector ids and counts, never the
    /// values), shown beside the result. Empty when nothing was flagged.
    pub notices: Vec<String>,
}

impl UpstreamResponse {
    /// True for 2xx answers.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The decision class stored in each audit record.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Authorized and sent upstream (whatever the upstream answered).
    Allow,
    /// Refused by policy or a guard.
    Deny,
    /// Refused because the arguments were invalid or the tool unknown.
    Invalid,
    /// No valid credentials.
    Unauthenticated,
    /// Authorized, but the upstream or the gateway failed.
    Error,
    /// Authorized, but held for a person's approval and not run (yet).
    Held,
}

impl Decision {
    /// The lowercase name stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Invalid => "invalid",
            Self::Unauthenticated => "unauthenticated",
            Self::Error => "error",
            Self::Held => "held",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "allow" => Self::Allow,
            "deny" => Self::Deny,
            "invalid" => Self::Invalid,
            "unauthenticated" => Self::Unauthenticated,
            "error" => Self::Error,
            "held" => Self::Held,
            _ => return None,
        })
    }
}

impl From<DenialKind> for Decision {
    fn from(kind: DenialKind) -> Self {
        match kind {
            DenialKind::Unauthenticated => Self::Unauthenticated,
            DenialKind::UnknownTool
            | DenialKind::InvalidArguments
            | DenialKind::BadRequest
            | DenialKind::TooLarge
            | DenialKind::TimedOut
            | DenialKind::NotFound => Self::Invalid,
            DenialKind::InsufficientScope
            | DenialKind::Forbidden
            | DenialKind::EgressBlocked
            | DenialKind::RateLimited
            | DenialKind::Loop
            | DenialKind::GuardBlocked
            | DenialKind::ResponseWithheld
            | DenialKind::OriginRefused
            | DenialKind::Overloaded
            | DenialKind::ApprovalDenied => Self::Deny,
            DenialKind::ApprovalPending => Self::Held,
            DenialKind::UpstreamFailure | DenialKind::Internal => Self::Error,
        }
    }
}

/// One audit record, as the pipeline produces it. The audit log adds the sequence number and
/// the hash chain.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct AuditEvent {
    /// When the request was received (RFC 3339, UTC, microseconds).
    pub time: String,
    /// The request id.
    pub request_id: String,
    /// The agent, when the caller was identified.
    pub agent: Option<String>,
    /// The token subject when it differs from the agent.
    pub subject: Option<String>,
    /// The peer address.
    pub client_ip: Option<String>,
    /// The front end.
    pub front: Front,
    /// The tool name as the caller gave it (cut to 128 characters).
    pub tool: Option<String>,
    /// SHA-256 (hex) of the canonical JSON of the arguments; never the arguments themselves.
    pub args_digest: Option<String>,
    /// The decision.
    pub decision: Decision,
    /// Reasons: the denial code and message, or `permit`.
    pub reasons: Vec<String>,
    /// Ids of the policies that determined the decision.
    pub policies: Vec<String>,
    /// The upstream HTTP status, when the upstream answered.
    pub upstream_status: Option<u16>,
    /// Time from receipt to answer, in microseconds.
    pub latency_us: u64,
    /// Version (content digest) of the policy set that decided.
    pub policy_version: Option<String>,
}

/// Canonical JSON for hashing: object keys sorted, no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(*key) {
                    write_canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn closest_suggests_only_near_names() {
        let known = ["support", "reader", "assistant"];
        assert_eq!(super::closest("suport", known), Some("support"));
        assert_eq!(super::closest("Reader", known), Some("reader"));
        assert_eq!(super::closest("asistent", known), Some("assistant"));
        assert_eq!(super::closest("admin", known), None);
        assert_eq!(super::closest("", known), None);
        assert_eq!(super::closest("x", []), None);
    }

    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [1, {"z": 1, "y": 2}], "c": "x"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn media_types_are_compared_by_essence() {
        assert!(media_type_is(
            "Application/JSON; charset=utf-8",
            "application/json"
        ));
        assert!(media_type_is(
            " application/x-www-form-urlencoded ",
            "application/x-www-form-urlencoded"
        ));
        assert!(!media_type_is("application/jsonl", "application/json"));
        assert!(media_type_is_json("application/json"));
        assert!(media_type_is_json("application/problem+json"));
        assert!(media_type_is_json(
            "Application/Vnd.Api+JSON; charset=utf-8"
        ));
        assert!(!media_type_is_json("application/+json"));
        assert!(!media_type_is_json("+json"));
        assert!(!media_type_is_json("json"));
        assert!(!media_type_is_json("application/jsonl"));
        assert!(!media_type_is_json("text/plain"));
    }

    #[test]
    fn args_digest_ignores_key_order() {
        let a = json!({"a": 1, "b": [1, 2]});
        let b = json!({"b": [1, 2], "a": 1});
        assert_eq!(ArgsDigest::of(&a), ArgsDigest::of(&b));
        assert_ne!(
            ArgsDigest::of(&a),
            ArgsDigest::of(&json!({"a": 2, "b": [1, 2]}))
        );
        assert_eq!(ArgsDigest::of(&a).as_str().len(), 64);
        assert_eq!(CallArgs::new(a.clone()).digest(), &ArgsDigest::of(&a));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_for_message("héllo", 2), "hé…");
        assert_eq!(truncate_for_message("ok", 5), "ok");
    }

    #[test]
    fn bearer_challenges_quote_their_values() {
        assert_eq!(bearer_challenge(&[]), "Bearer");
        assert_eq!(
            bearer_challenge(&[("realm", "a\"b\\c"), ("scope", ""), ("error", "x")]),
            r#"Bearer realm="a\"b\\c", error="x""#
        );
    }

    #[test]
    fn every_denial_kind_maps_to_a_decision() {
        assert_eq!(Decision::from(DenialKind::Forbidden), Decision::Deny);
        assert_eq!(
            Decision::from(DenialKind::InvalidArguments),
            Decision::Invalid
        );
        assert_eq!(Decision::parse("allow"), Some(Decision::Allow));
        assert_eq!(Decision::parse("nope"), None);
    }
}
