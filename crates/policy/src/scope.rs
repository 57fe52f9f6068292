//! Exact evaluation of policy scopes (the `principal`, `action` and `resource` constraints in a
//! policy's head), without the `when`/`unless` conditions.
//!
//! The entity hierarchy is fixed by the schema and shallow, so scope matching needs no entity
//! store: an agent's only ancestors are its roles, a tool action's only ancestors are its two
//! groups, and an API has none. This gives the answer Cedar's evaluator gives for the scope part
//! of a policy. Cedar evaluates a policy as `scope && conditions`, and the scope part cannot
//! fail, so a policy whose scope does not hold is false without error: leaving it out of the set
//! handed to the authorizer changes no decision.

use std::collections::HashMap;

use cedar_policy::{
    ActionConstraint, EntityTypeName, EntityUid, Policy, PrincipalConstraint, ResourceConstraint,
};

/// The entities a call to one tool has, apart from the principal.
pub(crate) struct ActionScope<'a> {
    /// The tool action.
    pub(crate) action: &'a EntityUid,
    /// The groups the action is in (API and risk groups).
    pub(crate) groups: &'a [EntityUid],
    /// The API entity (the resource).
    pub(crate) resource: &'a EntityUid,
}

/// A policy's action and resource constraints, extracted once.
pub(crate) struct HeadScope {
    action: ActionConstraint,
    resource: ResourceConstraint,
}

impl HeadScope {
    pub(crate) fn of(policy: &Policy) -> Self {
        Self {
            action: policy.action_constraint(),
            resource: policy.resource_constraint(),
        }
    }

    /// Whether the action and resource constraints hold for a call to this tool.
    pub(crate) fn holds_for(&self, call: &ActionScope<'_>) -> bool {
        let action_in = |uid: &EntityUid| uid == call.action || call.groups.contains(uid);
        let action = match &self.action {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(uid) => uid == call.action,
            ActionConstraint::In(uids) => uids.iter().any(action_in),
        };
        // `in` an API is equality: API entities have no ancestors.
        action
            && match &self.resource {
                ResourceConstraint::Any => true,
                ResourceConstraint::Eq(uid) | ResourceConstraint::In(uid) => uid == call.resource,
                ResourceConstraint::Is(ty) => ty == call.resource.type_name(),
                ResourceConstraint::IsIn(ty, uid) => {
                    ty == call.resource.type_name() && uid == call.resource
                }
            }
    }
}

/// Which principals a principal constraint admits, given that principals are agents whose only
/// ancestors are roles.
pub(crate) enum Principals {
    /// Every agent.
    All,
    /// The agent with this id.
    Agent(String),
    /// Agents holding the role with this id.
    Role(String),
    /// No agent (the constraint names another entity type).
    None,
}

impl Principals {
    pub(crate) fn of(
        constraint: &PrincipalConstraint,
        agent: &EntityTypeName,
        role: &EntityTypeName,
    ) -> Self {
        let member_of = |uid: &EntityUid| {
            let id = uid.id().unescaped().to_owned();
            if uid.type_name() == agent {
                Self::Agent(id)
            } else if uid.type_name() == role {
                Self::Role(id)
            } else {
                Self::None
            }
        };
        match constraint {
            PrincipalConstraint::Any => Self::All,
            PrincipalConstraint::Is(ty) if ty == agent => Self::All,
            PrincipalConstraint::Eq(uid) if uid.type_name() == agent => member_of(uid),
            PrincipalConstraint::In(uid) => member_of(uid),
            PrincipalConstraint::IsIn(ty, uid) if ty == agent => member_of(uid),
            PrincipalConstraint::Is(_)
            | PrincipalConstraint::Eq(_)
            | PrincipalConstraint::IsIn(_, _) => Self::None,
        }
    }
}

/// The policies whose action and resource scope holds for one tool, indexed by the principals
/// their principal scope admits.
#[derive(Default)]
pub(crate) struct PrincipalIndex {
    all: Vec<u32>,
    by_agent: HashMap<String, Vec<u32>>,
    by_role: HashMap<String, Vec<u32>>,
}

impl PrincipalIndex {
    pub(crate) fn insert(&mut self, principals: Principals, policy: u32) {
        match principals {
            Principals::All => self.all.push(policy),
            Principals::Agent(id) => self.by_agent.entry(id).or_default().push(policy),
            Principals::Role(id) => self.by_role.entry(id).or_default().push(policy),
            Principals::None => {}
        }
    }

    /// The policies whose whole scope holds for a call by this agent, sorted and unique.
    pub(crate) fn select(&self, agent: &str, roles: &[String]) -> Vec<u32> {
        let mut selected = self.all.clone();
        if let Some(policies) = self.by_agent.get(agent) {
            selected.extend_from_slice(policies);
        }
        for role in roles {
            if let Some(policies) = self.by_role.get(role) {
                selected.extend_from_slice(policies);
            }
        }
        selected.sort_unstable();
        selected.dedup();
        selected
    }
}
