//! Media mode's audio codec figures (`--audio-codec opus`): the client
//! library's own Opus encoder and decoder (`anychat::codec::audio`), timed
//! in-process over seconds of a synthetic voice, and the sizes on the wire
//! of the packets they make, which the media run then sends in place of PCM.
//!
//! The voice: a fundamental gliding between 110 and 230 Hz with 12
//! harmonics falling off as 1/k, syllables of ~180 ms (a raised-cosine
//! envelope) four times a second with a pause of ~70 ms between them, and
//! a noise floor 50 dB below the peak, at 16 kHz mono: not speech, but
//! what Opus spends on speech (voiced, with gaps and a floor) rather than
//! the near-nothing of a pure tone or the ceiling of white noise.

use std::time::Instant;

use anychat::codec::audio::{bytes_of, frame_samples, OpusDecoder, OpusEncoder};
use anychat::codec::AudioFormat;
use anychat::wire::protocol::{ClientMsg, ServerMsg, CODEC_OPUS};
use serde_json::{json, Value};

use super::media::{self, AUDIO_BYTES, AUDIO_PER_SECOND, AUDIO_RATE, STAMP_LEN};
use super::stats::round3;

const FORMAT: AudioFormat = AudioFormat { channels: 1, samples_per_sec: AUDIO_RATE, bits_per_sample: 16 };
/// Microseconds of audio in one 20 ms frame.
const FRAME_US: f64 = 1e6 / AUDIO_PER_SECOND;

/// `seconds` of the synthetic voice, 16-bit mono at 16 kHz.
pub fn voice(seconds: f64) -> Vec<i16> {
    let rate = f64::from(AUDIO_RATE);
    let n = (seconds * rate) as usize;
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0f64;
    for i in 0..n {
        let t = i as f64 / rate;
        // Pitch glides slowly (0.7 Hz) between 110 and 230 Hz.
        let f0 = 170.0 + 60.0 * (std::f64::consts::TAU * 0.7 * t).sin();
        phase = (phase + f0 / rate).fract();
        let mut v = 0.0;
        for k in 1..=12 {
            v += (std::f64::consts::TAU * phase * k as f64).sin() / k as f64;
        }
        // Syllables: 250 ms each, 180 ms voiced under a raised cosine, 70 ms pause.
        let s = (t * 4.0).fract() * 250.0;
        let env = if s < 180.0 { 0.5 - 0.5 * (std::f64::consts::TAU * s / 180.0).cos() } else { 0.0 };
        let noise = ((media::mix(i as u64) % 2001) as f64 - 1000.0) / 1000.0;
        out.push((v * env * 6000.0 + noise * 30.0).round().clamp(-32768.0, 32767.0) as i16);
    }
    out
}

/// What one stream of Opus costs, measured in-process.
#[derive(Debug, Clone)]
pub struct OpusCost {
    pub seconds: f64,
    pub frames: usize,
    pub encode_us_per_frame: f64,
    pub decode_us_per_frame: f64,
    /// Opus packet bytes per second of one stream.
    pub payload_bytes_per_s: f64,
    /// Bytes per second of one stream's messages, sender → server and
    /// server → receiver (the protocol's framing and media header included).
    pub wire_up_bytes_per_s: f64,
    pub wire_down_bytes_per_s: f64,
    /// The same for 16-bit PCM (640-byte frames).
    pub pcm_up_bytes_per_s: f64,
    pub pcm_down_bytes_per_s: f64,
    /// Every packet's size, in order: what the media run sends.
    pub packet_sizes: Vec<u16>,
}

fn up_len(codec: u32, data: Vec<u8>) -> usize {
    let mut buf = Vec::new();
    let header = anychat::wire::protocol::MediaHeader { codec, ..media::audio_header(0) };
    ClientMsg::Media { header, data }.encode(&mut buf);
    buf.len()
}

fn down_len(codec: u32, data: Vec<u8>) -> usize {
    let mut buf = Vec::new();
    let header = anychat::wire::protocol::MediaHeader { codec, ..media::audio_header(0) };
    ServerMsg::Media { from: 1, header, data }.encode(&mut buf);
    buf.len()
}

/// Encodes and decodes `seconds` of [`voice`] one 20 ms frame at a time,
/// timing each side (wall time on one thread: run it on a quiet machine).
pub fn measure(seconds: f64) -> Result<OpusCost, String> {
    let pcm = voice(seconds);
    let frame = frame_samples(AUDIO_RATE);
    let chunks: Vec<Vec<u8>> = pcm.chunks_exact(frame).map(bytes_of).collect();
    let err = |e: anychat::codec::MediaError| format!("Opus: {e}");
    let mut enc = OpusEncoder::new(FORMAT).map_err(err)?;
    let mut dec = OpusDecoder::new(FORMAT).map_err(err)?;
    let mut packets = Vec::with_capacity(chunks.len());
    let t = Instant::now();
    for c in &chunks {
        packets.extend(enc.push(c).map_err(err)?);
    }
    let encode = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut decoded = 0;
    for p in &packets {
        decoded += dec.decode(p).map_err(err)?.len();
    }
    let decode = t.elapsed().as_secs_f64();
    if packets.len() != chunks.len() || decoded != chunks.len() * AUDIO_BYTES {
        return Err(format!("Opus: {} frames in, {} packets, {decoded} bytes decoded", chunks.len(), packets.len()));
    }
    let n = packets.len().max(1) as f64;
    let per_s = |total: usize| total as f64 / n * AUDIO_PER_SECOND;
    let sizes: Vec<u16> = packets.iter().map(|p| p.len().max(STAMP_LEN) as u16).collect();
    let payload: usize = packets.iter().map(Vec::len).sum();
    let up: usize = packets.iter().map(|p| up_len(CODEC_OPUS, p.clone())).sum();
    let down: usize = packets.iter().map(|p| down_len(CODEC_OPUS, p.clone())).sum();
    Ok(OpusCost {
        seconds,
        frames: packets.len(),
        encode_us_per_frame: encode * 1e6 / n,
        decode_us_per_frame: decode * 1e6 / n,
        payload_bytes_per_s: per_s(payload),
        wire_up_bytes_per_s: per_s(up),
        wire_down_bytes_per_s: per_s(down),
        pcm_up_bytes_per_s: up_len(0, vec![0; AUDIO_BYTES]) as f64 * AUDIO_PER_SECOND,
        pcm_down_bytes_per_s: down_len(0, vec![0; AUDIO_BYTES]) as f64 * AUDIO_PER_SECOND,
        packet_sizes: sizes,
    })
}

impl OpusCost {
    pub fn print(&self) {
        println!(
            "opus codec (in-process, {:.0} s of synthetic voice, {} frames of 20 ms, 16 kHz mono, {} kbit/s target):",
            self.seconds,
            self.frames,
            anychat::codec::audio::OPUS_BITRATE_PER_CHANNEL / 1000
        );
        println!(
            "  encode {:.1} us per frame = {:.2}% of one core per stream; decode {:.1} us per frame = {:.2}% of one \
             core per stream",
            self.encode_us_per_frame,
            self.encode_us_per_frame / FRAME_US * 100.0,
            self.decode_us_per_frame,
            self.decode_us_per_frame / FRAME_US * 100.0
        );
        println!(
            "  per stream: Opus payload {:.0} B/s ({:.1} kbit/s); on the wire {:.0} B/s up, {:.0} B/s down \
             ({:.1} kbit/s); PCM on the wire {:.0} B/s up, {:.0} B/s down ({:.1} kbit/s): Opus is {:.1}% of PCM",
            self.payload_bytes_per_s,
            self.payload_bytes_per_s * 8.0 / 1000.0,
            self.wire_up_bytes_per_s,
            self.wire_down_bytes_per_s,
            self.wire_up_bytes_per_s * 8.0 / 1000.0,
            self.pcm_up_bytes_per_s,
            self.pcm_down_bytes_per_s,
            self.pcm_up_bytes_per_s * 8.0 / 1000.0,
            self.wire_up_bytes_per_s / self.pcm_up_bytes_per_s * 100.0
        );
    }

    pub fn to_json(&self) -> Value {
        json!({
            "seconds": self.seconds,
            "frames": self.frames,
            "encode_us_per_frame": round3(self.encode_us_per_frame),
            "decode_us_per_frame": round3(self.decode_us_per_frame),
            "encode_core_share_per_stream": (self.encode_us_per_frame / FRAME_US * 1e6).round() / 1e6,
            "decode_core_share_per_stream": (self.decode_us_per_frame / FRAME_US * 1e6).round() / 1e6,
            "payload_bytes_per_s": round3(self.payload_bytes_per_s),
            "wire_up_bytes_per_s": round3(self.wire_up_bytes_per_s),
            "wire_down_bytes_per_s": round3(self.wire_down_bytes_per_s),
            "pcm_up_bytes_per_s": round3(self.pcm_up_bytes_per_s),
            "pcm_down_bytes_per_s": round3(self.pcm_down_bytes_per_s),
        })
    }
}
