//! The cost of the degradation analytics (issue 17), in one run:
//! memory per connection of the new state, and the tracker's time per
//! segment with the analytics on and off. `cargo bench --bench analytics`.
//!
//! The segments are made here (no capture file): `CONNS` persistent
//! connections, each a request a second for `SECONDS`, answered after a
//! response time with a round trip before it, with and without the TCP
//! timestamp option, in three shapes of round trip: constant, jittered
//! (uniform over ±10 %) and spread (1 to 200 ms: the worst case for the
//! sparse histograms). The replay-speed side (the whole `linewatch replay`
//! with analytics on and off) is `scripts/bench-analytics.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Instant;

use linewatch::config::Config;
use linewatch::decode::{IpMarks, Segment, TcpFlags, TcpOptions};
use linewatch::event::Event;
use linewatch::time::Timestamp;
use linewatch::track::Tracker;

const CONNS: u32 = 1_000;
const SECONDS: u32 = 120;

#[path = "shared/rng.rs"]
mod rng;
use rng::Rng;

#[derive(Copy, Clone, Debug)]
enum Shape {
    Constant,
    Jittered,
    Spread,
}

struct Conn {
    local: SocketAddr,
    peer: SocketAddr,
    lseq: u32,
    pseq: u32,
}

fn seg(
    c: &Conn,
    from_local: bool,
    ts: i64,
    flags: u8,
    len: u32,
    tsopt: Option<(u32, u32)>,
) -> Segment {
    let (src, dst, seq, ack) = if from_local {
        (c.local, c.peer, c.lseq, c.pseq)
    } else {
        (c.peer, c.local, c.pseq, c.lseq)
    };
    Segment {
        ts: Timestamp::from_nanos(ts),
        src,
        dst,
        seq,
        ack,
        flags: TcpFlags(flags),
        window: 64_240,
        payload_len: len,
        options: TcpOptions {
            timestamps: tsopt,
            ..TcpOptions::default()
        },
        ip: IpMarks {
            ttl: 64,
            df: true,
            id: 0,
        },
    }
}

/// Every segment of the workload, in time order.
fn workload(shape: Shape, timestamps: bool) -> Vec<Segment> {
    const A: u8 = TcpFlags::ACK;
    const PA: u8 = TcpFlags::ACK | TcpFlags::PSH;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut conns: Vec<Conn> = (0..CONNS)
        .map(|i| Conn {
            local: format!("10.0.{}.{}:{}", i / 250, i % 250 + 1, 40_000 + i)
                .parse()
                .unwrap(),
            peer: "203.0.113.10:5000".parse().unwrap(),
            lseq: 1_000,
            pseq: 900_000,
        })
        .collect();
    let mut out = Vec::new();
    let t0: i64 = 1_773_454_387 * 1_000_000_000;
    // Handshakes.
    for (i, c) in conns.iter_mut().enumerate() {
        let t = t0 + i as i64 * 1_000;
        out.push(seg(c, true, t, TcpFlags::SYN, 0, None));
        c.lseq += 1;
        out.push(seg(c, false, t + 100, TcpFlags::SYN | A, 0, None));
        c.pseq += 1;
        out.push(seg(c, true, t + 200, A, 0, None));
    }
    let ms = 1_000_000i64;
    let tsv = |t: i64| ((t - t0) / ms) as u32;
    for s in 1..=SECONDS {
        for (i, c) in conns.iter_mut().enumerate() {
            let base = 20.0;
            let rtt = match shape {
                Shape::Constant => base,
                Shape::Jittered => base * (0.9 + 0.2 * rng.unit()),
                Shape::Spread => 1.0 + 199.0 * rng.unit(),
            };
            let t = t0 + i64::from(s) * 1_000 * ms + i as i64 * 1_000;
            let t_ack = t + (rtt * ms as f64) as i64;
            let t_resp = t_ack + 100 * ms;
            let opt = |a: i64, b: i64| timestamps.then(|| (tsv(a), tsv(b)));
            out.push(seg(c, true, t, PA, 180, opt(t, t_resp)));
            c.lseq += 180;
            out.push(seg(c, false, t_ack, A, 0, opt(t_ack, t)));
            out.push(seg(c, false, t_resp, PA, 160, opt(t_resp, t)));
            c.pseq += 160;
            out.push(seg(c, true, t_resp + ms / 2, A, 0, opt(t_resp, t_resp)));
        }
    }
    out.sort_by_key(|s| s.ts);
    out
}

/// Feeds `segs` to a tracker for `config`; returns the tracker (before
/// its connections retire) and the time taken.
fn run(segs: &[Segment], config: &Config) -> (Tracker, std::time::Duration) {
    let mut t = Tracker::new(config);
    let mut out: Vec<Event> = Vec::new();
    let start = Instant::now();
    for (i, s) in segs.iter().enumerate() {
        t.on_segment(s, i as u64 + 1, &mut out);
        out.clear();
    }
    (t, start.elapsed())
}

fn main() {
    let on = Config::parse(
        "[[link]]\nname = \"visa\"\npeer = [\"203.0.113.10:5000\"]\nexpect_connections = 1000\n",
    )
    .unwrap();
    let off = Config::parse("[limits]\nmax_analyzed = 0\n\n[[link]]\nname = \"visa\"\npeer = [\"203.0.113.10:5000\"]\nexpect_connections = 1000\n").unwrap();
    println!(
        "Analytics: {CONNS} connections, a request a second for {SECONDS} s each (round trip, then the answer 100 ms later)"
    );
    println!(
        "  {:9} {:>10} {:>9} {:>12} {:>12} {:>14} {:>8}",
        "shape", "timestamps", "segments", "ns/seg off", "ns/seg on", "bytes/conn", "on/off"
    );
    for shape in [Shape::Constant, Shape::Jittered, Shape::Spread] {
        for timestamps in [false, true] {
            let segs = workload(shape, timestamps);
            // Best of 3 each, alternating.
            let (mut best_off, mut best_on) = (f64::MAX, f64::MAX);
            let mut bytes = 0;
            for _ in 0..3 {
                let (_, d) = run(&segs, &off);
                best_off = best_off.min(d.as_nanos() as f64 / segs.len() as f64);
                let (t, d) = run(&segs, &on);
                best_on = best_on.min(d.as_nanos() as f64 / segs.len() as f64);
                let st = t.analytics_stats();
                assert_eq!(st.connections, CONNS as usize);
                bytes = st.heap_bytes / st.connections;
                // Every connection was measured.
                let c = t.connections();
                let a = c.first().and_then(|c| c.analytics(t.now())).unwrap();
                assert!(a.rtt.samples > 0 && a.responses > 0);
            }
            println!(
                "  {:9} {:>10} {:>9} {:>12.1} {:>12.1} {:>14} {:>7.2}x",
                format!("{shape:?}"),
                timestamps,
                segs.len(),
                best_off,
                best_on,
                bytes,
                best_on / best_off
            );
        }
    }
}
