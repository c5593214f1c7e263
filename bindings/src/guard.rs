//! Keeping panics on the Rust side of the boundary.
//!
//! Calls *into* Rust through an exported function are already wrapped by uniffi's scaffolding in
//! `catch_unwind` (a panic becomes `InternalException` / an `internalError`), which needs
//! `panic = "unwind"` in every profile that builds this library. What uniffi does not cover are
//! panics on threads the core starts itself (listener and backend calls from wallet workers):
//! those go through [`contain`], which turns a panic into a logged error and a fallback value.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::listener::{LogLevel, log};

/// Runs `f`; if it panics, logs `what` and the panic message, and returns `fallback()`.
pub(crate) fn contain<T>(what: &str, f: impl FnOnce() -> T, fallback: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            log(LogLevel::Error, &format!("{what} panicked: {message}"));
            fallback()
        }
    }
}
