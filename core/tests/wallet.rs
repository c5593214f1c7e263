//! The wallet with the real OS keystore (Linux keyutils), an in-process issuer behind the
//! Backend trait, and a test clock: every event and rule, the fallback table, crash safety,
//! logout, clocks, and tampered bundles.

mod common;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use common::issuer::{Network, TestIssuer};
use common::stores::{FaultyStore, keyring, namespace};
use paycode_core::backend::Operation;
use paycode_core::vault::{KeyringStore, entry_names};
use paycode_core::wallet::TaskRunner;
use paycode_core::{
    CodeListener, CodeSource, FallbackPolicy, ManualClock, SecretStore, StoreError, Wallet, WalletConfig,
    WalletError, WalletEvent, WalletState,
};

const T0_MS: i64 = 1_795_305_600_000 + 12 * 3_600_000 + 5_000; // 2026-11-22T12:00:05Z

/// Tasks wait until the test runs them: network calls happen exactly when the test says.
#[derive(Default)]
struct QueueRunner(Mutex<VecDeque<Box<dyn FnOnce() + Send>>>);

impl QueueRunner {
    fn run_all(&self) -> usize {
        let mut n = 0;
        loop {
            let task = self.0.lock().unwrap().pop_front();
            match task {
                Some(task) => {
                    task();
                    n += 1;
                }
                None => return n,
            }
        }
    }
    fn pending(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl TaskRunner for QueueRunner {
    fn spawn(&self, task: Box<dyn FnOnce() + Send>) {
        self.0.lock().unwrap().push_back(task);
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<WalletState>>);
impl CodeListener for Recorder {
    fn on_state(&self, state: WalletState) {
        self.0.lock().unwrap().push(state);
    }
}

struct Rig {
    clock: ManualClock,
    issuer: Arc<TestIssuer>,
    runner: Arc<QueueRunner>,
    store: Arc<dyn SecretStore>,
    ns: String,
    wallet: Wallet,
}

fn config(ns: &str, policy: FallbackPolicy) -> WalletConfig {
    WalletConfig {
        namespace: ns.to_owned(),
        policy,
        ..WalletConfig::default()
    }
}

impl Rig {
    fn new(test: &str) -> Self {
        Self::with(test, Arc::new(keyring()), FallbackPolicy::OfflineFirst)
    }

    fn with(test: &str, store: Arc<dyn SecretStore>, policy: FallbackPolicy) -> Self {
        let clock = ManualClock::new(T0_MS);
        let issuer = TestIssuer::new(clock.clone());
        let runner = Arc::new(QueueRunner::default());
        let ns = namespace(test);
        let wallet = Wallet::with_runtime(
            config(&ns, policy),
            store.clone(),
            issuer.clone(),
            Arc::new(clock.clone()),
            Arc::new(paycode_core::entropy::OsEntropy),
            runner.clone(),
        );
        Self {
            clock,
            issuer,
            runner,
            store,
            ns,
            wallet,
        }
    }

    /// A second wallet over the same store and issuer: the app restarted.
    fn restart(&self, policy: FallbackPolicy) -> Wallet {
        Wallet::with_runtime(
            config(&self.ns, policy),
            self.store.clone(),
            self.issuer.clone(),
            Arc::new(self.clock.clone()),
            Arc::new(paycode_core::entropy::OsEntropy),
            self.runner.clone(),
        )
    }

    fn provisioned(test: &str) -> Self {
        let rig = Self::new(test);
        rig.wallet.provision("good-token").unwrap();
        rig
    }

    fn code(&self) -> String {
        match self.wallet.current() {
            WalletState::Code(code) => code.digits,
            other => panic!("expected a code, got {other:?}"),
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for name in entry_names(&self.ns) {
            let _ = self.store.delete(&name);
        }
    }
}

fn code_of(state: WalletState) -> String {
    match state {
        WalletState::Code(code) => code.digits,
        other => panic!("expected a code, got {other:?}"),
    }
}

#[test]
fn provisioned_wallet_shows_codes_the_issuer_accepts() {
    let rig = Rig::provisioned("accepts");
    let code = rig.code();
    assert_eq!(
        rig.code(),
        code,
        "the same code within a step until something happens"
    );
    assert!(rig.issuer.pay(&code).is_ok());
    let state = rig.wallet.current();
    let WalletState::Code(shown) = state else { panic!() };
    assert_eq!(shown.source, CodeSource::Offline);
    assert_eq!(shown.display.len(), 21);
    assert_eq!(
        shown.refresh_at_ms,
        (T0_MS / 60_000 + 1) * 60_000,
        "refresh at the next step"
    );
    assert_eq!(shown.expires_at_ms, (T0_MS / 60_000 + 2) * 60_000);
    // After the step ends, a new code; the issuer takes it too.
    rig.clock.advance_ms(60_000);
    let next = rig.code();
    assert_ne!(next, code);
    assert!(rig.issuer.pay(&next).is_ok());
}

#[test]
fn secrets_survive_a_restart_in_the_os_keystore() {
    let rig = Rig::provisioned("restart");
    let before = rig.code();
    let again = rig.restart(FallbackPolicy::OfflineFirst);
    assert!(again.is_provisioned());
    let after = code_of(again.current());
    assert_ne!(
        after, before,
        "a restart never re-shows a code: the counter is persisted"
    );
    assert!(rig.issuer.pay(&after).is_ok());
}

#[test]
fn screenshot_and_foreground_always_give_a_never_shown_code() {
    let rig = Rig::provisioned("events");
    let mut seen = HashSet::new();
    seen.insert(rig.code());
    for event in [
        WalletEvent::Screenshot,
        WalletEvent::Foreground,
        WalletEvent::ManualRefresh,
    ] {
        let code = code_of(rig.wallet.handle(event));
        assert!(seen.insert(code), "{event:?} re-showed a code");
    }
    // Four codes per step (protocol 2's table, ADR 010): offline, the next refresh says to
    // wait for the next step.
    rig.issuer.set_network(Network::Offline);
    let _ = rig.wallet.handle(WalletEvent::NetworkAvailable(false));
    let state = rig.wallet.handle(WalletEvent::PaymentCompleted);
    assert_eq!(
        state,
        WalletState::Exhausted {
            retry_at_ms: (T0_MS / 60_000 + 1) * 60_000
        }
    );
    rig.clock.advance_ms(60_000);
    assert!(seen.insert(code_of(rig.wallet.handle(WalletEvent::Tick))));
}

#[test]
fn screenshot_voids_the_captured_code_at_the_issuer() {
    let rig = Rig::provisioned("void");
    let captured = rig.code();
    let fresh = code_of(rig.wallet.handle(WalletEvent::Screenshot));
    assert_ne!(fresh, captured);
    assert_eq!(rig.runner.run_all(), 1, "one void request, off the display path");
    assert_eq!(rig.issuer.count(Operation::Void), 1);
    assert!(rig.issuer.pay(&captured).unwrap_err().contains("voided"));
    assert!(rig.issuer.pay(&fresh).is_ok());
}

#[test]
fn a_screenshot_while_offline_is_voided_once_back_online() {
    let rig = Rig::provisioned("void-later");
    rig.issuer.set_network(Network::Offline);
    let _ = rig.wallet.handle(WalletEvent::NetworkAvailable(false));
    let captured = rig.code();
    let _ = rig.wallet.handle(WalletEvent::Screenshot);
    rig.runner.run_all();
    assert_eq!(rig.issuer.count(Operation::Void), 0, "nothing sent while offline");
    rig.issuer.set_network(Network::Up);
    let _ = rig.wallet.handle(WalletEvent::NetworkAvailable(true));
    rig.runner.run_all();
    assert_eq!(rig.issuer.count(Operation::Void), 1);
    assert!(rig.issuer.pay(&captured).unwrap_err().contains("voided"));
}

#[test]
fn background_and_capture_hide_the_code() {
    let rig = Rig::provisioned("hide");
    let first = rig.code();
    assert_eq!(rig.wallet.handle(WalletEvent::Background), WalletState::Hidden);
    assert_eq!(rig.wallet.current(), WalletState::Hidden);
    let back = code_of(rig.wallet.handle(WalletEvent::Foreground));
    assert_ne!(back, first);
    assert_eq!(
        rig.wallet.handle(WalletEvent::ScreenCaptureStarted),
        WalletState::Hidden
    );
    assert_eq!(
        rig.wallet.handle(WalletEvent::Foreground),
        WalletState::Hidden,
        "still captured"
    );
    let after = code_of(rig.wallet.handle(WalletEvent::ScreenCaptureStopped));
    assert_ne!(after, back);
    rig.runner.run_all();
    assert_eq!(
        rig.issuer.count(Operation::Void),
        1,
        "what was visible when capture began is voided"
    );
}

#[test]
fn listener_hears_background_results() {
    let rig = Rig::new("listener");
    let recorder = Arc::new(Recorder::default());
    *rig.issuer.renew_on_sync.lock().unwrap() = false;
    rig.wallet.set_listener(Some(recorder.clone()));
    rig.wallet.provision("good-token").unwrap();
    assert!(matches!(
        recorder.0.lock().unwrap().last(),
        Some(WalletState::Code(_))
    ));
    // Expire the credential: an online code is fetched in the background and pushed.
    rig.clock.advance_ms(8 * 86_400_000);
    rig.issuer.set_network(Network::Offline);
    assert_eq!(
        rig.wallet.current(),
        WalletState::Loading {
            until_ms: rig.clock_now() + 1_000
        }
    );
    rig.runner.run_all();
    assert_eq!(
        recorder.0.lock().unwrap().last(),
        Some(&WalletState::NeedsNetwork)
    );
    rig.issuer.set_network(Network::Up);
    let _ = rig.wallet.handle(WalletEvent::NetworkAvailable(true));
    rig.runner.run_all();
    let last = recorder.0.lock().unwrap().last().cloned().unwrap();
    let WalletState::Code(code) = last else {
        panic!("{last:?}")
    };
    assert_eq!(code.source, CodeSource::Online);
}

trait Now {
    fn clock_now(&self) -> i64;
}
impl Now for Rig {
    fn clock_now(&self) -> i64 {
        use paycode_core::Clock;
        self.clock.now_ms()
    }
}

/// Credential state × network × policy → what is shown.
#[test]
fn fallback_decision_table() {
    #[derive(Debug, Clone, Copy)]
    enum Cred {
        Valid,
        Expired,
        Locked,
        Missing,
        ClockUntrusted,
        Revoked,
    }
    use FallbackPolicy::*;
    // Expected: "offline", "online", or a state name.
    let table: &[(Cred, bool, FallbackPolicy, &str)] = &[
        (Cred::Valid, true, OfflineFirst, "offline"),
        (Cred::Valid, false, OfflineFirst, "offline"),
        (Cred::Valid, true, OnlineFirst, "online"),
        (Cred::Valid, false, OnlineFirst, "offline"),
        (Cred::Valid, true, OfflineOnly, "offline"),
        (Cred::Valid, false, OfflineOnly, "offline"),
        (Cred::Expired, true, OfflineFirst, "online"),
        (Cred::Expired, false, OfflineFirst, "NeedsNetwork"),
        (Cred::Expired, true, OnlineFirst, "online"),
        (Cred::Expired, false, OnlineFirst, "NeedsNetwork"),
        (Cred::Expired, true, OfflineOnly, "NeedsNetwork"),
        (Cred::Expired, false, OfflineOnly, "NeedsNetwork"),
        (Cred::ClockUntrusted, true, OfflineFirst, "online"),
        (Cred::ClockUntrusted, false, OfflineFirst, "NeedsNetwork"),
        (Cred::ClockUntrusted, true, OfflineOnly, "NeedsNetwork"),
        (Cred::Locked, true, OfflineFirst, "Locked"),
        (Cred::Locked, false, OfflineFirst, "Locked"),
        (Cred::Missing, true, OfflineFirst, "NeedsLogin"),
        (Cred::Missing, false, OnlineFirst, "NeedsLogin"),
        (Cred::Revoked, true, OfflineFirst, "NeedsLogin"),
        (Cred::Revoked, false, OfflineOnly, "NeedsLogin"),
    ];
    for &(cred, network, policy, want) in table {
        let store = Arc::new(FaultyStore::new(keyring()));
        let rig = Rig::with("table", store.clone(), FallbackPolicy::OfflineFirst);
        *rig.issuer.renew_on_sync.lock().unwrap() = false;
        if !matches!(cred, Cred::Missing) {
            rig.wallet.provision("good-token").unwrap();
            let _ = rig.code();
        }
        match cred {
            Cred::Expired => rig.clock.advance_ms(8 * 86_400_000),
            Cred::Locked => *store.locked.lock().unwrap() = true,
            Cred::ClockUntrusted => {
                rig.clock.advance_ms(120_000);
                let _ = rig.code();
                rig.clock.set_ms(T0_MS - 3_600_000);
                rig.clock.reboot();
            }
            Cred::Revoked => {
                rig.wallet.logout().unwrap();
            }
            _ => {}
        }
        // The app (re)starts in this situation.
        rig.issuer
            .set_network(if network { Network::Up } else { Network::Offline });
        let wallet = rig.restart(policy);
        let _ = wallet.handle(WalletEvent::NetworkAvailable(network));
        let mut state = wallet.current();
        if matches!(state, WalletState::Loading { .. }) {
            rig.runner.run_all();
            state = wallet.current();
        }
        let got = match &state {
            WalletState::Code(c) if c.source == CodeSource::Offline => "offline",
            WalletState::Code(_) => "online",
            WalletState::NeedsNetwork => "NeedsNetwork",
            WalletState::NeedsLogin => "NeedsLogin",
            WalletState::Locked => "Locked",
            other => panic!("{cred:?}/{network}/{policy:?}: unexpected {other:?}"),
        };
        assert_eq!(
            got, want,
            "credential {cred:?}, network {network}, policy {policy:?}"
        );
        if let WalletState::Code(code) = state {
            assert!(
                rig.issuer.pay(&code.digits).is_ok(),
                "{cred:?}/{network}/{policy:?}: shown code must pay"
            );
        }
        rig.runner.run_all();
    }
}

#[test]
fn online_first_falls_back_to_offline_when_the_network_is_slow() {
    let rig = Rig::with("slow", Arc::new(keyring()), FallbackPolicy::OnlineFirst);
    rig.wallet.provision("good-token").unwrap();
    // The online request is in flight (queued, not answered): within the budget, Loading.
    let state = rig.wallet.current();
    assert!(matches!(state, WalletState::Loading { .. }), "{state:?}");
    rig.clock.advance_ms(1_001);
    let WalletState::Code(code) = rig.wallet.current() else {
        panic!("offline code after the budget")
    };
    assert_eq!(code.source, CodeSource::Offline);
    // When the slow answer lands it is shown from the next refresh on.
    rig.runner.run_all();
    let WalletState::Code(code) = rig.wallet.current() else {
        panic!()
    };
    assert_eq!(code.source, CodeSource::Online);
    assert!(rig.issuer.pay(&code.digits).is_ok());
}

#[test]
fn online_codes_are_replaced_before_they_expire() {
    let rig = Rig::provisioned("online-ttl");
    *rig.issuer.renew_on_sync.lock().unwrap() = false;
    rig.clock.advance_ms(8 * 86_400_000);
    let _ = rig.wallet.current();
    rig.runner.run_all();
    let WalletState::Code(first) = rig.wallet.current() else {
        panic!()
    };
    assert_eq!(first.source, CodeSource::Online);
    assert_eq!(first.refresh_at_ms, first.expires_at_ms - 10_000);
    rig.clock.advance_ms(first.refresh_at_ms - rig.clock_now());
    let WalletState::Code(still) = rig.wallet.current() else {
        panic!()
    };
    assert_eq!(still.digits, first.digits, "kept while the next one is fetched");
    assert_eq!(rig.runner.run_all(), 1);
    let WalletState::Code(next) = rig.wallet.current() else {
        panic!()
    };
    assert_ne!(next.digits, first.digits);
}

#[test]
fn background_top_up_when_credentials_run_low() {
    let rig = Rig::provisioned("top-up");
    rig.clock.advance_ms(5 * 86_400_000);
    let code = rig.code(); // never blocked by the sync
    assert_eq!(rig.runner.pending(), 1);
    rig.runner.run_all();
    assert_eq!(rig.issuer.count(Operation::Sync), 1);
    assert!(rig.issuer.pay(&code).is_ok());
    // The new bundle covers another week.
    rig.clock.advance_ms(5 * 86_400_000);
    let WalletState::Code(later) = rig.wallet.current() else {
        panic!()
    };
    assert_eq!(later.source, CodeSource::Offline);
    assert!(rig.issuer.pay(&later.digits).is_ok());
}

#[test]
fn installing_is_crash_safe_at_every_write() {
    // Rotation (a sync that installs a new bundle): fail the keystore at its first write, then
    // its second, … until a sync gets through without reaching the failure.
    let mut fail_at = 0;
    loop {
        let store = Arc::new(FaultyStore::new(keyring()));
        let rig = Rig::with("crash", store.clone(), FallbackPolicy::OfflineFirst);
        rig.wallet.provision("good-token").unwrap();
        let _ = rig.code();
        rig.clock.advance_ms(5 * 86_400_000);
        store.fail_from(Some(fail_at));
        let _ = rig.wallet.sync();
        let injected = store.mutations.load(std::sync::atomic::Ordering::SeqCst) > fail_at;
        store.fail_from(None);
        // A fresh process over whatever the store now holds.
        let after = rig.restart(FallbackPolicy::OfflineOnly);
        let code = code_of(after.current());
        assert!(
            rig.issuer.pay(&code).is_ok(),
            "failure at write {fail_at}: credential unusable"
        );
        // Nothing left behind: exactly the bundle in force, the device key and the state.
        let active = store.inner.get(&format!("{}.active", rig.ns)).unwrap();
        let inactive = if active == b"a" { "cred.b" } else { "cred.a" };
        assert!(
            matches!(
                store.inner.get(&format!("{}.{inactive}", rig.ns)),
                Err(StoreError::NotFound)
            ),
            "failure at write {fail_at}: the bundle not in force was left in the keystore"
        );
        // The next contact completes the rotation.
        after.sync().unwrap();
        let next = code_of(after.handle(WalletEvent::ManualRefresh));
        assert!(
            rig.issuer.pay(&next).is_ok(),
            "failure at write {fail_at}: after the next sync"
        );
        if !injected {
            break;
        }
        fail_at += 1;
    }
    assert!(
        fail_at >= 3,
        "a rotation writes the new slot, the pointer and deletes the old one"
    );
    // Provisioning itself: a failure at any write leaves a logged-out wallet and an empty store.
    for fail_at in 0..6 {
        let store = Arc::new(FaultyStore::new(keyring()));
        let rig = Rig::with("crash-provision", store.clone(), FallbackPolicy::OfflineFirst);
        store.fail_from(Some(fail_at));
        let result = rig.wallet.provision("good-token");
        store.fail_from(None);
        let after = rig.restart(FallbackPolicy::OfflineOnly);
        match result {
            Ok(()) => assert!(matches!(after.current(), WalletState::Code(_))),
            Err(_) => {
                assert_eq!(
                    after.current(),
                    WalletState::NeedsLogin,
                    "failure at write {fail_at}"
                );
                for name in entry_names(&rig.ns) {
                    if name.ends_with(".state") {
                        continue;
                    }
                    assert_eq!(
                        store.inner.get(&name),
                        Err(StoreError::NotFound),
                        "{name} left after failure {fail_at}"
                    );
                }
            }
        }
    }
}

#[test]
fn logout_leaves_nothing_in_the_os_keystore() {
    let rig = Rig::provisioned("logout");
    let code = rig.code();
    let _ = rig.wallet.handle(WalletEvent::Screenshot);
    assert_eq!(rig.wallet.logout(), Ok(true));
    assert_eq!(rig.wallet.current(), WalletState::NeedsLogin);
    let fresh = KeyringStore::new("paycode-tests").unwrap();
    for name in entry_names(&rig.ns) {
        assert_eq!(
            fresh.get(&name),
            Err(StoreError::NotFound),
            "{name} survived logout"
        );
    }
    assert!(rig.issuer.pay(&code).is_err(), "the issuer revoked the device");
    assert_eq!(
        rig.restart(FallbackPolicy::OfflineFirst).current(),
        WalletState::NeedsLogin
    );
}

#[test]
fn a_new_login_destroys_the_previous_seed_first() {
    let rig = Rig::provisioned("relogin");
    let old = rig.code();
    rig.wallet.provision("good-token").unwrap();
    let new = rig.code();
    assert!(rig.issuer.pay(&new).is_ok());
    assert_ne!(old, new);
    // A failed login leaves nothing of the old user either.
    assert!(matches!(
        rig.wallet.provision("bad-token"),
        Err(WalletError::Rejected { status: 401, .. })
    ));
    assert_eq!(rig.wallet.current(), WalletState::NeedsLogin);
}

#[test]
fn codes_use_issuer_time_when_the_phone_clock_is_wrong() {
    // The phone is 10 minutes slow from the start; the issuer's clock is right.
    let rig = Rig::new("offset");
    let phone = ManualClock::new(T0_MS - 600_000);
    let wallet = Wallet::with_runtime(
        config(&rig.ns, FallbackPolicy::OfflineOnly),
        rig.store.clone(),
        rig.issuer.clone(),
        Arc::new(phone.clone()),
        Arc::new(paycode_core::entropy::OsEntropy),
        rig.runner.clone(),
    );
    wallet.provision("good-token").unwrap();
    let WalletState::Code(code) = wallet.current() else {
        panic!()
    };
    assert!(rig.issuer.pay(&code.digits).is_ok(), "made on issuer time");
    // refresh_at is on the phone's clock, for its timers.
    assert_eq!(code.refresh_at_ms, (T0_MS / 60_000 + 1) * 60_000 - 600_000);
    // The user sets the clock forward a day while offline: detected, and codes stay on issuer time.
    phone.advance_ms(30_000);
    rig.clock.advance_ms(30_000);
    phone.set_ms(phone_now(&phone) + 86_400_000);
    let WalletState::Code(after) = wallet.handle(WalletEvent::ManualRefresh) else {
        panic!()
    };
    assert!(
        rig.issuer.pay(&after.digits).is_ok(),
        "still on issuer time after the jump"
    );
    assert!(
        (wallet.clock_jump_ms() - 86_400_000).abs() < 1_000,
        "jump surfaced: {}",
        wallet.clock_jump_ms()
    );
}

fn phone_now(clock: &ManualClock) -> i64 {
    use paycode_core::Clock;
    clock.now_ms()
}

#[test]
fn tampered_or_foreign_bundles_are_refused_and_nothing_is_stored() {
    type Tamper = Box<dyn Fn(Vec<u8>) -> Vec<u8> + Send>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "flip a header byte",
            Box::new(|mut b: Vec<u8>| {
                b[10] ^= 1;
                b
            }),
        ),
        (
            "flip a sealed byte",
            Box::new(|mut b: Vec<u8>| {
                let n = b.len();
                b[n - 20] ^= 1;
                b
            }),
        ),
        ("truncate", Box::new(|b: Vec<u8>| b[..b.len() - 1].to_vec())),
        (
            "wrong version",
            Box::new(|mut b: Vec<u8>| {
                b[3] = 9;
                b
            }),
        ),
        ("empty", Box::new(|_| Vec::new())),
        ("garbage", Box::new(|b: Vec<u8>| vec![0x42; b.len()])),
    ];
    for (name, tamper) in cases {
        let rig = Rig::new("tamper");
        *rig.issuer.tamper_bundles.lock().unwrap() = Some(tamper);
        let result = rig.wallet.provision("good-token");
        assert!(
            matches!(result, Err(WalletError::Bundle(_))),
            "{name}: {result:?}"
        );
        assert_eq!(rig.wallet.current(), WalletState::NeedsLogin, "{name}");
        for entry in entry_names(&rig.ns) {
            assert_eq!(
                rig.store.get(&entry),
                Err(StoreError::NotFound),
                "{name}: {entry} was stored"
            );
        }
    }
}

#[test]
fn pause_and_resume() {
    let rig = Rig::provisioned("pause");
    rig.wallet.pause().unwrap();
    assert_eq!(rig.wallet.current(), WalletState::Paused);
    rig.wallet.resume().unwrap();
    let code = rig.code();
    assert!(rig.issuer.pay(&code).is_ok());
}

#[test]
fn many_threads_share_one_wallet() {
    let rig = Rig::provisioned("threads");
    let wallet = rig.wallet.clone();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let wallet = wallet.clone();
            std::thread::spawn(move || {
                let mut codes = Vec::new();
                for _ in 0..50 {
                    let event = if i % 2 == 0 {
                        WalletEvent::Tick
                    } else {
                        WalletEvent::NetworkAvailable(true)
                    };
                    if let WalletState::Code(code) = wallet.handle(event) {
                        codes.push(code.digits);
                    }
                    let _ = wallet.current();
                }
                codes
            })
        })
        .collect();
    let all: HashSet<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(all.len(), 1, "no event here changes the code");
    assert!(rig.issuer.pay(all.iter().next().unwrap()).is_ok());
}

#[test]
fn logout_with_a_failing_keystore_still_revokes_and_finishes_the_wipe_later() {
    // Logout deletes five entries; the keystore fails from the k-th delete on.
    for fail_at in 0..5 {
        let store = Arc::new(FaultyStore::new(keyring()));
        let rig = Rig::with("logout-fault", store.clone(), FallbackPolicy::OfflineFirst);
        rig.wallet.provision("good-token").unwrap();
        let code = rig.code();
        store.fail_from(Some(fail_at));
        let result = rig.wallet.logout();
        assert!(
            matches!(result, Err(WalletError::Store(_))),
            "failure at delete {fail_at}: {result:?}"
        );
        assert_eq!(rig.wallet.current(), WalletState::NeedsLogin);
        assert!(
            rig.issuer.pay(&code).is_err(),
            "failure at delete {fail_at}: the issuer must revoke the device although the wipe failed"
        );
        // The keystore recovers: the next event finishes the wipe.
        store.fail_from(None);
        let _ = rig.wallet.handle(WalletEvent::Tick);
        for name in entry_names(&rig.ns) {
            assert_eq!(
                store.inner.get(&name),
                Err(StoreError::NotFound),
                "{name} left after failure at delete {fail_at}"
            );
        }
    }
}

#[test]
fn leftovers_of_a_failed_logout_are_wiped_at_the_next_contact_after_a_restart() {
    for fail_at in 0..5 {
        let store = Arc::new(FaultyStore::new(keyring()));
        let rig = Rig::with("logout-restart", store.clone(), FallbackPolicy::OfflineFirst);
        rig.wallet.provision("good-token").unwrap();
        store.fail_from(Some(fail_at));
        let _ = rig.wallet.logout();
        store.fail_from(None);
        // The process dies before any retry; the app starts again and syncs.
        let after = rig.restart(FallbackPolicy::OfflineFirst);
        let _ = after.sync();
        assert_eq!(
            after.current(),
            WalletState::NeedsLogin,
            "failure at delete {fail_at}"
        );
        for name in entry_names(&rig.ns) {
            assert_eq!(
                store.inner.get(&name),
                Err(StoreError::NotFound),
                "{name} left after failure at delete {fail_at} and a restart"
            );
        }
    }
}

#[test]
fn a_device_the_issuer_no_longer_knows_forgets_its_secrets() {
    // Revoked from elsewhere (the user's web account), or wiped at the issuer (unknown).
    for how in ["revoked", "unknown"] {
        let rig = Rig::provisioned(&format!("forget-{how}"));
        let slot = rig.issuer.pay(&rig.code()).unwrap();
        {
            let mut devices = rig.issuer.devices.lock().unwrap();
            if how == "revoked" {
                rig.issuer
                    .directory
                    .set_status(slot, paycode_core::verifier::DeviceStatus::Revoked);
            } else {
                devices.clear();
            }
        }
        let _ = rig.wallet.sync();
        assert_eq!(rig.wallet.current(), WalletState::NeedsLogin, "{how}");
        for name in entry_names(&rig.ns) {
            assert_eq!(
                rig.store.get(&name),
                Err(StoreError::NotFound),
                "{how}: {name} kept"
            );
        }
        // A new login works as usual.
        rig.wallet.provision("good-token").unwrap();
        assert!(rig.issuer.pay(&rig.code()).is_ok());
    }
}

/// Passes requests on and rewrites every time in the answers (`issuer_time_ms`,
/// `expires_at_ms`, also inside error bodies) to a chosen value: an issuer, or whatever sits
/// between it and the wallet, sending nonsense times.
struct Times(Arc<TestIssuer>, Mutex<Option<i64>>);

fn rewrite_times(value: &mut serde_json::Value, ms: i64) {
    match value {
        serde_json::Value::Object(map) => {
            for (name, field) in map.iter_mut() {
                if name == "issuer_time_ms" || name == "expires_at_ms" {
                    *field = ms.into();
                } else {
                    rewrite_times(field, ms);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| rewrite_times(v, ms)),
        _ => {}
    }
}

impl paycode_core::backend::Backend for Times {
    fn send(
        &self,
        request: paycode_core::backend::BackendRequest,
    ) -> Result<paycode_core::backend::BackendResponse, paycode_core::backend::BackendError> {
        let mut response = self.0.send(request)?;
        if let Some(ms) = *self.1.lock().unwrap() {
            let mut json: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            rewrite_times(&mut json, ms);
            response.body = serde_json::to_vec(&json).unwrap();
        }
        Ok(response)
    }
}

#[test]
fn answers_with_impossible_times_are_refused_and_change_nothing() {
    // Found by the ffi_entry fuzzer: an issuer time near i64::MIN overflowed the clock offset.
    // Times on the wire are Unix ms from 1970 to the end of year 9999 (PROTOCOL.md, API.md).
    let impossible = [
        i64::MIN,
        i64::MIN + 1,
        -1,
        paycode_core::wire::MAX_UNIX_MS + 1,
        i64::MAX,
    ];
    for ms in impossible {
        let rig = Rig::new("times");
        let times = Arc::new(Times(rig.issuer.clone(), Mutex::new(Some(ms))));
        let start = |policy| {
            Wallet::with_runtime(
                config(&rig.ns, policy),
                rig.store.clone(),
                times.clone(),
                Arc::new(rig.clock.clone()),
                Arc::new(paycode_core::entropy::OsEntropy),
                rig.runner.clone(),
            )
        };
        // Provisioning: refused as a bad answer, nothing stored.
        let wallet = start(FallbackPolicy::OfflineFirst);
        let result = wallet.provision("good-token");
        assert!(
            matches!(result, Err(WalletError::BadResponse(_))),
            "{ms}: {result:?}"
        );
        assert_eq!(wallet.current(), WalletState::NeedsLogin, "{ms}");
        for entry in entry_names(&rig.ns) {
            assert_eq!(
                rig.store.get(&entry),
                Err(StoreError::NotFound),
                "{ms}: {entry} stored"
            );
        }
        // A provisioned wallet: sync, void, pause and online codes answered with the time.
        *times.1.lock().unwrap() = None;
        wallet.provision("good-token").unwrap();
        let before = code_of(wallet.current());
        assert!(rig.issuer.pay(&before).is_ok());
        *times.1.lock().unwrap() = Some(ms);
        assert!(
            matches!(wallet.sync(), Err(WalletError::BadResponse(_))),
            "{ms}: sync"
        );
        // (the issuer pauses and resumes the device; only the answers are bad)
        assert!(
            matches!(wallet.pause(), Err(WalletError::BadResponse(_))),
            "{ms}: pause"
        );
        assert!(
            matches!(wallet.resume(), Err(WalletError::BadResponse(_))),
            "{ms}: resume"
        );
        let _ = wallet.handle(WalletEvent::Screenshot);
        rig.runner.run_all();
        let online = start(FallbackPolicy::OnlineFirst);
        let _ = online.handle(WalletEvent::Foreground);
        rig.runner.run_all();
        match online.current() {
            WalletState::Code(code) => assert_eq!(
                code.source,
                CodeSource::Offline,
                "{ms}: an online code with an impossible expiry was shown"
            ),
            other => panic!("{ms}: {other:?}"),
        }
        // The clock was not moved: codes made now are still the issuer's codes.
        rig.clock.advance_ms(60_000);
        let after = code_of(wallet.handle(WalletEvent::ManualRefresh));
        assert!(rig.issuer.pay(&after).is_ok(), "{ms}: code after the answers");
        assert_eq!(wallet.clock_jump_ms(), 0, "{ms}");
    }
}

/// Records the timestamp header of every request, then passes it on.
struct Stamps(Arc<TestIssuer>, Mutex<Vec<i64>>);

impl paycode_core::backend::Backend for Stamps {
    fn send(
        &self,
        request: paycode_core::backend::BackendRequest,
    ) -> Result<paycode_core::backend::BackendResponse, paycode_core::backend::BackendError> {
        let stamp = request
            .headers
            .iter()
            .find(|(name, _)| name == paycode_core::wire::HEADER_TIMESTAMP)
            .map(|(_, value)| value.parse().unwrap())
            .unwrap();
        self.1.lock().unwrap().push(stamp);
        self.0.send(request)
    }
}

#[test]
fn signed_requests_in_one_millisecond_get_distinct_increasing_timestamps() {
    // The clock stands still: every request below happens "at the same millisecond". The
    // issuer refuses a repeated (device, timestamp) as a replay, so each must differ.
    let rig = Rig::new("stamps");
    let stamps = Arc::new(Stamps(rig.issuer.clone(), Mutex::new(Vec::new())));
    let wallet = Wallet::with_runtime(
        config(&rig.ns, FallbackPolicy::OfflineFirst),
        rig.store.clone(),
        stamps.clone(),
        Arc::new(rig.clock.clone()),
        Arc::new(paycode_core::entropy::OsEntropy),
        rig.runner.clone(),
    );
    wallet.provision("good-token").unwrap();
    let _ = code_of(wallet.current());
    let _ = wallet.handle(WalletEvent::Screenshot);
    rig.runner.run_all();
    wallet.sync().unwrap();
    wallet.sync().unwrap();
    wallet.pause().unwrap();
    wallet.resume().unwrap();
    let seen = stamps.1.lock().unwrap().clone();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "timestamps must strictly increase: {seen:?}"
    );
    assert!(
        seen.iter().all(|t| (t - T0_MS).abs() < 100),
        "and stay on issuer time: {seen:?}"
    );
}

/// What the user does to the phone's clock while it is offline.
#[derive(Debug, Clone, Copy)]
enum ClockMove {
    Nothing,
    /// Sets the wall clock by this much (the monotonic clock keeps counting).
    Set(i64),
    /// Reboots the phone (monotonic clock restarts, app restarts).
    Reboot,
    /// Sets the wall clock, then reboots.
    SetThenReboot(i64),
}

/// What the phone shows afterwards, while still offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shows {
    /// A code the issuer accepts.
    Accepted,
    /// A code the issuer declines (the wallet cannot know its clock is wrong).
    Declined,
    /// No offline code (`NeedsNetwork`).
    NeedsNetwork,
}

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// docs/WALLET.md "Clocks", row by row: the phone's clock off at login, changed while offline,
/// time zones and daylight saving (which change no Unix time; a phone without automatic time
/// whose owner moves the clock by hand is a `Set`). Every row then reconnects: one contact with
/// the issuer makes codes good again.
#[test]
fn clock_matrix_matches_wallet_md() {
    use ClockMove::*;
    use Shows::*;
    let rows: &[(&str, i64, ClockMove, Shows)] = &[
        ("correct clock", 0, Nothing, Accepted),
        ("5 minutes slow at login", -5 * MIN, Nothing, Accepted),
        ("5 minutes fast at login", 5 * MIN, Nothing, Accepted),
        ("3 days slow at login", -3 * DAY, Nothing, Accepted),
        ("3 days fast at login", 3 * DAY, Nothing, Accepted),
        (
            "right local time in the wrong zone (UTC +9 h)",
            9 * HOUR,
            Nothing,
            Accepted,
        ),
        (
            "time zone or DST change (no Unix time change)",
            0,
            Set(0),
            Accepted,
        ),
        ("set forward 10 minutes offline", 0, Set(10 * MIN), Accepted),
        ("set back 10 minutes offline", 0, Set(-10 * MIN), Accepted),
        ("DST by hand: forward 1 hour offline", 0, Set(HOUR), Accepted),
        ("DST by hand: back 1 hour offline", 0, Set(-HOUR), Accepted),
        ("set forward 2 days offline", 0, Set(2 * DAY), Accepted),
        ("set back 2 days offline", 0, Set(-2 * DAY), Accepted),
        (
            "slow phone set forward a day offline",
            -5 * MIN,
            Set(DAY),
            Accepted,
        ),
        ("reboot offline", 0, Reboot, Accepted),
        ("reboot offline, clock 3 days fast", 3 * DAY, Reboot, Accepted),
        (
            "set back 10 minutes, then reboot",
            0,
            SetThenReboot(-10 * MIN),
            NeedsNetwork,
        ),
        (
            "DST by hand back 1 hour, then reboot",
            0,
            SetThenReboot(-HOUR),
            NeedsNetwork,
        ),
        (
            "set forward 10 minutes, then reboot",
            0,
            SetThenReboot(10 * MIN),
            Declined,
        ),
        (
            "set forward 2 days, then reboot",
            0,
            SetThenReboot(2 * DAY),
            Declined,
        ),
    ];
    for &(name, skew_ms, clock_move, expected) in rows {
        let rig = Rig::new("clocks");
        let phone = ManualClock::new(T0_MS + skew_ms);
        let start = |clock: &ManualClock| {
            Wallet::with_runtime(
                config(&rig.ns, FallbackPolicy::OfflineFirst),
                rig.store.clone(),
                rig.issuer.clone(),
                Arc::new(clock.clone()),
                Arc::new(paycode_core::entropy::OsEntropy),
                rig.runner.clone(),
            )
        };
        let time_passes = |ms: i64| {
            phone.advance_ms(ms);
            rig.clock.advance_ms(ms);
        };
        let mut wallet = start(&phone);
        wallet.provision("good-token").unwrap();
        let first = code_of(wallet.current());
        assert!(rig.issuer.pay(&first).is_ok(), "{name}: first code");
        // Offline from here on.
        rig.issuer.set_network(Network::Offline);
        let _ = wallet.handle(WalletEvent::NetworkAvailable(false));
        time_passes(90_000);
        match clock_move {
            Nothing => {}
            Set(delta) => phone.set_ms(phone_now(&phone) + delta),
            Reboot => {
                phone.reboot();
                wallet = start(&phone);
                let _ = wallet.handle(WalletEvent::NetworkAvailable(false));
            }
            SetThenReboot(delta) => {
                phone.set_ms(phone_now(&phone) + delta);
                phone.reboot();
                wallet = start(&phone);
                let _ = wallet.handle(WalletEvent::NetworkAvailable(false));
            }
        }
        time_passes(30_000);
        let shown = wallet.handle(WalletEvent::ManualRefresh);
        let got = match &shown {
            WalletState::Code(code) if rig.issuer.pay(&code.digits).is_ok() => Accepted,
            WalletState::Code(_) => Declined,
            WalletState::NeedsNetwork => NeedsNetwork,
            other => panic!("{name}: unexpected {other:?}"),
        };
        assert_eq!(got, expected, "{name}: {shown:?}");
        if let Set(delta) = clock_move
            && delta.abs() > 30_000
        {
            assert!(
                (wallet.clock_jump_ms() - delta).abs() < 1_000,
                "{name}: jump surfaced as {}",
                wallet.clock_jump_ms()
            );
        }
        // Back online: one contact and codes are good again (offline, or online while the
        // steps already shown on a fast clock are still ahead).
        rig.issuer.set_network(Network::Up);
        let _ = wallet.handle(WalletEvent::NetworkAvailable(true));
        if let Err(e) = wallet.sync() {
            panic!("{name}: sync after reconnecting: {e}");
        }
        assert_eq!(wallet.clock_jump_ms(), 0, "{name}");
        let mut state = wallet.handle(WalletEvent::ManualRefresh);
        if matches!(state, WalletState::Loading { .. }) {
            rig.runner.run_all();
            state = wallet.current();
        }
        let WalletState::Code(again) = state else {
            panic!("{name}: after reconnecting: {state:?}")
        };
        assert!(
            rig.issuer.pay(&again.digits).is_ok(),
            "{name}: after reconnecting"
        );
    }
}

/// Daylight saving ends in the EU (2026-10-25 01:00Z) and in the US (2026-11-01 06:00Z): local
/// clocks repeat an hour, Unix time does not. Minute by minute across both, every code is new
/// and accepted, and refresh times move forward by one step.
#[test]
fn codes_cross_daylight_saving_changes_untouched() {
    for (zone, change_ms) in [("EU", 1_792_890_000_000_i64), ("US", 1_793_512_800_000)] {
        let clock = ManualClock::new(change_ms - 30 * MIN + 5_000);
        let issuer = TestIssuer::new(clock.clone());
        let ns = namespace("dst");
        let wallet = Wallet::with_runtime(
            config(&ns, FallbackPolicy::OfflineOnly),
            Arc::new(keyring()),
            issuer.clone(),
            Arc::new(clock.clone()),
            Arc::new(paycode_core::entropy::OsEntropy),
            Arc::new(QueueRunner::default()),
        );
        wallet.provision("good-token").unwrap();
        let mut seen = HashSet::new();
        let mut last_refresh = i64::MIN;
        for minute in 0..90 {
            let WalletState::Code(code) = wallet.handle(WalletEvent::Tick) else {
                panic!("{zone}: minute {minute}")
            };
            assert!(
                seen.insert(code.digits.clone()),
                "{zone}: repeated at minute {minute}"
            );
            assert!(issuer.pay(&code.digits).is_ok(), "{zone}: minute {minute}");
            assert_eq!(
                code.refresh_at_ms - last_refresh.max(code.refresh_at_ms - 60_000),
                60_000
            );
            last_refresh = code.refresh_at_ms;
            clock.advance_ms(60_000);
        }
        assert!(wallet.logout().is_ok());
    }
}

/// Everything the wallet prints — Debug of the wallet, its states, credentials and keys, every
/// error's Display and Debug — searched for the seed, the day keys, the device key and the
/// issuer secret in hex, base64 and Debug-array form.
#[test]
fn no_secret_in_debug_output_or_error_strings() {
    use common::hygiene::assert_absent;
    use paycode_core::device::DeviceSecret;
    let rig = Rig::provisioned("hygiene");
    let device: [u8; 32] = rig
        .store
        .get(&format!("{}.device", rig.ns))
        .unwrap()
        .try_into()
        .unwrap();
    let sealed = paycode_core::vault::installed_bundle(rig.store.as_ref(), &rig.ns)
        .unwrap()
        .unwrap();
    let opened = paycode_core::bundle::open(&sealed, &DeviceSecret::from_bytes(device)).unwrap();
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("device key".into(), device.to_vec()),
        ("seed".into(), opened.credential.seed().expose_secret().to_vec()),
        ("issuer secret".into(), vec![0x33; 32]),
    ];
    if let Some(v1) = opened.credential.as_v1() {
        for (day, key) in v1.day_keys() {
            secrets.push((format!("day key {day}"), key.expose_secret().to_vec()));
        }
    }
    if let Some(v2) = opened.credential.as_v2() {
        secrets.push(("identity table".into(), v2.table_bytes()[..40].to_vec()));
    }

    let mut out = Vec::new();
    out.push(format!("{:?} {:?}", rig.wallet, rig.wallet.current()));
    out.push(format!("{:?} {:?}", opened.credential, opened.header));
    out.push(format!("{:?}", DeviceSecret::from_bytes(device)));
    out.push(format!("{:?}", opened.credential.seed()));
    for event in [
        WalletEvent::Screenshot,
        WalletEvent::ScreenCaptureStarted,
        WalletEvent::ScreenCaptureStopped,
        WalletEvent::Background,
        WalletEvent::Foreground,
        WalletEvent::Tick,
    ] {
        out.push(format!("{:?}", rig.wallet.handle(event)));
    }
    let mut errors: Vec<WalletError> = Vec::new();
    // A foreign device key cannot open the bundle.
    if let Err(e) = paycode_core::bundle::open(&sealed, &DeviceSecret::from_bytes([7; 32])) {
        out.push(format!("{e} {e:?}"));
    }
    // Tampered answers, a network failure, a refused login.
    rig.clock.advance_ms(5 * 86_400_000);
    *rig.issuer.tamper_bundles.lock().unwrap() = Some(Box::new(|mut b: Vec<u8>| {
        let last = b.len() - 1;
        b[last] ^= 1;
        b
    }));
    errors.extend(rig.wallet.sync().err());
    *rig.issuer.tamper_bundles.lock().unwrap() = None;
    rig.issuer.set_network(Network::Offline);
    errors.extend(rig.wallet.sync().err());
    errors.extend(rig.wallet.pause().err());
    rig.issuer.set_network(Network::Up);
    errors.extend(rig.wallet.provision("bad-token").err());
    assert!(errors.len() >= 4, "{errors:?}");
    for e in &errors {
        out.push(format!("{e} {e:?}"));
    }
    let text = out.join("\n");
    for (what, bytes) in &secrets {
        assert_absent(&text, bytes, what);
    }
    // The search itself finds a secret when it is there.
    let leaked = format!("{text}\n{:?}", opened.credential.seed().expose_secret());
    assert!(
        std::panic::catch_unwind(|| assert_absent(&leaked, opened.credential.seed().expose_secret(), "seed"))
            .is_err()
    );
}
