//! The gates of `Dlp::scan` against the plain version they replace: on generated strings and on
//! mutated corpus texts, the scan must find exactly what running every rule behind its old,
//! coarser gate (overlapping keyword search, digit count, any country code) finds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use portcullis_config::DlpAction;

use super::{Ascii, Check, Dlp, DlpPolicy, Hit, RULES, Trigger, has_country_code, settle};

/// The scan as it was before the finer gates: every rule's keywords searched with overlaps,
/// the digit rules gated on the digit count alone, the IBAN rule on any country code.
struct Plain {
    keywords: AhoCorasick,
    keyword_rule: Vec<usize>,
}

impl Plain {
    fn new() -> Self {
        let mut words = Vec::new();
        let mut keyword_rule = Vec::new();
        for (index, (_, keywords, _, _, _)) in RULES.iter().enumerate() {
            for word in *keywords {
                words.push(*word);
                keyword_rule.push(index);
            }
        }
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&words)
            .unwrap();
        Self {
            keywords,
            keyword_rule,
        }
    }

    fn triggered(&self, text: &str) -> u64 {
        let mut triggered = 0u64;
        for found in self.keywords.find_overlapping_iter(text) {
            triggered |= 1 << self.keyword_rule[found.pattern().as_usize()];
        }
        triggered
    }

    fn scan(&self, dlp: &Dlp, text: &str) -> Vec<Hit> {
        let triggered = self.triggered(text);
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        let mut hits = Vec::new();
        for (index, rule) in dlp.rules.iter().enumerate() {
            let run = match rule.trigger {
                Trigger::Keywords => triggered & (1 << index) != 0,
                Trigger::Digits(least, _) => digits >= least,
                Trigger::CountryCode => has_country_code(text.as_bytes()),
                Trigger::Dotted => {
                    text.len() >= super::DOTTED_LEN && text.matches('.').count() >= 2
                }
                Trigger::TokenRun => {
                    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                        .any(|run| run.len() >= super::TOKEN_RUN)
                        && text.bytes().any(|b| {
                            (b.is_ascii_alphanumeric() || b == b'_') && !b.is_ascii_hexdigit()
                        })
                        && RULES[index].1.iter().any(|word| {
                            text.to_ascii_lowercase()
                                .contains(&word.to_ascii_lowercase())
                        })
                }
                Trigger::Label(least) => {
                    digits >= least && {
                        let lower = text.to_lowercase();
                        RULES[index]
                            .1
                            .iter()
                            .any(|label| lower.contains(&label.to_lowercase()))
                    }
                }
            };
            if !run {
                continue;
            }
            super::emit(rule, &rule.regex, text, &mut hits);
        }
        settle(&mut hits);
        hits
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    " ",
    " ",
    "-",
    "-",
    ".",
    ".",
    "+",
    "(",
    ")",
    "_",
    "/",
    ":",
    "=",
    "\"",
    "'",
    "@",
    "~",
    "\n",
    "a",
    "Z",
    "AB",
    "GB",
    "DE",
    "x",
    "Q~",
    "é",
    "٣",
    "４",
    "\u{200b}",
    "the",
    "order",
    "secret",
    "Key",
    "TOKEN",
    "password",
    "sk-",
    "sk-ant-",
    "AKIA",
    "ghp_",
    "eyJ",
    "xoxb-",
    "AIza",
    "glpat-",
    "postgres://",
    "mysql://",
    "-----BEGIN ",
    "PRIVATE KEY-----",
    "AccountKey=",
    "aws",
    "api_key",
    "example.com",
    "hooks.slack.com",
    "github_pat_",
    "rk_live_",
];

const DIGITS: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

fn digits(rng: &mut Rng) -> String {
    let len = match rng.below(6) {
        0 => 1 + rng.below(3),
        1 => 3 + rng.below(2),
        2 => 4,
        3 => 6,
        _ => 1 + rng.below(20),
    };
    (0..len).map(|_| rng.pick(DIGITS)).collect()
}

fn generated(rng: &mut Rng) -> String {
    let mut text = String::new();
    for _ in 0..1 + rng.below(14) {
        if rng.below(2) == 0 {
            text.push_str(&digits(rng));
        } else {
            text.push_str(rng.pick(PIECES));
        }
    }
    text
}

/// Known-valid numbers, so the validators pass often enough to matter.
const VALID: &[&str] = &[
    "4111111111111111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "3782 822463 10005",
    "5500000000000004",
    "123-45-6789",
    "+12025550101",
    "+44 20 7946 0958",
    "(202) 555-0101",
    "202.555.0101",
    "192.168.10.20",
    "GB82WEST12345698765432",
    "DE89 3704 0044 0532 0130 00",
    "10.0.0.1",
];

fn corpus_texts() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/corpora/dlp.jsonl");
    let mut texts = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let Ok(row) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        collect_strings(&row, &mut texts);
    }
    texts
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Cuts `text` at a random character boundary and splices `piece` in.
fn splice(rng: &mut Rng, text: &str, piece: &str) -> String {
    let bounds: Vec<usize> = (0..=text.len())
        .filter(|at| text.is_char_boundary(*at))
        .collect();
    let at = bounds[rng.below(bounds.len())];
    format!("{}{piece}{}", &text[..at], &text[at..])
}

#[test]
fn finer_gates_change_no_result() {
    let dlp = Dlp::new().unwrap();
    let plain = Plain::new();
    let policy = DlpPolicy::all(DlpAction::Redact);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut texts = corpus_texts();
    let corpus = texts.clone();
    for _ in 0..100_000 {
        texts.push(generated(&mut rng));
    }
    for _ in 0..50_000 {
        let base = match rng.below(3) {
            0 => corpus[rng.below(corpus.len())].clone(),
            1 => rng.pick(VALID).to_owned(),
            _ => generated(&mut rng),
        };
        let piece = match rng.below(3) {
            0 => rng.pick(VALID).to_owned(),
            1 => digits(&mut rng),
            _ => rng.pick(PIECES).to_owned(),
        };
        let mut text = splice(&mut rng, &base, &piece);
        if rng.below(2) == 0 {
            let more = rng.pick(VALID);
            text = splice(&mut rng, &text, more);
        }
        texts.push(text);
    }
    let mut found = [0usize; super::KINDS.len()];
    let mut hits = Vec::new();
    for text in &texts {
        dlp.scan(text, &policy, &mut hits);
        let expected = plain.scan(&dlp, text);
        assert_eq!(hits, expected, "{text:?}");
        for hit in &hits {
            found[hit.kind] += 1;
        }
    }
    // The strings must exercise the digit detectors, not only their gates.
    for kind in ["card", "ssn", "iban", "phone", "ip_address", "email"] {
        let count = found[super::kind_index(kind).unwrap()];
        assert!(count >= 20, "only {count} `{kind}` hits");
    }
    println!("hits per kind: {found:?}");
}

#[test]
fn keyword_inside_a_longer_one_still_triggers() {
    let dlp = Dlp::new().unwrap();
    let policy = DlpPolicy::all(DlpAction::Redact);
    let mut hits = Vec::new();
    // `sk-ant-` is found, and carries `sk-` (openai_key) with it.
    let text = "sk-ant-abc-Xk9pQ2rT7vL4mN8sB3dF6hJ1wZ5yC0eGaiUoR";
    dlp.scan(text, &policy, &mut hits);
    let plain = Plain::new().scan(&dlp, text);
    assert_eq!(hits, plain);
    assert!(!hits.is_empty());
}

#[test]
fn keyword_search_finds_what_an_overlapping_search_finds() {
    let dlp = Dlp::new().unwrap();
    let plain = Plain::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // Keywords, their pieces and overlapping pairs (`asia` + `aiza`, `secret` + `token`).
    let mut pieces: Vec<&str> = RULES
        .iter()
        .flat_map(|rule| rule.1.iter().copied())
        .collect();
    pieces.extend([
        "a",
        "k",
        "i",
        "s",
        "e",
        "y",
        "j",
        "t",
        "-",
        "_",
        ":",
        "/",
        "~",
        "q",
        "x",
        "o",
        "c",
        "ke",
        "ey",
        "to",
        "ken",
        "se",
        "cret",
        "sk",
        "ia",
        "za",
        "acc",
        "asiaiza",
        "secretoken",
        "KEYJ",
        "xoxo",
        "pwdpassw",
        "Sk-Ant-",
        "github_",
        "PAT_",
    ]);
    for _ in 0..100_000 {
        let text: String = (0..1 + rng.below(10)).map(|_| rng.pick(&pieces)).collect();
        // Only the keyword-triggered rules are in the answer-wide search; the others find
        // their words per string (see `Trigger`).
        assert_eq!(
            dlp.keywords(&text),
            plain.triggered(&text) & dlp.keyword_rules,
            "{text:?}"
        );
    }
}

/// One keyword search over the whole answer must trigger, for each string, what a search of
/// that string alone triggers: whole answers built from generated and corpus strings (nested
/// arrays and objects, strings next to each other that together spell a keyword, secret-named
/// keys) come out of `redact` as if each string were scanned on its own.
#[test]
fn one_search_per_answer_matches_a_search_per_string() {
    use serde_json::{Map, Value};

    let dlp = Dlp::new().unwrap();
    let plain = Plain::new();
    let policy = DlpPolicy::all(DlpAction::Redact);
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let corpus = corpus_texts();
    // Chunks of one string go directly under their key; every other key names a credential.
    let key = |index: usize| match index % 4 {
        0 => format!("note{index}"),
        1 => format!("x{index}_password"),
        2 => format!("id{index}"),
        _ => format!("x{index}_api_key"),
    };
    let shape = |items: &[String]| -> Value {
        let mut map = Map::new();
        for (index, chunk) in items.chunks(1 + index_width(items.len())).enumerate() {
            let value = match chunk {
                [one] => Value::String(one.clone()),
                _ => Value::Array(chunk.iter().cloned().map(Value::String).collect()),
            };
            map.insert(key(index), value);
        }
        Value::Object(map)
    };
    let mut found = 0;
    let mut whole = 0;
    for _ in 0..3_000 {
        let mut strings = Vec::new();
        for _ in 0..1 + rng.below(12) {
            strings.push(match rng.below(4) {
                0 => corpus[rng.below(corpus.len())].clone(),
                1 => rng.pick(PIECES).to_owned(),
                2 => rng.pick(VALID).to_owned(),
                _ => generated(&mut rng),
            });
        }
        // The expected answer: each string redacted from its own scan, or replaced whole when
        // it sits alone under a credential key and looks random.
        let chunk = 1 + index_width(strings.len());
        let mut expected_count = 0;
        let expected: Vec<String> = strings
            .iter()
            .enumerate()
            .map(|(at, text)| {
                let first = at / chunk * chunk;
                let alone = (strings.len() - first).min(chunk) == 1;
                let hits = plain.scan(&dlp, text);
                if alone
                    && hits.is_empty()
                    && let Some((start, end, kind)) =
                        super::member(&key(at / chunk), text, &mut super::KeyMemo::new())
                {
                    expected_count += 1;
                    whole += 1;
                    return format!(
                        "{}{}{}",
                        &text[..start],
                        super::marker(super::KINDS[kind].0),
                        &text[end..]
                    );
                }
                expected_count += hits.len();
                let mut out = String::new();
                let mut last = 0;
                for hit in &hits {
                    out.push_str(&text[last..hit.start]);
                    out.push_str(&super::marker(super::KINDS[hit.kind].0));
                    last = hit.end;
                }
                out.push_str(&text[last..]);
                out
            })
            .collect();
        found += expected_count;
        let mut answer = shape(&strings);
        let mut report = super::DlpReport::default();
        dlp.redact(&mut answer, &policy, &mut report);
        assert_eq!(answer, shape(&expected), "{strings:?}");
        assert_eq!(report.counts.values().sum::<usize>(), expected_count);
    }
    assert!(found > 1_000, "only {found} hits");
    assert!(whole > 20, "only {whole} values replaced whole");
}

/// Strings per chunk, less one: 0 to 2, varied with the answer's size.
fn index_width(len: usize) -> usize {
    len % 3
}

#[test]
fn credential_names_are_judged_by_their_last_word() {
    use super::context::{Name, name_class};
    for name in [
        "password",
        "DB_PASSWORD",
        "dbPassword",
        "db-pass",
        "smtp_pwd",
        "Passphrase",
    ] {
        assert_eq!(name_class(name), Name::Password, "{name}");
    }
    for name in [
        "api_key",
        "apiKey",
        "X-Api-Key",
        "client_secret",
        "ClientSecret",
        "access_token",
        "_authToken",
        "_auth",
        "NPM_TOKEN",
        "AccountKey",
        "SharedAccessKey",
        "credentials",
        "DD_APP_KEY",
        "secret",
    ] {
        assert_eq!(name_class(name), Name::Secret, "{name}");
    }
    for name in [
        "id",
        "name",
        "email",
        "status",
        "tokens_used",
        "keyboard",
        "secretary",
        "token_type",
        "next_page_token",
        "pageToken",
        "password_policy",
        "public_key",
        "primary_key_name",
        "idempotency_key",
        "key",
        "passport",
        "bypass",
        "compass",
    ] {
        assert_eq!(name_class(name), Name::Other, "{name}");
    }
}

/// The word-at-a-time digit mask agrees with a byte-by-byte test on every ASCII byte, at every
/// position and chunk length.
#[test]
fn digit_mask_marks_exactly_the_ascii_digits() {
    let alphabet: Vec<u8> = (0_u8..0x80).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for round in 0..20_000 {
        let len = round % 65;
        let chunk: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state >> 8) as usize % 0x80]
            })
            .collect();
        let expected = chunk.iter().enumerate().fold(0_u64, |mask, (i, byte)| {
            mask | u64::from(byte.is_ascii_digit()) << i
        });
        assert_eq!(super::digit_mask(&chunk), expected, "{chunk:?}");
    }
}

/// On ASCII text, each rule's ASCII form (full DFA or Unicode-free regex) finds exactly the
/// spans its regex finds, redacted group included, before any validator: generated strings,
/// mutated corpus texts and the known-valid numbers.
#[test]
fn ascii_forms_find_what_the_regexes_find() {
    let dlp = Dlp::new().unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut texts: Vec<String> = corpus_texts();
    texts.extend(VALID.iter().map(|text| (*text).to_owned()));
    for _ in 0..100_000 {
        let mut text = generated(&mut rng);
        if rng.below(2) == 0 {
            let more = rng.pick(VALID);
            text = splice(&mut rng, &text, more);
        }
        texts.push(text);
    }
    let spans = |regex: &regex::Regex, group: usize, text: &str| -> Vec<(usize, usize)> {
        regex
            .captures_iter(text)
            .filter_map(|captures| captures.get(group))
            .map(|span| (span.start(), span.end()))
            .collect()
    };
    let (mut dfas, mut regexes, mut compared, mut matches) = (0, 0, 0, 0);
    for rule in &dlp.rules {
        // The ASCII form's spans in a text.
        let ascii_spans = |text: &str| -> Vec<(usize, usize)> {
            match &rule.ascii {
                Ascii::Dfa(dfa) => {
                    let mut hits = Vec::new();
                    super::find_ascii(dfa, rule.kind, Check::None, text, &mut hits).unwrap();
                    hits.iter().map(|hit| (hit.start, hit.end)).collect()
                }
                Ascii::Regex(regex) => spans(regex, rule.group, text),
                Ascii::None => Vec::new(),
            }
        };
        match &rule.ascii {
            Ascii::Dfa(_) => dfas += 1,
            Ascii::Regex(_) => regexes += 1,
            Ascii::None => continue,
        }
        for text in texts.iter().filter(|text| text.is_ascii()) {
            let expected = spans(&rule.regex, rule.group, text);
            let found = ascii_spans(text);
            assert_eq!(found, expected, "{text:?}");
            compared += 1;
            matches += found.len();
        }
    }
    // The digit and IBAN rules have a DFA; all but the rules with a negated class or `.` have
    // an ASCII regex.
    assert_eq!(dfas, 5);
    assert!(regexes >= 12, "{regexes}");
    assert!(compared > 1_000_000, "{compared}");
    assert!(matches > 20_000, "{matches}");
    println!("{dfas} DFAs, {regexes} regexes: {compared} searches, {matches} matches");
}

#[test]
fn all_sets_every_kind_and_named_kinds_override_it() {
    use std::collections::BTreeMap;

    let mut kinds = BTreeMap::new();
    kinds.insert("all".to_owned(), DlpAction::Redact);
    kinds.insert("email".to_owned(), DlpAction::Allow);
    let policy = DlpPolicy::new(&kinds).unwrap();
    for (index, (name, _, _)) in super::KINDS.iter().enumerate() {
        let expected = if *name == "email" {
            DlpAction::Allow
        } else {
            DlpAction::Redact
        };
        assert_eq!(policy.action(index), expected, "{name}");
    }
    kinds.insert("nonsense".to_owned(), DlpAction::Redact);
    assert!(DlpPolicy::new(&kinds).is_err());
}

#[test]
fn national_identifiers_pass_their_checks() {
    use super::context::national_id;
    // Published specimen or computed-by-hand values of each check.
    for id in [
        "046 454 286",        // SIN, Luhn
        "111222333",          // BSN, 11-test
        "12345678Z",          // DNI
        "X1234567L",          // NIE
        "AB123456C",          // NINO
        "RSSMRA85T10A562S",   // codice fiscale
        "131052-308T",        // HETU
        "44051401359",        // PESEL
        "11144477735",        // CPF
        "11010519491231002X", // Chinese resident ID
        "943 476 5919",       // NHS number
        "10000000146",        // Turkish identity number
        "756.9217.0769.85",   // Swiss AHV (EAN-13)
        "37605030299",        // Estonian personal code
        "123 456 782",        // Australian tax file number
        "A123456789",         // Taiwanese national ID
        "S1234567D",          // Singapore NRIC
        "12.345.678-5",       // Chilean RUT
        "1234567T",           // Irish PPS number
        "86095742719",        // German tax ID
        "15038545660",        // Norwegian national identity number
        "1800101221144",      // Romanian CNP
        "800101-1234560",     // Korean resident registration number
        "123456789018",       // Japanese individual number
        "8001015009087",      // South African identity number
        "855101/1238",        // Czech birth number
        "20-12345678-6",      // Argentine CUIT
        "912-70-1234",        // US ITIN
    ] {
        assert!(national_id(id), "{id}");
    }
    for id in [
        "AB123456E",
        "12345678A",
        "11144477736",
        "RSSMRA85T10A562Q",
        "S1234567A",
        "A123456788",
        "12.345.678-K",
        "756.9217.0769.84",
        "86095742718",
    ] {
        assert!(!national_id(id), "{id}");
    }
}

/// The probing gates (`has_token_run`, `has_word`) and the table-driven `words` agree with
/// byte-by-byte walks on random strings over the bytes they tell apart.
#[test]
fn probing_gates_agree_with_byte_walks() {
    fn token_run_walk(text: &[u8]) -> bool {
        let token = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
        text.split(|b| !token(b))
            .any(|run| run.len() >= super::TOKEN_RUN)
            && text
                .iter()
                .any(|b| (b.is_ascii_alphanumeric() || *b == b'_') && !b.is_ascii_hexdigit())
    }
    fn word_walk(text: &str) -> bool {
        !text.is_ascii()
            || text
                .as_bytes()
                .windows(3)
                .any(|w| w.iter().all(u8::is_ascii_alphabetic))
    }
    fn words_walk(name: &str) -> Vec<&str> {
        let bytes = name.as_bytes();
        let mut words = Vec::new();
        let mut start = 0;
        for at in 0..=bytes.len() {
            let separator = bytes
                .get(at)
                .is_none_or(|b| matches!(b, b'_' | b'-' | b'.' | b':' | b'/' | b' ' | b'\t'));
            let camel = at > start
                && bytes.get(at).is_some_and(u8::is_ascii_uppercase)
                && (bytes[at - 1].is_ascii_lowercase() || bytes[at - 1].is_ascii_digit());
            if separator || camel {
                if at > start {
                    words.push(&name[start..at]);
                }
                start = if separator { at + 1 } else { at };
            }
        }
        words
    }
    let alphabets: [&[u8]; 4] = [
        b"0123456789abcdefABCDEF-",
        b"0123456789abcdefABCDEFgzGZ_- .:/@",
        b"abcXYZ 0123_-./:\t",
        b"aB1 -_",
    ];
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let (mut runs, mut worded) = (0, 0);
    for round in 0..200_000 {
        let alphabet = alphabets[round % alphabets.len()];
        let len = rng.below(80);
        let mut text: String = (0..len)
            .map(|_| char::from(alphabet[rng.below(alphabet.len())]))
            .collect();
        if round % 50 == 0 {
            text.insert(rng.below(text.len() + 1), 'é');
        }
        let bytes = text.as_bytes();
        let expected = token_run_walk(bytes);
        runs += usize::from(expected);
        assert_eq!(super::has_token_run(bytes), expected, "{text:?}");
        let expected = word_walk(&text);
        worded += usize::from(expected);
        assert_eq!(
            super::has_word(bytes, text.is_ascii()),
            expected,
            "{text:?}"
        );
        assert_eq!(
            super::context::words(&text).collect::<Vec<_>>(),
            words_walk(&text),
            "{text:?}"
        );
    }
    assert!(runs > 20_000 && worded > 20_000, "{runs} {worded}");
}
