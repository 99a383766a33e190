//! The `connection_summary` line: one per connection when it leaves the
//! table, in JSON (replay's `--format json` and the daemon's log: one
//! schema for both) and as the text timeline's connection list.
//!
//! The JSON is written by hand with [`super::json::JsonLine`], not a
//! serde derive: see that module for the measurement.

use super::addr::socket_addr;
use super::json::JsonLine;
use crate::track::ConnectionSummary;

/// Appends the `connection_summary` JSON object (no newline) to `buf`,
/// keys in sorted order; one schema for replay and the daemon.
/// `zeek_rows` only where Zeek would have logged several rows.
pub fn write_json(c: &ConnectionSummary, buf: &mut Vec<u8>) {
    let mut o = JsonLine::begin(buf);
    // Connections with nothing measured (a SYN, a FIN) carry no object.
    if let Some(a) = c.figures().filter(super::analytics::has_figures) {
        o.raw("analytics", |buf| super::analytics::write_json(&a, buf));
    }
    o.str("conn_state", c.conn_state)
        .str("event", "connection_summary")
        .f64("first_ts", c.first_ts.as_secs_f64())
        .str("history", &c.history)
        .f64("last_ts", c.last_ts.as_secs_f64())
        .opt_str("link", c.link.as_deref())
        .addr("local", Some(c.ends.local))
        .addr("orig", Some(c.orig))
        .u64("packets", c.packets)
        .addr("peer", Some(c.ends.peer))
        .addr("resp", Some(c.resp))
        .str("retired", c.retired.name())
        .u64("retransmissions", c.retransmissions)
        .str("state", c.state.name());
    if c.zeek_rows.len() > 1 {
        o.raw("zeek_rows", |buf| {
            buf.push(b'[');
            for (i, r) in c.zeek_rows.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                let mut row = JsonLine::begin(buf);
                row.str("conn_state", r.conn_state)
                    .f64("first_ts", r.first_ts.as_secs_f64())
                    .str("history", &r.history)
                    .f64("last_ts", r.last_ts.as_secs_f64())
                    .addr("orig", Some(r.orig))
                    .u64("packets", r.packets)
                    .addr("resp", Some(r.resp));
                row.end();
            }
            buf.push(b']');
        });
    }
    o.end();
}

/// The `connection_summary` JSON line (no newline).
pub fn json_line(c: &ConnectionSummary) -> String {
    super::line(|buf| write_json(c, buf))
}

/// One connection's text line (and its Zeek rows when it has several),
/// no newline: written straight into the replay's spool buffer.
pub fn write_text(c: &ConnectionSummary, buf: &mut Vec<u8>) {
    use std::io::Write as _;
    let text = |buf: &mut Vec<u8>, s: &str| buf.extend_from_slice(s.as_bytes());
    let mut digits = itoa::Buffer::new();
    socket_addr(buf, &c.orig);
    text(buf, " -> ");
    socket_addr(buf, &c.resp);
    text(buf, "  ");
    text(buf, c.link.as_deref().unwrap_or("-"));
    text(buf, "  ");
    text(buf, c.conn_state);
    text(buf, " ");
    text(
        buf,
        if c.history.is_empty() {
            "-"
        } else {
            &c.history
        },
    );
    text(buf, "  ");
    text(buf, digits.format(c.packets));
    text(buf, " packets, ");
    text(buf, digits.format(c.retransmissions));
    text(buf, " retransmissions, ");
    c.first_ts.write_utc(buf);
    text(buf, " .. ");
    c.last_ts.write_utc(buf);
    text(buf, "  (");
    text(buf, c.state.name());
    text(buf, ", ");
    text(buf, c.retired.name());
    text(buf, ")");
    if let Some(a) = &c.figures() {
        let at = buf.len();
        text(buf, "\n    ");
        if !super::analytics::write_text(a, buf) {
            buf.truncate(at);
        }
    }
    if c.zeek_rows.len() > 1 {
        for r in &c.zeek_rows {
            // Writing into a Vec cannot fail.
            let _ = write!(
                buf,
                "\n    zeek row: {} -> {}  {} {}  {} packets",
                r.orig, r.resp, r.conn_state, r.history, r.packets
            );
        }
    }
}
