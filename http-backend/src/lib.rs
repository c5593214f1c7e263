//! # paycode-http
//!
//! [`HttpBackend`]: the wallet's [`Backend`] over blocking HTTP (`ureq`), for the CLI, the
//! end-to-end tests and desktop wallets. Mobile apps implement `Backend` on their own stack.
//!
//! It POSTs the core's prepared body to `base_url + path` with the core's headers and timeout,
//! and returns any HTTP status with its body. Connection refused / unreachable map to
//! [`BackendError::Offline`], timeouts to [`BackendError::Timeout`], everything else to
//! [`BackendError::Transport`]. It never sees a secret.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::Read;
use std::time::Duration;

use paycode_core::backend::{Backend, BackendError, BackendRequest, BackendResponse};

/// Largest response body read (a bundle is < 2 KiB; errors are small).
const MAX_RESPONSE: u64 = 1 << 20;

/// A [`Backend`] that talks HTTP to an issuer at `base_url` (e.g. `http://127.0.0.1:8080`).
#[derive(Debug, Clone)]
pub struct HttpBackend {
    base_url: String,
    agent: ureq::Agent,
}

impl HttpBackend {
    /// A backend for the issuer at `base_url` (no trailing slash needed).
    pub fn new(base_url: impl Into<String>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The issuer's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

fn map_error(error: ureq::Error) -> BackendError {
    use std::io::ErrorKind;
    match error {
        ureq::Error::Timeout(_) => BackendError::Timeout,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => BackendError::Offline,
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused
            | ErrorKind::NetworkUnreachable
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkDown
            | ErrorKind::AddrNotAvailable => BackendError::Offline,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => BackendError::Timeout,
            _ => BackendError::Transport(io.to_string()),
        },
        other => BackendError::Transport(other.to_string()),
    }
}

impl Backend for HttpBackend {
    fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError> {
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(Duration::from_millis(u64::from(request.timeout_ms.max(1)))))
            .build();
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut response = builder.send(&request.body[..]).map_err(map_error)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE)
            .read_to_end(&mut body)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut => BackendError::Timeout,
                _ => BackendError::Transport(e.to_string()),
            })?;
        Ok(BackendResponse { status, body })
    }
}
