//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/captures` beside the checkout. Under CI it must exist; on a
/// developer machine without it, the test says so and is skipped.
pub fn shared_captures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/captures");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is missing: CI must run the third-party capture tests",
            dir.display()
        );
    }
    eprintln!(
        "SKIP: {} not found (third-party captures live beside the checkout)",
        dir.display()
    );
    None
}

/// The events that are faults: each opens an evidence file and gets a
/// verdict in the incident report (`linewatch::evidence::is_trigger`, by
/// name).
pub const FAULTS: [&str; 6] = [
    "fin",
    "reset",
    "reset_ignored",
    "silence",
    "black_hole",
    "link_down",
];

/// The project's own fixtures folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The built `linewatch` binary.
pub fn linewatch() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_linewatch"))
}

/// Runs `linewatch ARGS`, asserts it succeeded (showing its stderr if
/// not) and returns its stdout.
pub fn linewatch_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run_ok(std::process::Command::new(linewatch()).args(args))
}

/// Runs `cmd`, asserts it succeeded (showing its stderr if not) and
/// returns what it printed.
pub fn output_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd`, asserts it succeeded and returns its stdout.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    String::from_utf8_lossy(&output_ok(cmd).stdout).into_owned()
}

/// Is `l` one well-formed DogStatsD line: a metric
/// (`linewatch.NAME:VALUE|c|g|d[|@RATE][|#k:v,...]`), an event
/// (`_e{TITLE_LEN,TEXT_LEN}:TITLE|TEXT|d:..|h:..|t:..|#..`) or a service
/// check (`_sc|NAME|STATUS|d:TS|h:HOST|#TAGS|m:MESSAGE`)?
pub fn dogstatsd_line_ok(l: &str) -> bool {
    let tags_ok = |f: &str| {
        f.strip_prefix('#')
            .is_some_and(|t| t.split(',').all(|t| t.contains(':') && !t.starts_with(':')))
    };
    if let Some(rest) = l.strip_prefix("_e{") {
        let Some((head, body)) = rest.split_once("}:") else {
            return false;
        };
        let Some((t, x)) = head.split_once(',') else {
            return false;
        };
        let (Ok(t), Ok(x)) = (t.parse::<usize>(), x.parse::<usize>()) else {
            return false;
        };
        let (Some(title), Some(after)) = (body.get(..t), body.get(t..)) else {
            return false;
        };
        let Some(text_and_fields) = after.strip_prefix('|') else {
            return false;
        };
        let (Some(_text), Some(fields)) = (text_and_fields.get(..x), text_and_fields.get(x..))
        else {
            return false;
        };
        !title.is_empty()
            && fields.contains("|t:")
            && fields.split('|').skip(1).all(|f| {
                ["d:", "h:", "k:", "p:", "s:", "t:"]
                    .iter()
                    .any(|p| f.starts_with(p))
                    || tags_ok(f)
            })
    } else if let Some(rest) = l.strip_prefix("_sc|") {
        let parts: Vec<&str> = rest.split('|').collect();
        let [name, status, fields @ ..] = parts.as_slice() else {
            return false;
        };
        let last_is_message = fields.last().is_some_and(|f| f.starts_with("m:"));
        let before_message = fields.len().saturating_sub(1);
        !name.is_empty()
            && matches!(*status, "0" | "1" | "2" | "3")
            && last_is_message
            && fields
                .iter()
                .take(before_message)
                .all(|f| f.starts_with("d:") || f.starts_with("h:") || tags_ok(f))
    } else {
        let Some((name, rest)) = l.split_once(':') else {
            return false;
        };
        let fields: Vec<&str> = rest.split('|').collect();
        // A sample rate (`@0.25`, in (0, 1]) may follow the type.
        let rate_ok = |f: &str| {
            f.strip_prefix('@')
                .and_then(|r| r.parse::<f64>().ok())
                .is_some_and(|r| r > 0.0 && r <= 1.0)
        };
        name.starts_with("linewatch.")
            && fields.first().is_some_and(|v| v.parse::<f64>().is_ok())
            && fields.get(1).is_some_and(|t| matches!(*t, "c" | "g" | "d"))
            && fields
                .iter()
                .skip(2)
                .enumerate()
                .all(|(i, f)| tags_ok(f) || (i == 0 && rate_ok(f)))
    }
}

#[test]
fn the_dogstatsd_line_check_rejects_malformed_lines() {
    for good in [
        "linewatch.fin:1|c|#link:visa,side:peer",
        "linewatch.probe.heartbeat:1|g",
        "linewatch.rtt:40.02|d|@0.25|#link:visa,peer:203.0.113.10:5000",
        "_sc|linewatch.link|2|d:1700000000|h:gw-a|#link:visa|m:visa: 0/1 connections",
        "_e{5,4}:title|text|d:1|h:gw|t:error|#link:visa",
    ] {
        assert!(dogstatsd_line_ok(good), "{good}");
    }
    for bad in [
        "linewatch.fin:x|c",
        "other.fin:1|c",
        "linewatch.fin:1|ms",
        "linewatch.fin:1|c|link:visa",
        "linewatch.rtt:40|d|@2",
        "linewatch.rtt:40|d|#link:visa|@0.5",
        "_sc|linewatch.link|7|m:x",
        "_sc|linewatch.link|0|d:1",
        "_sc||0|m:x",
        "_e{9,4}:title|text|t:error",
        "_e{5,4}:title|text|d:1",
    ] {
        assert!(!dogstatsd_line_ok(bad), "{bad}");
    }
}

/// A fresh directory under the temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory named after `tag` and this process.
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "linewatch-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create a temp dir");
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compares the fields a scenario declared (as it wrote its capture) with
/// the events linewatch reported, as JSON: every declared key, `ts` within
/// a microsecond, an object (the attribution) by its declared keys.
pub fn assert_declared(name: &str, declared: &[serde_json::Value], got: &[serde_json::Value]) {
    let show = |v: &[serde_json::Value]| {
        v.iter()
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        declared.len(),
        got.len(),
        "{name}: declared {} events, got {}\ndeclared:\n{}\ngot:\n{}",
        declared.len(),
        got.len(),
        show(declared),
        show(got)
    );
    for (i, (want, have)) in declared.iter().zip(got).enumerate() {
        for (key, w) in want.as_object().unwrap() {
            let h = &have[key];
            let same = match (w.as_f64(), h.as_f64()) {
                (Some(a), Some(b)) if key == "ts" => (a - b).abs() < 1e-6,
                _ => declared_in(w, h),
            };
            assert!(
                same,
                "{name}: event {i} field `{key}`: declared {w}, got {h}\ndeclared:\n{}\ngot:\n{}",
                show(declared),
                show(got)
            );
        }
    }
}

/// Whether `have` says what `want` declares: equal, or for an object
/// (the attribution) every declared key equal.
fn declared_in(want: &serde_json::Value, have: &serde_json::Value) -> bool {
    match (want.as_object(), have.as_object()) {
        (Some(w), Some(h)) => w
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| declared_in(v, hv))),
        _ => want == have,
    }
}

/// How the tests start Debian's Chromium headless, as root, on a machine
/// with no way out: without the background-networking flags it tries to
/// reach Google's hosts at every start.
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
