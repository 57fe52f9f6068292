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
        Ok(self)
    }
}
