//! Modes: the edges that drive the core: replay of a file, the daemon and
//! the Nagios-style check.

pub mod check;
pub mod daemon;
pub mod replay;
