//! The Admin API's routes: Kong's `services`, `routes` and `plugins` collections and entities, top-level
//! and nested under their service or route; `upstreams` and their `targets`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use gateway_config::kong::Kind;
use serde_json::{json, Value};

use super::handlers::{self, Parent};
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
        .route("/plugins", collection(Kind::Plugin))
        .route("/plugins/enabled", get(enabled_plugins))
        .route("/plugins/{key}", item(Kind::Plugin))
        .route("/upstreams", collection(Kind::Upstream))
        .route("/upstreams/{key}", item(Kind::Upstream))
        .route(
            "/upstreams/{key}/targets",
            nested_collection(Kind::Target, Parent::upstream),
        )
        .route(
            "/upstreams/{key}/targets/{child}",
            nested_item(Kind::Target, Parent::upstream),
        )
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
