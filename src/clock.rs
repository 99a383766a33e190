//! The wall clock, for the edges that live in real time (the daemon, the
//! standalone check's live capture), and waiting on it.
//!
//! The sans-IO core never reads a clock (see [`crate::time`]): the daemon
//! and the check read it here, once, and hand the core a [`Timestamp`].
//! Keeping the one conversion in one place means both edges agree on what
//! "now" is to the nanosecond, and tests can see there is no other clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use crate::time::Timestamp;

/// How often an interruptible sleep looks at its stop flag: short enough
/// that SIGTERM stops a sleeping thread well within a second.
pub const STOP_POLL: StdDuration = StdDuration::from_millis(50);

/// Now, as the packet clock counts time (nanoseconds since the epoch).
///
/// A clock set before 1970 reads as the epoch, one past 2262 as the end of
/// time: both are "check the clock" situations, neither is worth a panic.
pub fn wall_now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Sleeps for `d`, waking every [`STOP_POLL`] to see whether `stop` is set
/// and returning early if it is: a thread backing off (a lost capture, a
/// failed delivery) must not hold up a shutdown. Returns whether `stop` was
/// set.
pub fn sleep_unless_stopped(d: StdDuration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(STOP_POLL.min(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_is_after_this_code_was_written() {
        // 2024-01-01T00:00:00Z.
        assert!(wall_now() > Timestamp::from_parts(1_704_067_200, 0));
    }

    #[test]
    fn a_set_stop_flag_cuts_the_sleep_short() {
        let stop = AtomicBool::new(true);
        let start = Instant::now();
        assert!(sleep_unless_stopped(StdDuration::from_secs(10), &stop));
        assert!(start.elapsed() < StdDuration::from_secs(1));
        let go_on = AtomicBool::new(false);
        assert!(!sleep_unless_stopped(StdDuration::from_millis(20), &go_on));
    }
}
