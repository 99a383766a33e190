//! A configured link's state machine, owned by the tracker.
//!
//! A link counts its established connections (and how many of them are
//! silent or black-holed) and moves between [`LinkStatus::Unknown`] (just
//! started), [`LinkStatus::Up`] and [`LinkStatus::Down`] (short of
//! `expect_connections` for longer than `reconnect_grace`). Every status
//! change passes through [`Link::set_status`], which traces `A => B`.
//!
//! The count ([`LinkCount`]) is this module's fact: every event about the
//! link carries a copy of it as of that event, so the policy judges the
//! link's health without keeping a second count of its own.

use crate::config::LinkSpec;
use crate::event::{Event, EventKind, LinkCount, LinkId, LinkRef, LinkStatus};
use crate::time::{Duration, Timestamp};

use super::connection::Thresholds;
use super::LINGER;

/// What one connection contributes to its link's count.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// Counts as established.
    pub up: bool,
    /// Silent or black-holed now.
    pub troubled: bool,
    /// In response starvation now.
    pub starving: bool,
    /// Degraded now (retransmissions, a closed window).
    pub degraded: bool,
}

impl Standing {
    /// Counts among the link's troubled established connections.
    fn troubled_up(self) -> bool {
        self.up && self.troubled
    }
}

/// Moves `count` by one when `flag` of an established connection changed.
fn follow(count: &mut u32, before: bool, after: bool) {
    match (before, after) {
        (false, true) => *count += 1,
        (true, false) => *count = count.saturating_sub(1),
        (true, true) | (false, false) => {}
    }
}

/// What a link deadline found when it came due.
#[derive(Debug)]
// Returned once per link deadline and pushed at once: a box would only add
// an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Due {
    /// The link went down: the `link_down` event.
    Down(Event),
    /// The deadline moved (the link is short since later): schedule again.
    Moved,
    /// Nothing to do any more (the link has its connections).
    Nothing,
}

/// One configured link, as the tracker keeps it.
#[derive(Clone, Debug)]
pub struct Link {
    /// Its place in the config.
    id: LinkId,
    /// The link as configured.
    pub(super) spec: LinkSpec,
    /// Deadlines of its connections.
    pub(super) thresholds: Thresholds,
    count: LinkCount,
    /// Since when the link has been short of connections.
    short_since: Option<Timestamp>,
    down_since: Option<Timestamp>,
    /// The deadline in the timer queue, if any.
    pub(super) scheduled: Option<Timestamp>,
    /// The capture feeding this link is losing packets or lost.
    pub(super) capture_degraded: bool,
}

impl Link {
    /// Link `id`, configured as `spec`, not yet seen.
    pub fn new(id: LinkId, spec: &LinkSpec) -> Link {
        Link {
            id,
            thresholds: Thresholds {
                silence_after: spec.silence_after,
                black_hole_after: spec.black_hole_after,
                linger: LINGER,
                idle_timeout: None,
                limits: spec.analytics,
            },
            spec: spec.clone(),
            count: LinkCount::default(),
            short_since: None,
            down_since: None,
            scheduled: None,
            capture_degraded: false,
        }
    }

    /// Takes over what `old` (the same link before a reload) knew of the
    /// line: status, outage times and capture state. The count starts from
    /// zero: the tracker recounts the connections it keeps.
    pub fn continue_from(&mut self, old: &Link) {
        self.count.status = old.count.status;
        self.short_since = old.short_since;
        self.down_since = old.down_since;
        self.capture_degraded = old.capture_degraded;
    }

    /// Its count now.
    pub fn count(&self) -> LinkCount {
        self.count
    }

    /// Up, down or not yet known.
    pub fn status(&self) -> LinkStatus {
        self.count.status
    }

    /// Since when the link is down.
    pub fn down_since(&self) -> Option<Timestamp> {
        self.down_since
    }

    /// The link as events name it, with its count now.
    fn reference(&self) -> LinkRef {
        LinkRef {
            id: self.id,
            name: self.spec.name.clone(),
            count: self.count,
        }
    }

    /// The only place the status changes.
    fn set_status(&mut self, to: LinkStatus) {
        #[cfg(feature = "trace")]
        if self.count.status != to {
            log::trace!(
                "link {}: {:?} => {:?} ({}/{} established)",
                self.spec.name,
                self.count.status,
                to,
                self.count.established,
                self.spec.expect_connections
            );
        }
        self.count.status = to;
    }

    /// A connection of the link went from `before` to `after` at `ts`.
    /// Returns the `link_up` event when that brought the link back.
    pub fn on_standing(
        &mut self,
        before: Standing,
        after: Standing,
        ts: Timestamp,
    ) -> Option<Event> {
        follow(
            &mut self.count.troubled,
            before.troubled_up(),
            after.troubled_up(),
        );
        follow(
            &mut self.count.starving,
            before.up && before.starving,
            after.up && after.starving,
        );
        follow(
            &mut self.count.degraded,
            before.up && before.degraded,
            after.up && after.degraded,
        );
        if before.up == after.up {
            return None;
        }
        if after.up {
            self.count.established += 1;
        } else {
            self.count.established = self.count.established.saturating_sub(1);
        }
        let expected = self.spec.expect_connections;
        if self.count.established < expected {
            if self.count.status == LinkStatus::Up && self.short_since.is_none() {
                self.short_since = Some(ts);
            }
            return None;
        }
        self.short_since = None;
        match self.count.status {
            LinkStatus::Down => {
                let down_for = self.down_since.map_or(Duration::ZERO, |d| ts.since(d));
                self.set_status(LinkStatus::Up);
                self.down_since = None;
                Some(self.event(
                    ts,
                    EventKind::LinkUp {
                        established: self.count.established,
                        expected,
                        down_for,
                    },
                ))
            }
            LinkStatus::Unknown | LinkStatus::Up => {
                self.set_status(LinkStatus::Up);
                None
            }
        }
    }

    /// A reload: the link is short since `now` if it was up and the new
    /// `expect_connections` is more than it has.
    pub fn recheck_after_reload(&mut self, now: Timestamp) {
        if self.count.established < self.spec.expect_connections
            && self.count.status == LinkStatus::Up
        {
            self.short_since.get_or_insert(now);
        }
    }

    /// Counts one connection that the tracker keeps across a reload.
    pub fn recount(&mut self, standing: Standing) {
        self.count.established += u32::from(standing.up);
        self.count.troubled += u32::from(standing.troubled_up());
        self.count.starving += u32::from(standing.up && standing.starving);
        self.count.degraded += u32::from(standing.up && standing.degraded);
    }

    /// When the link goes down if nothing changes: at start, give the
    /// link's connections time to show themselves (a quiet persistent
    /// connection speaks within `silence_after`); once up, `reconnect_grace`
    /// after it fell short.
    pub fn deadline(&self, started: Option<Timestamp>) -> Option<Timestamp> {
        if self.count.established >= self.spec.expect_connections {
            return None;
        }
        match self.count.status {
            LinkStatus::Unknown => {
                started.map(|s| s.plus(self.spec.reconnect_grace.max(self.spec.silence_after)))
            }
            LinkStatus::Up => self.short_since.map(|s| s.plus(self.spec.reconnect_grace)),
            LinkStatus::Down => None,
        }
    }

    /// Its deadline `t` came due.
    pub fn on_deadline(&mut self, t: Timestamp, started: Option<Timestamp>) -> Due {
        if self.scheduled != Some(t) {
            return Due::Nothing;
        }
        self.scheduled = None;
        match self.deadline(started) {
            Some(d) if d == t => {
                self.set_status(LinkStatus::Down);
                self.down_since = Some(t);
                self.short_since = None;
                Due::Down(self.event(
                    t,
                    EventKind::LinkDown {
                        established: self.count.established,
                        expected: self.spec.expect_connections,
                    },
                ))
            }
            Some(_) => Due::Moved,
            None => Due::Nothing,
        }
    }

    fn event(&self, ts: Timestamp, kind: EventKind) -> Event {
        Event {
            ts,
            kind,
            link: Some(self.reference()),
            conn: None,
            packet: None,
            up_for: None,
            evidence: None,
            attribution: None,
        }
    }
}
