//! Kong's credential entities (`keyauth_credentials`, `basicauth_credentials`, `hmacauth_credentials`,
//! `jwt_secrets`, `acls`), each one
//! module declaring its [`Spec`] — fields, owner reference, uniqueness, Admin API names — and its typed model;
//! loading ([`load`]), the loader's checks, the Admin API's schema records, rows and views come from that
//! declaration, so adding a kind is one module, one [`CredKind`] variant and one row in [`CredKind::ALL`].
//!
//! Every credential belongs to a consumer (Kong's `consumer` foreign key, `on_delete = "cascade"`): in the
//! file it is nested under its consumer or top-level with `consumer: <id or username>`; the model holds the
//! resolved consumer id and one flat list per kind on [`Config`]. [`CredentialIndex`] is what the runtime
//! plugins look credentials up in.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::Collector;
use crate::model::Config;

pub use acl::Acl;
pub use basic_auth::BasicauthCredential;
pub use hmac_auth::HmacauthCredential;
pub use index::{CredentialIndex, JwtEntry, JwtKey};
pub use jwt::{JwtAlgorithm, JwtSecret};
pub use key_auth::KeyauthCredential;

/// The value type of a declared field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    Str,
    /// A whole number (Unix seconds for `created_at`).
    Int,
    /// Kong's `tags`: a set of strings.
    Tags,
}

/// One declared field of an entity kind (besides `id` and the owner reference, which every kind has).
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name, in the file, the Admin API and the views.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Kong's `required = true` (checked after the kind's own defaults and generated values).
    pub required: bool,
    /// A value that never appears in an error message or a log line (it is still shown by the Admin API
    /// when Kong shows it).
    pub secret: bool,
    /// Shown in the Admin API's views (false for `ttl`, which Kong shows only when set).
    pub shown: bool,
    /// Generated when absent (Kong's `auto = true`), so never missing.
    pub auto: bool,
}

impl Field {
    /// A plain optional field.
    pub const fn new(name: &'static str, ty: FieldType) -> Field {
        Field {
            name,
            ty,
            required: false,
            secret: false,
            shown: true,
            auto: false,
        }
    }

    /// The same field, generated when absent.
    pub const fn auto(self) -> Field {
        Field { auto: true, ..self }
    }

    /// The same field, required.
    pub const fn required(self) -> Field {
        Field {
            required: true,
            ..self
        }
    }

    /// The same field, left out of the views.
    pub const fn hidden(self) -> Field {
        Field {
            shown: false,
            ..self
        }
    }

    /// The same field, never shown in errors.
    pub const fn secret(self) -> Field {
        Field {
            secret: true,
            ..self
        }
    }
}

/// `created_at`, which every credential kind has (Kong's `auto_timestamp_s`; credentials have no `updated_at`).
pub const CREATED_AT: Field = Field::new("created_at", FieldType::Int);
/// `tags`, which every credential kind has.
pub const TAGS: Field = Field::new("tags", FieldType::Tags);

/// The declaration of an entity kind: what the loader, the checks, the Admin API and the views are built from.
#[derive(Debug)]
pub struct Spec {
    /// Kong's entity name: the file's key (top-level and nested under a consumer), `/schemas/{name}`,
    /// `POST /config`'s collection names.
    pub name: &'static str,
    /// Kong's `admin_api_name`: the top-level collection, e.g. `/key-auths`.
    pub admin_api_name: &'static str,
    /// Kong's `admin_api_nested_name`: the collection under a consumer, e.g. `/consumers/{c}/key-auth`.
    pub nested_name: &'static str,
    /// Kong's `endpoint_key`: the field a non-UUID URL key designates (`None`: ids only, except within a
    /// consumer where [`Spec::unique_in_owner`] names one).
    pub endpoint_key: Option<&'static str>,
    /// The fields besides `id` and `consumer`, in Kong's order (the views' order).
    pub fields: &'static [Field],
    /// Fields unique across the kind (Kong's `unique = true`): 409 from the Admin API, an error at load.
    pub unique: &'static [&'static str],
    /// A field unique per consumer (Kong's `cache_key = {consumer, field}`), which also designates the
    /// credential within its consumer's nested routes.
    pub unique_in_owner: Option<&'static str>,
}

impl Spec {
    /// The declared field `name`.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// True when `name` is a secret field (never shown in an error message).
    pub fn is_secret(&self, name: &str) -> bool {
        self.field(name).is_some_and(|f| f.secret)
    }
}

/// The credential kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredKind {
    /// `keyauth_credentials`
    KeyAuth,
    /// `basicauth_credentials`
    BasicAuth,
    /// `hmacauth_credentials`
    HmacAuth,
    /// `jwt_secrets`
    Jwt,
    /// `acls`
    Acl,
}

impl CredKind {
    /// Every kind, in Kong's order.
    pub const ALL: [CredKind; 5] = [
        CredKind::KeyAuth,
        CredKind::BasicAuth,
        CredKind::HmacAuth,
        CredKind::Jwt,
        CredKind::Acl,
    ];

    /// The kind's declaration.
    pub fn spec(self) -> &'static Spec {
        self.ops().spec
    }

    /// The kind's operations (each a generic function instantiated for its model type).
    pub(crate) fn ops(self) -> &'static Ops {
        match self {
            CredKind::KeyAuth => &key_auth::OPS,
            CredKind::BasicAuth => &basic_auth::OPS,
            CredKind::HmacAuth => &hmac_auth::OPS,
            CredKind::Jwt => &jwt::OPS,
            CredKind::Acl => &acl::OPS,
        }
    }

    /// The kind whose entity name (`keyauth_credentials`, …) is `name`.
    pub fn named(name: &str) -> Option<CredKind> {
        CredKind::ALL.into_iter().find(|k| k.spec().name == name)
    }

    /// Every credential of this kind in `config` as a generic row, in list order.
    pub fn rows(self, config: &Config) -> Vec<Row> {
        (self.ops().rows)(config)
    }

    /// The credential at position `index` of this kind's list, as a row.
    pub fn row(self, config: &Config, index: usize) -> Option<Row> {
        (self.ops().row)(config, index)
    }
}

/// One credential seen generically: what the Admin API needs (its stored form is the file's shape).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its id.
    pub id: Uuid,
    /// Its consumer's id.
    pub consumer: Uuid,
    /// The value of its endpoint key (or of [`Spec::unique_in_owner`]), if any.
    pub key: Option<String>,
    /// The credential as written in the file (`consumer` as the id string).
    pub stored: Map<String, Value>,
}

impl Row {
    /// Kong's view: `id`, `consumer: {"id": …}`, then every declared field, `null` when unset.
    pub fn view(&self, spec: &Spec) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), Value::String(self.id.to_string()));
        out.insert(
            "consumer".into(),
            serde_json::json!({ "id": self.consumer }),
        );
        for f in spec.fields.iter().filter(|f| f.shown) {
            let v = self.stored.get(f.name).cloned().unwrap_or(Value::Null);
            let v = match (f.ty, v) {
                (FieldType::Tags, Value::Array(a)) if a.is_empty() => Value::Null,
                (_, v) => v,
            };
            out.insert(f.name.into(), v);
        }
        Value::Object(out)
    }
}

/// A kind's operations, as generic functions over its model type (see [`Credential`]).
pub(crate) struct Ops {
    /// The declaration.
    pub spec: &'static Spec,
    /// Rows of the kind.
    pub rows: fn(&Config) -> Vec<Row>,
    /// The row at a position of the kind's list.
    pub row: fn(&Config, usize) -> Option<Row>,
    /// Completes an item whose fields are checked and whose `consumer` is resolved ([`Credential::finish`]),
    /// types it and pushes it onto the kind's list on `config`.
    pub push: fn(&mut Config, Map<String, Value>, &Context, &str, &mut Collector),
}

/// What every credential model has, generated by [`stored!`]: its declaration, id, consumer, and its list
/// on a config.
pub(crate) trait Stored:
    Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug
{
    /// The kind's declaration.
    fn spec() -> &'static Spec;
    /// Its id.
    fn id(&self) -> Uuid;
    /// Its consumer's id.
    fn consumer(&self) -> Uuid;
    /// The kind's list on a config.
    fn list(config: &Config) -> &[Self];
    /// The kind's list on a config, to push onto.
    fn list_mut(config: &mut Config) -> &mut Vec<Self>;
}

/// The model type of a credential kind: its own part of loading (generated values, hashing, checks Kong's
/// schema makes beyond field types) and the natural key of its derived id.
pub(crate) trait Credential: Stored {
    /// Completes one item whose declared fields have their types and whose `consumer` is resolved (the id
    /// string): defaults, generated values, Kong's entity checks (errors at `path`). `ctx` says what the file
    /// says about transformations (`_transform`).
    fn finish(map: &mut Map<String, Value>, ctx: &Context, path: &str, errors: &mut Collector);
    /// The natural key a generated id derives from (e.g. the username, `consumer:group`); `ordinal` is the
    /// credential's position among its consumer's credentials of this kind.
    fn natural_key(map: &Map<String, Value>, ordinal: usize) -> String;
}

/// Implements [`Stored`] for a model type with `id` and `consumer` fields, whose list on [`Config`] is the
/// field `$list` and whose declaration is the module's `SPEC`, and declares the module's `OPS` row.
macro_rules! stored {
    ($ty:ident, $list:ident) => {
        pub(crate) static OPS: $crate::credentials::Ops = $crate::credentials::Ops {
            spec: &SPEC,
            rows: $crate::credentials::rows_of::<$ty>,
            row: $crate::credentials::row_of::<$ty>,
            push: $crate::credentials::load::push::<$ty>,
        };

        impl $crate::credentials::Stored for $ty {
            fn spec() -> &'static $crate::credentials::Spec {
                &SPEC
            }
            fn id(&self) -> uuid::Uuid {
                self.id
            }
            fn consumer(&self) -> uuid::Uuid {
                self.consumer
            }
            fn list(config: &$crate::model::Config) -> &[Self] {
                &config.$list
            }
            fn list_mut(config: &mut $crate::model::Config) -> &mut Vec<Self> {
                &mut config.$list
            }
        }
    };
}
pub(crate) use stored;

/// What a credential's `finish` may need about the whole file.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Kong's `_transform` (absent: true): values are given as written (clear passwords), to be
    /// transformed; false: they are stored values (password hashes, as Kong's export writes them).
    pub transform: bool,
}

/// Rows of `T` (the generic part of [`Ops::rows`]).
pub(crate) fn rows_of<T: Stored>(config: &Config) -> Vec<Row> {
    T::list(config).iter().map(to_row).collect()
}

/// The row of `T` at `index` ([`Ops::row`]).
pub(crate) fn row_of<T: Stored>(config: &Config, index: usize) -> Option<Row> {
    T::list(config).get(index).map(to_row)
}

fn to_row<T: Stored>(c: &T) -> Row {
    let spec = T::spec();
    let stored = match serde_json::to_value(c) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let key = (spec.endpoint_key.or(spec.unique_in_owner))
        .and_then(|k| stored.get(k))
        .and_then(Value::as_str)
        .map(str::to_string);
    Row {
        id: c.id(),
        consumer: c.consumer(),
        key,
        stored,
    }
}

/// A string field of a map, if set.
pub(crate) fn str_field<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m str> {
    map.get(name).and_then(Value::as_str)
}

/// Kong's `utils.random_string()`: a random UUID's 32 hex digits (generated keys and secrets).
pub(crate) fn random_string() -> String {
    Uuid::new_v4().simple().to_string()
}

/// Serde helper: an empty list is not written.
pub(crate) fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

pub mod acl;
pub mod basic_auth;
pub mod hmac_auth;
mod index;
pub mod jwt;
pub mod key_auth;
pub(crate) mod load;

#[cfg(test)]
mod tests;
