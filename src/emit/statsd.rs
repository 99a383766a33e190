//! DogStatsD: metrics, events (`_e`) and service checks (`_sc`) over UDP.
//!
//! Metrics go through cadence (tags, buffered UDP sink); events and service
//! checks are raw datagrams through the same sink, encoded by the pure
//! functions below. The sink is a bounded queue drained by cadence's own
//! thread: when the agent is slow or gone, lines are dropped and counted,
//! never waited for. That thread flushes its buffer whenever it has caught
//! up with the queue, so a line leaves within the time the queue takes to
//! drain (batched under load, alone when the line is quiet), and
//! [`Statsd::flush`] waits, at most [`DRAIN_LIMIT`], for the thread to
//! catch up before the process exits.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cadence::{
    BufferedUdpMetricSink, BufferedUnixMetricSink, Counted, Distributed, Gauged, MetricSink,
    QueuingMetricSink, StatsdClient,
};

use crate::event::{Event, EventKind, Side};
use crate::policy::Noted;
use crate::status::{Health, StatusDoc};

/// Lines the queue holds before dropping.
pub const QUEUE_LINES: usize = 8192;
/// How long [`Statsd::flush`] waits for the queue's thread to hand over
/// the lines queued before it: 8,192 lines take a few milliseconds, so
/// this is only reached when that thread cannot run (the lines left are
/// then lost, as a process that exits loses its queue).
pub const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);
/// Metric name prefix.
pub const PREFIX: &str = "linewatch";
/// An `address` starting with this is a Unix datagram socket's path.
pub const UNIX_SCHEME: &str = "unix://";

/// A DogStatsD tag value: no `,`, `|` or `#`, which delimit the datagram.
fn tag_value(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            ',' | '|' | '#' | '\n' => '_',
            c => c,
        })
        .collect()
}

fn tags(tags: &[(&str, &str)]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let t: Vec<String> = tags
        .iter()
        .map(|(k, v)| format!("{k}:{}", tag_value(v)))
        .collect();
    format!("|#{}", t.join(","))
}

/// Datadog alert type of an event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AlertType {
    /// Red.
    Error,
    /// Yellow.
    Warning,
    /// Blue.
    Info,
    /// Green.
    Success,
}

impl AlertType {
    fn name(self) -> &'static str {
        match self {
            AlertType::Error => "error",
            AlertType::Warning => "warning",
            AlertType::Info => "info",
            AlertType::Success => "success",
        }
    }

    /// The alert type for a health level.
    pub fn of(h: Health) -> AlertType {
        match h {
            Health::Ok => AlertType::Success,
            Health::Warning => AlertType::Warning,
            Health::Critical => AlertType::Error,
            Health::Unknown => AlertType::Info,
        }
    }
}

/// `_e{<title_len>,<text_len>}:<title>|<text>|d:<ts>|h:<host>|k:<key>|t:<type>|#tags`
/// (lengths in UTF-8 bytes, newlines in the text escaped as `\\n`).
pub fn event_line(
    title: &str,
    text: &str,
    ts: i64,
    host: &str,
    aggregation_key: &str,
    alert: AlertType,
    tag_list: &[(&str, &str)],
) -> String {
    let title = title.replace('\n', " ");
    let text = text.replace('\n', "\\n");
    format!(
        "_e{{{},{}}}:{title}|{text}|d:{ts}|h:{host}|k:{aggregation_key}|s:linewatch|t:{}{}",
        title.len(),
        text.len(),
        alert.name(),
        tags(tag_list)
    )
}

/// `_sc|<name>|<status>|d:<ts>|h:<host>|#tags|m:<message>` (`m:` last).
pub fn service_check_line(
    name: &str,
    status: Health,
    ts: i64,
    host: &str,
    tag_list: &[(&str, &str)],
    message: &str,
) -> String {
    let message = message.replace('\n', " ").replace('|', "/");
    format!(
        "_sc|{name}|{}|d:{ts}|h:{host}{}|m:{message}",
        status.exit_code(),
        tags(tag_list)
    )
}

/// A sink shared by the cadence client and the raw lines.
#[derive(Clone)]
struct Shared(Arc<dyn MetricSink + Send + Sync + std::panic::RefUnwindSafe>);

impl MetricSink for Shared {
    fn emit(&self, metric: &str) -> std::io::Result<usize> {
        self.0.emit(metric)
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Lines accepted by the queue and lines its thread has handed to the
/// transport: equal when the queue is idle.
#[derive(Debug, Default)]
struct Progress {
    queued: AtomicU64,
    handed: AtomicU64,
}

impl Progress {
    fn caught_up(&self) -> bool {
        self.handed.load(Ordering::Acquire) >= self.queued.load(Ordering::Acquire)
    }
}

/// The agent's transport (a buffered socket sink) as the queue's thread
/// sees it: it counts what it is handed, flushes once it has caught up
/// with the queue, and counts a line it could not take (the agent's socket
/// full or gone: cadence drops the queue thread's errors) as dropped.
struct Transport<S> {
    socket: S,
    progress: Arc<Progress>,
    dropped: Arc<AtomicU64>,
}

impl<S: MetricSink> MetricSink for Transport<S> {
    fn emit(&self, metric: &str) -> std::io::Result<usize> {
        let sent = self.socket.emit(metric);
        if sent.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.progress.handed.fetch_add(1, Ordering::AcqRel);
        if self.progress.caught_up() {
            // A failed flush keeps the buffer for the next one.
            let _ = self.socket.flush();
        }
        sent
    }
    fn flush(&self) -> std::io::Result<()> {
        self.socket.flush()
    }
}

/// The bounded queue in front of a [`Transport`]: counts what it accepts,
/// and its flush waits (at most [`DRAIN_LIMIT`]) until the transport has
/// been handed all of it.
struct Queued {
    queue: QueuingMetricSink,
    progress: Arc<Progress>,
}

impl Queued {
    fn new(
        socket: impl MetricSink + Send + Sync + std::panic::RefUnwindSafe + 'static,
        dropped: &Arc<AtomicU64>,
    ) -> Queued {
        let progress = Arc::new(Progress::default());
        let transport = Transport {
            socket,
            progress: progress.clone(),
            dropped: dropped.clone(),
        };
        Queued {
            queue: QueuingMetricSink::with_capacity(transport, QUEUE_LINES),
            progress,
        }
    }
}

impl MetricSink for Queued {
    fn emit(&self, metric: &str) -> std::io::Result<usize> {
        let n = self.queue.emit(metric)?;
        self.progress.queued.fetch_add(1, Ordering::AcqRel);
        Ok(n)
    }
    fn flush(&self) -> std::io::Result<()> {
        let start = std::time::Instant::now();
        while !self.progress.caught_up() && start.elapsed() < DRAIN_LIMIT {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.queue.flush()
    }
}

/// The DogStatsD emitter.
pub struct Statsd {
    client: StatsdClient,
    sink: Shared,
    host: String,
    dropped: Arc<AtomicU64>,
    /// Last cumulative capture counters, to send deltas as counts.
    last_capture: Vec<(String, [u64; 4])>,
}

impl std::fmt::Debug for Statsd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statsd").field("host", &self.host).finish()
    }
}

impl Statsd {
    /// An emitter sending to `address`: `host:port` over UDP (default
    /// 127.0.0.1:8125), or `unix:///path` over a Unix datagram socket (the
    /// Datadog agent's `dsd.socket`, its recommended transport on the same
    /// host). Both go through the same bounded queue: a slow or absent
    /// agent costs dropped, counted lines, never a wait.
    pub fn new(address: &str, host: &str) -> std::io::Result<Statsd> {
        let dropped = Arc::new(AtomicU64::new(0));
        let queued = if let Some(path) = address.strip_prefix(UNIX_SCHEME) {
            let socket = std::os::unix::net::UnixDatagram::unbound()?;
            socket.set_nonblocking(true)?;
            Queued::new(BufferedUnixMetricSink::from(path, socket), &dropped)
        } else {
            let socket = UdpSocket::bind("0.0.0.0:0")?;
            socket.set_nonblocking(true)?;
            let udp = BufferedUdpMetricSink::from(address, socket)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Queued::new(udp, &dropped)
        };
        Ok(Statsd::counting(queued, host, dropped))
    }

    /// An emitter writing to any sink (dry runs and tests).
    pub fn with_sink(
        sink: impl MetricSink + Send + Sync + std::panic::RefUnwindSafe + 'static,
        host: &str,
    ) -> Statsd {
        Statsd::counting(sink, host, Arc::new(AtomicU64::new(0)))
    }

    fn counting(
        sink: impl MetricSink + Send + Sync + std::panic::RefUnwindSafe + 'static,
        host: &str,
        dropped: Arc<AtomicU64>,
    ) -> Statsd {
        let sink = Shared(Arc::new(sink));
        let counter = dropped.clone();
        let client = StatsdClient::builder(PREFIX, sink.clone())
            .with_error_handler(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
            })
            .build();
        Statsd {
            client,
            sink,
            host: host.to_string(),
            dropped,
            last_capture: Vec::new(),
        }
    }

    /// Lines dropped (queue full or send error).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn raw(&self, line: &str) {
        if self.sink.emit(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an event: FIN and RST by side, reconnects (the policy tells
    /// which `established` replaces a lost connection), refusals,
    /// silences, black holes, capture losses.
    pub fn on_event(&mut self, e: &Event, noted: Noted) {
        let link = e.link.as_deref().unwrap_or("none");
        let peer = e.conn.map(|c| c.peer.to_string()).unwrap_or_default();
        let side = match &e.kind {
            EventKind::FinFrom(s) | EventKind::ResetFrom(s) | EventKind::ResetIgnored(s) => {
                Some(match s {
                    Side::Local => "local",
                    Side::Peer => "peer",
                })
            }
            _ => None,
        };
        let reconnect = noted.reconnect;
        let name = match &e.kind {
            EventKind::FinFrom(_) => "fin",
            EventKind::ResetFrom(_) => "reset",
            EventKind::ResetIgnored(_) => "reset_ignored",
            EventKind::Established if reconnect => "reconnect",
            EventKind::Established => "established",
            EventKind::Refused => "refused",
            EventKind::SynUnanswered => "syn_unanswered",
            EventKind::Silence { .. } => "silence",
            EventKind::BlackHole { .. } => "black_hole",
            EventKind::LinkDown { .. } => "link_down",
            EventKind::CaptureLost { .. } => "capture.lost",
            EventKind::CaptureDegraded { .. } => "capture.degraded",
            EventKind::IcmpError { .. } => "icmp_error",
            _ => return,
        };
        let mut m = self.client.count_with_tags(name, 1).with_tag("link", link);
        if !peer.is_empty() {
            m = m.with_tag("peer", &peer);
        }
        if let Some(s) = side {
            m = m.with_tag("side", s);
        }
        // Who really sent a FIN, RST or refusal: `sender:middlebox` is
        // what a dashboard of injected resets filters on.
        if let Some(a) = &e.attribution {
            m = m.with_tag("sender", a.sender.name());
        }
        let iface;
        if let EventKind::CaptureLost { interface, .. }
        | EventKind::CaptureDegraded { interface, .. } = &e.kind
        {
            iface = interface.to_string();
            m = m.with_tag("iface", &iface);
        }
        m.send();
    }

    /// Round trips and response times taken since the last call, as
    /// DogStatsD distributions in ms (`linewatch.rtt`,
    /// `linewatch.response_time`), and slow responses as a count. One
    /// value per histogram bucket, with a sample rate of 1/count: the
    /// agent counts it `count` times, so a link with a thousand samples a
    /// second is a few dozen datagrams per interval, within a bucket's
    /// precision (0.4 %).
    pub fn on_fresh(&mut self, fresh: &[crate::track::Fresh]) {
        use crate::track::Measure;
        for f in fresh {
            let link = f.link.as_deref().unwrap_or("none");
            let peer = f.ends.peer.to_string();
            let value = (f.value_ms * 1_000.0).round() / 1_000.0;
            let rate = 1.0 / f64::from(f.count.max(1));
            let m = match f.measure {
                Measure::Rtt => self.client.distribution_with_tags("rtt", value),
                Measure::Response => self.client.distribution_with_tags("response_time", value),
                Measure::SlowResponses => {
                    self.client
                        .count_with_tags("slow_responses", u64::from(f.count))
                        .with_tag("link", link)
                        .with_tag("peer", &peer)
                        .send();
                    continue;
                }
            };
            let m = if f.count > 1 {
                m.with_sampling_rate(rate)
            } else {
                m
            };
            m.with_tag("link", link).with_tag("peer", &peer).send();
        }
    }

    /// A connection's rates as gauges: retransmission rate (percent of
    /// data segments in the last complete minute) and zero-window time by
    /// side, the round-trip floor.
    fn analytics_gauges(&self, link: &str, peer: &str, a: &crate::output::analytics::AnalyticsDoc) {
        for (side, rate, zero) in [
            ("local", a.retransmit_rate.local, a.zero_window_s.local),
            ("peer", a.retransmit_rate.peer, a.zero_window_s.peer),
        ] {
            if let Some(r) = rate {
                self.client
                    .gauge_with_tags("connection.retransmit_rate", r * 100.0)
                    .with_tag("link", link)
                    .with_tag("peer", peer)
                    .with_tag("side", side)
                    .send();
            }
            self.client
                .gauge_with_tags("connection.zero_window", zero)
                .with_tag("link", link)
                .with_tag("peer", peer)
                .with_tag("side", side)
                .send();
        }
        if let Some(floor) = a.rtt_ms.as_ref().and_then(|r| r.floor) {
            self.client
                .gauge_with_tags("connection.rtt_floor", floor)
                .with_tag("link", link)
                .with_tag("peer", peer)
                .send();
        }
    }

    /// Gauges and the service check from a status document (called each
    /// time the daemon writes it), plus the probe heartbeat.
    pub fn on_status(&mut self, doc: &StatusDoc) {
        let ts = doc.written_at as i64;
        for l in &doc.links {
            let iface = l.interface.clone().unwrap_or_default();
            self.client
                .gauge_with_tags("link.established", u64::from(l.established))
                .with_tag("link", &l.name)
                .with_tag("iface", &iface)
                .send();
            self.client
                .gauge_with_tags("link.health", u64::from(l.verdict.health.exit_code()))
                .with_tag("link", &l.name)
                .with_tag("iface", &iface)
                .send();
            // 1 while the link is in a maintenance window (its faults do
            // not page): a monitor can mute on it.
            self.client
                .gauge_with_tags(
                    "link.maintenance",
                    u64::from(l.verdict.maintenance.is_some()),
                )
                .with_tag("link", &l.name)
                .with_tag("iface", &iface)
                .send();
            for c in &l.connections {
                if let Some(a) = &c.analytics {
                    self.analytics_gauges(&l.name, &c.peer, a);
                }
                for (side, last) in [("local", c.last_from_local), ("peer", c.last_from_peer)] {
                    if let Some(t) = last {
                        self.client
                            .gauge_with_tags(
                                "connection.last_packet_age",
                                (doc.written_at - t).max(0.0),
                            )
                            .with_tag("link", &l.name)
                            .with_tag("peer", &c.peer)
                            .with_tag("side", side)
                            .send();
                    }
                }
            }
            self.raw(&service_check_line(
                "linewatch.link",
                l.verdict.health,
                ts,
                &self.host,
                &[("link", &l.name), ("iface", &iface)],
                &format!("{}: {}", l.name, l.verdict.reason),
            ));
        }
        for c in &doc.captures {
            let now = [c.received, c.dropped, c.if_dropped, c.queue_dropped];
            let before = self
                .last_capture
                .iter()
                .find(|(i, _)| i == &c.interface)
                .map(|(_, v)| *v)
                .unwrap_or([0; 4]);
            for (i, name) in [
                "capture.received",
                "capture.dropped",
                "capture.if_dropped",
                "capture.queue_dropped",
            ]
            .iter()
            .enumerate()
            {
                let (n, b) = (
                    now.get(i).copied().unwrap_or(0),
                    before.get(i).copied().unwrap_or(0),
                );
                let delta = n.saturating_sub(b);
                self.client
                    .count_with_tags(name, delta)
                    .with_tag("iface", &c.interface)
                    .send();
            }
            self.last_capture.retain(|(i, _)| i != &c.interface);
            self.last_capture.push((c.interface.clone(), now));
        }
        // The probe's own health, apart from the lines: a channel that does
        // not wait behind a stuck PagerDuty outbox.
        let (probe, why) = if doc.probe.troubles.is_empty() {
            (Health::Ok, "probe healthy".to_string())
        } else {
            (Health::Warning, doc.probe.troubles.join("; "))
        };
        self.raw(&service_check_line(
            "linewatch.probe",
            probe,
            ts,
            &self.host,
            &[],
            &why,
        ));
        for o in &doc.probe.outboxes {
            self.client
                .gauge_with_tags("emit.pending", o.pending)
                .with_tag("dest", &o.destination)
                .send();
            self.client
                .gauge_with_tags("emit.dropped_full", o.dropped_full)
                .with_tag("dest", &o.destination)
                .send();
        }
        self.client.gauge("probe.heartbeat", 1u64).ok();
        self.client
            .gauge("emit.statsd_dropped", self.dropped())
            .ok();
    }

    /// A Datadog event for a link's health change.
    pub fn on_health_change(&mut self, link: &str, from: Health, to: Health, why: &str, ts: i64) {
        let title = format!("linewatch {link}: {} -> {}", from.upper(), to.upper());
        let line = event_line(
            &title,
            why,
            ts,
            &self.host,
            &format!("linewatch-{link}"),
            AlertType::of(to),
            &[("link", link)],
        );
        self.raw(&line);
    }

    /// Pushes queued and buffered lines out: waits (at most
    /// [`DRAIN_LIMIT`]) for the queue's thread to hand them over, then
    /// sends its buffer, so that what was emitted before has left when
    /// this returns (a process about to exit calls it last).
    pub fn flush(&self) {
        let _ = self.sink.flush();
    }
}

/// A sink that keeps the lines (dry runs and tests).
#[derive(Clone, Debug, Default)]
pub struct LineSink(pub Arc<std::sync::Mutex<Vec<String>>>);

impl MetricSink for LineSink {
    fn emit(&self, metric: &str) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.push(metric.to_string());
        }
        Ok(metric.len())
    }
}

impl LineSink {
    /// Takes the lines collected so far.
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent's Unix datagram socket: the same lines, through the same
    /// queue, to a real listener.
    #[test]
    fn lines_reach_a_unix_datagram_socket() {
        let dir = std::env::temp_dir().join(format!("linewatch-dsd-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("dsd.socket");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let s = Statsd::new(&format!("unix://{}", path.display()), "gw-a").unwrap();
        s.client
            .count_with_tags("fin", 1)
            .with_tag("link", "visa-primary")
            .send();
        s.raw(&service_check_line(
            "linewatch.link",
            Health::Ok,
            1_700_000_000,
            "gw-a",
            &[("link", "visa-primary")],
            "visa-primary: 1/1 connections established",
        ));
        s.flush();
        drop(s);
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < 2 {
            let n = listener.recv(&mut buf).unwrap();
            got.extend(
                String::from_utf8_lossy(buf.get(..n).unwrap_or_default())
                    .lines()
                    .map(str::to_string),
            );
        }
        assert_eq!(
            got,
            [
                "linewatch.fin:1|c|#link:visa-primary".to_string(),
                "_sc|linewatch.link|0|d:1700000000|h:gw-a|#link:visa-primary|m:visa-primary: 1/1 connections established".to_string(),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A real UDP listener (reads time out after 5 s) and an emitter
    /// sending to it.
    fn udp_agent() -> (UdpSocket, Statsd) {
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        listener
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let s = Statsd::new(&listener.local_addr().unwrap().to_string(), "gw-a").unwrap();
        (listener, s)
    }

    /// A transport that takes 1 ms per line, as a loaded host's agent
    /// socket may: the queue's thread falls behind the emitter.
    #[derive(Clone, Default)]
    struct SlowSocket(LineSink);

    impl MetricSink for SlowSocket {
        fn emit(&self, metric: &str) -> std::io::Result<usize> {
            std::thread::sleep(std::time::Duration::from_millis(1));
            self.0.emit(metric)
        }
    }

    /// A process about to exit flushes last: every line emitted before
    /// has reached the transport when the flush returns (cadence's own
    /// flush only sends what its thread has already taken; a CI run of a
    /// replay lost every line that way).
    #[test]
    fn a_flush_waits_until_the_queue_has_handed_over_every_line() {
        let socket = SlowSocket::default();
        let dropped = Arc::new(AtomicU64::new(0));
        let s = Statsd::counting(Queued::new(socket.clone(), &dropped), "gw-a", dropped);
        for i in 0..50 {
            s.raw(&format!("linewatch.test:{i}|c"));
        }
        s.flush();
        let lines = socket.0.take();
        assert_eq!(lines.len(), 50, "{lines:?}");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("linewatch.test:49|c")
        );
        assert_eq!(s.dropped(), 0);
    }

    /// The daemon never calls flush between events: a lone FIN counter
    /// leaves as soon as the queue's thread has caught up, not when the
    /// 512-byte buffer happens to fill (it would wait for the next
    /// status period's gauges).
    #[test]
    fn a_lone_line_leaves_without_a_flush() {
        let (listener, s) = udp_agent();
        s.raw("linewatch.fin:1|c|#link:visa-primary");
        let mut buf = [0u8; 2048];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(
            buf.get(..n),
            Some(&b"linewatch.fin:1|c|#link:visa-primary\n"[..])
        );
        drop(s);
    }

    /// An agent socket that is not there: the lines the transport cannot
    /// take are counted as dropped (cadence discards its queue thread's
    /// errors), so `linewatch.emit.statsd_dropped` tells the truth.
    #[test]
    fn lines_the_agent_socket_refuses_are_counted_as_dropped() {
        let dir = std::env::temp_dir().join(format!("linewatch-dsd-gone-{}", std::process::id()));
        let s = Statsd::new(
            &format!("unix://{}", dir.join("absent.socket").display()),
            "gw-a",
        )
        .unwrap();
        for i in 0..100 {
            s.raw(&format!("linewatch.test:{i}|c|#link:visa-primary"));
        }
        s.flush();
        // The 512-byte buffer holds the first lines for a later send.
        assert!((80..=100).contains(&s.dropped()), "dropped {}", s.dropped());
    }

    /// Distributions against a real UDP listener, byte for byte: one
    /// value per bucket, its count as the sample rate.
    #[test]
    fn round_trips_and_responses_are_distributions_with_sample_rates() {
        use crate::track::{Fresh, Measure};
        let (listener, mut s) = udp_agent();
        let ends = crate::event::Endpoints {
            local: "10.0.0.5:40123".parse().unwrap(),
            peer: "203.0.113.10:5000".parse().unwrap(),
        };
        let fresh = |measure, value_ms, count| Fresh {
            link: Some(Arc::from("visa-primary")),
            ends,
            measure,
            value_ms,
            count,
        };
        s.on_fresh(&[
            fresh(Measure::Rtt, 40.019_531, 4),
            fresh(Measure::Rtt, 41.5, 1),
            fresh(Measure::Response, 150.25, 3),
            fresh(Measure::SlowResponses, 0.0, 2),
        ]);
        // The queue's thread sends what it buffered as it stops.
        s.flush();
        drop(s);
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < 4 {
            let n = listener.recv(&mut buf).unwrap();
            got.extend(
                String::from_utf8_lossy(buf.get(..n).unwrap_or_default())
                    .lines()
                    .map(str::to_string),
            );
        }
        let tags = "#link:visa-primary,peer:203.0.113.10:5000";
        assert_eq!(
            got,
            [
                format!("linewatch.rtt:40.02|d|@0.25|{tags}"),
                format!("linewatch.rtt:41.5|d|{tags}"),
                format!("linewatch.response_time:150.25|d|@0.3333333333333333|{tags}"),
                format!("linewatch.slow_responses:2|c|{tags}"),
            ]
        );
    }

    #[test]
    fn event_lines_follow_the_datagram_format() {
        let l = event_line(
            "visa-primary: OK -> CRITICAL",
            "peer sent FIN\n0/1 up",
            1_700_000_000,
            "gw-a",
            "linewatch-visa-primary",
            AlertType::Error,
            &[("link", "visa-primary")],
        );
        assert_eq!(
            l,
            "_e{28,21}:visa-primary: OK -> CRITICAL|peer sent FIN\\n0/1 up|d:1700000000|h:gw-a|k:linewatch-visa-primary|s:linewatch|t:error|#link:visa-primary"
        );
    }

    #[test]
    fn service_check_puts_the_message_last() {
        let l = service_check_line(
            "linewatch.link",
            Health::Critical,
            5,
            "gw-a",
            &[("link", "a,b|c")],
            "down | badly",
        );
        assert_eq!(
            l,
            "_sc|linewatch.link|2|d:5|h:gw-a|#link:a_b_c|m:down / badly"
        );
    }

    #[test]
    fn the_first_connection_is_established_and_the_one_after_a_fin_a_reconnect() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let config = crate::config::Config::load(&dir.join("linewatch.toml")).unwrap();
        let r =
            crate::mode::replay::collect(&dir.join("iso8583-fin-from-peer.pcap"), &config).unwrap();
        let sink = LineSink::default();
        let mut st = Statsd::with_sink(sink.clone(), "gw-a");
        let mut policy = crate::policy::Policy::new(&config, "gw-a");
        for e in &r.events {
            let noted = policy.on_event(e, &mut Vec::new());
            st.on_event(e, noted);
        }
        st.flush();
        let lines = sink.take();
        let count = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
        assert_eq!(
            count("linewatch.established:1|c|#link:visa-primary"),
            1,
            "{lines:#?}"
        );
        assert_eq!(
            count("linewatch.reconnect:1|c|#link:visa-primary"),
            1,
            "{lines:#?}"
        );
    }
}
