//! [`Encoder`]: an incident's frames as pcapng blocks, bytes only (the
//! store writes them). A pure encoder over the `pcap-file` crate's block
//! types, so that every block is the crate's, not ours.

use std::borrow::Cow;
use std::time::Duration as StdDuration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};

use super::ring::Stored;
use crate::decode::LinkType;

/// The snaplen an evidence file's interface block declares while the file
/// is open: no stored header is longer (the recorder cuts there). When
/// the file closes, the store writes the largest stored header in its
/// place ([`Encoder::snaplen_at`]).
pub const MAX_STORED: u32 = 512;

/// Where the interface block's snaplen lies in the file: after the
/// section header block (whose length the encoder knows once it is
/// written), the interface block's type and length (8 bytes), its link
/// type and reserved field (4 bytes).
const SNAPLEN_IN_IDB: u64 = 12;

/// An enhanced packet block's bytes besides its data and options (its
/// header and trailer, and up to 3 bytes of padding).
const EPB_OVERHEAD: usize = 32 + 3;

/// Why encoding failed. Writing to memory does not fail; the `pcap-file`
/// crate still checks every packet's interface, which this reports.
#[derive(Debug, thiserror::Error)]
#[error("encoding an evidence file: {0} (a bug in linewatch: please report it)")]
pub struct EncodeError(String);

/// One evidence file being encoded: its header blocks first, then one
/// enhanced packet block per frame, each taken out as bytes with
/// [`Encoder::take`].
pub struct Encoder {
    writer: PcapNgWriter<Vec<u8>>,
    snaplen_at: u64,
    largest: u32,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("snaplen_at", &self.snaplen_at)
            .field("largest", &self.largest)
            .finish()
    }
}

impl Encoder {
    /// A file for frames of `link` captured on `interface`: a section
    /// header naming linewatch and its version, and one interface block
    /// with nanosecond timestamps.
    pub fn new(link: LinkType, interface: &str) -> Result<Encoder, EncodeError> {
        let section = SectionHeaderBlock {
            endianness: Endianness::Little,
            options: vec![
                SectionHeaderOption::UserApplication(Cow::Owned(format!(
                    "linewatch {}",
                    env!("CARGO_PKG_VERSION")
                ))),
                SectionHeaderOption::Comment(Cow::Borrowed(
                    "linewatch incident evidence: headers only, every frame cut at the end of its TCP header (orig_len kept); no payload byte",
                )),
            ],
            ..Default::default()
        };
        let mut writer = PcapNgWriter::with_section_header(Vec::new(), section).map_err(err)?;
        let snaplen_at = writer.get_ref().len() as u64 + SNAPLEN_IN_IDB;
        let dlt = u32::try_from(link.dlt()).unwrap_or(0);
        writer
            .write_pcapng_block(InterfaceDescriptionBlock {
                linktype: DataLink::from(dlt),
                snaplen: MAX_STORED,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Owned(interface.to_string())),
                    InterfaceDescriptionOption::IfTsResol(9),
                ],
            })
            .map_err(err)?;
        Ok(Encoder {
            writer,
            snaplen_at,
            largest: 0,
        })
    }

    /// Room for `frames` more frames of about `bytes` header bytes in
    /// all, so that a `before` window is encoded without regrowing.
    pub fn reserve(&mut self, frames: usize, bytes: usize) {
        self.writer.get_mut().reserve(frames * EPB_OVERHEAD + bytes);
    }

    /// Appends one frame, with `comments` (one option each), as the
    /// `pcap-file` crate's enhanced packet block. (A hand-written block
    /// was measured against it in one run of `cargo bench --bench
    /// evidence`: 24.6 against 26.8 ms for 300,000 frames, 1.1 x; not
    /// worth hand-written code. What a 5-minute window costs the tracker
    /// is mostly the first touch of its fresh buffer.)
    pub fn packet(&mut self, frame: &Stored<'_>, comments: &[String]) -> Result<(), EncodeError> {
        let nanos = u64::try_from(frame.ts.as_nanos()).unwrap_or(0);
        let len = u32::try_from(frame.bytes.len()).unwrap_or(u32::MAX);
        self.largest = self.largest.max(len);
        self.writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: StdDuration::from_nanos(nanos),
                original_len: frame.orig_len.max(len),
                data: Cow::Borrowed(frame.bytes),
                options: comments
                    .iter()
                    .map(|c| EnhancedPacketOption::Comment(Cow::Borrowed(c.as_str())))
                    .collect(),
            })
            .map_err(err)?;
        Ok(())
    }

    /// The bytes encoded since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.writer.get_mut())
    }

    /// The file offset of the interface block's snaplen (a little-endian
    /// `u32`).
    pub fn snaplen_at(&self) -> u64 {
        self.snaplen_at
    }

    /// The largest frame stored so far: the snaplen the file should
    /// declare once it is complete.
    pub fn largest(&self) -> u32 {
        self.largest
    }
}

fn err(e: pcap_file::PcapError) -> EncodeError {
    EncodeError(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use pcap_file::pcapng::{Block, PcapNgReader};

    #[test]
    fn blocks_read_back_with_comments_lengths_and_nanosecond_times() {
        let mut enc = Encoder::new(LinkType::Ethernet, "eth1").unwrap();
        let mut bytes = enc.take();
        let frame = Stored {
            ts: Timestamp::from_parts(1_700_000_000, 123_456_789),
            packet: 7,
            orig_len: 1514,
            bytes: &[0xAB; 54],
        };
        enc.packet(&frame, &["linewatch: fin from peer".to_string()])
            .unwrap();
        bytes.extend(enc.take());
        // The snaplen field is where the encoder says.
        let at = enc.snaplen_at() as usize;
        assert_eq!(bytes[at..at + 4], MAX_STORED.to_le_bytes());

        let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
        let mut packets = Vec::new();
        while let Some(block) = reader.next_block() {
            if let Block::EnhancedPacket(p) = block.unwrap() {
                packets.push(p.into_owned());
            }
        }
        assert_eq!(packets.len(), 1);
        let p = &packets[0];
        assert_eq!(p.original_len, 1514);
        assert_eq!(p.data.len(), 54);
        assert_eq!(p.timestamp.as_nanos(), 1_700_000_000_123_456_789);
        assert!(
            matches!(&p.options[..], [EnhancedPacketOption::Comment(c)] if c == "linewatch: fin from peer")
        );
        assert_eq!(enc.largest(), 54);
    }
}
