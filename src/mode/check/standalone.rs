//! The standalone check, on a host without the daemon: the same pipeline
//! and policy as the daemon, over a capture file or a short live capture,
//! judged at the end.

use std::path::Path;
use std::time::{Duration as StdDuration, Instant};

use crate::capture::live::CaptureSpec;
use crate::capture::{CaptureError, Source};
use crate::clock::wall_now;
use crate::config::Config;
use crate::decode::{Frame, LinkType};
use crate::event::Event;
use crate::pipeline::Pipeline;
use crate::policy::{Notification, Policy};
use crate::status::{self, LinkDoc};
use crate::time::Timestamp;

use super::error::CheckError;

/// The wall clock, seconds since the epoch.
pub(super) fn wall_secs() -> f64 {
    wall_now().as_secs_f64()
}

/// The pipeline and the policy, as the daemon runs them: the policy is fed
/// every event and judges the link, as it does for the daemon's status
/// document.
struct Judged {
    pipeline: Pipeline,
    policy: Policy,
    events: Vec<Event>,
    pages: Vec<Notification>,
}

impl Judged {
    fn new(link: LinkType, config: &Config) -> Judged {
        Judged {
            pipeline: Pipeline::new(link, config),
            policy: Policy::new(config, "linewatch-check"),
            events: Vec::new(),
            pages: Vec::new(),
        }
    }

    fn on_frame(&mut self, frame: &Frame<'_>) {
        self.pipeline.on_frame(frame, &mut self.events);
        self.hand_over();
    }

    fn advance_to(&mut self, now: Timestamp) {
        self.pipeline.advance_to(now, &mut self.events);
        self.hand_over();
        self.policy.advance_to(now, &mut self.pages);
        self.pages.clear();
    }

    fn hand_over(&mut self) {
        for e in self.events.drain(..) {
            self.policy.on_event(&e, &mut self.pages);
        }
        self.pages.clear();
        drop(self.pipeline.tracker_mut().drain_retired());
    }

    /// The one link as of `now`.
    fn link(&self, now: Timestamp) -> Result<LinkDoc, CheckError> {
        let views = self.pipeline.tracker().link_views();
        let health = self.policy.link_health();
        views
            .first()
            .zip(health.first())
            .map(|(v, h)| status::link_doc(v, h, now))
            .ok_or_else(|| CheckError::Internal("no link configured".into()))
    }
}

/// Reads `file` through the pipeline and the policy; the link as of its
/// last packet.
pub fn replay_link(file: &Path, config: &Config) -> Result<(LinkDoc, Timestamp), CheckError> {
    let mut cap = Source::open_file(file)?;
    let mut j = Judged::new(cap.link(), config);
    while let Some(frame) = cap.next_frame()? {
        j.on_frame(&frame);
    }
    let (_, last) = j.pipeline.front().span();
    let now = last.ok_or_else(|| CheckError::EmptyCapture(file.to_path_buf()))?;
    j.advance_to(now);
    Ok((j.link(now)?, now))
}

/// Captures live for `duration` on the config's one interface; the link
/// as of the end of the capture.
pub fn capture_link(
    config: &Config,
    duration: StdDuration,
) -> Result<(LinkDoc, Timestamp), CheckError> {
    let spec = CaptureSpec::for_links(&config.links)
        .into_iter()
        .next()
        .ok_or_else(|| CheckError::Internal("no interface configured".into()))?;
    let fail = |e: CaptureError| CheckError::Capture {
        interface: spec.interface.clone(),
        message: match e {
            CaptureError::Interface { message, .. } => message,
            other => other.to_string(),
        },
    };
    let mut cap = Source::open_live(&spec).map_err(fail)?;
    let mut j = Judged::new(cap.link(), config);
    j.advance_to(wall_now());
    let end = Instant::now() + duration;
    while Instant::now() < end {
        match cap.next_frame().map_err(fail)? {
            Some(frame) => j.on_frame(&frame),
            None => {
                let left = end.saturating_duration_since(Instant::now());
                cap.wait_readable(left.min(StdDuration::from_millis(50)))
                    .map_err(fail)?;
            }
        }
    }
    let now = wall_now();
    j.advance_to(now);
    Ok((j.link(now)?, now))
}
