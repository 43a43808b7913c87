//! Query strings and form bodies as Kong's Lua tables: `ngx.decode_args` (a name maps to a string, `true` for a
//! bare name, or a list when repeated) and `kong.service.request.set_query`'s encoding (each name's
//! `ngx.encode_args` text, sorted, joined by `&`), with Kong's table operations (`rename`, `append_value`).

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// One value of an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// `name=value`.
    Str(String),
    /// A bare `name` (Lua's `true`).
    Flag,
}

impl Arg {
    /// The value as a template renders it (`tostring(true)` is `true`).
    pub fn text(&self) -> &str {
        match self {
            Arg::Str(s) => s,
            Arg::Flag => "true",
        }
    }
}

/// Arguments by name, in first-seen order; one value is Lua's scalar, several a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args(pub Vec<(String, Vec<Arg>)>);

/// `ngx.escape_uri`'s component mode: everything but `A-Z a-z 0-9 - . _ ~` is escaped.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The bytes `ngx.escape_uri` leaves as they are (`A-Z a-z 0-9 - . _ ~`), as a table: one load per byte
/// (a query is tens of bytes, checked on every request of a route that adds an argument).
const UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    t
};

/// Where the run of bytes `ngx.escape_uri` leaves as they are, starting at `from`, ends in `q`.
fn unreserved_end(q: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < q.len() && UNRESERVED[q[i] as usize] {
        i += 1;
    }
    i
}

/// Whether `ngx.escape_uri` leaves `t` as it is.
fn unreserved_text(t: &str) -> bool {
    unreserved_end(t.as_bytes(), 0) == t.len()
}

/// `ngx.escape_uri` (component mode); the text itself when nothing needs escaping (the usual case, without a
/// pass through the percent-encoder).
fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if unreserved_text(s) {
        return std::borrow::Cow::Borrowed(s);
    }
    utf8_percent_encode(s, COMPONENT).into()
}

fn unescape(s: &str) -> String {
    if !s.bytes().any(|b| b == b'+' || b == b'%') {
        return s.to_owned();
    }
    let plus = s.replace('+', " ");
    percent_decode(plus.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

impl Args {
    /// `ngx.decode_args` of a query string or form body.
    pub fn decode(text: &str) -> Args {
        let mut args = Args::default();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (unescape(n), Arg::Str(unescape(v))),
                None => (unescape(pair), Arg::Flag),
            };
            if name.is_empty() {
                continue;
            }
            match args.0.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(value),
                None => args.0.push((name, vec![value])),
            }
        }
        args
    }

    /// The values of `name` (`None`: Lua's `nil`).
    pub fn get(&self, name: &str) -> Option<&[Arg]> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// `t[name] = nil`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    /// `t[name] = value` (one value).
    pub fn set(&mut self, name: &str, value: String) {
        self.set_all(name, vec![Arg::Str(value)]);
    }

    fn set_all(&mut self, name: &str, values: Vec<Arg>) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = values,
            None => self.0.push((name.to_owned(), values)),
        }
    }

    /// Kong's `rename(tbl, old, new)`: the value moves, replacing any value `new` had; `false` when `old` is
    /// absent or equal to `new`.
    pub fn rename(&mut self, old: &str, new: &str) -> bool {
        if old == new {
            return false;
        }
        let Some(pos) = self.0.iter().position(|(n, _)| n == old) else {
            return false;
        };
        let (_, values) = self.0.remove(pos);
        self.set_all(new, values);
        true
    }

    /// Kong's `append_value`: a string becomes a list of it and the value, a list grows, `true` or nothing
    /// becomes a list of the value.
    pub fn append(&mut self, name: &str, value: String) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) if values.len() == 1 && values[0] == Arg::Flag => {
                *values = vec![Arg::Str(value)];
            }
            Some((_, values)) => values.push(Arg::Str(value)),
            None => self.0.push((name.to_owned(), vec![Arg::Str(value)])),
        }
    }

    /// The encoding `kong.service.request.set_query` sends: each name's arguments (`name=value`, `name` for a
    /// flag) with `ngx.encode_args`'s escaping, the names' texts sorted, joined by `&`.
    pub fn encode(&self) -> String {
        // Every name's part is written once, `&`-separated in the table's order; the parts are reordered
        // only when they are not sorted already (one or two names usually are).
        let size: usize = (self.0.iter())
            .flat_map(|(n, values)| values.iter().map(move |v| n.len() + v.text().len() + 2))
            .sum();
        let mut out = String::with_capacity(size);
        let mut spans = Vec::with_capacity(self.0.len());
        for (name, values) in &self.0 {
            if !out.is_empty() {
                out.push('&');
            }
            let start = out.len();
            let name = escape(name);
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push('&');
                }
                out.push_str(&name);
                if let Arg::Str(s) = v {
                    out.push('=');
                    out.push_str(&escape(s));
                }
            }
            spans.push(start..out.len());
        }
        if spans
            .windows(2)
            .all(|w| out[w[0].clone()] <= out[w[1].clone()])
        {
            return out;
        }
        spans.sort_unstable_by(|a, b| out[a.clone()].cmp(&out[b.clone()]));
        let mut sorted = String::with_capacity(out.len());
        for span in spans {
            if !sorted.is_empty() {
                sorted.push('&');
            }
            sorted.push_str(&out[span]);
        }
        sorted
    }
}

/// `add` of literal `(name, value)` arguments to a query already in the form [`Args::encode`] writes
/// (`name=value` parts of unreserved characters, no repeated or empty name, sorted): decoding and encoding it
/// again would give it back unchanged, so the new parts are merged in place without either. Prepared at load:
/// the first add of each name, escaped as its `name=value` part, in the order the parts sort.
pub struct EncodedAdds(Vec<(String, String)>);

impl EncodedAdds {
    /// The adds of `adds` (`None` past 64, which [`Self::apply`]'s bit set cannot follow: the general path).
    pub fn new<N: AsRef<str>, V: AsRef<str>>(adds: &[(N, V)]) -> Option<Self> {
        let mut parts: Vec<(String, String)> = Vec::with_capacity(adds.len());
        for (name, value) in adds {
            let (name, value) = (name.as_ref(), value.as_ref());
            if parts.iter().any(|(n, _)| n == name) {
                continue;
            }
            parts.push((
                name.to_owned(),
                format!("{}={}", escape(name), escape(value)),
            ));
        }
        parts.sort_by(|a, b| a.1.cmp(&b.1));
        (parts.len() <= 64).then_some(EncodedAdds(parts))
    }

    /// `query` with the adds whose name it lacks. `None`: the query is not in the encoded form (the caller
    /// decodes, edits and encodes it).
    pub fn apply(&self, query: &str) -> Option<String> {
        // One pass over the bytes checks the form and notes, for each add, whether its name is there and where
        // the first part sorting after it starts (both lists are sorted, so a merge at those offsets gives the
        // order a sort of the union would).
        let q = query.as_bytes();
        let mut present = 0u64;
        let mut at = [q.len(); 64];
        let mut placed = 0;
        let mut prev: Option<(usize, usize, usize)> = None; // the previous part: start, '=', end
        let mut start = 0;
        while start < q.len() {
            let eq = unreserved_end(q, start);
            if eq == start || eq == q.len() || q[eq] != b'=' {
                return None;
            }
            let i = unreserved_end(q, eq + 1);
            // A part ends at `&` (not the last byte: an empty part) or at the end.
            if i < q.len() && (q[i] != b'&' || i + 1 == q.len()) {
                return None;
            }
            let (name, part) = (&query[start..eq], &query[start..i]);
            if let Some((s, e, end)) = prev {
                if &query[s..e] == name || &query[s..end] > part {
                    return None;
                }
            }
            prev = Some((start, eq, i));
            for (k, (add, _)) in self.0.iter().enumerate() {
                if add == name {
                    present |= 1 << k;
                }
            }
            while placed < self.0.len() && self.0[placed].1.as_str() < part {
                at[placed] = start;
                placed += 1;
            }
            start = i + 1;
        }
        let room = query.len() + self.0.iter().map(|(_, p)| p.len() + 1).sum::<usize>();
        let mut out = String::with_capacity(room);
        let mut copied = 0;
        for (k, (_, add)) in self.0.iter().enumerate() {
            if present & (1 << k) != 0 {
                continue;
            }
            // The query up to the part the add goes before (its `&` included), then the add.
            out.push_str(&query[copied..at[k]]);
            copied = at[k];
            if copied == q.len() && !out.is_empty() && !out.ends_with('&') {
                out.push('&');
            }
            out.push_str(add);
            if copied < q.len() {
                out.push('&');
            }
        }
        out.push_str(&query[copied..]);
        Some(out)
    }
}

/// [`EncodedAdds`] made and applied at once (the tests' form).
#[cfg(test)]
pub fn add_to_encoded<N: AsRef<str>, V: AsRef<str>>(
    query: &str,
    adds: &[(N, V)],
) -> Option<String> {
    EncodedAdds::new(adds)?.apply(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_encode_as_kong() {
        let mut a = Args::decode("q1=20&flag&x=a+b%21&x=2&=skip");
        assert_eq!(a.get("q1"), Some(&[Arg::Str("20".into())][..]));
        assert_eq!(a.get("flag"), Some(&[Arg::Flag][..]));
        assert_eq!(a.get("x").map(<[Arg]>::len), Some(2));
        a.set("uri_param2[some_index][1]", "bar".into());
        a.set("uri_param1", "foo".into());
        a.remove("x");
        assert_eq!(
            a.encode(),
            "flag&q1=20&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar"
        );
        // Kong's set_query doc example.
        let mut b = Args::default();
        b.set("foo", "hello world".into());
        b.append("bar", "baz".into());
        b.append("bar", "bla".into());
        b.set("blo", String::new());
        assert_eq!(b.encode(), "bar=baz&bar=bla&blo=&foo=hello%20world");
    }

    #[test]
    fn rename_and_append_follow_kongs_tables() {
        let mut a = Args::decode("a=1&b=2&f");
        assert!(a.rename("a", "b"));
        assert_eq!(a.encode(), "b=1&f");
        assert!(!a.rename("b", "b") && !a.rename("none", "x"));
        a.append("f", "v".into());
        a.append("b", "2".into());
        assert_eq!(a.encode(), "b=1&b=2&f=v");
    }

    #[test]
    fn unreserved_text_is_ngx_escape_uris_unescaped_set() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
            let text = [b];
            if let Ok(t) = std::str::from_utf8(&text) {
                assert_eq!(unreserved_text(t), expected, "{b:#04x}");
                // The same set as the encoder's: a byte the table passes is one `COMPONENT` leaves alone.
                let kept = utf8_percent_encode(t, COMPONENT).to_string() == t;
                assert_eq!(unreserved_text(t), kept, "{b:#04x} against COMPONENT");
            }
        }
        assert!(unreserved_text("bench-key-0123456789abcdef_A.B~z"));
        assert!(!unreserved_text("a b") && !unreserved_text("a%20") && !unreserved_text("é"));
    }

    #[test]
    fn adding_to_an_encoded_query_matches_decode_add_encode() {
        let adds = [
            ("source", "bench"),
            ("b", "x y"),
            ("apikey", "ignored"),
            ("", "e"),
            ("source", "second add of a name: the first wins"),
        ];
        for q in [
            "",
            "apikey=k1",
            "a=1&apikey=k2",
            "apikey=k&z=9",
            "a=1&b=2",
            "a-b=1&a=2",
            "a=",
            "0=1&zz=2",
            "source=mine&zz=1",
            "a=1&b=&c=3",
        ] {
            let mut general = Args::decode(q);
            for (n, v) in adds {
                if general.get(n).is_none() {
                    general.set(n, v.to_string());
                }
            }
            assert_eq!(add_to_encoded(q, &adds), Some(general.encode()), "{q}");
        }
        // Not in the encoded form: the caller takes the general path.
        for q in [
            "b=1&a=2", "a=1&a=2", "a", "a=%20", "a=1&&b=2", "=1", "a=b+c", "a=1&", "&a=1", "a=1&b",
            "a=1=2",
        ] {
            assert_eq!(add_to_encoded(q, &adds), None, "{q}");
        }
    }

    #[test]
    fn a_shortcut_answer_is_always_decode_add_encode() {
        // Random queries over a few names and values, in any order, repeated or not: whenever the shortcut
        // answers, it answers what the general path would; it answers every query already in its form
        // without a repeated name.
        let adds = [("source", "bench"), ("m", "x y"), ("b", "1")];
        let names = ["a", "b", "m", "source", "z", "apikey"];
        let values = ["1", "x", "", "k-2"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut answered, mut canonical) = (0, 0);
        for _ in 0..2000 {
            let parts: Vec<String> = (0..next(5))
                .map(|_| {
                    format!(
                        "{}={}",
                        names[next(names.len())],
                        values[next(values.len())]
                    )
                })
                .collect();
            let q = parts.join("&");
            let mut general = Args::decode(&q);
            for (n, v) in adds {
                if general.get(n).is_none() {
                    general.set(n, v.to_string());
                }
            }
            // (A name given twice is left to the general path too.)
            let mut seen: Vec<&str> = parts.iter().map(|p| p.split('=').next().unwrap()).collect();
            seen.dedup();
            let in_form = Args::decode(&q).encode() == q && seen.len() == parts.len();
            match add_to_encoded(&q, &adds) {
                Some(out) => {
                    assert_eq!(out, general.encode(), "{q}");
                    answered += 1;
                }
                None => assert!(!in_form, "{q} is in the encoded form"),
            }
            canonical += usize::from(in_form);
        }
        assert!(
            answered >= canonical && canonical > 100,
            "{answered} {canonical}"
        );
    }
}
