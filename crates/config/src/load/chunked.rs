//! The success path of YAML parsing, item by item: the top-level lists (`services`, `routes`, `plugins`, …)
//! are cut into their items by a line scan, each item is parsed on its own (in parallel when there are many),
//! and an item whose text is unchanged since the previous parse is taken from a cache instead of parsed again.
//! A reload of a 10,000-service file that changed one service parses one service.
//!
//! No YAML parser in Rust is much faster than serde_yaml on this input (measured on the benchmark's 3.5 MB file:
//! serde_yaml 164 ms, serde_yaml_ng 159 ms, yaml-rust2 148 ms untyped, serde-saphyr 277 ms), so the lever is to
//! parse less, not to parse faster.
//!
//! **Why the cut is safe.** The scan only cuts at a line that starts, at the list's item indentation, with `-`
//! followed by a space or the end of the line, and only ends a top-level entry at a line that starts in column 0
//! with a plain `key:`. If such a line were in fact inside a construct of the item before it, that construct can
//! only be a quoted scalar or a flow collection (a block scalar, a plain scalar and a block collection all end at
//! a line indented no deeper than their parent), and then the item before the cut is left with an unterminated
//! quote or bracket, which does not parse. Anything the scan does not recognise (document markers, directives, a
//! byte-order mark, CR line ends, tabs in indentation, duplicate or quoted top-level keys, an alias to an anchor
//! in another item) makes it give up, and so does any item that fails to parse: the caller then parses the whole
//! text with serde_yaml, which reports the error with its line and column exactly as before. So this path only
//! ever returns what the whole-text parse would have returned, and errors are always the whole-text parser's.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::de::DeserializeOwned;

use crate::consumers::RawConsumer;
use crate::raw::{
    RawCertificate, RawConfig, RawPlugin, RawRoute, RawService, RawSni, RawTarget, RawUpstream,
};

/// Parsed items of the previous parse, by their text; see the module docs. Holds one configuration's worth of
/// items (each parse replaces the previous one's).
///
/// Keyed by the text itself with a fast non-cryptographic hasher, not by a digest of it: a hit compares the
/// whole text, so it is exact. On the benchmark's 10,000-service file this cut the cache's work (hash, look up,
/// move, clone) by a third against BLAKE3 digests kept in SipHash maps: 110M to 75M instructions per parse.
#[derive(Default)]
pub struct ParseCache {
    inner: Mutex<Items>,
}

/// Parsed items by their text.
type ByText<T> = HashMap<Box<str>, T, ahash::RandomState>;

#[derive(Default)]
struct Items {
    services: ByText<RawService>,
    routes: ByText<RawRoute>,
    plugins: ByText<RawPlugin>,
    upstreams: ByText<RawUpstream>,
    targets: ByText<RawTarget>,
    consumers: ByText<RawConsumer>,
    certificates: ByText<RawCertificate>,
    snis: ByText<RawSni>,
}

impl Items {
    /// Adds `other`'s items.
    fn merge(&mut self, other: Items) {
        self.services.extend(other.services);
        self.routes.extend(other.routes);
        self.plugins.extend(other.plugins);
        self.upstreams.extend(other.upstreams);
        self.targets.extend(other.targets);
        self.consumers.extend(other.consumers);
        self.certificates.extend(other.certificates);
        self.snis.extend(other.snis);
    }
}

/// How many items one parse reused from the cache and how many it parsed (for `--timings` and the tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Items taken from the cache.
    pub reused: usize,
    /// Items parsed.
    pub parsed: usize,
}

/// The top-level keys whose block-sequence values are cut into items.
const LISTS: [&str; 8] = [
    "services",
    "routes",
    "plugins",
    "upstreams",
    "targets",
    "consumers",
    "certificates",
    "snis",
];

/// Below this many items to parse, one thread does it.
const PARALLEL_FROM: usize = 512;

/// `text` parsed item by item (see the module docs), or `None`: parse the whole text instead.
pub(crate) fn parse(text: &str, cache: &ParseCache) -> Option<(RawConfig, Reuse)> {
    let split = split(text)?;
    let mut raw: RawConfig = if split.rest.lines().all(neutral) {
        RawConfig::default()
    } else {
        serde_yaml::from_str(&split.rest).ok()?
    };
    let mut guard = cache.inner.lock().unwrap_or_else(|e| e.into_inner());
    let mut old = std::mem::take(&mut *guard);
    let mut new = Items::default();
    let mut reuse = Reuse::default();
    let filled = fill(&mut raw, split.lists, &mut old, &mut new, &mut reuse);
    if filled.is_some() {
        *guard = new;
    } else {
        // A failed parse keeps the previous items (the whole-text parse reports the error; the next try
        // reuses them): what was moved to `new` goes back.
        old.merge(new);
        *guard = old;
    }
    drop(guard);
    filled.map(|()| (raw, reuse))
}

/// Parses every cut list into its field of `raw`.
fn fill(
    raw: &mut RawConfig,
    lists: Vec<(&'static str, Vec<&str>)>,
    old: &mut Items,
    new: &mut Items,
    r: &mut Reuse,
) -> Option<()> {
    for (key, chunks) in lists {
        match key {
            "services" => {
                raw.services = Some(items(chunks, &mut old.services, &mut new.services, r)?)
            }
            "routes" => raw.routes = Some(items(chunks, &mut old.routes, &mut new.routes, r)?),
            "plugins" => raw.plugins = Some(items(chunks, &mut old.plugins, &mut new.plugins, r)?),
            "upstreams" => {
                raw.upstreams = Some(items(chunks, &mut old.upstreams, &mut new.upstreams, r)?)
            }
            "targets" => raw.targets = Some(items(chunks, &mut old.targets, &mut new.targets, r)?),
            "consumers" => {
                raw.consumers = Some(items(chunks, &mut old.consumers, &mut new.consumers, r)?)
            }
            "certificates" => {
                raw.certificates = Some(items(
                    chunks,
                    &mut old.certificates,
                    &mut new.certificates,
                    r,
                )?)
            }
            "snis" => raw.snis = Some(items(chunks, &mut old.snis, &mut new.snis, r)?),
            _ => return None,
        }
    }
    Some(())
}

/// The items of one list: cached ones cloned (and moved from `old` to `new`), the others parsed (in parallel
/// when there are many). `None` when one does not parse as exactly one item.
fn items<T: DeserializeOwned + Clone + Send>(
    chunks: Vec<&str>,
    old: &mut ByText<T>,
    new: &mut ByText<T>,
    reuse: &mut Reuse,
) -> Option<Vec<T>> {
    new.reserve(chunks.len());
    let mut missing = Vec::new();
    for (i, &c) in chunks.iter().enumerate() {
        if new.contains_key(c) {
            continue;
        }
        match old.remove_entry(c) {
            Some((text, item)) => {
                new.insert(text, item);
            }
            None => missing.push(i),
        }
    }
    let parsed = parse_all(&missing, &chunks)?;
    reuse.parsed += parsed.len();
    reuse.reused += chunks.len() - parsed.len();
    for (i, item) in missing.into_iter().zip(parsed) {
        new.insert(chunks[i].into(), item);
    }
    chunks.iter().map(|&c| new.get(c).cloned()).collect()
}

/// Parses the chunks at `which`, on several threads when there are many and the process may use several cores.
fn parse_all<T: DeserializeOwned + Send>(which: &[usize], chunks: &[&str]) -> Option<Vec<T>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if which.len() < PARALLEL_FROM || threads < 2 {
        return which.iter().map(|&i| one(chunks[i])).collect();
    }
    let per = which.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = which
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(|&i| one::<T>(chunks[i])).collect()))
            .collect();
        let mut out = Vec::with_capacity(which.len());
        for h in handles {
            let part: Option<Vec<T>> = h.join().ok()?;
            out.extend(part?);
        }
        Some(out)
    })
}

/// One item's text (`- …` with its continuation lines) as the one element of a sequence.
fn one<T: DeserializeOwned>(chunk: &str) -> Option<T> {
    let mut v: Vec<T> = serde_yaml::from_str(chunk).ok()?;
    if v.len() == 1 {
        v.pop()
    } else {
        None
    }
}

/// The text cut up: everything but the cut lists (`rest`, a YAML document of its own) and each cut list's items.
#[derive(Debug)]
struct Split<'a> {
    rest: String,
    lists: Vec<(&'static str, Vec<&'a str>)>,
}

/// A blank line or a comment line (inside a block scalar such a line is content, and it stays where it was).
fn neutral(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    t.is_empty() || t == "\n" || t.starts_with('#')
}

/// `key` of a top-level `key:` line (a plain key in column 0), with whether nothing but a comment follows it.
fn top_key(line: &str) -> Option<(&str, bool)> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let colon = body.find(':')?;
    let key = &body[..colon];
    let mut chars = key.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let after = &body[colon + 1..];
    if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
        return None;
    }
    let after = after.trim_start_matches([' ', '\t']);
    Some((key, after.is_empty() || after.starts_with('#')))
}

/// The indentation of a line in spaces; `None` when a tab is part of it.
fn indent(line: &str) -> Option<usize> {
    let n = line.len() - line.trim_start_matches(' ').len();
    if line[n..].starts_with('\t') {
        None
    } else {
        Some(n)
    }
}

/// Whether the line starts a sequence item at indentation `at`.
fn item_start(line: &str, at: usize) -> bool {
    let t = &line[at..];
    t.starts_with("- ") || t == "-" || t == "-\n"
}

/// Cuts the text (see the module docs); `None` when it is not laid out as the scan expects.
fn split(text: &str) -> Option<Split<'_>> {
    if text.starts_with('\u{feff}') || text.contains('\r') {
        return None;
    }
    // Each line with its end, as byte offsets, so that a run of lines is one slice of `text`.
    let mut bounds = Vec::new();
    let mut from = 0;
    for l in text.split_inclusive('\n') {
        bounds.push((from, from + l.len()));
        from += l.len();
    }
    let line = |i: usize| &text[bounds[i].0..bounds[i].1];
    let mut rest = String::with_capacity(text.len().min(1 << 16));
    let mut lists = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    let mut at = 0;
    while at < bounds.len() {
        let l = line(at);
        if l.starts_with("---") || l.starts_with("...") || l.starts_with('%') {
            return None;
        }
        if neutral(l) || l.starts_with([' ', '\t', '-']) {
            // Content of the entry before (or a stray line the whole-text parse judges): kept as written.
            rest.push_str(l);
            at += 1;
            continue;
        }
        let (key, bare) = top_key(l)?;
        if keys.contains(&key) {
            return None;
        }
        keys.push(key);
        // The entry runs to the next line in column 0 that is neither neutral nor an item of a column-0 list.
        let end = (at + 1..bounds.len())
            .find(|&i| {
                let l = line(i);
                !neutral(l) && !l.starts_with([' ', '\t']) && !item_start(l, 0)
            })
            .unwrap_or(bounds.len());
        let list = LISTS.iter().find(|k| **k == key).filter(|_| bare);
        let body: Vec<&str> = (at + 1..end).map(line).collect();
        match list.and_then(|k| items_of(&body).map(|items| (*k, items))) {
            Some((k, items)) if !items.is_empty() => {
                let base = bounds[at + 1].0;
                let items = items
                    .into_iter()
                    .map(|(a, b)| &text[base + a..base + b])
                    .collect();
                lists.push((k, items));
            }
            Some(_) | None => rest.push_str(&text[bounds[at].0..bounds[end - 1].1]),
        }
        at = end;
    }
    Some(Split { rest, lists })
}

/// The items of a block sequence given as its lines, as byte ranges relative to the first line's start;
/// `None` when the lines are not one block sequence.
fn items_of(lines: &[&str]) -> Option<Vec<(usize, usize)>> {
    let first = lines.iter().position(|l| !neutral(l))?;
    let at = indent(lines[first])?;
    if !item_start(lines[first], at) {
        return None;
    }
    let mut items = Vec::new();
    let mut offset: usize = lines[..first].iter().map(|l| l.len()).sum();
    let mut start = offset;
    for l in &lines[first..] {
        if !neutral(l) {
            let n = indent(l)?;
            if n == at && item_start(l, at) {
                if offset > start {
                    items.push((start, offset));
                }
                start = offset;
            } else if n <= at {
                return None;
            }
        }
        offset += l.len();
    }
    items.push((start, offset));
    Some(items)
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
