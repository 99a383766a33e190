//! The event's JSON line: `--format json` and the daemon's event log.
//!
//! Keys are snake_case and sorted (the order a `serde_json::Map` gives);
//! absent connection fields are `null`, absent packet evidence and
//! kind-specific fields are left out. The names and the shape are an
//! interface: the replay corpus pins them.
//!
//! Written by hand with [`super::json::JsonLine`], not a serde derive:
//! see that module for the measurement.

use super::json::{JsonLine, KeyText};
use crate::event::{Event, EventKind};
use crate::time::Duration;

/// Every key an event's JSON object may have, in sorted order (the order
/// a `serde_json::Map` gives); [`KEY_NAMES`] spells them, in the same
/// order. Objects are written in this order, with no sorting per event.
#[derive(Copy, Clone, Debug, PartialEq, Eq, strum::VariantNames, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
enum Key {
    Ack,
    AfterS,
    Attribution,
    CaptureDegraded,
    Count,
    DownForS,
    Dropped,
    Established,
    Event,
    Examples,
    Expected,
    FirstTs,
    Flags,
    FloorBeforeMs,
    FloorMs,
    From,
    IcmpCode,
    IcmpType,
    Interface,
    LastTs,
    LastedS,
    Link,
    Local,
    LostForS,
    Of,
    Outstanding,
    Packet,
    Peer,
    PeerHost,
    Reason,
    Retransmissions,
    Revises,
    RevisesPacket,
    Router,
    Seq,
    SilentForS,
    Since,
    StarvedForS,
    Ts,
    UnackedForS,
    UpAgain,
    UpForS,
    WaitingForS,
}

/// The JSON name of each [`Key`], indexed by the key: strum's snake_case
/// of the variant, known at compile time.
const KEY_NAMES: &[&str] = <Key as strum::VariantNames>::VARIANTS;

/// Each key of [`KEY_NAMES`] rendered as it is written, `"name":`.
#[allow(clippy::indexing_slicing)] // evaluated at compile time, i < len
const KEY_TEXTS: [KeyText; KEY_NAMES.len()] = {
    let mut texts = [KeyText::new(""); KEY_NAMES.len()];
    let mut i = 0;
    while i < KEY_NAMES.len() {
        texts[i] = KeyText::new(KEY_NAMES[i]);
        i += 1;
    }
    texts
};

/// The keys of a `suppressed` event's examples.
const EXAMPLE_LOCAL: KeyText = KeyText::new("local");
const EXAMPLE_PEER: KeyText = KeyText::new("peer");

/// Every [`Key`], in order: what each kind's list in
/// [`kind_keys`] is checked against.
#[cfg(test)]
const KEYS: &[Key] = <Key as strum::VariantArray>::VARIANTS;

/// The keys every kind of event may have (those of its connection, its
/// packet and its evidence), in order.
const COMMON_KEYS: [Key; 10] = [
    Key::Ack,
    Key::Event,
    Key::Flags,
    Key::Link,
    Key::Local,
    Key::Packet,
    Key::Peer,
    Key::Seq,
    Key::Ts,
    Key::UpForS,
];

/// The keys one kind of event may have, in key order: the common ones
/// and the kind's own. Asking only these (instead of every key) saves a
/// tenth of the JSON printer's work; the test
/// `each_kind_lists_every_key_it_writes` holds the lists to
/// [`write_field`].
#[derive(Copy, Clone, Debug)]
struct KindKeys {
    keys: [Key; COMMON_KEYS.len() + 6],
    len: usize,
}

impl KindKeys {
    /// [`COMMON_KEYS`] merged with `own` (at most 6 keys, in order).
    /// Only called to initialise statics, so it runs at compile time:
    /// an index out of bounds would fail the build, never a replay.
    #[allow(clippy::indexing_slicing)]
    const fn with(own: &[Key]) -> KindKeys {
        let mut keys = [Key::Ack; COMMON_KEYS.len() + 6];
        let (mut i, mut j, mut n) = (0, 0, 0);
        while i < COMMON_KEYS.len() || j < own.len() {
            let take_common = j == own.len()
                || (i < COMMON_KEYS.len() && (COMMON_KEYS[i] as usize) < (own[j] as usize));
            keys[n] = if take_common {
                i += 1;
                COMMON_KEYS[i - 1]
            } else {
                j += 1;
                own[j - 1]
            };
            n += 1;
        }
        KindKeys { keys, len: n }
    }

    fn as_slice(&self) -> &[Key] {
        self.keys.get(..self.len).unwrap_or(&[])
    }
}

/// The JSON keys an event of this `kind` may have, in order.
fn kind_keys(kind: &EventKind) -> &'static [Key] {
    static NONE: KindKeys = KindKeys::with(&[]);
    static FROM: KindKeys = KindKeys::with(&[Key::Attribution, Key::From]);
    static REFUSED: KindKeys = KindKeys::with(&[Key::Attribution]);
    static REVISED: KindKeys = KindKeys::with(&[
        Key::Attribution,
        Key::From,
        Key::Revises,
        Key::RevisesPacket,
        Key::UpAgain,
    ]);
    static SILENCE: KindKeys = KindKeys::with(&[Key::AfterS, Key::CaptureDegraded]);
    static SILENCE_ENDED: KindKeys = KindKeys::with(&[Key::SilentForS]);
    static BLACK_HOLE: KindKeys = KindKeys::with(&[Key::AfterS, Key::Retransmissions]);
    static BLACK_HOLE_ENDED: KindKeys = KindKeys::with(&[Key::UnackedForS]);
    static LINK_DOWN: KindKeys = KindKeys::with(&[Key::Established, Key::Expected]);
    static LINK_UP: KindKeys = KindKeys::with(&[Key::DownForS, Key::Established, Key::Expected]);
    static CAPTURE_LOST: KindKeys = KindKeys::with(&[Key::Interface, Key::Reason]);
    static CAPTURE_RESUMED: KindKeys = KindKeys::with(&[Key::Interface, Key::LostForS]);
    static CAPTURE_DEGRADED: KindKeys = KindKeys::with(&[Key::Dropped, Key::Interface]);
    static CAPTURE_RECOVERED: KindKeys = KindKeys::with(&[Key::Interface]);
    static SUPPRESSED: KindKeys = KindKeys::with(&[
        Key::Count,
        Key::Examples,
        Key::FirstTs,
        Key::LastTs,
        Key::Of,
        Key::PeerHost,
    ]);
    static PATH_CHANGED: KindKeys = KindKeys::with(&[Key::FloorBeforeMs, Key::FloorMs, Key::Since]);
    static STARVATION: KindKeys = KindKeys::with(&[Key::Outstanding, Key::WaitingForS]);
    static STARVATION_ENDED: KindKeys = KindKeys::with(&[Key::StarvedForS]);
    static DEGRADED: KindKeys = KindKeys::with(&[Key::From, Key::Reason]);
    static DEGRADED_ENDED: KindKeys = KindKeys::with(&[Key::LastedS]);
    static ICMP_ERROR: KindKeys =
        KindKeys::with(&[Key::IcmpCode, Key::IcmpType, Key::Reason, Key::Router]);
    let keys = match kind {
        EventKind::Established
        | EventKind::Discovered
        | EventKind::Closed
        | EventKind::SynUnanswered => &NONE,
        EventKind::Refused => &REFUSED,
        EventKind::FinFrom(_) | EventKind::ResetFrom(_) | EventKind::ResetIgnored(_) => &FROM,
        EventKind::AttributionRevised { .. } => &REVISED,
        EventKind::Silence { .. } => &SILENCE,
        EventKind::SilenceEnded { .. } => &SILENCE_ENDED,
        EventKind::BlackHole { .. } => &BLACK_HOLE,
        EventKind::BlackHoleEnded { .. } => &BLACK_HOLE_ENDED,
        EventKind::LinkDown { .. } => &LINK_DOWN,
        EventKind::LinkUp { .. } => &LINK_UP,
        EventKind::CaptureLost { .. } => &CAPTURE_LOST,
        EventKind::CaptureResumed { .. } => &CAPTURE_RESUMED,
        EventKind::CaptureDegraded { .. } => &CAPTURE_DEGRADED,
        EventKind::CaptureRecovered { .. } => &CAPTURE_RECOVERED,
        EventKind::IcmpError { .. } => &ICMP_ERROR,
        EventKind::Suppressed(_) => &SUPPRESSED,
        EventKind::PathChanged { .. } => &PATH_CHANGED,
        EventKind::ResponseStarvation { .. } => &STARVATION,
        EventKind::ResponseStarvationEnded { .. } => &STARVATION_ENDED,
        EventKind::Degraded(_) => &DEGRADED,
        EventKind::DegradedEnded { .. } => &DEGRADED_ENDED,
    };
    keys.as_slice()
}

/// Appends the event's JSON object (no newline) to `buf`, keys in
/// sorted order (as a `serde_json::Map` would have them). Replay
/// writes hundreds of thousands of these: no map, no `String`.
pub fn write(e: &Event, buf: &mut Vec<u8>) {
    let mut o = JsonLine::begin(buf);
    for &key in kind_keys(&e.kind) {
        write_field(e, key, &mut o);
    }
    o.end();
}

/// [`write`] asking every key, not only the kind's.
#[cfg(test)]
fn write_all_keys(e: &Event, buf: &mut Vec<u8>) {
    let mut o = JsonLine::begin(buf);
    for &key in KEYS {
        write_field(e, key, &mut o);
    }
    o.end();
}

/// Writes the event's value for `key`, if it has one: each key is
/// asked in turn, so there is no per-event table of fields to fill.
fn write_field(e: &Event, key: Key, o: &mut JsonLine<'_>) {
    const NONE: KeyText = KeyText::new("");
    let name = KEY_TEXTS.get(key as usize).unwrap_or(&NONE);
    let secs = |o: &mut JsonLine<'_>, d: &Duration| {
        o.f64(name, d.as_secs_f64());
    };
    match (key, &e.kind) {
        (Key::Ts, _) => {
            o.f64(name, e.ts.as_secs_f64());
        }
        (Key::Event, kind) => {
            o.str(name, kind.name());
        }
        (Key::Link, _) => {
            o.opt_str(name, e.link.as_deref());
        }
        (Key::Local, _) => {
            o.addr(name, e.conn.map(|c| c.local));
        }
        (Key::Peer, _) => {
            o.addr(name, e.conn.map(|c| c.peer));
        }
        (Key::Packet, _) => {
            o.opt_u64(name, e.packet);
        }
        (Key::UpForS, _) => {
            if let Some(up) = &e.up_for {
                secs(o, up);
            }
        }
        (Key::Seq | Key::Ack | Key::Flags, _) => {
            if let Some(ev) = e.evidence {
                match key {
                    Key::Seq => o.u64(name, u64::from(ev.seq)),
                    Key::Ack => o.u64(name, u64::from(ev.ack)),
                    _ => o.raw(name, |buf| super::flags::write_tcpdump_json(ev.flags, buf)),
                };
            }
        }
        (
            Key::From,
            EventKind::FinFrom(side)
            | EventKind::ResetFrom(side)
            | EventKind::ResetIgnored(side)
            | EventKind::AttributionRevised { from: side, .. },
        ) => {
            o.str(name, side.name());
        }
        (Key::From, EventKind::Degraded(d)) => {
            o.str(name, d.side().name());
        }
        (Key::Reason, EventKind::Degraded(d)) => {
            o.str(name, &super::event_text::degradation_words(d));
        }
        (Key::FloorBeforeMs, EventKind::PathChanged { floor_before, .. }) => {
            o.f64(name, floor_before.as_millis_f64());
        }
        (Key::FloorMs, EventKind::PathChanged { floor, .. }) => {
            o.f64(name, floor.as_millis_f64());
        }
        (Key::Since, EventKind::PathChanged { since, .. }) => {
            o.f64(name, since.as_secs_f64());
        }
        (Key::Outstanding, EventKind::ResponseStarvation { outstanding, .. }) => {
            o.u64(name, u64::from(*outstanding));
        }
        (Key::WaitingForS, EventKind::ResponseStarvation { waiting_for, .. }) => {
            secs(o, waiting_for)
        }
        (Key::StarvedForS, EventKind::ResponseStarvationEnded { starved_for }) => {
            secs(o, starved_for)
        }
        (Key::LastedS, EventKind::DegradedEnded { lasted }) => secs(o, lasted),
        (Key::Attribution, kind) => {
            if let (Some(a), Some((side, what))) = (&e.attribution, super::attribution::claim(kind))
            {
                o.raw(name, |buf| {
                    super::attribution::write_json(a, side, what, buf)
                });
            }
        }
        (Key::Revises, EventKind::AttributionRevised { of, .. }) => {
            o.str(name, of.name());
        }
        (Key::RevisesPacket, EventKind::AttributionRevised { of_packet, .. }) => {
            o.u64(name, *of_packet);
        }
        (Key::UpAgain, EventKind::AttributionRevised { up_again, .. }) => {
            o.bool(name, *up_again);
        }
        (Key::AfterS, EventKind::Silence { after, .. } | EventKind::BlackHole { after, .. }) => {
            secs(o, after)
        }
        (
            Key::CaptureDegraded,
            EventKind::Silence {
                capture_degraded, ..
            },
        ) => {
            o.bool(name, *capture_degraded);
        }
        (
            Key::Interface,
            EventKind::CaptureLost { interface, .. }
            | EventKind::CaptureResumed { interface, .. }
            | EventKind::CaptureDegraded { interface, .. }
            | EventKind::CaptureRecovered { interface },
        ) => {
            o.str(name, interface);
        }
        (
            Key::Reason,
            EventKind::CaptureLost { reason, .. } | EventKind::IcmpError { reason, .. },
        ) => {
            o.str(name, reason);
        }
        (Key::LostForS, EventKind::CaptureResumed { lost_for, .. }) => secs(o, lost_for),
        (Key::Dropped, EventKind::CaptureDegraded { dropped, .. }) => {
            o.u64(name, *dropped);
        }
        (Key::Router, EventKind::IcmpError { router, .. }) => {
            o.ip(name, *router);
        }
        (Key::IcmpType, EventKind::IcmpError { icmp_type, .. }) => {
            o.u64(name, u64::from(*icmp_type));
        }
        (Key::IcmpCode, EventKind::IcmpError { code, .. }) => {
            o.u64(name, u64::from(*code));
        }
        (Key::SilentForS, EventKind::SilenceEnded { silent_for }) => secs(o, silent_for),
        (
            Key::Retransmissions,
            EventKind::BlackHole {
                retransmissions, ..
            },
        ) => {
            o.u64(name, u64::from(*retransmissions));
        }
        (Key::UnackedForS, EventKind::BlackHoleEnded { unacked_for }) => secs(o, unacked_for),
        (
            Key::Established,
            EventKind::LinkDown { established, .. } | EventKind::LinkUp { established, .. },
        ) => {
            o.u64(name, u64::from(*established));
        }
        (
            Key::Expected,
            EventKind::LinkDown { expected, .. } | EventKind::LinkUp { expected, .. },
        ) => {
            o.u64(name, u64::from(*expected));
        }
        (Key::DownForS, EventKind::LinkUp { down_for, .. }) => secs(o, down_for),
        (Key::Count, EventKind::Suppressed(held)) => {
            o.u64(name, held.count);
        }
        (Key::Of, EventKind::Suppressed(held)) => {
            o.str(name, held.of);
        }
        (Key::FirstTs, EventKind::Suppressed(held)) => {
            o.f64(name, held.first.as_secs_f64());
        }
        (Key::LastTs, EventKind::Suppressed(held)) => {
            o.f64(name, held.last.as_secs_f64());
        }
        (Key::PeerHost, EventKind::Suppressed(held)) => match held.scope {
            crate::storm::Scope::Peer(ip) => {
                o.ip(name, ip);
            }
            crate::storm::Scope::Others => {
                o.str(name, "others");
            }
            crate::storm::Scope::Link(_) => {}
        },
        (Key::Examples, EventKind::Suppressed(held)) => {
            o.raw(name, |buf| {
                buf.push(b'[');
                for (i, c) in held.examples.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    let mut ex = JsonLine::begin(buf);
                    ex.addr(&EXAMPLE_LOCAL, Some(c.local));
                    ex.addr(&EXAMPLE_PEER, Some(c.peer));
                    ex.end();
                }
                buf.push(b']');
            });
        }
        // The key is not one this kind of event has.
        (
            Key::From
            | Key::AfterS
            | Key::CaptureDegraded
            | Key::Interface
            | Key::Reason
            | Key::LostForS
            | Key::Dropped
            | Key::Router
            | Key::IcmpType
            | Key::IcmpCode
            | Key::SilentForS
            | Key::Retransmissions
            | Key::UnackedForS
            | Key::Established
            | Key::Expected
            | Key::DownForS
            | Key::Revises
            | Key::RevisesPacket
            | Key::UpAgain
            | Key::Count
            | Key::Of
            | Key::FirstTs
            | Key::LastTs
            | Key::PeerHost
            | Key::Examples
            | Key::FloorBeforeMs
            | Key::FloorMs
            | Key::Since
            | Key::Outstanding
            | Key::WaitingForS
            | Key::StarvedForS
            | Key::LastedS,
            _,
        ) => {}
    }
}

/// The event's JSON object, parsed: for tests that compare timelines as
/// values.
pub fn value(e: &Event) -> serde_json::Value {
    super::value(|buf| write(e, buf))
}

/// The event's JSON line (no newline), as a `String`: the daemon's event
/// log.
pub fn line(e: &Event) -> String {
    super::line(|buf| write(e, buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample::one_of_each_kind;

    #[test]
    fn each_kind_lists_every_key_it_writes() {
        let events = one_of_each_kind();
        assert_eq!(events.len(), 20, "one event of every kind");
        for e in events {
            let (mut listed, mut all) = (Vec::new(), Vec::new());
            write(&e, &mut listed);
            write_all_keys(&e, &mut all);
            assert_eq!(
                String::from_utf8_lossy(&listed),
                String::from_utf8_lossy(&all),
                "{}",
                e.kind.name()
            );
            let keys = kind_keys(&e.kind);
            assert!(keys.windows(2).all(|w| (w[0] as usize) < (w[1] as usize)));
        }
    }

    /// The names the replay corpus does not reach (live-only kinds), as

    #[test]
    fn keys_are_listed_in_sorted_order_and_each_at_its_index() {
        assert_eq!(Key::Ack as usize, 0);
        assert_eq!(Key::WaitingForS as usize, KEY_NAMES.len() - 1);
        for (i, key) in KEYS.iter().enumerate() {
            assert_eq!(*key as usize, i, "KEYS lists every key in order");
        }
        for w in KEY_NAMES.windows(2) {
            assert!(w[0] < w[1], "{} before {}", w[0], w[1]);
        }
    }
}
