//! Kong's `/schemas` endpoints: entity and plugin schemas (generated from the tables validation uses, see
//! `gateway_config::kong::schemas`) and the `validate` endpoints, which check a body as a write would
//! without writing anything.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use gateway_config::kong::{ops, read_input, schemas, Kind, KongError};
use gateway_config::model::{Config, Consumer};
use serde_json::{json, Value};
use uuid::Uuid;

use super::body;
use super::error::ApiError;
use crate::state::AppState;

type Answer = Result<(StatusCode, Json<Value>), ApiError>;

/// The consumer a validated credential is checked against (validation does not resolve references).
const VALIDATE_CONSUMER: Uuid = Uuid::from_u128(1);

fn not_found(what: &str, name: &str) -> Answer {
    Ok((
        StatusCode::NOT_FOUND,
        Json(json!({ "message": format!("No {what} named '{name}'") })),
    ))
}

/// `GET /schemas/{entity}`.
pub async fn entity(Path(name): Path<String>) -> Answer {
    match schemas::kind_named(&name) {
        Some(kind) => Ok((StatusCode::OK, Json(schemas::entity(kind)))),
        None => not_found("entity", &name),
    }
}

/// `GET /schemas/plugins/{name}`.
pub async fn plugin(Path(name): Path<String>) -> Answer {
    match schemas::plugin(&name) {
        Some(schema) => Ok((StatusCode::OK, Json(schema))),
        None => not_found("plugin", &name),
    }
}

/// `POST /schemas/{entity}/validate`.
pub async fn validate_entity(
    State(_state): State<Arc<AppState>>,
    Path(name): Path<String>,
    request: Request,
) -> Answer {
    match schemas::kind_named(&name) {
        Some(kind) => validate(kind, request).await,
        None => not_found("entity", &name),
    }
}

/// `POST /schemas/plugins/validate`.
pub async fn validate_plugin(State(_state): State<Arc<AppState>>, request: Request) -> Answer {
    validate(Kind::Plugin, request).await
}

/// Checks a body as a create would (types, then the loader's validation of the entity on its own: references
/// and uniqueness are not checked, as in Kong); nothing is written.
async fn validate(kind: Kind, request: Request) -> Answer {
    let (parts, raw) = request.into_parts();
    let body = body::read(&parts.headers, raw).await?;
    let mut fields = read_input(kind, body, None)?;
    if let Kind::Credential(_) = kind {
        // Kong's schema requires `consumer` but does not look it up: any given one stands for a consumer.
        let Some(given) = fields.get_mut("consumer") else {
            return Err(KongError::field("consumer", "required field missing").into());
        };
        *given = json!({ "id": VALIDATE_CONSUMER });
        let mut config = Config::default();
        let mut consumer = Consumer::new(VALIDATE_CONSUMER);
        consumer.username = Some("validate".into());
        config.consumers.push(consumer);
        if let Err(e @ KongError::Schema(_)) = ops::create(&config, kind, fields, 0) {
            return Err(e.into());
        }
    } else if !matches!(kind, Kind::Target | Kind::Sni) {
        for reference in ["service", "route", "consumer", "upstream", "certificate"] {
            fields.remove(reference);
        }
        match ops::create(&Config::default(), kind, fields, 0) {
            Ok(_) | Err(KongError::Unique(_) | KongError::PrimaryKey(_)) => {}
            Err(e @ KongError::Schema(_)) => return Err(e.into()),
            Err(_) => {}
        }
    }
    Ok((
        StatusCode::OK,
        Json(json!({ "message": "schema validation successful" })),
    ))
}
