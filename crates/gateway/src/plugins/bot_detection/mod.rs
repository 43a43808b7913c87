//! Kong's `bot-detection` plugin (priority 2500, `kong/plugins/bot-detection/handler.lua`): the `User-Agent`
//! (trimmed) is let through when an `allow` regex matches it, refused when a `deny` regex or one of Kong's
//! bot rules (`rules.rs`, `kong/plugins/bot-detection/rules.lua`) matches it: 403 `Forbidden`; two
//! `User-Agent` headers are answered 400. A request without one goes on. Verdicts are cached per user agent
//! (Kong's per-config LRU of 10⁴ entries). The schema is `gateway_config::plugins::bot_detection`.

mod rules;

use gateway_config::plugins::bot_detection::{compile, BotDetectionConfig};
use regex::bytes::Regex;

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};

/// Kong's `UA_CACHE_SIZE`.
const CACHE_SIZE: usize = 10_000;

/// One bot-detection config, running.
pub struct BotDetection {
    allow: Vec<Regex>,
    deny: Vec<Regex>,
    /// User agent → refused.
    cache: quick_cache::sync::Cache<Box<[u8]>, bool>,
}

impl BotDetection {
    /// The plugin for `cfg` (its regexes were checked at load).
    pub fn new(cfg: &BotDetectionConfig) -> Self {
        let all = |l: &[String]| l.iter().filter_map(|p| compile(p).ok()).collect();
        BotDetection {
            allow: all(&cfg.allow),
            deny: all(&cfg.deny),
            cache: quick_cache::sync::Cache::new(CACHE_SIZE),
        }
    }

    /// Kong's `examine_agent`: allow, then deny, then the bot rules; true when refused.
    pub fn refuses(&self, user_agent: &[u8]) -> bool {
        let ua = user_agent.trim_ascii();
        if self.allow.iter().any(|r| r.is_match(ua)) {
            return false;
        }
        self.deny.iter().any(|r| r.is_match(ua)) || rules::is_bot(ua)
    }
}

impl Plugin for BotDetection {
    fn name(&self) -> &'static str {
        "bot-detection"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        let mut agents = req.headers.get_all(http::header::USER_AGENT).iter();
        let Some(ua) = agents.next() else {
            return Access::Done(Flow::Continue);
        };
        if agents.next().is_some() {
            ex.auth = "deny";
            let reply = Reply::message(400, "Only one User-Agent header allowed");
            return Access::Done(Flow::Respond(reply));
        }
        let refused = match self.cache.get(ua.as_bytes()) {
            Some(v) => v,
            None => {
                let v = self.refuses(ua.as_bytes());
                self.cache.insert(ua.as_bytes().into(), v);
                v
            }
        };
        if !refused {
            return Access::Done(Flow::Continue);
        }
        ex.auth = "deny";
        Access::Done(Flow::Respond(Reply::message(403, "Forbidden")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::test_support::{self, TestRequest};
    use serde_json::json;

    const FACEBOOK: &str = "facebookexternalhit/1.1";
    const HELLOWORLD: &str = "HelloWorld";
    const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/50.0.2661.102 Safari/537.36";

    fn status(cfg: serde_json::Value, agents: &[&str]) -> Option<u16> {
        let p = BotDetection::new(&BotDetectionConfig::from_value(&cfg).unwrap());
        let snap = test_support::snapshot("_format_version: \"3.0\"\n");
        let headers: Vec<(&str, &str)> = agents.iter().map(|a| ("user-agent", *a)).collect();
        let t = TestRequest::new(http::Method::GET, "/", &headers);
        let mut ex = Exchange::new();
        match t.access_now(&snap, &p, &mut ex) {
            Flow::Continue => None,
            Flow::Respond(r) => Some(r.status()),
        }
    }

    #[test]
    fn kongs_access_spec() {
        // spec/03-plugins/21-bot-detection/01-access_spec.lua
        for ua in [BROWSER, HELLOWORLD, "curl/7.43.0"] {
            assert_eq!(status(json!({}), &[ua]), None, "{ua}");
        }
        assert_eq!(status(json!({}), &[]), None);
        for bot in [
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            FACEBOOK,
            "Go-http-client/1.1",
            "Python-urllib/3.8",
            "reqwest/0.12",
            "aws-cli/2.0.1 Python",
        ] {
            assert_eq!(status(json!({}), &[bot]), Some(403), "{bot}");
        }
        assert_eq!(
            status(json!({"deny": [HELLOWORLD]}), &[HELLOWORLD]),
            Some(403)
        );
        assert_eq!(status(json!({"allow": [FACEBOOK]}), &[FACEBOOK]), None);
        assert_eq!(
            status(
                json!({"allow": ["facebook"]}),
                &[" facebookexternalhit/1.1 "]
            ),
            None
        );
        assert_eq!(status(json!({}), &[BROWSER, BROWSER]), Some(400));
        // Cached verdicts answer the same.
        let p = BotDetection::new(&BotDetectionConfig::from_value(&json!({})).unwrap());
        assert!(p.refuses(FACEBOOK.as_bytes()) && !p.refuses(BROWSER.as_bytes()));
    }
}
