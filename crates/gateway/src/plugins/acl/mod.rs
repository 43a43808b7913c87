//! Kong's `acl` plugin (priority 950, `kong/plugins/acl/handler.lua`): lets a request through by the groups of
//! its consumer (the `acls` entities) or, when there is no consumer authenticated by a credential, by its
//! authenticated groups (openid-connect's `authenticated_groups_claim`); sends the groups upstream in
//! `X-Consumer-Groups` / `X-Authenticated-Groups`. The schema is `gateway_config::plugins::acl`.

use gateway_config::plugins::acl::{AclConfig, AclMode};
use http::{HeaderName, HeaderValue};

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};

/// `X-Consumer-Groups`: the consumer's groups.
pub const CONSUMER_GROUPS: HeaderName = HeaderName::from_static("x-consumer-groups");
/// `X-Authenticated-Groups`: the authenticated groups.
pub const AUTHENTICATED_GROUPS: HeaderName = HeaderName::from_static("x-authenticated-groups");

/// Kong's 403 text.
const FORBIDDEN: &str = "You cannot consume this service";

/// One acl config, running.
pub struct Acl {
    mode: AclMode,
    groups: Vec<String>,
    hide_groups_header: bool,
    always_use_authenticated_groups: bool,
}

/// What the acl check decided.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// 401 (no consumer, no groups, no credential).
    Unauthorized,
    /// 403.
    Forbidden,
    /// Through, with this groups header (none when hidden, or when Kong sends none).
    Pass(Option<(HeaderName, HeaderValue)>),
}

impl Acl {
    /// The plugin for `cfg`.
    pub fn new(cfg: &AclConfig) -> Self {
        let (mode, groups) = cfg.list();
        Acl {
            mode,
            groups: groups.to_vec(),
            hide_groups_header: cfg.hide_groups_header,
            always_use_authenticated_groups: cfg.always_use_authenticated_groups,
        }
    }

    /// Kong's handler: authenticated groups when there is no consumer, or the consumer has no credential
    /// (anonymous), or `always_use_authenticated_groups`; else the consumer's groups.
    fn verdict(&self, req: &Request<'_>, ex: &Exchange) -> Verdict {
        let credential = ex.caller.authenticated;
        let no_groups = || {
            if credential {
                Verdict::Forbidden
            } else {
                Verdict::Unauthorized
            }
        };
        let use_authenticated = match ex.caller.consumer {
            None => true,
            Some(_) => !credential || self.always_use_authenticated_groups,
        };
        let authenticated = ex.groups.as_ref().filter(|_| use_authenticated);
        if let Some(groups) = authenticated {
            let in_group = self.groups.iter().any(|g| groups.contains(g));
            return match (self.mode, in_group) {
                (AclMode::Allow, false) | (AclMode::Deny, true) => Verdict::Forbidden,
                // Kong sends the authenticated groups only in allow mode (its deny branch leaves the header
                // value unset).
                (AclMode::Allow, true) if !self.hide_groups_header => {
                    Verdict::Pass(groups.header().map(|v| (AUTHENTICATED_GROUPS, v)))
                }
                _ => Verdict::Pass(None),
            };
        }
        let Some(consumer) = ex.caller.consumer else {
            return no_groups();
        };
        let groups = req.snap.credentials.groups(consumer);
        if groups.is_empty() && self.mode == AclMode::Allow {
            return no_groups();
        }
        let in_group = self.groups.iter().any(|g| groups.contains(g));
        match (self.mode, in_group) {
            (AclMode::Allow, false) | (AclMode::Deny, true) => Verdict::Forbidden,
            _ if self.hide_groups_header || groups.is_empty() => Verdict::Pass(None),
            _ => Verdict::Pass(
                HeaderValue::from_str(&groups.join(", "))
                    .ok()
                    .map(|v| (CONSUMER_GROUPS, v)),
            ),
        }
    }
}

impl Plugin for Acl {
    fn name(&self) -> &'static str {
        "acl"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        let flow = match self.verdict(req, ex) {
            Verdict::Unauthorized => Flow::Respond(Reply::message(401, "Unauthorized")),
            Verdict::Forbidden => Flow::Respond(Reply::message(403, FORBIDDEN)),
            Verdict::Pass(header) => {
                // The groups headers come from the gateway only: a client's copies never go upstream.
                ex.edits.headers.push((CONSUMER_GROUPS, None));
                ex.edits.headers.push((AUTHENTICATED_GROUPS, None));
                if let Some((name, value)) = header {
                    ex.edits.headers.push((name, Some(value)));
                }
                Flow::Continue
            }
        };
        Access::Done(flow)
    }
}

#[cfg(test)]
mod tests;
