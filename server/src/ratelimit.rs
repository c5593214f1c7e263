//! Brute-force limits: verifications of codes counted per merchant, per (merchant, device
//! slot), per slot over all merchants and globally, over a sliding window on the issuer's
//! clock, with lockouts — and reserved when a code is *admitted*, not when its outcome is
//! known.
//!
//! **Admission.** A code is verified only after it has taken a place in its merchant's budget
//! and in the global one ([`RateLimiter::check_merchant`]) and, once the slots it decrypts to are
//! known, in each slot's budgets ([`Admission::reserve_slots`]). A place is held while the code
//! is verified; a failure then stays counted ([`Admission::record_failure`]), any other outcome
//! gives the place back (drop). A budget admits a code only while
//! `failures in the window + codes being verified < limit`, so a burst on any number of
//! connections gets no more verifications than the limit, from the first request: counting
//! failures only when they were recorded let one fresh key have 600 guesses verified in 0.4 s
//! (issue 11). The price for honest merchants: one key has at most `merchant_failures` codes
//! being verified at once (30 by default; a verification takes milliseconds) — more concurrent
//! codes are refused `429` with `Retry-After: 1` (docs/API.md "Brute force").
//!
//! Each counter keeps the failures of the current fixed window and of the one before; the
//! count "in the last window" is estimated as `previous × (share of the previous window still
//! inside the last window_ms) + current` (the usual sliding-window estimate). A fixed window
//! alone would forget everything at each boundary.
//!
//! * A merchant with `merchant_failures` failed verifications in a window is locked out for
//!   `lockout_ms` (HTTP 429 `rate_limited`).
//! * A (merchant, slot) pair with `merchant_slot_failures` failed guesses is locked for
//!   `lockout_ms`: that merchant's codes that decrypt to the slot are declined `slot_locked`
//!   *before* their OTP is checked. Other merchants are not affected: one merchant cannot lock
//!   a customer out elsewhere (issue 11).
//! * A slot that `slot_failures` failed guesses (all merchants together) pointed at is locked
//!   for everyone for `lockout_ms`. The default (25 = 5 merchants × 5) keeps a bound on the
//!   guesses at one slot while taking several merchant keys acting together to reach it.
//! * When all merchants together reach `global_failures` in a window (codes being verified
//!   included), merchants that failed in the current or the previous fixed window are refused
//!   until the estimate falls below the threshold again. A merchant with no failure in that
//!   time may still have one code at a time verified (the clean lane): honest merchants keep
//!   paying during an attack, and an attacker gains at most one verification per key it holds
//!   per window (its first failure takes the key out of the lane for two windows).
//! * A refused merchant's `429` is answered after `refusal_delay_ms` (a tarpit): refusing costs
//!   the issuer almost nothing, so without it one attacker on a few keep-alive connections
//!   could keep the issuer's cores busy answering 429s and slow honest payments. With it, each
//!   connection of a refused merchant gets at most 1 000 / `refusal_delay_ms` answers a second.
//!
//! The counters live in process memory: each issuer process enforces its own limits.

use std::collections::HashMap;
use std::sync::Mutex;

use paycode_core::Slot;

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Verified failures (and codes being verified) per merchant per window before lockout.
    pub merchant_failures: u32,
    /// Failed guesses per (merchant, slot) per window before that pair is locked.
    pub merchant_slot_failures: u32,
    /// Failed guesses per slot per window, all merchants together, before the slot is locked.
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
            merchant_slot_failures: 5,
            slot_failures: 25,
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
    /// Codes admitted against this counter whose outcome is not recorded yet.
    in_flight: u32,
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

    /// Whether one more code may be admitted under `threshold` (rolls the window).
    fn has_room(&mut self, now: i64, window: i64, threshold: u32) -> bool {
        self.roll(now, window);
        self.locked_until <= now
            && self.recent(now, window) + u64::from(self.in_flight) < u64::from(threshold)
    }

    /// Whether it failed in the current or the previous window (call `roll` first).
    fn failed_lately(&self) -> bool {
        self.count > 0 || self.previous > 0
    }

    /// Whether it holds nothing worth remembering at `now`.
    fn is_idle(&self, now: i64, window: i64) -> bool {
        self.in_flight == 0
            && self.locked_until <= now
            && self.unlogged == 0
            && now - self.window_start >= 2 * window
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

#[derive(Debug, Default)]
struct Counters {
    merchants: HashMap<String, Counter>,
    /// Per (merchant, slot).
    pairs: HashMap<(String, Slot), Counter>,
    /// Per slot, all merchants together.
    slots: HashMap<Slot, Counter>,
    global: Counter,
    /// The latest time the limiter was told (for cleaning up when an admission is dropped).
    now: i64,
}

/// The limiter's state.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    counters: Mutex<Counters>,
}

/// A code's place in the budgets (module documentation): hold it until the code's outcome is
/// recorded; dropping it gives back the places a failure did not use.
#[derive(Debug)]
#[must_use = "the admission must live until the code's outcome is recorded"]
pub struct Admission<'a> {
    limiter: &'a RateLimiter,
    merchant: String,
    slots: Vec<Slot>,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        let window = self.limiter.limits.window_ms;
        let mut c = lock(&self.limiter.counters);
        let now = c.now;
        c.global.in_flight = c.global.in_flight.saturating_sub(1);
        if let Some(m) = c.merchants.get_mut(&self.merchant) {
            m.in_flight = m.in_flight.saturating_sub(1);
            if m.is_idle(now, window) {
                c.merchants.remove(&self.merchant);
            }
        }
        for slot in std::mem::take(&mut self.slots) {
            let key = (std::mem::take(&mut self.merchant), slot);
            if let Some(p) = c.pairs.get_mut(&key) {
                p.in_flight = p.in_flight.saturating_sub(1);
                if p.is_idle(now, window) {
                    c.pairs.remove(&key);
                }
            }
            self.merchant = key.0;
            if let Some(s) = c.slots.get_mut(&slot) {
                s.in_flight = s.in_flight.saturating_sub(1);
                if s.is_idle(now, window) {
                    c.slots.remove(&slot);
                }
            }
        }
    }
}

impl Admission<'_> {
    /// Takes a place for this code in the budgets of each of `slots` (the existing slots its
    /// identity field decrypts to). `Err(slot)`: that slot is locked for this merchant (or
    /// for everyone), or already has as many codes being verified as failures left; nothing is
    /// reserved and the code must be declined `slot_locked` without checking its OTP.
    pub fn reserve_slots(&mut self, slots: &[Slot], now_ms: i64) -> Result<(), Slot> {
        let limits = self.limiter.limits;
        let window = limits.window_ms;
        let mut guard = lock(&self.limiter.counters);
        let c = &mut *guard;
        for &slot in slots {
            let key = (self.merchant.clone(), slot);
            let pair_ok = c
                .pairs
                .get_mut(&key)
                .is_none_or(|p| p.has_room(now_ms, window, limits.merchant_slot_failures));
            let slot_ok = c
                .slots
                .get_mut(&slot)
                .is_none_or(|s| s.has_room(now_ms, window, limits.slot_failures));
            if !(pair_ok && slot_ok) {
                return Err(slot);
            }
        }
        for &slot in slots {
            c.pairs
                .entry((self.merchant.clone(), slot))
                .or_default()
                .in_flight += 1;
            c.slots.entry(slot).or_default().in_flight += 1;
            self.slots.push(slot);
        }
        Ok(())
    }

    /// Records that this code was a failed guess: it stays counted against its merchant, the
    /// global budget and the slots it reserved. Returns whether the merchant got locked by it.
    pub fn record_failure(&self, now_ms: i64) -> bool {
        self.limiter.record_failure(&self.merchant, &self.slots, now_ms)
    }
}

/// Bound on tracked slots and pairs: past it, counters with nothing to remember are dropped.
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
            counters: Mutex::new(Counters::default()),
        }
    }

    /// The thresholds in force.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Admits one code of `merchant` at `now_ms` for verification, taking its place in the
    /// merchant's and the global budget; keep the [`Admission`] until the code's outcome is
    /// recorded.
    pub fn check_merchant(&self, merchant: &str, now_ms: i64) -> Result<Admission<'_>, Refused> {
        let limits = self.limits;
        let window = limits.window_ms;
        let mut guard = lock(&self.counters);
        let c = &mut *guard;
        c.now = c.now.max(now_ms);
        c.global.roll(now_ms, window);
        let counter = c.merchants.entry(merchant.to_owned()).or_default();
        if counter.locked_until > now_ms {
            let retry_after_ms = counter.locked_until - now_ms;
            return Err(counter.refuse(now_ms, window, retry_after_ms, false));
        }
        if !counter.has_room(now_ms, window, limits.merchant_failures) {
            // Failures recorded so far are below the lockout threshold, so the rest are codes
            // being verified: they take milliseconds.
            return Err(counter.refuse(now_ms, window, 1_000, false));
        }
        let global_room = c.global.recent(now_ms, window) + u64::from(c.global.in_flight)
            < u64::from(limits.global_failures);
        let clean_lane = !counter.failed_lately() && counter.in_flight == 0;
        if !global_room && !clean_lane {
            let retry_after_ms = if c.global.recent(now_ms, window) >= u64::from(limits.global_failures) {
                c.global.ms_until_below(now_ms, window, limits.global_failures)
            } else {
                // Full of codes being verified.
                1_000
            };
            return Err(counter.refuse(now_ms, window, retry_after_ms, true));
        }
        counter.in_flight += 1;
        c.global.in_flight += 1;
        Ok(Admission {
            limiter: self,
            merchant: merchant.to_owned(),
            slots: Vec::new(),
        })
    }

    /// Whether `slot` is locked at `now_ms` for `merchant` (by its own failures or everyone's).
    pub fn slot_locked(&self, merchant: &str, slot: Slot, now_ms: i64) -> bool {
        let c = lock(&self.counters);
        c.slots.get(&slot).is_some_and(|s| s.locked_until > now_ms)
            || c.pairs
                .get(&(merchant.to_owned(), slot))
                .is_some_and(|p| p.locked_until > now_ms)
    }

    /// Records one failed verification by `merchant` whose code pointed at `slots` (the
    /// candidate slots that exist). Returns whether the merchant got locked by it.
    pub fn record_failure(&self, merchant: &str, slots: &[Slot], now_ms: i64) -> bool {
        let limits = self.limits;
        let window = limits.window_ms;
        let mut guard = lock(&self.counters);
        let c = &mut *guard;
        c.now = c.now.max(now_ms);
        c.global.fail(now_ms, &limits, u32::MAX);
        if c.slots.len() >= MAX_TRACKED {
            c.slots.retain(|_, s| !s.is_idle(now_ms, window));
        }
        if c.pairs.len() >= MAX_TRACKED {
            c.pairs.retain(|_, p| !p.is_idle(now_ms, window));
        }
        for slot in slots {
            if c.pairs.entry((merchant.to_owned(), *slot)).or_default().fail(
                now_ms,
                &limits,
                limits.merchant_slot_failures,
            ) {
                tracing::warn!(
                    slot,
                    merchant,
                    "slot locked for this merchant after repeated failed codes"
                );
            }
            if c.slots
                .entry(*slot)
                .or_default()
                .fail(now_ms, &limits, limits.slot_failures)
            {
                tracing::warn!(slot, "slot locked for all merchants after repeated failed codes");
            }
        }
        let locked = c.merchants.entry(merchant.to_owned()).or_default().fail(
            now_ms,
            &limits,
            limits.merchant_failures,
        );
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
            merchant_slot_failures: 2,
            slot_failures: 3,
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
        assert!(!l.slot_locked("a", 7, t));
        l.record_failure("b", &[7], t);
        l.record_failure("c", &[7], t);
        assert!(
            l.slot_locked("d", 7, t + 1),
            "3 failures of any merchants lock the slot"
        );
        assert!(!l.slot_locked("d", 8, t + 1));
        // Two more failures from different merchants cross the global threshold of 5.
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

    #[test]
    fn a_burst_from_a_fresh_merchant_gets_no_more_places_than_its_limit() {
        let l = RateLimiter::new(limits());
        let t = 1_000_020_000;
        // Nothing recorded yet: the places are taken at admission.
        let held: Vec<_> = (0..3).map(|_| l.check_merchant("m", t).expect("room")).collect();
        let refused = l.check_merchant("m", t).unwrap_err();
        assert!(!refused.global);
        assert_eq!(refused.retry_after_ms, 1_000);
        // All three fail: the merchant is locked, nothing was given back.
        for admission in &held {
            admission.record_failure(t + 1);
        }
        drop(held);
        assert_eq!(
            l.check_merchant("m", t + 2).unwrap_err().retry_after_ms,
            120_000 - 1
        );
        // A good code gives its place back.
        let good = l.check_merchant("n", t).unwrap();
        drop(good);
        assert_eq!((0..3).filter_map(|_| l.check_merchant("n", t).ok()).count(), 3);
    }

    #[test]
    fn a_burst_from_many_fresh_merchants_gets_no_more_than_the_global_limit_plus_one_each() {
        let l = RateLimiter::new(limits());
        let t = 1_000_020_000;
        let mut held = Vec::new();
        for m in 0..10 {
            while let Ok(a) = l.check_merchant(&format!("m{m}"), t) {
                held.push(a);
            }
        }
        // 5 places in the global budget, then one clean-lane place for each other merchant.
        assert_eq!(
            held.len(),
            5 + 8,
            "3 + 2 for the first two keys, 1 each for the other 8"
        );
        for a in &held {
            a.record_failure(t);
        }
        drop(held);
        for m in 0..10 {
            assert!(l.check_merchant(&format!("m{m}"), t + 1).is_err(), "m{m}");
        }
        assert!(l.check_merchant("clean", t + 1).is_ok());
    }

    #[test]
    fn one_merchant_locks_a_slot_only_for_itself() {
        let l = RateLimiter::new(limits());
        let t = 1_000_020_000;
        for _ in 0..2 {
            let mut a = l.check_merchant("evil", t).unwrap();
            a.reserve_slots(&[7], t).unwrap();
            a.record_failure(t);
        }
        assert!(l.slot_locked("evil", 7, t + 1));
        assert!(!l.slot_locked("shop", 7, t + 1));
        let mut evil = l.check_merchant("evil", t + 1).unwrap();
        assert_eq!(evil.reserve_slots(&[7], t + 1), Err(7));
        let mut shop = l.check_merchant("shop", t + 1).unwrap();
        assert_eq!(shop.reserve_slots(&[7], t + 1), Ok(()));
    }

    #[test]
    fn concurrent_codes_for_one_slot_take_its_places_before_any_fails() {
        let l = RateLimiter::new(limits());
        let t = 1_000_020_000;
        let mut first = l.check_merchant("evil", t).unwrap();
        let mut second = l.check_merchant("evil", t).unwrap();
        let mut third = l.check_merchant("evil", t).unwrap();
        first.reserve_slots(&[7, 9], t).unwrap();
        second.reserve_slots(&[7], t).unwrap();
        assert_eq!(
            third.reserve_slots(&[9, 7], t),
            Err(7),
            "2 places per merchant and slot"
        );
        drop(first);
        assert_eq!(third.reserve_slots(&[9, 7], t), Ok(()));
        // Across merchants, the slot's own budget (3) holds.
        drop((second, third));
        let mut held = Vec::new();
        for m in ["a", "b", "c", "d"] {
            let mut a = l.check_merchant(m, t).unwrap();
            if a.reserve_slots(&[7], t).is_ok() {
                held.push(a);
            }
        }
        assert_eq!(held.len(), 3);
    }
}
