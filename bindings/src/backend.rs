//! `Backend`: the app's HTTP stack (OkHttp, Ktor, URLSession), as an **async** foreign trait,
//! adapted to the core's synchronous `backend::Backend`.
//!
//! The core prepares every request completely (path, signed headers, body, timeout) and calls
//! `send` on one of its short-lived worker threads, or on the app's thread for the blocking
//! calls (`provision`, `sync`, `logout`, which the platform facades run off the main thread).
//! There the adapter drives the foreign future to completion with a minimal parking executor:
//! uniffi's foreign future is a oneshot channel that the Kotlin coroutine / Swift task completes,
//! so no Rust async runtime is needed. If the answer does not arrive within the request's
//! `timeout_ms` (plus a small grace), the future is dropped — which cancels the foreign
//! coroutine/task — and the core sees `Timeout`. See docs/adr/002-async-backend.md.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use paycode_core::backend as core;

use crate::guard::contain;
use crate::listener::{LogLevel, log};

/// Which device operation a request is (for routing, timeouts and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Operation {
    /// Register the device and receive the first credentials.
    Provision,
    /// Top up / rotate credentials, learn the issuer's time.
    Sync,
    /// Fetch a server-issued online code.
    OnlineCode,
    /// Void codes up to a captured one (after a screenshot).
    Void,
    /// Revoke this device (logout).
    Logout,
    /// Pause payment codes.
    Pause,
    /// Resume payment codes.
    Resume,
}

impl From<core::Operation> for Operation {
    fn from(op: core::Operation) -> Self {
        match op {
            core::Operation::Provision => Operation::Provision,
            core::Operation::Sync => Operation::Sync,
            core::Operation::OnlineCode => Operation::OnlineCode,
            core::Operation::Void => Operation::Void,
            core::Operation::Logout => Operation::Logout,
            core::Operation::Pause => Operation::Pause,
            core::Operation::Resume => Operation::Resume,
        }
    }
}

/// A fully prepared request: `POST <issuer base URL> + path` with exactly these headers and body.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackendRequest {
    /// The operation (for routing, metrics and logs).
    pub operation: Operation,
    /// Path beginning with `/v1/`.
    pub path: String,
    /// Headers to send as given (`content-type` and the signature headers).
    pub headers: HashMap<String, String>,
    /// JSON body, to send byte for byte (the signature covers it).
    pub body: Vec<u8>,
    /// Give up after this many milliseconds.
    pub timeout_ms: u32,
}

/// The issuer's answer, whatever its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackendResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body (JSON).
    pub body: Vec<u8>,
}

/// Why no HTTP response arrived. (An HTTP error status is a response, not an error.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum BackendError {
    /// No network connection.
    #[error("no network connection")]
    Offline,
    /// No answer within the request's timeout.
    #[error("the issuer did not answer in time")]
    Timeout,
    /// Any other transport failure (DNS, TLS, connection reset…).
    #[error("network error: {reason}")]
    Transport {
        /// What the HTTP stack said.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for BackendError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        BackendError::Transport {
            reason: format!("the app's Backend threw an unexpected exception: {}", e.reason),
        }
    }
}

impl From<BackendError> for core::BackendError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Offline => core::BackendError::Offline,
            BackendError::Timeout => core::BackendError::Timeout,
            BackendError::Transport { reason } => core::BackendError::Transport(reason),
        }
    }
}

impl From<core::BackendError> for BackendError {
    fn from(e: core::BackendError) -> Self {
        match e {
            core::BackendError::Offline => BackendError::Offline,
            core::BackendError::Timeout => BackendError::Timeout,
            core::BackendError::Transport(reason) => BackendError::Transport { reason },
        }
    }
}

impl From<core::BackendRequest> for BackendRequest {
    fn from(r: core::BackendRequest) -> Self {
        Self {
            operation: r.operation.into(),
            path: r.path,
            headers: r.headers.into_iter().collect(),
            body: r.body,
            timeout_ms: r.timeout_ms,
        }
    }
}

impl From<BackendRequest> for core::BackendRequest {
    fn from(r: BackendRequest) -> Self {
        let mut headers: Vec<(String, String)> = r.headers.into_iter().collect();
        headers.sort();
        Self {
            operation: match r.operation {
                Operation::Provision => core::Operation::Provision,
                Operation::Sync => core::Operation::Sync,
                Operation::OnlineCode => core::Operation::OnlineCode,
                Operation::Void => core::Operation::Void,
                Operation::Logout => core::Operation::Logout,
                Operation::Pause => core::Operation::Pause,
                Operation::Resume => core::Operation::Resume,
            },
            path: r.path,
            headers,
            body: r.body,
            timeout_ms: r.timeout_ms,
        }
    }
}

/// Sends prepared requests to the issuer: implemented by the app on its HTTP stack.
///
/// `send` is a suspend function in Kotlin and `async` in Swift; it runs in the platform's own
/// concurrency (a `GlobalScope` coroutine / a `Task`), and is cancelled if the wallet stops
/// waiting (timeout). It must POST `body` to the issuer's base URL + `path` with `headers`,
/// honour `timeout_ms`, and return any HTTP status as a response. It must not call into the
/// wallet. It never sees a secret: bodies are signed or sealed by the core.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Sends `request`; returns the response whatever its status, or why none arrived.
    async fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError>;
}

/// Extra time given to the app's HTTP stack past `timeout_ms` before the wallet stops waiting
/// (the app's own timeout should fire first and say why).
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// The app's backend seen as the core's.
pub(crate) struct BackendAdapter(pub(crate) Arc<dyn Backend>);

impl core::Backend for BackendAdapter {
    fn send(&self, request: core::BackendRequest) -> Result<core::BackendResponse, core::BackendError> {
        let operation = request.operation;
        let deadline = Instant::now() + Duration::from_millis(u64::from(request.timeout_ms)) + TIMEOUT_GRACE;
        let result = contain(
            "Backend.send",
            || block_on_until(self.0.send(request.into()), deadline),
            || {
                Some(Err(BackendError::Transport {
                    reason: "the Backend implementation panicked".to_owned(),
                }))
            },
        );
        match result {
            Some(Ok(response)) => Ok(core::BackendResponse {
                status: response.status,
                body: response.body,
            }),
            Some(Err(e)) => {
                log(LogLevel::Warn, &format!("backend {operation:?}: {e}"));
                Err(e.into())
            }
            None => {
                log(
                    LogLevel::Warn,
                    &format!("backend {operation:?}: no answer in time, cancelled"),
                );
                Err(core::BackendError::Timeout)
            }
        }
    }
}

/// Wakes the thread blocked in [`block_on_until`].
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it completes (`Some`) or `deadline` passes (`None`, and
/// the future is dropped). A parking loop: spurious wake-ups only cost a poll.
pub(crate) fn block_on_until<F: Future>(future: F, deadline: Instant) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::park_timeout(deadline - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A future completed from another thread after `delay`, like a foreign coroutine.
    struct Later {
        done: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for Later {
        type Output = u32;
        fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.done.load(Ordering::SeqCst) {
                Poll::Ready(7)
            } else {
                Poll::Pending
            }
        }
    }

    fn later(delay: Duration) -> Later {
        let done = Arc::new(AtomicBool::new(false));
        let waker: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let (d, w) = (done.clone(), waker.clone());
        thread::spawn(move || {
            thread::sleep(delay);
            d.store(true, Ordering::SeqCst);
            if let Some(w) = w.lock().unwrap().take() {
                w.wake();
            }
        });
        Later { done, waker }
    }

    #[test]
    fn completes_when_woken_from_another_thread() {
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            block_on_until(later(Duration::from_millis(20)), deadline),
            Some(7)
        );
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(50);
        assert_eq!(block_on_until(later(Duration::from_secs(2)), deadline), None);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_secs(1),
            "{waited:?}"
        );
    }
}
