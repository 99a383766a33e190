//! One verdict: the policy judges a link's health, and everything that
//! shows it (the status document, `linewatch check` from the daemon's
//! document and standalone, with and without threshold options, the
//! DogStatsD service check and gauge) says the same, on every fixture,
//! under every `on_silence` / `on_reconnect` / `page_on` setting, at every
//! packet and every second of packet time in between.
//!
//! With threshold options the check replaces only the connection-count
//! rule: with thresholds that never alert, it must say the policy's
//! verdict apart from the count, and that must be the policy's verdict
//! whenever the count did not decide it (the check once ignored
//! `on_silence` there and said CRITICAL where the page said WARNING).

mod common;

use std::fs;

use linewatch::capture::Source;
use linewatch::config::{Config, OnReconnect, OnSilence, PageOn};
use linewatch::emit::statsd::{LineSink, Statsd};
use linewatch::event::Event;
use linewatch::mode::check::{self, judge_doc, judge_link, Range, Target, Thresholds};
use linewatch::pipeline::Pipeline;
use linewatch::policy::{Health, LinkHealth, Notification, Policy, Why};
use linewatch::status::{self, StatusDoc};
use linewatch::time::{Duration, Timestamp};
use serde_json::Value;

/// Thresholds that never alert: the check then says the policy's verdict
/// apart from the count.
fn neutral() -> Thresholds {
    Thresholds {
        established_critical: Some(Range::parse("0:").unwrap()),
        ..Thresholds::default()
    }
}

/// Whether `why` is the connection-count rule (which thresholds replace).
fn about_the_count(why: Why) -> bool {
    matches!(
        why,
        Why::Down | Why::Starting | Why::Short | Why::RecentDrop
    )
}

/// Every fixture with its config.
fn fixtures() -> Vec<(String, std::path::PathBuf, Config)> {
    let mut v = Vec::new();
    for entry in fs::read_dir(common::fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".events.json") else {
            continue;
        };
        let spec: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let capture = common::fixtures().join(spec["capture"].as_str().unwrap());
        let config =
            Config::load(&common::fixtures().join(spec["config"].as_str().unwrap())).unwrap();
        v.push((stem.to_string(), capture, config));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(v.len() >= 15, "fixtures found: {}", v.len());
    v
}

/// The eight combinations of the three per-link settings.
fn settings() -> Vec<(OnSilence, OnReconnect, PageOn)> {
    let mut v = Vec::new();
    for s in [OnSilence::Critical, OnSilence::Warning] {
        for r in [OnReconnect::Warning, OnReconnect::Ok] {
            for p in [PageOn::Critical, PageOn::Warning] {
                v.push((s, r, p));
            }
        }
    }
    v
}

/// The policy, as the daemon runs it, beside the pipeline.
struct Daemonish {
    pipeline: Pipeline,
    policy: Policy,
    events: Vec<Event>,
    pages: Vec<Notification>,
}

impl Daemonish {
    fn feed(&mut self) {
        for e in self.events.drain(..) {
            self.policy.on_event(&e, &mut self.pages);
        }
        drop(self.pipeline.tracker_mut().drain_retired());
    }

    fn advance_to(&mut self, t: Timestamp) {
        self.pipeline.advance_to(t, &mut self.events);
        self.feed();
        self.policy.advance_to(t, &mut self.pages);
    }

    /// The status document as the daemon would write it at `now`.
    fn doc(&self, now: Timestamp) -> (StatusDoc, Vec<LinkHealth>) {
        let health = self.policy.link_health();
        let links = self
            .pipeline
            .tracker()
            .link_views()
            .iter()
            .zip(&health)
            .map(|(v, h)| status::link_doc(v, h, now))
            .collect();
        let doc = StatusDoc {
            version: 1,
            written_at: now.as_secs_f64(),
            started_at: now.as_secs_f64(),
            pid: 1,
            write_interval_s: 1.0,
            links,
            captures: Vec::new(),
            probe: Default::default(),
            evidence: Vec::new(),
        };
        (doc, health)
    }
}

/// The status of `link` in the `_sc|linewatch.link|N|...` line and the
/// `linewatch.link.health` gauge.
fn statsd_says(lines: &[String], link: &str) -> (Option<u8>, Option<u8>) {
    let tag = format!("#link:{link},");
    let sc = lines
        .iter()
        .find(|l| l.starts_with("_sc|linewatch.link|") && l.contains(&tag))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|n| n.parse().ok());
    let gauge = lines
        .iter()
        .find(|l| l.starts_with("linewatch.link.health:") && l.contains(&tag))
        .and_then(|l| l.strip_prefix("linewatch.link.health:"))
        .and_then(|l| l.split('|').next())
        .and_then(|n| n.parse().ok());
    (sc, gauge)
}

/// Holds every rendering of the verdict to the policy's at one instant.
fn hold(at: &str, d: &Daemonish, now: Timestamp) -> usize {
    let (doc, health) = d.doc(now);
    let statsd_sink = LineSink::default();
    let mut statsd = Statsd::with_sink(statsd_sink.clone(), "gw-a");
    statsd.on_status(&doc);
    let lines = statsd_sink.take();
    for (h, l) in health.iter().zip(&doc.links) {
        let at = format!("{at}, link {}", h.name);
        assert_eq!(l.verdict.health, h.verdict.health, "{at}: status document");
        assert_eq!(
            l.verdict.reason, h.verdict.reason,
            "{at}: status document's reason"
        );
        let target = Target::Link(h.name.to_string());
        let plain = judge_doc(&doc, doc.written_at, &target, None, &Thresholds::default())
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(
            plain.state, h.verdict.health,
            "{at}: check: {}",
            plain.summary
        );
        let with = judge_doc(&doc, doc.written_at, &target, None, &neutral())
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        let beyond = if h.verdict.health == Health::Unknown {
            Health::Unknown
        } else {
            h.verdict.beyond_count
        };
        assert_eq!(
            with.state, beyond,
            "{at}: check with thresholds: {}",
            with.summary
        );
        if !about_the_count(h.why) {
            assert_eq!(
                with.state, h.verdict.health,
                "{at}: the count did not decide ({:?}), so thresholds on the count change nothing: {}",
                h.why, with.summary
            );
        }
        let code = Some(h.verdict.health.exit_code());
        assert_eq!(
            statsd_says(&lines, &h.name),
            (code, code),
            "{at}: DogStatsD service check and gauge"
        );
    }
    health.len()
}

#[test]
fn policy_status_check_and_statsd_give_one_verdict_on_every_fixture_and_setting() {
    let step = Duration::from_secs(1);
    let mut held = 0;
    let mut seen = std::collections::BTreeSet::new();
    for (name, capture, base) in fixtures() {
        for (silence, reconnect, page) in settings() {
            let mut config = base.clone();
            for l in &mut config.links {
                l.on_silence = silence;
                l.on_reconnect = reconnect;
                l.page_on = page;
            }
            let tag = format!("{name} ({silence:?}, {reconnect:?}, {page:?})");
            let mut cap = Source::open_file(&capture).unwrap();
            let mut d = Daemonish {
                pipeline: Pipeline::new(cap.link(), &config),
                policy: Policy::new(&config, "gw-a"),
                events: Vec::new(),
                pages: Vec::new(),
            };
            let mut clock: Option<Timestamp> = None;
            let mut n = 0;
            while let Some(frame) = cap.next_frame().unwrap() {
                n += 1;
                if let Some(mut t) = clock {
                    while t.plus(step) < frame.ts {
                        t = t.plus(step);
                        d.advance_to(t);
                        held += hold(&format!("{tag} at {}", t.utc()), &d, t);
                    }
                }
                clock = Some(clock.map_or(frame.ts, |c| c.max(frame.ts)));
                d.pipeline.on_frame(&frame, &mut d.events);
                d.feed();
                let now = d.pipeline.tracker().now();
                held += hold(&format!("{tag} after packet {n}"), &d, now);
                for h in d.policy.link_health() {
                    seen.insert(format!("{:?}/{:?}", h.verdict.health, h.why));
                }
            }
            // The standalone check judges the file at its last packet, with
            // the same pipeline and policy: the same verdict as the
            // daemon's at that moment, for its one link.
            let end = clock.unwrap();
            d.advance_to(end);
            let (doc, health) = d.doc(end);
            let (link, at) = check::replay_link(&capture, &config).unwrap();
            assert_eq!(at, end, "{tag}: standalone judges at the last packet");
            let first = &health[0];
            assert_eq!(
                link.verdict.health, first.verdict.health,
                "{tag}: standalone status"
            );
            assert_eq!(
                link.verdict.reason, doc.links[0].verdict.reason,
                "{tag}: standalone reason"
            );
            let plain = judge_link(&link, 0.0, &Thresholds::default());
            assert_eq!(plain.state, first.verdict.health, "{tag}: standalone check");
            let with = judge_link(&link, 0.0, &neutral());
            if first.verdict.health != Health::Unknown {
                assert_eq!(
                    with.state, first.verdict.beyond_count,
                    "{tag}: standalone check with thresholds"
                );
            }
        }
    }
    assert!(held > 10_000, "instants held: {held}");
    // The walk met every rule that fixtures can reach (capture trouble is
    // the daemon's: see the policy's unit tests).
    for want in [
        "Critical/Down",
        "Critical/AllTroubled",
        "Warning/SomeTroubled",
        "Warning/Short",
        "Ok/Short",
        "Warning/RecentDrop",
        "Unknown/Starting",
        "Ok/Fine",
    ] {
        assert!(seen.contains(want), "no instant with {want}: {seen:?}");
    }
}
