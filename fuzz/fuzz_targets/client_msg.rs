//! Any bytes as a client frame body: decoding never panics nor allocates more
//! than the body allows, and whatever decodes re-encodes to the same bytes.
#![no_main]

use anychat::wire::protocol::ClientMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    anychat_fuzz::check_round_trip(body, ClientMsg::decode, ClientMsg::encode);
});
