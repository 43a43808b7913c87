//! Helpers shared by the crate's unit tests: unwrapping a [`Decision`] into the side a test expects.

use crate::{Decision, Denial, Upstream};

/// The denial of `d`; panics (failing the test) when `d` allows.
pub fn denial(d: Decision) -> Denial {
    match d {
        Decision::Deny(d) => d,
        Decision::Allow(u) => panic!("expected a denial, got {u:?}"),
    }
}

/// The upstream changes of `d`; panics (failing the test) when `d` denies.
pub fn allowed(d: Decision) -> Upstream {
    match d {
        Decision::Allow(u) => u,
        Decision::Deny(d) => panic!("expected allow, got {} {:?}", d.status, d.body),
    }
}
