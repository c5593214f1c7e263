//! Offline-code verification against the database: the core [`Verifier`] runs on a snapshot
//! of the few device rows its window can touch.
//!
//! `DeviceDirectory` is synchronous and the database is not, so verification takes two passes:
//! the first, with a directory that records the slots asked for and knows no device, learns
//! which slots the code's identity field decrypts to in each step of the window (at most
//! `window` slots per protocol version tried: `2 × window` while protocol 1 is accepted); one `SELECT … WHERE slot IN (…)` fetches them; the second pass runs the
//! verifier on that snapshot. Both passes use the same `now`, so they see the same window.
//! The snapshot is only a read: redemption re-checks status and watermark atomically in the
//! payment transaction.

use std::collections::HashMap;
use std::sync::Mutex;

use paycode_core::verifier::{
    DeviceDirectory, DeviceProtocol, DeviceRecord, DeviceStatus, DirectoryError, InMemoryDirectory,
    Rejection, Verified, VerifyError,
};
use paycode_core::{PaymentCode, Slot};

use crate::db::DeviceRow;
use crate::ratelimit::Admission;
use crate::state::AppState;

/// Records the slots the verifier asks for; knows no device.
#[derive(Default)]
struct SlotRecorder(Mutex<Vec<Slot>>);

impl DeviceDirectory for SlotRecorder {
    fn device(&self, slot: Slot) -> Result<Option<DeviceRecord>, DirectoryError> {
        let mut slots = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !slots.contains(&slot) {
            slots.push(slot);
        }
        Ok(None)
    }
}

/// The verdict on an offline code.
pub enum Offline {
    /// Authentic and currently valid: redeem it (watermark still to check).
    Verified(Verified, DeviceRow),
    /// Refused by the verifier. `slots` are the existing candidate slots (for rate limits).
    Rejected(Rejection, Vec<Slot>),
    /// A candidate slot is locked by the brute-force limits: the OTP was not even checked.
    SlotLocked(Slot),
}

/// Maps a stored status to the verifier's.
pub fn status_of(text: &str) -> DeviceStatus {
    match text {
        "active" => DeviceStatus::Active,
        "paused" => DeviceStatus::Paused,
        _ => DeviceStatus::Revoked,
    }
}

/// Verifies `code` as of `now_secs` against the database, outside the brute-force limits (for
/// the issuer's own checks, e.g. that an online code does not verify as an offline one).
pub async fn check_offline(
    state: &AppState,
    code: &PaymentCode,
    now_secs: i64,
    now_ms: i64,
) -> Result<Offline, sqlx::Error> {
    verify_offline(state, code, now_secs, now_ms, None).await
}

/// Verifies a merchant's `code` as of `now_secs` against the database: once the existing slots
/// it decrypts to are known, the code takes its place in their budgets (`admission`,
/// ratelimit.rs) — or is declined `slot_locked` before its OTP is checked.
pub async fn check_admitted(
    state: &AppState,
    code: &PaymentCode,
    now_secs: i64,
    now_ms: i64,
    admission: &mut Admission<'_>,
) -> Result<Offline, sqlx::Error> {
    verify_offline(state, code, now_secs, now_ms, Some(admission)).await
}

async fn verify_offline(
    state: &AppState,
    code: &PaymentCode,
    now_secs: i64,
    now_ms: i64,
    admission: Option<&mut Admission<'_>>,
) -> Result<Offline, sqlx::Error> {
    let recorder = SlotRecorder::default();
    match state.verifier.check_code_at(code, now_secs, &recorder) {
        Err(VerifyError::Rejected(Rejection::UnknownDevice)) => {}
        // Wrong prefix: no slot was looked at.
        Err(VerifyError::Rejected(r)) => return Ok(Offline::Rejected(r, Vec::new())),
        Ok(_) | Err(VerifyError::Unavailable(_)) => unreachable!("an empty directory matches nothing"),
    }
    let slots = recorder.0.into_inner().unwrap_or_else(|p| p.into_inner());
    let rows = state.db.devices_in_slots(&slots).await?;
    let existing: Vec<Slot> = rows.iter().map(|r| r.slot).collect();
    if let Some(admission) = admission
        && let Err(locked) = admission.reserve_slots(&existing, now_ms)
    {
        return Ok(Offline::SlotLocked(locked));
    }
    let directory = InMemoryDirectory::new();
    let mut by_slot = HashMap::new();
    for row in rows {
        // A logged-out device has no seed left: its codes can no longer be told from guesses.
        let Some(stored) = row.seed.as_deref() else {
            continue;
        };
        let Some(seed) = state.seeds.open(&row.device_id, stored) else {
            // Checked at start-up for one device; a row copied from elsewhere lands here.
            tracing::error!(
                device_id = row.device_id,
                "the device's sealed seed does not open"
            );
            continue;
        };
        directory.insert(DeviceRecord {
            slot: row.slot,
            seed,
            status: status_of(&row.status),
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            protocol: DeviceProtocol {
                v2: row.proto_v2,
                v1_until: row.v1_until,
            },
        });
        by_slot.insert(row.slot, row);
    }
    Ok(match state.verifier.check_code_at(code, now_secs, &directory) {
        Ok(verified) => {
            let row = by_slot
                .remove(&verified.slot)
                .expect("the verifier matched a device of the snapshot");
            Offline::Verified(verified, row)
        }
        Err(VerifyError::Rejected(r)) => Offline::Rejected(r, existing),
        Err(VerifyError::Unavailable(_)) => unreachable!("an in-memory directory does not fail"),
    })
}

/// The snake_case reason of a rejection, as stored and returned.
pub fn reason(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::Malformed(_) => "malformed",
        Rejection::UnknownPrefix(_) => "unknown_prefix",
        Rejection::UnknownDevice => "unknown_device",
        Rejection::BadOtp => "bad_otp",
        Rejection::Ambiguous => "ambiguous",
        Rejection::NotYetValid => "not_yet_valid",
        Rejection::Expired { .. } => "expired",
        Rejection::Revoked => "revoked",
        Rejection::Paused => "paused",
        Rejection::Replayed => "replayed",
        Rejection::Superseded => "superseded",
        Rejection::Voided => "voided",
    }
}

/// Whether a rejection looks like a guess (counts towards the brute-force limits).
pub fn is_guess(rejection: &Rejection) -> bool {
    matches!(
        rejection,
        Rejection::UnknownPrefix(_) | Rejection::UnknownDevice | Rejection::BadOtp | Rejection::Ambiguous
    )
}

/// The human message of a stored reason.
pub fn message(reason: &str) -> &'static str {
    match reason {
        "malformed" => "the code is not 18 digits",
        "unknown_prefix" => "the code's prefix is not served by this issuer",
        "unknown_device" => "no device matches this code",
        "bad_otp" => "the code is wrong or outside its time window",
        "ambiguous" => "the code is ambiguous: ask the customer for a fresh code",
        "not_yet_valid" => "the code predates its credential",
        "expired" => "the code was made from expired credentials or is an expired online code",
        "revoked" => "the device was logged out or revoked",
        "paused" => "the user paused payment codes",
        "replayed" => "the code was already used",
        "superseded" => "a newer code of this device was already used",
        "voided" => "the code was voided by its owner (screenshot)",
        "slot_locked" => "too many wrong codes for this device: try again later",
        "insufficient_funds" => "the user's balance is too low",
        _ => "declined",
    }
}
