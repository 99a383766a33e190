//! The man pages and completions are generated from the CLI definitions
//! (`linewatch generate-docs`): every subcommand has its page and is named
//! in `linewatch(1)`, and every flag its `--help` shows is in its page and
//! in the completions, so the documentation cannot drift from the binary.

mod common;

use std::collections::BTreeSet;

use common::{linewatch, linewatch_ok, TempDir};

/// The `--flags` a text mentions (roff escapes `-` as `\-`).
fn flags(text: &str) -> BTreeSet<String> {
    let text = text.replace("\\-", "-");
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            out.insert(name);
        }
    }
    out
}

#[test]
fn man_pages_and_completions_cover_every_subcommand_and_flag() {
    let dir = TempDir::new("docs");
    linewatch_ok([
        std::ffi::OsStr::new("generate-docs"),
        dir.path().as_os_str(),
    ]);
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let top = read("linewatch.1");
    let bash = read("linewatch.bash");
    let subcommands = [
        "replay",
        "run",
        "report",
        "check-config",
        "check",
        "status",
        "generate-docs",
    ];
    // The top-level help lists the same subcommands (and `help`).
    let help = linewatch_ok(["--help"]);
    for s in subcommands {
        assert!(help.contains(&format!("  {s}")), "{s} not in --help");
        assert!(
            top.replace("\\-", "-").contains(s),
            "linewatch.1 misses {s}"
        );
        let page = read(&format!("linewatch-{s}.1"));
        let out = std::process::Command::new(linewatch())
            .args([s, "--help"])
            .output()
            .unwrap();
        let shown = flags(&String::from_utf8_lossy(&out.stdout));
        assert!(
            !shown.is_empty() || s == "check-config",
            "{s} --help shows no flag"
        );
        let documented = flags(&page);
        let missing: Vec<_> = shown.difference(&documented).collect();
        assert!(missing.is_empty(), "linewatch-{s}.1 misses {missing:?}");
        for f in &shown {
            assert!(
                bash.contains(&format!("--{f}")),
                "bash completion misses {s} --{f}"
            );
        }
    }
    for f in ["_linewatch", "linewatch.fish"] {
        assert!(read(f).contains("generate-docs"), "{f}");
    }
}
