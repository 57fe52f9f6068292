//! Access token format (RFC 9068 JWT) and the header and claim checks of RFC 8725.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::de::{Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::error::VerifyError;
use crate::key::{KeySet, SigningKey};

/// The `typ` header of an RFC 9068 access token.
pub(crate) const TOKEN_TYPE: &str = "at+jwt";
/// Tokens longer than this are rejected before any parsing.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The claims this server puts into an access token.
#[derive(Serialize)]
pub(crate) struct IssuedClaims<'a> {
    pub(crate) iss: &'a str,
    pub(crate) sub: &'a str,
    pub(crate) aud: &'a str,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) nbf: i64,
    pub(crate) jti: String,
    pub(crate) client_id: &'a str,
    pub(crate) scope: String,
    pub(crate) roles: &'a [String],
}

/// The claims read back from a token whose signature verified. Missing required claims fail
/// deserialization; unknown claims are ignored.
#[derive(Deserialize)]
pub(crate) struct VerifiedClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: Audience,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    #[serde(default)]
    pub(crate) nbf: Option<i64>,
    pub(crate) jti: String,
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(default)]
    pub(crate) roles: Vec<String>,
}

/// `aud`: one string or an array of strings (RFC 7519 section 4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(aud) => aud == audience,
            Self::Many(auds) => auds.iter().any(|aud| aud == audience),
        }
    }
}

/// The header fields checked before the signature. Duplicate names are a parse error.
#[derive(Deserialize)]
struct RawHeader {
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// True whenever the member is there, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// The JWS header of a token we issue.
pub(crate) fn header(key: &SigningKey) -> Header {
    let mut header = Header::new(key.algorithm);
    header.typ = Some(TOKEN_TYPE.to_owned());
    header.kid = Some(key.kid.clone());
    header
}

/// The JWS `alg` name of a key's algorithm.
pub(crate) fn alg_str(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::EdDSA => "EdDSA",
        _ => "ES256",
    }
}

/// RFC 8725 header checks, before any cryptography: a key id naming a key in force, the
/// algorithm pinned to that key, explicit type, and none of the members that would let a token
/// choose its own key. Returns the key to verify with.
pub(crate) fn check_header<'k>(
    token: &str,
    keys: &'k KeySet,
) -> Result<&'k SigningKey, VerifyError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed("not three dot-separated parts"));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(VerifyError::Malformed("a part is empty"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| VerifyError::Malformed("header is not base64url"))?;
    let raw: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;
    for (name, there) in [
        ("jku", raw.jku),
        ("jwk", raw.jwk),
        ("x5u", raw.x5u),
        ("x5c", raw.x5c),
        ("crit", raw.crit),
    ] {
        if there {
            return Err(VerifyError::ForbiddenHeader(name));
        }
    }
    let kid = raw.kid.unwrap_or_default();
    let key = keys.find(&kid);
    let alg = raw.alg.unwrap_or_default();
    // The algorithm of the named key; for an unknown key id, one any key in force uses, so that
    // a foreign algorithm is reported as such whatever the key id.
    let alg_known = match key {
        Some(key) => alg == alg_str(key.algorithm),
        None => keys.keys().iter().any(|k| alg == alg_str(k.algorithm)),
    };
    if !alg_known {
        return Err(VerifyError::Algorithm(clip(&alg)));
    }
    let typ = raw.typ.unwrap_or_default();
    if !typ.eq_ignore_ascii_case(TOKEN_TYPE) && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(VerifyError::Type(clip(&typ)));
    }
    key.map(|key| &**key)
        .ok_or_else(|| VerifyError::KeyId(clip(&kid)))
}

/// The jsonwebtoken validation: exactly one algorithm, issuer, audience and the registered
/// claims it knows how to require. Time checks are repeated by the caller with its own clock.
pub(crate) fn validation(
    algorithm: Algorithm,
    issuer: &str,
    audience: &str,
    leeway: u64,
) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.algorithms = vec![algorithm];
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.leeway = leeway;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation
}

/// Maps a jsonwebtoken failure onto our reasons.
pub(crate) fn map_jwt_error(error: &jsonwebtoken::errors::Error) -> VerifyError {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => VerifyError::Signature,
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        ErrorKind::InvalidIssuer => VerifyError::Issuer,
        ErrorKind::InvalidAudience => VerifyError::Audience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => VerifyError::Algorithm("mismatch".to_owned()),
        ErrorKind::MissingRequiredClaim(claim) => {
            VerifyError::Claims(format!("`{}` is missing", clip(claim)))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            VerifyError::Claims(format!("`{}` has the wrong type", clip(claim)))
        }
        ErrorKind::Json(e) => VerifyError::Claims(clip(&e.to_string())),
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
            VerifyError::Malformed("payload or signature is not valid")
        }
        _ => VerifyError::Signature,
    }
}

/// Attacker-controlled text shortened for a log line.
fn clip(text: &str) -> String {
    portcullis_core::truncate_for_message(text, 64)
}
