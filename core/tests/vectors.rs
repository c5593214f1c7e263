//! Reproduces every vector of `docs/test-vectors.json` from its inputs, step by step.

use paycode_core::identity::{IdentityCipher, day_of_step, derive_identity_key};
use paycode_core::otp::payment_otp;
use paycode_core::verifier::{
    DeviceProtocol, DeviceRecord, DeviceStatus, InMemoryDirectory, Verifier, VerifierConfig,
};
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
            protocol: DeviceProtocol::V1,
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

fn v2_doc() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/test-vectors-v2.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Protocol 2 (PROTOCOL.md §12): each code vector from its inputs — the v2 key derivation
/// (HKDF with salt "paycode/v2"), FF1, the 5-byte table entry, the OTP — and the verifier
/// accepts it from a protocol-2 device and refuses it from a protocol-1 one.
#[test]
fn every_v2_vector_reproduces_and_verifies() {
    use paycode_core::identity::{Protocol, derive_day_key};
    let doc = v2_doc();
    assert_eq!(doc["protocol_version"], 2);
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 14);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let num = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{name}: {k}"));
        let text = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{name}: {k}")).to_string();
        let prefix = Prefix::new(num("prefix") as u8).unwrap();
        let step_secs = num("step_secs") as u32;
        let step = num("unix_time") / u64::from(step_secs);
        assert_eq!(step, num("step"), "{name}");
        let day = day_of_step(step, step_secs);
        assert_eq!(u64::from(day), num("day"), "{name}");
        assert_eq!(unhex(&text("hkdf_salt")), b"paycode/v2");
        let secret = IssuerSecret::from_bytes(key32(&text("issuer_secret")));
        let epoch = num("epoch") as u32;
        let key = derive_day_key(Protocol::V2, &secret, prefix, epoch, day);
        assert_eq!(
            key.expose_secret().to_vec(),
            unhex(&text("identity_key")),
            "{name}"
        );
        assert_ne!(
            derive_identity_key(&secret, prefix, epoch, day),
            key,
            "{name}: v1 and v2 keys differ"
        );
        let mut info = b"identity".to_vec();
        info.push(prefix.get());
        info.extend_from_slice(&epoch.to_be_bytes());
        info.extend_from_slice(&day.to_be_bytes());
        assert_eq!(unhex(&text("hkdf_info")), info, "{name}");
        let (slot, counter) = (num("slot") as u32, num("counter") as u8);
        let field = IdentityCipher::new(&key).encrypt(step, slot, counter).unwrap();
        assert_eq!(text("identity_field"), format!("{field:010}"), "{name}");
        assert_eq!(
            unhex(&text("table_entry")),
            field.to_be_bytes()[3..].to_vec(),
            "{name}"
        );
        let routing = PaymentCode::from_parts(prefix, field, 0)
            .unwrap()
            .routing_digits();
        let mut message = routing.to_vec();
        message.extend_from_slice(&step.to_be_bytes());
        message.push(counter);
        assert_eq!(unhex(&text("otp_message")), message, "{name}");
        let seed = Seed::from_bytes(key32(&text("seed")));
        let otp = payment_otp(&seed, &routing, step, counter);
        assert_eq!(text("otp"), format!("{otp:06}"), "{name}");
        let code = PaymentCode::from_parts(prefix, field, otp).unwrap();
        assert_eq!(text("code"), code.digits(), "{name}");
        assert_eq!(text("display"), code.display(), "{name}");

        let now = num("unix_time") as i64;
        let keyring = IssuerKeyring::new(prefix, epoch, secret);
        let config = VerifierConfig {
            time: TimeParams { step_secs },
            ..VerifierConfig::default()
        };
        let verifier = Verifier::new(keyring, config, std::sync::Arc::new(ManualClock::at_secs(now)));
        for (protocol, accepted) in [(DeviceProtocol::V2, true), (DeviceProtocol::V1, false)] {
            let directory = InMemoryDirectory::new();
            directory.insert(DeviceRecord {
                slot,
                seed: seed.clone(),
                status: DeviceStatus::Active,
                valid_from: 0,
                valid_until: i64::MAX,
                protocol,
            });
            let result = verifier.check(&code.digits(), &directory);
            assert_eq!(result.is_ok(), accepted, "{name}: {protocol:?} {result:?}");
            if let Ok(ok) = result {
                assert_eq!((ok.slot, ok.step, ok.counter), (slot, step, counter), "{name}");
            }
        }
    }
}

/// Protocol 2 whole credentials: the table, header and sealed plaintext from the inputs alone
/// (PROTOCOL.md §12.3–12.4), and the credential opened from them makes the vector codes.
#[test]
fn every_v2_credential_reproduces() {
    use paycode_core::identity::{Protocol, derive_day_key};
    let doc = v2_doc();
    let credentials = doc["credentials"].as_array().unwrap();
    assert!(credentials.len() >= 2);
    for c in credentials {
        let name = c["name"].as_str().unwrap();
        let num = |k: &str| c[k].as_i64().unwrap_or_else(|| panic!("{name}: {k}"));
        let text = |k: &str| c[k].as_str().unwrap_or_else(|| panic!("{name}: {k}")).to_string();
        let prefix = Prefix::new(num("prefix") as u8).unwrap();
        let step_secs = num("step_secs") as u32;
        let refreshes = num("refreshes") as u8;
        let (from, until) = (num("valid_from"), num("valid_until"));
        let first = from as u64 / u64::from(step_secs);
        let last = (until - 1) as u64 / u64::from(step_secs);
        assert_eq!(first, num("first_step") as u64, "{name}");
        assert_eq!(last - first + 1, num("step_count") as u64, "{name}");
        let secret = IssuerSecret::from_bytes(key32(&text("issuer_secret")));
        let slot = num("slot") as u64;
        let mut table = Vec::new();
        let mut fields = Vec::new();
        for step in first..=last {
            let day = day_of_step(step, step_secs);
            let key = derive_day_key(Protocol::V2, &secret, prefix, num("epoch") as u32, day);
            let cipher = IdentityCipher::new(&key);
            for counter in 0..refreshes {
                let field = cipher.encrypt(step, slot as u32, counter).unwrap();
                fields.push(format!("{field:010}"));
                table.extend_from_slice(&field.to_be_bytes()[3..]);
            }
        }
        let listed: Vec<String> = c["identity_fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed, fields, "{name}");
        let seed = key32(&text("seed"));
        let mut plain = seed.to_vec();
        plain.extend_from_slice(&table);
        assert_eq!(unhex(&text("plaintext")), plain, "{name}");
        let device_id = text("device_id");
        let mut header = b"PCB\x02".to_vec();
        header.push(device_id.len() as u8);
        header.extend_from_slice(device_id.as_bytes());
        header.extend_from_slice(&(num("sequence") as u64).to_be_bytes());
        header.push(prefix.get());
        header.extend_from_slice(&step_secs.to_be_bytes());
        header.extend_from_slice(&from.to_be_bytes());
        header.extend_from_slice(&until.to_be_bytes());
        header.extend_from_slice(&num("issuer_time_ms").to_be_bytes());
        header.extend_from_slice(&first.to_be_bytes());
        header.extend_from_slice(&((last - first + 1) as u32).to_be_bytes());
        header.push(refreshes);
        assert_eq!(unhex(&text("header")), header, "{name}");
        assert_eq!(unhex(&text("hpke_info")), b"paycode/v2/bundle");
        // The parsed credential makes, from its table alone, the code §12.5 describes.
        let cred = paycode_core::LimitedUseCredential::new(
            prefix,
            TimeParams { step_secs },
            refreshes,
            Seed::from_bytes(seed),
            from,
            until,
            table,
        )
        .unwrap();
        let code = cred.code_for_step(last, refreshes - 1).unwrap();
        assert_eq!(
            format!("{:010}", code.identity()),
            *fields.last().unwrap(),
            "{name}"
        );
    }
}
