//! The credential bundle: how an offline credential travels from the issuer to one device.
//!
//! The issuer seals the secret parts to the device's X25519 key with HPKE (RFC 9180, base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) and binds the public header as
//! associated data. The app's HTTP layer relays opaque bytes; nothing in them is readable or
//! changeable without the device key. Two versions exist (all integers big-endian):
//!
//! ```text
//! version 1 (protocol 1: carries the issuer's day keys; read for migration, no longer issued)
//! header  "PCB" 0x01 (4)
//!         id_len (1) device_id (id_len ASCII [A-Za-z0-9_-], 1..=64)
//!         sequence u64 · slot u32 · prefix u8 · step_secs u32
//!         valid_from i64 · valid_until i64 · issuer_time_ms i64
//!         first_day u32 · day_count u8
//! enc     32 bytes (HPKE encapsulated key)
//! sealed  seed (32) ‖ day_count × identity key (32), + 16-byte tag;  info "paycode/v1/bundle"
//!
//! version 2 (protocol 2: the device's own identity fields, no key, no slot)
//! header  "PCB" 0x02 (4)
//!         id_len (1) device_id
//!         sequence u64 · prefix u8 · step_secs u32
//!         valid_from i64 · valid_until i64 · issuer_time_ms i64
//!         first_step u64 · step_count u32 · refreshes u8
//! enc     32 bytes
//! sealed  seed (32) ‖ step_count × refreshes × identity field (5 bytes), + 16-byte tag;
//!         info "paycode/v2/bundle"
//! ```
//! `aad` = the header bytes. See `docs/PROTOCOL.md` §12.4.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::code::{COUNTERS_PER_STEP, Prefix, SLOT_SPACE};
use crate::credential::{
    Credential, CredentialError, LimitedUseCredential, MAX_TABLE_ENTRIES, OfflineCredential,
    TABLE_ENTRY_BYTES, TimeParams,
};
use crate::device::DeviceSecret;
use crate::identity::Slot;
use crate::secret::{IdentityKey, Seed};

const MAGIC: &[u8; 3] = b"PCB";
/// The protocol-1 bundle format version (read, still sealed for tests and migration).
pub const BUNDLE_VERSION: u8 = 1;
/// The protocol-2 bundle format version (what the issuer now issues).
pub const BUNDLE_VERSION_V2: u8 = 2;
const INFO: &[u8] = b"paycode/v1/bundle";
const INFO_V2: &[u8] = b"paycode/v2/bundle";
/// Largest version-1 bundle (header + enc + 32 days of keys + tag).
pub const MAX_BUNDLE_V1_LEN: usize = 4 + 1 + 64 + 8 + 4 + 1 + 4 + 8 * 3 + 4 + 1 + 32 + 32 + 32 * 32 + 16;
/// Largest bundle of either version accepted (a version-2 bundle with the largest table), to
/// refuse garbage early: 201,831 bytes.
pub const MAX_BUNDLE_LEN: usize =
    4 + 1 + 64 + 8 + 1 + 4 + 8 * 3 + 8 + 4 + 1 + 32 + 32 + MAX_TABLE_ENTRIES * TABLE_ENTRY_BYTES + 16;

/// Why a bundle was refused. Nothing is stored when any of these happens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not a paycode bundle, or cut short, or with trailing bytes.
    #[error("not a well-formed credential bundle: {0}")]
    Malformed(&'static str),
    /// A version this library does not read.
    #[error("credential bundle version {0} is not supported: update the app")]
    UnsupportedVersion(u8),
    /// A header field is out of range.
    #[error("credential bundle field {0} is invalid")]
    InvalidField(&'static str),
    /// The sealed part does not open with this device's key (tampered, or sealed to another device).
    #[error("the credential bundle was not sealed to this device or was altered")]
    NotForThisDevice,
    /// The header and sealed part are individually valid but do not make a valid credential.
    #[error("the credential bundle is inconsistent: {0}")]
    Inconsistent(#[from] CredentialError),
    /// Sealing failed on the issuer (bad device key).
    #[error("cannot seal to this device key")]
    BadDeviceKey,
}

/// The version-specific part of a bundle header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Version 1: the slot and the day keys carried.
    V1 {
        /// The device slot.
        slot: Slot,
        /// First UTC day with a key.
        first_day: u32,
        /// Number of day keys.
        day_count: u8,
    },
    /// Version 2: the identity table carried. No slot: the device never learns it.
    V2 {
        /// First step of the table.
        first_step: u64,
        /// Steps in the table.
        step_count: u32,
        /// Entries per step (codes per step).
        refreshes: u8,
    },
}

/// The public part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleHeader {
    /// The issuer's id for the device.
    pub device_id: String,
    /// Increases with every bundle the issuer makes for the device; a device refuses one not
    /// newer than what it has (no rollback to old credentials).
    pub sequence: u64,
    /// The issuer prefix.
    pub prefix: Prefix,
    /// The step length.
    pub time: TimeParams,
    /// Start of validity (Unix seconds).
    pub valid_from: i64,
    /// End of validity, exclusive (Unix seconds).
    pub valid_until: i64,
    /// The issuer's clock when it made the bundle (Unix ms): the device learns its clock offset.
    pub issuer_time_ms: i64,
    /// What the sealed part holds.
    pub layout: Layout,
}

impl BundleHeader {
    /// The bundle format version: 1 or 2.
    pub fn version(&self) -> u8 {
        match self.layout {
            Layout::V1 { .. } => BUNDLE_VERSION,
            Layout::V2 { .. } => BUNDLE_VERSION_V2,
        }
    }

    /// Bytes of the sealed plaintext this header announces.
    fn plaintext_len(&self) -> usize {
        match self.layout {
            Layout::V1 { day_count, .. } => 32 * (1 + usize::from(day_count)),
            Layout::V2 {
                step_count,
                refreshes,
                ..
            } => 32 + step_count as usize * usize::from(refreshes) * TABLE_ENTRY_BYTES,
        }
    }
}

/// A bundle opened by its device: the header and the credential.
#[derive(Debug)]
pub struct OpenedBundle {
    /// The public header.
    pub header: BundleHeader,
    /// The credential it carries.
    pub credential: Credential,
}

/// Whether `id` is a valid device id: 1..=64 of `[A-Za-z0-9_-]`.
pub fn is_valid_device_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl BundleHeader {
    /// The header bytes (the HPKE associated data).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.push(self.version());
        out.push(self.device_id.len() as u8);
        out.extend_from_slice(self.device_id.as_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        if let Layout::V1 { slot, .. } = self.layout {
            out.extend_from_slice(&slot.to_be_bytes());
        }
        out.push(self.prefix.get());
        out.extend_from_slice(&self.time.step_secs.to_be_bytes());
        out.extend_from_slice(&self.valid_from.to_be_bytes());
        out.extend_from_slice(&self.valid_until.to_be_bytes());
        out.extend_from_slice(&self.issuer_time_ms.to_be_bytes());
        match self.layout {
            Layout::V1 {
                first_day, day_count, ..
            } => {
                out.extend_from_slice(&first_day.to_be_bytes());
                out.push(day_count);
            }
            Layout::V2 {
                first_step,
                step_count,
                refreshes,
            } => {
                out.extend_from_slice(&first_step.to_be_bytes());
                out.extend_from_slice(&step_count.to_be_bytes());
                out.push(refreshes);
            }
        }
        out
    }
}

/// A cursor over bundle bytes that fails with `Malformed` when short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BundleError> {
        if self.0.len() < n {
            return Err(BundleError::Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], BundleError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
    fn u8(&mut self) -> Result<u8, BundleError> {
        Ok(self.take(1)?[0])
    }
}

fn parse_header(bytes: &[u8]) -> Result<(BundleHeader, usize), BundleError> {
    if bytes.len() > MAX_BUNDLE_LEN {
        return Err(BundleError::Malformed("too long"));
    }
    let mut r = Reader(bytes);
    if r.take(3)? != MAGIC {
        return Err(BundleError::Malformed("bad magic"));
    }
    let version = r.u8()?;
    if version != BUNDLE_VERSION && version != BUNDLE_VERSION_V2 {
        return Err(BundleError::UnsupportedVersion(version));
    }
    let id_len = usize::from(r.u8()?);
    let device_id =
        std::str::from_utf8(r.take(id_len)?).map_err(|_| BundleError::InvalidField("device_id"))?;
    if !is_valid_device_id(device_id) {
        return Err(BundleError::InvalidField("device_id"));
    }
    let sequence = u64::from_be_bytes(r.array()?);
    let slot = if version == BUNDLE_VERSION {
        let slot = u32::from_be_bytes(r.array()?);
        if slot >= SLOT_SPACE {
            return Err(BundleError::InvalidField("slot"));
        }
        Some(slot)
    } else {
        None
    };
    let prefix = Prefix::new(r.u8()?).ok_or(BundleError::InvalidField("prefix"))?;
    let time = TimeParams {
        step_secs: u32::from_be_bytes(r.array()?),
    };
    if !time.is_valid() {
        return Err(BundleError::InvalidField("step_secs"));
    }
    let valid_from = i64::from_be_bytes(r.array()?);
    let valid_until = i64::from_be_bytes(r.array()?);
    let issuer_time_ms = i64::from_be_bytes(r.array()?);
    if issuer_time_ms <= 0 {
        return Err(BundleError::InvalidField("issuer_time_ms"));
    }
    let layout = match slot {
        Some(slot) => {
            let first_day = u32::from_be_bytes(r.array()?);
            let day_count = r.u8()?;
            if day_count == 0 || day_count > 32 {
                return Err(BundleError::InvalidField("day_count"));
            }
            Layout::V1 {
                slot,
                first_day,
                day_count,
            }
        }
        None => {
            let first_step = u64::from_be_bytes(r.array()?);
            let step_count = u32::from_be_bytes(r.array()?);
            let refreshes = r.u8()?;
            if !(1..=COUNTERS_PER_STEP).contains(&refreshes) {
                return Err(BundleError::InvalidField("refreshes"));
            }
            if step_count == 0 || step_count as usize * usize::from(refreshes) > MAX_TABLE_ENTRIES {
                return Err(BundleError::InvalidField("step_count"));
            }
            Layout::V2 {
                first_step,
                step_count,
                refreshes,
            }
        }
    };
    let header = BundleHeader {
        device_id: device_id.to_owned(),
        sequence,
        prefix,
        time,
        valid_from,
        valid_until,
        issuer_time_ms,
        layout,
    };
    Ok((header, bytes.len() - r.0.len()))
}

fn seal_parts(
    info: &[u8],
    aad: Vec<u8>,
    plain: &[u8],
    sealing_key: &[u8; 32],
) -> Result<Vec<u8>, BundleError> {
    let recipient = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(sealing_key)
        .map_err(|_| BundleError::BadDeviceKey)?;
    let (enc, sealed) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeS::Base,
        &recipient,
        info,
        plain,
        &aad,
    )
    .map_err(|_| BundleError::BadDeviceKey)?;
    let mut out = aad;
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The issuer's side, protocol 1: seals `credential` (slot, seed, day keys) for the device
/// whose X25519 public key is `sealing_key`. The issuer no longer issues these (it issues
/// [`seal_v2`]); kept for migration tests and vectors.
pub fn seal(
    credential: &OfflineCredential,
    device_id: &str,
    sequence: u64,
    issuer_time_ms: i64,
    sealing_key: &[u8; 32],
) -> Result<Vec<u8>, BundleError> {
    if !is_valid_device_id(device_id) {
        return Err(BundleError::InvalidField("device_id"));
    }
    let days: Vec<(u32, &IdentityKey)> = credential.day_keys().collect();
    let header = BundleHeader {
        device_id: device_id.to_owned(),
        sequence,
        prefix: credential.prefix(),
        time: credential.time(),
        valid_from: credential.valid_from(),
        valid_until: credential.valid_until(),
        issuer_time_ms,
        layout: Layout::V1 {
            slot: credential.slot(),
            first_day: days.first().map_or(0, |d| d.0),
            day_count: u8::try_from(days.len()).map_err(|_| BundleError::InvalidField("day_count"))?,
        },
    };
    let mut plain = Zeroizing::new(Vec::with_capacity(32 * (1 + days.len())));
    plain.extend_from_slice(credential.seed().expose_secret());
    for (_, key) in &days {
        plain.extend_from_slice(key.expose_secret());
    }
    seal_parts(INFO, header.encode(), &plain, sealing_key)
}

/// The version-2 header of `credential` (public; the HPKE associated data).
pub fn header_v2(
    credential: &LimitedUseCredential,
    device_id: &str,
    sequence: u64,
    issuer_time_ms: i64,
) -> BundleHeader {
    BundleHeader {
        device_id: device_id.to_owned(),
        sequence,
        prefix: credential.prefix(),
        time: credential.time(),
        valid_from: credential.valid_from(),
        valid_until: credential.valid_until(),
        issuer_time_ms,
        layout: Layout::V2 {
            first_step: credential.first_step(),
            step_count: credential.step_count(),
            refreshes: credential.refreshes(),
        },
    }
}

/// The sealed plaintext of a version-2 bundle: seed ‖ identity table.
pub fn plaintext_v2(credential: &LimitedUseCredential) -> Zeroizing<Vec<u8>> {
    let mut plain = Zeroizing::new(Vec::with_capacity(32 + credential.table_bytes().len()));
    plain.extend_from_slice(credential.seed().expose_secret());
    plain.extend_from_slice(credential.table_bytes());
    plain
}

/// The issuer's side, protocol 2: seals `credential` (seed and the device's own identity
/// table, nothing else) for the device whose X25519 public key is `sealing_key`.
pub fn seal_v2(
    credential: &LimitedUseCredential,
    device_id: &str,
    sequence: u64,
    issuer_time_ms: i64,
    sealing_key: &[u8; 32],
) -> Result<Vec<u8>, BundleError> {
    if !is_valid_device_id(device_id) {
        return Err(BundleError::InvalidField("device_id"));
    }
    let header = header_v2(credential, device_id, sequence, issuer_time_ms);
    seal_parts(INFO_V2, header.encode(), &plaintext_v2(credential), sealing_key)
}

/// Reads the public header without opening the sealed part (for routing and logging).
pub fn peek_header(bundle: &[u8]) -> Result<BundleHeader, BundleError> {
    parse_header(bundle).map(|(h, _)| h)
}

/// The device's side: checks every field, opens the sealed part with the device key and
/// rebuilds the credential (either version). Either everything validates or an error says
/// what did not.
pub fn open(bundle: &[u8], device: &DeviceSecret) -> Result<OpenedBundle, BundleError> {
    let (header, header_len) = parse_header(bundle)?;
    let rest = &bundle[header_len..];
    let expected = 32 + header.plaintext_len() + 16;
    if rest.len() != expected {
        return Err(BundleError::Malformed("sealed part has the wrong length"));
    }
    let (enc, sealed) = rest.split_at(32);
    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| BundleError::NotForThisDevice)?;
    let (private, _) = device.sealing_keypair();
    let info = match header.layout {
        Layout::V1 { .. } => INFO,
        Layout::V2 { .. } => INFO_V2,
    };
    let plain = Zeroizing::new(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &private,
            &enc,
            info,
            sealed,
            &bundle[..header_len],
        )
        .map_err(|_| BundleError::NotForThisDevice)?,
    );
    let seed = Seed::try_from_slice(&plain[..32]).expect("length checked above");
    let credential = match header.layout {
        Layout::V1 { slot, first_day, .. } => {
            let keys = plain[32..]
                .chunks_exact(32)
                .enumerate()
                .map(|(i, k)| {
                    (
                        first_day + i as u32,
                        IdentityKey::try_from_slice(k).expect("32-byte chunk"),
                    )
                })
                .collect();
            Credential::V1(OfflineCredential::new(
                slot,
                header.prefix,
                header.time,
                seed,
                header.valid_from,
                header.valid_until,
                keys,
            )?)
        }
        Layout::V2 {
            first_step,
            step_count,
            refreshes,
        } => {
            let credential = LimitedUseCredential::new(
                header.prefix,
                header.time,
                refreshes,
                seed,
                header.valid_from,
                header.valid_until,
                plain[32..].to_vec(),
            )?;
            if credential.first_step() != first_step || credential.step_count() != step_count {
                return Err(CredentialError::BadTable("header steps differ from the interval").into());
            }
            Credential::V2(credential)
        }
    };
    Ok(OpenedBundle { header, credential })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::OsEntropy;
    use crate::identity::IssuerKeyring;
    use crate::secret::IssuerSecret;
    use proptest::prelude::*;

    const T0: i64 = 1_795_305_600;

    fn issue() -> (DeviceSecret, OfflineCredential, Vec<u8>) {
        let device = DeviceSecret::generate(&OsEntropy).unwrap();
        let ring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([1; 32]));
        let cred = OfflineCredential::issue(
            &ring,
            TimeParams::default(),
            77,
            Seed::from_bytes([2; 32]),
            T0,
            T0 + 7 * 86_400,
        )
        .unwrap();
        let bundle = seal(&cred, "dev_1", 1, T0 * 1000, &device.public_keys().sealing).unwrap();
        (device, cred, bundle)
    }

    #[test]
    fn round_trip_makes_the_same_codes() {
        let (device, cred, bundle) = issue();
        assert!(bundle.len() <= MAX_BUNDLE_LEN);
        let opened = open(&bundle, &device).unwrap();
        assert_eq!(opened.header.device_id, "dev_1");
        assert!(
            matches!(opened.header.layout, Layout::V1 { day_count: 7, .. }),
            "T0 is midnight: 7 whole days"
        );
        assert_eq!(peek_header(&bundle).unwrap(), opened.header);
        for t in [T0, T0 + 86_400 * 3 + 17, T0 + 7 * 86_400 - 1] {
            assert_eq!(opened.credential.code_at(t, 4), cred.code_at(t, 4));
        }
    }

    #[test]
    fn another_device_cannot_open_it() {
        let (_, _, bundle) = issue();
        let stranger = DeviceSecret::generate(&OsEntropy).unwrap();
        assert_eq!(
            open(&bundle, &stranger).unwrap_err(),
            BundleError::NotForThisDevice
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        let (device, _, bundle) = issue();
        assert_eq!(
            open(&[], &device).unwrap_err(),
            BundleError::Malformed("truncated")
        );
        assert_eq!(
            open(b"XYZ\x01", &device).unwrap_err(),
            BundleError::Malformed("bad magic")
        );
        let mut v3 = bundle.clone();
        v3[3] = 3;
        assert_eq!(
            open(&v3, &device).unwrap_err(),
            BundleError::UnsupportedVersion(3)
        );
        assert_eq!(
            open(&bundle[..bundle.len() - 1], &device).unwrap_err(),
            BundleError::Malformed("sealed part has the wrong length")
        );
        let mut long = bundle.clone();
        long.push(0);
        assert!(matches!(
            open(&long, &device).unwrap_err(),
            BundleError::Malformed(_)
        ));
    }

    fn issue_v2() -> (DeviceSecret, LimitedUseCredential, Vec<u8>) {
        let device = DeviceSecret::generate(&OsEntropy).unwrap();
        let ring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([1; 32]));
        let cred = LimitedUseCredential::issue(
            &ring,
            TimeParams::default(),
            4,
            77,
            Seed::from_bytes([2; 32]),
            T0 - 90,
            T0 + 3 * 86_400,
        )
        .unwrap();
        let bundle = seal_v2(&cred, "dev_1", 2, T0 * 1000, &device.public_keys().sealing).unwrap();
        (device, cred, bundle)
    }

    #[test]
    fn v2_round_trip_makes_the_same_codes_and_carries_no_slot() {
        let (device, cred, bundle) = issue_v2();
        // 3 days and the 2 steps before T0, 4 entries of 5 bytes each.
        let steps = 3 * 1440 + 2;
        assert_eq!(cred.step_count(), steps);
        let header_len = 4 + 1 + 5 + 8 + 1 + 4 + 24 + 8 + 4 + 1;
        assert_eq!(bundle.len(), header_len + 32 + 32 + steps as usize * 4 * 5 + 16);
        let opened = open(&bundle, &device).unwrap();
        assert_eq!(opened.header, peek_header(&bundle).unwrap());
        assert_eq!(opened.header.version(), 2);
        assert!(matches!(
            opened.header.layout,
            Layout::V2 { refreshes: 4, step_count, .. } if step_count == steps
        ));
        for t in [T0 - 90, T0, T0 + 86_400 * 2 + 17, T0 + 3 * 86_400 - 1] {
            for c in 0..4 {
                assert_eq!(opened.credential.code_at(t, c), cred.code_at(t, c));
            }
            assert_eq!(
                opened.credential.code_at(t, 4),
                Err(crate::credential::GenerateError::CounterExhausted)
            );
        }
        // The header names no slot: 77 as a big-endian u32 is nowhere in it.
        assert!(
            !opened
                .header
                .encode()
                .windows(4)
                .any(|w| w == 77u32.to_be_bytes())
        );
        // Another device cannot open it.
        let stranger = DeviceSecret::generate(&OsEntropy).unwrap();
        assert_eq!(
            open(&bundle, &stranger).unwrap_err(),
            BundleError::NotForThisDevice
        );
    }

    #[test]
    fn v2_codes_are_the_v2_key_encryption_of_slot_and_counter() {
        let (_, cred, _) = issue_v2();
        let ring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([1; 32]));
        let step = (T0 / 60) as u64 + 5;
        let day = crate::identity::day_of_step(step, 60);
        let v2 = crate::identity::IdentityCipher::new(&ring.day_key_of(crate::identity::Protocol::V2, day));
        let v1 = crate::identity::IdentityCipher::new(&ring.day_key(day));
        let code = cred.code_for_step(step, 3).unwrap();
        assert_eq!(v2.decrypt(step, code.identity()), Some((77, 3)));
        assert_ne!(v1.decrypt(step, code.identity()), Some((77, 3)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any single-byte change of a version-2 bundle is refused.
        #[test]
        fn every_v2_byte_is_authenticated(index in 0usize..200_000, delta in 1u8..=255) {
            let (device, _, bundle) = issue_v2();
            let index = index % bundle.len();
            let mut tampered = bundle.clone();
            tampered[index] = tampered[index].wrapping_add(delta);
            prop_assert!(open(&tampered, &device).is_err());
        }
    }

    proptest! {
        /// Any single-byte change anywhere is refused (header fields by validation or by the
        /// AEAD's associated data, the sealed part by the AEAD tag).
        #[test]
        fn every_byte_is_authenticated(index in 0usize..400, delta in 1u8..=255) {
            let (device, _, bundle) = issue();
            let index = index % bundle.len();
            let mut tampered = bundle.clone();
            tampered[index] = tampered[index].wrapping_add(delta);
            prop_assert!(open(&tampered, &device).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let device = DeviceSecret::from_bytes([5; 32]);
            let _ = open(&bytes, &device);
            let _ = peek_header(&bytes);
        }
    }
}
