//! The I/O layer: mio event loops and sockets. The core server's loop
//! ([`server`]), the libraries' framed link to it ([`link`], with the
//! network thread and mailbox the libraries run it on), a receiver's bounded
//! media queue ([`media_queue`]), TLS on any of these sockets ([`tls`]), and
//! the business secret kept on disk ([`secret`]).
//!
//! No `unsafe` here but one documented call: [`memory::give_back`] asks the
//! allocator to return free heap to the system (`malloc_trim`).
#![deny(unsafe_code)]

pub mod framed;
pub mod link;
pub mod media_queue;
pub mod memory;
pub mod secret;
pub mod server;
pub mod tls;
