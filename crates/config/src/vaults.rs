//! Kong's `vaults` (`kong/db/schema/entities/vaults.lua`) with the one vault Kong OSS bundles, `env`
//! (`kong/vaults/env/`), and `{vault://…}` references resolved at load in the fields built here that Kong marks
//! `referenceable`: a certificate's `cert`, `key`, `cert_alt`, `key_alt`.
//!
//! A reference is `{vault://<env or a vault's prefix>/<resource>[/<key>]}`: the env vault reads the environment
//! variable `upper(<config.prefix><resource>)` with `-` as `_`; with `/<key>`, the variable holds a JSON object
//! and the key's value is taken. The model keeps the reference (the Admin API echoes it, a rewritten file keeps
//! it); only the parsed values hold the secret, which is never logged.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::checks::{self, REQUIRED};
use crate::error::Collector;
use crate::upstreams::build::parse_id;

/// A vault (Kong `vaults`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vault {
    /// Id; from the prefix when absent.
    pub id: Uuid,
    /// The name references use (`{vault://<prefix>/…}`), unique.
    pub prefix: String,
    /// The vault implementation: only `env` (Kong OSS's bundled vault).
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The env vault's configuration: `prefix` of the variable names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<EnvConfig>,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Creation time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Last update (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// The env vault's `config` (`kong/vaults/env/schema.lua`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Prepended to the resource before it is upper-cased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A vault as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVault {
    pub id: Option<String>,
    pub prefix: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub config: Option<Value>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// Builds and checks the vaults with Kong's messages.
pub(crate) fn build(raw: Vec<RawVault>, errors: &mut Collector) -> Vec<Vault> {
    let mut out: Vec<Vault> = Vec::with_capacity(raw.len());
    for (i, rv) in raw.into_iter().enumerate() {
        let path = format!("vaults[{i}]");
        let prefix = rv.prefix.unwrap_or_default();
        if prefix.is_empty() {
            errors.push(format!("{path}.prefix"), REQUIRED);
        } else if !prefix_ok(&prefix) {
            errors.push(
                format!("{path}.prefix"),
                "invalid value: ".to_string() + &prefix,
            );
        } else if prefix == "env" {
            errors.push(format!("{path}.prefix"), "must not be one of: env");
        } else if out.iter().any(|v| v.prefix == prefix) {
            errors.push(
                format!("{path}.prefix"),
                format!("uniqueness violation: 'vaults' entity with prefix set to '{prefix}' already declared"),
            );
        }
        let name = rv.name.unwrap_or_default();
        let mut config = None;
        if name.is_empty() {
            errors.push(format!("{path}.name"), REQUIRED);
        } else if name != "env" {
            errors.push(
                format!("{path}.name"),
                format!("vault '{name}' is not installed"),
            );
        } else if let Some(c) = rv.config.filter(|c| !c.is_null()) {
            match serde_json::from_value::<EnvConfig>(c) {
                Ok(c) => {
                    if let Some(p) = c.prefix.as_deref().filter(|p| !env_prefix_ok(p)) {
                        errors.push(
                            format!("{path}.config.prefix"),
                            format!("invalid value: {p}"),
                        );
                    }
                    config = Some(c);
                }
                Err(e) => errors.push(format!("{path}.config"), e.to_string()),
            }
        }
        let id = parse_id(rv.id.as_deref(), &path, errors)
            .unwrap_or_else(|| crate::ids::credential_id("vaults", &prefix));
        let tags = rv.tags.unwrap_or_default();
        for (k, tag) in tags.iter().enumerate() {
            if let Err(m) = checks::tag(tag) {
                errors.push(format!("{path}.tags[{k}]"), m);
            }
        }
        out.push(Vault {
            id,
            prefix,
            name,
            description: rv.description,
            config,
            tags,
            created_at: rv.created_at,
            updated_at: rv.updated_at,
        });
    }
    out
}

/// Kong's `^[a-z][a-z%d-]-[a-z%d]+$`.
fn prefix_ok(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// The env vault's `^[%a_-][%a%d_-]*$`.
fn env_prefix_ok(p: &str) -> bool {
    let mut chars = p.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// True when a value is a vault reference (Kong's `kong.vault.is_reference`).
pub fn is_reference(value: &str) -> bool {
    value.starts_with("{vault://") && value.ends_with('}')
}

/// The value itself, or what its reference designates (reading variables through `lookup`). The error says
/// why, never the value.
pub fn resolve<'a>(
    value: &'a str,
    vaults: &[Vault],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, String> {
    if !is_reference(value) {
        return Ok(Cow::Borrowed(value));
    }
    let inner = &value["{vault://".len()..value.len() - 1];
    let fail = |why: String| format!("could not resolve the vault reference {value}: {why}");
    if inner.contains('?') || inner.contains('#') {
        return Err(fail(
            "query and fragment parts are not supported yet".into(),
        ));
    }
    let mut parts = inner.splitn(3, '/');
    let (vault, resource) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let key = parts.next().filter(|k| !k.is_empty());
    if resource.is_empty() {
        return Err(fail(
            "no secret named (`{vault://<vault>/<secret>}`)".into(),
        ));
    }
    let prefix = if vault == "env" {
        None
    } else {
        let v = (vaults.iter().find(|v| v.prefix == vault)).ok_or_else(|| {
            fail(format!(
                "no vault with prefix {vault:?} (and {vault:?} is not a bundled vault)"
            ))
        })?;
        v.config.as_ref().and_then(|c| c.prefix.clone())
    };
    let name = format!("{}{resource}", prefix.unwrap_or_default())
        .to_uppercase()
        .replace('-', "_");
    let secret =
        lookup(&name).ok_or_else(|| fail(format!("the environment variable {name} is not set")))?;
    match key {
        None => Ok(Cow::Owned(secret)),
        Some(key) => {
            let json: Value = serde_json::from_str(&secret).map_err(|_| {
                fail(format!(
                    "{name} does not hold a JSON object (for the key {key:?})"
                ))
            })?;
            match json.get(key) {
                Some(Value::String(s)) => Ok(Cow::Owned(s.clone())),
                Some(v) if !v.is_null() => Ok(Cow::Owned(v.to_string())),
                _ => Err(fail(format!("{name} has no key {key:?}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "MY_SECRET_CERT" => Some("PEM".into()),
            "OPENAI_KEY" => Some("sk".into()),
            "JSON_SECRET" => Some(r#"{"user": "u", "n": 3}"#.into()),
            _ => None,
        }
    }

    fn vaults(text: &str) -> (Vec<Vault>, Vec<String>) {
        let raw: Vec<RawVault> = serde_json::from_str(text).unwrap();
        let mut errors = Collector::default();
        let v = build(raw, &mut errors);
        let lines = errors.finish().err().map(|e| e.lines()).unwrap_or_default();
        (v, lines)
    }

    #[test]
    fn env_references_resolve_as_kongs_env_vault() {
        let (v, errs) = vaults(
            r#"[{"name": "env", "prefix": "my-env-vault", "config": {"prefix": "MY_SECRET_"}}]"#,
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            resolve("{vault://my-env-vault/cert}", &v, &env).unwrap(),
            "PEM"
        );
        assert_eq!(resolve("{vault://env/openai-key}", &v, &env).unwrap(), "sk");
        assert_eq!(
            resolve("{vault://env/json-secret/user}", &v, &env).unwrap(),
            "u"
        );
        assert_eq!(
            resolve("{vault://env/json-secret/n}", &v, &env).unwrap(),
            "3"
        );
        assert_eq!(resolve("plain", &v, &env).unwrap(), "plain");
        let e = resolve("{vault://env/missing}", &v, &env).unwrap_err();
        assert_eq!(e, "could not resolve the vault reference {vault://env/missing}: the environment variable MISSING is not set");
        let e = resolve("{vault://nope/x}", &v, &env).unwrap_err();
        assert!(e.contains("no vault with prefix \"nope\""), "{e}");
    }

    #[test]
    fn an_unresolvable_certificate_reference_is_refused_at_load() {
        let text = r#"{"_format_version": "3.0", "vaults": [{"name": "env", "prefix": "v-1"}],
            "certificates": [{"cert": "{vault://v-1/gw-test-missing-cert}", "key": "{vault://env/gw-test-missing-key}"}]}"#;
        let e = crate::load::parse_str(text).unwrap_err().lines();
        assert_eq!(e, vec!["certificates[0].cert: could not resolve the vault reference {vault://v-1/gw-test-missing-cert}: the environment variable GW_TEST_MISSING_CERT is not set"]);
    }

    #[test]
    fn kongs_messages() {
        let (_, errs) = vaults(
            r#"[{"name": "aws", "prefix": "a1"}, {"name": "env", "prefix": "env"}, {"name": "env", "prefix": "Bad"},
                {"name": "env", "prefix": "ok-1"}, {"name": "env", "prefix": "ok-1"}, {"prefix": "p2"},
                {"name": "env", "prefix": "p3", "config": {"prefix": "1X"}}, {"name": "env", "prefix": "p4", "config": {"x": 1}}]"#,
        );
        assert_eq!(
            errs,
            vec![
                "vaults[0].name: vault 'aws' is not installed",
                "vaults[1].prefix: must not be one of: env",
                "vaults[2].prefix: invalid value: Bad",
                "vaults[4].prefix: uniqueness violation: 'vaults' entity with prefix set to 'ok-1' already declared",
                "vaults[5].name: required field missing",
                "vaults[6].config.prefix: invalid value: 1X",
                "vaults[7].config: unknown field `x`, expected `prefix`",
            ]
        );
    }
}
