//! What the targets are run against, built once per process in a temporary folder: the
//! quickstart's OpenAPI document and its catalog, token issuers with real keys, the detectors.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use portcullis_catalog::Catalog;
use portcullis_config::Config;
use portcullis_guard::Validator;
use portcullis_guard::dlp::Dlp;
use portcullis_guard::inspect::Inspector;
use portcullis_guard::prompt::PromptDetector;
use portcullis_identity::{Identity, Revocations};
use portcullis_secrets::{OverlayEnv, SecretStore};

/// The quickstart's OpenAPI document: a realistic catalog for the validator, and a seed shape.
pub(crate) const ORDERS_OPENAPI: &str =
    include_str!("../../examples/quickstart/orders.openapi.yaml");

/// The agent the token issuers know.
pub(crate) const AGENT: &str = "fuzz-agent";

/// Everything built once.
pub(crate) struct Fixture {
    /// Keeps the temporary folder alive as long as the process.
    _dir: tempfile::TempDir,
    /// Where the `openapi` target writes each input before loading it.
    pub(crate) fuzzed_openapi: PathBuf,
    /// A configuration whose one API reads [`Fixture::fuzzed_openapi`], every operation a tool.
    pub(crate) fuzzed_config: Config,
    /// The quickstart catalog's argument validator.
    pub(crate) validator: Validator,
    /// Tool names of the quickstart catalog.
    pub(crate) tools: Vec<String>,
    /// Token issuers, one per signing algorithm, each with tokens it minted.
    pub(crate) issuers: Vec<Issuer>,
    pub(crate) inspector: Inspector,
    pub(crate) dlp: Dlp,
}

/// One token issuer and verifier with a real signing key.
pub(crate) struct Issuer {
    pub(crate) identity: Identity,
    /// Tokens it minted for [`AGENT`]: the only ones that may verify.
    pub(crate) minted: Vec<String>,
}

/// The fixture, built on first use. Building it can only fail on a broken checkout or an
/// unusable temporary folder, which is a reason to stop the run.
pub(crate) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| match build() {
        Ok(fixture) => fixture,
        Err(error) => panic!("the fuzz fixture could not be built: {error}"),
    })
}

fn build() -> Result<Fixture, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let orders = dir.path().join("orders.openapi.yaml");
    std::fs::write(&orders, ORDERS_OPENAPI).map_err(|e| e.to_string())?;
    let config = catalog_config(dir.path(), &orders)?;
    let catalog = Catalog::load(&config).map_err(|e| e.to_string())?;
    let validator = Validator::new(&catalog, &config.limits).map_err(|e| e.to_string())?;
    let tools = catalog.tools().iter().map(|t| t.name.clone()).collect();

    let fuzzed_openapi = dir.path().join("fuzzed.openapi.yaml");
    std::fs::write(&fuzzed_openapi, ORDERS_OPENAPI).map_err(|e| e.to_string())?;
    let fuzzed_config = catalog_config(dir.path(), &fuzzed_openapi)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut issuers = Vec::new();
    for algorithm in ["ES256", "EdDSA"] {
        let data_dir = dir.path().join(format!("state-{algorithm}"));
        let config = issuer_config(&data_dir, algorithm)?;
        let revocations = runtime
            .block_on(Revocations::open(&data_dir, Duration::from_secs(3600)))
            .map_err(|e| e.to_string())?;
        let mut env = OverlayEnv::new();
        env.set("PORTCULLIS_FUZZ_SECRET", "fuzz-secret-not-used");
        let secrets = SecretStore::new(Arc::new(env));
        let identity =
            Identity::open(&config, &secrets, Arc::new(revocations)).map_err(|e| e.to_string())?;
        let mut minted = Vec::new();
        for _ in 0..2 {
            let token = identity.mint(AGENT, None).map_err(|e| e.to_string())?;
            minted.push(token.access_token);
        }
        issuers.push(Issuer { identity, minted });
    }

    let prompt = Arc::new(PromptDetector::new().map_err(|e| e.to_string())?);
    let inspector = Inspector::new(prompt, portcullis_egress::classify::special_purpose)
        .map_err(|e| e.to_string())?;
    let dlp = Dlp::new().map_err(|e| e.to_string())?;
    Ok(Fixture {
        _dir: dir,
        fuzzed_openapi,
        fuzzed_config,
        validator,
        tools,
        issuers,
        inspector,
        dlp,
    })
}

/// A configuration with one API read from `openapi`, every operation exposed.
fn catalog_config(dir: &Path, openapi: &Path) -> Result<Config, String> {
    let yaml = format!(
        r#"
listener:
  public_url: "https://gw.example/"
apis:
  - name: orders
    base_url: https://orders.example
    openapi: "{openapi}"
tools:
  - api: orders
    operations: ["*"]
    risk: low
policies: policies
"#,
        openapi = openapi.display()
    );
    let mut config = Config::parse(&yaml, Path::new("fuzz.yaml")).map_err(|e| e.to_string())?;
    config.data_dir = dir.join("catalog-state");
    Ok(config)
}

/// A configuration for a token issuer signing with `algorithm`, knowing [`AGENT`].
fn issuer_config(data_dir: &Path, algorithm: &str) -> Result<Config, String> {
    let yaml = format!(
        r#"
listener:
  public_url: "https://gw.example/"
issuer:
  algorithm: {algorithm}
  leeway: 30s
  token_ttl: 10m
  max_token_ttl: 1h
agents:
  - id: {AGENT}
    client_secret: env:PORTCULLIS_FUZZ_SECRET
    roles: [reader]
    scopes: ["orders:read"]
policies: policies
"#
    );
    let mut config = Config::parse(&yaml, Path::new("fuzz.yaml")).map_err(|e| e.to_string())?;
    config.data_dir = data_dir.to_owned();
    Ok(config)
}
