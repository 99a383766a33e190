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
use crate::policy::{Notification, Policy};
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
    pagerduty: Option<(Delivery, String)>,
    slack: Option<Delivery>,
    dry: Option<(LineSink, Box<dyn Write + Send>)>,
    /// Dry-run lines as JSON objects (for `--format json`).
    pub dry_json: bool,
    health: Vec<(Arc<str>, Health)>,
    out: Vec<Notification>,
}

impl std::fmt::Debug for Emitters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitters")
            .field("host", &self.host)
            .finish()
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
            dry_json: false,
            health: Vec::new(),
            out: Vec::new(),
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
                if let Some(s) = &config.statsd {
                    e.statsd = Some(
                        Statsd::new(&s.address, &host)
                            .map_err(|err| format!("[statsd] address {}: {err}", s.address))?,
                    );
                }
                if let Some(pd) = &config.pagerduty {
                    let key = pd
                        .routing_key
                        .resolve()
                        .map_err(|err| format!("[pagerduty]: {err}"))?;
                    let dest = pagerduty::PagerDuty {
                        url: pd.events_url.clone(),
                        routing_key: key,
                    };
                    let d = Delivery::start(dest, &outbox_root.join("pagerduty"))
                        .map_err(|err| format!("pagerduty outbox: {err}"))?;
                    e.pagerduty = Some((d, host.clone()));
                }
                if let Some(sl) = &config.slack {
                    let url = sl
                        .webhook_url
                        .resolve()
                        .map_err(|err| format!("[slack]: {err}"))?;
                    let d = Delivery::start(
                        slack::Slack { webhook_url: url },
                        &outbox_root.join("slack"),
                    )
                    .map_err(|err| format!("slack outbox: {err}"))?;
                    e.slack = Some(d);
                }
            }
        }
        e.health = e.policy.health();
        Ok(e)
    }

    /// Feeds one event.
    pub fn on_event(&mut self, ev: &Event) {
        let mut out = std::mem::take(&mut self.out);
        self.policy.on_event(ev, &mut out);
        if let Some(s) = &mut self.statsd {
            s.on_event(ev);
        }
        self.after(&mut out, ev.ts);
        self.out = out;
    }

    /// Moves the policy's clock (resolves after hold-down); an outbox
    /// backlog beyond [`BACKLOG_TROUBLE`] opens the probe's own incident.
    pub fn advance_to(&mut self, now: Timestamp) {
        let mut out = std::mem::take(&mut self.out);
        let backlog = self.backlog();
        self.policy
            .set_probe_trouble("emitter backlog", backlog > BACKLOG_TROUBLE, now, &mut out);
        self.policy.advance_to(now, &mut out);
        self.after(&mut out, now);
        self.out = out;
    }

    /// Gauges and service checks from a status document.
    pub fn on_status(&mut self, doc: &StatusDoc) {
        if let Some(s) = &mut self.statsd {
            s.on_status(doc);
        }
        self.print_dry();
    }

    fn after(&mut self, out: &mut Vec<Notification>, ts: Timestamp) {
        let now = self.policy.health();
        for (name, h) in &now {
            let before = self.health.iter().find(|(n, _)| n == name).map(|(_, h)| *h);
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
        for n in out.drain(..) {
            self.deliver(&n);
        }
        self.print_dry();
    }

    fn deliver(&mut self, n: &Notification) {
        let pd = pagerduty::entry(n, &self.host);
        let sl = slack::entry(n);
        if let Some((_, w)) = &mut self.dry {
            let mut pd_body = pd.body.clone();
            if let Some(o) = pd_body.as_object_mut() {
                o.insert(
                    "routing_key".into(),
                    serde_json::Value::String("***".into()),
                );
            }
            if self.dry_json {
                let _ = writeln!(
                    w,
                    "{}",
                    serde_json::json!({"event": "emit", "to": "pagerduty", "body": pd_body})
                );
                let _ = writeln!(
                    w,
                    "{}",
                    serde_json::json!({"event": "emit", "to": "slack", "body": sl.body})
                );
            } else {
                let _ = writeln!(w, "POST pagerduty {pd_body}");
                let _ = writeln!(w, "POST slack {}", sl.body);
            }
            return;
        }
        if let Some((d, _)) = &self.pagerduty {
            if let Err(err) = d.enqueue(&pd) {
                eprintln!(
                    "linewatch: pagerduty: cannot store the notification in the outbox: {err}"
                );
            }
        }
        if let Some(d) = &self.slack {
            if let Err(err) = d.enqueue(&sl) {
                eprintln!("linewatch: slack: cannot store the notification in the outbox: {err}");
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

    /// Incidents open now.
    pub fn open_incidents(&self) -> Vec<crate::policy::OpenIncident> {
        self.policy.open_incidents()
    }

    /// Takes back incidents a previous run left open.
    pub fn restore(&mut self, open: &[crate::policy::OpenIncident]) {
        self.policy.restore(open);
    }

    /// Pages waiting in the outboxes (for status and the probe incident).
    pub fn backlog(&self) -> u64 {
        let pd = self.pagerduty.as_ref().map_or(0, |(d, _)| {
            d.stats.pending.load(std::sync::atomic::Ordering::Relaxed)
        });
        let sl = self.slack.as_ref().map_or(0, |d| {
            d.stats.pending.load(std::sync::atomic::Ordering::Relaxed)
        });
        pd + sl
    }

    /// Waits up to `limit` for the outboxes to drain (replay --emit live).
    pub fn drain(&self, limit: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            let pending = self.pagerduty.as_ref().map_or(0, |(d, _)| d.pending_now())
                + self.slack.as_ref().map_or(0, |d| d.pending_now());
            if pending == 0 {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Flushes metrics and stops the delivery threads (outboxes persist).
    pub fn shutdown(self) {
        if let Some(s) = &self.statsd {
            s.flush();
        }
        if let Some((d, _)) = self.pagerduty {
            d.shutdown();
        }
        if let Some(d) = self.slack {
            d.shutdown();
        }
    }
}
