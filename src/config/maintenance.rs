//! Planned maintenance: the carrier announces a window, and during it a
//! link's faults are recorded as always (events, evidence, metrics) but do
//! not page. `[[maintenance]]` entries in the config (reloaded with SIGHUP)
//! and, for the running daemon, the state directory's `maintenance.json`,
//! which `linewatch maintenance LINK --for 2h --reason TEXT` writes.
//!
//! What a window does is the policy's (`crate::policy`): a page already
//! open stays; a fault that outlasts the window pages when it ends.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The state directory's file of windows set with `linewatch maintenance`.
pub const MAINTENANCE_FILE: &str = "maintenance.json";
/// Windows the file keeps at most (ended ones are dropped first).
pub const MAX_FILE_WINDOWS: usize = 100;

/// One maintenance window of one link, `[from, to)` on the packet clock
/// (the wall clock in the daemon).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The link's name.
    pub link: String,
    /// When it starts.
    pub from: Timestamp,
    /// When it ends.
    pub to: Timestamp,
    /// Why, in words (the carrier's change number, say).
    pub reason: String,
}

impl Window {
    /// Whether `now` is inside the window.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.from <= now && now < self.to
    }
}

/// A window as the config and the file write it: RFC 3339 times.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    /// The link's name.
    pub link: String,
    /// Start, RFC 3339 (`2026-12-02T01:00:00Z`).
    pub from: String,
    /// End, RFC 3339.
    pub to: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Parses an RFC 3339 time; `what` names it in the error.
pub fn instant(what: &str, text: &str) -> Result<Timestamp, String> {
    let t = chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        format!("{what} = {text:?}: {e}; write RFC 3339 with a zone, e.g. \"2026-12-02T01:00:00Z\"")
    })?;
    t.timestamp_nanos_opt()
        .map(Timestamp::from_nanos)
        .ok_or_else(|| format!("{what} = {text:?}: out of range"))
}

/// Formats `t` as the file writes it.
pub fn rfc3339(t: Timestamp) -> String {
    t.to_chrono()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl RawWindow {
    /// Checks the window against the configured `links`.
    pub fn validate(&self, links: &[&str]) -> Result<Window, String> {
        let at = format!("maintenance window of link `{}`", self.link);
        if !links.contains(&self.link.as_str()) {
            return Err(format!(
                "{at}: no such link; the config's links are {}",
                links.join(", ")
            ));
        }
        let from = instant("from", &self.from).map_err(|e| format!("{at}: {e}"))?;
        let to = instant("to", &self.to).map_err(|e| format!("{at}: {e}"))?;
        if to <= from {
            return Err(format!("{at}: `to` must be after `from`"));
        }
        Ok(Window {
            link: self.link.clone(),
            from,
            to,
            reason: self
                .reason
                .clone()
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "planned maintenance".into()),
        })
    }
}

/// Reads the state directory's windows; a missing file is none.
pub fn read_file(state_dir: &Path) -> Result<Vec<RawWindow>, String> {
    let path = state_dir.join(MAINTENANCE_FILE);
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a list of windows: {e}", path.display())),
    }
}

/// The state directory's windows that name one of `links`, and what was
/// wrong with the rest (or with the file), in words for the log: a bad
/// window is ignored, the others still apply.
pub fn load_file(state_dir: &Path, links: &[super::LinkSpec]) -> (Vec<Window>, Vec<String>) {
    let path = state_dir.join(MAINTENANCE_FILE);
    let raw = match read_file(state_dir) {
        Ok(raw) => raw,
        Err(e) => {
            return (
                Vec::new(),
                vec![format!("{e}; its windows are ignored until it is fixed")],
            )
        }
    };
    let names: Vec<&str> = links.iter().map(|l| &*l.name).collect();
    let mut windows = Vec::new();
    let mut problems = Vec::new();
    for w in &raw {
        match w.validate(&names) {
            Ok(w) => windows.push(w),
            Err(e) => problems.push(format!("{}: {e}; ignored", path.display())),
        }
    }
    (windows, problems)
}

/// Adds `w` to the state directory's file, dropping windows that ended
/// before `now` and, past [`MAX_FILE_WINDOWS`], the oldest; written
/// atomically (temporary file, rename) so the daemon never reads half.
pub fn add_to_file(state_dir: &Path, w: RawWindow, now: Timestamp) -> Result<(), String> {
    let mut all = read_file(state_dir)?;
    all.retain(|x| instant("to", &x.to).is_ok_and(|to| to > now));
    all.push(w);
    let excess = all.len().saturating_sub(MAX_FILE_WINDOWS);
    all.drain(..excess);
    let path = state_dir.join(MAINTENANCE_FILE);
    let tmp = state_dir.join(format!(".{MAINTENANCE_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(&all).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(link: &str, from: &str, to: &str) -> RawWindow {
        RawWindow {
            link: link.into(),
            from: from.into(),
            to: to.into(),
            reason: None,
        }
    }

    #[test]
    fn a_window_is_half_open_and_names_a_link() {
        let w = raw("visa", "2026-12-02T01:00:00Z", "2026-12-02T03:00:00+01:00")
            .validate(&["visa"])
            .unwrap();
        assert_eq!(w.reason, "planned maintenance");
        assert!(w.contains(w.from));
        assert!(!w.contains(w.to));
        assert_eq!(rfc3339(w.to), "2026-12-02T02:00:00Z");
    }

    #[test]
    fn bad_windows_say_what_to_write() {
        let e = raw("mc", "2026-12-02T01:00:00Z", "2026-12-02T03:00:00Z")
            .validate(&["visa"])
            .unwrap_err();
        assert!(e.contains("no such link") && e.contains("visa"), "{e}");
        let e = raw("visa", "2026-12-02 01:00", "2026-12-02T03:00:00Z")
            .validate(&["visa"])
            .unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
        let e = raw("visa", "2026-12-02T03:00:00Z", "2026-12-02T01:00:00Z")
            .validate(&["visa"])
            .unwrap_err();
        assert!(e.contains("after"), "{e}");
    }

    #[test]
    fn the_file_drops_ended_windows_and_stays_bounded() {
        let dir = std::env::temp_dir().join(format!("lw-maint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(MAINTENANCE_FILE));
        let now = instant("t", "2026-12-02T00:00:00Z").unwrap();
        add_to_file(
            &dir,
            raw("visa", "2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z"),
            now,
        )
        .unwrap();
        add_to_file(
            &dir,
            raw("visa", "2026-12-02T00:00:00Z", "2026-12-02T01:00:00Z"),
            now,
        )
        .unwrap();
        let kept = read_file(&dir).unwrap();
        assert_eq!(kept.len(), 1, "the ended window is dropped: {kept:?}");
        for _ in 0..MAX_FILE_WINDOWS + 5 {
            add_to_file(
                &dir,
                raw("visa", "2026-12-02T00:00:00Z", "2026-12-02T01:00:00Z"),
                now,
            )
            .unwrap();
        }
        assert_eq!(read_file(&dir).unwrap().len(), MAX_FILE_WINDOWS);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
