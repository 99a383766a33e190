//! The daemon's state directory: the status document it writes there
//! each `status_interval` (with the gauges, service checks and samples that
//! go out with it), and the maintenance windows `linewatch maintenance`
//! writes there for it.

use std::sync::atomic::Ordering;

use super::{log, Daemon};
use crate::clock::wall_now;
use crate::status::{self, CaptureDoc, StatusDoc};

impl Daemon {
    /// The status document now: the tracker's connections and the
    /// policy's verdict per link, the captures' counters, the probe's own
    /// health and the last evidence files.
    pub(super) fn status_doc(&self) -> StatusDoc {
        let now = wall_now();
        StatusDoc {
            version: 1,
            written_at: now.as_secs_f64(),
            started_at: self.started_at.as_secs_f64(),
            pid: std::process::id(),
            write_interval_s: self.config.status_interval.as_secs_f64(),
            // The tracker's connections, the policy's verdict: both follow
            // the config's order of links.
            links: self
                .tracker
                .link_views()
                .iter()
                .zip(self.emitters.link_health())
                .map(|(v, health)| status::link_doc(v, &health, now))
                .collect(),
            captures: self
                .captures
                .list
                .iter()
                .map(|c| CaptureDoc {
                    interface: c.spec.interface.clone(),
                    state: if c.counters.running.load(Ordering::Relaxed) {
                        "running".into()
                    } else if c.lost_since.is_some() {
                        "lost".into()
                    } else {
                        "starting".into()
                    },
                    error: c.counters.error.lock().ok().and_then(|e| e.clone()),
                    received: c.counters.received.load(Ordering::Relaxed),
                    dropped: c.counters.dropped.load(Ordering::Relaxed),
                    if_dropped: c.counters.if_dropped.load(Ordering::Relaxed),
                    queue_dropped: c.counters.queue_dropped.load(Ordering::Relaxed),
                    segments: c.counters.segments.load(Ordering::Relaxed),
                    skipped: c.counters.skipped.load(Ordering::Relaxed),
                    degraded: c.degraded,
                })
                .collect(),
            probe: self.emitters.probe_doc(),
            evidence: self.evidence.docs(),
        }
    }

    /// Reads the state directory's maintenance windows when the file
    /// changed (or `force`: the config's links changed): `linewatch
    /// maintenance` writes it for the running daemon.
    pub(super) fn read_maintenance(&mut self, force: bool) {
        use crate::config::maintenance;
        let path = self.state_dir.join(maintenance::MAINTENANCE_FILE);
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if !force && modified == self.maintenance_read {
            return;
        }
        self.maintenance_read = modified;
        let (windows, problems) = maintenance::load_file(&self.state_dir, &self.config.links);
        for p in problems {
            log(&p);
        }
        if modified.is_some() {
            log(&format!(
                "{} maintenance window(s) from {}",
                windows.len(),
                path.display()
            ));
        }
        self.emitters.set_file_windows(windows);
    }

    /// Writes the status document (a failure is a probe trouble until a
    /// write succeeds) and sends what goes out with it.
    pub(super) fn write_status(&mut self) {
        self.read_maintenance(false);
        let doc = self.status_doc();
        match status::write(&self.state_dir, &doc) {
            Ok(()) => self.emitters.note_state_write(None),
            Err(e) => {
                log(&format!(
                    "cannot write status to {}: {e} (free space there; pages are held in memory meanwhile)",
                    self.state_dir.display()
                ));
                self.emitters.note_state_write(Some(e.to_string()));
            }
        }
        // Gauges, service checks and the probe heartbeat go out with it,
        // and the round-trip and response-time samples since the last one;
        // the endpoint serves it from now on.
        self.emitters.on_status(&doc);
        if let Some(s) = &self.served {
            s.on_status(&doc);
        }
        self.fresh.clear();
        self.tracker.drain_fresh(&mut self.fresh);
        if !self.fresh.is_empty() {
            self.emitters.on_fresh(&self.fresh);
        }
    }
}
