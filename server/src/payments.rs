//! Merchant endpoints: pay with a code, exactly once, and read a payment back.
//!
//! A payment runs in this order:
//! 1. authenticate the merchant and check its lockout (429, before the body is read);
//! 2. read and validate the body (4xx, nothing written);
//! 3. the code is verified on a snapshot (`verify`), or matched against live online codes;
//! 4. one transaction records the decision: for an authentic code, a conditional `UPDATE` of the
//!    device's watermark (or of the online code) redeems it only if it is newer than everything
//!    redeemed or voided; the user's balance is debited, and the payment and ledger rows are
//!    inserted — all or nothing. The payment insert is `ON CONFLICT DO NOTHING` on
//!    (merchant, idempotency key): a retry — concurrent or later — finds the key taken, rolls
//!    back whatever it did and answers with the stored payment (409 if the request differs).
//!    The key is not read before the transaction: retries are rare, and only the check inside
//!    the transaction holds under concurrency.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use paycode_core::replay::{CodeMark, GuardError, Watermark};
use paycode_core::verifier::{Rejection, Verified};
use paycode_core::{PaymentCode, Slot};
use sqlx::Row;

use crate::api::{PayRequest, PaymentResponse};
use crate::body;
use crate::db::{DeviceRow, PaymentRow};
use crate::error::ApiError;
use crate::ratelimit::Refused;
use crate::state::AppState;
use crate::util::{ordered_id, sha256_hex};
use crate::verify::{self, Offline, check_admitted};

/// Header set on an answer replayed from an idempotency key.
pub const HEADER_REPLAYED: &str = "idempotent-replayed";

impl From<&PaymentRow> for PaymentResponse {
    fn from(p: &PaymentRow) -> Self {
        PaymentResponse {
            payment_id: p.payment_id.clone(),
            status: p.status.clone(),
            reason: p.reason.clone(),
            message: p.reason.as_deref().map(|r| verify::message(r).to_owned()),
            merchant_id: p.merchant_id.clone(),
            idempotency_key: p.idempotency_key.clone(),
            amount: p.amount,
            currency: p.currency.clone(),
            code_kind: p.code_kind.clone(),
            created_at_ms: p.created_ms,
        }
    }
}

fn validate(req: &PayRequest, merchant_id: &str) -> Result<PaymentCode, ApiError> {
    if req.amount <= 0 {
        return Err(ApiError::invalid(
            "invalid_amount",
            "amount is in minor units and must be > 0",
        ));
    }
    if req.currency.len() != 3 || !req.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::invalid(
            "invalid_currency",
            "currency must be an ISO 4217 code of 3 capital letters",
        ));
    }
    if !(1..=128).contains(&req.idempotency_key.len())
        || !req.idempotency_key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::invalid(
            "invalid_idempotency_key",
            "idempotency_key must be 1 to 128 printable ASCII characters",
        ));
    }
    if req.merchant_id.as_deref().is_some_and(|m| m != merchant_id) {
        return Err(ApiError::forbidden(
            "merchant_mismatch",
            "merchant_id is not the merchant of this API key",
        ));
    }
    if req.code.len() > 64 {
        return Err(ApiError::invalid(
            "malformed_code",
            "a payment code has 18 digits",
        ));
    }
    PaymentCode::parse(&req.code).map_err(|e| ApiError::invalid("malformed_code", e.to_string()))
}

fn answer(payment: &PaymentRow, replayed: bool) -> Response {
    let mut response = Json(PaymentResponse::from(payment)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(HEADER_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// The stored answer for a retried idempotency key, or 409 if the request differs.
fn replay(stored: &PaymentRow, request_hash: &str) -> Result<Response, ApiError> {
    if stored.request_hash != request_hash {
        return Err(ApiError::conflict(
            "idempotency_conflict",
            "this idempotency key was used for a different payment",
        ));
    }
    Ok(answer(stored, true))
}

/// What a recording transaction did (short-lived, one per request: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Recorded {
    /// Stored (accepted or declined).
    Stored(PaymentRow),
    /// The idempotency key was taken by a concurrent request; nothing of ours was written.
    KeyTaken,
    /// Authentic but the balance is too low; nothing was written.
    InsufficientFunds,
}

fn mark_value(mark: CodeMark) -> i64 {
    // step < 2^63 / 10 for any time before the year 10^11.
    (mark.step as i64) * 10 + i64::from(mark.counter)
}

fn mark_of(value: Option<i64>) -> Option<CodeMark> {
    value.map(|v| CodeMark {
        step: (v / 10) as u64,
        counter: (v % 10) as u8,
    })
}

async fn insert_rejection(
    conn: &mut sqlx::AnyConnection,
    payment: &PaymentRow,
    slot: Option<Slot>,
    code_prefix: &str,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO rejections (rejection_id, at_ms, merchant_id, payment_id, slot, reason, code_prefix) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ordered_id("rej", payment.created_ms)?)
    .bind(payment.created_ms)
    .bind(&payment.merchant_id)
    .bind(&payment.payment_id)
    .bind(slot.map(i64::from))
    .bind(&payment.reason)
    .bind(code_prefix)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores a declined payment and its rejection record.
async fn record_declined(
    state: &AppState,
    mut payment: PaymentRow,
    reason: &str,
    slot: Option<Slot>,
    code_prefix: &str,
) -> Result<Recorded, ApiError> {
    payment.status = "declined".into();
    payment.reason = Some(reason.to_owned());
    let mut tx = state.db.write.begin().await?;
    if !payment.insert(&mut tx).await? {
        tx.rollback().await?;
        return Ok(Recorded::KeyTaken);
    }
    insert_rejection(&mut tx, &payment, slot, code_prefix).await?;
    tx.commit().await?;
    Ok(Recorded::Stored(payment))
}

/// Debits the user and stores the accepted payment and its ledger entry, inside `tx`.
async fn debit_and_store(
    tx: &mut sqlx::AnyConnection,
    payment: &PaymentRow,
    user_id: &str,
) -> Result<Option<Recorded>, ApiError> {
    let debited = sqlx::query("UPDATE users SET balance = balance - $1 WHERE user_id = $2 AND balance >= $1")
        .bind(payment.amount)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if debited.rows_affected() != 1 {
        return Ok(Some(Recorded::InsufficientFunds));
    }
    if !payment.insert(&mut *tx).await? {
        return Ok(Some(Recorded::KeyTaken));
    }
    sqlx::query(
        "INSERT INTO ledger (payment_id, user_id, amount, currency, created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&payment.payment_id)
    .bind(user_id)
    .bind(payment.amount)
    .bind(&payment.currency)
    .bind(payment.created_ms)
    .execute(&mut *tx)
    .await?;
    Ok(None)
}

/// Redeems a verified offline code: watermark, debit, payment, ledger — one transaction.
async fn redeem_offline(
    state: &AppState,
    mut payment: PaymentRow,
    verified: Verified,
    device: &DeviceRow,
    code_prefix: &str,
) -> Result<Recorded, ApiError> {
    let mark = mark_value(verified.mark());
    payment.code_kind = Some("offline".into());
    let mut tx = state.db.write.begin().await?;
    let redeemed = sqlx::query(
        "UPDATE devices SET redeemed_mark = $1 WHERE device_id = $2 AND status = 'active' \
         AND (redeemed_mark IS NULL OR redeemed_mark < $1) AND (voided_mark IS NULL OR voided_mark < $1)",
    )
    .bind(mark)
    .bind(&device.device_id)
    .execute(&mut *tx)
    .await?;
    if redeemed.rows_affected() == 1 {
        payment.status = "accepted".into();
        payment.device_id = Some(device.device_id.clone());
        payment.user_id = Some(device.user_id.clone());
        if let Some(outcome) = debit_and_store(&mut tx, &payment, &device.user_id).await? {
            tx.rollback().await?;
            return Ok(outcome);
        }
        tx.commit().await?;
        return Ok(Recorded::Stored(payment));
    }
    // Not redeemed: say why, from the row as it is now (inside the same transaction).
    let row = sqlx::query("SELECT status, redeemed_mark, voided_mark FROM devices WHERE device_id = $1")
        .bind(&device.device_id)
        .fetch_one(&mut *tx)
        .await?;
    let status: String = row.try_get("status")?;
    let watermark = Watermark {
        redeemed: mark_of(row.try_get("redeemed_mark")?),
        voided: mark_of(row.try_get("voided_mark")?),
    };
    let reason = match status.as_str() {
        "paused" => "paused",
        "active" => match watermark.check(verified.mark()) {
            Err(GuardError::Voided) => "voided",
            Err(GuardError::Superseded) => "superseded",
            _ => "replayed",
        },
        _ => "revoked",
    };
    payment.status = "declined".into();
    payment.reason = Some(reason.into());
    if !payment.insert(&mut tx).await? {
        tx.rollback().await?;
        return Ok(Recorded::KeyTaken);
    }
    insert_rejection(&mut tx, &payment, Some(verified.slot), code_prefix).await?;
    tx.commit().await?;
    Ok(Recorded::Stored(payment))
}

/// Redeems a live online code, if `digits` is one. `None`: not an online code.
async fn redeem_online(
    state: &AppState,
    mut payment: PaymentRow,
    digits: &str,
    code_prefix: &str,
) -> Result<Option<Recorded>, ApiError> {
    let code_hash = sha256_hex(digits);
    let found = sqlx::query(
        "SELECT o.device_id, d.user_id FROM online_codes o JOIN devices d ON d.device_id = o.device_id \
         WHERE o.code_hash = $1",
    )
    .bind(&code_hash)
    .fetch_optional(&state.db.read)
    .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    let device_id: String = found.try_get("device_id")?;
    let user_id: String = found.try_get("user_id")?;
    payment.code_kind = Some("online".into());
    let now_ms = payment.created_ms;
    let mut tx = state.db.write.begin().await?;
    let redeemed = sqlx::query(
        "UPDATE online_codes SET redeemed_ms = $1 WHERE code_hash = $2 AND redeemed_ms IS NULL \
         AND expires_ms > $1 AND EXISTS (SELECT 1 FROM devices d WHERE d.device_id = online_codes.device_id \
         AND d.status = 'active')",
    )
    .bind(now_ms)
    .bind(&code_hash)
    .execute(&mut *tx)
    .await?;
    if redeemed.rows_affected() == 1 {
        payment.status = "accepted".into();
        payment.device_id = Some(device_id);
        payment.user_id = Some(user_id.clone());
        if let Some(outcome) = debit_and_store(&mut tx, &payment, &user_id).await? {
            tx.rollback().await?;
            return Ok(Some(outcome));
        }
        tx.commit().await?;
        return Ok(Some(Recorded::Stored(payment)));
    }
    let row = sqlx::query(
        "SELECT o.redeemed_ms, o.expires_ms, d.status FROM online_codes o \
         JOIN devices d ON d.device_id = o.device_id WHERE o.code_hash = $1",
    )
    .bind(&code_hash)
    .fetch_optional(&mut *tx)
    .await?;
    tx.rollback().await?;
    let reason = match row {
        None => "revoked",
        Some(row) => {
            let status: String = row.try_get("status")?;
            let redeemed: Option<i64> = row.try_get("redeemed_ms")?;
            let expires: i64 = row.try_get("expires_ms")?;
            match status.as_str() {
                "active" if redeemed.is_some() => "replayed",
                "active" if expires <= now_ms => "expired",
                "active" => "replayed",
                "paused" => "paused",
                _ => "revoked",
            }
        }
    };
    record_declined(state, payment, reason, None, code_prefix)
        .await
        .map(Some)
}

/// The answer to a refused merchant: `429` after the refusal delay (the tarpit, ratelimit.rs:
/// a closed-loop attacker's rate is bounded by its connections), its body drained first.
async fn refusal(state: &AppState, merchant_id: &str, refused: Refused, body: Body) -> ApiError {
    body::discard(body).await;
    let delay_ms = state.limiter.limits().refusal_delay_ms;
    if delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    }
    if let Some(refusals) = refused.log {
        tracing::warn!(
            merchant_id,
            global = refused.global,
            refusals,
            "payments refused: rate limited (one line per merchant per minute)"
        );
    }
    let mut error = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many wrong codes from this merchant: try again later",
    );
    error.retry_after_secs = Some(u64::try_from((refused.retry_after_ms + 999) / 1000).unwrap_or(1));
    error
}

/// `POST /v1/payments`.
pub async fn pay(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let merchant_id = state.authenticate_merchant(&headers).await?;
    // A locked-out merchant is refused first: the cheapest answer the issuer has, in memory,
    // before the body is parsed — a guess storm is mostly these.
    let now_ms = state.clock.now_ms();
    // Held until this function returns, after the outcome is recorded (ratelimit::Admission).
    let mut admission = match state.limiter.check_merchant(&merchant_id, now_ms) {
        Ok(admission) => admission,
        Err(refused) => return Err(refusal(&state, &merchant_id, refused, body).await),
    };
    let bytes = body::read(&headers, body, state.config.max_body_bytes).await?;
    let req: PayRequest = body::json(&bytes)?;
    let code = validate(&req, &merchant_id)?;
    let digits = code.digits();
    let code_prefix = digits[..2].to_owned();
    let request_hash = sha256_hex(format!("{digits}\n{}\n{}", req.amount, req.currency));
    let payment = PaymentRow {
        payment_id: ordered_id("pay", now_ms)?,
        merchant_id: merchant_id.clone(),
        idempotency_key: req.idempotency_key.clone(),
        request_hash: request_hash.clone(),
        status: "declined".into(),
        reason: None,
        device_id: None,
        user_id: None,
        amount: req.amount,
        currency: req.currency.clone(),
        code_kind: None,
        created_ms: now_ms,
    };
    let recorded =
        match check_admitted(&state, &code, now_ms.div_euclid(1000), now_ms, &mut admission).await? {
            Offline::Verified(verified, device) => {
                redeem_offline(&state, payment.clone(), verified, &device, &code_prefix).await?
            }
            Offline::SlotLocked(slot) => {
                record_declined(&state, payment.clone(), "slot_locked", Some(slot), &code_prefix).await?
            }
            Offline::Rejected(rejection, slots) => {
                // Online codes never verify as offline codes (checked when issued), so only codes
                // that match no device are looked up among them.
                let online = if matches!(rejection, Rejection::UnknownDevice | Rejection::BadOtp) {
                    redeem_online(&state, payment.clone(), &digits, &code_prefix).await?
                } else {
                    None
                };
                match online {
                    Some(recorded) => recorded,
                    None => {
                        let slot = slots.first().copied();
                        let recorded = record_declined(
                            &state,
                            payment.clone(),
                            verify::reason(&rejection),
                            slot,
                            &code_prefix,
                        )
                        .await?;
                        // A retry of a stored payment (key taken) is not a new guess.
                        if verify::is_guess(&rejection) && matches!(recorded, Recorded::Stored(_)) {
                            admission.record_failure(now_ms);
                        }
                        recorded
                    }
                }
            }
        };
    let recorded = match recorded {
        Recorded::InsufficientFunds => {
            record_declined(&state, payment, "insufficient_funds", None, &code_prefix).await?
        }
        other => other,
    };
    match recorded {
        Recorded::Stored(stored) => {
            tracing::info!(
                payment_id = stored.payment_id,
                merchant_id,
                status = stored.status,
                reason = stored.reason.as_deref().unwrap_or(""),
                code_prefix,
                "payment decided"
            );
            Ok(answer(&stored, false))
        }
        Recorded::KeyTaken | Recorded::InsufficientFunds => {
            let stored = state
                .db
                .payment_by_key_fresh(&merchant_id, &req.idempotency_key)
                .await?
                .ok_or_else(ApiError::unavailable)?;
            replay(&stored, &request_hash)
        }
    }
}

/// `GET /v1/payments/{id}`: the merchant's own payments only.
pub async fn get_payment(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<PaymentResponse>, ApiError> {
    let merchant_id = state.authenticate_merchant(&headers).await?;
    let Path(payment_id) = path.map_err(|_| ApiError::not_found("no such payment"))?;
    match state.db.payment(&payment_id).await? {
        Some(p) if p.merchant_id == merchant_id => Ok(Json(PaymentResponse::from(&p))),
        _ => Err(ApiError::not_found("no such payment")),
    }
}
