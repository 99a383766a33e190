//! `contrib/icinga2/linewatch.conf` as an Icinga 2 master reads it: in
//! `zones.d/master` beside a gateway's Host with two links, validated by
//! Debian's `icinga2 daemon -C`, which must instantiate one service per
//! link; and its CheckCommand's arguments cover every option of
//! `linewatch check --help` that applies to a running daemon, so the two
//! cannot drift. Needs `icinga2` (.ci/install); under CI=true it must run.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn contrib() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/icinga2/linewatch.conf");
    std::fs::read_to_string(path).unwrap()
}

/// The long options a text names in double quotes (`"--link"`).
fn quoted_flags(text: &str) -> BTreeSet<String> {
    text.split('"')
        .filter(|s| s.starts_with("--") && !s.contains(' '))
        .map(String::from)
        .collect()
}

#[test]
fn icinga2_validates_the_check_command_and_makes_one_service_per_link() {
    if Command::new("icinga2").arg("--version").output().is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "icinga2 is missing: .ci/install installs it"
        );
        eprintln!("SKIP: no icinga2 (apt-get install icinga2)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("linewatch-icinga2-{}", std::process::id()));
    let zone = dir.join("zones.d/master");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("linewatch.conf"), contrib()).unwrap();
    std::fs::write(
        zone.join("hosts.conf"),
        r#"object Host "payment-gw1" {
  check_command = "hostalive"
  address = "192.0.2.10"
  vars.linewatch_links = [ "visa-primary", "visa-backup" ]
}
"#,
    )
    .unwrap();
    // A master and the gateway's agent, as Icinga's distributed setup
    // has them; the ITL from Debian's package.
    let main = dir.join("icinga2.conf");
    std::fs::write(
        &main,
        format!(
            r#"const PluginDir = "/usr/lib/nagios/plugins"
const ManubulonPluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "/usr/lib/nagios/plugins"
const NodeName = "icinga-master"
const ZoneName = "master"
include <itl>
include <plugins>
object Endpoint "icinga-master" {{ }}
object Zone "master" {{ endpoints = [ "icinga-master" ] }}
object Endpoint "payment-gw1" {{ host = "192.0.2.10" }}
object Zone "payment-gw1" {{ endpoints = [ "payment-gw1" ]; parent = "master" }}
include_zones "linewatch", "{}"
"#,
            dir.join("zones.d").display()
        ),
    )
    .unwrap();
    let out = Command::new("icinga2")
        .args(["daemon", "-C", "-c"])
        .arg(&main)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "icinga2 daemon -C:\n{text}");
    assert!(
        text.contains("Instantiated 2 Services."),
        "one service per link:\n{text}"
    );
    assert!(
        text.contains("Instantiated 1 Host."),
        "icinga2 daemon -C:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_check_command_passes_every_option_of_the_daemon_check() {
    // The check exits 3 for --help, as Nagios plugins do.
    let out = Command::new(common::linewatch())
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(help.contains("--link"), "{help}");
    // What `linewatch check --help` offers, less the standalone check's
    // own options (capture or replay without a daemon) and --help/--version.
    let standalone = [
        "--interface",
        "--replay",
        "--peer",
        "--duration",
        "--expect-connections",
        "--help",
        "--version",
    ];
    // The options block: each line names its flag first (`-l, --link <NAME>`).
    let offered: BTreeSet<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Options:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            l.split_whitespace()
                .take(2)
                .find(|w| w.starts_with("--"))
                .map(|w| w.trim_end_matches(',').to_string())
        })
        .filter(|w| !standalone.contains(&w.as_str()))
        .collect();
    assert!(offered.len() >= 15, "{offered:?}");
    let passed = quoted_flags(&contrib());
    let missing: Vec<&String> = offered.difference(&passed).collect();
    assert!(missing.is_empty(), "the CheckCommand lacks {missing:?}");
    let unknown: Vec<&String> = passed.difference(&offered).collect();
    assert!(
        unknown.is_empty(),
        "the CheckCommand passes unknown {unknown:?}"
    );
}
