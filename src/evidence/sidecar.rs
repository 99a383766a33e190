//! The sidecar `<name>.json` beside each evidence file: the incident (its
//! link, events with their packet numbers within the file, first and last
//! time) and, once the file is closed, the file's SHA-256, so that anyone
//! can show the pcapng is the one linewatch wrote.

use serde_json::{json, Value};

use super::recorder::Incident;

/// The sidecar's bytes for `incident`; `sha256` once the file is closed.
pub fn render(incident: &Incident, sha256: Option<&str>) -> Vec<u8> {
    let events: Vec<Value> = incident
        .events
        .iter()
        .map(|c| {
            json!({
                "packet_in_file": c.packet_in_file,
                "event": crate::output::event_json::value(&c.event),
            })
        })
        .collect();
    let closed = sha256.is_some();
    let doc = json!({
        "linewatch": env!("CARGO_PKG_VERSION"),
        "link": &*incident.link,
        "file": format!("{}.pcapng", incident.name),
        "state": if closed { "closed" } else { "open" },
        "packets": incident.packets,
        "from": incident.from.rfc3339(),
        "to": closed.then(|| incident.to.rfc3339()),
        "sha256": sha256,
        "cut_short_by_end_of_capture": incident.cut_short,
        "ring_evicted_before_open": incident.evicted_before,
        "syns_not_kept": incident.syns_not_kept,
        "events_not_listed": incident.events_not_listed,
        "headers_only": true,
        "events": events,
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}
