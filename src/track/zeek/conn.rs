//! One Zeek connection (one conn.log row): Zeek's TCP endpoint states,
//! its `history` letters, its removal timers and reuse rule, and
//! `conn_state()`, segment by segment. [`super::ZeekView`] strings these
//! rows together for one linewatch connection.

use std::net::SocketAddr;

use crate::decode::{Segment, TcpFlags};
use crate::time::{Duration, Timestamp};

use super::super::seq::Seq;
use super::ZeekRow;

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
    zero_windows: (u32, u32),
    did_close: bool,
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
            zero_windows: (0, 1),
            did_close: false,
        }
    }

    fn set(&mut self, s: Ep) {
        self.prev_state = self.state;
        self.state = s;
    }

    fn inactive(&self) -> bool {
        matches!(self.state, Ep::Inactive | Ep::Partial)
    }

    fn in_handshake(&self) -> bool {
        matches!(self.state, Ep::Inactive | Ep::SynSent | Ep::SynAckSent)
    }

    /// Zeek's `init_endpoint`: (re)starts sequence tracking.
    fn init(&mut self, f: TcpFlags, seq: Seq, end: Seq) {
        let restart = match self.state {
            Ep::Inactive => true,
            Ep::SynSent | Ep::SynAckSent => f.syn() && self.start_seq != Some(seq),
            Ep::Established | Ep::Partial => f.syn(),
            Ep::Reset => f.syn() && self.prev_state == Ep::Inactive,
            Ep::Closed => false,
        };
        if restart {
            if f.syn() {
                self.start_seq = Some(seq);
                self.last_seq = Some(end);
            } else {
                self.start_seq = Some(seq.plus(u32::MAX)); // seq - 1
                self.last_seq = Some(seq);
            }
        }
    }
}

// History bits, one per letter and direction (Zeek's HIST_* masks).
const HIST_SYN: u32 = 0x1;
const HIST_FIN: u32 = 0x2;
const HIST_RST: u32 = 0x4;
const HIST_FIN_RST: u32 = 0x8;
const HIST_DATA: u32 = 0x10;
const HIST_ACK: u32 = 0x20;
const HIST_MULTI_FLAG: u32 = 0x40;

/// Ports in Zeek's `likely_server_ports` with its default scripts loaded
/// (HTTP, IRC, Modbus, DCE-RPC, SMB, SSL, FTP, SSH, SMTP, DNS, Kerberos,
/// IMAP, LDAP, RDP, MySQL, XMPP, SOCKS). POP3 (110) is not among them. Used
/// to guess the responder when the handshake was not captured.
fn likely_server_port(port: u16) -> bool {
    matches!(
        port,
        21 | 22
            | 25
            | 53
            | 80
            | 81
            | 88
            | 135
            | 139
            | 143
            | 389
            | 443
            | 445
            | 502
            | 563
            | 585
            | 587
            | 614
            | 631
            | 636
            | 989
            | 990
            | 992
            | 993
            | 995
            | 1080
            | 2811
            | 3128
            | 3268
            | 3306
            | 3389
            | 5222
            | 5223
            | 5269
            | 6666..=6669 | 8000 | 8080 | 8888
    )
}

/// Zeek's close/reset delay (`tcp_close_delay`, `tcp_reset_delay`).
const CLOSE_DELAY: Duration = Duration::from_secs(5);
/// Zeek's `tcp_attempt_delay`: an unanswered SYN's connection is removed.
const ATTEMPT_DELAY: Duration = Duration::from_secs(5);
/// First expiry check (`tcp_SYN_timeout`) and its period (`tcp_session_timer`).
const EXPIRE_FIRST: Duration = Duration::from_secs(5);
const EXPIRE_EVERY: Duration = Duration::from_secs(6);
/// `tcp_inactivity_timeout`, and the UDP one used while still in handshake.
const INACTIVITY: Duration = Duration::from_secs(300);
const INACTIVITY_HANDSHAKE: Duration = Duration::from_secs(60);

/// One connection as Zeek would log it.
#[derive(Clone, Debug)]
pub struct ZeekConn {
    orig: SocketAddr,
    resp: SocketAddr,
    o: Endpoint,
    r: Endpoint,
    hist_seen: u32,
    pub(super) history: String,
    start_time: Option<Timestamp>,
    last_time: Option<Timestamp>,
    pub(super) packets: u64,
    attempt_at: Option<Timestamp>,
    remove_at: Option<Timestamp>,
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
            // Zeek flips a connection that begins with a SYN-ACK once ACKs or
            // data follow (zeek PR #2191); its logs read as if flipped at once.
            if f.syn() && f.ack() {
                flip = true;
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
            start_time: None,
            last_time: None,
            packets: 0,
            attempt_at: None,
            remove_at: None,
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
    /// Counts one more of a side's `counter` (zero windows, retransmissions)
    /// and writes its letter `code` where Zeek's scaled counter says to.
    fn count_scaled(
        &mut self,
        is_orig: bool,
        counter: fn(&mut Endpoint) -> &mut (u32, u32),
        code: char,
    ) {
        let ep = if is_orig { &mut self.o } else { &mut self.r };
        if scaled(counter(ep)) {
            self.add_history(is_orig, code);
        }
    }

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

    /// Would Zeek have removed this connection before a packet at `t`?
    pub(super) fn removed_by(&self, t: Timestamp) -> bool {
        let Some(last) = self.last_time else {
            return false;
        };
        if self.remove_at.is_some_and(|r| r <= t) {
            return true;
        }
        if self.attempt_at.is_some_and(|a| a <= t)
            && matches!(self.o.state, Ep::SynSent | Ep::SynAckSent)
            && self.r.state == Ep::Inactive
        {
            return true;
        }
        let timeout = if self.o.in_handshake() && self.r.in_handshake() {
            INACTIVITY_HANDSHAKE
        } else {
            INACTIVITY
        };
        if last.plus(timeout) <= t {
            return true;
        }
        // The expiry timer runs at start + 5 s + k * 6 s while the analyzer
        // is active (no RST, not both closed).
        let any_reset = self.o.state == Ep::Reset || self.r.state == Ep::Reset;
        let both_closed = self.o.did_close && self.r.did_close;
        let any_inactive = self.o.state == Ep::Inactive || self.r.state == Ep::Inactive;
        let expires = (self.o.did_close || self.r.did_close) && any_inactive
            || self.o.state == Ep::Inactive && self.r.state == Ep::Inactive;
        if expires && !any_reset && !both_closed {
            if let Some(start) = self.start_time {
                let first = start.plus(EXPIRE_FIRST);
                let after = last.plus(CLOSE_DELAY);
                let k = if first > after {
                    0
                } else {
                    after.since(first).as_nanos() / EXPIRE_EVERY.as_nanos() + 1
                };
                let tick = first.plus(Duration::from_nanos(
                    k.saturating_mul(EXPIRE_EVERY.as_nanos()),
                ));
                if tick <= t {
                    return true;
                }
            }
        }
        false
    }

    /// Zeek's `IsReuse`: does this SYN start a new connection on the 4-tuple?
    pub(super) fn is_reuse(&self, seg: &Segment) -> bool {
        let f = seg.flags;
        if !f.syn() {
            return false;
        }
        let conn_orig = if f.ack() {
            if self.o.state != Ep::Inactive {
                return false;
            }
            &self.r
        } else {
            &self.o
        };
        if !(self.o.did_close || self.r.did_close) {
            let seq = Seq(seg.seq);
            if conn_orig.start_seq == Some(seq) {
                return false;
            }
            if !f.ack()
                && conn_orig.state == Ep::SynAckSent
                && self.r.state == Ep::Inactive
                && self.r.start_seq == Some(seq)
            {
                return false;
            }
        }
        true
    }

    /// Feeds one segment of the connection at packet time `ts`.
    pub(super) fn observe(&mut self, seg: &Segment, ts: Timestamp) {
        let f = seg.flags;
        let is_orig = seg.src == self.orig;
        let seq = Seq(seg.seq);
        let len = seg.payload_len;
        let seg_len = if f.rst() { 0 } else { len } + u32::from(f.syn()) + u32::from(f.fin());
        let end = seq.plus(seg_len);
        self.packets += 1;
        self.start_time.get_or_insert(ts);

        let ep = if is_orig { &mut self.o } else { &mut self.r };
        ep.init(f, seq, end);
        let rel = Seq(seq.0.wrapping_sub(ep.start_seq.map_or(0, |s| s.0)));
        self.update_history(is_orig, f, rel, len);

        let (ep, peer) = if is_orig {
            (&mut self.o, &mut self.r)
        } else {
            (&mut self.r, &mut self.o)
        };
        // Zero window (scaled window 0), not on RST, not towards a closed peer.
        let zero_window =
            seg.window == 0 && !f.rst() && peer.state != Ep::Closed && ep.state != Ep::Reset;
        if !(ep.did_close && peer.did_close) {
            self.last_time = Some(ts);
        }
        if f.ack() && peer.state == Ep::Inactive {
            let a = Seq(seg.ack).plus(u32::MAX); // ack - 1
            peer.start_seq = Some(a);
            peer.last_seq = Some(a);
        }
        if len > 0 && !f.syn() {
            ep.size += u64::from(len);
        }

        // Zeek's update_last_seq: a payload segment that does not advance
        // the last sequence number is a retransmission.
        let mut rxmit = false;
        if let Some(last) = ep.last_seq {
            let d = end.diff(last);
            if (f.syn() || f.rst()) && d.unsigned_abs() > 1_048_576 {
            } else if f.fin() && ep.start_seq.map(|s| s.plus(1)) == Some(last) {
                ep.last_seq = Some(end);
            } else if ep.state == Ep::Reset {
            } else if d > 0 {
                ep.last_seq = Some(end);
            } else if len > 0 {
                rxmit = true;
            }
        }

        let reversal = !is_orig
            && f.syn()
            && !f.ack()
            && ep.state == Ep::Inactive
            && peer.state == Ep::SynAckSent;
        let do_close = match ep.state {
            Ep::Inactive => Self::update_inactive(is_orig, ep, peer, f, len),
            Ep::SynSent | Ep::SynAckSent => {
                let mut close = false;
                if f.fin() {
                    ep.set(Ep::Closed);
                    close = true;
                }
                if f.rst() {
                    ep.set(Ep::Reset);
                    close = true;
                }
                close
            }
            Ep::Partial | Ep::Established => {
                let mut close = false;
                if f.syn() && ep.state == Ep::Partial && peer.state == Ep::Inactive && !f.ack() {
                    ep.set(Ep::SynSent);
                }
                if f.fin() && !f.rst() {
                    ep.set(Ep::Closed);
                    // A FIN followed by a RST from the peer was a normal close.
                    if peer.state == Ep::Reset && peer.prev_state == Ep::Closed {
                        peer.set(Ep::Closed);
                    }
                    close = true;
                }
                if f.rst() {
                    ep.set(Ep::Reset);
                    close = true;
                }
                close
            }
            Ep::Closed => {
                // After a FIN exchange, a RST does not change the state.
                if f.rst() && peer.state != Ep::Closed {
                    ep.set(Ep::Reset);
                    !ep.did_close
                } else {
                    false
                }
            }
            Ep::Reset => false,
        };
        if is_orig && f.syn() && self.attempt_at.is_none() {
            self.attempt_at = Some(ts.plus(ATTEMPT_DELAY));
        }
        if do_close {
            let (ep, peer) = if is_orig {
                (&mut self.o, &mut self.r)
            } else {
                (&mut self.r, &mut self.o)
            };
            if !ep.did_close {
                ep.did_close = true;
                if ep.state == Ep::Reset || peer.did_close || peer.state == Ep::Inactive {
                    let at = self.last_time.unwrap_or(ts).plus(CLOSE_DELAY);
                    self.remove_at = Some(self.remove_at.map_or(at, |r| r.min(at)));
                }
            }
        }
        if zero_window {
            self.count_scaled(is_orig, |e| &mut e.zero_windows, 'W');
        }
        if rxmit {
            self.count_scaled(is_orig, |e| &mut e.rxmit, 'T');
        }
        if reversal {
            // SYN-ACK seen before its SYN: Zeek flips the roles.
            std::mem::swap(&mut self.orig, &mut self.resp);
            std::mem::swap(&mut self.o, &mut self.r);
            self.history.push('^');
        }
    }

    /// Zeek's `UpdateInactiveState`; returns whether the endpoint closed.
    fn update_inactive(
        is_orig: bool,
        ep: &mut Endpoint,
        peer: &mut Endpoint,
        f: TcpFlags,
        len: u32,
    ) -> bool {
        let mut close = false;
        if f.syn() {
            if is_orig {
                ep.set(if f.ack() { Ep::SynAckSent } else { Ep::SynSent });
            } else {
                if !f.ack() && peer.state == Ep::SynAckSent {
                    peer.set(Ep::Established);
                }
                if peer.state == Ep::SynSent {
                    peer.set(Ep::Established);
                }
                ep.set(Ep::Established);
            }
        }
        if f.fin() {
            ep.set(Ep::Closed);
            close = true;
        }
        if f.rst() {
            ep.set(Ep::Reset);
            close = true;
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
        close
    }

    fn update_history(&mut self, is_orig: bool, f: TcpFlags, rel: Seq, len: u32) {
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
                let last = self.ep(is_orig).hist_last_syn.unwrap_or_default();
                if self.check_history(is_orig, HIST_SYN, code) && last != rel {
                    self.add_history(is_orig, code);
                }
                self.ep_mut(is_orig).hist_last_syn = Some(rel);
            }
            if f.fin() {
                let at = rel.plus(len);
                let last = self.ep(is_orig).hist_last_fin.unwrap_or_default();
                if self.check_history(is_orig, HIST_FIN, 'F') && last != at {
                    self.add_history(is_orig, 'F');
                }
                self.ep_mut(is_orig).hist_last_fin = Some(at);
            }
            if f.rst() {
                let last = self.ep(is_orig).hist_last_rst.unwrap_or_default();
                if self.check_history(is_orig, HIST_RST, 'R') && last != rel {
                    self.add_history(is_orig, 'R');
                }
                self.ep_mut(is_orig).hist_last_rst = Some(rel);
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

    pub(super) fn row(&self) -> ZeekRow {
        ZeekRow {
            orig: self.orig,
            resp: self.resp,
            conn_state: self.conn_state(),
            history: self.history.clone(),
            first_ts: self.start_time.unwrap_or_default(),
            last_ts: self.last_time.unwrap_or_default(),
            packets: self.packets,
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
