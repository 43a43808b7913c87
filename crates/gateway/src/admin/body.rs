//! Reading an Admin API request body: size limit, content type, JSON or form (urlencoded, multipart).

use axum::body::Body as HttpBody;
use axum::http::{header, HeaderMap};
use gateway_config::kong::{form, Body, KongError};

use super::error::ApiError;

/// Largest accepted request body (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// Oversized bodies up to this size are read and discarded before the 413, so that the client, still
/// sending, reads the answer instead of a connection reset; larger ones are answered at once.
const DRAIN_LIMIT: usize = 16 << 20;

/// Reads and decodes a body: empty ⇒ [`Body::Empty`] whatever the content type; JSON; urlencoded or multipart
/// form; anything else with a body ⇒ 415.
pub async fn read(headers: &HeaderMap, body: HttpBody) -> Result<Body, ApiError> {
    let bytes = read_bytes(headers, body).await?;
    if bytes.is_empty() {
        return Ok(Body::Empty);
    }
    decode(headers, &bytes)
}

/// The body's bytes, within the size limits.
pub async fn read_bytes(headers: &HeaderMap, body: HttpBody) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(ApiError::PayloadTooLarge);
    }
    read_limited(body).await
}

/// The lowercased media type of the request (`application/json`), empty when none.
pub fn essence(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes a non-empty body by its content type: JSON, urlencoded or multipart form; anything else ⇒ 415.
pub fn decode(headers: &HeaderMap, bytes: &[u8]) -> Result<Body, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match essence(headers).as_str() {
        "application/json" => serde_json::from_slice(bytes)
            .map(Body::Json)
            .map_err(|_| ApiError::BadJson),
        "application/x-www-form-urlencoded" => Ok(Body::Form(form::parse_urlencoded(bytes))),
        "multipart/form-data" => form::parse_multipart(bytes, content_type)
            .map(Body::Form)
            .map_err(|e| ApiError::Kong(KongError::field("", e.to_string()))),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// The body if it is at most [`MAX_BODY`]; otherwise 413 once it has been drained (up to [`DRAIN_LIMIT`]).
async fn read_limited(mut body: HttpBody) -> Result<Vec<u8>, ApiError> {
    use axum::body::HttpBody as _;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame =
            frame.map_err(|e| ApiError::Internal(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > DRAIN_LIMIT {
                return Err(ApiError::PayloadTooLarge);
            }
            if seen <= MAX_BODY {
                kept.extend_from_slice(&data);
            }
        }
    }
    if seen > MAX_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(kept)
}
