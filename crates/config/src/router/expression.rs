//! Kong's expressions router language (the ATC language of `Kong/atc-router`): a route's `expression`,
//! parsed once per configuration by a small recursive-descent parser (the grammar is `atc_grammar.pest`'s,
//! a dozen rules: a parser generator would add a dependency for less code than it saves), type-checked
//! as `semantics.rs` does, regexes compiled with the `regex` crate, then evaluated per request as
//! `interpreter.rs` does.
//!
//! Grammar: `expression = term (("&&" | "||") term)*`, where `||` binds tighter than `&&` (ATC's Pratt
//! table: `a && b || c` is `a && (b || c)`); `term = predicate | "!"? "(" expression ")"`;
//! `predicate = lhs op rhs`; `lhs = ident | func "(" lhs ")"` (`lower`, `any`); `rhs` = a string
//! (`"..."` with `\" \\ \n \r \t`, or raw `r#"..."#`), an IP address or CIDR, or an integer (decimal,
//! `0x` hex, leading-`0` octal, optional `-`).

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName};
use ipnet::IpNet;
use regex::Regex;

mod parse;
use parse::Parser;

/// Prefix of every error message (Kong's `validate_route`).
pub const FAILED: &str = "Router Expression failed validation: ";

/// A parsed and type-checked expression.
#[derive(Debug, Clone)]
pub struct Expression {
    root: Node,
    /// The regexes of `http.path ~` predicates, in source order; [`PathMatch::regex`] indexes them.
    path_regexes: Vec<Regex>,
}

#[derive(Debug, Clone)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Pred(Predicate),
}

#[derive(Debug, Clone)]
struct Predicate {
    field: Field,
    lower: bool,
    any: bool,
    op: Op,
    value: Value,
    /// For an `http.path ~` predicate: its index in [`Expression::path_regexes`].
    path_regex: Option<u16>,
}

/// The fields an expression reads (Kong's `HTTP_FIELDS` that are built here).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Protocol,
    Method,
    Host,
    Path,
    Header(HeaderName),
    Query(String),
    SrcIp,
    SrcPort,
    DstIp,
    DstPort,
    Sni,
}

/// ATC's value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    String,
    Int,
    IpAddr,
    IpCidr,
    Regex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    NotEquals,
    Regex,
    Prefix,
    Postfix,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    In,
    NotIn,
    Contains,
}

#[derive(Debug, Clone)]
enum Value {
    String(String),
    Int(i64),
    Ip(IpAddr),
    Cidr(IpNet),
    Regex(Regex),
}

impl Value {
    fn kind(&self) -> Type {
        match self {
            Value::String(_) => Type::String,
            Value::Int(_) => Type::Int,
            Value::Ip(_) => Type::IpAddr,
            Value::Cidr(_) => Type::IpCidr,
            Value::Regex(_) => Type::Regex,
        }
    }
}

/// What an expression reads from a request.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// `net.protocol`: `http` or `https`.
    pub protocol: &'a str,
    /// `http.method`.
    pub method: &'a str,
    /// `http.host`: the Host header without its port, as sent.
    pub host: Option<&'a str>,
    /// `http.path`: the request path without the query string, as sent.
    pub path: &'a str,
    /// `http.headers.*`.
    pub headers: &'a HeaderMap,
    /// `http.queries.*`: the raw query string.
    pub query: Option<&'a str>,
    /// `net.src.ip` / `net.src.port`: the client.
    pub src: Option<SocketAddr>,
    /// `net.dst.ip` / `net.dst.port`: the address the request came in on.
    pub dst: Option<SocketAddr>,
    /// `tls.sni`: the server name the client sent (stream routes only).
    pub sni: Option<&'a str>,
}

/// The last `http.path` predicate that matched (ATC's `get_result("http.path")`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathMatch {
    /// Length of the matched value: the `^=` prefix, the `==` path, the text a `~` regex matched, the
    /// `=^` suffix (Kong strips that many bytes with `strip_path`); 0 when no `http.path` predicate matched.
    pub len: usize,
    /// Index in [`Expression::path_regexes`] of the regex that matched, when the value came from `~`.
    pub regex: Option<u16>,
}

impl Expression {
    /// Parses and type-checks `source`. The error is Kong's message (with [`FAILED`] in front).
    pub fn parse(source: &str) -> Result<Expression, String> {
        let mut p = Parser {
            src: source,
            at: 0,
            path_regexes: Vec::new(),
        };
        let root = p.expression()?;
        p.skip_ws();
        if p.at < source.len() {
            return Err(p.error("expected EOI, logical_operator"));
        }
        Ok(Expression {
            root,
            path_regexes: p.path_regexes,
        })
    }

    /// Parses for a route of the stream subsystem (`stream`) or the HTTP one: Kong's schemas differ. A stream
    /// expression reads `net.*` and `tls.sni` only (else ATC's "Unknown LHS field"); `tls.sni` in an HTTP
    /// expression is not built (the HTTP router does not read the SNI).
    pub fn parse_for(source: &str, stream: bool) -> Result<Expression, String> {
        let e = Expression::parse(source)?;
        let mut fields = Vec::new();
        e.root.fields(&mut fields);
        for field in fields {
            let http = matches!(
                field,
                Field::Method | Field::Host | Field::Path | Field::Header(_) | Field::Query(_)
            );
            if stream && http {
                return Err(format!("{FAILED}Unknown LHS field"));
            }
            if !stream && *field == Field::Sni {
                return Err(format!(
                    "{FAILED}field tls.sni is not supported yet on http routes"
                ));
            }
        }
        Ok(e)
    }

    /// The regexes of the `http.path ~` predicates, in source order.
    pub fn path_regexes(&self) -> &[Regex] {
        &self.path_regexes
    }

    /// Evaluates the expression; on a match, the last `http.path` predicate that matched.
    pub fn matches(&self, facts: &Facts<'_>) -> Option<PathMatch> {
        let mut path = PathMatch::default();
        eval(&self.root, facts, &mut path).then_some(path)
    }
}

impl Node {
    fn fields<'a>(&'a self, out: &mut Vec<&'a Field>) {
        match self {
            Node::And(l, r) | Node::Or(l, r) => {
                l.fields(out);
                r.fields(out);
            }
            Node::Not(e) => e.fields(out),
            Node::Pred(p) => out.push(&p.field),
        }
    }
}

fn eval(node: &Node, f: &Facts<'_>, m: &mut PathMatch) -> bool {
    match node {
        Node::And(l, r) => eval(l, f, m) && eval(r, f, m),
        Node::Or(l, r) => eval(l, f, m) || eval(r, f, m),
        Node::Not(e) => !eval(e, f, m),
        Node::Pred(p) => p.eval(f, m),
    }
}

/// One value of a field.
#[derive(Debug, Clone)]
enum Got<'a> {
    Str(std::borrow::Cow<'a, str>),
    Int(i64),
    Ip(IpAddr),
}

impl Predicate {
    /// The field's values: several for a header sent more than once or a repeated query argument, none when
    /// the request lacks the field (the predicate is then false, whatever the operator).
    fn values<'a>(&self, f: &Facts<'a>) -> Vec<Got<'a>> {
        use std::borrow::Cow::{Borrowed, Owned};
        match &self.field {
            Field::Protocol => vec![Got::Str(Borrowed(f.protocol))],
            Field::Method => vec![Got::Str(Borrowed(f.method))],
            Field::Host => f.host.map(|h| Got::Str(Borrowed(h))).into_iter().collect(),
            Field::Path => vec![Got::Str(Borrowed(f.path))],
            Field::Header(name) => (f.headers.get_all(name).iter())
                .map(|v| Got::Str(String::from_utf8_lossy(v.as_bytes())))
                .collect(),
            Field::Query(name) => (f.query.into_iter())
                .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
                .filter(|(k, _)| k == name)
                .map(|(_, v)| Got::Str(Owned(v.into_owned())))
                .collect(),
            Field::SrcIp => f
                .src
                .map(|a| Got::Ip(a.ip().to_canonical()))
                .into_iter()
                .collect(),
            Field::SrcPort => (f.src.map(|a| Got::Int(a.port().into())).into_iter()).collect(),
            Field::DstIp => f
                .dst
                .map(|a| Got::Ip(a.ip().to_canonical()))
                .into_iter()
                .collect(),
            Field::DstPort => (f.dst.map(|a| Got::Int(a.port().into())).into_iter()).collect(),
            Field::Sni => f.sni.map(|s| Got::Str(Borrowed(s))).into_iter().collect(),
        }
    }

    /// ATC's `Predicate::execute`: every value must satisfy the operator (any one with `any()`), and there
    /// must be at least one value.
    fn eval(&self, f: &Facts<'_>, m: &mut PathMatch) -> bool {
        let values = self.values(f);
        if values.is_empty() {
            return false;
        }
        for value in values {
            let value = match (value, self.lower) {
                (Got::Str(s), true) => Got::Str(s.to_lowercase().into()),
                (v, _) => v,
            };
            let matched = self.test(&value, m);
            if self.any && matched {
                return true;
            }
            if !self.any && !matched {
                return false;
            }
        }
        !self.any
    }

    fn test(&self, got: &Got<'_>, m: &mut PathMatch) -> bool {
        let path = self.field == Field::Path;
        let mut record = |len: usize, regex: Option<u16>| {
            if path {
                *m = PathMatch { len, regex };
            }
        };
        match (got, &self.value) {
            (Got::Str(s), Value::String(v)) => {
                let ok = match self.op {
                    Op::Equals => s == v,
                    Op::NotEquals => return s != v,
                    Op::Prefix => s.starts_with(v.as_str()),
                    Op::Postfix => s.ends_with(v.as_str()),
                    Op::Contains => return s.contains(v.as_str()),
                    _ => false,
                };
                if ok {
                    record(v.len(), None);
                }
                ok
            }
            (Got::Str(s), Value::Regex(r)) => match r.find(s) {
                Some(found) => {
                    record(found.len(), self.path_regex);
                    true
                }
                None => false,
            },
            (Got::Int(i), Value::Int(v)) => match self.op {
                Op::Equals => i == v,
                Op::NotEquals => i != v,
                Op::Greater => i > v,
                Op::GreaterOrEqual => i >= v,
                Op::Less => i < v,
                Op::LessOrEqual => i <= v,
                _ => false,
            },
            (Got::Ip(ip), Value::Ip(v)) => match self.op {
                Op::Equals => ip == v,
                Op::NotEquals => ip != v,
                _ => false,
            },
            (Got::Ip(ip), Value::Cidr(net)) => match self.op {
                Op::In => net.contains(ip),
                Op::NotIn => !net.contains(ip),
                _ => false,
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
