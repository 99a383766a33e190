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

mod print;
mod sink;

use std::io::{self, Write};
use std::path::Path;

use crossbeam_channel::bounded;

use crate::capture::CaptureError;
use crate::config::Config;
use crate::event::Event;
use crate::evidence::{Recording, StoreError};
use crate::pipeline::{apply, FileFront, FrontEnd, Step};
use crate::time::Timestamp;
use crate::track::{ConnectionSummary, Tracker};

pub use print::SPOOL_IN_MEMORY;
use print::{write_replay_summary, Counts, Printer};
use sink::{Inline, Printout, Threaded};
pub use sink::{PRINTOUT_EVENTS, PRINTOUT_SUMMARIES, PRINT_QUEUE};

/// Connections retired per step at the end of a replay (their summaries
/// are spooled between steps).
const FINISH_STEP: usize = 1024;

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
    let (front_end, printed, held) = match emitters {
        Some(emitters) => {
            let mut sink = Inline::new(Printer::new(format, &mut *out), emitters, config);
            let tracked = track(front, &mut tracker, &mut sink, recording.as_mut());
            let (held, printed) = sink.finish();
            (tracked?, printed, held)
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
            let mut sink = Threaded::new(tx, recycled, config);
            let tracked = track(front, &mut tracker, &mut sink, recording.as_mut());
            let held = sink.held();
            drop(sink); // the printer sees the end of its queue
            let printed = printer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the printer thread failed")));
            Ok::<_, ReplayError>((tracked?, printed, held))
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
