//! Interactive sign-in: the authorization-code grant with PKCE (RFC 6749 section 4.1, RFC 7636,
//! RFC 9700) for MCP clients acting for a user, the refresh-token grant with rotation, and
//! dynamic client registration (RFC 7591).
//!
//! The server side of OAuth is written here by hand on the primitives the crate already uses
//! (aws-lc-rs for randomness and SHA-256, argon2 for passwords): the OAuth crates of the
//! ecosystem are client libraries.
//!
//! The flow, as the HTTP front drives it:
//! 1. [`SignIn::authorize`] checks the authorization request (client, exact redirect URI, `code`
//!    response type, an S256 PKCE challenge, `resource`, `scope`) and remembers it as a pending
//!    request with a CSRF token; the front shows the sign-in form.
//! 2. [`SignIn::sign_in`] checks the form's CSRF token (against the pending request and the
//!    cookie) and the user's password (argon2, a decoy for unknown users, throttled per address
//!    and user name); the front shows the consent page.
//! 3. [`SignIn::consent`] turns the pending request into a single-use code (stored hashed, 60 s
//!    by default) bound to the client, redirect URI, challenge, resource, user and scopes.
//! 4. The token endpoint ([`SignIn::token`]) exchanges the code (PKCE verifier checked) for an
//!    access token and a refresh token; a replayed code revokes what it produced. Refresh
//!    tokens rotate on every use; a reused one revokes its grant.
//!
//! Issued access tokens have the shape of the token-exchange grant's delegated tokens: `sub` the
//! user, `client_id` and `act.sub` the client, `user_iss` this issuer, so policies written for
//! delegated tokens apply unchanged; their audience is the MCP resource.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use portcullis_config::{Config, SignInConfig};
use portcullis_core::{ActingUser, truncate_for_message};
use portcullis_secrets::SecretStore;
use portcullis_store::grants::{ClientRecord, GrantRecord, GrantStore, RefreshRecord, Rotation};
use serde_json::{Value, json};

use crate::client::{Credential, Form};
use crate::error::{IdentityError, OAuthError};
use crate::{ChangeSource, ClientAuthThrottle, Identity, MetadataFetcher, TokenResponse};

mod upstream;

pub use upstream::{Button, CALLBACK_PATH, UpstreamStart};

/// The authorization-code grant type.
pub const AUTHORIZATION_CODE: &str = "authorization_code";
/// The refresh-token grant type.
pub const REFRESH_TOKEN: &str = "refresh_token";
/// How long a pending authorization request (the sign-in and consent pages) stays usable.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Pending requests and unexpired codes held at once; beyond it the oldest are dropped.
const MAX_PENDING: usize = 10_000;
/// Longest `state` kept.
const MAX_STATE_BYTES: usize = 1024;
/// Longest redirect URI accepted.
const MAX_URI_BYTES: usize = 2048;
/// Longest client id looked up.
const MAX_CLIENT_ID_BYTES: usize = 512;
/// Redirect URIs one client may register.
const MAX_REDIRECT_URIS: usize = 10;

/// A user of the built-in list.
struct User {
    id: String,
    credential: Credential,
    scopes: Vec<String>,
    tenant: String,
    groups: Vec<String>,
}

/// A client as the authorization server knows it.
#[derive(Clone, Debug)]
pub struct Client {
    /// The client id.
    pub id: String,
    /// A name to show on the consent page (the id when it gave none).
    pub name: String,
    /// Its registered redirect URIs.
    pub redirect_uris: Vec<String>,
}

/// An authorization request waiting for its user.
struct Pending {
    csrf: String,
    client: Client,
    redirect_uri: String,
    state: Option<String>,
    challenge: String,
    resource: String,
    scopes: Vec<String>,
    /// The user, once signed in.
    user: Option<ActingUser>,
    /// The leg at the organization's identity provider, once started.
    upstream: Option<upstream::Leg>,
    created: Instant,
}

/// An issued authorization code, by the SHA-256 of its text.
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    resource: String,
    scopes: Vec<String>,
    user: ActingUser,
    expires: Instant,
    /// Set once redeemed: the grant it produced and that grant's access token.
    redeemed: Option<(String, String)>,
}

/// What the sign-in or consent page shows.
#[derive(Clone, Debug)]
pub struct Page {
    /// The pending request's id (a hidden form field).
    pub request: String,
    /// The CSRF token (a hidden form field and a cookie).
    pub csrf: String,
    /// The client.
    pub client: Client,
    /// The redirect URI the answer goes to.
    pub redirect_uri: String,
    /// For the consent page: the user and the scopes that would be granted, with the tools
    /// each set reaches.
    pub user: Option<String>,
    /// The scopes that would be granted.
    pub scopes: Vec<String>,
    /// The tools the granted scopes reach.
    pub tools: Vec<String>,
    /// A message for the user (a failed sign-in).
    pub notice: Option<String>,
    /// Whether the page offers the built-in user list's password form.
    pub password_form: bool,
    /// The button that signs in at the organization's identity provider, when one is set.
    pub upstream: Option<upstream::Button>,
}

/// Why an authorization request or form was refused.
#[derive(Debug)]
pub enum Refusal {
    /// Shown to the user, never redirected (unknown client, redirect URI not registered, a
    /// form without its CSRF token, an expired request): the description.
    Page {
        /// The OAuth-style code for the record.
        code: &'static str,
        /// What to tell the user.
        description: String,
    },
    /// Sent back to the client's redirect URI (RFC 6749 section 4.1.2.1).
    Redirect {
        /// The whole URL to redirect to.
        location: String,
        /// The error code, for the record.
        code: &'static str,
    },
    /// Too many failed sign-ins from this address or for this user.
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
}

impl Refusal {
    /// The error code for the audit record.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Page { code, .. } | Self::Redirect { code, .. } => code,
            Self::Throttled { .. } => "slow_down",
        }
    }
}

/// What the token endpoint's interactive grants produced, for the record and the answer.
#[derive(Debug)]
pub struct Granted {
    /// The client the token was issued to.
    pub client_id: String,
    /// The answer.
    pub result: Result<TokenResponse, OAuthError>,
}

/// The authorization server for interactive clients. Built once (`Arc<SignIn>`).
pub struct SignIn {
    identity: Arc<Identity>,
    config: SignInConfig,
    resource: String,
    users: HashMap<String, User>,
    decoy: Credential,
    store: Arc<dyn GrantStore>,
    pending: Mutex<HashMap<String, Pending>>,
    codes: Mutex<HashMap<String, Code>>,
    throttle: ClientAuthThrottle,
    /// Registrations per address bucket in the current hour: the hour's start and the count.
    registrations: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Each tool and the scopes it requires, for the consent page.
    tools: Vec<(String, Vec<String>)>,
    fetcher: Option<Arc<dyn MetadataFetcher>>,
    /// Sign-in at the organization's identity provider, when configured.
    upstream: Option<upstream::Upstream>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("resource", &self.resource)
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl SignIn {
    /// Builds the sign-in server from `config.sign_in` (which must be set), resolving the
    /// users' password references through `secrets`. `tools` lists each tool with the scopes it
    /// requires; `fetcher` fetches client metadata documents (egress).
    pub fn new(
        config: &Config,
        secrets: &SecretStore,
        identity: Arc<Identity>,
        store: Arc<dyn GrantStore>,
        tools: Vec<(String, Vec<String>)>,
        fetcher: Option<Arc<dyn MetadataFetcher>>,
    ) -> Result<Self, IdentityError> {
        let Some(sign_in) = &config.sign_in else {
            return Err(IdentityError::Crypto(
                "interactive sign-in is not configured".to_owned(),
            ));
        };
        let mut users = HashMap::new();
        for user in &sign_in.users {
            let credential = match (&user.password_hash, &user.password) {
                (Some(phc), _) => Credential::from_phc(&user.id, phc)?,
                (None, Some(reference)) => {
                    Credential::Plain(secrets.resolve(reference).map_err(|source| {
                        IdentityError::Secret {
                            agent: user.id.to_string(),
                            source,
                        }
                    })?)
                }
                (None, None) => {
                    return Err(IdentityError::SecretHash {
                        agent: user.id.to_string(),
                        reason: "the user has no password".to_owned(),
                    });
                }
            };
            users.insert(
                user.id.to_string(),
                User {
                    id: user.id.to_string(),
                    credential,
                    scopes: user.scopes.iter().map(ToString::to_string).collect(),
                    tenant: user.tenant.clone().unwrap_or_default(),
                    groups: user.groups.clone(),
                },
            );
        }
        let decoy = Credential::decoy(users.values().map(|u| &u.credential))?;
        let upstream = sign_in
            .identity_provider
            .as_ref()
            .map(|c| upstream::Upstream::new(c, secrets, &config.listener.base_url()))
            .transpose()?;
        Ok(Self {
            identity,
            config: sign_in.clone(),
            resource: format!(
                "{}{}",
                config.listener.base_url(),
                portcullis_config::MCP_PATH
            ),
            users,
            decoy,
            store,
            pending: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            throttle: ClientAuthThrottle::new(&config.issuer.client_auth),
            registrations: Mutex::new(HashMap::new()),
            tools,
            fetcher,
            upstream,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SignInConfig {
        &self.config
    }

    /// The grant store.
    pub fn store(&self) -> &Arc<dyn GrantStore> {
        &self.store
    }

    /// The MCP resource the tokens are for.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Whether a redirect URI is allowed by the configured allowlist: a loopback `http` URI on
    /// any port (RFC 8252 section 7.3), an exact configured URI, or one under a configured
    /// prefix. Fragments are never allowed.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        if uri.len() > MAX_URI_BYTES || uri.contains('#') {
            return false;
        }
        let Ok(parsed) = url::Url::parse(uri) else {
            return false;
        };
        if self.config.allow_loopback && parsed.scheme() == "http" {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if loopback && parsed.username().is_empty() && parsed.password().is_none() {
                return true;
            }
        }
        self.config
            .redirect_uris
            .iter()
            .any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => uri.starts_with(prefix),
                None => uri == allowed,
            })
    }

    /// RFC 7591 dynamic client registration of a public client. The answer is the client's
    /// information (201) or an RFC 7591 error (400); past `registrations_per_hour` from one
    /// address, 429 with `Retry-After`.
    pub async fn register(
        &self,
        body: &Value,
        client_ip: Option<IpAddr>,
    ) -> Result<Value, OAuthError> {
        if !self.config.dynamic_registration {
            return Err(OAuthError {
                status: 403,
                ..OAuthError::invalid_request("dynamic client registration is turned off")
            });
        }
        if let Some(ip) = client_ip {
            self.count_registration(ip, Instant::now())?;
        }
        let metadata_error = |description: String| OAuthError {
            error: "invalid_client_metadata",
            ..OAuthError::invalid_request(description)
        };
        let Some(object) = body.as_object() else {
            return Err(metadata_error(
                "the registration request must be a JSON object".to_owned(),
            ));
        };
        let redirect_uris = self.checked_redirect_uris(object.get("redirect_uris"))?;
        if let Some(method) = object.get("token_endpoint_auth_method") {
            // Registered clients are public: a method with a secret is replaced by `none`
            // (RFC 7591 section 3.2.1 lets the server replace requested values), anything
            // else is refused.
            match method.as_str() {
                Some("none" | "client_secret_post" | "client_secret_basic") => {}
                _ => {
                    return Err(metadata_error(
                        "`token_endpoint_auth_method` must be `none`: registered clients are public and use PKCE".to_owned(),
                    ));
                }
            }
        }
        for (field, allowed) in [
            ("grant_types", &[AUTHORIZATION_CODE, REFRESH_TOKEN][..]),
            ("response_types", &["code"][..]),
        ] {
            if let Some(values) = object.get(field) {
                let ok = values.as_array().is_some_and(|values| {
                    values
                        .iter()
                        .all(|v| v.as_str().is_some_and(|v| allowed.contains(&v)))
                });
                if !ok {
                    return Err(metadata_error(format!(
                        "`{field}` may only hold {}",
                        allowed.join(", ")
                    )));
                }
            }
        }
        let name = object
            .get("client_name")
            .and_then(Value::as_str)
            .map(|n| truncate_for_message(n, 100));
        let client_id = uuid::Uuid::new_v4().to_string();
        let now = self.identity.now();
        let info = json!({
            "client_id": client_id,
            "client_id_issued_at": now,
            "client_name": name,
            "redirect_uris": redirect_uris,
            "grant_types": [AUTHORIZATION_CODE, REFRESH_TOKEN],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        self.store
            .put_client(ClientRecord {
                client_id: client_id.clone(),
                metadata: info.to_string(),
                created_at: now,
            })
            .await
            .map_err(|err| {
                tracing::error!(%err, "cannot store a registered client");
                OAuthError::server_error()
            })?;
        Ok(info)
    }

    /// Counts a registration attempt from `ip` (its /64 for IPv6) in a one-hour window; over
    /// the limit, `temporarily_unavailable` (429) until the window ends. The table holds at most
    /// [`MAX_PENDING`] addresses; past that, ended windows are dropped, then the new address is
    /// refused until some end, so a flood from many addresses cannot grow it.
    fn count_registration(&self, ip: IpAddr, now: Instant) -> Result<(), OAuthError> {
        const WINDOW: Duration = Duration::from_secs(3600);
        let limit = self.config.registrations_per_hour;
        let mut table = self.registrations.lock();
        let key = crate::throttle::bucket(ip);
        if !table.contains_key(&key) && table.len() >= MAX_PENDING {
            table.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let full = !table.contains_key(&key) && table.len() >= MAX_PENDING;
        let entry = table.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if full || entry.1 >= limit {
            let wait = WINDOW
                .saturating_sub(now.duration_since(entry.0))
                .as_secs()
                .max(1);
            if full {
                table.remove(&key);
            }
            return Err(OAuthError {
                error: "temporarily_unavailable",
                status: 429,
                retry_after: Some(wait),
                ..OAuthError::invalid_request(format!(
                    "too many client registrations from this address; retry after {wait} s"
                ))
            });
        }
        entry.1 += 1;
        Ok(())
    }

    /// The redirect URIs of a registration or metadata document, each allowed.
    fn checked_redirect_uris(&self, value: Option<&Value>) -> Result<Vec<String>, OAuthError> {
        let invalid = |description: String| OAuthError {
            error: "invalid_redirect_uri",
            ..OAuthError::invalid_request(description)
        };
        let Some(uris) = value.and_then(Value::as_array).filter(|u| !u.is_empty()) else {
            return Err(invalid(
                "`redirect_uris` must list at least one URI".to_owned(),
            ));
        };
        if uris.len() > MAX_REDIRECT_URIS {
            return Err(invalid(format!(
                "at most {MAX_REDIRECT_URIS} redirect URIs may be registered"
            )));
        }
        uris.iter()
            .map(|uri| match uri.as_str() {
                Some(uri) if self.redirect_allowed(uri) => Ok(uri.to_owned()),
                Some(uri) => Err(invalid(format!(
                    "redirect URI `{}` is not allowed here; loopback URIs and the ones in `sign_in.redirect_uris` are",
                    truncate_for_message(uri, 128)
                ))),
                None => Err(invalid("`redirect_uris` must hold strings".to_owned())),
            })
            .collect()
    }

    /// The client a `client_id` names: a registered one, or (when enabled) the client metadata
    /// document its HTTPS URL names, fetched through egress. `None` when there is none.
    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, OAuthError> {
        if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_BYTES {
            return Ok(None);
        }
        if client_id.starts_with("https://") {
            return self.metadata_document(client_id).await;
        }
        let record = self.store.client(client_id).await.map_err(|err| {
            tracing::error!(%err, "cannot read the client store");
            OAuthError::server_error()
        })?;
        let Some(record) = record else {
            return Ok(None);
        };
        let info: Value = serde_json::from_str(&record.metadata).unwrap_or(Value::Null);
        Ok(Some(Client {
            id: record.client_id.clone(),
            name: info
                .get("client_name")
                .and_then(Value::as_str)
                .unwrap_or(&record.client_id)
                .to_owned(),
            redirect_uris: info
                .get("redirect_uris")
                .and_then(Value::as_array)
                .map(|uris| {
                    uris.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }

    /// A client metadata document (draft-ietf-oauth-client-id-metadata-document): the client id
    /// is the HTTPS URL of a JSON document whose `client_id` is that same URL.
    async fn metadata_document(&self, url: &str) -> Result<Option<Client>, OAuthError> {
        let refused = |description: String| OAuthError {
            error: "invalid_client",
            status: 400,
            challenge: false,
            ..OAuthError::invalid_request(description)
        };
        if !self.config.client_metadata_documents {
            return Err(refused(
                "client metadata documents are turned off; register the client instead".to_owned(),
            ));
        }
        let parsed =
            url::Url::parse(url).map_err(|_| refused("the client id is not a URL".to_owned()))?;
        if parsed.fragment().is_some() || !parsed.username().is_empty() || parsed.path() == "/" {
            return Err(refused(
                "a client id URL needs a path and no fragment or user information".to_owned(),
            ));
        }
        let Some(fetcher) = &self.fetcher else {
            return Err(OAuthError::server_error());
        };
        let document = fetcher.fetch(CLIENT_METADATA, url).await.map_err(|err| {
            tracing::debug!(%err, "client metadata document refused");
            refused(format!(
                "the client metadata document could not be fetched: {err}"
            ))
        })?;
        if document.get("client_id").and_then(Value::as_str) != Some(url) {
            return Err(refused(
                "the client metadata document's `client_id` is not its own URL".to_owned(),
            ));
        }
        let redirect_uris = self.checked_redirect_uris(document.get("redirect_uris"))?;
        let name = document
            .get("client_name")
            .and_then(Value::as_str)
            .map_or_else(|| url.to_owned(), |n| truncate_for_message(n, 100));
        Ok(Some(Client {
            id: url.to_owned(),
            name,
            redirect_uris,
        }))
    }

    /// Step 1: checks an authorization request (the query of `GET /oauth/authorize`).
    pub async fn authorize(&self, query: &[(String, String)]) -> Result<Page, Refusal> {
        let page = |code: &'static str, description: String| Refusal::Page { code, description };
        let form = Form::parse(query).map_err(|e| page("invalid_request", e.error_description))?;
        let Some(client_id) = form.get("client_id") else {
            return Err(page("invalid_request", "`client_id` is missing".to_owned()));
        };
        let client = match self.client(client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => {
                return Err(page(
                    "invalid_client",
                    "this application is not registered with this server".to_owned(),
                ));
            }
            Err(err) => return Err(page(err.error, err.error_description)),
        };
        let redirect_uri = match form.get("redirect_uri") {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_owned(),
            Some(_) => {
                return Err(page(
                    "invalid_request",
                    "the redirect URI is not one this application registered".to_owned(),
                ));
            }
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => {
                return Err(page(
                    "invalid_request",
                    "`redirect_uri` is missing".to_owned(),
                ));
            }
        };
        let state = form
            .get("state")
            .map(|s| truncate_bytes(s, MAX_STATE_BYTES).to_owned());
        let redirect = |code: &'static str, description: &str| Refusal::Redirect {
            location: self.error_location(&redirect_uri, code, description, state.as_deref()),
            code,
        };
        if form.get("response_type") != Some("code") {
            return Err(redirect(
                "unsupported_response_type",
                "only `response_type=code` is supported",
            ));
        }
        let Some(challenge) = form.get("code_challenge") else {
            return Err(redirect(
                "invalid_request",
                "PKCE is required: send `code_challenge` with `code_challenge_method=S256`",
            ));
        };
        if form.get("code_challenge_method") != Some("S256") {
            return Err(redirect(
                "invalid_request",
                "`code_challenge_method` must be `S256`",
            ));
        }
        if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
            return Err(redirect(
                "invalid_request",
                "`code_challenge` must be a base64url SHA-256 (43 characters)",
            ));
        }
        let resource = match form.get("resource") {
            None => self.resource.clone(),
            Some(resource) if self.resource_matches(resource) => self.resource.clone(),
            Some(_) => {
                return Err(redirect(
                    "invalid_target",
                    "`resource` does not name this gateway's MCP endpoint",
                ));
            }
        };
        let requested: Vec<String> = match form.get("scope") {
            None => self
                .config
                .client_scopes
                .iter()
                .map(ToString::to_string)
                .collect(),
            Some(scope) => {
                let mut scopes = Vec::new();
                for s in scope.split(' ').filter(|s| !s.is_empty()) {
                    if !s.bytes().all(|b| {
                        b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
                    }) {
                        return Err(redirect("invalid_scope", "`scope` is malformed"));
                    }
                    if !scopes.iter().any(|x: &String| x == s) {
                        scopes.push(s.to_owned());
                    }
                }
                scopes
            }
        };
        let scopes: Vec<String> = requested
            .into_iter()
            .filter(|s| self.config.client_scopes.iter().any(|c| c.as_str() == s))
            .collect();
        let (Some(id), Some(csrf)) = (random_token(), random_token()) else {
            return Err(no_randomness());
        };
        let pending = Pending {
            csrf: csrf.clone(),
            client: client.clone(),
            redirect_uri: redirect_uri.clone(),
            state,
            challenge: challenge.to_owned(),
            resource,
            scopes: scopes.clone(),
            user: None,
            upstream: None,
            created: Instant::now(),
        };
        {
            let mut map = self.pending.lock();
            map.retain(|_, p| p.created.elapsed() < PENDING_TTL);
            if map.len() >= MAX_PENDING {
                return Err(page(
                    "temporarily_unavailable",
                    "too many sign-ins are in progress; try again in a few minutes".to_owned(),
                ));
            }
            map.insert(id.clone(), pending);
        }
        let upstream = self.button().await;
        Ok(Page {
            request: id,
            csrf,
            client,
            redirect_uri,
            user: None,
            scopes,
            tools: Vec::new(),
            notice: None,
            password_form: !self.users.is_empty(),
            upstream,
        })
    }

    fn resource_matches(&self, resource: &str) -> bool {
        resource == self.resource || resource.strip_suffix('/') == Some(self.resource.as_str())
    }

    /// The pending request `request` if `csrf` (the form field) and `cookie` both match its
    /// CSRF token; it is taken out of the map when `take`.
    fn checked_pending<T>(
        &self,
        request: &str,
        csrf: Option<&str>,
        cookie: Option<&str>,
        with: impl FnOnce(&mut Pending) -> T,
    ) -> Result<T, Refusal> {
        let mut map = self.pending.lock();
        let Some(pending) = map
            .get_mut(request)
            .filter(|p| p.created.elapsed() < PENDING_TTL)
        else {
            return Err(expired());
        };
        let matches = |presented: Option<&str>| {
            presented.is_some_and(|p| {
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    p.as_bytes(),
                    pending.csrf.as_bytes(),
                )
                .is_ok()
            })
        };
        if !matches(csrf) || !matches(cookie) {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "the form was not sent from this server's sign-in page (CSRF check failed); start again from the application".to_owned(),
            });
        }
        Ok(with(pending))
    }

    /// Step 2: the sign-in form. A wrong user name or password shows the form again with a
    /// notice (the same for an unknown user, at the same cost). Runs argon2 on a blocking
    /// thread.
    pub async fn sign_in(
        self: &Arc<Self>,
        request: &str,
        csrf: Option<&str>,
        cookie: Option<&str>,
        username: &str,
        password: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<(Page, Option<String>), Refusal> {
        let (client, redirect_uri, scopes) = self.checked_pending(request, csrf, cookie, |p| {
            (p.client.clone(), p.redirect_uri.clone(), p.scopes.clone())
        })?;
        let username = truncate_bytes(username, 128).to_owned();
        if let Err(throttled) = self
            .throttle
            .check(client_ip, Some(&username), Instant::now())
        {
            return Err(Refusal::Throttled {
                retry_after: throttled.retry_after_secs(),
            });
        }
        let Some(permit) = self.throttle.check_permit().await else {
            return Err(Refusal::Throttled { retry_after: 1 });
        };
        let worker = Arc::clone(self);
        let (name, secret) = (
            username.clone(),
            zeroize::Zeroizing::new(password.to_owned()),
        );
        let authenticated = tokio::task::spawn_blocking(move || {
            let user = worker.users.get(&name);
            let credential = user.map_or(&worker.decoy, |u| &u.credential);
            let ok = credential.verify(truncate_bytes(&secret, 1024).as_bytes());
            (ok && user.is_some()).then(|| name.clone())
        })
        .await
        .ok()
        .flatten();
        drop(permit);
        let Some(csrf) = random_token() else {
            return Err(no_randomness());
        };
        let Some(user_id) = authenticated else {
            self.throttle
                .failed(client_ip, Some(&username), Instant::now());
            if let Some(p) = self.pending.lock().get_mut(request) {
                p.csrf = csrf.clone();
            }
            let upstream = self.button().await;
            return Ok((
                Page {
                    request: request.to_owned(),
                    csrf,
                    client,
                    redirect_uri,
                    user: None,
                    scopes,
                    tools: Vec::new(),
                    notice: Some("Wrong user name or password.".to_owned()),
                    password_form: true,
                    upstream,
                },
                None,
            ));
        };
        self.throttle.succeeded(client_ip, &user_id, Instant::now());
        let Some(user) = self.users.get(&user_id) else {
            return Err(expired());
        };
        let page = self.signed_in(request, csrf, self.builtin_user(user), &user.scopes)?;
        Ok((page, Some(user_id)))
    }

    /// The acting user a built-in user stands for.
    fn builtin_user(&self, user: &User) -> ActingUser {
        ActingUser {
            id: user.id.clone(),
            issuer: self.identity.issuer().to_owned(),
            tenant: user.tenant.clone(),
            groups: user.groups.clone(),
        }
    }

    /// Records `user` as signed in on the pending request, granting the requested scopes the
    /// user holds (`held`), and returns the consent page.
    fn signed_in(
        &self,
        request: &str,
        csrf: String,
        user: ActingUser,
        held: &[String],
    ) -> Result<Page, Refusal> {
        let (client, redirect_uri, granted) = {
            let mut map = self.pending.lock();
            let Some(p) = map.get_mut(request) else {
                return Err(expired());
            };
            let granted: Vec<String> = p
                .scopes
                .iter()
                .filter(|s| held.contains(s))
                .cloned()
                .collect();
            p.csrf = csrf.clone();
            p.user = Some(user.clone());
            p.scopes = granted.clone();
            (p.client.clone(), p.redirect_uri.clone(), granted)
        };
        let tools = self.tools_reached(&granted);
        Ok(Page {
            request: request.to_owned(),
            csrf,
            client,
            redirect_uri,
            user: Some(user.id),
            scopes: granted,
            tools,
            notice: None,
            password_form: false,
            upstream: None,
        })
    }

    /// The tools whose required scopes are all among `scopes`.
    pub fn tools_reached(&self, scopes: &[String]) -> Vec<String> {
        self.tools
            .iter()
            .filter(|(_, needed)| needed.iter().all(|s| scopes.contains(s)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Step 3: the consent form. Approved: a code, in the redirect to the client; denied:
    /// `access_denied`. Either way the pending request is used up. Returns the location and the
    /// user and client, for the record.
    pub fn consent(
        &self,
        request: &str,
        csrf: Option<&str>,
        cookie: Option<&str>,
        approve: bool,
    ) -> Result<(String, String, String), Refusal> {
        let signed_in = self.checked_pending(request, csrf, cookie, |p| p.user.is_some())?;
        if !signed_in {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "sign in first".to_owned(),
            });
        }
        let Some(pending) = self.pending.lock().remove(request) else {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "this sign-in has already been answered".to_owned(),
            });
        };
        let Some(user) = pending.user.clone() else {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "sign in first".to_owned(),
            });
        };
        if !approve {
            return Err(Refusal::Redirect {
                location: self.error_location(
                    &pending.redirect_uri,
                    "access_denied",
                    "the user declined",
                    pending.state.as_deref(),
                ),
                code: "access_denied",
            });
        }
        let Some(code) = random_token() else {
            return Err(no_randomness());
        };
        {
            let mut codes = self.codes.lock();
            codes.retain(|_, c| {
                c.expires > Instant::now()
                    || c.redeemed.is_some() && c.expires + PENDING_TTL > Instant::now()
            });
            if codes.len() >= MAX_PENDING {
                return Err(Refusal::Page {
                    code: "temporarily_unavailable",
                    description: "too many sign-ins are in progress; try again in a minute"
                        .to_owned(),
                });
            }
            codes.insert(
                digest(&code),
                Code {
                    client_id: pending.client.id.clone(),
                    redirect_uri: pending.redirect_uri.clone(),
                    challenge: pending.challenge.clone(),
                    resource: pending.resource.clone(),
                    scopes: pending.scopes.clone(),
                    user: user.clone(),
                    expires: Instant::now() + self.config.code_ttl,
                    redeemed: None,
                },
            );
        }
        let mut pairs = vec![("code", code.as_str())];
        if let Some(state) = &pending.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.identity.issuer()));
        Ok((
            with_query(&pending.redirect_uri, &pairs),
            user.id,
            pending.client.id,
        ))
    }

    /// The client a pending request is for (for the record of a form step).
    pub fn pending_client(&self, request: &str) -> Option<String> {
        self.pending
            .lock()
            .get(request)
            .map(|p| p.client.id.clone())
    }

    fn error_location(
        &self,
        redirect_uri: &str,
        code: &str,
        description: &str,
        state: Option<&str>,
    ) -> String {
        let mut pairs = vec![("error", code), ("error_description", description)];
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.identity.issuer()));
        with_query(redirect_uri, &pairs)
    }

    /// The token endpoint's `authorization_code` and `refresh_token` grants (public clients:
    /// `client_id` in the body, no secret).
    pub async fn token(&self, form: &[(String, String)]) -> Granted {
        let parsed = match Form::parse(form) {
            Ok(form) => form,
            Err(err) => {
                return Granted {
                    client_id: String::new(),
                    result: Err(err),
                };
            }
        };
        let client_id = parsed.get("client_id").unwrap_or_default().to_owned();
        let result = match parsed.get("grant_type") {
            Some(AUTHORIZATION_CODE) => self.redeem(&parsed, &client_id).await,
            Some(REFRESH_TOKEN) => self.refresh(&parsed, &client_id).await,
            _ => Err(OAuthError::unsupported_grant_type(
                "not an interactive grant",
            )),
        };
        Granted { client_id, result }
    }

    async fn redeem(&self, form: &Form<'_>, client_id: &str) -> Result<TokenResponse, OAuthError> {
        if client_id.is_empty() {
            return Err(OAuthError::invalid_request("`client_id` is required"));
        }
        if form.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "registered clients are public: send no `client_secret`",
            ));
        }
        let code = form
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("`code` is required"))?;
        let (record, replay) = {
            let mut codes = self.codes.lock();
            match codes.get_mut(&digest(code)) {
                None => return Err(OAuthError::invalid_grant("the code is unknown or expired")),
                Some(c) if c.redeemed.is_some() => (None, c.redeemed.clone()),
                Some(c) => {
                    // Single use, whatever happens next.
                    c.redeemed = Some((String::new(), String::new()));
                    let record = Code {
                        client_id: c.client_id.clone(),
                        redirect_uri: c.redirect_uri.clone(),
                        challenge: c.challenge.clone(),
                        resource: c.resource.clone(),
                        scopes: c.scopes.clone(),
                        user: c.user.clone(),
                        expires: c.expires,
                        redeemed: None,
                    };
                    (Some(record), None)
                }
            }
        };
        let Some(record) = record else {
            if let Some((grant, jti)) = replay.filter(|(g, _)| !g.is_empty()) {
                self.revoke(&grant, Some(jti)).await;
            }
            return Err(OAuthError::invalid_grant(
                "the code was already used; the tokens it produced are revoked",
            ));
        };
        if record.expires <= Instant::now() {
            return Err(OAuthError::invalid_grant("the code has expired"));
        }
        if record.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if form.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "`redirect_uri` does not match the authorization request",
            ));
        }
        let Some(verifier) = form.get("code_verifier") else {
            return Err(OAuthError::invalid_grant(
                "`code_verifier` is required (PKCE)",
            ));
        };
        if !(43..=128).contains(&verifier.len())
            || !verifier
                .bytes()
                .all(|b| is_base64url(b) || b == b'.' || b == b'~')
            || URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())) != record.challenge
        {
            return Err(OAuthError::invalid_grant(
                "`code_verifier` does not match the code challenge",
            ));
        }
        if let Some(resource) = form.get("resource")
            && !self.resource_matches(resource)
        {
            return Err(OAuthError::invalid_target());
        }
        let grant = uuid::Uuid::now_v7().to_string();
        let (response, jti) = self
            .issue(client_id, &record.user, record.scopes.clone(), &grant, true)
            .await?;
        if let Some(c) = self.codes.lock().get_mut(&digest(code)) {
            c.redeemed = Some((grant, jti));
        }
        Ok(response)
    }

    /// Issues an access token (and, when `new_grant` or refreshing, a refresh token) for
    /// `user` and `client_id`; `new_grant` stores the grant.
    async fn issue(
        &self,
        client_id: &str,
        user: &ActingUser,
        scopes: Vec<String>,
        grant: &str,
        new_grant: bool,
    ) -> Result<(TokenResponse, String), OAuthError> {
        let external = user.issuer != self.identity.issuer();
        let acting = if external {
            // A user of the organization's identity provider: as the provider said at sign-in,
            // for as long as that provider is still the configured one.
            if self
                .upstream
                .as_ref()
                .is_none_or(|u| u.issuer() != user.issuer)
            {
                return Err(OAuthError::invalid_grant(
                    "the identity provider this user signed in at is no longer configured; sign in again",
                ));
            }
            user.clone()
        } else {
            // A built-in user: as the configuration says now.
            let Some(builtin) = self.users.get(&user.id) else {
                return Err(OAuthError::invalid_grant("the user no longer exists"));
            };
            self.builtin_user(builtin)
        };
        let roles: Vec<String> = self
            .config
            .client_roles
            .iter()
            .map(ToString::to_string)
            .collect();
        let ttl = self.config.access_token_ttl.as_secs();
        let (mut response, jti) = self.identity.issue_interactive(
            client_id,
            &roles,
            &acting,
            scopes.clone(),
            ttl,
            &self.resource,
        )?;
        let refresh = if self.config.refresh_token_ttl.is_zero() {
            None
        } else {
            Some(random_token().ok_or_else(OAuthError::server_error)?)
        };
        let record = refresh.as_ref().map(|token| RefreshRecord {
            digest: digest(token),
            grant: grant.to_owned(),
            expires_at: self.identity.now().saturating_add(
                i64::try_from(self.config.refresh_token_ttl.as_secs()).unwrap_or(i64::MAX),
            ),
        });
        let stored = if new_grant {
            self.store
                .create_grant(
                    GrantRecord {
                        id: grant.to_owned(),
                        user: acting.id.clone(),
                        user_issuer: external.then(|| acting.issuer.clone()),
                        user_tenant: acting.tenant.clone(),
                        user_groups: acting.groups.clone(),
                        client_id: client_id.to_owned(),
                        scope: scopes.join(" "),
                        resource: self.resource.clone(),
                        created_at: self.identity.now(),
                        revoked_at: None,
                        access_jti: Some(jti.clone()),
                    },
                    record,
                )
                .await
        } else {
            self.store.set_access_jti(grant, &jti).await
        };
        stored.map_err(|err| {
            tracing::error!(%err, "cannot store a grant");
            OAuthError::server_error()
        })?;
        response.refresh_token = refresh;
        Ok((response, jti))
    }

    async fn refresh(&self, form: &Form<'_>, client_id: &str) -> Result<TokenResponse, OAuthError> {
        if client_id.is_empty() {
            return Err(OAuthError::invalid_request("`client_id` is required"));
        }
        let token = form
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("`refresh_token` is required"))?;
        if let Some(resource) = form.get("resource")
            && !self.resource_matches(resource)
        {
            return Err(OAuthError::invalid_target());
        }
        let new = random_token().ok_or_else(OAuthError::server_error)?;
        let record = RefreshRecord {
            digest: digest(&new),
            grant: String::new(),
            expires_at: self.identity.now().saturating_add(
                i64::try_from(self.config.refresh_token_ttl.as_secs()).unwrap_or(i64::MAX),
            ),
        };
        let rotation = self
            .store
            .rotate(&digest(token), record, self.identity.now())
            .await
            .map_err(|err| {
                tracing::error!(%err, "cannot read the grant store");
                OAuthError::server_error()
            })?;
        let grant = match rotation {
            Rotation::Rotated(grant) => grant,
            Rotation::Reused { grant, access_jti } => {
                self.revoke_access(access_jti).await;
                tracing::warn!(%grant, "a refresh token was used twice; its grant is revoked");
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used; the grant is revoked, sign in again",
                ));
            }
            Rotation::Invalid => {
                return Err(OAuthError::invalid_grant(
                    "the refresh token is unknown, expired or revoked",
                ));
            }
        };
        if grant.client_id != client_id {
            // A refresh token in another client's hands has leaked: end the grant.
            self.revoke(&grant.id, grant.access_jti.clone()).await;
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let held: Vec<String> = grant
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let scopes = match form.get("scope") {
            None => held,
            Some(requested) => {
                let mut scopes = Vec::new();
                for s in requested.split(' ').filter(|s| !s.is_empty()) {
                    if !held.iter().any(|h| h == s) {
                        return Err(OAuthError::invalid_scope(format!(
                            "scope `{}` was not granted",
                            truncate_for_message(s, 64)
                        )));
                    }
                    scopes.push(s.to_owned());
                }
                scopes
            }
        };
        let user = ActingUser {
            id: grant.user.clone(),
            issuer: grant
                .user_issuer
                .clone()
                .unwrap_or_else(|| self.identity.issuer().to_owned()),
            tenant: grant.user_tenant.clone(),
            groups: grant.user_groups.clone(),
        };
        let (mut response, _jti) = self
            .issue(client_id, &user, scopes, &grant.id, false)
            .await?;
        // `issue` made a refresh token for a new grant; the rotated one is the one to hand out.
        response.refresh_token = Some(new);
        Ok(response)
    }

    /// Revokes a grant and its last access token.
    async fn revoke(&self, grant: &str, jti: Option<String>) {
        match self.store.revoke_grant(grant, self.identity.now()).await {
            Ok(Some(last)) => self.revoke_access(last.or(jti)).await,
            Ok(None) => self.revoke_access(jti).await,
            Err(err) => tracing::error!(%err, "cannot revoke a grant"),
        }
    }

    async fn revoke_access(&self, jti: Option<String>) {
        if let Some(jti) = jti.filter(|j| !j.is_empty())
            && let Err(err) = self
                .identity
                .revocations()
                .revoke_token(&jti, ChangeSource::AdminApi)
                .await
        {
            tracing::error!(%err, "cannot revoke an access token");
        }
    }

    /// Revokes every grant of `user` and their access tokens; returns the grants revoked.
    pub async fn revoke_user(
        &self,
        user: &str,
    ) -> Result<Vec<GrantRecord>, portcullis_store::StoreError> {
        let grants = self.store.revoke_user(user, self.identity.now()).await?;
        for grant in &grants {
            self.revoke_access(grant.access_jti.clone()).await;
        }
        Ok(grants)
    }
}

/// The "issuer" under which client metadata documents are fetched (egress keeps one client
/// per purpose).
pub const CLIENT_METADATA: &str = "client-metadata-documents";

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// The SHA-256 of a secret token, hex: how codes and refresh tokens are stored.
fn digest(token: &str) -> String {
    sha256(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 256 random bits, base64url; `None` if the system generator failed (never a fixed value).
fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// A form or callback for a pending request that is unknown or too old.
fn expired() -> Refusal {
    Refusal::Page {
        code: "invalid_request",
        description: "this sign-in has expired or is unknown; start again from the application"
            .to_owned(),
    }
}

fn no_randomness() -> Refusal {
    tracing::error!("random generator failed");
    Refusal::Page {
        code: "server_error",
        description: "the server cannot sign you in right now".to_owned(),
    }
}

fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `uri` with `pairs` added to its query (a registered redirect URI, which has no fragment).
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key, value);
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{}", query.finish())
}
