//! The per-call context: created once when a request enters the pipeline (after identify, or
//! at the refusal that ended it before), it carries the request's metadata and collects what
//! each stage learned, typed, until the record is written from it.

use std::sync::Arc;

use portcullis_core::{ArgsDigest, CallMeta, Principal};
use portcullis_guard::{FilterReport, Inspection};

/// One request's facts, from its arrival to its audit record.
#[derive(Debug)]
pub(crate) struct CallContext {
    /// Request id, front, caller address, arrival time (for the latency).
    pub(crate) meta: CallMeta,
    /// The caller, when identify got that far.
    pub(crate) principal: Option<Arc<Principal>>,
    /// The tool as the caller named it.
    pub(crate) tool: Option<String>,
    /// The digest of the arguments as received, taken first so that even a call refused at
    /// resolve leaves evidence of what was sent.
    pub(crate) args_digest: Option<ArgsDigest>,
    /// Stage 6: the findings of argument inspection and their risk score.
    pub(crate) inspection: Option<Inspection>,
    /// Stage 7: the permit policies that allowed the call.
    pub(crate) policies: Vec<String>,
    /// Stage 8: what the approve stage did (held, waited, executed under which approval).
    pub(crate) approval: Vec<String>,
    /// Stage 10: the upstream's status, and what egress noted (the reflection guard).
    pub(crate) upstream_status: Option<u16>,
    pub(crate) egress_notices: Vec<String>,
    /// Stage 11: what the response filter did.
    pub(crate) filter: Option<FilterReport>,
}

impl CallContext {
    /// The context of a request that `meta` describes, from `principal` (if identified),
    /// naming `tool` (if it names one).
    pub(crate) fn new(
        meta: CallMeta,
        principal: Option<Arc<Principal>>,
        tool: Option<String>,
    ) -> Self {
        Self {
            meta,
            principal,
            tool,
            args_digest: None,
            inspection: None,
            policies: Vec::new(),
            approval: Vec::new(),
            upstream_status: None,
            egress_notices: Vec::new(),
            filter: None,
        }
    }

    /// What the stages learned, as audit reason lines (never argument or response values).
    pub(crate) fn reason_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(inspection) = &self.inspection {
            lines.extend(inspection.audit_lines());
            if inspection.risk > 0 {
                lines.push(format!("inspect: risk {}", inspection.risk));
            }
        }
        lines.extend(self.approval.iter().cloned());
        lines.extend(self.egress_notices.iter().cloned());
        if let Some(filter) = &self.filter {
            lines.extend(filter.lines.iter().cloned());
        }
        lines
    }
}
