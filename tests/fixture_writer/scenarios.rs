//! The scenarios: each a small story from a payment link's life.

use super::{
    declared, Container, Conv, Framing, From, Scenario, FULL_SNAPLEN, F_ACK, F_FIN, F_PSH, F_RST,
    F_SYN,
};

const NS: i64 = 1_000_000_000;
pub(super) const VISA: Option<&str> = Some("visa-primary");
/// Header-only snaplen: Ethernet + 2 VLAN tags + IPv6 + TCP with options.
pub(super) const HEADER_SNAPLEN: usize = 134;
const GRACE: i64 = 5 * NS;
const SILENCE: i64 = 45 * NS;
const BLACK_HOLE: i64 = 10 * NS;

pub(super) fn handshake(s: &mut Scenario, c: &mut Conv) {
    s.segment(c, From::Local, F_SYN, 0, "");
    s.segment(c, From::Peer, F_SYN | F_ACK, 0, "");
    s.segment(c, From::Local, F_ACK, 0, "");
    s.expect(c, "established", None);
}

/// ISO-8583 network management echo (0800/0810) and its ACK.
pub(super) fn echo(s: &mut Scenario, c: &mut Conv) {
    s.segment(c, From::Local, F_ACK | F_PSH, 64, "0800");
    s.segment(c, From::Peer, F_ACK | F_PSH, 64, "0810");
    s.segment(c, From::Local, F_ACK, 0, "");
}

/// An authorisation request/response (0200/0210) and its ACK.
pub(super) fn transaction(s: &mut Scenario, c: &mut Conv) {
    s.segment(c, From::Local, F_ACK | F_PSH, 180, "0200");
    s.segment(c, From::Peer, F_ACK | F_PSH, 160, "0210");
    s.segment(c, From::Local, F_ACK, 0, "");
}

/// `minutes` of normal traffic: a transaction every 10 s, an echo every 30 s.
pub(super) fn traffic(s: &mut Scenario, c: &mut Conv, seconds: u32) {
    for i in 0..seconds / 10 {
        s.wait(10.0);
        if i % 3 == 2 {
            echo(s, c);
        } else {
            transaction(s, c);
        }
    }
}

fn fin_from_peer() -> Scenario {
    let mut s = Scenario::new(
        "iso8583-fin-from-peer",
        "The incident: a persistent ISO-8583 connection with echo heartbeats; after 10 minutes the card network sends FIN. The application does not notice; 20 s later its next request is answered by RST. It reconnects a second later.",
        Framing::Ethernet,
        Container::PcapNano,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new(
        "10.0.0.5:40123",
        "203.0.113.10:5000",
        VISA,
        1_000_000,
        3_000_000_000,
    );
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 600);
    s.wait(4.2);
    s.segment(&mut c, From::Peer, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Peer));
    let fin_ts = c.last_ts;
    s.segment(&mut c, From::Local, F_ACK, 0, "");
    s.expect_link(fin_ts + GRACE, "visa-primary", "link_down", 0);
    s.wait(20.0);
    s.segment(&mut c, From::Local, F_ACK | F_PSH, 180, "0200");
    s.segment(&mut c, From::Peer, F_RST, 0, "");
    s.expect(&c, "reset", Some(From::Peer));
    s.wait(1.0);
    let mut c2 = Conv::new(
        "10.0.0.5:40124",
        "203.0.113.10:5000",
        VISA,
        5_000_000,
        3_900_000_000,
    );
    handshake(&mut s, &mut c2);
    s.expect_link(c2.last_ts, "visa-primary", "link_up", 1);
    traffic(&mut s, &mut c2, 30);
    s
}

fn rst_from_peer() -> Scenario {
    let mut s = Scenario::new(
        "rst-from-peer",
        "The card network aborts the connection with RST; the application reconnects within 2 s, inside the reconnect grace, so the link never counts as down.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 1_000, 2_000);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 120);
    s.wait(3.3);
    s.segment(&mut c, From::Peer, F_RST | F_ACK, 0, "");
    s.expect(&c, "reset", Some(From::Peer));
    s.wait(2.0);
    let mut c2 = Conv::new("10.0.0.5:40124", "203.0.113.10:5000", VISA, 9_000, 8_000);
    handshake(&mut s, &mut c2);
    traffic(&mut s, &mut c2, 30);
    s
}

fn rst_from_local() -> Scenario {
    let mut s = Scenario::new(
        "rst-from-local",
        "Our side aborts the connection (RST from local); the application reconnects 30 s later.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 10, 20);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 60);
    s.wait(1.7);
    s.segment(&mut c, From::Local, F_RST | F_ACK, 0, "");
    s.expect(&c, "reset", Some(From::Local));
    s.expect_link(c.last_ts + GRACE, "visa-primary", "link_down", 0);
    s.wait(30.0);
    let mut c2 = Conv::new("10.0.0.5:40124", "203.0.113.10:5000", VISA, 30, 40);
    handshake(&mut s, &mut c2);
    s.expect_link(c2.last_ts, "visa-primary", "link_up", 1);
    traffic(&mut s, &mut c2, 20);
    s
}

fn silence() -> Scenario {
    let mut s = Scenario::new(
        "silence",
        "Heartbeats stop both ways for 70 s (longer than silence_after = 45 s), then resume.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 100, 200);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 60);
    let last = c.last_ts;
    s.expect_at(
        last + SILENCE,
        &c.clone(),
        "silence",
        None,
        Some(c.last_packet),
    );
    s.wait(70.0);
    echo(&mut s, &mut c);
    // silence_ended comes with the first packet after the silence.
    let resumed_packet = c.last_packet - 2;
    let resumed_ts = c.last_ts - 2 * 500_000;
    s.expect_at(
        resumed_ts,
        &c.clone(),
        "silence_ended",
        None,
        Some(resumed_packet),
    );
    traffic(&mut s, &mut c, 30);
    s
}

fn black_hole() -> Scenario {
    let mut s = Scenario::new(
        "black-hole",
        "Our request is never acknowledged: the local stack retransmits with exponential backoff for 25 s while the peer stays mute; then the line recovers and the peer acknowledges.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 5_000, 6_000);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 40);
    s.wait(2.0);
    black_hole_episode(&mut s, &mut c);
    traffic(&mut s, &mut c, 30);
    s
}

/// A request retransmitted with exponential backoff for 19 s while the
/// peer stays mute, then its answer: `black_hole` 10 s after the request,
/// `black_hole_ended` at the answer.
pub(super) fn black_hole_episode(s: &mut Scenario, c: &mut Conv) {
    s.segment(c, From::Local, F_ACK | F_PSH, 180, "0200");
    let (first_ts, first_packet) = (c.last_ts, c.last_packet);
    for rto in [0.3, 0.6, 1.2, 2.4, 4.8, 9.6] {
        s.wait(rto);
        s.retransmit(c, From::Local, 180);
    }
    s.expect_at(
        first_ts + BLACK_HOLE,
        &c.clone(),
        "black_hole",
        None,
        Some(first_packet),
    );
    s.wait(6.0);
    s.segment(c, From::Peer, F_ACK | F_PSH, 160, "0210");
    s.expect(c, "black_hole_ended", None);
    s.segment(c, From::Local, F_ACK, 0, "");
}

fn icmp_unreachable() -> Scenario {
    let mut s = Scenario::new(
        "icmp-unreachable",
        "The carrier's edge router (198.51.100.1) loses its route to the card network: our request is never acknowledged, and the router answers it and each retransmission with ICMP host unreachable. The timeline names the router once a minute (the first report, then a repeat after 60 s), beside the black hole; then the route is back.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 9_000, 9_500);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 30);
    s.wait(2.0);
    s.segment(&mut c, From::Local, F_ACK | F_PSH, 180, "0200");
    let (first_ts, first_packet) = (c.last_ts, c.last_packet);
    s.wait(0.002);
    s.icmp_error(&c, [198, 51, 100, 1], 3, 1, 180);
    let icmp = |s: &mut Scenario, c: &Conv| {
        let ts = s.now - 500_000;
        s.expect_at(ts, c, "icmp_error", None, Some(s.packets()));
        if let Some(v) = s.expected.last_mut() {
            v["router"] = "198.51.100.1".into();
            v["reason"] = "destination unreachable (host unreachable)".into();
        }
    };
    icmp(&mut s, &c);
    // Retransmissions, each answered by the router: one report a minute.
    let mut last_report = s.now - 500_000;
    for rto in [0.3, 0.6, 1.2, 2.4, 4.8, 9.6, 19.2, 38.4] {
        s.wait(rto);
        s.retransmit(&mut c, From::Local, 180);
        s.wait(0.002);
        let ts = s.now;
        s.icmp_error(&c, [198, 51, 100, 1], 3, 1, 180);
        if ts >= last_report + 60 * NS {
            icmp(&mut s, &c);
            last_report = ts;
        }
    }
    // The black hole, 10 s after the first unacknowledged send, in time order.
    let bh = declared(first_ts + BLACK_HOLE, &c, "black_hole", Some(first_packet));
    let at = s
        .expected
        .iter()
        .position(|v| v["ts"].as_f64().unwrap() > (first_ts + BLACK_HOLE) as f64 / NS as f64)
        .unwrap_or(s.expected.len());
    s.expected.insert(at, bh);
    s.wait(3.0);
    s.segment(&mut c, From::Peer, F_ACK | F_PSH, 160, "0210");
    s.expect(&c, "black_hole_ended", None);
    s.segment(&mut c, From::Local, F_ACK, 0, "");
    traffic(&mut s, &mut c, 30);
    s
}

fn refused_reconnects() -> Scenario {
    let mut s = Scenario::new(
        "refused-reconnects",
        "After a RST from the peer, the application's reconnects are refused (SYN answered by RST) three times; the link goes down after the 5 s grace; the fourth attempt succeeds.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 1, 2);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 60);
    s.wait(2.5);
    s.segment(&mut c, From::Peer, F_RST | F_ACK, 0, "");
    s.expect(&c, "reset", Some(From::Peer));
    let reset_ts = c.last_ts;
    for (i, gap) in [(0u16, 1.0), (1, 2.0), (2, 4.0)] {
        s.wait(gap);
        let mut a = Conv::new(
            &format!("10.0.0.5:{}", 40124 + i),
            "203.0.113.10:5000",
            VISA,
            100 * u32::from(i + 1),
            0,
        );
        s.segment(&mut a, From::Local, F_SYN, 0, "");
        s.segment(&mut a, From::Peer, F_RST | F_ACK, 0, "");
        if i == 2 {
            s.expect_link(reset_ts + GRACE, "visa-primary", "link_down", 0);
        }
        s.expect(&a, "refused", None);
    }
    s.wait(8.0);
    let mut ok = Conv::new("10.0.0.5:40127", "203.0.113.10:5000", VISA, 400, 500);
    handshake(&mut s, &mut ok);
    s.expect_link(ok.last_ts, "visa-primary", "link_up", 1);
    traffic(&mut s, &mut ok, 30);
    s
}

fn mid_stream() -> Scenario {
    let mut s = Scenario::new(
        "mid-stream",
        "The probe starts while the persistent connection has been up for days: the first packet is a response from the peer.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new(
        "10.0.0.5:40123",
        "203.0.113.10:5000",
        VISA,
        77_777_777,
        88_888_888,
    );
    s.segment(&mut c, From::Peer, F_ACK | F_PSH, 160, "0210");
    s.expect(&c, "discovered", None);
    s.segment(&mut c, From::Local, F_ACK, 0, "");
    traffic(&mut s, &mut c, 120);
    s
}

fn vlan() -> Scenario {
    let mut s = Scenario::new(
        "vlan",
        "802.1Q-tagged (VLAN 100) link: the peer closes with FIN, we close too, and the application reconnects 3 s later, within the grace.",
        Framing::Vlan(100),
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new(
        "10.0.0.5:40123",
        "203.0.113.10:5000",
        VISA,
        4_294_967_000,
        12,
    );
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 30);
    s.wait(1.0);
    s.segment(&mut c, From::Peer, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Peer));
    s.segment(&mut c, From::Local, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Local));
    s.expect(&c, "closed", None);
    s.segment(&mut c, From::Peer, F_ACK, 0, "");
    s.wait(3.0);
    let mut c2 = Conv::new("10.0.0.5:40124", "203.0.113.10:5000", VISA, 50, 60);
    handshake(&mut s, &mut c2);
    traffic(&mut s, &mut c2, 20);
    s
}

fn ipv6() -> Scenario {
    let mut s = Scenario::new(
        "ipv6",
        "An IPv6 link: RST from the peer, the link is down after the grace, back 10 s later.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    )
    .with_config("linewatch-v6.toml");
    let link = Some("visa-v6");
    let mut c = Conv::new("[2001:db8::5]:40123", "[2001:db8::10]:5000", link, 1, 2);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 40);
    s.wait(2.0);
    s.segment(&mut c, From::Peer, F_RST | F_ACK, 0, "");
    s.expect(&c, "reset", Some(From::Peer));
    s.expect_link(c.last_ts + GRACE, "visa-v6", "link_down", 0);
    s.wait(10.0);
    let mut c2 = Conv::new("[2001:db8::5]:40124", "[2001:db8::10]:5000", link, 3, 4);
    handshake(&mut s, &mut c2);
    s.expect_link(c2.last_ts, "visa-v6", "link_up", 1);
    traffic(&mut s, &mut c2, 20);
    s
}

fn linux_sll2() -> Scenario {
    let mut s = Scenario::new(
        "linux-sll2",
        "Captured with `tcpdump -i any` (LINUX_SLL2): we close first (FIN from local), the peer follows; the application reconnects after 8 s.",
        Framing::LinuxSll2,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 1, 2);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 30);
    s.wait(1.0);
    s.segment(&mut c, From::Local, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Local));
    s.segment(&mut c, From::Peer, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Peer));
    s.expect(&c, "closed", None);
    let closed = c.last_ts;
    s.segment(&mut c, From::Local, F_ACK, 0, "");
    s.expect_link(closed - 500_000 + GRACE, "visa-primary", "link_down", 0);
    s.wait(8.0);
    let mut c2 = Conv::new("10.0.0.5:40124", "203.0.113.10:5000", VISA, 5, 6);
    handshake(&mut s, &mut c2);
    s.expect_link(c2.last_ts, "visa-primary", "link_up", 1);
    traffic(&mut s, &mut c2, 20);
    s
}

fn pcapng_two_interfaces() -> Scenario {
    let mut s = Scenario::new(
        "pcapng-two-interfaces",
        "pcapng with two interfaces: the primary line on the first, the backup line on the second. The backup's peer resets; the primary stays healthy.",
        Framing::Ethernet,
        Container::PcapngTwoInterfaces,
        HEADER_SNAPLEN,
    )
    .with_config("linewatch-two-lines.toml");
    let mut p = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 1, 2);
    let mut b = Conv::new(
        "10.0.1.5:40200",
        "198.51.100.20:5000",
        Some("visa-backup"),
        3,
        4,
    );
    s.on_interface(0);
    handshake(&mut s, &mut p);
    s.on_interface(1);
    handshake(&mut s, &mut b);
    for i in 0..6 {
        s.wait(10.0);
        s.on_interface(0);
        transaction(&mut s, &mut p);
        s.on_interface(1);
        if i == 3 {
            s.segment(&mut b, From::Peer, F_RST | F_ACK, 0, "");
            s.expect(&b, "reset", Some(From::Peer));
            s.expect_link(b.last_ts + GRACE, "visa-backup", "link_down", 0);
        } else if i < 3 {
            echo(&mut s, &mut b);
        }
    }
    s
}

fn keepalives() -> Scenario {
    let mut s = Scenario::new(
        "keepalives",
        "An idle connection kept alive by TCP keep-alives only (1 byte at next-expected - 1, answered by a bare ACK) every 20 s: life, not retransmissions, no silence and no black hole.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 1_000, 2_000);
    handshake(&mut s, &mut c);
    transaction(&mut s, &mut c);
    for _ in 0..8 {
        s.wait(20.0);
        s.retransmit(&mut c, From::Local, 1);
        s.segment(&mut c, From::Peer, F_ACK, 0, "");
    }
    s
}

fn pci_full_payload() -> Scenario {
    let mut s = Scenario::new(
        "pci-full-payload",
        "Captured with a full snaplen (what linewatch must never do itself): the payloads carry a test card number. No byte of it may appear in any output.",
        Framing::Ethernet,
        Container::PcapMicro,
        FULL_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:40123", "203.0.113.10:5000", VISA, 1, 2);
    handshake(&mut s, &mut c);
    traffic(&mut s, &mut c, 30);
    s.segment(&mut c, From::Local, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Local));
    s.segment(&mut c, From::Peer, F_FIN | F_ACK, 0, "");
    s.expect(&c, "fin", Some(From::Peer));
    s.expect(&c, "closed", None);
    s.segment(&mut c, From::Local, F_ACK, 0, "");
    s
}

fn flapping() -> Scenario {
    let mut s = Scenario::new(
        "flapping",
        "The line bounces ten times in a minute: each time the peer resets and the application needs 5.5 s to reconnect (past the 5 s grace). Then it stays up for 80 s. For the pager this is one incident, not ten.",
        Framing::Ethernet,
        Container::PcapMicro,
        HEADER_SNAPLEN,
    );
    let mut c = Conv::new("10.0.0.5:41000", "203.0.113.10:5000", VISA, 1, 2);
    handshake(&mut s, &mut c);
    for i in 0..10u16 {
        s.wait(0.3);
        transaction(&mut s, &mut c);
        s.segment(&mut c, From::Peer, F_RST | F_ACK, 0, "");
        s.expect(&c, "reset", Some(From::Peer));
        s.expect_link(c.last_ts + GRACE, "visa-primary", "link_down", 0);
        s.wait(5.5);
        c = Conv::new(
            &format!("10.0.0.5:{}", 41001 + i),
            "203.0.113.10:5000",
            VISA,
            10 * u32::from(i),
            20,
        );
        handshake(&mut s, &mut c);
        s.expect_link(c.last_ts, "visa-primary", "link_up", 1);
    }
    traffic(&mut s, &mut c, 80);
    s
}

/// Every scenario, in the order the README lists them.
pub fn all() -> Vec<Scenario> {
    vec![
        fin_from_peer(),
        rst_from_peer(),
        rst_from_local(),
        silence(),
        black_hole(),
        icmp_unreachable(),
        refused_reconnects(),
        mid_stream(),
        vlan(),
        ipv6(),
        linux_sll2(),
        pcapng_two_interfaces(),
        keepalives(),
        pci_full_payload(),
        flapping(),
    ]
}
