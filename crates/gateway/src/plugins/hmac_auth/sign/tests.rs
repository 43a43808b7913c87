//! Unit tests of hmac-auth's parsing, signing string, HMACs (against vectors computed by Python's `hmac`),
//! base64 as nginx reads it, clock skew and body digest.

use super::*;
use http::HeaderValue;

const DATE: &str = "Thu, 22 Jun 2017 17:15:21 GMT";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in pairs {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn line<'a>(method: &'a Method, uri: &'a str) -> RequestLine<'a> {
    RequestLine {
        method,
        uri,
        version: Version::HTTP_11,
    }
}

#[test]
fn parses_kongs_credentials_pattern() {
    let p = parse(br#"hmac username="bob", algorithm="hmac-sha256", headers="date request-line", signature="c2ln""#)
        .unwrap();
    assert_eq!(p.username, b"bob");
    assert_eq!(p.algorithm, b"hmac-sha256");
    assert_eq!(p.headers, [&b"date"[..], b"request-line"]);
    assert_eq!(p.signature, b"c2ln");
    // `Hmac`, no space after the scheme, spaces after the commas, leading text: all Kong's pattern accepts.
    let p = parse(br#"  Hmacusername="a",algorithm="b",   headers="x  y", signature="s""#).unwrap();
    assert_eq!((p.username, p.algorithm), (&b"a"[..], &b"b"[..]));
    assert_eq!(
        p.headers,
        [&b"x"[..], b"", b"y"],
        "empty names kept as splitn does"
    );
    // Fields out of order, missing or empty do not match.
    assert!(parse(br#"hmac algorithm="b", username="a", headers="x", signature="s""#).is_none());
    assert!(parse(br#"hmac username="a", algorithm="b", signature="s""#).is_none());
    assert!(parse(br#"hmac username="", algorithm="b", headers="x", signature="s""#).is_none());
    assert!(parse(b"Basic dXNlcjpwYXNz").is_none());
}

#[test]
fn signing_string_is_kongs() {
    let get = Method::GET;
    let h = headers(&[("Date", DATE), ("X-Custom", "one"), ("x-custom", "two")]);
    let names: Vec<&[u8]> = vec![
        b"date",
        b"request-line",
        b"X_Custom",
        b"@request-target",
        b"absent",
    ];
    let s = signing_string(&names, &h, line(&get, "/requests?a=1"));
    assert_eq!(
        String::from_utf8(s).unwrap(),
        format!("date: {DATE}\nGET /requests?a=1 HTTP/1.1\nX_Custom: one\n@request-target: get /requests?a=1\nabsent:")
    );
    let h2 = RequestLine {
        version: Version::HTTP_2,
        ..line(&get, "/")
    };
    assert_eq!(
        signing_string(&[b"request-line"], &h, h2),
        b"GET / HTTP/2.0"
    );
}

#[test]
fn every_algorithm_matches_pythons_hmac() {
    let h = headers(&[("date", DATE)]);
    let get = Method::GET;
    let signed = signing_string(&[b"date", b"request-line"], &h, line(&get, "/requests?a=1"));
    let vectors = [
        ("hmac-sha1", "h5Bmn/bNct07nGZcLskTzW+8cJc="),
        ("hmac-sha256", "NBd+s5dSTdRm7ox3bkaMuAYIXBIyVoEXjAPzqey8fM0="),
        ("hmac-sha384", "IlKUTPqUw6HKNqLS7i/jQv/ZA3/1xuD4vfhrxGIIqHsAa5opCzj3ogw4Gbf0nD/L"),
        ("hmac-sha512", "ThQdKR1SZtC0eJZxmUfX/8fHtbk6jsHR4EHQUuwkMdZmmMDcK4ndWvWpmK3x6i8t5m5BV0ZeRQBLgt9lAh3Dwg=="),
    ];
    for (name, expected) in vectors {
        let algorithm = Algorithm::named(name.as_bytes()).unwrap();
        assert!(
            signature_matches(algorithm, b"secret", &signed, expected.as_bytes()),
            "{name}"
        );
        assert!(
            !signature_matches(algorithm, b"secreT", &signed, expected.as_bytes()),
            "{name}"
        );
    }
    assert!(Algorithm::named(b"hmac-md5").is_none());
    // A signature without its padding still matches (nginx reads up to the first `=`); garbage does not.
    let sha256 = Algorithm::Sha256;
    let unpadded = b"NBd+s5dSTdRm7ox3bkaMuAYIXBIyVoEXjAPzqey8fM0";
    assert!(signature_matches(sha256, b"secret", &signed, unpadded));
    assert!(!signature_matches(
        sha256,
        b"secret",
        &signed,
        b"not base64!"
    ));
    assert!(!signature_matches(sha256, b"secret", &signed, b""));
}

#[test]
fn base64_as_nginx_reads_it() {
    assert_eq!(decode_base64(b"YWJj").unwrap(), b"abc");
    assert_eq!(decode_base64(b"YWI=").unwrap(), b"ab");
    assert_eq!(decode_base64(b"YWI").unwrap(), b"ab");
    assert_eq!(decode_base64(b"YWI=ignored!").unwrap(), b"ab");
    assert!(decode_base64(b"YWJjZ").is_none(), "4n+1 characters");
    assert!(decode_base64(b"YW-j").is_none(), "url-safe alphabet");
}

#[test]
fn clock_skew_either_way() {
    let date = HeaderName::from_static("date");
    let at = httpdate::parse_http_date(DATE).unwrap();
    let h = headers(&[("date", DATE)]);
    assert!(date_within(&h, &date, 300.0, at + Duration::from_secs(300)));
    assert!(!date_within(
        &h,
        &date,
        300.0,
        at + Duration::from_secs(301)
    ));
    assert!(date_within(&h, &date, 300.0, at - Duration::from_secs(300)));
    assert!(!date_within(
        &h,
        &date,
        300.0,
        at - Duration::from_secs(301)
    ));
    assert!(!date_within(&headers(&[]), &date, 300.0, at));
    assert!(!date_within(
        &headers(&[("date", "yesterday")]),
        &date,
        300.0,
        at
    ));
    // RFC 850 and asctime, which nginx's parser reads too.
    let rfc850 = headers(&[("date", "Thursday, 22-Jun-17 17:15:21 GMT")]);
    assert!(date_within(&rfc850, &date, 1.0, at));
    let asctime = headers(&[("date", "Thu Jun 22 17:15:21 2017")]);
    assert!(date_within(&asctime, &date, 1.0, at));
}

#[test]
fn body_digest_is_sha256_base64() {
    let body = br#"{"a":1}"#;
    let good = b"SHA-256=AVq9f1zFei3ZS3WQ8ErYCEJzkF7jPsXOvq5iJ2qX+GI=";
    assert!(body_matches(Some(good), body));
    assert!(!body_matches(Some(good), b"{\"a\":2}"));
    assert!(!body_matches(
        Some(b"sha-256=AVq9f1zFei3ZS3WQ8ErYCEJzkF7jPsXOvq5iJ2qX+GI="),
        body
    ));
    assert!(body_matches(None, b""), "no digest, no body");
    assert!(!body_matches(None, body), "a body needs its digest");
}
