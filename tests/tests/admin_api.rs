//! End-to-end tests of the Admin API over real HTTP: CRUD round trips (form and JSON), the how-to's PATCH,
//! coercion and arrays, Kong's error bodies, persistence to the YAML file, effect on the very next proxied
//! request, and 20 concurrent writers.

use e2e::admin::{form, get, json_req, send};
use e2e::{http, minimal_config, Gateway, Httpbin, Ports, Stack, JOHN, PLUGIN_ID, SERVICE_ID};
use serde_json::{json, Value};

const FORM: &str = "application/x-www-form-urlencoded";

/// The config file as YAML, parsed.
fn file_doc(gw: &Gateway) -> serde_yaml::Value {
    serde_yaml::from_str(&gw.config()).expect("the written config is YAML")
}

/// A gateway whose only service points at `upstream` (nothing needs to listen there unless proxied to).
fn gateway_for(upstream: &str) -> Gateway {
    Gateway::start(&minimal_config(Ports::free(), upstream, None))
}

fn proxy_status(gw: &Gateway, path: &str, basic: Option<(&str, &str)>) -> u16 {
    let mut req = http::client().get(format!("{}{path}", gw.proxy_url()));
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    req.send().expect("proxied request").status().as_u16()
}

#[test]
fn how_to_patch_is_persisted_and_followed_by_the_next_request() {
    let stack = Stack::start(&["introspection"], json!({}));
    let gw = &stack.gateway;
    let admin = gw.admin_url();
    assert_eq!(
        proxy_status(gw, "/get", Some(JOHN)),
        401,
        "password grant is off at first"
    );

    // The how-to, verbatim: http -f patch :8001/plugins/<id> config.bearer_token_param_type=header
    //   config.auth_methods=introspection config.auth_methods=password
    let (status, body) = form(
        reqwest::Method::PATCH,
        &format!("{admin}/plugins/{PLUGIN_ID}"),
        &[
            ("config.bearer_token_param_type", "header"),
            ("config.auth_methods", "introspection"),
            ("config.auth_methods", "password"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], PLUGIN_ID);
    assert_eq!(
        body["config"]["auth_methods"],
        json!(["introspection", "password"])
    );
    assert_eq!(body["config"]["bearer_token_param_type"], json!(["header"]));
    assert_eq!(
        body["config"]["timeout"], 10000,
        "full config with defaults"
    );
    assert_eq!(body["config"]["client_id"], json!(["kong"]));
    assert_eq!(body["service"], json!({"id": SERVICE_ID}));
    assert!(body["updated_at"].as_i64().is_some(), "{body}");

    let doc = file_doc(gw);
    let config = &doc["services"][0]["plugins"][0]["config"];
    assert_eq!(
        serde_json::to_value(config).unwrap()["auth_methods"],
        json!(["introspection", "password"]),
        "{}",
        gw.config()
    );
    assert_eq!(
        proxy_status(gw, "/get", Some(JOHN)),
        200,
        "the next request uses the password grant"
    );

    // And back: drop `password` with a JSON PATCH; Basic john:doe is refused on the very next request.
    let (status, body) = json_req(
        reqwest::Method::PATCH,
        &format!("{admin}/plugins/{PLUGIN_ID}"),
        json!({"config": {"auth_methods": ["introspection"]}}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["auth_methods"], json!(["introspection"]));
    assert_eq!(
        body["config"]["bearer_token_param_type"],
        json!(["header"]),
        "records merge"
    );
    assert_eq!(proxy_status(gw, "/get", Some(JOHN)), 401);
    let token = stack.idp.password_token(JOHN.0, JOHN.1);
    let resp = http::client()
        .get(format!("{}/get", gw.proxy_url()))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(gw.log().contains("admin API write applied"));
    assert!(!gw.log().contains(&token), "no token in the log");
}

#[test]
fn crud_round_trips_for_each_resource() {
    let httpbin = Httpbin::start();
    let gw = gateway_for(&httpbin.url());
    let admin = gw.admin_url();
    use reqwest::Method as M;

    // Services: form create (coercion: numbers, booleans, a lone tag → array), JSON read, PATCH, PUT.
    let (s, svc) = form(
        M::POST,
        &format!("{admin}/services"),
        &[
            ("name", "bin2"),
            ("url", &httpbin.url()),
            ("retries", "7"),
            ("enabled", "true"),
            ("tags", "demo"),
        ],
    );
    assert_eq!(s, 201, "{svc}");
    assert_eq!(
        (svc["retries"].clone(), svc["enabled"].clone()),
        (json!(7), json!(true))
    );
    assert_eq!(svc["tags"], json!(["demo"]));
    assert_eq!(svc["path"], Value::Null);
    assert_eq!(svc["created_at"], svc["updated_at"]);
    let sid = svc["id"].as_str().unwrap().to_string();
    assert_eq!(get(&format!("{admin}/services/bin2")), (200, svc.clone()));
    assert_eq!(get(&format!("{admin}/services/{sid}")), (200, svc.clone()));
    let (s, list) = get(&format!("{admin}/services"));
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["next"], Value::Null);
    let (s, v) = form(
        M::PATCH,
        &format!("{admin}/services/bin2"),
        &[("retries", "")],
    );
    assert_eq!(
        (s, v["retries"].clone()),
        (200, json!(5)),
        "an empty value resets to the default"
    );
    let (s, v) = json_req(
        M::PUT,
        &format!("{admin}/services/bin2"),
        json!({"url": format!("{}/anything", httpbin.url())}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["tags"].clone(), v["path"].clone()),
        (Some(sid.as_str()), Value::Null, json!("/anything"))
    );

    // Routes: nested create with positional indexes, then a path change the proxy follows at once.
    let (s, route) = form(
        M::POST,
        &format!("{admin}/services/bin2/routes"),
        &[
            ("name", "r2"),
            ("paths[2]", "/two-b"),
            ("paths[1]", "/two"),
            ("methods[]", "GET"),
            ("strip_path", "true"),
        ],
    );
    assert_eq!(s, 201, "{route}");
    assert_eq!(route["paths"], json!(["/two", "/two-b"]));
    assert_eq!(route["service"], json!({"id": sid}));
    let (s, nested) = get(&format!("{admin}/services/{sid}/routes"));
    assert_eq!((s, nested["data"].clone()), (200, json!([route.clone()])));
    assert_eq!(proxy_status(&gw, "/two/x", None), 200);
    let (s, v) = json_req(
        M::PATCH,
        &format!("{admin}/routes/r2"),
        json!({"paths": ["/moved"]}),
    );
    assert_eq!((s, v["paths"].clone()), (200, json!(["/moved"])), "{v}");
    let resp = http::client()
        .get(format!("{}/moved/x", gw.proxy_url()))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echoed: Value = resp.json().unwrap();
    assert_eq!(
        echoed["url"].as_str().map(|u| u.ends_with("/anything/x")),
        Some(true),
        "{echoed}"
    );
    assert_eq!(
        proxy_status(&gw, "/two/x", None),
        200,
        "`/` of the first route still matches"
    );

    // Plugins: JSON create on the route, list under the route, PUT resets the config to the body, delete.
    let (s, plugin) = json_req(
        M::POST,
        &format!("{admin}/routes/r2/plugins"),
        json!({"name": "openid-connect", "instance_name": "oidc-r2",
               "config": {"issuer": "http://127.0.0.1:9/issuer", "scopes_required": ["read"]}}),
    );
    assert_eq!(s, 201, "{plugin}");
    assert_eq!(plugin["route"], json!({"id": route["id"]}));
    assert_eq!(plugin["config"]["scopes_required"], json!(["read"]));
    assert_eq!(
        plugin["config"]["auth_methods"],
        json!(["password", "client_credentials", "introspection"])
    );
    let (s, listed) = get(&format!("{admin}/routes/r2/plugins"));
    assert_eq!(
        (s, listed["data"][0]["id"].clone()),
        (200, plugin["id"].clone())
    );
    assert_eq!(
        get(&format!("{admin}/plugins/oidc-r2")).1["id"],
        plugin["id"]
    );
    assert_eq!(
        proxy_status(&gw, "/moved/x", None),
        401,
        "the new plugin guards the route"
    );
    let (s, v) = form(
        M::PUT,
        &format!("{admin}/plugins/{}", plugin["id"].as_str().unwrap()),
        &[
            ("name", "openid-connect"),
            ("route.id", route["id"].as_str().unwrap()),
            ("config.issuer", "http://127.0.0.1:9/other"),
        ],
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["config"]["scopes_required"].clone(),
            v["instance_name"].clone()
        ),
        (Value::Null, Value::Null)
    );
    let (s, _) = send(http::client().delete(format!(
        "{admin}/plugins/{}",
        plugin["id"].as_str().unwrap()
    )));
    assert_eq!(s, 204);
    assert_eq!(proxy_status(&gw, "/moved/x", None), 200);

    // Deletes: a service with routes is refused, then route and service go; deleting again is still 204.
    let (s, v) = send(http::client().delete(format!("{admin}/services/bin2")));
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"code": 4, "name": "foreign key violation",
            "message": "an existing 'routes' entity references this 'services' entity",
            "fields": {"@referenced_by": "routes"}})
    );
    for url in [
        format!("{admin}/routes/r2"),
        format!("{admin}/services/bin2"),
        format!("{admin}/services/bin2"),
    ] {
        assert_eq!(send(http::client().delete(url)).0, 204);
    }
    assert_eq!(
        get(&format!("{admin}/routes/r2")),
        (404, json!({"message": "Not found"}))
    );
    assert_eq!(
        proxy_status(&gw, "/moved/x", None),
        200,
        "`/` catches it again"
    );
    let doc = file_doc(&gw);
    assert_eq!(
        doc["services"].as_sequence().map(Vec::len),
        Some(1),
        "{}",
        gw.config()
    );
}

#[test]
fn errors_have_kong_bodies_and_refused_writes_change_nothing() {
    let gw = gateway_for("http://127.0.0.1:9");
    let admin = gw.admin_url();
    use reqwest::Method as M;
    let route_id = e2e::ROUTE_ID;
    let before = gw.config();

    let (s, v) = form(
        M::PATCH,
        &format!("{admin}/routes/{route_id}"),
        &[("regex_priority", "high")],
    );
    assert_eq!(
        (s, v),
        (
            400,
            json!({"code": 2, "name": "schema violation",
            "message": "schema violation (regex_priority: expected an integer)",
            "fields": {"regex_priority": "expected an integer"}})
        )
    );
    let (s, v) = json_req(
        M::PATCH,
        &format!("{admin}/routes/{route_id}"),
        json!({"paths": ["nope"], "bogus": true}),
    );
    assert_eq!(
        (s, v),
        (
            400,
            json!({"code": 2, "name": "schema violation",
            "message": "schema violation (bogus: unknown field)",
            "fields": {"bogus": "unknown field"}})
        )
    );
    let (s, v) = json_req(
        M::PATCH,
        &format!("{admin}/routes/{route_id}"),
        json!({"paths": ["/ok", "nope"], "hosts": ["a b"]}),
    );
    assert_eq!(
        (s, v),
        (
            400,
            json!({"code": 2, "name": "schema violation",
            "message": "2 schema violations (hosts.1: invalid host \"a b\": expected a hostname or an IP address, with an optional port; paths.2: must start with \"/\")",
            "fields": {"hosts": ["invalid host \"a b\": expected a hostname or an IP address, with an optional port"],
                       "paths": [null, "must start with \"/\""]}})
        )
    );
    let (s, v) = json_req(
        M::PATCH,
        &format!("{admin}/routes/{route_id}"),
        json!({"paths": null}),
    );
    assert_eq!(s, 400);
    assert_eq!(
        v["fields"],
        json!({"@entity": ["must set at least one of methods, hosts, headers or paths"]})
    );
    let (s, v) = json_req(
        M::POST,
        &format!("{admin}/services"),
        json!({"name": "httpbin", "host": "localhost"}),
    );
    assert_eq!(
        (s, v),
        (
            409,
            json!({"code": 5, "name": "unique constraint violation",
            "message": "UNIQUE violation detected on '{name=\"httpbin\"}'", "fields": {"name": "httpbin"}})
        )
    );
    let (s, v) = json_req(
        M::POST,
        &format!("{admin}/services"),
        json!({"name": "x", "port": 70000}),
    );
    assert_eq!(
        (s, v),
        (
            400,
            json!({"code": 2, "name": "schema violation",
            "message": "2 schema violations (host: required field missing; port: must be between 1 and 65535)",
            "fields": {"host": "required field missing", "port": "must be between 1 and 65535"}})
        )
    );
    let missing = "0b7c7a0e-4c2d-4f5e-9a1b-2c3d4e5f6a7b";
    assert_eq!(
        get(&format!("{admin}/services/{missing}")),
        (404, json!({"message": "Not found"}))
    );
    assert_eq!(
        form(
            M::PATCH,
            &format!("{admin}/services/{missing}"),
            &[("retries", "1")]
        ),
        (
            404,
            json!({"code": 6, "name": "not found",
            "message": format!("could not find the entity with primary key '{{id=\"{missing}\"}}'"),
            "fields": {"id": missing}})
        )
    );
    assert_eq!(
        form(
            M::PATCH,
            &format!("{admin}/plugins/{missing}"),
            &[("enabled", "false")]
        ),
        (404, json!({"message": "Not found"}))
    );
    assert_eq!(
        send(http::client().delete(format!("{admin}/services"))),
        (405, json!({"message": "Method not allowed"}))
    );
    let (s, v) = send(
        http::client()
            .patch(format!("{admin}/routes/{route_id}"))
            .header("content-type", "application/json")
            .body("{not json"),
    );
    assert_eq!((s, v), (400, json!({"message": "Cannot parse JSON body"})));
    let (s, v) = send(
        http::client()
            .patch(format!("{admin}/routes/{route_id}"))
            .header("content-type", "text/plain")
            .body("paths=/x"),
    );
    assert_eq!((s, v), (415, Value::Null), "415 with an empty body");
    let big = format!("tags={}", "a".repeat(2 << 20));
    let (s, _) = send(
        http::client()
            .patch(format!("{admin}/routes/{route_id}"))
            .header("content-type", FORM)
            .body(big),
    );
    assert_eq!(s, 413);

    assert_eq!(
        gw.config(),
        before,
        "refused writes leave the file byte-identical"
    );
    assert_eq!(
        proxy_status(&gw, "/x", None),
        502,
        "and the running route unchanged (nothing listens upstream)"
    );
}

#[test]
fn concurrent_patches_from_20_clients_all_land() {
    let gw = gateway_for("http://127.0.0.1:9");
    let admin = gw.admin_url();
    for i in 0..20 {
        let (s, v) = form(
            reqwest::Method::POST,
            &format!("{admin}/services/httpbin/routes"),
            &[("name", &format!("r{i}")), ("paths", &format!("/r{i}"))],
        );
        assert_eq!(s, 201, "{v}");
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let admin = admin.clone();
                scope.spawn(move || {
                    form(
                        reqwest::Method::PATCH,
                        &format!("{admin}/routes/r{i}"),
                        &[
                            ("tags[]", &format!("client-{i}")),
                            ("paths", &format!("/patched-{i}")),
                        ],
                    )
                })
            })
            .collect();
        for h in handles {
            let (s, v) = h.join().expect("client thread");
            assert_eq!(s, 200, "{v}");
        }
    });
    let doc = serde_json::to_value(file_doc(&gw)).unwrap();
    let routes = doc["services"][0]["routes"]
        .as_array()
        .expect("routes in the file")
        .clone();
    for i in 0..20 {
        let r = routes
            .iter()
            .find(|r| r["name"] == format!("r{i}"))
            .unwrap_or_else(|| panic!("r{i} missing: {}", gw.config()));
        assert_eq!(r["tags"], json!([format!("client-{i}")]), "{r}");
        assert_eq!(r["paths"], json!([format!("/patched-{i}")]), "{r}");
    }
    let (s, list) = get(&format!("{admin}/routes?size=5"));
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(5));
    assert_eq!(list["next"], "/routes?offset=5&size=5");
    let metrics = e2e::metrics::metrics_text(&admin);
    assert!(
        metrics.contains(r#"gateway_config_reloads_total{result="ok",source="admin"} 40"#),
        "{metrics}"
    );
}

/// Issue 13's bug: an Admin API write used to re-read the file for its `gateway:` block and, when the file
/// could not be read or was hand-edited into something that is not a config, wrote `Settings::default()` —
/// dropping `admin_token`, so the next SIGHUP opened the Admin API to anyone. Now such a write is refused
/// (409) and changes nothing; the token stays in the file and in force.
#[test]
fn admin_writes_never_drop_the_admin_token() {
    const TOKEN: &str = "s3cret-admin";
    let mut config = e2e::config_value(Ports::free(), "http://127.0.0.1:9", None);
    config["gateway"]["admin_token"] = json!(TOKEN);
    let valid = e2e::to_yaml(&config);
    let gw = Gateway::start(&valid);
    let admin = gw.admin_url();
    let patch = |retries: &str| {
        send(
            http::client()
                .patch(format!("{admin}/services/httpbin"))
                .header("Kong-Admin-Token", TOKEN)
                .form(&[("retries", retries)]),
        )
    };
    let without_token = || get(&format!("{admin}/services")).0;
    assert_eq!(without_token(), 401);
    assert_eq!(patch("3").0, 200, "a write with the token works");
    assert!(gw.config().contains(TOKEN), "{}", gw.config());

    // Hand-edited into a YAML document that is not a config (the old code read no `gateway:` in it).
    let hand_edit = "not a gateway config\n";
    gw.write_config(hand_edit);
    let (status, body) = patch("4");
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("changed on disk"), "{body}");
    assert_eq!(
        gw.config(),
        hand_edit,
        "a refused write left the file as it was"
    );
    gw.signal(libc::SIGHUP);
    assert!(
        gw.wait_for_log("config reload refused", std::time::Duration::from_secs(20)),
        "{}",
        gw.log()
    );
    assert_eq!(without_token(), 401, "the token is still in force");

    // The file cannot be read at all (removed).
    std::fs::remove_file(gw.config_path()).expect("remove the config file");
    let (status, body) = patch("5");
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot read the config file"),
        "{body}"
    );
    assert!(!gw.config_path().exists(), "a refused write wrote no file");
    assert_eq!(without_token(), 401);

    // Restored and reloaded: writes work again and keep the token, also through the next reload.
    let mut restored = config.clone();
    restored["services"][0]["retries"] = json!(3);
    gw.write_config(&e2e::to_yaml(&restored));
    gw.signal(libc::SIGHUP);
    let reloaded = || gw.log().matches("config reloaded path=").count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while reloaded() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(reloaded(), 1, "{}", gw.log());
    let (status, body) = patch("6");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["retries"], 6);
    assert!(gw.config().contains(TOKEN), "{}", gw.config());
    gw.signal(libc::SIGHUP);
    while reloaded() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(reloaded(), 2, "{}", gw.log());
    assert_eq!(
        without_token(),
        401,
        "still protected after the next reload"
    );
}
