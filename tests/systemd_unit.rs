//! The systemd unit is real: `systemd-analyze verify` accepts it, it has the
//! hardening the daemon issue asks for, and the example config loads.

mod common;

use std::process::Command;

fn unit_text() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/linewatch.service"),
    )
    .unwrap()
}

#[test]
fn unit_has_the_required_directives() {
    let unit = unit_text();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "User=linewatch",
        "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN",
        "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "StateDirectory=linewatch",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_PACKET AF_NETLINK",
        "MemoryMax=",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(line)),
            "unit lacks `{line}`"
        );
    }
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            !ci,
            "systemd-analyze missing under CI: .ci/install must install systemd"
        );
        eprintln!("SKIP: systemd-analyze not installed (apt-get install -y systemd)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("linewatch-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unit = unit_text().replace("/usr/bin/linewatch", common::linewatch().to_str().unwrap());
    let path = dir.join("linewatch.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("linewatch.service"))
        .collect();
    assert!(
        ours.is_empty(),
        "systemd-analyze verify warns about the unit:\n{}",
        ours.join("\n")
    );
    let sec = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&sec.stdout);
    if let Some(line) = text.lines().find(|l| l.contains("Overall exposure level")) {
        println!("{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn example_config_documents_and_loads_every_key() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/linewatch.toml");
    let config = linewatch::config::Config::load(&path).unwrap();
    config.check_daemon().unwrap();
    assert_eq!(config.links.len(), 2);
    let text = std::fs::read_to_string(&path).unwrap();
    // Every key check-config prints (the full set, with the optional
    // emitter sections switched on) must be documented in the example.
    let dir = std::env::temp_dir().join(format!("linewatch-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("pagerduty");
    std::fs::write(&secret, "key\n").unwrap();
    let full: String = text
        .lines()
        .map(|l| {
            let l = l.strip_prefix("#> ").unwrap_or(l);
            if l.starts_with("routing_key_file") {
                format!("routing_key_file = \"{}\"\n", secret.display())
            } else {
                format!("{l}\n")
            }
        })
        .collect::<String>();
    let full_path = dir.join("full.toml");
    std::fs::write(&full_path, &full).unwrap();
    let printed =
        common::linewatch_ok([std::ffi::OsStr::new("check-config"), full_path.as_os_str()]);
    let keys: std::collections::BTreeSet<&str> = printed
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
        .collect();
    for section in [
        "[daemon]",
        "[limits]",
        "[evidence]",
        "[statsd]",
        "[metrics]",
        "[pagerduty]",
        "[slack]",
        "[[link]]",
        "[link.pagerduty]",
        "[link.slack]",
        "[[maintenance]]",
    ] {
        assert!(
            printed.contains(section),
            "check-config lacks {section}:\n{printed}"
        );
    }
    assert!(keys.len() >= 20, "{keys:?}");
    for key in keys {
        assert!(
            text.contains(&format!("\n{key} = ")) || text.contains(&format!("\n#> {key} = ")),
            "example config lacks `{key}`"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // check-config prints the effective config and it parses back the same.
    let out = Command::new(common::linewatch())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(linewatch::config::Config::parse(&printed).unwrap(), config);
    // A broken config: exit 2, one line naming file, line and key.
    let bad = std::env::temp_dir().join(format!("linewatch-bad-{}.toml", std::process::id()));
    std::fs::write(
        &bad,
        "[[link]]\nname = \"x\"\npeer = [\"1.2.3.4:5\"]\nsilence_after = \"soon\"\n",
    )
    .unwrap();
    let out = Command::new(common::linewatch())
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(bad.to_str().unwrap())
            && err.contains("line 4")
            && err.contains("silence_after"),
        "{err}"
    );
    let _ = std::fs::remove_file(&bad);
}
