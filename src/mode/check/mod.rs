//! `linewatch check`: a Nagios / Icinga / Naemon plugin following the
//! Monitoring Plugins development guidelines.
//!
//! It judges one link (`--link NAME`) or every link (`--all`) from the
//! daemon's status document, or, on a host without the daemon, from a short
//! live capture (`--interface IF --peer ADDR:PORT`) or a capture file
//! (`--replay FILE --peer ADDR:PORT`). Output: one line
//! `LINEWATCH <STATE> - <summary> | <perfdata>`, then long output (one line
//! per connection). Exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
//!
//! The judging ([`judge_doc`], [`judge_link`]) and the formatting
//! ([`Outcome::render`]) are pure; [`run_cli`] is the edge that parses the
//! arguments, reads the document or the packets under a hard timeout,
//! prints, and returns the exit code ([`exit_code`]).
//!
//! Policy where the daemon's judgement and thresholds meet:
//!
//! * No threshold option: the daemon's `health` of the link decides.
//! * Any threshold option: status = worst of the threshold checks and the
//!   daemon's findings other than the connection count (silence, black
//!   hole, degraded capture). The established count is then judged by
//!   `--established-*` alone (critical defaults to `1:`), which replaces the
//!   daemon's count verdict and its reconnect grace.
//! * The daemon's UNKNOWN (capture lost, daemon just started) is UNKNOWN
//!   in both cases: the figures cannot be trusted.
//! * With `--all`, the worst link decides, ranked CRITICAL > WARNING >
//!   UNKNOWN > OK (as the Monitoring Plugins' `max_state_alt`).

pub mod args;
pub mod error;
pub mod judge;
pub mod nagios;
pub mod range;
pub mod standalone;

use std::ffi::OsString;
use std::io::Write;
use std::sync::mpsc;

pub use args::{parse_args, CheckArgs, DEFAULT_DURATION_S, DEFAULT_TIMEOUT_S};
pub use error::CheckError;
pub use judge::{combine, default_max_age, judge_doc, judge_link, LinkVerdict, Target, Thresholds};
pub use nagios::{exit_code, outcome_of, Outcome, Perf, SERVICE};
pub use range::Range;
pub use standalone::{capture_link, replay_link};

use crate::status::{self, Health};
use args::{thresholds_of, validate, Mode};
use judge::single;
use nagios::{num, secs_text};

fn run_mode(mode: Mode, thresholds: &Thresholds) -> Result<Outcome, CheckError> {
    match mode {
        Mode::Daemon {
            state_dir,
            target,
            max_age,
        } => {
            let doc = status::read(&state_dir)?;
            judge_doc(&doc, standalone::wall_secs(), &target, max_age, thresholds)
        }
        Mode::Replay { file, config } => {
            let (link, at) = replay_link(&file, &config)?;
            let v = judge_link(&link, 0.0, thresholds);
            Ok(single(
                v,
                format!(
                    "judged at {} UTC, the last packet of {}",
                    at.utc(),
                    file.display()
                ),
            ))
        }
        Mode::Live { config, duration } => {
            let (link, at) = capture_link(&config, duration)?;
            let v = judge_link(&link, 0.0, thresholds);
            Ok(single(
                v,
                format!(
                    "judged at {} UTC after a {} capture on {}",
                    at.utc(),
                    secs_text(duration.as_secs_f64()),
                    link.interface.as_deref().unwrap_or("?")
                ),
            ))
        }
    }
}

/// Runs the check under the hard timeout: the work runs in a thread; if it
/// has not answered in time, UNKNOWN (the thread is abandoned, the process
/// exits right after).
fn run_with_timeout(args: &CheckArgs) -> Result<Outcome, CheckError> {
    let (mode, timeout) = validate(args)?;
    let thresholds = thresholds_of(args);
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("check".into())
        .spawn(move || {
            let _ = tx.send(run_mode(mode, &thresholds));
        })
        .map_err(|e| CheckError::Internal(format!("cannot start the check thread: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(CheckError::Timeout(num(timeout.as_secs_f64())))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(CheckError::Internal(
            "the check thread ended without an answer".into(),
        )),
    }
}

/// The plugin: parses `args` (what follows `linewatch check`), judges,
/// writes the output to `out` and returns the exit code (0..=3).
pub fn run_cli<I, T>(args: I, out: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let result = match parse_args(args) {
        Ok(a) => run_with_timeout(&a),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                // Like the Monitoring Plugins: help and version exit UNKNOWN.
                let _ = write!(out, "{e}");
                let _ = out.flush();
                return Health::Unknown.exit_code();
            }
            _ => {
                let text = e.to_string();
                let first = text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ")
                    .to_string();
                Err(CheckError::Usage(first))
            }
        },
    };
    let code = exit_code(&result);
    let _ = out.write_all(outcome_of(result).render().as_bytes());
    let _ = out.flush();
    code
}

#[cfg(test)]
mod tests;
