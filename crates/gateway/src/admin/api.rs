//! The Admin API's routes: Kong's `services`, `routes` and `plugins` collections and entities, top-level
//! and nested under their service or route; `upstreams` and their `targets`; `certificates` and their
//! `snis`; `consumers` and their plugins; the credential kinds (`/key-auths`, `/consumers/{c}/key-auth`, …),
//! whose routes come from their declarations.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use gateway_config::kong::{CredKind, Kind};
use serde_json::{json, Value};

use super::handlers::{self, Parent};
use super::{health, schemas, tags};
use crate::state::AppState;

type St = State<Arc<AppState>>;
type Q = Query<HashMap<String, String>>;

/// The entity routes (merged into the admin app, which adds fallbacks and the token check).
pub fn routes() -> Router<Arc<AppState>> {
    let mut r = Router::new();
    for (path, kind) in [
        ("/services", Kind::Service),
        ("/routes", Kind::Route),
        ("/plugins", Kind::Plugin),
        ("/consumers", Kind::Consumer),
        ("/upstreams", Kind::Upstream),
        ("/certificates", Kind::Certificate),
        ("/snis", Kind::Sni),
        ("/ca_certificates", Kind::CaCertificate),
    ] {
        r = top(r, path, kind);
    }
    for (parent, path, kind, mk) in [
        (
            "/services",
            "routes",
            Kind::Route,
            Parent::service as MkParent,
        ),
        ("/services", "plugins", Kind::Plugin, Parent::service),
        ("/routes", "plugins", Kind::Plugin, Parent::route),
        ("/consumers", "plugins", Kind::Plugin, Parent::consumer),
        ("/upstreams", "targets", Kind::Target, Parent::upstream),
        ("/certificates", "snis", Kind::Sni, Parent::certificate),
    ] {
        r = nested(r, &format!("{parent}/{{key}}/{path}"), kind, mk);
    }
    for k in CredKind::ALL {
        // Each credential kind's routes come from its declaration.
        let (kind, spec) = (Kind::Credential(k), k.spec());
        r = nested(
            r,
            &format!("/consumers/{{key}}/{}", spec.nested_name),
            kind,
            Parent::consumer,
        );
        let path = format!("/{}", spec.admin_api_name);
        r = top(r, &path, kind).route(
            &format!("{path}/{{key}}/consumer"),
            get(move |State(st): St, Path(key): Path<String>| handlers::owner(st, kind, key)),
        );
    }
    r.route("/schemas/plugins/validate", post(schemas::validate_plugin))
        .route("/schemas/plugins/{name}", get(schemas::plugin))
        .route("/schemas/{name}", get(schemas::entity))
        .route("/schemas/{name}/validate", post(schemas::validate_entity))
        .route("/tags", get(tags::all))
        .route("/tags/{tag}", get(tags::one))
        .route("/plugins/enabled", get(enabled_plugins))
        .route(
            "/upstreams/{key}/targets/all",
            get(|State(st): St, Path(p): Path<String>, Query(q): Q| {
                handlers::list(st, Kind::Target, Parent::upstream(p), q)
            }),
        )
        .route(
            "/upstreams/{key}/health",
            get(|State(st): St, Path(p): Path<String>, Query(q): Q| health::health(st, p, q)),
        )
        .route("/upstreams/{key}/targets/{child}/healthy", set_health(true))
        .route(
            "/upstreams/{key}/targets/{child}/unhealthy",
            set_health(false),
        )
        .route(
            "/upstreams/{key}/targets/{child}/{address}/healthy",
            set_address_health(true),
        )
        .route(
            "/upstreams/{key}/targets/{child}/{address}/unhealthy",
            set_address_health(false),
        )
}

/// Kong 3 takes `PUT`; Kong before 2.x took `POST`, which scripts still send: both are accepted.
fn set_health(healthy: bool) -> MethodRouter<Arc<AppState>> {
    let h = move |State(st): St, Path((u, t)): Path<(String, String)>| {
        health::set(st, u, t, None, healthy)
    };
    put(h).post(h)
}

fn set_address_health(healthy: bool) -> MethodRouter<Arc<AppState>> {
    type P3 = Path<(String, String, String)>;
    let h = move |State(st): St, Path((u, t, a)): P3| health::set(st, u, t, Some(a), healthy);
    put(h).post(h)
}

async fn enabled_plugins() -> Json<Value> {
    Json(json!({ "enabled_plugins": gateway_config::plugins::names() }))
}

fn collection(kind: Kind) -> MethodRouter<Arc<AppState>> {
    get(move |State(st): St, Query(q): Q| handlers::list(st, kind, None, q))
        .post(move |State(st): St, req: Request| handlers::create(st, kind, None, req))
}

fn item(kind: Kind) -> MethodRouter<Arc<AppState>> {
    get(move |State(st): St, Path(key): Path<String>| handlers::get(st, kind, key, None))
        .put(
            move |State(st): St, Path(key): Path<String>, req: Request| {
                handlers::put(st, kind, key, None, req)
            },
        )
        .patch(
            move |State(st): St, Path(key): Path<String>, req: Request| {
                handlers::patch(st, kind, key, None, req)
            },
        )
        .delete(move |State(st): St, Path(key): Path<String>| handlers::delete(st, kind, key, None))
}

type MkParent = fn(String) -> Option<Parent>;

/// `path` (list, create) and `path/{key}` (get, put, patch, delete).
fn top(router: Router<Arc<AppState>>, path: &str, kind: Kind) -> Router<Arc<AppState>> {
    router
        .route(path, collection(kind))
        .route(&format!("{path}/{{key}}"), item(kind))
}

/// A nested collection `path` and its items `path/{child}`, under the parent `mk` makes from `{key}`.
fn nested(
    router: Router<Arc<AppState>>,
    path: &str,
    kind: Kind,
    mk: MkParent,
) -> Router<Arc<AppState>> {
    router
        .route(path, nested_collection(kind, mk))
        .route(&format!("{path}/{{child}}"), nested_item(kind, mk))
}

fn nested_collection(kind: Kind, parent: MkParent) -> MethodRouter<Arc<AppState>> {
    get(move |State(st): St, Path(p): Path<String>, Query(q): Q| {
        handlers::list(st, kind, parent(p), q)
    })
    .post(move |State(st): St, Path(p): Path<String>, req: Request| {
        handlers::create(st, kind, parent(p), req)
    })
}

fn nested_item(kind: Kind, parent: MkParent) -> MethodRouter<Arc<AppState>> {
    type P2 = Path<(String, String)>;
    get(move |State(st): St, Path((p, key)): P2| handlers::get(st, kind, key, parent(p)))
        .put(move |State(st): St, Path((p, key)): P2, req: Request| {
            handlers::put(st, kind, key, parent(p), req)
        })
        .patch(move |State(st): St, Path((p, key)): P2, req: Request| {
            handlers::patch(st, kind, key, parent(p), req)
        })
        .delete(move |State(st): St, Path((p, key)): P2| handlers::delete(st, kind, key, parent(p)))
}
