//! `cargo bench -p paycode-core`: the protocol's costs on this machine.
//!
//! * `otp/hotp` — one RFC 4226 HOTP: the floor every code pays.
//! * `generate/code` — one payment code from an offline credential (FF1 + HMAC).
//! * `verify/default_window/{1k,1M}` — verify a current code with the default window (3 steps)
//!   against in-memory directories of 1,000 and 1,000,000 devices. Flat time from 1k to 1M shows
//!   the O(1) lookup.
//! * `v2/generate/code` — one protocol-2 code (table lookup + HMAC).
//! * `v2/issue/3d_r4` — the issuer's work per sync at the defaults: the identity table of 3 days
//!   at 4 refreshes (17,280 FF1 encryptions) and sealing the ~87 KB version-2 bundle.
//! * `v2/verify/{v2_only,v1_and_v2}` — a protocol-2 code against 1,000 protocol-2 devices, after
//!   the v1 cut-off (3 FF1) and while protocol 1 is still tried (6 FF1).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use paycode_core::verifier::{
    DeviceProtocol, DeviceRecord, DeviceStatus, InMemoryDirectory, Verifier, VerifierConfig,
};
use paycode_core::{IssuerKeyring, IssuerSecret, ManualClock, OfflineCredential, Prefix, Seed, TimeParams};

const T0: i64 = 1_795_305_600;

fn seed(slot: u32) -> Seed {
    let mut bytes = [7u8; 32];
    bytes[..4].copy_from_slice(&slot.to_be_bytes());
    Seed::from_bytes(bytes)
}

fn keyring() -> IssuerKeyring {
    IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([9; 32]))
}

fn otp(c: &mut Criterion) {
    let key = [0x31u8; 20];
    let mut counter = 0u64;
    c.bench_function("otp/hotp", |b| {
        b.iter(|| {
            counter += 1;
            paycode_core::otp::hotp(black_box(&key), counter, 6)
        })
    });
}

fn generate(c: &mut Criterion) {
    let credential = OfflineCredential::issue(
        &keyring(),
        TimeParams::default(),
        123_456,
        seed(123_456),
        T0,
        T0 + 7 * 86_400,
    )
    .unwrap();
    let mut i = 0i64;
    c.bench_function("generate/code", |b| {
        b.iter(|| {
            i = (i + 1) % 600_000;
            credential.code_at(black_box(T0 + i), (i % 10) as u8).unwrap()
        })
    });
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify/default_window");
    for (label, devices) in [("1k", 1_000u32), ("1M", 1_000_000u32)] {
        let directory = InMemoryDirectory::new();
        for i in 0..devices {
            // Spread the slots over the whole 10^9 range.
            let slot = (u64::from(i) * 997 % 1_000_000_000) as u32;
            directory.insert(DeviceRecord {
                slot,
                seed: seed(slot),
                status: DeviceStatus::Active,
                valid_from: T0,
                valid_until: T0 + 7 * 86_400,
                protocol: DeviceProtocol::V1,
            });
        }
        let clock = ManualClock::at_secs(T0 + 3_600);
        let verifier = Verifier::new(keyring(), VerifierConfig::default(), Arc::new(clock));
        // 1,000 distinct valid codes of the current step, verified round-robin.
        let codes: Vec<String> = (0..1_000u32)
            .map(|i| {
                let slot = (u64::from(i % devices) * 997 % 1_000_000_000) as u32;
                let credential = OfflineCredential::issue(
                    verifier.keyring(),
                    TimeParams::default(),
                    slot,
                    seed(slot),
                    T0,
                    T0 + 7 * 86_400,
                )
                .unwrap();
                credential.code_at(T0 + 3_600, (i % 10) as u8).unwrap().digits()
            })
            .collect();
        let mut i = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(label), &codes, |b, codes| {
            b.iter(|| {
                i = (i + 1) % codes.len();
                verifier.check(black_box(&codes[i]), &directory).unwrap()
            })
        });
    }
    group.finish();
}

fn v2(c: &mut Criterion) {
    use paycode_core::LimitedUseCredential;
    let issue = || {
        LimitedUseCredential::issue(
            &keyring(),
            TimeParams::default(),
            4,
            123_456,
            seed(123_456),
            T0,
            T0 + 3 * 86_400,
        )
        .unwrap()
    };
    let credential = issue();
    let mut i = 0i64;
    c.bench_function("v2/generate/code", |b| {
        b.iter(|| {
            i = (i + 1) % 200_000;
            credential.code_at(black_box(T0 + i), (i % 4) as u8).unwrap()
        })
    });
    let device = paycode_core::device::DeviceSecret::from_bytes([3; 32]);
    let sealing = device.public_keys().sealing;
    let mut group = c.benchmark_group("v2/issue");
    group.sample_size(10);
    group.bench_function("3d_r4", |b| {
        b.iter(|| paycode_core::bundle::seal_v2(&issue(), "dev_bench", 1, T0 * 1000, &sealing).unwrap())
    });
    group.finish();
    let mut group = c.benchmark_group("v2/verify");
    for (label, cutoff) in [("v2_only", Some(0)), ("v1_and_v2", None)] {
        let config = VerifierConfig {
            v1_cutoff: cutoff,
            ..VerifierConfig::default()
        };
        let verifier = Verifier::new(keyring(), config, Arc::new(ManualClock::at_secs(T0 + 3_600)));
        let directory = InMemoryDirectory::new();
        let codes: Vec<String> = (0..1_000u32)
            .map(|i| {
                let slot = i * 7_919;
                directory.insert(DeviceRecord {
                    slot,
                    seed: seed(slot),
                    status: DeviceStatus::Active,
                    valid_from: T0,
                    valid_until: T0 + 86_400,
                    protocol: DeviceProtocol::V2,
                });
                LimitedUseCredential::issue(
                    &keyring(),
                    TimeParams::default(),
                    4,
                    slot,
                    seed(slot),
                    T0 + 3_600,
                    T0 + 3_660,
                )
                .unwrap()
                .code_at(T0 + 3_600, (i % 4) as u8)
                .unwrap()
                .digits()
            })
            .collect();
        let mut i = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(label), &codes, |b, codes| {
            b.iter(|| {
                i = (i + 1) % codes.len();
                verifier.check(black_box(&codes[i]), &directory).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, otp, generate, verify, v2);
criterion_main!(benches);
