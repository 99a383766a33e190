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

/// Evidence being recorded from one capture.
#[derive(Debug)]
pub struct Recording {
    recorder: Recorder,
    store: Store,
    actions: Vec<Action>,
    done: Vec<Done>,
    failure: Option<StoreError>,
    failures: u64,
}

impl Recording {
    /// Records frames of `link` read from `interface` (an interface, or a
    /// capture file's name) into `dir`, under `config`'s `[evidence]` and
    /// links.
    pub fn new(
        config: &Config,
        dir: &Path,
        link: LinkType,
        interface: &str,
    ) -> Result<Recording, StoreError> {
        Ok(Recording {
            recorder: Recorder::new(&config.evidence, &config.links, link, interface),
            store: Store::new(dir, config.evidence.max_disk)?,
            actions: Vec::new(),
            done: Vec::new(),
            failure: None,
            failures: 0,
        })
    }

    /// One step of the pipeline: the events the tracker produced for it
    /// (timer events first, in time order), then its frame with its
    /// headers and wire length.
    pub fn on_step(&mut self, step: &Step, header: Option<(&[u8], u32)>, events: &[Event]) {
        self.on_events(events);
        self.recorder.advance(step.ts(), &mut self.actions);
        if let (Step::Decoded { packet, decoded }, Some((bytes, wire_len))) = (step, header) {
            let r = self
                .recorder
                .on_frame(decoded, *packet, wire_len, bytes, &mut self.actions);
            self.note(r.map_err(StoreError::from));
        }
        self.run();
    }

    /// Events without a frame (a timer tick, the end of the capture).
    pub fn on_events(&mut self, events: &[Event]) {
        for e in events {
            self.recorder.advance(e.ts, &mut self.actions);
            let r = self.recorder.on_event(e, &mut self.actions);
            self.note(r.map_err(StoreError::from));
        }
        self.run();
    }

    /// Packet time reached `now` without a frame (the daemon's tick);
    /// buffered frames go out to their files.
    pub fn advance(&mut self, now: Timestamp) {
        self.recorder.advance(now, &mut self.actions);
        self.run();
        let r = self.store.flush();
        self.note(r);
    }

    /// The capture ended: closes every open file.
    pub fn finish(&mut self) {
        self.recorder.finish(&mut self.actions);
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

    /// The recorder (its rings and open incidents).
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
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
