//! Degradation analytics of one established connection, from headers
//! only: round-trip time each way, response time, the path's floor,
//! retransmission rate, duplicate ACKs, out-of-order segments and
//! zero-window time by side. Sans-IO like the rest of `track`: fed each
//! segment and its packet-clock time, it returns the events it finds.
//!
//! What it finds:
//! * `path_changed`: the round-trip floor toward the peer moved by more
//!   than `max(2 ms, 20 %)` and stayed there for `path_change_after`
//!   (the carrier moved the line: backup circuit, reroute);
//! * `response_starvation` / `response_starvation_ended`: our requests are
//!   acknowledged, but no answer for `response_timeout` (on a connection
//!   whose peer has answered requests before);
//! * `degraded` / `degraded_ended`: retransmissions over `retransmit_rate`
//!   of a minute's data segments (with at least [`MIN_DATA_SEGMENTS`]), or
//!   a receive window closed longer than `zero_window_after`.
//!
//! Bounds: one [`Analytics`] per established connection, boxed and made
//! on the first segment after the handshake, at most
//! `[limits] max_analyzed` at once (1,024 by default; further connections
//! go without until one leaves); each is 1,528 bytes, its three windows'
//! slices included, plus the buckets a slice holds beyond four (sparse: a
//! few dozen bytes a slice when samples cluster, at most 1,028 bytes a
//! slice (128 buckets, or 256 counters once they spread), 14 slices with
//! the metrics' fresh ones: 14 KiB at worst).

mod histogram;
mod path;
mod response;
mod rtt;

pub use histogram::WindowStats;
pub use path::PathWatch;
pub use response::{Answer, ResponseMeter};
pub use rtt::RttMeter;

use histogram::{Slice, Window};

use crate::decode::Segment;
use crate::event::{Degradation, EventKind, Side};
use crate::time::{Duration, Timestamp};

use super::seq::Seq;

/// A minute needs at least this many data segments from a side before
/// its retransmission rate is judged: one retransmission among ten
/// segments on a quiet line is not a degraded line.
pub const MIN_DATA_SEGMENTS: u32 = 50;

/// One minute of the packet clock.
const MINUTE: Duration = Duration::from_secs(60);

/// The thresholds the analytics judge by (from the connection's link).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A response slower than this counts as slow.
    pub response_sla: Duration,
    /// Requests unanswered this long (their data acknowledged): starvation.
    pub response_timeout: Duration,
    /// A moved round-trip floor must stay this long to be a path change.
    pub path_change_after: Duration,
    /// Retransmitted data segments per 10,000 in a minute above which the
    /// connection is degraded (200 = 2 %).
    pub retransmit_per_10k: u32,
    /// A receive window closed this long degrades the connection.
    pub zero_window_after: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            response_sla: Duration::from_secs(2),
            response_timeout: Duration::from_secs(15),
            path_change_after: Duration::from_secs(30),
            retransmit_per_10k: 200,
            zero_window_after: Duration::from_secs(5),
        }
    }
}

/// Counts of one side in one minute.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Minute {
    data: u32,
    retransmissions: u32,
}

/// What one side did, apart from round-trip times.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SideCounts {
    /// This minute and the last complete one.
    now: Minute,
    last: Minute,
    dup_acks: u64,
    out_of_order: u64,
    /// Its receive window is closed since.
    zero_since: Option<Timestamp>,
    /// Closed time before `zero_since`.
    zero_total: Duration,
    /// The last ACK and window it sent, for duplicate ACKs.
    last_ack: Option<(u32, u16)>,
    /// When it last sent new data (snd_max moved), for out-of-order.
    advanced_at: Option<Timestamp>,
}

impl SideCounts {
    /// One of its data segments was a retransmission. Sent before, but
    /// within a round trip (`floor`, µs) of its newest data: reordered on
    /// the way, not lost (Wireshark's rule, with the floor of the round
    /// trip as its window). Out of line: rare.
    #[cold]
    #[inline(never)]
    fn count_retransmission(&mut self, ts: Timestamp, floor: Option<u32>) {
        self.now.retransmissions = self.now.retransmissions.saturating_add(1);
        let floor = floor.map_or(Duration::from_millis(3), |us| {
            Duration::from_nanos(i64::from(us) * 1_000)
        });
        if self.advanced_at.is_some_and(|a| ts.since(a) < floor) {
            self.out_of_order += 1;
        }
    }

    /// A segment that advertises a zero window, or one after it: the
    /// window closes or reopens. Out of line: rare.
    #[cold]
    #[inline(never)]
    fn on_window(&mut self, seg: &Segment, ts: Timestamp) {
        if seg.flags.rst() || seg.flags.syn() {
            return;
        }
        match (seg.window == 0, self.zero_since) {
            (true, None) => self.zero_since = Some(ts),
            (false, Some(since)) => {
                self.zero_total = self.zero_total.plus(ts.since(since));
                self.zero_since = None;
            }
            _ => {}
        }
    }

    fn zero_for(&self, now: Timestamp) -> Duration {
        self.zero_total
            .plus(self.zero_since.map_or(Duration::ZERO, |s| now.since(s)))
    }
}

/// What a segment told the analytics about itself (from the tracker's
/// per-direction bookkeeping).
#[derive(Copy, Clone, Debug)]
pub struct Seen {
    /// Who sent it.
    pub from: Side,
    /// Its data was sent before (the tracker's retransmission rule).
    pub retransmission: bool,
    /// A keep-alive: not data.
    pub keepalive: bool,
    /// It moved its sender's highest sequence number.
    pub advanced: bool,
}

/// Analytics of one connection.
///
/// Laid out in the order written (`repr(C)`): first what every segment
/// reads and writes, together in about ten cache lines, then the windows
/// of figures, touched once per sample. A replay interleaves thousands of
/// connections, so each segment finds its connection's analytics out of
/// the L1 cache. (cachegrind on the bench capture, analytics on: L1 data
/// misses 3.75 → 3.60 M with this order, a small gain; instruction misses
/// 1.19 → 0.95 M with the rare paths out of line.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Analytics {
    /// Epoch (minute) of `sides[..].now`, and its start and end in
    /// nanoseconds (no division per segment).
    minute_span: (i64, i64),
    minute: i64,
    sides: Pair<SideCounts>,
    /// Round trips being timed on each side's data: ours (to the peer and
    /// back), the peer's (to our host and back).
    rtt: Pair<RttMeter>,
    response: ResponseMeter,
    /// Response starvation since (the oldest request's deadline passed).
    starving_since: Option<Timestamp>,
    /// Degraded since, and why.
    degraded: Option<(Timestamp, Degradation)>,
    path: PathWatch,
    /// The last minute of samples: round trips each way, responses.
    windows: Windows,
    /// Samples since the metrics last took them (kept only when there:
    /// the daemon with DogStatsD).
    fresh: Option<Box<FreshSamples>>,
}

/// The windows of one connection's samples.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Windows {
    rtt: Pair<Window>,
    response: Window,
}

impl Windows {
    fn heap_bytes(&self) -> usize {
        self.rtt.local.heap_bytes() + self.rtt.peer.heap_bytes() + self.response.heap_bytes()
    }
}

/// Samples taken since the metrics last asked: round trips toward the
/// peer, responses, and how many responses were slow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FreshSamples {
    rtt: Slice,
    response: Slice,
    slow: u32,
}

impl FreshSamples {
    /// Its box and the buckets its slices hold on the heap.
    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<FreshSamples>() + self.rtt.heap_bytes() + self.response.heap_bytes()
    }
}

/// One thing per side, named by the side (never an index).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Pair<T> {
    local: T,
    peer: T,
}

impl<T> Pair<T> {
    fn of(&self, side: Side) -> &T {
        match side {
            Side::Local => &self.local,
            Side::Peer => &self.peer,
        }
    }

    fn of_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Local => &mut self.local,
            Side::Peer => &mut self.peer,
        }
    }

    /// `side`'s and the other side's, both mutable.
    fn both_mut(&mut self, side: Side) -> (&mut T, &mut T) {
        match side {
            Side::Local => (&mut self.local, &mut self.peer),
            Side::Peer => (&mut self.peer, &mut self.local),
        }
    }
}

/// Per 10,000, rounded down.
fn per_10k(part: u32, whole: u32) -> u32 {
    (u64::from(part) * 10_000 / u64::from(whole.max(1))) as u32
}

impl Analytics {
    /// Keep samples for [`Analytics::drain`] (or not).
    pub fn keep_fresh(&mut self, fresh: bool) {
        self.fresh = fresh.then(Box::default);
    }

    /// Feeds one segment of an established connection at `ts`; pushes
    /// what it found to `out`.
    #[inline(never)]
    pub fn on_segment(
        &mut self,
        seg: &Segment,
        ts: Timestamp,
        seen: Seen,
        limits: &Limits,
        out: &mut Vec<EventKind>,
    ) {
        self.roll_minute(ts, limits, out);
        let from = seen.from;
        let flags = seg.flags;
        let data = seg.payload_len > 0 && !seen.keepalive && !flags.rst();
        let s = self.sides.of_mut(from);
        let (timing, answering) = self.rtt.both_mut(from);
        // Duplicate ACK: a bare ACK repeating the last one, window unchanged.
        if flags.ack() {
            let bare = seg.payload_len == 0 && flags.0 & 0x07 == 0;
            let ack = Some((seg.ack, seg.window));
            if bare && s.last_ack == ack {
                s.dup_acks += 1;
            }
            s.last_ack = ack;
        }
        if data {
            s.now.data = s.now.data.saturating_add(1);
            if seen.retransmission {
                s.count_retransmission(ts, timing.floor);
            }
        }
        if seen.advanced {
            s.advanced_at = Some(ts);
        }
        // Zero window: what the sender advertises about its own receiver.
        if seg.window == 0 || s.zero_since.is_some() {
            s.on_window(seg, ts);
        }

        // Round trips: data timed one way, answered the other.
        let tsopt = seg.options.timestamps;
        if data {
            let end = Seq(seg.seq).plus(seg.seq_len());
            timing.on_data(ts, tsopt.map(|t| t.0), end, seen.retransmission);
        }
        let ack = flags.ack().then_some(Seq(seg.ack));
        if let Some(us) = answering.on_answer(ts, ack, tsopt.map(|t| t.1)) {
            self.rtt_sample(from.other(), ts, us, limits, out);
        }

        // Requests and responses.
        if data && !seen.retransmission {
            match from {
                Side::Local => self.response.on_local_data(ts, flags.psh()),
                Side::Peer => {
                    let answer = self
                        .response
                        .on_peer_data(ts, flags.psh(), limits.response_sla);
                    if let Some(a) = answer {
                        self.response_sample(ts, a);
                    }
                    // Any data from the peer: its application is alive.
                    if self.starving_since.is_some() {
                        self.end_starvation(ts, out);
                    }
                }
            }
        }
        // Nearly always: no window closed, nothing degraded.
        if self.windows_closed_or_degraded() {
            self.judge_zero_window(ts, limits, out);
        }
    }

    /// Data from the peer ended a response starvation.
    #[cold]
    #[inline(never)]
    fn end_starvation(&mut self, ts: Timestamp, out: &mut Vec<EventKind>) {
        if let Some(since) = self.starving_since.take() {
            self.response.forget_backlog();
            out.push(EventKind::ResponseStarvationEnded {
                starved_for: ts.since(since),
            });
        }
    }

    /// A round trip of `side`'s data: into its window, and for ours, the
    /// metrics' fresh samples and the watch on the path. Out of line: once
    /// a round trip, not once a segment.
    #[inline(never)]
    fn rtt_sample(
        &mut self,
        side: Side,
        ts: Timestamp,
        us: u32,
        limits: &Limits,
        out: &mut Vec<EventKind>,
    ) {
        self.windows.rtt.of_mut(side).record(ts, us, false);
        if side == Side::Local {
            if let Some(f) = self.fresh.as_deref_mut() {
                f.rtt.record(us, false);
            }
            if let Some(k) = self.path.on_sample(ts, us, limits.path_change_after) {
                out.push(k);
            }
        }
    }

    /// A response timed: into the window and the metrics' fresh samples.
    #[inline(never)]
    fn response_sample(&mut self, ts: Timestamp, a: Answer) {
        self.windows.response.record(ts, a.us, a.approximate);
        if let Some(f) = self.fresh.as_deref_mut() {
            f.response.record(a.us, a.approximate);
            f.slow = f.slow.saturating_add(u32::from(a.slow));
        }
    }

    /// The connection ended: requests are no longer outstanding.
    pub fn on_end(&mut self) {
        self.response.on_end();
        self.starving_since = None;
    }

    /// Starts a new minute if `ts` is in a later one, judging the one that
    /// ended.
    #[inline]
    fn roll_minute(&mut self, ts: Timestamp, limits: &Limits, out: &mut Vec<EventKind>) {
        let t = ts.as_nanos();
        if t >= self.minute_span.0 && t < self.minute_span.1 {
            return;
        }
        self.new_minute(t, limits, out);
    }

    #[inline(never)]
    fn new_minute(&mut self, t: i64, limits: &Limits, out: &mut Vec<EventKind>) {
        let ts = Timestamp::from_nanos(t);
        let span = MINUTE.as_nanos();
        let epoch = t.div_euclid(span);
        self.minute_span = (epoch.saturating_mul(span), (epoch + 1).saturating_mul(span));
        if epoch == self.minute {
            return;
        }
        let gap = epoch - self.minute;
        self.minute = epoch;
        for s in [&mut self.sides.local, &mut self.sides.peer] {
            s.last = if gap == 1 { s.now } else { Minute::default() };
            s.now = Minute::default();
        }
        let over = [Side::Local, Side::Peer].into_iter().find_map(|side| {
            let m = self.sides.of(side).last;
            let rate = per_10k(m.retransmissions, m.data);
            (m.data >= MIN_DATA_SEGMENTS && rate > limits.retransmit_per_10k).then_some(
                Degradation::Retransmissions {
                    side,
                    per_10k: rate,
                    data_segments: m.data,
                },
            )
        });
        match (over, &self.degraded) {
            (Some(d), None) => {
                self.degraded = Some((ts, d));
                out.push(EventKind::Degraded(d));
            }
            (None, Some((since, Degradation::Retransmissions { .. }))) => {
                let lasted = ts.since(*since);
                self.degraded = None;
                out.push(EventKind::DegradedEnded { lasted });
            }
            _ => {}
        }
    }

    /// A receive window is closed, or the connection degraded: what
    /// [`Analytics::judge_zero_window`] has to look at.
    #[inline]
    fn windows_closed_or_degraded(&self) -> bool {
        self.sides.local.zero_since.is_some()
            || self.sides.peer.zero_since.is_some()
            || self.degraded.is_some()
    }

    /// A receive window closed past the limit degrades the connection;
    /// reopened, the degradation it caused ends.
    #[inline(never)]
    fn judge_zero_window(&mut self, ts: Timestamp, limits: &Limits, out: &mut Vec<EventKind>) {
        let closed = [Side::Peer, Side::Local].into_iter().find_map(|side| {
            let since = self.sides.of(side).zero_since?;
            (ts >= since.plus(limits.zero_window_after)).then_some(Degradation::ZeroWindow {
                side,
                closed_for: ts.since(since),
            })
        });
        match (closed, &self.degraded) {
            (Some(d), None) => {
                self.degraded = Some((ts, d));
                out.push(EventKind::Degraded(d));
            }
            (None, Some((since, Degradation::ZeroWindow { .. }))) => {
                let lasted = ts.since(*since);
                self.degraded = None;
                out.push(EventKind::DegradedEnded { lasted });
            }
            _ => {}
        }
    }

    /// The next time something happens without a packet: starvation, a
    /// zero window passing its limit, a degraded minute ending.
    pub fn next_deadline(&self, limits: &Limits, local_acked: bool) -> Option<Timestamp> {
        let mut d: Option<Timestamp> = None;
        let mut at = |t: Timestamp| d = Some(d.map_or(t, |x| x.min(t)));
        if let (None, Some(oldest), true) = (self.starving_since, self.awaited(), local_acked) {
            at(oldest.plus(limits.response_timeout));
        }
        match &self.degraded {
            None => {
                for s in [&self.sides.local, &self.sides.peer] {
                    if let Some(since) = s.zero_since {
                        at(since.plus(limits.zero_window_after));
                    }
                }
            }
            Some((_, Degradation::Retransmissions { .. })) => {
                at(Timestamp::from_nanos(
                    (self.minute + 1).saturating_mul(MINUTE.as_nanos()),
                ));
            }
            Some((_, Degradation::ZeroWindow { .. })) => {}
        }
        d
    }

    /// A deadline at `due` (from [`Analytics::next_deadline`]) passed.
    pub fn on_deadline(
        &mut self,
        due: Timestamp,
        limits: &Limits,
        local_acked: bool,
        out: &mut Vec<EventKind>,
    ) {
        if let (None, Some(oldest), true) = (self.starving_since, self.awaited(), local_acked) {
            if due >= oldest.plus(limits.response_timeout) {
                self.starving_since = Some(due);
                out.push(EventKind::ResponseStarvation {
                    waiting_for: due.since(oldest),
                    outstanding: self.response.outstanding() as u32,
                });
            }
        }
        self.roll_minute(due, limits, out);
        self.judge_zero_window(due, limits, out);
    }

    /// The oldest request awaiting an answer, the peer silent since, on a
    /// connection whose peer has answered before: a connection where only
    /// we ever send data (a one-way feed) is not a request/response
    /// protocol, and its silence back is no starvation.
    fn awaited(&self) -> Option<Timestamp> {
        (self.response.samples > 0)
            .then(|| self.response.awaited())
            .flatten()
    }

    /// In response starvation now.
    pub fn is_starving(&self) -> bool {
        self.starving_since.is_some()
    }

    /// Degraded now.
    pub fn is_degraded(&self) -> bool {
        self.degraded.is_some()
    }

    /// The figures, at `now`.
    pub fn report(&self, now: Timestamp) -> Report {
        let side = |s: Side| {
            let c = self.sides.of(s);
            let m = c.last;
            SideReport {
                retransmit_rate: (m.data > 0)
                    .then(|| f64::from(m.retransmissions) / f64::from(m.data)),
                zero_window: c.zero_for(now),
                dup_acks: c.dup_acks,
                out_of_order: c.out_of_order,
            }
        };
        let rtt = |s: Side| {
            let m = &self.rtt.of(s);
            RttReport {
                window: self.windows.rtt.of(s).stats(),
                floor_ms: m.floor.map(|us| f64::from(us) / 1_000.0),
                samples: m.samples,
                ambiguous: m.ambiguous,
            }
        };
        Report {
            rtt: rtt(Side::Local),
            local_rtt: rtt(Side::Peer),
            response: self.windows.response.stats(),
            responses: self.response.samples,
            approximate: self.response.approximate,
            slow_responses: self.response.slow,
            outstanding: self.response.outstanding() as u32,
            local: side(Side::Local),
            peer: side(Side::Peer),
            starving: self.is_starving(),
            degraded: self.degraded.map(|(_, d)| d),
        }
    }

    /// Hands the samples taken since the last call to `f`, one call per
    /// histogram bucket: (what, bucket midpoint in ms, count); then slow
    /// responses as (`SlowResponses`, 0, count). For DogStatsD
    /// distributions: a bucket is one datagram value with a sample rate of
    /// 1/count, so a busy link is a few dozen datagrams per interval.
    pub fn drain(&mut self, mut f: impl FnMut(Measure, f64, u32)) {
        let Some(fresh) = self.fresh.as_deref_mut() else {
            return;
        };
        for (v, c) in fresh.rtt.buckets() {
            f(Measure::Rtt, v / 1_000.0, c);
        }
        for (v, c) in fresh.response.buckets() {
            f(Measure::Response, v / 1_000.0, c);
        }
        if fresh.slow > 0 {
            f(Measure::SlowResponses, 0.0, fresh.slow);
        }
        fresh.rtt.clear();
        fresh.response.clear();
        fresh.slow = 0;
    }

    /// Heap bytes it holds, itself included.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Analytics>()
            + self.windows.heap_bytes()
            + self.fresh.as_deref().map_or(0, FreshSamples::heap_bytes)
    }
}

/// A bucket of samples taken since the metrics last asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Fresh {
    /// The connection's link.
    pub link: Option<std::sync::Arc<str>>,
    /// The connection.
    pub ends: crate::event::Endpoints,
    /// What was measured.
    pub measure: Measure,
    /// The bucket's midpoint, ms (0 for counts).
    pub value_ms: f64,
    /// Samples in it.
    pub count: u32,
}

/// What a drained sample measures.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Measure {
    /// A round trip toward the peer, ms.
    Rtt,
    /// A response time, ms.
    Response,
    /// Responses slower than the SLA (a count, no value).
    SlowResponses,
}

/// Round-trip figures of one direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RttReport {
    /// The last minute of samples.
    pub window: Option<WindowStats>,
    /// The lifetime minimum, ms.
    pub floor_ms: Option<f64>,
    /// Samples taken in all.
    pub samples: u64,
    /// Samples Karn's rule dropped.
    pub ambiguous: u64,
}

/// One side's counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SideReport {
    /// Retransmitted / data segments in the last complete minute.
    pub retransmit_rate: Option<f64>,
    /// Time its receive window was closed, in all.
    pub zero_window: Duration,
    /// Duplicate ACKs it sent.
    pub dup_acks: u64,
    /// Its data segments that arrived out of order.
    pub out_of_order: u64,
}

/// A connection's analytics figures, as the summary, the status document
/// and the check show them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Round trips toward the peer (our data, their ACK).
    pub rtt: RttReport,
    /// Round trips toward our host (their data, our ACK).
    pub local_rtt: RttReport,
    /// Response times, last minute.
    pub response: Option<WindowStats>,
    /// Responses timed in all, approximate ones among them.
    pub responses: u64,
    /// Of which approximate.
    pub approximate: u64,
    /// Responses slower than the link's `response_sla`.
    pub slow_responses: u64,
    /// Requests outstanding now.
    pub outstanding: u32,
    /// Our side's counts.
    pub local: SideReport,
    /// The peer's.
    pub peer: SideReport,
    /// In response starvation now.
    pub starving: bool,
    /// Degraded now, and why.
    pub degraded: Option<Degradation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module's Bounds give this size: a change of layout must
    /// change them too.
    #[test]
    fn one_connections_analytics_are_the_documented_size() {
        assert_eq!(std::mem::size_of::<Analytics>(), 1_528);
    }

    /// What a segment reads and writes comes first, before the windows.
    #[test]
    fn the_per_segment_state_comes_before_the_windows() {
        let a = Analytics::default();
        let base = std::ptr::addr_of!(a) as usize;
        let windows = std::ptr::addr_of!(a.windows) as usize - base;
        for (name, at) in [
            ("sides", std::ptr::addr_of!(a.sides) as usize),
            ("rtt", std::ptr::addr_of!(a.rtt) as usize),
            ("response", std::ptr::addr_of!(a.response) as usize),
            ("degraded", std::ptr::addr_of!(a.degraded) as usize),
        ] {
            assert!(at - base < windows, "{name} after the windows");
        }
        assert!(windows <= 640, "per-segment state spans {windows} bytes");
    }
}
