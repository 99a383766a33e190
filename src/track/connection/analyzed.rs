//! The connection's side of the degradation analytics: feeding them and
//! turning what they find into events about this connection.

use crate::decode::Segment;
use crate::event::Event;
use crate::time::Timestamp;

use super::super::analytics::{Analytics, Fresh, Limits, Report, Seen};
use super::{Connection, State};

impl Connection {
    /// Gives the connection its analytics (the tracker's budget allowed).
    pub(in crate::track) fn start_analytics(&mut self, fresh: bool) {
        let mut a: Box<Analytics> = Box::default();
        a.keep_fresh(fresh);
        self.analytics = Some(a);
    }

    /// Has analytics.
    pub(in crate::track) fn is_analyzed(&self) -> bool {
        self.analytics.is_some()
    }

    /// Bytes its analytics hold.
    pub(in crate::track) fn analytics_heap_bytes(&self) -> usize {
        self.analytics.as_deref().map_or(0, Analytics::heap_bytes)
    }

    /// Its samples since the last call, for the metrics.
    pub(in crate::track) fn drain_fresh(&mut self, out: &mut Vec<Fresh>) {
        let (link, ends) = (self.link_name.clone(), self.ends);
        if let Some(a) = self.analytics.as_deref_mut() {
            a.drain(|measure, value_ms, count| {
                out.push(Fresh {
                    link: link.clone(),
                    ends,
                    measure,
                    value_ms,
                    count,
                })
            });
        }
    }

    /// The analytics' figures at `now`, if it has them.
    pub fn analytics(&self, now: Timestamp) -> Option<Report> {
        self.analytics.as_deref().map(|a| a.report(now))
    }

    /// Feeds one segment to the analytics ([`Analytics::on_segment`] is
    /// the call out of line: most segments of a replay with links belong
    /// to connections without analytics).
    #[inline]
    pub(super) fn analyze(
        &mut self,
        seg: &Segment,
        ts: Timestamp,
        packet: u64,
        seen: Seen,
        limits: &Limits,
        out: &mut Vec<Event>,
    ) {
        let up = matches!(self.state, State::Established | State::HalfClosed(_));
        let Some(a) = self.analytics.as_deref_mut() else {
            return;
        };
        let mut found = Vec::new();
        if up {
            a.on_segment(seg, ts, seen, limits, &mut found);
        }
        // A FIN or RST either way: no answer is owed any more.
        if seg.flags.fin() || seg.flags.rst() {
            a.on_end();
        }
        if !found.is_empty() {
            for kind in found {
                out.push(self.event(ts, kind, Some(packet)));
            }
        }
    }

    /// When the analytics next need a call without a packet.
    pub(super) fn analytics_deadline(&self, limits: &Limits) -> Option<Timestamp> {
        let a: &Analytics = self.analytics.as_deref()?;
        // Never in the past: a request acknowledged only after its
        // timeout starves from that acknowledgment on.
        a.next_deadline(limits, self.awaiting_ack.is_none())
            .map(|t| t.max(self.last_ts))
    }

    /// The analytics' deadline `due` passed.
    pub(super) fn analytics_due(&mut self, due: Timestamp, limits: &Limits, out: &mut Vec<Event>) {
        let acked = self.awaiting_ack.is_none();
        let Some(mut a) = self.analytics.take() else {
            return;
        };
        let mut found = Vec::new();
        a.on_deadline(due, limits, acked, &mut found);
        self.analytics = Some(a);
        for kind in found {
            out.push(self.event(due, kind, Some(self.last_packet)));
        }
    }
}
