//! Which events storm control may hold back: the tracker's word, since
//! whether a connection was ever up is its fact ([`crate::storm`]).

use super::{flow_key, Tracker};
use crate::event::{Event, EventKind};
use crate::storm::Protection;

impl Tracker {
    /// Whether storm control may hold event `e` back: events about a
    /// connection that was established (a watched connection's FIN, RST,
    /// silence...), link events and the probe's own are always printed;
    /// events about attempts that never came up (`syn_unanswered`,
    /// `refused`, a FIN or RST without a handshake, an ICMP error about a
    /// flow that is not up) are kept to the budget. See [`crate::storm`].
    pub fn protection(&self, e: &Event) -> crate::storm::Protection {
        let Some(conn) = e.conn else {
            return Protection::Always;
        };
        match &e.kind {
            EventKind::SynUnanswered | EventKind::Refused => Protection::Budgeted,
            // Sent by a connection as it ends: `up_for` says it was up.
            EventKind::FinFrom(_) | EventKind::ResetFrom(_) | EventKind::Closed => match e.up_for {
                Some(_) => Protection::Always,
                None => Protection::Budgeted,
            },
            // Changes nothing: the connection is still in the table.
            EventKind::IcmpError { .. } => {
                let up = self
                    .flows
                    .find(&flow_key(conn.local, conn.peer))
                    .and_then(|slot| self.flows.get(slot))
                    .is_some_and(|c| c.ever_up());
                match up {
                    true => Protection::Always,
                    false => Protection::Budgeted,
                }
            }
            EventKind::Established
            | EventKind::Discovered
            | EventKind::ResetIgnored(_)
            | EventKind::AttributionRevised { .. }
            | EventKind::Silence { .. }
            | EventKind::SilenceEnded { .. }
            | EventKind::BlackHole { .. }
            | EventKind::BlackHoleEnded { .. }
            | EventKind::LinkDown { .. }
            | EventKind::LinkUp { .. }
            | EventKind::CaptureLost { .. }
            | EventKind::CaptureResumed { .. }
            | EventKind::CaptureDegraded { .. }
            | EventKind::CaptureRecovered { .. }
            | EventKind::Suppressed(_)
            | EventKind::PathChanged { .. }
            | EventKind::ResponseStarvation { .. }
            | EventKind::ResponseStarvationEnded { .. }
            | EventKind::Degraded(_)
            | EventKind::DegradedEnded { .. } => Protection::Always,
        }
    }
}
