//! The `linewatch` binary: CLI parsing and the exit-code policy, nothing else.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use linewatch::config::Config;
use linewatch::mode::replay::{self, Format, ReplayError};

/// Watches persistent TCP connections over a leased line: who sent FIN or
/// RST, silence, black holes.
#[derive(Parser, Debug)]
#[command(name = "linewatch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay a pcap/pcapng file through the pipeline and print the timeline.
    Replay {
        /// The capture file.
        file: PathBuf,
        /// linewatch.toml with the links to watch (default: every TCP connection).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Feed the incident policy and emitters of the config: `dry-run`
        /// prints exactly the datagrams and HTTP bodies it would send,
        /// `live` sends them (rehearsals).
        #[arg(long, value_enum, default_value_t = EmitArg::Off)]
        emit: EmitArg,
        /// Write each incident's packets (headers only, no payload byte)
        /// as pcapng files with a JSON sidecar under DIR/<link>/, as the
        /// daemon does: post-mortems, and a PCI-safe cut of a full capture.
        #[arg(long, value_name = "DIR")]
        evidence_dir: Option<PathBuf>,
        /// Print every line: no storm control (by default a flood's
        /// repeated lines about connections that never came up are
        /// summarised as `suppressed`, as the daemon prints them).
        #[arg(long)]
        every_line: bool,
    },
    /// Run the daemon: capture on the configured interfaces, print events as JSON lines.
    Run {
        /// linewatch.toml.
        #[arg(long, default_value = "/etc/linewatch/linewatch.toml")]
        config: PathBuf,
        /// After opening the captures, switch to this user (like tcpdump -Z),
        /// keeping only CAP_NET_RAW and CAP_NET_ADMIN.
        #[arg(long)]
        user: Option<String>,
        /// Where to write status.json (default: $STATE_DIRECTORY, else the config's).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// An incident report of a capture (an evidence file or a full
    /// capture) for a carrier or a manager: the verdict in a sentence, the
    /// timeline, the connections, a time-sequence graph per affected
    /// connection, the commands to check it and the file's SHA-256.
    Report {
        /// The capture file.
        file: PathBuf,
        /// linewatch.toml with the links (default: every TCP connection).
        #[arg(long)]
        config: Option<PathBuf>,
        /// `html`: one self-contained page, graphs inline; `md`: Markdown
        /// for a ticket.
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Write here instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Validate a config and print it with every default filled in.
    CheckConfig {
        /// linewatch.toml.
        file: PathBuf,
    },
    /// Nagios/Icinga plugin: judge a link, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    /// (`linewatch check --help`).
    #[command(disable_help_flag = true)]
    Check {
        /// The plugin's arguments, parsed by the check itself (errors exit 3).
        #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Print the running daemon's status document.
    Status {
        /// The daemon's state directory.
        #[arg(long, default_value = linewatch::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Print the JSON document as is.
        #[arg(long)]
        json: bool,
    },
    /// Put a link in planned maintenance for the running daemon: its faults
    /// are recorded as always but do not page until the window ends (a
    /// fault that outlasts the window pages then; a page already open
    /// stays). Without LINK, list the windows set this way.
    Maintenance {
        /// The link's name, as in linewatch.toml.
        link: Option<String>,
        /// How long (e.g. "2h", "90m"), from --from.
        #[arg(long = "for", value_name = "DURATION")]
        length: Option<String>,
        /// When it starts (RFC 3339, e.g. "2026-12-02T01:00:00Z"); default now.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Why, in words (the carrier's change number, say).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// The daemon's state directory (the window goes into its
        /// maintenance.json, which the daemon reads within a second).
        #[arg(long, default_value = linewatch::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// The config, to check that LINK is one of its links.
        #[arg(long, default_value = "/etc/linewatch/linewatch.toml")]
        config: PathBuf,
    },
    /// Write the man pages (linewatch.1 and one per subcommand) and the
    /// bash, zsh and fish completions into DIR, generated from these very
    /// definitions so they never drift from --help (the package ships them).
    GenerateDocs {
        /// Where to write them.
        dir: PathBuf,
    },
}

/// The whole command line as documentation sees it: `check` parses its own
/// arguments (Nagios' conventions), so its definition stands in for the
/// pass-through one.
fn documented_command() -> clap::Command {
    use clap::CommandFactory;
    let check = linewatch::mode::check::CheckArgs::command().name("check");
    let cli = Cli::command();
    let about = cli
        .find_subcommand("check")
        .and_then(|c| c.get_about().cloned());
    let check = match about {
        Some(a) => check.about(a),
        None => check,
    };
    cli.mut_subcommand("check", |_| check)
}

/// `linewatch maintenance`: adds a window for the running daemon, or lists
/// them.
fn maintenance(
    link: Option<String>,
    length: Option<String>,
    from: Option<String>,
    reason: Option<String>,
    state_dir: &std::path::Path,
    config: &std::path::Path,
) -> anyhow::Result<()> {
    use linewatch::config::maintenance::{add_to_file, instant, read_file, rfc3339, RawWindow};
    let now = linewatch::clock::wall_now();
    let Some(link) = link else {
        let windows = read_file(state_dir).map_err(anyhow::Error::msg)?;
        if windows.is_empty() {
            println!(
                "no maintenance window set with `linewatch maintenance` in {}",
                state_dir.display()
            );
        }
        for w in windows {
            println!(
                "{}  {} .. {}  {}",
                w.link,
                w.from,
                w.to,
                w.reason.as_deref().unwrap_or("planned maintenance")
            );
        }
        return Ok(());
    };
    let length = length.context("give the window's length with --for, e.g. --for 2h")?;
    let length = linewatch::time::Duration::parse(&length)
        .map_err(|e| anyhow::anyhow!("--for {length:?}: {e}"))?;
    let config = Config::load(config)
        .with_context(|| "the link is checked against the config: give it with --config")?;
    let start = match &from {
        Some(t) => instant("--from", t).map_err(anyhow::Error::msg)?,
        // Whole seconds: the window reads as people write it.
        None => linewatch::time::Timestamp::from_parts(now.as_nanos().div_euclid(1_000_000_000), 0),
    };
    let raw = RawWindow {
        link,
        from: rfc3339(start),
        to: rfc3339(start.plus(length)),
        reason,
    };
    let names: Vec<&str> = config.links.iter().map(|l| &*l.name).collect();
    let w = raw.validate(&names).map_err(anyhow::Error::msg)?;
    add_to_file(state_dir, raw, now).map_err(anyhow::Error::msg)?;
    println!(
        "{}: in maintenance from {} to {} ({}); the running daemon takes it within a second",
        w.link,
        rfc3339(w.from),
        rfc3339(w.to),
        w.reason
    );
    Ok(())
}

/// Writes the man pages and completions into `dir`.
fn generate_docs(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let cmd = documented_command();
    let write = |name: String, page: &clap::Command| -> anyhow::Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(page.clone()).render(&mut out)?;
        std::fs::write(dir.join(&name), out).with_context(|| format!("write {name}"))?;
        Ok(())
    };
    write("linewatch.1".into(), &cmd)?;
    for sub in cmd.get_subcommands() {
        let page = sub
            .clone()
            .name(format!("linewatch-{}", sub.get_name()))
            .bin_name(format!("linewatch {}", sub.get_name()));
        write(format!("linewatch-{}.1", sub.get_name()), &page)?;
    }
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let mut c = cmd.clone();
        clap_complete::generate_to(shell, &mut c, "linewatch", dir)
            .with_context(|| format!("write the {shell} completions"))?;
    }
    Ok(())
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
enum EmitArg {
    Off,
    DryRun,
    Live,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum ReportFormat {
    Html,
    Md,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

/// `LINEWATCH_TRACE=1` in a build with `--features trace`: every
/// connection and link state transition (`A => B`, addresses and state
/// names only) on stderr, for debugging a timeline.
#[cfg(feature = "trace")]
struct Trace;

#[cfg(feature = "trace")]
impl log::Log for Trace {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        eprintln!("linewatch: trace: {}", record.args());
    }

    fn flush(&self) {}
}

#[cfg(feature = "trace")]
static TRACE: Trace = Trace;

fn main() -> ExitCode {
    #[cfg(feature = "trace")]
    if std::env::var_os("LINEWATCH_TRACE").is_some_and(|v| v != "0")
        && log::set_logger(&TRACE).is_ok()
    {
        log::set_max_level(log::LevelFilter::Trace);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`| head`) is not an error.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let msg = err
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("linewatch: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay {
            file,
            config,
            format,
            emit,
            evidence_dir,
            every_line,
        } => {
            let mut config = match config {
                Some(p) => Config::load(&p)?,
                None => Config::default(),
            };
            if every_line {
                config.storm.burst = 0;
            }
            let format = match format {
                OutputFormat::Text => Format::Text,
                OutputFormat::Json => Format::Json,
            };
            // Not locked: the replay's printer thread writes it.
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
            let outbox = std::env::temp_dir()
                .join(format!("linewatch-replay-outbox-{}", std::process::id()));
            let mode = match emit {
                EmitArg::Off => linewatch::emit::EmitMode::Off,
                EmitArg::DryRun => linewatch::emit::EmitMode::DryRun,
                EmitArg::Live => linewatch::emit::EmitMode::Live,
            };
            let mut emitters = match mode {
                linewatch::emit::EmitMode::Off => None,
                _ => {
                    // Dry-run lines share stdout with the timeline, in order.
                    let mut e = linewatch::emit::Emitters::new(
                        &config,
                        mode,
                        &outbox,
                        Some(Box::new(std::io::stdout())),
                    )
                    .map_err(anyhow::Error::msg)?;
                    e.dry_json = matches!(format, Format::Json);
                    Some(e)
                }
            };
            let result = replay::replay_with(
                &file,
                &config,
                format,
                emitters.as_mut(),
                evidence_dir.as_deref(),
                &mut out,
            );
            out.flush().context("writing output")?;
            if let Some(e) = emitters {
                if mode == linewatch::emit::EmitMode::Live
                    && !e.drain(std::time::Duration::from_secs(120))
                {
                    eprintln!("linewatch: some notifications were not delivered within 120 s; they stay in {}", outbox.display());
                }
                e.shutdown(std::time::Duration::from_secs(5));
            }
            match result {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(ReplayError::Output(e)) => Err(e).context("writing output"),
                Err(e) => Err(e.into()),
            }
        }
        Command::Run {
            config,
            user,
            state_dir,
        } => {
            linewatch::mode::daemon::run(&linewatch::mode::daemon::DaemonOptions {
                config,
                user,
                state_dir,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            file,
            config,
            format,
            output,
        } => {
            let config = match config {
                Some(p) => Config::load(&p)?,
                None => Config::default(),
            };
            let report = linewatch::report::build(&file, &config)?;
            let text = match format {
                ReportFormat::Html => linewatch::report::html::render(&report),
                ReportFormat::Md => linewatch::report::markdown::render(&report),
            };
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing the report to {}", path.display()))?,
                None => std::io::stdout()
                    .write_all(text.as_bytes())
                    .context("writing the report")?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            print!("{}", config.effective_toml());
            if let Err(e) = config.check_daemon() {
                eprintln!("linewatch: note: {e} (fine for replay, not for `linewatch run`)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { args } => {
            let code = linewatch::mode::check::run_cli(args, &mut std::io::stdout().lock());
            Ok(ExitCode::from(code))
        }
        Command::GenerateDocs { dir } => {
            generate_docs(&dir)?;
            println!("man pages and completions written to {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Maintenance {
            link,
            length,
            from,
            reason,
            state_dir,
            config,
        } => {
            maintenance(link, length, from, reason, &state_dir, &config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { state_dir, json } => {
            let doc = linewatch::status::read(&state_dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print!("{}", linewatch::mode::daemon::status_table(&doc));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
