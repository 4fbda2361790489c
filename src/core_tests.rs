//! Unit tests of [`Core`] in simulated time, one per situation of the video-call
//! contract (`spec/videocall.md`) that does not involve a business server.
//!
//! Time is `World::now`, taken once from `Instant::now()` and only ever moved
//! forward by adding durations; nothing sleeps. While time passes, every open
//! connection except the ones named silent sends a `Ping` each second, so that
//! only the connections a test wants to go quiet trip the keep-alive.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{CloseReason, ConnId, Core, CoreConfig, Output, CALL_ROOM_BASE};
use crate::constants::*;
use crate::protocol::{CallEvent, ClientMsg, Role, RoomUser, ServerMsg, PROTOCOL_VERSION};

const REQUEST: u32 = BRAC_VIDEOCALL_EVENT_REQUEST;
const REPLY: u32 = BRAC_VIDEOCALL_EVENT_REPLY;
const START: u32 = BRAC_VIDEOCALL_EVENT_START;
const FINISH: u32 = BRAC_VIDEOCALL_EVENT_FINISH;

/// Flags of every Request the tests send (unless a test says otherwise).
const FLAGS: u32 = BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO | BRAC_VIDEOCALL_FLAGS_FBTARVIDEO;
/// Flags the tests put on Reply and Finish: the server must ignore them and
/// keep using the Request's flags.
const NOISE_FLAGS: u32 = 0x00F0_0000;

/// The caller's and callee's own `dwParam` / `lpUserStr`.
const A_PARAM: u32 = 0xA11C_E000;
const A_STR: &[u8] = b"caller-str\0\xff";
const B_PARAM: u32 = 0x0000_B0B0;
const B_STR: &[u8] = "callee-\u{4f60}\u{597d}".as_bytes();

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A logged-in user as its client knows it.
#[derive(Debug, Clone)]
struct User {
    conn: ConnId,
    id: u32,
    name: Vec<u8>,
}

impl User {
    fn room_user(&self) -> RoomUser {
        RoomUser { user_id: self.id, name: self.name.clone() }
    }
}

/// What the core asked for since the last drain, `Pong`s left out.
#[derive(Debug, Default)]
struct Drained {
    /// Messages per connection, in order.
    sent: BTreeMap<ConnId, Vec<ServerMsg>>,
    /// Connections closed, in order.
    closed: Vec<(ConnId, CloseReason)>,
}

impl Drained {
    fn to(&self, conn: ConnId) -> &[ServerMsg] {
        self.sent.get(&conn).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Exactly these messages (and nothing to anyone else), and no closes.
    #[track_caller]
    fn expect(&self, sends: &[(&User, Vec<ServerMsg>)]) {
        self.expect_with_closes(sends, &[]);
    }

    /// Exactly these messages (and nothing to anyone else), exactly these closes.
    #[track_caller]
    fn expect_with_closes(&self, sends: &[(&User, Vec<ServerMsg>)], closes: &[(ConnId, CloseReason)]) {
        let mut want: BTreeMap<ConnId, Vec<ServerMsg>> = BTreeMap::new();
        for (u, msgs) in sends {
            want.entry(u.conn).or_default().extend(msgs.iter().cloned());
        }
        want.retain(|_, m| !m.is_empty());
        assert_eq!(self.sent, want, "messages sent");
        assert_eq!(self.closed, closes, "connections closed");
    }

    #[track_caller]
    fn expect_nothing(&self) {
        self.expect(&[]);
    }
}

/// A `Core` and a simulated clock.
struct World {
    core: Core,
    t0: Instant,
    now: Instant,
    next_conn: u64,
    /// Connections the core has not closed (for the pinging clients).
    open: BTreeSet<ConnId>,
    /// Outputs pumped from the core and not drained yet, `Pong`s left out.
    pending: Vec<Output>,
}

impl World {
    fn new() -> World {
        World::with_config(CoreConfig { ring_timeout: secs(60), keepalive_timeout: secs(15), ..CoreConfig::default() })
    }

    fn with_config(config: CoreConfig) -> World {
        let t0 = Instant::now();
        World { core: Core::new(config), t0, now: t0, next_conn: 1, open: BTreeSet::new(), pending: Vec::new() }
    }

    fn pump(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Send(_, ServerMsg::Pong { .. }) => {}
                Output::Close(conn, _) => {
                    self.open.remove(&conn);
                    self.pending.push(o);
                }
                o => self.pending.push(o),
            }
        }
    }

    /// Everything output since the last drain.
    fn drain(&mut self) -> Drained {
        self.pump();
        let mut d = Drained::default();
        for o in self.pending.drain(..) {
            match o {
                Output::Send(conn, msg) => d.sent.entry(conn).or_default().push(msg),
                Output::Close(conn, reason) => d.closed.push((conn, reason)),
            }
        }
        d
    }

    /// The messages for one connection output since the last drain, leaving
    /// the others pending.
    fn take_conn(&mut self, conn: ConnId) -> Vec<ServerMsg> {
        self.pump();
        let mut mine = Vec::new();
        self.pending.retain(|o| match o {
            Output::Send(c, msg) if *c == conn => {
                mine.push(msg.clone());
                false
            }
            _ => true,
        });
        mine
    }

    /// A new transport connection, no message sent on it yet.
    fn raw_connect(&mut self) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.core.on_connect(self.now, conn, false, "127.0.0.1".into());
        self.open.insert(conn);
        conn
    }

    /// A new connection that has completed the handshake.
    fn connect(&mut self) -> ConnId {
        let conn = self.raw_connect();
        self.send(conn, ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![] });
        let keepalive_ms = self.core.config().keepalive_timeout.as_millis() as u32;
        assert_eq!(self.take_conn(conn), vec![ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms }]);
        conn
    }

    fn send(&mut self, conn: ConnId, msg: ClientMsg) {
        self.core.on_message(self.now, conn, msg);
        self.pump();
    }

    /// Logs `name` in on an existing connection; returns its user id.
    fn login_on(&mut self, conn: ConnId, name: &str) -> User {
        let name = name.as_bytes().to_vec();
        self.send(conn, ClientMsg::Login { name: name.clone(), password: b"pw".to_vec(), pass_enc_type: 0 });
        let msgs = self.take_conn(conn);
        let [ServerMsg::LoginResult { user_id, code: 0, name: got }] = msgs.as_slice() else {
            panic!("login of {name:?}: unexpected {msgs:?}");
        };
        assert_eq!(*got, name);
        assert!(*user_id > 0, "user ids are positive");
        User { conn, id: *user_id, name }
    }

    /// Connect, Hello and Login: a user ready to call.
    fn login(&mut self, name: &str) -> User {
        let conn = self.connect();
        self.login_on(conn, name)
    }

    /// The transport of `conn` closed (lost connection).
    fn close(&mut self, conn: ConnId) {
        self.core.on_closed(self.now, conn);
        self.open.remove(&conn);
        self.pump();
    }

    #[allow(clippy::too_many_arguments)]
    fn video_call(&mut self, from: &User, event: u32, to: u32, code: u32, flags: u32, param: u32, s: &[u8]) {
        let ev = CallEvent { event, user_id: to, error_code: code, flags, param, user_str: s.to_vec() };
        self.send(from.conn, ClientMsg::VideoCall(ev));
    }

    fn request(&mut self, from: &User, to: &User, param: u32, s: &[u8]) {
        self.video_call(from, REQUEST, to.id, 0, FLAGS, param, s);
    }

    fn reply(&mut self, from: &User, to: &User, code: u32, param: u32, s: &[u8]) {
        self.video_call(from, REPLY, to.id, code, NOISE_FLAGS, param, s);
    }

    fn finish(&mut self, from: &User, to: &User, code: u32, param: u32, s: &[u8]) {
        self.video_call(from, FINISH, to.id, code, NOISE_FLAGS, param, s);
    }

    fn enter(&mut self, u: &User, room_id: u32) {
        self.send(u.conn, ClientMsg::EnterRoom { room_id, password: Vec::new() });
    }

    fn logout(&mut self, u: &User) {
        self.send(u.conn, ClientMsg::Logout);
    }

    /// Moves time forward by `d` in steps of at most a second. At each step
    /// every open connection not in `silent` sends a Ping, then the core's
    /// timers run. Ends exactly at `now + d`.
    fn advance(&mut self, d: Duration, silent: &[ConnId]) {
        let until = self.now + d;
        while self.now < until {
            self.now = (self.now + secs(1)).min(until);
            let talkers: Vec<ConnId> = self.open.iter().copied().filter(|c| !silent.contains(c)).collect();
            for (seq, conn) in talkers.into_iter().enumerate() {
                self.core.on_message(self.now, conn, ClientMsg::Ping { seq: seq as u32 });
            }
            self.core.on_timeout(self.now);
            self.pump();
        }
    }

    /// A rings B: asserts exactly B ← REQUEST and A ← REPLY(0).
    fn ring(&mut self, a: &User, b: &User) {
        let calls = self.core.calls_in_progress();
        self.request(a, b, A_PARAM, A_STR);
        self.drain()
            .expect(&[(b, vec![call_ev(REQUEST, a, 0, A_PARAM, A_STR)]), (a, vec![call_ev(REPLY, b, 0, 0, b"")])]);
        assert_eq!(self.core.calls_in_progress(), calls + 1);
    }

    /// A calls B and B accepts: asserts exactly both ← START(room). Returns the room.
    fn start(&mut self, a: &User, b: &User) -> u32 {
        let calls = self.core.calls_in_progress();
        self.ring(a, b);
        self.reply(b, a, 0, B_PARAM, B_STR);
        let d = self.drain();
        let room = match d.to(a.conn) {
            [ServerMsg::VideoCall { ev, .. }] if ev.event == START => ev.param,
            other => panic!("caller did not get START: {other:?}"),
        };
        d.expect(&[(a, vec![call_ev(START, b, 0, room, B_STR)]), (b, vec![call_ev(START, a, 0, room, B_STR)])]);
        assert_eq!(self.core.calls_in_progress(), calls + 1);
        room
    }

    /// A and B are free: A can ring B, then cancels.
    fn assert_free_to_call(&mut self, a: &User, b: &User) {
        self.ring(a, b);
        self.reply(a, b, AC_ERROR_VIDEOCALL_CANCEL, 0, b"");
        self.drain().expect(&[(b, vec![call_ev(REPLY, a, AC_ERROR_VIDEOCALL_CANCEL, 0, b"")])]);
        assert_eq!(self.core.calls_in_progress(), 0);
    }
}

/// A video-call event as received from the server by the party whose peer is
/// `peer`, carrying the Request's flags.
fn call_ev(event: u32, peer: &User, code: u32, param: u32, s: &[u8]) -> ServerMsg {
    call_ev_flags(event, peer, code, FLAGS, param, s)
}

fn call_ev_flags(event: u32, peer: &User, code: u32, flags: u32, param: u32, s: &[u8]) -> ServerMsg {
    ServerMsg::VideoCall {
        ev: CallEvent { event, user_id: peer.id, error_code: code, flags, param, user_str: s.to_vec() },
        peer_name: peer.name.clone(),
    }
}

fn enter_ok(room_id: u32, users: &[&User]) -> Vec<ServerMsg> {
    vec![
        ServerMsg::EnterRoomResult { room_id, code: 0 },
        ServerMsg::RoomUsers { room_id, users: users.iter().map(|u| u.room_user()).collect() },
    ]
}

fn at_room(room_id: u32, u: &User, entered: bool) -> ServerMsg {
    ServerMsg::UserAtRoom { room_id, user: u.room_user(), entered }
}

fn three() -> (World, User, User, User) {
    let mut w = World::new();
    let a = w.login("alice");
    let b = w.login("bob");
    let c = w.login("carol");
    (w, a, b, c)
}

// ----- handshake and logging in -----------------------------------------------

#[test]
fn protocol_message_before_hello_is_closed() {
    let mut w = World::new();
    let conn = w.raw_connect();
    w.send(conn, ClientMsg::Login { name: b"alice".to_vec(), password: Vec::new(), pass_enc_type: 0 });
    let d = w.drain();
    assert!(d.sent.is_empty(), "{d:?}");
    assert!(matches!(d.closed.as_slice(), [(c, CloseReason::ProtocolViolation(_))] if *c == conn), "{d:?}");
    assert_eq!(w.core.online_users(), 0);
}

#[test]
fn protocol_wrong_version_hello_is_refused_then_closed() {
    let mut w = World::new();
    for hello in [
        ClientMsg::Hello { version: PROTOCOL_VERSION + 1, role: Role::Client as u8, secret: vec![] },
        ClientMsg::Hello { version: PROTOCOL_VERSION, role: 0x7f, secret: vec![] },
    ] {
        let conn = w.raw_connect();
        w.send(conn, hello);
        w.pump();
        assert_eq!(
            std::mem::take(&mut w.pending),
            vec![
                Output::Send(conn, ServerMsg::Refused { code: GV_ERR_CONNECT_OLDVERSION }),
                Output::Close(conn, CloseReason::Handshake),
            ]
        );
        // The core has forgotten it: nothing more happens on it.
        w.send(conn, ClientMsg::Ping { seq: 1 });
        w.close(conn);
        w.drain().expect_nothing();
    }
}

#[test]
fn protocol_second_hello_is_closed() {
    let mut w = World::new();
    let a = w.login("alice");
    w.send(a.conn, ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![] });
    let d = w.drain();
    assert!(d.sent.is_empty(), "{d:?}");
    assert!(matches!(d.closed.as_slice(), [(c, CloseReason::ProtocolViolation(_))] if *c == a.conn), "{d:?}");
    assert_eq!(w.core.online_users(), 0);
}

#[test]
fn logging_in_without_business_server_same_name_keeps_same_positive_id() {
    let mut w = World::new();
    let a = w.login("alice");
    let b = w.login("bob");
    let c = w.login("\u{5f20}\u{4e09}");
    assert!(a.id > 0 && b.id > 0 && c.id > 0);
    assert_ne!(a.id, b.id);
    assert_ne!(a.id, c.id);
    assert_ne!(b.id, c.id);

    // Log out, come back on another connection: same id.
    w.logout(&a);
    w.drain().expect_with_closes(&[], &[(a.conn, CloseReason::Logout)]);
    let a2 = w.login("alice");
    assert_ne!(a2.conn, a.conn);
    assert_eq!(a2.id, a.id);

    // Lose the connection, come back: same id.
    w.close(b.conn);
    let b2 = w.login("bob");
    assert_eq!(b2.id, b.id);

    // Replaced by a login elsewhere: same id.
    let a3 = w.login("alice");
    assert_eq!(a3.id, a.id);

    // Much later, after keep-alive silence: same id.
    w.advance(secs(30), &[c.conn]);
    assert!(w.drain().closed.contains(&(c.conn, CloseReason::KeepaliveTimeout)));
    let c2 = w.login("\u{5f20}\u{4e09}");
    assert_eq!(c2.id, c.id);

    // Names are bytes: a different name is a different user.
    let a_upper = w.login("Alice");
    assert_ne!(a_upper.id, a.id);
    assert!(a_upper.id > 0);

    // Logging in twice on one connection answers with the current id.
    w.send(b2.conn, ClientMsg::Login { name: b"zed".to_vec(), password: Vec::new(), pass_enc_type: 0 });
    assert_eq!(
        w.take_conn(b2.conn),
        vec![ServerMsg::LoginResult { user_id: b.id, code: GV_ERR_ALREADY_LOGIN, name: b"bob".to_vec() }]
    );
}

// ----- the table: placing a call ----------------------------------------------

/// "A sends Request to B while not logged in": the API returns 208; a server
/// that receives one anyway ignores it.
#[test]
fn row_request_while_not_logged_in_sends_nothing() {
    let mut w = World::new();
    let b = w.login("bob");
    let conn = w.connect();
    let ev = CallEvent { event: REQUEST, user_id: b.id, error_code: 0, flags: FLAGS, param: 1, user_str: Vec::new() };
    w.send(conn, ClientMsg::VideoCall(ev));
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 0);
    // Logging in afterwards works and B is not busy.
    let a = w.login_on(conn, "alice");
    w.assert_free_to_call(&a, &b);
}

/// "A sends Request to itself, or an unknown event type": the API returns 21;
/// the server ignores such a message.
#[test]
fn row_request_to_itself_or_unknown_event_type_is_ignored() {
    let (mut w, a, b, _) = three();
    w.request(&a, &a, A_PARAM, A_STR);
    w.drain().expect_nothing();
    for event in [0, START, 5, 99, u32::MAX] {
        w.video_call(&a, event, b.id, 0, FLAGS, A_PARAM, A_STR);
        w.drain().expect_nothing();
    }
    assert_eq!(w.core.calls_in_progress(), 0);
    w.assert_free_to_call(&a, &b);
}

/// "A sends Request while A is already in a call" (ringing, either role):
/// → A: REPLY(100103); the ringing call is undisturbed.
#[test]
fn row_request_while_already_in_a_ringing_call_answers_busy() {
    let (mut w, a, b, c) = three();
    w.ring(&a, &b);
    // The caller tries someone else, and the one it is calling.
    w.request(&a, &c, 5, b"x");
    w.drain().expect(&[(&a, vec![call_ev(REPLY, &c, AC_ERROR_VIDEOCALL_BUSY, 0, b"")])]);
    w.request(&a, &b, 5, b"x");
    w.drain().expect(&[(&a, vec![call_ev(REPLY, &b, AC_ERROR_VIDEOCALL_BUSY, 0, b"")])]);
    // The callee tries someone else, and calls back its caller.
    w.request(&b, &c, 6, b"y");
    w.drain().expect(&[(&b, vec![call_ev(REPLY, &c, AC_ERROR_VIDEOCALL_BUSY, 0, b"")])]);
    w.request(&b, &a, 6, b"y");
    w.drain().expect(&[(&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_BUSY, 0, b"")])]);
    assert_eq!(w.core.calls_in_progress(), 1);
    // The original call still works: B accepts, then A hangs up.
    w.reply(&b, &a, 0, B_PARAM, B_STR);
    let d = w.drain();
    let [ServerMsg::VideoCall { ev, .. }] = d.to(a.conn) else { panic!("{d:?}") };
    let room = ev.param;
    d.expect(&[(&a, vec![call_ev(START, &b, 0, room, B_STR)]), (&b, vec![call_ev(START, &a, 0, room, B_STR)])]);
    w.finish(&a, &b, 0, A_PARAM, A_STR);
    w.drain().expect(&[
        (&a, vec![call_ev(FINISH, &b, 0, A_PARAM, A_STR)]),
        (&b, vec![call_ev(FINISH, &a, 0, A_PARAM, A_STR)]),
    ]);
    w.assert_free_to_call(&c, &a);
}

/// "A sends Request while A is already in a call" (in progress, either role):
/// → A: REPLY(100103); the call is undisturbed.
#[test]
fn row_request_while_already_in_a_call_in_progress_answers_busy() {
    let (mut w, a, b, c) = three();
    w.start(&a, &b);
    for (x, y) in [(&a, &c), (&a, &b), (&b, &c), (&b, &a)] {
        w.request(x, y, 5, b"x");
        w.drain().expect(&[(x, vec![call_ev(REPLY, y, AC_ERROR_VIDEOCALL_BUSY, 0, b"")])]);
    }
    assert_eq!(w.core.calls_in_progress(), 1);
    w.finish(&b, &a, 0, B_PARAM, B_STR);
    w.drain().expect(&[
        (&a, vec![call_ev(FINISH, &b, 0, B_PARAM, B_STR)]),
        (&b, vec![call_ev(FINISH, &a, 0, B_PARAM, B_STR)]),
    ]);
    w.assert_free_to_call(&c, &b);
}

/// "B is not logged in" → A: REPLY(100102).
#[test]
fn row_callee_not_logged_in_replies_offline() {
    let (mut w, a, b, _) = three();
    // A user id nobody has.
    let nobody = User { conn: ConnId(u64::MAX), id: 987_654, name: Vec::new() };
    w.request(&a, &nobody, A_PARAM, A_STR);
    w.drain().expect(&[(&a, vec![call_ev(REPLY, &nobody, AC_ERROR_VIDEOCALL_OFFLINE, 0, b"")])]);
    // A user who was logged in and left: its id is known, its name no longer sent.
    w.logout(&b);
    w.drain().expect_with_closes(&[], &[(b.conn, CloseReason::Logout)]);
    w.request(&a, &b, A_PARAM, A_STR);
    let gone = User { name: Vec::new(), ..b.clone() };
    w.drain().expect(&[(&a, vec![call_ev(REPLY, &gone, AC_ERROR_VIDEOCALL_OFFLINE, 0, b"")])]);
    assert_eq!(w.core.calls_in_progress(), 0);
    // B comes back: reachable again.
    let b2 = w.login("bob");
    w.assert_free_to_call(&a, &b2);
}

/// "B is in a call (ringing or in progress, either role)" → A: REPLY(100103);
/// B and its peer receive nothing and their call goes on.
#[test]
fn row_callee_in_a_call_replies_busy() {
    // (B calls D, or D calls B) × (ringing, in progress)
    for b_is_caller in [true, false] {
        for in_progress in [false, true] {
            let (mut w, a, b, d) = three();
            let (x, y) = if b_is_caller { (&b, &d) } else { (&d, &b) };
            if in_progress {
                w.start(x, y);
            } else {
                w.ring(x, y);
            }
            w.request(&a, &b, A_PARAM, A_STR);
            w.drain().expect(&[(&a, vec![call_ev(REPLY, &b, AC_ERROR_VIDEOCALL_BUSY, 0, b"")])]);
            assert_eq!(w.core.calls_in_progress(), 1);
            // The busy one's call is intact: its peer can end it.
            w.finish(&d, &b, 0, 0, b"");
            if in_progress {
                w.drain()
                    .expect(&[(&b, vec![call_ev(FINISH, &d, 0, 0, b"")]), (&d, vec![call_ev(FINISH, &b, 0, 0, b"")])]);
            } else if b_is_caller {
                // D is the callee: Finish while ringing is a refusal.
                w.drain().expect(&[(&b, vec![call_ev(REPLY, &d, AC_ERROR_VIDEOCALL_REJECT, 0, b"")])]);
            } else {
                // D is the caller: Finish while ringing cancels.
                w.drain().expect(&[(&b, vec![call_ev(REPLY, &d, AC_ERROR_VIDEOCALL_CANCEL, 0, b"")])]);
            }
            assert_eq!(w.core.calls_in_progress(), 0);
            w.assert_free_to_call(&a, &b);
        }
    }
}

/// "otherwise" → B: REQUEST (A's param and user_str, code 0); A: REPLY(0);
/// the ringing timer starts.
#[test]
fn row_otherwise_callee_gets_request_and_caller_gets_reply_0() {
    let (mut w, a, b, c) = three();
    let flags = BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_ASSISTREQ;
    // A client-chosen error code on a Request is not passed on: REQUEST carries 0.
    w.video_call(&a, REQUEST, b.id, 4242, flags, A_PARAM, A_STR);
    w.drain().expect(&[
        (&b, vec![call_ev_flags(REQUEST, &a, 0, flags, A_PARAM, A_STR)]),
        (&a, vec![call_ev_flags(REPLY, &b, 0, flags, 0, b"")]),
    ]);
    assert_eq!(w.core.calls_in_progress(), 1);
    assert!(w.core.next_deadline().is_some_and(|t| t <= w.now + secs(60)));
    // Every later event of this call carries the Request's flags.
    w.reply(&b, &a, 0, B_PARAM, B_STR);
    let d = w.drain();
    let [ServerMsg::VideoCall { ev, .. }] = d.to(a.conn) else { panic!("{d:?}") };
    let room = ev.param;
    d.expect(&[
        (&a, vec![call_ev_flags(START, &b, 0, flags, room, B_STR)]),
        (&b, vec![call_ev_flags(START, &a, 0, flags, room, B_STR)]),
    ]);
    w.finish(&b, &a, 0, 1, b"");
    w.drain().expect(&[
        (&a, vec![call_ev_flags(FINISH, &b, 0, flags, 1, b"")]),
        (&b, vec![call_ev_flags(FINISH, &a, 0, flags, 1, b"")]),
    ]);
    // Two calls between different people ring at the same time.
    w.ring(&a, &b);
    let d_user = w.login("dave");
    w.ring(&c, &d_user);
    assert_eq!(w.core.calls_in_progress(), 2);
}

// ----- the table: answering ---------------------------------------------------

/// "B sends Reply 0 while ringing" → room R allocated; A and B: START(param = R),
/// user_str of B's Reply. The ringing timer no longer applies.
#[test]
fn row_callee_reply_0_starts_call_in_a_room() {
    let (mut w, a, b, _) = three();
    let room = w.start(&a, &b);
    assert_ne!(room, 0);
    assert_ne!(room, u32::MAX);
    // Well past the ringing time, the call is still on.
    w.advance(secs(120), &[]);
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 1);
    // A second Reply 0 changes nothing.
    w.reply(&b, &a, 0, B_PARAM, B_STR);
    w.drain().expect_nothing();
    w.finish(&a, &b, 0, 0, b"");
    w.drain().expect(&[(&a, vec![call_ev(FINISH, &b, 0, 0, b"")]), (&b, vec![call_ev(FINISH, &a, 0, 0, b"")])]);
}

/// "B sends Reply c ≠ 0 while ringing" → A: REPLY(c) with B's param/user_str;
/// B receives nothing; the call is over.
#[test]
fn row_callee_reply_nonzero_refuses_call() {
    for code in [AC_ERROR_VIDEOCALL_REJECT, 12345] {
        let (mut w, a, b, _) = three();
        w.ring(&a, &b);
        w.reply(&b, &a, code, B_PARAM, B_STR);
        w.drain().expect(&[(&a, vec![call_ev(REPLY, &b, code, B_PARAM, B_STR)])]);
        assert_eq!(w.core.calls_in_progress(), 0);
        // The ringing timer is gone with the call.
        w.advance(secs(61), &[]);
        w.drain().expect_nothing();
        w.assert_free_to_call(&b, &a);
    }
}

/// "B sends Finish while ringing" → treated as Reply 100104: A: REPLY(100104).
#[test]
fn row_callee_finish_while_ringing_is_a_refusal() {
    let (mut w, a, b, _) = three();
    w.ring(&a, &b);
    w.finish(&b, &a, 0, B_PARAM, B_STR);
    w.drain().expect(&[(&a, vec![call_ev(REPLY, &b, AC_ERROR_VIDEOCALL_REJECT, B_PARAM, B_STR)])]);
    assert_eq!(w.core.calls_in_progress(), 0);
    w.assert_free_to_call(&a, &b);
}

/// "A sends Reply 100101 while ringing" → B: REPLY(100101) with A's
/// param/user_str; A receives nothing; the call is over.
#[test]
fn row_caller_reply_cancel_while_ringing() {
    // 100101, and any other non-zero code from the caller, cancels.
    for code in [AC_ERROR_VIDEOCALL_CANCEL, AC_ERROR_VIDEOCALL_REJECT, 7] {
        let (mut w, a, b, _) = three();
        w.ring(&a, &b);
        w.reply(&a, &b, code, A_PARAM, A_STR);
        w.drain().expect(&[(&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_CANCEL, A_PARAM, A_STR)])]);
        assert_eq!(w.core.calls_in_progress(), 0);
        w.advance(secs(61), &[]);
        w.drain().expect_nothing();
        w.assert_free_to_call(&b, &a);
    }
}

/// "A sends Finish while ringing" → B: REPLY(100101); the call is over.
#[test]
fn row_caller_finish_while_ringing_cancels() {
    let (mut w, a, b, _) = three();
    w.ring(&a, &b);
    w.finish(&a, &b, 0, A_PARAM, A_STR);
    w.drain().expect(&[(&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_CANCEL, A_PARAM, A_STR)])]);
    assert_eq!(w.core.calls_in_progress(), 0);
    w.assert_free_to_call(&a, &b);
}

// ----- the table: the ringing timer -------------------------------------------

/// "the ringing timer expires" → A and B: REPLY(100105), at exactly the
/// configured time and not before.
#[test]
fn row_ring_timer_expires_at_exactly_the_configured_time() {
    let (mut w, a, b, _) = three();
    w.advance(secs(3), &[]);
    w.ring(&a, &b);
    w.advance(ms(59_900), &[]);
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 1);
    w.advance(ms(100), &[]);
    w.drain().expect(&[
        (&a, vec![call_ev(REPLY, &b, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]),
        (&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]),
    ]);
    assert_eq!(w.core.calls_in_progress(), 0);
    // A late answer is ignored.
    w.reply(&b, &a, 0, B_PARAM, B_STR);
    w.drain().expect_nothing();
    w.assert_free_to_call(&a, &b);
}

/// The ringing time is configurable.
#[test]
fn row_ring_timer_is_configurable() {
    let mut w =
        World::with_config(CoreConfig { ring_timeout: secs(5), keepalive_timeout: secs(15), ..CoreConfig::default() });
    let a = w.login("alice");
    let b = w.login("bob");
    w.ring(&a, &b);
    w.advance(ms(4_999), &[]);
    w.drain().expect_nothing();
    w.advance(ms(1), &[]);
    w.drain().expect(&[
        (&a, vec![call_ev(REPLY, &b, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]),
        (&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]),
    ]);
}

/// Each call has its own ringing timer: a cancelled call's timer does not end
/// the next call between the same users.
#[test]
fn row_ring_timer_restarts_for_each_call() {
    let (mut w, a, b, _) = three();
    w.ring(&a, &b);
    w.advance(secs(30), &[]);
    w.reply(&a, &b, AC_ERROR_VIDEOCALL_CANCEL, 0, b"");
    w.drain().expect(&[(&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_CANCEL, 0, b"")])]);
    w.advance(secs(10), &[]);
    w.ring(&a, &b); // at t0 + 40 s
    w.advance(secs(40), &[]); // t0 + 80 s: the first call's timer (t0 + 60 s) has passed
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 1);
    w.advance(secs(20), &[]); // t0 + 100 s
    w.drain().expect(&[
        (&a, vec![call_ev(REPLY, &b, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]),
        (&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]),
    ]);
    assert_eq!(w.now, w.t0 + secs(100));
}

/// `next_deadline()` tells the event loop when the ringing call times out.
#[test]
fn next_deadline_is_set_while_a_call_rings() {
    // With a long keep-alive the ringing timer is the earliest deadline.
    let mut w = World::with_config(CoreConfig {
        ring_timeout: secs(60),
        keepalive_timeout: secs(3600),
        ..CoreConfig::default()
    });
    let a = w.login("alice");
    let b = w.login("bob");
    assert_eq!(w.core.next_deadline(), Some(w.t0 + secs(3600)));
    w.advance(secs(10), &[]);
    w.ring(&a, &b);
    assert_eq!(w.core.next_deadline(), Some(w.t0 + secs(70)));
    // An event loop that sleeps until the deadline and calls on_timeout.
    w.now = w.core.next_deadline().unwrap();
    w.core.on_timeout(w.now);
    w.drain().expect(&[
        (&a, vec![call_ev(REPLY, &b, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]),
        (&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]),
    ]);

    // With the default timings there is always a deadline while ringing, no
    // later than the ringing time.
    let (mut w, a, b, _) = three();
    w.ring(&a, &b);
    let ring_end = w.now + secs(60);
    for _ in 0..59 {
        let next = w.core.next_deadline();
        assert!(next.is_some_and(|t| t <= ring_end), "{next:?}");
        w.advance(secs(1), &[]);
    }
    assert_eq!(w.core.calls_in_progress(), 1);
}

// ----- the table: lost connections --------------------------------------------

/// "A's or B's connection is lost while ringing" (closed socket) → the other:
/// REPLY(100106).
#[test]
fn row_connection_closed_while_ringing() {
    for caller_lost in [true, false] {
        let (mut w, a, b, c) = three();
        w.ring(&a, &b);
        let (lost, other) = if caller_lost { (&a, &b) } else { (&b, &a) };
        w.close(lost.conn);
        w.drain().expect(&[(other, vec![call_ev(REPLY, lost, AC_ERROR_VIDEOCALL_DISCONNECT, 0, b"")])]);
        assert_eq!(w.core.calls_in_progress(), 0);
        assert_eq!(w.core.online_users(), 2);
        // A closed connection reported twice is harmless.
        w.close(lost.conn);
        w.drain().expect_nothing();
        w.assert_free_to_call(&c, other);
    }
}

/// "A's or B's connection is lost while ringing" (keep-alive silence) → the
/// lost connection is closed after exactly the keep-alive time; the other:
/// REPLY(100106).
#[test]
fn row_connection_silent_while_ringing() {
    for caller_lost in [true, false] {
        let (mut w, a, b, c) = three();
        w.ring(&a, &b); // at t0: A's last message
        let (lost, other) = if caller_lost { (&a, &b) } else { (&b, &a) };
        w.advance(ms(14_900), &[lost.conn]);
        w.drain().expect_nothing();
        w.advance(ms(100), &[lost.conn]);
        w.drain().expect_with_closes(
            &[(other, vec![call_ev(REPLY, lost, AC_ERROR_VIDEOCALL_DISCONNECT, 0, b"")])],
            &[(lost.conn, CloseReason::KeepaliveTimeout)],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
        w.assert_free_to_call(&c, other);
    }
}

/// "A's or B's connection is lost during the call" (closed socket) → the
/// other: FINISH(100106).
#[test]
fn row_connection_closed_during_call() {
    for caller_lost in [true, false] {
        let (mut w, a, b, c) = three();
        w.start(&a, &b);
        let (lost, other) = if caller_lost { (&a, &b) } else { (&b, &a) };
        w.close(lost.conn);
        w.drain().expect(&[(other, vec![call_ev(FINISH, lost, AC_ERROR_VIDEOCALL_DISCONNECT, 0, b"")])]);
        assert_eq!(w.core.calls_in_progress(), 0);
        w.assert_free_to_call(other, &c);
    }
}

/// "A's or B's connection is lost during the call" (keep-alive silence) → the
/// other: FINISH(100106).
#[test]
fn row_connection_silent_during_call() {
    for caller_lost in [true, false] {
        let (mut w, a, b, c) = three();
        w.start(&a, &b); // at t0: the last messages of A and B
        let (lost, other) = if caller_lost { (&a, &b) } else { (&b, &a) };
        w.advance(ms(14_999), &[lost.conn]);
        w.drain().expect_nothing();
        w.advance(ms(1), &[lost.conn]);
        w.drain().expect_with_closes(
            &[(other, vec![call_ev(FINISH, lost, AC_ERROR_VIDEOCALL_DISCONNECT, 0, b"")])],
            &[(lost.conn, CloseReason::KeepaliveTimeout)],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
        w.assert_free_to_call(other, &c);
    }
}

/// Keep-alive counts from the last message: a connection that talks late in a
/// silent stretch is not dropped at the first timer.
#[test]
fn row_connection_silent_counts_from_last_message() {
    let (mut w, a, b, _) = three();
    w.ring(&a, &b);
    w.advance(secs(10), &[a.conn]);
    w.send(a.conn, ClientMsg::Ping { seq: 9 }); // t0 + 10 s
    w.advance(secs(14), &[a.conn]); // t0 + 24 s
    w.drain().expect_nothing();
    w.advance(secs(1), &[a.conn]); // t0 + 25 s
    w.drain().expect_with_closes(
        &[(&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_DISCONNECT, 0, b"")])],
        &[(a.conn, CloseReason::KeepaliveTimeout)],
    );
}

// ----- the table: finishing ---------------------------------------------------

/// "A or B sends Finish during the call" → A and B: FINISH(the code given,
/// default 0), with the finisher's param/user_str.
#[test]
fn row_finish_during_call_reaches_both() {
    for (caller_ends, code) in [(true, 0), (false, 0), (true, 777), (false, AC_ERROR_VIDEOCALL_TIMEOUT)] {
        let (mut w, a, b, _) = three();
        w.start(&a, &b);
        let (by, other, param, s) = if caller_ends { (&a, &b, A_PARAM, A_STR) } else { (&b, &a, B_PARAM, B_STR) };
        w.finish(by, other, code, param, s);
        w.drain().expect(&[
            (by, vec![call_ev(FINISH, other, code, param, s)]),
            (other, vec![call_ev(FINISH, by, code, param, s)]),
        ]);
        assert_eq!(w.core.calls_in_progress(), 0);
        // A second Finish finds no call.
        w.finish(other, by, 0, 0, b"");
        w.drain().expect_nothing();
        w.assert_free_to_call(&b, &a);
    }
}

// ----- the table: logging out -------------------------------------------------

/// "A logs out while ringing" → as if A cancelled: B: REPLY(100101).
#[test]
fn row_logout_while_ringing_as_caller_cancels() {
    let (mut w, a, b, c) = three();
    w.ring(&a, &b);
    w.logout(&a);
    w.drain().expect_with_closes(
        &[(&b, vec![call_ev(REPLY, &a, AC_ERROR_VIDEOCALL_CANCEL, 0, b"")])],
        &[(a.conn, CloseReason::Logout)],
    );
    assert_eq!(w.core.calls_in_progress(), 0);
    assert_eq!(w.core.online_users(), 2);
    w.assert_free_to_call(&c, &b);
}

/// "B logs out while ringing" → as if B refused: A: REPLY(100104).
#[test]
fn row_logout_while_ringing_as_callee_refuses() {
    let (mut w, a, b, c) = three();
    w.ring(&a, &b);
    w.logout(&b);
    w.drain().expect_with_closes(
        &[(&a, vec![call_ev(REPLY, &b, AC_ERROR_VIDEOCALL_REJECT, 0, b"")])],
        &[(b.conn, CloseReason::Logout)],
    );
    assert_eq!(w.core.calls_in_progress(), 0);
    w.assert_free_to_call(&a, &c);
}

/// "A or B logs out during the call" → as if it had sent Finish: both FINISH(0).
#[test]
fn row_logout_during_call_finishes_for_both() {
    for caller_leaves in [true, false] {
        let (mut w, a, b, c) = three();
        w.start(&a, &b);
        let (gone, other) = if caller_leaves { (&a, &b) } else { (&b, &a) };
        w.logout(gone);
        w.drain().expect_with_closes(
            &[(gone, vec![call_ev(FINISH, other, 0, 0, b"")]), (other, vec![call_ev(FINISH, gone, 0, 0, b"")])],
            &[(gone.conn, CloseReason::Logout)],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
        w.assert_free_to_call(other, &c);
    }
}

// ----- the table: logging in elsewhere ----------------------------------------

/// "the same user logs in again elsewhere" while ringing → the old session gets
/// LINKCLOSE(209) and is closed; its peer gets REPLY(100106).
#[test]
fn row_same_user_logs_in_elsewhere_while_ringing() {
    for caller_moves in [true, false] {
        let (mut w, a, b, _) = three();
        w.ring(&a, &b);
        let (moved, other) = if caller_moves { (&a, &b) } else { (&b, &a) };
        let conn = w.connect();
        let again = w.login_on(conn, std::str::from_utf8(&moved.name).unwrap());
        assert_eq!(again.id, moved.id);
        w.drain().expect_with_closes(
            &[
                (moved, vec![ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN }]),
                (other, vec![call_ev(REPLY, moved, AC_ERROR_VIDEOCALL_DISCONNECT, 0, b"")]),
            ],
            &[(moved.conn, CloseReason::LoggedInElsewhere)],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
        assert_eq!(w.core.online_users(), 3);
        // The new session is free, and the old connection is forgotten.
        w.close(moved.conn);
        w.drain().expect_nothing();
        w.assert_free_to_call(&again, other);
    }
}

/// "the same user logs in again elsewhere" during the call → the old session
/// gets LINKCLOSE(209) and is closed; its peer gets FINISH(100106).
#[test]
fn row_same_user_logs_in_elsewhere_during_call() {
    for caller_moves in [true, false] {
        let (mut w, a, b, _) = three();
        w.start(&a, &b);
        let (moved, other) = if caller_moves { (&a, &b) } else { (&b, &a) };
        let again = w.login(std::str::from_utf8(&moved.name).unwrap());
        assert_eq!(again.id, moved.id);
        w.drain().expect_with_closes(
            &[
                (moved, vec![ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN }]),
                (other, vec![call_ev(FINISH, moved, AC_ERROR_VIDEOCALL_DISCONNECT, 0, b"")]),
            ],
            &[(moved.conn, CloseReason::LoggedInElsewhere)],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
        w.assert_free_to_call(other, &again);
    }
}

// ----- the table: events that do not fit the call's state ---------------------

/// Reply with no ringing call (no call at all, or a call in progress) is ignored.
#[test]
fn row_event_not_fitting_reply_without_ringing_call_is_ignored() {
    let (mut w, a, b, c) = three();
    // No call at all.
    w.reply(&b, &a, 0, B_PARAM, B_STR);
    w.reply(&b, &a, AC_ERROR_VIDEOCALL_REJECT, B_PARAM, B_STR);
    w.reply(&a, &b, AC_ERROR_VIDEOCALL_CANCEL, A_PARAM, A_STR);
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 0);
    // A call in progress: Replies from either side change nothing.
    let room = w.start(&a, &b);
    for (x, y) in [(&a, &b), (&b, &a)] {
        for code in [0, AC_ERROR_VIDEOCALL_CANCEL, AC_ERROR_VIDEOCALL_REJECT] {
            w.reply(x, y, code, 1, b"r");
            w.drain().expect_nothing();
        }
    }
    // The call's room still admits its parties, and the call finishes normally.
    w.enter(&a, room);
    w.drain().expect(&[(&a, enter_ok(room, &[&a]))]);
    w.finish(&b, &a, 0, B_PARAM, B_STR);
    w.drain().expect(&[
        (&a, vec![call_ev(FINISH, &b, 0, B_PARAM, B_STR), ServerMsg::LeftRoom { room_id: room }]),
        (&b, vec![call_ev(FINISH, &a, 0, B_PARAM, B_STR)]),
    ]);
    w.assert_free_to_call(&c, &a);
}

/// Finish with no call is ignored.
#[test]
fn row_event_not_fitting_finish_without_call_is_ignored() {
    let (mut w, a, b, _) = three();
    w.finish(&a, &b, 0, A_PARAM, A_STR);
    w.finish(&b, &a, 5, B_PARAM, B_STR);
    w.drain().expect_nothing();
    // After a call ended, a late Finish is ignored too.
    w.start(&a, &b);
    w.finish(&a, &b, 0, 0, b"");
    w.drain();
    w.finish(&b, &a, 0, 0, b"");
    w.drain().expect_nothing();
    w.assert_free_to_call(&a, &b);
}

/// A Reply with code 0 from the caller is ignored: the call keeps ringing.
#[test]
fn row_event_not_fitting_reply_0_from_caller_is_ignored() {
    let (mut w, a, b, _) = three();
    w.ring(&a, &b);
    w.reply(&a, &b, 0, A_PARAM, A_STR);
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 1);
    // Still ringing: B can accept, and the call finishes normally.
    w.reply(&b, &a, 0, B_PARAM, B_STR);
    let d = w.drain();
    let [ServerMsg::VideoCall { ev, .. }] = d.to(b.conn) else { panic!("{d:?}") };
    assert_eq!(ev.event, START);
    w.finish(&a, &b, 0, 0, b"");
    w.drain().expect(&[(&a, vec![call_ev(FINISH, &b, 0, 0, b"")]), (&b, vec![call_ev(FINISH, &a, 0, 0, b"")])]);
}

/// An event naming a user who is not the sender's peer is ignored: the call
/// (ringing or in progress) and the named user are not disturbed.
#[test]
fn row_event_not_fitting_naming_a_user_who_is_not_the_peer_is_ignored() {
    let (mut w, a, b, c) = three();
    let d_user = w.login("dave");
    let nobody = User { conn: ConnId(u64::MAX), id: 987_654, name: Vec::new() };
    w.ring(&a, &b);
    // C and D, also ringing, so that C is someone with a call.
    w.ring(&c, &d_user);
    let strangers = [&c, &d_user, &nobody];
    for x in [&a, &b] {
        for y in strangers {
            for code in [0, AC_ERROR_VIDEOCALL_CANCEL, AC_ERROR_VIDEOCALL_REJECT] {
                w.reply(x, y, code, 1, b"r");
                w.finish(x, y, code, 1, b"f");
            }
        }
    }
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 2);
    // Both ringing calls go on: B accepts A, D accepts C.
    let room_ab = {
        w.reply(&b, &a, 0, B_PARAM, B_STR);
        let d = w.drain();
        let [ServerMsg::VideoCall { ev, .. }] = d.to(a.conn) else { panic!("{d:?}") };
        d.expect(&[
            (&a, vec![call_ev(START, &b, 0, ev.param, B_STR)]),
            (&b, vec![call_ev(START, &a, 0, ev.param, B_STR)]),
        ]);
        ev.param
    };
    w.reply(&d_user, &c, 0, 0, b"");
    let d = w.drain();
    let [ServerMsg::VideoCall { ev, .. }] = d.to(c.conn) else { panic!("{d:?}") };
    assert_ne!(ev.param, room_ab);
    // In progress: events naming strangers still change nothing.
    for x in [&a, &b] {
        for y in strangers {
            w.reply(x, y, AC_ERROR_VIDEOCALL_CANCEL, 1, b"r");
            w.finish(x, y, 0, 1, b"f");
        }
    }
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 2);
    w.finish(&a, &b, 0, 0, b"");
    w.drain().expect(&[(&a, vec![call_ev(FINISH, &b, 0, 0, b"")]), (&b, vec![call_ev(FINISH, &a, 0, 0, b"")])]);
    w.finish(&c, &d_user, 0, 0, b"");
    w.drain()
        .expect(&[(&c, vec![call_ev(FINISH, &d_user, 0, 0, b"")]), (&d_user, vec![call_ev(FINISH, &c, 0, 0, b"")])]);
}

// ----- rooms ------------------------------------------------------------------

/// "The room id in Start is unique among rooms in use and never collides with a
/// room number that clients enter on their own."
#[test]
fn rooms_call_room_id_is_unique_and_never_an_entered_room() {
    let mut w = World::new();
    let [a, b, c, d, e, f, g] = ["a", "b", "c", "d", "e", "f", "g"].map(|n| w.login(n));
    // C sits in the first room number the server would hand out.
    w.enter(&c, CALL_ROOM_BASE);
    w.drain().expect(&[(&c, enter_ok(CALL_ROOM_BASE, &[&c]))]);
    let r1 = w.start(&a, &b);
    assert_ne!(r1, CALL_ROOM_BASE);
    // Another client takes the number after r1 before the next call starts.
    w.enter(&f, r1.wrapping_add(1));
    w.drain().expect(&[(&f, enter_ok(r1.wrapping_add(1), &[&f]))]);
    let r2 = w.start(&d, &e);
    assert!(![CALL_ROOM_BASE, r1, r1.wrapping_add(1)].contains(&r2), "{r2:#x}");
    // A client entering r1 by number is refused: it belongs to A and B's call.
    w.enter(&g, r1);
    w.drain().expect(&[(&g, vec![ServerMsg::EnterRoomResult { room_id: r1, code: GV_ERR_ROOM_LOCK }])]);
    // Calls end and new ones start: ids in use are still never reused.
    w.finish(&a, &b, 0, 0, b"");
    w.drain();
    let r3 = w.start(&a, &b);
    assert!(![CALL_ROOM_BASE, r2, r1.wrapping_add(1)].contains(&r3), "{r3:#x}");
    // C and F were never disturbed.
    assert_eq!(w.core.calls_in_progress(), 2);
    w.enter(&g, CALL_ROOM_BASE);
    w.drain().expect(&[(&g, enter_ok(CALL_ROOM_BASE, &[&c, &g])), (&c, vec![at_room(CALL_ROOM_BASE, &g, true)])]);
}

/// "A call's room admits only the two parties of that call; anyone else gets
/// WM_GV_ENTERROOM(R, 300)."
#[test]
fn rooms_call_room_admits_only_its_two_parties() {
    let (mut w, a, b, c) = three();
    let d_user = w.login("dave");
    let r = w.start(&a, &b);
    w.enter(&a, r);
    w.drain().expect(&[(&a, enter_ok(r, &[&a]))]);
    // An outsider, and a user in another call, are refused; nobody else hears of it.
    w.ring(&c, &d_user);
    for x in [&c, &d_user] {
        w.enter(x, r);
        w.drain().expect(&[(x, vec![ServerMsg::EnterRoomResult { room_id: r, code: GV_ERR_ROOM_LOCK }])]);
    }
    // The other party is admitted.
    w.enter(&b, r);
    w.drain().expect(&[(&b, enter_ok(r, &[&a, &b])), (&a, vec![at_room(r, &b, true)])]);
    // A party entering again is told it is already in.
    w.enter(&b, r);
    w.drain().expect(&[(&b, vec![ServerMsg::EnterRoomResult { room_id: r, code: GV_ERR_ROOM_ALREADIN }])]);
    // A party that leaves may come back while the call lasts.
    w.send(b.conn, ClientMsg::LeaveRoom { room_id: r });
    w.drain().expect(&[(&a, vec![at_room(r, &b, false)])]);
    w.enter(&b, r);
    w.drain().expect(&[(&b, enter_ok(r, &[&a, &b])), (&a, vec![at_room(r, &b, true)])]);
}

/// "It closes when the call finishes: parties still inside leave it and the
/// remaining one sees WM_GV_USERATROOM(peer, 0)." After FINISH each party
/// inside gets UserAtRoom(peer, left) then LeftRoom.
#[test]
fn rooms_call_room_closes_when_the_call_finishes() {
    // Both parties inside.
    let (mut w, a, b, c) = three();
    let r = w.start(&a, &b);
    w.enter(&a, r);
    w.enter(&b, r);
    w.drain();
    w.finish(&b, &a, 0, B_PARAM, B_STR);
    w.drain().expect(&[
        (&a, vec![call_ev(FINISH, &b, 0, B_PARAM, B_STR), at_room(r, &b, false), ServerMsg::LeftRoom { room_id: r }]),
        (&b, vec![call_ev(FINISH, &a, 0, B_PARAM, B_STR), at_room(r, &a, false), ServerMsg::LeftRoom { room_id: r }]),
    ]);
    // Out of the room: leaving again is a no-op, entering another room does
    // not mention the old one.
    w.send(a.conn, ClientMsg::LeaveRoom { room_id: u32::MAX });
    w.drain().expect_nothing();
    w.enter(&c, 42);
    w.enter(&a, 42);
    w.drain().expect(&[(&c, enter_ok(42, &[&c])), (&a, enter_ok(42, &[&c, &a])), (&c, vec![at_room(42, &a, true)])]);
    // The closed call room is no longer locked to its parties.
    w.enter(&c, r);
    w.drain().expect(&[(&c, enter_ok(r, &[&c])), (&a, vec![at_room(42, &c, false)])]);

    // Only one party inside: it just leaves.
    let (mut w, a, b, _) = three();
    let r = w.start(&a, &b);
    w.enter(&b, r);
    w.drain();
    w.finish(&a, &b, 0, 0, b"");
    w.drain().expect(&[
        (&a, vec![call_ev(FINISH, &b, 0, 0, b"")]),
        (&b, vec![call_ev(FINISH, &a, 0, 0, b""), ServerMsg::LeftRoom { room_id: r }]),
    ]);
}

/// The call room also closes when the call ends by a lost connection, a
/// logout or a login elsewhere: the remaining party sees the peer leave, then
/// leaves.
#[test]
fn rooms_call_room_closes_when_a_party_is_lost_or_logs_out() {
    for how in ["closed", "silent", "logout", "elsewhere"] {
        let (mut w, a, b, _) = three();
        let r = w.start(&a, &b);
        w.enter(&a, r);
        w.enter(&b, r);
        w.drain();
        let left = |peer: &User| vec![at_room(r, peer, false), ServerMsg::LeftRoom { room_id: r }];
        let d = match how {
            "closed" => {
                w.close(a.conn);
                w.drain()
            }
            "silent" => {
                w.advance(secs(15), &[a.conn]);
                w.drain()
            }
            "logout" => {
                w.logout(&a);
                w.drain()
            }
            _ => {
                let a2 = w.login("alice");
                assert_eq!(a2.id, a.id);
                w.drain()
            }
        };
        let (code, close) = match how {
            "closed" => (AC_ERROR_VIDEOCALL_DISCONNECT, None),
            "silent" => (AC_ERROR_VIDEOCALL_DISCONNECT, Some(CloseReason::KeepaliveTimeout)),
            "logout" => (0, Some(CloseReason::Logout)),
            _ => (AC_ERROR_VIDEOCALL_DISCONNECT, Some(CloseReason::LoggedInElsewhere)),
        };
        let mut want_b = vec![call_ev(FINISH, &a, code, 0, b"")];
        want_b.extend(left(&a));
        assert_eq!(d.to(b.conn), want_b, "{how}");
        assert_eq!(d.closed, close.map(|c| (a.conn, c)).into_iter().collect::<Vec<_>>(), "{how}");
        match how {
            "logout" => {
                let mut want_a = vec![call_ev(FINISH, &b, 0, 0, b"")];
                want_a.extend(left(&b));
                assert_eq!(d.to(a.conn), want_a);
            }
            "elsewhere" => {
                assert_eq!(d.to(a.conn).first(), Some(&ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN }))
            }
            _ => {}
        }
        // The room is gone: B entering it makes an ordinary room of it.
        w.enter(&b, r);
        w.drain().expect(&[(&b, enter_ok(r, &[&b]))]);
    }
}

/// "A client is in at most one room at a time; entering another room leaves
/// the current one."
#[test]
fn rooms_entering_a_room_leaves_the_current_one() {
    let (mut w, a, b, c) = three();
    w.enter(&a, 10);
    w.enter(&c, 10);
    w.drain();
    // A enters room 11: C sees A leave room 10.
    w.enter(&a, 11);
    w.drain().expect(&[(&a, enter_ok(11, &[&a])), (&c, vec![at_room(10, &a, false)])]);
    // A and B start a call; A goes from room 11 (now empty) to the call room
    // while C, back in room 10 with B, sees B leave when B enters it.
    w.enter(&b, 10);
    w.drain().expect(&[(&b, enter_ok(10, &[&c, &b])), (&c, vec![at_room(10, &b, true)])]);
    let r = w.start(&a, &b);
    w.enter(&a, r);
    w.drain().expect(&[(&a, enter_ok(r, &[&a]))]);
    w.enter(&b, r);
    w.drain().expect(&[
        (&b, enter_ok(r, &[&a, &b])),
        (&a, vec![at_room(r, &b, true)]),
        (&c, vec![at_room(10, &b, false)]),
    ]);
    // Entering an ordinary room during the call leaves the call room.
    w.enter(&a, 10);
    w.drain().expect(&[
        (&a, enter_ok(10, &[&c, &a])),
        (&b, vec![at_room(r, &a, false)]),
        (&c, vec![at_room(10, &a, true)]),
    ]);
    // A refused enter leaves the user where it was.
    w.enter(&c, r);
    w.drain().expect(&[(&c, vec![ServerMsg::EnterRoomResult { room_id: r, code: GV_ERR_ROOM_LOCK }])]);
    w.enter(&b, 10);
    w.drain().expect(&[
        (&b, enter_ok(10, &[&c, &a, &b])),
        (&c, vec![at_room(10, &b, true)]),
        (&a, vec![at_room(10, &b, true)]),
    ]);
}

/// On entering: EnterRoomResult(0), then RoomUsers listing everyone, the
/// receiver included; members already inside get UserAtRoom(entered).
#[test]
fn rooms_entering_lists_everyone_and_tells_the_members() {
    let (mut w, a, b, c) = three();
    w.enter(&a, 7);
    w.drain().expect(&[(&a, enter_ok(7, &[&a]))]);
    w.enter(&b, 7);
    w.drain().expect(&[(&b, enter_ok(7, &[&a, &b])), (&a, vec![at_room(7, &b, true)])]);
    w.enter(&c, 7);
    w.drain().expect(&[
        (&c, enter_ok(7, &[&a, &b, &c])),
        (&a, vec![at_room(7, &c, true)]),
        (&b, vec![at_room(7, &c, true)]),
    ]);
    // Leaving tells the others; a lost connection too.
    w.send(b.conn, ClientMsg::LeaveRoom { room_id: 7 });
    w.drain().expect(&[(&a, vec![at_room(7, &b, false)]), (&c, vec![at_room(7, &b, false)])]);
    w.close(c.conn);
    w.drain().expect(&[(&a, vec![at_room(7, &c, false)])]);
    // The call room follows the same order.
    let r = w.start(&a, &b);
    w.enter(&b, r);
    w.drain().expect(&[(&b, enter_ok(r, &[&b]))]);
    w.enter(&a, r);
    w.drain().expect(&[(&a, enter_ok(r, &[&b, &a])), (&b, vec![at_room(r, &a, true)])]);
}
