//! Policy: events in, incidents out. Sans-IO, like the tracker.
//!
//! Pipeline role: capture -> decode -> track -> **policy** -> emit.
//!
//! Each link's health follows its events:
//! * **Critical**: the link is down (fewer established connections than
//!   expected for longer than `reconnect_grace`), or every established
//!   connection of the link is silent or black-holed (and the capture is
//!   not degraded: then it may be the probe that is blind).
//! * **Warning**: a connection was closed or reset but the link stayed up
//!   (reconnected within the grace) — for `hold_down` after the drop; a
//!   silence or black hole on one of several connections; the capture of
//!   the link's interface is degraded.
//! * **Ok** otherwise.
//!
//! One incident per link at a time, with a stable dedup key derived from
//! the link name only (`linewatch/<link>`), so two probes on an HA pair of
//! gateways watching the same line make one PagerDuty incident. A trigger
//! is sent on entering the link's `page_on` level (critical by default),
//! again only if the incident escalates (warning to critical); the resolve
//! is sent once health is back to OK and has stayed below `page_on` for
//! `hold_down` (60 s by default), so a line bouncing every few seconds is
//! one incident, not a storm, and a link still in WARNING keeps its
//! incident open. The probe's own trouble (capture lost or degraded, emitter
//! backlog) is a separate incident, `linewatch-probe/<host>`, never
//! reported as the line being down.

mod evidence;
mod health;
mod page;
mod watch;

pub use evidence::{
    AttributionEvidence, Evidence, EvidenceRef, IcmpEvidence, LastClose, LinkEvidence,
    ProbeEvidence, Recovered,
};
pub use health::{Facts, Health, InMaintenance, LinkHealth, Verdict, Why};
use page::{resolve, trigger, truncate_chars};
use watch::LinkWatch;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::config::maintenance::Window;
use crate::config::{Config, PageOn, DEFAULT_HOLD_DOWN};
use crate::event::{Event, EventKind, LinkId};
use crate::time::{Duration, Timestamp};

/// What the emitters are asked to deliver.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Open (or escalate) or close an incident.
    pub action: Action,
    /// Stable incident key (`linewatch/visa-primary`).
    pub dedup_key: String,
    /// The link, or `None` for the probe's own incident.
    pub link: Option<Arc<str>>,
    /// Severity of a trigger.
    pub severity: Health,
    /// One line for the pager (at most 1024 characters).
    pub summary: String,
    /// The kind of event behind it (`fin`, `reset`, `link_down`, ...).
    pub class: String,
    /// Packet-clock time of the event behind it.
    pub ts: Timestamp,
    /// Evidence: 4-tuple, who closed, seq/ack, counts. Never payload.
    pub evidence: Evidence,
}

/// An incident that is open, as persisted across restarts.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OpenIncident {
    /// Its dedup key.
    pub dedup_key: String,
    /// The link (`None`: the probe's own incident).
    pub link: Option<String>,
    /// Severity it was triggered with.
    pub severity: Health,
    /// Summary of the trigger.
    pub cause: String,
}

/// Trigger or resolve.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Open or update the incident.
    Trigger,
    /// Close it.
    Resolve,
}

impl Action {
    /// PagerDuty's `event_action`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Resolve => "resolve",
        }
    }
}

#[derive(Debug)]
struct Incident {
    severity: Health,
    /// Since when health has been below the paging level.
    calm_since: Option<Timestamp>,
    /// What triggered it, for the resolve's summary.
    cause: String,
    /// Taken back from a previous run: its trigger may not have left
    /// before the crash, so if the link is still failing it is sent again
    /// (same dedup key: still one PagerDuty incident).
    restored: bool,
}

fn pages(level: Health, page_on: PageOn) -> bool {
    match (level, page_on) {
        (Health::Critical, _) => true,
        (Health::Warning, PageOn::Warning) => true,
        (Health::Warning, PageOn::Critical) | (Health::Ok, _) | (Health::Unknown, _) => false,
    }
}

/// How a capture event changes the facts of its interface's links.
type CaptureFact = fn(&mut Facts);

/// What the policy made of one event, beyond its notifications.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Noted {
    /// An `established` that replaces a connection of the link that was
    /// closed or reset (the `reconnect` metric).
    pub reconnect: bool,
    /// An `attribution_revised` that changed the cause of the link's
    /// trouble (its open incident is updated).
    pub revised: bool,
}

/// What opened or closed a probe trouble, for its notification.
#[derive(Debug)]
struct ProbeCause {
    text: String,
    class: String,
    ts: Timestamp,
    evidence: Evidence,
}

impl ProbeCause {
    fn of(e: &Event) -> ProbeCause {
        ProbeCause {
            text: crate::output::event_text::line(e),
            class: e.kind.name().to_string(),
            ts: e.ts,
            evidence: ProbeEvidence::of_capture(e).map_or(Evidence::None {}, Evidence::Probe),
        }
    }
}

/// The incident policy for every configured link plus the probe itself.
#[derive(Debug)]
pub struct Policy {
    links: Vec<LinkWatch>,
    host: String,
    probe: Option<Incident>,
    probe_trouble: BTreeSet<String>,
    probe_calm_hold: Duration,
    now: Timestamp,
    /// The config's maintenance windows.
    config_windows: Vec<Window>,
    /// Those `linewatch maintenance` wrote into the state directory.
    file_windows: Vec<Window>,
}

impl Policy {
    /// A policy for `config`'s links; `host` names this probe (for the
    /// probe's own incident).
    pub fn new(config: &Config, host: &str) -> Policy {
        Policy {
            links: config.links.iter().map(LinkWatch::new).collect(),
            host: host.to_string(),
            probe: None,
            probe_trouble: BTreeSet::new(),
            probe_calm_hold: DEFAULT_HOLD_DOWN,
            now: Timestamp::default(),
            config_windows: config.maintenance.clone(),
            file_windows: Vec::new(),
        }
    }

    /// Takes the state directory's maintenance windows (the daemon reads
    /// the file when it changes).
    pub fn set_file_windows(&mut self, windows: Vec<Window>) {
        self.file_windows = windows;
    }

    /// The window link `name` is in at `now`, if any (of overlapping
    /// ones, the one that ends last).
    pub fn window_at(&self, name: &str, now: Timestamp) -> Option<&Window> {
        self.config_windows
            .iter()
            .chain(&self.file_windows)
            .filter(|w| w.link == name && w.contains(now))
            .max_by_key(|w| w.to)
    }

    /// Takes a reloaded config (SIGHUP). A link that keeps its name keeps
    /// its connections, health and open incident, with the new
    /// `expect_connections`, `page_on`, `hold_down` and interface; a new
    /// link starts fresh and pages like any other; a link removed from the
    /// config has its open incident resolved (it is no longer watched,
    /// and an incident nobody will ever close is worse than none).
    pub fn reconfigure(&mut self, config: &Config, now: Timestamp, out: &mut Vec<Notification>) {
        self.config_windows.clone_from(&config.maintenance);
        let mut old = std::mem::take(&mut self.links);
        for spec in &config.links {
            let link = match old.iter().position(|l| l.spec.name == spec.name) {
                Some(i) => {
                    let mut l = old.swap_remove(i);
                    l.spec = spec.clone();
                    l
                }
                None => LinkWatch::new(spec),
            };
            self.links.push(link);
        }
        for l in old {
            if let Some(inc) = &l.incident {
                let why = format!(
                    "{}: no longer watched (removed from the config) (was: {})",
                    l.spec.name, inc.cause
                );
                out.push(resolve(&l, why, "unwatched", now));
            }
        }
        for i in 0..self.links.len() {
            self.refresh(i, now, None, out);
        }
    }

    /// The dedup key of a link's incident.
    pub fn link_key(name: &str) -> String {
        format!("linewatch/{name}")
    }

    /// The dedup key of this probe's own incident.
    pub fn probe_key(&self) -> String {
        format!("linewatch-probe/{}", self.host)
    }

    /// The incidents open now (the daemon persists them, so a restart does
    /// not orphan an alert).
    pub fn open_incidents(&self) -> Vec<OpenIncident> {
        let mut v: Vec<OpenIncident> = self
            .links
            .iter()
            .filter_map(|l| {
                l.incident.as_ref().map(|i| OpenIncident {
                    dedup_key: Policy::link_key(&l.spec.name),
                    link: Some(l.spec.name.to_string()),
                    severity: i.severity,
                    cause: i.cause.clone(),
                })
            })
            .collect();
        if let Some(p) = &self.probe {
            v.push(OpenIncident {
                dedup_key: self.probe_key(),
                link: None,
                severity: p.severity,
                cause: p.cause.clone(),
            });
        }
        v
    }

    /// Takes back incidents a previous run left open. They resolve like any
    /// other, once fresh events show the link healthy for `hold_down`; if
    /// fresh events show the link still failing, the trigger is sent once
    /// more (the previous run may have died before it left; PagerDuty
    /// folds it into the same incident by its dedup key).
    pub fn restore(&mut self, open: &[OpenIncident]) {
        for o in open {
            let incident = Incident {
                severity: o.severity,
                calm_since: None,
                cause: o.cause.clone(),
                restored: true,
            };
            match &o.link {
                Some(name) => {
                    if let Some(l) = self
                        .links
                        .iter_mut()
                        .find(|l| &*l.spec.name == name.as_str())
                    {
                        l.incident = Some(incident);
                    }
                }
                None if o.dedup_key == self.probe_key() => self.probe = Some(incident),
                None => {}
            }
        }
    }

    /// Current health of each link.
    pub fn health(&self) -> Vec<(Arc<str>, Health, Why)> {
        self.links
            .iter()
            .map(|l| (l.spec.name.clone(), l.health, l.why))
            .collect()
    }

    /// The evidence recorder opened or closed `f`: the link's pages name
    /// it from now on. A closed file whose incident is still open gives an
    /// update on the incident (same dedup key) with its SHA-256; the
    /// resolve carries it too. (A file that closes after its incident
    /// resolved is in its sidecar only: another page would reopen the
    /// incident.)
    pub fn note_evidence(
        &mut self,
        f: &crate::evidence::EvidenceFile,
        now: Timestamp,
        out: &mut Vec<Notification>,
    ) {
        let Some(l) = self.links.iter_mut().find(|l| *l.spec.name == *f.link) else {
            return;
        };
        l.evidence_file = Some(EvidenceRef::of(f));
        if f.sha256.is_some() {
            if let Some(inc) = &l.incident {
                out.push(page::evidence_closed(l, inc.severity, now));
            }
        }
    }

    /// Feeds one event; notifications go to `out`.
    pub fn on_event(&mut self, e: &Event, out: &mut Vec<Notification>) -> Noted {
        self.advance_to(e.ts, out);
        // What a capture event says of its interface's links.
        let capture: Option<(&Arc<str>, CaptureFact)> = match &e.kind {
            EventKind::CaptureLost { interface, .. } => {
                Some((interface, |f| f.capture_lost = true))
            }
            EventKind::CaptureResumed { interface, .. } => {
                Some((interface, |f| f.capture_lost = false))
            }
            EventKind::CaptureDegraded { interface, .. } => {
                Some((interface, |f| f.capture_degraded = true))
            }
            EventKind::CaptureRecovered { interface } => {
                Some((interface, |f| f.capture_degraded = false))
            }
            _ => None,
        };
        if let Some((interface, apply)) = capture {
            for l in self
                .links
                .iter_mut()
                .filter(|l| l.spec.interface.as_deref() == Some(&**interface))
            {
                apply(&mut l.facts);
            }
            let trouble = format!("capture on {interface}");
            if matches!(
                e.kind,
                EventKind::CaptureLost { .. } | EventKind::CaptureDegraded { .. }
            ) {
                self.probe_trouble.insert(trouble);
            } else {
                self.probe_trouble.remove(&trouble);
            }
            self.probe_update(&ProbeCause::of(e), out);
        }
        let Some(link) = &e.link else {
            self.refresh_all(e, out);
            return Noted::default();
        };
        let Some(i) = self.find(link.id, &link.name) else {
            return Noted::default();
        };
        let noted = self
            .links
            .get_mut(i)
            .map(|l| l.learn(e))
            .unwrap_or_default();
        self.refresh(i, e.ts, Some(e), out);
        if noted.revised {
            if let Some(l) = self.links.get(i) {
                if let Some(inc) = &l.incident {
                    out.push(page::attribution_revised(l, inc.severity, e));
                }
            }
        }
        noted
    }

    /// The index of link `id` named `name`: by id, checked against the name
    /// (an event from before a reload may carry an old id).
    fn find(&self, id: LinkId, name: &str) -> Option<usize> {
        match self.links.get(id.index()) {
            Some(l) if &*l.spec.name == name => Some(id.index()),
            _ => self.links.iter().position(|l| &*l.spec.name == name),
        }
    }

    /// Each link's health now: the one verdict status, check, metrics and
    /// pages render.
    pub fn link_health(&self) -> Vec<LinkHealth> {
        self.links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let incident = l.incident.as_ref().map(|inc| OpenIncident {
                    dedup_key: Policy::link_key(&l.spec.name),
                    link: Some(l.spec.name.to_string()),
                    severity: inc.severity,
                    cause: inc.cause.clone(),
                });
                let mut h = LinkHealth::of(LinkId::of(i), &l.spec, &l.facts, self.now, incident);
                h.last_close = l.last_close.as_ref().map(LastClose::of);
                h.verdict.maintenance =
                    self.window_at(&l.spec.name, self.now)
                        .map(|w| InMaintenance {
                            until: crate::config::maintenance::rfc3339(w.to),
                            reason: w.reason.clone(),
                        });
                h
            })
            .collect()
    }

    fn refresh_all(&mut self, e: &Event, out: &mut Vec<Notification>) {
        for i in 0..self.links.len() {
            self.refresh(i, e.ts, Some(e), out);
        }
    }

    /// Re-judges link `i` at `now`; opens, escalates or arms the resolve.
    fn refresh(
        &mut self,
        i: usize,
        now: Timestamp,
        cause: Option<&Event>,
        out: &mut Vec<Notification>,
    ) {
        let window = self
            .links
            .get(i)
            .and_then(|l| self.window_at(&l.spec.name, now))
            .map(|w| (w.to, w.reason.clone()));
        let Some(l) = self.links.get_mut(i) else {
            return;
        };
        let (health, why) = l.judge(now);
        l.health = health;
        l.why = why;
        if health == Health::Ok {
            l.ok_since.get_or_insert(now);
        } else {
            l.ok_since = None;
        }
        let paging = pages(health, l.spec.page_on);
        if !paging {
            l.held = None;
        }
        let send = match (&mut l.incident, paging) {
            // In a maintenance window a new page waits for its end (one
            // already open is not touched by the window).
            (None, true) if window.is_some() => {
                l.held = window;
                false
            }
            (None, true) => true,
            (Some(inc), true) => {
                inc.calm_since = None;
                let again = std::mem::take(&mut inc.restored);
                // Escalation (same key, higher severity), or an incident
                // taken back after a restart whose link still fails.
                let resend =
                    again || (health == Health::Critical && inc.severity == Health::Warning);
                if resend {
                    inc.severity = health;
                }
                resend
            }
            (Some(inc), false) => {
                inc.restored = false;
                inc.calm_since.get_or_insert(now);
                false
            }
            (None, false) => false,
        };
        if !send {
            return;
        }
        if let Some(e) = cause.or(l.last.as_ref()) {
            let mut n = trigger(l, health, e);
            if let Some((until, reason)) = l.held.take() {
                n.summary = format!(
                    "{} (held during maintenance until {}: {reason})",
                    n.summary,
                    crate::config::maintenance::rfc3339(until)
                );
                truncate_chars(&mut n.summary, 1024);
                n.ts = n.ts.max(until);
            }
            if l.incident.is_none() {
                l.incident = Some(Incident {
                    severity: health,
                    calm_since: None,
                    cause: n.summary.clone(),
                    restored: false,
                });
            }
            out.push(n);
        }
    }

    /// Marks (or clears) a trouble of the probe itself other than its
    /// captures: `what` names it (`emitter backlog`), `detail` says how bad
    /// (`57 pages waiting`, written only when the trouble opens or closes:
    /// callers check every tick). It opens or keeps the probe incident.
    pub fn set_probe_trouble(
        &mut self,
        what: &str,
        detail: impl FnOnce() -> String,
        on: bool,
        ts: Timestamp,
        out: &mut Vec<Notification>,
    ) {
        let changed = if on {
            !self.probe_trouble.contains(what) && self.probe_trouble.insert(what.to_string())
        } else {
            self.probe_trouble.remove(what)
        };
        if changed {
            let detail = detail();
            let cause = ProbeCause {
                text: format!("{what}: {detail}"),
                class: what.replace(' ', "_"),
                ts,
                evidence: Evidence::Probe(ProbeEvidence {
                    detail: detail.clone(),
                    interface: None,
                    trouble: what.to_string(),
                }),
            };
            self.probe_update(&cause, out);
        }
    }

    /// The probe's troubles now (`capture on eth1`, `emitter backlog`).
    pub fn probe_troubles(&self) -> Vec<String> {
        self.probe_trouble.iter().cloned().collect()
    }

    fn probe_update(&mut self, e: &ProbeCause, out: &mut Vec<Notification>) {
        let trouble = !self.probe_trouble.is_empty();
        match (&mut self.probe, trouble) {
            (None, true) => {
                let mut summary = format!("linewatch probe on {}: {}", self.host, e.text);
                truncate_chars(&mut summary, 1024);
                out.push(Notification {
                    action: Action::Trigger,
                    dedup_key: self.probe_key(),
                    link: None,
                    severity: Health::Warning,
                    summary: summary.clone(),
                    class: e.class.clone(),
                    ts: e.ts,
                    evidence: e.evidence.clone(),
                });
                self.probe = Some(Incident {
                    severity: Health::Warning,
                    calm_since: None,
                    cause: summary,
                    restored: false,
                });
            }
            (Some(inc), true) => inc.calm_since = None,
            (Some(inc), false) => {
                inc.calm_since.get_or_insert(e.ts);
            }
            (None, false) => {}
        }
    }

    /// Moves the clock: resolves incidents whose hold-down has passed and
    /// lets transient warnings expire.
    pub fn advance_to(&mut self, now: Timestamp, out: &mut Vec<Notification>) {
        if now < self.now {
            return;
        }
        self.now = now;
        for i in 0..self.links.len() {
            // A warning for a dropped connection expires hold_down after
            // the drop: re-judge at that moment, not at `now`.
            let expiry = self.links.get(i).and_then(|l| {
                let at = l.facts.dropped_at?.plus(l.spec.hold_down);
                (at < now && l.judge(at).0 != l.health).then_some(at)
            });
            if let Some(at) = expiry {
                self.refresh(i, at, None, out);
            }
            // A page held by a maintenance window that has ended: judged
            // again now, it goes out if the fault is still there.
            let ended = self.links.get(i).and_then(|l| {
                let (until, _) = l.held.as_ref()?;
                (*until <= now && self.window_at(&l.spec.name, now).is_none()).then_some(*until)
            });
            if let Some(until) = ended {
                self.refresh(i, until.max(self.now), None, out);
            }
            let Some(l) = self.links.get_mut(i) else {
                continue;
            };
            // Below the paging level for hold_down, and OK: a link still in
            // WARNING (one of two connections silent, say) keeps its incident.
            let due = l
                .incident
                .as_ref()
                .and_then(|inc| inc.calm_since)
                .map(|t| t.plus(l.spec.hold_down))
                .zip(l.ok_since)
                .map(|(calm, ok)| calm.max(ok));
            if let Some(due) = due {
                if due < now {
                    let cause = l.incident.take().map(|inc| inc.cause).unwrap_or_default();
                    let why = format!(
                        "{}: recovered, {}/{} connections established (was: {cause})",
                        l.spec.name,
                        l.established(),
                        l.spec.expect_connections
                    );
                    out.push(resolve(l, why, "recovered", due));
                }
            }
        }
        let due = self
            .probe
            .as_ref()
            .and_then(|p| p.calm_since)
            .map(|t| t.plus(self.probe_calm_hold));
        if let Some(due) = due {
            if due < now {
                let cause = self.probe.take().map(|p| p.cause).unwrap_or_default();
                let mut summary = format!(
                    "linewatch probe on {}: healthy again (was: {cause})",
                    self.host
                );
                truncate_chars(&mut summary, 1024);
                out.push(Notification {
                    action: Action::Resolve,
                    dedup_key: self.probe_key(),
                    link: None,
                    severity: Health::Ok,
                    summary,
                    class: "recovered".into(),
                    ts: due,
                    evidence: Evidence::None {},
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
