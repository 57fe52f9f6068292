//! The `listener` section: the agents' socket, the public URL, the `Host` and `Origin` values
//! answered, the body limit, and TLS (`listener.tls`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connections::RawConnectionLimits;
use crate::{
    ConfigError, ConnectionLimits, Context, HttpUrl, HumanDuration, NonZeroDuration, Problem,
    SecretRef,
};

/// The listener section, checked: the public URL is an http(s) URL, the TLS files exist (when
/// loaded from a file).
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// The socket address to bind.
    pub address: SocketAddr,
    /// The URL agents use to reach the gateway; `http(s)://<address>` when unset.
    pub public_url: Option<HttpUrl>,
    /// `Host` values the MCP endpoint accepts; empty: the defaults of
    /// [`Self::effective_allowed_hosts`].
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the MCP endpoint.
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// TLS on the listener; plain HTTP without it.
    pub tls: Option<TlsConfig>,
    /// Connection timeouts and caps.
    pub connections: ConnectionLimits,
}

/// TLS on the listener, checked: the files exist (when loaded from a file) and their paths are
/// resolved.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// The server certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The server private key, as a secret reference.
    pub key: SecretRef,
    /// The CAs client certificates are verified against; set whenever `client_auth` is not
    /// `none`.
    pub client_ca: Option<PathBuf>,
    /// Whether clients must present a certificate.
    pub client_auth: ClientAuth,
    /// How often the files are checked for changes.
    pub reload_interval: NonZeroDuration,
}

/// Whether the listener asks TLS clients for a certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// Client certificates are not requested.
    #[default]
    None,
    /// Requested, and verified against `client_ca` when presented.
    Optional,
    /// Required: a client without a certificate from `client_ca` cannot connect.
    Required,
}

impl ListenerConfig {
    /// The public base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if self.tls.is_some() => format!("https://{}", self.address),
            None => format!("http://{}", self.address),
        }
    }

    /// The `Host` values accepted: the configured list, or the defaults described on the field.
    pub fn effective_allowed_hosts(&self) -> Vec<String> {
        if !self.allowed_hosts.is_empty() {
            return self.allowed_hosts.clone();
        }
        let port = self.address.port();
        let mut hosts = vec![
            self.address.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ];
        if let Some(url) = &self.public_url
            && let Some(host) = url.url().host_str()
        {
            hosts.push(match url.url().port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            });
        }
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// The browser origins accepted on the MCP endpoint: the configured list, or by default the
    /// gateway's own origins: its public URL's, and the loopback ones of its port
    /// (`http://localhost:<port>`, `http://127.0.0.1:<port>`, `http://[::1]:<port>`, `https`
    /// under TLS), which a page served by the gateway itself or a local client sends. Any other
    /// origin is refused unless listed.
    pub fn effective_allowed_origins(&self) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.clone();
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let port = self.address.port();
        let mut origins = vec![
            format!("{scheme}://localhost:{port}"),
            format!("{scheme}://127.0.0.1:{port}"),
            format!("{scheme}://[::1]:{port}"),
        ];
        if let Some(url) = &self.public_url {
            let url = url.url();
            if let Some(host) = url.host_str() {
                origins.push(match url.port() {
                    Some(port) => format!("{}://{host}:{port}", url.scheme()),
                    None => format!("{}://{host}", url.scheme()),
                });
            }
        }
        origins.sort();
        origins.dedup();
        origins
    }

    /// Whether the listener asks clients for certificates (TLS with `client_auth` set).
    pub(crate) fn asks_client_certificates(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|tls| tls.client_auth != ClientAuth::None)
    }
}

/// The listener section.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(default, deny_unknown_fields)]
#[schemars(rename = "ListenerConfig")]
pub(crate) struct RawListener {
    /// Socket address to bind, e.g. `127.0.0.1:8080`.
    #[schemars(with = "String")]
    address: SocketAddr,
    /// The URL agents use to reach the gateway. Defaults to `http://<address>`. It is the token
    /// issuer and audience unless the issuer section says otherwise.
    public_url: Option<String>,
    /// `Host` header values the MCP endpoint accepts (DNS rebinding defence). Defaults to the
    /// listen address, `localhost:<port>` and the public URL's authority.
    allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the MCP endpoint; by default the gateway's own (its
    /// public URL's, and `localhost`, `127.0.0.1` and `[::1]` on its port). Requests carrying
    /// any other `Origin` header are refused with 403; requests without one (non-browser
    /// clients) are accepted.
    allowed_origins: Vec<String>,
    /// Largest accepted request body in bytes.
    max_body_bytes: usize,
    /// TLS on the listener (rustls). Without it the listener speaks plain HTTP, which suits
    /// loopback and a TLS-terminating proxy in front, nothing else.
    tls: Option<RawTls>,
    /// Timeouts and caps of the listener's connections, against idle, slow and numerous
    /// connections.
    connections: RawConnectionLimits,
}

/// TLS on the listener, optionally asking clients for certificates.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TlsConfig")]
struct RawTls {
    /// The server certificate chain, PEM, leaf first.
    #[schemars(with = "String")]
    cert: PathBuf,
    /// The server private key (PEM: PKCS#8, PKCS#1 or SEC1), as a secret reference:
    /// `file:PATH` or `env:NAME` holding the PEM text.
    key: SecretRef,
    /// PEM bundle of the certificate authorities whose client certificates are accepted.
    /// Required when `client_auth` is `optional` or `required`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    client_ca: Option<PathBuf>,
    /// Whether clients must present a certificate: `none` (never asked), `optional` (verified
    /// against `client_ca` when presented) or `required` (the handshake fails without one).
    #[serde(default)]
    client_auth: ClientAuth,
    /// How often the certificate, key and CA files are checked for changes; a change applies
    /// to new connections without a restart. A file that fails to load keeps the previous
    /// configuration in place (and is logged).
    #[serde(default = "default_tls_reload")]
    reload_interval: HumanDuration,
}

fn default_tls_reload() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

impl Default for RawListener {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            tls: None,
            connections: RawConnectionLimits::default(),
        }
    }
}

impl RawListener {
    /// Checks the section; resolves the TLS files.
    pub(crate) fn parse(self, cx: &Context<'_>) -> Result<ListenerConfig, ConfigError> {
        let public_url = self
            .public_url
            .map(|url| HttpUrl::parse(&url).map_err(|e| cx.invalid("listener.public_url", e)))
            .transpose()?;
        let tls = self.tls.map(|tls| tls.parse(cx)).transpose()?;
        Ok(ListenerConfig {
            address: self.address,
            public_url,
            allowed_hosts: self.allowed_hosts,
            allowed_origins: self.allowed_origins,
            max_body_bytes: self.max_body_bytes,
            tls,
            connections: self.connections.parse("listener.connections", cx)?,
        })
    }
}

impl RawTls {
    fn parse(self, cx: &Context<'_>) -> Result<TlsConfig, ConfigError> {
        let cert = cx.existing("listener.tls.cert", self.cert, Path::is_file)?;
        let key = cx.secret(self.key);
        let client_ca = self
            .client_ca
            .map(|ca| cx.existing("listener.tls.client_ca", ca, Path::is_file))
            .transpose()?;
        if self.client_auth != ClientAuth::None && client_ca.is_none() {
            return Err(cx.invalid("listener.tls.client_ca", Problem::ClientCaMissing));
        }
        Ok(TlsConfig {
            cert,
            key,
            client_ca,
            client_auth: self.client_auth,
            reload_interval: cx.non_zero("listener.tls.reload_interval", self.reload_interval)?,
        })
    }
}
