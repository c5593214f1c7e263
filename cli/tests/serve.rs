//! `paycode serve` runs the issuer in its own process and stops on SIGTERM; `paycode wallet`
//! keeps one wallet per `--profile` in the real OS keyring (keyutils), side by side.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "serve-test-admin";

/// A `paycode serve` process; killed if a test fails half-way.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(dir: &Path, addr: SocketAddr) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_paycode"))
            .arg("serve")
            .current_dir(dir)
            .env("PAYCODE_LISTEN", addr.to_string())
            .env(
                "PAYCODE_DATABASE_URL",
                format!("sqlite:{}", dir.join("issuer.db").display()),
            )
            .env("PAYCODE_ISSUER_SECRET_FILE", dir.join("issuer.keys"))
            .env("PAYCODE_ADMIN_TOKEN", ADMIN)
            .env("PAYCODE_OPEN_REGISTRATION", "true")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("paycode runs");
        let serve = Self { child, addr };
        let started = Instant::now();
        while health(addr) != Some(200) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "paycode serve did not come up on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        serve
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn health(addr: SocketAddr) -> Option<u16> {
    agent()
        .get(format!("http://{addr}/v1/health"))
        .call()
        .ok()
        .map(|r| r.status().as_u16())
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn post(url: String, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = agent().post(url);
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut response = request.send_json(body).expect("HTTP round trip");
    let status = response.status().as_u16();
    (status, response.body_mut().read_json().unwrap_or(Value::Null))
}

#[test]
fn sigterm_stops_paycode_serve_and_frees_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    for round in 0..2 {
        // Round 1 binds the same port: only possible if round 0's issuer is gone.
        let mut serve = Serve::start(dir.path(), addr);
        let _idle = TcpStream::connect(addr).unwrap();
        let kill = Command::new("kill")
            .args(["-TERM", &serve.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = serve.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "round {round}: paycode serve still runs after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "round {round}: {status}");
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "round {round}: something still listens on {addr}"
        );
    }
}

fn wallet(base: &str, profile: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paycode"))
        .args(["wallet", "--issuer", base, "--profile", profile])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("paycode runs")
}

/// The code `paycode wallet show` prints, if it shows one.
fn shown_code(base: &str, profile: &str) -> Option<String> {
    let out = wallet(base, profile, &["show"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code: String = text.chars().take(21).collect();
    (code.split(' ').map(str::len).collect::<Vec<_>>() == [4, 4, 4, 6]).then_some(code)
}

#[test]
fn two_wallet_profiles_live_side_by_side_in_the_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), free_port());
    let base = serve.base();
    let mut suffix = [0u8; 4];
    getrandom::fill(&mut suffix).unwrap();
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let (alice, bob) = (format!("alice-{suffix}"), format!("bob-{suffix}"));
    let token = |name: &str| {
        let credentials = json!({"username": name, "password": "correct horse"});
        let (status, body) = post(format!("{base}/v1/users"), None, credentials.clone());
        assert_eq!(status, 201, "{body}");
        let (status, body) = post(format!("{base}/v1/login"), None, credentials);
        assert_eq!(status, 200, "{body}");
        body["login_token"].as_str().unwrap().to_owned()
    };
    let (_, merchant) = post(
        format!("{base}/v1/admin/merchants"),
        Some(ADMIN),
        json!({"name": "corner shop"}),
    );
    let api_key = merchant["api_key"].as_str().unwrap().to_owned();
    let pay = |code: &str, key: &str| {
        let (status, body) = post(
            format!("{base}/v1/payments"),
            Some(&api_key),
            json!({"code": code, "amount": 100, "currency": "CNY", "idempotency_key": key}),
        );
        assert_eq!(status, 200, "{body}");
        body["status"].as_str().unwrap().to_owned()
    };

    for (profile, user) in [(&alice, &alice), (&bob, &bob)] {
        let out = wallet(&base, profile, &["login", &token(user)]);
        assert!(out.status.success(), "{profile}: {out:?}");
    }
    // Bob's login did not replace Alice's wallet: both show codes, of different devices, and
    // the issuer accepts both.
    let a = shown_code(&base, &alice).expect("alice's wallet shows a code");
    let b = shown_code(&base, &bob).expect("bob's wallet shows a code");
    assert_ne!(a, b);
    assert_eq!(pay(&a, "pay-a"), "accepted");
    assert_eq!(pay(&b, "pay-b"), "accepted");

    // Logging one profile out leaves the other working.
    let out = wallet(&base, &alice, &["logout"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(shown_code(&base, &alice), None, "alice's wallet was wiped");
    let out = wallet(&base, &bob, &["screenshot"]);
    assert!(out.status.success(), "{out:?}");
    let b2 = shown_code(&base, &bob).expect("bob's wallet still shows a code");
    assert_ne!(b2, b);
    assert_eq!(pay(&b2, "pay-b2"), "accepted");
    let out = wallet(&base, &bob, &["logout"]);
    assert!(out.status.success(), "{out:?}");

    // A profile name that could reach another profile's entries is refused before anything.
    let out = wallet(&base, "a.cred", &["show"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
