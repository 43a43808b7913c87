//! decK's environment templates: `${{ env "DECK_NAME" }}` in a file is replaced by the variable's value
//! before the YAML is read, as decK does before it sends a file to Kong (`file/template.go`: Go's
//! `text/template` with `${{`/`}}` delimiters). The forms decK files use are reproduced:
//! `env "DECK_X"`, optionally piped to `toBool`, `toInt` or `toFloat` (the value printed as Go prints it).
//! decK's messages: a name without the `DECK_` prefix, a variable not set. Any other template action is
//! refused (decK would run Go's template language; only these forms are built).

use std::borrow::Cow;

use crate::error::{ConfigError, Location};

const OPEN: &str = "${{";
const CLOSE: &str = "}}";

/// The text with every `${{ … }}` action replaced, reading variables through `lookup`; the text itself when
/// it has none. An error names the action's line and column.
pub fn render<'a>(
    text: &'a str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, ConfigError> {
    if !text.contains(OPEN) {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let at = text.len() - rest.len() + start;
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else {
            return Err(error(
                text,
                at,
                "template: unclosed action (`${{` without `}}`)".into(),
            ));
        };
        let value = action(after[..end].trim(), lookup).map_err(|m| error(text, at, m))?;
        out.push_str(&value);
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// The process environment, for [`render`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn error(text: &str, at: usize, message: String) -> ConfigError {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    ConfigError {
        path: String::new(),
        message,
        location: Some(Location { line, column }),
    }
}

/// One action: `env "NAME"`, then optional `| toBool` / `| toInt` / `| toFloat`.
fn action(body: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut stages = body.split('|').map(str::trim);
    let first = stages.next().unwrap_or_default();
    let unsupported = || {
        format!("template: `${{{{ {body} }}}}` is not supported yet (only `env \"DECK_…\"`, optionally piped to toBool, toInt or toFloat)")
    };
    let name = first
        .strip_prefix("env")
        .map(str::trim)
        .and_then(|q| q.strip_prefix('"')?.strip_suffix('"'))
        .filter(|n| !n.contains('"'))
        .ok_or_else(unsupported)?;
    if !name.starts_with("DECK_") {
        return Err(format!(
            "environment variables in the state file must be prefixed with 'DECK_', found: '{name}'"
        ));
    }
    let mut value = lookup(name).ok_or_else(|| {
        format!("environment variable '{name}' present in state file but not set")
    })?;
    for stage in stages {
        value = match stage {
            "toBool" => go_bool(&value)
                .ok_or_else(|| format!("error calling toBool: strconv.ParseBool: parsing {value:?}: invalid syntax"))?
                .to_string(),
            "toInt" => value
                .parse::<i64>()
                .map_err(|_| format!("error calling toInt: strconv.Atoi: parsing {value:?}: invalid syntax"))?
                .to_string(),
            "toFloat" => go_float(&value).ok_or_else(|| {
                format!("error calling toFloat: strconv.ParseFloat: parsing {value:?}: invalid syntax")
            })?,
            _ => return Err(unsupported()),
        };
    }
    Ok(value)
}

/// Go's `strconv.ParseBool`.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(v, 64)` printed with `%v` (shortest form; exponent from 1e21).
fn go_float(v: &str) -> Option<String> {
    let f: f64 = v.parse().ok()?;
    if !f.is_finite() {
        return Some(if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        });
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes `1e21`, Go `1e+21`.
        let (m, e) = s.split_once('e')?;
        let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
        return Some(format!("{m}e{sign}{digits:0>2}"));
    }
    Some(format!("{f}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "DECK_HOST" => Some("example.com".into()),
            "DECK_ON" => Some("true".into()),
            "DECK_N" => Some("30".into()),
            "DECK_F" => Some("1.50".into()),
            _ => None,
        }
    }

    #[test]
    fn renders_decks_forms() {
        let text = "host: ${{ env \"DECK_HOST\" }}\non: ${{ env \"DECK_ON\" | toBool }}\nn: ${{env \"DECK_N\"|toInt}}\nf: ${{ env \"DECK_F\" | toFloat }}\n";
        assert_eq!(
            render(text, &env).unwrap(),
            "host: example.com\non: true\nn: 30\nf: 1.5\n"
        );
        assert!(matches!(
            render("plain: text", &env).unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn decks_messages() {
        let e = render("a: 1\nb: ${{ env \"DECK_MISSING\" }}", &env).unwrap_err();
        assert_eq!(
            e.message,
            "environment variable 'DECK_MISSING' present in state file but not set"
        );
        assert_eq!(e.location, Some(Location { line: 2, column: 4 }));
        let e = render("${{ env \"HOME\" }}", &env).unwrap_err();
        assert_eq!(
            e.message,
            "environment variables in the state file must be prefixed with 'DECK_', found: 'HOME'"
        );
        let e = render("${{ env \"DECK_HOST\" | toInt }}", &env).unwrap_err();
        assert!(
            e.message.starts_with("error calling toInt"),
            "{}",
            e.message
        );
        let e = render("${{ indent 4 \"x\" }}", &env).unwrap_err();
        assert!(e.message.contains("not supported yet"), "{}", e.message);
        assert!(render("${{ env \"DECK_HOST\"", &env).is_err());
    }

    #[test]
    fn floats_print_as_go_does() {
        for (v, want) in [
            ("1.50", "1.5"),
            ("3", "3"),
            ("1e21", "1e+21"),
            ("0.00001", "1e-05"),
            ("-2.25", "-2.25"),
        ] {
            assert_eq!(go_float(v).unwrap(), want, "{v}");
        }
    }
}
