//! Properties of the tracker over arbitrary segment sequences (proptest):
//! it never panics; the flow table never passes its bound; feeding the
//! same packets with the clock advanced in between gives the same events;
//! every event about a connection is about one the tracker holds or has
//! just retired.

use std::collections::HashSet;
use std::net::SocketAddr;

use linewatch::config::Config;
use linewatch::decode::{IpMarks, Segment, TcpFlags, TcpOptions};
use linewatch::event::Event;
use linewatch::time::Timestamp;
use linewatch::track::Tracker;
use proptest::prelude::*;

const MAX_FLOWS: usize = 8;

/// One step: flags, which connection and direction, seq, ack, length, ms
/// since the last step, TTL.
type Step = (u8, u8, u16, u16, u8, u16, u8);

fn segment(&(flags, ends, seq, ack, len, _, ttl): &Step, now: i64) -> Segment {
    let local = SocketAddr::from(([10, 0, 0, 5], 40_000 + u16::from(ends & 0x0f)));
    let peer = SocketAddr::from(([203, 0, 113, 10 + (ends >> 6)], 5_000));
    let (src, dst) = if ends & 0x10 != 0 {
        (peer, local)
    } else {
        (local, peer)
    };
    Segment {
        ts: Timestamp::from_nanos(now),
        src,
        dst,
        seq: u32::from(seq),
        ack: u32::from(ack),
        flags: TcpFlags(flags & 0x1f),
        window: 1_000,
        payload_len: u32::from(len),
        options: TcpOptions::default(),
        ip: IpMarks {
            ttl,
            df: true,
            id: seq,
        },
    }
}

fn config(linked: bool) -> Config {
    let mut c = if linked {
        Config::parse("[[link]]\nname = \"visa\"\npeer = [\"203.0.113.10:5000\"]\nsilence_after = \"2s\"\nblack_hole_after = \"1s\"\nreconnect_grace = \"500ms\"\n")
            .unwrap()
    } else {
        Config::default()
    };
    c.max_flows = MAX_FLOWS;
    c
}

/// Feeds `steps`; with `tick`, advances the clock every `tick` ms of
/// packet time in between, as the daemon's timer does.
fn run(steps: &[Step], linked: bool, tick: Option<i64>) -> (Vec<Event>, Vec<String>) {
    let mut t = Tracker::new(&config(linked));
    let mut out = Vec::new();
    let mut now: i64 = 1_700_000_000_000_000_000;
    // The clock ticks from the first packet on, as a replay's does.
    let mut clock: Option<i64> = None;
    let mut problems = Vec::new();
    let mut known: HashSet<(SocketAddr, SocketAddr)> = HashSet::new();
    for (i, s) in steps.iter().enumerate() {
        now += i64::from(s.5) * 1_000_000;
        if let (Some(tick), Some(c)) = (tick, clock.as_mut()) {
            while *c + tick * 1_000_000 < now {
                *c += tick * 1_000_000;
                t.advance_to(Timestamp::from_nanos(*c), &mut out);
            }
        }
        clock.get_or_insert(now);
        let start = out.len();
        t.on_segment(&segment(s, now), i as u64 + 1, &mut out);
        if t.flows() > MAX_FLOWS {
            problems.push(format!("{} flows at step {i}", t.flows()));
        }
        // The connections it holds and has just retired.
        for c in t.connections() {
            known.insert((c.ends().local, c.ends().peer));
        }
        for c in t.drain_retired() {
            known.insert((c.ends.local, c.ends.peer));
        }
        for e in out.get(start..).unwrap_or_default() {
            if let Some(c) = e.conn {
                if !known.contains(&(c.local, c.peer)) {
                    problems.push(format!(
                        "{} about {c:?}, which the tracker never held",
                        e.kind.name()
                    ));
                }
            }
        }
    }
    t.finish(&mut out);
    (out, problems)
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            0u8..=200,
            prop_oneof![0u16..5, 0u16..3_000],
            prop_oneof![Just(52u8), Just(64u8), any::<u8>()],
        ),
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_segments_never_panic_and_keep_the_table_bounded(s in steps(), linked in any::<bool>()) {
        let (_, problems) = run(&s, linked, None);
        prop_assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn advancing_the_clock_between_packets_changes_no_event(s in steps(), linked in any::<bool>(), tick in 50i64..3_000) {
        let (whole, _) = run(&s, linked, None);
        let (stepwise, problems) = run(&s, linked, Some(tick));
        prop_assert!(problems.is_empty(), "{problems:?}");
        prop_assert_eq!(whole, stepwise);
    }
}
