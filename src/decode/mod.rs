//! Decode: captured frames of any supported link type into TCP [`Segment`]s.
//!
//! Pipeline role: capture -> **decode** -> track -> policy -> emit.
//!
//! Captures are header-only (a small snaplen), so lengths come from the IP
//! headers, never from the captured length, and slicing is lax: a frame cut
//! after the TCP header still decodes. A frame that cannot be decoded is
//! counted under a [`SkipReason`] and skipped; decoding never panics.
//! Nothing of the TCP payload is read or copied: card numbers travel there.

mod cut;
mod fast;
mod link;
mod segment;

pub use cut::header_end;

pub use link::{dlt_name, LinkType, UnsupportedLinkType};
pub use segment::{Decoded, IcmpError, IpMarks, Segment, TcpFlags, TcpOptions};

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    ip_number, Ethernet2HeaderSlice, LaxIpSlice, LinuxSllHeaderSlice, LinuxSllProtocolType,
    SingleVlanHeaderSlice, TcpOptionElement, TcpSlice,
};

use crate::time::Timestamp;

/// One captured frame, borrowed from the capture buffer.
#[derive(Copy, Clone, Debug)]
pub struct Frame<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// The captured bytes (at most snaplen).
    pub data: &'a [u8],
    /// The frame's length on the wire (pcap's `len`).
    pub wire_len: u32,
}

/// Why a frame produced no segment. Counted, never fatal.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum SkipReason {
    /// Shorter than its link-layer header.
    TruncatedLink,
    /// Not IP (ARP, LLDP, an unknown ethertype or encapsulation).
    NotIp,
    /// IP header cut off or with an invalid version/length field.
    BadIpHeader,
    /// IPv6 extension headers that could not be walked.
    BadIpExtension,
    /// A non-first IP fragment (no TCP header in it).
    IpFragment,
    /// IP, but not TCP (UDP, ICMP other than an error about TCP, ...).
    NotTcp,
    /// TCP header (with options) cut off by the snaplen or the frame's end.
    TruncatedTcp,
    /// TCP data offset below 5 words.
    BadTcpHeader,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 8] = [
        SkipReason::TruncatedLink,
        SkipReason::NotIp,
        SkipReason::BadIpHeader,
        SkipReason::BadIpExtension,
        SkipReason::IpFragment,
        SkipReason::NotTcp,
        SkipReason::TruncatedTcp,
        SkipReason::BadTcpHeader,
    ];

    /// snake_case name used in JSON and text summaries (strum's, of the
    /// variant).
    pub fn name(self) -> &'static str {
        self.into()
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Per-reason skip counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkipCounts([u64; 8]);

impl SkipCounts {
    /// Count for one reason.
    pub fn get(&self, reason: SkipReason) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }

    fn bump(&mut self, reason: SkipReason) {
        if let Some(c) = self.0.get_mut(reason.index()) {
            *c += 1;
        }
    }

    /// All skipped frames.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(reason, count)` for each reason, zero counts included.
    pub fn iter(&self) -> impl Iterator<Item = (SkipReason, u64)> + '_ {
        SkipReason::ALL.iter().map(|r| (*r, self.get(*r)))
    }
}

/// Turns frames of one link type into segments, counting what it skips.
#[derive(Debug)]
pub struct Decoder {
    link: LinkType,
    frames: u64,
    segments: u64,
    icmp_errors: u64,
    skipped: SkipCounts,
}

// Ethertypes handled below the Ethernet header.
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const ETH_PBB: u16 = 0x88E7;
const ETH_FABRICPATH: u16 = 0x8903;
const ETH_VNTAG: u16 = 0x8926;

/// How deep encapsulations may nest before a frame is called not-IP.
const MAX_ENCAPSULATIONS: usize = 8;

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

impl Decoder {
    /// A decoder for frames of `link`.
    pub fn new(link: LinkType) -> Decoder {
        Decoder {
            link,
            frames: 0,
            segments: 0,
            icmp_errors: 0,
            skipped: SkipCounts::default(),
        }
    }

    /// The link type this decoder reads.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Frames offered so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames that produced a segment.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// Frames that were ICMP errors about a TCP segment.
    pub fn icmp_errors(&self) -> u64 {
        self.icmp_errors
    }

    /// Skip counters by reason.
    pub fn skipped(&self) -> &SkipCounts {
        &self.skipped
    }

    /// Decodes one frame. `None` means skipped (and counted).
    #[inline]
    pub fn decode(&mut self, frame: &Frame<'_>) -> Option<Decoded> {
        self.frames += 1;
        match decode_frame(self.link, frame) {
            Ok(d) => {
                match d {
                    Decoded::Tcp(_) => self.segments += 1,
                    Decoded::IcmpError(_) => self.icmp_errors += 1,
                }
                Some(d)
            }
            Err(reason) => {
                self.skipped.bump(reason);
                None
            }
        }
    }
}

/// Decodes one frame without counting: the pure function behind [`Decoder`].
pub fn decode_frame(link: LinkType, frame: &Frame<'_>) -> Result<Decoded, SkipReason> {
    let ip = link_payload(link, frame.data)?;
    let ip_offset = frame.data.len() - ip.len();
    if let Some(seg) = fast::ipv4_tcp(ip, frame, ip_offset) {
        return Ok(Decoded::Tcp(seg));
    }
    decode_ip(ip, frame, ip_offset)
}

/// [`decode_frame`] without its hand-written fast path for the common
/// frame: the reference that fast path is checked against (the tests
/// compare the two on every frame of every capture they have).
pub fn decode_frame_general(link: LinkType, frame: &Frame<'_>) -> Result<Decoded, SkipReason> {
    let ip = link_payload(link, frame.data)?;
    decode_ip(ip, frame, frame.data.len() - ip.len())
}

/// The frame's bytes from the IP header on, past the link layer and any
/// encapsulation.
#[inline(always)]
fn link_payload(link: LinkType, data: &[u8]) -> Result<&[u8], SkipReason> {
    Ok(match link {
        LinkType::Ethernet => ethernet_payload(data)?,
        LinkType::LinuxSll => {
            let sll =
                LinuxSllHeaderSlice::from_slice(data).map_err(|_| SkipReason::TruncatedLink)?;
            let rest = data
                .get(sll.slice().len()..)
                .ok_or(SkipReason::TruncatedLink)?;
            match sll.protocol_type() {
                LinuxSllProtocolType::EtherType(t) => ether_payload(t.0, rest, 0)?,
                _ => return Err(SkipReason::NotIp),
            }
        }
        LinkType::LinuxSll2 => {
            // SLL2: protocol (2), reserved (2), ifindex (4), arphrd (2),
            // packet type (1), addr len (1), addr (8): 20 bytes.
            let proto = be16(data, 0).ok_or(SkipReason::TruncatedLink)?;
            let rest = data.get(20..).ok_or(SkipReason::TruncatedLink)?;
            ether_payload(proto, rest, 0)?
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => data,
        LinkType::Null | LinkType::Loop => {
            // The address family is 4 bytes, host order for NULL, network
            // order for LOOP; IPv6 has several values across BSDs, so the
            // IP version nibble decides.
            let rest = data.get(4..).ok_or(SkipReason::TruncatedLink)?;
            match rest.first().map(|b| b >> 4) {
                Some(4) | Some(6) => rest,
                Some(_) => return Err(SkipReason::NotIp),
                None => return Err(SkipReason::TruncatedLink),
            }
        }
    })
}

fn ethernet_payload(data: &[u8]) -> Result<&[u8], SkipReason> {
    // Straight to IPv4, nearly every frame: no ethertype chain to walk.
    if let (Some([0x08, 0x00]), Some(ip)) = (data.get(12..14), data.get(14..)) {
        return Ok(ip);
    }
    let eth = Ethernet2HeaderSlice::from_slice(data).map_err(|_| SkipReason::TruncatedLink)?;
    let rest = data
        .get(eth.slice().len()..)
        .ok_or(SkipReason::TruncatedLink)?;
    ether_payload(eth.ether_type().0, rest, 0)
}

/// Walks the ethertype chain (VLAN tags, MPLS, PPPoE, PBB, FabricPath, VN-Tag)
/// down to an IP header.
fn ether_payload(ether_type: u16, data: &[u8], depth: usize) -> Result<&[u8], SkipReason> {
    if depth > MAX_ENCAPSULATIONS {
        return Err(SkipReason::NotIp);
    }
    let next = |skip: usize, type_at: usize| -> Result<&[u8], SkipReason> {
        let t = be16(data, type_at).ok_or(SkipReason::TruncatedLink)?;
        let rest = data.get(skip..).ok_or(SkipReason::TruncatedLink)?;
        ether_payload(t, rest, depth + 1)
    };
    match ether_type {
        ETH_IPV4 | ETH_IPV6 => Ok(data),
        ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
            let tag =
                SingleVlanHeaderSlice::from_slice(data).map_err(|_| SkipReason::TruncatedLink)?;
            let rest = data
                .get(tag.slice().len()..)
                .ok_or(SkipReason::TruncatedLink)?;
            ether_payload(tag.ether_type().0, rest, depth + 1)
        }
        ETH_MPLS | ETH_MPLS_MC => {
            // Pop 4-byte labels until bottom-of-stack, then guess IPv4/IPv6
            // from the version nibble (no ethernet pseudowire support).
            let mut at = 0;
            loop {
                let entry = data.get(at..at + 4).ok_or(SkipReason::TruncatedLink)?;
                at += 4;
                if entry.get(2).is_some_and(|b| b & 0x01 != 0) {
                    break;
                }
                if at > 4 * MAX_ENCAPSULATIONS {
                    return Err(SkipReason::NotIp);
                }
            }
            let rest = data.get(at..).ok_or(SkipReason::TruncatedLink)?;
            match rest.first().map(|b| b >> 4) {
                Some(4) | Some(6) => Ok(rest),
                Some(_) => Err(SkipReason::NotIp),
                None => Err(SkipReason::TruncatedLink),
            }
        }
        ETH_PPPOE_SESSION => {
            // PPPoE session header (6 bytes) then the PPP protocol (2 bytes).
            let proto = be16(data, 6).ok_or(SkipReason::TruncatedLink)?;
            let rest = data.get(8..).ok_or(SkipReason::TruncatedLink)?;
            match proto {
                0x0021 => ether_payload(ETH_IPV4, rest, depth + 1),
                0x0057 => ether_payload(ETH_IPV6, rest, depth + 1),
                _ => Err(SkipReason::NotIp),
            }
        }
        // 802.1ah I-TAG (4 bytes), then a whole customer Ethernet header.
        ETH_PBB => next(4 + 14, 4 + 12),
        // Cisco FabricPath: FTag/TTL (2 bytes), then an inner Ethernet header.
        ETH_FABRICPATH => next(2 + 14, 2 + 12),
        // Cisco VN-Tag: 4 bytes, then the ethertype.
        ETH_VNTAG => next(6, 4),
        _ => Err(SkipReason::NotIp),
    }
}

fn decode_ip(ip: &[u8], frame: &Frame<'_>, ip_offset: usize) -> Result<Decoded, SkipReason> {
    let (ip_slice, ext_err) = LaxIpSlice::from_slice(ip).map_err(|_| SkipReason::BadIpHeader)?;
    let payload = ip_slice.payload();
    if ext_err.is_some() {
        return Err(SkipReason::BadIpExtension);
    }
    // Claimed IP payload length (what was on the wire), from the IP header.
    let wire_ip_len = (frame.wire_len as usize).saturating_sub(ip_offset);
    let (src, dst, ip_payload_len, ip) = match &ip_slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            if h.fragments_offset().value() != 0 {
                return Err(SkipReason::IpFragment);
            }
            let header_len = h.slice().len();
            let total = usize::from(h.total_len());
            // total_len 0 (or nonsense): TSO on the capturing host; the
            // frame's wire length is the best evidence left.
            let total = if total < header_len {
                wire_ip_len
            } else {
                total
            };
            let ext_len = v4.extensions().auth.map(|a| a.slice().len()).unwrap_or(0);
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                total.saturating_sub(header_len + ext_len),
                IpMarks {
                    ttl: h.ttl(),
                    df: h.dont_fragment(),
                    id: h.identification(),
                },
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            if v6.extensions().is_fragmenting_payload() {
                let first = v6.extensions().clone().into_iter().all(|e| match e {
                    etherparse::Ipv6ExtensionSlice::Fragment(f) => f.fragment_offset().value() == 0,
                    _ => true,
                });
                if !first {
                    return Err(SkipReason::IpFragment);
                }
            }
            let ext_len = v6.extensions().slice().len();
            // payload_length 0: a jumbogram (BIG TCP) or TSO; the length is
            // not in the fixed header, so the wire length is the evidence.
            let claimed = if h.payload_length() == 0 {
                wire_ip_len.saturating_sub(40)
            } else {
                usize::from(h.payload_length())
            };
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                claimed.saturating_sub(ext_len),
                IpMarks {
                    ttl: h.hop_limit(),
                    df: false,
                    id: 0,
                },
            )
        }
    };
    let icmp_v6 = payload.ip_number == ip_number::IPV6_ICMP;
    if icmp_v6 || payload.ip_number == ip_number::ICMP {
        return icmp_error(frame, src, icmp_v6, payload.payload)
            .map(Decoded::IcmpError)
            .ok_or(SkipReason::NotTcp);
    }
    if payload.ip_number != ip_number::TCP {
        return Err(SkipReason::NotTcp);
    }
    let tcp = TcpSlice::from_slice(payload.payload).map_err(|e| match e {
        etherparse::err::tcp::HeaderSliceError::Len(_) => SkipReason::TruncatedTcp,
        etherparse::err::tcp::HeaderSliceError::Content(_) => SkipReason::BadTcpHeader,
    })?;
    let header_len = usize::from(tcp.data_offset()) * 4;
    let payload_len = ip_payload_len.saturating_sub(header_len);
    // Byte 13 of the TCP header holds the eight flags in the same bit
    // positions as `TcpFlags` (FIN 0x01 .. CWR 0x80).
    let flags = tcp.slice().get(13).copied().unwrap_or(0);
    Ok(Decoded::Tcp(Segment {
        ts: frame.ts,
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flags),
        window: tcp.window_size(),
        payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        options: parse_options(&tcp),
        ip,
    }))
}

/// An ICMP(v6) error message that quotes a TCP segment: type, code, and the
/// quoted IP header plus the first 8 bytes of TCP (ports and sequence
/// number, RFC 792 / RFC 4443). Anything else (echo, neighbour discovery,
/// an error about UDP) is `None`.
fn icmp_error(frame: &Frame<'_>, router: IpAddr, v6: bool, icmp: &[u8]) -> Option<IcmpError> {
    let (&icmp_type, &code) = (icmp.first()?, icmp.get(1)?);
    let is_error = if v6 {
        (1..=4).contains(&icmp_type)
    } else {
        matches!(icmp_type, 3 | 4 | 11 | 12)
    };
    if !is_error {
        return None;
    }
    // 8 bytes of ICMP header, then the original datagram as it was sent.
    let quoted = icmp.get(8..)?;
    let (ip, _) = LaxIpSlice::from_slice(quoted).ok()?;
    let (src, dst) = match &ip {
        LaxIpSlice::Ipv4(v4) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
        ),
        LaxIpSlice::Ipv6(v6) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
        ),
    };
    let p = ip.payload();
    if p.ip_number != ip_number::TCP {
        return None;
    }
    let tcp = p.payload;
    let seq: [u8; 4] = tcp.get(4..8)?.try_into().ok()?;
    Some(IcmpError {
        ts: frame.ts,
        router,
        v6,
        icmp_type,
        code,
        src: SocketAddr::new(src, be16(tcp, 0)?),
        dst: SocketAddr::new(dst, be16(tcp, 2)?),
        seq: u32::from_be_bytes(seq),
    })
}

/// The options nearly every segment carries, read without walking them:
/// none, or what a Linux/BSD peer sends on every segment, NOP, NOP,
/// timestamps (RFC 7323 appendix A layout). `None` for anything else.
fn usual_options(raw: &[u8]) -> Option<TcpOptions> {
    match raw {
        [] => Some(TcpOptions::default()),
        [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] => Some(TcpOptions {
            timestamps: Some((
                u32::from_be_bytes([*v0, *v1, *v2, *v3]),
                u32::from_be_bytes([*e0, *e1, *e2, *e3]),
            )),
            ..TcpOptions::default()
        }),
        _ => None,
    }
}

fn parse_options(tcp: &TcpSlice<'_>) -> TcpOptions {
    if let Some(o) = usual_options(tcp.options()) {
        return o;
    }
    let mut o = TcpOptions::default();
    for element in tcp.options_iterator() {
        // A malformed option ends the walk; what was read so far stands.
        let Ok(element) = element else { break };
        match element {
            TcpOptionElement::MaximumSegmentSize(m) => o.mss = Some(m),
            TcpOptionElement::WindowScale(w) => o.window_scale = Some(w),
            TcpOptionElement::SelectiveAcknowledgementPermitted => o.sack_permitted = true,
            TcpOptionElement::SelectiveAcknowledgement(_, rest) => {
                o.sack_blocks = 1 + rest.iter().filter(|b| b.is_some()).count() as u8;
            }
            TcpOptionElement::Timestamp(val, ecr) => o.timestamps = Some((val, ecr)),
            TcpOptionElement::Noop => {}
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// An IPv4 TCP packet (no link header) with `len` payload bytes.
    fn ipv4_tcp(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 5], [203, 0, 113, 10], 64)
            .tcp(40000, 5000, 7, 1000)
            .ack(9)
            .psh()
            .write(&mut out, &vec![0x41; len])
            .unwrap();
        out
    }

    fn ipv6_tcp(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut a = [0u8; 16];
        a[0] = 0x20;
        a[15] = 5;
        let mut b = a;
        b[15] = 0x10;
        PacketBuilder::ipv6(a, b, 64)
            .tcp(40000, 5000, 7, 1000)
            .fin()
            .write(&mut out, &vec![0x41; len])
            .unwrap();
        out
    }

    fn eth(ether_type: u16, inner: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ether_type.to_be_bytes());
        f.extend_from_slice(inner);
        f
    }

    fn vlan(id: u16, ether_type: u16, inner: &[u8]) -> Vec<u8> {
        let mut f = id.to_be_bytes().to_vec();
        f.extend_from_slice(&ether_type.to_be_bytes());
        f.extend_from_slice(inner);
        f
    }

    /// An ICMP(v6) error from a router about `quoted` (cut to `keep` bytes).
    fn icmp_about(v6: bool, icmp_type: u8, code: u8, quoted: &[u8], keep: usize) -> Vec<u8> {
        let q = &quoted[..quoted.len().min(keep)];
        let mut out = Vec::new();
        if v6 {
            let mut router = [0u8; 16];
            router[0] = 0x20;
            router[15] = 1;
            let mut local = router;
            local[15] = 5;
            PacketBuilder::ipv6(router, local, 64)
                .icmpv6_raw(icmp_type, code, [0; 4])
                .write(&mut out, q)
                .unwrap();
        } else {
            PacketBuilder::ipv4([198, 51, 100, 1], [10, 0, 0, 5], 64)
                .icmpv4_raw(icmp_type, code, [0; 4])
                .write(&mut out, q)
                .unwrap();
        }
        out
    }

    fn decode_any(bytes: &[u8]) -> Result<Decoded, SkipReason> {
        decode_frame(
            LinkType::Ethernet,
            &Frame {
                ts: Timestamp::from_nanos(1),
                data: &bytes[..bytes.len().min(128)],
                wire_len: bytes.len() as u32,
            },
        )
    }

    #[test]
    fn icmp_errors_about_tcp_name_the_router_and_the_quoted_connection() {
        // Host unreachable from a router, quoting our segment with its payload.
        let frame = eth(0x0800, &icmp_about(false, 3, 1, &ipv4_tcp(100), 140));
        let Ok(Decoded::IcmpError(e)) = decode_any(&frame) else {
            panic!("{:?}", decode_any(&frame));
        };
        assert_eq!(e.router.to_string(), "198.51.100.1");
        assert_eq!(e.src.to_string(), "10.0.0.5:40000");
        assert_eq!(e.dst.to_string(), "203.0.113.10:5000");
        assert_eq!(e.seq, 7);
        assert_eq!(e.reason(), "destination unreachable (host unreachable)");
        // RFC 792's minimum quote: IP header + 8 bytes.
        let frame = eth(0x0800, &icmp_about(false, 11, 0, &ipv4_tcp(0), 28));
        let Ok(Decoded::IcmpError(e)) = decode_any(&frame) else {
            panic!("{:?}", decode_any(&frame));
        };
        assert_eq!(e.reason(), "time exceeded (TTL exceeded in transit)");
        // ICMPv6 hop limit exceeded.
        let frame = eth(0x86DD, &icmp_about(true, 3, 0, &ipv6_tcp(0), 48));
        let Ok(Decoded::IcmpError(e)) = decode_any(&frame) else {
            panic!("{:?}", decode_any(&frame));
        };
        assert!(e.v6 && e.router.is_ipv6());
        assert_eq!(e.dst.port(), 5000);
        assert_eq!(e.reason(), "time exceeded (hop limit exceeded in transit)");
    }

    #[test]
    fn other_icmp_is_not_tcp() {
        let mut udp = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 5], [203, 0, 113, 10], 64)
            .udp(5353, 53)
            .write(&mut udp, &[0; 8])
            .unwrap();
        for (name, frame) in [
            (
                "echo request",
                eth(0x0800, &icmp_about(false, 8, 0, &ipv4_tcp(0), 28)),
            ),
            (
                "error about UDP",
                eth(0x0800, &icmp_about(false, 3, 3, &udp, 28)),
            ),
            (
                "quote without the seq",
                eth(0x0800, &icmp_about(false, 3, 1, &ipv4_tcp(0), 24)),
            ),
            (
                "quote cut in the IP header",
                eth(0x0800, &icmp_about(false, 3, 1, &ipv4_tcp(0), 12)),
            ),
            (
                "ICMPv6 echo",
                eth(0x86DD, &icmp_about(true, 128, 0, &ipv6_tcp(0), 48)),
            ),
        ] {
            assert_eq!(decode_any(&frame), Err(SkipReason::NotTcp), "{name}");
        }
    }

    /// Decodes `bytes` cut to `snaplen`, with the full length as wire length.
    fn decode(link: LinkType, bytes: &[u8], snaplen: usize) -> Result<Segment, SkipReason> {
        let cut = &bytes[..bytes.len().min(snaplen)];
        match decode_frame(
            link,
            &Frame {
                ts: Timestamp::from_nanos(1),
                data: cut,
                wire_len: bytes.len() as u32,
            },
        )? {
            Decoded::Tcp(seg) => Ok(seg),
            Decoded::IcmpError(_) => Err(SkipReason::NotTcp),
        }
    }

    #[test]
    fn every_supported_link_type_yields_the_segment() {
        let v4 = ipv4_tcp(300);
        let mut null_le = 2u32.to_le_bytes().to_vec();
        null_le.extend_from_slice(&v4);
        let mut loop_be = 2u32.to_be_bytes().to_vec();
        loop_be.extend_from_slice(&v4);
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&v4);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        sll2.extend_from_slice(&v4);
        let mpls = {
            let mut labels = vec![0, 0x01, 0x00, 64, 0, 0x02, 0x01, 64]; // two labels, last has S bit
            labels.extend_from_slice(&v4);
            labels
        };
        let pppoe = {
            let mut p = vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x21];
            p.extend_from_slice(&v4);
            p
        };
        let cases: Vec<(&str, LinkType, Vec<u8>)> = vec![
            ("ethernet", LinkType::Ethernet, eth(0x0800, &v4)),
            (
                "802.1Q",
                LinkType::Ethernet,
                eth(0x8100, &vlan(100, 0x0800, &v4)),
            ),
            (
                "QinQ",
                LinkType::Ethernet,
                eth(0x88A8, &vlan(10, 0x8100, &vlan(100, 0x0800, &v4))),
            ),
            (
                "MPLS in VLAN",
                LinkType::Ethernet,
                eth(0x8100, &vlan(5, 0x8847, &mpls)),
            ),
            ("PPPoE", LinkType::Ethernet, eth(0x8864, &pppoe)),
            ("raw", LinkType::Raw, v4.clone()),
            ("ipv4", LinkType::Ipv4, v4.clone()),
            ("null", LinkType::Null, null_le),
            ("loop", LinkType::Loop, loop_be),
            ("linux sll", LinkType::LinuxSll, sll),
            ("linux sll2", LinkType::LinuxSll2, sll2),
        ];
        for (name, link, bytes) in cases {
            // Header-only snaplen: payload cut, length from the IP header.
            let s = decode(link, &bytes, bytes.len() - 300 + 10)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(s.src, "10.0.0.5:40000".parse().unwrap(), "{name}");
            assert_eq!(s.dst, "203.0.113.10:5000".parse().unwrap(), "{name}");
            assert_eq!((s.seq, s.ack), (7, 9), "{name}");
            assert!(s.flags.ack() && s.flags.psh() && !s.flags.syn(), "{name}");
            assert_eq!(
                s.payload_len, 300,
                "{name}: payload length from the IP header"
            );
        }
    }

    #[test]
    fn ipv6_with_cut_payload() {
        let v6 = ipv6_tcp(500);
        let s = decode(LinkType::Ethernet, &eth(0x86DD, &v6), 14 + 40 + 20).unwrap();
        assert_eq!(s.src.to_string(), "[2000::5]:40000");
        assert_eq!(s.payload_len, 500);
        assert!(s.flags.fin());
        assert_eq!(decode(LinkType::Ipv6, &v6, 80).unwrap().payload_len, 500);
    }

    #[test]
    fn tso_zero_total_length_falls_back_to_the_wire_length() {
        let mut v4 = ipv4_tcp(1200);
        v4[2] = 0;
        v4[3] = 0;
        let s = decode(LinkType::Ethernet, &eth(0x0800, &v4), 80).unwrap();
        assert_eq!(s.payload_len, 1200);
    }

    #[test]
    fn syn_options_are_read() {
        let mut out = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 5], [203, 0, 113, 10], 64)
            .tcp(40000, 5000, 7, 1000)
            .options(&[
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOptionElement::WindowScale(7),
                TcpOptionElement::Timestamp(11, 22),
            ])
            .unwrap()
            .syn()
            .write(&mut out, &[])
            .unwrap();
        let s = decode(LinkType::Raw, &out, 96).unwrap();
        assert_eq!(s.options.mss, Some(1460));
        assert_eq!(s.options.window_scale, Some(7));
        assert!(s.options.sack_permitted);
        assert_eq!(s.options.timestamps, Some((11, 22)));
        assert_eq!(s.seq_len(), 1);
    }

    #[test]
    fn bad_frames_are_skipped_with_a_reason() {
        let v4 = ipv4_tcp(10);
        let mut frag = v4.clone();
        frag[6] = 0x00;
        frag[7] = 0x10; // fragment offset 16 (x8 bytes)
        let mut udp = Vec::new();
        PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .udp(1, 2)
            .write(&mut udp, &[1, 2])
            .unwrap();
        let mut bad_offset = v4.clone();
        bad_offset[20 + 12] = 0x20; // TCP data offset 2 words
        let cases: Vec<(&str, LinkType, Vec<u8>, usize, SkipReason)> = vec![
            (
                "short ethernet",
                LinkType::Ethernet,
                vec![1, 2, 3],
                96,
                SkipReason::TruncatedLink,
            ),
            (
                "ARP",
                LinkType::Ethernet,
                eth(0x0806, &[0; 28]),
                96,
                SkipReason::NotIp,
            ),
            ("UDP", LinkType::Raw, udp, 96, SkipReason::NotTcp),
            (
                "non-first fragment",
                LinkType::Raw,
                frag,
                96,
                SkipReason::IpFragment,
            ),
            (
                "TCP header cut",
                LinkType::Raw,
                v4.clone(),
                30,
                SkipReason::TruncatedTcp,
            ),
            (
                "IP header cut",
                LinkType::Raw,
                v4.clone(),
                12,
                SkipReason::BadIpHeader,
            ),
            (
                "bad data offset",
                LinkType::Raw,
                bad_offset,
                96,
                SkipReason::BadTcpHeader,
            ),
            (
                "not IP in NULL",
                LinkType::Null,
                vec![0x1e, 0, 0, 0, 0x10, 0, 0],
                96,
                SkipReason::NotIp,
            ),
            (
                "empty",
                LinkType::LinuxSll2,
                vec![],
                96,
                SkipReason::TruncatedLink,
            ),
        ];
        let mut d = Decoder::new(LinkType::Raw);
        for (name, link, bytes, snap, want) in cases {
            assert_eq!(decode(link, &bytes, snap), Err(want), "{name}");
        }
        assert!(d
            .decode(&Frame {
                ts: Timestamp::from_nanos(0),
                data: &[0x45],
                wire_len: 1
            })
            .is_none());
        assert_eq!(d.skipped().get(SkipReason::BadIpHeader), 1);
        assert_eq!(d.frames(), 1);
    }

    #[test]
    fn every_prefix_of_a_frame_decodes_or_skips_without_panic() {
        let frame = eth(0x8100, &vlan(7, 0x86DD, &ipv6_tcp(40)));
        for link in [
            LinkType::Ethernet,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::Null,
            LinkType::Raw,
        ] {
            for cut in 0..frame.len() {
                let _ = decode(link, &frame[..cut], usize::MAX);
            }
        }
    }
}
