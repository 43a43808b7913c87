//! The HTTP rules proxy-cache reads as Kong reads them: `Cache-Control` directives
//! (`kong.tools.http.parse_directive_header`), a resource's TTL (`calculate_resource_ttl`: `s-maxage`, else
//! `max-age`, else `Expires`) and media types (`kong.tools.mime_type.parse_mime_type`, RFC 2045's grammar).

use std::time::SystemTime;

use http::HeaderValue;

/// A parsed `Cache-Control` header: each directive lower-cased, with its value when it has one.
#[derive(Debug, Default)]
pub struct Directives(Vec<(String, Option<String>)>);

impl Directives {
    /// The directives of every value of the header (joined with `, ` as Kong joins them).
    pub fn parse<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Self {
        let mut out = Vec::new();
        for value in values {
            let Ok(text) = value.to_str() else { continue };
            for part in text.split(',') {
                // Kong's `^\s*([^=]+)(?:=(.+))?`.
                let part = part.trim_start();
                if part.is_empty() || part.starts_with('=') {
                    continue;
                }
                let (name, value) = match part.split_once('=') {
                    Some((n, v)) if !v.is_empty() => (n, Some(v.to_owned())),
                    Some((n, _)) => (n, None),
                    None => (part, None),
                };
                out.push((name.to_ascii_lowercase(), value));
            }
        }
        Directives(out)
    }

    /// Whether the directive is present (the last one of a name wins, as in Kong's table).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// The directive's value as a number (Lua's `tonumber`); `None` when absent or not a number.
    pub fn number(&self, name: &str) -> Option<f64> {
        let (_, v) = self.0.iter().rev().find(|(n, _)| n == name)?;
        v.as_deref()?.trim().parse::<f64>().ok()
    }
}

/// Kong's `calculate_resource_ttl`: `s-maxage`, else `max-age`, else `Expires` minus now; never below 0.
pub fn resource_ttl(cc: &Directives, expires: Option<&HeaderValue>, now: SystemTime) -> f64 {
    let max_age = cc.number("s-maxage").or_else(|| cc.number("max-age"));
    let ttl = max_age.or_else(|| {
        let at = httpdate::parse_http_date(expires?.to_str().ok()?).ok()?;
        Some(match at.duration_since(now) {
            Ok(d) => d.as_secs() as f64,
            Err(e) => -(e.duration().as_secs() as f64),
        })
    });
    ttl.map_or(0.0, |t| t.max(0.0))
}

/// A media type: type and subtype lower-cased (`*` for a lone `*`), parameters with lower-cased names.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaType {
    /// The type.
    pub kind: String,
    /// The subtype.
    pub subtype: String,
    /// The parameters (name lower-cased, value as written, quotes removed).
    pub params: Vec<(String, String)>,
}

fn is_token(b: u8) -> bool {
    b > 31 && b < 127 && !b"()<>@,;:\\\"/[]?={} \t".contains(&b)
}

fn token(s: &[u8], mut i: usize) -> Option<usize> {
    let start = i;
    while i < s.len() && is_token(s[i]) {
        i += 1;
    }
    (i > start).then_some(i)
}

impl MediaType {
    /// Kong's `parse_mime_type`; `None` for text outside its grammar (`application/xml;`).
    pub fn parse(text: &str) -> Option<MediaType> {
        let s = text.as_bytes();
        let end = token(s, 0)?;
        let (kind, subtype, mut i) = if s.get(end) == Some(&b'/') {
            let sub_end = token(s, end + 1)?;
            (
                text[..end].to_ascii_lowercase(),
                text[end + 1..sub_end].to_ascii_lowercase(),
                sub_end,
            )
        } else if &text[..end] == "*" {
            ("*".to_owned(), "*".to_owned(), end)
        } else {
            return None;
        };
        let mut params = Vec::new();
        while i < s.len() {
            while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
                i += 1;
            }
            if s.get(i) != Some(&b';') {
                return None;
            }
            i += 1;
            while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
                i += 1;
            }
            let name_end = token(s, i)?;
            let name = text[i..name_end].to_ascii_lowercase();
            if s.get(name_end) != Some(&b'=') {
                return None;
            }
            i = name_end + 1;
            let value = if s.get(i) == Some(&b'"') {
                let start = i + 1;
                let mut j = start;
                loop {
                    match s.get(j) {
                        Some(b'"') => break,
                        Some(b'\\') if j + 1 < s.len() && s[j + 1] < 128 => j += 2,
                        Some(&b) if b > 31 && b != 127 => j += 1,
                        _ => return None,
                    }
                }
                i = j + 1;
                text[start..j].to_owned()
            } else {
                let value_end = token(s, i)?;
                let v = text[i..value_end].to_owned();
                i = value_end;
                v
            };
            params.retain(|(n, _): &(String, String)| *n != name);
            params.push((name, value));
        }
        Some(MediaType {
            kind,
            subtype,
            params,
        })
    }

    /// Whether a response of media type `got` (`None`: unparsable) matches this configured one, as Kong's
    /// handler compares them: wildcard type and subtype, and the same parameters exactly.
    pub fn accepts(&self, got: Option<&MediaType>) -> bool {
        let (kind, subtype) = got.map_or((None, None), |g| {
            (Some(g.kind.as_str()), Some(g.subtype.as_str()))
        });
        let empty = Vec::new();
        let params = got.map_or(&empty, |g| &g.params);
        (self.kind == "*" || kind == Some(self.kind.as_str()))
            && (self.subtype == "*" || subtype == Some(self.subtype.as_str()))
            && self.params.len() == params.len()
            && self
                .params
                .iter()
                .all(|(n, v)| params.iter().any(|(pn, pv)| pn == n && pv == v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(text: &str) -> Directives {
        Directives::parse([HeaderValue::from_str(text).unwrap()].iter())
    }

    #[test]
    fn directives_as_kong_reads_them() {
        let d = cc("public, Max-Age=60, no-cache, s-maxage=x");
        assert!(d.has("public") && d.has("no-cache") && d.has("max-age"));
        assert_eq!(d.number("max-age"), Some(60.0));
        assert_eq!(d.number("s-maxage"), None);
        assert!(!d.has("no-store"));
    }

    #[test]
    fn ttl_from_max_age_s_maxage_or_expires() {
        let now = SystemTime::now();
        assert_eq!(resource_ttl(&cc("max-age=10"), None, now), 10.0);
        assert_eq!(
            resource_ttl(&cc("max-age=10, s-maxage=20"), None, now),
            20.0
        );
        assert_eq!(resource_ttl(&cc("max-age=-5"), None, now), 0.0);
        let later = httpdate::fmt_http_date(now + std::time::Duration::from_secs(100));
        let ttl = resource_ttl(
            &cc("public"),
            Some(&HeaderValue::from_str(&later).unwrap()),
            now,
        );
        assert!((99.0..=100.0).contains(&ttl), "{ttl}");
        assert_eq!(resource_ttl(&cc("public"), None, now), 0.0);
    }

    #[test]
    fn media_types_match_as_kong_matches() {
        let m = |t: &str| MediaType::parse(t);
        let json = m("application/json").unwrap();
        assert!(json.accepts(m("Application/JSON").as_ref()));
        assert!(!json.accepts(m("application/json; charset=utf-8").as_ref()));
        let any = m("*/*").unwrap();
        assert!(any.accepts(m("application/xml").as_ref()));
        assert!(any.accepts(None));
        assert!(m("application/*")
            .unwrap()
            .accepts(m("application/xml").as_ref()));
        let utf8 = m("text/html; charset=utf-8").unwrap();
        assert!(utf8.accepts(m("text/html;charset=utf-8").as_ref()));
        assert!(!utf8.accepts(m("text/html; charset=UTF-8").as_ref()));
        assert_eq!(m("application/xml;"), None);
        assert_eq!(m("application/xml "), None);
        assert!(!json.accepts(None));
        assert_eq!(
            m("a/b; q=\"x y\"").unwrap().params,
            vec![("q".into(), "x y".into())]
        );
    }
}
