//! The Wycheproof test vectors for JSON Web Signature, JSON Web Key, ECDSA P-256 (P1363 form)
//! and Ed25519, run through the verification code the token check uses: keys go through
//! [`VerifyingKey::from_jwk`], compact tokens through [`Jws`], raw signatures through
//! [`jws::verify_detached`].
//!
//! The vectors live outside the repository, in `../shared/corpora/wycheproof` beside the clone
//! (or wherever `PORTCULLIS_WYCHEPROOF_DIR` points). Without them the test says it was skipped
//! and passes, unless `PORTCULLIS_REQUIRE_CORPORA=1`, as in CI, where it fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;
use crate::jws::{JwkRefused, Jws, VerifyingKey};

const ECDSA_FILE: &str = "ecdsa_secp256r1_sha256_p1363_test.json";
const ED25519_FILE: &str = "ed25519_test.json";
const JWK_FILE: &str = "json_web_key_test.json";
const JWS_FILE: &str = "json_web_signature_test.json";

fn corpus_dir() -> PathBuf {
    match std::env::var_os("PORTCULLIS_WYCHEPROOF_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        // The repository root is two levels above this crate; the corpora sit beside it.
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/wycheproof"),
    }
}

fn corpora_required() -> bool {
    std::env::var("PORTCULLIS_REQUIRE_CORPORA").is_ok_and(|v| v == "1")
}

/// How a vector came out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// Refused because the key is of a kind we never accept (RSA, HMAC, other curves).
    RefusedKeyKind,
    /// Refused for another reason, named for the statistics.
    Refused(&'static str),
}

/// The verdicts of one file.
#[derive(Default)]
struct Tally {
    expected: BTreeMap<&'static str, usize>,
    passed: usize,
    /// `valid` vectors refused only because their algorithm is outside ES256 and EdDSA.
    out_of_scope: usize,
    acceptable_accepted: usize,
    acceptable_refused: usize,
    refused_at: BTreeMap<&'static str, usize>,
    mismatches: Vec<String>,
    total: usize,
}

impl Tally {
    fn record(&mut self, tc_id: &Value, result: &str, comment: &Value, outcome: Outcome) {
        self.total += 1;
        let result: &'static str = match result {
            "valid" => "valid",
            "invalid" => "invalid",
            "acceptable" => "acceptable",
            _ => "unknown",
        };
        *self.expected.entry(result).or_default() += 1;
        if let Outcome::Refused(stage) = outcome {
            *self.refused_at.entry(stage).or_default() += 1;
        }
        if outcome == Outcome::RefusedKeyKind {
            *self.refused_at.entry("key kind").or_default() += 1;
        }
        let ok = match (result, outcome) {
            ("valid", Outcome::Accepted) | ("invalid", Outcome::Refused(_)) => true,
            ("invalid", Outcome::RefusedKeyKind) => true,
            ("valid", Outcome::RefusedKeyKind) => {
                self.out_of_scope += 1;
                true
            }
            ("acceptable", Outcome::Accepted) => {
                self.acceptable_accepted += 1;
                true
            }
            ("acceptable", _) => {
                self.acceptable_refused += 1;
                true
            }
            _ => false,
        };
        if ok {
            self.passed += 1;
        } else {
            let got = if outcome == Outcome::Accepted {
                "accepted"
            } else {
                "refused"
            };
            self.mismatches
                .push(format!("tcId {tc_id} ({result}, {got}): {comment}"));
        }
    }

    fn summary(&self, file: &str) -> String {
        let count = |k: &str| self.expected.get(k).copied().unwrap_or(0);
        let mut line = format!(
            "{file}: {} vectors ({} valid, {} invalid, {} acceptable), {} passed",
            self.total,
            count("valid"),
            count("invalid"),
            count("acceptable"),
            self.passed,
        );
        if self.out_of_scope > 0 {
            let _ = write!(
                line,
                "; {} valid vectors refused as outside ES256/EdDSA",
                self.out_of_scope
            );
        }
        if count("acceptable") > 0 {
            let _ = write!(
                line,
                "; acceptable: {} accepted, {} refused",
                self.acceptable_accepted, self.acceptable_refused
            );
        }
        let stages: Vec<String> = self
            .refused_at
            .iter()
            .map(|(stage, n)| format!("{stage} {n}"))
            .collect();
        let _ = write!(line, "; refused at: {}", stages.join(", "));
        line
    }
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn tests_of(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().expect("a test group has tests")
}

fn key_outcome(refused: &JwkRefused) -> Outcome {
    match refused {
        JwkRefused::KeyType | JwkRefused::Secret | JwkRefused::Weak => Outcome::RefusedKeyKind,
        JwkRefused::Malformed => Outcome::Refused("key: malformed"),
        JwkRefused::Algorithm => Outcome::Refused("key: alg"),
        JwkRefused::Usage => Outcome::Refused("key: use"),
        JwkRefused::Point => Outcome::Refused("key: point"),
    }
}

/// ECDSA P1363 and Ed25519 files: a public key per group, raw messages and signatures.
fn run_signature_file(doc: &Value, tally: &mut Tally) {
    for group in doc["testGroups"].as_array().expect("testGroups") {
        // The key goes through the JWK rule; a group without a JWK gets one built from the
        // uncompressed point.
        let jwk = match group.get("publicKeyJwk") {
            Some(jwk) => jwk.clone(),
            None => {
                let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
                assert_eq!(point.first(), Some(&4), "uncompressed point");
                json!({
                    "kty": "EC", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..]),
                })
            }
        };
        let key = VerifyingKey::from_jwk(&jwk);
        for test in tests_of(group) {
            let outcome = match &key {
                Err(refused) => key_outcome(refused),
                Ok(key) => {
                    let message = hex(test["msg"].as_str().unwrap());
                    let signature = URL_SAFE_NO_PAD.encode(hex(test["sig"].as_str().unwrap()));
                    if jws::verify_detached(&message, &signature, &key.decoding, key.algorithm) {
                        Outcome::Accepted
                    } else {
                        Outcome::Refused("signature")
                    }
                }
            };
            tally.record(
                &test["tcId"],
                test["result"].as_str().unwrap(),
                &test["comment"],
                outcome,
            );
        }
    }
}

/// A compact JWS checked with one verifying key, as the token check does.
fn jws_outcome(text: &Value, key: &VerifyingKey) -> Outcome {
    // Only the compact serialization is accepted; the JSON serialization is refused outright.
    let Some(text) = text.as_str() else {
        return Outcome::Refused("serialization");
    };
    let Ok(jws) = Jws::parse(text) else {
        return Outcome::Refused("structure");
    };
    if jws.check_key_binding(key.algorithm).is_err() {
        return Outcome::Refused("header");
    }
    match jws.verify_signature(key) {
        Ok(_) => Outcome::Accepted,
        Err(VerifyError::Signature) => Outcome::Refused("signature"),
        Err(_) => Outcome::Refused("payload"),
    }
}

/// The JWS file: one key per group (the public one when given), compact tokens.
fn run_jws_file(doc: &Value, tally: &mut Tally) {
    for group in doc["testGroups"].as_array().expect("testGroups") {
        let jwk = group
            .get("public")
            .or_else(|| group.get("private"))
            .cloned()
            .unwrap_or(Value::Null);
        // A group may also carry a key set.
        let jwk = match jwk.get("keys") {
            Some(Value::Array(keys)) if keys.len() == 1 => keys[0].clone(),
            _ => jwk,
        };
        let key = VerifyingKey::from_jwk(&jwk);
        for test in tests_of(group) {
            let outcome = match &key {
                Err(refused) => key_outcome(refused),
                Ok(key) => jws_outcome(&test["jws"], key),
            };
            tally.record(
                &test["tcId"],
                test["result"].as_str().unwrap(),
                &test["comment"],
                outcome,
            );
        }
    }
}

/// The JWK file: a key set per group (the public one when given) and a compact JWS whose `kid`
/// picks the key. A `kid` that names more than one key is refused as ambiguous; a key set that
/// mixes public and private or symmetric keys has those refused by the JWK rule.
fn run_jwk_file(doc: &Value, tally: &mut Tally) {
    for group in doc["testGroups"].as_array().expect("testGroups") {
        let set = group
            .get("public")
            .or_else(|| group.get("private"))
            .cloned()
            .unwrap_or(Value::Null);
        let keys: Vec<Value> = match set.get("keys") {
            Some(Value::Array(keys)) => keys.clone(),
            _ => vec![set],
        };
        for test in tests_of(group) {
            let outcome = jwk_set_outcome(&keys, &test["jws"]);
            tally.record(
                &test["tcId"],
                test["result"].as_str().unwrap(),
                &test["comment"],
                outcome,
            );
        }
    }
}

fn jwk_set_outcome(keys: &[Value], text: &Value) -> Outcome {
    let Some(compact) = text.as_str() else {
        return Outcome::Refused("serialization");
    };
    let Ok(jws) = Jws::parse(compact) else {
        return Outcome::Refused("structure");
    };
    let kid = jws.header.kid.as_deref();
    let candidates: Vec<&Value> = keys
        .iter()
        .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
        .collect();
    let [jwk] = candidates.as_slice() else {
        return Outcome::Refused(if candidates.is_empty() {
            "key: no such kid"
        } else {
            "key: ambiguous kid"
        });
    };
    // Any private or symmetric key in the set makes the whole set suspect.
    for other in keys {
        if let Err(JwkRefused::Secret) = VerifyingKey::from_jwk(other) {
            return Outcome::RefusedKeyKind;
        }
    }
    match VerifyingKey::from_jwk(jwk) {
        Err(refused) => key_outcome(&refused),
        Ok(key) => jws_outcome(text, &key),
    }
}

#[test]
fn wycheproof_vectors_get_the_expected_verdicts() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        assert!(
            !corpora_required(),
            "Wycheproof corpus not found at {} and PORTCULLIS_REQUIRE_CORPORA=1",
            dir.display()
        );
        println!("skipped: Wycheproof corpus not found at {}", dir.display());
        return;
    }
    type Runner = fn(&Value, &mut Tally);
    let files: [(&str, Runner); 4] = [
        (ECDSA_FILE, run_signature_file),
        (ED25519_FILE, run_signature_file),
        (JWK_FILE, run_jwk_file),
        (JWS_FILE, run_jws_file),
    ];
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, run) in files {
        let path = dir.join(name);
        if !path.is_file() {
            assert!(
                !corpora_required(),
                "{} is missing and PORTCULLIS_REQUIRE_CORPORA=1",
                path.display()
            );
            report.push(format!("{name}: skipped, not present"));
            continue;
        }
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut tally = Tally::default();
        run(&doc, &mut tally);
        if let Some(declared) = doc["numberOfTests"].as_u64() {
            assert_eq!(tally.total as u64, declared, "{name}: every vector ran");
        }
        assert!(tally.total > 0, "{name}: no vectors");
        report.push(tally.summary(name));
        for mismatch in &tally.mismatches {
            failures.push(format!("{name} {mismatch}"));
        }
        ran += 1;
    }
    assert!(ran > 0, "no Wycheproof file found in {}", dir.display());
    for line in &report {
        println!("{line}");
    }
    assert!(
        failures.is_empty(),
        "{} vectors got the wrong verdict:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn jwk_rule_accepts_only_public_es256_and_ed25519_signing_keys() {
    // Independent of the corpus: the rule applied to keys the vectors are built around.
    let ours = fixture("ES256");
    let good = &ours.identity.key().jwk;
    assert!(VerifyingKey::from_jwk(good).is_ok());
    let ed = fixture("EdDSA");
    assert!(VerifyingKey::from_jwk(&ed.identity.key().jwk).is_ok());

    let with = |member: &str, value: Value| {
        let mut jwk = good.clone();
        jwk[member] = value;
        VerifyingKey::from_jwk(&jwk).err()
    };
    assert_eq!(with("use", json!("enc")), Some(JwkRefused::Usage));
    assert_eq!(with("key_ops", json!(["encrypt"])), Some(JwkRefused::Usage));
    assert_eq!(with("key_ops", json!(["verify"])), None);
    assert_eq!(with("alg", json!("ES384")), Some(JwkRefused::Algorithm));
    assert_eq!(with("alg", json!("HS256")), Some(JwkRefused::Algorithm));
    assert_eq!(with("alg", json!("ES521")), Some(JwkRefused::Algorithm));
    assert_eq!(with("crv", json!("P-384")), Some(JwkRefused::KeyType));
    assert_eq!(with("d", json!("AAAA")), Some(JwkRefused::Secret));
    assert_eq!(with("x", json!("AAAA")), Some(JwkRefused::Point));
    assert_eq!(with("x", json!("not base64!")), Some(JwkRefused::Malformed));
    // A point off the curve: the last byte of y changed.
    let mut y = URL_SAFE_NO_PAD.decode(good["y"].as_str().unwrap()).unwrap();
    y[31] ^= 1;
    assert_eq!(
        with("y", json!(URL_SAFE_NO_PAD.encode(&y))),
        Some(JwkRefused::Point)
    );
    assert_eq!(
        VerifyingKey::from_jwk(&json!({"kty": "oct", "k": "c2VjcmV0"})).err(),
        Some(JwkRefused::Secret)
    );
    assert_eq!(
        VerifyingKey::from_jwk(&json!("not an object")).err(),
        Some(JwkRefused::Malformed)
    );
}
