//! Offline capture: pcap (micro/nanosecond, either byte order) and pcapng
//! files through libpcap, streamed record by record.

use std::path::{Path, PathBuf};

use crate::decode::{dlt_name, Frame, LinkType};
use crate::time::Timestamp;

/// Why a capture file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// libpcap refused the file (missing, not a capture, bad header...).
    #[error("cannot read {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// libpcap's reason.
        message: String,
    },
    /// The file's link type is not one linewatch decodes.
    #[error("unsupported link type {name} ({dlt}) in {path}")]
    UnsupportedLinkType {
        /// The file.
        path: PathBuf,
        /// DLT name.
        name: String,
        /// DLT number.
        dlt: i32,
    },
    /// A record could not be read (truncated or corrupt file).
    #[error(
        "{path}: {message} (after packet {packets}; the events above cover the packets before it)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// libpcap's reason.
        message: String,
        /// Packets read before the error.
        packets: u64,
    },
}

/// A capture file opened for streaming.
pub struct FileCapture {
    cap: pcap::Capture<pcap::Offline>,
    link: LinkType,
    path: PathBuf,
    packets: u64,
}

impl std::fmt::Debug for FileCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCapture")
            .field("path", &self.path)
            .field("link", &self.link)
            .finish()
    }
}

impl FileCapture {
    /// Opens `path` with nanosecond timestamps and checks its link type.
    pub fn open(path: &Path) -> Result<FileCapture, CaptureError> {
        let cap =
            pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).map_err(|e| {
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
        Ok(FileCapture {
            cap,
            link,
            path: path.to_path_buf(),
            packets: 0,
        })
    }

    /// The file's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next frame, `Ok(None)` at the end of the file.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.packets += 1;
                let h = p.header;
                Ok(Some(Frame {
                    ts: Timestamp::from_parts(h.ts.tv_sec, h.ts.tv_usec),
                    data: p.data,
                    wire_len: h.len,
                }))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(CaptureError::Read {
                path: self.path.clone(),
                message: pcap_message(&e),
                packets: self.packets,
            }),
        }
    }
}

fn pcap_message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    }
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
/// Why it is sound: the `FILE` belongs to the `pcap_t` inside a
/// [`FileCapture`], and only libpcap calls on that capture touch it. Every
/// such call takes `&mut` of the capture (the pcap crate's `Capture` is
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
        let cap = FileCapture::open(&path).expect("fixture opens");
        assert!(stdio::is_locked_by_caller(&cap.cap));
        // A handle opened without it is left to glibc's locking, so the
        // query tells the two apart.
        let plain = pcap::Capture::from_file(&path).expect("fixture opens");
        assert!(!stdio::is_locked_by_caller(&plain));
    }
}
