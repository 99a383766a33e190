//! The frame decoder on arbitrary bytes, for every link type it decodes:
//! the first byte picks the link type, the rest is the frame. The fast
//! path and the general one must agree wherever the fast one answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linewatch::decode::{decode_frame, decode_frame_general, Frame, LinkType};
use linewatch::time::Timestamp;

const DLTS: [i32; 8] = [1, 113, 276, 101, 228, 229, 0, 108];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let Ok(link) = LinkType::from_dlt(DLTS[usize::from(pick) % DLTS.len()]) else {
        return;
    };
    // The wire length: the captured length, or (every other input) more,
    // as a header-only capture sees it.
    let wire = if pick & 0x80 != 0 { frame.len() as u32 + 1400 } else { frame.len() as u32 };
    let f = Frame {
        ts: Timestamp::from_nanos(1_700_000_000_000_000_000),
        data: frame,
        wire_len: wire,
    };
    let fast = decode_frame(link, &f);
    let general = decode_frame_general(link, &f);
    assert_eq!(fast, general, "the fast path and the general path differ");
});
