//! Deterministic writer of the scenario captures in `fixtures/`.
//!
//! Each scenario is built packet by packet and declares, as it goes, the
//! events linewatch must report: a FIN is written and the `fin` event is
//! declared with that packet's number and time. The expected timeline thus
//! comes from how the capture was made, never from running linewatch.
//! `cargo run --example make_fixtures` writes them; `tests/scenarios.rs`
//! checks the committed files are current and replays them.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::net::{IpAddr, SocketAddr};

use etherparse::{IpHeaders, Ipv4Header, Ipv6Header, PacketBuilder, TcpOptionElement};
use serde_json::{json, Value};

/// 2026-03-14 02:13:07 UTC: where every scenario's clock starts.
pub const EPOCH: i64 = 1_773_454_387;
const NS: i64 = 1_000_000_000;

/// A test card number (Visa test PAN) put in ISO-8583-like payloads so a
/// test can prove no payload byte ever reaches the output.
pub const TEST_PAN: &str = "4111111111111111";

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    Ethernet,
    Vlan(u16),
    LinuxSll2,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Container {
    /// Classic pcap, microsecond timestamps.
    PcapMicro,
    /// Classic pcap, nanosecond timestamps.
    PcapNano,
    /// pcapng with two Ethernet interfaces; frames say which.
    PcapngTwoInterfaces,
}

/// At or above this snaplen a capture keeps payloads (the PCI leak test only).
pub const FULL_SNAPLEN: usize = 65_535;

pub struct Frame {
    pub ts: i64, // nanoseconds since the epoch
    pub bytes: Vec<u8>,
    /// Length of the link, IP and TCP headers: what a header-only capture keeps.
    pub headers: usize,
    pub interface: u32,
}

/// One scenario being written.
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub config: &'static str,
    framing: Framing,
    container: Container,
    snaplen: usize,
    pub frames: Vec<Frame>,
    pub expected: Vec<Value>,
    /// Who really sent each FIN and RST (packet number, `endpoint` or
    /// `middlebox`): the labels attribution is measured against.
    pub truth: Vec<(u64, &'static str)>,
    /// Current time, nanoseconds since the epoch.
    pub now: i64,
    interface: u32,
}

/// The declared form of an event at `ts` (ns) about `c`, from `packet`.
pub fn declared(ts: i64, c: &Conv, event: &str, packet: Option<u64>) -> Value {
    json!({
        "ts": ts as f64 / NS as f64,
        "event": event,
        "link": c.link,
        "local": c.local.to_string(),
        "peer": c.peer.to_string(),
        "packet": packet,
    })
}

/// How one sender writes its headers: what linewatch learns its baseline
/// from, and what an injector gets wrong. The default (TTL 64, IP ID 0, DF
/// set, no TCP timestamps) is what every scenario before attribution was
/// written with.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Habit {
    /// TTL / hop limit as the packet arrives at the probe.
    pub ttl: u8,
    /// The next IP ID, one more each packet; `None`: always 0.
    pub id: Option<u16>,
    /// DF bit (IPv4).
    pub df: bool,
    /// TCP timestamp clock: its value at the scenario's start, ticking
    /// once a millisecond; `None`: no timestamp option.
    pub ts: Option<u32>,
}

impl Default for Habit {
    fn default() -> Habit {
        Habit {
            ttl: 64,
            id: None,
            df: true,
            ts: None,
        }
    }
}

/// One TCP connection's endpoints and sequence state.
#[derive(Clone, Debug)]
pub struct Conv {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub link: Option<&'static str>,
    /// How each side writes its headers.
    pub local_habit: Habit,
    pub peer_habit: Habit,
    lseq: u32,
    pseq: u32,
    /// Packet number of the last packet of this connection.
    pub last_packet: u64,
    pub last_ts: i64,
    /// The receive window each side advertises (64,240 unless a scenario
    /// closes one).
    pub local_window: u16,
    pub peer_window: u16,
    /// Each side echoes the other's last TSval (RFC 7323); off, TSecr is
    /// 0 (the fixtures written before round trips were measured).
    pub echo_timestamps: bool,
    /// The last TSval each side sent: what the other side echoes.
    last_tsval_local: u32,
    last_tsval_peer: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum From {
    Local,
    Peer,
}

pub const F_FIN: u8 = 1;
pub const F_SYN: u8 = 2;
pub const F_RST: u8 = 4;
pub const F_PSH: u8 = 8;
pub const F_ACK: u8 = 16;

impl Conv {
    pub fn new(local: &str, peer: &str, link: Option<&'static str>, lseq: u32, pseq: u32) -> Conv {
        Conv {
            local: local.parse().unwrap(),
            peer: peer.parse().unwrap(),
            link,
            local_habit: Habit::default(),
            peer_habit: Habit::default(),
            lseq,
            pseq,
            last_packet: 0,
            last_ts: 0,
            local_window: 64_240,
            peer_window: 64_240,
            echo_timestamps: false,
            last_tsval_local: 0,
            last_tsval_peer: 0,
        }
    }
}

/// ISO-8583-like message bytes: MTI, a bitmap stand-in and the test PAN.
fn iso8583(mti: &str, len: usize) -> Vec<u8> {
    let mut m = format!("{mti}F23C46C1A8E0800016{TEST_PAN}000000000000012500").into_bytes();
    m.resize(len, b'0');
    m
}

impl Scenario {
    pub fn new(
        name: &'static str,
        about: &'static str,
        framing: Framing,
        container: Container,
        snaplen: usize,
    ) -> Scenario {
        Scenario {
            name,
            about,
            config: "linewatch.toml",
            framing,
            container,
            snaplen,
            frames: Vec::new(),
            expected: Vec::new(),
            truth: Vec::new(),
            now: EPOCH * NS,
            interface: 0,
        }
    }

    /// Bytes of `f` the capture keeps. A header-only capture keeps each
    /// frame's headers and not one payload byte (payloads carry card
    /// numbers); only a full-snaplen capture (the PCI leak test) keeps more.
    fn captured(&self, f: &Frame) -> usize {
        if self.snaplen >= FULL_SNAPLEN {
            f.bytes.len().min(self.snaplen)
        } else {
            f.headers.min(self.snaplen)
        }
    }

    pub fn with_config(mut self, config: &'static str) -> Scenario {
        self.config = config;
        self
    }

    pub fn on_interface(&mut self, i: u32) {
        self.interface = i;
    }

    /// Moves the clock forward by `secs`.
    pub fn wait(&mut self, secs: f64) {
        self.now += (secs * NS as f64).round() as i64;
    }

    pub fn packets(&self) -> u64 {
        self.frames.len() as u64
    }

    /// Writes one TCP segment of `c` from `from`, `len` payload bytes.
    pub fn segment(&mut self, c: &mut Conv, from: From, flags: u8, len: usize, mti: &str) {
        let (src, dst, seq, ack) = match from {
            From::Local => (c.local, c.peer, c.lseq, c.pseq),
            From::Peer => (c.peer, c.local, c.pseq, c.lseq),
        };
        let payload = if len > 0 {
            iso8583(mti, len)
        } else {
            Vec::new()
        };
        let habit = match from {
            From::Local => &mut c.local_habit,
            From::Peer => &mut c.peer_habit,
        };
        let mut marks = self.marks(habit);
        let (echo, window) = match from {
            From::Local => (c.last_tsval_peer, c.local_window),
            From::Peer => (c.last_tsval_local, c.peer_window),
        };
        marks.tsecr = if !c.echo_timestamps || (flags & F_SYN != 0 && flags & F_ACK == 0) {
            0
        } else {
            echo
        };
        marks.window = window;
        if let Some(v) = marks.tsval {
            match from {
                From::Local => c.last_tsval_local = v,
                From::Peer => c.last_tsval_peer = v,
            }
        }
        let bytes = self.frame(src, dst, seq, ack, flags, &payload, marks);
        if flags & (F_FIN | F_RST) != 0 {
            self.truth.push((self.packets() + 1, "endpoint"));
        }
        let adv = len as u32 + u32::from(flags & (F_SYN | F_FIN) != 0);
        match from {
            From::Local => c.lseq = c.lseq.wrapping_add(adv),
            From::Peer => c.pseq = c.pseq.wrapping_add(adv),
        }
        self.frames.push(Frame {
            ts: self.now,
            headers: bytes.len() - payload.len(),
            bytes,
            interface: self.interface,
        });
        c.last_packet = self.packets();
        c.last_ts = self.now;
        // Packets of one burst are 0.5 ms apart.
        self.now += 500_000;
    }

    /// The header marks of `habit`'s next packet (its IP ID moves on).
    fn marks(&self, habit: &mut Habit) -> Marks {
        let id = habit.id.unwrap_or(0);
        if let Some(next) = habit.id.as_mut() {
            *next = next.wrapping_add(1);
        }
        Marks {
            ttl: habit.ttl,
            id,
            df: habit.df,
            tsval: habit
                .ts
                .map(|start| start.wrapping_add(((self.now - EPOCH * NS) / 1_000_000) as u32)),
            tsecr: 0,
            window: 64_240,
        }
    }

    /// A segment in `from`'s name that `from` did not send: a middlebox
    /// writes it with its own `habit`, at sequence number `seq` (the
    /// claimed sender's next one plus `seq_offset`), acknowledging what the
    /// other side sent. The connection's sequence state does not move.
    pub fn inject(
        &mut self,
        c: &mut Conv,
        from: From,
        flags: u8,
        seq_offset: u32,
        habit: &mut Habit,
    ) {
        let (src, dst, seq, ack) = match from {
            From::Local => (c.local, c.peer, c.lseq, c.pseq),
            From::Peer => (c.peer, c.local, c.pseq, c.lseq),
        };
        let marks = self.marks(habit);
        let bytes = self.frame(
            src,
            dst,
            seq.wrapping_add(seq_offset),
            ack,
            flags,
            &[],
            marks,
        );
        self.truth.push((self.packets() + 1, "middlebox"));
        self.frames.push(Frame {
            ts: self.now,
            headers: bytes.len(),
            bytes,
            interface: self.interface,
        });
        c.last_packet = self.packets();
        c.last_ts = self.now;
        self.now += 500_000;
    }

    /// An ICMPv4 error from `router` to our end of `c`, quoting (IP header
    /// and the first 8 bytes of TCP, RFC 792) the last `len` bytes we sent.
    /// Ethernet framing only.
    pub fn icmp_error(&mut self, c: &Conv, router: [u8; 4], icmp_type: u8, code: u8, len: usize) {
        assert_eq!(
            self.framing,
            Framing::Ethernet,
            "ICMP fixtures are Ethernet"
        );
        let (IpAddr::V4(local), IpAddr::V4(peer)) = (c.local.ip(), c.peer.ip()) else {
            panic!("ICMP fixtures are IPv4");
        };
        let mut original = Vec::new();
        PacketBuilder::ipv4(local.octets(), peer.octets(), 64)
            .tcp(
                c.local.port(),
                c.peer.port(),
                c.lseq.wrapping_sub(len as u32),
                64_240,
            )
            .ack(c.pseq)
            .psh()
            .write(&mut original, &vec![0u8; len])
            .unwrap();
        let quoted = &original[..20 + 8];
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2([0x02, 0, 0, 0, 0, 0x10], [0x02, 0, 0, 0, 0, 0x05])
            .ipv4(router, local.octets(), 250)
            .icmpv4_raw(icmp_type, code, [0; 4])
            .write(&mut bytes, quoted)
            .unwrap();
        self.frames.push(Frame {
            ts: self.now,
            headers: bytes.len(),
            bytes,
            interface: self.interface,
        });
        self.now += 500_000;
    }

    /// A segment that re-sends old data (retransmission), not advancing seq.
    pub fn retransmit(&mut self, c: &mut Conv, from: From, len: usize) {
        let saved = (c.lseq, c.pseq);
        match from {
            From::Local => c.lseq = c.lseq.wrapping_sub(len as u32),
            From::Peer => c.pseq = c.pseq.wrapping_sub(len as u32),
        }
        self.segment(c, from, F_ACK | F_PSH, len, "0200");
        (c.lseq, c.pseq) = saved;
    }

    #[allow(clippy::too_many_arguments)]
    fn frame(
        &self,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        marks: Marks,
    ) -> Vec<u8> {
        let mac_l = [0x02, 0, 0, 0, 0, 0x05];
        let mac_p = [0x02, 0, 0, 0, 0, 0x10];
        let mut out = Vec::new();
        let builder = match self.framing {
            Framing::Ethernet => {
                PacketBuilder::ethernet2(mac_l, mac_p).ip(ip_header(src, dst, marks))
            }
            Framing::Vlan(id) => PacketBuilder::ethernet2(mac_l, mac_p)
                .single_vlan(etherparse::VlanId::try_new(id).unwrap())
                .ip(ip_header(src, dst, marks)),
            Framing::LinuxSll2 => PacketBuilder::ip(ip_header(src, dst, marks)),
        };
        let mut tcp = builder.tcp(src.port(), dst.port(), seq, marks.window);
        let ts = marks
            .tsval
            .map(|v| TcpOptionElement::Timestamp(v, marks.tsecr));
        if flags & F_SYN != 0 {
            let mut options = vec![
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
            ];
            options.extend(ts);
            options.push(TcpOptionElement::WindowScale(7));
            tcp = tcp.options(&options).unwrap().syn();
        } else if let Some(ts) = ts {
            tcp = tcp
                .options(&[TcpOptionElement::Noop, TcpOptionElement::Noop, ts])
                .unwrap();
        }
        if flags & F_ACK != 0 {
            tcp = tcp.ack(ack);
        }
        if flags & F_FIN != 0 {
            tcp = tcp.fin();
        }
        if flags & F_RST != 0 {
            tcp = tcp.rst();
        }
        if flags & F_PSH != 0 {
            tcp = tcp.psh();
        }
        tcp.write(&mut out, payload).unwrap();
        if self.framing == Framing::LinuxSll2 {
            // SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type,
            // address length, address (8 bytes).
            let proto: u16 = if src.is_ipv4() { 0x0800 } else { 0x86DD };
            let outgoing = src.port() != 5000;
            let mut h = Vec::with_capacity(20 + out.len());
            h.extend_from_slice(&proto.to_be_bytes());
            h.extend_from_slice(&[0, 0]);
            h.extend_from_slice(&3u32.to_be_bytes());
            h.extend_from_slice(&1u16.to_be_bytes());
            h.push(if outgoing { 4 } else { 0 });
            h.push(6);
            h.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x05, 0, 0]);
            h.extend_from_slice(&out);
            return h;
        }
        out
    }

    /// Declares an expected event at the current last packet of `c`.
    pub fn expect(&mut self, c: &Conv, event: &str, from: Option<From>) {
        self.expect_at(c.last_ts, c, event, from, Some(c.last_packet));
    }

    /// Declares an expected event at `ts` (ns) about `c`.
    pub fn expect_at(
        &mut self,
        ts: i64,
        c: &Conv,
        event: &str,
        from: Option<From>,
        packet: Option<u64>,
    ) {
        let mut v = declared(ts, c, event, packet);
        if let Some(f) = from {
            v["from"] = json!(match f {
                From::Local => "local",
                From::Peer => "peer",
            });
        }
        self.expected.push(v);
    }

    /// Declares who the last declared event's FIN or RST is attributed to
    /// (`endpoint`, `middlebox`, `unknown`).
    pub fn attributed(&mut self, sender: &str) {
        if let Some(last) = self.expected.last_mut() {
            last["attribution"] = json!({ "sender": sender });
        }
    }

    /// Declares an `attribution_revised` at the last packet of `c`: the
    /// FIN or RST (`of`) at packet `of_packet` from `from` is now
    /// attributed to `sender`; `up_again` if the connection lives on.
    pub fn expect_revised(
        &mut self,
        c: &Conv,
        of: &str,
        of_packet: u64,
        from: From,
        sender: &str,
        up_again: bool,
    ) {
        self.expect(c, "attribution_revised", Some(from));
        if let Some(last) = self.expected.last_mut() {
            last["revises"] = json!(of);
            last["revises_packet"] = json!(of_packet);
            last["up_again"] = json!(up_again);
        }
        self.attributed(sender);
    }

    /// Declares a link-level event at `ts`.
    pub fn expect_link(&mut self, ts: i64, link: &str, event: &str, established: u32) {
        self.expected.push(json!({
            "ts": ts as f64 / NS as f64,
            "event": event,
            "link": link,
            "local": null,
            "peer": null,
            "packet": null,
            "established": established,
        }));
    }

    /// The capture file's bytes.
    pub fn capture_bytes(&self) -> Vec<u8> {
        let dlt: u32 = match self.framing {
            Framing::Ethernet | Framing::Vlan(_) => 1,
            Framing::LinuxSll2 => 276,
        };
        let mut out = Vec::new();
        match self.container {
            Container::PcapMicro | Container::PcapNano => {
                let magic: u32 = if self.container == Container::PcapNano {
                    0xa1b2_3c4d
                } else {
                    0xa1b2_c3d4
                };
                out.extend_from_slice(&magic.to_le_bytes());
                out.extend_from_slice(&2u16.to_le_bytes());
                out.extend_from_slice(&4u16.to_le_bytes());
                out.extend_from_slice(&0i32.to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
                out.extend_from_slice(&(self.snaplen as u32).to_le_bytes());
                out.extend_from_slice(&dlt.to_le_bytes());
                for f in &self.frames {
                    let cap = self.captured(f);
                    let sub = if self.container == Container::PcapNano {
                        f.ts % NS
                    } else {
                        f.ts % NS / 1000
                    };
                    out.extend_from_slice(&((f.ts / NS) as u32).to_le_bytes());
                    out.extend_from_slice(&(sub as u32).to_le_bytes());
                    out.extend_from_slice(&(cap as u32).to_le_bytes());
                    out.extend_from_slice(&(f.bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(&f.bytes[..cap]);
                }
            }
            Container::PcapngTwoInterfaces => {
                let block = |out: &mut Vec<u8>, kind: u32, body: &[u8]| {
                    let padded = body.len().div_ceil(4) * 4;
                    let total = (12 + padded) as u32;
                    out.extend_from_slice(&kind.to_le_bytes());
                    out.extend_from_slice(&total.to_le_bytes());
                    out.extend_from_slice(body);
                    out.resize(out.len() + padded - body.len(), 0);
                    out.extend_from_slice(&total.to_le_bytes());
                };
                // Section header: byte-order magic, version 1.0, unknown length.
                let mut shb = Vec::new();
                shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
                shb.extend_from_slice(&1u16.to_le_bytes());
                shb.extend_from_slice(&0u16.to_le_bytes());
                shb.extend_from_slice(&(-1i64).to_le_bytes());
                block(&mut out, 0x0a0d_0d0a, &shb);
                // Two interfaces, same link type and snaplen, microseconds.
                for _ in 0..2 {
                    let mut idb = Vec::new();
                    idb.extend_from_slice(&(dlt as u16).to_le_bytes());
                    idb.extend_from_slice(&0u16.to_le_bytes());
                    idb.extend_from_slice(&(self.snaplen as u32).to_le_bytes());
                    block(&mut out, 1, &idb);
                }
                for f in &self.frames {
                    let cap = self.captured(f);
                    let micros = (f.ts / 1000) as u64;
                    let mut epb = Vec::new();
                    epb.extend_from_slice(&f.interface.to_le_bytes());
                    epb.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
                    epb.extend_from_slice(&(micros as u32).to_le_bytes());
                    epb.extend_from_slice(&(cap as u32).to_le_bytes());
                    epb.extend_from_slice(&(f.bytes.len() as u32).to_le_bytes());
                    epb.extend_from_slice(&f.bytes[..cap]);
                    block(&mut out, 6, &epb);
                }
            }
        }
        out
    }

    pub fn file_name(&self) -> String {
        match self.container {
            Container::PcapngTwoInterfaces => format!("{}.pcapng", self.name),
            _ => format!("{}.pcap", self.name),
        }
    }

    /// The expected timeline file's text: scenario notes and events.
    pub fn expected_json(&self) -> String {
        let v = json!({
            "capture": self.file_name(),
            "config": self.config,
            "about": self.about,
            "events": self.expected,
            "truth": self.truth.iter().map(|(packet, sender)| json!({"packet": packet, "sender": sender})).collect::<Vec<_>>(),
        });
        let mut s = serde_json::to_string_pretty(&v).unwrap();
        s.push('\n');
        s
    }
}

/// The IP header of a segment from `src` to `dst` with `marks`.
fn ip_header(src: SocketAddr, dst: SocketAddr, marks: Marks) -> IpHeaders {
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => IpHeaders::Ipv4(
            Ipv4Header {
                source: s.octets(),
                destination: d.octets(),
                time_to_live: marks.ttl,
                identification: marks.id,
                dont_fragment: marks.df,
                ..Default::default()
            },
            Default::default(),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => IpHeaders::Ipv6(
            Ipv6Header {
                source: s.octets(),
                destination: d.octets(),
                hop_limit: marks.ttl,
                ..Default::default()
            },
            Default::default(),
        ),
        _ => panic!("mixed address families"),
    }
}

/// One packet's header marks, from its sender's habit.
#[derive(Copy, Clone, Debug)]
struct Marks {
    ttl: u8,
    id: u16,
    df: bool,
    tsval: Option<u32>,
    /// The timestamp echoed (the other side's last TSval).
    tsecr: u32,
    /// The receive window advertised (unscaled).
    window: u16,
}

mod attribution;
mod scenarios;
pub mod soak;

/// Every scenario, the attribution ones last.
pub fn all() -> Vec<Scenario> {
    let mut v = scenarios::all();
    v.extend(attribution::all());
    v
}
