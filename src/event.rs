//! The one event enum that everything downstream of the tracker consumes.
//!
//! Replay prints events, the daemon logs them, the policy turns them into
//! incidents. JSON names are snake_case and stable: they are an interface.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;

use crate::json::{JsonLine, KeyText};

use crate::time::{Duration, Timestamp};

/// Which end of a watched connection did something.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    serde::Serialize,
    serde::Deserialize,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Our end: the payment server / gateway host.
    Local,
    /// The far end: the card network's host.
    Peer,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Side {
        match self {
            Side::Local => Side::Peer,
            Side::Peer => Side::Local,
        }
    }

    /// `"local"` or `"peer"` (strum's snake_case of the variant).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A configured link, by its place in the config (`[[link]]` order). Events
/// carry it so that the policy finds its link by index, not by name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u32);

impl LinkId {
    /// The index into the config's links.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of the link at `index` in the config.
    pub fn of(index: usize) -> LinkId {
        LinkId(u32::try_from(index).unwrap_or(u32::MAX))
    }
}

/// Whether a link has its expected connections: the tracker's link state
/// machine ([`crate::track::Link`]) moves it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not yet known: the capture just started.
    #[default]
    Unknown,
    /// At least `expect_connections` established.
    Up,
    /// Short of connections for longer than `reconnect_grace`.
    Down,
}

/// A link's connections as the tracker counts them, right after an event:
/// the facts the policy judges the link's health on. The tracker owns the
/// count; nobody else keeps one.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkCount {
    /// Established connections.
    pub established: u32,
    /// Established connections that are silent or black-holed.
    pub troubled: u32,
    /// Up, down or not yet known.
    pub status: LinkStatus,
}

/// The link an event is about: its id, its name (for output) and its count
/// as of the event. Dereferences to the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRef {
    /// Its place in the config.
    pub id: LinkId,
    /// Its name (`visa-primary`).
    pub name: Arc<str>,
    /// Its connections right after the event.
    pub count: LinkCount,
}

impl LinkRef {
    /// Link `id` named `name`, its count not yet known (the tracker fills it
    /// in before the event leaves it).
    pub fn new(id: LinkId, name: Arc<str>) -> LinkRef {
        LinkRef {
            id,
            name,
            count: LinkCount::default(),
        }
    }
}

impl std::ops::Deref for LinkRef {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

/// A connection as the on-call engineer names it: our end and theirs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub peer: SocketAddr,
}

/// What happened. Its name in JSON and the timeline is strum's snake_case
/// of the variant (`fin` and `reset` for the sided ones).
#[derive(Clone, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    /// A three-way handshake completed.
    Established,
    /// A connection already up when the capture started was picked up mid-stream.
    Discovered,
    /// A FIN from one side (half-close, or the second FIN of a close).
    #[strum(serialize = "fin")]
    FinFrom(Side),
    /// Both sides have sent FIN: the connection is closed normally.
    Closed,
    /// A RST from one side aborted the connection.
    #[strum(serialize = "reset")]
    ResetFrom(Side),
    /// A connection attempt was answered by RST (nobody listening, or a firewall).
    Refused,
    /// A SYN got no answer within the black-hole threshold.
    SynUnanswered,
    /// No packet either way for longer than the link's silence threshold.
    Silence {
        /// The threshold that was crossed.
        after: Duration,
        /// The probe itself was losing packets (or its capture was down):
        /// this silence may be the probe's blindness, not the line's.
        capture_degraded: bool,
    },
    /// Packets flow again after a silence.
    SilenceEnded {
        /// How long nothing was seen.
        silent_for: Duration,
    },
    /// Local data or keep-alives unacknowledged for longer than the threshold.
    BlackHole {
        /// The threshold that was crossed.
        after: Duration,
        /// Local retransmissions seen since the first unacknowledged segment.
        retransmissions: u32,
    },
    /// The peer acknowledges again.
    BlackHoleEnded {
        /// How long local data went unacknowledged.
        unacked_for: Duration,
    },
    /// The link has fewer established connections than it expects.
    LinkDown {
        /// Connections established now.
        established: u32,
        /// `expect_connections` from the config.
        expected: u32,
    },
    /// The probe lost its capture on an interface (interface down or gone,
    /// permission lost): the probe's trouble, not the line's.
    CaptureLost {
        /// The interface.
        interface: Arc<str>,
        /// libpcap's reason.
        reason: String,
    },
    /// The capture on an interface works again.
    CaptureResumed {
        /// The interface.
        interface: Arc<str>,
        /// How long it was lost.
        lost_for: Duration,
    },
    /// The capture is dropping packets (kernel, interface or queue drops).
    CaptureDegraded {
        /// The interface.
        interface: Arc<str>,
        /// Packets dropped in the last statistics interval.
        dropped: u64,
    },
    /// No more capture drops for a while.
    CaptureRecovered {
        /// The interface.
        interface: Arc<str>,
    },
    /// An ICMP error (unreachable, time exceeded, ...) about one of this
    /// connection's segments: who on the path said so. Evidence, not a
    /// state change.
    IcmpError {
        /// The router (or host) that sent the ICMP error.
        router: std::net::IpAddr,
        /// What it said (`destination unreachable (host unreachable)`).
        reason: String,
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
    /// The link is back to its expected number of connections.
    LinkUp {
        /// Connections established now.
        established: u32,
        /// `expect_connections` from the config.
        expected: u32,
        /// How long the link was down.
        down_for: Duration,
    },
}

impl EventKind {
    /// The snake_case JSON name.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// Header evidence from the packet behind an event, for the carrier.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// Sequence number of the packet.
    pub seq: u32,
    /// Acknowledgment number of the packet.
    pub ack: u32,
    /// tcpdump-style flags of the packet.
    pub flags: crate::decode::TcpFlags,
}

impl Event {
    /// An event of the probe itself (capture trouble), not of a connection.
    pub fn probe(ts: Timestamp, kind: EventKind) -> Event {
        Event {
            ts,
            kind,
            link: None,
            conn: None,
            packet: None,
            up_for: None,
            evidence: None,
        }
    }
}

/// One thing that happened, at one point on the packet clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When: the packet's timestamp, or the deadline that passed.
    pub ts: Timestamp,
    /// What.
    pub kind: EventKind,
    /// The configured link, if any, with its count right after the event.
    pub link: Option<LinkRef>,
    /// The connection, for connection events (`None` for link events).
    pub conn: Option<Endpoints>,
    /// 1-based number of the packet behind the event: the packet itself for
    /// packet events; for silence and black hole, the last packet seen on
    /// the connection / the first unacknowledged one.
    pub packet: Option<u64>,
    /// How long the connection had been up (fin, reset, closed).
    pub up_for: Option<Duration>,
    /// Header fields of the packet behind the event.
    pub evidence: Option<Evidence>,
}

/// Every key an event's JSON object may have, in sorted order (the order
/// a `serde_json::Map` gives); [`KEY_NAMES`] spells them, in the same
/// order. Objects are written in this order, with no sorting per event.
#[derive(Copy, Clone, Debug, PartialEq, Eq, strum::VariantNames, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
enum Key {
    Ack,
    AfterS,
    CaptureDegraded,
    DownForS,
    Dropped,
    Established,
    Event,
    Expected,
    Flags,
    From,
    IcmpCode,
    IcmpType,
    Interface,
    Link,
    Local,
    LostForS,
    Packet,
    Peer,
    Reason,
    Retransmissions,
    Router,
    Seq,
    SilentForS,
    Ts,
    UnackedForS,
    UpForS,
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

/// Every [`Key`], in order: what each kind's list in
/// [`EventKind::json_keys`] is checked against.
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
/// [`Event::write_field`].
#[derive(Copy, Clone, Debug)]
struct KindKeys {
    keys: [Key; COMMON_KEYS.len() + 4],
    len: usize,
}

impl KindKeys {
    /// [`COMMON_KEYS`] merged with `own` (at most 4 keys, in order).
    /// Only called to initialise statics, so it runs at compile time:
    /// an index out of bounds would fail the build, never a replay.
    #[allow(clippy::indexing_slicing)]
    const fn with(own: &[Key]) -> KindKeys {
        let mut keys = [Key::Ack; COMMON_KEYS.len() + 4];
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

impl EventKind {
    /// The JSON keys an event of this kind may have, in order.
    fn json_keys(&self) -> &'static [Key] {
        static NONE: KindKeys = KindKeys::with(&[]);
        static FROM: KindKeys = KindKeys::with(&[Key::From]);
        static SILENCE: KindKeys = KindKeys::with(&[Key::AfterS, Key::CaptureDegraded]);
        static SILENCE_ENDED: KindKeys = KindKeys::with(&[Key::SilentForS]);
        static BLACK_HOLE: KindKeys = KindKeys::with(&[Key::AfterS, Key::Retransmissions]);
        static BLACK_HOLE_ENDED: KindKeys = KindKeys::with(&[Key::UnackedForS]);
        static LINK_DOWN: KindKeys = KindKeys::with(&[Key::Established, Key::Expected]);
        static LINK_UP: KindKeys =
            KindKeys::with(&[Key::DownForS, Key::Established, Key::Expected]);
        static CAPTURE_LOST: KindKeys = KindKeys::with(&[Key::Interface, Key::Reason]);
        static CAPTURE_RESUMED: KindKeys = KindKeys::with(&[Key::Interface, Key::LostForS]);
        static CAPTURE_DEGRADED: KindKeys = KindKeys::with(&[Key::Dropped, Key::Interface]);
        static CAPTURE_RECOVERED: KindKeys = KindKeys::with(&[Key::Interface]);
        static ICMP_ERROR: KindKeys =
            KindKeys::with(&[Key::IcmpCode, Key::IcmpType, Key::Reason, Key::Router]);
        let keys = match self {
            EventKind::Established
            | EventKind::Discovered
            | EventKind::Closed
            | EventKind::Refused
            | EventKind::SynUnanswered => &NONE,
            EventKind::FinFrom(_) | EventKind::ResetFrom(_) => &FROM,
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
        };
        keys.as_slice()
    }
}

impl Event {
    /// Appends the event's JSON object (no newline) to `buf`, keys in
    /// sorted order (as a `serde_json::Map` would have them). Replay
    /// writes hundreds of thousands of these: no map, no `String`.
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        let mut o = JsonLine::begin(buf);
        for &key in self.kind.json_keys() {
            self.write_field(key, &mut o);
        }
        o.end();
    }

    /// [`Event::write_json`] asking every key, not only the kind's.
    #[cfg(test)]
    fn write_json_all_keys(&self, buf: &mut Vec<u8>) {
        let mut o = JsonLine::begin(buf);
        for &key in KEYS {
            self.write_field(key, &mut o);
        }
        o.end();
    }

    /// Writes the event's value for `key`, if it has one: each key is
    /// asked in turn, so there is no per-event table of fields to fill.
    fn write_field(&self, key: Key, o: &mut JsonLine<'_>) {
        const NONE: KeyText = KeyText::new("");
        let name = KEY_TEXTS.get(key as usize).unwrap_or(&NONE);
        let secs = |o: &mut JsonLine<'_>, d: &Duration| {
            o.f64(name, d.as_secs_f64());
        };
        match (key, &self.kind) {
            (Key::Ts, _) => {
                o.f64(name, self.ts.as_secs_f64());
            }
            (Key::Event, kind) => {
                o.str(name, kind.name());
            }
            (Key::Link, _) => {
                o.opt_str(name, self.link.as_deref());
            }
            (Key::Local, _) => {
                o.addr(name, self.conn.map(|c| c.local));
            }
            (Key::Peer, _) => {
                o.addr(name, self.conn.map(|c| c.peer));
            }
            (Key::Packet, _) => {
                o.opt_u64(name, self.packet);
            }
            (Key::UpForS, _) => {
                if let Some(up) = &self.up_for {
                    secs(o, up);
                }
            }
            (Key::Seq | Key::Ack | Key::Flags, _) => {
                if let Some(e) = self.evidence {
                    match key {
                        Key::Seq => o.u64(name, u64::from(e.seq)),
                        Key::Ack => o.u64(name, u64::from(e.ack)),
                        _ => o.raw(name, |buf| e.flags.write_tcpdump_json(buf)),
                    };
                }
            }
            (Key::From, EventKind::FinFrom(side) | EventKind::ResetFrom(side)) => {
                o.str(name, side.name());
            }
            (
                Key::AfterS,
                EventKind::Silence { after, .. } | EventKind::BlackHole { after, .. },
            ) => secs(o, after),
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
                | Key::DownForS,
                _,
            ) => {}
        }
    }

    /// The JSON object for the policy (page details).
    pub fn to_json(&self) -> Value {
        crate::json::value(|buf| self.write_json(buf))
    }

    /// The JSON line (no newline) for `--format json` and the daemon's
    /// event log.
    pub fn to_json_line(&self) -> String {
        crate::json::line(|buf| self.write_json(buf))
    }

    /// One human line for the text timeline.
    pub fn to_text(&self) -> String {
        crate::json::line(|buf| self.write_text(buf))
    }

    /// [`Event::to_text`] appended to `buf` (no newline): straight into the
    /// replay's line buffer, with no `String` or `fmt` on the common lines.
    pub fn write_text(&self, buf: &mut Vec<u8>) {
        use std::io::Write as _;
        self.ts.write_utc(buf);
        buf.extend_from_slice(b"  ");
        buf.extend_from_slice(self.link.as_deref().unwrap_or("-").as_bytes());
        buf.extend_from_slice(b"  ");
        // `local -> peer`, or `peer -> local` for what the peer sent.
        let conn = |buf: &mut Vec<u8>, from_peer: bool| {
            if let Some(c) = self.conn {
                let (a, b) = if from_peer {
                    (c.peer, c.local)
                } else {
                    (c.local, c.peer)
                };
                crate::json::socket_addr(buf, &a);
                buf.extend_from_slice(b" -> ");
                crate::json::socket_addr(buf, &b);
            }
        };
        let text = |buf: &mut Vec<u8>, s: &str| buf.extend_from_slice(s.as_bytes());
        // Writing into a Vec cannot fail: the `write!` results are ignored.
        match &self.kind {
            EventKind::Established => {
                text(buf, "established ");
                conn(buf, false);
            }
            EventKind::Discovered => {
                text(buf, "discovered (already up) ");
                conn(buf, false);
            }
            EventKind::FinFrom(side) => {
                text(buf, "FIN from ");
                text(buf, side.name());
                text(buf, " ");
                conn(buf, *side == Side::Peer);
            }
            EventKind::Closed => {
                text(buf, "closed ");
                conn(buf, false);
            }
            EventKind::ResetFrom(side) => {
                text(buf, "RST from ");
                text(buf, side.name());
                text(buf, " ");
                conn(buf, *side == Side::Peer);
            }
            EventKind::Refused => {
                text(buf, "refused (SYN answered by RST) ");
                conn(buf, false);
            }
            EventKind::SynUnanswered => {
                text(buf, "SYN unanswered ");
                conn(buf, false);
            }
            EventKind::Silence {
                after,
                capture_degraded,
            } => {
                text(buf, "silence: no packet either way for ");
                after.write_human(buf);
                text(buf, " ");
                conn(buf, false);
                if *capture_degraded {
                    text(
                        buf,
                        " (capture degraded: the probe was losing packets, not necessarily the line)",
                    );
                }
            }
            EventKind::CaptureLost { interface, reason } => {
                let _ = write!(buf, "PROBE: capture lost on {interface}: {reason}");
            }
            EventKind::CaptureResumed {
                interface,
                lost_for,
            } => {
                let _ = write!(
                    buf,
                    "probe: capture resumed on {interface} (lost for {lost_for})"
                );
            }
            EventKind::CaptureDegraded { interface, dropped } => {
                let _ = write!(
                    buf,
                    "PROBE: capture degraded on {interface}: {dropped} packets dropped"
                );
            }
            EventKind::CaptureRecovered { interface } => {
                let _ = write!(buf, "probe: capture on {interface} no longer dropping");
            }
            EventKind::IcmpError { router, reason, .. } => {
                let _ = write!(buf, "ICMP {reason} from {router} about ");
                conn(buf, false);
            }
            EventKind::SilenceEnded { silent_for } => {
                text(buf, "silence ended after ");
                silent_for.write_human(buf);
                text(buf, " ");
                conn(buf, false);
            }
            EventKind::BlackHole {
                after,
                retransmissions,
            } => {
                text(buf, "black hole: local data unacknowledged for ");
                after.write_human(buf);
                let _ = write!(buf, " ({retransmissions} retransmissions) ");
                conn(buf, false);
            }
            EventKind::BlackHoleEnded { unacked_for } => {
                text(buf, "black hole ended after ");
                unacked_for.write_human(buf);
                text(buf, " ");
                conn(buf, false);
            }
            EventKind::LinkDown {
                established,
                expected,
            } => {
                let _ = write!(
                    buf,
                    "LINK DOWN: {established}/{expected} connections established"
                );
            }
            EventKind::LinkUp {
                established,
                expected,
                down_for,
            } => {
                let _ = write!(
                    buf,
                    "link up: {established}/{expected} connections established (down for {down_for})"
                );
            }
        }
        if let Some(up) = self.up_for {
            text(buf, " (connection up ");
            up.write_human(buf);
            text(buf, ")");
        }
        if let Some(p) = self.packet {
            text(buf, " [packet ");
            buf.extend_from_slice(itoa::Buffer::new().format(p).as_bytes());
            text(buf, "]");
        }
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    /// One event of every kind, with every optional field filled.
    fn one_of_each_kind() -> Vec<Event> {
        let d = Duration::from_millis(1500);
        let iface: Arc<str> = Arc::from("eth1");
        let kinds = [
            EventKind::Established,
            EventKind::Discovered,
            EventKind::FinFrom(Side::Peer),
            EventKind::Closed,
            EventKind::ResetFrom(Side::Local),
            EventKind::Refused,
            EventKind::SynUnanswered,
            EventKind::Silence {
                after: d,
                capture_degraded: true,
            },
            EventKind::SilenceEnded { silent_for: d },
            EventKind::BlackHole {
                after: d,
                retransmissions: 3,
            },
            EventKind::BlackHoleEnded { unacked_for: d },
            EventKind::LinkDown {
                established: 0,
                expected: 1,
            },
            EventKind::CaptureLost {
                interface: iface.clone(),
                reason: "gone".into(),
            },
            EventKind::CaptureResumed {
                interface: iface.clone(),
                lost_for: d,
            },
            EventKind::CaptureDegraded {
                interface: iface.clone(),
                dropped: 7,
            },
            EventKind::CaptureRecovered { interface: iface },
            EventKind::IcmpError {
                router: "192.0.2.1".parse().expect("an address"),
                reason: "host unreachable".into(),
                icmp_type: 3,
                code: 1,
            },
            EventKind::LinkUp {
                established: 1,
                expected: 1,
                down_for: d,
            },
        ];
        kinds
            .into_iter()
            .map(|kind| Event {
                ts: Timestamp::from_nanos(1_600_000_000_123_456_789),
                kind,
                link: Some(LinkRef::new(LinkId(0), Arc::from("visa"))),
                conn: Some(Endpoints {
                    local: "10.0.0.5:40123".parse().expect("an address"),
                    peer: "203.0.113.10:5000".parse().expect("an address"),
                }),
                packet: Some(42),
                up_for: Some(d),
                evidence: Some(Evidence {
                    seq: 1,
                    ack: 2,
                    flags: crate::decode::TcpFlags(0x11),
                }),
            })
            .collect()
    }

    #[test]
    fn each_kind_lists_every_key_it_writes() {
        let events = one_of_each_kind();
        assert_eq!(events.len(), 18, "one event of every kind");
        for e in events {
            let (mut listed, mut all) = (Vec::new(), Vec::new());
            e.write_json(&mut listed);
            e.write_json_all_keys(&mut all);
            assert_eq!(
                String::from_utf8_lossy(&listed),
                String::from_utf8_lossy(&all),
                "{}",
                e.kind.name()
            );
            let keys = e.kind.json_keys();
            assert!(keys.windows(2).all(|w| (w[0] as usize) < (w[1] as usize)));
        }
    }

    /// The names the replay corpus does not reach (live-only kinds), as
    /// they were written before strum derived them.
    #[test]
    fn derived_names_are_the_wire_names() {
        let i: Arc<str> = Arc::from("eth1");
        let names = [
            EventKind::CaptureLost {
                interface: i.clone(),
                reason: String::new(),
            }
            .name(),
            EventKind::CaptureResumed {
                interface: i.clone(),
                lost_for: Duration::ZERO,
            }
            .name(),
            EventKind::CaptureDegraded {
                interface: i.clone(),
                dropped: 0,
            }
            .name(),
            EventKind::CaptureRecovered { interface: i }.name(),
            EventKind::FinFrom(Side::Local).name(),
            EventKind::ResetFrom(Side::Peer).name(),
            EventKind::SynUnanswered.name(),
            Side::Local.name(),
            crate::track::RetireReason::Evicted.name(),
            crate::track::RetireReason::CaptureEnd.name(),
            crate::decode::SkipReason::BadIpExtension.name(),
        ];
        assert_eq!(
            names,
            [
                "capture_lost",
                "capture_resumed",
                "capture_degraded",
                "capture_recovered",
                "fin",
                "reset",
                "syn_unanswered",
                "local",
                "evicted",
                "capture_end",
                "bad_ip_extension",
            ]
        );
    }

    #[test]
    fn keys_are_listed_in_sorted_order_and_each_at_its_index() {
        assert_eq!(Key::Ack as usize, 0);
        assert_eq!(Key::UpForS as usize, KEY_NAMES.len() - 1);
        for (i, key) in KEYS.iter().enumerate() {
            assert_eq!(*key as usize, i, "KEYS lists every key in order");
        }
        for w in KEY_NAMES.windows(2) {
            assert!(w[0] < w[1], "{} before {}", w[0], w[1]);
        }
    }
}
