//! A page the policy decided on survives the daemon being killed: after a
//! SIGKILL while the trigger is still in the outbox (PagerDuty unreachable)
//! and a restart, the trigger arrives once, and the inherited incident is
//! resolved once, in order.

mod common;
mod live;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use live::{available, Cmd, Daemon, Net, Peer, TempDir, SERIAL};

const PD_PORT: u16 = 18_080;
const STATSD_PORT: u16 = 18_125;

/// A DogStatsD listener on 127.0.0.1 inside the client namespace.
fn statsd(net: &Net) -> Arc<Mutex<Vec<String>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    net.spawn_in(&net.client.clone(), move || {
        let sock = std::net::UdpSocket::bind(("127.0.0.1", STATSD_PORT)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 9000];
        while let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            g.lock().unwrap().extend(text.lines().map(str::to_string));
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    got
}

/// A PagerDuty stand-in listening on 127.0.0.1 inside the client namespace.
fn pagerduty(net: &Net) -> Arc<Mutex<Vec<serde_json::Value>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    net.spawn_in(&net.client.clone(), move || {
        let listener = TcpListener::bind(("127.0.0.1", PD_PORT)).unwrap();
        ready_tx.send(()).unwrap();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            g.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap_or_default());
            let _ = stream.write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            );
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    got
}

/// The live config with a 2 s `hold_down`, PagerDuty at the stand-in
/// (routing key in a file) and `extra` appended.
fn paging_config(net: &Net, dir: &TempDir, extra: &str) -> std::path::PathBuf {
    let config = net.config(&dir.0);
    let key = dir.0.join("routing-key");
    std::fs::write(&key, "test-routing-key-0123456789abcdef").unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "reconnect_grace = \"500ms\"",
        "reconnect_grace = \"500ms\"\nhold_down = \"2s\"",
    );
    text.push_str(&format!(
        "\n[pagerduty]\nevents_url = \"http://127.0.0.1:{PD_PORT}/v2/enqueue\"\nrouting_key_file = \"{}\"\n",
        key.display()
    ));
    text.push_str(extra);
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn page_pending_at_sigkill_arrives_once_after_restart() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available() {
        return;
    }
    let dir = TempDir::new("sigkill");
    let net = Net::new();
    let server = Peer::server(&net);
    let config = paging_config(
        &net,
        &dir,
        &format!("\n[statsd]\naddress = \"127.0.0.1:{STATSD_PORT}\"\n"),
    );

    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client(&net, true);
    daemon.wait_for("established", live_timeout(), |_| true);
    std::thread::sleep(Duration::from_millis(300));
    // The line breaks: reset, reconnects refused, link down -> a trigger,
    // which cannot be delivered (nothing listens on the PagerDuty port).
    server.send(Cmd::StopListening);
    server.send(Cmd::Abort);
    daemon.wait_for("link_down", live_timeout(), |_| true);
    let outbox = daemon.state_dir.join("outbox/pagerduty");
    let deadline = Instant::now() + live_timeout();
    while std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "no trigger in the outbox:\n{}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "incidents.json: {}",
        std::fs::read_to_string(daemon.state_dir.join("incidents.json")).unwrap_or_default()
    );
    assert!(daemon.state_dir.join("incidents.json").exists());
    // SIGKILL: no chance to flush anything.
    daemon.signal(nix::sys::signal::Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(200));
    drop(daemon);

    // The line and PagerDuty come back; the daemon restarts.
    server.send(Cmd::Listen);
    let got = pagerduty(&net);
    let metrics = statsd(&net);
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = got.lock().unwrap().len();
        if n >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "got {:?}\n{}",
            got.lock().unwrap(),
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing more arrives.
    std::thread::sleep(Duration::from_secs(3));
    let got = got.lock().unwrap().clone();
    let actions: Vec<(&str, &str)> = got
        .iter()
        .map(|b| {
            (
                b["event_action"].as_str().unwrap_or("?"),
                b["dedup_key"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("trigger", "linewatch/visa-test"),
            ("resolve", "linewatch/visa-test")
        ],
        "{}",
        daemon.stderr()
    );
    assert!(daemon.stderr().contains("left open by the previous run"));
    // The daemon's DogStatsD output: heartbeat, gauges, service checks.
    let lines = metrics.lock().unwrap().clone();
    for l in &lines {
        assert!(
            common::dogstatsd_line_ok(l),
            "malformed DogStatsD line: {l}"
        );
    }
    for want in [
        "linewatch.probe.heartbeat:1|g",
        "linewatch.link.established:1|g|#link:visa-test",
        "_sc|linewatch.link|0|",
        "_sc|linewatch.probe|0|",
        "linewatch.emit.pending:0|g|#dest:pagerduty",
        "linewatch.connection.last_packet_age:",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "no `{want}` in {lines:#?}"
        );
    }
    daemon.collect(Duration::from_millis(10), "-");
    drop((client, server));
}

fn live_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Issue 14: the trigger names the incident's evidence file, and once the
/// file is closed its SHA-256 reaches PagerDuty (an update on the open
/// incident, before its resolve), matching the file and its sidecar.
#[test]
fn the_page_names_the_evidence_file_and_an_update_carries_its_hash() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available() {
        return;
    }
    let dir = TempDir::new("evidence-page");
    let net = Net::new();
    let server = Peer::server(&net);
    let config = paging_config(
        &net,
        &dir,
        "\n[evidence]\nbefore = \"1m\"\nafter = \"1s\"\n",
    );
    let got = pagerduty(&net);
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client(&net, true);
    daemon.wait_for("established", live_timeout(), |_| true);
    std::thread::sleep(Duration::from_millis(300));
    // RST, reconnects refused, link down: a CRITICAL trigger.
    server.send(Cmd::StopListening);
    server.send(Cmd::Abort);
    daemon.wait_for("link_down", live_timeout(), |_| true);
    // The line comes back; hold_down later the incident resolves.
    std::thread::sleep(Duration::from_millis(2500));
    server.send(Cmd::Listen);
    let deadline = Instant::now() + Duration::from_secs(20);
    let bodies = loop {
        let bodies = got.lock().unwrap().clone();
        if bodies.iter().any(|b| b["event_action"] == "resolve") {
            break bodies;
        }
        assert!(
            Instant::now() < deadline,
            "no resolve: {bodies:#?}\n{}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let trigger = bodies
        .iter()
        .find(|b| b["event_action"] == "trigger")
        .unwrap();
    let file = trigger["payload"]["custom_details"]["evidence"]["file"]
        .as_str()
        .unwrap_or_else(|| panic!("the trigger names no evidence file: {trigger}"))
        .to_string();
    assert!(file.ends_with("-reset.pcapng"), "{file}");
    assert!(trigger["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains(&file));
    let sha = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(std::fs::read(&file).unwrap()))
    };
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(&file).with_extension("json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["sha256"].as_str(), Some(sha.as_str()));
    // While the incident was open, the closed file's hash went out as an
    // update on the same dedup key (a PagerDuty resolve carries no
    // payload: Events API v2), before the resolve.
    assert!(
        bodies.iter().any(|b| b["event_action"] == "trigger"
            && b["payload"]["class"] == "evidence"
            && b["payload"]["custom_details"]["evidence"]["sha256"].as_str() == Some(sha.as_str())
            && b["dedup_key"] == trigger["dedup_key"]),
        "{bodies:#?}"
    );
    let update = bodies
        .iter()
        .position(|b| b["payload"]["class"] == "evidence")
        .unwrap();
    let resolve = bodies
        .iter()
        .position(|b| b["event_action"] == "resolve")
        .unwrap();
    assert!(update < resolve, "{bodies:#?}");
    daemon.collect(Duration::from_millis(10), "-");
    drop((client, server));
}

/// Waits until `pred` holds for the bodies PagerDuty received.
fn wait_for_pages(
    got: &Arc<Mutex<Vec<serde_json::Value>>>,
    what: &str,
    within: Duration,
    pred: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let bodies = got.lock().unwrap().clone();
        if pred(&bodies) {
            return bodies;
        }
        assert!(Instant::now() < deadline, "no {what}; got {bodies:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tmpfs mounted on a directory for a test, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        live::sh(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            dir.to_str().unwrap(),
        ])
        .unwrap();
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = live::sh(&["umount", "-l", self.0.to_str().unwrap()]);
    }
}

/// The state directory fills up (a tiny tmpfs): status and outbox writes
/// fail with a clear, rate-limited log line and a probe trouble (its own
/// page), nothing panics, the line's page is delivered from memory; when
/// space returns the status document is written again and the probe
/// trouble resolves. No page is lost.
#[test]
fn a_full_state_directory_loses_no_page() {
    let Some(_serial) = live::begin() else {
        return;
    };
    let dir = TempDir::new("statefull");
    let net = Net::new();
    let server = Peer::server(&net);
    let got = pagerduty(&net);
    let config = paging_config(&net, &dir, "");
    let tmpfs = Tmpfs::mount(&dir.0.join("state"), "1m");
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client(&net, false);
    daemon.wait_for("established", live_timeout(), |_| true);
    std::thread::sleep(Duration::from_millis(500));
    // Fill it: writes fail with ENOSPC from now on.
    let filler = tmpfs.0.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    drop(f);
    let full_at = Instant::now();
    // The line breaks: a page is due.
    server.send(Cmd::Abort);
    daemon.wait_for("link_down", live_timeout(), |_| true);
    let bodies = wait_for_pages(
        &got,
        "line trigger and probe trigger",
        live_timeout(),
        |b| {
            b.iter()
                .any(|b| b["event_action"] == "trigger" && b["dedup_key"] == "linewatch/visa-test")
                && b.iter().any(|b| {
                    b["event_action"] == "trigger"
                        && b["dedup_key"]
                            .as_str()
                            .unwrap_or("")
                            .starts_with("linewatch-probe/")
                })
        },
    );
    let probe = bodies
        .iter()
        .find(|b| {
            b["dedup_key"]
                .as_str()
                .unwrap_or("")
                .starts_with("linewatch-probe/")
        })
        .unwrap();
    let summary = probe["payload"]["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(summary.contains("state directory"), "{summary}");
    // Let it fail for a while: the log says so, within its budget.
    std::thread::sleep(Duration::from_secs(6));
    assert!(daemon.is_running(), "{}", daemon.stderr());
    let stderr = daemon.stderr();
    let failures = stderr.matches("cannot write status").count();
    assert!(failures >= 1, "{stderr}");
    // status_interval 200 ms: about 30 failures in 6 s, 20 logged.
    assert_eq!(failures, 20, "{failures} lines:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stale = linewatch::status::read(&daemon.state_dir)
        .unwrap()
        .written_at;

    // Space returns: status is written again, the probe trouble resolves.
    std::fs::remove_file(&filler).unwrap();
    let back = Instant::now();
    let deadline = back + live_timeout();
    loop {
        let doc = linewatch::status::read(&daemon.state_dir).unwrap();
        if doc.written_at > stale && doc.probe.troubles.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status not written again: {doc:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The probe's incident resolves after its calm hold (60 s).
    let bodies = wait_for_pages(&got, "probe resolve", Duration::from_secs(75), |b| {
        b.iter().any(|b| {
            b["event_action"] == "resolve"
                && b["dedup_key"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("linewatch-probe/")
        })
    });
    let triggers = bodies
        .iter()
        .filter(|b| b["event_action"] == "trigger" && b["dedup_key"] == "linewatch/visa-test")
        .count();
    assert_eq!(
        triggers, 1,
        "the line's page arrived exactly once: {bodies:?}"
    );
    // Nothing is left waiting, in memory or on disk.
    let deadline = Instant::now() + live_timeout();
    loop {
        let doc = linewatch::status::read(&daemon.state_dir).unwrap();
        if doc.probe.outboxes.iter().all(|o| o.pending == 0) {
            break;
        }
        assert!(Instant::now() < deadline, "{doc:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The rest were counted, and said so when the interval ended.
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("more lines like this one were held back")
            && stderr.contains("cannot write status"),
        "{stderr}"
    );
    eprintln!(
        "state dir full for {:?}: {failures} status failures logged",
        back - full_at
    );
    drop(client);
    drop(daemon);
    drop(tmpfs);
}
