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

use super::json::JsonLine;
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
/// serialises to (a test holds them equal), written by hand with
/// [`JsonLine`] as the rest of the replay's lines are (replay writes one
/// per connection; the status document, a few a second, uses serde).
pub fn write_json(r: &Report, buf: &mut Vec<u8>) {
    // Written from the report, each figure rounded as the document rounds
    // it (ms to the µs, seconds to the ms, rates to 4 decimals) and put
    // in its shortest form in integer arithmetic, without serde_json's
    // float formatter.
    let ms = |o: &mut JsonLine<'_>, key: &'static str, v: f64| {
        o.raw(key, |b| short_decimal(b, v, 3));
    };
    let window = |buf: &mut Vec<u8>, w: Option<&WindowStats>, rtt: Option<&RttReport>| match w {
        None => buf.extend_from_slice(b"null"),
        Some(w) => {
            let mut o = JsonLine::begin(buf);
            if let Some(r) = rtt {
                o.u64("ambiguous", r.ambiguous);
            }
            o.u64("approximate", u64::from(w.approximate));
            if let Some(f) = rtt.and_then(|r| r.floor_ms) {
                ms(&mut o, "floor", f);
            }
            ms(&mut o, "max", w.max_ms);
            ms(&mut o, "min", w.min_ms);
            ms(&mut o, "p50", w.p50_ms);
            ms(&mut o, "p90", w.p90_ms);
            ms(&mut o, "p99", w.p99_ms);
            o.u64("samples", u64::from(w.samples));
            o.end();
        }
    };
    let pair = |buf: &mut Vec<u8>, local: u64, peer: u64| {
        let mut o = JsonLine::begin(buf);
        o.u64("local", local).u64("peer", peer);
        o.end();
    };
    let rtt = |b: &mut Vec<u8>, r: &RttReport| window(b, r.window.as_ref(), Some(r));
    let mut o = JsonLine::begin(buf);
    o.raw("dup_acks", |b| pair(b, r.local.dup_acks, r.peer.dup_acks))
        .raw("local_rtt_ms", |b| rtt(b, &r.local_rtt))
        .raw("out_of_order", |b| {
            pair(b, r.local.out_of_order, r.peer.out_of_order)
        })
        .u64("outstanding", u64::from(r.outstanding))
        .raw("response_ms", |b| window(b, r.response.as_ref(), None))
        .raw("retransmit_rate", |b| {
            let mut p = JsonLine::begin(b);
            for (key, v) in [
                ("local", r.local.retransmit_rate),
                ("peer", r.peer.retransmit_rate),
            ] {
                match v {
                    Some(v) => p.raw(key, |b| short_decimal(b, v, 4)),
                    None => p.null(key),
                };
            }
            p.end();
        })
        .raw("rtt_ms", |b| rtt(b, &r.rtt))
        .u64("slow_responses", r.slow_responses)
        .raw("zero_window_s", |b| {
            let mut p = JsonLine::begin(b);
            p.raw("local", |b| {
                short_decimal(b, r.local.zero_window.as_secs_f64(), 3)
            })
            .raw("peer", |b| {
                short_decimal(b, r.peer.zero_window.as_secs_f64(), 3)
            });
            p.end();
        });
    o.end();
}

/// Non-negative `v` rounded to `places` decimals (half away from zero, as
/// `f64::round`), written without `fmt` or the float formatter: replay
/// writes one summary a connection. `Shortest` trims trailing zeros but
/// keeps one decimal (`40.0`, `40.12`), which is what serde_json writes for
/// the rounded value (the JSON); `Fixed` keeps them all (`5.00`: the text).
fn decimal(buf: &mut Vec<u8>, v: f64, places: u32, form: Form) {
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
    // Digits right to left into a stack buffer, then one copy.
    let mut out = [0u8; 32];
    let mut at = out.len();
    let mut put = |c: u8| {
        at -= 1;
        if let Some(slot) = out.get_mut(at) {
            *slot = c;
        }
    };
    for _ in 0..width {
        put(b'0' + (frac % 10) as u8);
        frac /= 10;
    }
    put(b'.');
    loop {
        put(b'0' + (int % 10) as u8);
        int /= 10;
        if int == 0 {
            break;
        }
    }
    buf.extend_from_slice(out.get(at..).unwrap_or_default());
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
fn short_decimal(buf: &mut Vec<u8>, v: f64, places: u32) {
    decimal(buf, v, places, Form::Shortest);
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
    let text = |buf: &mut Vec<u8>, s: &str| buf.extend_from_slice(s.as_bytes());
    let mut first = true;
    let mut sep = |buf: &mut Vec<u8>| {
        if !first {
            buf.extend_from_slice(b", ");
        }
        first = false;
    };
    if let Some(w) = &r.rtt.window {
        sep(buf);
        text(buf, "rtt p50 ");
        decimal(buf, w.p50_ms, 1, Form::Fixed);
        text(buf, " ms p99 ");
        decimal(buf, w.p99_ms, 1, Form::Fixed);
        text(buf, " ms (floor ");
        decimal(buf, r.rtt.floor_ms.unwrap_or(w.min_ms), 1, Form::Fixed);
        text(buf, ")");
    }
    if let Some(w) = &r.response {
        sep(buf);
        text(buf, "response p50 ");
        decimal(buf, w.p50_ms, 1, Form::Fixed);
        text(buf, " ms p99 ");
        decimal(buf, w.p99_ms, 1, Form::Fixed);
        text(buf, " ms (");
        buf.extend_from_slice(itoa::Buffer::new().format(w.samples).as_bytes());
        text(buf, " samples");
        if w.approximate > 0 {
            text(buf, ", ");
            buf.extend_from_slice(itoa::Buffer::new().format(w.approximate).as_bytes());
            text(buf, " approximate");
        }
        text(buf, ")");
    }
    if r.slow_responses > 0 {
        sep(buf);
        buf.extend_from_slice(itoa::Buffer::new().format(r.slow_responses).as_bytes());
        text(buf, " slow responses");
    }
    for (whose, rate) in [
        ("ours", r.local.retransmit_rate),
        ("the peer's", r.peer.retransmit_rate),
    ] {
        if let Some(x) = rate.filter(|x| *x > 0.0) {
            sep(buf);
            text(buf, "retransmitted ");
            decimal(buf, x * 100.0, 2, Form::Fixed);
            text(buf, " % of ");
            text(buf, whose);
        }
    }
    for (whose, z) in [
        ("our", r.local.zero_window),
        ("the peer's", r.peer.zero_window),
    ] {
        if z.as_nanos() > 0 {
            sep(buf);
            text(buf, whose);
            text(buf, " window closed ");
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
            short_decimal(&mut ours, v, 3);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&v).unwrap()
            );
        }
        let mut ours = Vec::new();
        short_decimal(&mut ours, 0.0125, 4);
        assert_eq!(ours, b"0.0125");
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
