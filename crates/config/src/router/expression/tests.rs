use super::*;

/// A request for the evaluator.
struct Req {
    method: &'static str,
    host: Option<&'static str>,
    path: &'static str,
    https: bool,
    headers: HeaderMap,
    query: Option<&'static str>,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
}

fn req(path: &'static str) -> Req {
    Req {
        method: "GET",
        host: Some("example.com"),
        path,
        https: false,
        headers: HeaderMap::new(),
        query: None,
        src: Some("192.168.1.7:40000".parse().unwrap()),
        dst: Some("10.0.0.1:8000".parse().unwrap()),
    }
}

impl Req {
    fn header(mut self, name: &'static str, value: &'static str) -> Req {
        self.headers.append(name, value.parse().unwrap());
        self
    }

    fn eval(&self, source: &str) -> Option<PathMatch> {
        let e = Expression::parse(source).unwrap_or_else(|m| panic!("{source}: {m}"));
        e.matches(&Facts {
            protocol: if self.https { "https" } else { "http" },
            method: self.method,
            host: self.host,
            path: self.path,
            headers: &self.headers,
            query: self.query,
            src: self.src,
            dst: self.dst,
            sni: None,
        })
    }

    fn is(&self, source: &str) -> bool {
        self.eval(source).is_some()
    }
}

fn err(source: &str) -> String {
    Expression::parse(source).unwrap_err()
}

#[test]
fn or_binds_tighter_than_and_as_in_atc() {
    // ATC: `a && b || c` is `a && (b || c)`; with `&&` first this would be true.
    let r = req("/x");
    assert!(!r.is(r#"http.method == "GET" || http.host == "x" && http.path == "/no""#));
    assert!(!r.is(r#"http.host == "nope" && http.path == "/x" || http.method == "GET""#));
    // (x || y) && z with x true, z false: false; a left-to-right reading ((host && path) || method) is true.
    assert!(!r.is(r#"http.method == "POST" || http.path == "/x" && http.host == "nope""#));
    assert!(r.is(r#"(http.host == "nope" && http.path == "/x") || http.method == "GET""#));
}

#[test]
fn not_and_parentheses() {
    let r = req("/x");
    assert!(r.is(r#"!(http.path == "/y")"#));
    assert!(!r.is(r#"!(http.path == "/x" || http.path == "/y")"#));
    assert!(r.is(r#"((http.path == "/x"))"#));
    assert!(err(r#"! http.path == "/x""#).contains("1:1: expected term"));
    assert!(err(r#"http.path == "/x" || ! http.method == "GET""#).contains("1:22: expected term"));
    assert!(err(r#"(http.path == "/x""#).contains("expected logical_operator"));
}

#[test]
fn string_operators() {
    let r = req("/users/42/profile");
    assert!(r.is(r#"http.path == "/users/42/profile""#));
    assert!(r.is(r#"http.path != "/users""#));
    assert!(r.is(r#"http.path ^= "/users/""#));
    assert!(!r.is(r#"http.path ^= "/orders""#));
    assert!(r.is(r#"http.path =^ "/profile""#));
    assert!(r.is(r#"http.path contains "42""#));
    assert!(!r.is(r#"http.path contains "43""#));
    assert!(r.is(r#"http.path ~ "^/users/\\d+""#));
    assert!(
        r.is(r#"http.path ~ "\\d+/profile$""#),
        "regexes are not anchored"
    );
    assert!(!r.is(r#"http.path ~ "^/\\d""#));
}

#[test]
fn integer_and_ip_operators() {
    let r = req("/");
    assert!(r.is("net.dst.port == 8000"));
    assert!(r.is("net.dst.port != 80"));
    assert!(r.is("net.dst.port > 7999 && net.dst.port >= 8000"));
    assert!(r.is("net.dst.port < 8001 && net.dst.port <= 8000"));
    assert!(!r.is("net.dst.port > 8000"));
    assert!(r.is("net.src.port == 40000"));
    assert!(r.is("net.dst.port == 0x1f40"), "hex");
    assert!(r.is("net.dst.port == 017500"), "octal");
    assert!(r.is("net.src.ip == 192.168.1.7"));
    assert!(r.is("net.src.ip in 192.168.0.0/16"));
    assert!(!r.is("net.src.ip not in 192.168.0.0/16"));
    assert!(r.is("net.dst.ip not in 192.168.0.0/16"));
    assert!(r.is("net.dst.ip in 10.0.0.0/8 && net.dst.ip != 10.0.0.2"));
    let mut v6 = req("/");
    v6.src = Some("[2001:db8::5]:1".parse().unwrap());
    assert!(v6.is("net.src.ip in 2001:db8::/32"));
    assert!(v6.is("net.src.ip == 2001:db8::5"));
    assert!(err("net.src.ip in 192.168.1.1/16").contains("host part of address was not zero"));
}

#[test]
fn net_protocol_method_host() {
    let mut r = req("/");
    assert!(r.is(r#"net.protocol == "http""#));
    r.https = true;
    assert!(r.is(r#"net.protocol ~ "^https?$""#));
    assert!(r.is(r#"http.method == "GET""#));
    r.host = Some("Example.COM");
    assert!(
        !r.is(r#"http.host == "example.com""#),
        "case-sensitive without lower()"
    );
    assert!(r.is(r#"lower(http.host) == "example.com""#));
    r.host = None;
    assert!(
        !r.is(r#"http.host != "x""#),
        "a missing field is false whatever the operator"
    );
}

#[test]
fn headers_and_queries() {
    let r = req("/")
        .header("x-version", "v2")
        .header("x-multi", "a")
        .header("x-multi", "b");
    assert!(r.is(r#"http.headers.x_version == "v2""#));
    assert!(r.is(r#"http.headers.X_Version == "v2""#));
    assert!(!r.is(r#"http.headers.x_version == "V2""#));
    assert!(r.is(r#"lower(http.headers.x_version) == "v2""#));
    assert!(!r.is(r#"http.headers.x_absent != "v2""#));
    // Every value must match, unless any().
    assert!(!r.is(r#"http.headers.x_multi == "a""#));
    assert!(r.is(r#"any(http.headers.x_multi) == "b""#));
    assert!(r.is(r#"http.headers.x_multi ~ "^[ab]$""#));
    let mut q = req("/");
    q.query = Some("a=1&b=hello%20world&a=1");
    assert!(q.is(r#"http.queries.a == "1""#));
    assert!(q.is(r#"http.queries.b == "hello world""#));
    assert!(!q.is(r#"http.queries.c == """#));
}

#[test]
fn literals() {
    let r = req(r#"/a"b\c"#);
    assert!(r.is(r#"http.path == "/a\"b\\c""#));
    assert!(r.is(r##"http.path == r#"/a"b\c"#"##));
    let t = req("/tab\tx");
    assert!(t.is(r#"http.path == "/tab\tx""#));
    assert!(err(r#"http.path == "/\q""#).contains("expected str_esc"));
    assert!(err(r#"http.path == "/open"#).contains("expected rhs"));
    assert!(err("http.path == ").contains("expected rhs"));
    assert!(err("net.dst.port == 99999999999999999999").contains("number too large"));
    assert!(req("/").is("net.dst.port > -1"));
    // Whitespace, including new lines, between tokens.
    assert!(r.is("http.path\n  ==\t\"/a\\\"b\\\\c\""));
}

#[test]
fn type_errors_as_atc() {
    assert_eq!(
        err(r#"http.path == 1"#),
        "Router Expression failed validation: Type mismatch between the LHS and RHS values of predicate"
    );
    assert!(err("net.dst.port ^= \"1\"").contains("Type mismatch"));
    assert!(err(r#"http.path > "a""#).contains(
        "Greater/GreaterOrEqual/Less/LessOrEqual operators only supports integer operands"
    ));
    assert!(err("net.src.port ~ \"1\"").contains("Regex operators only supports string operands"));
    assert!(err("http.path ~ 1").contains("regex operator can only be used with String operands"));
    assert!(err("lower(net.src.port) == 1").contains("lower-case transformation function only"));
    assert!(err("http.path in 10.0.0.0/8").contains("In/NotIn operators only supports IP in CIDR"));
    assert!(err("net.src.ip == 10.0.0.0/8").contains("Type mismatch"));
    assert!(err("http.nope == \"a\"").ends_with("Unknown LHS field"));
    assert!(err("upper(http.path) == \"a\"").contains("unknown transformation function: upper"));
    assert!(err(r#"http.path ~ "(""#).contains("unclosed group"));
    let http_sni = Expression::parse_for(r#"tls.sni == "a""#, false).unwrap_err();
    assert!(
        http_sni.contains("not supported yet on http routes"),
        "{http_sni}"
    );
    assert!(Expression::parse_for(r#"tls.sni == "a""#, true).is_ok());
    let stream_http = Expression::parse_for(r#"http.path == "/a""#, true).unwrap_err();
    assert!(stream_http.ends_with("Unknown LHS field"), "{stream_http}");
    assert!(err(r#"http.path.segments.0 == "a""#).contains("not supported yet"));
    assert!(err(r#"http.path === "a""#).contains("expected rhs"));
    assert!(err(r#"http.path "a""#).contains("expected binary_operator"));
    assert!(err(r#"http.path == "a" http.method == "GET""#).contains("expected EOI"));
}

#[test]
fn path_match_records_the_last_http_path_predicate() {
    let r = req("/prefix/rest");
    assert_eq!(r.eval(r#"http.path ^= "/prefix""#).unwrap().len, 7);
    assert_eq!(r.eval(r#"http.path == "/prefix/rest""#).unwrap().len, 12);
    let m = r.eval(r#"http.path ~ "^/pre(fix)""#).unwrap();
    assert_eq!((m.len, m.regex), (7, Some(0)));
    let m = r.eval(r#"http.path == "/no" || http.path ~ "^/p" || http.path ~ "^/prefix/""#);
    assert_eq!(
        m.unwrap(),
        PathMatch {
            len: 2,
            regex: Some(0)
        }
    );
    assert_eq!(r.eval(r#"http.method == "GET""#).unwrap().len, 0);
    assert_eq!(r.eval(r#"http.path != "/x""#).unwrap().len, 0);
}
