//! Slack incoming webhook: the same incidents as readable messages.

use chrono::TimeZone;
use serde_json::{json, Value};

use crate::policy::{Action, Notification};
use crate::status::Health;

use super::delivery::Destination;
use super::outbox::Entry;

fn local_time(n: &Notification) -> String {
    let nanos = n.ts.as_nanos();
    match chrono::Local.timestamp_opt(
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000) as u32,
    ) {
        chrono::LocalResult::Single(t) => t.format("%Y-%m-%d %H:%M:%S%.3f %Z").to_string(),
        _ => "-".into(),
    }
}

/// The message text for a notification.
pub fn text(n: &Notification) -> String {
    let link = n.link.as_deref().unwrap_or("linewatch probe");
    match n.action {
        Action::Trigger => {
            let icon = match n.severity {
                Health::Critical => ":red_circle:",
                _ => ":large_yellow_circle:",
            };
            let mut t = format!("{icon} *{link}* {}: {}\n", n.severity.upper(), n.summary);
            t.push_str(&format!("When: {} UTC ({})\n", n.ts.utc(), local_time(n)));
            if let Some(from) = n.details.get("from").and_then(Value::as_str) {
                t.push_str(&format!("Closed by: {from}\n"));
            }
            if let Some(up) = n.details.get("up_for_s").and_then(Value::as_f64) {
                t.push_str(&format!(
                    "Connection had been up: {}\n",
                    crate::time::Duration::from_nanos((up * 1e9) as i64)
                ));
            }
            if let (Some(l), Some(p)) = (n.details.get("local"), n.details.get("peer")) {
                t.push_str(&format!(
                    "Connection: {} -> {}\n",
                    l.as_str().unwrap_or("?"),
                    p.as_str().unwrap_or("?")
                ));
            }
            t
        }
        Action::Resolve => format!(
            ":large_green_circle: *{link}* resolved: {}\nWhen: {} UTC ({})\n",
            n.summary,
            n.ts.utc(),
            local_time(n)
        ),
    }
}

/// The outbox entry for a notification.
pub fn entry(n: &Notification) -> Entry {
    Entry {
        dedup_key: n.dedup_key.clone(),
        action: n.action.name().to_string(),
        body: json!({ "text": text(n) }),
    }
}

/// Slack as a delivery destination.
pub struct Slack {
    /// The webhook URL (secret: never logged or stored).
    pub webhook_url: String,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("webhook_url", &"***")
            .finish()
    }
}

impl Destination for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn url(&self) -> &str {
        &self.webhook_url
    }

    fn body(&self, entry: &Entry) -> Value {
        entry.body.clone()
    }

    fn accepted(&self, _status: u16, body: &str) -> bool {
        // Slack answers `ok`; anything else in a 2xx is an error text.
        body.trim().is_empty() || body.trim() == "ok"
    }
}
