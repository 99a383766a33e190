//! [`Ring`]: one link's recent frames, headers only, bounded in bytes.

use std::collections::VecDeque;

use crate::time::Timestamp;

/// One frame as the recorder handles it: cut at the end of its TCP header
/// (see [`crate::decode::header_end`]), with its original length and time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Stored<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// 1-based frame number in the capture (events cite it).
    pub packet: u64,
    /// Length on the wire.
    pub orig_len: u32,
    /// The frame's bytes up to the end of its TCP header: never payload.
    pub bytes: &'a [u8],
}

/// What the ring keeps of a frame beside its bytes.
#[derive(Copy, Clone, Debug)]
struct Meta {
    ts: Timestamp,
    packet: u64,
    orig_len: u32,
    len: u16,
}

/// Bytes a frame costs the ring beyond its header bytes: its [`Meta`]
/// entry. The bound counts it, so that a flood of small frames cannot
/// exceed the budget by its bookkeeping.
pub const PER_FRAME_OVERHEAD: usize = std::mem::size_of::<Meta>();

/// Frames the bookkeeping is first sized for, per byte of budget: one per
/// 90 bytes (a 66-byte Ethernet/IPv4/TCP-with-timestamps header and its
/// entry). Smaller frames grow it.
const BYTES_PER_FRAME_GUESS: usize = 90;

/// A link's recent frames, oldest first, within a byte budget: the
/// headers back to back in one byte deque, their times and lengths in
/// another (no allocation per frame).
///
/// Why bounded in bytes and not in time: the `before` window of a busy
/// link at a burst could hold millions of frames. At the budget the
/// oldest frames go first (counted in [`Ring::evicted`]), so an incident
/// file then starts later than `before` asked, and its sidecar says how
/// many frames were lost. The header deque is sized to the budget when
/// the first frame comes (memory the kernel maps only as it is written).
#[derive(Debug)]
pub struct Ring {
    meta: VecDeque<Meta>,
    bytes: VecDeque<u8>,
    used: usize,
    budget: usize,
    evicted: u64,
}

impl Ring {
    /// An empty ring that holds at most `budget` bytes (headers plus
    /// [`PER_FRAME_OVERHEAD`] per frame).
    pub fn new(budget: usize) -> Ring {
        Ring {
            meta: VecDeque::new(),
            bytes: VecDeque::new(),
            used: 0,
            budget,
            evicted: 0,
        }
    }

    /// Adds `frame`, first dropping the oldest frames it does not fit
    /// beside, and frames older than `keep_since` (no incident can want
    /// them any more). Headers longer than 65,535 bytes are cut there.
    pub fn push(&mut self, frame: Stored<'_>, keep_since: Timestamp) {
        while self.meta.front().is_some_and(|f| f.ts < keep_since) {
            self.pop_front();
        }
        let bytes = frame
            .bytes
            .get(..frame.bytes.len().min(usize::from(u16::MAX)))
            .unwrap_or_default();
        let cost = bytes.len() + PER_FRAME_OVERHEAD;
        if cost > self.budget {
            self.evicted += 1;
            return;
        }
        while self.used + cost > self.budget {
            if !self.pop_front() {
                break;
            }
            self.evicted += 1;
        }
        if self.bytes.capacity() == 0 {
            self.bytes.reserve_exact(self.budget);
            self.meta.reserve(self.budget / BYTES_PER_FRAME_GUESS);
        }
        self.used += cost;
        self.bytes.extend(bytes);
        self.meta.push_back(Meta {
            ts: frame.ts,
            packet: frame.packet,
            orig_len: frame.orig_len,
            len: u16::try_from(bytes.len()).unwrap_or(u16::MAX),
        });
    }

    fn pop_front(&mut self) -> bool {
        let Some(m) = self.meta.pop_front() else {
            return false;
        };
        let len = usize::from(m.len);
        self.bytes.drain(..len.min(self.bytes.len()));
        self.used -= len + PER_FRAME_OVERHEAD;
        true
    }

    /// The frames from `since` on, oldest first. (Makes the header deque
    /// contiguous first: an incident's opening pays it, not every frame.)
    pub fn since(&mut self, since: Timestamp) -> impl Iterator<Item = Stored<'_>> {
        let bytes: &[u8] = self.bytes.make_contiguous();
        let start = self.meta.partition_point(|m| m.ts < since);
        let skip: usize = self.meta.range(..start).map(|m| usize::from(m.len)).sum();
        let mut at = skip;
        self.meta.range(start..).map(move |m| {
            let len = usize::from(m.len);
            let frame = Stored {
                ts: m.ts,
                packet: m.packet,
                orig_len: m.orig_len,
                bytes: bytes.get(at..at + len).unwrap_or_default(),
            };
            at += len;
            frame
        })
    }

    /// Bytes in use (headers plus overhead).
    pub fn used(&self) -> usize {
        self.used
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether the ring holds no frame.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Frames dropped at the budget (not those that aged out).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(secs: i64, bytes: &[u8]) -> Stored<'_> {
        Stored {
            ts: Timestamp::from_parts(secs, 0),
            packet: secs as u64,
            orig_len: 1500,
            bytes,
        }
    }

    #[test]
    fn at_the_budget_the_oldest_frames_go_first_and_are_counted() {
        let header = [7u8; 54];
        let one = 54 + PER_FRAME_OVERHEAD;
        let mut ring = Ring::new(3 * one);
        for s in 0..5 {
            ring.push(frame(s, &header), Timestamp::from_nanos(0));
        }
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.used(), 3 * one);
        assert_eq!(ring.evicted(), 2);
        let kept: Vec<u64> = ring
            .since(Timestamp::from_nanos(0))
            .map(|f| f.packet)
            .collect();
        assert_eq!(kept, [2, 3, 4]);
    }

    #[test]
    fn frames_come_back_byte_for_byte_across_the_deques_wrap() {
        let mut ring = Ring::new(10 * (60 + PER_FRAME_OVERHEAD));
        let headers: Vec<Vec<u8>> = (0..40u8)
            .map(|i| vec![i; 40 + usize::from(i % 20)])
            .collect();
        for (i, h) in headers.iter().enumerate() {
            ring.push(frame(i as i64, h), Timestamp::from_nanos(0));
        }
        let back: Vec<(u64, Vec<u8>)> = ring
            .since(Timestamp::from_nanos(0))
            .map(|f| (f.packet, f.bytes.to_vec()))
            .collect();
        assert!(back.len() >= 8, "{}", back.len());
        for (p, b) in back {
            assert_eq!(b, headers[p as usize]);
        }
    }

    #[test]
    fn frames_older_than_any_window_age_out_without_counting_as_evicted() {
        let mut ring = Ring::new(1 << 20);
        for s in 0..10 {
            ring.push(frame(s, &[1; 54]), Timestamp::from_parts(s - 3, 0));
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
        ring.push(frame(0, &[0; 200]), Timestamp::from_nanos(0));
        assert!(ring.is_empty());
        assert_eq!(ring.evicted(), 1);
    }
}
