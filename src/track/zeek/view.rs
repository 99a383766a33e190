//! The rows Zeek would log for one tracked connection: the current one
//! and those it closed when it reused the 4-tuple.

use std::net::SocketAddr;

use crate::decode::Segment;
use crate::time::Timestamp;

use super::{ZeekConn, MAX_ROWS};

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
