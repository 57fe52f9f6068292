//! The call as authorization sees it, and the proof that it was authorized.
//!
//! A [`Call`] is what a caller asked for: who (the principal), when and from where (the
//! request metadata minted when the request arrived), which tool and with which arguments (and
//! their digest, taken once). [`PolicyEngine::authorize`](crate::PolicyEngine::authorize) takes
//! the call and, when policy allows it, hands it back wrapped in a [`Permitted`]. Nothing else
//! can make a `Permitted`: its fields are private and it has no public constructor outside this
//! crate (a test-only one exists behind the `test-util` feature). Egress sends only a
//! `Permitted<Call>`, and reads the tool and the arguments from inside it, so what is sent is
//! exactly what was authorized: another tool or changed arguments cannot be expressed.

use std::ops::Deref;
use std::sync::Arc;

use portcullis_catalog::Tool;
use portcullis_core::{ArgsDigest, Arguments, CallArgs, CallMeta, Principal};
use serde_json::Map;

/// One tool call: caller, request facts, tool and arguments. Immutable once built.
#[derive(Clone, Debug)]
pub struct Call {
    principal: Arc<Principal>,
    meta: CallMeta,
    tool: Arc<Tool>,
    // INVARIANT: an object (checked by `Call::new`).
    args: CallArgs,
}

impl Call {
    /// Builds a call from arguments that are a JSON object; other arguments come back as the
    /// error (the validate stage refuses them before a call is built).
    pub fn new(
        principal: Arc<Principal>,
        meta: CallMeta,
        tool: Arc<Tool>,
        args: CallArgs,
    ) -> Result<Self, CallArgs> {
        if args.object().is_none() {
            return Err(args);
        }
        Ok(Self {
            principal,
            meta,
            tool,
            args,
        })
    }

    /// Who calls.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The request facts: id, front, caller address, time of arrival.
    pub fn meta(&self) -> &CallMeta {
        &self.meta
    }

    /// The tool called.
    pub fn tool(&self) -> &Arc<Tool> {
        &self.tool
    }

    /// The arguments.
    pub fn args(&self) -> &Arguments {
        static EMPTY: std::sync::OnceLock<Arguments> = std::sync::OnceLock::new();
        // INVARIANT: `Call::new` accepts only object arguments, so the fallback is never used.
        self.args
            .object()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// The digest of the arguments (SHA-256 of their canonical JSON).
    pub fn digest(&self) -> &ArgsDigest {
        self.args.digest()
    }
}

/// Proof that policy allowed `T` (in the gateway: a [`Call`]). Only this crate mints it, from a
/// policy decision; it dereferences to what it wraps, which cannot be changed afterwards.
#[derive(Debug)]
pub struct Permitted<T> {
    inner: T,
    policies: Vec<String>,
    policy_version: Arc<str>,
    approvals: Vec<Arc<str>>,
}

impl<T> Permitted<T> {
    /// Mints the proof; only the policy engine decides when.
    pub(crate) fn new(
        inner: T,
        policies: Vec<String>,
        policy_version: Arc<str>,
        approvals: Vec<Arc<str>>,
    ) -> Self {
        Self {
            inner,
            policies,
            policy_version,
            approvals,
        }
    }

    /// The approver groups that must each approve before this runs: those named by
    /// `@approval("<group>")` on the determining permit policies, sorted, without repeats;
    /// empty when none carries it.
    pub fn approvals(&self) -> &[Arc<str>] {
        &self.approvals
    }

    /// Ids of the permit policies that determined the decision.
    pub fn policies(&self) -> &[String] {
        &self.policies
    }

    /// Version of the policy set that decided.
    pub fn policy_version(&self) -> &str {
        &self.policy_version
    }

    /// Gives up the proof and returns what it wrapped.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// A permit without a policy decision, for other crates' tests.
    #[cfg(feature = "test-util")]
    pub fn for_tests(inner: T) -> Self {
        Self::new(inner, Vec::new(), Arc::from("test"), Vec::new())
    }
}

impl<T> Deref for Permitted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}
