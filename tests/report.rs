//! `linewatch report`: every fixture gives an HTML and a Markdown report;
//! the verdict reads as the on-call engineer would say it; no payload
//! byte; the HTML renders in headless Chromium with its graph, one
//! polyline per direction.

mod common;
// Only the test card number is used here.
#[allow(unused_imports)]
mod fixture_writer;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// (capture, config, declared events) of every fixture.
fn fixtures() -> Vec<(PathBuf, PathBuf, Vec<Value>)> {
    let mut all = Vec::new();
    for entry in fs::read_dir(common::fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".events.json") {
            continue;
        }
        let v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        all.push((
            common::fixtures().join(v["capture"].as_str().unwrap()),
            common::fixtures().join(v["config"].as_str().unwrap()),
            v["events"].as_array().unwrap().clone(),
        ));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn report(capture: &Path, config: &Path, format: &str) -> String {
    common::linewatch_ok([
        "report".as_ref(),
        capture.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--format".as_ref(),
        format.as_ref(),
    ])
}

use common::FAULTS;

#[test]
fn every_fixture_gives_a_self_contained_html_and_a_markdown_report() {
    let mut with_graph = 0;
    for (capture, config, events) in fixtures() {
        let name = capture.file_name().unwrap().to_str().unwrap().to_string();
        let faults = events
            .iter()
            .filter(|e| FAULTS.contains(&e["event"].as_str().unwrap_or("")))
            .count();
        let md = report(&capture, &config, "md");
        assert!(
            md.starts_with(&format!("# Incident report: {name}")),
            "{md}"
        );
        let verdicts = md
            .split("## Verdict")
            .nth(1)
            .unwrap()
            .split("## Timeline")
            .next()
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("- "))
            .count();
        assert_eq!(verdicts, faults, "{name}: one verdict per fault\n{md}");
        let sha = {
            use sha2::Digest;
            format!("{:x}", sha2::Sha256::digest(fs::read(&capture).unwrap()))
        };
        assert!(md.contains(&sha), "{name}: the file's SHA-256");
        assert!(md.contains("tcpdump -nn -r"), "{name}");
        let html = report(&capture, &config, "html");
        assert!(html.starts_with("<!DOCTYPE html>"), "{name}");
        for external in ["http://", "https://", " src=", "<link", "<script"] {
            // The SVG namespace is the one URL an inline SVG carries.
            let outside = html.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !outside.contains(external),
                "{name}: `{external}` in the page"
            );
        }
        if faults > 0 && html.contains("<svg") {
            with_graph += 1;
        }
    }
    assert!(with_graph >= 8, "only {with_graph} reports have a graph");
}

#[test]
fn the_verdict_says_who_closed_when_and_what_came_before() {
    let md = report(
        &common::fixtures().join("iso8583-fin-from-peer.pcap"),
        &common::fixtures().join("linewatch.toml"),
        "md",
    );
    assert!(
        md.contains("- 203.0.113.10:5000 (the peer) sent FIN at 02:23:11.291 UTC on a connection up 10m 4s (its own: ttl 64 as usual for the peer); our side acknowledged it; no RST or ICMP error preceded it."),
        "{md}"
    );
    // A firewall's RST in the peer's name: the report says who really sent it.
    let md = report(
        &common::fixtures().join("attribution-firewall-idle-rst.pcap"),
        &common::fixtures().join("linewatch.toml"),
        "md",
    );
    assert!(
        md.contains("- a middlebox sent RST in the name of 203.0.113.10:5000 (the peer) at 02:15:47.019 UTC on a connection up 2m 40s (ttl 62, usual 52: sent about 10 hops nearer than the peer; ip_id 0, the peer's ids increment (last 41012); no TCP timestamp option, the peer sends it on every segment)"),
        "{md}"
    );
    let md = report(
        &common::fixtures().join("icmp-unreachable.pcap"),
        &common::fixtures().join("linewatch.toml"),
        "md",
    );
    assert!(
        md.contains("; router "),
        "the ICMP error's router is named:\n{md}"
    );
}

#[test]
fn no_payload_byte_reaches_a_report() {
    let capture = common::fixtures().join("pci-full-payload.pcap");
    let pan = fixture_writer::TEST_PAN.as_bytes();
    assert!(fs::read(&capture)
        .unwrap()
        .windows(pan.len())
        .any(|w| w == pan));
    for format in ["html", "md"] {
        let out = report(&capture, &common::fixtures().join("linewatch.toml"), format);
        assert!(
            !out.as_bytes().windows(pan.len()).any(|w| w == pan),
            "{format} leaks the PAN"
        );
        assert!(!out.contains("F23C46C1"), "{format} leaks payload");
    }
}

/// Headless Chromium (Debian's, installed by `.ci/install`) renders the
/// page: the graph is in its DOM, one polyline per direction.
#[test]
fn the_html_report_renders_in_chromium_with_one_line_per_direction() {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "chromium is missing: .ci/install installs it"
        );
        eprintln!("SKIP: no chromium (run .ci/install)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("linewatch-report-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    common::linewatch_ok([
        "report".as_ref(),
        common::fixtures()
            .join("iso8583-fin-from-peer.pcap")
            .as_os_str(),
        "--config".as_ref(),
        common::fixtures().join("linewatch.toml").as_os_str(),
        "-o".as_ref(),
        page.as_os_str(),
    ]);
    let out = common::output_ok(
        Command::new(&chromium)
            .args(common::CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg("--dump-dom")
            .arg(format!("file://{}", page.display())),
    );
    let dom = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        dom.contains("<svg"),
        "no graph in the rendered page:\n{dom}"
    );
    for colour in ["#1f77b4", "#d62728"] {
        let lines = dom
            .match_indices("<polyline")
            .filter(|(i, _)| {
                let tag = &dom[*i..dom[*i..].find('>').map_or(dom.len(), |e| i + e)];
                tag.contains(&format!("stroke=\"{colour}\""))
            })
            .count();
        assert_eq!(
            lines, 1,
            "{colour}: one line per direction in the rendered graph"
        );
    }
    assert!(
        dom.contains("sent fin at 02:23:11.291 utc"),
        "the verdict is on the page"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// A capture that libpcap cannot read to its end (here a pcapng whose
/// second interface has another link type) still gets its report, of
/// what could be read, saying so.
#[test]
fn a_capture_unreadable_to_its_end_gets_a_report_that_says_so() {
    let Some(shared) = common::shared_captures() else {
        return;
    };
    let capture = shared.join("formats/pcapngtg-le-basic-test006.pcapng");
    let md = common::linewatch_ok([
        "report".as_ref(),
        capture.as_os_str(),
        "--format".as_ref(),
        "md".as_ref(),
    ]);
    assert!(
        md.contains(
            "**This capture could not be read to its end; the report covers the frames before:**"
        ),
        "{md}"
    );
    assert!(md.contains("## Verdict"), "{md}");
}

/// The figures of each connection, and in HTML a response-time graph of
/// the affected one. The fixture's answers come half a millisecond after
/// each request (the fixture writer's burst spacing), acknowledging it.
#[test]
fn the_report_shows_round_trips_and_response_times() {
    let capture = common::fixtures().join("iso8583-fin-from-peer.pcap");
    let config = common::fixtures().join("linewatch.toml");
    let md = report(&capture, &config, "md");
    assert!(
        md.contains("10.0.0.5:40123 -> 203.0.113.10:5000: rtt p50 0.5 ms p99 0.5 ms (floor 0.5), response p50 0.5 ms p99 0.5 ms ("),
        "{md}"
    );
    let html = report(&capture, &config, "html");
    assert!(
        html.contains("Green: each response time"),
        "no response-time graph"
    );
    assert!(html.contains("\nresponse time\n"), "the graph's caption");
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "time-sequence and response-time graphs"
    );
}
