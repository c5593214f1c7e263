//! Request bodies: read with a size limit and parsed strictly, with JSON errors instead of
//! axum's plain-text rejections.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::app::BodyTimeout;
use crate::error::ApiError;

/// Oversized bodies up to this size are read and discarded before the 413 answer, so that the
/// client, still sending, is not cut off by a TCP reset before it reads the answer (hyper has
/// no lingering close). Larger declared bodies are refused at once.
const DRAIN_LIMIT: usize = 2 << 20;

/// Refuses a body declared as anything but UTF-8 JSON with 415 `unsupported_media_type`
/// (`application/json`, optionally with `charset=utf-8`); a body without `Content-Type` is
/// taken as JSON.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let mut parts = text.split(';').map(str::trim);
    let json = parts
        .next()
        .is_some_and(|t| t.eq_ignore_ascii_case("application/json"));
    let utf8 = parts.all(|p| match p.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    if json && utf8 {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request bodies are JSON: send `Content-Type: application/json`",
        ))
    }
}

/// Whether a body error is the server's body timeout (`app::BodyTimeout`, somewhere in the
/// chain of errors that axum and http-body wrap around it).
fn is_timeout(error: &axum::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// 408 `request_timeout`: the body did not arrive in time (the connection is then closed).
fn timed_out() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request body did not arrive in time",
    )
}

/// Reads the whole body, refusing a non-JSON `Content-Type` with 415 `unsupported_media_type`,
/// more than `limit` bytes with 413 `payload_too_large`, and a body that is not all there
/// within the body timeout with 408 `request_timeout`.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if let Err(e) = check_content_type(headers) {
        discard(body).await;
        return Err(e);
    }
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
        Some(n) if n > limit as u64 => match axum::body::to_bytes(body, DRAIN_LIMIT).await {
            Err(e) if is_timeout(&e) => Err(timed_out()),
            _ => Err(too_large()),
        },
        Some(_) => axum::body::to_bytes(body, limit)
            .await
            .map_err(|e| if is_timeout(&e) { timed_out() } else { too_large() }),
        None => {
            let bytes = axum::body::to_bytes(body, DRAIN_LIMIT.max(limit))
                .await
                .map_err(|e| if is_timeout(&e) { timed_out() } else { too_large() })?;
            if bytes.len() > limit {
                return Err(too_large());
            }
            Ok(bytes)
        }
    }
}

/// Reads and drops up to 2 MiB of a body that will not be used, so that an error answer is not
/// lost to a TCP reset (closing a socket with unread data resets it) and the connection stays
/// usable.
pub async fn discard(body: Body) {
    let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
}

/// Parses `bytes` as `T`: 400 `invalid_json` for syntax, 400 `invalid_body` for wrong types,
/// missing or unknown fields. The message names the field and position, never echoes a value
/// longer than serde's own excerpt.
///
/// A number with a zero fraction (`1.0`, `1e2`) is an integer, as JSON Schema (and so
/// docs/openapi.yaml) counts it: it is taken as that integer where one is expected.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let classify = |e: serde_json::Error| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::bad_request("invalid_body", e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
            }
        }
    };
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(mut value) => {
            integral_floats_to_integers(&mut value);
            serde_json::from_value(value).map_err(classify)
        }
        // Not JSON (or nested too deep): the typed parse says where and why.
        Err(_) => serde_json::from_slice(bytes).map_err(classify),
    }
}

/// Rewrites every float with no fractional part that fits an `i64` or `u64` as that integer.
fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Exact bounds: -2^63 and 2^64 are representable, so the casts below are exact.
            if f.fract() == 0.0 && f >= -9_223_372_036_854_775_808.0 && f < 18_446_744_073_709_551_616.0 {
                *value = if f < 0.0 {
                    Value::from(f as i64)
                } else {
                    Value::from(f as u64)
                };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}
