//! Issuer configuration: protocol parameters, storage, policy. Read from `PAYCODE_*` environment
//! variables by the binary (see `docs/API.md`, "Configuration"); built in code by tests and
//! embedders.

use std::time::Duration;

use paycode_core::{Prefix, TimeParams};

use crate::ratelimit::RateLimits;

/// Everything the issuer needs besides its secrets and clock.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite:PATH` (created if missing) or `postgres://…`.
    pub database_url: String,
    /// Issuer prefix of every code (offline and online).
    pub prefix: Prefix,
    /// Step length.
    pub time: TimeParams,
    /// Steps before the current one accepted.
    pub skew_back: u32,
    /// Steps after the current one accepted.
    pub skew_ahead: u32,
    /// Offline validity granted at provisioning and sync (seconds; default 3 days). A
    /// protocol-2 bundle holds one identity per step and refresh of it: at most
    /// `paycode_core::credential::MAX_TABLE_ENTRIES` (7 days at 60-s steps and 4 refreshes).
    pub validity_secs: i64,
    /// Codes per step of protocol-2 credentials (1..=10, default 4; ADR 010).
    pub refreshes: u8,
    /// From this Unix time on, protocol-1 codes are declined (`None`: accepted from devices
    /// not yet migrated). Devices migrate to protocol 2 at their next sync.
    pub v1_cutoff: Option<i64>,
    /// A sync tops credentials up when they cover less than this (seconds).
    pub refresh_below_secs: i64,
    /// Lifetime of a login token (ms).
    pub login_token_ttl_ms: i64,
    /// Lifetime of an online code (ms).
    pub online_code_ttl_ms: i64,
    /// Bearer token of the admin endpoints; `None` disables them.
    pub admin_token: Option<String>,
    /// Whether `POST /v1/users` is open to anyone (demo) or needs the admin token.
    pub open_registration: bool,
    /// Balance (minor units) a new user starts with: the demo ledger.
    pub initial_balance: i64,
    /// Largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// Brute-force limits.
    pub limits: RateLimits,
    /// A connection must send a complete request head within this long of opening or of its
    /// previous answer; otherwise it is closed. This is both the idle (keep-alive) timeout and
    /// the header-read timeout.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this long of its head (else 408).
    pub body_timeout: Duration,
    /// Connections served at once (lowered to fit the open-file limit); more wait in the
    /// listen backlog.
    pub max_connections: usize,
    /// Cost of password hashing: `true` uses argon2's defaults (production), `false` a cheap
    /// setting for tests and benches only.
    pub strong_password_hashing: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite:paycode.db".into(),
            prefix: Prefix::DEFAULT,
            time: TimeParams::default(),
            skew_back: 1,
            skew_ahead: 1,
            validity_secs: 3 * 86_400,
            refresh_below_secs: 86_400,
            refreshes: paycode_core::credential::DEFAULT_REFRESHES,
            v1_cutoff: None,
            login_token_ttl_ms: 5 * 60 * 1000,
            online_code_ttl_ms: 60 * 1000,
            admin_token: None,
            open_registration: false,
            initial_balance: 10_000_000,
            max_body_bytes: 16 * 1024,
            limits: RateLimits::default(),
            strong_password_hashing: true,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// A configuration value that does not make sense.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Checks ranges the protocol imposes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.time.is_valid() {
            return Err(ConfigError(format!(
                "step {} s is outside 10..=600",
                self.time.step_secs
            )));
        }
        if self.validity_secs < 3600 || self.validity_secs > 30 * 86_400 {
            return Err(ConfigError("validity must be between 1 hour and 30 days".into()));
        }
        if !(1..=paycode_core::code::COUNTERS_PER_STEP).contains(&self.refreshes) {
            return Err(ConfigError("refreshes per step must be 1..=10".into()));
        }
        // The largest table: a sync re-covers the verification window (skew_back + 1 steps) and
        // an interval not aligned to steps touches one step more.
        let entries = (self.validity_secs / i64::from(self.time.step_secs) + 2 + i64::from(self.skew_back))
            * i64::from(self.refreshes);
        if entries > paycode_core::credential::MAX_TABLE_ENTRIES as i64 {
            return Err(ConfigError(format!(
                "validity {} s at {} s steps and {} refreshes needs {entries} identities per bundle; at most {} (7 days of 60-s steps × 4)",
                self.validity_secs,
                self.time.step_secs,
                self.refreshes,
                paycode_core::credential::MAX_TABLE_ENTRIES
            )));
        }
        if self.refresh_below_secs < 0 || self.refresh_below_secs >= self.validity_secs {
            return Err(ConfigError("refresh threshold must be below the validity".into()));
        }
        if self.skew_back > 10 || self.skew_ahead > 10 {
            return Err(ConfigError("skew must be at most 10 steps".into()));
        }
        if self.online_code_ttl_ms < 1000 || self.login_token_ttl_ms < 1000 {
            return Err(ConfigError("token lifetimes must be at least 1 s".into()));
        }
        if self.limits.refusal_delay_ms > 10_000 {
            return Err(ConfigError(
                "the refusal delay must be at most 10 s (10000 ms): a refused merchant's request is held that long".into(),
            ));
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            return Err(ConfigError(
                "the header and body timeouts must be positive".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError("max connections must be at least 1".into()));
        }
        Ok(())
    }

    /// Reads `PAYCODE_*` variables over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        }
        fn num<T: std::str::FromStr>(name: &str) -> Result<Option<T>, ConfigError> {
            var(name)
                .map(|v| {
                    v.parse()
                        .map_err(|_| ConfigError(format!("{name}={v:?} is not a number")))
                })
                .transpose()
        }
        let mut c = Config::default();
        if let Some(url) = var("PAYCODE_DATABASE_URL") {
            c.database_url = url;
        }
        if let Some(p) = num::<u8>("PAYCODE_PREFIX")? {
            c.prefix = Prefix::new(p).ok_or_else(|| ConfigError(format!("prefix {p} is not 10..=99")))?;
        }
        if let Some(s) = num("PAYCODE_STEP_SECS")? {
            c.time = TimeParams { step_secs: s };
        }
        if let Some(s) = num("PAYCODE_SKEW_BACK")? {
            c.skew_back = s;
        }
        if let Some(s) = num("PAYCODE_SKEW_AHEAD")? {
            c.skew_ahead = s;
        }
        if let Some(d) = num::<i64>("PAYCODE_VALIDITY_DAYS")? {
            c.validity_secs = d * 86_400;
        }
        if let Some(d) = num::<i64>("PAYCODE_REFRESH_BELOW_DAYS")? {
            c.refresh_below_secs = d * 86_400;
        }
        if let Some(r) = num("PAYCODE_REFRESHES_PER_STEP")? {
            c.refreshes = r;
        }
        if let Some(t) = num("PAYCODE_V1_CUTOFF")? {
            c.v1_cutoff = Some(t);
        }
        if let Some(s) = num::<i64>("PAYCODE_ONLINE_CODE_TTL_SECS")? {
            c.online_code_ttl_ms = s * 1000;
        }
        c.admin_token = var("PAYCODE_ADMIN_TOKEN");
        if let Some(v) = var("PAYCODE_OPEN_REGISTRATION") {
            c.open_registration = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(b) = num("PAYCODE_INITIAL_BALANCE")? {
            c.initial_balance = b;
        }
        if let Some(n) = num("PAYCODE_MERCHANT_FAILURES_PER_MIN")? {
            c.limits.merchant_failures = n;
        }
        if let Some(n) = num("PAYCODE_MERCHANT_SLOT_FAILURES_PER_MIN")? {
            c.limits.merchant_slot_failures = n;
        }
        if let Some(n) = num("PAYCODE_SLOT_FAILURES_PER_MIN")? {
            c.limits.slot_failures = n;
        }
        if let Some(n) = num("PAYCODE_GLOBAL_FAILURES_PER_MIN")? {
            c.limits.global_failures = n;
        }
        if let Some(ms) = num("PAYCODE_REFUSAL_DELAY_MS")? {
            c.limits.refusal_delay_ms = ms;
        }
        if let Some(s) = num::<u64>("PAYCODE_HEADER_TIMEOUT_SECS")? {
            c.header_timeout = Duration::from_secs(s);
        }
        if let Some(s) = num::<u64>("PAYCODE_BODY_TIMEOUT_SECS")? {
            c.body_timeout = Duration::from_secs(s);
        }
        if let Some(n) = num("PAYCODE_MAX_CONNECTIONS")? {
            c.max_connections = n;
        }
        c.validate()?;
        Ok(c)
    }
}
