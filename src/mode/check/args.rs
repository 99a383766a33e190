//! The check's command line: options, their combinations, and the mode
//! they select. Nothing here reads a file or a packet.

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use clap::Parser;

use crate::config::{Config, PeerSpec, DEFAULT_STATE_DIR};
use crate::time::Duration;

use super::error::CheckError;
use super::judge::{Target, Thresholds};
use super::range::Range;

/// Default hard timeout, seconds.
pub const DEFAULT_TIMEOUT_S: f64 = 10.0;
/// Default standalone capture length, seconds.
pub const DEFAULT_DURATION_S: f64 = 10.0;

/// The usage text (no `|`: in plugin output it would start perfdata).
pub(super) const USAGE: &str = "\
linewatch check --link NAME [--state-dir DIR] [--max-age SECONDS] [THRESHOLDS] [-t SECONDS]
       linewatch check --all [--state-dir DIR] [--max-age SECONDS] [THRESHOLDS] [-t SECONDS]
       linewatch check --replay FILE --peer ADDR:PORT [--expect-connections N] [THRESHOLDS] [-t SECONDS]
       linewatch check --interface IF --peer ADDR:PORT [--duration 10s] [--expect-connections N] [THRESHOLDS] [-t SECONDS]
THRESHOLDS: --established-warning/--established-critical RANGE, --idle-warning/--idle-critical RANGE,
            --retransmits-warning/--retransmits-critical RANGE, --rtt-warning/--rtt-critical RANGE (ms),
            --response-warning/--response-critical RANGE (ms) (RANGE: 10, 10:, ~:10, 10:20, @10:20)";

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
    /// Round-trip time (the worst connection's median, ms): WARNING range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub rtt_warning: Option<Range>,
    /// Round-trip time: CRITICAL range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub rtt_critical: Option<Range>,
    /// Response time (the worst connection's median, ms): WARNING range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub response_warning: Option<Range>,
    /// Response time: CRITICAL range.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub response_critical: Option<Range>,
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

/// Seconds as a bare number (`10`, `2.5`) or a duration (`10s`, `1m30s`):
/// the one duration parser's plugin form.
fn parse_seconds(text: &str) -> Result<f64, String> {
    Duration::parse_seconds_or_duration(text).map(Duration::as_secs_f64)
}

/// What to run, validated.
#[derive(Clone, Debug)]
pub(super) enum Mode {
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
pub(super) fn validate(args: &CheckArgs) -> Result<(Mode, StdDuration), CheckError> {
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

pub(super) fn thresholds_of(args: &CheckArgs) -> Thresholds {
    Thresholds {
        established_warning: args.established_warning.clone(),
        established_critical: args.established_critical.clone(),
        idle_warning: args.idle_warning.clone(),
        idle_critical: args.idle_critical.clone(),
        retransmits_warning: args.retransmits_warning.clone(),
        retransmits_critical: args.retransmits_critical.clone(),
        rtt_warning: args.rtt_warning.clone(),
        rtt_critical: args.rtt_critical.clone(),
        response_warning: args.response_warning.clone(),
        response_critical: args.response_critical.clone(),
    }
}

/// Parses the check's own command line (without `linewatch check`), so
/// that every argument error is UNKNOWN (3), not clap's 2.
pub fn parse_args<I, T>(args: I) -> Result<CheckArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv = std::iter::once(std::ffi::OsString::from("linewatch check"))
        .chain(args.into_iter().map(Into::into))
        .collect::<Vec<std::ffi::OsString>>();
    CheckArgs::try_parse_from(argv)
}
