//! Syntax checks of single values (names, tags, hosts, paths, methods, header names) and the shared messages.
//!
//! Each check returns the message to show after the field path, so the walk in [`crate::validate`] stays short.

use std::net::Ipv6Addr;

/// Message for a port outside 1..=65535.
pub const PORT_RANGE: &str = "must be between 1 and 65535";
/// Message for a timeout outside 1..=2147483646.
pub const TIMEOUT_RANGE: &str = "must be between 1 and 2147483646 (milliseconds)";
/// Message for retries outside 0..=32767.
pub const RETRIES_RANGE: &str = "must be between 0 and 32767";
/// Message for a missing required field (Kong's wording).
pub const REQUIRED: &str = "required field missing";

/// Entity names and instance names: alphanumerics (any script) and `.`, `-`, `_`, `~`.
pub fn name(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_string());
    }
    if value
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '~'))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid value {value:?}: the only accepted ascii characters are alphanumerics or ., -, _, and ~"
        ))
    }
}

/// Tags: non-empty, no control characters, no `,` and no `/`.
pub fn tag(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_string());
    }
    if value
        .chars()
        .any(|c| c.is_control() || c == ',' || c == '/')
    {
        return Err(format!(
            "invalid tag {value:?}: must not contain \",\", \"/\" or control characters"
        ));
    }
    Ok(())
}

/// HTTP method of a route: an uppercase token.
pub fn method(value: &str) -> Result<(), String> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!(
            "invalid method {value:?}: must be an uppercase token such as \"GET\""
        ))
    }
}

/// A route path: a `/`-prefixed plain prefix, or a regex path: `~/` then a pattern that Kong anchors with
/// `^` (see [`regex_path`]). As in Kong, a regex path is checked for valid percent-encoding only, not for
/// the characters a prefix must percent-encode (`?` is a regex operator).
pub fn route_path(value: &str) -> Result<(), String> {
    let Some(pattern) = value.strip_prefix('~') else {
        return path_chars(value);
    };
    if !pattern.starts_with('/') {
        return Err("a regex path must start with \"~/\"".to_string());
    }
    percent_encoding(value.as_bytes())?;
    regex_syntax::Parser::new()
        .parse(&regex_path(pattern))
        .map(|_| ())
        .map_err(|e| {
            let (kind, offset) = match &e {
                regex_syntax::Error::Parse(e) => (e.kind().to_string(), e.span().start.offset),
                regex_syntax::Error::Translate(e) => (e.kind().to_string(), e.span().start.offset),
                _ => (e.to_string(), 1),
            };
            // The offset counts the `^` put in front; report it within the pattern as written.
            format!(
                "invalid regex: '{pattern}' ({kind} at offset {})",
                offset.saturating_sub(1)
            )
        })
}

/// The pattern a regex path (`~` stripped) is matched with: Kong's `"^" .. pattern`, so it is anchored at the
/// start of the path (only its first alternative is, when it has a top-level `|`, exactly as in Kong).
pub fn regex_path(pattern: &str) -> String {
    format!("^{pattern}")
}

/// A service path: like a route path, and without `//`.
pub fn service_path(value: &str) -> Result<(), String> {
    path_chars(value)?;
    if value.contains("//") {
        return Err("must not contain \"//\"".to_string());
    }
    Ok(())
}

fn path_chars(value: &str) -> Result<(), String> {
    if !value.starts_with('/') {
        return Err("must start with \"/\"".to_string());
    }
    let bytes = value.as_bytes();
    if let Some(&b) = bytes
        .iter()
        .find(|&&b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
    {
        return Err(format!(
            "invalid character {:?}: spaces, \"?\", \"#\" and control characters must be percent-encoded",
            char::from(b)
        ));
    }
    percent_encoding(bytes)
}

/// Every `%` is followed by two hex digits.
fn percent_encoding(bytes: &[u8]) -> Result<(), String> {
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(
                    "invalid percent-encoding: \"%\" must be followed by two hex digits"
                        .to_string(),
                );
            }
        }
    }
    Ok(())
}

/// A route host: hostname or IP, optional `:port`, at most one `*` as the whole leftmost or rightmost label.
pub fn route_host(value: &str) -> Result<(), String> {
    let invalid = || {
        Err(format!(
            "invalid host {value:?}: expected a hostname or an IP address, with an optional port"
        ))
    };
    if value.is_empty() {
        return Err("must not be empty".to_string());
    }
    let (name, port) = split_host_port(value);
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
            return Err(format!("invalid port in host {value:?}: {PORT_RANGE}"));
        }
    }
    if let Some(inner) = name.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(()),
            _ => invalid(),
        };
    }
    let stars = name.matches('*').count();
    if stars > 1 {
        return Err(format!(
            "invalid wildcard {value:?}: only one \"*\" is allowed"
        ));
    }
    let bare = if stars == 1 {
        match (name.strip_prefix("*."), name.strip_suffix(".*")) {
            (Some(rest), _) | (None, Some(rest)) => rest,
            (None, None) => {
                return Err(format!(
                "invalid wildcard {value:?}: \"*\" must be the whole leftmost or rightmost label"
            ))
            }
        }
    } else {
        name
    };
    if hostname_labels(bare) {
        Ok(())
    } else {
        invalid()
    }
}

/// A service host: hostname or IP address (IPv6 with or without brackets), no port, no wildcard.
pub fn service_host(value: &str) -> Result<(), String> {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    if bare.parse::<Ipv6Addr>().is_ok() || hostname_labels(value) {
        return Ok(());
    }
    if value.contains("://") {
        return Err(format!(
            "invalid host {value:?}: expected a hostname or an IP address (write a URL in `url`)"
        ));
    }
    if value.contains(':') {
        return Err(format!(
            "invalid host {value:?}: give the port in `port`, not in `host`"
        ));
    }
    Err(format!(
        "invalid host {value:?}: expected a hostname or an IP address"
    ))
}

/// A header name: an HTTP token.
pub fn header_name(value: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !value.is_empty() && value.bytes().all(token) {
        Ok(())
    } else {
        Err(format!("invalid header name {value:?}"))
    }
}

/// Splits `name[:port]`, understanding bracketed IPv6 literals.
pub fn split_host_port(value: &str) -> (&str, Option<&str>) {
    if value.starts_with('[') {
        return match value.find(']') {
            Some(end) => {
                let (name, rest) = value.split_at(end + 1);
                (name, rest.strip_prefix(':'))
            }
            None => (value, None),
        };
    }
    match value.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (value, None),
    }
}

/// Dot-separated labels of letters, digits, `-` and `_`; a single trailing dot is allowed. No length limit
/// on a label or the name: Kong's `check_hostname` has none (decK's sanitizer writes 64-character labels that
/// Kong stores), and a name too long for DNS fails when it is resolved, as in Kong.
pub(crate) fn hostname_labels(value: &str) -> bool {
    let value = value.strip_suffix('.').unwrap_or(value);
    !value.is_empty()
        && value.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T>(r: Result<T, String>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn names_and_tags() {
        assert!(name("orders-v2_x.y~z").is_ok());
        assert!(name("bestellungen-ä").is_ok());
        assert_eq!(
            err(name("a b")),
            "invalid value \"a b\": the only accepted ascii characters are alphanumerics or ., -, _, and ~"
        );
        assert_eq!(err(name("")), "must not be empty");
        assert!(tag("team:payments").is_ok());
        assert_eq!(
            err(tag("a,b")),
            "invalid tag \"a,b\": must not contain \",\", \"/\" or control characters"
        );
    }

    #[test]
    fn methods() {
        assert!(method("GET").is_ok());
        assert_eq!(
            err(method("get")),
            "invalid method \"get\": must be an uppercase token such as \"GET\""
        );
        assert!(method("").is_err());
        assert!(method("GE T").is_err());
    }

    #[test]
    fn paths() {
        assert!(route_path("/").is_ok());
        assert!(route_path("/a%20b/c").is_ok());
        assert_eq!(err(route_path("orders")), "must start with \"/\"");
        assert!(route_path("~/x/\\d+$").is_ok());
        assert!(route_path("~/users/(?<id>\\d+)/(?P<tab>[a-z]+)?").is_ok());
        assert!(route_path("~/a b?#").is_ok(), "a regex is not a prefix");
        assert_eq!(
            err(route_path("~x/\\d+")),
            "a regex path must start with \"~/\""
        );
        assert_eq!(
            err(route_path("~/a/(\\d+")),
            "invalid regex: '/a/(\\d+' (unclosed group at offset 3)"
        );
        assert_eq!(
            err(route_path("~/a/[z-a]")),
            "invalid regex: '/a/[z-a]' (invalid character class range, the start must be <= the end at offset 4)"
        );
        // Rust's regex has no look-around (nor has Kong's traditional_compatible router, which uses it too).
        assert!(err(route_path("~/a(?=b)")).starts_with("invalid regex: '/a(?=b)' (look-around"));
        assert_eq!(
            err(route_path("~/a%zz")),
            "invalid percent-encoding: \"%\" must be followed by two hex digits"
        );
        assert_eq!(
            err(route_path("/a b")),
            "invalid character ' ': spaces, \"?\", \"#\" and control characters must be percent-encoded"
        );
        assert_eq!(
            err(route_path("/a%zz")),
            "invalid percent-encoding: \"%\" must be followed by two hex digits"
        );
        assert!(route_path("/a//b").is_ok());
        assert_eq!(err(service_path("/a//b")), "must not contain \"//\"");
        assert_eq!(err(service_path("a")), "must start with \"/\"");
    }

    #[test]
    fn route_hosts() {
        for ok in [
            "example.com",
            "Example.COM",
            "example.com:8080",
            "*.example.com",
            "example.*",
            "*.example.com:8443",
            "10.0.0.1",
            "[::1]:80",
            "localhost",
        ] {
            assert!(route_host(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            err(route_host("*.*.com")),
            "invalid wildcard \"*.*.com\": only one \"*\" is allowed"
        );
        assert_eq!(
            err(route_host("ex*.com")),
            "invalid wildcard \"ex*.com\": \"*\" must be the whole leftmost or rightmost label"
        );
        assert_eq!(
            err(route_host("a.*.com")),
            "invalid wildcard \"a.*.com\": \"*\" must be the whole leftmost or rightmost label"
        );
        assert_eq!(
            err(route_host("exa mple.com")),
            "invalid host \"exa mple.com\": expected a hostname or an IP address, with an optional port"
        );
        assert_eq!(
            err(route_host("example.com:0")),
            "invalid port in host \"example.com:0\": must be between 1 and 65535"
        );
        assert!(route_host("a..b").is_err());
    }

    #[test]
    fn service_hosts() {
        for ok in [
            "httpbin.org",
            "10.1.2.3",
            "::1",
            "[::1]",
            "my_host.internal",
        ] {
            assert!(service_host(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            err(service_host("a:80")),
            "invalid host \"a:80\": give the port in `port`, not in `host`"
        );
        assert_eq!(
            err(service_host("http://a")),
            "invalid host \"http://a\": expected a hostname or an IP address (write a URL in `url`)"
        );
        assert_eq!(
            err(service_host("a/b")),
            "invalid host \"a/b\": expected a hostname or an IP address"
        );
    }

    #[test]
    fn header_names_and_split() {
        assert!(header_name("x-version").is_ok());
        assert_eq!(err(header_name("x y")), "invalid header name \"x y\"");
        assert_eq!(split_host_port("a.com:80"), ("a.com", Some("80")));
        assert_eq!(split_host_port("[::1]:80"), ("[::1]", Some("80")));
        assert_eq!(split_host_port("[::1]"), ("[::1]", None));
        assert_eq!(split_host_port("a.com"), ("a.com", None));
    }
}
