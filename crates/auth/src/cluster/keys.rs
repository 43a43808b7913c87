//! Cluster-wide cache keys: BLAKE3 keyed with a key derived from the shared `salt`, so every node
//! computes the same hash for a token, and no node (nor Redis) ever holds the raw token.
//!
//! A token is first reduced to its *token hash* (`token_hash`, shown as hex by the purge API); each
//! cache entry key is then derived from the plugin config's hash and the token hash, so a node that
//! knows only the token hash (a purge message) can compute the entry keys of all its plugin configs.

use crate::cache::{CacheKey, Keyer};

/// BLAKE3 `derive_key` context for the cluster key.
const CONTEXT: &str = "gateway cluster_cache 2026-11 cache-key salt v1";

/// The keyer every node derives from the shared salt.
pub fn keyer_from_salt(salt: &str) -> Keyer {
    Keyer::from_key(blake3::derive_key(CONTEXT, salt.as_bytes()))
}

/// The token hash: identifies a token across nodes and plugin configs. Within a request's
/// [`crate::token_memo::scope`], a token its connection sent before is not hashed again.
pub fn token_hash(keyer: &Keyer, token: &str) -> CacheKey {
    crate::token_memo::hash(keyer, token, &|| keyer.key(&[b"token", token.as_bytes()]))
}

/// The hash of a user name (index of a user's tokens).
pub fn user_hash(keyer: &Keyer, username: &str) -> CacheKey {
    keyer.key(&[b"user", username.as_bytes()])
}

/// The key of one cache entry: `kind` (e.g. `introspection`) of a token under one plugin config.
pub fn entry_key(
    keyer: &Keyer,
    config_key: &[u8; 32],
    kind: &[u8],
    token_hash: &CacheKey,
) -> CacheKey {
    keyer.key(&[kind, config_key, token_hash])
}

/// Lower-case hex of a hash.
pub fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits into a hash.
pub fn parse_hex(text: &str) -> Option<CacheKey> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_salt_same_keys_on_every_node() {
        let a = keyer_from_salt("0123456789abcdef");
        let b = keyer_from_salt("0123456789abcdef");
        let c = keyer_from_salt("0123456789abcdeF");
        assert_eq!(token_hash(&a, "tok"), token_hash(&b, "tok"));
        assert_ne!(token_hash(&a, "tok"), token_hash(&c, "tok"));
        assert_ne!(token_hash(&a, "tok"), token_hash(&a, "tok2"));
        // a token and a user name with the same text do not collide
        assert_ne!(token_hash(&a, "john"), user_hash(&a, "john"));
        // entry keys depend on the config and the kind
        let t = token_hash(&a, "tok");
        let k1 = entry_key(&a, &[1; 32], b"introspection", &t);
        assert_eq!(k1, entry_key(&b, &[1; 32], b"introspection", &t));
        assert_ne!(k1, entry_key(&a, &[2; 32], b"introspection", &t));
        assert_ne!(k1, entry_key(&a, &[1; 32], b"other", &t));
        // the raw token appears nowhere in the key text
        assert!(!hex(&k1).contains("tok"));
    }

    #[test]
    fn hex_round_trip() {
        let k = token_hash(&keyer_from_salt("0123456789abcdef"), "x");
        assert_eq!(parse_hex(&hex(&k)), Some(k));
        assert_eq!(parse_hex(&hex(&k).to_uppercase()), Some(k));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
        assert_eq!(parse_hex(&"é".repeat(32)), None);
    }
}
