//! A client connection's last token and its token hash: a client on a keep-alive connection sends the same
//! bearer token with each request, and its keyed BLAKE3 hash (~4% of a warm request's CPU time for a 900-byte
//! JWT) is then computed once per connection instead of once per request.
//!
//! The gateway runs a request's access phase inside [`scope`] with its connection's [`TokenMemo`];
//! [`crate::cluster::keys::token_hash`] made within it compares the token with the connection's last one
//! (byte for byte, under the same keyer) and reuses that hash when they are equal. Outside a scope (a
//! background refresh, the Admin API's purge, tests) every hash is computed. The memo holds one token (at
//! most [`MAX_TOKEN`] bytes) per connection until the connection closes or sends another token; it is never
//! logged, never a cache key, and not shared with another connection.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::cache::{CacheKey, Keyer};

/// The longest token remembered; a longer one is hashed on every request.
pub const MAX_TOKEN: usize = 8 * 1024;

/// One connection's last token hash.
#[derive(Default)]
pub struct TokenMemo {
    slot: Mutex<Slot>,
}

/// The remembered token, the keyer it was hashed with, and the hash (`keyer` `None`: empty).
#[derive(Default)]
struct Slot {
    keyer: Option<[u8; 32]>,
    token: Vec<u8>,
    hash: CacheKey,
}

impl std::fmt::Debug for TokenMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenMemo(..)")
    }
}

impl TokenMemo {
    /// An empty memo (one per client connection).
    pub fn new() -> Self {
        Self::default()
    }

    /// `token`'s hash under `keyer`: the remembered one when `token` is the last token hashed under that
    /// keyer, else `compute()`'s, which is then remembered. A memo in use by another request of the
    /// same connection (HTTP/2) is passed by.
    fn hash(&self, keyer: &Keyer, token: &str, compute: &dyn Fn() -> CacheKey) -> CacheKey {
        let Ok(mut slot) = self.slot.try_lock() else {
            return compute();
        };
        if slot.keyer.as_ref() == Some(keyer.secret()) && slot.token == token.as_bytes() {
            return slot.hash;
        }
        let hash = compute();
        if token.len() <= MAX_TOKEN {
            slot.token.clear();
            slot.token.extend_from_slice(token.as_bytes());
            slot.keyer = Some(*keyer.secret());
            slot.hash = hash;
        }
        hash
    }
}

tokio::task_local! {
    static CONNECTION: Arc<TokenMemo>;
}

/// Runs `fut` with `memo` as its connection's memo.
pub async fn scope<F: Future>(memo: Arc<TokenMemo>, fut: F) -> F::Output {
    CONNECTION.scope(memo, fut).await
}

/// `token`'s hash through the current connection's memo, or `compute()` outside a [`scope`].
pub(crate) fn hash(keyer: &Keyer, token: &str, compute: &dyn Fn() -> CacheKey) -> CacheKey {
    CONNECTION
        .try_with(|memo| memo.hash(keyer, token, compute))
        .unwrap_or_else(|_| compute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::keys::token_hash;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_repeated_token_is_hashed_once_per_connection() {
        let keyer = Keyer::from_key([1; 32]);
        let other = Keyer::from_key([2; 32]);
        let calls = AtomicUsize::new(0);
        let compute = |k: &Keyer, t: &str| {
            calls.fetch_add(1, Ordering::Relaxed);
            k.key(&[b"token", t.as_bytes()])
        };
        let memo = Arc::new(TokenMemo::new());
        let m = &memo;
        let h = |k: &Keyer, t: &str| m.hash(k, t, &|| compute(k, t));
        assert_eq!(h(&keyer, "tok"), keyer.key(&[b"token", b"tok"]));
        assert_eq!(h(&keyer, "tok"), keyer.key(&[b"token", b"tok"]));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        // Another token, or the same token under another keyer, is hashed (and remembered instead).
        assert_eq!(h(&keyer, "tok2"), keyer.key(&[b"token", b"tok2"]));
        assert_eq!(h(&other, "tok2"), other.key(&[b"token", b"tok2"]));
        assert_eq!(h(&keyer, "tok"), keyer.key(&[b"token", b"tok"]));
        assert_eq!(h(&keyer, "to"), keyer.key(&[b"token", b"to"]));
        assert_eq!(calls.load(Ordering::Relaxed), 5);
        // A token longer than the bound is never remembered.
        let long = "a".repeat(MAX_TOKEN + 1);
        h(&keyer, &long);
        h(&keyer, &long);
        assert_eq!(calls.load(Ordering::Relaxed), 7);
        assert_eq!(h(&keyer, "to"), keyer.key(&[b"token", b"to"]));
        assert_eq!(calls.load(Ordering::Relaxed), 7);
    }

    #[tokio::test]
    async fn token_hash_uses_the_scope_and_gives_the_same_hash() {
        let keyer = Keyer::from_key([3; 32]);
        let outside = token_hash(&keyer, "tok");
        let memo = Arc::new(TokenMemo::new());
        let inside = scope(memo.clone(), async { token_hash(&keyer, "tok") }).await;
        assert_eq!(inside, outside);
        let slot = memo.slot.lock().unwrap();
        assert_eq!((slot.token.as_slice(), slot.hash), (&b"tok"[..], outside));
    }
}
