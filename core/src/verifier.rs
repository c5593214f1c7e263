//! The issuer side: from 18 digits to (device, step, counter), or a typed rejection.
//!
//! See `docs/PROTOCOL.md` §6 for the algorithm. In short: for each time step in the window
//! (current, then older, then newer), decrypt the identity field under that step's day key to a
//! (slot, counter), look the slot up, and compare the OTP in constant time. Exactly one match is
//! an acceptance; two matches (possible with probability ~10^-6 per extra step) are rejected as
//! ambiguous rather than risk debiting the wrong device.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::code::{ParseError, PaymentCode, Prefix};
use crate::credential::TimeParams;
use crate::identity::{IdentityCipher, IssuerKeyring, Slot, day_of_step};
use crate::otp::payment_otp;
use crate::replay::{CodeMark, GuardError, ReplayGuard};
use crate::secret::Seed;

/// Whether a device may pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Codes are accepted.
    Active,
    /// The user paused payment codes (kill switch); resumable.
    Paused,
    /// The device was logged out or revoked; final.
    Revoked,
}

/// What the issuer knows of one device slot.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    /// The slot.
    pub slot: Slot,
    /// The device's OTP seed.
    pub seed: Seed,
    /// Whether it may pay.
    pub status: DeviceStatus,
    /// Start of its credential's validity (Unix seconds).
    pub valid_from: i64,
    /// End of its credential's validity, exclusive (Unix seconds).
    pub valid_until: i64,
}

/// A directory failure (database down, …): not the client's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// Slot → device lookup. Must be O(1)-ish: the verifier calls it once per step of its window.
pub trait DeviceDirectory: Send + Sync {
    /// The device in `slot`, if any.
    fn device(&self, slot: Slot) -> Result<Option<DeviceRecord>, DirectoryError>;
}

/// A [`DeviceDirectory`] in a hash map, for tests, benchmarks and the demo.
#[derive(Debug, Default)]
pub struct InMemoryDirectory {
    devices: RwLock<HashMap<Slot, DeviceRecord>>,
}

impl InMemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a device.
    pub fn insert(&self, record: DeviceRecord) {
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.slot, record);
    }

    /// Changes a device's status; `false` if there is no such device.
    pub fn set_status(&self, slot: Slot, status: DeviceStatus) -> bool {
        let mut devices = self.devices.write().unwrap_or_else(|p| p.into_inner());
        devices.get_mut(&slot).map(|d| d.status = status).is_some()
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether there are no devices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl DeviceDirectory for InMemoryDirectory {
    fn device(&self, slot: Slot) -> Result<Option<DeviceRecord>, DirectoryError> {
        Ok(self
            .devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&slot)
            .cloned())
    }
}

/// Why a code was refused: the client's side of things (HTTP 4xx / a declined payment).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not 18 digits.
    #[error("malformed code: {0}")]
    Malformed(#[from] ParseError),
    /// The prefix belongs to another issuer.
    #[error("prefix {0} is not served by this issuer")]
    UnknownPrefix(u8),
    /// No device in the window's steps matches the identity field.
    #[error("no device matches this code")]
    UnknownDevice,
    /// A device matched but the OTP is wrong (forged, mistyped, or too old or new for the window).
    #[error("the code's one-time password is wrong or outside the time window")]
    BadOtp,
    /// More than one (device, step) matched: refused rather than risk debiting the wrong one.
    #[error("the code is ambiguous: ask the customer for a fresh code")]
    Ambiguous,
    /// Made before the device's credential was valid.
    #[error("the code predates its credential")]
    NotYetValid,
    /// Made from credentials whose offline validity had ended.
    #[error("the code was made from expired credentials (valid until unix time {valid_until})")]
    Expired {
        /// End of validity (Unix seconds).
        valid_until: i64,
    },
    /// The device is revoked or logged out.
    #[error("the device is revoked")]
    Revoked,
    /// The user paused payment codes.
    #[error("payment codes are paused by the user")]
    Paused,
    /// This code was already used.
    #[error("the code was already used")]
    Replayed,
    /// A newer code of this device was used.
    #[error("a newer code of this device was already used")]
    Superseded,
    /// The owner voided the code (screenshot).
    #[error("the code was voided by its owner")]
    Voided,
}

/// What can go wrong verifying: the client's fault ([`Rejection`]) or the issuer's storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The code is refused.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Storage failed; nothing was recorded. Retry later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<DirectoryError> for VerifyError {
    fn from(e: DirectoryError) -> Self {
        VerifyError::Unavailable(e.0)
    }
}

impl From<GuardError> for VerifyError {
    fn from(e: GuardError) -> Self {
        match e {
            GuardError::Replayed => Rejection::Replayed.into(),
            GuardError::Superseded => Rejection::Superseded.into(),
            GuardError::Voided => Rejection::Voided.into(),
            GuardError::Unavailable(why) => VerifyError::Unavailable(why),
        }
    }
}

/// An authentic code: which device made it, when, and which refresh it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The device slot.
    pub slot: Slot,
    /// The time step the code was made in.
    pub step: u64,
    /// The refresh counter.
    pub counter: u8,
}

impl Verified {
    /// The code's place in its device's sequence.
    pub fn mark(&self) -> CodeMark {
        CodeMark {
            step: self.step,
            counter: self.counter,
        }
    }
}

/// The verifier's time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Step length, as the devices use it.
    pub time: TimeParams,
    /// Steps before the current one that are accepted (default 1).
    pub skew_back: u32,
    /// Steps after the current one that are accepted (default 1).
    pub skew_ahead: u32,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            time: TimeParams::default(),
            skew_back: 1,
            skew_ahead: 1,
        }
    }
}

impl VerifierConfig {
    /// Steps in the window.
    pub fn window(&self) -> u32 {
        1 + self.skew_back + self.skew_ahead
    }
}

/// How many day ciphers a verifier keeps expanded (the window spans at most two days in
/// practice; a few more serve late and early codes around midnight).
const CIPHER_CACHE_DAYS: usize = 8;

/// Checks payment codes for one issuer prefix.
pub struct Verifier {
    keyring: IssuerKeyring,
    config: VerifierConfig,
    clock: Arc<dyn Clock>,
    ciphers: RwLock<HashMap<u32, Arc<IdentityCipher>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("prefix", &self.keyring.prefix())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `keyring`'s prefix with `config`, reading time from `clock`.
    pub fn new(keyring: IssuerKeyring, config: VerifierConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            keyring,
            config,
            clock,
            ciphers: RwLock::new(HashMap::new()),
        }
    }

    /// The prefix served.
    pub fn prefix(&self) -> Prefix {
        self.keyring.prefix()
    }

    /// The configuration.
    pub fn config(&self) -> VerifierConfig {
        self.config
    }

    /// The keyring (the issuer uses it to issue credentials).
    pub fn keyring(&self) -> &IssuerKeyring {
        &self.keyring
    }

    /// Verifies `code` now, without recording anything.
    pub fn check(&self, code: &str, directory: &dyn DeviceDirectory) -> Result<Verified, VerifyError> {
        self.check_at(code, self.clock.now_secs(), directory)
    }

    /// Verifies `code` now and redeems it in `guard`: the one-call path for an issuer whose
    /// ledger does not share the guard's transaction.
    pub fn redeem(
        &self,
        code: &str,
        directory: &dyn DeviceDirectory,
        guard: &dyn ReplayGuard,
    ) -> Result<Verified, VerifyError> {
        let verified = self.check(code, directory)?;
        guard.redeem(verified.slot, verified.mark())?;
        Ok(verified)
    }

    /// Verifies `code` as of `now_secs` (Unix seconds), without recording anything.
    pub fn check_at(
        &self,
        code: &str,
        now_secs: i64,
        directory: &dyn DeviceDirectory,
    ) -> Result<Verified, VerifyError> {
        let code = PaymentCode::parse(code).map_err(Rejection::from)?;
        self.check_code_at(&code, now_secs, directory)
    }

    /// [`Self::check_at`] for an already parsed code.
    pub fn check_code_at(
        &self,
        code: &PaymentCode,
        now_secs: i64,
        directory: &dyn DeviceDirectory,
    ) -> Result<Verified, VerifyError> {
        if code.prefix() != self.keyring.prefix() {
            return Err(Rejection::UnknownPrefix(code.prefix().get()).into());
        }
        let routing = code.routing_digits();
        let current = self.config.time.step_at(now_secs).unwrap_or(0);
        let mut known_device = false;
        let mut matched: Option<(Verified, DeviceRecord)> = None;
        let mut cipher: Option<(u32, Arc<IdentityCipher>)> = None;
        for step in window(current, self.config.skew_back, self.config.skew_ahead) {
            let day = day_of_step(step, self.config.time.step_secs);
            // The window's steps almost always share one day: fetch its cipher once.
            let cipher = match &cipher {
                Some((cached, c)) if *cached == day => c,
                _ => &cipher.insert((day, self.cipher_for(day))).1,
            };
            // The parsed identity is < 10^10, so decryption always yields a (slot, counter).
            let Some((slot, counter)) = cipher.decrypt(step, code.identity()) else {
                continue;
            };
            let Some(device) = directory.device(slot)? else {
                continue;
            };
            known_device = true;
            let expected = payment_otp(&device.seed, &routing, step, counter);
            if bool::from(expected.ct_eq(&code.otp())) {
                if matched.is_some() {
                    return Err(Rejection::Ambiguous.into());
                }
                matched = Some((Verified { slot, step, counter }, device));
            }
        }
        let Some((verified, device)) = matched else {
            return Err(if known_device {
                Rejection::BadOtp
            } else {
                Rejection::UnknownDevice
            }
            .into());
        };
        match device.status {
            DeviceStatus::Active => {}
            DeviceStatus::Paused => return Err(Rejection::Paused.into()),
            DeviceStatus::Revoked => return Err(Rejection::Revoked.into()),
        }
        let made_at = self.config.time.step_start(verified.step);
        // A code is valid if its step overlaps the validity interval.
        if made_at + i64::from(self.config.time.step_secs) <= device.valid_from {
            return Err(Rejection::NotYetValid.into());
        }
        if made_at >= device.valid_until {
            return Err(Rejection::Expired {
                valid_until: device.valid_until,
            }
            .into());
        }
        Ok(verified)
    }

    fn cipher_for(&self, day: u32) -> Arc<IdentityCipher> {
        if let Some(cipher) = self.ciphers.read().unwrap_or_else(|p| p.into_inner()).get(&day) {
            return cipher.clone();
        }
        let cipher = Arc::new(IdentityCipher::new(&self.keyring.day_key(day)));
        let mut cache = self.ciphers.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CIPHER_CACHE_DAYS {
            // Drop the day farthest from the one needed now.
            if let Some(&far) = cache.keys().max_by_key(|d| d.abs_diff(day)) {
                cache.remove(&far);
            }
        }
        cache.entry(day).or_insert(cipher).clone()
    }
}

/// The window's steps: the current one first, then older ones, then newer ones.
fn window(current: u64, back: u32, ahead: u32) -> impl Iterator<Item = u64> {
    let older = (1..=u64::from(back)).filter_map(move |k| current.checked_sub(k));
    let newer = (1..=u64::from(ahead)).filter_map(move |k| current.checked_add(k));
    std::iter::once(current).chain(older).chain(newer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_order_and_edges() {
        assert_eq!(window(10, 1, 1).collect::<Vec<_>>(), vec![10, 9, 11]);
        assert_eq!(window(10, 2, 0).collect::<Vec<_>>(), vec![10, 9, 8]);
        assert_eq!(window(0, 1, 1).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(window(u64::MAX, 0, 1).collect::<Vec<_>>(), vec![u64::MAX]);
    }
}
