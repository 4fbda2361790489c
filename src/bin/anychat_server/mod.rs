//! Parts of `anychat-server`: its settings (flags, environment, file), its
//! log, and the `records` subcommand.

pub mod config;
pub mod logs;
pub mod records_cmd;
