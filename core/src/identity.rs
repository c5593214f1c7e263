//! The identity field: who made a code, hidden from everyone but the issuer.
//!
//! The field is FF1 (NIST SP 800-38G, AES-256, radix 10, 10 numerals) of `slot * 10 + counter`,
//! with the big-endian 8-byte time step as the tweak, under the identity key of that step's UTC
//! day. FF1 is a permutation for each (key, tweak), so two devices can never produce the same
//! field in the same step; without the key, fields of one device in different steps or
//! refreshes look like independent random numbers.
//!
//! Identity keys form a hierarchy: the issuer holds one [`IssuerSecret`] per *epoch*; the key of
//! day `d` is `HKDF-SHA256(salt = "paycode/v1", ikm = secret, info = "identity" ‖ prefix ‖ epoch
//! ‖ d)`. Devices receive the day keys of their offline-validity period only.

use std::sync::Arc;

use aes::Aes256;
use cipher::{BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, Key, KeyInit, KeySizeUser};
use fpe::ff1::{FF1, NumeralString, Operations};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::code::{COUNTERS_PER_STEP, IDENTITY_DIGITS, IDENTITY_SPACE, Prefix, SLOT_SPACE};
use crate::secret::{IdentityKey, IssuerSecret};

/// Seconds in a UTC day: identity keys rotate at 00:00 UTC.
pub const SECONDS_PER_DAY: u64 = 86_400;

/// HKDF salt of the protocol-1 day keys (the keys v1 bundles carry to every device).
pub const HKDF_SALT: &[u8] = b"paycode/v1";
/// HKDF salt of the protocol-2 day keys: they never leave the issuer (`docs/PROTOCOL.md` §12).
pub const HKDF_SALT_V2: &[u8] = b"paycode/v2";

/// A protocol version: which key family an identity field is encrypted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Day keys derived with salt `paycode/v1`, carried in every device's bundle.
    V1,
    /// Day keys derived with salt `paycode/v2`, held by the issuer only; devices receive their
    /// own identity fields, precomputed.
    V2,
}

impl Protocol {
    /// The HKDF salt of this version's day keys.
    pub fn salt(self) -> &'static [u8] {
        match self {
            Protocol::V1 => HKDF_SALT,
            Protocol::V2 => HKDF_SALT_V2,
        }
    }
}

/// A device's slot under a prefix: `0 ..= 999_999_999`.
pub type Slot = u32;

/// The UTC day (days since 1970-01-01) in which time step `step` starts.
pub fn day_of_step(step: u64, step_secs: u32) -> u32 {
    // A u64 step times a u32 length cannot overflow u128; days beyond u32 are 11 million years out.
    u32::try_from((u128::from(step) * u128::from(step_secs)) / u128::from(SECONDS_PER_DAY))
        .unwrap_or(u32::MAX)
}

/// Derives the identity key of `day` for `prefix` in `epoch` from the issuer's epoch secret.
pub fn derive_identity_key(secret: &IssuerSecret, prefix: Prefix, epoch: u32, day: u32) -> IdentityKey {
    derive_day_key(Protocol::V1, secret, prefix, epoch, day)
}

/// Derives the day key of `protocol` for `day`: HKDF-SHA256 with that version's salt and the
/// same `info` in both versions, so the two families are independent.
pub fn derive_day_key(
    protocol: Protocol,
    secret: &IssuerSecret,
    prefix: Prefix,
    epoch: u32,
    day: u32,
) -> IdentityKey {
    let hkdf = Hkdf::<Sha256>::new(Some(protocol.salt()), secret.expose_secret());
    let mut info = [0u8; 8 + 1 + 4 + 4];
    info[..8].copy_from_slice(b"identity");
    info[8] = prefix.get();
    info[9..13].copy_from_slice(&epoch.to_be_bytes());
    info[13..].copy_from_slice(&day.to_be_bytes());
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    hkdf.expand(&info, &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let key = IdentityKey::from_bytes(okm);
    zeroize::Zeroize::zeroize(&mut okm);
    key
}

/// The identity cipher for one day key: FF1 with an expanded AES-256 key schedule, which is
/// zeroized on drop.
pub struct IdentityCipher {
    ff1: FF1<SharedAes>,
}

/// AES-256 behind an `Arc`. `fpe` clones its cipher once per Feistel round; cloning a bare
/// `Aes256` copies — and, with `aes/zeroize`, wipes byte by byte — the whole key schedule ten
/// times per code, which tripled the cost of a code. Sharing one zeroize-on-drop schedule keeps
/// the hygiene and drops that cost. The encryption itself is the `aes` crate's.
#[derive(Clone)]
struct SharedAes(Arc<Aes256>);

impl BlockSizeUser for SharedAes {
    type BlockSize = <Aes256 as BlockSizeUser>::BlockSize;
}

impl KeySizeUser for SharedAes {
    type KeySize = <Aes256 as KeySizeUser>::KeySize;
}

impl KeyInit for SharedAes {
    fn new(key: &Key<Self>) -> Self {
        SharedAes(Arc::new(<Aes256 as KeyInit>::new(key)))
    }
}

impl BlockCipherEncrypt for SharedAes {
    fn encrypt_with_backend(&self, f: impl BlockCipherEncClosure<BlockSize = Self::BlockSize>) {
        self.0.encrypt_with_backend(f)
    }
}

impl std::fmt::Debug for IdentityCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityCipher([redacted])")
    }
}

impl IdentityCipher {
    /// Expands `key` for FF1.
    pub fn new(key: &IdentityKey) -> Self {
        // Radix 10 is within FF1's 2..=2^16, and the key has AES-256's length by type.
        let ff1 = FF1::<SharedAes>::new(key.expose_secret(), 10).expect("radix 10 is valid for FF1");
        Self { ff1 }
    }

    /// The identity field of (`slot`, `counter`) in time step `step`, or `None` if `slot` or
    /// `counter` is out of range.
    pub fn encrypt(&self, step: u64, slot: Slot, counter: u8) -> Option<u64> {
        if slot >= SLOT_SPACE || counter >= COUNTERS_PER_STEP {
            return None;
        }
        let plain = Decimal::new(u64::from(slot) * 10 + u64::from(counter), IDENTITY_DIGITS as u8);
        // Our numeral strings are always valid radix-10 strings of 10 numerals.
        let out = self
            .ff1
            .encrypt(&step.to_be_bytes(), &plain)
            .expect("10 decimal numerals are valid FF1 input");
        Some(out.value)
    }

    /// The (slot, counter) hidden in `field` for time step `step`, or `None` if `field` is not
    /// below 10^10.
    pub fn decrypt(&self, step: u64, field: u64) -> Option<(Slot, u8)> {
        if field >= IDENTITY_SPACE {
            return None;
        }
        let cipher = Decimal::new(field, IDENTITY_DIGITS as u8);
        let out = self
            .ff1
            .decrypt(&step.to_be_bytes(), &cipher)
            .expect("10 decimal numerals are valid FF1 input");
        // out.value < 10^10, so value / 10 < 10^9 fits a u32.
        Some(((out.value / 10) as Slot, (out.value % 10) as u8))
    }
}

/// One identity-key epoch of an issuer: from `first_day` on (until the next epoch starts), day
/// keys derive from `secret`.
#[derive(Debug, Clone)]
pub struct IdentityEpoch {
    /// The epoch number; part of every derived key.
    pub epoch: u32,
    /// The first UTC day this epoch covers.
    pub first_day: u32,
    /// The root secret of the epoch.
    pub secret: IssuerSecret,
}

/// The issuer's identity secrets for one prefix: the epochs, in order of `first_day`.
#[derive(Debug, Clone)]
pub struct IssuerKeyring {
    prefix: Prefix,
    epochs: Vec<IdentityEpoch>,
}

impl IssuerKeyring {
    /// A keyring with one epoch covering every day.
    pub fn new(prefix: Prefix, epoch: u32, secret: IssuerSecret) -> Self {
        Self {
            prefix,
            epochs: vec![IdentityEpoch {
                epoch,
                first_day: 0,
                secret,
            }],
        }
    }

    /// Starts a new epoch on `first_day` (key rotation). Days from then on derive from `secret`.
    /// Epoch numbers and first days must both increase; otherwise the keyring is unchanged and
    /// `false` is returned.
    pub fn rotate(&mut self, epoch: u32, first_day: u32, secret: IssuerSecret) -> bool {
        let last = self.epochs.last().expect("a keyring always has an epoch");
        if epoch <= last.epoch || first_day <= last.first_day {
            return false;
        }
        self.epochs.push(IdentityEpoch {
            epoch,
            first_day,
            secret,
        });
        true
    }

    /// The prefix these keys serve.
    pub fn prefix(&self) -> Prefix {
        self.prefix
    }

    /// The epochs, oldest first.
    pub fn epochs(&self) -> &[IdentityEpoch] {
        &self.epochs
    }

    /// The epoch in force on `day`: the latest one whose `first_day` is not after it.
    pub fn epoch_for_day(&self, day: u32) -> &IdentityEpoch {
        let index = self.epochs.partition_point(|e| e.first_day <= day);
        // The first epoch may start after `day`; it then covers the days before it too.
        &self.epochs[index.saturating_sub(1)]
    }

    /// The protocol-1 identity key of `day`.
    pub fn day_key(&self, day: u32) -> IdentityKey {
        self.day_key_of(Protocol::V1, day)
    }

    /// The identity key of `day` in `protocol`. Protocol-2 keys never leave the issuer.
    pub fn day_key_of(&self, protocol: Protocol, day: u32) -> IdentityKey {
        let epoch = self.epoch_for_day(day);
        derive_day_key(protocol, &epoch.secret, self.prefix, epoch.epoch, day)
    }
}

/// A decimal numeral string of up to 18 numerals held in a `u64`: the [`NumeralString`] that
/// lets `fpe`'s FF1 run without big-integer allocations. FF1 itself is the crate's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    value: u64,
    len: u8,
}

const POW10: [u64; 19] = {
    let mut table = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl Decimal {
    fn new(value: u64, len: u8) -> Self {
        debug_assert!(len <= 18 && value < POW10[len as usize]);
        Self { value, len }
    }

    /// `NUM(S) mod 10^m` for FF1's big-endian byte string S, in u64: the running value stays
    /// below 10^m ≤ 10^16, so `acc * 256 + 255` cannot overflow.
    fn reduce(bytes: impl Iterator<Item = u8>, m: usize) -> u64 {
        debug_assert!(m <= 16);
        let modulus = POW10[m];
        // Reduce only when another byte could overflow: FF1 hands us d = 8 bytes for our
        // lengths, so this is one division in practice.
        let acc = bytes.fold(0u64, |acc, byte| {
            let acc = if acc >= 1 << 55 { acc % modulus } else { acc };
            acc * 256 + u64::from(byte)
        });
        acc % modulus
    }
}

/// Big-endian bytes of a number below 10^18 (at most 8 bytes); FF1 asks for `b` of them.
struct BeBytes {
    buf: [u8; 16],
    len: usize,
}

impl AsRef<[u8]> for BeBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[16 - self.len..]
    }
}

impl NumeralString for Decimal {
    type Ops = Decimal;

    fn is_valid(&self, radix: u32) -> bool {
        radix == 10 && self.len <= 18 && self.value < POW10[usize::from(self.len)]
    }

    fn numeral_count(&self) -> usize {
        usize::from(self.len)
    }

    fn split(&self) -> (Self, Self) {
        let u = self.len / 2;
        let v = self.len - u;
        let low = POW10[usize::from(v)];
        (
            Decimal::new(self.value / low, u),
            Decimal::new(self.value % low, v),
        )
    }

    fn concat(a: Self, b: Self) -> Self {
        Decimal::new(a.value * POW10[usize::from(b.len)] + b.value, a.len + b.len)
    }
}

impl Operations for Decimal {
    type Bytes = BeBytes;

    fn numeral_count(&self) -> usize {
        usize::from(self.len)
    }

    fn to_be_bytes(&self, _radix: u32, b: usize) -> BeBytes {
        // FF1 asks for b = ceil(len * log2(10) / 8) ≤ 8 bytes for len ≤ 18.
        debug_assert!(b <= 16);
        BeBytes {
            buf: u128::from(self.value).to_be_bytes(),
            len: b,
        }
    }

    fn add_mod_exp(self, other: impl Iterator<Item = u8>, _radix: u32, m: usize) -> Self {
        let modulus = POW10[m];
        let y = Self::reduce(other, m);
        Decimal::new((self.value % modulus + y) % modulus, m as u8)
    }

    fn sub_mod_exp(self, other: impl Iterator<Item = u8>, _radix: u32, m: usize) -> Self {
        let modulus = POW10[m];
        let y = Self::reduce(other, m);
        Decimal::new((self.value % modulus + modulus - y) % modulus, m as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fpe::ff1::FlexibleNumeralString;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// NIST SP 800-38G FF1 samples 7 and 8 (AES-256, radix 10).
    #[test]
    fn nist_ff1_aes256_radix10_samples() {
        let key = hex("2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94");
        let ff1 = FF1::<Aes256>::new(&key, 10).unwrap();
        let pt = Decimal::new(123_456_789, 10);
        assert_eq!(ff1.encrypt(&[], &pt).unwrap().value, 6_657_667_009);
        let tweak = hex("39383736353433323130");
        let ct = ff1.encrypt(&tweak, &pt).unwrap();
        assert_eq!(ct.value, 1_001_623_463);
        assert_eq!(ff1.decrypt(&tweak, &ct).unwrap(), pt);
    }

    proptest! {
        /// Our allocation-free numeral string agrees with the crate's reference one.
        #[test]
        fn decimal_matches_flexible_numeral_string(key in any::<[u8; 32]>(), step in any::<u64>(), value in 0..IDENTITY_SPACE) {
            let ff1 = FF1::<Aes256>::new(&key, 10).unwrap();
            let ours = ff1.encrypt(&step.to_be_bytes(), &Decimal::new(value, 10)).unwrap();
            let digits: Vec<u16> = format!("{value:010}").bytes().map(|b| u16::from(b - b'0')).collect();
            let theirs: Vec<u16> = ff1.encrypt(&step.to_be_bytes(), &FlexibleNumeralString::from(digits)).unwrap().into();
            let theirs = theirs.iter().fold(0u64, |acc, d| acc * 10 + u64::from(*d));
            prop_assert_eq!(ours.value, theirs);
        }

        #[test]
        fn decrypt_inverts_encrypt(key in any::<[u8; 32]>(), step in any::<u64>(), slot in 0..SLOT_SPACE, counter in 0..COUNTERS_PER_STEP) {
            let cipher = IdentityCipher::new(&IdentityKey::from_bytes(key));
            let field = cipher.encrypt(step, slot, counter).unwrap();
            prop_assert!(field < IDENTITY_SPACE);
            prop_assert_eq!(cipher.decrypt(step, field), Some((slot, counter)));
        }
    }

    #[test]
    fn out_of_range_inputs_are_refused() {
        let cipher = IdentityCipher::new(&IdentityKey::from_bytes([1; 32]));
        assert_eq!(cipher.encrypt(0, SLOT_SPACE, 0), None);
        assert_eq!(cipher.encrypt(0, 0, COUNTERS_PER_STEP), None);
        assert_eq!(cipher.decrypt(0, IDENTITY_SPACE), None);
    }

    #[test]
    fn days_follow_utc_midnight() {
        assert_eq!(day_of_step(0, 60), 0);
        assert_eq!(day_of_step(1439, 60), 0);
        assert_eq!(day_of_step(1440, 60), 1);
        // 2026-11-22T00:00:00Z is 1795305600 s = day 20779.
        assert_eq!(day_of_step(1_795_305_600 / 60, 60), 20_779);
        assert_eq!(day_of_step(1_795_305_600 / 60 - 1, 60), 20_778);
        assert_eq!(day_of_step(u64::MAX, 3600), u32::MAX);
    }

    #[test]
    fn epochs_select_and_separate_keys() {
        let mut ring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([1; 32]));
        assert!(ring.rotate(2, 100, IssuerSecret::from_bytes([2; 32])));
        assert!(
            !ring.rotate(2, 200, IssuerSecret::from_bytes([3; 32])),
            "epoch must increase"
        );
        assert!(
            !ring.rotate(3, 100, IssuerSecret::from_bytes([3; 32])),
            "first day must increase"
        );
        assert_eq!(ring.epoch_for_day(99).epoch, 1);
        assert_eq!(ring.epoch_for_day(100).epoch, 2);
        assert_eq!(
            ring.day_key(99),
            derive_identity_key(&IssuerSecret::from_bytes([1; 32]), Prefix::DEFAULT, 1, 99)
        );
        assert_ne!(
            ring.day_key(100),
            derive_identity_key(&IssuerSecret::from_bytes([1; 32]), Prefix::DEFAULT, 1, 100)
        );
        assert_ne!(ring.day_key(5), ring.day_key(6));
        let other_prefix = IssuerKeyring::new(Prefix::new(29).unwrap(), 1, IssuerSecret::from_bytes([1; 32]));
        assert_ne!(ring.day_key(5), other_prefix.day_key(5));
    }
}
