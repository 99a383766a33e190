//! The decoded TCP segment: header fields only, never a payload byte.
//!
//! This is the only thing that crosses from `decode` to `track`. It is `Copy`
//! and holds numbers and addresses, so no card number can ride along.

use std::net::SocketAddr;

use crate::time::Timestamp;

/// TCP flag bits, as in the header's flags byte.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;

    /// FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    /// PSH is set.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
}

/// The TCP options linewatch reads; absent ones are `None`/zero.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift (SYN only).
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// Number of SACK blocks in this segment (0 to 4).
    pub sack_blocks: u8,
    /// Timestamps option `(TSval, TSecr)`.
    pub timestamps: Option<(u32, u32)>,
}

/// The IP header habits of a segment's sender: what the tracker learns a
/// sender's baseline from, to tell an endpoint's FIN or RST from one a
/// middlebox sent in its name (see `track::attribution`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct IpMarks {
    /// IPv4 TTL or IPv6 hop limit, as it arrived.
    pub ttl: u8,
    /// IPv4 don't-fragment bit (`false` for IPv6, where routers never fragment).
    pub df: bool,
    /// IPv4 identification (0 for IPv6, which has none without a
    /// fragment header: ask the segment's address family).
    pub id: u16,
}

/// One TCP segment's header fields, with the lengths taken from the IP
/// header (not the captured length, which the header-only snaplen cuts).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Capture time from the packet clock.
    pub ts: Timestamp,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack()`).
    pub ack: u32,
    /// Flag bits.
    pub flags: TcpFlags,
    /// Advertised receive window (unscaled).
    pub window: u16,
    /// TCP payload length in bytes, from the IP length fields.
    pub payload_len: u32,
    /// Parsed options.
    pub options: TcpOptions,
    /// TTL / hop limit, IP ID and DF of the IP header that carried it.
    pub ip: IpMarks,
}

impl Segment {
    /// Sequence space this segment occupies: payload plus one each for SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload_len + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

/// An ICMP or ICMPv6 error (unreachable, time exceeded, packet too big,
/// ...) about one of our TCP segments, as a router on the path or the peer's
/// host reported it: evidence for the carrier of *where* the path broke.
/// Only headers are kept: the router, the type and code, and the quoted
/// TCP segment's addresses, ports and sequence number.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// Capture time from the packet clock.
    pub ts: Timestamp,
    /// Who sent the ICMP error (a router, or the destination host).
    pub router: std::net::IpAddr,
    /// ICMPv6 (`true`) or ICMPv4.
    pub v6: bool,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Source of the quoted (original) TCP segment.
    pub src: SocketAddr,
    /// Destination of the quoted TCP segment.
    pub dst: SocketAddr,
    /// Sequence number of the quoted TCP segment.
    pub seq: u32,
}

impl IcmpError {
    /// What the error says, in words (`destination unreachable (host
    /// unreachable)`).
    pub fn reason(&self) -> String {
        let (what, detail): (&str, Option<&str>) = if self.v6 {
            match (self.icmp_type, self.code) {
                (1, c) => (
                    "destination unreachable",
                    match c {
                        0 => Some("no route"),
                        1 => Some("administratively prohibited"),
                        3 => Some("address unreachable"),
                        4 => Some("port unreachable"),
                        5 => Some("source address failed policy"),
                        6 => Some("reject route"),
                        _ => None,
                    },
                ),
                (2, _) => ("packet too big", None),
                (3, 0) => ("time exceeded", Some("hop limit exceeded in transit")),
                (3, _) => ("time exceeded", Some("fragment reassembly")),
                (4, _) => ("parameter problem", None),
                _ => ("ICMPv6 error", None),
            }
        } else {
            match (self.icmp_type, self.code) {
                (3, c) => (
                    "destination unreachable",
                    match c {
                        0 => Some("net unreachable"),
                        1 => Some("host unreachable"),
                        2 => Some("protocol unreachable"),
                        3 => Some("port unreachable"),
                        4 => Some("fragmentation needed"),
                        9 | 10 | 13 => Some("administratively prohibited"),
                        _ => None,
                    },
                ),
                (4, _) => ("source quench", None),
                (11, 0) => ("time exceeded", Some("TTL exceeded in transit")),
                (11, _) => ("time exceeded", Some("fragment reassembly")),
                (12, _) => ("parameter problem", None),
                _ => ("ICMP error", None),
            }
        };
        match detail {
            Some(d) => format!("{what} ({d})"),
            None => format!("{what} (type {}, code {})", self.icmp_type, self.code),
        }
    }
}

/// What one frame decodes to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A TCP segment.
    Tcp(Segment),
    /// An ICMP/ICMPv6 error quoting a TCP segment.
    IcmpError(IcmpError),
}

impl Decoded {
    /// The frame's capture time.
    pub fn ts(&self) -> Timestamp {
        match self {
            Decoded::Tcp(s) => s.ts,
            Decoded::IcmpError(i) => i.ts,
        }
    }
}
