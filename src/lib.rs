//! linewatch: watches persistent TCP connections over a leased line.
//!
//! ```text
//! capture -> decode -> track -> policy -> emit
//!  (pcap)    (etherparse)  (sans-IO state machine)
//! ```
//!
//! The core (`decode`, `track`) is pure: it is driven by packet timestamps
//! and an explicit `advance_to(now)`, never by a clock, so replaying a file
//! and watching a live interface run the same code, and replay is
//! deterministic.
//!
//! How anything is printed (JSON and text lines, tcpdump flags) is
//! [`output`]'s, at the edge: the core types hold data and names only.
//!
//! PCI DSS: captures are header-only and no payload byte is ever stored,
//! logged or emitted. [`decode::Segment`] carries header fields only.

// Packet bytes and input files must never panic the probe: no unwrap,
// expect or unchecked indexing in library code (tests may).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
#![warn(missing_docs)]

pub mod capture;
pub mod clock;
pub mod config;
pub mod decode;
pub mod emit;
pub mod event;
pub mod evidence;
pub mod logging;
pub mod mode;
pub mod notify;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod report;
pub mod serve;
pub mod status;
pub mod storm;
pub mod time;
pub mod track;
