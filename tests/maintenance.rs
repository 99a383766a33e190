//! Planned maintenance through the binary: `[[maintenance]]` in a config
//! replayed with `--emit dry-run` over the FIN fixture (a window over the
//! whole outage sends nothing; one that ends inside it sends the trigger at
//! its end, saying it was held), and `linewatch maintenance`, which writes
//! the running daemon's windows into its state directory.

mod common;

use serde_json::Value;

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("linewatch-maint-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const FIXTURE: &str = "iso8583-fin-from-peer.pcap";

fn config(dir: &std::path::Path, maintenance: &str) -> std::path::PathBuf {
    let path = dir.join("linewatch.toml");
    std::fs::write(
        &path,
        format!(
            "[[link]]\nname = \"visa-primary\"\npeer = [\"203.0.113.10:5000\"]\nhold_down = \"20s\"\n\n{maintenance}\n[pagerduty]\nrouting_key_env = \"LW_TEST_PD_KEY\"\n"
        ),
    )
    .unwrap();
    path
}

/// The fixture's events (JSON lines), without maintenance.
fn events(dir: &std::path::Path) -> Vec<Value> {
    let cfg = config(dir, "");
    let fixture = common::fixtures().join(FIXTURE);
    common::linewatch_ok([
        "replay".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        fixture.as_os_str(),
    ])
    .lines()
    .filter_map(|l| serde_json::from_str(l).ok())
    .collect()
}

fn time_of(events: &[Value], kind: &str) -> chrono::DateTime<chrono::Utc> {
    let e = events
        .iter()
        .find(|e| e["event"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the fixture"));
    let ts = e["ts"].as_f64().expect("ts: seconds since the epoch");
    chrono::DateTime::from_timestamp_nanos((ts * 1e9) as i64)
}

/// What a dry run would POST to PagerDuty with this `[[maintenance]]`.
fn posts(dir: &std::path::Path, maintenance: &str) -> Vec<Value> {
    let cfg = config(dir, maintenance);
    let fixture = common::fixtures().join(FIXTURE);
    let out = common::output_ok(
        std::process::Command::new(common::linewatch())
            .args(["replay", "--emit", "dry-run", "--config"])
            .arg(&cfg)
            .arg(&fixture)
            .env("LW_TEST_PD_KEY", "test-routing-key-0123456789abcdef"),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("POST pagerduty "))
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

fn window(from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "[[maintenance]]\nlink = \"visa-primary\"\nfrom = \"{}\"\nto = \"{}\"\nreason = \"carrier CHG-1234\"\n",
        from.to_rfc3339(),
        to.to_rfc3339()
    )
}

#[test]
fn a_fault_inside_a_window_pages_nothing_and_one_outlasting_it_pages_at_its_end() {
    let dir = tempdir("replay");
    let ev = events(&dir);
    let (down, up) = (time_of(&ev, "link_down"), time_of(&ev, "link_up"));
    let start = down - chrono::Duration::minutes(10);
    // Without a window: the trigger and the resolve.
    let plain = posts(&dir, "");
    let actions: Vec<&str> = plain
        .iter()
        .map(|b| b["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "resolve"]);
    // A window over the whole outage: nothing.
    let quiet = posts(&dir, &window(start, up + chrono::Duration::seconds(1)));
    assert!(quiet.is_empty(), "{quiet:?}");
    // A window that ends during it: the trigger at its end, then the resolve.
    let end = down + chrono::Duration::seconds(1);
    assert!(end < up, "the fixture's outage is longer than a second");
    let held = posts(&dir, &window(start, end));
    let actions: Vec<&str> = held
        .iter()
        .map(|b| b["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "resolve"]);
    let payload = &held[0]["payload"];
    let summary = payload["summary"].as_str().unwrap();
    assert!(
        summary.contains("held during maintenance until") && summary.contains("carrier CHG-1234"),
        "{summary}"
    );
    let at = chrono::DateTime::parse_from_rfc3339(payload["timestamp"].as_str().unwrap()).unwrap();
    // (The events' times are float seconds: a microsecond of slack.)
    assert!(
        at >= end - chrono::Duration::microseconds(1),
        "paged at {at}, before the window's end {end}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_command_writes_lists_and_checks_the_link() {
    let dir = tempdir("cli");
    let cfg = config(&dir, "");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let said = common::linewatch_ok([
        "maintenance".as_ref(),
        "visa-primary".as_ref(),
        "--for".as_ref(),
        "2h".as_ref(),
        "--from".as_ref(),
        "2030-01-01T01:00:00Z".as_ref(),
        "--reason".as_ref(),
        "carrier CHG-1234".as_ref(),
        "--state-dir".as_ref(),
        state.as_os_str(),
        "--config".as_ref(),
        cfg.as_os_str(),
    ]);
    assert!(
        said.contains("from 2030-01-01T01:00:00Z to 2030-01-01T03:00:00Z (carrier CHG-1234)"),
        "{said}"
    );
    let file: Value =
        serde_json::from_slice(&std::fs::read(state.join("maintenance.json")).unwrap()).unwrap();
    assert_eq!(file[0]["link"], "visa-primary");
    assert_eq!(file[0]["to"], "2030-01-01T03:00:00Z");
    let listed = common::linewatch_ok([
        "maintenance".as_ref(),
        "--state-dir".as_ref(),
        state.as_os_str(),
    ]);
    assert!(
        listed.contains("visa-primary") && listed.contains("carrier CHG-1234"),
        "{listed}"
    );
    // A link the config does not have is refused, and nothing is written.
    let out = std::process::Command::new(common::linewatch())
        .args(["maintenance", "mc-primary", "--for", "1h", "--state-dir"])
        .arg(&state)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no such link") && err.contains("visa-primary"),
        "{err}"
    );
    let file: Value =
        serde_json::from_slice(&std::fs::read(state.join("maintenance.json")).unwrap()).unwrap();
    assert_eq!(file.as_array().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
