//! anychat-rs: an AnyChat-compatible core server and client library.
//!
//! Layers (see `docs/ARCHITECTURE.md`):
//! - [`protocol`]: the wire format, framing and encode/decode;
//! - [`core`]: the call/room/user logic as a sans-IO state machine;
//! - [`server`]: the core server's mio event loop around [`core::Core`];
//! - [`client`]: the client library's network thread and state;
//! - [`ffi`]: the `BRAC_*` C ABI, a thin layer over [`client`].

pub mod client;
pub mod constants;
pub mod core;
pub mod ffi;
pub mod link;
pub mod bras;
pub mod bras_ffi;
pub mod protocol;
pub mod server;
