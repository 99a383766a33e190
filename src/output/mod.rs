//! Output at the edge: the line linewatch prints or logs for each event
//! and each connection, in its two formats. The JSON line (`--format
//! json`, the daemon's event log) and the text line (the human timeline,
//! the daemon's log, a probe page's text), for events ([`event_json`],
//! [`event_text`]) and connection summaries ([`summary`]), and tcpdump's
//! flag notation ([`flags`]). Core types (`Event`, `ConnectionSummary`,
//! `TcpFlags`) keep their data and domain names; how they are written is
//! decided here, once. (Replay's closing counters line stays with replay,
//! the check's plugin output with the check.)
//!
//! Everything writes straight into a byte buffer: replay writes hundreds
//! of thousands of lines. The `String` and `Value` forms are for the
//! daemon, the policy and tests.

pub mod addr;
pub mod analytics;
pub mod attribution;
pub mod event_json;
pub mod event_text;
pub mod flags;
pub mod json;
pub mod summary;

#[cfg(test)]
pub(crate) mod sample;

/// The line `write` writes, as a `String` (for callers that want one;
/// the text timeline's lines too).
pub fn line(write: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut buf = Vec::with_capacity(256);
    write(&mut buf);
    // Only `str`s and ASCII are ever written.
    String::from_utf8(buf).unwrap_or_default()
}

/// The object `write` writes, parsed into a [`serde_json::Value`] (for
/// tests; not on the per-packet path).
pub fn value(write: impl FnOnce(&mut Vec<u8>)) -> serde_json::Value {
    let mut buf = Vec::with_capacity(256);
    write(&mut buf);
    serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null)
}
