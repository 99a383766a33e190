//! Live capture: one named thread per interface, libpcap underneath.
//!
//! Each thread opens its interface header-only (small snaplen), immediate
//! mode, a 50 ms timeout so it wakes without traffic, and a BPF filter for
//! the watched peers' TCP. It decodes frames right there and sends only
//! [`Segment`]s (header fields) over a bounded channel: no payload byte
//! leaves libpcap's buffer. If the tracker falls behind and the channel is
//! full, the batch is dropped and counted (`queue_dropped`); libpcap is
//! never blocked. If the interface goes down or disappears, the thread
//! reports the capture lost and reopens it with backoff (0.25 s doubling to
//! 5 s) until it works again, without a restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant};

use crossbeam_channel::{Sender, TrySendError};

use crate::clock::sleep_unless_stopped;
use crate::config::LinkSpec;
use crate::decode::{Decoded, Decoder, LinkType};

/// Segments per batch before it is sent (a batch also goes on every timeout).
pub const BATCH: usize = 256;
/// Batches the channel holds; beyond, new batches are dropped and counted.
pub const QUEUE_BATCHES: usize = 1024;
/// libpcap read timeout: how long a quiet capture sleeps before flushing.
pub const READ_TIMEOUT_MS: i32 = 50;
/// Live interfaces are opened with microsecond timestamps: libpcap's
/// default, which every interface offers. (Nanoseconds may be refused per
/// interface, and the pcap crate does not say when; the header would then
/// be read in the wrong unit.) [`super::Source`] records it for
/// [`super::frame_of`].
pub const PRECISION: pcap::Precision = pcap::Precision::Micro;
/// How often kernel drop counters are read.
pub const STATS_EVERY: StdDuration = StdDuration::from_secs(2);

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
}

impl CaptureSpec {
    /// One spec per interface named in `links`, with a filter for the
    /// watched peers (their TCP, in or outside a VLAN, plus ICMP errors).
    pub fn for_links(links: &[LinkSpec]) -> Vec<CaptureSpec> {
        let mut specs: Vec<CaptureSpec> = Vec::new();
        for l in links {
            let Some(iface) = &l.interface else { continue };
            let terms: Vec<String> = l
                .peers
                .iter()
                .map(|p| {
                    let full = if p.addr.is_ipv4() { 32 } else { 128 };
                    let host = if p.prefix == full {
                        format!("host {}", p.addr)
                    } else {
                        format!("net {}/{}", p.addr, p.prefix)
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
                }
                None => specs.push(CaptureSpec {
                    interface: iface.clone(),
                    filter: terms.join(" or "),
                    snaplen: l.snaplen,
                    buffer_size: l.buffer_size,
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
    /// Decoded frames (TCP segments, ICMP errors about TCP), each with its
    /// frame number on this interface.
    Segments {
        /// Index of the capture.
        capture: usize,
        /// `(frame number, decoded frame)`.
        segments: Vec<(u64, Decoded)>,
    },
    /// The capture is open (again).
    Opened {
        /// Index of the capture.
        capture: usize,
        /// Its link type.
        link: LinkType,
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
    /// Segments dropped because the channel was full.
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
/// [`super::Source::open_live`] wraps. (`mode::check` still calls this
/// itself; once it uses `Source`, this can become private to `capture`.)
pub fn open(spec: &CaptureSpec) -> Result<pcap::Capture<pcap::Active>, String> {
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
    first: Result<pcap::Capture<pcap::Active>, String>,
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
    first: Result<pcap::Capture<pcap::Active>, String>,
    tx: &Sender<CaptureMsg>,
    counters: &CaptureCounters,
    stop: &AtomicBool,
) {
    let mut next = Some(first);
    let mut backoff = StdDuration::from_millis(250);
    let mut reported_lost = false;
    let mut frame_no = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let attempt = next.take().unwrap_or_else(|| open(spec));
        match attempt {
            Ok(cap) => {
                backoff = StdDuration::from_millis(250);
                reported_lost = false;
                let link = cap.get_datalink().0;
                let Ok(link) = LinkType::from_dlt(link) else {
                    let reason = format!(
                        "interface {} has link type {}, which linewatch does not decode",
                        spec.interface,
                        crate::decode::dlt_name(link)
                    );
                    lost(index, tx, counters, reason);
                    reported_lost = true;
                    sleep_unless_stopped(StdDuration::from_secs(5), stop);
                    continue;
                };
                counters.running.store(true, Ordering::Relaxed);
                if let Ok(mut e) = counters.error.lock() {
                    *e = None;
                }
                let _ = tx.send_timeout(
                    CaptureMsg::Opened {
                        capture: index,
                        link,
                    },
                    StdDuration::from_secs(1),
                );
                let reason = pump(index, cap, link, tx, counters, stop, &mut frame_no);
                counters.running.store(false, Ordering::Relaxed);
                if let Some(reason) = reason {
                    lost(index, tx, counters, explain(&spec.interface, &reason));
                    reported_lost = true;
                }
            }
            Err(reason) => {
                counters.running.store(false, Ordering::Relaxed);
                if !reported_lost {
                    lost(index, tx, counters, reason);
                    reported_lost = true;
                }
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(StdDuration::from_secs(5));
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

/// Reads until an error (returned) or `stop` (returns `None`).
fn pump(
    index: usize,
    mut cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    tx: &Sender<CaptureMsg>,
    counters: &CaptureCounters,
    stop: &AtomicBool,
    frame_no: &mut u64,
) -> Option<String> {
    let mut decoder = Decoder::new(link);
    let mut batch: Vec<(u64, Decoded)> = Vec::with_capacity(BATCH);
    let mut last_stats = Instant::now();
    let base = (
        counters.received.load(Ordering::Relaxed),
        counters.dropped.load(Ordering::Relaxed),
        counters.if_dropped.load(Ordering::Relaxed),
    );
    let flush = |batch: &mut Vec<(u64, Decoded)>| {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let msg = CaptureMsg::Segments {
            capture: index,
            segments: std::mem::replace(batch, Vec::with_capacity(BATCH)),
        };
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                counters.queue_dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            flush(&mut batch);
            return None;
        }
        // Drain what is there, then wait up to READ_TIMEOUT_MS for more.
        loop {
            match cap.next_packet() {
                Ok(p) => {
                    *frame_no += 1;
                    let frame = super::frame_of(p.header, p.data, PRECISION);
                    match decoder.decode(&frame) {
                        Some(seg) => {
                            counters.segments.fetch_add(1, Ordering::Relaxed);
                            batch.push((*frame_no, seg));
                            if batch.len() >= BATCH {
                                flush(&mut batch);
                            }
                        }
                        None => {
                            counters.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Err(pcap::Error::TimeoutExpired) => break,
                Err(e) => {
                    flush(&mut batch);
                    return Some(e.to_string());
                }
            }
        }
        flush(&mut batch);
        let ready = {
            use std::os::fd::AsFd;
            let mut fds = [nix::poll::PollFd::new(
                cap.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(
                &mut fds,
                nix::poll::PollTimeout::from(READ_TIMEOUT_MS as u16),
            ) {
                Ok(_) => fds
                    .first()
                    .and_then(|f| f.revents())
                    .unwrap_or(nix::poll::PollFlags::empty()),
                Err(nix::errno::Errno::EINTR) => nix::poll::PollFlags::empty(),
                Err(e) => return Some(format!("poll: {e}")),
            }
        };
        if ready.intersects(
            nix::poll::PollFlags::POLLERR
                | nix::poll::PollFlags::POLLHUP
                | nix::poll::PollFlags::POLLNVAL,
        ) {
            // Let libpcap read the error (interface down / gone) and say it.
            match cap.next_packet() {
                Err(pcap::Error::TimeoutExpired) | Ok(_) => {
                    return Some("the interface went down or disappeared".to_string())
                }
                Err(e) => return Some(e.to_string()),
            }
        }
        if last_stats.elapsed() >= STATS_EVERY {
            last_stats = Instant::now();
            if let Ok(s) = cap.stats() {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
