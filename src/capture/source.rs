//! [`Source`]: one capture type for a capture file and a live interface.

use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use super::live::{self, CaptureSpec};
use super::{file, frame_of, pcap_message, CaptureError};
use crate::decode::{dlt_name, Frame, LinkType};

/// The libpcap handle: a file or an interface.
enum Handle {
    File(pcap::Capture<pcap::Offline>),
    Live(pcap::Capture<pcap::Active>),
}

/// What the handle reads, for error messages. Kept apart from the handle
/// so that an error can name it while a frame still borrows the handle.
#[derive(Debug)]
enum Origin {
    File(PathBuf),
    Interface(String),
}

/// Where frames come from: a capture file ([`Source::open_file`]) or a
/// live interface ([`Source::open_live`]), read the same way.
///
/// Why one type: replay, the daemon and the standalone check used to read
/// libpcap each in their own way and disagreed on details (timestamp
/// units, which frames move the clock). With one type they read frames
/// with [`Source::next_frame`], and wait for a quiet interface with
/// [`Source::wait_readable`], whatever they read from.
pub struct Source {
    handle: Handle,
    origin: Origin,
    link: LinkType,
    packets: u64,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("origin", &self.origin)
            .field("link", &self.link)
            .field("packets", &self.packets)
            .finish()
    }
}

impl Source {
    /// Opens the capture file `path` (pcap or pcapng), with nanosecond
    /// timestamps, and checks that linewatch decodes its link type.
    pub fn open_file(path: &Path) -> Result<Source, CaptureError> {
        let (cap, link) = file::open(path)?;
        Ok(Source {
            handle: Handle::File(cap),
            origin: Origin::File(path.to_path_buf()),
            link,
            packets: 0,
        })
    }

    /// Opens `spec`'s interface for live capture (header-only, immediate,
    /// non-blocking, with its filter; see [`live::open`]) and checks that
    /// linewatch decodes its link type. Needs CAP_NET_RAW: the daemon
    /// calls this before it drops privileges.
    pub fn open_live(spec: &CaptureSpec) -> Result<Source, CaptureError> {
        let cap = live::open(spec).map_err(|message| CaptureError::Interface {
            interface: spec.interface.clone(),
            message,
        })?;
        let dlt = cap.get_datalink().0;
        let link = LinkType::from_dlt(dlt).map_err(|_| CaptureError::InterfaceLinkType {
            interface: spec.interface.clone(),
            name: dlt_name(dlt),
            dlt,
        })?;
        Ok(Source {
            handle: Handle::Live(cap),
            origin: Origin::Interface(spec.interface.clone()),
            link,
            packets: 0,
        })
    }

    /// The link type of the frames.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The file's path; `None` for a live interface.
    pub fn path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File(p) => Some(p),
            Origin::Interface(_) => None,
        }
    }

    /// Frames read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The next frame, or `Ok(None)` when there is none now: the end of a
    /// file, or no packet within a live interface's read timeout (then
    /// [`Source::wait_readable`] and ask again). An error ends the
    /// capture: a corrupt file, an interface gone down or away.
    ///
    /// Each kind of handle reads its headers in the precision it was
    /// opened with ([`file::PRECISION`], [`live::PRECISION`]), a constant
    /// per branch: replay's hot path pays no lookup for it.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if matches!(self.handle, Handle::Live(_)) {
            return self.next_live_frame();
        }
        let Handle::File(cap) = &mut self.handle else {
            return Ok(None);
        };
        match file::next_record(cap) {
            file::Record::Packet(header, data) => {
                self.packets += 1;
                Ok(Some(frame_of(header, data, file::PRECISION)))
            }
            file::Record::End => Ok(None),
            file::Record::Unreadable(message) => {
                Err(unreadable(&self.origin, self.packets, message))
            }
        }
    }

    /// [`Source::next_frame`] for a live interface, out of line: replay's
    /// reader then has the file branch alone, with libpcap's `next_packet`
    /// inlined into it (measured: shared, it was a call, +28 instructions
    /// a packet).
    #[inline(never)]
    fn next_live_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match &mut self.handle {
            Handle::Live(cap) => frame_or_none(
                cap.next_packet(),
                live::PRECISION,
                &self.origin,
                &mut self.packets,
            ),
            Handle::File(_) => Ok(None),
        }
    }

    /// Waits up to `wait` (at most 65 s) for a live interface to have
    /// packets, returning early if it does; a file is always ready. An
    /// interface that went down or away is an error (with libpcap's reason
    /// when it has one), so that the caller reopens or gives up instead of
    /// spinning.
    pub fn wait_readable(&mut self, wait: StdDuration) -> Result<(), CaptureError> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let Handle::Live(cap) = &mut self.handle else {
            return Ok(());
        };
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        let ready = {
            let mut fds = [PollFd::new(cap.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) => fds
                    .first()
                    .and_then(|f| f.revents())
                    .unwrap_or(PollFlags::empty()),
                Err(nix::errno::Errno::EINTR) => PollFlags::empty(),
                Err(e) => return Err(interface_error(&self.origin, &format!("poll: {e}"))),
            }
        };
        if ready.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL) {
            // Let libpcap read the error (interface down / gone) and say it.
            let message = match cap.next_packet() {
                Err(pcap::Error::TimeoutExpired) | Ok(_) => {
                    "the interface went down or disappeared".to_string()
                }
                Err(e) => e.to_string(),
            };
            return Err(interface_error(&self.origin, &message));
        }
        Ok(())
    }

    /// An error if the live interface is administratively down. libpcap
    /// reports a downed interface only through the socket's one-shot
    /// error, which a read can consume before a poll sees it: the capture
    /// then waited, silent, until the interface came back (a CI run saw
    /// it). So the capture thread also asks the kernel for the
    /// interface's flags every few seconds. An interface the kernel does
    /// not list (`any`, or one that vanished: libpcap reports that
    /// itself) is not judged here.
    pub fn check_up(&self) -> Result<(), CaptureError> {
        let Origin::Interface(name) = &self.origin else {
            return Ok(());
        };
        let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
            return Ok(());
        };
        let mut listed = false;
        for a in addrs.filter(|a| &a.interface_name == name) {
            listed = true;
            if a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
                return Ok(());
            }
        }
        if listed {
            return Err(interface_error(&self.origin, "the interface is down"));
        }
        Ok(())
    }

    /// libpcap's packet counters (received, kernel drops, interface drops)
    /// since the interface was opened; `None` for a file.
    pub fn stats(&mut self) -> Option<pcap::Stat> {
        match &mut self.handle {
            Handle::File(_) => None,
            Handle::Live(cap) => cap.stats().ok(),
        }
    }
}

/// What [`Source::next_frame`] makes of libpcap's answer: a frame (counted),
/// `None` for the end of a file or a read timeout, or the error.
#[inline(always)]
fn frame_or_none<'a>(
    next: Result<pcap::Packet<'a>, pcap::Error>,
    precision: pcap::Precision,
    origin: &Origin,
    packets: &mut u64,
) -> Result<Option<Frame<'a>>, CaptureError> {
    match next {
        Ok(p) => {
            *packets += 1;
            Ok(Some(frame_of(p.header, p.data, precision)))
        }
        Err(pcap::Error::NoMorePackets | pcap::Error::TimeoutExpired) => Ok(None),
        Err(e) => Err(read_error(origin, *packets, &e)),
    }
}

/// A capture file's read error, with how far the replay got.
#[cold]
fn unreadable(origin: &Origin, packets: u64, message: String) -> CaptureError {
    let path = match origin {
        Origin::File(path) => path.clone(),
        Origin::Interface(interface) => PathBuf::from(interface),
    };
    CaptureError::Read {
        path,
        message,
        packets,
    }
}

/// A read error, as the user should see it: for a file with how far the
/// replay got, for an interface with what to do.
#[cold]
fn read_error(origin: &Origin, packets: u64, e: &pcap::Error) -> CaptureError {
    match origin {
        Origin::File(path) => CaptureError::Read {
            path: path.clone(),
            message: pcap_message(e),
            packets,
        },
        Origin::Interface(_) => interface_error(origin, &e.to_string()),
    }
}

/// An interface's error with what to do about it ([`live::explain`]).
#[cold]
fn interface_error(origin: &Origin, message: &str) -> CaptureError {
    let interface = match origin {
        Origin::Interface(i) => i.as_str(),
        Origin::File(_) => "",
    };
    CaptureError::Interface {
        interface: interface.to_string(),
        message: live::explain(interface, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    #[test]
    fn a_file_reads_to_its_end_and_is_always_ready() {
        let mut s = Source::open_file(&fixture("rst-from-peer.pcap")).expect("fixture opens");
        let mut frames = 0;
        while s.next_frame().expect("fixture reads").is_some() {
            frames += 1;
        }
        assert!(frames > 0);
        assert_eq!(s.packets(), frames);
        assert!(s.next_frame().expect("still at the end").is_none());
        s.wait_readable(StdDuration::from_secs(60))
            .expect("a file does not wait");
        assert!(s.stats().is_none());
        assert_eq!(s.path(), Some(fixture("rst-from-peer.pcap").as_path()));
    }

    #[test]
    fn a_missing_file_says_which() {
        let e = Source::open_file(&fixture("no-such.pcap")).expect_err("missing");
        assert!(e.to_string().contains("no-such.pcap"), "{e}");
    }
}
