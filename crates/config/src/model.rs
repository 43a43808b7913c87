//! The resolved configuration model (Kong's declarative format after loading): services, routes, plugins,
//! upstreams and their targets (defined in [`crate::upstreams`], re-exported here).
//!
//! Values here are complete: ids are set, defaults applied and the `url` shorthand expanded. Loading goes
//! through [`crate::load`]; serializing a [`Config`] gives YAML that loads back to the same value.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

pub use crate::ca_certificates::CaCertificate;
pub use crate::certificates::{Certificate, Sni};
pub use crate::consumers::Consumer;
pub use crate::protocol::Protocol;
pub use crate::settings::Settings;
pub use crate::upstreams::{
    ActiveHealthcheck, ActiveHealthy, ActiveUnhealthy, Algorithm, CheckType, HashOn, Healthchecks,
    PassiveHealthcheck, PassiveHealthy, PassiveUnhealthy, Target, Upstream,
};

/// Accepted values of `_format_version`.
pub const FORMAT_VERSIONS: &[&str] = &["1.1", "2.1", "3.0"];
/// Default `retries` of a service.
pub const DEFAULT_RETRIES: u32 = 5;
/// Default connect/read/write timeout of a service, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Largest timeout Kong accepts, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 2_147_483_646;
/// Largest `retries` Kong accepts.
pub const MAX_RETRIES: u32 = 32_767;
/// Default `https_redirect_status_code` of a route (Kong's).
pub const DEFAULT_HTTPS_REDIRECT: u16 = 426;
/// The values Kong accepts for `https_redirect_status_code`, in Kong's order.
pub const HTTPS_REDIRECT_CODES: [u16; 5] = [426, 301, 302, 307, 308];

/// A whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `_format_version`: `"1.1"`, `"2.1"` or `"3.0"`.
    #[serde(rename = "_format_version")]
    pub format_version: String,
    /// `_transform` (accepted and kept; it has no effect here).
    #[serde(rename = "_transform", skip_serializing_if = "Option::is_none")]
    pub transform: Option<bool>,
    /// `_comment`, free text.
    #[serde(rename = "_comment", skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `_info` (decK metadata such as `select_tags`), kept as is.
    #[serde(rename = "_info", skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
    /// The `gateway:` settings block.
    #[serde(skip_serializing_if = "Settings::is_default")]
    pub gateway: Settings,
    /// Services, each with its nested routes and plugins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    /// Top-level routes; each names its service with `service:`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// Top-level plugins: global, or scoped with `service:` and/or `route:`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
    /// Upstreams (Kong `upstreams`), each with its nested targets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<Upstream>,
    /// TLS certificates (Kong `certificates`), each with its nested SNIs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    /// Consumers (Kong `consumers`), each with the plugins scoped to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<Consumer>,
    /// key-auth credentials (Kong `keyauth_credentials`), written top-level with `consumer: <id>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keyauth_credentials: Vec<crate::credentials::KeyauthCredential>,
    /// basic-auth credentials (Kong `basicauth_credentials`), passwords as Kong's hash.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub basicauth_credentials: Vec<crate::credentials::BasicauthCredential>,
    /// hmac-auth credentials (Kong `hmacauth_credentials`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hmacauth_credentials: Vec<crate::credentials::HmacauthCredential>,
    /// jwt credentials (Kong `jwt_secrets`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jwt_secrets: Vec<crate::credentials::JwtSecret>,
    /// acl groups of consumers (Kong `acls`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acls: Vec<crate::credentials::Acl>,
    /// CA certificates (Kong `ca_certificates`) that services' upstream TLS trusts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates: Vec<CaCertificate>,
    /// Vaults (Kong `vaults`, the `env` vault): what `{vault://…}` references name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vaults: Vec<crate::vaults::Vault>,
    /// Key sets (Kong `key_sets`): stored and checked, used by no built plugin.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_sets: Vec<crate::keys::KeySet>,
    /// Keys (Kong `keys`, JWK or PEM): stored and checked, used by no built plugin.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<crate::keys::Key>,
    /// decK's `_konnect` (which control plane a file is for): kept as is, no effect here.
    #[serde(rename = "_konnect", skip_serializing_if = "Option::is_none")]
    pub konnect: Option<serde_json::Value>,
    /// True when the file had decK env templates (`${{ env "DECK_…" }}`, replaced at load): the Admin
    /// API then refuses writes, which would persist the values in place of the templates.
    #[serde(skip)]
    pub deck_env_templates: bool,
    /// decK's `_workspace`: only `default` (the gateway has one workspace); kept as is.
    #[serde(rename = "_workspace", skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format_version: "3.0".to_string(),
            transform: None,
            comment: None,
            info: None,
            gateway: Settings::default(),
            services: Vec::new(),
            routes: Vec::new(),
            plugins: Vec::new(),
            upstreams: Vec::new(),
            certificates: Vec::new(),
            consumers: Vec::new(),
            keyauth_credentials: Vec::new(),
            basicauth_credentials: Vec::new(),
            hmacauth_credentials: Vec::new(),
            jwt_secrets: Vec::new(),
            acls: Vec::new(),
            ca_certificates: Vec::new(),
            vaults: Vec::new(),
            key_sets: Vec::new(),
            keys: Vec::new(),
            konnect: None,
            deck_env_templates: false,
            workspace: None,
        }
    }
}

/// How the upstream path is built (Kong `path_handling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum PathHandling {
    /// Kong `v0`: service path + request path (stripped of the matched prefix when `strip_path`), joined
    /// with exactly one `/`.
    #[default]
    #[serde(rename = "v0")]
    V0,
    /// Kong `v1`: service path + the rest of the request path as is (only a doubled `/` at the join is
    /// dropped; no `/` is added).
    #[serde(rename = "v1")]
    V1,
}

/// A reference from a top-level route or plugin to a service or route.
///
/// Written as a plain string (`service: orders`, an id or a name; a valid UUID is looked up by id only, as Kong
/// does) or as a record (`service: {id: ...}` / `service: {name: ...}`). The written form is kept for round trips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityRef {
    /// A plain string: an id when it parses as a UUID, else a name.
    Key(String),
    /// `{id: <uuid>}`
    Id(Uuid),
    /// `{name: <name>}`
    Name(String),
}

impl EntityRef {
    /// True when this reference designates the entity with this id and name.
    pub fn matches(&self, id: Uuid, name: Option<&str>) -> bool {
        match self {
            EntityRef::Key(key) => match Uuid::parse_str(key) {
                Ok(uuid) => uuid == id,
                Err(_) => name == Some(key.as_str()),
            },
            EntityRef::Id(uuid) => *uuid == id,
            EntityRef::Name(n) => name == Some(n.as_str()),
        }
    }

    /// The referenced entity described for error messages, e.g. `id or name "orders"`.
    pub fn describe(&self) -> String {
        match self {
            EntityRef::Key(key) => format!("id or name {key:?}"),
            EntityRef::Id(uuid) => format!("id \"{uuid}\""),
            EntityRef::Name(n) => format!("name {n:?}"),
        }
    }
}

impl Serialize for EntityRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            EntityRef::Key(key) => serializer.serialize_str(key),
            EntityRef::Id(uuid) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("id", uuid)?;
                map.end()
            }
            EntityRef::Name(name) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("name", name)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for EntityRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RefVisitor;
        impl<'de> Visitor<'de> for RefVisitor {
            type Value = EntityRef;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id or a name, or a record with `id` or `name`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<EntityRef, E> {
                if v.is_empty() {
                    return Err(E::custom("must not be empty"));
                }
                Ok(EntityRef::Key(v.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntityRef, A::Error> {
                let mut found: Option<EntityRef> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value = match key.as_str() {
                        "id" => {
                            let text: String = map.next_value()?;
                            let uuid = Uuid::parse_str(&text).map_err(|_| {
                                de::Error::custom(format!("id: invalid UUID {text:?}"))
                            })?;
                            EntityRef::Id(uuid)
                        }
                        "name" => EntityRef::Name(map.next_value()?),
                        other => return Err(de::Error::unknown_field(other, &["id", "name"])),
                    };
                    if found.is_some() {
                        return Err(de::Error::custom("give either `id` or `name`, not both"));
                    }
                    found = Some(value);
                }
                found.ok_or_else(|| de::Error::custom("expected a record with `id` or `name`"))
            }
        }
        deserializer.deserialize_any(RefVisitor)
    }
}

/// An upstream service (Kong `services`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// Id; generated deterministically when absent from the file.
    pub id: Uuid,
    /// Unique name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `http` (default) or `https`.
    pub protocol: Protocol,
    /// Upstream host name or IP address (required).
    pub host: String,
    /// Upstream port (default 80, or 443 for an `https` url).
    pub port: u16,
    /// Path prefix sent upstream (none by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Retries on connection failure (default 5).
    pub retries: u32,
    /// Connect timeout in ms (default 60000).
    pub connect_timeout: u64,
    /// Read timeout in ms (default 60000).
    pub read_timeout: u64,
    /// Write timeout in ms (default 60000).
    pub write_timeout: u64,
    /// Disabled services are not routed to (default true).
    pub enabled: bool,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Verify the upstream's certificate (`https` only). `None`: the gateway's default, which verifies
    /// (Kong's default is nginx's `proxy_ssl_verify off`; a departure, see `docs/configuration.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_verify: Option<bool>,
    /// Kong's maximum chain depth; only `None` (accepted, no effect; other values refused at load).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_verify_depth: Option<u8>,
    /// Ids of `ca_certificates` that make the trust store of this upstream (instead of the system's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates: Vec<Uuid>,
    /// The certificate (a `certificates` entity) presented to the upstream as TLS client certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<EntityRef>,
    /// Routes nested in this service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// Plugins scoped to this service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
}

impl Service {
    /// A service with Kong's defaults for everything but `id` and `host`.
    pub fn new(id: Uuid, host: impl Into<String>) -> Self {
        Service {
            id,
            name: None,
            protocol: Protocol::Http,
            host: host.into(),
            port: 80,
            path: None,
            retries: DEFAULT_RETRIES,
            connect_timeout: DEFAULT_TIMEOUT_MS,
            read_timeout: DEFAULT_TIMEOUT_MS,
            write_timeout: DEFAULT_TIMEOUT_MS,
            enabled: true,
            tags: Vec::new(),
            created_at: None,
            updated_at: None,
            tls_verify: None,
            tls_verify_depth: None,
            ca_certificates: Vec::new(),
            client_certificate: None,
            routes: Vec::new(),
            plugins: Vec::new(),
        }
    }
}

/// A route (Kong `routes`), nested in a service or top-level with `service:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// Id; generated deterministically when absent from the file.
    pub id: Uuid,
    /// Unique name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Protocols accepted (default `[http, https]`). Not a matcher (as in Kong): a route without `http`
    /// matches plain-HTTP requests too, and they are answered with `https_redirect_status_code`.
    pub protocols: Vec<Protocol>,
    /// What a plain-HTTP request gets from a route whose `protocols` are `[https]`: 426 (default, Kong's
    /// "Please use HTTPS protocol") or a 301/302/307/308 redirect to the `https://` URL.
    pub https_redirect_status_code: u16,
    /// HTTP methods matched (uppercase); empty: any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Hosts matched (`*` wildcard at either end allowed); empty: any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Paths matched: plain prefixes (`/foo`) or regexes (`~/users/\\d+$`, anchored at the start); empty: any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Request headers matched: every name must be present with one of the values (case-insensitive).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, Vec<String>>,
    /// Remove the matched path prefix before proxying (default true).
    pub strip_path: bool,
    /// Send the client's Host header upstream (default false).
    pub preserve_host: bool,
    /// Order among routes that match by a regex path and tie on Kong's other priorities: higher first
    /// (default 0). No effect on prefix paths.
    pub regex_priority: i64,
    /// Upstream path construction (default `v0`).
    pub path_handling: PathHandling,
    /// Read the whole request body before an upstream is chosen (Kong's `request_buffering`, default true):
    /// in memory up to `gateway.client_body_buffer_size`, then in a temporary file. `false` streams it.
    #[serde(skip_serializing_if = "is_true")]
    pub request_buffering: bool,
    /// Read the upstream's answer as fast as it comes, into bounded memory then a temporary file, so a slow
    /// client does not hold the upstream connection (Kong's `response_buffering`, default true). `false`
    /// streams it through a small window.
    #[serde(skip_serializing_if = "is_true")]
    pub response_buffering: bool,
    /// Server names matched on a stream route (`tls`, `tls_passthrough`): exact, `*.x` or `x.*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snis: Vec<String>,
    /// Client addresses matched on a stream route (any entry: IP or CIDR and/or port).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::stream::StreamAddr>,
    /// Local addresses matched on a stream route (any entry: IP or CIDR and/or port).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<crate::stream::StreamAddr>,
    /// Kong's expressions-router `expression` (ATC language); when set, `methods`, `hosts`, `paths` and
    /// `headers` are empty and the route is matched by it alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Order among expression routes: higher first (default 0, `0..=2^46-1`). Only set with `expression`.
    #[serde(skip_serializing_if = "is_zero")]
    pub priority: i64,
    /// Owning service, for a top-level route (`None` for nested routes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<EntityRef>,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Plugins scoped to this route.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
}

impl Route {
    /// Whether this is a stream route (Kong: its first protocol is `tcp`, `tls`, `udp` or
    /// `tls_passthrough`; validation refuses a mix).
    pub fn is_stream(&self) -> bool {
        self.protocols.first().is_some_and(|p| p.is_stream())
    }

    /// A route with Kong's defaults and no matcher set.
    pub fn new(id: Uuid) -> Self {
        Route {
            id,
            name: None,
            protocols: vec![Protocol::Http, Protocol::Https],
            https_redirect_status_code: DEFAULT_HTTPS_REDIRECT,
            methods: Vec::new(),
            hosts: Vec::new(),
            paths: Vec::new(),
            headers: IndexMap::new(),
            snis: Vec::new(),
            sources: Vec::new(),
            destinations: Vec::new(),
            strip_path: true,
            preserve_host: false,
            regex_priority: 0,
            expression: None,
            priority: 0,
            path_handling: PathHandling::V0,
            request_buffering: true,
            response_buffering: true,
            service: None,
            tags: Vec::new(),
            created_at: None,
            updated_at: None,
            plugins: Vec::new(),
        }
    }
}

/// A plugin instance (Kong `plugins`), nested in a service or route, or top-level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plugin {
    /// Id; generated deterministically when absent from the file.
    pub id: Uuid,
    /// Plugin name, e.g. `openid-connect`.
    pub name: String,
    /// Optional unique instance name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// Disabled plugins do not run (default true).
    pub enabled: bool,
    /// The user's configuration keys, as written (what the file and the Admin API keep).
    pub config: serde_json::Value,
    /// The typed, defaulted config, parsed once by the loader (`None` for a plugin built in code and not
    /// loaded, or one whose config is invalid). Not serialised: `config` is the source.
    #[serde(skip)]
    pub typed: Option<std::sync::Arc<crate::plugins::TypedConfig>>,
    /// Protocols the plugin runs on (default `[http, https]`).
    pub protocols: Vec<Protocol>,
    /// Scope: the service, for a top-level plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<EntityRef>,
    /// Scope: the route, for a top-level plugin or one nested in a consumer (consumer + route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<EntityRef>,
    /// Scope: the consumer, for a top-level plugin (a plugin nested in a consumer belongs to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<EntityRef>,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Where the file wrote a top-level plugin that was written nested (a service's or route's plugin that
    /// also names another entity, Kong's declarative form), e.g. `routes[0].plugins[1]`: errors name it.
    #[serde(skip)]
    pub origin: Option<String>,
}

impl Plugin {
    /// An enabled plugin with an empty config and default protocols.
    pub fn new(id: Uuid, name: impl Into<String>) -> Self {
        Plugin {
            id,
            name: name.into(),
            instance_name: None,
            enabled: true,
            config: serde_json::Value::Object(serde_json::Map::new()),
            typed: None,
            protocols: vec![Protocol::Http, Protocol::Https],
            service: None,
            route: None,
            consumer: None,
            tags: Vec::new(),
            created_at: None,
            updated_at: None,
            origin: None,
        }
    }
}

/// Serde helper: a zero integer is left out.
fn is_true(value: &bool) -> bool {
    *value
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}
