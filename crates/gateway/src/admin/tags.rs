//! Kong's `/tags` and `/tags/{tag}` (rows from `gateway_config::kong::tags`, paged like the lists).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use gateway_config::kong::page::{self, ListQuery};
use gateway_config::kong::tags;
use serde_json::Value;

use super::error::ApiError;
use crate::state::AppState;

fn query(q: &HashMap<String, String>) -> ListQuery {
    ListQuery {
        size: q.get("size").cloned(),
        offset: q.get("offset").cloned(),
        tags: None,
    }
}

/// `GET /tags`.
pub async fn all(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let snap = state.snapshot.load();
    Ok(Json(page::page(
        tags::rows(&snap.config, None),
        &query(&q),
        "/tags",
    )?))
}

/// `GET /tags/{tag}`.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Path(tag): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let snap = state.snapshot.load();
    let link = format!("/tags/{tag}");
    Ok(Json(page::page(
        tags::rows(&snap.config, Some(&tag)),
        &query(&q),
        &link,
    )?))
}
