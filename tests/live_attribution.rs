//! Who really sent it, on real stacks: a third network namespace routes
//! between the client (where the daemon captures) and the server. The
//! router's nftables `reject with tcp reset` answers the client in the
//! server's name, on a connection and to a reconnect: `sender: middlebox`.
//! The server's own RST (SO_LINGER 0), its FIN and its refusal (nobody
//! listening): `sender: endpoint`. Twenty runs of each. Root only; under
//! CI=true they must run.

mod live;

use std::time::Duration;

use live::{available, sh, Cmd, Daemon, Net, Peer, TempDir, SERIAL};
use serde_json::Value;

const T: Duration = Duration::from_secs(10);
const RUNS: usize = 20;

/// The router namespace between client and server (deleted on drop).
struct Router {
    ns: String,
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

impl Router {
    /// nftables on the router: every client segment to the server's port
    /// is answered with a TCP RST in the server's name (`on`), or not.
    fn reject_with_reset(&self, server_ip: &str, on: bool) {
        if !on {
            sh(&[
                "ip", "netns", "exec", &self.ns, "nft", "delete", "table", "inet", "lwr",
            ])
            .unwrap();
            return;
        }
        let rules = format!(
            "table inet lwr {{\n chain relay {{ type filter hook forward priority 0; ip daddr {server_ip} tcp dport {} reject with tcp reset; }}\n}}\n",
            live::PORT
        );
        live::nft(&self.ns, &rules);
    }
}

/// Client 10.79.x.1 -- router 10.79.x.254 / 10.80.x.254 -- server 10.80.x.2.
fn routed(tag: u32) -> (Net, Router) {
    let id = format!("{}y{}", std::process::id() % 100_000, tag);
    let subnet = (std::process::id() % 200 + tag * 7) % 250 + 1;
    let net = Net {
        client: format!("lwc{id}"),
        server: format!("lws{id}"),
        veth_client: format!("lwc{id}"),
        veth_server: format!("lws{id}"),
        client_ip: format!("10.79.{subnet}.1"),
        server_ip: format!("10.80.{subnet}.2"),
    };
    let router = Router {
        ns: format!("lwr{id}"),
    };
    for ns in [&net.client, &net.server, &router.ns] {
        sh(&["ip", "netns", "add", ns]).unwrap();
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]).unwrap();
    }
    let (r1, r2) = (format!("lr1{id}"), format!("lr2{id}"));
    let legs = [
        (
            &net.client,
            &net.veth_client,
            &r1,
            format!("10.79.{subnet}"),
        ),
        (
            &net.server,
            &net.veth_server,
            &r2,
            format!("10.80.{subnet}"),
        ),
    ];
    for (ns, dev, rdev, prefix) in legs {
        let (own, gw) = if ns == &net.client {
            (format!("{prefix}.1"), format!("{prefix}.254"))
        } else {
            (format!("{prefix}.2"), format!("{prefix}.254"))
        };
        sh(&[
            "ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", rdev, "netns",
            &router.ns,
        ])
        .unwrap();
        sh(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("{own}/24"),
            "dev",
            dev,
        ])
        .unwrap();
        sh(&[
            "ip",
            "-n",
            &router.ns,
            "addr",
            "add",
            &format!("{gw}/24"),
            "dev",
            rdev,
        ])
        .unwrap();
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]).unwrap();
        sh(&["ip", "-n", &router.ns, "link", "set", rdev, "up"]).unwrap();
        sh(&["ip", "-n", ns, "route", "add", "default", "via", &gw]).unwrap();
    }
    sh(&[
        "ip",
        "netns",
        "exec",
        &router.ns,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ])
    .unwrap();
    (net, router)
}

/// Waits for a connection established after the last one taken (`after`,
/// its time; by time, not by address: the client's ephemeral port comes
/// round again within the test, which once made this wait for a
/// connection it had already seen), then for the server to have sent
/// enough for a baseline; returns its local address.
fn fresh_connection(daemon: &mut Daemon, after: &mut f64) -> String {
    let (_, e) = daemon.wait_for("established", T, |e| {
        e["ts"].as_f64().is_some_and(|t| t > *after)
    });
    let local = e["local"].as_str().unwrap().to_string();
    *after = e["ts"].as_f64().unwrap_or(*after);
    // Five heartbeats each way: the server's habits are known.
    std::thread::sleep(Duration::from_millis(1_100));
    local
}

/// Whether event `e` is about the connection from `local` established at
/// `since` (not an earlier one from the same port).
fn is_of(e: &Value, local: &str, since: f64) -> bool {
    e["local"] == local && e["ts"].as_f64().is_some_and(|t| t >= since)
}

/// The `refused` event after the first `n`, waiting for it.
fn nth_refused(daemon: &mut Daemon, n: usize) -> Value {
    let deadline = std::time::Instant::now() + T;
    loop {
        let all = daemon.collect(Duration::from_millis(50), "refused");
        if let Some(e) = all.get(n) {
            return e.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no refusal {n}");
    }
}

fn sender(e: &Value) -> String {
    e["attribution"]["sender"]
        .as_str()
        .unwrap_or("-")
        .to_string()
}

#[test]
fn attribution_of_router_resets_and_server_fin_rst_and_refusals_in_20_runs_each() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available() {
        return;
    }
    let dir = TempDir::new("attribution");
    let (net, router) = routed(1);
    let server = Peer::server(&net);
    let config = net.config(&dir.0);
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client(&net, true);
    let mut after = 0.0;
    let mut table = Vec::new();
    for run in 0..RUNS {
        // The router resets the client's next heartbeat in the server's name.
        let local = fresh_connection(&mut daemon, &mut after);
        router.reject_with_reset(&net.server_ip, true);
        let (_, e) = daemon.wait_for("reset", T, |e| is_of(e, &local, after));
        router.reject_with_reset(&net.server_ip, false);
        table.push(("router reject", run, sender(&e), e["attribution"].clone()));
        if run == 0 {
            // The status document shows the link's last RST and who sent it.
            let deadline = std::time::Instant::now() + T;
            loop {
                let doc = linewatch::status::read(&daemon.state_dir).ok();
                let close = doc.and_then(|d| d.links.first().and_then(|l| l.last_close.clone()));
                if let Some(c) =
                    close.filter(|c| c.local.map(|l| l.to_string()) == Some(local.clone()))
                {
                    assert_eq!(c.event, "reset");
                    assert_eq!(
                        c.attribution.map(|a| a.sender).as_deref(),
                        Some("middlebox")
                    );
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no last_close in the status document"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        // The server aborts: its own RST.
        let local = fresh_connection(&mut daemon, &mut after);
        server.send(Cmd::Abort);
        let (_, e) = daemon.wait_for("reset", T, |e| is_of(e, &local, after));
        table.push(("server RST", run, sender(&e), e["attribution"].clone()));

        // The server closes: its own FIN.
        let local = fresh_connection(&mut daemon, &mut after);
        server.send(Cmd::Close);
        let (_, e) = daemon.wait_for("fin", T, |e| is_of(e, &local, after) && e["from"] == "peer");
        table.push(("server FIN", run, sender(&e), e["attribution"].clone()));

        // Reconnects refused: first by the router in the server's name,
        // then by the server's host itself (nobody listening).
        let local = fresh_connection(&mut daemon, &mut after);
        let refused = daemon.collect(Duration::ZERO, "refused").len();
        router.reject_with_reset(&net.server_ip, true);
        server.send(Cmd::Abort);
        let e = nth_refused(&mut daemon, refused);
        table.push(("router refusal", run, sender(&e), e["attribution"].clone()));
        // Nobody listens any more; then the router lets the SYNs through.
        server.send(Cmd::StopListening);
        std::thread::sleep(Duration::from_millis(50));
        router.reject_with_reset(&net.server_ip, false);
        std::thread::sleep(Duration::from_millis(100));
        let refused = daemon.collect(Duration::ZERO, "refused").len();
        let e = nth_refused(&mut daemon, refused);
        server.send(Cmd::Listen);
        table.push(("server refusal", run, sender(&e), e["attribution"].clone()));
        let _ = local;
    }
    drop(client);
    println!("\ncase           run  sender     reasons");
    for (case, run, sender, a) in &table {
        println!("{case:14} {run:3}  {sender:9}  {}", a["reasons"]);
    }
    for (case, run, got, a) in &table {
        let want = if case.starts_with("router") {
            "middlebox"
        } else {
            "endpoint"
        };
        assert_eq!(got, want, "{case}, run {run}: {a}");
    }
    // The router is one hop nearer than the server.
    let hops: Vec<i64> = table
        .iter()
        .filter(|(case, ..)| *case == "router reject")
        .map(|(.., a)| a["hops_nearer"].as_i64().unwrap_or(0))
        .collect();
    assert!(hops.iter().all(|h| *h == 1), "{hops:?}");
}
