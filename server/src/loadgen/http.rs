//! A minimal HTTP/1.1 client on one keep-alive connection: what a merchant's till does, with
//! none of a general client's costs, so that load tests measure the issuer.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::payments::HEADER_REPLAYED;

/// One keep-alive connection.
pub struct Conn {
    stream: BufReader<TcpStream>,
    closed: bool,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Whether the answer carried `idempotent-replayed: true`.
    pub replayed: bool,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// Whether this is a payment answer with status `accepted`.
    pub fn is_accepted(&self) -> bool {
        self.status == 200 && self.json()["status"] == "accepted"
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn broken(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, what.to_owned())
}

impl Conn {
    /// Connects to `addr` (no Nagle delay).
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            closed: false,
        })
    }

    /// Whether the server said it closes the connection after its last answer.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// `POST path` with a JSON body and an optional bearer token.
    pub async fn post(&mut self, path: &str, bearer: Option<&str>, body: &str) -> std::io::Result<Answer> {
        self.request("POST", path, bearer, body).await
    }

    /// `GET path` with an optional bearer token.
    pub async fn get(&mut self, path: &str, bearer: Option<&str>) -> std::io::Result<Answer> {
        self.request("GET", path, bearer, "").await
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: &str,
    ) -> std::io::Result<Answer> {
        if self.closed {
            return Err(broken("the server closed this connection"));
        }
        let auth = bearer.map_or(String::new(), |b| format!("authorization: Bearer {b}\r\n"));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: paycode\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(broken("connection closed before an answer"));
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| broken("not an HTTP status line"))?;
        let (mut length, mut replayed) = (0usize, false);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(broken("connection closed inside the headers"));
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().map_err(|_| broken("bad content-length"))?;
                } else if name.eq_ignore_ascii_case(HEADER_REPLAYED) {
                    replayed = value == "true";
                } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                    self.closed = true;
                }
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok(Answer {
            status,
            replayed,
            body,
        })
    }
}
