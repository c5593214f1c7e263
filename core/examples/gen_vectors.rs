//! Writes `docs/test-vectors.json` (protocol 1): `cargo run -p paycode-core --example gen_vectors >
//! docs/test-vectors.json`, and with the argument `v2` `docs/test-vectors-v2.json` (protocol 2:
//! `cargo run -p paycode-core --example gen_vectors v2 > docs/test-vectors-v2.json`).
//!
//! Every value is computed by the library's public functions; `tests/vectors.rs` recomputes
//! each from its inputs and fails if the file and the code ever disagree.

use paycode_core::bundle::{header_v2, plaintext_v2};
use paycode_core::identity::{IdentityCipher, Protocol, day_of_step, derive_day_key, derive_identity_key};
use paycode_core::otp::payment_otp;
use paycode_core::{
    IssuerKeyring, IssuerSecret, LimitedUseCredential, PaymentCode, Prefix, Seed, TimeParams,
};
use serde_json::json;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secret(fill: u8) -> [u8; 32] {
    std::array::from_fn(|i| fill.wrapping_add(i as u8))
}

struct Case {
    name: &'static str,
    prefix: u8,
    step_secs: u32,
    secret: [u8; 32],
    epoch: u32,
    seed: [u8; 32],
    slot: u32,
    counter: u8,
    unix_time: u64,
}

fn vector(c: &Case) -> serde_json::Value {
    let prefix = Prefix::new(c.prefix).expect("valid prefix");
    let step = c.unix_time / u64::from(c.step_secs);
    let day = day_of_step(step, c.step_secs);
    let key = derive_identity_key(&IssuerSecret::from_bytes(c.secret), prefix, c.epoch, day);
    let identity = IdentityCipher::new(&key)
        .encrypt(step, c.slot, c.counter)
        .expect("in range");
    let unsigned = PaymentCode::from_parts(prefix, identity, 0).expect("in range");
    let routing = unsigned.routing_digits();
    let seed = Seed::from_bytes(c.seed);
    let otp = payment_otp(&seed, &routing, step, c.counter);
    let code = PaymentCode::from_parts(prefix, identity, otp).expect("in range");
    let mut message = routing.to_vec();
    message.extend_from_slice(&step.to_be_bytes());
    message.push(c.counter);
    let mut info = b"identity".to_vec();
    info.push(c.prefix);
    info.extend_from_slice(&c.epoch.to_be_bytes());
    info.extend_from_slice(&day.to_be_bytes());
    json!({
        "name": c.name,
        "prefix": c.prefix,
        "step_secs": c.step_secs,
        "unix_time": c.unix_time,
        "issuer_secret": hex(&c.secret),
        "epoch": c.epoch,
        "seed": hex(&c.seed),
        "slot": c.slot,
        "counter": c.counter,
        "step": step,
        "day": day,
        "hkdf_info": hex(&info),
        "identity_key": hex(key.expose_secret()),
        "ff1_tweak": hex(&step.to_be_bytes()),
        "identity_plaintext": format!("{:010}", u64::from(c.slot) * 10 + u64::from(c.counter)),
        "identity_field": format!("{identity:010}"),
        "otp_message": hex(&message),
        "otp": format!("{otp:06}"),
        "code": code.digits(),
        "display": code.display(),
    })
}

/// A protocol-2 code vector: the v2 day key, and the code made from the identity field the
/// issuer puts in the device's table.
fn vector_v2(c: &Case) -> serde_json::Value {
    let prefix = Prefix::new(c.prefix).expect("valid prefix");
    let step = c.unix_time / u64::from(c.step_secs);
    let day = day_of_step(step, c.step_secs);
    let key = derive_day_key(
        Protocol::V2,
        &IssuerSecret::from_bytes(c.secret),
        prefix,
        c.epoch,
        day,
    );
    let identity = IdentityCipher::new(&key)
        .encrypt(step, c.slot, c.counter)
        .expect("in range");
    let unsigned = PaymentCode::from_parts(prefix, identity, 0).expect("in range");
    let routing = unsigned.routing_digits();
    let otp = payment_otp(&Seed::from_bytes(c.seed), &routing, step, c.counter);
    let code = PaymentCode::from_parts(prefix, identity, otp).expect("in range");
    let mut message = routing.to_vec();
    message.extend_from_slice(&step.to_be_bytes());
    message.push(c.counter);
    let mut info = b"identity".to_vec();
    info.push(c.prefix);
    info.extend_from_slice(&c.epoch.to_be_bytes());
    info.extend_from_slice(&day.to_be_bytes());
    json!({
        "name": c.name,
        "prefix": c.prefix,
        "step_secs": c.step_secs,
        "unix_time": c.unix_time,
        "issuer_secret": hex(&c.secret),
        "epoch": c.epoch,
        "seed": hex(&c.seed),
        "slot": c.slot,
        "counter": c.counter,
        "step": step,
        "day": day,
        "hkdf_salt": hex(b"paycode/v2"),
        "hkdf_info": hex(&info),
        "identity_key": hex(key.expose_secret()),
        "ff1_tweak": hex(&step.to_be_bytes()),
        "identity_plaintext": format!("{:010}", u64::from(c.slot) * 10 + u64::from(c.counter)),
        "identity_field": format!("{identity:010}"),
        "table_entry": hex(&identity.to_be_bytes()[3..]),
        "otp_message": hex(&message),
        "otp": format!("{otp:06}"),
        "code": code.digits(),
        "display": code.display(),
    })
}

/// A whole version-2 credential: its header bytes and sealed plaintext (seed ‖ table).
#[allow(clippy::too_many_arguments)]
fn table_v2(
    name: &str,
    secret: [u8; 32],
    seed: [u8; 32],
    slot: u32,
    step_secs: u32,
    refreshes: u8,
    valid_from: i64,
    valid_until: i64,
) -> serde_json::Value {
    let ring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes(secret));
    let cred = LimitedUseCredential::issue(
        &ring,
        TimeParams { step_secs },
        refreshes,
        slot,
        Seed::from_bytes(seed),
        valid_from,
        valid_until,
    )
    .expect("valid credential");
    let (device_id, sequence, issuer_time_ms) = ("dev_vector", 7u64, valid_from * 1000 + 250);
    let header = header_v2(&cred, device_id, sequence, issuer_time_ms).encode();
    let entries: Vec<String> = cred
        .table_bytes()
        .chunks(5)
        .map(|e| format!("{:010}", e.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))))
        .collect();
    json!({
        "name": name,
        "prefix": 28,
        "step_secs": step_secs,
        "issuer_secret": hex(&secret),
        "epoch": 1,
        "seed": hex(&seed),
        "slot": slot,
        "refreshes": refreshes,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "first_step": cred.first_step(),
        "step_count": cred.step_count(),
        "identity_fields": entries,
        "device_id": device_id,
        "sequence": sequence,
        "issuer_time_ms": issuer_time_ms,
        "header": hex(&header),
        "plaintext": hex(&plaintext_v2(&cred)),
        "hpke_info": hex(b"paycode/v2/bundle"),
    })
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("v2") {
        main_v2();
        return;
    }
    main_v1();
}

fn main_v2() {
    const T0: u64 = 1_795_305_600; // 2026-11-22T00:00:00Z
    let a = secret(0x10);
    let b = secret(0xa0);
    let seed1 = secret(0x01);
    let seed2 = secret(0x42);
    let base = |name, counter, unix_time| Case {
        name,
        prefix: 28,
        step_secs: 60,
        secret: a,
        epoch: 1,
        seed: seed1,
        slot: 123_456_789,
        counter,
        unix_time,
    };
    let mut cases = Vec::new();
    for (counter, name) in ["counter 0", "counter 1", "counter 2", "counter 3"]
        .iter()
        .enumerate()
    {
        cases.push(base(name, counter as u8, T0 + 12 * 3_600 + 30));
    }
    cases.push(base("next step", 0, T0 + 12 * 3_600 + 60));
    cases.push(base("last step of a UTC day", 0, T0 - 1));
    cases.push(base("first step of the next UTC day", 0, T0));
    cases.push(Case {
        name: "slot 0",
        slot: 0,
        ..base("", 0, T0 + 600)
    });
    cases.push(Case {
        name: "largest slot",
        slot: 999_999_999,
        ..base("", 3, T0 + 600)
    });
    cases.push(Case {
        name: "another seed",
        seed: seed2,
        slot: 7,
        ..base("", 2, T0 + 600)
    });
    cases.push(Case {
        name: "key epoch 2",
        secret: b,
        epoch: 2,
        ..base("", 0, T0 + 600)
    });
    cases.push(Case {
        name: "prefix 10",
        prefix: 10,
        ..base("", 0, T0 + 600)
    });
    cases.push(Case {
        name: "30-second steps",
        step_secs: 30,
        ..base("", 1, T0 + 600 + 45)
    });
    cases.push(Case {
        name: "time past 2^32 seconds",
        ..base("", 2, 4_300_000_000)
    });
    // 420 s does not divide a day: at T0 + 60 s the step began before midnight, so its day key is
    // the previous day's (PROTOCOL.md §4 step 2: the day of the step's *start*, not of t).
    cases.push(Case {
        name: "7-minute steps, a step that began the day before",
        step_secs: 420,
        ..base("", 1, T0 + 60)
    });
    let vectors: Vec<_> = cases.iter().map(vector_v2).collect();
    let t0 = T0 as i64;
    let tables = vec![
        table_v2(
            "3 steps across UTC midnight, 4 refreshes",
            a,
            seed1,
            123_456_789,
            60,
            4,
            t0 - 90,
            t0 + 60,
        ),
        table_v2(
            "2 steps of 30 s, 2 refreshes, slot 0",
            a,
            seed2,
            0,
            30,
            2,
            t0 + 600,
            t0 + 660,
        ),
    ];
    let doc = json!({
        "description": "paycode protocol 2 test vectors: codes made from issuer-precomputed identity fields, and whole version-2 credentials (header and sealed plaintext). Schema and algorithm: docs/PROTOCOL.md section 12. Regenerate: cargo run -p paycode-core --example gen_vectors v2 > docs/test-vectors-v2.json",
        "protocol_version": 2,
        "vectors": vectors,
        "credentials": tables,
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("JSON serializes"));
}

fn main_v1() {
    const T0: u64 = 1_795_305_600; // 2026-11-22T00:00:00Z
    let a = secret(0x10);
    let b = secret(0xa0);
    let seed1 = secret(0x01);
    let seed2 = secret(0x42);
    let base = |name, counter, unix_time| Case {
        name,
        prefix: 28,
        step_secs: 60,
        secret: a,
        epoch: 1,
        seed: seed1,
        slot: 123_456_789,
        counter,
        unix_time,
    };
    let mut cases = Vec::new();
    let counter_names = [
        "counter 0",
        "counter 1",
        "counter 2",
        "counter 3",
        "counter 4",
        "counter 5",
        "counter 6",
        "counter 7",
        "counter 8",
        "counter 9",
    ];
    for (counter, name) in counter_names.iter().enumerate() {
        cases.push(base(name, counter as u8, T0 + 12 * 3_600 + 30));
    }
    cases.push(base("same step, last second", 0, T0 + 12 * 3_600 + 59));
    cases.push(base("next step", 0, T0 + 12 * 3_600 + 60));
    cases.push(base("last step of a UTC day", 0, T0 - 1));
    cases.push(base("first step of the next UTC day", 0, T0));
    cases.push(Case {
        name: "slot 0",
        slot: 0,
        ..base("", 0, T0 + 600)
    });
    cases.push(Case {
        name: "largest slot",
        slot: 999_999_999,
        counter: 9,
        ..base("", 9, T0 + 600)
    });
    cases.push(Case {
        name: "another seed",
        seed: seed2,
        slot: 7,
        ..base("", 3, T0 + 600)
    });
    cases.push(Case {
        name: "key epoch 2",
        secret: b,
        epoch: 2,
        ..base("", 0, T0 + 600)
    });
    cases.push(Case {
        name: "key epoch 2, next day",
        secret: b,
        epoch: 2,
        ..base("", 0, T0 + 86_400 + 600)
    });
    cases.push(Case {
        name: "prefix 10",
        prefix: 10,
        ..base("", 0, T0 + 600)
    });
    cases.push(Case {
        name: "prefix 99",
        prefix: 99,
        ..base("", 0, T0 + 600)
    });
    cases.push(Case {
        name: "30-second steps",
        step_secs: 30,
        ..base("", 1, T0 + 600 + 45)
    });
    cases.push(Case {
        name: "time past 2^32 seconds",
        ..base("", 2, 4_300_000_000)
    });
    cases.push(Case {
        name: "step 0",
        slot: 1,
        ..base("", 0, 0)
    });
    let vectors: Vec<_> = cases.iter().map(vector).collect();
    let doc = json!({
        "description": "paycode 18-digit payment code test vectors. Schema and algorithm: docs/PROTOCOL.md section 9. Regenerate: cargo run -p paycode-core --example gen_vectors > docs/test-vectors.json",
        "protocol_version": 1,
        "vectors": vectors,
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("JSON serializes"));
}
