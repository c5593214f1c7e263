//! "No collisions by construction": the identity field is a bijection of (slot, counter) for
//! each step, so no two devices ever show the same code in the same step.

use std::collections::HashSet;

use paycode_core::identity::{IdentityCipher, day_of_step};
use paycode_core::{IssuerKeyring, IssuerSecret, Prefix};

#[test]
fn hundred_thousand_devices_never_collide() {
    let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x42; 32]));
    let devices = 100_000u32;
    // Four steps, one across midnight, with three refresh counters each.
    let midnight_step = 29_921_760u64; // 2026-11-23T00:00Z / 60
    for step in [
        midnight_step - 2,
        midnight_step - 1,
        midnight_step,
        midnight_step + 1,
    ] {
        let cipher = IdentityCipher::new(&keyring.day_key(day_of_step(step, 60)));
        let mut fields = HashSet::with_capacity(devices as usize * 3);
        for slot in 0..devices {
            // Spread slots over the whole range, not just the low ones.
            let slot = slot.wrapping_mul(9_973) % 1_000_000_000;
            for counter in [0u8, 1, 9] {
                let field = cipher.encrypt(step, slot, counter).unwrap();
                assert!(
                    fields.insert(field),
                    "collision at step {step}, slot {slot}, counter {counter}"
                );
            }
        }
        assert_eq!(fields.len(), devices as usize * 3);
    }
}

#[test]
fn one_devices_fields_look_unrelated_across_steps() {
    // Unlinkability, the observable part: the same (slot, counter) in consecutive steps gives
    // fields that share no position-wise digits more often than chance (1 in 10 per digit).
    let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x42; 32]));
    let cipher = IdentityCipher::new(&keyring.day_key(20_779));
    let base = 29_920_320u64;
    let fields: Vec<String> = (0..1_000)
        .map(|i| format!("{:010}", cipher.encrypt(base + i, 123_456, 0).unwrap()))
        .collect();
    let mut same = 0usize;
    for pair in fields.windows(2) {
        same += pair[0]
            .bytes()
            .zip(pair[1].bytes())
            .filter(|(a, b)| a == b)
            .count();
    }
    let total = 999 * 10;
    let rate = same as f64 / total as f64;
    assert!(
        (0.08..0.12).contains(&rate),
        "digit agreement rate {rate} is not ~0.1"
    );
}
