//! A connection's degradation analytics as the `connection_summary` line
//! and the status document show them: one `analytics` object, one schema
//! for both (serde, keys in sorted order), and its text for the timeline.
//!
//! ```json
//! "analytics": {
//!   "dup_acks": {"local": 0, "peer": 3},
//!   "local_rtt_ms": {"ambiguous": 0, "approximate": 0, "floor": 0.05, "max": 0.3, ...},
//!   "out_of_order": {"local": 0, "peer": 0},
//!   "outstanding": 0,
//!   "response_ms": {"approximate": 0, "max": 812.0, "min": 148.9, "p50": 151.0, "p90": 160.2, "p99": 800.5, "samples": 57},
//!   "retransmit_rate": {"local": 0.0, "peer": null},
//!   "rtt_ms": {"ambiguous": 2, "approximate": 0, "floor": 38.2, "max": 45.1, "min": 38.4, "p50": 40.1, "p90": 41.0, "p99": 44.9, "samples": 812},
//!   "slow_responses": 0,
//!   "zero_window_s": {"local": 0.0, "peer": 0.0}
//! }
//! ```
//! Window figures (`min`, `p50`, `p90`, `p99`, `max`, `samples`,
//! `approximate`) describe the connection's last minute of samples;
//! `floor` is the lifetime minimum, `ambiguous` the samples Karn's rule
//! dropped. `retransmit_rate` is of the last complete minute (`null`:
//! no data sent in it).

use serde::{Deserialize, Serialize};

use crate::track::{Report, RttReport, WindowStats};

/// A pair of figures, ours and the peer's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BySide<T> {
    /// Ours.
    pub local: T,
    /// The peer's.
    pub peer: T,
}

/// One window of samples, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowDoc {
    /// Samples Karn's rule dropped, in all (round trips only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous: Option<u64>,
    /// Samples in the window paired approximately (pipelined requests).
    pub approximate: u32,
    /// The lifetime minimum (round trips only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
    /// Largest.
    pub max: f64,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Samples in the window.
    pub samples: u32,
}

/// Milliseconds rounded to the microsecond (seconds to the millisecond):
/// the figures are no finer than that.
fn us(ms: f64) -> f64 {
    (ms * 1_000.0).round() / 1_000.0
}

impl WindowDoc {
    fn of(w: &WindowStats) -> WindowDoc {
        WindowDoc {
            ambiguous: None,
            approximate: w.approximate,
            floor: None,
            max: us(w.max_ms),
            min: us(w.min_ms),
            p50: us(w.p50_ms),
            p90: us(w.p90_ms),
            p99: us(w.p99_ms),
            samples: w.samples,
        }
    }

    fn of_rtt(r: &RttReport) -> Option<WindowDoc> {
        let mut d = WindowDoc::of(r.window.as_ref()?);
        d.floor = r.floor_ms.map(us);
        d.ambiguous = Some(r.ambiguous);
        Some(d)
    }
}

/// A connection's analytics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsDoc {
    /// Duplicate ACKs each side sent.
    pub dup_acks: BySide<u64>,
    /// Round trips toward our host (the peer's data, our ACK).
    pub local_rtt_ms: Option<WindowDoc>,
    /// Data segments that arrived out of order, by sender.
    pub out_of_order: BySide<u64>,
    /// Requests outstanding now.
    pub outstanding: u32,
    /// Response times.
    pub response_ms: Option<WindowDoc>,
    /// Retransmitted / data segments in the last complete minute, by sender.
    pub retransmit_rate: BySide<Option<f64>>,
    /// Round trips toward the peer (our data, the peer's ACK or echo).
    pub rtt_ms: Option<WindowDoc>,
    /// Responses slower than the link's `response_sla`, in all.
    pub slow_responses: u64,
    /// Seconds each side's receive window was closed, in all.
    pub zero_window_s: BySide<f64>,
}

impl AnalyticsDoc {
    /// The document of `r`.
    pub fn of(r: &Report) -> AnalyticsDoc {
        let rate = |x: Option<f64>| x.map(|v| (v * 10_000.0).round() / 10_000.0);
        AnalyticsDoc {
            dup_acks: BySide {
                local: r.local.dup_acks,
                peer: r.peer.dup_acks,
            },
            local_rtt_ms: WindowDoc::of_rtt(&r.local_rtt),
            out_of_order: BySide {
                local: r.local.out_of_order,
                peer: r.peer.out_of_order,
            },
            outstanding: r.outstanding,
            response_ms: r.response.as_ref().map(WindowDoc::of),
            retransmit_rate: BySide {
                local: rate(r.local.retransmit_rate),
                peer: rate(r.peer.retransmit_rate),
            },
            rtt_ms: WindowDoc::of_rtt(&r.rtt),
            slow_responses: r.slow_responses,
            zero_window_s: BySide {
                local: us(r.local.zero_window.as_secs_f64()),
                peer: us(r.peer.zero_window.as_secs_f64()),
            },
        }
    }
}

/// Appends `r` as JSON to `buf`: the same object as [`AnalyticsDoc`]
/// serialises to (a test holds them equal), written by hand (replay
/// writes one per connection; the status document, a few a second, uses
/// serde). The object's shape is fixed, so its keys and punctuation go
/// out as literal runs (`,"local_rtt_ms":`) rather than key by key: with
/// the figures' constant divisors, this cut its cost by a third (31.7 →
/// 21.2 M instructions for the bench capture's 5,357 objects).
pub fn write_json(r: &Report, buf: &mut Vec<u8>) {
    // Written from the report, each figure rounded as the document rounds
    // it (ms to the µs, seconds to the ms, rates to 4 decimals) and put
    // in its shortest form in integer arithmetic, without serde_json's
    // float formatter.
    let (local, peer) = (&r.local, &r.peer);
    lit(buf, b"{");
    json_pair(buf, b"\"dup_acks\":", [local.dup_acks, peer.dup_acks], int);
    lit(buf, b",\"local_rtt_ms\":");
    json_window(buf, r.local_rtt.window.as_ref(), Some(&r.local_rtt));
    let ooo = [local.out_of_order, peer.out_of_order];
    json_pair(buf, b",\"out_of_order\":", ooo, int);
    lit(buf, b",\"outstanding\":");
    int(buf, u64::from(r.outstanding));
    lit(buf, b",\"response_ms\":");
    json_window(buf, r.response.as_ref(), None);
    let rates = [local.retransmit_rate, peer.retransmit_rate];
    json_pair(buf, b",\"retransmit_rate\":", rates, json_rate);
    lit(buf, b",\"rtt_ms\":");
    json_window(buf, r.rtt.window.as_ref(), Some(&r.rtt));
    lit(buf, b",\"slow_responses\":");
    int(buf, r.slow_responses);
    let zero = [local.zero_window, peer.zero_window].map(|z| z.as_secs_f64());
    json_pair(buf, b",\"zero_window_s\":", zero, short_decimal::<3>);
    lit(buf, b"}");
}

/// `key{"local":L,"peer":P}`, `key` a literal run ending in `"name":`.
#[inline(always)]
fn json_pair<T>(buf: &mut Vec<u8>, key: &[u8], [l, p]: [T; 2], put: impl Fn(&mut Vec<u8>, T)) {
    lit(buf, key);
    lit(buf, b"{\"local\":");
    put(buf, l);
    lit(buf, b",\"peer\":");
    put(buf, p);
    lit(buf, b"}");
}

/// A literal run, inlined where its length is known: a copy of a few
/// words, not a call to `memcpy`.
#[inline(always)]
fn lit(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(s);
}

/// `v` in decimal digits.
fn int(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A window's object (`null` without samples); `rtt` for a round trip's
/// (Karn's `ambiguous` and the `floor`).
fn json_window(buf: &mut Vec<u8>, w: Option<&WindowStats>, rtt: Option<&RttReport>) {
    let Some(w) = w else {
        return lit(buf, b"null");
    };
    match rtt {
        Some(r) => {
            lit(buf, b"{\"ambiguous\":");
            int(buf, r.ambiguous);
            lit(buf, b",\"approximate\":");
        }
        None => lit(buf, b"{\"approximate\":"),
    }
    int(buf, u64::from(w.approximate));
    if let Some(f) = rtt.and_then(|r| r.floor_ms) {
        lit(buf, b",\"floor\":");
        short_decimal::<3>(buf, f);
    }
    for (key, v) in [
        (&b",\"max\":"[..], w.max_ms),
        (b",\"min\":", w.min_ms),
        (b",\"p50\":", w.p50_ms),
        (b",\"p90\":", w.p90_ms),
        (b",\"p99\":", w.p99_ms),
    ] {
        lit(buf, key);
        short_decimal::<3>(buf, v);
    }
    lit(buf, b",\"samples\":");
    int(buf, u64::from(w.samples));
    lit(buf, b"}");
}

/// A retransmission rate to 4 decimals, `null` for a minute without data.
fn json_rate(buf: &mut Vec<u8>, rate: Option<f64>) {
    match rate {
        Some(v) => short_decimal::<4>(buf, v),
        None => lit(buf, b"null"),
    }
}

/// Non-negative `v` rounded to `PLACES` decimals (half away from zero, as
/// `f64::round`), written without `fmt` or the float formatter: replay
/// writes one summary a connection, a score of figures each. `Shortest`
/// trims trailing zeros but keeps one decimal (`40.0`, `40.12`), which is
/// what serde_json writes for the rounded value (the JSON); `Fixed` keeps
/// them all (`5.00`: the text). `PLACES` is a constant so that the
/// divisions are by constants (multiplications): a figure costs about a
/// third of what a run-time number of places did.
fn decimal<const PLACES: usize>(buf: &mut Vec<u8>, v: f64, form: Form) {
    let scale = 10u64.pow(PLACES as u32);
    let scaled = (v.max(0.0) * scale as f64 + 0.5) as u64;
    let (whole, mut frac) = (scaled / scale, scaled % scale);
    int(buf, whole);
    // The fraction's digits, zero-padded: `.` and PLACES digits.
    let mut digits = *b".0000000";
    let mut width = PLACES.min(digits.len() - 1);
    for d in digits
        .get_mut(1..=width)
        .unwrap_or_default()
        .iter_mut()
        .rev()
    {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    if form == Form::Shortest {
        while width > 1 && digits.get(width) == Some(&b'0') {
            width -= 1;
        }
    }
    // All eight bytes, then the tail cut: a fixed-size copy.
    let end = buf.len() + 1 + width;
    buf.extend_from_slice(&digits);
    buf.truncate(end);
}

/// How [`decimal`] ends a number.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Form {
    /// Trailing zeros trimmed, one decimal kept: serde_json's form.
    Shortest,
    /// Every decimal place written.
    Fixed,
}

/// [`decimal`] in serde_json's form, for the JSON.
fn short_decimal<const PLACES: usize>(buf: &mut Vec<u8>, v: f64) {
    decimal::<PLACES>(buf, v, Form::Shortest);
}

/// Whether `r` has anything to show: samples, retransmissions or a
/// closed window.
pub fn has_figures(r: &Report) -> bool {
    r.rtt.window.is_some()
        || r.response.is_some()
        || r.local.retransmit_rate.is_some_and(|x| x > 0.0)
        || r.peer.retransmit_rate.is_some_and(|x| x > 0.0)
        || r.local.zero_window.as_nanos() > 0
        || r.peer.zero_window.as_nanos() > 0
}

/// The timeline's figures of a connection (`rtt p50 40.1 ms p99 44.9 ms
/// (floor 38.2), response p50 151.0 ms p99 800.5 ms (57 samples),
/// retransmitted 0.00 % ours, 1.20 % the peer's`); nothing when it has
/// none. Written straight into `buf` (no `format!`): replay writes one per
/// connection. Returns whether it wrote anything.
pub fn write_text(r: &Report, buf: &mut Vec<u8>) -> bool {
    if !has_figures(r) {
        return false;
    }
    let mut first = true;
    let mut sep = |buf: &mut Vec<u8>| {
        if !first {
            buf.extend_from_slice(b", ");
        }
        first = false;
    };
    if let Some(w) = &r.rtt.window {
        sep(buf);
        lit(buf, b"rtt p50 ");
        decimal::<1>(buf, w.p50_ms, Form::Fixed);
        lit(buf, b" ms p99 ");
        decimal::<1>(buf, w.p99_ms, Form::Fixed);
        lit(buf, b" ms (floor ");
        decimal::<1>(buf, r.rtt.floor_ms.unwrap_or(w.min_ms), Form::Fixed);
        lit(buf, b")");
    }
    if let Some(w) = &r.response {
        sep(buf);
        lit(buf, b"response p50 ");
        decimal::<1>(buf, w.p50_ms, Form::Fixed);
        lit(buf, b" ms p99 ");
        decimal::<1>(buf, w.p99_ms, Form::Fixed);
        lit(buf, b" ms (");
        int(buf, u64::from(w.samples));
        lit(buf, b" samples");
        if w.approximate > 0 {
            lit(buf, b", ");
            int(buf, u64::from(w.approximate));
            lit(buf, b" approximate");
        }
        lit(buf, b")");
    }
    if r.slow_responses > 0 {
        sep(buf);
        int(buf, r.slow_responses);
        lit(buf, b" slow responses");
    }
    for (whose, rate) in [
        ("ours", r.local.retransmit_rate),
        ("the peer's", r.peer.retransmit_rate),
    ] {
        if let Some(x) = rate.filter(|x| *x > 0.0) {
            sep(buf);
            lit(buf, b"retransmitted ");
            decimal::<2>(buf, x * 100.0, Form::Fixed);
            lit(buf, b" % of ");
            lit(buf, whose.as_bytes());
        }
    }
    for (whose, z) in [
        ("our", r.local.zero_window),
        ("the peer's", r.peer.zero_window),
    ] {
        if z.as_nanos() > 0 {
            sep(buf);
            lit(buf, whose.as_bytes());
            lit(buf, b" window closed ");
            z.write_human(buf);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use crate::track::SideReport;

    /// Rounded figures written as serde_json writes the same floats.
    #[test]
    fn short_decimals_are_serde_jsons_floats() {
        for v in [
            0.0,
            0.001,
            0.05,
            0.1,
            12.5,
            40.123,
            800.394,
            99.999,
            1_234_567.891,
            3.0,
        ] {
            let mut ours = Vec::new();
            short_decimal::<3>(&mut ours, v);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&v).unwrap()
            );
        }
        let mut ours = Vec::new();
        short_decimal::<4>(&mut ours, 0.0125);
        assert_eq!(ours, b"0.0125");
    }

    /// The way figures were written before `PLACES` became a constant
    /// (digit by digit, right to left): the replay corpus's bytes.
    fn decimal_before(v: f64, places: u32, form: Form) -> Vec<u8> {
        let scale = 10u64.pow(places);
        let scaled = (v.max(0.0) * scale as f64 + 0.5) as u64;
        let (mut int, mut frac) = (scaled / scale, scaled % scale);
        let mut width = places;
        if form == Form::Shortest {
            if frac == 0 {
                width = 1;
            } else {
                while frac % 10 == 0 {
                    frac /= 10;
                    width -= 1;
                }
            }
        }
        let mut out = Vec::new();
        for _ in 0..width {
            out.push(b'0' + (frac % 10) as u8);
            frac /= 10;
        }
        out.push(b'.');
        loop {
            out.push(b'0' + (int % 10) as u8);
            int /= 10;
            if int == 0 {
                break;
            }
        }
        out.reverse();
        out
    }

    #[test]
    fn figures_are_written_as_before_to_the_byte() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = vec![
            0.0,
            0.05,
            0.5,
            0.9995,
            1.0,
            9.99951,
            99.95,
            1e12,
            f64::NAN,
            -3.0,
        ];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Up to 10^7, with 0 to 6 decimals of their own.
            let v = (x % 10_000_000_000) as f64 / 10f64.powi((x >> 40) as i32 % 7);
            values.push(v);
        }
        for v in values {
            for form in [Form::Shortest, Form::Fixed] {
                let mut new = Vec::new();
                decimal::<1>(&mut new, v, form);
                decimal::<2>(&mut new, v, form);
                decimal::<3>(&mut new, v, form);
                decimal::<4>(&mut new, v, form);
                let old: Vec<u8> = (1..=4).flat_map(|p| decimal_before(v, p, form)).collect();
                assert_eq!(
                    String::from_utf8(new).unwrap(),
                    String::from_utf8(old).unwrap(),
                    "{v}"
                );
            }
        }
    }

    /// The hand-written JSON is what serde writes of the document.
    #[test]
    fn the_json_is_the_documents_serialisation() {
        let w = WindowStats {
            min_ms: 38.4,
            p50_ms: 40.1234,
            p90_ms: 41.0,
            p99_ms: 44.9,
            max_ms: 45.1,
            samples: 812,
            approximate: 3,
        };
        let r = Report {
            rtt: RttReport {
                window: Some(w),
                floor_ms: Some(38.2),
                samples: 900,
                ambiguous: 2,
            },
            local_rtt: RttReport::default(),
            response: Some(w),
            responses: 57,
            approximate: 3,
            slow_responses: 1,
            outstanding: 2,
            local: SideReport {
                retransmit_rate: Some(0.0125),
                zero_window: Duration::from_millis(1_500),
                dup_acks: 4,
                out_of_order: 1,
            },
            peer: SideReport::default(),
            starving: false,
            degraded: None,
        };
        let mut buf = Vec::new();
        write_json(&r, &mut buf);
        let ours: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        let serde = serde_json::to_value(AnalyticsDoc::of(&r)).unwrap();
        assert_eq!(ours, serde);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            serde_json::to_string(&AnalyticsDoc::of(&r)).unwrap()
        );
    }
}
