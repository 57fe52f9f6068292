//! The `identity_providers` section: external OpenID Connect / OAuth 2 issuers whose tokens the
//! gateway trusts, their keys, algorithms, audiences and claim mapping.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    ConfigError, Context, EgressConfig, HttpUrl, HumanDuration, NonZeroDuration, Problem, Scope,
};

/// The algorithms an external issuer may be pinned to.
pub const EXTERNAL_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// A trusted external issuer, checked: https URLs (unless `allow_insecure_http`), a unique
/// issuer that is not the gateway's own, pinned algorithms from [`EXTERNAL_ALGORITHMS`].
#[derive(Clone, Debug)]
pub struct IdentityProviderConfig {
    /// The issuer identifier: the exact `iss` of its tokens.
    pub issuer: HttpUrl,
    /// The JWKS URL; discovery is skipped when set.
    pub jwks_uri: Option<HttpUrl>,
    /// Audiences accepted; empty: the gateway's audience.
    pub audiences: Vec<String>,
    /// Signature algorithms accepted, each one of [`EXTERNAL_ALGORITHMS`]; never empty.
    pub algorithms: Vec<String>,
    /// Which claims carry the user id, tenant, groups, the agent and the scopes.
    pub claims: ClaimMapping,
    /// Scopes a user of this issuer holds when the token carries no scope claim.
    pub default_scopes: Vec<Scope>,
    /// Whether this issuer's access tokens are accepted as bearer tokens.
    pub accept_access_tokens: bool,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_ttl: NonZeroDuration,
    /// Least time between two fetches of the keys.
    pub jwks_min_refresh: HumanDuration,
    /// Whether `http://` discovery and JWKS URLs are allowed.
    pub allow_insecure_http: bool,
    /// Outbound rules for discovery and JWKS requests.
    pub egress: EgressConfig,
}

crate::deserialize_as_entry!(
    IdentityProviderConfig,
    RawIdentityProvider,
    "identity_provider"
);

/// A trusted external issuer (an OpenID Connect provider or any OAuth 2 server publishing a
/// JWKS).
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "IdentityProviderConfig")]
pub(crate) struct RawIdentityProvider {
    /// The issuer identifier: the exact `iss` of its tokens. Discovery reads
    /// `<issuer>/.well-known/openid-configuration`, whose `issuer` must equal it.
    issuer: String,
    /// The JWKS URL. When set, discovery is skipped.
    #[serde(default)]
    jwks_uri: Option<String>,
    /// Audiences accepted (the token's `aud` must contain one). Defaults to the gateway's
    /// audience, so that tokens minted for other services are refused.
    #[serde(default)]
    audiences: Vec<String>,
    /// Signature algorithms accepted from this issuer: any of `RS256`, `RS384`, `RS512`,
    /// `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `EdDSA`. Required; `none` and HMAC never are.
    algorithms: Vec<String>,
    /// Which claims carry the user id, tenant, groups, the agent and the scopes.
    #[serde(default)]
    claims: ClaimMapping,
    /// Scopes a user of this issuer holds when the token carries no scope claim.
    #[serde(default)]
    default_scopes: Vec<String>,
    /// Accept this issuer's access tokens as bearer tokens at the gateway (the agent is the
    /// configured agent named by the `agent` claim). Off by default: the issuer's tokens are
    /// then only accepted as `subject_token` of a token exchange.
    #[serde(default)]
    accept_access_tokens: bool,
    /// How long fetched keys are used before they are fetched again.
    #[serde(default = "default_jwks_ttl")]
    jwks_ttl: HumanDuration,
    /// Least time between two fetches of the keys, whatever asks for them (a token with an
    /// unknown `kid`, an expired cache), so a flood of made-up key ids cannot hammer the issuer.
    #[serde(default = "default_jwks_min_refresh")]
    jwks_min_refresh: HumanDuration,
    /// Allow `http://` discovery and JWKS URLs. For tests and loopback issuers only.
    #[serde(default)]
    allow_insecure_http: bool,
    /// Outbound rules for discovery and JWKS requests (`allow_private`, timeouts, size cap).
    #[serde(default = "default_idp_egress")]
    egress: EgressConfig,
}

/// Which claims of an external token carry what.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    /// The user id.
    #[serde(default = "default_user_claim")]
    pub user: String,
    /// The tenant; none when unset.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The user's groups or roles: a string array or a space-separated string.
    #[serde(default)]
    pub groups: Option<String>,
    /// The agent (OAuth client) the token was issued to; read when the token is presented as a
    /// bearer token. `azp` is tried, then `client_id`, when unset.
    #[serde(default)]
    pub agent: Option<String>,
    /// The scopes: a space-separated string (`scope`) or a string array (`scp`). Both are
    /// tried when unset.
    #[serde(default)]
    pub scopes: Option<String>,
}

fn default_user_claim() -> String {
    "sub".to_owned()
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            user: default_user_claim(),
            tenant: None,
            groups: None,
            agent: None,
            scopes: None,
        }
    }
}

fn default_jwks_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}

fn default_jwks_min_refresh() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_idp_egress() -> EgressConfig {
    EgressConfig {
        timeout: HumanDuration(Duration::from_secs(5)),
        max_response_bytes: 256 * 1024,
        ..EgressConfig::default()
    }
}

impl RawIdentityProvider {
    /// Checks one identity provider; that issuers are unique is checked over the list.
    pub(crate) fn parse(
        self,
        key: &str,
        cx: &Context<'_>,
    ) -> Result<IdentityProviderConfig, ConfigError> {
        let https_only = |field: &str, text: &str| {
            let url = HttpUrl::parse(text).map_err(|e| cx.invalid(format!("{key}.{field}"), e))?;
            if !self.allow_insecure_http && !text.starts_with("https://") {
                return Err(cx.invalid(
                    format!("{key}.{field}"),
                    Problem::InsecureHttp(text.to_owned()),
                ));
            }
            Ok(url)
        };
        let issuer = https_only("issuer", &self.issuer)?;
        let jwks_uri = self
            .jwks_uri
            .as_deref()
            .map(|jwks| https_only("jwks_uri", jwks))
            .transpose()?;
        if self.algorithms.is_empty() {
            return Err(cx.invalid(format!("{key}.algorithms"), Problem::NoAlgorithm));
        }
        if let Some(alg) = self
            .algorithms
            .iter()
            .find(|alg| !EXTERNAL_ALGORITHMS.contains(&alg.as_str()))
        {
            return Err(cx.invalid(format!("{key}.algorithms"), Problem::Algorithm(alg.clone())));
        }
        Ok(IdentityProviderConfig {
            issuer,
            jwks_uri,
            audiences: self.audiences,
            algorithms: self.algorithms,
            claims: self.claims,
            default_scopes: cx.scopes(format!("{key}.default_scopes"), &self.default_scopes)?,
            accept_access_tokens: self.accept_access_tokens,
            jwks_ttl: cx.non_zero(format!("{key}.jwks_ttl"), self.jwks_ttl)?,
            jwks_min_refresh: self.jwks_min_refresh,
            allow_insecure_http: self.allow_insecure_http,
            egress: self.egress.checked(&format!("{key}.egress"), cx)?,
        })
    }
}
