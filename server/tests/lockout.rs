//! A merchant cannot lock a customer out at other merchants (issue 11, point 2; SECURITY.md
//! "merchant trying to lock a customer out"). The attacker is the strongest one: a merchant that
//! can aim forged codes at a customer's slot. Under protocol 1 any wallet user could (its bundle
//! held the issuer-wide day keys; during the migration such a bundle still reaches devices that
//! have not synced); under protocol 2 no phone holds a key that can, so the test hands the
//! attacker the issuer's own protocol-2 day key — more than any real merchant has. It decrypts
//! the customer's scanned code to the slot and sends forged codes aimed at that slot. Then the
//! customer's genuine code at another shop must be accepted.
//! Also without day keys: altered copies of one scanned code. And the documented bound: it takes
//! `slot_failures / merchant_slot_failures` = 5 merchant keys acting together to lock a slot
//! for everyone. Production limits. SQLite and PostgreSQL.

mod common;

use common::{Device, Harness, engines, test_config};
use paycode_core::identity::{IdentityCipher, Protocol, day_of_step};
use paycode_core::{IssuerKeyring, IssuerSecret, PaymentCode, Prefix};
use paycode_server::ratelimit::RateLimits;

fn production_limits() -> paycode_server::Config {
    let mut config = test_config();
    config.limits = RateLimits {
        refusal_delay_ms: 0,
        ..RateLimits::default()
    };
    config
}

/// The attacker's forged codes for the slot hidden in `scanned`, made with the day key of the
/// customer's protocol (the harness's issuer secret, `Harness::with_config`): same step, other
/// counters (below the 4 refreshes a step the issuer accepts), arbitrary OTPs.
fn forge(scanned: &PaymentCode, step: u64, n: usize) -> Vec<String> {
    let day = day_of_step(step, 60);
    let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x42; 32]));
    let key = keyring.day_key_of(Protocol::V2, day);
    let cipher = IdentityCipher::new(&key);
    let (slot, counter) = cipher.decrypt(step, scanned.identity()).unwrap();
    (0..n)
        .map(|i| {
            let other = (counter + 1 + i as u8) % 4;
            let identity = cipher.encrypt(step, slot, other).unwrap();
            let otp = (scanned.otp() + 1 + i as u32 * 7_919) % 1_000_000;
            PaymentCode::from_parts(Prefix::DEFAULT, identity, otp)
                .unwrap()
                .digits()
        })
        .collect()
}

fn reason(body: &serde_json::Value) -> String {
    body["reason"].as_str().unwrap_or("").to_owned()
}

#[test]
fn a_merchant_aiming_at_a_slot_cannot_lock_a_customer_out_elsewhere() {
    for engine in engines() {
        let h = Harness::with_config(engine, production_limits());
        h.user("customer");
        let customer = Device::provision(&h, &h.login("customer"));
        // The attacker: a merchant key (and, in `forge`, a key to aim with).
        let evil = h.merchant("mallory's shop");
        let other_shop = h.merchant("another shop");

        // The customer shows a code at Mallory's till; Mallory does not redeem it but forges
        // codes for the slot it decrypts to: more than the old slot limit of 5.
        let scanned = customer.code(&h, 0);
        let step = h.now() as u64 / 60;
        let forged = forge(&scanned, step, 8);
        let answers: Vec<String> = forged
            .iter()
            .enumerate()
            .map(|(i, code)| reason(&h.pay(&evil, code, 1, &format!("f{i}")).1))
            .collect();
        // The forgeries reach the customer's slot (bad_otp, not unknown_device); after 5 the
        // slot is locked — for Mallory.
        assert_eq!(
            answers,
            ["bad_otp"; 5]
                .into_iter()
                .chain(["slot_locked"; 3])
                .collect::<Vec<_>>(),
            "{engine:?}"
        );
        // The customer pays at another shop, at once.
        h.clock.advance_secs(1);
        let paid = h.pay_ok(&other_shop, &customer.code(&h, 1), 500, "real");
        assert_eq!(paid["status"], "accepted", "{engine:?}: {paid}");
    }
}

#[test]
fn altered_copies_of_a_scanned_code_lock_the_customer_out_only_at_that_merchant() {
    for engine in engines() {
        let h = Harness::with_config(engine, production_limits());
        h.user("customer");
        let customer = Device::provision(&h, &h.login("customer"));
        let evil = h.merchant("altering shop");
        let other_shop = h.merchant("another shop");

        let scanned = customer.code(&h, 0);
        for i in 1..=5u32 {
            let altered = PaymentCode::from_parts(
                Prefix::DEFAULT,
                scanned.identity(),
                (scanned.otp() + i) % 1_000_000,
            )
            .unwrap();
            let (status, body) = h.pay(&evil, &altered.digits(), 1, &format!("a{i}"));
            assert_eq!((status, reason(&body)), (200, "bad_otp".to_owned()), "{engine:?}");
        }
        // Locked at the altering shop only.
        let (_, at_evil) = h.pay(&evil, &customer.code(&h, 1).digits(), 1, "a6");
        assert_eq!(reason(&at_evil), "slot_locked", "{engine:?}");
        let paid = h.pay_ok(&other_shop, &customer.code(&h, 2), 500, "real");
        assert_eq!(paid["status"], "accepted", "{engine:?}: {paid}");
    }
}

#[test]
fn it_takes_five_merchant_keys_together_to_lock_a_slot_for_everyone() {
    for engine in engines() {
        let h = Harness::with_config(engine, production_limits());
        h.user("customer");
        let customer = Device::provision(&h, &h.login("customer"));
        let keys: Vec<String> = (0..5).map(|i| h.merchant(&format!("colluder {i}"))).collect();
        let honest = h.merchant("honest shop");

        let scanned = customer.code(&h, 0);
        let step = h.now() as u64 / 60;
        // Four keys × 5 forgeries = 20 < 25: the customer still pays elsewhere.
        for (k, key) in keys[..4].iter().enumerate() {
            for (i, code) in forge(&scanned, step, 5).iter().enumerate() {
                assert_eq!(reason(&h.pay(key, code, 1, &format!("k{k}-{i}")).1), "bad_otp");
            }
        }
        let paid = h.pay_ok(&honest, &customer.code(&h, 1), 10, "h1");
        assert_eq!(paid["status"], "accepted", "{engine:?}: {paid}");
        // The fifth key's 5 forgeries make 25: the slot is locked for everyone (the OTP bound
        // of docs/API.md "Brute force").
        for (i, code) in forge(&scanned, step, 5).iter().enumerate() {
            assert_eq!(reason(&h.pay(&keys[4], code, 1, &format!("k4-{i}")).1), "bad_otp");
        }
        let (_, locked) = h.pay(&honest, &customer.code(&h, 2).digits(), 10, "h2");
        assert_eq!(reason(&locked), "slot_locked", "{engine:?}");
    }
}
