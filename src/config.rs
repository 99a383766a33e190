//! `linewatch.toml`: which links to watch and how patient to be with them.
//!
//! Config sits at the edge: it is parsed and validated once into plain data
//! ([`Config`], [`LinkSpec`]) that the core reads. Every error names the
//! file, the line and the key, and says what is expected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::event::Side;
use crate::time::Duration;

mod effective;
mod evidence;
pub mod maintenance;
mod metrics;
mod peer;
mod routing;

pub use metrics::{MetricsConfig, DEFAULT_METRICS_LISTEN};
pub use peer::PeerSpec;
pub use routing::LinkRoutes;

pub use evidence::{ConfigBytes, EvidenceConfig};

/// Default `silence_after`: a payment link with echo heartbeats every 30 s
/// or less is silent at 45 s.
pub const DEFAULT_SILENCE_AFTER: Duration = Duration::from_secs(45);
/// Default `black_hole_after`: TCP's own retransmission backoff has tried
/// about three times within 10 s.
pub const DEFAULT_BLACK_HOLE_AFTER: Duration = Duration::from_secs(10);
/// Default `reconnect_grace`: how long a link may have fewer connections
/// than expected (e.g. while the application reconnects) before `link_down`.
pub const DEFAULT_RECONNECT_GRACE: Duration = Duration::from_secs(5);
/// Default flow table bound. A tracked connection costs about 1.4 KB with
/// its table slot (912 bytes), index entry, timers and Zeek history
/// (measured: 32,768 live flows, about 53 MiB peak RSS for the whole
/// replay, its queues and buffers included), so the default keeps the
/// probe under 64 MiB even when a busy capture fills the table; the
/// daemon, which tracks only its links' connections, never comes near it.
pub const DEFAULT_MAX_FLOWS: usize = 32_768;
/// Default capture snaplen: Ethernet (14), two VLAN tags (8), IPv6 (40) and
/// TCP with the longest options (60) make 122, rounded up to 128. Enough for
/// every header, as little payload as the headers allow (PCI DSS).
pub const DEFAULT_SNAPLEN: u32 = 128;
/// Default kernel capture buffer: 4 MiB holds seconds of a leased line's
/// headers even at 100k packets/s.
pub const DEFAULT_BUFFER_SIZE: u32 = 4 << 20;
/// Default `hold_down`: a link must stay healthy this long before its
/// incident resolves, so a line bouncing every few seconds is one incident.
pub const DEFAULT_HOLD_DOWN: Duration = Duration::from_secs(60);

/// Which health level opens an incident (a page).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PageOn {
    /// Page only when the link is critical (default).
    Critical,
    /// Page when it is degraded too.
    Warning,
}

/// How a connection closed or reset and replaced within the reconnect
/// grace counts, for `hold_down` after it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnReconnect {
    /// A WARNING (default): the line dropped a connection, even if the
    /// application got it back.
    Warning,
    /// Nothing: for links whose peer closes connections by design (daily
    /// re-keying, cut-over).
    Ok,
}

/// How it counts when every established connection of a link is silent
/// or black-holed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnSilence {
    /// CRITICAL (default): nothing gets through.
    Critical,
    /// A WARNING: for links that may legitimately go quiet (no traffic at
    /// night and no heartbeats); a missing connection is still CRITICAL.
    Warning,
}

/// How a connection in response starvation counts (the line works, the
/// far application does not answer).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStarvation {
    /// A WARNING (default): the line is fine, the card network's
    /// application is not; a page only with `page_on = "warning"`.
    Warning,
    /// CRITICAL: for links where no answer is as bad as no line.
    Critical,
}

/// Default `max_analyzed`: connections with degradation analytics at once.
pub const DEFAULT_MAX_ANALYZED: usize = 1_024;

/// Default state directory (systemd's `StateDirectory=linewatch`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/linewatch";
/// Default status document write interval.
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a value has the wrong form.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, where, and what is expected.
        message: String,
    },
}

/// A duration in config syntax (`"45s"`, `"500ms"`, `"2m"`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s)
            .map(ConfigDuration)
            .map_err(de::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, rename = "link")]
    links: Vec<RawLink>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    daemon: RawDaemon,
    statsd: Option<RawStatsd>,
    metrics: Option<metrics::RawMetrics>,
    pagerduty: Option<RawPagerDuty>,
    slack: Option<RawSlack>,
    #[serde(default)]
    evidence: evidence::RawEvidence,
    #[serde(default)]
    maintenance: Vec<maintenance::RawWindow>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    state_dir: Option<PathBuf>,
    status_interval: Option<ConfigDuration>,
    host: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatsd {
    address: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPagerDuty {
    events_url: Option<String>,
    routing_key_file: Option<PathBuf>,
    routing_key_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    webhook_url_file: Option<PathBuf>,
    webhook_url_env: Option<String>,
}

/// Where a secret comes from: never the config file itself, never the
/// command line (systemd `LoadCredential=` friendly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    /// Read from this file (trailing whitespace trimmed).
    File(PathBuf),
    /// Read from this environment variable.
    Env(String),
}

impl Secret {
    fn from_parts(
        file: Option<PathBuf>,
        env: Option<String>,
        what: &str,
    ) -> Result<Secret, String> {
        match (file, env) {
            (Some(f), None) => Ok(Secret::File(f)),
            (None, Some(e)) => Ok(Secret::Env(e)),
            (Some(_), Some(_)) => Err(format!(
                "give the {what} either as a file or as an environment variable, not both"
            )),
            (None, None) => Err(format!(
                "the {what} is missing: set `{}_file` (e.g. a systemd credential) or `{}_env`",
                what.replace(' ', "_"),
                what.replace(' ', "_")
            )),
        }
    }

    /// Reads the secret. Errors name the source, never the value.
    pub fn resolve(&self) -> Result<String, String> {
        let v = match self {
            Secret::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read secret file {}: {e}", p.display()))?,
            Secret::Env(name) => std::env::var(name)
                .map_err(|_| format!("environment variable {name} is not set"))?,
        };
        let v = v.trim().to_string();
        if v.is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        Ok(v)
    }

    /// Where it comes from, for check-config (never the value).
    pub fn describe(&self) -> String {
        match self {
            Secret::File(p) => format!("file {}", p.display()),
            Secret::Env(n) => format!("environment variable {n}"),
        }
    }
}

/// `[statsd]`: DogStatsD metrics, events and service checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsdConfig {
    /// `host:port` of the agent (default 127.0.0.1:8125).
    pub address: String,
}

/// `[pagerduty]`: Events API v2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagerDutyConfig {
    /// Events endpoint (default the public `/v2/enqueue`).
    pub events_url: String,
    /// The routing (integration) key.
    pub routing_key: Secret,
}

/// `[slack]`: incoming webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackConfig {
    /// The webhook URL (a secret).
    pub webhook_url: Secret,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_flows: Option<Spanned<usize>>,
    event_burst: Option<u32>,
    event_interval: Option<Spanned<ConfigDuration>>,
    max_analyzed: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    name: Spanned<String>,
    peer: Spanned<Vec<PeerSpec>>,
    expect_connections: Option<u32>,
    silence_after: Option<ConfigDuration>,
    black_hole_after: Option<ConfigDuration>,
    reconnect_grace: Option<ConfigDuration>,
    interface: Option<Spanned<String>>,
    local: Option<Vec<PeerSpec>>,
    page_on: Option<PageOn>,
    hold_down: Option<ConfigDuration>,
    on_reconnect: Option<OnReconnect>,
    on_silence: Option<OnSilence>,
    response_sla: Option<ConfigDuration>,
    response_timeout: Option<ConfigDuration>,
    on_starvation: Option<OnStarvation>,
    path_change_after: Option<ConfigDuration>,
    retransmit_rate_over: Option<Spanned<f64>>,
    zero_window_after: Option<ConfigDuration>,
    snaplen: Option<Spanned<u32>>,
    buffer_size: Option<Spanned<u32>>,
    evidence: Option<bool>,
    pagerduty: Option<routing::RawLinkPagerDuty>,
    slack: Option<routing::RawLinkSlack>,
}

/// One watched leased line: the card network's addresses and our patience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    /// Name used in events, metrics and pages (`visa-primary`).
    pub name: Arc<str>,
    /// Peer addresses; a connection belongs to the link if one end matches.
    pub peers: Vec<PeerSpec>,
    /// How many established connections the link should have.
    pub expect_connections: u32,
    /// Silence threshold: no packet either way for longer than this.
    pub silence_after: Duration,
    /// Black-hole threshold: local data unacknowledged for longer than this.
    pub black_hole_after: Duration,
    /// How long the link may be short of connections before `link_down`.
    pub reconnect_grace: Duration,
    /// The capture interface (daemon mode); `None` in replay-only configs.
    pub interface: Option<String>,
    /// Our addresses on the line; empty means any.
    pub local: Vec<PeerSpec>,
    /// Capture snaplen in bytes (header-only).
    pub snaplen: u32,
    /// Kernel capture buffer in bytes.
    pub buffer_size: u32,
    /// Which health level pages.
    pub page_on: PageOn,
    /// How long the link must be healthy before its incident resolves.
    pub hold_down: Duration,
    /// How a FIN/RST with a quick reconnect counts.
    pub on_reconnect: OnReconnect,
    /// How silence or a black hole on every connection counts.
    pub on_silence: OnSilence,
    /// Whether incidents of this link leave evidence files (`evidence`,
    /// default true).
    pub evidence: bool,
    /// Degradation analytics thresholds (`response_sla`,
    /// `response_timeout`, `path_change_after`, `retransmit_rate_over`,
    /// `zero_window_after`).
    pub analytics: crate::track::Limits,
    /// How response starvation counts (`on_starvation`, default warning).
    pub on_starvation: OnStarvation,
    /// The link's own PagerDuty routing key and Slack webhook, if any.
    pub routes: LinkRoutes,
}

impl LinkSpec {
    /// Which side sent a segment from `src` to `dst`, if it belongs to this
    /// link: `Local` when `dst` is one of the link's peers (and `src` one of
    /// our `local` addresses, when given), `Peer` the other way round.
    pub fn sender(&self, src: &SocketAddr, dst: &SocketAddr) -> Option<Side> {
        let local_ok =
            |x: &SocketAddr| self.local.is_empty() || self.local.iter().any(|l| l.matches(x));
        if self.peers.iter().any(|p| p.matches(dst)) && local_ok(src) {
            Some(Side::Local)
        } else if self.peers.iter().any(|p| p.matches(src)) && local_ok(dst) {
            Some(Side::Peer)
        } else {
            None
        }
    }
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Watched links, in file order.
    pub links: Vec<LinkSpec>,
    /// Flow table bound (`[limits] max_flows`).
    pub max_flows: usize,
    /// Storm control's budget for printed lines (`[limits] event_burst`
    /// per `event_interval`).
    pub storm: crate::storm::Limits,
    /// Where the daemon writes its status document (`[daemon] state_dir`).
    pub state_dir: PathBuf,
    /// How often the status document is written.
    pub status_interval: Duration,
    /// This probe's name in pages and metrics (`[daemon] host`, default the hostname).
    pub host: Option<String>,
    /// DogStatsD, if configured.
    pub statsd: Option<StatsdConfig>,
    /// The OpenMetrics endpoint and status page, if configured.
    pub metrics: Option<MetricsConfig>,
    /// `[[maintenance]]` windows: the link's faults do not page during
    /// them.
    pub maintenance: Vec<maintenance::Window>,
    /// PagerDuty, if configured.
    pub pagerduty: Option<PagerDutyConfig>,
    /// Slack, if configured.
    pub slack: Option<SlackConfig>,
    /// `[evidence]`: incident files.
    pub evidence: EvidenceConfig,
    /// Connections with degradation analytics at once (`[limits]
    /// max_analyzed`, default 4,096; 0 turns the analytics off).
    pub max_analyzed: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            links: Vec::new(),
            max_flows: DEFAULT_MAX_FLOWS,
            storm: crate::storm::Limits::default(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            status_interval: DEFAULT_STATUS_INTERVAL,
            host: None,
            statsd: None,
            metrics: None,
            maintenance: Vec::new(),
            pagerduty: None,
            slack: None,
            evidence: EvidenceConfig::default(),
            max_analyzed: DEFAULT_MAX_ANALYZED,
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|s| s.matches('\n').count())
        .unwrap_or(0)
        + 1
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and validates config text; the error names line and key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        let mut links: Vec<LinkSpec> = Vec::new();
        for l in raw.links {
            let name = l.name.get_ref().trim().to_string();
            let at = |span: std::ops::Range<usize>| line_of(text, span.start);
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!(
                    "line {}: key `name`: a link name must be non-empty and without spaces (it becomes a metric tag and a PagerDuty dedup key), e.g. \"visa-primary\"",
                    at(l.name.span())
                ));
            }
            if links.iter().any(|o| &*o.name == name.as_str()) {
                return Err(format!(
                    "line {}: key `name`: link `{name}` is defined twice; link names must be unique",
                    at(l.name.span())
                ));
            }
            if l.peer.get_ref().is_empty() {
                return Err(format!(
                    "line {}: key `peer` of link `{name}`: give at least one \"ADDR:PORT\" or \"CIDR:PORT\"",
                    at(l.peer.span())
                ));
            }
            let snaplen = match l.snaplen {
                Some(v) if !(64..=65_535).contains(v.get_ref()) => {
                    return Err(format!(
                        "line {}: key `snaplen` of link `{name}`: {} bytes is out of range; use 64..65535 (default {DEFAULT_SNAPLEN}, enough for all headers)",
                        at(v.span()),
                        v.get_ref()
                    ))
                }
                Some(v) => v.into_inner(),
                None => DEFAULT_SNAPLEN,
            };
            let buffer_size = match l.buffer_size {
                Some(v) if *v.get_ref() < 65_536 => {
                    return Err(format!(
                        "line {}: key `buffer_size` of link `{name}`: at least 65536 bytes (default {DEFAULT_BUFFER_SIZE})",
                        at(v.span())
                    ))
                }
                Some(v) => v.into_inner(),
                None => DEFAULT_BUFFER_SIZE,
            };
            let interface = match l.interface {
                Some(i) if i.get_ref().trim().is_empty() || i.get_ref().len() > 15 => {
                    return Err(format!(
                        "line {}: key `interface` of link `{name}`: `{}` is not an interface name (1 to 15 characters, e.g. \"eth1\")",
                        at(i.span()),
                        i.get_ref()
                    ))
                }
                Some(i) => Some(i.into_inner()),
                None => None,
            };
            let analytics = {
                let d = crate::track::Limits::default();
                let retransmit_per_10k = match l.retransmit_rate_over {
                    Some(r) if !(0.0..=100.0).contains(r.get_ref()) => {
                        return Err(format!(
                            "line {}: key `retransmit_rate_over` of link `{name}`: a percentage of data segments from 0 to 100 (default 2.0)",
                            at(r.span())
                        ))
                    }
                    Some(r) => (r.into_inner() * 100.0).round() as u32,
                    None => d.retransmit_per_10k,
                };
                crate::track::Limits {
                    response_sla: l.response_sla.map_or(d.response_sla, |v| v.0),
                    response_timeout: l.response_timeout.map_or(d.response_timeout, |v| v.0),
                    path_change_after: l.path_change_after.map_or(d.path_change_after, |v| v.0),
                    retransmit_per_10k,
                    zero_window_after: l.zero_window_after.map_or(d.zero_window_after, |v| v.0),
                }
            };
            links.push(LinkSpec {
                name: Arc::from(name.as_str()),
                peers: l.peer.into_inner(),
                expect_connections: l.expect_connections.unwrap_or(1),
                silence_after: l.silence_after.map_or(DEFAULT_SILENCE_AFTER, |d| d.0),
                black_hole_after: l.black_hole_after.map_or(DEFAULT_BLACK_HOLE_AFTER, |d| d.0),
                reconnect_grace: l.reconnect_grace.map_or(DEFAULT_RECONNECT_GRACE, |d| d.0),
                interface,
                local: l.local.unwrap_or_default(),
                snaplen,
                buffer_size,
                page_on: l.page_on.unwrap_or(PageOn::Critical),
                hold_down: l.hold_down.map_or(DEFAULT_HOLD_DOWN, |d| d.0),
                on_reconnect: l.on_reconnect.unwrap_or(OnReconnect::Warning),
                on_silence: l.on_silence.unwrap_or(OnSilence::Critical),
                evidence: l.evidence.unwrap_or(true),
                analytics,
                on_starvation: l.on_starvation.unwrap_or(OnStarvation::Warning),
                routes: LinkRoutes::parse(
                    &name,
                    l.pagerduty,
                    l.slack,
                    raw.pagerduty.is_some(),
                    raw.slack.is_some(),
                )?,
            });
        }
        let max_flows = match raw.limits.max_flows {
            Some(m) if *m.get_ref() < 16 => {
                return Err(format!(
                    "line {}: key `max_flows`: must be at least 16 (default {DEFAULT_MAX_FLOWS})",
                    line_of(text, m.span().start)
                ))
            }
            Some(m) => m.into_inner(),
            None => DEFAULT_MAX_FLOWS,
        };
        let storm = crate::storm::Limits {
            burst: raw
                .limits
                .event_burst
                .unwrap_or(crate::storm::DEFAULT_BURST),
            interval: match raw.limits.event_interval {
                Some(d) if d.get_ref().0 < Duration::from_secs(1) => {
                    return Err(format!(
                        "line {}: key `event_interval`: must be at least 1s (default 10s)",
                        line_of(text, d.span().start)
                    ))
                }
                Some(d) => d.into_inner().0,
                None => crate::storm::DEFAULT_INTERVAL,
            },
        };
        let evidence = raw.evidence.validate()?;
        let metrics = raw.metrics.map(metrics::RawMetrics::validate).transpose()?;
        let names: Vec<&str> = links.iter().map(|l| &*l.name).collect();
        let maintenance = raw
            .maintenance
            .iter()
            .map(|w| w.validate(&names))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            maintenance,
            metrics,
            evidence,
            max_analyzed: raw.limits.max_analyzed.unwrap_or(DEFAULT_MAX_ANALYZED),
            links,
            max_flows,
            storm,
            state_dir: raw
                .daemon
                .state_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            status_interval: raw
                .daemon
                .status_interval
                .map_or(DEFAULT_STATUS_INTERVAL, |d| d.0),
            host: raw.daemon.host,
            statsd: raw.statsd.map(|s| StatsdConfig {
                address: s.address.unwrap_or_else(|| "127.0.0.1:8125".into()),
            }),
            pagerduty: match raw.pagerduty {
                None => None,
                Some(p) => Some(PagerDutyConfig {
                    events_url: p
                        .events_url
                        .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into()),
                    routing_key: Secret::from_parts(
                        p.routing_key_file,
                        p.routing_key_env,
                        "routing key",
                    )
                    .map_err(|e| format!("[pagerduty]: {e}"))?,
                }),
            },
            slack: match raw.slack {
                None => None,
                Some(s) => Some(SlackConfig {
                    webhook_url: Secret::from_parts(
                        s.webhook_url_file,
                        s.webhook_url_env,
                        "webhook url",
                    )
                    .map_err(|e| format!("[slack]: {e}"))?,
                }),
            },
        })
    }

    /// Checks what the daemon needs beyond replay: an interface per link.
    pub fn check_daemon(&self) -> Result<(), String> {
        if self.links.is_empty() {
            return Err("no [[link]] configured: the daemon needs at least one link with `interface` and `peer`".into());
        }
        for l in &self.links {
            if l.interface.is_none() {
                return Err(format!(
                    "link `{}` has no `interface`: the daemon must know where to capture, e.g. interface = \"eth1\"",
                    l.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_in_every_documented_form() {
        let p: PeerSpec = "203.0.113.10:5000".parse().unwrap();
        assert!(p.matches(&"203.0.113.10:5000".parse().unwrap()));
        assert!(!p.matches(&"203.0.113.10:5001".parse().unwrap()));
        let p: PeerSpec = "203.0.113.0/28:5000".parse().unwrap();
        assert!(p.matches(&"203.0.113.15:5000".parse().unwrap()));
        assert!(!p.matches(&"203.0.113.16:5000".parse().unwrap()));
        let p: PeerSpec = "[2001:db8::/64]:5000".parse().unwrap();
        assert!(p.matches(&"[2001:db8::7]:5000".parse().unwrap()));
        assert_eq!(p.to_string(), "[2001:db8::/64]:5000");
        let p: PeerSpec = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(p.net.prefix_len(), 128);
        assert_eq!(p.to_string(), "[2001:db8::1]:443");
        // Host bits are kept as written, and still matched by prefix.
        let p: PeerSpec = "203.0.113.5/28:*".parse().unwrap();
        assert_eq!(p.to_string(), "203.0.113.5/28");
        assert!(p.matches(&"203.0.113.1:9".parse().unwrap()));
        assert!(!p.matches(&"[::ffff:203.0.113.1]:9".parse().unwrap()));
        let p: PeerSpec = "0.0.0.0/0:22".parse().unwrap();
        assert!(p.matches(&"198.51.100.1:22".parse().unwrap()));
        let p: PeerSpec = "10.0.0.0/8".parse().unwrap();
        assert!(p.matches(&"10.1.2.3:1".parse().unwrap()));
        assert!("10.0.0.1:http".parse::<PeerSpec>().is_err());
        assert_eq!(
            "10.0.0.0/33:1".parse::<PeerSpec>().unwrap_err(),
            "`10.0.0.0/33:1`: prefix /33 is longer than /32"
        );
        assert!("[2001:db8::/129]"
            .parse::<PeerSpec>()
            .unwrap_err()
            .contains("/128"));
        assert!("10.0.0.0/x:1"
            .parse::<PeerSpec>()
            .unwrap_err()
            .contains("ADDR:PORT"));
    }

    #[test]
    fn a_full_link_parses_with_defaults() {
        let c = Config::parse(
            "[[link]]\nname = \"visa-primary\"\npeer = [\"203.0.113.10:5000\"]\nsilence_after = \"30s\"\n",
        )
        .unwrap();
        let l = &c.links[0];
        assert_eq!(&*l.name, "visa-primary");
        assert_eq!(l.expect_connections, 1);
        assert_eq!(l.silence_after, Duration::from_secs(30));
        assert_eq!(l.black_hole_after, DEFAULT_BLACK_HOLE_AFTER);
        assert_eq!(c.max_flows, DEFAULT_MAX_FLOWS);
    }

    #[test]
    fn errors_name_line_key_and_what_is_expected() {
        let e = Config::parse(
            "[[link]]\nname = \"a\"\npeer = [\"1.2.3.4:5\"]\nsilence_after = \"45\"\n",
        )
        .unwrap_err();
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("silence_after"), "{e}");
        assert!(e.contains("no unit"), "{e}");
        let e = Config::parse("[[link]]\nname = \"a\"\npeer = [\"nonsense\"]\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("ADDR:PORT"), "{e}");
        let e = Config::parse(
            "[[link]]\nname = \"a\"\npeer = [\"1.2.3.4:5\"]\nsilense_after = \"4s\"\n",
        )
        .unwrap_err();
        assert!(e.contains("unknown field `silense_after`"), "{e}");
        let e = Config::parse(
            "[[link]]\nname = \"a\"\npeer = [\"1.2.3.4:5\"]\n[[link]]\nname = \"a\"\npeer = [\"1.2.3.4:6\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("line 5") && e.contains("twice"), "{e}");
    }
}
