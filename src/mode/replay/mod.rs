//! `linewatch replay FILE`: a capture file through the same pipeline the
//! daemon runs, printed as an event timeline, then one line per
//! connection, then the decode counters.
//!
//! Three threads, data flowing one way: a reader thread reads and decodes
//! the file ([`FileFront`]) and hands this thread bounded batches of
//! header fields, in file order; this thread tracks, and hands the events
//! and summaries of each batch to a printer thread, over another bounded
//! queue. The timeline is the one a single thread would print. (With
//! emitters, printing stays on this thread: see [`replay_with`].)
//!
//! Memory does not grow with the file: frames are streamed, the queue
//! between the threads and the flow table are bounded, and summaries of
//! connections that left the table are spooled (in memory up to
//! [`SPOOL_IN_MEMORY`] lines, then in an unlinked temporary file) so that
//! they can follow the timeline.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use crossbeam_channel::{bounded, Receiver, Sender};
use serde_json::json;

use crate::capture::CaptureError;
use crate::config::Config;
use crate::event::Event;
use crate::evidence::{Recording, StoreError};
use crate::output::{event_json, event_text, summary};
use crate::pipeline::{apply, FileFront, Front, FrontEnd, Step};
use crate::storm::{Pass, StormControl};
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
    /// Writing evidence files failed.
    #[error(transparent)]
    Evidence(#[from] StoreError),
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
    let front = FileFront::open(path)?;
    let mut tracker = Tracker::new(config);
    let mut r = Replay::default();
    if let Some(e) = track(front, &mut tracker, &mut r, None)?.failure {
        return Err(e);
    }
    Ok(r)
}

/// Collecting is a sink that keeps everything and never fails.
impl Sink for Replay {
    fn events(&mut self) -> &mut Vec<Event> {
        &mut self.events
    }

    fn take(&mut self, tracker: &mut Tracker, _tick: Option<Timestamp>) -> io::Result<()> {
        self.connections.extend(tracker.drain_retired());
        Ok(())
    }

    fn end_of_batch(&mut self) -> io::Result<()> {
        Ok(())
    }
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
            Format::Text => self.push_with(|b| summary::write_text(c, b)),
            Format::Json => self.push_with(|b| summary::write_json(c, b)),
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

/// Replays `path` to `out` in `format`, streaming. On a read error midway,
/// the timeline so far, the summaries and the counters are still written,
/// then the error is returned (exit code 2).
pub fn replay_to(
    path: &Path,
    config: &Config,
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<(), ReplayError> {
    replay_with(path, config, format, None, None, out)
}

/// Replays with the policy and emitters fed (`--emit dry-run|live`).
///
/// Without emitters, printing runs on a third thread (`replay-printer`)
/// fed the events and summaries of each batch over a bounded channel, so
/// that formatting overlaps tracking; the bytes are those one thread
/// would print. With emitters, every timeline line must be out before the
/// emitters see its event, so printing stays on this thread.
pub fn replay_with(
    path: &Path,
    config: &Config,
    format: Format,
    emitters: Option<&mut crate::emit::Emitters>,
    evidence: Option<&Path>,
    out: &mut (dyn Write + Send),
) -> Result<(), ReplayError> {
    let front = match evidence {
        Some(_) => FileFront::open_recording(path, &config.links)?,
        None => FileFront::open(path)?,
    };
    let mut recording = match evidence {
        Some(dir) => {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            Some(Recording::for_replay(config, dir, front.link(), &name)?)
        }
        None => None,
    };
    let mut tracker = Tracker::new(config);
    if format == Format::Text {
        writeln!(out, "# {} ({})", path.display(), front.link())?;
    }
    let mut held = 0;
    let (front_end, printed) = match emitters {
        Some(emitters) => {
            let mut sink = Inline {
                printer: Printer::new(format, &mut *out),
                emitters,
                events: Vec::new(),
                storm: StormControl::new(config),
                held: Vec::new(),
            };
            let tracked = track(front, &mut tracker, &mut sink, recording.as_mut());
            held = sink.storm.held_total();
            let printed = sink.printer.finish();
            (tracked?, printed)
        }
        None => std::thread::scope(|scope| {
            let (tx, printouts) = bounded::<Printout>(PRINT_QUEUE);
            let (empties, recycled) = bounded::<Printout>(PRINT_QUEUE + 2);
            let out = &mut *out;
            let printer = std::thread::Builder::new()
                .name("replay-printer".into())
                .spawn_scoped(scope, move || {
                    let mut printer = Printer::new(format, out);
                    for mut p in printouts {
                        printer.print(&p)?;
                        // The analytics' boxes are freed here: the
                        // tracker's thread sets replay's pace.
                        for s in &mut p.summaries {
                            s.analytics = None;
                        }
                        // Emptied by the tracker thread, which made what
                        // it holds: allocators free fastest on the thread
                        // that allocated.
                        let _ = empties.try_send(p);
                    }
                    printer.finish()
                })?;
            let mut sink = Threaded {
                next: Printout::default(),
                tx,
                recycled,
                storm: StormControl::new(config),
                kept: 0,
                scratch: Vec::new(),
            };
            let tracked = track(front, &mut tracker, &mut sink, recording.as_mut());
            held = sink.storm.held_total();
            drop(sink); // the printer sees the end of its queue
            let printed = printer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the printer thread failed")));
            Ok::<_, ReplayError>((tracked?, printed))
        })?,
    };
    // A write error stops the printer first; report it over the capture's.
    printed?;
    let FrontEnd { front, failure } = front_end;
    let counts = Counts {
        front: &front,
        tracker: &tracker,
        held,
    };
    write_replay_summary(path, &counts, format, failure.as_ref(), out)?;
    out.flush()?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    match recording.as_mut().and_then(Recording::take_failure) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Printouts in flight to the printer thread. A printout holds what one
/// batch of [`crate::pipeline::FILE_BATCH`] steps (or, at the end, one
/// slice of [`FINISH_STEP`] connections) produced, sent sooner once it
/// holds [`PRINTOUT_EVENTS`] events or [`PRINTOUT_SUMMARIES`] summaries;
/// when the queue is full, the tracker waits for the printer.
pub const PRINT_QUEUE: usize = 16;

/// Events that make a printout go before its batch ends (1,024 events of
/// 184 bytes: about 190 KB, a step's burst beyond it aside).
pub const PRINTOUT_EVENTS: usize = 1024;

/// Summaries that make a printout go before its batch ends (512 summaries
/// of 248 bytes: about 130 KB). An eviction retires 1/16 of the table at
/// once; it is split over several printouts.
pub const PRINTOUT_SUMMARIES: usize = 512;

/// Feeds every step of the file to `tracker`, then retires what is left
/// in the table, handing what it produces to `sink`. Stops early when the
/// sink is gone (a write error on the printer thread).
fn track(
    front: FileFront,
    tracker: &mut Tracker,
    sink: &mut impl Sink,
    mut recording: Option<&mut Recording>,
) -> Result<FrontEnd, CaptureError> {
    let mut open = true;
    'file: while let Some(batch) = front.next_batch() {
        for (i, step) in batch.steps.iter().enumerate() {
            let start = sink.events().len();
            apply(tracker, step, sink.events());
            if let Some(r) = recording.as_deref_mut() {
                let events = sink.events();
                r.on_step(
                    0,
                    step,
                    batch.headers.get(i),
                    events.get(start..).unwrap_or_default(),
                );
                for done in r.take_opened().into_iter().flatten() {
                    sink.note_evidence(&done, step.ts());
                }
            }
            if sink.take(tracker, Some(step.ts())).is_err() {
                open = false;
                break 'file;
            }
        }
        if let (Some(r), Some(ts)) = (recording.as_deref_mut(), batch.steps.last().map(Step::ts)) {
            for done in r.take_done() {
                sink.note_evidence(&done, ts);
            }
        }
        front.recycle(batch);
        if sink.end_of_batch().is_err() {
            open = false;
            break;
        }
    }
    let end = front.finish()?;
    if open {
        // The table's remaining connections, a slice at a time, so that
        // their summaries are printed before the next ones are made.
        let mut done = false;
        while !done {
            let start = sink.events().len();
            done = tracker.finish_some(FINISH_STEP, sink.events());
            if let Some(r) = recording.as_deref_mut() {
                r.on_events(sink.events().get(start..).unwrap_or_default());
                r.take_done();
            }
            if sink.take(tracker, None).is_err() || sink.end_of_batch().is_err() {
                break;
            }
        }
        // A printer that stopped reports its own error.
        let _ = sink.finish_storm();
    }
    if let Some(r) = recording {
        r.finish();
    }
    Ok(end)
}

/// Where the tracker's output goes: printed here, or sent to the printer
/// thread. An error means the output is gone; the printer reports why.
trait Sink {
    /// Where the tracker puts the events of a step.
    fn events(&mut self) -> &mut Vec<Event>;

    /// A step is done: takes its events (and the summaries of
    /// connections that left the table); `tick` is the step's time.
    fn take(&mut self, tracker: &mut Tracker, tick: Option<Timestamp>) -> io::Result<()>;

    /// A batch of steps is done.
    fn end_of_batch(&mut self) -> io::Result<()>;

    /// The capture is done: storm control's open windows give their
    /// `suppressed` events, which go out like the others.
    fn finish_storm(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// An evidence file was opened or closed at packet time `now`
    /// (before the sink takes the step's events, so that their pages name
    /// it).
    fn note_evidence(&mut self, _done: &crate::evidence::Done, _now: Timestamp) {}
}

/// Printing on the tracker's thread, each timeline line written out
/// before the emitters see its event.
struct Inline<'o, 'e> {
    printer: Printer<'o>,
    emitters: &'e mut crate::emit::Emitters,
    events: Vec<Event>,
    storm: StormControl,
    /// `suppressed` events to print.
    held: Vec<Event>,
}

impl Sink for Inline<'_, '_> {
    fn events(&mut self) -> &mut Vec<Event> {
        &mut self.events
    }

    fn note_evidence(&mut self, done: &crate::evidence::Done, now: Timestamp) {
        self.emitters.note_evidence(done, now);
    }

    fn take(&mut self, tracker: &mut Tracker, tick: Option<Timestamp>) -> io::Result<()> {
        // Every event reaches the emitters; storm control only decides
        // which are printed.
        for e in self.events.drain(..) {
            let pass = self.storm.event(&e, tracker.protection(&e), &mut self.held);
            for s in self.held.drain(..) {
                self.printer.event(&s);
            }
            if pass == Pass::Print {
                self.printer.event(&e);
                self.printer.flush()?;
            }
            self.emitters.on_event(&e);
        }
        if let Some(ts) = tick {
            self.emitters.advance_to(ts);
        }
        for c in tracker.drain_retired() {
            if self.storm.summary(&c, &mut self.held) == Pass::Print {
                self.printer.summary(&c)?;
            }
        }
        // Every line up to the step's time is counted: windows that
        // ended by then close.
        if let Some(ts) = tick {
            self.storm.advance_to(ts, &mut self.held);
        }
        for s in self.held.drain(..) {
            self.printer.event(&s);
        }
        Ok(())
    }

    fn end_of_batch(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish_storm(&mut self) -> io::Result<()> {
        self.storm.finish(&mut self.held);
        for s in self.held.drain(..) {
            self.printer.event(&s);
        }
        self.printer.flush()
    }
}

/// What the tracker hands the printer thread for a batch of steps.
#[derive(Default)]
struct Printout {
    events: Vec<Event>,
    summaries: Vec<ConnectionSummary>,
}

/// The tracker's end of the printer thread's queue.
struct Threaded {
    next: Printout,
    tx: Sender<Printout>,
    recycled: Receiver<Printout>,
    storm: StormControl,
    /// Events of `next` already past storm control.
    kept: usize,
    scratch: Vec<Event>,
}

impl Sink for Threaded {
    /// Straight into the next printout: events are not moved again.
    #[inline]
    fn events(&mut self) -> &mut Vec<Event> {
        &mut self.next.events
    }

    #[inline]
    fn take(&mut self, tracker: &mut Tracker, tick: Option<Timestamp>) -> io::Result<()> {
        let events = &mut self.next.events;
        self.storm
            .keep_tail(tracker, events, self.kept, &mut self.scratch);
        if tracker.has_retired() {
            for c in tracker.drain_retired() {
                if self.storm.summary(&c, &mut self.next.events) == Pass::Print {
                    self.next.summaries.push(c);
                }
                if self.next.summaries.len() >= PRINTOUT_SUMMARIES {
                    self.end_of_batch()?;
                }
            }
        }
        // Every line up to the step's time is counted: windows that
        // ended by then close.
        if let Some(ts) = tick {
            self.storm.advance_to(ts, &mut self.next.events);
        }
        self.kept = self.next.events.len();
        if self.next.events.len() >= PRINTOUT_EVENTS {
            self.end_of_batch()?;
        }
        Ok(())
    }

    fn end_of_batch(&mut self) -> io::Result<()> {
        if self.next.events.is_empty() && self.next.summaries.is_empty() {
            return Ok(());
        }
        let next = match self.recycled.try_recv() {
            Ok(mut p) => {
                p.events.clear();
                p.summaries.clear();
                p
            }
            Err(_) => Printout::default(),
        };
        self.kept = 0;
        self.tx
            .send(std::mem::replace(&mut self.next, next))
            .map_err(|_| io::Error::other("the printer thread stopped"))
    }

    fn finish_storm(&mut self) -> io::Result<()> {
        self.storm.finish(&mut self.next.events);
        self.kept = self.next.events.len();
        self.end_of_batch()
    }
}

/// Turns events into timeline lines and summaries into spooled lines;
/// the spool follows the timeline.
struct Printer<'o> {
    format: Format,
    out: &'o mut (dyn Write + Send),
    /// Timeline lines not yet written, passed on a chunk at a time.
    pending: Vec<u8>,
    spool: Spool,
}

impl<'o> Printer<'o> {
    fn new(format: Format, out: &'o mut (dyn Write + Send)) -> Printer<'o> {
        Printer {
            format,
            out,
            pending: Vec::with_capacity(OUT_CHUNK + 4096),
            spool: Spool::new(),
        }
    }

    /// Appends one timeline line.
    #[inline]
    fn event(&mut self, e: &Event) {
        match self.format {
            Format::Text => event_text::write(e, &mut self.pending),
            Format::Json => event_json::write(e, &mut self.pending),
        }
        self.pending.push(b'\n');
    }

    /// Spools one connection's summary line.
    fn summary(&mut self, c: &ConnectionSummary) -> io::Result<()> {
        self.spool.push(c, self.format)
    }

    /// Prints a printout's events and spools its summaries.
    fn print(&mut self, p: &Printout) -> io::Result<()> {
        for e in &p.events {
            self.event(e);
            if self.pending.len() >= OUT_CHUNK {
                self.out.write_all(&self.pending)?;
                self.pending.clear();
            }
        }
        for c in &p.summaries {
            self.summary(c)?;
        }
        Ok(())
    }

    /// Writes the timeline so far out, now.
    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.pending)?;
        self.pending.clear();
        self.out.flush()
    }

    /// The rest of the timeline, then the connections.
    fn finish(self) -> io::Result<()> {
        self.out.write_all(&self.pending)?;
        if self.format == Format::Text {
            writeln!(
                self.out,
                "# connections (orig -> resp, link, Zeek conn_state and history)"
            )?;
        }
        self.spool.write_to(self.out)
    }
}

/// What the replay's last line counts.
struct Counts<'a> {
    front: &'a Front,
    tracker: &'a Tracker,
    /// Lines storm control held back.
    held: u64,
}

fn write_replay_summary(
    path: &Path,
    counts: &Counts<'_>,
    format: Format,
    failure: Option<&CaptureError>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let p = counts.front;
    let d = p.decoder();
    let t = counts.tracker.stats();
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
                "suppressed_lines": counts.held,
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
            if counts.held > 0 {
                writeln!(
                    out,
                    "# {} lines held back by storm control (see the suppressed lines; --every-line prints them all)",
                    counts.held
                )?;
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
