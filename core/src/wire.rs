//! The device ↔ issuer wire format: JSON bodies and signed headers, shared by the wallet (which
//! builds requests) and the issuer (which checks them). `docs/API.md` documents the same.
//!
//! Every device request is an HTTP `POST` of a JSON body with three headers:
//! [`HEADER_DEVICE`] (the device id, empty when provisioning), [`HEADER_TIMESTAMP`] (device's
//! issuer-corrected Unix ms) and [`HEADER_SIGNATURE`] (base64 Ed25519 signature of
//! [`crate::device::request_message`] over the path, device id, timestamp and body).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Header carrying the device id.
pub const HEADER_DEVICE: &str = "paycode-device";
/// Header carrying the request time (Unix ms, issuer-corrected).
pub const HEADER_TIMESTAMP: &str = "paycode-timestamp";
/// Header carrying the base64 Ed25519 signature.
pub const HEADER_SIGNATURE: &str = "paycode-signature";
/// How far a request's timestamp may be from the issuer's clock.
pub const MAX_REQUEST_SKEW_MS: i64 = 5 * 60 * 1000;

/// The latest time the protocol knows, 9999-12-31T23:59:59.999Z in Unix ms. Every time an
/// issuer sends (`issuer_time_ms`, `expires_at_ms`) is in `0..=MAX_UNIX_MS`; an answer with a
/// time outside it is malformed and refused whole, so arithmetic on times can never overflow
/// and a broken or hostile issuer cannot move the wallet's clock to nonsense.
pub const MAX_UNIX_MS: i64 = 253_402_300_799_999;

/// Whether `ms` is a time the protocol accepts (see [`MAX_UNIX_MS`]).
pub fn is_valid_time(ms: i64) -> bool {
    (0..=MAX_UNIX_MS).contains(&ms)
}

/// Serde for times in answers: an `i64` in `0..=MAX_UNIX_MS`, or a deserialization error.
mod unix_ms {
    use serde::de::{Deserialize, Deserializer, Error};

    fn check<E: Error>(ms: i64) -> Result<i64, E> {
        if super::is_valid_time(ms) {
            Ok(ms)
        } else {
            Err(E::custom(format_args!(
                "time {ms} ms is outside 1970..=9999 (0..={})",
                super::MAX_UNIX_MS
            )))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        check(i64::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<i64>::deserialize(d)?.map(check).transpose()
    }
}

/// Path of provisioning.
pub const PATH_PROVISION: &str = "/v1/devices";

/// The path of a device operation, e.g. `/v1/devices/dev_1/sync`.
pub fn device_path(device_id: &str, operation: &str) -> String {
    format!("/v1/devices/{device_id}/{operation}")
}

/// Standard base64 with padding, as every binary field on the wire.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64; `None` if invalid.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// `POST /v1/devices`: register a device under a logged-in user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRequest {
    /// The short-lived token from `POST /v1/login`.
    pub login_token: String,
    /// base64 Ed25519 public key (32 bytes).
    pub signing_key: String,
    /// base64 X25519 public key (32 bytes).
    pub sealing_key: String,
    /// Free text, e.g. "android 15", for the user's device list (≤ 64 chars).
    pub platform: String,
}

/// Answer to provisioning and to a sync that brings new credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleResponse {
    /// The device id.
    pub device_id: String,
    /// base64 sealed bundle (`crate::bundle`), or absent when nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// "active", "paused" or "revoked".
    pub status: String,
    /// The issuer's clock (Unix ms).
    #[serde(deserialize_with = "unix_ms::deserialize")]
    pub issuer_time_ms: i64,
}

/// `POST /v1/devices/{id}/sync`: ask for newer credentials (top-up, rotation) and the time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Sequence of the bundle the device holds.
    pub sequence: u64,
    /// Its validity end (Unix seconds).
    pub valid_until: i64,
}

/// `POST /v1/devices/{id}/online-code`: a server-issued code for when offline codes cannot be made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct OnlineCodeRequest {}

/// An online code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OnlineCodeResponse {
    /// 18 digits.
    pub code: String,
    /// When it stops being accepted (Unix ms).
    #[serde(deserialize_with = "unix_ms::deserialize")]
    pub expires_at_ms: i64,
    /// The issuer's clock (Unix ms).
    #[serde(deserialize_with = "unix_ms::deserialize")]
    pub issuer_time_ms: i64,
}

/// `POST /v1/devices/{id}/void`: void every offline code up to and including (step, counter)
/// — sent after a screenshot captured that code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// Step of the captured code.
    pub step: u64,
    /// Counter of the captured code.
    pub counter: u8,
}

/// `POST /v1/devices/{id}/logout` (revokes the device), `/pause`, `/resume`: empty bodies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

/// A plain acknowledgement with the issuer's time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ack {
    /// The issuer's clock (Unix ms).
    #[serde(deserialize_with = "unix_ms::deserialize")]
    pub issuer_time_ms: i64,
}

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A machine-readable code (snake_case, stable) and a human message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// Stable code, e.g. `device_revoked`, `bad_signature`, `invalid_login`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The issuer's time (Unix ms) on `stale_timestamp` answers: a device whose idea of issuer
    /// time is off (a clock changed before a reboot) learns it here and retries.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unix_ms::optional"
    )]
    pub issuer_time_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_outside_1970_to_9999_make_an_answer_malformed() {
        let ack = |ms: i64| serde_json::from_str::<Ack>(&format!(r#"{{"issuer_time_ms": {ms}}}"#));
        let online = |expires: i64| {
            serde_json::from_str::<OnlineCodeResponse>(&format!(
                r#"{{"code": "281234567890123456", "expires_at_ms": {expires}, "issuer_time_ms": 5}}"#
            ))
        };
        let error = |ms: i64| {
            serde_json::from_str::<ErrorBody>(&format!(
                r#"{{"error": {{"code": "stale_timestamp", "message": "m", "issuer_time_ms": {ms}}}}}"#
            ))
        };
        let bundle = |ms: i64| {
            serde_json::from_str::<BundleResponse>(&format!(
                r#"{{"device_id": "d", "status": "active", "issuer_time_ms": {ms}}}"#
            ))
        };
        for ms in [0, 1_795_305_600_000, MAX_UNIX_MS] {
            assert_eq!(ack(ms).unwrap().issuer_time_ms, ms);
            assert_eq!(online(ms).unwrap().expires_at_ms, ms);
            assert_eq!(error(ms).unwrap().error.issuer_time_ms, Some(ms));
            assert_eq!(bundle(ms).unwrap().issuer_time_ms, ms);
        }
        for ms in [i64::MIN, -1, MAX_UNIX_MS + 1, i64::MAX] {
            let message = ack(ms).unwrap_err().to_string();
            assert!(message.contains("outside 1970..=9999"), "{message}");
            assert!(
                online(ms).is_err() && error(ms).is_err() && bundle(ms).is_err(),
                "{ms}"
            );
        }
        // Absent stays absent.
        let plain: ErrorBody = serde_json::from_str(r#"{"error": {"code": "c", "message": "m"}}"#).unwrap();
        assert_eq!(plain.error.issuer_time_ms, None);
    }
}
