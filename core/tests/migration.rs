//! Migration from protocol 1 to protocol 2 (PROTOCOL.md §12.7): a wallet holding a version-1
//! bundle syncs in the middle of a step and receives a version-2 bundle; the codes it showed
//! before the sync still pay within their window, the new codes are protocol 2, and protocol-1
//! keys can no longer reach the device.

mod common;

use std::sync::Arc;

use common::issuer::TestIssuer;
use common::stores::{keyring, namespace};
use paycode_core::bundle;
use paycode_core::device::DeviceSecret;
use paycode_core::identity::{IdentityCipher, Protocol, day_of_step};
use paycode_core::otp::payment_otp;
use paycode_core::vault::{entry_names, installed_bundle};
use paycode_core::{
    Clock, DeviceDirectory, InlineRunner, ManualClock, PaymentCode, Prefix, SecretStore, Wallet,
    WalletConfig, WalletEvent, WalletState,
};

const T0_MS: i64 = 1_795_305_600_000 + 12 * 3_600_000 + 5_000; // 2026-11-22T12:00:05Z

fn code(state: WalletState) -> String {
    match state {
        WalletState::Code(c) => c.digits,
        other => panic!("expected a code, got {other:?}"),
    }
}

fn version_in_store(store: &Arc<dyn SecretStore>, ns: &str) -> u8 {
    let sealed = installed_bundle(store.as_ref(), ns).unwrap().unwrap();
    bundle::peek_header(&sealed).unwrap().version()
}

#[test]
fn a_v1_wallet_syncing_mid_window_keeps_its_earlier_codes_and_moves_to_v2() {
    let clock = ManualClock::new(T0_MS);
    let issuer = TestIssuer::new(clock.clone());
    *issuer.issue_protocol.lock().unwrap() = Protocol::V1;
    let store: Arc<dyn SecretStore> = Arc::new(keyring());
    let ns = namespace("migration");
    let wallet = Wallet::with_runtime(
        WalletConfig {
            namespace: ns.clone(),
            ..WalletConfig::default()
        },
        store.clone(),
        issuer.clone(),
        Arc::new(clock.clone()),
        Arc::new(paycode_core::entropy::OsEntropy),
        Arc::new(InlineRunner),
    );
    wallet.provision("good-token").unwrap();
    assert_eq!(version_in_store(&store, &ns), 1);
    let slot = issuer.devices.lock().unwrap()["dev_1"].slot;

    // Two protocol-1 codes in this step (a refresh), then the issuer switches to protocol 2.
    let before_a = code(wallet.current());
    let before_b = code(wallet.handle(WalletEvent::ManualRefresh));
    *issuer.issue_protocol.lock().unwrap() = Protocol::V2;
    clock.advance_ms(20_000); // mid-step
    wallet.sync().unwrap();
    assert_eq!(
        version_in_store(&store, &ns),
        2,
        "the sync installed a version-2 bundle"
    );
    let record = issuer.directory.device(slot).unwrap().unwrap();
    assert!(record.protocol.v2);
    assert_eq!(record.protocol.v1_until, clock.now_secs());

    // The next code is protocol 2 and pays; it decrypts under the protocol-2 key only.
    let after = code(wallet.handle(WalletEvent::ManualRefresh));
    let parsed = PaymentCode::parse(&after).unwrap();
    let step = (clock.now_secs() / 60) as u64;
    let day = day_of_step(step, 60);
    let ring = issuer.verifier.keyring();
    assert_eq!(
        IdentityCipher::new(&ring.day_key_of(Protocol::V2, day))
            .decrypt(step, parsed.identity())
            .map(|(s, _)| s),
        Some(slot)
    );
    // The code made before the sync pays one step later (inside its window), the one after it
    // too; then the older code is superseded (the watermark is shared by both versions).
    clock.advance_ms(60_000);
    assert!(
        issuer.pay(&before_a).is_ok(),
        "a protocol-1 code made before the sync"
    );
    assert!(issuer.pay(&after).is_ok(), "the first protocol-2 code");
    assert!(issuer.pay(&before_b).unwrap_err().contains("newer"));

    // A holder of protocol-1 keys (any old bundle) aims a code at this device for a step after
    // the sync: the slot no longer accepts protocol 1 — the issuer says no device matches, even
    // with the device's true seed (which such an attacker would not even have).
    let now_step = (clock.now_secs() / 60) as u64;
    let field = IdentityCipher::new(&ring.day_key_of(Protocol::V1, day_of_step(now_step, 60)))
        .encrypt(now_step, slot, 5)
        .unwrap();
    let routing = PaymentCode::from_parts(Prefix::DEFAULT, field, 0)
        .unwrap()
        .routing_digits();
    let otp = payment_otp(&record.seed, &routing, now_step, 5);
    let aimed = PaymentCode::from_parts(Prefix::DEFAULT, field, otp).unwrap();
    let refusal = issuer.pay(&aimed.digits()).unwrap_err();
    assert!(refusal.contains("no device"), "{refusal}");

    // The wallet keeps working across a restart on the chunked version-2 bundle.
    let device: [u8; 32] = store.get(&format!("{ns}.device")).unwrap().try_into().unwrap();
    let sealed = installed_bundle(store.as_ref(), &ns).unwrap().unwrap();
    assert!(
        sealed.len() > paycode_core::vault::CHUNK_BYTES,
        "large enough to be chunked"
    );
    assert!(bundle::open(&sealed, &DeviceSecret::from_bytes(device)).is_ok());
    let again = Wallet::with_runtime(
        WalletConfig {
            namespace: ns.clone(),
            ..WalletConfig::default()
        },
        store.clone(),
        issuer.clone(),
        Arc::new(clock.clone()),
        Arc::new(paycode_core::entropy::OsEntropy),
        Arc::new(InlineRunner),
    );
    assert!(
        issuer
            .pay(&code(again.handle(WalletEvent::ManualRefresh)))
            .is_ok()
    );
    assert!(again.logout().unwrap());
    for name in entry_names(&ns) {
        assert!(store.get(&name).is_err(), "{name} left after logout");
    }
}

/// The issuer's v1 cut-off (PROTOCOL.md §12.7, `PAYCODE_V1_CUTOFF`): before it, a device still on
/// protocol 1 pays with its protocol-1 codes; from it on, the same code is not even tried and is
/// declined as no device's, while a protocol-2 device's code still pays.
#[test]
fn from_the_v1_cut_off_protocol_1_codes_are_declined() {
    use paycode_core::verifier::{
        DeviceProtocol, DeviceRecord, DeviceStatus, InMemoryDirectory, Rejection, Verifier, VerifierConfig,
        VerifyError,
    };
    use paycode_core::{
        IssuerKeyring, IssuerSecret, LimitedUseCredential, OfflineCredential, Seed, TimeParams,
    };

    let now = T0_MS / 1000;
    let keyring = || IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([9; 32]));
    let directory = InMemoryDirectory::new();
    let (old_slot, new_slot) = (41, 42);
    for (slot, protocol) in [(old_slot, DeviceProtocol::V1), (new_slot, DeviceProtocol::V2)] {
        directory.insert(DeviceRecord {
            slot,
            seed: Seed::from_bytes([slot as u8; 32]),
            status: DeviceStatus::Active,
            valid_from: now - 60,
            valid_until: now + 86_400,
            protocol,
        });
    }
    let ring = keyring();
    let v1_code = OfflineCredential::issue(
        &ring,
        TimeParams::default(),
        old_slot,
        Seed::from_bytes([old_slot as u8; 32]),
        now - 60,
        now + 86_400,
    )
    .unwrap()
    .code_at(now, 0)
    .unwrap()
    .digits();
    let v2_code = LimitedUseCredential::issue(
        &ring,
        TimeParams::default(),
        4,
        new_slot,
        Seed::from_bytes([new_slot as u8; 32]),
        now - 60,
        now + 86_400,
    )
    .unwrap()
    .code_at(now, 0)
    .unwrap()
    .digits();
    let verifier = |cutoff: Option<i64>| {
        Verifier::new(
            keyring(),
            VerifierConfig {
                v1_cutoff: cutoff,
                ..VerifierConfig::default()
            },
            Arc::new(ManualClock::new(T0_MS)),
        )
    };

    for cutoff in [None, Some(now + 1)] {
        let before = verifier(cutoff);
        assert_eq!(
            before.check(&v1_code, &directory).unwrap().slot,
            old_slot,
            "{cutoff:?}"
        );
        assert_eq!(
            before.check(&v2_code, &directory).unwrap().slot,
            new_slot,
            "{cutoff:?}"
        );
    }
    for cutoff in [now, now - 86_400] {
        let after = verifier(Some(cutoff));
        assert!(
            matches!(
                after.check(&v1_code, &directory),
                Err(VerifyError::Rejected(
                    Rejection::UnknownDevice | Rejection::BadOtp
                ))
            ),
            "a protocol-1 code paid after the cut-off {cutoff}"
        );
        assert_eq!(after.check(&v2_code, &directory).unwrap().slot, new_slot);
    }
}
