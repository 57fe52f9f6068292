//! The token signing key: generated once, kept as a PKCS#8 PEM file in the data folder.
//!
//! The algorithm is read from the key itself (a P-256 key signs ES256, an Ed25519 key signs
//! EdDSA), so the file needs no side-car. A key file that cannot be parsed is an error; it is
//! never overwritten, because replacing it would silently invalidate every issued token and
//! could hide tampering.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_config::SigningAlgorithm;
use serde_json::json;
use zeroize::Zeroizing;

use crate::error::IdentityError;
use crate::jws::VerifyingKey;

/// The key file's name inside the data folder.
pub(crate) const KEY_FILE: &str = "signing-key.pem";

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";
/// A PKCS#8 P-256 or Ed25519 key is well under 200 bytes; anything large is not ours.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// The loaded signing key with everything derived from it.
pub(crate) struct SigningKey {
    /// The JWS algorithm.
    pub(crate) algorithm: Algorithm,
    /// RFC 7638 thumbprint of the public key, base64url.
    pub(crate) kid: String,
    /// The private key, for signing.
    pub(crate) encoding: EncodingKey,
    /// The public key, for verifying; built from `jwk` by the same rule as any JWK.
    pub(crate) public: VerifyingKey,
    /// The public JWK with `kid`, `alg` and `use`.
    pub(crate) jwk: serde_json::Value,
}

/// The JWS `alg` name of a configured algorithm.
pub(crate) fn alg_name(algorithm: SigningAlgorithm) -> &'static str {
    match algorithm {
        SigningAlgorithm::ES256 => "ES256",
        SigningAlgorithm::EdDSA => "EdDSA",
    }
}

/// Loads the key from `data_dir`, or generates and stores one if there is none.
pub(crate) fn load_or_create(
    data_dir: &Path,
    configured: SigningAlgorithm,
) -> Result<SigningKey, IdentityError> {
    ensure_private_dir(data_dir)?;
    let path = data_dir.join(KEY_FILE);
    let der = match read_key_file(&path)? {
        Some(pem) => parse_pem(&pem).map_err(|reason| IdentityError::KeyCorrupt {
            path: path.clone(),
            reason: reason.to_owned(),
        })?,
        None => create_key_file(&path, configured)?,
    };
    let key = from_pkcs8(&der).map_err(|reason| IdentityError::KeyCorrupt {
        path: path.clone(),
        reason: reason.to_owned(),
    })?;
    let found = match key.algorithm {
        Algorithm::EdDSA => SigningAlgorithm::EdDSA,
        _ => SigningAlgorithm::ES256,
    };
    if found != configured {
        return Err(IdentityError::AlgorithmMismatch {
            path,
            found: alg_name(found),
            configured: alg_name(configured),
        });
    }
    Ok(key)
}

/// Builds the key from PKCS#8 DER, trying P-256 first and Ed25519 second.
pub(crate) fn from_pkcs8(der: &[u8]) -> Result<SigningKey, &'static str> {
    if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        let point = pair.public_key().as_ref();
        // INVARIANT: aws-lc-rs returns the uncompressed SEC 1 point: 0x04 || x || y.
        let (Some(&0x04), Some(x), Some(y)) = (point.first(), point.get(1..33), point.get(33..65))
        else {
            return Err("unexpected P-256 public key encoding");
        };
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        // RFC 7638: required members only, in lexicographic order, no whitespace.
        let kid = thumbprint(&format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
        ));
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y,
            "kid": kid, "alg": "ES256", "use": "sig",
        });
        let public = VerifyingKey::from_jwk(&jwk).map_err(|_| "P-256 public key is not usable")?;
        return Ok(SigningKey {
            algorithm: Algorithm::ES256,
            kid,
            encoding: EncodingKey::from_ec_der(der),
            public,
            jwk,
        });
    }
    if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "x": x,
            "kid": kid, "alg": "EdDSA", "use": "sig",
        });
        let public =
            VerifyingKey::from_jwk(&jwk).map_err(|_| "Ed25519 public key is not usable")?;
        return Ok(SigningKey {
            algorithm: Algorithm::EdDSA,
            kid,
            encoding: EncodingKey::from_ed_der(der),
            public,
            jwk,
        });
    }
    Err("not a PKCS#8 P-256 or Ed25519 private key")
}

/// Generates PKCS#8 DER for a fresh key of the given algorithm.
pub(crate) fn generate_pkcs8(
    algorithm: SigningAlgorithm,
) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let document = match algorithm {
        SigningAlgorithm::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        }
        SigningAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng),
    }
    .map_err(|_| IdentityError::Crypto("key generation failed".to_owned()))?;
    Ok(Zeroizing::new(document.as_ref().to_vec()))
}

fn thumbprint(canonical_jwk: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical_jwk.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Creates the folder (and missing parents) with mode 0700; an existing folder is left as is.
fn ensure_private_dir(dir: &Path) -> Result<(), IdentityError> {
    let failed = |source| IdentityError::DataDir {
        path: dir.to_owned(),
        source,
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(failed(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a folder",
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e)),
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(failed)
}

/// Reads the key file; `None` when it does not exist.
fn read_key_file(path: &Path) -> Result<Option<Zeroizing<String>>, IdentityError> {
    let failed = |source| IdentityError::KeyRead {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(e)),
    };
    let meta = file.metadata().map_err(failed)?;
    if !meta.is_file() {
        return Err(IdentityError::KeyCorrupt {
            path: path.to_owned(),
            reason: "not a regular file".to_owned(),
        });
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(IdentityError::KeyCorrupt {
            path: path.to_owned(),
            reason: "file is too large".to_owned(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "signing key file is readable by group or others; run `chmod 600` on it"
            );
        }
    }
    let mut text = Zeroizing::new(String::new());
    io::Read::read_to_string(&mut &file, &mut text).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            IdentityError::KeyCorrupt {
                path: path.to_owned(),
                reason: "not UTF-8 text".to_owned(),
            }
        } else {
            failed(e)
        }
    })?;
    Ok(Some(text))
}

/// Decodes a single `PRIVATE KEY` PEM block.
fn parse_pem(text: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let body = text
        .trim()
        .strip_prefix(PEM_BEGIN)
        .and_then(|rest| rest.strip_suffix(PEM_END))
        .ok_or("not a `PRIVATE KEY` PEM block")?;
    let compact: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    if compact.is_empty() {
        return Err("the PEM block is empty");
    }
    STANDARD
        .decode(compact.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| "the PEM body is not base64")
}

fn to_pem(der: &[u8]) -> Zeroizing<String> {
    let encoded = Zeroizing::new(STANDARD.encode(der));
    let mut pem = Zeroizing::new(String::with_capacity(encoded.len() + 80));
    pem.push_str(PEM_BEGIN);
    pem.push('\n');
    for line in encoded.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(PEM_END);
    pem.push('\n');
    pem
}

/// Generates a key and publishes it at `path` atomically: written to a private temporary file,
/// then hard-linked into place so that a key another process created meanwhile is never
/// replaced. Returns the DER of whichever key ends up at `path`.
fn create_key_file(
    path: &Path,
    algorithm: SigningAlgorithm,
) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let der = generate_pkcs8(algorithm)?;
    let pem = to_pem(&der);
    let write_failed = |source| IdentityError::KeyWrite {
        path: path.to_owned(),
        source,
    };
    let tmp = temp_path(path);
    let written = write_private(&tmp, pem.as_bytes());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(write_failed(e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_parent(path);
            tracing::info!(path = %path.display(), alg = alg_name(algorithm), "generated a new token signing key");
            Ok(der)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Another process won the race; use its key.
            let pem = read_key_file(path)?.ok_or_else(|| {
                write_failed(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the key file vanished while starting",
                ))
            })?;
            parse_pem(&pem).map_err(|reason| IdentityError::KeyCorrupt {
                path: path.to_owned(),
                reason: reason.to_owned(),
            })
        }
        Err(e) => Err(write_failed(e)),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    path.with_file_name(name)
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the new directory entry durable; failure only weakens crash safety, so it is logged.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(parent) = path.parent()
        && let Err(e) = File::open(parent).and_then(|dir| dir.sync_all())
    {
        tracing::debug!(error = %e, "could not sync the data folder after writing the key");
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips_and_rejects_garbage() {
        let der = generate_pkcs8(SigningAlgorithm::ES256).unwrap();
        let pem = to_pem(&der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(*parse_pem(&pem).unwrap(), *der);
        assert!(parse_pem("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----").is_err());
        assert!(
            parse_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----")
                .is_err()
        );
        assert!(parse_pem("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----").is_err());
    }

    #[test]
    fn algorithm_comes_from_the_key() {
        let ec = from_pkcs8(&generate_pkcs8(SigningAlgorithm::ES256).unwrap()).unwrap();
        assert_eq!(ec.algorithm, Algorithm::ES256);
        assert_eq!(ec.jwk["kty"], "EC");
        let ed = from_pkcs8(&generate_pkcs8(SigningAlgorithm::EdDSA).unwrap()).unwrap();
        assert_eq!(ed.algorithm, Algorithm::EdDSA);
        assert_eq!(ed.jwk["crv"], "Ed25519");
        assert!(from_pkcs8(b"not a key").is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 section 3.1: the RSA example key's canonical JSON and its thumbprint.
        let canonical = concat!(
            r#"{"e":"AQAB","kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4"#,
            r#"cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#
        );
        assert_eq!(
            thumbprint(canonical),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
