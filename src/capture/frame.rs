//! The one conversion from a libpcap packet header to a [`Frame`].
//!
//! libpcap reports a packet's time as seconds plus a fraction in a
//! `struct timeval`, and what the fraction counts depends on how the
//! handle was opened: microseconds by default, nanoseconds when the
//! handle asked for `PCAP_TSTAMP_PRECISION_NANO` (the field is still
//! called `tv_usec`). linewatch opens capture files with nanosecond
//! precision (libpcap scales a microsecond file up) and live interfaces
//! with microsecond precision (every Linux interface offers it; not every
//! one offers nanoseconds, and the pcap crate does not say when a request
//! for them is refused). Reading the fraction with the wrong unit moves a
//! packet by up to a second, so [`Source`](super::Source) reads each kind
//! of handle in the precision it was opened with, and every caller goes
//! through here.

use pcap::{PacketHeader, Precision};

use crate::decode::Frame;
use crate::time::Timestamp;

/// The frame that libpcap's `header` and captured `data` describe, with
/// the header's fraction read in the `precision` the handle was opened with.
#[inline]
pub fn frame_of<'a>(header: &PacketHeader, data: &'a [u8], precision: Precision) -> Frame<'a> {
    let fraction = header.ts.tv_usec;
    let nanos = match precision {
        Precision::Micro => fraction.saturating_mul(1000),
        Precision::Nano => fraction,
    };
    Frame {
        ts: Timestamp::from_parts(header.ts.tv_sec, nanos),
        data,
        wire_len: header.len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(secs: i64, fraction: i64) -> PacketHeader {
        PacketHeader {
            ts: nix::libc::timeval {
                tv_sec: secs,
                tv_usec: fraction,
            },
            caplen: 3,
            len: 1514,
        }
    }

    #[test]
    fn a_microsecond_header_is_scaled_to_nanoseconds() {
        let data = [1u8, 2, 3];
        let f = frame_of(&header(1_600_135_987, 123_456), &data, Precision::Micro);
        assert_eq!(f.ts, Timestamp::from_parts(1_600_135_987, 123_456_000));
        assert_eq!(f.data, &data);
        assert_eq!(f.wire_len, 1514);
    }

    #[test]
    fn a_nanosecond_header_is_taken_as_it_is() {
        let f = frame_of(&header(1_600_135_987, 123_456_789), &[], Precision::Nano);
        assert_eq!(f.ts, Timestamp::from_parts(1_600_135_987, 123_456_789));
        assert_eq!(f.wire_len, 1514);
    }

    #[test]
    fn the_same_instant_reads_the_same_in_either_precision() {
        let micro = frame_of(&header(1_700_000_000, 999_999), &[], Precision::Micro);
        let nano = frame_of(&header(1_700_000_000, 999_999_000), &[], Precision::Nano);
        assert_eq!(micro.ts, nano.ts);
    }

    #[test]
    fn a_corrupt_fraction_saturates_instead_of_overflowing() {
        let f = frame_of(&header(i64::MAX, i64::MAX), &[], Precision::Micro);
        assert_eq!(f.ts, Timestamp::from_nanos(i64::MAX));
    }
}
