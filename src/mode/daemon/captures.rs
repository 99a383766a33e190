//! The daemon's captures: one thread per interface (see
//! [`crate::capture::live`]), and what the daemon keeps of each (its
//! counters, since when it is lost, whether it is dropping packets).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver};

use super::{log, DaemonError};
use crate::capture::live::{self, CaptureCounters, CaptureMsg, CaptureSpec, QUEUE_BATCHES};
use crate::capture::{CaptureError, Source};
use crate::config::Config;
use crate::decode::LinkType;
use crate::time::Timestamp;

/// One interface's capture as the daemon follows it.
pub(super) struct Capture {
    pub(super) spec: CaptureSpec,
    pub(super) counters: Arc<CaptureCounters>,
    pub(super) lost_since: Option<Timestamp>,
    /// (kernel + interface + queue drops) at the last check.
    pub(super) drops_seen: u64,
    pub(super) last_drop: Option<Instant>,
    pub(super) degraded: bool,
    /// Its link type, once open (the evidence recorder needs it).
    pub(super) link: Option<LinkType>,
}

/// The captures, their threads and their channel to the tracker.
pub(super) struct Captures {
    pub(super) list: Vec<Capture>,
    pub(super) threads: Vec<JoinHandle<()>>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) rx: Receiver<CaptureMsg>,
}

impl Captures {
    /// Opens every capture (so privileges can be dropped after), then
    /// starts their threads.
    pub(super) fn open(config: &Config) -> (Vec<CaptureSpec>, Vec<Result<Source, CaptureError>>) {
        let specs = CaptureSpec::for_links(&config.links);
        let opened = specs.iter().map(Source::open_live).collect();
        (specs, opened)
    }

    pub(super) fn start(
        specs: Vec<CaptureSpec>,
        opened: Vec<Result<Source, CaptureError>>,
    ) -> Result<Captures, DaemonError> {
        let (tx, rx) = bounded(QUEUE_BATCHES);
        let stop = Arc::new(AtomicBool::new(false));
        let mut list = Vec::new();
        let mut threads = Vec::new();
        for (i, (spec, first)) in specs.into_iter().zip(opened).enumerate() {
            let counters = Arc::new(CaptureCounters::default());
            log(&format!(
                "capturing on {} (snaplen {}, filter: {})",
                spec.interface, spec.snaplen, spec.filter
            ));
            let handle = live::spawn(
                i,
                spec.clone(),
                first,
                tx.clone(),
                counters.clone(),
                stop.clone(),
            )
            .map_err(|e| DaemonError::Setup(format!("cannot start capture thread: {e}")))?;
            threads.push(handle);
            list.push(Capture {
                spec,
                counters,
                lost_since: None,
                drops_seen: 0,
                last_drop: None,
                degraded: false,
                link: None,
            });
        }
        Ok(Captures {
            list,
            threads,
            stop,
            rx,
        })
    }

    pub(super) fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
