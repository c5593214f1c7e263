//! The issuer's `Verifier` (core/src/verifier.rs) over an `InMemoryDirectory` of five devices
//! (active, paused, revoked, one valid only for an hour of day 2), fed arbitrary code text at an
//! arbitrary time.
//!
//! Input: byte 0 picks the mode.
//! * even: raw — 8 bytes pick the time (near the vectors' time, or any i64), the rest is the
//!   code text.
//! * odd: structured — a genuine code of one of the devices (device, step offset -3..=3,
//!   counter 0..=15 picked by the input), then edits (replace a digit, add a separator, swap two
//!   digits), then verified at the picked time.
//!
//! Asserts: never panics; an accepted code is exactly the code the real generator
//! (`OfflineCredential::code_for_step`) makes for the accepted (slot, step, counter), of an
//! active device whose validity overlaps that step, within the verifier's ±1 step window — no
//! false accept; and in the structured mode, an unedited genuine code of an active device,
//! inside the window and the validity, is accepted (no false reject; `Ambiguous` tolerated).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use paycode_core::verifier::{
    DeviceProtocol, DeviceRecord, DeviceStatus, InMemoryDirectory, Rejection, Verifier, VerifierConfig, VerifyError,
};
use paycode_core::{
    IssuerKeyring, IssuerSecret, ManualClock, OfflineCredential, PaymentCode, Prefix, Seed, Slot,
};
use paycode_fuzz::{Bytes, T0, VECTOR_TIME, vector_codes, vector_issuer_secret, vector_seed};

const DAY: i64 = 86_400;

struct Device {
    slot: Slot,
    seed: [u8; 32],
    status: DeviceStatus,
    valid_from: i64,
    valid_until: i64,
}

struct Fixture {
    verifier: Verifier,
    directory: InMemoryDirectory,
    devices: Vec<Device>,
    keyring: IssuerKeyring,
    config: VerifierConfig,
}

fn keyring() -> IssuerKeyring {
    IssuerKeyring::new(
        Prefix::DEFAULT,
        1,
        IssuerSecret::from_bytes(vector_issuer_secret()),
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config = VerifierConfig::default();
        let devices = vec![
            // The vectors' device: docs/test-vectors.json codes are genuine codes of it.
            Device {
                slot: 123_456_789,
                seed: vector_seed(),
                status: DeviceStatus::Active,
                valid_from: T0,
                valid_until: T0 + 7 * DAY,
            },
            Device {
                slot: 0,
                seed: [0xaa; 32],
                status: DeviceStatus::Active,
                valid_from: T0,
                valid_until: T0 + 7 * DAY,
            },
            Device {
                slot: 999_999_999,
                seed: [0xbb; 32],
                status: DeviceStatus::Paused,
                valid_from: T0,
                valid_until: T0 + 7 * DAY,
            },
            Device {
                slot: 500_000_000,
                seed: [0xcc; 32],
                status: DeviceStatus::Revoked,
                valid_from: T0,
                valid_until: T0 + 7 * DAY,
            },
            // Valid for one hour of day 2 only: NotYetValid / Expired around it.
            Device {
                slot: 42,
                seed: [0xdd; 32],
                status: DeviceStatus::Active,
                valid_from: T0 + DAY + 600,
                valid_until: T0 + DAY + 600 + 3600,
            },
        ];
        let directory = InMemoryDirectory::new();
        for d in &devices {
            directory.insert(DeviceRecord {
                slot: d.slot,
                seed: Seed::from_bytes(d.seed),
                status: d.status,
                valid_from: d.valid_from,
                valid_until: d.valid_until,
                protocol: DeviceProtocol::V1,
            });
        }
        Fixture {
            verifier: Verifier::new(keyring(), config, Arc::new(ManualClock::at_secs(T0))),
            directory,
            devices,
            keyring: keyring(),
            config,
        }
    })
}

/// The code the device generator makes for (slot, step, counter): a credential issued over
/// that step only (the verifier's directory validity is checked separately).
fn generate(f: &Fixture, device: &Device, step: u64, counter: u8) -> Option<PaymentCode> {
    let time = f.config.time;
    let start = time.step_start(step);
    let credential = OfflineCredential::issue(
        &f.keyring,
        time,
        device.slot,
        Seed::from_bytes(device.seed),
        start,
        start.checked_add(i64::from(time.step_secs))?,
    )
    .ok()?;
    credential.code_for_step(step, counter).ok()
}

fn pick_time(b: &mut Bytes) -> i64 {
    let selector = b.u8();
    let raw = b.i64();
    match selector % 4 {
        // Any i64 (negative, far future…).
        0 => raw,
        // Within ±8 days of the vectors' time: the fixtures' validity.
        _ => VECTOR_TIME + raw.rem_euclid(16 * DAY) - 8 * DAY,
    }
}

fn check(f: &Fixture, text: &str, now: i64, expect_accept: Option<(Slot, u64, u8)>) {
    let result = f.verifier.check_at(text, now, &f.directory);
    match result {
        Ok(v) => {
            let code = PaymentCode::parse(text).expect("an accepted code parses");
            let device = f
                .devices
                .iter()
                .find(|d| d.slot == v.slot)
                .expect("accepted a slot with no device");
            assert_eq!(
                device.status,
                DeviceStatus::Active,
                "accepted a non-active device"
            );
            assert!(v.counter < 10);
            let current = f.config.time.step_at(now).unwrap_or(0);
            assert!(
                v.step + 1 >= current && v.step <= current.saturating_add(1),
                "accepted step {} outside the window around {current}",
                v.step
            );
            let made_at = f.config.time.step_start(v.step);
            assert!(made_at + 60 > device.valid_from && made_at < device.valid_until);
            let genuine = generate(f, device, v.step, v.counter).expect("the generator makes it");
            assert_eq!(genuine, code, "false accept: not the generator's code for {v:?}");
            if let Some(want) = expect_accept {
                assert_eq!((v.slot, v.step, v.counter), want, "accepted as another code");
            }
        }
        Err(VerifyError::Unavailable(why)) => panic!("in-memory directory unavailable: {why}"),
        Err(VerifyError::Rejected(Rejection::Ambiguous)) => {}
        Err(VerifyError::Rejected(r)) => {
            if let Some(want) = expect_accept {
                panic!("false reject of the genuine code {want:?} at {now}: {r:?}");
            }
        }
    }
}

fn structured(f: &Fixture, b: &mut Bytes) {
    let now = pick_time(b);
    let device = &f.devices[usize::from(b.u8()) % f.devices.len()];
    let offset = i64::from(b.u8() % 7) - 3;
    let counter = b.u8() % 16;
    let current = f.config.time.step_at(now).unwrap_or(0);
    let Some(step) = current.checked_add_signed(offset) else {
        return;
    };
    let Some(genuine) = generate(f, device, step, counter) else {
        return; // counter ≥ 10, or no day key that far out
    };
    let mut digits: Vec<u8> = genuine.digits().into_bytes();
    while !b.is_empty() {
        let (op, at, value) = (b.u8() % 4, usize::from(b.u8()), b.u8());
        match op {
            0 => {
                let i = at % digits.len();
                digits[i] = b'0' + value % 10;
            }
            1 => digits.insert(at % (digits.len() + 1), if value % 2 == 0 { b' ' } else { b'-' }),
            2 => {
                let (i, j) = (at % digits.len(), usize::from(value) % digits.len());
                digits.swap(i, j);
            }
            _ => {
                digits.remove(at % digits.len());
                if digits.is_empty() {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8(digits).expect("ASCII");
    let edited = text.replace([' ', '-'], "") != genuine.digits();
    let made_at = f.config.time.step_start(step);
    let expect_accept = (!edited
        && device.status == DeviceStatus::Active
        && (-1..=1).contains(&offset)
        && made_at + 60 > device.valid_from
        && made_at < device.valid_until)
        .then_some((device.slot, step, counter));
    check(f, &text, now, expect_accept);
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    // Raw mode: the vectors at their own time (selector 1 = near VECTOR_TIME, offset 8 days).
    for (i, code) in vector_codes().iter().enumerate() {
        let mut s = vec![0u8, 1];
        s.extend_from_slice(&(8 * DAY).to_be_bytes());
        s.extend_from_slice(code.as_bytes());
        out.push((format!("raw-vector-{i}"), s));
    }
    // Structured mode: each device, offsets -1..=1, a few counters; one with edits.
    for device in 0..5u8 {
        for (offset, counter) in [(3u8, 0u8), (2, 1), (4, 9), (6, 3)] {
            let mut s = vec![1u8, 1];
            s.extend_from_slice(&(8 * DAY + i64::from(device) * 3_600).to_be_bytes());
            s.extend_from_slice(&[device, offset, counter]);
            out.push((format!("structured-d{device}-o{offset}-c{counter}"), s));
        }
    }
    let mut edited = vec![1u8, 1];
    edited.extend_from_slice(&(8 * DAY).to_be_bytes());
    edited.extend_from_slice(&[0, 3, 0, 0, 17, 5, 1, 4, 0, 2, 3, 12]);
    out.push(("structured-edited".into(), edited));
    out
}

fuzz_target!(|data: &[u8]| {
    paycode_fuzz::write_seeds_if_asked(seeds);
    let f = fixture();
    let mut b = Bytes(data);
    if b.u8() % 2 == 0 {
        let now = pick_time(&mut b);
        let text = String::from_utf8_lossy(b.rest());
        check(f, &text, now, None);
    } else {
        structured(f, &mut b);
    }
});
