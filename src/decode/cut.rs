//! [`header_end`]: where a frame's headers end, so that the evidence
//! recorder keeps the headers and not one byte of payload.

use etherparse::{ip_number, LaxIpSlice};

use super::{link_payload, LinkType};

/// The offset in `data` (a captured frame of `link`) at which its TCP
/// header ends, options included; for an ICMP error about a TCP segment,
/// the end of the *quoted* TCP header (routers quote up to 1,280 bytes of
/// the original datagram, payload and all). `None` for a frame that is
/// neither (nothing of it is to be stored).
///
/// Why from the parsed headers and not a fixed snaplen: a snaplen that
/// keeps every header of an IPv6 segment with extension headers keeps
/// payload bytes of a plain IPv4 one. The cut is never past the captured
/// bytes.
pub fn header_end(link: LinkType, data: &[u8]) -> Option<usize> {
    let ip = link_payload(link, data).ok()?;
    let (ip_slice, _) = LaxIpSlice::from_slice(ip).ok()?;
    let payload = ip_slice.payload();
    let end = match payload.ip_number {
        ip_number::TCP => offset_in(data, payload.payload)? + tcp_header_len(payload.payload)?,
        ip_number::ICMP | ip_number::IPV6_ICMP => {
            let quoted = payload.payload.get(8..)?;
            let (q, _) = LaxIpSlice::from_slice(quoted).ok()?;
            let qp = q.payload();
            if qp.ip_number != ip_number::TCP {
                return None;
            }
            // A quote may stop inside the TCP header (RFC 792 asks for 8
            // bytes): all of what is there is header.
            let len = tcp_header_len(qp.payload).unwrap_or(qp.payload.len());
            offset_in(data, qp.payload)? + len.min(qp.payload.len())
        }
        _ => return None,
    };
    Some(end.min(data.len()))
}

/// A TCP header's length from its data offset (at least 20 bytes), if the
/// byte that holds it was captured.
fn tcp_header_len(tcp: &[u8]) -> Option<usize> {
    let offset = usize::from(tcp.get(12)? >> 4);
    Some((offset * 4).max(20))
}

/// Where `inner`, a slice of `data`, starts in it.
fn offset_in(data: &[u8], inner: &[u8]) -> Option<usize> {
    let at = (inner.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    (at <= data.len()).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const MARKER: &[u8] = b"4111111111111111";

    fn eth_ipv4_tcp(payload: &[u8], options: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 5], [203, 0, 113, 10], 64)
            .tcp(40000, 5000, 7, 1000)
            .ack(9)
            .psh();
        let b = if options {
            b.options(&[etherparse::TcpOptionElement::Timestamp(1, 2)])
                .unwrap()
        } else {
            b
        };
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn a_segment_is_cut_at_the_end_of_its_tcp_header_options_included() {
        let f = eth_ipv4_tcp(MARKER, false);
        assert_eq!(header_end(LinkType::Ethernet, &f), Some(14 + 20 + 20));
        let f = eth_ipv4_tcp(MARKER, true);
        let end = header_end(LinkType::Ethernet, &f).unwrap();
        assert_eq!(end, 14 + 20 + 32);
        assert_eq!(
            &f[end..],
            MARKER,
            "the cut is exactly where the payload starts"
        );
    }

    #[test]
    fn an_ipv6_segment_is_cut_after_its_tcp_header() {
        let mut f = Vec::new();
        PacketBuilder::ipv6([0x20; 16], [0x30; 16], 64)
            .tcp(40000, 5000, 7, 1000)
            .write(&mut f, MARKER)
            .unwrap();
        assert_eq!(header_end(LinkType::Raw, &f), Some(40 + 20));
    }

    #[test]
    fn an_icmp_error_is_cut_at_the_end_of_the_quoted_tcp_header() {
        let mut quoted = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 5], [203, 0, 113, 10], 64)
            .tcp(40000, 5000, 7, 1000)
            .write(&mut quoted, MARKER)
            .unwrap();
        let mut f = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 1], [10, 0, 0, 5], 64)
            .icmpv4_raw(3, 1, [0; 4])
            .write(&mut f, &quoted)
            .unwrap();
        let end = header_end(LinkType::Raw, &f).unwrap();
        assert_eq!(end, 20 + 8 + 20 + 20);
        assert_eq!(&f[end..], MARKER);
        // RFC 792's minimum quote: IP header and 8 bytes, all kept.
        let mut short = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 1], [10, 0, 0, 5], 64)
            .icmpv4_raw(11, 0, [0; 4])
            .write(&mut short, &quoted[..28])
            .unwrap();
        assert_eq!(header_end(LinkType::Raw, &short), Some(short.len()));
    }

    #[test]
    fn other_frames_have_nothing_to_store() {
        let mut udp = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 5], [203, 0, 113, 10], 64)
            .udp(1, 2)
            .write(&mut udp, MARKER)
            .unwrap();
        assert_eq!(header_end(LinkType::Raw, &udp), None);
        assert_eq!(header_end(LinkType::Ethernet, &[1, 2, 3]), None);
    }

    #[test]
    fn every_prefix_cuts_within_the_captured_bytes_without_panic() {
        let f = eth_ipv4_tcp(MARKER, true);
        for n in 0..=f.len() {
            if let Some(end) = header_end(LinkType::Ethernet, &f[..n]) {
                assert!(end <= n);
            }
        }
    }
}
