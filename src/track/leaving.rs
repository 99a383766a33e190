//! How connections leave the flow table: retired when finished or idle,
//! evicted when the table is full (finished first, then connections of no
//! link, then link connections, least recently active first), all of them
//! at the end of a capture; and the timer queue kept bounded by the table.

use crate::event::Event;
use crate::time::Timestamp;

use super::table::SlotId;
use super::{Change, RetireReason, Standing, Target, Tracker};

impl Tracker {
    /// Drops timer entries of connections that left the table (evicted,
    /// retired, replaced) once they outnumber the live ones: otherwise they
    /// would stay until due (an hour for unwatched flows) and the heap
    /// would grow with the connections seen, not with the table. Bound: at
    /// most `2 * flows + 1024` entries; the cost is amortised O(1).
    pub(super) fn compact_timers(&mut self) {
        if self.timers.len() <= 2 * self.flows.len() + 1024 {
            return;
        }
        let flows = &self.flows;
        self.timers.retain(|(t, uid, target)| match target {
            Target::Conn(slot) => flows
                .get(*slot)
                .is_some_and(|c| c.uid == *uid && c.scheduled == Some(*t)),
            Target::Link(_) => true,
        });
    }

    /// Ends tracking (end of a replay file): every connection left in the
    /// table gets its summary. Deadlines after the last packet do not fire:
    /// the capture says nothing about that time.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        while !self.finish_some(usize::MAX, out) {}
    }

    /// [`Tracker::finish`] in steps of at most `n` connections (oldest
    /// first, as `finish` retires them), so that a caller who drains the
    /// summaries between steps never holds a whole table's worth of them
    /// at once. Returns whether the table is empty. No packet may be fed
    /// between steps.
    pub fn finish_some(&mut self, n: usize, out: &mut Vec<Event>) -> bool {
        if self.finishing.is_empty() {
            let mut slots: Vec<(u64, SlotId)> = self
                .flows
                .iter()
                .map(|(slot, _, c)| (c.uid, slot))
                .collect();
            // Newest first, so that the oldest is popped first.
            slots.sort_unstable_by(|a, b| b.cmp(a));
            self.finishing = slots.into_iter().map(|(_, slot)| slot).collect();
        }
        let now = self.now;
        for _ in 0..n {
            let Some(slot) = self.finishing.pop() else {
                break;
            };
            self.retire(slot, RetireReason::CaptureEnd, now, out);
        }
        if self.finishing.is_empty() {
            self.timers.clear();
            return true;
        }
        false
    }

    pub(super) fn retire(
        &mut self,
        slot: SlotId,
        reason: RetireReason,
        ts: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let gone = self
            .flows
            .remove(slot, |c| (c.take_summary(reason), c.link, c.standing()));
        if let Some((summary, link, before)) = gone {
            self.retired.push(summary);
            let after = Standing::default();
            self.link_changed(
                Change {
                    link,
                    before,
                    after,
                },
                ts,
                out,
            );
        }
    }

    pub(super) fn evict(&mut self, ts: Timestamp, out: &mut Vec<Event>) {
        let mut order: Vec<(u8, Timestamp, u64, SlotId)> = self
            .flows
            .iter()
            .map(|(slot, _, c)| {
                let rank = if c.state().is_terminal() {
                    0
                } else if c.link.is_none() {
                    1
                } else {
                    2
                };
                (rank, c.last_ts(), c.uid, slot)
            })
            .collect();
        let n = (order.len() / 16).max(1).min(order.len());
        if n == 0 {
            return;
        }
        order.select_nth_unstable(n - 1);
        order.truncate(n);
        order.sort_unstable();
        for (_, _, _, slot) in order {
            self.stats.evicted += 1;
            self.retire(slot, RetireReason::Evicted, ts, out);
        }
    }
}
