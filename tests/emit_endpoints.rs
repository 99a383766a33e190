//! Pages and metrics against real local endpoints that misbehave.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What the server does with the next request.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Status500,
    TooMany(u64),
    Stall(Duration),
    /// 400 with PagerDuty's error body, as for an invalid routing key.
    BadRequest,
    Accept,
}

#[derive(Default)]
struct Seen {
    /// Requests answered 2xx, in order: (path, body).
    accepted: Vec<(String, Value)>,
    /// Every request, with what was done.
    log: Vec<String>,
}

/// Validates a PagerDuty Events v2 body like the real endpoint would.
fn validate_pagerduty(v: &Value) -> Result<(), String> {
    let key = v["routing_key"].as_str().ok_or("routing_key missing")?;
    // The tests' keys all have this form (one per team in the routing test).
    if !key.starts_with("test-routing-key-") || key.len() != 33 {
        return Err(format!("wrong routing key {key}"));
    }
    let action = v["event_action"].as_str().ok_or("event_action missing")?;
    let dedup = v["dedup_key"].as_str().ok_or("dedup_key missing")?;
    if dedup.is_empty() || dedup.len() > 255 {
        return Err("dedup_key length".into());
    }
    match action {
        "trigger" => {
            let p = &v["payload"];
            let summary = p["summary"].as_str().ok_or("summary missing")?;
            if summary.is_empty() || summary.len() > 1024 {
                return Err("summary length".into());
            }
            p["source"]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or("source missing")?;
            match p["severity"].as_str() {
                Some("critical" | "error" | "warning" | "info") => {}
                other => return Err(format!("bad severity {other:?}")),
            }
            let ts = p["timestamp"].as_str().ok_or("timestamp missing")?;
            if !(ts.len() >= 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z')) {
                return Err(format!("timestamp {ts} is not ISO 8601 UTC"));
            }
            Ok(())
        }
        "resolve" | "acknowledge" => Ok(()),
        other => Err(format!("bad event_action {other}")),
    }
}

fn read_request(stream: &mut TcpStream) -> Option<(String, String, Value)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some((
        method,
        path,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ))
}

fn respond(stream: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
}

/// A server on `port` that starts listening after `delay` (so the first
/// attempts are refused) and plays `faults` in turn, then accepts.
fn server(
    port: u16,
    delay: Duration,
    faults: Vec<Fault>,
    slack_429_first: bool,
) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let mut faults = faults.into_iter();
        let mut slack_429 = slack_429_first;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some((method, path, body)) = read_request(&mut stream) else {
                continue;
            };
            let s = s.clone();
            if path.starts_with("/slack") {
                if slack_429 {
                    slack_429 = false;
                    s.lock().unwrap().log.push("slack 429".into());
                    respond(
                        &mut stream,
                        "429 Too Many Requests",
                        "Retry-After: 1\r\n",
                        "rate_limited",
                    );
                } else {
                    assert!(
                        body["text"].as_str().is_some_and(|t| !t.is_empty()),
                        "slack text {body}"
                    );
                    s.lock().unwrap().accepted.push((path, body));
                    respond(&mut stream, "200 OK", "", "ok");
                }
                continue;
            }
            assert_eq!(method, "POST");
            if let Err(e) = validate_pagerduty(&body) {
                s.lock().unwrap().log.push(format!("400 {e}"));
                respond(
                    &mut stream,
                    "400 Bad Request",
                    "",
                    &format!("{{\"status\":\"invalid event\",\"message\":\"{e}\"}}"),
                );
                continue;
            }
            match faults.next().unwrap_or(Fault::Accept) {
                Fault::Status500 => {
                    s.lock().unwrap().log.push("500".into());
                    respond(&mut stream, "500 Internal Server Error", "", "oops");
                }
                Fault::TooMany(after) => {
                    s.lock()
                        .unwrap()
                        .log
                        .push(format!("429 retry-after {after}"));
                    respond(
                        &mut stream,
                        "429 Too Many Requests",
                        &format!("Retry-After: {after}\r\n"),
                        "slow down",
                    );
                }
                Fault::Stall(d) => {
                    s.lock().unwrap().log.push("stall".into());
                    // The client gives up first; this answer goes nowhere
                    // and is not an acceptance.
                    std::thread::spawn(move || {
                        std::thread::sleep(d);
                        respond(&mut stream, "500 Internal Server Error", "", "too late");
                    });
                }
                Fault::BadRequest => {
                    s.lock()
                        .unwrap()
                        .log
                        .push(format!("400 injected {}", body["event_action"]));
                    respond(
                        &mut stream,
                        "400 Bad Request",
                        "",
                        "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":[\"Invalid routing key\"]}",
                    );
                }
                Fault::Accept => {
                    s.lock()
                        .unwrap()
                        .log
                        .push(format!("202 {}", body["event_action"]));
                    s.lock().unwrap().accepted.push((path, body));
                    respond(
                        &mut stream,
                        "202 Accepted",
                        "",
                        "{\"status\":\"success\",\"message\":\"Event processed\"}",
                    );
                }
            }
        }
    });
    seen
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &std::path::Path, port: u16, statsd: &str) -> std::path::PathBuf {
    let key = dir.join("routing-key");
    std::fs::write(&key, "test-routing-key-0123456789abcdef\n").unwrap();
    let text = format!(
        "[daemon]\nhost = \"gw-test\"\n\n[[link]]\nname = \"visa-primary\"\npeer = [\"203.0.113.10:5000\"]\nhold_down = \"20s\"\n\n[statsd]\naddress = \"{statsd}\"\n\n[pagerduty]\nevents_url = \"http://127.0.0.1:{port}/v2/enqueue\"\nrouting_key_file = \"{}\"\n\n[slack]\nwebhook_url_env = \"LINEWATCH_TEST_SLACK\"\n",
        key.display()
    );
    let path = dir.join("linewatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The FIN-from-peer fixture's FIN counter, as DogStatsD receives it.
const FIN_LINE: &str =
    "linewatch.fin:1|c|#link:visa-primary,peer:203.0.113.10:5000,side:peer,sender:endpoint";

/// Every line of the datagrams `recv` returns until it times out, each
/// checked with the DogStatsD grammar; `none` is the failure when there is
/// not one.
fn checked_datagrams(
    mut recv: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
    none: &str,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut buf = [0u8; 9000];
    while let Ok(n) = recv(&mut buf) {
        lines.extend(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_string),
        );
    }
    assert!(!lines.is_empty(), "{none}");
    for l in &lines {
        assert!(
            common::dogstatsd_line_ok(l),
            "malformed DogStatsD line: {l}"
        );
    }
    lines
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("linewatch-emit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// End to end: the FIN-from-peer fixture replayed with `--emit live`
/// against a PagerDuty endpoint that refuses connections, fails with 500,
/// rate-limits with Retry-After, stalls past the client's timeout, then
/// accepts: the trigger and the resolve each arrive exactly once, in order,
/// the secrets never appear in the output, and DogStatsD datagrams reach
/// a UDP listener.
#[test]
fn pages_arrive_exactly_once_in_order_through_faults() {
    let dir = tempdir("e2e");
    let port = free_port();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let cfg = config(&dir, port, &udp.local_addr().unwrap().to_string());
    let seen = server(
        port,
        Duration::from_millis(1500),
        vec![
            Fault::Status500,
            Fault::TooMany(1),
            Fault::Stall(Duration::from_secs(10)),
        ],
        true,
    );
    let start = Instant::now();
    let out = Command::new(common::linewatch())
        .args(["replay", "--emit", "live", "--config"])
        .arg(&cfg)
        .arg(common::fixtures().join("iso8583-fin-from-peer.pcap"))
        .env(
            "LINEWATCH_TEST_SLACK",
            format!("http://127.0.0.1:{port}/slack/T000/B000/secretsecret"),
        )
        .output()
        .unwrap();
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let seen = seen.lock().unwrap();
    let pd: Vec<(String, String)> = seen
        .accepted
        .iter()
        .filter(|(p, _)| p.starts_with("/v2/enqueue"))
        .map(|(_, b)| {
            (
                b["event_action"].as_str().unwrap().to_string(),
                b["dedup_key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    println!(
        "server log: {:?}\ntook {took:?}\nstderr:\n{stderr}",
        seen.log
    );
    assert_eq!(
        pd,
        vec![
            ("trigger".to_string(), "linewatch/visa-primary".to_string()),
            ("resolve".to_string(), "linewatch/visa-primary".to_string())
        ]
    );
    let trigger = &seen
        .accepted
        .iter()
        .find(|(_, b)| b["event_action"] == "trigger")
        .unwrap()
        .1;
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "gw-test");
    assert_eq!(trigger["payload"]["component"], "visa-primary");
    assert_eq!(trigger["payload"]["custom_details"]["from"], "peer");
    // Who really sent the FIN, in full.
    let a = &trigger["payload"]["custom_details"]["attribution"];
    assert_eq!(a["sender"], "endpoint", "{a}");
    assert_eq!(a["reasons"][0], "ttl 64 as usual for the peer", "{a}");
    assert_eq!(a["ttl"], 64, "{a}");
    assert!(trigger["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains("peer 203.0.113.10:5000 sent FIN"));
    // First attempts found nobody listening: refused, retried.
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(
        stderr.contains("timed out"),
        "the 10 s stall must hit the client's timeout: {stderr}"
    );
    // The faults were all played before the acceptance.
    for f in ["500", "429 retry-after 1", "stall"] {
        assert!(
            seen.log.iter().any(|l| l == f),
            "fault {f} not exercised: {:?}",
            seen.log
        );
    }
    // Slack: after its 429, both messages arrive once.
    let slack: Vec<&Value> = seen
        .accepted
        .iter()
        .filter(|(p, _)| p.starts_with("/slack"))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(slack[0]["text"].as_str().unwrap().contains("CRITICAL"));
    assert!(slack[1]["text"].as_str().unwrap().contains("resolved"));
    // Secrets never in output or logs.
    for text in [&stdout, &stderr] {
        assert!(!text.contains("test-routing-key"), "routing key leaked");
        assert!(!text.contains("secretsecret"), "webhook URL leaked");
    }
    // DogStatsD datagrams, checked line by line.
    let lines = checked_datagrams(|b| udp.recv(b), "no DogStatsD datagram received");
    assert!(lines.iter().any(|l| l == FIN_LINE), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("_e{") && l.contains("OK -> WARNING")),
        "{lines:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dry_run_prints_what_would_be_sent_and_masks_secrets() {
    let dir = tempdir("dry");
    let cfg = config(&dir, 9, "127.0.0.1:8125");
    let out = Command::new(common::linewatch())
        .args(["replay", "--emit", "dry-run", "--config"])
        .arg(&cfg)
        .arg(common::fixtures().join("flapping.pcap"))
        .env(
            "LINEWATCH_TEST_SLACK",
            "http://127.0.0.1:9/slack/secretsecret",
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let posts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("POST pagerduty "))
        .collect();
    // Ten bounces in a minute, then 80 s up with hold_down 20 s: one incident.
    assert_eq!(posts.len(), 2, "{posts:#?}");
    assert!(
        posts[0].contains("\"event_action\":\"trigger\"")
            && posts[1].contains("\"event_action\":\"resolve\"")
    );
    assert!(posts.iter().all(|p| p.contains("\"routing_key\":\"***\"")));
    assert!(!text.contains("secretsecret") && !text.contains("test-routing-key"));
    assert!(text
        .lines()
        .any(|l| l.starts_with("UDP statsd linewatch.reset:1|c|")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trigger refused with 400 is not retried, its resolve is never sent
/// (PagerDuty would only refuse it too), and PagerDuty's error is logged.
#[test]
fn a_trigger_refused_with_400_is_not_retried_and_takes_its_resolve_with_it() {
    let dir = tempdir("e400");
    let port = free_port();
    let cfg = config(&dir, port, "127.0.0.1:9");
    let seen = server(port, Duration::ZERO, vec![Fault::BadRequest], false);
    std::thread::sleep(Duration::from_millis(200));
    let out = Command::new(common::linewatch())
        .args(["replay", "--emit", "live", "--config"])
        .arg(&cfg)
        .arg(common::fixtures().join("iso8583-fin-from-peer.pcap"))
        .env(
            "LINEWATCH_TEST_SLACK",
            format!("http://127.0.0.1:{port}/slack/x"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let seen = seen.lock().unwrap();
    let pd: Vec<&String> = seen
        .log
        .iter()
        .filter(|l| !l.starts_with("slack"))
        .collect();
    assert_eq!(pd, vec!["400 injected \"trigger\""], "{stderr}");
    assert!(
        !seen
            .accepted
            .iter()
            .any(|(p, _)| p.starts_with("/v2/enqueue")),
        "nothing accepted"
    );
    assert!(stderr.contains("Invalid routing key"), "{stderr}");
    assert!(
        stderr.contains("dropping resolve of linewatch/visa-primary"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A dry run prints only what a live run would send: without `[slack]`
/// and `[statsd]`, no Slack POST and no datagram.
#[test]
fn dry_run_prints_only_the_configured_destinations() {
    let dir = tempdir("dry-pd-only");
    let cfg = config(&dir, 9, "127.0.0.1:8125");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let pd_only = text.split("\n\n[statsd]").next().unwrap().to_string()
        + "\n\n"
        + &text[text.find("[pagerduty]").unwrap()..text.find("[slack]").unwrap()];
    assert!(!pd_only.contains("[slack]") && !pd_only.contains("[statsd]"));
    std::fs::write(&cfg, pd_only).unwrap();
    let fixture = common::fixtures().join("flapping.pcap");
    let text = common::linewatch_ok([
        "replay".as_ref(),
        "--emit".as_ref(),
        "dry-run".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        fixture.as_os_str(),
    ]);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("POST pagerduty "))
            .count(),
        2,
        "{text}"
    );
    assert!(!text.contains("POST slack"), "{text}");
    assert!(!text.contains("UDP statsd"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_config_never_prints_secrets() {
    let dir = tempdir("mask");
    let cfg = config(&dir, 9, "127.0.0.1:8125");
    let out = Command::new(common::linewatch())
        .arg("check-config")
        .arg(&cfg)
        .env(
            "LINEWATCH_TEST_SLACK",
            "http://127.0.0.1:9/slack/secretsecret",
        )
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("routing_key_file") && text.contains("readable, 33 characters"),
        "{text}"
    );
    assert!(
        !text.contains("test-routing-key") && !text.contains("secretsecret"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// DogStatsD over the agent's Unix datagram socket: the FIN-from-peer
/// fixture replayed with `--emit live` and `[statsd] address =
/// "unix://..."`; every line that reaches a real Unix datagram listener
/// passes the grammar check, the FIN counter among them.
#[test]
fn dogstatsd_lines_reach_the_agents_unix_socket() {
    let dir = tempdir("dsd");
    let socket = dir.join("dsd.socket");
    let listener = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let cfg = dir.join("linewatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[daemon]\nhost = \"gw-test\"\n\n[[link]]\nname = \"visa-primary\"\npeer = [\"203.0.113.10:5000\"]\n\n[statsd]\naddress = \"unix://{}\"\n",
            socket.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(common::linewatch())
        .args(["replay", "--emit", "live", "--config"])
        .arg(&cfg)
        .arg(common::fixtures().join("iso8583-fin-from-peer.pcap"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read while the replay runs, as the agent does: a Unix datagram
    // socket queues only `net.unix.max_dgram_qlen` datagrams (10 by
    // default), and the sink, non-blocking so that a slow agent never
    // stalls the probe, drops what does not fit (a CI run read the first
    // datagram only, after the replay had ended). Done once the replay
    // has exited and the queue is empty.
    let lines = checked_datagrams(
        |b| loop {
            match listener.recv(b) {
                Ok(n) => return Ok(n),
                Err(e) if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) => return Err(e),
                Err(_) => {}
            }
        },
        "no datagram on the Unix socket",
    );
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lines.iter().any(|l| l == FIN_LINE), "{lines:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Several teams: a link with its own PagerDuty routing key and Slack
/// webhook pages with them; the same capture with a link that has none
/// pages with the sections' (the default, which the probe's own
/// incidents also use). Neither secret is ever printed.
#[test]
fn a_link_with_its_own_routing_key_and_webhook_pages_its_own_team() {
    for (link, own) in [("visa-primary", true), ("mc-primary", false)] {
        let dir = tempdir(&format!("route-{link}"));
        let port = free_port();
        let default_key = dir.join("default-key");
        std::fs::write(&default_key, "test-routing-key-default-00000001\n").unwrap();
        let own_key = dir.join("own-key");
        std::fs::write(&own_key, "test-routing-key-visa-team-000001\n").unwrap();
        let overrides = if own {
            format!(
                "pagerduty = {{ routing_key_file = \"{}\" }}\nslack = {{ webhook_url_env = \"LW_TEST_SLACK_OWN\" }}\n",
                own_key.display()
            )
        } else {
            String::new()
        };
        let cfg = dir.join("linewatch.toml");
        std::fs::write(
            &cfg,
            format!(
                "[daemon]\nhost = \"gw-test\"\n\n[[link]]\nname = \"{link}\"\npeer = [\"203.0.113.10:5000\"]\nhold_down = \"20s\"\n{overrides}\n[pagerduty]\nevents_url = \"http://127.0.0.1:{port}/v2/enqueue\"\nrouting_key_file = \"{}\"\n\n[slack]\nwebhook_url_env = \"LW_TEST_SLACK_DEFAULT\"\n",
                default_key.display()
            ),
        )
        .unwrap();
        let seen = server(port, Duration::ZERO, Vec::new(), false);
        let out = Command::new(common::linewatch())
            .args(["replay", "--emit", "live", "--config"])
            .arg(&cfg)
            .arg(common::fixtures().join("iso8583-fin-from-peer.pcap"))
            .env(
                "LW_TEST_SLACK_DEFAULT",
                format!("http://127.0.0.1:{port}/slack/default-channel-secret"),
            )
            .env(
                "LW_TEST_SLACK_OWN",
                format!("http://127.0.0.1:{port}/slack/visa-channel-secret"),
            )
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stderr}");
        let seen = seen.lock().unwrap();
        let keys: Vec<&str> = seen
            .accepted
            .iter()
            .filter(|(p, _)| p.starts_with("/v2/enqueue"))
            .map(|(_, b)| b["routing_key"].as_str().unwrap())
            .collect();
        let want_key = if own {
            "test-routing-key-visa-team-000001"
        } else {
            "test-routing-key-default-00000001"
        };
        assert_eq!(
            keys,
            vec![want_key; 2],
            "{link}: trigger and resolve\n{stderr}\n{:?}",
            seen.log
        );
        let paths: Vec<&str> = seen
            .accepted
            .iter()
            .filter(|(p, _)| p.starts_with("/slack"))
            .map(|(p, _)| p.as_str())
            .collect();
        let want_path = if own {
            "/slack/visa-channel-secret"
        } else {
            "/slack/default-channel-secret"
        };
        assert_eq!(paths, vec![want_path; 2], "{link}: Slack messages");
        for text in [&stdout, &stderr] {
            assert!(!text.contains("test-routing-key"), "routing key leaked");
            assert!(!text.contains("channel-secret"), "webhook URL leaked");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
