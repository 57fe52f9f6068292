//! The client that tells a configured webhook of events (a new hold awaiting approval): one
//! JSON POST to one URL, under the same SSRF rules as every upstream call (its own
//! `allow_private`, timeouts and size cap; no redirects followed).

use std::sync::Arc;

use bytes::Bytes;
use portcullis_config::EgressConfig;
use portcullis_secrets::SecretStore;

use crate::request::Prepared;
use crate::upstream::Upstream;
use crate::{EgressError, MetadataError, Resolver};

/// A webhook's client.
pub struct WebhookClient {
    url: url::Url,
    upstream: Upstream,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

impl WebhookClient {
    /// A client for `url` with the outbound rules `egress`.
    pub fn new(
        url: &url::Url,
        egress: &EgressConfig,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, EgressError> {
        // No credential is injected: the body is signed instead.
        let secrets = SecretStore::new(Arc::new(portcullis_secrets::OverlayEnv::new()));
        let upstream = Upstream::build(
            "approvals webhook",
            url.as_str(),
            None,
            &EgressConfig {
                max_redirects: 0,
                ..egress.clone()
            },
            &secrets,
            resolver,
        )?;
        Ok(Self {
            url: url.clone(),
            upstream,
        })
    }

    /// POSTs `body` as `application/json` with `headers` besides; the answer's status. A
    /// refused destination, a failed connection or a timeout is an error naming no secret.
    pub async fn post(&self, body: Bytes, headers: http::HeaderMap) -> Result<u16, MetadataError> {
        let mut headers = headers;
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let prepared = Prepared {
            method: http::Method::POST,
            url: self.url.clone(),
            headers,
            body: Some(body),
        };
        let response = self
            .upstream
            .send(prepared)
            .await
            .map_err(|denial| MetadataError::sent(&denial))?;
        Ok(response.status)
    }
}
