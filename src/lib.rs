//! anychat-rs: an AnyChat-compatible core server, client library and
//! business-server library.
//!
//! The folders are the layers; imports run one way (see
//! `docs/ARCHITECTURE.md`):
//!
//! - [`wire`]: the protocol (frames, messages, the shared media frame) and
//!   the vendor's constants;
//! - [`core`]: the core server's logic as a sans-IO state machine (users,
//!   calls, rooms, the business link, media routing, rate limits);
//! - [`client`] and [`bras`]: the client library's and the business-server
//!   library's engines and their network and callback threads;
//! - [`codec`]: H.264 and the pixel and audio formats, in types of its own
//!   (no C types);
//! - [`net`]: mio event loops, the framed link, TLS;
//! - [`ops`]: operating the core server: metrics, the admin listener
//!   (`/metrics`, the status page), the hand-off of call records;
//! - `records` (feature `records`): call records, missed calls and user ids
//!   in SQLite, their writer thread and their export;
//! - [`logging`]: the libraries' log file for C apps (`BRAC_ActiveCallLog`,
//!   `ANYCHAT_LOG_FILE`): a `tracing` subscriber with a bounded, lossy
//!   writer; imports nothing of the crate;
//! - [`abi`]: the `BRAC_*` and `BRAS_*` C functions, each running inside the
//!   one FFI boundary, the vendor's C types, and the conversions from the
//!   codec's types to them.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod abi;
pub mod bras;
pub mod client;
pub mod cluster;
pub mod codec;
pub mod core;
pub mod device;
pub mod logging;
pub mod net;
pub mod ops;
#[cfg(feature = "records")]
pub mod records;
pub mod wire;
