//! Unit tests of the Admin API writes.

use super::*;
use crate::kong::entity::{find, view};
use crate::kong::{read_input, Body};
use crate::load::{parse_str, to_yaml};

const SID: &str = "5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd";
const PID: &str = "5f35b796-ced6-4c00-9b2a-90eef745f4f9";
const NOW: i64 = 1_700_000_000;

fn base() -> Config {
    parse_str(&format!(
        r#"
_format_version: "3.0"
services:
  - id: {SID}
    name: httpbin
    url: http://127.0.0.1:8080/anything
    routes:
      - name: httpbin-route
        paths: ["/"]
    plugins:
      - id: {PID}
        name: openid-connect
        config:
          issuer: http://127.0.0.1:4593/api/oidc
          client_id: [kong]
          auth_methods: [introspection, password]
  - name: other
    host: 127.0.0.1
"#
    ))
    .unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn get(c: &Config, kind: Kind, key: &str) -> Value {
    view(c, &find(c, kind, key).unwrap())
}

fn round_trips(c: &Config) {
    let yaml = to_yaml(c).unwrap();
    assert_eq!(&parse_str(&yaml).unwrap(), c, "{yaml}");
}

#[test]
fn create_service_sets_id_and_timestamps() {
    let w = create(
        &base(),
        Kind::Service,
        obj(json!({"name": "orders", "url": "http://127.0.0.1:9000/api"})),
        NOW,
    )
    .unwrap();
    let v = get(&w.config, Kind::Service, "orders");
    assert_eq!(v["id"], json!(w.id));
    assert_eq!(w.id.get_version_num(), 4);
    assert_eq!(
        (v["host"].clone(), v["port"].clone(), v["path"].clone()),
        (json!("127.0.0.1"), json!(9000), json!("/api"))
    );
    assert_eq!(
        (v["created_at"].clone(), v["updated_at"].clone()),
        (json!(NOW), json!(NOW))
    );
    assert_eq!(v["retries"], 5);
    assert_eq!(w.config.services.len(), 3);
    round_trips(&w.config);
}

#[test]
fn create_refusals() {
    let c = base();
    assert_eq!(
        create(
            &c,
            Kind::Service,
            obj(json!({"name": "httpbin", "host": "a"})),
            NOW
        )
        .unwrap_err(),
        KongError::Unique(json!({"name": "httpbin"}))
    );
    assert_eq!(
        create(&c, Kind::Service, obj(json!({"id": SID, "host": "a"})), NOW).unwrap_err(),
        KongError::PrimaryKey(json!({"id": SID}))
    );
    assert_eq!(
        create(
            &c,
            Kind::Service,
            obj(json!({"name": "x", "port": 70000})),
            NOW
        )
        .unwrap_err(),
        KongError::Schema(vec![
            FieldError::new("port", "must be between 1 and 65535"),
            FieldError::new("host", "required field missing"),
        ])
    );
    assert_eq!(
        create(&c, Kind::Service, obj(json!({"url": "ftp://x"}))
        , NOW).unwrap_err(),
        KongError::field("url", "expected one of: http, https, grpc, grpcs, tcp, tls, udp, tls_passthrough, got \"ftp\" (ws and wss are not supported yet)")
    );
}

#[test]
fn routes_nest_under_their_service() {
    let c = base();
    let w = create(
        &c,
        Kind::Route,
        obj(json!({"name": "r2", "paths": ["/r2"], "service": {"name": "other"}})),
        NOW,
    )
    .unwrap();
    assert_eq!(w.config.services[1].routes.len(), 1);
    assert_eq!(w.config.services[1].routes[0].service, None);
    let v = get(&w.config, Kind::Route, "r2");
    assert_eq!(v["service"], json!({"id": w.config.services[1].id}));
    assert_eq!(v["https_redirect_status_code"], 426);
    round_trips(&w.config);

    // Moving it to the other service by PATCH.
    let moved = update(
        &w.config,
        Kind::Route,
        "r2",
        obj(json!({"service": {"id": SID}})),
        NOW + 1,
    )
    .unwrap();
    assert!(moved.config.services[1].routes.is_empty());
    assert_eq!(
        moved.config.services[0].routes[1].name.as_deref(),
        Some("r2")
    );
    let v = get(&moved.config, Kind::Route, "r2");
    assert_eq!(v["paths"], json!(["/r2"]));
    assert_eq!(
        (v["created_at"].clone(), v["updated_at"].clone()),
        (json!(NOW), json!(NOW + 1))
    );

    // A regex path and a redirect status, written and shown back.
    let patched = update(
        &moved.config,
        Kind::Route,
        "r2",
        obj(json!({"paths": ["~/r2/\\d+$"], "https_redirect_status_code": 308})),
        NOW + 1,
    )
    .unwrap();
    let v = get(&patched.config, Kind::Route, "r2");
    assert_eq!(
        (v["paths"].clone(), v["https_redirect_status_code"].clone()),
        (json!(["~/r2/\\d+$"]), json!(308))
    );
    round_trips(&patched.config);
}

#[test]
fn route_refusals() {
    let c = base();
    let missing = Uuid::new_v4();
    assert_eq!(
        create(
            &c,
            Kind::Route,
            obj(json!({"paths": ["/x"], "service": {"id": missing}})),
            NOW
        )
        .unwrap_err(),
        KongError::ForeignKeyInvalid {
            field: "service",
            key: json!({"id": missing}),
            parent: "services"
        }
    );
    assert_eq!(
        create(&c, Kind::Route, obj(json!({"service": {"id": SID}})), NOW).unwrap_err(),
        KongError::field(
            "",
            "must set at least one of methods, hosts, headers or paths"
        )
    );
    assert_eq!(
        create(
            &c,
            Kind::Route,
            obj(json!({"service": {"id": SID}, "paths": ["/ok", "nope"]})),
            NOW
        )
        .unwrap_err(),
        KongError::field("paths[1]", "must start with \"/\"")
    );
    assert_eq!(
        create(
            &c,
            Kind::Route,
            obj(json!({"service": {"id": SID}, "paths": ["/ok", "~/a/(\\d+"]})),
            NOW
        )
        .unwrap_err(),
        KongError::field(
            "paths[1]",
            "invalid regex: '/a/(\\d+' (unclosed group at offset 3)"
        )
    );
    assert_eq!(
        create(
            &c,
            Kind::Route,
            obj(
                json!({"service": {"id": SID}, "paths": ["/x"], "https_redirect_status_code": 303})
            ),
            NOW
        )
        .unwrap_err(),
        KongError::field(
            "https_redirect_status_code",
            "expected one of: 426, 301, 302, 307, 308"
        )
    );
    // A route without a service is Kong's too (its plugins run, then 503): created, `service` null.
    let lone = create(&c, Kind::Route, obj(json!({"paths": ["/x"]})), NOW).unwrap();
    assert_eq!(
        get(&lone.config, Kind::Route, &lone.id.to_string())["service"],
        json!(null)
    );
    assert_eq!(
        create(
            &c,
            Kind::Route,
            obj(json!({"name": "httpbin-route", "paths": ["/x"], "service": {"id": SID}})),
            NOW
        )
        .unwrap_err(),
        KongError::Unique(json!({"name": "httpbin-route"}))
    );
}

#[test]
fn how_to_patch_merges_config_key_by_key() {
    let c = base();
    let input = read_input(
        Kind::Plugin,
        Body::Form(vec![
            ("config.bearer_token_param_type".into(), "header".into()),
            ("config.auth_methods".into(), "introspection".into()),
            ("config.auth_methods".into(), "password".into()),
        ]),
        Some("openid-connect"),
    )
    .unwrap();
    let w = update(&c, Kind::Plugin, PID, input, NOW).unwrap();
    let v = get(&w.config, Kind::Plugin, PID);
    assert_eq!(
        v["config"]["auth_methods"],
        json!(["introspection", "password"])
    );
    assert_eq!(v["config"]["bearer_token_param_type"], json!(["header"]));
    assert_eq!(v["config"]["client_id"], json!(["kong"]));
    assert_eq!(v["config"]["issuer"], "http://127.0.0.1:4593/api/oidc");
    assert_eq!(v["service"], json!({"id": SID}));
    assert_eq!(v["updated_at"], NOW);
    // Stored as the user's keys, nested where it was.
    assert_eq!(
        w.config.services[0].plugins[0].config,
        json!({"issuer": "http://127.0.0.1:4593/api/oidc", "client_id": ["kong"],
               "auth_methods": ["introspection", "password"], "bearer_token_param_type": ["header"]})
    );
    round_trips(&w.config);
}

#[test]
fn patch_refusals() {
    let c = base();
    assert_eq!(
        update(&c, Kind::Plugin, PID, obj(json!({"config": {"auth_methods": ["nope"]}})), NOW).unwrap_err(),
        KongError::field("config.auth_methods[0]", "expected one of: password, client_credentials, authorization_code, bearer, introspection, userinfo, kong_oauth2, refresh_token, session")
    );
    assert_eq!(
        update(
            &c,
            Kind::Plugin,
            &Uuid::new_v4().to_string(),
            Map::new(),
            NOW
        )
        .unwrap_err(),
        KongError::PlainNotFound
    );
    let id = Uuid::new_v4();
    assert_eq!(
        update(&c, Kind::Service, &id.to_string(), Map::new(), NOW).unwrap_err(),
        KongError::NotFound(json!({"id": id}))
    );
    assert_eq!(
        update(&c, Kind::Route, "nope", Map::new(), NOW).unwrap_err(),
        KongError::NotFound(json!({"name": "nope"}))
    );
    assert_eq!(
        update(
            &c,
            Kind::Service,
            "other",
            obj(json!({"name": "httpbin"})),
            NOW
        )
        .unwrap_err(),
        KongError::Unique(json!({"name": "httpbin"}))
    );
}

#[test]
fn an_emptied_required_field_is_missing_and_nothing_changes() {
    let c = base();
    // A form's empty value is null after decoding, as a JSON null is.
    let form = read_input(
        Kind::Service,
        Body::Form(vec![("port".into(), String::new())]),
        None,
    )
    .unwrap();
    for input in [form, obj(json!({"port": null}))] {
        assert_eq!(
            update(&c, Kind::Service, "httpbin", input, NOW).unwrap_err(),
            KongError::field("port", "required field missing")
        );
    }
    assert_eq!(
        update(
            &c,
            Kind::Route,
            "httpbin-route",
            obj(json!({"strip_path": null})),
            NOW
        )
        .unwrap_err(),
        KongError::field("strip_path", "required field missing")
    );
    // Omitted on a PUT: the default.
    let w = upsert(
        &c,
        Kind::Service,
        "other",
        obj(json!({"host": "h.test"})),
        NOW,
    )
    .unwrap();
    assert_eq!(get(&w.config, Kind::Service, "other")["port"], json!(80));
}

#[test]
fn ca_certificates_and_service_tls_fields() {
    let c = base();
    let ca = crate::certificates::test_pem::ca("Admin CA");
    let w = create(&c, Kind::CaCertificate, obj(json!({"cert": ca})), NOW).unwrap();
    let id = w.config.ca_certificates[0].id.to_string();
    let v = get(&w.config, Kind::CaCertificate, &id);
    assert_eq!(v["cert_digest"].as_str().map(str::len), Some(64));
    let w2 = update(
        &w.config,
        Kind::Service,
        "httpbin",
        obj(json!({"url": "https://h.test", "tls_verify": true, "ca_certificates": [id]})),
        NOW,
    )
    .unwrap();
    let s = get(&w2.config, Kind::Service, "httpbin");
    assert_eq!(
        (s["tls_verify"].clone(), s["ca_certificates"].clone()),
        (json!(true), json!([id]))
    );
    round_trips(&w2.config);
    // A leaf is not a CA: Kong's message, nothing written.
    let (leaf, _) =
        crate::certificates::test_pem::pair("leaf.test", crate::certificates::test_pem::Kind::Ec);
    let e = create(&c, Kind::CaCertificate, obj(json!({"cert": leaf})), NOW).unwrap_err();
    assert!(
        format!("{e:?}").contains("does not appear to be a CA"),
        "{e:?}"
    );
    // A service over http cannot verify TLS.
    let e = update(
        &w.config,
        Kind::Service,
        "other",
        obj(json!({"tls_verify": true})),
        NOW,
    )
    .unwrap_err();
    assert!(format!("{e:?}").contains("value must be null"), "{e:?}");
}

#[test]
fn patch_service_url_and_fields() {
    let c = base();
    let w = update(
        &c,
        Kind::Service,
        "httpbin",
        obj(json!({"url": "http://localhost:81", "retries": 2})),
        NOW,
    )
    .unwrap();
    let v = get(&w.config, Kind::Service, "httpbin");
    assert_eq!(
        (
            v["host"].clone(),
            v["port"].clone(),
            v["path"].clone(),
            v["retries"].clone()
        ),
        (json!("localhost"), json!(81), Value::Null, json!(2))
    );
    // Children stay.
    assert_eq!(w.config.services[0].routes.len(), 1);
    assert_eq!(w.config.services[0].plugins.len(), 1);
}

#[test]
fn put_replaces_and_keeps_id_by_name() {
    let c = base();
    let before = find(&c, Kind::Service, "other").unwrap().id;
    let w = upsert(
        &c,
        Kind::Service,
        "other",
        obj(json!({"host": "localhost", "retries": 1})),
        NOW,
    )
    .unwrap();
    let v = get(&w.config, Kind::Service, "other");
    assert_eq!(v["id"], json!(before));
    assert_eq!(v["name"], "other");
    assert_eq!(v["retries"], 1);
    let w = upsert(
        &w.config,
        Kind::Service,
        "other",
        obj(json!({"host": "localhost"})),
        NOW,
    )
    .unwrap();
    assert_eq!(
        get(&w.config, Kind::Service, "other")["retries"],
        5,
        "omitted fields reset"
    );
    // PUT on a new id creates.
    let id = Uuid::new_v4();
    let w = upsert(
        &w.config,
        Kind::Service,
        &id.to_string(),
        obj(json!({"host": "localhost", "name": "n"})),
        NOW,
    )
    .unwrap();
    assert_eq!(get(&w.config, Kind::Service, "n")["id"], json!(id));
    // PUT of the plugin keeps it on its service, config reset to the body.
    let w = upsert(&c, Kind::Plugin, PID, obj(json!({"name": "openid-connect", "service": {"id": SID}, "config": {"issuer": "http://127.0.0.1:1/"}})), NOW).unwrap();
    assert_eq!(
        w.config.services[0].plugins[0].config,
        json!({"issuer": "http://127.0.0.1:1/"})
    );
}

#[test]
fn plugins_place_by_scope_and_are_unique() {
    let c = base();
    let cfg = json!({"issuer": "http://127.0.0.1:1/"});
    assert_eq!(
        create(
            &c,
            Kind::Plugin,
            obj(json!({"name": "openid-connect", "service": {"id": SID}, "config": cfg})),
            NOW
        )
        .unwrap_err(),
        KongError::Unique(
            json!({"consumer": null, "name": "openid-connect", "route": null, "service": {"id": SID}})
        )
    );
    let w = create(
        &c,
        Kind::Plugin,
        obj(json!({"name": "openid-connect", "route": {"name": "httpbin-route"}, "config": cfg})),
        NOW,
    )
    .unwrap();
    assert_eq!(w.config.services[0].routes[0].plugins.len(), 1);
    let rid = w.config.services[0].routes[0].id;
    assert_eq!(
        get(&w.config, Kind::Plugin, &w.id.to_string())["route"],
        json!({"id": rid})
    );
    let g = create(
        &w.config,
        Kind::Plugin,
        obj(json!({"name": "openid-connect", "config": cfg})),
        NOW,
    )
    .unwrap();
    assert_eq!(g.config.plugins.len(), 1);
    assert_eq!(
        create(&c, Kind::Plugin, obj(json!({"name": "kafka-upstream"})), NOW).unwrap_err(),
        KongError::field(
            "name",
            "unknown plugin \"kafka-upstream\" (supported: correlation-id, bot-detection, cors, jwt, key-auth, basic-auth, openid-connect, hmac-auth, tls-handshake-modifier, ip-restriction, request-size-limiting, acl, rate-limiting, request-transformer, response-transformer, proxy-cache, opentelemetry, prometheus, http-log, file-log, request-termination)"
        )
    );
    assert_eq!(
        create(
            &c,
            Kind::Plugin,
            obj(json!({"name": "openid-connect", "config": {"issuer": "http://x/", "timeout": 0}})),
            NOW
        )
        .unwrap_err(),
        KongError::field("config.timeout", "value must be greater than 0")
    );
    assert_eq!(
        create(
            &c,
            Kind::Plugin,
            obj(json!({"name": "openid-connect", "consumer": {"id": SID}})),
            NOW
        )
        .unwrap_err(),
        KongError::ForeignKeyInvalid {
            field: "consumer",
            key: json!({"id": SID}),
            parent: "consumers"
        }
    );
}

#[test]
fn consumers_are_created_unique_and_patched() {
    let c = base();
    let w = create(
        &c,
        Kind::Consumer,
        obj(json!({"username": "alice", "custom_id": "c-1", "tags": ["a"]})),
        NOW,
    )
    .unwrap();
    round_trips(&w.config);
    let v = get(&w.config, Kind::Consumer, "alice");
    assert_eq!(v["custom_id"], "c-1");
    assert_eq!(v["created_at"], NOW);
    assert_eq!(v["id"], json!(w.id));
    let c = w.config;
    assert_eq!(
        create(&c, Kind::Consumer, obj(json!({"username": "alice"})), NOW).unwrap_err(),
        KongError::Unique(json!({"username": "alice"}))
    );
    assert_eq!(
        create(
            &c,
            Kind::Consumer,
            obj(json!({"username": "bob", "custom_id": "c-1"})),
            NOW
        )
        .unwrap_err(),
        KongError::Unique(json!({"custom_id": "c-1"}))
    );
    assert_eq!(
        create(&c, Kind::Consumer, obj(json!({"tags": ["x"]})), NOW).unwrap_err(),
        KongError::field(
            "",
            "at least one of these fields must be non-empty: 'custom_id', 'username'"
        )
    );
    let patched = update(
        &c,
        Kind::Consumer,
        "alice",
        obj(json!({"custom_id": "c-9"})),
        NOW,
    )
    .unwrap();
    assert_eq!(
        get(&patched.config, Kind::Consumer, "alice")["custom_id"],
        "c-9"
    );
    assert_eq!(
        update(&c, Kind::Consumer, "nobody", obj(json!({})), NOW).unwrap_err(),
        KongError::NotFound(json!({"username": "nobody"}))
    );
    // openid-connect is not a consumer plugin in Kong (`no_consumer`).
    assert_eq!(
        create(
            &c,
            Kind::Plugin,
            obj(json!({"name": "openid-connect", "consumer": {"id": w.id},
                       "config": {"issuer": "http://x/"}})),
            NOW
        )
        .unwrap_err(),
        KongError::field("consumer", "value must be null")
    );
    let gone = delete(&c, Kind::Consumer, "alice").unwrap().unwrap();
    assert!(gone.consumers.is_empty());
}

#[test]
fn deletes() {
    let c = base();
    assert_eq!(
        delete(&c, Kind::Service, "httpbin").unwrap_err(),
        KongError::ForeignKeyRestricted {
            parent: "services",
            child: "routes"
        }
    );
    assert!(delete(&c, Kind::Service, "nope").unwrap().is_none());
    let after = delete(&c, Kind::Service, "other").unwrap().unwrap();
    assert_eq!(after.services.len(), 1);
    let after = delete(&c, Kind::Plugin, PID).unwrap().unwrap();
    assert!(after.services[0].plugins.is_empty());
    // A global plugin scoped to a route goes with the route.
    let w = create(&c, Kind::Plugin, obj(json!({"name": "openid-connect", "service": {"id": SID}, "route": {"name": "httpbin-route"}, "config": {"issuer": "http://i/"}})), NOW).unwrap();
    assert_eq!(w.config.plugins.len(), 1);
    let after = delete(&w.config, Kind::Route, "httpbin-route")
        .unwrap()
        .unwrap();
    assert!(after.plugins.is_empty());
    assert!(after.services[0].routes.is_empty());
}

#[test]
fn a_consumers_plugin_nests_under_it_and_is_unique_there() {
    let c = create(
        &base(),
        Kind::Consumer,
        obj(json!({"username": "alice"})),
        NOW,
    )
    .unwrap();
    let cid = c.id;
    let input =
        || obj(json!({"name": "rate-limiting", "consumer": {"id": cid}, "config": {"minute": 5}}));
    let w = create(&c.config, Kind::Plugin, input(), NOW).unwrap();
    round_trips(&w.config);
    assert_eq!(w.config.consumers[0].plugins.len(), 1);
    assert!(w.config.consumers[0].plugins[0].typed.is_some());
    let v = get(&w.config, Kind::Plugin, &w.id.to_string());
    assert_eq!(v["consumer"], json!({"id": cid}));
    assert_eq!(v["service"], Value::Null);
    assert_eq!(v["config"]["minute"], json!(5));
    assert_eq!(
        create(&w.config, Kind::Plugin, input(), NOW).unwrap_err(),
        KongError::Unique(
            json!({"consumer": {"id": cid}, "name": "rate-limiting", "route": null, "service": null})
        )
    );
    // A global rate-limiting plugin is another scope.
    let global = obj(json!({"name": "rate-limiting", "config": {"minute": 9}}));
    assert!(create(&w.config, Kind::Plugin, global, NOW).is_ok());
    // PATCH keeps it under its consumer.
    let p = update(
        &w.config,
        Kind::Plugin,
        &w.id.to_string(),
        obj(json!({"config": {"minute": 7}})),
        NOW,
    )
    .unwrap();
    assert_eq!(p.config.consumers[0].plugins[0].config["minute"], json!(7));
    // A consumer + service plugin lands in the consumer's plugins, naming the service (decK's form).
    let with_service = obj(json!({"name": "rate-limiting", "consumer": {"id": cid},
                                  "service": {"id": SID}, "config": {"minute": 1}}));
    let w2 = create(&w.config, Kind::Plugin, with_service, NOW).unwrap();
    let nested = &w2.config.consumers[0].plugins;
    assert_eq!(nested.len(), 2, "{nested:?}");
    assert!(nested.iter().any(|p| p.service.is_some()), "{nested:?}");
    let gone = delete(&w.config, Kind::Consumer, "alice").unwrap().unwrap();
    assert!(entity::entries(&gone, Kind::Plugin)
        .iter()
        .all(|e| e.consumer.is_none()));
}
