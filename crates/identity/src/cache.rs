//! A bounded cache of verified tokens, so that a token's signature is checked once and not on
//! every call it authorizes.
//!
//! Keyed by the SHA-256 of the exact token text: a hit means this very string passed full
//! verification before. An entry is honoured strictly before the token's `exp`, never in the
//! leeway after it; later calls go through full verification again, which applies the leeway.
//! Only successes are stored. Sharded so that concurrent callers rarely share a lock.

use std::collections::HashMap;

use parking_lot::Mutex;
use portcullis_core::Principal;

const SHARDS: usize = 16;

/// The cache's default total capacity.
pub(crate) const DEFAULT_CAPACITY: usize = 10_000;

pub(crate) type TokenDigest = [u8; 32];

struct Entry {
    principal: Principal,
    expires_at: i64,
}

/// Verified tokens by digest.
pub(crate) struct TokenCache {
    shards: Vec<Mutex<HashMap<TokenDigest, Entry>>>,
    per_shard: usize,
}

impl TokenCache {
    /// A cache holding at most about `capacity` tokens.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
        }
    }

    /// The SHA-256 of a token.
    pub(crate) fn digest(token: &str) -> TokenDigest {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }

    fn shard(&self, digest: &TokenDigest) -> &Mutex<HashMap<TokenDigest, Entry>> {
        let index = usize::from(digest[0]) % self.shards.len();
        // INVARIANT: `index` is reduced modulo the shard count, which is never zero.
        &self.shards[index]
    }

    /// The cached principal, if the token was verified before and `now` is before its expiry.
    pub(crate) fn get(&self, digest: &TokenDigest, now: i64) -> Option<Principal> {
        let mut shard = self.shard(digest).lock();
        match shard.get(digest) {
            Some(entry) if now < entry.expires_at => Some(entry.principal.clone()),
            Some(_) => {
                shard.remove(digest);
                None
            }
            None => None,
        }
    }

    /// Stores a verified token. When the shard is full, expired entries go first; if that is
    /// not enough, arbitrary entries are dropped down to seven eighths of the shard's capacity,
    /// so the sweep runs rarely.
    pub(crate) fn insert(&self, digest: TokenDigest, principal: Principal, now: i64) {
        let expires_at = principal.expires_at;
        if now >= expires_at {
            return;
        }
        let mut shard = self.shard(&digest).lock();
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, entry| now < entry.expires_at);
            if shard.len() >= self.per_shard {
                let keep = self.per_shard - self.per_shard.div_ceil(8);
                let excess = shard.len().saturating_sub(keep);
                let victims: Vec<TokenDigest> = shard.keys().take(excess).copied().collect();
                for victim in victims {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(
            digest,
            Entry {
                principal,
                expires_at,
            },
        );
    }

    /// The number of cached tokens.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(n: usize, expires_at: i64) -> Principal {
        Principal {
            agent: format!("a{n}"),
            subject: format!("a{n}"),
            roles: vec![],
            scopes: vec![],
            token_id: n.to_string(),
            issued_at: 0,
            expires_at,
            user: None,
            actors: Vec::new(),
            certificate_thumbprint: None,
            mcp_only: false,
        }
    }

    #[test]
    fn entries_expire_and_capacity_is_bounded() {
        let cache = TokenCache::new(64);
        let d = TokenCache::digest("t0");
        cache.insert(d, principal(0, 100), 50);
        assert_eq!(cache.get(&d, 99).unwrap().agent, "a0");
        assert!(cache.get(&d, 100).is_none());
        assert!(cache.get(&d, 50).is_none(), "an expired entry is removed");

        cache.insert(d, principal(0, 100), 100);
        assert_eq!(cache.len(), 0, "already expired tokens are not stored");

        for n in 0..10_000 {
            cache.insert(
                TokenCache::digest(&format!("t{n}")),
                principal(n, 1_000),
                10,
            );
        }
        assert!(cache.len() <= 64, "{}", cache.len());
        assert!(cache.len() >= 32, "{}", cache.len());
    }

    #[test]
    fn expired_entries_are_evicted_before_live_ones() {
        let cache = TokenCache::new(64 * SHARDS); // 64 entries per shard
        let in_shard_zero = (0..)
            .map(|n| format!("t{n}"))
            .filter(|t| usize::from(TokenCache::digest(t)[0]) % SHARDS == 0);
        let tokens: Vec<String> = in_shard_zero.take(65).collect();
        cache.insert(TokenCache::digest(&tokens[0]), principal(0, 20), 10);
        for (n, token) in tokens.iter().enumerate().take(64).skip(1) {
            cache.insert(TokenCache::digest(token), principal(n, 1_000), 10);
        }
        cache.insert(TokenCache::digest(&tokens[64]), principal(64, 1_000), 30);
        for token in &tokens[1..] {
            assert!(
                cache.get(&TokenCache::digest(token), 30).is_some(),
                "a live entry was evicted"
            );
        }
        assert_eq!(cache.len(), 64);
    }
}
