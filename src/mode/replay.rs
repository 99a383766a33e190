//! `linewatch replay FILE`: a capture file through the same pipeline the
//! daemon runs, printed as an event timeline, then one line per
//! connection, then the decode counters.
//!
//! Two threads, data flowing one way: a reader thread reads and decodes
//! the file ([`FileFront`]) and hands this thread bounded batches of
//! header fields, in file order; this thread tracks and prints. The
//! timeline is the one a single thread would print.
//!
//! Memory does not grow with the file: frames are streamed, the queue
//! between the threads and the flow table are bounded, and summaries of
//! connections that left the table are spooled (in memory up to
//! [`SPOOL_IN_MEMORY`] lines, then in an unlinked temporary file) so that
//! they can follow the timeline.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::json;

use crate::capture::file::{CaptureError, FileCapture};
use crate::config::Config;
use crate::event::Event;
use crate::pipeline::{apply, FileFront, Front, FrontEnd};
use crate::time::Timestamp;
use crate::track::{ConnectionSummary, Tracker};

/// Summary lines kept in memory before spilling to a temporary file.
pub const SPOOL_IN_MEMORY: usize = 4096;

/// Connections retired per step at the end of a replay (their summaries
/// are spooled between steps).
const FINISH_STEP: usize = 1024;

/// Output is gathered in buffers of about this many bytes before it is
/// written (to the output or the spool file).
const OUT_CHUNK: usize = 1 << 16;

/// Output format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Human timeline.
    Text,
    /// One JSON object per line.
    Json,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The capture could not be opened or read to its end.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

/// Everything a replay found, for tests and post-mortems.
#[derive(Debug, Default)]
pub struct Replay {
    /// The event timeline.
    pub events: Vec<Event>,
    /// One summary per connection, in retirement order.
    pub connections: Vec<ConnectionSummary>,
}

/// Replays `path` and collects every event and summary in memory. For
/// tests and small files; the CLI streams instead ([`replay_to`]).
pub fn collect(path: &Path, config: &Config) -> Result<Replay, CaptureError> {
    let front = FileFront::spawn(FileCapture::open(path)?)?;
    let mut tracker = Tracker::new(config);
    let mut r = Replay::default();
    while let Some(batch) = front.next_batch() {
        for step in &batch {
            apply(&mut tracker, step, &mut r.events);
            r.connections.extend(tracker.drain_retired());
        }
        front.recycle(batch);
    }
    if let Some(e) = front.finish()?.failure {
        return Err(e);
    }
    tracker.finish(&mut r.events);
    r.connections.extend(tracker.drain_retired());
    Ok(r)
}

/// Connection summaries waiting for the end of the timeline, as the
/// bytes that will be printed.
struct Spool {
    /// Lines written straight here: all of them while in memory (until
    /// [`SPOOL_IN_MEMORY`] lines), then those not yet in the file.
    buf: Vec<u8>,
    count: usize,
    file: Option<File>,
}

impl Spool {
    fn new() -> Spool {
        Spool {
            buf: Vec::new(),
            count: 0,
            file: None,
        }
    }

    /// Spools the line `write` writes (without its newline).
    fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        write(&mut self.buf);
        self.buf.push(b'\n');
        self.count += 1;
        match &mut self.file {
            Some(f) if self.buf.len() >= OUT_CHUNK => {
                f.write_all(&self.buf)?;
                self.buf.clear();
            }
            Some(_) => {}
            None if self.count >= SPOOL_IN_MEMORY => {
                let path = std::env::temp_dir().join(format!(
                    "linewatch-spool-{}-{:p}",
                    std::process::id(),
                    &self.buf
                ));
                let mut file = File::options()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                // Unlinked at once: the space is freed when the process ends.
                std::fs::remove_file(&path)?;
                file.write_all(&self.buf)?;
                self.buf = Vec::with_capacity(OUT_CHUNK + 4096);
                self.file = Some(file);
            }
            None => {}
        }
        Ok(())
    }

    fn push(&mut self, c: &ConnectionSummary, format: Format) -> io::Result<()> {
        match format {
            Format::Text => self.push_with(|b| write_summary_text(c, b)),
            Format::Json => self.push_with(|b| c.write_json(b)),
        }
    }

    fn write_to(self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(mut file) = self.file {
            file.seek(SeekFrom::Start(0))?;
            io::copy(&mut file, out)?;
        }
        out.write_all(&self.buf)
    }
}

/// One connection's text line (and its Zeek rows when it has several),
/// written straight into the spool's buffer.
fn write_summary_text(c: &ConnectionSummary, buf: &mut Vec<u8>) {
    use std::io::Write as _;
    let text = |buf: &mut Vec<u8>, s: &str| buf.extend_from_slice(s.as_bytes());
    let mut digits = itoa::Buffer::new();
    crate::json::socket_addr(buf, &c.orig);
    text(buf, " -> ");
    crate::json::socket_addr(buf, &c.resp);
    text(buf, "  ");
    text(buf, c.link.as_deref().unwrap_or("-"));
    text(buf, "  ");
    text(buf, c.conn_state);
    text(buf, " ");
    text(
        buf,
        if c.history.is_empty() {
            "-"
        } else {
            &c.history
        },
    );
    text(buf, "  ");
    text(buf, digits.format(c.packets));
    text(buf, " packets, ");
    text(buf, digits.format(c.retransmissions));
    text(buf, " retransmissions, ");
    c.first_ts.write_utc(buf);
    text(buf, " .. ");
    c.last_ts.write_utc(buf);
    text(buf, "  (");
    text(buf, c.state.name());
    text(buf, ", ");
    text(buf, c.retired.name());
    text(buf, ")");
    if c.zeek_rows.len() > 1 {
        for r in &c.zeek_rows {
            // Writing into a Vec cannot fail.
            let _ = write!(
                buf,
                "\n    zeek row: {} -> {}  {} {}  {} packets",
                r.orig, r.resp, r.conn_state, r.history, r.packets
            );
        }
    }
}

/// Replays `path` to `out` in `format`, streaming. On a read error midway,
/// the timeline so far, the summaries and the counters are still written,
/// then the error is returned (exit code 2).
pub fn replay_to(
    path: &Path,
    config: &Config,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ReplayError> {
    replay_with(path, config, format, None, out)
}

/// Replays with the policy and emitters fed (`--emit dry-run|live`).
pub fn replay_with(
    path: &Path,
    config: &Config,
    format: Format,
    mut emitters: Option<&mut crate::emit::Emitters>,
    out: &mut dyn Write,
) -> Result<(), ReplayError> {
    let front = FileFront::spawn(FileCapture::open(path)?)?;
    let mut tracker = Tracker::new(config);
    let mut events = Vec::new();
    let mut spool = Spool::new();
    if format == Format::Text {
        writeln!(out, "# {} ({})", path.display(), front.link())?;
    }
    // Timeline lines are written straight here and passed on a chunk at
    // a time.
    let mut pending = Vec::with_capacity(OUT_CHUNK + 4096);
    // What the tracker produced: events to the timeline (and the
    // emitters, whose clock then moves to `tick`), summaries to the spool.
    let mut take = |tracker: &mut Tracker,
                    events: &mut Vec<Event>,
                    tick: Option<Timestamp>|
     -> io::Result<()> {
        if events.is_empty() && emitters.is_none() && !tracker.has_retired() {
            return Ok(()); // nearly every packet: nothing to print
        }
        for e in events.drain(..) {
            match format {
                Format::Text => e.write_text(&mut pending),
                Format::Json => e.write_json(&mut pending),
            }
            pending.push(b'\n');
            if let Some(em) = emitters.as_deref_mut() {
                // Keep the timeline and emitted lines in order.
                out.write_all(&pending)?;
                pending.clear();
                out.flush()?;
                em.on_event(&e);
            }
        }
        if pending.len() >= OUT_CHUNK {
            out.write_all(&pending)?;
            pending.clear();
        }
        if let (Some(em), Some(ts)) = (emitters.as_deref_mut(), tick) {
            em.advance_to(ts);
        }
        for c in tracker.drain_retired() {
            spool.push(&c, format)?;
        }
        Ok(())
    };
    while let Some(batch) = front.next_batch() {
        for step in &batch {
            apply(&mut tracker, step, &mut events);
            take(&mut tracker, &mut events, Some(step.ts()))?;
        }
        front.recycle(batch);
    }
    let FrontEnd { front, failure } = front.finish()?;
    // The table's remaining connections, a slice at a time, so that their
    // summaries go to the spool before the next ones are made.
    while !tracker.finish_some(FINISH_STEP, &mut events) {
        take(&mut tracker, &mut events, None)?;
    }
    take(&mut tracker, &mut events, None)?;
    out.write_all(&pending)?;
    if format == Format::Text {
        writeln!(
            out,
            "# connections (orig -> resp, link, Zeek conn_state and history)"
        )?;
    }
    spool.write_to(out)?;
    write_replay_summary(path, &front, &tracker, format, failure.as_ref(), out)?;
    out.flush()?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn write_replay_summary(
    path: &Path,
    p: &Front,
    tracker: &Tracker,
    format: Format,
    failure: Option<&CaptureError>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let d = p.decoder();
    let t = tracker.stats();
    let (first, last) = p.span();
    match format {
        Format::Json => {
            let skipped: serde_json::Map<String, serde_json::Value> = d
                .skipped()
                .iter()
                .map(|(r, n)| (r.name().to_string(), json!(n)))
                .collect();
            let v = json!({
                "event": "replay_summary",
                "file": path.display().to_string(),
                "link_type": d.link().to_string(),
                "packets": p.packets(),
                "segments": d.segments(),
                "skipped_total": d.skipped().total(),
                "skipped": skipped,
                "unwatched_segments": t.unwatched,
                "icmp_errors": d.icmp_errors(),
                "icmp_errors_unmatched": t.icmp_errors_unmatched,
                "connections": t.connections,
                "evicted": t.evicted,
                "peak_flows": t.peak_flows,
                "first_ts": first.map(|t| t.as_secs_f64()),
                "last_ts": last.map(|t| t.as_secs_f64()),
                "complete": failure.is_none(),
                "error": failure.map(|e| e.to_string()),
            });
            writeln!(out, "{v}")
        }
        Format::Text => {
            writeln!(
                out,
                "# {} packets, {} TCP segments, {} skipped, {} connections ({} evicted, peak table {}), {} segments of no configured link",
                p.packets(),
                d.segments(),
                d.skipped().total(),
                t.connections,
                t.evicted,
                t.peak_flows,
                t.unwatched
            )?;
            let reasons: Vec<String> = d
                .skipped()
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{}={n}", r.name()))
                .collect();
            if !reasons.is_empty() {
                writeln!(out, "# skipped: {}", reasons.join(" "))?;
            }
            if d.icmp_errors() > 0 {
                writeln!(
                    out,
                    "# {} ICMP errors about TCP ({} about connections not tracked)",
                    d.icmp_errors(),
                    t.icmp_errors_unmatched
                )?;
            }
            if let Some(e) = failure {
                writeln!(out, "# INCOMPLETE: {e}")?;
            }
            Ok(())
        }
    }
}
