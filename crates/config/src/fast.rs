//! Hash maps for the loader's internal indexes, keyed by the config's own data: aHash instead of SipHash
//! (still randomly seeded per process), since a 10k-service reload hashes hundreds of thousands of keys.

/// `HashMap` with aHash.
pub type FastMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
/// `HashSet` with aHash.
pub type FastSet<K> = std::collections::HashSet<K, ahash::RandomState>;
