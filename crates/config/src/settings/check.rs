//! The `gateway:` block's listeners (`proxy_listen` entries and their flags) and the checks of its values.

use super::*;

/// One entry of `proxy_listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyListener {
    /// `host:port`.
    pub addr: String,
    /// Whether the listener serves HTTPS (the entry has the ` ssl` flag).
    pub ssl: bool,
    /// Whether it serves HTTP/2 too (` http2`): ALPN `h2` on an ssl listener, h2c with prior knowledge
    /// (beside HTTP/1.1 on the same port) on a plain one.
    pub http2: bool,
    /// Whether every connection starts with a PROXY protocol header (v1 or v2; ` proxy_protocol`).
    pub proxy_protocol: bool,
}

impl Settings {
    /// The `proxy_listen` entries (empty entries skipped); `Err` names the first invalid one.
    pub fn proxy_listeners(&self) -> Result<Vec<ProxyListener>, String> {
        let mut out = Vec::new();
        for entry in self.proxy_listen.split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let mut words = entry.split_whitespace();
            let addr = words.next().unwrap_or_default();
            if !is_listen_address(addr) {
                return Err(format!(
                    "invalid address {addr:?}: expected host:port such as {DEFAULT_PROXY_LISTEN:?}, optionally followed by \" ssl\""
                ));
            }
            let (mut ssl, mut http2, mut proxy_protocol) = (false, false, false);
            for flag in words {
                let seen = match flag {
                    "ssl" => &mut ssl,
                    "http2" => &mut http2,
                    "proxy_protocol" => &mut proxy_protocol,
                    _ => {
                        return Err(format!(
                            "unsupported flag {flag:?} in {entry:?}: only \"ssl\", \"http2\" and \"proxy_protocol\" are supported"
                        ))
                    }
                };
                if std::mem::replace(seen, true) {
                    return Err(format!("flag {flag:?} given twice in {entry:?}"));
                }
            }
            out.push(ProxyListener {
                addr: addr.to_string(),
                ssl,
                http2,
                proxy_protocol,
            });
        }
        if out.is_empty() {
            return Err("no listener: expected host:port such as \"0.0.0.0:8000\"".into());
        }
        Ok(out)
    }

    /// Checks the values, reporting under `gateway.<field>`.
    pub(crate) fn check(&self, errors: &mut Collector) {
        let has_proxy_protocol = self
            .proxy_listeners()
            .is_ok_and(|l| l.iter().any(|l| l.proxy_protocol));
        crate::real_ip::check(
            &self.trusted_ips,
            &self.real_ip_header,
            has_proxy_protocol,
            errors,
        );
        match self.proxy_listeners() {
            Ok(listeners) if listeners.iter().any(|l| l.ssl) => {
                self.require_default_certificate("proxy_listen", errors)
            }
            Ok(_) => {}
            Err(msg) => errors.push("gateway.proxy_listen", msg),
        }
        self.check_stream_listen(errors);
        for (field, value) in [
            ("ssl_cert", &self.ssl_cert),
            ("ssl_cert_key", &self.ssl_cert_key),
            (
                "lua_ssl_trusted_certificate",
                &self.lua_ssl_trusted_certificate,
            ),
        ] {
            if value.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                errors.push(
                    format!("gateway.{field}"),
                    "must not be empty (omit it instead)",
                );
            }
        }
        if !is_listen_address(&self.admin_listen) {
            errors.push(
                "gateway.admin_listen",
                format!(
                    "invalid address {:?}: expected host:port such as {DEFAULT_ADMIN_LISTEN:?}",
                    self.admin_listen
                ),
            );
        }
        self.client.check(errors);
        self.buffering.check(errors);
        if self.worker_threads == 0 {
            errors.push("gateway.worker_threads", "must be at least 1");
        }
        if self.proxy_cache_memory_size == 0 {
            errors.push("gateway.proxy_cache_memory_size", "must be at least 1");
        }
        if self.token_cache_size == 0 {
            errors.push("gateway.token_cache_size", "must be at least 1");
        }
        // Pingora reads up to 1 MiB of header section and 256 header lines: limits above it would never apply.
        for (field, value, min, max) in [
            (
                "max_request_header_bytes",
                self.max_request_header_bytes,
                1024,
                1024 * 1024,
            ),
            (
                "max_request_headers",
                self.max_request_headers,
                1,
                PARSER_MAX_HEADERS,
            ),
            // The http crate holds at most 65534 bytes of target; Pingora answers 400 past that.
            ("max_uri_length", self.max_uri_length, 256, 65534),
        ] {
            if !(min..=max).contains(&value) {
                errors.push(
                    format!("gateway.{field}"),
                    format!("value should be between {min} and {max}"),
                );
            }
        }
        if !ACCESS_LOG_FORMATS.contains(&self.access_log_format.as_str()) {
            errors.push(
                "gateway.access_log_format",
                format!(
                    "expected one of {}, got {:?}",
                    ACCESS_LOG_FORMATS.join(", "),
                    self.access_log_format
                ),
            );
        }
        if let Some(addr) = self.status_listen.as_ref().filter(|a| *a != "off") {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                errors.push(
                    "gateway.status_listen",
                    format!("expected host:port (an IP address and a port), got {addr:?}"),
                );
            }
        }
        if !LOG_LEVELS
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&self.log_level))
        {
            errors.push(
                "gateway.log_level",
                format!(
                    "expected one of {}, got {:?}",
                    LOG_LEVELS.join(", "),
                    self.log_level
                ),
            );
        }
        if self.admin_token.as_deref() == Some("") {
            errors.push(
                "gateway.admin_token",
                "must not be empty (omit it to disable the token check)",
            );
        }
        if let Some(cluster) = &self.cluster_cache {
            cluster.check(errors);
        }
        if let Some(store) = &self.config_store {
            store.check(errors);
        }
        dns::check(self, errors);
    }
}

/// `host:port` with a non-empty host (name, IPv4 or bracketed IPv6) and a numeric port.
pub(super) fn is_listen_address(value: &str) -> bool {
    if value.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    match value.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && port.parse::<u16>().is_ok()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        }
        None => false,
    }
}
