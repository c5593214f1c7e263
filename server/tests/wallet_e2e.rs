//! The wallet core end to end against the real issuer over loopback HTTP: SQLite always,
//! PostgreSQL when `PAYCODE_TEST_POSTGRES_URL` is set. Secrets live in the OS keyring.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Harness, engines};
use paycode_core::backend::{Backend, BackendError, BackendRequest, BackendResponse};
use paycode_core::vault::{KeyringStore, entry_names};
use paycode_core::{
    CodeSource, FallbackPolicy, InlineRunner, SecretStore, StoreError, Wallet, WalletConfig, WalletEvent,
    WalletState,
};
use paycode_http::HttpBackend;

/// The phone's connectivity, switchable.
struct Switched {
    inner: HttpBackend,
    up: AtomicBool,
}

impl Backend for Switched {
    fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError> {
        if self.up.load(Ordering::SeqCst) {
            self.inner.send(request)
        } else {
            Err(BackendError::Offline)
        }
    }
}

fn code(state: WalletState) -> (String, CodeSource) {
    match state {
        WalletState::Code(code) => (code.digits, code.source),
        other => panic!("expected a code, got {other:?}"),
    }
}

fn reason(h: &Harness, key: &str, digits: &str, n: &mut u32) -> String {
    *n += 1;
    let (_, body) = h.pay(key, digits, 100, &format!("k{n}"));
    match body["reason"].as_str() {
        Some(reason) => format!("{} ({reason})", body["status"].as_str().unwrap_or("?")),
        None => body["status"].as_str().unwrap_or("?").to_string(),
    }
}

#[test]
fn the_wallet_story_against_the_real_issuer() {
    for engine in engines() {
        let h = Harness::new(engine);
        h.user("carol");
        let token = h.login("carol");
        let key = h.merchant("shop");
        let backend = Arc::new(Switched {
            inner: HttpBackend::new(h.base.clone()),
            up: AtomicBool::new(true),
        });
        let ns = format!("e2e-{engine:?}-{}", std::process::id());
        let store: Arc<dyn SecretStore> = Arc::new(KeyringStore::new("paycode-tests").unwrap());
        let config = WalletConfig {
            namespace: ns.clone(),
            policy: FallbackPolicy::OfflineFirst,
            ..WalletConfig::default()
        };
        let wallet = Wallet::with_runtime(
            config,
            store.clone(),
            backend.clone(),
            Arc::new(h.clock.clone()),
            Arc::new(paycode_core::entropy::OsEntropy),
            Arc::new(InlineRunner),
        );
        wallet.provision(&token).unwrap();
        let mut n = 0;
        let offline = |up: bool| {
            backend.up.store(up, Ordering::SeqCst);
            wallet.handle(WalletEvent::NetworkAvailable(up))
        };
        offline(false);

        let (a, source) = code(wallet.current());
        assert_eq!(source, CodeSource::Offline);
        assert_eq!(reason(&h, &key, &a, &mut n), "accepted", "{engine:?}");
        assert_eq!(reason(&h, &key, &a, &mut n), "declined (replayed)", "{engine:?}");

        let (b, _) = code(wallet.handle(WalletEvent::ManualRefresh));
        let (c, _) = code(wallet.handle(WalletEvent::ManualRefresh));
        assert_eq!(reason(&h, &key, &c, &mut n), "accepted");
        assert_eq!(reason(&h, &key, &b, &mut n), "declined (superseded)");

        h.clock.advance_ms(60_000);
        let (d, _) = code(wallet.handle(WalletEvent::Tick));
        let (e, _) = code(wallet.handle(WalletEvent::Screenshot));
        offline(true);
        assert_eq!(reason(&h, &key, &d, &mut n), "declined (voided)");
        assert_eq!(reason(&h, &key, &e, &mut n), "accepted");

        // Expired while offline, then back online: an online code first, renewed credentials next.
        offline(false);
        h.clock.advance_ms(8 * 86_400_000);
        assert_eq!(wallet.current(), WalletState::NeedsNetwork);
        let pushed = Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Log(Arc<std::sync::Mutex<Vec<WalletState>>>);
        impl paycode_core::CodeListener for Log {
            fn on_state(&self, state: WalletState) {
                self.0.lock().unwrap().push(state);
            }
        }
        wallet.set_listener(Some(Arc::new(Log(pushed.clone()))));
        offline(true);
        let online = pushed.lock().unwrap().iter().find_map(|s| match s {
            WalletState::Code(code) if code.source == CodeSource::Online => Some(code.digits.clone()),
            _ => None,
        });
        let online = online.expect("an online code was shown");
        assert_eq!(reason(&h, &key, &online, &mut n), "accepted");
        assert_eq!(
            reason(&h, &key, &online, &mut n),
            "declined (replayed)",
            "online codes are single-use"
        );
        let (f, source) = code(wallet.current());
        assert_eq!(
            source,
            CodeSource::Offline,
            "credentials were renewed in the background"
        );
        assert_eq!(reason(&h, &key, &f, &mut n), "accepted");

        // Pause, resume, logout.
        wallet.pause().unwrap();
        assert_eq!(wallet.current(), WalletState::Paused);
        wallet.resume().unwrap();
        let (g, _) = code(wallet.handle(WalletEvent::ManualRefresh));
        assert_eq!(wallet.logout(), Ok(true));
        assert!(reason(&h, &key, &g, &mut n).starts_with("declined"));
        for name in entry_names(&ns) {
            assert_eq!(
                store.get(&name),
                Err(StoreError::NotFound),
                "{name} survived logout"
            );
        }
    }
}

/// A phone whose issuer lost its device (a restored backup, a wiped directory) must not keep
/// showing codes that can never pay: the issuer answers an unknown device `bad_signature` (the
/// same answer as a wrong signature, docs/API.md "Errors"), and the wallet then forgets its
/// secrets and asks for a login, as it does for a revoked device.
#[test]
fn a_wallet_the_issuer_no_longer_knows_asks_for_a_login() {
    struct Retargetable(std::sync::Mutex<HttpBackend>);
    impl Backend for Retargetable {
        fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError> {
            self.0.lock().unwrap().send(request)
        }
    }
    for engine in engines() {
        let h = Harness::new(engine);
        h.user("dave");
        let backend = Arc::new(Retargetable(std::sync::Mutex::new(HttpBackend::new(
            h.base.clone(),
        ))));
        let ns = format!("e2e-lost-{engine:?}-{}", std::process::id());
        let store: Arc<dyn SecretStore> = Arc::new(KeyringStore::new("paycode-tests").unwrap());
        let wallet = Wallet::with_runtime(
            WalletConfig {
                namespace: ns.clone(),
                ..WalletConfig::default()
            },
            store.clone(),
            backend.clone(),
            Arc::new(h.clock.clone()),
            Arc::new(paycode_core::entropy::OsEntropy),
            Arc::new(InlineRunner),
        );
        wallet.provision(&h.login("dave")).unwrap();
        assert!(matches!(wallet.current(), WalletState::Code(_)));

        // The same issuer address now answers from a directory that never saw this device.
        let forgetful = Harness::new(engine);
        *backend.0.lock().unwrap() = HttpBackend::new(forgetful.base.clone());
        let refused = wallet.sync();
        assert!(
            matches!(&refused, Err(paycode_core::WalletError::Rejected { code, .. }) if code == "bad_signature"),
            "{engine:?}: {refused:?}"
        );
        assert_eq!(wallet.current(), WalletState::NeedsLogin, "{engine:?}");
        for name in entry_names(&ns) {
            assert_eq!(
                store.get(&name),
                Err(StoreError::NotFound),
                "{engine:?}: {name} kept"
            );
        }
    }
}
