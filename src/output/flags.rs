//! TCP flags in tcpdump's notation (`S`, `S.`, `F.`, `R`, `P.` ...), the
//! way every event line and page shows them. The wire type
//! [`TcpFlags`] keeps only its bits.

use crate::decode::TcpFlags;

/// `flags` as tcpdump prints them, as a `String`: for a page's evidence.
pub fn tcpdump(flags: TcpFlags) -> String {
    let mut buf = Vec::with_capacity(8);
    write_tcpdump(flags, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// [`tcpdump`] appended to `buf` (every event line has one).
pub fn write_tcpdump(flags: TcpFlags, buf: &mut Vec<u8>) {
    let start = buf.len();
    for (bit, c) in [
        (TcpFlags::SYN, b'S'),
        (TcpFlags::FIN, b'F'),
        (TcpFlags::PSH, b'P'),
        (TcpFlags::RST, b'R'),
        (TcpFlags::URG, b'U'),
        (TcpFlags::ECE, b'E'),
        (TcpFlags::CWR, b'W'),
    ] {
        if flags.0 & bit != 0 {
            buf.push(c);
        }
    }
    if flags.ack() {
        buf.push(b'.');
    }
    if buf.len() == start {
        buf.extend_from_slice(b"none");
    }
}

/// [`tcpdump`] as a JSON string (its letters need no escape).
pub fn write_tcpdump_json(flags: TcpFlags, buf: &mut Vec<u8>) {
    buf.push(b'"');
    write_tcpdump(flags, buf);
    buf.push(b'"');
}
