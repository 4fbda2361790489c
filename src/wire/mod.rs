//! What travels between the processes: the wire protocol (frames, messages,
//! the shared media frame) and the vendor's constants (error codes, message
//! ids, flags). No I/O and no state: every other layer builds on this one.
#![forbid(unsafe_code)]

pub mod constants;
pub mod protocol;
