//! Callbacks to the app: pushed wallet states ([`CodeListener`]) and diagnostics ([`Logger`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, RwLock};

use crate::wallet::PaymentCodeState;

/// Receives every state the wallet pushes (a new step's code, a hide, a refresh after an
/// event handled in the background…).
///
/// Called on a wallet worker thread or on the thread that called the wallet, never while the
/// wallet holds a lock. Return quickly: post the state to the UI thread and do nothing else
/// there. Never call back into the wallet from `on_state` and wait for it. An exception thrown
/// here is caught and logged; it does not reach the wallet.
#[uniffi::export(with_foreign)]
pub trait CodeListener: Send + Sync {
    /// A new state to show.
    fn on_state(&self, state: PaymentCodeState);
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Details for debugging.
    Debug,
    /// Something worth knowing.
    Info,
    /// Something went wrong and was handled (a network failure, a listener exception).
    Warn,
    /// Something went wrong that should not have (a caught panic).
    Error,
}

/// Receives the library's diagnostics. Lines never contain secrets, codes or tokens.
/// Called on any thread; must not block or call into paycode.
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    /// One line of diagnostics.
    fn log(&self, level: LogLevel, message: String);
}

static LOGGER: RwLock<Option<Arc<dyn Logger>>> = RwLock::new(None);

/// Installs (or with `None` removes) the process-wide logger.
#[uniffi::export]
pub fn set_logger(logger: Option<Arc<dyn Logger>>) {
    *LOGGER.write().unwrap_or_else(|p| p.into_inner()) = logger;
}

/// Logs a line if a logger is installed. A failing logger is ignored (there is nowhere left to
/// report it).
pub(crate) fn log(level: LogLevel, message: &str) {
    let logger = LOGGER.read().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(logger) = logger {
        let _ = catch_unwind(AssertUnwindSafe(|| logger.log(level, message.to_owned())));
    }
}
