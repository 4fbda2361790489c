//! Any bytes as a server frame body: decoding never panics nor allocates more
//! than the body allows, and whatever decodes re-encodes to the same bytes.
#![no_main]

use anychat::wire::protocol::ServerMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    anychat_fuzz::check_round_trip(body, ServerMsg::decode, ServerMsg::encode);
});
