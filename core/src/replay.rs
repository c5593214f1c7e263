//! "Each code once, and nothing older": the per-device high-water mark.
//!
//! Codes of one device are totally ordered by (step, counter). A guard keeps, per device, the
//! newest code redeemed and the newest code voided (after a screenshot), and accepts a code only
//! if it is newer than both. That single rule gives exactly-once (the same code is not newer
//! than itself) and the screenshot defence (an older code, even one never used, is dead once a
//! newer one is paid or voided).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::identity::Slot;

/// A code's place in its device's sequence: ordered by step, then counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeMark {
    /// The time step.
    pub step: u64,
    /// The refresh counter within the step.
    pub counter: u8,
}

/// Why a guard refused a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// This very code was already redeemed.
    #[error("this code was already used")]
    Replayed,
    /// A newer code of the same device was already redeemed.
    #[error("a newer code of this device was already used")]
    Superseded,
    /// The device voided this code and everything before it (after a screenshot).
    #[error("this code was voided by its owner")]
    Voided,
    /// The guard's storage failed; nothing was recorded.
    #[error("replay store unavailable: {0}")]
    Unavailable(String),
}

/// Records redemptions and voids per device. Implementations must make `redeem` atomic: two
/// concurrent calls with the same code cannot both succeed.
pub trait ReplayGuard: Send + Sync {
    /// Records `mark` as redeemed for `slot` if it is newer than everything redeemed or voided
    /// for that slot; otherwise records nothing and says why.
    fn redeem(&self, slot: Slot, mark: CodeMark) -> Result<(), GuardError>;

    /// Voids every code of `slot` up to and including `mark` (never lowers an earlier void).
    fn void_through(&self, slot: Slot, mark: CodeMark) -> Result<(), GuardError>;

    /// Forgets `slot` (when the slot is given to a new device).
    fn forget(&self, slot: Slot) -> Result<(), GuardError>;
}

/// The newest redeemed and voided marks of one device, and the rule that checks a code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermark {
    /// Newest redeemed code.
    pub redeemed: Option<CodeMark>,
    /// Newest voided code (inclusive).
    pub voided: Option<CodeMark>,
}

impl Watermark {
    /// Whether `mark` may be redeemed now; durable guards call this inside their transaction.
    pub fn check(&self, mark: CodeMark) -> Result<(), GuardError> {
        if self.redeemed == Some(mark) {
            return Err(GuardError::Replayed);
        }
        if self.voided.is_some_and(|v| mark <= v) {
            return Err(GuardError::Voided);
        }
        if self.redeemed.is_some_and(|r| mark < r) {
            return Err(GuardError::Superseded);
        }
        Ok(())
    }
}

/// A [`ReplayGuard`] in process memory, for tests, the demo and single-process issuers.
#[derive(Debug, Default)]
pub struct InMemoryReplayGuard {
    marks: Mutex<HashMap<Slot, Watermark>>,
}

impl InMemoryReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<Slot, Watermark>) -> R) -> Result<R, GuardError> {
        // A panic while holding this lock cannot leave a half-updated watermark (each update
        // is one assignment), so a poisoned lock is safe to keep using.
        let mut marks = self.marks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(f(&mut marks))
    }
}

impl ReplayGuard for InMemoryReplayGuard {
    fn redeem(&self, slot: Slot, mark: CodeMark) -> Result<(), GuardError> {
        self.with(|marks| {
            let watermark = marks.entry(slot).or_default();
            watermark.check(mark)?;
            watermark.redeemed = Some(mark);
            Ok(())
        })?
    }

    fn void_through(&self, slot: Slot, mark: CodeMark) -> Result<(), GuardError> {
        self.with(|marks| {
            let watermark = marks.entry(slot).or_default();
            watermark.voided = Some(watermark.voided.map_or(mark, |v| v.max(mark)));
        })
    }

    fn forget(&self, slot: Slot) -> Result<(), GuardError> {
        self.with(|marks| {
            marks.remove(&slot);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn m(step: u64, counter: u8) -> CodeMark {
        CodeMark { step, counter }
    }

    #[test]
    fn once_and_nothing_older() {
        let guard = InMemoryReplayGuard::new();
        guard.redeem(1, m(100, 0)).unwrap();
        assert_eq!(guard.redeem(1, m(100, 0)), Err(GuardError::Replayed));
        assert_eq!(guard.redeem(1, m(99, 9)), Err(GuardError::Superseded));
        guard.redeem(1, m(100, 1)).unwrap();
        assert_eq!(guard.redeem(1, m(100, 0)), Err(GuardError::Superseded));
        // Other devices are independent.
        guard.redeem(2, m(50, 0)).unwrap();
    }

    #[test]
    fn voids_kill_everything_up_to_the_mark() {
        let guard = InMemoryReplayGuard::new();
        guard.void_through(1, m(100, 2)).unwrap();
        guard.void_through(1, m(100, 1)).unwrap(); // never lowers
        assert_eq!(guard.redeem(1, m(100, 2)), Err(GuardError::Voided));
        assert_eq!(guard.redeem(1, m(99, 0)), Err(GuardError::Voided));
        guard.redeem(1, m(100, 3)).unwrap();
        guard.forget(1).unwrap();
        guard.redeem(1, m(1, 0)).unwrap();
    }

    #[test]
    fn concurrent_redemptions_of_one_code_succeed_once() {
        let guard = Arc::new(InMemoryReplayGuard::new());
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let guard = guard.clone();
                std::thread::spawn(move || guard.redeem(9, m(7, 0)).is_ok())
            })
            .collect();
        let successes = handles
            .into_iter()
            .filter(|_| true)
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(successes, 1);
    }
}
