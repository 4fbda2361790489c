//! The business-server library's engine, sans I/O: the link to the core
//! server (connect, handshake, keep-alive, reconnect with a doubling
//! backoff), the questions the core server puts and their answers, the
//! notes it sends, the set of users in a call, and the app's timer.
//!
//! [`Engine`] holds no socket, thread, clock, lock or channel. Its driver
//! (the `anychat-bras` thread, [`super::runtime`]) feeds it
//!
//! - [`Engine::on_command`] — what the API threads asked (a message, the
//!   timer, release);
//! - [`Engine::on_link_up`], [`Engine::on_received`],
//!   [`Engine::on_message`], [`Engine::on_link_lost`] — what the link did;
//! - [`Engine::on_answer`] — the app's answer to an [`Output::Ask`];
//! - [`Engine::on_timeout`] — when [`Engine::next_deadline`] has passed;
//! - [`Engine::on_internal_error`] — a panic caught on the thread;
//!
//! each with `now` and the shared [`BizState`], and drains
//! [`Engine::poll_output`]: links to open and close, messages to send,
//! events for the app and questions to ask it. An answer goes back only on
//! the link its question came on: after a reconnect the core server asks
//! again.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::constants::*;
pub use crate::wire::keepalive::LinkLoss;
use crate::wire::keepalive::{Expired, LinkClock};
use crate::wire::protocol::{ClientMsg, Role, ServerMsg, PROTOCOL_VERSION};

/// First wait before connecting again after a failure; it doubles with
/// each failure up to [`BACKOFF_MAX`], and starts over once linked.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a connect may take, to the core server's `Welcome`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the library hands to the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BizEvent {
    /// The link to the core server is up.
    LinkUp,
    /// The link went down (`code`: why, a `GV_ERR_*`).
    LinkDown {
        code: u32,
    },
    /// The app's timer fired.
    Timer,
    /// A call Request; the answer is a [`Answer::Code`] (0 = proceed).
    AskCall {
        src: u32,
        tar: u32,
        flags: u32,
        param: u32,
        user_str: Vec<u8>,
    },
    /// A call event to watch: REPLY, START, FINISH.
    CallNote {
        event: u32,
        src: u32,
        tar: u32,
        error_code: u32,
        flags: u32,
        param: u32,
        user_str: Vec<u8>,
    },
    /// A login; the answer is an [`Answer::Verify`].
    AskVerify {
        name: Vec<u8>,
        password: Vec<u8>,
        ip: Vec<u8>,
        /// The id a `BRAC_LoginEx` claims (0: none). Granted only if the
        /// answer gives it back.
        user_id: u32,
    },
    /// Entering an ordinary room; the answer is an [`Answer::Code`] (0 = admit).
    AskEnter {
        user_id: u32,
        room_id: u32,
        room_name: Vec<u8>,
        password: Vec<u8>,
    },
    UserLogin {
        user_id: u32,
        name: Vec<u8>,
        level: u32,
        ip: Vec<u8>,
    },
    UserLogout {
        user_id: u32,
        code: u32,
    },
    UserRoom {
        user_id: u32,
        room_id: u32,
        entered: bool,
    },
    /// A text message between users of a room (`tar` 0: the whole room).
    Text {
        room_id: u32,
        src: u32,
        tar: u32,
        secret: bool,
        text: Vec<u8>,
    },
    /// Bytes a user sent to the business server (`BRAC_TransBuffer` to user 0).
    TransBuffer {
        user_id: u32,
        data: Vec<u8>,
    },
}

/// The app's answer to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Not a question.
    None,
    /// An error code (0 = yes).
    Code(u32),
    /// A login decision: `code` 0 admits the user with this id (0 = let the
    /// core server assign one), level and nick name.
    Verify { code: u32, user_id: u32, level: u32, nick: Vec<u8> },
}

/// What the library knows, for the synchronous checks of the API.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BizState {
    pub linked: bool,
    /// Users in a call (vetting, ringing or in progress) → their peer.
    pub in_call: HashMap<u32, u32>,
    /// `BRAS_SetUserInfo` values, by (user, info id).
    pub user_infos: HashMap<(u32, u32), Vec<u8>>,
    /// Name and level of the users logged in, from the login notices.
    pub users: HashMap<u32, (Vec<u8>, u32)>,
}

/// What the API threads ask of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A message for the core server, sent if the link is up.
    Send(ClientMsg),
    /// `BRAS_SetTimerEventCallBack`: fire every interval (None: stop).
    Timer(Option<Duration>),
    /// `BRAS_Release`: close the link; the engine is finished.
    Shutdown,
}

/// What the engine asks its driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a link to the core server's business listener (the driver
    /// knows the address and the TLS settings); `hello` is its first message.
    Connect { hello: ClientMsg },
    /// Queue a message on the link.
    Send(ClientMsg),
    /// Close the link; nothing more of it is reported.
    Close,
    /// Hand this event to the app.
    Deliver(BizEvent),
    /// Put this question to the app and give its answer to
    /// [`Engine::on_answer`] with `id`.
    Ask { id: u64, event: BizEvent },
}

/// A question put to the app, waiting for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    Call { query: u32, src: u32, tar: u32 },
    Verify { query: u32 },
    Enter { query: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// No link: the next attempt at `retry_at`.
    Waiting { retry_at: Instant },
    /// A link exists (its driver holds the socket); `up`: the transport connected.
    Linked { clock: LinkClock, up: bool },
    /// Released.
    Stopped,
}

/// The business-server library's engine (see the module's documentation).
#[derive(Debug)]
pub struct Engine {
    secret: Vec<u8>,
    phase: Phase,
    backoff: Duration,
    /// The last link's token (see `ClientMsg::Hello`): it takes the slot
    /// back while the core server holds it for this business server.
    token: u64,
    /// The app's timer: its interval and next firing.
    timer: Option<(Duration, Instant)>,
    /// Questions put to the app on the current link, by id.
    questions: HashMap<u64, Question>,
    next_question: u64,
    out: VecDeque<Output>,
}

impl Engine {
    /// An engine that connects at `now` with `secret`.
    pub fn new(now: Instant, secret: Vec<u8>) -> Engine {
        Engine {
            secret,
            phase: Phase::Waiting { retry_at: now },
            backoff: BACKOFF_MIN,
            token: 0,
            timer: None,
            questions: HashMap::new(),
            next_question: 0,
            out: VecDeque::new(),
        }
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Engine::on_timeout`] should be called next (it may be early).
    pub fn next_deadline(&self) -> Option<Instant> {
        let link = match &self.phase {
            Phase::Waiting { retry_at } => Some(*retry_at),
            Phase::Linked { clock, .. } => Some(clock.next_deadline()),
            Phase::Stopped => return None,
        };
        [link, self.timer.map(|t| t.1)].into_iter().flatten().min()
    }

    /// Released: the driver ends.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Stopped
    }

    /// Whether the link completed its handshake.
    pub fn is_ready(&self) -> bool {
        matches!(&self.phase, Phase::Linked { clock, .. } if clock.is_ready())
    }

    /// The wait before the next connect attempt after a failure.
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// An API thread's command.
    pub fn on_command(&mut self, now: Instant, _st: &mut BizState, cmd: Command) {
        match cmd {
            Command::Send(msg) => {
                if self.is_ready() {
                    self.out.push_back(Output::Send(msg));
                }
            }
            Command::Timer(interval) => self.timer = interval.map(|i| (i, now + i)),
            Command::Shutdown => {
                if matches!(self.phase, Phase::Linked { .. }) {
                    self.out.push_back(Output::Close);
                }
                self.phase = Phase::Stopped;
            }
        }
    }

    /// Time passed: a connect attempt due, the app's timer, the link's
    /// connect time-out and keep-alive.
    pub fn on_timeout(&mut self, now: Instant, st: &mut BizState) {
        if let Phase::Waiting { retry_at } = self.phase {
            if now >= retry_at {
                self.connect(now);
            }
        }
        if let Some((every, at)) = self.timer {
            if now >= at && self.phase != Phase::Stopped {
                self.timer = Some((every, now + every));
                self.out.push_back(Output::Deliver(BizEvent::Timer));
            }
        }
        if let Phase::Linked { clock, .. } = &mut self.phase {
            match clock.poll(now) {
                Ok(Some(ping)) => self.out.push_back(Output::Send(ping)),
                Ok(None) => {}
                Err(e @ (Expired::ConnectTimeout | Expired::Silent)) => {
                    self.out.push_back(Output::Close);
                    self.link_down(now, st, &e.to_string(), false);
                }
            }
        }
    }

    fn connect(&mut self, now: Instant) {
        self.phase = Phase::Linked { clock: LinkClock::connecting(now, CONNECT_TIMEOUT), up: false };
        let hello = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            role: Role::Business as u8,
            secret: self.secret.clone(),
            token: self.token,
        };
        self.out.push_back(Output::Connect { hello });
    }

    /// The link's transport connected (the `Hello` is on its way).
    pub fn on_link_up(&mut self, _now: Instant) {
        if let Phase::Linked { up, .. } = &mut self.phase {
            *up = true;
        }
    }

    /// Bytes came in on the link: the core server is not silent.
    pub fn on_received(&mut self, now: Instant) {
        if let Phase::Linked { clock, .. } = &mut self.phase {
            clock.received(now);
        }
    }

    /// The link (or the attempt) ended without the engine's asking (the
    /// driver has dropped it): another attempt after the backoff.
    pub fn on_link_lost(&mut self, now: Instant, st: &mut BizState, why: LinkLoss) {
        if !matches!(self.phase, Phase::Linked { .. }) {
            return;
        }
        let tls = matches!(why, LinkLoss::Tls(_));
        self.link_down(now, st, &why.to_string(), tls);
    }

    /// A panic was caught on the library's thread (`what` says where): the
    /// link closes and the app hears of it through its link-down callback,
    /// as for a lost link; the library connects again after the backoff.
    /// Outputs not yet carried out are dropped.
    pub fn on_internal_error(&mut self, now: Instant, st: &mut BizState, what: &str) {
        tracing::error!("{what}: the link to the core server is closed and reported lost");
        self.out.clear();
        if matches!(self.phase, Phase::Linked { .. }) {
            self.out.push_back(Output::Close);
            self.link_down(now, st, what, false);
        } else {
            // No link: the state is reset all the same.
            st.linked = false;
            st.in_call.clear();
            self.questions.clear();
        }
    }

    /// The link is gone (closed by whoever saw it go): the state, the
    /// questions asked on it, the next attempt, and the app told if it was up.
    fn link_down(&mut self, now: Instant, st: &mut BizState, why: &str, tls: bool) {
        let was_up = self.is_ready();
        self.phase = Phase::Waiting { retry_at: now + self.backoff };
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.questions.clear();
        st.linked = false;
        st.in_call.clear();
        if was_up {
            tracing::warn!("link to the core server lost: {why}; reconnecting");
            self.out.push_back(Output::Deliver(BizEvent::LinkDown { code: GV_ERR_CONNECT_ABORT }));
        } else if tls {
            tracing::warn!("cannot link to the core server over TLS: {why}");
        } else {
            tracing::debug!("cannot reach the core server: {why}");
        }
    }

    fn ask(&mut self, question: Question, event: BizEvent) {
        self.next_question += 1;
        let id = self.next_question;
        self.questions.insert(id, question);
        self.out.push_back(Output::Ask { id, event });
    }

    fn reply(&mut self, msg: ClientMsg) {
        if matches!(self.phase, Phase::Linked { .. }) {
            self.out.push_back(Output::Send(msg));
        }
    }

    /// The app's answer to question `id`; dropped if the link it came on is
    /// gone (the core server asks again on the next one).
    pub fn on_answer(&mut self, _now: Instant, st: &mut BizState, id: u64, answer: Answer) {
        let Some(question) = self.questions.remove(&id) else { return };
        match question {
            Question::Call { query, src, tar } => {
                let code = match answer {
                    Answer::Code(c) => c,
                    _ => 0,
                };
                if code != 0 {
                    st.in_call.remove(&src);
                    st.in_call.remove(&tar);
                }
                self.reply(ClientMsg::BizCallVerdict { query, code });
            }
            Question::Verify { query } => {
                let (code, user_id, level, nick) = match answer {
                    Answer::Verify { code, user_id, level, nick } => (code, user_id, level, nick),
                    _ => (0, 0, 0, Vec::new()),
                };
                self.reply(ClientMsg::BizVerifyResult { query, code, user_id, level, nick });
            }
            Question::Enter { query } => {
                let code = match answer {
                    Answer::Code(c) => c,
                    _ => 0,
                };
                self.reply(ClientMsg::BizEnterVerdict { query, code });
            }
        }
    }

    /// A message from the core server.
    pub fn on_message(&mut self, now: Instant, st: &mut BizState, msg: ServerMsg) {
        let Phase::Linked { clock, .. } = &mut self.phase else { return };
        clock.received(now);
        let deliver = |out: &mut VecDeque<Output>, ev| out.push_back(Output::Deliver(ev));
        match msg {
            ServerMsg::Welcome { keepalive_ms, token, .. } => {
                if clock.is_ready() {
                    tracing::debug!("a second Welcome ignored");
                    return;
                }
                clock.ready(now, Duration::from_millis(keepalive_ms as u64));
                self.token = token;
                self.backoff = BACKOFF_MIN;
                st.linked = true;
                tracing::info!("linked to the core server");
                deliver(&mut self.out, BizEvent::LinkUp);
            }
            ServerMsg::Refused { code } => {
                tracing::warn!(code, "the core server refused this business server");
                self.out.push_back(Output::Close);
                self.link_down(now, st, &format!("refused ({code})"), false);
            }
            ServerMsg::BizAskCall { query, src, tar, flags, param, user_str } => {
                st.in_call.insert(src, tar);
                st.in_call.insert(tar, src);
                self.ask(Question::Call { query, src, tar }, BizEvent::AskCall { src, tar, flags, param, user_str });
            }
            ServerMsg::BizCallNote { event, src, tar, error_code, flags, param, user_str } => {
                let ended =
                    event == BRAS_VIDEOCALL_EVENT_FINISH || (event == BRAS_VIDEOCALL_EVENT_REPLY && error_code != 0);
                if ended {
                    // `src` is 0 when the core server ended the call: the
                    // peer of `tar` goes too.
                    for u in [src, tar] {
                        if let Some(peer) = st.in_call.remove(&u) {
                            st.in_call.remove(&peer);
                        }
                    }
                }
                deliver(&mut self.out, BizEvent::CallNote { event, src, tar, error_code, flags, param, user_str });
            }
            ServerMsg::BizAskVerify { query, name, password, ip, user_id } => {
                self.ask(Question::Verify { query }, BizEvent::AskVerify { name, password, ip, user_id });
            }
            ServerMsg::BizAskEnter { query, user_id, room_id, room_name, password } => {
                self.ask(Question::Enter { query }, BizEvent::AskEnter { user_id, room_id, room_name, password });
            }
            ServerMsg::BizUserLogin { user_id, name, level, ip } => {
                st.users.insert(user_id, (name.clone(), level));
                deliver(&mut self.out, BizEvent::UserLogin { user_id, name, level, ip });
            }
            ServerMsg::BizUserLogout { user_id, code } => {
                st.users.remove(&user_id);
                deliver(&mut self.out, BizEvent::UserLogout { user_id, code });
            }
            ServerMsg::BizUserRoom { user_id, room_id, entered } => {
                deliver(&mut self.out, BizEvent::UserRoom { user_id, room_id, entered });
            }
            ServerMsg::BizText { room_id, src, tar, secret, text } => {
                deliver(&mut self.out, BizEvent::Text { room_id, src, tar, secret, text });
            }
            ServerMsg::BizTransBuffer { user_id, data } => {
                deliver(&mut self.out, BizEvent::TransBuffer { user_id, data });
            }
            ServerMsg::Pong { .. } => {}
            other => tracing::debug!(?other, "ignored: not a business-server message"),
        }
    }
}
