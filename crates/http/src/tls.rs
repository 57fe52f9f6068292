//! TLS on the listener: rustls, optional or required client certificates, and certificate
//! reloading without a restart.
//!
//! The server configuration lives behind a lock that each new connection reads once; a
//! background task checks the certificate, key and CA files every `reload_interval` and swaps in
//! a new configuration when they changed and load cleanly. Connections already open keep the
//! configuration they were accepted with. A reload that fails (a half-written file, a key that
//! does not match the certificate) is logged and leaves the previous configuration serving, so a
//! bad deployment cannot take the listener down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use portcullis_config::{ClientAuth, SecretRef, TlsConfig};
use portcullis_core::PeerCertificate;
use portcullis_secrets::SecretStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_util::sync::CancellationToken;

/// How long a client may take to complete the TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("listener.tls.{key}: {message}")]
    File {
        /// The config key naming the file.
        key: &'static str,
        /// What is wrong, without file contents.
        message: String,
    },
    /// rustls refused the combination (a key that does not match the certificate, say).
    #[error("listener.tls: {0}")]
    Rustls(String),
}

/// The certificate a client presented on its TLS connection, verified against `client_ca`.
///
/// Inserted into the extensions of every request on that connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The end-entity certificate, DER.
    pub der: Arc<CertificateDer<'static>>,
    /// What the gateway reads from it (thumbprint, subject, URI names); `None` when the
    /// certificate, although verified by rustls, cannot be parsed.
    pub peer: Option<Arc<PeerCertificate>>,
}

impl ClientCertificate {
    /// Wraps a verified end-entity certificate, reading its thumbprint and names once per
    /// connection.
    pub fn new(der: CertificateDer<'static>) -> Self {
        let peer = peer_certificate(&der).map(Arc::new);
        Self {
            der: Arc::new(der),
            peer,
        }
    }
}

/// The RFC 8705 thumbprint, the subject and the URI subject alternative names of a certificate.
fn peer_certificate(der: &[u8]) -> Option<PeerCertificate> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let uris = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::URI(uri) => Some((*uri).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(PeerCertificate {
        thumbprint: base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            digest.as_ref(),
        ),
        subject: certificate.subject().to_string(),
        uris,
    })
}

/// The listener's TLS state: the current server configuration and how to rebuild it.
#[derive(Clone)]
pub struct Tls {
    inner: Arc<TlsInner>,
}

struct TlsInner {
    config: TlsConfig,
    secrets: SecretStore,
    current: RwLock<Arc<ServerConfig>>,
    stamps: RwLock<Vec<Option<(SystemTime, u64)>>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.inner.config.cert)
            .field("client_auth", &self.inner.config.client_auth)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the certificate, key and client CAs; fails when any of them is unusable.
    pub fn load(config: &TlsConfig, secrets: &SecretStore) -> Result<Self, TlsError> {
        let server = build(config, secrets)?;
        Ok(Self {
            inner: Arc::new(TlsInner {
                config: config.clone(),
                secrets: secrets.clone(),
                current: RwLock::new(server),
                stamps: RwLock::new(stamps(config)),
            }),
        })
    }

    /// The configuration new connections are accepted with.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        match self.inner.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads when a file changed since the last load. Returns whether a new configuration
    /// was installed.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.inner.config);
        let changed = match self.inner.stamps.read() {
            Ok(previous) => *previous != now,
            Err(_) => true,
        };
        if !changed {
            return false;
        }
        match build(&self.inner.config, &self.inner.secrets) {
            Ok(server) => {
                if let Ok(mut current) = self.inner.current.write() {
                    *current = server;
                }
                if let Ok(mut stamps) = self.inner.stamps.write() {
                    *stamps = now;
                }
                tracing::info!("reloaded the listener's TLS certificate and keys");
                true
            }
            Err(error) => {
                // The stamps stay as they were, so the next tick tries again.
                tracing::error!(%error, "cannot reload TLS files; the previous ones stay in use");
                false
            }
        }
    }

    /// Checks the files every `reload_interval` until `stop` is cancelled.
    pub(crate) fn spawn_reloader(&self, stop: CancellationToken) {
        let tls = self.clone();
        let every = tls.inner.config.reload_interval.get();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        let tls = tls.clone();
                        // File reads and key parsing are blocking work.
                        let _ = tokio::task::spawn_blocking(move || tls.reload_if_changed()).await;
                    }
                    () = stop.cancelled() => break,
                }
            }
        });
    }
}

/// Modification time and length of each watched file (`None` when it cannot be read).
fn stamps(config: &TlsConfig) -> Vec<Option<(SystemTime, u64)>> {
    let mut files: Vec<&Path> = vec![&config.cert];
    if let SecretRef::File(key) = &config.key {
        files.push(key);
    }
    if let Some(ca) = &config.client_ca {
        files.push(ca);
    }
    files
        .into_iter()
        .map(|file| {
            let meta = std::fs::metadata(file).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

fn build(config: &TlsConfig, secrets: &SecretStore) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certs(&config.cert, "cert")?;
    let key = secrets
        .resolve(&config.key)
        .map_err(|error| TlsError::File {
            key: "key",
            message: error.to_string(),
        })?
        .with_exposed(PrivateKeyDer::from_pem_slice)
        .map_err(|_| TlsError::File {
            key: "key",
            message: "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".into(),
        })?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Rustls(error.to_string()))?;
    let builder = match (&config.client_ca, config.client_auth) {
        (_, ClientAuth::None) | (None, _) => builder.with_no_client_auth(),
        (Some(ca), auth) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca, "client_ca")? {
                roots.add(cert).map_err(|error| TlsError::File {
                    key: "client_ca",
                    message: format!("holds a certificate rustls cannot use: {error}"),
                })?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = if auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|error| TlsError::Rustls(error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|error| TlsError::Rustls(error.to_string()))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

fn read_certs(path: &PathBuf, key: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|error| TlsError::File {
            key,
            message: format!("cannot read {}: {error}", path.display()),
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::File {
            key,
            message: format!("{} is not valid PEM: {error}", path.display()),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            key,
            message: format!("{} holds no certificate", path.display()),
        });
    }
    Ok(certs)
}
