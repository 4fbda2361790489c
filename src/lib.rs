//! anychat-rs: an AnyChat-compatible core server, client library and
//! business-server library.
//!
//! Layers (see `docs/ARCHITECTURE.md`):
//! - [`protocol`]: the wire format, framing and encode/decode;
//! - [`core`]: the call/room/user/business/media logic as a sans-IO state machine;
//! - [`server`]: the core server's mio event loop around [`core::Core`], with a
//!   [`media_queue`] per receiver;
//! - [`link`]: one framed connection to the core server, shared by the libraries;
//! - [`tls`]: TLS configurations and the [`tls::Stream`] (plain or TLS) the event loops use;
//! - [`client`], [`ffi`] and [`ffi_media`]: the client library's network and callback
//!   threads and its `BRAC_*` C ABI; [`media`]: H.264 and the pixel/audio formats;
//! - [`bras`] and [`bras_ffi`]: the business-server library and its `BRAS_*` C ABI;
//! - [`ffi_types`]: the vendor's remaining C types (media structs, enums, callback typedefs);
//! - [`ffi_stubs`] and [`bras_stubs`]: the vendor functions whose feature is not provided,
//!   exported with their exact signatures and returning documented error codes.

pub mod bras;
pub mod bras_ffi;
pub mod bras_stubs;
pub mod client;
pub mod constants;
pub mod core;
pub mod ffi;
pub mod ffi_media;
pub mod ffi_stubs;
pub mod ffi_types;
pub mod limits;
pub mod link;
pub mod media;
pub mod media_queue;
pub mod protocol;
pub mod secret;
pub mod server;
pub mod tls;
