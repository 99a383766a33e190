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
            self.pending = self.max - 1;
        } else {
            self.pending = seqs.len();
        }
        let seq = self.next;
        self.next += 1;
        let tmp = self.dir.join(format!(".{seq:020}.tmp"));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(entry).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, self.path(seq))?;
        self.pending += 1;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(seq)
    }

    /// The oldest entry, if any (unreadable files are set aside as `.bad`).
    pub fn oldest(&mut self) -> std::io::Result<Option<(u64, Entry)>> {
        for seq in Outbox::seqs(&self.dir)? {
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
        Ok(None)
    }

    /// Removes a delivered (or permanently rejected) entry.
    pub fn remove(&mut self, seq: u64) -> std::io::Result<()> {
        match fs::remove_file(self.path(seq)) {
            Ok(()) => {
                self.pending = self.pending.saturating_sub(1);
                Ok(())
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            Err(_) => Ok(()),
        }
    }

    /// Entries waiting (counted, not listed).
    pub fn len(&self) -> usize {
        self.pending
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
