//! What a consistent-hashing upstream hashes on, read from a request as Kong's `get_value_to_hash` does:
//! `hash_on`, and `hash_fallback` when the first gives nothing; no value at all hashes the empty string.

use gateway_config::model::{HashOn, Upstream};

/// One `hash_on` (or `hash_fallback`) with the name it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No hashing.
    None,
    /// The authenticated consumer (there are no consumers yet: always empty, so the fallback applies).
    Consumer,
    /// The client's IP address.
    Ip,
    /// A request header (every value, joined with `", "`).
    Header(String),
    /// A cookie; when absent a random value is generated and set on the response.
    Cookie {
        /// The cookie's name.
        name: String,
        /// The `Path` of the generated cookie.
        path: String,
    },
    /// The request path (no query string).
    Path,
    /// A query argument (repeated values sorted and joined with `,`).
    QueryArg(String),
    /// A regex capture of the route's path (routes here have no regex paths: always empty).
    UriCapture(String),
}

/// `hash_on` and `hash_fallback` of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashSpec {
    /// Tried first.
    pub on: Source,
    /// Tried when `on` gives no value.
    pub fallback: Source,
}

/// The request as hashing sees it.
pub struct RequestView<'a> {
    /// Request headers.
    pub headers: &'a http::HeaderMap,
    /// The path, without query string.
    pub path: &'a str,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The client's IP address, if known.
    pub client_ip: Option<std::net::IpAddr>,
    /// The capture groups of the route's regex path (read only when [`HashSpec::wants_captures`]).
    pub captures: Option<&'a gateway_config::router::UriCaptures<'a, 'a>>,
}

/// The value to hash and, for a generated cookie, the `Set-Cookie` value to send back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashValue {
    /// Hashed onto the continuum.
    pub value: String,
    /// `Set-Cookie` header value when `hash_on: cookie` made up the cookie.
    pub set_cookie: Option<String>,
}

impl HashSpec {
    /// The spec of `upstream`.
    pub fn of(upstream: &Upstream) -> HashSpec {
        let source =
            |on: HashOn, header: &Option<String>, arg: &Option<String>, cap: &Option<String>| {
                let name = |v: &Option<String>| v.clone().unwrap_or_default();
                match on {
                    HashOn::None => Source::None,
                    HashOn::Consumer => Source::Consumer,
                    HashOn::Ip => Source::Ip,
                    HashOn::Header => Source::Header(name(header).to_ascii_lowercase()),
                    HashOn::Cookie => Source::Cookie {
                        name: name(&upstream.hash_on_cookie),
                        path: upstream.hash_on_cookie_path.clone(),
                    },
                    HashOn::Path => Source::Path,
                    HashOn::QueryArg => Source::QueryArg(name(arg)),
                    HashOn::UriCapture => Source::UriCapture(name(cap)),
                }
            };
        HashSpec {
            on: source(
                upstream.hash_on,
                &upstream.hash_on_header,
                &upstream.hash_on_query_arg,
                &upstream.hash_on_uri_capture,
            ),
            fallback: source(
                upstream.hash_fallback,
                &upstream.hash_fallback_header,
                &upstream.hash_fallback_query_arg,
                &upstream.hash_fallback_uri_capture,
            ),
        }
    }

    /// Whether the value comes from the route's regex captures (`hash_on`/`hash_fallback: uri_capture`).
    pub fn wants_captures(&self) -> bool {
        matches!(self.on, Source::UriCapture(_)) || matches!(self.fallback, Source::UriCapture(_))
    }

    /// The value to hash for `req`.
    pub fn value(&self, req: &RequestView<'_>) -> HashValue {
        if self.on == Source::None {
            return HashValue::default();
        }
        for source in [&self.on, &self.fallback] {
            if let Source::Cookie { name, path } = source {
                if let Some(v) = cookie(req.headers, name) {
                    return HashValue {
                        value: v,
                        set_cookie: None,
                    };
                }
                let value = uuid::Uuid::new_v4().to_string();
                return HashValue {
                    set_cookie: Some(format!(
                        "{name}={value}; Path={path}; Same-Site=Lax; HttpOnly"
                    )),
                    value,
                };
            }
            if let Some(value) = read(source, req) {
                return HashValue {
                    value,
                    set_cookie: None,
                };
            }
            if self.fallback == Source::None {
                break;
            }
        }
        HashValue::default()
    }
}

fn read(source: &Source, req: &RequestView<'_>) -> Option<String> {
    match source {
        Source::None | Source::Consumer | Source::Cookie { .. } => None,
        // Kong's `hash_on_uri_capture`: a group's name, or its number.
        Source::UriCapture(name) => {
            let c = req.captures?;
            let named = c.named.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            let positional = || {
                name.parse::<usize>()
                    .ok()
                    .and_then(|i| c.positional.get(i).copied().flatten())
            };
            named.or_else(positional).map(str::to_string)
        }
        Source::Ip => req.client_ip.map(|ip| ip.to_string()),
        Source::Header(name) => {
            let values: Vec<&str> = req
                .headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(", "))
        }
        Source::Path => Some(req.path.to_string()),
        Source::QueryArg(name) => query_arg(req.query?, name),
    }
}

fn query_arg(query: &str, name: &str) -> Option<String> {
    let mut values: Vec<String> = url_pairs(query)
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .collect();
    match values.len() {
        0 => None,
        1 => values.pop(),
        _ => {
            values.sort();
            Some(values.join(","))
        }
    }
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(headers: &'a http::HeaderMap, query: Option<&'a str>) -> RequestView<'a> {
        RequestView {
            headers,
            path: "/p",
            query,
            client_ip: "10.0.0.1".parse().ok(),
            captures: None,
        }
    }

    #[test]
    fn uri_captures_by_name_or_number() {
        let caps = gateway_config::router::UriCaptures {
            positional: vec![Some("/users/42"), Some("42")],
            named: vec![("id", "42")],
        };
        let h = http::HeaderMap::new();
        let mut v = view(&h, None);
        v.captures = Some(&caps);
        for name in ["id", "1"] {
            let spec = HashSpec {
                on: Source::UriCapture(name.into()),
                fallback: Source::None,
            };
            assert!(spec.wants_captures());
            assert_eq!(spec.value(&v).value, "42", "{name}");
        }
        let spec = HashSpec {
            on: Source::UriCapture("nope".into()),
            fallback: Source::Ip,
        };
        assert_eq!(
            spec.value(&v).value,
            "10.0.0.1",
            "a missing group falls back"
        );
    }

    #[test]
    fn header_then_fallback_then_empty() {
        let spec = HashSpec {
            on: Source::Header("x-user".into()),
            fallback: Source::Ip,
        };
        let mut h = http::HeaderMap::new();
        assert_eq!(spec.value(&view(&h, None)).value, "10.0.0.1");
        h.insert("x-user", "ann".parse().unwrap());
        assert_eq!(spec.value(&view(&h, None)).value, "ann");
        let spec = HashSpec {
            on: Source::Consumer,
            fallback: Source::None,
        };
        assert_eq!(spec.value(&view(&h, None)).value, "");
    }

    #[test]
    fn query_args_cookies_and_paths() {
        let h = http::HeaderMap::new();
        let spec = HashSpec {
            on: Source::QueryArg("k".into()),
            fallback: Source::Path,
        };
        assert_eq!(spec.value(&view(&h, Some("k=b&x=1&k=a"))).value, "a,b");
        assert_eq!(spec.value(&view(&h, Some("x=1"))).value, "/p");
        let spec = HashSpec {
            on: Source::Cookie {
                name: "sid".into(),
                path: "/".into(),
            },
            fallback: Source::None,
        };
        let made = spec.value(&view(&h, None));
        let set = made.set_cookie.unwrap();
        assert!(
            set.starts_with(&format!("sid={}; Path=/", made.value)),
            "{set}"
        );
        let mut h = http::HeaderMap::new();
        h.insert("cookie", "a=1; sid=xyz".parse().unwrap());
        assert_eq!(
            spec.value(&view(&h, None)),
            HashValue {
                value: "xyz".into(),
                set_cookie: None
            }
        );
    }
}
