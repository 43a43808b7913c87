//! `gateway.stream_listen`, Kong's listeners of stream routes: the entries, their flags and checks.

use super::*;

/// One entry of `stream_listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamListener {
    /// `host:port`.
    pub addr: String,
    /// ` ssl`: TCP connections start with TLS; the gateway reads the ClientHello and terminates it (routes with
    /// `tls`) or splices it (routes with `tls_passthrough`).
    pub ssl: bool,
    /// ` udp`: a UDP socket (sessions per client address).
    pub udp: bool,
    /// ` reuseport`: `SO_REUSEPORT` on the socket.
    pub reuseport: bool,
    /// ` backlog=N`: the listen backlog (TCP; default 511, nginx's).
    pub backlog: u32,
}

/// nginx's default listen backlog.
pub const DEFAULT_BACKLOG: u32 = 511;

impl Settings {
    /// The `stream_listen` entries; empty when it is unset or `off`. `Err` names the first invalid entry.
    pub fn stream_listeners(&self) -> Result<Vec<StreamListener>, String> {
        let Some(text) = self.stream_listen.as_deref().map(str::trim) else {
            return Ok(Vec::new());
        };
        if text == "off" {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let mut words = entry.split_whitespace();
            let addr = words.next().unwrap_or_default();
            if !check::is_listen_address(addr) {
                return Err(format!(
                    "invalid address {addr:?}: expected host:port such as \"127.0.0.1:5555\", optionally followed by \" ssl\" or \" udp\""
                ));
            }
            let mut l = StreamListener {
                addr: addr.to_string(),
                ssl: false,
                udp: false,
                reuseport: false,
                backlog: DEFAULT_BACKLOG,
            };
            for flag in words {
                match flag {
                    "ssl" => l.ssl = true,
                    "udp" => l.udp = true,
                    "reuseport" => l.reuseport = true,
                    _ => match flag.strip_prefix("backlog=").map(str::parse::<u32>) {
                        Some(Ok(n)) if n > 0 => l.backlog = n,
                        Some(_) => return Err(format!("invalid backlog in {entry:?}: expected backlog=N with N a positive integer")),
                        None if ["proxy_protocol", "bind", "ipv6only=on", "ipv6only=off"]
                            .contains(&flag)
                            || flag.starts_with("so_keepalive=") =>
                        {
                            return Err(format!("flag {flag:?} in {entry:?} is not supported yet"))
                        }
                        None => {
                            return Err(format!(
                                "unsupported flag {flag:?} in {entry:?}: expected ssl, udp, reuseport or backlog=N"
                            ))
                        }
                    },
                }
            }
            if l.ssl && l.udp {
                return Err(format!(
                    "{entry:?}: ssl and udp cannot be combined (DTLS is not supported yet)"
                ));
            }
            out.push(l);
        }
        Ok(out)
    }

    /// `ssl_cert` and `ssl_cert_key` (the default certificate) are required once an entry of `setting`
    /// (`proxy_listen`, `stream_listen`) has the `ssl` flag.
    pub(crate) fn require_default_certificate(&self, setting: &str, errors: &mut Collector) {
        for (field, value) in [
            ("ssl_cert", &self.ssl_cert),
            ("ssl_cert_key", &self.ssl_cert_key),
        ] {
            if value.is_none() {
                errors.push(
                    format!("gateway.{field}"),
                    format!("required when a {setting} entry has the ssl flag (a PEM file path)"),
                );
            }
        }
    }

    /// Checks `stream_listen`; an `ssl` entry needs `ssl_cert` and `ssl_cert_key` (the default certificate).
    pub(crate) fn check_stream_listen(&self, errors: &mut Collector) {
        match self.stream_listeners() {
            Ok(listeners) if listeners.iter().any(|l| l.ssl) => {
                self.require_default_certificate("stream_listen", errors)
            }
            Ok(_) => {}
            Err(msg) => errors.push("gateway.stream_listen", msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<StreamListener>, String> {
        Settings {
            stream_listen: Some(text.into()),
            ..Settings::default()
        }
        .stream_listeners()
    }

    #[test]
    fn kong_syntax() {
        assert_eq!(Settings::default().stream_listeners(), Ok(Vec::new()));
        assert_eq!(parse("off"), Ok(Vec::new()));
        let l =
            parse("127.0.0.1:5555, 127.0.0.1:5556 ssl, 127.0.0.1:5557 udp reuseport backlog=16")
                .unwrap();
        assert_eq!(l.len(), 3);
        assert!(!l[0].ssl && !l[0].udp && l[0].backlog == DEFAULT_BACKLOG);
        assert!(l[1].ssl && !l[1].udp);
        assert!(l[2].udp && l[2].reuseport && l[2].backlog == 16);
        assert!(parse("5555")
            .unwrap_err()
            .contains("invalid address \"5555\""));
        assert!(parse("127.0.0.1:1 ssl udp")
            .unwrap_err()
            .contains("cannot be combined"));
        assert!(parse("127.0.0.1:1 proxy_protocol")
            .unwrap_err()
            .contains("not supported yet"));
        assert!(parse("127.0.0.1:1 http2")
            .unwrap_err()
            .contains("unsupported flag"));
        assert!(parse("127.0.0.1:1 backlog=x")
            .unwrap_err()
            .contains("invalid backlog"));
    }
}
