//! An issuer embedded in this process: the real server on loopback over a temporary SQLite
//! file, plus a merchant's and a user's HTTP calls to it.

use std::sync::Arc;

use paycode_core::{Clock, IssuerKeyring, IssuerSecret, Prefix};
use paycode_server::{AppState, Config};
use serde_json::{Value, json};

/// A running issuer; stops when dropped.
pub struct EmbeddedIssuer {
    pub base_url: String,
    admin_token: String,
    http: ureq::Agent,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A merchant's answer to a payment.
#[derive(Debug, Clone)]
pub struct Decision {
    pub status: String,
    pub reason: Option<String>,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            Some(reason) => write!(f, "{} ({reason})", self.status),
            None => f.write_str(&self.status),
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl EmbeddedIssuer {
    /// Starts an issuer whose clock is `clock`, on 127.0.0.1 with a fresh SQLite file.
    pub fn start(clock: Arc<dyn Clock>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        let admin_token = random_hex(16);
        let config = Config {
            database_url: format!("sqlite:{}", dir.path().join("issuer.db").display()),
            admin_token: Some(admin_token.clone()),
            open_registration: true,
            ..Config::default()
        };
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
        let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes(secret));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let base_url = runtime.block_on(async {
            let state = AppState::new(config, keyring, clock)
                .await
                .map_err(|e| e.to_string())?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tokio::spawn(paycode_server::serve(listener, state, async {
                let _ = rx.await;
            }));
            Ok::<_, String>(format!("http://{addr}"))
        })?;
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            base_url,
            admin_token,
            http,
            _runtime: runtime,
            _dir: dir,
            shutdown: Some(tx),
        })
    }

    fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Result<(u16, Value), String> {
        let mut request = self.http.post(format!("{}{path}", self.base_url));
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut response = request.send_json(body).map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status().as_u16();
        let value = response.body_mut().read_json::<Value>().unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Creates a user and returns a fresh login token for it.
    pub fn user_login_token(&self, username: &str, password: &str) -> Result<String, String> {
        let (status, body) = self.post(
            "/v1/users",
            None,
            json!({"username": username, "password": password}),
        )?;
        if status != 201 {
            return Err(format!("creating user: HTTP {status} {body}"));
        }
        let (status, body) = self.post(
            "/v1/login",
            None,
            json!({"username": username, "password": password}),
        )?;
        body["login_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("login: HTTP {status} {body}"))
    }

    /// Creates a merchant and returns its API key.
    pub fn merchant_key(&self, name: &str) -> Result<String, String> {
        let (status, body) = self.post(
            "/v1/admin/merchants",
            Some(&self.admin_token),
            json!({"name": name}),
        )?;
        body["api_key"]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("merchant: HTTP {status} {body}"))
    }

    /// The merchant's backend sends `code` with an amount; the issuer decides.
    pub fn pay(&self, api_key: &str, code: &str, amount: i64) -> Result<Decision, String> {
        let body =
            json!({"code": code, "amount": amount, "currency": "CNY", "idempotency_key": random_hex(12)});
        let (http_status, body) = self.post("/v1/payments", Some(api_key), body)?;
        let status = body["status"].as_str().map(str::to_owned).unwrap_or_else(|| {
            body["error"]["code"]
                .as_str()
                .map_or_else(|| format!("http {http_status}"), |c| format!("error {c}"))
        });
        Ok(Decision {
            status,
            reason: body["reason"].as_str().map(str::to_owned),
        })
    }
}

impl Drop for EmbeddedIssuer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
