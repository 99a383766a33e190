//! Response time of a request/response protocol (ISO 8583) carried on a
//! persistent connection, from segment boundaries and lengths only.
//!
//! The conversation goes in *turns*: a run of data from one side until
//! the other side sends data. Within a turn, a *message* is a run of data
//! segments ending with PSH (the sender's stack sets PSH on the last
//! segment of each write). Each message of a local turn is a *request*;
//! the peer's turn answers them in order: its first message answers the
//! oldest request, exactly when it was the only one outstanding, marked
//! approximate when several were (pipelining). The response time is the
//! gap from the request's first segment to the answer's first segment (the
//! peer's bare ACKs do not count).
//!
//! * Peer messages beyond the requests of the turn (a response written in
//!   several PSH segments) continue the answer; they pair with nothing.
//! * A peer turn that starts with nothing outstanding is the peer's own
//!   request (a network-management echo from the card network): the
//!   first messages of our next turn answer it and are no requests, so the
//!   peer's next echo is not read as a 60 s response.
//! * When our next turn starts, requests the peer's turn left unpaired (it
//!   wrote two answers in one segment, or never answers that message) are
//!   counted `unanswered` and dropped: requests are outstanding only while
//!   the peer has sent nothing since, which is what response starvation
//!   means (found on a capture of HTTPS, where the pairing of PSH segments
//!   drifted and a phantom request starved an idle connection).
//!
//! The meter pairs and counts; the samples it returns go to the
//! connection's window of figures ([`super::Analytics`]), so the report's
//! graph pairs with the same rule and no window.
//!
//! Bounds: at most [`OUTSTANDING`] requests per turn, in a ring inside
//! the meter (no allocation); past that they are counted, not timed.

use crate::event::Side;
use crate::time::{Duration, Timestamp};

use super::histogram::micros;

/// Requests remembered while outstanding.
pub const OUTSTANDING: usize = 16;

/// The start times of the requests outstanding, oldest first: a ring of
/// [`OUTSTANDING`] in place (a connection's first request allocates
/// nothing, and reading the oldest follows no pointer). Not
/// `heapless::Deque`: its two `usize` indices and a flag make it 152
/// bytes against these 130, in every analysed connection, and it has no
/// `PartialEq` for the meter's derive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Requests {
    at: [Timestamp; OUTSTANDING],
    /// Index of the oldest.
    head: u8,
    len: u8,
}

impl Requests {
    fn len(&self) -> usize {
        usize::from(self.len)
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `ts` (the caller keeps `len` under [`OUTSTANDING`]).
    fn push_back(&mut self, ts: Timestamp) {
        let i = (usize::from(self.head) + usize::from(self.len)) % OUTSTANDING;
        if let Some(slot) = self.at.get_mut(i) {
            *slot = ts;
            self.len += 1;
        }
    }

    fn front(&self) -> Option<Timestamp> {
        (self.len > 0)
            .then(|| self.at.get(usize::from(self.head)).copied())
            .flatten()
    }

    fn pop_front(&mut self) -> Option<Timestamp> {
        let first = self.front()?;
        self.head = ((usize::from(self.head) + 1) % OUTSTANDING) as u8;
        self.len -= 1;
        Some(first)
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// A request answered: what the meter found, for the caller to keep.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The response time, µs.
    pub us: u32,
    /// Paired while several requests were outstanding.
    pub approximate: bool,
    /// Slower than the SLA.
    pub slow: bool,
}

/// Response times of one connection: the pairing and its counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseMeter {
    /// Start times of requests not answered yet, oldest first.
    requests: Requests,
    /// Whose turn it is: who sent data last.
    turn: Option<Side>,
    /// The peer's turn began with no request outstanding: its messages
    /// are its own requests.
    peer_asks: bool,
    /// A local message has started and not ended (no PSH yet).
    local_in_message: bool,
    /// A peer message has started and not ended.
    peer_in_message: bool,
    /// Peer requests our next messages answer.
    owed: u32,
    /// Samples taken, approximate ones among them.
    pub(super) samples: u64,
    pub(super) approximate: u64,
    /// Responses slower than the link's `response_sla`.
    pub(super) slow: u64,
    /// Requests not timed because too many were outstanding.
    pub(super) untimed: u64,
    /// Requests the peer's turn left unpaired.
    pub(super) unanswered: u64,
}

impl ResponseMeter {
    /// A local data segment at `ts` (`push`: PSH set, the message ends).
    #[inline]
    pub fn on_local_data(&mut self, ts: Timestamp, push: bool) {
        if self.turn != Some(Side::Local) {
            // Our turn: what the peer's turn left unpaired never will be.
            self.turn = Some(Side::Local);
            self.local_in_message = false;
            self.forget_backlog();
        }
        if !self.local_in_message {
            if self.owed > 0 {
                self.owed -= 1;
            } else if self.requests.len() < OUTSTANDING {
                self.requests.push_back(ts);
            } else {
                self.untimed += 1;
            }
        }
        self.local_in_message = !push;
    }

    /// A peer data segment at `ts`. Returns the response time in µs if it
    /// starts the answer to a request, and whether it was approximate
    /// (counted here; the caller keeps the sample).
    #[inline]
    pub fn on_peer_data(&mut self, ts: Timestamp, push: bool, sla: Duration) -> Option<Answer> {
        if self.turn != Some(Side::Peer) {
            self.turn = Some(Side::Peer);
            self.peer_in_message = false;
            self.peer_asks = self.requests.is_empty();
            self.owed = 0;
        }
        let starts = !self.peer_in_message;
        self.peer_in_message = !push;
        if !starts {
            return None;
        }
        if self.peer_asks {
            self.owed = self.owed.saturating_add(1).min(OUTSTANDING as u32);
            return None;
        }
        let approximate = self.requests.len() > 1;
        // Nothing left: the answer goes on in another PSH segment.
        let asked = self.requests.pop_front()?;
        let d = ts.since(asked);
        let slow = d > sla;
        self.samples += 1;
        self.approximate += u64::from(approximate);
        self.slow += u64::from(slow);
        Some(Answer {
            us: micros(d),
            approximate,
            slow,
        })
    }

    /// Requests are outstanding and the peer has sent no data since the
    /// oldest was sent: when that one was sent.
    pub fn awaited(&self) -> Option<Timestamp> {
        match self.turn {
            Some(Side::Local) => self.requests.front(),
            Some(Side::Peer) | None => None,
        }
    }

    /// Drops the requests outstanding, counted as unanswered: the peer's
    /// turn left them unpaired, or it answered after a starvation (the
    /// acquirer timed the others out).
    pub fn forget_backlog(&mut self) {
        self.unanswered += self.requests.len() as u64;
        self.requests.clear();
    }

    /// The connection ended (FIN or RST): nothing is outstanding any more.
    pub fn on_end(&mut self) {
        self.requests.clear();
        self.owed = 0;
    }

    /// Requests outstanding.
    pub fn outstanding(&self) -> usize {
        self.requests.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::histogram::at_ms as ms;
    const SLA: Duration = Duration::from_secs(2);

    #[test]
    fn serial_requests_are_timed_exactly() {
        let mut r = ResponseMeter::default();
        r.on_local_data(ms(0), false);
        r.on_local_data(ms(1), true); // one request in two segments
        assert_eq!(
            r.on_peer_data(ms(150), true, SLA)
                .map(|a| (a.us, a.approximate)),
            Some((150_000, false))
        );
        r.on_local_data(ms(1000), true);
        assert_eq!(
            r.on_peer_data(ms(1150), false, SLA)
                .map(|a| (a.us, a.approximate)),
            Some((150_000, false))
        );
        assert_eq!(r.on_peer_data(ms(1151), true, SLA).map(|a| a.us), None); // same answer
        assert_eq!((r.samples, r.approximate), (2, 0));
    }

    #[test]
    fn pipelined_requests_are_approximate() {
        let mut r = ResponseMeter::default();
        r.on_local_data(ms(0), true);
        r.on_local_data(ms(10), true);
        assert_eq!(
            r.on_peer_data(ms(100), true, SLA)
                .map(|a| (a.us, a.approximate)),
            Some((100_000, true))
        );
        assert_eq!(
            r.on_peer_data(ms(110), true, SLA)
                .map(|a| (a.us, a.approximate)),
            Some((100_000, false))
        );
        assert_eq!(r.approximate, 1);
    }

    #[test]
    fn an_answer_to_the_peers_echo_is_not_a_request() {
        let mut r = ResponseMeter::default();
        assert_eq!(r.on_peer_data(ms(0), true, SLA).map(|a| a.us), None); // their echo
        r.on_local_data(ms(1), true); // our answer
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.on_peer_data(ms(60_000), true, SLA).map(|a| a.us), None); // next echo
    }
}

#[cfg(test)]
mod ring {
    use super::*;

    use super::super::histogram::at_ms as ms;

    /// The ring keeps the oldest first across its wrap, and holds
    /// [`OUTSTANDING`] at most: the next is counted, not timed.
    #[test]
    fn requests_keep_their_order_across_the_ring_and_its_bound() {
        let mut q = Requests::default();
        for round in 0..3i64 {
            for i in 0..OUTSTANDING as i64 {
                q.push_back(ms(round * 100 + i));
            }
            for i in 0..OUTSTANDING as i64 {
                assert_eq!(q.pop_front(), Some(ms(round * 100 + i)));
            }
            assert!(q.is_empty());
            q.push_back(ms(7)); // moves the head along before the next round
            assert_eq!(q.pop_front(), Some(ms(7)));
        }
        let mut r = ResponseMeter::default();
        for i in 0..=OUTSTANDING as i64 {
            r.on_local_data(ms(i), true);
        }
        assert_eq!((r.outstanding(), r.untimed), (OUTSTANDING, 1));
        assert_eq!(r.awaited(), Some(ms(0)));
    }
}

#[cfg(test)]
mod turns {
    use super::*;

    use super::super::histogram::at_ms as ms;
    const SLA: Duration = Duration::from_secs(2);

    /// An answer in several PSH segments pairs once; the requests of the
    /// next turn pair with the next answer, not with its second segment.
    #[test]
    fn an_answer_in_several_push_segments_is_one_answer() {
        let mut r = ResponseMeter::default();
        r.on_local_data(ms(0), true);
        assert_eq!(
            r.on_peer_data(ms(100), true, SLA)
                .map(|a| (a.us, a.approximate)),
            Some((100_000, false))
        );
        assert_eq!(r.on_peer_data(ms(101), true, SLA).map(|a| a.us), None);
        assert_eq!(r.on_peer_data(ms(102), true, SLA).map(|a| a.us), None);
        r.on_local_data(ms(500), true);
        assert_eq!(
            r.on_peer_data(ms(620), true, SLA)
                .map(|a| (a.us, a.approximate)),
            Some((120_000, false))
        );
        assert_eq!(r.awaited(), None);
    }

    /// Two answers in one segment leave a request unpaired: it is dropped
    /// when our next turn starts, not left to starve the connection.
    #[test]
    fn a_request_left_unpaired_is_dropped_at_our_next_turn() {
        let mut r = ResponseMeter::default();
        r.on_local_data(ms(0), true);
        r.on_local_data(ms(1), true);
        assert_eq!(
            r.on_peer_data(ms(100), true, SLA)
                .map(|a| (a.us, a.approximate)),
            Some((100_000, true))
        );
        assert_eq!(r.awaited(), None, "the peer spoke since");
        r.on_local_data(ms(1_000), true);
        assert_eq!(r.unanswered, 1);
        assert_eq!(r.awaited(), Some(ms(1_000)));
        assert_eq!(
            r.on_peer_data(ms(1_050), true, SLA)
                .map(|a| (a.us, a.approximate)),
            Some((50_000, false))
        );
    }
}
