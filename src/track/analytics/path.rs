//! Has the path moved? The round-trip floor toward the peer, watched for
//! a lasting step: the carrier moved the line to its backup circuit (the
//! floor jumps up) or back (it drops).
//!
//! The floor is the smallest round trip the path gives: queueing and
//! delayed ACKs only ever add to it. So a step *up* shows as every sample
//! staying above the old floor's band (`max(2 ms, 20 %)`), and one sample
//! back within the band cancels it; a step *down* shows as samples below
//! the band, which no queueing can produce. Either must last
//! `path_change_after` and have [`MIN_SAMPLES`] samples behind it before
//! `path_changed` is reported; the new floor is then the one watched.
//!
//! The first `path_change_after` of samples only learns the floor (a
//! first sample inflated by a delayed ACK is not a baseline).

use crate::event::EventKind;
use crate::time::{Duration, Timestamp};

/// Samples a moved floor needs behind it before it is reported.
pub const MIN_SAMPLES: u32 = 10;

/// The band around the floor within which the path has not moved, µs.
fn band(floor: u32) -> u32 {
    (floor / 5).max(2_000)
}

/// A move of the floor being watched.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Off {
    up: bool,
    since: Timestamp,
    /// The last sample that was off in its direction.
    last: Timestamp,
    samples: u32,
    /// The smallest sample since.
    min: u32,
}

/// The watch on one connection's path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathWatch {
    /// The floor the path is judged against, µs, and when learning ends.
    floor: Option<(u32, Timestamp)>,
    off: Option<Off>,
}

impl PathWatch {
    /// A round-trip sample of `us` at `ts`; returns `path_changed` when a
    /// move has lasted `after`.
    pub fn on_sample(&mut self, ts: Timestamp, us: u32, after: Duration) -> Option<EventKind> {
        let Some((floor, learnt)) = self.floor else {
            self.floor = Some((us, ts.plus(after)));
            return None;
        };
        if ts < learnt {
            self.floor = Some((floor.min(us), learnt));
            return None;
        }
        let b = band(floor);
        let up = us > floor.saturating_add(b);
        let down = us < floor.saturating_sub(b);
        self.off = match (self.off, up, down) {
            (Some(o), true, _) if o.up => Some(Off {
                last: ts,
                samples: o.samples + 1,
                min: o.min.min(us),
                ..o
            }),
            (Some(o), _, true) if !o.up => Some(Off {
                last: ts,
                samples: o.samples + 1,
                min: o.min.min(us),
                ..o
            }),
            // A sample back at the old floor: the path did not move up.
            (Some(o), false, false) if o.up => None,
            // Noise above a lower floor does not cancel it, but a step
            // down with no low sample for `after` is stale.
            (Some(o), _, _) if !o.up && ts.since(o.last) > after => None,
            (Some(o), _, _) => Some(o),
            (None, true, _) | (None, _, true) => Some(Off {
                up,
                since: ts,
                last: ts,
                samples: 1,
                min: us,
            }),
            (None, false, false) => {
                self.floor = Some((floor.min(us), learnt));
                None
            }
        };
        let o = self.off?;
        if ts.since(o.since) >= after && o.samples >= MIN_SAMPLES {
            self.off = None;
            self.floor = Some((o.min, learnt));
            let us = |v: u32| Duration::from_nanos(i64::from(v) * 1_000);
            return Some(EventKind::PathChanged {
                floor_before: us(floor),
                floor: us(o.min),
                since: o.since,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::histogram::at_ms as ms;
    const AFTER: Duration = Duration::from_secs(30);

    #[test]
    fn a_step_up_that_lasts_is_a_path_change() {
        let mut p = PathWatch::default();
        let mut found = None;
        for i in 0..1200 {
            let t = i * 100; // a sample every 100 ms for two minutes
            let rtt = if t < 60_000 { 20_000 } else { 45_000 };
            if let Some(k) = p.on_sample(ms(t), rtt, AFTER) {
                found = Some((t, k));
            }
        }
        let (t, k) = found.unwrap();
        assert!((90_000..=95_000).contains(&t), "{t}");
        assert_eq!(
            k,
            EventKind::PathChanged {
                floor_before: Duration::from_millis(20),
                floor: Duration::from_millis(45),
                since: ms(60_000)
            }
        );
    }

    #[test]
    fn queueing_above_the_floor_is_no_path_change() {
        let mut p = PathWatch::default();
        for i in 0..3000 {
            // Every tenth sample at the floor, the rest far above it.
            let rtt = if i % 10 == 0 { 20_000 } else { 80_000 };
            assert_eq!(p.on_sample(ms(i * 100), rtt, AFTER), None);
        }
    }
}
