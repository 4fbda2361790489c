//! `BRAS_*`: the business-server library's C functions. [`api`] holds the
//! implemented functions (and the process's one business-server engine),
//! [`unsupported`] the functions whose feature is not provided, with their
//! documented codes; `callbacks` is the registry they store the app's
//! callbacks in, and delivers the engine's events to them.

pub mod api;
pub(crate) mod callbacks;
pub mod unsupported;
