//! The status document: what the daemon knows now, for other processes.
//!
//! The daemon writes it atomically (temporary file + rename) every
//! `status_interval` to `STATE_DIR/status.json`; `linewatch status` prints
//! it and `linewatch check` judges it. It says when it was written, so a
//! reader can tell a dead daemon from a healthy one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::policy::Health;

use crate::event::{LinkStatus, Side};
use crate::policy::{LinkHealth, Verdict};
use crate::time::Timestamp;
use crate::track::LinkView;

/// File name inside the state directory.
pub const STATUS_FILE: &str = "status.json";

/// The document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StatusDoc {
    /// Format version.
    pub version: u32,
    /// Wall-clock time of writing, seconds since the epoch.
    pub written_at: f64,
    /// When the daemon started.
    pub started_at: f64,
    /// The daemon's process id.
    pub pid: u32,
    /// How often the daemon rewrites this document, seconds.
    pub write_interval_s: f64,
    /// One entry per configured link.
    pub links: Vec<LinkDoc>,
    /// One entry per capture interface.
    pub captures: Vec<CaptureDoc>,
    /// The probe's own state: its troubles and its outboxes.
    #[serde(default)]
    pub probe: ProbeDoc,
    /// The last evidence files ([`EVIDENCE_PER_LINK`] per link at most),
    /// oldest first: open ones (still being written) and closed ones
    /// (with their SHA-256).
    #[serde(default)]
    pub evidence: Vec<EvidenceDoc>,
}

/// Evidence files the status document lists per link.
pub const EVIDENCE_PER_LINK: usize = 5;

/// One evidence file in the status document.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EvidenceDoc {
    /// The link.
    pub link: String,
    /// The pcapng's path.
    pub file: PathBuf,
    /// `open` (still being written) or `closed`.
    pub state: String,
    /// Frames in it (so far, while open).
    pub packets: u64,
    /// First frame's time, RFC 3339.
    pub from: String,
    /// Last frame's time, once closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// SHA-256 of the file, once closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl EvidenceDoc {
    /// The document's entry for an evidence file.
    pub fn of(f: &crate::evidence::EvidenceFile) -> EvidenceDoc {
        EvidenceDoc {
            link: f.link.clone(),
            file: f.path.clone(),
            state: if f.sha256.is_some() { "closed" } else { "open" }.into(),
            packets: f.packets,
            from: f.from.clone(),
            to: f.to.clone(),
            sha256: f.sha256.clone(),
        }
    }
}

/// The probe's own health, apart from the lines it watches.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ProbeDoc {
    /// What is wrong with the probe itself now (`capture on eth1`,
    /// `emitter backlog`); empty when it is healthy. These open the probe's
    /// own incident, never a line's.
    pub troubles: Vec<String>,
    /// One entry per paging destination (PagerDuty, Slack).
    pub outboxes: Vec<OutboxDoc>,
}

/// A paging destination's on-disk outbox.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OutboxDoc {
    /// `pagerduty` or `slack`.
    pub destination: String,
    /// Notifications waiting to be delivered.
    pub pending: u64,
    /// Accepted by the endpoint since the daemon started.
    pub delivered: u64,
    /// Attempts that failed and will be retried.
    pub retries: u64,
    /// Refused for good by the endpoint (4xx).
    pub rejected: u64,
    /// Dropped, oldest first, because the outbox was full.
    pub dropped_full: u64,
}

/// One link.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LinkDoc {
    /// Link name.
    pub name: String,
    /// Capture interface.
    pub interface: Option<String>,
    /// `up`, `down` or `unknown`.
    pub status: String,
    /// The policy's verdict (flattened: `health`, `reason`,
    /// `beyond_count`, `beyond_count_reason`, `incident`).
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Established connections.
    pub established: u32,
    /// Expected connections.
    pub expected: u32,
    /// Since when the link is down (seconds since the epoch).
    pub down_since: Option<f64>,
    /// Its last FIN, RST or refusal, and who really sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_close: Option<crate::policy::LastClose>,
    /// Its connections.
    pub connections: Vec<ConnectionDoc>,
}

/// One connection of a link.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConnectionDoc {
    /// Our end.
    pub local: String,
    /// Their end.
    pub peer: String,
    /// linewatch's state name.
    pub state: String,
    /// First packet seen.
    pub since: f64,
    /// Established since, if it was.
    pub up_since: Option<f64>,
    /// Last packet either way.
    pub last_packet: f64,
    /// Last packet from our end.
    pub last_from_local: Option<f64>,
    /// Last packet from the peer.
    pub last_from_peer: Option<f64>,
    /// Seconds since the last packet either way, at `written_at`.
    pub idle_s: f64,
    /// Packets from our end.
    pub packets_local: u64,
    /// Packets from the peer.
    pub packets_peer: u64,
    /// Retransmissions from our end.
    pub retransmissions_local: u64,
    /// Retransmissions from the peer.
    pub retransmissions_peer: u64,
    /// Silent now.
    pub silent: bool,
    /// Black hole now.
    pub black_hole: bool,
    /// Round trips, response times and early warnings
    /// ([`crate::output::analytics`]); absent without analytics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<crate::output::analytics::AnalyticsDoc>,
}

/// One capture interface.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct CaptureDoc {
    /// Interface name.
    pub interface: String,
    /// `starting`, `running` or `lost`.
    pub state: String,
    /// Why it is lost.
    pub error: Option<String>,
    /// Packets libpcap received (since the capture opened).
    pub received: u64,
    /// Packets the kernel dropped (buffer full).
    pub dropped: u64,
    /// Packets the interface dropped.
    pub if_dropped: u64,
    /// Segments dropped because the tracker fell behind.
    pub queue_dropped: u64,
    /// Frames decoded into TCP segments.
    pub segments: u64,
    /// Frames the decoder skipped (not TCP, malformed).
    pub skipped: u64,
    /// Dropping packets recently.
    pub degraded: bool,
}

fn secs(t: Timestamp) -> f64 {
    t.as_secs_f64()
}

/// Describes one link: the policy's verdict `health` (nobody judges here)
/// and the tracker's connections `v` at wall-clock `now`.
pub fn link_doc(v: &LinkView<'_>, health: &LinkHealth, now: Timestamp) -> LinkDoc {
    LinkDoc {
        name: v.spec.name.to_string(),
        interface: v.spec.interface.clone(),
        status: match v.status {
            LinkStatus::Up => "up",
            LinkStatus::Down => "down",
            LinkStatus::Unknown => "unknown",
        }
        .to_string(),
        verdict: health.verdict.clone(),
        established: v.established,
        expected: v.spec.expect_connections,
        down_since: v.down_since.map(secs),
        last_close: health.last_close.clone(),
        connections: v
            .connections
            .iter()
            .map(|c| ConnectionDoc {
                local: c.ends().local.to_string(),
                peer: c.ends().peer.to_string(),
                state: c.state().name().to_string(),
                since: secs(c.first_ts()),
                up_since: c.up_since().map(secs),
                last_packet: secs(c.last_ts()),
                last_from_local: c.last_from(Side::Local).map(secs),
                last_from_peer: c.last_from(Side::Peer).map(secs),
                idle_s: now.since(c.last_ts()).as_secs_f64(),
                packets_local: c.packets_from(Side::Local),
                packets_peer: c.packets_from(Side::Peer),
                retransmissions_local: c.retransmissions_from(Side::Local),
                retransmissions_peer: c.retransmissions_from(Side::Peer),
                silent: c.is_silent(),
                black_hole: c.is_black_hole(),
                analytics: c
                    .analytics(now)
                    .map(|r| crate::output::analytics::AnalyticsDoc::of(&r)),
            })
            .collect(),
    }
}

/// Where the status document lives in `state_dir`.
pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATUS_FILE)
}

/// Writes the document atomically: a reader sees the old or the new one.
pub fn write(state_dir: &Path, doc: &StatusDoc) -> std::io::Result<()> {
    let path = status_path(state_dir);
    let tmp = state_dir.join(format!(".{STATUS_FILE}.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(doc).map_err(std::io::Error::other)?;
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        // A full disk leaves a truncated file: give its space back.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Why a status document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Missing or unreadable.
    #[error(
        "cannot read {path}: {source} (is the linewatch daemon running with this state directory?)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a status document.
    #[error("{path} is not a linewatch status document: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Reads the document from `state_dir`.
pub fn read(state_dir: &Path) -> Result<StatusDoc, StatusError> {
    let path = status_path(state_dir);
    let text = std::fs::read(&path).map_err(|source| StatusError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|e| StatusError::Parse {
        path,
        message: e.to_string(),
    })
}
