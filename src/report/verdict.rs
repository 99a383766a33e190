//! A fault in one sentence, from the events and the packets around it:
//! who sent what when, on a connection up how long, whether the other
//! side acknowledged it, and what (RST, ICMP error) came before it.

use super::{Affected, Mark};
use crate::event::{Event, EventKind, Side};
use crate::time::Duration;

/// How far back an ICMP error counts as having preceded a fault.
const ICMP_BEFORE: Duration = Duration::from_secs(300);

/// The verdict on `e`, given all `events` and the affected connections.
pub fn sentence(e: &Event, events: &[Event], affected: &[Affected]) -> String {
    let at = e.ts.to_chrono().format("%H:%M:%S%.3f UTC").to_string();
    let conn = e.conn.and_then(|c| affected.iter().find(|a| a.ends == c));
    let up = e
        .up_for
        .map(|d| format!(" on a connection up {d}"))
        .unwrap_or_default();
    match &e.kind {
        EventKind::FinFrom(side) | EventKind::ResetFrom(side) => {
            let what = if matches!(e.kind, EventKind::FinFrom(_)) {
                "FIN"
            } else {
                "RST"
            };
            let who = match (side, e.conn) {
                (Side::Peer, Some(c)) => format!("{} (the peer)", c.peer),
                (Side::Local, Some(c)) => format!("{} (our side)", c.local),
                (_, None) => side.name().to_string(),
            };
            // Who really sent it, as revised by what followed.
            let standing = e.packet.and_then(|p| {
                crate::event::standing_verdicts(events)
                    .into_iter()
                    .find(|(q, _)| *q == p)
                    .map(|(_, a)| a)
            });
            let reasons = |a: &crate::event::Attribution| {
                crate::output::attribution::reasons(a, *side, what).join("; ")
            };
            let mut s = match standing {
                Some(a) if a.sender == crate::event::Sender::Middlebox => format!(
                    "a middlebox sent {what} in the name of {who} at {at}{up} ({})",
                    reasons(a)
                ),
                Some(a) if a.sender == crate::event::Sender::Endpoint => {
                    format!("{who} sent {what} at {at}{up} (its own: {})", reasons(a))
                }
                Some(a) => format!(
                    "{what} in the name of {who} at {at}{up}, sender unknown ({})",
                    reasons(a)
                ),
                None => format!("{who} sent {what} at {at}{up}"),
            };
            if what == "FIN" {
                s.push_str(&match acknowledged(e, conn) {
                    Some(true) => format!("; {} acknowledged it", other(*side)),
                    Some(false) => {
                        format!("; {} did not acknowledge it in this capture", other(*side))
                    }
                    None => String::new(),
                });
            }
            s.push_str(&preceded(e, events));
            s
        }
        EventKind::ResetIgnored(side) => {
            let who = match (side, e.conn) {
                (Side::Peer, Some(c)) => format!("{} (the peer)", c.peer),
                (Side::Local, Some(c)) => format!("{} (our side)", c.local),
                (_, None) => side.name().to_string(),
            };
            let mut s = format!(
                "a RST in the name of {who} at {at} lay outside {}'s receive window and was ignored; the connection stayed up",
                other(*side)
            );
            if let Some(a) = e.attribution.as_deref() {
                s.push_str(&format!(
                    " (sent by {}: {})",
                    match a.sender {
                        crate::event::Sender::Middlebox => "a middlebox",
                        crate::event::Sender::Endpoint => "the endpoint",
                        crate::event::Sender::Unknown => "an unknown sender",
                    },
                    crate::output::attribution::reasons(a, *side, "RST").join("; ")
                ));
            }
            s
        }
        EventKind::Silence { after, .. } => {
            let mut s = match e.conn {
                Some(c) => format!(
                    "no packet either way between {} and {} for {after} (reported at {at})",
                    c.local, c.peer
                ),
                None => format!("no packet for {after} (reported at {at})"),
            };
            if let Some(a) = conn {
                for side in [Side::Peer, Side::Local] {
                    if let Some(p) = a.last_before(side, e.ts) {
                        s.push_str(&format!(
                            "; the last packet from {} was packet {} at {}",
                            if side == Side::Peer {
                                "the peer"
                            } else {
                                "our side"
                            },
                            p.packet,
                            p.ts.to_chrono().format("%H:%M:%S%.3f UTC")
                        ));
                    }
                }
            }
            s.push_str(&preceded(e, events));
            s
        }
        EventKind::BlackHole {
            after,
            retransmissions,
        } => {
            let peer = e
                .conn
                .map_or_else(|| "the peer".to_string(), |c| c.peer.to_string());
            let mut s = format!(
                "{peer} stopped acknowledging our data: unacknowledged for {after} at {at}, after {retransmissions} retransmissions"
            );
            s.push_str(&preceded(e, events));
            s
        }
        EventKind::LinkDown {
            established,
            expected,
        } => format!(
            "link {} down at {at}: {established} of {expected} connections established",
            e.link.as_deref().unwrap_or("-")
        ),
        other => format!("{} at {at}", other.name()),
    }
}

fn other(side: Side) -> &'static str {
    match side {
        Side::Peer => "our side",
        Side::Local => "the peer",
    }
}

/// Whether the other side acknowledged the FIN of `e` (an ACK at or past
/// its sequence number plus one); `None` without the packets.
fn acknowledged(e: &Event, conn: Option<&Affected>) -> Option<bool> {
    let a = conn?;
    let fin = a
        .points
        .iter()
        .find(|p| Some(p.packet) == e.packet && p.mark == Mark::Fin)?;
    let wanted = fin.seq.wrapping_add(fin.len).wrapping_add(1);
    Some(a.points.iter().any(|p| {
        p.from != fin.from
            && p.ts >= fin.ts
            && p.flags.ack()
            && (p.ack.wrapping_sub(wanted) as i32) >= 0
    }))
}

/// What came before `e` on its connection (a RST) or its link (an ICMP
/// error within [`ICMP_BEFORE`]), in words.
fn preceded(e: &Event, events: &[Event]) -> String {
    let before: Vec<&Event> = events
        .iter()
        .filter(|x| x.ts <= e.ts && !std::ptr::eq(*x, e))
        .filter(|x| x.ts >= e.ts.minus(ICMP_BEFORE))
        .collect();
    let rst = before.iter().find(|x| {
        matches!(x.kind, EventKind::ResetFrom(_)) && x.conn == e.conn && x.packet != e.packet
    });
    let icmp = before.iter().rev().find(|x| {
        matches!(x.kind, EventKind::IcmpError { .. })
            && (x.conn == e.conn || (x.link.is_some() && x.link.as_deref() == e.link.as_deref()))
    });
    match (rst, icmp) {
        (None, None) => "; no RST or ICMP error preceded it".into(),
        (_, Some(i)) => {
            let EventKind::IcmpError { router, reason, .. } = &i.kind else {
                return String::new();
            };
            format!(
                "; router {router} had reported {reason} at {}",
                i.ts.to_chrono().format("%H:%M:%S%.3f UTC")
            )
        }
        (Some(r), None) => format!(
            "; a RST preceded it at {}",
            r.ts.to_chrono().format("%H:%M:%S%.3f UTC")
        ),
    }
}
