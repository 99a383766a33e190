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

/// Appends `r` as JSON to `buf`.
pub fn write_json(r: &Report, buf: &mut Vec<u8>) {
    // Serialising plain numbers and options into a Vec cannot fail.
    let _ = serde_json::to_writer(buf, &AnalyticsDoc::of(r));
}

/// The timeline's figures of a connection (`rtt p50 40.1 ms (floor 38.2),
/// response p50 151.0 ms p99 800.5 ms (57), retransmit 0.00 %/0.00 %`).
pub fn write_text(r: &Report, buf: &mut Vec<u8>) {
    use std::io::Write as _;
    let mut parts = Vec::new();
    if let (Some(w), floor) = (&r.rtt.window, r.rtt.floor_ms) {
        parts.push(format!(
            "rtt p50 {:.1} ms p99 {:.1} ms (floor {:.1})",
            w.p50_ms,
            w.p99_ms,
            floor.unwrap_or(w.min_ms)
        ));
    }
    if let Some(w) = &r.response {
        let approx = if w.approximate > 0 {
            format!(", {} approximate", w.approximate)
        } else {
            String::new()
        };
        parts.push(format!(
            "response p50 {:.1} ms p99 {:.1} ms ({} samples{approx})",
            w.p50_ms, w.p99_ms, w.samples
        ));
    }
    if r.slow_responses > 0 {
        parts.push(format!("{} slow responses", r.slow_responses));
    }
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.2} %", v * 100.0));
    parts.push(format!(
        "retransmit {} us / {} peer",
        pct(r.local.retransmit_rate),
        pct(r.peer.retransmit_rate)
    ));
    for (who, z) in [("our", r.local.zero_window), ("peer", r.peer.zero_window)] {
        if z.as_nanos() > 0 {
            parts.push(format!("{who} window closed {z}"));
        }
    }
    let _ = write!(buf, "{}", parts.join(", "));
}
