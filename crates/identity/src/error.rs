//! The error types of this crate: start-up failures ([`IdentityError`]), token endpoint answers
//! ([`OAuthError`]), identify refusals ([`IdentifyError`]), token rejections ([`VerifyError`])
//! and revocation store failures ([`RevocationError`]). [`crate::FetchError`] sits beside the
//! trait it belongs to.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Why the identity component could not start, or why a secret could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The data folder could not be created or is not a folder.
    #[error("data folder `{path}` cannot be used: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No signing key exists in the data folder, and this use may not create one.
    #[error(
        "no signing key in `{dir}`: this is not the data folder of a gateway that has started \
         (give the gateway's `--data-dir`, or start the gateway once)"
    )]
    NoSigningKey {
        /// The keys folder.
        dir: PathBuf,
    },
    /// The signing key file exists but could not be read.
    #[error("signing key `{path}` cannot be read: {source}")]
    KeyRead {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The signing key file could not be written.
    #[error("signing key `{path}` cannot be written: {source}")]
    KeyWrite {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The signing key file is not a usable key. It is never replaced automatically.
    #[error(
        "signing key `{path}` is corrupt ({reason}); restore it from a backup, or move it away to generate a new key (tokens already issued then stop working)"
    )]
    KeyCorrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong, without key material.
        reason: String,
    },
    /// The signing key on disk is for another algorithm than the configuration asks for.
    #[error(
        "signing key `{path}` is an `{found}` key but `issuer.algorithm` is `{configured}`; set `issuer.algorithm: {found}` or move the key file away to generate a new key"
    )]
    AlgorithmMismatch {
        /// The key file.
        path: PathBuf,
        /// The key's algorithm.
        found: &'static str,
        /// The configured algorithm.
        configured: &'static str,
    },
    /// Key generation or signing failed inside the crypto library.
    #[error("signing key failure: {0}")]
    Crypto(String),
    /// An agent's `client_secret` reference could not be resolved.
    #[error("agent `{agent}`: {source}")]
    Secret {
        /// The agent id.
        agent: String,
        /// The cause; it names the reference, never the value.
        source: portcullis_secrets::SecretError,
    },
    /// An agent's `client_secret_hash` is not a usable argon2 PHC string.
    #[error("agent `{agent}`: `client_secret_hash` is not a valid argon2 PHC string ({reason})")]
    SecretHash {
        /// The agent id.
        agent: String,
        /// What is wrong with the string.
        reason: String,
    },
    /// Hashing a client secret failed.
    #[error("cannot hash the secret: {0}")]
    Hash(String),
}

/// An RFC 6749 section 5.2 error answer of the token endpoint.
///
/// Only `error` and `error_description` are serialized; the HTTP layer uses `status` and, when
/// `challenge` is set, adds `WWW-Authenticate: Basic realm="portcullis"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    /// The RFC 6749 error code (`invalid_request`, `invalid_client`, ...).
    pub error: &'static str,
    /// A human-readable explanation; never contains a secret or a token.
    pub error_description: String,
    /// The HTTP status: 400, 401 for `invalid_client`, or 500 for an internal failure.
    #[serde(skip)]
    pub status: u16,
    /// Whether the answer must carry a `WWW-Authenticate: Basic` challenge.
    #[serde(skip)]
    pub challenge: bool,
    /// Detail for the audit record only (why an authenticated client was refused).
    #[serde(skip)]
    pub internal: Option<&'static str>,
    /// Seconds for a `Retry-After` header (429 and 503 answers).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// The request is malformed (missing or repeated parameter, two client authentication
    /// methods at once).
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_request",
            error_description: description.into(),
            status: 400,
            challenge: false,
            internal: None,
            retry_after: None,
        }
    }

    /// Client authentication failed. The same answer is given for an unknown client, a wrong
    /// secret and a missing or unsupported authentication method, so the answer does not tell
    /// which client ids exist. It is always 401 with a Basic challenge (RFC 6749 section 5.2,
    /// RFC 9110 section 15.5.2).
    pub fn invalid_client() -> Self {
        Self {
            error: "invalid_client",
            error_description: "client authentication failed".to_owned(),
            status: 401,
            challenge: true,
            internal: None,
            retry_after: None,
        }
    }

    /// Adds detail for the audit record; the client never sees it.
    #[must_use]
    pub fn with_internal(mut self, detail: &'static str) -> Self {
        self.internal = Some(detail);
        self
    }

    /// The grant type is not `client_credentials`.
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self {
            error: "unsupported_grant_type",
            error_description: description.into(),
            status: 400,
            challenge: false,
            internal: None,
            retry_after: None,
        }
    }

    /// A requested scope is malformed or not granted to the client.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_scope",
            error_description: description.into(),
            status: 400,
            challenge: false,
            internal: None,
            retry_after: None,
        }
    }

    /// The requested `resource` (RFC 8707) is not this gateway.
    pub fn invalid_target() -> Self {
        Self {
            error: "invalid_target",
            error_description: "`resource` does not name this gateway; use the URL of its MCP endpoint or its public URL".to_owned(),
            status: 400,
            challenge: false,
            internal: None,
            retry_after: None,
        }
    }

    /// The grant (for token exchange: the subject token) is invalid, expired, revoked, or does
    /// not allow this client to act (RFC 6749 section 5.2, RFC 8693 section 2.2.2).
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_grant",
            error_description: description.into(),
            status: 400,
            challenge: false,
            internal: None,
            retry_after: None,
        }
    }

    /// The authenticated client may not use this grant type.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self {
            error: "unauthorized_client",
            error_description: description.into(),
            status: 400,
            challenge: false,
            internal: None,
            retry_after: None,
        }
    }

    /// Too many failed client authentications from this address or naming this client id:
    /// 429 with `Retry-After`, and no secret was checked.
    pub fn throttled(throttled: crate::Throttled) -> Self {
        let (why, internal) = match throttled {
            crate::Throttled::Address(_) => (
                "too many failed client authentications from this address",
                "throttled: address",
            ),
            crate::Throttled::Client(_) => (
                "too many failed client authentications for this client id from addresses it has not authenticated from",
                "throttled: client id",
            ),
        };
        let wait = throttled.retry_after_secs();
        Self {
            error: "temporarily_unavailable",
            error_description: format!("{why}; retry after {wait} s"),
            status: 429,
            challenge: false,
            internal: Some(internal),
            retry_after: Some(wait),
        }
    }

    /// Every turn to check a secret stayed taken for a second: 503 with `Retry-After`.
    pub fn busy() -> Self {
        Self {
            error: "temporarily_unavailable",
            error_description: "the token endpoint is busy; retry after 1 s".to_owned(),
            status: 503,
            challenge: false,
            internal: Some("secret checks saturated"),
            retry_after: Some(1),
        }
    }

    /// The gateway failed to produce a token (signing failure); not the client's fault.
    pub fn server_error() -> Self {
        Self {
            error: "server_error",
            error_description: "the token could not be issued".to_owned(),
            status: 500,
            challenge: false,
            internal: None,
            retry_after: None,
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.error_description)
    }
}

impl std::error::Error for OAuthError {}

/// Why a bearer token was rejected. The text is for logs and the audit record only; agents get
/// a generic 401. It never contains the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a compact JWS with a JSON header and payload.
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not the one our key uses.
    #[error("token algorithm `{0}` is not accepted")]
    Algorithm(String),
    /// The header's `typ` is missing or not `at+jwt`.
    #[error("token type `{0}` is not `at+jwt`")]
    Type(String),
    /// The header's `kid` is missing or is not our key's id.
    #[error("token key id `{0}` is unknown")]
    KeyId(String),
    /// The header carries a key-locating or critical parameter this server never issues.
    #[error("token header carries `{0}`, which is never accepted")]
    ForbiddenHeader(&'static str),
    /// The signature does not verify with our key.
    #[error("token signature is invalid")]
    Signature,
    /// `exp` has passed (beyond the configured leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the configured leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the configured leeway).
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// `iss` is not this issuer.
    #[error("token issuer is not accepted")]
    Issuer,
    /// `aud` does not name this gateway.
    #[error("token audience does not include this gateway")]
    Audience,
    /// A required claim is missing or has the wrong type.
    #[error("token claims are invalid: {0}")]
    Claims(String),
    /// The token's `client_id` is not a configured agent.
    #[error("token agent `{0}` is not configured")]
    UnknownAgent(String),
    /// `exp - iat` exceeds `issuer.max_token_ttl`.
    #[error("token lifetime exceeds `issuer.max_token_ttl`")]
    Lifetime,
    /// The token, or every token of its agent, was revoked.
    #[error("token is revoked: {0}")]
    Revoked(&'static str),
    /// The token's agent is disabled.
    #[error("token agent is disabled")]
    AgentDisabled,
}

/// Why the identify stage refused a request ([`crate::Identity::identify`]). The text is the
/// detail of the audit record; agents get a generic 401. It never contains the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentifyError {
    /// A certificate-bound token (RFC 8705) came over a connection that did not present its
    /// certificate.
    #[error("certificate-bound token presented without its certificate")]
    CertificateMismatch,
    /// The request has no `Authorization` header.
    #[error("no authorization header")]
    HeaderMissing,
    /// The query string carried `access_token`: a token in a URL ends up in logs and
    /// histories, so it is refused whatever the header says.
    #[error("token in query string refused")]
    QueryToken,
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("authorization scheme is not bearer")]
    Scheme,
    /// The token was refused: its text is the verification error's.
    #[error(transparent)]
    Token(#[from] VerifyError),
}

/// Why a revocation could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// The data folder could not be created.
    #[error("data folder `{path}` cannot be used: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The revocation database failed.
    #[error("revocation store `{path}`: {source}")]
    Store {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: sqlx::Error,
    },
    /// The `jti` is empty, too long or not printable ASCII.
    #[error("a token id must be 1 to 256 printable ASCII characters")]
    InvalidJti,
    /// The agent is not configured.
    #[error("agent `{0}` is not configured")]
    UnknownAgent(String),
    /// This store was built without a database and cannot change.
    #[error("the revocation store is read-only")]
    ReadOnly,
}
