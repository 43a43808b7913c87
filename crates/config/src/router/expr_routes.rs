//! Routes matched by an `expression` (Kong's expressions router): kept apart from the traditional index,
//! in one list sorted as atc-router's `Router::execute` walks its matchers (by `priority`, highest first;
//! equal priorities by route id, highest first), and evaluated in that order: the first that matches wins.
//! They are tried before the traditional routes, as in Kong's `expressions` flavor, where a traditional
//! route's converted priority is always below any expression route's (`EXPRESSION_ONLY_BIT`, the top
//! byte, in `kong/router/transform.lua`). An empty list costs the traditional lookup nothing.

use std::cmp::Reverse;

use uuid::Uuid;

use super::expression::{Expression, Facts};
use super::regex_paths::RegexPath;
use super::{Priority, RequestView, RouteMatch};
use crate::model::{PathHandling, Protocol, Route};

/// One expression route, reduced to what matching needs.
#[derive(Debug, Clone)]
pub(super) struct ExprRoute {
    /// Index in `Config::routes_with_services()` order.
    route: usize,
    service: Option<usize>,
    strip_path: bool,
    preserve_host: bool,
    path_v1: bool,
    https_redirect: Option<u16>,
    /// Kong appends `net.protocol == ...` for the route's protocols unless they are only `https`:
    /// `(plain HTTP allowed, TLS allowed)`.
    schemes: (bool, bool),
    expression: Expression,
    /// Index in the router's regexes of this expression's first `http.path ~` regex.
    regex_base: u32,
    order: (Reverse<i64>, Reverse<Uuid>),
}

impl ExprRoute {
    /// Compiles `route` (which has an `expression`); its `http.path` regexes are appended to `regexes`
    /// (for `uri_captures`). The error is the `expression` field's message.
    pub(super) fn new(
        route: &Route,
        position: usize,
        service: Option<usize>,
        regexes: &mut Vec<RegexPath>,
    ) -> Result<ExprRoute, String> {
        let source = route.expression.as_deref().unwrap_or_default();
        let expression = Expression::parse(source)?;
        let regex_base = u32::try_from(regexes.len()).unwrap_or(u32::MAX);
        for regex in expression.path_regexes() {
            regexes.push(RegexPath::unanchored(regex.clone(), Priority::lowest()));
        }
        let has = |p: Protocol| route.protocols.contains(&p);
        let http = has(Protocol::Http) || has(Protocol::Grpc);
        let https = has(Protocol::Https) || has(Protocol::Grpcs);
        let only_https = route.protocols.len() == 1 && has(Protocol::Https);
        Ok(ExprRoute {
            route: position,
            service,
            strip_path: route.strip_path,
            preserve_host: route.preserve_host,
            path_v1: route.path_handling == PathHandling::V1,
            https_redirect: (https && !http).then_some(route.https_redirect_status_code),
            schemes: if only_https {
                (true, true)
            } else {
                (http, https)
            },
            expression,
            regex_base,
            order: (Reverse(route.priority), Reverse(route.id)),
        })
    }

    /// The sort key: priority, then id, both highest first.
    pub(super) fn order(&self) -> (Reverse<i64>, Reverse<Uuid>) {
        self.order
    }
}

/// The first expression route (in priority order) whose expression matches the request.
pub(super) fn find(routes: &[ExprRoute], req: &RequestView<'_>) -> Option<RouteMatch> {
    let host = req.host.map(|h| crate::checks::split_host_port(h).0);
    let facts = Facts {
        protocol: if req.https { "https" } else { "http" },
        method: req.method,
        host,
        path: req.path,
        headers: req.headers,
        query: req.query,
        src: req.src,
        dst: req.dst,
        sni: None,
    };
    routes.iter().find_map(|r| {
        let scheme_ok = if req.https { r.schemes.1 } else { r.schemes.0 };
        if !scheme_ok {
            return None;
        }
        let m = r.expression.matches(&facts)?;
        Some(RouteMatch {
            route: r.route,
            service: r.service,
            matched_prefix: m.len,
            strip_path: r.strip_path,
            preserve_host: r.preserve_host,
            path_v1: r.path_v1,
            regex: m.regex.and_then(|k| r.regex_base.checked_add(u32::from(k))),
            https_redirect: r.https_redirect.filter(|_| !req.https),
        })
    })
}
