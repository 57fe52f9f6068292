//! The execute phase, stages 10 and 11: send the permitted call, filter the answer, settle the
//! meter. It takes only a [`Decided`] call, which only the decide phase makes.

use portcullis_core::{Denial, UpstreamResponse};

use crate::Gateway;
use crate::context::CallContext;
use crate::decide::Decided;

impl Gateway {
    /// Stages 10 and 11 for a decided call; what each learned goes into `ctx`.
    pub(crate) async fn execute(
        &self,
        ctx: &mut CallContext,
        decided: Decided,
    ) -> Result<UpstreamResponse, Denial> {
        let Decided { call, metered } = decided;

        // Stage 10, egress: translation, credential injection, SSRF-safe send of exactly the
        // permitted call. Egress itself redacts any echo of the credential it injected (the
        // reflection guard).
        let mut response = self.egress.send(&call).await?;
        ctx.upstream_status = Some(response.status);
        ctx.egress_notices = response.notices.clone();

        // Stage 11, filter: DLP, the response prompt-injection scan and shaping, on the way
        // back and before the audit record, so the record says what the caller received.
        ctx.filter = Some(self.guards.filter(&call.tool().name, &mut response)?);

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
}
