//! Config model: services, routes, plugins, gateway settings; YAML loading, validation and the routing table.
//!
//! - [`model`]: the resolved types ([`Config`], [`Service`], [`Route`], [`Plugin`]); [`settings`]: `gateway:`.
//! - [`load`]: text → checked `Config` ([`load::parse_str`], [`load::load_file`]) and back ([`load::to_yaml`]).
//! - [`validate`]: the semantic checks, also usable on a `Config` built in code.
//! - [`lookup`]: references, routes with their service, [`Config::plugins_for`].
//! - [`upstreams`]: Kong upstreams and targets (types re-exported from [`model`]); [`consumers`]: Kong consumers;
//!   [`credentials`]: their credentials (key-auth, basic-auth, jwt, acl) and the [`credentials::CredentialIndex`].
//! - [`plugins`]: plugin schemas; [`router`]: the compiled routing table and Kong's upstream path rule.

pub mod buffering;
mod build;
pub mod ca_certificates;
pub mod certificates;
pub mod checks;
pub mod client_limits;
pub mod cluster_cache;
mod compat;
pub mod config_store;
pub mod consumers;
pub mod credentials;
pub mod dns_settings;
pub mod error;
pub mod fast;
pub mod ids;
pub mod keys;
pub mod kong;
pub mod load;
pub mod lookup;
pub mod model;
pub mod plugins;
pub mod protocol;
mod raw;
pub mod real_ip;
pub mod report;
pub mod router;
pub mod settings;
pub mod statics;
pub mod stream;
pub mod upstream_tls;
pub mod upstreams;
pub mod validate;
pub mod vaults;

pub use error::{ConfigError, ConfigErrors, FieldError, Location};
pub use load::{load_file, parse_str};
pub use model::{
    Config, EntityRef, PathHandling, Plugin, Protocol, Route, Service, Target, Upstream,
};
pub use router::{upstream_path, RouteMatch, Router};
pub use settings::Settings;
