//! Attribution quality: precision and recall of `middlebox` over the
//! labelled fixtures (each FIN and RST labelled by the fixture writer with
//! who really sent it), and the verdicts over the Zeek traces (genuine
//! endpoint traffic). `cargo bench --bench attribution`.
//!
//! The speed side (replay with the baseline against the same code without
//! it) is `scripts/bench-attribution.sh`, which builds both binaries and
//! times them in one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use linewatch::config::Config;
use linewatch::event::{standing_verdicts, Sender};
use linewatch::mode::replay;

/// Counts of verdicts against the truth.
#[derive(Default, Debug)]
struct Tally {
    /// Truth middlebox, said middlebox.
    tp: u32,
    /// Truth endpoint, said middlebox: a false accusation.
    fp: u32,
    /// Truth middlebox, said endpoint or unknown.
    fn_: u32,
    /// Truth endpoint, said endpoint.
    endpoint_right: u32,
    /// Truth endpoint, said unknown.
    endpoint_unknown: u32,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn main() {
    let mut tally = Tally::default();
    let mut rows = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".events.json"))
        .collect();
    names.sort();
    for path in names {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let config = Config::load(&fixtures().join(v["config"].as_str().unwrap())).unwrap();
        let capture = fixtures().join(v["capture"].as_str().unwrap());
        let r = replay::collect(&capture, &config).unwrap();
        let verdicts = standing_verdicts(&r.events);
        for t in v["truth"].as_array().into_iter().flatten() {
            let packet = t["packet"].as_u64().unwrap();
            let truth = if t["sender"] == "middlebox" {
                "middlebox"
            } else {
                "endpoint"
            };
            let Some((_, a)) = verdicts.iter().find(|(p, _)| *p == packet) else {
                continue;
            };
            match (truth, a.sender) {
                ("middlebox", Sender::Middlebox) => tally.tp += 1,
                ("middlebox", _) => tally.fn_ += 1,
                (_, Sender::Middlebox) => tally.fp += 1,
                (_, Sender::Endpoint) => tally.endpoint_right += 1,
                (_, Sender::Unknown) => tally.endpoint_unknown += 1,
            }
            rows.push((
                capture.file_name().unwrap().to_string_lossy().to_string(),
                packet,
                truth,
                a.sender.name(),
            ));
        }
    }
    println!("Attribution over the labelled fixtures (truth: the fixture writer's label; verdict: after revisions)");
    println!("  {:38} {:>6} {:10} verdict", "fixture", "packet", "truth");
    for (f, p, t, s) in &rows {
        println!("  {f:38} {p:>6} {t:10} {s}");
    }
    let precision = f64::from(tally.tp) / f64::from((tally.tp + tally.fp).max(1));
    let recall = f64::from(tally.tp) / f64::from((tally.tp + tally.fn_).max(1));
    println!(
        "  middlebox: precision {precision:.3} ({} of {} said), recall {recall:.3} ({} of {} found)",
        tally.tp,
        tally.tp + tally.fp,
        tally.tp,
        tally.tp + tally.fn_
    );
    println!(
        "  endpoint segments: {} endpoint, {} unknown, {} middlebox (false accusations)",
        tally.endpoint_right, tally.endpoint_unknown, tally.fp
    );
    zeek_traces();
}

/// The verdicts on the Zeek traces: genuine endpoint traffic.
fn zeek_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures/oracle");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("(no ../shared/captures/oracle: Zeek traces skipped)");
        return;
    };
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    let mut traces: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    traces.sort();
    for t in &traces {
        let r = replay::collect(t, &Config::default()).unwrap();
        for (_, a) in standing_verdicts(&r.events) {
            *counts.entry(a.sender.name()).or_default() += 1;
        }
    }
    println!(
        "Zeek traces ({} files, genuine endpoints): {counts:?} (each middlebox is explained in tests/oracle.rs)",
        traces.len()
    );
}
