//! Runs `Dlp::redact` (every kind on) over the `dlp/scan_16k` sample a fixed number of times,
//! for instruction counting under callgrind, which is repeatable on a loaded machine:
//!
//! `valgrind --tool=callgrind --toggle-collect='dlp_count::scan_once' <binary> 100`
//!
//! then divide the collected instructions by the count. The samples are cloned before the
//! counted calls. It prints the redacted sample and the report of the last run, so a change to
//! the scanner can be checked for identical output.

use std::hint::black_box;

use portcullis_bench_stages::or_exit;
use portcullis_config::DlpAction;
use portcullis_guard::dlp::{Dlp, DlpPolicy, DlpReport};

include!("../samples/dlp_answer.rs");

#[inline(never)]
fn scan_once(dlp: &Dlp, policy: &DlpPolicy, value: &mut serde_json::Value) -> DlpReport {
    let mut report = DlpReport::default();
    dlp.redact(value, policy, &mut report);
    report
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(100);
    let dlp = or_exit(Dlp::new(), "compile the DLP rules");
    let policy = DlpPolicy::all(DlpAction::Redact);
    let answer = typical_answer();
    let mut copies = vec![answer; runs];
    let mut last = DlpReport::default();
    for copy in &mut copies {
        last = black_box(scan_once(&dlp, &policy, copy));
    }
    if let Some(copy) = copies.last() {
        println!("{copy}");
    }
    println!("{last:?}");
}
