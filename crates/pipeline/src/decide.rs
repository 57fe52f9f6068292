//! The decide phase, stages 3 to 7: from an identified caller's request to a permitted call,
//! or a denial; and stage 9, meter, which runs once the approve stage (8, `approve.rs`) let the
//! call go on. Nothing here answers the caller, writes the record or contacts the upstream.

use std::sync::Arc;

use portcullis_catalog::Tool;
use portcullis_core::{CallArgs, Denial, DenialKind, Principal};
use portcullis_limits::Metered;
use portcullis_policy::{AuthzContext, Call, Permitted};

use crate::Gateway;
use crate::context::CallContext;

/// A call that passed every stage before execute: authorized, cleared by the approve stage,
/// and holding its share of the limits. Execute takes it from here.
#[derive(Debug)]
pub(crate) struct Decided {
    /// The authorized call: egress sends exactly this.
    pub(crate) call: Permitted<Call>,
    /// Its concurrency permits (released when dropped) and the response's token charge.
    pub(crate) metered: Metered,
}

impl Gateway {
    /// Stages 3 to 7 for `name` with `args`, called by `principal`. Each stage returns early
    /// with a denial; what each learned goes into `ctx` for the record.
    pub(crate) async fn decide(
        &self,
        ctx: &mut CallContext,
        principal: Arc<Principal>,
        name: &str,
        args: CallArgs,
    ) -> Result<Permitted<Call>, Denial> {
        // The digest was taken when the arguments arrived, so even a call refused at resolve
        // leaves evidence of what was sent.
        ctx.args_digest = Some(args.digest().clone());

        // Stage 3, admit: the cheap per-principal rate limit, before any expensive stage, so a
        // flood costs a map look-up per call and nothing more.
        self.limits.admit(&principal).await?;

        // Stage 4, resolve: an unknown tool and a tool the caller may not see get the same
        // answer, so the catalog cannot be probed. Then the scope: the token must carry every
        // scope the tool requires. It comes after resolve, so the step-up answer (which names
        // the scopes) is given only for a tool the caller may see, and before validate and
        // authorize, because no argument can make up for a missing scope and the client's
        // remedy is a new token, not new arguments.
        let tool = self.resolve(&principal, name)?;
        check_scopes(&principal, tool)?;

        // Stage 5, validate: nothing downstream (guards, policy, egress) reads arguments that
        // did not pass the tool's schema and the input limits. An integer written as a float
        // (`42.0`, valid JSON Schema) is written as an integer from here on, so the call that
        // is authorized, digested and sent carries `42`.
        self.validator.validate(&tool.name, args.value())?;
        let args = match portcullis_guard::integral_numbers(&tool.input_schema, args.value()) {
            Some(normalized) => CallArgs::new(normalized),
            None => args,
        };
        let call = Call::new(principal, ctx.meta, Arc::clone(tool), args).map_err(|_| {
            // INVARIANT: the validator refuses non-object arguments.
            Denial::new(DenialKind::Internal, "arguments must be an object")
        })?;
        // From here the record names the digest of the arguments as authorized and sent.
        ctx.args_digest = Some(call.digest().clone());

        // Stage 6, inspect: injection detectors on the validated arguments. Before authorize,
        // so a blocking finding costs no policy evaluation and the others reach the policies
        // as `context.risk`.
        let inspection = self.guards.inspect(call.tool(), call.args())?;
        let context = AuthzContext {
            risk: inspection.risk,
        };
        ctx.inspection = Some(inspection);

        // Stage 7, authorize: Cedar with typed arguments and request context. The permitted
        // call is the only thing egress sends.
        let call = self.policy.authorize(call, context)?;
        ctx.policies = call.policies().to_vec();
        Ok(call)
    }

    /// Stage 9, meter: loop detection, cost-weighted limits, quotas, concurrency caps. After
    /// authorize, so denied calls consume no budget, and after approve, so a held call holds no
    /// concurrency permit while it waits and a refused or expired hold spends nothing. The
    /// permits it holds are released when `metered` is dropped, on every exit path after this
    /// one.
    pub(crate) async fn meter(&self, call: Permitted<Call>) -> Result<Decided, Denial> {
        let metered = self
            .limits
            .meter(
                call.principal(),
                call.tool(),
                call.digest().as_str(),
                || serde_json::to_vec(call.args()).map_or(0, |bytes| bytes.len()),
            )
            .await?;
        Ok(Decided { call, metered })
    }

    /// Stage 4, resolve, on its own: the tool `name` if this principal may see it. An unknown
    /// tool and a hidden one get the same denial.
    pub(crate) fn resolve(&self, principal: &Principal, name: &str) -> Result<&Arc<Tool>, Denial> {
        match self.catalog.get(name) {
            Some(tool) if self.policy.may_see(principal, tool) => Ok(tool),
            _ => Err(Denial::unknown_tool(name)),
        }
    }
}

/// The scope step of stage 4: every scope the tool requires must be in the token.
pub(crate) fn check_scopes(principal: &Principal, tool: &Tool) -> Result<(), Denial> {
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
