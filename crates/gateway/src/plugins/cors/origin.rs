//! Kong's origin matching (`configure_origin` in `kong/plugins/cors/handler.lua`): which configured origins are
//! flat domains and which are regexes, how a regex is anchored, and how an `Origin` is normalized (LuaSocket's
//! `url.parse`: scheme, host, port without the scheme's default).

use regex::Regex;

/// What `Access-Control-Allow-Origin` becomes.
#[derive(Debug, PartialEq)]
pub(super) enum Allow {
    /// `*`.
    All,
    /// This origin.
    This(String),
    /// None: the header is removed (the upstream's too).
    None,
    /// Already set by the caller (the one flat origin, prepared once).
    Set,
}

/// One configured origin, prepared.
#[derive(Debug)]
enum Entry {
    /// `*` in a list of several.
    Star,
    /// A flat domain, normalized.
    Domain(String),
    /// A regex, anchored as Kong anchors it; matched against the host when the entry has no `:`.
    Regex { re: Regex, by_host: bool },
}

/// The configured origins of one instance, compiled once.
#[derive(Debug)]
pub(super) struct Origins {
    /// No origins, or `*` alone: every origin (no `Vary`).
    any: bool,
    /// One flat origin: sent as configured whatever the request's `Origin` (Kong's shortcut).
    single: Option<String>,
    entries: Vec<Entry>,
}

/// Kong's test for "this does not look like a regex": only `A-Za-z0-9.:/-`.
fn is_flat(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'-'))
}

impl Origins {
    /// Prepares `origins` (already checked by the schema: every regex compiles).
    pub(super) fn new(origins: &[String]) -> Self {
        let any = origins.is_empty() || (origins.len() == 1 && origins[0] == "*");
        let single = (origins.len() == 1 && is_flat(&origins[0])).then(|| origins[0].clone());
        let entries = origins
            .iter()
            .filter_map(|entry| {
                if entry == "*" {
                    return Some(Entry::Star);
                }
                let by_host = !entry.contains(':');
                if is_flat(entry) {
                    return Some(Entry::Domain(normalize(entry).domain));
                }
                // Kong 0.x did not anchor regexes: `$` is added unless present, a leading `^` dropped, and
                // the match is anchored at the start (PCRE's `a` flag, which anchors every alternative).
                let body = entry.strip_prefix('^').unwrap_or(entry);
                let dollar = if body.ends_with('$') { "" } else { "$" };
                Regex::new(&format!("^(?:{body}{dollar})"))
                    .ok()
                    .map(|re| Entry::Regex { re, by_host })
            })
            .collect();
        Origins {
            any,
            single,
            entries,
        }
    }

    /// The one flat origin, when that is the config (sent whatever the request's `Origin`).
    pub(super) fn single(&self) -> Option<&str> {
        self.single.as_deref()
    }

    /// Whether every origin is allowed without looking at the request (`Vary` not added).
    pub(super) fn any(&self) -> bool {
        self.any
    }

    /// The decision for a request's `Origin` (`None`: absent or empty).
    pub(super) fn allow(&self, origin: Option<&str>) -> Allow {
        if let Some(single) = &self.single {
            return Allow::This(single.clone());
        }
        let Some(origin) = origin.filter(|o| !o.is_empty()) else {
            return Allow::None;
        };
        if self.entries.iter().any(|e| matches!(e, Entry::Star)) {
            return Allow::All;
        }
        let req = normalize(origin);
        let found = self.entries.iter().any(|e| match e {
            Entry::Star => false,
            Entry::Domain(d) => *d == req.domain,
            Entry::Regex { re, by_host } => {
                re.is_match(if *by_host { &req.host } else { &req.domain })
            }
        });
        if found {
            Allow::This(req.domain)
        } else {
            Allow::None
        }
    }
}

/// An origin as Kong's `normalize_origin` gives it.
#[derive(Debug, PartialEq)]
pub(super) struct Normalized {
    /// `scheme://host[:port]` (the default port dropped), or the text as given when it has no host.
    pub(super) domain: String,
    /// The host, or the text as given when it has none.
    pub(super) host: String,
}

/// LuaSocket's `url.parse` reduced to what `normalize_origin` reads: scheme, host and port.
pub(super) fn normalize(text: &str) -> Normalized {
    let plain = || Normalized {
        domain: text.to_owned(),
        host: text.to_owned(),
    };
    // The fragment and query go first, then the scheme (`^([%w][%w%+%-%.]*)%:`), then `//authority`.
    let rest = text.split(['#', '?']).next().unwrap_or("");
    let (scheme, rest) = match rest.split_once(':') {
        Some((s, r))
            if s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            (Some(s), r)
        }
        _ => (None, rest),
    };
    let Some(after) = rest.strip_prefix("//") else {
        return plain();
    };
    let authority = after.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (mut host, mut port) = (authority, None);
    if let Some((h, p)) = authority.rsplit_once(':') {
        if !p.contains(']') {
            (host, port) = (h, Some(p));
        }
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        host = inner;
    }
    if host.is_empty() {
        return plain();
    }
    if (scheme == Some("http") && port == Some("80"))
        || (scheme == Some("https") && port == Some("443"))
    {
        port = None;
    }
    let mut domain = String::with_capacity(text.len());
    if let Some(s) = scheme {
        domain.push_str(s);
        domain.push_str("://");
    }
    domain.push_str(host);
    if let Some(p) = port {
        domain.push(':');
        domain.push_str(p);
    }
    Normalized {
        domain,
        host: host.to_owned(),
    }
}
