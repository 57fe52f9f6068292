//! What this gateway publishes about its authorization server: the JWKS and the RFC 8414
//! metadata, and the lists the RFC 9728 protected-resource metadata names.

use std::sync::Arc;

use crate::{Identity, exchange, issue};

impl Identity {
    /// The public key set (`{"keys":[...]}`) for the JWKS endpoint.
    pub fn jwks(&self) -> serde_json::Value {
        let keys = Arc::clone(&self.keys.read());
        let jwks: Vec<serde_json::Value> = keys.keys().iter().map(|k| k.jwk.clone()).collect();
        serde_json::json!({ "keys": jwks })
    }

    /// RFC 8414 authorization server metadata, given the absolute URLs of the token endpoint
    /// and of the JWKS.
    pub fn metadata(&self, token_endpoint: &str, jwks_uri: &str) -> serde_json::Value {
        serde_json::json!({
            "issuer": self.issuer,
            "token_endpoint": token_endpoint,
            "jwks_uri": jwks_uri,
            "grant_types_supported": self.grant_types(),
            "token_endpoint_auth_methods_supported": self.auth_methods(),
            "tls_client_certificate_bound_access_tokens": self.agents.values().any(|a| a.certificate.as_ref().is_some_and(|c| c.bind_tokens)),
            // Without interactive sign-in there is no authorization endpoint, so no response
            // type; the front adds the endpoint and `code` when `sign_in` is on.
            "response_types_supported": [],
        })
    }

    /// The external issuers whose access tokens are accepted as bearer tokens, for the
    /// protected-resource metadata.
    pub fn bearer_issuers(&self) -> Vec<String> {
        self.external.bearer_issuers()
    }

    /// The client authentication methods, for the RFC 8414 metadata.
    pub(crate) fn auth_methods(&self) -> Vec<&'static str> {
        let mut methods = vec!["client_secret_basic", "client_secret_post"];
        if self.agents.values().any(|a| a.certificate.is_some()) {
            methods.push("tls_client_auth");
        }
        methods
    }

    /// The grant types the token endpoint supports, for the RFC 8414 metadata.
    pub(crate) fn grant_types(&self) -> Vec<&'static str> {
        let mut grants = vec![issue::CLIENT_CREDENTIALS];
        if self.agents.values().any(|a| a.token_exchange) {
            grants.push(exchange::GRANT_TYPE);
        }
        grants
    }
}
