//! The tracker's deadlines: every pending deadline, earliest first.
//!
//! Most deadlines are "a fixed span after the packet that set them"
//! (unanswered SYN, silence, linger, idle), so deadlines of one kind are
//! pushed in increasing order. Pushing each onto a binary heap and sifting
//! it out again was a sixth of the tracker's time on a busy capture. Here
//! a deadline goes to the lane of its kind (a FIFO that stays sorted; a few
//! [`LANES`]) when it is not earlier than that lane's last entry; only
//! the others (deadlines re-armed later than the packet that set them) go
//! to a binary heap. On the 5 M-packet bench capture 62 % of pushes land
//! in a lane. Popping takes the earliest of the lanes' heads and the
//! heap's top, and the earliest of all is kept at hand, so asking "is
//! anything due?" on every packet is one comparison.
//!
//! The order is exactly the heap's: entries compare as whole tuples (time,
//! then the tie-breakers), and every lane is sorted by that same order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Sorted FIFO lanes beside the heap. Enough for the few deadline kinds
/// (silence, black hole, linger, idle) to each find one.
pub(super) const LANES: usize = 6;

/// Pending entries, earliest first by `T`'s order.
#[derive(Debug)]
pub(super) struct Timers<T: Ord + Copy> {
    lanes: [VecDeque<T>; LANES],
    /// The deadline kind each lane holds.
    kinds: [u64; LANES],
    heap: BinaryHeap<Reverse<T>>,
    /// The earliest entry of all, kept at hand: it is asked for on every
    /// packet.
    first: Option<T>,
}

impl<T: Ord + Copy> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            lanes: Default::default(),
            kinds: [u64::MAX; LANES],
            heap: BinaryHeap::new(),
            first: None,
        }
    }
}

impl<T: Ord + Copy> Timers<T> {
    /// Entries pending.
    pub(super) fn len(&self) -> usize {
        self.lanes.iter().map(VecDeque::len).sum::<usize>() + self.heap.len()
    }

    /// The earliest entry.
    pub(super) fn peek(&self) -> Option<&T> {
        self.first.as_ref()
    }

    /// Adds `e`, of deadline kind `kind` (its span after the packet that
    /// set it): to the lane of that kind if it is not earlier than the
    /// lane's last entry, else to the heap. A kind without a lane takes an
    /// empty one.
    pub(super) fn push(&mut self, e: T, kind: u64) {
        let lane = match self.kinds.iter().position(|k| *k == kind) {
            Some(i) => Some(i),
            None => self
                .lanes
                .iter()
                .position(VecDeque::is_empty)
                .inspect(|&i| {
                    if let Some(k) = self.kinds.get_mut(i) {
                        *k = kind;
                    }
                }),
        };
        match lane.and_then(|i| self.lanes.get_mut(i)) {
            Some(lane) if lane.back().is_none_or(|b| *b <= e) => lane.push_back(e),
            _ => self.heap.push(Reverse(e)),
        }
        if self.first.is_none_or(|f| e < f) {
            self.first = Some(e);
        }
    }

    /// Removes and returns the earliest entry.
    pub(super) fn pop(&mut self) -> Option<T> {
        let first = self.first?;
        let from_heap = self.heap.peek().is_some_and(|Reverse(h)| *h == first);
        if from_heap {
            self.heap.pop();
        } else if let Some(lane) = self
            .lanes
            .iter_mut()
            .find(|l| l.front().is_some_and(|f| *f == first))
        {
            lane.pop_front();
        }
        self.first = self.earliest();
        Some(first)
    }

    fn earliest(&self) -> Option<T> {
        let heads = self.lanes.iter().filter_map(|l| l.front());
        let top = self.heap.peek().map(|Reverse(h)| h);
        heads.chain(top).min().copied()
    }

    /// Drops every entry.
    pub(super) fn clear(&mut self) {
        self.lanes.iter_mut().for_each(VecDeque::clear);
        self.heap.clear();
        self.first = None;
    }

    /// Keeps only the entries `keep` accepts (order is unchanged).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for lane in &mut self.lanes {
            lane.retain(|e| keep(e));
        }
        self.heap.retain(|Reverse(e)| keep(e));
        self.first = self.earliest();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no clock, no crate).
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn pops_in_the_same_order_as_a_binary_heap() {
        // Mostly increasing pushes of a few kinds (as deadlines are), some
        // out of order, pops interleaved, ties included.
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut timers = Timers::default();
        let mut heap = BinaryHeap::new();
        let mut now = 0u64;
        for i in 0..200_000u64 {
            now += next(&mut seed) % 3;
            let r = next(&mut seed);
            let due = match r % 10 {
                0..=3 => now + 45,
                4..=6 => now + 5,
                7 => now + 3600,
                8 => now + r % 50,
                _ => now.saturating_sub(r % 7) + 10,
            };
            let e = (due, i % 97, r % 3);
            timers.push(e, due.wrapping_sub(now));
            heap.push(Reverse(e));
            assert_eq!(timers.len(), heap.len());
            while next(&mut seed) % 2 == 0 {
                assert_eq!(timers.peek().copied(), heap.peek().map(|Reverse(e)| *e));
                assert_eq!(timers.pop(), heap.pop().map(|Reverse(e)| e));
            }
            if i % 50_000 == 0 {
                timers.retain(|e| e.1 % 5 != 0);
                heap.retain(|Reverse(e)| e.1 % 5 != 0);
            }
        }
        while let Some(Reverse(e)) = heap.pop() {
            assert_eq!(timers.pop(), Some(e));
        }
        assert_eq!(timers.pop(), None);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn an_entry_earlier_than_every_lane_goes_to_the_heap_and_still_comes_first() {
        let mut t = Timers::default();
        // A kind each: each opens a lane of its own.
        for i in 0..LANES as u64 {
            t.push((100 + i, 0, 0), i);
        }
        assert!(t.lanes.iter().all(|l| l.len() == 1));
        t.push((1, 0, 0), LANES as u64);
        // Earlier than its lane's last entry: to the heap as well.
        t.push((2, 0, 0), 0);
        assert_eq!(t.heap.len(), 2);
        assert_eq!(t.pop(), Some((1, 0, 0)));
        assert_eq!(t.pop(), Some((2, 0, 0)));
        assert_eq!(t.pop(), Some((100, 0, 0)));
        t.clear();
        assert_eq!(t.peek(), None);
        assert_eq!(t.len(), 0);
    }
}
