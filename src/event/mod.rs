//! The one event enum that everything downstream of the tracker consumes.
//!
//! Replay prints events, the daemon logs them, the policy turns them into
//! incidents. Their names are snake_case and stable: they are an interface.
//! How an event is written (JSON line, text line) is [`crate::output`]'s.

mod attribution;

pub use attribution::{
    initial_ttl, standing_verdicts, Attribution, Clue, Clues, IdHabit, Sender, MAX_CLUES,
};

use std::net::SocketAddr;
use std::sync::Arc;

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
    /// Established connections in response starvation.
    pub starving: u32,
    /// Established connections degraded (retransmissions, closed window).
    pub degraded: u32,
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
    /// A RST outside the receiver's window: the endpoint ignores it (RFC
    /// 793, RFC 5961), so the connection stays up. Evidence of an injector
    /// or a stale segment.
    ResetIgnored(Side),
    /// What followed a FIN, RST or refusal changed who we say sent it (the
    /// event's attribution is the new verdict), or showed the endpoints did
    /// not obey a RST and the connection is up again.
    AttributionRevised {
        /// The event whose attribution this revises.
        of: Accused,
        /// The side the revised segment claimed to come from.
        from: Side,
        /// Its packet number.
        of_packet: u64,
        /// Traffic went on both ways: the connection is established again.
        up_again: bool,
    },
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
    /// Lines held back by storm control ([`crate::storm`]): how many of
    /// one kind, about one link or peer, in one interval. About the
    /// printed stream, not the line: the policy and the counters saw
    /// every event it stands for.
    Suppressed(Box<crate::storm::Suppression>),
    /// The round-trip floor toward the peer moved and stayed moved for
    /// `path_change_after`: the carrier moved the line (backup circuit,
    /// reroute). Evidence for the carrier, not a failure.
    PathChanged {
        /// The floor before.
        floor_before: Duration,
        /// The floor now.
        floor: Duration,
        /// When the first sample off the old floor was seen.
        since: Timestamp,
    },
    /// Our requests are acknowledged, but the peer has sent no answer for
    /// `response_timeout`: the line works, the far application does not.
    ResponseStarvation {
        /// How long the oldest outstanding request has waited.
        waiting_for: Duration,
        /// Requests outstanding.
        outstanding: u32,
    },
    /// The peer answers again.
    ResponseStarvationEnded {
        /// How long no answer came, from the starvation's start.
        starved_for: Duration,
    },
    /// The connection works but is degraded: retransmissions or a closed
    /// receive window past their thresholds.
    Degraded(Degradation),
    /// The degradation is over.
    DegradedEnded {
        /// How long it lasted.
        lasted: Duration,
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

/// Why a connection is degraded: one reason, with its figures.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Degradation {
    /// One side retransmitted more than the threshold of its data
    /// segments in the last complete minute.
    Retransmissions {
        /// Whose data was retransmitted.
        side: Side,
        /// Retransmitted data segments per 10,000.
        per_10k: u32,
        /// Data segments it sent in that minute.
        data_segments: u32,
    },
    /// One side's receive window has been closed for longer than the
    /// threshold: its application is not reading.
    ZeroWindow {
        /// Whose window is closed.
        side: Side,
        /// For how long, when it was judged.
        closed_for: Duration,
    },
}

impl Degradation {
    /// The side it is about.
    pub fn side(self) -> Side {
        match self {
            Degradation::Retransmissions { side, .. } | Degradation::ZeroWindow { side, .. } => {
                side
            }
        }
    }
}

/// The events an attribution is made for (and may be revised on).
#[derive(Copy, Clone, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Accused {
    /// A FIN.
    Fin,
    /// A RST on a connection.
    Reset,
    /// A RST answering our SYN.
    Refused,
}

impl Accused {
    /// The accused event's name (`fin`, `reset`, `refused`).
    pub fn name(self) -> &'static str {
        self.into()
    }
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
            attribution: None,
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
    /// Who really sent the FIN or RST (`fin`, `reset`, `refused`,
    /// `reset_ignored`, `attribution_revised`). Boxed: most events have none.
    pub attribution: Option<Box<Attribution>>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
            EventKind::ResetIgnored(Side::Peer).name(),
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
                "reset_ignored",
                "local",
                "evicted",
                "capture_end",
                "bad_ip_extension",
            ]
        );
    }
}
