//! Reproduces every vector of `docs/test-vectors.json` from its inputs, step by step.

use paycode_core::identity::{IdentityCipher, day_of_step, derive_identity_key};
use paycode_core::otp::payment_otp;
use paycode_core::verifier::{DeviceRecord, DeviceStatus, InMemoryDirectory, Verifier, VerifierConfig};
use paycode_core::{IssuerKeyring, IssuerSecret, ManualClock, PaymentCode, Prefix, Seed, TimeParams};
use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn key32(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32 bytes")
}

fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/test-vectors.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

#[test]
fn there_are_at_least_twenty_vectors() {
    assert!(vectors().len() >= 20);
}

#[test]
fn every_vector_reproduces_step_by_step() {
    for v in vectors() {
        let name = v["name"].as_str().unwrap();
        let num = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{name}: {k}"));
        let text = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{name}: {k}")).to_string();
        let prefix = Prefix::new(num("prefix") as u8).unwrap();
        let step_secs = num("step_secs") as u32;
        let step = num("unix_time") / u64::from(step_secs);
        assert_eq!(step, num("step"), "{name}: step");
        let day = day_of_step(step, step_secs);
        assert_eq!(u64::from(day), num("day"), "{name}: day");
        let secret = IssuerSecret::from_bytes(key32(&text("issuer_secret")));
        let key = derive_identity_key(&secret, prefix, num("epoch") as u32, day);
        assert_eq!(
            key.expose_secret().to_vec(),
            unhex(&text("identity_key")),
            "{name}: identity key"
        );
        let slot = num("slot") as u32;
        let counter = num("counter") as u8;
        assert_eq!(
            text("identity_plaintext"),
            format!("{:010}", u64::from(slot) * 10 + u64::from(counter))
        );
        assert_eq!(
            unhex(&text("ff1_tweak")),
            step.to_be_bytes().to_vec(),
            "{name}: tweak"
        );
        let cipher = IdentityCipher::new(&key);
        let field = cipher.encrypt(step, slot, counter).unwrap();
        assert_eq!(
            format!("{field:010}"),
            text("identity_field"),
            "{name}: identity field"
        );
        assert_eq!(
            cipher.decrypt(step, field),
            Some((slot, counter)),
            "{name}: decrypt"
        );
        let routing = PaymentCode::from_parts(prefix, field, 0)
            .unwrap()
            .routing_digits();
        let mut message = routing.to_vec();
        message.extend_from_slice(&step.to_be_bytes());
        message.push(counter);
        assert_eq!(hex(&message), text("otp_message"), "{name}: OTP message");
        let otp = payment_otp(&Seed::from_bytes(key32(&text("seed"))), &routing, step, counter);
        assert_eq!(format!("{otp:06}"), text("otp"), "{name}: OTP");
        let code = PaymentCode::parse(&text("code")).unwrap();
        assert_eq!(code.display(), text("display"), "{name}: display");
        assert_eq!((code.identity(), code.otp()), (field, otp), "{name}: code fields");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The verifier, given each vector's issuer secret and the device's seed, accepts the code at
/// the vector's time and recovers (slot, step, counter).
#[test]
fn the_verifier_accepts_every_vector() {
    for v in vectors() {
        let name = v["name"].as_str().unwrap();
        let prefix = Prefix::new(v["prefix"].as_u64().unwrap() as u8).unwrap();
        let epoch = v["epoch"].as_u64().unwrap() as u32;
        let secret = IssuerSecret::from_bytes(key32(v["issuer_secret"].as_str().unwrap()));
        let keyring = IssuerKeyring::new(prefix, epoch, secret);
        let time = TimeParams {
            step_secs: v["step_secs"].as_u64().unwrap() as u32,
        };
        let now = v["unix_time"].as_i64().unwrap();
        let config = VerifierConfig {
            time,
            ..VerifierConfig::default()
        };
        let verifier = Verifier::new(keyring, config, std::sync::Arc::new(ManualClock::at_secs(now)));
        let directory = InMemoryDirectory::new();
        let slot = v["slot"].as_u64().unwrap() as u32;
        directory.insert(DeviceRecord {
            slot,
            seed: Seed::from_bytes(key32(v["seed"].as_str().unwrap())),
            status: DeviceStatus::Active,
            valid_from: 0,
            valid_until: i64::MAX,
        });
        let verified = verifier
            .check(v["display"].as_str().unwrap(), &directory)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.slot, slot, "{name}");
        assert_eq!(verified.step, v["step"].as_u64().unwrap(), "{name}");
        assert_eq!(
            u64::from(verified.counter),
            v["counter"].as_u64().unwrap(),
            "{name}"
        );
    }
}
