//! The device side of the protocol: an offline credential and the codes it makes.

use std::fmt;

use crate::code::{COUNTERS_PER_STEP, PaymentCode, Prefix};
use crate::identity::{IdentityCipher, IssuerKeyring, Protocol, SECONDS_PER_DAY, Slot, day_of_step};
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
    /// A protocol-2 credential's refreshes per step are outside 1..=10.
    #[error("refreshes per step {0} is outside 1..=10")]
    BadRefreshes(u8),
    /// A protocol-2 identity table does not cover the validity interval exactly, is larger than
    /// [`MAX_TABLE_ENTRIES`], or holds a value that is not below 10^10.
    #[error("the identity table does not match the validity interval: {0}")]
    BadTable(&'static str),
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

/// Refreshes per step (codes per time step) of a protocol-2 credential unless the issuer
/// configures otherwise: ADR 010 chooses 4.
pub const DEFAULT_REFRESHES: u8 = 4;
/// Bytes of one identity-table entry: a value below 10^10 as a 5-byte big-endian integer.
pub const TABLE_ENTRY_BYTES: usize = 5;
/// Most identity-table entries a protocol-2 credential may hold: 7 days of 60-second steps, 16
/// more (an interval not aligned to steps, the verification window a sync re-covers), with 4 refreshes (40,384 entries, 201,920 bytes).
/// Bounds bundle size and issuer work per sync.
pub const MAX_TABLE_ENTRIES: usize = (7 * 1440 + 16) * 4;

/// The steps `[first, last]` whose codes a validity interval can make.
fn steps_covered(time: TimeParams, valid_from: i64, valid_until: i64) -> (u64, u64) {
    (
        time.step_at(valid_from).unwrap_or(0),
        time.step_at(valid_until - 1).unwrap_or(0),
    )
}

/// The number of identity-table entries a protocol-2 credential over `[valid_from,
/// valid_until)` with `refreshes` per step holds, or `None` if the interval is invalid.
pub fn table_entries(time: TimeParams, refreshes: u8, valid_from: i64, valid_until: i64) -> Option<usize> {
    check_interval(time, valid_from, valid_until).ok()?;
    let (first, last) = steps_covered(time, valid_from, valid_until);
    usize::try_from(last - first + 1)
        .ok()?
        .checked_mul(usize::from(refreshes))
}

/// A protocol-2 offline credential: the device's seed and its own identity fields, precomputed
/// by the issuer for every step of the validity interval and every refresh counter below
/// `refreshes`. It holds no key that decrypts or makes any other device's identity field.
/// Secret parts zeroize on drop; `Debug` shows no secret.
pub struct LimitedUseCredential {
    prefix: Prefix,
    time: TimeParams,
    seed: Seed,
    valid_from: i64,
    valid_until: i64,
    first_step: u64,
    step_count: u32,
    refreshes: u8,
    /// `step_count × refreshes` entries of [`TABLE_ENTRY_BYTES`], step-major.
    table: zeroize::Zeroizing<Vec<u8>>,
}

impl fmt::Debug for LimitedUseCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedUseCredential")
            .field("prefix", &self.prefix)
            .field("step_secs", &self.time.step_secs)
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("first_step", &self.first_step)
            .field("step_count", &self.step_count)
            .field("refreshes", &self.refreshes)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

impl LimitedUseCredential {
    /// Assembles a credential from parts received from the issuer, checking every part: the
    /// table must hold exactly one entry per step of `[valid_from, valid_until)` and counter
    /// below `refreshes`, each below 10^10.
    pub fn new(
        prefix: Prefix,
        time: TimeParams,
        refreshes: u8,
        seed: Seed,
        valid_from: i64,
        valid_until: i64,
        table: Vec<u8>,
    ) -> Result<Self, CredentialError> {
        let table = zeroize::Zeroizing::new(table);
        check_interval(time, valid_from, valid_until)?;
        if !(1..=COUNTERS_PER_STEP).contains(&refreshes) {
            return Err(CredentialError::BadRefreshes(refreshes));
        }
        let entries = table_entries(time, refreshes, valid_from, valid_until)
            .ok_or(CredentialError::BadTable("interval"))?;
        if entries > MAX_TABLE_ENTRIES {
            return Err(CredentialError::BadTable(
                "more entries than 7 days of 60-s steps × 4 (40,384)",
            ));
        }
        if table.len() != entries * TABLE_ENTRY_BYTES {
            return Err(CredentialError::BadTable("wrong length"));
        }
        if table
            .chunks_exact(TABLE_ENTRY_BYTES)
            .any(|e| read_entry(e) >= crate::code::IDENTITY_SPACE)
        {
            return Err(CredentialError::BadTable("an entry is not below 10^10"));
        }
        let (first_step, last_step) = steps_covered(time, valid_from, valid_until);
        Ok(Self {
            prefix,
            time,
            seed,
            valid_from,
            valid_until,
            first_step,
            // ≤ MAX_TABLE_ENTRIES steps, checked above.
            step_count: (last_step - first_step + 1) as u32,
            refreshes,
            table,
        })
    }

    /// The issuer's side: computes the identity table of `slot` over `[valid_from,
    /// valid_until)` with the protocol-2 day keys of `keyring` (which stay with the issuer).
    /// Costs one FF1 encryption per entry.
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        keyring: &IssuerKeyring,
        time: TimeParams,
        refreshes: u8,
        slot: Slot,
        seed: Seed,
        valid_from: i64,
        valid_until: i64,
    ) -> Result<Self, CredentialError> {
        check_interval(time, valid_from, valid_until)?;
        if slot >= crate::code::SLOT_SPACE {
            return Err(CredentialError::BadSlot(slot));
        }
        if !(1..=COUNTERS_PER_STEP).contains(&refreshes) {
            return Err(CredentialError::BadRefreshes(refreshes));
        }
        let entries = table_entries(time, refreshes, valid_from, valid_until)
            .ok_or(CredentialError::BadTable("interval"))?;
        if entries > MAX_TABLE_ENTRIES {
            return Err(CredentialError::BadTable(
                "more entries than 7 days of 60-s steps × 4 (40,384)",
            ));
        }
        let (first, last) = steps_covered(time, valid_from, valid_until);
        let mut table = zeroize::Zeroizing::new(Vec::with_capacity(entries * TABLE_ENTRY_BYTES));
        let mut cipher: Option<(u32, IdentityCipher)> = None;
        for step in first..=last {
            let day = day_of_step(step, time.step_secs);
            let cipher = match &cipher {
                Some((cached, c)) if *cached == day => c,
                _ => {
                    let key = keyring.day_key_of(Protocol::V2, day);
                    &cipher.insert((day, IdentityCipher::new(&key))).1
                }
            };
            for counter in 0..refreshes {
                // slot < 10^9 and counter < 10 were checked above.
                let field = cipher
                    .encrypt(step, slot, counter)
                    .expect("slot and counter in range");
                table.extend_from_slice(&field.to_be_bytes()[8 - TABLE_ENTRY_BYTES..]);
            }
        }
        Self::new(
            keyring.prefix(),
            time,
            refreshes,
            seed,
            valid_from,
            valid_until,
            std::mem::take(&mut *table),
        )
    }

    /// The code for the step containing `unix_secs`, refresh number `counter`.
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
        let step = self
            .time
            .step_at(unix_secs)
            .expect("non-negative time has a step");
        self.code_for_step(step, counter)
    }

    /// The code of an explicit `step` and `counter`: a table lookup and one HMAC.
    pub fn code_for_step(&self, step: u64, counter: u8) -> Result<PaymentCode, GenerateError> {
        if counter >= self.refreshes {
            return Err(GenerateError::CounterExhausted);
        }
        let identity = self.identity(step, counter)?;
        let unsigned = PaymentCode::from_parts(self.prefix, identity, 0).expect("fields in range");
        let otp = payment_otp(&self.seed, &unsigned.routing_digits(), step, counter);
        Ok(PaymentCode::from_parts(self.prefix, identity, otp).expect("fields in range"))
    }

    /// The identity field of (`step`, `counter`) from the table.
    fn identity(&self, step: u64, counter: u8) -> Result<u64, GenerateError> {
        if step < self.first_step {
            return Err(GenerateError::NotYetValid {
                valid_from: self.valid_from,
            });
        }
        let index = step - self.first_step;
        if index >= u64::from(self.step_count) {
            return Err(GenerateError::Expired {
                valid_until: self.valid_until,
            });
        }
        let entry = (index as usize * usize::from(self.refreshes) + usize::from(counter)) * TABLE_ENTRY_BYTES;
        Ok(read_entry(&self.table[entry..entry + TABLE_ENTRY_BYTES]))
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
    /// The first step of the table.
    pub fn first_step(&self) -> u64 {
        self.first_step
    }
    /// Steps in the table.
    pub fn step_count(&self) -> u32 {
        self.step_count
    }
    /// Codes per step.
    pub fn refreshes(&self) -> u8 {
        self.refreshes
    }
    /// The seed, for sealing. Never show or log it.
    pub fn seed(&self) -> &Seed {
        &self.seed
    }
    /// The encoded identity table, for sealing. Never show or log it.
    pub fn table_bytes(&self) -> &[u8] {
        &self.table
    }
}

/// A table entry's value (5 bytes, big-endian).
fn read_entry(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
}

/// A credential of either protocol version, as a bundle carries it.
#[derive(Debug)]
pub enum Credential {
    /// Protocol 1: slot, seed and the issuer's day keys.
    V1(OfflineCredential),
    /// Protocol 2: seed and the device's own identity table.
    V2(LimitedUseCredential),
}

impl Credential {
    /// The protocol version.
    pub fn protocol(&self) -> Protocol {
        match self {
            Credential::V1(_) => Protocol::V1,
            Credential::V2(_) => Protocol::V2,
        }
    }
    /// The code for the step containing `unix_secs`, refresh number `counter`.
    pub fn code_at(&self, unix_secs: i64, counter: u8) -> Result<PaymentCode, GenerateError> {
        match self {
            Credential::V1(c) => c.code_at(unix_secs, counter),
            Credential::V2(c) => c.code_at(unix_secs, counter),
        }
    }
    /// The code of an explicit step and counter.
    pub fn code_for_step(&self, step: u64, counter: u8) -> Result<PaymentCode, GenerateError> {
        match self {
            Credential::V1(c) => c.code_for_step(step, counter),
            Credential::V2(c) => c.code_for_step(step, counter),
        }
    }
    /// Codes per step: 10 in protocol 1, the table's refreshes in protocol 2.
    pub fn refreshes(&self) -> u8 {
        match self {
            Credential::V1(_) => COUNTERS_PER_STEP,
            Credential::V2(c) => c.refreshes(),
        }
    }
    /// The issuer prefix.
    pub fn prefix(&self) -> Prefix {
        match self {
            Credential::V1(c) => c.prefix(),
            Credential::V2(c) => c.prefix(),
        }
    }
    /// The time parameters.
    pub fn time(&self) -> TimeParams {
        match self {
            Credential::V1(c) => c.time(),
            Credential::V2(c) => c.time(),
        }
    }
    /// Start of validity (Unix seconds).
    pub fn valid_from(&self) -> i64 {
        match self {
            Credential::V1(c) => c.valid_from(),
            Credential::V2(c) => c.valid_from(),
        }
    }
    /// End of validity, exclusive (Unix seconds).
    pub fn valid_until(&self) -> i64 {
        match self {
            Credential::V1(c) => c.valid_until(),
            Credential::V2(c) => c.valid_until(),
        }
    }
    /// The seed. Never show or log it.
    pub fn seed(&self) -> &Seed {
        match self {
            Credential::V1(c) => c.seed(),
            Credential::V2(c) => c.seed(),
        }
    }
    /// The protocol-1 credential, if this is one.
    pub fn as_v1(&self) -> Option<&OfflineCredential> {
        match self {
            Credential::V1(c) => Some(c),
            Credential::V2(_) => None,
        }
    }
    /// The protocol-2 credential, if this is one.
    pub fn as_v2(&self) -> Option<&LimitedUseCredential> {
        match self {
            Credential::V1(_) => None,
            Credential::V2(c) => Some(c),
        }
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
