//! Request bodies: read with a size limit and parsed strictly, with JSON errors instead of
//! axum's plain-text rejections.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Oversized bodies up to this size are read and discarded before the 413 answer, so that the
/// client, still sending, is not cut off by a TCP reset before it reads the answer (hyper has
/// no lingering close). Larger declared bodies are refused at once.
const DRAIN_LIMIT: usize = 2 << 20;

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
    match declared {
        Some(n) if n > DRAIN_LIMIT as u64 => Err(too_large()),
        Some(n) if n > limit as u64 => {
            let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
            Err(too_large())
        }
        Some(_) => axum::body::to_bytes(body, limit).await.map_err(|_| too_large()),
        None => {
            let bytes = axum::body::to_bytes(body, DRAIN_LIMIT.max(limit))
                .await
                .map_err(|_| too_large())?;
            if bytes.len() > limit {
                return Err(too_large());
            }
            Ok(bytes)
        }
    }
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
