//! The Admin API's certificates and SNIs: their field types and the JSON views Kong returns (a certificate
//! lists its SNIs by name; an SNI names its certificate by id).

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::schema::{Record, Type};
use crate::certificates::{Certificate, Sni};
use crate::model::CaCertificate;
use crate::model::Config;

/// A certificate as the Admin API accepts it (`snis`: the names, Kong's shorthand).
pub fn certificate() -> Record {
    use Type::{Integer, String};
    Record {
        fields: vec![
            ("id", String),
            ("cert", String),
            ("key", String),
            ("cert_alt", String),
            ("key_alt", String),
            ("tags", Type::Set(Box::new(String))),
            ("snis", Type::Array(Box::new(String))),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
    }
}

/// An SNI as the Admin API accepts it.
pub fn sni() -> Record {
    use Type::{Foreign, Integer, String};
    Record {
        fields: vec![
            ("id", String),
            ("name", String),
            ("certificate", Foreign),
            ("tags", Type::Set(Box::new(String))),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
    }
}

fn opt_list(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

/// A certificate as Kong shows it.
pub fn certificate_view(c: &Certificate) -> Value {
    let snis: Vec<&str> = c.snis.iter().map(|s| s.name.as_str()).collect();
    json!({
        "id": c.id,
        "cert": c.cert,
        "key": c.key,
        "cert_alt": c.cert_alt,
        "key_alt": c.key_alt,
        "tags": opt_list(&c.tags),
        "snis": snis,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// An SNI as Kong shows it.
pub fn sni_view(s: &Sni, certificate: Option<Uuid>) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "certificate": certificate.map_or(Value::Null, |id| json!({ "id": id })),
        "tags": opt_list(&s.tags),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

/// A certificate write's `snis` (names, Kong's shorthand) as the file's nested SNI records; an SNI that
/// already exists keeps its id and tags, as when Kong updates the certificate's SNIs.
pub(crate) fn expand_snis(config: &Config, fields: &mut Map<String, Value>) {
    let Some(Value::Array(names)) = fields.get("snis") else {
        return;
    };
    let records: Vec<Value> = names
        .iter()
        .map(|n| {
            let Value::String(name) = n else {
                return n.clone();
            };
            let existing = config
                .certificates
                .iter()
                .flat_map(|c| &c.snis)
                .find(|s| s.name == *name);
            match existing {
                Some(s) => serde_json::to_value(s).unwrap_or_else(|_| json!({ "name": name })),
                None => json!({ "name": name }),
            }
        })
        .collect();
    fields.insert("snis".into(), Value::Array(records));
}

/// A CA certificate as the Admin API accepts it (`cert_digest` is computed; a given one must match).
pub fn ca_certificate() -> Record {
    use Type::{Integer, String};
    Record {
        fields: vec![
            ("id", String),
            ("cert", String),
            ("cert_digest", String),
            ("tags", Type::Set(Box::new(String))),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
    }
}

/// A CA certificate as Kong shows it.
pub fn ca_certificate_view(c: &CaCertificate) -> Value {
    json!({
        "id": c.id,
        "cert": c.cert,
        "cert_digest": c.cert_digest,
        "tags": if c.tags.is_empty() { Value::Null } else { json!(c.tags) },
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_a_type() {
        let mut c = Certificate::new(Uuid::nil(), "c", "k");
        c.snis.push(Sni {
            id: Uuid::nil(),
            name: "a.test".into(),
            tags: vec![],
            created_at: None,
            updated_at: None,
        });
        let v = certificate_view(&c);
        assert_eq!(v["snis"], json!(["a.test"]));
        assert_eq!(v["cert_alt"], Value::Null);
        for key in v.as_object().into_iter().flat_map(|m| m.keys()) {
            assert!(certificate().get(key).is_some(), "{key}");
        }
        let s = sni_view(&c.snis[0], Some(c.id));
        assert_eq!(s["certificate"], json!({ "id": c.id }));
        for key in s.as_object().into_iter().flat_map(|m| m.keys()) {
            assert!(sni().get(key).is_some(), "{key}");
        }
    }
}
