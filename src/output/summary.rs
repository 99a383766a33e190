//! The `connection_summary` line: one per connection when it leaves the
//! table, in JSON (replay's `--format json` and the daemon's log: one
//! schema for both) and as the text timeline's connection list.

use super::addr::{socket_addr, AddrStr};
use super::json::JsonLine;
use crate::track::ConnectionSummary;
use crate::track::ZeekRow;

/// Appends the `connection_summary` JSON object (no newline) to `buf`,
/// keys in sorted order; one schema for replay and the daemon.
/// `zeek_rows` only where Zeek would have logged several rows.
pub fn write_json(c: &ConnectionSummary, buf: &mut Vec<u8>) {
    let mut o = JsonLine::begin(buf);
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

/// The `connection_summary` object as a flat struct for `serde` to
/// derive; writes the bytes [`write_json`] writes.
#[derive(serde::Serialize)]
struct View<'a> {
    conn_state: &'static str,
    event: &'static str,
    first_ts: f64,
    history: &'a str,
    last_ts: f64,
    link: Option<&'a str>,
    local: AddrStr,
    orig: AddrStr,
    packets: u64,
    peer: AddrStr,
    resp: AddrStr,
    retired: &'static str,
    retransmissions: u64,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    zeek_rows: Option<Rows<'a>>,
}

/// A summary's Zeek rows, serialized as an array of [`RowView`]s.
struct Rows<'a>(&'a [ZeekRow]);

impl serde::Serialize for Rows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|r| RowView {
            conn_state: r.conn_state,
            first_ts: r.first_ts.as_secs_f64(),
            history: &r.history,
            last_ts: r.last_ts.as_secs_f64(),
            orig: AddrStr(r.orig),
            packets: r.packets,
            resp: AddrStr(r.resp),
        }))
    }
}

/// One of the Zeek rows, as written.
#[derive(serde::Serialize)]
struct RowView<'a> {
    conn_state: &'static str,
    first_ts: f64,
    history: &'a str,
    last_ts: f64,
    orig: AddrStr,
    packets: u64,
    resp: AddrStr,
}

/// [`write_json`] through the derived [`View`].
pub fn write_json_derived(c: &ConnectionSummary, buf: &mut Vec<u8>) {
    let view = View {
        conn_state: c.conn_state,
        event: "connection_summary",
        first_ts: c.first_ts.as_secs_f64(),
        history: &c.history,
        last_ts: c.last_ts.as_secs_f64(),
        link: c.link.as_deref(),
        local: AddrStr(c.ends.local),
        orig: AddrStr(c.orig),
        packets: c.packets,
        peer: AddrStr(c.ends.peer),
        resp: AddrStr(c.resp),
        retired: c.retired.name(),
        retransmissions: c.retransmissions,
        state: c.state.name(),
        zeek_rows: (c.zeek_rows.len() > 1).then_some(Rows(&c.zeek_rows)),
    };
    // Writing into a Vec cannot fail, nor can the view's fields.
    let _ = serde_json::to_writer(buf, &view);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Endpoints;
    use crate::time::Timestamp;
    use crate::track::{RetireReason, State};

    #[test]
    fn the_derived_view_writes_the_same_bytes() {
        let row = |n: u64| ZeekRow {
            orig: "10.0.0.5:40123".parse().unwrap(),
            resp: "[2001:db8::10]:5000".parse().unwrap(),
            conn_state: "SF",
            history: format!("ShADadFf{n}"),
            first_ts: Timestamp::from_nanos(1_600_000_000_123_456_789 + i64::try_from(n).unwrap()),
            last_ts: Timestamp::from_nanos(1_600_000_100_000_000_000),
            packets: n,
        };
        for rows in [0, 1, 3] {
            for link in [None, Some("visa \"primary\"\t")] {
                let c = ConnectionSummary {
                    link: link.map(std::sync::Arc::from),
                    ends: Endpoints {
                        local: "10.0.0.5:40123".parse().unwrap(),
                        peer: "[2001:db8::10]:5000".parse().unwrap(),
                    },
                    orig: "10.0.0.5:40123".parse().unwrap(),
                    resp: "[2001:db8::10]:5000".parse().unwrap(),
                    conn_state: "S1",
                    history: "Sh\\d".into(),
                    state: State::Established,
                    packets: 12,
                    retransmissions: 3,
                    first_ts: Timestamp::from_nanos(1_000_000_001),
                    last_ts: Timestamp::from_nanos(0),
                    retired: RetireReason::CaptureEnd,
                    zeek_rows: (0..rows).map(row).collect(),
                };
                let (mut hand, mut derived) = (Vec::new(), Vec::new());
                write_json(&c, &mut hand);
                write_json_derived(&c, &mut derived);
                assert_eq!(
                    String::from_utf8_lossy(&hand),
                    String::from_utf8_lossy(&derived)
                );
            }
        }
    }
}
