//! The optional static admin token (`gateway.admin_token`): every admin request must carry it in
//! `Kong-Admin-Token` (or as `Authorization: Bearer <token>`), else 401. The token is never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::state::AppState;

/// Header carrying the admin token (Kong Enterprise's name).
pub const TOKEN_HEADER: &str = "kong-admin-token";

/// Middleware: passes the request on when no token is configured or the right one is given.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let expected = state.snapshot.load().config.gateway.admin_token.clone();
    if let Some(expected) = expected {
        if !presented(request.headers()).is_some_and(|given| same_token(given, &expected)) {
            log::warn!(
                "admin request refused: missing or wrong admin token method={} path={}",
                request.method(),
                request.uri().path()
            );
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(TOKEN_HEADER) {
        return v.to_str().ok();
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares in constant time: BLAKE3 digests of both sides (`blake3::Hash`'s equality is constant-time,
/// and hashing first hides the length too).
fn same_token(given: &str, expected: &str) -> bool {
    blake3::hash(given.as_bytes()) == blake3::hash(expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_and_headers() {
        assert!(same_token("s3cret", "s3cret"));
        assert!(!same_token("s3cre", "s3cret"));
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(presented(&h), Some("abc"));
        h.insert(TOKEN_HEADER, "xyz".parse().unwrap());
        assert_eq!(presented(&h), Some("xyz"));
    }
}
