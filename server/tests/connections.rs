//! Connections as an attacker holds them, over real TCP: idle, trickling headers, a body that
//! never comes, more sockets than the issuer has file descriptors; and the `paycode-server`
//! process itself: `--help` and bad options create nothing, SIGTERM stops it and frees the port.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Engine, Harness, test_config};
use paycode_server::Config;

const SHORT: Duration = Duration::from_millis(1000);

fn short_timeouts() -> Config {
    Config {
        header_timeout: SHORT,
        body_timeout: SHORT,
        ..test_config()
    }
}

fn addr(h: &Harness) -> SocketAddr {
    h.base.trim_start_matches("http://").parse().unwrap()
}

/// Reads until the server closes the connection (EOF or reset) and returns what it sent and
/// when it closed; panics if it is still open after `limit`.
fn read_until_closed(stream: &mut TcpStream, started: Instant, limit: Duration) -> (String, Duration) {
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break, // reset: closed too
        }
        assert!(
            started.elapsed() < limit,
            "the connection is still open after {:?}",
            started.elapsed()
        );
    }
    (String::from_utf8_lossy(&received).into_owned(), started.elapsed())
}

#[test]
fn idle_connections_are_closed_after_the_header_timeout() {
    let h = Harness::with_config(Engine::Sqlite, short_timeouts());
    // Opened and never used.
    let started = Instant::now();
    let mut idle = TcpStream::connect(addr(&h)).unwrap();
    let (_, closed) = read_until_closed(&mut idle, started, SHORT * 3);
    assert!(
        closed >= SHORT - Duration::from_millis(100),
        "closed too early: {closed:?}"
    );
    // Used once, then kept alive and idle.
    let mut kept = TcpStream::connect(addr(&h)).unwrap();
    kept.write_all(b"GET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let (answer, _) = read_until_closed(&mut kept, started, SHORT * 3);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn trickled_headers_are_cut_off_at_the_header_timeout() {
    let h = Harness::with_config(Engine::Sqlite, short_timeouts());
    let mut stream = TcpStream::connect(addr(&h)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let started = Instant::now();
    // One byte every 50 ms of a header that never ends, for as long as the server listens.
    let trickle = std::thread::spawn(move || {
        let _ = writer.write_all(b"GET /v1/health HTTP/1.1\r\nhost: x\r\nx-slow: ");
        for _ in 0..200 {
            if writer.write_all(b"a").is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    let (answer, closed) = read_until_closed(&mut stream, started, SHORT * 3);
    assert!(!answer.contains(" 200 "), "{answer}");
    assert!(
        closed >= SHORT - Duration::from_millis(100),
        "closed too early: {closed:?}"
    );
    assert!(trickle.join().unwrap(), "the server kept reading the trickle");
}

#[test]
fn a_body_that_never_comes_gets_408_and_the_connection_is_closed() {
    let h = Harness::with_config(Engine::Sqlite, short_timeouts());
    for path in ["/v1/login", "/v1/users", "/v1/devices"] {
        let mut stream = TcpStream::connect(addr(&h)).unwrap();
        stream
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
                )
                .as_bytes(),
            )
            .unwrap();
        let started = Instant::now();
        let (answer, closed) = read_until_closed(&mut stream, started, SHORT * 3);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("\"request_timeout\""), "{path}: {answer}");
        assert!(
            closed >= SHORT - Duration::from_millis(100),
            "{path}: closed too early"
        );
    }
    // The issuer still serves.
    let (status, _) = h.post(
        "/v1/users",
        None,
        &serde_json::json!({"username": "after", "password": "correct horse"}),
    );
    assert_eq!(status, 201);
}

/// A `paycode-server` process in its own directory; killed if a test fails half-way.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn server_command(dir: &Path, addr: SocketAddr) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paycode-server"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PAYCODE_LISTEN", addr.to_string())
        .env(
            "PAYCODE_DATABASE_URL",
            format!("sqlite:{}", dir.join("issuer.db").display()),
        )
        .env("PAYCODE_ISSUER_SECRET_FILE", dir.join("issuer.keys"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// `GET /v1/health` on a fresh connection; the status line, or why not.
fn health(addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    Ok(answer.lines().next().unwrap_or("").to_owned())
}

fn wait_healthy(addr: SocketAddr) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if health(addr, Duration::from_secs(2)).is_ok_and(|line| line.contains(" 200 ")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the issuer did not come up on {addr}");
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < limit, "still running {limit:?} after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn more_idle_sockets_than_file_descriptors_do_not_stop_the_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    // The real binary with 256 file descriptors and the default connection cap, which it lowers
    // to fit; idle connections are closed after 2 s.
    let mut command = Command::new("prlimit");
    command
        .args(["--nofile=256:256", "--"])
        .arg(env!("CARGO_BIN_EXE_paycode-server"));
    let inner = server_command(dir.path(), addr);
    let log = dir.path().join("stderr.log");
    let child = command
        .current_dir(dir.path())
        .env_clear()
        .envs(inner.get_envs().map(|(k, v)| (k, v.unwrap())))
        .env("PAYCODE_HEADER_TIMEOUT_SECS", "2")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("prlimit (util-linux) runs paycode-server");
    let server = Server { child, addr };
    wait_healthy(server.addr);
    let idle: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    let started = Instant::now();
    let line = health(server.addr, Duration::from_secs(20)).expect("health answers");
    assert!(line.contains(" 200 "), "{line}");
    // The cap (256 − 64 = 192) accepts the idle sockets in two rounds of 2 s; health is next.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("max_connections=192"), "{text}");
    assert!(!text.contains("cannot accept"), "ran out of descriptors:\n{text}");
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn help_and_bad_arguments_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_paycode-server"));
        command.current_dir(dir.path()).env_clear().args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let help = run(&["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("Usage: paycode-server"), "{text}");
    assert!(
        text.contains("create-merchant") && text.contains("PAYCODE_LISTEN"),
        "{text}"
    );
    for args in [
        &["--bogus"][..],
        &["serve", "--bogus"],
        &["bogus"],
        &["create-merchant"],
    ] {
        let out = run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty(), "{args:?}");
    }
    // A configuration that does not make sense is refused before anything is created too.
    let out = run(&["serve"], &[("PAYCODE_STEP_SECS", "abc")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PAYCODE_STEP_SECS"));
    assert_eq!(entries(dir.path()), Vec::<String>::new(), "files were created");
}

#[test]
fn sigterm_stops_the_issuer_and_frees_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    for round in 0..2 {
        // The second round reuses the port: it is free only if the first process is gone.
        let mut server = Server {
            child: server_command(dir.path(), addr)
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            addr,
        };
        wait_healthy(server.addr);
        // An idle keep-alive connection does not hold the shutdown up.
        let _idle = TcpStream::connect(server.addr).unwrap();
        sigterm(&server.child);
        let status = wait_exit(&mut server.child, Duration::from_secs(15));
        assert!(status.success(), "round {round}: {status}");
        assert!(
            health(addr, Duration::from_secs(1)).is_err(),
            "round {round}: still serving"
        );
    }
}
