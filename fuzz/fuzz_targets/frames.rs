//! A byte stream fed in reads of sizes taken from the input (see
//! `anychat_fuzz::frames_input`) to `take_frames`, the reassembly of the
//! server's connections and the libraries' links, over a buffer kept the way
//! `net::framed` keeps it: it hands over exactly the frames that
//! `split_frame` finds in the whole stream, in order, stops where it is told
//! to, never holds more than was fed, and fails only on a length prefix of 0
//! or over the limit. Every frame is decoded both ways (see the `client_msg`
//! and `server_msg` targets).
#![no_main]

use anychat::wire::protocol::*;
use anychat_fuzz::{check_round_trip, split_frames_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (sizes, stream) = split_frames_input(data);
    if sizes.is_empty() {
        return;
    }
    let mut input: Vec<u8> = Vec::new(); // fed, not yet taken
    let (mut fed, mut taken) = (0, 0);
    for &s in sizes.iter().cycle() {
        if fed == stream.len() {
            break;
        }
        let n = (s as usize % 128 + 1).min(stream.len() - fed);
        input.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        // With s >= 128, the reader takes one frame per read and stops.
        let per_read = if s >= 128 { 1 } else { usize::MAX };
        let mut handed = 0;
        let result = take_frames(
            &input,
            || MAX_FRAME_LEN,
            |body| {
                if handed == per_read {
                    return Ok(Take::Stop);
                }
                handed += 1;
                let expected = split_frame(&stream[taken..fed]);
                assert_eq!(expected, Ok(Some((body, FRAME_HEADER_LEN + body.len()))));
                taken += FRAME_HEADER_LEN + body.len();
                check_round_trip(body, ClientMsg::decode, ClientMsg::encode);
                check_round_trip(body, ServerMsg::decode, ServerMsg::encode);
                Ok(Take::Taken)
            },
        );
        match result {
            Ok((used, took)) => {
                input.drain(..used);
                assert_eq!(input.len(), fed - taken);
                if took == Take::Taken {
                    // Everything complete was handed over.
                    assert_eq!(split_frame(&stream[taken..fed]), Ok(None));
                }
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
});
