//! `POST /openid-connect/purge`: removes a token's cached introspection result (given the token, or its
//! cluster `token_hash`) and, with `username`, the user's tokens and cached grants, from this node and,
//! with the cluster cache, from Redis and every other node. JSON or form body.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::Json;
use gateway_auth::cluster::revoke::{PurgeError, PurgeRequest};
use gateway_config::kong::{Body, KongError};
use serde_json::{json, Value};

use super::body;
use super::error::ApiError;
use crate::state::AppState;

/// The handler.
pub async fn purge(
    State(state): State<Arc<AppState>>,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (parts, b) = req.into_parts();
    let input = parse(body::read(&parts.headers, b).await?)?;
    match state.registry.purge(&input).await {
        Ok(report) => Ok((StatusCode::OK, Json(json!(report)))),
        Err(e) => Err(KongError::field(field_of(&e), e.to_string()).into()),
    }
}

fn field_of(e: &PurgeError) -> &'static str {
    match e {
        PurgeError::BadHash => "token_hash",
        PurgeError::Nothing => "token",
    }
}

/// The request fields from a JSON object or a form.
fn parse(body: Body) -> Result<PurgeRequest, ApiError> {
    let mut req = PurgeRequest::default();
    let mut set = |name: &str, value: String| -> Result<(), ApiError> {
        match name {
            "token" => req.token = Some(value),
            "token_hash" => req.token_hash = Some(value),
            "username" => req.username = Some(value),
            other => return Err(KongError::field(other, "unknown field").into()),
        }
        Ok(())
    };
    match body {
        Body::Empty => {}
        Body::Form(fields) => {
            for (k, v) in fields {
                set(&k, v)?;
            }
        }
        Body::Json(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(s) => set(&k, s)?,
                    Value::Null => {}
                    _ => return Err(KongError::field(k, "expected a string").into()),
                }
            }
        }
        Body::Json(_) => return Err(KongError::field("", "expected a JSON object").into()),
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_form() {
        let r = parse(Body::Json(json!({"token": "t", "username": "john"}))).unwrap();
        assert_eq!(
            (r.token.as_deref(), r.username.as_deref()),
            (Some("t"), Some("john"))
        );
        let r = parse(Body::Form(vec![("token_hash".into(), "ab".into())])).unwrap();
        assert_eq!(r.token_hash.as_deref(), Some("ab"));
        assert!(parse(Body::Json(json!({"tokn": "t"}))).is_err());
        assert!(parse(Body::Json(json!({"token": 1}))).is_err());
        assert!(parse(Body::Json(json!([1]))).is_err());
        assert!(parse(Body::Empty).unwrap().token.is_none());
    }
}
