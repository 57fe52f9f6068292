//! The `sign_in` section: interactive MCP clients (desktop apps, IDEs, SDK helpers) obtaining
//! tokens for a user with the authorization-code grant and PKCE. Off unless the section is
//! present.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Context, HumanDuration, Name, Problem, Scope, SecretRef};

/// Interactive sign-in, checked.
#[derive(Clone, Debug)]
pub struct SignInConfig {
    /// Lifetime of an authorization code.
    pub code_ttl: Duration,
    /// Lifetime of the access tokens issued to interactive clients.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token; zero issues none.
    pub refresh_token_ttl: Duration,
    /// Whether clients may register themselves (RFC 7591).
    pub dynamic_registration: bool,
    /// Registrations accepted from one address (IPv6: one /64) per hour.
    pub registrations_per_hour: u32,
    /// Whether a client id may be an HTTPS URL naming its metadata document.
    pub client_metadata_documents: bool,
    /// Outbound rules for fetching client metadata documents.
    pub client_metadata_egress: crate::EgressConfig,
    /// Accept any loopback redirect URI (`http://127.0.0.1:<any port>/...`, `localhost`,
    /// `[::1]`), as RFC 8252 section 7.3 asks of servers for native apps.
    pub allow_loopback: bool,
    /// Further redirect URIs accepted: exact URLs, or prefixes ending in `*`.
    pub redirect_uris: Vec<String>,
    /// The most an interactive client may be granted; the token's scopes are the requested
    /// ones that both this list and the user hold.
    pub client_scopes: Vec<Scope>,
    /// The roles interactive clients hold (the Cedar `Role`s of their `Agent` entity).
    pub client_roles: Vec<Name>,
    /// The built-in user list.
    pub users: Vec<UserConfig>,
    /// Users sign in at the organization's identity provider, when set.
    pub identity_provider: Option<UpstreamSignIn>,
}

/// Sign-in at an external OpenID Connect provider, checked.
#[derive(Clone, Debug)]
pub struct UpstreamSignIn {
    /// The provider: the `issuer` of one of `identity_providers`, whose keys, algorithms,
    /// claim mapping, default scopes and egress rules apply.
    pub issuer: String,
    /// This gateway's client id at the provider.
    pub client_id: String,
    /// Its client secret, when the provider registered it as a confidential client.
    pub client_secret: Option<SecretRef>,
    /// The scopes asked of the provider (`openid` always among them).
    pub scopes: Vec<String>,
    /// The button's text on the sign-in page.
    pub label: String,
}

/// A built-in user, checked.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// The user id: the tokens' `sub`.
    pub id: Name,
    /// Argon2 PHC string of the password.
    pub password_hash: Option<String>,
    /// A reference to the password itself.
    pub password: Option<SecretRef>,
    /// Scopes the user may grant to a client.
    pub scopes: Vec<Scope>,
    /// The user's tenant, if any.
    pub tenant: Option<String>,
    /// The user's groups.
    pub groups: Vec<String>,
}

/// Interactive sign-in for MCP clients: the authorization-code grant with PKCE, refresh tokens,
/// client registration and a built-in user list.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SignInConfig")]
pub(crate) struct RawSignIn {
    /// Lifetime of an authorization code (single use).
    #[serde(default = "default_code_ttl")]
    code_ttl: HumanDuration,
    /// Lifetime of the access tokens issued to interactive clients; defaults to
    /// `issuer.token_ttl`, at most `issuer.max_token_ttl`.
    #[serde(default)]
    access_token_ttl: Option<HumanDuration>,
    /// Lifetime of a refresh token (each use replaces it); `0s` issues none.
    #[serde(default = "default_refresh_ttl")]
    refresh_token_ttl: HumanDuration,
    /// Let clients register themselves (RFC 7591 dynamic client registration, public clients
    /// only).
    #[serde(default = "yes")]
    dynamic_registration: bool,
    /// Registrations accepted from one client address (IPv6: one /64) per hour; more are
    /// answered 429 with `Retry-After`. A client registers once per installation, so the
    /// default leaves room for many users behind one address while bounding a flood.
    #[serde(default = "default_registrations_per_hour")]
    registrations_per_hour: u32,
    /// Accept client ids that are HTTPS URLs of a client metadata document, fetched through
    /// the SSRF-safe egress client.
    #[serde(default)]
    client_metadata_documents: bool,
    /// Outbound rules for fetching client metadata documents: by default only public
    /// addresses, no redirects, the default timeouts and size cap. `allow_private` and
    /// `ca_certificates` let an organization host its own clients' documents internally.
    #[serde(default = "default_metadata_egress")]
    client_metadata_egress: crate::EgressConfig,
    /// Accept any loopback redirect URI (any port, RFC 8252 section 7.3).
    #[serde(default = "yes")]
    allow_loopback: bool,
    /// Further redirect URIs a client may use: exact URLs (`https://app.example/callback`), or
    /// prefixes ending in `*` (`vscode://*`, `cursor://*`).
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// The most an interactive client may be granted.
    #[serde(default)]
    client_scopes: Vec<String>,
    /// The roles interactive clients hold in policies.
    #[serde(default)]
    client_roles: Vec<String>,
    /// The built-in user list.
    #[serde(default)]
    users: Vec<RawUser>,
    /// Let users sign in at the organization's OpenID Connect provider (one of
    /// `identity_providers`): the sign-in page offers it, the gateway redirects there and
    /// verifies the ID token that comes back.
    #[serde(default)]
    identity_provider: Option<RawUpstreamSignIn>,
}

/// Sign-in at an external OpenID Connect provider (the authorization-code flow with PKCE and a
/// nonce; the ID token is verified with the provider's keys).
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UpstreamSignInConfig")]
pub(crate) struct RawUpstreamSignIn {
    /// The provider's issuer: must equal the `issuer` of one of `identity_providers`, whose
    /// keys, algorithms, claim mapping (`claims`), `default_scopes` and `egress` rules apply.
    issuer: String,
    /// This gateway's client id at the provider. Register `<public_url>/oauth/callback` there
    /// as its redirect URI.
    client_id: String,
    /// The client secret (`env:NAME` or `file:PATH`), when the provider registered the gateway
    /// as a confidential client; sent with HTTP Basic authentication.
    #[serde(default)]
    client_secret: Option<SecretRef>,
    /// Scopes asked of the provider; `openid` is added when missing.
    #[serde(default = "default_upstream_scopes")]
    scopes: Vec<String>,
    /// The sign-in button's text.
    #[serde(default)]
    label: Option<String>,
}

fn default_upstream_scopes() -> Vec<String> {
    vec![
        "openid".to_owned(),
        "profile".to_owned(),
        "email".to_owned(),
    ]
}

/// A user who may sign in.
#[derive(Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UserConfig")]
pub(crate) struct RawUser {
    /// The user id: the `sub` of the tokens the user's clients receive.
    id: String,
    /// Argon2 PHC string of the password (`portcullis hash-secret` makes one).
    #[serde(default)]
    password_hash: Option<String>,
    /// A reference to the password itself (`env:NAME` or `file:PATH`).
    #[serde(default)]
    password: Option<SecretRef>,
    /// Scopes the user may grant to a client.
    #[serde(default)]
    scopes: Vec<String>,
    /// The user's tenant (`context.user.tenant` in policies).
    #[serde(default)]
    tenant: Option<String>,
    /// The user's groups (`context.user.groups` in policies).
    #[serde(default)]
    groups: Vec<String>,
}

fn default_code_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

fn default_refresh_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(30 * 24 * 3600))
}

fn default_metadata_egress() -> crate::EgressConfig {
    crate::EgressConfig {
        timeout: HumanDuration(Duration::from_secs(5)),
        max_response_bytes: 64 * 1024,
        ..crate::EgressConfig::default()
    }
}

fn default_registrations_per_hour() -> u32 {
    60
}

fn yes() -> bool {
    true
}

impl RawSignIn {
    /// Checks the section; `token_ttl` and `max_token_ttl` are the issuer's.
    pub(crate) fn parse(
        self,
        cx: &Context<'_>,
        token_ttl: Duration,
        max_token_ttl: Duration,
    ) -> Result<SignInConfig, ConfigError> {
        if self.code_ttl.0.is_zero() || self.code_ttl.0 > Duration::from_secs(600) {
            return Err(cx.invalid("sign_in.code_ttl", Problem::CodeTtl));
        }
        let access_token_ttl = self.access_token_ttl.map_or(token_ttl, |t| t.0);
        if access_token_ttl.is_zero() || access_token_ttl > max_token_ttl {
            return Err(cx.invalid("sign_in.access_token_ttl", Problem::TokenTtl));
        }
        if self.dynamic_registration && self.registrations_per_hour == 0 {
            return Err(cx.invalid(
                "sign_in.registrations_per_hour",
                Problem::AtLeast("1 (or turn `dynamic_registration` off)"),
            ));
        }
        for (i, uri) in self.redirect_uris.iter().enumerate() {
            let prefix = uri.strip_suffix('*').unwrap_or(uri);
            let scheme_ok = prefix
                .split_once(':')
                .is_some_and(|(scheme, _)| !scheme.is_empty());
            if !scheme_ok || prefix.contains('*') || uri.contains('#') {
                return Err(cx.invalid(
                    format!("sign_in.redirect_uris[{i}]"),
                    Problem::RedirectPattern(portcullis_core::truncate_for_message(uri, 64)),
                ));
            }
        }
        let client_scopes = cx.scopes("sign_in.client_scopes", &self.client_scopes)?;
        let client_roles = self
            .client_roles
            .iter()
            .map(|role| {
                Name::new(role).ok_or_else(|| {
                    cx.invalid("sign_in.client_roles", Problem::RoleName(role.clone()))
                })
            })
            .collect::<Result<_, _>>()?;
        let users = cx.each("sign_in.users", self.users, RawUser::parse)?;
        let identity_provider = self
            .identity_provider
            .map(|raw| raw.parse(cx))
            .transpose()?;
        if users.is_empty() && identity_provider.is_none() {
            return Err(cx.invalid("sign_in", Problem::NoSignInMethod));
        }
        cx.unique(
            "sign_in.users",
            "id",
            users.iter().map(|u: &UserConfig| u.id.as_str()),
            Problem::DuplicateUser,
        )?;
        Ok(SignInConfig {
            code_ttl: self.code_ttl.0,
            access_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl.0,
            dynamic_registration: self.dynamic_registration,
            registrations_per_hour: self.registrations_per_hour,
            client_metadata_documents: self.client_metadata_documents,
            client_metadata_egress: self
                .client_metadata_egress
                .checked("sign_in.client_metadata_egress", cx)?,
            allow_loopback: self.allow_loopback,
            redirect_uris: self.redirect_uris,
            client_scopes,
            client_roles,
            users,
            identity_provider,
        })
    }
}

impl RawUpstreamSignIn {
    fn parse(self, cx: &Context<'_>) -> Result<UpstreamSignIn, ConfigError> {
        let key = "sign_in.identity_provider";
        if self.client_id.is_empty() || self.client_id.len() > 256 {
            return Err(cx.invalid(format!("{key}.client_id"), Problem::UpstreamClientId));
        }
        let mut scopes = Vec::with_capacity(self.scopes.len() + 1);
        if !self.scopes.iter().any(|s| s == "openid") {
            scopes.push("openid".to_owned());
        }
        for scope in self.scopes {
            let valid = !scope.is_empty()
                && scope
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                return Err(cx.invalid(
                    format!("{key}.scopes"),
                    Problem::Scope(portcullis_core::truncate_for_message(&scope, 64)),
                ));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let label = self
            .label
            .filter(|l| !l.trim().is_empty())
            .unwrap_or_else(|| "your organization's sign-in".to_owned());
        Ok(UpstreamSignIn {
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret: self.client_secret.map(|s| cx.secret(s)),
            scopes,
            label: portcullis_core::truncate_for_message(&label, 80),
        })
    }
}

impl RawUser {
    fn parse(self, key: &str, cx: &Context<'_>) -> Result<UserConfig, ConfigError> {
        let id = Name::new(&self.id)
            .ok_or_else(|| cx.invalid(format!("{key}.id"), Problem::UserId(self.id.clone())))?;
        let password = match (&self.password_hash, self.password) {
            (Some(_), Some(_)) => return Err(cx.invalid(key, Problem::TwoPasswords)),
            (None, None) => return Err(cx.invalid(key, Problem::NoPassword)),
            (Some(hash), None) if !hash.starts_with("$argon2") => {
                return Err(cx.invalid(format!("{key}.password_hash"), Problem::NotArgon2));
            }
            (_, password) => password.map(|p| cx.secret(p)),
        };
        Ok(UserConfig {
            id,
            password_hash: self.password_hash,
            password,
            scopes: cx.scopes(format!("{key}.scopes"), &self.scopes)?,
            tenant: self.tenant,
            groups: self.groups,
        })
    }
}
