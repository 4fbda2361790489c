//! `BRAC_*`: the client library's C functions ([`api`]), its media input
//! and data callbacks ([`media`]) and the functions not provided
//! ([`unsupported`]).

pub mod api;
pub mod media;
pub mod unsupported;
