//! Kong consumers: the model (username, custom_id, tags and the plugins scoped to the consumer), the file's
//! raw form, and the index the gateway looks consumers up in (by id, username or custom_id).
//!
//! Building from the file lives in [`crate::build`] (with the other entities, so nested plugins are built
//! one way); the checks (Kong's `at_least_one_of` and the unique fields) in [`crate::validate`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fast::FastMap;
use crate::model::{EntityRef, Plugin};
use crate::raw::RawPlugin;

/// Kong's message when neither `username` nor `custom_id` is set.
pub const AT_LEAST_ONE: &str =
    "at least one of these fields must be non-empty: 'custom_id', 'username'";

/// A consumer (Kong `consumers`): who is calling, as mapped by an authentication plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consumer {
    /// Id; generated deterministically (from `username`, else `custom_id`) when absent from the file.
    pub id: Uuid,
    /// Unique username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Unique id from another system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Plugins scoped to this consumer (only plugins Kong allows on consumers, e.g. `rate-limiting`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
}

impl Consumer {
    /// A consumer with this id and nothing else set.
    pub fn new(id: Uuid) -> Self {
        Consumer {
            id,
            username: None,
            custom_id: None,
            tags: Vec::new(),
            created_at: None,
            updated_at: None,
            plugins: Vec::new(),
        }
    }

    /// True when `reference` designates this consumer: an id, else a username (Kong's endpoint key).
    pub fn matches(&self, reference: &EntityRef) -> bool {
        reference.matches(self.id, self.username.as_deref())
    }
}

/// A consumer as written (top-level `consumers`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsumer {
    pub id: Option<String>,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub plugins: Option<Vec<RawPlugin>>,
    /// Credentials nested in the consumer (checked by [`crate::credentials`]).
    pub keyauth_credentials: Option<Vec<serde_json::Value>>,
    pub basicauth_credentials: Option<Vec<serde_json::Value>>,
    pub hmacauth_credentials: Option<Vec<serde_json::Value>>,
    pub jwt_secrets: Option<Vec<serde_json::Value>>,
    pub acls: Option<Vec<serde_json::Value>>,
}

impl RawConsumer {
    /// Takes the credential lists nested in this consumer.
    pub(crate) fn take_credentials(&mut self) -> crate::credentials::load::Lists {
        crate::credentials::load::lists([
            self.keyauth_credentials.take(),
            self.basicauth_credentials.take(),
            self.hmacauth_credentials.take(),
            self.jwt_secrets.take(),
            self.acls.take(),
        ])
    }
}

/// What a consumer is looked up by (openid-connect's `consumer_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerBy {
    /// The consumer's id.
    Id,
    /// The consumer's username.
    Username,
    /// The consumer's custom_id.
    CustomId,
}

impl ConsumerBy {
    /// Its names in the config.
    pub const NAMES: &'static [&'static str] = &["id", "username", "custom_id"];
}

/// The consumers of a config indexed for the per-request lookup (built once per snapshot).
#[derive(Debug, Default)]
pub struct ConsumerIndex {
    by_id: FastMap<Uuid, usize>,
    by_username: FastMap<String, usize>,
    by_custom_id: FastMap<String, usize>,
}

impl ConsumerIndex {
    /// Indexes `consumers` (positions into that slice).
    pub fn new(consumers: &[Consumer]) -> Self {
        let mut index = ConsumerIndex::default();
        for (i, c) in consumers.iter().enumerate() {
            index.by_id.entry(c.id).or_insert(i);
            if let Some(u) = &c.username {
                index.by_username.entry(u.clone()).or_insert(i);
            }
            if let Some(c) = &c.custom_id {
                index.by_custom_id.entry(c.clone()).or_insert(i);
            }
        }
        index
    }

    /// The consumer `value` designates, trying each of `by` in order (Kong's `consumer_by`).
    pub fn find(&self, value: &str, by: &[ConsumerBy]) -> Option<usize> {
        by.iter().find_map(|b| match b {
            ConsumerBy::Id => Uuid::parse_str(value)
                .ok()
                .and_then(|id| self.by_id.get(&id).copied()),
            ConsumerBy::Username => self.by_username.get(value).copied(),
            ConsumerBy::CustomId => self.by_custom_id.get(value).copied(),
        })
    }

    /// The consumer an `anonymous` setting names: an id, else a username (as Kong accepts).
    pub fn anonymous(&self, value: &str) -> Option<usize> {
        self.find(value, &[ConsumerBy::Id, ConsumerBy::Username])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_each_key_in_the_order_asked() {
        let mut a = Consumer::new(Uuid::from_u128(1));
        a.username = Some("alice".into());
        a.custom_id = Some("bob".into());
        let mut b = Consumer::new(Uuid::from_u128(2));
        b.username = Some("bob".into());
        let index = ConsumerIndex::new(&[a, b]);
        let id = Uuid::from_u128(2).to_string();
        assert_eq!(index.find(&id, &[ConsumerBy::Id]), Some(1));
        assert_eq!(index.find(&id, &[ConsumerBy::Username]), None);
        assert_eq!(index.find("bob", &[ConsumerBy::Username]), Some(1));
        assert_eq!(index.find("bob", &[ConsumerBy::CustomId]), Some(0));
        assert_eq!(
            index.find("bob", &[ConsumerBy::CustomId, ConsumerBy::Username]),
            Some(0)
        );
        assert_eq!(index.find("carol", &[ConsumerBy::Username]), None);
        assert_eq!(index.anonymous("alice"), Some(0));
        assert_eq!(index.anonymous(&id), Some(1));
    }
}

#[cfg(test)]
mod load_tests {
    use crate::load::parse_str;

    fn errors(yaml: &str) -> Vec<String> {
        parse_str(yaml)
            .unwrap_err()
            .0
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    #[test]
    fn consumers_load_with_their_plugins_and_round_trip() {
        let yaml = r#"
_format_version: "3.0"
consumers:
  - username: alice
    custom_id: c-1
    tags: [team-a]
  - custom_id: c-2
"#;
        let c = parse_str(yaml).unwrap();
        assert_eq!(c.consumers.len(), 2);
        assert_eq!(c.consumers[0].username.as_deref(), Some("alice"));
        assert_eq!(
            c.consumers[0].id,
            crate::ids::consumer_id(Some("alice"), None, 0)
        );
        let text = crate::load::to_yaml(&c).unwrap();
        assert_eq!(parse_str(&text).unwrap(), c);
    }

    #[test]
    fn kongs_consumer_checks() {
        let e = errors(
            r#"
_format_version: "3.0"
consumers:
  - tags: [x]
  - {username: a, custom_id: x}
  - {username: a}
  - {username: b, custom_id: x}
"#,
        );
        let dup_id = crate::ids::consumer_id(Some("a"), None, 2);
        assert_eq!(
            e,
            [
                "consumers[0]: at least one of these fields must be non-empty: 'custom_id', 'username'".to_string(),
                "consumers[2].username: duplicate username \"a\" (also consumers[1])".into(),
                format!("consumers[2].id: duplicate id \"{dup_id}\" (also consumers[1])"),
                "consumers[3].custom_id: duplicate custom_id \"x\" (also consumers[1])".into(),
            ]
        );
    }

    #[test]
    fn openid_connect_cannot_be_scoped_to_a_consumer_nested_or_top_level() {
        let e = errors(
            r#"
_format_version: "3.0"
consumers:
  - username: a
    plugins:
      - name: openid-connect
        config: {issuer: "http://127.0.0.1:1/"}
plugins:
  - name: openid-connect
    consumer: a
    config: {issuer: "http://127.0.0.1:1/"}
"#,
        );
        assert_eq!(
            e,
            [
                "plugins[0].consumer: value must be null",
                "consumers[0].plugins[0].consumer: value must be null",
                // The same consumer scope twice: Kong's unique (name, consumer, service, route).
                "consumers[0].plugins[0].name: plugin \"openid-connect\" is already configured for this consumer (also plugins[0])",
            ]
        );
    }

    #[test]
    fn consumer_scoped_plugins_name_existing_entities_once_per_scope() {
        let e = errors(
            r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9/
    routes: [{name: r, paths: [/]}]
consumers:
  - username: a
    plugins:
      - {name: rate-limiting, route: r, config: {minute: 1}}
      - {name: rate-limiting, route: r, config: {minute: 2}}
      - {name: rate-limiting, service: nope, config: {minute: 3}}
      - {name: rate-limiting, config: {minute: 4}}
plugins:
  - {name: rate-limiting, consumer: a, service: s, config: {minute: 5}}
  - {name: rate-limiting, consumer: a, service: s, config: {minute: 6}}
  - {name: rate-limiting, consumer: ghost, config: {minute: 7}}
  - {name: rate-limiting, config: {minute: 8}}
"#,
        );
        assert_eq!(
            e,
            [
                "plugins[1].name: plugin \"rate-limiting\" is already configured for this consumer and service (also plugins[0])",
                "plugins[2].consumer: no consumer with id or name \"ghost\"",
                "consumers[0].plugins[1].name: plugin \"rate-limiting\" is already configured for this consumer and route (also consumers[0].plugins[0])",
                "consumers[0].plugins[2].service: no service with id or name \"nope\"",
            ]
        );
    }
}
