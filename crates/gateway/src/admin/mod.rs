//! The admin listener: Kong-style node info and status, Prometheus metrics, and the Admin API; and Kong's
//! `status_listen` listener (`/status` and `/metrics` only).
//!
//! `api` (routes) → `handlers` (generic entity handlers) → `persist` (the serialised write path);
//! `body` reads request bodies, `auth` checks the optional admin token, `error` renders Kong's errors.

mod api;
mod auth;
mod body;
mod config;
mod error;
mod handlers;
mod health;
mod keys;
mod persist;
mod proxy_cache;
mod purge;
mod schemas;
mod tags;
#[cfg(test)]
mod tests;

use crate::state::AppState;
use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use error::ApiError;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The axum application served on `admin_listen`.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(node_info))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/config", get(config::get).post(config::post))
        .route("/clustering/data-planes", get(data_planes))
        .route("/openid-connect/purge", axum::routing::post(purge::purge))
        .merge(api::routes())
        .merge(keys::routes())
        .merge(proxy_cache::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state)
}

async fn node_info(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let snap = state.snapshot.load();
    Json(json!({
        "tagline": "Welcome to gateway",
        "version": env!("CARGO_PKG_VERSION"),
        "edition": "community",
        "hostname": hostname(),
        "node_id": state.store.as_ref().map_or_else(node_id, |s| s.node_id.clone()),
        "configuration": {
            "database": "off",
            "declarative_config": state.config_path.display().to_string(),
            "proxy_listen": [snap.config.gateway.proxy_listen],
            "admin_listen": [snap.config.gateway.admin_listen],
            "plugins": gateway_config::plugins::names(),
        },
        "plugins": plugins_info(&snap.config),
    }))
}

/// Kong 3's `plugins` of `GET /`: `available_on_server` maps each plugin this build has to its version and
/// priority; `enabled_in_cluster` lists the distinct names of the configured plugins.
fn plugins_info(config: &gateway_config::model::Config) -> serde_json::Value {
    use gateway_config::kong::{entity, Kind};
    let available: serde_json::Map<String, serde_json::Value> = gateway_config::plugins::PLUGINS
        .iter()
        .map(|p| {
            let info = json!({ "version": env!("CARGO_PKG_VERSION"), "priority": p.priority });
            (p.name.to_string(), info)
        })
        .collect();
    let mut enabled: Vec<String> = Vec::new();
    for e in entity::entries(config, Kind::Plugin) {
        if let Some(p) = entity::plugin_at(config, e.loc) {
            if !enabled.contains(&p.name) {
                enabled.push(p.name.clone());
            }
        }
    }
    json!({ "available_on_server": available, "enabled_in_cluster": enabled })
}

async fn status(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let snap = state.snapshot.load();
    let loaded_at = snap
        .loaded_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let mut body = json!({
        "database": { "reachable": true },
        "server": { "connections_active": null },
        "configuration_hash": snap.hash,
        "config": {
            "path": state.config_path.display().to_string(),
            "hash": snap.hash,
            "loaded_at": loaded_at,
            "services": snap.config.services.len(),
        },
    });
    if let Some(store) = &state.store {
        // The node's etcd view: the revision it runs, the last it processed, whether etcd answers.
        body["database"]["reachable"] = json!(store.reachable());
        body["config"]["store"] = json!("etcd");
        body["config"]["key"] = json!(store.settings.config_key());
        body["config"]["revision"] = json!(store.applied());
        body["config"]["seen_revision"] = json!(store.seen());
        body["config"]["node_id"] = json!(store.node_id);
    }
    Json(body)
}

/// `GET /clustering/data-planes`: the nodes registered in etcd (Kong's hybrid-mode list); on a file-backed
/// node, Kong's 400 for a node that is not a control plane.
async fn data_planes(
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(store) = &state.store else {
        return Err(ApiError::BadRequest(
            "this endpoint is only available when the gateway's config_store is etcd".into(),
        ));
    };
    crate::config_store::nodes::list(store)
        .await
        .map(Json)
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::scrape(&state),
    )
        .into_response()
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

pub(crate) fn node_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string()).clone()
}

/// The app of Kong's `status_listen`: `GET /status` and `GET /metrics` only, without the admin token (as
/// Kong's status API, meant for probes and scrapers).
pub fn status_app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .fallback(error::not_found)
        .with_state(state)
}

/// Serves the admin app (or the status app) as a Pingora background service.
pub struct AdminService {
    state: Arc<AppState>,
    listen: String,
    app: fn(Arc<AppState>) -> Router,
    what: &'static str,
}

impl AdminService {
    /// An admin service for `state` listening on `listen`.
    pub fn new(state: Arc<AppState>, listen: String) -> Self {
        Self {
            state,
            listen,
            app,
            what: "admin",
        }
    }

    /// The `status_listen` service for `state` listening on `listen`.
    pub fn status(state: Arc<AppState>, listen: String) -> Self {
        Self {
            state,
            listen,
            app: status_app,
            what: "status",
        }
    }
}

#[async_trait]
impl BackgroundService for AdminService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // During a binary upgrade the old process still holds the admin port for a few seconds:
        // keep trying until it lets go (or we are asked to stop).
        let listener = loop {
            match tokio::net::TcpListener::bind(&self.listen).await {
                Ok(l) => break l,
                Err(e) => {
                    log::warn!(
                        "{} listener {}: {e}; retrying in 1 s",
                        self.what,
                        self.listen
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        };
        log::info!("{} API listening on {}", self.what, self.listen);
        let app = (self.app)(self.state.clone());
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        });
        if let Err(e) = serve.await {
            log::error!("{} listener stopped: {e}", self.what);
        }
    }
}
