//! Live capture: one named thread per interface, libpcap underneath.
//!
//! Each thread opens its interface header-only (small snaplen), immediate
//! mode, a 50 ms timeout so it wakes without traffic, and a BPF filter for
//! the watched peers' TCP. It reads frames through a [`Source`] and runs
//! the pipeline's decode half ([`Front`]) right there, as replay's reader
//! thread does, and sends only [`Step`]s (header fields, or the time of a
//! skipped frame) over a bounded channel: no payload byte leaves
//! libpcap's buffer. The tracker thread feeds them to the tracker with
//! [`crate::pipeline::apply`], so a skipped frame moves the clock live
//! exactly as it does in replay. If the tracker falls behind and the
//! channel is full, the batch is dropped and counted (`queue_dropped`);
//! libpcap is never blocked. If the interface goes down or disappears, the
//! thread reports the capture lost and reopens it with backoff (0.25 s
//! doubling to 5 s) until it works again, without a restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant};

use crossbeam_channel::{Sender, TrySendError};

use super::{CaptureError, Source};
use crate::clock::sleep_unless_stopped;
use crate::config::{LinkSpec, PeerSpec};
use crate::decode::{Frame, LinkType};
use crate::pipeline::{Front, Headers, Step, WatchedLink};

/// Segments per batch before it is sent (a batch also goes on every timeout).
pub const BATCH: usize = 256;
/// Batches the channel holds; beyond, new batches are dropped and counted.
pub const QUEUE_BATCHES: usize = 128;
/// libpcap read timeout: how long a quiet capture sleeps before flushing.
pub const READ_TIMEOUT_MS: i32 = 50;
/// How long a capture thread waits for a quiet interface before it
/// flushes and looks at its stop flag again ([`READ_TIMEOUT_MS`]).
const READ_TIMEOUT: StdDuration = StdDuration::from_millis(READ_TIMEOUT_MS as u64);
/// Live interfaces are opened with microsecond timestamps: libpcap's
/// default, which every interface offers. (Nanoseconds may be refused per
/// interface, and the pcap crate does not say when; the header would then
/// be read in the wrong unit.) [`Source`] reads live headers in it.
pub const PRECISION: pcap::Precision = pcap::Precision::Micro;
/// Reopening an interface whose link type linewatch does not decode is
/// retried this slowly: it will not change soon.
const UNSUPPORTED_LINK_RETRY: StdDuration = StdDuration::from_secs(5);
/// How often kernel drop counters are read.
pub const STATS_EVERY: StdDuration = StdDuration::from_secs(2);
/// A capture or tracker loop that did not run for this long was stopped
/// (SIGSTOP, a starved host): the kernel may have dropped what came
/// meanwhile, so drop counters are read before anything else is done.
pub const STALL: StdDuration = StdDuration::from_secs(1);

/// What to capture on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSpec {
    /// Interface name.
    pub interface: String,
    /// BPF filter expression.
    pub filter: String,
    /// Header-only snaplen.
    pub snaplen: u32,
    /// Kernel buffer size.
    pub buffer_size: u32,
    /// The links on this interface that record evidence: each batch
    /// carries their frames' headers ([`crate::pipeline::Headers`]).
    pub record: Vec<WatchedLink>,
}

impl CaptureSpec {
    /// Whether `other` captures the same way: interface, filter, snaplen,
    /// buffer, and the same links' frames cut for evidence (by their place
    /// in the config and their addresses, not their thresholds: a reload that changes only a
    /// threshold keeps the capture running).
    pub fn same_capture(&self, other: &CaptureSpec) -> bool {
        let reach = |s: &CaptureSpec| -> Vec<(usize, Vec<PeerSpec>, Vec<PeerSpec>)> {
            s.record
                .iter()
                .map(|l| (l.index, l.spec.peers.clone(), l.spec.local.clone()))
                .collect()
        };
        self.interface == other.interface
            && self.filter == other.filter
            && self.snaplen == other.snaplen
            && self.buffer_size == other.buffer_size
            && reach(self) == reach(other)
    }

    /// One spec per interface named in `links`, with a filter for the
    /// watched peers (their TCP, in or outside a VLAN, plus ICMP errors).
    pub fn for_links(links: &[LinkSpec]) -> Vec<CaptureSpec> {
        let mut specs: Vec<CaptureSpec> = Vec::new();
        for (index, l) in links.iter().enumerate() {
            let Some(iface) = &l.interface else { continue };
            let terms: Vec<String> = l
                .peers
                .iter()
                .map(|p| {
                    let host = if p.is_host() {
                        format!("host {}", p.net.addr())
                    } else {
                        format!("net {}", p.net)
                    };
                    match p.port {
                        Some(port) => format!("({host} and port {port})"),
                        None => format!("({host})"),
                    }
                })
                .collect();
            match specs.iter_mut().find(|s| &s.interface == iface) {
                Some(s) => {
                    s.filter.push_str(" or ");
                    s.filter.push_str(&terms.join(" or "));
                    s.snaplen = s.snaplen.max(l.snaplen);
                    s.buffer_size = s.buffer_size.max(l.buffer_size);
                    s.record.extend(watched(index, l));
                }
                None => specs.push(CaptureSpec {
                    interface: iface.clone(),
                    filter: terms.join(" or "),
                    snaplen: l.snaplen,
                    buffer_size: l.buffer_size,
                    record: watched(index, l).into_iter().collect(),
                }),
            }
        }
        for s in &mut specs {
            let tcp = format!("tcp and ({})", s.filter);
            s.filter = format!("({tcp}) or {ICMP_ERRORS} or (vlan and (({tcp}) or {ICMP_ERRORS}))");
        }
        specs
    }
}

/// `l`, the link at `index`, if it records evidence.
fn watched(index: usize, l: &LinkSpec) -> Option<WatchedLink> {
    l.evidence.then(|| WatchedLink {
        index,
        spec: l.clone(),
    })
}

/// ICMP and ICMPv6 *errors* (unreachable, source quench, time exceeded,
/// parameter problem; ICMPv6 types 1-4), not echoes or neighbour discovery:
/// they quote the segment they are about, which tells the carrier where on
/// the path it was dropped. They carry no ports, so the filter cannot name
/// the peer; the tracker keeps only those about a tracked connection.
const ICMP_ERRORS: &str = "(icmp[icmptype] == icmp-unreach or icmp[icmptype] == icmp-sourcequench \
     or icmp[icmptype] == icmp-timxceed or icmp[icmptype] == icmp-paramprob \
     or (icmp6 and icmp6[0] >= 1 and icmp6[0] <= 4))";

/// What a capture thread tells the tracker thread.
#[derive(Debug)]
pub enum CaptureMsg {
    /// The decode half's steps, in capture order: decoded frames (TCP
    /// segments, ICMP errors about TCP) with their frame number on this
    /// interface, and skipped frames with their time. Feed them to the
    /// tracker with [`crate::pipeline::apply`].
    Steps {
        /// Index of the capture.
        capture: usize,
        /// The steps.
        steps: Vec<Step>,
        /// Their headers, when the capture records evidence (else empty).
        headers: Headers,
    },
    /// The capture is open (again).
    Opened {
        /// Index of the capture.
        capture: usize,
        /// Its link type.
        link: LinkType,
    },
    /// The kernel's drop counters went up (read after a stall, before
    /// the frames that waited are sent): sent in order with the steps, so
    /// that the tracker knows the capture is degraded before it judges
    /// the silence those frames may reveal.
    Dropped {
        /// Index of the capture.
        capture: usize,
    },
    /// The capture failed or could not be opened.
    Lost {
        /// Index of the capture.
        capture: usize,
        /// Why (libpcap's words plus what to do).
        reason: String,
    },
}

/// Counters a capture thread shares with the status writer.
#[derive(Debug, Default)]
pub struct CaptureCounters {
    /// Packets libpcap received, over all openings.
    pub received: AtomicU64,
    /// Kernel drops (buffer full).
    pub dropped: AtomicU64,
    /// Interface drops.
    pub if_dropped: AtomicU64,
    /// Segments (decoded frames) dropped because the channel was full.
    pub queue_dropped: AtomicU64,
    /// Frames decoded into segments.
    pub segments: AtomicU64,
    /// Frames skipped by the decoder.
    pub skipped: AtomicU64,
    /// The capture is open and reading.
    pub running: AtomicBool,
    /// Last error, if lost.
    pub error: Mutex<Option<String>>,
}

/// Adds what to do to a libpcap error message.
pub fn explain(interface: &str, message: &str) -> String {
    let m = message.to_lowercase();
    if m.contains("permission") || m.contains("not permitted") {
        format!(
            "{message}: capturing on {interface} needs CAP_NET_RAW (and CAP_NET_ADMIN): run as root, or under systemd with AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN, or `setcap cap_net_raw,cap_net_admin+ep` on the binary"
        )
    } else if m.contains("no such device")
        || m.contains("doesn't exist")
        || m.contains("disappeared")
    {
        format!("{message}: interface {interface} does not exist (yet); retrying")
    } else if m.contains("not up") || m.contains("went down") {
        format!("{message}: interface {interface} is down; retrying")
    } else {
        message.to_string()
    }
}

/// Opens `spec` for live capture with its filter, non-blocking, with
/// [`PRECISION`] timestamps: the bare libpcap handle, which
/// [`Source::open_live`] wraps.
pub(super) fn open(spec: &CaptureSpec) -> Result<pcap::Capture<pcap::Active>, String> {
    let snaplen = i32::try_from(spec.snaplen).unwrap_or(128);
    let buffer = i32::try_from(spec.buffer_size).unwrap_or(4 << 20);
    let mut cap = pcap::Capture::from_device(spec.interface.as_str())
        .and_then(|c| {
            c.promisc(false)
                .snaplen(snaplen)
                .immediate_mode(true)
                .timeout(READ_TIMEOUT_MS)
                .buffer_size(buffer)
                .precision(PRECISION)
                .open()
        })
        .map_err(|e| explain(&spec.interface, &e.to_string()))?;
    cap.filter(&spec.filter, true)
        .map_err(|e| format!("BPF filter `{}` rejected: {e}", spec.filter))?;
    // libpcap on Linux blocks in poll() regardless of the read timeout in
    // immediate mode; non-blocking reads plus our own poll() wake us up.
    cap.setnonblock()
        .map_err(|e| explain(&spec.interface, &e.to_string()))
}

/// Runs a capture thread for `spec` until `stop` is set. `first` is an
/// already opened capture (opened before privileges were dropped), or the
/// error that opening it gave.
pub fn spawn(
    index: usize,
    spec: CaptureSpec,
    first: Result<Source, CaptureError>,
    tx: Sender<CaptureMsg>,
    counters: Arc<CaptureCounters>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("capture-{}", spec.interface))
        .spawn(move || run(index, &spec, first, &tx, &counters, &stop))
}

fn run(
    index: usize,
    spec: &CaptureSpec,
    first: Result<Source, CaptureError>,
    tx: &Sender<CaptureMsg>,
    counters: &CaptureCounters,
    stop: &AtomicBool,
) {
    let mut next = Some(first);
    let mut backoff = StdDuration::from_millis(250);
    let mut reported_lost = false;
    // Frame numbers go on across reopenings: events never cite one twice.
    let mut packets = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // An interface found down is not opened (libpcap refuses it too).
        let attempt = next
            .take()
            .unwrap_or_else(|| Source::open_live(spec))
            .and_then(|s| s.check_up().map(|()| s));
        match attempt {
            Ok(mut source) => {
                backoff = StdDuration::from_millis(250);
                reported_lost = false;
                counters.running.store(true, Ordering::Relaxed);
                if let Ok(mut e) = counters.error.lock() {
                    *e = None;
                }
                let _ = tx.send_timeout(
                    CaptureMsg::Opened {
                        capture: index,
                        link: source.link(),
                    },
                    StdDuration::from_secs(1),
                );
                let mut front = Front::resume(source.link(), packets);
                let mut batch = Batch::new(index, tx, counters, &spec.record);
                let ended = pump(&mut source, &mut front, &mut batch, counters, stop);
                packets = front.packets();
                counters.running.store(false, Ordering::Relaxed);
                if let Err(e) = ended {
                    lost(index, tx, counters, e.to_string());
                    reported_lost = true;
                }
            }
            Err(e) => {
                counters.running.store(false, Ordering::Relaxed);
                let wait = match e {
                    CaptureError::InterfaceLinkType { .. } => UNSUPPORTED_LINK_RETRY,
                    _ => {
                        let wait = backoff;
                        backoff = (backoff * 2).min(StdDuration::from_secs(5));
                        wait
                    }
                };
                if !reported_lost {
                    lost(index, tx, counters, e.to_string());
                    reported_lost = true;
                }
                sleep_unless_stopped(wait, stop);
            }
        }
    }
}

fn lost(index: usize, tx: &Sender<CaptureMsg>, counters: &CaptureCounters, reason: String) {
    if let Ok(mut e) = counters.error.lock() {
        *e = Some(reason.clone());
    }
    let _ = tx.send_timeout(
        CaptureMsg::Lost {
            capture: index,
            reason,
        },
        StdDuration::from_secs(1),
    );
}

/// The steps read since the last send, and where they go.
struct Batch<'a> {
    index: usize,
    tx: &'a Sender<CaptureMsg>,
    counters: &'a CaptureCounters,
    steps: Vec<Step>,
    /// The links whose frames' headers the batch carries (none: no
    /// headers).
    record: &'a [WatchedLink],
    headers: Headers,
}

impl<'a> Batch<'a> {
    fn new(
        index: usize,
        tx: &'a Sender<CaptureMsg>,
        counters: &'a CaptureCounters,
        record: &'a [WatchedLink],
    ) -> Batch<'a> {
        Batch {
            index,
            tx,
            counters,
            steps: Vec::with_capacity(BATCH),
            record,
            headers: Headers::default(),
        }
    }

    /// Decodes `frame` with `front` into its step, counts it, and sends
    /// the batch once it is full.
    fn read(&mut self, front: &mut Front, frame: &Frame<'_>) {
        let step = front.read(frame);
        let counter = match step {
            Step::Decoded { .. } => &self.counters.segments,
            Step::Skipped { .. } => &self.counters.skipped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !self.record.is_empty() {
            self.headers.push(front.link(), self.record, &step, frame);
        }
        self.steps.push(step);
        if self.steps.len() >= BATCH {
            self.flush();
        }
    }

    /// Sends what there is, without waiting: if the tracker thread is
    /// behind and the channel is full, the batch is dropped and its
    /// segments counted.
    fn flush(&mut self) {
        if self.steps.is_empty() {
            return;
        }
        let msg = CaptureMsg::Steps {
            capture: self.index,
            // Exact copies: the batch being filled keeps its capacity
            // here, and a queued batch costs what it holds, not a full
            // batch's capacity (a slow low-rate daemon thread queues
            // many batches of one or two frames: at full capacity each,
            // 128 of them held 3 MiB).
            steps: self.steps.drain(..).collect(),
            headers: self.headers.take_exact(),
        };
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(msg) | TrySendError::Disconnected(msg)) => {
                let segments = match &msg {
                    CaptureMsg::Steps { steps, .. } => steps
                        .iter()
                        .filter(|s| matches!(s, Step::Decoded { .. }))
                        .count(),
                    _ => 0,
                };
                self.counters
                    .queue_dropped
                    .fetch_add(segments as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Reads until an error (returned) or `stop` (`Ok`).
fn pump(
    source: &mut Source,
    front: &mut Front,
    batch: &mut Batch<'_>,
    counters: &CaptureCounters,
    stop: &AtomicBool,
) -> Result<(), CaptureError> {
    let mut last_stats = Instant::now();
    let mut last_loop = Instant::now();
    let base = (
        counters.received.load(Ordering::Relaxed),
        counters.dropped.load(Ordering::Relaxed),
        counters.if_dropped.load(Ordering::Relaxed),
    );
    loop {
        if stop.load(Ordering::Relaxed) {
            batch.flush();
            return Ok(());
        }
        let stalled = last_loop.elapsed() >= STALL;
        last_loop = Instant::now();
        if stalled || last_stats.elapsed() >= STATS_EVERY {
            last_stats = Instant::now();
            if let Err(e) = source.check_up() {
                batch.flush();
                return Err(e);
            }
            let before = counters.dropped.load(Ordering::Relaxed)
                + counters.if_dropped.load(Ordering::Relaxed);
            if let Some(s) = source.stats() {
                counters
                    .received
                    .store(base.0 + u64::from(s.received), Ordering::Relaxed);
                counters
                    .dropped
                    .store(base.1 + u64::from(s.dropped), Ordering::Relaxed);
                counters
                    .if_dropped
                    .store(base.2 + u64::from(s.if_dropped), Ordering::Relaxed);
            }
            let after = counters.dropped.load(Ordering::Relaxed)
                + counters.if_dropped.load(Ordering::Relaxed);
            if stalled && after > before {
                batch.flush();
                // Full channel: the tracker's own look at the counters
                // finds the drops a little later.
                let _ = batch.tx.try_send(CaptureMsg::Dropped {
                    capture: batch.index,
                });
            }
        }
        // Drain what is there, then wait up to READ_TIMEOUT for more.
        loop {
            match source.next_frame() {
                Ok(Some(frame)) => batch.read(front, &frame),
                Ok(None) => break,
                Err(e) => {
                    batch.flush();
                    return Err(e);
                }
            }
        }
        batch.flush();
        source.wait_readable(READ_TIMEOUT)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::pipeline::apply;
    use crate::time::Timestamp;
    use crate::track::Tracker;

    /// An Ethernet ARP frame: not IP, so the decoder skips it.
    fn arp() -> Vec<u8> {
        let mut f = vec![0xff; 12];
        f.extend_from_slice(&[0x08, 0x06]);
        f.extend_from_slice(&[0; 28]);
        f
    }

    /// The live path applies the rule replay applies: a skipped frame is
    /// sent as a step with its time, and moves the tracker's clock there
    /// when the tracker thread applies it, as `linewatch run` does.
    #[test]
    fn a_skipped_frame_moves_the_clock_on_the_live_path() {
        let (tx, rx) = crossbeam_channel::bounded(4);
        let counters = CaptureCounters::default();
        // A reopened interface: frame numbers go on after 41.
        let mut front = Front::resume(LinkType::Ethernet, 41);
        let mut batch = Batch::new(3, &tx, &counters, &[]);
        let data = arp();
        let t0 = Timestamp::from_parts(1_700_000_000, 0);
        let t1 = Timestamp::from_parts(1_700_000_600, 250_000_000);
        for ts in [t0, t1] {
            let frame = Frame {
                ts,
                data: &data,
                wire_len: 42,
            };
            batch.read(&mut front, &frame);
        }
        batch.flush();
        assert_eq!(front.packets(), 43);
        assert_eq!(counters.skipped.load(Ordering::Relaxed), 2);
        assert_eq!(counters.segments.load(Ordering::Relaxed), 0);
        let Ok(CaptureMsg::Steps {
            capture: 3, steps, ..
        }) = rx.try_recv()
        else {
            panic!("one batch of steps from capture 3");
        };
        assert_eq!(steps, [Step::Skipped { ts: t0 }, Step::Skipped { ts: t1 }]);

        let mut tracker = Tracker::new(&Config::default());
        let mut events = Vec::new();
        for step in &steps {
            apply(&mut tracker, step, &mut events);
        }
        assert_eq!(tracker.now(), t1);
    }

    /// A batch the full channel refuses is counted as its segments: the
    /// skipped frames in it were not segments.
    #[test]
    fn a_refused_batch_counts_only_its_segments() {
        let (tx, _rx) = crossbeam_channel::bounded(0);
        let counters = CaptureCounters::default();
        let mut front = Front::new(LinkType::Ethernet);
        let mut batch = Batch::new(0, &tx, &counters, &[]);
        let data = arp();
        let frame = Frame {
            ts: Timestamp::from_parts(1_700_000_000, 0),
            data: &data,
            wire_len: 42,
        };
        batch.read(&mut front, &frame);
        batch.flush();
        assert_eq!(counters.queue_dropped.load(Ordering::Relaxed), 0);
        assert!(batch.steps.is_empty());
    }

    /// The generated filter is what libpcap compiles, for one link, two
    /// links on one interface, IPv6 and CIDR peers.
    #[test]
    fn generated_filters_compile_in_libpcap() {
        let config = crate::config::Config::parse(
            "[[link]]\nname = \"a\"\ninterface = \"eth1\"\npeer = [\"203.0.113.10:5000\", \"198.51.100.0/24\"]\n\n[[link]]\nname = \"b\"\ninterface = \"eth1\"\npeer = [\"[2001:db8::10]:5000\"]\n\n[[link]]\nname = \"c\"\ninterface = \"eth2\"\npeer = [\"192.0.2.7\"]\n",
        )
        .unwrap();
        let specs = CaptureSpec::for_links(&config.links);
        assert_eq!(specs.len(), 2);
        for spec in &specs {
            assert!(spec.filter.contains("icmp-unreach"), "{}", spec.filter);
            let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).unwrap();
            dead.compile(&spec.filter, true)
                .unwrap_or_else(|e| panic!("{}: {e}", spec.filter));
        }
        assert!(specs[0].filter.contains("host 203.0.113.10 and port 5000"));
        assert!(specs[0].filter.contains("net 198.51.100.0/24"));
        assert!(specs[0].filter.contains("host 2001:db8::10 and port 5000"));
    }
}
