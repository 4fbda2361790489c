//! What travels between the processes: the wire protocol (frames, messages,
//! the shared media frame), the vendor's constants (error codes, message
//! ids, flags) and the time rules of a library's link ([`keepalive`]). No
//! I/O and no clock: every other layer builds on this one.
#![forbid(unsafe_code)]

pub mod constants;
pub mod keepalive;
pub mod protocol;
