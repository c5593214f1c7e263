//! Shared fixtures of the integration tests: an issuer with devices in memory.
#![allow(dead_code)]

pub mod hygiene;
pub mod issuer;
pub mod stores;

use std::sync::Arc;

use paycode_core::verifier::{
    DeviceProtocol, DeviceRecord, DeviceStatus, InMemoryDirectory, Verifier, VerifierConfig,
};
use paycode_core::{IssuerKeyring, IssuerSecret, ManualClock, OfflineCredential, Prefix, Seed, TimeParams};

/// 2026-11-22T00:00:00Z.
pub const T0: i64 = 1_795_305_600;
pub const WEEK: i64 = 7 * 86_400;

pub struct Issuer {
    pub clock: ManualClock,
    pub verifier: Verifier,
    pub directory: InMemoryDirectory,
}

pub fn seed_for(slot: u32) -> Seed {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&slot.to_be_bytes());
    bytes[4] = 0x5a;
    Seed::from_bytes(bytes)
}

impl Issuer {
    pub fn new() -> Self {
        Self::with_config(VerifierConfig::default())
    }

    pub fn with_config(config: VerifierConfig) -> Self {
        let clock = ManualClock::at_secs(T0 + 3_600);
        let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x11; 32]));
        let verifier = Verifier::new(keyring, config, Arc::new(clock.clone()));
        Self {
            clock,
            verifier,
            directory: InMemoryDirectory::new(),
        }
    }

    /// Registers `slot` valid for a week from T0 and returns the device's credential.
    pub fn provision(&self, slot: u32) -> OfflineCredential {
        self.provision_for(slot, T0, T0 + WEEK)
    }

    pub fn provision_for(&self, slot: u32, valid_from: i64, valid_until: i64) -> OfflineCredential {
        let time = self.verifier.config().time;
        let credential = OfflineCredential::issue(
            self.verifier.keyring(),
            time,
            slot,
            seed_for(slot),
            valid_from,
            valid_until,
        )
        .expect("valid credential");
        self.directory.insert(DeviceRecord {
            slot,
            seed: seed_for(slot),
            status: DeviceStatus::Active,
            valid_from,
            valid_until,
            protocol: DeviceProtocol::V1,
        });
        credential
    }

    pub fn now(&self) -> i64 {
        use paycode_core::Clock;
        self.clock.now_secs()
    }
}

pub fn time() -> TimeParams {
    TimeParams::default()
}
