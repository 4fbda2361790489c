//! Audio: Opus encoding and decoding of 16-bit PCM in 20 ms frames
//! ([`OpusEncoder`], [`OpusDecoder`], with libopus through the `opus` crate,
//! feature `opus`), and the playout [`Mixer`]: one bounded jitter buffer
//! per user whose audio arrives, resampled to one output format and mixed.
//!
//! Without the `opus` feature no Opus encoder or decoder can be made
//! ([`opus_built`] is false): the client library then sends 16-bit PCM and
//! tells the server it decodes no Opus, so that its peers send it PCM too.

use std::collections::{HashMap, VecDeque};

use super::{AudioFormat, MediaError};

/// Opus frame length: 20 ms.
pub const OPUS_FRAME_MS: u32 = 20;
/// The largest Opus packet produced (bytes).
#[cfg(feature = "opus")]
const MAX_PACKET: usize = 1500;
/// Bit rate per channel (bit/s): wide-band speech at good quality, about a
/// tenth of 16 kHz PCM's 256 kbit/s.
pub const OPUS_BITRATE_PER_CHANNEL: i32 = 24_000;

/// Whether this build carries the Opus codec (feature `opus`).
pub const fn opus_built() -> bool {
    cfg!(feature = "opus")
}

/// The sample rates Opus takes as they are; other rates go as PCM.
pub fn opus_rate(rate: u32) -> bool {
    matches!(rate, 8000 | 12000 | 16000 | 24000 | 48000)
}

/// Samples (per channel) in one 20 ms frame at `rate`.
pub fn frame_samples(rate: u32) -> usize {
    (rate * OPUS_FRAME_MS / 1000) as usize
}

/// Little-endian 16-bit bytes as samples (a trailing odd byte is ignored).
pub fn samples_of(bytes: &[u8]) -> Vec<i16> {
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

/// Samples as little-endian 16-bit bytes.
pub fn bytes_of(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn check(format: &AudioFormat) -> Result<(), MediaError> {
    format.validate()?;
    if !opus_rate(format.samples_per_sec) {
        return Err(MediaError::BadAudioFormat("Opus takes 8000, 12000, 16000, 24000 or 48000 Hz"));
    }
    if !opus_built() {
        return Err(MediaError::Codec("not available: built without the `opus` feature".into()));
    }
    Ok(())
}

/// Encodes 16-bit PCM into Opus packets of 20 ms; what does not fill a
/// frame waits for the next call (at most one frame's worth).
pub struct OpusEncoder {
    #[cfg(feature = "opus")]
    enc: opus::Encoder,
    format: AudioFormat,
    /// Interleaved samples not encoded yet (less than one frame).
    pending: Vec<i16>,
}

impl OpusEncoder {
    /// An encoder for `format` (1–2 channels, an [`opus_rate`], 16 bits).
    pub fn new(format: AudioFormat) -> Result<OpusEncoder, MediaError> {
        check(&format)?;
        #[cfg(feature = "opus")]
        {
            let channels = if format.channels == 2 { opus::Channels::Stereo } else { opus::Channels::Mono };
            let codec = |e: opus::Error| MediaError::Codec(e.to_string());
            let mut enc =
                opus::Encoder::new(format.samples_per_sec, channels, opus::Application::Voip).map_err(codec)?;
            let bits = OPUS_BITRATE_PER_CHANNEL * i32::from(format.channels);
            enc.set_bitrate(opus::Bitrate::Bits(bits)).map_err(codec)?;
            Ok(OpusEncoder { enc, format, pending: Vec::new() })
        }
        #[cfg(not(feature = "opus"))]
        unreachable!("check() refuses every format without the opus feature")
    }

    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Samples (interleaved) waiting for the next frame.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Takes little-endian 16-bit PCM (whole sample frames) and returns the
    /// packets of every 20 ms frame now complete, in order.
    pub fn push(&mut self, pcm: &[u8]) -> Result<Vec<Vec<u8>>, MediaError> {
        self.pending.extend(samples_of(pcm));
        let frame = frame_samples(self.format.samples_per_sec) * usize::from(self.format.channels);
        let mut packets = Vec::new();
        let mut at = 0;
        while self.pending.len() - at >= frame {
            packets.push(self.encode(at, frame)?);
            at += frame;
        }
        self.pending.drain(..at);
        Ok(packets)
    }

    #[cfg(feature = "opus")]
    fn encode(&mut self, at: usize, frame: usize) -> Result<Vec<u8>, MediaError> {
        self.enc.encode_vec(&self.pending[at..at + frame], MAX_PACKET).map_err(|e| MediaError::Codec(e.to_string()))
    }

    #[cfg(not(feature = "opus"))]
    fn encode(&mut self, _at: usize, _frame: usize) -> Result<Vec<u8>, MediaError> {
        Err(MediaError::Codec("not available: built without the `opus` feature".into()))
    }
}

/// Decodes Opus packets into 16-bit PCM of the sender's format.
pub struct OpusDecoder {
    #[cfg(feature = "opus")]
    dec: opus::Decoder,
    format: AudioFormat,
}

impl OpusDecoder {
    pub fn new(format: AudioFormat) -> Result<OpusDecoder, MediaError> {
        check(&format)?;
        #[cfg(feature = "opus")]
        {
            let channels = if format.channels == 2 { opus::Channels::Stereo } else { opus::Channels::Mono };
            let dec =
                opus::Decoder::new(format.samples_per_sec, channels).map_err(|e| MediaError::Codec(e.to_string()))?;
            Ok(OpusDecoder { dec, format })
        }
        #[cfg(not(feature = "opus"))]
        unreachable!("check() refuses every format without the opus feature")
    }

    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// One packet as little-endian 16-bit PCM (at most 120 ms of it).
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<u8>, MediaError> {
        #[cfg(feature = "opus")]
        {
            let channels = usize::from(self.format.channels);
            let mut out = vec![0i16; frame_samples(self.format.samples_per_sec) * 6 * channels];
            let n = self.dec.decode(packet, &mut out, false).map_err(|e| MediaError::Codec(e.to_string()))?;
            out.truncate(n * channels);
            Ok(bytes_of(&out))
        }
        #[cfg(not(feature = "opus"))]
        {
            let _ = packet;
            Err(MediaError::Codec("not available: built without the `opus` feature".into()))
        }
    }
}

/// What the mixer plays out: 16-bit mono PCM at 16,000 Hz.
pub const MIX_FORMAT: AudioFormat = AudioFormat { channels: 1, samples_per_sec: 16_000, bits_per_sample: 16 };
/// A user's audio starts to play once this much is buffered (ms), and is
/// cut back to it when it went past [`JITTER_MAX_MS`].
pub const JITTER_TARGET_MS: u32 = 60;
/// The most a user's jitter buffer holds (ms): audio that comes later than
/// that is dropped (the oldest first), never accumulated.
pub const JITTER_MAX_MS: u32 = 200;

/// A linear resampler of one mono stream (state kept across chunks).
#[derive(Debug, Clone)]
struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Where the next output sample lies between `prev` (0) and the next
    /// input sample (1).
    t: f64,
    prev: f32,
}

impl Resampler {
    fn new(from: u32, to: u32) -> Resampler {
        Resampler { step: f64::from(from) / f64::from(to), t: 1.0, prev: 0.0 }
    }

    fn run(&mut self, input: impl Iterator<Item = f32>, out: &mut VecDeque<i16>) {
        for x in input {
            while self.t <= 1.0 {
                let v = self.prev + (x - self.prev) * self.t as f32;
                out.push_back(v.round().clamp(-32768.0, 32767.0) as i16);
                self.t += self.step;
            }
            self.t -= 1.0;
            self.prev = x;
        }
    }
}

/// One user's jitter buffer, in [`MIX_FORMAT`].
#[derive(Debug)]
struct Jitter {
    format: AudioFormat,
    resampler: Resampler,
    buf: VecDeque<i16>,
    /// Playing: set once [`JITTER_TARGET_MS`] is buffered, cleared when it
    /// runs dry (then it waits to fill again).
    playing: bool,
}

/// The playout mix: every user's audio in a bounded jitter buffer of its
/// own, converted to [`MIX_FORMAT`] (channels averaged, rate converted
/// linearly); [`Mixer::pull`] sums what each buffer has, with a gain.
#[derive(Debug, Default)]
pub struct Mixer {
    users: HashMap<u32, Jitter>,
    /// Samples dropped because a buffer was over [`JITTER_MAX_MS`].
    pub dropped: u64,
}

fn ms_samples(ms: u32) -> usize {
    (MIX_FORMAT.samples_per_sec * ms / 1000) as usize
}

impl Mixer {
    pub fn new() -> Mixer {
        Mixer::default()
    }

    /// Adds `user`'s 16-bit PCM (`format`) to its buffer; past
    /// [`JITTER_MAX_MS`] the oldest audio goes, down to [`JITTER_TARGET_MS`].
    pub fn push(&mut self, user: u32, format: AudioFormat, pcm: &[u8]) {
        if format.validate().is_err() {
            return;
        }
        let j = self.users.entry(user).or_insert_with(|| Jitter {
            format,
            resampler: Resampler::new(format.samples_per_sec, MIX_FORMAT.samples_per_sec),
            buf: VecDeque::new(),
            playing: false,
        });
        if j.format != format {
            j.format = format;
            j.resampler = Resampler::new(format.samples_per_sec, MIX_FORMAT.samples_per_sec);
        }
        let channels = usize::from(format.channels);
        let samples = samples_of(pcm);
        let mono =
            samples.chunks_exact(channels).map(|f| f.iter().map(|&s| f32::from(s)).sum::<f32>() / f.len() as f32);
        j.resampler.run(mono, &mut j.buf);
        if j.buf.len() > ms_samples(JITTER_MAX_MS) {
            let excess = j.buf.len() - ms_samples(JITTER_TARGET_MS);
            j.buf.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// Forgets `user`'s buffer (it left, or its audio was closed).
    pub fn remove(&mut self, user: u32) {
        self.users.remove(&user);
    }

    /// Users with a buffer.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// The ids of the users with a buffer.
    pub fn user_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.users.keys().copied()
    }

    /// Fills `out` with the mix of every user's buffered audio (silence
    /// where none), scaled by `gain` (1.0: as received).
    pub fn pull(&mut self, out: &mut [i16], gain: f32) {
        let mut acc = vec![0f32; out.len()];
        for j in self.users.values_mut() {
            if !j.playing && j.buf.len() >= ms_samples(JITTER_TARGET_MS) {
                j.playing = true;
            }
            if !j.playing {
                continue;
            }
            let n = out.len().min(j.buf.len());
            for (a, s) in acc.iter_mut().zip(j.buf.drain(..n)) {
                *a += f32::from(s);
            }
            if j.buf.is_empty() {
                j.playing = false;
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            *o = (a * gain).round().clamp(-32768.0, 32767.0) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::patterns::{energy, tone_pcm16, tone_power};

    const F16: AudioFormat = AudioFormat { channels: 1, samples_per_sec: 16000, bits_per_sample: 16 };

    /// The strongest frequency of 16-bit mono PCM among `candidates`.
    fn strongest(pcm: &[i16], rate: u32, candidates: &[f64]) -> f64 {
        let power = |f: f64| tone_power(pcm, rate, f);
        *candidates.iter().max_by(|a, b| power(**a).total_cmp(&power(**b))).unwrap()
    }

    #[cfg(feature = "opus")]
    #[test]
    fn opus_round_trip_keeps_a_tone_at_a_tenth_of_the_bytes() {
        let mut enc = OpusEncoder::new(F16).unwrap();
        let mut dec = OpusDecoder::new(F16).unwrap();
        let (mut wire, mut pcm_bytes, mut out) = (0, 0, Vec::new());
        // 1 s in chunks of 30 ms: frames straddle the chunks.
        for i in 0..33u64 {
            let chunk = tone_pcm16(&F16, 440.0, 8000, i * 480, 480);
            pcm_bytes += chunk.len();
            for p in enc.push(&chunk).unwrap() {
                wire += p.len();
                out.extend(samples_of(&dec.decode(&p).unwrap()));
            }
        }
        assert!(enc.pending() < frame_samples(16000));
        assert_eq!(out.len() % frame_samples(16000), 0);
        assert!(wire * 8 < pcm_bytes, "{wire} bytes of Opus for {pcm_bytes} of PCM");
        let tail = &out[out.len() / 2..];
        let rms = energy(&bytes_of(tail));
        assert!((4500.0..6500.0).contains(&rms), "rms {rms}");
        assert_eq!(strongest(tail, 16000, &[300.0, 440.0, 600.0, 1000.0]), 440.0);
    }

    #[test]
    fn formats_opus_does_not_take_are_refused() {
        let f = AudioFormat { channels: 1, samples_per_sec: 44100, bits_per_sample: 16 };
        assert!(OpusEncoder::new(f).is_err());
        assert!(OpusDecoder::new(f).is_err());
    }

    #[test]
    fn the_mixer_sums_users_resamples_and_bounds_each_buffer() {
        let mut m = Mixer::new();
        let f48 = AudioFormat { channels: 2, samples_per_sec: 48000, bits_per_sample: 16 };
        // 100 ms of each: a 440 Hz tone at 16 kHz mono, a 1000 Hz one at 48 kHz stereo.
        m.push(1, F16, &tone_pcm16(&F16, 440.0, 4000, 0, 1600));
        m.push(2, f48, &tone_pcm16(&f48, 1000.0, 4000, 0, 4800));
        let mut out = vec![0i16; 1600];
        m.pull(&mut out, 1.0);
        let body = &out[100..1500];
        let rms = energy(&bytes_of(body));
        // Two uncorrelated tones of RMS 2828 each: about 4000.
        assert!((3500.0..4500.0).contains(&rms), "rms {rms}");
        // Nothing more buffered: silence, and the buffers wait to fill again.
        m.pull(&mut out, 1.0);
        assert!(out.iter().all(|&s| s.abs() <= 1), "silence after the buffers ran dry");
        // Less than the target buffered: not played yet.
        m.push(1, F16, &tone_pcm16(&F16, 440.0, 4000, 0, 320));
        m.pull(&mut out[..320], 1.0);
        assert!(out[..320].iter().all(|&s| s == 0));
        // A user far ahead: cut back to the target, never more than the maximum.
        m.push(1, F16, &tone_pcm16(&F16, 440.0, 4000, 0, 16000));
        assert!(m.dropped > 0);
        m.pull(&mut out, 0.5);
        let played = out.iter().rposition(|&s| s != 0).unwrap_or(0);
        assert!(played < ms_samples(JITTER_TARGET_MS) + 320, "{played} samples played");
    }

    #[test]
    fn tone_frequency_survives_the_mixer_at_another_rate() {
        let mut m = Mixer::new();
        let f8 = AudioFormat { channels: 1, samples_per_sec: 8000, bits_per_sample: 16 };
        m.push(7, f8, &tone_pcm16(&f8, 600.0, 8000, 0, 800));
        let mut out = vec![0i16; 1600];
        m.pull(&mut out, 1.0);
        assert_eq!(strongest(&out[..1500], 16000, &[300.0, 440.0, 600.0, 1000.0]), 600.0);
    }
}
