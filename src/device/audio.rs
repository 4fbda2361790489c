//! Microphones and speakers: 16-bit PCM in and out of ALSA (feature
//! `alsa`), and the fake devices of tests and demos, behind one interface
//! ([`Capture`], [`Playback`]) so that the client's capture and playback
//! threads run the same code on either.
//!
//! Every call here may block (a device read or write waits for the
//! device's clock): they run only on the threads of the devices
//! (`anychat-mic`, `anychat-speaker`), never on the network thread and
//! never with a library lock held.
//!
//! **Fake devices**, selected by environment variables read when the
//! devices are listed or opened:
//! - `ANYCHAT_FAKE_MIC=tone:FREQ[:SECONDS]` — a microphone named
//!   [`FAKE_MIC`] giving a sine of `FREQ` Hz (peak 8000), for `SECONDS`
//!   (then it ends, as an unplugged device does) or for ever;
//!   `ANYCHAT_FAKE_MIC=wav:PATH` — one giving a 16-bit PCM `.wav` file
//!   (its first channel, its rate converted), which ends with the file.
//! - `ANYCHAT_FAKE_SPEAKER=PATH` — a speaker named [`FAKE_SPEAKER`] that
//!   writes what it plays to the `.wav` file `PATH` (its header kept
//!   valid after every write).
//!
//! Both run on the wall clock like a sound card (a read or write of 20 ms
//! takes 20 ms), so the threads above them are paced as by real hardware.
//! Listed first, they are the default devices while set.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

/// The name of the fake microphone (`ANYCHAT_FAKE_MIC`).
pub const FAKE_MIC: &str = "anychat-fake-mic";
/// The name of the fake speaker (`ANYCHAT_FAKE_SPEAKER`).
pub const FAKE_SPEAKER: &str = "anychat-fake-speaker";

/// Why a device cannot be opened or stopped working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceError {
    /// No device of that name.
    NotFound(String),
    /// The device exists but could not be opened or set up.
    Open(String),
    /// The device failed while running.
    Io(String),
    /// The device ended (unplugged; a fake device's source ran out).
    Ended,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::NotFound(n) => write!(f, "no audio device named '{n}'"),
            DeviceError::Open(e) => write!(f, "cannot open the audio device: {e}"),
            DeviceError::Io(e) => write!(f, "audio device error: {e}"),
            DeviceError::Ended => write!(f, "the audio device ended"),
        }
    }
}

/// A microphone: interleaved 16-bit samples at the rate and channel count
/// it was opened with.
pub trait Capture {
    /// Fills `out` (blocking until the device has that much).
    fn read(&mut self, out: &mut [i16]) -> Result<(), DeviceError>;
}

/// A speaker.
pub trait Playback {
    /// Plays `pcm` (blocking while the device's buffer is full).
    fn write(&mut self, pcm: &[i16]) -> Result<(), DeviceError>;
}

/// What `ANYCHAT_FAKE_MIC` asks for.
#[derive(Debug, Clone, PartialEq)]
enum FakeMicSpec {
    Tone { freq: f64, secs: Option<f64> },
    Wav(String),
}

fn fake_mic_spec() -> Option<FakeMicSpec> {
    let v = std::env::var("ANYCHAT_FAKE_MIC").ok()?;
    parse_fake_mic(&v)
}

fn parse_fake_mic(v: &str) -> Option<FakeMicSpec> {
    if let Some(path) = v.strip_prefix("wav:") {
        return Some(FakeMicSpec::Wav(path.to_string()));
    }
    let rest = v.strip_prefix("tone:")?;
    let mut it = rest.split(':');
    let freq = it.next()?.parse().ok().filter(|f: &f64| *f > 0.0 && *f < 24000.0)?;
    let secs = match it.next() {
        Some(s) => Some(s.parse().ok().filter(|s: &f64| *s >= 0.0)?),
        None => None,
    };
    Some(FakeMicSpec::Tone { freq, secs })
}

fn fake_speaker_path() -> Option<String> {
    std::env::var("ANYCHAT_FAKE_SPEAKER").ok().filter(|p| !p.is_empty())
}

/// The microphones, by name: the fake one first when set, then ALSA's
/// capture devices (none without the `alsa` feature or a sound library).
pub fn capture_names() -> Vec<String> {
    let mut names: Vec<String> = fake_mic_spec().map(|_| FAKE_MIC.to_string()).into_iter().collect();
    names.extend(alsa_names(true));
    names
}

/// The speakers, by name: the fake one first when set, then ALSA's.
pub fn playback_names() -> Vec<String> {
    let mut names: Vec<String> = fake_speaker_path().map(|_| FAKE_SPEAKER.to_string()).into_iter().collect();
    names.extend(alsa_names(false));
    names
}

/// Opens microphone `name` (None: the first listed, else ALSA's "default")
/// for 16-bit PCM at `rate` Hz, `channels` channels.
pub fn open_capture(name: Option<&str>, rate: u32, channels: u16) -> Result<Box<dyn Capture>, DeviceError> {
    let name = name.map(str::to_string).or_else(|| capture_names().into_iter().next());
    match name.as_deref() {
        Some(FAKE_MIC) => {
            let spec = fake_mic_spec().ok_or_else(|| DeviceError::NotFound(FAKE_MIC.into()))?;
            Ok(Box::new(FakeMic::new(spec, rate, channels)?))
        }
        other => open_alsa_capture(other.unwrap_or("default"), rate, channels),
    }
}

/// Opens speaker `name` (None: the first listed, else ALSA's "default").
pub fn open_playback(name: Option<&str>, rate: u32, channels: u16) -> Result<Box<dyn Playback>, DeviceError> {
    let name = name.map(str::to_string).or_else(|| playback_names().into_iter().next());
    match name.as_deref() {
        Some(FAKE_SPEAKER) => {
            let path = fake_speaker_path().ok_or_else(|| DeviceError::NotFound(FAKE_SPEAKER.into()))?;
            Ok(Box::new(WavSpeaker::create(&path, rate, channels)?))
        }
        other => open_alsa_playback(other.unwrap_or("default"), rate, channels),
    }
}

// ----- the wall clock of the fake devices --------------------------------------

/// Paces a fake device like a sound card's clock: the call that completes
/// sample `n` returns at `start + n / rate`.
struct Clock {
    start: Option<Instant>,
    rate: u32,
    samples: u64,
}

impl Clock {
    fn new(rate: u32) -> Clock {
        Clock { start: None, rate: rate.max(1), samples: 0 }
    }

    fn advance(&mut self, frames: usize) {
        let start = *self.start.get_or_insert_with(Instant::now);
        self.samples += frames as u64;
        let due = start + Duration::from_secs_f64(self.samples as f64 / f64::from(self.rate));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

// ----- the fake microphone -------------------------------------------------------

struct FakeMic {
    clock: Clock,
    rate: u32,
    channels: u16,
    /// The tone's frequency, or the file's samples (mono, at `rate`).
    source: MicSource,
    /// Sample frames given so far.
    pos: u64,
    /// Sample frames it gives in all (None: for ever).
    len: Option<u64>,
}

enum MicSource {
    Tone(f64),
    Samples(Vec<i16>),
}

impl FakeMic {
    fn new(spec: FakeMicSpec, rate: u32, channels: u16) -> Result<FakeMic, DeviceError> {
        let (source, len) = match spec {
            FakeMicSpec::Tone { freq, secs } => (MicSource::Tone(freq), secs.map(|s| (s * f64::from(rate)) as u64)),
            FakeMicSpec::Wav(path) => {
                let samples = read_wav_mono(&path, rate)?;
                let n = samples.len() as u64;
                (MicSource::Samples(samples), Some(n))
            }
        };
        Ok(FakeMic { clock: Clock::new(rate), rate, channels: channels.max(1), source, pos: 0, len })
    }
}

impl Capture for FakeMic {
    fn read(&mut self, out: &mut [i16]) -> Result<(), DeviceError> {
        let ch = usize::from(self.channels);
        let frames = out.len() / ch;
        if self.len.is_some_and(|len| self.pos + frames as u64 > len) {
            return Err(DeviceError::Ended);
        }
        self.clock.advance(frames);
        for (i, frame) in out.chunks_exact_mut(ch).enumerate() {
            let n = self.pos + i as u64;
            let v = match &self.source {
                MicSource::Tone(freq) => {
                    let t = n as f64 / f64::from(self.rate);
                    (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
                }
                MicSource::Samples(s) => s.get(n as usize).copied().unwrap_or(0),
            };
            frame.fill(v);
        }
        self.pos += frames as u64;
        Ok(())
    }
}

/// A 16-bit PCM `.wav` file's first channel at `rate` Hz (nearest sample).
fn read_wav_mono(path: &str, rate: u32) -> Result<Vec<i16>, DeviceError> {
    let open = |e: std::io::Error| DeviceError::Open(format!("{path}: {e}"));
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(open)?;
    let bad = |what: &str| DeviceError::Open(format!("{path}: {what}"));
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a RIFF WAVE file"));
    }
    let (mut at, mut fmt, mut data) = (12, None, None);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let body = &bytes[at + 8..(at + 8).saturating_add(len).min(bytes.len())];
        if id == b"fmt " && body.len() >= 16 {
            let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
            let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            fmt = Some((u16_at(0), u16_at(2), rate, u16_at(14)));
        } else if id == b"data" {
            data = Some(body);
        }
        at = at + 8 + len + (len & 1);
    }
    let (tag, channels, file_rate, bits) = fmt.ok_or_else(|| bad("no fmt chunk"))?;
    let data = data.ok_or_else(|| bad("no data chunk"))?;
    if tag != 1 || bits != 16 || channels == 0 || file_rate == 0 {
        return Err(bad("not 16-bit PCM"));
    }
    let first: Vec<i16> =
        data.chunks_exact(2 * usize::from(channels)).map(|f| i16::from_le_bytes([f[0], f[1]])).collect();
    let n = (first.len() as u64 * u64::from(rate) / u64::from(file_rate)) as usize;
    Ok((0..n).map(|i| first[(i as u64 * u64::from(file_rate) / u64::from(rate)) as usize]).collect())
}

// ----- the fake speaker ------------------------------------------------------------

/// Writes what it plays to a `.wav` file, paced by the wall clock.
struct WavSpeaker {
    file: File,
    clock: Clock,
    data_len: u32,
    channels: usize,
}

fn wav_header(rate: u32, channels: u16, data_len: u32) -> Vec<u8> {
    let block = channels * 2;
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    h.extend_from_slice(&block.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

impl WavSpeaker {
    fn create(path: &str, rate: u32, channels: u16) -> Result<WavSpeaker, DeviceError> {
        let mut file = File::create(path).map_err(|e| DeviceError::Open(format!("{path}: {e}")))?;
        file.write_all(&wav_header(rate, channels, 0)).map_err(|e| DeviceError::Open(format!("{path}: {e}")))?;
        Ok(WavSpeaker { file, clock: Clock::new(rate), data_len: 0, channels: usize::from(channels.max(1)) })
    }
}

impl Playback for WavSpeaker {
    fn write(&mut self, pcm: &[i16]) -> Result<(), DeviceError> {
        let io = |e: std::io::Error| DeviceError::Io(e.to_string());
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.file.seek(SeekFrom::End(0)).map_err(io)?;
        self.file.write_all(&bytes).map_err(io)?;
        self.data_len = self.data_len.saturating_add(bytes.len() as u32);
        // Keep the header's sizes true, so the file is whole at any time.
        self.file.seek(SeekFrom::Start(4)).map_err(io)?;
        self.file.write_all(&(36 + self.data_len).to_le_bytes()).map_err(io)?;
        self.file.seek(SeekFrom::Start(40)).map_err(io)?;
        self.file.write_all(&self.data_len.to_le_bytes()).map_err(io)?;
        self.clock.advance(pcm.len() / self.channels);
        Ok(())
    }
}

// ----- ALSA ----------------------------------------------------------------------------

#[cfg(feature = "alsa")]
mod alsa_pcm {
    use super::{Capture, DeviceError, Playback};
    use alsa::pcm::{Access, Format, HwParams, PCM};
    use alsa::{Direction, ValueOr};

    /// ALSA's PCM devices of that direction (hints), "default" first.
    pub fn names(capture: bool) -> Vec<String> {
        let want = if capture { Direction::Capture } else { Direction::Playback };
        let Ok(hints) = alsa::device_name::HintIter::new_str(None, "pcm") else { return Vec::new() };
        let mut names: Vec<String> = hints
            .filter(|h| h.direction.is_none_or(|d| d == want))
            .filter_map(|h| h.name)
            .filter(|n| n != "null")
            .collect();
        if let Some(i) = names.iter().position(|n| n == "default") {
            let d = names.remove(i);
            names.insert(0, d);
        }
        names
    }

    fn open(name: &str, dir: Direction, rate: u32, channels: u16) -> Result<PCM, DeviceError> {
        let pcm = PCM::new(name, dir, false).map_err(|e| DeviceError::Open(format!("{name}: {e}")))?;
        {
            let setup = |e: alsa::Error| DeviceError::Open(format!("{name}: {e}"));
            let hwp = HwParams::any(&pcm).map_err(setup)?;
            hwp.set_access(Access::RWInterleaved).map_err(setup)?;
            hwp.set_format(Format::s16()).map_err(setup)?;
            hwp.set_channels(u32::from(channels)).map_err(setup)?;
            hwp.set_rate(rate, ValueOr::Nearest).map_err(setup)?;
            let period = i64::from(rate / 50);
            hwp.set_period_size_near(period, ValueOr::Nearest).map_err(setup)?;
            hwp.set_buffer_size_near(period * 4).map_err(setup)?;
            pcm.hw_params(&hwp).map_err(setup)?;
        }
        Ok(pcm)
    }

    pub struct AlsaCapture(PCM);
    pub struct AlsaPlayback(PCM);

    pub fn capture(name: &str, rate: u32, channels: u16) -> Result<Box<dyn Capture>, DeviceError> {
        let pcm = open(name, Direction::Capture, rate, channels)?;
        pcm.start().map_err(|e| DeviceError::Open(format!("{name}: {e}")))?;
        Ok(Box::new(AlsaCapture(pcm)))
    }

    pub fn playback(name: &str, rate: u32, channels: u16) -> Result<Box<dyn Playback>, DeviceError> {
        Ok(Box::new(AlsaPlayback(open(name, Direction::Playback, rate, channels)?)))
    }

    /// Recovers from an overrun/underrun (or a suspend); anything else
    /// (a device unplugged) is the device's end.
    fn recover(pcm: &PCM, e: alsa::Error) -> Result<(), DeviceError> {
        pcm.try_recover(e, true).map_err(|e| match e.errno() {
            libc::ENODEV | libc::EBADFD => DeviceError::Ended,
            _ => DeviceError::Io(e.to_string()),
        })
    }

    impl Capture for AlsaCapture {
        fn read(&mut self, out: &mut [i16]) -> Result<(), DeviceError> {
            let io = self.0.io_i16().map_err(|e| DeviceError::Io(e.to_string()))?;
            let channels = self.0.hw_params_current().and_then(|h| h.get_channels()).unwrap_or(1).max(1) as usize;
            let mut at = 0;
            while at < out.len() {
                match io.readi(&mut out[at..]) {
                    Ok(0) => return Err(DeviceError::Ended),
                    Ok(frames) => at += frames * channels,
                    Err(e) => recover(&self.0, e)?,
                }
            }
            Ok(())
        }
    }

    impl Playback for AlsaPlayback {
        fn write(&mut self, pcm: &[i16]) -> Result<(), DeviceError> {
            let io = self.0.io_i16().map_err(|e| DeviceError::Io(e.to_string()))?;
            let channels = self.0.hw_params_current().and_then(|h| h.get_channels()).unwrap_or(1).max(1) as usize;
            let mut at = 0;
            while at < pcm.len() {
                match io.writei(&pcm[at..]) {
                    Ok(frames) => at += frames * channels,
                    Err(e) => recover(&self.0, e)?,
                }
            }
            Ok(())
        }
    }
}

#[cfg(feature = "alsa")]
fn alsa_names(capture: bool) -> Vec<String> {
    alsa_pcm::names(capture)
}

#[cfg(not(feature = "alsa"))]
fn alsa_names(_capture: bool) -> Vec<String> {
    Vec::new()
}

fn exists(name: &str, capture: bool) -> bool {
    name == "default" || alsa_names(capture).iter().any(|n| n == name)
}

#[cfg(feature = "alsa")]
fn open_alsa_capture(name: &str, rate: u32, channels: u16) -> Result<Box<dyn Capture>, DeviceError> {
    if !exists(name, true) {
        return Err(DeviceError::NotFound(name.into()));
    }
    alsa_pcm::capture(name, rate, channels)
}

#[cfg(feature = "alsa")]
fn open_alsa_playback(name: &str, rate: u32, channels: u16) -> Result<Box<dyn Playback>, DeviceError> {
    if !exists(name, false) {
        return Err(DeviceError::NotFound(name.into()));
    }
    alsa_pcm::playback(name, rate, channels)
}

#[cfg(not(feature = "alsa"))]
fn open_alsa_capture(name: &str, _rate: u32, _channels: u16) -> Result<Box<dyn Capture>, DeviceError> {
    let _ = exists(name, true);
    Err(DeviceError::NotFound(format!("{name} (built without the `alsa` feature)")))
}

#[cfg(not(feature = "alsa"))]
fn open_alsa_playback(name: &str, _rate: u32, _channels: u16) -> Result<Box<dyn Playback>, DeviceError> {
    let _ = exists(name, false);
    Err(DeviceError::NotFound(format!("{name} (built without the `alsa` feature)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_mic_specs_parse() {
        assert_eq!(parse_fake_mic("tone:440"), Some(FakeMicSpec::Tone { freq: 440.0, secs: None }));
        assert_eq!(parse_fake_mic("tone:1000:2.5"), Some(FakeMicSpec::Tone { freq: 1000.0, secs: Some(2.5) }));
        assert_eq!(parse_fake_mic("wav:/tmp/a.wav"), Some(FakeMicSpec::Wav("/tmp/a.wav".into())));
        assert_eq!(parse_fake_mic("tone:x"), None);
        assert_eq!(parse_fake_mic("tone:-5"), None);
        assert_eq!(parse_fake_mic("beep"), None);
    }

    #[test]
    fn a_tone_mic_ends_and_a_wav_speaker_writes_a_valid_file_that_a_wav_mic_reads_back() {
        let dir = std::env::temp_dir().join(format!("anychat-dev-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.wav");
        let mut mic = FakeMic::new(FakeMicSpec::Tone { freq: 500.0, secs: Some(0.04) }, 8000, 1).unwrap();
        let mut spk = WavSpeaker::create(path.to_str().unwrap(), 8000, 1).unwrap();
        let mut buf = vec![0i16; 160];
        mic.read(&mut buf).unwrap();
        spk.write(&buf).unwrap();
        mic.read(&mut buf).unwrap();
        spk.write(&buf).unwrap();
        assert_eq!(mic.read(&mut buf), Err(DeviceError::Ended));
        let back = read_wav_mono(path.to_str().unwrap(), 8000).unwrap();
        assert_eq!(back.len(), 320);
        assert_eq!(&back[160..], &buf[..]);
        let mut wav_mic = FakeMic::new(FakeMicSpec::Wav(path.to_str().unwrap().into()), 16000, 1).unwrap();
        let mut twice = vec![0i16; 640];
        wav_mic.read(&mut twice).unwrap();
        assert_eq!(twice[2], back[1]);
        assert_eq!(wav_mic.read(&mut twice), Err(DeviceError::Ended));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
