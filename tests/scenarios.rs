//! Scenario tests: each fixture capture in, the expected event timeline out.
//!
//! The expected timelines (`fixtures/NAME.events.json`) are declared by the
//! fixture writer as it builds each capture (tests/fixture_writer), not
//! recorded from linewatch's output.

mod common;
mod fixture_writer;

use std::fs;
use std::path::Path;
use std::process::Command;

use linewatch::capture::Source;
use linewatch::config::Config;
use linewatch::event::Event;
use linewatch::mode::replay;
use linewatch::output::event_json;
use linewatch::pipeline::Pipeline;
use linewatch::time::{Duration, Timestamp};
use serde_json::Value;

fn expected(name: &str) -> (Value, Config) {
    let text = fs::read_to_string(common::fixtures().join(format!("{name}.events.json"))).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let config = Config::load(&common::fixtures().join(v["config"].as_str().unwrap())).unwrap();
    (v, config)
}

/// Compares the fields the scenario declared with the events linewatch reported.
fn assert_timeline(name: &str, declared: &[Value], got: &[Event]) {
    let got: Vec<Value> = got.iter().map(event_json::value).collect();
    common::assert_declared(name, declared, &got);
}

const SCENARIOS: &[&str] = &[
    "iso8583-fin-from-peer",
    "rst-from-peer",
    "rst-from-local",
    "silence",
    "black-hole",
    "icmp-unreachable",
    "refused-reconnects",
    "mid-stream",
    "vlan",
    "ipv6",
    "linux-sll2",
    "pcapng-two-interfaces",
    "keepalives",
    "pci-full-payload",
    "flapping",
    "attribution-genuine-rst",
    "attribution-genuine-fin",
    "attribution-firewall-idle-rst",
    "attribution-lost-race",
    "attribution-jumping-seq",
    "attribution-challenge-ack",
    "attribution-out-of-window",
    "attribution-ipv6-firewall",
    "attribution-route-change",
    "attribution-firewall-refusal",
];

fn capture_path(v: &Value) -> std::path::PathBuf {
    common::fixtures().join(v["capture"].as_str().unwrap())
}

#[test]
fn every_scenario_gives_its_declared_timeline() {
    for name in SCENARIOS {
        let (v, config) = expected(name);
        let r = replay::collect(&capture_path(&v), &config).unwrap();
        assert_timeline(name, v["events"].as_array().unwrap(), &r.events);
    }
}

/// Who really sent each FIN and RST, as the fixture writer labelled it,
/// against the verdict that stands after revisions: never `middlebox` on
/// an endpoint's own segment, and every middlebox found.
#[test]
fn attribution_never_accuses_an_endpoint_and_finds_every_middlebox() {
    let (mut accused, mut found, mut middleboxes) = (0, 0, 0);
    for name in SCENARIOS {
        let (v, config) = expected(name);
        let r = replay::collect(&capture_path(&v), &config).unwrap();
        let verdicts = linewatch::event::standing_verdicts(&r.events);
        for t in v["truth"].as_array().unwrap() {
            let packet = t["packet"].as_u64().unwrap();
            let truth = t["sender"].as_str().unwrap();
            let Some((_, a)) = verdicts.iter().find(|(p, _)| *p == packet) else {
                continue; // a FIN or RST that is no event (a retransmission, a straggler)
            };
            let got = a.sender.name();
            if truth == "endpoint" {
                assert_ne!(
                    got, "middlebox",
                    "{name}: packet {packet} is the endpoint's own: {a:?}"
                );
            } else {
                middleboxes += 1;
                assert_eq!(
                    got, "middlebox",
                    "{name}: packet {packet} came from a middlebox: {a:?}"
                );
                found += 1;
            }
            accused += 1;
        }
    }
    assert!(
        accused >= 30 && middleboxes >= 6,
        "{accused} accused, {middleboxes} middleboxes"
    );
    assert_eq!(found, middleboxes);
}

/// The same capture fed frame by frame, with `advance_to` called every
/// `step` of packet time between frames (as the live daemon's timer does),
/// gives exactly the same events as the whole-file replay.
fn stepwise(path: &Path, config: &Config, step: Duration) -> Vec<Event> {
    let mut cap = Source::open_file(path).unwrap();
    let mut p = Pipeline::new(cap.link(), config);
    let mut events = Vec::new();
    let mut clock: Option<Timestamp> = None;
    while let Some(frame) = cap.next_frame().unwrap() {
        if let Some(mut t) = clock {
            while t.plus(step) < frame.ts {
                t = t.plus(step);
                p.advance_to(t, &mut events);
            }
        }
        clock = Some(frame.ts);
        p.on_frame(&frame, &mut events);
    }
    p.finish(&mut events);
    events
}

#[test]
fn stepwise_feeding_gives_the_same_timeline_as_whole_file() {
    for name in SCENARIOS {
        let (v, config) = expected(name);
        let whole = replay::collect(&capture_path(&v), &config).unwrap().events;
        for step in [
            Duration::from_millis(100),
            Duration::from_millis(1700),
            Duration::from_secs(7),
        ] {
            let steps = stepwise(&capture_path(&v), &config, step);
            assert_eq!(
                whole, steps,
                "{name}: stepwise ({step}) differs from whole-file"
            );
        }
    }
}

#[test]
fn committed_fixtures_are_what_the_writer_writes() {
    for s in fixture_writer::all() {
        let dir = common::fixtures();
        let bytes = fs::read(dir.join(s.file_name())).unwrap();
        assert!(
            bytes == s.capture_bytes(),
            "fixtures/{} is stale: run `cargo run --example make_fixtures`",
            s.file_name()
        );
        let json = fs::read_to_string(dir.join(format!("{}.events.json", s.name))).unwrap();
        assert_eq!(
            json,
            s.expected_json(),
            "fixtures/{}.events.json is stale",
            s.name
        );
        assert!(
            SCENARIOS.contains(&s.name),
            "scenario {} is not in SCENARIOS",
            s.name
        );
    }
}

#[test]
fn the_cli_prints_the_same_timeline_as_json_lines() {
    let (v, _) = expected("iso8583-fin-from-peer");
    let config = common::fixtures().join("linewatch.toml");
    let capture = capture_path(&v);
    let lines: Vec<Value> = common::linewatch_ok([
        "replay".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        capture.as_os_str(),
    ])
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let declared = v["events"].as_array().unwrap();
    let events: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] != "connection_summary" && l["event"] != "replay_summary")
        .collect();
    assert_eq!(events.len(), declared.len());
    for (d, e) in declared.iter().zip(&events) {
        assert_eq!(d["event"], e["event"]);
        assert_eq!(d["packet"], e["packet"]);
    }
    let summaries: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "connection_summary")
        .collect();
    assert_eq!(
        summaries.len(),
        2,
        "two connections: the one the peer closed, and the reconnect"
    );
    assert_eq!(summaries[0]["conn_state"], "RSTR");
    assert_eq!(summaries[0]["orig"], "10.0.0.5:40123");
    assert_eq!(summaries[1]["conn_state"], "S1");
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "replay_summary");
    assert_eq!(last["packets"], 199);
    assert_eq!(last["complete"], true);
    // Text mode: the FIN line as the on-call engineer reads it.
    let out = Command::new(common::linewatch())
        .args(["replay", "--config"])
        .arg(common::fixtures().join("linewatch.toml"))
        .arg(capture_path(&v))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("visa-primary  FIN from peer 203.0.113.10:5000 -> 10.0.0.5:40123 (connection up 10m 4s) [packet 184]"),
        "{text}"
    );
}

/// PCI DSS: a capture taken with full payloads (card numbers inside) must
/// not leak a single payload byte sequence into any output format.
#[test]
fn no_payload_byte_reaches_the_output() {
    let (v, _) = expected("pci-full-payload");
    let capture = fs::read(capture_path(&v)).unwrap();
    let pan = fixture_writer::TEST_PAN.as_bytes();
    assert!(
        capture.windows(pan.len()).any(|w| w == pan),
        "the fixture must carry the test PAN, or this test proves nothing"
    );
    for format in ["text", "json"] {
        let out = Command::new(common::linewatch())
            .args(["replay", "--format", format])
            .arg(capture_path(&v))
            .output()
            .unwrap();
        assert!(out.status.success());
        let all = [out.stdout, out.stderr].concat();
        assert!(
            !all.windows(pan.len()).any(|w| w == pan),
            "{format} output leaks the PAN"
        );
        // Nor any 8-byte run of the ISO-8583 bitmap text.
        assert!(
            !all.windows(8).any(|w| w == b"F23C46C1"),
            "{format} output leaks payload bytes"
        );
    }
}

/// PCI DSS: the committed header-only fixtures hold headers and nothing
/// else; only `pci-full-payload` carries payload bytes, on purpose.
#[test]
fn header_only_fixtures_hold_no_payload_byte() {
    let pan = fixture_writer::TEST_PAN.as_bytes();
    let mut checked = 0;
    for s in fixture_writer::all() {
        if s.name == "pci-full-payload" {
            continue;
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(s.file_name());
        let capture = fs::read(&path).unwrap();
        assert!(
            !capture.windows(pan.len()).any(|w| w == pan),
            "{} carries the test PAN",
            path.display()
        );
        assert!(
            !capture.windows(8).any(|w| w == b"F23C46C1"),
            "{} carries ISO-8583 payload bytes",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} fixtures checked");
}

/// A file removed when dropped.
struct TempCapture(std::path::PathBuf);

impl Drop for TempCapture {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A capture of `n` short connections (handshake, FIN both ways), written
/// by the fixture writer into a temporary file: enough output to cross the
/// replay printer's 64 KiB chunks many times.
fn many_connections(n: u16, name: &str) -> TempCapture {
    use fixture_writer::{Container, Conv, Framing, From, Scenario, F_ACK, F_FIN, F_SYN};
    let mut s = Scenario::new("many", "", Framing::Ethernet, Container::PcapMicro, 96);
    for i in 0..n {
        let local = format!("10.1.{}.{}:{}", i / 250, i % 250 + 1, 40000 + i % 20000);
        let mut c = Conv::new(&local, "198.51.100.7:443", None, 1000, 9000);
        s.segment(&mut c, From::Local, F_SYN, 0, "");
        s.segment(&mut c, From::Peer, F_SYN | F_ACK, 0, "");
        s.segment(&mut c, From::Local, F_ACK, 0, "");
        s.wait(0.01);
        s.segment(&mut c, From::Local, F_FIN | F_ACK, 0, "");
        s.segment(&mut c, From::Peer, F_FIN | F_ACK, 0, "");
        s.segment(&mut c, From::Local, F_ACK, 0, "");
        s.wait(0.01);
    }
    let path =
        std::env::temp_dir().join(format!("linewatch-test-{name}-{}.pcap", std::process::id()));
    fs::write(&path, s.capture_bytes()).unwrap();
    TempCapture(path)
}

/// An output that fails once `room` bytes have been written.
struct FailingOutput {
    room: usize,
}

impl std::io::Write for FailingOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.room {
            return Err(std::io::Error::other("disk full"));
        }
        self.room -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_printer_thread_prints_what_the_single_thread_pipeline_finds() {
    // 3,000 connections: 12,000 events and 3,000 summaries, over 3 MB of
    // JSON printed by the replay's printer thread.
    let capture = many_connections(3000, "printer");
    let path = capture.0.as_path();
    let config = Config::default();
    let mut out = Vec::new();
    replay::replay_to(path, &config, replay::Format::Json, &mut out).unwrap();
    let lines: Vec<Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    // The same file through the one-thread pipeline, frame by frame.
    let mut cap = Source::open_file(path).unwrap();
    let mut p = Pipeline::new(cap.link(), &config);
    let mut events = Vec::new();
    let mut summaries = Vec::new();
    while let Some(frame) = cap.next_frame().unwrap() {
        p.on_frame(&frame, &mut events);
        summaries.extend(p.tracker_mut().drain_retired());
    }
    p.finish(&mut events);
    summaries.extend(p.tracker_mut().drain_retired());
    let kinds: std::collections::BTreeMap<&str, usize> =
        events.iter().fold(Default::default(), |mut m, e| {
            *m.entry(e.kind.name()).or_default() += 1;
            m
        });
    // Per connection: established, a FIN from each side, closed.
    let want = [("closed", 3000), ("established", 3000), ("fin", 6000)];
    assert_eq!(kinds, want.into_iter().collect());
    assert_eq!(summaries.len(), 3000);
    assert_eq!(lines.len(), events.len() + summaries.len() + 1);
    for (line, e) in lines.iter().zip(&events) {
        assert_eq!(*line, event_json::value(e));
    }
    for (line, c) in lines.iter().skip(events.len()).zip(&summaries) {
        assert_eq!(line["event"], "connection_summary");
        assert_eq!(line["orig"], c.orig.to_string());
        assert_eq!(line["history"], c.history.as_str());
        assert_eq!(line["conn_state"], "SF");
    }
    assert_eq!(lines.last().unwrap()["event"], "replay_summary");
}

#[test]
fn a_failing_output_stops_the_replay_with_an_error_not_a_hang() {
    let capture = many_connections(3000, "failing-output");
    for room in [0, 100_000, 1_000_000] {
        for format in [replay::Format::Text, replay::Format::Json] {
            let t = std::time::Instant::now();
            let r = replay::replay_to(
                &capture.0,
                &Config::default(),
                format,
                &mut FailingOutput { room },
            );
            assert!(
                matches!(r, Err(replay::ReplayError::Output(_))),
                "room {room}, {format:?}: {r:?}"
            );
            assert!(t.elapsed() < std::time::Duration::from_secs(10));
        }
    }
}
