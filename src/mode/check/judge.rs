//! Rendering a link's verdict for the plugin: the policy's health as the
//! status document carries it, with the threshold options applied on top
//! of the part of it that is not about the connection count. The check
//! judges nothing the policy has not judged: without thresholds it prints
//! the policy's verdict; with them, the thresholds replace only the count
//! rule (and its grace).

use crate::status::{ConnectionDoc, Health, LinkDoc, StatusDoc};

use super::error::CheckError;
use super::nagios::{num, secs_text, Outcome, Perf};
use super::range::Range;

/// The threshold options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    /// `--established-warning`.
    pub established_warning: Option<Range>,
    /// `--established-critical`.
    pub established_critical: Option<Range>,
    /// `--idle-warning`.
    pub idle_warning: Option<Range>,
    /// `--idle-critical`.
    pub idle_critical: Option<Range>,
    /// `--retransmits-warning`.
    pub retransmits_warning: Option<Range>,
    /// `--retransmits-critical`.
    pub retransmits_critical: Option<Range>,
    /// `--rtt-warning` (ms, the worst connection's round-trip median).
    pub rtt_warning: Option<Range>,
    /// `--rtt-critical`.
    pub rtt_critical: Option<Range>,
    /// `--response-warning` (ms, the worst connection's response median).
    pub response_warning: Option<Range>,
    /// `--response-critical`.
    pub response_critical: Option<Range>,
}

impl Thresholds {
    /// Was any threshold given? Then thresholds decide (with the daemon's
    /// non-count findings); otherwise the daemon's health does.
    pub fn any(&self) -> bool {
        self.established_warning.is_some()
            || self.established_critical.is_some()
            || self.idle_warning.is_some()
            || self.idle_critical.is_some()
            || self.retransmits_warning.is_some()
            || self.retransmits_critical.is_some()
            || self.rtt_warning.is_some()
            || self.rtt_critical.is_some()
            || self.response_warning.is_some()
            || self.response_critical.is_some()
    }

    /// The established critical range in force: as given, else `1:` when
    /// thresholds are in use, else none.
    fn established_critical(&self) -> Option<Range> {
        match &self.established_critical {
            Some(r) => Some(r.clone()),
            None if self.any() => Range::parse("1:").ok(),
            None => None,
        }
    }
}

/// One link judged.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkVerdict {
    /// Link name.
    pub name: String,
    /// Its state.
    pub state: Health,
    /// `name: what matters`.
    pub summary: String,
    /// Perfdata, labels without the link name.
    pub perfdata: Vec<Perf>,
    /// One line per connection.
    pub connections: Vec<String>,
}

fn is_up(c: &ConnectionDoc) -> bool {
    c.state == "established"
}

/// The last connection that is not established, in words (who ended it).
fn story(link: &LinkDoc, age: f64) -> Option<String> {
    let c = link
        .connections
        .iter()
        .filter(|c| !is_up(c))
        .max_by(|a, b| a.last_packet.total_cmp(&b.last_packet))?;
    let ago = secs_text(c.idle_s + age);
    let what = match c.state.as_str() {
        "fin_from_peer" => format!("peer {} sent FIN, last packet {ago} ago", c.peer),
        "reset_by_peer" => format!("peer {} sent RST {ago} ago", c.peer),
        "fin_from_local" => format!("we ({}) sent FIN, last packet {ago} ago", c.local),
        "reset_by_local" => format!("we ({}) sent RST {ago} ago", c.local),
        "closed" => format!("connection to {} closed {ago} ago", c.peer),
        "refused" => format!("peer {} refused a connection {ago} ago", c.peer),
        "syn_unanswered" => format!("SYN to {} unanswered, sent {ago} ago", c.peer),
        other => format!("connection to {} {other}, last packet {ago} ago", c.peer),
    };
    Some(what)
}

fn connection_line(c: &ConnectionDoc, age: f64) -> String {
    let mut s = format!(
        "{} -> {} {}, idle {}, packets {}/{}, retransmissions {}/{} (local/peer)",
        c.local,
        c.peer,
        c.state,
        secs_text(c.idle_s + age),
        c.packets_local,
        c.packets_peer,
        c.retransmissions_local,
        c.retransmissions_peer
    );
    if let Some(a) = &c.analytics {
        if let Some(r) = &a.rtt_ms {
            s.push_str(&format!(", rtt p50 {} ms", num(r.p50)));
        }
        if let Some(r) = &a.response_ms {
            s.push_str(&format!(", response p50 {} ms", num(r.p50)));
        }
    }
    if c.silent {
        s.push_str(", SILENT");
    }
    if c.black_hole {
        s.push_str(", BLACK HOLE");
    }
    s
}

/// Checks `value` against warning and critical ranges.
fn check(
    what: &str,
    shown: &str,
    value: f64,
    warn: Option<&Range>,
    crit: Option<&Range>,
) -> (Health, Option<String>) {
    if let Some(c) = crit.filter(|r| r.alerts(value)) {
        return (
            Health::Critical,
            Some(format!("{what} {shown} (critical range {c})")),
        );
    }
    if let Some(w) = warn.filter(|r| r.alerts(value)) {
        return (
            Health::Warning,
            Some(format!("{what} {shown} (warning range {w})")),
        );
    }
    (Health::Ok, None)
}

/// Renders one link's verdict. `age` is how old the figures are (now −
/// `written_at`; 0 in standalone mode): idle times grow by it. Without
/// thresholds the policy's health is the state; with them, the worst of
/// the policy's verdict apart from the count and the threshold checks.
pub fn judge_link(link: &LinkDoc, age: f64, thresholds: &Thresholds) -> LinkVerdict {
    let age = if age.is_finite() { age.max(0.0) } else { 0.0 };
    let established = f64::from(link.established);
    let idle = link
        .connections
        .iter()
        .filter(|c| is_up(c))
        .map(|c| c.idle_s + age)
        .max_by(f64::total_cmp);
    let retransmits: u64 = link
        .connections
        .iter()
        .map(|c| {
            c.retransmissions_local
                .saturating_add(c.retransmissions_peer)
        })
        .fold(0, u64::saturating_add);
    // The worst established connection's figures (the median of its last
    // minute; the retransmission rate of its last complete minute, %).
    let worst = |f: &dyn Fn(&crate::output::analytics::AnalyticsDoc) -> Option<f64>| {
        link.connections
            .iter()
            .filter(|c| is_up(c))
            .filter_map(|c| c.analytics.as_ref().and_then(f))
            .max_by(f64::total_cmp)
    };
    let rtt = worst(&|a| a.rtt_ms.as_ref().map(|r| r.p50));
    let response = worst(&|a| a.response_ms.as_ref().map(|r| r.p50));
    let retransmit_rate = worst(&|a| {
        let r = a.retransmit_rate;
        r.local
            .into_iter()
            .chain(r.peer)
            .max_by(f64::total_cmp)
            .map(|v| v * 100.0)
    });
    let est_crit = thresholds.established_critical();
    let count_words = format!(
        "{}/{} connections established",
        link.established, link.expected
    );
    let mut notes: Vec<String> = Vec::new();
    let state = if link.verdict.health == Health::Unknown || !thresholds.any() {
        let rest = link
            .verdict
            .reason
            .strip_prefix(&count_words)
            .map(|r| r.trim_start_matches([',', ';', ' ']).to_string())
            .unwrap_or_else(|| link.verdict.reason.clone());
        if !rest.is_empty() {
            notes.push(rest);
        }
        link.verdict.health
    } else {
        let mut state = link.verdict.beyond_count;
        notes.extend(link.verdict.beyond_count_reason.clone());
        let checks = [
            check(
                "established",
                &num(established),
                established,
                thresholds.established_warning.as_ref(),
                est_crit.as_ref(),
            ),
            match idle {
                Some(v) => check(
                    "idle",
                    &secs_text(v),
                    v,
                    thresholds.idle_warning.as_ref(),
                    thresholds.idle_critical.as_ref(),
                ),
                None => (Health::Ok, None),
            },
            check(
                "retransmissions",
                &retransmits.to_string(),
                retransmits as f64,
                thresholds.retransmits_warning.as_ref(),
                thresholds.retransmits_critical.as_ref(),
            ),
            match rtt {
                Some(v) => check(
                    "rtt",
                    &format!("{} ms", num(v)),
                    v,
                    thresholds.rtt_warning.as_ref(),
                    thresholds.rtt_critical.as_ref(),
                ),
                None => (Health::Ok, None),
            },
            match response {
                Some(v) => check(
                    "response",
                    &format!("{} ms", num(v)),
                    v,
                    thresholds.response_warning.as_ref(),
                    thresholds.response_critical.as_ref(),
                ),
                None => (Health::Ok, None),
            },
        ];
        for (s, words) in checks {
            state = state.worst(s);
            notes.extend(words);
        }
        state
    };
    if link.established < link.expected {
        notes.extend(story(link, age));
    }
    let silent = link.connections.iter().any(|c| is_up(c) && c.silent);
    if let (true, Some(v)) = (silent, idle) {
        if !notes.iter().any(|n| n.starts_with("idle ")) {
            notes.push(format!("last packet {} ago", secs_text(v)));
        }
    }
    let mut summary = format!("{}: {count_words}", link.name);
    for n in &notes {
        summary.push_str(", ");
        summary.push_str(n);
    }
    let perfdata = vec![
        Perf {
            label: "established".into(),
            value: Some(established),
            uom: "",
            warn: thresholds
                .established_warning
                .as_ref()
                .map(|r| r.to_string()),
            crit: est_crit.map(|r| r.to_string()),
            min: Some(0.0),
            max: Some(f64::from(link.expected)),
        },
        Perf {
            label: "idle".into(),
            value: idle,
            uom: "s",
            warn: thresholds.idle_warning.as_ref().map(|r| r.to_string()),
            crit: thresholds.idle_critical.as_ref().map(|r| r.to_string()),
            min: Some(0.0),
            max: None,
        },
        Perf {
            label: "retransmits".into(),
            value: Some(retransmits as f64),
            uom: "c",
            warn: thresholds
                .retransmits_warning
                .as_ref()
                .map(|r| r.to_string()),
            crit: thresholds
                .retransmits_critical
                .as_ref()
                .map(|r| r.to_string()),
            min: Some(0.0),
            max: None,
        },
        Perf {
            label: "rtt".into(),
            value: rtt,
            uom: "ms",
            warn: thresholds.rtt_warning.as_ref().map(|r| r.to_string()),
            crit: thresholds.rtt_critical.as_ref().map(|r| r.to_string()),
            min: Some(0.0),
            max: None,
        },
        Perf {
            label: "response".into(),
            value: response,
            uom: "ms",
            warn: thresholds.response_warning.as_ref().map(|r| r.to_string()),
            crit: thresholds.response_critical.as_ref().map(|r| r.to_string()),
            min: Some(0.0),
            max: None,
        },
        Perf {
            label: "retransmit_rate".into(),
            value: retransmit_rate,
            uom: "%",
            warn: None,
            crit: None,
            min: Some(0.0),
            max: Some(100.0),
        },
    ];
    // In a maintenance window the state stays what the link is (Icinga's
    // and Nagios' own downtimes decide their notifications); the words say
    // why no page went out.
    let summary = match &link.verdict.maintenance {
        Some(m) => format!("{summary} (in maintenance until {}: {})", m.until, m.reason),
        None => summary,
    };
    LinkVerdict {
        name: link.name.clone(),
        state,
        summary,
        perfdata,
        connections: link
            .connections
            .iter()
            .map(|c| connection_line(c, age))
            .collect(),
    }
}

/// Which links to judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One link, by name.
    Link(String),
    /// Every link in the document.
    All,
}

/// The default `--max-age`: three write intervals plus 5 s (8 s for the
/// daemon's default 1 s interval).
pub fn default_max_age(write_interval_s: f64) -> f64 {
    let w = if write_interval_s.is_finite() {
        write_interval_s.max(0.0)
    } else {
        1.0
    };
    w * 3.0 + 5.0
}

/// Labels with the link name; if two would share their first 19
/// characters (the guidelines' uniqueness rule), `metric N name` instead.
fn prefixed_perfdata(verdicts: &[LinkVerdict]) -> Vec<Perf> {
    let named: Vec<Perf> = verdicts
        .iter()
        .flat_map(|v| {
            v.perfdata.iter().map(|p| Perf {
                label: format!("{} {}", v.name, p.label),
                ..p.clone()
            })
        })
        .collect();
    let mut heads: Vec<String> = named
        .iter()
        .map(|p| p.label.chars().take(19).collect())
        .collect();
    heads.sort();
    let before = heads.len();
    heads.dedup();
    if heads.len() == before {
        return named;
    }
    verdicts
        .iter()
        .enumerate()
        .flat_map(|(i, v)| {
            v.perfdata.iter().map(move |p| Perf {
                label: format!("{} {} {}", p.label, i + 1, v.name),
                ..p.clone()
            })
        })
        .collect()
}

/// Judges the status document at wall-clock time `now` (seconds since the
/// epoch): UNKNOWN errors for a stale document or an unknown link.
pub fn judge_doc(
    doc: &StatusDoc,
    now: f64,
    target: &Target,
    max_age: Option<f64>,
    thresholds: &Thresholds,
) -> Result<Outcome, CheckError> {
    let limit = max_age.unwrap_or_else(|| default_max_age(doc.write_interval_s));
    let age = now - doc.written_at;
    if !age.is_finite() || age > limit {
        return Err(CheckError::Stale {
            age: secs_text(if age.is_finite() { age } else { f64::MAX }),
            limit: secs_text(limit),
            pid: doc.pid,
        });
    }
    if age < -limit {
        return Err(CheckError::Future(secs_text(-age)));
    }
    let age = age.max(0.0);
    let doc_line = format!(
        "status written {} ago by pid {} (daemon up {}, rewritten every {}, stale after {})",
        secs_text(age),
        doc.pid,
        secs_text(now - doc.started_at),
        secs_text(doc.write_interval_s),
        secs_text(limit)
    );
    match target {
        Target::Link(name) => {
            let link = doc.links.iter().find(|l| &l.name == name).ok_or_else(|| {
                let names: Vec<&str> = doc.links.iter().map(|l| l.name.as_str()).collect();
                CheckError::UnknownLink {
                    name: name.clone(),
                    known: if names.is_empty() {
                        "it has no links".to_string()
                    } else {
                        format!("links: {}", names.join(", "))
                    },
                }
            })?;
            let v = judge_link(link, age, thresholds);
            let mut long = v.connections;
            long.push(doc_line);
            Ok(Outcome {
                state: v.state,
                summary: v.summary,
                perfdata: v.perfdata,
                long,
            })
        }
        Target::All => {
            if doc.links.is_empty() {
                return Err(CheckError::NoLinks);
            }
            let verdicts: Vec<LinkVerdict> = doc
                .links
                .iter()
                .map(|l| judge_link(l, age, thresholds))
                .collect();
            let mut o = combine(&verdicts);
            o.long.push(doc_line);
            Ok(o)
        }
    }
}

/// Several links: the worst decides; the summary names the links not OK.
pub fn combine(verdicts: &[LinkVerdict]) -> Outcome {
    let state = verdicts
        .iter()
        .fold(Health::Ok, |acc, v| acc.worst(v.state));
    let mut bad: Vec<&LinkVerdict> = verdicts.iter().filter(|v| v.state != Health::Ok).collect();
    bad.sort_by_key(|v| std::cmp::Reverse(v.state.rank()));
    let ok = verdicts.len() - bad.len();
    let mut parts: Vec<String> = bad
        .iter()
        .map(|v| format!("{} {}", v.state.upper(), v.summary))
        .collect();
    parts.push(format!("{ok}/{} links OK", verdicts.len()));
    let mut long = Vec::new();
    for v in verdicts {
        long.push(format!("[{}] {}", v.state.upper(), v.summary));
        long.extend(v.connections.iter().map(|c| format!("  {c}")));
    }
    Outcome {
        state,
        summary: parts.join("; "),
        perfdata: prefixed_perfdata(verdicts),
        long,
    }
}

/// A standalone check's judged link as the outcome to print.
pub(super) fn single(v: LinkVerdict, note: String) -> Outcome {
    let mut long = v.connections;
    long.push(note);
    Outcome {
        state: v.state,
        summary: v.summary,
        perfdata: v.perfdata,
        long,
    }
}
