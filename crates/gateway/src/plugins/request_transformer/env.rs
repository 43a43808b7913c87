//! What request-transformer's `$(…)` templates read (Kong's lazily loaded template environment): the request's
//! headers, its query arguments and the route's URI captures, looked up by name when a template is rendered.

use std::borrow::Cow;

use gateway_config::plugins::template::{Key, Root, Template};
use http::HeaderMap;

use super::args::{Arg, Args};
use super::Entry;

/// What the templates read, as Kong's lazily loaded environment.
pub(super) struct Env<'a> {
    pub(super) headers: &'a HeaderMap,
    pub(super) query: &'a Args,
    pub(super) captures: Option<gateway_config::router::UriCaptures<'a, 'a>>,
}

impl Env<'_> {
    fn lookup(&self, root: Root, key: &Key) -> Option<String> {
        match (root, key) {
            (Root::Headers, Key::Name(name)) => {
                let lower = name.to_ascii_lowercase();
                let mut values = self.headers.get_all(lower.as_str()).iter().peekable();
                if values.peek().is_none() && lower.contains('_') {
                    values = self
                        .headers
                        .get_all(lower.replace('_', "-").as_str())
                        .iter()
                        .peekable();
                }
                values.peek()?;
                let texts: Vec<Cow<str>> = values
                    .map(|v| String::from_utf8_lossy(v.as_bytes()))
                    .collect();
                Some(texts.join(", "))
            }
            (Root::QueryParams, Key::Name(name)) => {
                let values = self.query.get(name)?;
                Some(values.iter().map(Arg::text).collect::<Vec<_>>().join(", "))
            }
            (Root::UriCaptures, Key::Name(name)) => self
                .captures
                .as_ref()?
                .named
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_string()),
            (Root::UriCaptures, Key::Index(i)) => {
                let caps = self.captures.as_ref()?;
                caps.positional
                    .get(usize::try_from(*i).ok()?)
                    .copied()?
                    .map(str::to_owned)
            }
            _ => None,
        }
    }

    pub(super) fn render(&self, t: &Template) -> String {
        t.render(&|root, key| self.lookup(root, key))
    }

    /// The rendered `(name, value)` pairs of a list (entries without a value are left out).
    pub(super) fn pairs(&self, list: &[Entry]) -> Vec<(String, String)> {
        list.iter()
            .filter_map(|e| Some((e.name.clone(), self.render(e.value.as_ref()?))))
            .collect()
    }
}
