//! Request and response buffering (the `gateway:` block, flattened into [`crate::settings::Settings`]):
//! nginx's `client_body_buffer_size` and `client_max_body_size` (Kong's `nginx_http_*` defaults),
//! the memory a response is buffered in per connection (`response_buffer_size`, nginx's `proxy_buffers`), the
//! temporary file bound per response (`proxy_max_temp_file_size`), and the one directory of temporary files
//! with its total bound (`temp_path`, `temp_max_size`). Sizes are bytes or nginx's `8k`, `1m`, `1g`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Collector;

/// Kong's `nginx_http_client_body_buffer_size` (8k).
pub const DEFAULT_CLIENT_BODY_BUFFER: u64 = 8 * 1024;
/// Kong's `nginx_http_client_max_body_size` (0: no bound).
pub const DEFAULT_CLIENT_MAX_BODY: u64 = 0;
/// nginx's `proxy_buffers 8 4k` (32 KiB on x86-64).
pub const DEFAULT_RESPONSE_BUFFER: u64 = 32 * 1024;
/// nginx's `proxy_max_temp_file_size` (1024m).
pub const DEFAULT_MAX_TEMP_FILE: u64 = 1024 * 1024 * 1024;
/// Default `temp_max_size`: all temporary files of the process together (4 GiB).
pub const DEFAULT_TEMP_MAX: u64 = 4 * 1024 * 1024 * 1024;
/// The largest memory buffer accepted (64 MiB), so that a typo cannot make a connection hold gigabytes.
const MAX_MEMORY_BUFFER: u64 = 64 * 1024 * 1024;

/// A size in bytes, written as nginx writes sizes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub struct Size(pub u64);

/// The buffering settings of the `gateway:` block.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Buffering {
    /// Request body bytes a buffered request keeps in memory; past it the body goes to a temporary file
    /// (nginx `client_body_buffer_size`, Kong's `nginx_http_client_body_buffer_size`, default 8k).
    #[serde(skip_serializing_if = "is_default_body_buffer")]
    pub client_body_buffer_size: Size,
    /// Largest request body (nginx `client_max_body_size`, Kong's `nginx_http_client_max_body_size`,
    /// default 0: no bound); past it `413`, by `Content-Length` before reading, or while reading.
    #[serde(skip_serializing_if = "is_default_max_body")]
    pub client_max_body_size: Size,
    /// Response bytes a buffered answer keeps in memory per client connection; past it they go to a
    /// temporary file (nginx's `proxy_buffers`, 8 × 4k, default 32k).
    #[serde(skip_serializing_if = "is_default_response_buffer")]
    pub response_buffer_size: Size,
    /// Largest temporary file of one connection's buffered answer (nginx `proxy_max_temp_file_size`,
    /// default 1024m; `0`: responses are buffered in memory only). Past it the answer is passed on as fast
    /// as the client takes it, holding the upstream connection, as nginx does.
    #[serde(skip_serializing_if = "is_default_max_temp_file")]
    pub proxy_max_temp_file_size: Size,
    /// The directory of the temporary files (request bodies and answers; nginx's `client_body_temp_path`
    /// and `proxy_temp_path` in one; default: the system's temporary directory). Each file is unlinked as
    /// soon as it is created.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temp_path: String,
    /// All temporary files of the process together (default 4g; no nginx equivalent). A request body that
    /// would pass it is answered `503`; an answer that would pass it is passed on unbuffered.
    #[serde(skip_serializing_if = "is_default_temp_max")]
    pub temp_max_size: Size,
}

impl Default for Buffering {
    fn default() -> Self {
        Buffering {
            client_body_buffer_size: Size(DEFAULT_CLIENT_BODY_BUFFER),
            client_max_body_size: Size(DEFAULT_CLIENT_MAX_BODY),
            response_buffer_size: Size(DEFAULT_RESPONSE_BUFFER),
            proxy_max_temp_file_size: Size(DEFAULT_MAX_TEMP_FILE),
            temp_path: String::new(),
            temp_max_size: Size(DEFAULT_TEMP_MAX),
        }
    }
}

impl Buffering {
    /// Records each out-of-range value under `gateway.<field>`.
    pub(crate) fn check(&self, errors: &mut Collector) {
        for (field, size) in [
            ("client_body_buffer_size", self.client_body_buffer_size),
            ("response_buffer_size", self.response_buffer_size),
        ] {
            if size.0 < 1024 || size.0 > MAX_MEMORY_BUFFER {
                errors.push(
                    format!("gateway.{field}"),
                    "value should be between 1k and 64m",
                );
            }
        }
        if self.temp_path.contains('\0') {
            errors.push("gateway.temp_path", "must not contain a NUL byte");
        }
    }

    /// The directory of temporary files.
    pub fn temp_dir(&self) -> std::path::PathBuf {
        if self.temp_path.is_empty() {
            std::env::temp_dir()
        } else {
            self.temp_path.clone().into()
        }
    }
}

fn is_default_body_buffer(s: &Size) -> bool {
    s.0 == DEFAULT_CLIENT_BODY_BUFFER
}

fn is_default_max_body(s: &Size) -> bool {
    s.0 == DEFAULT_CLIENT_MAX_BODY
}

fn is_default_response_buffer(s: &Size) -> bool {
    s.0 == DEFAULT_RESPONSE_BUFFER
}

fn is_default_max_temp_file(s: &Size) -> bool {
    s.0 == DEFAULT_MAX_TEMP_FILE
}

fn is_default_temp_max(s: &Size) -> bool {
    s.0 == DEFAULT_TEMP_MAX
}

/// Parses nginx's size syntax: `<n>` bytes or `<n>k`, `<n>m`, `<n>g` (either case).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 'b'),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let mult = match unit {
        'b' => 1,
        'k' => 1024,
        'm' => 1024 * 1024,
        'g' => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, mult) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
            if n != 0 && n.is_multiple_of(mult) {
                return write!(f, "{}{unit}", n / mult);
            }
        }
        write!(f, "{n}")
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => Ok(Size(n)),
            Raw::Text(t) => parse_size(&t).map(Size).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid size {t:?}: expected bytes or nginx's syntax such as \"8k\", \"1m\""
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_sizes_parse_and_print() {
        assert_eq!(parse_size("8k"), Some(8192));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("0"), Some(0));
        for bad in ["", "k", "1.5m", "-1", "1x", "1kb"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(Size(8192).to_string(), "8k");
        assert_eq!(Size(1 << 30).to_string(), "1g");
        assert_eq!(Size(1000).to_string(), "1000");
        assert_eq!(Size(0).to_string(), "0");
    }

    #[test]
    fn read_from_the_gateway_block_and_checked() {
        let s: crate::settings::Settings = serde_yaml::from_str(
            "client_body_buffer_size: 16k\nclient_max_body_size: 1m\ntemp_path: /var/tmp/gw\n",
        )
        .unwrap();
        assert_eq!(s.buffering.client_body_buffer_size, Size(16 * 1024));
        assert_eq!(s.buffering.client_max_body_size, Size(1 << 20));
        assert_eq!(
            s.buffering.response_buffer_size,
            Size(DEFAULT_RESPONSE_BUFFER)
        );
        assert_eq!(
            s.buffering.temp_dir(),
            std::path::PathBuf::from("/var/tmp/gw")
        );
        let out = serde_yaml::to_string(&s).unwrap();
        assert!(out.contains("client_body_buffer_size: 16k"), "{out}");
        assert!(!out.contains("response_buffer_size"), "{out}");
        let bad = serde_yaml::from_str::<crate::settings::Settings>("client_max_body_size: lots\n");
        assert!(bad.unwrap_err().to_string().contains("invalid size"));
        let mut errors = Collector::default();
        Buffering {
            response_buffer_size: Size(10),
            ..Default::default()
        }
        .check(&mut errors);
        let text = format!("{errors:?}");
        assert!(text.contains("gateway.response_buffer_size"), "{text}");
        let mut errors = Collector::default();
        Buffering::default().check(&mut errors);
        assert!(errors.errors.is_empty());
    }
}
