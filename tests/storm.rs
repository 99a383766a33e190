//! Storm control, replayed: a SYN flood toward the watched peer beside a
//! real persistent connection. The flood's lines are summarised, every
//! one of them is accounted for, and the real connection's timeline is
//! exactly the one it has without the flood.

mod common;
mod fixture_writer;

use std::path::Path;

use fixture_writer::{Container, Conv, Framing, From, Scenario, F_ACK, F_PSH, F_SYN};
use serde_json::Value;

const VISA: Option<&str> = Some("visa-primary");
const REAL: &str = "10.0.0.5:40123";

/// 40 s of a persistent link with a heartbeat every 8 s; with `syns`, a
/// burst of that many spoofed SYNs toward the peer's address and port
/// spread over 10 s from the 12th second (a flood, a scan or a reconnect
/// storm look the same to the probe).
fn capture(syns: u32) -> Vec<u8> {
    let mut s = Scenario::new(
        "flood",
        "SYN flood beside a persistent link",
        Framing::Ethernet,
        Container::PcapNano,
        128,
    );
    let mut real = Conv::new(REAL, "203.0.113.10:5000", VISA, 1_000, 2_000);
    s.segment(&mut real, From::Local, F_SYN, 0, "");
    s.segment(&mut real, From::Peer, F_SYN | F_ACK, 0, "");
    s.segment(&mut real, From::Local, F_ACK, 0, "");
    let heartbeat = |s: &mut Scenario, c: &mut Conv| {
        s.segment(c, From::Local, F_ACK | F_PSH, 64, "0800");
        s.segment(c, From::Peer, F_ACK | F_PSH, 64, "0810");
        s.segment(c, From::Local, F_ACK, 0, "");
    };
    let start = s.now;
    let mut next_beat = start + 8_000_000_000;
    let flood_start = start + 12_000_000_000;
    let end = start + 40_000_000_000;
    let step = 10_000_000_000 / i64::from(syns.max(1));
    let mut sent = 0u32;
    while s.now < end {
        let next_syn = if sent < syns {
            flood_start + step * i64::from(sent)
        } else {
            i64::MAX
        };
        let next = next_beat.min(next_syn).min(end);
        s.wait((next - s.now) as f64 / 1e9);
        if s.now >= end {
            break;
        }
        if next == next_beat {
            heartbeat(&mut s, &mut real);
            next_beat += 8_000_000_000;
        } else {
            let src = format!(
                "198.18.{}.{}:{}",
                (sent >> 8) & 0xff,
                sent & 0xff,
                1024 + sent % 60_000
            );
            let mut spoofed = Conv::new(&src, "203.0.113.10:5000", VISA, sent, 0);
            s.segment(&mut spoofed, From::Local, F_SYN, 0, "");
            sent += 1;
        }
    }
    s.capture_bytes()
}

fn replay(dir: &Path, name: &str, syns: u32, config: &str, extra: &[&str]) -> Vec<Value> {
    let pcap = dir.join(format!("{name}.pcap"));
    std::fs::write(&pcap, capture(syns)).expect("write the capture");
    let toml = dir.join(format!("{name}.toml"));
    std::fs::write(&toml, config).expect("write the config");
    let mut args = vec![
        "replay".to_string(),
        pcap.display().to_string(),
        "--config".into(),
        toml.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    common::linewatch_ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn config(max_flows: usize) -> String {
    let base = std::fs::read_to_string(common::fixtures().join("linewatch.toml"))
        .expect("the fixture config");
    format!("{base}\n[limits]\nmax_flows = {max_flows}\n")
}

/// The real connection's lines (events and summary), and the link's.
fn real_and_link(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| {
            l["local"] == REAL
                || l["orig"] == REAL
                || (l["local"].is_null() && l["link"].is_string() && l["event"] != "suppressed")
        })
        .cloned()
        .collect()
}

fn count(lines: &[Value], event: &str) -> usize {
    lines.iter().filter(|l| l["event"] == event).count()
}

fn held(lines: &[Value], of: &str) -> u64 {
    lines
        .iter()
        .filter(|l| l["event"] == "suppressed" && l["of"] == of)
        .map(|l| l["count"].as_u64().expect("a count"))
        .sum()
}

#[test]
fn a_syn_flood_is_summarised_and_the_real_connection_keeps_its_timeline() {
    let dir = common::TempDir::new("storm");
    // A table small enough that the flood fills its quarter for
    // never-established flows and evicts them.
    let config = config(2048);
    let quiet = replay(dir.path(), "quiet", 0, &config, &[]);
    let flood = replay(dir.path(), "flood", 20_000, &config, &[]);
    let every = replay(dir.path(), "every", 20_000, &config, &["--every-line"]);

    // The real connection and its link: the same lines, flood or not.
    assert_eq!(real_and_link(&flood), real_and_link(&quiet));
    for kind in ["link_down", "link_up", "discovered", "silence"] {
        assert_eq!(count(&flood, kind), 0, "{kind}");
    }

    // Every flood line is printed or counted in a `suppressed` line.
    for of in ["syn_unanswered", "connection_summary"] {
        let all = count(&every, of);
        assert!(all > 500, "{of}: the flood makes {all} lines");
        let printed = count(&flood, of);
        assert_eq!(
            printed as u64 + held(&flood, of),
            all as u64,
            "{of}: {printed} printed + held back = every line"
        );
    }
    assert_eq!(count(&every, "suppressed"), 0);

    // The whole flood run prints a few hundred lines, not tens of thousands.
    assert!(flood.len() < 300, "{} lines", flood.len());
    let summary = flood.last().expect("a replay summary");
    assert_eq!(summary["event"], "replay_summary");
    assert!(summary["evicted"].as_u64().unwrap_or(0) > 10_000);
    assert_eq!(
        summary["suppressed_lines"].as_u64(),
        Some(
            flood
                .iter()
                .filter(|l| l["event"] == "suppressed")
                .map(|l| l["count"].as_u64().unwrap_or(0))
                .sum()
        )
    );

    // Each `suppressed` line: a count, its interval, a few examples.
    for s in flood.iter().filter(|l| l["event"] == "suppressed") {
        assert_eq!(s["link"], "visa-primary");
        let (first, last, ts) = (
            s["first_ts"].as_f64().unwrap_or(f64::NAN),
            s["last_ts"].as_f64().unwrap_or(f64::NAN),
            s["ts"].as_f64().unwrap_or(f64::NAN),
        );
        assert!(first <= last && last <= ts, "{s}");
        let examples = s["examples"].as_array().expect("examples");
        assert!(!examples.is_empty() && examples.len() <= 4, "{s}");
        assert!(examples[0]["local"]
            .as_str()
            .unwrap_or("")
            .starts_with("198.18."));
    }
}

#[test]
fn event_burst_zero_in_the_config_prints_every_line() {
    let dir = common::TempDir::new("storm");
    let config = format!("{}event_burst = 0\n", config(2048));
    let lines = replay(dir.path(), "off", 500, &config, &[]);
    assert_eq!(count(&lines, "suppressed"), 0);
    assert_eq!(count(&lines, "syn_unanswered"), 500);
}
