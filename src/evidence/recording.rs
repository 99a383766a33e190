//! [`Recording`]: the recorder fed what the pipeline produces, step by
//! step (replay) or batch by batch (daemon), and its store on a thread of
//! its own (`evidence-writer`), so that writing a 30 MB `before` window
//! and syncing it never holds up the tracker, its events or its pages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use super::recorder::{Action, Recorder};
use super::store::{describe, path_for, Done, Store, StoreError};
use crate::config::Config;
use crate::decode::LinkType;
use crate::event::Event;
use crate::pipeline::{Header, Step};
use crate::time::Timestamp;

/// Jobs in flight to the writer thread. An append is one frame (about
/// 100 bytes); an open holds a `before` window (at most a ring, so
/// `memory_per_link`). When the queue is full the tracker waits for the
/// disk: the capture thread's own bounded queue then drops and counts
/// frames, which marks the capture degraded.
pub const WRITER_QUEUE: usize = 4096;

/// What the writer thread is to do.
#[derive(Debug)]
enum Job {
    /// A recorder's action, with a new file's path.
    Apply(Action, Option<PathBuf>),
    /// Write buffered frames out to the files.
    Flush,
}

/// Results in flight back from the writer thread (a file closed, an
/// error); beyond it they are counted and lost (the files are not).
pub const RESULT_QUEUE: usize = 1024;

/// Evidence being recorded: one recorder per capture (a replay's file,
/// each interface of the daemon), one store on the writer thread.
#[derive(Debug)]
pub struct Recording {
    config: Config,
    dir: PathBuf,
    recorders: Vec<Option<Recorder>>,
    /// The last path given out per lane (link), for [`path_for`].
    last_path: HashMap<usize, PathBuf>,
    jobs: Option<Sender<Job>>,
    results: Receiver<Result<Done, StoreError>>,
    writer: Option<JoinHandle<()>>,
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
    /// themselves with [`Recording::capture_opened`] (the daemon). Starts
    /// the writer thread.
    pub fn new(config: &Config, dir: &Path) -> Result<Recording, StoreError> {
        let mut store = Store::new(dir, config.evidence.max_disk)?;
        let (jobs, queue) = bounded::<Job>(WRITER_QUEUE);
        let (results_tx, results) = bounded(RESULT_QUEUE);
        let writer = std::thread::Builder::new()
            .name("evidence-writer".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    let mut result = match job {
                        Job::Apply(action, path) => store.apply(action, path),
                        Job::Flush => store.flush().map(|()| None),
                    };
                    // Caught up: what is buffered goes out to the files,
                    // so that a reader sees the trigger's frame at once.
                    if queue.is_empty() {
                        if let Err(e) = store.flush() {
                            result = result.and(Err(e));
                        }
                    }
                    let result = match result {
                        // The recording reported the opening already.
                        Ok(None | Some(Done::Opened(_))) => continue,
                        Ok(Some(done)) => Ok(done),
                        Err(e) => Err(e),
                    };
                    match results_tx.try_send(result) {
                        Ok(()) | Err(TrySendError::Full(_)) => {}
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
            })
            .map_err(|source| StoreError::Io {
                what: "start the writer thread for",
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(Recording {
            config: config.clone(),
            dir: dir.to_path_buf(),
            recorders: Vec::new(),
            last_path: HashMap::new(),
            jobs: Some(jobs),
            results,
            writer: Some(writer),
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
        header: Option<Header<'_>>,
        events: &[Event],
    ) {
        if !events.is_empty() {
            self.on_events(events);
        }
        self.advance_recorders(step.ts());
        if let (Step::Decoded { packet, decoded }, Some(header)) = (step, header) {
            if let Some(Some(rec)) = self.recorders.get_mut(capture) {
                let r = rec.on_frame(decoded, *packet, header, &mut self.actions);
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

    /// Packet time reached `now` without a frame (the daemon's tick):
    /// closes files whose `after` has passed, and has buffered frames
    /// written out to their files.
    pub fn advance(&mut self, now: Timestamp) {
        self.advance_recorders(now);
        self.run();
        self.send(Job::Flush);
    }

    fn advance_recorders(&mut self, now: Timestamp) {
        for rec in self.recorders.iter_mut().flatten() {
            rec.advance(now, &mut self.actions);
        }
    }

    /// The capture ended (or the daemon stops): closes every open file
    /// and waits for the writer thread to finish them.
    pub fn finish(&mut self) {
        for rec in self.recorders.iter_mut().flatten() {
            rec.finish(&mut self.actions);
        }
        self.run();
        self.jobs = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        self.collect();
    }

    /// Files opened (as soon as the recorder opens them, before they are
    /// on disk) and closed (once hashed) since the last call, in order.
    pub fn take_done(&mut self) -> Vec<Done> {
        self.collect();
        std::mem::take(&mut self.done)
    }

    /// Files opened since the last call (known at once, on this thread):
    /// cheap enough to ask after every step, so that the step's pages name
    /// its file. Closed files come with [`Recording::take_done`].
    pub fn take_opened(&mut self) -> Option<Vec<Done>> {
        (!self.done.is_empty()).then(|| std::mem::take(&mut self.done))
    }

    /// The first error, if writing evidence failed (recording goes on:
    /// the next incident may succeed, and the probe must not stop for
    /// its evidence), with how many failures there were in all.
    pub fn failure(&self) -> Option<(&StoreError, u64)> {
        self.failure.as_ref().map(|e| (e, self.failures))
    }

    /// Takes the first error (for a replay to report, for the daemon to
    /// log).
    pub fn take_failure(&mut self) -> Option<StoreError> {
        self.collect();
        self.failure.take()
    }

    /// The recorders (their rings and open incidents), one per capture.
    pub fn recorders(&self) -> impl Iterator<Item = &Recorder> {
        self.recorders.iter().flatten()
    }

    fn note(&mut self, r: Result<(), StoreError>) {
        if let Err(e) = r {
            self.failures += 1;
            self.failure.get_or_insert(e);
        }
    }

    /// Results back from the writer thread.
    fn collect(&mut self) {
        while let Ok(r) = self.results.try_recv() {
            match r {
                Ok(done) => self.done.push(done),
                Err(e) => self.note(Err(e)),
            }
        }
    }

    fn send(&mut self, job: Job) {
        let Some(jobs) = &self.jobs else { return };
        if jobs.send(job).is_err() {
            self.note(Err(StoreError::Io {
                what: "hand a file to the writer thread for",
                path: self.dir.clone(),
                source: std::io::Error::other("the writer thread stopped"),
            }));
        }
    }

    /// Hands the recorders' actions to the writer thread, deciding each
    /// new file's path here (so that pages can name it at once).
    fn run(&mut self) {
        if self.actions.is_empty() {
            return;
        }
        // Taken out (and put back, capacity kept) so that jobs can be
        // sent while draining.
        let mut actions = std::mem::take(&mut self.actions);
        for a in actions.drain(..) {
            let path = match &a {
                Action::Open {
                    lane,
                    link,
                    name,
                    incident,
                    ..
                } => {
                    let path = path_for(
                        &self.dir,
                        link,
                        name,
                        self.last_path.get(lane).map(PathBuf::as_path),
                    );
                    self.last_path.insert(*lane, path.clone());
                    self.done
                        .push(Done::Opened(describe(&path, incident, None)));
                    Some(path)
                }
                Action::Append { .. } | Action::Close { .. } => None,
            };
            self.send(Job::Apply(a, path));
        }
        self.actions = actions;
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
