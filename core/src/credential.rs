//! The device side of the protocol: an offline credential and the codes it makes.

use std::fmt;

use crate::code::{COUNTERS_PER_STEP, PaymentCode, Prefix};
use crate::identity::{IdentityCipher, IssuerKeyring, SECONDS_PER_DAY, Slot, day_of_step};
use crate::otp::payment_otp;
use crate::secret::{IdentityKey, Seed};

/// The longest offline validity an issuer may grant: bounds what one extracted phone exposes.
pub const MAX_VALIDITY_SECS: i64 = 31 * SECONDS_PER_DAY as i64;

/// Time parameters shared by the issuer and its devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeParams {
    /// Length of a time step in seconds: 60 by default, 10..=600 allowed.
    pub step_secs: u32,
}

impl Default for TimeParams {
    fn default() -> Self {
        Self { step_secs: 60 }
    }
}

impl TimeParams {
    /// Whether the step length is within 10..=600 s.
    pub fn is_valid(&self) -> bool {
        (10..=600).contains(&self.step_secs)
    }

    /// The step containing `unix_secs` (negative times are before step 0 and have none).
    pub fn step_at(&self, unix_secs: i64) -> Option<u64> {
        u64::try_from(unix_secs)
            .ok()
            .map(|t| t / u64::from(self.step_secs))
    }

    /// The Unix time at which `step` starts.
    pub fn step_start(&self, step: u64) -> i64 {
        i64::try_from(step.saturating_mul(u64::from(self.step_secs))).unwrap_or(i64::MAX)
    }
}

/// Why a credential cannot make a code now. None of these is ever papered over with a fake code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// The credential's offline validity has ended.
    #[error("offline credentials expired at unix time {valid_until}: connect to refresh them")]
    Expired {
        /// When validity ended (Unix seconds).
        valid_until: i64,
    },
    /// The credential is not valid yet (the clock is before its start).
    #[error("offline credentials are valid only from unix time {valid_from}: check the clock")]
    NotYetValid {
        /// When validity starts (Unix seconds).
        valid_from: i64,
    },
    /// The credential has no identity key for this UTC day.
    #[error("no identity key for UTC day {day}: connect to refresh credentials")]
    MissingDayKey {
        /// The day (days since 1970-01-01).
        day: u32,
    },
    /// All refreshes of this step are used; the next step starts a new series.
    #[error("all {COUNTERS_PER_STEP} codes of this time step were shown: wait for the next step")]
    CounterExhausted,
}

/// Why the parts of a credential do not make a valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The validity interval is empty, inverted or longer than [`MAX_VALIDITY_SECS`].
    #[error("validity from {valid_from} to {valid_until} is not a valid interval of at most 31 days")]
    BadValidity {
        /// Start (Unix seconds).
        valid_from: i64,
        /// End (Unix seconds).
        valid_until: i64,
    },
    /// The step length is outside 10..=600 seconds.
    #[error("step length {0} s is outside 10..=600")]
    BadStep(u32),
    /// The slot is not below 10^9.
    #[error("device slot {0} is out of range")]
    BadSlot(u32),
    /// Day keys are missing for some day of the validity interval, or are not in order.
    #[error("identity keys must cover every UTC day from {first} to {last} in order")]
    DayKeysIncomplete {
        /// First day that must be covered.
        first: u32,
        /// Last day that must be covered.
        last: u32,
    },
}

/// One day's identity key with its expanded cipher.
struct DayKey {
    day: u32,
    key: IdentityKey,
    cipher: IdentityCipher,
}

/// Everything a device needs to make codes offline: its slot, seed, and the identity keys of
/// its validity period. Secret parts zeroize on drop; `Debug` shows no secret.
pub struct OfflineCredential {
    slot: Slot,
    prefix: Prefix,
    time: TimeParams,
    seed: Seed,
    valid_from: i64,
    valid_until: i64,
    day_keys: Vec<DayKey>,
}

impl fmt::Debug for OfflineCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfflineCredential")
            .field("slot", &self.slot)
            .field("prefix", &self.prefix)
            .field("step_secs", &self.time.step_secs)
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("days", &self.day_keys.iter().map(|d| d.day).collect::<Vec<_>>())
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// Checks the step length and that the validity interval is non-empty and at most 31 days.
fn check_interval(time: TimeParams, valid_from: i64, valid_until: i64) -> Result<(), CredentialError> {
    if !time.is_valid() {
        return Err(CredentialError::BadStep(time.step_secs));
    }
    if valid_from < 0 || valid_until <= valid_from || valid_until - valid_from > MAX_VALIDITY_SECS {
        return Err(CredentialError::BadValidity {
            valid_from,
            valid_until,
        });
    }
    Ok(())
}

/// The UTC days a validity interval's codes can fall in.
fn days_covered(time: TimeParams, valid_from: i64, valid_until: i64) -> (u32, u32) {
    let first_step = time.step_at(valid_from).unwrap_or(0);
    let last_step = time.step_at(valid_until - 1).unwrap_or(0);
    (
        day_of_step(first_step, time.step_secs),
        day_of_step(last_step, time.step_secs),
    )
}

impl OfflineCredential {
    /// Assembles a credential from parts received from the issuer, checking every part.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        slot: Slot,
        prefix: Prefix,
        time: TimeParams,
        seed: Seed,
        valid_from: i64,
        valid_until: i64,
        day_keys: Vec<(u32, IdentityKey)>,
    ) -> Result<Self, CredentialError> {
        check_interval(time, valid_from, valid_until)?;
        if slot >= crate::code::SLOT_SPACE {
            return Err(CredentialError::BadSlot(slot));
        }
        let (first, last) = days_covered(time, valid_from, valid_until);
        let expected = (last - first + 1) as usize;
        let in_order = day_keys.len() == expected
            && day_keys
                .iter()
                .enumerate()
                .all(|(i, (day, _))| *day == first + i as u32);
        if !in_order {
            return Err(CredentialError::DayKeysIncomplete { first, last });
        }
        let day_keys = day_keys
            .into_iter()
            .map(|(day, key)| DayKey {
                day,
                cipher: IdentityCipher::new(&key),
                key,
            })
            .collect();
        Ok(Self {
            slot,
            prefix,
            time,
            seed,
            valid_from,
            valid_until,
            day_keys,
        })
    }

    /// The issuer's side of provisioning: the credential for `slot` with `seed`, carrying the
    /// day keys of `[valid_from, valid_until)` from `keyring`.
    pub fn issue(
        keyring: &IssuerKeyring,
        time: TimeParams,
        slot: Slot,
        seed: Seed,
        valid_from: i64,
        valid_until: i64,
    ) -> Result<Self, CredentialError> {
        check_interval(time, valid_from, valid_until)?;
        let (first, last) = days_covered(time, valid_from, valid_until);
        let keys = (first..=last).map(|day| (day, keyring.day_key(day))).collect();
        Self::new(slot, keyring.prefix(), time, seed, valid_from, valid_until, keys)
    }

    /// The code for the step containing `unix_secs`, refresh number `counter` (0..=9).
    pub fn code_at(&self, unix_secs: i64, counter: u8) -> Result<PaymentCode, GenerateError> {
        if unix_secs < self.valid_from {
            return Err(GenerateError::NotYetValid {
                valid_from: self.valid_from,
            });
        }
        if unix_secs >= self.valid_until {
            return Err(GenerateError::Expired {
                valid_until: self.valid_until,
            });
        }
        if counter >= COUNTERS_PER_STEP {
            return Err(GenerateError::CounterExhausted);
        }
        // unix_secs ≥ valid_from ≥ 0 here, so there is a step.
        let step = self
            .time
            .step_at(unix_secs)
            .expect("non-negative time has a step");
        self.code_for_step(step, counter)
    }

    /// The code of an explicit `step` and `counter`, ignoring validity times (for test vectors
    /// and the issuer's own checks). Fails only if the day key or counter is missing.
    pub fn code_for_step(&self, step: u64, counter: u8) -> Result<PaymentCode, GenerateError> {
        let day = day_of_step(step, self.time.step_secs);
        let day_key = self
            .day_keys
            .iter()
            .find(|d| d.day == day)
            .ok_or(GenerateError::MissingDayKey { day })?;
        let identity = day_key
            .cipher
            .encrypt(step, self.slot, counter)
            .ok_or(GenerateError::CounterExhausted)?;
        // identity < 10^10 by FF1's construction; a 6-digit OTP is < 10^6.
        let unsigned = PaymentCode::from_parts(self.prefix, identity, 0).expect("fields in range");
        let otp = payment_otp(&self.seed, &unsigned.routing_digits(), step, counter);
        Ok(PaymentCode::from_parts(self.prefix, identity, otp).expect("fields in range"))
    }

    /// The device slot.
    pub fn slot(&self) -> Slot {
        self.slot
    }
    /// The issuer prefix.
    pub fn prefix(&self) -> Prefix {
        self.prefix
    }
    /// The time parameters.
    pub fn time(&self) -> TimeParams {
        self.time
    }
    /// Start of validity (Unix seconds).
    pub fn valid_from(&self) -> i64 {
        self.valid_from
    }
    /// End of validity, exclusive (Unix seconds).
    pub fn valid_until(&self) -> i64 {
        self.valid_until
    }
    /// The seed, for storing it in a keystore. Never show or log it.
    pub fn seed(&self) -> &Seed {
        &self.seed
    }
    /// The day keys `(day, key)`, for storing them in a keystore. Never show or log them.
    pub fn day_keys(&self) -> impl Iterator<Item = (u32, &IdentityKey)> {
        self.day_keys.iter().map(|d| (d.day, &d.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::IssuerSecret;

    const T0: i64 = 1_795_305_600; // 2026-11-22T00:00:00Z

    fn keyring() -> IssuerKeyring {
        IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([5; 32]))
    }

    #[test]
    fn validity_is_enforced() {
        let cred = OfflineCredential::issue(
            &keyring(),
            TimeParams::default(),
            7,
            Seed::from_bytes([1; 32]),
            T0,
            T0 + 86_400,
        )
        .unwrap();
        assert_eq!(
            cred.code_at(T0 - 1, 0),
            Err(GenerateError::NotYetValid { valid_from: T0 })
        );
        assert_eq!(
            cred.code_at(T0 + 86_400, 0),
            Err(GenerateError::Expired {
                valid_until: T0 + 86_400
            })
        );
        assert!(cred.code_at(T0 + 86_399, 9).is_ok());
        assert_eq!(cred.code_at(T0, 10), Err(GenerateError::CounterExhausted));
        assert_eq!(cred.day_keys().count(), 1);
    }

    #[test]
    fn codes_differ_by_step_and_counter() {
        let cred = OfflineCredential::issue(
            &keyring(),
            TimeParams::default(),
            7,
            Seed::from_bytes([1; 32]),
            T0,
            T0 + 3 * 86_400,
        )
        .unwrap();
        let mut seen = std::collections::HashSet::new();
        for minute in 0..50 {
            for counter in 0..10 {
                assert!(seen.insert(cred.code_at(T0 + minute * 60, counter).unwrap()));
            }
        }
        // Same step, same counter: the same code (deterministic).
        assert_eq!(cred.code_at(T0 + 5, 3), cred.code_at(T0 + 59, 3));
    }

    #[test]
    fn bad_parts_are_refused() {
        let seed = || Seed::from_bytes([1; 32]);
        let ring = keyring();
        let t = TimeParams::default();
        assert!(matches!(
            OfflineCredential::issue(&ring, t, 7, seed(), T0, T0),
            Err(CredentialError::BadValidity { .. })
        ));
        assert!(matches!(
            OfflineCredential::issue(&ring, t, 7, seed(), T0, T0 + MAX_VALIDITY_SECS + 1),
            Err(CredentialError::BadValidity { .. })
        ));
        assert!(matches!(
            OfflineCredential::issue(&ring, TimeParams { step_secs: 5 }, 7, seed(), T0, T0 + 60),
            Err(CredentialError::BadStep(5))
        ));
        assert!(matches!(
            OfflineCredential::issue(&ring, t, 1_000_000_000, seed(), T0, T0 + 60),
            Err(CredentialError::BadSlot(_))
        ));
        // A gap in the day keys.
        let keys = vec![(20_779, ring.day_key(20_779)), (20_781, ring.day_key(20_781))];
        assert!(matches!(
            OfflineCredential::new(7, Prefix::DEFAULT, t, seed(), T0, T0 + 2 * 86_400, keys),
            Err(CredentialError::DayKeysIncomplete {
                first: 20_779,
                last: 20_780
            })
        ));
    }

    #[test]
    fn debug_hides_secrets() {
        let cred = OfflineCredential::issue(
            &keyring(),
            TimeParams::default(),
            7,
            Seed::from_bytes([0xee; 32]),
            T0,
            T0 + 60,
        )
        .unwrap();
        let shown = format!("{cred:?}");
        assert!(
            shown.contains("[redacted]") && !shown.contains("238") && !shown.to_lowercase().contains("ee, "),
            "{shown}"
        );
    }
}
