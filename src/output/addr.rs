//! Addresses as the output writes them, by hand: `addr:port` (IPv6 as
//! `[addr]:port`) and bare IPs, the bytes `Display` writes. Every event
//! and summary line has two or more; std's `Display` was a seventh of a
//! replay. Shared by the JSON and the text formats.

use std::net::{IpAddr, SocketAddr};

/// `addr:port` as `SocketAddr`'s Display writes it. IPv4, nearly every
/// address on the line, by hand: std's Display was a seventh of a replay.
pub fn socket_addr(buf: &mut Vec<u8>, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            let mut s = Ipv4Text::new();
            s.ipv4(v4.ip().octets());
            s.extend(b":");
            s.extend(itoa::Buffer::new().format(v4.port()).as_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        SocketAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(buf, "{v6}");
        }
    }
}

fn ipv4(buf: &mut Vec<u8>, octets: [u8; 4]) {
    let mut s = Ipv4Text::new();
    s.ipv4(octets);
    buf.extend_from_slice(s.as_bytes());
}

/// Each octet value's decimal digits (left-aligned) and their count.
const OCTETS: [([u8; 3], u8); 256] = {
    let mut table = [([0u8; 3], 0u8); 256];
    let mut n = 0;
    while n < 256 {
        let (a, b, c) = ((n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8);
        #[allow(clippy::indexing_slicing)] // evaluated at compile time: n < 256
        {
            table[n] = if n >= 100 {
                ([b'0' + a, b'0' + b, b'0' + c], 3)
            } else if n >= 10 {
                ([b'0' + b, b'0' + c, 0], 2)
            } else {
                ([b'0' + c, 0, 0], 1)
            };
        }
        n += 1;
    }
    table
};

/// An IPv4 address, or `addr:port`, built on the stack (at most 21 bytes)
/// and appended to the line in one copy: a line has several, and a copy
/// call per octet showed in profiles.
struct Ipv4Text {
    bytes: [u8; 24],
    len: usize,
}

impl Ipv4Text {
    fn new() -> Ipv4Text {
        Ipv4Text {
            bytes: [0; 24],
            len: 0,
        }
    }

    fn extend(&mut self, s: &[u8]) {
        if let Some(to) = self.bytes.get_mut(self.len..self.len + s.len()) {
            to.copy_from_slice(s);
            self.len += s.len();
        }
    }

    fn ipv4(&mut self, octets: [u8; 4]) {
        for (i, octet) in octets.iter().enumerate() {
            if i > 0 {
                self.extend(b".");
            }
            // Three digit bytes copied at once, then as many kept as the
            // octet has.
            if let (Some(&(digits, n)), Some(to)) = (
                OCTETS.get(usize::from(*octet)),
                self.bytes.get_mut(self.len..self.len + 3),
            ) {
                to.copy_from_slice(&digits);
                self.len += usize::from(n);
            }
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// An IP address as its `Display` writes it (IPv4 by hand).
pub fn ip(buf: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => ipv4(buf, v4.octets()),
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(buf, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_ipv4_endpoints_match_display() {
        let edges = [0u16, 1, 9, 10, 99, 100, 255, 999, 1000, 9999, 10000, 65535];
        for &a in &edges {
            for &port in &edges {
                let o = u8::try_from(a.min(255)).unwrap();
                let sa = SocketAddr::from(([o, 255 - o, o / 10, o % 100], port));
                let mut buf = Vec::new();
                socket_addr(&mut buf, &sa);
                assert_eq!(String::from_utf8(buf).unwrap(), sa.to_string());
                let mut buf = Vec::new();
                ipv4(&mut buf, [o, o / 3, 0, 255]);
                assert_eq!(
                    String::from_utf8(buf).unwrap(),
                    std::net::Ipv4Addr::from([o, o / 3, 0, 255]).to_string()
                );
            }
        }
    }
}
