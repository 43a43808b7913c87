//! Kong's `request-termination` plugin (priority 2, `kong/plugins/request-termination/handler.lua`): answers
//! every request itself, with a status and a message, a raw body, or (`echo`) a copy of the request; with
//! `trigger`, only requests carrying that header or query argument. The schema is
//! `gateway_config::plugins::request_termination`.

mod echo;

use bytes::Bytes;
use gateway_config::plugins::request_termination::RequestTerminationConfig;
use http::{HeaderName, HeaderValue};

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};

/// One request-termination config, running.
pub struct RequestTermination {
    status: u16,
    message: Option<String>,
    /// The raw body and its `Content-Type` (none: Kong sends no `Content-Type` for it).
    body: Option<(Bytes, Option<HeaderValue>)>,
    echo: bool,
    /// The trigger as a header name, and as written (the query argument's name).
    trigger: Option<(HeaderName, String)>,
}

/// Kong's `DEFAULT_RESPONSE`: the message when `message` is unset.
fn default_message(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "Unauthorized",
        404 => "Not found",
        405 => "Method not allowed",
        500 => "An unexpected error occurred",
        502 => "Bad Gateway",
        503 => "Service unavailable",
        _ => return None,
    })
}

impl RequestTermination {
    /// The plugin for `cfg` (checked at load: the trigger is a valid header name).
    pub fn new(cfg: &RequestTerminationConfig) -> Self {
        let body = cfg.body.as_ref().map(|b| {
            let ct = (cfg.content_type.as_deref()).and_then(|c| HeaderValue::from_str(c).ok());
            (Bytes::from(b.clone()), ct)
        });
        let trigger = (cfg.trigger.as_deref())
            .and_then(|t| Some((HeaderName::from_bytes(t.as_bytes()).ok()?, t.to_owned())));
        RequestTermination {
            status: cfg.status_code,
            message: cfg.message.clone(),
            body,
            echo: cfg.echo,
            trigger,
        }
    }

    /// Whether the request carries the trigger (as a header, or as a query argument by its name).
    fn triggered(&self, req: &Request<'_>) -> bool {
        let Some((header, name)) = &self.trigger else {
            return true;
        };
        req.headers.contains_key(header)
            || (req.uri.query().unwrap_or(""))
                .split('&')
                .any(|pair| echo::decode(pair.split('=').next().unwrap_or("")) == *name)
    }

    fn message(&self) -> Option<&str> {
        self.message.as_deref().or(default_message(self.status))
    }

    /// The answer for a request that is terminated.
    fn reply(&self, req: &Request<'_>) -> Reply {
        if self.echo {
            let body = echo::echo(req, self.message());
            return Reply::Body {
                status: self.status,
                headers: Vec::new(),
                body: Bytes::from(body.to_string()),
            };
        }
        if let Some((body, content_type)) = &self.body {
            // Kong's `kong.response.exit(status, body, {["Content-Type"] = conf.content_type})`: no
            // Content-Type when it is unset.
            let ct = content_type.clone().unwrap_or(HeaderValue::from_static(""));
            return Reply::Body {
                status: self.status,
                headers: vec![(http::header::CONTENT_TYPE, ct)],
                body: body.clone(),
            };
        }
        match self.message() {
            Some(m) => Reply::message(self.status, m),
            None => Reply::Body {
                status: self.status,
                headers: Vec::new(),
                body: Bytes::new(),
            },
        }
    }
}

impl Plugin for RequestTermination {
    fn name(&self) -> &'static str {
        "request-termination"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn needs_body(&self) -> bool {
        self.echo
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, _ex: &'a mut Exchange) -> Access<'a> {
        if !self.triggered(req) {
            return Access::Done(Flow::Continue);
        }
        Access::Done(Flow::Respond(self.reply(req)))
    }
}

#[cfg(test)]
mod tests;
