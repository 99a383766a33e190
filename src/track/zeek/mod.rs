//! Zeek's view of a connection: `conn_state` and `history`, computed from
//! the same segments, so users can compare linewatch with the tool they
//! already trust.
//!
//! This follows Zeek's TCP analyzer (`TCPSessionAdapter.cc`: endpoint states
//! INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET and
//! `update_history`) and `conn_state()` in `base/protocols/conn/main.zeek`.
//! It is a view only: linewatch's own decisions come from
//! [`super::connection`]. Zeek's removal timers (attempt, close and reset
//! delays, expiry, inactivity) and its connection-reuse rule are followed
//! too, so where Zeek would log several rows for what linewatch tracks as
//! one connection, [`ZeekView`] keeps them as separate rows.
//!
//! Known differences: no checksum validation (a header-only capture cannot
//! verify TCP checksums, so no `C`), and no content gaps (`G`): Zeek finds
//! those by reassembling payload, which linewatch never looks at.

mod conn;

pub use conn::ZeekConn;

use std::net::SocketAddr;

use crate::decode::Segment;
use crate::time::Timestamp;

/// Rows kept per linewatch connection; beyond, rows are only counted.
pub const MAX_ROWS: usize = 64;

/// One conn.log row as Zeek would write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZeekRow {
    /// Zeek's originator.
    pub orig: SocketAddr,
    /// Zeek's responder.
    pub resp: SocketAddr,
    /// `conn_state`.
    pub conn_state: &'static str,
    /// `history`.
    pub history: String,
    /// First packet of the row.
    pub first_ts: Timestamp,
    /// Last packet time Zeek counts (frozen once both sides closed).
    pub last_ts: Timestamp,
    /// Packets in the row.
    pub packets: u64,
}

/// Zeek's rows for one linewatch connection: usually one; several where
/// Zeek's timers or reuse rule would have split it. At most [`MAX_ROWS`].
#[derive(Clone, Debug)]
pub struct ZeekView {
    done: Vec<ZeekRow>,
    dropped_rows: u64,
    current: ZeekConn,
}

impl ZeekView {
    /// Starts the view at a connection's first segment.
    pub fn new(first: &Segment) -> ZeekView {
        ZeekView {
            done: Vec::new(),
            dropped_rows: 0,
            current: ZeekConn::new(first),
        }
    }

    /// Feeds one segment at packet time `ts`.
    pub fn observe(&mut self, seg: &Segment, ts: Timestamp) {
        if self.current.packets > 0 && (self.current.removed_by(ts) || self.current.is_reuse(seg)) {
            let next = ZeekConn::new(seg);
            let finished = std::mem::replace(&mut self.current, next);
            if self.done.len() < MAX_ROWS - 1 {
                self.done.push(finished.row());
            } else {
                self.dropped_rows += 1;
            }
        }
        self.current.observe(seg, ts);
    }

    /// The current (last) row's connection.
    pub fn current(&self) -> &ZeekConn {
        &self.current
    }

    /// All rows, the current one last, where Zeek would have logged
    /// several; empty where it logs one (the current one). Takes them:
    /// for a connection that is leaving.
    pub fn take_rows(&mut self) -> Vec<ZeekRow> {
        if self.done.is_empty() {
            return Vec::new();
        }
        let mut v = std::mem::take(&mut self.done);
        v.push(self.current.row());
        v
    }

    /// The current row's history, taken: for a connection that is leaving.
    pub fn take_history(&mut self) -> String {
        std::mem::take(&mut self.current.history)
    }

    /// Rows that did not fit in [`MAX_ROWS`].
    pub fn dropped_rows(&self) -> u64 {
        self.dropped_rows
    }
}
