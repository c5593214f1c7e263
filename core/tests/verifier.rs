//! The verifier against devices made by the credential code: acceptance, the time window,
//! expiry, status, replay, tampering and ambiguity.

mod common;

use common::{Issuer, T0, WEEK};
use paycode_core::verifier::{
    DeviceDirectory, DeviceProtocol, DeviceRecord, DeviceStatus, Rejection, VerifierConfig, VerifyError,
};
use paycode_core::{CodeMark, InMemoryReplayGuard, PaymentCode, ReplayGuard, Seed, TimeParams};
use proptest::prelude::*;

fn rejected(result: Result<paycode_core::Verified, VerifyError>) -> Rejection {
    match result {
        Err(VerifyError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn accepts_its_own_devices_codes_and_names_the_device() {
    let issuer = Issuer::new();
    for slot in [0, 1, 42, 999_999_999] {
        let device = issuer.provision(slot);
        for counter in 0..10 {
            let code = device.code_at(issuer.now(), counter).unwrap();
            let verified = issuer.verifier.check(&code.display(), &issuer.directory).unwrap();
            assert_eq!((verified.slot, verified.counter), (slot, counter));
            assert_eq!(verified.step, (issuer.now() / 60) as u64);
        }
    }
}

#[test]
fn window_is_one_step_back_and_one_ahead_by_default() {
    let issuer = Issuer::new();
    let device = issuer.provision(7);
    let now = issuer.now();
    for (offset, ok) in [(-120, false), (-60, true), (0, true), (60, true), (120, false)] {
        let code = device.code_at(now + offset, 0).unwrap();
        let result = issuer.verifier.check(&code.digits(), &issuer.directory);
        assert_eq!(result.is_ok(), ok, "code made {offset} s from now: {result:?}");
        if !ok {
            // Outside the window the identity field decrypts to a random slot.
            let why = rejected(result);
            assert!(
                matches!(why, Rejection::UnknownDevice | Rejection::BadOtp),
                "{why:?}"
            );
        }
    }
}

#[test]
fn a_wider_window_is_configurable() {
    let config = VerifierConfig {
        skew_back: 3,
        skew_ahead: 0,
        time: TimeParams { step_secs: 30 },
        ..VerifierConfig::default()
    };
    let issuer = Issuer::with_config(config);
    let device = issuer.provision(7);
    let now = issuer.now();
    assert!(
        issuer
            .verifier
            .check(&device.code_at(now - 90, 1).unwrap().digits(), &issuer.directory)
            .is_ok()
    );
    assert!(
        issuer
            .verifier
            .check(&device.code_at(now - 120, 1).unwrap().digits(), &issuer.directory)
            .is_err()
    );
    assert!(
        issuer
            .verifier
            .check(&device.code_at(now + 30, 1).unwrap().digits(), &issuer.directory)
            .is_err()
    );
}

#[test]
fn codes_across_midnight_use_each_days_key() {
    let issuer = Issuer::new();
    let device = issuer.provision(3);
    let midnight = T0 + 86_400;
    let before = device.code_at(midnight - 1, 0).unwrap();
    let after = device.code_at(midnight, 0).unwrap();
    issuer.clock.set_ms(midnight * 1000 + 10_000);
    assert!(
        issuer.verifier.check(&before.digits(), &issuer.directory).is_ok(),
        "yesterday's last step"
    );
    assert!(
        issuer.verifier.check(&after.digits(), &issuer.directory).is_ok(),
        "today's first step"
    );
}

#[test]
fn expired_and_not_yet_valid_material_is_rejected_distinctly() {
    let issuer = Issuer::new();
    // The issuer shortened this device's validity after it was provisioned for a week.
    let device = issuer.provision(5);
    issuer.directory.insert(DeviceRecord {
        slot: 5,
        seed: common::seed_for(5),
        status: DeviceStatus::Active,
        valid_from: T0,
        valid_until: T0 + 3_600,
        protocol: DeviceProtocol::V1,
    });
    issuer.clock.set_ms((T0 + 3_600 + 5) * 1000);
    let code = device.code_at(T0 + 3_600 + 5, 0).unwrap();
    assert_eq!(
        rejected(issuer.verifier.check(&code.digits(), &issuer.directory)),
        Rejection::Expired {
            valid_until: T0 + 3_600
        }
    );
    // A device whose validity starts later (re-provisioned) rejects codes of before.
    issuer.directory.insert(DeviceRecord {
        slot: 5,
        seed: common::seed_for(5),
        status: DeviceStatus::Active,
        valid_from: T0 + WEEK,
        valid_until: T0 + WEEK + 60,
        protocol: DeviceProtocol::V1,
    });
    assert_eq!(
        rejected(issuer.verifier.check(&code.digits(), &issuer.directory)),
        Rejection::NotYetValid
    );
}

#[test]
fn paused_and_revoked_devices_cannot_pay() {
    let issuer = Issuer::new();
    let device = issuer.provision(8);
    let code = device.code_at(issuer.now(), 0).unwrap().digits();
    issuer.directory.set_status(8, DeviceStatus::Paused);
    assert_eq!(
        rejected(issuer.verifier.check(&code, &issuer.directory)),
        Rejection::Paused
    );
    issuer.directory.set_status(8, DeviceStatus::Revoked);
    assert_eq!(
        rejected(issuer.verifier.check(&code, &issuer.directory)),
        Rejection::Revoked
    );
    issuer.directory.set_status(8, DeviceStatus::Active);
    assert!(issuer.verifier.check(&code, &issuer.directory).is_ok());
}

#[test]
fn once_and_nothing_older_through_the_guard() {
    let issuer = Issuer::new();
    let guard = InMemoryReplayGuard::new();
    let device = issuer.provision(9);
    let now = issuer.now();
    let first = device.code_at(now, 0).unwrap().digits();
    let second = device.code_at(now, 1).unwrap().digits();
    let older = device.code_at(now - 60, 4).unwrap().digits();
    issuer
        .verifier
        .redeem(&second, &issuer.directory, &guard)
        .unwrap();
    assert_eq!(
        rejected(issuer.verifier.redeem(&second, &issuer.directory, &guard)),
        Rejection::Replayed
    );
    assert_eq!(
        rejected(issuer.verifier.redeem(&first, &issuer.directory, &guard)),
        Rejection::Superseded
    );
    assert_eq!(
        rejected(issuer.verifier.redeem(&older, &issuer.directory, &guard)),
        Rejection::Superseded
    );
    // A screenshot of counter 2: the owner voids through it; counter 3 still pays.
    guard
        .void_through(
            9,
            CodeMark {
                step: (now / 60) as u64,
                counter: 2,
            },
        )
        .unwrap();
    let shot = device.code_at(now, 2).unwrap().digits();
    assert_eq!(
        rejected(issuer.verifier.redeem(&shot, &issuer.directory, &guard)),
        Rejection::Voided
    );
    issuer
        .verifier
        .redeem(
            &device.code_at(now, 3).unwrap().digits(),
            &issuer.directory,
            &guard,
        )
        .unwrap();
}

#[test]
fn foreign_prefix_and_malformed_input_are_typed() {
    let issuer = Issuer::new();
    assert_eq!(
        rejected(issuer.verifier.check("291675652589992104", &issuer.directory)),
        Rejection::UnknownPrefix(29)
    );
    assert!(matches!(
        rejected(issuer.verifier.check("2816 7565 2589 99210", &issuer.directory)),
        Rejection::Malformed(_)
    ));
}

#[test]
fn a_wrong_seed_never_verifies() {
    let issuer = Issuer::new();
    let device = issuer.provision(10);
    issuer.directory.insert(DeviceRecord {
        slot: 10,
        seed: Seed::from_bytes([0xff; 32]),
        status: DeviceStatus::Active,
        valid_from: T0,
        valid_until: T0 + WEEK,
        protocol: DeviceProtocol::V1,
    });
    for counter in 0..10 {
        let code = device.code_at(issuer.now(), counter).unwrap();
        assert_eq!(
            rejected(issuer.verifier.check(&code.digits(), &issuer.directory)),
            Rejection::BadOtp
        );
    }
}

/// A directory whose storage fails: the verifier reports unavailability, not a rejection.
struct BrokenDirectory;
impl DeviceDirectory for BrokenDirectory {
    fn device(&self, _slot: u32) -> Result<Option<DeviceRecord>, paycode_core::DirectoryError> {
        Err(paycode_core::DirectoryError("connection refused".into()))
    }
}

#[test]
fn storage_failures_are_not_blamed_on_the_client() {
    let issuer = Issuer::new();
    let device = issuer.provision(11);
    let code = device.code_at(issuer.now(), 0).unwrap().digits();
    assert!(matches!(
        issuer.verifier.check(&code, &BrokenDirectory),
        Err(VerifyError::Unavailable(_))
    ));
}

/// If a code matches two (device, step) pairs, it is refused rather than charged to either.
#[test]
fn ambiguous_codes_are_refused() {
    let issuer = Issuer::new();
    let device = issuer.provision(12);
    let now = issuer.now();
    let code = device.code_at(now, 0).unwrap();
    // Find which slot the same identity field decrypts to under the previous step, and give
    // that slot a seed whose OTP for it collides (a one-in-a-million event, forced by search).
    let step = (now / 60) as u64;
    let day = paycode_core::identity::day_of_step(step - 1, 60);
    let cipher = paycode_core::identity::IdentityCipher::new(&issuer.verifier.keyring().day_key(day));
    let (other_slot, other_counter) = cipher.decrypt(step - 1, code.identity()).unwrap();
    let seed = (0u64..)
        .map(|i| {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&i.to_be_bytes());
            Seed::from_bytes(bytes)
        })
        .find(|seed| {
            paycode_core::otp::payment_otp(seed, &code.routing_digits(), step - 1, other_counter)
                == code.otp()
        })
        .unwrap();
    issuer.directory.insert(DeviceRecord {
        slot: other_slot,
        seed,
        status: DeviceStatus::Active,
        valid_from: T0,
        valid_until: T0 + WEEK,
        protocol: DeviceProtocol::V1,
    });
    assert_eq!(
        rejected(issuer.verifier.check(&code.digits(), &issuer.directory)),
        Rejection::Ambiguous
    );
}

fn mutate(code: &str, position: usize, digit: u8) -> String {
    let mut bytes = code.as_bytes().to_vec();
    bytes[position] = b'0' + digit;
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every single-digit change of a valid code is rejected.
    #[test]
    fn every_single_digit_change_is_rejected(slot in 0u32..1000, counter in 0u8..10, offset in -60i64..60) {
        let issuer = Issuer::new();
        for s in 0..20 { issuer.provision((slot + s) % 1000); }
        let device = issuer.provision(slot);
        let code = device.code_at(issuer.now() + offset, counter).unwrap().digits();
        prop_assert!(issuer.verifier.check(&code, &issuer.directory).is_ok());
        for position in 0..18 {
            for digit in 0..10u8 {
                let changed = mutate(&code, position, digit);
                if changed == code { continue; }
                prop_assert!(issuer.verifier.check(&changed, &issuer.directory).is_err(), "{changed} accepted");
            }
        }
    }

    /// Swapping two adjacent, different digits is rejected too.
    #[test]
    fn adjacent_transpositions_are_rejected(slot in 0u32..1000, counter in 0u8..10) {
        let issuer = Issuer::new();
        let device = issuer.provision(slot);
        let code = device.code_at(issuer.now(), counter).unwrap().digits();
        for i in 0..17 {
            let mut bytes = code.clone().into_bytes();
            if bytes[i] == bytes[i + 1] { continue; }
            bytes.swap(i, i + 1);
            let swapped = String::from_utf8(bytes).unwrap();
            prop_assert!(issuer.verifier.check(&swapped, &issuer.directory).is_err(), "{swapped} accepted");
        }
    }

    /// Random 18-digit strings with our prefix are not accepted.
    #[test]
    fn random_codes_are_rejected(rest in "[0-9]{16}") {
        let issuer = Issuer::new();
        for slot in 0..50 { issuer.provision(slot); }
        let guess = format!("28{rest}");
        prop_assert!(issuer.verifier.check(&guess, &issuer.directory).is_err());
        let _ = PaymentCode::parse(&guess).unwrap();
    }
}

/// Scanner garbage built from a valid code: other whitespace, other scripts' digits, lengths,
/// huge and empty input. Each is refused as malformed, and the code itself still redeems once.
#[test]
fn malformed_forms_of_a_valid_code_are_refused_and_change_nothing() {
    let issuer = Issuer::new();
    let device = issuer.provision(77);
    let guard = InMemoryReplayGuard::new();
    let code = device.code_at(issuer.now(), 3).unwrap().digits();
    let (head, tail) = code.split_at(4);
    let mut variants: Vec<String> = [
        "\u{a0}", "\t", "\n", "\r", "\u{200b}", "\u{2007}", "\u{3000}", "\u{feff}", "_", ".", "+",
    ]
    .iter()
    .map(|sep| format!("{head}{sep}{tail}"))
    .collect();
    variants.push(format!("\u{feff}{code}"));
    variants.push(format!("{code}\0"));
    // Other scripts' digits (full-width, Arabic-Indic, Devanagari, mathematical bold) at every
    // position: digits to Unicode, not to us.
    for zero in ['\u{ff10}', '\u{660}', '\u{966}', '\u{1d7ce}'] {
        for position in 0..18 {
            let mut chars: Vec<char> = code.chars().collect();
            let d = chars[position].to_digit(10).unwrap();
            chars[position] = char::from_u32(zero as u32 + d).unwrap();
            variants.push(chars.into_iter().collect());
        }
    }
    variants.extend([
        String::new(),
        "-- --".into(),
        code[..17].to_owned(),
        format!("{code}0"),
        format!("{code}{code}"),
        "9".repeat(1 << 20),
        "💳".repeat(18),
    ]);
    for variant in &variants {
        let result = issuer.verifier.redeem(variant, &issuer.directory, &guard);
        assert!(
            matches!(result, Err(VerifyError::Rejected(Rejection::Malformed(_)))),
            "{:?} → {result:?}",
            variant.chars().take(40).collect::<String>()
        );
    }
    assert!(issuer.verifier.redeem(&code, &issuer.directory, &guard).is_ok());
    assert_eq!(
        rejected(issuer.verifier.redeem(&code, &issuer.directory, &guard)),
        Rejection::Replayed
    );
}

/// The guessing bound at the protocol level, without any rate limit: random codes with the
/// issuer's prefix against 100,000 devices. Expected acceptances ≈ guesses × 3 steps × 10
/// counters × devices / 10^10 / 10^6 ≈ 3·10^-4 for 10^6 guesses, so none may pass.
/// `PAYCODE_GUESSES=N` changes the number of guesses (default 10^6, a few seconds).
#[test]
fn random_guesses_against_100k_devices_accept_none() {
    let issuer = Issuer::new();
    for slot in 0..100_000 {
        issuer.directory.insert(DeviceRecord {
            slot,
            seed: common::seed_for(slot),
            status: DeviceStatus::Active,
            valid_from: T0,
            valid_until: T0 + WEEK,
            protocol: DeviceProtocol::V1,
        });
    }
    let guesses: u64 = std::env::var("PAYCODE_GUESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // xorshift64*: reproducible, fast, and good enough to spread guesses over the space.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let (mut unknown, mut bad_otp, mut other) = (0u64, 0u64, 0u64);
    for _ in 0..guesses {
        let guess = format!("28{:016}", next() % 10_000_000_000_000_000);
        match issuer.verifier.check(&guess, &issuer.directory) {
            Ok(v) => panic!("{guess} accepted as slot {}", v.slot),
            Err(VerifyError::Rejected(Rejection::UnknownDevice)) => unknown += 1,
            Err(VerifyError::Rejected(Rejection::BadOtp)) => bad_otp += 1,
            Err(_) => other += 1,
        }
    }
    // About 1 guess in 10^4 lands on a device's identity field (10^6 valid of 10^10): those
    // reach the OTP check and fail there.
    assert_eq!(unknown + bad_otp + other, guesses);
    assert!(
        bad_otp > 0 && bad_otp < guesses / 1_000,
        "{bad_otp} of {guesses} reached the OTP"
    );
    eprintln!("{guesses} guesses: {unknown} unknown device, {bad_otp} wrong OTP, {other} other, 0 accepted");
}
