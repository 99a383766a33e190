//! `linewatch check` as Nagios runs it: the built binary, its stdout and its
//! exit code, on status documents written here and on the fixtures.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use linewatch::policy::Verdict;
use linewatch::status::{CaptureDoc, ConnectionDoc, Health, LinkDoc, StatusDoc};
use regex::Regex;

use common::{fixtures, linewatch, TempDir};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn conn(state: &str, idle_s: f64, retransmissions: u64) -> ConnectionDoc {
    let t = now();
    ConnectionDoc {
        local: "10.0.0.5:40123".into(),
        peer: "203.0.113.10:5000".into(),
        state: state.into(),
        since: t - 600.0,
        up_since: Some(t - 600.0),
        last_packet: t - idle_s,
        last_from_local: Some(t - idle_s),
        last_from_peer: Some(t - idle_s),
        idle_s,
        packets_local: 100,
        packets_peer: 90,
        retransmissions_local: retransmissions,
        retransmissions_peer: 0,
        silent: false,
        black_hole: false,
        analytics: None,
    }
}

fn link(name: &str, health: Health, conns: Vec<ConnectionDoc>) -> LinkDoc {
    let established = conns.iter().filter(|c| c.state == "established").count() as u32;
    LinkDoc {
        name: name.into(),
        interface: Some("eth1".into()),
        status: match health {
            Health::Critical => "down",
            Health::Unknown => "unknown",
            _ => "up",
        }
        .into(),
        verdict: Verdict {
            health,
            reason: format!("{established}/1 connections established"),
            beyond_count: Health::Ok,
            beyond_count_reason: None,
            incident: None,
            maintenance: None,
        },
        established,
        expected: 1,
        down_since: None,
        last_close: None,
        connections: conns,
    }
}

/// The perfdata labels of one link, in order.
const LABELS: [&str; 6] = [
    "established",
    "idle",
    "retransmits",
    "rtt",
    "response",
    "retransmit_rate",
];

fn healthy(name: &str) -> LinkDoc {
    link(name, Health::Ok, vec![conn("established", 2.0, 0)])
}

/// Writes a status document written `age` seconds ago into a new state dir.
fn state_dir(tag: &str, age: f64, links: Vec<LinkDoc>) -> TempDir {
    let dir = TempDir::new(tag);
    let t = now() - age;
    let doc = StatusDoc {
        version: 1,
        written_at: t,
        started_at: t - 3600.0,
        pid: 4242,
        write_interval_s: 1.0,
        links,
        captures: vec![CaptureDoc {
            interface: "eth1".into(),
            state: "running".into(),
            ..CaptureDoc::default()
        }],
        probe: Default::default(),
        evidence: Vec::new(),
    };
    linewatch::status::write(&dir.0, &doc).unwrap();
    dir
}

fn check(args: &[&str]) -> Output {
    Command::new(linewatch())
        .arg("check")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn check_dir(dir: &Path, args: &[&str]) -> Output {
    let d = dir.to_str().unwrap();
    let mut all = vec!["--state-dir", d];
    all.extend_from_slice(args);
    check(&all)
}

/// The guidelines' grammar for one performance data item.
fn perf_item() -> String {
    let num = r"-?[0-9]+(?:\.[0-9]+)?";
    let range = format!(r"@?(?:~|{num})?(?::(?:{num})?)?");
    let label = r"'(?:[^'=]|'')+'|[^'= ]+";
    let uom = r"(?:s|ms|us|%|B|KB|MB|GB|TB|c)?";
    format!(
        r"(?:{label})=(?:{num}{uom}|U)(?:;(?:{range})?(?:;(?:{range})?(?:;(?:{num})?(?:;(?:{num})?)?)?)?)?"
    )
}

/// Checks the whole output against the plugin guidelines and returns
/// (state word, summary, perfdata labels, long output lines).
fn plugin_output(out: &Output) -> (String, String, Vec<String>, Vec<String>) {
    assert!(
        out.stderr.is_empty(),
        "a plugin writes to stdout only: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let mut lines = text.lines();
    let first = lines.next().expect("at least one line");
    let item = perf_item();
    let line = Regex::new(&format!(
        r"^LINEWATCH (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| ((?:{item})(?: (?:{item}))*))?$"
    ))
    .unwrap();
    let caps = line
        .captures(first)
        .unwrap_or_else(|| panic!("first line breaks the guidelines: {first:?}"));
    let state = caps[1].to_string();
    let code = out.status.code().unwrap();
    let expected = match state.as_str() {
        "OK" => 0,
        "WARNING" => 1,
        "CRITICAL" => 2,
        _ => 3,
    };
    assert_eq!(code, expected, "exit code and state word disagree: {text}");
    let labels: Vec<String> = match caps.get(3) {
        Some(p) => Regex::new(&format!("(?:^| )({item})"))
            .unwrap()
            .captures_iter(p.as_str())
            .map(|c| {
                let it = c[1].to_string();
                it[..it.rfind('=').unwrap()].trim_matches('\'').to_string()
            })
            .collect(),
        None => Vec::new(),
    };
    let mut heads: Vec<String> = labels
        .iter()
        .map(|l| l.chars().take(19).collect())
        .collect();
    heads.sort();
    heads.dedup();
    assert_eq!(
        heads.len(),
        labels.len(),
        "labels not unique in 19 chars: {labels:?}"
    );
    let long: Vec<String> = lines.map(str::to_string).collect();
    for l in &long {
        assert!(
            !l.contains('|'),
            "a pipe in long output starts perfdata: {l:?}"
        );
    }
    (state, caps[2].to_string(), labels, long)
}

#[test]
fn perf_regex_accepts_the_guidelines_examples_and_refuses_others() {
    let re = Regex::new(&format!("^(?:{})$", perf_item())).unwrap();
    for good in [
        "'established'=0;;1:;0;1",
        "'idle'=42s;30;60;0",
        "'retransmits'=6c;3;10;0",
        "'idle'=U;;60;0",
        "'visa-primary established'=1;~:5;@1:2;0;1",
        "time=0.5s",
        "'it''s'=1",
    ] {
        assert!(re.is_match(good), "{good}");
    }
    for bad in [
        "'a'=",
        "'a'=1;;;;;",
        "'a=b'=1",
        "a b=1",
        "'a'=1x",
        "'a'=1;1:2:3",
    ] {
        assert!(!re.is_match(bad), "{bad}");
    }
}

// ---- from the daemon's status document ----

#[test]
fn ok_link_exits_0() {
    let dir = state_dir("ok", 0.2, vec![healthy("visa-primary")]);
    let out = check_dir(&dir.0, &["--link", "visa-primary"]);
    let (state, summary, labels, long) = plugin_output(&out);
    assert_eq!(state, "OK");
    assert_eq!(summary, "visa-primary: 1/1 connections established");
    assert_eq!(labels, LABELS);
    assert!(long[0].starts_with("10.0.0.5:40123 -> 203.0.113.10:5000 established, idle 2."));
    assert!(long.last().unwrap().starts_with("status written "));
}

#[test]
fn daemon_warning_exits_1() {
    let mut l = link(
        "visa-primary",
        Health::Warning,
        vec![conn("reset_by_peer", 1.0, 0)],
    );
    l.verdict.reason = "0/1 connections established, within the reconnect grace".into();
    let dir = state_dir("warn", 0.0, vec![l]);
    let out = check_dir(&dir.0, &["--link", "visa-primary"]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "WARNING");
    assert!(summary.contains("within the reconnect grace"), "{summary}");
    assert!(
        summary.contains("peer 203.0.113.10:5000 sent RST"),
        "{summary}"
    );
}

#[test]
fn link_down_exits_2_and_says_who_sent_fin() {
    let l = link(
        "visa-primary",
        Health::Critical,
        vec![conn("fin_from_peer", 42.0, 0)],
    );
    let dir = state_dir("crit", 0.0, vec![l]);
    let out = check_dir(&dir.0, &["--link", "visa-primary"]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "CRITICAL");
    assert!(
        summary.starts_with(
            "visa-primary: 0/1 connections established, peer 203.0.113.10:5000 sent FIN, last packet 42s ago"
        ),
        "{summary}"
    );
}

#[test]
fn thresholds_keep_the_policys_on_silence_verdict() {
    // The link's only connection is silent and the link says `on_silence =
    // "warning"`: the daemon's policy (and its page) say WARNING. Threshold
    // options replace the count rule only, so the check says WARNING too
    // (it once re-judged the silence and said CRITICAL).
    let mut c = conn("established", 50.0, 0);
    c.silent = true;
    let mut l = link("visa-primary", Health::Warning, vec![c]);
    let words = "1 of 1 established connections silent or black-holed";
    l.verdict.reason = words.into();
    l.verdict.beyond_count = Health::Warning;
    l.verdict.beyond_count_reason = Some(words.into());
    let dir = state_dir("on-silence", 1.0, vec![l]);
    for args in [&[][..], &["--idle-critical", "3600"][..]] {
        let out = check_dir(&dir.0, &[&["--link", "visa-primary"][..], args].concat());
        let (state, summary, _, _) = plugin_output(&out);
        assert_eq!(state, "WARNING", "{args:?}: {summary}");
        assert!(summary.contains(words), "{summary}");
    }
}

#[test]
fn idle_thresholds_warn_and_crit_including_the_documents_age() {
    let dir = state_dir(
        "idle",
        3.0,
        vec![link(
            "visa-primary",
            Health::Ok,
            vec![conn("established", 30.0, 0)],
        )],
    );
    let out = check_dir(
        &dir.0,
        &[
            "--link",
            "visa-primary",
            "--idle-warning",
            "30",
            "--idle-critical",
            "60",
        ],
    );
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "WARNING");
    assert!(summary.contains("idle 33s (warning range 30)"), "{summary}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("'idle'=33."), "{text}");
    let out = check_dir(
        &dir.0,
        &["--link", "visa-primary", "--idle-critical", "@20:40"],
    );
    assert_eq!(plugin_output(&out).0, "CRITICAL");
    let out = check_dir(
        &dir.0,
        &["--link", "visa-primary", "--idle-critical", "~:100"],
    );
    assert_eq!(plugin_output(&out).0, "OK");
}

#[test]
fn retransmit_and_established_thresholds() {
    let dir = state_dir(
        "retx",
        0.0,
        vec![link(
            "visa-primary",
            Health::Ok,
            vec![conn("established", 1.0, 7)],
        )],
    );
    let out = check_dir(
        &dir.0,
        &[
            "--link",
            "visa-primary",
            "--retransmits-warning",
            "5",
            "--retransmits-critical",
            "10",
        ],
    );
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "WARNING");
    assert!(summary.contains("retransmissions 7 (warning range 5)"));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("'retransmits'=7c;5;10;0 "));
    let out = check_dir(
        &dir.0,
        &["--link", "visa-primary", "--established-critical", "2:"],
    );
    assert_eq!(plugin_output(&out).0, "CRITICAL");
}

#[test]
fn all_reports_the_worst_link() {
    let mut backup = link(
        "visa-backup",
        Health::Critical,
        vec![conn("reset_by_peer", 3.0, 0)],
    );
    backup.verdict.reason = "0/1 connections established".into();
    let dir = state_dir("all", 0.0, vec![healthy("visa-primary"), backup]);
    let out = check_dir(&dir.0, &["--all"]);
    let (state, summary, labels, long) = plugin_output(&out);
    assert_eq!(state, "CRITICAL");
    assert!(
        summary.starts_with("CRITICAL visa-backup: 0/1"),
        "{summary}"
    );
    assert!(summary.ends_with("1/2 links OK"), "{summary}");
    // "visa-primary retransmits" and "visa-primary retransmit_rate" share
    // their first 19 characters: labels fall back to `metric N link`.
    assert_eq!(labels.len(), 12);
    assert_eq!(labels[0], "established 1 visa-primary");
    assert!(long.iter().any(|l| l.starts_with("[OK] visa-primary")));
    assert!(long.iter().any(|l| l.starts_with("[CRITICAL] visa-backup")));
}

// ---- UNKNOWN, one test per cause ----

#[test]
fn missing_status_document_is_unknown() {
    let dir = TempDir::new("missing");
    let out = check_dir(&dir.0, &["--link", "visa-primary"]);
    let (state, summary, labels, _) = plugin_output(&out);
    assert_eq!(state, "UNKNOWN");
    assert!(
        summary.contains("cannot read") && summary.contains("status.json"),
        "{summary}"
    );
    assert!(labels.is_empty());
}

#[test]
fn unparseable_status_document_is_unknown() {
    let dir = TempDir::new("garbage");
    std::fs::write(
        dir.0.join("status.json"),
        "{\"version\": 1, \"written_at\": ",
    )
    .unwrap();
    let out = check_dir(&dir.0, &["--link", "visa-primary"]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "UNKNOWN");
    assert!(
        summary.contains("is not a linewatch status document"),
        "{summary}"
    );
}

#[test]
fn unreadable_status_document_is_unknown() {
    // A directory where the file should be: the read fails (as root, a
    // permission error cannot be staged; this is the same code path).
    let dir = TempDir::new("unreadable");
    std::fs::create_dir_all(dir.0.join("status.json")).unwrap();
    let out = check_dir(&dir.0, &["--link", "visa-primary"]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "UNKNOWN");
    assert!(summary.contains("cannot read"), "{summary}");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn all_on_a_document_without_links_is_unknown() {
    let dir = state_dir("nolinks", 0.5, vec![]);
    let out = check_dir(&dir.0, &["--all"]);
    assert_eq!(plugin_output(&out).0, "UNKNOWN");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn the_daemons_own_unknown_stays_unknown_even_with_thresholds() {
    let mut l = healthy("visa-primary");
    l.verdict.health = Health::Unknown;
    l.verdict.reason = "capture lost on eth1: the probe cannot see the line".into();
    let dir = state_dir("daemon-unknown", 0.5, vec![l]);
    for args in [
        vec!["--link", "visa-primary"],
        vec!["--link", "visa-primary", "--idle-critical", "60"],
    ] {
        let out = check_dir(&dir.0, &args);
        let (state, summary, _, _) = plugin_output(&out);
        assert_eq!(state, "UNKNOWN", "{args:?}");
        assert!(summary.contains("capture lost"), "{summary}");
        assert_eq!(out.status.code(), Some(3));
    }
}

#[test]
fn stale_status_document_is_unknown() {
    let dir = state_dir("stale", 60.0, vec![healthy("visa-primary")]);
    let out = check_dir(&dir.0, &["--link", "visa-primary"]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "UNKNOWN");
    assert!(
        summary.contains("(limit 8.0s)") && summary.contains("is it running"),
        "{summary}"
    );
    // A looser --max-age accepts it, a tighter one refuses a fresh one.
    let out = check_dir(&dir.0, &["--link", "visa-primary", "--max-age", "120"]);
    assert_eq!(plugin_output(&out).0, "OK");
    let fresh = state_dir("fresh", 3.0, vec![healthy("visa-primary")]);
    let out = check_dir(&fresh.0, &["--link", "visa-primary", "--max-age", "1"]);
    assert_eq!(plugin_output(&out).0, "UNKNOWN");
}

#[test]
fn unknown_link_is_unknown() {
    let dir = state_dir("nolink", 0.0, vec![healthy("visa-primary")]);
    let out = check_dir(&dir.0, &["--link", "mastercard"]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "UNKNOWN");
    assert_eq!(
        summary,
        "link `mastercard` is not in the status document (links: visa-primary)"
    );
}

#[test]
fn bad_arguments_are_unknown_with_the_usage_line() {
    let cases: &[&[&str]] = &[
        &[],
        &["--frobnicate"],
        &["--link"],
        &["--link", "a", "--all"],
        &["--replay", "x.pcap"],
        &["--link", "a", "--timeout", "never"],
    ];
    for args in cases {
        let out = check(args);
        let (state, summary, _, long) = plugin_output(&out);
        assert_eq!(state, "UNKNOWN", "{args:?}");
        assert!(summary.starts_with("invalid arguments: "), "{summary}");
        assert!(
            long[0].starts_with("Usage: linewatch check --link NAME"),
            "{long:?}"
        );
    }
}

#[test]
fn invalid_ranges_are_unknown_with_a_clear_message() {
    let dir = state_dir("range", 0.0, vec![healthy("visa-primary")]);
    for (range, words) in [
        ("20:10", "the start is greater than the end"),
        ("abc", "`abc` is not a number"),
        ("1:2:3", "is not a number"),
        ("", "empty range"),
    ] {
        let arg = format!("--idle-critical={range}");
        let out = check_dir(&dir.0, &["--link", "visa-primary", &arg]);
        let (state, summary, _, _) = plugin_output(&out);
        assert_eq!(state, "UNKNOWN");
        assert!(summary.contains("--idle-critical"), "{summary}");
        assert!(summary.contains(words), "{range}: {summary}");
    }
}

#[test]
fn timeout_is_unknown() {
    // A FIFO with no writer: opening it blocks forever, like a hung NFS.
    let dir = TempDir::new("timeout");
    nix::unistd::mkfifo(
        &dir.0.join("status.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let started = Instant::now();
    let out = check_dir(&dir.0, &["--link", "visa-primary", "--timeout", "0.5"]);
    let took = started.elapsed();
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "UNKNOWN");
    assert_eq!(summary, "timed out after 0.5s");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn help_lists_the_thresholds_and_exits_unknown() {
    let out = check(&["--help"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "--established-critical",
        "--idle-warning",
        "--retransmits-critical",
        "--timeout",
    ] {
        assert!(text.contains(opt), "{opt}");
    }
}

#[test]
fn reading_the_status_document_is_fast() {
    let dir = state_dir("fast", 0.0, vec![healthy("visa-primary")]);
    let mut runs = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let out = check_dir(&dir.0, &["--link", "visa-primary"]);
        runs.push(started.elapsed());
        assert_eq!(out.status.code(), Some(0));
    }
    runs.sort();
    println!(
        "check --link, whole process (this build): median {:.1} ms, max {:.1} ms",
        runs[5].as_secs_f64() * 1e3,
        runs[9].as_secs_f64() * 1e3
    );
    // A debug build, process start included: generous, but catches a sleep
    // or a wait on the timeout thread.
    assert!(runs[5] < Duration::from_millis(500), "{runs:?}");
}

// ---- standalone: replay a capture file ----

fn replay(file: &str, peer: &str, extra: &[&str]) -> Output {
    let path = fixtures().join(file);
    let mut args = vec!["--replay", path.to_str().unwrap(), "--peer", peer];
    args.extend_from_slice(extra);
    check(&args)
}

#[test]
fn replay_judges_the_fixtures_at_their_last_packet() {
    let peer = "203.0.113.10:5000";
    for (file, peer, state, words) in [
        // FIN from the peer, RST, reconnect: up again at the end, but the
        // drop was 31 s before the last packet, within the hold-down (60 s):
        // a WARNING, as the daemon's policy says at that moment.
        (
            "iso8583-fin-from-peer.pcap",
            peer,
            "WARNING",
            "1/1 connections established, a connection was closed or reset less than 1m 0s ago",
        ),
        // We abort, reconnect 30 s later; the file ends 50 s after the RST.
        (
            "rst-from-local.pcap",
            peer,
            "WARNING",
            "1/1 connections established, a connection was closed or reset less than 1m 0s ago",
        ),
        ("silence.pcap", peer, "OK", "1/1 connections established"),
        ("black-hole.pcap", peer, "OK", "1/1 connections established"),
        // Ends right after both FINs: short of a connection within the grace.
        (
            "pci-full-payload.pcap",
            peer,
            "WARNING",
            "within the reconnect grace",
        ),
        // The backup line is reset and stays down.
        (
            "pcapng-two-interfaces.pcapng",
            "198.51.100.20:5000",
            "CRITICAL",
            "0/1 connections established",
        ),
        // RST, link down, back 10 s later; the file ends 30 s after the RST.
        (
            "ipv6.pcap",
            "[2001:db8::10]:5000",
            "WARNING",
            "1/1 connections established, a connection was closed or reset less than 1m 0s ago",
        ),
    ] {
        let out = replay(file, peer, &["--link", "visa"]);
        let (got, summary, labels, long) = plugin_output(&out);
        assert_eq!(got, state, "{file}: {summary}");
        assert!(summary.starts_with("visa: "), "{file}: {summary}");
        assert!(summary.contains(words), "{file}: {summary}");
        assert_eq!(labels, LABELS);
        assert!(
            long.last().unwrap().contains("the last packet of"),
            "{long:?}"
        );
    }
}

#[test]
fn replay_applies_thresholds() {
    let peer = "203.0.113.10:5000";
    // Six retransmissions of our request in the black hole.
    let out = replay("black-hole.pcap", peer, &["--retransmits-warning", "3"]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "WARNING");
    assert!(summary.contains("retransmissions 6"), "{summary}");
    let out = replay("black-hole.pcap", peer, &["--retransmits-critical", "5"]);
    assert_eq!(plugin_output(&out).0, "CRITICAL");
    // Two connections expected, one there.
    let out = replay(
        "iso8583-fin-from-peer.pcap",
        peer,
        &["--expect-connections", "2", "--established-warning", "2:"],
    );
    assert_eq!(plugin_output(&out).0, "WARNING");
    // No connection of that peer at all in the file.
    let out = replay("ipv6.pcap", peer, &[]);
    assert_eq!(plugin_output(&out).0, "CRITICAL");
}

#[test]
fn replay_of_a_missing_file_is_unknown() {
    let out = check(&[
        "--replay",
        "/nonexistent.pcap",
        "--peer",
        "203.0.113.10:5000",
    ]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "UNKNOWN");
    assert!(summary.contains("/nonexistent.pcap"), "{summary}");
}

// ---- standalone: live capture ----

#[test]
fn live_capture_on_a_missing_interface_is_unknown() {
    let out = check(&[
        "--interface",
        "lwnosuch0",
        "--peer",
        "203.0.113.10:5000",
        "--duration",
        "0.2s",
    ]);
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "UNKNOWN");
    assert!(summary.starts_with("capture on lwnosuch0: "), "{summary}");
}

#[test]
fn live_capture_on_loopback_sees_an_established_connection() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: capturing on lo needs root");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = format!("127.0.0.1:{port}");
    let child = Command::new(linewatch())
        .args([
            "check",
            "--interface",
            "lo",
            "--peer",
            &peer,
            "--duration",
            "2s",
            "--link",
            "loop",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give the capture time to open, then talk: even a connection that
    // starts before the capture is picked up mid-stream by its data.
    std::thread::sleep(Duration::from_millis(500));
    let mut client = TcpStream::connect(&peer).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let until = Instant::now() + Duration::from_millis(1200);
    let mut buf = [0u8; 4];
    while Instant::now() < until {
        client.write_all(b"ping").unwrap();
        server.read_exact(&mut buf).unwrap();
        server.write_all(b"pong").unwrap();
        client.read_exact(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let (state, summary, _, long) = plugin_output(&out);
    assert_eq!(state, "OK", "{summary} {long:?}");
    assert_eq!(summary, "loop: 1/1 connections established");
    assert!(
        long.iter()
            .any(|l| l.contains("after a 2.0s capture on lo")),
        "{long:?}"
    );
}

/// A connection whose analytics show a 40 ms round trip, 180 ms responses
/// and a 3 % peer retransmission rate.
fn analysed(mut c: ConnectionDoc) -> ConnectionDoc {
    use linewatch::output::analytics::{AnalyticsDoc, BySide, WindowDoc};
    let window = |p50: f64| WindowDoc {
        p50,
        min: p50 - 1.0,
        max: p50 + 5.0,
        p90: p50 + 2.0,
        p99: p50 + 4.0,
        samples: 60,
        ..WindowDoc::default()
    };
    c.analytics = Some(AnalyticsDoc {
        rtt_ms: Some(window(40.0)),
        response_ms: Some(window(180.0)),
        retransmit_rate: BySide {
            local: Some(0.0),
            peer: Some(0.03),
        },
        ..AnalyticsDoc::default()
    });
    c
}

#[test]
fn round_trip_and_response_perfdata_and_thresholds() {
    let l = link(
        "visa-primary",
        Health::Ok,
        vec![analysed(conn("established", 1.0, 0))],
    );
    let dir = state_dir("analytics", 0.2, vec![l]);
    let out = check_dir(&dir.0, &["--link", "visa-primary"]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(plugin_output(&out).0, "OK");
    assert!(
        text.contains("'rtt'=40ms;;;0 'response'=180ms;;;0 'retransmit_rate'=3%;;;0;100"),
        "{text}"
    );
    assert!(
        text.contains("rtt p50 40 ms, response p50 180 ms"),
        "{text}"
    );
    let out = check_dir(
        &dir.0,
        &[
            "--link",
            "visa-primary",
            "--rtt-warning",
            "30",
            "--response-critical",
            "150",
        ],
    );
    let (state, summary, _, _) = plugin_output(&out);
    assert_eq!(state, "CRITICAL", "{summary}");
    assert!(
        summary.contains("rtt 40 ms (warning range 30)"),
        "{summary}"
    );
    assert!(
        summary.contains("response 180 ms (critical range 150)"),
        "{summary}"
    );
    let out = check_dir(
        &dir.0,
        &[
            "--link",
            "visa-primary",
            "--rtt-critical",
            "50",
            "--response-warning",
            "200",
        ],
    );
    assert_eq!(plugin_output(&out).0, "OK");
}
