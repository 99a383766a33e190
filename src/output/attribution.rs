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

/// A piece of a reason: words or a number, appended without `fmt` (the
/// replay writes a reason for every FIN and RST of every connection).
trait Piece {
    fn put(self, buf: &mut Vec<u8>);
}

impl Piece for &str {
    fn put(self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(self.as_bytes());
    }
}

macro_rules! int_piece {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn put(self, buf: &mut Vec<u8>) {
                buf.extend_from_slice(itoa::Buffer::new().format(self).as_bytes());
            }
        }
    )*};
}
int_piece!(u8, u16, u32, u64, i16);

/// `1 hop`, `9 hops`.
struct Hops(i16);

impl Piece for Hops {
    fn put(self, buf: &mut Vec<u8>) {
        self.0.put(buf);
        (if self.0 == 1 { " hop" } else { " hops" }).put(buf);
    }
}

impl std::fmt::Display for Hops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.0 == 1 { "hop" } else { "hops" };
        write!(f, "{} {unit}", self.0)
    }
}

/// Appends each piece to the buffer.
macro_rules! put {
    ($buf:expr, $($piece:expr),+ $(,)?) => {{
        $( Piece::put($piece, $buf); )+
    }};
}

/// One clue in words, for a segment that claimed to come from `side`
/// (`what` is `RST` or `FIN`).
pub fn reason(a: &Attribution, clue: Clue, side: Side, what: &str) -> String {
    super::line(|buf| write_reason(buf, a, clue, side, what))
}

/// [`reason`] appended to `buf`: no `String` or `fmt` per reason on the
/// replay's path. The words are ASCII without quotes or backslashes, so
/// they go into a JSON string as they are (a test holds every clue to
/// that).
pub fn write_reason(buf: &mut Vec<u8>, a: &Attribution, clue: Clue, side: Side, what: &str) {
    let (name, names) = who(side);
    let (receiver, _) = who(side.other());
    let ttl = a.ttl.unwrap_or(0);
    let usual = a.ttl_usual.unwrap_or(0);
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    match clue {
        Clue::TtlAsUsual => put!(buf, "ttl ", ttl, " as usual for ", name),
        Clue::TtlStep => {
            put!(buf, "ttl ", ttl, ", usual ", usual, ": ");
            match a.hops_nearer().unwrap_or(0) {
                n if n > 0 => put!(buf, "sent about ", Hops(n), " nearer than ", name),
                n if n < 0 => put!(buf, "sent about ", Hops(-n), " farther than ", name),
                _ => put!(buf, "another sender's initial TTL"),
            }
        }
        Clue::TtlAlone => put!(
            buf,
            "this rests on the TTL alone: a route change can move it too"
        ),
        Clue::TtlUnsettled => put!(buf, names, " TTL varies: no stable baseline to compare"),
        Clue::LittleBaseline { packets } => put!(
            buf,
            "only ",
            packets,
            " packet",
            plural(packets),
            " from ",
            name,
            " before it: too little baseline"
        ),
        Clue::IpIdFits { id, last } => {
            put!(
                buf,
                "ip_id ",
                id,
                " follows ",
                names,
                " ids (last ",
                last,
                ")"
            )
        }
        Clue::IpIdBreaks { id, habit, last } => match habit {
            IdHabit::Zero => put!(buf, "ip_id ", id, ", ", names, " ids are always 0"),
            IdHabit::Incrementing | IdHabit::Varying => {
                put!(
                    buf,
                    "ip_id ",
                    id,
                    ", ",
                    names,
                    " ids increment (last ",
                    last,
                    ")"
                )
            }
        },
        Clue::DfDiffers { df } => put!(
            buf,
            "DF bit ",
            if df { "set" } else { "clear" },
            ", ",
            name,
            " always ",
            if df { "clears" } else { "sets" },
            " it"
        ),
        Clue::NoTimestamp => put!(
            buf,
            "no TCP timestamp option, ",
            name,
            " sends it on every segment"
        ),
        Clue::TsvalFits => put!(buf, "TCP timestamp follows ", names, " clock"),
        Clue::TsvalOff { tsval, last } => {
            put!(
                buf,
                "TSval ",
                tsval,
                " is off ",
                names,
                " clock (last ",
                last,
                ")"
            )
        }
        Clue::LostRace { segments } => put!(
            buf,
            name,
            " kept sending after the ",
            what,
            " (",
            segments,
            " segment",
            plural(u64::from(segments)),
            "): the sender lost the race"
        ),
        Clue::ChallengeAck => put!(
            buf,
            receiver,
            " answered with a challenge ACK (RFC 5961): the ",
            what,
            " was not accepted"
        ),
        Clue::JumpingSeq { resets } => {
            put!(buf, resets, " RSTs with jumping sequence numbers")
        }
        Clue::OutOfWindow {
            seq,
            rcv_nxt,
            window,
        } => put!(
            buf,
            "seq ",
            seq,
            " outside ",
            receiver,
            "'s receive window (",
            rcv_nxt,
            " + ",
            window,
            "): ignored by the endpoint"
        ),
        Clue::LivesOn => put!(
            buf,
            "traffic went on both ways after it: the connection is up again"
        ),
        Clue::HostBaseline => put!(
            buf,
            names,
            " usual TTL is from its host's earlier connections"
        ),
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
    if let Some(h) = a.hops_nearer() {
        o.raw("hops_nearer", |b| {
            b.extend_from_slice(itoa::Buffer::new().format(h).as_bytes());
        });
    }
    o.raw("reasons", |b| {
        b.push(b'[');
        for (i, c) in a.clues.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.push(b'"');
            write_reason(b, a, *c, side, what);
            b.push(b'"');
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
/// ttl 61, usual 52: sent about 9 hops nearer than the peer; ...`. An
/// endpoint's line gives its strongest reason only (the timeline stays
/// readable; the JSON has them all); a middlebox or unknown verdict gives
/// every reason, as the engineer needs them.
pub fn write_text(a: &Attribution, side: Side, what: &str, buf: &mut Vec<u8>) {
    let head = match (a.sender, side) {
        (Sender::Middlebox, _) => " -- sent by a middlebox: ",
        (Sender::Endpoint, Side::Peer) => " -- sent by the peer itself: ",
        (Sender::Endpoint, Side::Local) => " -- sent by our side itself: ",
        (Sender::Unknown, _) => " -- sender unknown: ",
    };
    buf.extend_from_slice(head.as_bytes());
    let shown = match a.sender {
        Sender::Endpoint => 1,
        Sender::Middlebox | Sender::Unknown => a.clues.len(),
    };
    for (i, c) in a.clues.iter().take(shown).enumerate() {
        if i > 0 {
            buf.extend_from_slice(b"; ");
        }
        write_reason(buf, a, *c, side, what);
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
                    Hops(n),
                    a.ttl.unwrap_or(0),
                    a.ttl_usual.unwrap_or(0)
                ),
                (Some(Clue::TtlStep), Some(n)) if n < 0 => format!(
                    " about {} farther (TTL {}, usual {})",
                    Hops(-n),
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
            clues: [
                Clue::TtlStep,
                Clue::IpIdBreaks {
                    id: 0,
                    habit: IdHabit::Incrementing,
                    last: 41233,
                },
                Clue::NoTimestamp,
            ]
            .into(),
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

    /// Every clue's words are JSON-safe as written (no quote, backslash
    /// or control character), for both sides and both segments.
    #[test]
    fn every_reason_goes_into_json_as_it_is() {
        let clues = [
            Clue::TtlAsUsual,
            Clue::TtlStep,
            Clue::TtlAlone,
            Clue::TtlUnsettled,
            Clue::LittleBaseline { packets: 1 },
            Clue::IpIdFits { id: 2, last: 1 },
            Clue::IpIdBreaks {
                id: 0,
                habit: IdHabit::Zero,
                last: 0,
            },
            Clue::DfDiffers { df: false },
            Clue::NoTimestamp,
            Clue::TsvalFits,
            Clue::TsvalOff { tsval: 1, last: 2 },
            Clue::LostRace { segments: 2 },
            Clue::ChallengeAck,
            Clue::JumpingSeq { resets: 3 },
            Clue::OutOfWindow {
                seq: 1,
                rcv_nxt: 2,
                window: 3,
            },
            Clue::LivesOn,
            Clue::HostBaseline,
        ];
        for side in [Side::Peer, Side::Local] {
            for what in ["RST", "FIN"] {
                for c in clues {
                    let r = reason(&middlebox(), c, side, what);
                    assert!(
                        !r.is_empty()
                            && r.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
                            && !r.contains(['"', '\\']),
                        "{r:?}"
                    );
                }
            }
        }
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
            clues: [Clue::LittleBaseline { packets: 2 }].into(),
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
