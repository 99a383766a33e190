//! Emit: incidents and metrics out to the tools the on-call engineer uses.
//!
//! Pipeline role: capture -> decode -> track -> policy -> **emit**.
//!
//! Encoders are pure functions (tested byte for byte); transports (UDP for
//! DogStatsD, HTTP for PagerDuty and Slack) sit behind bounded queues and
//! never block the tracker. Pages go through an on-disk [`outbox`] first,
//! so a notification the policy decided on survives a crash or restart.

pub mod delivery;
pub mod outbox;
pub mod pagerduty;
pub mod slack;
pub mod statsd;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::event::Event;
use crate::policy::{Notification, Policy, Why};
use crate::status::{Health, StatusDoc};
use crate::time::Timestamp;

use delivery::Delivery;
use statsd::{LineSink, Statsd};

/// Pages waiting beyond this many make the probe's own incident.
pub const BACKLOG_TROUBLE: u64 = 50;

/// Whether and how notifications leave the process.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EmitMode {
    /// Nothing is emitted.
    Off,
    /// Print exactly what would be sent (replay rehearsals).
    DryRun,
    /// Send for real.
    Live,
}

/// The policy and every configured emitter, fed with events.
pub struct Emitters {
    policy: Policy,
    host: String,
    statsd: Option<Statsd>,
    pagerduty: Option<Delivery>,
    slack: Option<Delivery>,
    dry: Option<(LineSink, Box<dyn Write + Send>)>,
    /// In a dry run: whether `[pagerduty]` / `[slack]` are configured, so
    /// only what would really be sent is printed.
    dry_pagerduty: bool,
    dry_slack: bool,
    /// Dry-run lines as JSON objects (for `--format json`).
    pub dry_json: bool,
    health: Vec<(Arc<str>, Health, Why)>,
    out: Vec<Notification>,
    /// Where open incidents are persisted (the daemon's
    /// `STATE_DIR/incidents.json`), and what was last written there.
    incidents_file: Option<(std::path::PathBuf, Vec<crate::policy::OpenIncident>)>,
    /// Why the daemon's last write of its status document failed (a
    /// full or read-only state directory), until one succeeds.
    state_write_error: Option<String>,
}

impl std::fmt::Debug for Emitters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitters")
            .field("host", &self.host)
            .finish()
    }
}

fn start_statsd(config: &Config, host: &str) -> Result<Option<Statsd>, String> {
    config
        .statsd
        .as_ref()
        .map(|s| {
            Statsd::new(&s.address, host)
                .map_err(|err| format!("[statsd] address {}: {err}", s.address))
        })
        .transpose()
}

/// `[pagerduty]` with its routing key read (from its file or variable).
fn pagerduty_dest(config: &Config) -> Result<Option<pagerduty::PagerDuty>, String> {
    config
        .pagerduty
        .as_ref()
        .map(|pd| {
            Ok(pagerduty::PagerDuty {
                url: pd.events_url.clone(),
                routing_key: routed(config, "pagerduty", &pd.routing_key, |r| {
                    r.pagerduty.as_ref()
                })?,
            })
        })
        .transpose()
}

/// `[slack]` with its webhook URL read.
fn slack_dest(config: &Config) -> Result<Option<slack::Slack>, String> {
    config
        .slack
        .as_ref()
        .map(|sl| {
            Ok(slack::Slack {
                webhook_url: routed(config, "slack", &sl.webhook_url, |r| r.slack.as_ref())?,
            })
        })
        .transpose()
}

/// A section's credential and the links' own, read; errors name the
/// section or the link.
fn routed(
    config: &Config,
    section: &str,
    default: &crate::config::Secret,
    own: impl Fn(&crate::config::LinkRoutes) -> Option<&crate::config::Secret>,
) -> Result<delivery::Routed, String> {
    let mut r = delivery::Routed::single(secret(&format!("[{section}]"), default)?);
    for l in &config.links {
        if let Some(s) = own(&l.routes) {
            let c = secret(&format!("link `{}`, {section}", l.name), s)?;
            r.per_link.push((l.name.to_string(), c));
        }
    }
    Ok(r)
}

/// A credential, read; the error names `whose` (a section or a link).
fn secret(whose: &str, source: &crate::config::Secret) -> Result<delivery::Credential, String> {
    source
        .resolve()
        .map(delivery::Credential::new)
        .map_err(|err| format!("{whose}: {err}"))
}

fn start<D: delivery::Destination>(
    dest: Option<D>,
    dir: &Path,
) -> Result<Option<Delivery>, String> {
    dest.map(|d| {
        let name = d.name();
        Delivery::start(d, dir).map_err(|err| format!("{name} outbox {}: {err}", dir.display()))
    })
    .transpose()
}

/// Replaces the delivery in `slot` with one for `dest` on the same outbox
/// `dir` (SIGHUP). The secret was read first (`dest`); only then does the
/// old thread let go of the outbox, before the new one opens it: one reader
/// per outbox, so nothing is sent twice. On an error the old delivery keeps
/// running and the error goes to `errors`.
fn restart<D: delivery::Destination>(
    slot: &mut Option<Delivery>,
    dest: Result<Option<D>, String>,
    dir: &Path,
    errors: &mut Vec<String>,
) {
    let dest = match dest {
        Ok(dest) => dest,
        Err(e) => return errors.push(e),
    };
    if let Some(old) = slot.take() {
        old.shutdown();
    }
    match start(dest, dir) {
        Ok(d) => *slot = d,
        Err(e) => errors.push(e),
    }
}

/// This machine's name, for `source` and `h:`.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "linewatch".into())
}

impl Emitters {
    /// Sets up the configured emitters. Live outboxes live under
    /// `outbox_root` (`STATE_DIR/outbox/<destination>`); a dry run prints
    /// to `dry_out` instead.
    pub fn new(
        config: &Config,
        mode: EmitMode,
        outbox_root: &Path,
        dry_out: Option<Box<dyn Write + Send>>,
    ) -> Result<Emitters, String> {
        let host = config.host.clone().unwrap_or_else(hostname);
        let mut e = Emitters {
            policy: Policy::new(config, &host),
            host: host.clone(),
            statsd: None,
            pagerduty: None,
            slack: None,
            dry: None,
            dry_pagerduty: config.pagerduty.is_some(),
            dry_slack: config.slack.is_some(),
            dry_json: false,
            health: Vec::new(),
            out: Vec::new(),
            incidents_file: None,
            state_write_error: None,
        };
        match mode {
            EmitMode::Off => {}
            EmitMode::DryRun => {
                let sink = LineSink::default();
                if config.statsd.is_some() {
                    e.statsd = Some(Statsd::with_sink(sink.clone(), &host));
                }
                e.dry = Some((sink, dry_out.unwrap_or_else(|| Box::new(std::io::stdout()))));
            }
            EmitMode::Live => {
                e.statsd = start_statsd(config, &host)?;
                e.pagerduty = start(pagerduty_dest(config)?, &outbox_root.join("pagerduty"))?;
                e.slack = start(slack_dest(config)?, &outbox_root.join("slack"))?;
            }
        }
        e.health = e.policy.health();
        Ok(e)
    }

    /// Takes a reloaded config (SIGHUP, live mode): the policy follows the
    /// new links (see [`Policy::reconfigure`]); an emitter whose section
    /// changed is restarted on the same outbox, so nothing waiting in it is
    /// lost; one whose section was removed stops (its outbox stays on disk
    /// and is delivered when the section comes back). If a new section
    /// cannot be started (a secret file missing, say), the error is
    /// returned and that emitter keeps running as before.
    pub fn reconfigure(
        &mut self,
        old: &Config,
        config: &Config,
        outbox_root: &Path,
        now: Timestamp,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let mut out = std::mem::take(&mut self.out);
        self.policy.reconfigure(config, now, &mut out);
        if config.statsd != old.statsd {
            match start_statsd(config, &self.host) {
                Ok(s) => {
                    if let Some(old) = std::mem::replace(&mut self.statsd, s) {
                        old.flush();
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let routes = |c: &Config| -> Vec<crate::config::LinkRoutes> {
            c.links.iter().map(|l| l.routes.clone()).collect()
        };
        let routes_changed = routes(config) != routes(old);
        if config.pagerduty != old.pagerduty || routes_changed {
            let dir = outbox_root.join("pagerduty");
            restart(
                &mut self.pagerduty,
                pagerduty_dest(config),
                &dir,
                &mut errors,
            );
        }
        if config.slack != old.slack || routes_changed {
            let dir = outbox_root.join("slack");
            restart(&mut self.slack, slack_dest(config), &dir, &mut errors);
        }
        self.after(&mut out, now);
        self.out = out;
        errors
    }

    /// An evidence file was opened or closed: pages name it (and a closed
    /// one updates its open incident).
    pub fn note_evidence(&mut self, done: &crate::evidence::Done, now: Timestamp) {
        let f = match done {
            crate::evidence::Done::Opened(f) | crate::evidence::Done::Closed(f) => f,
        };
        let mut out = std::mem::take(&mut self.out);
        self.policy.note_evidence(f, now, &mut out);
        self.after(&mut out, now);
        self.out = out;
    }

    /// Feeds one event.
    pub fn on_event(&mut self, ev: &Event) {
        let mut out = std::mem::take(&mut self.out);
        let noted = self.policy.on_event(ev, &mut out);
        if let Some(s) = &mut self.statsd {
            s.on_event(ev, noted);
        }
        self.after(&mut out, ev.ts);
        self.out = out;
    }

    /// Moves the policy's clock (resolves after hold-down); an outbox
    /// backlog beyond [`BACKLOG_TROUBLE`] opens the probe's own incident.
    pub fn advance_to(&mut self, now: Timestamp) {
        let mut out = std::mem::take(&mut self.out);
        let backlog = self.backlog();
        // Replay feeds this per packet: the detail is written only when
        // the trouble opens or closes.
        self.policy.set_probe_trouble(
            "emitter backlog",
            || {
                format!(
                    "{backlog} notifications waiting in the outboxes (is PagerDuty/Slack reachable?)"
                )
            },
            backlog > BACKLOG_TROUBLE,
            now,
            &mut out,
        );
        // A state directory that takes no writes: the status document
        // goes stale and pages wait in memory only.
        // (Asked on every replayed frame: no allocation unless a write
        // failed.)
        let (mut held, mut why) = (0, self.state_write_error.clone());
        for d in [&self.pagerduty, &self.slack].into_iter().flatten() {
            let (n, w) = d.unsaved();
            held += n;
            why = why.or(w);
        }
        self.policy.set_probe_trouble(
            "state directory",
            || match &why {
                Some(w) => format!(
                    "cannot write to the state directory ({w}); {held} notifications held in memory only; free space there"
                ),
                None => "writable again".to_string(),
            },
            why.is_some(),
            now,
            &mut out,
        );
        self.policy.advance_to(now, &mut out);
        self.after(&mut out, now);
        self.out = out;
    }

    /// The daemon's last write of its status document: `None` when it
    /// succeeded, else why not (a probe trouble until one succeeds).
    pub fn note_state_write(&mut self, error: Option<String>) {
        self.state_write_error = error;
    }

    /// Gauges and service checks from a status document.
    pub fn on_status(&mut self, doc: &StatusDoc) {
        if let Some(s) = &mut self.statsd {
            s.on_status(doc);
        }
        self.print_dry();
    }

    /// Round-trip and response-time samples since the last call
    /// ([`crate::track::Tracker::drain_fresh`]), as metrics.
    pub fn on_fresh(&mut self, fresh: &[crate::track::Fresh]) {
        if let Some(s) = &mut self.statsd {
            s.on_fresh(fresh);
        }
        self.print_dry();
    }

    fn after(&mut self, out: &mut Vec<Notification>, ts: Timestamp) {
        let now = self.policy.health();
        for (name, h, _) in &now {
            // A link's first verdict after start is no change: the link
            // was not known before (a start is not an event for Datadog).
            let before = self
                .health
                .iter()
                .find(|(n, _, _)| n == name)
                .filter(|(_, _, why)| !(*why == Why::Starting && *h == Health::Ok))
                .map(|(_, h, _)| *h);
            if before.is_some_and(|b| b != *h) {
                if let (Some(s), Some(b)) = (&mut self.statsd, before) {
                    let why = out
                        .iter()
                        .find(|n| n.link.as_deref() == Some(&**name))
                        .map(|n| n.summary.clone())
                        .unwrap_or_else(|| format!("{name} is now {}", h.upper()));
                    s.on_health_change(name, b, *h, &why, ts.as_nanos() / 1_000_000_000);
                }
            }
        }
        self.health = now;
        // Crash safety of pages (SIGKILL, power loss): the open incidents
        // are written before a trigger enters the outbox and after a
        // resolve has. A crash between the two then leaves either an
        // incident the restarted daemon knows of but never paged (it pages
        // again: same dedup key, one PagerDuty incident) or a resolve that
        // will be sent twice (harmless); never a page nobody resolves.
        if out
            .iter()
            .any(|n| n.action == crate::policy::Action::Trigger)
        {
            self.persist_incidents();
        }
        for n in out.drain(..) {
            self.deliver(&n);
        }
        self.persist_incidents();
        self.print_dry();
    }

    /// Persists open incidents in `path` from now on (the daemon's
    /// `STATE_DIR/incidents.json`), so a restart resolves what it
    /// inherited; `written` is what the file holds now.
    pub fn persist_incidents_in(
        &mut self,
        path: std::path::PathBuf,
        written: Vec<crate::policy::OpenIncident>,
    ) {
        self.incidents_file = Some((path, written));
    }

    fn persist_incidents(&mut self) {
        let now = self.policy.open_incidents();
        let Some((path, written)) = &mut self.incidents_file else {
            return;
        };
        if *written == now {
            return;
        }
        let tmp = path.with_extension("json.tmp");
        let write = serde_json::to_vec_pretty(&now)
            .map_err(std::io::Error::other)
            .and_then(|b| {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&b)?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, &*path));
        match write {
            Ok(()) => *written = now,
            Err(e) => crate::logging::warn(&format!(
                "cannot save open incidents to {}: {e}",
                path.display()
            )),
        }
    }

    fn deliver(&mut self, n: &Notification) {
        let pd = pagerduty::entry(n, &self.host);
        let sl = slack::entry(n);
        if let Some((_, w)) = &mut self.dry {
            // What a live run would POST, the routing key masked; only to
            // destinations that have their config section.
            let sends = [
                (self.dry_pagerduty, "pagerduty", pd.body.encode(Some("***"))),
                (self.dry_slack, "slack", sl.body.encode(None)),
            ];
            for (_, to, body) in sends.iter().filter(|(on, _, _)| *on) {
                let body = match body {
                    Ok(b) => String::from_utf8_lossy(b),
                    Err(e) => {
                        crate::logging::warn(&format!("{to}: cannot encode the notification: {e}"));
                        continue;
                    }
                };
                if self.dry_json {
                    let _ = writeln!(w, r#"{{"body":{body},"event":"emit","to":"{to}"}}"#);
                } else {
                    let _ = writeln!(w, "POST {to} {body}");
                }
            }
            return;
        }
        let enqueued = [
            self.pagerduty.as_ref().map(|d| (d, d.enqueue(&pd))),
            self.slack.as_ref().map(|d| (d, d.enqueue(&sl))),
        ];
        for (d, result) in enqueued.into_iter().flatten() {
            match result {
                Ok(outbox::Kept::OnDisk(_)) => {}
                Ok(outbox::Kept::InMemory(_, err)) => crate::logging::warn(&format!(
                    "{}: cannot write the notification to the outbox ({err}): it is kept in memory and will be delivered, but is lost if the probe restarts before the state directory has space again",
                    d.name()
                )),
                Err(err) => crate::logging::warn(&format!(
                    "{}: cannot store the notification in the outbox: {err}",
                    d.name()
                )),
            }
        }
    }

    fn print_dry(&mut self) {
        if let Some((sink, w)) = &mut self.dry {
            for line in sink.take() {
                if self.dry_json {
                    let _ = writeln!(
                        w,
                        "{}",
                        serde_json::json!({"event": "emit", "to": "statsd", "datagram": line})
                    );
                } else {
                    let _ = writeln!(w, "UDP statsd {line}");
                }
            }
            let _ = w.flush();
        }
    }

    /// Takes the state directory's maintenance windows
    /// (`linewatch maintenance`); the next tick pages what they held back
    /// if they no longer cover it.
    pub fn set_file_windows(&mut self, windows: Vec<crate::config::maintenance::Window>) {
        self.policy.set_file_windows(windows);
    }

    /// Each link's health now, as the policy judges it: the verdict the
    /// status document, the service check and the gauge render.
    pub fn link_health(&self) -> Vec<crate::policy::LinkHealth> {
        self.policy.link_health()
    }

    /// Incidents open now.
    pub fn open_incidents(&self) -> Vec<crate::policy::OpenIncident> {
        self.policy.open_incidents()
    }

    /// Takes back incidents a previous run left open.
    pub fn restore(&mut self, open: &[crate::policy::OpenIncident]) {
        self.policy.restore(open);
    }

    /// Notifications waiting in the outboxes now (for status and the probe
    /// incident).
    pub fn backlog(&self) -> u64 {
        let pd = self.pagerduty.as_ref().map_or(0, |d| d.pending_now());
        let sl = self.slack.as_ref().map_or(0, |d| d.pending_now());
        (pd + sl) as u64
    }

    /// The probe's own state for the status document: its troubles and
    /// each outbox's counters.
    pub fn probe_doc(&self) -> crate::status::ProbeDoc {
        let outbox = |name: &str, d: &Delivery| {
            use std::sync::atomic::Ordering::Relaxed;
            crate::status::OutboxDoc {
                destination: name.to_string(),
                pending: d.pending_now() as u64,
                delivered: d.stats.delivered.load(Relaxed),
                retries: d.stats.retries.load(Relaxed),
                rejected: d.stats.rejected.load(Relaxed),
                dropped_full: d.dropped_full(),
            }
        };
        let mut outboxes = Vec::new();
        if let Some(d) = &self.pagerduty {
            outboxes.push(outbox("pagerduty", d));
        }
        if let Some(d) = &self.slack {
            outboxes.push(outbox("slack", d));
        }
        crate::status::ProbeDoc {
            troubles: self.policy.probe_troubles(),
            outboxes,
        }
    }

    /// Waits up to `limit` for the outboxes to drain (replay --emit live).
    pub fn drain(&self, limit: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            if self.backlog() == 0 {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Flushes metrics and stops the delivery threads (outboxes persist),
    /// giving a request in flight at most `limit` in all.
    pub fn shutdown(self, limit: std::time::Duration) {
        if let Some(s) = &self.statsd {
            s.flush();
        }
        let start = std::time::Instant::now();
        let left = || limit.saturating_sub(start.elapsed());
        if let Some(d) = self.pagerduty {
            if !d.shutdown_within(left()) {
                eprintln!("linewatch: pagerduty: a request was still running at exit; its notification stays in the outbox");
            }
        }
        if let Some(d) = self.slack {
            if !d.shutdown_within(left()) {
                eprintln!("linewatch: slack: a request was still running at exit; its notification stays in the outbox");
            }
        }
    }
}
