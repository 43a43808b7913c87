//! Stateless DPoP server nonces (RFC 9449 §8): the issue time and a keyed MAC of it, so any node that shares
//! the key (the cluster salt when `gateway.cluster_cache` is on) accepts a nonce another node gave, and
//! nothing is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::cache::Keyer;

/// MAC bytes kept in a nonce.
const MAC_LEN: usize = 16;

/// Makes and checks nonces for one plugin config.
#[derive(Debug, Clone)]
pub struct Nonces {
    keyer: Keyer,
    scope: [u8; 32],
}

impl Nonces {
    /// Nonces keyed by `keyer`, valid only for the config `scope` (its key).
    pub fn new(keyer: Keyer, scope: [u8; 32]) -> Self {
        Nonces { keyer, scope }
    }

    fn mac(&self, time: &[u8; 8]) -> [u8; 32] {
        self.keyer.key(&[b"dpop-nonce", &self.scope, time])
    }

    /// A fresh nonce for `now_s`.
    pub fn issue(&self, now_s: u64) -> String {
        let time = now_s.to_be_bytes();
        let mut raw = [0u8; 8 + MAC_LEN];
        raw[..8].copy_from_slice(&time);
        raw[8..].copy_from_slice(&self.mac(&time)[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The issue time (seconds) of a nonce this key made; `None` for anything else.
    pub fn issued_at(&self, nonce: &str) -> Option<u64> {
        let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        if raw.len() != 8 + MAC_LEN {
            return None;
        }
        let time: [u8; 8] = raw[..8].try_into().ok()?;
        let expected = self.mac(&time);
        // Constant time: every byte is compared whatever the first difference.
        let diff = raw[8..]
            .iter()
            .zip(&expected[..MAC_LEN])
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        (diff == 0).then(|| u64::from_be_bytes(time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_carries_its_time_and_only_its_key_accepts_it() {
        let key = Keyer::from_key([7; 32]);
        let n = Nonces::new(key.clone(), [1; 32]);
        let nonce = n.issue(1_700_000_000);
        assert_eq!(n.issued_at(&nonce), Some(1_700_000_000));
        assert_eq!(Nonces::new(key, [2; 32]).issued_at(&nonce), None);
        assert_eq!(
            Nonces::new(Keyer::from_key([8; 32]), [1; 32]).issued_at(&nonce),
            None
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        forged[7] ^= 1;
        assert_eq!(n.issued_at(&URL_SAFE_NO_PAD.encode(forged)), None);
        assert_eq!(n.issued_at("not a nonce"), None);
    }
}
