//! What a client knows — its link, session, room and call, the users it has
//! met — as the API threads read it, and the API side of each `BRAC_*`
//! call that changes it.
//!
//! One [`State`] per initialised SDK sits behind a mutex shared by the API
//! threads and the network thread. The engine ([`super::engine`]) updates
//! it as messages arrive; the API threads call the methods below, which
//! check a call against the state, change it when the call takes effect at
//! once (a Request makes the call `Dialing`, a Logout answers as logged out
//! from then on), and give back the message to send or the `GV_ERR_*` code
//! to return. All of it is pure: the tests run the API's return codes
//! against a `State` with no thread, lock or socket.
//!
//! **The queue** (the vendor's habit of calling `BRAC_Connect`,
//! `BRAC_Login`, `BRAC_EnterRoom` one after another without waiting):
//! while a step is under way — a connect, a login, a room entry, sent and
//! not answered — or calls wait before it, a call that needs that step
//! ([`Call`]) is checked for what can be known at once (its arguments; a
//! login issued or done, else 208; for a login, a link, else 101) and
//! waits in [`State::queue`] (at most [`MAX_QUEUED`] calls); the engine
//! runs each, in order, when nothing is under way any more, with the same
//! checks as a call made at that moment ([`State::run`]), and reports a
//! failure the vendor's way (see the engine). With nothing under way a
//! call runs at once, as before.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::friends::Friends;
use crate::wire::constants::*;
use crate::wire::protocol::{CallEvent, ClientMsg, RoomUser, DEVICE_CAMERA, MAX_BLOB_LEN, MEDIA_AUDIO, MEDIA_VIDEO};

/// Returned by API methods: a `GV_ERR_*` code (0 = success).
pub type Code = u32;

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
/// Calls that may wait in the queue; one more is refused (20, or 700 for a
/// buffer), so that an app calling in a loop before its login completes
/// cannot grow the library's memory (at most this many texts or buffers of
/// [`MAX_BLOB_LEN`] bytes).
pub const MAX_QUEUED: usize = 64;

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
    /// Bytes of video and of audio received from the user (sent, for oneself).
    pub video_meter: Meter,
    pub audio_meter: Meter,
}

/// The bit rate of a stream (`BRAC_USERSTATE_VIDEOBITRATE` / `AUDIOBITRATE`):
/// bytes are counted over windows of at least a second; the rate is the last
/// whole window's, 0 once nothing came for [`Meter::QUIET`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meter {
    since: Option<Instant>,
    last: Option<Instant>,
    bytes: u64,
    bps: u32,
}

impl Meter {
    const WINDOW: Duration = Duration::from_secs(1);
    pub const QUIET: Duration = Duration::from_secs(2);

    /// `bytes` of the stream came (or went) at `now`.
    pub fn add(&mut self, now: Instant, bytes: usize) {
        if self.last.is_none_or(|t| now.saturating_duration_since(t) > Self::QUIET) {
            // A new start: nothing is known of the rate yet.
            *self = Meter { since: Some(now), ..Meter::default() };
        }
        let since = self.since.unwrap_or(now);
        let span = now.saturating_duration_since(since);
        if span >= Self::WINDOW {
            let bits = self.bytes.saturating_mul(8 * 1000) / (span.as_millis().max(1) as u64);
            self.bps = u32::try_from(bits).unwrap_or(u32::MAX);
            self.since = Some(now);
            self.bytes = 0;
        }
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.last = Some(now);
    }

    /// Bits per second at `now`.
    pub fn bps(&self, now: Instant) -> u32 {
        match self.last {
            Some(t) if now.saturating_duration_since(t) <= Self::QUIET => self.bps,
            _ => 0,
        }
    }
}

/// The speech level of a user's last audio chunk (`BRAC_USERSTATE_SPEAKVOLUME`):
/// 0–100 (see [`pcm_level`]), and when it was heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub value: u32,
    pub at: Instant,
}

/// The core server a `BRAC_Connect` names; the same one again keeps the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
    /// Over TLS (`tls://`).
    pub tls: bool,
}

/// The room a room entry under way aims at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomTarget {
    Id(u32),
    Name(Vec<u8>),
}

/// A `BRAC_*` call that may wait in the queue, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Login { name: Vec<u8>, password: Vec<u8>, pass_enc_type: u32 },
    LoginEx { name: Vec<u8>, nick: Vec<u8>, user_id: u32, password: Vec<u8> },
    EnterRoom { room_id: u32, password: Vec<u8> },
    EnterRoomByName { name: Vec<u8>, password: Vec<u8> },
    LeaveRoom { room_id: u32 },
    Text { to: u32, secret: bool, text: Vec<u8> },
    TransBuffer { to: u32, data: Vec<u8>, ex: Option<(u32, u32)>, task_id: u32 },
    Device { kind: u8, user_id: u32, open: bool },
    VideoCall { event: u32, user_id: u32, error_code: u32, flags: u32, param: u32, user_str: Vec<u8> },
}

impl Call {
    /// The user name of a login.
    fn login_name(&self) -> Option<&[u8]> {
        match self {
            Call::Login { name, .. } | Call::LoginEx { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// What an accepted API call gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Send this message now.
    Send(ClientMsg),
    /// The call waits in the queue: wake the engine ([`super::engine::Command::RunQueue`]).
    Queued,
}

/// What a call gives when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    Send(ClientMsg),
    /// A login as the user logged in: nothing to send, the engine answers
    /// it again with success.
    Again,
}

/// What API threads may read; written by both sides under the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub link: LinkState,
    pub logged_in: bool,
    pub self_id: Option<u32>,
    /// This client's IP address on its link to the server
    /// (`BRAC_USERSTATE_LOCALIP`), and as the server sees it (`INTERNETIP`,
    /// told at login); empty until known.
    pub local_ip: Vec<u8>,
    pub internet_ip: Vec<u8>,
    pub room: Option<u32>,
    /// The name the current room was entered by (`BRAC_EnterRoomEx`).
    pub room_name: Vec<u8>,
    /// Everyone in `room`, self included.
    pub room_users: Vec<u32>,
    /// Users met (self, room members, call peers), by id.
    pub users: HashMap<u32, UserInfo>,
    /// Infos the business server set (`BRAS_SetUserInfo`), by (user, info id).
    pub infos: HashMap<(u32, u32), Vec<u8>>,
    /// Friends and groups the business server set (`friends.rs`).
    pub friends: Friends,
    /// `BRAC_QueryInfoFromServer` queries sent, by id: `None` until the
    /// server's answer (code, output) arrives.
    pub queries: HashMap<u32, Option<(Code, Vec<u8>)>>,
    pub(crate) next_query: u32,
    /// Last task id given to a `BRAC_TransBuffer(Ex)`.
    pub(crate) next_task: u32,
    /// Streams received, by user.
    pub streams: HashMap<u32, StreamInfo>,
    /// The speech level of the last audio chunk received from each user,
    /// and of this client's own input.
    pub levels: HashMap<u32, Level>,
    pub call: Option<ClientCall>,
    /// `BRAC_USERSTATE_SELFUSERSTATUS`: 0 unknown, 1 connected, 2 logged in,
    /// 3 in room, 4 logged out, 5 link closed.
    pub status: u32,
    /// Set when `BRAC_Logout` was asked, so the server's close is expected.
    pub(crate) logging_out: bool,
    /// Enter succeeded; `WM_GV_ENTERROOM` waits for the room's user list.
    pub(crate) entering: Option<u32>,
    /// The server of the last `BRAC_Connect`.
    pub server: Option<ServerAddr>,
    /// Counts the sessions (each `BRAC_Connect` that does not keep the
    /// one there is): the engine ignores a link of an older session.
    pub session: u64,
    /// Calls waiting for the step under way (see the module's docs).
    pub queue: VecDeque<Call>,
    /// The user name of the login issued (waiting, sent) or done in this session.
    pub(crate) login_name: Option<Vec<u8>>,
    /// A login was sent and not answered yet.
    pub(crate) login_in_flight: bool,
    /// A room entry was sent and not answered yet (until its user list).
    pub(crate) enter_pending: Option<RoomTarget>,
    /// The server asked for PCM audio (`ServerMsg::AudioCodec`): a receiver
    /// of this client's audio decodes no Opus.
    pub audio_pcm: bool,
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// The speech level of 16-bit PCM samples (little-endian, any channel
/// count), 0–100: the RMS of the chunk in dBFS, mapped linearly from
/// -60 dBFS (and silence) to 0 to full scale (0 dBFS) to 100. A sine of
/// peak 8000 (RMS -15.3 dBFS) gives 75; a tenth of it, 41.
pub fn pcm_level(pcm16: &[u8]) -> u32 {
    let n = pcm16.len() / 2;
    if n == 0 {
        return 0;
    }
    let sum: f64 = pcm16
        .chunks_exact(2)
        .map(|b| {
            let s = i16::from_le_bytes([b[0], b[1]]) as f64;
            s * s
        })
        .sum();
    let rms = (sum / n as f64).sqrt();
    if rms < 1.0 {
        return 0;
    }
    let dbfs = 20.0 * (rms / 32768.0).log10();
    ((dbfs + 60.0) * 100.0 / 60.0).round().clamp(0.0, 100.0) as u32
}

impl State {
    pub fn new() -> Self {
        State {
            link: LinkState::Idle,
            logged_in: false,
            self_id: None,
            local_ip: Vec::new(),
            internet_ip: Vec::new(),
            room: None,
            room_name: Vec::new(),
            room_users: Vec::new(),
            users: HashMap::new(),
            infos: HashMap::new(),
            friends: Friends::default(),
            queries: HashMap::new(),
            next_query: 0,
            next_task: 0,
            streams: HashMap::new(),
            levels: HashMap::new(),
            call: None,
            status: 0,
            logging_out: false,
            entering: None,
            server: None,
            session: 0,
            queue: VecDeque::new(),
            login_name: None,
            login_in_flight: false,
            enter_pending: None,
            audio_pcm: false,
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

    /// Whether `user_id`'s video may reach this client (the users of its
    /// room, its call peer, and itself: its own input shown back): decoders
    /// are kept only for them.
    pub fn in_sight(&self, user_id: u32) -> bool {
        self.knows(user_id) || Some(user_id) == self.self_id
    }

    /// Whether calls wait in the queue now: a connect, a login or a room
    /// entry is under way, or calls are waiting already.
    pub fn busy(&self) -> bool {
        self.link == LinkState::Connecting
            || !self.queue.is_empty()
            || (self.login_name.is_some() && !self.logged_in)
            || self.enter_pending.is_some()
    }

    /// Forgets the session as the app sees it (its link is being replaced
    /// or logged out): nothing of it is answered any more.
    fn end_session(&mut self) {
        self.logged_in = false;
        self.login_name = None;
        self.login_in_flight = false;
        self.room = None;
        self.room_name.clear();
        self.room_users.clear();
        self.call = None;
        self.queue.clear();
        self.enter_pending = None;
        self.entering = None;
        self.logging_out = false;
        self.audio_pcm = false;
        if self.status >= 2 {
            self.status = 4;
        }
    }

    /// The first login waiting in the queue becomes the one under way
    /// (after the one there was failed).
    pub(crate) fn login_failed(&mut self) {
        self.login_in_flight = false;
        if !self.logged_in {
            self.login_name = self.queue.iter().find_map(|c| c.login_name().map(<[u8]>::to_vec));
        }
    }

    /// This client's own audio input had that level (`now`).
    pub fn own_level(&mut self, value: u32, now: Instant) {
        if let Some(me) = self.self_id {
            self.levels.insert(me, Level { value, at: now });
        }
    }

    // ----- the API side of the BRAC_ calls ---------------------------------

    /// `BRAC_Connect` (arguments already checked) to `server`: the same
    /// server while connected or connecting keeps the session (the engine
    /// answers `WM_GV_CONNECT` again); any other starts a new session at
    /// once — the old one is forgotten, as after `BRAC_Logout`, so that the
    /// `BRAC_Login` right after it is the new session's. Gives the session
    /// the engine's `Connect` belongs to.
    pub fn connect(&mut self, server: ServerAddr) -> u64 {
        if self.link != LinkState::Idle && self.server.as_ref() == Some(&server) {
            return self.session;
        }
        self.end_session();
        self.session += 1;
        self.server = Some(server);
        self.link = LinkState::Connecting;
        self.session
    }

    /// An API call: run at once when nothing is under way, else checked for
    /// what can be known now and queued (see the module's docs).
    pub fn submit(&mut self, call: Call) -> Result<Submitted, Code> {
        if !self.busy() && !self.repeats(&call) {
            return self.start(call).map(Submitted::Send);
        }
        self.check_queued(&call)?;
        if self.queue.len() >= MAX_QUEUED {
            tracing::debug!("call refused: {MAX_QUEUED} calls wait already");
            return Err(match call {
                Call::TransBuffer { .. } => GV_ERR_TRANSBUF_CREATEFAIL,
                _ => GV_ERR_FUNCNOTALLOW,
            });
        }
        match &call {
            Call::TransBuffer { task_id, .. } => self.next_task = *task_id,
            c => {
                if let Some(name) = c.login_name() {
                    self.login_name = Some(name.to_vec());
                }
            }
        }
        self.queue.push_back(call);
        Ok(Submitted::Queued)
    }

    /// A call that waited runs (the engine calls it when nothing is under
    /// way any more): the same checks as a call made now.
    pub fn run(&mut self, call: Call) -> Result<Ran, Code> {
        if self.repeats(&call) {
            return Ok(Ran::Again);
        }
        self.start(call).map(Ran::Send)
    }

    /// A login as the user logged in (a GUI's button pressed twice):
    /// answered again, nothing sent. (An entry into the room one is in
    /// goes to the server, whose "already in" the engine answers as success.)
    fn repeats(&self, call: &Call) -> bool {
        match call.login_name() {
            Some(name) => self.logged_in && self.login_name.as_deref() == Some(name),
            None => false,
        }
    }

    /// What a call that will wait can be refused for at once: its
    /// arguments, and for a login a link (101) and no login of another
    /// user (201), for the others a login issued or done (208).
    fn check_queued(&self, call: &Call) -> Result<(), Code> {
        let login_issued = || if self.logged_in || self.login_name.is_some() { Ok(()) } else { Err(GV_ERR_NOTLOGIN) };
        match call {
            Call::Login { name, password, .. } => {
                check_login_args(name, b"", password)?;
                self.check_queued_login(name)
            }
            Call::LoginEx { name, nick, password, .. } => {
                check_login_args(name, nick, password)?;
                self.check_queued_login(name)
            }
            Call::EnterRoom { room_id, password } => {
                check_room_args(*room_id, password)?;
                login_issued()
            }
            Call::EnterRoomByName { name, password } => {
                if name.is_empty() || name.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
                    return Err(GV_ERR_FUNCOPTERROR);
                }
                login_issued()
            }
            Call::Text { text: data, .. } | Call::TransBuffer { data, .. } => {
                if data.is_empty() || data.len() > MAX_BLOB_LEN {
                    return Err(GV_ERR_FUNCOPTERROR);
                }
                login_issued()
            }
            Call::LeaveRoom { .. } | Call::Device { .. } => login_issued(),
            Call::VideoCall { event, user_id, flags, user_str, .. } => {
                if user_str.len() > MAX_USER_STR_LEN {
                    return Err(GV_ERR_FUNCOPTERROR);
                }
                login_issued()?;
                match *event {
                    BRAC_VIDEOCALL_EVENT_REQUEST => {
                        let to_self = *user_id == 0 || *user_id == u32::MAX || Some(*user_id) == self.self_id;
                        if to_self || flags & !VIDEOCALL_KNOWN_FLAGS != 0 {
                            return Err(GV_ERR_FUNCOPTERROR);
                        }
                        Ok(())
                    }
                    BRAC_VIDEOCALL_EVENT_REPLY | BRAC_VIDEOCALL_EVENT_FINISH => Ok(()),
                    BRAC_VIDEOCALL_EVENT_START => Err(GV_ERR_FUNCNOTALLOW),
                    _ => Err(GV_ERR_FUNCOPTERROR),
                }
            }
        }
    }

    fn check_queued_login(&self, name: &[u8]) -> Result<(), Code> {
        if self.link == LinkState::Idle {
            return Err(GV_ERR_CONNECT_ABORT);
        }
        match &self.login_name {
            Some(n) if n.as_slice() != name => Err(GV_ERR_ALREADY_LOGIN),
            _ => Ok(()),
        }
    }

    /// Runs a call now: checks it against the state, changes the state when
    /// the call takes effect at once, gives the message to send.
    fn start(&mut self, call: Call) -> Result<ClientMsg, Code> {
        match call {
            Call::Login { name, password, pass_enc_type } => {
                check_login_args(&name, b"", &password)?;
                self.start_login(&name)?;
                Ok(ClientMsg::Login { name, password, pass_enc_type })
            }
            Call::LoginEx { name, nick, user_id, password } => {
                check_login_args(&name, &nick, &password)?;
                self.start_login(&name)?;
                Ok(ClientMsg::LoginEx { name, password, user_id, nick })
            }
            Call::EnterRoom { room_id, password } => {
                check_room_args(room_id, &password)?;
                if !self.logged_in {
                    return Err(GV_ERR_NOTLOGIN);
                }
                self.enter_pending = Some(RoomTarget::Id(room_id));
                Ok(ClientMsg::EnterRoom { room_id, password })
            }
            Call::EnterRoomByName { name, password } => {
                if name.is_empty() || name.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
                    return Err(GV_ERR_FUNCOPTERROR);
                }
                if !self.logged_in {
                    return Err(GV_ERR_NOTLOGIN);
                }
                self.enter_pending = Some(RoomTarget::Name(name.clone()));
                Ok(ClientMsg::EnterRoomByName { name, password })
            }
            Call::LeaveRoom { room_id } => self.start_leave_room(room_id),
            Call::Text { to, secret, text } => self.start_text(to, secret, text),
            Call::TransBuffer { to, data, ex, task_id } => self.start_trans_buffer(to, data, ex, task_id),
            Call::Device { kind, user_id, open } => self.start_device(kind, user_id, open),
            Call::VideoCall { event, user_id, error_code, flags, param, user_str } => {
                self.start_video_call(event, user_id, error_code, flags, param, user_str)
            }
        }
    }

    /// A login may be sent: connected or connecting, not logged in yet.
    fn start_login(&mut self, name: &[u8]) -> Result<(), Code> {
        if self.link == LinkState::Idle {
            return Err(GV_ERR_CONNECT_ABORT);
        }
        if self.logged_in || self.login_in_flight {
            return Err(GV_ERR_ALREADY_LOGIN);
        }
        self.login_name = Some(name.to_vec());
        self.login_in_flight = true;
        Ok(())
    }

    /// `BRAC_Login`: written after the handshake's `Hello`; issued while
    /// the connect (or another step) is under way, it waits.
    pub fn login(&mut self, name: &[u8], password: &[u8], pass_enc_type: u32) -> Result<Submitted, Code> {
        self.submit(Call::Login { name: name.to_vec(), password: password.to_vec(), pass_enc_type })
    }

    /// `BRAC_LoginEx`: logs in as `name` (the app's string user id, or the
    /// nick name) with the app's numeric `user_id` (0: none) and nick name.
    pub fn login_ex(&mut self, name: &[u8], nick: &[u8], user_id: u32, password: &[u8]) -> Result<Submitted, Code> {
        self.submit(Call::LoginEx { name: name.to_vec(), nick: nick.to_vec(), user_id, password: password.to_vec() })
    }

    /// `BRAC_SendTextMessage`: to a user of this client's room, or to the
    /// whole room (`to` 0 or -1).
    pub fn send_text(&mut self, to: u32, secret: bool, text: &[u8]) -> Result<Submitted, Code> {
        self.submit(Call::Text { to, secret, text: text.to_vec() })
    }

    fn start_text(&self, to: u32, secret: bool, text: Vec<u8>) -> Result<ClientMsg, Code> {
        if text.is_empty() || text.len() > MAX_BLOB_LEN {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        if self.room.is_none() {
            return Err(GV_ERR_NOTINROOM);
        }
        if to != 0 && to != u32::MAX && (Some(to) == self.self_id || !self.room_users.contains(&to)) {
            return Err(GV_ERR_INVALID_USERID);
        }
        Ok(ClientMsg::Text { to, secret, text })
    }

    /// `BRAC_TransBuffer(Ex)`: bytes for a user this client knows (in its
    /// room or its call peer), or for the business server (0). Gives what
    /// became of the call and the task id of the transfer.
    pub fn trans_buffer(&mut self, to: u32, data: &[u8], ex: Option<(u32, u32)>) -> Result<(Submitted, u32), Code> {
        let task_id = self.next_task.wrapping_add(1).max(1);
        let submitted = self.submit(Call::TransBuffer { to, data: data.to_vec(), ex, task_id })?;
        Ok((submitted, task_id))
    }

    fn start_trans_buffer(
        &mut self,
        to: u32,
        data: Vec<u8>,
        ex: Option<(u32, u32)>,
        task_id: u32,
    ) -> Result<ClientMsg, Code> {
        if data.is_empty() || data.len() > MAX_BLOB_LEN {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        if to != 0 && (Some(to) == self.self_id || !self.knows(to)) {
            return Err(GV_ERR_INVALID_USERID);
        }
        self.next_task = task_id;
        let (wparam, lparam) = ex.unwrap_or((0, 0));
        Ok(ClientMsg::TransBuffer { to, ex: ex.is_some(), wparam, lparam, task_id, data })
    }

    /// `BRAC_UserCameraControl` / `BRAC_UserSpeakControl`: for oneself (-1
    /// or one's own id) opens or closes the device state the room sees; for
    /// another user it subscribes to (or leaves) that user's video or audio,
    /// which the core server then relays to this client.
    pub fn device(&mut self, kind: u8, user_id: u32, open: bool) -> Result<Submitted, Code> {
        self.submit(Call::Device { kind, user_id, open })
    }

    fn start_device(&self, kind: u8, user_id: u32, open: bool) -> Result<ClientMsg, Code> {
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        if user_id == u32::MAX || Some(user_id) == self.self_id {
            return Ok(ClientMsg::Device { kind, open });
        }
        if !self.knows(user_id) {
            return Err(GV_ERR_INVALID_USERID);
        }
        let media_kind = if kind == DEVICE_CAMERA { MEDIA_VIDEO } else { MEDIA_AUDIO };
        Ok(ClientMsg::Subscribe { user_id, kind: media_kind, on: open })
    }

    /// Whether this client may send its `video` (else audio) now: logged in
    /// (else 208) and that device open (`BRAC_UserCameraControl(-1, TRUE)`).
    pub fn may_send(&self, video: bool) -> Result<bool, Code> {
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        let me = self.self_id.and_then(|id| self.users.get(&id));
        Ok(me.is_some_and(|u| if video { u.camera == GV_CAMERA_STATE_OPEN } else { u.mic == GV_AUDIO_STATE_OPEN }))
    }

    /// `BRAC_Logout`: ends the session (the link closes after it); from now
    /// on the API answers as logged out and unlinked (a new `BRAC_Connect`
    /// is needed), and the calls that waited are dropped unanswered.
    pub fn logout(&mut self) -> Result<(), Code> {
        if self.link == LinkState::Idle {
            return Err(GV_ERR_NOTLOGIN);
        }
        let logged_in = self.logged_in;
        self.end_session();
        self.logging_out = true;
        self.link = LinkState::Idle;
        if logged_in {
            self.status = 4;
        }
        Ok(())
    }

    /// `BRAC_EnterRoom`.
    pub fn enter_room(&mut self, room_id: u32, password: &[u8]) -> Result<Submitted, Code> {
        self.submit(Call::EnterRoom { room_id, password: password.to_vec() })
    }

    /// `BRAC_EnterRoomEx`.
    pub fn enter_room_by_name(&mut self, name: &[u8], password: &[u8]) -> Result<Submitted, Code> {
        self.submit(Call::EnterRoomByName { name: name.to_vec(), password: password.to_vec() })
    }

    /// `BRAC_LeaveRoom` (`u32::MAX` = the current room).
    pub fn leave_room(&mut self, room_id: u32) -> Result<Submitted, Code> {
        self.submit(Call::LeaveRoom { room_id })
    }

    fn start_leave_room(&mut self, room_id: u32) -> Result<ClientMsg, Code> {
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        match self.room {
            Some(r) if room_id == u32::MAX || room_id == r => {
                self.room = None;
                self.room_users.clear();
                self.status = 2;
            }
            _ => return Err(GV_ERR_NOTINROOM),
        }
        Ok(ClientMsg::LeaveRoom { room_id })
    }

    /// `BRAC_VideoCallControl`: checks the event against what this client
    /// knows of its call (see the contract's table) and gives the message
    /// to send: 21 for a bad argument (a Request to oneself, to 0 or -1,
    /// with an unknown flag; an unknown event; a `lpUserStr` too long), 208
    /// not logged in, 20 an event that does not fit the call (a Request
    /// while in a call; a Reply or Finish naming someone who is not the
    /// peer; a Reply 0 from the caller; a second answer; any START). While
    /// a step is under way (the login), the event waits and its fit to the
    /// call is checked when it runs.
    pub fn video_call(
        &mut self,
        event: u32,
        user_id: u32,
        error_code: u32,
        flags: u32,
        param: u32,
        user_str: &[u8],
    ) -> Result<Submitted, Code> {
        self.submit(Call::VideoCall { event, user_id, error_code, flags, param, user_str: user_str.to_vec() })
    }

    fn start_video_call(
        &mut self,
        event: u32,
        user_id: u32,
        error_code: u32,
        flags: u32,
        param: u32,
        user_str: Vec<u8>,
    ) -> Result<ClientMsg, Code> {
        if user_str.len() > MAX_USER_STR_LEN {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        let me = self.self_id.unwrap_or(0);
        let call = self.call;
        let is_peer = call.is_some_and(|c| c.peer == user_id);
        match event {
            BRAC_VIDEOCALL_EVENT_REQUEST => {
                if user_id == me || user_id == 0 || user_id == u32::MAX || flags & !VIDEOCALL_KNOWN_FLAGS != 0 {
                    return Err(GV_ERR_FUNCOPTERROR);
                }
                if call.is_some() {
                    return Err(GV_ERR_FUNCNOTALLOW);
                }
                self.call = Some(ClientCall { peer: user_id, caller: true, phase: CallPhase::Dialing });
            }
            BRAC_VIDEOCALL_EVENT_REPLY => {
                let Some(c) = call.filter(|_| is_peer) else { return Err(GV_ERR_FUNCNOTALLOW) };
                match (c.caller, c.phase, error_code) {
                    // The callee answers a ringing call.
                    (false, CallPhase::Ringing, 0) => {
                        self.call = Some(ClientCall { phase: CallPhase::Accepted, ..c });
                    }
                    (false, CallPhase::Ringing, _) => self.call = None,
                    // The caller cancels (any non-zero code).
                    (true, CallPhase::Dialing | CallPhase::Ringing, c) if c != 0 => self.call = None,
                    _ => return Err(GV_ERR_FUNCNOTALLOW),
                }
            }
            BRAC_VIDEOCALL_EVENT_FINISH => {
                if !is_peer {
                    return Err(GV_ERR_FUNCNOTALLOW);
                }
                self.call = None;
            }
            BRAC_VIDEOCALL_EVENT_START => return Err(GV_ERR_FUNCNOTALLOW),
            _ => return Err(GV_ERR_FUNCOPTERROR),
        }
        let ev = CallEvent { event, user_id, error_code, flags, param, user_str };
        Ok(ClientMsg::VideoCall(ev))
    }
}

/// A login's names and password: 21 when empty or too long.
fn check_login_args(name: &[u8], nick: &[u8], password: &[u8]) -> Result<(), Code> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || nick.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
        return Err(GV_ERR_FUNCOPTERROR);
    }
    Ok(())
}

/// A room number and password: 21 for room 0 or -1, a password too long.
fn check_room_args(room_id: u32, password: &[u8]) -> Result<(), Code> {
    if room_id == 0 || room_id == u32::MAX || password.len() > MAX_NAME_LEN {
        return Err(GV_ERR_FUNCOPTERROR);
    }
    Ok(())
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
