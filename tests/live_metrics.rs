//! The `[metrics]` endpoint of a running daemon on a real connection, in
//! network namespaces the test builds: `/metrics` is scraped and checked
//! by Prometheus' own `promtool check metrics` (Debian's `prometheus`),
//! its counters follow a FIN from the peer, and the status page is
//! loaded in headless Chromium (Debian's `chromium`), whose DOM shows the
//! link with the health the status document gives. Root only; under
//! CI=true it must run.

mod common;
mod live;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
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
    let config = net.config_with(
        &dir.0,
        &format!(
            "[daemon]\nstatus_interval = \"1s\"\n\n[metrics]\nlisten = \"127.0.0.1:{PORT}\"\n"
        ),
        "",
    );
    let mut daemon = Daemon::start(&net, &config, &dir.0);
    let client = Peer::client(&net, false);
    daemon.wait_for("established", T, |_| true);
    let iface = &net.veth_client;

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
    drop(client);
    drop(server);
}
