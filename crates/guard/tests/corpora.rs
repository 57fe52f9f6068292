//! The labelled corpora of `corpora/`: every positive caught by its detector, no benign case
//! flagged by any. Prints recall and false-positive rate per detector (the figures in
//! docs/guards.md): `cargo test -p portcullis-guard --test corpora -- --nocapture`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_config::DlpAction;
use portcullis_guard::dlp::{Dlp, DlpPolicy, DlpReport, KINDS};
use portcullis_guard::inspect::{Disabled, FAMILIES, Inspector};
use portcullis_guard::prompt::PromptDetector;
use serde_json::{Value, json};

fn rows(file: &str) -> Vec<Value> {
    let path = format!("{}/corpora/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The DLP kinds found in one corpus row, scanned with every kind on.
fn dlp_kinds(dlp: &Dlp, row: &Value) -> Vec<&'static str> {
    let policy = DlpPolicy::all(DlpAction::Redact);
    let mut value = match row.get("json") {
        Some(json) => json.clone(),
        None => row["text"].clone(),
    };
    let mut report = DlpReport::default();
    dlp.redact(&mut value, &policy, &mut report);
    report.counts.keys().copied().collect()
}

#[derive(Default)]
struct Tally {
    positives: usize,
    caught: usize,
    false_positives: usize,
}

fn print_table(title: &str, tallies: &BTreeMap<String, Tally>, negatives: usize) {
    println!("\n{title} (benign cases: {negatives})");
    println!("| detector | positives | recall | false positives | FPR |");
    println!("|---|---|---|---|---|");
    for (name, t) in tallies {
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let recall = if t.positives == 0 {
            1.0
        } else {
            t.caught as f64 / t.positives as f64
        };
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let fpr = t.false_positives as f64 / negatives.max(1) as f64;
        println!(
            "| `{name}` | {} | {:.0}% | {} | {:.1}% |",
            t.positives,
            recall * 100.0,
            t.false_positives,
            fpr * 100.0
        );
    }
}

#[test]
fn dlp_corpus_every_positive_caught_and_no_benign_flagged() {
    let dlp = Dlp::new().unwrap();
    let rows = rows("dlp.jsonl");
    let mut tallies: BTreeMap<String, Tally> = KINDS
        .iter()
        .map(|(kind, _, _)| ((*kind).to_owned(), Tally::default()))
        .collect();
    let mut negatives = 0;
    let mut failures = Vec::new();
    for row in &rows {
        let found = dlp_kinds(&dlp, row);
        if row["label"] == "positive" {
            let kind = row["kind"].as_str().unwrap();
            let tally = tallies.get_mut(kind).unwrap();
            tally.positives += 1;
            if found.contains(&kind) {
                tally.caught += 1;
            } else {
                failures.push(format!("missed {kind}: {row}"));
            }
        } else {
            negatives += 1;
            for kind in found {
                tallies.get_mut(kind).unwrap().false_positives += 1;
                // IP addresses are off by default: version strings look like them.
                if kind != "ip_address" {
                    failures.push(format!("false positive {kind}: {row}"));
                }
            }
        }
    }
    print_table("DLP", &tallies, negatives);
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        tallies.values().all(|t| t.positives >= 2),
        "every kind has positives"
    );
}

#[test]
fn inspection_corpus_every_positive_caught_and_no_benign_flagged() {
    let prompt = Arc::new(PromptDetector::new().unwrap());
    let inspector = Inspector::new(prompt, portcullis_egress::classify::special_purpose).unwrap();
    let schema = json!({
        "type": "object",
        "properties": {
            "free": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "id": {"type": "string", "pattern": "^.*$"},
        }
    });
    let mut tallies: BTreeMap<String, Tally> = FAMILIES
        .iter()
        .map(|f| ((*f).to_owned(), Tally::default()))
        .collect();
    let mut negatives = 0;
    let mut failures = Vec::new();
    for row in rows("inspect.jsonl") {
        let field = row["field"].as_str().unwrap();
        let mut args = serde_json::Map::new();
        args.insert(field.to_owned(), row["value"].clone());
        let findings = inspector.inspect(&schema, &args, Disabled::default());
        let families: Vec<&str> = findings
            .iter()
            .map(|f| f.detector.split('.').next().unwrap())
            .collect();
        if row["label"] == "positive" {
            let family = row["family"].as_str().unwrap();
            let tally = tallies.get_mut(family).unwrap();
            tally.positives += 1;
            if families.contains(&family) {
                tally.caught += 1;
                assert!(findings.iter().all(|f| f.path == format!("/{field}")));
            } else {
                failures.push(format!("missed {family}: {row}"));
            }
        } else {
            negatives += 1;
            for family in families {
                tallies.get_mut(family).unwrap().false_positives += 1;
                failures.push(format!("false positive {family}: {row}"));
            }
        }
    }
    print_table("Argument inspection", &tallies, negatives);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn response_scan_finds_every_prompt_injection_positive() {
    let prompt = PromptDetector::new().unwrap();
    let mut hits = Vec::new();
    let mut caught = 0;
    let mut positives = 0;
    for row in rows("inspect.jsonl") {
        let text = row["value"].as_str().unwrap();
        prompt.scan(text, &mut hits);
        if row["family"] == "prompt_injection" {
            positives += 1;
            assert!(!hits.is_empty(), "missed: {text:?}");
            caught += 1;
        } else if row["label"] == "negative" && row["field"] == "free" {
            assert!(hits.is_empty(), "false positive: {text:?} {hits:?}");
        }
    }
    println!("\nresponse prompt-injection scan: {caught}/{positives} caught");
    assert!(positives >= 15);
}
