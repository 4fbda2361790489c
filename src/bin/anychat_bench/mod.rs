//! Parts of `anychat-bench`, the core server's load generator.

pub mod audio_codec;
pub mod media;
pub mod procfs;
pub mod stats;
pub mod worker;
