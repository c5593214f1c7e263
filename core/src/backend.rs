//! The wallet's network: apps implement [`Backend`] on their own HTTP stack (OkHttp,
//! URLSession); the Rust HTTP implementation serves the CLI and end-to-end tests.
//!
//! The core prepares every request completely — path, headers, signed JSON body, timeout — so a
//! `Backend` only POSTs bytes to `base_url + path` and returns the status and body. It never sees
//! a secret: bundles travel sealed, requests are signed by a key it cannot read.
//!
//! Re-entrancy: `send` is called from a wallet worker thread, never while the wallet holds a
//! lock, but it must not call back into the same `Wallet` synchronously and wait for it.

/// Which device operation a request is (for routing, timeouts and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Register the device and receive the first bundle.
    Provision,
    /// Top up / rotate credentials, learn issuer time.
    Sync,
    /// Fetch a server-issued online code.
    OnlineCode,
    /// Void codes up to a captured one.
    Void,
    /// Revoke this device (logout).
    Logout,
    /// Pause payment codes.
    Pause,
    /// Resume payment codes.
    Resume,
}

/// A fully prepared HTTP request: `POST base_url + path` with these headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendRequest {
    /// The operation.
    pub operation: Operation,
    /// Path beginning with `/v1/`.
    pub path: String,
    /// Headers to send as given (`content-type` and the signature headers).
    pub headers: Vec<(String, String)>,
    /// JSON body bytes, to send unchanged (the signature covers them).
    pub body: Vec<u8>,
    /// Give up after this long (ms): the latency budget of this operation.
    pub timeout_ms: u32,
}

/// The issuer's answer: any HTTP status, with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body bytes (JSON).
    pub body: Vec<u8>,
}

/// Why no response arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No network.
    #[error("no network connection")]
    Offline,
    /// The request took longer than its timeout.
    #[error("the issuer did not answer in time")]
    Timeout,
    /// Anything else at the transport level (DNS, TLS, connection reset…).
    #[error("network error: {0}")]
    Transport(String),
}

/// Sends prepared requests to the issuer.
pub trait Backend: Send + Sync {
    /// Sends `request` and returns the response, whatever its status.
    fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError>;
}
