//! The attribution scenarios: FINs and RSTs from the endpoint, and RSTs
//! a middlebox sent in the peer's name, each labelled with who really sent
//! it (`Scenario::truth`) and declared with the verdict linewatch must give.

use super::scenarios::{handshake, traffic, transaction, HEADER_SNAPLEN, VISA};
use super::{Container, Conv, Framing, From, Habit, Scenario, F_ACK, F_FIN, F_PSH, F_RST, F_SYN};

/// The card network's host: 12 hops away (TTL 52), a per-connection IP ID
/// counter, DF, a 1 kHz timestamp clock on every segment (Linux).
const PEER: Habit = Habit {
    ttl: 52,
    id: Some(41_000),
    df: true,
    ts: Some(88_000_000),
};
/// Our payment server, captured on the host itself (TTL 64).
const LOCAL: Habit = Habit {
    ttl: 64,
    id: Some(1_200),
    df: true,
    ts: Some(5_000_000),
};
/// Our firewall, 2 hops from us: Linux `reject with tcp reset` (IP ID 0,
/// DF, no TCP options).
const FIREWALL: Habit = Habit {
    ttl: 62,
    id: None,
    df: true,
    ts: None,
};
/// An injector that copies the peer's TTL but not its IP IDs or timestamps.
const SPOOFER: Habit = Habit {
    ttl: 52,
    id: None,
    df: true,
    ts: None,
};
/// A carrier device 6 hops from us.
const CARRIER: Habit = Habit {
    ttl: 58,
    id: None,
    df: true,
    ts: None,
};

fn conv(port: u16, lseq: u32, pseq: u32) -> Conv {
    let mut c = Conv::new(
        &format!("10.0.0.5:{port}"),
        "203.0.113.10:5000",
        VISA,
        lseq,
        pseq,
    );
    c.local_habit = LOCAL;
    c.peer_habit = PEER;
    c
}

fn scenario(name: &'static str, about: &'static str) -> Scenario {
    Scenario::new(
        name,
        about,
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    )
}

/// Scenario `name` on the usual connection: the handshake, `seconds` of
/// traffic (the baseline), then `wait` seconds of quiet.
fn established(
    name: &'static str,
    about: &'static str,
    seconds: u32,
    wait: f64,
) -> (Scenario, Conv) {
    let mut s = scenario(name, about);
    let mut c = conv(40_123, 1_000, 2_000);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, seconds);
    s.wait(wait);
    (s, c)
}

/// A middlebox writing with `habit` resets `c` in the peer's name, `offset`
/// past the peer's next sequence number; declares `event` (`reset` or
/// `reset_ignored`) attributed to `sender`. Returns its packet number.
fn forged_reset(
    s: &mut Scenario,
    c: &mut Conv,
    habit: Habit,
    offset: u32,
    event: &str,
    sender: &str,
) -> u64 {
    let mut habit = habit;
    s.inject(c, From::Peer, F_RST | F_ACK, offset, &mut habit);
    s.expect(c, event, Some(From::Peer));
    s.attributed(sender);
    c.last_packet
}

/// The application reconnects on a new port, 1 s later.
fn reconnect(s: &mut Scenario) {
    s.wait(1.0);
    let mut c2 = conv(40_200, 70_000, 900_000);
    handshake(s, &mut c2);
    traffic(s, &mut c2, 30);
}

fn genuine_rst() -> Scenario {
    let (mut s, mut c) = established(
        "attribution-genuine-rst",
        "The card network's host aborts the connection: its RST has its usual TTL, the next IP ID and a timestamp on its clock. Attributed to the endpoint.",
        120,
        3.3,
    );
    s.segment(&mut c, From::Peer, F_RST | F_ACK, 0, "");
    s.expect(&c, "reset", Some(From::Peer));
    s.attributed("endpoint");
    reconnect(&mut s);
    s
}

fn genuine_fin() -> Scenario {
    let (mut s, mut c) = established(
        "attribution-genuine-fin",
        "The card network's host closes the connection with FIN and ours closes too: both FINs are attributed to their endpoints.",
        120,
        3.3,
    );
    s.segment(&mut c, From::Peer, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Peer));
    s.attributed("endpoint");
    s.segment(&mut c, From::Local, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Local));
    s.attributed("endpoint");
    s.expect(&c, "closed", None);
    s.segment(&mut c, From::Peer, F_ACK, 0, "");
    reconnect(&mut s);
    s
}

fn firewall_idle_rst() -> Scenario {
    let (mut s, mut c) = established(
        "attribution-firewall-idle-rst",
        "After 40 s without traffic our firewall's idle timeout resets the connection in the peer's name: its own TTL (62, 2 hops away, where the peer is 12), IP ID 0, no timestamp option. A middlebox, about 10 hops nearer.",
        120,
        40.0,
    );
    forged_reset(&mut s, &mut c, FIREWALL, 0, "reset", "middlebox");
    reconnect(&mut s);
    s
}

fn lost_race() -> Scenario {
    let (mut s, mut c) = established(
        "attribution-lost-race",
        "An injector that copies the peer's TTL answers our request with a RST; the peer's real response arrives 3 ms later, and its retransmission, which our host (having taken the RST) answers with RSTs. The first verdict is unknown (the TTL is the usual one); the peer's data after the RST revises it: a middlebox, which lost the race.",
        60,
        2.1,
    );
    s.segment(&mut c, From::Local, F_ACK | F_PSH, 180, "0200");
    let rst = forged_reset(&mut s, &mut c, SPOOFER, 0, "reset", "unknown");
    s.wait(0.003);
    s.segment(&mut c, From::Peer, F_ACK | F_PSH, 160, "0210");
    s.expect_revised(&c, "reset", rst, From::Peer, "middlebox", false);
    s.segment(&mut c, From::Local, F_RST, 0, "");
    s.wait(0.2);
    s.retransmit(&mut c, From::Peer, 160);
    s.segment(&mut c, From::Local, F_RST, 0, "");
    reconnect(&mut s);
    s
}

fn jumping_seq() -> Scenario {
    let (mut s, mut c) = established(
        "attribution-jumping-seq",
        "An injector that copies the peer's TTL sprays three RSTs across our receive window (sequence numbers 14,600 apart) within a millisecond. The first alone is unknown; the third makes it a middlebox.",
        60,
        2.1,
    );
    let mut spoofer = SPOOFER;
    s.inject(&mut c, From::Peer, F_RST, 0, &mut spoofer);
    s.expect(&c, "reset", Some(From::Peer));
    s.attributed("unknown");
    let first = c.last_packet;
    s.inject(&mut c, From::Peer, F_RST, 14_600, &mut spoofer);
    s.inject(&mut c, From::Peer, F_RST, 29_200, &mut spoofer);
    s.expect_revised(&c, "reset", first, From::Peer, "middlebox", false);
    reconnect(&mut s);
    s
}

fn challenge_ack() -> Scenario {
    let (mut s, mut c) = established(
        "attribution-challenge-ack",
        "A carrier device 6 hops away sends a RST in the peer's name, inside our window but not at the expected sequence number: our host answers with a challenge ACK (RFC 5961) and keeps the connection; the payments go on both ways. A middlebox; the connection is up again and the link never goes down.",
        60,
        2.1,
    );
    let rst = forged_reset(&mut s, &mut c, CARRIER, 1_000, "reset", "middlebox");
    // The challenge ACK, at once.
    s.segment(&mut c, From::Local, F_ACK, 0, "");
    s.wait(1.0);
    s.segment(&mut c, From::Local, F_ACK | F_PSH, 180, "0200");
    s.segment(&mut c, From::Peer, F_ACK | F_PSH, 160, "0210");
    s.expect_revised(&c, "reset", rst, From::Peer, "middlebox", true);
    s.segment(&mut c, From::Local, F_ACK, 0, "");
    traffic(&mut s, &mut c, 60);
    s
}

fn out_of_window() -> Scenario {
    let (mut s, mut c) = established(
        "attribution-out-of-window",
        "A RST in the peer's name a gigabyte outside our receive window: our host ignores it (RFC 793, RFC 5961), and so does linewatch (reset_ignored); the connection stays up.",
        60,
        2.1,
    );
    forged_reset(
        &mut s,
        &mut c,
        CARRIER,
        0x4000_0000,
        "reset_ignored",
        "middlebox",
    );
    traffic(&mut s, &mut c, 60);
    s
}

fn ipv6_firewall() -> Scenario {
    let mut s = scenario(
        "attribution-ipv6-firewall",
        "The firewall's idle-timeout RST over IPv6: hop limit 62 where the peer's is 55, no timestamp option. A middlebox about 7 hops nearer.",
    )
    .with_config("linewatch-v6.toml");
    let v6 = |port: u16, lseq, pseq| {
        let mut c = Conv::new(
            &format!("[2001:db8::5]:{port}"),
            "[2001:db8::10]:5000",
            Some("visa-v6"),
            lseq,
            pseq,
        );
        c.local_habit = LOCAL;
        c.peer_habit = Habit { ttl: 55, ..PEER };
        c
    };
    let mut c = v6(40_123, 1_000, 2_000);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 120);
    s.wait(40.0);
    forged_reset(&mut s, &mut c, FIREWALL, 0, "reset", "middlebox");
    s.wait(1.0);
    let mut c2 = v6(40_200, 70_000, 900_000);
    handshake(&mut s, &mut c2);
    transaction(&mut s, &mut c2);
    s
}

fn route_change() -> Scenario {
    let mut s = scenario(
        "attribution-route-change",
        "The carrier moves the line to a route one hop shorter: the peer's TTL goes from 52 to 53 and stays there. An hour later the peer's host aborts the connection with its own RST at TTL 53: the endpoint, not a middlebox.",
    );
    let mut c = conv(40_123, 1_000, 2_000);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 600);
    c.peer_habit.ttl = 53;
    traffic(&mut s, &mut c, 3_600);
    s.wait(3.3);
    s.segment(&mut c, From::Peer, F_RST | F_ACK, 0, "");
    s.expect(&c, "reset", Some(From::Peer));
    s.attributed("endpoint");
    reconnect(&mut s);
    s
}

fn firewall_refusal() -> Scenario {
    let mut s = scenario(
        "attribution-firewall-refusal",
        "The card network closes the connection with FIN. Our reconnects are refused twice by our firewall (RST at TTL 62: the peer's host answers at 52), then once by the peer's own host (its port closed: TTL 52, no timestamp, IP ID 0, as Linux answers without a socket); the next attempt gets through. Refusals have no packets of their own to judge: the peer host's TTL from its earlier connection does it.",
    );
    let mut c = conv(40_123, 1_000, 2_000);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 60);
    s.wait(3.3);
    s.segment(&mut c, From::Peer, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Peer));
    s.attributed("endpoint");
    s.segment(&mut c, From::Local, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Local));
    s.attributed("endpoint");
    s.expect(&c, "closed", None);
    s.segment(&mut c, From::Peer, F_ACK, 0, "");
    for (i, by) in ["firewall", "firewall", "peer"].into_iter().enumerate() {
        s.wait(1.0);
        let mut a = conv(40_201 + i as u16, 50_000, 0);
        s.segment(&mut a, From::Local, F_SYN, 0, "");
        if by == "firewall" {
            let mut firewall = FIREWALL;
            s.inject(&mut a, From::Peer, F_RST | F_ACK, 0, &mut firewall);
            s.expect(&a, "refused", None);
            s.attributed("middlebox");
        } else {
            a.peer_habit = Habit {
                ts: None,
                id: None,
                ..PEER
            };
            s.segment(&mut a, From::Peer, F_RST | F_ACK, 0, "");
            s.expect(&a, "refused", None);
            s.attributed("endpoint");
        }
    }
    s.wait(1.0);
    let mut ok = conv(40_210, 70_000, 900_000);
    handshake(&mut s, &mut ok);
    traffic(&mut s, &mut ok, 30);
    s
}

/// Every attribution scenario.
pub fn all() -> Vec<Scenario> {
    vec![
        genuine_rst(),
        genuine_fin(),
        firewall_idle_rst(),
        lost_race(),
        jumping_seq(),
        challenge_ack(),
        out_of_window(),
        ipv6_firewall(),
        route_change(),
        firewall_refusal(),
    ]
}
