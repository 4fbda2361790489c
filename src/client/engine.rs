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
//!
//! It also runs the queue of calls issued while a step was under way (see
//! [`super::state`]): after anything that may end a step it runs the calls
//! at the head of [`State::queue`] that need wait no more, in order. A call
//! that fails when it runs, or that a failed step leaves without a session,
//! is answered as the vendor reports that call's outcome: a login with
//! `WM_GV_LOGINSYSTEM(0, code)`, a room entry with `WM_GV_ENTERROOM(room,
//! code)` (room 0 for a name), a video-call event with that event's
//! callback from `dwUserId` (`REPLY(code)` for a Request or a Reply,
//! `FINISH(code)` for a Finish, flags of the call, `dwParam` 0, empty
//! string); the code is the one the API would return for the call at that
//! moment (101 for a login without a link, 208 for the others without a
//! login, 20 or 21 for a call event that does not fit). Text, buffers and
//! device calls have no such report in the vendor's API: they are dropped
//! (logged). A login as the user logged in is answered again with success
//! and sends nothing; an entry into the room one is in goes to the server,
//! and its "already in the room" (308) is answered as the entry's success
//! (`WM_GV_ENTERROOM(room, 0)`, `WM_GV_ONLINEUSER`).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::{next_call_state, Call, CallPhase, Level, LinkState, Ran, RoomTarget, ServerAddr, State, UserInfo};
use crate::wire::constants::*;
pub use crate::wire::keepalive::LinkLoss;
use crate::wire::keepalive::{Expired, LinkClock};
use crate::wire::protocol::{
    ClientMsg, MediaHeader, MediaOut, Role, ServerMsg, CODEC_OPUS, DEVICE_CAMERA, DEVICE_MIC, MEDIA_AUDIO, MEDIA_VIDEO,
    PROTOCOL_VERSION,
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
    /// A video frame of user `from` (this client's own id: its own input,
    /// shown back): `decoded`, a picture in the pixel format `pix_fmt`
    /// (`BRAC_PIX_FMT_*`: YUV420P for H.264 decoded here, the input's format
    /// for one's own raw frames); else the bytes as sent (`codec` says what
    /// they are).
    Video { from: u32, w: u32, h: u32, codec: u32, timestamp: u32, data: Vec<u8>, decoded: bool, pix_fmt: u32 },
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

/// One's own video frame for the video callbacks (self-view), as the app
/// fed it: raw in the pixel format `pix_fmt`, or encoded with `codec`
/// (H.264 is decoded like a peer's, other codecs are shown as sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnVideo {
    pub w: u32,
    pub h: u32,
    pub timestamp: u32,
    /// The codec the frame is sent with.
    pub codec: u32,
    /// `Some(BRAC_PIX_FMT_*)`: `data` is the raw picture.
    pub pix_fmt: Option<u32>,
    pub data: Vec<u8>,
}

/// What the API threads ask of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `BRAC_Connect` of `session` ([`State::connect`]): a new session
    /// resolves the server's name and connects (the link of an older one
    /// is logged out and closed); the same server again keeps the session
    /// and is answered with `WM_GV_CONNECT` (at once when connected, with
    /// the connect under way otherwise).
    Connect { server: ServerAddr, session: u64 },
    /// A message for the server: sent on the link (after `Hello`), dropped
    /// with no link.
    Send(ClientMsg),
    /// Calls were queued ([`State::queue`]): run those that need wait no more.
    RunQueue,
    /// One's own video frame, shown back to the app while its camera is open.
    OwnVideo(OwnVideo),
    /// A notification of the library's own devices (a microphone or speaker
    /// that started, could not open, or ended), for the app in order.
    Notify { msg: u32, wparam: u32, lparam: u32 },
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
    /// Decode this H.264 frame (or Opus audio frame) of user `from` (with
    /// no lock held) and hand the picture to [`Engine::on_decoded`] (the
    /// PCM to [`Engine::on_audio_decoded`]); a frame that does not decode
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
    /// A new `BRAC_Connect` replaces the link: the API already started
    /// the new session, nothing of the old one is reported.
    Replaced,
}

/// How a call that waited is answered when it fails or repeats a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Login,
    /// A room entry (by number; 0 for a name).
    Enter(u32),
    Call {
        event: u32,
        user_id: u32,
        flags: u32,
    },
    /// No report in the vendor's API (text, buffers, devices, leaving).
    Nothing(&'static str),
}

impl Answer {
    fn of(call: &Call) -> Answer {
        match call {
            Call::Login { .. } | Call::LoginEx { .. } => Answer::Login,
            Call::EnterRoom { room_id, .. } => Answer::Enter(*room_id),
            Call::EnterRoomByName { .. } => Answer::Enter(0),
            Call::VideoCall { event, user_id, flags, .. } => {
                Answer::Call { event: *event, user_id: *user_id, flags: *flags }
            }
            Call::LeaveRoom { .. } => Answer::Nothing("a leave room"),
            Call::Text { .. } => Answer::Nothing("a text message"),
            Call::TransBuffer { .. } => Answer::Nothing("a buffer"),
            Call::Device { .. } => Answer::Nothing("a device control"),
        }
    }
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
    /// The session ([`State::session`]) of the link: while the API has
    /// started a newer one, this link's news is not the app's.
    session: u64,
    /// The server of the link.
    target: Option<ServerAddr>,
    /// `BRAC_Connect`s to the same server while it connected: each gets
    /// its `WM_GV_CONNECT` with the first.
    connect_waiters: u32,
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
            session: 0,
            target: None,
            connect_waiters: 0,
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

    /// Whether the API started a newer session than this link's: its news
    /// is not the app's, and the state is the new session's.
    fn stale(&self, st: &State) -> bool {
        st.session != self.session
    }

    /// An API thread's command.
    pub fn on_command(&mut self, now: Instant, st: &mut State, cmd: Command) {
        self.command(now, st, cmd);
        self.run_queue(st);
    }

    fn command(&mut self, now: Instant, st: &mut State, cmd: Command) {
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
            Command::Connect { server, session } => {
                let same =
                    session == self.session && self.target.as_ref() == Some(&server) && self.phase != Phase::Idle;
                if same {
                    // The same server again (a button pressed twice): the
                    // session goes on; this call is answered too.
                    if self.is_ready() {
                        self.notify(WM_GV_CONNECT, 1, 0);
                    } else {
                        self.connect_waiters += 1;
                    }
                    return;
                }
                // A clean switch: the old session is logged out and closed.
                if self.is_ready() {
                    self.out.push_back(Output::Send(ClientMsg::Logout));
                }
                self.drop_link(st, Down::Replaced);
                self.session = session;
                if !self.stale(st) {
                    st.link = LinkState::Connecting;
                }
                let (host, port) = (server.host.clone(), server.port);
                self.target = Some(server);
                self.attempt += 1;
                self.phase = Phase::Resolving(self.attempt);
                self.out.push_back(Output::Resolve { attempt: self.attempt, host, port });
            }
            Command::Send(msg) => self.send(msg),
            Command::RunQueue => {}
            Command::OwnVideo(v) => self.own_video(st, v),
            Command::Notify { msg, wparam, lparam } => {
                if self.releasing.is_none() {
                    self.notify(msg, wparam, lparam);
                }
            }
            Command::Media(frame) => {
                if self.is_ready() {
                    if let Some(me) = st.self_id {
                        let info = st.streams.entry(me).or_default();
                        let meter = if frame.video { &mut info.video_meter } else { &mut info.audio_meter };
                        meter.add(now, frame.bytes.len());
                    }
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
        // A newer session's `Connect` is on its way: it replaces this attempt.
        if self.phase != Phase::Resolving(attempt) || self.stale(st) {
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
        // A login that waited goes out after `Hello`.
        self.run_queue(st);
    }

    /// The link's transport connected (TCP, and TLS when asked) from the
    /// local address `local` (when the socket tells it): the `Hello` is on
    /// its way.
    pub fn on_link_up(&mut self, _now: Instant, st: &mut State, local: Option<SocketAddr>) {
        if let Phase::Linked { up, .. } = &mut self.phase {
            *up = true;
            if let Some(addr) = local {
                st.local_ip = addr.ip().to_string().into_bytes();
            }
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
        if st.logging_out || self.stale(st) {
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
                    if st.logging_out || self.stale(st) {
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

    /// Queues a message on the link (written after `Hello`); with no link
    /// (the call's own step failed meanwhile, and was answered), dropped.
    fn send(&mut self, msg: ClientMsg) {
        match self.phase {
            Phase::Linked { .. } => self.out.push_back(Output::Send(msg)),
            _ => tracing::debug!(?msg, "dropped: not connected"),
        }
    }

    /// Whether the call at the head of the queue must wait: for the link to
    /// open (a login is written after `Hello`), for a login sent, and once
    /// logged in for a room entry under way. (With no link, nothing waits:
    /// the calls are answered.)
    fn waits(&self, st: &State) -> bool {
        if st.logged_in {
            st.enter_pending.is_some()
        } else {
            st.login_in_flight || matches!(self.phase, Phase::Resolving(_))
        }
    }

    /// Runs the calls at the head of the queue that need wait no more, in
    /// order; a call that fails is answered (see the module's docs).
    fn run_queue(&mut self, st: &mut State) {
        if self.releasing.is_some() || self.stale(st) {
            return;
        }
        while !st.queue.is_empty() && !self.waits(st) {
            let Some(call) = st.queue.pop_front() else { break };
            let answer = Answer::of(&call);
            match st.run(call) {
                Ok(Ran::Send(msg)) => self.send(msg),
                Ok(Ran::Again) => self.answer_again(st, answer),
                Err(code) => self.answer_failed(st, answer, code),
            }
        }
    }

    /// A login as the user logged in: the success the app waits for, again.
    fn answer_again(&mut self, st: &State, answer: Answer) {
        if answer == Answer::Login {
            self.notify(WM_GV_LOGINSYSTEM, st.self_id.unwrap_or(0), 0);
        }
    }

    /// A call that failed when it ran (or whose step failed), the vendor's way.
    fn answer_failed(&mut self, st: &mut State, answer: Answer, code: u32) {
        match answer {
            Answer::Login => {
                st.login_failed();
                self.notify(WM_GV_LOGINSYSTEM, 0, code);
            }
            Answer::Enter(room) => self.notify(WM_GV_ENTERROOM, room, code),
            Answer::Call { event, user_id, flags } => {
                let event = if event == BRAC_VIDEOCALL_EVENT_FINISH {
                    BRAC_VIDEOCALL_EVENT_FINISH
                } else {
                    BRAC_VIDEOCALL_EVENT_REPLY
                };
                let user_str = Vec::new();
                self.deliver(Event::VideoCall { event, user_id, error_code: code, flags, param: 0, user_str });
            }
            Answer::Nothing(what) => tracing::debug!(code, "{what} that waited dropped"),
        }
    }

    /// Closes the link, resets the session state and reports it as `how`.
    fn drop_link(&mut self, st: &mut State, how: Down) {
        if matches!(self.phase, Phase::Linked { .. }) {
            self.out.push_back(Output::Close);
        }
        self.phase = Phase::Idle;
        self.link_close_code = None;
        let connects = 1 + std::mem::take(&mut self.connect_waiters);
        // A newer session's state is not this link's to change.
        if how == Down::Replaced || self.stale(st) {
            return;
        }
        let was = st.link;
        st.link = LinkState::Idle;
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
        // The steps under way and the calls that waited: the app ended the
        // session itself (logout, release), or they are answered.
        if how != Down::Quiet {
            if st.login_in_flight {
                self.notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CONNECT_ABORT);
            }
            match st.enter_pending.take() {
                Some(RoomTarget::Id(room)) => self.notify(WM_GV_ENTERROOM, room, GV_ERR_NOTLOGIN),
                Some(RoomTarget::Name(_)) => self.notify(WM_GV_ENTERROOM, 0, GV_ERR_NOTLOGIN),
                None => {}
            }
            st.login_in_flight = false;
            st.login_name = None;
            self.run_queue(st);
        }
        st.queue.clear();
        st.login_in_flight = false;
        st.login_name = None;
        st.enter_pending = None;
        match how {
            Down::ConnectFailed if was != LinkState::Idle => {
                st.status = 0;
                for _ in 0..connects {
                    self.notify(WM_GV_CONNECT, 0, 0);
                }
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
        // After a logout, or with a newer session started, nothing of this
        // link reaches the app.
        if st.logging_out || st.session != self.session {
            return;
        }
        self.message(now, st, msg);
        self.run_queue(st);
    }

    fn message(&mut self, now: Instant, st: &mut State, msg: ServerMsg) {
        let Phase::Linked { clock, .. } = &mut self.phase else { return };
        match msg {
            ServerMsg::Welcome { keepalive_ms, .. } => {
                if clock.is_ready() {
                    tracing::debug!("a second Welcome ignored");
                    return;
                }
                clock.ready(now, Duration::from_millis(keepalive_ms as u64));
                st.link = LinkState::Connected;
                st.status = 1;
                for _ in 0..1 + std::mem::take(&mut self.connect_waiters) {
                    self.notify(WM_GV_CONNECT, 1, 0);
                }
            }
            ServerMsg::Refused { code } => {
                tracing::warn!(code, "the server refused the handshake");
                self.drop_link(st, Down::ConnectFailed);
            }
            ServerMsg::LoginResult { user_id, code, name, level, nick, address } => {
                if code == 0 {
                    st.internet_ip = address;
                    st.logged_in = true;
                    st.login_in_flight = false;
                    st.self_id = Some(user_id);
                    // A session's friends, groups and infos start empty.
                    st.friends.clear();
                    st.infos.clear();
                    let (camera, mic) = (GV_CAMERA_STATE_NORMAL, GV_AUDIO_STATE_NORMAL);
                    st.users.insert(user_id, UserInfo { name, nick, level, camera, mic });
                    st.status = 2;
                    self.notify(WM_GV_LOGINSYSTEM, user_id, 0);
                } else {
                    st.login_failed();
                    self.notify(WM_GV_LOGINSYSTEM, 0, code);
                }
            }
            ServerMsg::EnterRoomResult { room_id, code } => {
                if code == 0 {
                    st.entering = Some(room_id);
                    st.room_name = match &st.enter_pending {
                        Some(RoomTarget::Name(name)) => name.clone(),
                        _ => Vec::new(),
                    };
                    st.room_users.clear();
                } else if code == GV_ERR_ROOM_ALREADIN && st.room == Some(room_id) {
                    // The room one is in, entered again (a GUI's button
                    // pressed twice): the success the app waits for.
                    st.enter_pending = None;
                    self.notify(WM_GV_ENTERROOM, room_id, 0);
                    self.notify(WM_GV_ONLINEUSER, st.room_users.len() as u32, room_id);
                } else {
                    st.enter_pending = None;
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
                    st.enter_pending = None;
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
            ServerMsg::QueryResult { id, code, output } => {
                // Only the queries an API call waits for (see `Client::query_server`).
                if let Some(slot) = st.queries.get_mut(&id) {
                    *slot = Some((code, output));
                }
            }
            ServerMsg::AudioCodec { pcm } => {
                tracing::debug!(pcm, "the server asks for {} audio", if pcm { "PCM" } else { "Opus" });
                st.audio_pcm = pcm;
            }
            ServerMsg::Media { from, header, data } => self.on_media(now, st, from, header, data),
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
    /// go to the app as they are; H.264 and Opus go to the driver to decode
    /// first.
    fn on_media(&mut self, now: Instant, st: &mut State, from: u32, header: MediaHeader, data: Vec<u8>) {
        let info = st.streams.entry(from).or_default();
        let meter = if header.kind == MEDIA_AUDIO { &mut info.audio_meter } else { &mut info.video_meter };
        meter.add(now, data.len());
        if header.kind == MEDIA_AUDIO {
            if header.codec == CODEC_OPUS {
                self.out.push_back(Output::Decode { from, header, data });
            } else {
                self.audio(now, st, from, header, data);
            }
        } else if header.codec == CODEC_H264 {
            self.out.push_back(Output::Decode { from, header, data });
        } else {
            self.video(st, from, header, (header.a, header.b), data, None);
        }
    }

    /// The 16-bit PCM an [`Output::Decode`] of `from`'s Opus audio gave.
    pub fn on_audio_decoded(&mut self, now: Instant, st: &mut State, from: u32, header: MediaHeader, pcm: Vec<u8>) {
        self.audio(now, st, from, header, pcm);
    }

    /// An audio frame of `from`: its stream info and speech level kept, the
    /// frame delivered (Opus as the PCM it decoded to, codec 0).
    fn audio(&mut self, now: Instant, st: &mut State, from: u32, header: MediaHeader, data: Vec<u8>) {
        let info = st.streams.entry(from).or_default();
        info.channels = header.b >> 16;
        info.rate = header.a;
        info.audio_codec = header.codec;
        let pcm = header.codec == CODEC_PCM || header.codec == CODEC_OPUS;
        if pcm && header.b & 0xFFFF == 16 {
            st.levels.insert(from, Level { value: super::state::pcm_level(&data), at: now });
        }
        self.deliver(Event::Audio {
            from,
            channels: (header.b >> 16) as u16,
            rate: header.a,
            bits: (header.b & 0xFFFF) as u16,
            codec: if pcm { CODEC_PCM } else { header.codec },
            timestamp: header.timestamp,
            data,
        });
    }

    /// The picture (`w` × `h`, I420) an [`Output::Decode`] of `from` gave.
    pub fn on_decoded(&mut self, st: &mut State, from: u32, header: MediaHeader, w: u32, h: u32, i420: Vec<u8>) {
        self.video(st, from, header, (w, h), i420, Some(BRAC_PIX_FMT_YUV420P));
    }

    /// One's own frame (self-view): shown while logged in with the camera
    /// open, without a round trip to the server.
    fn own_video(&mut self, st: &mut State, v: OwnVideo) {
        if !st.logged_in || self.releasing.is_some() || st.may_send(true) != Ok(true) {
            return;
        }
        let Some(me) = st.self_id else { return };
        let header =
            MediaHeader { kind: MEDIA_VIDEO, key: false, codec: v.codec, timestamp: v.timestamp, a: v.w, b: v.h };
        match v.pix_fmt {
            Some(fmt) => self.video(st, me, header, (v.w, v.h), v.data, Some(fmt)),
            None if v.codec == CODEC_H264 => self.out.push_back(Output::Decode { from: me, header, data: v.data }),
            None => self.video(st, me, header, (v.w, v.h), v.data, None),
        }
    }

    fn video(
        &mut self,
        st: &mut State,
        from: u32,
        header: MediaHeader,
        size: (u32, u32),
        data: Vec<u8>,
        picture: Option<u32>,
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
        let (decoded, pix_fmt) = (picture.is_some(), picture.unwrap_or(0));
        self.deliver(Event::Video { from, w, h, codec, timestamp, data, decoded, pix_fmt });
    }
}
