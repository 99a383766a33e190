//! The report as one self-contained HTML page: inline style, inline SVG
//! graphs, no script, no external asset. Renders in any browser, prints.

use std::fmt::Write as _;

use super::{graph, Report};
use crate::output::event_text;

/// Escapes `s` for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;line-height:1.4}\
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}\
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}\
pre,code{font-family:ui-monospace,monospace;font-size:.9em}pre{background:#f4f4f4;padding:.6em;overflow-x:auto}\
.verdict{font-size:1.1em;background:#fff4e5;border-left:4px solid #e67e22;padding:.5em 1em}\
.graph svg{max-width:100%;height:auto}";

/// The page.
pub fn render(r: &Report) -> String {
    let name = r.file.file_name().map_or_else(
        || r.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>linewatch incident report: {}</title><style>{STYLE}</style></head><body>\n",
        escape(&name)
    );
    let _ = writeln!(h, "<h1>Incident report: {}</h1>", escape(&name));
    let span = r.span.map_or_else(String::new, |(a, b)| {
        format!(", {} to {} UTC", a.utc(), b.utc())
    });
    let _ = writeln!(
        h,
        "<p>Capture <code>{}</code> ({}, {} frames{span}), SHA-256 <code>{}</code>. Headers only: this report holds no payload byte.</p>",
        escape(&name),
        escape(&r.link_type),
        r.packets,
        r.sha256
    );
    if let Some(why) = &r.unread {
        let _ = writeln!(
            h,
            "<p class=\"verdict\">This capture could not be read to its end; the report covers the frames before: {}</p>",
            escape(why)
        );
    }
    h.push_str("<h2>Verdict</h2>\n");
    if r.faults.is_empty() {
        h.push_str("<p class=\"verdict\">No FIN, RST, silence, black hole or link down in this capture.</p>\n");
    }
    for f in &r.faults {
        let _ = writeln!(h, "<p class=\"verdict\">{}.</p>", escape(&f.verdict));
    }
    h.push_str(
        "<h2>Timeline</h2>\n<table><tr><th>time (UTC)</th><th>packet</th><th>event</th></tr>\n",
    );
    for e in &r.events {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.ts.utc(),
            e.packet.map_or_else(|| "-".to_string(), |p| p.to_string()),
            escape(&event_text::what(e))
        );
    }
    h.push_str("</table>\n");
    if r.events_left_out > 0 {
        let _ = writeln!(h, "<p>{} more events left out.</p>", r.events_left_out);
    }
    h.push_str("<h2>Connections</h2>\n<table><tr><th>connection (ours -&gt; peer)</th><th>Zeek conn_state</th><th>history</th><th>packets</th><th>retransmissions</th><th>first .. last packet (UTC)</th></tr>\n");
    for c in &r.connections {
        h.push_str("<tr>");
        for (i, cell) in super::connection_row(c).iter().enumerate() {
            // The history is a code (`ShADdfr`): monospace.
            let cell = escape(cell);
            let _ = if i == 2 {
                write!(h, "<td><code>{cell}</code></td>")
            } else {
                write!(h, "<td>{cell}</td>")
            };
        }
        h.push_str("</tr>\n");
        if let Some(f) = super::connection_figures(c) {
            let _ = writeln!(h, "<tr><td colspan=\"6\">{}</td></tr>", escape(&f));
        }
    }
    h.push_str("</table>\n");
    for a in &r.affected {
        let _ = writeln!(h, "<h2>{} &lt;-&gt; {}</h2>", a.ends.local, a.ends.peer);
        let lines = a.last_packets();
        if !lines.is_empty() {
            h.push_str("<ul>");
            for l in lines {
                let _ = write!(h, "<li>{}</li>", escape(&l));
            }
            h.push_str("</ul>\n");
        }
        match graph::svg(a) {
            Ok(svg) => {
                let _ = writeln!(h, "<div class=\"graph\">{svg}</div>");
                let _ = writeln!(
                    h,
                    "<p>Blue: what our side sent; red: what the peer sent (relative sequence numbers). Triangle: FIN; cross: RST; ring: retransmission; dot: keep-alive; grey line: the fault.{}</p>",
                    if a.points_left_out > 0 {
                        format!(" {} later packets left out.", a.points_left_out)
                    } else {
                        String::new()
                    }
                );
            }
            Err(e) => {
                let _ = writeln!(h, "<p>{}</p>", escape(&e));
            }
        }
        match graph::response_svg(a) {
            Some(Ok(svg)) => {
                let _ = writeln!(h, "<div class=\"graph\">{svg}</div>");
                h.push_str("<p>Green: each response time (our request to the peer's first data after it), as the analytics pair them; grey line: the fault.</p>\n");
            }
            Some(Err(e)) => {
                let _ = writeln!(h, "<p>{}</p>", escape(&e));
            }
            None => {}
        }
    }
    h.push_str("<h2>Check it yourself</h2>\n<pre>");
    for c in super::markdown::commands(r, &name) {
        let _ = writeln!(h, "{}", escape(&c));
    }
    h.push_str("</pre>\n<p>Written by linewatch ");
    h.push_str(env!("CARGO_PKG_VERSION"));
    h.push_str(".</p>\n</body></html>\n");
    h
}
