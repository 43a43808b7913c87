//! Kong's `path_handling` (`v0`, the default, and `v1`): the path sent upstream from the service path, the
//! request path and the match.

use super::RouteMatch;

/// The upstream path for a matched request (Kong `v0`, or `v1` when [`RouteMatch::path_v1`]).
///
/// `v1` (Kong's `traditional.lua`): with `strip_path` the base and the rest of the request path are
/// concatenated as they are (one `/` dropped when both sides have it, none added): service `/s`, route
/// `/r`, request `/rx` ⇒ `/sx`; without `strip_path` the request path without its first `/` is appended.
///
/// The base is the service path (`/` when absent). With `strip_path` the matched prefix is removed from the
/// request path and the rest is appended to the base with a single `/` between them; without it the whole
/// request path is appended. Examples: service `/s`, route `/r`, request `/r/x` ⇒ `/s/x`; service `/anything`,
/// route `/`, request `/` ⇒ `/anything`; no service path, route `/r`, request `/r` ⇒ `/`.
pub fn upstream_path(service_path: Option<&str>, request_path: &str, m: &RouteMatch) -> String {
    let base = match service_path {
        Some(p) if !p.is_empty() => p,
        _ => "/",
    };
    let base_has_slash = base.ends_with('/');
    if m.path_v1 {
        return upstream_path_v1(base, request_path, m);
    }
    let request_ends_with_slash = request_path.ends_with('/');

    if !m.strip_path {
        if base_has_slash {
            // Keep the request path; its leading "/" is already at the end of the base.
            let rest = request_path.strip_prefix('/').unwrap_or(request_path);
            return format!("{base}{rest}");
        }
        if request_path == "/" || request_path.is_empty() {
            return base.to_string();
        }
        return format!("{base}{request_path}");
    }

    let postfix = request_path.get(m.matched_prefix..).unwrap_or("");
    if base_has_slash {
        if postfix.is_empty() {
            if base == "/" || request_ends_with_slash {
                return base.to_string();
            }
            return base[..base.len() - 1].to_string();
        }
        if postfix.starts_with('/') {
            return format!("{}{postfix}", &base[..base.len() - 1]);
        }
        return format!("{base}{postfix}");
    }
    if postfix.is_empty() {
        if request_path.len() > 1 && request_ends_with_slash {
            return format!("{base}/");
        }
        return base.to_string();
    }
    if postfix.starts_with('/') {
        return format!("{base}{postfix}");
    }
    format!("{base}/{postfix}")
}

/// Kong's `v1`.
fn upstream_path_v1(base: &str, request_path: &str, m: &RouteMatch) -> String {
    if !m.strip_path {
        return format!("{base}{}", request_path.get(1..).unwrap_or(""));
    }
    let postfix = request_path.get(m.matched_prefix..).unwrap_or("");
    match (base.strip_suffix('/'), postfix.starts_with('/')) {
        (Some(trimmed), true) => format!("{trimmed}{postfix}"),
        _ => format!("{base}{postfix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(prefix: &str, strip_path: bool) -> RouteMatch {
        RouteMatch {
            route: 0,
            service: Some(0),
            matched_prefix: prefix.len(),
            strip_path,
            preserve_host: false,
            path_v1: false,
            regex: None,
            https_redirect: None,
        }
    }

    fn up(service: Option<&str>, route: &str, request: &str, strip: bool) -> String {
        assert!(
            request.starts_with(route),
            "test setup: {request} must start with {route}"
        );
        upstream_path(service, request, &m(route, strip))
    }

    #[test]
    fn path_handling_v1() {
        let v1 = |service: Option<&str>, route: &str, request: &str, strip: bool| {
            let mut m = m(route, strip);
            m.path_v1 = true;
            upstream_path(service, request, &m)
        };
        // Kong's documented v1 table (routing docs): the rest is appended as is.
        assert_eq!(v1(Some("/s"), "/fv1", "/fv1foo", true), "/sfoo");
        assert_eq!(v1(Some("/s"), "/fv1", "/fv1/foo", true), "/s/foo");
        assert_eq!(v1(Some("/s/"), "/fv1", "/fv1/foo", true), "/s/foo");
        assert_eq!(v1(Some("/s/"), "/fv1", "/fv1foo", true), "/s/foo");
        assert_eq!(v1(Some("/s"), "/fv1", "/fv1", true), "/s");
        assert_eq!(v1(None, "/fv1", "/fv1", true), "/");
        assert_eq!(v1(Some("/s"), "/fv1", "/fv1/foo", false), "/sfv1/foo");
        assert_eq!(v1(Some("/s/"), "/fv1", "/fv1/foo", false), "/s/fv1/foo");
        // v0 for the same inputs adds the `/`.
        assert_eq!(up(Some("/s"), "/fv1", "/fv1foo", true), "/s/foo");
    }

    #[test]
    fn strip_path_true() {
        // (service path, route path, request path, expected)
        let cases = [
            (Some("/s"), "/r", "/r/x", "/s/x"),
            (Some("/s"), "/r", "/r", "/s"),
            (Some("/s"), "/r", "/r/", "/s/"),
            (Some("/s"), "/r", "/rx", "/s/x"),
            (Some("/anything"), "/", "/", "/anything"),
            (Some("/anything"), "/", "/get", "/anything/get"),
            (Some("/s/"), "/r", "/r", "/s"),
            (Some("/s/"), "/r", "/r/", "/s/"),
            (Some("/s/"), "/r", "/r/x", "/s/x"),
            (Some("/s/"), "/r", "/rx", "/s/x"),
            (Some("/"), "/r", "/r", "/"),
            (None, "/r", "/r", "/"),
            (None, "/r", "/r/", "/"),
            (None, "/r", "/r/x", "/x"),
            (None, "/r", "/rx", "/x"),
            (None, "/", "/a/b", "/a/b"),
            (None, "", "/a/b", "/a/b"),
            (Some("/s"), "", "/a", "/s/a"),
        ];
        for (service, route, request, expected) in cases {
            assert_eq!(
                up(service, route, request, true),
                expected,
                "{service:?} {route} {request}"
            );
        }
    }

    #[test]
    fn strip_path_false() {
        let cases = [
            (Some("/s"), "/r", "/r/x", "/s/r/x"),
            (Some("/s"), "/", "/", "/s"),
            (Some("/s/"), "/r", "/r/x", "/s/r/x"),
            (None, "/r", "/r/x", "/r/x"),
            (None, "/", "/", "/"),
            (Some("/anything"), "/", "/get", "/anything/get"),
        ];
        for (service, route, request, expected) in cases {
            assert_eq!(
                up(service, route, request, false),
                expected,
                "{service:?} {route} {request}"
            );
        }
    }
}
