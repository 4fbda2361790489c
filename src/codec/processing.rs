//! Microphone processing: echo cancellation, noise suppression, automatic
//! gain control and voice detection on 16-bit mono PCM at 16 kHz (the
//! microphone's and the playout mix's format), through WebRTC's audio
//! processing module (`webrtc-audio-processing` 0.5, its C++ built from the
//! crate's bundled sources and linked statically; feature `apm`).
//!
//! That module takes 10 ms frames at 48 kHz: [`Processor`] converts each
//! 16 kHz frame up by 3 (a 24-tap windowed-sinc interpolator), processes it
//! and converts it back down (the same filter, then every third sample).
//! Echo cancellation needs the far end, the audio the speaker plays:
//! [`Processor::render`] takes it, [`Processor::capture`] processes the
//! microphone; the echo's delay is estimated by the module (delay-agnostic
//! mode), so neither side reports device latencies.
//!
//! Without the feature [`processing_built`] is false and [`Processor::new`]
//! fails: the client library then refuses the options that ask for it.

// Without the module, only the resampler's test uses the resampler.
#![cfg_attr(not(feature = "apm"), allow(dead_code))]

use std::collections::VecDeque;

use super::MediaError;

/// Sample rate of the frames processed here.
const RATE: u32 = 16_000;
/// Samples of one 10 ms block at [`RATE`].
const BLOCK: usize = (RATE / 100) as usize;

/// Whether this build carries the audio processing module (feature `apm`).
pub const fn processing_built() -> bool {
    cfg!(feature = "apm")
}

/// What is turned on (`BRAC_SO_AUDIO_ECHOCTRL`, `NSCTRL`, `AGCCTRL`, `VADCTRL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub echo: bool,
    pub noise: bool,
    pub gain: bool,
    pub voice: bool,
}

impl Settings {
    pub fn any(&self) -> bool {
        self.echo || self.noise || self.gain || self.voice
    }
}

/// Taps of the 3× interpolation / decimation filter.
const TAPS: usize = 24;

/// A low-pass at 8 kHz for 48 kHz (windowed sinc, Hann window), with a
/// gain of 3 at DC (each of the 3 phases sums to about 1).
fn filter() -> [f32; TAPS] {
    let mut h = [0f32; TAPS];
    let mid = (TAPS as f64 - 1.0) / 2.0;
    for (n, v) in h.iter_mut().enumerate() {
        let t = (n as f64 - mid) / 3.0;
        let sinc = if t == 0.0 { 1.0 } else { (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t) };
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * (n as f64 + 0.5) / TAPS as f64).cos();
        *v = (sinc * w) as f32;
    }
    let sum: f32 = h.iter().sum();
    h.iter_mut().for_each(|v| *v *= 3.0 / sum);
    h
}

/// 16 kHz → 48 kHz, state kept across blocks.
struct Up {
    h: [f32; TAPS],
    /// The last `TAPS / 3` input samples, newest last.
    hist: VecDeque<f32>,
}

impl Up {
    fn new() -> Up {
        Up { h: filter(), hist: std::iter::repeat_n(0.0, TAPS / 3).collect() }
    }

    fn run(&mut self, input: &[i16], out: &mut Vec<f32>) {
        out.clear();
        for &x in input {
            self.hist.pop_front();
            self.hist.push_back(f32::from(x) / 32768.0);
            for p in 0..3 {
                // y[3i + p] = sum_k h[p + 3k] x[i - k]
                let mut y = 0.0;
                for k in 0..TAPS / 3 {
                    y += self.h[p + 3 * k] * self.hist[TAPS / 3 - 1 - k];
                }
                out.push(y);
            }
        }
    }
}

/// 48 kHz → 16 kHz, state kept across blocks.
struct Down {
    h: [f32; TAPS],
    /// The last `TAPS` input samples, newest last.
    hist: VecDeque<f32>,
}

impl Down {
    fn new() -> Down {
        Down { h: filter(), hist: std::iter::repeat_n(0.0, TAPS).collect() }
    }

    fn run(&mut self, input: &[f32], out: &mut [i16]) {
        for (chunk, o) in input.chunks_exact(3).zip(out.iter_mut()) {
            for &x in chunk {
                self.hist.pop_front();
                self.hist.push_back(x);
            }
            let mut y = 0.0;
            for (n, h) in self.h.iter().enumerate() {
                y += h * self.hist[TAPS - 1 - n];
            }
            *o = (y / 3.0 * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// One side (capture or render) of an audio processing module shared by
/// the microphone and the speaker: [`Processor::render_side`] makes the
/// speaker's half of the same module.
pub struct Processor {
    #[cfg(feature = "apm")]
    apm: webrtc_audio_processing::Processor,
    settings: Settings,
    up: Up,
    down: Down,
    wide: Vec<f32>,
    /// Render samples waiting for a whole 10 ms block.
    pending: Vec<i16>,
    /// Voice detected in the last block captured (with `voice` on).
    voice: Option<bool>,
}

impl Processor {
    /// A module with nothing turned on (see [`Processor::set`]).
    pub fn new() -> Result<Processor, MediaError> {
        #[cfg(feature = "apm")]
        {
            let init = webrtc_audio_processing::InitializationConfig {
                num_capture_channels: 1,
                num_render_channels: 1,
                ..Default::default()
            };
            let apm = webrtc_audio_processing::Processor::new(&init)
                .map_err(|e| MediaError::Codec(format!("audio processing: {e}")))?;
            Ok(Processor::with(apm))
        }
        #[cfg(not(feature = "apm"))]
        Err(MediaError::Codec("not available: built without the `apm` feature".into()))
    }

    #[cfg(feature = "apm")]
    fn with(apm: webrtc_audio_processing::Processor) -> Processor {
        Processor {
            apm,
            settings: Settings::default(),
            up: Up::new(),
            down: Down::new(),
            wide: Vec::with_capacity(3 * BLOCK),
            pending: Vec::new(),
            voice: None,
        }
    }

    /// The far-end half of the same module, for the thread that plays.
    pub fn render_side(&self) -> Processor {
        #[cfg(feature = "apm")]
        {
            Processor::with(self.apm.clone())
        }
        #[cfg(not(feature = "apm"))]
        unreachable!("no Processor exists without the apm feature")
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Turns processing stages on or off (takes effect at the next block).
    pub fn set(&mut self, s: Settings) {
        if s == self.settings {
            return;
        }
        self.settings = s;
        #[cfg(feature = "apm")]
        {
            use webrtc_audio_processing as w;
            let config = w::Config {
                echo_cancellation: s.echo.then_some(w::EchoCancellation {
                    suppression_level: w::EchoCancellationSuppressionLevel::High,
                    enable_extended_filter: true,
                    enable_delay_agnostic: true,
                    stream_delay_ms: None,
                }),
                gain_control: s.gain.then_some(w::GainControl {
                    mode: w::GainControlMode::AdaptiveDigital,
                    target_level_dbfs: 3,
                    compression_gain_db: 15,
                    enable_limiter: true,
                }),
                noise_suppression: s
                    .noise
                    .then_some(w::NoiseSuppression { suppression_level: w::NoiseSuppressionLevel::High }),
                voice_detection: s
                    .voice
                    .then_some(w::VoiceDetection { detection_likelihood: w::VoiceDetectionLikelihood::Moderate }),
                enable_transient_suppressor: false,
                enable_high_pass_filter: s.any(),
            };
            self.apm.set_config(config);
        }
    }

    /// Processes microphone samples in place, each whole 10 ms block (a
    /// tail shorter than a block is left as it is).
    pub fn capture(&mut self, samples: &mut [i16]) {
        for block in samples.chunks_exact_mut(BLOCK) {
            self.up.run(block, &mut self.wide);
            #[cfg(feature = "apm")]
            {
                if let Err(e) = self.apm.process_capture_frame(&mut self.wide) {
                    tracing::debug!("audio processing: {e}");
                }
                self.voice = self.apm.get_stats().has_voice;
            }
            self.down.run(&self.wide, block);
        }
    }

    /// Whether the last block captured had voice (None: voice detection off).
    pub fn voice(&self) -> Option<bool> {
        self.voice.filter(|_| self.settings.voice)
    }

    /// Takes far-end samples (what the speaker plays), any length.
    pub fn render(&mut self, samples: &[i16]) {
        self.pending.extend_from_slice(samples);
        let whole = self.pending.len() / BLOCK * BLOCK;
        for b in 0..whole / BLOCK {
            let block: Vec<i16> = self.pending[b * BLOCK..(b + 1) * BLOCK].to_vec();
            self.up.run(&block, &mut self.wide);
            #[cfg(feature = "apm")]
            if let Err(e) = self.apm.process_render_frame(&mut self.wide) {
                tracing::debug!("audio processing (far end): {e}");
            }
        }
        self.pending.drain(..whole);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::audio::bytes_of;
    use crate::codec::patterns::{energy, tone_pcm16};
    use crate::codec::AudioFormat;

    const F16: AudioFormat = AudioFormat { channels: 1, samples_per_sec: RATE, bits_per_sample: 16 };

    fn rms(s: &[i16]) -> f64 {
        energy(&bytes_of(s))
    }

    /// Deterministic white noise of RMS about `amp / sqrt(3)`.
    fn noise(n: usize, amp: f64, seed: u64) -> Vec<i16> {
        let mut z = seed;
        (0..n)
            .map(|_| {
                z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (((z >> 33) as f64 / (1u64 << 31) as f64 * 2.0 - 1.0) * amp) as i16
            })
            .collect()
    }

    #[test]
    fn the_resampler_keeps_a_tone() {
        let mut up = Up::new();
        let mut down = Down::new();
        let tone = crate::codec::audio::samples_of(&tone_pcm16(&F16, 1000.0, 8000, 0, 1600));
        let mut out = vec![0i16; 1600];
        let mut wide = Vec::new();
        for (i, o) in tone.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
            up.run(i, &mut wide);
            down.run(&wide, o);
        }
        let (a, b) = (rms(&tone[400..]), rms(&out[400..]));
        assert!((b / a - 1.0).abs() < 0.05, "rms {a} in, {b} out");
    }

    #[cfg(feature = "apm")]
    #[test]
    fn noise_suppression_lowers_white_noise() {
        let mut p = Processor::new().unwrap();
        p.set(Settings { noise: true, ..Settings::default() });
        let mut s = noise(RATE as usize * 3, 3000.0, 1);
        let before = rms(&s[RATE as usize * 2..]);
        for frame in s.chunks_mut(2 * BLOCK) {
            p.capture(frame);
        }
        let after = rms(&s[RATE as usize * 2..]);
        assert!(after < before / 3.0, "white noise rms {before} before, {after} after");
    }

    #[cfg(feature = "apm")]
    #[test]
    fn gain_control_raises_a_quiet_tone() {
        let mut p = Processor::new().unwrap();
        p.set(Settings { gain: true, ..Settings::default() });
        let mut s = crate::codec::audio::samples_of(&tone_pcm16(&F16, 440.0, 300, 0, RATE as usize * 4));
        let before = rms(&s[RATE as usize * 3..]);
        for frame in s.chunks_mut(2 * BLOCK) {
            p.capture(frame);
        }
        let after = rms(&s[RATE as usize * 3..]);
        assert!(after > before * 2.0, "quiet tone rms {before} before, {after} after");
    }

    #[cfg(feature = "apm")]
    #[test]
    fn echo_cancellation_attenuates_the_far_end_echo() {
        let mut mic = Processor::new().unwrap();
        let mut speaker = mic.render_side();
        mic.set(Settings { echo: true, ..Settings::default() });
        let seconds = 8;
        // The far end: noise shaped into syllables; the microphone hears it
        // 30 ms later at half the level.
        let far: Vec<i16> = noise(RATE as usize * seconds, 6000.0, 7)
            .iter()
            .enumerate()
            .map(|(i, &x)| if (i / 3200) % 3 == 2 { 0 } else { x })
            .collect();
        let delay = 480;
        let mut near: Vec<i16> = (0..far.len()).map(|i| if i < delay { 0 } else { far[i - delay] / 2 }).collect();
        let input = near.clone();
        for (f, n) in far.chunks(2 * BLOCK).zip(near.chunks_mut(2 * BLOCK)) {
            speaker.render(f);
            mic.capture(n);
        }
        let tail = RATE as usize * (seconds - 3);
        let (before, after) = (rms(&input[tail..]), rms(&near[tail..]));
        assert!(after < before / 4.0, "echo rms {before} before, {after} after");
    }
}
