//! PagerDuty Events API v2: the pure encoder and the destination.
//!
//! `POST {events_url}` (default `https://events.pagerduty.com/v2/enqueue`)
//! with `routing_key`, `event_action`, `dedup_key` and, for triggers, a
//! payload whose `custom_details` carry header evidence only.

use serde_json::{json, Value};

use crate::policy::{Action, Notification};
use crate::status::Health;

use super::delivery::Destination;
use super::outbox::Entry;

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

/// ISO 8601 UTC for PagerDuty's `timestamp`.
fn iso8601(n: &Notification) -> String {
    format!("{}Z", n.ts.utc().replacen(' ', "T", 1))
}

/// The outbox entry (request body without the routing key) for a notification.
pub fn entry(n: &Notification, source: &str) -> Entry {
    let body = match n.action {
        Action::Trigger => json!({
            "event_action": "trigger",
            "dedup_key": n.dedup_key,
            "client": "linewatch",
            "payload": {
                "summary": n.summary.chars().take(1024).collect::<String>(),
                "source": source,
                "severity": severity(n.severity),
                "timestamp": iso8601(n),
                "component": n.link.as_deref().unwrap_or("linewatch-probe"),
                "group": "linewatch",
                "class": n.class,
                "custom_details": n.details,
            },
        }),
        Action::Resolve => json!({
            "event_action": "resolve",
            "dedup_key": n.dedup_key,
        }),
    };
    Entry {
        dedup_key: n.dedup_key.clone(),
        action: n.action.name().to_string(),
        body,
    }
}

/// PagerDuty as a delivery destination.
pub struct PagerDuty {
    /// Events API URL.
    pub url: String,
    /// The integration's routing key (secret: never logged or stored).
    pub routing_key: String,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("routing_key", &"***")
            .finish()
    }
}

impl Destination for PagerDuty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn body(&self, entry: &Entry) -> Value {
        let mut b = entry.body.clone();
        if let Some(o) = b.as_object_mut() {
            o.insert(
                "routing_key".into(),
                Value::String(self.routing_key.clone()),
            );
        }
        b
    }
}
