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
