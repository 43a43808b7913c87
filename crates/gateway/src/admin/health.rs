//! Kong's health endpoints: `GET /upstreams/{u}/health` (each target with its health and addresses, or the
//! balancer's with `?balancer_health=1`) and `PUT|POST /upstreams/{u}/targets/{t}[/{address}]/healthy|
//! unhealthy` (set by hand; the next check that crosses a threshold may flip it again, as in Kong).

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gateway_config::kong::{entity, Kind};
use serde_json::{json, Value};

use super::error::ApiError;
use super::handlers::{find_child, target_key, Parent};
use crate::balancer::UpstreamBalancer;
use crate::state::AppState;

/// The upstream `key` designates and its running balancer.
async fn balancer_of(state: &AppState, key: &str) -> Result<Arc<UpstreamBalancer>, ApiError> {
    let snap = state.snapshot.load_full();
    let upstream = entity::find(&snap.config, Kind::Upstream, key).ok_or(ApiError::NotFound)?;
    let balancer = snap
        .balancer(upstream.id)
        .cloned()
        .ok_or_else(|| ApiError::BadRequest(format!("Upstream {key} has no balancer")))?;
    // Host-name targets are looked up when the last lookup is stale, so a fresh upstream shows addresses.
    balancer.refresh(state.balancers.resolver()).await;
    Ok(balancer)
}

/// `GET /upstreams/{u}/health`.
pub async fn health(
    state: Arc<AppState>,
    key: String,
    query: HashMap<String, String>,
) -> Result<Json<Value>, ApiError> {
    let balancer = balancer_of(&state, &key).await?;
    let node_id = super::node_id();
    if query.get("balancer_health").map(String::as_str) == Some("1") {
        return Ok(Json(json!({
            "data": balancer.balancer_health(),
            "next": null,
            "node_id": node_id,
        })));
    }
    let snap = state.snapshot.load();
    let data: Vec<Value> = balancer
        .target_health()
        .into_iter()
        .filter_map(|h| {
            let t = balancer.targets.get(h.target)?;
            let e = entity::entries(&snap.config, Kind::Target)
                .into_iter()
                .find(|e| e.id == t.entity.id)?;
            let mut view = entity::view(&snap.config, &e);
            if let Value::Object(m) = &mut view {
                m.insert("health".into(), json!(h.health));
                m.insert("data".into(), h.data);
            }
            Some(view)
        })
        .collect();
    Ok(Json(json!({
        "data": data,
        "total": data.len(),
        "next": null,
        "node_id": node_id,
    })))
}

/// `PUT|POST /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy`: 204, or Kong's 400 / 404.
pub async fn set(
    state: Arc<AppState>,
    key: String,
    target: String,
    address: Option<String>,
    healthy: bool,
) -> Result<Response, ApiError> {
    let balancer = balancer_of(&state, &key).await?;
    let snap = state.snapshot.load();
    let parent = Parent::upstream(key);
    let entry = find_child(
        &snap.config,
        Kind::Target,
        &target_key(Kind::Target, target),
        &parent,
    )?
    .ok_or(ApiError::NotFound)?;
    let index = balancer
        .targets
        .iter()
        .position(|t| t.entity.id == entry.id)
        .ok_or(ApiError::NotFound)?;
    balancer
        .post_health(index, address.as_deref(), healthy)
        .map_err(ApiError::BadRequest)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
