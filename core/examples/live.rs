//! A device and an issuer in one process: provisions an in-memory device, prints its live codes
//! and has the verifier check each. `cargo run -p paycode-core --example live [-- --steps N]`.

use std::sync::Arc;

use paycode_core::verifier::{
    DeviceProtocol, DeviceRecord, DeviceStatus, InMemoryDirectory, Verifier, VerifierConfig,
};
use paycode_core::{
    Clock, InMemoryReplayGuard, IssuerKeyring, IssuerSecret, ManualClock, OfflineCredential, Prefix, Seed,
    SystemClock, TimeParams,
};

fn main() {
    let steps: u32 = std::env::args()
        .skip_while(|a| a != "--steps")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let now = SystemClock.now_secs();
    // Demo keys: fixed bytes, never use such keys for real.
    let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x5a; 32]));
    let clock = ManualClock::at_secs(now);
    let verifier = Verifier::new(keyring, VerifierConfig::default(), Arc::new(clock.clone()));
    let directory = InMemoryDirectory::new();
    let guard = InMemoryReplayGuard::new();
    let slot = 4_242;
    let seed = || Seed::from_bytes([0x17; 32]);
    let valid_until = now + 7 * 86_400;
    let device = OfflineCredential::issue(
        verifier.keyring(),
        TimeParams::default(),
        slot,
        seed(),
        now,
        valid_until,
    )
    .expect("demo credential");
    directory.insert(DeviceRecord {
        slot,
        seed: seed(),
        status: DeviceStatus::Active,
        valid_from: now,
        valid_until,
        protocol: DeviceProtocol::V1,
    });
    println!("provisioned slot {slot}, offline until unix {valid_until}\n");
    for step in 0..steps {
        let t = clock.now_secs();
        for counter in 0..2u8 {
            let code = device.code_at(t, counter).expect("valid credential");
            let why = if counter == 0 {
                "new step"
            } else {
                "screenshot → fresh code"
            };
            let verdict = match verifier.redeem(&code.digits(), &directory, &guard) {
                Ok(v) => format!("accepted: slot {} step {} counter {}", v.slot, v.step, v.counter),
                Err(e) => format!("rejected: {e}"),
            };
            println!("{}  ({why})  issuer: {verdict}", code.display());
        }
        let replay = device.code_at(t, 0).expect("valid credential");
        match verifier.redeem(&replay.digits(), &directory, &guard) {
            Ok(_) => println!("{}  replayed: ACCEPTED (bug!)", replay.display()),
            Err(e) => println!("{}  replayed older code → issuer: {e}", replay.display()),
        }
        println!();
        if step + 1 < steps {
            clock.advance_secs(60);
        }
    }
}
