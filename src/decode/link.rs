//! Link types linewatch decodes, mapped from pcap's DLT numbers.
//!
//! Anything not listed here is refused when the capture is opened, with the
//! DLT's name and number, rather than producing silently empty timelines.

use std::fmt;

/// The link layer framing of every frame in one capture.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB: Ethernet II, with 802.1Q/802.1ad tags, MPLS, PPPoE and a
    /// few vendor encapsulations inside.
    Ethernet,
    /// DLT_LINUX_SLL: Linux "cooked" capture v1 (`-i any`), 16-byte header.
    LinuxSll,
    /// DLT_LINUX_SLL2: Linux cooked capture v2, 20-byte header.
    LinuxSll2,
    /// DLT_RAW (12 on some systems, 101 in files): a bare IPv4 or IPv6 packet.
    Raw,
    /// DLT_IPV4 (228): a bare IPv4 packet.
    Ipv4,
    /// DLT_IPV6 (229): a bare IPv6 packet.
    Ipv6,
    /// DLT_NULL (0): BSD loopback, 4-byte address family in host byte order.
    Null,
    /// DLT_LOOP (108): OpenBSD loopback, 4-byte address family in network byte order.
    Loop,
}

/// A capture whose link type linewatch cannot decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported link type {name} ({dlt})")]
pub struct UnsupportedLinkType {
    /// The DLT number from the file or interface.
    pub dlt: i32,
    /// libpcap's name for it, e.g. `DLT_IEEE802_11`.
    pub name: String,
}

impl LinkType {
    /// Maps a pcap DLT/LINKTYPE number to a decodable link type.
    pub fn from_dlt(dlt: i32) -> Result<LinkType, UnsupportedLinkType> {
        Ok(match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            12 | 14 | 101 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => {
                return Err(UnsupportedLinkType {
                    dlt: other,
                    name: dlt_name(other),
                })
            }
        })
    }

    /// The DLT number, as pcap file headers write it.
    pub fn dlt(self) -> i32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Raw => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Null => 0,
            LinkType::Loop => 108,
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&dlt_name(self.dlt()))
    }
}

/// libpcap's `DLT_` name for a link type number, or `DLT_<n>` if unknown.
pub fn dlt_name(dlt: i32) -> String {
    let name = pcap::Linktype(dlt).get_name().ok();
    match name {
        Some(n) => format!("DLT_{n}"),
        None => format!("DLT_{dlt}"),
    }
}
