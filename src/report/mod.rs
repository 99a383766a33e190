//! `linewatch report`: a capture (an evidence file or a full tcpdump) read
//! through the same pipeline as replay, turned into an incident report a
//! carrier's engineer or a manager can read without tools.
//!
//! This module builds the report's facts ([`Report`]): the events, the
//! connections they concern, a verdict sentence per fault, and each
//! affected connection's packets for its time-sequence graph. Rendering is
//! at the edge: [`html`] (one self-contained page, the graphs inline as
//! SVG drawn by [`graph`]) and [`markdown`] (for tickets). Headers only:
//! no payload byte is read, kept or written.
//!
//! Bounds: at most [`MAX_EVENTS`] events are kept (the rest counted), the
//! summaries of connections that have events, and per graphed connection
//! at most [`MAX_POINTS`] packets around its first fault.

pub mod graph;
pub mod html;
pub mod markdown;
mod verdict;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::capture::{CaptureError, Source};
use crate::config::Config;
use crate::decode::{Decoded, TcpFlags};
use crate::event::{Endpoints, Event, EventKind, Side};
use crate::evidence::{is_trigger, sha256_of, StoreError};
use crate::pipeline::{apply, FileFront, Front};
use crate::time::{Duration, Timestamp};
use crate::track::{ConnectionSummary, Tracker};

/// Events a report keeps; beyond them it counts.
pub const MAX_EVENTS: usize = 10_000;
/// Connections a report graphs (the first ones with a fault).
pub const MAX_GRAPHS: usize = 8;
/// Packets per graphed connection, from [`GRAPH_BEFORE`] before its first
/// fault on; beyond them the graph says how many it left out.
pub const MAX_POINTS: usize = 20_000;
/// How much of a connection before its first fault its graph shows.
pub const GRAPH_BEFORE: Duration = Duration::from_secs(300);

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The capture could not be read.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The capture could not be hashed.
    #[error(transparent)]
    Hash(#[from] StoreError),
}

/// What a packet of a graphed connection was.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A SYN (or SYN-ACK).
    Syn,
    /// New data.
    Data,
    /// A bare acknowledgment.
    Ack,
    /// Data sent again (its end at or below what the sender had sent).
    Retransmission,
    /// A keep-alive: one byte or none at the sender's next sequence
    /// number minus one.
    KeepAlive,
    /// A FIN.
    Fin,
    /// A RST.
    Rst,
}

/// One packet of a graphed connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// Capture time.
    pub ts: Timestamp,
    /// Frame number in the capture.
    pub packet: u64,
    /// Who sent it.
    pub from: Side,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Payload length.
    pub len: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// What it was.
    pub mark: Mark,
}

/// A connection with a fault: its summary, its packets, its faults.
#[derive(Clone, Debug)]
pub struct Affected {
    /// Its ends.
    pub ends: Endpoints,
    /// Its summary (conn_state, history, counts), if it left the table.
    pub summary: Option<ConnectionSummary>,
    /// Its packets around the fault (at most [`MAX_POINTS`]).
    pub points: Vec<Point>,
    /// Packets left out of `points`.
    pub points_left_out: u64,
    /// Its fault events' times.
    pub faults: Vec<Timestamp>,
    /// Sequence numbers are drawn relative to these (local, peer): each
    /// side's first sequence number seen.
    pub isn: (Option<u32>, Option<u32>),
    /// ICMP errors about it: the routers that said the path broke.
    pub icmp_errors: Vec<Event>,
}

impl Affected {
    /// The response times of its packets shown, in order: (when the
    /// answer came, milliseconds), paired as the analytics pair them
    /// ([`crate::track::ResponseMeter`]: a run of our data ending with PSH
    /// is a request, the peer's next data its answer). For the report's
    /// response-time graph.
    pub fn responses(&self) -> Vec<(Timestamp, f64)> {
        let limits = crate::track::Limits::default();
        let mut m = crate::track::ResponseMeter::default();
        let mut out = Vec::new();
        for p in self.points.iter().filter(|p| p.mark == Mark::Data) {
            match p.from {
                Side::Local => m.on_local_data(p.ts, p.flags.psh()),
                Side::Peer => {
                    let answer = m.on_peer_data(p.ts, p.flags.psh(), limits.response_sla);
                    if let Some(a) = answer {
                        out.push((p.ts, f64::from(a.us) / 1_000.0));
                    }
                }
            }
        }
        out
    }

    /// The last packet each way before the first fault (one line per
    /// side, ours first), then the ICMP errors about the connection, in
    /// words, as both renderings show them.
    pub fn last_packets(&self) -> Vec<String> {
        let Some(first) = self.faults.first() else {
            return Vec::new();
        };
        let icmp = self.icmp_errors.iter().filter_map(|e| match &e.kind {
            EventKind::IcmpError { router, reason, .. } => Some(format!(
                "ICMP error from router {router} at {} UTC: {reason}{}",
                e.ts.utc(),
                e.packet
                    .map(|p| format!(" (packet {p})"))
                    .unwrap_or_default()
            )),
            _ => None,
        });
        [(Side::Local, "our side"), (Side::Peer, "the peer")]
            .into_iter()
            .map(|(side, who)| match self.last_before(side, *first) {
                Some(p) => format!(
                    "Last packet from {who} before the fault: packet {} at {} UTC, flags {}, seq {}, ack {}",
                    p.packet,
                    p.ts.utc(),
                    crate::output::flags::tcpdump(p.flags),
                    p.seq,
                    p.ack
                ),
                None => format!("No packet from {who} before the fault in this capture"),
            })
            .chain(icmp)
            .collect()
    }

    /// The last packet from `side` before `ts`.
    pub fn last_before(&self, side: Side, ts: Timestamp) -> Option<&Point> {
        self.points
            .iter()
            .rev()
            .find(|p| p.from == side && p.ts < ts)
    }
}

/// A fault and its verdict in one sentence.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The event (fin, reset, silence, black_hole, link_down).
    pub event: Event,
    /// What happened, for a person.
    pub verdict: String,
}

/// The report's facts.
#[derive(Clone, Debug)]
pub struct Report {
    /// The capture.
    pub file: PathBuf,
    /// Its SHA-256.
    pub sha256: String,
    /// Its link type's name.
    pub link_type: String,
    /// Frames in it.
    pub packets: u64,
    /// First and last frame times.
    pub span: Option<(Timestamp, Timestamp)>,
    /// The events (at most [`MAX_EVENTS`]).
    pub events: Vec<Event>,
    /// Events beyond [`MAX_EVENTS`].
    pub events_left_out: u64,
    /// The faults, each with its verdict.
    pub faults: Vec<Fault>,
    /// The connections with a fault (at most [`MAX_GRAPHS`]).
    pub affected: Vec<Affected>,
    /// Summaries of the connections that have events.
    pub connections: Vec<ConnectionSummary>,
    /// Why the capture could not be read to its end, if it could not:
    /// the report covers the frames before.
    pub unread: Option<String>,
}

/// A connection's round trips and response times in words, as both
/// renderings show them, if it had analytics with figures.
pub fn connection_figures(c: &ConnectionSummary) -> Option<String> {
    let a = c.figures()?;
    let mut buf = Vec::new();
    crate::output::analytics::write_text(&a, &mut buf)
        .then(|| String::from_utf8_lossy(&buf).into_owned())
}

/// A connection's row as both renderings show it: ours -> peer, Zeek
/// `conn_state`, history, packets, retransmissions, first .. last packet.
pub fn connection_row(c: &ConnectionSummary) -> [String; 6] {
    [
        format!("{} -> {}", c.ends.local, c.ends.peer),
        c.conn_state.to_string(),
        c.history.clone(),
        c.packets.to_string(),
        c.retransmissions.to_string(),
        format!("{} .. {}", c.first_ts.utc(), c.last_ts.utc()),
    ]
}

/// Reads `path` through the pipeline under `config` and builds its report.
pub fn build(path: &Path, config: &Config) -> Result<Report, ReportError> {
    let sha256 = sha256_of(path)?;
    // Pass 1: the pipeline, as replay runs it.
    let front = FileFront::open(path)?;
    let link_type = front.link().to_string();
    let mut tracker = Tracker::new(config);
    let mut kept = Kept::default();
    while let Some(batch) = front.next_batch() {
        for step in &batch.steps {
            apply(&mut tracker, step, &mut kept.step_events);
            kept.take(&mut tracker);
        }
        front.recycle(batch);
    }
    let end = front.finish()?;
    loop {
        let done = tracker.finish_some(1024, &mut kept.step_events);
        kept.take(&mut tracker);
        if done {
            break;
        }
    }
    let Kept {
        events,
        left_out,
        summaries,
        ..
    } = kept;
    // A capture that cannot be read to its end (a truncated file, a
    // pcapng whose interfaces differ) still gets its report, of what
    // could be read, saying so.
    let unread = end.failure.map(|e| match e {
        CaptureError::Read {
            message, packets, ..
        } => format!("{message} (after frame {packets})"),
        other => other.to_string(),
    });
    let span = match end.front.span() {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    let packets = end.front.packets();

    // The connections with a fault, first fault first.
    let mut affected: Vec<Affected> = Vec::new();
    for e in events.iter().filter(|e| is_trigger(&e.kind)) {
        let Some(c) = e.conn.or_else(|| cause_of_link_down(e, &events)) else {
            continue;
        };
        if let Some(a) = affected.iter_mut().find(|a| a.ends == c) {
            a.faults.push(e.ts);
            continue;
        }
        if affected.len() < MAX_GRAPHS {
            affected.push(Affected {
                ends: c,
                summary: summaries.iter().rev().find(|s| s.ends == c).cloned(),
                points: Vec::new(),
                points_left_out: 0,
                faults: vec![e.ts],
                isn: (None, None),
                icmp_errors: events
                    .iter()
                    .filter(|x| matches!(x.kind, EventKind::IcmpError { .. }) && x.conn == Some(c))
                    .cloned()
                    .collect(),
            });
        }
    }
    // Pass 2: their packets.
    if !affected.is_empty() {
        collect_points(path, &mut affected)?;
    }
    let faults = events
        .iter()
        .filter(|e| is_trigger(&e.kind))
        .map(|e| Fault {
            event: e.clone(),
            verdict: verdict::sentence(e, &events, &affected),
        })
        .collect();
    Ok(Report {
        file: path.to_path_buf(),
        sha256,
        link_type,
        packets,
        span,
        events,
        events_left_out: left_out,
        faults,
        affected,
        connections: summaries,
        unread,
    })
}

/// What the first pass keeps: events up to [`MAX_EVENTS`] (the rest
/// counted), and the summaries of connections that have events.
#[derive(Default)]
struct Kept {
    step_events: Vec<Event>,
    events: Vec<Event>,
    left_out: u64,
    summaries: Vec<ConnectionSummary>,
    with_events: HashSet<Endpoints>,
}

impl Kept {
    /// Takes a step's events and the summaries of the connections that
    /// left the table.
    fn take(&mut self, tracker: &mut Tracker) {
        for e in self.step_events.drain(..) {
            if let Some(c) = e.conn {
                self.with_events.insert(c);
            }
            if self.events.len() < MAX_EVENTS {
                self.events.push(e);
            } else {
                self.left_out += 1;
            }
        }
        let with_events = &self.with_events;
        self.summaries.extend(
            tracker
                .drain_retired()
                .filter(|s| with_events.contains(&s.ends)),
        );
    }
}

/// A link_down names no connection: the fault that brought it down does
/// (the last FIN, RST, silence or black hole of its link before it).
fn cause_of_link_down(e: &Event, events: &[Event]) -> Option<Endpoints> {
    if !matches!(e.kind, EventKind::LinkDown { .. }) {
        return None;
    }
    events
        .iter()
        .filter(|x| x.ts <= e.ts && x.link.as_deref() == e.link.as_deref() && is_trigger(&x.kind))
        .filter_map(|x| x.conn)
        .next_back()
}

/// Reads the capture again for the affected connections' packets.
fn collect_points(path: &Path, affected: &mut [Affected]) -> Result<(), ReportError> {
    let mut src = Source::open_file(path)?;
    let mut front = Front::new(src.link());
    // Per connection and direction: the highest sequence end sent.
    let mut sent: Vec<[Option<u32>; 2]> = vec![[None, None]; affected.len()];
    // A read error ends the pass where the first pass ended too.
    while let Ok(Some(frame)) = src.next_frame() {
        let step = front.read(&frame);
        let crate::pipeline::Step::Decoded {
            packet,
            decoded: Decoded::Tcp(seg),
        } = step
        else {
            continue;
        };
        for (a, sent) in affected.iter_mut().zip(sent.iter_mut()) {
            let from = if seg.src == a.ends.local && seg.dst == a.ends.peer {
                Side::Local
            } else if seg.src == a.ends.peer && seg.dst == a.ends.local {
                Side::Peer
            } else {
                continue;
            };
            let d = usize::from(from == Side::Peer);
            let isn = match from {
                Side::Local => &mut a.isn.0,
                Side::Peer => &mut a.isn.1,
            };
            isn.get_or_insert(seg.seq);
            let end = seg.seq.wrapping_add(seg.seq_len());
            let next = sent.get(d).copied().flatten();
            let mark = if seg.flags.rst() {
                Mark::Rst
            } else if seg.flags.syn() {
                Mark::Syn
            } else if seg.flags.fin() {
                Mark::Fin
            } else if next.is_some_and(|n| seg.payload_len <= 1 && seg.seq == n.wrapping_sub(1)) {
                Mark::KeepAlive
            } else if seg.payload_len > 0 && next.is_some_and(|n| (end.wrapping_sub(n) as i32) <= 0)
            {
                Mark::Retransmission
            } else if seg.payload_len > 0 {
                Mark::Data
            } else {
                Mark::Ack
            };
            if let Some(slot) = sent.get_mut(d) {
                if slot.is_none_or(|n| (end.wrapping_sub(n) as i32) > 0) {
                    *slot = Some(end);
                }
            }
            let from_ts = a.faults.first().map(|t| t.minus(GRAPH_BEFORE));
            if from_ts.is_some_and(|f| seg.ts < f) {
                continue;
            }
            if a.points.len() >= MAX_POINTS {
                a.points_left_out += 1;
                continue;
            }
            a.points.push(Point {
                ts: seg.ts,
                packet,
                from,
                seq: seg.seq,
                ack: seg.ack,
                len: seg.payload_len,
                flags: seg.flags,
                mark,
            });
        }
    }
    Ok(())
}
