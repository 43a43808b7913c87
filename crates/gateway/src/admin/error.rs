//! The Admin API's one error type and its Kong-shaped responses; no internal detail reaches a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gateway_config::kong::KongError;
use serde_json::json;

/// Why an Admin API request was refused.
#[derive(Debug)]
pub enum ApiError {
    /// Kong's `{code, name, message, fields}` errors (400, 404, 409).
    Kong(KongError),
    /// 400 `{"message":"Cannot parse JSON body"}`.
    BadJson,
    /// 415 with an empty body (a body in a content type other than JSON or a form).
    UnsupportedMediaType,
    /// 413: the body is over [`super::body::MAX_BODY`].
    PayloadTooLarge,
    /// 404 `{"message":"Not found"}`.
    NotFound,
    /// 405 `{"message":"Method not allowed"}`.
    MethodNotAllowed,
    /// 409 `{"message": ...}`: the config file on disk is not the one the process last read or wrote, or
    /// (etcd-backed node) the document in etcd changed since this node applied it.
    Conflict(String),
    /// 503 `{"message": ...}`: the config store (etcd) cannot be reached; nothing was changed.
    Unavailable(String),
    /// 400 `{"message": ...}` (Kong's plain 400s, e.g. setting health without a health checker).
    BadRequest(String),
    /// 401: the admin token is missing or wrong.
    Unauthorized,
    /// 500 `{"message":"An unexpected error occurred"}`; the detail is logged, never sent.
    Internal(String),
}

impl From<KongError> for ApiError {
    fn from(e: KongError) -> Self {
        ApiError::Kong(e)
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "message": text }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Kong(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                (status, Json(e.body())).into_response()
            }
            ApiError::BadJson => message(StatusCode::BAD_REQUEST, "Cannot parse JSON body"),
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response(),
            ApiError::PayloadTooLarge => {
                message(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large")
            }
            ApiError::NotFound => message(StatusCode::NOT_FOUND, "Not found"),
            ApiError::MethodNotAllowed => {
                message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
            }
            ApiError::Conflict(text) => message(StatusCode::CONFLICT, &text),
            ApiError::Unavailable(text) => message(StatusCode::SERVICE_UNAVAILABLE, &text),
            ApiError::BadRequest(text) => message(StatusCode::BAD_REQUEST, &text),
            ApiError::Unauthorized => message(
                StatusCode::UNAUTHORIZED,
                "Invalid credentials. Token or User credentials required",
            ),
            ApiError::Internal(detail) => {
                log::error!("admin API internal error: {detail}");
                message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unexpected error occurred",
                )
            }
        }
    }
}

/// Fallback for paths the Admin API does not have.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Fallback for known paths with a method they do not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
