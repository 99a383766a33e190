//! A peer as the config writes it: an address or address block and an
//! optional port (`203.0.113.10:5000`, `[2001:db8::/64]:5000`), parsed
//! once and matched against every segment of a configured capture.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::de::{self, Deserialize, Deserializer};

/// An address block and optional port that identifies the peer side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// The address block as written (`203.0.113.10/32` for a single host);
    /// ipnet does the prefix arithmetic.
    pub net: IpNet,
    /// The peer's port; `None` matches any port.
    pub port: Option<u16>,
}

impl PeerSpec {
    /// Does `sa` lie in this block (and on this port)? Called for every
    /// segment when links are configured (the tracker's first filter).
    #[inline]
    pub fn matches(&self, sa: &SocketAddr) -> bool {
        self.port.is_none_or(|p| p == sa.port()) && self.net.contains(&sa.ip())
    }

    /// Is this one host (`/32` or `/128`) rather than a block?
    pub fn is_host(&self) -> bool {
        self.net.prefix_len() == self.net.max_prefix_len()
    }
}

impl FromStr for PeerSpec {
    type Err = String;

    /// `203.0.113.10:5000`, `203.0.113.0/28:5000`, `[2001:db8::1]:5000`,
    /// `[2001:db8::/64]:5000`, or an address/CIDR without port (any port).
    fn from_str(text: &str) -> Result<PeerSpec, String> {
        let bad = || {
            format!(
                "`{text}` is not a peer; write \"ADDR:PORT\", \"CIDR:PORT\" or \"[IPV6]:PORT\", e.g. \"203.0.113.10:5000\""
            )
        };
        let s = text.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, tail) = rest.split_once(']').ok_or_else(bad)?;
            let port = match tail.strip_prefix(':') {
                Some(p) => Some(p),
                None if tail.is_empty() => None,
                None => return Err(bad()),
            };
            (h, port)
        } else if s.matches(':').count() == 1 {
            let (h, p) = s.split_once(':').ok_or_else(bad)?;
            (h, Some(p))
        } else {
            (s, None)
        };
        let port = match port {
            Some("*") | None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
        };
        let net = match host.split_once('/') {
            None => IpNet::from(host.parse::<IpAddr>().map_err(|_| bad())?),
            Some((addr, len)) => host.parse::<IpNet>().map_err(|_| {
                // ipnet says only "invalid IP address syntax": name the
                // prefix when it is the address's only fault.
                match (addr.parse::<IpAddr>(), len.parse::<u8>()) {
                    (Ok(a), Ok(prefix)) => {
                        let max = if a.is_ipv4() { 32 } else { 128 };
                        format!("`{text}`: prefix /{prefix} is longer than /{max}")
                    }
                    _ => bad(),
                }
            })?,
        };
        Ok(PeerSpec { net, port })
    }
}

impl fmt::Display for PeerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.is_host() {
            self.net.addr().to_string()
        } else {
            self.net.to_string()
        };
        let v6 = matches!(self.net, IpNet::V6(_));
        match (v6, self.port) {
            (true, Some(p)) => write!(f, "[{host}]:{p}"),
            (false, Some(p)) => write!(f, "{host}:{p}"),
            (_, None) => write!(f, "{host}"),
        }
    }
}

impl<'de> Deserialize<'de> for PeerSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}
