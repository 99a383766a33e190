//! The daemon on real TCP connections that the tests break on purpose,
//! each in network namespaces it builds itself. Root only; under CI=true
//! they must run.

mod live;

use std::time::{Duration, Instant};

use live::{available, Cmd, Daemon, Net, Peer, TempDir, SERIAL};
use nix::sys::signal::Signal;

const T: Duration = Duration::from_secs(10);

struct Setup {
    // Field order is drop order: peers, then the daemon, then the network.
    client: Peer,
    server: Peer,
    daemon: Daemon,
    net: Net,
    dir: TempDir,
}

/// Network, server, daemon, then a client with an established connection.
fn setup(tag: &str, reconnect: bool) -> Setup {
    let dir = TempDir::new(tag);
    let net = Net::new();
    let server = Peer::server(&net);
    let config = net.config(&dir.0);
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client(&net, reconnect);
    daemon.wait_for("established", T, |_| true);
    // Let the server accept and a heartbeat or two go by.
    std::thread::sleep(Duration::from_millis(300));
    Setup {
        client,
        server,
        daemon,
        net,
        dir,
    }
}

/// `linewatch check --link visa-test` on the daemon's state directory:
/// its exit code and output.
fn check_link(state_dir: &std::path::Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linewatch"))
        .args(["check", "--link", "visa-test", "--state-dir"])
        .arg(state_dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Reads the status document until its first link satisfies `ok`.
fn wait_for_link(
    state_dir: &std::path::Path,
    ok: impl Fn(&linewatch::status::LinkDoc) -> bool,
) -> linewatch::status::LinkDoc {
    let deadline = Instant::now() + T;
    loop {
        let doc = linewatch::status::read(state_dir).unwrap();
        let l = doc.links[0].clone();
        if ok(&l) {
            return l;
        }
        assert!(Instant::now() < deadline, "{l:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

macro_rules! live_test {
    ($name:ident, $body:expr) => {
        #[test]
        fn $name() {
            let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
            if !available() {
                return;
            }
            $body
        }
    };
}

live_test!(s01_server_closes_fin_from_peer, {
    let mut s = setup("fin", false);
    s.server.send(Cmd::Close);
    let (_, e) = s.daemon.wait_for("fin", T, |e| e["from"] == "peer");
    assert_eq!(e["link"], "visa-test");
    assert_eq!(e["peer"], s.net.server_addr().to_string());
    s.daemon.wait_for("link_down", T, |_| true);
});

live_test!(s02_server_aborts_rst_from_peer, {
    let mut s = setup("rstpeer", false);
    s.server.send(Cmd::Abort);
    s.daemon.wait_for("reset", T, |e| e["from"] == "peer");
});

// A RST with a quick reconnect is a WARNING for the hold-down in the
// pages' policy, and the status document, hence `linewatch check`, agrees.
live_test!(s02b_reset_then_quick_reconnect_is_a_warning_everywhere, {
    let mut s = setup("rstwarn", true);
    s.server.send(Cmd::Abort);
    s.daemon.wait_for("reset", T, |e| e["from"] == "peer");
    s.daemon.wait_for("established", T, |_| true);
    let link = wait_for_link(&s.daemon.state_dir, |l| {
        l.established == 1 && l.verdict.health == linewatch::status::Health::Warning
    });
    assert!(
        link.verdict.reason.contains("closed or reset less than 1m"),
        "{}",
        link.verdict.reason
    );
    let (code, text) = check_link(&s.daemon.state_dir);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("LINEWATCH WARNING - visa-test"), "{text}");
});

// `linewatch maintenance` on a running daemon: within a status write the
// document, hence `linewatch check`, says the link is in maintenance; the
// FIN that follows is recorded as always and the link judged down.
live_test!(s02c_maintenance_set_on_a_running_daemon_shows_everywhere, {
    let mut s = setup("maint", false);
    let config = s.dir.0.join("linewatch.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linewatch"))
        .args([
            "maintenance",
            "visa-test",
            "--for",
            "1h",
            "--reason",
            "carrier CHG-1234",
        ])
        .arg("--state-dir")
        .arg(&s.daemon.state_dir)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.server.send(Cmd::Close);
    s.daemon.wait_for("fin", T, |e| e["from"] == "peer");
    s.daemon.wait_for("link_down", T, |_| true);
    let link = wait_for_link(&s.daemon.state_dir, |l| {
        l.verdict.maintenance.is_some() && l.verdict.health == linewatch::status::Health::Critical
    });
    assert_eq!(link.verdict.maintenance.unwrap().reason, "carrier CHG-1234");
    assert!(link.verdict.incident.is_none(), "no page in the window");
    let (code, text) = check_link(&s.daemon.state_dir);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("(in maintenance until"), "{text}");
});

live_test!(s03_client_aborts_rst_from_local, {
    let mut s = setup("rstlocal", false);
    s.client.send(Cmd::Abort);
    s.daemon.wait_for("reset", T, |e| e["from"] == "local");
});

live_test!(s04_black_hole_when_the_peer_drops_everything, {
    let mut s = setup("blackhole", false);
    s.net.black_hole(true);
    let (_, e) = s.daemon.wait_for("black_hole", T, |_| true);
    assert!(e["retransmissions"].as_u64().unwrap() >= 1, "{e}");
    s.net.black_hole(false);
    s.daemon
        .wait_for("black_hole_ended", Duration::from_secs(30), |_| true);
});

live_test!(s04b_icmp_unreachable_names_who_said_so, {
    let mut s = setup("icmp", false);
    s.net.reject_with_icmp(true);
    let (_, e) = s.daemon.wait_for("icmp_error", T, |_| true);
    assert_eq!(e["router"], s.net.server_ip.as_str(), "{e}");
    assert_eq!(
        e["reason"], "destination unreachable (host unreachable)",
        "{e}"
    );
    assert!(
        e["local"]
            .as_str()
            .is_some_and(|l| l.starts_with(&format!("{}:", s.net.client_ip))),
        "{e}"
    );
    assert_eq!(e["peer"], s.net.server_addr().to_string(), "{e}");
    s.daemon.wait_for("black_hole", T, |_| true);
    s.net.reject_with_icmp(false);
    s.daemon
        .wait_for("black_hole_ended", Duration::from_secs(30), |_| true);
});

live_test!(s05_silence_then_silence_ended, {
    let mut s = setup("silence", false);
    s.server.send(Cmd::Mute);
    s.client.send(Cmd::Mute);
    let (_, e) = s.daemon.wait_for("silence", T, |_| true);
    assert_eq!(e["capture_degraded"], false);
    s.client.send(Cmd::Unmute);
    s.server.send(Cmd::Unmute);
    s.daemon.wait_for("silence_ended", T, |_| true);
});

live_test!(s06_line_cut_is_a_line_outage_not_a_capture_loss, {
    let mut s = setup("linecut", false);
    s.net.server_link(false);
    // Our side keeps sending into the dead line: a black hole or silence,
    // reported on the line, while our capture keeps working.
    let deadline = Instant::now() + T;
    let outage = loop {
        let events = s.daemon.collect(Duration::from_millis(200), "black_hole");
        if let Some(e) = events.first() {
            break e.clone();
        }
        if let Some(e) = s.daemon.seen.iter().find(|(_, v)| v["event"] == "silence") {
            break e.1.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no outage reported: {:?}",
            s.daemon.seen
        );
    };
    assert_eq!(outage["link"], "visa-test");
    assert!(
        !s.daemon
            .seen
            .iter()
            .any(|(_, v)| v["event"] == "capture_lost"),
        "a cut line is not a lost capture"
    );
    s.net.server_link(true);
});

live_test!(s07_refused_reconnects_then_recovery, {
    let mut s = setup("refused", true);
    s.server.send(Cmd::StopListening);
    s.server.send(Cmd::Abort);
    s.daemon.wait_for("reset", T, |e| e["from"] == "peer");
    s.daemon.wait_for("refused", T, |_| true);
    s.daemon.wait_for("link_down", T, |_| true);
    s.server.send(Cmd::Listen);
    let (_, up) = s.daemon.wait_for("link_up", T, |_| true);
    assert_eq!(up["established"], 1);
});

live_test!(s08_probe_started_on_a_connection_already_up, {
    let dir = TempDir::new("discover");
    let net = Net::new();
    let server = Peer::server(&net);
    let client = Peer::client(&net, false);
    std::thread::sleep(Duration::from_millis(600));
    let mut daemon = Daemon::start(&net, &net.config(&dir.0), &dir.0);
    let (_, e) = daemon.wait_for("discovered", T, |_| true);
    assert_eq!(e["peer"], net.server_addr().to_string());
    assert!(!daemon.seen.iter().any(|(_, v)| v["event"] == "established"));
    drop((client, server));
});

live_test!(s09_sighup_with_a_broken_config_keeps_running, {
    let mut s = setup("sighup", false);
    let config = s.dir.0.join("linewatch.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        "[[link]]\nname = \"visa-test\"\npeer = [\"nonsense\"]\n",
    )
    .unwrap();
    s.daemon.signal(Signal::SIGHUP);
    let deadline = Instant::now() + T;
    while !s.daemon.stderr().contains("new config rejected") {
        assert!(
            Instant::now() < deadline,
            "no rejection logged:\n{}",
            s.daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.daemon.is_running());
    // Still watching with the old config.
    s.server.send(Cmd::Close);
    s.daemon.wait_for("fin", T, |e| e["from"] == "peer");
    // A good config is taken.
    std::fs::write(&config, good.replace("500ms", "700ms")).unwrap();
    s.daemon.signal(Signal::SIGHUP);
    let deadline = Instant::now() + T;
    while !s.daemon.stderr().contains("reloaded") {
        assert!(
            Instant::now() < deadline,
            "no reload logged:\n{}",
            s.daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A changed threshold keeps the capture running (no reopening).
    assert_eq!(
        s.daemon.stderr().matches("capture open on").count(),
        1,
        "{}",
        s.daemon.stderr()
    );
    // SIGUSR1 dumps the status; SIGTERM stops within 5 s.
    s.daemon.signal(Signal::SIGUSR1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        s.daemon.stderr().contains("status dump"),
        "{}",
        s.daemon.stderr()
    );
    let Setup {
        daemon,
        client,
        server,
        net,
        dir,
    } = s;
    drop((client, server));
    let (code, took) = daemon.stop();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    drop((net, dir));
});

live_test!(s10_interface_deleted_and_recreated, {
    let mut s = setup("ifflap", true);
    s.net.delete_veth();
    let (_, lost) = s.daemon.wait_for("capture_lost", T, |_| true);
    assert_eq!(lost["interface"], s.net.veth_client);
    // The line's own events are not raised for the probe's blindness.
    std::thread::sleep(Duration::from_millis(500));
    s.net.make_veth().unwrap();
    s.daemon
        .wait_for("capture_resumed", Duration::from_secs(15), |_| true);
    // And it sees the line's traffic again (the client's connection
    // resumes over the new veth, or it reconnects).
    let at_resume = linewatch::status::read(&s.daemon.state_dir)
        .unwrap()
        .captures[0]
        .segments;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = linewatch::status::read(&s.daemon.state_dir).unwrap();
        if status.captures[0].state == "running" && status.captures[0].segments > at_resume {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no traffic seen after the capture resumed: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
});

/// Waits until the status document shows the capture in `state`.
fn wait_for_capture_state(d: &Daemon, state: &str) -> linewatch::status::StatusDoc {
    let deadline = Instant::now() + T;
    loop {
        if let Ok(doc) = linewatch::status::read(&d.state_dir) {
            if doc.captures.first().is_some_and(|c| c.state == state) {
                return doc;
            }
        }
        assert!(
            Instant::now() < deadline,
            "capture never `{state}`:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

live_test!(s11_interface_missing_at_start_then_created, {
    let dir = TempDir::new("ifmissing");
    let net = Net::new();
    net.delete_veth();
    let mut daemon = Daemon::spawn(&net, &net.config(&dir.0), &dir.0);
    let (_, lost) = daemon.wait_for("capture_lost", T, |_| true);
    assert_eq!(lost["interface"], net.veth_client);
    // The probe is blind, the line is not known to be down: UNKNOWN.
    let doc = wait_for_capture_state(&daemon, "lost");
    assert_eq!(
        doc.links[0].verdict.health,
        linewatch::status::Health::Unknown
    );
    assert!(
        doc.probe
            .troubles
            .iter()
            .any(|t| t.contains(&net.veth_client)),
        "{:?}",
        doc.probe
    );
    net.make_veth().unwrap();
    daemon.wait_for("capture_resumed", Duration::from_secs(15), |_| true);
    let server = Peer::server(&net);
    let client = Peer::client(&net, false);
    daemon.wait_for("established", T, |_| true);
    drop((client, server));
});

live_test!(s12_capture_interface_down_then_up, {
    let mut s = setup("ifdown", true);
    s.net.client_link(false);
    let (_, lost) = s.daemon.wait_for("capture_lost", T, |_| true);
    assert_eq!(lost["interface"], s.net.veth_client);
    s.net.client_link(true);
    s.daemon
        .wait_for("capture_resumed", Duration::from_secs(15), |_| true);
    wait_for_capture_state(&s.daemon, "running");
});

// systemd's notify protocol, for real: READY=1 once the capture is open,
// WATCHDOG=1 from the tracker loop at half of WATCHDOG_USEC, STOPPING=1 on
// SIGTERM.
live_test!(s13_systemd_notify_ready_watchdog_stopping, {
    use std::os::unix::net::UnixDatagram;
    let dir = TempDir::new("notify");
    let net = Net::new();
    let path = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let daemon = Daemon::spawn_with(
        &net,
        &net.config(&dir.0),
        &dir.0,
        &[],
        &[
            ("NOTIFY_SOCKET", path.as_os_str()),
            ("WATCHDOG_USEC", std::ffi::OsStr::new("400000")),
        ],
    );
    let mut got: Vec<(Instant, String)> = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + T;
    while got.iter().filter(|(_, m)| m == "WATCHDOG=1").count() < 3 {
        assert!(Instant::now() < deadline, "{got:?}\n{}", daemon.stderr());
        if let Ok(n) = sock.recv(&mut buf) {
            got.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    let ready = got.iter().position(|(_, m)| m.starts_with("READY=1"));
    let first_watchdog = got.iter().position(|(_, m)| m == "WATCHDOG=1");
    assert!(ready.is_some() && ready < first_watchdog, "{got:?}");
    assert!(
        daemon.stderr().contains("capture open on"),
        "READY before the capture opened"
    );
    // About every 200 ms (half of 400 ms), never slower than the limit.
    let beats: Vec<Instant> = got
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    for w in beats.windows(2) {
        assert!(w[1] - w[0] < Duration::from_millis(400), "{got:?}");
    }
    daemon.signal(Signal::SIGTERM);
    let deadline = Instant::now() + T;
    loop {
        assert!(Instant::now() < deadline, "no STOPPING=1: {got:?}");
        if let Ok(n) = sock.recv(&mut buf) {
            if &buf[..n] == b"STOPPING=1" {
                break;
            }
        }
    }
});

// As root outside systemd, `--user nobody`: the process runs as nobody with
// only CAP_NET_RAW and CAP_NET_ADMIN, and can still reopen its capture when
// the interface is deleted and re-created.
live_test!(s14_user_switch_keeps_only_the_capture_capabilities, {
    let dir = TempDir::new("user");
    let net = Net::new();
    let state = dir.0.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let mut daemon = Daemon::spawn_with(
        &net,
        &net.config(&dir.0),
        &dir.0,
        &["--user", "nobody"],
        &[],
    );
    let deadline = Instant::now() + T;
    while !daemon.stderr().contains("running as nobody") {
        assert!(Instant::now() < deadline, "{}", daemon.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
    assert!(
        field("Uid:")
            .split_whitespace()
            .all(|u| u == nobody.to_string()),
        "{status}"
    );
    // CAP_NET_ADMIN (12) and CAP_NET_RAW (13), nothing else.
    assert_eq!(
        u64::from_str_radix(&field("CapEff:"), 16).unwrap(),
        0x3000,
        "{status}"
    );
    assert_eq!(
        u64::from_str_radix(&field("CapPrm:"), 16).unwrap(),
        0x3000,
        "{status}"
    );
    net.delete_veth();
    daemon.wait_for("capture_lost", T, |_| true);
    net.make_veth().unwrap();
    daemon.wait_for("capture_resumed", Duration::from_secs(15), |_| true);
});

// Primary and backup lines on two interfaces: one capture thread each,
// and each link's events come from its own line.
live_test!(s15_two_links_on_two_interfaces, {
    let dir = TempDir::new("twolinks");
    let net = Net::new();
    let backup = net.second_path();
    let config = dir.0.join("two.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nstatus_interval = \"200ms\"\n\n[[link]]\nname = \"primary\"\ninterface = \"{}\"\npeer = [\"{}\"]\nreconnect_grace = \"500ms\"\n\n[[link]]\nname = \"backup\"\ninterface = \"{}\"\npeer = [\"{}\"]\nreconnect_grace = \"500ms\"\n",
            net.veth_client,
            net.server_addr(),
            backup.veth_client,
            backup.server_addr()
        ),
    )
    .unwrap();
    let server_a = Peer::server(&net);
    let server_b = Peer::server(&backup);
    let mut daemon = Daemon::spawn(&net, &config, &dir.0);
    let deadline = Instant::now() + T;
    while daemon.stderr().matches("capture open on").count() < 2 {
        assert!(Instant::now() < deadline, "{}", daemon.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let client_a = Peer::client(&net, false);
    let client_b = Peer::client(&backup, false);
    daemon.wait_for("established", T, |e| e["link"] == "primary");
    daemon.wait_for("established", T, |e| e["link"] == "backup");
    // The kernel completes the handshake before the test server accepts:
    // let it accept (as `setup` does) before aborting.
    std::thread::sleep(Duration::from_millis(300));
    server_b.send(Cmd::Abort);
    let (_, e) = daemon.wait_for("reset", T, |e| e["from"] == "peer");
    assert_eq!(e["link"], "backup", "{e}");
    assert_eq!(e["peer"], backup.server_addr().to_string(), "{e}");
    daemon.wait_for("link_down", T, |e| e["link"] == "backup");
    let deadline = Instant::now() + T;
    loop {
        let doc = linewatch::status::read(&daemon.state_dir).unwrap();
        let running = doc.captures.iter().filter(|c| c.state == "running").count();
        let health = |name: &str| {
            doc.links
                .iter()
                .find(|l| l.name == name)
                .map(|l| l.verdict.health)
        };
        if running == 2
            && health("primary") == Some(linewatch::status::Health::Ok)
            && health("backup") == Some(linewatch::status::Health::Critical)
        {
            break;
        }
        assert!(Instant::now() < deadline, "{doc:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop((client_a, client_b, server_a, server_b, daemon, backup));
});

live_test!(status_document_shows_the_live_connection, {
    let mut s = setup("status", false);
    std::thread::sleep(Duration::from_millis(600));
    let doc = linewatch::status::read(&s.daemon.state_dir).unwrap();
    let link = &doc.links[0];
    assert_eq!(link.name, "visa-test");
    assert_eq!(link.status, "up");
    assert_eq!(link.established, 1);
    assert_eq!(link.connections.len(), 1);
    assert!(
        link.connections[0].idle_s < 1.0,
        "{:?}",
        link.connections[0]
    );
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - doc.written_at;
    assert!(age < 2.0, "status written {age}s ago");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linewatch"))
        .args(["status", "--state-dir"])
        .arg(&s.daemon.state_dir)
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("visa-test") && table.contains("OK"),
        "{table}"
    );
    s.server.send(Cmd::Close);
    s.daemon.wait_for("fin", T, |_| true);
});

// Detection latency from the moment the test closes or aborts the
// server's socket to the daemon's event line, over 20 repetitions.
// Figures are printed (the target p99 < 50 ms is a benchmark, reported
// in the closing note); the assertion is a generous 1 s.
live_test!(detection_latency_fin_and_rst, {
    let dir = TempDir::new("latency");
    let net = Net::new();
    let server = Peer::server(&net);
    let mut daemon = Daemon::start(&net, &net.config(&dir.0), &dir.0);
    let mut samples = Vec::new();
    for i in 0..20 {
        let client = Peer::client(&net, false);
        daemon.wait_for("established", T, |_| true);
        daemon.seen.clear();
        std::thread::sleep(Duration::from_millis(100));
        let (cmd, name) = if i % 2 == 0 {
            (Cmd::Close, "fin")
        } else {
            (Cmd::Abort, "reset")
        };
        let injected = Instant::now();
        server.send(cmd);
        let (seen, _) = daemon.wait_for(name, T, |e| e["from"] == "peer");
        samples.push(seen.duration_since(injected));
        drop(client);
        daemon.collect(Duration::from_millis(150), "-");
        daemon.seen.clear();
    }
    samples.sort();
    let p50 = live::percentile(&samples, 0.5);
    let p99 = live::percentile(&samples, 0.99);
    println!(
        "detection latency over {} FIN/RST injections: p50 {:.1} ms, p99 {:.1} ms (of 20 samples: the max), max {:.1} ms",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
});

// Issue 14: the FIN leaves its evidence file in the state directory at
// once (the `before` part, durable), the status document lists it, and
// once `after` has passed the file is closed with the SHA-256 of exactly
// its bytes in the sidecar.
live_test!(
    s01b_fin_from_peer_leaves_an_evidence_file_within_a_second,
    {
        let dir = TempDir::new("evidence");
        let net = Net::new();
        let server = Peer::server(&net);
        let config = net.config(&dir.0);
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("\n[evidence]\nbefore = \"1m\"\nafter = \"1s\"\n");
        std::fs::write(&config, text).unwrap();
        let mut daemon = Daemon::start(&net, &config, &dir.0);
        let _client = Peer::client(&net, false);
        daemon.wait_for("established", T, |_| true);
        std::thread::sleep(Duration::from_millis(300));
        server.send(Cmd::Close);
        let (seen, _) = daemon.wait_for("fin", T, |e| e["from"] == "peer");
        let link_dir = daemon.state_dir.join("evidence").join("visa-test");
        let pcapng = loop {
            let found = std::fs::read_dir(&link_dir).ok().and_then(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .find(|p| p.extension().is_some_and(|x| x == "pcapng"))
            });
            if let Some(p) = found {
                break p;
            }
            assert!(
                seen.elapsed() < Duration::from_secs(1),
                "no evidence file in {} within 1 s of the FIN line\n{}",
                link_dir.display(),
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        let on_disk = seen.elapsed();
        eprintln!(
            "evidence file on disk {on_disk:?} after the FIN line: {}",
            pcapng.display()
        );
        assert!(
            pcapng
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with("-fin.pcapng"),
            "{}",
            pcapng.display()
        );
        // Within the same second the file holds the `before` part (the
        // handshake) and the FIN itself.
        loop {
            let out = std::process::Command::new("tcpdump")
                .args(["-nn", "-r"])
                .arg(&pcapng)
                .output()
                .unwrap();
            let early = String::from_utf8_lossy(&out.stdout).to_string();
            if early.contains("Flags [S]") && early.contains("Flags [F") {
                eprintln!(
                    "handshake and FIN in the file {:?} after the FIN line",
                    seen.elapsed()
                );
                break;
            }
            assert!(seen.elapsed() < Duration::from_secs(1), "{early}");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Closed once `after` (1 s) has passed: the sidecar pins the file.
        let sidecar = pcapng.with_extension("json");
        let deadline = Instant::now() + T;
        let side = loop {
            let v: serde_json::Value = std::fs::read(&sidecar)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            if v["state"] == "closed" {
                break v;
            }
            assert!(
                Instant::now() < deadline,
                "not closed: {v}\n{}",
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let bytes = std::fs::read(&pcapng).unwrap();
        let sha = {
            use sha2::Digest;
            format!("{:x}", sha2::Sha256::digest(&bytes))
        };
        assert_eq!(side["sha256"].as_str().unwrap(), sha);
        assert!(side["packets"].as_u64().unwrap() >= 4, "{side}");
        // A comment marks the FIN from the peer.
        let tshark = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&pcapng)
            .args(["-T", "fields", "-e", "frame.comment"])
            .output()
            .unwrap();
        let comments = String::from_utf8_lossy(&tshark.stdout).to_string();
        assert!(comments.contains("FIN from peer"), "{comments}");
        // The status document lists it, closed, with the same hash.
        let deadline = Instant::now() + T;
        loop {
            let doc = linewatch::status::read(&daemon.state_dir).unwrap();
            if doc
                .evidence
                .iter()
                .any(|e| e.file == pcapng && e.sha256.as_deref() == Some(sha.as_str()))
            {
                break;
            }
            assert!(Instant::now() < deadline, "{:?}", doc.evidence);
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            daemon.stderr().contains("evidence closed"),
            "{}",
            daemon.stderr()
        );
    }
);
