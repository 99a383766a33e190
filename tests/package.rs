//! The Debian package as a gateway's administrator meets it: built by
//! `scripts/build-deb.sh` (cargo-deb) into `target/debian/`, checked with
//! lintian, installed with `dpkg -i`, its binary, config and unit tried,
//! then removed and purged, and what is left looked at.
//!
//! It installs a package on the machine it runs on, so it runs under
//! `CI=true` (where it must run: `.ci/run` builds the package first) or
//! with `LINEWATCH_TEST_PACKAGE=1`, as root; elsewhere it says why it
//! skips. A linewatch package already installed is never touched.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Runs `cmd args`, returning its status, stdout and stderr.
fn run(cmd: &str, args: &[&str]) -> (bool, String, String) {
    match Command::new(cmd).args(args).output() {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (false, String::new(), format!("{cmd}: {e}")),
    }
}

/// Runs `cmd args` and fails the test, with its output, if it fails.
fn must(cmd: &str, args: &[&str]) -> String {
    let (ok, out, err) = run(cmd, args);
    assert!(ok, "`{cmd} {}` failed:\n{out}\n{err}", args.join(" "));
    out
}

/// dpkg's status of the linewatch package ("" when it has never been
/// installed or is purged).
fn status() -> String {
    run("dpkg-query", &["-W", "-f=${Status}", "linewatch"]).1
}

/// The newest package `scripts/build-deb.sh` built.
fn package() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("linewatch_") && n.ends_with(".deb"))
        })
        .collect();
    debs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    debs.pop()
}

/// Whether this run may install a package here; prints why not.
fn may_install() -> bool {
    let asked = ci() || std::env::var("LINEWATCH_TEST_PACKAGE").as_deref() == Ok("1");
    if !asked {
        eprintln!(
            "SKIP: installs a package on this machine; runs under CI=true or LINEWATCH_TEST_PACKAGE=1"
        );
        return false;
    }
    let root = nix::unistd::Uid::effective().is_root();
    let tools = ["dpkg", "lintian", "systemd-analyze"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().is_ok());
    assert!(
        root && tools,
        "the package test needs root, dpkg, lintian and systemd-analyze (bash .ci/install)"
    );
    true
}

#[test]
fn the_package_installs_runs_and_purges_cleanly() {
    if !may_install() {
        return;
    }
    let Some(deb) = package() else {
        panic!("no package in target/debian: run `bash scripts/build-deb.sh` first (.ci/run does)");
    };
    let deb = deb.to_str().unwrap();
    let before = status();
    assert!(
        !before.contains("installed") || before.contains("not-installed"),
        "a linewatch package is installed here ({before}): the test will not touch it"
    );
    if before.contains("config-files") {
        // Left by an earlier run of this test that failed half-way.
        must("dpkg", &["--purge", "linewatch"]);
    }

    // lintian: no error and no warning left unexplained (the one warning
    // that stays is overridden in the package, with its reason).
    let (ok, out, err) = run("lintian", &["--fail-on", "error,warning", deb]);
    assert!(ok, "lintian:\n{out}\n{err}");

    // What the package holds.
    let contents = must("dpkg-deb", &["-c", deb]);
    for path in [
        "./usr/bin/linewatch",
        "./etc/linewatch/linewatch.toml",
        "./usr/lib/systemd/system/linewatch.service",
        "./usr/lib/sysusers.d/linewatch.conf",
        "./usr/share/man/man1/linewatch.1.gz",
        "./usr/share/man/man1/linewatch-run.1.gz",
        "./usr/share/bash-completion/completions/linewatch",
        "./usr/share/zsh/vendor-completions/_linewatch",
        "./usr/share/fish/vendor_completions.d/linewatch.fish",
        "./usr/share/doc/linewatch/README.md",
        "./usr/share/doc/linewatch/copyright",
        "./usr/share/linewatch/contrib/datadog/monitors.json",
        "./usr/share/linewatch/contrib/datadog/dashboard.json",
        "./usr/share/linewatch/contrib/prometheus/linewatch.rules.yml",
        "./usr/share/linewatch/contrib/icinga2/linewatch.conf",
    ] {
        assert!(
            contents.lines().any(|l| l.ends_with(path)),
            "the package lacks {path}:\n{contents}"
        );
    }

    // Install.
    must("dpkg", &["-i", deb]);
    assert!(status().contains("install ok installed"), "{}", status());
    let files = must("dpkg", &["-L", "linewatch"]);
    let version = must("/usr/bin/linewatch", &["--version"]);
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")),
        "--version says {version:?}"
    );
    must(
        "/usr/bin/linewatch",
        &["check-config", "/etc/linewatch/linewatch.toml"],
    );
    let (ok, out, err) = run(
        "systemd-analyze",
        &["verify", "/usr/lib/systemd/system/linewatch.service"],
    );
    assert!(ok, "systemd-analyze verify:\n{out}\n{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("linewatch.service"))
        .collect();
    assert!(warnings.is_empty(), "the unit warns: {warnings:?}");
    // The user the unit runs as, and its state directory.
    must("getent", &["passwd", "linewatch"]);
    let owner = must("stat", &["-c", "%U %a", "/var/lib/linewatch"]);
    assert_eq!(owner.trim(), "linewatch 755");
    // Not enabled (the example's peer is a documentation address): no
    // symlink in any .wants directory.
    let (_, wants, _) = run(
        "find",
        &["/etc/systemd/system", "-name", "linewatch.service"],
    );
    assert!(wants.trim().is_empty(), "enabled at install: {wants}");
    // The conffile is marked as one.
    let conf = must("dpkg-query", &["-W", "-f=${Conffiles}", "linewatch"]);
    assert!(conf.contains("/etc/linewatch/linewatch.toml"), "{conf}");
    // The installed man page covers the subcommands.
    let man = must("zcat", &["/usr/share/man/man1/linewatch.1.gz"]);
    for sub in ["run", "replay", "check", "status", "report"] {
        assert!(
            man.contains(&format!("linewatch\\-{sub}")),
            "man page lacks {sub}"
        );
    }

    // What a daemon would have left: a status document.
    std::fs::write("/var/lib/linewatch/status.json", "{}").unwrap();

    // Remove: the program goes, the state directory and the conffile stay.
    must("dpkg", &["-r", "linewatch"]);
    assert!(status().contains("config-files"), "{}", status());
    assert!(!Path::new("/usr/bin/linewatch").exists());
    assert!(!Path::new("/usr/lib/systemd/system/linewatch.service").exists());
    assert!(Path::new("/var/lib/linewatch/status.json").exists());
    assert!(Path::new("/etc/linewatch/linewatch.toml").exists());

    // Purge: nothing is left of what it installed or made.
    must("dpkg", &["-P", "linewatch"]);
    assert_eq!(status(), "", "dpkg still knows the package");
    assert!(!Path::new("/var/lib/linewatch").exists(), "state left");
    assert!(!Path::new("/etc/linewatch").exists(), "config left");
    let left: Vec<&str> = files
        .lines()
        .filter(|f| {
            let p = Path::new(f);
            p.exists() && !p.is_dir()
        })
        .collect();
    assert!(left.is_empty(), "files left after purge: {left:?}");
}
