//! The guard stages with settings: resolution and refusal of bad settings, block versus flag,
//! DLP actions, shaping.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::BTreeMap;

use portcullis_config::{DlpAction, GuardSettings, ShapeSettings};
use portcullis_guard::SettingsError;
use portcullis_guard::dlp::DlpPolicy;
use portcullis_guard::shape::{Shaper, TRUNCATION_KEY};
use serde_json::json;

#[test]
fn an_unknown_dlp_kind_is_refused_by_name() {
    let mut kinds = BTreeMap::new();
    kinds.insert("credit_card".to_owned(), DlpAction::Redact);
    let err = DlpPolicy::new(&kinds).unwrap_err();
    assert_eq!(err, SettingsError::UnknownDlpKind("credit_card".into()));
    assert_eq!(err.to_string(), "unknown DLP kind `credit_card`");
    assert!(DlpPolicy::new(&BTreeMap::new()).is_ok());
}

#[test]
fn guard_settings_deny_unknown_keys() {
    let parsed: Result<GuardSettings, _> =
        serde_json::from_value(json!({"inspect": {"mode": "block", "severity": "high"}}));
    assert!(parsed.is_err());
    let parsed: GuardSettings =
        serde_json::from_value(json!({"dlp": {"kinds": {"card": "withhold"}}})).unwrap();
    assert_eq!(parsed.dlp.kinds["card"], DlpAction::Withhold);
}

#[test]
fn shaping_keeps_drops_caps_and_marks() {
    let shaper = Shaper::new(&ShapeSettings {
        keep: vec![
            "/orders/*/id".into(),
            "/orders/*/item".into(),
            "/total".into(),
        ],
        drop: vec!["/orders/0/item".into()],
        max_items: Some(2),
        max_bytes: None,
    })
    .unwrap();
    let mut value = json!({
        "orders": [
            {"id": 1, "item": "a", "secret": "x"},
            {"id": 2, "item": "b"},
            {"id": 3, "item": "c"},
        ],
        "total": 3,
        "other": true,
    });
    let shaped = shaper.apply(&mut value);
    assert!(shaped.truncated());
    assert_eq!(value["orders"], json!([{"id": 1}, {"id": 2, "item": "b"}]));
    assert_eq!(value["total"], 3);
    assert!(value.get("other").is_none());
    assert_eq!(
        value[TRUNCATION_KEY]["arrays"],
        json!([{"path": "/orders", "kept": 2, "total": 3}])
    );
}

#[test]
fn a_byte_cap_halves_arrays_then_previews_and_always_marks() {
    let shaper = Shaper::new(&ShapeSettings {
        max_bytes: Some(1024),
        ..ShapeSettings::default()
    })
    .unwrap();
    let mut value = json!((0..500).map(|i| json!({"n": i})).collect::<Vec<_>>());
    shaper.apply(&mut value);
    assert!(
        value.to_string().len() <= 1024,
        "{}",
        value.to_string().len()
    );
    assert!(value["data"].is_array(), "a non-object answer is wrapped");
    assert_eq!(value[TRUNCATION_KEY]["arrays"][0]["total"], 500);

    let mut small = json!({"a": 1});
    assert!(!shaper.apply(&mut small).truncated());
    assert_eq!(small, json!({"a": 1}));
    assert!(
        Shaper::new(&ShapeSettings {
            keep: vec!["orders".into()],
            ..ShapeSettings::default()
        })
        .is_err()
    );
}
