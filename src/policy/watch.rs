//! One link as the policy watches it: its facts, health and incident,
//! and what each event teaches it.

use crate::config::LinkSpec;
use crate::event::{Event, EventKind, LinkStatus};
use crate::time::Timestamp;

use super::{EvidenceRef, Facts, Health, Incident, Noted, Why};

/// One link as the policy watches it.
#[derive(Debug)]
pub(super) struct LinkWatch {
    /// The link as configured (name, interface, expected connections,
    /// `page_on`, `hold_down`, `on_reconnect`, `on_silence`).
    pub(super) spec: LinkSpec,
    /// What its health is judged on.
    pub(super) facts: Facts,
    /// The verdict at the last refresh.
    pub(super) health: Health,
    /// The rule that decided it.
    pub(super) why: Why,
    /// Since when health has been OK (the resolve waits for it).
    pub(super) ok_since: Option<Timestamp>,
    pub(super) incident: Option<Incident>,
    pub(super) last: Option<Event>,
    /// The last FIN/RST/silence/black hole: what a link_down page names.
    pub(super) last_trouble: Option<Event>,
    /// The last ICMP error about one of the link's connections: a page
    /// within [`ICMP_EVIDENCE`] of it names the router.
    pub(super) last_icmp: Option<Event>,
    /// The last FIN, RST or refusal, its attribution as revised.
    pub(super) last_close: Option<Event>,
    /// The link's latest evidence file (the recorder's, as the store
    /// reported it): pages name it.
    pub(super) evidence_file: Option<EvidenceRef>,
    /// A page held back by a maintenance window: the fault was there when
    /// it would have paged, so it pages when the window ends if it still
    /// is. Holds the window's end and reason, for the page's words.
    pub(super) held: Option<(Timestamp, String)>,
}

impl LinkWatch {
    pub(super) fn new(spec: &LinkSpec) -> LinkWatch {
        LinkWatch {
            spec: spec.clone(),
            facts: Facts::default(),
            health: Health::Unknown,
            why: Why::Starting,
            ok_since: None,
            incident: None,
            last: None,
            last_trouble: None,
            last_icmp: None,
            last_close: None,
            evidence_file: None,
            held: None,
        }
    }

    pub(super) fn judge(&self, now: Timestamp) -> (Health, Why) {
        self.facts.judge(&self.spec, now)
    }

    pub(super) fn established(&self) -> u32 {
        self.facts.count.established
    }

    /// Takes in what `e` says of the link; tells whether it was a
    /// reconnect.
    pub(super) fn learn(&mut self, e: &Event) -> Noted {
        let mut noted = Noted::default();
        let before = self.facts.count;
        if let Some(r) = &e.link {
            self.facts.count = r.count;
        }
        let f = &mut self.facts;
        f.status = match &e.kind {
            EventKind::LinkDown { .. } => LinkStatus::Down,
            EventKind::LinkUp { .. } => LinkStatus::Up,
            // A link leaves `Unknown` when the tracker counts it up; after
            // that only its own link_down / link_up events move it.
            _ if f.status == LinkStatus::Unknown => f.count.status,
            _ => f.status,
        };
        match &e.kind {
            EventKind::FinFrom(_) | EventKind::ResetFrom(_) | EventKind::Closed
                if f.count.established < before.established =>
            {
                f.dropped_at = Some(e.ts);
                f.unreplaced = f.unreplaced.saturating_add(1);
                self.last_trouble = Some(e.clone());
            }
            EventKind::Established if f.unreplaced > 0 => {
                f.unreplaced -= 1;
                noted.reconnect = true;
            }
            EventKind::Silence { .. }
            | EventKind::BlackHole { .. }
            | EventKind::ResponseStarvation { .. }
            | EventKind::Degraded(_) => {
                self.last_trouble = Some(e.clone());
            }
            EventKind::IcmpError { .. } => self.last_icmp = Some(e.clone()),
            EventKind::ResetIgnored(_) => self.last_close = Some(e.clone()),
            EventKind::AttributionRevised {
                of_packet,
                up_again,
                ..
            } => {
                // The connection the endpoints never let go of is back:
                // nothing to replace any more.
                if *up_again && f.count.established > before.established {
                    f.unreplaced = f.unreplaced.saturating_sub(1);
                }
                // The page's cause now says who really sent it.
                if let Some(t) = self
                    .last_trouble
                    .as_mut()
                    .filter(|t| t.conn == e.conn && t.packet == Some(*of_packet))
                {
                    t.attribution.clone_from(&e.attribution);
                    noted.revised = true;
                }
                if let Some(c) = self
                    .last_close
                    .as_mut()
                    .filter(|c| c.conn == e.conn && c.packet == Some(*of_packet))
                {
                    c.attribution.clone_from(&e.attribution);
                }
            }
            _ => {}
        }
        if matches!(
            e.kind,
            EventKind::FinFrom(_) | EventKind::ResetFrom(_) | EventKind::Refused
        ) {
            self.last_close = Some(e.clone());
        }
        self.last = Some(e.clone());
        noted
    }
}
