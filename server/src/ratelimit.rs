//! Brute-force limits: failed verifications counted per merchant, per device slot and
//! globally over a sliding window on the issuer's clock, with lockouts.
//!
//! Each counter keeps the failures of the current fixed window and of the one before; the
//! count "in the last window" is estimated as `previous × (share of the previous window still
//! inside the last window_ms) + current` (the usual sliding-window estimate). A fixed window
//! alone would forget everything at each boundary: an attack held back by the global limit
//! would be let through all at once every minute (the guess storm showed it: a burst of one
//! verified guess per attacker connection at each minute, and honest payments waiting behind
//! the burst's database writes).
//!
//! * A merchant with `merchant_failures` failed verifications in a window is locked out for
//!   `lockout_ms` (HTTP 429 `rate_limited`).
//! * A slot that `slot_failures` failed guesses pointed at is locked for `lockout_ms`: codes
//!   that decrypt to it are declined `slot_locked` *before* their OTP is checked, so a locked
//!   slot answers nothing about a guess.
//! * When all merchants together exceed `global_failures` in a window, every merchant that has
//!   failed in the current or the previous fixed window is refused until the estimate falls
//!   below the threshold again (an attack spread over many keys is contained; merchants with
//!   clean traffic keep paying).
//! * A refused merchant's `429` is answered after `refusal_delay_ms` (a tarpit): refusing costs the issuer almost nothing, so without it one
//!   attacker on a few keep-alive connections could keep the issuer's cores busy answering 429s
//!   and slow honest payments. With it, each connection of a refused merchant gets at most
//!   1 000 / `refusal_delay_ms` answers a second, so an attacker's rate is bounded by the
//!   connections it holds (which a front proxy caps per source). docs/STORMS.md measures it.
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
    /// How long a refused merchant waits for its `429` (ms; 0: answer at once).
    pub refusal_delay_ms: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            merchant_failures: 30,
            slot_failures: 5,
            global_failures: 1_000,
            window_ms: 60_000,
            lockout_ms: 5 * 60_000,
            refusal_delay_ms: 250,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    window_start: i64,
    count: u32,
    /// Failures of the fixed window just before `window_start` (0 if that window was skipped).
    previous: u32,
    locked_until: i64,
    /// Refusals not yet reported in a log line.
    unlogged: u32,
    /// Window of the last logged refusal.
    logged_window: Option<i64>,
}

impl Counter {
    fn roll(&mut self, now: i64, window: i64) {
        let start = now - now.rem_euclid(window);
        if start != self.window_start {
            // The window just ended becomes the previous one; after a gap (or a clock set
            // back) there is nothing to carry.
            self.previous = if start == self.window_start + window {
                self.count
            } else {
                0
            };
            self.count = 0;
            self.window_start = start;
        }
    }

    /// Failures in the `window` ms up to `now` (sliding estimate; call `roll` first).
    fn recent(&self, now: i64, window: i64) -> u64 {
        let left_of_previous = (self.window_start + window - now).clamp(0, window);
        u64::from(self.previous) * left_of_previous.unsigned_abs() / window.unsigned_abs()
            + u64::from(self.count)
    }

    /// Milliseconds from `now` until [`Self::recent`] falls below `threshold`, if no more
    /// failures come (call `roll` first).
    fn ms_until_below(&self, now: i64, window: i64, threshold: u32) -> i64 {
        let (threshold, count, previous) = (
            i64::from(threshold),
            i64::from(self.count),
            i64::from(self.previous),
        );
        // previous × (window_start + window − t) / window + count < threshold, solved for t in
        // this window; else in the next one, where this window's count is the previous.
        let (start, carried, rest) = if count < threshold {
            (self.window_start, previous, threshold - count)
        } else {
            (self.window_start + window, count, threshold)
        };
        let t = start + window - rest * window / carried.max(1) + 1;
        (t - now).max(1)
    }

    /// Counts one failure; returns whether that locked it.
    fn fail(&mut self, now: i64, limits: &RateLimits, threshold: u32) -> bool {
        self.roll(now, limits.window_ms);
        self.count = self.count.saturating_add(1);
        if self.recent(now, limits.window_ms) >= u64::from(threshold) && self.locked_until <= now {
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
    /// All merchants' failures, and how many codes of failing merchants are being verified.
    global: Mutex<(Counter, u32)>,
}

/// Leave to verify one code. While a merchant that failed recently holds one, it counts as a
/// failure towards the global limit (until the failure is recorded, or the code turns out
/// good): verification takes a database round trip, and without this every attacker
/// connection would be let through in the moment the global limit reopens.
#[derive(Debug)]
#[must_use = "the admission must live until the code's outcome is recorded"]
pub struct Admission<'a> {
    reserved: Option<&'a Mutex<(Counter, u32)>>,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if let Some(global) = self.reserved {
            let mut global = lock(global);
            global.1 = global.1.saturating_sub(1);
        }
    }
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
            global: Mutex::new((Counter::default(), 0)),
        }
    }

    /// The thresholds in force.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Whether `merchant` may submit a code at `now_ms`; keep the [`Admission`] until the
    /// code's outcome is recorded.
    pub fn check_merchant(&self, merchant: &str, now_ms: i64) -> Result<Admission<'_>, Refused> {
        let window = self.limits.window_ms;
        let clean = Admission { reserved: None };
        let mut merchants = lock(&self.merchants);
        let Some(counter) = merchants.get_mut(merchant) else {
            return Ok(clean);
        };
        if counter.locked_until > now_ms {
            let retry_after_ms = counter.locked_until - now_ms;
            return Err(counter.refuse(now_ms, window, retry_after_ms, false));
        }
        counter.roll(now_ms, window);
        if counter.count == 0 && counter.previous == 0 {
            return Ok(clean);
        }
        let threshold = self.limits.global_failures;
        let retry_after_ms = {
            let mut global = lock(&self.global);
            let (failures, verifying) = &mut *global;
            failures.roll(now_ms, window);
            if failures.recent(now_ms, window) + u64::from(*verifying) >= u64::from(threshold) {
                // (While codes are being verified the estimate may already be below the
                // threshold: then the earliest retry is 1 ms.)
                Some(failures.ms_until_below(now_ms, window, threshold))
            } else {
                *verifying = verifying.saturating_add(1);
                None
            }
        };
        match retry_after_ms {
            Some(retry_after_ms) => Err(counter.refuse(now_ms, window, retry_after_ms, true)),
            None => Ok(Admission {
                reserved: Some(&self.global),
            }),
        }
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
        lock(&self.global).0.fail(now_ms, &limits, u32::MAX);
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
            refusal_delay_ms: 0,
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

    #[test]
    fn the_global_limit_carries_over_a_window_boundary() {
        let l = RateLimiter::new(limits());
        let start = 1_000_020_000; // a window boundary (60 s windows)
        let late = start + 50_000;
        for m in ["a", "b", "c", "d", "e", "f"] {
            l.record_failure(m, &[], late);
        }
        assert!(l.check_merchant("a", late + 1).unwrap_err().global);
        // A fixed window would let every failing merchant through at the boundary.
        let next = start + 60_000;
        let refused = l.check_merchant("a", next).unwrap_err();
        assert!(refused.global);
        // 6 failures × (60 − e)/60 < 5 from e > 10 s into the next window.
        assert_eq!(refused.retry_after_ms, 10_001);
        assert!(l.check_merchant("a", next + 9_999).is_err());
        assert!(l.check_merchant("a", next + 10_001).is_ok());
        assert!(
            l.check_merchant("clean", next).is_ok(),
            "clean merchants keep paying"
        );
        // Two windows later nothing is carried.
        assert!(l.check_merchant("b", start + 120_000).is_ok());
    }

    #[test]
    fn failures_on_both_sides_of_a_boundary_lock_a_merchant() {
        let l = RateLimiter::new(limits());
        let start = 1_000_020_000;
        assert!(!l.record_failure("m", &[], start + 59_000));
        assert!(!l.record_failure("m", &[], start + 59_500));
        // The estimate rounds down: ⌊2 × 59.5/60⌋ + 1 = 2 at 60.5 s, ⌊2 × 59/60⌋ + 2 = 3 at 61 s,
        // so the merchant is locked two seconds after its first failure, as inside one window.
        assert!(!l.record_failure("m", &[], start + 60_500));
        assert!(l.record_failure("m", &[], start + 61_000));
        assert!(!l.check_merchant("m", start + 61_001).unwrap_err().global);
    }

    #[test]
    fn codes_being_verified_count_towards_the_global_limit() {
        let l = RateLimiter::new(limits());
        let t = 1_000_020_000;
        for m in ["a", "b", "c", "d"] {
            l.record_failure(m, &[], t);
        }
        // 4 failures of 5: one more code of a failing merchant may be verified, not two.
        let first = l.check_merchant("a", t + 1).expect("under the limit");
        let refused = l.check_merchant("b", t + 1).unwrap_err();
        assert!(refused.global);
        assert!(
            l.check_merchant("clean", t + 1).is_ok(),
            "clean merchants keep paying"
        );
        // The code was good (or its failure is recorded): the reservation goes with it.
        drop(first);
        assert!(l.check_merchant("b", t + 2).is_ok());
    }
}
