//! The request pipeline: the one ordered list of stages every tool call goes through, written
//! once, whatever front end the call arrived on. The files of this crate mirror the stage table
//! of ARCHITECTURE.md:
//!
//! | phase | stages | where |
//! |---|---|---|
//! | identify | 2: token or certificate → [`Caller`] (principal and request metadata) | [`identify`](Gateway::identify) |
//! | decide | 3 admit, 4 resolve and scope, 5 validate, 6 inspect, 7 authorize | `decide.rs` |
//! | approve | 8: a call a person must approve is held (`holds.rs`: expiry, webhook) | `approve.rs` |
//! | meter | 9: loop, rates, quotas, concurrency | `decide.rs` (`meter`) |
//! | execute | 10 egress, 11 filter, settle the meter | `execute.rs` |
//! | record | 12: one audit record for every outcome | `record.rs` (`Outcome`) |
//! | lifecycle | detaches each call from the client's connection and always records | `lifecycle.rs` |
//!
//! Stage 8 (approve) sits between authorize and meter, holding the [`Permitted`] call: a held
//! call is metered only when it runs.
//!
//! Design decisions:
//! - The order is plain sequential code, not a stack of middleware, so it reads top to bottom
//!   and each stage carries a comment saying why it sits where it does (BRIEF.md section 4).
//! - The order is load-bearing in types: `decide` ends with a [`Permitted`] call that only the
//!   policy crate can mint, and egress sends nothing else, so no code path reaches the upstream
//!   without an authorization decision on exactly the arguments sent.
//! - Every outcome is recorded by one function, `record(Outcome)`; the fronts never write audit
//!   records and never answer before the record is written. If the record cannot be written
//!   the caller gets an internal error (fail closed).
//! - The fronts never spawn tasks: each public entry ([`Gateway::call`], [`Gateway::refuse`],
//!   [`Gateway::step_up`], [`Gateway::token`], [`Gateway::admin`], and identify's refusals)
//!   runs its work and its record on a task of its own, so a client that hangs up cannot cut a
//!   call between its upstream request and its record.
//!
//! [`Permitted`]: portcullis_policy::Permitted
//! [`Caller`]: portcullis_core::Caller

mod approve;
mod build;
mod context;
mod decide;
mod execute;
mod holds;
mod identify;
mod lifecycle;
mod record;

use std::sync::Arc;

use portcullis_audit::AuditLog;
use portcullis_catalog::{Catalog, Tool};
use portcullis_core::Principal;
use portcullis_egress::Egress;
use portcullis_guard::{Guards, Validator};
use portcullis_identity::Identity;
use portcullis_identity::sign_in::SignIn;
use portcullis_limits::Limits;
use portcullis_policy::PolicyEngine;

pub use approve::{
    ConfirmFuture, HoldChannel, HoldProgress, HoldWatch, USER_GROUP, approval_json, decision_result,
};
pub use build::{BuildError, Checked, check};
pub use identify::{Arrival, Refused};
pub use lifecycle::{AdminAnswer, AdminDone, SignInStep, TokenAnswer, TokenForm, TokenRequest};

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
    /// Interactive sign-in (`sign_in`), when configured.
    sign_in: Option<Arc<SignIn>>,
    /// Human approvals (`approvals`), when configured.
    approvals: Option<approve::Approvals>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("tools", &self.catalog.len())
            .field("policy_version", &self.policy.version())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// The token issuer and verifier.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Interactive sign-in, when configured.
    pub fn sign_in(&self) -> Option<&Arc<SignIn>> {
        self.sign_in.as_ref()
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

    /// The tools this principal may see (tools/list, `GET /v1/tools`).
    pub fn list_tools(&self, principal: &Principal) -> Vec<Arc<Tool>> {
        self.catalog
            .tools()
            .iter()
            .filter(|tool| self.policy.may_see(principal, tool))
            .cloned()
            .collect()
    }

    /// Flushes the audit log and the quota counters; call on shutdown.
    pub async fn shutdown(&self) {
        self.limits.close().await;
        self.audit.close().await;
    }
}
