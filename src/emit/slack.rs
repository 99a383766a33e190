//! Slack incoming webhook: the same incidents as readable messages, typed
//! from the notification's evidence.

use chrono::TimeZone;
use serde::{Deserialize, Serialize};

use crate::policy::{Action, Evidence, EvidenceRef, Notification, Recovered};
use crate::status::Health;

use super::delivery::{Destination, Routed};
use super::outbox::{Body, Entry};

/// A Slack message: one text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlackMessage {
    /// The message, Slack mrkdwn.
    pub text: String,
}

fn local_time(n: &Notification) -> String {
    match chrono::Local.timestamp_opt(
        n.ts.to_chrono().timestamp(),
        n.ts.to_chrono().timestamp_subsec_nanos(),
    ) {
        chrono::LocalResult::Single(t) => t.format("%Y-%m-%d %H:%M:%S%.3f %Z").to_string(),
        _ => "-".into(),
    }
}

/// `Evidence: FILE (N packets[, sha256 H])`, a line of the message.
fn evidence_line(f: &EvidenceRef) -> String {
    let hash = f
        .sha256
        .as_ref()
        .map(|h| format!(", sha256 {h}"))
        .unwrap_or_default();
    format!("Evidence: {} ({} packets{hash})\n", f.file, f.packets)
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
            if let Some(ev) = n.evidence.link() {
                if let Some(from) = ev.from {
                    t.push_str(&format!("Closed by: {}\n", from.name()));
                }
                if let Some(a) = &ev.attribution {
                    t.push_str(&format!(
                        "Sent by: {} ({})\n",
                        a.sender,
                        a.reasons.join("; ")
                    ));
                }
                if let Some(up) = ev.up_for_s {
                    t.push_str(&format!(
                        "Connection had been up: {}\n",
                        crate::time::Duration::from_nanos((up * 1e9) as i64)
                    ));
                }
                if let (Some(l), Some(p)) = (ev.local, ev.peer) {
                    t.push_str(&format!("Connection: {l} -> {p}\n"));
                }
                if let Some(f) = &ev.evidence {
                    t.push_str(&evidence_line(f));
                }
            }
            t
        }
        Action::Resolve => {
            let mut t = format!(
                ":large_green_circle: *{link}* resolved: {}\nWhen: {} UTC ({})\n",
                n.summary,
                n.ts.utc(),
                local_time(n)
            );
            if let Evidence::Recovered(Recovered {
                evidence: Some(f), ..
            }) = &n.evidence
            {
                t.push_str(&evidence_line(f));
            }
            t
        }
    }
}

/// The outbox entry for a notification.
pub fn entry(n: &Notification) -> Entry {
    Entry {
        dedup_key: n.dedup_key.clone(),
        action: n.action,
        link: n.link.as_deref().map(String::from),
        body: Body::Slack(SlackMessage { text: text(n) }),
    }
}

/// Slack as a delivery destination.
#[derive(Debug)]
pub struct Slack {
    /// The webhook URL, and links' own (secrets: never logged or stored).
    pub webhook_url: Routed,
}

impl Destination for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn url(&self, entry: &Entry) -> &str {
        self.webhook_url.for_link(entry.link.as_deref()).expose()
    }

    fn body(&self, entry: &Entry) -> serde_json::Result<Vec<u8>> {
        entry.body.encode(None)
    }

    fn accepted(&self, _status: u16, body: &str) -> bool {
        // Slack answers `ok`; anything else in a 2xx is an error text.
        body.trim().is_empty() || body.trim() == "ok"
    }
}
