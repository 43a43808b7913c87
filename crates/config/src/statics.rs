//! Header names and values fixed by the configuration (a consumer's id and username, a credential's id, a
//! plugin's literal header, a rate limit), held as `'static` bytes so that the copies the proxy makes of them
//! per request cost no atomic reference count and no free: a clone of a `Bytes` made from a string is an
//! atomic increment (the first one also allocates the shared block), its drop an atomic decrement, ~20 cycles
//! each even uncontended, and a Kong-typical chain of plugins clones about ten such values per request.
//!
//! The bytes are interned: the same text is stored once however many snapshots (reloads) use it, so a config
//! reloaded again and again does not grow the table. What was stored stays for the life of the process, so the
//! table is bounded ([`BUDGET`] bytes): past it, a value keeps its ordinary shared bytes (the same header,
//! only its clones cost the atomics). A config whose values churn (consumers added and deleted through the
//! Admin API) fills the budget once and then costs nothing more.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

/// The most bytes the process ever stores (1 MiB: the ids and usernames of ~15k consumers).
pub const BUDGET: usize = 1 << 20;

/// Interned texts and the bytes they hold.
#[derive(Default)]
struct Table {
    texts: HashSet<&'static [u8]>,
    bytes: usize,
}

impl Table {
    /// `text` as `'static` bytes: the stored copy, or a new one while the budget allows.
    fn intern(&mut self, text: &[u8], budget: usize) -> Option<&'static [u8]> {
        if let Some(stored) = self.texts.get(text) {
            return Some(stored);
        }
        if self.bytes + text.len() > budget {
            return None;
        }
        let stored: &'static [u8] = Box::leak(text.to_vec().into_boxed_slice());
        self.bytes += text.len();
        self.texts.insert(stored);
        Some(stored)
    }
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);

fn intern(text: &[u8]) -> Option<&'static [u8]> {
    TABLE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .intern(text, BUDGET)
}

/// `v` over `'static` bytes (the same value and sensitivity), or `v` itself past the budget.
pub fn value(v: HeaderValue) -> HeaderValue {
    let Some(stored) = intern(v.as_bytes()) else {
        return v;
    };
    match HeaderValue::from_maybe_shared(Bytes::from_static(stored)) {
        Ok(mut out) => {
            out.set_sensitive(v.is_sensitive());
            out
        }
        Err(_) => v,
    }
}

/// `n` over `'static` bytes (the same name), or `n` itself past the budget.
pub fn name(n: HeaderName) -> HeaderName {
    // The text of a header name is valid lower-case ASCII, which `from_static` takes (a standard name comes
    // back as the standard one).
    match intern(n.as_str().as_bytes()).and_then(|s| std::str::from_utf8(s).ok()) {
        Some(text) => HeaderName::from_static(text),
        None => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_values_are_equal_and_share_one_copy() {
        let a = value(HeaderValue::from_str("consumer-0d5e-interned").unwrap());
        let b = value(HeaderValue::from_str("consumer-0d5e-interned").unwrap());
        assert_eq!(a, "consumer-0d5e-interned");
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
        // A clone points at the same bytes (no copy, no shared block).
        assert_eq!(a.clone().as_bytes().as_ptr(), a.as_bytes().as_ptr());
        let mut secret = HeaderValue::from_static("s3cret-interned");
        secret.set_sensitive(true);
        assert!(value(secret).is_sensitive());
        let n = name(HeaderName::from_bytes(b"X-Bench-Interned").unwrap());
        assert_eq!(n, "x-bench-interned");
        assert_eq!(
            n.as_str().as_ptr(),
            name(HeaderName::from_static("x-bench-interned"))
                .as_str()
                .as_ptr()
        );
        assert_eq!(name(http::header::VARY), http::header::VARY);
    }

    #[test]
    fn the_table_stops_at_its_budget_and_stores_a_text_once() {
        let mut t = Table::default();
        assert!(t.intern(b"0123456789", 16).is_some());
        assert!(
            t.intern(b"0123456789", 16).is_some(),
            "stored: no budget needed"
        );
        assert_eq!(t.bytes, 10);
        assert!(t.intern(b"abcdefg", 16).is_none(), "past the budget");
        assert!(t.intern(b"abcdef", 16).is_some());
        assert_eq!(t.bytes, 16);
    }
}
