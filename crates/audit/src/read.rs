//! Read-only access: chain verification and the newest records.

use std::path::Path;

use futures_util::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row};

use crate::record::{COLUMN_LIST, Columns, GENESIS_HASH};
use crate::{AuditError, Broken, StoredRecord, VerifyReport, read_only_connection};

/// Recomputes the whole chain from the stored columns and names the first broken record.
///
/// Opens the database read-only, so it may run while the gateway is writing; it checks the
/// records committed when it started.
pub async fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let mut conn = read_only_connection(path).await?;
    let sql = format!("SELECT {COLUMN_LIST} FROM audit_records ORDER BY seq");
    let mut report = VerifyReport {
        records: 0,
        first_broken: None,
    };
    {
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut conn);
        let mut last_seq = 0_i64;
        let mut last_hash = GENESIS_HASH.to_owned();
        while let Some(row) = rows.try_next().await.map_err(AuditError::Read)? {
            report.records += 1;
            if report.first_broken.is_some() {
                continue;
            }
            match check(&row, last_seq, &last_hash) {
                Ok((seq, hash)) => {
                    last_seq = seq;
                    last_hash = hash;
                }
                Err(broken) => report.first_broken = Some(broken),
            }
        }
    }
    close_quietly(conn).await;
    Ok(report)
}

/// The newest `limit` records, oldest first.
///
/// Opens the database read-only, so it may run while the gateway is writing.
pub async fn tail(path: &Path, limit: usize) -> Result<Vec<StoredRecord>, AuditError> {
    let mut conn = read_only_connection(path).await?;
    let sql = format!(
        "SELECT {COLUMN_LIST} FROM \
         (SELECT {COLUMN_LIST} FROM audit_records ORDER BY seq DESC LIMIT ?) ORDER BY seq"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut conn)
        .await
        .map_err(AuditError::Read)?;
    close_quietly(conn).await;
    rows.iter().map(stored_record).collect()
}

/// Checks one row against its predecessor; returns its sequence number and stored hash.
fn check(row: &SqliteRow, last_seq: i64, last_hash: &str) -> Result<(i64, String), Broken> {
    let seq: i64 = row.try_get("seq").unwrap_or(0);
    let request_id: String = row.try_get("request_id").unwrap_or_default();
    let broken = |reason: String| Broken {
        seq: u64::try_from(seq).unwrap_or(0),
        request_id: request_id.clone(),
        reason,
    };
    let columns =
        Columns::from_row(row).map_err(|m| broken(format!("malformed record: {}", m.0)))?;
    let prev_hash: String = row
        .try_get("prev_hash")
        .map_err(|_| broken("malformed record: column `prev_hash` is unreadable".into()))?;
    let hash: String = row
        .try_get("hash")
        .map_err(|_| broken("malformed record: column `hash` is unreadable".into()))?;

    if last_seq.checked_add(1) != Some(seq) {
        return Err(broken(format!("sequence gap after {last_seq}")));
    }
    if prev_hash != last_hash {
        return Err(broken(if last_seq == 0 {
            "previous hash is not the genesis hash".to_owned()
        } else {
            format!("previous hash does not match record {last_seq}")
        }));
    }
    let parts = columns
        .canonical_parts()
        .map_err(|m| broken(format!("malformed record: {}", m.0)))?;
    if parts.chain_hash(&prev_hash, seq) != hash {
        return Err(broken("hash mismatch".to_owned()));
    }
    Ok((seq, hash))
}

fn stored_record(row: &SqliteRow) -> Result<StoredRecord, AuditError> {
    let seq: i64 = row.try_get("seq").map_err(AuditError::Read)?;
    let corrupt = |detail: String| AuditError::Corrupt { seq, detail };
    let prev_hash: String = row.try_get("prev_hash").map_err(AuditError::Read)?;
    let hash: String = row.try_get("hash").map_err(AuditError::Read)?;
    let event = Columns::from_row(row)
        .and_then(Columns::into_event)
        .map_err(|m| corrupt(m.0))?;
    Ok(StoredRecord {
        seq: u64::try_from(seq).map_err(|_| corrupt("negative sequence number".to_owned()))?,
        event,
        prev_hash,
        hash,
    })
}

async fn close_quietly(conn: sqlx::sqlite::SqliteConnection) {
    if let Err(error) = conn.close().await {
        tracing::debug!(%error, "closing a read-only audit connection failed");
    }
}
