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

pub mod range;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

pub use range::Range;

use crate::capture::file::{CaptureError, FileCapture};
use crate::capture::live::{self, CaptureSpec};
use crate::config::{Config, PeerSpec, DEFAULT_STATE_DIR};
use crate::decode::{Frame, LinkType};
use crate::pipeline::Pipeline;
use crate::status::{self, ConnectionDoc, Health, LinkDoc, StatusDoc, StatusError};
use crate::time::{Duration, Timestamp};

/// The service name at the start of the output line.
pub const SERVICE: &str = "LINEWATCH";
/// Default hard timeout, seconds.
pub const DEFAULT_TIMEOUT_S: f64 = 10.0;
/// Default standalone capture length, seconds.
pub const DEFAULT_DURATION_S: f64 = 10.0;

/// The usage text (no `|`: in plugin output it would start perfdata).
const USAGE: &str = "\
linewatch check --link NAME [--state-dir DIR] [--max-age SECONDS] [THRESHOLDS] [-t SECONDS]
       linewatch check --all [--state-dir DIR] [--max-age SECONDS] [THRESHOLDS] [-t SECONDS]
       linewatch check --replay FILE --peer ADDR:PORT [--expect-connections N] [THRESHOLDS] [-t SECONDS]
       linewatch check --interface IF --peer ADDR:PORT [--duration 10s] [--expect-connections N] [THRESHOLDS] [-t SECONDS]
THRESHOLDS: --established-warning/--established-critical RANGE, --idle-warning/--idle-critical RANGE,
            --retransmits-warning/--retransmits-critical RANGE (RANGE: 10, 10:, ~:10, 10:20, @10:20)";

/// Nagios/Icinga plugin: judges a link, exits 0 OK, 1 WARNING, 2 CRITICAL,
/// 3 UNKNOWN.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "linewatch check",
    bin_name = "linewatch check",
    version,
    override_usage = USAGE,
    color = clap::ColorChoice::Never,
    after_help = "Without threshold options the daemon's health of the link decides. With any, the \
thresholds decide together with the daemon's silence, black-hole and capture findings (worst of \
both); the established count is then judged by --established-* only (critical default 1:). \
Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for --help and --version)."
)]
pub struct CheckArgs {
    /// The link to check (its `name` in linewatch.toml); in standalone mode,
    /// the name to print (default: the peer).
    #[arg(short = 'l', long, value_name = "NAME")]
    pub link: Option<String>,
    /// Check every link in the status document; the worst decides.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// The daemon's state directory (holds status.json) [default: /var/lib/linewatch].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// UNKNOWN if the status document is older than this [default: 3 x the
    /// daemon's write interval + 5 s].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub max_age: Option<f64>,
    /// Established connections: WARNING range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub established_warning: Option<Range>,
    /// Established connections: CRITICAL range [default with thresholds: 1:].
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub established_critical: Option<Range>,
    /// Seconds since the last packet either way (largest over the
    /// established connections): WARNING range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub idle_warning: Option<Range>,
    /// Seconds since the last packet: CRITICAL range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub idle_critical: Option<Range>,
    /// Retransmissions on the link's connections (both ways): WARNING range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub retransmits_warning: Option<Range>,
    /// Retransmissions: CRITICAL range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub retransmits_critical: Option<Range>,
    /// Hard timeout: UNKNOWN after this long [default: 10 s; with
    /// --interface, the capture duration + 10 s].
    #[arg(short = 't', long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<f64>,
    /// Standalone: capture live on this interface (needs CAP_NET_RAW).
    #[arg(short = 'i', long, value_name = "IF")]
    pub interface: Option<String>,
    /// Standalone: judge a pcap/pcapng file at the time of its last packet.
    #[arg(short = 'r', long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Standalone: the card network's end, ADDR:PORT or CIDR:PORT (repeatable).
    #[arg(short = 'p', long, value_name = "ADDR:PORT")]
    pub peer: Vec<PeerSpec>,
    /// Standalone with --interface: how long to capture [default: 10s].
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_seconds)]
    pub duration: Option<f64>,
    /// Standalone: connections the link should have [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub expect_connections: Option<u32>,
}

/// Seconds as a bare number (`10`, `2.5`) or a duration (`10s`, `1m30s`).
fn parse_seconds(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let secs = match t.parse::<f64>() {
        Ok(v) => v,
        Err(_) => Duration::parse(t)?.as_secs_f64(),
    };
    if secs.is_finite() && secs > 0.0 && secs < 1e9 {
        Ok(secs)
    } else {
        Err(format!("`{text}` is not a positive number of seconds"))
    }
}

/// Why a check could not judge: every one of them is UNKNOWN (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Bad command line.
    #[error("invalid arguments: {0}")]
    Usage(String),
    /// The status document is missing, unreadable or not parseable.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The status document is too old: the daemon is not updating it.
    #[error("status document is {age} old (limit {limit}): the linewatch daemon (pid {pid}) is not updating it; is it running?")]
    Stale {
        /// Its age, human form.
        age: String,
        /// The limit, human form.
        limit: String,
        /// The pid that wrote it.
        pid: u32,
    },
    /// The status document is dated in the future.
    #[error("status document is dated {0} in the future: check the clocks")]
    Future(String),
    /// The link is not in the status document.
    #[error("link `{name}` is not in the status document ({known})")]
    UnknownLink {
        /// The name asked for.
        name: String,
        /// The links the document has, in words.
        known: String,
    },
    /// `--all` on a document without links.
    #[error("the status document has no links: configure [[link]] in linewatch.toml")]
    NoLinks,
    /// A capture file could not be read to its end.
    #[error(transparent)]
    Replay(#[from] CaptureError),
    /// A capture file without packets.
    #[error("{0} has no packets: nothing to judge")]
    EmptyCapture(PathBuf),
    /// A live capture could not be opened or failed.
    #[error("capture on {interface}: {message}")]
    Capture {
        /// The interface.
        interface: String,
        /// Why.
        message: String,
    },
    /// The hard timeout expired.
    #[error("timed out after {0}s")]
    Timeout(String),
    /// Anything else (a thread could not be started, ...).
    #[error("{0}")]
    Internal(String),
}

/// One performance data item:
/// `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Perf {
    /// Label (quoted on output).
    pub label: String,
    /// Value; `None` prints `U` (could not be determined).
    pub value: Option<f64>,
    /// Unit: `""`, `"s"` or `"c"`.
    pub uom: &'static str,
    /// Warning range, as given.
    pub warn: Option<String>,
    /// Critical range, as given.
    pub crit: Option<String>,
    /// Minimum.
    pub min: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
}

/// A number without exponent, at most three decimals, no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".to_string(),
        s => s.to_string(),
    }
}

impl Perf {
    /// The item in the guidelines' syntax; trailing empty fields are dropped.
    pub fn render(&self) -> String {
        let label = self.label.replace('=', "_").replace('\'', "''");
        let value = match self.value {
            Some(v) => format!("{}{}", num(v), self.uom),
            None => "U".to_string(),
        };
        let mut fields = vec![
            value,
            self.warn.clone().unwrap_or_default(),
            self.crit.clone().unwrap_or_default(),
            self.min.map(num).unwrap_or_default(),
            self.max.map(num).unwrap_or_default(),
        ];
        while fields.len() > 1 && fields.last().is_some_and(|f| f.is_empty()) {
            fields.pop();
        }
        format!("'{label}'={}", fields.join(";"))
    }
}

/// What the plugin prints and how it exits.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The state.
    pub state: Health,
    /// The text after `LINEWATCH STATE - `.
    pub summary: String,
    /// Performance data for the first line.
    pub perfdata: Vec<Perf>,
    /// Long output lines.
    pub long: Vec<String>,
}

/// `|` separates perfdata and a newline ends the first line: neither may
/// appear in the text.
fn clean(s: &str) -> String {
    s.replace('|', "/").replace(['\n', '\r'], " ")
}

impl Outcome {
    /// An UNKNOWN outcome with a message.
    pub fn unknown(message: impl Into<String>) -> Outcome {
        Outcome {
            state: Health::Unknown,
            summary: message.into(),
            perfdata: Vec::new(),
            long: Vec::new(),
        }
    }

    /// The plugin output: one line, then the long output; newline-terminated.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{SERVICE} {} - {}",
            self.state.upper(),
            clean(&self.summary)
        );
        if !self.perfdata.is_empty() {
            s.push_str(" | ");
            let items: Vec<String> = self.perfdata.iter().map(Perf::render).collect();
            s.push_str(&items.join(" "));
        }
        s.push('\n');
        for l in &self.long {
            s.push_str(&clean(l));
            s.push('\n');
        }
        s
    }
}

/// The exit code of a check's result: the state's, and 3 for every error.
pub fn exit_code(result: &Result<Outcome, CheckError>) -> u8 {
    match result {
        Ok(o) => o.state.exit_code(),
        Err(_) => Health::Unknown.exit_code(),
    }
}

/// An error as the UNKNOWN outcome to print.
pub fn outcome_of(result: Result<Outcome, CheckError>) -> Outcome {
    match result {
        Ok(o) => o,
        Err(e) => {
            let mut o = Outcome::unknown(e.to_string());
            if matches!(e, CheckError::Usage(_)) {
                o.long = format!("Usage: {USAGE}")
                    .lines()
                    .map(str::to_string)
                    .collect();
            }
            o
        }
    }
}

/// The worse of two states (CRITICAL > WARNING > UNKNOWN > OK).
pub fn worst(a: Health, b: Health) -> Health {
    if b.rank() > a.rank() {
        b
    } else {
        a
    }
}

/// The threshold options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    /// `--established-warning`.
    pub established_warning: Option<Range>,
    /// `--established-critical`.
    pub established_critical: Option<Range>,
    /// `--idle-warning`.
    pub idle_warning: Option<Range>,
    /// `--idle-critical`.
    pub idle_critical: Option<Range>,
    /// `--retransmits-warning`.
    pub retransmits_warning: Option<Range>,
    /// `--retransmits-critical`.
    pub retransmits_critical: Option<Range>,
}

impl Thresholds {
    /// Was any threshold given? Then thresholds decide (with the daemon's
    /// non-count findings); otherwise the daemon's health does.
    pub fn any(&self) -> bool {
        self.established_warning.is_some()
            || self.established_critical.is_some()
            || self.idle_warning.is_some()
            || self.idle_critical.is_some()
            || self.retransmits_warning.is_some()
            || self.retransmits_critical.is_some()
    }

    /// The established critical range in force: as given, else `1:` when
    /// thresholds are in use, else none.
    fn established_critical(&self) -> Option<Range> {
        match &self.established_critical {
            Some(r) => Some(r.clone()),
            None if self.any() => Range::parse("1:").ok(),
            None => None,
        }
    }
}

/// One link judged.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkVerdict {
    /// Link name.
    pub name: String,
    /// Its state.
    pub state: Health,
    /// `name: what matters`.
    pub summary: String,
    /// Perfdata, labels without the link name.
    pub perfdata: Vec<Perf>,
    /// One line per connection.
    pub connections: Vec<String>,
}

/// Seconds in words: `0.4s`, `42s`, `10m 4s`.
fn secs_text(s: f64) -> String {
    let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 60.0 {
        format!("{s:.0}s")
    } else {
        Duration::from_nanos((s * 1e9) as i64).to_string()
    }
}

fn is_up(c: &ConnectionDoc) -> bool {
    c.state == "established"
}

/// What the daemon found apart from the connection count: silence, black
/// holes, a degraded capture (the branches of [`status::link_doc`] that do
/// not look at the count).
fn daemon_beyond_count(link: &LinkDoc, capture_degraded: bool) -> (Health, Option<String>) {
    let up = link.connections.iter().filter(|c| is_up(c)).count();
    let troubled = link
        .connections
        .iter()
        .filter(|c| is_up(c) && (c.silent || c.black_hole))
        .count();
    let words = format!("{troubled} of {up} established connections silent or black-holed");
    if troubled > 0 && troubled >= up && !capture_degraded {
        (Health::Critical, Some(words))
    } else if capture_degraded {
        (
            Health::Warning,
            Some("capture degraded: the probe is losing packets".to_string()),
        )
    } else if troubled > 0 {
        (Health::Warning, Some(words))
    } else {
        (Health::Ok, None)
    }
}

/// The last connection that is not established, in words (who ended it).
fn story(link: &LinkDoc, age: f64) -> Option<String> {
    let c = link
        .connections
        .iter()
        .filter(|c| !is_up(c))
        .max_by(|a, b| a.last_packet.total_cmp(&b.last_packet))?;
    let ago = secs_text(c.idle_s + age);
    let what = match c.state.as_str() {
        "fin_from_peer" => format!("peer {} sent FIN, last packet {ago} ago", c.peer),
        "reset_by_peer" => format!("peer {} sent RST {ago} ago", c.peer),
        "fin_from_local" => format!("we ({}) sent FIN, last packet {ago} ago", c.local),
        "reset_by_local" => format!("we ({}) sent RST {ago} ago", c.local),
        "closed" => format!("connection to {} closed {ago} ago", c.peer),
        "refused" => format!("peer {} refused a connection {ago} ago", c.peer),
        "syn_unanswered" => format!("SYN to {} unanswered, sent {ago} ago", c.peer),
        other => format!("connection to {} {other}, last packet {ago} ago", c.peer),
    };
    Some(what)
}

fn connection_line(c: &ConnectionDoc, age: f64) -> String {
    let mut s = format!(
        "{} -> {} {}, idle {}, packets {}/{}, retransmissions {}/{} (local/peer)",
        c.local,
        c.peer,
        c.state,
        secs_text(c.idle_s + age),
        c.packets_local,
        c.packets_peer,
        c.retransmissions_local,
        c.retransmissions_peer
    );
    if c.silent {
        s.push_str(", SILENT");
    }
    if c.black_hole {
        s.push_str(", BLACK HOLE");
    }
    s
}

/// Checks `value` against warning and critical ranges.
fn check(
    what: &str,
    shown: &str,
    value: f64,
    warn: Option<&Range>,
    crit: Option<&Range>,
) -> (Health, Option<String>) {
    if let Some(c) = crit.filter(|r| r.alerts(value)) {
        return (
            Health::Critical,
            Some(format!("{what} {shown} (critical range {c})")),
        );
    }
    if let Some(w) = warn.filter(|r| r.alerts(value)) {
        return (
            Health::Warning,
            Some(format!("{what} {shown} (warning range {w})")),
        );
    }
    (Health::Ok, None)
}

/// Judges one link. `age` is how old the figures are (now − `written_at`;
/// 0 in standalone mode): idle times grow by it. `capture_degraded` is
/// whether the link's capture is dropping packets.
pub fn judge_link(
    link: &LinkDoc,
    age: f64,
    capture_degraded: bool,
    thresholds: &Thresholds,
) -> LinkVerdict {
    let age = if age.is_finite() { age.max(0.0) } else { 0.0 };
    let established = f64::from(link.established);
    let idle = link
        .connections
        .iter()
        .filter(|c| is_up(c))
        .map(|c| c.idle_s + age)
        .max_by(f64::total_cmp);
    let retransmits: u64 = link
        .connections
        .iter()
        .map(|c| {
            c.retransmissions_local
                .saturating_add(c.retransmissions_peer)
        })
        .fold(0, u64::saturating_add);
    let est_crit = thresholds.established_critical();
    let count_words = format!(
        "{}/{} connections established",
        link.established, link.expected
    );
    let mut notes: Vec<String> = Vec::new();
    let state = if link.health == Health::Unknown || !thresholds.any() {
        let rest = link
            .reason
            .strip_prefix(&count_words)
            .map(|r| r.trim_start_matches([',', ' ']).to_string())
            .unwrap_or_else(|| link.reason.clone());
        if !rest.is_empty() {
            notes.push(rest);
        }
        link.health
    } else {
        let (mut state, words) = daemon_beyond_count(link, capture_degraded);
        notes.extend(words);
        let checks = [
            check(
                "established",
                &num(established),
                established,
                thresholds.established_warning.as_ref(),
                est_crit.as_ref(),
            ),
            match idle {
                Some(v) => check(
                    "idle",
                    &secs_text(v),
                    v,
                    thresholds.idle_warning.as_ref(),
                    thresholds.idle_critical.as_ref(),
                ),
                None => (Health::Ok, None),
            },
            check(
                "retransmissions",
                &retransmits.to_string(),
                retransmits as f64,
                thresholds.retransmits_warning.as_ref(),
                thresholds.retransmits_critical.as_ref(),
            ),
        ];
        for (s, words) in checks {
            state = worst(state, s);
            notes.extend(words);
        }
        state
    };
    if link.established < link.expected {
        notes.extend(story(link, age));
    }
    let silent = link.connections.iter().any(|c| is_up(c) && c.silent);
    if let (true, Some(v)) = (silent, idle) {
        if !notes.iter().any(|n| n.starts_with("idle ")) {
            notes.push(format!("last packet {} ago", secs_text(v)));
        }
    }
    let mut summary = format!("{}: {count_words}", link.name);
    for n in &notes {
        summary.push_str(", ");
        summary.push_str(n);
    }
    let perfdata = vec![
        Perf {
            label: "established".into(),
            value: Some(established),
            uom: "",
            warn: thresholds
                .established_warning
                .as_ref()
                .map(|r| r.to_string()),
            crit: est_crit.map(|r| r.to_string()),
            min: Some(0.0),
            max: Some(f64::from(link.expected)),
        },
        Perf {
            label: "idle".into(),
            value: idle,
            uom: "s",
            warn: thresholds.idle_warning.as_ref().map(|r| r.to_string()),
            crit: thresholds.idle_critical.as_ref().map(|r| r.to_string()),
            min: Some(0.0),
            max: None,
        },
        Perf {
            label: "retransmits".into(),
            value: Some(retransmits as f64),
            uom: "c",
            warn: thresholds
                .retransmits_warning
                .as_ref()
                .map(|r| r.to_string()),
            crit: thresholds
                .retransmits_critical
                .as_ref()
                .map(|r| r.to_string()),
            min: Some(0.0),
            max: None,
        },
    ];
    LinkVerdict {
        name: link.name.clone(),
        state,
        summary,
        perfdata,
        connections: link
            .connections
            .iter()
            .map(|c| connection_line(c, age))
            .collect(),
    }
}

/// Which links to judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One link, by name.
    Link(String),
    /// Every link in the document.
    All,
}

/// The default `--max-age`: three write intervals plus 5 s (8 s for the
/// daemon's default 1 s interval).
pub fn default_max_age(write_interval_s: f64) -> f64 {
    let w = if write_interval_s.is_finite() {
        write_interval_s.max(0.0)
    } else {
        1.0
    };
    w * 3.0 + 5.0
}

fn capture_degraded(doc: &StatusDoc, link: &LinkDoc) -> bool {
    doc.captures
        .iter()
        .any(|c| Some(&c.interface) == link.interface.as_ref() && (c.degraded || c.state == "lost"))
}

/// Labels with the link name; if two would share their first 19
/// characters (the guidelines' uniqueness rule), `metric N name` instead.
fn prefixed_perfdata(verdicts: &[LinkVerdict]) -> Vec<Perf> {
    let named: Vec<Perf> = verdicts
        .iter()
        .flat_map(|v| {
            v.perfdata.iter().map(|p| Perf {
                label: format!("{} {}", v.name, p.label),
                ..p.clone()
            })
        })
        .collect();
    let mut heads: Vec<String> = named
        .iter()
        .map(|p| p.label.chars().take(19).collect())
        .collect();
    heads.sort();
    let before = heads.len();
    heads.dedup();
    if heads.len() == before {
        return named;
    }
    verdicts
        .iter()
        .enumerate()
        .flat_map(|(i, v)| {
            v.perfdata.iter().map(move |p| Perf {
                label: format!("{} {} {}", p.label, i + 1, v.name),
                ..p.clone()
            })
        })
        .collect()
}

/// Judges the status document at wall-clock time `now` (seconds since the
/// epoch): UNKNOWN errors for a stale document or an unknown link.
pub fn judge_doc(
    doc: &StatusDoc,
    now: f64,
    target: &Target,
    max_age: Option<f64>,
    thresholds: &Thresholds,
) -> Result<Outcome, CheckError> {
    let limit = max_age.unwrap_or_else(|| default_max_age(doc.write_interval_s));
    let age = now - doc.written_at;
    if !age.is_finite() || age > limit {
        return Err(CheckError::Stale {
            age: secs_text(if age.is_finite() { age } else { f64::MAX }),
            limit: secs_text(limit),
            pid: doc.pid,
        });
    }
    if age < -limit {
        return Err(CheckError::Future(secs_text(-age)));
    }
    let age = age.max(0.0);
    let doc_line = format!(
        "status written {} ago by pid {} (daemon up {}, rewritten every {}, stale after {})",
        secs_text(age),
        doc.pid,
        secs_text(now - doc.started_at),
        secs_text(doc.write_interval_s),
        secs_text(limit)
    );
    match target {
        Target::Link(name) => {
            let link = doc.links.iter().find(|l| &l.name == name).ok_or_else(|| {
                let names: Vec<&str> = doc.links.iter().map(|l| l.name.as_str()).collect();
                CheckError::UnknownLink {
                    name: name.clone(),
                    known: if names.is_empty() {
                        "it has no links".to_string()
                    } else {
                        format!("links: {}", names.join(", "))
                    },
                }
            })?;
            let v = judge_link(link, age, capture_degraded(doc, link), thresholds);
            let mut long = v.connections;
            long.push(doc_line);
            Ok(Outcome {
                state: v.state,
                summary: v.summary,
                perfdata: v.perfdata,
                long,
            })
        }
        Target::All => {
            if doc.links.is_empty() {
                return Err(CheckError::NoLinks);
            }
            let verdicts: Vec<LinkVerdict> = doc
                .links
                .iter()
                .map(|l| judge_link(l, age, capture_degraded(doc, l), thresholds))
                .collect();
            let mut o = combine(&verdicts);
            o.long.push(doc_line);
            Ok(o)
        }
    }
}

/// Several links: the worst decides; the summary names the links not OK.
pub fn combine(verdicts: &[LinkVerdict]) -> Outcome {
    let state = verdicts
        .iter()
        .fold(Health::Ok, |acc, v| worst(acc, v.state));
    let mut bad: Vec<&LinkVerdict> = verdicts.iter().filter(|v| v.state != Health::Ok).collect();
    bad.sort_by_key(|v| std::cmp::Reverse(v.state.rank()));
    let ok = verdicts.len() - bad.len();
    let mut parts: Vec<String> = bad
        .iter()
        .map(|v| format!("{} {}", v.state.upper(), v.summary))
        .collect();
    parts.push(format!("{ok}/{} links OK", verdicts.len()));
    let mut long = Vec::new();
    for v in verdicts {
        long.push(format!("[{}] {}", v.state.upper(), v.summary));
        long.extend(v.connections.iter().map(|c| format!("  {c}")));
    }
    Outcome {
        state,
        summary: parts.join("; "),
        perfdata: prefixed_perfdata(verdicts),
        long,
    }
}

/// A standalone check's judged link as the outcome to print.
fn single(v: LinkVerdict, note: String) -> Outcome {
    let mut long = v.connections;
    long.push(note);
    Outcome {
        state: v.state,
        summary: v.summary,
        perfdata: v.perfdata,
        long,
    }
}

/// What to run, validated.
#[derive(Clone, Debug)]
enum Mode {
    Daemon {
        state_dir: PathBuf,
        target: Target,
        max_age: Option<f64>,
    },
    Replay {
        file: PathBuf,
        config: Config,
    },
    Live {
        config: Config,
        duration: StdDuration,
    },
}

/// The one-link config of a standalone check, built through the config
/// parser so that every other key keeps its documented default (the
/// `silence_after`, `black_hole_after` and `reconnect_grace` of
/// linewatch.toml) and the names are validated as in linewatch.toml.
fn standalone_config(args: &CheckArgs) -> Result<Config, CheckError> {
    let name = args.link.clone().unwrap_or_else(|| {
        args.peer
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",")
    });
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let peers: Vec<String> = args.peer.iter().map(|p| quote(&p.to_string())).collect();
    let mut text = format!(
        "[[link]]\nname = {}\npeer = [{}]\nexpect_connections = {}\n",
        quote(&name),
        peers.join(", "),
        args.expect_connections.unwrap_or(1)
    );
    if let Some(i) = &args.interface {
        text.push_str(&format!("interface = {}\n", quote(i)));
    }
    Config::parse(&text).map_err(|e| {
        let e = e
            .split_once(": ")
            .map_or(e.as_str(), |(_, rest)| rest)
            .replace("key `name`", "--link")
            .replace("key `interface`", "--interface");
        CheckError::Usage(e)
    })
}

/// Checks the combination of options; returns the mode and the timeout.
fn validate(args: &CheckArgs) -> Result<(Mode, StdDuration), CheckError> {
    let usage = |m: &str| Err(CheckError::Usage(m.to_string()));
    let standalone = args.replay.is_some() || args.interface.is_some();
    if args.replay.is_some() && args.interface.is_some() {
        return usage("--replay and --interface exclude each other");
    }
    if args.all && args.link.is_some() {
        return usage("--link and --all exclude each other");
    }
    if args.duration.is_some() && args.interface.is_none() {
        return usage("--duration needs --interface");
    }
    let mode = if standalone {
        if args.peer.is_empty() {
            return usage("--replay and --interface need --peer ADDR:PORT");
        }
        if args.all || args.state_dir.is_some() || args.max_age.is_some() {
            return usage(
                "--all, --state-dir and --max-age are for the daemon's status document, not with --replay or --interface",
            );
        }
        let config = standalone_config(args)?;
        match (&args.replay, args.duration) {
            (Some(file), _) => Mode::Replay {
                file: file.clone(),
                config,
            },
            (None, d) => Mode::Live {
                config,
                duration: StdDuration::from_secs_f64(d.unwrap_or(DEFAULT_DURATION_S)),
            },
        }
    } else {
        if !args.peer.is_empty() || args.expect_connections.is_some() {
            return usage("--peer and --expect-connections need --replay or --interface");
        }
        let target = match (&args.link, args.all) {
            (Some(name), _) => Target::Link(name.clone()),
            (None, true) => Target::All,
            (None, false) => return usage("say which link: --link NAME, or --all"),
        };
        Mode::Daemon {
            state_dir: args
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            target,
            max_age: args.max_age,
        }
    };
    let timeout = match (&mode, args.timeout) {
        (Mode::Live { duration, .. }, Some(t)) if t <= duration.as_secs_f64() => {
            return usage("--timeout must be longer than --duration");
        }
        (_, Some(t)) => t,
        (Mode::Live { duration, .. }, None) => duration.as_secs_f64() + DEFAULT_TIMEOUT_S,
        (_, None) => DEFAULT_TIMEOUT_S,
    };
    Ok((mode, StdDuration::from_secs_f64(timeout)))
}

fn thresholds_of(args: &CheckArgs) -> Thresholds {
    Thresholds {
        established_warning: args.established_warning.clone(),
        established_critical: args.established_critical.clone(),
        idle_warning: args.idle_warning.clone(),
        idle_critical: args.idle_critical.clone(),
        retransmits_warning: args.retransmits_warning.clone(),
        retransmits_critical: args.retransmits_critical.clone(),
    }
}

fn wall_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn wall_now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn only_link(p: &Pipeline, now: Timestamp) -> Result<LinkDoc, CheckError> {
    p.tracker()
        .link_views()
        .first()
        .map(|v| status::link_doc(v, now, None))
        .ok_or_else(|| CheckError::Internal("no link configured".into()))
}

/// Reads `file` through the pipeline; the link as of its last packet.
pub fn replay_link(file: &Path, config: &Config) -> Result<(LinkDoc, Timestamp), CheckError> {
    let mut cap = FileCapture::open(file)?;
    let mut p = Pipeline::new(cap.link(), config);
    let mut events = Vec::new();
    while let Some(frame) = cap.next_frame()? {
        p.on_frame(&frame, &mut events);
        events.clear();
        drop(p.tracker_mut().drain_retired());
    }
    let (_, last) = p.front().span();
    let now = last.ok_or_else(|| CheckError::EmptyCapture(file.to_path_buf()))?;
    p.advance_to(now, &mut events);
    Ok((only_link(&p, now)?, now))
}

/// Captures live for `duration` on the config's one interface; the link
/// as of the end of the capture.
pub fn capture_link(
    config: &Config,
    duration: StdDuration,
) -> Result<(LinkDoc, Timestamp), CheckError> {
    let spec = CaptureSpec::for_links(&config.links)
        .into_iter()
        .next()
        .ok_or_else(|| CheckError::Internal("no interface configured".into()))?;
    let fail = |message: String| CheckError::Capture {
        interface: spec.interface.clone(),
        message,
    };
    let mut cap = live::open(&spec).map_err(fail)?;
    let dlt = cap.get_datalink().0;
    let link = LinkType::from_dlt(dlt).map_err(|_| {
        fail(format!(
            "link type {}, which linewatch does not decode",
            crate::decode::dlt_name(dlt)
        ))
    })?;
    let mut p = Pipeline::new(link, config);
    let mut events = Vec::new();
    p.advance_to(wall_now(), &mut events);
    let end = Instant::now() + duration;
    loop {
        match cap.next_packet() {
            Ok(pkt) => {
                let h = pkt.header;
                let frame = Frame {
                    ts: Timestamp::from_parts(h.ts.tv_sec, h.ts.tv_usec.saturating_mul(1000)),
                    data: pkt.data,
                    wire_len: h.len,
                };
                p.on_frame(&frame, &mut events);
                events.clear();
                drop(p.tracker_mut().drain_retired());
            }
            Err(pcap::Error::TimeoutExpired) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                wait_readable(&cap, left.min(StdDuration::from_millis(50))).map_err(fail)?;
            }
            Err(e) => return Err(fail(live::explain(&spec.interface, &e.to_string()))),
        }
        if Instant::now() >= end {
            break;
        }
    }
    let now = wall_now();
    p.advance_to(now, &mut events);
    Ok((only_link(&p, now)?, now))
}

fn wait_readable(cap: &pcap::Capture<pcap::Active>, wait: StdDuration) -> Result<(), String> {
    use std::os::fd::AsFd;
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [nix::poll::PollFd::new(
        cap.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(format!("poll: {e}")),
    }
}

fn run_mode(mode: Mode, thresholds: &Thresholds) -> Result<Outcome, CheckError> {
    match mode {
        Mode::Daemon {
            state_dir,
            target,
            max_age,
        } => {
            let doc = status::read(&state_dir)?;
            judge_doc(&doc, wall_secs(), &target, max_age, thresholds)
        }
        Mode::Replay { file, config } => {
            let (link, at) = replay_link(&file, &config)?;
            let v = judge_link(&link, 0.0, false, thresholds);
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
            let v = judge_link(&link, 0.0, false, thresholds);
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

/// Parses the check's own command line (without `linewatch check`), so
/// that every argument error is UNKNOWN (3), not clap's 2.
pub fn parse_args<I, T>(args: I) -> Result<CheckArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv = std::iter::once(OsString::from("linewatch check"))
        .chain(args.into_iter().map(Into::into))
        .collect::<Vec<OsString>>();
    CheckArgs::try_parse_from(argv)
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
