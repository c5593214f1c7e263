//! Secret hygiene: everything the issuer logs — at `trace`, its own and its dependencies' lines
//! — over a whole story (users, login, provisioning, sync with a new bundle, online code,
//! payments accepted, replayed, guessed and malformed, a lockout, void, pause, logout) contains
//! no issuer secret, day key, seed, device key, bundle, password, login token, admin token,
//! API key or full payment code, in hex or base64.
//!
//! One test in its own binary: it installs the process-wide log subscriber.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::{ADMIN, Device, Engine, Harness, T0, test_config};
use paycode_core::identity::day_of_step;
use paycode_core::{IssuerKeyring, IssuerSecret, Prefix};
use paycode_server::ratelimit::RateLimits;
use paycode_server::storm::find_leaks;
use paycode_server::util::hex;
use serde_json::json;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every encoding a byte string could take in a log line.
fn encodings(bytes: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut out = vec![hex(bytes), hex(bytes).to_uppercase(), format!("{bytes:?}")];
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        out.push(engine.encode(bytes));
    }
    out
}

#[test]
fn the_issuer_logs_no_secret_over_a_whole_story() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes(secret));
    let config = paycode_server::Config {
        limits: RateLimits {
            merchant_failures: 3,
            ..test_config().limits
        },
        ..test_config()
    };
    let h = Harness::with_keyring(Engine::Sqlite, config, keyring.clone());
    let mut forbidden: Vec<String> = encodings(&secret);
    let mut codes: HashSet<String> = HashSet::new();
    forbidden.push(ADMIN.to_owned());
    forbidden.push("correct horse".to_owned());

    // Users, login, provisioning.
    h.user("pat");
    let token = h.login("pat");
    forbidden.push(token.clone());
    let mut device = Device::provision(&h, &token);
    forbidden.extend(encodings(device.secret.expose_secret()));
    forbidden.extend(encodings(device.credential.seed().expose_secret()));
    let key = h.merchant("shop");
    let other = h.merchant("other shop");
    forbidden.extend([key.clone(), other.clone()]);
    let (status, _) = h.post(
        "/v1/login",
        None,
        &json!({"username": "pat", "password": "wrong password"}),
    );
    assert_eq!(status, 401);

    // Payments: accepted, replayed, a malformed code, guesses up to a lockout.
    let code = device.code(&h, 0);
    codes.insert(code.digits());
    assert_eq!(h.pay_ok(&key, &code, 10, "a1")["status"], "accepted");
    assert_eq!(h.pay_ok(&other, &code, 10, "a2")["reason"], "replayed");
    let (status, _) = h.pay(&key, &format!("{}x", &code.digits()[..17]), 10, "a3");
    assert_eq!(status, 422);
    for i in 0..4u64 {
        let guess = format!("28{:016}", 7_777_777_777_777_777 + i);
        codes.insert(guess.clone());
        h.pay(&other, &guess, 10, &format!("g{i}"));
    }
    assert_eq!(h.pay(&other, &device.code(&h, 1).digits(), 10, "g9").0, 429);
    codes.insert(device.code(&h, 1).digits());

    // Online code, void, pause and resume.
    let (_, online) = device.send(&h, "online-code", &json!({}));
    let online = online["code"].as_str().unwrap().to_owned();
    codes.insert(online.clone());
    assert_eq!(h.pay(&key, &online, 7, "o1").1["status"], "accepted");
    let step = h.now() as u64 / 60;
    assert_eq!(
        device.send(&h, "void", &json!({"step": step, "counter": 5})).0,
        200
    );
    assert_eq!(device.send(&h, "pause", &json!({})).0, 200);
    assert_eq!(device.send(&h, "resume", &json!({})).0, 200);

    // Six days on, a sync brings a new bundle (new day keys).
    h.clock.advance_secs(6 * 86_400);
    let (status, answer) = device.send(
        &h,
        "sync",
        &json!({"sequence": device.sequence, "valid_until": device.credential.valid_until()}),
    );
    assert_eq!(status, 200);
    let bundle = answer["bundle"].as_str().unwrap().to_owned();
    forbidden.push(bundle[..64.min(bundle.len())].to_owned());
    let bytes = paycode_core::wire::unb64(&bundle).unwrap();
    device.credential = paycode_core::bundle::open(&bytes, &device.secret)
        .unwrap()
        .credential;
    let code = device.code(&h, 0);
    codes.insert(code.digits());
    assert_eq!(h.pay_ok(&key, &code, 10, "s1")["status"], "accepted");

    // Logout.
    assert_eq!(device.send(&h, "logout", &json!({})).0, 200);
    let dead = device.code(&h, 1);
    codes.insert(dead.digits());
    assert_eq!(h.pay_ok(&key, &dead, 10, "l1")["reason"], "unknown_device");

    // Every day key the credentials carried.
    let day = |t: i64| day_of_step((t / 60) as u64, 60);
    for d in day(T0) - 2..=day(h.now()) + 8 {
        forbidden.extend(encodings(keyring.day_key(d).expose_secret()));
    }

    let log = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    // The capture works: the story is in the log.
    for expected in [
        "device provisioned",
        "payment decided",
        "merchant locked out",
        "payments refused",
        "device logged out",
        "sqlx::query",
    ] {
        assert!(log.contains(expected), "the log lacks {expected:?}");
    }
    let leaks = find_leaks(&log, &forbidden, &codes);
    assert!(
        leaks.secrets.is_empty(),
        "secrets in the log: {:?}",
        leaks
            .secrets
            .iter()
            .map(|s| &s[..8.min(s.len())])
            .collect::<Vec<_>>()
    );
    assert_eq!(leaks.codes, 0, "full payment codes in the log");
}
