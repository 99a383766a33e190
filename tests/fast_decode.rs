//! The decoder's hand-written fast path for the common frame (IPv4, TCP,
//! no IP options) must give exactly what the general path gives: every
//! frame of every fixture and shared capture is decoded both ways.

mod common;

use std::path::{Path, PathBuf};

use linewatch::capture::Source;
use linewatch::decode::{decode_frame, decode_frame_general, Decoded};

/// Every capture file under `dir`, recursively, in name order.
fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            captures(&p, out);
        } else if p
            .extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
        {
            out.push(p);
        }
    }
}

#[test]
fn fast_and_general_decoding_agree_on_every_frame_of_every_capture() {
    let mut files = Vec::new();
    captures(&common::fixtures(), &mut files);
    if let Some(shared) = common::shared_captures() {
        captures(&shared, &mut files);
    }
    let (mut frames, mut tcp) = (0u64, 0u64);
    for file in &files {
        // Files libpcap refuses (malformed, unsupported) have no frames.
        let Ok(mut cap) = Source::open_file(file) else {
            continue;
        };
        let link = cap.link();
        while let Ok(Some(frame)) = cap.next_frame() {
            let fast = decode_frame(link, &frame);
            let general = decode_frame_general(link, &frame);
            assert_eq!(
                fast,
                general,
                "{} frame {}: the fast path differs",
                file.display(),
                frames + 1
            );
            frames += 1;
            tcp += u64::from(matches!(fast, Ok(Decoded::Tcp(_))));
        }
    }
    println!(
        "{} files, {frames} frames, {tcp} TCP segments: fast and general agree",
        files.len()
    );
    assert!(tcp > 1000, "too few TCP segments ({tcp}) to mean anything");
}
