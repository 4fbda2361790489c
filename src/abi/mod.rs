//! The C ABI: the vendor's types ([`types`]), the `BRAC_*` client functions
//! ([`brac`]) and the `BRAS_*` business-server functions ([`bras`]), each
//! with the functions whose feature is not provided, exported with their
//! exact signatures and documented error codes. The only layer with
//! `unsafe` code (C pointers and callbacks).

pub mod brac;
pub mod bras;
pub mod types;
