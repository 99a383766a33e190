//! The flow table: connections in numbered slots, found by their 4-tuple.
//!
//! A slot number is what the timer queue holds for a connection (4 bytes,
//! not the 64-byte pair of addresses): firing a deadline finds its
//! connection without hashing, and the queue's entries stay small enough
//! to stay in cache. A slot freed by a connection leaving the table is
//! reused by the next one; a timer entry left behind for the old one is
//! told apart by the connection's `uid`.

use std::net::SocketAddr;

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::connection::Connection;

/// The connection key: both endpoints, smaller first, so both directions
/// meet. Addresses as plain integers (IPv4 in the low 32 bits, told apart
/// from IPv6 by `v6`), not `SocketAddr`s: hashing and comparing it is a few
/// integer operations instead of a walk over two enums, on every packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct FlowKey {
    lo_ip: u128,
    hi_ip: u128,
    lo_port: u16,
    hi_port: u16,
    v6: bool,
}

/// An endpoint as plain integers: address, port.
fn endpoint(a: &SocketAddr) -> (u128, u16) {
    match a {
        SocketAddr::V4(v4) => (u128::from(v4.ip().to_bits()), v4.port()),
        SocketAddr::V6(v6) => (v6.ip().to_bits(), v6.port()),
    }
}

/// The key of the connection between `a` and `b`, whichever sent.
pub(super) fn flow_key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    let (ea, eb) = (endpoint(&a), endpoint(&b));
    // Any fixed order of the two ends will do; ports first, because they
    // nearly always differ and comparing them is cheaper than 128-bit
    // addresses.
    let a_first = match ea.1.cmp(&eb.1) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => ea.0 <= eb.0,
    };
    let (lo, hi) = if a_first { (ea, eb) } else { (eb, ea) };
    FlowKey {
        lo_ip: lo.0,
        hi_ip: hi.0,
        lo_port: lo.1,
        hi_port: hi.1,
        // A v4 and a v6 address never share a connection; mixed pairs (not
        // a TCP connection anyway) are keyed by the sender's family.
        v6: a.is_ipv6(),
    }
}

/// A slot number in the [`FlowTable`].
pub(super) type SlotId = u32;

#[derive(Debug)]
struct Slot {
    key: FlowKey,
    conn: Connection,
}

/// The index's hash of a key.
fn hash(key: &FlowKey) -> u64 {
    FxBuildHasher.hash_one(key)
}

/// The filled slot `slot` of `chunks`.
fn slot_in(chunks: &[Box<[Option<Slot>]>], slot: SlotId) -> Option<&Slot> {
    let i = slot as usize;
    chunks.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
}

/// Slots per chunk of the [`FlowTable`] (192 KiB a chunk).
const CHUNK: usize = 256;

/// Connections by key and by slot. Connections live in place in chunks
/// of [`CHUNK`] slots: a slot number finds its connection with two
/// indexings and no pointer to chase (the chunk list is small enough to
/// stay in cache). The index by key holds only slot numbers (4 bytes a
/// connection, not the 48-byte key: it stays in cache at any table size);
/// the key it is checked against sits in the slot, beside the connection
/// the packet needs next. So a packet costs the connection's own memory,
/// nothing between. Chunks never move or shrink; the table holds
/// as many as the most connections ever in it at once need (the tracker
/// keeps that under its `max_flows`), so memory is `max_flows` slots at
/// most, rounded up to a chunk.
#[derive(Debug, Default)]
pub(super) struct FlowTable {
    index: HashTable<SlotId>,
    chunks: Vec<Box<[Option<Slot>]>>,
    /// Slots handed out so far (the next new one is this).
    used: usize,
    free: Vec<SlotId>,
}

impl FlowTable {
    /// Connections in the table.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The slot of the connection with `key`.
    #[inline(always)]
    pub(super) fn find(&self, key: &FlowKey) -> Option<SlotId> {
        let chunks = &self.chunks;
        self.index
            .find(hash(key), |&slot| {
                slot_in(chunks, slot).is_some_and(|s| s.key == *key)
            })
            .copied()
    }

    fn slot_mut(&mut self, slot: SlotId) -> Option<&mut Option<Slot>> {
        let i = slot as usize;
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    /// The connection in `slot`.
    pub(super) fn get(&self, slot: SlotId) -> Option<&Connection> {
        slot_in(&self.chunks, slot).map(|s| &s.conn)
    }

    /// The connection in `slot`, mutably.
    pub(super) fn get_mut(&mut self, slot: SlotId) -> Option<&mut Connection> {
        Some(&mut self.slot_mut(slot)?.as_mut()?.conn)
    }

    /// Puts the connection `make` makes in the table under `key` (which
    /// must not be there) and returns its slot. Made in its slot, not
    /// moved there.
    pub(super) fn insert(&mut self, key: FlowKey, make: impl FnOnce() -> Connection) -> SlotId {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = SlotId::try_from(self.used).unwrap_or(SlotId::MAX);
                self.used += 1;
                if self.chunks.len() * CHUNK < self.used {
                    self.chunks
                        .push(std::iter::repeat_with(|| None).take(CHUNK).collect());
                }
                slot
            }
        };
        if let Some(s) = self.slot_mut(slot) {
            *s = Some(Slot { key, conn: make() });
        }
        let chunks = &self.chunks;
        self.index.insert_unique(hash(&key), slot, |&other| {
            slot_in(chunks, other).map_or(0, |s| hash(&s.key))
        });
        slot
    }

    /// Takes the connection in `slot` out of the table, handing it to
    /// `last` first: it is dropped where it lies, not moved out (700-odd
    /// bytes a connection).
    pub(super) fn remove<R>(
        &mut self,
        slot: SlotId,
        last: impl FnOnce(&mut Connection) -> R,
    ) -> Option<R> {
        let place = self.slot_mut(slot)?;
        let s = place.as_mut()?;
        let h = hash(&s.key);
        let r = last(&mut s.conn);
        *place = None;
        if let Ok(entry) = self.index.find_entry(h, |&other| other == slot) {
            entry.remove();
        }
        self.free.push(slot);
        Some(r)
    }

    fn slots(&self) -> impl Iterator<Item = (SlotId, &Slot)> + '_ {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .enumerate()
            .filter_map(|(i, s)| Some((SlotId::try_from(i).ok()?, s.as_ref()?)))
    }

    /// Every connection with its slot and key, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (SlotId, &FlowKey, &Connection)> + '_ {
        self.slots().map(|(i, s)| (i, &s.key, &s.conn))
    }

    /// Every connection, mutably, with its slot, in no particular order.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (SlotId, &mut Connection)> + '_ {
        self.chunks
            .iter_mut()
            .flat_map(|c| c.iter_mut())
            .enumerate()
            .filter_map(|(i, s)| Some((SlotId::try_from(i).ok()?, &mut s.as_mut()?.conn)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Segment, TcpFlags, TcpOptions};
    use crate::time::Timestamp;

    fn conn(uid: u64, port: u16) -> (FlowKey, Connection) {
        let src: SocketAddr = format!("10.0.0.1:{port}").parse().unwrap();
        let dst: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let seg = Segment {
            ts: Timestamp::from_nanos(0),
            src,
            dst,
            seq: 1,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN),
            window: 1000,
            payload_len: 0,
            options: TcpOptions::default(),
            ip: crate::decode::IpMarks::default(),
        };
        (flow_key(src, dst), Connection::new(uid, &seg, None))
    }

    #[test]
    fn slots_are_reused_and_keys_follow_their_connection() {
        let mut t = FlowTable::default();
        let (k1, c1) = conn(1, 1001);
        let (k2, c2) = conn(2, 1002);
        let s1 = t.insert(k1, || c1);
        let s2 = t.insert(k2, || c2);
        assert_ne!(s1, s2);
        assert_eq!(t.find(&k1), Some(s1));
        assert_eq!(t.remove(s1, |c| c.uid), Some(1));
        assert_eq!(t.find(&k1), None);
        assert!(t.get(s1).is_none());
        assert!(
            t.remove(s1, |_| ()).is_none(),
            "a freed slot is not freed twice"
        );
        let (k3, c3) = conn(3, 1003);
        let s3 = t.insert(k3, || c3);
        assert_eq!(s3, s1, "the freed slot is reused");
        assert_eq!(t.get(s3).map(|c| c.uid), Some(3));
        assert_eq!(t.len(), 2);
        let mut seen: Vec<u64> = t.iter().map(|(_, _, c)| c.uid).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![2, 3]);
    }
}
