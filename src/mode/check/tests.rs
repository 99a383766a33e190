use std::time::Duration as StdDuration;

use super::*;
use crate::policy::Verdict;
use crate::status::{CaptureDoc, ConnectionDoc, LinkDoc, StatusDoc};

fn conn(state: &str, idle_s: f64) -> ConnectionDoc {
    ConnectionDoc {
        local: "10.0.0.5:40123".into(),
        peer: "203.0.113.10:5000".into(),
        state: state.into(),
        since: 1000.0,
        up_since: Some(1000.0),
        last_packet: 2000.0 - idle_s,
        last_from_local: Some(2000.0 - idle_s),
        last_from_peer: Some(2000.0 - idle_s),
        idle_s,
        packets_local: 10,
        packets_peer: 12,
        retransmissions_local: 0,
        retransmissions_peer: 0,
        silent: false,
        black_hole: false,
        analytics: None,
    }
}

fn link(name: &str, health: Health, established: u32, conns: Vec<ConnectionDoc>) -> LinkDoc {
    LinkDoc {
        name: name.into(),
        interface: Some("eth1".into()),
        status: if health == Health::Critical {
            "down".into()
        } else {
            "up".into()
        },
        verdict: Verdict {
            health,
            reason: format!("{established}/1 connections established"),
            beyond_count: Health::Ok,
            beyond_count_reason: None,
            incident: None,
            maintenance: None,
        },
        established,
        expected: 1,
        down_since: None,
        last_close: None,
        connections: conns,
    }
}

fn ok_link(name: &str) -> LinkDoc {
    link(name, Health::Ok, 1, vec![conn("established", 2.0)])
}

fn doc(written_at: f64, links: Vec<LinkDoc>) -> StatusDoc {
    StatusDoc {
        version: 1,
        written_at,
        started_at: written_at - 3600.0,
        pid: 4242,
        write_interval_s: 1.0,
        links,
        captures: vec![CaptureDoc {
            interface: "eth1".into(),
            state: "running".into(),
            ..CaptureDoc::default()
        }],
        probe: Default::default(),
        evidence: Vec::new(),
    }
}

fn r(s: &str) -> Option<Range> {
    Some(Range::parse(s).unwrap())
}

fn one(name: &str) -> Target {
    Target::Link(name.into())
}

const NOW: f64 = 1_773_454_400.0;

// ---- health mode: the daemon decides ----

#[test]
fn without_thresholds_the_daemons_health_decides() {
    for (h, code) in [
        (Health::Ok, 0),
        (Health::Warning, 1),
        (Health::Critical, 2),
        (Health::Unknown, 3),
    ] {
        let mut l = ok_link("visa-primary");
        l.verdict.health = h;
        l.verdict.reason = "because".into();
        let o = judge_doc(
            &doc(NOW, vec![l]),
            NOW,
            &one("visa-primary"),
            None,
            &Thresholds::default(),
        );
        assert_eq!(exit_code(&o), code, "{h:?}");
        let o = o.unwrap();
        assert!(o
            .summary
            .starts_with("visa-primary: 1/1 connections established, because"));
    }
}

#[test]
fn critical_link_reports_who_ended_the_connection() {
    let mut c = conn("fin_from_peer", 40.0);
    c.up_since = Some(1000.0);
    let l = link("visa-primary", Health::Critical, 0, vec![c]);
    let o = judge_doc(
        &doc(NOW - 2.0, vec![l]),
        NOW,
        &one("visa-primary"),
        None,
        &Thresholds::default(),
    )
    .unwrap();
    assert_eq!(o.state, Health::Critical);
    assert_eq!(
        o.summary,
        "visa-primary: 0/1 connections established, peer 203.0.113.10:5000 sent FIN, last packet 42s ago"
    );
    let text = o.render();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("LINEWATCH CRITICAL - visa-primary: 0/1"));
    assert!(first.ends_with(
        "| 'established'=0;;;0;1 'idle'=U;;;0 'retransmits'=0c;;;0 'rtt'=U;;;0 'response'=U;;;0 'retransmit_rate'=U;;;0;100"
    ), "{first}");
    assert!(text.contains("\n10.0.0.5:40123 -> 203.0.113.10:5000 fin_from_peer, idle 42s"));
    assert!(text.contains("status written 2.0s ago by pid 4242"));
}

#[test]
fn reason_beyond_the_count_is_kept_in_the_summary() {
    let mut l = link(
        "visa-primary",
        Health::Warning,
        0,
        vec![conn("reset_by_peer", 1.0)],
    );
    l.verdict.reason = "0/1 connections established, within the reconnect grace".into();
    let o = judge_doc(
        &doc(NOW, vec![l]),
        NOW,
        &one("visa-primary"),
        None,
        &Thresholds::default(),
    )
    .unwrap();
    assert_eq!(o.state, Health::Warning);
    assert_eq!(
        o.summary,
        "visa-primary: 0/1 connections established, within the reconnect grace, peer 203.0.113.10:5000 sent RST 1.0s ago"
    );
}

// ---- threshold mode ----

#[test]
fn established_critical_defaults_to_one_with_thresholds_and_replaces_the_grace() {
    let mut l = link("visa-primary", Health::Warning, 0, vec![]);
    l.verdict.reason = "0/1 connections established, within the reconnect grace".into();
    let t = Thresholds {
        idle_critical: r("60"),
        ..Thresholds::default()
    };
    let o = judge_doc(&doc(NOW, vec![l]), NOW, &one("visa-primary"), None, &t).unwrap();
    assert_eq!(o.state, Health::Critical);
    assert!(
        o.summary.contains("established 0 (critical range 1:)"),
        "{}",
        o.summary
    );
    assert_eq!(o.perfdata[0].render(), "'established'=0;;1:;0;1");
    assert_eq!(o.perfdata[1].render(), "'idle'=U;;60;0");
}

#[test]
fn established_thresholds_override_the_daemons_count_verdict() {
    // Two expected, one up past the grace: the daemon says CRITICAL (down);
    // the admin says one is only a warning.
    let mut l = link(
        "visa-primary",
        Health::Critical,
        1,
        vec![conn("established", 1.0)],
    );
    l.expected = 2;
    l.status = "down".into();
    let t = Thresholds {
        established_warning: r("2:"),
        established_critical: r("1:"),
        ..Thresholds::default()
    };
    let d = doc(NOW, vec![l]);
    let o = judge_doc(&d, NOW, &one("visa-primary"), None, &t).unwrap();
    assert_eq!(o.state, Health::Warning, "{}", o.summary);
    assert!(o.summary.contains("established 1 (warning range 2:)"));
    assert_eq!(o.perfdata[0].render(), "'established'=1;2:;1:;0;2");
    // An inverted range: alert while 1..=1 established.
    let t = Thresholds {
        established_critical: r("@1:1"),
        ..Thresholds::default()
    };
    let o = judge_doc(&d, NOW, &one("visa-primary"), None, &t).unwrap();
    assert_eq!(o.state, Health::Critical);
}

#[test]
fn silence_and_black_holes_still_count_with_thresholds() {
    let mut c = conn("established", 50.0);
    c.silent = true;
    let mut l = link("visa-primary", Health::Critical, 1, vec![c]);
    l.status = "up".into();
    l.verdict.beyond_count = Health::Critical;
    l.verdict.beyond_count_reason =
        Some("1 of 1 established connections silent or black-holed".into());
    let t = Thresholds {
        retransmits_critical: r("100"),
        ..Thresholds::default()
    };
    let o = judge_doc(
        &doc(NOW, vec![l.clone()]),
        NOW,
        &one("visa-primary"),
        None,
        &t,
    )
    .unwrap();
    assert_eq!(o.state, Health::Critical);
    assert!(o
        .summary
        .contains("1 of 1 established connections silent or black-holed"));
    assert!(o.summary.contains("last packet 50s ago"));
    // The policy's verdict apart from the count is what the thresholds
    // sit on: a degraded capture makes a lone silence a warning there.
    l.verdict.beyond_count = Health::Warning;
    l.verdict.beyond_count_reason = Some("capture degraded: the probe is losing packets".into());
    let d = doc(NOW, vec![l]);
    let o = judge_doc(&d, NOW, &one("visa-primary"), None, &t).unwrap();
    assert_eq!(o.state, Health::Warning, "{}", o.summary);
    assert!(o.summary.contains("capture degraded"));
}

#[test]
fn idle_is_the_largest_among_established_connections_plus_the_docs_age() {
    let l = link(
        "visa-primary",
        Health::Ok,
        1,
        vec![
            conn("established", 20.0),
            conn("established", 3.0),
            conn("closed", 500.0),
        ],
    );
    let t = Thresholds {
        idle_warning: r("30"),
        idle_critical: r("60"),
        ..Thresholds::default()
    };
    // Written 5 s ago with idle 20 s: 25 s, fine.
    let o = judge_doc(
        &doc(NOW - 5.0, vec![l.clone()]),
        NOW,
        &one("visa-primary"),
        None,
        &t,
    )
    .unwrap();
    assert_eq!(o.state, Health::Ok);
    assert_eq!(o.perfdata[1].render(), "'idle'=25s;30;60;0");
    // Written 15 s ago (within an explicit max age of 20 s): 35 s.
    let o = judge_doc(
        &doc(NOW - 15.0, vec![l]),
        NOW,
        &one("visa-primary"),
        Some(20.0),
        &t,
    )
    .unwrap();
    assert_eq!(o.state, Health::Warning);
    assert!(
        o.summary.contains("idle 35s (warning range 30)"),
        "{}",
        o.summary
    );
}

#[test]
fn retransmissions_are_summed_over_both_sides_and_connections() {
    let mut a = conn("established", 1.0);
    a.retransmissions_local = 3;
    a.retransmissions_peer = 1;
    let mut b = conn("reset_by_peer", 1.0);
    b.retransmissions_local = 2;
    let l = link("visa-primary", Health::Ok, 1, vec![a, b]);
    let t = Thresholds {
        retransmits_warning: r("5"),
        retransmits_critical: r("10"),
        ..Thresholds::default()
    };
    let o = judge_doc(&doc(NOW, vec![l]), NOW, &one("visa-primary"), None, &t).unwrap();
    assert_eq!(o.state, Health::Warning);
    assert_eq!(o.perfdata[2].render(), "'retransmits'=6c;5;10;0");
}

#[test]
fn daemon_unknown_stays_unknown_whatever_the_thresholds() {
    let mut l = link("visa-primary", Health::Unknown, 0, vec![]);
    l.verdict.reason = "capture lost on eth1: the probe cannot see the line".into();
    let t = Thresholds {
        established_critical: r("1:"),
        ..Thresholds::default()
    };
    let o = judge_doc(&doc(NOW, vec![l]), NOW, &one("visa-primary"), None, &t).unwrap();
    assert_eq!(o.state, Health::Unknown);
    assert!(o.summary.contains("capture lost on eth1"));
}

// ---- UNKNOWN causes ----

#[test]
fn stale_document_is_unknown_with_default_and_explicit_max_age() {
    assert_eq!(default_max_age(1.0), 8.0);
    assert_eq!(default_max_age(5.0), 20.0);
    let d = doc(NOW - 9.0, vec![ok_link("visa-primary")]);
    let e = judge_doc(&d, NOW, &one("visa-primary"), None, &Thresholds::default());
    assert_eq!(exit_code(&e), 3);
    let msg = e.unwrap_err().to_string();
    assert!(
        msg.contains("9.0s old (limit 8.0s)") && msg.contains("pid 4242"),
        "{msg}"
    );
    let ok = judge_doc(
        &d,
        NOW,
        &one("visa-primary"),
        Some(10.0),
        &Thresholds::default(),
    );
    assert_eq!(exit_code(&ok), 0);
    let e = judge_doc(
        &d,
        NOW,
        &one("visa-primary"),
        Some(2.0),
        &Thresholds::default(),
    );
    assert!(matches!(e, Err(CheckError::Stale { .. })));
}

#[test]
fn document_from_the_future_is_unknown() {
    let d = doc(NOW + 60.0, vec![ok_link("visa-primary")]);
    let e = judge_doc(&d, NOW, &one("visa-primary"), None, &Thresholds::default());
    assert!(matches!(e, Err(CheckError::Future(_))));
    // A little skew is fine.
    let d = doc(NOW + 1.0, vec![ok_link("visa-primary")]);
    let o = judge_doc(&d, NOW, &one("visa-primary"), None, &Thresholds::default());
    assert_eq!(exit_code(&o), 0);
}

#[test]
fn unknown_link_is_unknown_and_names_the_known_ones() {
    let d = doc(NOW, vec![ok_link("visa-primary"), ok_link("visa-backup")]);
    let e = judge_doc(&d, NOW, &one("mastercard"), None, &Thresholds::default());
    assert_eq!(exit_code(&e), 3);
    let o = outcome_of(e);
    assert_eq!(
        o.render(),
        "LINEWATCH UNKNOWN - link `mastercard` is not in the status document (links: visa-primary, visa-backup)\n"
    );
    let e = judge_doc(
        &doc(NOW, vec![]),
        NOW,
        &Target::All,
        None,
        &Thresholds::default(),
    );
    assert!(matches!(e, Err(CheckError::NoLinks)));
}

#[test]
fn usage_errors_print_the_usage_lines() {
    let o = outcome_of(Err(CheckError::Usage("bad".into())));
    let text = o.render();
    assert!(text.starts_with(
        "LINEWATCH UNKNOWN - invalid arguments: bad\nUsage: linewatch check --link NAME"
    ));
    assert!(
        !text.contains('|'),
        "a pipe in long output would start perfdata"
    );
}

// ---- --all ----

#[test]
fn all_reports_the_worst_link_with_prefixed_perfdata() {
    let mut bad = link(
        "visa-backup",
        Health::Critical,
        0,
        vec![conn("reset_by_peer", 3.0)],
    );
    bad.status = "down".into();
    let d = doc(NOW, vec![ok_link("visa-primary"), bad]);
    let o = judge_doc(&d, NOW, &Target::All, None, &Thresholds::default()).unwrap();
    assert_eq!(o.state, Health::Critical);
    assert_eq!(
        o.summary,
        "CRITICAL visa-backup: 0/1 connections established, peer 203.0.113.10:5000 sent RST 3.0s ago; 1/2 links OK"
    );
    let labels: Vec<&str> = o.perfdata.iter().map(|p| p.label.as_str()).collect();
    // "visa-primary retransmits" and "visa-primary retransmit_rate"
    // share their first 19 characters: the labels fall back to
    // `metric N link`.
    assert_eq!(
        labels,
        [
            "established 1 visa-primary",
            "idle 1 visa-primary",
            "retransmits 1 visa-primary",
            "rtt 1 visa-primary",
            "response 1 visa-primary",
            "retransmit_rate 1 visa-primary",
            "established 2 visa-backup",
            "idle 2 visa-backup",
            "retransmits 2 visa-backup",
            "rtt 2 visa-backup",
            "response 2 visa-backup",
            "retransmit_rate 2 visa-backup"
        ]
    );
    assert_eq!(o.long[0], "[OK] visa-primary: 1/1 connections established");
    assert!(o.long[1].starts_with("  10.0.0.5:40123 -> 203.0.113.10:5000 established"));
    assert!(o
        .long
        .iter()
        .any(|l| l.starts_with("[CRITICAL] visa-backup")));
    let all_ok = judge_doc(
        &doc(NOW, vec![ok_link("a"), ok_link("b")]),
        NOW,
        &Target::All,
        None,
        &Thresholds::default(),
    )
    .unwrap();
    assert_eq!(all_ok.state, Health::Ok);
    assert_eq!(all_ok.summary, "2/2 links OK");
}

#[test]
fn worst_ranks_critical_over_warning_over_unknown_over_ok() {
    assert_eq!(Health::Unknown.worst(Health::Critical), Health::Critical);
    assert_eq!(Health::Warning.worst(Health::Unknown), Health::Warning);
    assert_eq!(Health::Ok.worst(Health::Unknown), Health::Unknown);
    assert_eq!(Health::Ok.worst(Health::Ok), Health::Ok);
    let mut u = ok_link("b");
    u.verdict.health = Health::Unknown;
    let o = judge_doc(
        &doc(NOW, vec![ok_link("a"), u]),
        NOW,
        &Target::All,
        None,
        &Thresholds::default(),
    )
    .unwrap();
    assert_eq!(o.state, Health::Unknown);
}

#[test]
fn long_link_names_fall_back_to_unique_labels() {
    let d = doc(
        NOW,
        vec![
            ok_link("visa-primary-frankfurt-1"),
            ok_link("visa-primary-frankfurt-2"),
        ],
    );
    let o = judge_doc(&d, NOW, &Target::All, None, &Thresholds::default()).unwrap();
    let mut heads: Vec<String> = o
        .perfdata
        .iter()
        .map(|p| p.label.chars().take(19).collect())
        .collect();
    assert_eq!(
        o.perfdata[0].label,
        "established 1 visa-primary-frankfurt-1"
    );
    heads.sort();
    heads.dedup();
    assert_eq!(heads.len(), 12);
}

// ---- perfdata and output ----

#[test]
fn perfdata_renders_the_guidelines_syntax() {
    let p = Perf {
        label: "it's=odd".into(),
        value: Some(42.5),
        uom: "s",
        warn: Some("30".into()),
        crit: Some("@10:20".into()),
        min: Some(0.0),
        max: None,
    };
    assert_eq!(p.render(), "'it''s_odd'=42.5s;30;@10:20;0");
    let p = Perf {
        label: "x".into(),
        value: Some(1.0 / 3.0),
        uom: "",
        warn: None,
        crit: None,
        min: None,
        max: None,
    };
    assert_eq!(p.render(), "'x'=0.333");
    assert_eq!(num(-0.0001), "0");
    assert_eq!(num(1e12), "1000000000000");
}

#[test]
fn summary_and_long_output_never_carry_a_pipe_or_newline() {
    let o = Outcome {
        state: Health::Warning,
        summary: "a | b\nc".into(),
        perfdata: vec![],
        long: vec!["x|y".into()],
    };
    assert_eq!(o.render(), "LINEWATCH WARNING - a / b c\nx/y\n");
}

// ---- arguments ----

fn parse(args: &[&str]) -> Result<(Mode, StdDuration), CheckError> {
    let a = parse_args(args.iter().copied()).map_err(|e| CheckError::Usage(e.to_string()))?;
    validate(&a)
}

#[test]
fn argument_combinations_are_validated() {
    assert!(matches!(
        parse(&["--link", "a"]),
        Ok((Mode::Daemon { .. }, t)) if t == StdDuration::from_secs(10)
    ));
    assert!(matches!(parse(&["--all", "-t", "3"]), Ok((_, t)) if t == StdDuration::from_secs(3)));
    let bads: &[&[&str]] = &[
        &[],
        &["--link", "a", "--all"],
        &["--link", "a", "--peer", "1.2.3.4:5"],
        &["--replay", "f.pcap"],
        &[
            "--replay",
            "f.pcap",
            "--interface",
            "lo",
            "--peer",
            "1.2.3.4:5",
        ],
        &["--replay", "f.pcap", "--peer", "1.2.3.4:5", "--all"],
        &[
            "--replay",
            "f.pcap",
            "--peer",
            "1.2.3.4:5",
            "--duration",
            "5s",
        ],
        &[
            "--interface",
            "lo",
            "--peer",
            "1.2.3.4:5",
            "--duration",
            "5s",
            "-t",
            "5",
        ],
        &[
            "--interface",
            "an-interface-name-too-long",
            "--peer",
            "1.2.3.4:5",
        ],
        &["--link", "a", "--timeout", "0"],
        &["--link", "a", "--timeout", "soon"],
        &["--link", "a", "--max-age", "-1"],
        &["--link", "a", "--established-critical", "5:1"],
        &["--link", "a", "--peer", "nonsense"],
        &["--link", "a", "--frobnicate"],
    ];
    for bad in bads {
        assert!(
            matches!(parse(bad), Err(CheckError::Usage(_))),
            "{bad:?} should be refused"
        );
    }
    // Live: the default timeout leaves room for the capture.
    match parse(&[
        "--interface",
        "lo",
        "--peer",
        "1.2.3.4:5",
        "--duration",
        "3s",
    ]) {
        Ok((Mode::Live { duration, config }, t)) => {
            assert_eq!(duration, StdDuration::from_secs(3));
            assert_eq!(t, StdDuration::from_secs(13));
            assert_eq!(&*config.links[0].name, "1.2.3.4:5");
            assert_eq!(config.links[0].interface.as_deref(), Some("lo"));
            assert_eq!(
                config.links[0].silence_after,
                crate::config::DEFAULT_SILENCE_AFTER
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(parse(&["--idle-critical=-5:-1", "--link", "a"]).is_ok());
}

#[test]
fn bad_arguments_exit_unknown_with_usage() {
    let mut out = Vec::new();
    let code = run_cli(["--idle-warning", "abc", "--link", "a"], &mut out);
    assert_eq!(code, 3);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("LINEWATCH UNKNOWN - invalid arguments: invalid value 'abc' for '--idle-warning <RANGE>': invalid range `abc`"), "{text}");
    assert!(text.contains("\nUsage: linewatch check"));
    let mut out = Vec::new();
    assert_eq!(run_cli(["--help"], &mut out), 3);
    assert!(String::from_utf8(out).unwrap().contains("--idle-critical"));
}
