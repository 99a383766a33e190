//! The black-hole rule's bookkeeping on each segment: when our data
//! started waiting for an acknowledgment, and what ends the wait.

use crate::decode::Segment;
use crate::event::{Event, EventKind, Side};
use crate::time::Timestamp;

use super::super::seq::Seq;
use super::{Connection, Trouble};

/// What one segment did, for the black-hole rule.
#[derive(Copy, Clone, Debug)]
pub(super) struct Sent {
    /// A keep-alive (0-1 byte at next-expected - 1).
    pub(super) keepalive: bool,
    /// Retransmitted data already sent.
    pub(super) retransmission: bool,
    /// Its ACK acknowledged something new.
    pub(super) ack_progress: bool,
}

impl Connection {
    /// Black-hole bookkeeping: has local data gone without any ACK progress?
    ///
    /// The clock starts when local sends something the peer has not yet
    /// acknowledged. An ACK that covers everything stops it; an ACK that
    /// advances but leaves data in flight (pipelined requests on a busy
    /// line) restarts it from that ACK: the peer is alive and taking our
    /// data, so only a stall in acknowledgments is a black hole.
    pub(super) fn track_acknowledgment(
        &mut self,
        seg: &Segment,
        from: Side,
        ts: Timestamp,
        packet: u64,
        sent: Sent,
        out: &mut Vec<Event>,
    ) {
        let Sent {
            keepalive,
            retransmission,
            ack_progress,
        } = sent;
        match from {
            Side::Local => {
                let sends = seg.payload_len > 0 || seg.flags.fin() || keepalive;
                let acked = match (self.local.snd_max, self.peer.ack_max) {
                    (Some(sent), Some(acked)) => acked.at_or_after(sent),
                    _ => false,
                };
                if sends && !seg.flags.rst() && (keepalive || !acked) {
                    if self.awaiting_ack.is_none() {
                        self.awaiting_ack = Some((ts, packet));
                        self.awaiting_retransmissions = 0;
                    } else if retransmission || keepalive {
                        self.awaiting_retransmissions += 1;
                    }
                }
            }
            Side::Peer => {
                let covers = match (self.local.snd_max, seg.flags.ack()) {
                    (Some(sent), true) => Seq(seg.ack).at_or_after(sent),
                    _ => false,
                };
                // Covered or reset: nothing outstanding. Partial progress:
                // data still in flight, but the peer is taking it.
                let settled = covers || seg.flags.rst();
                if settled || ack_progress {
                    if let Some((since, _)) = self.awaiting_ack.take() {
                        if self.black_hole {
                            self.set_trouble(Trouble::BlackHole, false);
                            out.push(self.event(
                                ts,
                                EventKind::BlackHoleEnded {
                                    unacked_for: ts.since(since),
                                },
                                Some(packet),
                            ));
                        }
                        if !settled {
                            // The clock restarts at this partial ACK.
                            self.awaiting_ack = Some((ts, packet));
                            self.awaiting_retransmissions = 0;
                        }
                    }
                }
            }
        }
    }
}
