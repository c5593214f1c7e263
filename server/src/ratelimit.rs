//! Brute-force limits: failed verifications counted per merchant, per device slot and
//! globally, in fixed windows on the issuer's clock, with lockouts.
//!
//! * A merchant with `merchant_failures` failed verifications in a window is locked out for
//!   `lockout_ms` (HTTP 429 `rate_limited`).
//! * A slot that `slot_failures` failed guesses pointed at is locked for `lockout_ms`: codes
//!   that decrypt to it are declined `slot_locked` *before* their OTP is checked, so a locked
//!   slot answers nothing about a guess.
//! * When all merchants together exceed `global_failures` in a window, every merchant that has
//!   failed at least once in that window is refused until the window ends (an attack spread
//!   over many keys is contained; merchants with clean traffic keep paying).
//!
//! The counters live in process memory: each issuer process enforces its own limits.

use std::collections::HashMap;
use std::sync::Mutex;

use paycode_core::Slot;

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Failed verifications per merchant per window before lockout.
    pub merchant_failures: u32,
    /// Failed guesses per slot per window before lockout.
    pub slot_failures: u32,
    /// Failed verifications per window, all merchants together.
    pub global_failures: u32,
    /// Window length (ms).
    pub window_ms: i64,
    /// Lockout length (ms).
    pub lockout_ms: i64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            merchant_failures: 30,
            slot_failures: 5,
            global_failures: 1_000,
            window_ms: 60_000,
            lockout_ms: 5 * 60_000,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    window_start: i64,
    count: u32,
    locked_until: i64,
    /// Refusals not yet reported in a log line.
    unlogged: u32,
    /// Window of the last logged refusal.
    logged_window: Option<i64>,
}

impl Counter {
    fn roll(&mut self, now: i64, window: i64) {
        if now - self.window_start >= window || now < self.window_start {
            self.window_start = now - now.rem_euclid(window);
            self.count = 0;
        }
    }

    /// Counts one failure; returns whether that locked it.
    fn fail(&mut self, now: i64, limits: &RateLimits, threshold: u32) -> bool {
        self.roll(now, limits.window_ms);
        self.count = self.count.saturating_add(1);
        if self.count >= threshold && self.locked_until <= now {
            self.locked_until = now + limits.lockout_ms;
            return true;
        }
        false
    }

    /// Counts one refusal of this merchant; see [`Refused::log`].
    fn refuse(&mut self, now: i64, window: i64, retry_after_ms: i64, global: bool) -> Refused {
        self.unlogged = self.unlogged.saturating_add(1);
        let this_window = now - now.rem_euclid(window);
        let log = if self.logged_window == Some(this_window) {
            None
        } else {
            self.logged_window = Some(this_window);
            Some(std::mem::take(&mut self.unlogged))
        };
        Refused {
            retry_after_ms,
            global,
            log,
        }
    }
}

/// Why a merchant is refused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Milliseconds until it may try again.
    pub retry_after_ms: i64,
    /// Whether the global threshold (rather than the merchant's own) caused it.
    pub global: bool,
    /// `Some(n)`: log this refusal, reporting `n` refusals (this one included) since the
    /// merchant's last logged one; `None`: only counted. One line per merchant per window, so
    /// that a storm of refused guesses does not turn into a storm of log lines.
    pub log: Option<u32>,
}

/// The limiter's state.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    merchants: Mutex<HashMap<String, Counter>>,
    slots: Mutex<HashMap<Slot, Counter>>,
    global: Mutex<Counter>,
}

/// Bound on tracked slots: past it, counters with nothing to remember are dropped.
const MAX_TRACKED: usize = 100_000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters are plain integers updated in one step: a poisoned lock holds no broken state.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RateLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            merchants: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            global: Mutex::new(Counter::default()),
        }
    }

    /// Whether `merchant` may submit codes at `now_ms`.
    pub fn check_merchant(&self, merchant: &str, now_ms: i64) -> Result<(), Refused> {
        let window = self.limits.window_ms;
        let mut merchants = lock(&self.merchants);
        let Some(counter) = merchants.get_mut(merchant) else {
            return Ok(());
        };
        if counter.locked_until > now_ms {
            let retry_after_ms = counter.locked_until - now_ms;
            return Err(counter.refuse(now_ms, window, retry_after_ms, false));
        }
        counter.roll(now_ms, window);
        if counter.count > 0 {
            let retry_after_ms = {
                let mut global = lock(&self.global);
                global.roll(now_ms, window);
                (global.count >= self.limits.global_failures).then_some(global.window_start + window - now_ms)
            };
            if let Some(retry_after_ms) = retry_after_ms {
                return Err(counter.refuse(now_ms, window, retry_after_ms, true));
            }
        }
        Ok(())
    }

    /// Whether `slot` is locked at `now_ms`.
    pub fn slot_locked(&self, slot: Slot, now_ms: i64) -> bool {
        lock(&self.slots)
            .get(&slot)
            .is_some_and(|c| c.locked_until > now_ms)
    }

    /// Records one failed verification by `merchant` whose code pointed at `slots` (the
    /// candidate slots that exist). Returns whether the merchant got locked by it.
    pub fn record_failure(&self, merchant: &str, slots: &[Slot], now_ms: i64) -> bool {
        let limits = self.limits;
        lock(&self.global).fail(now_ms, &limits, u32::MAX);
        {
            let mut tracked = lock(&self.slots);
            if tracked.len() >= MAX_TRACKED {
                tracked.retain(|_, c| c.locked_until > now_ms || now_ms - c.window_start < limits.window_ms);
            }
            for slot in slots {
                if tracked
                    .entry(*slot)
                    .or_default()
                    .fail(now_ms, &limits, limits.slot_failures)
                {
                    tracing::warn!(slot, "slot locked after repeated failed codes");
                }
            }
        }
        let mut merchants = lock(&self.merchants);
        let locked =
            merchants
                .entry(merchant.to_owned())
                .or_default()
                .fail(now_ms, &limits, limits.merchant_failures);
        if locked {
            tracing::warn!(merchant, "merchant locked out after repeated failed codes");
        }
        locked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RateLimits {
        RateLimits {
            merchant_failures: 3,
            slot_failures: 2,
            global_failures: 5,
            window_ms: 60_000,
            lockout_ms: 120_000,
        }
    }

    #[test]
    fn merchant_lockout_engages_and_expires() {
        let l = RateLimiter::new(limits());
        let t = 1_000_000_000;
        assert!(!l.record_failure("m", &[], t));
        assert!(!l.record_failure("m", &[], t + 1));
        assert!(l.record_failure("m", &[], t + 2));
        let refused = l.check_merchant("m", t + 3).unwrap_err();
        assert_eq!(refused.retry_after_ms, 120_000 - 1);
        assert!(l.check_merchant("other", t + 3).is_ok());
        assert!(l.check_merchant("m", t + 2 + 120_000).is_ok());
    }

    #[test]
    fn refusals_are_logged_once_per_window_with_a_count() {
        let l = RateLimiter::new(limits());
        let t = 1_000_000_000;
        for i in 0..3 {
            l.record_failure("m", &[], t + i);
        }
        let logs: Vec<Option<u32>> = (0..4)
            .map(|i| l.check_merchant("m", t + 10 + i).unwrap_err().log)
            .collect();
        assert_eq!(logs, [Some(1), None, None, None]);
        // Next window: one line, counting the three refusals it did not log.
        assert_eq!(l.check_merchant("m", t + 60_000).unwrap_err().log, Some(4));
        assert_eq!(l.check_merchant("m", t + 60_001).unwrap_err().log, None);
    }

    #[test]
    fn slot_lockout_and_global_threshold() {
        let l = RateLimiter::new(limits());
        let t = 1_000_020_000;
        l.record_failure("a", &[7], t);
        assert!(!l.slot_locked(7, t));
        l.record_failure("b", &[7], t);
        assert!(l.slot_locked(7, t + 1));
        assert!(!l.slot_locked(8, t + 1));
        // Three more failures from different merchants cross the global threshold of 5.
        l.record_failure("c", &[], t);
        l.record_failure("d", &[], t);
        assert!(l.check_merchant("a", t).is_ok());
        l.record_failure("e", &[], t);
        assert!(l.check_merchant("a", t).unwrap_err().global);
        assert!(
            l.check_merchant("clean", t).is_ok(),
            "clean merchants keep paying"
        );
    }
}
