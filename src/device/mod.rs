//! The client library's local devices: cameras ([`camera`]: V4L2 and the
//! fake cameras of tests and demos), microphones and speakers ([`audio`]:
//! ALSA and the fake ones; 16-bit samples), and the drawing of users' video
//! into the app's windows ([`display`]: X11).
//!
//! Each device runs on a thread of its own (`anychat-cam` per open camera,
//! `anychat-mic` and `anychat-speaker` driven by the client library,
//! `anychat-draw` per X display), never on the network thread and never
//! with a library lock held: a camera hands each picture to a closure the
//! client gives it (which encodes and queues it, see `client::camera`), the
//! drawing thread takes pictures from a bounded queue. This module imports
//! the codec alone.
#![forbid(unsafe_code)]

pub mod audio;
pub mod camera;
pub mod display;
