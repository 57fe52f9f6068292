//! The token signing keys: a set of PKCS#8 PEM files in `<data dir>/keys/`, one per key, named
//! `<created>-<kid>.pem` (`created` in milliseconds since the Unix epoch, `kid` the RFC 7638
//! thumbprint).
//!
//! Design decisions:
//! - A key's file is written once and never modified: its creation time is in its name, and a
//!   key is retired when the next newer key was created, so the set needs no mutable metadata and
//!   every process reading the folder agrees on which key is current (the newest) and until when
//!   each older key must stay (its successor's creation time plus the token lifetime window).
//! - The algorithm is read from the key itself (a P-256 key signs ES256, an Ed25519 key signs
//!   EdDSA), so the file needs no side-car.
//! - A key file that cannot be parsed is an error; it is never overwritten or deleted, because
//!   replacing it would silently invalidate issued tokens and could hide tampering. Only keys
//!   whose every token has expired are deleted.
//! - The single `signing-key.pem` of earlier versions becomes the first key of the set: it is
//!   moved into the folder under its file's modification time.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The single key file of earlier versions, inside the data folder.
pub(crate) const KEY_FILE: &str = "signing-key.pem";
/// The folder of the key set, inside the data folder.
pub(crate) const KEYS_DIR: &str = "keys";

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";
/// A PKCS#8 P-256 or Ed25519 key is well under 200 bytes; anything large is not ours.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// One loaded signing key with everything derived from it.
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
    /// Creation time, milliseconds since the Unix epoch (from the file name).
    pub(crate) created_ms: i64,
    /// The file name inside the keys folder.
    pub(crate) file: String,
}

/// The keys in force, oldest first; the last one is the current signing key.
pub(crate) struct KeySet {
    keys: Vec<Arc<SigningKey>>,
}

impl KeySet {
    /// The key new tokens are signed with.
    pub(crate) fn current(&self) -> &Arc<SigningKey> {
        // INVARIANT: a key set is built only from a non-empty list (see `KeySet::new`).
        let last = self.keys.len().saturating_sub(1);
        &self.keys[last]
    }

    /// The key with this id, if it is in force.
    pub(crate) fn find(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// Every key in force, oldest first.
    pub(crate) fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// When a key was retired: its successor's creation time; `None` for the current key.
    pub(crate) fn retired_ms(&self, index: usize) -> Option<i64> {
        self.keys.get(index + 1).map(|next| next.created_ms)
    }

    /// Sorts the keys (creation time, then kid, so every process picks the same current key)
    /// and drops the retired keys whose window has passed, returning those separately.
    fn new(
        mut keys: Vec<Arc<SigningKey>>,
        now_ms: i64,
        window_ms: i64,
    ) -> Option<(Self, Vec<Arc<SigningKey>>)> {
        keys.sort_by(|a, b| (a.created_ms, &a.kid).cmp(&(b.created_ms, &b.kid)));
        let retired_at: Vec<Option<i64>> = (0..keys.len())
            .map(|i| keys.get(i + 1).map(|next| next.created_ms))
            .collect();
        let mut live = Vec::with_capacity(keys.len());
        let mut expired = Vec::new();
        for (key, retired) in keys.into_iter().zip(retired_at) {
            match retired {
                Some(at) if now_ms >= at.saturating_add(window_ms) => expired.push(key),
                _ => live.push(key),
            }
        }
        if live.is_empty() {
            return None;
        }
        Some((Self { keys: live }, expired))
    }
}

/// The JWS `alg` name of a configured algorithm.
pub(crate) fn alg_name(algorithm: SigningAlgorithm) -> &'static str {
    match algorithm {
        SigningAlgorithm::ES256 => "ES256",
        SigningAlgorithm::EdDSA => "EdDSA",
    }
}

/// The configured name of a key's algorithm.
pub(crate) fn configured_alg(algorithm: Algorithm) -> SigningAlgorithm {
    match algorithm {
        Algorithm::EdDSA => SigningAlgorithm::EdDSA,
        _ => SigningAlgorithm::ES256,
    }
}

/// Loads the key set from `data_dir` at start-up: moves a `signing-key.pem` of earlier versions
/// into the set, generates the first key if there is none, and fails on any key file it cannot
/// read. `window_ms` is how long a retired key stays in force. The current key must have the
/// configured algorithm.
pub(crate) fn load_or_create(
    data_dir: &Path,
    configured: SigningAlgorithm,
    now_ms: i64,
    window_ms: i64,
) -> Result<KeySet, IdentityError> {
    ensure_private_dir(data_dir)?;
    let dir = data_dir.join(KEYS_DIR);
    ensure_private_dir(&dir)?;
    migrate_legacy(data_dir, &dir)?;
    let mut keys = scan(&dir, &[])?;
    if keys.is_empty() {
        keys.push(Arc::new(create(&dir, configured, now_ms)?));
    }
    let (set, _) = KeySet::new(keys, now_ms, window_ms)
        .ok_or_else(|| IdentityError::Crypto("the key set is empty".to_owned()))?;
    let current = set.current();
    let found = configured_alg(current.algorithm);
    if found != configured {
        return Err(IdentityError::AlgorithmMismatch {
            path: dir.join(&current.file),
            found: alg_name(found),
            configured: alg_name(configured),
        });
    }
    Ok(set)
}

/// Whether the keys folder of `data_dir` holds at least one key file.
pub(crate) fn has_keys(data_dir: &Path) -> bool {
    scan(&data_dir.join(KEYS_DIR), &[]).is_ok_and(|keys| !keys.is_empty())
}

/// Loads the keys a gateway created earlier, creating nothing: for commands that sign with the
/// gateway's key (`portcullis token`) and must not leave a new key behind in a wrong folder.
pub(crate) fn load_existing(
    data_dir: &Path,
    configured: SigningAlgorithm,
    now_ms: i64,
    window_ms: i64,
) -> Result<KeySet, IdentityError> {
    let dir = data_dir.join(KEYS_DIR);
    let keys = if dir.is_dir() {
        scan(&dir, &[])?
    } else {
        Vec::new()
    };
    let Some((set, _)) = KeySet::new(keys, now_ms, window_ms) else {
        return Err(IdentityError::NoSigningKey { dir });
    };
    let found = configured_alg(set.current().algorithm);
    if found != configured {
        return Err(IdentityError::AlgorithmMismatch {
            path: dir.join(&set.current().file),
            found: alg_name(found),
            configured: alg_name(configured),
        });
    }
    Ok(set)
}

/// Re-reads the keys folder (keys another process created, such as `portcullis keys rotate`),
/// reusing the keys already loaded, and returns the new set and the keys whose window passed.
pub(crate) fn reload(
    data_dir: &Path,
    known: &KeySet,
    now_ms: i64,
    window_ms: i64,
) -> Result<(KeySet, Vec<Arc<SigningKey>>), IdentityError> {
    let dir = data_dir.join(KEYS_DIR);
    let keys = scan(&dir, known.keys())?;
    if keys.is_empty() {
        // The folder was emptied under us: keep what we have rather than stop signing.
        return Err(IdentityError::KeyRead {
            path: dir,
            source: io::Error::new(io::ErrorKind::NotFound, "the keys folder holds no key"),
        });
    }
    KeySet::new(keys, now_ms, window_ms)
        .ok_or_else(|| IdentityError::Crypto("the key set is empty".to_owned()))
}

/// Generates a key and stores it in `data_dir/keys/` as the newest key: its creation time is
/// `now_ms`, or one millisecond after the newest key on disk if that is later, so that it is
/// the current key for every reader.
pub(crate) fn rotate(
    data_dir: &Path,
    algorithm: SigningAlgorithm,
    now_ms: i64,
) -> Result<SigningKey, IdentityError> {
    let dir = data_dir.join(KEYS_DIR);
    ensure_private_dir(&dir)?;
    let newest = scan_names(&dir)?
        .into_iter()
        .map(|(created, _, _)| created)
        .max()
        .unwrap_or(0);
    create(&dir, algorithm, now_ms.max(newest.saturating_add(1)))
}

/// Deletes the file of a key whose every token has expired. A failure is logged only.
pub(crate) fn delete(data_dir: &Path, key: &SigningKey) {
    let path = data_dir.join(KEYS_DIR).join(&key.file);
    match fs::remove_file(&path) {
        Ok(()) => {
            tracing::info!(kid = %key.kid, "deleted a retired signing key whose tokens have all expired")
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete a retired signing key")
        }
    }
}

/// The key files in `dir`: creation time, kid and file name, from names of the form
/// `<created>-<kid>.pem`. Other `.pem` names are errors; other files are ignored.
fn scan_names(dir: &Path) -> Result<Vec<(i64, String, String)>, IdentityError> {
    let failed = |source| IdentityError::KeyRead {
        path: dir.to_owned(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".pem") else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let parsed = stem
            .split_once('-')
            .and_then(|(created, kid)| Some((created.parse::<i64>().ok()?, kid.to_owned())));
        let Some((created, kid)) = parsed else {
            return Err(IdentityError::KeyCorrupt {
                path: dir.join(&name),
                reason: "the file name is not `<created>-<kid>.pem`".to_owned(),
            });
        };
        names.push((created, kid, name));
    }
    Ok(names)
}

/// Loads every key file in `dir`, reusing already loaded keys by file name.
fn scan(dir: &Path, known: &[Arc<SigningKey>]) -> Result<Vec<Arc<SigningKey>>, IdentityError> {
    let mut keys = Vec::new();
    for (created, kid, name) in scan_names(dir)? {
        if let Some(key) = known.iter().find(|k| k.file == name) {
            keys.push(Arc::clone(key));
            continue;
        }
        let path = dir.join(&name);
        let corrupt = |reason: &str| IdentityError::KeyCorrupt {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        let Some(pem) = read_key_file(&path)? else {
            // Deleted between the listing and the read: it was expiring anyway.
            continue;
        };
        let der = parse_pem(&pem).map_err(corrupt)?;
        let mut key = from_pkcs8(&der).map_err(corrupt)?;
        if key.kid != kid {
            return Err(corrupt(
                "the key id in the file name is not the key's thumbprint",
            ));
        }
        key.created_ms = created;
        key.file = name;
        keys.push(Arc::new(key));
    }
    Ok(keys)
}

/// Moves `signing-key.pem` into the keys folder. A corrupt one is an error and stays where it is.
fn migrate_legacy(data_dir: &Path, dir: &Path) -> Result<(), IdentityError> {
    let legacy = data_dir.join(KEY_FILE);
    let Some(pem) = read_key_file(&legacy)? else {
        return Ok(());
    };
    let corrupt = |reason: &str| IdentityError::KeyCorrupt {
        path: legacy.clone(),
        reason: reason.to_owned(),
    };
    let der = parse_pem(&pem).map_err(corrupt)?;
    let key = from_pkcs8(&der).map_err(corrupt)?;
    let already = scan_names(dir)?
        .into_iter()
        .any(|(_, kid, _)| kid == key.kid);
    if !already {
        let created = fs::metadata(&legacy)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let target = dir.join(format!("{created}-{}.pem", key.kid));
        fs::hard_link(&legacy, &target).map_err(|source| IdentityError::KeyWrite {
            path: target.clone(),
            source,
        })?;
        sync_parent(&target);
        tracing::info!(kid = %key.kid, "moved `signing-key.pem` into the key set");
    }
    fs::remove_file(&legacy).map_err(|source| IdentityError::KeyWrite {
        path: legacy.clone(),
        source,
    })?;
    sync_parent(&legacy);
    Ok(())
}

/// Generates a key and publishes it as `dir/<created>-<kid>.pem` atomically: written to a
/// private temporary file, then hard-linked into place, so a reader never sees half a key.
fn create(
    dir: &Path,
    algorithm: SigningAlgorithm,
    created_ms: i64,
) -> Result<SigningKey, IdentityError> {
    let der = generate_pkcs8(algorithm)?;
    let mut key = from_pkcs8(&der).map_err(|reason| IdentityError::Crypto(reason.to_owned()))?;
    let name = format!("{created_ms}-{}.pem", key.kid);
    let path = dir.join(&name);
    let pem = to_pem(&der);
    let write_failed = |source| IdentityError::KeyWrite {
        path: path.clone(),
        source,
    };
    let tmp = temp_path(&path);
    if let Err(e) = write_private(&tmp, pem.as_bytes()) {
        let _ = fs::remove_file(&tmp);
        return Err(write_failed(e));
    }
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    linked.map_err(write_failed)?;
    sync_parent(&path);
    tracing::info!(kid = %key.kid, alg = alg_name(algorithm), "generated a new token signing key");
    key.created_ms = created_ms;
    key.file = name;
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
            created_ms: 0,
            file: String::new(),
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
            created_ms: 0,
            file: String::new(),
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
    portcullis_store::create_private_dir(dir).map_err(|source| IdentityError::DataDir {
        path: dir.to_owned(),
        source,
    })
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
