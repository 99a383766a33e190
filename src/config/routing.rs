//! Per-link routing of pages: a link's own PagerDuty routing key and Slack
//! webhook (`pagerduty = { routing_key_file = ... }`, `slack = {
//! webhook_url_env = ... }` in its `[[link]]`), so the Visa line pages the
//! team that owns it and the Mastercard line another. A link without its
//! own uses the `[pagerduty]` / `[slack]` section's, as do the probe's own
//! incidents. Secrets come from a file or an environment variable, as the
//! sections' do, and are masked everywhere.

use std::path::PathBuf;

use serde::Deserialize;

use super::Secret;

/// A link's `pagerduty = { ... }`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinkPagerDuty {
    routing_key_file: Option<PathBuf>,
    routing_key_env: Option<String>,
}

/// A link's `slack = { ... }`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinkSlack {
    webhook_url_file: Option<PathBuf>,
    webhook_url_env: Option<String>,
}

/// Where a link's pages go, when not where the sections send them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkRoutes {
    /// The link's own PagerDuty routing key.
    pub pagerduty: Option<Secret>,
    /// The link's own Slack webhook URL.
    pub slack: Option<Secret>,
}

impl LinkRoutes {
    /// Validates link `name`'s overrides: each names its secret once, and
    /// needs its section (which gives the endpoint and the default).
    pub(super) fn parse(
        name: &str,
        pagerduty: Option<RawLinkPagerDuty>,
        slack: Option<RawLinkSlack>,
        have_pagerduty: bool,
        have_slack: bool,
    ) -> Result<LinkRoutes, String> {
        let section = |what: &str, section: &str| {
            format!(
                "link `{name}` has its own {what}, but the config has no {section} section: add it (its endpoint, and the default for the other links and the probe's own incidents)"
            )
        };
        let pagerduty = match pagerduty {
            None => None,
            Some(_) if !have_pagerduty => {
                return Err(section("PagerDuty routing key", "[pagerduty]"))
            }
            Some(p) => Some(
                Secret::from_parts(p.routing_key_file, p.routing_key_env, "routing key")
                    .map_err(|e| format!("link `{name}`, pagerduty: {e}"))?,
            ),
        };
        let slack = match slack {
            None => None,
            Some(_) if !have_slack => return Err(section("Slack webhook", "[slack]")),
            Some(s) => Some(
                Secret::from_parts(s.webhook_url_file, s.webhook_url_env, "webhook url")
                    .map_err(|e| format!("link `{name}`, slack: {e}"))?,
            ),
        };
        Ok(LinkRoutes { pagerduty, slack })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const LINK: &str = "[[link]]\nname = \"visa-primary\"\npeer = [\"203.0.113.10:5000\"]\n";
    const SECTIONS: &str =
        "[pagerduty]\nrouting_key_env = \"PD\"\n\n[slack]\nwebhook_url_env = \"SL\"\n";

    #[test]
    fn a_link_has_its_own_key_and_webhook() {
        let text = format!(
            "{LINK}pagerduty = {{ routing_key_file = \"/run/visa\" }}\nslack = {{ webhook_url_env = \"SL_VISA\" }}\n\n{SECTIONS}"
        );
        let c = Config::parse(&text).unwrap();
        let routes = &c.links[0].routes;
        assert_eq!(routes.pagerduty, Some(Secret::File("/run/visa".into())));
        assert_eq!(routes.slack, Some(Secret::Env("SL_VISA".into())));
    }

    #[test]
    fn a_link_without_its_own_uses_the_sections() {
        let c = Config::parse(&format!("{LINK}\n{SECTIONS}")).unwrap();
        assert_eq!(c.links[0].routes, LinkRoutes::default());
    }

    #[test]
    fn an_override_needs_its_section_and_one_source() {
        let e = Config::parse(&format!(
            "{LINK}pagerduty = {{ routing_key_env = \"X\" }}\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("link `visa-primary`") && e.contains("[pagerduty]"),
            "{e}"
        );
        let e = Config::parse(&format!(
            "{LINK}slack = {{ webhook_url_env = \"X\", webhook_url_file = \"/f\" }}\n\n{SECTIONS}"
        ))
        .unwrap_err();
        assert!(
            e.contains("link `visa-primary`, slack") && e.contains("not both"),
            "{e}"
        );
    }
}
