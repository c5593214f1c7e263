//! Request bodies: read with a size limit and parsed strictly, with JSON errors instead of
//! axum's plain-text rejections.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Reads the whole body, refusing more than `limit` bytes with 413 `payload_too_large`.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| too_large())
}

/// Parses `bytes` as `T`: 400 `invalid_json` for syntax, 400 `invalid_body` for wrong types,
/// missing or unknown fields. The message names the field and position, never echoes a value
/// longer than serde's own excerpt.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::bad_request("invalid_body", e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
            }
        }
    })
}
