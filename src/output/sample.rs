//! Events for the format tests: one of every kind, every optional field
//! filled.

use std::sync::Arc;

use crate::event::{
    Accused, Attribution, Clue, Endpoints, Event, EventKind, Evidence, IdHabit, LinkId, LinkRef,
    Sender, Side,
};
use crate::time::{Duration, Timestamp};

/// One event of every kind, with every optional field filled.
pub(crate) fn one_of_each_kind() -> Vec<Event> {
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
        EventKind::ResetIgnored(Side::Peer),
        EventKind::AttributionRevised {
            of: Accused::Reset,
            from: Side::Peer,
            of_packet: 40,
            up_again: true,
        },
    ];
    let attribution = Attribution {
        sender: Sender::Middlebox,
        clues: [
            Clue::TtlStep,
            Clue::IpIdBreaks {
                id: 0,
                habit: IdHabit::Incrementing,
                last: 41233,
            },
        ]
        .into(),
        ttl: Some(61),
        ttl_usual: Some(52),
    };
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
            attribution: Some(Box::new(attribution)),
        })
        .collect()
}
