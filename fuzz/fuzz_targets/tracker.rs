//! The tracker fed an arbitrary sequence of segments and time advances,
//! with and without a configured link: never a panic, the table within
//! its bound, and every event about a connection it holds or just retired.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linewatch::config::Config;
use linewatch::decode::{IpMarks, Segment, TcpFlags, TcpOptions};
use linewatch::time::Timestamp;
use linewatch::track::Tracker;

const MAX_FLOWS: usize = 16;

/// Ten bytes a step: kind/flags, endpoints, seq, ack, length, time, TTL.
fn step(b: &[u8], now: &mut i64) -> Option<Segment> {
    let [k, ends, s0, s1, a0, a1, len, dt, ttl, opt] = *b else {
        return None;
    };
    *now += i64::from(dt) * 100_000_000; // up to 25.5 s a step
    let local = std::net::SocketAddr::from(([10, 0, 0, 5], 40_000 + u16::from(ends & 0x07)));
    let peer = std::net::SocketAddr::from(([203, 0, 113, 10 + (ends >> 6)], 5_000));
    let (src, dst) = if ends & 0x08 != 0 { (peer, local) } else { (local, peer) };
    Some(Segment {
        ts: Timestamp::from_nanos(*now),
        src,
        dst,
        seq: u32::from(u16::from_be_bytes([s0, s1])) << (k & 0x0f),
        ack: u32::from(u16::from_be_bytes([a0, a1])) << (k >> 4),
        flags: TcpFlags(k),
        window: u16::from(opt) << 4,
        payload_len: u32::from(len),
        options: TcpOptions {
            window_scale: (opt & 0x10 != 0).then_some(opt & 0x0f),
            timestamps: (opt & 0x20 != 0).then_some((u32::from(dt), 0)),
            ..TcpOptions::default()
        },
        ip: IpMarks {
            ttl,
            df: opt & 0x40 != 0,
            id: u16::from_be_bytes([s1, a1]),
        },
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let mut config = if which & 1 == 0 {
        Config::default()
    } else {
        Config::parse("[[link]]\nname = \"visa\"\npeer = [\"203.0.113.10:5000\"]\n").expect("a config")
    };
    config.max_flows = MAX_FLOWS;
    let mut t = Tracker::new(&config);
    let mut out = Vec::new();
    let mut now: i64 = 1_700_000_000_000_000_000;
    for (i, chunk) in rest.chunks(10).enumerate() {
        let Some(seg) = step(chunk, &mut now) else {
            break;
        };
        if chunk[0] == 0xff {
            t.advance_to(seg.ts, &mut out);
        } else {
            t.on_segment(&seg, i as u64 + 1, &mut out);
        }
        assert!(t.flows() <= MAX_FLOWS, "the table past its bound");
    }
    t.finish(&mut out);
    assert_eq!(t.flows(), 0);
});
