use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_config::AuditSync;
use portcullis_core::{AuditEvent, Decision, Front};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Row};

use super::*;
use crate::record::{COLUMN_LIST, Columns, GENESIS_HASH};

/// Every await on the log in these tests must finish well within this; a hang fails the test.
const DEADLINE: Duration = Duration::from_secs(20);

fn event(i: u64) -> AuditEvent {
    AuditEvent {
        time: format!("2026-01-02T03:04:{:02}.{:06}Z", i % 60, i),
        request_id: format!("req-{i}"),
        agent: Some(format!("agent-{}", i % 3)),
        subject: i.is_multiple_of(2).then(|| "user@example.com".to_owned()),
        client_ip: Some("127.0.0.1".to_owned()),
        front: if i.is_multiple_of(2) {
            Front::Http
        } else {
            Front::Mcp
        },
        tool: Some("get_order".to_owned()),
        args_digest: Some(format!("{i:064x}")),
        decision: if i.is_multiple_of(5) {
            Decision::Deny
        } else {
            Decision::Allow
        },
        reasons: vec!["permit".to_owned(), format!("note \"{i}\"\n")],
        policies: vec![format!("policy-{i}")],
        upstream_status: (!i.is_multiple_of(5)).then_some(200),
        latency_us: 1000 + i,
        policy_version: Some("sha256:abc".to_owned()),
    }
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("nested").join("audit.db")
}

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("operation hung")
}

/// A plain read-write connection that bypasses the log, as an attacker with file access has.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .expect("raw connection")
}

async fn write_records(path: &Path, count: u64) -> AuditLog {
    let log = AuditLog::open(path, AuditSync::Full).await.expect("open");
    for i in 1..=count {
        let seq = within(log.record(event(i))).await.expect("record");
        assert_eq!(seq, i);
    }
    log
}

/// The hashed form as the specification states it: `canonical_json` of the event plus `seq`.
fn spec_canonical(seq: i64, event: &AuditEvent) -> String {
    let mut value = serde_json::to_value(event).expect("event json");
    value
        .as_object_mut()
        .expect("object")
        .insert("seq".into(), seq.into());
    portcullis_core::canonical_json(&value)
}

#[test]
fn canonical_form_and_hash_are_stable() {
    let event = AuditEvent {
        time: "2026-01-02T03:04:05.000006Z".into(),
        request_id: "r-1".into(),
        agent: Some("agent-a".into()),
        subject: None,
        client_ip: Some("127.0.0.1".into()),
        front: Front::Http,
        tool: Some("get_order".into()),
        args_digest: Some("ab".into()),
        decision: Decision::Allow,
        reasons: vec!["permit".into()],
        policies: vec!["p1".into()],
        upstream_status: Some(200),
        latency_us: 1234,
        policy_version: Some("v1".into()),
    };
    let expected = r#"{"agent":"agent-a","args_digest":"ab","client_ip":"127.0.0.1","decision":"allow","front":"http","latency_us":1234,"policies":["p1"],"policy_version":"v1","reasons":["permit"],"request_id":"r-1","seq":1,"subject":null,"time":"2026-01-02T03:04:05.000006Z","tool":"get_order","upstream_status":200}"#;
    assert_eq!(spec_canonical(1, &event), expected);
    let (mut columns, parts) = Columns::from_event(event).expect("encode");
    assert_eq!(parts.joined(1), expected);
    // The form rebuilt from the stored columns is the one that was hashed.
    columns.seq = 1;
    assert_eq!(columns.canonical_parts().expect("parts"), parts);
    // Computed independently: sha256("0" * 64 + "\n" + expected).
    assert_eq!(
        parts.chain_hash(GENESIS_HASH, 1),
        "42cfd3e21f2778208b4ef32267cc4d5853a754e46bd0d0e64dec5b812efcff02"
    );
}

#[test]
fn split_canonical_form_equals_canonical_json_for_awkward_values() {
    let awkward = [
        "",
        "plain",
        "quote \" and backslash \\",
        "control \u{0001}\u{001f}\t\r\n",
        "unicode é 日本 🦀 \u{2028}\u{2029}",
        "}{\",\"seq\":1,",
    ];
    for (i, text) in awkward.iter().enumerate() {
        let seq = i as i64 * 1_000_003 + 1;
        let mut event = event(i as u64);
        event.request_id = (*text).to_owned();
        event.tool = Some((*text).to_owned());
        event.agent = None;
        event.reasons = vec![(*text).to_owned(), String::new()];
        event.policies = Vec::new();
        event.upstream_status = None;
        event.latency_us = u64::MAX;
        let (columns, parts) = Columns::from_event(event.clone()).expect("encode");
        // The stored latency saturates; the specification applies to the stored value.
        event.latency_us = i64::MAX as u64;
        assert_eq!(parts.joined(seq), spec_canonical(seq, &event), "case {i}");
        assert_eq!(columns.canonical_parts().expect("parts"), parts);
    }
}

#[test]
fn columns_round_trip_to_the_event() {
    for i in [1, 2, 5] {
        let (columns, _) = Columns::from_event(event(i)).expect("encode");
        assert_eq!(columns.into_event().expect("decode"), event(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_get_unique_contiguous_seqs_and_verify() {
    const TASKS: u64 = 64;
    const PER_TASK: u64 = 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = AuditLog::open(&path, AuditSync::Full).await.expect("open");

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..PER_TASK {
                let seq = log
                    .record(event(task * PER_TASK + i))
                    .await
                    .expect("record");
                seqs.push(seq);
            }
            seqs
        }));
    }
    let mut all = BTreeSet::new();
    for handle in handles {
        for seq in within(handle).await.expect("task") {
            assert!(all.insert(seq), "duplicate seq {seq}");
        }
    }
    let total = TASKS * PER_TASK;
    assert_eq!(all.len() as u64, total);
    assert_eq!(all.first(), Some(&1));
    assert_eq!(all.last(), Some(&total));

    // Verification runs read-only while the writer still holds the database open.
    let report = within(verify(&path)).await.expect("verify");
    assert_eq!(report.records, total);
    assert_eq!(report.first_broken, None);
    within(log.close()).await;
    let report = verify(&path).await.expect("verify after close");
    assert!(report.is_intact());
    assert_eq!(report.records, total);
}

#[tokio::test]
async fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 3).await;
    within(log.close()).await;

    let log = AuditLog::open(&path, AuditSync::Normal)
        .await
        .expect("reopen");
    assert_eq!(within(log.record(event(4))).await.expect("record"), 4);
    assert_eq!(within(log.record(event(5))).await.expect("record"), 5);
    within(log.close()).await;

    let report = verify(&path).await.expect("verify");
    assert_eq!(report.records, 5);
    assert_eq!(report.first_broken, None);
    let records = tail(&path, 10).await.expect("tail");
    assert_eq!(records[3].prev_hash, records[2].hash);
}

#[tokio::test]
async fn the_database_uses_wal_and_the_declared_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 1).await;
    let mut conn = raw(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_records' \
         ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("indexes");
    assert_eq!(indexes, ["audit_records_request_id", "audit_records_time"]);
    within(log.close()).await;
}

#[tokio::test]
async fn audit_sync_selects_the_synchronous_pragma() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (sync, expected) in [(AuditSync::Full, 2), (AuditSync::Normal, 1)] {
        let path = dir.path().join(format!("{expected}.db"));
        let mut conn = database(&path, sync)
            .open(Schema::Migrations(migrator()))
            .await
            .expect("open");
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut conn)
            .await
            .expect("pragma");
        assert_eq!(level, expected, "{sync:?}");
    }
}

#[tokio::test]
async fn an_updated_column_is_named_by_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 10).await;
    within(log.close()).await;

    let mut conn = raw(&path).await;
    let changed = sqlx::query("UPDATE audit_records SET decision = 'allow' WHERE seq = 5")
        .execute(&mut conn)
        .await
        .expect("tamper");
    assert_eq!(changed.rows_affected(), 1);

    let report = verify(&path).await.expect("verify");
    assert_eq!(report.records, 10);
    assert_eq!(
        report.first_broken,
        Some(Broken {
            seq: 5,
            request_id: "req-5".into(),
            reason: "hash mismatch".into(),
        })
    );
}

#[tokio::test]
async fn a_rehashed_forgery_breaks_the_next_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 6).await;
    within(log.close()).await;

    // The forger knows the algorithm and rewrites record 3 with a matching hash.
    let mut conn = raw(&path).await;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMN_LIST} FROM audit_records WHERE seq = 3"
    )))
    .fetch_one(&mut conn)
    .await
    .expect("row");
    let mut columns = Columns::from_row(&row).expect("columns");
    let prev_hash: String = row.get("prev_hash");
    columns.decision = "deny".into();
    let forged = columns
        .canonical_parts()
        .expect("canonical")
        .chain_hash(&prev_hash, 3);
    sqlx::query("UPDATE audit_records SET decision = 'deny', hash = ? WHERE seq = 3")
        .bind(forged)
        .execute(&mut conn)
        .await
        .expect("forge");

    let report = verify(&path).await.expect("verify");
    assert_eq!(
        report.first_broken,
        Some(Broken {
            seq: 4,
            request_id: "req-4".into(),
            reason: "previous hash does not match record 3".into(),
        })
    );
}

#[tokio::test]
async fn a_deleted_row_is_named_as_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 10).await;
    within(log.close()).await;

    let mut conn = raw(&path).await;
    sqlx::query("DELETE FROM audit_records WHERE seq = 6")
        .execute(&mut conn)
        .await
        .expect("delete");

    let report = verify(&path).await.expect("verify");
    assert_eq!(report.records, 9);
    assert_eq!(
        report.first_broken,
        Some(Broken {
            seq: 7,
            request_id: "req-7".into(),
            reason: "sequence gap after 5".into(),
        })
    );
}

#[tokio::test]
async fn a_deleted_first_row_is_named_as_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 3).await;
    within(log.close()).await;

    let mut conn = raw(&path).await;
    sqlx::query("DELETE FROM audit_records WHERE seq = 1")
        .execute(&mut conn)
        .await
        .expect("delete");
    let broken = verify(&path)
        .await
        .expect("verify")
        .first_broken
        .expect("broken");
    assert_eq!(
        (broken.seq, broken.reason.as_str()),
        (2, "sequence gap after 0")
    );
}

#[tokio::test]
async fn swapped_rows_break_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 4).await;
    within(log.close()).await;

    // Swap the content of records 2 and 3 but keep the sequence numbers in place.
    let mut conn = raw(&path).await;
    for statement in [
        "UPDATE audit_records SET seq = 100 WHERE seq = 2",
        "UPDATE audit_records SET seq = 2 WHERE seq = 3",
        "UPDATE audit_records SET seq = 3 WHERE seq = 100",
    ] {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("swap");
    }
    let broken = verify(&path)
        .await
        .expect("verify")
        .first_broken
        .expect("broken");
    assert_eq!(broken.seq, 2);
    assert_eq!(broken.request_id, "req-3");
}

#[tokio::test]
async fn malformed_list_columns_are_reported_not_fatal() {
    let cases = [
        (
            "'[not json'",
            "malformed record: column `reasons` is not a JSON array of strings",
        ),
        // Same strings, different bytes: still a modified column.
        (
            "replace(reasons, ',', ', ')",
            "malformed record: column `reasons` is not in canonical form",
        ),
    ];
    for (expression, reason) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = db_path(&dir);
        let log = write_records(&path, 3).await;
        within(log.close()).await;

        let mut conn = raw(&path).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE audit_records SET reasons = {expression} WHERE seq = 2"
        )))
        .execute(&mut conn)
        .await
        .expect("tamper");
        let report = verify(&path).await.expect("verify");
        assert_eq!(report.records, 3);
        let broken = report.first_broken.expect("broken");
        assert_eq!((broken.seq, broken.reason.as_str()), (2, reason));
        assert!(matches!(
            tail(&path, 3).await,
            Err(AuditError::Corrupt { seq: 2, .. })
        ));
    }
}

#[tokio::test]
async fn tail_returns_the_newest_records_oldest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 10).await;

    let records = within(tail(&path, 3)).await.expect("tail");
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [8, 9, 10]);
    for record in &records {
        assert_eq!(record.event, event(record.seq));
    }
    assert_eq!(records[1].prev_hash, records[0].hash);
    assert_eq!(records[2].prev_hash, records[1].hash);

    let all = tail(&path, 100).await.expect("tail all");
    assert_eq!(all.len(), 10);
    assert_eq!(all[0].prev_hash, GENESIS_HASH);
    assert!(tail(&path, 0).await.expect("tail none").is_empty());

    // One flat JSON object per record, for JSON-lines output.
    let line = serde_json::to_value(&records[2]).expect("json");
    assert_eq!(line["seq"], 10);
    assert_eq!(line["request_id"], "req-10");
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["hash"], records[2].hash.as_str());
    let back: StoredRecord = serde_json::from_value(line).expect("parse back");
    assert_eq!(back, records[2]);
    within(log.close()).await;
}

/// Opened first, the log creates its folder owner-only and its files owner-only.
#[cfg(unix)]
#[tokio::test]
async fn the_log_creates_its_folder_and_files_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 1).await;
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(path.parent().expect("parent")), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&path.with_extension("db-wal")), 0o600);
    within(log.close()).await;
}

#[tokio::test]
async fn readers_do_not_create_a_missing_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.db");
    assert!(matches!(verify(&path).await, Err(AuditError::Open { .. })));
    assert!(matches!(tail(&path, 1).await, Err(AuditError::Open { .. })));
    assert!(!path.exists());
}

#[tokio::test]
async fn an_empty_log_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = AuditLog::open(&path, AuditSync::Full).await.expect("open");
    within(log.close()).await;
    let report = verify(&path).await.expect("verify");
    assert_eq!(report.records, 0);
    assert!(report.is_intact());
}

#[tokio::test]
async fn record_after_close_errors_instead_of_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 2).await;
    let other = log.clone();
    within(log.close()).await;
    // A second close, from any handle, returns too.
    within(other.close()).await;
    assert!(matches!(
        within(other.record(event(3))).await,
        Err(AuditError::Closed)
    ));
    assert_eq!(verify(&path).await.expect("verify").records, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_commits_everything_queued_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = AuditLog::open(&path, AuditSync::Full).await.expect("open");
    let mut pending = Vec::new();
    for i in 1..=200 {
        let log = log.clone();
        pending.push(tokio::spawn(async move { log.record(event(i)).await }));
    }
    // Let the spawned calls queue up before closing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    within(log.close()).await;
    let mut committed = 0;
    for handle in pending {
        match within(handle).await.expect("task") {
            Ok(_) => committed += 1,
            Err(AuditError::Closed) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    // Every call that was answered Ok is in the log, and nothing else is.
    let report = verify(&path).await.expect("verify");
    assert_eq!(report.records, committed);
    assert!(report.is_intact());
}

#[tokio::test]
async fn a_write_error_surfaces_as_err_not_a_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 2).await;

    let mut conn = raw(&path).await;
    sqlx::query("DROP TABLE audit_records")
        .execute(&mut conn)
        .await
        .expect("drop");
    drop(conn);

    let first = within(log.record(event(3))).await;
    assert!(matches!(first, Err(AuditError::Write(_))), "{first:?}");
    // The head cannot be re-read without the table, so the writer stops and says so.
    let second = within(log.record(event(4))).await;
    assert!(
        matches!(second, Err(AuditError::WriterFailed)),
        "{second:?}"
    );
    within(log.close()).await;
}

#[tokio::test]
async fn a_failed_batch_is_not_skipped_and_the_chain_resumes_from_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 2).await;

    // Another writer appends a correctly chained record 3 behind this log's back.
    let mut conn = raw(&path).await;
    let head: String = sqlx::query_scalar("SELECT hash FROM audit_records WHERE seq = 2")
        .fetch_one(&mut conn)
        .await
        .expect("head");
    let (mut columns, parts) = Columns::from_event(event(3)).expect("encode");
    columns.seq = 3;
    let hash = parts.chain_hash(&head, 3);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO audit_records ({COLUMN_LIST}) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )))
    .bind(columns.seq)
    .bind(columns.time)
    .bind(columns.request_id)
    .bind(columns.agent)
    .bind(columns.subject)
    .bind(columns.client_ip)
    .bind(columns.front)
    .bind(columns.tool)
    .bind(columns.args_digest)
    .bind(columns.decision)
    .bind(columns.reasons)
    .bind(columns.policies)
    .bind(columns.upstream_status)
    .bind(columns.latency_us)
    .bind(columns.policy_version)
    .bind(head)
    .bind(hash)
    .execute(&mut conn)
    .await
    .expect("foreign insert");
    drop(conn);

    // This log still believes the head is 2: its insert of seq 3 conflicts and is refused.
    let conflicted = within(log.record(event(33))).await;
    assert!(
        matches!(conflicted, Err(AuditError::Write(_))),
        "{conflicted:?}"
    );
    // It re-read the head, so the next record chains onto record 3.
    assert_eq!(within(log.record(event(4))).await.expect("record"), 4);
    within(log.close()).await;

    let report = verify(&path).await.expect("verify");
    assert_eq!(report.records, 4);
    assert!(report.is_intact(), "{report:?}");
    let seqs: Vec<String> = tail(&path, 10)
        .await
        .expect("tail")
        .into_iter()
        .map(|r| r.event.request_id)
        .collect();
    assert_eq!(seqs, ["req-1", "req-2", "req-3", "req-4"]);
}

#[tokio::test]
async fn dropping_every_handle_stops_the_writer_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = write_records(&path, 3).await;
    let mut stopped = log.stopped.clone();
    drop(log);
    within(async { while stopped.changed().await.is_ok() {} }).await;
    assert_eq!(verify(&path).await.expect("verify").records, 3);
}

/// Batches larger than one `INSERT` statement take the transaction path, smaller ones a single
/// autocommit statement; both chain and commit every record.
#[tokio::test]
async fn large_and_small_batches_are_committed_and_chained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let mut conn = database(&path, AuditSync::Full)
        .open(Schema::Migrations(migrator()))
        .await
        .expect("open");
    let head = load_head(&mut conn).await.expect("head");
    let writer = Writer::new(conn, head, Arc::new(AtomicBool::new(false)), Arc::default());

    let (commands, queue) = mpsc::channel(2 * MAX_BATCH);
    let send = |i: u64| {
        let (columns, parts) = Columns::from_event(event(i)).expect("encode");
        let (ack, answer) = oneshot::channel();
        commands
            .try_send(Command::Record {
                columns,
                parts,
                ack,
            })
            .map_err(|_| ())
            .expect("queued");
        answer
    };
    // Queued before the writer starts, so its first batch holds all of them.
    let answers: Vec<_> = (1..=100).map(send).collect();
    let running = tokio::spawn(writer.run(queue));
    for (answer, expected) in answers.into_iter().zip(1..) {
        let seq = within(answer).await.expect("answered").expect("committed");
        assert_eq!(seq, expected);
    }
    let answers: Vec<_> = (101..=103).map(send).collect();
    for (answer, expected) in answers.into_iter().zip(101..) {
        let seq = within(answer).await.expect("answered").expect("committed");
        assert_eq!(seq, expected);
    }
    commands
        .try_send(Command::Close)
        .map_err(|_| ())
        .expect("close");
    within(running).await.expect("writer");

    let report = verify(&path).await.expect("verify");
    assert_eq!(report.records, 103);
    assert!(report.is_intact(), "{report:?}");
}

async fn bare_writer(path: &Path) -> (Writer, Arc<Load>) {
    let mut conn = database(path, AuditSync::Full)
        .open(Schema::Migrations(migrator()))
        .await
        .expect("open");
    let head = load_head(&mut conn).await.expect("head");
    let load = Arc::new(Load::default());
    let writer = Writer::new(
        conn,
        head,
        Arc::new(AtomicBool::new(false)),
        Arc::clone(&load),
    );
    (writer, load)
}

fn record_command(i: u64) -> Command {
    let (columns, parts) = Columns::from_event(event(i)).expect("encode");
    let (ack, _answer) = oneshot::channel();
    Command::Record {
        columns,
        parts,
        ack,
    }
}

/// Under load (at least `GATHER_SIBLINGS` calls in progress) the writer waits for the records
/// of the calls in progress before it commits; with fewer it takes what is queued at once.
#[tokio::test]
async fn the_writer_gathers_the_records_of_calls_in_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (writer, load) = bare_writer(&db_path(&dir)).await;
    let (commands, mut queue) = mpsc::channel(MAX_BATCH);

    // Few calls in progress: no wait for the one still running.
    let running: Vec<Pending> = (0..GATHER_SIBLINGS - 1)
        .map(|_| Pending::new(&load))
        .collect();
    let mut queued = vec![record_command(1)];
    within(writer.gather(&mut queue, &mut queued)).await;
    assert_eq!(queued.len(), 1);
    drop(running);

    // Enough calls in progress: their records, arriving one by one, join the batch.
    let calls = 2 * GATHER_SIBLINGS;
    let running: Vec<Pending> = (0..calls).map(|_| Pending::new(&load)).collect();
    let senders = tokio::spawn(async move {
        for (i, pending) in (2_u64..).zip(running) {
            drop(pending);
            commands
                .send(record_command(i))
                .await
                .map_err(|_| ())
                .expect("queued");
            tokio::task::yield_now().await;
        }
        commands
    });
    let mut queued = vec![record_command(1)];
    within(writer.gather(&mut queue, &mut queued)).await;
    assert_eq!(queued.len(), 1 + calls);
    drop(within(senders).await.expect("senders"));
}

/// With few calls in progress a record is committed at once, and a call that never hands over
/// its record holds commits back no longer than the gathering limit.
#[tokio::test]
async fn gathering_never_waits_for_a_record_that_does_not_come() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let log = AuditLog::open(&path, AuditSync::Full).await.expect("open");
    let quiet = log.pending();
    within(log.record(event(1))).await.expect("committed");
    drop(quiet);
    // Enough stuck calls to gather, none of which ever records: each commit still happens,
    // after at most the limit (a few milliseconds with the timer's granularity).
    let stuck: Vec<Pending> = (0..GATHER_SIBLINGS).map(|_| log.pending()).collect();
    for i in 2..=4 {
        let started = std::time::Instant::now();
        within(log.record(event(i))).await.expect("committed");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a commit waited {:?} for records that never came",
            started.elapsed()
        );
    }
    drop(stuck);
    assert_eq!(log.commits(), 4);
    assert_eq!(verify(&path).await.expect("verify").records, 4);
}
