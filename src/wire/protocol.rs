//! The wire protocol between the client library and the core server.
//!
//! Every message travels in one frame: a 4-byte big-endian body length `N`
//! (`1 ..= MAX_FRAME_LEN`) followed by `N` body bytes. The body starts with a
//! one-byte message type; the fields follow in a fixed order, integers
//! big-endian, byte strings as a 2-byte length and the raw bytes (never assumed
//! to be UTF-8). `docs/PROTOCOL.md` documents every field.
//!
//! Decoding is total: any byte sequence yields a message or a [`DecodeError`],
//! never a panic. A connection that sends a bad frame is closed with the error
//! as the logged reason; nothing else is disturbed.

use std::fmt;

/// Version carried in the handshake. A peer with a version outside
/// [`MIN_PROTOCOL_VERSION`]..=`PROTOCOL_VERSION` is refused with
/// [`ServerMsg::Refused`] (`GV_ERR_CONNECT_OLDVERSION`). Version 3 added
/// [`ClientMsg::Caps`] and [`ServerMsg::AudioCodec`] (Opus audio) and the
/// client's address in [`ServerMsg::LoginResult`].
pub const PROTOCOL_VERSION: u16 = 3;
/// Oldest version the core server accepts (a version 2 client would not
/// decode version 3's `LoginResult`).
pub const MIN_PROTOCOL_VERSION: u16 = 3;
/// [`ClientMsg::Caps`] bit: this client decodes Opus audio ([`CODEC_OPUS`]).
pub const CAP_OPUS: u32 = 1;
/// The codec id of Opus audio encoded by the client library (20 ms
/// frames): "OPUS" in ASCII, clear of the vendor's small codec numbers.
pub const CODEC_OPUS: u32 = 0x4F50_5553;
/// First four bytes of a `Hello` body after the type byte.
pub const MAGIC: [u8; 4] = *b"ANYC";
/// Largest frame body accepted or produced, in bytes (a media frame's).
pub const MAX_FRAME_LEN: usize = 1024 * 1024;
/// Largest byte string (user names, passwords, user strings) in a message.
pub const MAX_STR_LEN: usize = 4096;
/// Size of the frame header (the body length).
pub const FRAME_HEADER_LEN: usize = 4;
/// Largest opaque payload (`BRAS_SendBufToUser`, text, buffers) in one message.
pub const MAX_BLOB_LEN: usize = 64 * 1024 - 64;
/// Largest compressed media frame (video or audio) in one message.
pub const MAX_MEDIA_LEN: usize = MAX_FRAME_LEN - 64;
/// `MediaHeader::kind` of a video frame.
pub const MEDIA_VIDEO: u8 = 0;
/// `MediaHeader::kind` of an audio frame.
pub const MEDIA_AUDIO: u8 = 1;

/// What the business server may keep for one user (`BRAS_UserInfoControl`,
/// `BRAS_SetUserInfo`): the core server and the client library ignore
/// what goes beyond, so that a buggy business server costs bounded memory.
/// Groups per user.
pub const MAX_GROUPS: usize = 256;
/// Friends per user.
pub const MAX_FRIENDS: usize = 4096;
/// Infos (`BRAS_SetUserInfo` ids) per user.
pub const MAX_INFOS: usize = 32;
/// Longest info value, in bytes (`BRAS_SetUserInfo`).
pub const MAX_INFO_LEN: usize = 2048;
/// Longest group name, in bytes (`BRAS_USERINFO_CTRLCODE_ADDGROUP`), and
/// longest address pattern (`BLOCKIP` / `UNBLOCKIP`).
pub const MAX_GROUP_NAME_LEN: usize = 256;

/// What a media frame is: carried unchanged from the sender to receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaHeader {
    /// [`MEDIA_VIDEO`] or [`MEDIA_AUDIO`].
    pub kind: u8,
    /// A video key frame (decodable on its own); always true for audio.
    pub key: bool,
    /// Codec id (`BRAC_*CODEC*`-style numbers, see `docs/PROTOCOL.md`).
    pub codec: u32,
    /// The sender's timestamp (ms), as given to `BRAC_Input*Data`.
    pub timestamp: u32,
    /// Video: width; audio: samples per second.
    pub a: u32,
    /// Video: height; audio: channels << 16 | bits per sample.
    pub b: u32,
}

/// A media frame encoded once (a [`ServerMsg::Media`] frame) and shared by
/// all its receivers.
#[derive(Debug, PartialEq, Eq)]
pub struct MediaOut {
    /// The whole frame on the wire, length prefix included.
    pub bytes: Vec<u8>,
    /// The sender's user id.
    pub from: u32,
    pub video: bool,
    /// A video key frame (audio frames are all key frames).
    pub key: bool,
}

/// Role announced by a connecting peer in `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A client library (`BRAC_*`) user.
    Client = 1,
    /// The business server (`BRAS_*` library), on the business listener.
    Business = 2,
    /// Another core server of the same cluster, on the client listener: a
    /// link carrying media between the two (`docs/CLUSTER.md`). Its
    /// `secret` is the token the receiving server published in the engine.
    Peer = 3,
}

/// Why a frame or message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The length prefix is 0 or above [`MAX_FRAME_LEN`].
    BadLength(usize),
    /// The body ended before a field was complete.
    Truncated,
    /// The body has bytes after the last field.
    TrailingBytes(usize),
    /// The type byte names no message of this direction.
    UnknownType(u8),
    /// A byte string is longer than [`MAX_STR_LEN`].
    StringTooLong(usize),
    /// A field holds a value outside its range.
    BadValue(&'static str),
    /// An opaque payload is longer than [`MAX_BLOB_LEN`].
    BlobTooLong(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadLength(n) => write!(f, "frame length {n} out of range"),
            DecodeError::Truncated => write!(f, "message truncated"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the message"),
            DecodeError::UnknownType(t) => write!(f, "unknown message type {t}"),
            DecodeError::StringTooLong(n) => write!(f, "string of {n} bytes is too long"),
            DecodeError::BadValue(what) => write!(f, "bad value for {what}"),
            DecodeError::BlobTooLong(n) => write!(f, "payload of {n} bytes is too long"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One user in a room listing, with what others may know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomUser {
    pub user_id: u32,
    pub name: Vec<u8>,
    pub nick: Vec<u8>,
    pub level: u32,
    /// `GV_CAMERA_STATE_*` and `GV_AUDIO_STATE_*`.
    pub camera: u32,
    pub mic: u32,
}

/// Kinds of device whose state a client sets (`ClientMsg::Device`).
pub const DEVICE_CAMERA: u8 = 0;
pub const DEVICE_MIC: u8 = 1;

/// A video-call event as carried on the wire, in either direction.
///
/// From a client, `user_id` is the target; from the server, it is the other
/// party of the receiving user (rule 1 of the contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    pub event: u32,
    pub user_id: u32,
    pub error_code: u32,
    pub flags: u32,
    pub param: u32,
    pub user_str: Vec<u8>,
}

/// Messages from a client to the core server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// First message on a connection. `secret` is empty for clients; the
    /// business server gives the shared secret when the server requires one,
    /// and on a reconnect the `token` its last `Welcome` gave (0: none), which
    /// lets it take back its slot while the server holds it.
    Hello { version: u16, role: u8, secret: Vec<u8>, token: u64 },
    /// `BRAC_Login`.
    Login { name: Vec<u8>, password: Vec<u8>, pass_enc_type: u32 },
    /// What this client can decode ([`CAP_OPUS`]), sent right after
    /// `Hello` (version 3); a client that sends none gets PCM audio.
    Caps { caps: u32 },
    /// `BRAC_QueryInfoFromServer`: query `id` (the client's, echoed in
    /// [`ServerMsg::QueryResult`]) of kind `info` (`ANYCHAT_SERVERQUERY_*`)
    /// with its input bytes.
    Query { id: u32, info: u32, input: Vec<u8> },
    /// `BRAC_LoginEx`: like `Login`, with the user id and nick name the app gives.
    LoginEx { name: Vec<u8>, password: Vec<u8>, user_id: u32, nick: Vec<u8> },
    /// `BRAC_Logout` (and `BRAC_Release` while logged in).
    Logout,
    /// `BRAC_EnterRoom`.
    EnterRoom { room_id: u32, password: Vec<u8> },
    /// `BRAC_EnterRoomEx`.
    EnterRoomByName { name: Vec<u8>, password: Vec<u8> },
    /// `BRAC_LeaveRoom` (`room_id` `u32::MAX` = whatever room).
    LeaveRoom { room_id: u32 },
    /// `BRAC_VideoCallControl`; `user_id` is the target.
    VideoCall(CallEvent),
    /// Keep-alive; the server answers [`ServerMsg::Pong`] with the same value.
    Ping { seq: u32 },
    /// `BRAC_SendTextMessage`: `to` 0 or `u32::MAX` = everyone in the room.
    Text { to: u32, secret: bool, text: Vec<u8> },
    /// `BRAC_TransBuffer(Ex)`: bytes for user `to` (0 = the business server).
    TransBuffer { to: u32, ex: bool, wparam: u32, lparam: u32, task_id: u32, data: Vec<u8> },
    /// `BRAC_UserCameraControl` / `BRAC_UserSpeakControl` for oneself.
    Device { kind: u8, open: bool },
    /// A compressed media frame of this user's stream.
    Media { header: MediaHeader, data: Vec<u8> },
    /// `BRAC_UserCameraControl(user)` / `BRAC_UserSpeakControl(user)`:
    /// receive (or stop receiving) that user's video or audio (`kind`).
    Subscribe { user_id: u32, kind: u8, on: bool },
    /// Business server: the answer to [`ServerMsg::BizAskCall`] (0 = proceed).
    BizCallVerdict { query: u32, code: u32 },
    /// Business server: the answer to [`ServerMsg::BizAskVerify`].
    BizVerifyResult { query: u32, code: u32, user_id: u32, level: u32, nick: Vec<u8> },
    /// Business server: the answer to [`ServerMsg::BizAskEnter`] (0 = admit).
    BizEnterVerdict { query: u32, code: u32 },
    /// Business server: `BRAS_VideoCallControl`; `user_id` names the user
    /// whose call is meant.
    BizVideoCall(CallEvent),
    /// Business server: `BRAS_UserInfoControl`.
    BizUserControl { user_id: u32, ctrl: u32, wparam: u32, lparam: u32, text: Vec<u8> },
    /// Business server: `BRAS_SendBufToUser` (the client's SDK-filter-data callback).
    BizSendBuf { user_id: u32, data: Vec<u8> },
    /// Business server: `BRAS_SendBufToRoom` (SDK filter data to everyone in a room).
    BizSendRoom { room_id: u32, data: Vec<u8> },
    /// Business server: `BRAS_TransBuffer` (the client's trans-buffer callback, user 0).
    BizTransBuffer { user_id: u32, data: Vec<u8> },
    /// Business server: `BRAS_SetUserInfo`.
    BizSetUserInfo { user_id: u32, info_id: u32, value: Vec<u8> },
    /// On a peer link only: an envelope from another core server of the
    /// cluster.
    Relay { env: Vec<u8> },
}

/// Messages from the core server to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg {
    /// Handshake accepted. The client must send something (a `Ping` at least)
    /// more often than every `keepalive_ms`.
    /// `token` (business server only, else 0) identifies this link when it
    /// reconnects (see `ClientMsg::Hello`).
    Welcome { version: u16, keepalive_ms: u32, token: u64 },
    /// Handshake refused with a `GV_ERR_*` code; the server then closes.
    Refused { code: u32 },
    /// Answer to `Login`: `WM_GV_LOGINSYSTEM(user_id, code)`; `address` is
    /// the client's IP address as the server sees it
    /// (`BRAC_USERSTATE_INTERNETIP`), empty on a refusal.
    LoginResult { user_id: u32, code: u32, name: Vec<u8>, level: u32, nick: Vec<u8>, address: Vec<u8> },
    /// Answer to `EnterRoom*`: `WM_GV_ENTERROOM(room_id, code)`.
    EnterRoomResult { room_id: u32, code: u32 },
    /// After a successful enter: everyone in the room, the receiver included,
    /// in one or more messages; `more` is set on all but the last.
    RoomUsers { room_id: u32, users: Vec<RoomUser>, more: bool },
    /// Someone entered (`entered`) or left the receiver's room.
    UserAtRoom { room_id: u32, user: RoomUser, entered: bool },
    /// The server took the receiver out of `room_id` (a call's room closed).
    LeftRoom { room_id: u32 },
    /// A video-call event; `user_id` is the other party, `peer` what the
    /// receiver may know of it (name, nick name, level, device states).
    VideoCall { ev: CallEvent, peer: RoomUser },
    /// The server closes the session with a reason (`WM_GV_LINKCLOSE`).
    LinkClose { code: u32 },
    /// Answer to `Ping`.
    Pong { seq: u32 },
    /// Bytes relayed to the client (`from` 0 = the business server); `ex`:
    /// from `BRAC_TransBufferEx`, with its `wparam`, `lparam` and task id.
    TransBuffer { from: u32, ex: bool, wparam: u32, lparam: u32, task_id: u32, data: Vec<u8> },
    /// A text message from `from` to `to` (0 = the room).
    Text { from: u32, to: u32, secret: bool, text: Vec<u8> },
    /// A user's camera or microphone state changed (`kind` = `DEVICE_*`).
    Device { user_id: u32, kind: u8, state: u32 },
    /// Bytes from the business server for the SDK-filter-data callback.
    FilterData { data: Vec<u8> },
    /// The business server set an info of a user (`WM_GV_USERINFOUPDATE`).
    UserInfo { user_id: u32, info_id: u32, value: Vec<u8> },
    /// A full copy of the receiver's friends and groups follows
    /// (`BRAS_USERINFO_CTRLCODE_SYNCDATA`): forget the ones known.
    UserDataReset,
    /// A group of the receiver's, added or renamed.
    GroupSet { group_id: u32, name: Vec<u8> },
    /// A group of the receiver's removed (its friends stay friends, in no group).
    GroupGone { group_id: u32 },
    /// A friend of the receiver's, added or moved to `group` (0: none),
    /// with its online status.
    FriendSet { user_id: u32, online: bool, group: u32 },
    /// A friend of the receiver's removed.
    FriendGone { user_id: u32 },
    /// A friend logged in or out (`WM_GV_FRIENDSTATUS`).
    FriendStatus { user_id: u32, online: bool },
    /// An info of a user, kept without a notification of its own (part of
    /// a sync, or of a friend just added).
    SyncInfo { user_id: u32, info_id: u32, value: Vec<u8> },
    /// The receiver's friends and groups changed (`WM_GV_USERINFOUPDATE(0, 0)`).
    UserDataUpdated,
    /// A media frame of user `from`'s stream.
    Media { from: u32, header: MediaHeader, data: Vec<u8> },
    /// A receiver lost video frames: send a key frame next.
    NeedKeyFrame,
    /// A receiver of the client's audio cannot decode Opus: send 16-bit
    /// PCM (`pcm` true) until told otherwise (`pcm` false: Opus again).
    AudioCodec { pcm: bool },
    /// The answer to [`ClientMsg::Query`] `id`: 0 and the output bytes, or
    /// a `GV_ERR_*` code.
    QueryResult { id: u32, code: u32, output: Vec<u8> },
    /// To the business server: may this call proceed? (`BRAS_OnVideoCallEvent_CallBack`, REQUEST)
    BizAskCall { query: u32, src: u32, tar: u32, flags: u32, param: u32, user_str: Vec<u8> },
    /// To the business server: a call event it watches (REPLY, START, FINISH).
    BizCallNote { event: u32, src: u32, tar: u32, error_code: u32, flags: u32, param: u32, user_str: Vec<u8> },
    /// To the business server: may this user log in? (`BRAS_VerifyUser_CallBack`)
    /// `user_id` is the id a `BRAC_LoginEx` claims (0: none); only the
    /// business server's answer can grant it.
    BizAskVerify { query: u32, name: Vec<u8>, password: Vec<u8>, ip: Vec<u8>, user_id: u32 },
    /// To the business server: may this user enter this room? (`BRAS_PrepareEnterRoom_CallBack`)
    BizAskEnter { query: u32, user_id: u32, room_id: u32, room_name: Vec<u8>, password: Vec<u8> },
    /// To the business server: a user logged in.
    BizUserLogin { user_id: u32, name: Vec<u8>, level: u32, ip: Vec<u8> },
    /// To the business server: a user's session ended (`code` 0 = logout).
    BizUserLogout { user_id: u32, code: u32 },
    /// To the business server: a user entered or left a room.
    BizUserRoom { user_id: u32, room_id: u32, entered: bool },
    /// To the business server: a text message between users (`BRAS_OnRecvUserTextMsg`).
    BizText { room_id: u32, src: u32, tar: u32, secret: bool, text: Vec<u8> },
    /// To the business server: bytes a user sent to user 0 (`BRAS_OnTransBuffer`).
    BizTransBuffer { user_id: u32, data: Vec<u8> },
}

// Message type bytes. Client and server types share no value, which makes
// captures easier to read; each direction only accepts its own.
const C_HELLO: u8 = 0x01;
const C_LOGIN: u8 = 0x02;
const C_LOGOUT: u8 = 0x03;
const C_ENTER_ROOM: u8 = 0x04;
const C_ENTER_ROOM_NAME: u8 = 0x05;
const C_LEAVE_ROOM: u8 = 0x06;
const C_VIDEO_CALL: u8 = 0x07;
const C_PING: u8 = 0x08;
const C_BIZ_CALL_VERDICT: u8 = 0x20;
const C_BIZ_VERIFY_RESULT: u8 = 0x21;
const C_BIZ_ENTER_VERDICT: u8 = 0x22;
const C_BIZ_VIDEO_CALL: u8 = 0x23;
const C_BIZ_USER_CONTROL: u8 = 0x24;
const C_BIZ_SEND_BUF: u8 = 0x25;
const C_BIZ_SEND_ROOM: u8 = 0x26;
const C_BIZ_TRANS_BUFFER: u8 = 0x27;
const C_BIZ_SET_USER_INFO: u8 = 0x28;
const C_LOGIN_EX: u8 = 0x09;
const C_TEXT: u8 = 0x0A;
const C_TRANS_BUFFER: u8 = 0x0B;
const C_DEVICE: u8 = 0x0C;
const C_MEDIA: u8 = 0x0D;
const C_SUBSCRIBE: u8 = 0x0E;
const C_CAPS: u8 = 0x0F;
const C_QUERY: u8 = 0x10;
const C_RELAY: u8 = 0x30;

const S_WELCOME: u8 = 0x81;
const S_REFUSED: u8 = 0x82;
const S_LOGIN_RESULT: u8 = 0x83;
const S_ENTER_ROOM_RESULT: u8 = 0x84;
const S_ROOM_USERS: u8 = 0x85;
const S_USER_AT_ROOM: u8 = 0x86;
const S_LEFT_ROOM: u8 = 0x87;
const S_VIDEO_CALL: u8 = 0x88;
const S_LINK_CLOSE: u8 = 0x89;
const S_PONG: u8 = 0x8A;
const S_TRANS_BUFFER: u8 = 0x8B;
const S_TEXT: u8 = 0x8C;
const S_DEVICE: u8 = 0x8D;
const S_FILTER_DATA: u8 = 0x8E;
const S_USER_INFO: u8 = 0x8F;
const S_MEDIA: u8 = 0x90;
const S_NEED_KEY: u8 = 0x91;
const S_USER_DATA_RESET: u8 = 0x92;
const S_GROUP_SET: u8 = 0x93;
const S_GROUP_GONE: u8 = 0x94;
const S_FRIEND_SET: u8 = 0x95;
const S_FRIEND_GONE: u8 = 0x96;
const S_FRIEND_STATUS: u8 = 0x97;
const S_SYNC_INFO: u8 = 0x98;
const S_USER_DATA_UPDATED: u8 = 0x99;
const S_AUDIO_CODEC: u8 = 0x9A;
const S_QUERY_RESULT: u8 = 0x9B;
const S_BIZ_TEXT: u8 = 0xA7;
const S_BIZ_TRANS_BUFFER: u8 = 0xA8;
const S_BIZ_ASK_CALL: u8 = 0xA0;
const S_BIZ_CALL_NOTE: u8 = 0xA1;
const S_BIZ_ASK_VERIFY: u8 = 0xA2;
const S_BIZ_ASK_ENTER: u8 = 0xA3;
const S_BIZ_USER_LOGIN: u8 = 0xA4;
const S_BIZ_USER_LOGOUT: u8 = 0xA5;
const S_BIZ_USER_ROOM: u8 = 0xA6;

/// Largest number of users in one `RoomUsers` message (bounded by the frame).
pub const MAX_ROOM_USERS: usize = 4096;
/// Smallest `RoomUser` on the wire: user id, two empty strings, level, camera, mic.
const MIN_ROOM_USER_LEN: usize = 4 + 2 + 2 + 4 + 4 + 4;

/// Users to reserve room for when a body claims `count` users with `rest`
/// bytes left: no more than those bytes can hold (a short body claiming many
/// users must not make the decoder allocate more than the frame's size).
fn room_users_capacity(count: usize, rest: usize) -> usize {
    count.min(rest / MIN_ROOM_USER_LEN)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadValue("bool")),
        }
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.u16()? as usize;
        if n > MAX_STR_LEN {
            return Err(DecodeError::StringTooLong(n));
        }
        Ok(self.take(n)?.to_vec())
    }
    fn blob(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.u32()? as usize;
        if n > MAX_BLOB_LEN {
            return Err(DecodeError::BlobTooLong(n));
        }
        Ok(self.take(n)?.to_vec())
    }
    fn media(&mut self) -> Result<(MediaHeader, Vec<u8>), DecodeError> {
        let kind = self.u8()?;
        if kind != MEDIA_VIDEO && kind != MEDIA_AUDIO {
            return Err(DecodeError::BadValue("media kind"));
        }
        let header = MediaHeader {
            kind,
            key: self.bool()?,
            codec: self.u32()?,
            timestamp: self.u32()?,
            a: self.u32()?,
            b: self.u32()?,
        };
        let n = self.u32()? as usize;
        if n > MAX_MEDIA_LEN {
            return Err(DecodeError::BlobTooLong(n));
        }
        Ok((header, self.take(n)?.to_vec()))
    }
    fn call_event(&mut self) -> Result<CallEvent, DecodeError> {
        Ok(CallEvent {
            event: self.u32()?,
            user_id: self.u32()?,
            error_code: self.u32()?,
            flags: self.u32()?,
            param: self.u32()?,
            user_str: self.bytes()?,
        })
    }
    fn room_user(&mut self) -> Result<RoomUser, DecodeError> {
        Ok(RoomUser {
            user_id: self.u32()?,
            name: self.bytes()?,
            nick: self.bytes()?,
            level: self.u32()?,
            camera: self.u32()?,
            mic: self.u32()?,
        })
    }
    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.buf.len()))
        }
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    /// Byte strings longer than [`MAX_STR_LEN`] are cut to it: callers check
    /// lengths at the API boundary, so this only guards the encoding.
    fn bytes(&mut self, v: &[u8]) {
        let v = &v[..v.len().min(MAX_STR_LEN)];
        self.u16(v.len() as u16);
        self.out.extend_from_slice(v);
    }
    /// Payloads longer than [`MAX_BLOB_LEN`] are cut to it (checked at the API).
    fn blob(&mut self, v: &[u8]) {
        let v = &v[..v.len().min(MAX_BLOB_LEN)];
        self.u32(v.len() as u32);
        self.out.extend_from_slice(v);
    }
    /// Media payloads longer than [`MAX_MEDIA_LEN`] are cut (checked at the API).
    fn media(&mut self, h: &MediaHeader, data: &[u8]) {
        self.u8(h.kind);
        self.u8(h.key as u8);
        self.u32(h.codec);
        self.u32(h.timestamp);
        self.u32(h.a);
        self.u32(h.b);
        let data = &data[..data.len().min(MAX_MEDIA_LEN)];
        self.u32(data.len() as u32);
        self.out.extend_from_slice(data);
    }
    fn call_event(&mut self, e: &CallEvent) {
        self.u32(e.event);
        self.u32(e.user_id);
        self.u32(e.error_code);
        self.u32(e.flags);
        self.u32(e.param);
        self.bytes(&e.user_str);
    }
    fn room_user(&mut self, u: &RoomUser) {
        self.u32(u.user_id);
        self.bytes(&u.name);
        self.bytes(&u.nick);
        self.u32(u.level);
        self.u32(u.camera);
        self.u32(u.mic);
    }
}

/// Writes one frame around whatever `body` appends to the buffer.
fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Writer<'_>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    body(&mut Writer { out });
    let len = (out.len() - start - FRAME_HEADER_LEN) as u32;
    out[start..start + FRAME_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
}

impl ClientMsg {
    /// Appends this message as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        frame(out, |w| match self {
            ClientMsg::Hello { version, role, secret, token } => {
                w.u8(C_HELLO);
                w.out.extend_from_slice(&MAGIC);
                w.u16(*version);
                w.u8(*role);
                w.bytes(secret);
                w.u64(*token);
            }
            ClientMsg::Login { name, password, pass_enc_type } => {
                w.u8(C_LOGIN);
                w.bytes(name);
                w.bytes(password);
                w.u32(*pass_enc_type);
            }
            ClientMsg::LoginEx { name, password, user_id, nick } => {
                w.u8(C_LOGIN_EX);
                w.bytes(name);
                w.bytes(password);
                w.u32(*user_id);
                w.bytes(nick);
            }
            ClientMsg::Logout => w.u8(C_LOGOUT),
            ClientMsg::Text { to, secret, text } => {
                w.u8(C_TEXT);
                w.u32(*to);
                w.u8(*secret as u8);
                w.blob(text);
            }
            ClientMsg::TransBuffer { to, ex, wparam, lparam, task_id, data } => {
                w.u8(C_TRANS_BUFFER);
                w.u32(*to);
                w.u8(*ex as u8);
                w.u32(*wparam);
                w.u32(*lparam);
                w.u32(*task_id);
                w.blob(data);
            }
            ClientMsg::Device { kind, open } => {
                w.u8(C_DEVICE);
                w.u8(*kind);
                w.u8(*open as u8);
            }
            ClientMsg::Media { header, data } => {
                w.u8(C_MEDIA);
                w.media(header, data);
            }
            ClientMsg::Caps { caps } => {
                w.u8(C_CAPS);
                w.u32(*caps);
            }
            ClientMsg::Query { id, info, input } => {
                w.u8(C_QUERY);
                w.u32(*id);
                w.u32(*info);
                w.bytes(input);
            }
            ClientMsg::Subscribe { user_id, kind, on } => {
                w.u8(C_SUBSCRIBE);
                w.u32(*user_id);
                w.u8(*kind);
                w.u8(*on as u8);
            }
            ClientMsg::EnterRoom { room_id, password } => {
                w.u8(C_ENTER_ROOM);
                w.u32(*room_id);
                w.bytes(password);
            }
            ClientMsg::EnterRoomByName { name, password } => {
                w.u8(C_ENTER_ROOM_NAME);
                w.bytes(name);
                w.bytes(password);
            }
            ClientMsg::LeaveRoom { room_id } => {
                w.u8(C_LEAVE_ROOM);
                w.u32(*room_id);
            }
            ClientMsg::VideoCall(e) => {
                w.u8(C_VIDEO_CALL);
                w.call_event(e);
            }
            ClientMsg::Ping { seq } => {
                w.u8(C_PING);
                w.u32(*seq);
            }
            ClientMsg::BizCallVerdict { query, code } => {
                w.u8(C_BIZ_CALL_VERDICT);
                w.u32(*query);
                w.u32(*code);
            }
            ClientMsg::BizVerifyResult { query, code, user_id, level, nick } => {
                w.u8(C_BIZ_VERIFY_RESULT);
                w.u32(*query);
                w.u32(*code);
                w.u32(*user_id);
                w.u32(*level);
                w.bytes(nick);
            }
            ClientMsg::BizEnterVerdict { query, code } => {
                w.u8(C_BIZ_ENTER_VERDICT);
                w.u32(*query);
                w.u32(*code);
            }
            ClientMsg::BizVideoCall(e) => {
                w.u8(C_BIZ_VIDEO_CALL);
                w.call_event(e);
            }
            ClientMsg::BizUserControl { user_id, ctrl, wparam, lparam, text } => {
                w.u8(C_BIZ_USER_CONTROL);
                w.u32(*user_id);
                w.u32(*ctrl);
                w.u32(*wparam);
                w.u32(*lparam);
                w.bytes(text);
            }
            ClientMsg::BizSendBuf { user_id, data } => {
                w.u8(C_BIZ_SEND_BUF);
                w.u32(*user_id);
                w.blob(data);
            }
            ClientMsg::BizSendRoom { room_id, data } => {
                w.u8(C_BIZ_SEND_ROOM);
                w.u32(*room_id);
                w.blob(data);
            }
            ClientMsg::BizTransBuffer { user_id, data } => {
                w.u8(C_BIZ_TRANS_BUFFER);
                w.u32(*user_id);
                w.blob(data);
            }
            ClientMsg::BizSetUserInfo { user_id, info_id, value } => {
                w.u8(C_BIZ_SET_USER_INFO);
                w.u32(*user_id);
                w.u32(*info_id);
                w.bytes(value);
            }
            ClientMsg::Relay { env } => {
                w.u8(C_RELAY);
                w.u32(env.len() as u32);
                w.out.extend_from_slice(env);
            }
        })
    }

    /// Decodes one frame body (without the length prefix).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { buf: body };
        let msg = match r.u8()? {
            C_HELLO => {
                if r.take(4)? != MAGIC {
                    return Err(DecodeError::BadValue("magic"));
                }
                let (version, role, secret) = (r.u16()?, r.u8()?, r.bytes()?);
                // Version 1 had no token: such a Hello still decodes, so that
                // the peer is refused for its version, not for a bad frame.
                let token = if r.buf.is_empty() { 0 } else { r.u64()? };
                ClientMsg::Hello { version, role, secret, token }
            }
            C_LOGIN => ClientMsg::Login { name: r.bytes()?, password: r.bytes()?, pass_enc_type: r.u32()? },
            C_LOGIN_EX => {
                ClientMsg::LoginEx { name: r.bytes()?, password: r.bytes()?, user_id: r.u32()?, nick: r.bytes()? }
            }
            C_LOGOUT => ClientMsg::Logout,
            C_TEXT => ClientMsg::Text { to: r.u32()?, secret: r.bool()?, text: r.blob()? },
            C_TRANS_BUFFER => ClientMsg::TransBuffer {
                to: r.u32()?,
                ex: r.bool()?,
                wparam: r.u32()?,
                lparam: r.u32()?,
                task_id: r.u32()?,
                data: r.blob()?,
            },
            C_DEVICE => ClientMsg::Device { kind: r.u8()?, open: r.bool()? },
            C_MEDIA => {
                let (header, data) = r.media()?;
                ClientMsg::Media { header, data }
            }
            C_SUBSCRIBE => ClientMsg::Subscribe { user_id: r.u32()?, kind: r.u8()?, on: r.bool()? },
            C_CAPS => ClientMsg::Caps { caps: r.u32()? },
            C_QUERY => ClientMsg::Query { id: r.u32()?, info: r.u32()?, input: r.bytes()? },
            C_ENTER_ROOM => ClientMsg::EnterRoom { room_id: r.u32()?, password: r.bytes()? },
            C_ENTER_ROOM_NAME => ClientMsg::EnterRoomByName { name: r.bytes()?, password: r.bytes()? },
            C_LEAVE_ROOM => ClientMsg::LeaveRoom { room_id: r.u32()? },
            C_VIDEO_CALL => ClientMsg::VideoCall(r.call_event()?),
            C_PING => ClientMsg::Ping { seq: r.u32()? },
            C_BIZ_CALL_VERDICT => ClientMsg::BizCallVerdict { query: r.u32()?, code: r.u32()? },
            C_BIZ_VERIFY_RESULT => ClientMsg::BizVerifyResult {
                query: r.u32()?,
                code: r.u32()?,
                user_id: r.u32()?,
                level: r.u32()?,
                nick: r.bytes()?,
            },
            C_BIZ_ENTER_VERDICT => ClientMsg::BizEnterVerdict { query: r.u32()?, code: r.u32()? },
            C_BIZ_VIDEO_CALL => ClientMsg::BizVideoCall(r.call_event()?),
            C_BIZ_USER_CONTROL => ClientMsg::BizUserControl {
                user_id: r.u32()?,
                ctrl: r.u32()?,
                wparam: r.u32()?,
                lparam: r.u32()?,
                text: r.bytes()?,
            },
            C_BIZ_SEND_BUF => ClientMsg::BizSendBuf { user_id: r.u32()?, data: r.blob()? },
            C_BIZ_SEND_ROOM => ClientMsg::BizSendRoom { room_id: r.u32()?, data: r.blob()? },
            C_BIZ_TRANS_BUFFER => ClientMsg::BizTransBuffer { user_id: r.u32()?, data: r.blob()? },
            C_BIZ_SET_USER_INFO => {
                ClientMsg::BizSetUserInfo { user_id: r.u32()?, info_id: r.u32()?, value: r.bytes()? }
            }
            C_RELAY => {
                let n = r.u32()? as usize;
                if n > MAX_FRAME_LEN {
                    return Err(DecodeError::BlobTooLong(n));
                }
                ClientMsg::Relay { env: r.take(n)?.to_vec() }
            }
            t => return Err(DecodeError::UnknownType(t)),
        };
        r.finish()?;
        Ok(msg)
    }
}

impl ServerMsg {
    /// Appends the frame of `ServerMsg::Media { from, header, data }` to
    /// `out` without copying `data` into a message first.
    pub fn encode_media(from: u32, header: &MediaHeader, data: &[u8], out: &mut Vec<u8>) {
        frame(out, |w| {
            w.u8(S_MEDIA);
            w.u32(from);
            w.media(header, data);
        })
    }

    /// Whether the message is bulk data that may be dropped for a receiver
    /// that is far behind (text, buffers, infos), unlike signalling.
    pub fn is_bulk(&self) -> bool {
        matches!(
            self,
            ServerMsg::Text { .. }
                | ServerMsg::TransBuffer { .. }
                | ServerMsg::FilterData { .. }
                | ServerMsg::UserInfo { .. }
                | ServerMsg::SyncInfo { .. }
                | ServerMsg::BizText { .. }
                | ServerMsg::BizTransBuffer { .. }
        )
    }

    /// Appends this message as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        frame(out, |w| match self {
            ServerMsg::Welcome { version, keepalive_ms, token } => {
                w.u8(S_WELCOME);
                w.u16(*version);
                w.u32(*keepalive_ms);
                w.u64(*token);
            }
            ServerMsg::Refused { code } => {
                w.u8(S_REFUSED);
                w.u32(*code);
            }
            ServerMsg::LoginResult { user_id, code, name, level, nick, address } => {
                w.u8(S_LOGIN_RESULT);
                w.u32(*user_id);
                w.u32(*code);
                w.bytes(name);
                w.u32(*level);
                w.bytes(nick);
                w.bytes(address);
            }
            ServerMsg::EnterRoomResult { room_id, code } => {
                w.u8(S_ENTER_ROOM_RESULT);
                w.u32(*room_id);
                w.u32(*code);
            }
            ServerMsg::RoomUsers { room_id, users, more } => {
                w.u8(S_ROOM_USERS);
                w.u32(*room_id);
                w.u8(*more as u8);
                let users = &users[..users.len().min(MAX_ROOM_USERS)];
                w.u16(users.len() as u16);
                for u in users {
                    w.room_user(u);
                }
            }
            ServerMsg::UserAtRoom { room_id, user, entered } => {
                w.u8(S_USER_AT_ROOM);
                w.u32(*room_id);
                w.room_user(user);
                w.u8(*entered as u8);
            }
            ServerMsg::LeftRoom { room_id } => {
                w.u8(S_LEFT_ROOM);
                w.u32(*room_id);
            }
            ServerMsg::VideoCall { ev, peer } => {
                w.u8(S_VIDEO_CALL);
                w.call_event(ev);
                w.room_user(peer);
            }
            ServerMsg::LinkClose { code } => {
                w.u8(S_LINK_CLOSE);
                w.u32(*code);
            }
            ServerMsg::Pong { seq } => {
                w.u8(S_PONG);
                w.u32(*seq);
            }
            ServerMsg::TransBuffer { from, ex, wparam, lparam, task_id, data } => {
                w.u8(S_TRANS_BUFFER);
                w.u32(*from);
                w.u8(*ex as u8);
                w.u32(*wparam);
                w.u32(*lparam);
                w.u32(*task_id);
                w.blob(data);
            }
            ServerMsg::Text { from, to, secret, text } => {
                w.u8(S_TEXT);
                w.u32(*from);
                w.u32(*to);
                w.u8(*secret as u8);
                w.blob(text);
            }
            ServerMsg::Device { user_id, kind, state } => {
                w.u8(S_DEVICE);
                w.u32(*user_id);
                w.u8(*kind);
                w.u32(*state);
            }
            ServerMsg::FilterData { data } => {
                w.u8(S_FILTER_DATA);
                w.blob(data);
            }
            ServerMsg::UserInfo { user_id, info_id, value } => {
                w.u8(S_USER_INFO);
                w.u32(*user_id);
                w.u32(*info_id);
                w.bytes(value);
            }
            ServerMsg::Media { from, header, data } => {
                w.u8(S_MEDIA);
                w.u32(*from);
                w.media(header, data);
            }
            ServerMsg::NeedKeyFrame => w.u8(S_NEED_KEY),
            ServerMsg::AudioCodec { pcm } => {
                w.u8(S_AUDIO_CODEC);
                w.u8(*pcm as u8);
            }
            ServerMsg::QueryResult { id, code, output } => {
                w.u8(S_QUERY_RESULT);
                w.u32(*id);
                w.u32(*code);
                w.bytes(output);
            }
            ServerMsg::UserDataReset => w.u8(S_USER_DATA_RESET),
            ServerMsg::GroupSet { group_id, name } => {
                w.u8(S_GROUP_SET);
                w.u32(*group_id);
                w.bytes(name);
            }
            ServerMsg::GroupGone { group_id } => {
                w.u8(S_GROUP_GONE);
                w.u32(*group_id);
            }
            ServerMsg::FriendSet { user_id, online, group } => {
                w.u8(S_FRIEND_SET);
                w.u32(*user_id);
                w.u8(*online as u8);
                w.u32(*group);
            }
            ServerMsg::FriendGone { user_id } => {
                w.u8(S_FRIEND_GONE);
                w.u32(*user_id);
            }
            ServerMsg::FriendStatus { user_id, online } => {
                w.u8(S_FRIEND_STATUS);
                w.u32(*user_id);
                w.u8(*online as u8);
            }
            ServerMsg::SyncInfo { user_id, info_id, value } => {
                w.u8(S_SYNC_INFO);
                w.u32(*user_id);
                w.u32(*info_id);
                w.bytes(value);
            }
            ServerMsg::UserDataUpdated => w.u8(S_USER_DATA_UPDATED),
            ServerMsg::BizAskCall { query, src, tar, flags, param, user_str } => {
                w.u8(S_BIZ_ASK_CALL);
                for v in [query, src, tar, flags, param] {
                    w.u32(*v);
                }
                w.bytes(user_str);
            }
            ServerMsg::BizCallNote { event, src, tar, error_code, flags, param, user_str } => {
                w.u8(S_BIZ_CALL_NOTE);
                for v in [event, src, tar, error_code, flags, param] {
                    w.u32(*v);
                }
                w.bytes(user_str);
            }
            ServerMsg::BizAskVerify { query, name, password, ip, user_id } => {
                w.u8(S_BIZ_ASK_VERIFY);
                w.u32(*query);
                w.bytes(name);
                w.bytes(password);
                w.bytes(ip);
                w.u32(*user_id);
            }
            ServerMsg::BizAskEnter { query, user_id, room_id, room_name, password } => {
                w.u8(S_BIZ_ASK_ENTER);
                w.u32(*query);
                w.u32(*user_id);
                w.u32(*room_id);
                w.bytes(room_name);
                w.bytes(password);
            }
            ServerMsg::BizUserLogin { user_id, name, level, ip } => {
                w.u8(S_BIZ_USER_LOGIN);
                w.u32(*user_id);
                w.bytes(name);
                w.u32(*level);
                w.bytes(ip);
            }
            ServerMsg::BizUserLogout { user_id, code } => {
                w.u8(S_BIZ_USER_LOGOUT);
                w.u32(*user_id);
                w.u32(*code);
            }
            ServerMsg::BizUserRoom { user_id, room_id, entered } => {
                w.u8(S_BIZ_USER_ROOM);
                w.u32(*user_id);
                w.u32(*room_id);
                w.u8(*entered as u8);
            }
            ServerMsg::BizText { room_id, src, tar, secret, text } => {
                w.u8(S_BIZ_TEXT);
                w.u32(*room_id);
                w.u32(*src);
                w.u32(*tar);
                w.u8(*secret as u8);
                w.blob(text);
            }
            ServerMsg::BizTransBuffer { user_id, data } => {
                w.u8(S_BIZ_TRANS_BUFFER);
                w.u32(*user_id);
                w.blob(data);
            }
        })
    }

    /// Decodes one frame body (without the length prefix).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { buf: body };
        let msg = match r.u8()? {
            S_WELCOME => ServerMsg::Welcome { version: r.u16()?, keepalive_ms: r.u32()?, token: r.u64()? },
            S_REFUSED => ServerMsg::Refused { code: r.u32()? },
            S_LOGIN_RESULT => ServerMsg::LoginResult {
                user_id: r.u32()?,
                code: r.u32()?,
                name: r.bytes()?,
                level: r.u32()?,
                nick: r.bytes()?,
                address: r.bytes()?,
            },
            S_ENTER_ROOM_RESULT => ServerMsg::EnterRoomResult { room_id: r.u32()?, code: r.u32()? },
            S_ROOM_USERS => {
                let room_id = r.u32()?;
                let more = r.bool()?;
                let n = r.u16()? as usize;
                if n > MAX_ROOM_USERS {
                    return Err(DecodeError::BadValue("user count"));
                }
                let mut users = Vec::with_capacity(room_users_capacity(n, r.buf.len()));
                for _ in 0..n {
                    users.push(r.room_user()?);
                }
                ServerMsg::RoomUsers { room_id, users, more }
            }
            S_USER_AT_ROOM => ServerMsg::UserAtRoom { room_id: r.u32()?, user: r.room_user()?, entered: r.bool()? },
            S_LEFT_ROOM => ServerMsg::LeftRoom { room_id: r.u32()? },
            S_VIDEO_CALL => ServerMsg::VideoCall { ev: r.call_event()?, peer: r.room_user()? },
            S_LINK_CLOSE => ServerMsg::LinkClose { code: r.u32()? },
            S_PONG => ServerMsg::Pong { seq: r.u32()? },
            S_TRANS_BUFFER => ServerMsg::TransBuffer {
                from: r.u32()?,
                ex: r.bool()?,
                wparam: r.u32()?,
                lparam: r.u32()?,
                task_id: r.u32()?,
                data: r.blob()?,
            },
            S_TEXT => ServerMsg::Text { from: r.u32()?, to: r.u32()?, secret: r.bool()?, text: r.blob()? },
            S_DEVICE => ServerMsg::Device { user_id: r.u32()?, kind: r.u8()?, state: r.u32()? },
            S_FILTER_DATA => ServerMsg::FilterData { data: r.blob()? },
            S_USER_INFO => ServerMsg::UserInfo { user_id: r.u32()?, info_id: r.u32()?, value: r.bytes()? },
            S_MEDIA => {
                let from = r.u32()?;
                let (header, data) = r.media()?;
                ServerMsg::Media { from, header, data }
            }
            S_NEED_KEY => ServerMsg::NeedKeyFrame,
            S_AUDIO_CODEC => ServerMsg::AudioCodec { pcm: r.bool()? },
            S_QUERY_RESULT => ServerMsg::QueryResult { id: r.u32()?, code: r.u32()?, output: r.bytes()? },
            S_USER_DATA_RESET => ServerMsg::UserDataReset,
            S_GROUP_SET => ServerMsg::GroupSet { group_id: r.u32()?, name: r.bytes()? },
            S_GROUP_GONE => ServerMsg::GroupGone { group_id: r.u32()? },
            S_FRIEND_SET => ServerMsg::FriendSet { user_id: r.u32()?, online: r.bool()?, group: r.u32()? },
            S_FRIEND_GONE => ServerMsg::FriendGone { user_id: r.u32()? },
            S_FRIEND_STATUS => ServerMsg::FriendStatus { user_id: r.u32()?, online: r.bool()? },
            S_SYNC_INFO => ServerMsg::SyncInfo { user_id: r.u32()?, info_id: r.u32()?, value: r.bytes()? },
            S_USER_DATA_UPDATED => ServerMsg::UserDataUpdated,
            S_BIZ_TEXT => ServerMsg::BizText {
                room_id: r.u32()?,
                src: r.u32()?,
                tar: r.u32()?,
                secret: r.bool()?,
                text: r.blob()?,
            },
            S_BIZ_TRANS_BUFFER => ServerMsg::BizTransBuffer { user_id: r.u32()?, data: r.blob()? },
            S_BIZ_ASK_CALL => ServerMsg::BizAskCall {
                query: r.u32()?,
                src: r.u32()?,
                tar: r.u32()?,
                flags: r.u32()?,
                param: r.u32()?,
                user_str: r.bytes()?,
            },
            S_BIZ_CALL_NOTE => ServerMsg::BizCallNote {
                event: r.u32()?,
                src: r.u32()?,
                tar: r.u32()?,
                error_code: r.u32()?,
                flags: r.u32()?,
                param: r.u32()?,
                user_str: r.bytes()?,
            },
            S_BIZ_ASK_VERIFY => ServerMsg::BizAskVerify {
                query: r.u32()?,
                name: r.bytes()?,
                password: r.bytes()?,
                ip: r.bytes()?,
                user_id: r.u32()?,
            },
            S_BIZ_ASK_ENTER => ServerMsg::BizAskEnter {
                query: r.u32()?,
                user_id: r.u32()?,
                room_id: r.u32()?,
                room_name: r.bytes()?,
                password: r.bytes()?,
            },
            S_BIZ_USER_LOGIN => {
                ServerMsg::BizUserLogin { user_id: r.u32()?, name: r.bytes()?, level: r.u32()?, ip: r.bytes()? }
            }
            S_BIZ_USER_LOGOUT => ServerMsg::BizUserLogout { user_id: r.u32()?, code: r.u32()? },
            S_BIZ_USER_ROOM => ServerMsg::BizUserRoom { user_id: r.u32()?, room_id: r.u32()?, entered: r.bool()? },
            t => return Err(DecodeError::UnknownType(t)),
        };
        r.finish()?;
        Ok(msg)
    }
}

/// Finds the next complete frame at the start of `buf`.
///
/// Returns `Ok(Some((body, consumed)))` for a complete frame, `Ok(None)` when
/// more bytes are needed, and an error for a length prefix out of range (the
/// stream cannot be resynchronised, so the connection must be closed).
pub fn split_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, DecodeError> {
    if buf.len() < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len == 0 || len > MAX_FRAME_LEN {
        return Err(DecodeError::BadLength(len));
    }
    let end = FRAME_HEADER_LEN + len;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((&buf[FRAME_HEADER_LEN..end], end)))
}

/// What the caller does with a frame it is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Taken: hand over the next one.
    Taken,
    /// Not taken: stop here; the frame stays buffered for the next read.
    Stop,
}

/// Hands the complete frames at the start of `buf` to `on_frame` while it
/// takes them; returns the bytes used and whether it stopped.
///
/// `limit` gives the longest frame accepted, asked before each frame (what a
/// frame does may change it): a longer length prefix is an error as soon as
/// it is read, before the frame's bytes have come.
pub fn take_frames(
    buf: &[u8],
    limit: impl Fn() -> usize,
    mut on_frame: impl FnMut(&[u8]) -> Result<Take, DecodeError>,
) -> Result<(usize, Take), DecodeError> {
    let mut used = 0;
    loop {
        let rest = &buf[used..];
        if rest.len() >= FRAME_HEADER_LEN {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len > limit() {
                return Err(DecodeError::BadLength(len));
            }
        }
        let Some((body, n)) = split_frame(rest)? else { return Ok((used, Take::Taken)) };
        if on_frame(body)? == Take::Stop {
            return Ok((used, Take::Stop));
        }
        used += n;
    }
}

/// Reassembles frames from a byte stream read in arbitrary pieces, for a
/// simple blocking reader (the tests' raw clients); the event loops use
/// [`take_frames`] on their connection's own buffer (`net::framed`).
#[derive(Debug, Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
    start: usize,
}

impl FrameBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes received and not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes read.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame body, if any.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, DecodeError> {
        match split_frame(&self.buf[self.start..])? {
            None => Ok(None),
            Some((_, consumed)) => {
                let body_start = self.start + FRAME_HEADER_LEN;
                self.start += consumed;
                Ok(Some(&self.buf[body_start..self.start]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(event: u32) -> CallEvent {
        CallEvent {
            event,
            user_id: 7,
            error_code: 100104,
            flags: 0x83,
            param: 0xDEAD_BEEF,
            user_str: vec![0xC4, 0xE3, 0xBA, 0xC3, 0],
        }
    }

    fn all_client() -> Vec<ClientMsg> {
        vec![
            ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 },
            ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                role: Role::Business as u8,
                secret: b"s3cret".to_vec(),
                token: 0x0123_4567_89AB_CDEF,
            },
            ClientMsg::Login { name: b"alice".to_vec(), password: vec![0xff, 0xfe], pass_enc_type: 3 },
            ClientMsg::Logout,
            ClientMsg::EnterRoom { room_id: u32::MAX, password: vec![] },
            ClientMsg::EnterRoomByName { name: "房间".as_bytes().to_vec(), password: b"p".to_vec() },
            ClientMsg::LeaveRoom { room_id: 5 },
            ClientMsg::VideoCall(ev(1)),
            ClientMsg::Ping { seq: 42 },
            ClientMsg::BizCallVerdict { query: 1, code: 5 },
            ClientMsg::BizVerifyResult { query: 2, code: 0, user_id: 9, level: 3, nick: b"Nick".to_vec() },
            ClientMsg::BizEnterVerdict { query: 3, code: 305 },
            ClientMsg::BizVideoCall(ev(4)),
            ClientMsg::BizUserControl { user_id: 5, ctrl: 1, wparam: 2, lparam: 3, text: b"t".to_vec() },
            ClientMsg::BizSendBuf { user_id: 6, data: vec![0, 1, 2, 255] },
            ClientMsg::BizSendRoom { room_id: 6, data: vec![7] },
            ClientMsg::BizTransBuffer { user_id: 6, data: vec![8, 9] },
            ClientMsg::BizSetUserInfo { user_id: 6, info_id: 1, value: b"x".to_vec() },
            ClientMsg::Relay { env: vec![2, 0, 0, 0, 1] },
            ClientMsg::LoginEx { name: b"n".to_vec(), password: vec![], user_id: 77, nick: b"Nick".to_vec() },
            ClientMsg::Text { to: u32::MAX, secret: false, text: vec![0xB0, 0xA1] },
            ClientMsg::TransBuffer { to: 3, ex: true, wparam: 1, lparam: 2, task_id: 9, data: vec![1; 1000] },
            ClientMsg::Device { kind: DEVICE_CAMERA, open: true },
            ClientMsg::Media {
                header: MediaHeader { kind: MEDIA_VIDEO, key: true, codec: 1, timestamp: 66, a: 640, b: 480 },
                data: vec![0, 0, 0, 1, 0x67],
            },
            ClientMsg::Subscribe { user_id: 9, kind: MEDIA_AUDIO, on: true },
            ClientMsg::Caps { caps: CAP_OPUS },
            ClientMsg::Query { id: 7, info: 1, input: b"alice".to_vec() },
        ]
    }

    fn all_server() -> Vec<ServerMsg> {
        let u = |id: u32| RoomUser {
            user_id: id,
            name: format!("u{id}").into_bytes(),
            nick: b"Nick".to_vec(),
            level: 3,
            camera: 2,
            mic: 1,
        };
        vec![
            ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms: 15000, token: 0 },
            ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms: 15000, token: u64::MAX },
            ServerMsg::Refused { code: 107 },
            ServerMsg::LoginResult {
                user_id: 9,
                code: 0,
                name: b"bob".to_vec(),
                level: 5,
                nick: b"Bobby".to_vec(),
                address: b"192.0.2.7".to_vec(),
            },
            ServerMsg::EnterRoomResult { room_id: 3, code: 300 },
            ServerMsg::RoomUsers { room_id: 3, users: vec![u(1), u(2)], more: true },
            ServerMsg::RoomUsers { room_id: 3, users: vec![], more: false },
            ServerMsg::UserAtRoom { room_id: 3, user: u(4), entered: true },
            ServerMsg::LeftRoom { room_id: 3 },
            ServerMsg::VideoCall { ev: ev(3), peer: u(7) },
            ServerMsg::LinkClose { code: 209 },
            ServerMsg::Pong { seq: 1 },
            ServerMsg::TransBuffer { from: 0, ex: false, wparam: 0, lparam: 0, task_id: 0, data: vec![9; 300] },
            ServerMsg::TransBuffer { from: 7, ex: true, wparam: 1, lparam: 2, task_id: 3, data: vec![] },
            ServerMsg::Text { from: 1, to: 0, secret: true, text: "你好".as_bytes().to_vec() },
            ServerMsg::Device { user_id: 1, kind: DEVICE_MIC, state: 2 },
            ServerMsg::FilterData { data: vec![1, 2, 3] },
            ServerMsg::Media {
                from: 3,
                header: MediaHeader { kind: MEDIA_AUDIO, key: true, codec: 0, timestamp: 20, a: 16000, b: 0x1_0010 },
                data: vec![0; 640],
            },
            ServerMsg::NeedKeyFrame,
            ServerMsg::AudioCodec { pcm: true },
            ServerMsg::QueryResult { id: 7, code: 0, output: 5u32.to_le_bytes().to_vec() },
            ServerMsg::UserInfo { user_id: 1, info_id: 9, value: b"v".to_vec() },
            ServerMsg::UserDataReset,
            ServerMsg::GroupSet { group_id: 1, name: "我的好友".as_bytes().to_vec() },
            ServerMsg::GroupSet { group_id: u32::MAX, name: vec![] },
            ServerMsg::GroupGone { group_id: 2 },
            ServerMsg::FriendSet { user_id: 5, online: true, group: 1 },
            ServerMsg::FriendSet { user_id: 6, online: false, group: 0 },
            ServerMsg::FriendGone { user_id: 5 },
            ServerMsg::FriendStatus { user_id: 5, online: false },
            ServerMsg::SyncInfo { user_id: 5, info_id: 3, value: b"sig".to_vec() },
            ServerMsg::UserDataUpdated,
            ServerMsg::BizText { room_id: 5, src: 1, tar: 2, secret: false, text: b"hi".to_vec() },
            ServerMsg::BizTransBuffer { user_id: 1, data: vec![0; 10] },
            ServerMsg::BizAskCall { query: 1, src: 2, tar: 3, flags: 4, param: 5, user_str: b"x".to_vec() },
            ServerMsg::BizCallNote { event: 3, src: 2, tar: 3, error_code: 0, flags: 4, param: 77, user_str: vec![] },
            ServerMsg::BizAskVerify {
                query: 2,
                name: b"n".to_vec(),
                password: b"p".to_vec(),
                ip: b"127.0.0.1".to_vec(),
                user_id: 42,
            },
            ServerMsg::BizAskEnter { query: 3, user_id: 1, room_id: 2, room_name: vec![], password: b"pw".to_vec() },
            ServerMsg::BizUserLogin { user_id: 1, name: b"a".to_vec(), level: 0, ip: b"::1".to_vec() },
            ServerMsg::BizUserLogout { user_id: 1, code: 0 },
            ServerMsg::BizUserRoom { user_id: 1, room_id: 2, entered: false },
        ]
    }

    #[test]
    fn a_version_1_hello_without_token_still_decodes() {
        let mut out = Vec::new();
        ClientMsg::Hello { version: 1, role: 1, secret: vec![], token: 0 }.encode(&mut out);
        // Version 1 ended after the secret: drop the token and fix the length.
        out.truncate(out.len() - 8);
        let len = (out.len() - FRAME_HEADER_LEN) as u32;
        out[..FRAME_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
        let (body, _) = split_frame(&out).unwrap().unwrap();
        assert_eq!(
            ClientMsg::decode(body).unwrap(),
            ClientMsg::Hello { version: 1, role: 1, secret: vec![], token: 0 }
        );
    }

    #[test]
    fn client_messages_round_trip() {
        for m in all_client() {
            let mut out = Vec::new();
            m.encode(&mut out);
            let (body, used) = split_frame(&out).unwrap().unwrap();
            assert_eq!(used, out.len());
            assert_eq!(ClientMsg::decode(body).unwrap(), m);
        }
    }

    #[test]
    fn server_messages_round_trip() {
        for m in all_server() {
            let mut out = Vec::new();
            m.encode(&mut out);
            let (body, used) = split_frame(&out).unwrap().unwrap();
            assert_eq!(used, out.len());
            assert_eq!(ServerMsg::decode(body).unwrap(), m);
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for m in all_server() {
            let mut out = Vec::new();
            m.encode(&mut out);
            let body = &out[FRAME_HEADER_LEN..];
            for cut in 0..body.len() {
                assert!(ServerMsg::decode(&body[..cut]).is_err(), "{m:?} cut at {cut}");
            }
        }
        for m in all_client() {
            let mut out = Vec::new();
            m.encode(&mut out);
            let body = &out[FRAME_HEADER_LEN..];
            for cut in 0..body.len() {
                // A Hello without its token is a version 1 Hello (see
                // `a_version_1_hello_without_token_still_decodes`).
                let v1_hello = matches!(m, ClientMsg::Hello { .. }) && cut == body.len() - 8;
                assert_eq!(ClientMsg::decode(&body[..cut]).is_err(), !v1_hello, "{m:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn trailing_bytes_and_bad_lengths_are_errors() {
        let mut out = Vec::new();
        ClientMsg::Ping { seq: 1 }.encode(&mut out);
        let mut body = out[FRAME_HEADER_LEN..].to_vec();
        body.push(0);
        assert_eq!(ClientMsg::decode(&body), Err(DecodeError::TrailingBytes(1)));
        assert_eq!(split_frame(&[0, 0, 0, 0]), Err(DecodeError::BadLength(0)));
        assert_eq!(split_frame(&[0, 0x10, 0, 1]), Err(DecodeError::BadLength(0x10_0001)));
        assert_eq!(ClientMsg::decode(&[0x81]), Err(DecodeError::UnknownType(0x81)));
        assert_eq!(ServerMsg::decode(&[0x01]), Err(DecodeError::UnknownType(0x01)));
        let mut hello = vec![C_HELLO];
        hello.extend_from_slice(b"XXXX\0\x01\x01");
        assert_eq!(ClientMsg::decode(&hello), Err(DecodeError::BadValue("magic")));
    }

    #[test]
    fn room_users_reserve_no_more_users_than_the_body_holds() {
        // Found by fuzzing (fuzz/, target server_msg): 16 bytes after the
        // count of 2 users hold none (a user takes 20 bytes at least), yet
        // decoding reserved room for 2 RoomUsers before failing.
        let body = [0x85, 0, 0, 0, 3, 1, 0, 2, 0, 0, 99, 107, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1];
        assert_eq!(ServerMsg::decode(&body), Err(DecodeError::Truncated));
        assert_eq!(room_users_capacity(2, body.len() - 8), 0);
        assert_eq!(room_users_capacity(2, MIN_ROOM_USER_LEN), 1);
        assert_eq!(room_users_capacity(MAX_ROOM_USERS, MAX_FRAME_LEN), MAX_ROOM_USERS);
        // The smallest user on the wire is MIN_ROOM_USER_LEN bytes.
        let user = RoomUser { user_id: 1, name: vec![], nick: vec![], level: 0, camera: 0, mic: 0 };
        let mut out = Vec::new();
        ServerMsg::RoomUsers { room_id: 3, users: vec![user], more: false }.encode(&mut out);
        assert_eq!(out.len(), FRAME_HEADER_LEN + 8 + MIN_ROOM_USER_LEN);
        out[FRAME_HEADER_LEN + 7] = 2; // claims 2 users
        assert_eq!(ServerMsg::decode(&out[FRAME_HEADER_LEN..]), Err(DecodeError::Truncated));
    }

    #[test]
    fn frame_buffer_reassembles_byte_by_byte() {
        let mut stream = Vec::new();
        for m in all_client() {
            m.encode(&mut stream);
        }
        let mut fb = FrameBuffer::new();
        let mut got = Vec::new();
        for b in &stream {
            fb.extend(std::slice::from_ref(b));
            while let Some(body) = fb.next_frame().unwrap() {
                got.push(ClientMsg::decode(body).unwrap());
            }
        }
        assert_eq!(got, all_client());
        assert_eq!(fb.pending(), 0);
    }

    #[test]
    fn take_frames_hands_over_every_frame_across_pieces_and_stops() {
        let msgs: Vec<ClientMsg> = (0..5).map(|seq| ClientMsg::Ping { seq }).collect();
        let mut bytes = Vec::new();
        for m in &msgs {
            m.encode(&mut bytes);
        }
        // Every split of the byte stream in two gives the same frames.
        for cut in 0..bytes.len() {
            let mut got = Vec::new();
            let mut rest = Vec::new();
            for piece in [&bytes[..cut], &bytes[cut..]] {
                rest.extend_from_slice(piece);
                let (used, took) = take_frames(
                    &rest,
                    || MAX_FRAME_LEN,
                    |b| {
                        got.push(ClientMsg::decode(b)?);
                        Ok(Take::Taken)
                    },
                )
                .unwrap();
                assert_eq!(took, Take::Taken);
                rest.drain(..used);
            }
            assert_eq!(got, msgs, "cut at {cut}");
            assert!(rest.is_empty());
        }
        // A stop leaves the frame where it is.
        let mut n = 0;
        let (used, took) = take_frames(
            &bytes,
            || MAX_FRAME_LEN,
            |_| {
                n += 1;
                Ok(if n == 3 { Take::Stop } else { Take::Taken })
            },
        )
        .unwrap();
        assert_eq!(took, Take::Stop);
        assert_eq!(used, bytes.len() / 5 * 2);
    }

    #[test]
    fn take_frames_refuses_a_length_over_the_limit_as_soon_as_it_is_read() {
        let mut prefix = 9000u32.to_be_bytes().to_vec();
        prefix.push(1);
        let e = take_frames(&prefix, || 8192, |_| Ok(Take::Taken)).unwrap_err();
        assert_eq!(e, DecodeError::BadLength(9000));
        // Within the limit it waits for the rest.
        assert_eq!(take_frames(&prefix, || 9000, |_| Ok(Take::Taken)).unwrap(), (0, Take::Taken));
        // The limit is asked before each frame: a frame may raise it.
        let mut two = Vec::new();
        ClientMsg::Ping { seq: 1 }.encode(&mut two);
        ClientMsg::Text { to: 0, secret: false, text: vec![b'x'; 100] }.encode(&mut two);
        let limit = std::cell::Cell::new(16);
        let (used, _) = take_frames(
            &two,
            || limit.get(),
            |_| {
                limit.set(MAX_FRAME_LEN);
                Ok(Take::Taken)
            },
        )
        .unwrap();
        assert_eq!(used, two.len());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = ClientMsg::decode(&bytes);
            let _ = ServerMsg::decode(&bytes);
            let mut fb = FrameBuffer::new();
            fb.extend(&bytes);
            while let Ok(Some(body)) = fb.next_frame() {
                let _ = ClientMsg::decode(body);
            }
        }

        #[test]
        fn mutated_valid_frames_never_panic(idx in any::<usize>(), pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let mut out = Vec::new();
            let c = all_client();
            let s = all_server();
            let idx = idx % (c.len() + s.len());
            if idx < c.len() { c[idx].encode(&mut out) } else { s[idx - c.len()].encode(&mut out) }
            let p = pos % out.len();
            out[p] = byte;
            out.truncate(cut % (out.len() + 1));
            let mut fb = FrameBuffer::new();
            fb.extend(&out);
            if let Ok(Some(body)) = fb.next_frame() {
                let _ = ClientMsg::decode(body);
                let _ = ServerMsg::decode(body);
            }
        }
    }
}
