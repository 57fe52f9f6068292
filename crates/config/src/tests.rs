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
    // The place is said once, as `file:line:column`, not again in the parser's words.
    assert!(!err.contains("line 6"), "{err}");
    assert!(!err.contains("error:"), "{err}");
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
    assert_eq!(
        loaded.config.limits.rates[0].per.get(),
        Duration::from_secs(1)
    );
}

#[test]
fn every_check_names_its_key_and_says_what_is_wrong() {
    let cases = [
        (
            "listener:\n  public_url: ftp://gw.example/\n",
            "listener.public_url",
            "`ftp://gw.example/` must use http or https",
        ),
        (
            "agents:\n  - id: 'a b'\n    client_secret: env:A\n",
            "agents[0].id",
            "`a b` is not a valid agent id; use letters, digits, `-`, `_`, `.` and `@`",
        ),
        (
            "agents:\n  - {id: a, client_secret: env:A}\n  - {id: a, client_secret: env:B}\n",
            "agents[1].id",
            "agent `a` is declared twice",
        ),
        (
            "agents:\n  - {id: a, client_secret: env:A, client_secret_hash: $argon2id$x}\n",
            "agents[0]",
            "give either `client_secret_hash` or `client_secret`, not both",
        ),
        (
            "agents:\n  - {id: a, client_secret_hash: plain}\n",
            "agents[0].client_secret_hash",
            "must be an argon2 PHC string",
        ),
        (
            "agents:\n  - {id: a, client_secret: env:A, roles: ['r r']}\n",
            "agents[0].roles",
            "`r r` is not a valid role name",
        ),
        (
            "agents:\n  - {id: a, certificate: {subject: CN=a, spiffe_id: 'spiffe://x/a'}}\n",
            "agents[0].certificate",
            "give exactly one of `subject` and `spiffe_id`",
        ),
        (
            "agents:\n  - {id: a, certificate: {subject: CN=a}}\n",
            "agents[0].certificate",
            "needs `listener.tls` with `client_auth: optional` or `required`",
        ),
        (
            "identity_providers:\n  - {issuer: 'http://idp.example', algorithms: [RS256]}\n",
            "identity_providers[0].issuer",
            "`http://idp.example` must use https (set `allow_insecure_http` only for a loopback test issuer)",
        ),
        (
            "listener:\n  public_url: https://gw.example\nidentity_providers:\n  - {issuer: 'https://gw.example', algorithms: [RS256]}\n",
            "identity_providers[0].issuer",
            "this is the gateway's own issuer",
        ),
        (
            "identity_providers:\n  - {issuer: 'https://a.example', algorithms: [RS256]}\n  - {issuer: 'https://a.example', algorithms: [RS256]}\n",
            "identity_providers[1].issuer",
            "issuer `https://a.example` is declared twice",
        ),
        (
            "identity_providers:\n  - {issuer: 'https://a.example', algorithms: []}\n",
            "identity_providers[0].algorithms",
            "pin at least one algorithm, e.g. `[RS256]`",
        ),
        (
            "identity_providers:\n  - {issuer: 'https://a.example', algorithms: [HS256]}\n",
            "identity_providers[0].algorithms",
            "`HS256` is not accepted; use one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
        ),
        (
            "identity_providers:\n  - {issuer: 'https://a.example', algorithms: [RS256], jwks_ttl: 0s}\n",
            "identity_providers[0].jwks_ttl",
            "must be greater than zero",
        ),
        (
            "  - name: orders\n    base_url: http://127.0.0.1:9\n    openapi: api.yaml\n",
            "apis[1].name",
            "API `orders` is declared twice",
        ),
        (
            "  - name: a.b\n    base_url: http://127.0.0.1:9\n    openapi: api.yaml\n",
            "apis[1].name",
            "`a.b` is not a valid API name; use letters, digits, `-` and `_`",
        ),
        (
            "  - name: b\n    base_url: 'http://user:pw@127.0.0.1:9'\n    openapi: api.yaml\n",
            "apis[1].base_url",
            "URLs must not carry credentials; use `credential`",
        ),
        (
            "  - name: b\n    base_url: http://127.0.0.1:9\n    openapi: api.yaml\n    credential: {type: header, name: 'X Key', secret: env:K}\n",
            "apis[1].credential.name",
            "`X Key` is not a valid header name",
        ),
        (
            "  - name: b\n    base_url: http://127.0.0.1:9\n    openapi: api.yaml\n    credential: {type: query, name: '', secret: env:K}\n",
            "apis[1].credential.name",
            "query parameter name must not be empty",
        ),
        (
            "  - name: b\n    base_url: http://127.0.0.1:9\n    openapi: api.yaml\n    egress: {timeout: 0s}\n",
            "apis[1].egress",
            "timeouts must be greater than zero",
        ),
        (
            "tools:\n  - {api: orders, operations: []}\n",
            "tools[0].operations",
            "list at least one operationId or pattern",
        ),
        (
            "tools:\n  - {api: orders, operations: ['a{b']}\n",
            "tools[0].operations",
            "bad pattern `a{b`",
        ),
        (
            "tools:\n  - {api: 'no such', operations: [a]}\n",
            "tools[0].api",
            "unknown API `no such`; declare it under `apis`",
        ),
        (
            "issuer:\n  token_ttl: 2h\n",
            "issuer.token_ttl",
            "must be greater than zero and at most `issuer.max_token_ttl`",
        ),
        (
            "issuer:\n  key_rotation: 30s\n",
            "issuer.key_rotation",
            "must be at least one minute",
        ),
        (
            "admin:\n  token: env:T\n  listen: 127.0.0.1:8080\n",
            "admin.listen",
            "the admin API needs its own address, not `listener.address`",
        ),
        (
            "limits:\n  max_depth: 0\n",
            "limits",
            "limits must be greater than zero",
        ),
        (
            "limits:\n  quotas:\n    - {name: q, period: day, limit: 0}\n",
            "limits.quotas[0].limit",
            "must be greater than zero",
        ),
        (
            "limits:\n  concurrency: {per_api: 0}\n",
            "limits.concurrency",
            "caps must be greater than zero",
        ),
        (
            "limits:\n  estimator: {bytes_per_token: 0}\n",
            "limits.estimator.bytes_per_token",
            "must be greater than zero",
        ),
        (
            "limits:\n  backend: {type: redis, url: env:R, prefix: 'a{b}'}\n",
            "limits.backend.prefix",
            "must be non-empty and without `{` or `}`",
        ),
        (
            "limits:\n  backend: {type: redis, url: env:R, timeout: 0s}\n",
            "limits.backend.timeout",
            "must be greater than zero",
        ),
    ];
    for (extra, expected_key, expected_message) in cases {
        // A line starting with `  -` continues the fixture's `apis` list.
        let (_dir, path) = fixture(extra);
        let err = Config::load(&path).unwrap_err();
        let text = err.to_string();
        match &err {
            ConfigError::Invalid { key, .. } => assert_eq!(key, expected_key, "{extra}"),
            other => panic!("{extra}: expected an invalid key, got {other:?}"),
        }
        assert!(
            text.starts_with(&format!("{}: `{expected_key}`: ", path.display())),
            "{text}"
        );
        assert!(text.contains(expected_message), "{text}");
    }
}

#[test]
fn tls_files_are_resolved_and_must_exist() {
    let tls = "listener:\n  tls:\n    cert: certs/server.pem\n    key: file:certs/server.key\n    client_ca: certs/ca.pem\n    client_auth: optional\n";
    let (dir, path) = fixture(tls);
    let err = Config::load(&path).unwrap_err();
    assert!(
        matches!(&err, ConfigError::MissingFile { key, .. } if key == "listener.tls.cert"),
        "{err:?}"
    );
    write(dir.path(), "certs/server.pem", "");
    write(dir.path(), "certs/ca.pem", "");
    let loaded = Config::load(&path).unwrap();
    let tls = loaded.config.listener.tls.unwrap();
    assert_eq!(tls.cert, dir.path().join("certs/server.pem"));
    assert_eq!(tls.client_ca, Some(dir.path().join("certs/ca.pem")));
    assert_eq!(
        tls.key,
        SecretRef::File(dir.path().join("certs/server.key"))
    );
    assert_eq!(tls.reload_interval.get(), Duration::from_secs(30));

    let (_dir, path) =
        fixture("listener:\n  tls:\n    cert: c.pem\n    key: env:K\n    client_auth: required\n");
    write(path.parent().unwrap(), "c.pem", "");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("`listener.tls.client_ca`: client certificates need `client_ca`"),
        "{err}"
    );
}

#[test]
fn parsing_text_alone_leaves_paths_as_written_and_reads_no_file() {
    let config = Config::parse(
        "policies: nowhere\ndata_dir: state\napis:\n  - name: a\n    base_url: https://a.example\n    openapi: missing.yaml\n    credential: {type: bearer, secret: file:token.txt}\n",
        Path::new("c.yaml"),
    )
    .unwrap();
    assert_eq!(config.policies, Path::new("nowhere"));
    assert_eq!(config.data_dir, Path::new("state"));
    assert_eq!(config.apis[0].openapi, Path::new("missing.yaml"));
    assert!(matches!(
        &config.apis[0].credential,
        Some(CredentialConfig::Bearer { secret: SecretRef::File(file) }) if file == Path::new("token.txt")
    ));
    // The value checks still run.
    let err = Config::parse(
        "policies: p\nagents:\n  - {id: a, client_secret: env:A, scopes: ['a b']}\n",
        Path::new("c.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("c.yaml: `agents[0].scopes`: `a b` is not a valid scope"),
        "{err}"
    );
}

#[test]
fn tool_patterns_match_exact_names_and_globs() {
    let patterns = ToolPatterns::parse(["getOrder", "list*", "refund?", "{a,b}x"]).unwrap();
    for name in ["getOrder", "listOrders", "list", "refund1", "ax", "bx"] {
        assert!(patterns.matches(name), "{name}");
    }
    for name in ["getOrders", "getorder", "refund12", "cx", ""] {
        assert!(!patterns.matches(name), "{name}");
    }
    assert_eq!(
        patterns.iter().map(ToolPattern::as_str).collect::<Vec<_>>(),
        ["getOrder", "list*", "refund?", "{a,b}x"]
    );
    assert!(patterns.iter().next().unwrap().matches("getOrder"));
    assert!(!ToolPatterns::default().matches("anything"));
    // A pattern without glob characters is matched exactly, whatever a glob would make of it.
    assert!(ToolPattern::parse("a\\b").unwrap().matches("a\\b"));

    let err = ToolPatterns::parse(["ok", "["]).unwrap_err();
    assert_eq!(err.pattern, "[");
    assert!(err.to_string().starts_with("bad pattern `[`: "), "{err}");
    // Every entry must compile, even one matched exactly.
    assert!(ToolPattern::parse("a}").is_err());
}

#[test]
fn checked_text_types_apply_their_rules() {
    assert_eq!(
        Name::new("billing-bot@shop.example").unwrap(),
        "billing-bot@shop.example"
    );
    for bad in ["", "a b", "a/b", &"x".repeat(129)] {
        assert!(Name::new(bad).is_none(), "{bad}");
    }
    assert!(ApiName::new("orders_v2").is_some());
    assert!(ApiName::new("orders.v2").is_none());
    assert!(ApiName::new("ops@shop").is_none());
    assert_eq!(Scope::new("orders:read").unwrap().as_str(), "orders:read");
    for bad in ["", "a b", "a\"b", "a\\b", "é"] {
        assert!(Scope::new(bad).is_none(), "{bad}");
    }

    let url = HttpUrl::parse("https://gw.example").unwrap();
    assert_eq!(url, "https://gw.example");
    assert_eq!(url.url().as_str(), "https://gw.example/");
    for (text, message) in [
        ("not a url", "`not a url` is not a URL: "),
        (
            "ftp://a.example",
            "`ftp://a.example` must use http or https",
        ),
        (
            "http://user@a.example",
            "URLs must not carry credentials; use `credential`",
        ),
    ] {
        let err = HttpUrl::parse(text).unwrap_err().to_string();
        assert!(err.starts_with(message), "{err}");
    }

    assert!(NonZeroDuration::new(Duration::ZERO).is_none());
    let second = NonZeroDuration::new(Duration::from_secs(1)).unwrap();
    assert_eq!(second.get(), Duration::from_secs(1));
    assert_eq!(second.to_string(), "1s");
    let err = "soon".parse::<HumanDuration>().unwrap_err().to_string();
    assert!(err.starts_with("`soon` is not a duration ("), "{err}");
}

#[test]
fn a_list_entry_deserializes_alone_with_its_section_checks() {
    let agent: AgentConfig =
        serde_json::from_value(serde_json::json!({"id": "a", "client_secret": "env:A"})).unwrap();
    assert_eq!(agent.id, "a");
    let err = serde_json::from_value::<AgentConfig>(serde_json::json!({"id": "a b"}))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("`agent.id`: `a b` is not a valid agent id"),
        "{err}"
    );

    let idp: IdentityProviderConfig = serde_json::from_value(serde_json::json!({
        "issuer": "https://idp.example", "algorithms": ["RS256"]
    }))
    .unwrap();
    assert_eq!(idp.jwks_ttl.get(), Duration::from_secs(600));
    assert_eq!(idp.egress.timeout.0, Duration::from_secs(5));

    let api: ApiConfig = serde_json::from_value(serde_json::json!({
        "name": "orders", "base_url": "https://api.example", "openapi": "o.yaml"
    }))
    .unwrap();
    assert_eq!(api.base_url, "https://api.example");
    let err = serde_json::from_value::<ToolSelection>(
        serde_json::json!({"api": "orders", "operations": ["["]}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("`tool.operations`: bad pattern `[`"),
        "{err}"
    );
}

#[test]
fn sign_in_at_a_provider_names_a_declared_identity_provider() {
    let provider =
        "identity_providers:\n  - issuer: https://login.example.com\n    algorithms: [RS256]\n";
    let upstream = "sign_in:\n  identity_provider:\n    issuer: https://login.example.com\n    client_id: gw\n    client_secret: env:IDP_SECRET\n    scopes: [email]\n";
    let (_dir, path) = fixture(&format!("{provider}{upstream}"));
    let loaded = Config::load(&path).unwrap();
    let sign_in = loaded.config.sign_in.unwrap();
    assert!(sign_in.users.is_empty());
    let idp = sign_in.identity_provider.unwrap();
    assert_eq!(idp.scopes, ["openid", "email"], "openid is always asked");
    assert_eq!(idp.label, "your organization's sign-in");

    let (_dir, path) = fixture(upstream);
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("sign_in.identity_provider.issuer")
            && err.contains("not the issuer of any entry of `identity_providers`"),
        "{err}"
    );

    let (_dir, path) = fixture("sign_in:\n  client_scopes: [a]\n");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("nobody could sign in"), "{err}");

    let (_dir, path) = fixture(&format!(
        "{provider}sign_in:\n  identity_provider:\n    issuer: https://login.example.com\n    client_id: ''\n"
    ));
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("client_id"), "{err}");
}

#[test]
fn approvals_are_checked_group_by_group() {
    const OK: &str = "approvals:\n  wait: 5s\n  groups:\n    - name: finance\n      required: 2\n  approvers:\n    - id: ana\n      secret: env:A\n      groups: [finance]\n    - id: bo\n      secret_hash: $argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n      groups: [finance]\n";
    let (_dir, path) = fixture(OK);
    let approvals = Config::load(&path).unwrap().config.approvals.unwrap();
    assert_eq!(approvals.wait, Duration::from_secs(5));
    assert_eq!(approvals.expiry, Duration::from_secs(3600));
    assert_eq!(approvals.max_pending_per_agent, 20);
    assert_eq!(approvals.group("finance").unwrap().required, 2);
    assert!(approvals.knows_group("user") && !approvals.knows_group("ops"));

    for (extra, key, problem) in [
        (
            OK.replace(
                "groups: [finance]\n    - id: bo",
                "groups: [finanse]\n    - id: bo",
            ),
            "approvals.approvers[0].groups",
            "`finanse` is not an approver group",
        ),
        (
            OK.replace("required: 2", "required: 3"),
            "approvals.groups[0].required",
            "needs 3 distinct approvers but only 2",
        ),
        (
            OK.replace("name: finance", "name: user"),
            "approvals.groups[0].name",
            "built-in group",
        ),
        (
            OK.replace("wait: 5s", "wait: 2h"),
            "approvals.expiry",
            "longer than `approvals.wait`",
        ),
        (
            OK.replace("      secret: env:A\n", ""),
            "approvals.approvers[0]",
            "approver needs `secret_hash` or `secret`",
        ),
        (
            format!(
                "{OK}tools:\n  - api: orders\n    operations: [a]\n    approval: {{group: ops}}\n"
            ),
            "tools[0].approval.group",
            "`ops` is not an approver group",
        ),
        (
            "tools:\n  - api: orders\n    operations: [a]\n    approval: {group: ops}\n".to_owned(),
            "tools[0].approval",
            "there is no `approvals` section",
        ),
    ] {
        let (_dir, path) = fixture(&extra);
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("`{key}`")) && err.contains(problem),
            "{err}"
        );
    }
}
