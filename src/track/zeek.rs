//! Zeek's view of a connection: `conn_state` and `history`, computed from
//! the same segments, so users can compare linewatch with the tool they
//! already trust.
//!
//! This follows Zeek's TCP analyzer (`TCPSessionAdapter.cc`: endpoint states
//! INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET and
//! `update_history`) and `conn_state()` in `base/protocols/conn/main.zeek`.
//! It is a view only: linewatch's own decisions come from
//! [`super::connection`]. Known differences: no checksum validation (a
//! header-only capture cannot verify TCP checksums, so no `C`), and content
//! gaps (`G`) are seen from sequence numbers, not from reassembly.

use std::net::SocketAddr;

use crate::decode::Segment;

use super::seq::Seq;

/// A Zeek TCP endpoint state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Ep {
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

#[derive(Clone, Debug)]
struct Endpoint {
    state: Ep,
    prev_state: Ep,
    start_seq: Option<Seq>,
    /// One past the highest sequence number sent (for retransmissions, gaps).
    last_seq: Option<Seq>,
    /// Payload bytes sent (Zeek's `size`, used for REJ).
    size: u64,
    hist_last_syn: Option<Seq>,
    hist_last_fin: Option<Seq>,
    hist_last_rst: Option<Seq>,
    rxmit: (u32, u32),
    gaps: (u32, u32),
    zero_windows: (u32, u32),
}

impl Endpoint {
    fn new() -> Endpoint {
        Endpoint {
            state: Ep::Inactive,
            prev_state: Ep::Inactive,
            start_seq: None,
            last_seq: None,
            size: 0,
            hist_last_syn: None,
            hist_last_fin: None,
            hist_last_rst: None,
            rxmit: (0, 1),
            gaps: (0, 1),
            zero_windows: (0, 1),
        }
    }

    fn set(&mut self, s: Ep) {
        self.prev_state = self.state;
        self.state = s;
    }

    fn inactive(&self) -> bool {
        matches!(self.state, Ep::Inactive | Ep::Partial)
    }
}

// History bits, one per letter and direction (Zeek's HIST_* masks).
const HIST_SYN: u32 = 0x1;
const HIST_FIN: u32 = 0x2;
const HIST_RST: u32 = 0x4;
const HIST_FIN_RST: u32 = 0x8;
const HIST_ACK: u32 = 0x10;
const HIST_DATA: u32 = 0x20;
const HIST_MULTI_FLAG: u32 = 0x40;

/// Ports Zeek's `likely_server_ports` holds by default: well-known ports
/// and those its analyzers register. Used to guess the responder when the
/// handshake was not captured.
fn likely_server_port(port: u16) -> bool {
    port < 1024
        || matches!(
            port,
            1080 | 1433
                | 1521
                | 1883
                | 2049
                | 3128
                | 3306
                | 3389
                | 5060
                | 5061
                | 5432
                | 5672
                | 5900
                | 6379
                | 6443
                | 6666..=6669 | 8000 | 8080 | 8443 | 8888 | 9092 | 11211 | 27017
        )
}

/// Zeek's bookkeeping for one connection.
#[derive(Clone, Debug)]
pub struct ZeekConn {
    orig: SocketAddr,
    resp: SocketAddr,
    o: Endpoint,
    r: Endpoint,
    hist_seen: u32,
    history: String,
}

/// Scaled history entries (Zeek's `ScaledHistoryEntry`): the letter is added
/// at the 1st, 10th, 100th ... occurrence.
fn scaled(counter: &mut (u32, u32)) -> bool {
    counter.0 += 1;
    if counter.0 == counter.1 {
        counter.1 = counter.1.saturating_mul(10);
        true
    } else {
        false
    }
}

impl ZeekConn {
    /// Starts Zeek's view from a connection's first segment, with Zeek's
    /// role guess for connections whose SYN was not seen.
    pub fn new(first: &Segment) -> ZeekConn {
        let f = first.flags;
        let mut flip = false;
        if !f.syn() || f.ack() {
            let (sp, dp) = (first.src.port(), first.dst.port());
            if likely_server_port(sp) {
                flip = if likely_server_port(dp) {
                    !f.syn() && sp < dp
                } else {
                    true
                };
            }
        }
        let (orig, resp) = if flip {
            (first.dst, first.src)
        } else {
            (first.src, first.dst)
        };
        ZeekConn {
            orig,
            resp,
            o: Endpoint::new(),
            r: Endpoint::new(),
            hist_seen: 0,
            history: if flip { "^".to_string() } else { String::new() },
        }
    }

    /// Zeek's originator and responder.
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        (self.orig, self.resp)
    }

    /// Zeek's history string so far.
    pub fn history(&self) -> &str {
        &self.history
    }

    fn add_history(&mut self, is_orig: bool, code: char) {
        self.history.push(if is_orig {
            code
        } else {
            code.to_ascii_lowercase()
        });
    }

    /// Adds `code` the first time `mask` is seen in this direction; returns
    /// whether it had been seen before (Zeek's `CheckHistory`).
    fn check_history(&mut self, is_orig: bool, mask: u32, code: char) -> bool {
        let mask = if is_orig { mask } else { mask << 16 };
        if self.hist_seen & mask == 0 {
            self.hist_seen |= mask;
            self.add_history(is_orig, code);
            false
        } else {
            true
        }
    }

    fn flip_roles(&mut self) {
        std::mem::swap(&mut self.orig, &mut self.resp);
        std::mem::swap(&mut self.o, &mut self.r);
        self.hist_seen = (self.hist_seen << 16) | (self.hist_seen >> 16);
        self.history.push('^');
    }

    /// Feeds one segment of the connection.
    pub fn observe(&mut self, seg: &Segment) {
        let is_orig = seg.src == self.orig;
        let f = seg.flags;
        let seq = Seq(seg.seq);
        let len = seg.payload_len;

        // Zeek flips a connection that began with a SYN-ACK when the SYN's
        // sender turns out to be the one answering it.
        if !is_orig
            && f.syn()
            && !f.ack()
            && self.o.state == Ep::SynAckSent
            && self.r.state == Ep::Inactive
        {
            self.flip_roles();
            self.observe_as(true, seg, seq, len);
            return;
        }
        self.observe_as(is_orig, seg, seq, len);
    }

    fn observe_as(&mut self, is_orig: bool, seg: &Segment, seq: Seq, len: u32) {
        let f = seg.flags;
        self.update_history(is_orig, seg, seq, len);

        let (ep, peer) = if is_orig {
            (&mut self.o, &mut self.r)
        } else {
            (&mut self.r, &mut self.o)
        };
        if ep.start_seq.is_none() || (f.syn() && !f.ack()) {
            ep.start_seq.get_or_insert(seq);
        }
        // Retransmission / gap accounting by sequence numbers.
        let end = seq.add(seg.seq_len());
        let mut rxmit = false;
        let mut gap = false;
        if let Some(last) = ep.last_seq {
            if len > 0 && last.at_or_after(end) && !f.syn() {
                rxmit = true;
            } else if len > 0 && seq.after(last) && !f.syn() {
                gap = true;
            }
        }
        ep.last_seq = Some(ep.last_seq.map_or(end, |l| l.max(end)));
        if len > 0 && !rxmit {
            ep.size += u64::from(len);
        }

        let ep_state = ep.state;
        match ep_state {
            Ep::Inactive => Self::update_inactive(is_orig, ep, peer, f, len),
            Ep::SynSent | Ep::SynAckSent => {
                if f.fin() {
                    ep.set(Ep::Closed);
                }
                if f.rst() {
                    ep.set(Ep::Reset);
                }
            }
            Ep::Partial | Ep::Established => {
                if f.syn() && ep.state == Ep::Partial && peer.state == Ep::Inactive && !f.ack() {
                    ep.set(Ep::SynSent);
                }
                if f.fin() && !f.rst() {
                    ep.set(Ep::Closed);
                    // A FIN followed by a RST from the peer was a normal close.
                    if peer.state == Ep::Reset && peer.prev_state == Ep::Closed {
                        peer.set(Ep::Closed);
                    }
                }
                if f.rst() {
                    ep.set(Ep::Reset);
                }
            }
            Ep::Closed => {
                // After a FIN exchange, a RST does not change the state.
                if f.rst() && peer.state != Ep::Closed {
                    ep.set(Ep::Reset);
                }
            }
            Ep::Reset => {}
        }
        if rxmit {
            let c = if is_orig {
                &mut self.o.rxmit
            } else {
                &mut self.r.rxmit
            };
            if scaled(c) {
                self.add_history(is_orig, 'T');
            }
        }
        if gap {
            let c = if is_orig {
                &mut self.o.gaps
            } else {
                &mut self.r.gaps
            };
            if scaled(c) {
                self.add_history(is_orig, 'G');
            }
        }
        if seg.window == 0 && !(f.syn() || f.fin() || f.rst()) {
            let c = if is_orig {
                &mut self.o.zero_windows
            } else {
                &mut self.r.zero_windows
            };
            if scaled(c) {
                self.add_history(is_orig, 'W');
            }
        }
    }

    fn update_inactive(
        is_orig: bool,
        ep: &mut Endpoint,
        peer: &mut Endpoint,
        f: crate::decode::TcpFlags,
        len: u32,
    ) {
        if f.syn() {
            if is_orig {
                ep.set(if f.ack() { Ep::SynAckSent } else { Ep::SynSent });
            } else {
                if peer.state == Ep::SynSent {
                    peer.set(Ep::Established);
                }
                ep.set(Ep::Established);
            }
        }
        if f.fin() {
            ep.set(Ep::Closed);
        }
        if f.rst() {
            ep.set(Ep::Reset);
        }
        if ep.state == Ep::Inactive {
            if !is_orig && len == 0 && peer.state == Ep::SynSent {
                // An ACK of the SYN before the SYN-ACK: not a partial connection.
            } else if f.ack() && peer.state == Ep::Established {
                // The SYN was missed but the SYN-ACK seen: establish.
                ep.set(Ep::Established);
            } else {
                ep.set(Ep::Partial);
            }
        }
    }

    fn update_history(&mut self, is_orig: bool, seg: &Segment, seq: Seq, len: u32) {
        let f = seg.flags;
        let bits = u8::from(f.syn()) + u8::from(f.fin()) + u8::from(f.rst());
        if bits > 1 {
            if f.fin() && f.rst() {
                self.check_history(is_orig, HIST_FIN_RST, 'I');
            } else {
                self.check_history(is_orig, HIST_MULTI_FLAG, 'Q');
            }
        } else if bits == 1 {
            if f.syn() {
                let code = if f.ack() { 'H' } else { 'S' };
                let last = self.ep(is_orig).hist_last_syn;
                if self.check_history(is_orig, HIST_SYN, code) && last != Some(seq) {
                    self.add_history(is_orig, code);
                }
                self.ep_mut(is_orig).hist_last_syn = Some(seq);
            }
            if f.fin() {
                let at = seq.add(len);
                let last = self.ep(is_orig).hist_last_fin;
                if self.check_history(is_orig, HIST_FIN, 'F') && last != Some(at) {
                    self.add_history(is_orig, 'F');
                }
                self.ep_mut(is_orig).hist_last_fin = Some(at);
            }
            if f.rst() {
                let last = self.ep(is_orig).hist_last_rst;
                if self.check_history(is_orig, HIST_RST, 'R') && last != Some(seq) {
                    self.add_history(is_orig, 'R');
                }
                self.ep_mut(is_orig).hist_last_rst = Some(seq);
            }
        } else if len > 0 {
            self.check_history(is_orig, HIST_DATA, 'D');
        } else if f.ack() {
            self.check_history(is_orig, HIST_ACK, 'A');
        }
    }

    fn ep(&self, is_orig: bool) -> &Endpoint {
        if is_orig {
            &self.o
        } else {
            &self.r
        }
    }

    fn ep_mut(&mut self, is_orig: bool) -> &mut Endpoint {
        if is_orig {
            &mut self.o
        } else {
            &mut self.r
        }
    }

    /// Zeek's `conn_state` (`base/protocols/conn/main.zeek`).
    pub fn conn_state(&self) -> &'static str {
        let (os, rs) = (self.o.state, self.r.state);
        let o_inactive = self.o.inactive();
        let r_inactive = self.r.inactive();
        if rs == Ep::Reset {
            if matches!(os, Ep::SynSent | Ep::SynAckSent)
                || (os == Ep::Reset && self.o.size == 0 && self.r.size == 0)
            {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Ep::Reset {
            if r_inactive {
                if rstos0_history(&self.history) {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == Ep::Closed && os == Ep::Closed {
            "SF"
        } else if os == Ep::Closed {
            if r_inactive {
                "SH"
            } else {
                "S2"
            }
        } else if rs == Ep::Closed {
            if o_inactive {
                "SHR"
            } else {
                "S3"
            }
        } else if os == Ep::SynSent && rs == Ep::Inactive {
            "S0"
        } else if os == Ep::Established && rs == Ep::Established {
            "S1"
        } else {
            "OTH"
        }
    }
}

/// Zeek's `/^?S[^HAFGIQ]*R.*/` test for RSTOS0.
fn rstos0_history(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rstos0_pattern_matches_zeek_regex() {
        assert!(rstos0_history("SR"));
        assert!(rstos0_history("SaR"));
        assert!(rstos0_history("^SdR"));
        assert!(!rstos0_history("SaFR"));
        assert!(!rstos0_history("ShAR"));
        assert!(!rstos0_history("R"));
    }
}
