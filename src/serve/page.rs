//! `/`: a small, plain HTML status page for the on-call engineer's
//! browser. No external asset, no script: a table per concern, refreshed
//! by the browser every few seconds. It renders the status document (the
//! policy's verdict and the tracker's connections) and the last printed
//! events; it judges nothing.

use std::fmt::Write;

use crate::status::StatusDoc;

use crate::report::html::escape as esc;

/// Renders the page. `events` are the last printed event lines, oldest
/// first; `refresh_s` how often the browser reloads it.
pub fn render(
    doc: Option<&StatusDoc>,
    events: &std::collections::VecDeque<String>,
    refresh_s: u32,
    host: &str,
) -> String {
    let mut h = String::with_capacity(8 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{refresh_s}\">\
         <title>linewatch: {host}</title>\
         <style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse;margin-bottom:1em}}\
         td,th{{border:1px solid #999;padding:2px 6px;text-align:left}}\
         .ok{{background:#cfc}}.warning{{background:#ffc}}.critical{{background:#fcc}}.unknown{{background:#ddd}}\
         pre{{white-space:pre-wrap}}</style></head><body>\n\
         <h1>linewatch on {host}</h1>\n",
        host = esc(host)
    );
    let Some(doc) = doc else {
        h.push_str("<p id=\"no-status\">No status yet: the daemon has not written its first status document.</p>\n</body></html>\n");
        return h;
    };
    let _ = writeln!(
        h,
        "<p>Status of {} (this page reloads every {refresh_s} s).</p>",
        esc(&crate::time::Timestamp::from_nanos((doc.written_at * 1e9) as i64).utc())
    );
    h.push_str("<h2>Links</h2>\n<table id=\"links\"><tr><th>link</th><th>health</th><th>why</th><th>established</th><th>interface</th><th>maintenance</th></tr>\n");
    for l in &doc.links {
        let health = l.verdict.health;
        let class = health.upper().to_ascii_lowercase();
        let _ = writeln!(
            h,
            "<tr class=\"link {class}\" data-link=\"{name}\" data-health=\"{upper}\"><td>{name}</td><td>{upper}</td><td>{why}</td><td>{}/{}</td><td>{iface}</td><td>{maint}</td></tr>",
            l.established,
            l.expected,
            maint = l
                .verdict
                .maintenance
                .as_ref()
                .map(|m| esc(&format!("until {}: {}", m.until, m.reason)))
                .unwrap_or_default(),
            name = esc(&l.name),
            upper = health.upper(),
            why = esc(&l.verdict.reason),
            iface = esc(l.interface.as_deref().unwrap_or("")),
        );
    }
    h.push_str("</table>\n<h2>Connections</h2>\n<table id=\"connections\"><tr><th>link</th><th>local</th><th>peer</th><th>state</th><th>idle</th><th>packets local/peer</th><th>retransmissions local/peer</th></tr>\n");
    for l in &doc.links {
        for c in &l.connections {
            let _ = writeln!(
                h,
                "<tr class=\"connection\" data-link=\"{link}\"><td>{link}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}/{}</td></tr>",
                esc(&c.local),
                esc(&c.peer),
                esc(&c.state),
                // The timeline's own duration form (`4.200s`, `3m 5s`).
                crate::time::Duration::from_nanos((c.idle_s.max(0.0) * 1e9) as i64),
                c.packets_local,
                c.packets_peer,
                c.retransmissions_local,
                c.retransmissions_peer,
                link = esc(&l.name),
            );
        }
    }
    h.push_str("</table>\n<h2>Captures</h2>\n<table id=\"captures\"><tr><th>interface</th><th>state</th><th>received</th><th>dropped</th></tr>\n");
    for c in &doc.captures {
        let _ = writeln!(
            h,
            "<tr class=\"capture\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.interface),
            esc(&c.state),
            c.received,
            c.dropped + c.if_dropped + c.queue_dropped
        );
    }
    h.push_str("</table>\n");
    if !doc.probe.troubles.is_empty() {
        h.push_str("<h2>Probe troubles</h2>\n<ul id=\"troubles\">\n");
        for t in &doc.probe.troubles {
            let _ = writeln!(h, "<li>{}</li>", esc(t));
        }
        h.push_str("</ul>\n");
    }
    let _ = writeln!(
        h,
        "<h2>Last {} events</h2>\n<pre id=\"events\">",
        events.len()
    );
    for e in events.iter().rev() {
        let _ = writeln!(h, "{}", esc(e));
    }
    h.push_str("</pre>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn before_the_first_status_the_page_says_so() {
        let page = render(None, &Default::default(), 5, "gw<1>");
        assert!(page.contains("id=\"no-status\""), "{page}");
        assert!(page.contains("linewatch on gw&lt;1&gt;"), "{page}");
    }
}
