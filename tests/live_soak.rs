//! A live soak: the daemon watching a persistent connection that carries
//! about 1,000 packets a second (and a short connection opened and closed
//! every second beside it) keeps its resident memory flat, sampled every
//! 10 s, and reports its CPU. Root only; under CI=true it must run.
//! Flat is judged on anonymous memory (`RssAnon`: heap, stacks, the
//! evidence ring), the total beside it (it also counts the binary's code
//! as it is paged in).
//!
//! The short connections go to a second port of the peer, not watched,
//! by default: they churn the flow table without being the link's. On
//! the link (`LW_SOAK_SHORT_ON_LINK=1`) each one's FIN is an evidence
//! trigger, so one evidence file stays open (`MAX_OPEN`, 10 minutes)
//! and its list of cited events grows, about 2 KiB a second here, for
//! four minutes until it holds `MAX_CITED` (1,000 events; its `Vec`
//! alone takes 470 KiB): bounded, but not flat within a CI run. Run it
//! that way for 600 s with a 300 s warm-up; the bound itself is tested
//! in `tests/evidence.rs`.
//!
//! Two CI runs failed here with the short connections on the link:
//! total RSS grew 1.4 MiB in 120 s, then anonymous RSS 1.0 MiB in the
//! 120 s after a 60 s warm-up, in steps of up to 548 KiB. Under
//! heaptrack (here, 130 s) the live heap stayed between 2.6 and
//! 2.8 MiB but for one spike to 5.4 MiB: the capture queue's batches,
//! each of which held a full batch's capacity (256 steps, 23 KiB) even
//! with one frame in it, so a pause of the daemon's thread left up to
//! 3 MiB of them queued, and the allocator kept the pages. Batches are
//! now sent at their size. That the CI steps were these spikes (and
//! the cited list's doubling) is inferred, not seen on the CI machine.
//!
//! `LW_SOAK_SECS` sets the length (180 s by default, CI; 600 s for the
//! README's figures), `LW_SOAK_RING` the evidence ring (`1MiB` by default)
//! and `LW_SOAK_WARMUP_SECS` the warm-up left out of the comparison (60 s).
//! The evidence ring is a circular buffer reserved at its budget: its
//! pages become resident as it cycles through them the first time (at
//! 1,000 packets a second, 90 bytes each, the default 16 MiB takes about
//! four minutes), so with the default ring use a warm-up of 300 s.

mod live;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use live::{anon_kib, memory_kib, Daemon, Net, Peer, TempDir};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) the process `pid` has used.
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is
    // field 3, utime 14, stime 15; USER_HZ is 100 on Linux.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks as f64 / 100.0
}

/// In the server namespace: a listener on the port after the watched
/// one that accepts and closes, for the short connections.
fn unwatched_server(net: &Net, stop: Arc<AtomicBool>) -> std::net::SocketAddr {
    let addr = std::net::SocketAddr::new(net.server_addr().ip(), live::PORT + 1);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    net.spawn_in(&net.server.clone(), move || {
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        ready_tx.send(()).unwrap();
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => drop(s),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    ready_rx.recv().unwrap();
    addr
}

/// In the client namespace: one persistent connection writing 4 bytes
/// every 2 ms (the server answers), and a short connection to `short`
/// opened and closed every second.
fn load(
    net: &Net,
    short: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let addr = net.server_addr();
    net.spawn_in(&net.client.clone(), move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_nodelay(true).unwrap();
        c.set_nonblocking(true).unwrap();
        let mut writes = 0u64;
        let mut last_short = Instant::now();
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            if c.write_all(b"ping").is_ok() {
                writes += 1;
            }
            let _ = c.read(&mut buf);
            if last_short.elapsed() >= Duration::from_secs(1) {
                last_short = Instant::now();
                if let Ok(s) = TcpStream::connect_timeout(&short, Duration::from_millis(500)) {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        writes
    })
}

#[test]
fn a_long_busy_link_keeps_memory_flat() {
    let Some(_serial) = live::begin() else {
        return;
    };
    let dir = TempDir::new("soak");
    let net = Net::new();
    let server = Peer::server(&net);
    let config = net.config_with(
        &dir.0,
        &format!(
            "[daemon]\nstatus_interval = \"1s\"\n\n[evidence]\nmemory_per_link = \"{}\"\n",
            env_or("LW_SOAK_RING", "1MiB".to_string())
        ),
        &format!(
            "silence_after = \"5s\"\nblack_hole_after = \"5s\"\nreconnect_grace = \"5s\"\n{}",
            env_or("LW_SOAK_LINK_EXTRA", String::new())
        ),
    );
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let stop = Arc::new(AtomicBool::new(false));
    let short = if env_or("LW_SOAK_SHORT_ON_LINK", 0u8) == 1 {
        net.server_addr()
    } else {
        unwatched_server(&net, stop.clone())
    };
    let traffic = load(&net, short, stop.clone());
    daemon.wait_for("established", Duration::from_secs(10), |_| true);
    let pid = daemon.pid();
    let received = || {
        linewatch::status::read(&daemon.state_dir)
            .map(|d| d.captures.first().map_or(0, |c| c.received))
            .unwrap_or(0)
    };
    let length = Duration::from_secs(env_or("LW_SOAK_SECS", 180));
    let warmup = env_or("LW_SOAK_WARMUP_SECS", 60usize) / 10;
    let start = Instant::now();
    let (cpu0, packets0) = (cpu_seconds(pid), received());
    // Judged on anonymous memory (what the daemon holds); the total RSS
    // is reported beside it (it also counts code paged in on first use).
    let (mut samples, mut rss) = (Vec::new(), Vec::new());
    while start.elapsed() < length {
        std::thread::sleep(Duration::from_secs(10));
        samples.push(anon_kib(pid));
        rss.push(memory_kib(pid).1);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (cpu, packets) = (cpu_seconds(pid) - cpu0, received() - packets0);
    // Events up to here count; closing the load's connection does not.
    daemon.collect(Duration::from_millis(300), "");
    let during = daemon.seen.len();
    stop.store(true, Ordering::Relaxed);
    let writes = traffic.join().unwrap();
    let pps = packets as f64 / elapsed;
    let report = format!(
        "{elapsed:.0} s, {packets} packets ({pps:.0}/s, {writes} writes), CPU {cpu:.1} s ({:.1} % of a core), anonymous RSS every 10 s (KiB): {samples:?}, total RSS: {rss:?}",
        100.0 * cpu / elapsed
    );
    eprintln!("soak: {report}");
    assert!(pps > 700.0, "too little load: {report}");
    // Flat: after the warm-up (the ring has cycled once, tables and
    // queues have their working size), the last third is no higher than
    // the first third, within 512 KiB.
    let warm: Vec<u64> = samples.iter().copied().skip(warmup).collect();
    assert!(warm.len() >= 6, "{report}");
    let third = warm.len() / 3;
    let mean = |s: &[u64]| s.iter().sum::<u64>() / s.len().max(1) as u64;
    let (early, late) = (mean(&warm[..third]), mean(&warm[warm.len() - third..]));
    assert!(late <= early + 512, "RSS grows: {report}");
    // No false page on a healthy link.
    for kind in ["link_down", "silence", "black_hole", "reset", "fin"] {
        let about_link: Vec<_> = daemon.seen[..during]
            .iter()
            .filter(|(_, v)| v["event"] == kind && v["local"] == daemon.seen[0].1["local"])
            .collect();
        assert!(about_link.is_empty(), "{kind}: {about_link:?}");
    }
    drop(server);
}
