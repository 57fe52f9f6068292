//! Compact JWS (RFC 7515) parsing and signature checking, and the one rule for turning a public
//! JWK into a verifying key ([`PublicJwk::screen`]), for this gateway's keys and external
//! issuers' alike.
//!
//! This is the single place where a token's signature is checked: [`crate::Identity::verify`]
//! goes through [`Jws::check_key_binding`] and [`Jws::verify_signature`], and the Wycheproof
//! vector tests drive the same functions. Only ES256 (P-256, signature as `r || s`) and EdDSA
//! (Ed25519) are accepted; every other algorithm, symmetric keys included, is refused before
//! any cryptography runs.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
};
use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny};

use crate::error::VerifyError;

/// The JWS `alg` name of an algorithm this crate verifies.
pub(crate) fn alg_str(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::EdDSA => "EdDSA",
        _ => "ES256",
    }
}

/// The JOSE name of any algorithm, for messages.
fn alg_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        _ => "asymmetric",
    }
}

/// A public key with the one algorithm it may verify.
pub(crate) struct VerifyingKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) decoding: DecodingKey,
}

/// Why a JWK is not accepted as a verifying key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwkRefused {
    /// Not a JSON object, or members of the wrong type.
    #[error("not a well-formed JWK")]
    Malformed,
    /// A private or symmetric key: never published in a key set.
    #[error("the JWK carries private or symmetric key material")]
    Secret,
    /// A key type or curve outside the families the caller accepts.
    #[error("key type or curve is not accepted")]
    KeyType,
    /// `alg` names another algorithm than the key's type allows.
    #[error("`alg` does not match the key")]
    Algorithm,
    /// `use` is not `sig`, or `key_ops` does not allow `verify`.
    #[error("the key is not meant for signature verification")]
    Usage,
    /// The coordinates do not form a valid public key.
    #[error("the public key is not a valid point")]
    Point,
    /// An RSA modulus shorter than 2048 bits.
    #[error("the RSA key is shorter than 2048 bits")]
    Weak,
}

/// The kinds of public key a JWK may hold, by the algorithms they verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// RSA, at least 2048 bits: RS256/384/512 and PS256/384/512.
    Rsa,
    /// EC P-256: ES256.
    P256,
    /// EC P-384: ES384.
    P384,
    /// OKP Ed25519: EdDSA.
    Ed25519,
}

impl Family {
    /// Whether a key of this family can verify `algorithm`.
    pub(crate) fn fits(self, algorithm: Algorithm) -> bool {
        match algorithm {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => self == Self::Rsa,
            Algorithm::ES256 => self == Self::P256,
            Algorithm::ES384 => self == Self::P384,
            Algorithm::EdDSA => self == Self::Ed25519,
            _ => false,
        }
    }
}

/// A public JWK that passed screening: its key, its family and the algorithm its `alg` pins.
pub(crate) struct PublicJwk {
    pub(crate) family: Family,
    pub(crate) decoding: DecodingKey,
    /// The JWK's `alg`, when it has one: the only algorithm the key may verify.
    pub(crate) alg: Option<Algorithm>,
}

impl PublicJwk {
    /// The single rule for a public JWK, whether it is one of this gateway's keys or comes from
    /// an external issuer's key set.
    ///
    /// Refused: anything with private members (`d`, RSA primes, `k`); `use` other than `sig`
    /// or `key_ops` without `verify`; a family outside `accepted` (checked before any key
    /// material is decoded); an RSA modulus under 2048 bits; EC coordinates of the wrong
    /// length or off the curve; an `alg` the key's family cannot verify.
    pub(crate) fn screen(
        value: &serde_json::Value,
        accepted: &[Family],
    ) -> Result<Self, JwkRefused> {
        let object = value.as_object().ok_or(JwkRefused::Malformed)?;
        if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|member| object.contains_key(*member))
        {
            return Err(JwkRefused::Secret);
        }
        let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|_| JwkRefused::Malformed)?;
        match &jwk.common.public_key_use {
            None | Some(PublicKeyUse::Signature) => {}
            Some(_) => return Err(JwkRefused::Usage),
        }
        if let Some(ops) = &jwk.common.key_operations
            && !ops.contains(&KeyOperations::Verify)
        {
            return Err(JwkRefused::Usage);
        }
        let accept = |family: Family| {
            if accepted.contains(&family) {
                Ok(family)
            } else {
                Err(JwkRefused::KeyType)
            }
        };
        let (family, decoding) = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let family = accept(Family::Rsa)?;
                let modulus = URL_SAFE_NO_PAD
                    .decode(&rsa.n)
                    .map_err(|_| JwkRefused::Malformed)?;
                let bits = modulus
                    .iter()
                    .position(|&b| b != 0)
                    .map_or(0, |first| (modulus.len() - first) * 8);
                if bits < 2048 {
                    return Err(JwkRefused::Weak);
                }
                let decoding = DecodingKey::from_rsa_components(&rsa.n, &rsa.e)
                    .map_err(|_| JwkRefused::Malformed)?;
                (family, decoding)
            }
            AlgorithmParameters::EllipticCurve(ec) => {
                let (family, size, verifier) = match ec.curve {
                    EllipticCurve::P256 => (Family::P256, 32, &ECDSA_P256_SHA256_FIXED),
                    EllipticCurve::P384 => (Family::P384, 48, &ECDSA_P384_SHA384_FIXED),
                    _ => return Err(JwkRefused::KeyType),
                };
                let family = accept(family)?;
                let x = decode_exact(&ec.x, size)?;
                let y = decode_exact(&ec.y, size)?;
                let point = [&[0x04u8][..], x.as_slice(), y.as_slice()].concat();
                ParsedPublicKey::new(verifier, &point).map_err(|_| JwkRefused::Point)?;
                let decoding =
                    DecodingKey::from_ec_components(&ec.x, &ec.y).map_err(|_| JwkRefused::Point)?;
                (family, decoding)
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                let family = accept(Family::Ed25519)?;
                let x = decode_exact(&okp.x, 32)?;
                ParsedPublicKey::new(&ED25519, &x).map_err(|_| JwkRefused::Point)?;
                let decoding =
                    DecodingKey::from_ed_components(&okp.x).map_err(|_| JwkRefused::Point)?;
                (family, decoding)
            }
            AlgorithmParameters::OctetKey(_) => return Err(JwkRefused::Secret),
            _ => return Err(JwkRefused::KeyType),
        };
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => match Algorithm::from_str(&alg.to_string()) {
                Ok(alg) if family.fits(alg) => Some(alg),
                _ => return Err(JwkRefused::Algorithm),
            },
        };
        Ok(Self {
            family,
            decoding,
            alg,
        })
    }

    /// Whether the key may verify a token signed with `algorithm`.
    pub(crate) fn accepts(&self, algorithm: Algorithm) -> bool {
        self.family.fits(algorithm) && self.alg.is_none_or(|alg| alg == algorithm)
    }
}

impl VerifyingKey {
    /// The key of a public JWK as this gateway publishes its own: [`PublicJwk::screen`] with
    /// only EC P-256 (for ES256) and OKP Ed25519 (for EdDSA) accepted.
    pub(crate) fn from_jwk(value: &serde_json::Value) -> Result<Self, JwkRefused> {
        let key = PublicJwk::screen(value, &[Family::P256, Family::Ed25519])?;
        let algorithm = match key.family {
            Family::Ed25519 => Algorithm::EdDSA,
            _ => Algorithm::ES256,
        };
        Ok(Self {
            algorithm,
            decoding: key.decoding,
        })
    }
}

/// Strict base64url without padding, of exactly `len` bytes.
fn decode_exact(text: &str, len: usize) -> Result<Vec<u8>, JwkRefused> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwkRefused::Malformed)?;
    if bytes.len() == len {
        Ok(bytes)
    } else {
        Err(JwkRefused::Point)
    }
}

/// The protected header members that are looked at; each may be absent. Duplicate names are a
/// parse error.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct Header {
    pub(crate) alg: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) kid: Option<String>,
    #[serde(deserialize_with = "present")]
    jku: bool,
    #[serde(deserialize_with = "present")]
    jwk: bool,
    #[serde(deserialize_with = "present")]
    x5u: bool,
    #[serde(deserialize_with = "present")]
    x5c: bool,
    #[serde(deserialize_with = "present")]
    crit: bool,
}

/// True whenever the member is there, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// A compact JWS split into its parts, with the header decoded but nothing verified.
pub(crate) struct Jws<'a> {
    pub(crate) header: Header,
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> Jws<'a> {
    /// Splits `text` into exactly three dot-separated parts and decodes the header, which must
    /// be strict base64url of a JSON object. The payload may be empty; the signature may not.
    pub(crate) fn parse(text: &'a str) -> Result<Self, VerifyError> {
        let mut parts = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed("not three dot-separated parts"));
        };
        if header.is_empty() || signature.is_empty() {
            return Err(VerifyError::Malformed("a part is empty"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| VerifyError::Malformed("header is not base64url"))?;
        // A derived struct would also accept a JSON array; RFC 7515 requires an object.
        if !is_json_object(&bytes) {
            return Err(VerifyError::Malformed("header is not a JSON object"));
        }
        let header: Header = serde_json::from_slice(&bytes)
            .map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;
        let signing_input = text
            .get(..text.len() - signature.len() - 1)
            .ok_or(VerifyError::Malformed("not three dot-separated parts"))?;
        Ok(Self {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    /// RFC 8725 checks that bind the token to the key we chose, before any cryptography: no
    /// member that would let the token name its own key or demand unknown processing, and an
    /// `alg` equal to the key's one algorithm.
    pub(crate) fn check_key_binding(&self, algorithm: Algorithm) -> Result<(), VerifyError> {
        self.check_forbidden_members()?;
        let alg = self.header.alg.as_deref().unwrap_or_default();
        if alg != alg_str(algorithm) {
            return Err(VerifyError::Algorithm(
                portcullis_core::truncate_for_message(alg, 64),
            ));
        }
        Ok(())
    }

    /// Refuses a header that would let the token name its own key (`jku`, `jwk`, `x5u`,
    /// `x5c`) or demand processing we do not do (`crit`).
    pub(crate) fn check_forbidden_members(&self) -> Result<(), VerifyError> {
        for (name, there) in [
            ("jku", self.header.jku),
            ("jwk", self.header.jwk),
            ("x5u", self.header.x5u),
            ("x5c", self.header.x5c),
            ("crit", self.header.crit),
        ] {
            if there {
                return Err(VerifyError::ForbiddenHeader(name));
            }
        }
        Ok(())
    }

    /// The decoded payload, unverified: only for routing a token to the issuer whose keys will
    /// verify it. Nothing read here may be trusted.
    pub(crate) fn payload_unverified(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(self.payload).ok()
    }

    /// Checks the signature of an external issuer's token with `key` under `algorithm` (any
    /// asymmetric algorithm jsonwebtoken supports; never `none` or HMAC) and returns the
    /// decoded payload. The caller has pinned `algorithm` to the issuer and the key.
    pub(crate) fn verify_with(
        &self,
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<Vec<u8>, VerifyError> {
        if matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(VerifyError::Algorithm(alg_name(algorithm).to_owned()));
        }
        let verified = matches!(
            jsonwebtoken::crypto::verify(
                self.signature,
                self.signing_input.as_bytes(),
                key,
                algorithm
            ),
            Ok(true)
        );
        if !verified {
            return Err(VerifyError::Signature);
        }
        URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| VerifyError::Malformed("payload is not base64url"))
    }

    /// Checks the signature with `key` and returns the decoded payload. Call
    /// [`Self::check_key_binding`] first; this only checks the cryptography.
    pub(crate) fn verify_signature(&self, key: &VerifyingKey) -> Result<Vec<u8>, VerifyError> {
        if !verify_detached(
            self.signing_input.as_bytes(),
            self.signature,
            &key.decoding,
            key.algorithm,
        ) {
            return Err(VerifyError::Signature);
        }
        URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| VerifyError::Malformed("payload is not base64url"))
    }
}

/// Whether JSON text is an object (its first non-blank byte is `{`); the parser checks the rest.
pub(crate) fn is_json_object(json: &[u8]) -> bool {
    json.trim_ascii_start().first() == Some(&b'{')
}

/// The signature primitive: true only when `signature` (base64url) verifies `message` under
/// `key` with `algorithm`, which must be ES256 or EdDSA. A signature of the wrong length, or
/// one that is not strict base64url, is simply false.
pub(crate) fn verify_detached(
    message: &[u8],
    signature: &str,
    key: &DecodingKey,
    algorithm: Algorithm,
) -> bool {
    if !matches!(algorithm, Algorithm::ES256 | Algorithm::EdDSA) {
        return false;
    }
    matches!(
        jsonwebtoken::crypto::verify(signature, message, key, algorithm),
        Ok(true)
    )
}
