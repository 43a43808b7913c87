//! Regex paths: each compiled once per config, and the ones of a host bucket indexed by the literal text
//! every match of theirs starts with, so a lookup runs only the regexes whose literal prefix the request
//! path starts with (`~/users/\d+` runs for `/users/…`, never for `/orders/…`), best first.

use std::cmp::Reverse;

use regex::Regex;
use regex_syntax::hir::literal::Extractor;
use regex_syntax::hir::Look;

use super::trie::PathTrie;
use super::Priority;
use crate::checks;

/// One compiled regex path of a route.
#[derive(Debug, Clone)]
pub(super) struct RegexPath {
    /// Index of the route in the router's compiled routes.
    pub(super) route: u32,
    /// The route's priority for this path.
    pub(super) priority: Priority,
    /// `^` + the pattern (Kong's anchoring).
    regex: Regex,
    /// Text every match starts with, at the start of the path (empty when the pattern is not anchored as a
    /// whole, e.g. `/a|/b`, or starts with no fixed text).
    literal_prefix: Vec<u8>,
}

impl RegexPath {
    /// Compiles `pattern` (the path without its `~`); the error is the field's message, the same as
    /// validation's for a syntax error.
    pub(super) fn new(pattern: &str, route: u32, priority: Priority) -> Result<RegexPath, String> {
        let anchored = checks::regex_path(pattern);
        let regex = Regex::new(&anchored).map_err(|e| {
            match checks::route_path(&format!("~{pattern}")) {
                Err(message) => message,
                // Valid syntax, but over the compiled size limit.
                Ok(()) => format!("invalid regex: '{pattern}' ({})", last_line(&e.to_string())),
            }
        })?;
        Ok(RegexPath {
            route,
            priority,
            literal_prefix: literal_prefix(&anchored),
            regex,
        })
    }

    /// An expression's `http.path ~` regex, as written (ATC does not anchor it): only read by
    /// [`RegexPath::captures`], never indexed in a bucket.
    pub(super) fn unanchored(regex: Regex, priority: Priority) -> RegexPath {
        RegexPath {
            route: u32::MAX,
            priority,
            regex,
            literal_prefix: Vec::new(),
        }
    }

    /// Length of the text matched at the start of `path`, if the regex matches it. Kong strips that many
    /// bytes with `strip_path` (the match starts at 0 unless the pattern has a top-level `|`).
    fn matched_len(&self, path: &str) -> Option<usize> {
        self.regex.find(path).map(|m| m.len())
    }

    /// The groups of the match over `path`, when any group besides the whole match took part.
    pub(super) fn captures<'p>(&self, path: &'p str) -> Option<UriCaptures<'_, 'p>> {
        let caps = self.regex.captures(path)?;
        let positional: Vec<Option<&'p str>> = caps.iter().map(|g| g.map(|m| m.as_str())).collect();
        if positional.iter().skip(1).all(Option::is_none) {
            return None;
        }
        let named = self
            .regex
            .capture_names()
            .flatten()
            .filter_map(|name| Some((name, caps.name(name)?.as_str())))
            .collect();
        Some(UriCaptures { positional, named })
    }
}

/// The text every match of `anchored` starts with, when every match is anchored at the start of the
/// path; else empty (the regex is then tried for every path).
fn literal_prefix(anchored: &str) -> Vec<u8> {
    let Ok(hir) = regex_syntax::Parser::new().parse(anchored) else {
        return Vec::new();
    };
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return Vec::new();
    }
    Extractor::new()
        .extract(&hir)
        .longest_common_prefix()
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// The capture groups of a regex path match (Kong's `uri_captures`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriCaptures<'r, 'p> {
    /// Group `i` at index `i`, `None` when it took no part in the match; index 0 is the whole match.
    pub positional: Vec<Option<&'p str>>,
    /// The named groups that took part, in the pattern's order.
    pub named: Vec<(&'r str, &'p str)>,
}

/// The regex paths of one host bucket, in a trie keyed by their literal prefix.
#[derive(Debug, Clone, Default)]
pub(super) struct RegexPaths {
    /// Indexes into the router's regex paths; under each prefix by decreasing priority once
    /// [`RegexPaths::finish`] ran.
    trie: PathTrie,
    /// The best priority of all entries (`None` when there are none).
    best: Option<Priority>,
}

impl RegexPaths {
    /// Adds regex path `r`, whose index in the router's regex paths is `regex`.
    pub(super) fn push(&mut self, regex: u32, r: &RegexPath) {
        self.trie.insert(&r.literal_prefix, regex);
        self.best = self.best.max(Some(r.priority));
    }

    /// Sorts the entries under each prefix by decreasing priority.
    pub(super) fn finish(&mut self, all: &[RegexPath]) {
        self.trie
            .sort_values_by_key(|i| Reverse(all.get(*i as usize).map(|r| r.priority)));
    }

    /// The best entry whose regex matches `path`, whose priority is above `floor` and that `accepts` (the
    /// route's methods and headers): its index and the length matched.
    pub(super) fn find(
        &self,
        all: &[RegexPath],
        path: &str,
        mut floor: Option<Priority>,
        accepts: impl Fn(&RegexPath) -> bool,
    ) -> Option<(u32, usize)> {
        let beats = |r: &RegexPath, floor: Option<Priority>| floor.is_none_or(|f| r.priority > f);
        // No entry, or none can beat the floor: the trie is not walked.
        let best = self.best?;
        if floor.is_some_and(|f| best <= f) {
            return None;
        }
        let mut found = None;
        self.trie.walk(path.as_bytes(), |_, entries| {
            for &idx in entries {
                let Some(r) = all.get(idx as usize) else {
                    continue;
                };
                // Sorted: once one cannot beat the floor, the rest of this prefix cannot either.
                if !beats(r, floor) {
                    break;
                }
                if !accepts(r) {
                    continue;
                }
                if let Some(len) = r.matched_len(path) {
                    found = Some((idx, len));
                    floor = Some(r.priority);
                    break;
                }
            }
        });
        found
    }
}

/// The last line of a `regex` error (its syntax errors repeat the pattern over several lines first),
/// without the `error: ` label.
fn last_line(message: &str) -> &str {
    let line = message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(message)
        .trim();
    line.strip_prefix("error: ").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes_only_of_anchored_patterns() {
        let cases: [(&str, &[u8]); 9] = [
            ("/users/\\d+$", b"/users/"),
            ("/version/(?<v>\\d+)/users", b"/version/"),
            ("/a(b|c)d", b"/a"),
            // é and è share their first UTF-8 byte; the trie is over bytes.
            ("/caf(é|è)", b"/caf\xc3"),
            ("(?i)/abc", b"/"),
            ("/alt|/b", b""),
            ("(/a|/b)/c", b"/"),
            ("/[a-z]+", b"/"),
            (".*", b""),
        ];
        for (pattern, want) in cases {
            let got = literal_prefix(&checks::regex_path(pattern));
            assert_eq!(got, want, "{pattern}");
        }
    }
}
