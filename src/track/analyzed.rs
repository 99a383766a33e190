//! The tracker's side of the degradation analytics: which connections
//! have them (at most `[limits] max_analyzed`), the samples the metrics
//! take, and what they hold.

use super::analytics::Fresh;
use super::{ConnectionSummary, Tracker};

/// Connections with analytics now, and the most there may be
/// (`[limits] max_analyzed`).
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct Analyzed {
    pub(super) now: usize,
    pub(super) max: usize,
    /// New analytics keep their samples for [`Tracker::drain_fresh`].
    pub(super) fresh: bool,
}

/// What the degradation analytics hold now: the memory benchmark's figure.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct AnalyticsStats {
    /// Connections with analytics.
    pub connections: usize,
    /// Bytes their analytics hold (the boxes and their histograms).
    pub heap_bytes: usize,
}

impl Tracker {
    /// Keeps the summary of a connection that left the table, giving its
    /// analytics' place back: the one way a summary is kept.
    pub(super) fn keep_retired(&mut self, summary: ConnectionSummary) {
        self.analyzed.now = self
            .analyzed
            .now
            .saturating_sub(usize::from(summary.analytics.is_some()));
        self.retired.push(summary);
    }

    /// Keep the round-trip and response-time samples of connections that
    /// start their analytics from now on, for [`Tracker::drain_fresh`]
    /// (the daemon with DogStatsD; replay does without).
    pub fn keep_fresh_samples(&mut self, on: bool) {
        self.analyzed.fresh = on;
    }

    /// The round-trip and response-time samples taken since the last call,
    /// bucketed, for the metrics (the daemon asks each status interval).
    pub fn drain_fresh(&mut self, out: &mut Vec<Fresh>) {
        for (_, c) in self.flows.iter_mut() {
            if c.is_analyzed() {
                c.drain_fresh(out);
            }
        }
    }

    /// What the degradation analytics hold now (walks the table: for
    /// benchmarks and the status document, not per packet).
    pub fn analytics_stats(&self) -> AnalyticsStats {
        let mut heap_bytes = 0;
        for (_, _, c) in self.flows.iter() {
            heap_bytes += c.analytics_heap_bytes();
        }
        AnalyticsStats {
            connections: self.analyzed.now,
            heap_bytes,
        }
    }
}
