//! proxy-cache's Admin API (`kong/plugins/proxy-cache/api.lua`): `DELETE /proxy-cache` empties the cache;
//! `GET`/`DELETE /proxy-cache/{cache_key}` read or purge an entry when a proxy-cache plugin is configured;
//! `GET`/`DELETE /proxy-cache/{plugin_id}/caches/{cache_key}` the same through one plugin. Kong's statuses:
//! 200 with the stored entry, 204 after a purge, 404 with an empty body. The gateway has one cache for every
//! proxy-cache plugin (Kong's memory strategy shares one dictionary the same way), so a key names the same
//! entry whichever plugin is named.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gateway_config::kong::{entity, Kind};
use gateway_config::model::Config;

use crate::plugins::proxy_cache::store::Entry;
use crate::state::AppState;

type St = State<Arc<AppState>>;

/// The routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/proxy-cache", axum::routing::delete(flush))
        .route("/proxy-cache/{key}", get(read_any).delete(purge_any))
        .route(
            "/proxy-cache/{plugin}/caches/{key}",
            get(read_one).delete(purge_one),
        )
}

/// The ids of the configured proxy-cache plugins.
fn plugins(config: &Config) -> Vec<uuid::Uuid> {
    entity::entries(config, Kind::Plugin)
        .into_iter()
        .filter_map(|e| entity::plugin_at(config, e.loc))
        .filter(|p| p.name == "proxy-cache")
        .map(|p| p.id)
        .collect()
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

async fn flush(State(st): St) -> Response {
    st.snapshot.load().response_cache.flush();
    empty(StatusCode::NO_CONTENT)
}

/// The entry stored under `key`, when `plugin` (any proxy-cache plugin when `None`) is configured.
fn found(st: &AppState, plugin: Option<&str>, key: &str) -> Option<Arc<Entry>> {
    let snap = st.snapshot.load();
    let ids = plugins(&snap.config);
    let known = match plugin {
        None => !ids.is_empty(),
        Some(p) => uuid::Uuid::parse_str(p).is_ok_and(|id| ids.contains(&id)),
    };
    known.then(|| snap.response_cache.get(key)).flatten()
}

fn read(st: &AppState, plugin: Option<&str>, key: &str) -> Response {
    match found(st, plugin, key) {
        Some(entry) => (StatusCode::OK, Json(entry.view())).into_response(),
        None => empty(StatusCode::NOT_FOUND),
    }
}

fn purge(st: &AppState, plugin: Option<&str>, key: &str) -> Response {
    if found(st, plugin, key).is_none() {
        return empty(StatusCode::NOT_FOUND);
    }
    st.snapshot.load().response_cache.purge(key);
    empty(StatusCode::NO_CONTENT)
}

async fn read_any(State(st): St, Path(key): Path<String>) -> Response {
    read(&st, None, &key)
}

async fn purge_any(State(st): St, Path(key): Path<String>) -> Response {
    purge(&st, None, &key)
}

async fn read_one(State(st): St, Path((plugin, key)): Path<(String, String)>) -> Response {
    read(&st, Some(&plugin), &key)
}

async fn purge_one(State(st): St, Path((plugin, key)): Path<(String, String)>) -> Response {
    purge(&st, Some(&plugin), &key)
}
