//! The foreign-trait contract, tested in Rust before any Kotlin or Swift: the traits implemented
//! here in Rust exactly as an app implements them, driving the real wallet against the
//! in-process test issuer. Happy path, errors, panics and threads.
#![cfg(feature = "test-issuer")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use paycode_ffi::test_issuer::{TestClock, TestIssuer};
use paycode_ffi::*;

const T0_MS: i64 = 1_795_341_600_000;

#[derive(Default)]
struct MemoryStore {
    entries: Mutex<HashMap<String, Vec<u8>>>,
    locked: AtomicBool,
    panics: AtomicBool,
}

impl MemoryStore {
    fn check(&self) -> Result<(), StoreError> {
        assert!(!self.panics.load(Ordering::SeqCst), "store bug");
        if self.locked.load(Ordering::SeqCst) {
            return Err(StoreError::Locked);
        }
        Ok(())
    }
}

impl SecretStore for MemoryStore {
    fn put(&self, name: String, value: Vec<u8>) -> Result<(), StoreError> {
        self.check()?;
        self.entries.lock().unwrap().insert(name, value);
        Ok(())
    }
    fn get(&self, name: String) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        Ok(self.entries.lock().unwrap().get(&name).cloned())
    }
    fn delete(&self, name: String) -> Result<(), StoreError> {
        self.check()?;
        self.entries.lock().unwrap().remove(&name);
        Ok(())
    }
}

/// An async backend answering from another thread after `delay`, like an HTTP client.
struct ThreadedBackend {
    issuer: Arc<TestIssuer>,
    delay: Mutex<Duration>,
    fail: Mutex<Option<BackendError>>,
    panics: AtomicBool,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl Backend for ThreadedBackend {
    async fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(!self.panics.load(Ordering::SeqCst), "backend bug");
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        let (tx, rx) = futures_channel();
        let issuer = self.issuer.clone();
        let delay = *self.delay.lock().unwrap();
        thread::spawn(move || {
            thread::sleep(delay);
            tx.send(issuer.handle(request));
        });
        Ok(rx.await)
    }
}

/// A one-shot channel whose receiver is a future (what a foreign completion callback does).
fn futures_channel() -> (Sender, Receiver) {
    let shared = Arc::new(Mutex::new((None, None::<std::task::Waker>)));
    (Sender(shared.clone()), Receiver(shared))
}
type Slot = Arc<Mutex<(Option<BackendResponse>, Option<std::task::Waker>)>>;
struct Sender(Slot);
struct Receiver(Slot);
impl Sender {
    fn send(self, value: BackendResponse) {
        let mut slot = self.0.lock().unwrap();
        slot.0 = Some(value);
        if let Some(w) = slot.1.take() {
            w.wake();
        }
    }
}
impl std::future::Future for Receiver {
    type Output = BackendResponse;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<BackendResponse> {
        let mut slot = self.0.lock().unwrap();
        match slot.0.take() {
            Some(v) => std::task::Poll::Ready(v),
            None => {
                slot.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

struct Channel(Mutex<mpsc::Sender<PaymentCodeState>>);
impl CodeListener for Channel {
    fn on_state(&self, state: PaymentCodeState) {
        let _ = self.0.lock().unwrap().send(state);
    }
}

struct Panicky;
impl CodeListener for Panicky {
    fn on_state(&self, _: PaymentCodeState) {
        panic!("listener bug");
    }
}

struct Lines(Mutex<Vec<(LogLevel, String)>>);
impl Logger for Lines {
    fn log(&self, level: LogLevel, message: String) {
        self.0.lock().unwrap().push((level, message));
    }
}

fn config() -> WalletConfig {
    WalletConfig {
        policy: FallbackPolicy::OfflineFirst,
        online_budget_ms: 1000,
        top_up_below_days: 3,
        namespace: "t".into(),
        platform: "rust test".into(),
    }
}

struct Fixture {
    issuer: Arc<TestIssuer>,
    store: Arc<MemoryStore>,
    backend: Arc<ThreadedBackend>,
    wallet: Arc<Wallet>,
}

fn fixture() -> Fixture {
    let clock = TestClock::new(T0_MS);
    let issuer = TestIssuer::new(vec![7; 32], 28, 7, clock.clone()).unwrap();
    let store = Arc::new(MemoryStore::default());
    let backend = Arc::new(ThreadedBackend {
        issuer: issuer.clone(),
        delay: Mutex::new(Duration::from_millis(5)),
        fail: Mutex::new(None),
        panics: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
    });
    let wallet = Wallet::with_test_clock(config(), store.clone(), backend.clone(), clock);
    Fixture {
        issuer,
        store,
        backend,
        wallet,
    }
}

fn provisioned() -> Fixture {
    let f = fixture();
    f.issuer.allow_login("tok".into());
    f.wallet.provision("tok".into()).unwrap();
    f
}

fn code(state: PaymentCodeState) -> PaymentCode {
    match state {
        PaymentCodeState::Code { code } => code,
        other => panic!("expected a code, got {other:?}"),
    }
}

/// The logger is process-wide: tests that install one take turns.
static LOGGER_TURN: Mutex<()> = Mutex::new(());

#[test]
fn happy_path_through_every_foreign_trait() {
    let _turn = LOGGER_TURN.lock().unwrap_or_else(|p| p.into_inner());
    let lines = Arc::new(Lines(Mutex::new(Vec::new())));
    set_logger(Some(lines.clone()));
    let f = fixture();
    let (tx, rx) = mpsc::channel();
    f.wallet.set_listener(Some(Arc::new(Channel(Mutex::new(tx)))));
    assert_eq!(f.wallet.current(), PaymentCodeState::NeedsLogin);
    f.issuer.allow_login("tok".into());
    f.wallet.provision("tok".into()).unwrap();
    // Provisioning first wipes (pushing NeedsLogin), then pushes the first code.
    let pushed: Vec<_> = rx.try_iter().collect();
    assert!(
        matches!(pushed.last(), Some(PaymentCodeState::Code { .. })),
        "{pushed:?}"
    );
    let shown = code(f.wallet.current());
    assert_eq!(format_code(shown.digits.clone()).unwrap(), shown.display);
    f.issuer.redeem(shown.digits).unwrap();
    assert!(!f.store.entries.lock().unwrap().is_empty());
    assert!(f.wallet.logout().unwrap());
    assert!(f.store.entries.lock().unwrap().is_empty());
    set_logger(None);
}

#[test]
fn foreign_errors_become_wallet_errors() {
    let f = fixture();
    f.issuer.allow_login("tok".into());
    *f.backend.fail.lock().unwrap() = Some(BackendError::Offline);
    assert_eq!(f.wallet.provision("tok".into()), Err(WalletError::Offline));
    *f.backend.fail.lock().unwrap() = Some(BackendError::Transport {
        reason: "reset".into(),
    });
    assert_eq!(
        f.wallet.provision("tok".into()),
        Err(WalletError::Network {
            reason: "reset".into()
        })
    );
    *f.backend.fail.lock().unwrap() = None;
    f.store.locked.store(true, Ordering::SeqCst);
    assert_eq!(f.wallet.provision("tok".into()), Err(WalletError::Locked));
    f.store.locked.store(false, Ordering::SeqCst);
    match f.wallet.provision("wrong".into()) {
        Err(WalletError::Rejected {
            status: 401, code, ..
        }) => assert_eq!(code, "invalid_login"),
        other => panic!("{other:?}"),
    }
    let message = WalletError::Rejected {
        status: 403,
        code: "device_revoked".into(),
        reason: "revoked".into(),
    }
    .to_string();
    assert!(message.contains("device_revoked"), "{message}");
}

#[test]
fn panicking_implementations_are_contained() {
    let f = provisioned();
    f.backend.panics.store(true, Ordering::SeqCst);
    assert!(matches!(f.wallet.sync(), Err(WalletError::Network { .. })));
    f.backend.panics.store(false, Ordering::SeqCst);
    f.wallet.set_listener(Some(Arc::new(Panicky)));
    f.wallet.pause().unwrap(); // pushes a state to the panicking listener
    f.wallet.resume().unwrap();
    f.store.panics.store(true, Ordering::SeqCst);
    let reopened = Wallet::with_test_clock(
        config(),
        f.store.clone(),
        f.backend.clone(),
        TestClock::new(T0_MS),
    );
    assert!(matches!(
        reopened.current(),
        PaymentCodeState::NeedsLogin | PaymentCodeState::Locked
    ));
    f.store.panics.store(false, Ordering::SeqCst);
}

#[test]
fn a_slow_backend_times_out_and_is_dropped() {
    let f = fixture();
    f.issuer.allow_login("tok".into());
    *f.backend.delay.lock().unwrap() = Duration::from_secs(30);
    let started = Instant::now();
    assert_eq!(f.wallet.provision("tok".into()), Err(WalletError::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn callbacks_from_many_threads() {
    let f = provisioned();
    let wallet = f.wallet.clone();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let wallet = wallet.clone();
            thread::spawn(move || {
                for i in 0..100 {
                    match (i + t) % 3 {
                        0 => drop(wallet.current()),
                        1 => drop(wallet.handle(WalletEvent::Screenshot)),
                        _ => drop(wallet.handle(WalletEvent::Tick)),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Screenshots sent voids through the backend from worker threads.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f.issuer.operations().contains(&Operation::Void) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(f.issuer.operations().contains(&Operation::Void));
}

/// Everything the library says to the app — log lines (including contained panics), errors,
/// states — searched for the device key, the seed, the day keys and the issuer secret in hex,
/// base64 and Debug-array form.
#[test]
fn logs_errors_and_panics_carry_no_secret() {
    use paycode_core::device::DeviceSecret;
    let _turn = LOGGER_TURN.lock().unwrap_or_else(|p| p.into_inner());
    let lines = Arc::new(Lines(Mutex::new(Vec::new())));
    set_logger(Some(lines.clone()));
    let f = provisioned();
    let entries = f.store.entries.lock().unwrap().clone();
    let device: [u8; 32] = entries["t.device"].clone().try_into().unwrap();
    let slot = if entries["t.active"] == b"a" {
        "t.cred.a"
    } else {
        "t.cred.b"
    };
    let opened = paycode_core::bundle::open(&entries[slot], &DeviceSecret::from_bytes(device)).unwrap();
    let mut secrets = vec![
        device.to_vec(),
        opened.credential.seed().expose_secret().to_vec(),
        vec![7; 32],
    ];
    // The test issuer issues protocol-1 bundles (until `switch_to_protocol_2`): their day keys
    // are secrets too.
    let paycode_core::Credential::V1(credential) = &opened.credential else {
        panic!("the test issuer issues protocol-1 bundles by default")
    };
    secrets.extend(credential.day_keys().map(|(_, k)| k.expose_secret().to_vec()));

    let mut out = vec![format!(
        "{:?} {:?}",
        f.wallet.current(),
        f.wallet.handle(WalletEvent::Screenshot)
    )];
    f.backend.panics.store(true, Ordering::SeqCst);
    out.push(format!("{:?}", f.wallet.sync()));
    f.backend.panics.store(false, Ordering::SeqCst);
    *f.backend.fail.lock().unwrap() = Some(BackendError::Transport {
        reason: "reset".into(),
    });
    out.push(format!("{:?}", f.wallet.pause()));
    *f.backend.fail.lock().unwrap() = None;
    f.wallet.set_listener(Some(Arc::new(Panicky)));
    out.push(format!("{:?}", f.wallet.handle(WalletEvent::ManualRefresh)));
    f.store.panics.store(true, Ordering::SeqCst);
    out.push(format!("{:?}", f.wallet.logout()));
    f.store.panics.store(false, Ordering::SeqCst);
    out.push(format!("{:?}", f.wallet.provision("wrong".into())));
    set_logger(None);
    let logged = lines.0.lock().unwrap().clone();
    assert!(
        logged.iter().any(|(_, line)| line.contains("panicked")),
        "the contained panics were logged: {logged:?}"
    );
    out.extend(
        logged
            .into_iter()
            .map(|(level, line)| format!("{level:?} {line}")),
    );
    let text = out.join("\n").to_lowercase();
    for secret in &secrets {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let debug = format!("{:?}", &secret[..8]);
        assert!(
            !text.contains(debug.trim_end_matches(']')),
            "Debug form of a secret in:\n{text}"
        );
        for window in 0..secret.len() - 8 {
            assert!(
                !text.contains(&hex[2 * window..2 * window + 16]),
                "hex of a secret in:\n{text}"
            );
        }
        let b64 = paycode_core::wire::b64(secret).to_lowercase();
        assert!(!text.contains(&b64[..16]), "base64 of a secret in:\n{text}");
    }
}
