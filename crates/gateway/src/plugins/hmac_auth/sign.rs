//! hmac-auth's pure parts, as Kong's `kong/plugins/hmac-auth/access.lua` does them: reading the
//! `hmac username="…", algorithm="…", headers="…", signature="…"` credentials, the signing string built from
//! the listed headers (with `request-line` and `@request-target`), the HMAC, the signature's base64 as
//! nginx's `ngx.decode_base64` reads it, the `Date`/`X-Date` clock skew and the `Digest` of the body.
//! Every comparison of a computed value with a sent one is in constant time.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use base64::Engine;
use http::{HeaderMap, HeaderName, Method, Version};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// Kong's pattern for the credentials (PCRE, unanchored, greedy; bytes, not Unicode).
static CREDENTIALS: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    regex::bytes::Regex::new(
        r#"(?-u)\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)""#,
    )
    .expect("the credentials pattern compiles")
});

/// The HMAC digests Kong signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `hmac-sha1`
    Sha1,
    /// `hmac-sha256`
    Sha256,
    /// `hmac-sha384`
    Sha384,
    /// `hmac-sha512`
    Sha512,
}

impl Algorithm {
    /// The algorithm Kong names `name` (`hmac-sha1`, …).
    pub fn named(name: &[u8]) -> Option<Algorithm> {
        Some(match name {
            b"hmac-sha1" => Algorithm::Sha1,
            b"hmac-sha256" => Algorithm::Sha256,
            b"hmac-sha384" => Algorithm::Sha384,
            b"hmac-sha512" => Algorithm::Sha512,
            _ => return None,
        })
    }

    fn digest(self) -> MessageDigest {
        match self {
            Algorithm::Sha1 => MessageDigest::sha1(),
            Algorithm::Sha256 => MessageDigest::sha256(),
            Algorithm::Sha384 => MessageDigest::sha384(),
            Algorithm::Sha512 => MessageDigest::sha512(),
        }
    }

    /// The HMAC of `data` keyed with `secret`.
    pub fn mac(self, secret: &[u8], data: &[u8]) -> Vec<u8> {
        let mac = PKey::hmac(secret).and_then(|key| {
            let mut signer = Signer::new(self.digest(), &key)?;
            signer.update(data)?;
            signer.sign_to_vec()
        });
        // OpenSSL's HMAC fails only on allocation; an empty MAC never equals a sent signature.
        mac.unwrap_or_default()
    }
}

/// The credentials of an `Authorization` (or `Proxy-Authorization`) value, as Kong's pattern captures them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params<'a> {
    /// The credential's username.
    pub username: &'a [u8],
    /// The algorithm's name as sent.
    pub algorithm: &'a [u8],
    /// The signed headers, split on single spaces (empty names kept, as Kong's `splitn`).
    pub headers: Vec<&'a [u8]>,
    /// The signature, base64 as sent.
    pub signature: &'a [u8],
}

/// Kong's `retrieve_hmac_fields`: the credentials of a header value, or `None` when the pattern does not match.
pub fn parse(value: &[u8]) -> Option<Params<'_>> {
    let m = CREDENTIALS.captures(value)?;
    let group = |i: usize| m.get(i).map_or(&b""[..], |g| g.as_bytes());
    Some(Params {
        username: group(1),
        algorithm: group(2),
        headers: group(3).split(|b| *b == b' ').collect(),
        signature: group(4),
    })
}

/// What the signing string reads from the request besides its headers.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    /// The method.
    pub method: &'a Method,
    /// nginx's `$request_uri`: the path and query as the client sent them.
    pub uri: &'a str,
    /// The HTTP version.
    pub version: Version,
}

/// Kong's `kong.request.get_header`: the first value of the header, the name matched case-insensitively and
/// with `_` standing for `-` (nginx's `$http_…` variables).
pub fn header<'h>(headers: &'h HeaderMap, name: &[u8]) -> Option<&'h [u8]> {
    let lower: Vec<u8> = (name.iter())
        .map(|b| {
            if *b == b'_' {
                b'-'
            } else {
                b.to_ascii_lowercase()
            }
        })
        .collect();
    let name = HeaderName::from_bytes(&lower).ok()?;
    headers.get(name).map(|v| v.as_bytes())
}

/// Kong's `create_hash` signing string: one line per listed header, `name: value` for a header the request
/// has, `@request-target: <method in lower case> <uri>`, `request-line` as `METHOD uri HTTP/x.y`, and
/// `name:` for any other missing header.
pub fn signing_string(names: &[&[u8]], headers: &HeaderMap, line: RequestLine<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        match header(headers, name) {
            Some(value) => {
                out.extend_from_slice(name);
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
            }
            None if *name == b"@request-target" => {
                out.extend_from_slice(b"@request-target: ");
                out.extend_from_slice(line.method.as_str().to_ascii_lowercase().as_bytes());
                out.push(b' ');
                out.extend_from_slice(line.uri.as_bytes());
            }
            None if *name == b"request-line" => {
                out.extend_from_slice(line.method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(line.uri.as_bytes());
                out.extend_from_slice(b" HTTP/");
                out.extend_from_slice(version(line.version).as_bytes());
            }
            None => {
                out.extend_from_slice(name);
                out.push(b':');
            }
        }
    }
    out
}

/// The version as Kong formats `ngx.req.http_version()` (`%.01f`).
fn version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2.0",
        Version::HTTP_3 => "3.0",
        _ => "1.1",
    }
}

/// nginx's `ngx_decode_base64` (what `ngx.decode_base64` calls): the standard alphabet, read up to the first
/// `=` (what follows is ignored), a length of 4n+1 refused, leftover bits ignored.
pub fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let end = text.iter().position(|b| *b == b'=').unwrap_or(text.len());
    let text = &text[..end];
    if text.len() % 4 == 1 {
        return None;
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    engine.decode(text).ok()
}

/// Kong's `validate_signature`: the signature sent equals the HMAC of the signing string, compared in
/// constant time (a signature that is not base64 does not match).
pub fn signature_matches(algorithm: Algorithm, secret: &[u8], signed: &[u8], sent: &[u8]) -> bool {
    let Some(sent) = decode_base64(sent) else {
        return false;
    };
    let computed = algorithm.mac(secret, signed);
    computed.len() == sent.len() && openssl::memcmp::eq(&computed, &sent)
}

/// Kong's `validate_clock_skew` for one header: its first value is an HTTP date no more than `clock_skew`
/// seconds from `now` (either way; whole seconds, as `ngx.time()` and `ngx.parse_http_time`).
pub fn date_within(
    headers: &HeaderMap,
    name: &HeaderName,
    clock_skew: f64,
    now: SystemTime,
) -> bool {
    let Some(date) = headers.get(name).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Ok(at) = httpdate::parse_http_date(date) else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs() as i64
    };
    let skew = (secs(now) - secs(at)).unsigned_abs();
    (skew as f64) <= clock_skew
}

/// Kong's `validate_body`: without a `Digest` header only an empty body passes; with one, it must be
/// `SHA-256=<base64 of the body's SHA-256>` exactly (compared in constant time).
pub fn body_matches(digest: Option<&[u8]>, body: &[u8]) -> bool {
    let Some(sent) = digest else {
        return body.is_empty();
    };
    let mut expected = b"SHA-256=".to_vec();
    let sum = openssl::sha::sha256(body);
    expected.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(sum)
            .as_bytes(),
    );
    expected.len() == sent.len() && openssl::memcmp::eq(&expected, sent)
}

#[cfg(test)]
mod tests;
