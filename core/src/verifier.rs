//! The issuer side: from 18 digits to (device, step, counter), or a typed rejection.
//!
//! See `docs/PROTOCOL.md` §6 for the algorithm. In short: for each time step in the window
//! (current, then older, then newer), decrypt the identity field under that step's day key to a
//! (slot, counter), look the slot up, and compare the OTP in constant time. Exactly one match is
//! an acceptance; two matches (possible with probability ~10^-6 per extra step) are rejected as
//! ambiguous rather than risk debiting the wrong device.
//!
//! Two protocol versions are accepted side by side (`docs/PROTOCOL.md` §12.6): for each step,
//! the field is decrypted under the protocol-2 day key, and — until the configured v1 cut-off —
//! also under the protocol-1 day key. A slot found under a version's key counts only if the
//! directory says the device accepts that version for that step ([`DeviceProtocol`]), so the
//! holder of a protocol-1 bundle cannot aim codes at a device that has moved to protocol 2.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::code::{ParseError, PaymentCode, Prefix};
use crate::credential::TimeParams;
use crate::identity::{IdentityCipher, IssuerKeyring, Protocol, Slot, day_of_step};
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
    /// Which protocol versions its codes may use.
    pub protocol: DeviceProtocol,
}

/// Which protocol versions a device's codes may use: what the issuer last sent it, and until
/// when it may still be showing protocol-1 codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceProtocol {
    /// Codes under the protocol-2 keys are accepted (the device holds a version-2 bundle).
    pub v2: bool,
    /// Codes under the protocol-1 keys are accepted for steps that start before this Unix time:
    /// `i64::MAX` for a device still on protocol 1, the time of its first version-2 bundle for a
    /// migrated device, `i64::MIN` for a device that never had a version-1 bundle.
    pub v1_until: i64,
}

impl DeviceProtocol {
    /// A device on protocol 1 (a version-1 bundle, not migrated yet).
    pub const V1: Self = Self {
        v2: false,
        v1_until: i64::MAX,
    };
    /// A device provisioned on protocol 2: never accepts protocol-1 codes.
    pub const V2: Self = Self {
        v2: true,
        v1_until: i64::MIN,
    };

    /// A protocol-1 device that received its first version-2 bundle at `at` (Unix seconds):
    /// its protocol-1 codes of steps that started before `at` stay good for their window.
    pub fn migrated_at(at: i64) -> Self {
        Self {
            v2: true,
            v1_until: at,
        }
    }

    /// Whether a code of `protocol` made in the step starting at `step_start` may be this
    /// device's.
    pub fn accepts(&self, protocol: Protocol, step_start: i64) -> bool {
        match protocol {
            Protocol::V2 => self.v2,
            Protocol::V1 => step_start < self.v1_until,
        }
    }
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
    /// Codes per step of protocol-2 credentials (default 4): a protocol-2 field that decrypts
    /// to a higher counter was never issued and matches no device.
    pub refreshes: u8,
    /// From this Unix time on, protocol-1 codes are declined without being tried (`None`:
    /// accepted, from devices that have not migrated, until the cut-off is configured).
    pub v1_cutoff: Option<i64>,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            time: TimeParams::default(),
            skew_back: 1,
            skew_ahead: 1,
            refreshes: crate::credential::DEFAULT_REFRESHES,
            v1_cutoff: None,
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
    ciphers: RwLock<HashMap<(Protocol, u32), Arc<IdentityCipher>>>,
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
        let v1_open = self.config.v1_cutoff.is_none_or(|cutoff| now_secs < cutoff);
        let mut known_device = false;
        let mut matched: Option<(Verified, DeviceRecord)> = None;
        let mut ciphers: Vec<((Protocol, u32), Arc<IdentityCipher>)> = Vec::with_capacity(2);
        for step in window(current, self.config.skew_back, self.config.skew_ahead) {
            let day = day_of_step(step, self.config.time.step_secs);
            let step_start = self.config.time.step_start(step);
            let versions: &[Protocol] = if v1_open {
                &[Protocol::V2, Protocol::V1]
            } else {
                &[Protocol::V2]
            };
            for &protocol in versions {
                // The window's steps almost always share one day: fetch its ciphers once.
                let cipher = match ciphers.iter().position(|(k, _)| *k == (protocol, day)) {
                    Some(i) => ciphers[i].1.clone(),
                    None => {
                        let c = self.cipher_for(protocol, day);
                        ciphers.push(((protocol, day), c.clone()));
                        c
                    }
                };
                // The parsed identity is < 10^10, so decryption always yields a (slot, counter).
                let Some((slot, counter)) = cipher.decrypt(step, code.identity()) else {
                    continue;
                };
                if protocol == Protocol::V2 && counter >= self.config.refreshes {
                    continue;
                }
                let Some(device) = directory.device(slot)? else {
                    continue;
                };
                if !device.protocol.accepts(protocol, step_start) {
                    continue;
                }
                known_device = true;
                let expected = payment_otp(&device.seed, &routing, step, counter);
                if bool::from(expected.ct_eq(&code.otp())) {
                    if matched.is_some() {
                        return Err(Rejection::Ambiguous.into());
                    }
                    matched = Some((Verified { slot, step, counter }, device));
                }
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

    fn cipher_for(&self, protocol: Protocol, day: u32) -> Arc<IdentityCipher> {
        let key = (protocol, day);
        if let Some(cipher) = self.ciphers.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return cipher.clone();
        }
        let cipher = Arc::new(IdentityCipher::new(&self.keyring.day_key_of(protocol, day)));
        let mut cache = self.ciphers.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 2 * CIPHER_CACHE_DAYS {
            // Drop the day farthest from the one needed now.
            if let Some(&far) = cache.keys().max_by_key(|(_, d)| d.abs_diff(day)) {
                cache.remove(&far);
            }
        }
        cache.entry(key).or_insert(cipher).clone()
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
