//! Kong's DB-less `/config`: `POST` replaces the whole declarative configuration (validated as the file is,
//! written to the file and swapped in through the control plane, or refused with nothing changed); `GET`
//! exports the running one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gateway_config::kong::{declarative, Body, KongError};
use serde_json::{json, Value};

use super::error::ApiError;
use super::{body, persist};
use crate::state::AppState;

/// What a `POST /config` did.
enum Posted {
    /// Applied: Kong's `201` body.
    Applied(Value),
    /// `?check_hash=1` and the same entities as the running config: `304`, nothing written.
    Unchanged,
}

/// Kong's `truthy()` for `flatten_errors`.
fn truthy(value: Option<&String>) -> bool {
    value.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "on" | "yes"))
}

/// `POST /config[?check_hash=1][&flatten_errors=1]`.
pub async fn post(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Result<Response, ApiError> {
    let flatten = truthy(query.get("flatten_errors"));
    let check_hash = query.get("check_hash").is_some_and(|v| v == "1");
    let (parts, raw) = request.into_parts();
    let bytes = body::read_bytes(&parts.headers, raw).await?;
    let text = document_text(&parts.headers, &bytes)?;
    let posted = persist::declare(&state, move |current| {
        let next = declarative::parse(&text, &current.gateway, flatten)?;
        if check_hash && declarative::same_entities(current, &next) {
            return Ok((None, Posted::Unchanged));
        }
        let entities = declarative::entities(&next);
        Ok((Some(next), Posted::Applied(entities)))
    })
    .await?;
    Ok(match posted {
        Posted::Applied(entities) => (StatusCode::CREATED, Json(entities)).into_response(),
        Posted::Unchanged => StatusCode::NOT_MODIFIED.into_response(),
    })
}

/// The declarative document of a `POST /config` body, as Kong reads it: a JSON body is the document itself
/// (with `_format_version`) or carries it as a string under `config`; a form carries it in the field
/// `config`; any other body (YAML, `text/plain`, no content type) is the document's text.
fn document_text(headers: &axum::http::HeaderMap, bytes: &[u8]) -> Result<String, ApiError> {
    let expected = || {
        ApiError::Kong(KongError::Message(
            "expected a declarative configuration".into(),
        ))
    };
    if bytes.is_empty() {
        return Err(expected());
    }
    let essence = body::essence(headers);
    let decoded = match essence.as_str() {
        "application/json" | "application/x-www-form-urlencoded" | "multipart/form-data" => {
            body::decode(headers, bytes)?
        }
        _ => {
            return String::from_utf8(bytes.to_vec()).map_err(|_| {
                ApiError::Kong(KongError::Message(
                    "the declarative configuration is not valid UTF-8".into(),
                ))
            })
        }
    };
    match decoded {
        Body::Json(doc) if doc.get("_format_version").is_some() => Ok(doc.to_string()),
        Body::Json(doc) => match doc.get("config") {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(inner @ Value::Object(_)) => Ok(inner.to_string()),
            _ => Err(expected()),
        },
        Body::Form(pairs) => pairs
            .into_iter()
            .find(|(k, _)| k == "config")
            .map(|(_, v)| v)
            .ok_or_else(expected),
        Body::Empty => Err(expected()),
    }
}

/// `GET /config`: `{"config": "<the running declarative config, YAML>"}`, without the `gateway:` settings.
pub async fn get(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let snap = state.snapshot.load();
    let text = declarative::export(&snap.config)
        .map_err(|e| ApiError::Internal(format!("cannot serialise the config: {e}")))?;
    Ok(Json(json!({ "config": text })))
}
