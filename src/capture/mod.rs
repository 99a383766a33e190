//! Capture: where frames come from, a capture file or a live interface.
//!
//! Pipeline role: **capture** -> decode -> track -> policy -> emit.
//!
//! One type, [`Source`], yields [`Frame`](crate::decode::Frame)s for both
//! (as sniffglue's `open` and `open_file` return the same type), and one
//! function, [`frame_of`], turns what libpcap hands over into a frame, so
//! that replay, the daemon and the standalone check cannot disagree on a
//! packet's time.

pub mod file;
mod frame;
pub mod live;
mod source;

use std::path::PathBuf;

pub use frame::frame_of;
pub use source::Source;

/// Why a capture could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// libpcap refused the file (missing, not a capture, bad header...).
    #[error("cannot read {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// libpcap's reason.
        message: String,
    },
    /// The file's link type is not one linewatch decodes.
    #[error("unsupported link type {name} ({dlt}) in {path}")]
    UnsupportedLinkType {
        /// The file.
        path: PathBuf,
        /// DLT name.
        name: String,
        /// DLT number.
        dlt: i32,
    },
    /// A record could not be read (truncated or corrupt file).
    #[error(
        "{path}: {message} (after packet {packets}; the events above cover the packets before it)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// libpcap's reason.
        message: String,
        /// Packets read before the error.
        packets: u64,
    },
    /// A live capture could not be opened, or failed while reading (the
    /// interface went down or away, permissions, a rejected filter).
    #[error("{message}")]
    Interface {
        /// The interface.
        interface: String,
        /// libpcap's reason with what to do about it (see [`live::explain`]).
        message: String,
    },
    /// The interface's link type is not one linewatch decodes. Reopening
    /// will not change that soon, so the daemon retries it slowly.
    #[error("interface {interface} has link type {name}, which linewatch does not decode")]
    InterfaceLinkType {
        /// The interface.
        interface: String,
        /// DLT name.
        name: String,
        /// DLT number.
        dlt: i32,
    },
}

/// libpcap's own words for an error, without the pcap crate's prefix.
fn pcap_message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    }
}
