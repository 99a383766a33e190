//! The `[metrics]` endpoint of a running daemon on a real connection, in
//! network namespaces the test builds: `/metrics` is scraped and checked
//! by Prometheus' own `promtool check metrics` (Debian's `prometheus`),
//! its counters follow a FIN from the peer, and the status page is
//! loaded in headless Chromium (Debian's `chromium`), whose DOM shows the
//! link with the health the status document gives. The same daemon sends
//! DogStatsD to a real UDP listener, and `contrib/` is held to both:
//! every series the Prometheus rules name is in the scrape (and
//! `promtool check rules` passes), every metric and service check the
//! Datadog monitors and dashboard name is one the daemon sent. Root only;
//! under CI=true it must run.

mod common;
mod live;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use live::{Cmd, Daemon, Net, Peer, TempDir};

const PORT: u16 = 19464;
const T: Duration = Duration::from_secs(10);

/// What Prometheus 2.42 sends, OpenMetrics first.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A GET from inside the client namespace (where the daemon listens on
/// loopback): the status code, the headers (lowercase) and the body.
fn get(net: &Net, path: &str) -> (u16, String, String) {
    get_accepting(net, path, "*/*")
}

fn get_accepting(net: &Net, path: &str, accept: &str) -> (u16, String, String) {
    let (path, accept) = (path.to_string(), accept.to_string());
    net.spawn_in(&net.client.clone(), move || {
        let mut s = TcpStream::connect(("127.0.0.1", PORT)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, head.to_lowercase(), body.to_string())
    })
    .join()
    .unwrap()
}

/// Scrapes as Prometheus does (OpenMetrics) until a line of `/metrics`
/// is `line`.
fn wait_for_line(net: &Net, line: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let (code, _, body) = get_accepting(net, "/metrics", PROMETHEUS_ACCEPT);
        if code == 200 && body.lines().any(|l| l == line) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no `{line}` in /metrics after {T:?}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn promtool_check(body: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/install installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A DogStatsD listener on loopback in the client namespace: its port and
/// the lines it receives.
fn statsd_listener(net: &Net, stop: Arc<AtomicBool>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = lines.clone();
    net.spawn_in(&net.client.clone(), move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        tx.send(socket.local_addr().unwrap().port()).unwrap();
        let mut buf = [0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            if let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                kept.lock().unwrap().extend(text.lines().map(String::from));
            }
        }
    });
    (rx.recv().unwrap(), lines)
}

/// The metric and service-check names of DogStatsD lines.
fn statsd_names(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with("_e{"))
        .filter_map(|l| match l.strip_prefix("_sc|") {
            Some(rest) => rest.split('|').next(),
            None => l.split(':').next(),
        })
        .map(String::from)
        .collect()
}

/// The `linewatch.` names in a Datadog query or check field.
fn datadog_names(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("query" | "q" | "check", Some(q)) => {
                        for (i, _) in q.match_indices("linewatch.") {
                            let name: String = q[i..]
                                .chars()
                                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == '.')
                                .collect();
                            out.insert(name.trim_end_matches('.').to_string());
                        }
                    }
                    _ => datadog_names(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| datadog_names(v, out)),
        _ => {}
    }
}

/// The `linewatch_` series the Prometheus rules' expressions name.
fn rule_series(rules: &str) -> BTreeSet<String> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .flat_map(|e| {
            e.match_indices("linewatch_")
                .map(|(i, _)| {
                    e[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A real Prometheus (Debian's 2.42) in the client namespace, scraping the
/// daemon every second and evaluating `contrib/`'s rules: a child killed
/// on drop.
struct Prometheus(std::process::Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PROMETHEUS_PORT: u16 = 19090;

fn prometheus(net: &Net, dir: &std::path::Path) -> Prometheus {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/prometheus/linewatch.rules.yml");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: linewatch\n    static_configs:\n      - targets: [\"127.0.0.1:{PORT}\"]\n",
            rules.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &net.client, "prometheus"])
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus (Debian's prometheus package; .ci/install installs it)");
    Prometheus(child)
}

/// Asks the Prometheus in the namespace `path` (its HTTP API) until `ok`
/// holds of the JSON answer; returns it.
fn ask_prometheus(
    net: &Net,
    path: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
    what: &str,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = path.to_string();
        let answer = net
            .spawn_in(&net.client.clone(), move || {
                let mut s = TcpStream::connect(("127.0.0.1", PROMETHEUS_PORT)).ok()?;
                s.set_read_timeout(Some(T)).ok()?;
                write!(
                    s,
                    "GET {request} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                )
                .ok()?;
                let mut text = String::new();
                s.read_to_string(&mut text).ok()?;
                let (_, body) = text.split_once("\r\n\r\n")?;
                serde_json::from_str::<serde_json::Value>(body).ok()
            })
            .join()
            .unwrap();
        if let Some(v) = answer {
            if ok(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus: no {what} after 30 s: {v}"
            );
        } else {
            assert!(
                Instant::now() < deadline,
                "Prometheus did not answer {path} in 30 s"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Chromium's DOM of the status page, loaded inside the client namespace.
fn dom(net: &Net, dir: &std::path::Path) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &net.client, "chromium"])
        .args(common::CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("http://127.0.0.1:{PORT}/"))
        .output()
        .expect("chromium (.ci/install installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_running_daemon_is_scraped_and_its_page_shows_each_link() {
    let Some(_serial) = live::begin() else {
        return;
    };
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !have("promtool") || !have("chromium") {
        assert!(
            !ci,
            "promtool and chromium must be installed under CI (.ci/install)"
        );
        eprintln!("SKIP: promtool or chromium missing (bash .ci/install)");
        return;
    }
    let dir = TempDir::new("metrics");
    let net = Net::new();
    let server = Peer::server(&net);
    let stop = Arc::new(AtomicBool::new(false));
    let (statsd_port, statsd) = statsd_listener(&net, stop.clone());
    let config = net.config_with(
        &dir.0,
        &format!(
            "[daemon]\nstatus_interval = \"1s\"\n\n[metrics]\nlisten = \"127.0.0.1:{PORT}\"\n\n[statsd]\naddress = \"127.0.0.1:{statsd_port}\"\n"
        ),
        "",
    );
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client(&net, false);
    daemon.wait_for("established", T, |_| true);
    let iface = &net.veth_client;
    let _prometheus = prometheus(&net, &dir.0);

    // Healthy: one connection up, the verdict OK, the build named.
    let body = wait_for_line(
        &net,
        &format!("linewatch_link_established{{link=\"visa-test\",interface=\"{iface}\"}} 1.0"),
    );
    assert!(
        body.lines().any(|l| l
            == format!("linewatch_link_health{{link=\"visa-test\",interface=\"{iface}\"}} 0.0")),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "linewatch_build_info{{version=\"{}\"}} 1.0",
            env!("CARGO_PKG_VERSION")
        )),
        "{body}"
    );
    assert!(
        body.lines().any(|l| l
            .starts_with("linewatch_connection_idle_seconds{link=\"visa-test\",peer=")
            && l.contains("side=\"peer\"")),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    let (_, head, _) = get_accepting(&net, "/metrics", PROMETHEUS_ACCEPT);
    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    // promtool reads the classic format, which is what a client that
    // does not ask for OpenMetrics gets.
    let (_, head, classic) = get(&net, "/metrics");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    promtool_check(&classic);

    // The peer closes: the counter by side follows, and the verdict.
    server.send(Cmd::Close);
    let closed = Instant::now();
    daemon.wait_for("fin", T, |e| e["from"] == "peer");
    daemon.wait_for("link_down", T, |_| true);
    wait_for_line(
        &net,
        "linewatch_fin_total{link=\"visa-test\",side=\"peer\"} 1",
    );
    // The verdict follows with the next status document (1 s here).
    wait_for_line(
        &net,
        &format!("linewatch_link_health{{link=\"visa-test\",interface=\"{iface}\"}} 2.0"),
    );
    promtool_check(&get(&net, "/metrics").2);

    // A real Prometheus scrapes the OpenMetrics body (its target is up,
    // with no scrape error) and contrib's rule fires on the verdict.
    ask_prometheus(
        &net,
        "/api/v1/targets",
        |v| {
            v["data"]["activeTargets"][0]["health"] == "up"
                && v["data"]["activeTargets"][0]["lastError"] == ""
        },
        "healthy scrape of linewatch",
    );
    let alerts = ask_prometheus(
        &net,
        "/api/v1/alerts",
        |v| {
            v["data"]["alerts"].as_array().is_some_and(|a| {
                a.iter().any(|x| {
                    x["labels"]["alertname"] == "LinewatchLinkDown"
                        && x["labels"]["link"] == "visa-test"
                        && x["state"] == "firing"
                })
            })
        },
        "LinewatchLinkDown firing for visa-test",
    );
    eprintln!(
        "Prometheus: LinewatchLinkDown firing {:.1} s after the peer's FIN; alerts: {alerts}",
        closed.elapsed().as_secs_f64()
    );

    // The status page, in a real browser, against the status document.
    let (code, head, json) = get(&net, "/status.json");
    assert_eq!(code, 200, "{head}");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["links"][0]["name"], "visa-test");
    let want = doc["links"][0]["health"].as_str().unwrap().to_uppercase();
    assert_eq!(want, "CRITICAL");
    let page = dom(&net, &dir.0);
    assert!(
        page.contains(&format!("data-link=\"visa-test\" data-health=\"{want}\"")),
        "the page does not show visa-test as {want}:\n{page}"
    );
    assert!(page.contains("<pre id=\"events\">"), "{page}");
    assert!(
        page.contains("visa-test") && page.to_lowercase().contains("fin"),
        "the FIN is not among the page's events:\n{page}"
    );
    assert_eq!(get(&net, "/nowhere").0, 404);

    // A new connection, reset by the peer: the RST counter by side.
    let again = Peer::client(&net, false);
    daemon.wait_for("established", T, |_| true);
    std::thread::sleep(Duration::from_millis(300));
    server.send(Cmd::Abort);
    daemon.wait_for("reset", T, |e| e["from"] == "peer");
    let scrape = wait_for_line(
        &net,
        "linewatch_reset_total{link=\"visa-test\",side=\"peer\"} 1",
    );

    // contrib/prometheus: promtool accepts the rules, and every series
    // they name is in the scrape.
    let rules_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/prometheus/linewatch.rules.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let scraped: BTreeSet<String> = scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect();
    let named = rule_series(&std::fs::read_to_string(&rules_path).unwrap());
    assert!(named.len() >= 8, "{named:?}");
    let absent: Vec<&String> = named.difference(&scraped).collect();
    assert!(
        absent.is_empty(),
        "the rules name series no scrape has: {absent:?}\n{scrape}"
    );

    // contrib/datadog: every metric and check named is one the daemon sent.
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let sent = statsd_names(&statsd.lock().unwrap());
    let mut named = BTreeSet::new();
    for file in [
        "contrib/datadog/monitors.json",
        "contrib/datadog/dashboard.json",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        datadog_names(&v, &mut named);
    }
    assert!(named.len() >= 8, "{named:?}");
    let unsent: Vec<&String> = named.difference(&sent).collect();
    assert!(
        unsent.is_empty(),
        "the Datadog files name what the daemon never sent: {unsent:?}; it sent {sent:?}"
    );
    drop(again);
    drop(client);
    drop(server);
}
