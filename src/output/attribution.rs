//! An attribution in words: its reasons, its JSON object, the tail of a
//! timeline line and the phrase of a page. The tracker keeps clues as
//! facts ([`Clue`]); this is the one place they become sentences.

use super::json::JsonLine;
use crate::event::{Accused, Attribution, Clue, EventKind, IdHabit, Sender, Side};

/// The side a FIN or RST event's segment claimed to come from, and what
/// it was (`FIN`, `RST`): what an attribution's words need.
pub fn claim(kind: &EventKind) -> Option<(Side, &'static str)> {
    match kind {
        EventKind::FinFrom(s) => Some((*s, "FIN")),
        EventKind::ResetFrom(s) | EventKind::ResetIgnored(s) => Some((*s, "RST")),
        EventKind::Refused => Some((Side::Peer, "RST")),
        EventKind::AttributionRevised { of, from, .. } => Some((
            *from,
            match of {
                Accused::Fin => "FIN",
                Accused::Reset | Accused::Refused => "RST",
            },
        )),
        _ => None,
    }
}

/// How a side is named in a reason: `the peer` / `our side`.
fn who(side: Side) -> (&'static str, &'static str) {
    match side {
        Side::Peer => ("the peer", "the peer's"),
        Side::Local => ("our side", "our side's"),
    }
}

/// `1 hop`, `9 hops`.
fn hops(n: i16) -> String {
    if n == 1 {
        "1 hop".into()
    } else {
        format!("{n} hops")
    }
}

/// One clue in words, for a segment that claimed to come from `side`
/// (`what` is `RST` or `FIN`).
pub fn reason(a: &Attribution, clue: Clue, side: Side, what: &str) -> String {
    let (name, names) = who(side);
    let (receiver, _) = who(side.other());
    let ttl = a.ttl.unwrap_or(0);
    let usual = a.ttl_usual.unwrap_or(0);
    match clue {
        Clue::TtlAsUsual => format!("ttl {ttl} as usual for {name}"),
        Clue::TtlStep => match a.hops_nearer().unwrap_or(0) {
            n if n > 0 => format!(
                "ttl {ttl}, usual {usual}: sent about {} nearer than {name}",
                hops(n)
            ),
            n if n < 0 => format!(
                "ttl {ttl}, usual {usual}: sent about {} farther than {name}",
                hops(-n)
            ),
            _ => format!("ttl {ttl}, usual {usual}: another sender's initial TTL"),
        },
        Clue::TtlAlone => "this rests on the TTL alone: a route change can move it too".into(),
        Clue::TtlUnsettled => format!("{names} TTL varies: no stable baseline to compare"),
        Clue::LittleBaseline { packets } => {
            let s = if packets == 1 { "" } else { "s" };
            format!("only {packets} packet{s} from {name} before it: too little baseline")
        }
        Clue::IpIdFits { id, last } => format!("ip_id {id} follows {names} ids (last {last})"),
        Clue::IpIdBreaks { id, habit, last } => match habit {
            IdHabit::Zero => format!("ip_id {id}, {names} ids are always 0"),
            IdHabit::Incrementing | IdHabit::Varying => {
                format!("ip_id {id}, {names} ids increment (last {last})")
            }
        },
        Clue::DfDiffers { df } => format!(
            "DF bit {}, {name} always {} it",
            if df { "set" } else { "clear" },
            if df { "clears" } else { "sets" }
        ),
        Clue::NoTimestamp => {
            format!("no TCP timestamp option, {name} sends it on every segment")
        }
        Clue::TsvalFits => format!("TCP timestamp follows {names} clock"),
        Clue::TsvalOff { tsval, last } => {
            format!("TSval {tsval} is off {names} clock (last {last})")
        }
        Clue::LostRace { segments } => format!(
            "{name} kept sending after the {what} ({segments} segment{}): the sender lost the race",
            if segments == 1 { "" } else { "s" }
        ),
        Clue::ChallengeAck => format!(
            "{receiver} answered with a challenge ACK (RFC 5961): the {what} was not accepted"
        ),
        Clue::JumpingSeq { resets } => format!("{resets} RSTs with jumping sequence numbers"),
        Clue::OutOfWindow {
            seq,
            rcv_nxt,
            window,
        } => format!(
            "seq {seq} outside {}'s receive window ({rcv_nxt} + {window}): ignored by the endpoint",
            who(side.other()).0
        ),
        Clue::LivesOn => "traffic went on both ways after it: the connection is up again".into(),
    }
}

/// Every reason, strongest first.
pub fn reasons(a: &Attribution, side: Side, what: &str) -> Vec<String> {
    a.clues.iter().map(|c| reason(a, *c, side, what)).collect()
}

/// The attribution's JSON object (keys sorted: `hops_nearer`, `reasons`,
/// `sender`, `ttl`, `ttl_usual`; the TTL keys only where they apply).
pub fn write_json(a: &Attribution, side: Side, what: &str, buf: &mut Vec<u8>) {
    let mut o = JsonLine::begin(buf);
    if a.sender != Sender::Unknown || a.clues.contains(&Clue::TtlStep) {
        if let Some(h) = a.hops_nearer().filter(|h| *h != 0) {
            o.raw("hops_nearer", |b| {
                b.extend_from_slice(itoa::Buffer::new().format(h).as_bytes());
            });
        }
    }
    o.raw("reasons", |b| {
        b.push(b'[');
        for (i, r) in reasons(a, side, what).iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            super::json::string(b, r);
        }
        b.push(b']');
    });
    o.str("sender", a.sender.name());
    if let Some(t) = a.ttl {
        o.u64("ttl", u64::from(t));
    }
    if let Some(t) = a.ttl_usual {
        o.u64("ttl_usual", u64::from(t));
    }
    o.end();
}

/// The verdict as the timeline's line ends: ` -- sent by a middlebox:
/// ttl 61, usual 52: sent about 9 hops nearer than the peer; ...`.
pub fn write_text(a: &Attribution, side: Side, what: &str, buf: &mut Vec<u8>) {
    let head = match (a.sender, side) {
        (Sender::Middlebox, _) => " -- sent by a middlebox: ",
        (Sender::Endpoint, Side::Peer) => " -- sent by the peer itself: ",
        (Sender::Endpoint, Side::Local) => " -- sent by our side itself: ",
        (Sender::Unknown, _) => " -- sender unknown: ",
    };
    buf.extend_from_slice(head.as_bytes());
    for (i, r) in reasons(a, side, what).iter().enumerate() {
        if i > 0 {
            buf.extend_from_slice(b"; ");
        }
        buf.extend_from_slice(r.as_bytes());
    }
}

/// What a page says happened, for a FIN or RST (`what`) that claimed to
/// come from `side` at `addr`, at `at` UTC: `RST in the name of
/// 203.0.113.10:5000 came from a middlebox about 9 hops nearer (TTL 61,
/// usual 52), not from the peer`.
pub fn page_phrase(a: &Attribution, side: Side, what: &str, addr: &str, at: &str) -> String {
    let (name, _) = who(side);
    let first = reasons(a, side, what)
        .into_iter()
        .next()
        .unwrap_or_default();
    match a.sender {
        Sender::Middlebox => {
            let whence = match (a.clues.first(), a.hops_nearer()) {
                (Some(Clue::TtlStep), Some(n)) if n > 0 => format!(
                    " about {} nearer (TTL {}, usual {})",
                    hops(n),
                    a.ttl.unwrap_or(0),
                    a.ttl_usual.unwrap_or(0)
                ),
                (Some(Clue::TtlStep), Some(n)) if n < 0 => format!(
                    " about {} farther (TTL {}, usual {})",
                    hops(-n),
                    a.ttl.unwrap_or(0),
                    a.ttl_usual.unwrap_or(0)
                ),
                _ => format!(" ({first})"),
            };
            format!("{what} in the name of {addr} at {at} UTC came from a middlebox{whence}, not from {name}")
        }
        Sender::Endpoint => match side {
            Side::Peer => format!("peer {addr} sent {what} at {at} UTC (the peer itself: {first})"),
            Side::Local => format!("we sent {what} to the peer at {at} UTC ({first})"),
        },
        Sender::Unknown => {
            format!("{what} in the name of {addr} at {at} UTC, sender unknown ({first})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn middlebox() -> Attribution {
        Attribution {
            sender: Sender::Middlebox,
            clues: vec![
                Clue::TtlStep,
                Clue::IpIdBreaks {
                    id: 0,
                    habit: IdHabit::Incrementing,
                    last: 41233,
                },
                Clue::NoTimestamp,
            ],
            ttl: Some(61),
            ttl_usual: Some(52),
        }
    }

    #[test]
    fn the_reasons_read_as_the_issue_wrote_them() {
        assert_eq!(
            reasons(&middlebox(), Side::Peer, "RST"),
            [
                "ttl 61, usual 52: sent about 9 hops nearer than the peer",
                "ip_id 0, the peer's ids increment (last 41233)",
                "no TCP timestamp option, the peer sends it on every segment",
            ]
        );
    }

    #[test]
    fn json_keys_are_sorted_and_ttl_keys_only_where_they_apply() {
        let mut buf = Vec::new();
        write_json(&middlebox(), Side::Peer, "RST", &mut buf);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["sender"], "middlebox");
        assert_eq!(v["hops_nearer"], 9);
        assert_eq!(v["ttl"], 61);
        assert_eq!(v["ttl_usual"], 52);
        assert_eq!(v["reasons"].as_array().unwrap().len(), 3);
        let keys: Vec<&str> = std::str::from_utf8(&buf)
            .unwrap()
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|k| ["hops_nearer", "reasons", "sender", "ttl", "ttl_usual"].contains(k))
            .collect();
        assert_eq!(
            keys,
            ["hops_nearer", "reasons", "sender", "ttl", "ttl_usual"]
        );
        let unknown = Attribution {
            sender: Sender::Unknown,
            clues: vec![Clue::LittleBaseline { packets: 2 }],
            ttl: Some(64),
            ttl_usual: None,
        };
        let mut buf = Vec::new();
        write_json(&unknown, Side::Peer, "RST", &mut buf);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert!(v.get("hops_nearer").is_none() && v.get("ttl_usual").is_none());
    }

    #[test]
    fn the_page_phrase_names_the_middlebox_and_its_distance() {
        assert_eq!(
            page_phrase(&middlebox(), Side::Peer, "RST", "203.0.113.10:5000", "02:13:07.500"),
            "RST in the name of 203.0.113.10:5000 at 02:13:07.500 UTC came from a middlebox about 9 hops nearer (TTL 61, usual 52), not from the peer"
        );
    }
}
