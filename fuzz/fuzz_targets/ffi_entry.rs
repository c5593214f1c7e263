//! The paycode-ffi facade (bindings/src): what apps and scanners pass in, and what the app's
//! HTTP stack and keystore hand back.
//!
//! Input: byte 0 picks the mode.
//! * even: `parse_code` / `format_code` on arbitrary text. Asserts: never panics; they agree
//!   with the core's parser; the typed `CodeError` carries the core's details; `ParsedCode`'s
//!   fields are consistent (`digits`, `display`, numbers) and `format_code` is its `display`.
//! * odd: a `Wallet` (`Wallet::with_clock`, the facade's own adapters) over a `SecretStore` and
//!   an async `Backend` implemented here: the keystore can be preloaded with arbitrary bytes or
//!   a genuine credential and can fail on demand; the backend answers from a script the input
//!   writes — arbitrary HTTP status and body, a transport error, or a genuine sealed bundle
//!   (sealed to the key the wallet sent, with input-chosen status, sequence and issuer time).
//!   Then the input drives `provision`, `sync`, `logout`, `pause`, `resume`, `handle`,
//!   `current`, clock moves. Asserts: never panics (on any thread: the wallet's workers run the
//!   backend too); every error is a typed `WalletError`; `Rejected` only for a non-2xx status;
//!   every `Code` state shows a valid 18-digit code whose `display` is `format_code(digits)`;
//!   after `logout` the wallet is not provisioned and the keystore holds nothing.
#![no_main]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use paycode_core::code::{ParseError, PaymentCode};
use paycode_core::device::DeviceSecret;
use paycode_core::{Clock, wire};
use paycode_core::{IssuerKeyring, IssuerSecret, ManualClock, OfflineCredential, Prefix, Seed, TimeParams};
use paycode_ffi::{
    Backend, BackendError, BackendRequest, BackendResponse, CodeError, FallbackPolicy, Operation,
    PaymentCodeState, SecretStore, StoreError, Wallet, WalletConfig, WalletError, WalletEvent, format_code,
    parse_code,
};
use paycode_fuzz::{Bytes, T0, chunk, vector_codes};

fn check_code_text(text: &str) {
    let core = PaymentCode::parse(text);
    let parsed = parse_code(text.to_owned());
    let formatted = format_code(text.to_owned());
    match (&core, &parsed) {
        (Ok(code), Ok(p)) => {
            assert_eq!(p.prefix, code.prefix().get());
            assert_eq!(p.identity, code.identity());
            assert_eq!(p.otp, code.otp());
            assert_eq!(p.digits, code.digits());
            assert_eq!(p.display, code.display());
            assert_eq!(formatted.as_ref(), Ok(&p.display));
            assert_eq!(parse_code(p.display.clone()).as_ref(), Ok(p));
        }
        (Err(e), Err(c)) => {
            match (e, c) {
                (ParseError::WrongLength { found }, CodeError::WrongLength { found: f }) => {
                    assert_eq!(u32::try_from(*found).unwrap_or(u32::MAX), *f)
                }
                (
                    ParseError::InvalidCharacter { character, position },
                    CodeError::InvalidCharacter {
                        character: ch,
                        position: pos,
                    },
                ) => {
                    assert_eq!(&character.to_string(), ch);
                    assert_eq!(u32::try_from(*position).unwrap_or(u32::MAX), *pos);
                }
                (ParseError::InvalidPrefix { prefix }, CodeError::InvalidPrefix { prefix: p }) => {
                    assert_eq!(prefix, p)
                }
                other => panic!("facade error differs from the core's: {other:?}"),
            }
            assert_eq!(formatted.as_ref().err(), Some(c));
            // (Messages differ cosmetically: the facade quotes the character as a string,
            // `"*"`, the core as a char, `'*'`.)
            assert!(!c.to_string().is_empty());
        }
        other => panic!("facade and core disagree on {text:?}: {other:?}"),
    }
}

// ---------------------------------------------------------------- the app's keystore

#[derive(Default)]
struct Store {
    entries: Mutex<HashMap<String, Vec<u8>>>,
    /// Failures to inject, one per call, front first (`None` = succeed).
    failures: Mutex<VecDeque<Option<StoreError>>>,
}

impl Store {
    fn fail(&self) -> Result<(), StoreError> {
        match self.failures.lock().unwrap().pop_front() {
            Some(Some(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

impl SecretStore for Store {
    fn put(&self, name: String, value: Vec<u8>) -> Result<(), StoreError> {
        self.fail()?;
        self.entries.lock().unwrap().insert(name, value);
        Ok(())
    }
    fn get(&self, name: String) -> Result<Option<Vec<u8>>, StoreError> {
        self.fail()?;
        Ok(self.entries.lock().unwrap().get(&name).cloned())
    }
    fn delete(&self, name: String) -> Result<(), StoreError> {
        self.fail()?;
        self.entries.lock().unwrap().remove(&name);
        Ok(())
    }
}

// ---------------------------------------------------------------- the app's HTTP stack

enum Reply {
    Raw(u16, Vec<u8>),
    Error(BackendError),
    /// A genuine bundle for the key the wallet registered: (status text, issuer time, sequence,
    /// device id).
    Bundle(String, i64, u64, String),
}

struct Issuer {
    keyring: IssuerKeyring,
    clock: ManualClock,
    sealing_key: Mutex<Option<[u8; 32]>>,
}

impl Issuer {
    fn bundle(&self, sequence: u64, device_id: &str) -> Option<String> {
        let key = (*self.sealing_key.lock().unwrap())?;
        let now = self.clock.now_secs();
        let credential = OfflineCredential::issue(
            &self.keyring,
            TimeParams::default(),
            4_242,
            Seed::from_bytes([0x5e; 32]),
            now,
            now + 7 * 86_400,
        )
        .ok()?;
        let bundle =
            paycode_core::bundle::seal(&credential, device_id, sequence, self.clock.now_ms(), &key).ok()?;
        Some(wire::b64(&bundle))
    }
}

struct FuzzBackend {
    script: Mutex<VecDeque<Reply>>,
    issuer: Arc<Issuer>,
}

#[async_trait::async_trait]
impl Backend for FuzzBackend {
    async fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError> {
        if request.operation == Operation::Provision {
            let body: wire::ProvisionRequest =
                serde_json::from_slice(&request.body).expect("the wallet sends a ProvisionRequest");
            let key = wire::unb64(&body.sealing_key).and_then(|k| k.try_into().ok());
            *self.issuer.sealing_key.lock().unwrap() = key;
        }
        let reply = self.script.lock().unwrap().pop_front();
        match reply {
            None => Err(BackendError::Offline),
            Some(Reply::Raw(status, body)) => Ok(BackendResponse { status, body }),
            Some(Reply::Error(e)) => Err(e),
            Some(Reply::Bundle(status, issuer_time_ms, sequence, device_id)) => {
                let bundle = self.issuer.bundle(sequence, &device_id);
                let body = serde_json::to_vec(&wire::BundleResponse {
                    device_id,
                    bundle,
                    status,
                    issuer_time_ms,
                })
                .unwrap();
                Ok(BackendResponse { status: 200, body })
            }
        }
    }
}

// ---------------------------------------------------------------- the session

const NS: &str = "paycode";
const NAMES: [&str; 5] = ["device", "cred.a", "cred.b", "active", "state"];

fn check_state(state: &PaymentCodeState) {
    if let PaymentCodeState::Code { code } = state {
        assert_eq!(code.digits.len(), 18, "{code:?}");
        let parsed = parse_code(code.digits.clone()).expect("a shown code parses");
        assert_eq!(parsed.digits, code.digits);
        assert_eq!(format_code(code.digits.clone()).as_ref(), Ok(&code.display));
    }
}

fn check_result<T>(result: &Result<T, WalletError>) {
    if let Err(WalletError::Rejected { status, code, .. }) = result {
        assert!(
            !(200..300).contains(status),
            "Rejected with a success status {status}"
        );
        assert!(!code.is_empty());
    }
}

fn event(b: u8) -> WalletEvent {
    match b % 9 {
        0 => WalletEvent::Screenshot,
        1 => WalletEvent::ScreenCaptureStarted,
        2 => WalletEvent::ScreenCaptureStopped,
        3 => WalletEvent::Foreground,
        4 => WalletEvent::Background,
        5 => WalletEvent::NetworkAvailable {
            available: b & 0x80 != 0,
        },
        6 => WalletEvent::PaymentCompleted,
        7 => WalletEvent::ManualRefresh,
        _ => WalletEvent::Tick,
    }
}

fn issuer_time(b: &mut Bytes, clock: &ManualClock) -> i64 {
    let selector = b.u8();
    let raw = b.i64();
    // Any i64: times outside wire::MAX_UNIX_MS must be refused as a bad answer (finding 2 in
    // docs/FUZZING.md; its input is corpus/ffi_entry/regression-issuer-time-min-provision).
    match selector % 4 {
        // Near the device's clock (± ~1 day), the common case.
        0 | 1 => clock.now_ms() + raw % 86_400_000,
        2 => raw,
        _ if raw < 0 => i64::MIN,
        _ => i64::MAX,
    }
}

fn session(b: &mut Bytes) {
    let clock = ManualClock::at_secs(T0 + 3_600);
    let issuer = Arc::new(Issuer {
        keyring: IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x11; 32])),
        clock: clock.clone(),
        sealing_key: Mutex::new(None),
    });
    let store = Arc::new(Store::default());
    let backend = Arc::new(FuzzBackend {
        script: Mutex::new(VecDeque::new()),
        issuer: issuer.clone(),
    });

    // The keystore as the app hands it over: empty, a genuine credential, or arbitrary bytes.
    let preload = b.u8();
    if preload & 1 != 0 {
        let device = DeviceSecret::from_bytes([0x42; 32]);
        *issuer.sealing_key.lock().unwrap() = Some(device.public_keys().sealing);
        let bundle = wire::unb64(&issuer.bundle(1, "dev_fuzz").unwrap()).unwrap();
        let mut entries = store.entries.lock().unwrap();
        entries.insert(format!("{NS}.device"), device.expose_secret().to_vec());
        entries.insert(format!("{NS}.cred.a"), bundle);
        entries.insert(format!("{NS}.active"), b"a".to_vec());
    }
    if preload & 2 != 0 {
        let name = NAMES[usize::from(b.u8()) % NAMES.len()];
        let value = b.chunk().to_vec();
        store
            .entries
            .lock()
            .unwrap()
            .insert(format!("{NS}.{name}"), value);
    }
    let config = WalletConfig {
        policy: match b.u8() % 3 {
            0 => FallbackPolicy::OfflineFirst,
            1 => FallbackPolicy::OnlineFirst,
            _ => FallbackPolicy::OfflineOnly,
        },
        online_budget_ms: u32::from(b.u16()),
        top_up_below_days: u32::from(b.u8() % 10),
        namespace: NS.into(),
        platform: b.text(),
    };
    let wallet = Wallet::with_clock(config, store.clone(), backend.clone(), Arc::new(clock.clone()));
    check_state(&wallet.current());

    let mut steps = 0;
    while !b.is_empty() && steps < 32 {
        steps += 1;
        match b.u8() % 13 {
            0 => {
                let token = b.text();
                check_result(&wallet.provision(token));
            }
            1 => check_result(&wallet.sync()),
            2 => {
                let result = wallet.logout();
                check_result(&result);
                if result.is_ok() {
                    assert!(!wallet.is_provisioned(), "provisioned after logout");
                    // (`state` is left out: a worker finishing after logout may write the clock
                    // offset; the secrets are what must be gone.)
                    let left: Vec<String> = store
                        .entries
                        .lock()
                        .unwrap()
                        .keys()
                        .filter(|k| !k.ends_with(".state"))
                        .cloned()
                        .collect();
                    assert!(left.is_empty(), "logout left {left:?} in the keystore");
                }
            }
            3 => check_result(&wallet.pause()),
            4 => check_result(&wallet.resume()),
            5 => check_state(&wallet.handle(event(b.u8()))),
            6 => {
                check_state(&wallet.current());
                let _ = wallet.clock_jump_ms();
            }
            7 => {
                let status = b.u16() % 600;
                let body = b.chunk().to_vec();
                backend.script.lock().unwrap().push_back(Reply::Raw(status, body));
            }
            8 => {
                let status = ["active", "paused", "revoked", ""][usize::from(b.u8()) % 4].to_owned();
                let time = issuer_time(b, &clock);
                let sequence = u64::from(b.u8());
                let device_id = if b.u8() % 4 == 0 {
                    b.text()
                } else {
                    "dev_fuzz".to_owned()
                };
                backend
                    .script
                    .lock()
                    .unwrap()
                    .push_back(Reply::Bundle(status, time, sequence, device_id));
            }
            9 => {
                let e = match b.u8() % 3 {
                    0 => BackendError::Offline,
                    1 => BackendError::Timeout,
                    _ => BackendError::Transport { reason: b.text() },
                };
                backend.script.lock().unwrap().push_back(Reply::Error(e));
            }
            10 => {
                let delta = i64::from(b.u32() as i32);
                match b.u8() % 3 {
                    0 => clock.advance_ms(delta),
                    1 => clock.set_ms(clock.now_ms() + delta * 1_000),
                    _ => clock.reboot(),
                }
            }
            11 => {
                let e = match b.u8() % 4 {
                    0 => None,
                    1 => Some(StoreError::Locked),
                    2 => Some(StoreError::Unavailable {
                        reason: "fuzz".into(),
                    }),
                    _ => Some(StoreError::Corrupt {
                        reason: "fuzz".into(),
                    }),
                };
                store.failures.lock().unwrap().push_back(e);
            }
            _ => {
                let _ = wallet.is_provisioned();
                check_state(&wallet.handle(WalletEvent::Foreground));
            }
        }
    }
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, code) in vector_codes().iter().take(3).enumerate() {
        let mut s = vec![0u8];
        s.extend_from_slice(code.as_bytes());
        out.push((format!("code-vector-{i}"), s));
    }
    out.push(("code-dashes".into(), b"\x002816-7565-2589-992104".to_vec()));
    out.push((
        "code-fullwidth".into(),
        "\u{0}２816 7565 2589 992104".as_bytes().to_vec(),
    ));
    // Sessions. Header: mode, preload, policy, budget (2), top-up days, platform chunk.
    let header = |preload: u8| {
        let mut s = vec![1u8, preload, 0, 0x03, 0xe8, 3];
        chunk(&mut s, b"android 15");
        s
    };
    let genuine_reply = |s: &mut Vec<u8>, seq: u8| {
        s.push(8);
        s.push(0); // "active"
        s.push(0); // issuer time near the device's clock…
        s.extend_from_slice(&0i64.to_be_bytes()); // …equal to it
        s.push(seq);
        s.push(1); // device id "dev_fuzz"
    };
    // Provision with a genuine bundle, show codes, screenshot, sync with a newer bundle, logout.
    let mut s = header(0);
    genuine_reply(&mut s, 1);
    s.push(0);
    chunk(&mut s, b"plt_login-token");
    s.extend_from_slice(&[5, 3, 6, 5, 0, 5, 7]);
    genuine_reply(&mut s, 2);
    s.push(1);
    s.extend_from_slice(&[10, 0, 0, 0xea, 0x60, 0, 6]);
    s.push(7);
    s.extend_from_slice(&200u16.to_be_bytes());
    chunk(&mut s, br#"{"issuer_time_ms": 1795309200000}"#);
    s.push(2);
    out.push(("session-provision-sync-logout".into(), s));
    // A stored genuine credential; the issuer refuses a sync, then the device is revoked.
    let mut s = header(1);
    s.extend_from_slice(&[6, 5, 3]);
    s.push(7);
    s.extend_from_slice(&403u16.to_be_bytes());
    chunk(
        &mut s,
        br#"{"error": {"code": "device_revoked", "message": "logged out"}}"#,
    );
    s.push(1);
    s.push(6);
    out.push(("session-stored-revoked".into(), s));
    // Online code fallback: no credential, an online-code answer.
    let mut s = header(0);
    s[2] = 1;
    s.push(7);
    s.extend_from_slice(&200u16.to_be_bytes());
    chunk(
        &mut s,
        br#"{"code": "281234567890123456", "expires_at_ms": 1795309260000, "issuer_time_ms": 1795309200000}"#,
    );
    s.extend_from_slice(&[5, 3, 6]);
    out.push(("session-online-code".into(), s));
    // A corrupt keystore entry, store failures, bad JSON answers.
    let mut s = header(3);
    s.push(4); // the state entry
    chunk(&mut s, b"\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0\0\0\0\x05\x03");
    s.extend_from_slice(&[11, 1, 6, 11, 3, 5, 3]);
    s.push(7);
    s.extend_from_slice(&500u16.to_be_bytes());
    chunk(&mut s, b"<html>oops</html>");
    s.push(3);
    s.push(9);
    s.push(2);
    chunk(&mut s, b"connection reset");
    s.push(4);
    out.push(("session-corrupt-store".into(), s));
    out
}

fuzz_target!(|data: &[u8]| {
    paycode_fuzz::write_seeds_if_asked(seeds);
    let mut b = Bytes(data);
    if b.u8() % 2 == 0 {
        check_code_text(&String::from_utf8_lossy(b.rest()));
    } else {
        session(&mut b);
    }
});
