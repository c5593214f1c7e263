//! A merchant cannot lock a customer out at other merchants (issue 11, point 2; SECURITY.md
//! "merchant trying to lock a customer out"). The attacker is a merchant that is also a wallet
//! user: it opens its own bundle with its own device key, so it holds the issuer-wide day keys
//! (protocol v1), decrypts a customer's scanned code to the customer's slot and sends forged
//! codes aimed at that slot. Then the customer's genuine code at another shop must be accepted.
//! Also without day keys: altered copies of one scanned code. And the documented bound: it takes
//! `slot_failures / merchant_slot_failures` = 5 merchant keys acting together to lock a slot
//! for everyone. Production limits. SQLite and PostgreSQL.

mod common;

use common::{Device, Harness, engines, test_config};
use paycode_core::identity::{IdentityCipher, day_of_step};
use paycode_core::{PaymentCode, Prefix};
use paycode_server::ratelimit::RateLimits;

fn production_limits() -> paycode_server::Config {
    let mut config = test_config();
    config.limits = RateLimits {
        refusal_delay_ms: 0,
        ..RateLimits::default()
    };
    config
}

/// The attacker's forged codes for the slot hidden in `scanned`, made with the day key of its
/// own bundle: same step, other counters, arbitrary OTPs.
fn forge(attacker: &Device, scanned: &PaymentCode, step: u64, n: usize) -> Vec<String> {
    let day = day_of_step(step, 60);
    let (_, key) = attacker
        .credential
        .day_keys()
        .find(|(d, _)| *d == day)
        .expect("the attacker's bundle holds today's day key");
    let cipher = IdentityCipher::new(key);
    let (slot, counter) = cipher.decrypt(step, scanned.identity()).unwrap();
    (0..n)
        .map(|i| {
            let other = (counter + 1 + i as u8) % 10;
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
fn a_merchant_with_day_keys_cannot_lock_a_customer_out_elsewhere() {
    for engine in engines() {
        let h = Harness::with_config(engine, production_limits());
        h.user("customer");
        let customer = Device::provision(&h, &h.login("customer"));
        // The attacker: a merchant key, and a wallet of its own.
        h.user("mallory");
        let own_wallet = Device::provision(&h, &h.login("mallory"));
        let evil = h.merchant("mallory's shop");
        let other_shop = h.merchant("another shop");

        // The customer shows a code at Mallory's till; Mallory does not redeem it but forges
        // codes for the slot it decrypts to: more than the old slot limit of 5.
        let scanned = customer.code(&h, 0);
        let step = h.now() as u64 / 60;
        let forged = forge(&own_wallet, &scanned, step, 8);
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
        h.user("mallory");
        let own_wallet = Device::provision(&h, &h.login("mallory"));
        let keys: Vec<String> = (0..5).map(|i| h.merchant(&format!("colluder {i}"))).collect();
        let honest = h.merchant("honest shop");

        let scanned = customer.code(&h, 0);
        let step = h.now() as u64 / 60;
        // Four keys × 5 forgeries = 20 < 25: the customer still pays elsewhere.
        for (k, key) in keys[..4].iter().enumerate() {
            for (i, code) in forge(&own_wallet, &scanned, step, 5).iter().enumerate() {
                assert_eq!(reason(&h.pay(key, code, 1, &format!("k{k}-{i}")).1), "bad_otp");
            }
        }
        let paid = h.pay_ok(&honest, &customer.code(&h, 1), 10, "h1");
        assert_eq!(paid["status"], "accepted", "{engine:?}: {paid}");
        // The fifth key's 5 forgeries make 25: the slot is locked for everyone (the OTP bound
        // of docs/API.md "Brute force").
        for (i, code) in forge(&own_wallet, &scanned, step, 5).iter().enumerate() {
            assert_eq!(reason(&h.pay(&keys[4], code, 1, &format!("k4-{i}")).1), "bad_otp");
        }
        let (_, locked) = h.pay(&honest, &customer.code(&h, 2).digits(), 10, "h2");
        assert_eq!(reason(&locked), "slot_locked", "{engine:?}");
    }
}
