//! Access token format (RFC 9068 JWT) and the header and claim checks of RFC 8725.

use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};

use crate::error::VerifyError;
use crate::jws::Jws;
pub(crate) use crate::jws::alg_str;
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
    /// The acting agent chain (RFC 8693 section 4.1) when the token stands for a user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) act: Option<Act>,
    /// The issuer that authenticated the user, when the token stands for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_iss: Option<&'a str>,
    /// The user's tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tenant: Option<&'a str>,
    /// The user's groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) groups: Option<&'a [String]>,
    /// The certificate a bound token is bound to (RFC 8705 section 3.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cnf: Option<Confirmation>,
}

/// The `cnf` claim of a certificate-bound token.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct Confirmation {
    #[serde(rename = "x5t#S256")]
    pub(crate) x5t_s256: String,
}

/// Longest delegation chain (`act` nesting) a token may carry.
pub(crate) const MAX_ACT_DEPTH: usize = 4;

/// The `act` claim: the agent acting, and who it acted for in turn.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct Act {
    pub(crate) sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) act: Option<Box<Act>>,
}

impl Act {
    /// The agents of the chain, outermost first.
    pub(crate) fn chain(&self) -> Vec<String> {
        let mut chain = vec![self.sub.clone()];
        let mut next = self.act.as_deref();
        while let Some(act) = next {
            chain.push(act.sub.clone());
            next = act.act.as_deref();
        }
        chain
    }

    /// The chain as nested claims, outermost first.
    pub(crate) fn from_chain(chain: &[String]) -> Option<Self> {
        let mut act: Option<Self> = None;
        for sub in chain.iter().rev() {
            act = Some(Self {
                sub: sub.clone(),
                act: act.map(Box::new),
            });
        }
        act
    }
}

/// The claims read back from a token whose signature verified. Missing required claims fail
/// deserialization; a missing optional claim is `None` or empty; unknown claims are ignored.
#[derive(Deserialize)]
pub(crate) struct VerifiedClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: Audience,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) nbf: Option<i64>,
    pub(crate) jti: String,
    pub(crate) client_id: String,
    pub(crate) scope: Option<String>,
    #[serde(default)]
    pub(crate) roles: Vec<String>,
    pub(crate) act: Option<Act>,
    pub(crate) user_iss: Option<String>,
    pub(crate) tenant: Option<String>,
    #[serde(default)]
    pub(crate) groups: Vec<String>,
    pub(crate) cnf: Option<Confirmation>,
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

/// The JWS header of a token we issue.
pub(crate) fn header(key: &SigningKey) -> Header {
    let mut header = Header::new(key.algorithm);
    header.typ = Some(TOKEN_TYPE.to_owned());
    header.kid = Some(key.kid.clone());
    header
}

/// The RFC 8725 and RFC 9068 header checks, before any cryptography: forbidden members, the
/// key the `kid` names among the keys in force, the algorithm pinned to that key, explicit type.
/// Returns the key to verify with.
pub(crate) fn check_header<'k>(
    jws: &Jws<'_>,
    keys: &'k KeySet,
) -> Result<&'k SigningKey, VerifyError> {
    let header = &jws.header;
    let kid = header.kid.as_deref().unwrap_or_default();
    let key = keys.find(kid);
    // For an unknown key id, the binding is checked against the algorithm of any key in force,
    // so that a foreign algorithm or a forbidden member is reported as such whatever the kid.
    let algorithm = match key {
        Some(key) => key.algorithm,
        None => keys
            .keys()
            .iter()
            .map(|k| k.algorithm)
            .find(|&algorithm| jws.check_key_binding(algorithm).is_ok())
            .unwrap_or(keys.current().algorithm),
    };
    jws.check_key_binding(algorithm)?;
    let typ = header.typ.as_deref().unwrap_or_default();
    if !typ.eq_ignore_ascii_case(TOKEN_TYPE) && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(VerifyError::Type(clip(typ)));
    }
    key.map(|key| &**key)
        .ok_or_else(|| VerifyError::KeyId(clip(kid)))
}

/// Reads the claims of a payload whose signature verified. A missing or mistyped claim, a
/// duplicated claim name or a payload that is not a JSON object is [`VerifyError::Claims`].
pub(crate) fn claims(payload: &[u8]) -> Result<VerifiedClaims, VerifyError> {
    if !crate::jws::is_json_object(payload) {
        return Err(VerifyError::Claims(
            "the payload is not a JSON object".to_owned(),
        ));
    }
    serde_json::from_slice(payload).map_err(|e| VerifyError::Claims(clip(&e.to_string())))
}

/// Attacker-controlled text shortened for a log line.
fn clip(text: &str) -> String {
    portcullis_core::truncate_for_message(text, 64)
}
