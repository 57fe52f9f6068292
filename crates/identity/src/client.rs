//! Client authentication for the token endpoint: reading the credentials from the request
//! (RFC 6749 section 2.3.1) and checking them against the configured agents.

use std::collections::HashMap;

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Argon2, Params, PasswordHasher as _, PasswordVerifier as _};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use portcullis_secrets::Secret;
use zeroize::Zeroizing;

use crate::error::{IdentityError, OAuthError};

/// Longest client id looked up; longer ones cannot be configured (`valid_name` caps at 128).
const MAX_CLIENT_ID_BYTES: usize = 256;
/// Longest client secret hashed or compared; bounds the work an unauthenticated caller causes.
const MAX_CLIENT_SECRET_BYTES: usize = 1024;

/// How an agent proves its identity.
pub(crate) enum Credential {
    /// An argon2 PHC hash of the secret.
    Hash(Box<PasswordHash>),
    /// The secret itself, held by the secrets store's type.
    Plain(Secret),
}

impl Credential {
    /// Parses and checks a configured PHC string now, so that a bad hash fails at start-up.
    pub(crate) fn from_phc(agent: &str, phc: &str) -> Result<Self, IdentityError> {
        let bad = |reason: String| IdentityError::SecretHash {
            agent: agent.to_owned(),
            reason,
        };
        let hash = PasswordHash::new(phc).map_err(|e| bad(e.to_string()))?;
        argon2::Algorithm::try_from(hash.algorithm.as_str()).map_err(|e| bad(e.to_string()))?;
        if let Some(version) = hash.version {
            argon2::Version::try_from(version).map_err(|e| bad(e.to_string()))?;
        }
        Params::try_from(&hash).map_err(|e| bad(e.to_string()))?;
        if hash.salt.is_none() || hash.hash.is_none() {
            return Err(bad("salt or hash output is missing".to_owned()));
        }
        Ok(Self::Hash(Box::new(hash)))
    }

    /// Checks a presented secret. Runs the full hash (or full-length comparison) whatever the
    /// outcome.
    pub(crate) fn verify(&self, presented: &[u8]) -> bool {
        match self {
            Self::Hash(hash) => Argon2::default()
                .verify_password(presented, hash.as_ref())
                .is_ok(),
            Self::Plain(secret) => secret.matches(presented),
        }
    }

    /// A credential no secret matches, costing the same to check as the agents' credentials:
    /// checked when the client id is unknown so that timing does not reveal which ids exist.
    ///
    /// It mirrors the most common kind among the agents; for hashes, the most common argon2
    /// parameters with a random salt and output. Agents whose kind or parameters differ from
    /// the majority remain distinguishable by timing; configure them alike to avoid that.
    pub(crate) fn decoy<'a>(
        agents: impl Iterator<Item = &'a Credential>,
    ) -> Result<Self, IdentityError> {
        let mut plain = 0usize;
        let mut by_params: HashMap<String, (usize, &PasswordHash)> = HashMap::new();
        for credential in agents {
            match credential {
                Self::Plain(_) => plain += 1,
                Self::Hash(hash) => {
                    let key = format!("{}${:?}${}", hash.algorithm, hash.version, hash.params);
                    by_params.entry(key).or_insert((0, hash)).0 += 1;
                }
            }
        }
        let hashed: usize = by_params.values().map(|(n, _)| n).sum();
        let template = by_params
            .into_values()
            .max_by_key(|(n, _)| *n)
            .map(|(_, hash)| hash);
        match template {
            Some(template) if hashed >= plain => {
                let mut decoy = template.clone();
                let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
                random(&mut salt)?;
                decoy.salt =
                    Some(Salt::new(&salt).map_err(|e| IdentityError::Crypto(e.to_string()))?);
                let len = template.hash.as_ref().map_or(32, Output::len);
                let mut output = vec![0u8; len];
                random(&mut output)?;
                decoy.hash =
                    Some(Output::new(&output).map_err(|e| IdentityError::Crypto(e.to_string()))?);
                Ok(Self::Hash(Box::new(decoy)))
            }
            _ => {
                let mut bytes = [0u8; 32];
                random(&mut bytes)?;
                let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
                Ok(Self::Plain(Secret::from_generated(text)))
            }
        }
    }
}

fn random(buf: &mut [u8]) -> Result<(), IdentityError> {
    aws_lc_rs::rand::fill(buf)
        .map_err(|_| IdentityError::Crypto("random generator failed".to_owned()))
}

/// The decoded token request body: each key at most once, empty values dropped.
pub(crate) struct Form<'a> {
    params: HashMap<&'a str, &'a str>,
}

impl<'a> Form<'a> {
    /// Rejects repeated parameters (RFC 6749 section 3.2) and treats parameters without a value
    /// as omitted (section 3.1).
    pub(crate) fn parse(pairs: &'a [(String, String)]) -> Result<Self, OAuthError> {
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        let mut params = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            if !seen.insert(key.as_str()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{}` is repeated",
                    portcullis_core::truncate_for_message(key, 64)
                )));
            }
            if !value.is_empty() {
                params.insert(key.as_str(), value.as_str());
            }
        }
        Ok(Self { params })
    }

    /// A parameter's value, if given and not empty.
    pub(crate) fn get(&self, key: &str) -> Option<&'a str> {
        self.params.get(key).copied()
    }
}

/// Client credentials as presented, not yet checked.
pub(crate) struct Presented {
    /// The client id.
    pub(crate) client_id: String,
    /// The client secret; zeroed on drop.
    pub(crate) secret: Zeroizing<String>,
}

impl Presented {
    /// Whether the lengths are within what is worth looking up and hashing.
    pub(crate) fn within_limits(&self) -> bool {
        self.client_id.len() <= MAX_CLIENT_ID_BYTES && self.secret.len() <= MAX_CLIENT_SECRET_BYTES
    }
}

/// Extracts the client credentials from the Authorization header or the form, enforcing that
/// exactly one method is used.
pub(crate) fn presented(
    form: &Form<'_>,
    authorization: Option<&str>,
) -> Result<Presented, OAuthError> {
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");
    if let Some(header) = authorization {
        let basic = parse_basic(header)?;
        if form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method: HTTP Basic or `client_secret` in the body, not both",
            ));
        }
        if form_id.is_some_and(|id| id != basic.client_id) {
            return Err(OAuthError::invalid_request(
                "`client_id` in the body does not match the HTTP Basic credentials",
            ));
        }
        return Ok(basic);
    }
    match (form_id, form_secret) {
        (Some(id), Some(secret)) => Ok(Presented {
            client_id: id.to_owned(),
            secret: Zeroizing::new(secret.to_owned()),
        }),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "`client_secret` was given without `client_id`",
        )),
        // No client authentication at all: confidential clients only.
        (_, None) => Err(OAuthError::invalid_client()),
    }
}

/// Parses `Basic base64(urlencode(id) ":" urlencode(secret))`. Any failure, including another
/// scheme, is `invalid_client` with a challenge.
pub(crate) fn parse_basic(header: &str) -> Result<Presented, OAuthError> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(' ')
        .ok_or_else(OAuthError::invalid_client)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client());
    }
    let engine = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let decoded = Zeroizing::new(
        engine
            .decode(rest.trim())
            .map_err(|_| OAuthError::invalid_client())?,
    );
    let decoded = std::str::from_utf8(&decoded).map_err(|_| OAuthError::invalid_client())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    let client_id = form_urldecode(id).ok_or_else(OAuthError::invalid_client)?;
    let secret = form_urldecode(secret).ok_or_else(OAuthError::invalid_client)?;
    Ok(Presented {
        client_id: client_id.to_string(),
        secret,
    })
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte. Returns
/// `None` for a broken escape or a result that is not UTF-8.
fn form_urldecode(text: &str) -> Option<Zeroizing<String>> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(std::mem::take(&mut *out)).ok()?;
    Some(Zeroizing::new(text))
}

/// Hashes a client secret for `client_secret_hash`: an argon2id PHC string with the argon2
/// crate's default parameters and a random salt.
pub fn hash_secret(secret: &str) -> Result<String, IdentityError> {
    if secret.is_empty() {
        return Err(IdentityError::Hash("the secret is empty".to_owned()));
    }
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| IdentityError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn basic_credentials_are_form_urldecoded() {
        let p = parse_basic(&basic("my%20agent:p%3As+s%2B")).unwrap();
        assert_eq!(p.client_id, "my agent");
        assert_eq!(p.secret.as_str(), "p:s s+");
        // A raw `:` in the secret is kept: only the first one separates.
        let p = parse_basic(&basic("a:b:c")).unwrap();
        assert_eq!(p.secret.as_str(), "b:c");
        // Scheme is case-insensitive and padding optional.
        let header = format!(
            "bAsIc {}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode("a:bc")
        );
        assert_eq!(parse_basic(&header).unwrap().client_id, "a");
    }

    #[test]
    fn broken_basic_is_invalid_client() {
        for header in [
            "Bearer abc".to_owned(),
            "Basic".to_owned(),
            "Basic !!!".to_owned(),
            basic("no-colon"),
            basic("a:%zz"),
            basic("a:%f"),
            basic("a:%ff"),
            basic("a:%+1"),
        ] {
            let err = parse_basic(&header).err().unwrap();
            assert_eq!(err.error, "invalid_client", "{header}");
            assert!(err.challenge);
        }
    }

    #[test]
    fn form_rejects_repeats_and_drops_empty_values() {
        let pairs = vec![
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), String::new()),
        ];
        let form = Form::parse(&pairs).unwrap();
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("b"), None);
        let pairs = vec![
            ("a".to_owned(), "1".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ];
        assert_eq!(Form::parse(&pairs).err().unwrap().error, "invalid_request");
    }

    #[test]
    fn decoy_mirrors_the_agents_hash_parameters() {
        let params = Params::new(8, 1, 1, None).unwrap();
        let phc = argon2::PasswordHasher::hash_password(
            &Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params),
            b"s",
        )
        .unwrap()
        .to_string();
        let agent = Credential::from_phc("a", &phc).unwrap();
        assert!(agent.verify(b"s"));
        assert!(!agent.verify(b"t"));
        let decoy = Credential::decoy([&agent].into_iter()).unwrap();
        let Credential::Hash(decoy_hash) = &decoy else {
            panic!("expected a hash decoy")
        };
        let Credential::Hash(agent_hash) = &agent else {
            unreachable!()
        };
        assert_eq!(decoy_hash.params, agent_hash.params);
        assert_ne!(decoy_hash.salt, agent_hash.salt);
        assert!(!decoy.verify(b"s"));

        let plain = Credential::Plain(Secret::from_generated("x".into()));
        assert!(matches!(
            Credential::decoy([&plain].into_iter()).unwrap(),
            Credential::Plain(_)
        ));
        assert!(Credential::from_phc("a", "$argon2id$nonsense").is_err());
        assert!(Credential::from_phc("a", "$scrypt$ln=1,r=8,p=1$c2FsdHNhbHQ$aGFzaA").is_err());
    }
}
