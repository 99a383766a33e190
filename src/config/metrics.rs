//! `[metrics]`: where the OpenMetrics endpoint and status page listen
//! (`crate::serve`).

use serde::Deserialize;

/// `[metrics]`: the OpenMetrics endpoint and status page, off unless the
/// section is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// The address the HTTP server binds (default `127.0.0.1:9464`). No
    /// authentication and no TLS: bind it to loopback or a management
    /// network only. It serves no payload byte and no secret, but link
    /// names, peer addresses and health.
    pub listen: std::net::SocketAddr,
}

/// The default `[metrics] listen`: loopback, Prometheus' port for
/// exporters of this kind.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// `[metrics]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    listen: Option<String>,
}

impl RawMetrics {
    /// The section with its default filled in and its address parsed.
    pub(super) fn validate(self) -> Result<MetricsConfig, String> {
        let listen = self.listen.as_deref().unwrap_or(DEFAULT_METRICS_LISTEN);
        Ok(MetricsConfig {
            listen: listen.parse().map_err(|_| {
                format!(
                    "[metrics] listen = {listen:?}: give an IP address and port, e.g. \"{DEFAULT_METRICS_LISTEN}\" (loopback: the endpoint has no authentication)"
                )
            })?,
        })
    }
}
