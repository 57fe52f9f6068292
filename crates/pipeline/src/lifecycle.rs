//! The life of a request from a front's point of view: each public entry here runs its work
//! and its audit record on a task of its own ([`Gateway::detach`]), so a client that hangs up
//! (which drops the front's future) cannot cut a request between what it did and its record.
//! The fronts call these and never spawn tasks or write records themselves.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use portcullis_core::{
    CallArgs, CallMeta, Caller, Denial, DenialKind, Front, PeerCertificate, UpstreamResponse,
};
use portcullis_identity::{OAuthError, TokenResponse};
use serde_json::{Map, Value};

use crate::Gateway;
use crate::approve::HoldWatch;
use crate::context::CallContext;
use crate::decide::check_scopes;
use crate::identify::Refused;
use crate::record::{Outcome, TOKEN_ISSUED};

/// A request to the token endpoint, as the front read it.
#[derive(Debug)]
pub struct TokenRequest {
    /// The peer address of the connection.
    pub client_ip: Option<IpAddr>,
    /// The body as the front read it.
    pub form: TokenForm,
    /// The `Authorization` header (HTTP Basic client authentication), if any.
    pub authorization: Option<String>,
    /// The verified TLS client certificate of the connection, if any.
    pub certificate: Option<Arc<PeerCertificate>>,
}

/// The body of a token request.
#[derive(Debug)]
pub enum TokenForm {
    /// The decoded `application/x-www-form-urlencoded` fields.
    Fields(Vec<(String, String)>),
    /// A body of another media type.
    NotForm,
    /// A body the front could not read (too large, too slow): the refusal to record and answer
    /// as problem+json, like every front's transport refusals.
    Unreadable(Denial),
}

/// What the token endpoint answers: a token or an OAuth error, or, when the request could not
/// be recorded, the internal error to answer with instead.
pub type TokenAnswer = Result<Result<TokenResponse, OAuthError>, Refused>;

/// What an admin operation did: the word for the record (`revoked`, `already disabled`, ...),
/// the body to answer with, and what it applied to when that is known only afterwards (the
/// new key's id).
#[derive(Debug)]
pub struct AdminDone {
    /// What was done, for the record.
    pub done: String,
    /// The answer's JSON body.
    pub body: Value,
    /// The target, when the operation decides it.
    pub target: Option<String>,
}

/// What the admin API answers: the request's metadata and the body or the refusal (an internal
/// error when the request could not be recorded, even if the change was made).
#[derive(Debug)]
pub struct AdminAnswer {
    /// The request.
    pub meta: CallMeta,
    /// The answer.
    pub result: Result<Value, Denial>,
}

/// What one step of interactive sign-in (the authorization request, the sign-in and consent
/// forms, a client registration) did, for its record; `value` is the answer either way.
#[derive(Debug)]
pub struct SignInStep<T> {
    /// The client the step was for, when known.
    pub client: Option<String>,
    /// The user who signed in, when known.
    pub user: Option<String>,
    /// The refusal's OAuth error code, `None` when the step succeeded.
    pub error: Option<&'static str>,
    /// The answer.
    pub value: T,
}

impl Gateway {
    /// Runs one step of interactive sign-in (`step` names it for the record: `authorization
    /// request`, `signed in`, `consent given`, `client registered`) and records it like a token
    /// request: one record per step, allowed or refused with its OAuth error code.
    pub async fn sign_in_step<T, F>(
        self: &Arc<Self>,
        client_ip: Option<IpAddr>,
        step: &'static str,
        op: F,
    ) -> Result<T, Refused>
    where
        F: Future<Output = SignInStep<T>> + Send + 'static,
        T: Send + 'static,
    {
        let meta = CallMeta::now(Front::Token, client_ip);
        let answer = self
            .detach(move |gateway| async move {
                let done = op.await;
                gateway
                    .record(Outcome::Token {
                        meta: &meta,
                        agent: done.client.as_deref(),
                        result: match done.error {
                            None => Ok(()),
                            Some(code) => Err((code, None)),
                        },
                        step,
                        user: done.user.as_deref(),
                    })
                    .await
                    .map(|()| done.value)
            })
            .await;
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(denial)) | Err(denial) => Err(Refused { denial, meta }),
        }
    }

    /// Runs one tool call through every stage and records it. This is the only way a call
    /// reaches an upstream.
    pub async fn call(
        self: &Arc<Self>,
        caller: &Caller,
        name: &str,
        args: Value,
    ) -> Result<UpstreamResponse, Denial> {
        self.call_watched(caller, name, args, None).await
    }

    /// [`Gateway::call`] for a front that can tell its client a held call is still waiting
    /// for approval (MCP progress notifications): `watch` hears of it every few seconds.
    pub async fn call_watched(
        self: &Arc<Self>,
        caller: &Caller,
        name: &str,
        args: Value,
        watch: Option<HoldWatch>,
    ) -> Result<UpstreamResponse, Denial> {
        let (caller, name) = (caller.clone(), name.to_owned());
        self.detach(move |gateway| async move { gateway.run_call(caller, name, args, watch).await })
            .await
            .and_then(|result| result)
    }

    /// Records a request that a front refused after identify, before it became a call (a body
    /// that cannot be read, a transport check of the MCP endpoint), and returns the denial to
    /// answer with, which becomes an internal error if the record cannot be written.
    pub async fn refuse(
        self: &Arc<Self>,
        caller: &Caller,
        tool: Option<&str>,
        denial: Denial,
    ) -> Denial {
        let ctx = CallContext::new(
            caller.meta,
            Some(Arc::clone(&caller.principal)),
            tool.map(str::to_owned),
        );
        self.refuse_detached(ctx, denial).await
    }

    /// Stage 3, admit, for a request that is not a call but must count against the caller's
    /// admission limit (an MCP `initialize` opening a session, which holds memory on the
    /// gateway). A refusal is recorded; the denial it yields is the one to answer with.
    pub async fn admit(self: &Arc<Self>, caller: &Caller) -> Result<(), Denial> {
        let Err(denial) = self.limits.admit(&caller.principal).await else {
            return Ok(());
        };
        let ctx = CallContext::new(caller.meta, Some(Arc::clone(&caller.principal)), None);
        Err(self.refuse_detached(ctx, denial).await)
    }

    /// The step-up check of stage 4 on its own, for a front that must answer a missing scope at
    /// the HTTP level before it hands the request on (MCP: an HTTP 403 with a step-up challenge
    /// instead of a result inside an event stream whose status is already sent). Cheap and
    /// synchronous, so the common case (nothing missing) costs no task and no record.
    ///
    /// `None` when the call may go on: the tool is unknown or hidden (the call itself gives
    /// that answer) or the token has the scopes. Otherwise a future that records the refusal
    /// (with the digest of the arguments) and yields the denial to answer with: the
    /// `insufficient_scope` denial, or an internal error if it could not be recorded.
    pub fn step_up(
        self: &Arc<Self>,
        caller: &Caller,
        name: &str,
        args: Option<&Map<String, Value>>,
    ) -> Option<impl Future<Output = Denial> + Send + 'static> {
        let tool = self.resolve(&caller.principal, name).ok()?;
        let denial = check_scopes(&caller.principal, tool).err()?;
        let mut ctx = CallContext::new(
            caller.meta,
            Some(Arc::clone(&caller.principal)),
            Some(name.to_owned()),
        );
        let args = CallArgs::new(Value::Object(args.cloned().unwrap_or_default()));
        ctx.args_digest = Some(args.digest().clone());
        let gateway = Arc::clone(self);
        Some(async move { gateway.refuse_detached(ctx, denial).await })
    }

    /// The token endpoint: the client-credentials and token-exchange grants, recorded.
    pub async fn token(self: &Arc<Self>, request: TokenRequest) -> TokenAnswer {
        let meta = CallMeta::now(Front::Token, request.client_ip);
        if let TokenForm::Unreadable(denial) = request.form {
            let recorded = self
                .detach(move |gateway| async move {
                    gateway
                        .record(Outcome::Token {
                            meta: &meta,
                            agent: None,
                            result: Err((denial.kind.code(), Some(denial.message.as_str()))),
                            step: TOKEN_ISSUED,
                            user: None,
                        })
                        .await
                        .map(|()| denial)
                })
                .await;
            let denial = match recorded {
                Ok(Ok(denial)) => denial,
                Ok(Err(failure)) | Err(failure) => failure,
            };
            return Err(Refused { denial, meta });
        }
        let answer = self
            .detach(move |gateway| async move {
                let (agent, result) = gateway.issue(request).await;
                let recorded = gateway
                    .record(Outcome::Token {
                        meta: &meta,
                        agent: agent.as_deref(),
                        result: match &result {
                            Ok(_) => Ok(()),
                            Err(err) => Err((err.error, err.internal)),
                        },
                        step: TOKEN_ISSUED,
                        user: None,
                    })
                    .await;
                recorded.map(|()| result)
            })
            .await;
        match answer {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(denial)) | Err(denial) => Err(Refused { denial, meta }),
        }
    }

    /// Runs one admin operation (`action` on `target`; `op` does it) and records it. A refusal
    /// before the operation (a missing admin credential, a malformed body) is an `op` that
    /// yields the denial.
    pub async fn admin<F>(
        self: &Arc<Self>,
        client_ip: Option<IpAddr>,
        action: &str,
        target: Option<String>,
        op: F,
    ) -> AdminAnswer
    where
        F: Future<Output = Result<AdminDone, Denial>> + Send + 'static,
    {
        let meta = CallMeta::now(Front::Admin, client_ip);
        let action = action.to_owned();
        let result = self
            .detach(move |gateway| async move {
                let done = op.await;
                let target = match &done {
                    Ok(AdminDone {
                        target: Some(decided),
                        ..
                    }) => Some(decided.as_str()),
                    _ => target.as_deref(),
                };
                gateway
                    .record(Outcome::Admin {
                        meta: &meta,
                        action: &action,
                        target,
                        result: done.as_ref().map(|done| done.done.as_str()),
                    })
                    .await?;
                done.map(|done| done.body)
            })
            .await
            .and_then(|result| result);
        AdminAnswer { meta, result }
    }

    /// Stages 3 to 12 of one call, on the call's own task.
    async fn run_call(
        &self,
        caller: Caller,
        name: String,
        args: Value,
        watch: Option<HoldWatch>,
    ) -> Result<UpstreamResponse, Denial> {
        // In progress until its record is handed over: under load the audit writer waits for
        // this record to join its next commit instead of syncing without it. A held call gives
        // it up while it waits for a person.
        let mut pending = Some(self.audit.pending());
        let mut ctx = CallContext::new(
            caller.meta,
            Some(Arc::clone(&caller.principal)),
            Some(name.clone()),
        );
        let result = async {
            let call = self
                .decide(&mut ctx, caller.principal, &name, CallArgs::new(args))
                .await?;
            // Stage 8, approve: a call a person must approve waits here, or is answered
            // "pending"; it has not been metered yet.
            let approval = self
                .approve(&mut ctx, &call, watch.as_ref(), &mut pending)
                .await?;
            // Stage 9, meter.
            let decided = self.meter(call).await?;
            // Single use: each approval is spent only by a call that passed the meter, and by
            // exactly one of two racing identical calls.
            for record in &approval {
                self.consume_approval(&mut ctx, &decided.call, record)
                    .await?;
            }
            self.execute(&mut ctx, decided).await
        }
        .await;
        drop(pending);
        // Stage 12, audit: on every exit path, before the answer leaves.
        self.record(Outcome::Call {
            ctx: &ctx,
            result: result.as_ref(),
        })
        .await?;
        result
    }

    /// Records the refusal `ctx` describes on a task of its own; returns the denial to answer
    /// with, which becomes an internal error if the record cannot be written.
    pub(crate) async fn refuse_detached(
        self: &Arc<Self>,
        ctx: CallContext,
        denial: Denial,
    ) -> Denial {
        let recorded = self
            .detach(move |gateway| async move {
                gateway
                    .record(Outcome::Call {
                        ctx: &ctx,
                        result: Err(&denial),
                    })
                    .await
                    .map(|()| denial)
            })
            .await;
        match recorded {
            Ok(Ok(denial)) => denial,
            Ok(Err(failure)) | Err(failure) => failure,
        }
    }

    /// The token endpoint's work before the record: which agent the request names (for the
    /// record, also when refused) and the grant's outcome.
    async fn issue(
        &self,
        request: TokenRequest,
    ) -> (Option<String>, Result<TokenResponse, OAuthError>) {
        let TokenForm::Fields(form) = request.form else {
            return (
                None,
                Err(OAuthError::invalid_request(
                    "the token request must be `application/x-www-form-urlencoded`",
                )),
            );
        };
        // The interactive clients' grants (public clients: no secret to check or throttle).
        let interactive = form.iter().any(|(k, v)| {
            k == "grant_type"
                && (v == portcullis_identity::sign_in::AUTHORIZATION_CODE
                    || v == portcullis_identity::sign_in::REFRESH_TOKEN)
        });
        if interactive && let Some(sign_in) = &self.sign_in {
            let granted = sign_in.token(&form).await;
            let client = Some(granted.client_id).filter(|c| !c.is_empty());
            return (client, granted.result);
        }
        let identity = &self.identity;
        let agent = identity.requested_agent(&form, request.authorization.as_deref());
        // A disabled agent gets no token: pick up changes made by another process (the CLI).
        identity.refresh_revocations().await;
        // A token exchange whose subject token comes from an external issuer needs that
        // issuer's keys; the grant itself only reads the key cache.
        if let Some((_, subject)) = form.iter().find(|(k, _)| k == "subject_token") {
            identity.warm_keys(subject).await;
        }
        // Failed client authentication is throttled per address and per client id named,
        // before any secret is checked (see `issuer.client_auth`).
        let client_ip = request.client_ip;
        let client_id = identity.presented_client_id(&form, request.authorization.as_deref());
        let throttle = identity.client_auth();
        if let Err(throttled) = throttle.check(client_ip, client_id.as_deref(), Instant::now()) {
            return (agent, Err(OAuthError::throttled(throttled)));
        }
        // Client authentication runs argon2, tens of milliseconds of CPU: a bounded number at
        // once, off the threads that serve other requests.
        let Some(permit) = throttle.check_permit().await else {
            return (agent, Err(OAuthError::busy()));
        };
        let worker = Arc::clone(identity);
        let result = tokio::task::spawn_blocking(move || {
            worker.token_endpoint_tls(
                &form,
                request.authorization.as_deref(),
                request.certificate.as_deref(),
            )
        })
        .await
        .unwrap_or_else(|_| Err(OAuthError::server_error()));
        drop(permit);
        match (&result, &agent) {
            (Ok(_), Some(id)) => throttle.succeeded(client_ip, id, Instant::now()),
            (Err(err), _) if err.error == "invalid_client" && err.internal.is_none() => {
                throttle.failed(client_ip, client_id.as_deref(), Instant::now());
            }
            _ => {}
        }
        (agent, result)
    }

    /// Runs `work` on a task of its own and waits for it. The task runs to its end even when
    /// the caller's future is dropped (a client that hung up), so whatever `work` records is
    /// recorded. This is the one place a request is detached from its connection.
    async fn detach<T, F>(self: &Arc<Self>, work: impl FnOnce(Arc<Self>) -> F) -> Result<T, Denial>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        tokio::spawn(work(Arc::clone(self))).await.map_err(|err| {
            tracing::error!(%err, "a request's task failed");
            Denial::new(DenialKind::Internal, "internal error")
        })
    }
}
