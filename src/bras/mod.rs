//! The business-server library's engine (`BRAS_*`): one network thread.
//!
//! The thread connects to the core server's business listener (address from
//! `ANYCHAT_CORE_ADDR`, default `127.0.0.1:8907`, `tls://host:port` for TLS;
//! secret from `ANYCHAT_BUSINESS_SECRET`; TLS settings from the
//! `ANYCHAT_TLS*` variables, see [`crate::net::link::TlsEnv`]), reconnects on its own with a doubling backoff
//! (100 ms up to 5 s) whenever the link drops, fires the app's timer, and
//! hands every [`BizEvent`] to the sink. Questions (a call Request, a login,
//! entering a room) are answered with what the sink returns. The sink runs on
//! this thread, one event at a time, in order, with no library lock held, so
//! an app callback may call any `BRAS_` function.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Poll, Token};
use parking_lot::Mutex;

use crate::net::link::{host_of, strip_tls_scheme, Link, LinkError, NetThread, TlsEnv};
use crate::wire::constants::*;
use crate::wire::protocol::{CallEvent, ClientMsg, Role, ServerMsg, MAX_BLOB_LEN, PROTOCOL_VERSION};

const WAKER: Token = Token(0);
const SOCKET: Token = Token(1);
/// Default address of the core server's business listener.
pub const DEFAULT_CORE_ADDR: &str = "127.0.0.1:8907";
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the network thread hands to the app.
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

/// The sink's answer to an event.
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

/// Receives events on the network thread.
pub type BizSink = Box<dyn Fn(BizEvent) -> Answer + Send + 'static>;

/// Where to connect, with which secret, and the TLS settings.
#[derive(Debug, Clone)]
pub struct BizConfig {
    /// `host:port`, or `tls://host:port` for TLS.
    pub core_addr: String,
    pub secret: Vec<u8>,
    /// The `ANYCHAT_TLS*` settings (files are read at each connect
    /// attempt), or why they are wrong (then every attempt fails).
    pub tls: Result<TlsEnv, crate::net::tls::TlsError>,
}

impl BizConfig {
    /// From `ANYCHAT_CORE_ADDR`, `ANYCHAT_BUSINESS_SECRET` and the
    /// `ANYCHAT_TLS*` variables, read once (on the thread of `BRAS_InitSDK`).
    /// Without a secret in the environment, the one a core server on this
    /// machine generated in its state folder (see [`crate::net::secret`]).
    pub fn from_env() -> BizConfig {
        let secret = std::env::var_os("ANYCHAT_BUSINESS_SECRET")
            .map(std::os::unix::ffi::OsStringExt::into_vec)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                let dir = crate::net::secret::default_state_dir()?;
                crate::net::secret::read_secret(&dir).unwrap_or_else(|e| {
                    tracing::warn!("cannot read the generated business secret: {e}");
                    None
                })
            })
            .unwrap_or_default();
        BizConfig {
            core_addr: std::env::var("ANYCHAT_CORE_ADDR").unwrap_or_else(|_| DEFAULT_CORE_ADDR.to_string()),
            secret,
            tls: TlsEnv::from_env(),
        }
    }
}

#[derive(Debug)]
enum Command {
    Send(ClientMsg),
    Timer(Option<Duration>),
    Shutdown,
}

/// What the library knows, for the synchronous checks of the API.
#[derive(Debug, Default)]
pub struct BizState {
    pub linked: bool,
    /// Users in a call (vetting, ringing or in progress) → their peer.
    pub in_call: HashMap<u32, u32>,
    /// `BRAS_SetUserInfo` values, by (user, info id).
    pub user_infos: HashMap<(u32, u32), Vec<u8>>,
    /// Name and level of the users logged in, from the login notices.
    pub users: HashMap<u32, (Vec<u8>, u32)>,
}

/// The handle API threads use.
pub struct Business {
    state: Arc<Mutex<BizState>>,
    net: NetThread<Command>,
}

/// `GV_ERR_*` code returned by API methods.
pub type Code = u32;

impl Business {
    /// Starts the network thread, which connects at once.
    pub fn start(config: BizConfig, sink: BizSink) -> io::Result<Business> {
        let state = Arc::new(Mutex::new(BizState::default()));
        let shared = state.clone();
        let net = NetThread::spawn("anychat-bras", Poll::new()?, WAKER, move |poll, rx, _mailbox, stopped| {
            let mut net = BizNet {
                poll,
                rx,
                config,
                state: shared,
                sink,
                stopped,
                link: None,
                retry_at: Some(Instant::now()),
                backoff: BACKOFF_MIN,
                token: 0,
                timer: None,
                inbox: Vec::new(),
            };
            net.run()
        })?;
        Ok(Business { state, net })
    }

    fn command(&self, cmd: Command) {
        self.net.command(cmd);
    }

    pub fn with_state<R>(&self, f: impl FnOnce(&BizState) -> R) -> R {
        f(&self.state.lock())
    }

    /// `BRAS_SetTimerEventCallBack`: fire every `interval` (None: stop).
    pub fn set_timer(&self, interval: Option<Duration>) {
        self.command(Command::Timer(interval));
    }

    fn send_linked(&self, msg: ClientMsg) -> Code {
        if !self.state.lock().linked {
            return GV_ERR_CONNECT_ABORT;
        }
        self.command(Command::Send(msg));
        0
    }

    /// `BRAS_VideoCallControl`: only FINISH, for a user in a call.
    pub fn video_call(
        &self,
        event: u32,
        user_id: u32,
        error_code: u32,
        flags: u32,
        param: u32,
        user_str: &[u8],
    ) -> Code {
        match event {
            BRAS_VIDEOCALL_EVENT_FINISH => {}
            BRAS_VIDEOCALL_EVENT_REQUEST | BRAS_VIDEOCALL_EVENT_REPLY | BRAS_VIDEOCALL_EVENT_START => {
                return GV_ERR_FUNCNOTALLOW
            }
            _ => return GV_ERR_FUNCOPTERROR,
        }
        if !self.state.lock().in_call.contains_key(&user_id) {
            return GV_ERR_FUNCNOTALLOW;
        }
        let ev = CallEvent { event, user_id, error_code, flags, param, user_str: user_str.to_vec() };
        self.send_linked(ClientMsg::BizVideoCall(ev))
    }

    /// `BRAS_UserInfoControl`: KICKOUT only.
    pub fn user_control(&self, user_id: u32, ctrl: u32, wparam: u32, lparam: u32, text: &[u8]) -> Code {
        if ctrl != BRAS_USERINFO_CTRLCODE_KICKOUT {
            return GV_ERR_FUNCNOTALLOW;
        }
        self.send_linked(ClientMsg::BizUserControl { user_id, ctrl, wparam, lparam, text: text.to_vec() })
    }

    /// `BRAS_SendBufToUser`.
    pub fn send_buf(&self, target: u32, data: &[u8], to_room: bool, trans: bool) -> Code {
        if data.is_empty() || data.len() > MAX_BLOB_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        let data = data.to_vec();
        self.send_linked(match (to_room, trans) {
            (true, _) => ClientMsg::BizSendRoom { room_id: target, data },
            (false, true) => ClientMsg::BizTransBuffer { user_id: target, data },
            (false, false) => ClientMsg::BizSendBuf { user_id: target, data },
        })
    }

    /// `BRAS_SetUserInfo`: kept here for `BRAS_GetUserInfo` and sent to the
    /// user (`WM_GV_USERINFOUPDATE(user, info id)`) if the link is up.
    pub fn set_user_info(&self, user_id: u32, info_id: u32, value: &[u8]) -> Code {
        let linked = {
            let mut st = self.state.lock();
            st.user_infos.insert((user_id, info_id), value.to_vec());
            st.linked
        };
        if linked {
            self.command(Command::Send(ClientMsg::BizSetUserInfo { user_id, info_id, value: value.to_vec() }));
        }
        0
    }

    /// `BRAS_Release`: closes the link and joins the thread (unless called
    /// from a callback on that thread).
    pub fn shutdown(&self) {
        self.net.stop(Command::Shutdown);
    }
}

impl Drop for Business {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct BizNet {
    poll: Poll,
    rx: Receiver<Command>,
    config: BizConfig,
    state: Arc<Mutex<BizState>>,
    sink: BizSink,
    stopped: Arc<AtomicBool>,
    link: Option<Link>,
    /// When to try connecting again (None while a link exists).
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The last link's token (see `ClientMsg::Hello`).
    token: u64,
    timer: Option<(Duration, Instant)>,
    inbox: Vec<ServerMsg>,
}

impl BizNet {
    fn run(&mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            let now = Instant::now();
            let deadline = [self.link.as_ref().map(|l| l.next_deadline()), self.retry_at, self.timer.map(|t| t.1)]
                .into_iter()
                .flatten()
                .min();
            let timeout = deadline.map(|d| d.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!("business poll failed: {e}");
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
                        if let Some(link) = self.link.take() {
                            link.close(self.poll.registry());
                        }
                        return;
                    }
                    Command::Send(msg) => {
                        if let Some(link) = self.link.as_mut().filter(|l| l.is_ready()) {
                            link.send(&msg);
                        }
                    }
                    Command::Timer(interval) => self.timer = interval.map(|i| (i, Instant::now() + i)),
                }
            }
            let now = Instant::now();
            if self.retry_at.is_some_and(|t| now >= t) {
                self.connect();
            }
            if let Some((every, at)) = self.timer {
                if now >= at {
                    self.timer = Some((every, now + every));
                    self.emit(BizEvent::Timer);
                }
            }
            if let Some(link) = self.link.as_mut() {
                if let Err(e) = link.poll_timers(now) {
                    self.link_down(e);
                }
            }
            if let Some(link) = self.link.as_mut() {
                if let Err(e) = link.flush(self.poll.registry()) {
                    self.link_down(e);
                }
            }
        }
    }

    fn connect(&mut self) {
        self.retry_at = None;
        let (addr, tls_scheme) = strip_tls_scheme(&self.config.core_addr);
        // Files are read at every attempt, so that renewed ones are used.
        let tls = match self.config.tls.clone().and_then(|env| env.for_host(host_of(addr), tls_scheme)) {
            Ok(tls) => tls,
            Err(e) => {
                tracing::warn!(addr = %self.config.core_addr, "cannot set up TLS to the core server: {e}");
                self.link_down(LinkError::ConnectFailed);
                return;
            }
        };
        let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                tracing::warn!(addr = %self.config.core_addr, "core server address does not resolve: {e}");
                Vec::new()
            }
        };
        // The token of the last link takes the slot back while the core
        // server holds it for us.
        let hello = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            role: Role::Business as u8,
            secret: self.config.secret.clone(),
            token: self.token,
        };
        match Link::connect(self.poll.registry(), SOCKET, addrs, &hello, CONNECT_TIMEOUT, tls) {
            Ok(link) => self.link = Some(link),
            Err(e) => self.link_down(e),
        }
    }

    fn link_down(&mut self, why: LinkError) {
        let was_up = self.link.as_ref().is_some_and(|l| l.is_ready());
        let tls_failed = matches!(why, LinkError::Tls(_));
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        let mut st = self.state.lock();
        st.linked = false;
        st.in_call.clear();
        drop(st);
        if was_up {
            tracing::warn!("link to the core server lost: {why}; reconnecting");
            self.emit(BizEvent::LinkDown { code: GV_ERR_CONNECT_ABORT });
        } else if tls_failed {
            tracing::warn!(addr = %self.config.core_addr, "cannot link to the core server over TLS: {why}");
        } else {
            tracing::debug!("cannot reach the core server: {why}");
        }
    }

    fn emit(&mut self, ev: BizEvent) -> Answer {
        if self.stopped.load(Ordering::SeqCst) {
            return Answer::None;
        }
        (self.sink)(ev)
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
    }

    fn reply(&mut self, msg: ClientMsg) {
        if let Some(link) = self.link.as_mut() {
            link.send(&msg);
        }
    }

    fn on_message(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { keepalive_ms, token, .. } => {
                self.token = token;
                if let Some(link) = self.link.as_mut() {
                    link.set_ready(Duration::from_millis(keepalive_ms as u64));
                }
                self.backoff = BACKOFF_MIN;
                self.state.lock().linked = true;
                tracing::info!(addr = %self.config.core_addr, "linked to the core server");
                self.emit(BizEvent::LinkUp);
            }
            ServerMsg::Refused { code } => {
                tracing::warn!(code, "the core server refused this business server");
                self.link_down(LinkError::Closed);
            }
            ServerMsg::BizAskCall { query, src, tar, flags, param, user_str } => {
                {
                    let mut st = self.state.lock();
                    st.in_call.insert(src, tar);
                    st.in_call.insert(tar, src);
                }
                let code = match self.emit(BizEvent::AskCall { src, tar, flags, param, user_str }) {
                    Answer::Code(c) => c,
                    _ => 0,
                };
                if code != 0 {
                    let mut st = self.state.lock();
                    st.in_call.remove(&src);
                    st.in_call.remove(&tar);
                }
                self.reply(ClientMsg::BizCallVerdict { query, code });
            }
            ServerMsg::BizCallNote { event, src, tar, error_code, flags, param, user_str } => {
                let ended =
                    event == BRAS_VIDEOCALL_EVENT_FINISH || (event == BRAS_VIDEOCALL_EVENT_REPLY && error_code != 0);
                if ended {
                    let mut st = self.state.lock();
                    // `src` is 0 when the core server ended the call: the
                    // peer of `tar` goes too.
                    for u in [src, tar] {
                        if let Some(peer) = st.in_call.remove(&u) {
                            st.in_call.remove(&peer);
                        }
                    }
                }
                self.emit(BizEvent::CallNote { event, src, tar, error_code, flags, param, user_str });
            }
            ServerMsg::BizAskVerify { query, name, password, ip, user_id } => {
                let (code, user_id, level, nick) = match self.emit(BizEvent::AskVerify { name, password, ip, user_id })
                {
                    Answer::Verify { code, user_id, level, nick } => (code, user_id, level, nick),
                    _ => (0, 0, 0, Vec::new()),
                };
                self.reply(ClientMsg::BizVerifyResult { query, code, user_id, level, nick });
            }
            ServerMsg::BizAskEnter { query, user_id, room_id, room_name, password } => {
                let code = match self.emit(BizEvent::AskEnter { user_id, room_id, room_name, password }) {
                    Answer::Code(c) => c,
                    _ => 0,
                };
                self.reply(ClientMsg::BizEnterVerdict { query, code });
            }
            ServerMsg::BizUserLogin { user_id, name, level, ip } => {
                self.state.lock().users.insert(user_id, (name.clone(), level));
                self.emit(BizEvent::UserLogin { user_id, name, level, ip });
            }
            ServerMsg::BizUserLogout { user_id, code } => {
                self.state.lock().users.remove(&user_id);
                self.emit(BizEvent::UserLogout { user_id, code });
            }
            ServerMsg::BizUserRoom { user_id, room_id, entered } => {
                self.emit(BizEvent::UserRoom { user_id, room_id, entered });
            }
            ServerMsg::BizText { room_id, src, tar, secret, text } => {
                self.emit(BizEvent::Text { room_id, src, tar, secret, text });
            }
            ServerMsg::BizTransBuffer { user_id, data } => {
                self.emit(BizEvent::TransBuffer { user_id, data });
            }
            ServerMsg::Pong { .. } => {}
            other => tracing::debug!(?other, "ignored: not a business-server message"),
        }
    }
}
