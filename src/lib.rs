//! anychat-rs: an AnyChat-compatible core server, client library and
//! business-server library.
//!
//! Layers (see `docs/ARCHITECTURE.md`):
//! - [`protocol`]: the wire format, framing and encode/decode;
//! - [`core`]: the call/room/user logic as a sans-IO state machine;
//! - [`server`]: the core server's mio event loop around [`core::Core`];
//! - [`link`]: one framed connection to the core server, shared by the libraries;
//! - [`client`] and [`ffi`]: the client library's network thread and its `BRAC_*` C ABI;
//! - [`bras`] and [`bras_ffi`]: the business-server library and its `BRAS_*` C ABI.

pub mod bras;
pub mod bras_ffi;
pub mod client;
pub mod constants;
pub mod core;
pub mod ffi;
pub mod link;
pub mod protocol;
pub mod server;
