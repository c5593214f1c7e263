//! The HTTP backend against plain sockets: statuses pass through, refused connections are
//! `Offline`, silent servers are `Timeout`. (The server crate's tests use it against the issuer.)

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Instant;

use paycode_core::backend::{Backend, BackendError, BackendRequest, Operation};
use paycode_http::HttpBackend;

fn request(timeout_ms: u32) -> BackendRequest {
    BackendRequest {
        operation: Operation::Sync,
        path: "/v1/devices/dev_1/sync".into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("paycode-device".into(), "dev_1".into()),
        ],
        body: b"{\"sequence\":1,\"valid_until\":0}".to_vec(),
        timeout_ms,
    }
}

#[test]
fn posts_the_prepared_request_and_returns_any_status() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Read until the whole body (which ends with '}') has arrived.
        while !seen.ends_with(b"}") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "client closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        let body = b"{\"error\":{\"code\":\"device_revoked\",\"message\":\"m\"}}";
        write!(
            stream,
            "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        String::from_utf8(seen).unwrap()
    });
    let response = HttpBackend::new(format!("{base}/")).send(request(5_000)).unwrap();
    assert_eq!(response.status, 403);
    assert!(response.body.starts_with(b"{\"error\""));
    let seen = server.join().unwrap();
    assert!(
        seen.starts_with("POST /v1/devices/dev_1/sync HTTP/1.1\r\n"),
        "{seen}"
    );
    assert!(seen.to_lowercase().contains("paycode-device: dev_1"));
    assert!(seen.ends_with("{\"sequence\":1,\"valid_until\":0}"));
}

#[test]
fn refused_connection_is_offline() {
    // Bind then drop: the port is (for this test's purposes) closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = HttpBackend::new(format!("http://127.0.0.1:{port}"))
        .send(request(2_000))
        .unwrap_err();
    assert_eq!(error, BackendError::Offline);
}

#[test]
fn silent_server_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // Accepts and never answers; held open until the test ends.
    let holder = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let started = Instant::now();
    let error = HttpBackend::new(base).send(request(300)).unwrap_err();
    assert_eq!(error, BackendError::Timeout);
    assert!(
        started.elapsed().as_millis() < 5_000,
        "the request's own timeout applies"
    );
    drop(holder);
}
