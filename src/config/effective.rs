//! `linewatch check-config`: the effective configuration, every default
//! filled in, printed as TOML that parses back to the same [`Config`].
//!
//! A serde view of the config goes through `toml`; `toml_edit` then adds the
//! two kinds of comment the serializer cannot write (whether a secret is
//! usable, and that a link without `interface` is for replay only).

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use toml_edit::DocumentMut;

use super::{Config, LinkSpec, OnReconnect, OnSilence, OnStarvation, PageOn, PeerSpec, Secret};
use crate::time::Duration;

/// The document, in the order the example config documents it.
#[derive(Serialize)]
struct View<'a> {
    daemon: Daemon<'a>,
    limits: Limits,
    evidence: Evidence,
    #[serde(skip_serializing_if = "Option::is_none")]
    statsd: Option<Statsd<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<Metrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pagerduty: Option<PagerDuty<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slack: Option<Slack>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    link: Vec<Link<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    maintenance: Vec<super::maintenance::RawWindow>,
}

#[derive(Serialize)]
struct Daemon<'a> {
    state_dir: String,
    status_interval: Human,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
}

#[derive(Serialize)]
struct Metrics {
    listen: String,
}

#[derive(Serialize)]
struct Limits {
    max_flows: usize,
    event_burst: u32,
    event_interval: String,
    max_analyzed: usize,
}

/// `[evidence]`, its directory resolved under the state directory.
#[derive(Serialize)]
struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<String>,
    before: Human,
    after: Human,
    memory_per_link: Bytes,
    max_disk: Bytes,
}

/// A byte size as bytesize prints it in binary units (`16.0 MiB`),
/// unless that would round: then plain bytes, so the printed config
/// parses back to the same byte.
struct Bytes(u64);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let human = bytesize::ByteSize(self.0).display().iec().to_string();
        match human.parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() == self.0 => {
                s.serialize_str(&human.replace(".0 ", "").replace(' ', ""))
            }
            _ => s.collect_str(&self.0),
        }
    }
}

#[derive(Serialize)]
struct Statsd<'a> {
    address: &'a str,
}

#[derive(Serialize)]
struct PagerDuty<'a> {
    events_url: &'a str,
    #[serde(flatten)]
    routing_key: SecretKeys,
}

#[derive(Serialize)]
struct Slack {
    #[serde(flatten)]
    webhook_url: SecretKeys,
}

/// A [`Secret`] as the config names it: one key, `<key>_file` or
/// `<key>_env`, flattened into its table.
type SecretKeys = BTreeMap<String, String>;

fn secret_keys(key: &str, secret: &Secret) -> SecretKeys {
    match secret {
        Secret::File(p) => [(format!("{key}_file"), p.display().to_string())].into(),
        Secret::Env(n) => [(format!("{key}_env"), n.clone())].into(),
    }
}

#[derive(Serialize)]
struct Link<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    interface: Option<&'a str>,
    peer: &'a [PeerSpec],
    local: &'a [PeerSpec],
    expect_connections: u32,
    silence_after: Human,
    black_hole_after: Human,
    reconnect_grace: Human,
    snaplen: u32,
    buffer_size: u32,
    page_on: PageOn,
    hold_down: Human,
    on_reconnect: OnReconnect,
    on_silence: OnSilence,
    evidence: bool,
    response_sla: Human,
    response_timeout: Human,
    on_starvation: OnStarvation,
    path_change_after: Human,
    retransmit_rate_over: f64,
    zero_window_after: Human,
    // Tables last: TOML writes a link's sub-tables after its values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pagerduty: Option<SecretKeys>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slack: Option<SecretKeys>,
}

impl<'a> Link<'a> {
    fn new(l: &'a LinkSpec) -> Link<'a> {
        Link {
            name: &l.name,
            interface: l.interface.as_deref(),
            peer: &l.peers,
            local: &l.local,
            expect_connections: l.expect_connections,
            silence_after: Human(l.silence_after),
            black_hole_after: Human(l.black_hole_after),
            reconnect_grace: Human(l.reconnect_grace),
            snaplen: l.snaplen,
            buffer_size: l.buffer_size,
            page_on: l.page_on,
            hold_down: Human(l.hold_down),
            on_reconnect: l.on_reconnect,
            on_silence: l.on_silence,
            evidence: l.evidence,
            response_sla: Human(l.analytics.response_sla),
            response_timeout: Human(l.analytics.response_timeout),
            on_starvation: l.on_starvation,
            path_change_after: Human(l.analytics.path_change_after),
            retransmit_rate_over: f64::from(l.analytics.retransmit_per_10k) / 100.0,
            zero_window_after: Human(l.analytics.zero_window_after),
            pagerduty: l
                .routes
                .pagerduty
                .as_ref()
                .map(|s| secret_keys("routing_key", s)),
            slack: l
                .routes
                .slack
                .as_ref()
                .map(|s| secret_keys("webhook_url", s)),
        }
    }
}

/// A duration in humantime's form (`45s`, `1m 30s`, `1s 500ms`): exact, so
/// the printed config parses back to the same nanosecond.
struct Human(Duration);

impl Serialize for Human {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let nanos = u64::try_from(self.0.as_nanos()).unwrap_or(0);
        s.collect_str(&humantime::format_duration(
            std::time::Duration::from_nanos(nanos),
        ))
    }
}

impl Serialize for PeerSpec {
    /// As written in the config (`ADDR:PORT`, `CIDR:PORT`, `[IPV6]:PORT`).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Whether a secret can be read, for the comment after its key (never the
/// value).
fn secret_state(s: &Secret) -> String {
    match s.resolve() {
        Ok(v) => format!("  # readable, {} characters (value never printed)", v.len()),
        Err(e) => format!("  # NOT usable: {e}"),
    }
}

/// Puts `comment` after the value of the `<key>_file` or `<key>_env` entry
/// of `table`.
fn comment_secret(doc: &mut DocumentMut, table: &str, key: &str, secret: &Secret) {
    let name = match secret {
        Secret::File(_) => format!("{key}_file"),
        Secret::Env(_) => format!("{key}_env"),
    };
    let value = doc
        .get_mut(table)
        .and_then(|t| t.get_mut(&name))
        .and_then(|v| v.as_value_mut());
    if let Some(v) = value {
        v.decor_mut().set_suffix(secret_state(secret));
    }
}

impl Config {
    /// The effective configuration, defaults filled in, as TOML with a
    /// comment where a value alone does not say enough (`linewatch
    /// check-config`).
    pub fn effective_toml(&self) -> String {
        let view = View {
            daemon: Daemon {
                state_dir: self.state_dir.display().to_string(),
                status_interval: Human(self.status_interval),
                host: self.host.as_deref(),
            },
            limits: Limits {
                max_flows: self.max_flows,
                event_burst: self.storm.burst,
                event_interval: self.storm.interval.to_string(),
                max_analyzed: self.max_analyzed,
            },
            evidence: Evidence {
                dir: self.evidence.dir.as_ref().map(|d| d.display().to_string()),
                before: Human(self.evidence.before),
                after: Human(self.evidence.after),
                memory_per_link: Bytes(self.evidence.memory_per_link as u64),
                max_disk: Bytes(self.evidence.max_disk),
            },
            statsd: self.statsd.as_ref().map(|s| Statsd {
                address: &s.address,
            }),
            metrics: self.metrics.as_ref().map(|m| Metrics {
                listen: m.listen.to_string(),
            }),
            pagerduty: self.pagerduty.as_ref().map(|p| PagerDuty {
                events_url: &p.events_url,
                routing_key: secret_keys("routing_key", &p.routing_key),
            }),
            slack: self.slack.as_ref().map(|s| Slack {
                webhook_url: secret_keys("webhook_url", &s.webhook_url),
            }),
            link: self.links.iter().map(Link::new).collect(),
            maintenance: self
                .maintenance
                .iter()
                .map(|w| super::maintenance::RawWindow {
                    link: w.link.clone(),
                    from: super::maintenance::rfc3339(w.from),
                    to: super::maintenance::rfc3339(w.to),
                    reason: Some(w.reason.clone()),
                })
                .collect(),
        };
        let text = match toml::to_string(&view) {
            Ok(t) => t,
            // Every field is a string, a number or a list of strings.
            Err(e) => return format!("# cannot print the config as TOML: {e}\n"),
        };
        let Ok(mut doc) = text.parse::<DocumentMut>() else {
            return text;
        };
        if let Some(p) = &self.pagerduty {
            comment_secret(&mut doc, "pagerduty", "routing_key", &p.routing_key);
        }
        if let Some(s) = &self.slack {
            comment_secret(&mut doc, "slack", "webhook_url", &s.webhook_url);
        }
        if self.evidence.dir.is_none() {
            let default = self.evidence.dir_under(&self.state_dir);
            if let Some(mut key) = doc
                .get_mut("evidence")
                .and_then(|t| t.as_table_mut())
                .and_then(|t| t.key_mut("before"))
            {
                key.leaf_decor_mut().set_prefix(format!(
                    "# dir not set: STATE_DIR/evidence, here {}\n",
                    default.display()
                ));
            }
        }
        if let Some(links) = doc.get_mut("link").and_then(|l| l.as_array_of_tables_mut()) {
            for (table, spec) in links.iter_mut().zip(&self.links) {
                if spec.interface.is_none() {
                    if let Some(mut key) = table.key_mut("peer") {
                        key.leaf_decor_mut()
                            .set_prefix("# interface not set: replay only\n");
                    }
                }
            }
        }
        doc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_config_parses_back_the_same_with_its_comments() {
        let text = "[daemon]\nhost = \"gw \\\"1\\\"\"\nstatus_interval = \"1.5ms\"\n\
            [pagerduty]\nrouting_key_env = \"LINEWATCH_TEST_UNSET_KEY\"\n\
            [[link]]\nname = \"a\"\npeer = [\"203.0.113.0/28:5000\", \"[2001:db8::1]:443\"]\n\
            silence_after = \"1m30s\"\non_reconnect = \"ok\"\n";
        let config = Config::parse(text).unwrap();
        let printed = config.effective_toml();
        assert_eq!(Config::parse(&printed).unwrap(), config, "{printed}");
        for line in [
            "status_interval = \"1ms 500us\"",
            "silence_after = \"1m 30s\"",
            "on_reconnect = \"ok\"",
            "peer = [\"203.0.113.0/28:5000\", \"[2001:db8::1]:443\"]",
            "# interface not set: replay only\npeer = ",
            "routing_key_env = \"LINEWATCH_TEST_UNSET_KEY\"  # NOT usable: environment variable LINEWATCH_TEST_UNSET_KEY is not set\n",
        ] {
            assert!(printed.contains(line), "no `{line}` in\n{printed}");
        }
        assert!(printed.contains(
            "[evidence]\n# dir not set: STATE_DIR/evidence, here /var/lib/linewatch/evidence\nbefore = \"5m\""
        ), "{printed}");
        assert!(!Config::default().effective_toml().contains("[[link]]"));
    }
}
