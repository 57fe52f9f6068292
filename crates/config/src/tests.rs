use std::path::Path;
use std::time::Duration;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn fixture(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "api.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
    );
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    let text = format!(
        "policies: policies\napis:\n  - name: orders\n    base_url: http://127.0.0.1:9\n    openapi: api.yaml\n{extra}"
    );
    let path = write(dir.path(), "portcullis.yaml", &text);
    (dir, path)
}

#[test]
fn minimal_config_loads_and_resolves_paths() {
    let (dir, path) = fixture("");
    let loaded = Config::load(&path).unwrap();
    assert_eq!(loaded.config.policies, dir.path().join("policies"));
    assert_eq!(loaded.config.apis[0].openapi, dir.path().join("api.yaml"));
    assert_eq!(loaded.config.data_dir, dir.path().join(".portcullis"));
    assert_eq!(loaded.config.issuer.token_ttl.0, Duration::from_secs(600));
}

#[test]
fn scopes_must_be_scope_tokens() {
    for extra in [
        "tools:\n  - api: orders\n    operations: [a]\n    scopes: ['has space']\n",
        "tools:\n  - api: orders\n    operations: [a]\n    scopes: ['quo\"te']\n",
        "agents:\n  - id: a\n    client_secret: env:A\n    scopes: ['']\n",
    ] {
        let (_dir, path) = fixture(extra);
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("is not a valid scope"), "{err}");
    }
}

#[test]
fn resource_identifiers_and_scopes_come_from_the_file() {
    let (_dir, path) = fixture(
        "listener:\n  public_url: https://gw.example/\nagents:\n  - id: a\n    client_secret: env:A\n    scopes: [r, w]\ntools:\n  - api: orders\n    operations: [a]\n    scopes: [w, x]\n",
    );
    let config = Config::load(&path).unwrap().config;
    assert_eq!(
        config.resource_identifiers(),
        ["https://gw.example/mcp", "https://gw.example"]
    );
    assert_eq!(config.authorization_servers(), ["https://gw.example"]);
    assert_eq!(config.scopes_supported(), ["r", "w", "x"]);
}

#[test]
fn unknown_key_names_line() {
    let (_dir, path) = fixture("bogus: 1\n");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("bogus"), "{err}");
    assert!(err.contains("portcullis.yaml:6"), "{err}");
}

#[test]
fn inline_secret_is_refused_without_echo() {
    let (_dir, path) = fixture("agents:\n  - id: a\n    client_secret: hunter2-very-secret\n");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("inline secret values are not allowed"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn missing_openapi_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    let path = write(
        dir.path(),
        "c.yaml",
        "policies: policies\napis:\n  - name: x\n    base_url: http://127.0.0.1:9\n    openapi: nope.yaml\n",
    );
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("apis[0].openapi") && err.contains("nope.yaml"),
        "{err}"
    );
}

#[test]
fn tool_selection_must_name_a_known_api() {
    let (_dir, path) = fixture("tools:\n  - api: payments\n    operations: [pay]\n");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("unknown API `payments`"), "{err}");
}

#[test]
fn agent_needs_exactly_one_secret_form() {
    let (_dir, path) = fixture("agents:\n  - id: a\n    roles: [r]\n");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("client_secret_hash"), "{err}");
}

#[test]
fn secret_refs_parse() {
    assert_eq!(
        "env:ABC_1".parse::<SecretRef>(),
        Ok(SecretRef::Env("ABC_1".into()))
    );
    assert!("env:".parse::<SecretRef>().is_err());
    assert!("env:A B".parse::<SecretRef>().is_err());
    assert_eq!(
        "file:x".parse::<SecretRef>(),
        Ok(SecretRef::File("x".into()))
    );
}

#[test]
fn schema_is_generated_and_names_sections() {
    let schema = json_schema();
    let props = &schema["properties"];
    for key in [
        "listener", "issuer", "agents", "apis", "tools", "policies", "audit", "limits",
    ] {
        assert!(props.get(key).is_some(), "schema lacks {key}");
    }
}

#[test]
fn shipped_schema_is_current() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.schema.json");
    let expected = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
    if std::env::var_os("PORTCULLIS_BLESS").is_some() {
        std::fs::write(&shipped, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&shipped).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/config.schema.json is stale; run `PORTCULLIS_BLESS=1 cargo test -p portcullis-config`"
    );
}

#[test]
fn call_limits_are_checked() {
    let cases = [
        (
            "limits:\n  rates:\n    - {name: a, key: [tool], stage: admit, rate: 1}\n",
            "limits.rates[0].key",
        ),
        (
            "limits:\n  rates:\n    - {name: a, rate: 0}\n",
            "limits.rates[0]",
        ),
        (
            "limits:\n  rates:\n    - {name: a, rate: 1}\n  quotas:\n    - {name: a, period: day, limit: 5}\n",
            "limits.quotas[0].name",
        ),
        (
            "limits:\n  rates:\n    - {name: a, rate: 1, tools: ['[']}\n",
            "limits.rates[0].tools",
        ),
        (
            "limits:\n  loop_detection: {max_repeats: 0, window: 1m}\n",
            "limits.loop_detection",
        ),
    ];
    for (extra, expected) in cases {
        let (_dir, path) = fixture(extra);
        match Config::load(&path) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, expected, "{extra}"),
            other => panic!("{extra}: expected an invalid key, got {other:?}"),
        }
    }
    let (_dir, path) = fixture(
        "limits:\n  rates:\n    - {name: per-agent, key: [agent], stage: admit, rate: 20, burst: 40}\n  loop_detection: {max_repeats: 10, window: 1m}\n",
    );
    let loaded = Config::load(&path).unwrap();
    assert_eq!(loaded.config.limits.rates[0].per.get(), Duration::from_secs(1));
}
