//! One upstream API: its client, credential and egress rules, and the send loop that checks
//! every hop before dialling it.

use std::error::Error as StdError;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::{CONTENT_TYPE, LOCATION};
use ipnet::IpNet;
use portcullis_config::{ApiConfig, CredentialConfig, EgressConfig, HumanDuration};
use portcullis_core::{Denial, DenialKind, UpstreamResponse, media_type_is_json};
use portcullis_secrets::{Injector, SecretStore};
use serde_json::Value;
use url::{Host, Url};

use crate::EgressError;
use crate::classify::{Blocked, check_address};
use crate::request::Prepared;
use crate::resolve::{GuardedResolve, LookupFailure, Resolver, resolve_checked};

/// The fixed User-Agent of every upstream request.
const USER_AGENT: &str = concat!("portcullis/", env!("CARGO_PKG_VERSION"));

/// The agent-facing text of every destination refusal. It names nothing: which address or
/// range was refused is for the audit log only.
const BLOCKED_MESSAGE: &str = "the destination of this call is not allowed";

pub(crate) struct Upstream {
    name: String,
    base: Url,
    client: reqwest::Client,
    injector: Option<Injector>,
    resolver: Arc<dyn Resolver>,
    allow_private: Arc<[IpNet]>,
    connect_timeout: Duration,
    timeout: Duration,
    max_redirects: u8,
    max_response_bytes: usize,
}

impl Upstream {
    /// The client of a configured API.
    pub(crate) fn new(
        api: &ApiConfig,
        secrets: &SecretStore,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, EgressError> {
        Self::build(
            &api.name,
            &api.base_url,
            api.credential.as_ref(),
            &api.egress,
            secrets,
            resolver,
        )
    }

    /// A client named `name` (in errors and logs) for `base_url` under the `egress` rules,
    /// injecting `credential` when given.
    pub(crate) fn build(
        name: &str,
        base_url: &str,
        credential: Option<&CredentialConfig>,
        egress: &EgressConfig,
        secrets: &SecretStore,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, EgressError> {
        let bad_base = |reason: &str| EgressError::BaseUrl {
            api: name.to_owned(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(base_url).map_err(|e| bad_base(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad_base("the scheme must be http or https"));
        }
        if base.host().is_none() {
            return Err(bad_base("it has no host"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad_base("it must not carry user information"));
        }
        base.set_fragment(None);

        let injector = credential
            .map(|credential| secrets.injector(credential))
            .transpose()
            .map_err(|source| EgressError::Credential {
                api: name.to_owned(),
                source,
            })?;

        let literal = match base.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && let Err(blocked) = check_address(ip, &egress.allow_private)
        {
            tracing::warn!(
                api = %name,
                %blocked,
                "every call to this API will be refused until `egress.allow_private` lists its address"
            );
        }
        let allow_private: Arc<[IpNet]> = egress.allow_private.clone().into();
        let mut roots = Vec::new();
        for path in &egress.ca_certificates {
            let pem = std::fs::read(path).map_err(|e| EgressError::Client {
                api: name.to_owned(),
                reason: format!("cannot read the CA file `{}`: {e}", path.display()),
            })?;
            let certificates =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| EgressError::Client {
                    api: name.to_owned(),
                    reason: format!("the CA file `{}` is not PEM: {e}", path.display()),
                })?;
            if certificates.is_empty() {
                return Err(EgressError::Client {
                    api: name.to_owned(),
                    reason: format!("the CA file `{}` holds no certificate", path.display()),
                });
            }
            roots.extend(certificates);
        }
        let client = reqwest::Client::builder()
            .tls_certs_merge(roots)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(egress.connect_timeout.0)
            .timeout(egress.timeout.0)
            .user_agent(USER_AGENT)
            .dns_resolver(Arc::new(GuardedResolve {
                resolver: Arc::clone(&resolver),
                allow_private: Arc::clone(&allow_private),
            }))
            .build()
            .map_err(|e| EgressError::Client {
                api: name.to_owned(),
                reason: e.to_string(),
            })?;

        Ok(Self {
            name: name.to_owned(),
            base,
            client,
            injector,
            resolver,
            allow_private,
            connect_timeout: egress.connect_timeout.0,
            timeout: egress.timeout.0,
            max_redirects: egress.max_redirects,
            max_response_bytes: egress.max_response_bytes,
        })
    }

    /// The base URL, without fragment.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// Sends the request, following redirects as configured, within the total timeout.
    pub(crate) async fn send(&self, request: Prepared) -> Result<UpstreamResponse, Denial> {
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(self.failure(
                format!(
                    "upstream `{}` did not answer within {}",
                    self.name,
                    HumanDuration(self.timeout)
                ),
                "total deadline reached".to_owned(),
            )),
        }
    }

    async fn exchange(&self, mut request: Prepared) -> Result<UpstreamResponse, Denial> {
        let mut hop: u8 = 0;
        loop {
            self.check_destination(&request.url, hop).await?;
            tracing::debug!(
                api = %self.name,
                method = %request.method,
                host = request.url.host_str().unwrap_or(""),
                path = request.url.path(),
                hop,
                "sending upstream request"
            );
            let response = self.dispatch(&request).await?;
            match self.next_hop(&request, &response, hop)? {
                Some(next) => {
                    request = next;
                    hop += 1;
                }
                None => return self.read(response).await,
            }
        }
    }

    /// Refuses a destination whose address is special-purpose and not allowlisted. IP
    /// literals are checked as written (the URL parser has already normalized decimal, octal,
    /// hex and short IPv4 forms); names are resolved and every address is checked.
    async fn check_destination(&self, url: &Url, hop: u8) -> Result<(), Denial> {
        let result = match url.host() {
            Some(Host::Ipv4(ip)) => {
                check_address(ip.into(), &self.allow_private).map_err(LookupFailure::Blocked)
            }
            Some(Host::Ipv6(ip)) => {
                check_address(ip.into(), &self.allow_private).map_err(LookupFailure::Blocked)
            }
            Some(Host::Domain(name)) => {
                resolve_checked(self.resolver.as_ref(), name, &self.allow_private)
                    .await
                    .map(drop)
            }
            None => {
                return Err(
                    self.blocked_detail(format!("{}: the URL has no host", self.hop_label(hop)))
                );
            }
        };
        let host = url.host_str().unwrap_or("");
        match result {
            Ok(()) => Ok(()),
            Err(LookupFailure::Blocked(blocked)) => Err(self.blocked(&blocked, host, hop)),
            Err(LookupFailure::Lookup(err)) => Err(self.failure(
                format!("upstream `{}` could not be resolved", self.name),
                format!("{}: host `{host}`: {err}", self.hop_label(hop)),
            )),
        }
    }

    async fn dispatch(&self, request: &Prepared) -> Result<reqwest::Response, Denial> {
        let mut url = request.url.clone();
        let mut headers = request.headers.clone();
        // The credential goes only to the API's own origin, never to a redirect elsewhere.
        if let Some(injector) = &self.injector
            && self.same_origin(&url)
        {
            injector.inject(&mut headers, &mut url);
        }
        let mut outbound = reqwest::Request::new(request.method.clone(), url);
        *outbound.headers_mut() = headers;
        if let Some(body) = &request.body {
            *outbound.body_mut() = Some(body.clone().into());
        }
        self.client
            .execute(outbound)
            .await
            .map_err(|err| self.transport_failure(err))
    }

    /// The request for the next hop when `response` is a redirect to follow.
    fn next_hop(
        &self,
        request: &Prepared,
        response: &reqwest::Response,
        hop: u8,
    ) -> Result<Option<Prepared>, Denial> {
        let status = response.status().as_u16();
        if !matches!(status, 301 | 302 | 303 | 307 | 308) || hop >= self.max_redirects {
            return Ok(None);
        }
        // A redirect without a location is answered as it is.
        let Some(location) = response.headers().get(LOCATION) else {
            return Ok(None);
        };
        let unreadable = |detail: String| {
            self.failure(
                format!(
                    "upstream `{}` sent a redirect that cannot be followed",
                    self.name
                ),
                detail,
            )
        };
        let location = location
            .to_str()
            .map_err(|_| unreadable("the Location header is not visible ASCII".to_owned()))?;
        let mut url = request
            .url
            .join(location)
            .map_err(|e| unreadable(format!("the Location header is not a URL: {e}")))?;
        let next_hop = hop + 1;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.blocked_detail(format!(
                "{}: scheme `{}` is not http or https",
                self.hop_label(next_hop),
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.blocked_detail(format!(
                "{}: the location carries user information",
                self.hop_label(next_hop)
            )));
        }
        url.set_fragment(None);

        // Browsers' rules: 303 becomes GET (HEAD stays), 301/302 turn POST into GET; 307/308
        // repeat the request as it was.
        let becomes_get = match status {
            303 => request.method != Method::HEAD,
            301 | 302 => request.method == Method::POST,
            _ => false,
        };
        let mut headers = request.headers.clone();
        let (method, body) = if becomes_get {
            headers.remove(CONTENT_TYPE);
            (Method::GET, None)
        } else {
            (request.method.clone(), request.body.clone())
        };
        Ok(Some(Prepared {
            method,
            url,
            headers,
            body,
        }))
    }

    /// Reads the answer with the size cap applied while streaming.
    async fn read(&self, mut response: reqwest::Response) -> Result<UpstreamResponse, Denial> {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let cap = self.max_response_bytes;
        let declared = response.content_length();
        if let Some(length) = declared
            && length > u64::try_from(cap).unwrap_or(u64::MAX)
        {
            return Err(self.too_large(format!("declared length {length}")));
        }
        let initial = declared
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(0)
            .min(cap);
        let mut body = Vec::with_capacity(initial);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| self.transport_failure(err))?
        {
            if chunk.len() > cap - body.len() {
                return Err(
                    self.too_large(format!("more than {cap} bytes received while streaming"))
                );
            }
            body.extend_from_slice(&chunk);
        }

        let is_json = content_type.as_deref().is_some_and(media_type_is_json);
        let value = if is_json {
            match serde_json::from_slice(&body) {
                Ok(value) => value,
                Err(_) => Value::String(into_text(body)),
            }
        } else {
            Value::String(into_text(body))
        };
        let mut response = UpstreamResponse {
            status,
            body: value,
            content_type,
            notices: Vec::new(),
        };
        // The reflection guard: a credential this gateway injected never leaves in an answer,
        // whatever the DLP settings (an API that echoes its request headers, a debug page).
        if let Some(injector) = &self.injector {
            let reflected = redact_reflections(injector, &mut response.body);
            if reflected > 0 {
                tracing::warn!(api = %self.name, reflected, "upstream answer echoed the injected credential");
                response.notices.push(format!(
                    "reflection guard: upstream credential x{reflected} redacted"
                ));
            }
        }
        Ok(response)
    }

    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    fn hop_label(&self, hop: u8) -> String {
        if hop == 0 {
            format!("api `{}`", self.name)
        } else {
            format!("api `{}` redirect hop {hop}", self.name)
        }
    }

    fn blocked(&self, blocked: &Blocked, host: &str, hop: u8) -> Denial {
        self.blocked_detail(format!("{}: host `{host}`: {blocked}", self.hop_label(hop)))
    }

    fn blocked_detail(&self, detail: String) -> Denial {
        tracing::warn!(api = %self.name, %detail, "egress destination refused");
        Denial::new(DenialKind::EgressBlocked, BLOCKED_MESSAGE).with_internal(detail)
    }

    fn failure(&self, message: String, detail: String) -> Denial {
        Denial::new(DenialKind::UpstreamFailure, message).with_internal(detail)
    }

    fn too_large(&self, detail: String) -> Denial {
        self.failure(
            format!("upstream answer exceeds {} bytes", self.max_response_bytes),
            format!("api `{}`: {detail}", self.name),
        )
    }

    /// Maps a client error to a denial. The URL is stripped first: it may carry a query
    /// credential, and no message or detail may contain one.
    fn transport_failure(&self, err: reqwest::Error) -> Denial {
        let err = err.without_url();
        let detail = format!("api `{}`: {}", self.name, error_chain(&err));
        if let Some(blocked) = find_source::<Blocked>(&err) {
            // The connect-time resolver refused what the pre-check accepted: the name changed
            // its answer in between (DNS rebinding).
            return self.blocked_detail(format!("{detail} (refused at connect time: {blocked})"));
        }
        let name = &self.name;
        let message = if err.is_timeout() {
            if err.is_connect() {
                format!(
                    "upstream `{name}` did not accept a connection within {}",
                    HumanDuration(self.connect_timeout)
                )
            } else {
                format!(
                    "upstream `{name}` did not answer within {}",
                    HumanDuration(self.timeout)
                )
            }
        } else if err.is_connect() {
            match find_source::<io::Error>(&err).map(io::Error::kind) {
                Some(io::ErrorKind::ConnectionRefused) => {
                    format!("upstream `{name}` refused the connection")
                }
                Some(io::ErrorKind::NotFound) => format!("upstream `{name}` could not be resolved"),
                _ => format!("could not connect to upstream `{name}`"),
            }
        } else if err.is_body() || err.is_decode() {
            format!("upstream `{name}` broke off its answer")
        } else {
            format!("upstream `{name}` failed to answer")
        };
        self.failure(message, detail)
    }
}

/// The marker that replaces an echoed upstream credential.
pub(crate) const REFLECTION_MARKER: &str = "[REDACTED:upstream_credential]";

/// Replaces every echo of the injected credential in the strings of `value`; returns how many.
fn redact_reflections(injector: &Injector, value: &mut Value) -> usize {
    match value {
        Value::String(text) => match injector.redact_reflections(text, REFLECTION_MARKER) {
            Some((redacted, count)) => {
                *text = redacted;
                count
            }
            None => 0,
        },
        Value::Array(items) => items
            .iter_mut()
            .map(|item| redact_reflections(injector, item))
            .sum(),
        Value::Object(map) => map
            .values_mut()
            .map(|item| redact_reflections(injector, item))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

fn into_text(body: Vec<u8>) -> String {
    match String::from_utf8(body) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

/// The error and its sources, joined by `: `, skipping a source whose text its parent
/// already includes.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

fn find_source<'a, E: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(inner) = current {
        if let Some(found) = inner.downcast_ref::<E>() {
            return Some(found);
        }
        current = inner.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(into_text(vec![b'o', b'k', 0xff]), "ok\u{fffd}");
        assert_eq!(into_text(b"plain".to_vec()), "plain");
    }

    /// A configured API's base URL is an `HttpUrl` already; the client refuses any other
    /// scheme all the same.
    #[test]
    fn a_base_url_that_is_not_http_is_refused() {
        let secrets = SecretStore::new(Arc::new(portcullis_secrets::OverlayEnv::new()));
        let resolver: Arc<dyn Resolver> = Arc::new(crate::StaticResolver::new());
        let built = Upstream::build(
            "ftp",
            "ftp://files.example.com/",
            None,
            &EgressConfig::default(),
            &secrets,
            resolver,
        );
        assert!(
            matches!(built, Err(EgressError::BaseUrl { .. })),
            "{:?}",
            built.err()
        );
    }
}
