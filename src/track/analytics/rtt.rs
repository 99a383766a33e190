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
//! One segment is timed at a time, as BSD's TCP does (`t_rtseq`): the next
//! data segment after the answer is the next one timed. A sample per round
//! trip (25 a second at 40 ms, 1,500 a minute) is plenty for a minute's
//! percentiles, and the cost is per round trip, not per segment: timing
//! every segment cost 450 instructions per analysed segment on the bench
//! capture.
//!
//! **Karn's rule**: a retransmission makes the segment being timed
//! ambiguous (the ACK may be for the original or for the copy), so it is
//! dropped and counted (tcptrace's "ambiguous"), and a retransmitted
//! segment is never timed. Wireshark's `tcp.analysis.ack_rtt` does not do
//! this, which is how it reports 27 s "round-trip times".

use crate::time::Timestamp;

use super::super::seq::Seq;
use super::histogram::micros;

/// How the timed segment will be recognised.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Key {
    /// Its `TSval`.
    Echo(u32),
    /// Its end sequence number.
    End(Seq),
}

/// Round-trip samples of one sender's data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RttMeter {
    /// The segment being timed: (key, when it passed).
    timed: Option<(Key, Timestamp)>,
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
    #[inline]
    pub fn on_data(&mut self, ts: Timestamp, tsval: Option<u32>, end: Seq, retransmission: bool) {
        if retransmission {
            self.ambiguous += u64::from(self.timed.take().is_some());
            return;
        }
        if self.timed.is_none() {
            let key = match tsval {
                Some(v) => Key::Echo(v),
                None => Key::End(end),
            };
            self.timed = Some((key, ts));
        }
    }

    /// A segment of the other side at `ts`, acknowledging `ack` (if its
    /// ACK bit is set) and echoing `tsecr`. Returns the new sample in µs,
    /// if it answered the timed segment.
    #[inline]
    pub fn on_answer(
        &mut self,
        ts: Timestamp,
        ack: Option<Seq>,
        tsecr: Option<u32>,
    ) -> Option<u32> {
        let (key, sent) = self.timed?;
        let answered = match key {
            Key::Echo(v) => tsecr == Some(v),
            Key::End(end) => ack.is_some_and(|a| a.at_or_after(end)),
        };
        if !answered {
            return None;
        }
        self.timed = None;
        Some(self.sample(ts, sent))
    }

    fn sample(&mut self, ts: Timestamp, sent: Timestamp) -> u32 {
        let us = micros(ts.since(sent));
        self.floor = Some(self.floor.map_or(us, |f| f.min(us)));
        self.samples += 1;
        us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::histogram::at_ms as ms;

    #[test]
    fn one_segment_at_a_time_is_timed_by_the_first_ack_covering_it() {
        let mut m = RttMeter::default();
        m.on_data(ms(0), None, Seq(100), false);
        m.on_data(ms(1), None, Seq(200), false); // in flight, not timed
        assert_eq!(m.on_answer(ms(20), Some(Seq(50)), None), None);
        assert_eq!(m.on_answer(ms(30), Some(Seq(100)), None), Some(30_000));
        assert_eq!(m.on_answer(ms(31), Some(Seq(200)), None), None);
        m.on_data(ms(40), None, Seq(300), false);
        assert_eq!(m.on_answer(ms(70), Some(Seq(300)), None), Some(30_000));
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
        assert_eq!(m.on_answer(ms(20), Some(Seq(200)), Some(7)), Some(20_000));
        assert_eq!(m.on_answer(ms(21), Some(Seq(200)), Some(7)), None);
        m.on_data(ms(25), Some(8), Seq(300), false);
        assert_eq!(m.on_answer(ms(46), Some(Seq(300)), Some(8)), Some(21_000));
    }
}
