//! Live: the daemon's response times follow a real server's delay, and a
//! server whose stack still acknowledges but whose application stopped
//! answering is `response_starvation`, then `response_starvation_ended`
//! when it answers again (issue 17's live acceptance). Root only; under
//! CI=true it must run.
//!
//! The server, in its own namespace, answers each request after a delay
//! the test sets (150 ms, then 800 ms), or not at all (muted: its kernel
//! still ACKs). The client sends a request, waits for the answer (or 1 s
//! when muted), pauses 200 ms, and sends the next.

mod live;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use live::{Daemon, Net, TempDir};

struct Knobs {
    delay_ms: AtomicU64,
    muted: AtomicBool,
    stop: AtomicBool,
    answered: AtomicU64,
}

fn server(net: &Net, knobs: Arc<Knobs>) -> std::thread::JoinHandle<()> {
    let addr = net.server_addr();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = net.spawn_in(&net.server.clone(), move || {
        let l = TcpListener::bind(addr).unwrap();
        ready_tx.send(()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 4096];
        while !knobs.stop.load(Ordering::Relaxed) {
            match c.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {
                    if knobs.muted.load(Ordering::Relaxed) {
                        continue;
                    }
                    std::thread::sleep(Duration::from_millis(
                        knobs.delay_ms.load(Ordering::Relaxed),
                    ));
                    let _ = c.write_all(&[b'1'; 120]);
                    knobs.answered.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {}
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    handle
}

fn client(net: &Net, knobs: Arc<Knobs>) -> std::thread::JoinHandle<()> {
    let addr = net.server_addr();
    net.spawn_in(&net.client.clone(), move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_nodelay(true).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 4096];
        while !knobs.stop.load(Ordering::Relaxed) {
            if c.write_all(&[b'0'; 100]).is_err() {
                return;
            }
            // The answer, or a second without one.
            let _ = c.read(&mut buf);
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// A DogStatsD listener on the client namespace's loopback (where the
/// daemon runs): its port, and the lines it received so far.
fn dogstatsd(net: &Net) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let keep = lines.clone();
    net.spawn_in(&net.client.clone(), move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send(s.local_addr().unwrap().port()).unwrap();
        let mut buf = [0u8; 65_536];
        while let Ok(n) = s.recv(&mut buf) {
            let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).to_string();
            keep.lock()
                .unwrap()
                .extend(text.lines().map(str::to_string));
        }
    });
    (rx.recv_timeout(Duration::from_secs(5)).unwrap(), lines)
}

/// The connection's response-time median in the status document, ms.
fn response_p50(d: &Daemon) -> Option<f64> {
    let doc = linewatch::status::read(&d.state_dir).ok()?;
    let c = doc.links.first()?.connections.first()?;
    c.analytics.as_ref()?.response_ms.as_ref().map(|w| w.p50)
}

/// Waits until the median settles within 5 ms of `truth` (it follows as
/// the window fills with the new delay); returns what it last read.
fn p50_follows(d: &Daemon, truth: f64, within: Duration) -> Option<f64> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        last = response_p50(d);
        if last.is_some_and(|p| (p - truth).abs() <= 5.0) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    last
}

#[test]
fn response_time_follows_the_server_and_starvation_is_paged() {
    let Some(_serial) = live::begin() else {
        return;
    };
    let dir = TempDir::new("analytics");
    let net = Net::new();
    let knobs = Arc::new(Knobs {
        delay_ms: AtomicU64::new(150),
        muted: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        answered: AtomicU64::new(0),
    });
    let srv = server(&net, knobs.clone());
    let (port, datagrams) = dogstatsd(&net);
    let config = net.config_with(
        &dir.0,
        &format!(
            "[daemon]\nstatus_interval = \"200ms\"\n\n[statsd]\naddress = \"127.0.0.1:{port}\"\n"
        ),
        "silence_after = \"10s\"\nblack_hole_after = \"10s\"\nresponse_timeout = \"3s\"\n",
    );
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let cli = client(&net, knobs.clone());
    daemon.wait_for("established", Duration::from_secs(10), |_| true);

    // 150 ms: the median within 5 ms.
    let p = p50_follows(&daemon, 150.0, Duration::from_secs(20));
    assert!(
        p.is_some_and(|p| (p - 150.0).abs() <= 5.0),
        "150 ms server: p50 {p:?}"
    );
    eprintln!("150 ms server: response p50 {p:?} ms");
    // 800 ms: the median follows once most of the window is new.
    knobs.delay_ms.store(800, Ordering::Relaxed);
    let p = p50_follows(&daemon, 800.0, Duration::from_secs(60));
    assert!(
        p.is_some_and(|p| (p - 800.0).abs() <= 5.0),
        "800 ms server: p50 {p:?}"
    );
    eprintln!("800 ms server: response p50 {p:?} ms");

    // The application stops answering; the kernel still ACKs.
    let answered = knobs.answered.load(Ordering::Relaxed);
    knobs.muted.store(true, Ordering::Relaxed);
    let muted_at = Instant::now();
    let (t, e) = daemon.wait_for("response_starvation", Duration::from_secs(10), |_| true);
    let after = t.duration_since(muted_at);
    // The first unanswered request left at most 1 s after muting (the
    // client's cycle): starvation within response_timeout + 1 s of it.
    assert!(
        after <= Duration::from_millis(3_000 + 1_000 + 1_000),
        "starvation {after:?} after muting: {e}"
    );
    assert!(e["outstanding"].as_u64().unwrap_or(0) >= 1, "{e}");
    eprintln!("response_starvation {after:?} after muting (timeout 3 s): {e}");
    assert!(
        !daemon.seen.iter().any(|(_, v)| v["event"] == "black_hole"),
        "the peer acknowledges: no black hole"
    );
    knobs.muted.store(false, Ordering::Relaxed);
    let resumed = Instant::now();
    let (t, e) = daemon.wait_for("response_starvation_ended", Duration::from_secs(5), |_| {
        true
    });
    assert!(t.duration_since(resumed) < Duration::from_secs(3), "{e}");
    eprintln!(
        "response_starvation_ended {:?} after unmuting: {e}",
        t.duration_since(resumed)
    );
    assert!(knobs.answered.load(Ordering::Relaxed) > answered);
    let words = std::fs::read_to_string(linewatch::status::status_path(&daemon.state_dir))
        .unwrap_or_default();
    assert!(words.contains("\"analytics\""), "{words}");
    // The response times went out as DogStatsD distributions, near the
    // delays the server used.
    let lines = datagrams.lock().unwrap().clone();
    let responses: Vec<f64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("linewatch.response_time:"))
        .filter_map(|l| l.split('|').next()?.parse().ok())
        .collect();
    assert!(
        responses.iter().any(|v| (v - 150.0).abs() <= 5.0)
            && responses.iter().any(|v| (v - 800.0).abs() <= 5.0),
        "{responses:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("linewatch.rtt:") && l.contains("|d")),
        "no rtt distribution: {lines:?}"
    );

    knobs.stop.store(true, Ordering::Relaxed);
    let _ = cli.join();
    let _ = srv.join();
}
