//! Offline capture: pcap (micro/nanosecond, either byte order) and pcapng
//! files through libpcap, streamed record by record. Opened here, read
//! through [`Source`](super::Source) like a live interface.

use std::path::Path;

use super::{pcap_message, CaptureError};
use crate::decode::{dlt_name, LinkType};

/// The precision capture files are opened with: nanoseconds, so that a
/// nanosecond pcap or pcapng file keeps its resolution (libpcap scales a
/// microsecond file up).
pub const PRECISION: pcap::Precision = pcap::Precision::Nano;

/// Opens `path` with nanosecond timestamps and checks its link type.
pub(super) fn open(path: &Path) -> Result<(pcap::Capture<pcap::Offline>, LinkType), CaptureError> {
    let cap = pcap::Capture::from_file_with_precision(path, PRECISION).map_err(|e| {
        CaptureError::Open {
            path: path.to_path_buf(),
            message: pcap_message(&e),
        }
    })?;
    let dlt = cap.get_datalink().0;
    let link = LinkType::from_dlt(dlt).map_err(|_| CaptureError::UnsupportedLinkType {
        path: path.to_path_buf(),
        name: dlt_name(dlt),
        dlt,
    })?;
    // Replay reads on its own thread: no stdio lock per record.
    raw::lock_by_caller(&cap);
    Ok((cap, link))
}

/// The next record of a capture file, as libpcap's `pcap_next_ex` gives
/// it: borrowed from libpcap's buffer until the next read.
pub(super) enum Record<'a> {
    /// A packet: its header and its captured bytes.
    Packet(&'a pcap::PacketHeader, &'a [u8]),
    /// The end of the file.
    End,
    /// libpcap could not read the record (a truncated or corrupt file):
    /// its message.
    Unreadable(String),
}

/// Reads the next record of `cap`.
///
/// Why not the pcap crate's `next_packet`: on replay's hot path it is a
/// call that builds a `Result<Packet, pcap::Error>` in memory, about 26
/// instructions a record more than this match on libpcap's return code
/// (measured on the bench capture, valgrind, same run: 1.6 % of replay's
/// instructions). A live interface still reads through the crate.
#[inline(always)]
pub(super) fn next_record(cap: &mut pcap::Capture<pcap::Offline>) -> Record<'_> {
    raw::next_record(cap)
}

/// The one place linewatch calls C itself: it tells glibc that libpcap's
/// `FILE` for a capture file needs no lock, and reads a file's records
/// with `pcap_next_ex` ([`next_record`]).
///
/// Why no lock: glibc locks a `FILE` on every `fread` once a process has a second
/// thread, and libpcap calls `fread` twice per record. Replay reads on its
/// own thread, so every record paid four atomic operations that a
/// single-threaded reader such as tcpdump never pays: about a fifth of
/// the reader thread's time on the bench capture. `FSETLOCKING_BYCALLER`
/// (glibc's `__fsetlocking`, also in musl) turns that locking off for this
/// one `FILE`.
///
/// Why it is sound: the `FILE` belongs to the `pcap_t` that [`open`]
/// returns (and a [`Source`](super::Source) then owns), and only libpcap calls on that
/// capture touch it. Every such call takes `&mut` of the capture (the pcap crate's `Capture` is
/// `Send` but not `Sync`), so one thread at a time uses the `FILE`, which
/// is the caller's locking that `FSETLOCKING_BYCALLER` asks for. A record
/// that `pcap_next_ex` returns stays valid until the next call on the same
/// `pcap_t`; [`next_record`] borrows the capture mutably for as long as
/// the record lives, so no such call can happen meanwhile.
#[allow(unsafe_code)]
mod raw {
    use std::ffi::CStr;
    use std::os::raw::{c_char, c_int, c_void};

    use super::Record;

    extern "C" {
        /// libpcap: the `FILE` an offline capture reads, null for a live one.
        fn pcap_file(p: *mut c_void) -> *mut c_void;
        /// libpcap: the next record, 1 on success, -2 at the end of a file,
        /// -1 on an error (then see `pcap_geterr`).
        fn pcap_next_ex(
            p: *mut c_void,
            header: *mut *mut pcap::PacketHeader,
            data: *mut *const u8,
        ) -> c_int;
        /// libpcap: the message of the last error on `p`.
        fn pcap_geterr(p: *mut c_void) -> *const c_char;
        /// glibc/musl `<stdio_ext.h>`: how a `FILE` is locked.
        fn __fsetlocking(fp: *mut c_void, kind: c_int) -> c_int;
    }

    /// `<stdio_ext.h>`: the caller does the locking.
    const FSETLOCKING_BYCALLER: c_int = 2;

    /// `cap`'s `FILE`; `None` for a capture that has none.
    fn file_of(cap: &pcap::Capture<pcap::Offline>) -> Option<*mut c_void> {
        // SAFETY: the pointer is the live `pcap_t` that `cap` owns (the
        // pcap crate returns it for exactly such calls); `pcap_file` only
        // reads it.
        let fp = unsafe { pcap_file(cap.as_ptr().cast::<c_void>()) };
        (!fp.is_null()).then_some(fp)
    }

    /// Turns off glibc's per-call locking of `cap`'s `FILE`.
    pub(super) fn lock_by_caller(cap: &pcap::Capture<pcap::Offline>) {
        if let Some(fp) = file_of(cap) {
            // SAFETY: `fp` is the open `FILE` that `cap` owns and keeps
            // open until it is dropped; see the module docs for why no
            // lock is needed.
            unsafe { __fsetlocking(fp, FSETLOCKING_BYCALLER) };
        }
    }

    /// See [`super::next_record`].
    #[inline(always)]
    pub(super) fn next_record(cap: &mut pcap::Capture<pcap::Offline>) -> Record<'_> {
        let p = cap.as_ptr().cast::<c_void>();
        let mut header: *mut pcap::PacketHeader = std::ptr::null_mut();
        let mut data: *const u8 = std::ptr::null();
        // SAFETY: `p` is the live `pcap_t` that `cap` owns; libpcap writes
        // the two out-pointers only.
        let code = unsafe { pcap_next_ex(p, &mut header, &mut data) };
        match code {
            1.. if !header.is_null() => {
                // SAFETY: on success libpcap points `header` at its
                // record header and `data` at `caplen` captured bytes,
                // both valid until the next call on `p`, which the
                // returned borrow of `cap` rules out (module docs).
                let header = unsafe { &*header };
                let bytes = if data.is_null() {
                    &[][..]
                } else {
                    unsafe { std::slice::from_raw_parts(data, header.caplen as usize) }
                };
                Record::Packet(header, bytes)
            }
            -2 => Record::End,
            _ => Record::Unreadable(last_error(p)),
        }
    }

    /// libpcap's message for the last error on `p`.
    #[cold]
    fn last_error(p: *mut c_void) -> String {
        // SAFETY: `p` is a live `pcap_t`; libpcap's error buffer is a
        // NUL-terminated string inside it, copied out here at once.
        let message = unsafe { pcap_geterr(p) };
        if message.is_null() {
            return "libpcap gave no reason".to_string();
        }
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    }

    /// Whether `cap`'s `FILE` is left to the caller to lock (`FSETLOCKING_QUERY`).
    #[cfg(test)]
    pub(super) fn is_locked_by_caller(cap: &pcap::Capture<pcap::Offline>) -> bool {
        const FSETLOCKING_QUERY: c_int = 0;
        // SAFETY: as in `lock_by_caller`; the query changes nothing.
        file_of(cap).is_some_and(
            |fp| unsafe { __fsetlocking(fp, FSETLOCKING_QUERY) } == FSETLOCKING_BYCALLER,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_file_is_read_without_stdio_locks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rst-from-peer.pcap");
        let (cap, _) = open(&path).expect("fixture opens");
        assert!(raw::is_locked_by_caller(&cap));
        // A handle opened without it is left to glibc's locking, so the
        // query tells the two apart.
        let plain = pcap::Capture::from_file(&path).expect("fixture opens");
        assert!(!raw::is_locked_by_caller(&plain));
    }
}
