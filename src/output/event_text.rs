//! The event's text line: the human timeline of `linewatch replay`, the
//! daemon's log, and the text of a probe page. Not a serde format: written
//! by hand, straight into a byte buffer.

use super::addr::socket_addr;
use crate::event::{Event, EventKind, Side};

/// The event's text line appended to `buf` (no newline): straight into
/// the replay's line buffer, with no `String` or `fmt` on the common lines.
pub fn write(e: &Event, buf: &mut Vec<u8>) {
    use std::io::Write as _;
    e.ts.write_utc(buf);
    buf.extend_from_slice(b"  ");
    buf.extend_from_slice(e.link.as_deref().unwrap_or("-").as_bytes());
    buf.extend_from_slice(b"  ");
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
}

/// The event's text line (no newline), as a `String`: the daemon's log
/// and a probe page's text.
pub fn line(e: &Event) -> String {
    super::line(|buf| write(e, buf))
}
