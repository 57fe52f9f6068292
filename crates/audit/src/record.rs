//! The stored form of one audit record and the hash that chains it to its predecessor.
//!
//! The writer and the verifier both go through [`Columns`]: the writer converts an
//! [`AuditEvent`] into columns first and hashes those, the verifier reads the same columns back
//! and hashes them again. The hashed form is therefore a function of the stored columns alone.
//!
//! The hashed form is `portcullis_core::canonical_json` of a flat object holding `seq` and every
//! event field. Because the sequence number is only known inside the writer, the JSON is built
//! in two parts around `seq` (by the caller, in parallel) and the writer only feeds the parts
//! and the number into SHA-256. A test pins the parts to `canonical_json`.

use portcullis_core::{AuditEvent, Decision, Front};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// The `prev_hash` of the first record.
pub(crate) const GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The column list shared by every statement that reads or writes records, in insert order.
pub(crate) const COLUMN_LIST: &str = "seq, time, request_id, agent, subject, client_ip, front, \
     tool, args_digest, decision, reasons, policies, upstream_status, latency_us, \
     policy_version, prev_hash, hash";

/// How many columns [`COLUMN_LIST`] names.
pub(crate) const COLUMN_COUNT: usize = 17;

/// One row of the `audit_records` table, minus the two hash columns.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Columns {
    pub(crate) seq: i64,
    pub(crate) time: String,
    pub(crate) request_id: String,
    pub(crate) agent: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) client_ip: Option<String>,
    pub(crate) front: String,
    pub(crate) tool: Option<String>,
    pub(crate) args_digest: Option<String>,
    pub(crate) decision: String,
    /// JSON text of the reasons array, exactly as stored.
    pub(crate) reasons: String,
    /// JSON text of the policies array, exactly as stored.
    pub(crate) policies: String,
    pub(crate) upstream_status: Option<i64>,
    pub(crate) latency_us: i64,
    pub(crate) policy_version: Option<String>,
}

/// A record whose columns cannot be turned back into the hashed form or into an event.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

/// The canonical JSON of a record, split where the sequence number goes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CanonicalParts {
    /// `{"agent":...,"request_id":"...","seq":`
    head: String,
    /// `,"subject":...}`
    tail: String,
}
impl CanonicalParts {
    /// `hex(SHA-256(prev_hash || "\n" || canonical))` for this record at `seq`.
    pub(crate) fn chain_hash(&self, prev_hash: &str, seq: i64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(b"\n");
        hasher.update(self.head.as_bytes());
        hasher.update(seq.to_string().as_bytes());
        hasher.update(self.tail.as_bytes());
        hex::encode(hasher.finalize())
    }

    /// The whole canonical JSON at `seq`.
    #[cfg(test)]
    pub(crate) fn joined(&self, seq: i64) -> String {
        format!("{}{seq}{}", self.head, self.tail)
    }
}

/// The fields that sort before `seq`, in sorted order (serde keeps declaration order).
#[derive(Serialize)]
struct BeforeSeq<'a> {
    agent: &'a Option<String>,
    args_digest: &'a Option<String>,
    client_ip: &'a Option<String>,
    decision: &'a str,
    front: &'a str,
    latency_us: i64,
    policies: &'a [String],
    policy_version: &'a Option<String>,
    reasons: &'a [String],
    request_id: &'a str,
}

/// The fields that sort after `seq`, in sorted order.
#[derive(Serialize)]
struct AfterSeq<'a> {
    subject: &'a Option<String>,
    time: &'a str,
    tool: &'a Option<String>,
    upstream_status: Option<i64>,
}

impl Columns {
    /// Converts an event into columns (with `seq` 0, set by the writer) and its hashed form.
    pub(crate) fn from_event(event: AuditEvent) -> Result<(Self, CanonicalParts), Malformed> {
        let columns = Self {
            seq: 0,
            time: event.time,
            request_id: event.request_id,
            agent: event.agent,
            subject: event.subject,
            client_ip: event.client_ip,
            front: event.front.as_str().to_owned(),
            tool: event.tool,
            args_digest: event.args_digest,
            decision: event.decision.as_str().to_owned(),
            reasons: encode_list(&event.reasons)?,
            policies: encode_list(&event.policies)?,
            upstream_status: event.upstream_status.map(i64::from),
            // A latency beyond i64::MAX microseconds (292,000 years) cannot be observed; the
            // stored, saturated value is what gets hashed, so the chain stays consistent.
            latency_us: i64::try_from(event.latency_us).unwrap_or(i64::MAX),
            policy_version: event.policy_version,
        };
        let parts = columns.parts_with(&event.reasons, &event.policies)?;
        Ok((columns, parts))
    }

    /// Reads the columns of a row selected with [`COLUMN_LIST`].
    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self, Malformed> {
        fn get<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, Malformed>
        where
            T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
        {
            row.try_get(name)
                .map_err(|_| Malformed(format!("column `{name}` has an unexpected type")))
        }
        Ok(Self {
            seq: get(row, "seq")?,
            time: get(row, "time")?,
            request_id: get(row, "request_id")?,
            agent: get(row, "agent")?,
            subject: get(row, "subject")?,
            client_ip: get(row, "client_ip")?,
            front: get(row, "front")?,
            tool: get(row, "tool")?,
            args_digest: get(row, "args_digest")?,
            decision: get(row, "decision")?,
            reasons: get(row, "reasons")?,
            policies: get(row, "policies")?,
            upstream_status: get(row, "upstream_status")?,
            latency_us: get(row, "latency_us")?,
            policy_version: get(row, "policy_version")?,
        })
    }

    /// The hashed form of the stored columns.
    ///
    /// The two JSON list columns must hold arrays of strings in exactly the text the writer
    /// produces, so no byte of a stored column can change without changing the hash input.
    pub(crate) fn canonical_parts(&self) -> Result<CanonicalParts, Malformed> {
        let reasons = decode_list("reasons", &self.reasons)?;
        let policies = decode_list("policies", &self.policies)?;
        self.parts_with(&reasons, &policies)
    }

    fn parts_with(
        &self,
        reasons: &[String],
        policies: &[String],
    ) -> Result<CanonicalParts, Malformed> {
        let encode_error =
            |e: serde_json::Error| Malformed(format!("record cannot be encoded: {e}"));
        let before = serde_json::to_string(&BeforeSeq {
            agent: &self.agent,
            args_digest: &self.args_digest,
            client_ip: &self.client_ip,
            decision: &self.decision,
            front: &self.front,
            latency_us: self.latency_us,
            policies,
            policy_version: &self.policy_version,
            reasons,
            request_id: &self.request_id,
        })
        .map_err(encode_error)?;
        let after = serde_json::to_string(&AfterSeq {
            subject: &self.subject,
            time: &self.time,
            tool: &self.tool,
            upstream_status: self.upstream_status,
        })
        .map_err(encode_error)?;
        // Both objects have fields: `before` is `{...}` and so is `after`.
        let mut head = before;
        head.pop();
        head.push_str(",\"seq\":");
        let mut tail = String::with_capacity(after.len());
        tail.push(',');
        tail.push_str(after.get(1..).unwrap_or_default());
        Ok(CanonicalParts { head, tail })
    }

    /// Rebuilds the event the pipeline handed in.
    pub(crate) fn into_event(self) -> Result<AuditEvent, Malformed> {
        let front: Front = serde_json::from_value(Value::String(self.front.clone()))
            .map_err(|_| Malformed(format!("unknown front `{}`", self.front)))?;
        let decision = Decision::parse(&self.decision)
            .ok_or_else(|| Malformed(format!("unknown decision `{}`", self.decision)))?;
        let reasons = decode_list("reasons", &self.reasons)?;
        let policies = decode_list("policies", &self.policies)?;
        let upstream_status = self
            .upstream_status
            .map(u16::try_from)
            .transpose()
            .map_err(|_| Malformed("column `upstream_status` is out of range".into()))?;
        let latency_us = u64::try_from(self.latency_us)
            .map_err(|_| Malformed("column `latency_us` is negative".into()))?;
        Ok(AuditEvent {
            time: self.time,
            request_id: self.request_id,
            agent: self.agent,
            subject: self.subject,
            client_ip: self.client_ip,
            front,
            tool: self.tool,
            args_digest: self.args_digest,
            decision,
            reasons,
            policies,
            upstream_status,
            latency_us,
            policy_version: self.policy_version,
        })
    }
}

fn encode_list(items: &[String]) -> Result<String, Malformed> {
    serde_json::to_string(items).map_err(|e| Malformed(format!("list cannot be encoded: {e}")))
}

/// Parses a stored list column and insists on the exact text [`encode_list`] writes.
fn decode_list(name: &str, text: &str) -> Result<Vec<String>, Malformed> {
    let items: Vec<String> = serde_json::from_str(text)
        .map_err(|_| Malformed(format!("column `{name}` is not a JSON array of strings")))?;
    if encode_list(&items)? != text {
        return Err(Malformed(format!(
            "column `{name}` is not in canonical form"
        )));
    }
    Ok(items)
}
