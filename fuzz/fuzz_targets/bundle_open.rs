//! `bundle::open` (core/src/bundle.rs): opening an HPKE-sealed credential bundle with a fixed
//! device key.
//!
//! Input: byte 0 picks the mode.
//! * even: raw — the rest is the bundle. Asserts: never panics; `peek_header` and `open` agree
//!   on the header; a header that parses has every field in range; and a bundle opens only if
//!   the fixture issuer sealed it (its secrets are the fixture's seed and day keys) — random or
//!   mutated bytes never authenticate. (The seed corpus holds genuine bundles, which open.)
//! * odd: structured — a genuine bundle sealed at start-up to the device key, edited by the
//!   input (flip bits, insert, delete, truncate, append, rewrite a header field). Asserts: the
//!   unedited bundle opens to the sealed credential; any change at all is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use paycode_core::bundle::{self, BundleError, MAX_BUNDLE_LEN};
use paycode_core::code::SLOT_SPACE;
use paycode_core::device::DeviceSecret;
use paycode_core::{IssuerKeyring, IssuerSecret, OfflineCredential, Prefix, Seed, TimeParams};
use paycode_fuzz::{Bytes, T0};

const SEED: [u8; 32] = [0x5e; 32];
const SLOT: u32 = 123_456_789;

struct Fixture {
    device: DeviceSecret,
    keyring: IssuerKeyring,
    genuine: Vec<u8>,
}

fn device() -> DeviceSecret {
    DeviceSecret::from_bytes([0x42; 32])
}

fn keyring() -> IssuerKeyring {
    IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x11; 32]))
}

/// A bundle of the fixture issuer for the fixture device, valid `days` days from T0 + `start`.
fn seal(keyring: &IssuerKeyring, device: &DeviceSecret, start: i64, days: i64, sequence: u64) -> Vec<u8> {
    let credential = OfflineCredential::issue(
        keyring,
        TimeParams::default(),
        SLOT,
        Seed::from_bytes(SEED),
        T0 + start,
        T0 + start + days * 86_400,
    )
    .expect("valid credential");
    bundle::seal(
        &credential,
        "dev_fuzz",
        sequence,
        (T0 + start) * 1000,
        &device.public_keys().sealing,
    )
    .expect("sealable")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (device, keyring) = (device(), keyring());
        let genuine = seal(&keyring, &device, 0, 7, 1);
        Fixture {
            device,
            keyring,
            genuine,
        }
    })
}

/// A successful open must carry exactly what the fixture issuer seals.
fn check_opened(f: &Fixture, bytes: &[u8], opened: &bundle::OpenedBundle) {
    let header = bundle::peek_header(bytes).expect("an opened bundle has a header");
    assert_eq!(header, opened.header);
    let c = &opened.credential;
    assert_eq!(
        c.seed(),
        &Seed::from_bytes(SEED),
        "opened a bundle with a foreign seed"
    );
    // The fixture seals protocol-1 bundles; a forged version-2 bundle cannot open (AEAD).
    let c = c.as_v1().expect("only the fixture's version-1 bundles open");
    assert_eq!(c.slot(), SLOT);
    for (day, key) in c.day_keys() {
        assert_eq!(
            key,
            &f.keyring.day_key(day),
            "opened a bundle with a foreign day key"
        );
    }
}

fn raw(f: &Fixture, bytes: &[u8]) {
    let peeked = bundle::peek_header(bytes);
    if let Ok(h) = &peeked {
        assert!(bundle::is_valid_device_id(&h.device_id));
        assert!(h.time.is_valid());
        match h.layout {
            bundle::Layout::V1 { slot, day_count, .. } => {
                assert!(slot < SLOT_SPACE);
                assert!((1..=32).contains(&day_count));
            }
            bundle::Layout::V2 { step_count, refreshes, .. } => {
                assert!((1..=10).contains(&refreshes));
                assert!(step_count >= 1);
            }
        }
        assert!(h.issuer_time_ms > 0);
    }
    match bundle::open(bytes, &f.device) {
        Ok(opened) => {
            assert!(bytes.len() <= MAX_BUNDLE_LEN);
            check_opened(f, bytes, &opened);
        }
        Err(e) => {
            // A header error is the same from peek and open.
            if let Err(p) = peeked {
                assert_eq!(p, e);
            }
        }
    }
}

fn structured(f: &Fixture, b: &mut Bytes) {
    let mut bytes = f.genuine.clone();
    while !b.is_empty() && !bytes.is_empty() {
        let (op, at, value) = (b.u8() % 6, usize::from(b.u16()), b.u8());
        let i = at % bytes.len();
        match op {
            0 => bytes[i] ^= value,
            1 => bytes.insert(i, value),
            2 => {
                bytes.remove(i);
            }
            3 => bytes.truncate(i),
            4 => bytes.push(value),
            _ => {
                // Rewrite a big-endian header word (fields start after magic/version/id).
                let j = i % 64;
                let word = b.u32().to_be_bytes();
                for (k, w) in word.iter().enumerate() {
                    if let Some(x) = bytes.get_mut(j + k) {
                        *x = *w;
                    }
                }
            }
        }
    }
    let result = bundle::open(&bytes, &f.device);
    if bytes == f.genuine {
        let opened = result.expect("the genuine bundle opens");
        check_opened(f, &bytes, &opened);
        assert_eq!(opened.header.sequence, 1);
    } else {
        let e = result.expect_err("a changed bundle was accepted");
        // Changes past the header can only fail authentication or the length check.
        let header_len = f.genuine.len() - (32 + 32 * (1 + 7) + 16);
        if bytes.len() == f.genuine.len() && bytes[..header_len] == f.genuine[..header_len] {
            assert_eq!(e, BundleError::NotForThisDevice);
        }
    }
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let (device, keyring) = (device(), keyring());
    let mut out = Vec::new();
    for (name, start, days, seq) in [("7d", 0, 7, 1), ("1d", 3_600, 1, 2), ("31d", 0, 31, 9)] {
        let mut s = vec![0u8];
        s.extend(seal(&keyring, &device, start, days, seq));
        out.push((format!("raw-genuine-{name}"), s));
    }
    // A bundle sealed to another device: well-formed, never opens here.
    let mut other = vec![0u8];
    other.extend(seal(&keyring, &DeviceSecret::from_bytes([0x24; 32]), 0, 7, 1));
    out.push(("raw-other-device".into(), other));
    out.push(("raw-magic-only".into(), b"\0PCB\x01".to_vec()));
    for (name, ops) in [
        ("structured-unchanged", vec![1u8]),
        ("structured-flip-header", vec![1, 0, 0, 20, 1]),
        ("structured-flip-tag", vec![1, 0, 1, 0x30, 0x80]),
        ("structured-truncate", vec![1, 3, 0, 200, 0]),
        ("structured-append", vec![1, 4, 0, 0, 7]),
        ("structured-rewrite-slot", vec![1, 5, 0, 17, 0, 0, 0, 0, 1]),
    ] {
        out.push((name.to_owned(), ops));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    paycode_fuzz::write_seeds_if_asked(seeds);
    let f = fixture();
    let mut b = Bytes(data);
    if b.u8() % 2 == 0 {
        raw(f, b.rest());
    } else {
        structured(f, &mut b);
    }
});
