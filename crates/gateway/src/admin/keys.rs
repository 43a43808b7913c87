//! Kong's `/key-sets` and `/keys` (with `/key-sets/{set}/keys`), read-only: the entities come from the file
//! (or `POST /config`); writes through these collections are not built yet (405).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use gateway_config::keys::{designates, key_set_view, key_view};
use gateway_config::kong::page::{self, ListQuery};
use serde_json::Value;

use super::error::ApiError;
use crate::state::AppState;

type St = State<Arc<AppState>>;
type Q = Query<HashMap<String, String>>;
type Answer = Result<(StatusCode, Json<Value>), ApiError>;

/// The routes (GET only).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/key-sets", get(list_sets))
        .route("/key-sets/{key}", get(one_set))
        .route("/key-sets/{key}/keys", get(keys_of_set))
        .route("/keys", get(list_keys))
        .route("/keys/{key}", get(one_key))
}

fn query(q: &HashMap<String, String>) -> ListQuery {
    ListQuery {
        size: q.get("size").cloned(),
        offset: q.get("offset").cloned(),
        tags: q.get("tags").cloned(),
    }
}

fn paged(items: Vec<Value>, q: &HashMap<String, String>, link: &str) -> Answer {
    Ok((StatusCode::OK, Json(page::page(items, &query(q), link)?)))
}

async fn list_sets(State(st): St, Query(q): Q) -> Answer {
    let snap = st.snapshot.load();
    let items = snap.config.key_sets.iter().map(key_set_view).collect();
    paged(items, &q, "/key-sets")
}

async fn one_set(State(st): St, Path(key): Path<String>) -> Answer {
    let snap = st.snapshot.load();
    let set = (snap.config.key_sets.iter())
        .find(|s| designates(&key, s.id, s.name.as_deref()))
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::OK, Json(key_set_view(set))))
}

async fn keys_of_set(State(st): St, Path(key): Path<String>, Query(q): Q) -> Answer {
    let snap = st.snapshot.load();
    let set = (snap.config.key_sets.iter())
        .find(|s| designates(&key, s.id, s.name.as_deref()))
        .ok_or(ApiError::NotFound)?;
    let items = (snap.config.keys.iter())
        .filter(|k| k.set == Some(set.id))
        .map(key_view)
        .collect();
    paged(items, &q, &format!("/key-sets/{key}/keys"))
}

async fn list_keys(State(st): St, Query(q): Q) -> Answer {
    let snap = st.snapshot.load();
    let items = snap.config.keys.iter().map(key_view).collect();
    paged(items, &q, "/keys")
}

async fn one_key(State(st): St, Path(key): Path<String>) -> Answer {
    let snap = st.snapshot.load();
    let k = (snap.config.keys.iter())
        .find(|k| designates(&key, k.id, k.name.as_deref()))
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::OK, Json(key_view(k))))
}
