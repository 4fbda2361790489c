//! Local media devices: microphones and speakers ([`audio`]). I/O only, in
//! types of their own (16-bit samples); the client library's capture and
//! playback threads drive them.
pub mod audio;
