//! Handler tests of the admin app over `tower::ServiceExt::oneshot` (no socket): shapes, codes, persistence.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gateway_auth::AuthRegistry;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::app;
use crate::server::Overrides;
use crate::snapshot;
use crate::state::AppState;

const SID: &str = "5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd";
const PID: &str = "5f35b796-ced6-4c00-9b2a-90eef745f4f9";

fn yaml(extra_gateway: &str) -> String {
    format!(
        r#"# header comment
_format_version: "3.0"
gateway:
  proxy_listen: 127.0.0.1:18000
{extra_gateway}
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
          client_secret: [kong-secret]
          auth_methods: [introspection]
"#
    )
}

struct Fixture {
    dir: PathBuf,
    state: Arc<AppState>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fixture {
    fn new(text: &str) -> Fixture {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gw-admin-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gateway.yaml");
        std::fs::write(&path, text).unwrap();
        let config = gateway_config::load::parse_str(text).unwrap();
        let config_as_written = config.clone();
        let prometheus = prometheus::Registry::new();
        let registry = AuthRegistry::new(&prometheus);
        let snap = snapshot::compile(config, text, &registry).unwrap();
        let metrics = Arc::new(crate::metrics::Metrics::new(&prometheus).unwrap());
        let file = crate::control::FileState::of(text, &config_as_written);
        let state = Arc::new(AppState::new(
            path,
            file,
            snap,
            registry,
            Overrides::default(),
            prometheus.clone(),
            metrics,
            crate::dns::Resolver::new(&Default::default(), &prometheus).unwrap(),
        ));
        Fixture { dir, state }
    }

    fn file(&self) -> String {
        std::fs::read_to_string(&self.state.config_path).unwrap()
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, String) {
        let resp = app(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        ctype: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        let (status, text) = self
            .send(req.body(Body::from(body.to_string())).unwrap())
            .await;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    async fn json(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, uri, Some("application/json"), &body.to_string())
            .await
    }

    async fn form(&self, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
        self.call(method, uri, Some("application/x-www-form-urlencoded"), body)
            .await
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn node_info_status_metrics_still_work() {
    let f = Fixture::new(&yaml(""));
    assert_eq!(f.call("GET", "/", None, "").await.0, StatusCode::OK);
    let (s, v) = f.call("GET", "/status", None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["config"]["services"], 1);
    let (s, _) = f
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::OK);
    // A file-backed node has no etcd view: no revision, and Kong's 400 for the data-plane list.
    assert!(v["config"].get("revision").is_none(), "{v}");
    let (s, v) = f.call("GET", "/clustering/data-planes", None, "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["message"],
        "this endpoint is only available when the gateway's config_store is etcd"
    );
}

#[tokio::test]
async fn how_to_patch_lands_in_file_and_snapshot() {
    let f = Fixture::new(&yaml(""));
    let (s, v) = f
        .form(
            "PATCH",
            &format!("/plugins/{PID}"),
            "config.bearer_token_param_type=header&config.auth_methods=introspection&config.auth_methods=password",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["config"]["auth_methods"],
        json!(["introspection", "password"])
    );
    assert_eq!(v["config"]["bearer_token_param_type"], json!(["header"]));
    assert_eq!(v["config"]["timeout"], 10000);
    assert_eq!(v["service"], json!({"id": SID}));
    assert!(v["updated_at"].as_i64().is_some());
    let file = f.file();
    assert!(file.starts_with("# header comment\n"), "{file}");
    let on_disk = gateway_config::load::parse_str(&file).unwrap();
    assert_eq!(
        on_disk.services[0].plugins[0].config["auth_methods"],
        json!(["introspection", "password"])
    );
    assert_eq!(on_disk.gateway.proxy_listen, "127.0.0.1:18000");
    let snap = f.state.snapshot.load();
    assert_eq!(*snap.config, on_disk);
    assert_eq!(
        snap.hash,
        blake3::hash(file.as_bytes()).to_hex().to_string()
    );
}

#[tokio::test]
async fn refused_patch_changes_nothing() {
    let f = Fixture::new(&yaml(""));
    let before = f.file();
    let hash = f.state.snapshot.load().hash.clone();
    let (s, v) = f
        .form("PATCH", &format!("/plugins/{PID}"), "config.timeout=abc")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!({"code":2,"name":"schema violation",
            "message":"schema violation (config.timeout: expected a number)",
            "fields":{"config":{"timeout":"expected a number"}}})
    );
    let (s, v) = f
        .json(
            "PATCH",
            &format!("/plugins/{PID}"),
            json!({"config": {"auth_methods": ["nope"], "bogus": 1}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["fields"]["config"]["bogus"], "unknown field");
    let (s, v) = f
        .json(
            "PATCH",
            &format!("/plugins/{PID}"),
            json!({"config": {"timeout": 0}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["fields"],
        json!({"config": {"timeout": "value must be greater than 0"}})
    );
    assert_eq!(f.file(), before);
    assert_eq!(f.state.snapshot.load().hash, hash);
}

#[tokio::test]
async fn body_errors() {
    let f = Fixture::new(&yaml(""));
    let uri = format!("/plugins/{PID}");
    let (s, v) = f
        .call("PATCH", &uri, Some("application/json"), "{nope")
        .await;
    assert_eq!(
        (s, v),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Cannot parse JSON body"})
        )
    );
    let (s, text) = f
        .send(
            Request::patch(&uri)
                .header("content-type", "text/plain")
                .body(Body::from("x=1"))
                .unwrap(),
        )
        .await;
    assert_eq!((s, text.as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, ""));
    let (s, text) = f
        .send(Request::patch(&uri).body(Body::from("x=1")).unwrap())
        .await;
    assert_eq!((s, text.as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, ""));
    let big = "a".repeat(super::body::MAX_BODY + 1);
    let (s, _) = f.call("PATCH", &uri, Some(FORM), &big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // An empty body with any content type is an empty PATCH.
    let (s, _) = f.call("PATCH", &uri, Some("text/plain"), "").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn not_found_and_method_not_allowed() {
    let f = Fixture::new(&yaml(""));
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        f.call("GET", "/services/nope", None, "").await,
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );
    assert_eq!(
        f.call("GET", "/nothing/here", None, "").await,
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );
    assert_eq!(
        f.call("DELETE", "/services", None, "").await,
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "Method not allowed"})
        )
    );
    assert_eq!(
        f.form("PATCH", &format!("/plugins/{missing}"), "enabled=false")
            .await,
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );
    assert_eq!(
        f.form("PATCH", &format!("/services/{missing}"), "retries=1")
            .await,
        (
            StatusCode::NOT_FOUND,
            json!({"code": 6, "name": "not found",
            "message": format!("could not find the entity with primary key '{{id=\"{missing}\"}}'"),
            "fields": {"id": missing.to_string()}})
        )
    );
    assert_eq!(
        f.call("GET", "/services/nope/routes", None, "").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.call("DELETE", "/services/nope/routes/x", None, "")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.call("DELETE", &format!("/routes/{missing}"), None, "")
            .await
            .0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn crud_round_trip() {
    let f = Fixture::new(&yaml(""));
    let (s, svc) = f
        .form(
            "POST",
            "/services",
            "name=orders&url=http://127.0.0.1:9000/api&tags[]=a&retries=3",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{svc}");
    assert_eq!(svc["port"], 9000);
    assert_eq!(svc["tags"], json!(["a"]));
    assert_eq!(svc["retries"], 3);
    let (s, v) = f
        .json(
            "POST",
            "/services",
            json!({"name": "orders", "host": "localhost"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["code"], 5);
    assert_eq!(
        v["message"],
        "UNIQUE violation detected on '{name=\"orders\"}'"
    );

    let (s, route) = f
        .form(
            "POST",
            "/services/orders/routes",
            "name=orders-r&paths[2]=/b&paths[1]=/a&methods=GET",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{route}");
    assert_eq!(route["paths"], json!(["/a", "/b"]));
    assert_eq!(route["methods"], json!(["GET"]));
    assert_eq!(route["service"], json!({"id": svc["id"]}));
    let (s, list) = f.call("GET", "/services/orders/routes", None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list, json!({"data": [route.clone()], "next": null}));
    let (s, list) = f.call("GET", "/routes?size=1", None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["next"], "/routes?offset=1&size=1");

    let (s, v) = f.call("DELETE", "/services/orders", None, "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["code"], 4);
    let (s, v) = f
        .json(
            "PUT",
            "/routes/orders-r",
            json!({"paths": ["/c"], "service": {"name": "orders"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["id"].clone(), v["methods"].clone()),
        (route["id"].clone(), Value::Null)
    );
    assert_eq!(
        f.call("DELETE", "/routes/orders-r", None, "").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        f.call("DELETE", "/services/orders", None, "").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        f.call("GET", "/services/orders", None, "").await.0,
        StatusCode::NOT_FOUND
    );
    let on_disk = gateway_config::load::parse_str(&f.file()).unwrap();
    assert_eq!(on_disk.services.len(), 1);

    // Host names are resolved per request, never when a config is compiled: a name that does not resolve
    // (yet) is a valid service (requests to it answer 503 "name resolution failed").
    let (s, v) = f
        .json(
            "POST",
            "/services",
            json!({"name": "later", "host": "no-such-host.invalid"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["host"], "no-such-host.invalid");
}

#[tokio::test]
async fn multipart_post() {
    let f = Fixture::new(&yaml(""));
    let body = "--b0\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nmp\r\n\
                --b0\r\nContent-Disposition: form-data; name=\"host\"\r\n\r\nlocalhost\r\n\
                --b0\r\nContent-Disposition: form-data; name=\"port\"\r\n\r\n8081\r\n--b0--\r\n";
    let (s, v) = f
        .call(
            "POST",
            "/services",
            Some("multipart/form-data; boundary=b0"),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["port"], 8081);
}

#[tokio::test]
async fn concurrent_writes_are_serialised() {
    let f = Fixture::new(&yaml(""));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let state = f.state.clone();
        tasks.push(tokio::spawn(async move {
            let req = Request::post("/services")
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"name": format!("s{i}"), "host": "localhost"}).to_string(),
                ))
                .unwrap();
            app(state).oneshot(req).await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let on_disk = gateway_config::load::parse_str(&f.file()).unwrap();
    assert_eq!(on_disk.services.len(), 21);
}

#[tokio::test]
async fn admin_token() {
    let f = Fixture::new(&yaml("  admin_token: s3cret"));
    let (s, v) = f.call("GET", "/services", None, "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        v["message"],
        "Invalid credentials. Token or User credentials required"
    );
    let (s, _) = f
        .send(
            Request::get("/services")
                .header("kong-admin-token", "wrong")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = f
        .send(
            Request::get("/services")
                .header("kong-admin-token", "s3cret")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // The token stays in the file after a write.
    let (s, _) = f
        .send(
            Request::patch("/services/httpbin")
                .header("kong-admin-token", "s3cret")
                .header("content-type", FORM)
                .body(Body::from("retries=2"))
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(f.file().contains("admin_token: s3cret"));
}

mod credentials;
mod upstreams;

/// A plugin scoped to a consumer and a route (Kong's combination): written by `POST /plugins`, shown with
/// its three references, kept in the file, and refused for a consumer that does not exist.
#[tokio::test]
async fn consumer_and_route_scoped_plugin() {
    let f = Fixture::new(&yaml(""));
    let (s, c) = f
        .json("POST", "/consumers", json!({"username": "alice"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let body = json!({"name": "rate-limiting", "consumer": {"id": c["id"]},
                      "route": {"name": "httpbin-route"}, "config": {"minute": 3}});
    let (s, p) = f.json("POST", "/plugins", body).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["consumer"], json!({"id": c["id"]}), "{p}");
    assert!(p["route"]["id"].is_string(), "{p}");
    assert_eq!(p["service"], Value::Null, "{p}");
    // Written in the consumer's plugins, naming the route (decK's form).
    let file: serde_yaml::Value = serde_yaml::from_str(&f.file()).unwrap();
    let nested = &file["consumers"][0]["plugins"][0];
    assert_eq!(nested["name"], "rate-limiting", "{}", f.file());
    assert!(nested["route"]["id"].is_string(), "{}", f.file());
    let before = f.file();
    let ghost = json!({"name": "rate-limiting", "consumer": {"username": "ghost"}, "config": {"minute": 1}});
    let (s, v) = f.json("POST", "/plugins", ghost).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(f.file(), before, "a refused write leaves the file alone");
}
