//! The phone's clock for the wallet: wall time from the system, and a monotonic reading that
//! **keeps counting while the phone sleeps**.
//!
//! The core anchors issuer time to `Clock::monotonic_ms` so that a user changing the wall clock
//! cannot move codes in time. `std::time::Instant` (the core's `SystemClock`) is
//! `CLOCK_MONOTONIC` on Android and `CLOCK_UPTIME_RAW` on Apple platforms: both stop while the
//! device is suspended, so after a phone sleeps for ten minutes the anchored issuer time would be
//! ten minutes late and the codes rejected. Phones sleep all the time; this clock reads
//! `CLOCK_BOOTTIME` (Linux/Android) and `CLOCK_MONOTONIC` (Darwin, where it counts sleep).

use paycode_core::{Clock, SystemClock};

/// Wall clock + suspend-aware monotonic clock (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PhoneClock;

impl Clock for PhoneClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms()
    }

    fn monotonic_ms(&self) -> Option<i64> {
        awake_or_asleep_ms()
    }
}

#[cfg(any(target_os = "android", target_os = "linux", target_vendor = "apple"))]
#[allow(clippy::useless_conversion)] // time_t is 32-bit on some targets (armv7)
fn awake_or_asleep_ms() -> Option<i64> {
    #[cfg(any(target_os = "android", target_os = "linux"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_BOOTTIME;
    #[cfg(target_vendor = "apple")]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(CLOCK, &mut ts) };
    (rc == 0).then(|| i64::from(ts.tv_sec) * 1000 + i64::from(ts.tv_nsec) / 1_000_000)
}

#[cfg(not(any(target_os = "android", target_os = "linux", target_vendor = "apple")))]
fn awake_or_asleep_ms() -> Option<i64> {
    SystemClock.monotonic_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_reading_advances_with_real_time() {
        let a = PhoneClock.monotonic_ms().expect("a monotonic clock");
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = PhoneClock.monotonic_ms().unwrap();
        assert!((25..1_000).contains(&(b - a)), "{a} → {b}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn it_is_boot_time_not_awake_time() {
        // /proc/uptime's first field is CLOCK_BOOTTIME in seconds.
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let ours = PhoneClock.monotonic_ms().unwrap() as f64 / 1000.0;
        assert!((ours - uptime).abs() < 2.0, "{ours} vs {uptime}");
    }
}
