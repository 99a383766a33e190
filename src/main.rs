//! The `linewatch` binary: CLI parsing and the exit-code policy, nothing else.

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
    /// Validate a config and print it with every default filled in.
    CheckConfig {
        /// linewatch.toml.
        file: PathBuf,
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
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
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
        } => {
            let config = match config {
                Some(p) => Config::load(&p)?,
                None => Config::default(),
            };
            let format = match format {
                OutputFormat::Text => Format::Text,
                OutputFormat::Json => Format::Json,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let result = replay::replay_to(&file, &config, format, &mut out);
            out.flush().context("writing output")?;
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
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            print!("{}", config.effective_toml());
            if let Err(e) = config.check_daemon() {
                eprintln!("linewatch: note: {e} (fine for replay, not for `linewatch run`)");
            }
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
