//! Parts of `anychat-server` beside its flags and event loop.
pub mod records_cmd;
