//! The frame nearly every capture is made of, decoded by hand: IPv4
//! without options, not a fragment, carrying TCP whose options are none
//! or the usual NOP, NOP, timestamps.
//!
//! The general path (etherparse's lax slices, every option) costs about
//! 200 instructions a frame; this one a fraction of that, and the decode
//! thread is what bounds a replay with a config. It answers only when it
//! is sure: anything else (IP options, fragments, a short or odd TCP
//! header, other options) returns `None` and the general path decides,
//! errors and counters included. Where it answers, it gives exactly the
//! general path's segment: a test compares the two on every byte of
//! mutated frames and on every frame of the fixtures and shared captures.

use std::net::{Ipv4Addr, SocketAddr};

use super::{Frame, IpMarks, Segment, TcpFlags};

/// Decodes `ip` (the IP header onwards, `ip_offset` bytes into `frame`)
/// when it is the common case; `None` otherwise.
#[inline]
pub(super) fn ipv4_tcp(ip: &[u8], frame: &Frame<'_>, ip_offset: usize) -> Option<Segment> {
    let header: [u8; 20] = ip.get(..20)?.try_into().ok()?;
    let [version_ihl, _, len0, len1, id0, id1, frag0, frag1, ttl, protocol, _, _, s0, s1, s2, s3, d0, d1, d2, d3] =
        header;
    // Version 4 with a 20-byte header; TCP; fragment offset 0 and no
    // more-fragments flag.
    if version_ihl != 0x45 || protocol != 6 || frag0 & 0x3f != 0 || frag1 != 0 {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([len0, len1]));
    // etherparse's lax rule: a total length shorter than the header or
    // longer than what was captured falls back to the captured bytes.
    let end = if total_len < 20 || total_len > ip.len() {
        ip.len()
    } else {
        total_len
    };
    let tcp = ip.get(20..end)?;
    let fixed: [u8; 20] = tcp.get(..20)?.try_into().ok()?;
    let [sp0, sp1, dp0, dp1, q0, q1, q2, q3, a0, a1, a2, a3, data_offset, flags, w0, w1, ..] =
        fixed;
    let header_len = usize::from(data_offset >> 4) * 4;
    if header_len < 20 {
        return None;
    }
    let options = super::usual_options(tcp.get(20..header_len)?)?;
    // Lengths from the IP header; a total length of 0 (TSO on the
    // capturing host) from the frame's wire length.
    let total = if total_len < 20 {
        (frame.wire_len as usize).saturating_sub(ip_offset)
    } else {
        total_len
    };
    let payload_len = total.saturating_sub(20).saturating_sub(header_len);
    Some(Segment {
        ts: frame.ts,
        src: SocketAddr::from((
            Ipv4Addr::new(s0, s1, s2, s3),
            u16::from_be_bytes([sp0, sp1]),
        )),
        dst: SocketAddr::from((
            Ipv4Addr::new(d0, d1, d2, d3),
            u16::from_be_bytes([dp0, dp1]),
        )),
        seq: u32::from_be_bytes([q0, q1, q2, q3]),
        ack: u32::from_be_bytes([a0, a1, a2, a3]),
        flags: TcpFlags(flags),
        window: u16::from_be_bytes([w0, w1]),
        payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        options,
        ip: IpMarks {
            ttl,
            df: frag0 & 0x40 != 0,
            id: u16::from_be_bytes([id0, id1]),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode_ip, Decoded};
    use crate::time::Timestamp;
    use etherparse::{PacketBuilder, TcpOptionElement};

    /// IPv4 TCP packets (from the IP header on) the fast path should take,
    /// and some it should leave to the general path.
    fn templates() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let options: [&[TcpOptionElement]; 4] = [
            &[],
            &[
                TcpOptionElement::Noop,
                TcpOptionElement::Noop,
                TcpOptionElement::Timestamp(7, 9),
            ],
            &[
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOptionElement::Timestamp(1, 0),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(7),
            ],
            &[
                TcpOptionElement::Noop,
                TcpOptionElement::Noop,
                TcpOptionElement::SelectiveAcknowledgement((5, 9), [None, None, None]),
            ],
        ];
        for opts in options {
            for payload in [0usize, 1, 40] {
                let mut p = Vec::new();
                PacketBuilder::ipv4([10, 0, 0, 5], [203, 0, 113, 10], 64)
                    .tcp(40000, 5000, 0x0102_0304, 1000)
                    .ack(0x0a0b_0c0d)
                    .psh()
                    .options(opts)
                    .unwrap()
                    .write(&mut p, &vec![0x41; payload])
                    .unwrap();
                out.push(p);
            }
        }
        out
    }

    /// The fast path's answer, where it gives one, is the general path's.
    fn check(ip: &[u8], wire_len: u32, hits: &mut usize) {
        // As if behind a 14-byte Ethernet header.
        let frame = Frame {
            ts: Timestamp::from_nanos(1_700_000_000_123_456_789),
            data: ip,
            wire_len,
        };
        if let Some(seg) = ipv4_tcp(ip, &frame, 14) {
            *hits += 1;
            assert_eq!(
                decode_ip(ip, &frame, 14),
                Ok(Decoded::Tcp(seg)),
                "fast and general paths differ on {ip:02x?} (wire length {wire_len})"
            );
        }
    }

    #[test]
    fn fast_path_agrees_with_the_general_path_on_mutated_frames() {
        let mut hits = 0;
        for t in templates() {
            let len = u32::try_from(t.len()).unwrap();
            for wire in [len + 14, 14, 0, 1514] {
                check(&t, wire, &mut hits);
                // Every cut of the frame.
                for cut in 0..t.len() {
                    check(&t[..cut], wire, &mut hits);
                }
                // Every header byte set to values that matter somewhere.
                for i in 0..t.len().min(72) {
                    for v in [
                        0u8, 1, 2, 4, 5, 6, 8, 10, 0x20, 0x3f, 0x40, 0x45, 0x46, 0x50, 0x60, 0xf0,
                        0xff,
                    ] {
                        let mut m = t.clone();
                        m[i] = v;
                        check(&m, wire, &mut hits);
                        m[i] = t[i] ^ 0x01;
                        check(&m, wire, &mut hits);
                    }
                }
            }
        }
        // Not a test that passes by never taking the fast path.
        assert!(hits > 10_000, "fast path taken only {hits} times");
    }

    fn frame(data: &[u8]) -> Frame<'_> {
        Frame {
            ts: Timestamp::from_nanos(0),
            data,
            wire_len: 0,
        }
    }

    #[test]
    fn fast_path_takes_the_common_frames_and_leaves_the_rest() {
        let t = templates();
        let fast = |d: &[u8]| ipv4_tcp(d, &frame(d), 14);
        // No options, and NOP NOP timestamps: taken.
        assert!(fast(&t[0]).is_some());
        assert!(fast(&t[3]).is_some());
        // A SYN's options, SACK blocks: left to the general path.
        assert!(fast(&t[6]).is_none());
        assert!(fast(&t[9]).is_none());
        // IP options (IHL 6), a fragment, UDP: left.
        for (i, v) in [(0usize, 0x46u8), (6, 0x20), (7, 0x01), (9, 17)] {
            let mut m = t[0].clone();
            m[i] = v;
            assert!(fast(&m).is_none(), "byte {i} = {v:#x}");
        }
    }
}
