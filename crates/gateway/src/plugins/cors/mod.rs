//! Kong's `cors` plugin (priority 2000, so it runs before every auth plugin): a preflight (`OPTIONS` with
//! `Origin` and `Access-Control-Request-Method`) is answered here with 200 and the CORS headers, unless
//! `preflight_continue`; every other answer — the upstream's and the gateway's own (401, 404, 5xx) — gets
//! `Access-Control-Allow-Origin`, `Vary: Origin`, `Access-Control-Allow-Credentials` and
//! `Access-Control-Expose-Headers` in the response header phase, as `kong/plugins/cors/handler.lua` sets them.
//!
//! The response header phase does not see the request, so the access phase (and, for a global instance, the
//! rewrite phase, which also runs when no route matches) records the request's `Origin` in
//! [`Exchange::cors`].

mod origin;

use std::sync::Arc;

use gateway_config::plugins::cors::CorsConfig;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderName, HeaderValue, Method};

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request, ResponseHead};
use origin::{Allow, Origins};

/// What the cors plugin knows of the request when the response header phase runs (Kong's
/// `kong.ctx.plugin` plus the request's `Origin`).
#[derive(Debug, Default)]
pub enum CorsState {
    /// No cors instance saw the request.
    #[default]
    Unseen,
    /// The preflight was answered or passed upstream: no headers added (Kong's `skip_response_headers`).
    Skip,
    /// Add the headers for this `Origin` (`None`: the request had none, or an empty one).
    Origin(Option<HeaderValue>),
}

/// One `cors` instance.
pub struct Cors {
    cfg: Arc<CorsConfig>,
    origins: Origins,
    methods: HeaderValue,
    headers: Option<HeaderValue>,
    exposed: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    /// The one flat origin (Kong's shortcut: sent whatever the request's `Origin`), as a header value.
    single: Option<HeaderValue>,
}

const TRUE: HeaderValue = HeaderValue::from_static("true");
const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");
const ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");
const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");

/// `list` joined with `,` as a header value (`None` for an unset or empty list).
fn joined(list: &Option<Vec<String>>) -> Option<HeaderValue> {
    let list = list.as_ref().filter(|l| !l.is_empty())?;
    HeaderValue::from_str(&list.join(",")).ok()
}

/// Lua's `tostring` of a number (`23`, `2.5`).
fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl Cors {
    /// An instance of a checked config (the origin regexes compile: the schema checked them).
    pub fn new(cfg: &Arc<CorsConfig>) -> Self {
        Cors {
            origins: Origins::new(cfg.origins.as_deref().unwrap_or(&[])),
            single: (Origins::new(cfg.origins.as_deref().unwrap_or(&[])).single())
                .and_then(|o| HeaderValue::from_str(o).ok())
                .map(gateway_config::statics::value),
            methods: cfg
                .methods
                .as_ref()
                .and_then(|m| HeaderValue::from_str(&m.join(",")).ok())
                .unwrap_or_else(|| {
                    HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT")
                }),
            headers: joined(&cfg.headers),
            exposed: joined(&cfg.exposed_headers),
            max_age: cfg
                .max_age
                .and_then(|n| HeaderValue::from_str(&lua_number(n)).ok()),
            cfg: cfg.clone(),
        }
    }

    /// Kong's `configure_origin` and `configure_credentials` over `resp`; `filter` is the response header phase
    /// (`Vary` appended) as opposed to the preflight answer (`Vary` set).
    fn origin_headers(
        &self,
        origin: Option<&HeaderValue>,
        resp: &mut dyn ResponseHead,
        filter: bool,
    ) {
        let origin = origin.filter(|o| !o.is_empty());
        let vary = |resp: &mut dyn ResponseHead| {
            if filter {
                resp.append(VARY, VARY_ORIGIN);
            } else {
                resp.insert(VARY, VARY_ORIGIN);
            }
        };
        let allow = if self.origins.any() {
            Allow::All
        } else if let Some(single) = &self.single {
            // Always set (it can be used for calculating a cache key).
            vary(resp);
            resp.insert(ACCESS_CONTROL_ALLOW_ORIGIN, single.clone());
            Allow::Set
        } else {
            vary(resp);
            self.origins.allow(origin.and_then(|o| o.to_str().ok()))
        };
        let allow_all = matches!(allow, Allow::All);
        match allow {
            Allow::All => resp.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            Allow::This(value) => match HeaderValue::from_str(&value) {
                Ok(v) => resp.insert(ACCESS_CONTROL_ALLOW_ORIGIN, v),
                Err(_) => resp.remove(&ACCESS_CONTROL_ALLOW_ORIGIN),
            },
            Allow::None => resp.remove(&ACCESS_CONTROL_ALLOW_ORIGIN),
            Allow::Set => {}
        }
        if !self.cfg.credentials {
            return;
        }
        if !allow_all {
            resp.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        } else if let Some(origin) = origin {
            // ACAC cannot be true with ACAO `*`: echo the request's Origin.
            vary(resp);
            resp.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            resp.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
    }

    /// The preflight answer (Kong's `kong.response.exit(200)` after setting the headers).
    fn preflight(&self, req: &Request<'_>) -> Reply {
        let mut head = Head(Vec::with_capacity(8));
        self.origin_headers(req.headers.get(ORIGIN), &mut head, false);
        if let Some(h) = &self.headers {
            head.insert(ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
        } else if let Some(h) = req.headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
            head.insert(ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
        }
        head.insert(ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        if let Some(age) = &self.max_age {
            head.insert(ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        if self.cfg.private_network
            && req
                .headers
                .get(REQUEST_PRIVATE_NETWORK)
                .map(HeaderValue::as_bytes)
                == Some(b"true")
        {
            head.insert(ALLOW_PRIVATE_NETWORK, TRUE);
        }
        Reply::Body {
            status: 200,
            headers: head.0,
            body: bytes::Bytes::new(),
        }
    }
}

impl Plugin for Cors {
    fn name(&self) -> &'static str {
        "cors"
    }

    fn phases(&self) -> Phases {
        Phases::REWRITE.with(Phases::ACCESS).with(Phases::HEADER)
    }

    fn rewrite(&self, req: &Request<'_>, ex: &mut Exchange) -> Flow {
        // A global instance: remember the Origin for an answer no route's access phase will see (the 404).
        ex.cors = CorsState::Origin(req.headers.get(ORIGIN).cloned());
        Flow::Continue
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        let origin = req.headers.get(ORIGIN).filter(|o| !o.is_empty());
        let preflight = *req.method == Method::OPTIONS
            && origin.is_some()
            && req.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if !preflight {
            ex.cors = CorsState::Origin(origin.cloned());
            return Access::Done(Flow::Continue);
        }
        ex.cors = CorsState::Skip;
        if self.cfg.preflight_continue {
            return Access::Done(Flow::Continue);
        }
        Access::Done(Flow::Respond(self.preflight(req)))
    }

    fn header_filter(&self, resp: &mut dyn ResponseHead, ex: &mut Exchange) {
        let CorsState::Origin(origin) = &ex.cors else {
            return;
        };
        if origin.is_none() && !self.cfg.allow_origin_absent {
            return;
        }
        self.origin_headers(origin.as_ref(), resp, true);
        if let Some(exposed) = &self.exposed {
            resp.insert(ACCESS_CONTROL_EXPOSE_HEADERS, exposed.clone());
        }
    }
}

/// The preflight answer's headers, built through the same [`ResponseHead`] calls as the response phase's.
struct Head(Vec<(HeaderName, HeaderValue)>);

impl ResponseHead for Head {
    fn status(&self) -> u16 {
        200
    }

    fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        self.remove(&name);
        self.0.push((name, value));
    }

    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.0.push((name, value));
    }

    fn remove(&mut self, name: &HeaderName) {
        self.0.retain(|(n, _)| n != name);
    }
}

#[cfg(test)]
mod tests;
