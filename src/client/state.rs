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
#![forbid(unsafe_code)]

use std::collections::HashMap;

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

/// What API threads may read; written by both sides under the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Friends and groups the business server set (`friends.rs`).
    pub friends: Friends,
    /// Room name of the last `BRAC_EnterRoomEx`, until its answer.
    pub(crate) pending_room_name: Option<Vec<u8>>,
    /// Last task id given to a `BRAC_TransBuffer(Ex)`.
    pub(crate) next_task: u32,
    /// Streams received, by user.
    pub streams: HashMap<u32, StreamInfo>,
    pub call: Option<ClientCall>,
    /// `BRAC_USERSTATE_SELFUSERSTATUS`: 0 unknown, 1 connected, 2 logged in,
    /// 3 in room, 4 logged out, 5 link closed.
    pub status: u32,
    /// Set when `BRAC_Logout` was asked, so the server's close is expected.
    pub(crate) logging_out: bool,
    /// Enter succeeded; `WM_GV_ENTERROOM` waits for the room's user list.
    pub(crate) entering: Option<u32>,
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl State {
    pub fn new() -> Self {
        State {
            link: LinkState::Idle,
            logged_in: false,
            self_id: None,
            room: None,
            room_name: Vec::new(),
            room_users: Vec::new(),
            users: HashMap::new(),
            infos: HashMap::new(),
            friends: Friends::default(),
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

    /// Whether `user_id`'s media may reach this client (the users of its
    /// room and its call peer): decoders are kept only for them.
    pub fn in_sight(&self, user_id: u32) -> bool {
        self.knows(user_id)
    }

    // ----- the API side of the BRAC_ calls ---------------------------------

    /// `BRAC_Connect` (arguments already checked): connecting from now on,
    /// so that a `BRAC_Login` right after it is queued.
    pub fn connect(&mut self) {
        self.link = LinkState::Connecting;
    }

    /// A login may be sent: connected or connecting, not logged in yet.
    fn may_log_in(&self) -> Result<(), Code> {
        if self.link == LinkState::Idle {
            return Err(GV_ERR_CONNECT_ABORT);
        }
        if self.logged_in {
            return Err(GV_ERR_ALREADY_LOGIN);
        }
        Ok(())
    }

    /// `BRAC_Login`: queued until the handshake completes.
    pub fn login(&self, name: &[u8], password: &[u8], pass_enc_type: u32) -> Result<ClientMsg, Code> {
        if name.is_empty() || name.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        self.may_log_in()?;
        Ok(ClientMsg::Login { name: name.to_vec(), password: password.to_vec(), pass_enc_type })
    }

    /// `BRAC_LoginEx`: logs in as `name` (the app's string user id, or the
    /// nick name) with the app's numeric `user_id` (0: none) and nick name.
    pub fn login_ex(&self, name: &[u8], nick: &[u8], user_id: u32, password: &[u8]) -> Result<ClientMsg, Code> {
        if name.is_empty() || name.len() > MAX_NAME_LEN || nick.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        self.may_log_in()?;
        Ok(ClientMsg::LoginEx { name: name.to_vec(), password: password.to_vec(), user_id, nick: nick.to_vec() })
    }

    /// `BRAC_SendTextMessage`: to a user of this client's room, or to the
    /// whole room (`to` 0 or -1).
    pub fn send_text(&self, to: u32, secret: bool, text: &[u8]) -> Result<ClientMsg, Code> {
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
        Ok(ClientMsg::Text { to, secret, text: text.to_vec() })
    }

    /// `BRAC_TransBuffer(Ex)`: bytes for a user this client knows (in its
    /// room or its call peer), or for the business server (0). Gives the
    /// message and the task id of the transfer.
    pub fn trans_buffer(&mut self, to: u32, data: &[u8], ex: Option<(u32, u32)>) -> Result<(ClientMsg, u32), Code> {
        if data.is_empty() || data.len() > MAX_BLOB_LEN {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        if to != 0 && (Some(to) == self.self_id || !self.knows(to)) {
            return Err(GV_ERR_INVALID_USERID);
        }
        self.next_task = self.next_task.wrapping_add(1).max(1);
        let task_id = self.next_task;
        let (wparam, lparam) = ex.unwrap_or((0, 0));
        Ok((ClientMsg::TransBuffer { to, ex: ex.is_some(), wparam, lparam, task_id, data: data.to_vec() }, task_id))
    }

    /// `BRAC_UserCameraControl` / `BRAC_UserSpeakControl`: for oneself (-1
    /// or one's own id) opens or closes the device state the room sees; for
    /// another user it subscribes to (or leaves) that user's video or audio,
    /// which the core server then relays to this client.
    pub fn device(&self, kind: u8, user_id: u32, open: bool) -> Result<ClientMsg, Code> {
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
    /// on the API answers as logged out.
    pub fn logout(&mut self) -> Result<(), Code> {
        if self.link == LinkState::Idle {
            return Err(GV_ERR_NOTLOGIN);
        }
        self.logging_out = true;
        if self.logged_in {
            self.logged_in = false;
            self.status = 4;
        }
        Ok(())
    }

    /// `BRAC_EnterRoom`.
    pub fn enter_room(&self, room_id: u32, password: &[u8]) -> Result<ClientMsg, Code> {
        if room_id == 0 || room_id == u32::MAX || password.len() > MAX_NAME_LEN {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        Ok(ClientMsg::EnterRoom { room_id, password: password.to_vec() })
    }

    /// `BRAC_EnterRoomEx`.
    pub fn enter_room_by_name(&mut self, name: &[u8], password: &[u8]) -> Result<ClientMsg, Code> {
        if name.is_empty() || name.len() > MAX_NAME_LEN || password.len() > MAX_NAME_LEN {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        if !self.logged_in {
            return Err(GV_ERR_NOTLOGIN);
        }
        self.pending_room_name = Some(name.to_vec());
        Ok(ClientMsg::EnterRoomByName { name: name.to_vec(), password: password.to_vec() })
    }

    /// `BRAC_LeaveRoom` (`u32::MAX` = the current room).
    pub fn leave_room(&mut self, room_id: u32) -> Result<ClientMsg, Code> {
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
    /// peer; a Reply 0 from the caller; a second answer; any START).
    pub fn video_call(
        &mut self,
        event: u32,
        user_id: u32,
        error_code: u32,
        flags: u32,
        param: u32,
        user_str: &[u8],
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
        let ev = CallEvent { event, user_id, error_code, flags, param, user_str: user_str.to_vec() };
        Ok(ClientMsg::VideoCall(ev))
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
