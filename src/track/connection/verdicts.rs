//! A connection's side of attribution: judging a FIN, RST or refusal
//! against its sender's habits, the receiver's window a RST must hit, and
//! what the segments after it say (`track::attribution` holds the rule).

use crate::decode::Segment;
use crate::event::{Accused, Attribution, Clue, Event, EventKind, Side};
use crate::time::Timestamp;

use super::super::attribution::{self, Review, Suspect};
use super::Connection;

impl Connection {
    /// Judges `seg` from `from` (a FIN or RST) against that side's
    /// habits, and keeps it as the suspect what follows may revise.
    pub(super) fn accuse(
        &mut self,
        what: Accused,
        from: Side,
        seg: &Segment,
        packet: u64,
    ) -> Option<Box<Attribution>> {
        let a = attribution::attribute(&self.dir(from).habits, seg, None);
        let rcv_nxt = self.dir(from.other()).ack_max;
        let suspect = Suspect::new(what, self.state, from, seg, packet, rcv_nxt, a);
        // A connection's second FIN replaces its first: the box is reused.
        match self.suspect.as_mut() {
            Some(s) => **s = suspect,
            None => self.suspect = Some(Box::new(suspect)),
        }
        Some(Box::new(a))
    }

    /// The clue that a RST from `from` lies outside the receiver's
    /// window, if it does. The window is the receiver's last advertised
    /// one, scaled when both SYNs were seen with the option; without the
    /// handshake the scale is unknown and taken as the largest (14), so a
    /// RST is never wrongly ignored for want of it.
    pub(super) fn out_of_window(&self, seg: &Segment, from: Side) -> Option<Clue> {
        let rcv = self.dir(from.other());
        let rcv_nxt = rcv.ack_max?;
        let shift = match (self.local.syn_seen && self.peer.syn_seen, rcv.wscale) {
            (true, Some(s)) if self.local.wscale.is_some() && self.peer.wscale.is_some() => {
                s.min(14)
            }
            (true, _) => 0,
            (false, _) => 14,
        };
        let window = (u32::from(rcv.window) << shift).max(1);
        let off = seg.seq.wrapping_sub(rcv_nxt.0);
        (off >= window).then_some(Clue::OutOfWindow {
            seq: seg.seq,
            rcv_nxt: rcv_nxt.0,
            window,
        })
    }

    /// What a segment after the suspect FIN/RST says about it: a revised
    /// verdict, or a connection up again after a RST its endpoints did
    /// not obey.
    #[inline(never)]
    pub(super) fn review(
        &mut self,
        seg: &Segment,
        from: Side,
        ts: Timestamp,
        packet: u64,
        out: &mut Vec<Event>,
    ) {
        let Some(s) = self.suspect.as_mut() else {
            return;
        };
        if !s.open(ts) {
            self.suspect = None;
            return;
        }
        let review = s.observe(seg, from);
        let (of, accused_from, of_packet, before) = (s.what, s.from, s.packet, s.before);
        let attribution = s.attribution;
        let up_again = match review {
            Review::Same => return,
            Review::Revised => false,
            Review::UpAgain => {
                if self.state.is_terminal() {
                    self.set_state(before);
                }
                true
            }
        };
        let mut e = self.event(
            ts,
            EventKind::AttributionRevised {
                of,
                from: accused_from,
                of_packet,
                up_again,
            },
            Some(packet),
        );
        e.attribution = Some(Box::new(attribution));
        out.push(e);
    }
}
