//! `<data dir>/gateway.json`: what the gateway that last started on a data folder announces
//! (its configuration file, public URL, token issuer and audience). `portcullis token` reads
//! it, so that a token minted for a running gateway (the demo included) names the issuer that
//! gateway accepts, and a mismatch is named instead of producing a token that is refused.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use portcullis_config::{Config, Loaded};
use serde::{Deserialize, Serialize};

const FILE: &str = "gateway.json";

/// The record a starting gateway writes into its data folder.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct GatewayRecord {
    /// The configuration file it loaded (absolute).
    pub(crate) config: PathBuf,
    /// Its public base URL (after `--listen` overrides).
    pub(crate) public_url: String,
    /// The `iss` of the tokens it issues and accepts.
    pub(crate) issuer: String,
    /// The `aud` it requires.
    pub(crate) audience: String,
}

/// Writes the record of a gateway about to serve `loaded`, replacing an older one.
pub(crate) fn record(loaded: &Loaded) -> anyhow::Result<()> {
    let config = std::path::absolute(&loaded.path).unwrap_or_else(|_| loaded.path.clone());
    let record = GatewayRecord {
        config,
        public_url: loaded.config.listener.base_url(),
        issuer: loaded.config.issuer_url(),
        audience: loaded.config.audience(),
    };
    let path = loaded.config.data_dir.join(FILE);
    let text = serde_json::to_string_pretty(&record)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("cannot write `{}`", path.display()))
}

/// The record in `data_dir`, if a gateway started there; an unreadable record is an error.
pub(crate) fn read(data_dir: &Path) -> anyhow::Result<Option<GatewayRecord>> {
    let path = data_dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot read `{}`", path.display()));
        }
    };
    let record = serde_json::from_str(&text).with_context(|| {
        format!(
            "`{}` is not a gateway record; delete it and restart the gateway",
            path.display()
        )
    })?;
    Ok(Some(record))
}

/// The configuration of the gateway that last started on `data_dir` (its record names the
/// file), with `data_dir` as its data folder, and that record; an error naming the folder when
/// no gateway started there.
pub(crate) fn started_on(data_dir: PathBuf) -> anyhow::Result<(Loaded, GatewayRecord)> {
    let record = read(&data_dir)?.with_context(|| {
        format!(
            "no gateway has started on `{}` (it has no gateway.json): give `--config`, \
             or the `--data-dir` of a running `portcullis demo` or `serve`",
            data_dir.display()
        )
    })?;
    let mut loaded = Config::load(&record.config).with_context(|| {
        format!(
            "the gateway on `{}` started with `{}`",
            data_dir.display(),
            record.config.display()
        )
    })?;
    loaded.config.data_dir = data_dir;
    Ok((loaded, record))
}
