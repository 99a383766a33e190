//! `/metrics`: the daemon's status document and its event counters in the
//! OpenMetrics text format, through the official `prometheus-client`
//! crate. A pure encoder, as the DogStatsD one: it renders the verdict the
//! policy wrote into the status document, it judges nothing.
//!
//! Labels are `link`, `peer`, `side` and `interface` only, and their
//! values come from the config (links, their interfaces) or from the
//! connections of configured links (peers), so the number of series is
//! bounded by the config: a scan or a flood adds none. Events of flows of
//! no configured link count under `link="none"`, without a peer.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::event::{Event, EventKind, Side};
use crate::status::StatusDoc;

/// A label set: pairs of the four names above.
type Labels = Vec<(&'static str, String)>;
/// A gauge that holds seconds, ratios and milliseconds as they are.
type FloatGauge = Gauge<f64, AtomicU64>;

/// The counters kept across scrapes: every FIN, RST and refused connection
/// the tracker reported since the daemon started (storm control limits
/// printed lines, not these).
#[derive(Clone, Debug, Default)]
pub struct EventCounters {
    fin: Family<Labels, Counter>,
    reset: Family<Labels, Counter>,
    refused: Family<Labels, Counter>,
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Local => "local",
        Side::Peer => "peer",
    }
}

impl EventCounters {
    /// Counters with a zero series for each of `links` (and each side):
    /// an alert on `increase(linewatch_reset_total[5m])` then has a series
    /// to work on before the first RST, and a scrape names every family.
    pub fn for_links<'a>(links: impl IntoIterator<Item = &'a str>) -> EventCounters {
        let c = EventCounters::default();
        for link in links {
            for side in ["local", "peer"] {
                let labels = vec![("link", link.to_string()), ("side", side.to_string())];
                let _ = c.fin.get_or_create(&labels);
                let _ = c.reset.get_or_create(&labels);
            }
            let _ = c.refused.get_or_create(&vec![("link", link.to_string())]);
        }
        c
    }

    /// Counts `e` if it is a FIN, a RST or a refused connection.
    pub fn count(&self, e: &Event) {
        let link = e.link.as_deref().unwrap_or("none").to_string();
        match &e.kind {
            EventKind::FinFrom(side) => self
                .fin
                .get_or_create(&vec![("link", link), ("side", side_name(*side).into())])
                .inc(),
            EventKind::ResetFrom(side) => self
                .reset
                .get_or_create(&vec![("link", link), ("side", side_name(*side).into())])
                .inc(),
            EventKind::Refused => self.refused.get_or_create(&vec![("link", link)]).inc(),
            _ => 0,
        };
    }
}

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of [`to_classic`]'s text.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a scraper's `Accept` header asks for OpenMetrics (Prometheus
/// does, first); anything else (curl, `promtool`, older agents) gets the
/// classic text format.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// The same metrics in Prometheus' classic text format (0.0.4), which
/// `prometheus-client` does not write: a counter's family is named with
/// its `_total` suffix there, and there is no `# EOF`. Everything else of
/// what [`render`] writes (no `info`, `unit` or exemplars) reads the same
/// in both formats.
pub fn to_classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|tag| {
            let rest = line.strip_prefix(tag)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{tag}{name}_total {tail}"))
        });
        match renamed {
            Some(r) => out.push_str(&r),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Families rebuilt from one status document.
struct FromDoc {
    registry: Registry,
}

impl FromDoc {
    fn gauge(&mut self, name: &str, help: &str) -> Family<Labels, FloatGauge> {
        let f = Family::<Labels, FloatGauge>::default();
        self.registry.register(name, help, f.clone());
        f
    }

    fn counter(&mut self, name: &str, help: &str) -> Family<Labels, Counter> {
        let f = Family::<Labels, Counter>::default();
        self.registry.register(name, help, f.clone());
        f
    }
}

/// Renders the metrics: those of `doc` (none before the first document)
/// and the counters. `version` is the build's, for `linewatch_build_info`.
pub fn render(doc: Option<&StatusDoc>, counters: &EventCounters, version: &str) -> String {
    let mut m = FromDoc {
        registry: Registry::with_prefix("linewatch"),
    };
    // A gauge set to 1, not OpenMetrics' `info` type: Prometheus' own
    // text parser (`promtool check metrics`, Prometheus before 3.0 asking
    // for the classic format) does not know `info`, and the series reads
    // the same, `linewatch_build_info{version="..."} 1`.
    let build = m.gauge("build_info", "The linewatch build serving these metrics");
    build
        .get_or_create(&vec![("version", version.to_string())])
        .set(1.0);
    m.registry.register(
        "fin",
        "FIN segments that closed a connection, by link and the side that sent them",
        counters.fin.clone(),
    );
    m.registry.register(
        "reset",
        "RST segments that reset a connection, by link and the side that sent them",
        counters.reset.clone(),
    );
    m.registry.register(
        "refused",
        "Connection attempts the peer refused (RST to a SYN), by link",
        counters.refused.clone(),
    );
    if let Some(doc) = doc {
        from_doc(&mut m, doc);
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &m.registry);
    out
}

fn from_doc(m: &mut FromDoc, doc: &StatusDoc) {
    let heartbeat = FloatGauge::default();
    heartbeat.set(doc.written_at);
    m.registry.register(
        "probe_heartbeat_timestamp_seconds",
        "When the daemon last wrote its status (Unix time): alert when it is older than a few status intervals",
        heartbeat,
    );
    let troubles = FloatGauge::default();
    troubles.set(doc.probe.troubles.len() as f64);
    m.registry.register(
        "probe_troubles",
        "The probe's own troubles (capture, delivery, state directory), as in its status",
        troubles,
    );

    let health = m.gauge(
        "link_health",
        "The policy's verdict on the link: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the check's exit codes)",
    );
    let established = m.gauge("link_established", "Established connections of the link");
    let expected = m.gauge(
        "link_expected",
        "Connections the link is configured to have",
    );
    let maintenance = m.gauge(
        "link_maintenance",
        "1 while the link is in a maintenance window: its faults are recorded but do not page",
    );
    let idle = m.gauge(
        "connection_idle_seconds",
        "Seconds since the last packet from each side of a connection of a link",
    );
    let packets = m.counter(
        "connection_packets",
        "Packets of a connection of a link, by the side that sent them",
    );
    let retransmissions = m.counter(
        "connection_retransmissions",
        "Retransmitted segments of a connection of a link, by the side that sent them",
    );
    let rtt_p50 = m.gauge(
        "connection_rtt_p50_seconds",
        "Median round-trip time over the connection's last minute (our data to the peer and back)",
    );
    let rtt_p99 = m.gauge(
        "connection_rtt_p99_seconds",
        "99th percentile round-trip time over the connection's last minute",
    );
    let rtt_floor = m.gauge(
        "connection_rtt_floor_seconds",
        "The connection's lowest round-trip time since it came up (the path's floor)",
    );
    let resp_p50 = m.gauge(
        "connection_response_p50_seconds",
        "Median time from a request to the peer's first answering segment, last minute",
    );
    let resp_p99 = m.gauge(
        "connection_response_p99_seconds",
        "99th percentile response time, last minute",
    );
    let retransmit_ratio = m.gauge(
        "connection_retransmit_ratio",
        "Retransmitted data segments over data segments, last minute, by sending side",
    );
    let zero_window = m.gauge(
        "connection_zero_window_seconds",
        "Seconds of the last minute each side advertised a zero receive window",
    );
    for l in &doc.links {
        let iface = l.interface.clone().unwrap_or_default();
        let link = vec![("link", l.name.clone()), ("interface", iface)];
        health
            .get_or_create(&link)
            .set(f64::from(l.verdict.health.exit_code()));
        established
            .get_or_create(&link)
            .set(f64::from(l.established));
        expected.get_or_create(&link).set(f64::from(l.expected));
        maintenance
            .get_or_create(&link)
            .set(if l.verdict.maintenance.is_some() {
                1.0
            } else {
                0.0
            });
        for c in &l.connections {
            let conn = || vec![("link", l.name.clone()), ("peer", c.peer.clone())];
            let by_side = |side: &'static str| {
                let mut v = conn();
                v.push(("side", side.to_string()));
                v
            };
            for (side, last, sent, again) in [
                (
                    "local",
                    c.last_from_local,
                    c.packets_local,
                    c.retransmissions_local,
                ),
                (
                    "peer",
                    c.last_from_peer,
                    c.packets_peer,
                    c.retransmissions_peer,
                ),
            ] {
                if let Some(last) = last {
                    idle.get_or_create(&by_side(side))
                        .set((doc.written_at - last).max(0.0));
                }
                packets.get_or_create(&by_side(side)).inc_by(sent);
                retransmissions.get_or_create(&by_side(side)).inc_by(again);
            }
            let Some(a) = &c.analytics else { continue };
            if let Some(w) = &a.rtt_ms {
                rtt_p50.get_or_create(&conn()).set(w.p50 / 1000.0);
                rtt_p99.get_or_create(&conn()).set(w.p99 / 1000.0);
                if let Some(floor) = w.floor {
                    rtt_floor.get_or_create(&conn()).set(floor / 1000.0);
                }
            }
            if let Some(w) = &a.response_ms {
                resp_p50.get_or_create(&conn()).set(w.p50 / 1000.0);
                resp_p99.get_or_create(&conn()).set(w.p99 / 1000.0);
            }
            for (side, rate, zero) in [
                ("local", a.retransmit_rate.local, a.zero_window_s.local),
                ("peer", a.retransmit_rate.peer, a.zero_window_s.peer),
            ] {
                if let Some(r) = rate {
                    retransmit_ratio.get_or_create(&by_side(side)).set(r);
                }
                zero_window.get_or_create(&by_side(side)).set(zero);
            }
        }
    }

    let up = m.gauge(
        "capture_up",
        "1 while the capture on the interface runs, 0 while it is starting or lost",
    );
    let received = m.counter(
        "capture_received",
        "Packets the capture received (libpcap's ps_recv)",
    );
    let dropped = m.counter(
        "capture_dropped",
        "Packets the kernel dropped for lack of buffer space (ps_drop)",
    );
    let if_dropped = m.counter(
        "capture_if_dropped",
        "Packets the interface or its driver dropped (ps_ifdrop)",
    );
    let queue_dropped = m.counter(
        "capture_queue_dropped",
        "Segments dropped because the tracker's queue was full",
    );
    for c in &doc.captures {
        let iface = vec![("interface", c.interface.clone())];
        up.get_or_create(&iface)
            .set(if c.state == "running" { 1.0 } else { 0.0 });
        received.get_or_create(&iface).inc_by(c.received);
        dropped.get_or_create(&iface).inc_by(c.dropped);
        if_dropped.get_or_create(&iface).inc_by(c.if_dropped);
        queue_dropped.get_or_create(&iface).inc_by(c.queue_dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters with one FIN from the peer of link `l` (a family without
    /// a series is not written at all).
    fn one_fin() -> EventCounters {
        let counters = EventCounters::default();
        counters
            .fin
            .get_or_create(&vec![("link", "l".into()), ("side", "peer".into())])
            .inc();
        counters
    }

    #[test]
    fn without_a_document_only_the_build_and_event_counters_show() {
        let counters = one_fin();
        let text = render(None, &counters, "9.9.9");
        assert!(
            text.contains("linewatch_build_info{version=\"9.9.9\"} 1.0"),
            "{text}"
        );
        assert!(text.contains("# TYPE linewatch_fin counter"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(!text.contains("link_health"), "{text}");
    }

    #[test]
    fn the_classic_format_names_counter_families_with_their_suffix() {
        let counters = one_fin();
        let text = to_classic(&render(None, &counters, "9.9.9"));
        assert!(
            text.contains("# TYPE linewatch_fin_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP linewatch_fin_total FIN"), "{text}");
        assert!(
            text.contains("# TYPE linewatch_build_info gauge\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }
}
