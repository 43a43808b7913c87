//! Kong's `key_sets` and `keys` (`kong/db/schema/entities/key_sets.lua`, `keys.lua`): keys given as a JWK
//! (a JSON string) or a PEM pair, each with its `kid`, optionally in a named set. Checked as Kong checks
//! them, with Kong's messages; stored and served by the Admin API. No built plugin reads them (in Kong
//! OSS none does either; Kong Enterprise's openid-connect can), so they have no effect on proxying.
//!
//! Top-level `keys` name their set with `set:` (an id or a name, or decK's `{id: …}` / `{name: …}`);
//! keys nested in a key set's `keys:` belong to it.

use std::fmt;

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey};
use openssl::rsa::{Rsa, RsaPrivateKeyBuilder};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::checks;
use crate::error::Collector;
use crate::model::EntityRef;
use crate::upstreams::build::parse_id;

/// A key set (Kong `key_sets`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeySet {
    /// Id; from the name when absent from the file.
    pub id: Uuid,
    /// Unique name (optional in Kong).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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

/// A PEM pair (Kong's `typedefs.pem`): at least one of the two.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pem {
    /// Private key, PEM (a secret: never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Public key, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pem")
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "<redacted>"),
            )
            .field("public_key", &self.public_key.is_some())
            .finish()
    }
}

/// A key (Kong `keys`).
#[derive(Clone, PartialEq, Serialize)]
pub struct Key {
    /// Id; from `kid` and the set when absent from the file.
    pub id: Uuid,
    /// The key set it belongs to, if any (written back as `{id: …}`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "set_ref")]
    pub set: Option<Uuid>,
    /// Unique name (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key's identifier (required; a JWK's own `kid` must equal it).
    pub kid: String,
    /// The key as a JWK, a JSON string (may hold private parts: never logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwk: Option<String>,
    /// The key as PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem: Option<Pem>,
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

fn set_ref<S: Serializer>(set: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
    match set {
        Some(id) => serde_json::json!({ "id": id }).serialize(s),
        None => s.serialize_none(),
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("set", &self.set)
            .field("name", &self.name)
            .field("kid", &self.kid)
            .field("jwk", &self.jwk.as_ref().map(|_| "<redacted>"))
            .field("pem", &self.pem)
            .finish()
    }
}

/// A key set as written; its nested `keys` belong to it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeySet {
    pub id: Option<String>,
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub keys: Option<Vec<RawKey>>,
}

/// A key as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub id: Option<String>,
    /// An id or a name, `{id: …}`, `{name: …}`, or decK's dump form `{id: …, name: …}` (both must
    /// designate the same set).
    pub set: Option<Value>,
    pub name: Option<String>,
    pub kid: Option<String>,
    pub jwk: Option<String>,
    pub pem: Option<Pem>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// Builds and checks the key sets and keys (top-level and nested), with Kong's messages and uniqueness
/// rules (ids, names).
pub(crate) fn build(
    raw_sets: Vec<RawKeySet>,
    raw_keys: Vec<RawKey>,
    errors: &mut Collector,
) -> (Vec<KeySet>, Vec<Key>) {
    let mut sets = Vec::with_capacity(raw_sets.len());
    let mut nested = Vec::new();
    for (i, mut rs) in raw_sets.into_iter().enumerate() {
        let path = format!("key_sets[{i}]");
        let id = parse_id(rs.id.as_deref(), &path, errors)
            .unwrap_or_else(|| crate::ids::key_set_id(rs.name.as_deref(), i));
        let tags = rs.tags.take().unwrap_or_default();
        check_tags(&tags, &path, errors);
        for (j, rk) in rs.keys.take().unwrap_or_default().into_iter().enumerate() {
            nested.push((format!("{path}.keys[{j}]"), Some(id), rk));
        }
        sets.push(KeySet {
            id,
            name: rs.name,
            tags,
            created_at: rs.created_at,
            updated_at: rs.updated_at,
        });
    }
    unique(&sets, "key_sets", |s| (s.id, s.name.as_deref()), errors);
    let mut keys = Vec::new();
    let top = (raw_keys.into_iter().enumerate()).map(|(i, rk)| (format!("keys[{i}]"), None, rk));
    for (path, parent, rk) in top.chain(nested) {
        if let Some(key) = build_key(rk, &path, parent, &sets, errors) {
            keys.push(key);
        }
    }
    unique(&keys, "keys", |k| (k.id, k.name.as_deref()), errors);
    (sets, keys)
}

fn check_tags(tags: &[String], path: &str, errors: &mut Collector) {
    for (k, tag) in tags.iter().enumerate() {
        if let Err(m) = checks::tag(tag) {
            errors.push(format!("{path}.tags[{k}]"), m);
        }
    }
}

/// Kong's declarative uniqueness: the primary key, then the unique endpoint key `name`.
fn unique<T>(
    items: &[T],
    entity: &str,
    keys: impl Fn(&T) -> (Uuid, Option<&str>),
    errors: &mut Collector,
) {
    for (i, a) in items.iter().enumerate() {
        let (id, name) = keys(a);
        let earlier = || items[..i].iter().map(&keys);
        if let Some(n) = name.filter(|n| earlier().any(|(_, m)| m == Some(*n))) {
            errors.push(
                format!("{entity}[{i}].name"),
                format!("uniqueness violation: '{entity}' entity with name set to '{n}' already declared"),
            );
        } else if earlier().any(|(other, _)| other == id) {
            errors.push(
                format!("{entity}[{i}].id"),
                format!("uniqueness violation: '{entity}' entity with primary key set to '{id}' already declared"),
            );
        }
    }
}

fn build_key(
    rk: RawKey,
    path: &str,
    parent: Option<Uuid>,
    sets: &[KeySet],
    errors: &mut Collector,
) -> Option<Key> {
    let set = match (parent, &rk.set) {
        (Some(p), None) => Some(p),
        (Some(_), Some(_)) => {
            errors.push(
                format!("{path}.set"),
                "unknown field (a nested key belongs to its key set)",
            );
            return None;
        }
        (None, Some(v)) => match set_refs(v) {
            Err(m) => {
                errors.push(format!("{path}.set"), m);
                return None;
            }
            Ok(refs) => {
                let found = sets
                    .iter()
                    .find(|s| (refs.iter()).all(|r| r.matches(s.id, s.name.as_deref())));
                match found {
                    Some(s) => Some(s.id),
                    None => {
                        let what: Vec<String> = refs.iter().map(EntityRef::describe).collect();
                        errors.push(
                            format!("{path}.set"),
                            format!("no key set with {}", what.join(" and ")),
                        );
                        return None;
                    }
                }
            }
        },
        (None, None) => None,
    };
    let Some(kid) = rk.kid.filter(|k| !k.is_empty()) else {
        errors.push(format!("{path}.kid"), checks::REQUIRED);
        return None;
    };
    let id =
        parse_id(rk.id.as_deref(), path, errors).unwrap_or_else(|| crate::ids::key_id(&kid, set));
    let tags = rk.tags.unwrap_or_default();
    check_tags(&tags, path, errors);
    let key = Key {
        id,
        set,
        name: rk.name,
        kid,
        jwk: rk.jwk,
        pem: rk.pem,
        tags,
        created_at: rk.created_at,
        updated_at: rk.updated_at,
    };
    if let Err((field, message)) = check_key(&key) {
        errors.push(format!("{path}{field}"), message);
    }
    Some(key)
}

/// A key's `set`: a string, or a record with `id` and/or `name`.
fn set_refs(v: &Value) -> Result<Vec<EntityRef>, String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(vec![EntityRef::Key(s.clone())]),
        Value::Object(map) if !map.is_empty() => {
            let mut refs = Vec::new();
            for (k, v) in map {
                let text = v
                    .as_str()
                    .ok_or_else(|| format!("{k}: expected a string"))?;
                refs.push(match k.as_str() {
                    "id" => EntityRef::Id(
                        Uuid::parse_str(text).map_err(|_| format!("id: invalid UUID {text:?}"))?,
                    ),
                    "name" => EntityRef::Name(text.to_string()),
                    other => return Err(format!("{other}: unknown field")),
                });
            }
            Ok(refs)
        }
        _ => Err("expected an id or a name, or a record with `id` and/or `name`".into()),
    }
}

/// Kong's checks of a key, in its order: `jwk` and `pem` mutually exclusive, one of them present, the PEM
/// pair's own checks, then the entity check (the JWK decodes, its `kid` equals the key's, it loads as a key,
/// its fields have Kong's types). `Err((field suffix, message))`.
pub fn check_key(key: &Key) -> Result<(), (&'static str, String)> {
    if key.jwk.is_some() && key.pem.is_some() {
        return Err((
            "",
            "only one or none of these fields must be set: 'jwk', 'pem'".into(),
        ));
    }
    if key.jwk.is_none() && key.pem.is_none() {
        return Err((
            "",
            "at least one of these fields must be non-empty: 'jwk', 'pem'".into(),
        ));
    }
    if let Some(pem) = &key.pem {
        check_pem(pem).map_err(|m| (".pem", m))?;
    }
    if let Some(jwk) = &key.jwk {
        reference_refused(jwk).map_err(|m| (".jwk", m))?;
        check_jwk(jwk, &key.kid).map_err(|m| ("", m))?;
    }
    Ok(())
}

/// Vault references (`{vault://…}`) are not resolved here yet.
fn reference_refused(value: &str) -> Result<(), String> {
    if value.trim_start().starts_with("{vault://") {
        return Err("vault references are not supported yet".into());
    }
    Ok(())
}

/// Kong's `typedefs.pem`: at least one key; each loads; a pair must match.
pub fn check_pem(pem: &Pem) -> Result<(), String> {
    let (private, public) = (pem.private_key.as_deref(), pem.public_key.as_deref());
    if private.is_none() && public.is_none() {
        return Err(
            "at least one of these fields must be non-empty: 'private_key', 'public_key'".into(),
        );
    }
    for value in [private, public].into_iter().flatten() {
        reference_refused(value)?;
    }
    let public = match public {
        Some(p) => Some(
            PKey::public_key_from_pem(p.as_bytes())
                .map_err(|_| "could not load public key".to_string())?,
        ),
        None => None,
    };
    let private = match private {
        Some(p) => Some(
            PKey::private_key_from_pem(p.as_bytes())
                .map_err(|_| "could not load private key".to_string())?,
        ),
        None => None,
    };
    if let (Some(private), Some(public)) = (private, public) {
        let same = private.public_key_to_pem().ok() == public.public_key_to_pem().ok();
        if !same {
            return Err("public key does not match private key".into());
        }
    }
    Ok(())
}

/// Kong's JWK check (`keys.lua`'s entity check and `typedefs.jwk`).
pub fn check_jwk(text: &str, kid: &str) -> Result<(), String> {
    let Ok(jwk) = serde_json::from_str::<Value>(text) else {
        return Err("could not json decode jwk string".into());
    };
    if jwk.get("kid").and_then(Value::as_str) != Some(kid) {
        return Err("kid in jwk.kid must be equal to keys.kid".into());
    }
    if load_jwk(&jwk).is_none() {
        return Err("could not load JWK, likely not a valid key".into());
    }
    jwk_fields(&jwk)
}

/// `typedefs.jwk`'s fields: strings, `key_ops`/`x5c` arrays of strings, nothing else.
fn jwk_fields(jwk: &Value) -> Result<(), String> {
    const STRINGS: [&str; 21] = [
        "issuer", "kty", "use", "alg", "kid", "x5u", "x5t", "x5t#S256", "k", "x", "y", "crv", "n",
        "e", "d", "p", "q", "dp", "dq", "qi", "oth",
    ];
    const MORE: [&str; 2] = ["r", "t"];
    let Some(fields) = jwk.as_object() else {
        return Err("expected a record".into());
    };
    let mut problems = Vec::new();
    for (name, value) in fields {
        if value.is_null() {
            continue;
        }
        let ok = if STRINGS.contains(&name.as_str()) || MORE.contains(&name.as_str()) {
            value.is_string()
        } else if name == "key_ops" || name == "x5c" {
            value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string))
        } else {
            problems.push(format!("{name}: unknown field"));
            continue;
        };
        if !ok {
            let expected = if name == "key_ops" || name == "x5c" {
                "an array"
            } else {
                "a string"
            };
            problems.push(format!("{name}: expected {expected}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(", "))
    }
}

fn b64(jwk: &Value, field: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = jwk.get(field)?.as_str()?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

fn bn(jwk: &Value, field: &str) -> Option<BigNum> {
    BigNum::from_slice(&b64(jwk, field)?).ok()
}

/// Loads a JWK as lua-resty-openssl does (`pkey.new(…, {format = "JWK"})`): RSA, EC (P-256/384/521) and OKP
/// (Ed25519/Ed448/X25519/X448), public or private; any other `kty` fails.
fn load_jwk(jwk: &Value) -> Option<()> {
    match jwk.get("kty")?.as_str()? {
        "RSA" => {
            let (n, e) = (bn(jwk, "n")?, bn(jwk, "e")?);
            match bn(jwk, "d") {
                None => Rsa::from_public_components(n, e).ok().map(|_| ()),
                Some(d) => {
                    let mut b = RsaPrivateKeyBuilder::new(n, e, d).ok()?;
                    if let (Some(p), Some(q)) = (bn(jwk, "p"), bn(jwk, "q")) {
                        b = b.set_factors(p, q).ok()?;
                    }
                    if let (Some(dp), Some(dq), Some(qi)) =
                        (bn(jwk, "dp"), bn(jwk, "dq"), bn(jwk, "qi"))
                    {
                        b = b.set_crt_params(dp, dq, qi).ok()?;
                    }
                    PKey::from_rsa(b.build()).ok().map(|_| ())
                }
            }
        }
        "EC" => {
            let nid = match jwk.get("crv")?.as_str()? {
                "P-256" => Nid::X9_62_PRIME256V1,
                "P-384" => Nid::SECP384R1,
                "P-521" => Nid::SECP521R1,
                _ => return None,
            };
            let group = EcGroup::from_curve_name(nid).ok()?;
            let (x, y) = (bn(jwk, "x")?, bn(jwk, "y")?);
            let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y).ok()?;
            if let Some(d) = bn(jwk, "d") {
                let mut ctx = BigNumContext::new().ok()?;
                let mut point = EcPoint::new(&group).ok()?;
                point.mul_generator2(&group, &d, &mut ctx).ok()?;
                if !point.eq(&group, key.public_key(), &mut ctx).ok()? {
                    return None;
                }
                EcKey::from_private_components(&group, &d, &point).ok()?;
            }
            key.check_key().ok()
        }
        "OKP" => {
            let id = match jwk.get("crv")?.as_str()? {
                "Ed25519" => Id::ED25519,
                "Ed448" => Id::ED448,
                "X25519" => Id::X25519,
                "X448" => Id::X448,
                _ => return None,
            };
            match b64(jwk, "d") {
                Some(d) => PKey::private_key_from_raw_bytes(&d, id).ok().map(|_| ()),
                None => PKey::public_key_from_raw_bytes(&b64(jwk, "x")?, id)
                    .ok()
                    .map(|_| ()),
            }
        }
        _ => None,
    }
}

/// Kong's Admin API view of a key set (unset fields as `null`).
pub fn key_set_view(s: &KeySet) -> Value {
    serde_json::json!({
        "id": s.id, "name": s.name, "tags": if s.tags.is_empty() { Value::Null } else { serde_json::json!(s.tags) },
        "created_at": s.created_at, "updated_at": s.updated_at,
    })
}

/// Kong's Admin API view of a key (unset fields as `null`; `set` as `{"id": …}`).
pub fn key_view(k: &Key) -> Value {
    serde_json::json!({
        "id": k.id, "set": k.set.map(|id| serde_json::json!({"id": id})), "name": k.name, "kid": k.kid,
        "jwk": k.jwk, "pem": k.pem, "tags": if k.tags.is_empty() { Value::Null } else { serde_json::json!(k.tags) },
        "created_at": k.created_at, "updated_at": k.updated_at,
    })
}

/// True when `key` (a URL's: an id, else a name) designates the entity with this id and name.
pub fn designates(key: &str, id: Uuid, name: Option<&str>) -> bool {
    match Uuid::parse_str(key) {
        Ok(u) => u == id,
        Err(_) => name == Some(key),
    }
}

#[cfg(test)]
mod tests;
