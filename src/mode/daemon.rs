//! `linewatch run`: the root daemon on the gateway host.
//!
//! Captures (one thread per interface, [`crate::capture::live`]) run the
//! pipeline's decode half ([`crate::pipeline::Front`]) and feed the same
//! sans-IO tracker replay uses. This thread is the only one that touches
//! the tracker: it applies their steps as they come and advances it
//! with the wall clock every 100 ms, so silence and black holes are found
//! while no packet arrives. The clock it advances to lags the wall clock by
//! [`CLOCK_LAG`], so a packet still in the queue cannot make a deadline
//! fire falsely.
//!
//! Output: each event as one JSON line on stdout (replay's schema),
//! flushed per line; human lines on stderr. Signals: SIGTERM/SIGINT stop
//! within a second or two; SIGHUP reloads the config (a broken one is
//! refused, the old one keeps running); SIGUSR1 logs a status dump.

mod evidence;
mod state;
mod table;

pub use table::status_table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::capture::live::{self, CaptureMsg, CaptureSpec};
use crate::clock::wall_now;
use crate::config::{Config, ConfigError};
use crate::event::{Event, EventKind};
use crate::evidence::Recording;
use crate::notify;
use crate::output::{event_json, event_text, summary};
use crate::pipeline::apply;
use crate::serve::Served;
use crate::storm::{Pass, StormControl};
use crate::time::Timestamp;
use crate::track::{ConnectionSummary, Tracker};

mod captures;
mod setup;

use captures::Captures;
use setup::{drop_privileges, load, state_dir};

/// Open incidents, persisted so a restart resolves what it inherited.
pub const INCIDENTS_FILE: &str = "incidents.json";

/// How far behind the wall clock the tracker's clock runs.
pub const CLOCK_LAG: StdDuration = StdDuration::from_millis(250);
/// How often the tracker is advanced without packets.
pub const TICK: StdDuration = StdDuration::from_millis(100);
/// After a stall ([`live::STALL`]), how long ticks wait for the capture
/// threads to read their drop counters (they do so first thing).
pub const STALL_GRACE: StdDuration = StdDuration::from_millis(300);
/// Drops within this long of the last one keep a capture "degraded".
pub const DEGRADED_HOLD: StdDuration = StdDuration::from_secs(30);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config file is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The config has no capture interface etc.
    #[error("{path}: {message}")]
    NotForDaemon {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// The state directory cannot be used.
    #[error("state directory {path}: {source} (set [daemon] state_dir, or run under systemd with StateDirectory=linewatch)")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Dropping privileges failed.
    #[error("cannot drop privileges to user {user}: {message}")]
    User {
        /// The user.
        user: String,
        /// Why.
        message: String,
    },
    /// A signal handler or thread could not be set up.
    #[error("{0}")]
    Setup(String),
}

/// Options from the command line.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// linewatch.toml.
    pub config: PathBuf,
    /// Drop to this user after opening the captures (like tcpdump -Z).
    pub user: Option<String>,
    /// Overrides the config's state directory.
    pub state_dir: Option<PathBuf>,
}

/// The daemon's own log line, within its call site's budget
/// ([`crate::logging`]).
#[track_caller]
fn log(msg: &str) {
    crate::logging::warn(msg);
}

/// One event: its JSON line on stdout, at once, and its text in the log
/// (and on the `[metrics]` status page).
fn print_event(out: &mut std::io::StdoutLock<'_>, e: &Event, served: Option<&Served>) {
    let _ = writeln!(out, "{}", event_json::line(e));
    let _ = out.flush();
    let text = event_text::line(e);
    // Not through `log`: storm control already kept the event stream.
    eprintln!("linewatch: {text}");
    if let Some(s) = served {
        s.on_printed(text);
    }
}

struct Daemon {
    config: Config,
    emitters: crate::emit::Emitters,
    tracker: Tracker,
    captures: Captures,
    state_dir: PathBuf,
    started_at: Timestamp,
    events: Vec<Event>,
    /// Events of `events` already written to stdout.
    printed: usize,
    out: std::io::Stdout,
    /// The evidence recorder; `None` when no link records evidence or its
    /// directory could not be made (logged: the probe goes on without).
    recording: Option<Recording>,
    /// The last evidence files, for the status document.
    evidence: evidence::Listed,
    /// Storm control: what of a flood is printed (every event still
    /// reaches the emitters).
    storm: StormControl,
    /// `suppressed` events waiting to be printed.
    held: Vec<Event>,
    /// Round-trip and response-time samples on their way to the metrics.
    fresh: Vec<crate::track::Fresh>,
    /// The `[metrics]` endpoint, when configured.
    served: Option<Served>,
    /// When the state directory's maintenance file was last read (its
    /// modification time), so it is read again only when it changes.
    maintenance_read: Option<std::time::SystemTime>,
}

impl Daemon {
    /// Writes the events not yet written as JSON lines (and to the log),
    /// at once: the FIN is on stdout before anything else is done with it.
    fn print_new(&mut self) {
        let Some(new) = self.events.get(self.printed..) else {
            return;
        };
        if new.is_empty() {
            return;
        }
        let mut out = self.out.lock();
        for e in new {
            let pass = self
                .storm
                .event(e, self.tracker.protection(e), &mut self.held);
            for s in self.held.drain(..) {
                print_event(&mut out, &s, self.served.as_ref());
            }
            if pass == Pass::Print {
                print_event(&mut out, e, self.served.as_ref());
            }
        }
        self.printed = self.events.len();
    }

    /// Prints the `suppressed` events of storm control's windows that
    /// ended by `now` (all of them with `now` = `None`: stopping).
    fn print_held(&mut self, now: Option<Timestamp>) {
        match now {
            Some(now) => self.storm.advance_to(now, &mut self.held),
            None => self.storm.finish(&mut self.held),
        }
        let mut out = self.out.lock();
        for s in self.held.drain(..) {
            print_event(&mut out, &s, self.served.as_ref());
        }
    }

    /// Writes pending events and retired summaries as JSON lines, and
    /// feeds the events to the emitters.
    fn emit(&mut self) {
        self.print_new();
        self.printed = 0;
        for e in self.events.drain(..) {
            if let Some(s) = &self.served {
                s.on_event(&e);
            }
            self.emitters.on_event(&e);
        }
        self.print_retired();
    }

    /// Writes the summaries of connections that left the table, within
    /// storm control's budget.
    fn print_retired(&mut self) {
        if !self.tracker.has_retired() {
            return;
        }
        let mut out = self.out.lock();
        let retired: Vec<ConnectionSummary> = self.tracker.drain_retired().collect();
        for c in retired {
            let pass = self.storm.summary(&c, &mut self.held);
            for s in self.held.drain(..) {
                print_event(&mut out, &s, self.served.as_ref());
            }
            if pass == Pass::Print {
                let _ = writeln!(out, "{}", summary::json_line(&c));
                let _ = out.flush();
            }
        }
    }

    fn on_message(&mut self, msg: CaptureMsg) {
        match msg {
            CaptureMsg::Steps {
                capture,
                steps,
                headers,
            } => {
                let mut start = self.events.len();
                let mut ends = Vec::with_capacity(steps.len());
                for step in &steps {
                    apply(&mut self.tracker, step, &mut self.events);
                    ends.push(self.events.len());
                }
                // The events go out first; then the evidence recorder
                // (which may encode a whole `before` window) sees the
                // steps, in order, each with its own events.
                self.print_new();
                if let Some(r) = &mut self.recording {
                    for (i, (step, end)) in steps.iter().zip(&ends).enumerate() {
                        let events = self.events.get(start..*end).unwrap_or_default();
                        r.on_step(capture, step, headers.get(i), events);
                        start = *end;
                    }
                }
            }
            CaptureMsg::Opened { capture, link } => {
                let now = wall_now();
                if let Some(c) = self.captures.list.get_mut(capture) {
                    c.link = Some(link);
                    if let Some(r) = &mut self.recording {
                        r.capture_opened(capture, link, &c.spec.interface);
                    }
                    log(&format!("capture open on {} ({link})", c.spec.interface));
                    if let Some(since) = c.lost_since.take() {
                        self.events.push(Event::probe(
                            now,
                            EventKind::CaptureResumed {
                                interface: c.spec.interface.as_str().into(),
                                lost_for: now.since(since),
                            },
                        ));
                    }
                    let degraded = c.degraded;
                    let iface = c.spec.interface.clone();
                    self.tracker.set_capture_degraded(&iface, degraded);
                }
            }
            CaptureMsg::Dropped { .. } => self.check_drops(),
            CaptureMsg::Lost { capture, reason } => {
                let now = wall_now();
                if let Some(c) = self.captures.list.get_mut(capture) {
                    if c.lost_since.is_none() {
                        c.lost_since = Some(now);
                        self.events.push(Event::probe(
                            now,
                            EventKind::CaptureLost {
                                interface: c.spec.interface.as_str().into(),
                                reason,
                            },
                        ));
                    }
                    let iface = c.spec.interface.clone();
                    self.tracker.set_capture_degraded(&iface, true);
                }
            }
        }
    }

    /// Compares drop counters with the last look: drops mean degraded.
    fn check_drops(&mut self) {
        let now = wall_now();
        for c in &mut self.captures.list {
            let drops = c.counters.dropped.load(Ordering::Relaxed)
                + c.counters.if_dropped.load(Ordering::Relaxed)
                + c.counters.queue_dropped.load(Ordering::Relaxed);
            let iface: Arc<str> = c.spec.interface.as_str().into();
            if drops > c.drops_seen {
                c.last_drop = Some(Instant::now());
                if !c.degraded {
                    c.degraded = true;
                    self.events.push(Event::probe(
                        now,
                        EventKind::CaptureDegraded {
                            interface: iface.clone(),
                            dropped: drops - c.drops_seen,
                        },
                    ));
                }
            } else if c.degraded && c.last_drop.is_none_or(|t| t.elapsed() > DEGRADED_HOLD) {
                c.degraded = false;
                self.events.push(Event::probe(
                    now,
                    EventKind::CaptureRecovered {
                        interface: iface.clone(),
                    },
                ));
            }
            c.drops_seen = drops;
            let lost = c.lost_since.is_some();
            self.tracker
                .set_capture_degraded(&iface, c.degraded || lost);
        }
    }

    /// Moves packet time to `now` without a packet: the tracker's timers,
    /// then the evidence recorder (which closes files whose `after` has
    /// passed and writes buffered frames out).
    fn tick(&mut self, now: Timestamp) {
        let start = self.events.len();
        self.tracker.advance_to(now, &mut self.events);
        // Every line up to `now` is counted before storm control closes
        // the windows that ended by then.
        self.print_new();
        self.print_retired();
        self.print_held(Some(now));
        crate::logging::flush();
        if let Some(r) = &mut self.recording {
            r.on_events(self.events.get(start..).unwrap_or_default());
            r.advance(now);
        }
    }

    /// Starts the evidence recorder anew under the current config (after a
    /// reload changed `[evidence]` or the links): the open files are
    /// closed first (marked cut short), the rings start empty.
    fn restart_recording(&mut self) {
        if let Some(r) = &mut self.recording {
            r.finish();
        }
        self.note_evidence();
        self.recording = evidence::start(&self.config, &self.state_dir);
        if let Some(r) = &mut self.recording {
            for (i, c) in self.captures.list.iter().enumerate() {
                if let Some(link) = c.link {
                    r.capture_opened(i, link, &c.spec.interface);
                }
            }
        }
    }

    /// Logs the evidence files opened and closed since the last look,
    /// tells the pages and lists them in the status document; logs a
    /// writing failure once.
    fn note_evidence(&mut self) {
        let Some(r) = &mut self.recording else {
            return;
        };
        for done in r.take_done() {
            self.emitters.note_evidence(&done, wall_now());
            log(&evidence::log_line(&done));
            self.evidence.note(&done);
        }
        if let Some(e) = r.take_failure() {
            log(&format!("{e}"));
        }
    }

    fn reload(&mut self, path: &Path) {
        match load(path) {
            Err(e) => log(&format!(
                "SIGHUP: new config rejected, keeping the running one: {e}"
            )),
            Ok(config) => {
                if config.metrics != self.config.metrics {
                    log("SIGHUP: [metrics] changed; the endpoint keeps its address until the next start (systemctl restart linewatch)");
                }
                let old_specs: Vec<CaptureSpec> =
                    self.captures.list.iter().map(|c| c.spec.clone()).collect();
                self.tracker.reconfigure(&config);
                self.tracker.keep_fresh_samples(config.statsd.is_some());
                self.storm.reconfigure(&config);
                crate::logging::set_limits(config.storm);
                let new_specs = CaptureSpec::for_links(&config.links);
                let same = new_specs.len() == old_specs.len()
                    && new_specs
                        .iter()
                        .zip(&old_specs)
                        .all(|(a, b)| a.same_capture(b));
                if !same {
                    let (specs, opened) = Captures::open(&config);
                    match Captures::start(specs, opened) {
                        Ok(new) => {
                            let old = std::mem::replace(&mut self.captures, new);
                            old.shutdown();
                        }
                        Err(e) => log(&format!("SIGHUP: cannot restart captures: {e}")),
                    }
                }
                // Pages follow the new links too; changed emitter sections
                // restart on their outboxes.
                let errors = self.emitters.reconfigure(
                    &self.config,
                    &config,
                    &self.state_dir.join("outbox"),
                    wall_now(),
                );
                for e in errors {
                    log(&format!(
                        "SIGHUP: {e}; that emitter keeps its previous settings"
                    ));
                }
                let evidence_changed = evidence::changed(&self.config, &config);
                self.config = config;
                if evidence_changed {
                    self.restart_recording();
                }
                // The file's windows are checked against the new links.
                self.read_maintenance(true);
                log(&format!("SIGHUP: config {} reloaded", path.display()));
            }
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(opts: &DaemonOptions) -> Result<(), DaemonError> {
    let config = load(&opts.config)?;
    crate::logging::set_limits(config.storm);
    let term = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    let usr1 = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [
        (signal_hook::consts::SIGTERM, &term),
        (signal_hook::consts::SIGINT, &term),
        (signal_hook::consts::SIGHUP, &hup),
        (signal_hook::consts::SIGUSR1, &usr1),
    ] {
        signal_hook::flag::register(sig, flag.clone())
            .map_err(|e| DaemonError::Setup(format!("cannot install signal handler: {e}")))?;
    }
    // Open the captures first, then drop privileges, then touch anything else.
    let (specs, opened) = Captures::open(&config);
    if let Some(user) = &opts.user {
        drop_privileges(user)?;
        log(&format!(
            "running as {user}, keeping CAP_NET_RAW and CAP_NET_ADMIN"
        ));
    }
    let state_dir = state_dir(opts, &config);
    std::fs::create_dir_all(&state_dir).map_err(|source| DaemonError::StateDir {
        path: state_dir.clone(),
        source,
    })?;
    let captures = Captures::start(specs, opened)?;
    let mut emitters = crate::emit::Emitters::new(
        &config,
        crate::emit::EmitMode::Live,
        &state_dir.join("outbox"),
        None,
    )
    .map_err(DaemonError::Setup)?;
    let mut inherited = Vec::new();
    if let Ok(text) = std::fs::read(state_dir.join(INCIDENTS_FILE)) {
        match serde_json::from_slice::<Vec<crate::policy::OpenIncident>>(&text) {
            Ok(open) => {
                inherited.clone_from(&open);
                if !open.is_empty() {
                    log(&format!(
                        "{} incident(s) left open by the previous run; they resolve once the links are seen healthy",
                        open.len()
                    ));
                }
                emitters.restore(&open);
            }
            Err(e) => log(&format!("ignoring unreadable {INCIDENTS_FILE}: {e}")),
        }
    }
    emitters.persist_incidents_in(state_dir.join(INCIDENTS_FILE), inherited);
    let served = Served::for_config(&config).map_err(|e| DaemonError::Setup(e.to_string()))?;
    if let Some(s) = &served {
        log(&format!(
            "[metrics]: serving /metrics, / and /status.json on http://{}",
            s.addr
        ));
    }
    let recording = evidence::start(&config, &state_dir);
    let mut d = Daemon {
        maintenance_read: None,
        served,
        recording,
        evidence: evidence::Listed::default(),
        emitters,
        tracker: {
            let mut t = Tracker::new(&config);
            t.keep_fresh_samples(config.statsd.is_some());
            t
        },
        storm: StormControl::new(&config),
        held: Vec::new(),
        fresh: Vec::new(),
        config,
        captures,
        state_dir,
        started_at: wall_now(),
        events: Vec::new(),
        printed: 0,
        out: std::io::stdout(),
    };
    d.tick(wall_now());
    d.write_status();
    notify::notify("READY=1\nSTATUS=capturing");
    log("ready");

    let watchdog = notify::watchdog_interval();
    let mut last_watchdog = Instant::now();
    let mut last_tick = Instant::now();
    let mut resumed: Option<Instant> = None;
    let mut last_status = Instant::now();
    let mut last_drops = Instant::now();
    while !term.load(Ordering::Relaxed) {
        match d.captures.rx.recv_timeout(TICK) {
            Ok(msg) => d.on_message(msg),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
        }
        if last_tick.elapsed() >= TICK {
            // This loop did not run for a while (the process was stopped
            // or starved): time must not move on before the capture
            // threads have said whether the kernel dropped packets
            // meanwhile, or a silence would be judged as the line's.
            if last_tick.elapsed() >= live::STALL && resumed.is_none() {
                resumed = Some(Instant::now());
            }
        }
        if last_tick.elapsed() >= TICK && resumed.is_none_or(|t| t.elapsed() >= STALL_GRACE) {
            if resumed.take().is_some() {
                d.check_drops();
            }
            last_tick = Instant::now();
            let now = wall_now();
            let lagged = Timestamp::from_nanos(now.as_nanos() - CLOCK_LAG.as_nanos() as i64);
            d.tick(lagged);
            d.emitters.advance_to(lagged);
            if let Some(w) = watchdog {
                // Fed from this loop: a wedged tracker stops the keep-alives.
                if last_watchdog.elapsed() >= w {
                    notify::notify("WATCHDOG=1");
                    last_watchdog = Instant::now();
                }
            }
        }
        if last_drops.elapsed() >= live::STATS_EVERY {
            last_drops = Instant::now();
            d.check_drops();
        }
        // Files first: the pages of this round's events name them.
        d.note_evidence();
        d.emit();
        if last_status.elapsed()
            >= StdDuration::from_nanos(d.config.status_interval.as_nanos().max(0) as u64)
        {
            last_status = Instant::now();
            d.write_status();
        }
        if hup.swap(false, Ordering::Relaxed) {
            d.reload(&opts.config);
            d.write_status();
        }
        if usr1.swap(false, Ordering::Relaxed) {
            log(&format!("status dump:\n{}", status_table(&d.status_doc())));
        }
    }
    notify::notify("STOPPING=1");
    log("stopping");
    d.captures.stop.store(true, Ordering::Relaxed);
    while let Ok(msg) = d.captures.rx.try_recv() {
        d.on_message(msg);
    }
    d.emit();
    d.print_held(None);
    if let Some(r) = &mut d.recording {
        r.finish();
    }
    d.note_evidence();
    d.write_status();
    let Daemon {
        captures, emitters, ..
    } = d;
    captures.shutdown();
    // SIGTERM must stop within 5 s: a page request in flight gets 2 s, then
    // stays in the outbox for the next start.
    emitters.shutdown(StdDuration::from_secs(2));
    Ok(())
}
