//! The status document as a table for people: `linewatch status`, and the
//! daemon's log on SIGUSR1.

use crate::clock::wall_now;
use crate::status::StatusDoc;
use crate::time::Duration;

/// The status document as a table for people (`linewatch status`, SIGUSR1).
pub fn status_table(doc: &StatusDoc) -> String {
    let now = wall_now().as_secs_f64();
    let age = |t: f64| Duration::from_nanos(((now - t).max(0.0) * 1e9) as i64);
    let mut s = format!(
        "written {} ago by pid {} (up {}, rewritten every {:.1}s)\n",
        age(doc.written_at),
        doc.pid,
        age(doc.started_at),
        doc.write_interval_s
    );
    s.push_str(&format!(
        "{:<16} {:<9} {:<8} {:<6} {}\n",
        "LINK", "HEALTH", "STATUS", "EST", "WHY"
    ));
    for l in &doc.links {
        s.push_str(&format!(
            "{:<16} {:<9} {:<8} {:<6} {}\n",
            l.name,
            l.verdict.health.upper(),
            l.status,
            format!("{}/{}", l.established, l.expected),
            l.verdict.reason
        ));
        for c in &l.connections {
            s.push_str(&format!(
                "  {} -> {}  {}  idle {:.1}s  packets {}/{}  retransmissions {}/{}{}{}\n",
                c.local,
                c.peer,
                c.state,
                c.idle_s,
                c.packets_local,
                c.packets_peer,
                c.retransmissions_local,
                c.retransmissions_peer,
                if c.silent { "  SILENT" } else { "" },
                if c.black_hole { "  BLACK HOLE" } else { "" },
            ));
        }
        if let Some(c) = &l.last_close {
            let from = c.from.map_or("-", |s| s.name());
            let sender = c.attribution.as_ref().map_or_else(String::new, |a| {
                format!("  sent by {}: {}", a.sender, a.reasons.join("; "))
            });
            s.push_str(&format!(
                "  last {} from {from} at {} UTC{sender}\n",
                c.event, c.packet_time
            ));
        }
    }
    s.push_str(&format!(
        "{:<16} {:<9} {:>10} {:>8} {:>8} {:>8}\n",
        "CAPTURE", "STATE", "RECEIVED", "DROPPED", "IFDROP", "QDROP"
    ));
    for c in &doc.captures {
        s.push_str(&format!(
            "{:<16} {:<9} {:>10} {:>8} {:>8} {:>8}{}\n",
            c.interface,
            c.state,
            c.received,
            c.dropped,
            c.if_dropped,
            c.queue_dropped,
            c.error
                .as_deref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default()
        ));
    }
    s
}
