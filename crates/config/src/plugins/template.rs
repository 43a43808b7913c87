//! request-transformer's `$(...)` templates, evaluated without running code. Kong renders a value with
//! Penlight's `pl.template` (Lua in a sandbox); the gateway parses the subset Kong's specs exercise and refuses
//! anything else at load:
//!
//! - text, and `$(expr)` spans found as Penlight finds them (`%b()`: balanced parentheses, quotes not
//!   considered; a `$(` without its closing parenthesis stays text);
//! - `expr` is one or more operands joined by `or` (Lua's: the first that is not `nil`/`false`);
//! - an operand is a string literal (`'…'` or `"…"`) or a lookup: `headers`, `query_params` or
//!   `uri_captures` followed by one `.name`, `["name"]`, `['name']` or `[n]`.
//!
//! A lookup that finds nothing renders as the empty string, as Penlight's `tostring(x or '')`.

/// What a lookup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The request headers (Kong's `headers`, case-insensitive, `_` read as `-` when not found).
    Headers,
    /// The query arguments (Kong's `query_params`).
    QueryParams,
    /// The route's regex captures (Kong's `uri_captures`, by name or number).
    UriCaptures,
}

/// The key of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `.name` or `["name"]`.
    Name(String),
    /// `[n]`.
    Index(i64),
}

/// One operand of an `or` chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A string literal.
    Literal(String),
    /// A lookup.
    Lookup(Root, Key),
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text copied as is.
    Text(String),
    /// A `$(…)` span: operands joined by `or`.
    Expr(Vec<Operand>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The pieces, in order.
    pub pieces: Vec<Piece>,
}

/// What the gateway supports, said in every refusal.
const SUPPORTED: &str = "only lookups ($(headers.name), $(headers['name']), $(query_params.name), \
$(uri_captures.name), $(uri_captures[1])), string literals and 'or' are supported";

impl Template {
    /// Parses `text`; `Err` says why it is refused.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("$(") {
            let Some(len) = balanced(&rest[at + 1..]) else {
                break;
            };
            literal.push_str(&rest[..at]);
            let inner = &rest[at + 2..at + len];
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Expr(parse_expr(inner)?));
            rest = &rest[at + 1 + len..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// True when the template has no `$(…)` span.
    pub fn is_literal(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Text(_)))
    }

    /// The rendered text; `lookup` gives a lookup's value (`None`: Lua's `nil`).
    pub fn render(&self, lookup: &dyn Fn(Root, &Key) -> Option<String>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Expr(ops) => {
                    let value = ops.iter().find_map(|op| match op {
                        Operand::Literal(s) => Some(s.clone()),
                        Operand::Lookup(root, key) => lookup(*root, key),
                    });
                    out.push_str(value.as_deref().unwrap_or(""));
                }
            }
        }
        out
    }
}

/// The length of the balanced `(…)` group at the start of `s` (Lua's `%b()`), parentheses included.
fn balanced(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Int(i64),
    Dot,
    Open,
    Close,
}

fn tokens(expr: &str) -> Result<Vec<Token>, String> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'.' => {
                if bytes.get(i + 1) == Some(&b'.') {
                    return Err(format!("'..' is not supported: {SUPPORTED}"));
                }
                out.push(Token::Dot);
                i += 1;
            }
            b'[' => {
                if matches!(bytes.get(i + 1), Some(b'[' | b'=')) {
                    return Err(format!("long strings are not supported: {SUPPORTED}"));
                }
                out.push(Token::Open);
                i += 1;
            }
            b']' => {
                out.push(Token::Close);
                i += 1;
            }
            b'\'' | b'"' => {
                let (s, len) = string_literal(&expr[i..])?;
                out.push(Token::Str(s));
                i += len;
            }
            b'0'..=b'9' => {
                let end = (i..bytes.len())
                    .find(|&j| !bytes[j].is_ascii_digit())
                    .unwrap_or(bytes.len());
                if bytes
                    .get(end)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.')
                {
                    return Err(format!("malformed number near '{}'", &expr[i..]));
                }
                let n = expr[i..end]
                    .parse()
                    .map_err(|_| format!("number too large: {}", &expr[i..end]))?;
                out.push(Token::Int(n));
                i = end;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let end = (i..bytes.len())
                    .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_'))
                    .unwrap_or(bytes.len());
                out.push(Token::Ident(expr[i..end].to_owned()));
                i = end;
            }
            _ => {
                let c = expr[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected '{c}': {SUPPORTED}"));
            }
        }
    }
    Ok(out)
}

/// A quoted Lua string at the start of `s`: its value and the bytes it takes.
fn string_literal(s: &str) -> Result<(String, usize), String> {
    let quote = s.as_bytes()[0] as char;
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, i + 1)),
            '\n' => break,
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(c @ ('\\' | '"' | '\'')) => out.push(c),
                Some(c) => return Err(format!("escape '\\{c}' is not supported: {SUPPORTED}")),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(format!("unfinished string near '{s}'"))
}

fn parse_expr(expr: &str) -> Result<Vec<Operand>, String> {
    let toks = tokens(expr)?;
    if toks.is_empty() {
        return Err("unexpected symbol near ')'".into());
    }
    let mut ops = Vec::new();
    let mut i = 0;
    loop {
        let (op, next) = operand(&toks, i)?;
        ops.push(op);
        i = next;
        match toks.get(i) {
            None => return Ok(ops),
            Some(Token::Ident(k)) if k == "or" => i += 1,
            Some(_) => return Err(format!("'{expr}' is not supported: {SUPPORTED}")),
        }
    }
}

fn operand(toks: &[Token], i: usize) -> Result<(Operand, usize), String> {
    let root = match toks.get(i) {
        Some(Token::Str(s)) => return Ok((Operand::Literal(s.clone()), i + 1)),
        Some(Token::Ident(name)) => match name.as_str() {
            "headers" => Root::Headers,
            "query_params" => Root::QueryParams,
            "uri_captures" => Root::UriCaptures,
            "shared" => {
                return Err(format!(
                    "'shared' (kong.ctx.shared) is not supported yet: {SUPPORTED}"
                ))
            }
            other => return Err(format!("'{other}' is not supported: {SUPPORTED}")),
        },
        Some(_) | None => return Err(format!("expression expected: {SUPPORTED}")),
    };
    match (toks.get(i + 1), toks.get(i + 2), toks.get(i + 3)) {
        (Some(Token::Dot), Some(Token::Ident(name)), _) if name != "or" => {
            Ok((Operand::Lookup(root, Key::Name(name.clone())), i + 3))
        }
        (Some(Token::Open), Some(Token::Str(name)), Some(Token::Close)) => {
            Ok((Operand::Lookup(root, Key::Name(name.clone())), i + 4))
        }
        (Some(Token::Open), Some(Token::Int(n)), Some(Token::Close)) => {
            Ok((Operand::Lookup(root, Key::Index(*n)), i + 4))
        }
        _ => Err(format!("a lookup needs one key: {SUPPORTED}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str) -> String {
        Template::parse(t)
            .unwrap()
            .render(&|root, key| match (root, key) {
                (Root::UriCaptures, Key::Name(n)) if n == "user1" => Some("foo".into()),
                (Root::UriCaptures, Key::Index(0)) => Some("/whole".into()),
                (Root::Headers, Key::Name(n)) if n == "x-h" => Some("hv".into()),
                (Root::QueryParams, Key::Name(n)) if n == "q1" => Some("20".into()),
                _ => None,
            })
    }

    #[test]
    fn kongs_spec_templates_render() {
        assert_eq!(render("$(uri_captures.user1)"), "foo");
        assert_eq!(render("/r/$(uri_captures[0])/x"), "/r//whole/x");
        assert_eq!(render("$(uri_captures.user2 or 'default2')"), "default2");
        assert_eq!(render("$(uri_captures.user1 or 'default1')"), "foo");
        assert_eq!(render(r#"$(headers["x-h"])-$(headers['x-h'])"#), "hv-hv");
        assert_eq!(render("$(query_params.q1)"), "20");
        assert_eq!(render("a $(query_params.none) b"), "a  b");
        // Escaping by quoting: the literal comes out as written.
        assert_eq!(
            render("$('$(uri_captures.user1)')"),
            "$(uri_captures.user1)"
        );
        // Not a span: text.
        assert_eq!(render("plain $ text $(open"), "plain $ text $(open");
        assert!(Template::parse("value").unwrap().is_literal());
        assert!(!Template::parse("$(headers.a)").unwrap().is_literal());
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "$(uri_captures user2)",
            "$(10 * uri_captures.user1)",
            "$(ERROR())",
            "$(type(headers.x))",
            "$(shared.my_version)",
            "$(shared.written = true)",
            "$(headers)",
            "$(headers.a.b)",
            "$(headers.a .. 'x')",
            "$()",
            "$('open)",
            "$(string.sub(query_params.user, 1, 3))",
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(Template::parse("$(shared.x)")
            .unwrap_err()
            .contains("not supported yet"));
    }
}
