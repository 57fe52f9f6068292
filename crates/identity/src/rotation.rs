//! The signing key set in force: scheduled and on-demand rotation, the listing that
//! `portcullis keys list` and `GET /admin/keys` show, and the self-test every new key passes.
//! The key files themselves are `key.rs`'s.

use std::sync::Arc;
use std::time::Duration;

use portcullis_config::Config;
use serde::Serialize;

use crate::error::IdentityError;
use crate::key::{self, KeySet, SigningKey};
use crate::{Identity, jws, millis, token, wall_clock_ms};

/// How often a running gateway re-reads the keys folder and checks the rotation schedule.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

impl Identity {
    /// Brings the key set up to date; a running gateway calls it every
    /// [`KEY_RELOAD_INTERVAL`]. Re-reads the keys folder (picking up a rotation made by another
    /// process), rotates when the current key is older than `issuer.key_rotation`, and drops and
    /// deletes retired keys whose every token has expired. On failure (a corrupt file appeared)
    /// the key set in force is kept, and the error is returned for the log.
    pub fn maintain_keys(&self) -> Result<(), IdentityError> {
        let now = self.now_ms();
        let known = Arc::clone(&self.keys.read());
        let (mut set, mut expired) = key::reload(&self.data_dir, &known, now, self.window_ms)?;
        if now.saturating_sub(set.current().created_ms) >= self.rotation_ms {
            let new = key::rotate(&self.data_dir, self.algorithm, now)?;
            self_test(&new)?;
            tracing::info!(kid = %new.kid, "rotated the token signing key on schedule");
            (set, expired) = key::reload(&self.data_dir, &set, now, self.window_ms)?;
        }
        self.install(set, &known);
        for key in expired {
            key::delete(&self.data_dir, &key);
        }
        Ok(())
    }

    /// Rotates now (`POST /admin/keys/rotate`): generates a key that becomes the current one at
    /// once; the previous keys stay in force for their window. Returns the new key.
    pub fn rotate_keys(&self) -> Result<KeyInfo, IdentityError> {
        let now = self.now_ms();
        let new = key::rotate(&self.data_dir, self.algorithm, now)?;
        self_test(&new)?;
        let known = Arc::clone(&self.keys.read());
        let (set, _) = key::reload(&self.data_dir, &known, now, self.window_ms)?;
        self.install(set, &known);
        tracing::info!(kid = %new.kid, "rotated the token signing key on request");
        self.keys()
            .into_iter()
            .find(|info| info.kid == new.kid)
            .ok_or_else(|| IdentityError::Crypto("the new key is not in force".to_owned()))
    }

    /// The keys in force, oldest first; the last one signs new tokens.
    pub fn keys(&self) -> Vec<KeyInfo> {
        let set = Arc::clone(&self.keys.read());
        key_infos(&set, self.window_ms)
    }

    fn install(&self, set: KeySet, known: &Arc<KeySet>) {
        let old_kid = known.current().kid.clone();
        let new_kid = set.current().kid.clone();
        *self.keys.write() = Arc::new(set);
        if old_kid != new_kid {
            tracing::info!(kid = %new_kid, previous = %old_kid, "now signing with a new key");
        }
    }

    /// The current signing key.
    #[cfg(test)]
    pub(crate) fn key(&self) -> Arc<SigningKey> {
        Arc::clone(self.keys.read().current())
    }
}

/// One signing key as `portcullis keys list` and `GET /admin/keys` show it. Times are seconds
/// since the Unix epoch.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct KeyInfo {
    /// The key id (RFC 7638 thumbprint).
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: &'static str,
    /// When the key was created.
    pub created: i64,
    /// When the next key replaced it; `None` for the current key.
    pub retired: Option<i64>,
    /// When it leaves the JWKS and stops verifying: `retired` plus the longest token lifetime,
    /// the leeway and a reload margin. `None` for the current key.
    pub expires: Option<i64>,
    /// Whether new tokens are signed with it.
    pub current: bool,
}

/// Generates a new current key in the data folder of `config`, for `portcullis keys rotate`.
/// A running gateway on the same folder starts signing with it within
/// [`KEY_RELOAD_INTERVAL`]; tokens signed by the previous keys keep verifying.
pub fn rotate_keys_in(config: &Config) -> Result<KeyInfo, IdentityError> {
    let now = wall_clock_ms();
    // Loading first moves an old `signing-key.pem` into the set and fails on corrupt files. A
    // current key of another algorithm is no error here: rotating is the way out of it.
    match load_keys(config, now) {
        Ok(_) | Err(IdentityError::AlgorithmMismatch { .. }) => {}
        Err(other) => return Err(other),
    }
    let new = key::rotate(&config.data_dir, config.issuer.algorithm, now)?;
    self_test(&new)?;
    let kid = new.kid;
    list_keys_in(config)?
        .into_iter()
        .find(|info| info.kid == kid)
        .ok_or_else(|| IdentityError::Crypto("the new key is not in force".to_owned()))
}

/// The keys in force in the data folder of `config`, oldest first, for `portcullis keys list`.
pub fn list_keys_in(config: &Config) -> Result<Vec<KeyInfo>, IdentityError> {
    let set = load_keys(config, wall_clock_ms())?;
    Ok(key_infos(&set, key_window_ms(config)))
}

/// The key set in the data folder of `config` at `now_ms`: created (with its folders) when
/// missing; a `signing-key.pem` of earlier versions becomes its first key; a corrupt key file
/// or a current key of another algorithm than configured is an error.
pub(crate) fn load_keys(config: &Config, now_ms: i64) -> Result<KeySet, IdentityError> {
    key::load_or_create(
        &config.data_dir,
        config.issuer.algorithm,
        now_ms,
        key_window_ms(config),
    )
}

/// The keys a gateway created earlier in the configured data folder; none are created.
pub(crate) fn load_existing_keys(config: &Config, now_ms: i64) -> Result<KeySet, IdentityError> {
    key::load_existing(
        &config.data_dir,
        config.issuer.algorithm,
        now_ms,
        key_window_ms(config),
    )
}

fn key_infos(set: &KeySet, window_ms: i64) -> Vec<KeyInfo> {
    let count = set.keys().len();
    set.keys()
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let retired = set.retired_ms(i);
            KeyInfo {
                kid: key.kid.clone(),
                alg: token::alg_str(key.algorithm),
                created: key.created_ms.div_euclid(1000),
                retired: retired.map(|r| r.div_euclid(1000)),
                expires: retired.map(|r| r.saturating_add(window_ms).div_euclid(1000)),
                current: i + 1 == count,
            }
        })
        .collect()
}

/// How long a retired key stays in force: the longest token lifetime, the leeway, and twice the
/// reload interval for gateways that kept signing with it until they noticed the rotation.
pub(crate) fn key_window_ms(config: &Config) -> i64 {
    millis(
        config
            .issuer
            .max_token_ttl
            .0
            .saturating_add(config.issuer.leeway.0)
            .saturating_add(KEY_RELOAD_INTERVAL * 2),
    )
}

/// Signs and verifies a probe so that a key that cannot sign is never used.
pub(crate) fn self_test(key: &SigningKey) -> Result<(), IdentityError> {
    {
        let message = b"portcullis signing key self-test";
        let signature = jsonwebtoken::crypto::sign(message, &key.encoding, key.algorithm)
            .map_err(|e| IdentityError::Crypto(e.to_string()))?;
        if jws::verify_detached(
            message,
            &signature,
            &key.public.decoding,
            key.public.algorithm,
        ) {
            Ok(())
        } else {
            Err(IdentityError::Crypto(
                "the public key does not verify the private key's signature".to_owned(),
            ))
        }
    }
}
