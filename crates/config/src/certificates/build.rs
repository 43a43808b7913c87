//! Certificates and SNIs as written ([`crate::raw`]) to the model: ids, the PEM parsed and checked once
//! (Kong's messages), SNI names checked and unique, top-level `snis:` moved under their certificate.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::{check_wildcard_host, Certificate, KeyPair, KeyPairs, Sni};
use crate::checks::{self, REQUIRED};
use crate::error::Collector;
use crate::ids;
use crate::raw::{RawCertificate, RawSni};
use crate::upstreams::build::parse_id;

/// Builds every certificate, attaches the top-level `snis`, and checks ids and names are unique.
pub(crate) fn build(
    raw: Vec<RawCertificate>,
    top_snis: Vec<RawSni>,
    vaults: &[crate::vaults::Vault],
    errors: &mut Collector,
) -> Vec<Certificate> {
    let mut certificates: Vec<Certificate> = raw
        .into_iter()
        .enumerate()
        .map(|(i, rc)| build_certificate(rc, i, vaults, errors))
        .collect();
    // Where each SNI came from, for the duplicate messages.
    let mut places: Vec<Vec<String>> = certificates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (0..c.snis.len())
                .map(|k| format!("certificates[{i}].snis[{k}]"))
                .collect()
        })
        .collect();
    for (i, rs) in top_snis.into_iter().enumerate() {
        let path = format!("snis[{i}]");
        let Some(reference) = rs.certificate.clone() else {
            errors.push(
                format!("{path}.certificate"),
                format!("{REQUIRED} (a top-level sni must name its certificate)"),
            );
            continue;
        };
        let found = certificates
            .iter()
            .position(|c| reference.matches(c.id, None));
        match found {
            Some(c) => {
                if let Some(sni) = build_sni(rs, &path, errors) {
                    certificates[c].snis.push(sni);
                    places[c].push(path);
                }
            }
            None => errors.push(
                format!("{path}.certificate"),
                format!("no certificate with {}", reference.describe()),
            ),
        }
    }
    check_unique(&certificates, &places, errors);
    certificates
}

fn build_certificate(
    rc: RawCertificate,
    i: usize,
    vaults: &[crate::vaults::Vault],
    errors: &mut Collector,
) -> Certificate {
    let path = format!("certificates[{i}]");
    let cert = rc.cert.unwrap_or_default();
    let key = rc.key.unwrap_or_default();
    let id =
        parse_id(rc.id.as_deref(), &path, errors).unwrap_or_else(|| ids::certificate_id(&cert));
    let mut c = Certificate::new(id, cert, key);
    c.cert_alt = rc.cert_alt;
    c.key_alt = rc.key_alt;
    c.tags = rc.tags.unwrap_or_default();
    for (k, tag) in c.tags.iter().enumerate() {
        if let Err(m) = checks::tag(tag) {
            errors.push(format!("{path}.tags[{k}]"), m);
        }
    }
    c.created_at = rc.created_at;
    c.updated_at = rc.updated_at;
    c.keys = key_pairs(&c, &path, vaults, errors).map(Arc::new);
    for (k, value) in rc.snis.unwrap_or_default().into_iter().enumerate() {
        let sni_path = format!("{path}.snis[{k}]");
        let raw = match value {
            Value::String(name) => RawSni {
                name: Some(name),
                ..RawSni::default()
            },
            Value::Object(_) => match serde_json::from_value::<RawSni>(value) {
                Ok(raw) => raw,
                Err(e) => {
                    errors.push(sni_path, e.to_string());
                    continue;
                }
            },
            _ => {
                errors.push(sni_path, "expected a name or an sni record");
                continue;
            }
        };
        if let Some(r) = &raw.certificate {
            if !r.matches(id, None) {
                errors.push(
                    format!("{sni_path}.certificate"),
                    "a nested sni belongs to the certificate it is nested in",
                );
                continue;
            }
        }
        if let Some(sni) = build_sni(raw, &sni_path, errors) {
            c.snis.push(sni);
        }
    }
    c
}

/// The parsed pairs, or `None` after recording why not (Kong's messages).
/// `{vault://…}` references in the four fields are resolved first (the model keeps the references).
fn key_pairs(
    c: &Certificate,
    path: &str,
    vaults: &[crate::vaults::Vault],
    errors: &mut Collector,
) -> Option<KeyPairs> {
    let mut ok = true;
    for (field, value) in [("cert", &c.cert), ("key", &c.key)] {
        if value.is_empty() {
            errors.push(format!("{path}.{field}"), REQUIRED);
            ok = false;
        }
    }
    let pair = |cert: &str, key: &str, alt: bool, errors: &mut Collector| {
        let suffix = if alt { "_alt" } else { "" };
        let resolve = |field: &str, value: &str, errors: &mut Collector| {
            crate::vaults::resolve(value, vaults, &crate::load::deck_env::process_env)
                .map(std::borrow::Cow::into_owned)
                .map_err(|m| errors.push(format!("{path}.{field}{suffix}"), m))
                .ok()
        };
        let cert = resolve("cert", cert, errors)?;
        let key = resolve("key", key, errors)?;
        KeyPair::from_pem(&cert, &key)
            .map_err(|(field, mut message)| {
                let field = match (field, alt) {
                    ("", false) => String::new(),
                    ("", true) => {
                        message = "alternative certificate does not match key".into();
                        String::new()
                    }
                    (f, false) => format!(".{f}"),
                    (f, true) => format!(".{f}_alt"),
                };
                errors.push(format!("{path}{field}"), message);
            })
            .ok()
    };
    let main = if ok {
        pair(&c.cert, &c.key, false, errors)
    } else {
        None
    };
    let alt = match (&c.cert_alt, &c.key_alt) {
        (None, None) => None,
        (Some(cert), Some(key)) => match pair(cert, key, true, errors) {
            Some(alt) => Some(alt),
            None => return None,
        },
        _ => {
            errors.push(
                path,
                "all or none of these fields must be set: 'cert_alt', 'key_alt'",
            );
            return None;
        }
    };
    let main = main?;
    if let Some(alt) = &alt {
        if alt.key_type() == main.key_type() {
            errors.push(
                path,
                "certificate and alternative certificate need to have different type (e.g. RSA and \
                 ECDSA), the provided certificates were both of the same type",
            );
            return None;
        }
    }
    Some(KeyPairs { main, alt })
}

fn build_sni(rs: RawSni, path: &str, errors: &mut Collector) -> Option<Sni> {
    let Some(name) = rs.name else {
        errors.push(format!("{path}.name"), REQUIRED);
        return None;
    };
    if let Err(m) = check_wildcard_host(&name) {
        errors.push(format!("{path}.name"), m);
        return None;
    }
    let id = parse_id(rs.id.as_deref(), path, errors).unwrap_or_else(|| ids::sni_id(&name));
    let tags = rs.tags.unwrap_or_default();
    for (k, tag) in tags.iter().enumerate() {
        if let Err(m) = checks::tag(tag) {
            errors.push(format!("{path}.tags[{k}]"), m);
        }
    }
    Some(Sni {
        id,
        name,
        tags,
        created_at: rs.created_at,
        updated_at: rs.updated_at,
    })
}

/// Certificate ids, SNI ids and SNI names (case-insensitive) are unique across the file.
fn check_unique(certificates: &[Certificate], places: &[Vec<String>], errors: &mut Collector) {
    let mut cert_ids: HashMap<Uuid, usize> = HashMap::new();
    let mut sni_ids: HashMap<Uuid, &str> = HashMap::new();
    let mut names: HashMap<String, &str> = HashMap::new();
    for (i, c) in certificates.iter().enumerate() {
        if let Some(first) = cert_ids.insert(c.id, i) {
            errors.push(
                format!("certificates[{i}].id"),
                format!("duplicate id \"{}\" (also certificates[{first}])", c.id),
            );
        }
        for (sni, path) in c.snis.iter().zip(&places[i]) {
            if let Some(first) = names.insert(sni.name.to_ascii_lowercase(), path) {
                errors.push(
                    format!("{path}.name"),
                    format!("duplicate sni name {:?} (also {first})", sni.name),
                );
            } else if let Some(first) = sni_ids.insert(sni.id, path) {
                errors.push(
                    format!("{path}.id"),
                    format!("duplicate id \"{}\" (also {first})", sni.id),
                );
            }
        }
    }
}
