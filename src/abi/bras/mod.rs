//! `BRAS_*`: the business-server library's C functions ([`api`]) and the
//! functions not provided ([`unsupported`]).

pub mod api;
pub mod unsupported;
