//! PagerDuty Events API v2: the pure encoder and the destination.
//!
//! `POST {events_url}` (default `https://events.pagerduty.com/v2/enqueue`)
//! with `routing_key`, `event_action`, `dedup_key` and, for triggers, a
//! payload whose `custom_details` carry header evidence only. The event is
//! typed ([`PdEvent`]): the outbox stores it without the routing key, the
//! destination adds the key when it sends.

use serde::{Deserialize, Serialize};

use crate::policy::{Action, Evidence, Notification};
use crate::status::Health;

use super::delivery::{Destination, Routed};
use super::outbox::{Body, Entry};

/// The public Events API v2 endpoint.
pub const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// PagerDuty severity for a health level.
pub fn severity(h: Health) -> &'static str {
    match h {
        Health::Critical => "critical",
        Health::Warning => "warning",
        Health::Ok | Health::Unknown => "info",
    }
}

/// An Events API v2 event without its routing key (a secret, never
/// stored). Fields in alphabetical order, as linewatch always sent them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PdEvent {
    /// `linewatch`, on triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The incident's key (`linewatch/visa-primary`).
    pub dedup_key: String,
    /// Trigger or resolve.
    pub event_action: Action,
    /// What happened, on triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
}

/// A trigger's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// The kind of event behind it (`fin`, `link_down`, ...).
    pub class: String,
    /// The link, or `linewatch-probe`.
    pub component: String,
    /// Header evidence, never payload.
    pub custom_details: Evidence,
    /// Always `linewatch`.
    pub group: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// This probe.
    pub source: String,
    /// One line, at most 1,024 characters.
    pub summary: String,
    /// Packet-clock time of the event, ISO 8601 UTC.
    pub timestamp: String,
}

/// The request body: the stored event plus the routing key.
#[derive(Serialize)]
pub struct Request<'a> {
    /// The event.
    #[serde(flatten)]
    pub event: &'a PdEvent,
    /// The integration's routing key.
    pub routing_key: &'a str,
}

/// The event for a notification, from probe `source`.
pub fn event(n: &Notification, source: &str) -> PdEvent {
    let payload = match n.action {
        Action::Trigger => Some(Payload {
            class: n.class.clone(),
            component: n.link.as_deref().unwrap_or("linewatch-probe").to_string(),
            custom_details: n.evidence.clone(),
            group: "linewatch".to_string(),
            severity: severity(n.severity).to_string(),
            source: source.to_string(),
            summary: n.summary.chars().take(1024).collect(),
            timestamp: n
                .ts
                .to_chrono()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string(),
        }),
        Action::Resolve => None,
    };
    PdEvent {
        client: payload.as_ref().map(|_| "linewatch".to_string()),
        dedup_key: n.dedup_key.clone(),
        event_action: n.action,
        payload,
    }
}

/// The outbox entry for a notification.
pub fn entry(n: &Notification, source: &str) -> Entry {
    Entry {
        dedup_key: n.dedup_key.clone(),
        action: n.action,
        link: n.link.as_deref().map(String::from),
        body: Body::PagerDuty(Box::new(event(n, source))),
    }
}

/// PagerDuty as a delivery destination.
#[derive(Debug)]
pub struct PagerDuty {
    /// Events API URL.
    pub url: String,
    /// The integration's routing key, and links' own (never logged or
    /// stored).
    pub routing_key: Routed,
}

impl Destination for PagerDuty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }

    fn url(&self, _entry: &Entry) -> &str {
        &self.url
    }

    fn body(&self, entry: &Entry) -> serde_json::Result<Vec<u8>> {
        let key = self.routing_key.for_link(entry.link.as_deref());
        entry.body.encode(Some(key.expose()))
    }
}
