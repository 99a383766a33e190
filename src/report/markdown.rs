//! The report as Markdown, for a ticket: the same sections as the HTML
//! page, without the graphs.

use std::fmt::Write as _;

use super::Report;
use crate::output::event_text;

/// The commands a carrier can run on the file to check the claim.
pub fn commands(r: &Report, name: &str) -> Vec<String> {
    let mut c = vec![
        format!("sha256sum {name}    # expect {}", r.sha256),
        format!("tcpdump -nn -r {name} 'tcp[tcpflags] & (tcp-fin|tcp-rst) != 0'"),
        format!("tshark -r {name} -Y 'tcp.flags.fin == 1 || tcp.flags.reset == 1'"),
    ];
    for a in &r.affected {
        c.push(format!(
            "tcpdump -nn -r {name} 'host {} and port {} and host {} and port {}'",
            a.ends.local.ip(),
            a.ends.local.port(),
            a.ends.peer.ip(),
            a.ends.peer.port()
        ));
    }
    c
}

/// The document.
pub fn render(r: &Report) -> String {
    let name = r.file.file_name().map_or_else(
        || r.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut m = String::new();
    let _ = writeln!(m, "# Incident report: {name}\n");
    let span = r.span.map_or_else(String::new, |(a, b)| {
        format!(", {} to {} UTC", a.utc(), b.utc())
    });
    let _ = writeln!(
        m,
        "Capture `{name}` ({}, {} frames{span}), SHA-256 `{}`. Headers only: this report holds no payload byte.\n",
        r.link_type, r.packets, r.sha256
    );
    if let Some(why) = &r.unread {
        let _ = writeln!(
            m,
            "**This capture could not be read to its end; the report covers the frames before:** {why}\n"
        );
    }
    m.push_str("## Verdict\n\n");
    if r.faults.is_empty() {
        m.push_str("No FIN, RST, silence, black hole or link down in this capture.\n");
    }
    for f in &r.faults {
        let _ = writeln!(m, "- {}.", f.verdict);
    }
    m.push_str("\n## Timeline\n\n| time (UTC) | packet | event |\n|---|---|---|\n");
    for e in &r.events {
        let what = event_text::what(e);
        let _ = writeln!(
            m,
            "| {} | {} | {} |",
            e.ts.utc(),
            e.packet.map_or_else(|| "-".to_string(), |p| p.to_string()),
            what.replace('|', "\\|")
        );
    }
    if r.events_left_out > 0 {
        let _ = writeln!(m, "\n{} more events left out.", r.events_left_out);
    }
    m.push_str("\n## Connections\n\n| connection (ours -> peer) | Zeek conn_state | history | packets | retransmissions | first .. last packet (UTC) |\n|---|---|---|---|---|---|\n");
    for c in &r.connections {
        let [conn, state, history, packets, retrans, span] = super::connection_row(c);
        let _ = writeln!(
            m,
            "| {conn} | {state} | `{history}` | {packets} | {retrans} | {span} |"
        );
    }
    for c in &r.connections {
        if let Some(f) = super::connection_figures(c) {
            let _ = writeln!(m, "\n{} -> {}: {f}", c.ends.local, c.ends.peer);
        }
    }
    for a in &r.affected {
        let _ = writeln!(m, "\n### {} <-> {}\n", a.ends.local, a.ends.peer);
        for l in a.last_packets() {
            let _ = writeln!(m, "- {l}");
        }
        let _ = writeln!(
            m,
            "- Time-sequence and response-time graphs: in the HTML report (`linewatch report --format html`)."
        );
    }
    m.push_str("\n## Check it yourself\n\n```\n");
    for c in commands(r, &name) {
        let _ = writeln!(m, "{c}");
    }
    m.push_str("```\n");
    m
}
