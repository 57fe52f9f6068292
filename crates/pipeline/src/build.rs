//! Building a gateway from its configuration: [`check`] loads everything that can be checked
//! offline (catalog, schemas, guards, policies), [`Gateway::build`] adds the parts with state
//! (credentials, signing keys, revocations, limits, the audit log).

use std::sync::Arc;

use portcullis_audit::AuditLog;
use portcullis_catalog::{Catalog, Tool};
use portcullis_config::Loaded;
use portcullis_egress::{Egress, MetadataClient, MetadataError, Resolver, WebhookClient};
use portcullis_guard::{Guards, Validator};
use portcullis_identity::sign_in::SignIn;
use portcullis_identity::{Approvers, FetchError, Identity, MetadataFetcher, Revocations};
use portcullis_limits::Limits;
use portcullis_policy::PolicyEngine;
use portcullis_secrets::SecretStore;
use portcullis_store::approvals::SqliteApprovals;
use portcullis_store::grants::SqliteGrants;
use serde_json::Value;

use crate::Gateway;
use crate::approve::Approvals;
use crate::holds;

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
    /// The grant store of interactive sign-in, or the approval store.
    #[error(transparent)]
    Grants(#[from] portcullis_store::StoreError),
    /// A secret the gateway needs at start (the approvals webhook's signing key).
    #[error(transparent)]
    Secret(#[from] portcullis_secrets::SecretError),
}

/// Loads catalog, schemas and policies: everything `check` validates offline.
pub fn check(loaded: &Loaded) -> Result<Checked, BuildError> {
    let config = &loaded.config;
    let catalog = Catalog::load(config).map_err(|mut err| {
        // Said where the operation is written in the config, not only in the document.
        if let portcullis_catalog::CatalogError::UnknownOperation { place, .. } = &mut err
            && place.at.is_none()
        {
            place.at = loaded.operation_location(place.selection, place.index);
        }
        err
    })?;
    let validator = Validator::new(&catalog, &config.limits)?;
    // The inspection stage judges addresses with the egress classifier, so an argument is
    // called internal exactly when egress would refuse to dial it.
    let guards = Guards::new(
        &catalog,
        config,
        portcullis_egress::classify::special_purpose,
    )?;
    let policy = PolicyEngine::load(&config.policies, &catalog, &api_names(loaded))?;
    let scopes = config.scopes_supported();
    let roles: Vec<&str> = config
        .agents
        .iter()
        .flat_map(|agent| agent.roles.iter().map(|role| role.as_str()))
        // Interactive clients hold `sign_in.client_roles`.
        .chain(
            config
                .sign_in
                .iter()
                .flat_map(|s| s.client_roles.iter().map(|role| role.as_str())),
        )
        .collect();
    policy.check_names(
        &roles,
        &scopes.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    // `@approval("<group>")` must name a declared approver group.
    // `user` (the user the agent acts for, asked through the client) needs no approvers.
    let groups: Vec<&str> = config
        .approvals
        .iter()
        .flat_map(|a| {
            a.groups
                .iter()
                .map(|g| g.name.as_str())
                .chain([crate::approve::USER_GROUP])
        })
        .collect();
    policy.check_approval_groups(&groups)?;
    // An answer that shaping may cut need not match the response schema, so such tools
    // declare no output schema (MCP clients validate structured results against it).
    let catalog = if catalog
        .tools()
        .iter()
        .any(|t| t.output_schema.is_some() && guards.reshapes(&t.name))
    {
        Catalog::from_tools(
            catalog
                .tools()
                .iter()
                .map(|tool| {
                    let mut tool = Tool::clone(tool);
                    if guards.reshapes(&tool.name) {
                        tool.output_schema = None;
                    }
                    tool
                })
                .collect(),
        )
    } else {
        catalog
    };
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
    ) -> Result<Arc<Self>, BuildError> {
        let config = &loaded.config;
        let Checked {
            catalog,
            validator,
            guards,
            policy,
        } = check(loaded)?;
        let mut metadata = MetadataClient::new(&config.identity_providers, Arc::clone(&resolver))?;
        if let Some(sign_in) = config
            .sign_in
            .as_ref()
            .filter(|s| s.client_metadata_documents)
        {
            metadata.add_client_documents(
                portcullis_identity::sign_in::CLIENT_METADATA,
                &sign_in.client_metadata_egress,
                Arc::clone(&resolver),
            )?;
        }
        let fetcher: Arc<dyn MetadataFetcher> = Arc::new(IssuerFetcher(metadata));
        let egress = Egress::new(&config.apis, secrets, Arc::clone(&resolver))?;
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
        identity.set_metadata_fetcher(Arc::clone(&fetcher));
        spawn_key_maintenance(&identity);
        let sign_in = match &config.sign_in {
            None => None,
            Some(_) => {
                let store = SqliteGrants::open(&config.data_dir).await?;
                let tools = catalog
                    .tools()
                    .iter()
                    .map(|tool| (tool.name.clone(), tool.scopes.clone()))
                    .collect();
                Some(Arc::new(SignIn::new(
                    config,
                    secrets,
                    Arc::clone(&identity),
                    Arc::new(store),
                    tools,
                    Some(fetcher),
                )?))
            }
        };
        let audit = AuditLog::open(&config.audit_path(), config.audit.sync).await?;
        let approvals = match &config.approvals {
            None => None,
            Some(settings) => {
                let store = SqliteApprovals::open(&config.data_dir).await?;
                let approvers = Approvers::new(settings, secrets)?;
                let webhook = match &settings.webhook {
                    None => None,
                    Some(hook) => {
                        let client = WebhookClient::new(hook.url.url(), &hook.egress, resolver)?;
                        let secret = hook
                            .secret
                            .as_ref()
                            .map(|r| secrets.resolve(r))
                            .transpose()?;
                        Some(holds::spawn_webhook(
                            hook,
                            client,
                            secret,
                            config.listener.base_url(),
                        ))
                    }
                };
                Some(Approvals::new(
                    settings,
                    Arc::new(store),
                    approvers,
                    tool_approvals(config, &catalog),
                    webhook,
                ))
            }
        };
        let gateway = Arc::new(Self {
            identity,
            catalog,
            validator,
            guards,
            policy,
            egress,
            limits,
            audit,
            sign_in,
            approvals,
        });
        if gateway.approvals.is_some() {
            holds::spawn_sweeper(Arc::downgrade(&gateway));
        }
        Ok(gateway)
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
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, FetchError>> + Send + 'a>>
    {
        Box::pin(async move {
            self.0.get_json(issuer, url).await.map_err(|err| match err {
                MetadataError::NotJson { url } => FetchError::NotJson { url },
                MetadataError::Status { url, status } => FetchError::Status { url, status },
                other => FetchError::Request(other.to_string()),
            })
        })
    }

    fn post_form<'a>(
        &'a self,
        issuer: &'a str,
        url: &'a str,
        form: &'a [(&'a str, &'a str)],
        basic: Option<(&'a str, &'a portcullis_secrets::Secret)>,
    ) -> portcullis_identity::PostFuture<'a> {
        Box::pin(async move {
            self.0
                .post_form(issuer, url, form, basic)
                .await
                .map_err(|err| match err {
                    MetadataError::NotJson { url } => FetchError::NotJson { url },
                    MetadataError::Status { url, status } => FetchError::Status { url, status },
                    other => FetchError::Request(other.to_string()),
                })
        })
    }
}

/// `tools[].approval`: the approver group of each tool whose selection names one (the first
/// selection that picks the tool and names a group decides).
fn tool_approvals(
    config: &portcullis_config::Config,
    catalog: &Catalog,
) -> std::collections::HashMap<String, Arc<str>> {
    let mut groups = std::collections::HashMap::new();
    for selection in &config.tools {
        let Some(group) = &selection.approval else {
            continue;
        };
        for tool in catalog.tools() {
            if selection.api == tool.api && selection.operations.matches(&tool.operation_id) {
                groups
                    .entry(tool.name.clone())
                    .or_insert_with(|| Arc::from(group.as_str()));
            }
        }
    }
    groups
}
