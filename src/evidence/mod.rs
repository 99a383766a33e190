//! Evidence: each incident's packets, headers only, in a pcapng file a
//! carrier can open, with a sidecar that pins its SHA-256.
//!
//! Pipeline role: beside track -> policy, fed the decoded frames (cut at
//! the end of their TCP header by [`crate::decode::header_end`]) and the
//! tracker's events. Two halves, as everywhere in linewatch:
//! - [`Recorder`] (sans-IO, packet time only): per link a bounded
//!   [`Ring`] of recent frames; a trigger event (FIN, RST, silence, black
//!   hole, link down) opens an incident with the ring's `before` window,
//!   later frames are appended until `after` has passed since the
//!   incident's last trigger; out come [`Action`]s.
//! - [`Store`] (IO): writes them under `DIR/<link>/`, durably, within
//!   `max_disk`.
//!
//! PCI DSS: no payload byte is ever stored. A frame is cut where its TCP
//! header ends (for an ICMP error, where the quoted TCP header ends),
//! computed from the parsed headers; the cut is what the ring holds.

mod pcapng;
mod recorder;
mod recording;
mod ring;
mod sidecar;
mod store;

pub use pcapng::{EncodeError, Encoder, MAX_STORED};
pub use recorder::{
    is_trigger, Action, Cited, Incident, Recorder, MAX_CITED, MAX_INDEXED_RUNS, MAX_OPEN,
};
pub use recording::Recording;
pub use recording::{RESULT_QUEUE, WRITER_QUEUE};
pub use ring::{Ring, Stored, PER_FRAME_OVERHEAD};
pub use store::{path_for, sha256_of, Done, EvidenceFile, Store, StoreError};
