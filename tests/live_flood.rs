//! The daemon under a SYN flood: 60 s of spoofed SYNs toward the watched
//! peer's address and port, as fast as one thread writes them, beside a
//! real persistent connection that sends a heartbeat every 8 s. No false
//! page (no `link_down`, `discovered`, `silence`, `black_hole`), the real
//! connection's events are those it has without the flood (none after its
//! `established`), the printed lines stay few, and the daemon's peak RSS
//! stays under 48 MiB. Root only; under CI=true it must run.

mod live;

use std::time::{Duration, Instant};

use live::{memory_kib, syn_flood, Daemon, Net, Peer, TempDir};

/// 60 s; `LW_FLOOD_SECS` shortens it when investigating.
fn flood_for() -> Duration {
    Duration::from_secs(
        std::env::var("LW_FLOOD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    )
}
const HEARTBEAT: Duration = Duration::from_secs(8);
/// The bound on the daemon's peak resident memory.
const MAX_RSS_KIB: u64 = 48 * 1024;

#[test]
fn a_sixty_second_syn_flood_pages_nothing_and_stays_under_48_mib() {
    let Some(_serial) = live::begin() else {
        return;
    };
    if cfg!(debug_assertions) {
        // An unoptimised tracker is ten times slower: under the flood its
        // queue overflows and heartbeats are lost, which says nothing of
        // the daemon users run. `.ci/run` runs this test with --release.
        eprintln!("SKIP: measures the release daemon: cargo test --release --test live_flood");
        return;
    }
    let dir = TempDir::new("flood");
    let net = Net::new();
    let server = Peer::server(&net);
    // Thresholds a payment link would have with an 8 s heartbeat.
    let config = net.config_with(
        &dir.0,
        "[daemon]\nstatus_interval = \"1s\"\n",
        &("silence_after = \"30s\"\nblack_hole_after = \"10s\"\nreconnect_grace = \"5s\"\n"
            .to_string()
            + &std::env::var("LW_FLOOD_CONFIG").unwrap_or_default()),
    );
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client_every(&net, false, HEARTBEAT);
    let (_, up) = daemon.wait_for("established", Duration::from_secs(10), |_| true);
    let real = up["local"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(2));
    let (_, rss_idle) = memory_kib(daemon.pid());
    let before = daemon.seen.len();
    let stderr_before = daemon.stderr().lines().count();

    let started = Instant::now();
    let flood = syn_flood(&net, flood_for());
    // Sample memory while it lasts.
    let mut peak_sampled = 0;
    while started.elapsed() < flood_for() {
        std::thread::sleep(Duration::from_secs(1));
        peak_sampled = peak_sampled.max(memory_kib(daemon.pid()).1);
    }
    let sent = flood.join().unwrap();
    // The flood's deadlines (syn_unanswered 10 s after each SYN) and the
    // last storm windows come out after it.
    let after = daemon.collect(Duration::from_secs(15), "suppressed");
    let (hwm, rss_end) = memory_kib(daemon.pid());

    let during: Vec<&serde_json::Value> = daemon.seen[before..].iter().map(|(_, v)| v).collect();
    let stderr_lines = daemon.stderr().lines().count() - stderr_before;
    let kinds = |name: &str| during.iter().filter(|v| v["event"] == name).count();
    let report = format!(
        "SYNs sent {sent} in {:?} ({:.0}/s); stdout lines {}, stderr lines {stderr_lines}; \
         suppressed events {} holding back {} lines; capture_degraded {}; \
         RSS idle {rss_idle} KiB, peak sampled {peak_sampled} KiB, VmHWM {hwm} KiB, end {rss_end} KiB",
        flood_for(),
        sent as f64 / flood_for().as_secs_f64(),
        during.len(),
        after.len(),
        after.iter().map(|v| v["count"].as_u64().unwrap_or(0)).sum::<u64>(),
        kinds("capture_degraded"),
    );
    eprintln!("flood: {report}");

    // No false page: nothing about the link or the real connection.
    for kind in [
        "link_down",
        "link_up",
        "discovered",
        "silence",
        "black_hole",
    ] {
        assert_eq!(kinds(kind), 0, "{kind}: {report}");
    }
    let about_real: Vec<_> = during
        .iter()
        .filter(|v| v["local"] == real.as_str())
        .collect();
    assert!(about_real.is_empty(), "the real connection: {about_real:?}");
    // The flood was one: the probe saw it and summarised it.
    assert!(sent > 100_000, "{report}");
    assert!(!after.is_empty(), "{report}");
    // A few hundred lines, not hundreds of thousands.
    assert!(during.len() < 2_000, "{report}");
    assert!(stderr_lines < 2_500, "{report}");
    assert!(hwm < MAX_RSS_KIB, "{report}");
    // And the connection is still there, still watched.
    let doc = linewatch::status::read(&daemon.state_dir).unwrap();
    assert_eq!(doc.links[0].established, 1, "{report}");
    drop(client);
    drop(server);
}

/// Capture loss for real: the daemon is stopped (SIGSTOP) for 3 s while a
/// burst fills its small kernel buffer (`buffer_size = 65536`) and the
/// real connection falls silent, then resumed. The kernel's drops are
/// reported (`capture_degraded`), the silence the waiting frames reveal
/// carries `capture_degraded: true`, and no verdict says the line is down
/// (the policy's health stays below CRITICAL, no incident opens).
#[test]
fn a_stopped_daemon_reports_its_lost_packets_and_pages_nothing() {
    let Some(_serial) = live::begin() else {
        return;
    };
    let dir = TempDir::new("loss");
    let net = Net::new();
    let server = Peer::server(&net);
    let config = net.config_with(
        &dir.0,
        "[daemon]\nstatus_interval = \"100ms\"\n",
        "silence_after = \"1500ms\"\nblack_hole_after = \"1500ms\"\nreconnect_grace = \"500ms\"\nbuffer_size = 65536\n",
    );
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client(&net, false);
    daemon.wait_for("established", Duration::from_secs(10), |_| true);
    std::thread::sleep(Duration::from_secs(1));
    // The real connection falls silent; the probe stops; a burst comes.
    client.send(live::Cmd::Mute);
    server.send(live::Cmd::Mute);
    daemon.signal(nix::sys::signal::Signal::SIGSTOP);
    let sent = syn_flood(&net, Duration::from_secs(3)).join().unwrap();
    daemon.signal(nix::sys::signal::Signal::SIGCONT);
    let resumed = Instant::now();
    // From the moment it runs again, no verdict may say the line is down.
    let mut worst = Vec::new();
    while resumed.elapsed() < Duration::from_secs(5) {
        if let Ok(doc) = linewatch::status::read(&daemon.state_dir) {
            let v = &doc.links[0].verdict;
            if v.health == linewatch::policy::Health::Critical || v.incident.is_some() {
                worst.push(format!("{:?}: {}", v.health, v.reason));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, degraded) = daemon.wait_for("capture_degraded", Duration::from_secs(5), |_| true);
    let (_, silence) = daemon.wait_for("silence", Duration::from_secs(5), |_| true);
    eprintln!("loss: {sent} SYNs while stopped; {degraded}; {silence}");
    assert!(degraded["dropped"].as_u64().unwrap_or(0) > 0, "{degraded}");
    assert_eq!(silence["capture_degraded"], true, "{silence}");
    assert!(worst.is_empty(), "the line was judged down: {worst:?}");
    let seen: Vec<&serde_json::Value> = daemon.seen.iter().map(|(_, v)| v).collect();
    assert!(!seen.iter().any(|v| v["event"] == "link_down"), "{seen:?}");
}

/// Replay applies the daemon's rules: a burst of SYNs beside a real
/// connection, recorded by tcpdump while the daemon watches, replays to
/// the lines the daemon printed, `suppressed` ones included (packet
/// numbers aside: the daemon counts from its own start).
#[test]
fn a_recorded_burst_replays_to_the_lines_the_daemon_printed() {
    let Some(_serial) = live::begin() else {
        return;
    };
    // The SYNs the test sends get one stamp, which both captures read.
    let _stamped = live::one_stamp_per_frame();
    let dir = TempDir::new("same-lines");
    let net = Net::new();
    let server = Peer::server(&net);
    let config = net.config_with(
        &dir.0,
        "[daemon]\nstatus_interval = \"200ms\"\n\n[limits]\nevent_burst = 5\nevent_interval = \"2s\"\n",
        "silence_after = \"5s\"\nblack_hole_after = \"2s\"\nreconnect_grace = \"5s\"\n",
    );
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let pcap = dir.0.join("burst.pcap");
    let mut tcpdump = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.client,
            "tcpdump",
            "-i",
            &net.veth_client,
        ])
        .args(["-s", "128", "--immediate-mode", "-U", "-w"])
        .arg(&pcap)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // tcpdump says "listening on" once its capture is open.
    let mut err = std::io::BufReader::new(tcpdump.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("listening") {
        let before = said.len();
        std::io::BufRead::read_line(&mut err, &mut said).unwrap();
        assert!(said.len() > before, "tcpdump: {said}");
    }
    let client = Peer::client(&net, false);
    daemon.wait_for("established", Duration::from_secs(10), |_| true);
    let sent = live::syn_burst(&net, Duration::from_secs(2), Some(300))
        .join()
        .unwrap();
    // Every SYN's deadline and every window end pass while the real
    // connection's pings keep the replay's clock going.
    std::thread::sleep(Duration::from_secs(6));
    // The real connection closes while both still capture.
    drop(client);
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tcpdump.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    tcpdump.wait().unwrap();
    daemon.collect(Duration::from_millis(500), "");
    // Each line without its packet number (the daemon counts from its own
    // start) and its times, which are compared apart.
    let lines = |v: &mut dyn Iterator<Item = serde_json::Value>| {
        let mut out: Vec<(String, Vec<f64>)> = v
            .filter(|l| {
                let e = l["event"].as_str().unwrap_or("");
                !e.starts_with("capture_") && e != "connection_summary" && e != "replay_summary"
            })
            .map(|mut l| {
                let mut times = Vec::new();
                if let Some(o) = l.as_object_mut() {
                    o.remove("packet");
                    for k in ["ts", "first_ts", "last_ts", "up_for_s"] {
                        if let Some(t) = o.remove(k) {
                            times.push(t.as_f64().unwrap_or(f64::NAN));
                        }
                    }
                }
                (l.to_string(), times)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1[0].total_cmp(&b.1[0])));
        out
    };
    // A capture that dropped packets saw less than tcpdump did.
    let degraded: Vec<_> = daemon
        .seen
        .iter()
        .filter(|(_, v)| v["event"] == "capture_degraded")
        .collect();
    assert!(
        degraded.is_empty(),
        "the daemon's capture dropped: {degraded:?}"
    );
    let printed = lines(&mut daemon.seen.iter().map(|(_, v)| v.clone()));
    let replayed = common_replay(&pcap, &config);
    let replayed = lines(&mut replayed.into_iter());
    eprintln!(
        "same lines: {sent} SYNs; daemon {} lines, replay {} lines, {} suppressed",
        printed.len(),
        replayed.len(),
        printed
            .iter()
            .filter(|l| l.0.contains("\"suppressed\""))
            .count()
    );
    assert!(printed.iter().any(|l| l.0.contains("\"suppressed\"")));
    let show = |v: &[(String, Vec<f64>)]| format!("{v:#?}");
    assert_eq!(
        printed.iter().map(|l| &l.0).collect::<Vec<_>>(),
        replayed.iter().map(|l| &l.0).collect::<Vec<_>>(),
        "daemon:\n{}\nreplay:\n{}",
        show(&printed),
        show(&replayed)
    );
    // The same times. The burst's lines follow from SYNs sent on the
    // captured veth, which carry the kernel's one stamp in both captures
    // (`live::one_stamp_per_frame`; without it, a CI run saw a SYN's two
    // stamps 4.6 ms apart, and runs here 0.4 and 2.3 ms): equal to the
    // microsecond tcpdump's file keeps. The server's frames crossed the
    // veth from its namespace and are stamped by each capture apart (up to
    // 6.8 ms under load here), and so is a deadline from one. A deadline
    // taken from another packet is off by a second or more; one stamped
    // with the daemon's clock instead, by up to its 100 ms tick.
    let burst = |line: &str| line.contains("\"syn_unanswered\"") || line.contains("\"suppressed\"");
    let apart = |of_burst: bool| {
        printed
            .iter()
            .zip(&replayed)
            .filter(|(d, _)| burst(&d.0) == of_burst)
            .flat_map(|(d, r)| d.1.iter().zip(&r.1).map(|(a, b)| (a - b).abs()))
            .fold(0.0f64, f64::max)
    };
    eprintln!(
        "stamps apart at most: the burst's lines {:.1} us, the others {:.1} us",
        apart(true) * 1e6,
        apart(false) * 1e6
    );
    for (d, r) in printed.iter().zip(&replayed) {
        let within = if burst(&d.0) { 2e-6 } else { 0.02 };
        for (a, b) in d.1.iter().zip(&r.1) {
            assert!((a - b).abs() < within, "{}: {a} vs {b}", d.0);
        }
    }
    drop(server);
}

/// `linewatch replay FILE --config CONFIG --format json`, as JSON values.
fn common_replay(pcap: &std::path::Path, config: &std::path::Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linewatch"))
        .arg("replay")
        .arg(pcap)
        .arg("--config")
        .arg(config)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
