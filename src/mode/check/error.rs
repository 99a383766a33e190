//! Why a check could not judge: every error is UNKNOWN (exit 3), with a
//! message that says what to do.

use std::path::PathBuf;

use crate::capture::CaptureError;
use crate::status::StatusError;

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
