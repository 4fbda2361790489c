//! The media codec layer: raw pixel formats and their conversions, H.264
//! video through OpenH264, and the PCM audio format. No networking and no C
//! types: the client library compresses what `BRAC_InputVideoData` is given
//! with [`VideoEncoder`], the receiver decodes it with [`VideoDecoder`] and
//! converts it with [`from_i420`] into the [`PixelFormat`] its video
//! callback asked for, described by a [`FrameDesc`]. The C ABI layer
//! (`crate::abi`) maps the vendor's `BRAC_PIX_FMT_*` values to
//! [`PixelFormat`] and turns a [`FrameDesc`] into the `BITMAPINFOHEADER`, and
//! an [`AudioFormat`] into the `WAVEFORMATEX`, that the data callbacks get.
//!
//! # Pixel formats and memory layout
//!
//! Frames are tightly packed, one plane after the other, except that the
//! rows of the RGB formats are padded to 4 bytes as in every Windows DIB
//! (for widths that are multiples of 4, as video widths are, there is no
//! padding). [`frame_size`] gives the exact size of a frame. Every format
//! but the compressed ones converts to and from I420 ([`to_i420`],
//! [`from_i420`]).
//!
//! | [`PixelFormat`] (`BRAC_PIX_FMT_*`) | bytes | row order |
//! | --- | --- | --- |
//! | `Rgb24` (`RGB24`) | B, G, R per pixel | [`RGB_ROW_ORDER`] |
//! | `Rgb32` (`RGB32`) | B, G, R, X per pixel (X = 255 on output, ignored on input) | [`RGB_ROW_ORDER`] |
//! | `Bgr32` (`BGR32`) | R, G, B, X per pixel | [`RGB_ROW_ORDER`] |
//! | `Rgb565` (`RGB565`) | one little-endian 16-bit word per pixel: R 5 bits (high), G 6, B 5 (low) | [`RGB_ROW_ORDER`] |
//! | `Rgb555` (`RGB555`) | one little-endian 16-bit word per pixel: X 1 bit (0 on output), R 5, G 5, B 5 | [`RGB_ROW_ORDER`] |
//! | `Yuv420p` (`YUV420P`, I420) | Y plane, then U (Cb), then V (Cr), each ½×½ | top-down |
//! | `Yv12` (`YV12`) | Y plane, then V, then U, each ½×½ | top-down |
//! | `Nv12` / `Nv21` (`NV12` / `NV21`) | Y plane, then interleaved U,V / V,U at ½×½ | top-down |
//! | `Nv16` (`NV16`) | Y plane, then interleaved U,V at ½ width, full height | top-down |
//! | `Yuy2` (`YUY2`) | Y0, U, Y1, V per pixel pair | top-down |
//! | `Mjpeg`, `H264` | already encoded: relayed as they are, [`frame_desc`] only | |
//!
//! **Row order of the RGB formats.** On Linux (every platform but Windows)
//! the RGB rows are **top-down**: the first row in memory is the top of the
//! picture, both in the frames the video callbacks get and in those
//! `BRAC_InputVideoData` takes. That is what the vendor's Linux SDK does:
//! its Linux samples build a `QImage` straight from the callback's buffer
//! and mirror it only on Windows. On Windows they are bottom-up, as in a
//! DIB whose header has a positive height. [`RGB_ROW_ORDER`] is this
//! platform's order; [`to_i420_with`] and [`from_i420_with`] take either.
//!
//! [`frame_desc`] reports the height as **positive** on every platform, as
//! the vendor's Linux SDK does in its `BITMAPINFOHEADER`: a legacy Linux app
//! computes `biWidth * biHeight * biBitCount / 8` or hands `biWidth` and
//! `biHeight` to `QImage` unchanged. (By the DIB rule a positive height
//! means bottom-up; on Linux it does not, as with the vendor's SDK.) The
//! YUV formats are top-down everywhere. Chroma planes of odd-sized planar
//! frames are rounded up (`(w + 1) / 2` × `(h + 1) / 2`).
//!
//! Colour conversion uses ITU-R BT.601 coefficients with limited ("TV")
//! range, Y in 16..=235 and U, V in 16..=240, in 8.8 fixed point; RGB → YUV
//! averages each 2×2 block for the chroma sample.
//!
//! # Video: H.264
//!
//! [`VideoEncoder`] turns I420 frames into H.264 Annex B access units (start
//! codes, one call → one access unit); [`VideoDecoder`] turns them back. A
//! key frame is an IDR picture preceded by its SPS and PPS, so a receiver can
//! start decoding from any key frame: the decoder drops other frames until
//! one arrives, and the sender forces one with `force_key` of
//! [`VideoEncoder::encode`] when asked. [`is_key_frame`] tells one apart
//! without decoding, for a relay that must resume a stream on a key frame.
//! Both encoder and decoder are single-threaded and [`Send`].
//!
//! # Audio: PCM and Opus
//!
//! Audio is fed and handed out as raw interleaved signed 16-bit
//! little-endian PCM, 1 or 2 channels at 8000 to 48000 Hz
//! ([`AudioFormat::validate`] states what is accepted). On the wire it is
//! Opus in 20 ms frames ([`audio::OpusEncoder`], [`audio::OpusDecoder`],
//! feature `opus`, about 24 kbit/s per channel) at the rates Opus takes
//! (8, 12, 16, 24, 48 kHz), PCM otherwise (128 kbit/s at 8 kHz mono to
//! 1536 kbit/s at 48 kHz stereo). [`audio::Mixer`] is the playout mix:
//! one bounded jitter buffer per user.
//!
//! # Synthetic sources
//!
//! The test patterns, frame signatures and tones of the tests and of
//! `anychat-cli stream` are in `patterns`, compiled only for the unit tests
//! and with the `test-patterns` feature (which the integration tests turn
//! on), so that the shipped library does not carry them.
#![forbid(unsafe_code)]

use std::fmt;
#[cfg(feature = "h264")]
use std::panic::{catch_unwind, AssertUnwindSafe};

#[cfg(feature = "h264")]
use openh264::decoder::Decoder;
#[cfg(feature = "h264")]
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode, UsageType};
#[cfg(feature = "h264")]
use openh264::formats::{YUVSlices, YUVSource};
#[cfg(feature = "h264")]
use openh264::{OpenH264API, Timestamp};

#[cfg(any(test, feature = "test-patterns"))]
pub mod patterns;

pub mod audio;
pub mod processing;

use PixelFormat::*;

/// A pixel format: the layouts of the module docs. The C ABI maps the
/// vendor's `BRAC_PIX_FMT_*` values to these (and refuses the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// B, G, R per pixel, rows in [`RGB_ROW_ORDER`] and padded to 4 bytes.
    Rgb24,
    /// B, G, R, X per pixel, rows in [`RGB_ROW_ORDER`].
    Rgb32,
    /// Planar 4:2:0: Y, then V, then U.
    Yv12,
    /// Packed 4:2:2: Y0, U, Y1, V.
    Yuy2,
    /// Planar 4:2:0: Y, then U, then V (I420).
    Yuv420p,
    /// 16-bit RGB 5-6-5, rows in [`RGB_ROW_ORDER`] and padded to 4 bytes.
    Rgb565,
    /// 16-bit X-RGB 1-5-5-5, rows in [`RGB_ROW_ORDER`] and padded to 4 bytes.
    Rgb555,
    /// Y plane, then interleaved U, V at 4:2:0.
    Nv12,
    /// Y plane, then interleaved V, U at 4:2:0.
    Nv21,
    /// Y plane, then interleaved U, V at 4:2:2.
    Nv16,
    /// R, G, B, X per pixel, rows in [`RGB_ROW_ORDER`].
    Bgr32,
    /// Motion JPEG, already encoded.
    Mjpeg,
    /// H.264, already encoded.
    H264,
}

impl PixelFormat {
    /// Whether [`to_i420`] and [`from_i420`] convert this format: every
    /// one but the compressed `Mjpeg` and `H264`.
    pub fn is_convertible(self) -> bool {
        !matches!(self, Mjpeg | H264)
    }

    /// Whether this is one of the RGB formats, whose rows are in
    /// [`RGB_ROW_ORDER`].
    pub fn is_rgb(self) -> bool {
        matches!(self, Rgb24 | Rgb32 | Bgr32 | Rgb565 | Rgb555)
    }
}

/// The order of the rows of an RGB frame in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowOrder {
    /// The first row in memory is the top of the picture.
    TopDown,
    /// The first row in memory is the bottom of the picture (a Windows DIB
    /// with a positive height).
    BottomUp,
}

impl RowOrder {
    /// The row in memory of row `y` (counted from the top) of an `h`-row
    /// picture; also the picture row of memory row `y`.
    #[inline(always)]
    pub fn memory_row(self, y: usize, h: usize) -> usize {
        match self {
            RowOrder::TopDown => y,
            RowOrder::BottomUp => h - 1 - y,
        }
    }
}

/// The row order of the RGB formats on this platform, delivered and taken
/// alike: top-down on Linux (and every platform but Windows), as the
/// vendor's Linux SDK; bottom-up on Windows, as a DIB.
pub const RGB_ROW_ORDER: RowOrder = if cfg!(windows) { RowOrder::BottomUp } else { RowOrder::TopDown };

/// How a frame is described to the video callbacks: the fields of a DIB
/// header, which the C ABI copies into a `BITMAPINFOHEADER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameDesc {
    /// Pixels per row.
    pub width: u32,
    /// Rows, always positive (whatever the row order: see the module docs).
    pub height: u32,
    /// Bits per pixel: 24, 32, 16 or 12 (24 for the compressed formats).
    pub bit_count: u16,
    /// [`BI_RGB`], [`BI_BITFIELDS`] or a FOURCC ([`fourcc`]).
    pub compression: u32,
    /// The frame's size in bytes ([`frame_size`]); 0 for the compressed
    /// formats, whose size varies per frame.
    pub size_image: u32,
}

/// The largest width or height any function here accepts (keeps every frame
/// size well inside 32 bits).
pub const MAX_DIMENSION: u32 = 16384;

/// The compression code of uncompressed RGB (`BI_RGB`, as in a DIB header).
pub const BI_RGB: u32 = 0;
/// The compression code of 16-bit RGB with colour masks (`BI_BITFIELDS`).
pub const BI_BITFIELDS: u32 = 3;

/// A FOURCC code as a DIB header's compression holds it (first character in
/// the low byte).
pub const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}

// ----- errors ----------------------------------------------------------------

/// What can go wrong in the codec layer. Nothing here panics on bad input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaError {
    /// The pixel format is unknown, or not supported by this operation.
    UnsupportedFormat(PixelFormat),
    /// Zero, too large, or (for the encoder) odd or too small dimensions.
    BadDimensions { w: u32, h: u32 },
    /// A buffer whose length does not match its format and dimensions.
    BadLength { expected: usize, got: usize },
    /// An encoder parameter out of range (frame rate, bit rate).
    BadParameter(&'static str),
    /// An audio format outside what is supported.
    BadAudioFormat(&'static str),
    /// OpenH264 reported an error (corrupt bitstream, failed initialisation…).
    Codec(String),
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::UnsupportedFormat(fmt) => write!(f, "unsupported pixel format {fmt:?}"),
            MediaError::BadDimensions { w, h } => write!(f, "unsupported frame dimensions {w}x{h}"),
            MediaError::BadLength { expected, got } => {
                write!(f, "frame buffer has {got} bytes, {expected} expected")
            }
            MediaError::BadParameter(what) => write!(f, "bad encoder parameter: {what}"),
            MediaError::BadAudioFormat(what) => write!(f, "unsupported audio format: {what}"),
            MediaError::Codec(msg) => write!(f, "H.264 codec error: {msg}"),
        }
    }
}

impl std::error::Error for MediaError {}

#[cfg(feature = "h264")]
impl From<openh264::Error> for MediaError {
    fn from(e: openh264::Error) -> Self {
        MediaError::Codec(e.to_string())
    }
}

// ----- pixel formats -----------------------------------------------------------

/// The length of a DIB row of `w` pixels of `bit_count` bits, padded to 4 bytes.
pub const fn dib_stride(bit_count: usize, w: usize) -> usize {
    (w * bit_count).div_ceil(32) * 4
}

/// The size in bytes of one `w`×`h` frame in `fmt` (see the module docs for
/// the layouts), or `None` for a compressed format, a zero dimension, or
/// one above [`MAX_DIMENSION`].
pub fn frame_size(fmt: PixelFormat, w: u32, h: u32) -> Option<usize> {
    if w == 0 || h == 0 || w > MAX_DIMENSION || h > MAX_DIMENSION {
        return None;
    }
    let (w, h) = (w as usize, h as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    Some(match fmt {
        Rgb24 => dib_stride(24, w) * h,
        Rgb32 | Bgr32 => w * 4 * h,
        Rgb565 | Rgb555 => dib_stride(16, w) * h,
        Yuv420p | Yv12 | Nv12 | Nv21 => w * h + 2 * cw * ch,
        Yuy2 => cw * 4 * h,
        Nv16 => w * h + 2 * cw * h,
        Mjpeg | H264 => return None,
    })
}

/// `(bit_count, compression)` of a format.
fn bit_count_and_compression(fmt: PixelFormat) -> (u16, u32) {
    match fmt {
        Rgb24 => (24, BI_RGB),
        Rgb32 | Bgr32 => (32, BI_RGB),
        Rgb565 => (16, BI_BITFIELDS),
        Rgb555 => (16, BI_RGB),
        Yuv420p => (12, fourcc(b"I420")),
        Yv12 => (12, fourcc(b"YV12")),
        Nv12 => (12, fourcc(b"NV12")),
        Nv21 => (12, fourcc(b"NV21")),
        Yuy2 => (16, fourcc(b"YUY2")),
        Nv16 => (16, fourcc(b"NV16")),
        // Compressed: 24 as in the AVI headers of such streams.
        Mjpeg => (24, fourcc(b"MJPG")),
        H264 => (24, fourcc(b"H264")),
    }
}

/// The description of a `w`×`h` frame in `fmt`, as the video data
/// callbacks get it: `width` = `w`, `height` = `+h` (positive on every
/// platform, as the vendor's Linux SDK reports it; RGB rows in
/// [`RGB_ROW_ORDER`], YUV rows top-down: see the module docs), `bit_count` 24 / 32 / 12 / 16,
/// `compression` [`BI_RGB`] for RGB ([`BI_BITFIELDS`] for RGB565) and the
/// FOURCC (`I420`, `YV12`, `NV12`, `NV21`, `YUY2`, `NV16`, `MJPG`, `H264`)
/// otherwise, `size_image` = [`frame_size`] (0 for the compressed formats,
/// whose size varies per frame: the caller sets it).
///
/// `None` for unsupported dimensions.
pub fn frame_desc(fmt: PixelFormat, w: u32, h: u32) -> Option<FrameDesc> {
    let (bit_count, compression) = bit_count_and_compression(fmt);
    let size_image = match fmt {
        Mjpeg | H264 if w > 0 && h > 0 && w <= MAX_DIMENSION && h <= MAX_DIMENSION => 0,
        _ => frame_size(fmt, w, h)?,
    };
    Some(FrameDesc { width: w, height: h, bit_count, compression, size_image: size_image as u32 })
}

fn check_len(fmt: PixelFormat, w: u32, h: u32, len: usize) -> Result<usize, MediaError> {
    let expected = frame_size(fmt, w, h).ok_or(MediaError::BadDimensions { w, h })?;
    if len != expected {
        return Err(MediaError::BadLength { expected, got: len });
    }
    Ok(expected)
}

// BT.601 limited range, 8.8 fixed point. The per-pixel helpers and loops
// below avoid calls (plain casts, `while` loops, `inline(always)`) so that
// they stay fast in the unoptimised builds the tests run in.
#[inline(always)]
fn rgb_to_y(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}
#[inline(always)]
fn rgb_to_u(r: i32, g: i32, b: i32) -> u8 {
    (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8
}
#[inline(always)]
fn rgb_to_v(r: i32, g: i32, b: i32) -> u8 {
    (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8
}
/// The rounded mean of two samples.
#[inline(always)]
fn avg(a: u8, b: u8) -> u8 {
    ((a as u16 + b as u16 + 1) >> 1) as u8
}
#[inline(always)]
fn clamp_u8(v: i32) -> u8 {
    if v < 0 {
        0
    } else if v > 255 {
        255
    } else {
        v as u8
    }
}

/// The three planes of a tight I420 buffer of the right length.
fn i420_planes(i420: &[u8], w: usize, h: usize) -> (&[u8], &[u8], &[u8]) {
    let c = w.div_ceil(2) * h.div_ceil(2);
    let (y, rest) = i420.split_at(w * h);
    let (u, v) = rest.split_at(c);
    (y, u, &v[..c])
}

fn i420_planes_mut(i420: &mut [u8], w: usize, h: usize) -> (&mut [u8], &mut [u8], &mut [u8]) {
    let c = w.div_ceil(2) * h.div_ceil(2);
    let (y, rest) = i420.split_at_mut(w * h);
    let (u, v) = rest.split_at_mut(c);
    (y, u, v)
}

// ----- RGB layouts ------------------------------------------------------------

/// One packed RGB pixel layout: how many bytes a pixel takes and how its
/// red, green and blue are read and written (`#[inline(always)]` so that the
/// generic loops below stay fast in unoptimised builds).
trait RgbPixel {
    const BYTES: usize;
    /// (r, g, b), each 0..=255, of the pixel at byte `i` of `p`.
    fn get(p: &[u8], i: usize) -> (i32, i32, i32);
    /// Writes the pixel at byte `i` of `p`.
    fn put(p: &mut [u8], i: usize, r: u8, g: u8, b: u8);
}

/// `Rgb24`: B, G, R.
struct PxBgr24;
/// `Rgb32`: B, G, R, X (X = 255 on output).
struct PxBgrx;
/// `Bgr32`: R, G, B, X (X = 255 on output).
struct PxRgbx;
/// `Rgb565`: a little-endian 16-bit word, red in the top 5 bits, green in
/// the middle 6, blue in the low 5 (the `BI_BITFIELDS` masks 0xF800,
/// 0x07E0, 0x001F).
struct Px565;
/// `Rgb555`: a little-endian 16-bit word, X (0 on output), then 5 bits each
/// of red, green and blue (0x7C00, 0x03E0, 0x001F).
struct Px555;

/// A 5-bit channel to 8 bits (the top bits repeated in the low ones, so
/// that 31 becomes 255).
#[inline(always)]
fn expand5(v: u16) -> i32 {
    ((v << 3) | (v >> 2)) as i32
}
/// A 6-bit channel to 8 bits.
#[inline(always)]
fn expand6(v: u16) -> i32 {
    ((v << 2) | (v >> 4)) as i32
}
/// An 8-bit channel to `bits` bits, rounded to the nearest.
#[inline(always)]
fn reduce(v: u8, bits: u32) -> u16 {
    let max = (1u32 << bits) - 1;
    ((v as u32 * max + 127) / 255) as u16
}

impl RgbPixel for PxBgr24 {
    const BYTES: usize = 3;
    #[inline(always)]
    fn get(p: &[u8], i: usize) -> (i32, i32, i32) {
        (p[i + 2] as i32, p[i + 1] as i32, p[i] as i32)
    }
    #[inline(always)]
    fn put(p: &mut [u8], i: usize, r: u8, g: u8, b: u8) {
        p[i] = b;
        p[i + 1] = g;
        p[i + 2] = r;
    }
}

impl RgbPixel for PxBgrx {
    const BYTES: usize = 4;
    #[inline(always)]
    fn get(p: &[u8], i: usize) -> (i32, i32, i32) {
        (p[i + 2] as i32, p[i + 1] as i32, p[i] as i32)
    }
    #[inline(always)]
    fn put(p: &mut [u8], i: usize, r: u8, g: u8, b: u8) {
        p[i] = b;
        p[i + 1] = g;
        p[i + 2] = r;
        p[i + 3] = 255;
    }
}

impl RgbPixel for PxRgbx {
    const BYTES: usize = 4;
    #[inline(always)]
    fn get(p: &[u8], i: usize) -> (i32, i32, i32) {
        (p[i] as i32, p[i + 1] as i32, p[i + 2] as i32)
    }
    #[inline(always)]
    fn put(p: &mut [u8], i: usize, r: u8, g: u8, b: u8) {
        p[i] = r;
        p[i + 1] = g;
        p[i + 2] = b;
        p[i + 3] = 255;
    }
}

impl RgbPixel for Px565 {
    const BYTES: usize = 2;
    #[inline(always)]
    fn get(p: &[u8], i: usize) -> (i32, i32, i32) {
        let v = u16::from_le_bytes([p[i], p[i + 1]]);
        (expand5(v >> 11), expand6((v >> 5) & 0x3f), expand5(v & 0x1f))
    }
    #[inline(always)]
    fn put(p: &mut [u8], i: usize, r: u8, g: u8, b: u8) {
        let v = (reduce(r, 5) << 11) | (reduce(g, 6) << 5) | reduce(b, 5);
        let [lo, hi] = v.to_le_bytes();
        p[i] = lo;
        p[i + 1] = hi;
    }
}

impl RgbPixel for Px555 {
    const BYTES: usize = 2;
    #[inline(always)]
    fn get(p: &[u8], i: usize) -> (i32, i32, i32) {
        let v = u16::from_le_bytes([p[i], p[i + 1]]);
        (expand5((v >> 10) & 0x1f), expand5((v >> 5) & 0x1f), expand5(v & 0x1f))
    }
    #[inline(always)]
    fn put(p: &mut [u8], i: usize, r: u8, g: u8, b: u8) {
        let v = (reduce(r, 5) << 10) | (reduce(g, 5) << 5) | reduce(b, 5);
        let [lo, hi] = v.to_le_bytes();
        p[i] = lo;
        p[i + 1] = hi;
    }
}

/// The bytes of one row of an RGB format: padded to 4 bytes as in a DIB
/// (RGB32 and BGR32 rows always are).
fn rgb_stride(fmt: PixelFormat, w: usize) -> usize {
    let (bits, _) = bit_count_and_compression(fmt);
    dib_stride(bits as usize, w)
}

/// RGB rows in `order` (pixels as `P` lays them out) → I420.
fn rgb_to_i420<P: RgbPixel>(src: &[u8], w: usize, h: usize, stride: usize, order: RowOrder) -> Vec<u8> {
    let bpp = P::BYTES;
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0u8; w * h + 2 * cw * ch];
    let (yp, up, vp) = i420_planes_mut(&mut out, w, h);
    // Row `y` of the picture (counted from the top) in memory.
    let row = |y: usize| &src[order.memory_row(y, h) * stride..][..w * bpp];
    let mut y = 0;
    while y < h {
        let (s, d) = (row(y), &mut yp[y * w..][..w]);
        let (mut x, mut i) = (0, 0);
        while x < w {
            let (r, g, b) = P::get(s, i);
            d[x] = rgb_to_y(r, g, b);
            x += 1;
            i += bpp;
        }
        y += 1;
    }
    let mut cy = 0;
    while cy < ch {
        let (r0, r1) = (row(2 * cy), row((2 * cy + 1).min(h - 1)));
        let (du, dv) = (&mut up[cy * cw..][..cw], &mut vp[cy * cw..][..cw]);
        let mut cx = 0;
        while cx < cw {
            // The 2x2 block, its right column repeated at an odd right edge.
            let i0 = 2 * cx * bpp;
            let i1 = if 2 * cx + 1 < w { i0 + bpp } else { i0 };
            let (a, b, c, d) = (P::get(r0, i0), P::get(r0, i1), P::get(r1, i0), P::get(r1, i1));
            let r = (a.0 + b.0 + c.0 + d.0 + 2) >> 2;
            let g = (a.1 + b.1 + c.1 + d.1 + 2) >> 2;
            let bl = (a.2 + b.2 + c.2 + d.2 + 2) >> 2;
            du[cx] = rgb_to_u(r, g, bl);
            dv[cx] = rgb_to_v(r, g, bl);
            cx += 1;
        }
        cy += 1;
    }
    out
}

/// I420 → RGB rows in `order` (pixels as `P` lays them out; row padding 0).
fn i420_to_rgb<P: RgbPixel>(i420: &[u8], w: usize, h: usize, stride: usize, order: RowOrder) -> Vec<u8> {
    let bpp = P::BYTES;
    let cw = w.div_ceil(2);
    let (yp, up, vp) = i420_planes(i420, w, h);
    let mut out = vec![0u8; stride * h];
    let mut y = 0;
    while y < h {
        let dst = &mut out[order.memory_row(y, h) * stride..][..w * bpp];
        let (yr, ur, vr) = (&yp[y * w..][..w], &up[(y / 2) * cw..][..cw], &vp[(y / 2) * cw..][..cw]);
        let (mut x, mut o) = (0, 0);
        while x < w {
            let (d, e) = (ur[x / 2] as i32 - 128, vr[x / 2] as i32 - 128);
            let c = 298 * (yr[x] as i32 - 16) + 128;
            let (r, g, b) =
                (clamp_u8((c + 409 * e) >> 8), clamp_u8((c - 100 * d - 208 * e) >> 8), clamp_u8((c + 516 * d) >> 8));
            P::put(dst, o, r, g, b);
            x += 1;
            o += bpp;
        }
        y += 1;
    }
    out
}

// ----- conversions ------------------------------------------------------------

/// Converts one `w`×`h` frame in `fmt` (any format but the compressed
/// `Mjpeg` and `H264`, laid out as in the module docs, RGB rows in this
/// platform's [`RGB_ROW_ORDER`]) to I420. `src` must be exactly
/// [`frame_size`] bytes long.
pub fn to_i420(fmt: PixelFormat, w: u32, h: u32, src: &[u8]) -> Result<Vec<u8>, MediaError> {
    to_i420_with(RGB_ROW_ORDER, fmt, w, h, src)
}

/// [`to_i420`] with the RGB rows in `order` (the YUV formats are always
/// top-down).
pub fn to_i420_with(order: RowOrder, fmt: PixelFormat, w: u32, h: u32, src: &[u8]) -> Result<Vec<u8>, MediaError> {
    if !fmt.is_convertible() {
        return Err(MediaError::UnsupportedFormat(fmt));
    }
    check_len(fmt, w, h, src.len())?;
    let (w, h) = (w as usize, h as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let c = cw * ch;
    let stride = rgb_stride(fmt, w);
    Ok(match fmt {
        Rgb24 => rgb_to_i420::<PxBgr24>(src, w, h, stride, order),
        Rgb32 => rgb_to_i420::<PxBgrx>(src, w, h, stride, order),
        Bgr32 => rgb_to_i420::<PxRgbx>(src, w, h, stride, order),
        Rgb565 => rgb_to_i420::<Px565>(src, w, h, stride, order),
        Rgb555 => rgb_to_i420::<Px555>(src, w, h, stride, order),
        Yuv420p => src.to_vec(),
        Yv12 => {
            let mut out = Vec::with_capacity(src.len());
            out.extend_from_slice(&src[..w * h]);
            out.extend_from_slice(&src[w * h + c..]); // U follows V in Yv12
            out.extend_from_slice(&src[w * h..w * h + c]);
            out
        }
        Nv12 | Nv21 => {
            let mut out = vec![0u8; src.len()];
            let (yp, up, vp) = i420_planes_mut(&mut out, w, h);
            yp.copy_from_slice(&src[..w * h]);
            let (ui, vi) = if fmt == Nv12 { (0, 1) } else { (1, 0) };
            for (i, pair) in src[w * h..].chunks_exact(2).enumerate() {
                up[i] = pair[ui];
                vp[i] = pair[vi];
            }
            out
        }
        Nv16 => {
            let mut out = vec![0u8; w * h + 2 * c];
            let (yp, up, vp) = i420_planes_mut(&mut out, w, h);
            yp.copy_from_slice(&src[..w * h]);
            // U,V pairs, `cw` per row, one row per luma row: average the
            // two rows of each pair (4:2:2 → 4:2:0).
            let chroma = &src[w * h..];
            let row = |y: usize| &chroma[y * 2 * cw..][..2 * cw];
            for cy in 0..ch {
                let (r0, r1) = (row(2 * cy), row((2 * cy + 1).min(h - 1)));
                for cx in 0..cw {
                    up[cy * cw + cx] = avg(r0[2 * cx], r1[2 * cx]);
                    vp[cy * cw + cx] = avg(r0[2 * cx + 1], r1[2 * cx + 1]);
                }
            }
            out
        }
        Yuy2 => {
            let mut out = vec![0u8; w * h + 2 * c];
            let (yp, up, vp) = i420_planes_mut(&mut out, w, h);
            let stride = cw * 4;
            for y in 0..h {
                for (x, px) in src[y * stride..][..stride].chunks_exact(4).enumerate() {
                    yp[y * w + 2 * x] = px[0];
                    if 2 * x + 1 < w {
                        yp[y * w + 2 * x + 1] = px[2];
                    }
                }
            }
            // Chroma: average the two rows of each pair (4:2:2 → 4:2:0).
            for cy in 0..ch {
                let (r0, r1) = (&src[2 * cy * stride..][..stride], &src[(2 * cy + 1).min(h - 1) * stride..][..stride]);
                for cx in 0..cw {
                    up[cy * cw + cx] = avg(r0[4 * cx + 1], r1[4 * cx + 1]);
                    vp[cy * cw + cx] = avg(r0[4 * cx + 3], r1[4 * cx + 3]);
                }
            }
            out
        }
        Mjpeg | H264 => return Err(MediaError::UnsupportedFormat(fmt)),
    })
}

/// Converts one `w`×`h` I420 frame (exactly [`frame_size`]`(YUV420P, w, h)`
/// bytes) to `fmt` (any format but the compressed `Mjpeg` and `H264`; a copy
/// for YUV420P), laid out as in the module docs, RGB rows in this
/// platform's [`RGB_ROW_ORDER`].
pub fn from_i420(fmt: PixelFormat, w: u32, h: u32, i420: &[u8]) -> Result<Vec<u8>, MediaError> {
    from_i420_with(RGB_ROW_ORDER, fmt, w, h, i420)
}

/// [`from_i420`] with the RGB rows in `order` (the YUV formats are always
/// top-down).
pub fn from_i420_with(order: RowOrder, fmt: PixelFormat, w: u32, h: u32, i420: &[u8]) -> Result<Vec<u8>, MediaError> {
    if !fmt.is_convertible() {
        return Err(MediaError::UnsupportedFormat(fmt));
    }
    check_len(Yuv420p, w, h, i420.len())?;
    let (w, h) = (w as usize, h as usize);
    let cw = w.div_ceil(2);
    let (yp, up, vp) = i420_planes(i420, w, h);
    let stride = rgb_stride(fmt, w);
    Ok(match fmt {
        Rgb24 => i420_to_rgb::<PxBgr24>(i420, w, h, stride, order),
        Rgb32 => i420_to_rgb::<PxBgrx>(i420, w, h, stride, order),
        Bgr32 => i420_to_rgb::<PxRgbx>(i420, w, h, stride, order),
        Rgb565 => i420_to_rgb::<Px565>(i420, w, h, stride, order),
        Rgb555 => i420_to_rgb::<Px555>(i420, w, h, stride, order),
        Yuv420p => i420.to_vec(),
        Yv12 => [yp, vp, up].concat(),
        Nv12 | Nv21 => {
            let mut out = Vec::with_capacity(i420.len());
            out.extend_from_slice(yp);
            for (&u, &v) in up.iter().zip(vp) {
                let pair = if fmt == Nv12 { [u, v] } else { [v, u] };
                out.extend_from_slice(&pair);
            }
            out
        }
        Nv16 => {
            let mut out = Vec::with_capacity(w * h + 2 * cw * h);
            out.extend_from_slice(yp);
            for y in 0..h {
                let (ur, vr) = (&up[(y / 2) * cw..][..cw], &vp[(y / 2) * cw..][..cw]);
                for (&u, &v) in ur.iter().zip(vr) {
                    out.extend_from_slice(&[u, v]);
                }
            }
            out
        }
        Yuy2 => {
            let stride = cw * 4;
            let mut out = vec![0u8; stride * h];
            for y in 0..h {
                let dst = &mut out[y * stride..][..stride];
                for (x, px) in dst.chunks_exact_mut(4).enumerate() {
                    let y0 = yp[y * w + 2 * x];
                    // An odd width repeats the last luma sample.
                    let y1 = if 2 * x + 1 < w { yp[y * w + 2 * x + 1] } else { y0 };
                    px.copy_from_slice(&[y0, up[(y / 2) * cw + x], y1, vp[(y / 2) * cw + x]]);
                }
            }
            out
        }
        Mjpeg | H264 => return Err(MediaError::UnsupportedFormat(fmt)),
    })
}

// ----- video: H.264 -------------------------------------------------------------

/// One encoded access unit: H.264 Annex B NAL units with start codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Empty when rate control skipped the frame (nothing to send).
    pub data: Vec<u8>,
    /// An IDR picture with its SPS and PPS: decodable without what came before.
    pub key: bool,
}

/// One decoded picture, tight I420 (see [`frame_size`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedFrame {
    pub w: u32,
    pub h: u32,
    pub i420: Vec<u8>,
}

/// The H.264 NAL unit types of an Annex B buffer, in order.
fn nal_types(data: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i + 3 < data.len() {
            if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
                i += 3;
                return Some(data[i] & 0x1f);
            }
            i += 1;
        }
        None
    })
}

/// Whether an Annex B buffer holds an IDR picture (NAL type 5), i.e. a
/// frame from which a fresh decoder can start (this crate's encoder puts
/// the SPS and PPS before each). Cheap: scans for start codes only.
pub fn is_key_frame(data: &[u8]) -> bool {
    nal_types(data).any(|t| t == 5)
}

/// An H.264 encoder for one stream of fixed dimensions (OpenH264,
/// constrained baseline, camera real-time usage, one thread).
///
/// Rate control holds the bit rate by raising the quantiser and, when that
/// is not enough, by skipping frames, as real-time encoders do: a skipped
/// frame is an [`EncodedFrame`] with empty `data`, which the sender simply
/// does not send. A key frame is emitted first, on request (a skipped
/// request carries over to the next frame), and every
/// [`KEY_FRAME_INTERVAL_SECS`] seconds of frames as a safety net.
#[cfg(feature = "h264")]
pub struct VideoEncoder {
    inner: Encoder,
    w: u32,
    h: u32,
    fps: f32,
    frames: u64,
    key_requested: bool,
}

// Without the `h264` feature: the same API, but no encoder can be made and
// the decoder decodes nothing (see no_h264.rs).
#[cfg(not(feature = "h264"))]
mod no_h264;
#[cfg(not(feature = "h264"))]
pub use no_h264::{VideoDecoder, VideoEncoder};

/// Seconds between the periodic key frames of a [`VideoEncoder`].
pub const KEY_FRAME_INTERVAL_SECS: u32 = 10;

#[cfg(feature = "h264")]
impl VideoEncoder {
    /// An encoder for `w`×`h` frames (even, 16 to 3840 by 16 to 2160 in
    /// either orientation) at `fps` frames per second (0 < fps <= 120),
    /// aiming at `bitrate` bits per second (at least 10 000).
    pub fn new(w: u32, h: u32, fps: f32, bitrate: u32) -> Result<Self, MediaError> {
        let (long, short) = (w.max(h), w.min(h));
        if !w.is_multiple_of(2) || !h.is_multiple_of(2) || short < 16 || long > 3840 || short > 2160 {
            return Err(MediaError::BadDimensions { w, h });
        }
        if !(fps > 0.0 && fps <= 120.0) {
            return Err(MediaError::BadParameter("frame rate must be in (0, 120]"));
        }
        if bitrate < 10_000 {
            return Err(MediaError::BadParameter("bit rate must be at least 10000 bit/s"));
        }
        let key_interval = (fps * KEY_FRAME_INTERVAL_SECS as f32).round().max(1.0) as u32;
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate))
            .max_frame_rate(FrameRate::from_hz(fps))
            .skip_frames(true)
            .num_threads(1)
            .intra_frame_period(IntraFramePeriod::from_num_frames(key_interval));
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config)?;
        Ok(VideoEncoder { inner, w, h, fps, frames: 0, key_requested: false })
    }

    /// Encodes one tight I420 frame of the encoder's dimensions; a key frame
    /// if `force_key` or if it is the first (unless rate control skips it:
    /// then the next frame is the key frame).
    pub fn encode(&mut self, i420: &[u8], force_key: bool) -> Result<EncodedFrame, MediaError> {
        check_len(Yuv420p, self.w, self.h, i420.len())?;
        let (w, h) = (self.w as usize, self.h as usize);
        // The encoder initialises itself on the first frame, which is an IDR
        // anyway: forcing before that would act on an uninitialised encoder.
        if (force_key || self.key_requested) && self.frames > 0 {
            self.inner.force_intra_frame();
        }
        let want_key = force_key || self.key_requested;
        self.key_requested = false;
        let (y, u, v) = i420_planes(i420, w, h);
        let source = YUVSlices::new((y, u, v), (w, h), (w, w / 2, w / 2));
        let millis = (self.frames as f64 * 1000.0 / f64::from(self.fps)) as u64;
        let stream = self.inner.encode_at(&source, Timestamp::from_millis(millis))?;
        let data = stream.to_vec();
        // What a receiver can start from: an IDR (OpenH264 reports those as
        // `FrameType::IDR`, and puts the SPS and PPS before them).
        let key = is_key_frame(&data);
        self.frames += 1;
        if want_key && !key {
            self.key_requested = true;
        }
        Ok(EncodedFrame { data, key })
    }
}

/// An H.264 decoder (OpenH264, no error concealment).
///
/// It waits for a key frame: at the start and after any decoding error,
/// frames that are not key frames are dropped (`Ok(None)`) until one
/// arrives. Corrupt input gives an error, never a panic.
#[cfg(feature = "h264")]
pub struct VideoDecoder {
    inner: Decoder,
    awaiting_key: bool,
}

#[cfg(feature = "h264")]
impl VideoDecoder {
    pub fn new() -> Result<Self, MediaError> {
        Ok(VideoDecoder { inner: Decoder::new()?, awaiting_key: true })
    }

    /// Decodes one access unit (or any run of Annex B NAL units); `Ok(None)`
    /// when it yields no picture (parameter sets only, or waiting for a key
    /// frame).
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<DecodedFrame>, MediaError> {
        if data.is_empty() {
            return Ok(None);
        }
        let key = is_key_frame(data);
        if self.awaiting_key && !key {
            return Ok(None);
        }
        let inner = &mut self.inner;
        let result = catch_unwind(AssertUnwindSafe(|| match inner.decode(data) {
            Ok(Some(yuv)) => copy_decoded(&yuv).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(MediaError::from(e)),
        }));
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                // The wrapper panicked: its state is unknown, start afresh.
                self.inner = Decoder::new()?;
                Err(MediaError::Codec("decoder panicked; reset".into()))
            }
        };
        match &result {
            Err(_) => self.awaiting_key = true,
            Ok(Some(_)) if key => self.awaiting_key = false,
            Ok(_) => {}
        }
        result
    }
}

/// Copies a decoded picture (strided planes) into a tight I420 frame.
#[cfg(feature = "h264")]
fn copy_decoded(yuv: &impl YUVSource) -> Result<DecodedFrame, MediaError> {
    let (w, h) = yuv.dimensions();
    let bad = || MediaError::Codec(format!("decoder returned an inconsistent {w}x{h} picture"));
    if w == 0 || h == 0 || w > MAX_DIMENSION as usize || h > MAX_DIMENSION as usize {
        return Err(bad());
    }
    let (sy, su, sv) = yuv.strides();
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = Vec::with_capacity(w * h + 2 * cw * ch);
    for (plane, stride, pw, ph) in [(yuv.y(), sy, w, h), (yuv.u(), su, cw, ch), (yuv.v(), sv, cw, ch)] {
        for r in 0..ph {
            let row = r.checked_mul(stride).and_then(|s| plane.get(s..s.checked_add(pw)?)).ok_or_else(bad)?;
            out.extend_from_slice(row);
        }
    }
    Ok(DecodedFrame { w: w as u32, h: h as u32, i420: out })
}

// ----- audio: PCM ---------------------------------------------------------------

/// An audio format: interleaved signed little-endian PCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioFormat {
    pub channels: u16,
    pub samples_per_sec: u32,
    pub bits_per_sample: u16,
}

impl AudioFormat {
    /// What the PCM path carries: 1 or 2 channels, 8000 to 48000 Hz, 16 bits.
    pub fn validate(&self) -> Result<(), MediaError> {
        if !(1..=2).contains(&self.channels) {
            return Err(MediaError::BadAudioFormat("channels must be 1 or 2"));
        }
        if !(8000..=48000).contains(&self.samples_per_sec) {
            return Err(MediaError::BadAudioFormat("sample rate must be 8000 to 48000 Hz"));
        }
        if self.bits_per_sample != 16 {
            return Err(MediaError::BadAudioFormat("samples must be 16 bits"));
        }
        Ok(())
    }

    /// Bytes per sample frame (all channels).
    pub fn block_align(&self) -> u16 {
        let align = u32::from(self.channels) * u32::from(self.bits_per_sample.div_ceil(8));
        align.min(u32::from(u16::MAX)) as u16
    }

    /// Bytes per second.
    pub fn bytes_per_sec(&self) -> u32 {
        self.samples_per_sec.saturating_mul(u32::from(self.block_align()))
    }
}

#[cfg(test)]
mod tests {
    use super::patterns::*;
    use super::*;
    #[cfg(feature = "h264")]
    use std::time::{Duration, Instant};

    const W: u32 = 640;
    const H: u32 = 480;

    /// xorshift64*: deterministic pseudo-random bytes without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
        #[cfg(feature = "h264")]
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Mean absolute error per channel (B, G, R) of two RGB24 frames.
    fn mae_per_channel(a: &[u8], b: &[u8]) -> [f64; 3] {
        let mut sum = [0u64; 3];
        for (pa, pb) in a.chunks_exact(3).zip(b.chunks_exact(3)) {
            for ((s, x), y) in sum.iter_mut().zip(pa).zip(pb) {
                *s += u64::from(x.abs_diff(*y));
            }
        }
        let n = (a.len() / 3) as f64;
        sum.map(|s| s as f64 / n)
    }

    fn pattern_i420(n: u32) -> Vec<u8> {
        to_i420(Rgb24, W, H, &test_pattern_rgb24(W, H, n).unwrap()).unwrap()
    }

    #[test]
    fn fourcc_puts_the_first_character_low() {
        assert_eq!(fourcc(b"I420"), 0x3032_3449);
    }

    #[test]
    fn frame_sizes() {
        assert_eq!(frame_size(Rgb24, 640, 480), Some(640 * 480 * 3));
        assert_eq!(frame_size(Rgb32, 640, 480), Some(640 * 480 * 4));
        assert_eq!(frame_size(Yuv420p, 640, 480), Some(640 * 480 * 3 / 2));
        assert_eq!(frame_size(Yv12, 640, 480), Some(460_800));
        assert_eq!(frame_size(Nv12, 640, 480), Some(460_800));
        assert_eq!(frame_size(Yuy2, 640, 480), Some(640 * 480 * 2));
        assert_eq!(frame_size(Nv16, 640, 480), Some(640 * 480 * 2));
        assert_eq!(frame_size(Rgb565, 640, 480), Some(640 * 480 * 2));
        // DIB rows are padded to 4 bytes; odd planar chroma is rounded up.
        assert_eq!(frame_size(Rgb24, 5, 2), Some(16 * 2));
        assert_eq!(frame_size(Rgb565, 3, 1), Some(8));
        assert_eq!(frame_size(Yuv420p, 5, 3), Some(15 + 2 * 3 * 2));
        assert_eq!(frame_size(Yuy2, 5, 1), Some(12));
        // Compressed, empty or oversized.
        assert_eq!(frame_size(H264, 640, 480), None);
        assert_eq!(frame_size(Mjpeg, 640, 480), None);
        assert_eq!(frame_size(Rgb24, 0, 480), None);
        assert_eq!(frame_size(Rgb24, 640, 0), None);
        assert_eq!(frame_size(Rgb32, MAX_DIMENSION, MAX_DIMENSION), Some(1 << 30));
        assert_eq!(frame_size(Rgb24, MAX_DIMENSION + 1, 1), None);
        assert_eq!(frame_size(Rgb24, u32::MAX, u32::MAX), None);
    }

    #[test]
    fn frame_desc_fields() {
        let d = frame_desc(Rgb24, 640, 480).unwrap();
        assert_eq!(d, FrameDesc { width: 640, height: 480, bit_count: 24, compression: BI_RGB, size_image: 921_600 });
        let d = frame_desc(Rgb32, 640, 480).unwrap();
        assert_eq!((d.bit_count, d.compression, d.size_image), (32, BI_RGB, 1_228_800));
        let d = frame_desc(Yuv420p, 640, 480).unwrap();
        assert_eq!((d.bit_count, d.compression, d.size_image), (12, fourcc(b"I420"), 460_800));
        assert_eq!(d.height, 480);
        let d = frame_desc(H264, 640, 480).unwrap();
        assert_eq!((d.compression, d.size_image, d.width), (fourcc(b"H264"), 0, 640));
        assert_eq!(frame_desc(Rgb565, 2, 2).unwrap().compression, BI_BITFIELDS);
        assert_eq!(frame_desc(Yuy2, 2, 2).unwrap().compression, fourcc(b"YUY2"));
        assert_eq!(frame_desc(Rgb24, 0, 480), None);
        assert_eq!(frame_desc(H264, 0, 480), None);
        assert_eq!(frame_desc(Mjpeg, MAX_DIMENSION + 1, 480), None);
    }

    #[test]
    fn known_colours_convert_both_ways() {
        // (r, g, b) → (y, u, v), BT.601 limited range.
        let cases = [
            ((0, 0, 0), (16, 128, 128)),
            ((255, 255, 255), (235, 128, 128)),
            ((255, 0, 0), (82, 90, 240)),
            ((0, 255, 0), (144, 54, 34)),
            ((0, 0, 255), (41, 240, 110)),
        ];
        for ((r, g, b), yuv) in cases {
            let rgb: Vec<u8> = [b, g, r].repeat(4);
            let i420 = to_i420(Rgb24, 2, 2, &[&rgb[..6], &[0, 0], &rgb[6..], &[0, 0]].concat()).unwrap();
            assert_eq!((i420[0], i420[4], i420[5]), yuv, "rgb {r},{g},{b}");
            let back = from_i420(Rgb32, 2, 2, &i420).unwrap();
            for px in back.chunks_exact(4) {
                for (got, want) in px.iter().zip([b, g, r, 255]) {
                    assert!(got.abs_diff(want) <= 2, "rgb {r},{g},{b} came back as {px:?}");
                }
            }
        }
    }

    /// A 2x4 I420 picture: the top two rows red, the bottom two blue.
    const RED_OVER_BLUE: [u8; 12] = [82, 82, 82, 82, 41, 41, 41, 41, 90, 240, 240, 110];

    #[test]
    fn rgb_rows_follow_the_row_order() {
        for order in [RowOrder::TopDown, RowOrder::BottomUp] {
            let rgb = from_i420_with(order, Rgb24, 2, 4, &RED_OVER_BLUE).unwrap();
            assert_eq!(rgb.len(), 32); // four rows of 6 bytes padded to 8
            let rows: Vec<&[u8]> = rgb.chunks_exact(8).map(|r| &r[..6]).collect();
            fn red(r: &[u8]) -> bool {
                r[2] > 250 && r[0] < 5
            }
            fn blue(r: &[u8]) -> bool {
                r[0] > 250 && r[2] < 5
            }
            // B, G, R bytes; the top (red) row first in memory when top-down.
            type Colour = fn(&[u8]) -> bool;
            let (first, last): (Colour, Colour) = if order == RowOrder::TopDown { (red, blue) } else { (blue, red) };
            assert!(first(rows[0]) && first(rows[1]), "{order:?}: first rows in memory {rows:?}");
            assert!(last(rows[2]) && last(rows[3]), "{order:?}: last rows in memory {rows:?}");
            assert_eq!(rgb[6..8], [0, 0], "padding is zero");
            // And back, in the same order: the same I420.
            let back = to_i420_with(order, Rgb24, 2, 4, &rgb).unwrap();
            for (got, want) in back.iter().zip(RED_OVER_BLUE) {
                assert!(got.abs_diff(want) <= 1, "{order:?}: {back:?}");
            }
            // Read in the other order, the picture is upside down.
            let other = if order == RowOrder::TopDown { RowOrder::BottomUp } else { RowOrder::TopDown };
            let flipped = to_i420_with(other, Rgb24, 2, 4, &rgb).unwrap();
            assert!(flipped[0].abs_diff(41) <= 1 && flipped[7].abs_diff(82) <= 1, "{flipped:?}");
        }
    }

    #[test]
    fn rgb_rows_are_top_down_on_linux() {
        #[cfg(not(windows))]
        assert_eq!(RGB_ROW_ORDER, RowOrder::TopDown);
        #[cfg(windows)]
        assert_eq!(RGB_ROW_ORDER, RowOrder::BottomUp);
        // The plain conversions use this platform's order, for every RGB format.
        for fmt in [Rgb24, Rgb32, Bgr32, Rgb565, Rgb555] {
            assert!(fmt.is_rgb() && fmt.is_convertible());
            let native = from_i420(fmt, 2, 4, &RED_OVER_BLUE).unwrap();
            assert_eq!(native, from_i420_with(RGB_ROW_ORDER, fmt, 2, 4, &RED_OVER_BLUE).unwrap(), "{fmt:?}");
            assert_eq!(to_i420(fmt, 2, 4, &native).unwrap(), to_i420_with(RGB_ROW_ORDER, fmt, 2, 4, &native).unwrap());
            // The top of the picture (red: Y 82) comes back on top.
            let back = to_i420(fmt, 2, 4, &native).unwrap();
            assert!(back[0].abs_diff(82) <= 3 && back[7].abs_diff(41) <= 3, "{fmt:?}: {back:?}");
        }
        // The height a callback gets is positive whatever the order.
        assert_eq!(frame_desc(Rgb24, 2, 4).unwrap().height, 4);
    }

    #[test]
    fn sixteen_and_32_bit_rgb_layouts() {
        // Pure red, green and blue, and white, in each layout.
        let cases: [(PixelFormat, [u8; 3], &[u8]); 12] = [
            (Rgb565, [255, 0, 0], &[0x00, 0xf8]),
            (Rgb565, [0, 255, 0], &[0xe0, 0x07]),
            (Rgb565, [0, 0, 255], &[0x1f, 0x00]),
            (Rgb565, [255, 255, 255], &[0xff, 0xff]),
            (Rgb555, [255, 0, 0], &[0x00, 0x7c]),
            (Rgb555, [0, 255, 0], &[0xe0, 0x03]),
            (Rgb555, [0, 0, 255], &[0x1f, 0x00]),
            (Rgb555, [255, 255, 255], &[0xff, 0x7f]),
            (Bgr32, [255, 0, 0], &[255, 0, 0, 255]),
            (Bgr32, [0, 0, 255], &[0, 0, 255, 255]),
            (Rgb32, [255, 0, 0], &[0, 0, 255, 255]),
            (Rgb32, [0, 0, 255], &[255, 0, 0, 255]),
        ];
        for (fmt, [r, g, b], px) in cases {
            let rgb24: Vec<u8> = [b, g, r].repeat(2).into_iter().chain([0, 0]).collect::<Vec<_>>().repeat(2);
            let i420 = to_i420(Rgb24, 2, 2, &rgb24).unwrap();
            let out = from_i420(fmt, 2, 2, &i420).unwrap();
            assert_eq!(Some(out.len()), frame_size(fmt, 2, 2), "{fmt:?}");
            // Exact in 5 and 6 bits; within 2 in 8 bits (BT.601 in fixed point).
            let close = out[..px.len()].iter().zip(px).all(|(got, want)| got.abs_diff(*want) <= 2);
            assert!(close && (fmt == Bgr32 || fmt == Rgb32 || &out[..2] == px), "{fmt:?} of rgb {r},{g},{b}: {out:?}");
            // And back to the same I420 (within the 5- and 6-bit precision).
            let back = to_i420(fmt, 2, 2, &out).unwrap();
            for (got, want) in back.iter().zip(&i420) {
                assert!(got.abs_diff(*want) <= 4, "{fmt:?} rgb {r},{g},{b}: {back:?} vs {i420:?}");
            }
        }
        // 5- and 6-bit channels expand to the full range and reduce back exactly.
        for v in 0..32u16 {
            assert_eq!(reduce(expand5(v) as u8, 5), v);
        }
        for v in 0..64u16 {
            assert_eq!(reduce(expand6(v) as u8, 6), v);
        }
        assert_eq!((expand5(31), expand6(63), expand5(0)), (255, 255, 0));
    }

    #[test]
    fn every_raw_format_carries_a_picture() {
        // The test pattern through each raw format and back: the same picture.
        let rgb = test_pattern_rgb24(W, H, 9).unwrap();
        let i420 = to_i420(Rgb24, W, H, &rgb).unwrap();
        let sig = frame_signature(Yuv420p, W, H, &i420).unwrap();
        for fmt in [Rgb24, Rgb32, Bgr32, Rgb565, Rgb555, Yuv420p, Yv12, Nv12, Nv21, Nv16, Yuy2] {
            let frame = from_i420(fmt, W, H, &i420).unwrap();
            assert_eq!(Some(frame.len()), frame_size(fmt, W, H), "{fmt:?}");
            assert_eq!(pattern_frame_number(fmt, W, H, &frame).unwrap(), 9, "{fmt:?}");
            let d = signature_distance(&sig, &frame_signature(fmt, W, H, &frame).unwrap());
            assert!(d <= 4, "{fmt:?}: signature distance {d}");
        }
        // 4:2:2 keeps its chroma rows: NV16 round-trips I420 exactly (each
        // chroma row is repeated, then averaged with itself).
        let nv16 = from_i420(Nv16, W, H, &i420).unwrap();
        assert_eq!(to_i420(Nv16, W, H, &nv16).unwrap(), i420);
        assert_eq!(from_i420(Nv16, 2, 2, &[1, 2, 3, 4, 5, 6]).unwrap(), [1, 2, 3, 4, 5, 6, 5, 6]);
    }

    #[test]
    fn yuv_formats_round_trip_exactly() {
        let mut rng = Rng(7);
        for (w, h) in [(640, 480), (6, 4), (2, 2)] {
            let size = frame_size(Yuv420p, w, h).unwrap();
            let i420 = rng.bytes(size);
            for fmt in [Yuv420p, Yv12, Nv12, Nv21, Yuy2] {
                let other = from_i420(fmt, w, h, &i420).unwrap();
                assert_eq!(Some(other.len()), frame_size(fmt, w, h), "fmt {fmt:?}");
                assert_eq!(to_i420(fmt, w, h, &other).unwrap(), i420, "fmt {fmt:?} {w}x{h}");
            }
        }
        // Layouts: Y then V then U for YV12; U,V pairs for NV12; Y U Y V for YUY2.
        let i420 = [1, 2, 3, 4, 5, 6];
        assert_eq!(from_i420(Yv12, 2, 2, &i420).unwrap(), [1, 2, 3, 4, 6, 5]);
        assert_eq!(from_i420(Nv12, 2, 2, &i420).unwrap(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(from_i420(Nv21, 2, 2, &i420).unwrap(), [1, 2, 3, 4, 6, 5]);
        assert_eq!(from_i420(Yuy2, 2, 2, &i420).unwrap(), [1, 5, 2, 6, 3, 5, 4, 6]);
    }

    #[test]
    fn odd_dimensions_convert() {
        for (w, h) in [(5, 3), (1, 1), (7, 2)] {
            let rgb = vec![100u8; frame_size(Rgb24, w, h).unwrap()];
            let i420 = to_i420(Rgb24, w, h, &rgb).unwrap();
            assert_eq!(Some(i420.len()), frame_size(Yuv420p, w, h));
            let back = from_i420(Rgb24, w, h, &i420).unwrap();
            assert_eq!(back.len(), rgb.len());
            for fmt in [Yuy2, Nv16, Rgb565, Rgb555, Bgr32, Rgb32] {
                let other = from_i420(fmt, w, h, &i420).unwrap();
                assert_eq!(Some(other.len()), frame_size(fmt, w, h), "{fmt:?} {w}x{h}");
                assert_eq!(to_i420(fmt, w, h, &other).unwrap().len(), i420.len(), "{fmt:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn conversions_refuse_bad_input() {
        assert_eq!(to_i420(Mjpeg, 2, 2, &[0; 8]), Err(MediaError::UnsupportedFormat(Mjpeg)));
        assert_eq!(to_i420(Rgb565, 2, 2, &[0; 7]), Err(MediaError::BadLength { expected: 8, got: 7 }));
        assert_eq!(from_i420(H264, 2, 2, &[0; 6]), Err(MediaError::UnsupportedFormat(H264)));
        assert_eq!(to_i420(Rgb24, 2, 2, &[0; 15]), Err(MediaError::BadLength { expected: 16, got: 15 }));
        assert_eq!(from_i420(Rgb24, 2, 2, &[0; 7]), Err(MediaError::BadLength { expected: 6, got: 7 }));
        assert_eq!(to_i420(Rgb24, 0, 2, &[]), Err(MediaError::BadDimensions { w: 0, h: 2 }));
        assert!(MediaError::BadLength { expected: 6, got: 7 }.to_string().contains("6"));
    }

    #[test]
    fn all_three_output_formats_have_the_right_sizes() {
        let i420 = pattern_i420(3);
        for fmt in [Rgb24, Rgb32, Yuv420p] {
            let out = from_i420(fmt, W, H, &i420).unwrap();
            assert_eq!(out.len(), frame_size(fmt, W, H).unwrap());
            assert_eq!(out.len(), frame_desc(fmt, W, H).unwrap().size_image as usize);
            assert_eq!(pattern_frame_number(fmt, W, H, &out).unwrap(), 3, "fmt {fmt:?}");
        }
        assert_eq!(from_i420(Yuv420p, W, H, &i420).unwrap(), i420);
    }

    #[test]
    fn pixels_survive_rgb_i420_rgb() {
        let rgb = test_pattern_rgb24(W, H, 5).unwrap();
        let back = from_i420(Rgb24, W, H, &to_i420(Rgb24, W, H, &rgb).unwrap()).unwrap();
        let mae = mae_per_channel(&rgb, &back);
        assert!(mae.iter().all(|&e| e < 2.0), "conversion alone: {mae:?}");
    }

    #[test]
    #[cfg(feature = "h264")]
    fn h264_round_trip_of_a_moving_pattern() {
        let mut enc = VideoEncoder::new(W, H, 15.0, 1_000_000).unwrap();
        let mut dec = VideoDecoder::new().unwrap();
        assert!(dec.awaiting_key);
        let (mut enc_time, mut dec_time, mut conv_time) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut total_bytes = 0;
        for n in 0..15 {
            let rgb = test_pattern_rgb24(W, H, n).unwrap();
            let t = Instant::now();
            let i420 = to_i420(Rgb24, W, H, &rgb).unwrap();
            conv_time += t.elapsed();
            let t = Instant::now();
            let frame = enc.encode(&i420, false).unwrap();
            enc_time += t.elapsed();
            assert_eq!(frame.key, n == 0, "frame {n}: only the first is a key frame");
            assert_eq!(is_key_frame(&frame.data), frame.key, "frame {n}");
            assert!(!frame.data.is_empty());
            total_bytes += frame.data.len();
            let t = Instant::now();
            let out = dec.decode(&frame.data).unwrap().expect("every frame yields a picture");
            dec_time += t.elapsed();
            assert!(!dec.awaiting_key);
            assert_eq!((out.w, out.h, out.i420.len()), (W, H, 460_800));
            // In order: the picture carries its frame number.
            assert_eq!(pattern_frame_number(Yuv420p, W, H, &out.i420).unwrap(), n);
            let t = Instant::now();
            let back = from_i420(Rgb24, W, H, &out.i420).unwrap();
            conv_time += t.elapsed();
            let mae = mae_per_channel(&rgb, &back);
            assert!(mae.iter().all(|&e| e < 10.0), "frame {n}: mean absolute error per channel {mae:?}");
            let d = signature_distance(
                &frame_signature(Rgb24, W, H, &rgb).unwrap(),
                &frame_signature(Rgb24, W, H, &back).unwrap(),
            );
            assert!(d <= 6, "frame {n}: signature distance {d}");
        }
        eprintln!(
            "media: 640x480 H.264 at 1 Mbit/s, 15 frames: encode {:.2} ms/frame, decode {:.2} ms/frame, \
             Rgb24->I420 + I420->Rgb24 {:.2} ms/frame, {} bytes/frame",
            enc_time.as_secs_f64() * 1000.0 / 15.0,
            dec_time.as_secs_f64() * 1000.0 / 15.0,
            conv_time.as_secs_f64() * 1000.0 / 15.0,
            total_bytes / 15
        );
    }

    #[test]
    #[cfg(feature = "h264")]
    fn forcing_a_key_frame_lets_a_fresh_decoder_join() {
        let mut enc = VideoEncoder::new(W, H, 15.0, 800_000).unwrap();
        for n in 0..3 {
            assert_eq!(enc.encode(&pattern_i420(n), false).unwrap().key, n == 0);
        }
        let forced = enc.encode(&pattern_i420(3), true).unwrap();
        assert!(forced.key && is_key_frame(&forced.data));
        // SPS (7) and PPS (8) come with it.
        let types: Vec<u8> = nal_types(&forced.data).collect();
        assert!(types.contains(&7) && types.contains(&8), "NAL types {types:?}");
        let next = enc.encode(&pattern_i420(4), false).unwrap();
        assert!(!next.key);
        let requested = enc.encode(&pattern_i420(5), true).unwrap();
        assert!(requested.key);
        assert!(!enc.encode(&pattern_i420(6), false).unwrap().key);

        // A decoder that joins mid-stream drops delta frames until a key frame.
        let mut dec = VideoDecoder::new().unwrap();
        assert_eq!(dec.decode(&next.data).unwrap(), None);
        assert!(dec.awaiting_key);
        let out = dec.decode(&requested.data).unwrap().unwrap();
        assert_eq!(pattern_frame_number(Yuv420p, W, H, &out.i420).unwrap(), 5);
        assert!(!dec.awaiting_key);
        // Waiting again (as after a decoding error), it drops delta frames.
        dec.awaiting_key = true;
        let delta = enc.encode(&pattern_i420(7), false).unwrap();
        assert_eq!(dec.decode(&delta.data).unwrap(), None);
        let key = enc.encode(&pattern_i420(8), true).unwrap();
        let out = dec.decode(&key.data).unwrap().unwrap();
        assert_eq!(pattern_frame_number(Yuv420p, W, H, &out.i420).unwrap(), 8);
    }

    #[test]
    #[cfg(feature = "h264")]
    fn encoder_refuses_bad_parameters_and_input() {
        assert!(matches!(VideoEncoder::new(641, 480, 15.0, 500_000), Err(MediaError::BadDimensions { .. })));
        assert!(matches!(VideoEncoder::new(8, 8, 15.0, 500_000), Err(MediaError::BadDimensions { .. })));
        assert!(matches!(VideoEncoder::new(4096, 480, 15.0, 500_000), Err(MediaError::BadDimensions { .. })));
        assert!(matches!(VideoEncoder::new(640, 480, 0.0, 500_000), Err(MediaError::BadParameter(_))));
        assert!(matches!(VideoEncoder::new(640, 480, f32::NAN, 500_000), Err(MediaError::BadParameter(_))));
        assert!(matches!(VideoEncoder::new(640, 480, 15.0, 0), Err(MediaError::BadParameter(_))));
        let mut enc = VideoEncoder::new(176, 144, 15.0, 100_000).unwrap();
        assert_eq!((enc.w, enc.h), (176, 144));
        assert_eq!(enc.encode(&[0; 10], false), Err(MediaError::BadLength { expected: 38_016, got: 10 }));
        // Still usable afterwards, and small frames work.
        let f = enc.encode(&vec![128; 38_016], false).unwrap();
        assert!(f.key);
        let out = VideoDecoder::new().unwrap().decode(&f.data).unwrap().unwrap();
        assert_eq!((out.w, out.h), (176, 144));
    }

    #[test]
    #[cfg(feature = "h264")]
    fn random_bytes_never_panic_the_decoder() {
        let mut enc = VideoEncoder::new(160, 120, 15.0, 200_000).unwrap();
        let pattern = |n| to_i420(Rgb24, 160, 120, &test_pattern_rgb24(160, 120, n).unwrap()).unwrap();
        let key = enc.encode(&pattern(0), false).unwrap().data;
        let delta = enc.encode(&pattern(1), false).unwrap().data;
        let mut rng = Rng(0x5eed);
        let mut dec = VideoDecoder::new().unwrap();
        let (mut pictures, mut errors) = (0, 0);
        for i in 0..3000 {
            let len = rng.below(2000);
            let input = match i % 6 {
                // Plain noise (mostly dropped: no IDR start code).
                0 => rng.bytes(len),
                // Noise behind an IDR NAL header, so that it reaches OpenH264.
                1 => [&[0, 0, 0, 1, 0x65][..], &rng.bytes(len)].concat(),
                // Noise behind SPS, PPS and IDR headers.
                2 => [
                    &[0, 0, 0, 1, 0x67][..],
                    &rng.bytes(len % 40),
                    &[0, 0, 1, 0x68],
                    &rng.bytes(len % 10),
                    &[0, 0, 1, 0x65],
                    &rng.bytes(len),
                ]
                .concat(),
                // A valid key frame with bytes flipped.
                3 => {
                    let mut k = key.clone();
                    for _ in 0..1 + rng.below(8) {
                        let at = 5 + rng.below(k.len() - 5);
                        k[at] ^= 1 << rng.below(8);
                    }
                    k
                }
                // A valid key frame, truncated.
                4 => key[..5 + rng.below(key.len() - 5)].to_vec(),
                // Valid frames, to bring the decoder back.
                _ => {
                    if rng.below(2) == 0 {
                        key.clone()
                    } else {
                        delta.clone()
                    }
                }
            };
            match dec.decode(&input) {
                Ok(Some(f)) => {
                    pictures += 1;
                    assert_eq!(Some(f.i420.len()), frame_size(Yuv420p, f.w, f.h));
                }
                Ok(None) => {}
                Err(e) => {
                    errors += 1;
                    assert!(!e.to_string().is_empty());
                    assert!(dec.awaiting_key);
                }
            }
        }
        // The decoder still works.
        dec.awaiting_key = true;
        let out = dec.decode(&key).unwrap().unwrap();
        assert_eq!((out.w, out.h), (160, 120));
        assert_eq!(pattern_frame_number(Yuv420p, 160, 120, &out.i420).unwrap(), 0);
        assert!(pictures > 0 && errors > 0, "pictures {pictures}, errors {errors}");
    }

    /// The test pattern with camera-like texture: the lower half scrolls a
    /// noise texture 4 pixels per frame, and a 64x48 box gets fresh noise
    /// every frame. Hard content for the encoder.
    #[cfg(feature = "h264")]
    fn textured_i420(n: u32) -> Vec<u8> {
        let mut i420 = pattern_i420(n);
        let (w, h) = (W as usize, H as usize);
        let noise = |x: usize, y: usize, salt: u64| {
            Rng((x as u64) << 32 ^ (y as u64) << 8 ^ salt.wrapping_mul(0x9e37_79b9) ^ 0x1234_5678).next() as u8
        };
        for y in h / 2..h - 32 {
            for x in 0..w {
                i420[y * w + x] = 16 + noise((x + 4 * n as usize) / 4, y / 4, 0) % 220;
            }
        }
        for y in 40..88 {
            for x in 288..352 {
                i420[y * w + x] = noise(x, y, u64::from(n) + 1);
            }
        }
        i420
    }

    #[test]
    #[cfg(feature = "h264")]
    fn rate_control_holds_the_bit_rate_on_hard_content() {
        const FRAMES: u32 = 45;
        let bitrate = 500_000;
        let mut enc = VideoEncoder::new(W, H, 15.0, bitrate).unwrap();
        let mut dec = VideoDecoder::new().unwrap();
        let (mut enc_time, mut dec_time) = (Duration::ZERO, Duration::ZERO);
        let (mut bytes, mut skipped, mut decoded) = (0, 0, 0);
        for n in 0..FRAMES {
            let i420 = textured_i420(n);
            let t = Instant::now();
            let frame = enc.encode(&i420, n == 30).unwrap();
            enc_time += t.elapsed();
            if frame.data.is_empty() {
                assert!(!frame.key);
                skipped += 1;
                continue;
            }
            if n == 0 || n == 30 {
                assert!(frame.key, "frame {n} should be a key frame");
            }
            bytes += frame.data.len();
            let t = Instant::now();
            let out = dec.decode(&frame.data).unwrap().expect("a picture");
            dec_time += t.elapsed();
            decoded += 1;
            assert_eq!(pattern_frame_number(Yuv420p, W, H, &out.i420).unwrap(), n);
        }
        let secs = f64::from(FRAMES) / 15.0;
        let kbps = bytes as f64 * 8.0 / secs / 1000.0;
        eprintln!(
            "media: 640x480 textured at {} kbit/s target: {kbps:.0} kbit/s, {skipped} of {FRAMES} skipped, \
             encode {:.2} ms/frame, decode {:.2} ms/frame",
            bitrate / 1000,
            enc_time.as_secs_f64() * 1000.0 / f64::from(FRAMES),
            dec_time.as_secs_f64() * 1000.0 / f64::from(decoded.max(1)),
        );
        assert!(kbps < 2.0 * f64::from(bitrate) / 1000.0, "{kbps:.0} kbit/s for a {bitrate} bit/s target");
        assert!(skipped < FRAMES / 2, "{skipped} of {FRAMES} frames skipped");
    }

    #[test]
    fn codec_halves_are_send() {
        fn send<T: Send>() {}
        send::<VideoEncoder>();
        send::<VideoDecoder>();
    }

    #[test]
    fn audio_format_validation() {
        let ok = AudioFormat { channels: 1, samples_per_sec: 8000, bits_per_sample: 16 };
        assert!(ok.validate().is_ok());
        assert!(AudioFormat { samples_per_sec: 48000, channels: 2, ..ok }.validate().is_ok());
        for bad in [
            AudioFormat { channels: 0, ..ok },
            AudioFormat { channels: 3, ..ok },
            AudioFormat { samples_per_sec: 7999, ..ok },
            AudioFormat { samples_per_sec: 48001, ..ok },
            AudioFormat { bits_per_sample: 8, ..ok },
            AudioFormat { bits_per_sample: 24, ..ok },
        ] {
            let e = bad.validate().unwrap_err();
            assert!(matches!(e, MediaError::BadAudioFormat(_)), "{bad:?}");
            assert!(!e.to_string().is_empty());
        }
    }
}
