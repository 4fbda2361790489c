//! The client's audio: its own audio encoded to Opus (or sent as PCM), the
//! Opus decoders of the users it hears, the playout mix, and the threads of
//! its microphone (`anychat-mic`) and speaker (`anychat-speaker`).
//!
//! - **Sending.** 16-bit PCM from `BRAC_InputAudioData` (on the app's
//!   thread) or from the microphone (on `anychat-mic`) goes through one
//!   [`OwnAudio`]: Opus frames of 20 ms when this build has Opus, the rate
//!   is one Opus takes and the server did not ask for PCM
//!   (`ServerMsg::AudioCodec`); PCM otherwise.
//! - **Receiving.** The network thread decodes Opus with no lock held
//!   ([`Decoders`]) and hands the PCM to the audio callbacks and to the
//!   playout [`Mixer`] (one bounded jitter buffer per user).
//! - **Playing.** With `BRAC_FUNC_AUDIO_AUTOPLAY`, `anychat-speaker` pulls
//!   20 ms of the mix at a time and writes it to the speaker; without it
//!   `BRAC_FetchAudioPlayBuffer` pulls from the same mix.
//! - **Processing.** With `BRAC_SO_AUDIO_ECHOCTRL`, `NSCTRL`, `AGCCTRL` or
//!   `VADCTRL` on, `anychat-mic` runs each chunk through
//!   [`Processor`] (WebRTC's audio processing, feature `apm`) before it is
//!   encoded; for echo cancellation the speaker thread (or
//!   `BRAC_FetchAudioPlayBuffer`) gives what it plays to the processor's
//!   far-end half.
//!
//! Device reads and writes happen only on the two device threads, with no
//! library lock held: the mixer's own lock is taken for a pull or a push,
//! never across a device call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

use super::runtime::{ToNet, Uplink};
use super::state::{pcm_level, Code, State};
use super::Command;
use crate::codec::audio::{bytes_of, opus_built, opus_rate, Mixer, OpusDecoder, OpusEncoder, MIX_FORMAT};
use crate::codec::processing::{Processor, Settings};
use crate::codec::AudioFormat;
use crate::device::audio as dev;
use crate::net::link::Mailbox;
use crate::wire::constants::*;
use crate::wire::protocol::{ClientMsg, MediaHeader, MediaOut, CAP_OPUS, CODEC_OPUS, MEDIA_AUDIO};

/// The format the microphone is captured in: 16-bit mono at 16,000 Hz.
pub const MIC_FORMAT: AudioFormat = MIX_FORMAT;
/// Samples the device threads read or write at a time (20 ms).
const PERIOD: usize = (MIX_FORMAT.samples_per_sec / 50) as usize;

/// `WM_GV_AUDIORECCTRL` / `WM_GV_AUDIOPLAYCTRL` `lParam`: the device
/// could not be opened.
pub const DEVICE_OPEN_FAILED: u32 = 1;
/// … the device ended (unplugged, a fake device's source ran out) or failed.
pub const DEVICE_ENDED: u32 = 2;

/// Whether this library sends and decodes Opus: built with it, and not
/// turned off with `ANYCHAT_NO_OPUS=1` (which makes it behave as a client
/// without Opus: it sends PCM and is sent PCM).
pub fn opus_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| opus_built() && std::env::var_os("ANYCHAT_NO_OPUS").is_none_or(|v| v.is_empty() || v == "0"))
}

/// What this client tells the server it decodes (`ClientMsg::Caps`).
pub fn caps() -> u32 {
    if opus_enabled() {
        CAP_OPUS
    } else {
        0
    }
}

/// Sends this client's own 16-bit PCM: the one path of
/// `BRAC_InputAudioData` and the microphone.
pub(crate) struct OwnAudio {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) uplink: Arc<Uplink>,
    pub(crate) mailbox: Mailbox<ToNet>,
    encoder: Mutex<Option<OpusEncoder>>,
}

impl OwnAudio {
    pub(crate) fn new(state: Arc<Mutex<State>>, uplink: Arc<Uplink>, mailbox: Mailbox<ToNet>) -> OwnAudio {
        OwnAudio { state, uplink, mailbox, encoder: Mutex::new(None) }
    }

    /// Queues a media frame for the server (dropped when the uplink is full).
    pub(crate) fn send_media(&self, header: MediaHeader, data: &[u8]) -> bool {
        let video = header.kind != MEDIA_AUDIO;
        let mut bytes = Vec::with_capacity(data.len() + 40);
        ClientMsg::Media { header, data: data.to_vec() }.encode(&mut bytes);
        if !self.uplink.admit(bytes.len()) {
            return false;
        }
        let frame = MediaOut { bytes, from: 0, video, key: header.key || !video };
        self.mailbox.send(ToNet::Command(Command::Media(Arc::new(frame))));
        true
    }

    /// 16-bit PCM of `format` (whole sample frames), checked by the caller;
    /// sent only while logged in with the microphone open (else 0, nothing
    /// sent). Keeps one's own speech level.
    pub(crate) fn send_pcm(&self, format: AudioFormat, pcm: &[u8], timestamp: u32) -> Code {
        self.send_pcm_voiced(format, pcm, timestamp, None)
    }

    /// [`OwnAudio::send_pcm`], and with voice detection on (`voice` Some)
    /// a chunk without voice counts as a speech level of 0.
    fn send_pcm_voiced(&self, format: AudioFormat, pcm: &[u8], timestamp: u32, voice: Option<bool>) -> Code {
        let pcm_only = {
            let mut st = self.state.lock();
            match st.may_send(false) {
                Err(e) => return e,
                Ok(false) => return 0,
                Ok(true) => {}
            }
            st.own_level(if voice == Some(false) { 0 } else { pcm_level(pcm) }, Instant::now());
            st.audio_pcm
        };
        let b = (u32::from(format.channels) << 16) | 16;
        let pcm_header =
            MediaHeader { kind: MEDIA_AUDIO, key: true, codec: 0, timestamp, a: format.samples_per_sec, b };
        if pcm_only || !opus_enabled() || !opus_rate(format.samples_per_sec) {
            *self.encoder.lock() = None;
            self.send_media(pcm_header, pcm);
            return 0;
        }
        let mut guard = self.encoder.lock();
        if guard.as_ref().is_none_or(|e| e.format() != format) {
            match OpusEncoder::new(format) {
                Ok(e) => *guard = Some(e),
                Err(e) => {
                    tracing::warn!("no Opus encoder: {e}; audio goes as PCM");
                    drop(guard);
                    self.send_media(pcm_header, pcm);
                    return 0;
                }
            }
        }
        let Some(enc) = guard.as_mut() else { return 0 };
        // The first frame completed began before this chunk by what waited.
        let waiting_ms =
            (enc.pending() / usize::from(format.channels)) as u64 * 1000 / u64::from(format.samples_per_sec);
        let packets = match enc.push(pcm) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("audio not encoded: {e}");
                return 0;
            }
        };
        drop(guard);
        for (i, p) in packets.iter().enumerate() {
            let ts = timestamp.wrapping_sub(waiting_ms as u32).wrapping_add(20 * i as u32);
            self.send_media(MediaHeader { codec: CODEC_OPUS, timestamp: ts, ..pcm_header }, p);
        }
        0
    }

    fn notify(&self, msg: u32, wparam: u32, lparam: u32) {
        self.mailbox.send(ToNet::Command(Command::Notify { msg, wparam, lparam }));
    }
}

/// The Opus decoders of the users whose audio arrives (network thread).
#[derive(Default)]
pub(crate) struct Decoders(HashMap<u32, OpusDecoder>);

impl Decoders {
    /// `from`'s Opus frame as 16-bit PCM; None when it does not decode.
    pub(crate) fn decode(&mut self, from: u32, header: &MediaHeader, data: &[u8]) -> Option<Vec<u8>> {
        if !opus_enabled() {
            return None;
        }
        let format = AudioFormat { channels: (header.b >> 16) as u16, samples_per_sec: header.a, bits_per_sample: 16 };
        let dec = match self.0.entry(from) {
            std::collections::hash_map::Entry::Occupied(e) if e.get().format() == format => e.into_mut(),
            entry => {
                let d = OpusDecoder::new(format)
                    .map_err(|e| tracing::debug!(from, "no Opus decoder for this audio: {e}"))
                    .ok()?;
                match entry {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        e.insert(d);
                        e.into_mut()
                    }
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(d),
                }
            }
        };
        dec.decode(data).map_err(|e| tracing::debug!(from, "audio frame not decoded: {e}")).ok()
    }

    pub(crate) fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        self.0.retain(|u, _| keep(*u));
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// A device thread and its stop flag.
struct Worker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Worker {
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
    }
}

/// The microphone and speaker of one initialised SDK.
pub(crate) struct Devices {
    own: Arc<OwnAudio>,
    /// The playout mix, fed by the network thread.
    pub(crate) playout: Arc<Mutex<Mixer>>,
    /// `BRAC_SelectAudioCapture` / `SelectAudioPlayback` (None: the first listed).
    mic: Mutex<Option<String>>,
    speaker: Mutex<Option<String>>,
    /// `BRAC_AudioSetVolume`, 0–100 (100: as captured / as received).
    mic_volume: Arc<AtomicU32>,
    speaker_volume: Arc<AtomicU32>,
    capture: Mutex<Option<Worker>>,
    player: Mutex<Option<Worker>>,
    autoplay: AtomicBool,
    /// The far-end half of the microphone's audio processing while it runs
    /// (echo cancellation): what the speaker plays, or the app fetches, is
    /// given to it.
    far_end: Arc<Mutex<Option<Processor>>>,
}

impl Devices {
    pub(crate) fn new(own: Arc<OwnAudio>, playout: Arc<Mutex<Mixer>>) -> Devices {
        Devices {
            own,
            playout,
            mic: Mutex::new(None),
            speaker: Mutex::new(None),
            mic_volume: Arc::new(AtomicU32::new(100)),
            speaker_volume: Arc::new(AtomicU32::new(100)),
            capture: Mutex::new(None),
            player: Mutex::new(None),
            autoplay: AtomicBool::new(false),
            far_end: Arc::new(Mutex::new(None)),
        }
    }

    pub(crate) fn own(&self) -> &OwnAudio {
        &self.own
    }

    /// The device selected (or the first listed); "" when there is none.
    pub(crate) fn current(&self, capture: bool) -> String {
        let chosen = if capture { self.mic.lock().clone() } else { self.speaker.lock().clone() };
        chosen.or_else(|| Self::names(capture).into_iter().next()).unwrap_or_default()
    }

    pub(crate) fn names(capture: bool) -> Vec<String> {
        if capture {
            dev::capture_names()
        } else {
            dev::playback_names()
        }
    }

    /// `BRAC_SelectAudioCapture` / `SelectAudioPlayback`: a device listed
    /// by the enumeration (else 21); a running device thread moves to it.
    pub(crate) fn select(&self, capture: bool, name: &str) -> Code {
        if !Self::names(capture).iter().any(|n| n == name) {
            return GV_ERR_FUNCOPTERROR;
        }
        if capture {
            *self.mic.lock() = Some(name.to_string());
            if self.capture.lock().is_some() {
                self.start_capture();
            }
        } else {
            *self.speaker.lock() = Some(name.to_string());
            if self.player.lock().is_some() {
                self.start_player();
            }
        }
        0
    }

    pub(crate) fn volume(&self, capture: bool) -> u32 {
        if capture { &self.mic_volume } else { &self.speaker_volume }.load(Ordering::Relaxed)
    }

    pub(crate) fn set_volume(&self, capture: bool, v: u32) {
        if capture { &self.mic_volume } else { &self.speaker_volume }.store(v.min(100), Ordering::Relaxed);
    }

    /// Starts (or restarts, on the device selected now) the microphone thread.
    pub(crate) fn start_capture(&self) {
        self.stop_capture();
        let stop = Arc::new(AtomicBool::new(false));
        let (own, name, volume, flag, far_end) =
            (self.own.clone(), self.mic.lock().clone(), self.mic_volume.clone(), stop.clone(), self.far_end.clone());
        let spawned = std::thread::Builder::new().name("anychat-mic".into()).spawn(move || {
            capture_thread(&own, name.as_deref(), &volume, &flag, &far_end);
            *far_end.lock() = None;
        });
        match spawned {
            Ok(thread) => *self.capture.lock() = Some(Worker { stop, thread }),
            Err(e) => tracing::warn!("cannot start the microphone thread: {e}"),
        }
    }

    pub(crate) fn stop_capture(&self) {
        let worker = self.capture.lock().take();
        if let Some(w) = worker {
            w.stop();
        }
    }

    /// `BRAC_InitSDK` with `BRAC_FUNC_AUDIO_AUTOPLAY`: the speaker thread
    /// plays the mix from now on.
    pub(crate) fn set_autoplay(&self, on: bool) {
        self.autoplay.store(on, Ordering::SeqCst);
        if on {
            self.start_player();
        } else {
            let worker = self.player.lock().take();
            if let Some(w) = worker {
                w.stop();
            }
        }
    }

    pub(crate) fn autoplay(&self) -> bool {
        self.autoplay.load(Ordering::SeqCst)
    }

    fn start_player(&self) {
        let worker = self.player.lock().take();
        if let Some(w) = worker {
            w.stop();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (own, mix, name, volume, flag, far_end) = (
            self.own.clone(),
            self.playout.clone(),
            self.speaker.lock().clone(),
            self.speaker_volume.clone(),
            stop.clone(),
            self.far_end.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("anychat-speaker".into())
            .spawn(move || player_thread(&own, &mix, name.as_deref(), &volume, &flag, &far_end));
        match spawned {
            Ok(thread) => *self.player.lock() = Some(Worker { stop, thread }),
            Err(e) => tracing::warn!("cannot start the speaker thread: {e}"),
        }
    }

    /// `BRAC_FetchAudioPlayBuffer`: `out.len()` bytes (even) of the mix,
    /// 16-bit mono at 16 kHz, silence where nothing is buffered. With
    /// autoplay the speaker plays the mix: 20.
    pub(crate) fn fetch(&self, out: &mut [u8]) -> Code {
        if self.autoplay() {
            return GV_ERR_FUNCNOTALLOW;
        }
        if !out.len().is_multiple_of(2) {
            return GV_ERR_FUNCOPTERROR;
        }
        let mut samples = vec![0i16; out.len() / 2];
        let gain = self.speaker_volume.load(Ordering::Relaxed) as f32 / 100.0;
        self.playout.lock().pull(&mut samples, gain);
        far_end(&self.far_end, &samples);
        out.copy_from_slice(&bytes_of(&samples));
        0
    }

    /// `BRAC_Release`: both threads stop.
    pub(crate) fn shutdown(&self) {
        self.stop_capture();
        self.set_autoplay(false);
    }
}

fn scale(samples: &mut [i16], volume: u32) {
    if volume >= 100 {
        return;
    }
    let g = volume as f32 / 100.0;
    for s in samples {
        *s = (f32::from(*s) * g).round() as i16;
    }
}

/// What the app turned on of the microphone's processing.
fn processing_settings() -> Settings {
    let on = |o| super::sdk_option(o).is_some_and(|v| v != 0);
    Settings {
        echo: on(BRAC_SO_AUDIO_ECHOCTRL),
        noise: on(BRAC_SO_AUDIO_NSCTRL),
        gain: on(BRAC_SO_AUDIO_AGCCTRL),
        voice: on(BRAC_SO_AUDIO_VADCTRL),
    }
}

/// Gives what is played to the echo canceller, when it runs.
fn far_end(slot: &Mutex<Option<Processor>>, played: &[i16]) {
    if let Some(p) = slot.lock().as_mut() {
        if processing_settings().echo {
            p.render(played);
        }
    }
}

/// The microphone's processing, made when first asked for (and its far-end
/// half published for the speaker), configured from the options each chunk.
struct MicProcessing<'a> {
    far_end: &'a Mutex<Option<Processor>>,
    processor: Option<Processor>,
    failed: bool,
}

impl MicProcessing<'_> {
    /// Processes one chunk in place; voice detected (None: detection off).
    fn run(&mut self, samples: &mut [i16]) -> Option<bool> {
        let s = processing_settings();
        if self.processor.is_none() && s.any() && !self.failed {
            match Processor::new() {
                Ok(p) => {
                    *self.far_end.lock() = Some(p.render_side());
                    self.processor = Some(p);
                }
                Err(e) => {
                    tracing::warn!("microphone: {e}");
                    self.failed = true;
                }
            }
        }
        let p = self.processor.as_mut()?;
        p.set(s);
        if !s.any() {
            return None;
        }
        p.capture(samples);
        p.voice()
    }
}

/// `anychat-mic`: reads 20 ms at a time, processes it (echo cancellation,
/// noise suppression, gain control, voice detection: as the options ask)
/// and sends it, until stopped or the device ends
/// (`WM_GV_AUDIORECCTRL(0, DEVICE_ENDED)`).
fn capture_thread(
    own: &OwnAudio,
    name: Option<&str>,
    volume: &AtomicU32,
    stop: &AtomicBool,
    far_end: &Mutex<Option<Processor>>,
) {
    let mut mic = match dev::open_capture(name, MIC_FORMAT.samples_per_sec, MIC_FORMAT.channels) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("microphone: {e}");
            own.notify(WM_GV_AUDIORECCTRL, 0, DEVICE_OPEN_FAILED);
            return;
        }
    };
    tracing::info!("microphone {} open", name.unwrap_or("(default)"));
    own.notify(WM_GV_AUDIORECCTRL, 1, 0);
    let start = Instant::now();
    let mut processing = MicProcessing { far_end, processor: None, failed: false };
    let mut buf = vec![0i16; PERIOD * usize::from(MIC_FORMAT.channels)];
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = mic.read(&mut buf) {
            tracing::warn!("microphone: {e}");
            own.notify(WM_GV_AUDIORECCTRL, 0, DEVICE_ENDED);
            return;
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        scale(&mut buf, volume.load(Ordering::Relaxed));
        let voice = processing.run(&mut buf);
        // Timestamps: ms since the capture began, at the end of the chunk.
        let ts = start.elapsed().as_millis() as u32;
        own.send_pcm_voiced(MIC_FORMAT, &bytes_of(&buf), ts, voice);
    }
}

/// `anychat-speaker`: plays the mix 20 ms at a time until stopped or the
/// device fails (`WM_GV_AUDIOPLAYCTRL(0, DEVICE_ENDED)`).
fn player_thread(
    own: &OwnAudio,
    mix: &Mutex<Mixer>,
    name: Option<&str>,
    volume: &AtomicU32,
    stop: &AtomicBool,
    far: &Mutex<Option<Processor>>,
) {
    let mut speaker = match dev::open_playback(name, MIX_FORMAT.samples_per_sec, MIX_FORMAT.channels) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("speaker: {e}");
            own.notify(WM_GV_AUDIOPLAYCTRL, 0, DEVICE_OPEN_FAILED);
            return;
        }
    };
    tracing::info!("speaker {} open", name.unwrap_or("(default)"));
    own.notify(WM_GV_AUDIOPLAYCTRL, 1, 0);
    let mut buf = vec![0i16; PERIOD];
    while !stop.load(Ordering::SeqCst) {
        let gain = volume.load(Ordering::Relaxed) as f32 / 100.0;
        mix.lock().pull(&mut buf, gain);
        far_end(far, &buf);
        if let Err(e) = speaker.write(&buf) {
            tracing::warn!("speaker: {e}");
            own.notify(WM_GV_AUDIOPLAYCTRL, 0, DEVICE_ENDED);
            return;
        }
    }
}
