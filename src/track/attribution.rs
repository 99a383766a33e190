//! Who really sent it: a FIN or RST in the endpoint's name, from the
//! endpoint or from a middlebox on the path.
//!
//! Each direction of a connection keeps a small baseline of its sender's
//! header habits ([`Habits`]): its TTL (IPv6 hop limit), how it numbers IP
//! IDs, its DF bit, its TCP timestamp clock. A FIN, RST or refusal is held
//! against the claimed sender's habits ([`judge`]), and what follows it
//! for [`REVISE_WITHIN`] ([`Suspect`]) may change the verdict: a sender
//! that keeps sending after its own RST lost a race to someone else
//! (Weaver, Sommer, Paxson, "Detecting Forged TCP Reset Packets", NDSS
//! 2009).
//!
//! # The rule ([`verdict`]), precision first
//! * **middlebox** on strong evidence: race evidence (the claimed sender
//!   kept sending after it, or three RSTs with jumping sequence numbers);
//!   or a TTL step against a stable baseline with nothing in the headers
//!   speaking for the endpoint; or two independent weaker signals (IP ID
//!   against the habit, DF flipped, timestamp missing or off the clock, a
//!   challenge ACK, two RSTs with different sequence numbers) while the
//!   TTL is not the usual one and nothing speaks for the endpoint.
//! * **endpoint** when nothing speaks against it and the TTL is the usual
//!   one (or, with an unsettled TTL, both the IP ID and the timestamp fit).
//! * **unknown** otherwise: too little baseline ([`MIN_BASELINE`] packets),
//!   or evidence both ways. The usual TTL outweighs weaker signals: a
//!   peer's host that lost its socket (a reboot) answers without a
//!   timestamp and with IP ID 0, from the same number of hops away, and
//!   must not be called a middlebox.
//!
//! Everything here is headers and the packet clock; nothing is stored but
//! counters and the last values.

use crate::decode::Segment;
use crate::event::{Accused, Attribution, Clue, Clues, IdHabit, Sender, Side};
use crate::time::{Duration, Timestamp};

use super::seq::Seq;
use super::State;

/// Packets from a sender (not counting its RSTs) before its habits count.
pub const MIN_BASELINE: u32 = 4;
/// Consecutive packets at one TTL before it is the sender's usual TTL: a
/// route change moves the usual TTL after this many packets.
pub const TTL_STABLE: u32 = 4;
/// Race evidence after a FIN or RST revises its verdict within this long
/// (packet clock).
pub const REVISE_WITHIN: Duration = Duration::from_secs(2);
/// An ACK from the receiver this soon after an inexact RST is its
/// challenge ACK (RFC 5961 s3.2: sent at once).
const CHALLENGE_WITHIN: Duration = Duration::from_millis(500);
/// Learning: consecutive IP IDs this far apart count as incrementing.
const ID_STEP: u16 = 64;
/// Judging: an IP ID this far past the sender's last one continues it.
const ID_FIT: u16 = 1024;
/// Judging: a TSval may run ahead of the sender's last by the elapsed
/// milliseconds (the fastest clock RFC 7323 allows) plus this.
const TSVAL_SLACK: u64 = 1000;
/// Segments after a RST must lie this close to its sequence number to
/// count as the same stream (not a new connection on the same ports).
const IN_SEQUENCE: u32 = 1 << 20;

/// One sender's header habits on one connection, learnt from its
/// segments other than RSTs (a forged RST must not teach the baseline).
#[derive(Clone, Debug, Default)]
pub(super) struct Habits {
    /// Segments learnt from.
    packets: u32,
    /// The TTL of the last segment, and how many in a row had it.
    ttl: u8,
    ttl_run: u32,
    last_id: Option<u16>,
    /// Consecutive ID pairs: both 0, a small increment, anything else.
    ids_zero: u32,
    ids_inc: u32,
    ids_other: u32,
    /// Segments with DF set (IPv4).
    df_set: u32,
    /// Segments with an IPv4 header (with an ID).
    v4: u32,
    /// Segments with the TCP timestamp option.
    ts_with: u32,
    /// The last TSval and when it was seen.
    last_tsval: Option<(u32, Timestamp)>,
}

impl Habits {
    /// Learns from one segment of this sender (not a RST).
    #[inline(always)]
    pub(super) fn learn(&mut self, seg: &Segment) {
        self.packets += 1;
        if seg.ip.ttl == self.ttl {
            self.ttl_run += 1;
        } else {
            self.ttl = seg.ip.ttl;
            self.ttl_run = 1;
        }
        if seg.src.is_ipv4() {
            let id = seg.ip.id;
            self.v4 += 1;
            self.df_set += u32::from(seg.ip.df);
            if let Some(last) = self.last_id {
                let step = id.wrapping_sub(last);
                if id == 0 && last == 0 {
                    self.ids_zero += 1;
                } else if (1..=ID_STEP).contains(&step) {
                    self.ids_inc += 1;
                } else {
                    self.ids_other += 1;
                }
            }
            self.last_id = Some(id);
        }
        if let Some((tsval, _)) = seg.options.timestamps {
            self.ts_with += 1;
            self.last_tsval = Some((tsval, seg.ts));
        }
    }

    /// The usual TTL, if the last [`TTL_STABLE`] segments all had it.
    pub(super) fn usual_ttl(&self) -> Option<u8> {
        (self.ttl_run >= TTL_STABLE).then_some(self.ttl)
    }

    /// How the sender numbers IP IDs, once there are enough pairs (nine
    /// in ten of one kind).
    fn id_habit(&self) -> Option<IdHabit> {
        let pairs = self.ids_zero + self.ids_inc + self.ids_other;
        if pairs + 1 < MIN_BASELINE {
            return None;
        }
        Some(if self.ids_zero * 10 >= pairs * 9 {
            IdHabit::Zero
        } else if self.ids_inc * 10 >= pairs * 9 {
            IdHabit::Incrementing
        } else {
            IdHabit::Varying
        })
    }
}

/// The claimed sender's habits against one FIN or RST: the header clues.
pub(super) fn judge(habits: &Habits, seg: &Segment) -> (Clues, Option<u8>) {
    let mut clues = Clues::new();
    if habits.packets < MIN_BASELINE {
        clues.push(Clue::LittleBaseline {
            packets: u64::from(habits.packets),
        });
        return (clues, None);
    }
    let usual = habits.usual_ttl();
    match usual {
        Some(u) if u == seg.ip.ttl => clues.push(Clue::TtlAsUsual),
        Some(_) => clues.push(Clue::TtlStep),
        None => clues.push(Clue::TtlUnsettled),
    }
    let id = seg.src.is_ipv4().then_some(seg.ip.id);
    if let (Some(id), Some(last), Some(habit)) = (id, habits.last_id, habits.id_habit()) {
        let step = id.wrapping_sub(last);
        match habit {
            IdHabit::Incrementing if (1..=ID_FIT).contains(&step) => {
                clues.push(Clue::IpIdFits { id, last })
            }
            IdHabit::Incrementing => clues.push(Clue::IpIdBreaks { id, habit, last }),
            IdHabit::Zero if id != 0 => clues.push(Clue::IpIdBreaks { id, habit, last }),
            IdHabit::Zero | IdHabit::Varying => {}
        }
    }
    if seg.src.is_ipv4() && habits.v4 == habits.packets {
        let always = habits.df_set == habits.v4;
        let never = habits.df_set == 0;
        if (always && !seg.ip.df) || (never && seg.ip.df) {
            clues.push(Clue::DfDiffers { df: seg.ip.df });
        }
    }
    if habits.ts_with == habits.packets {
        match (seg.options.timestamps, habits.last_tsval) {
            (None, _) => clues.push(Clue::NoTimestamp),
            (Some((tsval, _)), Some((last, at))) => {
                let ahead = u64::from(tsval.wrapping_sub(last));
                let elapsed_ms = seg.ts.since(at).as_nanos().unsigned_abs() / 1_000_000;
                if ahead <= elapsed_ms + TSVAL_SLACK {
                    clues.push(Clue::TsvalFits);
                } else {
                    clues.push(Clue::TsvalOff { tsval, last });
                }
            }
            (Some(_), None) => {}
        }
    }
    (clues, usual)
}

/// The verdict on `clues` (see the module's rule). Adds [`Clue::TtlAlone`]
/// when a middlebox verdict rests on the TTL step alone, and orders the
/// clues strongest first.
pub(super) fn verdict(clues: &mut Clues) -> Sender {
    let (mut race, mut ttl_step, mut ttl_usual, mut little) = (false, false, false, false);
    let (mut weak, mut pro) = (0u32, 0u32);
    for c in clues.iter() {
        match c {
            Clue::LostRace { .. } => race = true,
            Clue::JumpingSeq { resets } if *resets >= 3 => race = true,
            Clue::TtlStep => ttl_step = true,
            Clue::TtlAsUsual => ttl_usual = true,
            Clue::LittleBaseline { .. } => little = true,
            Clue::IpIdFits { .. } | Clue::TsvalFits => pro += 1,
            Clue::JumpingSeq { .. }
            | Clue::IpIdBreaks { .. }
            | Clue::DfDiffers { .. }
            | Clue::NoTimestamp
            | Clue::TsvalOff { .. }
            | Clue::ChallengeAck
            | Clue::OutOfWindow { .. } => weak += 1,
            Clue::TtlAlone | Clue::TtlUnsettled | Clue::LivesOn | Clue::HostBaseline => {}
        }
    }
    let sender = if race || (ttl_step && pro == 0) || (weak >= 2 && !ttl_usual && pro == 0) {
        Sender::Middlebox
    } else if weak == 0 && !little && !ttl_step && (ttl_usual || pro >= 2) {
        Sender::Endpoint
    } else {
        Sender::Unknown
    };
    clues.retain(|c| *c != Clue::TtlAlone);
    if sender == Sender::Middlebox && ttl_step && weak == 0 && !race {
        clues.push(Clue::TtlAlone);
    }
    clues.sort_unstable_by_key(|c| rank(*c));
    sender
}

/// Strongest first: race evidence, the TTL, the weaker signals, what
/// speaks for the endpoint, what is missing.
fn rank(c: Clue) -> u8 {
    match c {
        Clue::LostRace { .. } => 0,
        Clue::JumpingSeq { .. } => 1,
        Clue::LivesOn => 2,
        Clue::TtlStep => 3,
        Clue::TtlAlone => 4,
        Clue::OutOfWindow { .. } => 5,
        Clue::ChallengeAck => 6,
        Clue::IpIdBreaks { .. } => 7,
        Clue::NoTimestamp | Clue::TsvalOff { .. } => 8,
        Clue::DfDiffers { .. } => 9,
        Clue::TtlAsUsual => 10,
        Clue::IpIdFits { .. } => 11,
        Clue::TsvalFits => 12,
        Clue::HostBaseline => 13,
        Clue::TtlUnsettled => 14,
        Clue::LittleBaseline { .. } => 15,
    }
}

/// The attribution of `seg` against `habits`, with `more` clues (an
/// out-of-window sequence number).
pub(super) fn attribute(habits: &Habits, seg: &Segment, more: Option<Clue>) -> Attribution {
    let (mut clues, ttl_usual) = judge(habits, seg);
    if let Some(c) = more {
        clues.push(c);
    }
    let sender = verdict(&mut clues);
    Attribution {
        sender,
        clues,
        ttl: Some(seg.ip.ttl),
        ttl_usual,
    }
}

/// Peer hosts the tracker remembers at most: the oldest is forgotten first.
pub const HOSTS_MAX: usize = 4_096;

/// What the tracker remembers of each peer host across its connections:
/// the usual TTL its FINs and RSTs were judged against, and when. A
/// refusal (our SYN answered by RST) has no packets of its own connection
/// to judge against; the host's earlier connections tell a firewall's
/// refusal, a different number of hops away, from the peer's closed port.
/// At most [`HOSTS_MAX`] hosts (about 40 bytes each).
#[derive(Debug, Default)]
pub(super) struct Hosts {
    usual: std::collections::HashMap<std::net::IpAddr, (u8, Timestamp)>,
}

impl Hosts {
    /// Learns from a FIN or RST event in the peer's name, and judges a
    /// refusal against the peer host's usual TTL.
    pub(super) fn take(&mut self, e: &mut crate::event::Event) {
        use crate::event::EventKind;
        let (Some(conn), Some(a)) = (e.conn, e.attribution.as_deref_mut()) else {
            return;
        };
        let host = conn.peer.ip();
        match e.kind {
            EventKind::FinFrom(Side::Peer)
            | EventKind::ResetFrom(Side::Peer)
            | EventKind::ResetIgnored(Side::Peer)
            | EventKind::AttributionRevised {
                from: Side::Peer, ..
            } => {
                if let Some(u) = a.ttl_usual {
                    self.note(host, u, e.ts);
                }
            }
            EventKind::Refused => {
                let (Some(&(usual, _)), Some(ttl)) = (self.usual.get(&host), a.ttl) else {
                    return;
                };
                let mut clues = Clues::new();
                clues.push(if ttl == usual {
                    Clue::TtlAsUsual
                } else {
                    Clue::TtlStep
                });
                clues.push(Clue::HostBaseline);
                a.sender = verdict(&mut clues);
                a.clues = clues;
                a.ttl_usual = Some(usual);
            }
            _ => {}
        }
    }

    fn note(&mut self, host: std::net::IpAddr, ttl: u8, at: Timestamp) {
        if self.usual.len() >= HOSTS_MAX && !self.usual.contains_key(&host) {
            let oldest = self
                .usual
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(h, _)| *h);
            if let Some(h) = oldest {
                self.usual.remove(&h);
            }
        }
        self.usual.insert(host, (ttl, at));
    }

    /// Hosts remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.usual.len()
    }
}

/// What the tracker revises after a FIN, RST or refusal: what followed it.
#[derive(Clone, Debug)]
pub(super) struct Suspect {
    pub(super) what: Accused,
    /// The connection's state before it: where a connection found up
    /// again returns to.
    pub(super) before: State,
    /// The side the segment claimed to come from.
    pub(super) from: Side,
    pub(super) at: Timestamp,
    pub(super) packet: u64,
    /// The accused segment's sequence number.
    seq: Seq,
    /// Where its sender's sequence space ended with it (past its data,
    /// and past the FIN's own number): data ending beyond this is new.
    end: Seq,
    /// The receiver's next expected sequence number then (its last ACK).
    rcv_nxt: Option<Seq>,
    /// The verdict as it stands.
    pub(super) attribution: Attribution,
    /// RSTs from the claimed sender (the first included), and the
    /// distinct sequence numbers among the first few.
    resets: u8,
    seqs: [u32; 3],
    distinct: u8,
    /// Segments (not RST or SYN) from the claimed sender after it, in
    /// sequence, and whether one carried data past it.
    sender_after: u32,
    data_after: bool,
    /// Segments (not RST or SYN) from the receiver after it.
    receiver_after: u32,
    challenge: bool,
    /// The connection was found up again (reported once).
    pub(super) up_again: bool,
}

/// What one segment after a suspect changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Review {
    /// Nothing to report.
    Same,
    /// The verdict changed.
    Revised,
    /// Traffic went on both ways after a RST: the connection is up again.
    UpAgain,
}

impl Suspect {
    /// A suspect for `seg`, judged `attribution`; `rcv_nxt` is the
    /// receiver's last ACK.
    pub(super) fn new(
        what: Accused,
        before: State,
        from: Side,
        seg: &Segment,
        packet: u64,
        rcv_nxt: Option<Seq>,
        attribution: Attribution,
    ) -> Suspect {
        Suspect {
            what,
            before,
            from,
            at: seg.ts,
            packet,
            seq: Seq(seg.seq),
            end: Seq(seg.seq).plus(seg.seq_len()),
            rcv_nxt,
            attribution,
            resets: 1,
            seqs: [seg.seq, 0, 0],
            distinct: 1,
            sender_after: 0,
            data_after: false,
            receiver_after: 0,
            challenge: false,
            up_again: false,
        }
    }

    /// Whether this suspect can still change: within the revision window,
    /// or a RST whose connection may yet be found up again.
    pub(super) fn open(&self, ts: Timestamp) -> bool {
        ts <= self.at.plus(REVISE_WITHIN) || (self.what == Accused::Reset && !self.up_again)
    }

    /// Takes one segment that came after the suspect, from `side`.
    pub(super) fn observe(&mut self, seg: &Segment, side: Side) -> Review {
        let within = seg.ts <= self.at.plus(REVISE_WITHIN);
        let facts = self.facts();
        let seq = Seq(seg.seq);
        let in_sequence =
            seq.plus(IN_SEQUENCE).after(self.seq) && self.seq.plus(IN_SEQUENCE).after(seq);
        let control = seg.flags.syn() || seg.flags.rst();
        if side == self.from {
            if seg.flags.rst() && self.what == Accused::Reset {
                self.resets = self.resets.saturating_add(1);
                if !self
                    .seqs
                    .iter()
                    .take(usize::from(self.distinct))
                    .any(|s| *s == seg.seq)
                {
                    if let Some(slot) = self.seqs.get_mut(usize::from(self.distinct)) {
                        *slot = seg.seq;
                        self.distinct += 1;
                    }
                }
            } else if !control && in_sequence {
                self.sender_after += 1;
                // New data, not a retransmission of what it sent before.
                let end = seq.plus(seg.payload_len);
                self.data_after |= seg.payload_len > 0 && end.after(self.end);
            }
        } else if !control && in_sequence_of(self.rcv_nxt, seg) {
            self.receiver_after += 1;
            let pure_ack = seg.flags.0 & !crate::decode::TcpFlags::PSH
                == crate::decode::TcpFlags::ACK
                && seg.payload_len == 0;
            if self.what == Accused::Reset
                && pure_ack
                && seg.ts <= self.at.plus(CHALLENGE_WITHIN)
                && self.rcv_nxt.is_some_and(|n| n != self.seq)
            {
                self.challenge = true;
            }
        }
        let up_again = self.what == Accused::Reset
            && !self.up_again
            && self.sender_after > 0
            && self.receiver_after > 0;
        if up_again {
            self.up_again = true;
        }
        let before = self.attribution.sender;
        // Judged again only when what followed says something new: most
        // segments after a FIN are plain ACKs that change nothing.
        if (within || up_again) && self.facts() != facts {
            self.rejudge();
        }
        if up_again {
            Review::UpAgain
        } else if self.attribution.sender != before {
            Review::Revised
        } else {
            Review::Same
        }
    }

    /// What followed, as far as the verdict goes: a race lost, distinct
    /// RST sequence numbers, a challenge ACK, the connection up again.
    fn facts(&self) -> (bool, u8, bool, bool) {
        (self.lost(), self.distinct, self.challenge, self.up_again)
    }

    /// A FIN's sender may still ACK what it receives: only data past its
    /// FIN is a race. After a RST, any in-sequence segment is.
    fn lost(&self) -> bool {
        match self.what {
            Accused::Fin => self.data_after,
            Accused::Reset | Accused::Refused => self.data_after || self.sender_after >= 2,
        }
    }

    /// The verdict on the header clues and what followed.
    fn rejudge(&mut self) {
        // The header clues as judged then: all but what followed.
        let mut clues = self.attribution.clues;
        clues.retain(|c| {
            !matches!(
                c,
                Clue::TtlAlone
                    | Clue::LostRace { .. }
                    | Clue::JumpingSeq { .. }
                    | Clue::ChallengeAck
                    | Clue::LivesOn
            )
        });
        if self.lost() {
            clues.push(Clue::LostRace {
                segments: self.sender_after,
            });
        }
        if self.distinct >= 2 {
            clues.push(Clue::JumpingSeq {
                resets: self.distinct,
            });
        }
        if self.challenge {
            clues.push(Clue::ChallengeAck);
        }
        if self.up_again {
            clues.push(Clue::LivesOn);
        }
        self.attribution.sender = verdict(&mut clues);
        self.attribution.clues = clues;
    }
}

/// Is `seg` (from the receiver) near the sequence space the claimed
/// sender was acknowledged to, i.e. the same connection going on?
fn in_sequence_of(rcv_nxt: Option<Seq>, seg: &Segment) -> bool {
    // The receiver's own sequence numbers are not known here; its ACK
    // field must stay near what it acknowledged before the RST.
    match rcv_nxt {
        Some(n) => {
            let a = Seq(seg.ack);
            !seg.flags.ack() || (a.plus(IN_SEQUENCE).after(n) && n.plus(IN_SEQUENCE).after(a))
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{IpMarks, TcpFlags, TcpOptions};

    /// A segment from the peer; without an IP ID, over IPv6.
    fn seg(ttl: u8, id: Option<u16>, ts: Option<u32>, ms: i64) -> Segment {
        let (src, dst) = match id {
            Some(_) => ("203.0.113.10:5000", "10.0.0.5:40123"),
            None => ("[2001:db8::10]:5000", "[2001:db8::5]:40123"),
        };
        Segment {
            ts: Timestamp::from_nanos(1_000_000_000_000 + ms * 1_000_000),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq: 1,
            ack: 1,
            flags: TcpFlags(TcpFlags::ACK),
            window: 1000,
            payload_len: 10,
            options: TcpOptions {
                timestamps: ts.map(|v| (v, 0)),
                ..TcpOptions::default()
            },
            ip: IpMarks {
                ttl,
                df: id.is_some(),
                id: id.unwrap_or(0),
            },
        }
    }

    /// A peer at TTL 52 with incrementing IDs from 100 and a 1 kHz
    /// timestamp clock, `n` packets 10 ms apart.
    fn peer(n: u16) -> Habits {
        let mut h = Habits::default();
        for i in 0..n {
            h.learn(&seg(
                52,
                Some(100 + i),
                Some(5_000 + 10 * u32::from(i)),
                10 * i64::from(i),
            ));
        }
        h
    }

    fn sender_of(h: &Habits, s: &Segment) -> (Sender, Clues) {
        let a = attribute(h, s, None);
        (a.sender, a.clues)
    }

    #[test]
    fn the_peers_own_rst_is_the_endpoint() {
        let h = peer(10);
        let (sender, clues) = sender_of(&h, &seg(52, Some(110), Some(5_100), 100));
        assert_eq!(sender, Sender::Endpoint, "{clues:?}");
    }

    #[test]
    fn a_firewalls_rst_is_a_middlebox() {
        let h = peer(10);
        let (sender, clues) = sender_of(&h, &seg(61, Some(0), None, 100));
        assert_eq!(sender, Sender::Middlebox);
        assert_eq!(clues.first(), Some(&Clue::TtlStep));
        assert!(clues.contains(&Clue::NoTimestamp), "{clues:?}");
        assert!(!clues.contains(&Clue::TtlAlone), "{clues:?}");
    }

    #[test]
    fn a_ttl_step_alone_says_so_and_with_fitting_ids_is_unknown() {
        // An IPv6 peer without timestamps: the hop limit is all there is.
        let mut v6 = Habits::default();
        for i in 0..10 {
            v6.learn(&seg(52, None, None, i));
        }
        let (sender, clues) = sender_of(&v6, &seg(61, None, None, 100));
        assert_eq!(sender, Sender::Middlebox);
        assert_eq!(*clues, [Clue::TtlStep, Clue::TtlAlone]);
        let h = peer(10);
        // The same step, but the IP ID continues the peer's counter and
        // the timestamp its clock: a route change, not an accusation.
        let (sender, _) = sender_of(&h, &seg(51, Some(110), Some(5_100), 100));
        assert_eq!(sender, Sender::Unknown);
    }

    #[test]
    fn a_rebooted_peer_at_its_usual_ttl_is_never_a_middlebox() {
        // No timestamp, IP ID 0: Linux answering without a socket.
        let h = peer(10);
        let (sender, clues) = sender_of(&h, &seg(52, Some(0), None, 100));
        assert_eq!(sender, Sender::Unknown, "{clues:?}");
    }

    #[test]
    fn too_little_baseline_is_unknown() {
        let h = peer(3);
        let (sender, clues) = sender_of(&h, &seg(61, Some(0), None, 100));
        assert_eq!(sender, Sender::Unknown);
        assert_eq!(*clues, [Clue::LittleBaseline { packets: 3 }]);
    }

    #[test]
    fn a_route_change_moves_the_usual_ttl() {
        let mut h = peer(10);
        for i in 0..TTL_STABLE as u16 {
            h.learn(&seg(
                51,
                Some(110 + i),
                Some(5_100 + u32::from(i)),
                100 + i64::from(i),
            ));
        }
        assert_eq!(h.usual_ttl(), Some(51));
        let (sender, _) = sender_of(&h, &seg(51, Some(114), Some(5_110), 200));
        assert_eq!(sender, Sender::Endpoint);
    }

    #[test]
    fn a_sender_that_keeps_sending_after_its_rst_lost_a_race() {
        let h = peer(10);
        let mut rst = seg(52, Some(0), None, 100);
        rst.flags = TcpFlags(TcpFlags::RST);
        rst.payload_len = 0;
        let a = attribute(&h, &rst, None);
        assert_eq!(a.sender, Sender::Unknown);
        let mut s = Suspect::new(
            Accused::Reset,
            State::Established,
            Side::Peer,
            &rst,
            7,
            None,
            a,
        );
        let mut data = seg(52, Some(110), Some(5_100), 101);
        data.seq = 1;
        assert_eq!(s.observe(&data, Side::Peer), Review::Revised);
        assert_eq!(s.attribution.sender, Sender::Middlebox);
        assert!(matches!(
            s.attribution.clues.first(),
            Some(Clue::LostRace { .. })
        ));
        // Our side answers: traffic both ways, the connection lives on.
        let mut ours = seg(64, Some(9), Some(1), 102);
        ours.src = rst.dst;
        ours.dst = rst.src;
        assert_eq!(s.observe(&ours, Side::Local), Review::UpAgain);
        assert!(s.attribution.clues.contains(&Clue::LivesOn));
    }

    #[test]
    fn the_host_memory_is_bounded_and_forgets_the_oldest_first() {
        let mut hosts = Hosts::default();
        for i in 0..=HOSTS_MAX as u32 {
            let ip = std::net::IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            hosts.note(ip, 52, Timestamp::from_nanos(i64::from(i)));
        }
        assert_eq!(hosts.len(), HOSTS_MAX);
        let first = std::net::IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000));
        let last = std::net::IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + HOSTS_MAX as u32));
        assert!(!hosts.usual.contains_key(&first));
        assert!(hosts.usual.contains_key(&last));
    }

    #[test]
    fn three_rsts_with_jumping_sequence_numbers_are_an_injector() {
        let h = peer(10);
        let rst = |seq: u32, ms| {
            let mut r = seg(52, Some(0), None, ms);
            r.flags = TcpFlags(TcpFlags::RST);
            r.seq = seq;
            r.payload_len = 0;
            r
        };
        let first = rst(1_000, 100);
        let mut s = Suspect::new(
            Accused::Reset,
            State::Established,
            Side::Peer,
            &first,
            7,
            None,
            attribute(&h, &first, None),
        );
        assert_eq!(s.observe(&rst(2_460, 100), Side::Peer), Review::Same);
        assert_eq!(s.attribution.sender, Sender::Unknown);
        assert_eq!(s.observe(&rst(3_920, 100), Side::Peer), Review::Revised);
        assert_eq!(s.attribution.sender, Sender::Middlebox);
        // The same RST repeated (a host answering each of our segments) is not.
        let mut t = Suspect::new(
            Accused::Reset,
            State::Established,
            Side::Peer,
            &first,
            7,
            None,
            attribute(&h, &first, None),
        );
        t.observe(&rst(1_000, 100), Side::Peer);
        t.observe(&rst(1_000, 100), Side::Peer);
        assert_eq!(t.attribution.sender, Sender::Unknown);
    }
}
