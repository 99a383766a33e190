//! The event's text line: the human timeline of `linewatch replay`, the
//! daemon's log, and the text of a probe page. Not a serde format: written
//! by hand, straight into a byte buffer.

use super::addr::socket_addr;
use crate::event::{Accused, Event, EventKind, Side};

/// Which parts of the line to write.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Columns {
    /// Time, link, then what happened: the timeline.
    All,
    /// What happened only: a table with time and link columns.
    What,
}

/// Why a connection is degraded, in words (`peer retransmitted 3.40 % of
/// 1200 data segments in the last minute`).
pub fn degradation_words(d: &crate::event::Degradation) -> String {
    use crate::event::Degradation;
    match *d {
        Degradation::Retransmissions {
            side,
            per_10k,
            data_segments,
        } => format!(
            "{} retransmitted {:.2} % of {data_segments} data segments in the last minute",
            side.name(),
            f64::from(per_10k) / 100.0
        ),
        Degradation::ZeroWindow {
            side: Side::Peer,
            closed_for,
        } => format!(
            "the peer's receive window has been closed for {closed_for}: its application is not reading"
        ),
        Degradation::ZeroWindow {
            side: Side::Local,
            closed_for,
        } => format!(
            "our receive window has been closed for {closed_for}: our application is not reading"
        ),
    }
}

/// The event's text line appended to `buf` (no newline): straight into
/// the replay's line buffer, with no `String` or `fmt` on the common lines.
pub fn write(e: &Event, buf: &mut Vec<u8>) {
    write_columns(e, buf, Columns::All);
}

/// What happened, the line after its time and link (`FIN from peer
/// 203.0.113.10:5000 -> 10.0.0.5:40123 (connection up 10m 4s) [packet
/// 184]`): the report's timeline, where time and link have columns.
pub fn write_what(e: &Event, buf: &mut Vec<u8>) {
    write_columns(e, buf, Columns::What);
}

/// One body for both, inlined into each: the timeline's writer keeps no
/// branch or call it did not have.
#[inline(always)]
fn write_columns(e: &Event, buf: &mut Vec<u8>, columns: Columns) {
    use std::io::Write as _;
    if columns == Columns::All {
        e.ts.write_utc(buf);
        buf.extend_from_slice(b"  ");
        buf.extend_from_slice(e.link.as_deref().unwrap_or("-").as_bytes());
        buf.extend_from_slice(b"  ");
    }
    // `local -> peer`, or `peer -> local` for what the peer sent.
    let conn = |buf: &mut Vec<u8>, from_peer: bool| {
        if let Some(c) = e.conn {
            let (a, b) = if from_peer {
                (c.peer, c.local)
            } else {
                (c.local, c.peer)
            };
            socket_addr(buf, &a);
            buf.extend_from_slice(b" -> ");
            socket_addr(buf, &b);
        }
    };
    let text = |buf: &mut Vec<u8>, s: &str| buf.extend_from_slice(s.as_bytes());
    // Writing into a Vec cannot fail: the `write!` results are ignored.
    match &e.kind {
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
        EventKind::ResetIgnored(side) => {
            text(buf, "RST ignored (outside the window) from ");
            text(buf, side.name());
            text(buf, " ");
            conn(buf, *side == Side::Peer);
        }
        EventKind::AttributionRevised {
            of,
            from,
            of_packet,
            up_again,
        } => {
            let what = match of {
                Accused::Fin => "FIN",
                Accused::Reset => "RST",
                Accused::Refused => "refusal",
            };
            let _ = write!(buf, "attribution revised: {what} from {} ", from.name());
            conn(buf, *from == Side::Peer);
            let _ = write!(buf, " (packet {of_packet})");
            if *up_again {
                text(buf, "; the connection is up again");
            }
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
        EventKind::Suppressed(held) => {
            let _ = write!(buf, "suppressed {} more {} lines", held.count, held.of);
            if let crate::storm::Scope::Peer(ip) = held.scope {
                let _ = write!(buf, " about {ip}");
            }
            if let crate::storm::Scope::Others = held.scope {
                text(buf, " about other peers");
            }
            text(buf, " from ");
            held.first.write_utc(buf);
            text(buf, " to ");
            held.last.write_utc(buf);
            text(buf, " (storm control)");
            for (i, c) in held.examples.iter().enumerate() {
                text(buf, if i == 0 { "; e.g. " } else { ", " });
                socket_addr(buf, &c.local);
                text(buf, " -> ");
                socket_addr(buf, &c.peer);
            }
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
        EventKind::PathChanged {
            floor_before,
            floor,
            since,
        } => {
            let _ = write!(
                buf,
                "path changed: round-trip floor {:.1} ms -> {:.1} ms since ",
                floor_before.as_millis_f64(),
                floor.as_millis_f64()
            );
            since.write_utc(buf);
            text(buf, " (the carrier moved the line?) ");
            conn(buf, false);
        }
        EventKind::ResponseStarvation {
            waiting_for,
            outstanding,
        } => {
            let _ = write!(
                buf,
                "RESPONSE STARVATION: {outstanding} request(s) acknowledged but unanswered for {waiting_for}: the line works, the peer's application does not answer "
            );
            conn(buf, false);
        }
        EventKind::ResponseStarvationEnded { starved_for } => {
            let _ = write!(buf, "responses again after {starved_for} ");
            conn(buf, false);
        }
        EventKind::Degraded(d) => {
            text(buf, "degraded: ");
            text(buf, &degradation_words(d));
            text(buf, " ");
            conn(buf, false);
        }
        EventKind::DegradedEnded { lasted } => {
            let _ = write!(buf, "degradation over after {lasted} ");
            conn(buf, false);
        }
    }
    if let Some(up) = e.up_for {
        text(buf, " (connection up ");
        up.write_human(buf);
        text(buf, ")");
    }
    if let Some(p) = e.packet {
        text(buf, " [packet ");
        buf.extend_from_slice(itoa::Buffer::new().format(p).as_bytes());
        text(buf, "]");
    }
    if let (Some(a), Some((side, what))) = (&e.attribution, super::attribution::claim(&e.kind)) {
        super::attribution::write_text(a, side, what, buf);
    }
}

/// The event's text line (no newline), as a `String`: the daemon's log
/// and a probe page's text.
pub fn line(e: &Event) -> String {
    super::line(|buf| write(e, buf))
}

/// [`write_what`] as a `String`.
pub fn what(e: &Event) -> String {
    super::line(|buf| write_what(e, buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample::one_of_each_kind;

    /// `what` is the line after its time and link columns, for events
    /// with and without a link.
    #[test]
    fn what_is_the_line_without_time_and_link() {
        for e in one_of_each_kind() {
            let line = line(&e);
            let what = what(&e);
            assert!(line.ends_with(&format!("  {what}")), "{line:?} / {what:?}");
            assert!(!what.starts_with(' '), "{what:?}");
        }
    }

    /// The text of every kind, the live-only ones (capture trouble) too,
    /// which the replay corpus never reaches.
    #[test]
    fn every_kind_has_its_line() {
        let got: Vec<String> = one_of_each_kind().iter().map(line).collect();
        let want = [
            "2020-09-13 12:26:40.123456  visa  established 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  discovered (already up) 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  FIN from peer 203.0.113.10:5000 -> 10.0.0.5:40123 (connection up 1.500s) [packet 42] -- sent by a middlebox: ttl 61, usual 52: sent about 9 hops nearer than the peer; ip_id 0, the peer's ids increment (last 41233)",
            "2020-09-13 12:26:40.123456  visa  closed 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  RST from local 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42] -- sent by a middlebox: ttl 61, usual 52: sent about 9 hops nearer than our side; ip_id 0, our side's ids increment (last 41233)",
            "2020-09-13 12:26:40.123456  visa  refused (SYN answered by RST) 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42] -- sent by a middlebox: ttl 61, usual 52: sent about 9 hops nearer than the peer; ip_id 0, the peer's ids increment (last 41233)",
            "2020-09-13 12:26:40.123456  visa  SYN unanswered 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  silence: no packet either way for 1.500s 10.0.0.5:40123 -> 203.0.113.10:5000 (capture degraded: the probe was losing packets, not necessarily the line) (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  silence ended after 1.500s 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  black hole: local data unacknowledged for 1.500s (3 retransmissions) 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  black hole ended after 1.500s 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  LINK DOWN: 0/1 connections established (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  PROBE: capture lost on eth1: gone (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  probe: capture resumed on eth1 (lost for 1.500s) (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  PROBE: capture degraded on eth1: 7 packets dropped (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  probe: capture on eth1 no longer dropping (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  ICMP host unreachable from 192.0.2.1 about 10.0.0.5:40123 -> 203.0.113.10:5000 (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  link up: 1/1 connections established (down for 1.500s) (connection up 1.500s) [packet 42]",
            "2020-09-13 12:26:40.123456  visa  RST ignored (outside the window) from peer 203.0.113.10:5000 -> 10.0.0.5:40123 (connection up 1.500s) [packet 42] -- sent by a middlebox: ttl 61, usual 52: sent about 9 hops nearer than the peer; ip_id 0, the peer's ids increment (last 41233)",
            "2020-09-13 12:26:40.123456  visa  attribution revised: RST from peer 203.0.113.10:5000 -> 10.0.0.5:40123 (packet 40); the connection is up again (connection up 1.500s) [packet 42] -- sent by a middlebox: ttl 61, usual 52: sent about 9 hops nearer than the peer; ip_id 0, the peer's ids increment (last 41233)",
        ];
        assert_eq!(got, want);
    }

    /// A probe event has no link, connection or packet.
    #[test]
    fn a_probe_event_has_a_dash_for_its_link() {
        let e = Event::probe(
            crate::time::Timestamp::from_nanos(1_600_000_000_000_000_000),
            EventKind::CaptureRecovered {
                interface: std::sync::Arc::from("eth1"),
            },
        );
        assert_eq!(
            line(&e),
            "2020-09-13 12:26:40.000000  -  probe: capture on eth1 no longer dropping"
        );
    }
}
