//! A byte stream fed to `FrameBuffer` in reads of sizes taken from the input
//! (see `anychat_fuzz::frames_input`): it returns exactly the frames that
//! `split_frame` finds in the whole stream, never holds more than was fed,
//! and fails only on a length prefix of 0 or over `MAX_FRAME_LEN`. Every
//! frame is decoded both ways (see the `client_msg` and `server_msg` targets).
#![no_main]

use anychat::wire::protocol::*;
use anychat_fuzz::{check_round_trip, split_frames_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (sizes, stream) = split_frames_input(data);
    if sizes.is_empty() {
        return;
    }
    let mut fb = FrameBuffer::new();
    let (mut fed, mut taken) = (0, 0); // bytes given to `fb`, bytes it returned in frames
    for &s in sizes.iter().cycle() {
        if fed == stream.len() {
            break;
        }
        let n = (s as usize % 128 + 1).min(stream.len() - fed);
        let piece = &stream[fed..fed + n];
        if s >= 128 {
            fb.extend(piece);
        } else {
            let asked = 2 * n;
            fb.read_space(asked)[..n].copy_from_slice(piece);
            fb.commit(n, asked);
        }
        fed += n;
        loop {
            assert_eq!(fb.pending(), fed - taken);
            let expected = split_frame(&stream[taken..fed]);
            match fb.next_frame() {
                Ok(Some(body)) => {
                    assert_eq!(expected, Ok(Some((body, FRAME_HEADER_LEN + body.len()))));
                    taken += FRAME_HEADER_LEN + body.len();
                    check_round_trip(body, ClientMsg::decode, ClientMsg::encode);
                    check_round_trip(body, ServerMsg::decode, ServerMsg::encode);
                }
                Ok(None) => {
                    assert_eq!(expected, Ok(None));
                    break;
                }
                Err(e) => {
                    let head = &stream[taken..taken + FRAME_HEADER_LEN];
                    let len = u32::from_be_bytes(head.try_into().unwrap()) as usize;
                    assert!(len == 0 || len > MAX_FRAME_LEN, "{e} on a length prefix of {len}");
                    assert_eq!(e, DecodeError::BadLength(len));
                    return; // the connection is closed
                }
            }
        }
    }
    assert_eq!(fb.pending(), stream.len() - taken);
});
