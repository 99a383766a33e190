//! Evidence scenarios: a fixture capture in, incident files out, each
//! checked against the capture itself (which frames, cut where, commented
//! how), against tcpdump and tshark, and against its sidecar's SHA-256.

mod common;
// Only the test card number is used here.
#[allow(unused_imports)]
mod fixture_writer;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::{LaxSlicedPacket, TransportSlice};
use linewatch::capture::Source;
use linewatch::config::{Config, LinkSpec};
use linewatch::decode::{decode_frame, Decoded};
use linewatch::time::Timestamp;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The events that open (or extend) an incident file.
use common::FAULTS as TRIGGERS;

struct Fixture {
    name: String,
    capture: PathBuf,
    config: PathBuf,
    events: Vec<Value>,
}

fn fixtures() -> Vec<Fixture> {
    let mut all = Vec::new();
    for entry in fs::read_dir(common::fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.to_str().and_then(|p| p.strip_suffix(".events.json")) else {
            continue;
        };
        let v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        all.push(Fixture {
            name: Path::new(name)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into(),
            capture: common::fixtures().join(v["capture"].as_str().unwrap()),
            config: common::fixtures().join(v["config"].as_str().unwrap()),
            events: v["events"].as_array().unwrap().clone(),
        });
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("linewatch-evidence-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// One original frame of the capture.
struct Original {
    number: u64,
    ts: Timestamp,
    wire_len: u32,
    data: Vec<u8>,
    link: Option<usize>,
}

fn read_capture(path: &Path, links: &[LinkSpec]) -> Vec<Original> {
    let mut src = Source::open_file(path).unwrap();
    let link_type = src.link();
    let mut out = Vec::new();
    let mut number = 0;
    while let Some(f) = src.next_frame().unwrap() {
        number += 1;
        let addrs = match decode_frame(link_type, &f) {
            Ok(Decoded::Tcp(s)) => Some((s.src, s.dst)),
            Ok(Decoded::IcmpError(i)) => Some((i.src, i.dst)),
            Err(_) => None,
        };
        let link = addrs.and_then(|(s, d)| {
            if links.is_empty() {
                Some(0)
            } else {
                links.iter().position(|l| l.sender(&s, &d).is_some())
            }
        });
        out.push(Original {
            number,
            ts: f.ts,
            wire_len: f.wire_len,
            data: f.data.to_vec(),
            link,
        });
    }
    out
}

/// A stored packet of an evidence file.
struct StoredPacket {
    ts_nanos: u128,
    orig_len: u32,
    data: Vec<u8>,
    comments: Vec<String>,
}

fn read_evidence(path: &Path) -> (u32, Vec<StoredPacket>) {
    let bytes = fs::read(path).unwrap();
    let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
    let mut snaplen = 0;
    let mut packets = Vec::new();
    while let Some(block) = reader.next_block() {
        match block.unwrap() {
            Block::InterfaceDescription(i) => snaplen = i.snaplen,
            Block::EnhancedPacket(p) => packets.push(StoredPacket {
                ts_nanos: p.timestamp.as_nanos(),
                orig_len: p.original_len,
                data: p.data.to_vec(),
                comments: p
                    .options
                    .iter()
                    .filter_map(|o| match o {
                        EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                        _ => None,
                    })
                    .collect(),
            }),
            _ => {}
        }
    }
    (snaplen, packets)
}

/// Where the TCP header of `data` (an Ethernet, SLL2 or raw IP frame)
/// ends, by etherparse's own (lax) slicing (not linewatch's cut): for the
/// oracle.
fn tcp_header_end(data: &[u8]) -> Option<usize> {
    let tcp = |s: &LaxSlicedPacket<'_>| matches!(s.transport, Some(TransportSlice::Tcp(_)));
    let sliced = LaxSlicedPacket::from_ethernet(data)
        .ok()
        .filter(tcp)
        .or_else(|| LaxSlicedPacket::from_ip(data).ok().filter(tcp))
        .or_else(|| {
            // Linux SLL2: the protocol, then 18 more bytes of header.
            let proto = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
            let sliced =
                LaxSlicedPacket::from_ether_type(etherparse::EtherType(proto), data.get(20..)?);
            Some(sliced).filter(tcp)
        })?;
    match sliced.transport? {
        TransportSlice::Tcp(t) => {
            let start = t.slice().as_ptr() as usize - data.as_ptr() as usize;
            Some(start + t.slice().len() - t.payload().len())
        }
        _ => None,
    }
}

fn sha256_hex(path: &Path) -> String {
    format!("{:x}", Sha256::digest(fs::read(path).unwrap()))
}

fn replay_with_evidence(capture: &Path, config: &Path, dir: &Path) {
    common::linewatch_ok([
        "replay".as_ref(),
        capture.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--evidence-dir".as_ref(),
        dir.as_os_str(),
    ]);
}

/// The bundled `linewatch.toml` with `extra` appended, in a directory of
/// its own (`tag`).
fn fixture_config_with(tag: &str, extra: &str) -> PathBuf {
    let config = tempdir(tag).join("linewatch.toml");
    let base = fs::read_to_string(common::fixtures().join("linewatch.toml")).unwrap();
    fs::write(&config, format!("{base}\n{extra}")).unwrap();
    config
}

/// `linewatch replay FIXTURE --config CONFIG --evidence-dir DIR ARGS`,
/// which must succeed.
fn replay_fixture(fixture: &str, config: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    common::output_ok(
        Command::new(common::linewatch())
            .arg("replay")
            .arg(common::fixtures().join(fixture))
            .arg("--config")
            .arg(config)
            .arg("--evidence-dir")
            .arg(dir)
            .args(args)
            .env("LW_TEST_PD_KEY", "k")
            .env("LW_TEST_SLACK_URL", "http://127.0.0.1:9/"),
    )
}

fn evidence_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for link in fs::read_dir(dir).unwrap() {
        for f in fs::read_dir(link.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcapng") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_fault_leaves_one_file_holding_exactly_the_links_frames_in_its_window() {
    let mut checked = 0;
    for fx in fixtures() {
        let faults = fx
            .events
            .iter()
            .filter(|e| TRIGGERS.contains(&e["event"].as_str().unwrap_or("")))
            .count();
        let dir = tempdir(&fx.name);
        replay_with_evidence(&fx.capture, &fx.config, &dir);
        let files = evidence_files(&dir);
        if faults == 0 {
            assert!(files.is_empty(), "{}: no fault, yet {files:?}", fx.name);
            continue;
        }
        assert!(
            !files.is_empty(),
            "{}: {faults} faults and no evidence file",
            fx.name
        );
        let config = Config::load(&fx.config).unwrap();
        let before = config.evidence.before.as_nanos();
        let after = config.evidence.after.as_nanos();
        let originals = read_capture(&fx.capture, &config.links);
        let last_ts = originals.last().unwrap().ts.as_nanos();
        for file in &files {
            let what = format!("{}: {}", fx.name, file.display());
            let sidecar: Value =
                serde_json::from_slice(&fs::read(file.with_extension("json")).unwrap()).unwrap();
            // The sidecar pins the file.
            assert_eq!(
                sidecar["sha256"].as_str().unwrap(),
                sha256_hex(file),
                "{what}"
            );
            assert_eq!(sidecar["state"], "closed", "{what}");
            let link_name = file
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            let link = config.links.iter().position(|l| &*l.name == link_name);
            // The window: the first trigger's `before`, to `after` past the last.
            let cited: Vec<&Value> = sidecar["events"].as_array().unwrap().iter().collect();
            let trigger_ts: Vec<i64> = cited
                .iter()
                .filter(|c| TRIGGERS.contains(&c["event"]["event"].as_str().unwrap()))
                .map(|c| (c["event"]["ts"].as_f64().unwrap() * 1e9).round() as i64)
                .collect();
            let (first, last) = (trigger_ts[0], *trigger_ts.last().unwrap());
            let (from, until) = (first - before, (last + after).min(last_ts));
            // Without links, one lane holds every TCP frame.
            let lane = if config.links.is_empty() {
                Some(0)
            } else {
                link
            };
            assert!(lane.is_some(), "{what}: directory of no configured link");
            let want: Vec<&Original> = originals
                .iter()
                .filter(|o| o.link.is_some() && o.link == lane)
                .filter(|o| (from..=until).contains(&o.ts.as_nanos()))
                .collect();
            let (snaplen, got) = read_evidence(file);
            assert_eq!(got.len(), want.len(), "{what}: frames in the window");
            assert_eq!(sidecar["packets"], got.len() as u64, "{what}");
            let mut largest = 0;
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(
                    g.ts_nanos,
                    w.ts.as_nanos() as u128,
                    "{what}: packet {}",
                    w.number
                );
                assert_eq!(g.orig_len, w.wire_len, "{what}: packet {}", w.number);
                assert_eq!(
                    g.data[..],
                    w.data[..g.data.len()],
                    "{what}: packet {} is a prefix",
                    w.number
                );
                if let Some(end) = tcp_header_end(&w.data) {
                    assert_eq!(
                        g.data.len(),
                        end,
                        "{what}: packet {} cut at its TCP header's end",
                        w.number
                    );
                }
                largest = largest.max(g.data.len() as u32);
            }
            assert_eq!(snaplen, largest, "{what}: snaplen = largest stored header");
            // Each event's packet is commented, at its number within the file.
            for c in &cited {
                let (Some(n), Some(p)) =
                    (c["packet_in_file"].as_u64(), c["event"]["packet"].as_u64())
                else {
                    continue;
                };
                assert_eq!(
                    want[n as usize - 1].number,
                    p,
                    "{what}: in-file number of packet {p}"
                );
                if TRIGGERS.contains(&c["event"]["event"].as_str().unwrap()) {
                    assert!(
                        got[n as usize - 1]
                            .comments
                            .iter()
                            .any(|m| m.starts_with("linewatch: ")),
                        "{what}: packet {p} ({}) carries no comment",
                        c["event"]["event"]
                    );
                }
            }
            // tcpdump and tshark read it, every packet.
            let tcpdump = common::run_ok(Command::new("tcpdump").args(["-nn", "-r"]).arg(file));
            assert_eq!(tcpdump.lines().count(), got.len(), "{what}: tcpdump");
            let tshark = common::run_ok(Command::new("tshark").arg("-r").arg(file));
            assert_eq!(tshark.lines().count(), got.len(), "{what}: tshark");
            checked += 1;
        }
        fs::remove_dir_all(&dir).unwrap();
    }
    assert!(checked >= 13, "only {checked} evidence files checked");
}

/// PCI DSS: a capture with full payloads (the test card number inside)
/// gives evidence files and sidecars that hold no payload byte: every
/// stored frame is exactly its headers.
#[test]
fn a_full_payload_capture_leaves_headers_only_evidence() {
    let fx = fixtures()
        .into_iter()
        .find(|f| f.name == "pci-full-payload")
        .unwrap();
    let pan = fixture_writer::TEST_PAN.as_bytes();
    let capture = fs::read(&fx.capture).unwrap();
    assert!(
        capture.windows(pan.len()).any(|w| w == pan),
        "the fixture must carry the test PAN, or this test proves nothing"
    );
    let dir = tempdir("pci");
    replay_with_evidence(&fx.capture, &fx.config, &dir);
    let files = evidence_files(&dir);
    assert!(!files.is_empty());
    let (mut stored, mut carried_payload) = (0, 0);
    for file in &files {
        for path in [file.clone(), file.with_extension("json")] {
            let bytes = fs::read(&path).unwrap();
            assert!(
                !bytes.windows(pan.len()).any(|w| w == pan),
                "{} leaks the PAN",
                path.display()
            );
            assert!(
                !bytes.windows(8).any(|w| w == b"F23C46C1"),
                "{} leaks payload",
                path.display()
            );
        }
        for p in read_evidence(file).1 {
            let end = tcp_header_end(&p.data).expect("a stored TCP frame parses");
            assert_eq!(p.data.len(), end, "a stored frame is its headers, no more");
            stored += 1;
            if p.orig_len as usize > end {
                carried_payload += 1;
            }
        }
    }
    // The fault's window covers the whole 30 s capture.
    let frames = read_capture(&fx.capture, &[]).len();
    assert_eq!(stored, frames, "every frame of the capture is in the file");
    assert!(
        carried_payload >= 5,
        "only {carried_payload} stored frames had payload on the wire: the test proves little"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// `max_disk`: when the evidence files outgrow it, the oldest go first,
/// never the one just written.
#[test]
fn over_max_disk_the_oldest_evidence_file_goes() {
    let dir = tempdir("max-disk");
    let old_dir = dir.join("visa-primary");
    fs::create_dir_all(&old_dir).unwrap();
    // Two older incidents of 600 KiB each: 1.2 MiB against a 1 MiB budget.
    let oldest = old_dir.join("20200101T000000.000Z-fin.pcapng");
    let older = old_dir.join("20200102T000000.000Z-fin.pcapng");
    for (p, age) in [(&oldest, 7200), (&older, 3600)] {
        fs::write(p, vec![0u8; 600 << 10]).unwrap();
        fs::write(p.with_extension("json"), b"{}").unwrap();
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
        fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let config = fixture_config_with("max-disk-config", "[evidence]\nmax_disk = \"1MiB\"\n");
    let out = replay_fixture("rst-from-peer.pcap", &config, &dir, &[]);
    assert!(!oldest.exists(), "the oldest file stays");
    assert!(!oldest.with_extension("json").exists(), "its sidecar stays");
    assert!(older.exists(), "one removal was enough");
    let files = evidence_files(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("over max_disk")
            && stderr.contains("20200101T000000.000Z-fin.pcapng")
            && stderr.contains("(1 removed since start)"),
        "{stderr}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// The page names the evidence file: PagerDuty's `custom_details.evidence`
/// (file, packets so far, from), its summary, Slack's text and the
/// DogStatsD event.
#[test]
fn the_page_names_the_incidents_evidence_file() {
    let dir = tempdir("page");
    let config = fixture_config_with(
        "page-config",
        "[statsd]\n\n[pagerduty]\nrouting_key_env = \"LW_TEST_PD_KEY\"\n\n[slack]\nwebhook_url_env = \"LW_TEST_SLACK_URL\"\n",
    );
    let out = replay_fixture(
        "iso8583-fin-from-peer.pcap",
        &config,
        &dir,
        &["--emit", "dry-run"],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let files = evidence_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].display().to_string();
    let trigger: Value = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("POST pagerduty "))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["event_action"] == "trigger")
        .expect("a PagerDuty trigger");
    let ev = &trigger["payload"]["custom_details"]["evidence"];
    assert_eq!(ev["file"], file.as_str(), "{trigger}");
    assert!(ev["packets"].as_u64().unwrap() > 0, "{trigger}");
    assert!(
        ev["from"].as_str().unwrap().starts_with("2026-03-14T02:1"),
        "{trigger}"
    );
    assert!(trigger["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains(&file));
    let slack = stdout
        .lines()
        .find(|l| l.starts_with("POST slack "))
        .unwrap();
    assert!(slack.contains(&format!("Evidence: {file}")), "{slack}");
    let statsd_event = stdout
        .lines()
        .find(|l| l.starts_with("UDP statsd _e{") && l.contains("-> CRITICAL"))
        .unwrap();
    assert!(statsd_event.contains(&file), "{statsd_event}");
    fs::remove_dir_all(&dir).unwrap();
}

/// PCI DSS, pages too: replaying the full-payload capture with evidence
/// and every emitter in dry run prints no payload byte.
#[test]
fn pages_of_a_full_payload_capture_hold_no_payload_byte() {
    let dir = tempdir("pci-pages");
    let config = fixture_config_with(
        "pci-pages-config",
        "[statsd]\n\n[pagerduty]\nrouting_key_env = \"LW_TEST_PD_KEY\"\n\n[slack]\nwebhook_url_env = \"LW_TEST_SLACK_URL\"\n",
    );
    let out = replay_fixture(
        "pci-full-payload.pcap",
        &config,
        &dir,
        &["--emit", "dry-run", "--format", "json"],
    );
    let all = [out.stdout, out.stderr].concat();
    assert!(
        String::from_utf8_lossy(&all).contains("\"to\":\"statsd\""),
        "the dry run printed no datagram: the test proves little"
    );
    let pan = fixture_writer::TEST_PAN.as_bytes();
    assert!(
        !all.windows(pan.len()).any(|w| w == pan),
        "a page leaks the PAN"
    );
    assert!(
        !all.windows(8).any(|w| w == b"F23C46C1"),
        "a page leaks payload"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// A link with `evidence = false` leaves no file, whatever happens on it.
#[test]
fn a_link_with_evidence_off_leaves_no_file() {
    let dir = tempdir("off");
    let base = fs::read_to_string(common::fixtures().join("linewatch.toml")).unwrap();
    let config = tempdir("off-config").join("linewatch.toml");
    fs::write(
        &config,
        base.replacen("[[link]]\n", "[[link]]\nevidence = false\n", 1),
    )
    .unwrap();
    replay_fixture("rst-from-peer.pcap", &config, &dir, &[]);
    assert!(evidence_files(&dir).is_empty());
    // The same capture with the switch on does leave one.
    replay_fixture(
        "rst-from-peer.pcap",
        &common::fixtures().join("linewatch.toml"),
        &dir,
        &[],
    );
    assert_eq!(evidence_files(&dir).len(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

/// A link whose triggers never stop (a short connection closed every
/// second for 25 minutes) gets files of at most `MAX_OPEN` (10 minutes)
/// each, not one file growing for ever, and each sidecar lists at most
/// `MAX_CITED` events, counting the rest.
#[test]
fn endless_triggers_make_bounded_files() {
    let dir = tempdir("endless");
    let capture = dir.join("short-connections.pcap");
    fs::write(
        &capture,
        fixture_writer::soak::short_connections(25).capture_bytes(),
    )
    .unwrap();
    let out = dir.join("evidence");
    replay_with_evidence(&capture, &common::fixtures().join("linewatch.toml"), &out);
    let files = evidence_files(&out);
    assert!(files.len() >= 3, "{files:?}");
    let max_open = linewatch::evidence::MAX_OPEN.as_secs_f64();
    let mut not_listed = 0;
    for f in &files {
        let side: Value =
            serde_json::from_slice(&fs::read(f.with_extension("json")).unwrap()).unwrap();
        let listed = side["events"].as_array().unwrap().len();
        assert!(listed <= linewatch::evidence::MAX_CITED, "{f:?}: {listed}");
        not_listed += side["events_not_listed"].as_u64().unwrap();
        let span = |k: &str| {
            chrono::DateTime::parse_from_rfc3339(side[k].as_str().unwrap())
                .unwrap()
                .timestamp() as f64
        };
        // `before` (5 min) of frames, then at most MAX_OPEN and `after`.
        assert!(
            span("to") - span("from") <= 300.0 + max_open + 60.0 + 1.0,
            "{f:?}: {side}"
        );
    }
    assert!(not_listed > 0, "10 minutes of triggers exceed the list");
}
