//! Capture: where frames come from (a file now; a live interface later).
//!
//! Pipeline role: **capture** -> decode -> track -> policy -> emit.

pub mod file;
pub mod live;
