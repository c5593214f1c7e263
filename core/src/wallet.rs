//! The phone side: one thread-safe [`Wallet`] that keeps the credential in the keystore, shows a
//! fresh code every step and on every screenshot or return to the foreground, hides it in the
//! background or while the screen is captured, and falls back to a server-issued online code.
//!
//! Platforms only forward events ([`WalletEvent`]) and draw what [`Wallet::current`] returns.
//! `current` and `handle` never block and never touch the network; network work (voids, online
//! codes, top-ups) runs as short-lived tasks on a [`TaskRunner`] and reports back through the
//! [`CodeListener`]. `provision`, `sync`, `logout`, `pause` and `resume` block on the network: call
//! them off the main thread. See `docs/WALLET.md` for the state machine.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, BackendError, BackendRequest, Operation};
use crate::bundle::{self, BundleError, BundleHeader};
use crate::clock::Clock;
use crate::credential::{Credential, GenerateError};
use crate::device::DeviceSecret;
use crate::entropy::{Entropy, EntropyError, OsEntropy};
use crate::replay::CodeMark;
use crate::vault::{PersistedState, SecretStore, StoreError, Vault};
use crate::wire;

/// What to do when an offline code cannot be made, or first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FallbackPolicy {
    /// Offline code when possible; online code when not and the network is up (default).
    #[default]
    OfflineFirst,
    /// Online code when the network answers within the budget; else offline.
    OnlineFirst,
    /// Never fetch online codes.
    OfflineOnly,
}

/// Wallet settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletConfig {
    /// Fallback policy.
    pub policy: FallbackPolicy,
    /// Latency budget for an online code, ms (default 1000).
    pub online_budget_ms: u32,
    /// Top up credentials in the background when they cover fewer days than this (default 3).
    pub top_up_below_days: u32,
    /// Keystore namespace: entries are named `namespace.device`, `namespace.cred.a`, … .
    pub namespace: String,
    /// Free text sent at provisioning ("android 15").
    pub platform: String,
}

impl Default for WalletConfig {
    fn default() -> Self {
        Self {
            policy: FallbackPolicy::OfflineFirst,
            online_budget_ms: 1_000,
            top_up_below_days: 3,
            namespace: "paycode".into(),
            platform: std::env::consts::OS.into(),
        }
    }
}

/// What the platform reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletEvent {
    /// The user took a screenshot: the shown code is voided and a new one shown.
    Screenshot,
    /// Screen recording / mirroring began: the code is hidden.
    ScreenCaptureStarted,
    /// Screen capture ended: a new code is shown (the old one may have been recorded).
    ScreenCaptureStopped,
    /// The app came to the foreground: a new code.
    Foreground,
    /// The app went to the background: the code is hidden.
    Background,
    /// Connectivity changed.
    NetworkAvailable(bool),
    /// A payment with the shown code completed: a new code.
    PaymentCompleted,
    /// The user asked for a new code.
    ManualRefresh,
    /// The platform timer fired (at `refresh_at`): recompute.
    Tick,
}

/// Where a shown code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Made on the phone from the offline credential.
    Offline,
    /// Issued by the server.
    Online,
}

/// A code to draw. Times are on the device's wall clock (what platform timers use).
#[derive(Clone, PartialEq, Eq)]
pub struct ShownCode {
    /// 18 digits, for barcode and QR.
    pub digits: String,
    /// 4-4-4-6 display form.
    pub display: String,
    /// Offline or online.
    pub source: CodeSource,
    /// When it became valid (ms).
    pub valid_from_ms: i64,
    /// When the platform should call [`Wallet::current`] again (ms).
    pub refresh_at_ms: i64,
    /// When the issuer stops accepting it (ms).
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for ShownCode {
    /// Codes are bearer instruments for a minute: debug output shows only the prefix.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShownCode")
            .field("digits", &format_args!("{}…", self.digits.get(..2).unwrap_or("")))
            .field("source", &self.source)
            .field("refresh_at_ms", &self.refresh_at_ms)
            .finish_non_exhaustive()
    }
}

/// What the payment screen shows. Never a fake code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletState {
    /// Show this code.
    Code(ShownCode),
    /// In the background or being captured: show nothing.
    Hidden,
    /// No code can be made offline and there is no network (credentials expired, clock untrusted…).
    NeedsNetwork,
    /// Not provisioned, logged out or revoked.
    NeedsLogin,
    /// The keystore is locked.
    Locked,
    /// The user paused payment codes.
    Paused,
    /// An online code is being fetched; call again at `until_ms` at the latest.
    Loading {
        /// Device-clock ms when the budget runs out.
        until_ms: i64,
    },
    /// All codes of this step were shown and no online code is available.
    Exhausted {
        /// Device-clock ms when the next step starts.
        retry_at_ms: i64,
    },
}

impl WalletState {
    /// When to call [`Wallet::current`] again, if at a known time.
    pub fn refresh_at_ms(&self) -> Option<i64> {
        match self {
            WalletState::Code(code) => Some(code.refresh_at_ms),
            WalletState::Loading { until_ms } => Some(*until_ms),
            WalletState::Exhausted { retry_at_ms } => Some(*retry_at_ms),
            _ => None,
        }
    }
}

/// Receives state changes pushed by the wallet (after events and background tasks).
///
/// Called on the thread that caused the change (a caller of `handle`, or a worker). It must
/// return quickly and must not call back into the wallet synchronously and wait on it.
pub trait CodeListener: Send + Sync {
    /// The state changed.
    fn on_state(&self, state: WalletState);
}

/// Runs the wallet's network tasks.
pub trait TaskRunner: Send + Sync {
    /// Runs `task` soon, on another thread or later on this one; never inside a wallet call
    /// that is still running.
    fn spawn(&self, task: Box<dyn FnOnce() + Send>);
}

/// One short-lived OS thread per task: no pool, no runtime, nothing left running when idle.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadRunner;

impl TaskRunner for ThreadRunner {
    fn spawn(&self, task: Box<dyn FnOnce() + Send>) {
        // If the OS refuses a thread, run the task here: the wallet lock is not held.
        let slot = Arc::new(Mutex::new(Some(task)));
        let theirs = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("paycode-task".into())
            .spawn(move || {
                if let Some(task) = theirs.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    task();
                }
            });
        if spawned.is_err()
            && let Some(task) = slot.lock().unwrap_or_else(|p| p.into_inner()).take()
        {
            task();
        }
    }
}

/// Runs each task at once on the calling thread, after the wallet call that spawned it has
/// released its lock: deterministic, for scripts and tests. A task's network call then blocks
/// the caller of `handle`, so do not use it on a UI thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct InlineRunner;

impl TaskRunner for InlineRunner {
    fn spawn(&self, task: Box<dyn FnOnce() + Send>) {
        task();
    }
}

/// Why a wallet operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// The wallet has no credential: log in first.
    #[error("this wallet is not provisioned: log in")]
    NotProvisioned,
    /// The keystore failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network failed.
    #[error(transparent)]
    Network(#[from] BackendError),
    /// The issuer refused the request.
    #[error("the issuer refused ({status} {code}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Human message.
        message: String,
    },
    /// The issuer's answer was not understood.
    #[error("unexpected answer from the issuer: {0}")]
    BadResponse(String),
    /// The credential bundle was refused; nothing was stored.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Randomness failed.
    #[error(transparent)]
    Entropy(#[from] EntropyError),
    /// An argument is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// The keys and credential of a provisioned wallet.
struct Creds {
    device: DeviceSecret,
    header: BundleHeader,
    credential: Credential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Paused,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    Idle,
    InFlight {
        deadline_ms: i64,
    },
    /// The last attempt failed at this issuer time; retry after the next step or a network change.
    Failed {
        step: u64,
    },
}

/// Issuer time anchored to the monotonic clock at the last contact with the issuer.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    issuer_ms: i64,
    monotonic_ms: i64,
}

struct Shown {
    code: ShownCode,
    mark: CodeMark,
}

struct State {
    creds: Option<Creds>,
    store_problem: Option<StoreError>,
    visible: bool,
    capturing: bool,
    network: bool,
    status: Status,
    persisted: PersistedState,
    anchor: Option<Anchor>,
    clock_jump_ms: i64,
    shown: Option<Shown>,
    online: Option<ShownCode>,
    fetch: Fetch,
    pending_void: Option<CodeMark>,
    void_in_flight: bool,
    syncing: bool,
    /// Issuer time of the last background sync attempt: retried only after SYNC_RETRY_MS or a
    /// network change, never in a loop.
    last_sync_attempt_ms: Option<i64>,
    last_notified: Option<WalletState>,
    /// Timestamp of the last signed request: the next one is strictly later, so two requests
    /// in one millisecond never look like a replay to the issuer.
    last_request_ms: i64,
    /// A logout or revocation could not delete every keystore entry: retried on every event
    /// until it succeeds (the issuer has been told either way).
    wipe_pending: bool,
}

type Task = Box<dyn FnOnce() + Send>;

struct Inner {
    config: WalletConfig,
    store: Arc<dyn SecretStore>,
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    runner: Arc<dyn TaskRunner>,
    listener: RwLock<Option<Arc<dyn CodeListener>>>,
    state: Mutex<State>,
}

/// Clock disagreement (wall vs monotonic-anchored issuer time) that counts as a jump.
const JUMP_TOLERANCE_MS: i64 = 30_000;
/// Show an online code until this long before it expires, then fetch the next.
const ONLINE_MARGIN_MS: i64 = 10_000;
/// Least time between two background top-up attempts.
const SYNC_RETRY_MS: i64 = 5 * 60_000;
/// The issuer's answer to a request whose timestamp is too far from its clock.
const STALE_TIMESTAMP: &str = "stale_timestamp";

/// Whether an issuer's refusal of a signed device request means this device can never pay
/// again: revoked, or not known to the issuer. The issuer answers an unknown device with
/// `bad_signature` (the same answer as a wrong signature, so that device ids cannot be probed,
/// docs/API.md "Errors"); this wallet always signs correctly, so for it that answer means the
/// issuer does not know the device. (`unknown_device` is what older issuers sent.)
fn means_device_is_gone(code: &str) -> bool {
    matches!(code, "device_revoked" | "unknown_device" | "bad_signature")
}

/// Timeout of background operations other than online codes.
const BACKGROUND_TIMEOUT_MS: u32 = 10_000;

/// The payment-code session of one user on one device. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Wallet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("namespace", &self.inner.config.namespace)
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// A wallet over `store` and `backend`, loading any credential already stored. Uses the OS
    /// random source and one short-lived thread per network task.
    pub fn new(
        config: WalletConfig,
        store: Arc<dyn SecretStore>,
        backend: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::with_runtime(
            config,
            store,
            backend,
            clock,
            Arc::new(OsEntropy),
            Arc::new(ThreadRunner),
        )
    }

    /// [`Wallet::new`] with explicit randomness and task runner (tests, embedding).
    pub fn with_runtime(
        config: WalletConfig,
        store: Arc<dyn SecretStore>,
        backend: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        runner: Arc<dyn TaskRunner>,
    ) -> Self {
        let state = State {
            creds: None,
            store_problem: None,
            visible: true,
            capturing: false,
            network: true,
            status: Status::Active,
            persisted: PersistedState::default(),
            anchor: None,
            clock_jump_ms: 0,
            shown: None,
            online: None,
            fetch: Fetch::Idle,
            pending_void: None,
            void_in_flight: false,
            syncing: false,
            last_sync_attempt_ms: None,
            last_notified: None,
            last_request_ms: i64::MIN,
            wipe_pending: false,
        };
        let wallet = Self {
            inner: Arc::new(Inner {
                config,
                store,
                backend,
                clock,
                entropy,
                runner,
                listener: RwLock::new(None),
                state: Mutex::new(state),
            }),
        };
        let mut st = wallet.lock();
        wallet.reload(&mut st);
        drop(st);
        wallet
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update below keeps the state consistent between statements that can panic, so
        // a poisoned lock (a panic elsewhere) is safe to keep using.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn vault(&self) -> Vault<'_> {
        Vault {
            store: self.inner.store.as_ref(),
            ns: &self.inner.config.namespace,
        }
    }

    /// Reads the keystore into memory (at start, and after a Locked/Unavailable store).
    fn reload(&self, st: &mut State) {
        let loaded = self.vault().load().map(|stored| {
            let persisted = self.vault().load_state().unwrap_or_default();
            (stored, persisted)
        });
        match loaded {
            Ok((Some(stored), persisted)) => match bundle::open(&stored.bundle, &stored.device) {
                Ok(opened) => {
                    st.creds = Some(Creds {
                        device: stored.device,
                        header: opened.header,
                        credential: opened.credential,
                    });
                    st.persisted = persisted;
                    st.store_problem = None;
                }
                Err(e) => {
                    st.creds = None;
                    st.store_problem = Some(StoreError::Corrupt(e.to_string()));
                }
            },
            Ok((None, _)) => {
                // No pointer to a credential: anything else under the namespace is a leftover
                // of an interrupted logout or provisioning, and goes.
                let _ = self.vault().wipe();
                st.creds = None;
                st.store_problem = None;
            }
            Err(e) => st.store_problem = Some(e),
        }
    }

    /// Registers (or removes) the listener for pushed state changes.
    pub fn set_listener(&self, listener: Option<Arc<dyn CodeListener>>) {
        *self.inner.listener.write().unwrap_or_else(|p| p.into_inner()) = listener;
    }

    /// Whether a credential is loaded.
    pub fn is_provisioned(&self) -> bool {
        self.lock().creds.is_some()
    }

    /// The last detected disagreement between the device clock and issuer time (ms; 0 if none).
    /// Codes keep using issuer time; the app may tell the user their clock is off.
    pub fn clock_jump_ms(&self) -> i64 {
        let mut st = self.lock();
        let _ = self.issuer_now_ms(&mut st);
        st.clock_jump_ms
    }

    /// Issuer time now, in ms.
    fn issuer_now_ms(&self, st: &mut State) -> i64 {
        let wall = self.inner.clock.now_ms();
        let by_wall = wall.saturating_add(st.persisted.clock_offset_ms);
        match (st.anchor, self.inner.clock.monotonic_ms()) {
            (Some(anchor), Some(mono)) if mono >= anchor.monotonic_ms => {
                // Issuer times are in 0..=wire::MAX_UNIX_MS (checked when received); the
                // platform's clocks are not ours to trust, so nothing here may overflow.
                let by_mono = anchor
                    .issuer_ms
                    .saturating_add(mono.saturating_sub(anchor.monotonic_ms));
                let jump = by_wall.saturating_sub(by_mono);
                if jump.unsigned_abs() > JUMP_TOLERANCE_MS.unsigned_abs() {
                    st.clock_jump_ms = jump;
                }
                by_mono
            }
            _ => by_wall,
        }
    }

    /// The timestamp of a new signed request: issuer time, strictly after the previous request's.
    fn request_time(&self, st: &mut State) -> i64 {
        let now = self.issuer_now_ms(st);
        let timestamp = now.max(st.last_request_ms.saturating_add(1));
        st.last_request_ms = timestamp;
        timestamp
    }

    /// Device wall-clock ms corresponding to issuer time `issuer_ms` now.
    fn to_device_ms(&self, st: &mut State, issuer_ms: i64) -> i64 {
        let now_issuer = self.issuer_now_ms(st);
        self.inner
            .clock
            .now_ms()
            .saturating_add(issuer_ms.saturating_sub(now_issuer))
    }

    fn learn_issuer_time(&self, st: &mut State, issuer_time_ms: i64) {
        st.persisted.clock_offset_ms = issuer_time_ms.saturating_sub(self.inner.clock.now_ms());
        st.anchor = self.inner.clock.monotonic_ms().map(|m| Anchor {
            issuer_ms: issuer_time_ms,
            monotonic_ms: m,
        });
        st.clock_jump_ms = 0;
        // Stamps made on a wrong idea of issuer time (refused as stale, so never recorded by the
        // issuer) must not drag later ones along.
        if st.last_request_ms > issuer_time_ms.saturating_add(wire::MAX_REQUEST_SKEW_MS) {
            st.last_request_ms = issuer_time_ms;
        }
        let _ = self.vault().save_state(&st.persisted);
    }

    /// What to show now. Never blocks and never touches the network (it may start a
    /// background fetch). One call per code shown.
    pub fn current(&self) -> WalletState {
        let mut tasks = Vec::new();
        let state = {
            let mut st = self.lock();
            self.compute(&mut st, &mut tasks)
        };
        self.run(tasks);
        state
    }

    /// Applies a platform event and returns what to show now.
    pub fn handle(&self, event: WalletEvent) -> WalletState {
        let mut tasks = Vec::new();
        let state = {
            let mut st = self.lock();
            self.apply(&mut st, event, &mut tasks);
            let state = self.compute(&mut st, &mut tasks);
            st.last_notified = Some(state.clone());
            state
        };
        self.run(tasks);
        state
    }

    fn run(&self, tasks: Vec<Task>) {
        for task in tasks {
            self.inner.runner.spawn(task);
        }
    }

    fn apply(&self, st: &mut State, event: WalletEvent, tasks: &mut Vec<Task>) {
        self.retry_wipe(st);
        match event {
            WalletEvent::Screenshot => self.captured(st, tasks),
            WalletEvent::ScreenCaptureStarted => {
                // What is on screen as capture begins may be in the recording: void it now.
                if st.visible && !st.capturing {
                    self.captured(st, tasks);
                }
                st.capturing = true;
            }
            WalletEvent::ScreenCaptureStopped => {
                st.capturing = false;
                self.renew(st);
            }
            WalletEvent::Foreground => {
                st.visible = true;
                if st.store_problem.is_some() {
                    self.reload(st);
                }
                self.renew(st);
            }
            WalletEvent::Background => st.visible = false,
            WalletEvent::NetworkAvailable(up) => {
                st.network = up;
                if up {
                    st.last_sync_attempt_ms = None;
                    if matches!(st.fetch, Fetch::Failed { .. }) {
                        st.fetch = Fetch::Idle;
                    }
                    self.send_void(st, tasks);
                }
            }
            WalletEvent::PaymentCompleted | WalletEvent::ManualRefresh => self.renew(st),
            WalletEvent::Tick => {
                if st.store_problem.is_some() {
                    self.reload(st);
                }
            }
        }
    }

    /// Forget the shown codes so the next compute shows one never shown before.
    fn renew(&self, st: &mut State) {
        st.shown = None;
        if st.online.take().is_some() && matches!(st.fetch, Fetch::Failed { .. }) {
            st.fetch = Fetch::Idle;
        }
    }

    /// The shown code may have been captured: void it at the issuer and show a new one.
    fn captured(&self, st: &mut State, tasks: &mut Vec<Task>) {
        if let Some(shown) = &st.shown {
            let mark = shown.mark;
            st.pending_void = Some(st.pending_void.map_or(mark, |m| m.max(mark)));
            self.send_void(st, tasks);
        }
        self.renew(st);
    }

    fn compute(&self, st: &mut State, tasks: &mut Vec<Task>) -> WalletState {
        if st.creds.is_none() {
            return match &st.store_problem {
                Some(StoreError::Locked) => WalletState::Locked,
                _ => WalletState::NeedsLogin,
            };
        }
        if !st.visible || st.capturing {
            return WalletState::Hidden;
        }
        match st.status {
            Status::Paused => return WalletState::Paused,
            Status::Revoked => return WalletState::NeedsLogin,
            Status::Active => {}
        }
        let now = self.issuer_now_ms(st);
        let state = self.code_state(st, now, tasks);
        // After the state's own work, so an online fetch that the screen waits for goes first.
        self.maybe_top_up(st, now, tasks);
        state
    }

    /// The state of a provisioned, visible, active wallet at issuer time `now`.
    fn code_state(&self, st: &mut State, now: i64, tasks: &mut Vec<Task>) -> WalletState {
        let policy = self.inner.config.policy;
        let can_fetch = st.network && policy != FallbackPolicy::OfflineOnly;
        if policy == FallbackPolicy::OnlineFirst
            && can_fetch
            && let Some(state) = self.online_state(st, now, tasks, true)
        {
            return state;
        }
        let offline = self.offline_code(st, now);
        match offline {
            Ok(code) => WalletState::Code(code),
            Err(reason) => {
                if can_fetch && let Some(state) = self.online_state(st, now, tasks, false) {
                    return state;
                }
                match reason {
                    OfflineProblem::Exhausted { next_step_ms } => WalletState::Exhausted {
                        retry_at_ms: self.to_device_ms(st, next_step_ms),
                    },
                    _ => WalletState::NeedsNetwork,
                }
            }
        }
    }

    /// The online code to show, a Loading state, or `None` to fall back to offline.
    fn online_state(
        &self,
        st: &mut State,
        now: i64,
        tasks: &mut Vec<Task>,
        within_budget_only: bool,
    ) -> Option<WalletState> {
        if let Some(online) = st.online.clone() {
            let expires_issuer = online.expires_at_ms;
            if now >= expires_issuer {
                st.online = None;
            } else {
                if now >= expires_issuer - ONLINE_MARGIN_MS && st.fetch == Fetch::Idle {
                    self.start_fetch(st, now, tasks);
                }
                let mut shown = online.clone();
                shown.expires_at_ms = self.to_device_ms(st, expires_issuer);
                shown.refresh_at_ms =
                    self.to_device_ms(st, (expires_issuer - ONLINE_MARGIN_MS).max(now + 1_000));
                shown.valid_from_ms = self.to_device_ms(st, online.valid_from_ms);
                return Some(WalletState::Code(shown));
            }
        }
        let step = self.step_of(st, now);
        match st.fetch {
            Fetch::Idle => {
                self.start_fetch(st, now, tasks);
                let deadline = now + i64::from(self.inner.config.online_budget_ms);
                Some(WalletState::Loading {
                    until_ms: self.to_device_ms(st, deadline),
                })
            }
            Fetch::InFlight { deadline_ms } if now < deadline_ms => Some(WalletState::Loading {
                until_ms: self.to_device_ms(st, deadline_ms),
            }),
            Fetch::InFlight { .. } if !within_budget_only => {
                // Past the budget with offline impossible: keep waiting, the answer may still come.
                Some(WalletState::Loading {
                    until_ms: self.to_device_ms(st, now + 1_000),
                })
            }
            Fetch::Failed { step: failed } if failed != step => {
                self.start_fetch(st, now, tasks);
                Some(WalletState::Loading {
                    until_ms: self.to_device_ms(st, now + i64::from(self.inner.config.online_budget_ms)),
                })
            }
            _ => None,
        }
    }

    fn step_of(&self, st: &State, issuer_ms: i64) -> u64 {
        let step_secs = st
            .creds
            .as_ref()
            .map_or(60, |c| i64::from(c.credential.time().step_secs));
        u64::try_from(issuer_ms.div_euclid(1000) / step_secs).unwrap_or(0)
    }

    fn offline_code(&self, st: &mut State, now: i64) -> Result<ShownCode, OfflineProblem> {
        let creds = st.creds.as_ref().ok_or(OfflineProblem::NoCredential)?;
        let time = creds.credential.time();
        let step_ms = i64::from(time.step_secs) * 1000;
        let now_secs = now.div_euclid(1000);
        let step = u64::try_from(now_secs / i64::from(time.step_secs))
            .map_err(|_| OfflineProblem::ClockUntrusted)?;
        // A clock that went back before codes already shown cannot be trusted to make new ones.
        if st.persisted.has_last && step < st.persisted.last_step {
            return Err(OfflineProblem::ClockUntrusted);
        }
        if let Some(shown) = &st.shown
            && shown.mark.step == step
        {
            return Ok(shown.code.clone());
        }
        let counter = if st.persisted.has_last && st.persisted.last_step == step {
            st.persisted.last_counter.saturating_add(1)
        } else {
            0
        };
        let step_start = i64::try_from(step).unwrap_or(i64::MAX) * step_ms;
        let code = match creds.credential.code_at(now_secs, counter) {
            Ok(code) => code,
            Err(GenerateError::CounterExhausted) => {
                return Err(OfflineProblem::Exhausted {
                    next_step_ms: step_start + step_ms,
                });
            }
            Err(_) => return Err(OfflineProblem::Expired),
        };
        st.persisted.last_step = step;
        st.persisted.last_counter = counter;
        st.persisted.has_last = true;
        // Best effort: if the keystore refuses, the code is still fresh in this process.
        let _ = self.vault().save_state(&st.persisted);
        let shown = ShownCode {
            digits: code.digits(),
            display: code.display(),
            source: CodeSource::Offline,
            valid_from_ms: self.to_device_ms(st, step_start),
            refresh_at_ms: self.to_device_ms(st, step_start + step_ms),
            // Accepted until the end of the next step with the issuer's default window.
            expires_at_ms: self.to_device_ms(st, step_start + 2 * step_ms),
        };
        st.shown = Some(Shown {
            code: shown.clone(),
            mark: CodeMark { step, counter },
        });
        Ok(shown)
    }

    fn maybe_top_up(&self, st: &mut State, now: i64, tasks: &mut Vec<Task>) {
        if !st.network || st.syncing {
            return;
        }
        if st.last_sync_attempt_ms.is_some_and(|at| now - at < SYNC_RETRY_MS) {
            return;
        }
        let Some(creds) = &st.creds else { return };
        let left_ms = creds.credential.valid_until() * 1000 - now;
        if left_ms >= i64::from(self.inner.config.top_up_below_days) * 86_400_000 {
            return;
        }
        st.syncing = true;
        st.last_sync_attempt_ms = Some(now);
        let wallet = self.clone();
        tasks.push(Box::new(move || {
            let _ = wallet.sync_inner(true);
        }));
    }

    fn start_fetch(&self, st: &mut State, now: i64, tasks: &mut Vec<Task>) {
        let deadline_ms = now + i64::from(self.inner.config.online_budget_ms);
        let timestamp = self.request_time(st);
        let Some(creds) = &st.creds else { return };
        let request = self.prepare(
            timestamp,
            creds,
            Operation::OnlineCode,
            &wire::device_path(&creds.header.device_id, "online-code"),
            &wire::OnlineCodeRequest {},
            self.inner.config.online_budget_ms,
        );
        st.fetch = Fetch::InFlight { deadline_ms };
        let wallet = self.clone();
        tasks.push(Box::new(move || {
            let result = request.and_then(|r| wallet.exchange::<wire::OnlineCodeResponse>(r));
            let mut st = wallet.lock();
            let now = wallet.issuer_now_ms(&mut st);
            match result {
                Ok(answer) => {
                    wallet.learn_issuer_time(&mut st, answer.issuer_time_ms);
                    match crate::code::PaymentCode::parse(&answer.code) {
                        Ok(code) => {
                            st.online = Some(ShownCode {
                                digits: code.digits(),
                                display: code.display(),
                                source: CodeSource::Online,
                                valid_from_ms: answer.issuer_time_ms,
                                refresh_at_ms: answer.expires_at_ms - ONLINE_MARGIN_MS,
                                expires_at_ms: answer.expires_at_ms,
                            });
                            st.fetch = Fetch::Idle;
                        }
                        Err(_) => {
                            st.fetch = Fetch::Failed {
                                step: wallet.step_of(&st, now),
                            }
                        }
                    }
                }
                Err(WalletError::Rejected { status: 403, .. }) => {
                    st.fetch = Fetch::Failed {
                        step: wallet.step_of(&st, now),
                    };
                }
                Err(_) => {
                    st.fetch = Fetch::Failed {
                        step: wallet.step_of(&st, now),
                    }
                }
            }
            wallet.notify(st);
        }));
    }

    fn send_void(&self, st: &mut State, tasks: &mut Vec<Task>) {
        if !st.network || st.void_in_flight {
            return;
        }
        let timestamp = self.request_time(st);
        let (Some(mark), Some(creds)) = (st.pending_void, &st.creds) else {
            return;
        };
        let request = self.prepare(
            timestamp,
            creds,
            Operation::Void,
            &wire::device_path(&creds.header.device_id, "void"),
            &wire::VoidRequest {
                step: mark.step,
                counter: mark.counter,
            },
            BACKGROUND_TIMEOUT_MS,
        );
        st.void_in_flight = true;
        let wallet = self.clone();
        tasks.push(Box::new(move || {
            let result = request.and_then(|r| wallet.exchange::<wire::Ack>(r));
            let mut st = wallet.lock();
            st.void_in_flight = false;
            match result {
                Ok(ack) => {
                    wallet.learn_issuer_time(&mut st, ack.issuer_time_ms);
                    if st.pending_void == Some(mark) {
                        st.pending_void = None;
                    }
                }
                // The issuer answered no: retrying will not help.
                Err(WalletError::Rejected { .. }) => {
                    if st.pending_void == Some(mark) {
                        st.pending_void = None;
                    }
                }
                // Kept pending: sent again when the network comes back.
                Err(_) => {}
            }
            // A newer capture may have happened meanwhile.
            let mut more = Vec::new();
            if st.pending_void.is_some_and(|p| p > mark) {
                wallet.send_void(&mut st, &mut more);
            }
            drop(st);
            wallet.run(more);
        }));
    }

    /// Computes the state and tells the listener if it changed.
    fn notify(&self, mut st: MutexGuard<'_, State>) {
        let mut tasks = Vec::new();
        let state = self.compute(&mut st, &mut tasks);
        let changed = st.last_notified.as_ref() != Some(&state);
        st.last_notified = Some(state.clone());
        drop(st);
        self.run(tasks);
        if changed {
            let listener = self
                .inner
                .listener
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(listener) = listener {
                listener.on_state(state);
            }
        }
    }

    /// A signed request of `operation` with `body`.
    fn prepare(
        &self,
        timestamp: i64,
        creds: &Creds,
        operation: Operation,
        path: &str,
        body: &impl Serialize,
        timeout_ms: u32,
    ) -> Result<BackendRequest, WalletError> {
        sign(
            &creds.device,
            &creds.header.device_id,
            operation,
            path,
            body,
            timestamp,
            timeout_ms,
        )
    }

    /// Sends `request` and decodes a 2xx answer as `T`, or the error body.
    ///
    /// An answer that the device is revoked or unknown makes the wallet forget it (see
    /// [`Wallet::forget_device`]).
    fn exchange<T: DeserializeOwned>(&self, request: BackendRequest) -> Result<T, WalletError> {
        let device_id = request
            .headers
            .iter()
            .find(|(name, _)| name == wire::HEADER_DEVICE)
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        let response = self.inner.backend.send(request)?;
        if (200..300).contains(&response.status) {
            return serde_json::from_slice(&response.body)
                .map_err(|e| WalletError::BadResponse(e.to_string()));
        }
        match serde_json::from_slice::<wire::ErrorBody>(&response.body) {
            Ok(body) => {
                if means_device_is_gone(&body.error.code) {
                    self.forget_device(&device_id);
                }
                if let (STALE_TIMESTAMP, Some(issuer_ms)) =
                    (body.error.code.as_str(), body.error.issuer_time_ms)
                {
                    // Our idea of issuer time is off (a clock set before a reboot): learn it, so
                    // the retry (and every code after it) is on the issuer's time again.
                    let mut st = self.lock();
                    self.learn_issuer_time(&mut st, issuer_ms);
                }
                Err(WalletError::Rejected {
                    status: response.status,
                    code: body.error.code,
                    message: body.error.message,
                })
            }
            Err(_) => Err(WalletError::Rejected {
                status: response.status,
                code: "http_error".into(),
                message: format!("HTTP {}", response.status),
            }),
        }
    }

    /// The issuer no longer knows device `device_id` (revoked, logged out elsewhere, wiped):
    /// its secrets are useless, so they leave memory and the keystore. A stale answer about a
    /// previous device changes nothing.
    fn forget_device(&self, device_id: &str) {
        let st = self.lock();
        let current = st.creds.as_ref().map(|c| c.header.device_id.as_str());
        if device_id.is_empty() || current != Some(device_id) {
            return;
        }
        drop(st);
        let _ = self.wipe_local();
        self.lock().status = Status::Revoked;
    }

    /// Logs in: destroys any previous credential, creates a device key, registers it with the
    /// issuer using `login_token`, and installs the sealed bundle. Blocks on the network.
    ///
    /// On any failure nothing of the new login is stored and the wallet is logged out.
    pub fn provision(&self, login_token: &str) -> Result<(), WalletError> {
        if login_token.is_empty() || login_token.len() > 512 {
            return Err(WalletError::InvalidInput(
                "login token must be 1..=512 characters".into(),
            ));
        }
        // Another user's seed must never survive a new login.
        self.wipe_local()?;
        let device = DeviceSecret::generate(self.inner.entropy.as_ref())?;
        let keys = device.public_keys();
        let body = wire::ProvisionRequest {
            login_token: login_token.to_owned(),
            signing_key: wire::b64(&keys.signing),
            sealing_key: wire::b64(&keys.sealing),
            platform: self.inner.config.platform.chars().take(64).collect(),
        };
        let timestamp = {
            let mut st = self.lock();
            self.request_time(&mut st)
        };
        let request = sign(
            &device,
            "",
            Operation::Provision,
            wire::PATH_PROVISION,
            &body,
            timestamp,
            BACKGROUND_TIMEOUT_MS,
        )?;
        let answer: wire::BundleResponse = self.exchange(request)?;
        let bytes = answer
            .bundle
            .as_deref()
            .and_then(wire::unb64)
            .ok_or_else(|| WalletError::BadResponse("provisioning answer has no bundle".into()))?;
        let opened = bundle::open(&bytes, &device)?;
        if opened.header.device_id != answer.device_id {
            return Err(WalletError::BadResponse("bundle is for another device id".into()));
        }
        let vault = self.vault();
        let installed = vault.put_device(&device).and_then(|()| vault.install(&bytes));
        if let Err(e) = installed {
            let _ = vault.wipe();
            return Err(e.into());
        }
        let mut st = self.lock();
        st.persisted = PersistedState::default();
        self.learn_issuer_time(&mut st, answer.issuer_time_ms);
        st.status = status_of(&answer.status);
        st.creds = Some(Creds {
            device,
            header: opened.header,
            credential: opened.credential,
        });
        st.store_problem = None;
        st.shown = None;
        self.notify(st);
        Ok(())
    }

    /// Asks the issuer for newer credentials (top-up, rotation), its time and the device's
    /// status; installs a newer bundle atomically. Blocks on the network.
    pub fn sync(&self) -> Result<(), WalletError> {
        self.sync_inner(false)
    }

    fn sync_inner(&self, background: bool) -> Result<(), WalletError> {
        let mut result = self.sync_once();
        if matches!(&result, Err(WalletError::Rejected { code, .. }) if code == STALE_TIMESTAMP) {
            result = self.sync_once();
        }
        let mut st = self.lock();
        if background {
            st.syncing = false;
        }
        if let Err(WalletError::Rejected { code, .. }) = &result
            && means_device_is_gone(code)
        {
            st.status = Status::Revoked;
        }
        self.notify(st);
        result
    }

    fn sync_once(&self) -> Result<(), WalletError> {
        let request = {
            let mut st = self.lock();
            let creds = st.creds.as_ref().ok_or(WalletError::NotProvisioned)?;
            let body = wire::SyncRequest {
                sequence: creds.header.sequence,
                valid_until: creds.credential.valid_until(),
            };
            let path = wire::device_path(&creds.header.device_id, "sync");
            let device = creds.device.clone();
            let id = creds.header.device_id.clone();
            let timestamp = self.request_time(&mut st);
            sign(
                &device,
                &id,
                Operation::Sync,
                &path,
                &body,
                timestamp,
                BACKGROUND_TIMEOUT_MS,
            )?
        };
        let answer: wire::BundleResponse = self.exchange(request)?;
        let mut st = self.lock();
        self.learn_issuer_time(&mut st, answer.issuer_time_ms);
        st.status = status_of(&answer.status);
        if st.status == Status::Revoked {
            drop(st);
            self.forget_device(&answer.device_id);
            return Ok(());
        }
        let Some(text) = answer.bundle else { return Ok(()) };
        let bytes =
            wire::unb64(&text).ok_or_else(|| WalletError::BadResponse("bundle is not base64".into()))?;
        let creds = st.creds.as_ref().ok_or(WalletError::NotProvisioned)?;
        let opened = bundle::open(&bytes, &creds.device)?;
        if opened.header.device_id != creds.header.device_id {
            return Err(WalletError::BadResponse("bundle is for another device id".into()));
        }
        if opened.header.sequence <= creds.header.sequence {
            return Err(WalletError::BadResponse(
                "bundle is not newer than the installed one".into(),
            ));
        }
        self.vault().install(&bytes)?;
        let device = creds.device.clone();
        st.creds = Some(Creds {
            device,
            header: opened.header,
            credential: opened.credential,
        });
        Ok(())
    }

    /// Logs out: wipes every secret from the keystore and memory, then tells the issuer to
    /// revoke the device (best effort). Returns whether the issuer confirmed.
    pub fn logout(&self) -> Result<bool, WalletError> {
        let request = {
            let mut st = self.lock();
            match st.creds.as_ref() {
                Some(creds) => {
                    let path = wire::device_path(&creds.header.device_id, "logout");
                    let (device, id) = (creds.device.clone(), creds.header.device_id.clone());
                    let timestamp = self.request_time(&mut st);
                    sign(
                        &device,
                        &id,
                        Operation::Logout,
                        &path,
                        &wire::EmptyRequest {},
                        timestamp,
                        BACKGROUND_TIMEOUT_MS,
                    )
                    .ok()
                }
                None => None,
            }
        };
        // The issuer is told even if the keystore fails to delete everything: a revoked device's
        // leftovers pay nothing, and the wipe is retried on every later event.
        let wiped = self.wipe_local();
        let confirmed = request.is_some_and(|r| self.exchange::<wire::Ack>(r).is_ok());
        wiped.map(|()| confirmed)
    }

    fn wipe_local(&self) -> Result<(), WalletError> {
        let mut st = self.lock();
        st.creds = None;
        st.shown = None;
        st.online = None;
        st.pending_void = None;
        st.persisted = PersistedState::default();
        st.anchor = None;
        st.status = Status::Active;
        st.fetch = Fetch::Idle;
        let result = self.vault().wipe();
        st.wipe_pending = result.is_err();
        self.notify(st);
        result.map_err(WalletError::from)
    }

    /// Retries a wipe that the keystore refused earlier.
    fn retry_wipe(&self, st: &mut State) {
        if st.wipe_pending && st.creds.is_none() {
            st.wipe_pending = self.vault().wipe().is_err();
        }
    }

    /// Pauses payment codes at the issuer (kill switch). Blocks on the network.
    pub fn pause(&self) -> Result<(), WalletError> {
        self.set_paused(true)
    }

    /// Resumes payment codes at the issuer. Blocks on the network.
    pub fn resume(&self) -> Result<(), WalletError> {
        self.set_paused(false)
    }

    fn set_paused(&self, paused: bool) -> Result<(), WalletError> {
        let (operation, verb) = if paused {
            (Operation::Pause, "pause")
        } else {
            (Operation::Resume, "resume")
        };
        let request = {
            let mut st = self.lock();
            let creds = st.creds.as_ref().ok_or(WalletError::NotProvisioned)?;
            let path = wire::device_path(&creds.header.device_id, verb);
            let (device, id) = (creds.device.clone(), creds.header.device_id.clone());
            let timestamp = self.request_time(&mut st);
            sign(
                &device,
                &id,
                operation,
                &path,
                &wire::EmptyRequest {},
                timestamp,
                BACKGROUND_TIMEOUT_MS,
            )?
        };
        let ack: wire::Ack = self.exchange(request)?;
        let mut st = self.lock();
        self.learn_issuer_time(&mut st, ack.issuer_time_ms);
        st.status = if paused { Status::Paused } else { Status::Active };
        st.shown = None;
        self.notify(st);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OfflineProblem {
    NoCredential,
    ClockUntrusted,
    Expired,
    Exhausted { next_step_ms: i64 },
}

fn status_of(text: &str) -> Status {
    match text {
        "paused" => Status::Paused,
        "revoked" => Status::Revoked,
        _ => Status::Active,
    }
}

/// Serializes `body` and signs the request.
fn sign(
    device: &DeviceSecret,
    device_id: &str,
    operation: Operation,
    path: &str,
    body: &impl Serialize,
    timestamp_ms: i64,
    timeout_ms: u32,
) -> Result<BackendRequest, WalletError> {
    let body = serde_json::to_vec(body).map_err(|e| WalletError::InvalidInput(e.to_string()))?;
    let signature = device.sign_request(path, device_id, timestamp_ms, &body);
    Ok(BackendRequest {
        operation,
        path: path.to_owned(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (wire::HEADER_DEVICE.into(), device_id.to_owned()),
            (wire::HEADER_TIMESTAMP.into(), timestamp_ms.to_string()),
            (wire::HEADER_SIGNATURE.into(), wire::b64(&signature)),
        ],
        body,
        timeout_ms,
    })
}
