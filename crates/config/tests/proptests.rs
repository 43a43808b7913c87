//! Property tests (the fuzzing that fits a stable toolchain): the YAML loader, the Admin API form decoder
//! and the PATCH merge never panic on arbitrary input. Cases: `PROPTEST_CASES` (256 by default in
//! `make test`, many more in `make fuzz`).

use gateway_config::kong::{form, patch, schema_for, Kind};
use gateway_config::load::parse_str;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Arbitrary JSON values, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_.\\[\\]0-9]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names: mostly real ones (so merges reach records), sometimes anything.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "config",
            "host",
            "paths",
            "timeout",
            "route",
            "service",
            "tags",
            "issuer",
            "client_id",
            "scopes_required",
            "enabled",
            "protocols",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,10}",
    ]
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(field_name(), json_value(), 0..8)
        .prop_map(|m| m.into_iter().collect())
}

/// YAML-ish text: structure characters mixed with words, so the parser gets past the first byte.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("- ".to_owned()),
        Just(": ".to_owned()),
        Just("_format_version: \"3.0\"\n".to_owned()),
        Just("services:\n".to_owned()),
        Just("routes:\n".to_owned()),
        Just("plugins:\n".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("!!binary ".to_owned()),
        field_name(),
        any::<String>(),
    ];
    prop::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn yaml_loader_never_panics_on_any_string(text in any::<String>()) {
        let _ = parse_str(&text);
    }

    #[test]
    fn yaml_loader_never_panics_on_yamlish_text(text in yamlish()) {
        let _ = parse_str(&text);
    }

    #[test]
    fn form_decoding_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let pairs = form::parse_urlencoded(&body);
        let _ = form::decode(&pairs);
    }

    #[test]
    fn form_keys_never_panic(
        pairs in prop::collection::vec(("[a-z.\\[\\]0-9]{0,12}", "[a-z0-9]{0,4}"), 0..12)
    ) {
        let _ = form::decode(&pairs);
    }

    #[test]
    fn multipart_never_panics(
        body in prop::collection::vec(any::<u8>(), 0..512),
        boundary in "[a-zA-Z0-9-]{0,12}",
    ) {
        let _ = form::parse_multipart(&body, &format!("multipart/form-data; boundary={boundary}"));
    }

    #[test]
    fn simple_forms_round_trip(
        fields in prop::collection::btree_map("[a-z]{1,8}", "[a-zA-Z0-9 %&=+]{1,12}", 1..6)
    ) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter())
            .finish();
        let decoded = form::decode(&form::parse_urlencoded(body.as_bytes()))
            .expect("plain keys decode");
        for (k, v) in &fields {
            prop_assert_eq!(decoded.get(k), Some(&Value::String(v.clone())));
        }
    }

    #[test]
    fn patch_merge_never_panics_and_patched_keys_win(
        mut base in object(),
        change in object(),
        kind in prop::sample::select(vec![Kind::Service, Kind::Route, Kind::Plugin]),
    ) {
        let record = schema_for(kind, Some("openid-connect"));
        let top: Vec<(String, Value)> = change
            .iter()
            .filter(|(_, v)| !v.is_object())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        patch::merge(&mut base, change, &record);
        for (k, v) in top {
            prop_assert_eq!(base.get(&k), Some(&v));
        }
    }
}
