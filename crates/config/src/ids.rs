//! Deterministic ids: UUIDv5 from an entity's natural key, so reloading the same file gives the same ids.

use uuid::Uuid;

use crate::model::EntityRef;

/// Namespace of every generated id (a fixed UUID owned by this project).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x4b6f_6e67_2d67_6174_6577_6179_2d69_6473);

/// Id of a service: from its name, else from its position in `services`.
pub fn service_id(name: Option<&str>, index: usize) -> Uuid {
    match name {
        Some(name) => v5_of(&["service:name:", name]),
        None => v5(&format!("service:index:{index}")),
    }
}

/// Id of a route: from its name, else from its parent service id and position (nested), else its position
/// in the top-level `routes`.
pub fn route_id(name: Option<&str>, parent: Option<Uuid>, index: usize) -> Uuid {
    match (name, parent) {
        (Some(name), _) => v5_of(&["route:name:", name]),
        (None, Some(service)) => v5(&format!("route:service:{service}:{index}")),
        (None, None) => v5(&format!("route:index:{index}")),
    }
}

/// Id of a plugin: from its name, instance name and resolved scope (service and route ids).
pub fn plugin_id(
    name: &str,
    instance_name: Option<&str>,
    service: Option<Uuid>,
    route: Option<Uuid>,
) -> Uuid {
    let (mut s, mut r) = ([0u8; 36], [0u8; 36]);
    let service = service.map_or("", |u| &*u.hyphenated().encode_lower(&mut s));
    let route = route.map_or("", |u| &*u.hyphenated().encode_lower(&mut r));
    v5_of(&[
        "plugin:",
        name,
        ":",
        instance_name.unwrap_or(""),
        ":",
        service,
        ":",
        route,
    ])
}

/// Id of a consumer: from its username, else its custom_id, else its position in `consumers`.
pub fn consumer_id(username: Option<&str>, custom_id: Option<&str>, index: usize) -> Uuid {
    match (username, custom_id) {
        (Some(u), _) => v5_of(&["consumer:username:", u]),
        (None, Some(c)) => v5_of(&["consumer:custom_id:", c]),
        (None, None) => v5(&format!("consumer:index:{index}")),
    }
}

/// The id of a plugin scoped to a consumer as well, from the id it would have without the consumer: a
/// top-level plugin with `consumer:` never gets the id of the same plugin without it.
pub fn scoped_to_consumer(id: Uuid, consumer: &EntityRef) -> Uuid {
    let mut buf = [0u8; 36];
    let id = &*id.hyphenated().encode_lower(&mut buf);
    v5_of(&["plugin-consumer:", id, ":", &ref_text(consumer)])
}

/// The id of a consumer's plugin that also names a route or a service (decK's consumer + route/service
/// scope), from the consumer plugin's id.
pub fn scoped_further(id: Uuid, service: Option<&EntityRef>, route: Option<&EntityRef>) -> Uuid {
    let mut buf = [0u8; 36];
    let id = &*id.hyphenated().encode_lower(&mut buf);
    let service = service.map(ref_text).unwrap_or_default();
    let route = route.map(ref_text).unwrap_or_default();
    v5_of(&["plugin-scoped:", id, ":", &service, ":", &route])
}

fn ref_text(r: &EntityRef) -> String {
    match r {
        EntityRef::Key(k) | EntityRef::Name(k) => k.clone(),
        EntityRef::Id(id) => id.to_string(),
    }
}

/// Id of a plugin nested in a consumer: from its name, instance name and the consumer's id.
pub fn consumer_plugin_id(name: &str, instance_name: Option<&str>, consumer: Uuid) -> Uuid {
    let mut c = [0u8; 36];
    let consumer = &*consumer.hyphenated().encode_lower(&mut c);
    v5_of(&[
        "plugin:",
        name,
        ":",
        instance_name.unwrap_or(""),
        ":consumer:",
        consumer,
    ])
}

/// Id of an upstream: from its name.
pub fn upstream_id(name: &str) -> Uuid {
    v5_of(&["upstream:name:", name])
}

/// Id of a target: from its upstream's id and its normalised `host:port`.
pub fn target_id(upstream: Uuid, target: &str) -> Uuid {
    let mut u = [0u8; 36];
    let upstream = &*upstream.hyphenated().encode_lower(&mut u);
    v5_of(&["target:", upstream, ":", target])
}

/// Id of a certificate: from its PEM (a digest of it: the text itself is long).
pub fn certificate_id(cert_pem: &str) -> Uuid {
    let digest = blake3::hash(cert_pem.as_bytes());
    v5_of(&["certificate:", &digest.to_hex()])
}

/// Id of an SNI: from its name (unique across certificates).
pub fn sni_id(name: &str) -> Uuid {
    v5_of(&["sni:name:", name])
}

/// Id of a credential of kind `kind` (its entity name) from its natural key (see
/// `credentials::Credential::natural_key`).
pub fn credential_id(kind: &str, natural_key: &str) -> Uuid {
    v5_of(&["credential:", kind, ":", natural_key])
}

/// Id of a key set without one: from its name (or its position when it has none).
pub fn key_set_id(name: Option<&str>, index: usize) -> Uuid {
    match name {
        Some(n) => v5_of(&["key_set:name:", n]),
        None => v5(&format!("key_set:index:{index}")),
    }
}

/// Id of a key without one: from its `kid` and its set's id (Kong's cache key `{kid, set}`).
pub fn key_id(kid: &str, set: Option<Uuid>) -> Uuid {
    let set = set.map(|s| s.to_string()).unwrap_or_default();
    v5_of(&["key:", kid, ":", &set])
}

/// Id of a top-level plugin whose scope could not be resolved (the configuration is invalid anyway).
pub fn unresolved_plugin_id(index: usize) -> Uuid {
    v5(&format!("plugin:index:{index}"))
}

fn v5(key: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, key.as_bytes())
}

/// [`v5`] of the concatenated `parts` (without `format!`: ids are made for every entity of every load).
fn v5_of(parts: &[&str]) -> Uuid {
    let mut key = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        key.push_str(part);
    }
    v5(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_distinct() {
        let a = service_id(Some("orders"), 0);
        assert_eq!(a, service_id(Some("orders"), 7), "name wins over position");
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(a, service_id(None, 0));
        assert_ne!(service_id(None, 0), service_id(None, 1));
        assert_ne!(route_id(None, Some(a), 0), route_id(None, None, 0));
        assert_eq!(
            route_id(Some("r"), Some(a), 3),
            route_id(Some("r"), None, 0)
        );
        let p = plugin_id("openid-connect", None, Some(a), None);
        assert_eq!(p, plugin_id("openid-connect", None, Some(a), None));
        assert_ne!(p, plugin_id("openid-connect", None, None, Some(a)));
        assert_ne!(p, plugin_id("openid-connect", None, None, None));
        assert_ne!(p, plugin_id("openid-connect", Some("x"), Some(a), None));
        // Pinned: a change here changes every generated id in users' files.
        assert_eq!(a.to_string(), "670723af-99fd-5003-ad44-2194cc4f1765");
        assert_eq!(
            route_id(Some("r"), None, 0),
            v5(&format!("route:name:{}", "r"))
        );
        let r = route_id(Some("r"), None, 0);
        assert_eq!(
            plugin_id("openid-connect", Some("i"), Some(a), Some(r)),
            v5(&format!("plugin:openid-connect:i:{a}:{r}"))
        );
        assert_eq!(
            plugin_id("openid-connect", None, None, Some(r)),
            v5(&format!("plugin:openid-connect:::{r}"))
        );
    }
}
