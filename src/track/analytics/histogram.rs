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

use smallvec::SmallVec;

use crate::time::{Duration, Timestamp};

/// A slice's buckets: the first [`INLINE`] in the slice itself (samples
/// cluster: a steady line needs a handful), more on the heap. (smallvec's
/// `union` feature: 40 bytes, not 48, 14 slices a connection.)
type Buckets = SmallVec<[(u16, u32); INLINE]>;
/// Buckets a slice holds without a heap allocation.
const INLINE: usize = 4;

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

/// `n` milliseconds on the packet clock, for the analytics' tests.
#[cfg(test)]
pub fn at_ms(n: i64) -> Timestamp {
    Timestamp::from_nanos(n * 1_000_000)
}

/// Microseconds in `d`, saturating (negative durations are 0).
pub fn micros(d: Duration) -> u32 {
    (d.as_nanos().max(0) / 1_000).min(i64::from(u32::MAX)) as u32
}

/// Sorts `buckets` by bucket and adds up repeated ones.
fn merge_sorted(buckets: &mut Buckets) {
    buckets.sort_unstable_by_key(|&(b, _)| b);
    buckets.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            kept.1 = kept.1.saturating_add(later.1);
            true
        } else {
            false
        }
    });
}

/// Samples counted in one span of time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slice {
    /// Which span (time divided by [`SLICE`]); only meaningful with samples.
    epoch: i64,
    /// `(bucket, count)`, in the order first seen (a bucket may appear
    /// twice after the slice was full once); sorted when read.
    buckets: Buckets,
    /// Index of the bucket the last sample went to: samples cluster, so
    /// the next one usually goes there too (no search).
    hint: u8,
    /// `buckets` is sorted with no bucket twice (since the last append).
    sorted: bool,
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
    #[inline]
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
        if let Some(e) = self
            .buckets
            .get_mut(usize::from(self.hint))
            .filter(|e| e.0 == b)
        {
            e.1 = e.1.saturating_add(1);
            return;
        }
        self.record_in(b);
    }

    /// [`Slice::record`] off its fast path: a bucket other than the last.
    /// New buckets are appended (no shifting): the slice is sorted only
    /// when it is full, or read.
    #[inline(never)]
    fn record_in(&mut self, b: u16) {
        if self.buckets.len() < MAX_BUCKETS {
            self.hint = self.buckets.len() as u8;
            self.buckets.push((b, 1));
            self.sorted = false;
            return;
        }
        // Full: merge the buckets appended twice, then count in the
        // bucket itself or, if there is none and no room, the nearest.
        if !self.sorted {
            merge_sorted(&mut self.buckets);
            self.sorted = true;
        }
        match self.buckets.binary_search_by_key(&b, |&(k, _)| k) {
            Ok(i) => {
                if let Some(e) = self.buckets.get_mut(i) {
                    e.1 = e.1.saturating_add(1);
                }
                self.hint = i as u8;
            }
            Err(i) if self.buckets.len() < MAX_BUCKETS => {
                // Room after merging: in its place, keeping the order.
                self.buckets.insert(i, (b, 1));
                self.hint = i as u8;
            }
            Err(i) => {
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
        self.sorted = false;
        self.count = 0;
        self.approximate = 0;
        self.hint = 0;
    }

    /// `(bucket midpoint in µs, count)` for each bucket in use, in order.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u32)> + '_ {
        self.buckets.iter().map(|&(b, c)| (midpoint(b), c))
    }

    /// Heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        if self.buckets.spilled() {
            self.buckets.capacity() * std::mem::size_of::<(u16, u32)>()
        } else {
            0
        }
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
    /// The slice samples go to now, and when its span ends (no division
    /// per sample).
    current: usize,
    current_end: i64,
}

impl Window {
    /// Counts a sample of `us` microseconds taken at `ts`.
    #[inline]
    pub fn record(&mut self, ts: Timestamp, us: u32, approximate: bool) {
        let t = ts.as_nanos();
        let span = SLICE.as_nanos();
        if self.newest.is_none() || t >= self.current_end || t < self.current_end - span {
            self.turn(t);
        }
        if let Some(s) = self.slices.get_mut(self.current) {
            s.record(us, approximate);
        }
    }

    /// Moves to the slice of time `t`, clearing it if it held an older span.
    #[inline(never)]
    fn turn(&mut self, t: i64) {
        let span = SLICE.as_nanos();
        let epoch = t.div_euclid(span);
        let i = epoch.rem_euclid(SLICES as i64) as usize;
        if let Some(s) = self.slices.get_mut(i) {
            if s.is_empty() || s.epoch != epoch {
                s.clear();
                s.epoch = epoch;
            }
        }
        self.current = i;
        self.current_end = (epoch + 1).saturating_mul(span);
        self.newest = Some(self.newest.map_or(epoch, |n| n.max(epoch)));
    }

    /// Slices in the window: those within [`SLICES`] of the newest.
    fn live(&self) -> impl Iterator<Item = &Slice> {
        let newest = self.newest.unwrap_or(i64::MIN);
        self.slices
            .iter()
            .filter(move |s| !s.is_empty() && s.epoch > newest - SLICES as i64)
    }

    /// The window's figures, or `None` before the first sample. The live
    /// slices' buckets are gathered and sorted: on the stack when they are
    /// few (32), as they are when samples cluster.
    pub fn stats(&self) -> Option<WindowStats> {
        let mut count = 0u64;
        let (mut min, mut max, mut approximate) = (u32::MAX, 0u32, 0u32);
        let mut small = [(0u16, 0u32); 32];
        let mut large = Vec::new();
        let mut n = 0;
        for s in self.live() {
            count += u64::from(s.count);
            min = min.min(s.min);
            max = max.max(s.max);
            approximate = approximate.saturating_add(s.approximate);
            n += s.buckets.len();
        }
        if count == 0 {
            return None;
        }
        // One bucket (a steady line, a short connection): every
        // percentile is its midpoint.
        if n == 1 {
            if let Some(&(b, _)) = self.live().find_map(|s| s.buckets.first()) {
                let v = midpoint(b).clamp(f64::from(min), f64::from(max)) / 1_000.0;
                return Some(WindowStats {
                    min_ms: f64::from(min) / 1_000.0,
                    p50_ms: v,
                    p90_ms: v,
                    p99_ms: v,
                    max_ms: f64::from(max) / 1_000.0,
                    samples: count.min(u64::from(u32::MAX)) as u32,
                    approximate,
                });
            }
        }
        let all: &mut [(u16, u32)] = if n <= small.len() {
            let mut i = 0;
            for e in self.live().flat_map(|s| s.buckets.iter()) {
                if let Some(slot) = small.get_mut(i) {
                    *slot = *e;
                    i += 1;
                }
            }
            small.get_mut(..i).unwrap_or_default()
        } else {
            large.extend(self.live().flat_map(|s| s.buckets.iter().copied()));
            &mut large
        };
        all.sort_unstable_by_key(|&(b, _)| b);
        // The smallest value with at least q of the samples at or below.
        // ceil(q × count), in integers: 1/2, 9/10, 99/100.
        let ranks =
            [(1, 2), (9, 10), (99, 100)].map(|(n, d): (u64, u64)| (n * count).div_ceil(d).max(1));
        let mut found = [f64::from(max); 3];
        let mut next = 0;
        let mut seen = 0u64;
        for &(b, c) in all.iter() {
            seen += u64::from(c);
            while ranks.get(next).is_some_and(|&r| seen >= r) {
                if let Some(f) = found.get_mut(next) {
                    // A bucket's midpoint, clamped to the exact extremes.
                    *f = midpoint(b).clamp(f64::from(min), f64::from(max));
                }
                next += 1;
            }
        }
        let ms = |us: f64| us / 1_000.0;
        let [p50, p90, p99] = found;
        Some(WindowStats {
            min_ms: ms(f64::from(min)),
            p50_ms: ms(p50),
            p90_ms: ms(p90),
            p99_ms: ms(p99),
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
        assert!(s.buckets.len() <= MAX_BUCKETS);
        assert_eq!(s.count, 10_000);
        assert_eq!(s.buckets().map(|(_, c)| c).sum::<u32>(), 10_000);
    }
}
