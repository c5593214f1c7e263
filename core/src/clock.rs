//! Time comes in through [`Clock`], so logic is deterministic and tests drive it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch (UTC).
///
/// Implementations must be cheap and must not block; the wallet calls this on every code.
pub trait Clock: Send + Sync {
    /// Milliseconds since 1970-01-01T00:00:00Z. May go backwards (the user can set the phone's
    /// clock); callers that care detect that themselves.
    fn now_ms(&self) -> i64;

    /// Whole seconds since the epoch (floor).
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// A monotonic reading in ms (arbitrary origin, never jumps when the user sets the clock),
    /// if the platform has one. The wallet uses it to keep issuer time across wall-clock jumps.
    fn monotonic_ms(&self) -> Option<i64> {
        None
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Keeps counting while the device sleeps: `CLOCK_BOOTTIME` on Linux and Android,
    /// `CLOCK_MONOTONIC` on Apple platforms (where it counts sleep). `std::time::Instant` would
    /// not do: it is `CLOCK_MONOTONIC` on Android and `CLOCK_UPTIME_RAW` on Apple platforms, both
    /// stopped during suspend, so after a phone slept ten minutes the anchored issuer time would
    /// be ten minutes late and its codes declined. Elsewhere, `Instant` (documented limitation).
    fn monotonic_ms(&self) -> Option<i64> {
        awake_or_asleep_ms()
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
#[allow(clippy::useless_conversion)] // time_t is 32-bit on some targets (armv7)
fn awake_or_asleep_ms() -> Option<i64> {
    use rustix::time::{ClockId, clock_gettime};
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const CLOCK: ClockId = ClockId::Boottime;
    #[cfg(target_vendor = "apple")]
    const CLOCK: ClockId = ClockId::Monotonic;
    let ts = clock_gettime(CLOCK);
    Some(i64::from(ts.tv_sec) * 1000 + i64::from(ts.tv_nsec) / 1_000_000)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn awake_or_asleep_ms() -> Option<i64> {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = ORIGIN.get_or_init(std::time::Instant::now);
    i64::try_from(origin.elapsed().as_millis()).ok()
}

/// A clock that moves only when told to: for tests, simulations and the scripted demo.
/// Cloning shares the same time. [`ManualClock::advance_ms`] moves wall and monotonic time
/// together (time passing); [`ManualClock::set_ms`] moves only the wall clock (the user setting
/// the phone's clock).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>, Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `unix_ms`.
    pub fn new(unix_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix_ms)), Arc::new(AtomicI64::new(0)))
    }

    /// Forgets monotonic time, as a reboot does.
    pub fn reboot(&self) {
        self.1.store(0, Ordering::SeqCst);
    }

    /// A clock standing at `unix_secs` seconds.
    pub fn at_secs(unix_secs: i64) -> Self {
        Self::new(unix_secs * 1000)
    }

    /// Sets the time (forwards or backwards).
    pub fn set_ms(&self, unix_ms: i64) {
        self.0.store(unix_ms, Ordering::SeqCst);
    }

    /// Moves the time by `delta_ms` (negative moves it back).
    pub fn advance_ms(&self, delta_ms: i64) {
        self.0.fetch_add(delta_ms, Ordering::SeqCst);
        self.1.fetch_add(delta_ms, Ordering::SeqCst);
    }

    /// Moves the time by whole seconds.
    pub fn advance_secs(&self, delta_secs: i64) {
        self.advance_ms(delta_secs * 1000);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn monotonic_ms(&self) -> Option<i64> {
        Some(self.1.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_secs(1_800_000_000);
        let shared = clock.clone();
        assert_eq!(clock.now_secs(), 1_800_000_000);
        shared.advance_ms(1_500);
        assert_eq!(clock.now_ms(), 1_800_000_001_500);
        clock.set_ms(-1);
        assert_eq!(shared.now_secs(), -1, "floor division before the epoch");
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now_secs() > 1_700_000_000);
    }

    #[test]
    fn monotonic_reading_advances_with_real_time() {
        let a = SystemClock.monotonic_ms().expect("a monotonic clock");
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = SystemClock.monotonic_ms().unwrap();
        assert!((25..1_000).contains(&(b - a)), "{a} → {b}");
    }

    /// Boot time, not awake time: `/proc/uptime`'s first field is `CLOCK_BOOTTIME` in seconds
    /// (an `Instant`-based reading would start near zero in this process instead).
    #[cfg(target_os = "linux")]
    #[test]
    fn monotonic_time_counts_sleep() {
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let ours = SystemClock.monotonic_ms().unwrap() as f64 / 1000.0;
        assert!((ours - uptime).abs() < 2.0, "{ours} vs {uptime}");
    }
}
