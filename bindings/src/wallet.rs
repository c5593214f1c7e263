//! The `Wallet` object and its vocabulary: events in, states out, errors.
//!
//! Names follow the core, except two that app developers see on screen: the core's `ShownCode`
//! is `PaymentCode` and its `WalletState` is `PaymentCodeState` (the core's own `PaymentCode`,
//! the parsed 18 digits, is `ParsedCode` here). See docs/adr/001-ffi-facade.md.

use std::sync::Arc;

use paycode_core::backend::BackendError as CoreBackendError;
use paycode_core::vault::StoreError as CoreStoreError;
use paycode_core::wallet as core;

use crate::backend::BackendAdapter;
use crate::guard::contain;
use crate::listener::CodeListener;
use crate::store::StoreAdapter;
use crate::{Backend, SecretStore};

/// Where a code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CodeSource {
    /// Made on the phone from its offline credential.
    Offline,
    /// Issued by the server (when an offline code was impossible and the network was up).
    Online,
}

/// A code to show now. (Core name: `ShownCode`.)
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaymentCode {
    /// The 18 digits, for the barcode / QR code.
    pub digits: String,
    /// The 4-4-4-6 form for people, e.g. "2816 7565 2589 992104".
    pub display: String,
    /// Offline or online.
    pub source: CodeSource,
    /// When it became valid (Unix ms, device clock).
    pub valid_from_ms: i64,
    /// When to ask for the state again (Unix ms, device clock): the next step.
    pub refresh_at_ms: i64,
    /// When the issuer stops accepting it (Unix ms, device clock).
    pub expires_at_ms: i64,
}

/// What the payment screen should show. (Core name: `WalletState`.) Never a fake code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PaymentCodeState {
    /// Show this code; ask again at its `refresh_at_ms`.
    Code {
        /// The code.
        code: PaymentCode,
    },
    /// In the background or being captured: show nothing.
    Hidden,
    /// No code can be made offline and there is no network (credentials expired, clock
    /// untrusted…): ask the user to connect.
    NeedsNetwork,
    /// Not provisioned, logged out or revoked: the user must log in.
    NeedsLogin,
    /// The keystore is locked: ask the user to unlock the device.
    Locked,
    /// The user paused payment codes.
    Paused,
    /// An online code is being fetched: show a spinner; ask again at `until_ms` at the latest
    /// (a listener call usually comes first).
    Loading {
        /// Device-clock ms when the online budget runs out.
        until_ms: i64,
    },
    /// Every code of this step was shown and no online code is available: wait.
    Exhausted {
        /// Device-clock ms when the next step starts.
        retry_at_ms: i64,
    },
}

/// Something that happened on the platform, forwarded to the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum WalletEvent {
    /// The user took a screenshot: show a new code, void the captured one.
    Screenshot,
    /// Screen capture / recording / mirroring started: hide the code.
    ScreenCaptureStarted,
    /// Screen capture stopped: show a new code.
    ScreenCaptureStopped,
    /// The app came to the foreground: show a new code.
    Foreground,
    /// The app went to the background: hide the code.
    Background,
    /// Connectivity changed.
    NetworkAvailable {
        /// Whether the network is up.
        available: bool,
    },
    /// A payment with the shown code completed: show a new code.
    PaymentCompleted,
    /// The user asked for a new code.
    ManualRefresh,
    /// The platform timer fired (at `refresh_at_ms`).
    Tick,
}

/// What to do when no offline code can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FallbackPolicy {
    /// Offline code when possible, else an online code when connected (default).
    OfflineFirst,
    /// Online code when connected within the budget, else an offline code.
    OnlineFirst,
    /// Never fetch online codes.
    OfflineOnly,
}

/// Wallet settings.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalletConfig {
    /// The fallback policy (`OfflineFirst` unless you have a reason).
    pub policy: FallbackPolicy,
    /// How long an online code may take before the wallet gives up on it (ms).
    #[uniffi(default = 1000)]
    pub online_budget_ms: u32,
    /// Top up credentials in the background when fewer days than this remain.
    #[uniffi(default = 3)]
    pub top_up_below_days: u32,
    /// Keystore namespace: entries are named `namespace.device`, `namespace.cred.a`, …, so
    /// several wallets can share one store.
    #[uniffi(default = "paycode")]
    pub namespace: String,
    /// Free text sent at provisioning for the user's device list, e.g. "android 15".
    #[uniffi(default = "")]
    pub platform: String,
}

impl From<core::CodeSource> for CodeSource {
    fn from(source: core::CodeSource) -> Self {
        match source {
            core::CodeSource::Offline => CodeSource::Offline,
            core::CodeSource::Online => CodeSource::Online,
        }
    }
}

impl From<core::ShownCode> for PaymentCode {
    fn from(code: core::ShownCode) -> Self {
        Self {
            digits: code.digits,
            display: code.display,
            source: code.source.into(),
            valid_from_ms: code.valid_from_ms,
            refresh_at_ms: code.refresh_at_ms,
            expires_at_ms: code.expires_at_ms,
        }
    }
}

impl From<core::WalletState> for PaymentCodeState {
    fn from(state: core::WalletState) -> Self {
        match state {
            core::WalletState::Code(code) => PaymentCodeState::Code { code: code.into() },
            core::WalletState::Hidden => PaymentCodeState::Hidden,
            core::WalletState::NeedsNetwork => PaymentCodeState::NeedsNetwork,
            core::WalletState::NeedsLogin => PaymentCodeState::NeedsLogin,
            core::WalletState::Locked => PaymentCodeState::Locked,
            core::WalletState::Paused => PaymentCodeState::Paused,
            core::WalletState::Loading { until_ms } => PaymentCodeState::Loading { until_ms },
            core::WalletState::Exhausted { retry_at_ms } => PaymentCodeState::Exhausted { retry_at_ms },
        }
    }
}

impl From<WalletEvent> for core::WalletEvent {
    fn from(event: WalletEvent) -> Self {
        match event {
            WalletEvent::Screenshot => core::WalletEvent::Screenshot,
            WalletEvent::ScreenCaptureStarted => core::WalletEvent::ScreenCaptureStarted,
            WalletEvent::ScreenCaptureStopped => core::WalletEvent::ScreenCaptureStopped,
            WalletEvent::Foreground => core::WalletEvent::Foreground,
            WalletEvent::Background => core::WalletEvent::Background,
            WalletEvent::NetworkAvailable { available } => core::WalletEvent::NetworkAvailable(available),
            WalletEvent::PaymentCompleted => core::WalletEvent::PaymentCompleted,
            WalletEvent::ManualRefresh => core::WalletEvent::ManualRefresh,
            WalletEvent::Tick => core::WalletEvent::Tick,
        }
    }
}

impl From<WalletConfig> for core::WalletConfig {
    fn from(config: WalletConfig) -> Self {
        Self {
            policy: match config.policy {
                FallbackPolicy::OfflineFirst => core::FallbackPolicy::OfflineFirst,
                FallbackPolicy::OnlineFirst => core::FallbackPolicy::OnlineFirst,
                FallbackPolicy::OfflineOnly => core::FallbackPolicy::OfflineOnly,
            },
            online_budget_ms: config.online_budget_ms,
            top_up_below_days: config.top_up_below_days,
            namespace: config.namespace,
            platform: config.platform,
        }
    }
}

/// Why a wallet operation failed. Each variant says what to do; `reason` is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum WalletError {
    /// The wallet has no credential: log in first.
    #[error("this wallet is not provisioned: log in")]
    NotProvisioned,
    /// The keystore is locked: ask the user to unlock the device, then retry.
    #[error("the keystore is locked: unlock the device")]
    Locked,
    /// The keystore failed.
    #[error("{reason}")]
    Store {
        /// What failed.
        reason: String,
    },
    /// No network connection: retry when connected.
    #[error("no network connection")]
    Offline,
    /// The issuer did not answer in time: retry.
    #[error("the issuer did not answer in time")]
    Timeout,
    /// Another network failure: retry later.
    #[error("network error: {reason}")]
    Network {
        /// What the HTTP stack said.
        reason: String,
    },
    /// The issuer refused the request; `code` is stable (`invalid_login`, `device_revoked`…).
    #[error("the issuer refused ({status} {code}): {reason}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Stable, machine-readable error code.
        code: String,
        /// The issuer's human message.
        reason: String,
    },
    /// The issuer's answer was not understood (an app/issuer version mismatch?).
    #[error("unexpected answer from the issuer: {reason}")]
    BadResponse {
        /// What was wrong.
        reason: String,
    },
    /// The credential bundle was refused; nothing was stored.
    #[error("{reason}")]
    Bundle {
        /// Why.
        reason: String,
    },
    /// The system random source failed.
    #[error("{reason}")]
    Entropy {
        /// Why.
        reason: String,
    },
    /// An argument is invalid.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Which and why.
        reason: String,
    },
}

impl From<core::WalletError> for WalletError {
    fn from(e: core::WalletError) -> Self {
        let reason = e.to_string();
        match e {
            core::WalletError::NotProvisioned => WalletError::NotProvisioned,
            core::WalletError::Store(CoreStoreError::Locked) => WalletError::Locked,
            core::WalletError::Store(_) => WalletError::Store { reason },
            core::WalletError::Network(CoreBackendError::Offline) => WalletError::Offline,
            core::WalletError::Network(CoreBackendError::Timeout) => WalletError::Timeout,
            core::WalletError::Network(CoreBackendError::Transport(reason)) => {
                WalletError::Network { reason }
            }
            core::WalletError::Rejected {
                status,
                code,
                message,
            } => WalletError::Rejected {
                status,
                code,
                reason: message,
            },
            core::WalletError::BadResponse(reason) => WalletError::BadResponse { reason },
            core::WalletError::Bundle(_) => WalletError::Bundle { reason },
            core::WalletError::Entropy(_) => WalletError::Entropy { reason },
            core::WalletError::InvalidInput(reason) => WalletError::InvalidInput { reason },
        }
    }
}

/// The app's listener seen as the core's: states converted, exceptions and panics contained.
struct ListenerAdapter(Arc<dyn CodeListener>);

impl core::CodeListener for ListenerAdapter {
    fn on_state(&self, state: core::WalletState) {
        contain("CodeListener.on_state", || self.0.on_state(state.into()), || ());
    }
}

/// The payment-code session of one user on one device. Thread-safe: call it from any thread.
///
/// `current` and `handle` never block and never touch the network (call them on the main
/// thread); `provision`, `sync`, `logout`, `pause` and `resume` block on the network (call them
/// off the main thread — the Kotlin and Swift facades do).
#[derive(Debug, uniffi::Object)]
pub struct Wallet {
    inner: core::Wallet,
}

impl Wallet {
    /// A wallet on any core clock (the test constructor passes a manual one).
    pub fn with_clock(
        config: WalletConfig,
        store: Arc<dyn SecretStore>,
        backend: Arc<dyn Backend>,
        clock: Arc<dyn paycode_core::Clock>,
    ) -> Arc<Self> {
        let inner = core::Wallet::new(
            config.into(),
            Arc::new(StoreAdapter(store)),
            Arc::new(BackendAdapter(backend)),
            clock,
        );
        Arc::new(Self { inner })
    }
}

#[uniffi::export]
impl Wallet {
    /// A wallet over the app's keystore and HTTP stack, loading any credential already stored.
    /// Reads the keystore: construct it off the main thread if the keystore can be slow.
    #[uniffi::constructor]
    pub fn new(config: WalletConfig, store: Arc<dyn SecretStore>, backend: Arc<dyn Backend>) -> Arc<Self> {
        // Not the core's SystemClock: its monotonic reading stops while the phone sleeps.
        Self::with_clock(config, store, backend, Arc::new(paycode_core::SystemClock))
    }

    /// Registers (or with `None` removes) the listener for pushed state changes.
    pub fn set_listener(&self, listener: Option<Arc<dyn CodeListener>>) {
        let listener = listener.map(|l| Arc::new(ListenerAdapter(l)) as Arc<dyn core::CodeListener>);
        self.inner.set_listener(listener);
    }

    /// What to show now: one call per code shown. Never blocks, never touches the network.
    pub fn current(&self) -> PaymentCodeState {
        self.inner.current().into()
    }

    /// Forwards a platform event and returns what to show now. Never blocks.
    pub fn handle(&self, event: WalletEvent) -> PaymentCodeState {
        self.inner.handle(event.into()).into()
    }

    /// Whether a credential is loaded.
    pub fn is_provisioned(&self) -> bool {
        self.inner.is_provisioned()
    }

    /// The last detected disagreement between the phone's clock and issuer time (ms, 0 if
    /// none). Codes keep using issuer time; the app may tell the user their clock is off.
    pub fn clock_jump_ms(&self) -> i64 {
        self.inner.clock_jump_ms()
    }

    /// Registers this device with a login token from the app's login flow and stores its
    /// credential, replacing any previous one (another user's seed is destroyed first).
    /// Blocks on the network.
    pub fn provision(&self, login_token: String) -> Result<(), WalletError> {
        Ok(self.inner.provision(&login_token)?)
    }

    /// Tops up / rotates credentials and learns the issuer's time. Blocks on the network.
    pub fn sync(&self) -> Result<(), WalletError> {
        Ok(self.inner.sync()?)
    }

    /// Wipes every local secret (always), then tells the issuer (best effort). Returns whether
    /// the issuer confirmed. Blocks on the network.
    pub fn logout(&self) -> Result<bool, WalletError> {
        Ok(self.inner.logout()?)
    }

    /// Pauses payment codes at the issuer (a kill switch). Blocks on the network.
    pub fn pause(&self) -> Result<(), WalletError> {
        Ok(self.inner.pause()?)
    }

    /// Resumes payment codes. Blocks on the network.
    pub fn resume(&self) -> Result<(), WalletError> {
        Ok(self.inner.resume()?)
    }

    /// Does nothing: the floor of a method call on this object, for benchmarks.
    pub fn noop(&self) {}
}

#[cfg(feature = "test-issuer")]
#[uniffi::export]
impl Wallet {
    /// A wallet on a test clock (feature `test-issuer`: desktop tests only).
    #[uniffi::constructor]
    pub fn with_test_clock(
        config: WalletConfig,
        store: Arc<dyn SecretStore>,
        backend: Arc<dyn Backend>,
        clock: Arc<crate::test_issuer::TestClock>,
    ) -> Arc<Self> {
        Self::with_clock(config, store, backend, Arc::new(clock.0.clone()))
    }
}
