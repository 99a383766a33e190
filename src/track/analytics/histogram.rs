//! A small sparse histogram of durations, and a sliding window of them.
//!
//! Values are microseconds. Below 256 µs each value has its own bucket;
//! above, each power of two is cut in 128 buckets (log-linear, as
//! HdrHistogram does), so a bucket is at most 1/128 of its value wide and
//! its midpoint is within 0.4 % of any value in it (3 ms at 800 ms). Only the buckets in
//! use are stored, sorted, as `(bucket, count)`: a round-trip time or a
//! response time clusters in a handful of buckets, so a slice is a few
//! dozen bytes. A slice holds at most [`MAX_BUCKETS`] buckets; a sample
//! that would need one more is counted in the nearest bucket already
//! there (the precision degrades, the memory does not grow).
//!
//! Not the `hdrhistogram` crate: at 2 significant digits it allocates
//! about 10 KiB of counts per histogram, dense, and a window is several of
//! them per direction per connection. This is the sparse form of its
//! bucketing.

use crate::time::{Duration, Timestamp};

/// At most this many distinct buckets in one slice (8 bytes each).
pub const MAX_BUCKETS: usize = 128;

/// Slices in a window, and how long each is: a window covers the last
/// 45 to 60 s of samples.
pub const SLICES: usize = 4;
/// One slice's span.
pub const SLICE: Duration = Duration::from_secs(15);

/// Bits of sub-bucket: each power of two is cut in `1 << SUB_BITS`.
const SUB_BITS: u32 = 7;
const SUBS: u32 = 1 << SUB_BITS;
/// Values below this have a bucket each.
const EXACT: u32 = 2 * SUBS;

/// The bucket of `us` microseconds.
pub fn bucket(us: u32) -> u16 {
    if us < EXACT {
        return us as u16;
    }
    let e = 31 - us.leading_zeros(); // SUB_BITS + 1 ..= 31
    let sub = (us >> (e - SUB_BITS)) & (SUBS - 1);
    (EXACT + (e - SUB_BITS - 1) * SUBS + sub) as u16
}

/// The midpoint of bucket `b`, in microseconds.
pub fn midpoint(b: u16) -> f64 {
    let b = u32::from(b);
    if b < EXACT {
        return f64::from(b);
    }
    let e = (b - EXACT) / SUBS + SUB_BITS + 1;
    let sub = (b - EXACT) % SUBS;
    let width = 1u64 << (e - SUB_BITS);
    let low = (u64::from(SUBS) + u64::from(sub)) * width;
    low as f64 + (width as f64 - 1.0) / 2.0
}

/// Microseconds in `d`, saturating (negative durations are 0).
pub fn micros(d: Duration) -> u32 {
    (d.as_nanos().max(0) / 1_000).min(i64::from(u32::MAX)) as u32
}

/// Samples counted in one span of time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slice {
    /// Which span (time divided by [`SLICE`]); only meaningful with samples.
    epoch: i64,
    /// `(bucket, count)`, sorted by bucket.
    buckets: Vec<(u16, u32)>,
    /// Exact extremes, in microseconds.
    min: u32,
    max: u32,
    count: u32,
    /// Samples marked approximate (a response paired while several
    /// requests were outstanding).
    approximate: u32,
}

impl Slice {
    /// Counts one sample.
    pub fn record(&mut self, us: u32, approximate: bool) {
        if self.count == 0 {
            self.min = us;
            self.max = us;
        } else {
            self.min = self.min.min(us);
            self.max = self.max.max(us);
        }
        self.count = self.count.saturating_add(1);
        self.approximate = self.approximate.saturating_add(u32::from(approximate));
        let b = bucket(us);
        match self.buckets.binary_search_by_key(&b, |&(k, _)| k) {
            Ok(i) => {
                if let Some(e) = self.buckets.get_mut(i) {
                    e.1 = e.1.saturating_add(1);
                }
            }
            Err(i) if self.buckets.len() < MAX_BUCKETS => self.buckets.insert(i, (b, 1)),
            Err(i) => {
                // Full: the nearest bucket in use takes it.
                let left = i.checked_sub(1);
                let pick = match (left.and_then(|l| self.buckets.get(l)), self.buckets.get(i)) {
                    (Some(&(l, _)), Some(&(r, _))) if b - l <= r - b => left,
                    (Some(_), None) => left,
                    _ => Some(i),
                };
                if let Some(e) = pick.and_then(|p| self.buckets.get_mut(p)) {
                    e.1 = e.1.saturating_add(1);
                }
            }
        }
    }

    /// No samples.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forgets its samples, keeping its allocation.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.count = 0;
        self.approximate = 0;
    }

    /// `(bucket midpoint in µs, count)` for each bucket in use, in order.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u32)> + '_ {
        self.buckets.iter().map(|&(b, c)| (midpoint(b), c))
    }

    /// Heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<(u16, u32)>()
    }
}

/// What a window of samples shows, in milliseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct WindowStats {
    /// Smallest sample (exact).
    pub min_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample (exact).
    pub max_ms: f64,
    /// Samples in the window.
    pub samples: u32,
    /// Of which approximate.
    pub approximate: u32,
}

/// The last minute (45 to 60 s) of one connection's samples, as
/// [`SLICES`] slices of [`SLICE`] on the packet clock. The window follows
/// the connection's newest sample, not the clock: a connection that went
/// quiet still shows its last minute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    slices: [Slice; SLICES],
    /// Epoch of the newest slice with samples.
    newest: Option<i64>,
}

impl Window {
    /// Counts a sample of `us` microseconds taken at `ts`.
    pub fn record(&mut self, ts: Timestamp, us: u32, approximate: bool) {
        let epoch = ts.as_nanos().div_euclid(SLICE.as_nanos());
        let i = epoch.rem_euclid(SLICES as i64) as usize;
        if let Some(s) = self.slices.get_mut(i) {
            if s.is_empty() || s.epoch != epoch {
                s.clear();
                s.epoch = epoch;
            }
            s.record(us, approximate);
        }
        self.newest = Some(self.newest.map_or(epoch, |n| n.max(epoch)));
    }

    /// Slices in the window: those within [`SLICES`] of the newest.
    fn live(&self) -> impl Iterator<Item = &Slice> {
        let newest = self.newest.unwrap_or(i64::MIN);
        self.slices
            .iter()
            .filter(move |s| !s.is_empty() && s.epoch > newest - SLICES as i64)
    }

    /// The window's figures, or `None` before the first sample.
    pub fn stats(&self) -> Option<WindowStats> {
        let mut count = 0u64;
        let (mut min, mut max, mut approximate) = (u32::MAX, 0u32, 0u32);
        let mut merged: Vec<(f64, u32)> = Vec::new();
        for s in self.live() {
            count += u64::from(s.count);
            min = min.min(s.min);
            max = max.max(s.max);
            approximate = approximate.saturating_add(s.approximate);
            merged.extend(s.buckets());
        }
        if count == 0 {
            return None;
        }
        merged.sort_by(|a, b| a.0.total_cmp(&b.0));
        let quantile = |q: f64| {
            // The smallest value with at least q of the samples at or below.
            let rank = ((q * count as f64).ceil() as u64).max(1);
            let mut seen = 0u64;
            for &(v, c) in &merged {
                seen += u64::from(c);
                if seen >= rank {
                    // A bucket's midpoint, clamped to the exact extremes.
                    return v.clamp(f64::from(min), f64::from(max));
                }
            }
            f64::from(max)
        };
        let ms = |us: f64| us / 1_000.0;
        Some(WindowStats {
            min_ms: ms(f64::from(min)),
            p50_ms: ms(quantile(0.50)),
            p90_ms: ms(quantile(0.90)),
            p99_ms: ms(quantile(0.99)),
            max_ms: ms(f64::from(max)),
            samples: count.min(u64::from(u32::MAX)) as u32,
            approximate,
        })
    }

    /// Heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.slices.iter().map(Slice::heap_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_their_midpoints_close() {
        let mut last = 0;
        for us in (0..200_000u32).chain([u32::MAX / 2, u32::MAX]) {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            let m = midpoint(b);
            let err = (m - f64::from(us)).abs();
            assert!(err <= 0.004 * f64::from(us) + 0.5, "{us}: {m}");
        }
        assert_eq!(bucket(u32::MAX), 256 + 23 * 128 + 127);
    }

    #[test]
    fn a_window_covers_the_last_minute_of_samples() {
        let mut w = Window::default();
        let t = |s: i64| Timestamp::from_nanos(s * 1_000_000_000);
        for s in 0..60 {
            w.record(t(s), 10_000, false); // 10 ms for a minute
        }
        for s in 60..120 {
            w.record(t(s), 40_000, false); // then 40 ms
        }
        let st = w.stats().unwrap();
        assert!((st.p50_ms - 40.0).abs() < 0.6, "{st:?}");
        assert_eq!(st.min_ms, 40.0);
        assert!(st.samples >= 45 && st.samples <= 60, "{st:?}");
    }

    #[test]
    fn a_full_slice_counts_in_the_nearest_bucket() {
        let mut s = Slice::default();
        for us in 0..10_000u32 {
            s.record(us * 97, false);
        }
        assert_eq!(s.buckets.len(), MAX_BUCKETS);
        assert_eq!(s.count, 10_000);
        assert_eq!(s.buckets().map(|(_, c)| c).sum::<u32>(), 10_000);
    }
}
