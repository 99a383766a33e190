//! The long night, generated: `days` of one persistent ISO-8583 link with
//! an echo every 30 s and an authorisation between them (5,760 exchanges
//! a day), and a fault every week: the peer's FIN and a refused request
//! (day 3, with a reconnect), a silence (day 10), a black hole (day 17),
//! a FIN and reconnect again (day 24). Not committed (30 days are 40 MB):
//! `tests/soak.rs` writes it where it runs, events declared as it goes.

use super::scenarios::{black_hole_episode, echo, handshake, transaction, HEADER_SNAPLEN, VISA};
use super::{Container, Conv, Framing, From, Scenario, F_ACK, F_FIN, F_PSH, F_RST};

const NS: i64 = 1_000_000_000;
const GRACE: i64 = 5 * NS;
const SILENCE: i64 = 45 * NS;
/// Exchanges a day: one every 15 s.
const SLOTS_A_DAY: u32 = 5_760;

/// The peer closes; our next request is refused by RST; we reconnect.
fn fin_and_reconnect(s: &mut Scenario, c: &mut Conv, port: &mut u16, seq: &mut u32) {
    s.segment(c, From::Peer, F_FIN | F_ACK, 0, "");
    s.expect(c, "fin", Some(From::Peer));
    let fin_ts = c.last_ts;
    s.segment(c, From::Local, F_ACK, 0, "");
    s.expect_link(fin_ts + GRACE, "visa-primary", "link_down", 0);
    s.wait(20.0);
    s.segment(c, From::Local, F_ACK | F_PSH, 180, "0200");
    s.segment(c, From::Peer, F_RST, 0, "");
    s.expect(c, "reset", Some(From::Peer));
    s.wait(1.0);
    *port += 1;
    *seq = seq.wrapping_add(7_919_000);
    *c = Conv::new(
        &format!("10.0.0.5:{port}"),
        "203.0.113.10:5000",
        VISA,
        *seq,
        seq.wrapping_mul(3),
    );
    handshake(s, c);
    s.expect_link(c.last_ts, "visa-primary", "link_up", 1);
}

/// Both ways mute for 70 s (silence_after is 45 s), then an echo.
fn silence(s: &mut Scenario, c: &mut Conv) {
    s.expect_at(
        c.last_ts + SILENCE,
        &c.clone(),
        "silence",
        None,
        Some(c.last_packet),
    );
    s.wait(70.0);
    echo(s, c);
    s.expect_at(
        c.last_ts - 2 * 500_000,
        &c.clone(),
        "silence_ended",
        None,
        Some(c.last_packet - 2),
    );
}

/// `days` days of the link (the first `days` of the 30-day night: a
/// shorter night is a prefix of the longer one).
pub fn night(days: u32) -> Scenario {
    let mut s = Scenario::new(
        "soak",
        "30 days of a persistent link with weekly faults",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let (mut port, mut seq) = (40_000u16, 1_000u32);
    let mut c = Conv::new("10.0.0.5:40000", "203.0.113.10:5000", VISA, seq, 3_000);
    handshake(&mut s, &mut c);
    for day in 0..days {
        for slot in 0..SLOTS_A_DAY {
            s.wait(15.0);
            if slot == 2_000 {
                match day {
                    2 | 23 => fin_and_reconnect(&mut s, &mut c, &mut port, &mut seq),
                    9 => silence(&mut s, &mut c),
                    16 => black_hole_episode(&mut s, &mut c),
                    _ => {}
                }
            }
            if slot % 2 == 0 {
                echo(&mut s, &mut c);
            } else {
                transaction(&mut s, &mut c);
            }
        }
    }
    s
}

/// `minutes` of a link used with a short connection a second (handshake,
/// request, answer, close): a trigger (`fin`) every second that never
/// stops.
pub fn short_connections(minutes: u32) -> Scenario {
    let mut s = Scenario::new(
        "short-connections",
        "a connection a second, each closed by us",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    for i in 0..minutes * 60 {
        let mut c = Conv::new(
            &format!("10.0.0.5:{}", 20_000 + i % 40_000),
            "203.0.113.10:5000",
            VISA,
            i.wrapping_mul(7_919),
            i.wrapping_mul(104_729),
        );
        handshake(&mut s, &mut c);
        transaction(&mut s, &mut c);
        s.segment(&mut c, From::Local, F_FIN | F_ACK, 0, "");
        s.segment(&mut c, From::Peer, F_FIN | F_ACK, 0, "");
        s.segment(&mut c, From::Local, F_ACK, 0, "");
        s.wait(1.0);
    }
    s.expected.clear();
    s
}
