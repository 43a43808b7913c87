//! Kong's `request-transformer` plugin (priority 801, `kong/plugins/request-transformer/access.lua`): edits
//! the request sent upstream, in Kong's order: the path (`replace.uri`), the method (`http_method`; to `GET`,
//! `HEAD` or `TRACE` a form body's arguments join the query), the headers, the body (form-urlencoded or JSON,
//! as the headers now say), the query; within each, remove, rename, replace, add, append. Values are `$(…)`
//! templates over `headers`, `query_params` and `uri_captures`, parsed at load
//! (`gateway_config::plugins::template`). The edits go to [`UpstreamEdits`](super::UpstreamEdits); a new body
//! is sent by the proxy's request body filter with its `Content-Length`.

mod args;
mod body;
mod env;
mod view;

use gateway_config::plugins::request_transformer::{
    split_pair, RequestTransformerConfig, OPERATIONS,
};
use gateway_config::plugins::template::{Operand, Piece, Root, Template};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};
use args::{Arg, Args};
use body::Rendered;
use env::Env;
use view::{in_upstream_view, upstream_view};

/// One `name:value` entry: the name, and the value's template (`None`: no value).
struct Entry {
    name: String,
    value: Option<Template>,
    /// The name as a header name (lower-cased), parsed once at load (`None`: not a valid header name).
    header: Option<HeaderName>,
    /// The value as a header value when the template has no `$(…)` span, built once at load.
    literal: Option<HeaderValue>,
}

impl Entry {
    /// The header name and the rendered header value of a headers-list entry (`None`: no value, or an
    /// invalid name or value, which Kong's edits leave out as well).
    fn header_pair(&self, env: &Env<'_>) -> Option<(HeaderName, HeaderValue)> {
        let template = self.value.as_ref()?;
        let value = match &self.literal {
            Some(v) => v.clone(),
            None => header_value(&env.render(template))?,
        };
        Some((self.header.clone()?, value))
    }
}

/// One operation's three lists.
#[derive(Default)]
struct Lists {
    body: Vec<Entry>,
    headers: Vec<Entry>,
    query: Vec<Entry>,
}

/// One request-transformer config, running.
pub struct RequestTransformer {
    method: Option<Method>,
    uri: Option<Template>,
    /// Remove, rename, replace, add, append.
    ops: [Lists; 5],
    /// Some template reads `headers` (else the templates need no copy of the headers before the edits).
    reads_headers: bool,
    /// Some template reads `query_params` (else they need no copy of the query before the edits).
    reads_query: bool,
    /// The header edits are `add` only, no template reads `headers`, and neither `http_method` nor a body
    /// edit needs the content type: each added name is looked up in the upstream view without copying it.
    add_headers_only: bool,
    /// The query edits are `add` of literal values only (`name`, `value`), no template reads the query and
    /// `http_method` is not set: an
    /// already encoded query takes them without a decode and an encode ([`args::EncodedAdds`]).
    query_adds: Option<args::EncodedAdds>,
    /// `add_headers_only` with every added value literal, no `replace.uri`, and the query edits either none or
    /// [`Self::query_adds`]: the headers to add, built at load (the first entry of each name, without `Host`
    /// and entries without a valid name or value, sorted by name): the access phase only checks each against
    /// the upstream view ([`RequestTransformer::access_literal_adds`]).
    literal_adds: Option<Vec<(HeaderName, HeaderValue)>>,
}

/// True when `t` has a lookup under `root`.
fn reads(t: &Template, root: Root) -> bool {
    t.pieces.iter().any(|p| match p {
        Piece::Expr(ops) => (ops.iter()).any(|o| matches!(o, Operand::Lookup(r, _) if *r == root)),
        Piece::Text(_) => false,
    })
}

const REMOVE: usize = 0;
const RENAME: usize = 1;
const REPLACE: usize = 2;
const ADD: usize = 3;
const APPEND: usize = 4;

/// Kong's `kong.tools.uri.escape` of a path set with `replace.uri`: what is neither reserved nor unreserved is
/// percent-encoded (`#` too, which would end the path).
const PATH_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn entries(list: &[String]) -> Vec<Entry> {
    list.iter()
        .filter_map(|e| {
            let (name, value) = split_pair(e)?;
            // Checked at load: every value parses.
            let value = (!value.is_empty())
                .then(|| Template::parse(value).ok())
                .flatten();
            let literal = (value.as_ref())
                .filter(|t| t.is_literal())
                .and_then(|t| header_value(&t.render(&|_, _| None)));
            Some(Entry {
                header: header_name(name),
                name: name.to_owned(),
                value,
                literal,
            })
        })
        .collect()
}

/// [`RequestTransformer::literal_adds`]: `None` unless the config is header adds of literal values and at most
/// encoded query adds (`query_adds`).
fn literal_adds(
    ops: &[Lists; 5],
    add_headers_only: bool,
    replaces_uri: bool,
    query_adds: bool,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let query_ops = ops.iter().any(|l| !l.query.is_empty());
    if !add_headers_only || replaces_uri || (query_ops && !query_adds) {
        return None;
    }
    let mut adds: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for e in &ops[ADD].headers {
        let Some(template) = &e.value else { continue };
        if !template.is_literal() {
            return None;
        }
        // What `Entry::header_pair` leaves out (an invalid name or value), and Host, as the access phase does.
        let (Some(name), Some(value)) = (&e.header, &e.literal) else {
            continue;
        };
        if *name != HOST && !adds.iter().any(|(n, _)| n == name) {
            adds.push((
                gateway_config::statics::name(name.clone()),
                gateway_config::statics::value(value.clone()),
            ));
        }
    }
    adds.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Some(adds)
}

/// The content types Kong transforms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Multipart,
    Form,
}

fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let ct = headers
        .get(CONTENT_TYPE)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    if ct.contains("application/json") {
        Some(BodyKind::Json)
    } else if ct.contains("multipart/form-data") {
        Some(BodyKind::Multipart)
    } else if ct.contains("application/x-www-form-urlencoded") {
        Some(BodyKind::Form)
    } else {
        None
    }
}

fn header_name(name: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()
}

fn header_value(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

impl RequestTransformer {
    /// The plugin for `cfg` (checked at load).
    pub fn new(cfg: &RequestTransformerConfig) -> Self {
        let ops = OPERATIONS.map(|op| {
            let (body, headers, query) = cfg.lists(op);
            Lists {
                body: entries(body),
                headers: entries(headers),
                query: entries(query),
            }
        });
        let uri = (cfg.replace.uri.as_deref()).and_then(|u| Template::parse(u).ok());
        let any = |root: Root| {
            uri.as_ref().is_some_and(|t| reads(t, root))
                || ops.iter().any(|l| {
                    [&l.body, &l.headers, &l.query]
                        .into_iter()
                        .flatten()
                        .any(|e| e.value.as_ref().is_some_and(|t| reads(t, root)))
                })
        };
        let method = (cfg.http_method.as_deref())
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok());
        let reads_headers = any(Root::Headers);
        let add_headers_only = !reads_headers
            && method.is_none()
            && ops.iter().all(|l| l.body.is_empty())
            && [REMOVE, RENAME, REPLACE, APPEND]
                .iter()
                .all(|&op| ops[op].headers.is_empty());
        let reads_query = any(Root::QueryParams);
        let query_adds = (method.is_none()
            && !reads_query
            && [REMOVE, RENAME, REPLACE, APPEND]
                .iter()
                .all(|&op| ops[op].query.is_empty()))
        .then(|| {
            (ops[ADD].query.iter())
                .filter_map(|e| Some((e.name.clone(), e.value.as_ref()?)))
                .map(|(name, t)| Some((name, t.is_literal().then(|| t.render(&|_, _| None))?)))
                .collect::<Option<Vec<_>>>()
        })
        .flatten()
        .filter(|adds| !adds.is_empty())
        .and_then(|adds| args::EncodedAdds::new(&adds));
        let literal_adds =
            literal_adds(&ops, add_headers_only, uri.is_some(), query_adds.is_some());
        RequestTransformer {
            method,
            add_headers_only,
            literal_adds,
            query_adds,
            reads_headers,
            reads_query,
            uri,
            ops,
        }
    }

    fn has(&self, list: fn(&Lists) -> &Vec<Entry>) -> bool {
        self.ops.iter().any(|l| !list(l).is_empty())
    }

    /// `http_method` to GET, HEAD or TRACE: a form body's arguments join the query.
    fn body_to_query(&self) -> bool {
        self.method
            .as_ref()
            .is_some_and(|m| *m == Method::GET || *m == Method::HEAD || *m == Method::TRACE)
    }

    /// Kong's `transform_headers` over `h` (the upstream view, without Host); returns the names touched and the
    /// new Host (`replace` is the one operation that sets it).
    fn headers(&self, env: &Env<'_>, h: &mut HeaderMap) -> (Vec<HeaderName>, Option<HeaderValue>) {
        let mut touched = Vec::new();
        let mut host = None;
        for e in &self.ops[REMOVE].headers {
            if let Some(n) = e.header.as_ref().filter(|n| h.contains_key(*n)) {
                h.remove(n);
                touched.push(n.clone());
            }
        }
        for (old, new) in env.pairs(&self.ops[RENAME].headers) {
            let (Some(old), Some(new)) = (header_name(&old), header_name(&new)) else {
                continue;
            };
            if old == new || !h.contains_key(&old) {
                continue;
            }
            let values: Vec<HeaderValue> = h.get_all(&old).iter().cloned().collect();
            h.remove(&old);
            h.remove(&new);
            for v in values {
                h.append(new.clone(), v);
            }
            touched.extend([old, new]);
        }
        for (n, v) in (self.ops[REPLACE].headers.iter()).filter_map(|e| e.header_pair(env)) {
            if n == HOST {
                host = Some(v);
            } else if h.contains_key(&n) {
                h.insert(n.clone(), v);
                touched.push(n);
            }
        }
        for (n, v) in (self.ops[ADD].headers.iter()).filter_map(|e| e.header_pair(env)) {
            if n != HOST && !h.contains_key(&n) {
                h.insert(n.clone(), v);
                touched.push(n);
            }
        }
        for (n, v) in (self.ops[APPEND].headers.iter()).filter_map(|e| e.header_pair(env)) {
            if n != HOST {
                h.append(n.clone(), v);
                touched.push(n);
            }
        }
        (touched, host)
    }

    /// `add` alone (see [`RequestTransformer::add_headers_only`]): what [`Self::headers`] and the access phase
    /// do with a copy of the upstream view, without the copy: an added name absent from the view is removed
    /// and its one value added, the names in order.
    fn add_headers(&self, env: &Env<'_>, req: &Request<'_>, ex: &mut Exchange) {
        let mut added: Vec<(HeaderName, HeaderValue)> = Vec::new();
        for (n, v) in (self.ops[ADD].headers.iter()).filter_map(|e| e.header_pair(env)) {
            if n != HOST && !added.iter().any(|(a, _)| *a == n) && !in_upstream_view(req, ex, &n) {
                added.push((n, v));
            }
        }
        added.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        // Only values: a name added here is absent from the upstream view, so there is nothing to remove
        // first (the general path's `(name, None)` would be a removal that finds nothing).
        ex.edits.header_values.extend(added);
    }

    /// Kong's `transform_querystrings`.
    fn query(&self, env: &Env<'_>, q: &mut Args) {
        for e in &self.ops[REMOVE].query {
            q.remove(&e.name);
        }
        for (old, new) in env.pairs(&self.ops[RENAME].query) {
            q.rename(&old, &new);
        }
        // (Rendered one at a time, and only when the edit applies.)
        let with_value = |op: usize| {
            (self.ops[op].query.iter()).filter_map(|e| Some((e.name.as_str(), e.value.as_ref()?)))
        };
        for (name, value) in with_value(REPLACE) {
            if q.get(name).is_some() {
                q.set(name, env.render(value));
            }
        }
        for (name, value) in with_value(ADD) {
            if q.get(name).is_none() {
                q.set(name, env.render(value));
            }
        }
        for (name, value) in with_value(APPEND) {
            q.append(name, env.render(value));
        }
    }

    fn rendered_body(&self, env: &Env<'_>) -> Rendered {
        Rendered {
            remove: self.ops[REMOVE]
                .body
                .iter()
                .map(|e| e.name.clone())
                .collect(),
            rename: env.pairs(&self.ops[RENAME].body),
            replace: env.pairs(&self.ops[REPLACE].body),
            add: env.pairs(&self.ops[ADD].body),
            append: env.pairs(&self.ops[APPEND].body),
        }
    }
}

/// True when the request carries no body (nothing to read, so an edit builds one from nothing).
fn no_body(headers: &HeaderMap) -> bool {
    !headers.contains_key(TRANSFER_ENCODING)
        && headers
            .get(CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes().trim_ascii() == b"0")
}

impl Plugin for RequestTransformer {
    fn name(&self) -> &'static str {
        "request-transformer"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn needs_body(&self) -> bool {
        self.has(|l| &l.body) || self.body_to_query()
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        if let Some(adds) = &self.literal_adds {
            if self.access_literal_adds(adds, req, ex) {
                return Access::Done(Flow::Continue);
            }
        }
        self.access_general(req, ex)
    }
}

impl RequestTransformer {
    /// The access phase of a config of literal adds ([`RequestTransformer::literal_adds`]): what
    /// [`Self::access_general`] does for it, without its views, renders and sorts. `false`: nothing was done, the
    /// query is not in the form [`args::EncodedAdds`] takes (or arguments are being removed): the general path
    /// runs instead.
    fn access_literal_adds(
        &self,
        adds: &[(HeaderName, HeaderValue)],
        req: &Request<'_>,
        ex: &mut Exchange,
    ) -> bool {
        let query = match &self.query_adds {
            None => None,
            Some(encoded) => {
                let removing = ex
                    .upstream
                    .as_ref()
                    .is_some_and(|u| !u.remove_query_args.is_empty())
                    || !ex.edits.remove_query_args.is_empty();
                if removing {
                    return false;
                }
                match encoded.apply(req.uri.query().unwrap_or("")) {
                    Some(q) => Some(q),
                    None => return false,
                }
            }
        };
        for (name, value) in adds {
            if !in_upstream_view(req, ex, name) {
                ex.edits.header_values.push((name.clone(), value.clone()));
            }
        }
        if query.is_some() {
            ex.edits.query = query;
        }
        true
    }

    fn access_general<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        // The templates' `headers` (Host included); the edits work on a copy without Host, as Kong's. Copied
        // only when a template reads them; built only when an edit or the body's type needs them.
        let needs_view = !self.add_headers_only
            && (self.reads_headers
                || self.method.is_some()
                || self.has(|l| &l.headers)
                || self.has(|l| &l.body));
        let (original, mut h) = match (needs_view, self.reads_headers) {
            (false, _) => (HeaderMap::new(), HeaderMap::new()),
            (true, false) => (HeaderMap::new(), upstream_view(req, ex)),
            (true, true) => {
                let view = upstream_view(req, ex);
                let h = view.clone();
                (view, h)
            }
        };
        h.remove(HOST);
        let gone = ex.upstream.as_ref().map(|u| u.remove_query_args.as_slice());
        let fast_query = match (&self.query_adds, gone.unwrap_or(&[]).is_empty()) {
            (Some(adds), true) if ex.edits.remove_query_args.is_empty() => {
                adds.apply(req.uri.query().unwrap_or(""))
            }
            _ => None,
        };
        let mut query = match fast_query {
            Some(_) => Args::default(),
            None => Args::decode(req.uri.query().unwrap_or("")),
        };
        for name in gone
            .unwrap_or(&[])
            .iter()
            .chain(&ex.edits.remove_query_args)
        {
            query.remove(name);
        }
        let captures = req
            .matched
            .as_ref()
            .and_then(|m| req.snap.router.uri_captures(m, req.uri.path()));
        // The body only matters to `http_method` and the body edits (looked at only then).
        let body = match (self.method.is_some() || self.has(|l| &l.body), req.body) {
            (false, _) => None,
            (true, Some(b)) => Some(b),
            (true, None) => no_body(req.headers).then_some(&b""[..]),
        };
        let mut query_changed = false;
        if let Some(m) = &self.method {
            ex.edits.method = Some(m.clone());
            if let (true, Some(BodyKind::Form), Some(b)) =
                (self.body_to_query(), body_kind(&h), body)
            {
                for (name, values) in Args::decode(&String::from_utf8_lossy(b)).0 {
                    for v in values {
                        let text = v.text().to_owned();
                        match (query.get(&name).is_some(), v) {
                            (false, Arg::Flag) => query.0.push((name.clone(), vec![Arg::Flag])),
                            _ => query.append(&name, text),
                        }
                    }
                    query_changed = true;
                }
            }
        }
        let query_view = match self.reads_query {
            true => query.clone(),
            false => Args::default(),
        };
        let env = Env {
            headers: &original,
            query: &query_view,
            captures,
        };
        if let Some(uri) = &self.uri {
            let path = env.render(uri);
            if !path.starts_with('/') {
                log::error!("[request-transformer] path must start with /: {path:?}");
                return Access::Done(Flow::Respond(Reply::message(
                    500,
                    "An unexpected error occurred",
                )));
            }
            ex.edits.path = Some(utf8_percent_encode(&path, PATH_ESCAPE).to_string());
        }
        let (mut touched, host) = match self.add_headers_only {
            true => {
                self.add_headers(&env, req, ex);
                (Vec::new(), None)
            }
            false => self.headers(&env, &mut h),
        };
        touched.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        touched.dedup();
        for name in touched {
            ex.edits.headers.push((name.clone(), None));
            ex.edits
                .header_values
                .extend(h.get_all(&name).iter().map(|v| (name.clone(), v.clone())));
        }
        if let Some(host) = host {
            ex.edits.headers.push((HOST, Some(host)));
        }
        if self.has(|l| &l.body) {
            match (body_kind(&h), body) {
                (Some(BodyKind::Multipart), _) => {
                    log::debug!("[request-transformer] multipart bodies are not transformed");
                }
                (Some(kind), Some(b)) => {
                    let ops = self.rendered_body(&env);
                    let new = match kind {
                        BodyKind::Json => body::json(b, &ops),
                        _ => body::form(b, &ops),
                    };
                    if let Some(new) = new {
                        ex.edits.body = Some(new.into());
                    }
                }
                _ => {}
            }
        }
        if fast_query.is_some() {
            ex.edits.query = fast_query;
        } else {
            if self.has(|l| &l.query) {
                self.query(&env, &mut query);
                query_changed = true;
            }
            if query_changed {
                ex.edits.query = Some(query.encode());
            }
        }
        Access::Done(Flow::Continue)
    }
}

#[cfg(test)]
mod tests;
