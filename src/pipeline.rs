//! The one pipeline that live capture and replay both feed:
//! frames -> [`Decoder`] -> [`Tracker`] -> events.

use crate::config::Config;
use crate::decode::{Decoder, Frame, LinkType};
use crate::event::Event;
use crate::time::Timestamp;
use crate::track::Tracker;

/// Decoder and tracker for one capture source, with the packet count that
/// numbers events.
#[derive(Debug)]
pub struct Pipeline {
    decoder: Decoder,
    tracker: Tracker,
    packets: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
}

impl Pipeline {
    /// A pipeline for frames of `link` under `config`.
    pub fn new(link: LinkType, config: &Config) -> Pipeline {
        Pipeline {
            decoder: Decoder::new(link),
            tracker: Tracker::new(config),
            packets: 0,
            first_ts: None,
            last_ts: None,
        }
    }

    /// Feeds one captured frame; events go to `out`.
    pub fn on_frame(&mut self, frame: &Frame<'_>, out: &mut Vec<Event>) {
        self.packets += 1;
        self.first_ts.get_or_insert(frame.ts);
        self.last_ts = Some(self.last_ts.map_or(frame.ts, |t| t.max(frame.ts)));
        match self.decoder.decode(frame) {
            Some(d) => self.tracker.on_decoded(&d, self.packets, out),
            // A skipped frame still moves the clock: time passed.
            None => self.tracker.advance_to(frame.ts, out),
        }
    }

    /// Moves the clock without a packet (live mode's timer tick).
    pub fn advance_to(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.tracker.advance_to(now, out);
    }

    /// Ends the capture: remaining connections get summaries.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        self.tracker.finish(out);
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

    /// The tracker (for counters, summaries and status).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The tracker, mutably (to drain retired summaries).
    pub fn tracker_mut(&mut self) -> &mut Tracker {
        &mut self.tracker
    }
}
