//! Track: the sans-IO connection tracker.
//!
//! Pipeline role: capture -> decode -> **track** -> policy -> emit.
//!
//! The tracker knows only the time it is told: each segment's timestamp and
//! explicit [`Tracker::advance_to`] calls. Silence, black holes, unanswered
//! SYNs, link outages and retirement from the table are deadlines on that
//! clock, kept in one timer queue ([`timers`]), so replaying a file whole or packet by
//! packet with `advance_to` in between yields the same events.
//!
//! # Bounds
//! The flow table holds at most `max_flows` connections (default 32,768,
//! about 1.4 KB each).
//! Finished connections leave it `linger` (5 s) after their last packet;
//! connections outside any configured link leave it after `idle_timeout`
//! (1 h) without packets. When the table is full and a new connection
//! arrives, the tracker evicts 1/16 of the table at once, in the order
//! `track::leaving` gives: never-established connections first, an established
//! connection of a configured link only when nothing else is left.
//! Never-established connections hold a quarter of the table at most. Evictions are
//! counted ([`TrackerStats::evicted`]) and evicted connections still get
//! their summary. The timer queue holds at most `2 * flows + 1024` entries:
//! entries of connections that left the table are dropped once they
//! outnumber the live ones.

mod analytics;
mod analyzed;
mod attribution;
mod connection;
mod leaving;
mod link;
mod protection;
mod seq;
mod table;
mod timers;
mod zeek;

pub use analytics::{
    Analytics, Fresh, Limits, Measure, Report, ResponseMeter, RttReport, SideReport, WindowStats,
};
pub use connection::{Connection, ConnectionSummary, RetireReason, State, Thresholds};
pub use link::{Link, Standing};
pub use seq::Seq;
pub use zeek::{ZeekConn, ZeekRow, ZeekView};

pub use analyzed::AnalyticsStats;
use analyzed::Analyzed;
use table::{flow_key, FlowTable, SlotId};

use std::sync::Arc;

use crate::config::{Config, LinkSpec, DEFAULT_BLACK_HOLE_AFTER, DEFAULT_SILENCE_AFTER};
use crate::decode::{Decoded, IcmpError, Segment};
pub use crate::event::LinkStatus;
use crate::event::{Event, EventKind, LinkId};
use crate::time::{Duration, Timestamp};

/// How long a finished connection stays in the table (Zeek's tcp_close_delay).
pub const LINGER: Duration = Duration::from_secs(5);
/// How long a connection of no configured link may idle before it is retired.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The timer-queue kind of link deadlines (connection kinds are spans in
/// nanoseconds, never this large).
const LINK_DEADLINE: u64 = u64::MAX - 1;

/// What a timer entry is for: a connection's slot in the table, or a link.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Conn(SlotId),
    Link(u32),
}

/// Timer entries: due time, the connection's uid (so that an entry left
/// behind by a connection whose slot was reused is recognised), target.
type Timers = timers::Timers<(Timestamp, u64, Target)>;

/// How a packet or a deadline changed one connection's standing in its
/// link, for the link's count.
#[derive(Copy, Clone, Debug)]
struct Change {
    link: Option<usize>,
    before: Standing,
    after: Standing,
    /// The connection was established for the first time.
    became_up: bool,
}

/// Feeds `seg` to `conn` and re-arms its deadline; returns how its standing
/// changed, for the link's count.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn feed(
    conn: &mut Connection,
    seg: &Segment,
    ts: Timestamp,
    packet: u64,
    first: bool,
    links: &[Link],
    default: &Thresholds,
    timers: &mut Timers,
    slot: SlotId,
    analyzed: &mut Analyzed,
    out: &mut Vec<Event>,
) -> Change {
    let before = conn.standing();
    let was_up = conn.ever_up();
    let th = thresholds_of(links, default, conn.link);
    conn.on_segment(seg, ts, packet, first, &th.limits, out);
    if conn.is_up() && !conn.is_analyzed() && analyzed.now < analyzed.max {
        conn.start_analytics(analyzed.fresh);
        analyzed.now += 1;
    }
    let change = Change {
        link: conn.link,
        before,
        after: conn.standing(),
        became_up: !was_up && conn.ever_up(),
    };
    arm(conn, th, timers, slot);
    change
}

/// Puts `conn`'s next deadline in the timer queue if it is earlier than the
/// one already there. A deadline that moved later (a packet arrived) needs
/// no new entry: the old one re-arms when it comes due. The deadline's kind
/// for the queue is its span after the connection's last packet.
#[inline(always)]
fn arm(conn: &mut Connection, th: &Thresholds, timers: &mut Timers, slot: SlotId) {
    if let Some(d) = conn.next_deadline(th) {
        if conn.scheduled.is_none_or(|s| d < s) {
            conn.scheduled = Some(d);
            let kind = d.since(conn.last_ts()).as_nanos().unsigned_abs();
            timers.push((d, conn.uid, Target::Conn(slot)), kind);
        }
    }
}

fn thresholds_of<'a>(
    links: &'a [Link],
    default: &'a Thresholds,
    link: Option<usize>,
) -> &'a Thresholds {
    link.and_then(|i| links.get(i))
        .map_or(default, |l| &l.thresholds)
}

/// One link as the status document shows it.
#[derive(Debug)]
pub struct LinkView<'a> {
    /// Its configuration.
    pub spec: &'a LinkSpec,
    /// Up, down or not yet known.
    pub status: LinkStatus,
    /// Established connections now.
    pub established: u32,
    /// Since when the link is down.
    pub down_since: Option<Timestamp>,
    /// Its connections in the table, in creation order.
    pub connections: Vec<&'a Connection>,
}

/// Counters the tracker keeps about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Segments fed in.
    pub segments: u64,
    /// Segments of no configured link (ignored when links are configured).
    pub unwatched: u64,
    /// Connections created.
    pub connections: u64,
    /// Connections pushed out of a full table.
    pub evicted: u64,
    /// Largest table size seen.
    pub peak_flows: usize,
    /// ICMP errors about a connection in the table (the first of a kind
    /// each minute is reported as an event).
    pub icmp_errors: u64,
    /// ICMP errors about no connection in the table (counted only).
    pub icmp_errors_unmatched: u64,
}

/// The connection tracker: segments and time in, events out.
#[derive(Debug)]
pub struct Tracker {
    links: Vec<Link>,
    default_thresholds: Thresholds,
    max_flows: usize,
    /// Connections in the table never established (SYN-only, refused,
    /// SYN-ACK-only): what a SYN flood or a reconnect storm is made of.
    embryonic: usize,
    flows: FlowTable,
    timers: Timers,
    started: Option<Timestamp>,
    now: Timestamp,
    next_uid: u64,
    retired: Vec<ConnectionSummary>,
    /// Each peer host's usual TTL, from its connections' FINs and RSTs:
    /// what a refusal is judged against.
    hosts: attribution::Hosts,
    /// Slots still to retire while finishing, the oldest connection last.
    finishing: Vec<SlotId>,
    stats: TrackerStats,
    analyzed: Analyzed,
}

impl Tracker {
    /// A tracker for `config`. Without links, every TCP connection is tracked
    /// with the default thresholds; with links, only the links' connections.
    pub fn new(config: &Config) -> Tracker {
        let links = Tracker::links_of(config);
        Tracker {
            links,
            default_thresholds: Thresholds {
                silence_after: DEFAULT_SILENCE_AFTER,
                black_hole_after: DEFAULT_BLACK_HOLE_AFTER,
                linger: LINGER,
                idle_timeout: Some(IDLE_TIMEOUT),
                limits: Limits::default(),
            },
            max_flows: config.max_flows.max(1),
            embryonic: 0,
            flows: FlowTable::default(),
            timers: Timers::default(),
            started: None,
            now: Timestamp::default(),
            next_uid: 0,
            retired: Vec::new(),
            hosts: attribution::Hosts::default(),
            finishing: Vec::new(),
            stats: TrackerStats::default(),
            analyzed: Analyzed {
                now: 0,
                max: config.max_analyzed,
                fresh: false,
            },
        }
    }

    /// Applies a new configuration (SIGHUP) without forgetting what is
    /// known: links keep their state by name, connections their history
    /// and new thresholds; connections of a removed link leave the table
    /// (with their summary). Deadlines are recomputed.
    pub fn reconfigure(&mut self, config: &Config) {
        let mut links = Tracker::links_of(config);
        for l in &mut links {
            if let Some(old) = self.links.iter().find(|o| o.spec.name == l.spec.name) {
                l.continue_from(old);
            }
        }
        let old_names: Vec<Arc<str>> = self.links.iter().map(|l| l.spec.name.clone()).collect();
        let mut gone = Vec::new();
        for (slot, conn) in self.flows.iter_mut() {
            let Some(old) = conn.link else { continue };
            let name = old_names.get(old).cloned();
            match links
                .iter()
                .position(|l| Some(&l.spec.name) == name.as_ref())
            {
                Some(new) => {
                    conn.link = Some(new);
                    if let Some(l) = links.get_mut(new) {
                        l.recount(conn.standing());
                    }
                }
                None => gone.push(slot),
            }
            conn.scheduled = None;
        }
        self.links = links;
        self.max_flows = config.max_flows.max(1);
        self.analyzed.max = config.max_analyzed;
        let now = self.now;
        for slot in gone {
            if let Some(mut summary) = self
                .flows
                .remove(slot, |c| c.take_summary(RetireReason::CaptureEnd))
            {
                summary.retired_at = now.max(summary.retired_at);
                self.keep_retired(summary);
            }
        }
        self.timers.clear();
        let slots: Vec<SlotId> = self.flows.iter().map(|(slot, _, _)| slot).collect();
        for slot in slots {
            self.schedule_conn(slot);
        }
        for i in 0..self.links.len() {
            if let Some(l) = self.links.get_mut(i) {
                l.scheduled = None;
                l.recheck_after_reload(now);
            }
            self.schedule_link(i);
        }
    }

    /// Marks the links captured on `interface` as seen through a degraded
    /// (dropping or lost) capture: their silences are flagged as such.
    pub fn set_capture_degraded(&mut self, interface: &str, degraded: bool) {
        for l in &mut self.links {
            if l.spec.interface.as_deref() == Some(interface) {
                l.capture_degraded = degraded;
            }
        }
    }

    fn links_of(config: &Config) -> Vec<Link> {
        config
            .links
            .iter()
            .enumerate()
            .map(|(i, spec)| Link::new(LinkId::of(i), spec))
            .collect()
    }

    /// Counters the tracker keeps about itself.
    pub fn stats(&self) -> &TrackerStats {
        &self.stats
    }

    /// Connections in the table now.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// The packet clock: the latest time the tracker was told.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The connections in the table, in creation order.
    pub fn connections(&self) -> Vec<&Connection> {
        let mut v: Vec<&Connection> = self.flows.iter().map(|(_, _, c)| c).collect();
        v.sort_by_key(|c| c.uid);
        v
    }

    /// A link's status and established count, by index in the config.
    pub fn link_status(&self, index: usize) -> Option<(LinkStatus, u32)> {
        self.links
            .get(index)
            .map(|l| (l.status(), l.count().established))
    }

    /// Every configured link with its state and connections, for status.
    pub fn link_views(&self) -> Vec<LinkView<'_>> {
        let conns = self.connections();
        self.links
            .iter()
            .enumerate()
            .map(|(i, l)| LinkView {
                spec: &l.spec,
                status: l.status(),
                established: l.count().established,
                down_since: l.down_since(),
                connections: conns
                    .iter()
                    .copied()
                    .filter(|c| c.link_index() == Some(i))
                    .collect(),
            })
            .collect()
    }

    /// The earliest time at which `advance_to` may produce events with no
    /// packet arriving (never later than the true next deadline).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.timers.peek().map(|(t, _, _)| *t)
    }

    /// Whether connections left the table since the last
    /// [`Tracker::drain_retired`].
    pub fn has_retired(&self) -> bool {
        !self.retired.is_empty()
    }

    /// Summaries of connections that left the table since the last call.
    pub fn drain_retired(&mut self) -> std::vec::Drain<'_, ConnectionSummary> {
        self.retired.drain(..)
    }

    /// Moves the packet clock to `now`, firing every deadline that lies
    /// before it. The clock never runs backwards: an earlier `now` is a no-op.
    #[inline]
    pub fn advance_to(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        // Called on every packet: the usual case (clock started, nothing
        // due) is two comparisons here, without the call below.
        if self.started.is_some()
            && now >= self.now
            && self.timers.peek().is_none_or(|(t, _, _)| *t >= now)
        {
            self.now = now;
            return;
        }
        self.advance_and_fire(now, out);
    }

    /// [`Tracker::advance_to`] when the clock starts or a deadline is due.
    #[inline(never)]
    fn advance_and_fire(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        if self.started.is_none() {
            self.started = Some(now);
            self.now = now;
            for i in 0..self.links.len() {
                self.schedule_link(i);
            }
        }
        if now < self.now {
            return;
        }
        self.now = now;
        while let Some((t, uid, target)) = self.timers.peek().copied() {
            if t >= now {
                break;
            }
            self.timers.pop();
            match target {
                Target::Conn(slot) => self.fire_conn(t, uid, slot, out),
                Target::Link(i) => self.fire_link(t, i as usize, out),
            }
        }
    }

    /// Feeds one decoded frame, packet number `packet` (1-based) in its
    /// capture.
    pub fn on_decoded(&mut self, d: &Decoded, packet: u64, out: &mut Vec<Event>) {
        match d {
            Decoded::Tcp(seg) => self.on_segment(seg, packet, out),
            Decoded::IcmpError(icmp) => self.on_icmp_error(icmp, packet, out),
        }
    }

    /// Feeds an ICMP error quoting a TCP segment: if the segment belongs to
    /// a connection in the table, the error is reported on it (`icmp_error`,
    /// with the router that sent it): evidence of where the path broke. It
    /// changes no state; the connection's own packets (or their absence)
    /// decide silence, black holes and resets.
    pub fn on_icmp_error(&mut self, icmp: &IcmpError, packet: u64, out: &mut Vec<Event>) {
        self.advance_to(icmp.ts, out);
        let ts = self.now.max(icmp.ts);
        let slot = self.flows.find(&flow_key(icmp.src, icmp.dst));
        match slot.and_then(|slot| self.flows.get_mut(slot)) {
            Some(conn) => {
                self.stats.icmp_errors += 1;
                if !conn.icmp_news(icmp.router, icmp.icmp_type, icmp.code, ts) {
                    return;
                }
                let start = out.len();
                out.push(conn.event(
                    ts,
                    EventKind::IcmpError {
                        router: icmp.router,
                        reason: icmp.reason(),
                        icmp_type: icmp.icmp_type,
                        code: icmp.code,
                    },
                    Some(packet),
                ));
                self.stamp(out, start);
            }
            None => self.stats.icmp_errors_unmatched += 1,
        }
    }

    /// Feeds one decoded segment, packet number `packet` (1-based) in its
    /// capture. Advances the clock to the segment's time first.
    pub fn on_segment(&mut self, seg: &Segment, packet: u64, out: &mut Vec<Event>) {
        self.advance_to(seg.ts, out);
        let start = out.len();
        self.stats.segments += 1;
        // With links configured, most of a busy interface is someone else's
        // traffic: reject it before building and hashing the flow key.
        let watched = if self.links.is_empty() {
            None
        } else {
            let found = self
                .links
                .iter()
                .enumerate()
                .find_map(|(i, l)| l.spec.sender(&seg.src, &seg.dst).map(|s| (i, s)));
            let Some(found) = found else {
                self.stats.unwatched += 1;
                return;
            };
            Some(found)
        };
        let ts = self.now.max(seg.ts);
        let key = flow_key(seg.src, seg.dst);
        // The common case, a packet of a connection in the table: one lookup.
        let found = self.flows.find(&key);
        let reused = match found.and_then(|slot| Some((slot, self.flows.get_mut(slot)?))) {
            Some((slot, conn)) if !conn.is_new_attempt(seg) => {
                let change = feed(
                    conn,
                    seg,
                    ts,
                    packet,
                    false,
                    &self.links,
                    &self.default_thresholds,
                    &mut self.timers,
                    slot,
                    &mut self.analyzed,
                    out,
                );
                if change.became_up {
                    self.embryonic = self.embryonic.saturating_sub(1);
                }
                self.link_changed(change, ts, out);
                self.stamp(out, start);
                return;
            }
            Some((slot, _)) => Some(slot),
            None => None,
        };
        if let Some(slot) = reused {
            self.retire(slot, RetireReason::Reused, ts, out);
        }
        let link = watched.map(|(i, sender)| {
            let name: Arc<str> = self
                .links
                .get(i)
                .map_or_else(|| Arc::from(""), |l| l.spec.name.clone());
            (i, name, sender)
        });
        if self.flows.len() >= self.max_flows {
            self.evict(ts, out);
        }
        let slot = self
            .flows
            .insert(key, || Connection::new(self.next_uid, seg, link));
        self.next_uid += 1;
        self.stats.connections += 1;
        let Some(conn) = self.flows.get_mut(slot) else {
            return;
        };
        let change = feed(
            conn,
            seg,
            ts,
            packet,
            true,
            &self.links,
            &self.default_thresholds,
            &mut self.timers,
            slot,
            &mut self.analyzed,
            out,
        );
        let embryonic = self.flows.get(slot).is_some_and(|c| !c.ever_up());
        self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len());
        self.link_changed(change, ts, out);
        if embryonic {
            self.embryonic += 1;
            if self.embryonic > self.max_embryonic() {
                self.evict_embryonic(ts, out);
            }
        }
        self.stamp(out, start);
        self.compact_timers();
    }

    /// The most never-established connections the table holds: a quarter
    /// of `max_flows`, so a flood of SYNs cannot push out anything else.
    fn max_embryonic(&self) -> usize {
        (self.max_flows / 4).max(1)
    }

    fn schedule_conn(&mut self, slot: SlotId) {
        if let Some(conn) = self.flows.get_mut(slot) {
            let th = thresholds_of(&self.links, &self.default_thresholds, conn.link);
            arm(conn, th, &mut self.timers, slot);
        }
    }

    fn fire_conn(&mut self, t: Timestamp, uid: u64, slot: SlotId, out: &mut Vec<Event>) {
        let Some(conn) = self.flows.get_mut(slot) else {
            return;
        };
        if conn.uid != uid || conn.scheduled != Some(t) {
            return; // stale entry: the connection left or was rescheduled earlier
        }
        let th = thresholds_of(&self.links, &self.default_thresholds, conn.link);
        conn.scheduled = None;
        if conn.next_deadline(th) != Some(t) {
            // The deadline moved later (packets arrived): re-arm.
            arm(conn, th, &mut self.timers, slot);
            return;
        }
        let degraded = conn
            .link
            .and_then(|i| self.links.get(i))
            .is_some_and(|l| l.capture_degraded);
        let before = conn.standing();
        let start = out.len();
        let retire = conn.on_deadline(t, th, degraded, out);
        let change = Change {
            link: conn.link,
            before,
            after: conn.standing(),
            became_up: false,
        };
        match retire {
            Some(reason) => self.retire(slot, reason, t, out),
            None => {
                self.schedule_conn(slot);
                self.link_changed(change, t, out);
            }
        }
        self.stamp(out, start);
    }

    #[inline]
    fn link_changed(&mut self, change: Change, ts: Timestamp, out: &mut Vec<Event>) {
        // On every packet; a change is rare.
        match change.link {
            Some(i) if change.before != change.after => self.count_link_change(i, change, ts, out),
            _ => {}
        }
    }

    /// [`Tracker::link_changed`] when a link's connection came up, went
    /// down, or fell silent or recovered.
    #[inline(never)]
    fn count_link_change(&mut self, i: usize, change: Change, ts: Timestamp, out: &mut Vec<Event>) {
        let Some(l) = self.links.get_mut(i) else {
            return;
        };
        if let Some(e) = l.on_standing(change.before, change.after, ts) {
            out.push(e);
        }
        self.schedule_link(i);
    }

    /// Writes each link's count into the events from `start` on: every
    /// event about a link leaves the tracker with the link's count as of
    /// that event, the facts the policy judges on.
    #[inline]
    fn stamp(&mut self, out: &mut [Event], start: usize) {
        if out.len() > start {
            self.stamp_all(out.get_mut(start..).unwrap_or_default());
        }
    }

    /// Gives new events their link's count, and passes those with an
    /// attribution by the host memory (it learns from FINs and RSTs and
    /// judges refusals).
    #[inline(never)]
    fn stamp_all(&mut self, events: &mut [Event]) {
        for e in events {
            if e.attribution.is_some() {
                self.hosts.take(e);
            }
            if let Some(r) = &mut e.link {
                if let Some(l) = self.links.get(r.id.index()) {
                    r.count = l.count();
                }
            }
        }
    }

    fn schedule_link(&mut self, i: usize) {
        let started = self.started;
        let Some(l) = self.links.get_mut(i) else {
            return;
        };
        if let Some(d) = l.deadline(started) {
            if l.scheduled.is_none_or(|s| d < s) {
                l.scheduled = Some(d);
                let target = Target::Link(u32::try_from(i).unwrap_or(u32::MAX));
                self.timers.push((d, u64::MAX, target), LINK_DEADLINE);
            }
        }
    }

    fn fire_link(&mut self, t: Timestamp, i: usize, out: &mut Vec<Event>) {
        let started = self.started;
        let Some(l) = self.links.get_mut(i) else {
            return;
        };
        match l.on_deadline(t, started) {
            link::Due::Down(e) => out.push(e),
            link::Due::Moved => self.schedule_link(i),
            link::Due::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! Transitions as scenario tables: segments in, event names out.
    use super::*;
    use crate::decode::{TcpFlags, TcpOptions};
    use crate::event::Side;

    const L: &str = "10.0.0.5:40000";
    const P: &str = "203.0.113.10:5000";
    const S: u8 = TcpFlags::SYN;
    const A: u8 = TcpFlags::ACK;
    const F: u8 = TcpFlags::FIN;
    const R: u8 = TcpFlags::RST;

    const LOC: Side = Side::Local;
    const PEER: Side = Side::Peer;

    /// One segment: at `ms`, from which side, flags, seq, ack, payload.
    type Row = (i64, Side, u8, u32, u32, u32);

    fn seg(&(ms, from, flags, seq, ack, len): &Row) -> Segment {
        let (l, p) = (L.parse().unwrap(), P.parse().unwrap());
        let (src, dst) = match from {
            Side::Local => (l, p),
            Side::Peer => (p, l),
        };
        Segment {
            ts: Timestamp::from_nanos(1_000_000_000_000 + ms * 1_000_000),
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 1000,
            payload_len: len,
            options: TcpOptions::default(),
            ip: crate::decode::IpMarks::default(),
        }
    }

    fn config() -> Config {
        Config::parse(&format!(
            "[[link]]\nname = \"visa\"\npeer = [\"{P}\"]\nsilence_after = \"45s\"\nblack_hole_after = \"10s\"\nreconnect_grace = \"5s\"\n"
        ))
        .unwrap()
    }

    /// Feeds the rows, then advances to `end_ms`; returns event names with
    /// their `from` side.
    fn run(rows: &[Row], end_ms: i64) -> Vec<String> {
        let mut t = Tracker::new(&config());
        let mut out = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            t.on_segment(&seg(r), i as u64 + 1, &mut out);
        }
        t.advance_to(
            Timestamp::from_nanos(1_000_000_000_000 + end_ms * 1_000_000),
            &mut out,
        );
        out.iter()
            .map(|e| match &e.kind {
                EventKind::FinFrom(s) | EventKind::ResetFrom(s) => {
                    format!("{}:{}", e.kind.name(), s.name())
                }
                k => k.name().to_string(),
            })
            .collect()
    }

    const HANDSHAKE: [Row; 3] = [
        (0, LOC, S, 100, 0, 0),
        (1, PEER, S | A, 900, 101, 0),
        (2, LOC, A, 101, 901, 0),
    ];

    fn with_handshake(rest: &[Row]) -> Vec<Row> {
        let mut v = HANDSHAKE.to_vec();
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn transition_table() {
        let table: Vec<(&str, Vec<Row>, i64, Vec<&str>)> = vec![
            ("handshake", HANDSHAKE.to_vec(), 3, vec!["established"]),
            (
                "FIN from peer, then ours: closed; the link is short after the grace",
                with_handshake(&[
                    (10, PEER, F | A, 901, 101, 0),
                    (11, LOC, F | A, 101, 902, 0),
                ]),
                6_000,
                vec![
                    "established",
                    "fin:peer",
                    "fin:local",
                    "closed",
                    "link_down",
                ],
            ),
            (
                "FIN from peer only: half-closed, link down after 5 s",
                with_handshake(&[(10, PEER, F | A, 901, 101, 0)]),
                5_011,
                vec!["established", "fin:peer", "link_down"],
            ),
            (
                "link not yet down exactly at the grace",
                with_handshake(&[(10, PEER, F | A, 901, 101, 0)]),
                5_010,
                vec!["established", "fin:peer"],
            ),
            (
                "RST from peer",
                with_handshake(&[(10, PEER, R | A, 901, 101, 0)]),
                20,
                vec!["established", "reset:peer"],
            ),
            (
                "RST from local",
                with_handshake(&[(10, LOC, R, 101, 0, 0)]),
                20,
                vec!["established", "reset:local"],
            ),
            (
                "SYN answered by RST: refused",
                vec![(0, LOC, S, 100, 0, 0), (1, PEER, R | A, 0, 101, 0)],
                2,
                vec!["refused"],
            ),
            (
                "SYN then our own RST: reset by local, not refused",
                vec![(0, LOC, S, 100, 0, 0), (1, LOC, R, 101, 0, 0)],
                2,
                vec!["reset:local"],
            ),
            (
                "SYN unanswered past black_hole_after",
                vec![(0, LOC, S, 100, 0, 0), (3_000, LOC, S, 100, 0, 0)],
                10_001,
                vec!["syn_unanswered"],
            ),
            (
                "retransmitted SYN is not a new connection",
                vec![
                    (0, LOC, S, 100, 0, 0),
                    (1_000, LOC, S, 100, 0, 0),
                    (1_001, PEER, S | A, 900, 101, 0),
                    (1_002, LOC, A, 101, 901, 0),
                ],
                1_003,
                vec!["established"],
            ),
            (
                "mid-stream pickup from an ACK",
                vec![(0, PEER, A, 5_000, 7_000, 100)],
                1,
                vec!["discovered"],
            ),
            (
                "mid-stream pickup of a lone RST",
                vec![(0, PEER, R, 5_000, 0, 0)],
                1,
                vec!["reset:peer"],
            ),
            (
                "silence after 45 s without packets, ended by the next one",
                with_handshake(&[
                    (50_000, LOC, A | TcpFlags::PSH, 101, 901, 10),
                    (50_001, PEER, A, 901, 111, 0),
                ]),
                50_002,
                vec!["established", "silence", "silence_ended"],
            ),
            (
                "no silence at exactly 45 s",
                with_handshake(&[(45_002, LOC, A, 101, 901, 0)]),
                45_002,
                vec!["established"],
            ),
            (
                "black hole: our data unacknowledged for 10 s, retransmitted",
                with_handshake(&[
                    (100, LOC, A, 101, 901, 50),
                    (400, LOC, A, 101, 901, 50),
                    (1_000, LOC, A, 101, 901, 50),
                    (12_000, PEER, A, 901, 151, 0),
                ]),
                12_001,
                vec!["established", "black_hole", "black_hole_ended"],
            ),
            (
                "acknowledged data is no black hole",
                with_handshake(&[(100, LOC, A, 101, 901, 50), (150, PEER, A, 901, 151, 0)]),
                20_000,
                vec!["established"],
            ),
            (
                "keep-alives (1 byte at next-expected - 1) answered: life, not a black hole",
                with_handshake(&[
                    (20_000, LOC, A, 100, 901, 1),
                    (20_001, PEER, A, 901, 101, 0),
                    (40_000, LOC, A, 100, 901, 1),
                    (40_001, PEER, A, 901, 101, 0),
                    (60_000, LOC, A, 100, 901, 1),
                    (60_001, PEER, A, 901, 101, 0),
                ]),
                60_002,
                vec!["established"],
            ),
            (
                "unanswered keep-alives: a black hole",
                with_handshake(&[
                    (20_000, LOC, A, 100, 901, 0),
                    (30_000, LOC, A, 100, 901, 0),
                    (40_000, LOC, A, 100, 901, 0),
                ]),
                40_001,
                vec!["established", "black_hole"],
            ),
            (
                "a new SYN on a closed 4-tuple is a new connection",
                with_handshake(&[
                    (10, LOC, R, 101, 0, 0),
                    (20, LOC, S, 5_000, 0, 0),
                    (21, PEER, S | A, 6_000, 5_001, 0),
                    (22, LOC, A, 5_001, 6_001, 0),
                ]),
                23,
                vec!["established", "reset:local", "established"],
            ),
            (
                "RST after both FINs is ordinary teardown",
                with_handshake(&[
                    (10, PEER, F | A, 901, 101, 0),
                    (11, LOC, F | A, 101, 902, 0),
                    (12, PEER, R, 902, 0, 0),
                ]),
                13,
                vec!["established", "fin:peer", "fin:local", "closed"],
            ),
            (
                "sequence numbers wrap",
                vec![
                    (0, LOC, S, u32::MAX - 5, 0, 0),
                    (1, PEER, S | A, 900, u32::MAX - 4, 0),
                    (2, LOC, A, u32::MAX - 4, 901, 0),
                    (3, LOC, A, u32::MAX - 4, 901, 100),
                    (4, PEER, A, 901, 95, 0),
                ],
                20_000,
                vec!["established"],
            ),
        ];
        for (name, rows, end, want) in table {
            assert_eq!(run(&rows, end), want, "{name}");
        }
    }

    /// Local sends 50 bytes every second from `from_ms` for `n` seconds; the
    /// peer acknowledges each request only when the next is already out, so
    /// data is always in flight while the ACKs keep advancing.
    fn pipelined(n: u32, acked: u32) -> Vec<Row> {
        let mut rows = Vec::new();
        for k in 0..n {
            let at = 100 + i64::from(k) * 1_000;
            rows.push((at, LOC, A | TcpFlags::PSH, 101 + 50 * k, 901, 50));
            if k < acked {
                // ACK of request k, sent after request k+1 left.
                rows.push((at + 1_010, PEER, A, 901, 151 + 50 * k, 0));
            }
        }
        rows.sort_by_key(|r| r.0);
        rows
    }

    #[test]
    fn transition_table_more() {
        let table: Vec<(&str, Vec<Row>, i64, Vec<&str>)> = vec![
            (
                "pipelined requests, ACKs advancing with data always in flight: no black hole",
                with_handshake(&pipelined(40, 40)),
                45_000,
                vec!["established"],
            ),
            (
                "pipelined requests, then the ACKs stop: black hole 10 s after the last progress",
                with_handshake(&pipelined(12, 5)),
                15_200,
                vec!["established", "black_hole"],
            ),
            (
                "... and not before",
                with_handshake(&pipelined(12, 5)),
                15_100,
                vec!["established"],
            ),
            (
                "FIN from local only: half-closed by us, then the link is short",
                with_handshake(&[(10, LOC, F | A, 101, 901, 0)]),
                5_011,
                vec!["established", "fin:local", "link_down"],
            ),
            (
                "RST from the peer while half-closed",
                with_handshake(&[(10, LOC, F | A, 101, 901, 0), (11, PEER, R, 901, 0, 0)]),
                20,
                vec!["established", "fin:local", "reset:peer"],
            ),
            (
                "a FIN+ACK as first packet: a connection that was up, closed by the peer",
                vec![(0, PEER, F | A, 5_000, 7_000, 0)],
                1,
                vec!["discovered", "fin:peer"],
            ),
            (
                "SYN-ACK as first packet (SYN missed): established",
                vec![(0, PEER, S | A, 900, 101, 0), (1, LOC, A, 101, 901, 0)],
                2,
                vec!["established"],
            ),
            (
                "SYN unanswered, then a late SYN-ACK completes the handshake",
                vec![
                    (0, LOC, S, 100, 0, 0),
                    (12_000, PEER, S | A, 900, 101, 0),
                    (12_001, LOC, A, 101, 901, 0),
                ],
                12_002,
                vec!["syn_unanswered", "established"],
            ),
            (
                "RST from the peer after its SYN-ACK, before our ACK",
                vec![
                    (0, LOC, S, 100, 0, 0),
                    (1, PEER, S | A, 900, 101, 0),
                    (2, PEER, R, 901, 0, 0),
                ],
                3,
                vec!["reset:peer"],
            ),
        ];
        for (name, rows, end, want) in table {
            assert_eq!(run(&rows, end), want, "{name}");
        }
    }

    #[test]
    fn link_starts_unknown_and_is_down_if_nothing_shows_within_silence_after() {
        // Only unrelated traffic for 50 s: the link never showed a connection.
        let mut t = Tracker::new(&config());
        let mut out = Vec::new();
        let other = |ms: i64| {
            let mut s = seg(&(ms, LOC, A, 1, 1, 0));
            s.dst = "192.0.2.1:443".parse().unwrap();
            s
        };
        t.on_segment(&other(0), 1, &mut out);
        t.on_segment(&other(50_000), 2, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind.name(), "link_down");
        assert_eq!(
            out[0].ts,
            Timestamp::from_nanos(1_000_000_000_000 + 45_000_000_000)
        );
        assert_eq!(t.stats().unwatched, 2);
    }

    /// `row` on the connection whose local port is `port`.
    fn seg_on(port: u16, row: &Row) -> Segment {
        let mut s = seg(row);
        let local: std::net::SocketAddr = format!("10.0.0.5:{port}").parse().unwrap();
        match row.1 {
            Side::Local => s.src = local,
            Side::Peer => s.dst = local,
        }
        s
    }

    /// Feeds `row` on the connection whose local port is `port`.
    fn feed_on(t: &mut Tracker, n: &mut u64, port: u16, row: Row, out: &mut Vec<Event>) {
        *n += 1;
        t.on_segment(&seg_on(port, &row), *n, out);
    }

    /// `count` connections on local ports 20000 and up, each through its
    /// handshake, a second apart: the oldest activity first.
    fn handshakes(t: &mut Tracker, n: &mut u64, count: u16, out: &mut Vec<Event>) {
        for i in 0..count {
            let ms = i64::from(i) * 1_000;
            for row in [
                (ms, LOC, S, 100, 0, 0),
                (ms + 1, PEER, S | A, 900, 101, 0),
                (ms + 2, LOC, A, 101, 901, 0),
            ] {
                feed_on(t, n, 20_000 + i, row, out);
            }
        }
    }

    fn evicted_ports(t: &mut Tracker) -> Vec<u16> {
        t.drain_retired()
            .filter(|c| c.retired == RetireReason::Evicted)
            .map(|c| c.ends.local.port())
            .collect()
    }

    #[test]
    fn never_established_flows_hold_a_quarter_of_the_table_and_go_first() {
        let mut t = Tracker::new(&Config {
            max_flows: 32,
            ..Config::default()
        });
        let (mut out, mut n) = (Vec::new(), 0);
        // 20 established connections, the oldest activity first.
        handshakes(&mut t, &mut n, 20, &mut out);
        // A storm: 12 refused attempts, then 14 SYNs nobody answers.
        for i in 0..12u16 {
            let ms = 30_000 + i64::from(i);
            feed_on(
                &mut t,
                &mut n,
                30_000 + i,
                (ms, LOC, S, 100, 0, 0),
                &mut out,
            );
            feed_on(
                &mut t,
                &mut n,
                30_000 + i,
                (ms, PEER, R | A, 0, 101, 0),
                &mut out,
            );
        }
        for i in 0..14u16 {
            feed_on(
                &mut t,
                &mut n,
                40_000 + i,
                (31_000 + i64::from(i), LOC, S, 100, 0, 0),
                &mut out,
            );
            assert!(t.embryonic <= 8, "{} never-established flows", t.embryonic);
        }
        let evicted = evicted_ports(&mut t);
        assert_eq!(
            evicted.len() as u64,
            t.stats().evicted,
            "each evicted flow gets its summary"
        );
        // The storm evicted only itself, oldest first; the established
        // connections were never touched and the table never filled.
        assert_eq!(evicted.len(), 18, "{evicted:?}");
        assert!(evicted.iter().all(|p| *p >= 30_000), "{evicted:?}");
        assert_eq!(&evicted[..12], &(30_000..30_012).collect::<Vec<u16>>()[..]);
        assert_eq!(t.flows(), 28);
        assert_eq!(t.embryonic, 8);
    }

    #[test]
    fn a_full_table_evicts_finished_flows_then_established_ones_least_recently_active_first() {
        let mut t = Tracker::new(&Config {
            max_flows: 32,
            ..Config::default()
        });
        let (mut out, mut n) = (Vec::new(), 0);
        // 24 established connections (oldest activity first), 8 of them
        // then reset (finished, but more recent).
        handshakes(&mut t, &mut n, 24, &mut out);
        for i in 16..24u16 {
            feed_on(
                &mut t,
                &mut n,
                20_000 + i,
                (30_000, PEER, R | A, 901, 101, 0),
                &mut out,
            );
        }
        // 8 connections picked up mid-stream fill the table...
        for i in 0..8u16 {
            feed_on(
                &mut t,
                &mut n,
                50_000 + i,
                (30_500, LOC, A, 1, 1, 10),
                &mut out,
            );
        }
        assert_eq!(t.flows(), 32);
        // ... and 16 more need room: 2 are evicted per pass (1/16 of 32),
        // a pass every other connection.
        for i in 8..24u16 {
            feed_on(
                &mut t,
                &mut n,
                50_000 + i,
                (31_000, LOC, A, 1, 1, 10),
                &mut out,
            );
            assert!(t.flows() <= 32);
        }
        let evicted = evicted_ports(&mut t);
        // The 8 finished first, although more recent; then the established
        // ones least recently active first.
        let finished: Vec<u16> = (20_016..20_024).collect();
        let mut first: Vec<u16> = evicted.iter().copied().take(8).collect();
        first.sort_unstable();
        assert_eq!(first, finished, "{evicted:?}");
        assert_eq!(
            &evicted[8..],
            &(20_000..20_008).collect::<Vec<u16>>()[..],
            "{evicted:?}"
        );
    }

    #[test]
    fn established_link_connections_go_only_when_nothing_else_is_left() {
        let mut t = Tracker::new(&Config {
            max_flows: 32,
            ..config()
        });
        let (mut out, mut n) = (Vec::new(), 0);
        // 31 established connections of the link (picked up mid-stream),
        // then one SYN: the table is full.
        for i in 0..31u16 {
            feed_on(
                &mut t,
                &mut n,
                20_000 + i,
                (i64::from(i), LOC, A, 1, 1, 10),
                &mut out,
            );
        }
        feed_on(&mut t, &mut n, 30_000, (100, LOC, S, 1, 0, 0), &mut out);
        assert_eq!(t.flows(), 32);
        // A new connection needs room: only the SYN goes, not a sixteenth.
        feed_on(&mut t, &mut n, 40_000, (200, LOC, A, 1, 1, 10), &mut out);
        assert_eq!(evicted_ports(&mut t), [30_000]);
        // Full of established link connections: the bound holds, the
        // least recently active go.
        feed_on(&mut t, &mut n, 40_001, (300, LOC, A, 1, 1, 10), &mut out);
        assert_eq!(evicted_ports(&mut t), [20_000, 20_001]);
        assert!(t.flows() <= 32);
    }

    #[test]
    fn a_syn_flood_at_the_watched_peer_never_evicts_the_watched_connection() {
        // The watched link's peer is P; its connection is up and idle
        // (heartbeats every 8 s); 10,000 spoofed SYNs at P in 10 s.
        let mut t = Tracker::new(&Config {
            max_flows: 256,
            ..config()
        });
        let mut out = Vec::new();
        let mut n = 0;
        for r in HANDSHAKE {
            n += 1;
            t.on_segment(&seg(&r), n, &mut out);
        }
        for k in 0..10_000u32 {
            let mut s = seg(&(10 + i64::from(k), LOC, S, k, 0, 0));
            s.src = std::net::SocketAddr::new(
                std::net::Ipv4Addr::from(0xc633_6400 + (k % 250)).into(),
                1_024 + (k % 60_000) as u16,
            );
            n += 1;
            t.on_segment(&s, n, &mut out);
            assert!(t.flows() <= 256 && t.embryonic <= 64);
        }
        // The heartbeat 8 s after the flood began, and its answer.
        for r in [(8_000, LOC, A, 101, 901, 10), (8_001, PEER, A, 901, 111, 0)] {
            n += 1;
            t.on_segment(&seg(&r), n, &mut out);
        }
        t.advance_to(
            Timestamp::from_nanos(1_000_000_000_000 + 20_000 * 1_000_000),
            &mut out,
        );
        let watched: Vec<&str> = out
            .iter()
            .filter(|e| e.link.is_some() && e.conn.is_none_or(|c| c.local.port() == 40_000))
            .map(|e| e.kind.name())
            .collect();
        assert_eq!(watched, ["established"], "{watched:?}");
        assert!(t.stats().evicted > 9_000);
        let up = t.link_views().first().map(|l| l.established);
        assert_eq!(up, Some(1));
    }

    #[test]
    fn the_timer_heap_stays_bounded_by_the_table_not_by_the_connections_seen() {
        let config = Config {
            max_flows: 64,
            ..Config::default()
        };
        let mut t = Tracker::new(&config);
        let mut out = Vec::new();
        for i in 0..20_000u32 {
            // Mid-stream data on ever new connections: each stays (idle
            // timeout 1 h) until evicted, leaving its timer entry behind.
            let mut s = seg(&(i64::from(i), LOC, A, 1, 1, 10));
            s.src =
                std::net::SocketAddr::new(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 40_000);
            t.on_segment(&s, u64::from(i) + 1, &mut out);
            assert!(
                t.timers.len() <= 2 * 64 + 1024 + 1,
                "{} at {i}",
                t.timers.len()
            );
        }
        assert!(t.stats().evicted > 19_000);
    }
}
