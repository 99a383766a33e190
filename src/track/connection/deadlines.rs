//! A connection's deadlines: what happens to it when no packet comes
//! (silence, black hole, unanswered SYN, retirement), on the packet clock.

use crate::event::{Event, EventKind};
use crate::time::Timestamp;

use super::{Connection, RetireReason, State, Thresholds, Trouble};

impl Connection {
    /// The next packet-clock time at which something happens to this
    /// connection without a packet: silence, black hole, unanswered SYN, or
    /// its retirement from the table.
    pub(in crate::track) fn next_deadline(&self, th: &Thresholds) -> Option<Timestamp> {
        let mut d: Option<Timestamp> = None;
        let mut at = |t: Timestamp| d = Some(d.map_or(t, |x| x.min(t)));
        match self.state {
            State::SynSent => {
                if let Some(syn) = self.syn_at {
                    at(syn.plus(th.black_hole_after));
                }
            }
            State::Established => {
                if !self.silent {
                    at(self.last_ts.plus(th.silence_after));
                }
                if let Some(t) = self.analytics_deadline(&th.limits) {
                    at(t);
                }
            }
            State::SynReceived | State::HalfClosed(_) => {}
            State::Closed | State::Reset(_) | State::Refused | State::SynUnanswered => {
                at(self.last_ts.plus(th.linger))
            }
        }
        if let (Some((since, _)), false) = (self.awaiting_ack, self.black_hole) {
            if matches!(self.state, State::Established | State::HalfClosed(_)) {
                at(since.plus(th.black_hole_after));
            }
        }
        if let Some(idle) = th.idle_timeout {
            at(self.last_ts.plus(idle));
        }
        d
    }

    /// Fires whatever deadline is due at `due` (which `next_deadline`
    /// returned). Returns a reason if the connection should leave the table.
    pub(in crate::track) fn on_deadline(
        &mut self,
        due: Timestamp,
        th: &Thresholds,
        capture_degraded: bool,
        out: &mut Vec<Event>,
    ) -> Option<RetireReason> {
        if self.state == State::SynSent
            && self.syn_at.map(|s| s.plus(th.black_hole_after)) == Some(due)
        {
            self.set_state(State::SynUnanswered);
            out.push(self.event(due, EventKind::SynUnanswered, Some(self.last_packet)));
            return None;
        }
        if self.state == State::Established
            && !self.silent
            && self.last_ts.plus(th.silence_after) == due
        {
            self.set_trouble(Trouble::Silence, true);
            out.push(self.event(
                due,
                EventKind::Silence {
                    after: th.silence_after,
                    capture_degraded,
                },
                Some(self.last_packet),
            ));
            return None;
        }
        if let (Some((since, packet)), false) = (self.awaiting_ack, self.black_hole) {
            if since.plus(th.black_hole_after) == due {
                self.set_trouble(Trouble::BlackHole, true);
                out.push(self.event(
                    due,
                    EventKind::BlackHole {
                        after: th.black_hole_after,
                        retransmissions: self.awaiting_retransmissions,
                    },
                    Some(packet),
                ));
                return None;
            }
        }
        if self.state == State::Established && self.analytics_deadline(&th.limits) == Some(due) {
            self.analytics_due(due, &th.limits, out);
            return None;
        }
        if self.state.is_terminal() && self.last_ts.plus(th.linger) == due {
            return Some(RetireReason::Finished);
        }
        if th.idle_timeout.map(|i| self.last_ts.plus(i)) == Some(due) {
            return Some(RetireReason::Idle);
        }
        None
    }
}
