//! [`VideoEncoder`] and [`VideoDecoder`] when the crate is built without its
//! `h264` feature (no openh264, no C++): the same API, but no encoder can be
//! made ([`VideoEncoder::new`] returns [`MediaError::Codec`], so raw video
//! input is refused and only already-encoded video is relayed), and the
//! decoder decodes nothing (received H.264 frames are dropped, with one
//! warning per process).

use std::convert::Infallible;
use std::sync::Once;

use super::{DecodedFrame, EncodedFrame, MediaError};

fn not_built() -> MediaError {
    MediaError::Codec("not available: built without the `h264` feature".into())
}

/// No H.264 encoder in this build: [`VideoEncoder::new`] always fails.
pub struct VideoEncoder {
    never: Infallible,
}

impl VideoEncoder {
    /// Fails: [`MediaError::Codec`].
    pub fn new(w: u32, h: u32, fps: f32, bitrate: u32) -> Result<Self, MediaError> {
        let _ = (w, h, fps, bitrate);
        Err(not_built())
    }

    pub fn width(&self) -> u32 {
        match self.never {}
    }

    pub fn height(&self) -> u32 {
        match self.never {}
    }

    pub fn request_key_frame(&mut self) {
        match self.never {}
    }

    pub fn encode(&mut self, i420: &[u8], force_key: bool) -> Result<EncodedFrame, MediaError> {
        let _ = (i420, force_key);
        match self.never {}
    }
}

/// No H.264 decoder in this build: [`VideoDecoder::decode`] fails for every
/// frame (the receiver drops it).
pub struct VideoDecoder {
    _private: (),
}

impl VideoDecoder {
    pub fn new() -> Result<Self, MediaError> {
        Ok(VideoDecoder { _private: () })
    }

    /// Always true: no frame is ever decoded.
    pub fn needs_key_frame(&self) -> bool {
        true
    }

    pub fn mark_loss(&mut self) {}

    /// Fails: [`MediaError::Codec`] (the first time, also a warning).
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<DecodedFrame>, MediaError> {
        static WARNED: Once = Once::new();
        if data.is_empty() {
            return Ok(None);
        }
        WARNED.call_once(|| tracing::warn!("received H.264 video is not decoded: {}", not_built()));
        Err(not_built())
    }
}
