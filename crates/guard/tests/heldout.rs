//! The held-out corpora of issue 17 (`corpora/heldout/`, see its README): secrets, personal data,
//! benign responses, injection payloads and benign arguments, written from public descriptions of
//! formats and payload families without looking at the detectors, and not to be read by whoever
//! changes them. The detectors are run exactly as `tests/corpora.rs` runs them (every DLP kind on
//! in redact mode, the same inspection schema).
//!
//! Only aggregate figures are printed (per kind or family: positives, caught, recall, false
//! positives, rate), never a row, a value or an excerpt, and assertion messages give counts only,
//! so that running this test does not leak the held-out set. The targets of the issue are asserted
//! by the ignored tests: `cargo test -p portcullis-guard --test heldout -- --ignored --nocapture`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use portcullis_config::{DlpAction, Severity};
use portcullis_guard::dlp::{Category, Dlp, DlpPolicy, DlpReport, KINDS};
use portcullis_guard::inspect::{Disabled, FAMILIES, Inspector};
use portcullis_guard::prompt::PromptDetector;
use serde_json::{Map, Value, json};

/// The DLP kinds that existed when the corpora were written. A kind added later counts for a row
/// of the same category (a new `npm_token` kind may catch what was labelled `generic_secret`).
const KINDS_AT_WRITING: &[&str] = &[
    "aws_access_key",
    "aws_secret_key",
    "gcp_api_key",
    "azure_storage_key",
    "azure_client_secret",
    "github_token",
    "gitlab_token",
    "slack_token",
    "stripe_key",
    "anthropic_key",
    "openai_key",
    "private_key",
    "jwt",
    "db_url",
    "generic_secret",
    "card",
    "ssn",
    "iban",
    "email",
    "phone",
    "ip_address",
];

/// The inspection families that existed when the corpora were written; see [`KINDS_AT_WRITING`].
const FAMILIES_AT_WRITING: &[&str] = &[
    "sql",
    "shell",
    "path_traversal",
    "template",
    "script",
    "internal_url",
    "prompt_injection",
];

/// A secret longer than this must not survive even in part: no window of this many characters of
/// it may remain in the output (a half-redaction), unless the window also occurs elsewhere in the
/// input.
const WINDOW: usize = 16;

/// Issue 17's targets on held-out data.
const SECRET_RECALL: f64 = 0.99;
const SECRET_FORMATS: usize = 40;
const PII_RECALL: f64 = 0.95;
const BENIGN_ALTERED: f64 = 0.005;
const INJECTION_RECALL: f64 = 0.95;
const INJECTION_FPR: f64 = 0.01;

fn rows(file: &str) -> Vec<Value> {
    let path = format!("{}/corpora/heldout/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The value a DLP row stands for: its `json`, or its `text` as a JSON string.
fn payload(row: &Value) -> Value {
    match row.get("json") {
        Some(json) => json.clone(),
        None => row["text"].clone(),
    }
}

/// Every object key, string and number of `value`, joined by NUL: what a reader of the answer sees.
fn strings(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push('\0');
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}\0");
        }
        Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Value::Object(members) => {
            for (key, member) in members {
                out.push_str(key);
                out.push('\0');
                strings(member, out);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

fn text_of(value: &Value) -> String {
    let mut out = String::new();
    strings(value, &mut out);
    out
}

fn category(kind: &str) -> Option<bool> {
    KINDS
        .iter()
        .find(|(name, _, _)| *name == kind)
        .map(|(_, category, _)| matches!(category, Category::Secret))
}

/// The DLP outcome for one row: the kinds that fired and the strings of the rewritten value.
struct Scan {
    fired: BTreeSet<&'static str>,
    before: String,
    after: String,
}

fn scan(dlp: &Dlp, policy: &DlpPolicy, row: &Value) -> Scan {
    let input = payload(row);
    let mut value = input.clone();
    let mut report = DlpReport::default();
    dlp.redact(&mut value, policy, &mut report);
    Scan {
        fired: report.counts.keys().copied().collect(),
        before: text_of(&input),
        after: text_of(&value),
    }
}

/// True when the secret, or a window of it that the rest of the input does not also hold, is
/// still in the output.
fn survives(secret: &str, scan: &Scan) -> bool {
    if scan.after.contains(secret) {
        return true;
    }
    let context = scan.before.replace(secret, "\0");
    let chars: Vec<(usize, char)> = secret.char_indices().collect();
    if chars.len() <= WINDOW {
        return false;
    }
    (0..=chars.len() - WINDOW).any(|i| {
        let start = chars[i].0;
        let end = chars
            .get(i + WINDOW)
            .map_or(secret.len(), |(offset, _)| *offset);
        let window = &secret[start..end];
        scan.after.contains(window) && !context.contains(window)
    })
}

/// Its own kind fired (a `generic_secret` row: any secret kind; any row: a kind added since the
/// corpora were written, of the same category) and nothing of the secret is left.
fn caught(kind: &str, secret: &str, scan: &Scan) -> bool {
    let row_category = category(kind);
    let by_kind = scan.fired.iter().any(|fired| {
        *fired == kind
            || (kind == "generic_secret" && category(fired) == Some(true))
            || (!KINDS_AT_WRITING.contains(fired) && category(fired) == row_category)
    });
    by_kind && !survives(secret, scan)
}

#[derive(Default)]
struct Tally {
    positives: usize,
    caught: usize,
    /// DLP only: the value is gone, under any kind of the row's category (for information: a
    /// GitHub token redacted as `generic_secret` is redacted, but not caught).
    redacted: usize,
    false_positives: usize,
}

#[expect(clippy::cast_precision_loss, reason = "small counts")]
fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A Markdown table of `tallies`; `dlp` adds the count redacted under any kind of the category.
fn table(
    title: &str,
    column: &str,
    tallies: &BTreeMap<String, Tally>,
    negatives: usize,
    dlp: bool,
) -> String {
    let extra = if dlp { " redacted by any kind |" } else { "" };
    let mut out = format!(
        "\n{title} (benign cases: {negatives})\n| {column} | positives | caught | recall |{extra} false positives | FP rate |\n|---|---|---|---|{}---|---|\n",
        if dlp { "---|" } else { "" }
    );
    let mut total = Tally::default();
    for (name, t) in tallies {
        if t.positives == 0 && t.false_positives == 0 {
            continue;
        }
        let redacted = if dlp {
            format!(" {} |", t.redacted)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {:.1}% |{redacted} {} | {:.2}% |",
            t.positives,
            t.caught,
            100.0 * ratio(t.caught, t.positives),
            t.false_positives,
            100.0 * ratio(t.false_positives, negatives)
        );
        total.positives += t.positives;
        total.caught += t.caught;
        total.redacted += t.redacted;
    }
    let redacted = if dlp {
        format!(" {} |", total.redacted)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "| all | {} | {} | {:.1}% |{redacted} | |",
        total.positives,
        total.caught,
        100.0 * ratio(total.caught, total.positives),
    );
    out
}

/// Figures of the DLP run over the secrets, PII and benign corpora.
struct DlpFigures {
    secrets: Tally,
    pii: Tally,
    formats: usize,
    formats_complete: usize,
    benign: usize,
    altered: usize,
}

fn dlp_figures() -> DlpFigures {
    let dlp = Dlp::new().unwrap();
    let policy = DlpPolicy::all(DlpAction::Redact);
    let mut secret_kinds: BTreeMap<String, Tally> = BTreeMap::new();
    let mut pii_kinds: BTreeMap<String, Tally> = BTreeMap::new();
    let mut formats: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut secrets = Tally::default();
    let mut pii = Tally::default();
    for (file, is_secret) in [("secrets.jsonl", true), ("pii.jsonl", false)] {
        for row in rows(file) {
            let kind = row["kind"].as_str().unwrap();
            let scan = scan(&dlp, &policy, &row);
            let secret = row["secret"].as_str().unwrap();
            let hit = caught(kind, secret, &scan);
            let gone = !survives(secret, &scan)
                && scan
                    .fired
                    .iter()
                    .any(|fired| category(fired) == category(kind));
            let (tallies, all) = if is_secret {
                let format = formats
                    .entry(row["format"].as_str().unwrap().to_owned())
                    .or_default();
                format.0 += 1;
                format.1 += usize::from(hit);
                (&mut secret_kinds, &mut secrets)
            } else {
                (&mut pii_kinds, &mut pii)
            };
            let tally = tallies.entry(kind.to_owned()).or_default();
            tally.positives += 1;
            tally.caught += usize::from(hit);
            tally.redacted += usize::from(gone);
            all.positives += 1;
            all.caught += usize::from(hit);
        }
    }
    let benign_rows = rows("benign.jsonl");
    let mut altered = 0;
    for row in &benign_rows {
        let scan = scan(&dlp, &policy, row);
        if scan.after != scan.before {
            altered += 1;
        }
        for kind in &scan.fired {
            let tallies = if category(kind) == Some(true) {
                &mut secret_kinds
            } else {
                &mut pii_kinds
            };
            tallies
                .entry((*kind).to_owned())
                .or_default()
                .false_positives += 1;
        }
    }
    let formats_complete = formats.values().filter(|(n, c)| n == c).count();
    let mut out = table(
        "Held-out secrets, every DLP kind on (redact)",
        "kind",
        &secret_kinds,
        benign_rows.len(),
        true,
    );
    let _ = writeln!(
        out,
        "secret formats: {}, of which every instance caught: {formats_complete}",
        formats.len()
    );
    out.push_str(&table(
        "Held-out personal data, every DLP kind on (redact)",
        "kind",
        &pii_kinds,
        benign_rows.len(),
        true,
    ));
    let _ = writeln!(
        out,
        "\nbenign values altered: {altered} of {} ({:.2}%)",
        benign_rows.len(),
        100.0 * ratio(altered, benign_rows.len())
    );
    println!("{out}");
    DlpFigures {
        secrets,
        pii,
        formats: formats.len(),
        formats_complete,
        benign: benign_rows.len(),
        altered,
    }
}

/// Figures of the inspection run over the injection and benign-argument corpora.
struct InspectionFigures {
    families: BTreeMap<String, Tally>,
    benign: usize,
    flagged: usize,
    internal_urls: usize,
    internal_refused: usize,
    public_urls: usize,
    public_refused: usize,
}

fn inspection_figures() -> InspectionFigures {
    let prompt = Arc::new(PromptDetector::new().unwrap());
    let inspector = Inspector::new(
        Arc::clone(&prompt),
        portcullis_egress::classify::special_purpose,
    )
    .unwrap();
    let schema = json!({
        "type": "object",
        "properties": {
            "free": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "id": {"type": "string", "pattern": "^.*$"},
        }
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let mut families: BTreeMap<String, Tally> = FAMILIES
        .iter()
        .map(|f| ((*f).to_owned(), Tally::default()))
        .collect();
    let mut figures = InspectionFigures {
        families: BTreeMap::new(),
        benign: 0,
        flagged: 0,
        internal_urls: 0,
        internal_refused: 0,
        public_urls: 0,
        public_refused: 0,
    };
    let (mut scan_positives, mut scan_caught, mut scan_benign, mut scan_flagged) = (0, 0, 0, 0);
    let mut hits = Vec::new();
    for file in ["injection.jsonl", "benign_args.jsonl"] {
        for row in rows(file) {
            let field = row["field"].as_str().unwrap();
            let mut args = Map::new();
            args.insert(field.to_owned(), row["value"].clone());
            let findings = inspector.inspect(&schema, &args, Disabled::default());
            let fired: BTreeSet<&str> = findings
                .iter()
                .map(|f| f.detector.split('.').next().unwrap())
                .collect();
            let blocked = findings.iter().any(|f| f.severity >= Severity::High);
            let text = row["value"].as_str().unwrap();
            hits.clear();
            if row["label"] == "positive" {
                let family = row["family"].as_str().unwrap();
                // Its own family, or one added since the corpora were written.
                let hit = fired
                    .iter()
                    .any(|f| *f == family || !FAMILIES_AT_WRITING.contains(f));
                let tally = families.entry(family.to_owned()).or_default();
                tally.positives += 1;
                tally.caught += usize::from(hit);
                if family == "internal_url" {
                    figures.internal_urls += 1;
                    let schema_refuses = !validator.is_valid(&Value::Object(args));
                    figures.internal_refused += usize::from(blocked || schema_refuses);
                }
                if family == "prompt_injection" {
                    prompt.scan(text, &mut hits);
                    scan_positives += 1;
                    scan_caught += usize::from(!hits.is_empty());
                }
            } else {
                figures.benign += 1;
                figures.flagged += usize::from(!fired.is_empty());
                for family in fired {
                    families
                        .entry(family.to_owned())
                        .or_default()
                        .false_positives += 1;
                }
                if field == "url" {
                    figures.public_urls += 1;
                    figures.public_refused += usize::from(blocked);
                }
                if field == "free" {
                    prompt.scan(text, &mut hits);
                    scan_benign += 1;
                    scan_flagged += usize::from(!hits.is_empty());
                }
            }
        }
    }
    let mut out = table(
        "Held-out argument inspection",
        "family",
        &families,
        figures.benign,
        false,
    );
    let _ = writeln!(
        out,
        "benign arguments with any finding: {} of {} ({:.2}%)\ninternal URLs refused (a high finding, or `format: uri` rejects them): {} of {}\npublic URLs refused: {} of {}\nresponse prompt-injection scan: {scan_caught} of {scan_positives} positives caught, {scan_flagged} of {scan_benign} benign free-text values flagged",
        figures.flagged,
        figures.benign,
        100.0 * ratio(figures.flagged, figures.benign),
        figures.internal_refused,
        figures.internal_urls,
        figures.public_refused,
        figures.public_urls,
    );
    println!("{out}");
    figures.families = families;
    figures
}

#[test]
fn heldout_corpora_are_well_formed() {
    let mut formats: BTreeMap<String, usize> = BTreeMap::new();
    let mut positives = 0;
    for file in ["secrets.jsonl", "pii.jsonl"] {
        for row in rows(file) {
            positives += 1;
            assert_eq!(row["label"], "positive");
            let kind = row["kind"].as_str().unwrap();
            assert!(category(kind).is_some(), "a row names an unknown DLP kind");
            let secret = row["secret"].as_str().unwrap();
            let text = text_of(&payload(&row));
            assert_eq!(
                text.matches(secret).count(),
                1,
                "a row's secret is not in its input exactly once"
            );
            if file == "secrets.jsonl" {
                *formats
                    .entry(row["format"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    assert!(formats.len() >= SECRET_FORMATS, "{} formats", formats.len());
    assert!(
        formats.values().all(|n| *n >= 10),
        "every format has 10 instances"
    );
    let benign = rows("benign.jsonl");
    assert!(benign.iter().all(|row| row["label"] == "negative"));
    assert!(
        benign.len() >= positives,
        "{} benign, {positives} positives",
        benign.len()
    );
    let injection = rows("injection.jsonl");
    let benign_args = rows("benign_args.jsonl");
    for row in &injection {
        assert_eq!(row["label"], "positive");
        assert!(
            FAMILIES.contains(&row["family"].as_str().unwrap()),
            "a row names an unknown family"
        );
    }
    assert!(benign_args.iter().all(|row| row["label"] == "negative"));
    assert!(benign_args.len() >= injection.len());
    for row in injection.iter().chain(&benign_args) {
        assert!(["free", "url", "id"].contains(&row["field"].as_str().unwrap()));
        assert!(row["value"].is_string());
    }
}

#[test]
#[ignore = "issue 17: the detectors do not meet these targets yet; run with --ignored --nocapture"]
fn dlp_meets_the_issue_targets_on_heldout_data() {
    let f = dlp_figures();
    let secrets = ratio(f.secrets.caught, f.secrets.positives);
    let pii = ratio(f.pii.caught, f.pii.positives);
    let altered = ratio(f.altered, f.benign);
    let mut failures = Vec::new();
    if secrets < SECRET_RECALL {
        failures.push(format!(
            "secrets recall {:.1}% ({} of {}) is under {:.0}%",
            100.0 * secrets,
            f.secrets.caught,
            f.secrets.positives,
            100.0 * SECRET_RECALL
        ));
    }
    if f.formats < SECRET_FORMATS {
        failures.push(format!("only {} secret formats", f.formats));
    }
    if pii < PII_RECALL {
        failures.push(format!(
            "PII recall {:.1}% ({} of {}) is under {:.0}%",
            100.0 * pii,
            f.pii.caught,
            f.pii.positives,
            100.0 * PII_RECALL
        ));
    }
    if altered > BENIGN_ALTERED {
        failures.push(format!(
            "{} of {} benign values altered ({:.2}%, at most {:.1}%)",
            f.altered,
            f.benign,
            100.0 * altered,
            100.0 * BENIGN_ALTERED
        ));
    }
    assert!(
        failures.is_empty(),
        "{failures:#?} (secret formats with every instance caught: {} of {})",
        f.formats_complete,
        f.formats
    );
}

#[test]
#[ignore = "issue 17: the detectors do not meet these targets yet; run with --ignored --nocapture"]
fn inspection_meets_the_issue_targets_on_heldout_data() {
    let f = inspection_figures();
    let mut failures = Vec::new();
    for (family, t) in &f.families {
        let recall = ratio(t.caught, t.positives);
        if t.positives > 0 && recall < INJECTION_RECALL {
            failures.push(format!(
                "`{family}` recall {:.1}% ({} of {}) is under {:.0}%",
                100.0 * recall,
                t.caught,
                t.positives,
                100.0 * INJECTION_RECALL
            ));
        }
    }
    let fpr = ratio(f.flagged, f.benign);
    if fpr > INJECTION_FPR {
        failures.push(format!(
            "{} of {} benign arguments flagged ({:.2}%, at most {:.0}%)",
            f.flagged,
            f.benign,
            100.0 * fpr,
            100.0 * INJECTION_FPR
        ));
    }
    if f.internal_refused < f.internal_urls {
        failures.push(format!(
            "{} of {} internal URLs not refused",
            f.internal_urls - f.internal_refused,
            f.internal_urls
        ));
    }
    if f.public_refused > 0 {
        failures.push(format!(
            "{} of {} public URLs refused",
            f.public_refused, f.public_urls
        ));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
