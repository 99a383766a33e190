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
    stdio::lock_by_caller(&cap);
    Ok((cap, link))
}

/// The one place linewatch calls C itself: it tells glibc that libpcap's
/// `FILE` for a capture file needs no lock.
///
/// Why: glibc locks a `FILE` on every `fread` once a process has a second
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
/// is the caller's locking that `FSETLOCKING_BYCALLER` asks for.
#[allow(unsafe_code)]
mod stdio {
    use std::os::raw::{c_int, c_void};

    extern "C" {
        /// libpcap: the `FILE` an offline capture reads, null for a live one.
        fn pcap_file(p: *mut c_void) -> *mut c_void;
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
        assert!(stdio::is_locked_by_caller(&cap));
        // A handle opened without it is left to glibc's locking, so the
        // query tells the two apart.
        let plain = pcap::Capture::from_file(&path).expect("fixture opens");
        assert!(!stdio::is_locked_by_caller(&plain));
    }
}
