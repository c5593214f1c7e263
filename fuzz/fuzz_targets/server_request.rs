//! The issuer's request decoding, through the real axum router (`paycode_server::router`)
//! in-process (`tower::ServiceExt::oneshot`), on a real SQLite file in a temp dir, with a
//! `ManualClock` that moves 250 ms per input.
//!
//! Set up once: an admin token, a user, a merchant (API key), two devices provisioned through
//! the API with keys the harness holds (so it can sign as them), and one payment.
//!
//! Input: byte 0 picks the endpoint (13 routes, or a raw path), byte 1 the headers (no auth /
//! admin / merchant / raw `Authorization`; no signature / signed by the harness as device 0 or 1
//! / raw `paycode-*` headers; `content-length` true, absent or lying; content type; another
//! method), then length-prefixed texts (path id, raw header values, timestamp offset), and the
//! rest is the body. In the path id and body, `@DEV@` `@DEV1@` `@MER@` `@PAY@` become the
//! fixture's ids, `@CODE@` a genuine current code of device 0, `@LOGIN@` a fresh login token,
//! `@SIGNKEY@`/`@SEALKEY@` the public keys of a provisioning key the harness signs with.
//!
//! Asserts: never panics; never a 5xx (the database is a local file: there are no genuine
//! storage faults here, so a 503 is a bug too); every 4xx (except to HEAD) is
//! `{"error": {"code", "message"}}` JSON whose code is in docs/API.md's error table with that
//! HTTP status; 429 carries `Retry-After`; every 2xx body is JSON; and a 4xx leaves no new row
//! in any table (highest rowids unchanged) — except a signature record for a request the
//! harness signed: the issuer records a verified signature before some 4xx checks (see
//! docs/FUZZING.md).
#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use paycode_core::bundle;
use paycode_core::device::DeviceSecret;
use paycode_core::wire::{self, BundleResponse, ErrorBody};
use paycode_core::{Clock, IssuerKeyring, IssuerSecret, ManualClock, Prefix};
use paycode_fuzz::{Bytes, T0, chunk};
use paycode_server::ratelimit::RateLimits;
use paycode_server::{AppState, Config};
use tower::ServiceExt;

const ADMIN: &str = "fuzz-admin-token";
const INITIAL_BALANCE: i64 = 1_000_000;

struct Dev {
    id: String,
    key: DeviceSecret,
    credential: paycode_core::Credential,
    seed: Vec<u8>,
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    state: Arc<AppState>,
    router: Router,
    clock: ManualClock,
    merchant_key: String,
    merchant_id: String,
    payment_id: String,
    devices: Vec<Dev>,
    provisioning_key: DeviceSecret,
    /// docs/API.md's error table: code → HTTP status.
    documented: HashMap<String, u16>,
}

fn documented_errors() -> HashMap<String, u16> {
    let mut out = HashMap::new();
    for line in include_str!("../../docs/API.md").lines() {
        // | 401 | `bad_signature` | ... |
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 3 {
            if let (Ok(status), Some(code)) = (
                cells[1].parse::<u16>(),
                cells[2].strip_prefix('`').and_then(|c| c.strip_suffix('`')),
            ) {
                out.insert(code.to_owned(), status);
            }
        }
    }
    assert!(out.len() > 20, "docs/API.md's error table was not found");
    out
}

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("response body");
    (parts.status, parts.headers, bytes.to_vec())
}

fn signed_headers(
    builder: axum::http::request::Builder,
    key: &DeviceSecret,
    path: &str,
    device_id: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> axum::http::request::Builder {
    let signature = key.sign_request(path, device_id, timestamp_ms, body);
    builder
        .header(wire::HEADER_DEVICE, device_id)
        .header(wire::HEADER_TIMESTAMP, timestamp_ms.to_string())
        .header(wire::HEADER_SIGNATURE, wire::b64(&signature))
}

async fn json_call(
    router: &Router,
    path: &str,
    auth: Option<&str>,
    body: serde_json::Value,
) -> serde_json::Value {
    let mut builder = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = auth {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, _, bytes) = call(router, builder.body(Body::from(body.to_string())).unwrap()).await;
    assert!(
        status.is_success(),
        "fixture call {path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).expect("JSON")
}

async fn login(router: &Router) -> String {
    let answer = json_call(
        router,
        "/v1/login",
        None,
        serde_json::json!({"username": "fuzz", "password": "fuzz-password"}),
    )
    .await;
    answer["login_token"].as_str().expect("a token").to_owned()
}

async fn provision(
    router: &Router,
    clock: &ManualClock,
    key: DeviceSecret,
) -> (String, DeviceSecret, paycode_core::Credential) {
    let keys = key.public_keys();
    let body = serde_json::to_vec(&wire::ProvisionRequest {
        login_token: login(router).await,
        signing_key: wire::b64(&keys.signing),
        sealing_key: wire::b64(&keys.sealing),
        platform: "fuzz".into(),
    })
    .unwrap();
    let builder = signed_headers(
        Request::post(wire::PATH_PROVISION),
        &key,
        wire::PATH_PROVISION,
        "",
        clock.now_ms(),
        &body,
    );
    let (status, _, bytes) = call(router, builder.body(Body::from(body)).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    let answer: BundleResponse = serde_json::from_slice(&bytes).unwrap();
    let sealed = wire::unb64(answer.bundle.as_deref().unwrap()).unwrap();
    let opened = bundle::open(&sealed, &key).expect("the issuer's bundle opens");
    (answer.device_id, key, opened.credential)
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // scripts/fuzz.sh points TMPDIR at a directory it removes afterwards.
        let dir = std::env::temp_dir().join(format!("paycode-fuzz-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let clock = ManualClock::at_secs(T0 + 3_600);
        let config = Config {
            database_url: format!("sqlite:{}", dir.join("issuer.db").display()),
            admin_token: Some(ADMIN.into()),
            strong_password_hashing: false,
            initial_balance: INITIAL_BALANCE,
            limits: RateLimits {
                merchant_failures: 200,
                slot_failures: 50,
                global_failures: 10_000,
                // Refusals at once: the tarpit's sleep would stall the fuzzer, not test more.
                refusal_delay_ms: 0,
                ..RateLimits::default()
            },
            ..Config::default()
        };
        let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x33; 32]));
        let make = rt.block_on(async {
            let state = AppState::new(config, keyring, Arc::new(clock.clone()))
                .await
                .expect("issuer starts");
            let router = paycode_server::router(state.clone());
            json_call(
                &router,
                "/v1/users",
                Some(ADMIN),
                serde_json::json!({"username": "fuzz", "password": "fuzz-password"}),
            )
            .await;
            let merchant = json_call(
                &router,
                "/v1/admin/merchants",
                Some(ADMIN),
                serde_json::json!({"name": "Fuzz shop"}),
            )
            .await;
            let merchant_key = merchant["api_key"].as_str().unwrap().to_owned();
            let merchant_id = merchant["merchant_id"].as_str().unwrap().to_owned();
            let mut devices = Vec::new();
            for secret in [[0x01u8; 32], [0x02; 32]] {
                let (id, key, credential) = provision(&router, &clock, DeviceSecret::from_bytes(secret)).await;
                let (seed,): (Vec<u8>,) = sqlx::query_as("SELECT seed FROM devices WHERE device_id = $1")
                    .bind(&id)
                    .fetch_one(&state.db.read)
                    .await
                    .unwrap();
                devices.push(Dev {
                    id,
                    key,
                    credential,
                    seed,
                });
            }
            let code = devices[0].credential.code_at(clock.now_secs(), 0).unwrap().digits();
            let payment = json_call(
                &router,
                "/v1/payments",
                Some(&merchant_key),
                serde_json::json!({"code": code, "amount": 1250, "currency": "EUR", "idempotency_key": "fixture-1"}),
            )
            .await;
            assert_eq!(payment["status"], "accepted", "{payment}");
            let payment_id = payment["payment_id"].as_str().unwrap().to_owned();
            move |rt| Fixture {
                rt,
                state,
                router,
                clock: clock.clone(),
                merchant_key,
                merchant_id,
                payment_id,
                devices,
                provisioning_key: DeviceSecret::from_bytes([0x07; 32]),
                documented: documented_errors(),
            }
        });
        // The pools' tasks live on this runtime: keep it.
        make(rt)
    })
}

const ROUTES: [(&str, &str); 13] = [
    ("GET", "/v1/health"),
    ("POST", "/v1/users"),
    ("POST", "/v1/login"),
    ("POST", "/v1/admin/merchants"),
    ("POST", "/v1/devices"),
    ("POST", "/v1/devices/{id}/sync"),
    ("POST", "/v1/devices/{id}/online-code"),
    ("POST", "/v1/devices/{id}/void"),
    ("POST", "/v1/devices/{id}/logout"),
    ("POST", "/v1/devices/{id}/pause"),
    ("POST", "/v1/devices/{id}/resume"),
    ("POST", "/v1/payments"),
    ("GET", "/v1/payments/{id}"),
];

const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
];

/// Percent-encodes everything but unreserved characters, so any id reaches the router.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

struct Substitutions<'a> {
    f: &'a Fixture,
    counter: u8,
    login: Option<String>,
}

impl Substitutions<'_> {
    fn apply(&mut self, bytes: &[u8]) -> Vec<u8> {
        // Cheap exit: no placeholder at all.
        if !bytes.contains(&b'@') {
            return bytes.to_vec();
        }
        let mut text = String::from_utf8_lossy(bytes).into_owned();
        let f = self.f;
        let keys = f.provisioning_key.public_keys();
        if text.contains("@LOGIN@") {
            let token = match &self.login {
                Some(t) => t.clone(),
                None => {
                    let t = f.rt.block_on(login(&f.router));
                    self.login = Some(t.clone());
                    t
                }
            };
            text = text.replace("@LOGIN@", &token);
        }
        let code = f.devices[0]
            .credential
            .code_at(f.clock.now_secs(), self.counter % 10)
            .map(|c| c.display())
            .unwrap_or_default();
        text.replace("@DEV1@", &f.devices[1].id)
            .replace("@DEV@", &f.devices[0].id)
            .replace("@MER@", &f.merchant_id)
            .replace("@PAY@", &f.payment_id)
            .replace("@CODE@", &code)
            .replace("@SIGNKEY@", &wire::b64(&keys.signing))
            .replace("@SEALKEY@", &wire::b64(&keys.sealing))
            .into_bytes()
    }
}

/// The tables a request can add rows to; `seen_signatures` is last.
const TABLES: [&str; 9] = [
    "users",
    "login_tokens",
    "devices",
    "online_codes",
    "merchants",
    "payments",
    "ledger",
    "rejections",
    "seen_signatures",
];

/// The highest rowid of every table: an insert that stays raises one (a rolled-back insert
/// does not, so this sees what a request left behind, not what it tried).
async fn high_water(f: &Fixture) -> Vec<i64> {
    static QUERY: OnceLock<String> = OnceLock::new();
    let query = QUERY.get_or_init(|| {
        let columns: Vec<String> = TABLES
            .iter()
            .map(|t| format!("(SELECT coalesce(max(rowid), 0) FROM {t})"))
            .collect();
        format!("SELECT {}", columns.join(", "))
    });
    let row = sqlx::query(query)
        .fetch_one(&f.state.db.write)
        .await
        .expect("high water");
    (0..TABLES.len())
        .map(|i| sqlx::Row::try_get::<i64, _>(&row, i).expect("a rowid"))
        .collect()
}

/// Undoes what signed requests do to the fixture devices (logout, pause) and what payments do to
/// the balance, so later inputs still reach the same code paths.
async fn reset(f: &Fixture) {
    for d in &f.devices {
        sqlx::query("UPDATE devices SET status = 'active', seed = $1 WHERE device_id = $2")
            .bind(&d.seed)
            .bind(&d.id)
            .execute(&f.state.db.write)
            .await
            .expect("reset device");
    }
    sqlx::query("UPDATE users SET balance = $1")
        .bind(INITIAL_BALANCE)
        .execute(&f.state.db.write)
        .await
        .expect("reset balance");
}

fn one(f: &Fixture, data: &[u8]) {
    f.clock.advance_ms(250);
    let mut b = Bytes(data);
    let route = usize::from(b.u8()) % (ROUTES.len() + 1);
    let flags = b.u8();
    let options = b.u8();
    let counter = b.u8();
    let mut subs = Substitutions {
        f,
        counter,
        login: None,
    };
    let id_text = String::from_utf8_lossy(&subs.apply(b.chunk())).into_owned();
    let auth_text = b.chunk();
    let device_text = b.chunk();
    let timestamp_text = b.chunk();
    let signature_text = b.chunk();
    let offset_ms = i64::from(b.u16() as i16) * 100;
    let lie = u64::from(b.u32());
    let body = subs.apply(b.rest());

    let sig_mode = (flags >> 2) & 3;
    let device = &f.devices[usize::from(sig_mode == 2)];
    let (mut method, path) = match ROUTES.get(route) {
        Some((method, template)) => {
            let id = if id_text.is_empty() {
                if route == 12 {
                    f.payment_id.clone()
                } else {
                    device.id.clone()
                }
            } else {
                encode(&id_text)
            };
            (
                Method::from_bytes(method.as_bytes()).unwrap(),
                template.replace("{id}", &id),
            )
        }
        None => (Method::POST, id_text.clone()),
    };
    if flags & 0x40 != 0 {
        method = METHODS[usize::from(options) % METHODS.len()].clone();
    }
    let Ok(uri) = path.parse::<axum::http::Uri>() else {
        return;
    };
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    match flags & 3 {
        0 => {}
        1 => builder = builder.header(header::AUTHORIZATION, format!("Bearer {ADMIN}")),
        2 => builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", f.merchant_key)),
        _ => {
            if let Ok(v) = HeaderValue::from_bytes(auth_text) {
                builder = builder.header(header::AUTHORIZATION, v);
            }
        }
    }
    let timestamp = f.clock.now_ms() + offset_ms;
    let harness_signed = matches!(sig_mode, 1 | 2);
    match sig_mode {
        0 => {}
        1 | 2 if route == 4 => {
            builder = signed_headers(builder, &f.provisioning_key, &path, "", timestamp, &body);
        }
        1 | 2 => {
            let id = if options & 0x80 != 0 {
                id_text.as_str()
            } else {
                device.id.as_str()
            };
            builder = signed_headers(builder, &device.key, &path, id, timestamp, &body);
        }
        _ => {
            for (name, value) in [
                (wire::HEADER_DEVICE, device_text),
                (wire::HEADER_TIMESTAMP, timestamp_text),
                (wire::HEADER_SIGNATURE, signature_text),
            ] {
                if let Ok(v) = HeaderValue::from_bytes(value) {
                    builder = builder.header(name, v);
                }
            }
        }
    }
    match (flags >> 4) & 3 {
        0 => {}
        1 => builder = builder.header(header::CONTENT_LENGTH, body.len()),
        2 => builder = builder.header(header::CONTENT_LENGTH, lie << (options % 16)),
        _ => builder = builder.header(header::CONTENT_LENGTH, "not a number"),
    }
    if flags & 0x80 != 0 {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let Ok(request) = builder.body(Body::from(body)) else {
        return;
    };

    let (status, headers, response) = f.rt.block_on(async {
        let before = high_water(f).await;
        let answer = call(&f.router, request).await;
        let after = high_water(f).await;
        if answer.0.is_client_error() {
            // Harness-signed requests may leave a signature record (see docs/FUZZING.md).
            let checked = if harness_signed {
                TABLES.len() - 1
            } else {
                TABLES.len()
            };
            for i in 0..checked {
                assert!(
                    after[i] <= before[i],
                    "a {} answer left a new row in {}: {}",
                    answer.0,
                    TABLES[i],
                    String::from_utf8_lossy(&answer.2)
                );
            }
        }
        if answer.0.is_success() && (7..=11).contains(&route) {
            reset(f).await;
        }
        answer
    });
    let shown = String::from_utf8_lossy(&response);
    assert!(!status.is_server_error(), "{method} {path}: {status} {shown}");
    if method == Method::HEAD {
        return;
    }
    if status.is_client_error() {
        assert_eq!(
            headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{status} without a JSON content type: {shown}"
        );
        let error: ErrorBody = serde_json::from_slice(&response)
            .unwrap_or_else(|e| panic!("{status} body is not an ErrorBody ({e}): {shown}"));
        let documented = f.documented.get(&error.error.code);
        assert_eq!(
            documented,
            Some(&status.as_u16()),
            "{method} {path}: {status} with code {:?} is not in docs/API.md's table: {shown}",
            error.error.code
        );
        assert!(!error.error.message.is_empty());
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                headers.contains_key(header::RETRY_AFTER),
                "429 without Retry-After"
            );
        }
    } else if status.is_success() {
        serde_json::from_slice::<serde_json::Value>(&response)
            .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {shown}"));
    }
}

/// A seed: route, flags, options, counter, id, auth, device, timestamp, signature, offset, body.
fn seed(route: u8, flags: u8, options: u8, id: &str, body: &str) -> Vec<u8> {
    let mut s = vec![route, flags, options, 0];
    chunk(&mut s, id.as_bytes());
    for _ in 0..4 {
        chunk(&mut s, b"");
    }
    s.extend_from_slice(&[0, 0, 0, 0, 0, 16]);
    s.extend_from_slice(body.as_bytes());
    s
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    const SIGNED: u8 = 1 << 2;
    const LENGTH: u8 = 1 << 4;
    const JSON: u8 = 0x80;
    let pay = r#"{"code": "@CODE@", "amount": 1250, "currency": "EUR", "idempotency_key": "till-7-000123"}"#;
    let mut out = vec![
        ("health".to_owned(), seed(0, 0, 0, "", "")),
        (
            "users".into(),
            seed(
                1,
                1 | LENGTH | JSON,
                0,
                "",
                r#"{"username": "alice", "password": "correct horse"}"#,
            ),
        ),
        (
            "login".into(),
            seed(
                2,
                JSON,
                0,
                "",
                r#"{"username": "fuzz", "password": "fuzz-password"}"#,
            ),
        ),
        (
            "merchants".into(),
            seed(3, 1 | JSON, 0, "", r#"{"name": "Corner shop"}"#),
        ),
        (
            "provision".into(),
            seed(
                4,
                SIGNED | JSON,
                0,
                "",
                r#"{"login_token":"@LOGIN@","signing_key":"@SIGNKEY@","sealing_key":"@SEALKEY@","platform":"android 15"}"#,
            ),
        ),
        (
            "sync".into(),
            seed(
                5,
                SIGNED | JSON,
                0,
                "",
                r#"{"sequence":1,"valid_until":1795913200}"#,
            ),
        ),
        (
            "sync-stale".into(),
            seed(5, SIGNED | JSON, 0, "", r#"{"sequence":0,"valid_until":0}"#),
        ),
        ("online-code".into(), seed(6, SIGNED | JSON, 0, "", "{}")),
        (
            "void".into(),
            seed(7, SIGNED | JSON, 0, "", r#"{"step":29921760,"counter":3}"#),
        ),
        ("logout".into(), seed(8, SIGNED, 0, "", "{}")),
        ("pause".into(), seed(9, SIGNED, 0, "", "{}")),
        ("resume".into(), seed(10, SIGNED, 0, "", "{}")),
        ("pay".into(), seed(11, 2 | LENGTH | JSON, 0, "", pay)),
        (
            "pay-merchant-id".into(),
            seed(
                11,
                2 | JSON,
                0,
                "",
                r#"{"code": "@CODE@", "amount": 1, "currency": "USD", "idempotency_key": "k", "merchant_id": "@MER@"}"#,
            ),
        ),
        (
            "pay-fullwidth".into(),
            seed(
                11,
                2 | JSON,
                0,
                "",
                r#"{"code": "２816 7565 2589 992104", "amount": 5, "currency": "EUR", "idempotency_key": "x"}"#,
            ),
        ),
        (
            "pay-unsigned-device".into(),
            seed(11, 2, 0, "", r#"{"code": "2816 7565 2589 992104"}"#),
        ),
        ("get-payment".into(), seed(12, 2, 0, "@PAY@", "")),
        (
            "sync-other-device".into(),
            seed(5, SIGNED | JSON, 0, "@DEV1@", r#"{"sequence":1,"valid_until":0}"#),
        ),
        ("raw-path".into(), seed(13, 0, 0, "/v1/devices/@DEV@", "{}")),
        ("wrong-method".into(), seed(11, 2 | 0x40, 0, "", pay)),
        ("lying-length".into(), seed(11, 2 | (2 << 4), 15, "", pay)),
    ];
    let mut raw_sig = seed(5, 3 << 2, 0, "", r#"{"sequence":1,"valid_until":1}"#);
    // Raw signature headers: device, timestamp, signature texts.
    raw_sig.truncate(5);
    chunk(&mut raw_sig, b"");
    chunk(&mut raw_sig, b"dev_x");
    chunk(&mut raw_sig, b"-9223372036854775808");
    chunk(&mut raw_sig, b"AAAA");
    raw_sig.extend_from_slice(&[0, 0, 0, 0, 0, 16]);
    raw_sig.extend_from_slice(br#"{"sequence":1,"valid_until":1}"#);
    out.push(("raw-signature-headers".into(), raw_sig));
    out
}

fuzz_target!(|data: &[u8]| {
    paycode_fuzz::write_seeds_if_asked(seeds);
    one(fixture(), data);
});
