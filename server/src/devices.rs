//! Device endpoints: provisioning and the signed device operations (`paycode_core::wire`).

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use paycode_core::bundle::{is_valid_device_id, seal_v2};
use paycode_core::code::SLOT_SPACE;
use paycode_core::device::{is_valid_sealing_key, verify_request};
use paycode_core::verifier::Rejection;
use paycode_core::wire::{
    self, Ack, BundleResponse, EmptyRequest, OnlineCodeRequest, OnlineCodeResponse, ProvisionRequest,
    SyncRequest, VoidRequest,
};
use paycode_core::{LimitedUseCredential, PaymentCode, Seed};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::body;
use crate::db::DeviceRow;
use crate::error::ApiError;
use crate::state::AppState;
use crate::util::{random_below, random_fill, random_id, sha256_hex};
use crate::verify::{Offline, check_offline};

/// The three signature headers, checked for form and freshness.
struct Signed {
    device_id: String,
    timestamp_ms: i64,
    signature: [u8; 64],
}

fn signed_headers(headers: &HeaderMap, now_ms: i64) -> Result<Signed, ApiError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let device_id = text(wire::HEADER_DEVICE)
        .ok_or_else(|| ApiError::unauthorized("missing_signature", "the paycode-device header is missing"))?
        .to_owned();
    let timestamp_ms: i64 = text(wire::HEADER_TIMESTAMP)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            ApiError::unauthorized("missing_signature", "paycode-timestamp must be Unix milliseconds")
        })?;
    if timestamp_ms.abs_diff(now_ms) > wire::MAX_REQUEST_SKEW_MS.unsigned_abs() {
        let mut error = ApiError::unauthorized(
            "stale_timestamp",
            format!(
                "the request time is more than 5 minutes from the issuer's ({now_ms} ms): sync the clock"
            ),
        );
        error.issuer_time_ms = Some(now_ms);
        return Err(error);
    }
    let signature: [u8; 64] = text(wire::HEADER_SIGNATURE)
        .and_then(wire::unb64)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "bad_signature",
                "paycode-signature must be a base64 Ed25519 signature",
            )
        })?;
    Ok(Signed {
        device_id,
        timestamp_ms,
        signature,
    })
}

/// The Ed25519 base point: a valid public key whose secret nobody uses, checked against for
/// requests from unknown devices.
const STAND_IN_KEY: [u8; 32] = [
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
];

/// Checks a device request: headers, signature by the registered key, no replay. Parses the
/// body first so that malformed requests write nothing.
async fn authenticate<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    path_id: Result<Path<String>, PathRejection>,
    operation: &str,
    body: Body,
) -> Result<(DeviceRow, T, i64), ApiError> {
    let Path(device_id) = path_id.map_err(|_| ApiError::not_found("no such device"))?;
    let bytes: Bytes = body::read(headers, body, state.config.max_body_bytes).await?;
    let request: T = body::json(&bytes)?;
    let now_ms = state.clock.now_ms();
    let signed = signed_headers(headers, now_ms)?;
    if signed.device_id != device_id || !is_valid_device_id(&device_id) {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "the paycode-device header must name the device of the path",
        ));
    }
    // An unknown device and a known device with a wrong signature get the same answer, after
    // the same work (a signature check against a stand-in key): the answer does not tell
    // whether a device id exists (issue 11; docs/API.md "Errors").
    let device = state.db.device(&device_id).await?;
    let key: [u8; 32] = match &device {
        Some(device) => device
            .signing_key
            .as_slice()
            .try_into()
            .map_err(|_| ApiError::internal())?,
        None => STAND_IN_KEY,
    };
    let path = wire::device_path(&device_id, operation);
    let verified = verify_request(
        &key,
        &path,
        &device_id,
        signed.timestamp_ms,
        &bytes,
        &signed.signature,
    );
    let (Some(device), Ok(())) = (device, verified) else {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "the request is not signed by a device this issuer knows",
        ));
    };
    if !state.remember_signature(&signed.signature, now_ms).await? {
        return Err(ApiError::unauthorized(
            "replayed_request",
            "this signed request was already received",
        ));
    }
    if device.status == "revoked" {
        return Err(ApiError::forbidden(
            "device_revoked",
            "this device was logged out or revoked",
        ));
    }
    Ok((device, request, now_ms))
}

fn decode_key(text: &str, field: &str) -> Result<[u8; 32], ApiError> {
    wire::unb64(text)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| ApiError::invalid("invalid_field", format!("{field} must be 32 bytes in base64")))
}

#[allow(clippy::too_many_arguments)]
/// Issues and seals a protocol-2 credential for `device` valid over `[valid_from, valid_until)`:
/// the device's own identity table (one FF1 encryption per step and refresh, under day keys
/// that never leave the issuer), computed on a blocking thread.
async fn make_bundle(
    state: &Arc<AppState>,
    device_id: &str,
    slot: u32,
    seed: Seed,
    sealing_key: &[u8],
    valid_from: i64,
    valid_until: i64,
    sequence: u64,
    now_ms: i64,
) -> Result<String, ApiError> {
    let sealing: [u8; 32] = sealing_key.try_into().map_err(|_| ApiError::internal())?;
    let state = state.clone();
    let device_id = device_id.to_owned();
    tokio::task::spawn_blocking(move || {
        let credential = LimitedUseCredential::issue(
            state.verifier.keyring(),
            state.config.time,
            state.config.refreshes,
            slot,
            seed,
            valid_from,
            valid_until,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "cannot issue a credential");
            ApiError::internal()
        })?;
        let bundle = seal_v2(&credential, &device_id, sequence, now_ms, &sealing).map_err(|e| match e {
            // The client's key: its mistake, not ours (provisioning checks it before this).
            paycode_core::bundle::BundleError::BadDeviceKey => {
                ApiError::invalid("invalid_field", "sealing_key is not an X25519 public key")
            }
            e => {
                tracing::error!(error = %e, "cannot seal a bundle");
                ApiError::internal()
            }
        })?;
        Ok(wire::b64(&bundle))
    })
    .await
    .map_err(|_| ApiError::internal())?
}

/// `POST /v1/devices`: registers a device under the user of a login token.
pub async fn provision(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BundleResponse>, ApiError> {
    let bytes = body::read(&headers, body, state.config.max_body_bytes).await?;
    let req: ProvisionRequest = body::json(&bytes)?;
    let signing = decode_key(&req.signing_key, "signing_key")?;
    let sealing = decode_key(&req.sealing_key, "sealing_key")?;
    if !is_valid_sealing_key(&sealing) {
        return Err(ApiError::invalid(
            "invalid_field",
            "sealing_key is not an X25519 public key",
        ));
    }
    if req.platform.chars().count() > 64 {
        return Err(ApiError::invalid(
            "invalid_field",
            "platform must have at most 64 characters",
        ));
    }
    let now_ms = state.clock.now_ms();
    let signed = signed_headers(&headers, now_ms)?;
    if !signed.device_id.is_empty() {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "provisioning is signed with an empty paycode-device header",
        ));
    }
    verify_request(
        &signing,
        wire::PATH_PROVISION,
        "",
        signed.timestamp_ms,
        &bytes,
        &signed.signature,
    )
    .map_err(|e| ApiError::unauthorized("bad_signature", e.to_string()))?;
    if !state.remember_signature(&signed.signature, now_ms).await? {
        return Err(ApiError::unauthorized(
            "replayed_request",
            "this signed request was already received",
        ));
    }
    let now = now_ms.div_euclid(1000);
    let valid_until = now + state.config.validity_secs;
    let device_id = random_id("dev")?;
    let mut seed = Zeroizing::new([0u8; 32]);
    random_fill(&mut seed[..])?;
    let mut nonce = [0u8; 12];
    random_fill(&mut nonce)?;
    let sealed_seed = state.seeds.seal(&device_id, &seed, nonce);
    let mut tx = state.db.write.begin().await?;
    let user: Option<(String,)> = sqlx::query_as(
        "SELECT user_id FROM login_tokens WHERE token_hash = $1 AND used_ms IS NULL AND expires_ms > $2",
    )
    .bind(sha256_hex(&req.login_token))
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let consumed = sqlx::query(
        "UPDATE login_tokens SET used_ms = $1 WHERE token_hash = $2 AND used_ms IS NULL AND expires_ms > $1",
    )
    .bind(now_ms)
    .bind(sha256_hex(&req.login_token))
    .execute(&mut *tx)
    .await?;
    let (Some((user_id,)), 1) = (user, consumed.rows_affected()) else {
        tx.rollback().await?;
        return Err(ApiError::unauthorized(
            "invalid_login_token",
            "the login token is unknown, used or expired: log in again",
        ));
    };
    // A random free slot: slots say nothing about when or in which order devices joined.
    let mut slot = None;
    for _ in 0..32 {
        let candidate = random_below(u64::from(SLOT_SPACE))? as u32;
        let done = sqlx::query(
            "INSERT INTO devices (device_id, user_id, slot, seed, signing_key, sealing_key, platform, status, \
             valid_from, valid_until, sequence, key_epoch, created_ms, proto_v2, v1_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, 1, $10, $11, 1, $12) ON CONFLICT (slot) DO NOTHING",
        )
        .bind(&device_id)
        .bind(&user_id)
        .bind(i64::from(candidate))
        .bind(&sealed_seed)
        .bind(signing.to_vec())
        .bind(sealing.to_vec())
        .bind(&req.platform)
        .bind(now)
        .bind(valid_until)
        .bind(i64::from(state.latest_epoch()))
        .bind(now_ms)
        .bind(i64::MIN)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            slot = Some(candidate);
            break;
        }
    }
    let Some(slot) = slot else {
        tx.rollback().await?;
        tracing::error!("no free slot found in 32 tries");
        return Err(ApiError::unavailable());
    };
    tx.commit().await?;
    // After the commit: computing the identity table takes milliseconds (ADR 010) and must not
    // hold the database writer. It cannot fail for a key that passed the checks above.
    let bundle = make_bundle(
        &state,
        &device_id,
        slot,
        Seed::from_bytes(*seed),
        &sealing,
        now,
        valid_until,
        1,
        now_ms,
    )
    .await?;
    tracing::info!(device_id, user_id, "device provisioned");
    Ok(Json(BundleResponse {
        device_id,
        bundle: Some(bundle),
        status: "active".into(),
        issuer_time_ms: now_ms,
    }))
}

/// `POST /v1/devices/{id}/sync`.
pub async fn sync(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BundleResponse>, ApiError> {
    let (device, req, now_ms): (DeviceRow, SyncRequest, i64) =
        authenticate(&state, &headers, path, "sync", body).await?;
    let now = now_ms.div_euclid(1000);
    let stored_sequence = u64::try_from(device.sequence).unwrap_or(0);
    // A device on protocol 1 gets its first version-2 bundle at its first sync (ADR 010).
    let needs_bundle = device.valid_until - now < state.config.refresh_below_secs
        || !device.proto_v2
        || i64::from(state.latest_epoch()) > device.key_epoch
        || req.sequence < stored_sequence;
    let mut response = BundleResponse {
        device_id: device.device_id.clone(),
        bundle: None,
        status: device.status.clone(),
        issuer_time_ms: now_ms,
    };
    if !needs_bundle {
        return Ok(Json(response));
    }
    let Some(stored) = device.seed.as_deref() else {
        return Err(ApiError::forbidden(
            "device_revoked",
            "this device was logged out or revoked",
        ));
    };
    let Some(seed) = state.seeds.open(&device.device_id, stored) else {
        tracing::error!(
            device_id = device.device_id,
            "the device's sealed seed does not open"
        );
        return Err(ApiError::internal());
    };
    // Keep the codes of the current window valid: start a few steps back, never before the
    // device's first validity.
    let step = i64::from(state.config.time.step_secs);
    let window_start = (now - now.rem_euclid(step)) - step * i64::from(state.config.skew_back + 1);
    let valid_from = device.valid_from.max(window_start);
    let valid_until = now + state.config.validity_secs;
    let sequence = stored_sequence + 1;
    let bundle = make_bundle(
        &state,
        &device.device_id,
        device.slot,
        seed,
        &device.sealing_key,
        valid_from,
        valid_until,
        sequence,
        now_ms,
    )
    .await?;
    // Migration: its protocol-1 codes of steps begun before now stay good for their window;
    // after that, no protocol-1 key can reach this device.
    let v1_until = if device.proto_v2 { device.v1_until } else { now };
    let done = sqlx::query(
        "UPDATE devices SET valid_from = $1, valid_until = $2, sequence = $3, key_epoch = $4, \
         proto_v2 = 1, v1_until = $7 \
         WHERE device_id = $5 AND sequence = $6 AND status <> 'revoked'",
    )
    .bind(valid_from)
    .bind(valid_until)
    .bind(sequence as i64)
    .bind(i64::from(state.latest_epoch()))
    .bind(&device.device_id)
    .bind(device.sequence)
    .bind(v1_until)
    .execute(&state.db.write)
    .await?;
    if done.rows_affected() != 1 {
        return Err(ApiError::conflict(
            "concurrent_sync",
            "another sync of this device ran at the same time: sync again",
        ));
    }
    tracing::info!(device_id = device.device_id, sequence, "credentials renewed");
    response.bundle = Some(bundle);
    Ok(Json(response))
}

/// `POST /v1/devices/{id}/online-code`.
pub async fn online_code(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<OnlineCodeResponse>, ApiError> {
    let (device, _req, now_ms): (DeviceRow, OnlineCodeRequest, i64) =
        authenticate(&state, &headers, path, "online-code", body).await?;
    if device.status != "active" {
        return Err(ApiError::forbidden(
            "device_paused",
            "payment codes are paused: resume first",
        ));
    }
    let prefix = u64::from(state.config.prefix.get());
    let expires_at_ms = now_ms + state.config.online_code_ttl_ms;
    for _ in 0..16 {
        let digits = format!("{prefix}{:016}", random_below(10_000_000_000_000_000)?);
        let code = PaymentCode::parse(&digits).map_err(|_| ApiError::internal())?;
        // Never a code that some device's offline credential could have made in this window.
        match check_offline(&state, &code, now_ms.div_euclid(1000), now_ms).await? {
            Offline::Rejected(Rejection::UnknownDevice | Rejection::BadOtp, _) => {}
            _ => continue,
        }
        let done = sqlx::query(
            "INSERT INTO online_codes (code_hash, device_id, expires_ms, created_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (code_hash) DO NOTHING",
        )
        .bind(sha256_hex(&digits))
        .bind(&device.device_id)
        .bind(expires_at_ms)
        .bind(now_ms)
        .execute(&state.db.write)
        .await?;
        if done.rows_affected() == 1 {
            tracing::info!(device_id = device.device_id, "online code issued");
            return Ok(Json(OnlineCodeResponse {
                code: digits,
                expires_at_ms,
                issuer_time_ms: now_ms,
            }));
        }
    }
    Err(ApiError::unavailable())
}

/// `POST /v1/devices/{id}/void`.
pub async fn void(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Ack>, ApiError> {
    let (device, req, now_ms): (DeviceRow, VoidRequest, i64) =
        authenticate(&state, &headers, path, "void", body).await?;
    let current = state.config.time.step_at(now_ms.div_euclid(1000)).unwrap_or(0);
    if req.counter >= paycode_core::code::COUNTERS_PER_STEP
        || req.step > current + u64::from(state.config.skew_ahead)
    {
        return Err(ApiError::invalid(
            "invalid_field",
            "void a shown code: counter 0..=9 and a step not in the future",
        ));
    }
    let mark = i64::try_from(req.step * 10 + u64::from(req.counter)).map_err(|_| ApiError::internal())?;
    sqlx::query(
        "UPDATE devices SET voided_mark = $1 WHERE device_id = $2 AND (voided_mark IS NULL OR voided_mark < $1)",
    )
    .bind(mark)
    .bind(&device.device_id)
    .execute(&state.db.write)
    .await?;
    tracing::info!(device_id = device.device_id, "codes voided");
    Ok(Json(Ack {
        issuer_time_ms: now_ms,
    }))
}

/// `POST /v1/devices/{id}/logout`: revokes the device and wipes its seed.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Ack>, ApiError> {
    let (device, _req, now_ms): (DeviceRow, EmptyRequest, i64) =
        authenticate(&state, &headers, path, "logout", body).await?;
    let mut tx = state.db.write.begin().await?;
    sqlx::query("UPDATE devices SET status = 'revoked', seed = NULL WHERE device_id = $1")
        .bind(&device.device_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM online_codes WHERE device_id = $1 AND redeemed_ms IS NULL")
        .bind(&device.device_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(device_id = device.device_id, "device logged out");
    Ok(Json(Ack {
        issuer_time_ms: now_ms,
    }))
}

async fn set_status(
    state: Arc<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
    operation: &str,
    from: &str,
    to: &str,
) -> Result<Json<Ack>, ApiError> {
    let (device, _req, now_ms): (DeviceRow, EmptyRequest, i64) =
        authenticate(&state, &headers, path, operation, body).await?;
    sqlx::query("UPDATE devices SET status = $1 WHERE device_id = $2 AND status = $3")
        .bind(to)
        .bind(&device.device_id)
        .bind(from)
        .execute(&state.db.write)
        .await?;
    tracing::info!(device_id = device.device_id, status = to, "device status set");
    Ok(Json(Ack {
        issuer_time_ms: now_ms,
    }))
}

/// `POST /v1/devices/{id}/pause`: the kill switch.
pub async fn pause(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Ack>, ApiError> {
    set_status(state, path, headers, body, "pause", "active", "paused").await
}

/// `POST /v1/devices/{id}/resume`.
pub async fn resume(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Ack>, ApiError> {
    set_status(state, path, headers, body, "resume", "paused", "active").await
}
