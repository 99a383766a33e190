//! Response time of a request/response protocol (ISO 8583) carried on a
//! persistent connection, from segment boundaries and lengths only.
//!
//! A *message* is a run of data segments from one side ending with PSH
//! (the sender's stack sets PSH on the last segment of each write). A
//! local message is a *request*; its response time is the gap to the
//! first data segment of the peer's next message (the peer's bare ACKs do
//! not count). With one request outstanding the pairing is exact; with
//! several (pipelining), the peer's message answers the oldest and the
//! sample is marked approximate.
//!
//! A message from the peer while no request is outstanding is the peer's
//! own request (a network-management echo from the card network): our
//! next message answers it and is not a request, so the peer's next
//! unsolicited echo is not read as a 60 s response.
//!
//! Bounds: at most [`OUTSTANDING`] requests remembered; past that the
//! newest are counted, not timed.

use crate::time::{Duration, Timestamp};

use super::histogram::{micros, Slice, Window};
use super::ring::Ring;

/// Requests remembered while outstanding.
pub const OUTSTANDING: usize = 16;

/// Response times of one connection.
#[derive(Clone, Debug, Default)]
pub struct ResponseMeter {
    /// Start times of requests not answered yet, oldest first.
    requests: Ring<Timestamp, OUTSTANDING>,
    /// A local message has started and not ended (no PSH yet).
    local_in_message: bool,
    /// A peer message has started and not ended.
    peer_in_message: bool,
    /// Peer requests our next messages answer.
    owed: u32,
    /// The last minute of samples.
    pub(super) window: Window,
    /// Samples since the metrics last took them, and the slow ones (kept
    /// only when there: the daemon with DogStatsD).
    pub(super) fresh: Option<Box<Slice>>,
    pub(super) fresh_slow: u32,
    /// Samples taken, approximate ones among them.
    pub(super) samples: u64,
    pub(super) approximate: u64,
    /// Responses slower than the link's `response_sla`.
    pub(super) slow: u64,
    /// Requests not timed because too many were outstanding.
    pub(super) untimed: u64,
    /// Requests taken as never answered.
    pub(super) unanswered: u64,
}

impl ResponseMeter {
    /// A local data segment at `ts` (`push`: PSH set, the message ends).
    pub fn on_local_data(&mut self, ts: Timestamp, push: bool) {
        if !self.local_in_message {
            if self.owed > 0 {
                self.owed -= 1;
            } else if self.requests.len() < OUTSTANDING {
                self.requests.push(ts);
            } else {
                self.untimed += 1;
            }
        }
        self.local_in_message = !push;
    }

    /// A peer data segment at `ts`. Returns the response time in µs if it
    /// starts the answer to a request, and whether it was approximate.
    /// With several requests outstanding, those older than `timeout` are
    /// taken as never to be answered (counted in `unanswered`), so one
    /// request the peer ignored does not shift every later pairing.
    pub fn on_peer_data(
        &mut self,
        ts: Timestamp,
        push: bool,
        sla: Duration,
        timeout: Duration,
    ) -> Option<(u32, bool)> {
        let starts = !self.peer_in_message;
        self.peer_in_message = !push;
        if !starts {
            return None;
        }
        while self.requests.len() > 1
            && self.requests.first().is_some_and(|&t| t.plus(timeout) < ts)
        {
            self.requests.pop_front();
            self.unanswered += 1;
        }
        if self.requests.is_empty() {
            self.owed = self.owed.saturating_add(1).min(OUTSTANDING as u32);
            return None;
        }
        let approximate = self.requests.len() > 1;
        let asked = self.requests.pop_front()?;
        let d = ts.since(asked);
        let us = micros(d);
        self.window.record(ts, us, approximate);
        if let Some(f) = self.fresh.as_deref_mut() {
            f.record(us, approximate);
        }
        self.samples += 1;
        self.approximate += u64::from(approximate);
        self.slow += u64::from(d > sla);
        if self.fresh.is_some() {
            self.fresh_slow = self.fresh_slow.saturating_add(u32::from(d > sla));
        }
        Some((us, approximate))
    }

    /// The peer answered after a starvation: the requests it left
    /// unanswered meanwhile never will be (the acquirer timed them out);
    /// pairing starts afresh.
    pub fn forget_backlog(&mut self) {
        self.unanswered += self.requests.len() as u64;
        self.requests.clear();
    }

    /// The connection ended (FIN or RST): nothing is outstanding any more.
    pub fn on_end(&mut self) {
        self.requests.clear();
        self.owed = 0;
    }

    /// When the oldest outstanding request was sent.
    pub fn oldest(&self) -> Option<Timestamp> {
        self.requests.first().copied()
    }

    /// Requests outstanding.
    pub fn outstanding(&self) -> usize {
        self.requests.len()
    }

    /// Heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.window.heap_bytes()
            + self
                .fresh
                .as_deref()
                .map_or(0, |f| std::mem::size_of::<Slice>() + f.heap_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }
    const SLA: Duration = Duration::from_secs(2);
    const TIMEOUT: Duration = Duration::from_secs(15);

    #[test]
    fn serial_requests_are_timed_exactly() {
        let mut r = ResponseMeter::default();
        r.on_local_data(ms(0), false);
        r.on_local_data(ms(1), true); // one request in two segments
        assert_eq!(
            r.on_peer_data(ms(150), true, SLA, TIMEOUT),
            Some((150_000, false))
        );
        r.on_local_data(ms(1000), true);
        assert_eq!(
            r.on_peer_data(ms(1150), false, SLA, TIMEOUT),
            Some((150_000, false))
        );
        assert_eq!(r.on_peer_data(ms(1151), true, SLA, TIMEOUT), None); // same answer
        assert_eq!((r.samples, r.approximate), (2, 0));
    }

    #[test]
    fn pipelined_requests_are_approximate() {
        let mut r = ResponseMeter::default();
        r.on_local_data(ms(0), true);
        r.on_local_data(ms(10), true);
        assert_eq!(
            r.on_peer_data(ms(100), true, SLA, TIMEOUT),
            Some((100_000, true))
        );
        assert_eq!(
            r.on_peer_data(ms(110), true, SLA, TIMEOUT),
            Some((100_000, false))
        );
        assert_eq!(r.approximate, 1);
    }

    #[test]
    fn an_answer_to_the_peers_echo_is_not_a_request() {
        let mut r = ResponseMeter::default();
        assert_eq!(r.on_peer_data(ms(0), true, SLA, TIMEOUT), None); // their echo
        r.on_local_data(ms(1), true); // our answer
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.on_peer_data(ms(60_000), true, SLA, TIMEOUT), None); // next echo
    }
}
