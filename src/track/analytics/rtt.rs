//! Passive round-trip time of one direction of a connection, from headers.
//!
//! A sample is the time between a data segment passing the probe and the
//! first segment of the other side that shows it arrived:
//! * with the TCP timestamp option, the first `TSecr` echoing the data
//!   segment's `TSval` (pping's method; several segments sent in one tick
//!   of the sender's timestamp clock share a `TSval`, the first one seen
//!   is the one timed);
//! * without it, the first ACK covering the segment's end.
//!
//! **Karn's rule**: a retransmission makes every sample still pending
//! ambiguous (the ACK may be for the original or for the copy), so they
//! are dropped and counted (tcptrace's "ambiguous"), and a retransmitted
//! segment is never timed. Wireshark's `tcp.analysis.ack_rtt` does not do
//! this, which is how it reports 27 s "round-trip times".
//!
//! Bounds: at most [`PENDING`] segments pending per direction (older ones
//! are forgotten: the newest are the ones an ACK answers first).

use crate::time::Timestamp;

use super::super::seq::Seq;
use super::histogram::{micros, Slice, Window};

/// Data segments waiting for their echo or ACK, per direction.
pub const PENDING: usize = 16;

/// How a pending segment will be recognised.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Key {
    /// Its `TSval`.
    Echo(u32),
    /// Its end sequence number.
    End(Seq),
}

/// Round-trip samples of one sender's data.
#[derive(Clone, Debug, Default)]
pub struct RttMeter {
    /// Pending segments, oldest first: (key, when it passed).
    pending: Vec<(Key, Timestamp)>,
    /// The last minute of samples.
    pub(super) window: Window,
    /// Samples since the metrics last took them.
    pub(super) fresh: Slice,
    /// The lifetime minimum, µs.
    pub(super) floor: Option<u32>,
    /// Samples taken.
    pub(super) samples: u64,
    /// Samples dropped by Karn's rule.
    pub(super) ambiguous: u64,
}

impl RttMeter {
    /// The sender's data segment passed at `ts`: `tsval` is its timestamp
    /// option's value, `end` its end sequence number. `retransmission`:
    /// Karn's rule.
    pub fn on_data(&mut self, ts: Timestamp, tsval: Option<u32>, end: Seq, retransmission: bool) {
        if retransmission {
            self.ambiguous += self.pending.len() as u64;
            self.pending.clear();
            return;
        }
        let key = match tsval {
            // One tick, one TSval: the first segment carrying it is timed.
            Some(v) if self.pending.last().is_some_and(|(k, _)| *k == Key::Echo(v)) => return,
            Some(v) => Key::Echo(v),
            None => Key::End(end),
        };
        if self.pending.len() >= PENDING {
            self.pending.remove(0);
        }
        self.pending.push((key, ts));
    }

    /// A segment of the other side at `ts`, acknowledging `ack` (if its
    /// ACK bit is set) and echoing `tsecr`. Returns the new sample in µs,
    /// if it completed one (the last segment it answered).
    pub fn on_answer(
        &mut self,
        ts: Timestamp,
        ack: Option<Seq>,
        tsecr: Option<u32>,
    ) -> Option<u32> {
        let answered = |k: &Key| match (*k, tsecr, ack) {
            (Key::Echo(v), Some(e), _) => v == e,
            (Key::End(end), _, Some(a)) => a.at_or_after(end),
            _ => false,
        };
        let mut last = None;
        match self.pending.first().map(|(k, _)| *k) {
            // Echoes: the matching TSval and every older one are answered;
            // only the match is a sample.
            Some(Key::Echo(_)) => {
                if let Some(i) = self.pending.iter().position(|(k, _)| answered(k)) {
                    last = self.pending.get(i).map(|&(_, t)| t);
                    self.pending.drain(..=i);
                }
                if let Some(t) = last {
                    return Some(self.sample(ts, t));
                }
            }
            // ACKs: each segment the ACK covers is a sample (the first ACK
            // covering it).
            Some(Key::End(_)) => {
                let n = self.pending.iter().take_while(|(k, _)| answered(k)).count();
                let mut out = None;
                for i in 0..n {
                    if let Some(&(_, t)) = self.pending.get(i) {
                        out = Some(self.sample(ts, t));
                    }
                }
                self.pending.drain(..n);
                return out;
            }
            None => {}
        }
        None
    }

    fn sample(&mut self, ts: Timestamp, sent: Timestamp) -> u32 {
        let us = micros(ts.since(sent));
        self.window.record(ts, us, false);
        self.fresh.record(us, false);
        self.floor = Some(self.floor.map_or(us, |f| f.min(us)));
        self.samples += 1;
        us
    }

    /// Heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.pending.capacity() * std::mem::size_of::<(Key, Timestamp)>()
            + self.window.heap_bytes()
            + self.fresh.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    #[test]
    fn each_segment_is_timed_by_the_first_ack_covering_it() {
        let mut m = RttMeter::default();
        m.on_data(ms(0), None, Seq(100), false);
        m.on_data(ms(1), None, Seq(200), false);
        assert_eq!(m.on_answer(ms(30), Some(Seq(100)), None), Some(30_000));
        assert_eq!(m.on_answer(ms(31), Some(Seq(200)), None), Some(30_000));
        assert_eq!(m.on_answer(ms(40), Some(Seq(200)), None), None);
        assert_eq!(m.samples, 2);
    }

    #[test]
    fn a_retransmission_makes_pending_samples_ambiguous() {
        let mut m = RttMeter::default();
        m.on_data(ms(0), None, Seq(100), false);
        m.on_data(ms(200), None, Seq(100), true); // the copy
        assert_eq!(m.on_answer(ms(230), Some(Seq(100)), None), None);
        assert_eq!((m.samples, m.ambiguous), (0, 1));
    }

    #[test]
    fn an_echo_times_the_first_segment_with_that_tsval() {
        let mut m = RttMeter::default();
        m.on_data(ms(0), Some(7), Seq(100), false);
        m.on_data(ms(0), Some(7), Seq(200), false);
        m.on_data(ms(5), Some(8), Seq(300), false);
        assert_eq!(m.on_answer(ms(20), Some(Seq(200)), Some(7)), Some(20_000));
        assert_eq!(m.on_answer(ms(21), Some(Seq(200)), Some(7)), None);
        assert_eq!(m.on_answer(ms(26), Some(Seq(300)), Some(8)), Some(21_000));
    }
}
