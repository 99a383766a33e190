//! What a page carries as proof: header facts only, typed.
//!
//! The policy fills an [`Evidence`] straight from the events (no JSON in
//! between); each destination encodes it once (PagerDuty's
//! `custom_details`, Slack's lines, the DogStatsD event text). Fields are
//! declared in alphabetical order, the order in which PagerDuty's web UI
//! and every earlier version of linewatch listed them. Never a payload
//! byte: addresses, ports, sequence numbers, flags, counts and times.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, Side};

/// The evidence behind a notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Evidence {
    /// A link's trigger: the event behind it and the link's count.
    Link(Box<LinkEvidence>),
    /// A link's resolve: its count.
    Recovered(Recovered),
    /// The probe's own trouble (capture, emitter backlog).
    Probe(ProbeEvidence),
    /// Nothing to add (the probe's resolve).
    None {},
}

/// The event behind a link's page, and the link around it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkEvidence {
    /// Acknowledgment number of the packet behind the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<u32>,
    /// The threshold a silence or black hole crossed, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_s: Option<f64>,
    /// Who really sent the FIN or RST: the endpoint or a middlebox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<AttributionEvidence>,
    /// A silence seen while the probe was losing packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_degraded: Option<bool>,
    /// Established connections of the link after the event.
    pub established: u32,
    /// The event's name (`fin`, `reset`, `silence`, ...).
    pub event: String,
    /// The incident's evidence file (headers only), as far as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceRef>,
    /// `expect_connections`.
    pub expected: u32,
    /// tcpdump-style flags of the packet behind the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// Who sent the FIN or RST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Side>,
    /// An ICMP error about the connection within five minutes of the
    /// event: the router that said the path broke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_error: Option<IcmpEvidence>,
    /// The link's capture interface.
    pub interface: Option<String>,
    /// The link.
    pub link: String,
    /// Our end of the connection.
    pub local: Option<SocketAddr>,
    /// Number of the packet behind the event in its capture.
    pub packet: Option<u64>,
    /// Packet-clock time of the event, UTC.
    pub packet_time: String,
    /// The peer's end.
    pub peer: Option<SocketAddr>,
    /// Our retransmissions into a black hole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retransmissions: Option<u32>,
    /// Sequence number of the packet behind the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    /// How long the connection had been up, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_for_s: Option<f64>,
}

/// Who sent a FIN or RST, as a page carries it (the event JSON's
/// `attribution` object).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionEvidence {
    /// How many hops nearer than the claimed sender it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops_nearer: Option<i16>,
    /// The evidence in words, strongest first.
    pub reasons: Vec<String>,
    /// `endpoint`, `middlebox` or `unknown`.
    pub sender: String,
    /// The segment's TTL (hop limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// The claimed sender's usual TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_usual: Option<u8>,
}

impl AttributionEvidence {
    /// The attribution of `e`, if it has one.
    pub fn of(e: &Event) -> Option<AttributionEvidence> {
        let a = e.attribution.as_deref()?;
        let (side, what) = crate::output::attribution::claim(&e.kind)?;
        Some(AttributionEvidence {
            hops_nearer: a.hops_nearer(),
            reasons: crate::output::attribution::reasons(a, side, what),
            sender: a.sender.name().to_string(),
            ttl: a.ttl,
            ttl_usual: a.ttl_usual,
        })
    }
}

/// The link's last FIN, RST or refusal, with who really sent it (as
/// revised): what the status document and `linewatch status` show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastClose {
    /// `fin`, `reset`, `refused` or `reset_ignored`.
    pub event: String,
    /// The side whose name the segment carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Side>,
    /// Packet-clock time, UTC.
    pub packet_time: String,
    /// Our end of the connection.
    pub local: Option<SocketAddr>,
    /// The peer's end.
    pub peer: Option<SocketAddr>,
    /// Its packet number in the capture.
    pub packet: Option<u64>,
    /// Who really sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<AttributionEvidence>,
}

impl LastClose {
    /// The view of a `fin`, `reset`, `refused` or `reset_ignored` event.
    pub fn of(e: &Event) -> LastClose {
        LastClose {
            event: e.kind.name().to_string(),
            from: crate::output::attribution::claim(&e.kind).map(|(side, _)| side),
            packet_time: e.ts.utc(),
            local: e.conn.map(|c| c.local),
            peer: e.conn.map(|c| c.peer),
            packet: e.packet,
            attribution: AttributionEvidence::of(e),
        }
    }
}

/// An ICMP error about one of the link's connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IcmpEvidence {
    /// Always `icmp_error`.
    pub event: String,
    /// ICMP code.
    pub icmp_code: u8,
    /// ICMP type.
    pub icmp_type: u8,
    /// The link.
    pub link: Option<String>,
    /// Our end of the connection the error was about.
    pub local: Option<SocketAddr>,
    /// Number of the ICMP packet in its capture.
    pub packet: Option<u64>,
    /// The peer's end.
    pub peer: Option<SocketAddr>,
    /// What the router said.
    pub reason: String,
    /// The router (or host) that sent it.
    pub router: IpAddr,
    /// When, seconds since the epoch (packet clock).
    pub ts: f64,
}

/// An incident's evidence file, as a page names it: while it is being
/// written its name, packets so far and first time; once closed also its
/// last time and SHA-256 (the sidecar's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRef {
    /// The pcapng's path on the probe.
    pub file: String,
    /// Its first frame's time, RFC 3339.
    pub from: String,
    /// Frames in it.
    pub packets: u64,
    /// SHA-256 of the closed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Its last frame's time, once closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl EvidenceRef {
    /// The page's view of an evidence file.
    pub fn of(f: &crate::evidence::EvidenceFile) -> EvidenceRef {
        EvidenceRef {
            file: f.path.display().to_string(),
            from: f.from.clone(),
            packets: f.packets,
            sha256: f.sha256.clone(),
            to: f.to.clone(),
        }
    }
}

/// A link's count when its incident resolves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovered {
    /// Established connections.
    pub established: u32,
    /// The incident's evidence file, if it was closed by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceRef>,
    /// `expect_connections`.
    pub expected: u32,
    /// The link.
    pub link: String,
}

/// The probe's own trouble.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeEvidence {
    /// How bad, in words (`57 notifications waiting ...`, libpcap's
    /// reason, packets dropped).
    pub detail: String,
    /// The interface, for capture trouble.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// What is wrong (`capture_lost`, `emitter backlog`, ...).
    pub trouble: String,
}

impl LinkEvidence {
    /// The evidence of `e`, an event of link `link` (`interface`), whose
    /// count is `established` of `expected`; `icmp` is a recent ICMP error
    /// about the link's connections, if any.
    pub fn of(
        e: &Event,
        link: &str,
        interface: Option<&str>,
        (established, expected): (u32, u32),
        icmp: Option<&Event>,
    ) -> LinkEvidence {
        let (after, capture_degraded, retransmissions) = match &e.kind {
            EventKind::Silence {
                after,
                capture_degraded,
            } => (Some(after), Some(*capture_degraded), None),
            EventKind::BlackHole {
                after,
                retransmissions,
            } => (Some(after), None, Some(*retransmissions)),
            _ => (None, None, None),
        };
        LinkEvidence {
            ack: e.evidence.map(|x| x.ack),
            after_s: after.map(|d| d.as_secs_f64()),
            attribution: AttributionEvidence::of(e),
            capture_degraded,
            established,
            event: e.kind.name().to_string(),
            evidence: None,
            expected,
            flags: e.evidence.map(|x| crate::output::flags::tcpdump(x.flags)),
            from: match e.kind {
                EventKind::FinFrom(s) | EventKind::ResetFrom(s) => Some(s),
                _ => None,
            },
            icmp_error: icmp.and_then(IcmpEvidence::of),
            interface: interface.map(str::to_string),
            link: link.to_string(),
            local: e.conn.map(|c| c.local),
            packet: e.packet,
            packet_time: e.ts.utc(),
            peer: e.conn.map(|c| c.peer),
            retransmissions,
            seq: e.evidence.map(|x| x.seq),
            up_for_s: e.up_for.map(|d| d.as_secs_f64()),
        }
    }
}

impl IcmpEvidence {
    /// The evidence of an `icmp_error` event (`None` for any other).
    pub fn of(e: &Event) -> Option<IcmpEvidence> {
        let EventKind::IcmpError {
            router,
            reason,
            icmp_type,
            code,
        } = &e.kind
        else {
            return None;
        };
        Some(IcmpEvidence {
            event: e.kind.name().to_string(),
            icmp_code: *code,
            icmp_type: *icmp_type,
            link: e.link.as_deref().map(str::to_string),
            local: e.conn.map(|c| c.local),
            packet: e.packet,
            peer: e.conn.map(|c| c.peer),
            reason: reason.clone(),
            router: *router,
            ts: e.ts.as_secs_f64(),
        })
    }
}

impl ProbeEvidence {
    /// The evidence of a capture event (`None` for any other).
    pub fn of_capture(e: &Event) -> Option<ProbeEvidence> {
        let (interface, detail) = match &e.kind {
            EventKind::CaptureLost { interface, reason } => (interface, reason.clone()),
            EventKind::CaptureResumed {
                interface,
                lost_for,
            } => (interface, format!("lost for {lost_for}")),
            EventKind::CaptureDegraded { interface, dropped } => {
                (interface, format!("{dropped} packets dropped"))
            }
            EventKind::CaptureRecovered { interface } => (interface, "no more drops".to_string()),
            _ => return None,
        };
        Some(ProbeEvidence {
            detail,
            interface: Some(interface.to_string()),
            trouble: e.kind.name().to_string(),
        })
    }
}

impl Evidence {
    /// The link evidence, if this is a link's trigger.
    pub fn link(&self) -> Option<&LinkEvidence> {
        match self {
            Evidence::Link(l) => Some(l),
            Evidence::Recovered(_) | Evidence::Probe(_) | Evidence::None {} => None,
        }
    }
}
