//! The expression language's recursive-descent parser and its type checks (ATC's `semantics.rs`).

use super::*;

/// The recursive-descent parser over the source text.
pub(super) struct Parser<'s> {
    pub(super) src: &'s str,
    pub(super) at: usize,
    pub(super) path_regexes: Vec<Regex>,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.at..).unwrap_or("")
    }

    pub(super) fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        self.at += rest.len() - trimmed.len();
    }

    /// Consumes `token` (after whitespace) when the text continues with it.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// An error at the current position, as `line:column` (pest's position, 1-based).
    pub(super) fn error(&self, what: &str) -> String {
        self.error_at(self.at, what)
    }

    fn error_at(&self, at: usize, what: &str) -> String {
        let before = self.src.get(..at).unwrap_or(self.src);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{FAILED}--> {line}:{column}: {what}")
    }

    /// `and_chain = or_chain ("&&" or_chain)*`: `&&` binds loosest (ATC's precedence).
    pub(super) fn expression(&mut self) -> Result<Node, String> {
        let mut node = self.or_chain()?;
        while self.eat("&&") {
            let right = self.or_chain()?;
            node = Node::And(Box::new(node), Box::new(right));
        }
        Ok(node)
    }

    fn or_chain(&mut self) -> Result<Node, String> {
        let mut node = self.term()?;
        while self.eat("||") {
            let right = self.term()?;
            node = Node::Or(Box::new(node), Box::new(right));
        }
        Ok(node)
    }

    fn term(&mut self) -> Result<Node, String> {
        self.skip_ws();
        let start = self.at;
        let not = self.eat("!");
        if self.eat("(") {
            let inner = self.expression()?;
            if !self.eat(")") {
                return Err(self.error("expected logical_operator or \")\""));
            }
            return Ok(if not {
                Node::Not(Box::new(inner))
            } else {
                inner
            });
        }
        if not {
            return Err(self.error_at(start, "expected term"));
        }
        self.predicate()
    }

    fn ident(&mut self) -> Option<&str> {
        self.skip_ws();
        let rest = self.rest();
        let first = rest.chars().next()?;
        if !first.is_ascii_alphabetic() {
            return None;
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let start = self.at;
        self.at += len;
        self.src.get(start..start + len)
    }

    fn predicate(&mut self) -> Result<Node, String> {
        self.skip_ws();
        let lhs_at = self.at;
        let (name, lower, any) = self.lhs()?;
        let field = field(&name).map_err(|m| self.error_at(lhs_at, &m))?;
        let op = self.op()?;
        self.skip_ws();
        let rhs_at = self.at;
        let mut value = self.rhs()?;
        let lhs_type = field_type(&field);
        if op == Op::Regex {
            let Value::String(pattern) = &value else {
                return Err(self.error_at(
                    rhs_at,
                    "regex operator can only be used with String operands",
                ));
            };
            let regex = Regex::new(pattern).map_err(|e| {
                let text = e.to_string();
                let last = text.lines().last().unwrap_or("").trim().to_string();
                self.error_at(rhs_at, &last)
            })?;
            value = Value::Regex(regex);
        }
        check_types(lhs_type, op, &value, lower).map_err(|m| format!("{FAILED}{m}"))?;
        let path_regex = match (&field, &value) {
            (Field::Path, Value::Regex(r)) => {
                let k = u16::try_from(self.path_regexes.len())
                    .map_err(|_| format!("{FAILED}too many http.path regexes"))?;
                self.path_regexes.push(r.clone());
                Some(k)
            }
            _ => None,
        };
        Ok(Node::Pred(Predicate {
            field,
            lower,
            any,
            op,
            value,
            path_regex,
        }))
    }

    /// `lhs = ident | func "(" lhs ")"`: the field name and its transformations.
    fn lhs(&mut self) -> Result<(String, bool, bool), String> {
        let at = self.at;
        let Some(name) = self.ident().map(str::to_string) else {
            return Err(self.error("expected term"));
        };
        if !self.eat("(") {
            return Ok((name, false, false));
        }
        let (inner, mut lower, mut any) = self.lhs()?;
        if !self.eat(")") {
            return Err(self.error("expected \")\""));
        }
        match name.as_str() {
            "lower" => lower = true,
            "any" => any = true,
            other => {
                return Err(self.error_at(at, &format!("unknown transformation function: {other}")))
            }
        }
        Ok((inner, lower, any))
    }

    fn op(&mut self) -> Result<Op, String> {
        self.skip_ws();
        const OPS: [(&str, Op); 11] = [
            ("==", Op::Equals),
            ("!=", Op::NotEquals),
            ("~", Op::Regex),
            ("^=", Op::Prefix),
            ("=^", Op::Postfix),
            (">=", Op::GreaterOrEqual),
            (">", Op::Greater),
            ("<=", Op::LessOrEqual),
            ("<", Op::Less),
            ("in", Op::In),
            ("contains", Op::Contains),
        ];
        for (token, op) in OPS {
            if self.eat(token) {
                return Ok(op);
            }
        }
        let save = self.at;
        if self.eat("not") && self.eat("in") {
            return Ok(Op::NotIn);
        }
        self.at = save;
        Err(self.error("expected binary_operator"))
    }

    fn rhs(&mut self) -> Result<Value, String> {
        let rest = self.rest();
        if let Some(raw) = rest.strip_prefix("r#\"") {
            let Some(end) = raw.find("\"#") else {
                return Err(self.error("expected rhs"));
            };
            let text = raw.get(..end).unwrap_or("").to_string();
            self.at += 3 + end + 2;
            return Ok(Value::String(text));
        }
        if let Some(body) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = body.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.at += 1 + i + 1;
                        return Ok(Value::String(out));
                    }
                    '\\' => match chars.next().map(|(_, e)| e) {
                        Some('"') => out.push('"'),
                        Some('\\') => out.push('\\'),
                        Some('n') => out.push('\n'),
                        Some('r') => out.push('\r'),
                        Some('t') => out.push('\t'),
                        _ => return Err(self.error_at(self.at + 1 + i, "expected str_esc")),
                    },
                    c => out.push(c),
                }
            }
            return Err(self.error("expected rhs"));
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '/' | '-' | 'x')))
            .unwrap_or(rest.len());
        let token = rest.get(..len).unwrap_or("");
        if token.is_empty() {
            return Err(self.error("expected rhs"));
        }
        let value = literal(token).ok_or_else(|| self.error("expected rhs"))?;
        self.at += len;
        value.map_err(|m| self.error_at(self.at - len, &m))
    }
}

/// An IP, CIDR or integer literal (`Err`: a literal of the right shape that does not parse).
fn literal(token: &str) -> Option<Result<Value, String>> {
    if token.contains(':') || token.contains('.') {
        return Some(match token.split_once('/') {
            Some((ip, bits)) => match (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
                (Ok(ip), Ok(bits)) => match IpNet::new(ip, bits) {
                    Ok(net) if net.trunc() == net => Ok(Value::Cidr(net)),
                    Ok(_) => Err("host part of address was not zero".to_string()),
                    Err(_) => Err("invalid length for network".to_string()),
                },
                _ => Err("couldn't parse address in network".to_string()),
            },
            None => (token.parse::<IpAddr>())
                .map(Value::Ip)
                .map_err(|e| e.to_string()),
        });
    }
    let (negative, digits) = match token.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, token),
    };
    let parsed = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16)
    } else if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b < b'8') {
        i64::from_str_radix(digits.get(1..)?, 8)
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>()
    } else {
        return None;
    };
    Some(
        parsed
            .map(|n| Value::Int(if negative { -n } else { n }))
            .map_err(|e| e.to_string()),
    )
}

/// The field a name denotes, or the message for a name ATC does not know (or that is not built here).
fn field(name: &str) -> Result<Field, String> {
    Ok(match name {
        "net.protocol" => Field::Protocol,
        "http.method" => Field::Method,
        "http.host" => Field::Host,
        "http.path" => Field::Path,
        "net.src.ip" => Field::SrcIp,
        "net.src.port" => Field::SrcPort,
        "net.dst.ip" => Field::DstIp,
        "net.dst.port" => Field::DstPort,
        "net.port" => Field::DstPort,
        "tls.sni" => Field::Sni,
        _ => {
            if let Some(header) = name.strip_prefix("http.headers.").filter(|h| !h.is_empty()) {
                let header = header.to_ascii_lowercase().replace('_', "-");
                return HeaderName::from_bytes(header.as_bytes())
                    .map(Field::Header)
                    .map_err(|_| "Unknown LHS field".to_string());
            }
            if let Some(query) = name.strip_prefix("http.queries.").filter(|q| !q.is_empty()) {
                return Ok(Field::Query(query.to_string()));
            }
            if name.starts_with("http.path.segments.") {
                return Err(format!("field {name} is not supported yet"));
            }
            return Err("Unknown LHS field".to_string());
        }
    })
}

fn field_type(field: &Field) -> Type {
    match field {
        Field::SrcPort | Field::DstPort => Type::Int,
        Field::SrcIp | Field::DstIp => Type::IpAddr,
        _ => Type::String,
    }
}

/// ATC's `semantics.rs` checks, with its messages.
fn check_types(lhs: Type, op: Op, rhs: &Value, lower: bool) -> Result<(), &'static str> {
    let rhs_type = rhs.kind();
    if !matches!(op, Op::Regex | Op::In | Op::NotIn) && lhs != rhs_type {
        return Err("Type mismatch between the LHS and RHS values of predicate");
    }
    if lower && lhs != Type::String {
        return Err("lower-case transformation function only supported with String type fields");
    }
    match op {
        Op::Equals | Op::NotEquals => Ok(()),
        Op::Regex if lhs == Type::String => Ok(()),
        Op::Regex => Err("Regex operators only supports string operands"),
        Op::Prefix | Op::Postfix if rhs_type == Type::String => Ok(()),
        Op::Prefix | Op::Postfix => Err("Prefix/Postfix operators only supports string operands"),
        Op::Greater | Op::GreaterOrEqual | Op::Less | Op::LessOrEqual if rhs_type == Type::Int => {
            Ok(())
        }
        Op::Greater | Op::GreaterOrEqual | Op::Less | Op::LessOrEqual => {
            Err("Greater/GreaterOrEqual/Less/LessOrEqual operators only supports integer operands")
        }
        Op::In | Op::NotIn if lhs == Type::IpAddr && rhs_type == Type::IpCidr => Ok(()),
        Op::In | Op::NotIn => Err("In/NotIn operators only supports IP in CIDR"),
        Op::Contains if rhs_type == Type::String => Ok(()),
        Op::Contains => Err("Contains operator only supports string operands"),
    }
}
