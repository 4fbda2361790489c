//! The C ABI: the `BRAC_*` client functions ([`brac`]) and the `BRAS_*`
//! business-server functions ([`bras`]), exported with the vendor's exact
//! signatures and documented error codes, over the engines of
//! [`crate::client`] and [`crate::bras`].
//!
//! Inside, imports run one way:
//!
//! - [`types`]: every C type (aliases, structs, callback typedefs) and the
//!   conversions from the codec's own types to the C structs;
//! - [`boundary`]: `ffi_boundary!`, the body of
//!   every exported function (a panic becomes
//!   [`ERR_INTERNAL`](boundary::ERR_INTERNAL), nothing unwinds into C), and
//!   the argument helpers (NULL checks, C strings in and out, out-parameters,
//!   callback registrations);
//! - `brac::callbacks` and `bras::callbacks`: the registries of the app's
//!   callbacks, and the delivery of events to them;
//! - `api` (implemented functions), `media` (media input and the video and
//!   audio data callbacks; `BRAC_` only) and `unsupported` (functions whose
//!   feature is not provided) of each library. `brac::api` hands the engine's
//!   video and audio events to `brac::media`; the `BRAS_` functions use one
//!   helper of the `BRAC_` ones (the recording codes).
//!
//! This is the library's `unsafe` code (C pointers and callbacks; the
//! server's `malloc_trim` aside): every `unsafe` block says why it is sound
//! in a `// SAFETY:` comment, which the lints below enforce.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod boundary;
pub mod brac;
pub mod bras;
pub mod types;

#[cfg(test)]
mod tests;
