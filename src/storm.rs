//! Storm control for the printed event stream: a flood must not drown the
//! one line that matters.
//!
//! A SYN flood toward the card network's address, a reconnect storm or a
//! scan makes thousands of events a second about connections that never
//! came up (`syn_unanswered`, `refused`, `icmp_error`, `reset`/`fin`/
//! `closed` of flows that never established, `connection_summary` of
//! evicted or never-established flows). Printed one by one they fill the
//! journal, whose rate limit then throws lines away, and the real FIN can
//! be among them. So each *scope* (the configured link, or without one
//! the peer's address) and kind of event gets a budget of lines per
//! interval (`[limits] event_burst` per `event_interval`, 20 per 10 s by
//! default). Past it the events are counted, not printed, and when the
//! interval ends one `suppressed` event says how many there were, when
//! the first and last were, and names a few of them ([`MAX_EXAMPLES`]
//! 4-tuples).
//!
//! What is never held back: any event about a connection that was
//! established (every event of a watched connection that is up: its FIN,
//! RST, silence, black hole), link events (`link_down`, `link_up`) and
//! the probe's own troubles (`capture_*`). The tracker says which is which
//! ([`crate::track::Tracker::protection`]); this module only counts.
//!
//! Storm control shapes the *printed* stream only: the policy, the pages
//! and the DogStatsD counters see every event. It is sans-IO like the
//! tracker: windows run on the lines' own timestamps (see [`Budget`]), and
//! [`StormControl::advance_to`] closes the windows whose interval has
//! passed, so replay and the daemon print the same lines for the same
//! packets (`tests/live_flood.rs` records a burst with tcpdump while the
//! daemon watches and replays it).
//!
//! Bounds: at most [`MAX_SCOPES`] windows are open at once (each about
//! 200 bytes); events of a new scope past that share one overflow window
//! (scope `others`), so a scan of many addresses is summarised too. A
//! window lives one interval.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use crate::event::{Endpoints, Event, EventKind, LinkRef};
use crate::time::{Duration, Timestamp};
use crate::track::ConnectionSummary;

/// Windows open at once; past it, new scopes share the overflow window.
pub const MAX_SCOPES: usize = 1024;
/// 4-tuples named in a `suppressed` event.
pub const MAX_EXAMPLES: usize = 4;
/// Default `[limits] event_burst`.
pub const DEFAULT_BURST: u32 = 20;
/// Default `[limits] event_interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The budget: `burst` lines of one kind per scope per `interval`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Lines printed per scope and kind per interval (0: storm control
    /// off, every line printed).
    pub burst: u32,
    /// The interval.
    pub interval: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            burst: DEFAULT_BURST,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// Whether an event may be summarised in a storm: the tracker's judgement
/// of the connection it is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protection {
    /// About a connection that was established, a link or the probe:
    /// always printed.
    Always,
    /// About a connection that never came up (or was evicted): printed
    /// within the budget.
    Budgeted,
}

/// What a storm is about: a configured link, or (without one) the peer's
/// address, or every scope past [`MAX_SCOPES`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A configured link, by name.
    Link(Arc<str>),
    /// The far end's address, for flows of no configured link.
    Peer(IpAddr),
    /// Every scope that found the window table full.
    Others,
}

/// One interval's worth of held-back lines: the `suppressed` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// The kind of the lines held back (`syn_unanswered`,
    /// `connection_summary`, ...).
    pub of: &'static str,
    /// What they were about.
    pub scope: Scope,
    /// How many were held back.
    pub count: u64,
    /// The first one's time.
    pub first: Timestamp,
    /// The last one's time.
    pub last: Timestamp,
    /// The first few held back, by their connection.
    pub examples: Vec<Endpoints>,
}

/// Whether to print a line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Print it.
    Print,
    /// Counted in its window; a `suppressed` event will say so.
    Held,
}

/// What one window held back: how many, the first and last time, and the
/// first few examples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held<X> {
    /// How many were held back.
    pub count: u64,
    /// The first one's time.
    pub first: Timestamp,
    /// The last one's time.
    pub last: Timestamp,
    /// The first [`Budget`]'s `examples` of them.
    pub examples: Vec<X>,
}

#[derive(Debug)]
struct Window<X> {
    /// When the interval ends.
    end: Timestamp,
    printed: u32,
    held: Option<Held<X>>,
    /// Which window it is (the due heap names it).
    generation: u64,
}

/// The budget of lines per key and interval that storm control and the
/// daemon's own log share: the first `burst` lines of a key in an
/// interval pass, the rest are counted; when the interval ends the count
/// comes out once. At most `max_keys` windows are open, past which a new
/// key counts under `overflow(key)` (a few shared keys).
///
/// Windows run on the lines' own times (sans-IO): a window opens at the
/// time of the first line of its key and holds the lines of that key
/// until `interval` later. Which window a line falls in therefore depends
/// only on the times of the lines of its own key, in order, never on when
/// the caller looks: replay and the daemon, which see the same lines
/// (the daemon a tick later), keep the same windows. A window is closed
/// by the first line of its key past its end, or by
/// [`Budget::advance_to`], which the caller calls once every line up to
/// that time has been counted.
#[derive(Debug)]
pub struct Budget<K, X> {
    limits: Limits,
    examples: usize,
    max_keys: usize,
    overflow: fn(K) -> K,
    windows: HashMap<K, Window<X>>,
    /// Open windows by end time (a heap: windows of different keys open
    /// in any order), with their generation.
    due: BinaryHeap<Reverse<(Timestamp, u64)>>,
    /// The key of each open window's generation.
    keys: HashMap<u64, K>,
    generation: u64,
    held_total: u64,
}

impl<K: Clone + Eq + std::hash::Hash, X> Budget<K, X> {
    /// A budget of `limits`, keeping `examples` examples a window, at most
    /// `max_keys` windows (then `overflow(key)`).
    pub fn new(
        limits: Limits,
        examples: usize,
        max_keys: usize,
        overflow: fn(K) -> K,
    ) -> Budget<K, X> {
        Budget {
            limits,
            examples,
            max_keys,
            overflow,
            windows: HashMap::new(),
            due: BinaryHeap::new(),
            keys: HashMap::new(),
            generation: 0,
            held_total: 0,
        }
    }

    /// Counts one line of `key` at `ts`: whether it is printed. A window
    /// of its key that ended by then is closed first, through `closed`.
    pub fn count(
        &mut self,
        ts: Timestamp,
        key: K,
        example: impl FnOnce() -> X,
        mut closed: impl FnMut(Timestamp, K, Held<X>),
    ) -> Pass {
        if self.limits.burst == 0 {
            return Pass::Print;
        }
        let key = match self.windows.contains_key(&key) || self.windows.len() < self.max_keys {
            true => key,
            false => (self.overflow)(key),
        };
        if let Some(w) = self.windows.get(&key) {
            if w.end <= ts {
                let generation = w.generation;
                self.close(generation, &mut closed);
            }
        }
        let w = match self.windows.get_mut(&key) {
            Some(w) => w,
            None => {
                self.generation += 1;
                let end = ts.plus(self.limits.interval);
                self.due.push(Reverse((end, self.generation)));
                self.keys.insert(self.generation, key.clone());
                self.windows.entry(key).or_insert(Window {
                    end,
                    printed: 0,
                    held: None,
                    generation: self.generation,
                })
            }
        };
        if w.printed < self.limits.burst {
            w.printed += 1;
            return Pass::Print;
        }
        self.held_total += 1;
        let held = w.held.get_or_insert_with(|| Held {
            count: 0,
            first: ts,
            last: ts,
            examples: Vec::new(),
        });
        held.count += 1;
        held.first = held.first.min(ts);
        held.last = held.last.max(ts);
        if held.examples.len() < self.examples {
            held.examples.push(example());
        }
        Pass::Held
    }

    /// Closes every window whose interval ended at or before `now` (call
    /// it once every line up to `now` has been counted); those that held
    /// lines back go to `closed`, with the interval's end, in end order.
    pub fn advance_to(&mut self, now: Timestamp, mut closed: impl FnMut(Timestamp, K, Held<X>)) {
        while let Some(Reverse((end, generation))) = self.due.peek().copied() {
            if end > now {
                break;
            }
            self.close(generation, &mut closed);
        }
    }

    /// Closes every window, in end order.
    pub fn finish(&mut self, mut closed: impl FnMut(Timestamp, K, Held<X>)) {
        while let Some(Reverse((_, generation))) = self.due.peek().copied() {
            self.close(generation, &mut closed);
        }
    }

    /// Closes the window of `generation` (its heap entry goes too, or
    /// later when it comes up: a generation's key is forgotten here).
    fn close(&mut self, generation: u64, closed: &mut impl FnMut(Timestamp, K, Held<X>)) {
        if self
            .due
            .peek()
            .is_some_and(|Reverse((_, g))| *g == generation)
        {
            self.due.pop();
        }
        let Some(key) = self.keys.remove(&generation) else {
            return;
        };
        if let Some(w) = self.windows.remove(&key) {
            if let Some(held) = w.held {
                closed(w.end, key, held);
            }
        }
    }

    /// Lines held back so far.
    pub fn held_total(&self) -> u64 {
        self.held_total
    }

    /// The end of the window that ends first (perhaps one already closed
    /// by a later line of its key: then nothing is due at that time).
    #[inline]
    pub fn next_end(&self) -> Option<Timestamp> {
        self.due.peek().map(|Reverse((end, _))| *end)
    }

    /// Windows open now.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Changes the limits (a config reload); open windows keep counting.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }
}

/// The key of an event window: its scope, its kind.
type Key = (Scope, &'static str);

/// Storm control of the printed event stream. See the module doc.
#[derive(Debug)]
pub struct StormControl {
    budget: Budget<Key, Option<Endpoints>>,
    /// The configured links, for the `suppressed` events of link scopes.
    links: Vec<LinkRef>,
}

impl StormControl {
    /// Storm control for the links of `config`, its `[limits]` the
    /// budget.
    pub fn new(config: &crate::config::Config) -> StormControl {
        StormControl {
            budget: Budget::new(config.storm, MAX_EXAMPLES, MAX_SCOPES, |(_, of)| {
                (Scope::Others, of)
            }),
            links: links_of(config),
        }
    }

    /// Takes a reloaded config's limits and links; open windows keep
    /// counting.
    pub fn reconfigure(&mut self, config: &crate::config::Config) {
        self.budget.set_limits(config.storm);
        self.links = links_of(config);
    }

    /// Lines held back so far.
    pub fn held_total(&self) -> u64 {
        self.budget.held_total()
    }

    /// Windows open now (for the bound's test).
    pub fn open_windows(&self) -> usize {
        self.budget.open_windows()
    }

    /// Decides whether event `e` is printed; `protection` is the tracker's
    /// word on its connection. A window of its kind and scope that ended
    /// before it closes first, its `suppressed` event going to `out`
    /// (ahead of `e`).
    pub fn event(&mut self, e: &Event, protection: Protection, out: &mut Vec<Event>) -> Pass {
        if protection == Protection::Always {
            return Pass::Print;
        }
        let scope = match (&e.link, &e.conn) {
            (Some(l), _) => Scope::Link(l.name.clone()),
            (None, Some(c)) => Scope::Peer(c.peer.ip()),
            (None, None) => return Pass::Print,
        };
        self.count(e.ts, scope, e.kind.name(), e.conn, out)
    }

    /// Keeps `events[from..]` to the budget in place: the events held back
    /// leave the list, the `suppressed` events of windows they closed take
    /// their place, in order. `scratch` is an empty list lent for the
    /// work (kept by the caller so that it is allocated once).
    #[inline]
    pub fn keep_tail(
        &mut self,
        tracker: &crate::track::Tracker,
        events: &mut Vec<Event>,
        from: usize,
        scratch: &mut Vec<Event>,
    ) {
        if from < events.len() {
            self.keep_events(tracker, events, from, scratch);
        }
    }

    #[inline(never)]
    fn keep_events(
        &mut self,
        tracker: &crate::track::Tracker,
        events: &mut Vec<Event>,
        from: usize,
        scratch: &mut Vec<Event>,
    ) {
        // Most steps' events are all protected (or storm control is
        // off): nothing moves then.
        if self.budget.limits.burst == 0 {
            return;
        }
        let Some(first) = events
            .get(from..)
            .and_then(|tail| {
                tail.iter()
                    .position(|e| tracker.protection(e) == Protection::Budgeted)
            })
            .map(|i| from + i)
        else {
            return;
        };
        scratch.extend(events.drain(first..));
        for e in scratch.drain(..) {
            if self.event(&e, tracker.protection(&e), events) == Pass::Print {
                events.push(e);
            }
        }
    }

    /// Decides whether a connection's summary line is printed: summaries
    /// of connections that were never established, or were evicted, are
    /// kept to the budget like events (kind `connection_summary`).
    pub fn summary(&mut self, c: &ConnectionSummary, out: &mut Vec<Event>) -> Pass {
        let chatter = c.came_up.is_none() || c.retired == crate::track::RetireReason::Evicted;
        if !chatter {
            return Pass::Print;
        }
        let scope = match &c.link {
            Some(name) => Scope::Link(name.clone()),
            None => Scope::Peer(c.ends.peer.ip()),
        };
        self.count(c.retired_at, scope, "connection_summary", Some(c.ends), out)
    }

    fn count(
        &mut self,
        ts: Timestamp,
        scope: Scope,
        of: &'static str,
        conn: Option<Endpoints>,
        out: &mut Vec<Event>,
    ) -> Pass {
        self.budget
            .count(ts, (scope, of), || conn, into_events(&self.links, out))
    }

    /// Closes every window whose interval ended at or before `now` (call
    /// it once every event and summary up to `now` has been counted);
    /// those that held lines back give their `suppressed` event to `out`,
    /// stamped with the end of the interval.
    #[inline]
    pub fn advance_to(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        // Called on every replayed frame: nothing due is one comparison.
        if self.budget.next_end().is_none_or(|end| end > now) {
            return;
        }
        self.close_ended(now, out);
    }

    #[inline(never)]
    fn close_ended(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.budget.advance_to(now, into_events(&self.links, out));
    }

    /// Closes every window (the capture ended or the daemon stops).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        self.budget.finish(into_events(&self.links, out));
    }
}

fn links_of(config: &crate::config::Config) -> Vec<LinkRef> {
    config
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| LinkRef::new(crate::event::LinkId::of(i), l.name.clone()))
        .collect()
}

/// What a closed window of events becomes: its `suppressed` event, put
/// in `out`.
fn into_events<'a>(
    links: &'a [LinkRef],
    out: &'a mut Vec<Event>,
) -> impl FnMut(Timestamp, Key, Held<Option<Endpoints>>) + 'a {
    move |end, key, held| out.push(suppressed(links, end, key, held))
}

/// The `suppressed` event of a closed window.
fn suppressed(
    links: &[LinkRef],
    end: Timestamp,
    (scope, of): Key,
    held: Held<Option<Endpoints>>,
) -> Event {
    let link = match &scope {
        Scope::Link(name) => links.iter().find(|l| l.name == *name).cloned(),
        Scope::Peer(_) | Scope::Others => None,
    };
    let mut e = Event::probe(
        end,
        EventKind::Suppressed(Box::new(Suppression {
            of,
            scope,
            count: held.count,
            first: held.first,
            last: held.last,
            examples: held.examples.into_iter().flatten().collect(),
        })),
    );
    e.link = link;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LinkId;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_parts(1_700_000_000 + ms / 1000, (ms % 1000) * 1_000_000)
    }

    fn syn_unanswered(ms: i64, port: u16) -> Event {
        let mut e = Event::probe(t(ms), EventKind::SynUnanswered);
        e.link = Some(LinkRef::new(LinkId(0), Arc::from("visa")));
        e.conn = Some(Endpoints {
            local: format!("10.0.0.1:{port}").parse().expect("addr"),
            peer: "198.51.100.7:7000".parse().expect("addr"),
        });
        e
    }

    fn limits() -> Limits {
        Limits {
            burst: 3,
            interval: Duration::from_secs(10),
        }
    }

    /// Storm control for one link named `visa`, with `limits`.
    fn control(limits: Limits) -> StormControl {
        let mut config = crate::config::Config::parse(
            "[[link]]\nname = \"visa\"\npeer = [\"198.51.100.7:7000\"]\n",
        )
        .expect("a config");
        config.storm = limits;
        StormControl::new(&config)
    }

    #[test]
    fn a_burst_past_the_budget_becomes_one_suppressed_event_per_interval() {
        let mut s = control(limits());
        let mut out = Vec::new();
        let passes: Vec<Pass> = (0..10)
            .map(|i| {
                s.event(
                    &syn_unanswered(i * 100, 40000 + i as u16),
                    Protection::Budgeted,
                    &mut out,
                )
            })
            .collect();
        assert_eq!(passes.iter().filter(|p| **p == Pass::Print).count(), 3);
        assert!(out.is_empty(), "nothing closes before the interval ends");
        s.advance_to(t(9_999), &mut out);
        assert!(out.is_empty());
        s.advance_to(t(10_000), &mut out);
        assert_eq!(out.len(), 1);
        let EventKind::Suppressed(held) = &out[0].kind else {
            panic!("{:?}", out[0].kind)
        };
        assert_eq!(held.of, "syn_unanswered");
        assert_eq!(held.count, 7);
        assert_eq!((held.first, held.last), (t(300), t(900)));
        assert_eq!(held.examples.len(), MAX_EXAMPLES);
        assert_eq!(held.examples[0].local.port(), 40003);
        assert_eq!(out[0].ts, t(10_000));
        assert_eq!(out[0].link.as_deref(), Some("visa"));
        // The next interval starts with a full budget.
        assert_eq!(
            s.event(&syn_unanswered(10_500, 1), Protection::Budgeted, &mut out),
            Pass::Print
        );
        assert_eq!(s.open_windows(), 1);
    }

    #[test]
    fn protected_events_are_always_printed_and_not_counted() {
        let mut s = control(limits());
        let mut out = Vec::new();
        for i in 0..100 {
            let mut e = syn_unanswered(i, 1);
            e.kind = EventKind::FinFrom(crate::event::Side::Peer);
            assert_eq!(s.event(&e, Protection::Always, &mut out), Pass::Print);
        }
        assert_eq!(s.open_windows(), 0);
        s.finish(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_window_that_held_nothing_back_closes_silently() {
        let mut s = control(limits());
        let mut out = Vec::new();
        for i in 0..3 {
            s.event(&syn_unanswered(i, 1), Protection::Budgeted, &mut out);
        }
        s.finish(&mut out);
        assert!(out.is_empty());
        assert_eq!(s.open_windows(), 0);
    }

    #[test]
    fn a_late_event_closes_the_ended_window_before_it_is_counted() {
        let mut s = control(limits());
        let mut out = Vec::new();
        for i in 0..5 {
            s.event(&syn_unanswered(i, 1), Protection::Budgeted, &mut out);
        }
        // No tick in between (replay between two packets): the next
        // event itself closes the old window, and its summary comes first.
        assert_eq!(
            s.event(&syn_unanswered(20_000, 1), Protection::Budgeted, &mut out),
            Pass::Print
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ts, t(10_000));
    }

    #[test]
    fn the_window_table_is_bounded_and_overflows_into_one_window() {
        let mut s = control(Limits {
            burst: 1,
            interval: Duration::from_secs(10),
        });
        let mut out = Vec::new();
        for i in 0..(MAX_SCOPES as u32 + 500) {
            let mut e = syn_unanswered(0, 1);
            e.link = None;
            e.conn = Some(Endpoints {
                local: "10.0.0.1:1".parse().expect("addr"),
                peer: std::net::SocketAddr::new(
                    IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32 + i)),
                    80,
                ),
            });
            s.event(&e, Protection::Budgeted, &mut out);
        }
        assert_eq!(s.open_windows(), MAX_SCOPES + 1);
        s.finish(&mut out);
        assert_eq!(out.len(), 1, "the overflow window held 499 back");
        let EventKind::Suppressed(held) = &out[0].kind else {
            panic!()
        };
        assert_eq!((held.scope.clone(), held.count), (Scope::Others, 499));
    }

    #[test]
    fn burst_zero_turns_storm_control_off() {
        let mut s = control(Limits {
            burst: 0,
            interval: Duration::from_secs(10),
        });
        let mut out = Vec::new();
        for i in 0..100 {
            assert_eq!(
                s.event(&syn_unanswered(i, 1), Protection::Budgeted, &mut out),
                Pass::Print
            );
        }
    }
}
