//! What real Kong and decK files carry that is rewritten before the model is built: Kong's format-3
//! migration of `_format_version` 1.1/2.1 regex paths (`kong/db/declarative/migrations/route_path.lua`),
//! decK's `_plugin_configs` / `_config`, and the route fields accepted only at Kong's default.

use indexmap::IndexMap;
use serde_json::Value;

use crate::error::Collector;
use crate::raw::{RawConfig, RawPlugin};

/// Rewrites `raw` as Kong and decK do before validation; problems go to `errors`.
pub(crate) fn migrate(raw: &mut RawConfig, errors: &mut Collector) {
    if matches!(
        raw.format_version.as_ref().map(|v| v.0.as_str()),
        Some("1.1" | "2.1")
    ) {
        let nested = raw.services.iter_mut().flatten();
        let routes = raw.routes.iter_mut().flatten();
        for route in routes.chain(nested.flat_map(|s| s.routes.iter_mut().flatten())) {
            for path in route.paths.iter_mut().flatten() {
                if let Some(migrated) = migrate_path(path) {
                    *path = migrated;
                }
            }
        }
        // As Kong does: the document is a 3.0 one from here on (a file written back stays migrated).
        if let Some(v) = raw.format_version.as_mut() {
            v.0 = "3.0".to_owned();
        }
    }
    unbuilt_at_default(raw, errors);
    let configs = raw.plugin_configs.take().unwrap_or_default();
    let mut each = |plugins: &mut Option<Vec<RawPlugin>>, at: &dyn Fn(usize) -> String| {
        for (i, p) in plugins.iter_mut().flatten().enumerate() {
            expand_config(p, &configs, &at(i), errors);
        }
    };
    each(&mut raw.plugins, &|i| format!("plugins[{i}]"));
    for (s, service) in raw.services.iter_mut().flatten().enumerate() {
        each(&mut service.plugins, &|i| {
            format!("services[{s}].plugins[{i}]")
        });
        for (r, route) in service.routes.iter_mut().flatten().enumerate() {
            each(&mut route.plugins, &|i| {
                format!("services[{s}].routes[{r}].plugins[{i}]")
            });
        }
    }
    for (r, route) in raw.routes.iter_mut().flatten().enumerate() {
        each(&mut route.plugins, &|i| format!("routes[{r}].plugins[{i}]"));
    }
    for (c, consumer) in raw.consumers.iter_mut().flatten().enumerate() {
        each(&mut consumer.plugins, &|i| {
            format!("consumers[{c}].plugins[{i}]")
        });
    }
}

/// Kong's WebAssembly filter chains: every chain refused with the message Kong itself gives when `wasm` is off
/// (its default; `kong/runloop/wasm.lua`), since no WebAssembly runtime is built here. An empty list loads.
fn filter_chains(chains: &Option<Vec<Value>>, at: &str, errors: &mut Collector) {
    for i in 0..chains.as_ref().map_or(0, Vec::len) {
        let path = match at {
            "" => format!("filter_chains[{i}]"),
            at => format!("{at}.filter_chains[{i}]"),
        };
        errors.push(
            path,
            "wasm support is not enabled (WebAssembly filter chains are not supported yet)",
        );
    }
}

/// Fields of Kong Enterprise features not built here, as Kong's dumps write them: accepted at Kong's default
/// (no effect), refused otherwise.
fn unbuilt_at_default(raw: &RawConfig, errors: &mut Collector) {
    if raw.workspace.as_deref().is_some_and(|w| w != "default") {
        errors.push(
            "_workspace",
            "not supported yet (workspaces are Kong Enterprise's; only \"default\", the one workspace here)",
        );
    }
    for (i, s) in raw.services.iter().flatten().enumerate() {
        if s.tls_sans.as_ref().is_some_and(|v| !v.is_null()) {
            errors.push(format!("services[{i}].tls_sans"), NOT_YET_NULL);
        }
        filter_chains(&s.filter_chains, &format!("services[{i}]"), errors);
        for (r, route) in s.routes.iter().flatten().enumerate() {
            filter_chains(
                &route.filter_chains,
                &format!("services[{i}].routes[{r}]"),
                errors,
            );
        }
    }
    for (r, route) in raw.routes.iter().flatten().enumerate() {
        filter_chains(&route.filter_chains, &format!("routes[{r}]"), errors);
    }
    filter_chains(&raw.filter_chains, "", errors);
    for (i, u) in raw.upstreams.iter().flatten().enumerate() {
        if u.sticky_sessions_cookie.is_some() {
            errors.push(
                format!("upstreams[{i}].sticky_sessions_cookie"),
                NOT_YET_NULL,
            );
        }
        if u.sticky_sessions_cookie_path
            .as_deref()
            .is_some_and(|p| p != "/")
        {
            errors.push(
                format!("upstreams[{i}].sticky_sessions_cookie_path"),
                "not supported yet (sticky sessions are not built; only \"/\", Kong's default)",
            );
        }
        for (j, t) in u.targets.iter().flatten().enumerate() {
            if t.failover == Some(true) {
                errors.push(
                    format!("upstreams[{i}].targets[{j}].failover"),
                    "not supported yet (failover targets are not built; only false, Kong's default)",
                );
            }
        }
    }
    for (j, t) in raw.targets.iter().flatten().enumerate() {
        if t.failover == Some(true) {
            errors.push(
                format!("targets[{j}].failover"),
                "not supported yet (failover targets are not built; only false, Kong's default)",
            );
        }
    }
}

const NOT_YET_NULL: &str =
    "not supported yet (a Kong Enterprise feature not built here; only null)";

/// decK's rule: a plugin with `_config: name` takes every key of `_plugin_configs.name` that its own
/// `config` does not set.
fn expand_config(
    plugin: &mut RawPlugin,
    configs: &IndexMap<String, Value>,
    at: &str,
    errors: &mut Collector,
) {
    let Some(name) = plugin.config_source.take() else {
        return;
    };
    let Some(Value::Object(shared)) = configs.get(&name) else {
        errors.push(
            format!("{at}._config"),
            format!("_plugin_config {name:?} not found (in `_plugin_configs`)"),
        );
        return;
    };
    let mut own = match plugin.config.take() {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for (k, v) in shared {
        own.entry(k.clone()).or_insert_with(|| v.clone());
    }
    plugin.config = Some(Value::Object(own));
}

/// Kong's `migrate_path` (2.8 → 3.0): a path made only of `[a-zA-Z0-9.\-_~/%]` is a prefix and stays;
/// anything else is a regex and gets the `~` prefix, with percent-encoded characters decoded as Kong does
/// (reserved ones kept encoded in uppercase, regex metacharacters escaped). `None`: unchanged.
/// Departure: a prefix path is kept as written (Kong also normalises its percent-encoding and dot segments).
pub(crate) fn migrate_path(path: &str) -> Option<String> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b".-_~/%".contains(&b);
    if path.bytes().all(plain) {
        return None;
    }
    Some(format!("~{}", decode_regex(path)))
}

fn decode_regex(regex: &str) -> String {
    let bytes = regex.as_bytes();
    let mut out = String::with_capacity(regex.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| regex.get(i + 1..i + 3))
            .flatten()
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(hex) = hex else {
            let ch = regex[i..].chars().next().unwrap_or('\u{fffd}');
            out.push(ch);
            i += ch.len_utf8().max(1);
            continue;
        };
        let n = u8::from_str_radix(hex, 16).unwrap_or(0);
        match n {
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'/'
            | b':' | b';' | b'=' | b'?' | b'@' | b'[' | b']' => {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            b'.' | b'^' | b'-' | b'{' | b'}' | b'\\' | b'|' => {
                out.push('\\');
                out.push(n as char);
            }
            n if n.is_ascii() => out.push(n as char),
            // Not ASCII: kept encoded (the regex would need the raw byte; Kong inserts it as is).
            _ => {
                out.push('%');
                out.push_str(hex);
            }
        }
        i += 3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kong_path_migration() {
        assert_eq!(migrate_path("/plain/path-1_2.x~"), None);
        assert_eq!(migrate_path("/users/%41"), None);
        assert_eq!(
            migrate_path(r"/users/\d+$").as_deref(),
            Some(r"~/users/\d+$")
        );
        assert_eq!(migrate_path("/a(b|c)").as_deref(), Some("~/a(b|c)"));
        // Percent-decoding of a regex: unreserved decoded, reserved kept (uppercase), metacharacters escaped.
        assert_eq!(migrate_path("/x$%61%2f%2E").as_deref(), Some(r"~/x$a%2F\."));
    }
}
