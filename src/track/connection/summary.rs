//! What is kept of a connection when it leaves the table.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::event::Endpoints;
use crate::time::Timestamp;

use super::super::zeek::ZeekRow;
use super::State;

/// Why a connection left the table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum RetireReason {
    /// Finished (closed/reset/refused/unanswered) and lingered.
    Finished,
    /// Idle past the idle timeout (unwatched flows only).
    Idle,
    /// Pushed out of a full flow table.
    Evicted,
    /// A new connection started on the same addresses and ports.
    Reused,
    /// The capture ended (replay) or the probe stopped.
    CaptureEnd,
}

impl RetireReason {
    /// snake_case name (strum's, of the variant).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A connection's record when it leaves the table.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionSummary {
    /// Link name, if configured.
    pub link: Option<Arc<str>>,
    /// Our end and theirs.
    pub ends: Endpoints,
    /// Zeek's originator (after Zeek's role-flip heuristics), of the last
    /// Zeek row.
    pub orig: SocketAddr,
    /// Zeek's responder.
    pub resp: SocketAddr,
    /// Zeek `conn_state`.
    pub conn_state: &'static str,
    /// Zeek `history`.
    pub history: String,
    /// linewatch's final state.
    pub state: State,
    /// Packets both ways.
    pub packets: u64,
    /// Local retransmissions + peer retransmissions.
    pub retransmissions: u64,
    /// First packet.
    pub first_ts: Timestamp,
    /// Last packet.
    pub last_ts: Timestamp,
    /// Why it left the table.
    pub retired: RetireReason,
    /// When it was established (`None`: never; what a flood is made of,
    /// which storm control may summarise).
    pub came_up: Option<Timestamp>,
    /// When it left the table, on the packet clock: the deadline that
    /// retired it, or the packet that pushed it out (the same live and in
    /// replay, which storm control's windows rely on).
    pub retired_at: Timestamp,
    /// Zeek's rows for this connection where Zeek's timers or reuse rule
    /// would have split it, in order, the last one as above; empty where
    /// Zeek logs the one row above (nearly always: no allocation then).
    pub zeek_rows: Vec<ZeekRow>,
    /// Round trips, responses and early warnings, if the connection had
    /// analytics: the state itself, moved out of the table. Its figures
    /// ([`ConnectionSummary::figures`]) are worked out where they are
    /// written: in replay, on the printer's thread, not the tracker's.
    pub analytics: Option<Box<super::super::analytics::Analytics>>,
}

impl ConnectionSummary {
    /// Its analytics' figures, as of its last packet.
    pub fn figures(&self) -> Option<super::super::analytics::Report> {
        self.analytics.as_deref().map(|a| a.report(self.last_ts))
    }

    /// Every row Zeek would log for this connection, as (originator,
    /// responder, `conn_state`): the rows in [`Self::zeek_rows`] where it
    /// would split the connection, else the one row of this summary. For
    /// comparing with Zeek's conn.log.
    pub fn zeek_states(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr, &'static str)> + '_ {
        let single = self
            .zeek_rows
            .is_empty()
            .then_some((self.orig, self.resp, self.conn_state));
        single.into_iter().chain(
            self.zeek_rows
                .iter()
                .map(|r| (r.orig, r.resp, r.conn_state)),
        )
    }
}

impl super::Connection {
    /// The record kept after the connection leaves the table. Its history
    /// and Zeek rows are moved out, not copied: call it as the connection
    /// leaves.
    pub(in crate::track) fn take_summary(&mut self, retired: RetireReason) -> ConnectionSummary {
        let rows = self.zeek.take_rows();
        let (orig, resp) = self.zeek.current().endpoints();
        // Before the history is taken: RSTOS0 is read off the history.
        let conn_state = self.zeek.current().conn_state();
        ConnectionSummary {
            link: self.link_name.take(),
            ends: self.ends,
            orig,
            resp,
            conn_state,
            history: self.zeek.take_history(),
            state: self.state,
            packets: self.local.packets + self.peer.packets,
            retransmissions: self.local.retransmissions + self.peer.retransmissions,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            retired,
            came_up: self.up_since,
            retired_at: self.last_ts,
            zeek_rows: rows,
            analytics: self.analytics.take(),
        }
    }
}
