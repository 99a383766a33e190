//! [`Recording`]: the recorder and its store together, fed what the
//! pipeline produces step by step (replay) or frame by frame (daemon).

use std::path::Path;

use super::recorder::{Action, Recorder};
use super::store::{Done, Store, StoreError};
use crate::config::Config;
use crate::decode::LinkType;
use crate::event::Event;
use crate::pipeline::Step;
use crate::time::Timestamp;

/// Evidence being recorded: one recorder per capture (a replay's file,
/// each interface of the daemon), one store for all.
#[derive(Debug)]
pub struct Recording {
    config: Config,
    recorders: Vec<Option<Recorder>>,
    store: Store,
    actions: Vec<Action>,
    done: Vec<Done>,
    failure: Option<StoreError>,
    failures: u64,
}

impl Recording {
    /// Records the frames of a capture file of `link` type named `name`
    /// into `dir`, for every link of `config` (or, without links, for all
    /// of its TCP), under its `[evidence]`. The capture is number 0.
    pub fn for_replay(
        config: &Config,
        dir: &Path,
        link: LinkType,
        name: &str,
    ) -> Result<Recording, StoreError> {
        let mut r = Recording::new(config, dir)?;
        r.recorders = vec![Some(Recorder::new(
            &config.evidence,
            &config.links,
            link,
            name,
            |_| true,
        ))];
        Ok(r)
    }

    /// Records into `dir` under `config`, for captures that announce
    /// themselves with [`Recording::capture_opened`] (the daemon).
    pub fn new(config: &Config, dir: &Path) -> Result<Recording, StoreError> {
        Ok(Recording {
            config: config.clone(),
            recorders: Vec::new(),
            store: Store::new(dir, config.evidence.max_disk)?,
            actions: Vec::new(),
            done: Vec::new(),
            failure: None,
            failures: 0,
        })
    }

    /// Capture number `capture` (re)opened on `interface` with frames of
    /// `link`: its recorder records the links on that interface.
    pub fn capture_opened(&mut self, capture: usize, link: LinkType, interface: &str) {
        if self.recorders.len() <= capture {
            self.recorders.resize_with(capture + 1, || None);
        }
        let Some(slot) = self.recorders.get_mut(capture) else {
            return;
        };
        match slot {
            Some(r) => r.set_link_type(link),
            None => {
                *slot = Some(Recorder::new(
                    &self.config.evidence,
                    &self.config.links,
                    link,
                    interface,
                    |l| l.interface.as_deref() == Some(interface),
                ))
            }
        }
    }

    /// One step of capture `capture`: the events the tracker produced for
    /// it (timer events first, in time order), then its frame with its
    /// headers and wire length.
    pub fn on_step(
        &mut self,
        capture: usize,
        step: &Step,
        header: Option<(&[u8], u32)>,
        events: &[Event],
    ) {
        self.on_events(events);
        self.advance_recorders(step.ts());
        if let (Step::Decoded { packet, decoded }, Some((bytes, wire_len))) = (step, header) {
            if let Some(Some(rec)) = self.recorders.get_mut(capture) {
                let r = rec.on_frame(decoded, *packet, wire_len, bytes, &mut self.actions);
                self.note(r.map_err(StoreError::from));
            }
        }
        self.run();
    }

    /// Events without a frame (a timer tick, the end of the capture): to
    /// every capture's recorder (each records only its own links).
    pub fn on_events(&mut self, events: &[Event]) {
        for e in events {
            self.advance_recorders(e.ts);
            let mut failed = Vec::new();
            for rec in self.recorders.iter_mut().flatten() {
                if let Err(err) = rec.on_event(e, &mut self.actions) {
                    failed.push(err);
                }
            }
            for err in failed {
                self.note(Err(err.into()));
            }
        }
        self.run();
    }

    /// Packet time reached `now` without a frame (the daemon's tick);
    /// buffered frames go out to their files.
    pub fn advance(&mut self, now: Timestamp) {
        self.advance_recorders(now);
        self.run();
        let r = self.store.flush();
        self.note(r);
    }

    fn advance_recorders(&mut self, now: Timestamp) {
        for rec in self.recorders.iter_mut().flatten() {
            rec.advance(now, &mut self.actions);
        }
    }

    /// The capture ended (or the daemon stops): closes every open file.
    pub fn finish(&mut self) {
        for rec in self.recorders.iter_mut().flatten() {
            rec.finish(&mut self.actions);
        }
        self.run();
    }

    /// The first error, if writing evidence failed (recording goes on:
    /// the next incident may succeed, and the probe must not stop for
    /// its evidence), with how many failures there were in all.
    pub fn failure(&self) -> Option<(&StoreError, u64)> {
        self.failure.as_ref().map(|e| (e, self.failures))
    }

    /// Takes the first error, for a replay to report.
    pub fn take_failure(&mut self) -> Option<StoreError> {
        self.failure.take()
    }

    fn note(&mut self, r: Result<(), StoreError>) {
        if let Err(e) = r {
            self.failures += 1;
            self.failure.get_or_insert(e);
        }
    }

    /// Files opened and closed since the last call, in order.
    pub fn take_done(&mut self) -> Vec<Done> {
        std::mem::take(&mut self.done)
    }

    /// The recorders (their rings and open incidents), one per capture.
    pub fn recorders(&self) -> impl Iterator<Item = &Recorder> {
        self.recorders.iter().flatten()
    }

    /// The store (files pruned).
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn run(&mut self) {
        // Taken out (and put back, capacity kept) so that a failure can be
        // noted while draining.
        let mut actions = std::mem::take(&mut self.actions);
        for a in actions.drain(..) {
            match self.store.apply(a) {
                Ok(Some(d)) => self.done.push(d),
                Ok(None) => {}
                Err(e) => self.note(Err(e)),
            }
        }
        self.actions = actions;
    }
}
