//! The time-sequence graph of a connection (tcptrace's and Wireshark's
//! "Stevens" graph): each side's relative sequence number against time,
//! one colour per direction, FIN, RST, retransmissions and keep-alives
//! marked, the fault's time as a vertical line. Drawn as SVG with
//! `plotters`.

use plotters::prelude::*;

use super::{Affected, Mark};
use crate::event::Side;

/// The colour of what our side sent (its polyline's `stroke`).
pub const LOCAL_COLOUR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// The colour of what the peer sent.
pub const PEER_COLOUR: RGBColor = RGBColor(0xd6, 0x27, 0x28);
/// The colour of the fault's vertical line.
const FAULT_COLOUR: RGBColor = RGBColor(0x44, 0x44, 0x44);

/// Width and height of a graph in pixels.
pub const SIZE: (u32, u32) = (960, 420);

/// The graph of `a` as an SVG document, or why it could not be drawn.
pub fn svg(a: &Affected) -> Result<String, String> {
    let mut out = String::new();
    draw(a, &mut out).map_err(|e| format!("drawing the graph: {e}"))?;
    Ok(out)
}

fn draw(a: &Affected, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = a.points.first().map_or(0, |p| p.ts.as_nanos());
    let x = |ts: crate::time::Timestamp| (ts.as_nanos() - t0) as f64 / 1e9;
    let rel = |p: &super::Point| {
        let isn = match p.from {
            Side::Local => a.isn.0,
            Side::Peer => a.isn.1,
        };
        f64::from(p.seq.wrapping_sub(isn.unwrap_or(p.seq)))
    };
    let x_max = a
        .points
        .iter()
        .map(|p| x(p.ts))
        .chain(a.faults.iter().map(|t| x(*t)))
        .fold(1.0f64, f64::max);
    let y_max = a.points.iter().map(rel).fold(1.0f64, f64::max);
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!("{} <-> {}", a.ends.local, a.ends.peer);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max * 1.02, 0f64..y_max * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("seconds from the first packet shown")
        .y_desc("relative sequence number")
        .draw()?;
    // One polyline per direction (the page's caption says which colour
    // is which: a legend would draw a second, short one per colour).
    for (side, colour) in [(Side::Local, LOCAL_COLOUR), (Side::Peer, PEER_COLOUR)] {
        let pts: Vec<(f64, f64)> = a
            .points
            .iter()
            .filter(|p| p.from == side)
            .map(|p| (x(p.ts), rel(p)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        chart.draw_series(LineSeries::new(pts, colour.stroke_width(2)))?;
    }
    for p in &a.points {
        let at = (x(p.ts), rel(p));
        let colour = match p.from {
            Side::Local => LOCAL_COLOUR,
            Side::Peer => PEER_COLOUR,
        };
        match p.mark {
            Mark::Fin => {
                chart.draw_series(std::iter::once(TriangleMarker::new(at, 8, BLACK.filled())))?;
            }
            Mark::Rst => {
                chart.draw_series(std::iter::once(Cross::new(at, 8, BLACK.stroke_width(3))))?;
            }
            Mark::Retransmission => {
                chart.draw_series(std::iter::once(Circle::new(at, 5, colour.stroke_width(2))))?;
            }
            Mark::KeepAlive => {
                chart.draw_series(std::iter::once(Circle::new(at, 3, colour.filled())))?;
            }
            Mark::Syn | Mark::Data | Mark::Ack => {}
        }
    }
    for t in &a.faults {
        let fx = x(*t);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(fx, 0.0), (fx, y_max * 1.05)],
            FAULT_COLOUR.stroke_width(1),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// The colour of the response-time series.
const RESPONSE_COLOUR: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);

/// Response time against time for `a` (at least two answers), as SVG:
/// the card network's answers getting slower before the fault.
pub fn response_svg(a: &Affected) -> Option<Result<String, String>> {
    let series = a.responses();
    if series.len() < 2 {
        return None;
    }
    let mut out = String::new();
    Some(
        draw_responses(a, &series, &mut out)
            .map(|()| out)
            .map_err(|e| format!("drawing the response-time graph: {e}")),
    )
}

fn draw_responses(
    a: &Affected,
    series: &[(crate::time::Timestamp, f64)],
    out: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = a.points.first().map_or(0, |p| p.ts.as_nanos());
    let x = |ts: crate::time::Timestamp| (ts.as_nanos() - t0) as f64 / 1e9;
    let x_max = series
        .iter()
        .map(|(t, _)| x(*t))
        .chain(a.faults.iter().map(|t| x(*t)))
        .fold(1.0f64, f64::max);
    let y_max = series.iter().map(|(_, ms)| *ms).fold(1.0f64, f64::max);
    let root = SVGBackend::with_string(out, (SIZE.0, SIZE.1 * 2 / 3)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("response time", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max * 1.02, 0f64..y_max * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds from the first packet shown")
        .y_desc("ms")
        .draw()?;
    let pts: Vec<(f64, f64)> = series.iter().map(|(t, ms)| (x(*t), *ms)).collect();
    chart.draw_series(LineSeries::new(
        pts.iter().copied(),
        RESPONSE_COLOUR.stroke_width(1),
    ))?;
    chart.draw_series(
        pts.iter()
            .map(|&p| Circle::new(p, 3, RESPONSE_COLOUR.filled())),
    )?;
    for t in &a.faults {
        let fx = x(*t);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(fx, 0.0), (fx, y_max * 1.1)],
            FAULT_COLOUR.stroke_width(1),
        )))?;
    }
    root.present()?;
    Ok(())
}
