//! DPoP (RFC 9449, Kong's `proof_of_possession_dpop`): what a request presents (the `DPoP` scheme and one
//! proof, checked before the IdP is asked, so a forged proof never costs an IdP call), the binding of the
//! token's `cnf.jkt` to the proof's key (after the lookup), and the proof's single use (last, so only an
//! otherwise accepted proof is remembered).
//!
//! - [`proof`]: the proof's own checks, pure; [`nonce`]: stateless server nonces;
//! - [`replay`]: the per-node (and, with the cluster cache, cluster-wide) replay store.

pub mod nonce;
pub mod proof;
pub mod replay;

use std::str::FromStr;

use gateway_config::plugins::openid_connect::{OidcConfig, PopMode, DPOP_ALGS};
use http::header::AUTHORIZATION;
use http::HeaderName;
use jsonwebtoken::Algorithm;

use crate::errors::Failure;
use crate::extract::{authorization_token, Credential, Source};
use crate::idp::Shared;
use crate::introspect::Introspected;
use crate::RequestParts;
use nonce::Nonces;
pub use proof::ProofError;
use replay::ReplayStore;

/// The request header carrying the proof.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");

/// How far in the future a proof's `iat` may be (clock skew), at most: the smaller of this and the lifetime.
pub const FUTURE_SKEW_S: i64 = 60;

/// One config's DPoP checks.
#[derive(Debug)]
pub struct Dpop {
    strict: bool,
    algs: Vec<Algorithm>,
    lifetime_s: i64,
    nonces: Option<Nonces>,
    replay: ReplayStore,
}

/// What a request presented, after the checks that need nothing from the token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// A plain bearer token (`optional` mode): accepted only if the token is not DPoP-bound.
    Bearer,
    /// The `DPoP` scheme with a proof that verified.
    Proof {
        /// The proof key's thumbprint.
        jkt: String,
        /// The proof's id.
        jti: String,
        /// End of the proof's window (ms): how long its id is remembered.
        until_ms: u64,
    },
}

impl Dpop {
    /// The checks of a config; `None` when `proof_of_possession_dpop` is `off`.
    pub fn new(cfg: &OidcConfig, config_key: [u8; 32], shared: &Shared) -> Option<Dpop> {
        if !cfg.proof_of_possession_dpop.on() {
            return None;
        }
        let names = cfg
            .dpop_signing_alg_values_supported
            .clone()
            .unwrap_or_else(|| DPOP_ALGS.iter().map(|a| (*a).to_owned()).collect());
        Some(Dpop {
            strict: cfg.proof_of_possession_dpop == PopMode::Strict,
            algs: names
                .iter()
                .filter_map(|a| Algorithm::from_str(a).ok())
                .collect(),
            lifetime_s: cfg.dpop_proof_lifetime.max(1.0) as i64,
            nonces: cfg
                .dpop_use_nonce
                .then(|| Nonces::new(shared.keyer.clone(), config_key)),
            replay: ReplayStore::new(
                shared.cache_capacity,
                shared.keyer.clone(),
                shared.cluster.clone(),
            ),
        })
    }

    /// The accepted algorithms, space-separated (the `algs` of a `DPoP` challenge).
    pub fn algs_text(cfg: &OidcConfig) -> String {
        match &cfg.dpop_signing_alg_values_supported {
            Some(a) => a.join(" "),
            None => DPOP_ALGS.join(" "),
        }
    }

    /// What the request presents for its credential: `None` for credentials a grant turns into a token (the
    /// gateway's own token is not bound); a refusal for a missing, forged, expired or nonce-less proof, or for
    /// a plain bearer token in `strict` mode.
    pub fn presented(
        &self,
        req: &RequestParts<'_>,
        credential: &Credential,
        now_ms: u64,
    ) -> Result<Option<Presented>, Failure> {
        let Credential::Bearer { token, source } = credential else {
            return Ok(None);
        };
        let dpop_scheme = matches!(source, Source::Header(h) if h == AUTHORIZATION)
            && authorization_token(req.headers, true).is_some_and(|(_, dpop)| dpop);
        if !dpop_scheme {
            return if self.strict {
                Err(Failure::DpopRequired)
            } else {
                Ok(Some(Presented::Bearer))
            };
        }
        let mut proofs = req.headers.get_all(DPOP).iter();
        let proof = proofs.next().ok_or(Failure::Dpop(ProofError::Missing))?;
        if proofs.next().is_some() {
            return Err(Failure::Dpop(ProofError::Multiple));
        }
        let proof = proof
            .to_str()
            .map_err(|_| Failure::Dpop(ProofError::Malformed))?;
        let v = proof::verify(proof, req.method, &req.target, token, &self.algs)
            .map_err(Failure::Dpop)?;
        let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        if v.iat > now_s + FUTURE_SKEW_S.min(self.lifetime_s) {
            return Err(Failure::Dpop(ProofError::Stale));
        }
        // The proof's age runs from the nonce's time with nonces (Kong's `dpop_use_nonce`), else from `iat`.
        let created = match &self.nonces {
            Some(n) => {
                let issued = v.nonce.as_deref().and_then(|x| n.issued_at(x));
                match issued.and_then(|t| i64::try_from(t).ok()) {
                    Some(t) if t <= now_s + 1 && now_s - t <= self.lifetime_s => t,
                    _ => return Err(Failure::DpopNonce(n.issue(now_s.max(0) as u64))),
                }
            }
            None => v.iat,
        };
        if now_s - created > self.lifetime_s {
            return Err(Failure::Dpop(ProofError::Stale));
        }
        let until_s = created.max(now_s) + self.lifetime_s + 1;
        Ok(Some(Presented::Proof {
            jkt: v.jkt,
            jti: v.jti,
            until_ms: u64::try_from(until_s).unwrap_or(0).saturating_mul(1000),
        }))
    }

    /// The binding of an active token to what was presented: a token with `cnf.jkt` needs a proof of that key;
    /// a proof needs a token bound to its key (in `optional` mode too: the `DPoP` scheme asks for the check).
    pub fn bind(&self, presented: &Presented, info: &Introspected) -> Result<(), Failure> {
        match (presented, info.cnf_jkt()) {
            (Presented::Bearer, None) => Ok(()),
            (Presented::Proof { jkt, .. }, Some(bound)) if constant_eq(jkt, bound) => Ok(()),
            _ => Err(Failure::DpopBound),
        }
    }

    /// Remembers an accepted proof's id; a refusal when it was used before within its window.
    pub async fn use_once(&self, presented: &Presented, now_ms: u64) -> Result<(), Failure> {
        match presented {
            Presented::Proof { jkt, jti, until_ms } => {
                if self.replay.first_use(jkt, jti, *until_ms, now_ms).await {
                    Ok(())
                } else {
                    Err(Failure::Dpop(ProofError::Replayed))
                }
            }
            Presented::Bearer => Ok(()),
        }
    }
}

/// Equal strings, compared in time independent of where they differ.
pub fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
