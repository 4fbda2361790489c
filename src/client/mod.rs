//! The client library's engine: a network thread and a callback thread per
//! initialised SDK.
//!
//! API threads call [`Client`] methods, which check arguments against the
//! shared [`State`], turn the call into a `Command`, push it down a
//! crossbeam channel and wake the network thread with a `mio::Waker`. The
//! network thread owns the socket, the handshake, keep-alive, the
//! reassembly of frames and video decoding; it updates [`State`] under its
//! lock, releases the lock, and hands each [`Event`] to the callback thread,
//! which calls the app's callbacks through the sink — one at a time, in
//! order, with no library lock held: a callback may call any API function,
//! `BRAC_Release` included. The network thread never waits for a callback,
//! so a slow one stops neither keep-alives nor this client's own media; it
//! only loses the oldest decoded video frames (more than
//! [`MAX_PENDING_VIDEO`] waiting) and, past [`MAX_PENDING_DATA`] bytes
//! waiting, new text, buffers and audio.
//!
//! The uplink is bounded too: text, buffers and media the app hands over
//! wait (in the command queue and the link's buffers) up to [`MAX_UPLINK`]
//! bytes; past that `BRAC_SendTextMessage` / `BRAC_TransBuffer` refuse and
//! media frames are dropped (the next video frame is then a key frame).

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Poll, Token};
use parking_lot::Mutex;

use crate::net::link::{strip_tls_scheme, Link, LinkError, LinkTls, Mailbox, NetThread, TlsEnv};
use crate::wire::constants::*;
use crate::wire::protocol::{
    CallEvent, ClientMsg, MediaHeader, Role, RoomUser, ServerMsg, DEVICE_CAMERA, DEVICE_MIC, MAX_BLOB_LEN,
    MAX_MEDIA_LEN, MEDIA_AUDIO, MEDIA_VIDEO, PROTOCOL_VERSION,
};

const WAKER: Token = Token(0);
const SOCKET: Token = Token(1);
/// How long a TCP connect and handshake may take before `WM_GV_CONNECT(0)`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `BRAC_Release` waits for the server to acknowledge a logout.
const RELEASE_LINGER: Duration = Duration::from_millis(500);
/// Decoded video frames waiting for a slow video callback before the oldest
/// are dropped.
pub const MAX_PENDING_VIDEO: usize = 4;
/// Bytes of text, buffers and audio waiting for a slow callback before new
/// ones are dropped (signalling events are never dropped).
pub const MAX_PENDING_DATA: usize = 16 * 1024 * 1024;
/// Bytes of text, buffers and media accepted from the app and not yet
/// written to the server before the API refuses more.
pub const MAX_UPLINK: usize = 4 * 1024 * 1024;
/// Longest user name, password or room name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Every `BRAC_VIDEOCALL_FLAGS_*` bit; a Request with another bit set is refused (21).
pub const VIDEOCALL_KNOWN_FLAGS: u32 = BRAC_VIDEOCALL_FLAGS_AUDIO
    | BRAC_VIDEOCALL_FLAGS_VIDEO
    | BRAC_VIDEOCALL_FLAGS_FBSRCAUDIO
    | BRAC_VIDEOCALL_FLAGS_FBSRCVIDEO
    | BRAC_VIDEOCALL_FLAGS_FBTARAUDIO
    | BRAC_VIDEOCALL_FLAGS_FBTARVIDEO
    | BRAC_VIDEOCALL_FLAGS_ASSISTREQ
    | BRAC_VIDEOCALL_FLAGS_CONTROLREQ;
/// Longest `lpUserStr` of a video-call event, in bytes.
pub const MAX_USER_STR_LEN: usize = 2048;

/// What the network thread hands to the app, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A `WM_GV_*` notification: `(message, wParam, lParam)`.
    Notify { msg: u32, wparam: u32, lparam: u32 },
    /// Bytes relayed to this client (`from` 0 = the business server);
    /// `ex`: sent with `BRAC_TransBufferEx` (its wParam, lParam, task id).
    TransBuffer { from: u32, ex: bool, wparam: u32, lparam: u32, task_id: u32, data: Vec<u8> },
    /// A text message (`to` 0: the whole room).
    Text { from: u32, to: u32, secret: bool, text: Vec<u8> },
    /// Bytes from the business server (`BRAS_SendBufToUser`/`ToRoom`).
    FilterData { data: Vec<u8> },
    /// A video frame of user `from`: decoded (`i420`, YUV420P planar) when
    /// it came H.264-encoded by this library, else the bytes as sent
    /// (`codec` says what they are).
    Video { from: u32, w: u32, h: u32, codec: u32, timestamp: u32, data: Vec<u8>, decoded: bool },
    /// An audio frame of user `from` (`codec` 0: 16-bit PCM).
    Audio { from: u32, channels: u16, rate: u32, bits: u16, codec: u32, timestamp: u32, data: Vec<u8> },
    /// A video-call event; `user_id` is the other party.
    VideoCall { event: u32, user_id: u32, error_code: u32, flags: u32, param: u32, user_str: Vec<u8> },
}

/// Receives events on the network thread; must not block for long.
pub type EventSink = Box<dyn Fn(Event) + Send + 'static>;

/// Where the link to the core server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Idle,
    Connecting,
    Connected,
}

/// This client's part in a call, as far as it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPhase {
    /// Caller: Request sent, no ringing confirmation yet.
    Dialing,
    /// Ringing (either role).
    Ringing,
    /// Callee: accepted (Reply 0 sent), waiting for Start.
    Accepted,
    /// In progress, in the given room.
    Active(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCall {
    pub peer: u32,
    pub caller: bool,
    pub phase: CallPhase,
}

/// What this client knows of a user (itself included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: Vec<u8>,
    pub nick: Vec<u8>,
    pub level: u32,
    /// `GV_CAMERA_STATE_*`, `GV_AUDIO_STATE_*`.
    pub camera: u32,
    pub mic: u32,
}

impl From<RoomUser> for UserInfo {
    fn from(u: RoomUser) -> Self {
        UserInfo { name: u.name, nick: u.nick, level: u.level, camera: u.camera, mic: u.mic }
    }
}

/// What this client receives of a user's streams (`BRAC_GetUserStreamInfo`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    pub video_codec: u32,
    pub channels: u32,
    pub rate: u32,
    pub audio_codec: u32,
}

/// The codec id of the video this library encodes (H.264), as in the
/// media header: the vendor's `BRAC_PIX_FMT_H264`.
pub const CODEC_H264: u32 = BRAC_PIX_FMT_H264;
/// The codec id of raw 16-bit PCM audio.
pub const CODEC_PCM: u32 = 0;

/// How this client's own video is fed (`BRAC_SetInputVideoFormat(Ex)`).
struct VideoInput {
    /// 0: raw frames in `pix_fmt`, encoded here; else frames already
    /// encoded with that codec, relayed unchanged.
    codec: u32,
    /// `None`: a value that is no `BRAC_PIX_FMT_*` (refused for raw frames).
    pix_fmt: Option<crate::codec::PixelFormat>,
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

/// What API threads may read; written by both sides under the lock.
#[derive(Debug)]
pub struct State {
    pub link: LinkState,
    pub logged_in: bool,
    pub self_id: Option<u32>,
    pub room: Option<u32>,
    /// The name the current room was entered by (`BRAC_EnterRoomEx`).
    pub room_name: Vec<u8>,
    /// Everyone in `room`, self included.
    pub room_users: Vec<u32>,
    /// Users met (self, room members, call peers), by id.
    pub users: HashMap<u32, UserInfo>,
    /// Infos the business server set (`BRAS_SetUserInfo`), by (user, info id).
    pub infos: HashMap<(u32, u32), Vec<u8>>,
    /// Room name of the last `BRAC_EnterRoomEx`, until its answer.
    pending_room_name: Option<Vec<u8>>,
    /// Last task id given to a `BRAC_TransBuffer(Ex)`.
    next_task: u32,
    /// Streams received, by user.
    pub streams: HashMap<u32, StreamInfo>,
    pub call: Option<ClientCall>,
    /// `BRAC_USERSTATE_SELFUSERSTATUS`: 0 unknown, 1 connected, 2 logged in,
    /// 3 in room, 4 logged out, 5 link closed.
    pub status: u32,
    /// Set when `BRAC_Logout` was asked, so the server's close is expected.
    logging_out: bool,
    /// Enter succeeded; `WM_GV_ENTERROOM` waits for the room's user list.
    entering: Option<u32>,
}

impl State {
    fn new() -> Self {
        State {
            link: LinkState::Idle,
            logged_in: false,
            self_id: None,
            room: None,
            room_name: Vec::new(),
            room_users: Vec::new(),
            users: HashMap::new(),
            infos: HashMap::new(),
            pending_room_name: None,
            next_task: 0,
            streams: HashMap::new(),
            call: None,
            status: 0,
            logging_out: false,
            entering: None,
        }
    }

    /// The user id `-1` means "myself".
    pub fn resolve(&self, user_id: u32) -> Option<u32> {
        if user_id == u32::MAX {
            self.self_id
        } else {
            Some(user_id)
        }
    }

    /// What is known of a user (`-1`: myself).
    pub fn user(&self, user_id: u32) -> Option<&UserInfo> {
        self.users.get(&self.resolve(user_id)?)
    }

    pub fn name_of(&self, user_id: u32) -> Option<Vec<u8>> {
        self.user(user_id).map(|u| u.name.clone())
    }

    /// Whether this client may address `user_id` (in its room, or its call peer).
    pub fn knows(&self, user_id: u32) -> bool {
        self.room_users.contains(&user_id) || self.call.is_some_and(|c| c.peer == user_id)
    }
}

/// Commands from API threads to the network thread.
#[derive(Debug)]
enum Command {
    Connect {
        host: String,
        port: u16,
        /// The address had `tls://`.
        tls: bool,
        /// The `ANYCHAT_TLS*` settings, read on the app's thread.
        env: Result<TlsEnv, crate::net::tls::TlsError>,
    },
    Resolved {
        attempt: u64,
        result: io::Result<Vec<SocketAddr>>,
        /// TLS for the link (`None`: plain TCP), or why it cannot be set up.
        tls: Result<Option<LinkTls>, crate::net::tls::TlsError>,
    },
    Send(ClientMsg),
    /// A media frame (encoded message) for the server.
    Media(Arc<crate::wire::protocol::MediaOut>),
    Logout,
    Shutdown,
}

/// Returned by API methods: a `GV_ERR_*` code (0 = success).
pub type Code = u32;

/// One initialised SDK: the handle API threads use.
pub struct Client {
    state: Arc<Mutex<State>>,
    net: NetThread<Command>,
    /// The thread that runs the app's callbacks, and its "released" flag.
    callbacks: Mutex<Option<std::thread::JoinHandle<()>>>,
    callback_thread: std::thread::ThreadId,
    released: Arc<AtomicBool>,
    video_in: Mutex<Option<VideoInput>>,
    audio_in: Mutex<Option<AudioInput>>,
    /// Set when a receiver (or the uplink) lost video: encode a key frame next.
    force_key: Arc<AtomicBool>,
    uplink: Arc<Uplink>,
}

/// Bytes of text, buffers and media on their way to the server: in the
/// command queue, and not yet written by the link.
#[derive(Debug, Default)]
struct Uplink {
    queued: AtomicUsize,
    unsent: AtomicUsize,
}

impl Uplink {
    /// Takes `n` more bytes if they fit under [`MAX_UPLINK`].
    fn admit(&self, n: usize) -> bool {
        let waiting = self.queued.load(Ordering::SeqCst) + self.unsent.load(Ordering::SeqCst);
        if waiting + n > MAX_UPLINK {
            return false;
        }
        self.queued.fetch_add(n, Ordering::SeqCst);
        true
    }

    /// The network thread took `n` bytes off the queue.
    fn taken(&self, n: usize) {
        self.queued.fetch_sub(n.min(self.queued.load(Ordering::SeqCst)), Ordering::SeqCst);
    }
}

/// The bytes of a message counted in the uplink (text, buffers).
fn uplink_len(msg: &ClientMsg) -> usize {
    match msg {
        ClientMsg::Text { text, .. } => text.len(),
        ClientMsg::TransBuffer { data, .. } => data.len(),
        _ => 0,
    }
}

impl Event {
    /// Bytes of data an event carries that may be dropped for a slow
    /// callback (text, buffers, audio); `None` for events never dropped.
    fn droppable_len(&self) -> Option<usize> {
        match self {
            Event::TransBuffer { data, .. } | Event::FilterData { data } | Event::Audio { data, .. } => {
                Some(data.len())
            }
            Event::Text { text, .. } => Some(text.len()),
            _ => None,
        }
    }
}

impl Client {
    /// Starts the network thread and the callback thread; `sink` receives
    /// every event on the callback thread, one at a time, in order.
    pub fn start(sink: EventSink) -> io::Result<Client> {
        let (cb_tx, cb_rx) = crossbeam_channel::unbounded::<Event>();
        let pending_video = Arc::new(AtomicUsize::new(0));
        let pending_data = Arc::new(AtomicUsize::new(0));
        let released = Arc::new(AtomicBool::new(false));
        let (pv, pd, rel) = (pending_video.clone(), pending_data.clone(), released.clone());
        let callbacks = std::thread::Builder::new().name("anychat-cb".into()).spawn(move || {
            for ev in cb_rx {
                if let Some(n) = ev.droppable_len() {
                    pd.fetch_sub(n, Ordering::SeqCst);
                }
                if rel.load(Ordering::SeqCst) {
                    continue;
                }
                // A callback that falls behind loses the oldest video frames
                // (already decoded, so nothing depends on them).
                if matches!(ev, Event::Video { .. }) && pv.fetch_sub(1, Ordering::SeqCst) > MAX_PENDING_VIDEO {
                    continue;
                }
                sink(ev);
            }
        })?;
        let callback_thread = callbacks.thread().id();
        let state = Arc::new(Mutex::new(State::new()));
        let shared = state.clone();
        let force_key = Arc::new(AtomicBool::new(false));
        let key_flag = force_key.clone();
        let uplink = Arc::new(Uplink::default());
        let up = uplink.clone();
        let net = NetThread::spawn("anychat-net", Poll::new()?, WAKER, move |poll, rx, mailbox, stopped| {
            let mut net = Net {
                poll,
                rx,
                mailbox,
                stopped,
                state: shared,
                callbacks: cb_tx,
                pending_video,
                pending_data,
                data_dropped: 0,
                uplink: up,
                link: None,
                attempt: 0,
                early: Vec::new(),
                link_close_code: None,
                events: Vec::new(),
                inbox: Vec::new(),
                force_key: key_flag,
                decoders: HashMap::new(),
            };
            net.run()
        })?;
        Ok(Client {
            state,
            net,
            callbacks: Mutex::new(Some(callbacks)),
            callback_thread,
            released,
            video_in: Mutex::new(None),
            audio_in: Mutex::new(None),
            force_key,
            uplink,
        })
    }

    fn command(&self, cmd: Command) {
        self.net.command(cmd);
    }

    /// A copy of what the library knows, for the query functions.
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.lock())
    }

    /// `BRAC_Connect`: resolves `host` off the calling thread and connects,
    /// over TLS with a `tls://` prefix or `ANYCHAT_TLS=1` (see
    /// [`crate::net::link::TlsEnv`]).
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
        // The environment is read here, on the app's thread (where an app
        // would also set it), not on a library thread.
        let env = TlsEnv::from_env();
        self.state.lock().link = LinkState::Connecting;
        self.command(Command::Connect { host: host.to_string(), port, tls, env });
        0
    }

    /// A login may be sent: connected or connecting, not logged in yet.
    fn may_log_in(&self) -> Result<(), Code> {
        let st = self.state.lock();
        if st.link == LinkState::Idle {
            return Err(GV_ERR_CONNECT_ABORT);
        }
        if st.logged_in {
            return Err(GV_ERR_ALREADY_LOGIN);
        }
        Ok(())
    }

    /// `BRAC_Login`: queued until the handshake completes.
    pub fn login(&self, name: &[u8], password: &[u8], pass_enc_type: u32) -> Code {
        if name.is_empty() || name.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        if let Err(e) = self.may_log_in() {
            return e;
        }
        self.command(Command::Send(ClientMsg::Login {
            name: name.to_vec(),
            password: password.to_vec(),
            pass_enc_type,
        }));
        0
    }

    /// `BRAC_LoginEx`: logs in as `name` (the app's string user id, or the
    /// nick name) with the app's numeric `user_id` (0: none) and nick name.
    pub fn login_ex(&self, name: &[u8], nick: &[u8], user_id: u32, password: &[u8]) -> Code {
        if name.is_empty() || name.len() > MAX_NAME_LEN || nick.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        if let Err(e) = self.may_log_in() {
            return e;
        }
        let msg = ClientMsg::LoginEx { name: name.to_vec(), password: password.to_vec(), user_id, nick: nick.to_vec() };
        self.command(Command::Send(msg));
        0
    }

    /// `BRAC_SendTextMessage`: to a user of this client's room, or to the
    /// whole room (`to` 0 or -1).
    pub fn send_text(&self, to: u32, secret: bool, text: &[u8]) -> Code {
        if text.is_empty() || text.len() > MAX_BLOB_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        {
            let st = self.state.lock();
            if !st.logged_in {
                return GV_ERR_NOTLOGIN;
            }
            if st.room.is_none() {
                return GV_ERR_NOTINROOM;
            }
            if to != 0 && to != u32::MAX && (Some(to) == st.self_id || !st.room_users.contains(&to)) {
                return GV_ERR_INVALID_USERID;
            }
        }
        if !self.uplink.admit(text.len()) {
            tracing::debug!("text refused: the uplink is full");
            return GV_ERR_FUNCNOTALLOW;
        }
        self.command(Command::Send(ClientMsg::Text { to, secret, text: text.to_vec() }));
        0
    }

    /// `BRAC_TransBuffer(Ex)`: bytes for a user this client knows (in its
    /// room or its call peer), or for the business server (0). Returns the
    /// code and the task id given to the transfer.
    pub fn trans_buffer(&self, to: u32, data: &[u8], ex: Option<(u32, u32)>) -> (Code, u32) {
        if data.is_empty() || data.len() > MAX_BLOB_LEN {
            return (GV_ERR_FUNCOPTERROR, 0);
        }
        let task_id = {
            let mut st = self.state.lock();
            if !st.logged_in {
                return (GV_ERR_NOTLOGIN, 0);
            }
            if to != 0 && (Some(to) == st.self_id || !st.knows(to)) {
                return (GV_ERR_INVALID_USERID, 0);
            }
            st.next_task = st.next_task.wrapping_add(1).max(1);
            st.next_task
        };
        if !self.uplink.admit(data.len()) {
            tracing::debug!("buffer refused: the uplink is full");
            return (GV_ERR_TRANSBUF_CREATEFAIL, 0);
        }
        let (wparam, lparam) = ex.unwrap_or((0, 0));
        let msg = ClientMsg::TransBuffer { to, ex: ex.is_some(), wparam, lparam, task_id, data: data.to_vec() };
        self.command(Command::Send(msg));
        (0, task_id)
    }

    /// `BRAC_UserCameraControl` / `BRAC_UserSpeakControl`: for oneself
    /// (-1 or one's own id) opens or closes the device state the room sees;
    /// for another user it asks for that user's stream (media is not relayed
    /// yet: nothing more happens).
    pub fn device(&self, kind: u8, user_id: u32, open: bool) -> Code {
        {
            let st = self.state.lock();
            if !st.logged_in {
                return GV_ERR_NOTLOGIN;
            }
            let me = user_id == u32::MAX || Some(user_id) == st.self_id;
            if !me {
                if !st.knows(user_id) {
                    return GV_ERR_INVALID_USERID;
                }
                drop(st);
                let media_kind = if kind == DEVICE_CAMERA { MEDIA_VIDEO } else { MEDIA_AUDIO };
                self.subscribe(user_id, media_kind, open);
                return 0;
            }
        }
        self.command(Command::Send(ClientMsg::Device { kind, open }));
        0
    }

    /// `BRAC_Logout`: ends the session and closes the link.
    pub fn logout(&self) -> Code {
        {
            let mut st = self.state.lock();
            if st.link == LinkState::Idle {
                return GV_ERR_NOTLOGIN;
            }
            st.logging_out = true;
            // From now on the API answers as logged out.
            if st.logged_in {
                st.logged_in = false;
                st.status = 4;
            }
        }
        self.command(Command::Logout);
        0
    }

    /// `BRAC_EnterRoom`.
    pub fn enter_room(&self, room_id: u32, password: &[u8]) -> Code {
        if room_id == 0 || room_id == u32::MAX || password.len() > MAX_NAME_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        if !self.state.lock().logged_in {
            return GV_ERR_NOTLOGIN;
        }
        self.command(Command::Send(ClientMsg::EnterRoom { room_id, password: password.to_vec() }));
        0
    }

    /// `BRAC_EnterRoomEx`.
    pub fn enter_room_by_name(&self, name: &[u8], password: &[u8]) -> Code {
        if name.is_empty() || name.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        {
            let mut st = self.state.lock();
            if !st.logged_in {
                return GV_ERR_NOTLOGIN;
            }
            st.pending_room_name = Some(name.to_vec());
        }
        self.command(Command::Send(ClientMsg::EnterRoomByName { name: name.to_vec(), password: password.to_vec() }));
        0
    }

    /// `BRAC_LeaveRoom` (`u32::MAX` = the current room).
    pub fn leave_room(&self, room_id: u32) -> Code {
        {
            let mut st = self.state.lock();
            if !st.logged_in {
                return GV_ERR_NOTLOGIN;
            }
            match st.room {
                Some(r) if room_id == u32::MAX || room_id == r => {
                    st.room = None;
                    st.room_users.clear();
                    st.status = 2;
                }
                _ => return GV_ERR_NOTINROOM,
            }
        }
        self.command(Command::Send(ClientMsg::LeaveRoom { room_id }));
        0
    }

    /// `BRAC_VideoCallControl`: checks the event against what this client
    /// knows of its call (see the contract's table), then sends it.
    pub fn video_call(
        &self,
        event: u32,
        user_id: u32,
        error_code: u32,
        flags: u32,
        param: u32,
        user_str: &[u8],
    ) -> Code {
        if user_str.len() > MAX_USER_STR_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        {
            let mut st = self.state.lock();
            if !st.logged_in {
                return GV_ERR_NOTLOGIN;
            }
            let me = st.self_id.unwrap_or(0);
            let call = st.call;
            let is_peer = call.is_some_and(|c| c.peer == user_id);
            match event {
                BRAC_VIDEOCALL_EVENT_REQUEST => {
                    if user_id == me || user_id == 0 || user_id == u32::MAX || flags & !VIDEOCALL_KNOWN_FLAGS != 0 {
                        return GV_ERR_FUNCOPTERROR;
                    }
                    if call.is_some() {
                        return GV_ERR_FUNCNOTALLOW;
                    }
                    st.call = Some(ClientCall { peer: user_id, caller: true, phase: CallPhase::Dialing });
                }
                BRAC_VIDEOCALL_EVENT_REPLY => {
                    let Some(c) = call.filter(|_| is_peer) else { return GV_ERR_FUNCNOTALLOW };
                    match (c.caller, c.phase, error_code) {
                        // The callee answers a ringing call.
                        (false, CallPhase::Ringing, 0) => {
                            st.call = Some(ClientCall { phase: CallPhase::Accepted, ..c });
                        }
                        (false, CallPhase::Ringing, _) => st.call = None,
                        // The caller cancels (any non-zero code).
                        (true, CallPhase::Dialing | CallPhase::Ringing, c) if c != 0 => st.call = None,
                        _ => return GV_ERR_FUNCNOTALLOW,
                    }
                }
                BRAC_VIDEOCALL_EVENT_FINISH => {
                    if !is_peer {
                        return GV_ERR_FUNCNOTALLOW;
                    }
                    st.call = None;
                }
                BRAC_VIDEOCALL_EVENT_START => return GV_ERR_FUNCNOTALLOW,
                _ => return GV_ERR_FUNCOPTERROR,
            }
        }
        let ev = CallEvent { event, user_id, error_code, flags, param, user_str: user_str.to_vec() };
        self.command(Command::Send(ClientMsg::VideoCall(ev)));
        0
    }

    /// `BRAC_Release`: logs out if needed, stops and joins the network thread.
    /// Called from a callback (on the network thread itself) it cannot join;
    /// the thread then ends as soon as the callback returns.
    pub fn shutdown(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.net.stop(Command::Shutdown);
        // The network thread has ended and closed the callback queue; wait
        // for a callback still running, unless this is that callback.
        if std::thread::current().id() != self.callback_thread {
            if let Some(t) = self.callbacks.lock().take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Net {
    poll: Poll,
    rx: Receiver<Command>,
    /// To itself, for the name-resolution helper thread.
    mailbox: Mailbox<Command>,
    state: Arc<Mutex<State>>,
    /// Events for the callback thread; video events counted in
    /// `pending_video`, the bytes of droppable ones in `pending_data`.
    callbacks: crossbeam_channel::Sender<Event>,
    pending_video: Arc<AtomicUsize>,
    pending_data: Arc<AtomicUsize>,
    /// Data events dropped for a slow callback since the last warning.
    data_dropped: u64,
    /// What the API threads queued for the server, and what the link holds.
    uplink: Arc<Uplink>,
    stopped: Arc<AtomicBool>,
    link: Option<Link>,
    /// Counts connect attempts, so that a late DNS answer is ignored.
    attempt: u64,
    /// Messages asked for while the server's name was being resolved.
    early: Vec<ClientMsg>,
    /// Reason the server gave in `LinkClose`, reported when the link drops.
    link_close_code: Option<u32>,
    /// Events collected under the state lock, delivered after it is released.
    events: Vec<Event>,
    /// Messages read from the link and not yet handled.
    inbox: Vec<ServerMsg>,
    /// Shared with the API threads' encoder: send a key frame next.
    force_key: Arc<AtomicBool>,
    /// One H.264 decoder per user whose video arrives.
    decoders: HashMap<u32, crate::codec::VideoDecoder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Down {
    /// The connect attempt failed: `WM_GV_CONNECT(0)`.
    ConnectFailed,
    /// An established link dropped: `WM_GV_LINKCLOSE(code)`.
    Lost(u32),
    /// Logout or release: no notification.
    Quiet,
    /// A new `BRAC_Connect` replaces the link: no notification, and the
    /// state stays `Connecting`.
    Replaced,
}

impl Net {
    fn run(&mut self) {
        let mut events = Events::with_capacity(64);
        let mut shutting_down: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let mut deadline = self.link.as_ref().map(|l| l.next_deadline());
            if let Some(t) = shutting_down {
                deadline = Some(deadline.map_or(t, |d| d.min(t)));
            }
            let timeout = deadline.map(|d| d.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!("client poll failed: {e}");
                    return;
                }
            }
            for event in events.iter() {
                if event.token() == SOCKET {
                    let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                    self.on_socket(event.is_writable(), readable);
                }
            }
            while let Ok(cmd) = self.rx.try_recv() {
                match cmd {
                    Command::Shutdown => {
                        if shutting_down.is_none() {
                            shutting_down = Some(Instant::now() + RELEASE_LINGER);
                            let logged_in = self.state.lock().logged_in;
                            if logged_in && self.link.as_ref().is_some_and(|l| l.is_ready()) {
                                self.state.lock().logging_out = true;
                                self.send(ClientMsg::Logout);
                            } else {
                                self.drop_link(Down::Quiet);
                            }
                        }
                    }
                    // After a release began, nothing but the logout goes out.
                    _ if shutting_down.is_some() => {}
                    cmd => self.on_command(cmd),
                }
            }
            if let Some(link) = self.link.as_mut() {
                if let Err(e) = link.poll_timers(Instant::now()) {
                    self.link_down(e);
                }
            }
            if let Some(link) = self.link.as_mut() {
                if let Err(e) = link.flush(self.poll.registry()) {
                    self.link_down(e);
                }
            }
            let unsent = self.link.as_ref().map_or(0, |l| l.pending_bytes());
            self.uplink.unsent.store(unsent, Ordering::SeqCst);
            if let Some(t) = shutting_down {
                if self.link.is_none() || Instant::now() >= t {
                    if let Some(link) = self.link.take() {
                        link.close(self.poll.registry());
                    }
                    return;
                }
                // Release: no callbacks once it has begun.
                self.events.clear();
            } else {
                self.deliver();
            }
        }
    }

    /// Hands the events to the callback thread: the network thread never
    /// waits for the app, so keep-alives and media go on while a callback runs.
    fn deliver(&mut self) {
        for ev in std::mem::take(&mut self.events) {
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            if matches!(ev, Event::Video { .. }) {
                self.pending_video.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(n) = ev.droppable_len() {
                if self.pending_data.load(Ordering::SeqCst) + n > MAX_PENDING_DATA {
                    if self.data_dropped == 0 {
                        tracing::warn!("the app's callbacks fall behind: text, buffers and audio dropped");
                    }
                    self.data_dropped += 1;
                    continue;
                }
                self.pending_data.fetch_add(n, Ordering::SeqCst);
                self.data_dropped = 0;
            }
            let _ = self.callbacks.send(ev);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Connect { host, port, tls, env } => {
                // The API already set the state to Connecting; keep it so.
                self.drop_link(Down::Replaced);
                self.attempt += 1;
                let attempt = self.attempt;
                let mailbox = self.mailbox.clone();
                // Name resolution can block, and so can reading certificate
                // files and the system trust store: both run off the
                // network thread.
                let spawned = std::thread::Builder::new().name("anychat-dns".into()).spawn(move || {
                    let tls = env.and_then(|env| env.for_host(&host, tls));
                    let result = (host.as_str(), port).to_socket_addrs().map(|a| a.collect());
                    mailbox.send(Command::Resolved { attempt, result, tls });
                });
                if spawned.is_err() {
                    self.connect_failed();
                }
            }
            Command::Resolved { attempt, result, tls } => {
                if attempt != self.attempt || self.state.lock().link != LinkState::Connecting {
                    return;
                }
                let tls = match tls {
                    Ok(tls) => tls,
                    Err(e) => {
                        tracing::warn!("BRAC_Connect: cannot set up TLS: {e}");
                        self.connect_failed();
                        return;
                    }
                };
                let addrs = match result {
                    Ok(addrs) if !addrs.is_empty() => addrs,
                    _ => {
                        tracing::info!("server address does not resolve");
                        self.connect_failed();
                        return;
                    }
                };
                let hello = ClientMsg::Hello {
                    version: PROTOCOL_VERSION,
                    role: Role::Client as u8,
                    secret: Vec::new(),
                    token: 0,
                };
                match Link::connect(self.poll.registry(), SOCKET, addrs, &hello, CONNECT_TIMEOUT, tls) {
                    Ok(link) => {
                        // Messages asked for while resolving go out after `Hello`.
                        let mut link = link;
                        for m in self.early.drain(..) {
                            link.send(&m);
                        }
                        self.link = Some(link);
                    }
                    Err(_) => self.connect_failed(),
                }
            }
            Command::Send(msg) => {
                self.uplink.taken(uplink_len(&msg));
                self.send(msg)
            }
            Command::Media(frame) => {
                self.uplink.taken(frame.bytes.len());
                if let Some(link) = self.link.as_mut().filter(|l| l.is_ready()) {
                    if link.send_media(frame) {
                        self.force_key.store(true, Ordering::SeqCst);
                    }
                }
            }
            Command::Logout => {
                if self.link.as_ref().is_some_and(|l| l.is_ready()) {
                    self.send(ClientMsg::Logout);
                } else {
                    self.drop_link(Down::Quiet);
                }
            }
            Command::Shutdown => {}
        }
    }

    fn connect_failed(&mut self) {
        self.drop_link(Down::ConnectFailed);
    }

    /// Queues a message: on the link if there is one (written after `Hello`),
    /// kept for it while the name resolves, else dropped.
    fn send(&mut self, msg: ClientMsg) {
        match &mut self.link {
            Some(link) => link.send(&msg),
            None if self.state.lock().link == LinkState::Connecting => self.early.push(msg),
            None => tracing::debug!(?msg, "dropped: not connected"),
        }
    }

    fn on_socket(&mut self, writable: bool, readable: bool) {
        let Some(link) = self.link.as_mut() else { return };
        let result = link.on_event(self.poll.registry(), writable, readable, &mut self.inbox);
        for msg in std::mem::take(&mut self.inbox) {
            self.on_message(msg);
        }
        if let Err(e) = result {
            self.link_down(e);
        }
        self.prune_decoders();
    }

    /// Video decoders are kept only for users in sight (this client's room
    /// or its call peer), so that their number stays that of the audience.
    fn prune_decoders(&mut self) {
        if self.decoders.is_empty() {
            return;
        }
        let st = self.state.lock();
        let peer = st.call.map(|c| c.peer);
        self.decoders.retain(|uid, _| Some(*uid) == peer || st.room_users.contains(uid));
    }

    /// The link (or the attempt) ended without our asking.
    fn link_down(&mut self, why: LinkError) {
        let ready = self.link.as_ref().is_some_and(|l| l.is_ready());
        let logging_out = self.state.lock().logging_out;
        if logging_out {
            self.drop_link(Down::Quiet);
        } else if ready {
            tracing::info!("link to the server lost: {why}");
            let code = self.link_close_code.take().unwrap_or(GV_ERR_CONNECT_ABORT);
            self.drop_link(Down::Lost(code));
        } else {
            if self.link.as_ref().is_some_and(|l| l.is_tls()) {
                tracing::warn!("cannot connect to the server over TLS: {why}");
            } else {
                tracing::info!("cannot connect to the server: {why}");
            }
            self.drop_link(Down::ConnectFailed);
        }
    }

    /// Closes the link, resets the session state and reports it as `how`.
    fn drop_link(&mut self, how: Down) {
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
        self.early.clear();
        self.link_close_code = None;
        let mut st = self.state.lock();
        let was = st.link;
        st.link = if how == Down::Replaced { LinkState::Connecting } else { LinkState::Idle };
        st.logged_in = false;
        st.logging_out = false;
        st.room = None;
        st.entering = None;
        st.room_users.clear();
        if let (Some(call), Down::Lost(_)) = (st.call, how) {
            // The app's call is over too: tell it as the peer would be told.
            let event = if matches!(call.phase, CallPhase::Active(_)) {
                BRAC_VIDEOCALL_EVENT_FINISH
            } else {
                BRAC_VIDEOCALL_EVENT_REPLY
            };
            let error_code = AC_ERROR_VIDEOCALL_DISCONNECT;
            self.events.push(Event::VideoCall {
                event,
                user_id: call.peer,
                error_code,
                flags: 0,
                param: 0,
                user_str: vec![],
            });
        }
        st.call = None;
        match how {
            Down::ConnectFailed if was != LinkState::Idle => {
                st.status = 0;
                self.events.push(Event::Notify { msg: WM_GV_CONNECT, wparam: 0, lparam: 0 });
            }
            Down::Lost(code) => {
                st.status = 5;
                self.events.push(Event::Notify { msg: WM_GV_LINKCLOSE, wparam: code, lparam: 0 });
            }
            Down::Quiet | Down::Replaced if st.status >= 2 => st.status = 4,
            _ => {}
        }
    }

    fn on_message(&mut self, msg: ServerMsg) {
        let mut st = self.state.lock();
        let ev = &mut self.events;
        let notify = |ev: &mut Vec<Event>, msg: u32, wparam: u32, lparam: u32| {
            ev.push(Event::Notify { msg, wparam, lparam });
        };
        match msg {
            ServerMsg::Welcome { keepalive_ms, .. } => {
                if let Some(link) = self.link.as_mut() {
                    link.set_ready(Duration::from_millis(keepalive_ms as u64));
                }
                st.link = LinkState::Connected;
                st.status = 1;
                notify(ev, WM_GV_CONNECT, 1, 0);
            }
            ServerMsg::Refused { code } => {
                tracing::warn!(code, "the server refused the handshake");
                drop(st);
                self.drop_link(Down::ConnectFailed);
            }
            ServerMsg::LoginResult { user_id, code, name, level, nick } => {
                if code == 0 {
                    st.logged_in = true;
                    st.self_id = Some(user_id);
                    let (camera, mic) = (GV_CAMERA_STATE_NORMAL, GV_AUDIO_STATE_NORMAL);
                    st.users.insert(user_id, UserInfo { name, nick, level, camera, mic });
                    st.status = 2;
                    notify(ev, WM_GV_LOGINSYSTEM, user_id, 0);
                } else {
                    notify(ev, WM_GV_LOGINSYSTEM, 0, code);
                }
            }
            ServerMsg::EnterRoomResult { room_id, code } => {
                let name = st.pending_room_name.take();
                if code == 0 {
                    st.entering = Some(room_id);
                    st.room_name = name.unwrap_or_default();
                    st.room_users.clear();
                } else {
                    notify(ev, WM_GV_ENTERROOM, room_id, code);
                }
            }
            ServerMsg::RoomUsers { room_id, users, more } => {
                if st.entering == Some(room_id) {
                    for u in users {
                        st.room_users.push(u.user_id);
                        st.users.insert(u.user_id, u.into());
                    }
                    if more {
                        return;
                    }
                    st.entering = None;
                    st.room = Some(room_id);
                    st.status = 3;
                    let count = st.room_users.len() as u32;
                    notify(ev, WM_GV_ENTERROOM, room_id, 0);
                    notify(ev, WM_GV_ONLINEUSER, count, room_id);
                }
            }
            ServerMsg::UserAtRoom { room_id, user, entered } => {
                if st.room == Some(room_id) {
                    st.room_users.retain(|u| *u != user.user_id);
                    if entered {
                        st.room_users.push(user.user_id);
                    }
                    let uid = user.user_id;
                    if entered || st.call.is_some_and(|c| c.peer == uid) {
                        st.users.insert(uid, user.into());
                    } else {
                        // Gone from sight: its states are no longer known.
                        st.users.remove(&uid);
                    }
                    notify(ev, WM_GV_USERATROOM, uid, entered as u32);
                }
            }
            ServerMsg::LeftRoom { room_id } => {
                if st.room == Some(room_id) {
                    st.room = None;
                    st.room_name.clear();
                    st.room_users.clear();
                    st.status = 2;
                }
            }
            ServerMsg::VideoCall { ev: e, peer } => {
                if !peer.name.is_empty() {
                    st.users.insert(e.user_id, peer.into());
                }
                st.call = next_call_state(st.call, &e);
                ev.push(Event::VideoCall {
                    event: e.event,
                    user_id: e.user_id,
                    error_code: e.error_code,
                    flags: e.flags,
                    param: e.param,
                    user_str: e.user_str,
                });
            }
            ServerMsg::LinkClose { code } => {
                self.link_close_code = Some(code);
            }
            ServerMsg::Pong { .. } => {}
            ServerMsg::TransBuffer { from, ex, wparam, lparam, task_id, data } => {
                ev.push(Event::TransBuffer { from, ex, wparam, lparam, task_id, data })
            }
            ServerMsg::Text { from, to, secret, text } => ev.push(Event::Text { from, to, secret, text }),
            ServerMsg::FilterData { data } => ev.push(Event::FilterData { data }),
            ServerMsg::Device { user_id, kind, state } => {
                let info = st.users.entry(user_id).or_default();
                if kind == DEVICE_CAMERA {
                    info.camera = state;
                    notify(ev, WM_GV_CAMERASTATE, user_id, state);
                } else if kind == DEVICE_MIC {
                    info.mic = state;
                    notify(ev, WM_GV_MICSTATECHANGE, user_id, (state == GV_AUDIO_STATE_OPEN) as u32);
                }
            }
            ServerMsg::NeedKeyFrame => self.force_key.store(true, Ordering::SeqCst),
            ServerMsg::Media { from, header, data } => {
                drop(st);
                self.on_media(from, header, data);
            }
            ServerMsg::UserInfo { user_id, info_id, value } => {
                st.infos.insert((user_id, info_id), value);
                notify(ev, WM_GV_USERINFOUPDATE, user_id, info_id);
            }
            other => tracing::debug!(?other, "ignored: not a client message"),
        }
    }
}

/// What this client knows of its call after the server sent `e`.
pub fn next_call_state(call: Option<ClientCall>, e: &CallEvent) -> Option<ClientCall> {
    let peer = e.user_id;
    let ours = call.filter(|c| c.peer == peer);
    match e.event {
        BRAC_VIDEOCALL_EVENT_REQUEST => Some(ClientCall { peer, caller: false, phase: CallPhase::Ringing }),
        BRAC_VIDEOCALL_EVENT_REPLY => match ours {
            Some(c) if c.caller && e.error_code == 0 => Some(ClientCall { phase: CallPhase::Ringing, ..c }),
            Some(c) if c.caller => None,
            // A callee hears of the end of its ringing call (cancel, time-out,
            // lost caller); BUSY/OFFLINE answer a request of its own instead.
            Some(_) if !matches!(e.error_code, 0 | AC_ERROR_VIDEOCALL_BUSY | AC_ERROR_VIDEOCALL_OFFLINE) => None,
            _ => call,
        },
        BRAC_VIDEOCALL_EVENT_START => match ours {
            Some(c) => Some(ClientCall { phase: CallPhase::Active(e.param), ..c }),
            None => call,
        },
        BRAC_VIDEOCALL_EVENT_FINISH => {
            if ours.is_some() {
                None
            } else {
                call
            }
        }
        _ => call,
    }
}

impl Net {
    /// A media frame of `from`: H.264 of this library is decoded (a frame
    /// that cannot be decoded is skipped), anything else passed on as is.
    fn on_media(&mut self, from: u32, header: MediaHeader, data: Vec<u8>) {
        let mut st = self.state.lock();
        let info = st.streams.entry(from).or_default();
        if header.kind == MEDIA_AUDIO {
            info.channels = header.b >> 16;
            info.rate = header.a;
            info.audio_codec = header.codec;
            drop(st);
            self.events.push(Event::Audio {
                from,
                channels: (header.b >> 16) as u16,
                rate: header.a,
                bits: (header.b & 0xFFFF) as u16,
                codec: header.codec,
                timestamp: header.timestamp,
                data,
            });
            return;
        }
        let (mut w, mut h, mut frame, mut decoded) = (header.a, header.b, data, false);
        if header.codec == CODEC_H264 {
            let decoder = match self.decoders.entry(from) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => match crate::codec::VideoDecoder::new() {
                    Ok(d) => v.insert(d),
                    Err(e) => {
                        tracing::warn!("cannot start a video decoder: {e}");
                        return;
                    }
                },
            };
            match decoder.decode(&frame) {
                Ok(Some(d)) => {
                    (w, h, frame, decoded) = (d.w, d.h, d.i420, true);
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(from, "video frame not decoded: {e}");
                    return;
                }
            }
        }
        let changed = (info.width, info.height) != (w, h);
        info.width = w;
        info.height = h;
        info.video_codec = header.codec;
        drop(st);
        if changed {
            let size = (w & 0xFFFF) | ((h & 0xFFFF) << 16);
            self.events.push(Event::Notify { msg: WM_GV_VIDEOSIZECHG, wparam: from, lparam: size });
        }
        self.events.push(Event::Video {
            from,
            w,
            h,
            codec: header.codec,
            timestamp: header.timestamp,
            data: frame,
            decoded,
        });
    }
}

impl Client {
    /// `BRAC_SetInputVideoFormat(Ex)`: `codec` 0 = raw frames in `pix_fmt`
    /// (RGB24, RGB32 or YUV420P), encoded here with H.264; any other codec
    /// id = frames already encoded, relayed unchanged.
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
        *self.video_in.lock() = Some(VideoInput { codec, pix_fmt, w, h, encoder });
        self.force_key.store(true, Ordering::SeqCst);
        0
    }

    /// `BRAC_SetInputAudioFormat(Ex)`: `codec` 0 = 16-bit PCM, relayed as
    /// PCM (no Opus here); any other codec id = already encoded, relayed
    /// unchanged.
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
        let st = self.state.lock();
        if !st.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        let me = st.self_id.and_then(|id| st.users.get(&id));
        Ok(me.is_some_and(|u| if video { u.camera == GV_CAMERA_STATE_OPEN } else { u.mic == GV_AUDIO_STATE_OPEN }))
    }

    fn send_media(&self, header: MediaHeader, data: &[u8]) {
        let video = header.kind == MEDIA_VIDEO;
        let mut bytes = Vec::with_capacity(data.len() + 40);
        ClientMsg::Media { header, data: data.to_vec() }.encode(&mut bytes);
        if !self.uplink.admit(bytes.len()) {
            // The uplink is behind: this frame is lost, the next video
            // frame starts afresh.
            if video {
                self.force_key.store(true, Ordering::SeqCst);
            }
            return;
        }
        let frame = crate::wire::protocol::MediaOut { bytes, from: 0, video, key: header.key || !video };
        self.command(Command::Media(Arc::new(frame)));
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
            drop(guard);
            self.send_media(header, frame);
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
        drop(guard);
        if encoded.data.is_empty() {
            return 0;
        }
        let header = MediaHeader { kind: MEDIA_VIDEO, key: encoded.key, codec: CODEC_H264, timestamp, a: w, b: h };
        self.send_media(header, &encoded.data);
        0
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

    /// `BRAC_UserCameraControl(user)` / `BRAC_UserSpeakControl(user)` for
    /// another user: receive (or stop receiving) its video or audio.
    fn subscribe(&self, user_id: u32, kind: u8, on: bool) {
        self.command(Command::Send(ClientMsg::Subscribe { user_id, kind, on }));
    }
}

/// Options `BRAC_SetSDKOption` keeps (process-wide, as in the vendor SDK:
/// they may be set before `BRAC_InitSDK`).
pub const KEPT_OPTIONS: [u32; 4] = [
    BRAC_SO_CORESDK_EXTVIDEOINPUT,
    BRAC_SO_CORESDK_EXTAUDIOINPUT,
    BRAC_SO_NETWORK_AUTORECONNECT,
    BRAC_SO_CORESDK_LOWDELAYCTRL,
];
static OPTIONS: Mutex<Vec<(u32, i32)>> = Mutex::new(Vec::new());

/// Keeps an option's value; false for an option not kept.
pub fn set_sdk_option(option: u32, value: i32) -> bool {
    if !KEPT_OPTIONS.contains(&option) {
        return false;
    }
    let mut o = OPTIONS.lock();
    o.retain(|(k, _)| *k != option);
    o.push((option, value));
    true
}

/// A kept option's value (0 when never set); None for an option not kept.
pub fn sdk_option(option: u32) -> Option<i32> {
    if !KEPT_OPTIONS.contains(&option) {
        return None;
    }
    Some(OPTIONS.lock().iter().find(|(k, _)| *k == option).map_or(0, |(_, v)| *v))
}
