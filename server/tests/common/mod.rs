//! Test harness: a real issuer on loopback (127.0.0.1:0) over a real SQLite file in a temp
//! dir, or a fresh database on the PostgreSQL server of `PAYCODE_TEST_POSTGRES_URL`; a device
//! simulated with the core's primitives; a blocking HTTP client. Time is a `ManualClock`.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use paycode_core::backend::{Backend, BackendRequest, Operation};
use paycode_core::bundle;
use paycode_core::device::DeviceSecret;
use paycode_core::entropy::OsEntropy;
use paycode_core::wire::{self, BundleResponse};
use paycode_core::{Clock, IssuerKeyring, IssuerSecret, ManualClock, PaymentCode, Prefix};
use paycode_http::HttpBackend;
use paycode_server::ratelimit::RateLimits;
use paycode_server::{AppState, Config};
use serde_json::{Value, json};

/// 2026-11-22T01:00:00Z.
pub const T0: i64 = 1_795_309_200;
pub const ADMIN: &str = "test-admin-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub struct Harness {
    pub engine: Engine,
    pub rt: tokio::runtime::Runtime,
    pub state: Arc<AppState>,
    pub clock: ManualClock,
    pub base: String,
    pub http: ureq::Agent,
    pub backend: HttpBackend,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The engines to run a test on: SQLite always, PostgreSQL when its URL is set.
pub fn engines() -> Vec<Engine> {
    let mut out = vec![Engine::Sqlite];
    if postgres_url().is_some() {
        out.push(Engine::Postgres);
    }
    out
}

fn postgres_url() -> Option<String> {
    std::env::var("PAYCODE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

pub fn test_config() -> Config {
    Config {
        admin_token: Some(ADMIN.into()),
        open_registration: true,
        strong_password_hashing: false,
        initial_balance: 1_000_000,
        // The tests' timelines were written for a week of validity (the protocol-1 default);
        // protocol 2 allows it (the largest table, ADR 010). Production defaults to 3 days.
        validity_secs: 7 * 86_400,
        refresh_below_secs: 2 * 86_400,
        limits: RateLimits {
            merchant_failures: 1_000,
            merchant_slot_failures: 1_000,
            slot_failures: 1_000,
            global_failures: 100_000,
            ..RateLimits::default()
        },
        ..Config::default()
    }
}

impl Harness {
    pub fn new(engine: Engine) -> Self {
        Self::with_config(engine, test_config())
    }

    pub fn with_config(engine: Engine, config: Config) -> Self {
        let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x42; 32]));
        Self::with_keyring(engine, config, keyring)
    }

    pub fn with_keyring(engine: Engine, mut config: Config, keyring: IssuerKeyring) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        config.database_url = match engine {
            Engine::Sqlite => format!("sqlite:{}", dir.path().join("issuer.db").display()),
            Engine::Postgres => rt.block_on(fresh_postgres_database()),
        };
        let clock = ManualClock::at_secs(T0);
        let state = rt
            .block_on(AppState::new(config, keyring, Arc::new(clock.clone())))
            .expect("issuer starts");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(paycode_server::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let base = format!("http://{addr}");
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            engine,
            backend: HttpBackend::new(base.clone()),
            rt,
            state,
            clock,
            base,
            http,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    /// POSTs raw bytes with headers; returns status, JSON body and headers of interest.
    pub fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).expect("HTTP round trip");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON answer ({status}) from {path}: {text:?}"));
        (status, value)
    }

    pub fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
        let auth = bearer.map(|b| format!("Bearer {b}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        self.post_raw(path, &headers, body.to_string().as_bytes())
    }

    pub fn get(&self, path: &str, bearer: &str) -> (u16, Value) {
        let mut resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {bearer}"))
            .call()
            .expect("HTTP round trip");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().expect("JSON"))
    }

    pub fn user(&self, name: &str) -> String {
        let (status, body) = self.post(
            "/v1/users",
            None,
            &json!({"username": name, "password": "correct horse"}),
        );
        assert_eq!(status, 201, "{body}");
        body["user_id"].as_str().unwrap().to_owned()
    }

    pub fn login(&self, name: &str) -> String {
        let (status, body) = self.post(
            "/v1/login",
            None,
            &json!({"username": name, "password": "correct horse"}),
        );
        assert_eq!(status, 200, "{body}");
        body["login_token"].as_str().unwrap().to_owned()
    }

    pub fn merchant(&self, name: &str) -> String {
        let (status, body) = self.post("/v1/admin/merchants", Some(ADMIN), &json!({"name": name}));
        assert_eq!(status, 201, "{body}");
        body["api_key"].as_str().unwrap().to_owned()
    }

    pub fn pay(&self, key: &str, code: &str, amount: i64, idempotency_key: &str) -> (u16, Value) {
        self.post(
            "/v1/payments",
            Some(key),
            &json!({"code": code, "amount": amount, "currency": "EUR", "idempotency_key": idempotency_key}),
        )
    }

    /// Pays and returns the body, asserting HTTP 200.
    pub fn pay_ok(&self, key: &str, code: &PaymentCode, amount: i64, idempotency_key: &str) -> Value {
        let (status, body) = self.pay(key, &code.display(), amount, idempotency_key);
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn balance(&self, user_id: &str) -> i64 {
        self.rt.block_on(self.state.db.balance(user_id)).unwrap().unwrap()
    }

    pub fn count(&self, table: &str) -> i64 {
        self.rt.block_on(self.state.db.count(table)).unwrap()
    }

    /// The SQLite database's files (main, WAL, shared memory) as they are on disk now.
    pub fn sqlite_files(&self) -> Vec<std::path::PathBuf> {
        ["issuer.db", "issuer.db-wal", "issuer.db-shm"]
            .iter()
            .map(|name| self._dir.path().join(name))
            .filter(|path| path.exists())
            .collect()
    }

    pub fn now(&self) -> i64 {
        self.clock.now_secs()
    }
}

async fn fresh_postgres_database() -> String {
    let url = postgres_url().expect("PAYCODE_TEST_POSTGRES_URL");
    paycode_server::loadgen::fresh_postgres_database(&url)
        .await
        .expect("create a test database")
}

/// A simulated wallet: device key, id and current credential.
pub struct Device {
    pub secret: DeviceSecret,
    pub id: String,
    pub credential: paycode_core::Credential,
    pub sequence: u64,
}

impl Device {
    /// Provisions a new device for the user of `login_token`.
    pub fn provision(h: &Harness, login_token: &str) -> Self {
        let secret = DeviceSecret::generate(&OsEntropy).unwrap();
        let (status, body) = provision_request(h, &secret, login_token);
        assert_eq!(status, 200, "{body}");
        let response: BundleResponse = serde_json::from_value(body).unwrap();
        let bytes = wire::unb64(response.bundle.as_deref().unwrap()).unwrap();
        let opened = bundle::open(&bytes, &secret).expect("bundle opens with the device key");
        assert_eq!(opened.header.device_id, response.device_id);
        Self {
            secret,
            id: response.device_id,
            credential: opened.credential,
            sequence: opened.header.sequence,
        }
    }

    /// The code for now (issuer time) and `counter`.
    pub fn code(&self, h: &Harness, counter: u8) -> PaymentCode {
        self.credential
            .code_at(h.now(), counter)
            .expect("device can make a code")
    }

    /// Sends a signed device request through the wallet's HTTP backend. The clock moves by
    /// 1 ms first: two identical requests signed in the same millisecond are one request.
    pub fn send(&self, h: &Harness, operation: &str, body: &Value) -> (u16, Value) {
        h.clock.advance_ms(1);
        let body = body.to_string().into_bytes();
        signed_send(
            h,
            &self.secret,
            &self.id,
            &wire::device_path(&self.id, operation),
            body,
            h.clock.now_ms(),
        )
    }
}

pub fn signed_send(
    h: &Harness,
    secret: &DeviceSecret,
    device_id: &str,
    path: &str,
    body: Vec<u8>,
    timestamp_ms: i64,
) -> (u16, Value) {
    let signature = secret.sign_request(path, device_id, timestamp_ms, &body);
    let request = BackendRequest {
        operation: Operation::Sync,
        path: path.to_owned(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (wire::HEADER_DEVICE.into(), device_id.into()),
            (wire::HEADER_TIMESTAMP.into(), timestamp_ms.to_string()),
            (wire::HEADER_SIGNATURE.into(), wire::b64(&signature)),
        ],
        body,
        timeout_ms: 30_000,
    };
    let response = h.backend.send(request).expect("issuer reachable");
    let value = serde_json::from_slice(&response.body).expect("JSON answer");
    (response.status, value)
}

pub fn provision_request(h: &Harness, secret: &DeviceSecret, login_token: &str) -> (u16, Value) {
    let keys = secret.public_keys();
    let body = json!({
        "login_token": login_token,
        "signing_key": wire::b64(&keys.signing),
        "sealing_key": wire::b64(&keys.sealing),
        "platform": "test",
    });
    signed_send(
        h,
        secret,
        "",
        wire::PATH_PROVISION,
        body.to_string().into_bytes(),
        h.clock.now_ms(),
    )
}

/// A user with one device and a merchant key.
pub fn setup(h: &Harness, name: &str) -> (String, Device, String) {
    let user = h.user(name);
    let device = Device::provision(h, &h.login(name));
    let key = h.merchant(&format!("shop of {name}"));
    (user, device, key)
}
