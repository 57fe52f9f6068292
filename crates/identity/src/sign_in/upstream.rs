//! Sign-in at the organization's identity provider: the gateway is an OpenID Connect relying
//! party (OpenID Connect Core 1.0, authorization-code flow) between the MCP client and the
//! provider.
//!
//! 1. The sign-in page offers a button; its form ([`SignIn::start_upstream`]) passes the pending
//!    request's CSRF check, then the gateway redirects the browser to the provider's
//!    authorization endpoint with a fresh `state`, `nonce` and PKCE S256 challenge, and sets a
//!    `SameSite=Lax` cookie holding a random binding (the provider's redirect back is a
//!    cross-site navigation, which a `Strict` cookie would not survive).
//! 2. The provider sends the browser back to `/oauth/callback` ([`SignIn::finish_upstream`]):
//!    the `state` finds the pending request, the binding cookie proves it is the browser that
//!    started it (no login CSRF: an attacker's own callback URL is useless in another browser),
//!    and the leg is used up whatever happens next. The code is redeemed at the provider's token
//!    endpoint through egress (the only component that opens connections), with the PKCE
//!    verifier and, for a confidential registration, the client secret.
//! 3. The ID token is verified with the provider's keys (those of its `identity_providers`
//!    entry: pinned algorithms, issuer, expiry), its audience must be this gateway's client id
//!    and its `nonce` the one sent. Its claims map to the user, tenant and groups by the entry's
//!    `claims`, exactly as for a token exchange; the user's scopes are the token's scope claim
//!    or the entry's `default_scopes`. The consent page follows, as for a built-in user.
//!
//! The provider's access and refresh tokens are not kept: the gateway issues its own tokens,
//! whose refresh carries the user as the provider described them at sign-in, for as long as
//! that provider stays configured. Signing in again picks up changed groups.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_config::UpstreamSignIn;
use portcullis_core::{ActingUser, truncate_for_message};
use portcullis_secrets::{Secret, SecretStore};
use serde_json::Value;

use super::{Form, Page, Refusal, SignIn, expired, no_randomness, random_token, sha256};
use crate::error::IdentityError;
use crate::external::IdTokenExpectations;

/// The path the provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// The configured provider and this gateway's registration there.
pub(crate) struct Upstream {
    config: UpstreamSignIn,
    secret: Option<Secret>,
    callback: String,
}

/// The state of one pending request's visit to the provider.
pub(super) struct Leg {
    state: String,
    nonce: String,
    verifier: String,
    binding: String,
}

/// The sign-in page's button for the provider.
#[derive(Clone, Debug)]
pub struct Button {
    /// Its text.
    pub label: String,
    /// The origin of the provider's authorization endpoint, which the page's form answer
    /// redirects to (for the Content-Security-Policy's `form-action`).
    pub origin: Option<String>,
}

/// Where [`SignIn::start_upstream`] sends the browser.
#[derive(Debug)]
pub struct UpstreamStart {
    /// The provider's authorization URL.
    pub location: String,
    /// The value of the binding cookie to set on the redirect.
    pub binding: String,
}

impl Upstream {
    pub(super) fn new(
        config: &UpstreamSignIn,
        secrets: &SecretStore,
        base_url: &str,
    ) -> Result<Self, IdentityError> {
        let secret = config
            .client_secret
            .as_ref()
            .map(|reference| {
                secrets
                    .resolve(reference)
                    .map_err(|source| IdentityError::Secret {
                        agent: format!("sign_in.identity_provider ({})", config.client_id),
                        source,
                    })
            })
            .transpose()?;
        Ok(Self {
            config: config.clone(),
            secret,
            callback: format!("{}{CALLBACK_PATH}", base_url.trim_end_matches('/')),
        })
    }

    pub(super) fn issuer(&self) -> &str {
        &self.config.issuer
    }
}

/// The provider could not be used (discovery, the token endpoint): shown to the user, logged
/// in full.
fn unavailable(what: &str, detail: &str) -> Refusal {
    tracing::warn!(detail, "{what}");
    Refusal::Page {
        code: "temporarily_unavailable",
        description: format!("{what}; try again later or ask your administrator"),
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

impl SignIn {
    /// The button for the provider, when one is configured. Reads the provider's discovery
    /// document (cached) for the authorization endpoint's origin; when it cannot be read the
    /// button is still shown and pressing it reports the outage.
    pub(super) async fn button(&self) -> Option<Button> {
        let upstream = self.upstream.as_ref()?;
        let origin = match self.provider_endpoints(upstream).await {
            Ok(endpoints) => url::Url::parse(&endpoints.authorization)
                .ok()
                .map(|u| u.origin().ascii_serialization()),
            Err(_) => None,
        };
        Some(Button {
            label: upstream.config.label.clone(),
            origin,
        })
    }

    async fn provider_endpoints(
        &self,
        upstream: &Upstream,
    ) -> Result<crate::external::Endpoints, Refusal> {
        let what = "the organization's sign-in service cannot be reached";
        let Some(issuer) = self.identity.external.get(upstream.issuer()) else {
            return Err(unavailable(what, "the provider is not configured"));
        };
        let Some(fetcher) = self.identity.external.fetcher() else {
            return Err(unavailable(what, "no fetcher is installed"));
        };
        issuer
            .endpoints(fetcher.as_ref())
            .await
            .map_err(|err| unavailable(what, &err))
    }

    /// The sign-in page's provider button was pressed: checks the form's CSRF token and sends
    /// the browser to the provider.
    pub async fn start_upstream(
        &self,
        request: &str,
        csrf: Option<&str>,
        cookie: Option<&str>,
    ) -> Result<UpstreamStart, Refusal> {
        let Some(upstream) = &self.upstream else {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "this server offers no external sign-in".to_owned(),
            });
        };
        self.checked_pending(request, csrf, cookie, |_| ())?;
        let endpoints = self.provider_endpoints(upstream).await?;
        let (Some(state), Some(nonce), Some(verifier), Some(binding)) = (
            random_token(),
            random_token(),
            random_token(),
            random_token(),
        ) else {
            return Err(no_randomness());
        };
        let challenge = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
        let scope = upstream.config.scopes.join(" ");
        let location = super::with_query(
            &endpoints.authorization,
            &[
                ("response_type", "code"),
                ("client_id", &upstream.config.client_id),
                ("redirect_uri", &upstream.callback),
                ("scope", &scope),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        {
            let mut map = self.pending.lock();
            let Some(pending) = map.get_mut(request) else {
                return Err(expired());
            };
            pending.upstream = Some(Leg {
                state,
                nonce,
                verifier,
                binding: binding.clone(),
            });
        }
        Ok(UpstreamStart { location, binding })
    }

    /// The pending request a callback's `state` belongs to (its id), if the browser's binding
    /// cookie matches; the leg is taken out either way, so a callback works once.
    fn take_leg(&self, state: &str, binding: Option<&str>) -> Result<(String, Leg), Refusal> {
        let mut map = self.pending.lock();
        let found = map
            .iter_mut()
            .filter(|(_, p)| p.created.elapsed() < super::PENDING_TTL)
            .find(|(_, p)| {
                p.upstream
                    .as_ref()
                    .is_some_and(|l| constant_eq(&l.state, state))
            });
        let Some((id, pending)) = found else {
            return Err(expired());
        };
        let id = id.clone();
        let Some(leg) = pending.upstream.take() else {
            return Err(expired());
        };
        if !binding.is_some_and(|b| constant_eq(b, &leg.binding)) {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "this sign-in was started in another browser (its cookie is missing); start again from the application".to_owned(),
            });
        }
        Ok((id, leg))
    }

    /// The provider sent the browser back (`GET /oauth/callback`): redeems the code, verifies
    /// the ID token and shows the consent page. Returns the page and the user, for the record.
    pub async fn finish_upstream(
        &self,
        query: &[(String, String)],
        binding: Option<&str>,
    ) -> Result<(Page, String), Refusal> {
        let Some(upstream) = &self.upstream else {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "this server offers no external sign-in".to_owned(),
            });
        };
        let form = Form::parse(query).map_err(|e| Refusal::Page {
            code: "invalid_request",
            description: e.error_description,
        })?;
        let Some(state) = form.get("state") else {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "the identity provider's answer has no `state`".to_owned(),
            });
        };
        let (request, leg) = self.take_leg(state, binding)?;
        if let Some(error) = form.get("error") {
            // The user cancelled, or the provider refused: the client hears `access_denied`.
            let error: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            let Some(pending) = self.pending.lock().remove(&request) else {
                return Err(expired());
            };
            return Err(Refusal::Redirect {
                location: self.error_location(
                    &pending.redirect_uri,
                    "access_denied",
                    &format!("the organization's sign-in did not sign the user in ({error})"),
                    pending.state.as_deref(),
                ),
                code: "access_denied",
            });
        }
        if form
            .get("iss")
            .is_some_and(|iss| iss != upstream.config.issuer)
        {
            // RFC 9207: an answer naming another issuer is a mix-up attempt.
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "the answer came from another identity provider".to_owned(),
            });
        }
        let Some(code) = form.get("code") else {
            return Err(Refusal::Page {
                code: "invalid_request",
                description: "the identity provider's answer has no `code`".to_owned(),
            });
        };
        let id_token = self.redeem_upstream(upstream, code, &leg.verifier).await?;
        let expected = IdTokenExpectations {
            client_id: &upstream.config.client_id,
            nonce: &leg.nonce,
        };
        let claims = self
            .identity
            .external
            .verify_id_token(
                &upstream.config.issuer,
                &id_token,
                &expected,
                self.identity.now(),
                self.identity.leeway,
            )
            .await
            .map_err(|err| {
                tracing::warn!(%err, "an ID token from the organization's identity provider was refused");
                Refusal::Page {
                    code: "access_denied",
                    description: format!(
                        "the identity provider's answer could not be verified: {err}"
                    ),
                }
            })?;
        let user = ActingUser {
            issuer: upstream.config.issuer.clone(),
            ..claims.user
        };
        let Some(csrf) = random_token() else {
            return Err(no_randomness());
        };
        let id = user.id.clone();
        let page = self.signed_in(&request, csrf, user, &claims.scopes)?;
        Ok((page, id))
    }

    /// Redeems the provider's code at its token endpoint (through egress); returns the ID
    /// token.
    async fn redeem_upstream(
        &self,
        upstream: &Upstream,
        code: &str,
        verifier: &str,
    ) -> Result<String, Refusal> {
        let what = "the organization's sign-in service did not complete the sign-in";
        let endpoints = self.provider_endpoints(upstream).await?;
        let Some(fetcher) = self.identity.external.fetcher() else {
            return Err(unavailable(what, "no fetcher is installed"));
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", upstream.callback.as_str()),
            ("code_verifier", verifier),
        ];
        let basic = upstream
            .secret
            .as_ref()
            .map(|secret| (upstream.config.client_id.as_str(), secret));
        if basic.is_none() {
            form.push(("client_id", upstream.config.client_id.as_str()));
        }
        let (status, body) = fetcher
            .post_form(&upstream.config.issuer, &endpoints.token, &form, basic)
            .await
            .map_err(|err| unavailable(what, &err.to_string()))?;
        if status != 200 {
            let error = body
                .get("error")
                .and_then(Value::as_str)
                .map(|e| truncate_for_message(e, 64))
                .unwrap_or_default();
            return Err(unavailable(
                what,
                &format!("the token endpoint answered HTTP {status} {error}"),
            ));
        }
        body.get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| unavailable(what, "the token endpoint's answer has no `id_token`"))
    }
}
