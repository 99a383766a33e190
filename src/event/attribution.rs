//! Who really sent a FIN or RST: the attribution the tracker attaches to
//! `fin`, `reset`, `refused` and `reset_ignored` events, and revises with
//! `attribution_revised`.
//!
//! These are facts, not words: the clues name what the headers showed,
//! [`crate::output::attribution`] writes them out. How the verdict is
//! reached is `track::attribution`'s.

/// Who sent the segment, as far as its headers and what followed say.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum Sender {
    /// The segment is consistent with the endpoint whose address it carries.
    Endpoint,
    /// Someone on the path sent it in the endpoint's name (a firewall, an
    /// IPS, the carrier's equipment, a load balancer, an injector).
    Middlebox,
    /// Too little baseline, or evidence both ways: we do not accuse.
    Unknown,
}

impl Sender {
    /// `"endpoint"`, `"middlebox"` or `"unknown"`.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// How a sender numbers the IPv4 identification field, learnt from its
/// packets on the connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IdHabit {
    /// Always 0 (Linux for DF packets without a connected socket, many
    /// middleboxes).
    Zero,
    /// Each packet's ID is the previous one plus a little (a per-connection
    /// or per-host counter).
    Incrementing,
    /// No pattern we can hold a packet to.
    Varying,
}

/// One piece of evidence about who sent the segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Clue {
    /// The TTL (hop limit) is the sender's stable usual one.
    TtlAsUsual,
    /// The TTL differs from the sender's stable usual one: someone a
    /// different number of hops away sent it (or the route just changed).
    TtlStep,
    /// The verdict rests on the TTL step alone.
    TtlAlone,
    /// The sender's TTL was not stable before (several values): nothing
    /// to compare against.
    TtlUnsettled,
    /// Too few packets from the claimed sender to know its habits.
    LittleBaseline {
        /// Packets seen from it before this one.
        packets: u64,
    },
    /// The IP ID continues the sender's incrementing IDs.
    IpIdFits {
        /// The segment's IP ID.
        id: u16,
        /// The sender's last IP ID before it.
        last: u16,
    },
    /// The IP ID breaks the sender's habit.
    IpIdBreaks {
        /// The segment's IP ID.
        id: u16,
        /// The sender's habit.
        habit: IdHabit,
        /// The sender's last IP ID before it.
        last: u16,
    },
    /// The DF bit differs from the one the sender always sets (or clears).
    DfDiffers {
        /// The segment's DF bit.
        df: bool,
    },
    /// No TCP timestamp option, though the sender put one on every segment.
    NoTimestamp,
    /// The TCP timestamp continues the sender's clock.
    TsvalFits,
    /// The TCP timestamp is off the sender's clock.
    TsvalOff {
        /// The segment's TSval.
        tsval: u32,
        /// The sender's last TSval before it.
        last: u32,
    },
    /// The claimed sender kept sending after its own FIN or RST: an
    /// endpoint cannot, so someone else sent it and lost the race.
    LostRace {
        /// Segments seen from the claimed sender after it.
        segments: u32,
    },
    /// The receiver answered the RST with a challenge ACK (RFC 5961): its
    /// sequence number was in the window but not the expected one.
    ChallengeAck,
    /// Several RSTs in a row with different sequence numbers, as an
    /// injector spraying the window sends them.
    JumpingSeq {
        /// RSTs seen.
        resets: u8,
    },
    /// The RST's sequence number is outside the receiver's window: an
    /// endpoint ignores it (RFC 793, RFC 5961 s3.2).
    OutOfWindow {
        /// The RST's sequence number.
        seq: u32,
        /// The next sequence number the receiver expects.
        rcv_nxt: u32,
        /// The receiver's window, in bytes (scaled).
        window: u32,
    },
    /// Traffic went on both ways, in sequence, after the RST: the
    /// endpoints did not obey it and the connection is up again.
    LivesOn,
    /// The usual TTL is the peer host's on its earlier connections (a
    /// refusal has no packets of its own connection to compare with).
    HostBaseline,
}

impl Clue {
    /// Does this clue speak for the endpoint having sent it?
    pub fn for_endpoint(self) -> bool {
        matches!(
            self,
            Clue::TtlAsUsual | Clue::IpIdFits { .. } | Clue::TsvalFits
        )
    }
}

/// At most this many clues: four from the headers, one from the window,
/// five from what followed.
pub const MAX_CLUES: usize = 10;

/// An attribution's clues, held inline (no allocation per FIN or RST:
/// replay attributes every close of every connection). Dereferences to
/// a slice.
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct Clues {
    items: [Clue; MAX_CLUES],
    len: u8,
}

impl Clues {
    /// No clues.
    pub const fn new() -> Clues {
        Clues {
            items: [Clue::TtlAsUsual; MAX_CLUES],
            len: 0,
        }
    }

    /// Adds `c`; beyond [`MAX_CLUES`] it is dropped (the tracker never
    /// gathers that many).
    pub fn push(&mut self, c: Clue) {
        if let Some(slot) = self.items.get_mut(usize::from(self.len)) {
            *slot = c;
            self.len += 1;
        }
    }

    /// Keeps the clues `keep` says yes to, in order.
    pub fn retain(&mut self, keep: impl Fn(&Clue) -> bool) {
        let mut kept = Clues::new();
        for c in self.iter().filter(|c| keep(c)) {
            kept.push(*c);
        }
        *self = kept;
    }
}

impl Default for Clues {
    fn default() -> Clues {
        Clues::new()
    }
}

impl std::ops::Deref for Clues {
    type Target = [Clue];
    fn deref(&self) -> &[Clue] {
        self.items.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl std::ops::DerefMut for Clues {
    fn deref_mut(&mut self) -> &mut [Clue] {
        self.items
            .get_mut(..usize::from(self.len))
            .unwrap_or(&mut [])
    }
}

impl std::fmt::Debug for Clues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<const N: usize> From<[Clue; N]> for Clues {
    fn from(list: [Clue; N]) -> Clues {
        let mut c = Clues::new();
        for x in list {
            c.push(x);
        }
        c
    }
}

/// Who sent a FIN or RST, with the evidence.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    /// The verdict.
    pub sender: Sender,
    /// The evidence, strongest first.
    pub clues: Clues,
    /// The segment's TTL (hop limit).
    pub ttl: Option<u8>,
    /// The claimed sender's usual TTL, if it had a stable one.
    pub ttl_usual: Option<u8>,
}

/// The initial TTL a sender most likely started from: the smallest of the
/// common ones (32, 64, 128, 255) not below `ttl`.
pub fn initial_ttl(ttl: u8) -> u8 {
    [32u8, 64, 128]
        .into_iter()
        .find(|i| ttl <= *i)
        .unwrap_or(255)
}

impl Attribution {
    /// How many hops nearer the segment's sender is than the usual sender
    /// (negative: farther), from the hops each TTL has counted down from
    /// its likely initial value; `None` without a usual TTL or at the same
    /// distance.
    pub fn hops_nearer(&self) -> Option<i16> {
        let (ttl, usual) = (self.ttl?, self.ttl_usual?);
        let hops = |t: u8| i16::from(initial_ttl(t)) - i16::from(t);
        Some(hops(usual) - hops(ttl)).filter(|h| *h != 0)
    }
}

/// The verdict that stands on each accused packet (FIN, RST, refusal,
/// ignored RST) of `events`, after every `attribution_revised`: packet
/// number and attribution, in packet order.
pub fn standing_verdicts(events: &[super::Event]) -> Vec<(u64, &Attribution)> {
    use super::EventKind;
    let mut v: std::collections::BTreeMap<u64, &Attribution> = std::collections::BTreeMap::new();
    for e in events {
        let Some(a) = e.attribution.as_deref() else {
            continue;
        };
        match &e.kind {
            EventKind::AttributionRevised { of_packet, .. } => {
                v.insert(*of_packet, a);
            }
            _ => {
                if let Some(p) = e.packet {
                    v.insert(p, a);
                }
            }
        }
    }
    v.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_count_down_from_the_likely_initial_ttl() {
        let a = |ttl, usual| Attribution {
            sender: Sender::Unknown,
            clues: Clues::new(),
            ttl: Some(ttl),
            ttl_usual: Some(usual),
        };
        assert_eq!(a(61, 52).hops_nearer(), Some(9));
        assert_eq!(a(64, 63).hops_nearer(), Some(1));
        assert_eq!(a(250, 52).hops_nearer(), Some(7));
        assert_eq!(a(50, 52).hops_nearer(), Some(-2));
        assert_eq!(a(128, 118).hops_nearer(), Some(10));
    }
}
