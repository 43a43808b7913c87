//! A service's upstream TLS fields (Kong `tls_verify`, `tls_verify_depth`, `ca_certificates`,
//! `client_certificate`): read from the file and checked against the protocol and the other entities, with
//! Kong's messages (`kong/db/schema/entities/services.lua`).

use uuid::Uuid;

use crate::error::Collector;
use crate::model::{CaCertificate, Certificate, Config, EntityRef, Protocol, Service};

/// Sets the TLS fields of `service` from the file; range and format problems go to `errors`.
pub(crate) fn build(
    service: &mut Service,
    tls_verify: Option<bool>,
    depth: Option<i64>,
    cas: Option<Vec<String>>,
    client: Option<EntityRef>,
    path: &str,
    errors: &mut Collector,
) {
    service.tls_verify = tls_verify;
    if let Some(d) = depth {
        match u8::try_from(d).ok().filter(|d| *d <= 64) {
            Some(d) => service.tls_verify_depth = Some(d),
            None => errors.push(
                format!("{path}.tls_verify_depth"),
                "value should be between 0 and 64",
            ),
        }
    }
    for (k, text) in cas.unwrap_or_default().iter().enumerate() {
        match Uuid::parse_str(text) {
            Ok(id) => service.ca_certificates.push(id),
            Err(_) => errors.push(
                format!("{path}.ca_certificates[{k}]"),
                "expected a valid UUID",
            ),
        }
    }
    service.client_certificate = client;
}

/// Kong's conditional checks (the TLS fields need `protocol: https`), the references to `ca_certificates`
/// and `certificates`, and the one value not built yet (`tls_verify_depth` other than `null`).
pub(crate) fn check(config: &Config, errors: &mut Collector) {
    for (i, s) in config.services.iter().enumerate() {
        let path = format!("services[{i}]");
        if !matches!(s.protocol, Protocol::Https | Protocol::Tls) {
            let set = [
                ("client_certificate", s.client_certificate.is_some()),
                ("tls_verify", s.tls_verify.is_some()),
                ("tls_verify_depth", s.tls_verify_depth.is_some()),
                ("ca_certificates", !s.ca_certificates.is_empty()),
            ];
            for (field, _) in set.iter().filter(|(_, set)| *set) {
                errors.push(
                    format!("{path}.{field}"),
                    format!(
                        "value must be null (failed conditional validation given value of field 'protocol': {})",
                        s.protocol
                    ),
                );
            }
        }
        if s.tls_verify_depth.is_some() {
            errors.push(
                format!("{path}.tls_verify_depth"),
                "not supported yet (only null: the chain depth is OpenSSL's default, 100)",
            );
        }
        for (k, id) in s.ca_certificates.iter().enumerate() {
            if !config.ca_certificates.iter().any(|c| c.id == *id) {
                errors.push(
                    format!("{path}.ca_certificates[{k}]"),
                    format!("invalid reference 'ca_certificates: {id}' (no such entry in 'ca_certificates')"),
                );
            }
        }
        if let Some(r) = &s.client_certificate {
            if client_certificate(config, r).is_none() {
                errors.push(
                    format!("{path}.client_certificate"),
                    format!(
                        "invalid reference 'client_certificate: {}' (no such entry in 'certificates')",
                        r.describe()
                    ),
                );
            }
        }
    }
}

/// The certificate a service's `client_certificate` names (by id: certificates have no name).
pub fn client_certificate<'a>(config: &'a Config, r: &EntityRef) -> Option<&'a Certificate> {
    config.certificates.iter().find(|c| r.matches(c.id, None))
}

/// The CA certificates a service trusts, in its order (unknown ids skipped: validation refuses them).
pub fn trusted_cas<'a>(config: &'a Config, service: &Service) -> Vec<&'a CaCertificate> {
    (service.ca_certificates.iter())
        .filter_map(|id| config.ca_certificates.iter().find(|c| c.id == *id))
        .collect()
}
