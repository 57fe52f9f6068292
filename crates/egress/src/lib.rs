//! Egress: the only place Portcullis opens outbound connections. It turns an authorized tool
//! call into the upstream HTTP request, injects the API's credential, sends it through an
//! SSRF-safe client and reads the answer with a size cap.
//!
//! # Design: the SSRF guard
//!
//! The threat is a call (or an upstream's redirect) that makes the gateway connect somewhere
//! inside: loopback, the cloud metadata address, a private network. The guard rests on four
//! rules, each closing a known bypass:
//!
//! 1. **One parser.** Every URL (the request built from the template, every redirect
//!    location) is parsed by the `url` crate, a WHATWG parser. It normalizes the exotic IPv4
//!    spellings (`2130706433`, `0177.0.0.1`, `0x7f.0.0.1`, `127.1`) and IPv6 literals to one
//!    address, so the address checked is the address dialled.
//! 2. **Check every address against the special-purpose registries** ([`classify`]). IP
//!    literals are checked as written; names are resolved through the [`Resolver`] and one
//!    refused address refuses the name. IPv4-mapped and NAT64 addresses are judged by the
//!    IPv4 address inside. A per-API `allow_private` CIDR list is the only exception.
//! 3. **Dial only checked addresses.** The HTTP client's DNS hook resolves through the same
//!    [`Resolver`] at connect time and applies the same check before handing addresses to the
//!    connector. A name that answers with a public address for the check and a private one for
//!    the connection (DNS rebinding) is therefore refused either way. The client never uses a
//!    proxy (proxy environment variables are ignored: a proxy would resolve names itself).
//! 4. **No implicit redirects.** The client follows none. The send loop follows at most
//!    `max_redirects` (0 by default: a 3xx is the answer), and each hop is parsed and checked
//!    exactly like the first. The credential is injected only into hops with the base URL's
//!    origin.
//!
//! The HTTP client skips its DNS hook for IP-literal hosts, which is why rule 2 checks literals
//! itself before every hop, and why the literal check is not optional.
//!
//! Sending requires a [`Permitted`] call, which only the policy crate can mint, so no code path
//! reaches an upstream without passing authorization; and the request is built from the tool
//! and the arguments inside it, so what is sent is exactly what was authorized. A call that did
//! not go through authorization does not compile:
//!
//! ```compile_fail
//! # async fn send(egress: &portcullis_egress::Egress, call: portcullis_policy::Call) {
//! // `Egress::send` takes a `Permitted<Call>`, not a `Call` ...
//! let _ = egress.send(&call).await;
//! # }
//! ```
//!
//! ```compile_fail
//! # async fn send(egress: &portcullis_egress::Egress, call: portcullis_policy::Call) {
//! // ... and only the policy crate can make one: its fields are private.
//! let permitted = portcullis_policy::Permitted {
//!     inner: call,
//!     policies: Vec::new(),
//!     policy_version: std::sync::Arc::from("forged"),
//! };
//! let _ = egress.send(&permitted).await;
//! # }
//! ```
//!
//! Clients are built once per API at start-up and pool their connections.

pub mod classify;
mod request;
mod resolve;
mod upstream;
mod webhook;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use portcullis_config::{ApiConfig, IdentityProviderConfig};
use portcullis_core::{Denial, UpstreamResponse};
use portcullis_policy::{Call, Permitted};
use portcullis_secrets::{Secret, SecretError, SecretStore};

pub use crate::classify::{Blocked, check_address};
pub use crate::resolve::{Resolver, StaticResolver, SystemResolver};
use crate::upstream::Upstream;
pub use crate::webhook::WebhookClient;

/// The outbound side of the gateway: one HTTP client per upstream API.
pub struct Egress {
    upstreams: HashMap<String, Upstream>,
}

impl fmt::Debug for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut apis: Vec<&str> = self.upstreams.keys().map(String::as_str).collect();
        apis.sort_unstable();
        f.debug_struct("Egress").field("apis", &apis).finish()
    }
}

impl Egress {
    /// One client per API, built from config; reads credentials through the [`SecretStore`]
    /// now, so a missing secret fails at start-up rather than on the first call.
    pub fn new(
        apis: &[ApiConfig],
        secrets: &SecretStore,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, EgressError> {
        let mut upstreams = HashMap::with_capacity(apis.len());
        for api in apis {
            if upstreams.contains_key(api.name.as_str()) {
                return Err(EgressError::DuplicateApi(api.name.to_string()));
            }
            let upstream = Upstream::new(api, secrets, Arc::clone(&resolver))?;
            upstreams.insert(api.name.to_string(), upstream);
        }
        Ok(Self { upstreams })
    }

    /// Same as [`Egress::new`] with the system DNS configuration ([`SystemResolver`]).
    pub fn with_system_resolver(
        apis: &[ApiConfig],
        secrets: &SecretStore,
    ) -> Result<Self, EgressError> {
        Self::new(apis, secrets, Arc::new(SystemResolver::new()?))
    }

    /// Stage 10, egress: sends the authorized call to its tool's API and returns the answer,
    /// whatever its status.
    ///
    /// Arguments the tool's request cannot carry are refused with
    /// `invalid_arguments`, a refused destination with `egress_blocked`, and an upstream that
    /// cannot be reached, is too slow or answers too much with `upstream_failure`
    /// ([`portcullis_core::DenialKind`]).
    pub async fn send(&self, call: &Permitted<Call>) -> Result<UpstreamResponse, Denial> {
        let (tool, args) = (call.tool(), call.args());
        let Some(upstream) = self.upstreams.get(&tool.api) else {
            return Err(request::internal(format!(
                "egress: tool `{}` belongs to API `{}`, which is not configured",
                tool.name, tool.api
            )));
        };
        let prepared = request::prepare(upstream.base(), tool, args)?;
        upstream.send(prepared).await
    }
}

/// The client that fetches trusted identity providers' discovery documents and key sets, with
/// the same SSRF rules as every upstream call: one client per provider, built from its
/// `egress` section (`allow_private`, timeouts, size cap), no redirects followed.
pub struct MetadataClient {
    issuers: HashMap<String, Upstream>,
}

impl fmt::Debug for MetadataClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataClient")
            .field("issuers", &self.issuers.len())
            .finish()
    }
}

impl MetadataClient {
    /// One client per configured identity provider.
    pub fn new(
        providers: &[IdentityProviderConfig],
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, EgressError> {
        // No credential is ever injected into identity-provider requests.
        let secrets = SecretStore::new(Arc::new(portcullis_secrets::OverlayEnv::new()));
        let mut issuers = HashMap::with_capacity(providers.len());
        for provider in providers {
            let upstream = Upstream::build(
                &format!("identity provider {}", provider.issuer),
                &provider.issuer,
                None,
                &portcullis_config::EgressConfig {
                    max_redirects: 0,
                    ..provider.egress.clone()
                },
                &secrets,
                Arc::clone(&resolver),
            )?;
            issuers.insert(provider.issuer.to_string(), upstream);
        }
        Ok(Self { issuers })
    }

    /// Adds a client under the name `purpose` for client metadata documents of interactive
    /// sign-in: any HTTPS host `egress` lets through (by default public addresses only), no
    /// redirects followed, its timeouts and size cap.
    pub fn add_client_documents(
        &mut self,
        purpose: &str,
        egress: &portcullis_config::EgressConfig,
        resolver: Arc<dyn Resolver>,
    ) -> Result<(), EgressError> {
        let secrets = SecretStore::new(Arc::new(portcullis_secrets::OverlayEnv::new()));
        let upstream = Upstream::build(
            "client metadata documents",
            "https://client-metadata.invalid/",
            None,
            &portcullis_config::EgressConfig {
                max_redirects: 0,
                ..egress.clone()
            },
            &secrets,
            resolver,
        )?;
        self.issuers.insert(purpose.to_owned(), upstream);
        Ok(())
    }

    /// GETs `url` with the rules of `issuer`'s client and returns its JSON body. Anything but a
    /// 200 answer with a JSON body is an error, whose text names no secret.
    pub async fn get_json(
        &self,
        issuer: &str,
        url: &str,
    ) -> Result<serde_json::Value, MetadataError> {
        let (status, body) = self
            .exchange(issuer, url, http::Method::GET, None, None)
            .await?;
        if status != 200 {
            return Err(MetadataError::Status {
                url: url.to_owned(),
                status,
            });
        }
        body.ok_or_else(|| MetadataError::NotJson {
            url: url.to_owned(),
        })
    }

    /// POSTs `form` (`application/x-www-form-urlencoded`) to `url` with the rules of `issuer`'s
    /// client: an identity provider's token endpoint. `basic` is the client id and secret for
    /// HTTP Basic authentication (RFC 6749 section 2.3.1: each form-encoded first); the secret
    /// is exposed only into the header, which is marked sensitive. Returns the status and the
    /// JSON body (an OAuth error answer is JSON too); a body that is not JSON is an error.
    pub async fn post_form(
        &self,
        issuer: &str,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &Secret)>,
    ) -> Result<(u16, serde_json::Value), MetadataError> {
        let body = {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in form {
                body.append_pair(name, value);
            }
            body.finish()
        };
        let authorization = match basic {
            None => None,
            Some((client_id, secret)) => {
                let encode = |bytes: &[u8]| -> String {
                    url::form_urlencoded::byte_serialize(bytes).collect()
                };
                let pair = secret.with_exposed(|bytes| {
                    zeroize::Zeroizing::new(format!(
                        "{}:{}",
                        encode(client_id.as_bytes()),
                        encode(bytes)
                    ))
                });
                let value = zeroize::Zeroizing::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
                ));
                let mut header =
                    http::HeaderValue::from_str(&value).map_err(|_| MetadataError::Send {
                        reason: "the client secret cannot be sent in a header".to_owned(),
                    })?;
                header.set_sensitive(true);
                Some(header)
            }
        };
        let (status, json) = self
            .exchange(
                issuer,
                url,
                http::Method::POST,
                Some(Bytes::from(body)),
                authorization,
            )
            .await?;
        let json = json.ok_or_else(|| MetadataError::NotJson {
            url: url.to_owned(),
        })?;
        Ok((status, json))
    }

    /// Sends one request with the rules of `issuer`'s client; the status and the body parsed
    /// as JSON (`None` when it is not JSON).
    async fn exchange(
        &self,
        issuer: &str,
        url: &str,
        method: http::Method,
        form: Option<Bytes>,
        authorization: Option<http::HeaderValue>,
    ) -> Result<(u16, Option<serde_json::Value>), MetadataError> {
        let Some(upstream) = self.issuers.get(issuer) else {
            return Err(MetadataError::UnknownIssuer);
        };
        let parsed = url::Url::parse(url).map_err(|e| MetadataError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https")
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(MetadataError::Scheme {
                url: url.to_owned(),
            });
        }
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        if form.is_some() {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        if let Some(value) = authorization {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let prepared = request::Prepared {
            method,
            url: parsed,
            headers,
            body: form,
        };
        let response = upstream
            .send(prepared)
            .await
            .map_err(|denial| MetadataError::sent(&denial))?;
        let body = match response.body {
            serde_json::Value::String(text) => serde_json::from_str(&text).ok(),
            value => Some(value),
        };
        Ok((response.status, body))
    }
}

/// Why [`MetadataClient::get_json`] returned no document. Messages name no secret.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The answer's body is not JSON.
    #[error("`{url}` did not answer JSON")]
    NotJson {
        /// The URL fetched.
        url: String,
    },
    /// The URL is not plain http(s): another scheme, or user information in it.
    #[error("`{url}` is not a plain http(s) URL")]
    Scheme {
        /// The URL.
        url: String,
    },
    /// The request was refused or failed: a refused destination, an unreachable or slow
    /// server, an answer over the size cap.
    #[error("{reason}")]
    Send {
        /// Why, as egress reports it.
        reason: String,
    },
    /// The answer's status is not 200.
    #[error("`{url}` answered HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// No client was built for this issuer: it is not a configured identity provider.
    #[error("no client for this issuer")]
    UnknownIssuer,
    /// The text is not a URL.
    #[error("`{url}` is not a URL: {reason}")]
    Url {
        /// The text.
        url: String,
        /// What the parser said.
        reason: String,
    },
}

impl MetadataError {
    /// A refused or failed send, as egress reported it (its message and audit details).
    pub(crate) fn sent(denial: &Denial) -> Self {
        let mut reason = denial.message.clone();
        for detail in &denial.internal {
            reason.push_str("; ");
            reason.push_str(detail);
        }
        Self::Send { reason }
    }
}

/// Why egress could not be set up. Messages name the API, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The base URL is not an http(s) URL with a host and without user information.
    #[error("API `{api}`: the base URL is not usable: {reason}")]
    BaseUrl {
        /// The API.
        api: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("API `{api}`: cannot build the HTTP client: {reason}")]
    Client {
        /// The API.
        api: String,
        /// The client's error.
        reason: String,
    },
    /// The credential could not be read.
    #[error("API `{api}`: {source}")]
    Credential {
        /// The API.
        api: String,
        /// The secret store's error; it names the reference, never the value.
        source: SecretError,
    },
    /// Two APIs share a name.
    #[error("API `{0}` is declared twice")]
    DuplicateApi(String),
    /// The system resolver configuration could not be read.
    #[error("cannot set up the system DNS resolver: {0}")]
    Resolver(String),
}
