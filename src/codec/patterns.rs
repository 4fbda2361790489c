//! Synthetic media for the tests and for `anychat-cli stream`: a moving
//! test pattern that carries its frame number ([`test_pattern_rgb24`], read
//! back by [`pattern_frame_number`]), a coarse frame checksum that survives
//! compression ([`frame_signature`], compared with [`signature_distance`]),
//! and a sine tone with its energy ([`tone_pcm16`], [`energy`]).
//!
//! Compiled for the unit tests and with the `test-patterns` feature only
//! (the integration tests turn it on): the shipped library does not carry
//! it.

use super::*;

/// The RMS of signed 16-bit little-endian samples, in sample units (a full
/// scale sine gives about 23170); 0 for an empty buffer. A trailing odd byte
/// is ignored.
pub fn energy(pcm16: &[u8]) -> f64 {
    let n = pcm16.len() / 2;
    if n == 0 {
        return 0.0;
    }
    let sum: f64 = pcm16
        .chunks_exact(2)
        .map(|s| {
            let v = f64::from(i16::from_le_bytes([s[0], s[1]]));
            v * v
        })
        .sum();
    (sum / n as f64).sqrt()
}

/// `frames` sample frames of a sine at `freq_hz` with peak `amplitude`, the
/// same on every channel, starting at sample frame `start` (so that
/// successive buffers join without a click), as 16-bit little-endian PCM.
pub fn tone_pcm16(f: &AudioFormat, freq_hz: f64, amplitude: i16, start: u64, frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * usize::from(f.channels) * 2);
    let rate = f64::from(f.samples_per_sec.max(1));
    for i in 0..frames as u64 {
        let t = (start + i) as f64 / rate;
        let v = (f64::from(amplitude) * (2.0 * std::f64::consts::PI * freq_hz * t).sin()).round() as i16;
        for _ in 0..f.channels {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

// ----- synthetic video and checksums -----------------------------------------

/// Rows at the bottom of [`test_pattern_rgb24`] holding the frame number.
const PATTERN_BAND: usize = 16;
/// Bits of the frame number in the band.
const PATTERN_BITS: usize = 16;
/// 75 % colour bars, (r, g, b): white, yellow, cyan, green, magenta, red, blue, black.
const BARS: [(u8, u8, u8); 8] =
    [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191), (0, 0, 0)];

/// A moving test pattern as an RGB24 frame (rows in [`RGB_ROW_ORDER`], see
/// the module docs): eight 75 % colour bars shifted right by 8 pixels per frame,
/// and a band of 16 rows at the bottom holding the frame number modulo
/// 65536 in 16 black or white blocks, most significant first (read back by
/// [`pattern_frame_number`]). `None` for dimensions [`frame_size`] refuses
/// or frames narrower than 32 or lower than 32 pixels.
pub fn test_pattern_rgb24(w: u32, h: u32, frame_no: u32) -> Option<Vec<u8>> {
    let size = frame_size(Rgb24, w, h)?;
    if w < 32 || h < 32 {
        return None;
    }
    let (w, h) = (w as usize, h as usize);
    let stride = dib_stride(24, w);
    let shift = (frame_no as usize * 8) % w;
    let code = frame_no as usize % (1 << PATTERN_BITS);
    // Every row of the bars is the same, and so is every row of the band.
    let mut bars = vec![0u8; stride];
    let mut band = vec![0u8; stride];
    for x in 0..w {
        let (r, g, b) = BARS[((x + w - shift) % w) * BARS.len() / w];
        bars[3 * x..3 * x + 3].copy_from_slice(&[b, g, r]);
        let bit = x * PATTERN_BITS / w;
        if (code >> (PATTERN_BITS - 1 - bit)) & 1 == 1 {
            band[3 * x..3 * x + 3].fill(255);
        }
    }
    let mut out = Vec::with_capacity(size);
    for m in 0..h {
        // Memory row `m` holds picture row `y` (counted from the top).
        let y = RGB_ROW_ORDER.memory_row(m, h);
        out.extend_from_slice(if y >= h - PATTERN_BAND { &band } else { &bars });
    }
    Some(out)
}

/// An RGB24 frame (rows in [`RGB_ROW_ORDER`]) whose top half is white and
/// bottom half black: where a picture's top ends up tells the row order.
/// `None` for dimensions [`frame_size`] refuses.
pub fn half_white_rgb24(w: u32, h: u32) -> Option<Vec<u8>> {
    let size = frame_size(Rgb24, w, h)?;
    let (w, h) = (w as usize, h as usize);
    let stride = dib_stride(24, w);
    let mut out = vec![0u8; size];
    for m in 0..h {
        if RGB_ROW_ORDER.memory_row(m, h) < h / 2 {
            out[m * stride..][..3 * w].fill(255);
        }
    }
    Some(out)
}

/// Reads the frame number (modulo 65536) that [`test_pattern_rgb24`] wrote
/// into a frame in `fmt` (any format [`to_i420`] takes), after any
/// conversion or lossy coding that keeps the picture recognisable.
pub fn pattern_frame_number(fmt: PixelFormat, w: u32, h: u32, data: &[u8]) -> Result<u32, MediaError> {
    if w < 32 || h < 32 {
        return Err(MediaError::BadDimensions { w, h });
    }
    if !fmt.is_convertible() {
        return Err(MediaError::UnsupportedFormat(fmt));
    }
    // The luma plane, top-down whatever the format.
    let i420 = to_i420(fmt, w, h, data)?;
    let (w, h) = (w as usize, h as usize);
    let luma = |x: usize, y: usize| -> u32 { i420[y * w + x] as u32 };
    let mut code = 0u32;
    for bit in 0..PATTERN_BITS {
        // The middle half of the block, rows 4..12 of the band.
        let (x0, x1) = (bit * w / PATTERN_BITS, (bit + 1) * w / PATTERN_BITS);
        let (x0, x1) = (x0 + (x1 - x0) / 4, x1 - (x1 - x0) / 4);
        let (mut sum, mut n) = (0u32, 0u32);
        for y in h - PATTERN_BAND + 4..h - 4 {
            for x in x0..x1 {
                sum += luma(x, y);
                n += 1;
            }
        }
        code = (code << 1) | u32::from(sum > 128 * n.max(1));
    }
    Ok(code)
}

/// A coarse checksum of a frame in `fmt` (any format [`to_i420`] takes):
/// the mean Y, U and V of each cell of an 8×6 grid (144 bytes). Compression
/// moves each value by a few units at most, while a different picture moves
/// many by tens: compare two with [`signature_distance`].
pub fn frame_signature(fmt: PixelFormat, w: u32, h: u32, data: &[u8]) -> Result<Vec<u8>, MediaError> {
    const GX: usize = 8;
    const GY: usize = 6;
    if w < GX as u32 * 2 || h < GY as u32 * 2 {
        return Err(MediaError::BadDimensions { w, h });
    }
    let i420 = to_i420(fmt, w, h, data)?;
    let (w, h) = (w as usize, h as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (yp, up, vp) = i420_planes(&i420, w, h);
    let mut sig = Vec::with_capacity(GX * GY * 3);
    for gy in 0..GY {
        for gx in 0..GX {
            for (plane, pw, ph) in [(yp, w, h), (up, cw, ch), (vp, cw, ch)] {
                let (x0, x1) = (gx * pw / GX, (gx + 1) * pw / GX);
                let (y0, y1) = (gy * ph / GY, (gy + 1) * ph / GY);
                let mut sum = 0u64;
                for y in y0..y1 {
                    sum += plane[y * pw + x0..y * pw + x1].iter().map(|&v| u64::from(v)).sum::<u64>();
                }
                let n = ((x1 - x0) * (y1 - y0)).max(1) as u64;
                sig.push(((sum + n / 2) / n) as u8);
            }
        }
    }
    Ok(sig)
}

/// The largest difference between two signatures of [`frame_signature`]
/// (255 if their lengths differ).
pub fn signature_distance(a: &[u8], b: &[u8]) -> u8 {
    if a.len() != b.len() {
        return 255;
    }
    a.iter().zip(b).map(|(&x, &y)| x.abs_diff(y)).max().unwrap_or(0)
}

/// The power of frequency `freq` (Hz) in mono 16-bit samples at `rate` Hz
/// (Goertzel): compare two frequencies to tell which tone a signal is.
pub fn tone_power(pcm: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate.max(1));
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in pcm {
        let s = f64::from(x) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 640;
    const H: u32 = 480;

    #[test]
    fn test_pattern_moves_and_carries_its_number() {
        let a = test_pattern_rgb24(W, H, 0).unwrap();
        let b = test_pattern_rgb24(W, H, 1).unwrap();
        assert_eq!(a.len(), 921_600);
        assert_ne!(a, b);
        for n in [0, 1, 2, 255, 4660, 65535, 65536 + 9] {
            let f = test_pattern_rgb24(W, H, n).unwrap();
            assert_eq!(pattern_frame_number(Rgb24, W, H, &f).unwrap(), n % 65536);
        }
        let sa = frame_signature(Rgb24, W, H, &a).unwrap();
        let sb = frame_signature(Rgb24, W, H, &b).unwrap();
        assert_eq!(sa.len(), 144);
        assert!(signature_distance(&sa, &sb) > 10, "one frame apart: {}", signature_distance(&sa, &sb));
        assert_eq!(test_pattern_rgb24(16, 16, 0), None);
    }

    #[test]
    fn tone_energy_is_amplitude_over_root_two() {
        for (channels, rate) in [(1, 16000), (2, 44100), (1, 8000), (2, 48000)] {
            let f = AudioFormat { channels, samples_per_sec: rate, bits_per_sample: 16 };
            f.validate().unwrap();
            // One second of 440 Hz at peak 10000: RMS 10000 / sqrt(2) = 7071.
            let pcm = tone_pcm16(&f, 440.0, 10_000, 0, rate as usize);
            assert_eq!(pcm.len(), rate as usize * usize::from(channels) * 2);
            let rms = energy(&pcm);
            assert!((rms - 10_000.0 / 2f64.sqrt()).abs() < 10.0, "{channels} ch {rate} Hz: rms {rms}");
            // Successive buffers continue the same wave.
            let first = tone_pcm16(&f, 440.0, 10_000, 0, 100);
            let second = tone_pcm16(&f, 440.0, 10_000, 100, 100);
            assert_eq!([first, second].concat(), tone_pcm16(&f, 440.0, 10_000, 0, 200));
        }
        assert_eq!(energy(&[]), 0.0);
        assert_eq!(energy(&[0; 320]), 0.0);
        // A full-scale square wave has RMS 32767 (the odd byte is ignored).
        let square: Vec<u8> = [32767i16, -32767].repeat(50).iter().flat_map(|s| s.to_le_bytes()).collect();
        assert!((energy(&[&square[..], &[9]].concat()) - 32767.0).abs() < 1e-9);
    }
}
