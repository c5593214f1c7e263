//! The wallet's network, with a switch: the demo "cuts the cable" by making every request fail
//! as a phone in a basement would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use paycode_core::backend::{Backend, BackendError, BackendRequest, BackendResponse};

/// An HTTP backend that can be switched off.
pub struct SwitchedBackend<B> {
    inner: B,
    up: Arc<AtomicBool>,
}

impl<B> SwitchedBackend<B> {
    /// Wraps `inner`, initially connected.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            up: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Connects or disconnects.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// Whether connected.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }
}

impl<B: Backend> Backend for SwitchedBackend<B> {
    fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError> {
        if self.is_up() {
            self.inner.send(request)
        } else {
            Err(BackendError::Offline)
        }
    }
}
