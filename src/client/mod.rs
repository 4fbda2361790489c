//! The client library (`BRAC_*`): the API handle [`Client`], its engine
//! and its threads.
//!
//! - [`state`]: what the client knows ([`State`], shared by the API threads
//!   and the network thread under a mutex) and the API side of each call:
//!   pure checks that give the `GV_ERR_*` code at once or the message to
//!   send;
//! - [`engine`]: the sans-IO [`Engine`] (link, session, room, call,
//!   keep-alive, events), fed `now`, tested in simulated time (`tests.rs`);
//! - [`runtime`]: the network thread that drives the engine with a mio
//!   loop and the callback thread that calls the app.
//!
//! API threads call [`Client`] methods, which check arguments against the
//! shared [`State`], turn the call into a command, push it down a crossbeam
//! channel and wake the network thread with a `mio::Waker`. The network
//! thread owns the socket and video decoding; the engine updates [`State`]
//! (the lock held for each engine call only, never across a decode or a
//! callback) and hands each [`Event`] to the callback thread, which calls
//! the app's callbacks through the sink — one at a time, in order, with no
//! library lock held: a callback may call any API function, `BRAC_Release`
//! included. The network thread never waits for a callback, so a slow one
//! stops neither keep-alives nor this client's own media; it only loses the
//! oldest decoded video frames (more than [`MAX_PENDING_VIDEO`] waiting;
//! a callback that never returns: the newest past twice that many) and, past [`MAX_PENDING_DATA`] bytes waiting, new text, buffers and audio.
//!
//! The uplink is bounded too: text, buffers and media the app hands over
//! wait (in the command queue and the link's buffers) up to [`MAX_UPLINK`]
//! bytes; past that `BRAC_SendTextMessage` / `BRAC_TransBuffer` refuse and
//! media frames are dropped (the next video frame is then a key frame).
//! Calls issued while a connect, login or room entry is under way wait in
//! the state's queue (at most [`MAX_QUEUED`]; see [`state`]).
//!
//! One's own video input is shown back (self-view): while the camera is
//! open, each frame the app feeds reaches the video callbacks with one's
//! own user id, raw frames as they came (converted to each callback's
//! format on the callback thread), without a round trip to the server.
//! The speech level of one's own audio input and of each user's audio
//! received is kept for `BRAC_QueryUserState(SPEAKVOLUME)` ([`Client::speak_level`]).
#![forbid(unsafe_code)]

pub mod audio;
mod camera;
pub mod engine;
pub mod friends;
mod runtime;
pub mod state;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::net::link::{strip_tls_scheme, TlsEnv};
use crate::wire::constants::*;
use crate::wire::protocol::{MediaHeader, DEVICE_CAMERA, MAX_MEDIA_LEN, MEDIA_AUDIO, MEDIA_VIDEO};

pub use self::camera::DEFAULT_CAPTURE;
pub use self::engine::{Command, Engine, Event, OwnVideo, CODEC_H264, CODEC_PCM, CONNECT_TIMEOUT};
pub use self::runtime::{EventSink, MAX_PENDING_DATA, MAX_PENDING_VIDEO, MAX_UPLINK};
use self::runtime::{Shared, ToNet, Uplink};
pub use self::state::{
    next_call_state, pcm_level, Call, CallPhase, ClientCall, Code, LinkState, ServerAddr, State, StreamInfo, Submitted,
    UserInfo, MAX_NAME_LEN, MAX_QUEUED, MAX_USER_STR_LEN, VIDEOCALL_KNOWN_FLAGS,
};
pub use crate::wire::protocol::CODEC_OPUS;

/// How long a user's speech level stands without a new audio chunk; after
/// that its audio is not received (level 0).
pub const LEVEL_HOLD: Duration = Duration::from_millis(500);

/// How this client's own video is fed (`BRAC_SetInputVideoFormat(Ex)`).
struct VideoInput {
    /// 0: raw frames in `pix_fmt`, encoded here; else frames already
    /// encoded with that codec, relayed unchanged.
    codec: u32,
    /// `None`: a value that is no `BRAC_PIX_FMT_*` (refused for raw frames).
    pix_fmt: Option<crate::codec::PixelFormat>,
    /// `pix_fmt` as a `BRAC_PIX_FMT_*` value, for the self-view.
    pix_fmt_id: Option<u32>,
    w: u32,
    h: u32,
    encoder: Option<crate::codec::VideoEncoder>,
}

/// How this client's own audio is fed (`BRAC_SetInputAudioFormat(Ex)`).
#[derive(Clone, Copy)]
struct AudioInput {
    codec: u32,
    format: crate::codec::AudioFormat,
}

/// One initialised SDK: the handle API threads use.
pub struct Client {
    state: Arc<Mutex<State>>,
    /// Notified after the network thread changed `state`.
    changed: Arc<parking_lot::Condvar>,
    net: crate::net::link::NetThread<ToNet>,
    /// The thread that runs the app's callbacks.
    callbacks: Mutex<Option<std::thread::JoinHandle<()>>>,
    callback_thread: std::thread::ThreadId,
    released: Arc<AtomicBool>,
    video_in: Mutex<Option<VideoInput>>,
    audio_in: Mutex<Option<AudioInput>>,
    /// Set when a receiver (or the uplink) lost video: encode a key frame next.
    force_key: Arc<AtomicBool>,
    uplink: Arc<Uplink>,
    /// Media and notifications to the network thread (shared with the camera's thread).
    outlet: camera::Outlet,
    /// This client's own camera (device capture).
    camera: Mutex<camera::LocalCamera>,
    /// Own audio out (Opus), the playout mix, the microphone and speaker.
    audio: audio::Devices,
}

impl Client {
    /// Starts the network thread and the callback thread; `sink` receives
    /// every event on the callback thread, one at a time, in order.
    pub fn start(sink: EventSink) -> io::Result<Client> {
        let shared = Shared {
            state: Arc::new(Mutex::new(State::new())),
            force_key: Arc::new(AtomicBool::new(false)),
            uplink: Arc::new(Uplink::default()),
            released: Arc::new(AtomicBool::new(false)),
            playout: Arc::new(Mutex::new(crate::codec::audio::Mixer::new())),
            changed: Arc::new(parking_lot::Condvar::new()),
        };
        let threads = runtime::start(sink, &shared)?;
        let outlet = camera::Outlet {
            state: shared.state.clone(),
            mailbox: threads.net.mailbox(),
            force_key: shared.force_key.clone(),
            uplink: shared.uplink.clone(),
        };
        let own = audio::OwnAudio::new(shared.state.clone(), shared.uplink.clone(), threads.net.mailbox());
        let audio = audio::Devices::new(Arc::new(own), shared.playout.clone());
        Ok(Client {
            outlet,
            camera: Mutex::new(camera::LocalCamera::default()),
            changed: shared.changed.clone(),
            state: shared.state,
            net: threads.net,
            callback_thread: threads.callbacks.thread().id(),
            callbacks: Mutex::new(Some(threads.callbacks)),
            released: shared.released,
            video_in: Mutex::new(None),
            audio_in: Mutex::new(None),
            force_key: shared.force_key,
            uplink: shared.uplink,
            audio,
        })
    }

    fn command(&self, cmd: Command) {
        self.net.command(ToNet::Command(cmd));
    }

    /// Runs an API call's state part under the lock, then sends what it
    /// gave, or wakes the engine for the queue.
    fn send_if(&self, check: impl FnOnce(&mut State) -> Result<Submitted, Code>) -> Code {
        let submitted = check(&mut self.state.lock());
        match submitted {
            Ok(s) => {
                self.submitted(s);
                0
            }
            Err(code) => code,
        }
    }

    fn submitted(&self, s: Submitted) {
        match s {
            Submitted::Send(msg) => self.command(Command::Send(msg)),
            Submitted::Queued => self.command(Command::RunQueue),
        }
    }

    /// A copy of what the library knows, for the query functions.
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.lock())
    }

    /// `BRAC_Connect`: resolves `host` off the calling thread and connects,
    /// over TLS with a `tls://` prefix or `ANYCHAT_TLS=1` (see
    /// [`crate::net::link::TlsEnv`]). `GV_ERR_NOTINIT` when the network
    /// thread has given up (after repeated internal failures).
    pub fn connect(&self, host: &[u8], port: u32) -> Code {
        let Ok(host) = std::str::from_utf8(host) else { return GV_ERR_FUNCOPTERROR };
        let Ok(port) = u16::try_from(port) else { return GV_ERR_FUNCOPTERROR };
        if host.len() > MAX_NAME_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        let (host, tls) = strip_tls_scheme(host);
        if host.is_empty() || port == 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        if self.net.is_finished() {
            return GV_ERR_NOTINIT;
        }
        // The environment is read here, on the app's thread (where an app
        // would also set it), not on a library thread.
        let env = TlsEnv::from_env();
        let server = ServerAddr { host: host.to_string(), port, tls };
        let session = self.state.lock().connect(server);
        self.net.command(ToNet::Connect { host: host.to_string(), port, tls, env, session });
        0
    }

    /// `BRAC_Login`: queued until the handshake completes.
    pub fn login(&self, name: &[u8], password: &[u8], pass_enc_type: u32) -> Code {
        self.send_if(|st| st.login(name, password, pass_enc_type))
    }

    /// `BRAC_LoginEx`: logs in as `name` (the app's string user id, or the
    /// nick name) with the app's numeric `user_id` (0: none) and nick name.
    pub fn login_ex(&self, name: &[u8], nick: &[u8], user_id: u32, password: &[u8]) -> Code {
        self.send_if(|st| st.login_ex(name, nick, user_id, password))
    }

    /// `BRAC_SendTextMessage`: to a user of this client's room, or to the
    /// whole room (`to` 0 or -1).
    pub fn send_text(&self, to: u32, secret: bool, text: &[u8]) -> Code {
        let msg = match self.state.lock().send_text(to, secret, text) {
            Ok(Submitted::Send(msg)) => msg,
            Ok(queued) => {
                self.submitted(queued);
                return 0;
            }
            Err(code) => return code,
        };
        if !self.uplink.admit(text.len()) {
            tracing::debug!("text refused: the uplink is full");
            return GV_ERR_FUNCNOTALLOW;
        }
        self.command(Command::Send(msg));
        0
    }

    /// `BRAC_TransBuffer(Ex)`: bytes for a user this client knows (in its
    /// room or its call peer), or for the business server (0). Returns the
    /// code and the task id given to the transfer.
    pub fn trans_buffer(&self, to: u32, data: &[u8], ex: Option<(u32, u32)>) -> (Code, u32) {
        let (msg, task_id) = match self.state.lock().trans_buffer(to, data, ex) {
            Ok((Submitted::Send(msg), task_id)) => (msg, task_id),
            Ok((queued, task_id)) => {
                self.submitted(queued);
                return (0, task_id);
            }
            Err(code) => return (code, 0),
        };
        if !self.uplink.admit(data.len()) {
            tracing::debug!("buffer refused: the uplink is full");
            return (GV_ERR_TRANSBUF_CREATEFAIL, 0);
        }
        self.command(Command::Send(msg));
        (0, task_id)
    }

    /// `BRAC_UserCameraControl` / `BRAC_UserSpeakControl`: for oneself
    /// (-1 or one's own id) opens or closes the device state the room sees;
    /// for another user it subscribes to (or leaves) that user's video or
    /// audio, which the core server then relays here.
    /// One's own camera also starts (or stops) capturing from the selected
    /// device, unless external video input is on (see [`camera`]); one's own
    /// microphone likewise starts (or stops) the microphone thread (the
    /// selected device, or the first listed), unless external audio input is
    /// on.
    pub fn device(&self, kind: u8, user_id: u32, open: bool) -> Code {
        let mut own = false;
        let code = self.send_if(|st| {
            own = user_id == u32::MAX || Some(user_id) == st.self_id;
            st.device(kind, user_id, open)
        });
        if code == 0 && own && kind == DEVICE_CAMERA {
            self.local_camera(open);
        }
        if code == 0 && own && kind == crate::wire::protocol::DEVICE_MIC {
            if open && !self.ext_input(BRAC_SO_CORESDK_EXTAUDIOINPUT) {
                self.audio.start_capture();
            } else if !open {
                self.audio.stop_capture();
            }
        }
        code
    }

    /// The microphone and speaker (`BRAC_EnumAudio*`, `Select…`, volumes,
    /// `BRAC_FetchAudioPlayBuffer`).
    pub(crate) fn audio(&self) -> &audio::Devices {
        &self.audio
    }

    /// `BRAC_Logout`: ends the session and closes the link.
    pub fn logout(&self) -> Code {
        if let Err(code) = self.state.lock().logout() {
            return code;
        }
        self.stop_camera();
        self.audio.stop_capture();
        self.command(Command::Logout);
        0
    }

    /// `BRAC_EnterRoom`.
    pub fn enter_room(&self, room_id: u32, password: &[u8]) -> Code {
        self.send_if(|st| st.enter_room(room_id, password))
    }

    /// `BRAC_EnterRoomEx`.
    pub fn enter_room_by_name(&self, name: &[u8], password: &[u8]) -> Code {
        self.send_if(|st| st.enter_room_by_name(name, password))
    }

    /// `BRAC_LeaveRoom` (`u32::MAX` = the current room).
    pub fn leave_room(&self, room_id: u32) -> Code {
        self.send_if(|st| st.leave_room(room_id))
    }

    /// `BRAC_VideoCallControl`: checks the event against what this client
    /// knows of its call (see the contract's table and
    /// [`State::video_call`]), then sends it.
    pub fn video_call(
        &self,
        event: u32,
        user_id: u32,
        error_code: u32,
        flags: u32,
        param: u32,
        user_str: &[u8],
    ) -> Code {
        self.send_if(|st| st.video_call(event, user_id, error_code, flags, param, user_str))
    }

    /// `BRAC_Release`: logs out if needed, stops and joins the network thread.
    /// Called from a callback (on the callback thread) it cannot join that
    /// thread; it then ends as soon as the callback returns.
    pub fn shutdown(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.stop_camera();
        self.audio.shutdown();
        self.net.stop(ToNet::Command(Command::Shutdown));
        // The network thread has ended and closed the callback queue; wait
        // for a callback still running, unless this is that callback.
        if std::thread::current().id() != self.callback_thread {
            if let Some(t) = self.callbacks.lock().take() {
                let _ = t.join();
            }
        }
    }

    /// Tests: makes the network thread panic.
    #[cfg(test)]
    fn inject_panic(&self) {
        self.net.command(ToNet::Panic);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Client {
    /// `BRAC_SetInputVideoFormat(Ex)`: `codec` 0 = raw frames in `pix_fmt`
    /// (any format the codec converts to I420), encoded here with H.264;
    /// any other codec id = frames already encoded, relayed unchanged.
    pub fn set_video_input(
        &self,
        codec: u32,
        pix_fmt: Option<crate::codec::PixelFormat>,
        w: u32,
        h: u32,
        fps: u32,
    ) -> Code {
        if w == 0
            || h == 0
            || w > 4096
            || h > 4096
            || !w.is_multiple_of(2)
            || !h.is_multiple_of(2)
            || fps == 0
            || fps > 60
        {
            return GV_ERR_FUNCOPTERROR;
        }
        let encoder = if codec == 0 {
            if pix_fmt.and_then(|f| crate::codec::frame_size(f, w, h)).is_none() {
                return GV_ERR_FUNCOPTERROR;
            }
            let bitrate = (w * h * fps / 8).clamp(100_000, 4_000_000);
            match crate::codec::VideoEncoder::new(w, h, fps as f32, bitrate) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!("cannot start the video encoder: {e}");
                    return GV_ERR_FUNCOPTERROR;
                }
            }
        } else {
            None
        };
        let pix_fmt_id = pix_fmt.map(pix_fmt_id);
        *self.video_in.lock() = Some(VideoInput { codec, pix_fmt, pix_fmt_id, w, h, encoder });
        self.force_key.store(true, Ordering::SeqCst);
        0
    }

    /// `BRAC_SetInputAudioFormat(Ex)`: `codec` 0 = 16-bit PCM, sent as Opus
    /// (see [`audio`]) or PCM; any other codec id = already encoded,
    /// relayed unchanged.
    pub fn set_audio_input(&self, codec: u32, channels: u32, rate: u32, bits: u32) -> Code {
        let format = crate::codec::AudioFormat {
            channels: channels.min(u16::MAX as u32) as u16,
            samples_per_sec: rate,
            bits_per_sample: bits.min(u16::MAX as u32) as u16,
        };
        if codec == 0 && format.validate().is_err() {
            return GV_ERR_FUNCOPTERROR;
        }
        *self.audio_in.lock() = Some(AudioInput { codec, format });
        0
    }

    /// Whether this client may send its `kind` of media now: logged in and
    /// that device open (`BRAC_UserCameraControl(-1, TRUE)`).
    fn may_send(&self, video: bool) -> Result<bool, Code> {
        self.state.lock().may_send(video)
    }

    /// The uplink is behind: this frame is lost, the next video frame
    /// starts afresh ([`camera::Outlet::send_media`]).
    fn send_media(&self, header: MediaHeader, data: &[u8]) {
        self.outlet.send_media(header, data);
    }

    /// `BRAC_InputVideoData(Ex)`: one frame of this client's video. Not set
    /// up (`BRAC_SetInputVideoFormat`) or external input not enabled: 20; a
    /// frame of the wrong size: 21; camera closed: 0, nothing sent.
    pub fn input_video(&self, frame: &[u8], timestamp: u32, key_hint: bool) -> Code {
        if !self.ext_input(BRAC_SO_CORESDK_EXTVIDEOINPUT) {
            return GV_ERR_FUNCNOTALLOW;
        }
        match self.may_send(true) {
            Err(e) => return e,
            Ok(false) => return 0,
            Ok(true) => {}
        }
        let mut guard = self.video_in.lock();
        let Some(input) = guard.as_mut() else { return GV_ERR_FUNCNOTALLOW };
        let (w, h) = (input.w, input.h);
        let Some(encoder) = input.encoder.as_mut() else {
            // Already encoded: relayed unchanged.
            if frame.is_empty() || frame.len() > MAX_MEDIA_LEN {
                return GV_ERR_FUNCOPTERROR;
            }
            let key = key_hint || (input.codec == CODEC_H264 && crate::codec::is_key_frame(frame));
            let header = MediaHeader { kind: MEDIA_VIDEO, key, codec: input.codec, timestamp, a: w, b: h };
            let codec = input.codec;
            drop(guard);
            self.send_media(header, frame);
            if Self::self_view() {
                self.own_video(OwnVideo { w, h, timestamp, codec, pix_fmt: None, data: frame.to_vec() });
            }
            return 0;
        };
        let Some(pix_fmt) = input.pix_fmt else { return GV_ERR_FUNCOPTERROR };
        if crate::codec::frame_size(pix_fmt, w, h) != Some(frame.len()) {
            return GV_ERR_FUNCOPTERROR;
        }
        let i420 = match crate::codec::to_i420(pix_fmt, w, h, frame) {
            Ok(f) => f,
            Err(_) => return GV_ERR_FUNCOPTERROR,
        };
        let force = self.force_key.swap(false, Ordering::SeqCst);
        let encoded = match encoder.encode(&i420, force) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("video frame not encoded: {e}");
                return GV_ERR_FUNCOPTERROR;
            }
        };
        let pix_fmt_id = input.pix_fmt_id;
        drop(guard);
        if !encoded.data.is_empty() {
            let header = MediaHeader { kind: MEDIA_VIDEO, key: encoded.key, codec: CODEC_H264, timestamp, a: w, b: h };
            self.send_media(header, &encoded.data);
        }
        // Self-view: the frame as the app gave it (the callback thread
        // converts it to each callback's format).
        if Self::self_view() {
            self.own_video(OwnVideo { w, h, timestamp, codec: CODEC_H264, pix_fmt: pix_fmt_id, data: frame.to_vec() });
        }
        0
    }

    /// Shows one's own frame back to the app (the engine checks that the
    /// camera is open, and the callback thread's bound applies).
    fn own_video(&self, v: OwnVideo) {
        self.outlet.own_video(v);
    }

    /// Whether one's own frames are wanted for the self-view: copied only
    /// when a video data callback is registered.
    fn self_view() -> bool {
        SELF_VIEW.load(Ordering::Relaxed) || SELF_DRAW.load(Ordering::Relaxed)
    }

    /// `BRAC_QueryUserState(BRAC_USERSTATE_SPEAKVOLUME)`: the speech level
    /// (0–100, see [`pcm_level`]) of `user`'s audio received here, or of
    /// one's own input (-1 or one's own id); 0 when none came within
    /// [`LEVEL_HOLD`]. A user this client does not know: 205.
    /// What this client knows of `user`'s streams (oneself, -1 or one's own
    /// id: what it sends), read by `f` at this moment; nothing received yet:
    /// all zero. A user this client does not know: 205.
    pub fn stream_state<T>(&self, user: u32, f: impl FnOnce(&StreamInfo, Instant) -> T) -> Result<T, Code> {
        let now = Instant::now();
        self.with_state(|st| {
            let uid = st.resolve(user).filter(|u| st.users.contains_key(u)).ok_or(GV_ERR_INVALID_USERID)?;
            Ok(f(&st.streams.get(&uid).copied().unwrap_or_default(), now))
        })
    }

    /// `BRAC_QueryInfoFromServer`: asks the server (query `info` with
    /// `input`) and waits for its answer, at most `timeout`. Not logged in:
    /// 208; the link lost meanwhile: 101; no answer in time: 100; else the
    /// server's code or its output.
    pub fn query_server(&self, info: u32, input: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, Code> {
        const MAX_WAITING: usize = 64;
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        if !st.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        if st.queries.len() >= MAX_WAITING {
            return Err(GV_ERR_FUNCNOTALLOW);
        }
        st.next_query = st.next_query.wrapping_add(1);
        let id = st.next_query;
        st.queries.insert(id, None);
        drop(st);
        self.command(Command::Send(crate::wire::protocol::ClientMsg::Query { id, info, input }));
        let mut st = self.state.lock();
        let result = loop {
            if let Some(Some((code, output))) = st.queries.get(&id) {
                break if *code == 0 { Ok(output.clone()) } else { Err(*code) };
            }
            if !st.logged_in {
                break Err(GV_ERR_CONNECT_ABORT);
            }
            if self.changed.wait_until(&mut st, deadline).timed_out() {
                break Err(GV_ERR_CONNECT_TIMEOUT);
            }
        };
        st.queries.remove(&id);
        result
    }

    pub fn speak_level(&self, user: u32) -> Result<u32, Code> {
        let now = Instant::now();
        self.with_state(|st| {
            let uid = st.resolve(user).filter(|u| st.users.contains_key(u)).ok_or(GV_ERR_INVALID_USERID)?;
            let level = st.levels.get(&uid).filter(|l| now.saturating_duration_since(l.at) <= LEVEL_HOLD);
            Ok(level.map_or(0, |l| l.value))
        })
    }

    /// `BRAC_InputAudioData(Ex)`: samples of this client's audio.
    pub fn input_audio(&self, samples: &[u8], timestamp: u32) -> Code {
        if !self.ext_input(BRAC_SO_CORESDK_EXTAUDIOINPUT) {
            return GV_ERR_FUNCNOTALLOW;
        }
        match self.may_send(false) {
            Err(e) => return e,
            Ok(false) => return 0,
            Ok(true) => {}
        }
        let Some(input) = *self.audio_in.lock() else { return GV_ERR_FUNCNOTALLOW };
        if samples.is_empty() || samples.len() > MAX_MEDIA_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        if input.codec == 0 && !samples.len().is_multiple_of(input.format.block_align().max(1) as usize) {
            return GV_ERR_FUNCOPTERROR;
        }
        let f = input.format;
        if input.codec == 0 {
            return self.audio.own().send_pcm(f, samples, timestamp);
        }
        let header = MediaHeader {
            kind: MEDIA_AUDIO,
            key: true,
            codec: input.codec,
            timestamp,
            a: f.samples_per_sec,
            b: ((f.channels as u32) << 16) | f.bits_per_sample as u32,
        };
        self.send_media(header, samples);
        0
    }

    /// Whether `BRAC_SetSDKOption(option, 1)` enabled external input.
    fn ext_input(&self, option: u32) -> bool {
        sdk_option(option).unwrap_or(0) != 0
    }
}

/// Whether a video data callback is registered (the C ABI says so): one's
/// own frames are copied for the self-view only then.
static SELF_VIEW: AtomicBool = AtomicBool::new(false);

/// Whether one's own video is drawn into a window (`BRAC_SetVideoPos(-1, …)`):
/// one's own frames are then copied for the self-view too.
static SELF_DRAW: AtomicBool = AtomicBool::new(false);

/// The C ABI tells whether one's own video is drawn into a window.
pub fn set_self_draw(wanted: bool) {
    SELF_DRAW.store(wanted, Ordering::Relaxed);
}

/// The C ABI's callback registry tells whether a video data callback is
/// registered (process-wide, as the registry is).
pub fn set_self_view(wanted: bool) {
    SELF_VIEW.store(wanted, Ordering::Relaxed);
}

/// The `BRAC_PIX_FMT_*` value of a pixel format.
fn pix_fmt_id(f: crate::codec::PixelFormat) -> u32 {
    use crate::codec::PixelFormat::*;
    match f {
        Rgb24 => BRAC_PIX_FMT_RGB24,
        Rgb32 => BRAC_PIX_FMT_RGB32,
        Yv12 => BRAC_PIX_FMT_YV12,
        Yuy2 => BRAC_PIX_FMT_YUY2,
        Yuv420p => BRAC_PIX_FMT_YUV420P,
        Rgb565 => BRAC_PIX_FMT_RGB565,
        Rgb555 => BRAC_PIX_FMT_RGB555,
        Nv12 => BRAC_PIX_FMT_NV12,
        Nv21 => BRAC_PIX_FMT_NV21,
        Nv16 => BRAC_PIX_FMT_NV16,
        Bgr32 => BRAC_PIX_FMT_BGR32,
        Mjpeg => BRAC_PIX_FMT_MJPEG,
        H264 => BRAC_PIX_FMT_H264,
    }
}

/// Options `BRAC_SetSDKOption` keeps (process-wide, as in the vendor SDK:
/// they may be set before `BRAC_InitSDK`).
pub const KEPT_OPTIONS: [u32; 9] = [
    BRAC_SO_CORESDK_EXTVIDEOINPUT,
    BRAC_SO_CORESDK_EXTAUDIOINPUT,
    BRAC_SO_NETWORK_AUTORECONNECT,
    BRAC_SO_CORESDK_LOWDELAYCTRL,
    // The camera's size, rate and bitrate, read when it opens.
    BRAC_SO_LOCALVIDEO_WIDTHCTRL,
    BRAC_SO_LOCALVIDEO_HEIGHTCTRL,
    BRAC_SO_LOCALVIDEO_FPSCTRL,
    BRAC_SO_LOCALVIDEO_BITRATECTRL,
    BRAC_SO_LOCALVIDEO_APPLYPARAM,
];
/// The microphone's processing (`codec::processing`): kept, and applied
/// by the microphone thread, when this build has it (feature `apm`).
pub const AUDIO_PROCESSING_OPTIONS: [u32; 4] =
    [BRAC_SO_AUDIO_ECHOCTRL, BRAC_SO_AUDIO_NSCTRL, BRAC_SO_AUDIO_AGCCTRL, BRAC_SO_AUDIO_VADCTRL];
static OPTIONS: Mutex<Vec<(u32, i32)>> = Mutex::new(Vec::new());

/// Whether `BRAC_SetSDKOption` keeps `option` in this build.
pub fn is_kept_option(option: u32) -> bool {
    KEPT_OPTIONS.contains(&option)
        || (crate::codec::processing::processing_built() && AUDIO_PROCESSING_OPTIONS.contains(&option))
}

/// Keeps an option's value; false for an option not kept.
pub fn set_sdk_option(option: u32, value: i32) -> bool {
    if !is_kept_option(option) {
        return false;
    }
    let mut o = OPTIONS.lock();
    o.retain(|(k, _)| *k != option);
    o.push((option, value));
    true
}

/// A kept option's value (0 when never set); None for an option not kept.
pub fn sdk_option(option: u32) -> Option<i32> {
    if !is_kept_option(option) {
        return None;
    }
    Some(OPTIONS.lock().iter().find(|(k, _)| *k == option).map_or(0, |(_, v)| *v))
}
