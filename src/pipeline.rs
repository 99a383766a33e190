//! The one pipeline that live capture and replay both feed:
//! frames -> [`Front`] (decode) -> [`Step`]s -> [`apply`] (track) -> events.
//!
//! The pipeline has two halves so that they can run on two threads: the
//! front half decodes next to the capture (frames never leave libpcap's
//! buffer, only header fields do), the back half tracks. [`Pipeline`] runs
//! both halves in turn on one thread (the check, stepwise tests);
//! [`FileFront`] runs the front half of a replay on its own thread, so
//! that reading and decoding the file overlaps tracking and printing; the
//! daemon's capture threads ([`crate::capture::live`]) run it next to each
//! interface and send their steps to the tracker thread. Every way, each
//! frame becomes exactly one [`Step`] and the tracker sees the same steps
//! in the same order through [`apply`], so all give the same timeline.

use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::capture::{CaptureError, Source};
use crate::config::{Config, LinkSpec};
use crate::decode::{Decoded, Decoder, Frame, LinkType};
use crate::event::Event;
use crate::time::Timestamp;
use crate::track::Tracker;

/// What the decode half hands the track half for one frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A frame that decoded, with its 1-based number in the capture.
    Decoded {
        /// Frame number in the capture (events cite it).
        packet: u64,
        /// What it decoded to (header fields only).
        decoded: Decoded,
    },
    /// A frame that was skipped (and counted by the decoder): it still
    /// moves the clock, because time passed.
    Skipped {
        /// The frame's time.
        ts: Timestamp,
    },
}

impl Step {
    /// The frame's time.
    pub fn ts(&self) -> Timestamp {
        match self {
            Step::Decoded { decoded, .. } => decoded.ts(),
            Step::Skipped { ts } => *ts,
        }
    }
}

/// The decode half: decoder, frame count and the capture's time span.
#[derive(Debug)]
pub struct Front {
    decoder: Decoder,
    packets: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
}

impl Front {
    /// A front half for frames of `link`.
    pub fn new(link: LinkType) -> Front {
        Front {
            decoder: Decoder::new(link),
            packets: 0,
            first_ts: None,
            last_ts: None,
        }
    }

    /// A front half for an interface that was reopened (its link type may
    /// have changed) after `packets` frames: numbering goes on from there,
    /// so that events never cite one frame number twice.
    pub fn resume(link: LinkType, packets: u64) -> Front {
        Front {
            packets,
            ..Front::new(link)
        }
    }

    /// Decodes one captured frame into its step.
    #[inline]
    pub fn read(&mut self, frame: &Frame<'_>) -> Step {
        self.packets += 1;
        self.first_ts.get_or_insert(frame.ts);
        self.last_ts = Some(self.last_ts.map_or(frame.ts, |t| t.max(frame.ts)));
        match self.decoder.decode(frame) {
            Some(decoded) => Step::Decoded {
                packet: self.packets,
                decoded,
            },
            None => Step::Skipped { ts: frame.ts },
        }
    }

    /// The link type it decodes.
    pub fn link(&self) -> LinkType {
        self.decoder.link()
    }

    /// Frames seen.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// First and last frame time.
    pub fn span(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        (self.first_ts, self.last_ts)
    }

    /// The decoder (for counters).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }
}

/// The track half: feeds one step to `tracker`; events go to `out`.
///
/// The one rule for skipped frames: they move the tracker's clock to
/// their time (time passed on the line even if the frame was not ours),
/// in replay and live alike.
#[inline]
pub fn apply(tracker: &mut Tracker, step: &Step, out: &mut Vec<Event>) {
    match step {
        Step::Decoded { packet, decoded } => tracker.on_decoded(decoded, *packet, out),
        Step::Skipped { ts } => tracker.advance_to(*ts, out),
    }
}

/// Both halves on one thread, for one capture source.
#[derive(Debug)]
pub struct Pipeline {
    front: Front,
    tracker: Tracker,
}

impl Pipeline {
    /// A pipeline for frames of `link` under `config`.
    pub fn new(link: LinkType, config: &Config) -> Pipeline {
        Pipeline {
            front: Front::new(link),
            tracker: Tracker::new(config),
        }
    }

    /// Feeds one captured frame; events go to `out`.
    pub fn on_frame(&mut self, frame: &Frame<'_>, out: &mut Vec<Event>) {
        let step = self.front.read(frame);
        apply(&mut self.tracker, &step, out);
    }

    /// Moves the clock without a packet (live mode's timer tick).
    pub fn advance_to(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.tracker.advance_to(now, out);
    }

    /// Ends the capture: remaining connections get summaries.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        self.tracker.finish(out);
    }

    /// The decode half (frame count, span, decoder counters).
    pub fn front(&self) -> &Front {
        &self.front
    }

    /// The tracker (for counters, summaries and status).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The tracker, mutably (to drain retired summaries).
    pub fn tracker_mut(&mut self) -> &mut Tracker {
        &mut self.tracker
    }
}

/// Steps per batch sent from the reader thread.
pub const FILE_BATCH: usize = 4096;
/// Batches in flight between the reader thread and the tracker. With
/// [`FILE_BATCH`] this bounds the queue at 32,768 steps (about 4 MiB);
/// when it is full the reader waits (a file, unlike a live interface, can
/// wait: nothing is lost).
pub const FILE_QUEUE_BATCHES: usize = 8;

/// How the reader thread ended.
pub struct FrontEnd {
    /// The decode half, for its counters.
    pub front: Front,
    /// The read error that stopped it before the end of the file, if any.
    pub failure: Option<CaptureError>,
}

/// One batch from the reader thread: steps in file order and, when the
/// replay records evidence, each step's headers.
#[derive(Debug, Default)]
pub struct Batch {
    /// The steps.
    pub steps: Vec<Step>,
    /// Their headers (empty unless recording).
    pub headers: Headers,
}

/// The headers of a batch's frames, for the evidence recorder: each
/// decoded frame's bytes up to the end of its TCP header
/// ([`crate::decode::header_end`]) and its length on the wire, one entry
/// per step (empty for a skipped frame). At most [`crate::evidence::MAX_STORED`]
/// bytes a frame: a full batch holds at most 2 MiB.
#[derive(Debug, Default)]
pub struct Headers {
    bytes: Vec<u8>,
    /// Per step: where its header ends in `bytes`, its wire length and
    /// its link.
    ends: Vec<HeaderEnd>,
}

#[derive(Copy, Clone, Debug)]
struct HeaderEnd {
    end: u32,
    wire_len: u32,
    lane: u32,
}

/// A frame's headers as the evidence recorder takes them.
#[derive(Copy, Clone, Debug)]
pub struct Header<'a> {
    /// Its bytes up to the end of its TCP header.
    pub bytes: &'a [u8],
    /// Its length on the wire.
    pub wire_len: u32,
    /// The index of the configured link it belongs to (0 without links).
    pub link: usize,
}

/// A configured link whose frames' headers a front half cuts for the
/// evidence recorder, with its index in the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedLink {
    /// Its index in the config's links (events and the recorder use it).
    pub index: usize,
    /// The link.
    pub spec: LinkSpec,
}

impl Headers {
    /// Adds the headers of `frame` (which became `step`) if it belongs to
    /// one of `links` (any TCP frame, as link 0, when there are none),
    /// with the link it belongs to: the recorder keeps the watched links'
    /// frames only, so the others are neither cut nor copied, and the
    /// link is matched here once, not again on the tracker's thread.
    pub fn push(&mut self, link: LinkType, links: &[WatchedLink], step: &Step, frame: &Frame<'_>) {
        let mut lane = 0;
        if let Step::Decoded { decoded, .. } = step {
            let (src, dst) = match decoded {
                Decoded::Tcp(s) => (s.src, s.dst),
                Decoded::IcmpError(i) => (i.src, i.dst),
            };
            let watched = if links.is_empty() {
                Some(0)
            } else {
                links
                    .iter()
                    .find(|l| l.spec.sender(&src, &dst).is_some())
                    .map(|l| l.index)
            };
            if let Some(i) = watched {
                lane = i;
                if let Some(end) = crate::decode::header_end(link, frame.data) {
                    let end = end.min(crate::evidence::MAX_STORED as usize);
                    self.bytes
                        .extend_from_slice(frame.data.get(..end).unwrap_or_default());
                }
            }
        }
        let end = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.ends.push(HeaderEnd {
            end,
            wire_len: frame.wire_len,
            lane: u32::try_from(lane).unwrap_or(u32::MAX),
        });
    }

    /// Moves the headers out into a new value sized to them exactly,
    /// leaving `self` empty with its capacity: the live capture thread
    /// keeps one buffer to fill and sends exact copies, so a queue of
    /// small batches holds small allocations (see `capture::live`).
    pub fn take_exact(&mut self) -> Headers {
        let taken = Headers {
            bytes: self.bytes.as_slice().to_vec(),
            ends: self.ends.as_slice().to_vec(),
        };
        self.bytes.clear();
        self.ends.clear();
        taken
    }

    /// Step `i`'s header; `None` when the batch has no headers (not
    /// recording) or the step has none.
    pub fn get(&self, i: usize) -> Option<Header<'_>> {
        let e = self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(p) => self.ends.get(p).map_or(0, |e| e.end),
            None => 0,
        };
        let bytes = self.bytes.get(start as usize..e.end as usize)?;
        (!bytes.is_empty()).then_some(Header {
            bytes,
            wire_len: e.wire_len,
            link: e.lane as usize,
        })
    }

    /// Empties it, keeping its memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// The front half of a replay on its own thread: reads and decodes the
/// file and sends batches of steps, in file order, over a bounded channel.
pub struct FileFront {
    steps: Receiver<Batch>,
    empties: Sender<Batch>,
    thread: JoinHandle<FrontEnd>,
    path: std::path::PathBuf,
    link: LinkType,
}

impl FileFront {
    /// Opens the capture file `path` and starts reading it on a thread
    /// named `replay-reader`. (Open errors come back here, before any
    /// thread exists.)
    pub fn open(path: &std::path::Path) -> Result<FileFront, CaptureError> {
        FileFront::open_with(path, None)
    }

    /// [`FileFront::open`], with each batch carrying its frames' headers
    /// for the evidence recorder ([`Batch::headers`]).
    /// Only the frames of `links` carry headers (every TCP frame when
    /// there are none).
    pub fn open_recording(
        path: &std::path::Path,
        links: &[LinkSpec],
    ) -> Result<FileFront, CaptureError> {
        let all = links
            .iter()
            .enumerate()
            .map(|(index, l)| WatchedLink {
                index,
                spec: l.clone(),
            })
            .collect();
        FileFront::open_with(path, Some(all))
    }

    fn open_with(
        path: &std::path::Path,
        record: Option<Vec<WatchedLink>>,
    ) -> Result<FileFront, CaptureError> {
        let mut cap = Source::open_file(path)?;
        let (tx, steps) = bounded::<Batch>(FILE_QUEUE_BATCHES);
        // Emptied batches go back to the reader to be refilled: no
        // allocation per batch. Room for every batch that can exist (the
        // queue's, the one being filled, the one being read), so giving
        // one back never blocks.
        let (empties, recycled) = bounded::<Batch>(FILE_QUEUE_BATCHES + 2);
        let link = cap.link();
        let path = path.to_path_buf();
        let fresh = || Batch {
            steps: Vec::with_capacity(FILE_BATCH),
            headers: Headers::default(),
        };
        let thread = std::thread::Builder::new()
            .name("replay-reader".into())
            .spawn(move || {
                let mut front = Front::new(cap.link());
                let mut batch = fresh();
                let failure = loop {
                    match cap.next_frame() {
                        Ok(Some(frame)) => {
                            let step = front.read(&frame);
                            if let Some(links) = &record {
                                batch.headers.push(link, links, &step, &frame);
                            }
                            batch.steps.push(step);
                            if batch.steps.len() < FILE_BATCH {
                                continue;
                            }
                        }
                        Ok(None) => break None,
                        Err(e) => break Some(e),
                    }
                    let next = recycled.try_recv().unwrap_or_else(|_| fresh());
                    if tx.send(std::mem::replace(&mut batch, next)).is_err() {
                        break None; // the tracker side has gone: stop reading
                    }
                };
                if !batch.steps.is_empty() {
                    let _ = tx.send(batch);
                }
                FrontEnd { front, failure }
            })
            .map_err(|e| CaptureError::Read {
                path: path.clone(),
                message: format!("cannot start the reader thread: {e}"),
                packets: 0,
            })?;
        Ok(FileFront {
            steps,
            empties,
            thread,
            path,
            link,
        })
    }

    /// The capture's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The next batch of steps, in file order; `None` once the reader is
    /// done. Hand the emptied batch back with [`FileFront::recycle`].
    pub fn next_batch(&self) -> Option<Batch> {
        self.steps.recv().ok()
    }

    /// Returns an emptied batch to the reader for reuse.
    pub fn recycle(&self, mut batch: Batch) {
        batch.steps.clear();
        batch.headers.clear();
        let _ = self.empties.try_send(batch);
    }

    /// Waits for the reader thread and returns its counters and error.
    pub fn finish(self) -> Result<FrontEnd, CaptureError> {
        drop(self.steps);
        let path = self.path;
        self.thread.join().map_err(|_| CaptureError::Read {
            path,
            message: "the reader thread failed".into(),
            packets: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_queue_bound_in_the_readme_holds() {
        // README "Bounds": 8 batches of 4,096 steps, about 4 MiB. The
        // reader holds one batch being filled and the tracker one being
        // read, beside the queue.
        let bytes = (FILE_QUEUE_BATCHES + 2) * FILE_BATCH * std::mem::size_of::<Step>();
        assert!(bytes <= 5 << 20, "{bytes} bytes: update the README bound");
        // A step of 128 bytes or less is copied by memcpy's short path.
        // Attribution's IP marks took it to 136; dropping the unused
        // first SACK block brought it back, which (with one other trim)
        // saved 2 % of replay's instructions on the 200k bench file.
        assert!(std::mem::size_of::<Step>() <= 128);
    }
}
