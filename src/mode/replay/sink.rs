//! Where the tracker's output goes during a replay: printed on the
//! tracker's thread before the emitters see each event ([`Inline`]), or
//! handed, a printout at a time, to the printer thread ([`Threaded`]).

use std::io;

use crossbeam_channel::{Receiver, Sender};

use super::print::Printer;
use super::Sink;
use crate::config::Config;
use crate::event::Event;
use crate::storm::{Pass, StormControl};
use crate::time::Timestamp;
use crate::track::{ConnectionSummary, Tracker};

/// Printouts in flight to the printer thread. A printout holds what one
/// batch of [`crate::pipeline::FILE_BATCH`] steps (or, at the end, one
/// slice of [`FINISH_STEP`](super::FINISH_STEP) connections) produced, sent sooner once it
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

/// Printing on the tracker's thread, each timeline line written out
/// before the emitters see its event.
pub(super) struct Inline<'o, 'e> {
    printer: Printer<'o>,
    emitters: &'e mut crate::emit::Emitters,
    events: Vec<Event>,
    storm: StormControl,
    /// `suppressed` events to print.
    held: Vec<Event>,
}

impl<'o, 'e> Inline<'o, 'e> {
    pub(super) fn new(
        printer: Printer<'o>,
        emitters: &'e mut crate::emit::Emitters,
        config: &Config,
    ) -> Self {
        Inline {
            printer,
            emitters,
            events: Vec::new(),
            storm: StormControl::new(config),
            held: Vec::new(),
        }
    }

    /// The end of the replay: the lines storm control held back, and the
    /// rest of the output written.
    pub(super) fn finish(self) -> (u64, io::Result<()>) {
        (self.storm.held_total(), self.printer.finish())
    }
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
pub(super) struct Printout {
    pub(super) events: Vec<Event>,
    pub(super) summaries: Vec<ConnectionSummary>,
}

/// The tracker's end of the printer thread's queue.
pub(super) struct Threaded {
    next: Printout,
    tx: Sender<Printout>,
    recycled: Receiver<Printout>,
    storm: StormControl,
    /// Events of `next` already past storm control.
    kept: usize,
    scratch: Vec<Event>,
}

impl Threaded {
    pub(super) fn new(tx: Sender<Printout>, recycled: Receiver<Printout>, config: &Config) -> Self {
        Threaded {
            next: Printout::default(),
            tx,
            recycled,
            storm: StormControl::new(config),
            kept: 0,
            scratch: Vec::new(),
        }
    }

    /// The lines storm control held back.
    pub(super) fn held(&self) -> u64 {
        self.storm.held_total()
    }
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
