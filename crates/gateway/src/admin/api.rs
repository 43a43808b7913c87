//! The Admin API's routes: Kong's `services`, `routes` and `plugins` collections and entities, top-level
//! and nested under their service or route; `upstreams` and their `targets`; `certificates` and their
//! `snis`; `consumers` and their plugins.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use gateway_config::kong::Kind;
use serde_json::{json, Value};

use super::handlers::{self, Parent};
use super::{health, schemas, tags};
use crate::state::AppState;

type St = State<Arc<AppState>>;
type Q = Query<HashMap<String, String>>;

/// The entity routes (merged into the admin app, which adds fallbacks and the token check).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/services", collection(Kind::Service))
        .route("/services/{key}", item(Kind::Service))
        .route(
            "/services/{key}/routes",
            nested_collection(Kind::Route, Parent::service),
        )
        .route(
            "/services/{key}/routes/{child}",
            nested_item(Kind::Route, Parent::service),
        )
        .route(
            "/services/{key}/plugins",
            nested_collection(Kind::Plugin, Parent::service),
        )
        .route(
            "/services/{key}/plugins/{child}",
            nested_item(Kind::Plugin, Parent::service),
        )
        .route("/routes", collection(Kind::Route))
        .route("/routes/{key}", item(Kind::Route))
        .route(
            "/routes/{key}/plugins",
            nested_collection(Kind::Plugin, Parent::route),
        )
        .route(
            "/routes/{key}/plugins/{child}",
            nested_item(Kind::Plugin, Parent::route),
        )
        .route("/schemas/plugins/validate", post(schemas::validate_plugin))
        .route("/schemas/plugins/{name}", get(schemas::plugin))
        .route("/schemas/{name}", get(schemas::entity))
        .route("/schemas/{name}/validate", post(schemas::validate_entity))
        .route("/tags", get(tags::all))
        .route("/tags/{tag}", get(tags::one))
        .route("/plugins", collection(Kind::Plugin))
        .route("/plugins/enabled", get(enabled_plugins))
        .route("/plugins/{key}", item(Kind::Plugin))
        .route("/consumers", collection(Kind::Consumer))
        .route("/consumers/{key}", item(Kind::Consumer))
        .route(
            "/consumers/{key}/plugins",
            nested_collection(Kind::Plugin, Parent::consumer),
        )
        .route(
            "/consumers/{key}/plugins/{child}",
            nested_item(Kind::Plugin, Parent::consumer),
        )
        .route("/upstreams", collection(Kind::Upstream))
        .route("/upstreams/{key}", item(Kind::Upstream))
        .route(
            "/upstreams/{key}/targets",
            nested_collection(Kind::Target, Parent::upstream),
        )
        .route(
            "/upstreams/{key}/targets/all",
            get(|State(st): St, Path(p): Path<String>, Query(q): Q| {
                handlers::list(st, Kind::Target, Parent::upstream(p), q)
            }),
        )
        .route(
            "/upstreams/{key}/targets/{child}",
            nested_item(Kind::Target, Parent::upstream),
        )
        .route("/certificates", collection(Kind::Certificate))
        .route("/certificates/{key}", item(Kind::Certificate))
        .route(
            "/certificates/{key}/snis",
            nested_collection(Kind::Sni, Parent::certificate),
        )
        .route(
            "/certificates/{key}/snis/{child}",
            nested_item(Kind::Sni, Parent::certificate),
        )
        .route("/ca_certificates", collection(Kind::CaCertificate))
        .route("/ca_certificates/{key}", item(Kind::CaCertificate))
        .route("/snis", collection(Kind::Sni))
        .route("/snis/{key}", item(Kind::Sni))
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
