//! Kong's `ip-restriction` plugin (priority 990, `kong/plugins/ip-restriction/handler.lua`): the client's
//! address (the real one, after `trusted_ips`/`real_ip_header`) is refused when `deny` holds it, or when
//! `allow` is set and does not; `deny` is checked first. The refusal is `kong.response.error(status,
//! message)`: 403 and `IP address not allowed: <address>` unless configured. The schema is
//! `gateway_config::plugins::ip_restriction`.

use std::net::IpAddr;
use std::sync::Arc;

use gateway_config::plugins::ip_restriction::IpRestrictionConfig;

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};

/// Kong's answer when the request has no IP address (a unix-socket client).
const NO_ADDRESS: &str =
    "Cannot identify the client IP address, unix domain sockets are not supported.";

/// One ip-restriction config, running.
pub struct IpRestriction {
    cfg: Arc<IpRestrictionConfig>,
}

impl IpRestriction {
    /// The plugin for `cfg` (its address sets compiled at load).
    pub fn new(cfg: &Arc<IpRestrictionConfig>) -> Self {
        IpRestriction { cfg: cfg.clone() }
    }

    /// Whether `ip` is refused: in `deny`, or `allow` is set and does not hold it.
    pub fn refuses(&self, ip: IpAddr) -> bool {
        self.cfg.deny_set.contains(ip)
            || (!self.cfg.allow_set.is_empty() && !self.cfg.allow_set.contains(ip))
    }

    fn refusal(&self, ip: IpAddr) -> Reply {
        let status = self.cfg.status.unwrap_or(403);
        match &self.cfg.message {
            Some(m) => Reply::message(status, m),
            None => Reply::message(status, &format!("IP address not allowed: {ip}")),
        }
    }
}

impl Plugin for IpRestriction {
    fn name(&self) -> &'static str {
        "ip-restriction"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        let flow = match req.client_ip {
            None => Flow::Respond(Reply::message(403, NO_ADDRESS)),
            Some(ip) if self.refuses(ip) => Flow::Respond(self.refusal(ip)),
            Some(_) => return Access::Done(Flow::Continue),
        };
        ex.auth = "deny";
        log::warn!("ip-restriction: refused client={:?}", req.client_ip);
        Access::Done(flow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::test_support::{self, TestRequest};
    use serde_json::json;

    fn plugin(cfg: serde_json::Value) -> IpRestriction {
        IpRestriction::new(&Arc::new(IpRestrictionConfig::from_value(&cfg).unwrap()))
    }

    fn run(p: &IpRestriction, ip: Option<&str>) -> Option<(u16, String)> {
        let snap = test_support::snapshot("_format_version: \"3.0\"\n");
        let t = TestRequest::get("/");
        let mut view = t.view(&snap);
        view.client_ip = ip.map(|i| i.parse().unwrap());
        let mut ex = Exchange::new();
        match futures::executor::block_on(p.access(&view, &mut ex).decide()) {
            Flow::Continue => None,
            Flow::Respond(Reply::Body { status, body, .. }) => {
                Some((status, String::from_utf8_lossy(&body).into_owned()))
            }
            Flow::Respond(_) => panic!("unexpected reply"),
        }
    }

    #[test]
    fn deny_first_then_allow() {
        let p = plugin(
            json!({"deny": ["127.0.0.1", "10.0.0.0/8"], "allow": ["10.1.0.0/16", "127.0.0.0/8"]}),
        );
        assert_eq!(
            run(&p, Some("127.0.0.1")),
            Some((
                403,
                r#"{"message":"IP address not allowed: 127.0.0.1"}"#.into()
            ))
        );
        // In allow and in deny: deny wins (Kong checks deny first).
        assert!(run(&p, Some("10.1.2.3")).is_some());
        assert_eq!(run(&p, Some("127.0.0.2")), None);
        assert!(run(&p, Some("192.168.1.1")).is_some());
        let p = plugin(json!({"allow": ["::1"], "status": 401, "message": "Forbidden"}));
        assert_eq!(run(&p, Some("::1")), None);
        assert_eq!(
            run(&p, Some("::2")),
            Some((401, r#"{"message":"Forbidden"}"#.into()))
        );
        let p = plugin(json!({"deny": ["::1"]}));
        assert_eq!(run(&p, Some("127.0.0.1")), None);
        assert_eq!(run(&p, None).map(|r| r.0), Some(403));
    }
}
