//! The client library's engine, sans I/O: the link's life (resolve, open,
//! handshake, keep-alive, loss), the session, room and call as the server
//! tells them, and the events for the app — in the manner of
//! [`crate::core::Core`].
//!
//! [`Engine`] holds no socket, thread, clock, lock or channel. Its driver
//! (the network thread, [`super::runtime`]) feeds it
//!
//! - [`Engine::on_command`] — what the API threads asked (connect, send a
//!   message, a media frame, logout, release);
//! - [`Engine::on_resolved`] — the addresses of an [`Output::Resolve`];
//! - [`Engine::on_link_up`], [`Engine::on_received`],
//!   [`Engine::on_message`], [`Engine::on_link_lost`] — what the link did;
//! - [`Engine::on_decoded`] — a picture of an [`Output::Decode`];
//! - [`Engine::on_timeout`] — when [`Engine::next_deadline`] has passed;
//! - [`Engine::on_internal_error`] — a panic caught in a library thread;
//!
//! each with `now` and the shared [`State`] (the driver holds its lock for
//! the call only), and drains [`Engine::poll_output`]: messages to send,
//! links to open and close, names to resolve, frames to decode, events for
//! the callback thread. The tests (`tests.rs`) run the client's contract
//! through it in simulated time.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::{next_call_state, CallPhase, LinkState, State, UserInfo};
use crate::wire::constants::*;
pub use crate::wire::keepalive::LinkLoss;
use crate::wire::keepalive::{Expired, LinkClock};
use crate::wire::protocol::{
    ClientMsg, MediaHeader, MediaOut, Role, ServerMsg, DEVICE_CAMERA, DEVICE_MIC, MEDIA_AUDIO, PROTOCOL_VERSION,
};

/// How long a connect may take, from the addresses resolved to the
/// server's `Welcome` (TCP connect, TLS handshake and `Hello` included),
/// before `WM_GV_CONNECT(0)`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `BRAC_Release` waits for the server to acknowledge a logout.
pub const RELEASE_LINGER: Duration = Duration::from_millis(500);
/// The codec id of the video this library encodes (H.264), as in the
/// media header: the vendor's `BRAC_PIX_FMT_H264`.
pub const CODEC_H264: u32 = BRAC_PIX_FMT_H264;
/// The codec id of raw 16-bit PCM audio.
pub const CODEC_PCM: u32 = 0;

/// What the library hands to the app, in order.
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

impl Event {
    /// Bytes of data an event carries that may be dropped for a slow
    /// callback (text, buffers, audio); `None` for events never dropped.
    pub fn droppable_len(&self) -> Option<usize> {
        match self {
            Event::TransBuffer { data, .. } | Event::FilterData { data } | Event::Audio { data, .. } => {
                Some(data.len())
            }
            Event::Text { text, .. } => Some(text.len()),
            _ => None,
        }
    }
}

/// What the API threads ask of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `BRAC_Connect`: resolve `host` and connect (any link is replaced).
    Connect { host: String, port: u16 },
    /// A message for the server: sent once the link exists (after `Hello`),
    /// kept while the name resolves, dropped with no link.
    Send(ClientMsg),
    /// A media frame (encoded message) for the server: sent only on a link
    /// that completed its handshake.
    Media(Arc<MediaOut>),
    /// `BRAC_Logout`: the logout goes out, or the link closes.
    Logout,
    /// `BRAC_Release`: log out if logged in, then close; no event after it.
    Shutdown,
}

/// What the engine asks its driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Resolve `host:port` (off the network thread: it may block) and call
    /// [`Engine::on_resolved`] with `attempt`.
    Resolve { attempt: u64, host: String, port: u16 },
    /// Open a link to the first of `addrs` that takes a connect; `hello` is
    /// its first message, the [`Output::Send`]s that follow go out after it.
    Open { addrs: Vec<SocketAddr>, hello: ClientMsg },
    /// Queue a message on the link.
    Send(ClientMsg),
    /// Queue a media frame on the link (after its signalling, bounded).
    SendMedia(Arc<MediaOut>),
    /// Close the link; nothing more of it is reported.
    Close,
    /// Decode this H.264 frame of user `from` (with no lock held) and hand
    /// the picture to [`Engine::on_decoded`]; a frame that does not decode
    /// is skipped.
    Decode { from: u32, header: MediaHeader, data: Vec<u8> },
    /// Hand this event to the app's callbacks.
    Deliver(Event),
    /// A receiver lost this client's video: its encoder sends a key frame next.
    KeyFrame,
}

/// How a link (or the attempt) ends, for the state and the app.
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

/// Where the engine's link stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Idle,
    /// The server's name is being resolved for connect attempt `0`.
    Resolving(u64),
    /// A link exists (its driver holds the socket); `up`: the transport
    /// connected.
    Linked {
        clock: LinkClock,
        up: bool,
    },
}

/// The client library's engine (see the module's documentation).
#[derive(Debug)]
pub struct Engine {
    phase: Phase,
    /// Counts connect attempts, so that a late name resolution is ignored.
    attempt: u64,
    /// Messages asked for while the server's name was being resolved.
    early: Vec<ClientMsg>,
    /// Reason the server gave in `LinkClose`, reported when the link drops.
    link_close_code: Option<u32>,
    /// `BRAC_Release` began: until when the logout may take.
    releasing: Option<Instant>,
    out: VecDeque<Output>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine {
            phase: Phase::Idle,
            attempt: 0,
            early: Vec::new(),
            link_close_code: None,
            releasing: None,
            out: VecDeque::new(),
        }
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Engine::on_timeout`] should be called next (it may be early).
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            // A release waits for its logout only while the link is there.
            Phase::Linked { clock, .. } => {
                Some(self.releasing.map_or(clock.next_deadline(), |t| t.min(clock.next_deadline())))
            }
            _ => None,
        }
    }

    /// `BRAC_Release` has run its course: the driver closes what is left and ends.
    pub fn is_finished(&self) -> bool {
        self.releasing.is_some() && !matches!(self.phase, Phase::Linked { .. })
    }

    /// Whether the engine waits for the addresses of connect attempt `attempt`.
    pub fn awaits_resolution(&self, attempt: u64) -> bool {
        self.phase == Phase::Resolving(attempt)
    }

    /// Whether the link completed its handshake.
    pub fn is_ready(&self) -> bool {
        matches!(&self.phase, Phase::Linked { clock, .. } if clock.is_ready())
    }

    /// The keep-alive time the server asked for (None before its `Welcome`).
    pub fn keepalive(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Linked { clock, .. } => clock.keepalive(),
            _ => None,
        }
    }

    fn deliver(&mut self, ev: Event) {
        // Release: no callbacks once it has begun.
        if self.releasing.is_none() {
            self.out.push_back(Output::Deliver(ev));
        }
    }

    fn notify(&mut self, msg: u32, wparam: u32, lparam: u32) {
        self.deliver(Event::Notify { msg, wparam, lparam });
    }

    /// An API thread's command.
    pub fn on_command(&mut self, now: Instant, st: &mut State, cmd: Command) {
        match cmd {
            Command::Shutdown => {
                if self.releasing.is_none() {
                    self.releasing = Some(now + RELEASE_LINGER);
                    if st.logged_in && self.is_ready() {
                        st.logging_out = true;
                        self.send(ClientMsg::Logout);
                    } else {
                        self.drop_link(st, Down::Quiet);
                    }
                }
            }
            // After a release began, nothing but the logout goes out.
            _ if self.releasing.is_some() => {}
            Command::Connect { host, port } => {
                // The API already set the state to Connecting; keep it so.
                self.drop_link(st, Down::Replaced);
                self.attempt += 1;
                self.phase = Phase::Resolving(self.attempt);
                self.out.push_back(Output::Resolve { attempt: self.attempt, host, port });
            }
            Command::Send(msg) => self.send(msg),
            Command::Media(frame) => {
                if self.is_ready() {
                    self.out.push_back(Output::SendMedia(frame));
                }
            }
            Command::Logout => {
                if self.is_ready() {
                    self.send(ClientMsg::Logout);
                } else {
                    self.drop_link(st, Down::Quiet);
                }
            }
        }
    }

    /// The addresses of connect attempt `attempt` (empty: the name does not
    /// resolve, or TLS cannot be set up; the driver says why in the log).
    pub fn on_resolved(&mut self, now: Instant, st: &mut State, attempt: u64, addrs: Vec<SocketAddr>) {
        if self.phase != Phase::Resolving(attempt) {
            return;
        }
        if addrs.is_empty() {
            self.drop_link(st, Down::ConnectFailed);
            return;
        }
        let hello =
            ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: Vec::new(), token: 0 };
        self.phase = Phase::Linked { clock: LinkClock::connecting(now, CONNECT_TIMEOUT), up: false };
        self.out.push_back(Output::Open { addrs, hello });
        // Messages asked for while resolving go out after `Hello`.
        for m in std::mem::take(&mut self.early) {
            self.out.push_back(Output::Send(m));
        }
    }

    /// The link's transport connected (TCP, and TLS when asked): the
    /// `Hello` is on its way.
    pub fn on_link_up(&mut self, _now: Instant) {
        if let Phase::Linked { up, .. } = &mut self.phase {
            *up = true;
        }
    }

    /// Bytes came in on the link (a frame may still be incomplete): the
    /// server is not silent.
    pub fn on_received(&mut self, now: Instant) {
        if let Phase::Linked { clock, .. } = &mut self.phase {
            clock.received(now);
        }
    }

    /// The link ended without the engine's asking (the driver has dropped it).
    pub fn on_link_lost(&mut self, _now: Instant, st: &mut State, why: LinkLoss) {
        let Phase::Linked { up, .. } = self.phase else { return };
        let ready = self.is_ready();
        // The driver has closed it already: no `Close` for it.
        self.phase = Phase::Idle;
        if st.logging_out {
            self.drop_link(st, Down::Quiet);
        } else if ready {
            tracing::info!("link to the server lost: {why}");
            let code = self.link_close_code.take().unwrap_or(GV_ERR_CONNECT_ABORT);
            self.drop_link(st, Down::Lost(code));
        } else {
            match why {
                LinkLoss::Tls(_) => tracing::warn!("cannot connect to the server over TLS: {why}"),
                _ if up => tracing::info!("the server did not complete the handshake: {why}"),
                _ => tracing::info!("cannot connect to the server: {why}"),
            }
            self.drop_link(st, Down::ConnectFailed);
        }
    }

    /// Time passed: the connect time-out, keep-alive (pings, a silent
    /// server), the end of a release's wait for its logout.
    pub fn on_timeout(&mut self, now: Instant, st: &mut State) {
        if let Phase::Linked { clock, up } = &mut self.phase {
            match clock.poll(now) {
                Ok(Some(ping)) => self.out.push_back(Output::Send(ping)),
                Ok(None) => {}
                Err(Expired::ConnectTimeout) => {
                    let up = *up;
                    tracing::info!(up, "cannot connect to the server: {}", Expired::ConnectTimeout);
                    self.drop_link(st, Down::ConnectFailed);
                }
                Err(Expired::Silent) => {
                    if st.logging_out {
                        self.drop_link(st, Down::Quiet);
                    } else {
                        tracing::info!("link to the server lost: {}", Expired::Silent);
                        let code = self.link_close_code.take().unwrap_or(GV_ERR_CONNECT_ABORT);
                        self.drop_link(st, Down::Lost(code));
                    }
                }
            }
        }
        if self.releasing.is_some_and(|t| now >= t) && matches!(self.phase, Phase::Linked { .. }) {
            self.out.push_back(Output::Close);
            self.phase = Phase::Idle;
        }
    }

    /// A panic was caught in a library thread (`what` says where): the
    /// session cannot be trusted, so the link closes and the app hears of a
    /// lost link (`WM_GV_LINKCLOSE(101)`, after the end of its call), as if
    /// the network had failed; the state is that of a closed link, so the
    /// app may connect again. Outputs not yet carried out are dropped.
    pub fn on_internal_error(&mut self, _now: Instant, st: &mut State, what: &str) {
        tracing::error!("{what}: the link to the server is closed and reported lost");
        self.out.clear();
        if self.releasing.is_some() {
            self.drop_link(st, Down::Quiet);
            return;
        }
        let session = self.phase != Phase::Idle || st.link != LinkState::Idle || st.logged_in || st.call.is_some();
        if session && !st.logging_out {
            self.drop_link(st, Down::Lost(GV_ERR_CONNECT_ABORT));
        } else {
            self.drop_link(st, Down::Quiet);
        }
    }

    /// Queues a message: on the link if there is one (written after `Hello`),
    /// kept for it while the name resolves, else dropped.
    fn send(&mut self, msg: ClientMsg) {
        match self.phase {
            Phase::Linked { .. } => self.out.push_back(Output::Send(msg)),
            Phase::Resolving(_) => self.early.push(msg),
            Phase::Idle => tracing::debug!(?msg, "dropped: not connected"),
        }
    }

    /// Closes the link, resets the session state and reports it as `how`.
    fn drop_link(&mut self, st: &mut State, how: Down) {
        if matches!(self.phase, Phase::Linked { .. }) {
            self.out.push_back(Output::Close);
        }
        self.phase = Phase::Idle;
        self.early.clear();
        self.link_close_code = None;
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
            self.deliver(Event::VideoCall {
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
                self.notify(WM_GV_CONNECT, 0, 0);
            }
            Down::Lost(code) => {
                st.status = 5;
                self.notify(WM_GV_LINKCLOSE, code, 0);
            }
            Down::Quiet | Down::Replaced if st.status >= 2 => st.status = 4,
            _ => {}
        }
    }

    /// A message from the server.
    pub fn on_message(&mut self, now: Instant, st: &mut State, msg: ServerMsg) {
        let Phase::Linked { clock, .. } = &mut self.phase else { return };
        clock.received(now);
        match msg {
            ServerMsg::Welcome { keepalive_ms, .. } => {
                if clock.is_ready() {
                    tracing::debug!("a second Welcome ignored");
                    return;
                }
                clock.ready(now, Duration::from_millis(keepalive_ms as u64));
                st.link = LinkState::Connected;
                st.status = 1;
                self.notify(WM_GV_CONNECT, 1, 0);
            }
            ServerMsg::Refused { code } => {
                tracing::warn!(code, "the server refused the handshake");
                self.drop_link(st, Down::ConnectFailed);
            }
            ServerMsg::LoginResult { user_id, code, name, level, nick } => {
                if code == 0 {
                    st.logged_in = true;
                    st.self_id = Some(user_id);
                    // A session's friends, groups and infos start empty.
                    st.friends.clear();
                    st.infos.clear();
                    let (camera, mic) = (GV_CAMERA_STATE_NORMAL, GV_AUDIO_STATE_NORMAL);
                    st.users.insert(user_id, UserInfo { name, nick, level, camera, mic });
                    st.status = 2;
                    self.notify(WM_GV_LOGINSYSTEM, user_id, 0);
                } else {
                    self.notify(WM_GV_LOGINSYSTEM, 0, code);
                }
            }
            ServerMsg::EnterRoomResult { room_id, code } => {
                let name = st.pending_room_name.take();
                if code == 0 {
                    st.entering = Some(room_id);
                    st.room_name = name.unwrap_or_default();
                    st.room_users.clear();
                } else {
                    self.notify(WM_GV_ENTERROOM, room_id, code);
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
                    self.notify(WM_GV_ENTERROOM, room_id, 0);
                    self.notify(WM_GV_ONLINEUSER, count, room_id);
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
                    self.notify(WM_GV_USERATROOM, uid, entered as u32);
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
                self.deliver(Event::VideoCall {
                    event: e.event,
                    user_id: e.user_id,
                    error_code: e.error_code,
                    flags: e.flags,
                    param: e.param,
                    user_str: e.user_str,
                });
            }
            ServerMsg::LinkClose { code } => self.link_close_code = Some(code),
            ServerMsg::Pong { .. } => {}
            ServerMsg::TransBuffer { from, ex, wparam, lparam, task_id, data } => {
                self.deliver(Event::TransBuffer { from, ex, wparam, lparam, task_id, data })
            }
            ServerMsg::Text { from, to, secret, text } => self.deliver(Event::Text { from, to, secret, text }),
            ServerMsg::FilterData { data } => self.deliver(Event::FilterData { data }),
            ServerMsg::Device { user_id, kind, state } => {
                let info = st.users.entry(user_id).or_default();
                if kind == DEVICE_CAMERA {
                    info.camera = state;
                    self.notify(WM_GV_CAMERASTATE, user_id, state);
                } else if kind == DEVICE_MIC {
                    info.mic = state;
                    self.notify(WM_GV_MICSTATECHANGE, user_id, (state == GV_AUDIO_STATE_OPEN) as u32);
                }
            }
            ServerMsg::NeedKeyFrame => self.out.push_back(Output::KeyFrame),
            ServerMsg::Media { from, header, data } => self.on_media(st, from, header, data),
            ServerMsg::UserInfo { user_id, info_id, value } => {
                st.infos.insert((user_id, info_id), value);
                self.notify(WM_GV_USERINFOUPDATE, user_id, info_id);
            }
            m @ (ServerMsg::UserDataReset
            | ServerMsg::GroupSet { .. }
            | ServerMsg::GroupGone { .. }
            | ServerMsg::FriendSet { .. }
            | ServerMsg::FriendGone { .. }
            | ServerMsg::FriendStatus { .. }
            | ServerMsg::SyncInfo { .. }
            | ServerMsg::UserDataUpdated) => {
                if let Some((msg, wparam, lparam)) = super::friends::on_message(st, m) {
                    self.notify(msg, wparam, lparam);
                }
            }
            other => tracing::debug!(?other, "ignored: not a client message"),
        }
    }

    /// A media frame of `from`: audio and video this library did not encode
    /// go to the app as they are; H.264 goes to the driver to decode first.
    fn on_media(&mut self, st: &mut State, from: u32, header: MediaHeader, data: Vec<u8>) {
        if header.kind == MEDIA_AUDIO {
            let info = st.streams.entry(from).or_default();
            info.channels = header.b >> 16;
            info.rate = header.a;
            info.audio_codec = header.codec;
            self.deliver(Event::Audio {
                from,
                channels: (header.b >> 16) as u16,
                rate: header.a,
                bits: (header.b & 0xFFFF) as u16,
                codec: header.codec,
                timestamp: header.timestamp,
                data,
            });
        } else if header.codec == CODEC_H264 {
            self.out.push_back(Output::Decode { from, header, data });
        } else {
            self.video(st, from, header, (header.a, header.b), data, false);
        }
    }

    /// The picture (`w` × `h`, I420) an [`Output::Decode`] of `from` gave.
    pub fn on_decoded(&mut self, st: &mut State, from: u32, header: MediaHeader, w: u32, h: u32, i420: Vec<u8>) {
        self.video(st, from, header, (w, h), i420, true);
    }

    fn video(
        &mut self,
        st: &mut State,
        from: u32,
        header: MediaHeader,
        size: (u32, u32),
        data: Vec<u8>,
        decoded: bool,
    ) {
        let (w, h) = size;
        let info = st.streams.entry(from).or_default();
        let changed = (info.width, info.height) != (w, h);
        info.width = w;
        info.height = h;
        info.video_codec = header.codec;
        if changed {
            let size = (w & 0xFFFF) | ((h & 0xFFFF) << 16);
            self.notify(WM_GV_VIDEOSIZECHG, from, size);
        }
        let (codec, timestamp) = (header.codec, header.timestamp);
        self.deliver(Event::Video { from, w, h, codec, timestamp, data, decoded });
    }
}
