//! How connections leave the flow table: retired when finished or idle,
//! evicted when the table is full or holds too many never-established
//! connections, all of them at the end of a capture; and the timer queue
//! kept bounded by the table.
//!
//! # Who is evicted, in this order
//! 1. connections never established (SYN-only, refused, SYN-ACK-only):
//!    a SYN flood or a reconnect storm; they may hold a quarter of
//!    `max_flows` at most, and past that the oldest sixteenth of them go;
//! 2. finished connections (closed or reset), not yet lingered out;
//! 3. established connections of no configured link;
//! 4. never, while anything above is left: an established (or
//!    half-closed) connection of a configured link. Its loss would page
//!    `link_down` on a line that is up. Only a table full of them (a link
//!    whose peer range matches more connections than `max_flows`) evicts
//!    them, least recently active first.
//!
//! Within a rank, the least recently active go first.

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
        // Its standing before the summary takes its analytics.
        let gone = self.flows.remove(slot, |c| {
            let before = c.standing();
            (c.take_summary(reason), c.link, before, c.ever_up())
        });
        if let Some((mut summary, link, before, ever_up)) = gone {
            summary.retired_at = ts.max(summary.retired_at);
            if !ever_up {
                self.embryonic = self.embryonic.saturating_sub(1);
            }
            self.keep_retired(summary);
            let after = Standing::default();
            self.link_changed(
                Change {
                    link,
                    before,
                    after,
                    became_up: false,
                },
                ts,
                out,
            );
        }
    }

    /// Evicts a sixteenth of the table (the table is full), by rank and
    /// then least recently active first (see the module's order).
    pub(super) fn evict(&mut self, ts: Timestamp, out: &mut Vec<Event>) {
        let order: Vec<(u8, Timestamp, u64, SlotId)> = self
            .flows
            .iter()
            .map(|(slot, _, c)| {
                let rank = if !c.ever_up() {
                    0
                } else if c.state().is_terminal() {
                    1
                } else if c.link.is_none() {
                    2
                } else {
                    3
                };
                (rank, c.last_ts(), c.uid, slot)
            })
            .collect();
        // A sixteenth, but never a protected connection while another is
        // left.
        let unprotected = order.iter().filter(|(rank, ..)| *rank < 3).count();
        let n = (order.len() / 16).max(1);
        let n = if unprotected > 0 {
            n.min(unprotected)
        } else {
            n
        };
        self.evict_first(order, n, ts, out);
    }

    /// Evicts the oldest sixteenth of the never-established connections,
    /// when they hold more than their quarter of the table.
    pub(super) fn evict_embryonic(&mut self, ts: Timestamp, out: &mut Vec<Event>) {
        let order: Vec<(u8, Timestamp, u64, SlotId)> = self
            .flows
            .iter()
            .filter(|(_, _, c)| !c.ever_up())
            .map(|(slot, _, c)| (0, c.last_ts(), c.uid, slot))
            .collect();
        let n = (self.max_embryonic() / 16).max(1);
        self.evict_first(order, n, ts, out);
    }

    /// Evicts the first `n` of `order` (rank, last activity, uid, slot).
    fn evict_first(
        &mut self,
        mut order: Vec<(u8, Timestamp, u64, SlotId)>,
        n: usize,
        ts: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let n = n.min(order.len());
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
