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
//!
//! A full (or read-only) state directory does not lose a page: an entry
//! that cannot be written is kept in memory, in sequence with those on
//! disk, and delivered all the same; it is written out as soon as space
//! returns (each push and each delivery attempt try). Only a crash while
//! the disk is full loses what is held in memory; [`Outbox::unsaved`]
//! says how much that is, and the probe raises its own trouble for it.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::Action;

use super::pagerduty::PdEvent;
use super::slack::SlackMessage;

/// Entries kept at most per destination.
pub const MAX_ENTRIES: usize = 10_000;

/// One notification waiting for delivery.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Incident key.
    pub dedup_key: String,
    /// Trigger or resolve.
    pub action: Action,
    /// The link it is about (`None`: the probe's own incident), which
    /// picks the link's own routing key or webhook if it has one. Absent
    /// in entries older versions stored: those go to the section's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The request body, without secrets.
    pub body: Body,
}

/// A destination's request body, typed, without secrets. Stored as the
/// body itself (untagged), as earlier versions stored it, so an outbox
/// left by one is still delivered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Body {
    /// A PagerDuty Events API v2 event (the routing key is added when sent).
    PagerDuty(Box<PdEvent>),
    /// A Slack message.
    Slack(SlackMessage),
}

/// A destination's outbox directory.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    next: u64,
    dropped_full: u64,
    max: usize,
    /// Entries in the directory, counted as they come and go (asked on
    /// every tick: no directory listing for it).
    pending: usize,
    /// Entries that could not be written (disk full), oldest first, with
    /// their sequence numbers; at most `max`.
    unsaved: VecDeque<(u64, Entry)>,
    /// Why the last write failed, while entries are unsaved.
    write_error: Option<String>,
}

/// Where [`Outbox::push`] kept an entry.
#[derive(Debug)]
pub enum Kept {
    /// Written to disk: it survives a restart.
    OnDisk(u64),
    /// The write failed; the entry is in memory and will be delivered,
    /// and written out when space returns.
    InMemory(u64, std::io::Error),
}

fn seq_of(p: &Path) -> Option<u64> {
    let name = p.file_name()?.to_str()?;
    name.strip_suffix(".json")?.parse().ok()
}

impl Body {
    /// The request body as sent, encoded once; a PagerDuty event gets its
    /// `routing_key` here (it is never stored).
    pub fn encode(&self, routing_key: Option<&str>) -> serde_json::Result<Vec<u8>> {
        match self {
            Body::PagerDuty(event) => serde_json::to_vec(&super::pagerduty::Request {
                event: event.as_ref(),
                routing_key: routing_key.unwrap_or_default(),
            }),
            Body::Slack(m) => serde_json::to_vec(m),
        }
    }
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
        let seqs = Outbox::seqs(dir)?;
        Ok(Outbox {
            dir: dir.to_path_buf(),
            next: seqs.last().map_or(1, |s| s + 1),
            dropped_full: 0,
            max: max.max(1),
            pending: seqs.len(),
            unsaved: VecDeque::new(),
            write_error: None,
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

    /// Stores an entry durably if it can, else in memory (see the module
    /// doc); either way it will be delivered.
    pub fn push(&mut self, entry: &Entry) -> std::io::Result<Kept> {
        self.save_unsaved();
        let seq = self.next;
        self.next += 1;
        if !self.unsaved.is_empty() {
            // Older entries still wait in memory: keep the order.
            return Ok(self.keep_in_memory(
                seq,
                entry,
                std::io::Error::other(
                    self.write_error
                        .clone()
                        .unwrap_or_else(|| "earlier entries unsaved".into()),
                ),
            ));
        }
        match self.write(seq, entry) {
            Ok(()) => Ok(Kept::OnDisk(seq)),
            Err(e) => Ok(self.keep_in_memory(seq, entry, e)),
        }
    }

    /// Writes entry `seq` to its file (temporary file, fsync, rename),
    /// making room first when the outbox is full.
    fn write(&mut self, seq: u64, entry: &Entry) -> std::io::Result<()> {
        let seqs = Outbox::seqs(&self.dir)?;
        if seqs.len() + self.unsaved.len() >= self.max {
            for old in seqs
                .iter()
                .take(seqs.len() + self.unsaved.len() + 1 - self.max)
            {
                fs::remove_file(self.path(*old))?;
                self.dropped_full += 1;
            }
            self.pending = self.max.saturating_sub(1 + self.unsaved.len());
        } else {
            self.pending = seqs.len();
        }
        let tmp = self.dir.join(format!(".{seq:020}.tmp"));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(entry).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            fs::rename(&tmp, self.path(seq))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.pending += 1;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn keep_in_memory(&mut self, seq: u64, entry: &Entry, e: std::io::Error) -> Kept {
        if self.pending + self.unsaved.len() >= self.max && self.unsaved.pop_front().is_some() {
            self.dropped_full += 1;
        }
        self.unsaved.push_back((seq, entry.clone()));
        self.write_error = Some(e.to_string());
        Kept::InMemory(seq, e)
    }

    /// Writes out the entries held in memory, oldest first, while the
    /// disk takes them.
    fn save_unsaved(&mut self) {
        while let Some((seq, entry)) = self.unsaved.pop_front() {
            if let Err(e) = self.write(seq, &entry) {
                self.write_error = Some(e.to_string());
                self.unsaved.push_front((seq, entry));
                return;
            }
        }
        self.write_error = None;
    }

    /// Entries held in memory because the disk refused them, and why.
    pub fn unsaved(&self) -> (usize, Option<&str>) {
        (self.unsaved.len(), self.write_error.as_deref())
    }

    /// The oldest entry, if any (unreadable files are set aside as `.bad`).
    pub fn oldest(&mut self) -> std::io::Result<Option<(u64, Entry)>> {
        if !self.unsaved.is_empty() {
            self.save_unsaved();
        }
        let in_memory = self.unsaved.front().cloned();
        let seqs = match Outbox::seqs(&self.dir) {
            Ok(seqs) => seqs,
            Err(e) if in_memory.is_none() => return Err(e),
            Err(_) => return Ok(in_memory),
        };
        for seq in seqs {
            if let Some((m, e)) = &in_memory {
                if *m < seq {
                    return Ok(Some((*m, e.clone())));
                }
            }
            let path = self.path(seq);
            match fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(e) => return Ok(Some((seq, e))),
                None => {
                    if fs::rename(&path, path.with_extension("bad")).is_ok() {
                        self.pending = self.pending.saturating_sub(1);
                    }
                }
            }
        }
        Ok(in_memory)
    }

    /// Removes a delivered (or permanently rejected) entry.
    pub fn remove(&mut self, seq: u64) -> std::io::Result<()> {
        if let Some(i) = self.unsaved.iter().position(|(s, _)| *s == seq) {
            self.unsaved.remove(i);
            if self.unsaved.is_empty() {
                self.write_error = None;
            }
            return Ok(());
        }
        match fs::remove_file(self.path(seq)) {
            Ok(()) => {
                self.pending = self.pending.saturating_sub(1);
                Ok(())
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            Err(_) => Ok(()),
        }
    }

    /// Entries waiting (counted, not listed), on disk and in memory.
    pub fn len(&self) -> usize {
        self.pending + self.unsaved.len()
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
            action: Action::Trigger,
            link: None,
            body: Body::Slack(SlackMessage { text: k.into() }),
        }
    }

    #[test]
    fn entries_written_by_an_earlier_version_are_still_read() {
        let pd = r#"{"dedup_key":"linewatch/visa","action":"trigger","body":{"client":"linewatch","dedup_key":"linewatch/visa","event_action":"trigger","payload":{"class":"fin","component":"visa","custom_details":{"ack":1,"established":0,"event":"fin","expected":1,"flags":"F.","from":"peer","interface":null,"link":"visa","local":"10.0.0.5:40123","packet":13,"packet_time":"2026-03-14 02:13:38.006000","peer":"203.0.113.10:5000","seq":397,"up_for_s":31.005},"group":"linewatch","severity":"critical","source":"gw-a","summary":"visa: peer sent FIN","timestamp":"2026-03-14T02:13:38.006000Z"}}}"#;
        let e: Entry = serde_json::from_str(pd).unwrap();
        assert_eq!(e.action, Action::Trigger);
        let Body::PagerDuty(ev) = &e.body else {
            panic!("{e:?}")
        };
        let link = ev.payload.as_ref().unwrap().custom_details.link().unwrap();
        assert_eq!(link.from, Some(crate::event::Side::Peer));
        // Stored again, it is the same body.
        let again: serde_json::Value = serde_json::to_value(&e).unwrap();
        let before: serde_json::Value = serde_json::from_str(pd).unwrap();
        assert_eq!(again, before);
        let slack =
            r#"{"dedup_key":"linewatch/visa","action":"resolve","body":{"text":"resolved"}}"#;
        let e: Entry = serde_json::from_str(slack).unwrap();
        assert_eq!(
            e.body,
            Body::Slack(SlackMessage {
                text: "resolved".into()
            })
        );
    }

    #[test]
    fn a_disk_that_refuses_writes_loses_no_entry_and_keeps_the_order() {
        let dir =
            std::env::temp_dir().join(format!("linewatch-outbox-full-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut o = Outbox::with_capacity(&dir, 10).unwrap();
        assert!(matches!(o.push(&entry("a")).unwrap(), Kept::OnDisk(1)));
        // The directory goes away (as a full disk, every write fails).
        fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(o.push(&entry("b")).unwrap(), Kept::InMemory(2, _)));
        assert!(matches!(o.push(&entry("c")).unwrap(), Kept::InMemory(3, _)));
        assert_eq!(o.unsaved().0, 2);
        assert!(o.unsaved().1.is_some());
        assert_eq!(o.len(), 3);
        // Delivered from memory all the same, oldest first.
        let (seq, e) = o.oldest().unwrap_or(None).expect("an entry");
        assert_eq!((seq, e.dedup_key.as_str()), (2, "b"));
        o.remove(seq).unwrap();
        // Space returns: the entry held in memory is written out, in order,
        // before the next one.
        fs::create_dir_all(&dir).unwrap();
        assert!(matches!(o.push(&entry("d")).unwrap(), Kept::OnDisk(4)));
        assert_eq!(o.unsaved(), (0, None));
        let on_disk: Vec<u64> = Outbox::seqs(&dir).unwrap();
        assert_eq!(on_disk, vec![3, 4]);
        assert_eq!(o.oldest().unwrap().unwrap().1.dedup_key, "c");
        let _ = fs::remove_dir_all(&dir);
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
        let mut o = Outbox::with_capacity(&dir, 3).unwrap();
        assert_eq!(o.len(), 3, "counted from the directory on open");
        let (seq, e) = o.oldest().unwrap().unwrap();
        assert_eq!(e.dedup_key, "b");
        o.remove(seq).unwrap();
        o.remove(seq).unwrap();
        assert_eq!(
            o.len(),
            2,
            "a second remove of the same entry counts nothing"
        );
        fs::write(dir.join(format!("{:020}.json", 3)), b"not json").unwrap();
        assert_eq!(o.oldest().unwrap().unwrap().1.dedup_key, "d");
        assert_eq!(o.len(), 1, "an unreadable entry is set aside");
        assert_eq!(o.len(), Outbox::seqs(&dir).unwrap().len());
        fs::remove_dir_all(&dir).unwrap();
    }
}
