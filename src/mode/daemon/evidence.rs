//! The daemon's side of the evidence recorder: starting it (and again
//! after a reload that changes what it records), its log lines, and the
//! list of recent files in the status document.

use std::path::Path;

use super::log;
use crate::config::Config;
use crate::evidence::{Done, Recording};
use crate::status::{EvidenceDoc, EVIDENCE_PER_LINK};

/// The evidence recorder for `config`, under `state_dir` unless `[evidence]
/// dir` says otherwise; `None` when no link records evidence, or when its
/// directory cannot be made (logged: the probe goes on without evidence).
pub(super) fn start(config: &Config, state_dir: &Path) -> Option<Recording> {
    if !config.links.iter().any(|l| l.evidence) {
        return None;
    }
    let dir = config.evidence.dir_under(state_dir);
    match Recording::new(config, &dir) {
        Ok(r) => Some(r),
        Err(e) => {
            log(&format!("{e}; incidents leave no evidence files"));
            None
        }
    }
}

/// Whether a reload from `old` to `new` changes what the recorder records:
/// `[evidence]`, or a link's name, addresses, interface or switch.
pub(super) fn changed(old: &Config, new: &Config) -> bool {
    let recorded = |c: &Config| {
        c.links
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    l.peers.clone(),
                    l.local.clone(),
                    l.interface.clone(),
                    l.evidence,
                )
            })
            .collect::<Vec<_>>()
    };
    old.evidence != new.evidence || recorded(old) != recorded(new)
}

/// The log line of a file opened or closed.
pub(super) fn log_line(done: &Done) -> String {
    let (verb, f) = match done {
        Done::Opened(f) => ("opened", f),
        Done::Closed(f) => ("closed", f),
    };
    let hash = f
        .sha256
        .as_ref()
        .map(|h| format!(", sha256 {h}"))
        .unwrap_or_default();
    format!(
        "evidence {verb}: {} ({} packets{hash})",
        f.path.display(),
        f.packets
    )
}

/// The last [`EVIDENCE_PER_LINK`] files per link, oldest first, each as
/// the latest news of it (opened, then closed) says.
#[derive(Debug, Default)]
pub(super) struct Listed(Vec<EvidenceDoc>);

impl Listed {
    /// Takes the news of a file.
    pub(super) fn note(&mut self, done: &Done) {
        let (Done::Opened(f) | Done::Closed(f)) = done;
        let doc = EvidenceDoc::of(f);
        match self.0.iter_mut().find(|e| e.file == doc.file) {
            Some(e) => *e = doc,
            None => self.0.push(doc),
        }
        if self.0.iter().filter(|e| e.link == f.link).count() > EVIDENCE_PER_LINK {
            if let Some(i) = self.0.iter().position(|e| e.link == f.link) {
                self.0.remove(i);
            }
        }
    }

    /// The list, for the status document.
    pub(super) fn docs(&self) -> Vec<EvidenceDoc> {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::EvidenceFile;

    fn file(link: &str, n: u32) -> Done {
        Done::Opened(EvidenceFile {
            link: link.into(),
            path: format!("/e/{link}/{n}.pcapng").into(),
            packets: 1,
            from: "-".into(),
            to: None,
            sha256: None,
        })
    }

    #[test]
    fn each_link_keeps_its_last_files_and_a_closing_replaces_its_opening() {
        let mut l = Listed::default();
        for n in 0..7 {
            l.note(&file("a", n));
        }
        l.note(&file("b", 0));
        let Done::Opened(mut f) = file("a", 6) else {
            unreachable!()
        };
        f.sha256 = Some("h".into());
        l.note(&Done::Closed(f));
        let docs = l.docs();
        let a: Vec<_> = docs.iter().filter(|d| d.link == "a").collect();
        assert_eq!(a.len(), EVIDENCE_PER_LINK);
        assert_eq!(a.first().unwrap().file.to_str(), Some("/e/a/2.pcapng"));
        assert_eq!(a.last().unwrap().state, "closed");
        assert_eq!(docs.iter().filter(|d| d.link == "b").count(), 1);
    }
}
