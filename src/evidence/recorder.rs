//! [`Recorder`]: the sans-IO half of the evidence recorder. It keeps each
//! link's recent frames (headers only) in a [`Ring`], opens an incident
//! file when a trigger event comes, appends to it until `after` has
//! passed since the incident's last trigger, and closes it. What it
//! decides comes out as [`Action`]s (bytes to write, a file to close);
//! the store does the writing. Driven by packet time only.

use std::sync::Arc;

use super::pcapng::{EncodeError, Encoder, MAX_STORED};
use super::ring::{Ring, Stored};
use crate::config::{EvidenceConfig, LinkSpec};
use crate::decode::{Decoded, LinkType};
use crate::event::{Event, EventKind};
use crate::pipeline::Header;
use crate::time::{Duration, Timestamp};

/// Events that open an incident file (or, while one is open, push its
/// end further out): the faults a carrier is asked about, an ignored
/// (out-of-window) RST among them: someone sent it.
pub fn is_trigger(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::FinFrom(_)
            | EventKind::ResetFrom(_)
            | EventKind::ResetIgnored(_)
            | EventKind::Silence { .. }
            | EventKind::BlackHole { .. }
            | EventKind::LinkDown { .. }
    )
}

/// Runs of consecutive captured packet numbers an open file remembers (24
/// bytes each), to give an event that cites an earlier packet its number
/// within the file. A capture of the link alone is one run however long
/// the file; every other frame of another link breaks a run. An event
/// about a packet past the last run kept is listed in the sidecar without
/// an in-file number.
pub const MAX_INDEXED_RUNS: usize = 65_536;

/// Events an incident file's sidecar lists (a few hundred bytes each);
/// later ones are counted (`events_not_listed`). A link whose triggers
/// never stop (a FIN a second from short connections) would otherwise
/// grow its open file's list, and the work per frame, without end.
pub const MAX_CITED: usize = 1_000;

/// How long one incident file may stay open: triggers keep a file open
/// for `after` past the last of them, but not past this. The next trigger
/// then opens a new file (with its own `before` window), so files, and
/// what an open one holds in memory, stay bounded on a link whose
/// triggers never stop.
pub const MAX_OPEN: Duration = Duration::from_secs(600);

/// What the store is to do.
#[derive(Debug)]
pub enum Action {
    /// Create the incident file `name` (no extension) in the link's
    /// directory with these bytes (header blocks and the `before` window),
    /// make it durable, and keep it open.
    Open {
        /// The recorder's lane (one per link).
        lane: usize,
        /// The link's name (its directory).
        link: Arc<str>,
        /// `<UTC time>-<event>`.
        name: String,
        /// The bytes.
        bytes: Vec<u8>,
        /// The incident so far, for the sidecar and the page.
        incident: Box<Incident>,
    },
    /// Append these bytes to the lane's open file.
    Append {
        /// The lane.
        lane: usize,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close the lane's file: patch its snaplen, make it durable, hash it
    /// and write its sidecar.
    Close {
        /// The lane.
        lane: usize,
        /// The incident as the file holds it.
        incident: Box<Incident>,
    },
}

/// An incident file's contents, for its sidecar and for pages.
#[derive(Clone, Debug)]
pub struct Incident {
    /// The link.
    pub link: Arc<str>,
    /// `<UTC time>-<event>`, the file's name without extension.
    pub name: String,
    /// Frames in the file.
    pub packets: u64,
    /// The first frame's time (the trigger's, for an empty window).
    pub from: Timestamp,
    /// The last frame's time.
    pub to: Timestamp,
    /// The events of the incident, each with its packet's number in the
    /// file (1-based), when the file holds that packet.
    pub events: Vec<Cited>,
    /// Frames the link's ring had dropped at its memory bound by the time
    /// the file opened: the `before` window may start later than asked.
    pub evicted_before: u64,
    /// Bare SYNs of the link not written to the file while it was open,
    /// past [`SYNS_KEPT_PER_SECOND`] (a flood).
    pub syns_not_kept: u64,
    /// Events of the incident past [`MAX_CITED`], not listed.
    pub events_not_listed: u64,
    /// Where the interface block's snaplen lies, and the value it should
    /// have (the largest stored frame).
    pub snaplen_at: u64,
    /// See `snaplen_at`.
    pub snaplen: u32,
    /// Whether the capture ended before `after` had passed.
    pub cut_short: bool,
}

/// An event of an incident, with where its packet is in the file.
#[derive(Clone, Debug)]
pub struct Cited {
    /// The event.
    pub event: Event,
    /// Its packet's 1-based number within the file.
    pub packet_in_file: Option<u64>,
}

/// One link's recorder: its ring and its open incident, if any.
#[derive(Debug)]
struct Lane {
    name: Arc<str>,
    enabled: bool,
    ring: Ring,
    open: Option<Open>,
    /// Bare SYNs kept in the current second of packet time, and which
    /// second it is (see [`SYNS_KEPT_PER_SECOND`]).
    syns: (i64, u32),
}

/// Bare SYNs (connection attempts) a link's evidence keeps per second of
/// packet time. A reconnecting application makes a few a second and they
/// are all kept; a SYN flood toward the peer makes hundreds of thousands,
/// which would push the real connection's frames out of the ring in under
/// a second (and make the ring's whole memory resident): past the budget
/// they are not stored (an open file counts them: `syns_not_kept` in its
/// sidecar).
pub const SYNS_KEPT_PER_SECOND: u32 = 100;

/// An incident file being written.
#[derive(Debug)]
struct Open {
    encoder: Encoder,
    incident: Incident,
    /// Appending stops once a frame is later than this.
    until: Timestamp,
    /// Captured packet numbers written, in order, as runs.
    written: Written,
    /// When the file opened: it closes [`MAX_OPEN`] later at the latest.
    opened: Timestamp,
    /// Listed events whose packet is still to be written.
    waiting: usize,
    /// Comments for packets not yet written: (captured packet, text).
    pending: Vec<(u64, String)>,
}

/// The evidence recorder: one lane per configured link (or one lane,
/// `all`, for a replay without links).
#[derive(Debug)]
pub struct Recorder {
    before: Duration,
    after: Duration,
    link_type: LinkType,
    interface: String,
    /// No links configured: one lane, `all`, holds every TCP connection.
    all_tcp: bool,
    lanes: Vec<Lane>,
    /// The earliest `until` of the open files: [`Recorder::advance`] has
    /// nothing to do before it.
    due: Option<Timestamp>,
}

impl Recorder {
    /// A recorder for frames of `link_type` read from `interface` (an
    /// interface name or a capture file's name), for the links of
    /// `links` that `records` (their `evidence` switch, and for the daemon
    /// whether they are on this interface) under `config`. Lanes keep the
    /// links' indices, which events carry.
    pub fn new(
        config: &EvidenceConfig,
        links: &[LinkSpec],
        link_type: LinkType,
        interface: &str,
        records: impl Fn(&LinkSpec) -> bool,
    ) -> Recorder {
        let lane = |name: Arc<str>, enabled: bool| Lane {
            name,
            enabled,
            ring: Ring::new(config.memory_per_link),
            open: None,
            syns: (i64::MIN, 0),
        };
        let lanes = if links.is_empty() {
            vec![lane(Arc::from("all"), true)]
        } else {
            links
                .iter()
                .map(|l| lane(l.name.clone(), l.evidence && records(l)))
                .collect()
        };
        Recorder {
            before: config.before,
            after: config.after,
            link_type,
            interface: interface.to_string(),
            all_tcp: links.is_empty(),
            lanes,
            due: None,
        }
    }

    fn lane_of_event(&self, e: &Event) -> Option<usize> {
        match &e.link {
            Some(r) => Some(r.id.index()),
            None if self.all_tcp => Some(0),
            None => None,
        }
    }

    /// Takes an event of the tracker. Call it before [`Recorder::on_frame`]
    /// for the frame that caused it, so that the frame carries its comment.
    pub fn on_event(&mut self, e: &Event, out: &mut Vec<Action>) -> Result<(), EncodeError> {
        let Some(i) = self.lane_of_event(e) else {
            return Ok(());
        };
        let (before, after) = (self.before, self.after);
        let (link_type, interface) = (self.link_type, self.interface.as_str());
        let Some(lane) = self.lanes.get_mut(i) else {
            return Ok(());
        };
        if !lane.enabled {
            return Ok(());
        }
        let trigger = is_trigger(&e.kind);
        if let Some(open) = &mut lane.open {
            if trigger {
                open.until = open
                    .until
                    .max(e.ts.plus(after))
                    .min(open.opened.plus(MAX_OPEN));
            }
            open.cite(e);
            self.refresh_due();
            return Ok(());
        }
        if !trigger {
            return Ok(());
        }
        let name = file_name(e);
        let encoder = Encoder::new(link_type, interface)?;
        let snaplen_at = encoder.snaplen_at();
        let mut open = Open {
            incident: Incident {
                link: lane.name.clone(),
                name: name.clone(),
                packets: 0,
                from: e.ts,
                to: e.ts,
                events: Vec::new(),
                evicted_before: lane.ring.evicted(),
                syns_not_kept: 0,
                events_not_listed: 0,
                snaplen_at,
                snaplen: 0,
                cut_short: false,
            },
            until: e.ts.plus(after),
            written: Written::default(),
            opened: e.ts,
            waiting: 0,
            pending: Vec::new(),
            encoder,
        };
        open.cite(e);
        let since = e.ts.minus(before);
        let (frames, bytes) = lane
            .ring
            .since(since)
            .fold((0, 0), |(n, b), f| (n + 1, b + f.bytes.len()));
        open.encoder.reserve(frames, bytes);
        for frame in lane.ring.since(since) {
            open.write(&frame)?;
        }
        let bytes = open.encoder.take();
        out.push(Action::Open {
            lane: i,
            link: lane.name.clone(),
            name,
            bytes,
            incident: Box::new(open.incident.clone()),
        });
        lane.open = Some(open);
        self.refresh_due();
        Ok(())
    }

    /// Takes a decoded frame (its 1-based number `packet`, and its
    /// `header`: bytes up to the end of its TCP header, wire length, and
    /// the link the front half found it belongs to): closes the
    /// lane's file if the frame is past its end, appends the frame to the
    /// file if one is open, and keeps it in the lane's ring.
    pub fn on_frame(
        &mut self,
        decoded: &Decoded,
        packet: u64,
        header: Header<'_>,
        out: &mut Vec<Action>,
    ) -> Result<(), EncodeError> {
        let i = header.link;
        let (orig_len, header) = (header.wire_len, header.bytes);
        let ts = decoded.ts();
        let keep_since = ts.minus(self.before);
        let Some(lane) = self.lanes.get_mut(i) else {
            return Ok(());
        };
        if !lane.enabled {
            return Ok(());
        }
        if let Decoded::Tcp(seg) = decoded {
            if seg.flags.syn() && !seg.flags.ack() {
                let second = ts.as_nanos().div_euclid(1_000_000_000);
                if lane.syns.0 != second {
                    lane.syns = (second, 0);
                }
                if lane.syns.1 >= SYNS_KEPT_PER_SECOND {
                    if let Some(open) = &mut lane.open {
                        open.incident.syns_not_kept += 1;
                    }
                    return Ok(());
                }
                lane.syns.1 += 1;
            }
        }
        let was_open = lane.open.is_some();
        close_if_due(i, lane, ts, out);
        let closed = was_open && lane.open.is_none();
        let cut = header.len().min(MAX_STORED as usize);
        let frame = Stored {
            ts,
            packet,
            orig_len,
            bytes: header.get(..cut).unwrap_or_default(),
        };
        if let Some(open) = &mut lane.open {
            open.write(&frame)?;
            out.push(Action::Append {
                lane: i,
                bytes: open.encoder.take(),
            });
        }
        lane.ring.push(frame, keep_since);
        if closed {
            self.refresh_due();
        }
        Ok(())
    }

    /// Packet time has reached `now`: closes the files whose `after` has
    /// passed (a silent link gets no frame that would close its file).
    #[inline]
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if self.due.is_none_or(|d| now <= d) {
            return;
        }
        self.close_due(now, out);
    }

    #[inline(never)]
    fn close_due(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            close_if_due(i, lane, now, out);
        }
        self.refresh_due();
    }

    /// The earliest end of an open file.
    fn refresh_due(&mut self) {
        self.due = self
            .lanes
            .iter()
            .filter_map(|l| l.open.as_ref().map(|o| o.until))
            .min();
    }

    /// The capture ended: closes every open file, marked cut short.
    pub fn finish(&mut self, out: &mut Vec<Action>) {
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            if let Some(open) = lane.open.take() {
                let mut incident = open.finish();
                incident.cut_short = true;
                out.push(Action::Close {
                    lane: i,
                    incident: Box::new(incident),
                });
            }
        }
        self.due = None;
    }

    /// The capture was reopened and its link type may have changed:
    /// files opened from now on declare `link_type`.
    pub fn set_link_type(&mut self, link_type: LinkType) {
        self.link_type = link_type;
    }

    /// The open incident of each lane that has one: (link, incident).
    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.lanes
            .iter()
            .filter_map(|l| l.open.as_ref().map(|o| &o.incident))
    }

    /// Bytes held in the lanes' rings, and frames they dropped at their
    /// bound, per lane: (link, bytes, frames, evicted).
    pub fn rings(&self) -> impl Iterator<Item = (&Arc<str>, usize, usize, u64)> {
        self.lanes
            .iter()
            .map(|l| (&l.name, l.ring.used(), l.ring.len(), l.ring.evicted()))
    }
}

fn close_if_due(i: usize, lane: &mut Lane, now: Timestamp, out: &mut Vec<Action>) {
    if lane.open.as_ref().is_some_and(|o| now > o.until) {
        if let Some(open) = lane.open.take() {
            out.push(Action::Close {
                lane: i,
                incident: Box::new(open.finish()),
            });
        }
    }
}

impl Open {
    /// Adds `e` to the incident, commenting its packet: now if the file
    /// holds it (too late for the comment, which pcapng cannot add to a
    /// written block; the sidecar has it), or when it is written.
    fn cite(&mut self, e: &Event) {
        let in_file = e.packet.and_then(|p| self.written.index_of(p));
        if let (Some(p), None) = (e.packet, in_file) {
            if self.written.last().is_none_or(|last| p > last) {
                self.pending.push((p, comment(e)));
            }
        }
        if self.incident.events.len() >= MAX_CITED {
            self.incident.events_not_listed += 1;
            return;
        }
        if in_file.is_none()
            && e.packet
                .is_some_and(|p| self.written.last().is_none_or(|l| p > l))
        {
            self.waiting += 1;
        }
        self.incident.events.push(Cited {
            event: e.clone(),
            packet_in_file: in_file,
        });
    }

    fn write(&mut self, frame: &Stored<'_>) -> Result<(), EncodeError> {
        let comments: Vec<String> = self
            .pending
            .iter()
            .filter(|(p, _)| *p == frame.packet)
            .map(|(_, c)| c.clone())
            .collect();
        self.pending.retain(|(p, _)| *p > frame.packet);
        self.encoder.packet(frame, &comments)?;
        let n = self.incident.packets + 1;
        self.written.push(frame.packet);
        // Only events citing a packet not yet written wait for one.
        if self.waiting > 0 {
            for c in &mut self.incident.events {
                if c.packet_in_file.is_none() && c.event.packet == Some(frame.packet) {
                    c.packet_in_file = Some(n);
                    self.waiting -= 1;
                }
            }
        }
        if self.incident.packets == 0 {
            self.incident.from = frame.ts;
        }
        self.incident.packets = n;
        self.incident.to = frame.ts;
        Ok(())
    }

    fn finish(self) -> Incident {
        let mut incident = self.incident;
        incident.snaplen = self.encoder.largest();
        incident
    }
}

/// The captured packet numbers an open file holds, in order: runs of
/// consecutive numbers (first packet, its 0-based index in the file,
/// length), at most [`MAX_INDEXED_RUNS`].
#[derive(Debug, Default)]
struct Written {
    runs: Vec<(u64, u64, u64)>,
    /// Packets written (indexed or not).
    count: u64,
}

impl Written {
    fn push(&mut self, packet: u64) {
        let index = self.count;
        self.count += 1;
        if let Some((first, _, len)) = self.runs.last_mut() {
            if *first + *len == packet {
                *len += 1;
                return;
            }
        }
        if self.runs.len() < MAX_INDEXED_RUNS {
            self.runs.push((packet, index, 1));
        }
    }

    /// The 1-based number in the file of captured packet `packet`.
    fn index_of(&self, packet: u64) -> Option<u64> {
        let i = self.runs.partition_point(|(first, _, _)| *first <= packet);
        let (first, index, len) = self.runs.get(i.checked_sub(1)?)?;
        (packet < first + len).then(|| index + (packet - first) + 1)
    }

    /// The last packet indexed.
    fn last(&self) -> Option<u64> {
        self.runs.last().map(|(first, _, len)| first + len - 1)
    }
}

/// A packet comment: `linewatch: ` and the event's timeline line.
fn comment(e: &Event) -> String {
    format!("linewatch: {}", crate::output::event_text::line(e))
}

/// `<UTC time>-<event>`: ISO 8601 basic format to the millisecond (no
/// colons, for every file system), then the event's name.
fn file_name(e: &Event) -> String {
    format!(
        "{}-{}",
        e.ts.to_chrono().format("%Y%m%dT%H%M%S%.3fZ"),
        e.kind.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packet_index_keeps_runs_and_finds_each_packet_in_them() {
        let mut w = Written::default();
        // A link's frames 10..=14, then (another link's frames between)
        // 20 and 21.
        for p in [10, 11, 12, 13, 14, 20, 21] {
            w.push(p);
        }
        assert_eq!(w.runs, vec![(10, 0, 5), (20, 5, 2)]);
        assert_eq!(w.index_of(10), Some(1));
        assert_eq!(w.index_of(14), Some(5));
        assert_eq!(w.index_of(20), Some(6));
        assert_eq!(w.index_of(21), Some(7));
        assert_eq!(w.index_of(15), None, "between runs");
        assert_eq!(w.index_of(9), None, "before the first");
        assert_eq!(w.index_of(22), None, "after the last");
        assert_eq!(w.last(), Some(21));
    }

    #[test]
    fn past_its_bound_the_index_stops_but_counts_on() {
        let mut w = Written::default();
        for i in 0..(MAX_INDEXED_RUNS as u64 + 10) {
            w.push(i * 2); // no two consecutive: a run each
        }
        assert_eq!(w.runs.len(), MAX_INDEXED_RUNS);
        assert_eq!(w.count, MAX_INDEXED_RUNS as u64 + 10);
        let last_indexed = (MAX_INDEXED_RUNS as u64 - 1) * 2;
        assert_eq!(w.index_of(last_indexed), Some(MAX_INDEXED_RUNS as u64));
        assert_eq!(w.index_of(last_indexed + 2), None);
    }
}
