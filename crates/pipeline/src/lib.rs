//! The request pipeline: the one ordered list of stages every tool call goes through, written
//! once ([`Gateway::call`]), whatever front end the call arrived on.
//!
//! Design decisions:
//! - The order is plain sequential code, not a stack of middleware, so it reads top to bottom
//!   and each stage carries a comment saying why it sits where it does (BRIEF.md section 4).
//! - The order is load-bearing in types: egress takes a `Permit` that only the policy crate can
//!   mint, so no code path reaches the upstream without an authorization decision.
//! - Exactly one audit record per call: [`Gateway::call`] has a single exit, after the audit
//!   write; the stages return into it and never answer on their own. If the record cannot be
//!   written the caller gets an internal error (fail closed).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use portcullis_audit::AuditLog;
use portcullis_catalog::{Catalog, Tool};
use portcullis_config::Loaded;
use portcullis_core::{
    AuditEvent, CallMeta, Decision, Denial, DenialKind, Front, Principal, UpstreamResponse,
    canonical_json,
};
use portcullis_egress::{Egress, MetadataClient, Resolver};
use portcullis_guard::{Guards, Validator};
use portcullis_identity::{Identity, MetadataFetcher, Revocations};
use portcullis_limits::Limits;
use portcullis_policy::{AuthzRequest, PolicyEngine};
use portcullis_secrets::SecretStore;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Everything a running gateway needs, built once from the configuration.
pub struct Gateway {
    identity: Arc<Identity>,
    catalog: Catalog,
    validator: Validator,
    guards: Guards,
    policy: PolicyEngine,
    egress: Egress,
    limits: Limits,
    audit: AuditLog,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("tools", &self.catalog.len())
            .field("policy_version", &self.policy.version())
            .finish_non_exhaustive()
    }
}

/// The parts of a gateway that can be checked without opening the audit log or binding ports.
/// `portcullis check` builds exactly this.
pub struct Checked {
    /// The tool catalog.
    pub catalog: Catalog,
    /// Compiled argument schemas.
    pub validator: Validator,
    /// Argument inspection and response filtering, with each tool's settings.
    pub guards: Guards,
    /// Loaded and validated policies.
    pub policy: PolicyEngine,
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("tools", &self.catalog.len())
            .finish_non_exhaustive()
    }
}

/// Why the gateway could not be built. Each variant's message is the underlying crate's,
/// which names the file and place at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The OpenAPI documents.
    #[error(transparent)]
    Catalog(#[from] portcullis_catalog::CatalogError),
    /// The argument schemas.
    #[error(transparent)]
    Guard(#[from] portcullis_guard::GuardError),
    /// The policies.
    #[error(transparent)]
    Policy(#[from] portcullis_policy::PolicyError),
    /// The egress clients (a credential could not be read, a client could not be built).
    #[error(transparent)]
    Egress(#[from] portcullis_egress::EgressError),
    /// The signing key or agents.
    #[error(transparent)]
    Identity(#[from] portcullis_identity::IdentityError),
    /// The revocation store.
    #[error(transparent)]
    Revocations(#[from] portcullis_identity::RevocationError),
    /// The audit log.
    #[error(transparent)]
    Audit(#[from] portcullis_audit::AuditError),
    /// The call limits (quota store, Redis URL).
    #[error(transparent)]
    Limits(#[from] portcullis_limits::LimitsError),
}

/// Loads catalog, schemas and policies: everything `check` validates offline.
pub fn check(loaded: &Loaded) -> Result<Checked, BuildError> {
    let config = &loaded.config;
    let catalog = Catalog::load(config)?;
    let validator = Validator::new(&catalog, &config.limits)?;
    // The inspection stage judges addresses with the egress classifier, so an argument is
    // called internal exactly when egress would refuse to dial it.
    let guards = Guards::new(
        &catalog,
        config,
        portcullis_egress::classify::special_purpose,
    )?;
    let policy = PolicyEngine::load(&config.policies, &catalog, &api_names(loaded))?;
    Ok(Checked {
        catalog,
        validator,
        guards,
        policy,
    })
}

/// The configured API names: with the catalog's, the API groups of the Cedar schema.
fn api_names(loaded: &Loaded) -> Vec<String> {
    loaded
        .config
        .apis
        .iter()
        .map(|a| a.name.to_string())
        .collect()
}

impl Checked {
    /// The Cedar schema the policies were validated against, as Cedar schema text, for
    /// `portcullis check --print-schema`. Generated again on each call; the engine does not
    /// keep it.
    pub fn policy_schema_text(&self, loaded: &Loaded) -> Result<String, BuildError> {
        Ok(PolicyEngine::schema_text(
            &self.catalog,
            &api_names(loaded),
        )?)
    }
}

impl Gateway {
    /// Builds a gateway: checks the configuration, reads the credentials, opens the signing key
    /// and the audit log. `resolver` is the DNS resolver egress uses (the system one in
    /// production, a fixed table in tests).
    pub async fn build(
        loaded: &Loaded,
        secrets: &SecretStore,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, BuildError> {
        let config = &loaded.config;
        let Checked {
            catalog,
            validator,
            guards,
            policy,
        } = check(loaded)?;
        let metadata = MetadataClient::new(&config.identity_providers, Arc::clone(&resolver))?;
        let egress = Egress::new(&config.apis, secrets, resolver)?;
        let redis_url = match &config.limits.backend {
            portcullis_config::LimitBackendConfig::Redis { url, .. } => {
                let secret = secrets
                    .resolve(url)
                    .map_err(|err| portcullis_limits::LimitsError::RedisUrl(err.to_string()))?;
                // Handed straight to the Redis client, which keeps its own copy.
                Some(secret.with_exposed(|bytes| String::from_utf8_lossy(bytes).into_owned()))
            }
            portcullis_config::LimitBackendConfig::Local => None,
        };
        let limits = Limits::open(config, &catalog, redis_url.as_deref()).await?;
        let revocations =
            Revocations::open(&config.data_dir, Identity::revocation_retention(config)).await?;
        let identity = Arc::new(Identity::open(config, secrets, Arc::new(revocations))?);
        identity.set_metadata_fetcher(Arc::new(IssuerFetcher(metadata)));
        spawn_key_maintenance(&identity);
        let audit = AuditLog::open(&config.audit_path(), config.audit.sync).await?;
        Ok(Self {
            identity,
            catalog,
            validator,
            guards,
            policy,
            egress,
            limits,
            audit,
        })
    }

    /// The token issuer and verifier.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The version of the loaded policy set.
    pub fn policy_version(&self) -> &str {
        self.policy.version()
    }

    /// Number of tools in the catalog.
    pub fn tool_count(&self) -> usize {
        self.catalog.len()
    }

    /// The call limits (for the counters of an unavailable shared store).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Flushes the audit log and the quota counters; call on shutdown.
    pub async fn shutdown(&self) {
        self.limits.close().await;
        self.audit.close().await;
    }

    /// Stage 2, identify: a bearer token from the `Authorization` header to a principal.
    ///
    /// Tokens are accepted only in the header; the caller reports whether the query string
    /// carried one (`access_token=`), which is refused outright. A revoked token, or one of a
    /// disabled agent, is refused like any other invalid token; the reason goes to the audit
    /// record only.
    ///
    /// `certificate` is the RFC 8705 thumbprint of the client certificate the connection
    /// presented, if any: a certificate-bound token is refused without that very certificate.
    pub async fn identify(
        &self,
        authorization: Option<&str>,
        token_in_query: bool,
        certificate: Option<&str>,
    ) -> Result<Principal, Denial> {
        let unauthenticated = |detail: &str| {
            Denial::new(
                DenialKind::Unauthenticated,
                "a valid bearer token is required",
            )
            .with_internal(detail)
        };
        if token_in_query {
            return Err(unauthenticated("token in query string refused"));
        }
        let Some(header) = authorization else {
            return Err(unauthenticated("no authorization header"));
        };
        let Some(token) = strip_bearer(header) else {
            return Err(unauthenticated("authorization scheme is not bearer"));
        };
        // Revocations made by another process (the CLI) apply from here on.
        self.identity.refresh_revocations().await;
        let principal = self
            .identity
            .authenticate(token)
            .await
            .map_err(|err| unauthenticated(&err.to_string()))?;
        if let Some(bound) = &principal.certificate_thumbprint
            && certificate != Some(bound.as_str())
        {
            return Err(unauthenticated(
                "certificate-bound token presented without its certificate",
            ));
        }
        Ok(principal)
    }

    /// The tools this principal may see (tools/list, `GET /v1/tools`).
    pub fn list_tools(&self, principal: &Principal) -> Vec<Arc<Tool>> {
        self.catalog
            .tools()
            .iter()
            .filter(|tool| self.policy.may_see(principal, tool))
            .cloned()
            .collect()
    }

    /// Runs one tool call through every stage and records it. This is the only way a call
    /// reaches an upstream.
    pub async fn call(
        &self,
        principal: &Principal,
        meta: CallMeta,
        tool: &str,
        args: Value,
    ) -> Result<UpstreamResponse, Denial> {
        let started = Instant::now();
        let mut facts = Facts::default();
        // In progress until its record is handed over: under load the audit writer waits for
        // this record to join its next commit instead of syncing without it.
        let pending = self.audit.pending();
        let result = self.run(principal, &meta, tool, args, &mut facts).await;
        drop(pending);
        let event = self.event(Some(principal), &meta, Some(tool), &facts, &result, started);
        // Stage 12, audit: on every exit path, before the answer leaves.
        self.write(event).await?;
        result
    }

    /// Records a request refused by the front before the pipeline could run: no valid token
    /// (stage 2), or a body that is not a JSON object. Returns the denial to answer with, which
    /// becomes an internal error if the record cannot be written.
    pub async fn record_refusal(
        &self,
        principal: Option<&Principal>,
        meta: &CallMeta,
        tool: Option<&str>,
        denial: Denial,
    ) -> Denial {
        let facts = Facts::default();
        let result: Result<UpstreamResponse, Denial> = Err(denial);
        let event = self.event(principal, meta, tool, &facts, &result, Instant::now());
        let denial = match result {
            Err(denial) => denial,
            Ok(_) => Denial::new(DenialKind::Internal, "internal error"),
        };
        match self.write(event).await {
            Ok(()) => denial,
            Err(failure) => failure,
        }
    }

    /// Records a token-endpoint outcome (issued, or refused with an OAuth error code and an
    /// optional detail for the record) for the agent named.
    pub async fn record_token(
        &self,
        client_ip: Option<IpAddr>,
        agent: Option<&str>,
        outcome: Result<(), (&str, Option<&str>)>,
    ) -> Result<(), Denial> {
        let meta = CallMeta::now(Front::Token, client_ip);
        let result: Result<UpstreamResponse, Denial> = match outcome {
            Ok(()) => Ok(UpstreamResponse {
                status: 200,
                body: Value::Null,
                content_type: None,
                notices: Vec::new(),
            }),
            Err((code, detail)) => {
                let denial = Denial::new(DenialKind::Unauthenticated, code);
                Err(match detail {
                    Some(detail) => denial.with_internal(detail),
                    None => denial,
                })
            }
        };
        let mut facts = Facts::default();
        if result.is_ok() {
            facts.reasons.push("token issued".to_owned());
        }
        let mut event = self.event(None, &meta, None, &facts, &result, Instant::now());
        event.agent = agent.map(|a| portcullis_core::truncate_for_message(a, 128));
        event.upstream_status = None;
        self.write(event).await
    }

    /// Records one call of the admin API: `action` names what was asked (`revoke token`,
    /// `disable agent` ...), `target` what it applied to (a `jti`, an agent id), and `outcome`
    /// whether it was done. One record per call, refusals (a missing or wrong admin credential)
    /// included. Returns an internal denial if the record cannot be written.
    pub async fn record_admin(
        &self,
        meta: &CallMeta,
        action: &str,
        target: Option<&str>,
        outcome: Result<String, Denial>,
    ) -> Result<(), Denial> {
        let mut facts = Facts::default();
        let mut action_reason = format!("admin: {action}");
        if let Some(target) = target {
            action_reason.push_str(&format!(
                " `{}`",
                portcullis_core::truncate_for_message(target, 128)
            ));
        }
        let result: Result<UpstreamResponse, Denial> = match outcome {
            Ok(done) => {
                facts.reasons.push(action_reason);
                facts.reasons.push(done);
                Ok(UpstreamResponse {
                    status: 200,
                    body: Value::Null,
                    content_type: None,
                    notices: Vec::new(),
                })
            }
            Err(denial) => {
                facts.reasons.push(action_reason);
                Err(denial)
            }
        };
        let mut event = self.event(None, meta, None, &facts, &result, Instant::now());
        event.upstream_status = None;
        if result.is_ok() {
            event.reasons = facts.reasons;
        }
        self.write(event).await
    }

    /// Appends one audit record. A record that cannot be written becomes an internal denial:
    /// the caller gets an error rather than an unrecorded answer (fail closed).
    async fn write(&self, event: AuditEvent) -> Result<(), Denial> {
        let request_id = event.request_id.clone();
        self.audit.record(event).await.map(|_| ()).map_err(|err| {
            tracing::error!(%err, %request_id, "audit write failed; refusing to answer");
            Denial::new(
                DenialKind::Internal,
                "the gateway could not record this request; try again later",
            )
        })
    }

    /// Stage 4, resolve: an unknown tool and a tool the caller may not see get the same answer.
    fn resolve(&self, principal: &Principal, name: &str) -> Result<&Arc<Tool>, Denial> {
        match self.catalog.get(name) {
            Some(tool) if self.policy.may_see(principal, tool) => Ok(tool),
            _ => Err(Denial::unknown_tool(name)),
        }
    }

    /// The scope check of [`Gateway::call`] on its own, for a front that must answer a missing
    /// scope at the HTTP level before it hands the request on (MCP: an HTTP 403 with a step-up
    /// challenge instead of a result inside the JSON-RPC stream). Cheap and synchronous, so the
    /// common case (nothing missing) costs no task and no audit write.
    ///
    /// `None` when the call may go on: the tool is unknown or hidden (the pipeline gives that
    /// answer itself) or the token has the scopes. Otherwise the denial, which the front must
    /// record with [`Gateway::record_scope_refusal`] and answer instead of running the call.
    pub fn scope_denial(&self, principal: &Principal, name: &str) -> Option<Denial> {
        let tool = self.resolve(principal, name).ok()?;
        check_scopes(principal, tool).err()
    }

    /// Records a refusal from [`Gateway::scope_denial`] (one audit record, as for any refusal,
    /// with the digest of the arguments) and returns the denial to answer with, which becomes
    /// an internal error if the record cannot be written.
    pub async fn record_scope_refusal(
        &self,
        principal: &Principal,
        meta: &CallMeta,
        name: &str,
        args: &Value,
        denial: Denial,
    ) -> Denial {
        let facts = Facts {
            args_digest: Some(digest(args)),
            ..Facts::default()
        };
        let result: Result<UpstreamResponse, Denial> = Err(denial);
        let event = self.event(
            Some(principal),
            meta,
            Some(name),
            &facts,
            &result,
            Instant::now(),
        );
        let Err(denial) = result else {
            return Denial::new(DenialKind::Internal, "internal error");
        };
        match self.write(event).await {
            Ok(()) => denial,
            Err(failure) => failure,
        }
    }

    /// The stages after identify, in order. Each returns early with a denial; nothing here
    /// answers the caller or writes the audit record.
    async fn run(
        &self,
        principal: &Principal,
        meta: &CallMeta,
        name: &str,
        args: Value,
        facts: &mut Facts,
    ) -> Result<UpstreamResponse, Denial> {
        // Digest first, so even a call refused at resolve leaves evidence of what was sent.
        let args_digest = digest(&args);
        facts.args_digest = Some(args_digest.clone());

        // Stage 3, admit: the cheap per-principal rate limit, before any expensive stage, so a
        // flood costs a map look-up per call and nothing more.
        self.limits.admit(principal).await?;

        // Stage 4, resolve: an unknown tool and a tool the caller may not see get the same
        // answer, so the catalog cannot be probed.
        let tool = self.resolve(principal, name)?;

        // Scope: the token must carry every scope the tool requires. It comes after resolve, so
        // the step-up answer (which names the scopes) is given only for a tool the caller may
        // see, and before validate and authorize, because no argument can make up for a
        // missing scope and the client's remedy is a new token, not new arguments.
        check_scopes(principal, tool)?;

        // Stage 5, validate: nothing downstream (guards, policy, egress) reads arguments that
        // did not pass the tool's schema and the input limits.
        self.validator.validate(&tool.name, &args)?;
        let Value::Object(args) = args else {
            // INVARIANT: the validator refuses non-object arguments.
            return Err(Denial::new(
                DenialKind::Internal,
                "arguments must be an object",
            ));
        };

        // Stage 6, inspect: injection detectors on the validated arguments. Before authorize,
        // so a blocking finding costs no policy evaluation and the others reach the policies
        // as `context.risk`.
        let inspection = self.guards.inspect(tool, &args)?;
        facts.reasons.extend(inspection.audit_lines());
        if inspection.risk > 0 {
            facts
                .reasons
                .push(format!("inspect: risk {}", inspection.risk));
        }

        // Stage 7, authorize: Cedar with typed arguments and request context. The permit is
        // the only key egress accepts.
        let permit = self.policy.authorize(&AuthzRequest {
            principal,
            tool,
            args: &args,
            meta,
            risk: inspection.risk,
        })?;
        facts.policies = permit.policies().to_vec();

        // Stage 8, meter: loop detection, cost-weighted limits, quotas, concurrency caps. After
        // authorize, so denied calls consume no budget. The permits it holds are released when
        // `metered` is dropped, on every exit path below.
        let metered = self
            .limits
            .meter(principal, tool, &args_digest, || {
                serde_json::to_vec(&args).map_or(0, |bytes| bytes.len())
            })
            .await?;

        // Stage 10, egress: translation, credential injection, SSRF-safe send. Egress itself
        // redacts any echo of the credential it injected (the reflection guard).
        let mut response = self.egress.send(&permit, tool, &args).await?;
        facts.upstream_status = Some(response.status);
        facts.reasons.extend(response.notices.iter().cloned());

        // Stage 11, filter: DLP, the response prompt-injection scan and shaping, on the way
        // back and before the audit record, so the record says what the caller received.
        let report = self.guards.filter(&tool.name, &mut response)?;
        facts.reasons.extend(report.lines);

        // The response's share of token-weighted limits is known only now, after filtering
        // (what reaches the model's context): charged as a debt.
        let response_bytes = if metered.wants_response_size() {
            serde_json::to_vec(&response.body).map_or(0, |bytes| bytes.len())
        } else {
            0
        };
        metered.settle(&self.limits, response_bytes).await;
        Ok(response)
    }

    fn event(
        &self,
        principal: Option<&Principal>,
        meta: &CallMeta,
        tool: Option<&str>,
        facts: &Facts,
        result: &Result<UpstreamResponse, Denial>,
        started: Instant,
    ) -> AuditEvent {
        let (decision, mut reasons, policies) = match result {
            Ok(_) => (
                Decision::Allow,
                vec!["permit".to_owned()],
                facts.policies.clone(),
            ),
            Err(denial) => {
                let mut reasons = vec![format!("{}: {}", denial.kind.code(), denial.message)];
                reasons.extend(
                    denial
                        .violations
                        .iter()
                        .map(|v| format!("{} {}", v.path, v.rule)),
                );
                reasons.extend(denial.internal.iter().cloned());
                let policies = if denial.policies.is_empty() {
                    facts.policies.clone()
                } else {
                    denial.policies.clone()
                };
                (Decision::from(denial.kind), reasons, policies)
            }
        };
        reasons.extend(facts.reasons.iter().cloned());
        AuditEvent {
            time: meta
                .received_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            request_id: meta.request_id.to_string(),
            agent: principal.map(|p| p.agent.clone()),
            subject: principal
                .filter(|p| p.subject != p.agent)
                .map(|p| p.subject.clone()),
            client_ip: meta.client_ip.map(|ip| ip.to_string()),
            front: meta.front,
            tool: tool.map(|t| portcullis_core::truncate_for_message(t, 128)),
            args_digest: facts.args_digest.clone(),
            decision,
            reasons,
            policies,
            upstream_status: facts.upstream_status,
            latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            policy_version: Some(self.policy.version().to_owned()),
        }
    }
}

/// Keeps the signing keys current while the gateway runs: every `KEY_RELOAD_INTERVAL`, picks up
/// a rotation made by another process, rotates on schedule and drops expired keys. The task
/// holds only a weak reference and ends when the identity is dropped.
fn spawn_key_maintenance(identity: &Arc<Identity>) {
    let identity = Arc::downgrade(identity);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(portcullis_identity::KEY_RELOAD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(identity) = identity.upgrade() else {
                break;
            };
            // Directory reads and, on rotation, key generation: off the request threads.
            let done = tokio::task::spawn_blocking(move || identity.maintain_keys()).await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::error!(%err, "cannot update the signing keys; the keys in force are kept");
                }
                Err(err) => tracing::error!(%err, "signing key maintenance failed"),
            }
        }
    });
}

/// Identity providers' discovery documents and keys are fetched by egress, the only component
/// that opens outbound connections.
struct IssuerFetcher(MetadataClient);

impl MetadataFetcher for IssuerFetcher {
    fn fetch<'a>(
        &'a self,
        issuer: &'a str,
        url: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + 'a>>
    {
        Box::pin(self.0.get_json(issuer, url))
    }
}

/// What the stages learned, for the audit record.
#[derive(Default)]
struct Facts {
    args_digest: Option<String>,
    policies: Vec<String>,
    upstream_status: Option<u16>,
    reasons: Vec<String>,
}

/// The scope stage: every scope the tool requires must be in the token.
fn check_scopes(principal: &Principal, tool: &Tool) -> Result<(), Denial> {
    let missing: Vec<&String> = tool
        .scopes
        .iter()
        .filter(|scope| !principal.scopes.contains(scope))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Denial::insufficient_scope(
            &tool.name,
            &tool.scopes,
            &missing,
        ))
    }
}

/// SHA-256 (hex) of the canonical JSON of a value.
pub fn digest(value: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(value).as_bytes()))
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn strip_bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_strict() {
        assert_eq!(strip_bearer("Bearer abc"), Some("abc"));
        assert_eq!(strip_bearer("bearer  abc "), Some("abc"));
        assert_eq!(strip_bearer("Basic abc"), None);
        assert_eq!(strip_bearer("Bearer"), None);
        assert_eq!(strip_bearer("Bearer a b"), None);
    }

    #[test]
    fn digest_ignores_key_order() {
        let a = serde_json::json!({"a": 1, "b": [1, 2]});
        let b = serde_json::json!({"b": [1, 2], "a": 1});
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(
            digest(&a),
            digest(&serde_json::json!({"a": 2, "b": [1, 2]}))
        );
    }
}
