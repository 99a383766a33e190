//! Bad input never takes linewatch down: every third-party malformed or
//! odd-format capture replays to exit 0 (read to the end, bad frames
//! counted and skipped) or exit 2 with a one-line error, within seconds,
//! never a panic or a hang. Truncated copies of valid files likewise.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use linewatch::config::Config;
use linewatch::mode::replay::{self, Format, ReplayError};

const LIMIT: Duration = Duration::from_secs(10);

struct Outcome {
    code: i32,
    stderr: String,
    stdout: String,
    took: Duration,
}

fn run(file: &Path, format: &str) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(common::linewatch())
        .args(["replay", "--format", format])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return Outcome {
                code: status.code().unwrap_or(-1),
                stderr,
                stdout: reader.join().unwrap(),
                took: start.elapsed(),
            };
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("{} hung for more than {LIMIT:?}", file.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn corpus(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e != "tsv"))
        .collect();
    v.sort();
    v
}

#[test]
fn malformed_and_format_corpora_exit_0_or_2_with_one_line_errors() {
    let Some(shared) = common::shared_captures() else {
        return;
    };
    let mut read_whole = 0;
    let mut refused = Vec::new();
    let mut files = 0;
    for dir in ["malformed", "formats"] {
        for file in corpus(&shared.join(dir)) {
            files += 1;
            let o = run(&file, "json");
            let name = file.file_name().unwrap().to_string_lossy();
            assert!(
                o.code == 0 || o.code == 2,
                "{name}: exit {} (101 is a panic)\n{}",
                o.code,
                o.stderr
            );
            assert!(o.took < LIMIT, "{name} took {:?}", o.took);
            if o.code == 0 {
                read_whole += 1;
                assert!(
                    o.stderr.is_empty(),
                    "{name}: exit 0 but stderr: {}",
                    o.stderr
                );
                let last = o.stdout.lines().last().unwrap_or_default();
                let v: serde_json::Value = serde_json::from_str(last).unwrap();
                assert_eq!(v["event"], "replay_summary", "{name}");
            } else {
                let lines: Vec<&str> = o.stderr.lines().collect();
                assert_eq!(
                    lines.len(),
                    1,
                    "{name}: error must be one line: {:?}",
                    o.stderr
                );
                assert!(lines[0].starts_with("linewatch: "), "{name}: {}", lines[0]);
                assert!(
                    lines[0].contains(&*name),
                    "{name}: error should name the file: {}",
                    lines[0]
                );
                refused.push(format!("{name}: {}", lines[0]));
            }
        }
    }
    println!(
        "{files} files: {read_whole} read to the end, {} refused:",
        refused.len()
    );
    for r in &refused {
        println!("  {r}");
    }
    assert!(files > 140);
    // Most of the corpus is real TCP/IP in odd wrappers: it must be readable.
    assert!(
        read_whole > files / 2,
        "only {read_whole} of {files} files were read"
    );
}

#[test]
fn unsupported_link_types_are_named_in_the_error() {
    let Some(shared) = common::shared_captures() else {
        return;
    };
    // An 802.11 capture: libpcap opens it, linewatch refuses it by name.
    let manifest = fs::read_to_string(shared.join("malformed/MANIFEST.tsv")).unwrap();
    let wifi = manifest
        .lines()
        .find(|l| l.split('\t').nth(5) == Some("IEEE802_11"))
        .map(|l| l.split('\t').next().unwrap().to_string());
    let Some(wifi) = wifi else {
        panic!("the malformed corpus should hold an IEEE802_11 capture");
    };
    let file = shared.join("malformed").join(&wifi);
    let o = run(&file, "text");
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr.trim(),
        format!(
            "linewatch: unsupported link type DLT_IEEE802_11 (105) in {}",
            file.display()
        )
    );
}

/// Cuts a valid capture at every byte of its first 200 bytes and inside
/// records further on: each cut either reads (possibly empty) or fails with
/// a capture error, never a panic. Cuts inside a record keep the timeline up
/// to the cut.
#[test]
fn truncated_captures_never_panic() {
    let tmp = std::env::temp_dir().join(format!("linewatch-trunc-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap();
    let config = Config::default();
    for name in ["iso8583-fin-from-peer.pcap", "pcapng-two-interfaces.pcapng"] {
        let bytes = fs::read(common::fixtures().join(name)).unwrap();
        let mut cuts: Vec<usize> = (0..200.min(bytes.len())).collect();
        cuts.extend((200..bytes.len()).step_by(97));
        let (mut ok, mut failed) = (0, 0);
        for cut in cuts {
            let path = tmp.join(format!("{cut}-{name}"));
            fs::write(&path, &bytes[..cut]).unwrap();
            let result = std::panic::catch_unwind(|| {
                replay::replay_to(&path, &config, Format::Json, &mut std::io::sink())
            });
            match result {
                Ok(Ok(())) => ok += 1,
                Ok(Err(ReplayError::Capture(e))) => {
                    failed += 1;
                    let msg = e.to_string();
                    assert!(
                        !msg.contains('\n'),
                        "{name} cut at {cut}: multi-line error {msg}"
                    );
                }
                Ok(Err(e)) => panic!("{name} cut at {cut}: unexpected {e}"),
                Err(_) => panic!("{name} cut at {cut}: panicked"),
            }
            fs::remove_file(&path).unwrap();
        }
        println!("{name}: {ok} cuts read, {failed} refused or stopped with an error");
        assert!(failed > 0 && ok > 0);
    }
    // A cut mid-record through the CLI: exit 2, timeline before the cut kept.
    let bytes = fs::read(common::fixtures().join("iso8583-fin-from-peer.pcap")).unwrap();
    let path = tmp.join("midrecord.pcap");
    fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
    let o = run(&path, "text");
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stdout.contains("FIN from peer"),
        "events before the cut are kept"
    );
    assert!(o.stdout.contains("# INCOMPLETE"));
    let _ = fs::remove_dir_all(&tmp);
}
