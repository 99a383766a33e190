//! One watched TCP connection: its state, and every transition in one place.
//!
//! Modelled on smoltcp's `socket/tcp.rs`: time is passed in, states are an
//! enum, and [`Connection::on_segment`] holds the one transition `match`,
//! read as a table with a comment per arm. Deadlines (silence, black hole,
//! unanswered SYN) are data: [`Connection::next_deadline`] says when the
//! tracker must call [`Connection::on_deadline`].

use std::net::SocketAddr;
use std::sync::Arc;

use crate::decode::Segment;
use crate::event::{Accused, Endpoints, Event, EventKind, Evidence, LinkId, LinkRef, Side};
use crate::time::{Duration, Timestamp};

mod analyzed;
mod black_hole;
mod deadlines;
mod state;
mod summary;
mod verdicts;

pub use state::State;
pub use summary::{ConnectionSummary, RetireReason};

use super::analytics::{Analytics, Limits, Seen};
use super::attribution::{self, Habits, Suspect};
use super::link::Standing;
use super::seq::Seq;
use super::zeek::ZeekView;
use black_hole::Sent;

/// The thresholds a connection is judged by (from its link, or defaults).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// No packet either way for longer than this: silence.
    pub silence_after: Duration,
    /// Local data unacknowledged (or a SYN unanswered) for longer: black hole.
    pub black_hole_after: Duration,
    /// How long a finished connection stays in the table before it is retired.
    pub linger: Duration,
    /// Retire a connection idle this long; `None` for watched links (they
    /// are persistent: silence is reported, the connection is kept).
    pub idle_timeout: Option<Duration>,
    /// What the degradation analytics judge by.
    pub limits: Limits,
}

/// What the segment asks of the state machine (RST beats SYN beats FIN).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Control {
    Rst,
    Syn,
    SynAck,
    Fin,
    None,
}

impl Control {
    fn of(seg: &Segment) -> Control {
        let f = seg.flags;
        if f.rst() {
            Control::Rst
        } else if f.syn() && f.ack() {
            Control::SynAck
        } else if f.syn() {
            Control::Syn
        } else if f.fin() {
            Control::Fin
        } else {
            Control::None
        }
    }
}

/// One direction of the connection, named by its sender.
#[derive(Clone, Debug, Default)]
struct Direction {
    /// Highest sequence number sent plus its length (next expected).
    snd_max: Option<Seq>,
    /// Highest acknowledgment this sender has sent.
    ack_max: Option<Seq>,
    last_ts: Option<Timestamp>,
    packets: u64,
    retransmissions: u64,
    keepalives: u64,
    /// The last window it advertised (unscaled).
    window: u16,
    /// Its SYN was seen, with this window scale option.
    syn_seen: bool,
    wscale: Option<u8>,
    /// Its header habits, to judge a FIN or RST in its name.
    habits: Habits,
}

/// The two troubles of an established connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Trouble {
    /// No packet either way for longer than `silence_after`.
    Silence,
    /// Our data unacknowledged for longer than `black_hole_after`.
    BlackHole,
}

/// The same ICMP error on a connection is reported again after this long.
pub const ICMP_REPEAT: Duration = Duration::from_secs(60);

/// One TCP connection between a local and a peer endpoint.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Creation order; breaks ties between deadlines deterministically.
    pub(super) uid: u64,
    /// Index of the configured link, if any.
    pub(super) link: Option<usize>,
    link_name: Option<Arc<str>>,
    ends: Endpoints,
    state: State,
    first_ts: Timestamp,
    last_ts: Timestamp,
    last_packet: u64,
    up_since: Option<Timestamp>,
    syn_at: Option<Timestamp>,
    /// ISN of the originator's SYN, to tell a retransmitted SYN from a new connection.
    orig_isn: Option<Seq>,
    /// The side that opened the connection (sent the SYN); `Local` when
    /// picked up mid-stream.
    orig: Side,
    local: Direction,
    peer: Direction,
    /// First local segment the peer has not acknowledged yet: (time, packet).
    awaiting_ack: Option<(Timestamp, u64)>,
    /// Local retransmissions since `awaiting_ack` was set.
    awaiting_retransmissions: u32,
    silent: bool,
    black_hole: bool,
    /// Earliest time this connection is scheduled in the tracker's timer queue.
    pub(super) scheduled: Option<Timestamp>,
    /// The last ICMP error reported on this connection: (router, type,
    /// code, when), so a router answering every retransmission is one
    /// timeline line a minute, not one per packet.
    last_icmp: Option<(std::net::IpAddr, u8, u8, Timestamp)>,
    /// The last FIN, RST or refusal while what follows may still revise
    /// who sent it. Boxed: nearly every connection has none.
    suspect: Option<Box<Suspect>>,
    zeek: ZeekView,
    /// Round trips, responses and early warnings, once established (and
    /// if the tracker's budget allowed it). Boxed: only watched,
    /// established connections have them.
    pub(super) analytics: Option<Box<Analytics>>,
}

/// Is `sa` on an ephemeral port relative to `other`? Used to pick the local
/// side of a connection picked up mid-stream without a config.
fn looks_like_client(sa: &SocketAddr, other: &SocketAddr) -> bool {
    match (sa.port() < 1024, other.port() < 1024) {
        (false, true) => true,
        (true, false) => false,
        _ => sa.port() >= other.port(),
    }
}

impl Connection {
    /// A connection whose first seen segment is `seg`. With a link, the
    /// link says which side sent `seg`; without one, the local end is the
    /// originator (SYN sender) or, mid-stream, the ephemeral port.
    /// Out of line: inlined into the per-packet path (thin LTO's choice)
    /// it cost 2.1 M instructions on the 200 k bench file.
    #[inline(never)]
    pub(super) fn new(
        uid: u64,
        seg: &Segment,
        link: Option<(usize, Arc<str>, Side)>,
    ) -> Connection {
        let sender = match &link {
            Some((_, _, sender)) => *sender,
            None => match Control::of(seg) {
                Control::Syn => Side::Local,
                Control::SynAck => Side::Peer,
                _ if looks_like_client(&seg.src, &seg.dst) => Side::Local,
                _ => Side::Peer,
            },
        };
        let ends = match sender {
            Side::Local => Endpoints {
                local: seg.src,
                peer: seg.dst,
            },
            Side::Peer => Endpoints {
                local: seg.dst,
                peer: seg.src,
            },
        };
        let (link, link_name) = match link {
            Some((i, name, _)) => (Some(i), Some(name)),
            None => (None, None),
        };
        Connection {
            uid,
            link,
            link_name,
            ends,
            state: State::SynSent, // replaced by the first segment's transition
            first_ts: seg.ts,
            last_ts: seg.ts,
            last_packet: 0,
            up_since: None,
            syn_at: None,
            orig_isn: None,
            orig: Side::Local,
            local: Direction::default(),
            peer: Direction::default(),
            awaiting_ack: None,
            awaiting_retransmissions: 0,
            silent: false,
            black_hole: false,
            scheduled: None,
            last_icmp: None,
            suspect: None,
            zeek: ZeekView::new(seg),
            analytics: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Local and peer endpoints.
    pub fn ends(&self) -> Endpoints {
        self.ends
    }

    /// Counts as an established connection of its link.
    #[inline]
    pub fn is_up(&self) -> bool {
        self.state == State::Established
    }

    /// Last packet time either way.
    pub fn last_ts(&self) -> Timestamp {
        self.last_ts
    }

    /// First packet time.
    pub fn first_ts(&self) -> Timestamp {
        self.first_ts
    }

    /// Since when the connection has been established, if it was.
    pub fn up_since(&self) -> Option<Timestamp> {
        self.up_since
    }

    /// Was it ever established? A connection that never was (a SYN
    /// unanswered or refused, a SYN-ACK alone) is what a flood is made
    /// of: the flow table bounds those apart and evicts them first.
    #[inline]
    pub fn ever_up(&self) -> bool {
        self.up_since.is_some()
    }

    /// Last packet from one side.
    pub fn last_from(&self, side: Side) -> Option<Timestamp> {
        match side {
            Side::Local => self.local.last_ts,
            Side::Peer => self.peer.last_ts,
        }
    }

    /// Packets from one side.
    pub fn packets_from(&self, side: Side) -> u64 {
        match side {
            Side::Local => self.local.packets,
            Side::Peer => self.peer.packets,
        }
    }

    /// Retransmissions from one side.
    pub fn retransmissions_from(&self, side: Side) -> u64 {
        match side {
            Side::Local => self.local.retransmissions,
            Side::Peer => self.peer.retransmissions,
        }
    }

    /// In silence now (the silence event fired, no packet since).
    pub fn is_silent(&self) -> bool {
        self.silent
    }

    /// In a black hole now (the event fired, no acknowledgment since).
    pub fn is_black_hole(&self) -> bool {
        self.black_hole
    }

    /// What it counts for in its link: established, and silent or
    /// black-holed.
    #[inline]
    pub fn standing(&self) -> Standing {
        let (starving, degraded) = self
            .analytics
            .as_deref()
            .map_or((false, false), |a| (a.is_starving(), a.is_degraded()));
        Standing {
            up: self.is_up(),
            troubled: self.silent | self.black_hole,
            starving,
            degraded,
        }
    }

    /// The configured link's index, if any.
    pub fn link_index(&self) -> Option<usize> {
        self.link
    }

    /// Is this SYN the start of a new connection on the same 4-tuple
    /// (rather than a retransmission of this one's SYN)?
    pub(super) fn is_new_attempt(&self, seg: &Segment) -> bool {
        if Control::of(seg) != Control::Syn {
            return false;
        }
        match self.state {
            // A SYN after the end is a new connection (Zeek: connection reuse).
            State::Closed | State::Reset(_) | State::Refused | State::SynUnanswered => true,
            // Same ISN: a retransmitted SYN. Another ISN: the port was reused.
            State::SynSent | State::SynReceived | State::Established | State::HalfClosed(_) => {
                self.orig_isn.is_some_and(|isn| isn != Seq(seg.seq))
            }
        }
    }

    fn side_of(&self, seg: &Segment) -> Side {
        if seg.src == self.ends.local {
            Side::Local
        } else {
            Side::Peer
        }
    }

    fn dir(&self, side: Side) -> &Direction {
        match side {
            Side::Local => &self.local,
            Side::Peer => &self.peer,
        }
    }

    fn dir_mut(&mut self, side: Side) -> &mut Direction {
        match side {
            Side::Local => &mut self.local,
            Side::Peer => &mut self.peer,
        }
    }

    /// Whether an ICMP error from `router` with `icmp_type`/`code` at `ts`
    /// is worth a timeline line: the first, a different one, or the same
    /// again after [`ICMP_REPEAT`].
    pub(super) fn icmp_news(
        &mut self,
        router: std::net::IpAddr,
        icmp_type: u8,
        code: u8,
        ts: Timestamp,
    ) -> bool {
        let news = match self.last_icmp {
            Some((r, t, c, at)) => {
                (r, t, c) != (router, icmp_type, code) || ts >= at.plus(ICMP_REPEAT)
            }
            None => true,
        };
        if news {
            self.last_icmp = Some((router, icmp_type, code, ts));
        }
        news
    }

    /// An event about this connection (no TCP evidence attached).
    pub(super) fn event(&self, ts: Timestamp, kind: EventKind, packet: Option<u64>) -> Event {
        Event {
            ts,
            kind,
            link: self
                .link
                .zip(self.link_name.clone())
                .map(|(i, name)| LinkRef::new(LinkId::of(i), name)),
            conn: Some(self.ends),
            packet,
            up_for: None,
            evidence: None,
            attribution: None,
        }
    }

    fn set_state(&mut self, to: State) {
        // Every transition passes here; `up_since` follows Established.
        #[cfg(feature = "trace")]
        if to != self.state {
            log::trace!(
                "{} -> {}: {} => {}",
                self.ends.local,
                self.ends.peer,
                self.state.name(),
                to.name()
            );
        }
        if to == State::Established && self.state != State::Established {
            self.up_since.get_or_insert(self.last_ts);
        }
        self.state = to;
    }

    /// The only place a silence or black hole begins or ends (the link's
    /// count of troubled connections follows from these two flags).
    fn set_trouble(&mut self, trouble: Trouble, on: bool) {
        let flag = match trouble {
            Trouble::Silence => &mut self.silent,
            Trouble::BlackHole => &mut self.black_hole,
        };
        #[cfg(feature = "trace")]
        if *flag != on {
            log::trace!(
                "{} -> {}: {trouble:?} {}",
                self.ends.local,
                self.ends.peer,
                if on { "begins" } else { "ends" }
            );
        }
        *flag = on;
    }

    /// Feeds one segment of this connection, at packet-clock `ts` (never
    /// earlier than the previous call), as packet number `packet`.
    pub(super) fn on_segment(
        &mut self,
        seg: &Segment,
        ts: Timestamp,
        packet: u64,
        first: bool,
        limits: &Limits,
        out: &mut Vec<Event>,
    ) {
        let from = self.side_of(seg);
        let control = Control::of(seg);
        self.zeek.observe(seg, ts);

        // Per-direction bookkeeping: keep-alives (Wireshark: 0-1 byte at
        // next-expected - 1, no SYN/FIN/RST) are life, not retransmissions.
        let seq = Seq(seg.seq);
        let end = seq.plus(seg.seq_len());
        let dir = self.dir_mut(from);
        let plain = !(seg.flags.syn() || seg.flags.fin() || seg.flags.rst());
        let keepalive =
            plain && seg.payload_len <= 1 && dir.snd_max.is_some_and(|m| m.plus(u32::MAX) == seq); // m - 1
        let retransmission = !keepalive
            && seg.seq_len() > 0
            && !seg.flags.rst()
            && dir.snd_max.is_some_and(|m| m.at_or_after(end));
        let advanced = !seg.flags.rst() && dir.snd_max.is_none_or(|m| end.after(m));
        dir.packets += 1;
        dir.keepalives += u64::from(keepalive);
        dir.retransmissions += u64::from(retransmission);
        if !seg.flags.rst() {
            dir.snd_max = Some(dir.snd_max.map_or(end, |m| m.max(end)));
            dir.window = seg.window;
            if seg.flags.syn() {
                dir.syn_seen = true;
                dir.wscale = seg.options.window_scale;
            }
        }
        // Did this segment acknowledge anything new? Partial progress is
        // life for the black-hole rule, even with more data still in flight.
        let ack_progress = seg.flags.ack() && dir.ack_max.is_none_or(|m| Seq(seg.ack).after(m));
        if seg.flags.ack() {
            let a = Seq(seg.ack);
            dir.ack_max = Some(dir.ack_max.map_or(a, |m| m.max(a)));
        }
        dir.last_ts = Some(ts);
        let gap = ts.since(self.last_ts);
        self.last_ts = ts;
        self.last_packet = packet;

        if self.silent {
            self.set_trouble(Trouble::Silence, false);
            out.push(self.event(
                ts,
                EventKind::SilenceEnded { silent_for: gap },
                Some(packet),
            ));
        }
        self.track_acknowledgment(
            seg,
            from,
            ts,
            packet,
            Sent {
                keepalive,
                retransmission,
                ack_progress,
            },
            out,
        );

        if !first && self.suspect.is_some() {
            self.review(seg, from, ts, packet, out);
        }
        let evidence = Some(Evidence {
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
        });
        let up_for = self.up_since.map(|t| ts.since(t));
        let ev = |c: &Connection, kind: EventKind| {
            let mut e = c.event(ts, kind, Some(packet));
            e.evidence = evidence;
            e
        };

        if first {
            // The first segment of a connection: a handshake start, or a
            // connection picked up mid-stream.
            match control {
                // A fresh connection attempt.
                Control::Syn => {
                    self.orig = from;
                    self.syn_at = Some(ts);
                    self.orig_isn = Some(seq);
                    self.set_state(State::SynSent);
                }
                // The SYN was missed; the handshake is half done.
                Control::SynAck => {
                    self.orig = from.other();
                    self.set_state(State::SynReceived)
                }
                // Only a RST: something was torn down as the capture began.
                Control::Rst => {
                    let a = self.accuse(Accused::Reset, from, seg, packet);
                    self.set_state(State::Reset(from));
                    let mut e = ev(self, EventKind::ResetFrom(from));
                    e.attribution = a;
                    out.push(e);
                }
                // A FIN on a connection we never saw open.
                Control::Fin => {
                    self.set_state(State::Established);
                    out.push(ev(self, EventKind::Discovered));
                    let a = self.accuse(Accused::Fin, from, seg, packet);
                    self.set_state(State::HalfClosed(from));
                    let mut e = ev(self, EventKind::FinFrom(from));
                    e.attribution = a;
                    out.push(e);
                }
                // An ACK or data: an established connection, picked up mid-stream.
                Control::None => {
                    self.set_state(State::Established);
                    out.push(ev(self, EventKind::Discovered));
                }
            }
            if !seg.flags.rst() {
                self.dir_mut(from).habits.learn(seg);
            }
            return;
        }

        let orig = self.orig;
        match (self.state, control) {
            // -- Handshake ------------------------------------------------
            // The responder answers the SYN.
            (State::SynSent, Control::SynAck) if from != orig => self.set_state(State::SynReceived),
            // Simultaneous open: treat as answered.
            (State::SynSent, Control::Syn) if from != orig => self.set_state(State::SynReceived),
            // The responder refuses: nobody listening, or a firewall's RST.
            (State::SynSent, Control::Rst) if from != orig => {
                let a = self.accuse(Accused::Refused, from, seg, packet);
                self.set_state(State::Refused);
                let mut e = ev(self, EventKind::Refused);
                e.attribution = a;
                out.push(e);
            }
            // The originator gives up on its own attempt.
            (State::SynSent, Control::Rst) => {
                let a = self.accuse(Accused::Reset, from, seg, packet);
                self.set_state(State::Reset(from));
                let mut e = ev(self, EventKind::ResetFrom(from));
                e.attribution = a;
                out.push(e);
            }
            // Retransmitted SYN, stray ACKs or data before any answer: wait.
            (State::SynSent, Control::Syn | Control::SynAck | Control::Fin | Control::None) => {}
            // A late SYN-ACK after we gave up on the SYN: the handshake goes on.
            (State::SynUnanswered, Control::SynAck) if from != orig => {
                self.set_state(State::SynReceived)
            }
            // The handshake's ACK, or data either way: up.
            (State::SynReceived, Control::None) => {
                self.set_state(State::Established);
                out.push(ev(self, EventKind::Established));
            }
            // Up and immediately closing.
            (State::SynReceived, Control::Fin) => {
                self.set_state(State::Established);
                out.push(ev(self, EventKind::Established));
                let a = self.accuse(Accused::Fin, from, seg, packet);
                self.set_state(State::HalfClosed(from));
                let mut e = ev(self, EventKind::FinFrom(from));
                e.attribution = a;
                out.push(e);
            }
            // RST during the handshake: a refusal if the responder sends it.
            (State::SynReceived, Control::Rst) => {
                let a = self.accuse(Accused::Reset, from, seg, packet);
                self.set_state(State::Reset(from));
                let mut e = ev(self, EventKind::ResetFrom(from));
                e.attribution = a;
                out.push(e);
            }
            // Retransmitted SYN or SYN-ACK.
            (State::SynReceived, Control::Syn | Control::SynAck) => {}

            // -- Established ----------------------------------------------
            // The first FIN: a half-close, the side that sent it is done.
            (State::Established, Control::Fin) => {
                let a = self.accuse(Accused::Fin, from, seg, packet);
                self.set_state(State::HalfClosed(from));
                let mut e = ev(self, EventKind::FinFrom(from));
                e.up_for = up_for;
                e.attribution = a;
                out.push(e);
            }
            // A RST, established or half-closed: an abort. Unless it lies
            // outside the receiver's window: the endpoint ignores it (RFC
            // 793, RFC 5961 s3.2), and so do we.
            (State::Established | State::HalfClosed(_), Control::Rst) => {
                match self.out_of_window(seg, from) {
                    Some(clue) => {
                        let a = attribution::attribute(&self.dir(from).habits, seg, Some(clue));
                        let mut e = ev(self, EventKind::ResetIgnored(from));
                        e.attribution = Some(Box::new(a));
                        out.push(e);
                    }
                    None => {
                        let a = self.accuse(Accused::Reset, from, seg, packet);
                        self.set_state(State::Reset(from));
                        let mut e = ev(self, EventKind::ResetFrom(from));
                        e.up_for = up_for;
                        e.attribution = a;
                        out.push(e);
                    }
                }
            }
            // Data, ACKs, keep-alives, retransmitted handshake segments.
            (State::Established, Control::None | Control::Syn | Control::SynAck) => {}

            // -- Closing --------------------------------------------------
            // The other side's FIN completes the close.
            (State::HalfClosed(first_fin), Control::Fin) if from != first_fin => {
                let a = self.accuse(Accused::Fin, from, seg, packet);
                self.set_state(State::Closed);
                let mut e = ev(self, EventKind::FinFrom(from));
                e.up_for = up_for;
                e.attribution = a;
                out.push(e);
                let mut e = ev(self, EventKind::Closed);
                e.up_for = up_for;
                out.push(e);
            }
            // Retransmitted FIN, or data still flowing the other way.
            (
                State::HalfClosed(_),
                Control::Fin | Control::None | Control::Syn | Control::SynAck,
            ) => {}

            // -- Finished -------------------------------------------------
            // A RST after both FINs is ordinary teardown (e.g. unread data).
            // Anything else after the end is a straggler; new SYNs never get
            // here (the tracker starts a new connection for them).
            (State::Closed | State::Reset(_) | State::Refused | State::SynUnanswered, _) => {}
        }
        // A RST from the peer answers everything local had outstanding.
        if self.state.is_terminal() {
            self.awaiting_ack = None;
        }
        if self.analytics.is_some() {
            let seen = Seen {
                from,
                retransmission,
                keepalive,
                advanced,
            };
            self.analyze(seg, ts, packet, seen, limits, out);
        }
        if !seg.flags.rst() {
            self.dir_mut(from).habits.learn(seg);
        }
    }
}
