//! The core server's logic, sans I/O: users, sessions, calls and rooms.
//!
//! [`Core`] is a state machine. The event loop feeds it what happened —
//! [`Core::on_connect`], [`Core::on_message`], [`Core::on_closed`],
//! [`Core::on_timeout`] — each with the current time, and then drains
//! [`Core::poll_output`] for the messages to send and the connections to
//! close, and asks [`Core::next_deadline`] when to call `on_timeout` next.
//! Nothing in here reads a clock, touches a socket or spawns a thread, so the
//! whole video-call contract is tested in simulated time (see the tests below).
//!
//! Conventions the contract leaves open, chosen here (see `docs/ARCHITECTURE.md`):
//! - events the server makes on its own (ringing confirmation, offline, busy,
//!   time-out, lost connection) carry `dwParam = 0` and an empty `lpUserStr`;
//!   events a party caused carry that party's `dwParam` and `lpUserStr`.
//! - a caller's Reply with a non-zero code cancels a ringing call; the callee
//!   receives `REPLY(100101)` whatever the code.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::constants::*;
use crate::protocol::{CallEvent, ClientMsg, RoomUser, ServerMsg, PROTOCOL_VERSION};

/// Identifies one transport connection for the lifetime of the process.
/// The event loop must never reuse an id for another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Timings of the core server.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// How long a call may ring before both parties get `REPLY(100105)`.
    pub ring_timeout: Duration,
    /// A connection silent for this long is treated as lost.
    pub keepalive_timeout: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig { ring_timeout: Duration::from_secs(60), keepalive_timeout: Duration::from_secs(15) }
    }
}

/// Why the core asks the event loop to close a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client said `Logout`.
    Logout,
    /// Nothing received within the keep-alive time.
    KeepaliveTimeout,
    /// The same user logged in on another connection.
    LoggedInElsewhere,
    /// The handshake failed (bad version or role).
    Handshake,
    /// The peer broke the protocol (message before `Hello`, second `Hello`).
    ProtocolViolation(&'static str),
}

/// What the core asks the event loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a message on a connection.
    Send(ConnId, ServerMsg),
    /// Flush what was queued for the connection, then close it. The core has
    /// already forgotten the connection; `on_closed` for it is a no-op.
    Close(ConnId, CloseReason),
}

/// Room ids the server allocates for calls start here; ids in use are skipped.
pub const CALL_ROOM_BASE: u32 = 0x7000_0000;
/// Room ids the server allocates for named rooms (`BRAC_EnterRoomEx`).
pub const NAMED_ROOM_BASE: u32 = 0x6000_0000;
/// `BRAC_LeaveRoom(-1)`: whatever room the user is in.
pub const ANY_ROOM: u32 = u32::MAX;

#[derive(Debug, PartialEq, Eq)]
enum ConnState {
    AwaitHello,
    Ready,
    LoggedIn(u32),
}

#[derive(Debug)]
struct Conn {
    state: ConnState,
    last_rx: Instant,
}

#[derive(Debug)]
struct User {
    name: Vec<u8>,
    conn: ConnId,
    room: Option<u32>,
    call: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Ringing { deadline: Instant },
    Active { room: u32 },
}

#[derive(Debug)]
struct Call {
    caller: u32,
    callee: u32,
    flags: u32,
    state: CallState,
}

impl Call {
    fn peer_of(&self, user: u32) -> u32 {
        if user == self.caller {
            self.callee
        } else {
            self.caller
        }
    }
}

#[derive(Debug, Default)]
struct Room {
    members: Vec<u32>,
    /// The call this room belongs to: only its two parties may enter.
    call: Option<u64>,
    /// The name it was entered by (`BRAC_EnterRoomEx`), if any.
    name: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Keepalive(ConnId),
    Ring(u64),
}

/// How a user's session ends, which decides what its call peer receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Departure {
    /// Logout or release: as if the user had sent Finish / cancelled / refused.
    Logout,
    /// Closed socket, silent peer, replaced by a newer login: `100106`.
    Lost,
}

/// The core server's state machine. See the module documentation.
#[derive(Debug)]
pub struct Core {
    config: CoreConfig,
    conns: HashMap<ConnId, Conn>,
    users: HashMap<u32, User>,
    ids_by_name: HashMap<Vec<u8>, u32>,
    next_user_id: u32,
    calls: HashMap<u64, Call>,
    next_call_id: u64,
    rooms: HashMap<u32, Room>,
    named_rooms: HashMap<Vec<u8>, u32>,
    next_call_room: u32,
    next_named_room: u32,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    out: VecDeque<Output>,
}

impl Core {
    pub fn new(config: CoreConfig) -> Self {
        Core {
            config,
            conns: HashMap::new(),
            users: HashMap::new(),
            ids_by_name: HashMap::new(),
            next_user_id: 1,
            calls: HashMap::new(),
            next_call_id: 1,
            rooms: HashMap::new(),
            named_rooms: HashMap::new(),
            next_call_room: CALL_ROOM_BASE,
            next_named_room: NAMED_ROOM_BASE,
            timers: BinaryHeap::new(),
            out: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Number of users logged in.
    pub fn online_users(&self) -> usize {
        self.users.len()
    }

    /// Number of calls ringing or in progress.
    pub fn calls_in_progress(&self) -> usize {
        self.calls.len()
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether [`Core::poll_output`] has something.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// When [`Core::on_timeout`] should be called next (it may be early).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// A new transport connection was accepted.
    pub fn on_connect(&mut self, now: Instant, conn: ConnId) {
        self.conns.insert(conn, Conn { state: ConnState::AwaitHello, last_rx: now });
        self.timers.push(Reverse((now + self.config.keepalive_timeout, Timer::Keepalive(conn))));
    }

    /// The transport connection closed or failed (a lost connection).
    pub fn on_closed(&mut self, now: Instant, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if let ConnState::LoggedIn(uid) = c.state {
                tracing::info!(user = uid, conn = conn.0, "disconnect: connection lost");
                self.drop_user(now, uid, Departure::Lost);
            } else {
                tracing::debug!(conn = conn.0, "connection closed before login");
            }
        }
    }

    /// Time passed: fires ring and keep-alive timers due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Keepalive(conn) => {
                    let Some(c) = self.conns.get(&conn) else { continue };
                    let due = c.last_rx + self.config.keepalive_timeout;
                    if due <= now {
                        tracing::info!(conn = conn.0, "keep-alive timeout");
                        self.close(now, conn, CloseReason::KeepaliveTimeout);
                    } else {
                        self.timers.push(Reverse((due, Timer::Keepalive(conn))));
                    }
                }
                Timer::Ring(call_id) => {
                    let Some(call) = self.calls.get(&call_id) else { continue };
                    if let CallState::Ringing { deadline } = call.state {
                        if deadline <= now {
                            let (a, b, flags) = (call.caller, call.callee, call.flags);
                            tracing::info!(caller = a, callee = b, "call: ring timeout");
                            self.remove_call(call_id);
                            let code = AC_ERROR_VIDEOCALL_TIMEOUT;
                            self.send_call(a, b, BRAC_VIDEOCALL_EVENT_REPLY, code, flags, 0, &[]);
                            self.send_call(b, a, BRAC_VIDEOCALL_EVENT_REPLY, code, flags, 0, &[]);
                        }
                    }
                }
            }
        }
    }

    /// A message arrived on a connection.
    pub fn on_message(&mut self, now: Instant, conn: ConnId, msg: ClientMsg) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.last_rx = now;
        match (&c.state, msg) {
            (ConnState::AwaitHello, ClientMsg::Hello { version, role, .. }) => {
                if version != PROTOCOL_VERSION || role != crate::protocol::Role::Client as u8 {
                    tracing::info!(conn = conn.0, version, role, "handshake refused");
                    self.push(conn, ServerMsg::Refused { code: GV_ERR_CONNECT_OLDVERSION });
                    self.close(now, conn, CloseReason::Handshake);
                } else {
                    c.state = ConnState::Ready;
                    let keepalive_ms = self.config.keepalive_timeout.as_millis().min(u32::MAX as u128) as u32;
                    self.push(conn, ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms });
                }
            }
            (ConnState::AwaitHello, _) => {
                self.close(now, conn, CloseReason::ProtocolViolation("message before hello"));
            }
            (_, ClientMsg::Hello { .. }) => {
                self.close(now, conn, CloseReason::ProtocolViolation("second hello"));
            }
            (_, ClientMsg::Ping { seq }) => self.push(conn, ServerMsg::Pong { seq }),
            (ConnState::Ready, ClientMsg::Login { name, .. }) => self.login(now, conn, name),
            (ConnState::LoggedIn(uid), ClientMsg::Login { .. }) => {
                let uid = *uid;
                let name = self.users.get(&uid).map(|u| u.name.clone()).unwrap_or_default();
                self.push(conn, ServerMsg::LoginResult { user_id: uid, code: GV_ERR_ALREADY_LOGIN, name });
            }
            (ConnState::Ready, ClientMsg::Logout) => {
                self.close(now, conn, CloseReason::Logout);
            }
            (ConnState::Ready, other) => {
                tracing::debug!(conn = conn.0, ?other, "ignored: not logged in");
            }
            (ConnState::LoggedIn(uid), msg) => {
                let uid = *uid;
                self.user_message(now, conn, uid, msg);
            }
        }
    }

    fn user_message(&mut self, now: Instant, conn: ConnId, uid: u32, msg: ClientMsg) {
        match msg {
            ClientMsg::Logout => {
                tracing::info!(user = uid, "logout");
                self.drop_user(now, uid, Departure::Logout);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = ConnState::Ready;
                }
                self.close(now, conn, CloseReason::Logout);
            }
            ClientMsg::EnterRoom { room_id, .. } => self.enter_room(uid, room_id),
            ClientMsg::EnterRoomByName { name, .. } => {
                let room_id = match self.named_rooms.get(&name) {
                    Some(id) => *id,
                    None => {
                        let id = self.alloc_room_id(NAMED_ROOM_BASE, CALL_ROOM_BASE, false);
                        self.rooms.insert(id, Room { name: Some(name.clone()), ..Room::default() });
                        self.named_rooms.insert(name, id);
                        id
                    }
                };
                self.enter_room(uid, room_id);
            }
            ClientMsg::LeaveRoom { room_id } => {
                let current = self.users.get(&uid).and_then(|u| u.room);
                if let Some(r) = current {
                    if room_id == ANY_ROOM || room_id == r {
                        self.leave_room(uid);
                    }
                }
            }
            ClientMsg::VideoCall(ev) => self.video_call(now, uid, ev),
            ClientMsg::Hello { .. } | ClientMsg::Login { .. } | ClientMsg::Ping { .. } => {
                unreachable!("handled in on_message")
            }
            // Business-server messages are not accepted from a client's session.
            ClientMsg::BizCallVerdict { .. }
            | ClientMsg::BizVerifyResult { .. }
            | ClientMsg::BizEnterVerdict { .. }
            | ClientMsg::BizVideoCall(_)
            | ClientMsg::BizUserControl { .. }
            | ClientMsg::BizSendBuf { .. } => {
                tracing::debug!(user = uid, "ignored: business-server message from a client");
            }
        }
    }

    // ----- sessions ---------------------------------------------------------

    fn login(&mut self, now: Instant, conn: ConnId, name: Vec<u8>) {
        if name.is_empty() {
            self.push(conn, ServerMsg::LoginResult { user_id: 0, code: GV_ERR_CERTIFY_FAIL, name });
            return;
        }
        let uid = match self.ids_by_name.get(&name) {
            Some(id) => *id,
            None => {
                let id = self.next_user_id;
                self.next_user_id = self.next_user_id.checked_add(1).filter(|n| *n < u32::MAX).unwrap_or(1);
                self.ids_by_name.insert(name.clone(), id);
                id
            }
        };
        if let Some(old) = self.users.get(&uid).map(|u| u.conn) {
            tracing::info!(user = uid, old_conn = old.0, new_conn = conn.0, "login elsewhere: closing old session");
            self.push(old, ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN });
            self.close(now, old, CloseReason::LoggedInElsewhere);
        }
        self.users.insert(uid, User { name: name.clone(), conn, room: None, call: None });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::LoggedIn(uid);
        }
        tracing::info!(user = uid, name = %String::from_utf8_lossy(&name), conn = conn.0, "login");
        self.push(conn, ServerMsg::LoginResult { user_id: uid, code: 0, name });
    }

    /// Forgets the connection (and its user's session) and asks the loop to
    /// close it after flushing what is queued.
    fn close(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        if let Some(c) = self.conns.remove(&conn) {
            if let ConnState::LoggedIn(uid) = c.state {
                let how = if reason == CloseReason::Logout { Departure::Logout } else { Departure::Lost };
                tracing::info!(user = uid, conn = conn.0, ?reason, "disconnect");
                self.drop_user(now, uid, how);
            }
            self.out.push_back(Output::Close(conn, reason));
        }
    }

    /// Ends a user's session: its call, its room, its presence.
    fn drop_user(&mut self, _now: Instant, uid: u32, how: Departure) {
        let Some(user) = self.users.get(&uid) else { return };
        if let Some(call_id) = user.call {
            self.depart_call(uid, call_id, how);
        }
        self.leave_room(uid);
        self.users.remove(&uid);
    }

    fn depart_call(&mut self, uid: u32, call_id: u64, how: Departure) {
        let Some(call) = self.calls.get(&call_id) else { return };
        let (peer, flags, state, is_caller) = (call.peer_of(uid), call.flags, call.state, call.caller == uid);
        let room = self.remove_call(call_id);
        let (event, code) = match (state, how) {
            (CallState::Ringing { .. }, Departure::Lost) => (BRAC_VIDEOCALL_EVENT_REPLY, AC_ERROR_VIDEOCALL_DISCONNECT),
            (CallState::Active { .. }, Departure::Lost) => (BRAC_VIDEOCALL_EVENT_FINISH, AC_ERROR_VIDEOCALL_DISCONNECT),
            (CallState::Ringing { .. }, Departure::Logout) if is_caller => {
                (BRAC_VIDEOCALL_EVENT_REPLY, AC_ERROR_VIDEOCALL_CANCEL)
            }
            (CallState::Ringing { .. }, Departure::Logout) => (BRAC_VIDEOCALL_EVENT_REPLY, AC_ERROR_VIDEOCALL_REJECT),
            (CallState::Active { .. }, Departure::Logout) => {
                // As if the user had sent Finish(0): both parties are told.
                self.send_call(uid, peer, BRAC_VIDEOCALL_EVENT_FINISH, 0, flags, 0, &[]);
                (BRAC_VIDEOCALL_EVENT_FINISH, 0)
            }
        };
        tracing::info!(user = uid, peer, event, code, "call ended by departure");
        self.send_call(peer, uid, event, code, flags, 0, &[]);
        if let Some(room) = room {
            self.close_call_room(room);
        }
    }

    // ----- video calls ------------------------------------------------------

    fn video_call(&mut self, now: Instant, uid: u32, ev: CallEvent) {
        match ev.event {
            BRAC_VIDEOCALL_EVENT_REQUEST => self.call_request(now, uid, ev),
            BRAC_VIDEOCALL_EVENT_REPLY => self.call_reply(uid, ev),
            BRAC_VIDEOCALL_EVENT_FINISH => self.call_finish(uid, ev),
            other => tracing::debug!(user = uid, event = other, "ignored: event a client may not send"),
        }
    }

    fn call_request(&mut self, now: Instant, a: u32, ev: CallEvent) {
        let b = ev.user_id;
        if b == a {
            tracing::debug!(user = a, "ignored: request to itself");
            return;
        }
        let busy_self = self.users.get(&a).is_some_and(|u| u.call.is_some());
        let code = if busy_self {
            AC_ERROR_VIDEOCALL_BUSY
        } else {
            match self.users.get(&b) {
                None => AC_ERROR_VIDEOCALL_OFFLINE,
                Some(u) if u.call.is_some() => AC_ERROR_VIDEOCALL_BUSY,
                Some(_) => 0,
            }
        };
        if code != 0 {
            tracing::info!(caller = a, callee = b, code, "call: request refused");
            self.send_call(a, b, BRAC_VIDEOCALL_EVENT_REPLY, code, ev.flags, 0, &[]);
            return;
        }
        let call_id = self.next_call_id;
        self.next_call_id += 1;
        let deadline = now + self.config.ring_timeout;
        self.calls
            .insert(call_id, Call { caller: a, callee: b, flags: ev.flags, state: CallState::Ringing { deadline } });
        for u in [a, b] {
            if let Some(user) = self.users.get_mut(&u) {
                user.call = Some(call_id);
            }
        }
        self.timers.push(Reverse((deadline, Timer::Ring(call_id))));
        tracing::info!(caller = a, callee = b, flags = ev.flags, "call: request, ringing");
        self.send_call(b, a, BRAC_VIDEOCALL_EVENT_REQUEST, 0, ev.flags, ev.param, &ev.user_str);
        self.send_call(a, b, BRAC_VIDEOCALL_EVENT_REPLY, 0, ev.flags, 0, &[]);
    }

    /// The call `uid` takes part in with `peer`, if that is its current call.
    fn call_with(&self, uid: u32, peer: u32) -> Option<u64> {
        let call_id = self.users.get(&uid)?.call?;
        let call = self.calls.get(&call_id)?;
        (call.peer_of(uid) == peer).then_some(call_id)
    }

    fn call_reply(&mut self, uid: u32, ev: CallEvent) {
        let Some(call_id) = self.call_with(uid, ev.user_id) else {
            tracing::debug!(user = uid, peer = ev.user_id, "ignored: reply without a call with that peer");
            return;
        };
        let call = &self.calls[&call_id];
        let (a, b, flags) = (call.caller, call.callee, call.flags);
        if !matches!(call.state, CallState::Ringing { .. }) {
            tracing::debug!(user = uid, "ignored: reply to a call in progress");
            return;
        }
        if uid == b {
            if ev.error_code == 0 {
                let room = self.alloc_room_id(CALL_ROOM_BASE, u32::MAX, true);
                self.rooms.insert(room, Room { call: Some(call_id), ..Room::default() });
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.state = CallState::Active { room };
                }
                tracing::info!(caller = a, callee = b, room, "call: start");
                self.send_call(a, b, BRAC_VIDEOCALL_EVENT_START, 0, flags, room, &ev.user_str);
                self.send_call(b, a, BRAC_VIDEOCALL_EVENT_START, 0, flags, room, &ev.user_str);
            } else {
                tracing::info!(caller = a, callee = b, code = ev.error_code, "call: refused by callee");
                self.remove_call(call_id);
                self.send_call(a, b, BRAC_VIDEOCALL_EVENT_REPLY, ev.error_code, flags, ev.param, &ev.user_str);
            }
        } else if ev.error_code == 0 {
            tracing::debug!(user = uid, "ignored: caller replied 0");
        } else {
            tracing::info!(caller = a, callee = b, "call: cancelled by caller");
            self.remove_call(call_id);
            let code = AC_ERROR_VIDEOCALL_CANCEL;
            self.send_call(b, a, BRAC_VIDEOCALL_EVENT_REPLY, code, flags, ev.param, &ev.user_str);
        }
    }

    fn call_finish(&mut self, uid: u32, ev: CallEvent) {
        let Some(call_id) = self.call_with(uid, ev.user_id) else {
            tracing::debug!(user = uid, peer = ev.user_id, "ignored: finish without a call with that peer");
            return;
        };
        let call = &self.calls[&call_id];
        let (a, b, flags, state) = (call.caller, call.callee, call.flags, call.state);
        match state {
            CallState::Ringing { .. } if uid == b => {
                // Finish from the callee while ringing: a refusal.
                let reject =
                    CallEvent { error_code: AC_ERROR_VIDEOCALL_REJECT, event: BRAC_VIDEOCALL_EVENT_REPLY, ..ev };
                self.call_reply(uid, reject);
            }
            CallState::Ringing { .. } => {
                let cancel =
                    CallEvent { error_code: AC_ERROR_VIDEOCALL_CANCEL, event: BRAC_VIDEOCALL_EVENT_REPLY, ..ev };
                self.call_reply(uid, cancel);
            }
            CallState::Active { .. } => {
                tracing::info!(caller = a, callee = b, by = uid, code = ev.error_code, "call: finish");
                let room = self.remove_call(call_id);
                self.send_call(a, b, BRAC_VIDEOCALL_EVENT_FINISH, ev.error_code, flags, ev.param, &ev.user_str);
                self.send_call(b, a, BRAC_VIDEOCALL_EVENT_FINISH, ev.error_code, flags, ev.param, &ev.user_str);
                if let Some(room) = room {
                    self.close_call_room(room);
                }
            }
        }
    }

    /// Forgets a call and frees both parties. Returns the call's room, which
    /// the caller closes with `close_call_room` after sending the call's
    /// events, so that parties see FINISH before the room departures.
    fn remove_call(&mut self, call_id: u64) -> Option<u32> {
        let call = self.calls.remove(&call_id)?;
        for u in [call.caller, call.callee] {
            if let Some(user) = self.users.get_mut(&u) {
                if user.call == Some(call_id) {
                    user.call = None;
                }
            }
        }
        match call.state {
            CallState::Active { room } => Some(room),
            CallState::Ringing { .. } => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_call(&mut self, to: u32, peer: u32, event: u32, error_code: u32, flags: u32, param: u32, user_str: &[u8]) {
        let Some(user) = self.users.get(&to) else { return };
        let conn = user.conn;
        // An offline peer (Request to a user not logged in) has no name to give.
        let peer_name = self.users.get(&peer).map(|u| u.name.clone()).unwrap_or_default();
        let ev = CallEvent { event, user_id: peer, error_code, flags, param, user_str: user_str.to_vec() };
        self.out.push_back(Output::Send(conn, ServerMsg::VideoCall { ev, peer_name }));
    }

    // ----- rooms ------------------------------------------------------------

    fn alloc_room_id(&mut self, base: u32, end: u32, call: bool) -> u32 {
        let next = if call { &mut self.next_call_room } else { &mut self.next_named_room };
        loop {
            let id = *next;
            *next = if id + 1 >= end { base } else { id + 1 };
            if !self.rooms.contains_key(&id) {
                return id;
            }
        }
    }

    fn push(&mut self, conn: ConnId, msg: ServerMsg) {
        self.out.push_back(Output::Send(conn, msg));
    }

    fn send_user(&mut self, uid: u32, msg: ServerMsg) {
        if let Some(u) = self.users.get(&uid) {
            self.out.push_back(Output::Send(u.conn, msg));
        }
    }

    fn room_user(&self, uid: u32) -> RoomUser {
        RoomUser { user_id: uid, name: self.users.get(&uid).map(|u| u.name.clone()).unwrap_or_default() }
    }

    fn enter_room(&mut self, uid: u32, room_id: u32) {
        if room_id == 0 || room_id == ANY_ROOM {
            self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code: GV_ERR_ROOM_INVALID });
            return;
        }
        let current = self.users.get(&uid).and_then(|u| u.room);
        if current == Some(room_id) {
            self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code: GV_ERR_ROOM_ALREADIN });
            return;
        }
        if let Some(call_id) = self.rooms.get(&room_id).and_then(|r| r.call) {
            let party = self.calls.get(&call_id).is_some_and(|c| c.caller == uid || c.callee == uid);
            if !party {
                tracing::info!(user = uid, room = room_id, "enter room refused: a call's room");
                self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code: GV_ERR_ROOM_LOCK });
                return;
            }
        }
        if current.is_some() {
            self.leave_room(uid);
        }
        let me = self.room_user(uid);
        let room = self.rooms.entry(room_id).or_default();
        room.members.push(uid);
        let members = room.members.clone();
        if let Some(u) = self.users.get_mut(&uid) {
            u.room = Some(room_id);
        }
        tracing::info!(user = uid, room = room_id, "enter room");
        self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code: 0 });
        let users = members.iter().map(|m| self.room_user(*m)).collect();
        self.send_user(uid, ServerMsg::RoomUsers { room_id, users });
        for m in members.into_iter().filter(|m| *m != uid) {
            self.send_user(m, ServerMsg::UserAtRoom { room_id, user: me.clone(), entered: true });
        }
    }

    fn leave_room(&mut self, uid: u32) {
        let Some(room_id) = self.users.get_mut(&uid).and_then(|u| u.room.take()) else { return };
        let me = self.room_user(uid);
        let Some(room) = self.rooms.get_mut(&room_id) else { return };
        room.members.retain(|m| *m != uid);
        let members = room.members.clone();
        if room.members.is_empty() && room.call.is_none() {
            if let Some(name) = self.rooms.remove(&room_id).and_then(|r| r.name) {
                self.named_rooms.remove(&name);
            }
        }
        tracing::info!(user = uid, room = room_id, "leave room");
        for m in members {
            self.send_user(m, ServerMsg::UserAtRoom { room_id, user: me.clone(), entered: false });
        }
    }

    fn close_call_room(&mut self, room_id: u32) {
        let Some(room) = self.rooms.remove(&room_id) else { return };
        for (i, m) in room.members.iter().enumerate() {
            for (j, other) in room.members.iter().enumerate() {
                if i != j {
                    let user = self.room_user(*other);
                    self.send_user(*m, ServerMsg::UserAtRoom { room_id, user, entered: false });
                }
            }
        }
        for m in &room.members {
            if let Some(u) = self.users.get_mut(m) {
                if u.room == Some(room_id) {
                    u.room = None;
                }
            }
            self.send_user(*m, ServerMsg::LeftRoom { room_id });
        }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
