//! The outbox: pages are written to disk before the first attempt and
//! removed after the endpoint accepted them, so nothing the policy decided
//! is lost to a crash, a restart or a long outage of the endpoint.
//!
//! One directory per destination, one file per notification, named by a
//! zero-padded sequence number: delivery is oldest first. Writes are
//! atomic (temporary file, fsync, rename). Bounded: at most
//! [`MAX_ENTRIES`]; when full, the oldest entry is dropped and counted
//! (the newest state of an incident matters most to the on-call engineer).
//! Secrets are not stored: the routing key is added when sending.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Entries kept at most per destination.
pub const MAX_ENTRIES: usize = 10_000;

/// One notification waiting for delivery.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Incident key.
    pub dedup_key: String,
    /// `trigger` or `resolve`.
    pub action: String,
    /// The request body, without secrets.
    pub body: serde_json::Value,
}

/// A destination's outbox directory.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    next: u64,
    dropped_full: u64,
    max: usize,
}

fn seq_of(p: &Path) -> Option<u64> {
    let name = p.file_name()?.to_str()?;
    name.strip_suffix(".json")?.parse().ok()
}

impl Outbox {
    /// Opens (creating) the outbox in `dir`; entries left by a previous run
    /// are kept and will be delivered first.
    pub fn open(dir: &Path) -> std::io::Result<Outbox> {
        Outbox::with_capacity(dir, MAX_ENTRIES)
    }

    /// Same, with another bound (tests).
    pub fn with_capacity(dir: &Path, max: usize) -> std::io::Result<Outbox> {
        fs::create_dir_all(dir)?;
        let next = Outbox::seqs(dir)?.last().map_or(1, |s| s + 1);
        Ok(Outbox {
            dir: dir.to_path_buf(),
            next,
            dropped_full: 0,
            max: max.max(1),
        })
    }

    fn seqs(dir: &Path) -> std::io::Result<Vec<u64>> {
        let mut v: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok().and_then(|e| seq_of(&e.path())))
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }

    /// Stores an entry durably; returns its sequence number.
    pub fn push(&mut self, entry: &Entry) -> std::io::Result<u64> {
        let seqs = Outbox::seqs(&self.dir)?;
        if seqs.len() >= self.max {
            for old in seqs.iter().take(seqs.len() + 1 - self.max) {
                fs::remove_file(self.path(*old))?;
                self.dropped_full += 1;
            }
        }
        let seq = self.next;
        self.next += 1;
        let tmp = self.dir.join(format!(".{seq:020}.tmp"));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(entry).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, self.path(seq))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(seq)
    }

    /// The oldest entry, if any (unreadable files are set aside as `.bad`).
    pub fn oldest(&self) -> std::io::Result<Option<(u64, Entry)>> {
        for seq in Outbox::seqs(&self.dir)? {
            let path = self.path(seq);
            match fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(e) => return Ok(Some((seq, e))),
                None => {
                    let _ = fs::rename(&path, path.with_extension("bad"));
                }
            }
        }
        Ok(None)
    }

    /// Removes a delivered (or permanently rejected) entry.
    pub fn remove(&self, seq: u64) -> std::io::Result<()> {
        match fs::remove_file(self.path(seq)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        Outbox::seqs(&self.dir).map(|v| v.len()).unwrap_or(0)
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries dropped because the outbox was full.
    pub fn dropped_full(&self) -> u64 {
        self.dropped_full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str) -> Entry {
        Entry {
            dedup_key: k.into(),
            action: "trigger".into(),
            body: serde_json::json!({"k": k}),
        }
    }

    #[test]
    fn oldest_first_survives_reopen_and_is_bounded() {
        let dir = std::env::temp_dir().join(format!("linewatch-outbox-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut o = Outbox::with_capacity(&dir, 3).unwrap();
        for k in ["a", "b", "c", "d"] {
            o.push(&entry(k)).unwrap();
        }
        assert_eq!(o.dropped_full(), 1);
        assert_eq!(o.len(), 3);
        let o = Outbox::with_capacity(&dir, 3).unwrap();
        let (seq, e) = o.oldest().unwrap().unwrap();
        assert_eq!(e.dedup_key, "b");
        o.remove(seq).unwrap();
        assert_eq!(o.oldest().unwrap().unwrap().1.dedup_key, "c");
        fs::remove_dir_all(&dir).unwrap();
    }
}
