//! Authorization with Cedar: the gateway generates a Cedar schema from its tool catalog, loads
//! and strictly validates the operator's policies against it, decides each call, and mints the
//! [`Permitted`] call that egress requires.
//!
//! Deny by default, forbid wins: a call is allowed only when some `permit` policy is satisfied
//! and no `forbid` policy is. In one way the engine is stricter than Cedar: when a `forbid`
//! policy fails to evaluate (Cedar then skips it), the call is denied, because the forbid might
//! have applied.
//!
//! # Schema conventions
//!
//! Everything lives in the `Portcullis` namespace (print it with [`PolicyEngine::schema_text`]):
//! - entity types `Role`, `Agent in [Role]` (the principal; id = the token's `client_id`, parents
//!   = its roles) and `Api` (the resource; id = the API name; an enumerated type, so a policy
//!   naming an unknown API fails validation);
//! - one action per tool, id = tool name, annotated `@doc("<METHOD> <path>")`, applying to
//!   principal `Agent` and resource `Api`; each tool action is in the groups
//!   `Action::"api:<api>"` and `Action::"risk:<low|medium|high|critical>"` (all four risk groups
//!   always exist);
//! - the context of every tool action:
//!   - `args`: the arguments, typed from the tool's JSON Schema: `string` → `String`, `integer` →
//!     `Long`, `boolean` → `Bool`, arrays → `Set`, objects with `properties` → records;
//!     properties listed in `required` are required, the rest optional (test with `has`).
//!     `number`, `null`, type unions, `nullable`, combinators and untyped schemas are left out of
//!     the type, and their values out of the context. Names that are not identifiers are quoted
//!     (`context.args["x-request-id"]`);
//!   - `ip: ipaddr`: the caller address, IPv4-mapped IPv6 given as IPv4. Always present: an
//!     unknown address is `0.0.0.0`, which is in no useful range, so a permit that requires a
//!     network fails closed;
//!   - `time: datetime`: the request time, to the second; `hour: Long`: its hour, 0 to 23, UTC;
//!   - `token`: `{ jti, sub, client_id, scopes, roles, iat, exp }` of the access token.
//!
//! Policy ids are the `@id("...")` annotation when present (unique across all files), else
//! `<file name>#<index>` with the 0-based position of the policy in its file.
//!
//! # Design decisions
//!
//! - Load fails on any problem (syntax, strict validation, duplicate or empty id, templates) with
//!   one `file:line:column: message` line per problem in Cedar's words, so a typo in a tool or
//!   argument name stops start-up instead of silently never matching.
//! - Scopes are evaluated outside Cedar, exactly: the entity hierarchy is fixed and shallow
//!   (agents are in roles; tool actions are in their two groups; APIs are in nothing), so
//!   whether a policy's `action` and `resource` constraints hold for a tool is known at load,
//!   and whether its `principal` constraint holds is a lookup by agent id and role. Cedar
//!   evaluates a policy as `scope && conditions` and the scope part cannot fail, so a policy
//!   whose scope does not hold is false without error; the authorizer is handed only the
//!   policies whose whole scope holds, which changes no decision and keeps a decision's cost
//!   proportional to the policies that concern the caller and tool, not to the size of the set.
//! - Visibility ([`PolicyEngine::may_see`]) uses the same selection: a tool is shown when the
//!   scope of some `permit` policy holds for the caller and no condition-free `forbid` policy's
//!   scope does. A permit's scope holding is necessary for it to allow anything, so a tool no
//!   permit could allow is never shown; a tool whose permits all have conditions is shown, and
//!   the conditions are decided per call.
//! - Per request only the context is built, directly as Cedar values (not through Cedar's JSON
//!   parser, which costs several times a whole decision), by the same types that generated the
//!   schema, and only the attributes the selected policies can read (their attribute paths are
//!   read from each policy at load; a context the analysis cut too short makes a policy fail to
//!   evaluate, which denies). The rest is built once and cached: the policy set and the
//!   attributes it reads per distinct selection, the entity store per agent and role set, and the
//!   `ipaddr`/`datetime` values (the caches are bounded and emptied when full).

mod call;
mod context;
mod error;
mod load;
mod names;
mod needs;
mod schema;
mod scope;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    AuthorizationError, Authorizer, Decision, Effect, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, Policy, PolicySet, Request, RestrictedExpression, Schema, SchemaFragment,
};
use parking_lot::RwLock;
use portcullis_catalog::{Catalog, Tool};
use portcullis_core::{Arguments, CallMeta, Denial, DenialKind, Principal, truncate_for_message};

pub use call::{Call, Permitted};
pub use error::{PolicyError, Problem};

use context::{CallFacts, ContextBuilder};
use needs::Needs;
use schema::{ArgType, Field};
use scope::{ActionScope, HeadScope, PrincipalIndex, Principals};

/// Most policy subsets kept by [`PolicyEngine`]; the cache is emptied when full.
const MAX_CACHED_SETS: usize = 1024;
/// Most principals (agent and role set) whose entities are kept; the cache is emptied when full.
const MAX_CACHED_PRINCIPALS: usize = 1024;

/// The loaded policies and the schema they were validated against; decides calls.
///
/// Immutable once loaded (apart from internal caches); reloading builds a new engine.
pub struct PolicyEngine {
    /// Kept only where requests are checked against it (debug builds, so every test): once the
    /// policies are validated, a release build needs nothing from it, and with a large catalog
    /// it is several megabytes.
    #[cfg(any(debug_assertions, test))]
    schema: Schema,
    version: Arc<str>,
    policies: Vec<LoadedPolicy>,
    /// The role and scope names the policies use, with where each is written.
    names: Vec<names::NameUse>,
    /// The approver group of each permit policy annotated `@approval("<group>")`, by policy id,
    /// with where the annotation is written.
    approvals: HashMap<String, (Arc<str>, Problem)>,
    authorizer: Authorizer,
    agent_type: EntityTypeName,
    role_type: EntityTypeName,
    user_type: EntityTypeName,
    group_type: EntityTypeName,
    tools: HashMap<String, ToolPolicies>,
    /// Every action entity, with its group parents.
    action_entities: Vec<Entity>,
    contexts: ContextBuilder,
    /// Policy sets by the (sorted) indices of the policies in them.
    sets: RwLock<HashMap<Vec<u32>, Arc<Selection>>>,
    /// Entity stores (the agent and every action) by agent and sorted role set.
    entities: RwLock<HashMap<PrincipalKey, Arc<Entities>>>,
}

/// An agent id and its sorted, deduplicated roles.
type PrincipalKey = (String, Vec<String>);

struct LoadedPolicy {
    policy: Policy,
    permit: bool,
    /// A forbid without conditions: whenever its scope holds, the call is denied.
    unconditional_forbid: bool,
    /// The parts of the context its conditions read.
    needs: Needs,
}

/// The policies that decide a call, as a Cedar policy set, and the parts of the context they
/// read.
struct Selection {
    set: PolicySet,
    needs: Needs,
}

/// Everything about one tool that is known before any request.
struct ToolPolicies {
    action: EntityUid,
    resource: EntityUid,
    /// The fields of the `args` record.
    args: Vec<Field>,
    /// The policies whose action and resource scope holds for this tool.
    index: PrincipalIndex,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("version", &self.version)
            .field("policy_count", &self.policies.len())
            .field("tools", &self.tools.len())
            .finish_non_exhaustive()
    }
}

/// One call to decide.
#[derive(Clone, Copy, Debug)]
pub struct AuthzRequest<'a> {
    /// Who calls.
    pub principal: &'a Principal,
    /// The tool called (from the catalog the engine was loaded with).
    pub tool: &'a Tool,
    /// The arguments, already validated against the tool's input schema.
    pub args: &'a Arguments,
    /// Request facts: caller address and time.
    pub meta: &'a CallMeta,
    /// The risk score of the inspection stage's findings (0 to 100), `context.risk`.
    pub risk: i64,
}

/// What the stages before authorize learned about a call, for its Cedar context.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct AuthzContext {
    /// The risk score of the inspection stage's findings (0 to 100), `context.risk`.
    pub risk: i64,
}

impl PolicyEngine {
    /// Reads every `*.cedar` file in `dir` (not recursive, sorted by name, hidden files
    /// skipped), generates the schema from `catalog` and `apis` (API names), and parses and
    /// strictly validates the policies. Every problem found is reported, one
    /// `file:line:column: message` line each. An empty directory is allowed (everything is then
    /// denied) and logged as a warning.
    pub fn load(dir: &Path, catalog: &Catalog, apis: &[String]) -> Result<Self, PolicyError> {
        let files = load::read_dir(dir)?;
        let version: Arc<str> = Arc::from(load::version(&files));
        let schema_error = |reason: String| PolicyError::Schema { reason };

        let (args, fragment) = Self::fragment(catalog, apis)?;
        let schema =
            Schema::from_schema_fragments([fragment]).map_err(|e| schema_error(e.to_string()))?;

        let (parsed, mut problems) = load::parse(&files);
        let set = PolicySet::from_policies(parsed.iter().map(|p| p.policy.clone()))
            .map_err(|e| schema_error(format!("cannot assemble the policy set: {e}")))?;
        problems.extend(load::validate(&schema, &set, &parsed, &files));
        if !problems.is_empty() {
            return Err(PolicyError::Invalid { problems });
        }
        if parsed.is_empty() {
            tracing::warn!(
                dir = %dir.display(),
                "no policies loaded: every tool call will be denied"
            );
        }

        let names = names::collect(&parsed, &files);
        let approvals = approval_annotations(&parsed, &files);
        let types = EngineTypes::new().map_err(schema_error)?;
        let action_entities = schema
            .action_entities()
            .map_err(|e| schema_error(e.to_string()))?;
        let policies: Vec<LoadedPolicy> = parsed
            .into_iter()
            .map(|p| LoadedPolicy {
                permit: p.policy.effect() == Effect::Permit,
                unconditional_forbid: p.policy.effect() == Effect::Forbid
                    && !p.policy.has_non_scope_constraint(),
                needs: Needs::of_policy(&p.policy),
                policy: p.policy,
            })
            .collect();
        let heads: Vec<HeadScope> = policies.iter().map(|p| HeadScope::of(&p.policy)).collect();
        let mut tools = HashMap::new();
        for (tool, args) in catalog.tools().iter().map(Arc::as_ref).zip(&args) {
            let action = types.action(&tool.name);
            let groups = [
                types.action(&schema::api_group(&tool.api)),
                types.action(&schema::risk_group(tool.risk.as_str())),
            ];
            let resource =
                EntityUid::from_type_name_and_id(types.api.clone(), EntityId::new(&tool.api));
            let call = ActionScope {
                action: &action,
                groups: &groups,
                resource: &resource,
            };
            let mut index = PrincipalIndex::default();
            for (i, (policy, head)) in policies.iter().zip(&heads).enumerate() {
                let Ok(i) = u32::try_from(i) else {
                    return Err(schema_error("too many policies".to_owned()));
                };
                if head.holds_for(&call) {
                    let principals = Principals::of(
                        &policy.policy.principal_constraint(),
                        &types.agent,
                        &types.role,
                    );
                    index.insert(principals, i);
                }
            }
            let args = match args {
                ArgType::Record(fields) => fields.clone(),
                _ => Vec::new(),
            };
            tools.insert(
                tool.name.clone(),
                ToolPolicies {
                    action,
                    resource,
                    args,
                    index,
                },
            );
        }
        tracing::info!(
            policies = policies.len(),
            files = files.len(),
            version = %version,
            "policies loaded"
        );
        #[cfg(not(any(debug_assertions, test)))]
        drop(schema);
        Ok(Self {
            #[cfg(any(debug_assertions, test))]
            schema,
            version,
            policies,
            names,
            approvals,
            authorizer: Authorizer::new(),
            agent_type: types.agent,
            role_type: types.role,
            user_type: types.user,
            group_type: types.group,
            tools,
            action_entities: action_entities.into_iter().collect(),
            contexts: ContextBuilder::default(),
            sets: RwLock::new(HashMap::new()),
            entities: RwLock::new(HashMap::new()),
        })
    }

    /// Refuses role and scope names that nothing can grant: a role no agent has (`roles`), a
    /// scope no agent or tool declares (`scopes`). A policy naming one silently never applies,
    /// which strict validation cannot see (roles and scopes are data, not schema). Every such
    /// use is one `file:line:column` problem, with the closest known name when one is near.
    pub fn check_names(&self, roles: &[&str], scopes: &[&str]) -> Result<(), PolicyError> {
        let problems: Vec<Problem> = self
            .names
            .iter()
            .filter_map(|used| {
                let (known, what) = match used.kind {
                    names::NameKind::Role => (
                        roles,
                        "role `{}` is held by no agent (`agents[].roles`), so this policy never applies to it",
                    ),
                    names::NameKind::Scope => (
                        scopes,
                        "scope `{}` is declared by no agent or tool (`agents[].scopes`, `tools[].scopes`), so no token carries it",
                    ),
                };
                if known.contains(&used.name.as_str()) {
                    return None;
                }
                let name = portcullis_core::truncate_for_message(&used.name, 64);
                let mut message = what.replacen("{}", &name, 1);
                if let Some(near) = portcullis_core::closest(&used.name, known.iter().copied()) {
                    message.push_str(&format!("; did you mean `{near}`?"));
                }
                Some(Problem {
                    message,
                    ..used.at.clone()
                })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyError::Invalid { problems })
        }
    }

    /// The schema [`PolicyEngine::load`] generates for `catalog` and `apis`, in Cedar schema
    /// syntax. Generated again on each call: only `portcullis check --print-schema` asks for
    /// it, and a running gateway need not keep its text (half a megabyte for 1000 tools).
    pub fn schema_text(catalog: &Catalog, apis: &[String]) -> Result<String, PolicyError> {
        let (_, fragment) = Self::fragment(catalog, apis)?;
        fragment.to_cedarschema().map_err(|e| PolicyError::Schema {
            reason: e.to_string(),
        })
    }

    /// The argument types of every tool (in catalog order) and the schema generated from them.
    fn fragment(
        catalog: &Catalog,
        apis: &[String],
    ) -> Result<(Vec<ArgType>, SchemaFragment), PolicyError> {
        let schema_error = |reason: String| PolicyError::Schema { reason };
        let args: Vec<ArgType> = catalog
            .tools()
            .iter()
            .map(|tool| ArgType::args_of(&tool.input_schema))
            .collect();
        let all_apis: BTreeSet<String> = apis
            .iter()
            .cloned()
            .chain(catalog.tools().iter().map(|tool| tool.api.clone()))
            .collect();
        let tools_and_args: Vec<(&Tool, &ArgType)> = catalog
            .tools()
            .iter()
            .map(Arc::as_ref)
            .zip(args.iter())
            .collect();
        let fragment = SchemaFragment::from_json_value(
            schema::schema_json(&tools_and_args, &all_apis).map_err(schema_error)?,
        )
        .map_err(|e| schema_error(e.to_string()))?;
        Ok((args, fragment))
    }

    /// First 16 hex characters of SHA-256 over the sorted (file name, content) pairs.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Number of policies loaded.
    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    /// Stage 7, authorize: decides `call` (see [`PolicyEngine::decide`]) and, when policy allows
    /// it, hands it back as the [`Permitted`] call that egress requires, naming the permit
    /// policies that determined the decision and this policy set's version.
    pub fn authorize(&self, call: Call, context: AuthzContext) -> Result<Permitted<Call>, Denial> {
        let policies = self.decide(&AuthzRequest {
            principal: call.principal(),
            tool: call.tool(),
            args: call.args(),
            meta: call.meta(),
            risk: context.risk,
        })?;
        // Most policy sets hold nothing: then this costs one emptiness check.
        let approvals = if self.approvals.is_empty() {
            Vec::new()
        } else {
            // Every group any determining policy names must approve, in a stable order (Cedar
            // reports the determining policies in no particular order).
            let mut groups: Vec<Arc<str>> = policies
                .iter()
                .filter_map(|id| self.approvals.get(id).map(|(group, _)| Arc::clone(group)))
                .collect();
            groups.sort_unstable();
            groups.dedup();
            groups
        };
        Ok(Permitted::new(
            call,
            policies,
            Arc::clone(&self.version),
            approvals,
        ))
    }

    /// Refuses `@approval("<group>")` annotations naming a group the configuration does not
    /// declare (`approvals.groups`), one `file:line:column` problem each.
    pub fn check_approval_groups(&self, groups: &[&str]) -> Result<(), PolicyError> {
        let mut problems: Vec<Problem> = self
            .approvals
            .values()
            .filter(|(group, _)| !groups.contains(&group.as_ref()))
            .map(|(group, at)| {
                let name = portcullis_core::truncate_for_message(group, 64);
                let mut message = if groups.is_empty() {
                    format!(
                        "`@approval(\"{name}\")` names an approver group, but the configuration has no `approvals` section"
                    )
                } else {
                    format!(
                        "`@approval(\"{name}\")` names no approver group of `approvals.groups`"
                    )
                };
                if let Some(near) = portcullis_core::closest(group, groups.iter().copied()) {
                    message.push_str(&format!("; did you mean `{near}`?"));
                }
                Problem {
                    message,
                    ..at.clone()
                }
            })
            .collect();
        problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyError::Invalid { problems })
        }
    }

    /// The approver groups the policies name, sorted.
    pub fn approval_groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = self.approvals.values().map(|(g, _)| g.as_ref()).collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    /// Decides one call without minting anything: the ids of the permit policies that
    /// determined an allow, else a [`DenialKind::Forbidden`] denial whose message names only
    /// the tool. The denial's `policies` are the forbid policies that decided (empty when the
    /// call is denied only for lack of a permit), and `internal` says why for the audit log: `no
    /// permit policy matched`, the arguments not fitting the schema, or Cedar's evaluation
    /// errors.
    pub fn decide(&self, req: &AuthzRequest<'_>) -> Result<Vec<String>, Denial> {
        let tool_name = &req.tool.name;
        let deny = |policies: Vec<String>, internal: Vec<String>| {
            let mut denial = Denial::new(
                DenialKind::Forbidden,
                format!(
                    "this agent is not permitted to call `{}` with these arguments",
                    truncate_for_message(tool_name, 128)
                ),
            );
            denial.policies = policies;
            denial.internal = internal;
            denial
        };
        let no_permit = || deny(Vec::new(), vec!["no permit policy matched".to_owned()]);
        let Some(tool) = self.tools.get(tool_name) else {
            return Err(deny(
                Vec::new(),
                vec!["the tool is not in the catalog the policies were loaded with".to_owned()],
            ));
        };
        let principal = req.principal;
        let selected = tool.index.select(&principal.agent, &principal.roles);
        if selected.is_empty() {
            return Err(no_permit());
        }
        let misfit = |e: &dyn std::fmt::Display| {
            deny(
                Vec::new(),
                vec![format!("the call does not fit the policy schema: {e}")],
            )
        };
        let selection = self
            .selection(&selected)
            .map_err(|e| deny(Vec::new(), vec![e]))?;
        let policies = &selection.set;
        // Only what the selected policies can read (see `needs.rs`).
        let user = principal.user.as_ref().map(|u| {
            EntityUid::from_type_name_and_id(self.user_type.clone(), EntityId::new(&u.id))
        });
        let facts = CallFacts {
            args: &tool.args,
            values: req.args,
            principal,
            user: user.as_ref(),
            meta: req.meta,
            risk: req.risk,
        };
        let context = self
            .contexts
            .build(&facts, &selection.needs)
            .map_err(|e| misfit(&e))?;
        let entities = self
            .entities(principal)
            .map_err(|e| deny(Vec::new(), vec![e]))?;
        // INVARIANT: the request conforms to the schema the policies were validated against:
        // principal and resource types are fixed, and the context is built by the same types
        // that generated the schema's context (`context.rs` refuses a value of any other type).
        // Cedar's own check of this costs about a third of a decision, so only debug builds (and
        // so every test) run it, on the whole context: the one decided on may leave out
        // attributes no selected policy reads, which the schema check would refuse.
        #[cfg(any(debug_assertions, test))]
        {
            let whole = self
                .contexts
                .build(&facts, &Needs::All)
                .map_err(|e| misfit(&e))?;
            Request::new(
                self.agent_uid(&principal.agent),
                tool.action.clone(),
                tool.resource.clone(),
                whole,
                Some(&self.schema),
            )
            .map_err(|e| misfit(&e))?;
        }
        let request = Request::new(
            self.agent_uid(&principal.agent),
            tool.action.clone(),
            tool.resource.clone(),
            context,
            None,
        )
        .map_err(|e| misfit(&e))?;
        let response = self.authorizer.is_authorized(&request, policies, &entities);
        let diagnostics = response.diagnostics();
        let errors: Vec<String> = diagnostics.errors().map(ToString::to_string).collect();
        let reasons: Vec<String> = diagnostics.reason().map(ToString::to_string).collect();
        match response.decision() {
            Decision::Allow => {
                // Cedar skips a policy that fails to evaluate; for a forbid that would turn an
                // error into an allow, so deny instead.
                let failed_forbids: Vec<String> = diagnostics
                    .errors()
                    .map(|error| match error {
                        AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
                    })
                    .filter(|id| {
                        policies
                            .policy(id)
                            .is_some_and(|p| p.effect() == Effect::Forbid)
                    })
                    .map(ToString::to_string)
                    .collect();
                if !failed_forbids.is_empty() {
                    let mut internal = errors;
                    internal.push("a forbid policy failed to evaluate".to_owned());
                    return Err(deny(failed_forbids, internal));
                }
                Ok(reasons)
            }
            Decision::Deny => {
                let mut internal = Vec::with_capacity(errors.len() + 1);
                if reasons.is_empty() {
                    internal.push("no permit policy matched".to_owned());
                }
                internal.extend(errors);
                Err(deny(reasons, internal))
            }
        }
    }

    /// Whether some permit policy could allow this principal to call this tool, judged from
    /// policy scopes alone (see the crate documentation). A tool not in the catalog the engine
    /// was loaded with is never visible.
    pub fn may_see(&self, principal: &Principal, tool: &Tool) -> bool {
        let Some(tool) = self.tools.get(&tool.name) else {
            return false;
        };
        let selected = tool.index.select(&principal.agent, &principal.roles);
        let flags = || {
            selected
                .iter()
                .filter_map(|&i| self.policies.get(i as usize))
        };
        flags().any(|p| p.permit) && !flags().any(|p| p.unconditional_forbid)
    }

    /// The policy set of the given policies and what they read, built once per distinct
    /// selection.
    fn selection(&self, selected: &[u32]) -> Result<Arc<Selection>, String> {
        if let Some(selection) = self.sets.read().get(selected) {
            return Ok(Arc::clone(selection));
        }
        let loaded = || {
            selected
                .iter()
                .filter_map(|&i| self.policies.get(i as usize))
        };
        let set = PolicySet::from_policies(loaded().map(|p| p.policy.clone()))
            .map_err(|e| format!("cannot assemble the policy set: {e}"))?;
        let mut needs = Needs::default();
        for policy in loaded() {
            needs.merge(&policy.needs);
        }
        let selection = Arc::new(Selection { set, needs });
        let mut sets = self.sets.write();
        if sets.len() >= MAX_CACHED_SETS {
            sets.clear();
        }
        sets.insert(selected.to_vec(), Arc::clone(&selection));
        Ok(selection)
    }

    /// The entity store for a principal: its agent entity (parents: its roles) and every action
    /// entity. Built once per distinct agent and role set.
    fn entities(&self, principal: &Principal) -> Result<Arc<Entities>, String> {
        if let Some(user) = &principal.user {
            // Per-user stores are not cached: there is one per user, not one per agent.
            let agent = self.agent_entity(&principal.agent, &principal.roles);
            let groups: HashSet<EntityUid> = user
                .groups
                .iter()
                .map(|g| {
                    EntityUid::from_type_name_and_id(self.group_type.clone(), EntityId::new(g))
                })
                .collect();
            let attrs = HashMap::from([
                (
                    "id".to_owned(),
                    RestrictedExpression::new_string(user.id.clone()),
                ),
                (
                    "issuer".to_owned(),
                    RestrictedExpression::new_string(user.issuer.clone()),
                ),
                (
                    "tenant".to_owned(),
                    RestrictedExpression::new_string(user.tenant.clone()),
                ),
            ]);
            let user = Entity::new(
                EntityUid::from_type_name_and_id(self.user_type.clone(), EntityId::new(&user.id)),
                attrs,
                groups,
            )
            .map_err(|e| format!("cannot build the user entity: {e}"))?;
            return Entities::from_entities(
                [agent, user]
                    .into_iter()
                    .chain(self.action_entities.iter().cloned()),
                None,
            )
            .map(Arc::new)
            .map_err(|e| format!("cannot build the request entities: {e}"));
        }
        let mut roles = principal.roles.clone();
        roles.sort_unstable();
        roles.dedup();
        let key = (principal.agent.clone(), roles);
        if let Some(entities) = self.entities.read().get(&key) {
            return Ok(Arc::clone(entities));
        }
        let parents: HashSet<EntityUid> = key.1.iter().map(|r| self.role_uid(r)).collect();
        let agent = Entity::new_no_attrs(self.agent_uid(&key.0), parents);
        let entities = Arc::new(
            Entities::from_entities(
                std::iter::once(agent).chain(self.action_entities.iter().cloned()),
                None,
            )
            .map_err(|e| format!("cannot build the request entities: {e}"))?,
        );
        let mut cache = self.entities.write();
        if cache.len() >= MAX_CACHED_PRINCIPALS {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&entities));
        Ok(entities)
    }

    fn agent_entity(&self, agent: &str, roles: &[String]) -> Entity {
        let parents: HashSet<EntityUid> = roles.iter().map(|r| self.role_uid(r)).collect();
        Entity::new_no_attrs(self.agent_uid(agent), parents)
    }

    fn agent_uid(&self, agent: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.agent_type.clone(), EntityId::new(agent))
    }

    fn role_uid(&self, role: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.role_type.clone(), EntityId::new(role))
    }
}

/// Parsed names of the schema's entity types.
struct EngineTypes {
    agent: EntityTypeName,
    role: EntityTypeName,
    user: EntityTypeName,
    group: EntityTypeName,
    api: EntityTypeName,
    action: EntityTypeName,
}

impl EngineTypes {
    fn new() -> Result<Self, String> {
        let name = |ty: &str| {
            EntityTypeName::from_str(&format!("{}::{ty}", schema::NAMESPACE))
                .map_err(|e| format!("invalid entity type name `{ty}`: {e}"))
        };
        Ok(Self {
            agent: name(schema::AGENT_TYPE)?,
            role: name(schema::ROLE_TYPE)?,
            user: name(schema::USER_TYPE)?,
            group: name(schema::GROUP_TYPE)?,
            api: name(schema::API_TYPE)?,
            action: name("Action")?,
        })
    }

    fn action(&self, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.action.clone(), EntityId::new(id))
    }
}

#[cfg(test)]
mod tests;

/// The `@approval("<group>")` annotation of each permit policy, with where it is written.
fn approval_annotations(
    parsed: &[load::ParsedPolicy],
    files: &[load::SourceFile],
) -> HashMap<String, (Arc<str>, Problem)> {
    let mut found = HashMap::new();
    for policy in parsed {
        let Some(group) = policy.policy.annotation("approval") else {
            continue;
        };
        let Some(file) = files.get(policy.file) else {
            continue;
        };
        let offset = file
            .text
            .get(policy.offset..)
            .and_then(|rest| rest.find("@approval"))
            .map_or(policy.offset, |at| policy.offset + at);
        let (line, column) = load::line_column(&file.text, offset);
        found.insert(
            policy.policy.id().to_string(),
            (
                Arc::from(group.trim()),
                Problem {
                    file: file.path.clone(),
                    line: Some(line),
                    column: Some(column),
                    message: String::new(),
                },
            ),
        );
    }
    found
}
