//! `portcullis`: the one binary. It parses the command line, loads the configuration and hands
//! over to the library crates; this is the only crate that uses `anyhow`.

mod approvals;
mod demo;
mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use portcullis_config::{Config, Loaded};
use portcullis_secrets::SecretStore;

/// jemalloc instead of the system allocator (the `jemalloc` feature, on in shipped builds): a
/// call allocates a few hundred times, partly on the runtime thread and partly on the audit
/// log's database thread, and glibc's malloc spent about a tenth of the gateway's CPU on that;
/// jemalloc cut the CPU per call by about 7%.
#[cfg(all(unix, feature = "jemalloc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Hands the memory freed while loading back to the OS.
///
/// Loading parses every OpenAPI document into a tree, compiles schemas and validates policies;
/// with a large catalog that scratch is several times the size of what the gateway keeps.
/// jemalloc would keep the freed pages for its decay time (about ten seconds, and only once the
/// allocator runs again), so an idle gateway would report that scratch as its footprint.
/// Setting each arena's decay time to zero purges its unused pages at once; the previous
/// setting is restored right after, so the request path keeps jemalloc's normal behaviour.
/// Without the `jemalloc` feature, glibc's `malloc_trim` would be the counterpart; it needs
/// `unsafe`, so that build keeps the scratch until glibc returns it by itself.
pub(crate) fn release_startup_memory() {
    #[cfg(all(unix, feature = "jemalloc"))]
    {
        use tikv_jemalloc_ctl::{Access, AsName, arenas};
        let Ok(count) = arenas::narenas::read() else {
            return;
        };
        for key in [
            b"arena.0.dirty_decay_ms\0".as_slice(),
            b"arena.0.muzzy_decay_ms\0".as_slice(),
        ] {
            let Ok(mut mib) = key.name().mib::<[usize; 3]>() else {
                continue;
            };
            for arena in 0..count {
                mib[1] = arena as usize;
                // Arenas that were never initialised refuse the call; nothing to purge there.
                if let Ok(previous) = mib.update(0_isize) {
                    let _ = mib.write(previous);
                }
            }
        }
    }
}

/// Exit code for a configuration the gateway refuses (`EX_CONFIG` of sysexits.h).
const EXIT_CONFIG: u8 = 78;
/// Exit code when `audit verify` finds a broken chain.
const EXIT_TAMPERED: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Zero-trust gateway between AI agents and APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Override `listener.address`. A `listener.public_url` naming the configured address
        /// follows it; one naming another port of this machine is refused.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Validate the configuration, OpenAPI documents and policies, then exit.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// Also print the Cedar schema generated from the tool catalog.
        #[arg(long)]
        print_schema: bool,
    },
    /// Run the quickstart: the gateway and an example orders API in one process.
    Demo {
        /// Gateway listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// State folder (signing key, audit log, demo credentials).
        #[arg(long, default_value = ".portcullis")]
        data_dir: PathBuf,
        /// Example API listen address (default: the host and port of the quickstart config's
        /// `orders` base URL, 127.0.0.1:8081).
        #[arg(long)]
        api_listen: Option<SocketAddr>,
    },
    /// Mint a short-lived access token for an agent (for scripts and batch jobs).
    ///
    /// Signs with the keys of the gateway whose data directory it is given and creates none.
    /// Without `--config`, it mints for the gateway that last started on `--data-dir` (default
    /// `.portcullis`, the demo's), with that gateway's configuration and issuer.
    Token {
        /// The configuration file (default: the one the gateway on `--data-dir` started with).
        #[arg(long, short = 'c', env = "PORTCULLIS_CONFIG")]
        config: Option<PathBuf>,
        /// The gateway's data directory (default: the configuration's `data_dir`, or
        /// `.portcullis` without `--config`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The agent id.
        #[arg(long)]
        agent: String,
        /// Lifetime, e.g. `5m` (default: `issuer.token_ttl`; capped at `issuer.max_token_ttl`).
        #[arg(long, value_parser = humantime_duration)]
        ttl: Option<Duration>,
    },
    /// Revoke access tokens: one by its `jti`, or every token an agent holds. Takes effect on a
    /// running gateway that shares the data directory within 50 ms, and survives restarts.
    Revoke {
        #[command(subcommand)]
        command: RevokeCommand,
    },
    /// The grants users gave interactive clients (sign-in): list them, or revoke a user's.
    Grants {
        #[command(subcommand)]
        command: GrantsCommand,
    },
    /// Held calls awaiting a person: list, show, approve or deny them.
    Approvals {
        #[command(subcommand)]
        command: approvals::ApprovalsCommand,
    },
    /// Disable an agent (its tokens and token requests are refused) or enable it again.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Inspect the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Hash a client secret read from standard input, for `client_secret_hash`.
    HashSecret,
    /// Print the JSON Schema of the configuration file.
    ConfigSchema,
    /// Run only the example orders API (the quickstart's upstream). The bearer token it
    /// requires is read from `ORDERS_API_TOKEN`.
    ExampleApi {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum RevokeCommand {
    /// Revoke one token by its `jti` claim.
    Token {
        #[command(flatten)]
        config: ConfigArgs,
        /// The token's `jti`.
        jti: String,
    },
    /// Revoke every token the agent holds now; tokens it obtains afterwards are valid.
    Agent {
        #[command(flatten)]
        config: ConfigArgs,
        /// The agent id.
        agent: String,
    },
}

#[derive(Debug, Subcommand)]
enum GrantsCommand {
    /// List grants (all users, or one), oldest first, as JSON lines.
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only this user's grants.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke every grant of a user: their refresh tokens stop working at once and the last
    /// access token of each grant is revoked.
    Revoke {
        #[command(flatten)]
        config: ConfigArgs,
        /// The user id.
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Refuse the agent's tokens and token requests until it is enabled again.
    Disable {
        #[command(flatten)]
        config: ConfigArgs,
        /// The agent id.
        agent: String,
    },
    /// Lift `agent disable`.
    Enable {
        #[command(flatten)]
        config: ConfigArgs,
        /// The agent id.
        agent: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a new signing key now. A running gateway on the same data directory signs with
    /// it within a second; tokens signed by the previous keys keep verifying until they expire.
    Rotate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List the signing keys in force, oldest first (times in seconds since the Unix epoch).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the whole hash chain; names the first broken record and exits non-zero.
    Verify {
        #[command(flatten)]
        source: AuditSource,
    },
    /// Print the most recent records as JSON lines, oldest first.
    Tail {
        #[command(flatten)]
        source: AuditSource,
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
    },
}

#[derive(Args, Debug)]
struct ConfigArgs {
    /// The configuration file.
    #[arg(long, short = 'c', env = "PORTCULLIS_CONFIG")]
    config: PathBuf,
    /// Override `data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct AuditSource {
    /// The configuration file (the audit path is read from it).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// The data directory (the audit log is `audit.db` in it).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// `HumanDuration` owns the one duration syntax of the project.
fn humantime_duration(text: &str) -> Result<Duration, portcullis_config::DurationError> {
    text.parse::<portcullis_config::HumanDuration>()
        .map(|d| d.0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err
                .downcast_ref::<portcullis_config::ConfigError>()
                .is_some()
                || err
                    .downcast_ref::<portcullis_pipeline::BuildError>()
                    .is_some()
                || err.downcast_ref::<portcullis_http::TlsError>().is_some()
            {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The log's formatting layer, swapped once the configuration says which format it wants.
type LogLayer =
    Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static>;

/// Switches the log format after the configuration is loaded (`log.format`).
static LOG_FORMAT: std::sync::OnceLock<
    tracing_subscriber::reload::Handle<LogLayer, tracing_subscriber::Registry>,
> = std::sync::OnceLock::new();

/// Log lines go to standard error: text (coloured only on a terminal) or JSON, from
/// `PORTCULLIS_LOG_FORMAT` until the configuration's `log.format` applies. Which events:
/// `PORTCULLIS_LOG` (an `EnvFilter` directive), by default `info` for the gateway's own crates
/// and `warn` for the libraries it uses.
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,portcullis=info"));
    let json = std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|format| format == "json");
    let (layer, handle) = tracing_subscriber::reload::Layer::new(log_layer(json));
    let _ = LOG_FORMAT.set(handle);
    tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .init();
}

fn log_layer(json: bool) -> LogLayer {
    use tracing_subscriber::Layer as _;
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if json {
        layer.json().boxed()
    } else {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        layer.with_ansi(terminal).boxed()
    }
}

/// Applies the configuration's `log.format` (unless `PORTCULLIS_LOG_FORMAT` already chose).
fn apply_log_format(config: &Config) {
    if std::env::var_os("PORTCULLIS_LOG_FORMAT").is_some() {
        return;
    }
    let json = config.log.format == portcullis_config::LogFormat::Json;
    if json && let Some(handle) = LOG_FORMAT.get() {
        let _ = handle.reload(log_layer(true));
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config, listen } => {
            let mut loaded = load(&config)?;
            if let Some(listen) = listen {
                listen_on(&mut loaded.config.listener, listen)?;
            }
            let secrets = SecretStore::from_process_env();
            serve(loaded, &secrets).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            config,
            print_schema,
        } => check(&config, print_schema),
        Command::Demo {
            listen,
            data_dir,
            api_listen,
        } => {
            demo::run(listen, &data_dir, api_listen).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            config,
            data_dir,
            agent,
            ttl,
        } => {
            let loaded = token_config(config, data_dir)?;
            let revocations = open_revocations(&loaded).await?;
            let identity = portcullis_identity::Identity::open_for_minting(
                &loaded.config,
                Arc::new(revocations),
            )?;
            let token = identity
                .mint(&agent, ttl)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.error, e.error_description))?;
            println!("{}", token.access_token);
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke { command } => revoke(command).await,
        Command::Agent { command } => agent(command).await,
        Command::Grants { command } => grants(command).await,
        Command::Approvals { command } => approvals::run(command).await,
        Command::Keys { command } => keys(command),
        Command::Audit { command } => audit(command).await,
        Command::HashSecret => {
            let mut secret = String::new();
            std::io::stdin()
                .read_line(&mut secret)
                .context("cannot read the secret from standard input")?;
            let secret = secret.trim_end_matches(['\n', '\r']);
            anyhow::ensure!(!secret.is_empty(), "the secret on standard input is empty");
            println!("{}", portcullis_identity::hash_secret(secret)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::ConfigSchema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&portcullis_config::json_schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ExampleApi { listen } => {
            let token = std::env::var("ORDERS_API_TOKEN")
                .context("set ORDERS_API_TOKEN to the bearer token the example API requires")?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!("example orders API on http://{listen}");
            portcullis_example_api::ExampleApi::new(token)
                .serve(listener)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(args: &ConfigArgs) -> anyhow::Result<Loaded> {
    let mut loaded = Config::load(&args.config)?;
    apply_log_format(&loaded.config);
    if let Some(dir) = &args.data_dir {
        loaded.config.data_dir = dir.clone();
    }
    Ok(loaded)
}

/// The configuration `portcullis token` mints with: the given file, or the one the gateway
/// on the data directory started with (its public URL kept, so the issuer is the one that
/// gateway accepts). Refuses a data directory without signing keys (nothing is created) and a
/// configuration whose issuer or audience differ from the running gateway's.
fn token_config(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> anyhow::Result<Loaded> {
    let (loaded, record) = match config {
        Some(config) => {
            let loaded = load(&ConfigArgs { config, data_dir })?;
            let record = state::read(&loaded.config.data_dir)?;
            (loaded, record)
        }
        None => {
            let dir = data_dir.unwrap_or_else(|| PathBuf::from(".portcullis"));
            let (mut loaded, record) = state::started_on(dir)?;
            apply_log_format(&loaded.config);
            loaded.config.listener.public_url = Some(
                portcullis_config::HttpUrl::parse(&record.public_url).with_context(|| {
                    format!("the gateway record names a bad URL `{}`", record.public_url)
                })?,
            );
            (loaded, Some(record))
        }
    };
    let dir = &loaded.config.data_dir;
    if !portcullis_identity::Identity::has_signing_keys(dir) {
        return Err(portcullis_identity::IdentityError::NoSigningKey {
            dir: dir.join("keys"),
        }
        .into());
    }
    if let Some(record) = record {
        let issuer = loaded.config.issuer_url();
        anyhow::ensure!(
            issuer == record.issuer,
            "issuer mismatch: the gateway that started on `{}` issues and accepts tokens from \
             `{}`, but `{}` names `{issuer}` (from `listener.public_url`, `issuer.issuer` or the \
             listen address), so that gateway would refuse this token; give the configuration \
             it started with, or leave out `--config`",
            dir.display(),
            record.issuer,
            loaded.path.display(),
        );
        let audience = loaded.config.audience();
        anyhow::ensure!(
            audience == record.audience,
            "audience mismatch: the gateway that started on `{}` requires `aud` `{}`, but `{}` \
             names `{audience}`",
            dir.display(),
            record.audience,
            loaded.path.display(),
        );
    }
    Ok(loaded)
}

fn check(args: &ConfigArgs, print_schema: bool) -> anyhow::Result<ExitCode> {
    let loaded = load(args)?;
    let checked = portcullis_pipeline::check(&loaded)?;
    let secrets = SecretStore::from_process_env();
    let mut unresolved = Vec::new();
    for agent in &loaded.config.agents {
        if let Some(reference) = &agent.client_secret
            && let Err(err) = secrets.resolve(reference)
        {
            unresolved.push(format!("agents `{}`: {err}", agent.id));
        }
    }
    for api in &loaded.config.apis {
        if let Some(credential) = &api.credential
            && let Err(err) = secrets.injector(credential)
        {
            unresolved.push(format!("apis `{}`: {err}", api.name));
        }
    }
    if let Some(approvals) = &loaded.config.approvals {
        for approver in &approvals.approvers {
            if let Some(reference) = &approver.secret
                && let Err(err) = secrets.resolve(reference)
            {
                unresolved.push(format!("approvals.approvers `{}`: {err}", approver.id));
            }
        }
        if let Some(reference) = approvals.webhook.as_ref().and_then(|w| w.secret.as_ref())
            && let Err(err) = secrets.resolve(reference)
        {
            unresolved.push(format!("approvals.webhook.secret: {err}"));
        }
    }
    if let Some(tls) = &loaded.config.listener.tls {
        match secrets.resolve(&tls.key) {
            Err(err) => unresolved.push(format!("listener.tls.key: {err}")),
            // With the key at hand, certificate, key and CAs must form a usable configuration.
            Ok(_) => drop(portcullis_http::Tls::load(tls, &secrets)?),
        }
    }
    if print_schema {
        println!("{}", checked.policy_schema_text(&loaded)?);
    }
    println!(
        "{}: ok: {} tools, {} policies (version {})",
        loaded.path.display(),
        checked.catalog.len(),
        checked.policy.policy_count(),
        checked.policy.version()
    );
    for warning in &unresolved {
        println!("warning: {warning} (needed by `serve`)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `serve --listen`: bind `listen` instead of `listener.address`. A `public_url` that only named
/// the configured address (this machine: a loopback host or the address's own IP, on its port)
/// follows `--listen`, so the discovery documents, the issuer and the audience name where the
/// gateway answers; one naming this machine on yet another port is refused, since nothing would
/// answer there; any other (a proxy's name) is kept. Without `public_url` it is derived from the
/// listen address anyway.
fn listen_on(
    listener: &mut portcullis_config::ListenerConfig,
    listen: SocketAddr,
) -> anyhow::Result<()> {
    let configured = std::mem::replace(&mut listener.address, listen);
    let Some(public) = &listener.public_url else {
        return Ok(());
    };
    let url = public.url();
    let host = url.host_str().unwrap_or_default();
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .ok();
    let this_machine = host.eq_ignore_ascii_case("localhost")
        || ip.is_some_and(|ip| ip.is_loopback() || ip == configured.ip() || ip == listen.ip());
    let port = url.port_or_known_default();
    if !this_machine || port == Some(listen.port()) {
        return Ok(());
    }
    anyhow::ensure!(
        port == Some(configured.port()),
        "`listener.public_url` ({}) names port {} of this machine, but the gateway listens on \
         {listen}: the discovery documents and tokens would point where nothing answers; set \
         `public_url` to the URL clients use, or remove it to derive it from `--listen`",
        public.as_str(),
        port.unwrap_or_default()
    );
    let mut derived = url.clone();
    if ip == Some(configured.ip())
        && !ip.is_some_and(|ip| ip.is_loopback())
        && !listen.ip().is_unspecified()
    {
        derived
            .set_ip_host(listen.ip())
            .map_err(|()| anyhow::anyhow!("cannot put {listen} into `listener.public_url`"))?;
    }
    derived
        .set_port(Some(listen.port()))
        .map_err(|()| anyhow::anyhow!("cannot put {listen} into `listener.public_url`"))?;
    let derived = portcullis_config::HttpUrl::parse(derived.as_str())?;
    tracing::info!(
        public_url = derived.as_str(),
        "`listener.public_url` follows `--listen`"
    );
    listener.public_url = Some(derived);
    Ok(())
}

async fn serve(loaded: Loaded, secrets: &SecretStore) -> anyhow::Result<()> {
    let address = loaded.config.listener.address;
    let tls = match &loaded.config.listener.tls {
        Some(tls) => Some(portcullis_http::Tls::load(tls, secrets)?),
        None => None,
    };
    // The admin credential is resolved before anything starts, so a missing one fails now.
    let admin_token = match &loaded.config.admin.token {
        Some(reference) => Some(
            secrets
                .resolve(reference)
                .context("cannot read `admin.token`")?,
        ),
        None => None,
    };
    let resolver = Arc::new(portcullis_egress::SystemResolver::new()?);
    let gateway = portcullis_pipeline::Gateway::build(&loaded, secrets, resolver).await?;
    let mut app = portcullis_http::app(Arc::clone(&gateway), &loaded.config)?;
    if let Some(tls) = tls {
        app = app.with_tls(tls);
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    state::record(&loaded)?;
    let admin = match admin_token {
        Some(token) => {
            let admin_address = loaded.config.admin.listen;
            let admin_listener = tokio::net::TcpListener::bind(admin_address)
                .await
                .with_context(|| format!("cannot listen on {admin_address} (`admin.listen`)"))?;
            Some((
                admin_listener,
                portcullis_http::admin_app(
                    Arc::clone(&gateway),
                    token,
                    loaded.config.admin.connections,
                ),
            ))
        }
        None => {
            tracing::info!("the admin API is off: set `admin.token` to enable it");
            None
        }
    };
    drop(loaded);
    release_startup_memory();
    serve_until_signal(listener, app, admin, &gateway).await
}

/// Serves the agents' listener (and the admin listener, if given) until SIGINT or SIGTERM,
/// then drains connections and flushes the audit log.
pub(crate) async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    app: portcullis_http::App,
    admin: Option<(tokio::net::TcpListener, portcullis_http::App)>,
    gateway: &portcullis_pipeline::Gateway,
) -> anyhow::Result<()> {
    // Before the accept loops start: each keeps its connection cap below what the open-file
    // limit leaves, so the higher the limit, the fewer connections are refused.
    portcullis_http::raise_open_file_limit();
    tracing::info!(
        address = %listener.local_addr()?,
        tools = gateway.tool_count(),
        policy_version = gateway.policy_version(),
        "portcullis is listening"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let admin = match admin {
        Some((admin_listener, admin_app)) => {
            tracing::info!(address = %admin_listener.local_addr()?, "the admin API is listening");
            Some(tokio::spawn(portcullis_http::serve(
                admin_listener,
                admin_app,
                until_stopped(stopped.clone()),
            )))
        }
        None => None,
    };
    portcullis_http::serve(listener, app, until_stopped(stopped)).await?;
    if let Some(admin) = admin {
        admin.await.context("the admin listener failed")??;
    }
    gateway.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn open_revocations(loaded: &Loaded) -> anyhow::Result<portcullis_identity::Revocations> {
    Ok(portcullis_identity::Revocations::open(
        &loaded.config.data_dir,
        portcullis_identity::Identity::revocation_retention(&loaded.config),
    )
    .await?)
}

/// The agent id if `loaded` configures it.
fn configured_agent<'a>(loaded: &Loaded, agent: &'a str) -> anyhow::Result<&'a str> {
    anyhow::ensure!(
        loaded.config.agents.iter().any(|a| a.id == agent),
        "agent `{agent}` is not configured in `{}`",
        loaded.path.display()
    );
    Ok(agent)
}

async fn revoke(command: RevokeCommand) -> anyhow::Result<ExitCode> {
    use portcullis_identity::ChangeSource;
    match command {
        RevokeCommand::Token { config, jti } => {
            let loaded = load(&config)?;
            let store = open_revocations(&loaded).await?;
            let new = store.revoke_token(&jti, ChangeSource::Cli).await?;
            if new {
                println!("revoked token `{jti}`");
            } else {
                println!("token `{jti}` was already revoked");
            }
        }
        RevokeCommand::Agent { config, agent } => {
            let loaded = load(&config)?;
            let agent = configured_agent(&loaded, &agent)?;
            let store = open_revocations(&loaded).await?;
            let cut_off = store.revoke_agent(agent, ChangeSource::Cli).await?;
            println!(
                "revoked every token of agent `{agent}` issued at or before {cut_off} ms since the epoch"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn grants(command: GrantsCommand) -> anyhow::Result<ExitCode> {
    use portcullis_store::grants::{GrantStore as _, SqliteGrants};
    let (config, user, revoke) = match command {
        GrantsCommand::List { config, user } => (config, user, false),
        GrantsCommand::Revoke { config, user } => (config, Some(user), true),
    };
    let loaded = load(&config)?;
    let store = SqliteGrants::open(&loaded.config.data_dir).await?;
    if !revoke {
        for grant in store.list(user.as_deref()).await? {
            println!(
                "{}",
                serde_json::json!({
                    "grant": grant.id,
                    "user": grant.user,
                    // The identity provider the user signed in at; null for built-in users.
                    "user_issuer": grant.user_issuer,
                    "client_id": grant.client_id,
                    "scope": grant.scope,
                    "resource": grant.resource,
                    "created_at": grant.created_at,
                    "revoked_at": grant.revoked_at,
                })
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let user = user.unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let revoked = store.revoke_user(&user, now).await?;
    let revocations = open_revocations(&loaded).await?;
    for jti in revoked.iter().filter_map(|g| g.access_jti.as_deref()) {
        revocations
            .revoke_token(jti, portcullis_identity::ChangeSource::Cli)
            .await?;
    }
    println!(
        "revoked {} grant(s) of user `{user}` and their access tokens",
        revoked.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn agent(command: AgentCommand) -> anyhow::Result<ExitCode> {
    let (config, agent, disabled) = match command {
        AgentCommand::Disable { config, agent } => (config, agent, true),
        AgentCommand::Enable { config, agent } => (config, agent, false),
    };
    let loaded = load(&config)?;
    let agent = configured_agent(&loaded, &agent)?;
    let store = open_revocations(&loaded).await?;
    let changed = store
        .set_disabled(agent, disabled, portcullis_identity::ChangeSource::Cli)
        .await?;
    let state = if disabled { "disabled" } else { "enabled" };
    if changed {
        println!("agent `{agent}` is now {state}");
    } else {
        println!("agent `{agent}` was already {state}");
    }
    Ok(ExitCode::SUCCESS)
}

fn keys(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Rotate { config } => {
            let loaded = load(&config)?;
            let key = portcullis_identity::rotate_keys_in(&loaded.config)?;
            println!("new signing key `{}` ({})", key.kid, key.alg);
        }
        KeysCommand::List { config } => {
            let loaded = load(&config)?;
            for key in portcullis_identity::list_keys_in(&loaded.config)? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { source } => {
            let path = audit_path(&source)?;
            let report = portcullis_audit::verify(&path).await?;
            match report.first_broken {
                None => {
                    println!(
                        "{}: ok: {} records, chain intact",
                        path.display(),
                        report.records
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(broken) => {
                    println!(
                        "{}: BROKEN at record {} (request {}): {}",
                        path.display(),
                        broken.seq,
                        broken.request_id,
                        broken.reason
                    );
                    Ok(ExitCode::from(EXIT_TAMPERED))
                }
            }
        }
        AuditCommand::Tail { source, lines } => {
            let path = audit_path(&source)?;
            for record in portcullis_audit::tail(&path, lines).await? {
                println!("{}", serde_json::to_string(&record)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn audit_path(source: &AuditSource) -> anyhow::Result<PathBuf> {
    let path = match (&source.config, &source.data_dir) {
        (Some(config), _) => Config::load(config)?.config.audit_path(),
        (None, Some(dir)) => dir.join("audit.db"),
        (None, None) => anyhow::bail!("give `--config FILE` or `--data-dir DIR`"),
    };
    anyhow::ensure!(
        Path::new(&path).is_file(),
        "no audit log at `{}`",
        path.display()
    );
    Ok(path)
}
