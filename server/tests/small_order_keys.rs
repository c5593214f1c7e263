//! A client provisioning with an X25519 sealing key of small order (to which nothing can be
//! sealed: the shared secret is all zeros) gets 422 `invalid_field`, the issuer logs no ERROR
//! and writes nothing: no device, and the login token stays unused. On SQLite and PostgreSQL.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Harness, engines, signed_send};
use paycode_core::Clock;
use paycode_core::device::DeviceSecret;
use paycode_core::entropy::OsEntropy;
use paycode_core::wire;
use serde_json::json;

/// The 32-byte little-endian encodings of the seven small-order points of Curve25519.
fn small_order_points() -> Vec<(&'static str, [u8; 32])> {
    let p_minus = |d: u8| {
        let mut k = [0xff; 32];
        k[31] = 0x7f;
        k[0] = 0xff - d;
        k
    };
    let hex = |text: &str| {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    };
    let mut one = [0u8; 32];
    one[0] = 1;
    vec![
        ("u = 0", [0u8; 32]),
        ("u = 1", one),
        ("u = p - 1", p_minus(19)),
        ("u = p", p_minus(18)),
        ("u = p + 1", p_minus(17)),
        (
            "order 8 (a)",
            hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        ),
        (
            "order 8 (b)",
            hex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        ),
    ]
}

/// Everything the issuer logs in this test process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn small_order_sealing_keys_are_refused_with_422_and_nothing_written() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    for engine in engines() {
        let h = Harness::new(engine);
        h.user("mallory");
        let mut devices = 0;
        for (name, sealing) in small_order_points() {
            // A real login token and a correctly signed request: only the sealing key is bad.
            let token = h.login("mallory");
            let secret = DeviceSecret::generate(&OsEntropy).unwrap();
            let body = json!({
                "login_token": token,
                "signing_key": wire::b64(&secret.public_keys().signing),
                "sealing_key": wire::b64(&sealing),
                "platform": "test",
            });
            let (status, answer) = signed_send(
                &h,
                &secret,
                "",
                wire::PATH_PROVISION,
                body.to_string().into_bytes(),
                h.clock.now_ms(),
            );
            assert_eq!(status, 422, "{engine:?} {name}: {answer}");
            assert_eq!(answer["error"]["code"], "invalid_field", "{engine:?} {name}");
            assert_eq!(
                h.count("devices"),
                devices,
                "{engine:?} {name}: a device was written"
            );
            // The token was not consumed: the same user can still provision a real device.
            let real = DeviceSecret::generate(&OsEntropy).unwrap();
            let (status, answer) = common::provision_request(&h, &real, &token);
            assert_eq!(status, 200, "{engine:?} {name}: the token was used up: {answer}");
            devices += 1;
            assert_eq!(h.count("devices"), devices);
        }
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("device provisioned"),
        "the capture sees the issuer's logs"
    );
    assert!(!text.contains("ERROR"), "an ERROR was logged:\n{text}");
}
