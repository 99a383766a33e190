//! Policy scenarios: fixture timelines in, notifications out.

use std::path::PathBuf;

use super::*;
use crate::event::LinkStatus;
use crate::mode::replay;

fn fixture(name: &str) -> (Vec<Event>, Config) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let config = Config::load(&dir.join("linewatch.toml")).unwrap();
    let r = replay::collect(&dir.join(format!("{name}.pcap")), &config).unwrap();
    (r.events, config)
}

/// Feeds a fixture's events, then lets `extra` seconds pass.
fn run(name: &str, config_edit: impl Fn(&mut Config), extra: i64) -> Vec<Notification> {
    let (events, mut config) = fixture(name);
    config_edit(&mut config);
    let mut p = Policy::new(&config, "gw-a");
    let mut out = Vec::new();
    for e in &events {
        p.on_event(e, &mut out);
    }
    if let Some(last) = events.last() {
        p.advance_to(last.ts.plus(Duration::from_secs(extra)), &mut out);
    }
    out
}

fn actions(n: &[Notification]) -> Vec<(&'static str, String)> {
    n.iter()
        .map(|n| (n.action.name(), n.class.clone()))
        .collect()
}

#[test]
fn fin_from_peer_pages_once_and_resolves_after_the_hold_down() {
    let n = run("iso8583-fin-from-peer", |_| {}, 120);
    assert_eq!(
        actions(&n),
        vec![
            ("trigger", "link_down".to_string()),
            ("resolve", "recovered".to_string())
        ]
    );
    let t = &n[0];
    assert_eq!(t.dedup_key, "linewatch/visa-primary");
    assert_eq!(t.severity, Health::Critical);
    assert_eq!(
        t.summary,
        "visa-primary: peer 203.0.113.10:5000 sent FIN at 02:23:11.291 UTC (the peer itself: ttl 64 as usual for the peer); 0/1 connections established"
    );
    let ev = t.evidence.link().expect("link evidence");
    assert_eq!(ev.from, Some(crate::event::Side::Peer));
    assert_eq!(ev.peer, Some("203.0.113.10:5000".parse().unwrap()));
    assert!(ev.seq.is_some());
    // Resolved hold_down (60 s) after the link came back up.
    let up = fixture("iso8583-fin-from-peer")
        .0
        .into_iter()
        .find(|e| e.kind.name() == "link_up")
        .unwrap();
    assert_eq!(n[1].ts, up.ts.plus(Duration::from_secs(60)));
}

#[test]
fn no_resolve_before_the_hold_down_has_passed() {
    let n = run("iso8583-fin-from-peer", |_| {}, 10);
    assert_eq!(actions(&n), vec![("trigger", "link_down".to_string())]);
}

#[test]
fn a_reset_with_reconnect_within_the_grace_is_a_warning_not_a_page() {
    assert!(run("rst-from-peer", |_| {}, 120).is_empty());
    let n = run(
        "rst-from-peer",
        |c| c.links[0].page_on = PageOn::Warning,
        120,
    );
    assert_eq!(
        actions(&n),
        vec![
            ("trigger", "reset".to_string()),
            ("resolve", "recovered".to_string())
        ]
    );
    assert_eq!(n[0].severity, Health::Warning);
}

#[test]
fn a_line_bouncing_ten_times_in_a_minute_is_one_incident() {
    let (events, _) = fixture("flapping");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind.name() == "link_down")
            .count(),
        10
    );
    // 70 s after the last event (the file's traffic goes on for 80 s).
    let n = run("flapping", |_| {}, 70);
    assert_eq!(
        actions(&n),
        vec![
            ("trigger", "link_down".to_string()),
            ("resolve", "recovered".to_string())
        ],
        "{n:#?}"
    );
}

#[test]
fn black_hole_on_the_only_connection_is_critical() {
    let n = run("black-hole", |_| {}, 120);
    assert_eq!(
        actions(&n),
        vec![
            ("trigger", "black_hole".to_string()),
            ("resolve", "recovered".to_string())
        ]
    );
    assert!(
        n[0].summary
            .contains("has not acknowledged our data for 10s"),
        "{}",
        n[0].summary
    );
}

#[test]
fn silence_on_the_only_connection_is_critical_unless_the_capture_is_degraded() {
    let n = run("silence", |_| {}, 120);
    assert_eq!(
        actions(&n).first(),
        Some(&("trigger", "silence".to_string()))
    );
    // Same silence, seen through a degraded capture: the probe's incident,
    // not the line's.
    let (events, mut config) = fixture("silence");
    config.links[0].interface = Some("eth1".into());
    let mut p = Policy::new(&config, "gw-a");
    let mut out = Vec::new();
    let degraded = Event::probe(
        events[0].ts,
        EventKind::CaptureDegraded {
            interface: "eth1".into(),
            dropped: 100,
        },
    );
    p.on_event(&degraded, &mut out);
    for e in &events {
        p.on_event(e, &mut out);
    }
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].dedup_key, "linewatch-probe/gw-a");
}

#[test]
fn two_probes_of_an_ha_pair_share_the_link_key_but_not_the_probe_key() {
    let config = fixture("rst-from-local").1;
    let a = Policy::new(&config, "gw-a");
    let b = Policy::new(&config, "gw-b");
    assert_eq!(Policy::link_key("visa-primary"), "linewatch/visa-primary");
    assert_ne!(a.probe_key(), b.probe_key());
}

#[test]
fn an_emitter_backlog_is_the_probes_incident_not_the_lines() {
    let (_, config) = fixture("rst-from-local");
    let mut p = Policy::new(&config, "gw-a");
    let mut out = Vec::new();
    let t = Timestamp::from_nanos(1_000_000_000_000);
    let at = |s| t.plus(Duration::from_secs(s));
    p.set_probe_trouble("emitter backlog", || "57 waiting".into(), true, t, &mut out);
    p.set_probe_trouble(
        "emitter backlog",
        || "58 waiting".into(),
        true,
        at(1),
        &mut out,
    );
    assert_eq!(out.len(), 1, "one trigger, not one per check");
    assert_eq!(out[0].dedup_key, "linewatch-probe/gw-a");
    assert_eq!(out[0].action, Action::Trigger);
    assert_eq!(out[0].class, "emitter_backlog");
    assert_eq!(
        out[0].summary,
        "linewatch probe on gw-a: emitter backlog: 57 waiting"
    );
    assert_eq!(p.probe_troubles(), vec!["emitter backlog".to_string()]);
    p.set_probe_trouble(
        "emitter backlog",
        || "0 waiting".into(),
        false,
        at(2),
        &mut out,
    );
    p.advance_to(at(61), &mut out);
    assert_eq!(out.len(), 1, "no resolve before the hold-down");
    p.advance_to(at(70), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].action, Action::Resolve);
    assert_eq!(
        out[1].summary,
        "linewatch probe on gw-a: healthy again (was: linewatch probe on gw-a: emitter backlog: 57 waiting)"
    );
    // The probe's trouble leaves the lines alone: they are still starting.
    assert!(p
        .health()
        .iter()
        .all(|(_, h, why)| *h == Health::Unknown && *why == Why::Starting));
}

/// An event of link `link` (id 0 unless it is `visa-backup`) from the
/// connection on `local_port`, with the link's count after it:
/// `established` connections of which `troubled` are silent, and the
/// tracker's status (up once it counted `expected` connections).
fn ev(
    ts: Timestamp,
    link: &str,
    kind: EventKind,
    local_port: u16,
    (established, troubled, expected): (u32, u32, u32),
) -> Event {
    let mut e = Event::probe(ts, kind);
    let id = LinkId(u32::from(link == "visa-backup"));
    let mut r = crate::event::LinkRef::new(id, Arc::from(link));
    r.count = crate::event::LinkCount {
        established,
        troubled,
        starving: 0,
        degraded: 0,
        status: if established >= expected {
            LinkStatus::Up
        } else {
            LinkStatus::Unknown
        },
    };
    e.link = Some(r);
    e.conn = Some(crate::event::Endpoints {
        local: format!("10.0.0.5:{local_port}").parse().unwrap(),
        peer: "203.0.113.10:5000".parse().unwrap(),
    });
    e
}

fn two_connection_config() -> Config {
    Config::parse(
        "[[link]]\nname = \"visa-primary\"\npeer = [\"203.0.113.10:5000\"]\nexpect_connections = 2\nhold_down = \"60s\"\n",
    )
    .unwrap()
}

#[test]
fn an_incident_stays_open_while_the_link_is_still_in_warning() {
    let mut p = Policy::new(&two_connection_config(), "gw-a");
    let mut out = Vec::new();
    let t = Timestamp::from_nanos(1_000_000_000_000);
    let at = |s| t.plus(Duration::from_secs(s));
    let down = EventKind::LinkDown {
        established: 0,
        expected: 2,
    };
    let up = EventKind::LinkUp {
        established: 2,
        expected: 2,
        down_for: Duration::from_secs(10),
    };
    let silence = EventKind::Silence {
        after: Duration::from_secs(45),
        capture_degraded: false,
    };
    p.on_event(&ev(at(0), "visa-primary", down, 0, (0, 0, 2)), &mut out);
    assert_eq!(actions(&out), vec![("trigger", "link_down".to_string())]);
    p.on_event(
        &ev(at(10), "visa-primary", EventKind::Established, 1, (1, 0, 2)),
        &mut out,
    );
    p.on_event(
        &ev(at(10), "visa-primary", EventKind::Established, 2, (2, 0, 2)),
        &mut out,
    );
    p.on_event(&ev(at(10), "visa-primary", up, 0, (2, 0, 2)), &mut out);
    // One of the two connections goes silent: WARNING, below page_on.
    p.on_event(&ev(at(20), "visa-primary", silence, 1, (2, 1, 2)), &mut out);
    assert_eq!(p.health()[0].1, Health::Warning);
    p.advance_to(at(300), &mut out);
    assert_eq!(
        out.len(),
        1,
        "no resolve while the link is in WARNING: {out:?}"
    );
    // The silence ends: OK; the resolve follows once calm for the hold-down.
    let ended = EventKind::SilenceEnded {
        silent_for: Duration::from_secs(280),
    };
    p.on_event(&ev(at(300), "visa-primary", ended, 1, (2, 0, 2)), &mut out);
    assert_eq!(p.health()[0].1, Health::Ok);
    p.advance_to(at(301), &mut out);
    assert_eq!(
        actions(&out),
        vec![
            ("trigger", "link_down".to_string()),
            ("resolve", "recovered".to_string())
        ],
        "calm since 10 s (past the hold-down), OK since 300 s"
    );
    assert_eq!(out[1].ts, at(300));
}

#[test]
fn a_reload_keeps_open_incidents_pages_new_links_and_resolves_removed_ones() {
    let t = Timestamp::from_nanos(1_000_000_000_000);
    let at = |s| t.plus(Duration::from_secs(s));
    let mut p = Policy::new(&two_connection_config(), "gw-a");
    let mut out = Vec::new();
    let down = |n| EventKind::LinkDown {
        established: 0,
        expected: n,
    };
    p.on_event(&ev(at(0), "visa-primary", down(2), 0, (0, 0, 2)), &mut out);
    assert_eq!(out.len(), 1);
    // Reload: visa-primary stays (now expecting 1), visa-backup is new.
    let both = Config::parse(
        "[[link]]\nname = \"visa-primary\"\npeer = [\"203.0.113.10:5000\"]\n\n[[link]]\nname = \"visa-backup\"\npeer = [\"203.0.113.20:5000\"]\n",
    )
    .unwrap();
    p.reconfigure(&both, at(1), &mut out);
    assert_eq!(out.len(), 1, "a kept link's incident is not paged again");
    assert_eq!(p.open_incidents().len(), 1);
    p.on_event(&ev(at(2), "visa-backup", down(1), 0, (0, 0, 1)), &mut out);
    assert_eq!(out.len(), 2, "the link added by the reload pages");
    assert_eq!(out[1].dedup_key, "linewatch/visa-backup");
    // Reload without visa-primary: its open incident is resolved.
    let backup_only =
        Config::parse("[[link]]\nname = \"visa-backup\"\npeer = [\"203.0.113.20:5000\"]\n")
            .unwrap();
    p.reconfigure(&backup_only, at(3), &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].dedup_key, "linewatch/visa-primary");
    assert_eq!(out[2].action, Action::Resolve);
    assert_eq!(out[2].class, "unwatched");
    assert_eq!(p.open_incidents().len(), 1);
    assert_eq!(p.health().len(), 1);
}

#[test]
fn a_restored_incident_pages_again_if_the_link_still_fails_and_resolves_if_not() {
    let t = Timestamp::from_nanos(1_000_000_000_000);
    let at = |s| t.plus(Duration::from_secs(s));
    let inherited = vec![OpenIncident {
        dedup_key: "linewatch/visa-primary".into(),
        link: Some("visa-primary".into()),
        severity: Health::Critical,
        cause: "visa-primary: peer sent FIN".into(),
    }];
    let down = EventKind::LinkDown {
        established: 0,
        expected: 2,
    };
    // Still down after the restart: the trigger goes out again, once.
    let mut p = Policy::new(&two_connection_config(), "gw-a");
    p.restore(&inherited);
    let mut out = Vec::new();
    p.on_event(
        &ev(at(0), "visa-primary", down.clone(), 0, (0, 0, 2)),
        &mut out,
    );
    p.on_event(&ev(at(1), "visa-primary", down, 0, (0, 0, 2)), &mut out);
    assert_eq!(actions(&out), vec![("trigger", "link_down".to_string())]);
    assert_eq!(out[0].dedup_key, "linewatch/visa-primary");
    // Healthy after the restart: no trigger, the resolve after hold_down.
    let mut p = Policy::new(&two_connection_config(), "gw-a");
    p.restore(&inherited);
    let mut out = Vec::new();
    for port in [1, 2] {
        p.on_event(
            &ev(
                at(0),
                "visa-primary",
                EventKind::Established,
                port,
                (u32::from(port), 0, 2),
            ),
            &mut out,
        );
    }
    p.advance_to(at(61), &mut out);
    assert_eq!(actions(&out), vec![("resolve", "recovered".to_string())]);
}

#[test]
fn a_page_names_the_router_that_reported_the_path_broken() {
    let (events, config) = fixture("icmp-unreachable");
    let mut p = Policy::new(&config, "gw-a");
    let mut out = Vec::new();
    for e in &events {
        p.on_event(e, &mut out);
    }
    // One connection, black-holed: critical, paged, with the ICMP evidence.
    let t = out.first().expect("a page");
    assert_eq!(t.action, Action::Trigger);
    assert_eq!(t.class, "black_hole");
    assert!(
        t.summary
            .ends_with("; router 198.51.100.1 reported destination unreachable (host unreachable)"),
        "{}",
        t.summary
    );
    let icmp = t
        .evidence
        .link()
        .and_then(|e| e.icmp_error.as_ref())
        .unwrap();
    assert_eq!(icmp.router.to_string(), "198.51.100.1");
    assert_eq!(icmp.icmp_code, 1);
}

#[test]
fn summaries_are_cut_at_1024_bytes_on_a_character_boundary() {
    let mut s = "é".repeat(600); // 1200 bytes
    truncate_chars(&mut s, 1024);
    assert_eq!(s.len(), 1024);
    let mut s = format!("x{}", "é".repeat(600));
    truncate_chars(&mut s, 1024);
    assert_eq!(s.len(), 1023);
}

#[test]
fn health_rules_are_overridable_per_link() {
    use crate::config::{OnReconnect, OnSilence, PageOn};
    // A RST with a reconnect within the grace: a WARNING (paged with
    // page_on = "warning") unless the link says reconnects are routine.
    let warn = |c: &mut Config| c.links[0].page_on = PageOn::Warning;
    let n = run("rst-from-peer", warn, 120);
    assert_eq!(
        actions(&n),
        vec![
            ("trigger", "reset".to_string()),
            ("resolve", "recovered".to_string())
        ]
    );
    let routine = |c: &mut Config| {
        c.links[0].page_on = PageOn::Warning;
        c.links[0].on_reconnect = OnReconnect::Ok;
    };
    assert!(run("rst-from-peer", routine, 120).is_empty());
    // Silence on the only connection: CRITICAL, unless the link may go quiet.
    let n = run("silence", |_| {}, 120);
    assert_eq!(n.first().map(|n| n.class.as_str()), Some("silence"));
    assert_eq!(n.first().map(|n| n.severity), Some(Health::Critical));
    let quiet = |c: &mut Config| c.links[0].on_silence = OnSilence::Warning;
    assert!(run("silence", quiet, 120).is_empty());
}

#[test]
fn a_firewalls_reset_pages_as_a_middlebox_with_its_distance() {
    let n = run(
        "attribution-firewall-idle-rst",
        |c| c.links[0].page_on = PageOn::Warning,
        120,
    );
    let t = n.first().expect("a page");
    assert!(
        t.summary.starts_with("visa-primary: RST in the name of 203.0.113.10:5000 at 02:15:47.019 UTC came from a middlebox about 10 hops nearer (TTL 62, usual 52), not from the peer; "),
        "{}",
        t.summary
    );
    let a = t
        .evidence
        .link()
        .and_then(|e| e.attribution.clone())
        .expect("attribution");
    assert_eq!(a.sender, "middlebox");
    assert_eq!(
        (a.ttl, a.ttl_usual, a.hops_nearer),
        (Some(62), Some(52), Some(10))
    );
    assert_eq!(a.reasons.len(), 3, "{:?}", a.reasons);
}

#[test]
fn a_revised_attribution_updates_the_open_incident_under_its_key() {
    let n = run(
        "attribution-lost-race",
        |c| c.links[0].page_on = PageOn::Warning,
        120,
    );
    let classes = actions(&n);
    let first = classes
        .iter()
        .position(|(a, _)| *a == "trigger")
        .expect("a trigger");
    let revised = n
        .iter()
        .position(|x| x.class == "attribution_revised")
        .expect("an update");
    assert!(first < revised, "{classes:?}");
    assert!(
        n[first].summary.contains("sender unknown"),
        "{}",
        n[first].summary
    );
    let u = &n[revised];
    assert_eq!(u.action, Action::Trigger);
    assert_eq!(u.dedup_key, n[first].dedup_key);
    assert!(
        u.summary.starts_with("revised: visa-primary: RST in the name of 203.0.113.10:5000 at 02:14:09.111 UTC came from a middlebox (the peer kept sending after the RST (1 segment): the sender lost the race), not from the peer"),
        "{}",
        u.summary
    );
    let a = u
        .evidence
        .link()
        .and_then(|e| e.attribution.clone())
        .expect("attribution");
    assert_eq!(a.sender, "middlebox");
}

/// Feeds a fixture's events with the clock moved before each (as replay
/// and the daemon do), then `extra` seconds more.
fn run_ticking(events: &[Event], config: &Config, extra: i64) -> Vec<Notification> {
    let mut p = Policy::new(config, "gw-a");
    let mut out = Vec::new();
    for e in events {
        p.advance_to(e.ts, &mut out);
        p.on_event(e, &mut out);
    }
    if let Some(last) = events.last() {
        p.advance_to(last.ts.plus(Duration::from_secs(extra)), &mut out);
    }
    out
}

fn window(from: Timestamp, to: Timestamp) -> Window {
    Window {
        link: "visa-primary".into(),
        from,
        to,
        reason: "carrier CHG-1234".into(),
    }
}

fn ts_of(events: &[Event], kind: &str) -> Timestamp {
    events
        .iter()
        .find(|e| e.kind.name() == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
        .ts
}

#[test]
fn a_fault_inside_a_maintenance_window_does_not_page() {
    let (events, mut config) = fixture("iso8583-fin-from-peer");
    let (first, up) = (events[0].ts, ts_of(&events, "link_up"));
    // The FIN, the link down and its recovery all inside the window.
    config.maintenance = vec![window(first, up.plus(Duration::from_secs(1)))];
    assert!(run_ticking(&events, &config, 600).is_empty());
    // The verdict says so while the window lasts.
    let mut p = Policy::new(&config, "gw-a");
    let mut out = Vec::new();
    for e in events.iter().take_while(|e| e.ts < up) {
        p.advance_to(e.ts, &mut out);
        p.on_event(e, &mut out);
    }
    let h = &p.link_health()[0];
    assert_eq!(
        h.verdict.health,
        Health::Critical,
        "the link is down all the same"
    );
    let m = h.verdict.maintenance.as_ref().expect("in maintenance");
    assert_eq!(m.reason, "carrier CHG-1234");
    assert!(out.is_empty());
}

#[test]
fn a_fault_that_outlasts_the_window_pages_when_it_ends() {
    let (events, mut config) = fixture("iso8583-fin-from-peer");
    let (first, down, up) = (
        events[0].ts,
        ts_of(&events, "link_down"),
        ts_of(&events, "link_up"),
    );
    assert!(
        up.since(down) > Duration::from_secs(2),
        "the fixture's outage"
    );
    let end = down.plus(Duration::from_secs(1));
    config.maintenance = vec![window(first, end)];
    let n = run_ticking(&events, &config, 600);
    assert_eq!(
        actions(&n),
        vec![
            ("trigger", "link_down".to_string()),
            ("resolve", "recovered".to_string())
        ]
    );
    assert!(n[0].ts >= end, "paged at the window's end, not before");
    assert!(
        n[0].summary.contains("held during maintenance until")
            && n[0].summary.contains("carrier CHG-1234"),
        "{}",
        n[0].summary
    );
}

#[test]
fn a_page_open_before_the_window_stays_and_resolves_as_usual() {
    let (events, mut config) = fixture("iso8583-fin-from-peer");
    let without = run_ticking(&events, &config, 600);
    let down = ts_of(&events, "link_down");
    config.maintenance = vec![window(
        down.plus(Duration::from_secs(1)),
        down.plus(Duration::from_secs(86_400)),
    )];
    let with = run_ticking(&events, &config, 600);
    assert_eq!(actions(&with), actions(&without));
    assert_eq!(with[1].ts, without[1].ts);
}

#[test]
fn a_reloaded_config_brings_its_maintenance_windows() {
    let (events, config) = fixture("iso8583-fin-from-peer");
    let mut p = Policy::new(&config, "gw-a");
    let at = events[0].ts;
    assert!(p.window_at("visa-primary", at).is_none());
    let mut reloaded = config.clone();
    reloaded.maintenance = vec![window(at, at.plus(Duration::from_secs(60)))];
    let mut out = Vec::new();
    p.reconfigure(&reloaded, at, &mut out);
    assert_eq!(
        p.window_at("visa-primary", at).map(|w| w.reason.as_str()),
        Some("carrier CHG-1234")
    );
    // And the state directory's windows sit beside the config's.
    p.set_file_windows(vec![Window {
        reason: "from the command".into(),
        ..window(at, at.plus(Duration::from_secs(3600)))
    }]);
    assert_eq!(
        p.window_at("visa-primary", at).map(|w| w.reason.as_str()),
        Some("from the command"),
        "of overlapping windows, the one that ends last"
    );
}
