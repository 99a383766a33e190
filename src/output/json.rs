//! A flat JSON object written straight into a byte buffer: the one
//! writer of the event and connection-summary JSON lines.
//!
//! Replay and the daemon's event log write hundreds of thousands of event
//! and summary lines. [`JsonLine`] writes the same bytes serde_json would
//! (same string escapes, same float and integer formatting, `null` for
//! absent values), with no intermediate map or `String`. Callers give the
//! keys in sorted order, the order a `serde_json::Map` would have them, so
//! that lines are stable and diffable.
//!
//! Why by hand and not `#[derive(Serialize)]` on a flat view struct
//! (issue 13, measured 2026-12-01 at commit df08f3d, where both writers
//! were in one build and `LINEWATCH_JSON_WRITER=derive` picked the
//! derived views for events and summaries; both wrote the same bytes
//! over every event kind and the whole replay corpus): JSON replay
//! (`linewatch replay FILE --format json`, no config) of
//! `synthetic-v1-5000000.pcap`, best of 5 alternating runs, took 1.20 s
//! wall / 1.20 s CPU by hand and 1.32 s wall / 1.31 s CPU derived, a
//! ratio of 1.10 (1.09 CPU); over 20 more alternating pairs, median
//! 1.23 s against 1.34 s wall (1.09) and 1.21 s against 1.33 s CPU
//! (1.10), and 0.64 s against 0.75 s (1.17) in the runs that found both
//! cores idle; under cachegrind on `synthetic-v1-200000.pcap`, 379.0 M
//! instructions by hand and 445.9 M derived (1.18). Derive lost more than the 5 % of replay time it was
//! allowed, so the hand-written writer stays, and the derived views were
//! removed. Most of the difference is serde_json escaping every key and
//! string byte by byte (`format_escaped_str_contents`, 12 % of the derived
//! replay's instructions), where this writer writes its own keys as they
//! are and checks a string for bytes to escape once.

use std::net::{IpAddr, SocketAddr};

use serde_json::ser::{CompactFormatter, Formatter};

/// One JSON object being written into `buf`.
pub struct JsonLine<'a> {
    buf: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> JsonLine<'a> {
    /// Opens an object at the end of `buf`.
    pub fn begin(buf: &'a mut Vec<u8>) -> JsonLine<'a> {
        buf.push(b'{');
        JsonLine { buf, empty: true }
    }

    /// Closes the object.
    pub fn end(self) {
        self.buf.push(b'}');
    }

    /// Keys are linewatch's own snake_case names: written as they are,
    /// with no escaping to check for.
    #[inline]
    fn key(&mut self, key: impl JsonKey) {
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
        key.put(self.buf);
    }

    /// `"key":"value"`, escaped as serde_json escapes.
    #[inline]
    pub fn str(&mut self, key: impl JsonKey, value: &str) -> &mut Self {
        self.key(key);
        string(self.buf, value);
        self
    }

    /// A string or `null`.
    #[inline]
    pub fn opt_str(&mut self, key: impl JsonKey, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    /// `"key":null`.
    #[inline]
    pub fn null(&mut self, key: impl JsonKey) -> &mut Self {
        self.key(key);
        self.buf.extend_from_slice(b"null");
        self
    }

    /// An unsigned integer.
    #[inline]
    pub fn u64(&mut self, key: impl JsonKey, value: u64) -> &mut Self {
        self.key(key);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// An unsigned integer or `null`.
    #[inline]
    pub fn opt_u64(&mut self, key: impl JsonKey, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.u64(key, v),
            None => self.null(key),
        }
    }

    /// A float as serde_json writes it (`null` if not finite).
    #[inline]
    pub fn f64(&mut self, key: impl JsonKey, value: f64) -> &mut Self {
        self.key(key);
        if value.is_finite() {
            // Writing into a Vec cannot fail.
            let _ = CompactFormatter.write_f64(self.buf, value);
        } else {
            self.buf.extend_from_slice(b"null");
        }
        self
    }

    /// A float or `null`.
    #[inline]
    pub fn opt_f64(&mut self, key: impl JsonKey, value: Option<f64>) -> &mut Self {
        match value {
            Some(v) => self.f64(key, v),
            None => self.null(key),
        }
    }

    /// `true` or `false`.
    pub fn bool(&mut self, key: impl JsonKey, value: bool) -> &mut Self {
        self.key(key);
        self.buf
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// `"addr:port"` (IPv6 as `"[addr]:port"`), or `null`.
    #[inline]
    pub fn addr(&mut self, key: impl JsonKey, value: Option<SocketAddr>) -> &mut Self {
        let Some(a) = value else {
            return self.null(key);
        };
        self.key(key);
        self.buf.push(b'"');
        super::addr::socket_addr(self.buf, &a);
        self.buf.push(b'"');
        self
    }

    /// An IP address as a string.
    pub fn ip(&mut self, key: impl JsonKey, value: IpAddr) -> &mut Self {
        self.key(key);
        self.buf.push(b'"');
        super::addr::ip(self.buf, value);
        self.buf.push(b'"');
        self
    }

    /// A value already written as JSON by `write` (a nested object or
    /// array).
    pub fn raw(&mut self, key: impl JsonKey, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.key(key);
        write(self.buf);
        self
    }
}

/// A key as it is written before its value: `"name":`.
pub trait JsonKey {
    /// Appends `"name":` to `buf`.
    fn put(self, buf: &mut Vec<u8>);
}

impl JsonKey for &str {
    #[inline]
    fn put(self, buf: &mut Vec<u8>) {
        buf.push(b'"');
        buf.extend_from_slice(self.as_bytes());
        buf.extend_from_slice(b"\":");
    }
}

/// A key of at most [`KeyText::MAX`] bytes rendered once, `"name":`, in a
/// fixed-size array: for keys picked from a table at run time, whose
/// length the compiler cannot see. Appending copies the whole array
/// (a few register moves) and cuts the tail, instead of calling `memcpy`
/// for a handful of bytes ten times a line.
#[derive(Copy, Clone, Debug)]
pub struct KeyText {
    bytes: [u8; 24],
    len: u8,
}

impl KeyText {
    /// Longest name that fits.
    pub const MAX: usize = 21;

    /// `"name":` for `name`; a longer name is a bug caught at compile
    /// time where this is built in a `const`.
    #[allow(clippy::indexing_slicing)] // within bounds: name.len() <= MAX < 24 - 2
    pub const fn new(name: &str) -> KeyText {
        let n = name.as_bytes();
        assert!(n.len() <= Self::MAX, "key name too long for KeyText");
        let mut bytes = [0u8; 24];
        bytes[0] = b'"';
        let mut i = 0;
        while i < n.len() {
            bytes[i + 1] = n[i];
            i += 1;
        }
        bytes[i + 1] = b'"';
        bytes[i + 2] = b':';
        KeyText {
            bytes,
            len: (n.len() + 3) as u8,
        }
    }
}

impl JsonKey for &KeyText {
    #[inline]
    fn put(self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&self.bytes);
        buf.truncate(start + usize::from(self.len));
    }
}

/// A JSON string with serde_json's escapes: `\"`, `\\`, `\b \f \n \r \t`,
/// other control bytes as `\u00XX`; everything else (UTF-8) as is.
pub fn string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        // Nearly every string: names, states, Zeek histories.
        buf.extend_from_slice(bytes);
        buf.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let hex = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
            buf.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b & 0xf)]);
        } else {
            buf.extend_from_slice(escape);
        }
        start = i + 1;
    }
    buf.extend_from_slice(bytes.get(start..).unwrap_or_default());
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_keys_write_what_str_keys_write() {
        let names = "abcdefghijklmnopqrstu";
        for n in 0..=KeyText::MAX {
            let name = &names[..n];
            let text = KeyText::new(name);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut o = JsonLine::begin(&mut a);
            o.u64(name, 1).u64(name, 2);
            o.end();
            let mut o = JsonLine::begin(&mut b);
            o.u64(&text, 1).u64(&text, 2);
            o.end();
            assert_eq!(a, b, "{name}");
            assert_eq!(a, format!("{{\"{name}\":1,\"{name}\":2}}").into_bytes());
        }
    }

    fn line(f: impl FnOnce(&mut JsonLine<'_>)) -> String {
        let mut buf = Vec::new();
        let mut o = JsonLine::begin(&mut buf);
        f(&mut o);
        o.end();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_byte = String::new();
        for c in (0u8..0x80).map(char::from) {
            every_byte.push(c);
        }
        for s in [
            "",
            "visa-primary",
            "quote \" and backslash \\",
            "tab\tnewline\nreturn\r",
            "\u{7f}\u{0}\u{1b}",
            "héllo ✓ 𝄞",
            every_byte.as_str(),
        ] {
            let mut buf = Vec::new();
            string(&mut buf, s);
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn keys_are_written_as_given() {
        assert_eq!(
            line(|o| {
                o.str("conn_state", "SF").u64("packets", 3);
            }),
            r#"{"conn_state":"SF","packets":3}"#
        );
    }

    #[test]
    fn numbers_and_addresses_match_serde_json() {
        for v in [0.0, -0.0, 1.5, 1_700_000_000.123_456, 1e21, 1e-7, f64::NAN] {
            assert_eq!(
                line(|o| {
                    o.f64("v", v);
                }),
                serde_json::json!({ "v": v }).to_string()
            );
        }
        for a in [
            "0.0.0.0:0",
            "10.0.0.5:40123",
            "255.255.255.255:65535",
            "1.22.103.4:9",
            "[2001:db8::10]:5000",
            "[::1]:1",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(
                line(|o| {
                    o.addr("a", Some(addr)).ip("i", addr.ip());
                }),
                serde_json::json!({ "a": addr.to_string(), "i": addr.ip().to_string() })
                    .to_string()
            );
        }
        assert_eq!(
            line(|o| {
                o.addr("a", None)
                    .bool("b", true)
                    .opt_str("c", None)
                    .opt_u64("d", Some(u64::MAX))
                    .opt_f64("e", None)
                    .u64("f", 7);
            }),
            r#"{"a":null,"b":true,"c":null,"d":18446744073709551615,"e":null,"f":7}"#
        );
    }
}
