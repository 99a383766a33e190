//! Modes: the edges that drive the core (replay now; daemon and check later).

pub mod check;
pub mod daemon;
pub mod replay;
