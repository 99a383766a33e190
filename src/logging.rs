//! The probe's own log lines on stderr (the journal, under systemd), kept
//! to storm control's budget per call site.
//!
//! A state directory that is full, an endpoint that is down or a capture
//! that keeps failing would otherwise write the same line every second or
//! every notification: journald's rate limit (10,000 lines per 30 s per
//! service by default) would then throw lines away, event lines among
//! them. So each place in the code that logs gets `[limits] event_burst`
//! lines per `event_interval`; past it, its lines are counted and, when
//! the interval ends, one line says how many were held back, when, and
//! quotes the first of them. Event lines are not logged through here:
//! storm control ([`crate::storm`]) already keeps them.
//!
//! The budget is [`crate::storm::Budget`], run on the wall clock (this is
//! the edge, not the core).

use std::panic::Location;
use std::sync::Mutex;

use crate::storm::{Budget, Held, Limits, Pass};
use crate::time::Timestamp;

/// Call sites with a window open at once (there are fewer in the code).
const MAX_SITES: usize = 256;

type Site = &'static Location<'static>;

static LOG: Mutex<Option<Budget<Site, String>>> = Mutex::new(None);

/// Sets the budget (the config's `[limits]`); until then the defaults.
pub fn set_limits(limits: Limits) {
    if let Ok(mut log) = LOG.lock() {
        match log.as_mut() {
            Some(b) => b.set_limits(limits),
            None => *log = Some(new_budget(limits)),
        }
    }
}

fn new_budget(limits: Limits) -> Budget<Site, String> {
    // Past the bound every site shares the budget's first: an overflow
    // no real build reaches.
    Budget::new(limits, 1, MAX_SITES, |site| site)
}

/// Logs `msg` as `linewatch: msg` on stderr, within the caller's budget.
#[track_caller]
pub fn warn(msg: &str) {
    warn_at(
        Location::caller(),
        crate::clock::wall_now(),
        msg,
        &mut std::io::stderr(),
    );
}

/// Writes the held-back counts of windows that ended (call it now and
/// then: the daemon does on every tick).
pub fn flush() {
    let now = crate::clock::wall_now();
    if let Ok(mut log) = LOG.lock() {
        if let Some(b) = log.as_mut() {
            let mut err = std::io::stderr();
            b.advance_to(now, |_, _, held| write_held(&mut err, &held));
        }
    }
}

/// [`warn`] at `site` and time `now`, to `out`.
fn warn_at(site: Site, now: Timestamp, msg: &str, out: &mut dyn std::io::Write) {
    let Ok(mut log) = LOG.lock() else {
        let _ = writeln!(out, "linewatch: {msg}");
        return;
    };
    let budget = log.get_or_insert_with(|| new_budget(Limits::default()));
    let mut closed = Vec::new();
    let pass = budget.count(
        now,
        site,
        || msg.to_string(),
        |_, _, held| closed.push(held),
    );
    for held in &closed {
        write_held(out, held);
    }
    if pass == Pass::Print {
        let _ = writeln!(out, "linewatch: {msg}");
    }
}

fn write_held(out: &mut dyn std::io::Write, held: &Held<String>) {
    let first = held.examples.first().map_or("", String::as_str);
    let _ = writeln!(
        out,
        "linewatch: {} more lines like this one were held back from {} to {} (log rate limit, [limits] event_burst): {first}",
        held.count,
        held.first.rfc3339(),
        held.last.rfc3339(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn one_call_site_in_a_loop_is_held_to_its_budget_and_then_counted() {
        set_limits(Limits {
            burst: 2,
            interval: Duration::from_secs(10),
        });
        let mut out = Vec::new();
        let t0 = Timestamp::from_parts(1_800_000_000, 0);
        let site = Location::caller();
        for i in 0..5 {
            warn_at(
                site,
                t0.plus(Duration::from_secs(i)),
                &format!("disk full {i}"),
                &mut out,
            );
        }
        // The next line after the interval closes the window first.
        warn_at(
            site,
            t0.plus(Duration::from_secs(11)),
            "disk full again",
            &mut out,
        );
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "linewatch: disk full 0");
        assert_eq!(lines[1], "linewatch: disk full 1");
        assert!(
            lines[2].starts_with("linewatch: 3 more lines like this one were held back"),
            "{}",
            lines[2]
        );
        assert!(lines[2].ends_with(": disk full 2"), "{}", lines[2]);
        assert_eq!(lines[3], "linewatch: disk full again");
    }
}
