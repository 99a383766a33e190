//! The health model: the one rule that turns a link's facts into a verdict.
//!
//! The policy is the only judge of a link's health. It keeps, per link,
//! the facts it judges on ([`Facts`]: the tracker's count as of the last
//! event, the link's status as its `link_down` / `link_up` events said, the
//! capture's state, the last drop) and hands out [`LinkHealth`] snapshots.
//! The status document, `linewatch check` (daemon and standalone), the
//! DogStatsD gauge and service check and every page render a snapshot;
//! nobody judges again. The check's threshold options sit on top of
//! [`LinkHealth::beyond_count`], the part of the verdict that is not about
//! the connection count.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::{LinkSpec, OnReconnect, OnSilence, OnStarvation};
use crate::event::{LinkCount, LinkId, LinkStatus};
use crate::time::Timestamp;

use super::OpenIncident;

/// Health of a link (or of the probe), in Nagios' four states.
#[derive(Copy, Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Expected connections established, no silence, no black hole.
    Ok,
    /// Degraded: short of connections within the grace, silence or black
    /// hole on one of several connections, response starvation, a
    /// degraded connection, or the capture is degraded.
    Warning,
    /// Down: short of connections past the grace, or the last connection
    /// silent or black-holed.
    Critical,
    /// Not known yet (just started), or the capture is lost.
    Unknown,
}

impl Health {
    /// Nagios exit code: 0, 1, 2, 3.
    pub fn exit_code(self) -> u8 {
        match self {
            Health::Ok => 0,
            Health::Warning => 1,
            Health::Critical => 2,
            Health::Unknown => 3,
        }
    }

    /// How bad: CRITICAL > WARNING > UNKNOWN > OK (the order in which the
    /// Nagios check's `--all` reports, and in which verdicts combine).
    pub fn rank(self) -> u8 {
        match self {
            Health::Ok => 0,
            Health::Unknown => 1,
            Health::Warning => 2,
            Health::Critical => 3,
        }
    }

    /// The worse of two states (CRITICAL > WARNING > UNKNOWN > OK).
    pub fn worst(self, other: Health) -> Health {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn upper(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Warning => "WARNING",
            Health::Critical => "CRITICAL",
            Health::Unknown => "UNKNOWN",
        }
    }
}

/// Which rule decided a verdict. The words are written from it (and the
/// facts) only when someone asks for them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The capture of the link's interface is lost: the probe is blind.
    CaptureLost,
    /// Short of connections past the reconnect grace.
    Down,
    /// Every established connection is silent or black-holed.
    AllTroubled,
    /// Just started: the link's connections have not all shown up yet.
    Starting,
    /// The capture is dropping packets.
    CaptureDegraded,
    /// Some established connections are silent or black-holed.
    SomeTroubled,
    /// Requests acknowledged but unanswered past `response_timeout`.
    Starving,
    /// Retransmissions or a closed receive window past their thresholds.
    Degraded,
    /// Short of connections, within the reconnect grace.
    Short,
    /// A connection was closed or reset less than `hold_down` ago (and
    /// replaced).
    RecentDrop,
    /// Nothing wrong.
    Fine,
}

/// What the policy knows of one link, kept from its events.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The tracker's count as of the link's last event.
    pub count: LinkCount,
    /// Up, down or starting, as the link's own events said (`link_down`,
    /// `link_up`; a link leaves `Unknown` when the tracker counts it up).
    pub status: LinkStatus,
    /// The capture of its interface is lost.
    pub capture_lost: bool,
    /// The capture of its interface is dropping packets.
    pub capture_degraded: bool,
    /// When an established connection of the link last closed or reset.
    pub dropped_at: Option<Timestamp>,
    /// Established connections closed or reset and not replaced yet: the
    /// next `established` on the link is a reconnect.
    pub unreplaced: u32,
}

impl Facts {
    /// The probe may be blind: a silence may be its own, not the line's.
    fn capture_blind(&self) -> bool {
        self.capture_lost || self.capture_degraded
    }

    fn all_troubled(&self) -> bool {
        let c = &self.count;
        c.troubled > 0 && c.troubled >= c.established && !self.capture_blind()
    }

    /// The health rule, at packet-clock time `now`, for a link configured
    /// as `spec`: the verdict apart from the count ([`Facts::beyond_count`]),
    /// with the count rules in their place. The first rule that matches
    /// decides: capture lost, down, every connection troubled (critical),
    /// starting, the rest of the verdict apart from the count, short within
    /// the grace, a recent drop, fine.
    pub fn judge(&self, spec: &LinkSpec, now: Timestamp) -> (Health, Why) {
        let beyond = self.beyond_count(spec);
        let short = self.count.established < spec.expect_connections;
        match beyond {
            (_, Why::CaptureLost) => beyond,
            _ if self.status == LinkStatus::Down => (Health::Critical, Why::Down),
            (Health::Critical, _) => beyond,
            _ if self.status == LinkStatus::Unknown && short => (Health::Unknown, Why::Starting),
            (_, why) if why != Why::Fine => beyond,
            _ if short => match spec.on_reconnect {
                OnReconnect::Warning => (Health::Warning, Why::Short),
                OnReconnect::Ok => (Health::Ok, Why::Short),
            },
            _ if spec.on_reconnect == OnReconnect::Warning
                && self
                    .dropped_at
                    .is_some_and(|t| now < t.plus(spec.hold_down)) =>
            {
                (Health::Warning, Why::RecentDrop)
            }
            _ => (Health::Ok, Why::Fine),
        }
    }

    /// The verdict apart from the connection count: silence, black holes
    /// and the capture. What `linewatch check`'s threshold options are
    /// applied on top of (they replace the count rule and its grace).
    pub fn beyond_count(&self, spec: &LinkSpec) -> (Health, Why) {
        let starving = self.count.starving > 0;
        if self.capture_lost {
            (Health::Unknown, Why::CaptureLost)
        } else if self.all_troubled() && spec.on_silence == OnSilence::Critical {
            (Health::Critical, Why::AllTroubled)
        } else if starving && spec.on_starvation == OnStarvation::Critical {
            (Health::Critical, Why::Starving)
        } else if self.capture_degraded {
            (Health::Warning, Why::CaptureDegraded)
        } else if self.count.troubled > 0 {
            (Health::Warning, Why::SomeTroubled)
        } else if starving {
            (Health::Warning, Why::Starving)
        } else if self.count.degraded > 0 {
            (Health::Warning, Why::Degraded)
        } else {
            (Health::Ok, Why::Fine)
        }
    }

    /// The words for `why`, as the status document, the check and the
    /// service check print them.
    pub fn words(&self, why: Why, spec: &LinkSpec) -> String {
        let c = &self.count;
        let expected = spec.expect_connections;
        let counted = format!("{}/{expected} connections established", c.established);
        match why {
            Why::CaptureLost => format!(
                "capture lost on {}: the probe cannot see the line",
                spec.interface.as_deref().unwrap_or("?")
            ),
            Why::Down | Why::Fine => counted,
            Why::AllTroubled | Why::SomeTroubled => format!(
                "{} of {} established connections silent or black-holed",
                c.troubled, c.established
            ),
            Why::Starting => format!(
                "starting: {}/{expected} connections seen so far",
                c.established
            ),
            Why::CaptureDegraded => "capture degraded: the probe is losing packets".to_string(),
            Why::Starving => format!(
                "{} of {} established connections get no answers: requests acknowledged, unanswered for {} (the line works, the peer's application does not)",
                c.starving, c.established, spec.analytics.response_timeout
            ),
            Why::Degraded => format!(
                "{} of {} established connections degraded (retransmissions or a closed receive window)",
                c.degraded, c.established
            ),
            Why::Short => format!("{counted}, within the reconnect grace"),
            Why::RecentDrop => format!(
                "{counted}; a connection was closed or reset less than {} ago",
                spec.hold_down
            ),
        }
    }
}

/// A link's verdict, as the status document, the check, the service check
/// and pages show it: one struct, flattened into the status document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The policy's verdict.
    pub health: Health,
    /// Why, in words.
    pub reason: String,
    /// The verdict apart from the connection count (silence, black holes,
    /// the capture): what `linewatch check`'s threshold options are applied
    /// on top of.
    #[serde(default = "unknown")]
    pub beyond_count: Health,
    /// Its words, when it is not OK.
    #[serde(default)]
    pub beyond_count_reason: Option<String>,
    /// The incident open on the link, if any.
    #[serde(default)]
    pub incident: Option<OpenIncident>,
    /// The maintenance window the link is in, if any: its faults are
    /// recorded but do not page until the window ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<InMaintenance>,
}

/// A link's current maintenance window, as the status document says it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InMaintenance {
    /// When it ends (RFC 3339, UTC).
    pub until: String,
    /// Why.
    pub reason: String,
}

/// A document written before `beyond_count` existed: its findings apart
/// from the count are not known.
fn unknown() -> Health {
    Health::Unknown
}

/// One link's health as the policy judges it now: the one verdict that
/// status, check, metrics and pages render.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkHealth {
    /// The link's place in the config.
    pub id: LinkId,
    /// Its name.
    pub name: Arc<str>,
    /// The verdict.
    pub verdict: Verdict,
    /// Which rule decided it.
    pub why: Why,
    /// The link's last FIN, RST or refusal and who really sent it.
    pub last_close: Option<super::LastClose>,
}

impl LinkHealth {
    /// Judges `facts` of the link `spec` at `now` into a snapshot.
    pub fn of(
        id: LinkId,
        spec: &LinkSpec,
        facts: &Facts,
        now: Timestamp,
        incident: Option<OpenIncident>,
    ) -> LinkHealth {
        let (health, why) = facts.judge(spec, now);
        let (beyond, beyond_why) = facts.beyond_count(spec);
        LinkHealth {
            id,
            name: spec.name.clone(),
            verdict: Verdict {
                health,
                reason: facts.words(why, spec),
                beyond_count: beyond,
                beyond_count_reason: (beyond_why != Why::Fine)
                    .then(|| facts.words(beyond_why, spec)),
                incident,
                maintenance: None,
            },
            why,
            last_close: None,
        }
    }
}
