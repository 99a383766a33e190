//! Harness for the live tests: network namespaces joined by a veth pair, a
//! real TCP server and client inside them, and the daemon capturing on the
//! client's veth. Everything is torn down on drop, even when a test fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Live tests run one at a time: they measure timing.
pub static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub const PORT: u16 = 5000;

pub fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether live tests can run here; under CI they must.
pub fn available() -> bool {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let root = nix::unistd::geteuid().is_root();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    let nft = Command::new("nft").arg("--version").output().is_ok();
    if root && ip && nft {
        return true;
    }
    let why =
        format!("live tests need root, iproute2 and nftables (root={root}, ip={ip}, nft={nft})");
    assert!(!ci, "CI=true but {why}");
    eprintln!("SKIP: {why}");
    false
}

/// Starts a live test: takes the lock that runs them one at a time, or
/// `None` when they cannot run here (see [`available`]).
pub fn begin() -> Option<std::sync::MutexGuard<'static, ()>> {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    available().then_some(serial)
}

/// A socket that asks the kernel for receive timestamps, held while two
/// captures of one interface are compared frame by frame. While no socket
/// asks, the kernel leaves frames unstamped and each packet socket (the
/// daemon's, tcpdump's) reads the clock as the frame reaches it, so under
/// load one frame gets two stamps: a CI run saw a SYN stamped 4.6 ms apart
/// by the daemon and tcpdump. With such a socket open anywhere on the
/// host, the kernel stamps a frame sent on the interface once and both
/// read that stamp. Measured on this 2-CPU VM, two tcpdumps on one veth,
/// three busy loops beside them: frames sent from the capturing side, 4 of
/// 3,028 over 1 ms apart without it, 0 of 1,470 even 1 us apart with it.
/// Frames that a TCP stack in the other namespace sent over the veth keep
/// its departure time (a monotonic clock, which packet sockets ignore), so
/// each socket still reads the clock for them: 1,466 of 1,472 differ, by
/// 19 us in the median and up to 6.8 ms, with it.
pub fn one_stamp_per_frame() -> std::net::UdpSocket {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimestampns};
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    setsockopt(&socket, ReceiveTimestampns, &true).unwrap();
    socket
}

/// Loads nftables `rules` in namespace `ns`.
pub fn nft(ns: &str, rules: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft rules failed");
}

/// Two namespaces, `client` (10.77.x.1) and `server` (10.77.x.2), joined by a veth.
pub struct Net {
    pub client: String,
    pub server: String,
    pub veth_client: String,
    pub veth_server: String,
    pub client_ip: String,
    pub server_ip: String,
}

impl Net {
    pub fn new() -> Net {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // pid and counter with a separator: "1234"+"56" and "12345"+"6"
        // must not meet (names stay within IFNAMSIZ: lwc + 5 + x + 3).
        let id = format!("{}x{}", std::process::id() % 100_000, n % 1000);
        let subnet = (std::process::id() % 200 + n * 7) % 250 + 1;
        let net = Net {
            client: format!("lwc{id}"),
            server: format!("lws{id}"),
            veth_client: format!("lwc{id}"),
            veth_server: format!("lws{id}"),
            client_ip: format!("10.77.{subnet}.1"),
            server_ip: format!("10.77.{subnet}.2"),
        };
        sh(&["ip", "netns", "add", &net.client]).unwrap();
        sh(&["ip", "netns", "add", &net.server]).unwrap();
        net.make_veth().unwrap();
        net
    }

    /// A second line between the same two namespaces: another veth pair
    /// (names suffixed `b`) on another subnet, as a backup leased line.
    pub fn second_path(&self) -> Net {
        let subnet = self.client_ip.split('.').nth(2).unwrap_or("1").to_string();
        let b = Net {
            client: self.client.clone(),
            server: self.server.clone(),
            veth_client: format!("{}b", self.veth_client),
            veth_server: format!("{}b", self.veth_server),
            client_ip: format!("10.78.{subnet}.1"),
            server_ip: format!("10.78.{subnet}.2"),
        };
        b.make_veth().unwrap();
        b
    }

    /// (Re)creates the veth pair with addresses, as on start.
    pub fn make_veth(&self) -> Result<(), String> {
        sh(&[
            "ip",
            "-n",
            &self.client,
            "link",
            "add",
            &self.veth_client,
            "type",
            "veth",
            "peer",
            "name",
            &self.veth_server,
            "netns",
            &self.server,
        ])?;
        sh(&[
            "ip",
            "-n",
            &self.client,
            "addr",
            "add",
            &format!("{}/24", self.client_ip),
            "dev",
            &self.veth_client,
        ])?;
        sh(&[
            "ip",
            "-n",
            &self.server,
            "addr",
            "add",
            &format!("{}/24", self.server_ip),
            "dev",
            &self.veth_server,
        ])?;
        for (ns, dev) in [
            (&self.client, &self.veth_client),
            (&self.server, &self.veth_server),
        ] {
            sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Sets the client side's veth (the one the probe captures on) up or down.
    pub fn client_link(&self, up: bool) {
        sh(&[
            "ip",
            "-n",
            &self.client,
            "link",
            "set",
            &self.veth_client,
            if up { "up" } else { "down" },
        ])
        .unwrap();
    }

    pub fn delete_veth(&self) {
        sh(&["ip", "-n", &self.client, "link", "del", &self.veth_client]).unwrap();
    }

    pub fn server_link(&self, up: bool) {
        sh(&[
            "ip",
            "-n",
            &self.server,
            "link",
            "set",
            &self.veth_server,
            if up { "up" } else { "down" },
        ])
        .unwrap();
    }

    /// nftables in the server namespace drops everything (a black hole).
    pub fn black_hole(&self, on: bool) {
        self.nft_rules(on, "table inet lw {\n chain in { type filter hook input priority 0; policy drop; }\n chain out { type filter hook output priority 0; policy drop; }\n}\n");
    }

    /// nftables in the server namespace rejects the client's TCP with ICMP
    /// host unreachable (what a router that lost its route answers) and
    /// stops the server's own TCP.
    pub fn reject_with_icmp(&self, on: bool) {
        let rules = format!("table inet lw {{\n chain in {{ type filter hook input priority 0; tcp dport {PORT} reject with icmp type host-unreachable; }}\n chain out {{ type filter hook output priority 0; tcp sport {PORT} drop; }}\n}}\n");
        self.nft_rules(on, &rules);
    }

    fn nft_rules(&self, on: bool, rules: &str) {
        if on {
            nft(&self.server, rules);
        } else {
            sh(&[
                "ip",
                "netns",
                "exec",
                &self.server,
                "nft",
                "delete",
                "table",
                "inet",
                "lw",
            ])
            .unwrap();
        }
    }

    pub fn server_addr(&self) -> SocketAddr {
        format!("{}:{PORT}", self.server_ip).parse().unwrap()
    }

    /// Runs `f` on a thread inside namespace `ns`.
    pub fn spawn_in<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/var/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
    }

    /// Writes a config for one link on the client's veth.
    pub fn config(&self, dir: &std::path::Path) -> PathBuf {
        self.config_with(
            dir,
            "[daemon]\nstatus_interval = \"200ms\"\n",
            "silence_after = \"1500ms\"\nblack_hole_after = \"1500ms\"\nreconnect_grace = \"500ms\"\n",
        )
    }

    /// Writes `dir/linewatch.toml`: `sections` (`[daemon]`, `[evidence]`
    /// ...), then the link `visa-test` on the client's veth toward the
    /// server, with `link_keys` (its thresholds).
    pub fn config_with(&self, dir: &std::path::Path, sections: &str, link_keys: &str) -> PathBuf {
        let text = format!(
            "{sections}\n[[link]]\nname = \"visa-test\"\ninterface = \"{}\"\npeer = [\"{}:{PORT}\"]\n{link_keys}",
            self.veth_client, self.server_ip
        );
        let path = dir.join("linewatch.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.client]);
        let _ = sh(&["ip", "netns", "del", &self.server]);
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("linewatch-live-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The daemon under test, its JSON event lines collected with arrival times.
pub struct Daemon {
    child: Child,
    lines: Receiver<(Instant, Value)>,
    pub seen: Vec<(Instant, Value)>,
    pub stderr_path: PathBuf,
    pub state_dir: PathBuf,
}

impl Daemon {
    /// Starts the daemon and waits until its capture is open.
    pub fn start(net: &Net, config: &std::path::Path, dir: &std::path::Path) -> Daemon {
        let d = Daemon::spawn(net, config, dir);
        // Ready once the capture is open.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if d.stderr().contains("capture open on") {
                return d;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not open its capture:\n{}", d.stderr());
    }

    /// Starts the daemon without waiting for its capture.
    pub fn spawn(net: &Net, config: &std::path::Path, dir: &std::path::Path) -> Daemon {
        Daemon::spawn_with(net, config, dir, &[], &[])
    }

    /// Starts the daemon with extra arguments and environment variables,
    /// without waiting for its capture.
    pub fn spawn_with(
        net: &Net,
        config: &std::path::Path,
        dir: &std::path::Path,
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Daemon {
        let state_dir = dir.join("state");
        let stderr_path = dir.join("stderr.log");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &net.client])
            .arg(env!("CARGO_BIN_EXE_linewatch"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(&state_dir)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send((Instant::now(), v)).is_err() {
                        break;
                    }
                }
            }
        });
        Daemon {
            child,
            lines: rx,
            seen: Vec::new(),
            stderr_path,
            state_dir,
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for an event named `name` whose fields match `pred`; returns it
    /// with its arrival time. Events seen meanwhile are kept in `seen`.
    pub fn wait_for(
        &mut self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> (Instant, Value) {
        if let Some((t, v)) = self
            .seen
            .iter()
            .find(|(_, v)| v["event"] == name && pred(v))
        {
            return (*t, v.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((t, v)) => {
                    self.seen.push((t, v.clone()));
                    if v["event"] == name && pred(&v) {
                        return (t, v);
                    }
                }
                Err(_) => panic!(
                    "no `{name}` event within {timeout:?}; events seen:\n{}\nstderr:\n{}",
                    self.seen
                        .iter()
                        .map(|(_, v)| v.to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Collects events for `d`, returning those named `name`.
    pub fn collect(&mut self, d: Duration, name: &str) -> Vec<Value> {
        let deadline = Instant::now() + d;
        while let Ok((t, v)) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push((t, v));
        }
        self.seen
            .iter()
            .filter(|(_, v)| v["event"] == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// SIGTERM; returns the exit status and how long the stop took.
    pub fn stop(mut self) -> (Option<i32>, Duration) {
        let t = Instant::now();
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.child.wait().unwrap();
        (status.code(), t.elapsed())
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the server or client should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// Close the connection (FIN).
    Close,
    /// Abort it (SO_LINGER 0: RST).
    Abort,
    /// Stop answering / sending heartbeats.
    Mute,
    /// Resume heartbeats.
    Unmute,
    /// Stop listening (server) so reconnects are refused.
    StopListening,
    /// Listen again.
    Listen,
    /// End the thread.
    Quit,
}

fn abort(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// A persistent-connection server: answers each "ping" with "pong".
pub struct Peer {
    tx: Sender<Cmd>,
    handle: Option<JoinHandle<()>>,
}

impl Peer {
    pub fn server(net: &Net) -> Peer {
        let addr = net.server_addr();
        let (tx, rx) = channel::<Cmd>();
        let (ready_tx, ready_rx) = channel();
        let handle = net.spawn_in(&net.server.clone(), move || {
            let bind = || {
                let l = TcpListener::bind(addr).unwrap();
                l.set_nonblocking(true).unwrap();
                l
            };
            let mut listener = Some(bind());
            ready_tx.send(()).unwrap();
            let mut conns: Vec<TcpStream> = Vec::new();
            let mut muted = false;
            loop {
                match rx.try_recv() {
                    Ok(Cmd::Close) => {
                        for c in conns.drain(..) {
                            let _ = c.shutdown(Shutdown::Both);
                        }
                    }
                    Ok(Cmd::Abort) => conns.drain(..).for_each(abort),
                    Ok(Cmd::Mute) => muted = true,
                    Ok(Cmd::Unmute) => muted = false,
                    Ok(Cmd::StopListening) => listener = None,
                    Ok(Cmd::Listen) => listener = Some(bind()),
                    Ok(Cmd::Quit) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                    Err(std::sync::mpsc::TryRecvError::Empty) => {}
                }
                if let Some(l) = &listener {
                    while let Ok((c, _)) = l.accept() {
                        c.set_nonblocking(true).unwrap();
                        conns.push(c);
                    }
                }
                let mut buf = [0u8; 256];
                conns.retain_mut(|c| match c.read(&mut buf) {
                    Ok(0) => false,
                    Ok(_) => {
                        if !muted {
                            let _ = c.write_all(b"pong");
                        }
                        true
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
                    Err(_) => false,
                });
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        Peer {
            tx,
            handle: Some(handle),
        }
    }

    /// A client holding one persistent connection, "ping" every 200 ms,
    /// reconnecting every 300 ms when it has none.
    pub fn client(net: &Net, reconnect: bool) -> Peer {
        Peer::client_every(net, reconnect, Duration::from_millis(200))
    }

    /// [`Peer::client`] with a heartbeat every `every` (payment links echo
    /// every 30-60 s; a slow heartbeat is what a flood's eviction bug
    /// hides behind).
    pub fn client_every(net: &Net, reconnect: bool, every: Duration) -> Peer {
        let addr = net.server_addr();
        let (tx, rx) = channel::<Cmd>();
        let handle = net.spawn_in(&net.client.clone(), move || {
            let mut conn: Option<TcpStream> = None;
            let mut muted = false;
            let mut next_ping = Instant::now();
            let mut ever = false;
            loop {
                match rx.try_recv() {
                    Ok(Cmd::Abort) => {
                        if let Some(c) = conn.take() {
                            abort(c);
                        }
                    }
                    Ok(Cmd::Close) => {
                        if let Some(c) = conn.take() {
                            let _ = c.shutdown(Shutdown::Both);
                        }
                    }
                    Ok(Cmd::Mute) => muted = true,
                    Ok(Cmd::Unmute) => muted = false,
                    Ok(Cmd::Quit) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                    Ok(_) | Err(std::sync::mpsc::TryRecvError::Empty) => {}
                }
                if conn.is_none() && (reconnect || !ever) && Instant::now() >= next_ping {
                    next_ping = Instant::now() + Duration::from_millis(300);
                    if let Ok(c) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                        c.set_nonblocking(true).unwrap();
                        conn = Some(c);
                        ever = true;
                    }
                }
                if let Some(c) = conn.as_mut() {
                    let mut buf = [0u8; 256];
                    let dead = match c.read(&mut buf) {
                        Ok(0) => true,
                        Ok(_) => false,
                        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                    };
                    if dead {
                        // The peer closed or reset: close our side too.
                        conn = None;
                        next_ping = Instant::now() + Duration::from_millis(300);
                        continue;
                    }
                    if !muted && Instant::now() >= next_ping {
                        next_ping = Instant::now() + every;
                        let _ = c.write_all(b"ping");
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Peer {
            tx,
            handle: Some(handle),
        }
    }

    pub fn send(&self, cmd: Cmd) {
        self.tx.send(cmd).unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Quit);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The MAC address of `dev` in namespace `ns`.
pub fn mac_of(ns: &str, dev: &str) -> [u8; 6] {
    let out = Command::new("ip")
        .args(["-n", ns, "-j", "link", "show", dev])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v[0]["address"].as_str().unwrap().to_string();
    let mut mac = [0u8; 6];
    for (m, part) in mac.iter_mut().zip(text.split(':')) {
        *m = u8::from_str_radix(part, 16).unwrap();
    }
    mac
}

/// Spoofed SYNs toward the server's address and port, written as fast as
/// one thread can with libpcap on the client's veth (the interface the
/// probe captures on) for `for_how_long`, sources cycling through 65,536
/// addresses of 198.18.0.0/15 (RFC 2544) and their ports. Returns how
/// many were sent.
pub fn syn_flood(net: &Net, for_how_long: Duration) -> JoinHandle<u64> {
    syn_burst(net, for_how_long, None)
}

/// [`syn_flood`] at `per_second` at most (`None`: as fast as it can).
pub fn syn_burst(net: &Net, for_how_long: Duration, per_second: Option<u32>) -> JoinHandle<u64> {
    let src_mac = mac_of(&net.client, &net.veth_client);
    let dst_mac = mac_of(&net.server, &net.veth_server);
    let dst: std::net::Ipv4Addr = net.server_ip.parse().unwrap();
    let dev = net.veth_client.clone();
    net.spawn_in(&net.client.clone(), move || {
        let frames: Vec<Vec<u8>> = (0..65_536u32)
            .map(|i| {
                let builder = etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
                    .ipv4(
                        [198, 18 + (i >> 16) as u8, (i >> 8) as u8, i as u8],
                        dst.octets(),
                        64,
                    )
                    .tcp(
                        1024 + (i % 60_000) as u16,
                        PORT,
                        i.wrapping_mul(2_654_435_761),
                        64_240,
                    )
                    .syn();
                let mut f = Vec::with_capacity(builder.size(0));
                builder.write(&mut f, &[]).unwrap();
                f
            })
            .collect();
        let mut cap = pcap::Capture::from_device(dev.as_str())
            .unwrap()
            .open()
            .unwrap();
        let start = Instant::now();
        let end = start + for_how_long;
        let mut sent = 0u64;
        'send: loop {
            for f in &frames {
                if let Some(rate) = per_second {
                    let due = start + Duration::from_secs_f64(sent as f64 / f64::from(rate));
                    if Instant::now() >= end {
                        break 'send;
                    }
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                if cap.sendpacket(f.as_slice()).is_ok() {
                    sent += 1;
                }
                if sent % 4096 == 0 && Instant::now() >= end {
                    break 'send;
                }
            }
        }
        sent
    })
}

/// The daemon's peak and current resident memory (VmHWM, VmRSS), KiB.
pub fn memory_kib(pid: i32) -> (u64, u64) {
    (status_kib(pid, "VmHWM:"), status_kib(pid, "VmRSS:"))
}

/// The process's anonymous resident memory in KiB (`RssAnon`: heap,
/// stacks, the evidence ring): what the daemon itself holds. `VmRSS` also
/// counts file pages, such as the binary's own code paged in the first
/// time a path runs (a debug build's text is 12 MiB), which is not growth.
pub fn anon_kib(pid: i32) -> u64 {
    status_kib(pid, "RssAnon:")
}

fn status_kib(pid: i32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
