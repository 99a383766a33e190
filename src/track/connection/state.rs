//! A connection's TCP state as the probe sees it, and its names.

use crate::event::Side;

/// A connection's TCP state as the probe can see it from the wire.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// A SYN was seen, nothing came back yet.
    SynSent,
    /// The SYN was answered by SYN-ACK; the handshake's last ACK is pending.
    SynReceived,
    /// Handshake complete (or picked up mid-stream): the connection is up.
    Established,
    /// One side sent FIN; the other may still send.
    HalfClosed(Side),
    /// Both sides sent FIN.
    Closed,
    /// A RST from this side aborted the connection.
    Reset(Side),
    /// The SYN was answered by RST.
    Refused,
    /// The SYN went unanswered past the black-hole threshold.
    SynUnanswered,
}

impl State {
    /// snake_case name for summaries and status. Written out, not derived:
    /// the name depends on the side inside (`fin_from_peer`), which strum's
    /// per-variant names cannot say.
    pub fn name(self) -> &'static str {
        match self {
            State::SynSent => "syn_sent",
            State::SynReceived => "syn_received",
            State::Established => "established",
            State::HalfClosed(Side::Local) => "fin_from_local",
            State::HalfClosed(Side::Peer) => "fin_from_peer",
            State::Closed => "closed",
            State::Reset(Side::Local) => "reset_by_local",
            State::Reset(Side::Peer) => "reset_by_peer",
            State::Refused => "refused",
            State::SynUnanswered => "syn_unanswered",
        }
    }

    /// Nothing more can happen on this connection but a new one on the same ports.
    pub fn is_terminal(self) -> bool {
        match self {
            State::Closed | State::Reset(_) | State::Refused | State::SynUnanswered => true,
            State::SynSent | State::SynReceived | State::Established | State::HalfClosed(_) => {
                false
            }
        }
    }
}
