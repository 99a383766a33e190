//! What a page says: its one-line summary, its evidence, the trigger and
//! the resolve of a link's incident. Built from the policy's own view of
//! the link; nothing here decides whether to page.

use crate::event::{Event, EventKind, Side};
use crate::time::{Duration, Timestamp};

use super::{Action, Evidence, Health, LinkEvidence, LinkWatch, Notification, Policy, Recovered};

/// How close to a page an ICMP error must be to be named in it.
const ICMP_EVIDENCE: Duration = Duration::from_secs(300);

pub(super) fn summary_of(e: &Event, link: &LinkWatch) -> String {
    // A link_down page names what brought it down, if we saw it.
    let e = match (&e.kind, &link.last_trouble) {
        (EventKind::LinkDown { .. }, Some(t)) => t,
        _ => e,
    };
    let at = e.ts.to_chrono().format("%H:%M:%S%.3f").to_string();
    let peer = e.conn.map(|c| c.peer.to_string()).unwrap_or_default();
    // A FIN, RST or refusal the tracker attributed says who really sent it.
    let attributed = match (&e.kind, e.attribution.as_deref()) {
        (EventKind::FinFrom(_) | EventKind::ResetFrom(_) | EventKind::Refused, Some(a)) => {
            crate::output::attribution::claim(&e.kind).map(|(side, what)| (a, side, what))
        }
        _ => None,
    };
    let what = if let Some((a, side, what)) = attributed {
        let addr = e
            .conn
            .map(|c| match side {
                Side::Peer => c.peer.to_string(),
                Side::Local => c.local.to_string(),
            })
            .unwrap_or_default();
        crate::output::attribution::page_phrase(a, side, what, &addr, &at)
    } else {
        match &e.kind {
            EventKind::FinFrom(Side::Peer) => format!("peer {peer} sent FIN at {at} UTC"),
            EventKind::FinFrom(Side::Local) => format!("we sent FIN to {peer} at {at} UTC"),
            EventKind::ResetFrom(Side::Peer) => format!("peer {peer} sent RST at {at} UTC"),
            EventKind::ResetFrom(Side::Local) => format!("we sent RST to {peer} at {at} UTC"),
            EventKind::Silence { after, .. } => {
                format!("no packet to or from {peer} for {after} (since {at} UTC)")
            }
            EventKind::BlackHole { after, .. } => {
                format!("{peer} has not acknowledged our data for {after} (at {at} UTC)")
            }
            EventKind::Refused => format!("{peer} refused our connection at {at} UTC"),
            EventKind::SynUnanswered => format!("{peer} did not answer our SYN (at {at} UTC)"),
            EventKind::LinkDown { .. } => format!("link down at {at} UTC"),
            EventKind::ResponseStarvation {
                waiting_for,
                outstanding,
            } => format!(
                "{peer} acknowledges our requests but has answered none for {waiting_for} ({outstanding} outstanding, at {at} UTC): the line works, the application does not"
            ),
            EventKind::Degraded(d) => format!(
                "degraded at {at} UTC: {}",
                crate::output::event_text::degradation_words(d)
            ),
            other => format!("{} at {at} UTC", other.name()),
        }
    };
    let mut s = format!(
        "{}: {what}; {}/{} connections established",
        link.spec.name,
        link.established(),
        link.spec.expect_connections
    );
    if let Some(icmp) = recent_icmp(e, link) {
        if let EventKind::IcmpError { router, reason, .. } = &icmp.kind {
            s.push_str(&format!("; router {router} reported {reason}"));
        }
    }
    if let Some(f) = &link.evidence_file {
        s.push_str(&format!("; evidence {}", f.file));
    }
    truncate_chars(&mut s, 1024);
    s
}

/// The resolve of `link`'s incident.
pub(super) fn resolve(
    link: &LinkWatch,
    summary: String,
    class: &str,
    ts: Timestamp,
) -> Notification {
    Notification {
        action: Action::Resolve,
        dedup_key: Policy::link_key(&link.spec.name),
        link: Some(link.spec.name.clone()),
        severity: Health::Ok,
        summary,
        class: class.into(),
        ts,
        evidence: Evidence::Recovered(Recovered {
            established: link.established(),
            evidence: link.evidence_file.clone().filter(|f| f.sha256.is_some()),
            expected: link.spec.expect_connections,
            link: link.spec.name.to_string(),
        }),
    }
}

/// The link's last ICMP error, if it is within [`ICMP_EVIDENCE`] of `e`.
pub(super) fn recent_icmp<'a>(e: &Event, link: &'a LinkWatch) -> Option<&'a Event> {
    link.last_icmp.as_ref().filter(|i| {
        let apart = if i.ts > e.ts {
            i.ts.since(e.ts)
        } else {
            e.ts.since(i.ts)
        };
        apart <= ICMP_EVIDENCE
    })
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(super) fn truncate_chars(s: &mut String, max: usize) {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
}

/// The evidence of a page about `e` on `link`: a link_down page shows
/// what brought the link down, if it was seen.
pub(super) fn evidence_of(e: &Event, link: &LinkWatch) -> Evidence {
    let e = match (&e.kind, &link.last_trouble) {
        (EventKind::LinkDown { .. }, Some(t)) => t,
        _ => e,
    };
    let mut ev = LinkEvidence::of(
        e,
        &link.spec.name,
        link.spec.interface.as_deref(),
        (link.established(), link.spec.expect_connections),
        recent_icmp(e, link),
    );
    ev.evidence.clone_from(&link.evidence_file);
    Evidence::Link(Box::new(ev))
}

/// An update on `link`'s open incident (same dedup key, same severity):
/// its evidence file `f` is closed, with its SHA-256.
pub(super) fn evidence_closed(link: &LinkWatch, severity: Health, now: Timestamp) -> Notification {
    let f = link.evidence_file.as_ref();
    let mut summary = format!(
        "{}: evidence file closed: {} ({} packets, sha256 {})",
        link.spec.name,
        f.map_or("-", |f| f.file.as_str()),
        f.map_or(0, |f| f.packets),
        f.and_then(|f| f.sha256.as_deref()).unwrap_or("-")
    );
    truncate_chars(&mut summary, 1024);
    let evidence = match &link.last_trouble {
        Some(e) => evidence_of(e, link),
        None => Evidence::Recovered(Recovered {
            established: link.established(),
            evidence: link.evidence_file.clone(),
            expected: link.spec.expect_connections,
            link: link.spec.name.to_string(),
        }),
    };
    update(link, severity, summary, "evidence", now, evidence)
}

/// An update on `link`'s open incident: a trigger on its dedup key at its
/// severity, which PagerDuty folds into the incident and Slack posts as a
/// follow-up.
fn update(
    link: &LinkWatch,
    severity: Health,
    summary: String,
    class: &str,
    ts: Timestamp,
    evidence: Evidence,
) -> Notification {
    Notification {
        action: Action::Trigger,
        dedup_key: Policy::link_key(&link.spec.name),
        link: Some(link.spec.name.clone()),
        severity,
        summary,
        class: class.into(),
        ts,
        evidence,
    }
}

/// An update on `link`'s open incident (same dedup key, same severity):
/// what followed the FIN or RST behind it changed who we say sent it.
/// PagerDuty takes it as a new trigger on the same incident; Slack as a
/// follow-up message.
pub(super) fn attribution_revised(link: &LinkWatch, severity: Health, e: &Event) -> Notification {
    let cause = link.last_trouble.as_ref().unwrap_or(e);
    let mut summary = format!("revised: {}", summary_of(cause, link));
    truncate_chars(&mut summary, 1024);
    update(
        link,
        severity,
        summary,
        e.kind.name(),
        e.ts,
        evidence_of(cause, link),
    )
}

/// The trigger of `link`'s incident at `health`, caused by `e`.
pub(super) fn trigger(link: &LinkWatch, health: Health, e: &Event) -> Notification {
    Notification {
        action: Action::Trigger,
        dedup_key: Policy::link_key(&link.spec.name),
        link: Some(link.spec.name.clone()),
        severity: health,
        summary: summary_of(e, link),
        class: e.kind.name().to_string(),
        ts: e.ts,
        evidence: evidence_of(e, link),
    }
}
