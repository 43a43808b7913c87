//! Kong's Admin API semantics as pure functions: request decoding (forms and JSON, with the schema's type
//! inference), PATCH merging, the entity views (upstreams and targets in [`upstreams`], certificates and SNIs in [`certificates`]), the error bodies,
//! paging, and the writes themselves
//! ([`ops`]), which go through the same build and validation as the YAML loader.

pub mod certificates;
pub mod declarative;
pub mod entity;
pub mod errors;
pub mod form;
pub mod ops;
pub mod page;
pub mod patch;
pub mod schema;
pub mod schemas;
pub mod tags;
pub mod upstreams;

use serde_json::{Map, Value};

pub use crate::credentials::CredKind;
pub use errors::KongError;

/// The Admin API's entity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `/services`
    Service,
    /// `/routes`
    Route,
    /// `/plugins`
    Plugin,
    /// `/upstreams`
    Upstream,
    /// `/upstreams/{u}/targets`
    Target,
    /// `/certificates`
    Certificate,
    /// `/snis`, `/certificates/{c}/snis`
    Sni,
    /// `/consumers`
    Consumer,
    /// A credential kind of [`crate::credentials`]: `/key-auths`, `/consumers/{c}/key-auth`, …
    Credential(CredKind),
    /// `/ca_certificates`
    CaCertificate,
}

impl Kind {
    /// Every kind, in Kong's order of tables (and of `POST /config`'s `201` body, `GET /tags`).
    pub const ALL: [Kind; 14] = [
        Kind::Service,
        Kind::Route,
        Kind::Plugin,
        Kind::Consumer,
        Kind::Upstream,
        Kind::Target,
        Kind::Certificate,
        Kind::Sni,
        Kind::Credential(CredKind::KeyAuth),
        Kind::Credential(CredKind::BasicAuth),
        Kind::Credential(CredKind::HmacAuth),
        Kind::Credential(CredKind::Jwt),
        Kind::Credential(CredKind::Acl),
        Kind::CaCertificate,
    ];

    /// The collection name in the Admin API's paths, e.g. `services`, `key-auths`.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Credential(k) => k.spec().admin_api_name,
            Kind::Service => "services",
            Kind::Route => "routes",
            Kind::Plugin => "plugins",
            Kind::Upstream => "upstreams",
            Kind::Target => "targets",
            Kind::Certificate => "certificates",
            Kind::Sni => "snis",
            Kind::Consumer => "consumers",
            Kind::CaCertificate => "ca_certificates",
        }
    }

    /// Kong's entity name, e.g. `services`, `keyauth_credentials`: the file's key, `/schemas/{name}`, the
    /// collections of `POST /config`'s body and of `/tags` rows.
    pub fn entity_name(self) -> &'static str {
        match self {
            Kind::Credential(k) => k.spec().name,
            _ => self.collection(),
        }
    }

    /// True when a non-UUID key designates an entity only within its parent (a target's address in its
    /// upstream, an acl's group in its consumer).
    pub fn keyed_in_parent(self) -> bool {
        match self {
            Kind::Target => true,
            Kind::Credential(k) => k.spec().endpoint_key.is_none(),
            _ => false,
        }
    }

    /// The field a non-UUID key in a URL is matched against: `name`, `instance_name` for plugins, `target`
    /// for targets, `username` for consumers, a credential kind's endpoint key (an acl's `group`).
    pub fn endpoint_key(self) -> &'static str {
        match self {
            Kind::Credential(k) => {
                let spec = k.spec();
                spec.endpoint_key.or(spec.unique_in_owner).unwrap_or("id")
            }
            Kind::Plugin => "instance_name",
            Kind::Target => "target",
            Kind::Consumer => "username",
            _ => "name",
        }
    }
}

/// The schema of an entity kind; a plugin's `config` is typed by the plugin `name`.
pub fn schema_for(kind: Kind, plugin_name: Option<&str>) -> schema::Record {
    match kind {
        Kind::Service => schema::service(),
        Kind::Route => schema::route(),
        Kind::Plugin => schema::plugin(plugin_name),
        Kind::Upstream => upstreams::upstream(),
        Kind::Target => upstreams::target(),
        Kind::Certificate => certificates::certificate(),
        Kind::Sni => certificates::sni(),
        Kind::Consumer => schema::consumer(),
        Kind::Credential(k) => schema::credential(k.spec()),
        Kind::CaCertificate => certificates::ca_certificate(),
    }
}

/// A decoded request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body.
    Empty,
    /// A JSON body (no type inference).
    Json(Value),
    /// Form fields (urlencoded or multipart), in order.
    Form(Vec<(String, String)>),
}

/// The entity fields of a request: forms decoded and inferred by the schema, then types and unknown fields
/// checked. `plugin_name` types a plugin's `config` when the body has no `name` (a PATCH).
pub fn read_input(
    kind: Kind,
    body: Body,
    plugin_name: Option<&str>,
) -> Result<Map<String, Value>, KongError> {
    let map = match body {
        Body::Empty | Body::Json(Value::Null) => Map::new(),
        Body::Json(Value::Object(map)) => map,
        Body::Json(_) => return Err(KongError::field("", "expected a record")),
        Body::Form(pairs) => {
            let map = form::decode(&pairs).map_err(|e| KongError::field("", e.to_string()))?;
            let name = body_name(&map).or(plugin_name).map(str::to_string);
            schema::coerce_record(map, &schema_for(kind, name.as_deref()))
        }
    };
    let name = body_name(&map).or(plugin_name);
    let mut errors = Vec::new();
    schema::check_record(&map, &schema_for(kind, name), "", &mut errors);
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(KongError::Schema(errors))
    }
}

fn body_name(map: &Map<String, Value>) -> Option<&str> {
    map.get("name").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(items: &[(&str, &str)]) -> Body {
        Body::Form(
            items
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn how_to_patch_form_is_inferred_from_the_existing_plugin() {
        let input = read_input(
            Kind::Plugin,
            form(&[
                ("config.bearer_token_param_type", "header"),
                ("config.auth_methods", "introspection"),
                ("config.auth_methods", "password"),
            ]),
            Some("openid-connect"),
        )
        .unwrap();
        assert_eq!(
            Value::Object(input),
            json!({"config": {"bearer_token_param_type": ["header"], "auth_methods": ["introspection", "password"]}})
        );
    }

    #[test]
    fn json_is_not_coerced() {
        let e = read_input(
            Kind::Plugin,
            Body::Json(json!({"config": {"timeout": "10"}})),
            Some("openid-connect"),
        )
        .unwrap_err();
        assert_eq!(e, KongError::field("config.timeout", "expected a number"));
        let e = read_input(Kind::Service, form(&[("port", "eighty")]), None).unwrap_err();
        assert_eq!(e, KongError::field("port", "expected an integer"));
        let ok = read_input(Kind::Service, form(&[("port", "8080"), ("path", "")]), None).unwrap();
        assert_eq!(Value::Object(ok), json!({"port": 8080, "path": null}));
        assert_eq!(
            read_input(Kind::Route, Body::Json(json!([1])), None).unwrap_err(),
            KongError::field("", "expected a record")
        );
        assert!(read_input(Kind::Route, Body::Empty, None)
            .unwrap()
            .is_empty());
        assert_eq!(
            read_input(Kind::Route, form(&[("a..b", "1")]), None).unwrap_err(),
            KongError::field("", "invalid form key \"a..b\"")
        );
    }
}
