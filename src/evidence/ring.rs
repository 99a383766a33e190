//! [`Ring`]: one link's recent frames, headers only, bounded in bytes.

use std::collections::VecDeque;

use crate::time::Timestamp;

/// Bytes a stored frame costs beyond its header bytes: the [`Stored`]
/// entry in the ring and the allocator's bookkeeping of its bytes. The
/// bound counts it so that a flood of small frames cannot exceed the
/// budget by its overhead.
pub const PER_FRAME_OVERHEAD: usize = std::mem::size_of::<Stored>() + 16;

/// One frame as the recorder keeps it: cut at the end of its TCP header
/// (see [`crate::decode::header_end`]), with its original length and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Capture time.
    pub ts: Timestamp,
    /// 1-based frame number in the capture (events cite it).
    pub packet: u64,
    /// Length on the wire.
    pub orig_len: u32,
    /// The frame's bytes up to the end of its TCP header: never payload.
    pub bytes: Box<[u8]>,
}

impl Stored {
    /// What the frame costs the ring's budget.
    pub fn cost(&self) -> usize {
        self.bytes.len() + PER_FRAME_OVERHEAD
    }
}

/// A link's recent frames, oldest first, within a byte budget.
///
/// Why bounded in bytes and not in time: the `before` window of a busy
/// link at a burst could hold millions of frames. At the budget the
/// oldest frames go first (counted in [`Ring::evicted`]), so an incident
/// file then starts later than `before` asked, and its sidecar says how
/// many frames were lost.
#[derive(Debug)]
pub struct Ring {
    frames: VecDeque<Stored>,
    used: usize,
    budget: usize,
    evicted: u64,
}

impl Ring {
    /// An empty ring that holds at most `budget` bytes (headers plus
    /// [`PER_FRAME_OVERHEAD`] per frame).
    pub fn new(budget: usize) -> Ring {
        Ring {
            frames: VecDeque::new(),
            used: 0,
            budget,
            evicted: 0,
        }
    }

    /// Adds `frame`, first dropping the oldest frames it does not fit
    /// beside, and frames older than `keep_since` (no incident can want
    /// them any more).
    pub fn push(&mut self, frame: Stored, keep_since: Timestamp) {
        while self.frames.front().is_some_and(|f| f.ts < keep_since) {
            self.pop_front();
        }
        let cost = frame.cost();
        if cost > self.budget {
            self.evicted += 1;
            return;
        }
        while self.used + cost > self.budget {
            if self.pop_front().is_none() {
                break;
            }
            self.evicted += 1;
        }
        self.used += cost;
        self.frames.push_back(frame);
    }

    fn pop_front(&mut self) -> Option<Stored> {
        let f = self.frames.pop_front()?;
        self.used -= f.cost();
        Some(f)
    }

    /// The frames from `since` on, oldest first.
    pub fn since(&self, since: Timestamp) -> impl Iterator<Item = &Stored> {
        let start = self.frames.partition_point(|f| f.ts < since);
        self.frames.range(start..)
    }

    /// Bytes in use (headers plus overhead).
    pub fn used(&self) -> usize {
        self.used
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the ring holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frames dropped at the budget (not those that aged out).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(secs: i64, len: usize) -> Stored {
        Stored {
            ts: Timestamp::from_parts(secs, 0),
            packet: secs as u64,
            orig_len: 1500,
            bytes: vec![0; len].into_boxed_slice(),
        }
    }

    #[test]
    fn at_the_budget_the_oldest_frames_go_first_and_are_counted() {
        let one = frame(0, 54).cost();
        let mut ring = Ring::new(3 * one);
        for s in 0..5 {
            ring.push(frame(s, 54), Timestamp::from_nanos(0));
        }
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.used(), 3 * one);
        assert!(ring.used() <= 3 * one);
        assert_eq!(ring.evicted(), 2);
        let kept: Vec<u64> = ring
            .since(Timestamp::from_nanos(0))
            .map(|f| f.packet)
            .collect();
        assert_eq!(kept, [2, 3, 4]);
    }

    #[test]
    fn frames_older_than_any_window_age_out_without_counting_as_evicted() {
        let mut ring = Ring::new(1 << 20);
        for s in 0..10 {
            ring.push(frame(s, 54), Timestamp::from_parts(s - 3, 0));
        }
        assert_eq!(ring.len(), 4);
        assert_eq!(ring.evicted(), 0);
        let from_8: Vec<u64> = ring
            .since(Timestamp::from_parts(8, 0))
            .map(|f| f.packet)
            .collect();
        assert_eq!(from_8, [8, 9]);
    }

    #[test]
    fn a_frame_larger_than_the_budget_is_counted_not_stored() {
        let mut ring = Ring::new(100);
        ring.push(frame(0, 200), Timestamp::from_nanos(0));
        assert!(ring.is_empty());
        assert_eq!(ring.evicted(), 1);
    }
}
