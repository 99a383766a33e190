//! Replay's output: timeline lines as they come, connection summaries
//! spooled to follow the timeline, and the closing counters.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::json;

use super::sink::Printout;
use super::Format;
use crate::capture::CaptureError;
use crate::event::Event;
use crate::output::{event_json, event_text, summary};
use crate::pipeline::Front;
use crate::track::{ConnectionSummary, Tracker};

/// Summary lines kept in memory before spilling to a temporary file.
pub const SPOOL_IN_MEMORY: usize = 4096;

/// Output is gathered in buffers of about this many bytes before it is
/// written (to the output or the spool file).
const OUT_CHUNK: usize = 1 << 16;

/// Connection summaries waiting for the end of the timeline, as the
/// bytes that will be printed.
struct Spool {
    /// Lines written straight here: all of them while in memory (until
    /// [`SPOOL_IN_MEMORY`] lines), then those not yet in the file.
    buf: Vec<u8>,
    count: usize,
    file: Option<File>,
}

impl Spool {
    fn new() -> Spool {
        Spool {
            buf: Vec::new(),
            count: 0,
            file: None,
        }
    }

    /// Spools the line `write` writes (without its newline).
    fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        write(&mut self.buf);
        self.buf.push(b'\n');
        self.count += 1;
        match &mut self.file {
            Some(f) if self.buf.len() >= OUT_CHUNK => {
                f.write_all(&self.buf)?;
                self.buf.clear();
            }
            Some(_) => {}
            None if self.count >= SPOOL_IN_MEMORY => {
                let path = std::env::temp_dir().join(format!(
                    "linewatch-spool-{}-{:p}",
                    std::process::id(),
                    &self.buf
                ));
                let mut file = File::options()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                // Unlinked at once: the space is freed when the process ends.
                std::fs::remove_file(&path)?;
                file.write_all(&self.buf)?;
                self.buf = Vec::with_capacity(OUT_CHUNK + 4096);
                self.file = Some(file);
            }
            None => {}
        }
        Ok(())
    }

    fn push(&mut self, c: &ConnectionSummary, format: Format) -> io::Result<()> {
        match format {
            Format::Text => self.push_with(|b| summary::write_text(c, b)),
            Format::Json => self.push_with(|b| summary::write_json(c, b)),
        }
    }

    fn write_to(self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(mut file) = self.file {
            file.seek(SeekFrom::Start(0))?;
            io::copy(&mut file, out)?;
        }
        out.write_all(&self.buf)
    }
}

/// Turns events into timeline lines and summaries into spooled lines;
/// the spool follows the timeline.
pub(super) struct Printer<'o> {
    format: Format,
    out: &'o mut (dyn Write + Send),
    /// Timeline lines not yet written, passed on a chunk at a time.
    pending: Vec<u8>,
    spool: Spool,
}

impl<'o> Printer<'o> {
    pub(super) fn new(format: Format, out: &'o mut (dyn Write + Send)) -> Printer<'o> {
        Printer {
            format,
            out,
            pending: Vec::with_capacity(OUT_CHUNK + 4096),
            spool: Spool::new(),
        }
    }

    /// Appends one timeline line.
    #[inline]
    pub(super) fn event(&mut self, e: &Event) {
        match self.format {
            Format::Text => event_text::write(e, &mut self.pending),
            Format::Json => event_json::write(e, &mut self.pending),
        }
        self.pending.push(b'\n');
    }

    /// Spools one connection's summary line.
    pub(super) fn summary(&mut self, c: &ConnectionSummary) -> io::Result<()> {
        self.spool.push(c, self.format)
    }

    /// Prints a printout's events and spools its summaries.
    pub(super) fn print(&mut self, p: &Printout) -> io::Result<()> {
        for e in &p.events {
            self.event(e);
            if self.pending.len() >= OUT_CHUNK {
                self.out.write_all(&self.pending)?;
                self.pending.clear();
            }
        }
        for c in &p.summaries {
            self.summary(c)?;
        }
        Ok(())
    }

    /// Writes the timeline so far out, now.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.pending)?;
        self.pending.clear();
        self.out.flush()
    }

    /// The rest of the timeline, then the connections.
    pub(super) fn finish(self) -> io::Result<()> {
        self.out.write_all(&self.pending)?;
        if self.format == Format::Text {
            writeln!(
                self.out,
                "# connections (orig -> resp, link, Zeek conn_state and history)"
            )?;
        }
        self.spool.write_to(self.out)
    }
}

/// What the replay's last line counts.
pub(super) struct Counts<'a> {
    pub(super) front: &'a Front,
    pub(super) tracker: &'a Tracker,
    /// Lines storm control held back.
    pub(super) held: u64,
}

pub(super) fn write_replay_summary(
    path: &Path,
    counts: &Counts<'_>,
    format: Format,
    failure: Option<&CaptureError>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let p = counts.front;
    let d = p.decoder();
    let t = counts.tracker.stats();
    let (first, last) = p.span();
    match format {
        Format::Json => {
            let skipped: serde_json::Map<String, serde_json::Value> = d
                .skipped()
                .iter()
                .map(|(r, n)| (r.name().to_string(), json!(n)))
                .collect();
            let v = json!({
                "event": "replay_summary",
                "file": path.display().to_string(),
                "link_type": d.link().to_string(),
                "packets": p.packets(),
                "segments": d.segments(),
                "skipped_total": d.skipped().total(),
                "skipped": skipped,
                "unwatched_segments": t.unwatched,
                "icmp_errors": d.icmp_errors(),
                "icmp_errors_unmatched": t.icmp_errors_unmatched,
                "connections": t.connections,
                "evicted": t.evicted,
                "peak_flows": t.peak_flows,
                "suppressed_lines": counts.held,
                "first_ts": first.map(|t| t.as_secs_f64()),
                "last_ts": last.map(|t| t.as_secs_f64()),
                "complete": failure.is_none(),
                "error": failure.map(|e| e.to_string()),
            });
            writeln!(out, "{v}")
        }
        Format::Text => {
            writeln!(
                out,
                "# {} packets, {} TCP segments, {} skipped, {} connections ({} evicted, peak table {}), {} segments of no configured link",
                p.packets(),
                d.segments(),
                d.skipped().total(),
                t.connections,
                t.evicted,
                t.peak_flows,
                t.unwatched
            )?;
            let reasons: Vec<String> = d
                .skipped()
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{}={n}", r.name()))
                .collect();
            if !reasons.is_empty() {
                writeln!(out, "# skipped: {}", reasons.join(" "))?;
            }
            if counts.held > 0 {
                writeln!(
                    out,
                    "# {} lines held back by storm control (see the suppressed lines; --every-line prints them all)",
                    counts.held
                )?;
            }
            if d.icmp_errors() > 0 {
                writeln!(
                    out,
                    "# {} ICMP errors about TCP ({} about connections not tracked)",
                    d.icmp_errors(),
                    t.icmp_errors_unmatched
                )?;
            }
            if let Some(e) = failure {
                writeln!(out, "# INCOMPLETE: {e}")?;
            }
            Ok(())
        }
    }
}
