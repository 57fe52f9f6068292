//! The `issuer` section: the built-in OAuth 2 authorization server's identity, token lifetimes
//! and signing keys.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Context, HumanDuration, Problem};

/// The built-in token issuer.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The `iss` claim. Defaults to the listener's public URL.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The `aud` claim required on every token. Defaults to the listener's public URL.
    #[serde(default)]
    pub audience: Option<String>,
    /// Lifetime of issued access tokens.
    #[serde(default = "default_ttl")]
    pub token_ttl: HumanDuration,
    /// Longest lifetime a caller may ask for (`portcullis token --ttl`).
    #[serde(default = "default_max_ttl")]
    pub max_token_ttl: HumanDuration,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway: HumanDuration,
    /// Signing algorithm of generated keys.
    #[serde(default)]
    pub algorithm: SigningAlgorithm,
    /// Age at which the signing key is replaced by a new one. Previous keys stay in the JWKS
    /// and keep verifying until every token they signed has expired.
    #[serde(default = "default_key_rotation")]
    pub key_rotation: HumanDuration,
    /// Throttling of failed client authentication at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuthConfig,
}

/// Throttling of failed client authentication at the token endpoint (`issuer.client_auth`).
///
/// Every failed authentication counts against the client address and against the client id it
/// named (known or not, alike). Past the free allowance, each further failure doubles a
/// back-off, starting at one second and capped at `max_backoff`, during which that address (or
/// that client id) is answered 429 with `Retry-After` and no secret is checked. The count is
/// forgotten after `forget_after` without a failure. The client-id back-off never applies to an
/// address from which that client authenticated successfully within the last day, so failures
/// sent by someone else cannot lock a working agent out.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    /// Failed authentications one client address may make before it is slowed down.
    #[serde(default = "default_free_per_address")]
    pub failures_per_address: u32,
    /// Failed authentications naming one client id (from addresses it never authenticated
    /// from) before that id is slowed down for those addresses.
    #[serde(default = "default_free_per_client")]
    pub failures_per_client: u32,
    /// Longest back-off.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: HumanDuration,
    /// Quiet time after which failures are forgotten.
    #[serde(default = "default_forget_after")]
    pub forget_after: HumanDuration,
    /// Secret checks (argon2, tens of milliseconds of CPU each) running at once; further
    /// requests wait up to a second for a turn, then get 503. Defaults to the number of CPUs.
    #[serde(default)]
    pub concurrent_checks: Option<std::num::NonZeroU32>,
}

fn default_free_per_address() -> u32 {
    10
}

fn default_free_per_client() -> u32 {
    20
}

fn default_max_backoff() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}

fn default_forget_after() -> HumanDuration {
    HumanDuration(Duration::from_secs(900))
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        Self {
            failures_per_address: default_free_per_address(),
            failures_per_client: default_free_per_client(),
            max_backoff: default_max_backoff(),
            forget_after: default_forget_after(),
            concurrent_checks: None,
        }
    }
}

fn default_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}

fn default_max_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}

fn default_leeway() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_key_rotation() -> HumanDuration {
    HumanDuration(Duration::from_secs(30 * 24 * 3600))
}

/// Signing algorithm for issued access tokens.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, JsonSchema, PartialEq, Serialize)]
pub enum SigningAlgorithm {
    /// ECDSA with P-256 and SHA-256.
    #[default]
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            token_ttl: default_ttl(),
            max_token_ttl: default_max_ttl(),
            leeway: default_leeway(),
            algorithm: SigningAlgorithm::default(),
            key_rotation: default_key_rotation(),
            client_auth: ClientAuthConfig::default(),
        }
    }
}

impl IssuerConfig {
    /// Checks the token lifetime (greater than zero, at most `max_token_ttl`) and the key
    /// rotation period (at least a minute).
    pub(crate) fn parse(self, cx: &Context<'_>) -> Result<Self, ConfigError> {
        if self.token_ttl.0.is_zero() || self.token_ttl.0 > self.max_token_ttl.0 {
            return Err(cx.invalid("issuer.token_ttl", Problem::TokenTtl));
        }
        if self.key_rotation.0 < Duration::from_secs(60) {
            return Err(cx.invalid("issuer.key_rotation", Problem::KeyRotation));
        }
        let auth = &self.client_auth;
        if auth.max_backoff.0 < Duration::from_secs(1) {
            return Err(cx.invalid(
                "issuer.client_auth.max_backoff",
                Problem::AtLeast("one second"),
            ));
        }
        if auth.forget_after.0 < auth.max_backoff.0 {
            return Err(cx.invalid(
                "issuer.client_auth.forget_after",
                Problem::AtLeast("`max_backoff`"),
            ));
        }
        Ok(self)
    }
}
