//! Evidence recorder figures, in one run (`cargo bench --bench evidence`):
//! - ring memory per link at 1,000 packets/s for 5 minutes (the default
//!   `before` window), and what the default 16 MiB ring holds of it;
//! - stored bytes per packet in an evidence file;
//! - time from the trigger to its file on disk (the `before` window
//!   written, synced and renamed) for a full 5-minute window;
//! - `linewatch replay` speed with evidence on vs off, same file, runs
//!   alternating.
//!
//! The capture is synthetic and header-only: one leased-line connection,
//! a request and its answer every millisecond for 5 min 10 s, then a FIN
//! from the peer and 30 s more.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use linewatch::config::Config;
use linewatch::evidence::Recording;
use linewatch::pipeline::{apply, FileFront};
use linewatch::track::Tracker;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const PEER: [u8; 4] = [203, 0, 113, 10];
const LOCAL: [u8; 4] = [10, 0, 0, 5];

/// A pcap (microseconds, Ethernet, snaplen 96) written by hand: 24-byte
/// file header, 16-byte record headers.
struct Pcap(BufWriter<File>);

impl Pcap {
    fn create(path: &Path) -> BoxResult<Pcap> {
        let mut w = BufWriter::new(File::create(path)?);
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&0i32.to_le_bytes())?;
        w.write_all(&0u32.to_le_bytes())?;
        w.write_all(&96u32.to_le_bytes())?;
        w.write_all(&1u32.to_le_bytes())?;
        Ok(Pcap(w))
    }

    /// One segment, its payload counted on the wire but not captured.
    fn segment(
        &mut self,
        us: u64,
        from_peer: bool,
        seq: u32,
        ack: u32,
        flags: &str,
        len: u16,
    ) -> BoxResult<()> {
        let (src, dst, sp, dp) = if from_peer {
            (PEER, LOCAL, 5000, 40123)
        } else {
            (LOCAL, PEER, 40123, 5000)
        };
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .tcp(sp, dp, seq, 64240)
            .options(&[
                etherparse::TcpOptionElement::Noop,
                etherparse::TcpOptionElement::Noop,
                etherparse::TcpOptionElement::Timestamp(us as u32, 7),
            ])?;
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'A' => b.ack(ack),
                'F' => b.fin(),
                'P' => b.psh(),
                _ => b,
            };
        }
        let payload = vec![0u8; usize::from(len)];
        let mut frame = Vec::new();
        b.write(&mut frame, &payload)?;
        let wire = frame.len();
        frame.truncate(wire - usize::from(len));
        self.0.write_all(&((us / 1_000_000) as u32).to_le_bytes())?;
        self.0.write_all(&((us % 1_000_000) as u32).to_le_bytes())?;
        self.0.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.0.write_all(&(wire as u32).to_le_bytes())?;
        self.0.write_all(&frame)?;
        Ok(())
    }
}

/// The capture: `seconds` of 1,000 packets/s, then a FIN from the peer
/// and 30 s of the reconnect's silence. Returns the FIN's time (µs).
fn generate(path: &Path, seconds: u64) -> BoxResult<u64> {
    let mut p = Pcap::create(path)?;
    let t0 = 1_773_454_387_000_000u64;
    let (mut cs, mut ps) = (1000u32, 9000u32);
    p.segment(t0, false, cs, 0, "S", 0)?;
    p.segment(t0 + 500, true, ps, cs + 1, "SA", 0)?;
    p.segment(t0 + 1000, false, cs + 1, ps + 1, "A", 0)?;
    cs += 1;
    ps += 1;
    let mut us = t0 + 2000;
    for _ in 0..seconds * 500 {
        p.segment(us, false, cs, ps, "PA", 200)?;
        cs += 200;
        p.segment(us + 1000, true, ps, cs, "PA", 300)?;
        ps += 300;
        us += 2000;
    }
    let fin = us;
    p.segment(fin, true, ps, cs, "FA", 0)?;
    p.segment(fin + 500, false, cs, ps + 1, "A", 0)?;
    p.segment(fin + 30_000_000, false, cs, ps + 1, "A", 0)?;
    p.0.flush()?;
    Ok(fin)
}

const CONFIG: &str = r#"
[[link]]
name = "visa-bench"
peer = ["203.0.113.10:5000"]
silence_after = "45s"
black_hole_after = "10s"
reconnect_grace = "5s"

[evidence]
before = "5m"
after = "1m"
memory_per_link = "MEMORY"
"#;

fn main() -> BoxResult<()> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("evidence-bench");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let capture = dir.join("leased-line-5m.pcap");
    let fin_us = generate(&capture, 310)?;
    let packets = 3 + 310 * 1000 + 3;
    println!(
        "capture: {packets} packets, 1,000 packets/s for 5 min 10 s, then a FIN from the peer"
    );

    for memory in ["1GiB", "16MiB"] {
        let config = Config::parse(&CONFIG.replace("MEMORY", memory))?;
        let evidence_dir = dir.join(format!("in-process-{memory}"));
        let front = FileFront::open_recording(&capture, &config.links)?;
        let mut tracker = Tracker::new(&config);
        let mut rec = Recording::for_replay(&config, &evidence_dir, front.link(), "bench")?;
        let mut events = Vec::new();
        let mut ring_at_fin = (0usize, 0usize, 0u64);
        let mut trigger_to_disk = Duration::ZERO;
        let mut held_up = Duration::ZERO;
        while let Some(batch) = front.next_batch() {
            for (i, step) in batch.steps.iter().enumerate() {
                events.clear();
                apply(&mut tracker, step, &mut events);
                let fin = events.iter().any(|e| e.kind.name() == "fin");
                if fin {
                    if let Some((_, bytes, frames, evicted)) =
                        rec.recorders().flat_map(|r| r.rings()).next()
                    {
                        ring_at_fin = (bytes, frames, evicted);
                    }
                }
                let t = Instant::now();
                rec.on_step(0, step, batch.headers.get(i), &events);
                if fin {
                    // The tracker goes on at once; the writer thread puts
                    // the file on disk.
                    held_up = t.elapsed();
                    let link_dir = evidence_dir.join("visa-bench");
                    while !fs::read_dir(&link_dir).is_ok_and(|d| {
                        d.flatten()
                            .any(|e| e.path().extension().is_some_and(|x| x == "pcapng"))
                    }) {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    trigger_to_disk = t.elapsed();
                }
            }
            front.recycle(batch);
        }
        front.finish()?;
        rec.finish();
        if let Some(e) = rec.take_failure() {
            return Err(e.into());
        }
        let (bytes, frames, evicted) = ring_at_fin;
        println!(
            "memory_per_link {memory}: ring at the FIN {:.1} MiB for {frames} frames ({:.1} bytes a frame, headers {} + bookkeeping {}), {evicted} evicted; {:.0} s of the link kept",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / frames.max(1) as f64,
            66,
            linewatch::evidence::PER_FRAME_OVERHEAD,
            frames as f64 / 1000.0
        );
        println!(
            "  trigger to file on disk (before window of {frames} frames written, synced, renamed): {:.1} ms; the tracker held up {:.2} ms",
            trigger_to_disk.as_secs_f64() * 1e3,
            held_up.as_secs_f64() * 1e3
        );
        for f in fs::read_dir(evidence_dir.join("visa-bench"))? {
            let p = f?.path();
            if p.extension().is_some_and(|x| x == "pcapng") {
                let side: serde_json::Value =
                    serde_json::from_slice(&fs::read(p.with_extension("json"))?)?;
                let n = side["packets"].as_u64().unwrap_or(0);
                let size = fs::metadata(&p)?.len();
                println!(
                    "  evidence file: {n} packets, {size} bytes: {:.1} stored bytes a packet (pcapng block 32 + header 66 + padding)",
                    size as f64 / n.max(1) as f64
                );
            }
        }
    }
    let _ = fin_us;

    // The CLI, evidence off vs on, alternating.
    let bin = env!("CARGO_BIN_EXE_linewatch");
    let config_path = dir.join("bench.toml");
    fs::write(&config_path, CONFIG.replace("MEMORY", "16MiB"))?;
    let mut off = Vec::new();
    let mut on = Vec::new();
    for run in 0..5 {
        for with in [false, true] {
            let out_dir = dir.join(format!("cli-{run}"));
            let _ = fs::remove_dir_all(&out_dir);
            let mut cmd = Command::new(bin);
            cmd.arg("replay")
                .arg(&capture)
                .arg("--config")
                .arg(&config_path);
            if with {
                cmd.arg("--evidence-dir").arg(&out_dir);
            }
            let t = Instant::now();
            let status = cmd.stdout(std::process::Stdio::null()).status()?;
            let took = t.elapsed();
            if !status.success() {
                return Err(format!("replay failed: {status}").into());
            }
            if with {
                on.push(took)
            } else {
                off.push(took)
            }
        }
    }
    off.sort();
    on.sort();
    let (best_off, best_on) = (off[0].as_secs_f64(), on[0].as_secs_f64());
    println!(
        "replay {packets} packets: evidence off {:.3} s, on {:.3} s (best of 5; medians {:.3} / {:.3} s): on/off {:.2} x",
        best_off,
        best_on,
        off[2].as_secs_f64(),
        on[2].as_secs_f64(),
        best_on / best_off
    );
    Ok(())
}
