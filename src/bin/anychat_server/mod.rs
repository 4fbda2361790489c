//! Parts of `anychat-server`: its settings (flags, environment, file) and
//! its log.

pub mod config;
pub mod logs;
