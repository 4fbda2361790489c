//! Unit tests of [`Core`] in simulated time, one per situation of the video-call
//! contract (`spec/videocall.md`), first without a business server, then
//! (`business_*`) with one linked: what it is asked, what it is told, what its
//! answers and commands do, and what happens when it goes away.
//!
//! Time is `World::now`, taken once from `Instant::now()` and only ever moved
//! forward by adding durations; nothing sleeps. While time passes, every open
//! connection except the ones named silent sends a `Ping` each second, so that
//! only the connections a test wants to go quiet trip the keep-alive.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::journal::{CallRecord, EndedBy, Journal, Missed, Outcome, Restored, MISSED_CALLS_INFO};
use super::{
    CloseReason, ConnId, Core, CoreConfig, Output, ANY_ROOM, CALL_ROOM_BASE, CLUSTER_CALL_ROOM_BASE, DRAIN_CODE,
    KEY_FRAME_INTERVAL, NAMED_ROOM_BASE,
};
use crate::wire::constants::*;
use crate::wire::protocol::{CallEvent, ClientMsg, Role, RoomUser, ServerMsg, DEVICE_CAMERA, PROTOCOL_VERSION};

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
    /// As the business server gave them (none: the name, level 0).
    nick: Vec<u8>,
    level: u32,
}

impl User {
    fn room_user(&self) -> RoomUser {
        RoomUser {
            user_id: self.id,
            name: self.name.clone(),
            nick: self.nick.clone(),
            level: self.level,
            camera: GV_CAMERA_STATE_NORMAL,
            mic: GV_AUDIO_STATE_NORMAL,
        }
    }
}

/// What the core asked for since the last drain, `Pong`s left out.
#[derive(Debug, Default, Clone)]
struct Drained {
    /// Messages per connection, in order.
    sent: BTreeMap<ConnId, Vec<ServerMsg>>,
    /// Connections closed, in order.
    closed: Vec<(ConnId, CloseReason)>,
    /// Connections to read again (what paused them is over).
    resumed: Vec<ConnId>,
    /// Journal events, in order.
    journal: Vec<Journal>,
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

    /// Exactly `to_bs` to the business server, exactly `sends` to the others,
    /// and no closes.
    #[track_caller]
    fn expect_biz(&self, bs: &Biz, to_bs: Vec<ServerMsg>, sends: &[(&User, Vec<ServerMsg>)]) {
        self.expect_biz_with_closes(bs, to_bs, sends, &[]);
    }

    /// Exactly `to_bs` to the business server, exactly `sends` to the others,
    /// exactly these closes.
    #[track_caller]
    fn expect_biz_with_closes(
        &self,
        bs: &Biz,
        to_bs: Vec<ServerMsg>,
        sends: &[(&User, Vec<ServerMsg>)],
        closes: &[(ConnId, CloseReason)],
    ) {
        assert_eq!(self.to(bs.conn), to_bs.as_slice(), "sent to the business server");
        let mut others = self.clone();
        others.sent.remove(&bs.conn);
        others.expect_with_closes(sends, closes);
    }
}

impl From<Vec<Output>> for Drained {
    fn from(outputs: Vec<Output>) -> Drained {
        let mut d = Drained::default();
        for o in outputs {
            match o {
                Output::Send(conn, msg) => d.sent.entry(conn).or_default().push(msg),
                Output::Close(conn, reason) => d.closed.push((conn, reason)),
                // A media frame is kept as the message its bytes encode.
                Output::Media(conn, frame) => {
                    let msg = ServerMsg::decode(&frame.bytes[4..]).expect("media frame decodes");
                    d.sent.entry(conn).or_default().push(msg);
                }
                Output::Resume(conn) => d.resumed.push(conn),
                Output::Journal(j) => d.journal.push(j),
            }
        }
        d
    }
}

/// The business server's end of its link to the core.
#[derive(Debug)]
struct Biz {
    conn: ConnId,
}

/// A connection not logged in, as a `User` for [`Drained::expect`].
fn anon(conn: ConnId) -> User {
    User { conn, id: 0, name: Vec::new(), nick: Vec::new(), level: 0 }
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
        Drained::from(std::mem::take(&mut self.pending))
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
        self.raw_connect_on(false, "127.0.0.1")
    }

    /// A new transport connection on the client listener or (`business_port`)
    /// the business listener, from `ip`.
    fn raw_connect_on(&mut self, business_port: bool, ip: &str) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.core.on_connect(self.now, conn, business_port, ip.into());
        self.open.insert(conn);
        conn
    }

    /// A new connection that has completed the handshake.
    fn connect(&mut self) -> ConnId {
        let conn = self.raw_connect();
        self.send(
            conn,
            ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 },
        );
        let keepalive_ms = self.core.config().keepalive_timeout.as_millis() as u32;
        assert_eq!(
            self.take_conn(conn),
            vec![ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms, token: 0 }]
        );
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
        let [ServerMsg::LoginResult { user_id, code: 0, name: got, level: 0, nick, address }] = msgs.as_slice() else {
            panic!("login of {name:?}: unexpected {msgs:?}");
        };
        assert_eq!(*got, name);
        assert_eq!(*nick, name, "with no business server the nick name is the user name");
        assert_eq!(*address, b"127.0.0.1", "the address the server sees");
        assert!(*user_id > 0, "user ids are positive");
        User { conn, id: *user_id, nick: name.clone(), name, level: 0 }
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

/// The address the business server's connection comes from (in the tests).
const BS_IP: &str = "10.0.0.2";

/// Helpers for a business server linked to the core.
impl World {
    /// Connects on the business listener and completes the handshake with
    /// the configured secret: asserts exactly `Welcome` and that it is linked.
    fn link_business(&mut self) -> Biz {
        let secret = self.core.config().business_secret.clone().unwrap_or_default();
        let conn = self.raw_connect_on(true, BS_IP);
        self.send(conn, ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Business as u8, secret, token: 0 });
        let keepalive_ms = self.core.config().keepalive_timeout.as_millis() as u32;
        let bs = Biz { conn };
        let token = self.core.business_token;
        self.drain().expect_biz(&bs, vec![ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms, token }], &[]);
        assert!(self.core.business_linked());
        bs
    }

    /// A message from the business server.
    fn biz(&mut self, bs: &Biz, msg: ClientMsg) {
        self.send(bs.conn, msg);
    }

    /// The business server answers a call question.
    fn verdict(&mut self, bs: &Biz, query: u32, code: u32) {
        self.biz(bs, ClientMsg::BizCallVerdict { query, code });
    }

    /// `BRAS_VideoCallControl(FINISH, user, code, …)`.
    fn forced_finish(&mut self, bs: &Biz, user: u32, code: u32, param: u32, s: &[u8]) {
        let ev = CallEvent { event: FINISH, user_id: user, error_code: code, flags: 0, param, user_str: s.to_vec() };
        self.biz(bs, ClientMsg::BizVideoCall(ev));
    }

    /// `BRAS_UserInfoControl(user, KICKOUT, wparam, …)`.
    fn kick(&mut self, bs: &Biz, user: u32, wparam: u32) {
        let ctrl = BRAS_USERINFO_CTRLCODE_KICKOUT;
        self.biz(bs, ClientMsg::BizUserControl { user_id: user, ctrl, wparam, lparam: 0, text: b"bye".to_vec() });
    }

    /// A requests B (A's param and user_str): asserts that only the business
    /// server hears of it (`BizAskCall`), and returns the question's id.
    fn ask_call(&mut self, bs: &Biz, a: &User, b: &User) -> u32 {
        let calls = self.core.calls_in_progress();
        self.request(a, b, A_PARAM, A_STR);
        let d = self.drain();
        let query = match d.to(bs.conn) {
            [ServerMsg::BizAskCall { query, .. }] => *query,
            other => panic!("business server not asked: {other:?}"),
        };
        let ask = ServerMsg::BizAskCall {
            query,
            src: a.id,
            tar: b.id,
            flags: FLAGS,
            param: A_PARAM,
            user_str: A_STR.to_vec(),
        };
        d.expect_biz(bs, vec![ask], &[]);
        assert_eq!(self.core.calls_in_progress(), calls + 1);
        query
    }

    /// A requests B and the business server lets it through: asserts exactly
    /// B ← REQUEST and A ← REPLY(0), and nothing more to the business server.
    fn ring_vetted(&mut self, bs: &Biz, a: &User, b: &User) {
        let query = self.ask_call(bs, a, b);
        self.verdict(bs, query, 0);
        self.drain().expect_biz(
            bs,
            vec![],
            &[(b, vec![call_ev(REQUEST, a, 0, A_PARAM, A_STR)]), (a, vec![call_ev(REPLY, b, 0, 0, b"")])],
        );
    }

    /// A calls B, the business server lets it through and B accepts: asserts
    /// both ← START(room) and the business server ← REPLY(src B), START(src A).
    fn start_vetted(&mut self, bs: &Biz, a: &User, b: &User) -> u32 {
        self.ring_vetted(bs, a, b);
        self.reply(b, a, 0, B_PARAM, B_STR);
        let d = self.drain();
        let room = match d.to(a.conn) {
            [ServerMsg::VideoCall { ev, .. }] if ev.event == START => ev.param,
            other => panic!("caller did not get START: {other:?}"),
        };
        d.expect_biz(
            bs,
            vec![note(REPLY, b.id, a.id, 0, B_PARAM, B_STR), note(START, a.id, b.id, 0, room, B_STR)],
            &[(a, vec![call_ev(START, b, 0, room, B_STR)]), (b, vec![call_ev(START, a, 0, room, B_STR)])],
        );
        room
    }

    /// With the business server linked, A and B are free: A can ring B, then cancels.
    fn assert_free_to_call_vetted(&mut self, bs: &Biz, a: &User, b: &User) {
        self.ring_vetted(bs, a, b);
        self.reply(a, b, AC_ERROR_VIDEOCALL_CANCEL, 0, b"");
        let cancel = AC_ERROR_VIDEOCALL_CANCEL;
        self.drain().expect_biz(
            bs,
            vec![note(REPLY, a.id, b.id, cancel, 0, b"")],
            &[(b, vec![call_ev(REPLY, a, cancel, 0, b"")])],
        );
        assert_eq!(self.core.calls_in_progress(), 0);
    }

    /// Sends `Login(name, "pw")` on `conn`: asserts that only the business
    /// server hears of it (`BizAskVerify` with the connection's address), and
    /// returns the question's id.
    fn ask_login_on(&mut self, bs: &Biz, conn: ConnId, name: &str) -> u32 {
        let name = name.as_bytes().to_vec();
        self.send(conn, ClientMsg::Login { name: name.clone(), password: b"pw".to_vec(), pass_enc_type: 0 });
        let d = self.drain();
        let query = match d.to(bs.conn) {
            [ServerMsg::BizAskVerify { query, .. }] => *query,
            other => panic!("business server not asked: {other:?}"),
        };
        let ask =
            ServerMsg::BizAskVerify { query, name, password: b"pw".to_vec(), ip: b"127.0.0.1".to_vec(), user_id: 0 };
        d.expect_biz(bs, vec![ask], &[]);
        query
    }

    /// Logs `name` in on `conn`, the business server answering 0 with
    /// `given_id` (0: the server picks) and `level`: asserts the LoginResult
    /// and the business server's `BizUserLogin`.
    fn login_verified_on(&mut self, bs: &Biz, conn: ConnId, name: &str, given_id: u32, level: u32) -> User {
        let query = self.ask_login_on(bs, conn, name);
        let nick = b"Nick".to_vec();
        self.biz(bs, ClientMsg::BizVerifyResult { query, code: 0, user_id: given_id, level, nick });
        let d = self.drain();
        let user_id = match d.to(conn) {
            [ServerMsg::LoginResult { user_id, code: 0, .. }] => *user_id,
            other => panic!("login of {name:?}: unexpected {other:?}"),
        };
        assert!(user_id > 0);
        if given_id != 0 {
            assert_eq!(user_id, given_id, "the business server's id");
        }
        let name = name.as_bytes().to_vec();
        let u = User { conn, id: user_id, name: name.clone(), nick: b"Nick".to_vec(), level };
        d.expect_biz(
            bs,
            vec![ServerMsg::BizUserLogin { user_id, name: name.clone(), level, ip: b"127.0.0.1".to_vec() }],
            &[(
                &u,
                vec![ServerMsg::LoginResult {
                    user_id,
                    code: 0,
                    name,
                    level,
                    nick: b"Nick".to_vec(),
                    address: b"127.0.0.1".to_vec(),
                }],
            )],
        );
        u
    }

    /// Connect, Hello and a verified Login (the server picks the id).
    fn login_verified(&mut self, bs: &Biz, name: &str) -> User {
        let conn = self.connect();
        self.login_verified_on(bs, conn, name, 0, 0)
    }

    /// `u` asks to enter `room_id`: asserts that only the business server
    /// hears of it (`BizAskEnter`), and returns the question's id.
    fn ask_enter(&mut self, bs: &Biz, u: &User, room_id: u32) -> u32 {
        self.send(u.conn, ClientMsg::EnterRoom { room_id, password: b"rpw".to_vec() });
        let d = self.drain();
        let query = match d.to(bs.conn) {
            [ServerMsg::BizAskEnter { query, .. }] => *query,
            other => panic!("business server not asked: {other:?}"),
        };
        let ask =
            ServerMsg::BizAskEnter { query, user_id: u.id, room_id, room_name: Vec::new(), password: b"rpw".to_vec() };
        d.expect_biz(bs, vec![ask], &[]);
        query
    }
}

/// A call event as the business server is told of it (`BizCallNote`),
/// carrying the Request's flags.
fn note(event: u32, src: u32, tar: u32, code: u32, param: u32, s: &[u8]) -> ServerMsg {
    ServerMsg::BizCallNote { event, src, tar, error_code: code, flags: FLAGS, param, user_str: s.to_vec() }
}

fn biz_room(u: &User, room_id: u32, entered: bool) -> ServerMsg {
    ServerMsg::BizUserRoom { user_id: u.id, room_id, entered }
}

fn biz_logout(u: &User, code: u32) -> ServerMsg {
    ServerMsg::BizUserLogout { user_id: u.id, code }
}

/// A video-call event as received from the server by the party whose peer is
/// `peer`, carrying the Request's flags.
fn call_ev(event: u32, peer: &User, code: u32, param: u32, s: &[u8]) -> ServerMsg {
    call_ev_flags(event, peer, code, FLAGS, param, s)
}

fn call_ev_flags(event: u32, peer: &User, code: u32, flags: u32, param: u32, s: &[u8]) -> ServerMsg {
    ServerMsg::VideoCall {
        ev: CallEvent { event, user_id: peer.id, error_code: code, flags, param, user_str: s.to_vec() },
        peer: if peer.id == 0 || peer.name.is_empty() {
            RoomUser { user_id: peer.id, name: Vec::new(), nick: Vec::new(), level: 0, camera: 0, mic: 0 }
        } else {
            peer.room_user()
        },
    }
}

fn enter_ok(room_id: u32, users: &[&User]) -> Vec<ServerMsg> {
    vec![
        ServerMsg::EnterRoomResult { room_id, code: 0 },
        ServerMsg::RoomUsers { room_id, users: users.iter().map(|u| u.room_user()).collect(), more: false },
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
        ClientMsg::Hello { version: PROTOCOL_VERSION + 1, role: Role::Client as u8, secret: vec![], token: 0 },
        ClientMsg::Hello { version: PROTOCOL_VERSION, role: 0x7f, secret: vec![], token: 0 },
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
    w.send(a.conn, ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 });
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
        vec![ServerMsg::LoginResult {
            user_id: b.id,
            code: GV_ERR_ALREADY_LOGIN,
            name: b"bob".to_vec(),
            level: 0,
            nick: b"bob".to_vec(),
            address: vec![],
        }]
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
    let nobody = User { conn: ConnId(u64::MAX), id: 987_654, name: Vec::new(), nick: Vec::new(), level: 0 };
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
        login_timeout: secs(3600),
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
    let nobody = User { conn: ConnId(u64::MAX), id: 987_654, name: Vec::new(), nick: Vec::new(), level: 0 };
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
/// room number that clients enter on their own": the call rooms' range is
/// the calls' alone. Clients cannot enter it, and the refusal is the same
/// whether or not a call's room is live (it tells nothing of which are).
#[test]
fn rooms_call_room_id_is_unique_and_never_an_entered_room() {
    let mut w = World::new();
    let [a, b, c, d, e, f, g] = ["a", "b", "c", "d", "e", "f", "g"].map(|n| w.login(n));
    let refused = |room_id| vec![ServerMsg::EnterRoomResult { room_id, code: GV_ERR_ROOM_LOCK }];
    // C cannot take the first room number the server would hand out.
    w.enter(&c, CALL_ROOM_BASE);
    w.drain().expect(&[(&c, refused(CALL_ROOM_BASE))]);
    let r1 = w.start(&a, &b);
    assert_eq!(r1, CALL_ROOM_BASE);
    // Nor the number after r1, nor the last one.
    for room in [r1 + 1, u32::MAX - 1] {
        w.enter(&f, room);
        w.drain().expect(&[(&f, refused(room))]);
    }
    let r2 = w.start(&d, &e);
    assert!(![CALL_ROOM_BASE, r1].contains(&r2), "{r2:#x}");
    // A client entering r1 by number is refused alike: it belongs to A and B's call.
    w.enter(&g, r1);
    w.drain().expect(&[(&g, refused(r1))]);
    // Calls end and new ones start: ids in use are still never reused.
    w.finish(&a, &b, 0, 0, b"");
    w.drain();
    let r3 = w.start(&a, &b);
    assert!(![CALL_ROOM_BASE, r2, r1.wrapping_add(1)].contains(&r3), "{r3:#x}");
    assert_eq!(w.core.calls_in_progress(), 2);
}

/// In a cluster, call rooms come from the blocks of ids the engine hands
/// out (unique across the servers), skipping ids in use; with none left,
/// from the server's own counter, kept below the blocks' range.
#[test]
fn rooms_call_rooms_come_from_the_cluster_s_blocks_while_they_last() {
    let mut w = World::new();
    let [a, b, c, d, e, f] = ["a", "b", "c", "d", "e", "f"].map(|n| w.login(n));
    let first = CLUSTER_CALL_ROOM_BASE + 8192;
    w.core.add_call_rooms(first, 2);
    // Below the blocks' range: not a block.
    w.core.add_call_rooms(CALL_ROOM_BASE, 100);
    assert_eq!(w.core.call_rooms_left(), 2);
    assert_eq!(w.start(&a, &b), first);
    assert_eq!(w.core.call_rooms_left(), 1);
    assert_eq!(w.start(&c, &d), first + 1);
    assert_eq!(w.core.call_rooms_left(), 0);
    let own = w.start(&e, &f);
    assert!((CALL_ROOM_BASE..CLUSTER_CALL_ROOM_BASE).contains(&own), "{own:#x}");
    // A block whose first id is in use: that one is skipped.
    w.finish(&e, &f, 0, 0, b"");
    w.drain();
    w.core.add_call_rooms(first + 1, 2);
    assert_eq!(w.start(&e, &f), first + 2);
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
    // The closed call room is nobody's to enter.
    w.enter(&c, r);
    w.drain().expect(&[(&c, vec![ServerMsg::EnterRoomResult { room_id: r, code: GV_ERR_ROOM_LOCK }])]);
    w.send(c.conn, ClientMsg::LeaveRoom { room_id: 42 });
    w.drain().expect(&[(&a, vec![at_room(42, &c, false)])]);

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
        // The room is gone: B cannot enter it (nor anyone: it is a call's number).
        w.enter(&b, r);
        w.drain().expect(&[(&b, vec![ServerMsg::EnterRoomResult { room_id: r, code: GV_ERR_ROOM_LOCK }])]);
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

// ----- the business server: linking ------------------------------------------

fn three_with(config: CoreConfig) -> (World, User, User, User) {
    let mut w = World::with_config(config);
    let a = w.login("alice");
    let b = w.login("bob");
    let c = w.login("carol");
    (w, a, b, c)
}

fn with_secret() -> CoreConfig {
    CoreConfig { business_secret: Some(b"s3cret".to_vec()), ..CoreConfig::default() }
}

fn biz_hello(secret: &[u8]) -> ClientMsg {
    ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Business as u8, secret: secret.to_vec(), token: 0 }
}

impl World {
    /// `hello` on a new connection (on the business listener or not) is
    /// refused with exactly `Refused{code}` then closed, and the core forgets
    /// the connection (later messages and its closing do nothing).
    #[track_caller]
    fn assert_refused(&mut self, business_port: bool, hello: ClientMsg, code: u32) {
        let linked = self.core.business_linked();
        let conn = self.raw_connect_on(business_port, BS_IP);
        self.send(conn, hello);
        self.pump();
        assert_eq!(
            std::mem::take(&mut self.pending),
            vec![Output::Send(conn, ServerMsg::Refused { code }), Output::Close(conn, CloseReason::Handshake)]
        );
        self.send(conn, ClientMsg::BizSendBuf { user_id: 1, data: b"x".to_vec() });
        self.send(conn, ClientMsg::Ping { seq: 1 });
        self.close(conn);
        self.drain().expect_nothing();
        assert_eq!(self.core.business_linked(), linked);
    }
}

/// A second business server while one is linked → Refused{201} and closed;
/// the first stays linked (its refused rival closing does not unlink it) and
/// is the one asked and told. Once the first goes, another may link.
#[test]
fn business_link_second_one_is_refused_and_the_first_stays() {
    let (mut w, a, b, _) = three();
    let bs = w.link_business();
    w.assert_refused(true, biz_hello(b""), GV_ERR_ALREADY_LOGIN);
    w.assert_refused(true, biz_hello(b"any"), GV_ERR_ALREADY_LOGIN);
    assert!(w.core.business_linked());
    w.assert_free_to_call_vetted(&bs, &a, &b);
    w.close(bs.conn);
    w.drain().expect_nothing();
    assert!(!w.core.business_linked());
    // The slot is held for the lost one for the business time-out.
    w.advance(secs(5), &[]);
    let bs2 = w.link_business();
    w.assert_free_to_call_vetted(&bs2, &b, &a);
}

/// With `business_secret` set, a business server giving another secret (or
/// none) → Refused{102} and closed; the right one links. Without a secret
/// configured, any secret is accepted.
#[test]
fn business_link_needs_the_configured_secret() {
    let (mut w, a, b, _) = three_with(with_secret());
    for secret in [&b"wrong"[..], b"", b"s3cret\0", b"S3CRET", b"s3cre"] {
        w.assert_refused(true, biz_hello(secret), GV_ERR_CONNECT_AUTHFAIL);
        assert!(!w.core.business_linked());
    }
    // Nobody is asked meanwhile: the call rings directly.
    w.assert_free_to_call(&a, &b);
    // Five wrong tries from one address: the next waits a second.
    w.assert_refused(true, biz_hello(b"s3cret"), GV_ERR_IPADDR_LOCK);
    w.advance(secs(1), &[]);
    let bs = w.link_business();
    w.assert_free_to_call_vetted(&bs, &a, &b);
    // A rival with the wrong secret is refused for its secret; the first stays.
    w.assert_refused(true, biz_hello(b"wrong"), GV_ERR_CONNECT_AUTHFAIL);
    assert!(w.core.business_linked());

    let mut w = World::new();
    let conn = w.raw_connect_on(true, BS_IP);
    w.send(conn, biz_hello(b"whatever"));
    let keepalive_ms = 15_000;
    let token = w.core.business_token;
    w.drain().expect(&[(&anon(conn), vec![ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms, token }])]);
    assert!(w.core.business_linked());
}

/// A client's Hello on the business listener, a business server's Hello on
/// the client listener (even with the right secret), or another version on
/// the business listener → Refused{107} and closed; nothing is linked.
#[test]
fn business_link_role_must_match_the_listener() {
    let mut w = World::with_config(with_secret());
    let client_hello = |secret: &[u8]| ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client as u8,
        secret: secret.to_vec(),
        token: 0,
    };
    w.assert_refused(true, client_hello(b""), GV_ERR_CONNECT_OLDVERSION);
    w.assert_refused(true, client_hello(b"s3cret"), GV_ERR_CONNECT_OLDVERSION);
    w.assert_refused(false, biz_hello(b"s3cret"), GV_ERR_CONNECT_OLDVERSION);
    w.assert_refused(false, biz_hello(b""), GV_ERR_CONNECT_OLDVERSION);
    let other_version = ClientMsg::Hello {
        version: PROTOCOL_VERSION + 1,
        role: Role::Business as u8,
        secret: b"s3cret".to_vec(),
        token: 0,
    };
    w.assert_refused(true, other_version, GV_ERR_CONNECT_OLDVERSION);
    assert!(!w.core.business_linked());
    // Logins are not put to anyone.
    let a = w.login("alice");
    assert!(a.id > 0);
    // Then a proper one links and is asked.
    let bs = w.link_business();
    let b = w.login_verified(&bs, "bob");
    w.assert_free_to_call_vetted(&bs, &a, &b);
}

// ----- the business server: vetting calls ------------------------------------

/// "The business server sees every Request before the callee does": only it
/// hears of the Request (BizAskCall: caller, callee, flags, A's param and
/// user_str); nothing reaches A or B until it answers. Its 0 → B: REQUEST,
/// A: REPLY(0); the ringing timer counts from then; the time-out is told to
/// it as FINISH(src 0, 100105).
#[test]
fn business_veto_0_lets_the_call_ring() {
    let (mut w, a, b, _) = three();
    let bs = w.link_business();
    let q = w.ask_call(&bs, &a, &b);
    w.advance(ms(4_900), &[]);
    w.drain().expect_nothing();
    w.verdict(&bs, q, 0);
    w.drain().expect_biz(
        &bs,
        vec![],
        &[(&b, vec![call_ev(REQUEST, &a, 0, A_PARAM, A_STR)]), (&a, vec![call_ev(REPLY, &b, 0, 0, b"")])],
    );
    // Answering the same question again changes nothing.
    w.verdict(&bs, q, 0);
    w.verdict(&bs, q, 5);
    w.drain().expect_nothing();
    // Rings for 60 s from the verdict, not from the Request.
    w.advance(ms(59_999), &[]);
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 1);
    w.advance(ms(1), &[]);
    let timeout = AC_ERROR_VIDEOCALL_TIMEOUT;
    w.drain().expect_biz(
        &bs,
        vec![note(FINISH, 0, b.id, timeout, 0, b"")],
        &[(&a, vec![call_ev(REPLY, &b, timeout, 0, b"")]), (&b, vec![call_ev(REPLY, &a, timeout, 0, b"")])],
    );
    assert_eq!(w.core.calls_in_progress(), 0);
    w.assert_free_to_call_vetted(&bs, &b, &a);
}

/// "a business server is connected and answers the Request with code c ≠ 0"
/// → A: REPLY(c); B receives nothing at all, then or later; the business
/// server, which knows its own refusal, is told nothing.
#[test]
fn business_veto_nonzero_refuses_the_call() {
    for code in [1, AC_ERROR_VIDEOCALL_REJECT, 4242, u32::MAX] {
        let (mut w, a, b, c) = three();
        let bs = w.link_business();
        let q = w.ask_call(&bs, &a, &b);
        w.advance(secs(2), &[]);
        w.drain().expect_nothing();
        w.verdict(&bs, q, code);
        w.drain().expect_biz(&bs, vec![], &[(&a, vec![call_ev(REPLY, &b, code, 0, b"")])]);
        assert_eq!(w.core.calls_in_progress(), 0);
        // A late verdict and the question's time limit change nothing.
        w.verdict(&bs, q, 0);
        w.advance(secs(10), &[]);
        w.drain().expect_nothing();
        w.assert_free_to_call_vetted(&bs, &a, &b);
        w.assert_free_to_call_vetted(&bs, &c, &b);
    }
}

/// "the business server does not answer within its time limit" → A:
/// REPLY(207) at exactly `business_timeout` (default 5 s) and not before; B
/// never rings; the business server is told FINISH(src 0, 207); a late
/// verdict is ignored. The time limit is configurable.
#[test]
fn business_veto_timeout_replies_207() {
    let (mut w, a, b, _) = three();
    let bs = w.link_business();
    w.advance(secs(3), &[]);
    let q = w.ask_call(&bs, &a, &b);
    assert!(w.core.next_deadline().is_some_and(|t| t <= w.now + secs(5)));
    w.advance(ms(4_900), &[]);
    w.drain().expect_nothing();
    w.advance(ms(100), &[]);
    let late = GV_ERR_SERVERSDK_TIMEOUT;
    w.drain().expect_biz(
        &bs,
        vec![note(FINISH, 0, b.id, late, 0, b"")],
        &[(&a, vec![call_ev(REPLY, &b, late, 0, b"")])],
    );
    assert_eq!(w.core.calls_in_progress(), 0);
    w.verdict(&bs, q, 0);
    w.drain().expect_nothing();
    w.advance(secs(61), &[]);
    w.drain().expect_nothing();
    w.assert_free_to_call_vetted(&bs, &a, &b);

    let (mut w, a, b, _) = three_with(CoreConfig { business_timeout: ms(1_500), ..CoreConfig::default() });
    let bs = w.link_business();
    w.ask_call(&bs, &a, &b);
    w.advance(ms(1_499), &[]);
    w.drain().expect_nothing();
    w.advance(ms(1), &[]);
    w.drain().expect_biz(
        &bs,
        vec![note(FINISH, 0, b.id, late, 0, b"")],
        &[(&a, vec![call_ev(REPLY, &b, late, 0, b"")])],
    );
}

/// While the business server is asked, both users count as busy: a third
/// party calling either gets REPLY(100103), and so does either of them
/// calling anyone; the business server is not asked about those. The call
/// then goes on as the verdict says.
#[test]
fn business_vetting_both_users_are_busy() {
    let (mut w, a, b, c) = three();
    let bs = w.link_business();
    let q = w.ask_call(&bs, &a, &b);
    let busy = AC_ERROR_VIDEOCALL_BUSY;
    for (x, y) in [(&c, &a), (&c, &b), (&a, &c), (&b, &c), (&b, &a), (&a, &b)] {
        w.request(x, y, 5, b"x");
        w.drain().expect_biz(&bs, vec![], &[(x, vec![call_ev(REPLY, y, busy, 0, b"")])]);
    }
    assert_eq!(w.core.calls_in_progress(), 1);
    w.verdict(&bs, q, 0);
    w.drain().expect_biz(
        &bs,
        vec![],
        &[(&b, vec![call_ev(REQUEST, &a, 0, A_PARAM, A_STR)]), (&a, vec![call_ev(REPLY, &b, 0, 0, b"")])],
    );
    w.reply(&b, &a, 0, B_PARAM, B_STR);
    let d = w.drain();
    let [ServerMsg::VideoCall { ev, .. }] = d.to(b.conn) else { panic!("{d:?}") };
    assert_eq!(ev.event, START);
}

/// The caller cancels (Reply 100101, or Finish) while the business server
/// is asked: the callee hears nothing, then or later (a late verdict 0 is
/// ignored); the business server is told REPLY(src caller, 100101) with the
/// caller's param and user_str. The callee's own Reply or Finish meanwhile is
/// ignored: it knows of no call.
#[test]
fn business_vetting_caller_cancels_callee_hears_nothing() {
    for by_finish in [false, true] {
        let (mut w, a, b, c) = three();
        let bs = w.link_business();
        let q = w.ask_call(&bs, &a, &b);
        w.reply(&b, &a, 0, B_PARAM, B_STR);
        w.reply(&b, &a, AC_ERROR_VIDEOCALL_REJECT, B_PARAM, B_STR);
        w.finish(&b, &a, 0, B_PARAM, B_STR);
        w.reply(&a, &b, 0, A_PARAM, A_STR);
        w.drain().expect_nothing();
        assert_eq!(w.core.calls_in_progress(), 1);
        if by_finish {
            w.finish(&a, &b, 0, A_PARAM, A_STR);
        } else {
            w.reply(&a, &b, AC_ERROR_VIDEOCALL_CANCEL, A_PARAM, A_STR);
        }
        let cancel = AC_ERROR_VIDEOCALL_CANCEL;
        w.drain().expect_biz(&bs, vec![note(REPLY, a.id, b.id, cancel, A_PARAM, A_STR)], &[]);
        assert_eq!(w.core.calls_in_progress(), 0);
        w.verdict(&bs, q, 0);
        w.advance(secs(10), &[]);
        w.drain().expect_nothing();
        w.assert_free_to_call_vetted(&bs, &c, &b);
        w.assert_free_to_call_vetted(&bs, &a, &c);
    }
}

/// The caller's connection is lost (closed, silent) or it logs out while the
/// business server is asked: the callee hears nothing, then or later; the
/// business server is told FINISH(src 0, 100106) for a lost connection,
/// REPLY(src caller, 100101) for a logout, then the user's logout.
#[test]
fn business_vetting_caller_lost_callee_hears_nothing() {
    for how in ["closed", "silent", "logout"] {
        // A time limit longer than the keep-alive, so that the question is still open.
        let (mut w, a, b, c) = three_with(CoreConfig { business_timeout: secs(30), ..CoreConfig::default() });
        let bs = w.link_business();
        let q = w.ask_call(&bs, &a, &b);
        let lost = AC_ERROR_VIDEOCALL_DISCONNECT;
        let (d, told, closes) = match how {
            "closed" => {
                w.close(a.conn);
                (w.drain(), vec![note(FINISH, 0, b.id, lost, 0, b""), biz_logout(&a, GV_ERR_CONNECT_ABORT)], vec![])
            }
            "silent" => {
                w.advance(ms(14_900), &[a.conn]);
                w.drain().expect_nothing();
                w.advance(ms(100), &[a.conn]);
                let told = vec![note(FINISH, 0, b.id, lost, 0, b""), biz_logout(&a, GV_ERR_CONNECT_ABORT)];
                (w.drain(), told, vec![(a.conn, CloseReason::KeepaliveTimeout)])
            }
            _ => {
                w.logout(&a);
                let cancel = AC_ERROR_VIDEOCALL_CANCEL;
                let told = vec![note(REPLY, a.id, b.id, cancel, 0, b""), biz_logout(&a, 0)];
                (w.drain(), told, vec![(a.conn, CloseReason::Logout)])
            }
        };
        d.expect_biz_with_closes(&bs, told, &[], &closes);
        assert_eq!(w.core.calls_in_progress(), 0, "{how}");
        w.verdict(&bs, q, 0);
        w.advance(secs(40), &[]);
        w.drain().expect_nothing();
        w.assert_free_to_call_vetted(&bs, &c, &b);
    }
}

/// The callee's connection is lost (closed, silent) or it logs out while the
/// business server is asked → A: REPLY(100102), as if B had not been logged
/// in; the business server is told FINISH(src 0, 100102), then B's logout.
#[test]
fn business_vetting_callee_lost_replies_offline() {
    for how in ["closed", "silent", "logout"] {
        let (mut w, a, b, c) = three_with(CoreConfig { business_timeout: secs(30), ..CoreConfig::default() });
        let bs = w.link_business();
        let q = w.ask_call(&bs, &a, &b);
        let (code, closes) = match how {
            "closed" => {
                w.close(b.conn);
                (GV_ERR_CONNECT_ABORT, vec![])
            }
            "silent" => {
                w.advance(ms(14_900), &[b.conn]);
                w.drain().expect_nothing();
                w.advance(ms(100), &[b.conn]);
                (GV_ERR_CONNECT_ABORT, vec![(b.conn, CloseReason::KeepaliveTimeout)])
            }
            _ => {
                w.logout(&b);
                (0, vec![(b.conn, CloseReason::Logout)])
            }
        };
        let offline = AC_ERROR_VIDEOCALL_OFFLINE;
        w.drain().expect_biz_with_closes(
            &bs,
            vec![note(FINISH, 0, b.id, offline, 0, b""), biz_logout(&b, code)],
            &[(&a, vec![call_ev(REPLY, &b, offline, 0, b"")])],
            &closes,
        );
        assert_eq!(w.core.calls_in_progress(), 0, "{how}");
        w.verdict(&bs, q, 0);
        w.advance(secs(40), &[]);
        w.drain().expect_nothing();
        w.assert_free_to_call_vetted(&bs, &a, &c);
    }
}

// ----- the business server: what it sees -------------------------------------

/// "What the business server sees": the callee's Reply 0 → REPLY(src callee,
/// its param and user_str), then START(src caller, tar callee, param = room);
/// a party's Finish → FINISH(src = that party, its code, param, user_str);
/// a logout during the call → FINISH(src = that user, 0), then its logout.
#[test]
fn business_sees_start_and_finish() {
    for (caller_ends, code) in [(true, 0), (false, 0), (true, 777), (false, AC_ERROR_VIDEOCALL_TIMEOUT)] {
        let (mut w, a, b, _) = three();
        let bs = w.link_business();
        w.start_vetted(&bs, &a, &b);
        let (by, other, param, s) = if caller_ends { (&a, &b, A_PARAM, A_STR) } else { (&b, &a, B_PARAM, B_STR) };
        w.finish(by, other, code, param, s);
        w.drain().expect_biz(
            &bs,
            vec![note(FINISH, by.id, other.id, code, param, s)],
            &[(by, vec![call_ev(FINISH, other, code, param, s)]), (other, vec![call_ev(FINISH, by, code, param, s)])],
        );
    }
    for caller_leaves in [true, false] {
        let (mut w, a, b, _) = three();
        let bs = w.link_business();
        w.start_vetted(&bs, &a, &b);
        let (gone, other) = if caller_leaves { (&a, &b) } else { (&b, &a) };
        w.logout(gone);
        w.drain().expect_biz_with_closes(
            &bs,
            vec![note(FINISH, gone.id, other.id, 0, 0, b""), biz_logout(gone, 0)],
            &[(gone, vec![call_ev(FINISH, other, 0, 0, b"")]), (other, vec![call_ev(FINISH, gone, 0, 0, b"")])],
            &[(gone.conn, CloseReason::Logout)],
        );
    }
}

/// "What the business server sees" for a call that never starts: the
/// callee's refusal (Reply c, or Finish) → REPLY(src callee, c); the
/// caller's cancel (Reply 100101, or Finish) → REPLY(src caller, 100101);
/// each with the causer's param and user_str. Logging out while ringing: the
/// same with no param, then the logout.
#[test]
fn business_sees_refusal_and_cancel_as_reply_from_whoever_ended_it() {
    let (reject, cancel) = (AC_ERROR_VIDEOCALL_REJECT, AC_ERROR_VIDEOCALL_CANCEL);
    for (callee_ends, by_finish, code) in [
        (true, false, reject),
        (true, false, 12345),
        (true, true, reject),
        (false, false, cancel),
        (false, true, cancel),
    ] {
        let (mut w, a, b, _) = three();
        let bs = w.link_business();
        w.ring_vetted(&bs, &a, &b);
        let (by, other, param, s) = if callee_ends { (&b, &a, B_PARAM, B_STR) } else { (&a, &b, A_PARAM, A_STR) };
        if by_finish {
            w.finish(by, other, 0, param, s);
        } else {
            w.reply(by, other, code, param, s);
        }
        w.drain().expect_biz(
            &bs,
            vec![note(REPLY, by.id, other.id, code, param, s)],
            &[(other, vec![call_ev(REPLY, by, code, param, s)])],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
    }
    for callee_leaves in [true, false] {
        let (mut w, a, b, _) = three();
        let bs = w.link_business();
        w.ring_vetted(&bs, &a, &b);
        let (gone, other, code) = if callee_leaves { (&b, &a, reject) } else { (&a, &b, cancel) };
        w.logout(gone);
        w.drain().expect_biz_with_closes(
            &bs,
            vec![note(REPLY, gone.id, other.id, code, 0, b""), biz_logout(gone, 0)],
            &[(other, vec![call_ev(REPLY, gone, code, 0, b"")])],
            &[(gone.conn, CloseReason::Logout)],
        );
    }
}

/// "What the business server sees": a lost connection (closed or silent),
/// ringing or during the call, either party → FINISH(src 0, 100106), then
/// the lost user's logout (101); the peer gets REPLY / FINISH(100106).
#[test]
fn business_sees_lost_connection_as_finish_from_the_server() {
    for in_call in [false, true] {
        for caller_lost in [true, false] {
            for silent in [false, true] {
                let (mut w, a, b, c) = three();
                let bs = w.link_business();
                if in_call {
                    w.start_vetted(&bs, &a, &b);
                } else {
                    w.ring_vetted(&bs, &a, &b);
                }
                let (lost, other) = if caller_lost { (&a, &b) } else { (&b, &a) };
                let closes = if silent {
                    w.advance(secs(15), &[lost.conn]);
                    vec![(lost.conn, CloseReason::KeepaliveTimeout)]
                } else {
                    w.close(lost.conn);
                    vec![]
                };
                let event = if in_call { FINISH } else { REPLY };
                let code = AC_ERROR_VIDEOCALL_DISCONNECT;
                w.drain().expect_biz_with_closes(
                    &bs,
                    vec![note(FINISH, 0, b.id, code, 0, b""), biz_logout(lost, GV_ERR_CONNECT_ABORT)],
                    &[(other, vec![call_ev(event, lost, code, 0, b"")])],
                    &closes,
                );
                assert_eq!(w.core.calls_in_progress(), 0);
                w.assert_free_to_call_vetted(&bs, other, &c);
            }
        }
    }
}

// ----- the business server: forced finish ------------------------------------

/// "the business server sends Finish for A or B", a call in progress → A and
/// B: FINISH(the code given, with its param and user_str); it is told
/// FINISH(src 0); the call's room closes as after any Finish.
#[test]
fn business_forced_finish_during_call() {
    for (name_caller, code) in [(true, 0), (false, 0), (true, 4242), (false, AC_ERROR_VIDEOCALL_DISCONNECT)] {
        let (mut w, a, b, c) = three();
        let bs = w.link_business();
        let r = w.start_vetted(&bs, &a, &b);
        w.enter(&a, r);
        w.enter(&b, r);
        w.drain().expect_biz(
            &bs,
            vec![biz_room(&a, r, true), biz_room(&b, r, true)],
            &[(&a, enter_ok(r, &[&a])), (&b, enter_ok(r, &[&a, &b])), (&a, vec![at_room(r, &b, true)])],
        );
        let user = if name_caller { a.id } else { b.id };
        w.forced_finish(&bs, user, code, 9, b"bs-str");
        w.drain().expect_biz(
            &bs,
            vec![note(FINISH, 0, b.id, code, 9, b"bs-str"), biz_room(&a, r, false), biz_room(&b, r, false)],
            &[
                (
                    &a,
                    vec![
                        call_ev(FINISH, &b, code, 9, b"bs-str"),
                        at_room(r, &b, false),
                        ServerMsg::LeftRoom { room_id: r },
                    ],
                ),
                (
                    &b,
                    vec![
                        call_ev(FINISH, &a, code, 9, b"bs-str"),
                        at_room(r, &a, false),
                        ServerMsg::LeftRoom { room_id: r },
                    ],
                ),
            ],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
        // Once more: no call any more.
        w.forced_finish(&bs, user, code, 0, b"");
        w.drain().expect_nothing();
        w.assert_free_to_call_vetted(&bs, &a, &c);
        w.assert_free_to_call_vetted(&bs, &c, &b);
    }
}

/// "the business server sends Finish for A or B", ringing → A and B:
/// REPLY(the code given, or 100101 when it gives 0); it is told FINISH(src
/// 0, that code); the ringing timer goes with the call. While it is still
/// being asked about the call, only the caller hears: REPLY(code).
#[test]
fn business_forced_finish_while_ringing() {
    let cancel = AC_ERROR_VIDEOCALL_CANCEL;
    for (name_caller, code, want) in
        [(true, 0, cancel), (false, 0, cancel), (true, 555, 555), (false, AC_ERROR_VIDEOCALL_REJECT, 100104)]
    {
        let (mut w, a, b, _) = three();
        let bs = w.link_business();
        w.ring_vetted(&bs, &a, &b);
        w.forced_finish(&bs, if name_caller { a.id } else { b.id }, code, 9, b"bs");
        w.drain().expect_biz(
            &bs,
            vec![note(FINISH, 0, b.id, want, 9, b"bs")],
            &[(&a, vec![call_ev(REPLY, &b, want, 9, b"bs")]), (&b, vec![call_ev(REPLY, &a, want, 9, b"bs")])],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
        w.advance(secs(61), &[]);
        w.drain().expect_nothing();
        w.assert_free_to_call_vetted(&bs, &b, &a);
    }
    for (name_caller, code, want) in [(true, 0, cancel), (false, 555, 555)] {
        let (mut w, a, b, _) = three();
        let bs = w.link_business();
        let q = w.ask_call(&bs, &a, &b);
        w.forced_finish(&bs, if name_caller { a.id } else { b.id }, code, 9, b"bs");
        w.drain().expect_biz(
            &bs,
            vec![note(FINISH, 0, b.id, want, 9, b"bs")],
            &[(&a, vec![call_ev(REPLY, &b, want, 9, b"bs")])],
        );
        assert_eq!(w.core.calls_in_progress(), 0);
        // Its verdict afterwards, and the question's time limit, change nothing.
        w.verdict(&bs, q, 0);
        w.advance(secs(10), &[]);
        w.drain().expect_nothing();
        w.assert_free_to_call_vetted(&bs, &b, &a);
    }
}

/// Finish for a user not in a call (idle, unknown, 0) → nothing at all.
/// Other events from the business server are ignored, even naming a party.
#[test]
fn business_forced_finish_of_a_user_not_in_a_call_does_nothing() {
    let (mut w, a, b, c) = three();
    let d_user = w.login("dave");
    let bs = w.link_business();
    w.start_vetted(&bs, &c, &d_user);
    for user in [a.id, b.id, 0, 987_654, u32::MAX] {
        for code in [0, 5] {
            w.forced_finish(&bs, user, code, 1, b"x");
            w.drain().expect_nothing();
        }
    }
    for event in [REQUEST, REPLY, START, 0, 99] {
        let ev = CallEvent {
            event,
            user_id: c.id,
            error_code: AC_ERROR_VIDEOCALL_CANCEL,
            flags: 0,
            param: 1,
            user_str: vec![],
        };
        w.biz(&bs, ClientMsg::BizVideoCall(ev));
        w.drain().expect_nothing();
    }
    assert_eq!(w.core.calls_in_progress(), 1);
    w.finish(&c, &d_user, 0, 0, b"");
    w.drain().expect_biz(
        &bs,
        vec![note(FINISH, c.id, d_user.id, 0, 0, b"")],
        &[(&c, vec![call_ev(FINISH, &d_user, 0, 0, b"")]), (&d_user, vec![call_ev(FINISH, &c, 0, 0, b"")])],
    );
    w.assert_free_to_call_vetted(&bs, &a, &b);
}

// ----- the business server: logging in ---------------------------------------

/// "With a business server: the core server asks it": only it hears of the
/// Login (name, password, the client's address); its 0 with a user id → the
/// client gets that id; with id 0 the server's own id for the name. It is
/// told BizUserLogin (id, name, level, address) after each login, and
/// BizUserLogout when the user logs out (0), is lost (101, closed or silent)
/// or logs in elsewhere (209, then the new login).
#[test]
fn business_login_verified_gets_the_business_servers_id() {
    let mut w = World::new();
    let bs = w.link_business();
    let conn = w.connect();
    let a = w.login_verified_on(&bs, conn, "alice", 4242, 7);
    let b = w.login_verified(&bs, "bob");
    assert_ne!(b.id, a.id);
    w.assert_free_to_call_vetted(&bs, &a, &b);

    w.logout(&a);
    w.drain().expect_biz_with_closes(&bs, vec![biz_logout(&a, 0)], &[], &[(a.conn, CloseReason::Logout)]);
    w.close(b.conn);
    w.drain().expect_biz(&bs, vec![biz_logout(&b, GV_ERR_CONNECT_ABORT)], &[]);
    let c = w.login_verified(&bs, "carol");
    w.advance(secs(15), &[c.conn]);
    w.drain().expect_biz_with_closes(
        &bs,
        vec![biz_logout(&c, GV_ERR_CONNECT_ABORT)],
        &[],
        &[(c.conn, CloseReason::KeepaliveTimeout)],
    );
    assert_eq!(w.core.online_users(), 0);

    // The same name again, elsewhere: the old session is closed first.
    let d1 = w.login_verified(&bs, "dave");
    let conn2 = w.connect();
    let q = w.ask_login_on(&bs, conn2, "dave");
    w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code: 0, user_id: 0, level: 2, nick: Vec::new() });
    let d2 = User { conn: conn2, ..d1.clone() };
    w.drain().expect_biz_with_closes(
        &bs,
        vec![
            biz_logout(&d1, GV_ERR_LOGIN_NEWLOGIN),
            ServerMsg::BizUserLogin { user_id: d1.id, name: b"dave".to_vec(), level: 2, ip: b"127.0.0.1".to_vec() },
        ],
        &[
            (&d1, vec![ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN }]),
            (
                &d2,
                vec![ServerMsg::LoginResult {
                    user_id: d1.id,
                    code: 0,
                    name: b"dave".to_vec(),
                    level: 2,
                    nick: b"dave".to_vec(),
                    address: b"127.0.0.1".to_vec(),
                }],
            ),
        ],
        &[(d1.conn, CloseReason::LoggedInElsewhere)],
    );
    assert_eq!(w.core.online_users(), 1);
}

/// "returns an error code that the client receives as
/// WM_GV_LOGINSYSTEM(0, code)": LoginResult{user_id 0, code}; nothing is
/// logged in and the business server is told nothing more. A second Login
/// while one is being verified is ignored; a late answer too; the client may
/// try again.
#[test]
fn business_login_refused_gives_the_code() {
    for code in [GV_ERR_ACCOUNT_LOCK, GV_ERR_CERTIFY_FAIL, 7777] {
        let mut w = World::new();
        let bs = w.link_business();
        let conn = w.connect();
        let q = w.ask_login_on(&bs, conn, "alice");
        w.send(conn, ClientMsg::Login { name: b"alice".to_vec(), password: b"pw".to_vec(), pass_enc_type: 0 });
        w.drain().expect_nothing();
        w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code, user_id: 99, level: 1, nick: b"n".to_vec() });
        w.drain().expect_biz(
            &bs,
            vec![],
            &[(
                &anon(conn),
                vec![ServerMsg::LoginResult {
                    user_id: 0,
                    code,
                    name: b"alice".to_vec(),
                    level: 0,
                    nick: vec![],
                    address: vec![],
                }],
            )],
        );
        assert_eq!(w.core.online_users(), 0);
        w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code: 0, user_id: 99, level: 1, nick: b"n".to_vec() });
        w.advance(secs(10), &[]);
        w.drain().expect_nothing();
        assert_eq!(w.core.online_users(), 0);
        let a = w.login_verified_on(&bs, conn, "alice", 0, 0);
        assert!(a.id > 0);
    }
}

/// "No answer in time: 207": LoginResult{0, 207} at exactly
/// `business_timeout`, not before; a late answer is ignored; the client may
/// try again.
#[test]
fn business_login_without_answer_times_out_with_207() {
    let mut w = World::new();
    let bs = w.link_business();
    w.advance(secs(2), &[]);
    let conn = w.connect();
    let q = w.ask_login_on(&bs, conn, "alice");
    w.advance(ms(4_900), &[]);
    w.drain().expect_nothing();
    w.advance(ms(100), &[]);
    let late = GV_ERR_SERVERSDK_TIMEOUT;
    w.drain().expect_biz(
        &bs,
        vec![],
        &[(
            &anon(conn),
            vec![ServerMsg::LoginResult {
                user_id: 0,
                code: late,
                name: b"alice".to_vec(),
                level: 0,
                nick: vec![],
                address: vec![],
            }],
        )],
    );
    w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code: 0, user_id: 5, level: 0, nick: Vec::new() });
    w.drain().expect_nothing();
    assert_eq!(w.core.online_users(), 0);
    w.login_verified_on(&bs, conn, "alice", 5, 0);
}

/// `require_business`: with no business server linked, Login →
/// LoginResult{0, 206} and Request → REPLY(206) (calls already going on are
/// not disturbed); once one is linked both work.
#[test]
fn business_required_refuses_logins_and_calls_while_none_is_linked() {
    let mut w = World::with_config(CoreConfig { require_business: true, ..CoreConfig::default() });
    let conn = w.connect();
    w.send(conn, ClientMsg::Login { name: b"alice".to_vec(), password: b"pw".to_vec(), pass_enc_type: 0 });
    let no_bs = GV_ERR_SERVERSDK_FAIL;
    w.drain().expect(&[(
        &anon(conn),
        vec![ServerMsg::LoginResult {
            user_id: 0,
            code: no_bs,
            name: b"alice".to_vec(),
            level: 0,
            nick: vec![],
            address: vec![],
        }],
    )]);
    assert_eq!(w.core.online_users(), 0);

    let bs = w.link_business();
    let a = w.login_verified_on(&bs, conn, "alice", 0, 0);
    let b = w.login_verified(&bs, "bob");
    let c = w.login_verified(&bs, "carol");
    let d_user = w.login_verified(&bs, "dave");
    w.assert_free_to_call_vetted(&bs, &a, &b);
    w.start_vetted(&bs, &c, &d_user);

    w.close(bs.conn);
    w.drain().expect_nothing();
    // For the business time-out the lost business server may come back: a
    // Request waits for it, then gets 207.
    w.request(&a, &b, A_PARAM, A_STR);
    w.drain().expect_nothing();
    w.advance(secs(5), &[]);
    w.drain().expect(&[(&a, vec![call_ev(REPLY, &b, GV_ERR_SERVERSDK_TIMEOUT, 0, b"")])]);
    // Then, with none linked, refusals come at once.
    for (x, y) in [(&a, &b), (&b, &a)] {
        w.request(x, y, A_PARAM, A_STR);
        w.drain().expect(&[(x, vec![call_ev(REPLY, y, no_bs, 0, b"")])]);
    }
    assert_eq!(w.core.calls_in_progress(), 1);
    let conn = w.connect();
    w.send(conn, ClientMsg::Login { name: b"erin".to_vec(), password: b"pw".to_vec(), pass_enc_type: 0 });
    w.drain().expect(&[(
        &anon(conn),
        vec![ServerMsg::LoginResult {
            user_id: 0,
            code: no_bs,
            name: b"erin".to_vec(),
            level: 0,
            nick: vec![],
            address: vec![],
        }],
    )]);
    // The call in progress goes on.
    w.finish(&d_user, &c, 0, 0, b"");
    w.drain()
        .expect(&[(&c, vec![call_ev(FINISH, &d_user, 0, 0, b"")]), (&d_user, vec![call_ev(FINISH, &c, 0, 0, b"")])]);

    let bs2 = w.link_business();
    w.login_verified_on(&bs2, conn, "erin", 0, 0);
    w.assert_free_to_call_vetted(&bs2, &a, &b);
}

// ----- the business server: rooms --------------------------------------------

/// Entering an ordinary room asks the business server first (BizAskEnter);
/// nobody hears anything until it answers. Non-zero → EnterRoomResult(room,
/// code) and the user is not in it (nor taken out of its current room); 0 →
/// entered as usual. It is told BizUserRoom on every enter and leave
/// (moving rooms: the leave first; a lost connection: the leave, then the
/// logout). No answer → 207 after its time limit.
#[test]
fn business_enter_room_is_asked_first() {
    let (mut w, a, b, c) = three();
    let bs = w.link_business();
    let q = w.ask_enter(&bs, &a, 10);
    w.advance(secs(2), &[]);
    w.drain().expect_nothing();
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: GV_ERR_ROOM_PASSERR });
    w.drain().expect_biz(
        &bs,
        vec![],
        &[(&a, vec![ServerMsg::EnterRoomResult { room_id: 10, code: GV_ERR_ROOM_PASSERR }])],
    );
    // A late answer changes nothing.
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: 0 });
    w.drain().expect_nothing();

    let q = w.ask_enter(&bs, &b, 10);
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: 0 });
    w.drain().expect_biz(&bs, vec![biz_room(&b, 10, true)], &[(&b, enter_ok(10, &[&b]))]);
    let q = w.ask_enter(&bs, &a, 10);
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: 0 });
    w.drain().expect_biz(
        &bs,
        vec![biz_room(&a, 10, true)],
        &[(&a, enter_ok(10, &[&b, &a])), (&b, vec![at_room(10, &a, true)])],
    );

    // Refused another room: A stays where it is.
    let q = w.ask_enter(&bs, &a, 11);
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: GV_ERR_ROOM_REJECT });
    w.drain().expect(&[(&a, vec![ServerMsg::EnterRoomResult { room_id: 11, code: GV_ERR_ROOM_REJECT }])]);
    let q = w.ask_enter(&bs, &c, 10);
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: 0 });
    w.drain().expect_biz(
        &bs,
        vec![biz_room(&c, 10, true)],
        &[(&c, enter_ok(10, &[&b, &a, &c])), (&b, vec![at_room(10, &c, true)]), (&a, vec![at_room(10, &c, true)])],
    );

    // Leaving, and moving to another room.
    w.send(b.conn, ClientMsg::LeaveRoom { room_id: 10 });
    w.drain().expect_biz(
        &bs,
        vec![biz_room(&b, 10, false)],
        &[(&a, vec![at_room(10, &b, false)]), (&c, vec![at_room(10, &b, false)])],
    );
    let q = w.ask_enter(&bs, &a, 11);
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: 0 });
    w.drain().expect_biz(
        &bs,
        vec![biz_room(&a, 10, false), biz_room(&a, 11, true)],
        &[(&a, enter_ok(11, &[&a])), (&c, vec![at_room(10, &a, false)])],
    );

    // No answer.
    let q = w.ask_enter(&bs, &c, 12);
    w.advance(ms(4_900), &[]);
    w.drain().expect_nothing();
    w.advance(ms(100), &[]);
    w.drain().expect_biz(
        &bs,
        vec![],
        &[(&c, vec![ServerMsg::EnterRoomResult { room_id: 12, code: GV_ERR_SERVERSDK_TIMEOUT }])],
    );
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: 0 });
    w.drain().expect_nothing();

    // A lost connection: the leave, then the logout.
    w.close(c.conn);
    w.drain().expect_biz(&bs, vec![biz_room(&c, 10, false), biz_logout(&c, GV_ERR_CONNECT_ABORT)], &[]);
}

/// Entering a room by name asks the business server with the name and the
/// id the server gives the name (from `NAMED_ROOM_BASE`). A refused name is
/// forgotten (the next one asking gets a new id); an admitted one keeps its
/// id for whoever enters it next.
#[test]
fn business_enter_room_by_name_is_asked_with_the_name() {
    let (mut w, a, b, c) = three();
    let bs = w.link_business();
    let mut ids = Vec::new();
    for (u, code) in [(&a, GV_ERR_ROOM_PASSERR), (&b, 0), (&c, 0)] {
        w.send(u.conn, ClientMsg::EnterRoomByName { name: b"lobby".to_vec(), password: b"p".to_vec() });
        let d = w.drain();
        let [ServerMsg::BizAskEnter { query, room_id, .. }] = d.to(bs.conn) else { panic!("{d:?}") };
        let (query, room_id) = (*query, *room_id);
        let ask = ServerMsg::BizAskEnter {
            query,
            user_id: u.id,
            room_id,
            room_name: b"lobby".to_vec(),
            password: b"p".to_vec(),
        };
        d.expect_biz(&bs, vec![ask], &[]);
        assert!((NAMED_ROOM_BASE..CALL_ROOM_BASE).contains(&room_id), "{room_id:#x}");
        ids.push(room_id);
        w.biz(&bs, ClientMsg::BizEnterVerdict { query, code });
        if code != 0 {
            w.drain().expect(&[(u, vec![ServerMsg::EnterRoomResult { room_id, code }])]);
        } else if u.id == b.id {
            w.drain().expect_biz(&bs, vec![biz_room(u, room_id, true)], &[(u, enter_ok(room_id, &[u]))]);
        } else {
            w.drain().expect_biz(
                &bs,
                vec![biz_room(u, room_id, true)],
                &[(u, enter_ok(room_id, &[&b, u])), (&b, vec![at_room(room_id, u, true)])],
            );
        }
    }
    assert_eq!(ids[0], NAMED_ROOM_BASE);
    assert_ne!(ids[1], ids[0]);
    assert_eq!(ids[2], ids[1]);
}

/// A call's room is entered by its two parties without asking the business
/// server (it is told BizUserRoom), and anyone else gets 300 without asking
/// it. When the call ends it is told the FINISH, then who was taken out.
#[test]
fn business_call_room_is_entered_without_asking() {
    let (mut w, a, b, c) = three();
    let bs = w.link_business();
    let r = w.start_vetted(&bs, &a, &b);
    w.enter(&a, r);
    w.drain().expect_biz(&bs, vec![biz_room(&a, r, true)], &[(&a, enter_ok(r, &[&a]))]);
    w.enter(&c, r);
    w.drain().expect(&[(&c, vec![ServerMsg::EnterRoomResult { room_id: r, code: GV_ERR_ROOM_LOCK }])]);
    w.enter(&b, r);
    w.drain().expect_biz(
        &bs,
        vec![biz_room(&b, r, true)],
        &[(&b, enter_ok(r, &[&a, &b])), (&a, vec![at_room(r, &b, true)])],
    );
    w.send(b.conn, ClientMsg::LeaveRoom { room_id: r });
    w.drain().expect_biz(&bs, vec![biz_room(&b, r, false)], &[(&a, vec![at_room(r, &b, false)])]);
    w.finish(&a, &b, 0, A_PARAM, A_STR);
    w.drain().expect_biz(
        &bs,
        vec![note(FINISH, a.id, b.id, 0, A_PARAM, A_STR), biz_room(&a, r, false)],
        &[
            (&a, vec![call_ev(FINISH, &b, 0, A_PARAM, A_STR), ServerMsg::LeftRoom { room_id: r }]),
            (&b, vec![call_ev(FINISH, &a, 0, A_PARAM, A_STR)]),
        ],
    );
}

/// "The room id in Start ... never collides with a room number that clients
/// enter on their own", also while the business server is still being asked
/// about that entry: the call gets another room, and the client, once
/// admitted, is alone in its room, not in the call's.
#[test]
fn business_room_being_asked_for_is_never_given_to_a_name() {
    let (mut w, a, _b, c) = three();
    let bs = w.link_business();
    // C asks for the first number the server would give a named room.
    let q = w.ask_enter(&bs, &c, NAMED_ROOM_BASE);
    w.send(a.conn, ClientMsg::EnterRoomByName { name: b"lobby".to_vec(), password: vec![] });
    let d = w.drain();
    let r = match d.to(bs.conn) {
        [ServerMsg::BizAskEnter { room_id, .. }] => *room_id,
        other => panic!("business server not asked: {other:?}"),
    };
    assert_eq!(r, NAMED_ROOM_BASE + 1, "the number being asked for is skipped");
    w.biz(&bs, ClientMsg::BizEnterVerdict { query: q, code: 0 });
    w.drain().expect_biz(&bs, vec![biz_room(&c, NAMED_ROOM_BASE, true)], &[(&c, enter_ok(NAMED_ROOM_BASE, &[&c]))]);
}

// ----- the business server: commands -----------------------------------------

/// KICKOUT: the user's connection gets LinkClose (code 101, or the wparam
/// given), then is closed; the business server is told its logout (101).
/// The core forgets the connection. Kicking a user not online, or another
/// control code, does nothing.
#[test]
fn business_kickout_closes_the_users_connection() {
    let (mut w, a, b, c) = three();
    let bs = w.link_business();
    for (u, wparam, code) in [(&a, 0, GV_ERR_CONNECT_ABORT), (&b, 4321, 4321)] {
        w.kick(&bs, u.id, wparam);
        w.pump();
        assert_eq!(
            std::mem::take(&mut w.pending),
            vec![
                Output::Send(u.conn, ServerMsg::LinkClose { code }),
                Output::Send(bs.conn, biz_logout(u, GV_ERR_CONNECT_ABORT)),
                Output::Close(u.conn, CloseReason::Kicked),
            ]
        );
        w.send(u.conn, ClientMsg::Ping { seq: 1 });
        w.close(u.conn);
        w.drain().expect_nothing();
    }
    assert_eq!(w.core.online_users(), 1);
    w.kick(&bs, a.id, 0);
    w.kick(&bs, 987_654, 0);
    // Codes the core does nothing with (the library refuses them), and a
    // BLOCKIP without a pattern.
    for ctrl in [BRAS_USERINFO_CTRLCODE_FUNCCTRL, BRAS_USERINFO_CTRLCODE_BLOCKIP, BRAS_USERINFO_CTRLCODE_APPDEFINE, 0] {
        w.biz(&bs, ClientMsg::BizUserControl { user_id: c.id, ctrl, wparam: 0, lparam: 0, text: Vec::new() });
    }
    w.drain().expect_nothing();
    assert_eq!(w.core.online_users(), 1);
    // A kicked user may log in again (and is verified).
    w.login_verified(&bs, "alice");
}

/// KICKOUT of a party: its peer gets REPLY(100106) while ringing,
/// FINISH(100106) during a call, as for a lost connection; the kicked one
/// gets LinkClose first and its connection is closed last.
#[test]
fn business_kickout_during_a_call_ends_it_for_the_peer() {
    for in_call in [false, true] {
        for kick_caller in [true, false] {
            let (mut w, a, b, c) = three();
            let bs = w.link_business();
            if in_call {
                w.start_vetted(&bs, &a, &b);
            } else {
                w.ring_vetted(&bs, &a, &b);
            }
            let (kicked, other) = if kick_caller { (&a, &b) } else { (&b, &a) };
            w.kick(&bs, kicked.id, 0);
            w.pump();
            let outputs = std::mem::take(&mut w.pending);
            let link_close = ServerMsg::LinkClose { code: GV_ERR_CONNECT_ABORT };
            assert_eq!(outputs.first(), Some(&Output::Send(kicked.conn, link_close.clone())));
            assert_eq!(outputs.last(), Some(&Output::Close(kicked.conn, CloseReason::Kicked)));
            let event = if in_call { FINISH } else { REPLY };
            let lost = AC_ERROR_VIDEOCALL_DISCONNECT;
            Drained::from(outputs).expect_biz_with_closes(
                &bs,
                vec![note(FINISH, 0, b.id, lost, 0, b""), biz_logout(kicked, GV_ERR_CONNECT_ABORT)],
                &[(kicked, vec![link_close]), (other, vec![call_ev(event, kicked, lost, 0, b"")])],
                &[(kicked.conn, CloseReason::Kicked)],
            );
            assert_eq!(w.core.calls_in_progress(), 0);
            w.assert_free_to_call_vetted(&bs, other, &c);
        }
    }
}

/// BizSendBuf → FilterData{data} to that user only; to a user not
/// online, nothing.
#[test]
fn business_send_buf_reaches_that_user_only() {
    let (mut w, a, b, _) = three();
    let bs = w.link_business();
    for data in [b"hello".to_vec(), Vec::new(), vec![0, 255, 1, 2]] {
        w.biz(&bs, ClientMsg::BizSendBuf { user_id: a.id, data: data.clone() });
        w.drain().expect(&[(&a, vec![ServerMsg::FilterData { data }])]);
    }
    w.logout(&b);
    w.drain();
    for user_id in [b.id, 0, 987_654] {
        w.biz(&bs, ClientMsg::BizSendBuf { user_id, data: b"x".to_vec() });
        w.drain().expect_nothing();
    }
}

/// The business server's messages are its own: sent by a client (logged in
/// or not) they do nothing — no verdict, no forced finish, no kick-out, no
/// relayed bytes.
#[test]
fn business_messages_from_a_client_are_ignored() {
    let (mut w, a, b, c) = three();
    let d_user = w.login("dave");
    let bs = w.link_business();
    w.start_vetted(&bs, &c, &d_user);
    let q = w.ask_call(&bs, &a, &b);
    let stranger = w.connect();
    for conn in [a.conn, b.conn, c.conn, stranger] {
        let finish = CallEvent { event: FINISH, user_id: c.id, error_code: 0, flags: 0, param: 0, user_str: vec![] };
        for msg in [
            ClientMsg::BizCallVerdict { query: q, code: 0 },
            ClientMsg::BizCallVerdict { query: q, code: 5 },
            ClientMsg::BizVerifyResult { query: q, code: 0, user_id: 1, level: 0, nick: vec![] },
            ClientMsg::BizEnterVerdict { query: q, code: 0 },
            ClientMsg::BizVideoCall(finish),
            ClientMsg::BizUserControl {
                user_id: d_user.id,
                ctrl: BRAS_USERINFO_CTRLCODE_KICKOUT,
                wparam: 0,
                lparam: 0,
                text: vec![],
            },
            ClientMsg::BizSendBuf { user_id: d_user.id, data: b"x".to_vec() },
        ] {
            w.send(conn, msg);
        }
    }
    w.drain().expect_nothing();
    assert_eq!(w.core.calls_in_progress(), 2);
    assert_eq!(w.core.online_users(), 4);
    w.verdict(&bs, q, 0);
    w.drain().expect(&[(&b, vec![call_ev(REQUEST, &a, 0, A_PARAM, A_STR)]), (&a, vec![call_ev(REPLY, &b, 0, 0, b"")])]);
}

// ----- the business server: its link going away -------------------------------

/// The business server's link goes away — closed, or silent for the
/// keep-alive time — with a call being vetted, one ringing, one in progress,
/// a login and a room entry waiting. Nothing is decided without it: the
/// questions wait for it to come back and each gets its time-out answer
/// (207) at its own time limit; a Request made meanwhile waits too (a
/// business server's veto is never bypassed); the ringing and active calls
/// go on and finish normally. For the business time-out only the business
/// server that was linked (its token) may take the slot; then another may,
/// and is asked again.
fn business_link_lost_with_everything_pending(silent: bool) {
    let mut w = World::new();
    let [a, b, c, d_user, e, f, h] = ["a", "b", "c", "d", "e", "f", "h"].map(|n| w.login(n));
    let bs = w.link_business();
    let room_ef = w.start_vetted(&bs, &e, &f);
    w.enter(&e, room_ef);
    w.enter(&f, room_ef);
    w.drain();
    w.ring_vetted(&bs, &c, &d_user);
    if silent {
        // Its last message was at t0: it is dropped at t0 + 15 s.
        w.advance(secs(12), &[bs.conn]);
        w.drain().expect_nothing();
    }
    let asked = w.now;
    w.ask_call(&bs, &a, &b);
    let g_conn = w.connect();
    w.ask_login_on(&bs, g_conn, "gina");
    w.ask_enter(&bs, &h, 5);
    let closes = if silent {
        w.advance(ms(2_900), &[bs.conn]);
        w.drain().expect_nothing();
        w.advance(ms(100), &[bs.conn]);
        assert_eq!(w.now, w.t0 + secs(15));
        vec![(bs.conn, CloseReason::KeepaliveTimeout)]
    } else {
        w.close(bs.conn);
        vec![]
    };
    let lost = w.now;
    w.drain().expect_biz_with_closes(&bs, vec![], &[], &closes);
    assert!(!w.core.business_linked());
    assert_eq!(w.core.calls_in_progress(), 3);

    // The ringing call goes on: D accepts.
    w.reply(&d_user, &c, 0, B_PARAM, B_STR);
    let d = w.drain();
    let [ServerMsg::VideoCall { ev, .. }] = d.to(c.conn) else { panic!("{d:?}") };
    let room_cd = ev.param;
    d.expect(&[
        (&c, vec![call_ev(START, &d_user, 0, room_cd, B_STR)]),
        (&d_user, vec![call_ev(START, &c, 0, room_cd, B_STR)]),
    ]);
    // The call in progress goes on and finishes normally.
    w.finish(&f, &e, 3, B_PARAM, B_STR);
    let left = |peer: &User| vec![at_room(room_ef, peer, false), ServerMsg::LeftRoom { room_id: room_ef }];
    let mut to_e = vec![call_ev(FINISH, &f, 3, B_PARAM, B_STR)];
    to_e.extend(left(&f));
    let mut to_f = vec![call_ev(FINISH, &e, 3, B_PARAM, B_STR)];
    to_f.extend(left(&e));
    w.drain().expect(&[(&e, to_e), (&f, to_f)]);
    // A new Request waits for the business server too.
    w.advance(secs(1), &[]);
    let asked_ef = w.now;
    w.request(&e, &f, A_PARAM, A_STR);
    w.drain().expect_nothing();
    // Another business server cannot take the slot meanwhile.
    w.assert_refused(true, biz_hello(b""), GV_ERR_ALREADY_LOGIN);

    // At their time limits, the questions get 207.
    let late = GV_ERR_SERVERSDK_TIMEOUT;
    w.advance(asked + secs(5) - w.now, &[]);
    w.drain().expect(&[
        (&a, vec![call_ev(REPLY, &b, late, 0, b"")]),
        (
            &anon(g_conn),
            vec![ServerMsg::LoginResult {
                user_id: 0,
                code: late,
                name: b"gina".to_vec(),
                level: 0,
                nick: vec![],
                address: vec![],
            }],
        ),
        (&h, vec![ServerMsg::EnterRoomResult { room_id: 5, code: late }]),
    ]);
    w.advance(asked_ef + secs(5) - w.now, &[]);
    w.drain().expect(&[(&e, vec![call_ev(REPLY, &f, late, 0, b"")])]);
    w.finish(&c, &d_user, 0, 0, b"");
    w.drain()
        .expect(&[(&c, vec![call_ev(FINISH, &d_user, 0, 0, b"")]), (&d_user, vec![call_ev(FINISH, &c, 0, 0, b"")])]);

    // The slot is free after the business time-out: another links and is asked.
    assert!(w.now >= lost + secs(5));
    let bs2 = w.link_business();
    let g = w.login_verified_on(&bs2, g_conn, "gina", 0, 0);
    w.assert_free_to_call_vetted(&bs2, &g, &e);
    w.assert_free_to_call_vetted(&bs2, &a, &b);
}

/// A business server whose link drops takes its slot back with the token
/// of its last `Welcome`, and gets the questions that waited for it, in the
/// order they were asked; its answers count as usual.
#[test]
fn business_link_lost_the_same_server_links_again_and_answers_what_waited() {
    let (mut w, a, b, c) = three();
    let d_user = w.login("dave");
    let bs = w.link_business();
    let token = w.core.business_token;
    let q1 = w.ask_call(&bs, &a, &b);
    w.close(bs.conn);
    w.drain().expect_nothing();
    w.advance(ms(300), &[]);
    w.request(&c, &d_user, A_PARAM, A_STR);
    w.drain().expect_nothing();
    // A newcomer without the token is refused; the one with it links.
    w.assert_refused(true, biz_hello(b""), GV_ERR_ALREADY_LOGIN);
    let conn = w.raw_connect_on(true, BS_IP);
    w.send(conn, ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Business as u8, secret: vec![], token });
    let bs2 = Biz { conn };
    assert!(w.core.business_linked());
    let new_token = w.core.business_token;
    assert_ne!(new_token, token);
    let d = w.drain();
    let q2 = match d.to(conn) {
        [_, _, ServerMsg::BizAskCall { query, .. }] => *query,
        other => panic!("{other:?}"),
    };
    let ask = |query, x: &User, y: &User| ServerMsg::BizAskCall {
        query,
        src: x.id,
        tar: y.id,
        flags: FLAGS,
        param: A_PARAM,
        user_str: A_STR.to_vec(),
    };
    let keepalive_ms = 15_000;
    d.expect_biz(
        &bs2,
        vec![
            ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms, token: new_token },
            ask(q1, &a, &b),
            ask(q2, &c, &d_user),
        ],
        &[],
    );
    w.verdict(&bs2, q1, 0);
    w.verdict(&bs2, q2, 4242);
    w.drain().expect_biz(
        &bs2,
        vec![],
        &[
            (&b, vec![call_ev(REQUEST, &a, 0, A_PARAM, A_STR)]),
            (&a, vec![call_ev(REPLY, &b, 0, 0, b"")]),
            (&c, vec![call_ev(REPLY, &d_user, 4242, 0, b"")]),
        ],
    );
}

#[test]
fn business_link_closed_questions_wait_then_time_out_and_calls_go_on() {
    business_link_lost_with_everything_pending(false);
}

#[test]
fn business_link_silent_questions_wait_then_time_out_and_calls_go_on() {
    business_link_lost_with_everything_pending(true);
}

/// A business server that links while calls go on learns the calls in
/// progress (a START note each, src caller), so that it can end them; a
/// ringing call it was never asked about is not reported.
#[test]
fn business_linking_late_learns_the_calls_in_progress() {
    let (mut w, a, b, c) = three();
    let d = w.login("dave");
    let room = w.start(&a, &b);
    w.ring(&c, &d);
    let secret = w.core.config().business_secret.clone().unwrap_or_default();
    let conn = w.raw_connect_on(true, BS_IP);
    w.send(conn, ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Business as u8, secret, token: 0 });
    let bs = Biz { conn };
    let keepalive_ms = w.core.config().keepalive_timeout.as_millis() as u32;
    let start = ServerMsg::BizCallNote {
        event: START,
        src: a.id,
        tar: b.id,
        error_code: 0,
        flags: FLAGS,
        param: room,
        user_str: Vec::new(),
    };
    let token = w.core.business_token;
    w.drain().expect_biz(&bs, vec![ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms, token }, start], &[]);
    // It can end that call.
    w.forced_finish(&bs, b.id, 555, 0, b"");
    w.drain().expect_biz(
        &bs,
        vec![note(FINISH, 0, b.id, 555, 0, b"")],
        &[(&a, vec![call_ev(FINISH, &b, 555, 0, b"")]), (&b, vec![call_ev(FINISH, &a, 555, 0, b"")])],
    );
}

// ----- issue 5: buffers and device states ---------------------------------------

fn trans(to: u32, data: &[u8]) -> ClientMsg {
    ClientMsg::TransBuffer { to, ex: false, wparam: 0, lparam: 0, task_id: 1, data: data.to_vec() }
}

/// Buffers pass only between users who can see each other: the same room,
/// or the two parties of a call; anything else is dropped.
#[test]
fn trans_buffers_only_between_users_who_see_each_other() {
    let (mut w, a, b, c) = three();
    w.send(a.conn, trans(b.id, b"x"));
    w.drain().expect(&[]);
    w.enter(&a, 10);
    w.enter(&b, 10);
    w.enter(&c, 11);
    w.drain();
    w.send(a.conn, trans(b.id, b"in the room"));
    w.send(a.conn, trans(c.id, b"other room"));
    let got = ServerMsg::TransBuffer {
        from: a.id,
        ex: false,
        wparam: 0,
        lparam: 0,
        task_id: 1,
        data: b"in the room".to_vec(),
    };
    w.drain().expect(&[(&b, vec![got])]);
    // A call makes C visible to A, wherever they are.
    w.start(&a, &c);
    w.send(a.conn, trans(c.id, b"call"));
    let d = w.drain();
    assert!(matches!(d.to(c.conn), [ServerMsg::TransBuffer { from, .. }] if *from == a.id), "{:?}", d.to(c.conn));
}

/// A device state reaches the room and the call peer outside it.
#[test]
fn device_state_reaches_the_room_and_the_call_peer() {
    let (mut w, a, b, c) = three();
    w.enter(&a, 10);
    w.enter(&b, 10);
    w.drain();
    w.start(&a, &c);
    w.send(a.conn, ClientMsg::Device { kind: DEVICE_CAMERA, open: true });
    let st = ServerMsg::Device { user_id: a.id, kind: DEVICE_CAMERA, state: GV_CAMERA_STATE_OPEN };
    w.drain().expect(&[(&a, vec![st.clone()]), (&b, vec![st.clone()]), (&c, vec![st])]);
}

// ----- issue 7: media relay ---------------------------------------------------

use crate::wire::protocol::{MediaHeader, DEVICE_MIC, MEDIA_AUDIO, MEDIA_VIDEO};

fn open_devices(w: &mut World, u: &User) {
    w.send(u.conn, ClientMsg::Device { kind: DEVICE_CAMERA, open: true });
    w.send(u.conn, ClientMsg::Device { kind: DEVICE_MIC, open: true });
}

fn sub(w: &mut World, who: &User, of: &User, kind: u8) {
    w.send(who.conn, ClientMsg::Subscribe { user_id: of.id, kind, on: true });
}

fn sub_off(w: &mut World, who: &User, of: &User, kind: u8) {
    w.send(who.conn, ClientMsg::Subscribe { user_id: of.id, kind, on: false });
}

fn media_hdr(kind: u8, key: bool) -> MediaHeader {
    MediaHeader { kind, key, codec: 1, timestamp: 40, a: 640, b: 480 }
}

/// Sends one video and one audio frame from `u`; returns who got what:
/// (receiver id, kind) pairs.
fn send_media(w: &mut World, u: &User, all: &[&User]) -> Vec<(u32, u8)> {
    w.drain();
    w.send(u.conn, ClientMsg::Media { header: media_hdr(MEDIA_VIDEO, true), data: vec![1, 2, 3] });
    w.send(u.conn, ClientMsg::Media { header: media_hdr(MEDIA_AUDIO, true), data: vec![4, 5] });
    let d = w.drain();
    let mut got = Vec::new();
    for r in all {
        for m in d.to(r.conn) {
            match m {
                ServerMsg::Media { from, header, .. } => {
                    assert_eq!(*from, u.id);
                    got.push((r.id, header.kind));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    got
}

/// A call between A and B with these flags, both in its room is not needed:
/// call parties see each other. Both open devices and subscribe to each other.
fn media_call(flags: u32) -> (World, User, User) {
    let mut w = World::new();
    let a = w.login("alice");
    let b = w.login("bob");
    let req = CallEvent { event: REQUEST, user_id: b.id, error_code: 0, flags, param: 0, user_str: vec![] };
    w.send(a.conn, ClientMsg::VideoCall(req));
    let rep = CallEvent { event: REPLY, user_id: a.id, error_code: 0, flags: 0, param: 0, user_str: vec![] };
    w.send(b.conn, ClientMsg::VideoCall(rep));
    for (x, y) in [(&a, &b), (&b, &a)] {
        open_devices(&mut w, x);
        sub(&mut w, x, y, MEDIA_VIDEO);
        sub(&mut w, x, y, MEDIA_AUDIO);
    }
    w.drain();
    (w, a, b)
}

#[test]
fn media_reaches_subscribers_who_see_the_sender_only() {
    let (mut w, a, b, c) = three();
    w.enter(&a, 10);
    w.enter(&b, 10);
    w.enter(&c, 11);
    sub(&mut w, &b, &a, MEDIA_VIDEO);
    sub(&mut w, &c, &a, MEDIA_VIDEO);
    sub(&mut w, &c, &a, MEDIA_AUDIO);
    // Devices closed: nothing goes out.
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]), vec![]);
    open_devices(&mut w, &a);
    // B asked for video only; C is in another room.
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]), vec![(b.id, MEDIA_VIDEO)]);
    sub(&mut w, &b, &a, MEDIA_AUDIO);
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]), vec![(b.id, MEDIA_VIDEO), (b.id, MEDIA_AUDIO)]);
    // Unsubscribing stops it; closing the camera stops the video.
    w.send(b.conn, ClientMsg::Subscribe { user_id: a.id, kind: MEDIA_AUDIO, on: false });
    w.send(a.conn, ClientMsg::Device { kind: DEVICE_CAMERA, open: false });
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]), vec![]);
}

#[test]
fn media_flags_of_the_call_are_enforced() {
    let (v, au) = (MEDIA_VIDEO, MEDIA_AUDIO);
    let base = BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO;
    // (flag, what reaches B from A, what reaches A from B)
    let cases: [(u32, Vec<u8>, Vec<u8>); 5] = [
        (0, vec![v, au], vec![v, au]),
        (BRAC_VIDEOCALL_FLAGS_FBSRCAUDIO, vec![v], vec![v, au]),
        (BRAC_VIDEOCALL_FLAGS_FBSRCVIDEO, vec![au], vec![v, au]),
        (BRAC_VIDEOCALL_FLAGS_FBTARAUDIO, vec![v, au], vec![v]),
        (BRAC_VIDEOCALL_FLAGS_FBTARVIDEO, vec![v, au], vec![au]),
    ];
    for (flag, a_to_b, b_to_a) in cases {
        let (mut w, a, b) = media_call(base | flag);
        let got: Vec<u8> = send_media(&mut w, &a, &[&a, &b])
            .into_iter()
            .map(|(to, k)| {
                assert_eq!(to, b.id);
                k
            })
            .collect();
        assert_eq!(got, a_to_b, "caller's media with flag {flag:#x}");
        let got: Vec<u8> = send_media(&mut w, &b, &[&a, &b])
            .into_iter()
            .map(|(to, k)| {
                assert_eq!(to, a.id);
                k
            })
            .collect();
        assert_eq!(got, b_to_a, "callee's media with flag {flag:#x}");
    }
}

#[test]
fn media_of_an_audio_only_call_carries_no_video() {
    let (mut w, a, b) = media_call(BRAC_VIDEOCALL_FLAGS_AUDIO);
    assert_eq!(send_media(&mut w, &a, &[&a, &b]), vec![(b.id, MEDIA_AUDIO)]);
    assert_eq!(send_media(&mut w, &b, &[&a, &b]), vec![(a.id, MEDIA_AUDIO)]);
}

#[test]
fn media_stops_when_the_call_ends_and_strangers_never_get_it() {
    let (mut w, a, b) = media_call(BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO);
    let c = w.login("carol");
    sub(&mut w, &c, &a, MEDIA_VIDEO);
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]).len(), 2);
    let fin = CallEvent { event: FINISH, user_id: b.id, error_code: 0, flags: 0, param: 0, user_str: vec![] };
    w.send(a.conn, ClientMsg::VideoCall(fin));
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]), vec![], "no room, no call: nobody sees A");
}

#[test]
fn a_receivers_lost_video_asks_the_sender_for_a_key_frame() {
    let (mut w, a, _b) = media_call(BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO);
    // The subscription asked A for one just now: the next waits for the interval.
    w.core.on_media_dropped(w.now, a.id);
    w.drain().expect_nothing();
    w.advance(KEY_FRAME_INTERVAL - ms(1), &[]);
    w.core.on_media_dropped(w.now, a.id);
    w.drain().expect_nothing();
    w.advance(ms(1), &[]);
    w.drain().expect(&[(&a, vec![ServerMsg::NeedKeyFrame])]);
    // Later losses ask at once again.
    w.advance(KEY_FRAME_INTERVAL, &[]);
    w.core.on_media_dropped(w.now, a.id);
    w.drain().expect(&[(&a, vec![ServerMsg::NeedKeyFrame])]);
}

/// A flood of subscriptions (on, off, on…) from a receiver asks the sender
/// for at most one key frame per interval.
#[test]
fn subscription_floods_ask_for_key_frames_at_most_once_per_interval() {
    let (mut w, a, b) = media_call(BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO);
    w.advance(KEY_FRAME_INTERVAL, &[]);
    for _ in 0..10 {
        sub_off(&mut w, &b, &a, MEDIA_VIDEO);
        sub(&mut w, &b, &a, MEDIA_VIDEO);
    }
    w.drain().expect(&[(&a, vec![ServerMsg::NeedKeyFrame])]);
    w.advance(KEY_FRAME_INTERVAL, &[]);
    w.drain().expect(&[(&a, vec![ServerMsg::NeedKeyFrame])]);
    w.advance(KEY_FRAME_INTERVAL * 4, &[]);
    w.drain().expect_nothing();
}

/// Answered calls leave their ring timers behind (checked lazily); the heap
/// is cleaned so that it stays bounded at any call rate.
#[test]
fn answered_calls_do_not_pile_up_ring_timers() {
    let mut w = World::new();
    let a = w.login("alice");
    let b = w.login("bob");
    for _ in 0..20_000 {
        let req = CallEvent { event: REQUEST, user_id: b.id, error_code: 0, flags: 3, param: 0, user_str: vec![] };
        w.core.on_message(w.now, a.conn, ClientMsg::VideoCall(req));
        let rep = CallEvent { event: REPLY, user_id: a.id, error_code: 0, flags: 0, param: 0, user_str: vec![] };
        w.core.on_message(w.now, b.conn, ClientMsg::VideoCall(rep));
        let fin = CallEvent { event: FINISH, user_id: b.id, error_code: 0, flags: 0, param: 0, user_str: vec![] };
        w.core.on_message(w.now, a.conn, ClientMsg::VideoCall(fin));
        while w.core.poll_output().is_some() {}
    }
    assert_eq!(w.core.calls_in_progress(), 0);
    assert!(w.core.timers_pending() <= 4097, "{} timers for 2 connections", w.core.timers_pending());
    // A call still rings and times out as before.
    w.ring(&a, &b);
    w.advance(secs(61), &[]);
    let d = w.drain();
    assert!(d
        .to(a.conn)
        .iter()
        .any(|m| matches!(m, ServerMsg::VideoCall { ev, .. } if ev.error_code == AC_ERROR_VIDEOCALL_TIMEOUT)));
}

// ----- hostile clients: limits, deadlines, identity ---------------------------

/// A flood of messages (here `LeaveRoom(-1)`, which produces no answer) is
/// served up to the burst, then the core asks the loop to stop reading that
/// connection until its rate allows; other connections are not affected.
#[test]
fn a_flooder_is_paused_at_its_rate_and_others_are_not() {
    let (mut w, a, b, _) = three();
    let leave = || ClientMsg::LeaveRoom { room_id: ANY_ROOM };
    // The default room rate: 20/s with a burst of 40.
    for _ in 0..40 {
        w.send(a.conn, leave());
        assert_eq!(w.core.read_pause(a.conn, w.now), None);
    }
    w.send(a.conn, leave());
    assert_eq!(w.core.read_pause(a.conn, w.now), Some(w.now + ms(50)));
    assert_eq!(w.core.read_pause(b.conn, w.now), None);
    assert_eq!(w.core.stats().throttled[crate::core::limits::Class::Room as usize], 1);
    w.drain().expect_nothing();
    // Its debt paid, it may send again.
    w.now += ms(50);
    assert_eq!(w.core.read_pause(a.conn, w.now), None);
    // Calls are another class: B's and A's calls go on.
    w.ring(&b, &a);
}

/// Text to a room counts its bytes times its receivers: a big room text
/// puts the sender in debt for as long as the bytes take at its rate.
#[test]
fn room_text_counts_its_fan_out() {
    let mut limits = crate::core::limits::RateLimits::off();
    limits.set("text=1000,100000").unwrap();
    let mut w = World::with_config(CoreConfig { rate_limits: limits, ..CoreConfig::default() });
    let users: Vec<User> = (0..5).map(|i| w.login(&format!("u{i}"))).collect();
    for u in &users {
        w.enter(u, 7);
    }
    w.drain();
    let text = vec![b'x'; 60_000];
    // 4 receivers: 240,000 bytes against a burst of 200,000 → 0.4 s of debt.
    w.send(users[0].conn, ClientMsg::Text { to: 0, secret: false, text });
    let got = w.drain();
    for u in &users[1..] {
        assert_eq!(got.to(u.conn).len(), 1);
    }
    assert_eq!(w.core.read_pause(users[0].conn, w.now), Some(w.now + ms(400)));
}

/// With `RateAction::Disconnect` a sender over its rate is told
/// LINKCLOSE(105) and closed; its session ends as a lost connection.
#[test]
fn over_rate_disconnects_when_so_configured() {
    let mut limits = crate::core::limits::RateLimits::default();
    limits.action = crate::core::limits::RateAction::Disconnect;
    limits.set("control=1").unwrap();
    let mut w = World::with_config(CoreConfig { rate_limits: limits, ..CoreConfig::default() });
    let a = w.login("alice");
    w.send(a.conn, ClientMsg::Ping { seq: 1 });
    w.send(a.conn, ClientMsg::Ping { seq: 2 });
    w.drain().expect(&[]);
    w.send(a.conn, ClientMsg::Ping { seq: 3 });
    w.drain().expect_with_closes(
        &[(&a, vec![ServerMsg::LinkClose { code: GV_ERR_CONNECT_FUNCLIMIT }])],
        &[(a.conn, CloseReason::RateLimited)],
    );
    assert_eq!(w.core.online_users(), 0);
    assert_eq!(w.core.stats().rate_disconnects, 1);
}

/// A connection that has not logged in within the login time-out is closed
/// (before or after its Hello); logged-in users and the business server
/// are not; a login waiting for the business server's answer gets it first.
#[test]
fn connections_must_log_in_in_time() {
    let mut w = World::with_config(CoreConfig { login_timeout: secs(10), ..CoreConfig::default() });
    let silent = w.raw_connect();
    let hello_only = w.connect();
    let a = w.login("alice");
    let bs = w.link_business();
    let asking = w.connect();
    w.advance(secs(6), &[silent]);
    let q = w.ask_login_on(&bs, asking, "bob");
    w.advance(secs(4) - ms(1), &[silent]);
    w.drain().expect_nothing();
    w.advance(ms(1), &[silent]);
    w.drain().expect_biz_with_closes(
        &bs,
        vec![],
        &[],
        &[(silent, CloseReason::LoginTimeout), (hello_only, CloseReason::LoginTimeout)],
    );
    assert_eq!(w.core.stats().login_timeouts, 2);
    // Bob's answer comes before its own time limit: Bob is in.
    w.advance(ms(500), &[]);
    w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code: 0, user_id: 0, level: 0, nick: vec![] });
    let d = w.drain();
    assert!(matches!(d.to(asking), [ServerMsg::LoginResult { code: 0, .. }]), "{d:?}");
    w.advance(secs(30), &[]);
    w.drain().expect_nothing();
    assert!(w.core.is_open(a.conn) && w.core.is_open(bs.conn) && w.core.is_open(asking));
}

/// Frames are short before `Hello` and before login: nobody holds a
/// megabyte of the server's memory without logging in.
#[test]
fn frame_limits_follow_the_connection_state() {
    let mut w = World::new();
    let conn = w.raw_connect();
    assert_eq!(w.core.frame_limit(conn), super::MAX_FRAME_BEFORE_HELLO);
    w.send(conn, ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 });
    assert_eq!(w.core.frame_limit(conn), super::MAX_FRAME_BEFORE_LOGIN);
    w.take_conn(conn);
    w.login_on(conn, "alice");
    assert_eq!(w.core.frame_limit(conn), crate::wire::protocol::MAX_FRAME_LEN);
    let bs = w.link_business();
    assert_eq!(w.core.frame_limit(bs.conn), crate::wire::protocol::MAX_FRAME_LEN);
}

/// Without a business server, `BRAC_LoginEx` claiming the id of a user
/// online under another name is refused (201) and the victim stays; the
/// same name logging in again still replaces its old session (newest wins).
#[test]
fn a_claimed_id_never_takes_over_another_user() {
    let mut w = World::new();
    let victim = w.login("victim");
    let conn = w.connect();
    let claim = |name: &str| ClientMsg::LoginEx {
        name: name.as_bytes().to_vec(),
        password: vec![],
        user_id: victim.id,
        nick: vec![],
    };
    w.send(conn, claim("mallory"));
    w.drain().expect(&[(
        &anon(conn),
        vec![ServerMsg::LoginResult {
            user_id: 0,
            code: GV_ERR_ALREADY_LOGIN,
            name: b"mallory".to_vec(),
            level: 0,
            nick: vec![],
            address: vec![],
        }],
    )]);
    assert_eq!(w.core.stats().id_claims_refused, 1);
    assert!(w.core.is_open(victim.conn));
    let b = w.login("bob");
    w.ring(&b, &victim);
    // The victim's own name with its id: its newest session wins.
    w.send(conn, claim("victim"));
    let d = w.drain();
    assert_eq!(d.to(victim.conn).first(), Some(&ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN }));
    assert!(matches!(d.to(conn), [ServerMsg::LoginResult { code: 0, user_id, .. }] if *user_id == victim.id));
    // A name whose kept id a claim holds gets a new id, not a takeover.
    let m = w.connect();
    w.send(m, ClientMsg::LoginEx { name: b"mallory".to_vec(), password: vec![], user_id: 777, nick: vec![] });
    w.drain();
    let carol = w.login("carol");
    assert_ne!(carol.id, 777);
}

/// With a business server, the claimed id is in the question and only its
/// answer grants an id: answering 0 gives the id kept for the name.
#[test]
fn business_decides_a_claimed_id() {
    let mut w = World::new();
    let bs = w.link_business();
    let vconn = w.connect();
    let victim = w.login_verified_on(&bs, vconn, "victim", 500, 0);
    let conn = w.connect();
    let ex = ClientMsg::LoginEx { name: b"mallory".to_vec(), password: b"pw".to_vec(), user_id: 500, nick: vec![] };
    w.send(conn, ex);
    let d = w.drain();
    let q = match d.to(bs.conn) {
        [ServerMsg::BizAskVerify { query, user_id: 500, name, .. }] if name == b"mallory" => *query,
        other => panic!("{other:?}"),
    };
    w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code: 0, user_id: 0, level: 0, nick: vec![] });
    let d = w.drain();
    let [ServerMsg::LoginResult { user_id, code: 0, .. }] = d.to(conn) else { panic!("{d:?}") };
    assert_ne!(*user_id, 500);
    assert!(w.core.is_open(victim.conn));
}

/// Subscribing to a user one cannot see does nothing (no key-frame request
/// either); subscriptions go when the subscriber logs out or can no longer
/// see the sender, so senders' lists stay as long as their audience.
#[test]
fn subscriptions_only_to_visible_users_and_gone_with_them() {
    let (mut w, a, b, c) = three();
    w.enter(&a, 10);
    w.enter(&b, 10);
    open_devices(&mut w, &a);
    w.drain();
    sub(&mut w, &c, &a, MEDIA_VIDEO);
    w.drain().expect_nothing();
    assert_eq!(w.core.stats().subscriptions_refused, 1);
    // C entering the room later does not make that subscription count.
    w.enter(&c, 10);
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]), vec![]);
    sub(&mut w, &b, &a, MEDIA_VIDEO);
    sub(&mut w, &c, &a, MEDIA_VIDEO);
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]), vec![(b.id, MEDIA_VIDEO), (c.id, MEDIA_VIDEO)]);
    // C leaves the room: dropped on the next frame; B logs out: dropped at once.
    w.send(c.conn, ClientMsg::LeaveRoom { room_id: ANY_ROOM });
    assert_eq!(send_media(&mut w, &a, &[&a, &b, &c]), vec![(b.id, MEDIA_VIDEO)]);
    assert_eq!(w.core.users[&a.id].video_subs, vec![b.id]);
    w.logout(&b);
    assert!(w.core.users[&a.id].video_subs.is_empty());
    assert!(w.core.users[&c.id].subscribed_to.is_empty());
    // Many throwaway subscribers come and go: the list stays empty.
    for i in 0..50 {
        let u = w.login(&format!("t{i}"));
        w.enter(&u, 10);
        sub(&mut w, &u, &a, MEDIA_VIDEO);
        w.logout(&u);
    }
    assert!(w.core.users[&a.id].video_subs.is_empty());
}

/// Wrong business secrets: five tries per address, then one per second;
/// another address is not affected.
#[test]
fn wrong_business_secrets_are_throttled_per_address() {
    let mut w = World::with_config(with_secret());
    for _ in 0..5 {
        w.assert_refused(true, biz_hello(b"guess"), GV_ERR_CONNECT_AUTHFAIL);
    }
    w.assert_refused(true, biz_hello(b"guess"), GV_ERR_IPADDR_LOCK);
    w.assert_refused(true, biz_hello(b"s3cret"), GV_ERR_IPADDR_LOCK);
    // From another address, the right secret links at once.
    let conn = w.raw_connect_on(true, "10.9.9.9");
    w.send(conn, biz_hello(b"s3cret"));
    assert!(w.core.business_linked());
    assert_eq!(w.core.stats().secret_refusals, 7);
}

/// A login the business server is asked about pauses the reading of that
/// connection (what the client pipelined after its Login waits), and the
/// answer resumes it: the client's next messages are then served as a
/// logged-in user's, in order, not dropped.
#[test]
fn messages_after_a_login_being_verified_wait_for_the_answer() {
    let mut w = World::new();
    let bs = w.link_business();
    let conn = w.connect();
    assert_eq!(w.core.read_pause(conn, w.now), None);
    let q = w.ask_login_on(&bs, conn, "alice");
    assert_eq!(w.core.read_pause(conn, w.now), Some(w.now + secs(5)));
    w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code: 0, user_id: 0, level: 0, nick: vec![] });
    let d = w.drain();
    assert_eq!(d.resumed, vec![conn]);
    assert_eq!(w.core.read_pause(conn, w.now), None);
    // A refusal resumes too (the client may try again).
    let other = w.connect();
    let q = w.ask_login_on(&bs, other, "mallory");
    w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code: 200, user_id: 0, level: 0, nick: vec![] });
    assert_eq!(w.drain().resumed, vec![other]);
    assert_eq!(w.core.read_pause(other, w.now), None);
}

// ----- friends, groups and user infos (`friends.rs`) -----------------------------

const ADDGROUP: u32 = BRAS_USERINFO_CTRLCODE_ADDGROUP;
const DELGROUP: u32 = BRAS_USERINFO_CTRLCODE_DELGROUP;
const ADDFRIEND: u32 = BRAS_USERINFO_CTRLCODE_ADDFRIEND;
const DELFRIEND: u32 = BRAS_USERINFO_CTRLCODE_DELFRIEND;
const RELATION: u32 = BRAS_USERINFO_CTRLCODE_SETGROUPRELATION;
const SYNCDATA: u32 = BRAS_USERINFO_CTRLCODE_SYNCDATA;

impl World {
    /// `BRAS_UserInfoControl(user, ctrl, wparam, lparam, text)`.
    fn control(&mut self, bs: &Biz, user: u32, ctrl: u32, wparam: u32, lparam: u32, text: &str) {
        let text = text.as_bytes().to_vec();
        self.biz(bs, ClientMsg::BizUserControl { user_id: user, ctrl, wparam, lparam, text });
    }

    /// `BRAS_SetUserInfo(user, info_id, value)`.
    fn set_info(&mut self, bs: &Biz, user: u32, info_id: u32, value: &str) {
        self.biz(bs, ClientMsg::BizSetUserInfo { user_id: user, info_id, value: value.as_bytes().to_vec() });
    }

    /// The end of the loop's turn: the core's timers due now run.
    fn end_of_burst(&mut self) {
        self.core.on_timeout(self.now);
        self.pump();
    }
}

fn group_set(group_id: u32, name: &str) -> ServerMsg {
    ServerMsg::GroupSet { group_id, name: name.as_bytes().to_vec() }
}

fn friend_set(u: &User, online: bool, group: u32) -> ServerMsg {
    ServerMsg::FriendSet { user_id: u.id, online, group }
}

fn sync_info(u: &User, info_id: u32, value: &str) -> ServerMsg {
    ServerMsg::SyncInfo { user_id: u.id, info_id, value: value.as_bytes().to_vec() }
}

fn user_info(u: &User, info_id: u32, value: &str) -> ServerMsg {
    ServerMsg::UserInfo { user_id: u.id, info_id, value: value.as_bytes().to_vec() }
}

/// The business server fills a user's groups and friends: each change
/// reaches the user at once, and one `UserDataUpdated` follows at the end
/// of the burst. SETGROUPRELATION puts a friend in one group (adding it as
/// a friend if needed); a group that does not exist: ignored; a rename is
/// ADDGROUP again; DELGROUP leaves its friends in no group; repeats change
/// nothing.
#[test]
fn friends_lists_filled_and_each_change_sent_with_one_notice_per_burst() {
    let (mut w, a, b, c) = three();
    let bs = w.link_business();
    let d = w.login_verified(&bs, "dave");
    w.control(&bs, a.id, ADDGROUP, 1, 0, "agents");
    w.control(&bs, a.id, ADDGROUP, 2, 0, "guests");
    w.control(&bs, a.id, ADDFRIEND, b.id, 0, "");
    w.control(&bs, a.id, RELATION, 1, b.id, "");
    w.control(&bs, a.id, RELATION, 2, c.id, "");
    // Repeats, a group a does not have, ids 0 and -1: nothing.
    w.control(&bs, a.id, ADDFRIEND, b.id, 0, "");
    w.control(&bs, a.id, ADDGROUP, 1, 0, "agents");
    w.control(&bs, a.id, RELATION, 1, b.id, "");
    w.control(&bs, a.id, RELATION, 9, d.id, "");
    w.control(&bs, a.id, ADDGROUP, 0, 0, "zero");
    w.control(&bs, a.id, ADDFRIEND, u32::MAX, 0, "");
    w.drain().expect_biz(
        &bs,
        vec![],
        &[(
            &a,
            vec![
                group_set(1, "agents"),
                group_set(2, "guests"),
                friend_set(&b, true, 0),
                friend_set(&b, true, 1),
                friend_set(&c, true, 0),
                friend_set(&c, true, 2),
            ],
        )],
    );
    w.end_of_burst();
    w.drain().expect(&[(&a, vec![ServerMsg::UserDataUpdated])]);
    w.end_of_burst();
    w.drain().expect_nothing();

    // A friend who is not online; a rename; a group removed; a friend removed.
    w.control(&bs, a.id, ADDFRIEND, 4242, 0, "");
    w.control(&bs, a.id, ADDGROUP, 2, 0, "visitors");
    w.control(&bs, a.id, DELGROUP, 1, 0, "");
    w.control(&bs, a.id, DELFRIEND, c.id, 0, "");
    w.control(&bs, a.id, DELFRIEND, c.id, 0, "");
    w.control(&bs, a.id, DELGROUP, 1, 0, "");
    w.end_of_burst();
    w.drain().expect_biz(
        &bs,
        vec![],
        &[(
            &a,
            vec![
                ServerMsg::FriendSet { user_id: 4242, online: false, group: 0 },
                group_set(2, "visitors"),
                ServerMsg::GroupGone { group_id: 1 },
                ServerMsg::FriendGone { user_id: c.id },
                ServerMsg::UserDataUpdated,
            ],
        )],
    );
    // b stayed a friend, in no group now.
    w.control(&bs, a.id, SYNCDATA, 0, 0, "");
    w.drain().expect(&[(
        &a,
        vec![
            ServerMsg::UserDataReset,
            group_set(2, "visitors"),
            friend_set(&b, true, 0),
            ServerMsg::FriendSet { user_id: 4242, online: false, group: 0 },
            ServerMsg::UserDataUpdated,
        ],
    )]);
    // Nobody else heard anything; a user not online: ignored.
    w.control(&bs, 4242, ADDGROUP, 1, 0, "x");
    w.control(&bs, 4242, SYNCDATA, 0, 0, "");
    w.end_of_burst();
    w.drain().expect_nothing();
}

/// Friends see each other's online status: a login and a logout (or a lost
/// connection) reach every user online who has that user as a friend, and
/// nobody else; `FriendSet` carries the status at the time.
#[test]
fn friends_status_on_login_and_logout() {
    let (mut w, a, b, c) = three();
    let bs = w.link_business();
    w.control(&bs, a.id, ADDFRIEND, b.id, 0, "");
    w.control(&bs, c.id, ADDFRIEND, b.id, 0, "");
    w.control(&bs, c.id, ADDFRIEND, a.id, 0, "");
    w.end_of_burst();
    w.drain();

    w.logout(&b);
    let off = ServerMsg::FriendStatus { user_id: b.id, online: false };
    let d = w.drain();
    assert_eq!(d.to(a.conn), std::slice::from_ref(&off));
    assert_eq!(d.to(c.conn), std::slice::from_ref(&off));

    // b comes back: a and c hear it; b's own lists start empty.
    let conn = w.connect();
    let q = w.ask_login_on(&bs, conn, "bob");
    w.biz(&bs, ClientMsg::BizVerifyResult { query: q, code: 0, user_id: b.id, level: 0, nick: b"Nick".to_vec() });
    let on = ServerMsg::FriendStatus { user_id: b.id, online: true };
    let d = w.drain();
    assert!(matches!(d.to(conn), [ServerMsg::LoginResult { code: 0, .. }]), "{:?}", d.to(conn));
    assert_eq!(d.to(a.conn), std::slice::from_ref(&on));
    assert_eq!(d.to(c.conn), &[on]);
    let b = User { conn, ..b };
    w.control(&bs, b.id, SYNCDATA, 0, 0, "");
    w.drain().expect(&[(&b, vec![ServerMsg::UserDataReset, ServerMsg::UserDataUpdated])]);

    // A lost connection is a logout for friends; a user who is gone hears
    // nothing more (a's own friend b goes offline after a left).
    w.close(a.conn);
    let d = w.drain();
    assert_eq!(d.to(c.conn), &[ServerMsg::FriendStatus { user_id: a.id, online: false }]);
    assert!(d.to(b.conn).is_empty(), "b does not have a as a friend");
    w.close(b.conn);
    let d = w.drain();
    assert_eq!(d.to(c.conn), &[off]);
    assert!(d.to(a.conn).is_empty());
    assert!(w.core.friend_of.contains_key(&a.id), "c still has a as a friend");
    assert!(w.core.friend_of.values().all(|v| v == &[c.id]), "a's watching is gone: {:?}", w.core.friend_of);
    w.logout(&c);
    assert!(w.core.friend_of.is_empty(), "nobody online has friends: {:?}", w.core.friend_of);
}

/// Infos: kept while the user is online, sent to it and to the users who
/// have it as a friend (`UserInfo`); a friend added brings its infos along
/// (`SyncInfo`, no notice of their own); SYNCDATA sends the user's infos
/// and its friends' again and subsumes the notice of the burst.
#[test]
fn friends_infos_and_syncdata() {
    let (mut w, a, b, c) = three();
    let bs = w.link_business();
    w.control(&bs, a.id, ADDFRIEND, b.id, 0, "");
    w.end_of_burst();
    w.drain();
    w.set_info(&bs, b.id, 1, "Bob");
    w.set_info(&bs, b.id, 3, "signature");
    w.set_info(&bs, a.id, 1, "Alice");
    w.drain().expect_biz(
        &bs,
        vec![],
        &[
            (&b, vec![user_info(&b, 1, "Bob"), user_info(&b, 3, "signature")]),
            (&a, vec![user_info(&b, 1, "Bob"), user_info(&b, 3, "signature"), user_info(&a, 1, "Alice")]),
        ],
    );
    // A new value replaces the old one.
    w.set_info(&bs, b.id, 1, "Bobby");
    w.drain().expect(&[(&b, vec![user_info(&b, 1, "Bobby")]), (&a, vec![user_info(&b, 1, "Bobby")])]);

    // c adds b: b's infos come along.
    w.control(&bs, c.id, ADDGROUP, 7, 0, "team");
    w.control(&bs, c.id, RELATION, 7, b.id, "");
    w.drain().expect(&[(
        &c,
        vec![
            group_set(7, "team"),
            friend_set(&b, true, 0),
            sync_info(&b, 1, "Bobby"),
            sync_info(&b, 3, "signature"),
            friend_set(&b, true, 7),
        ],
    )]);
    // SYNCDATA within the burst: everything again, and no second notice.
    w.set_info(&bs, c.id, 2, "10.0.0.9");
    w.control(&bs, c.id, ADDFRIEND, a.id, 0, "");
    w.control(&bs, c.id, SYNCDATA, 0, 0, "");
    w.end_of_burst();
    w.drain().expect(&[(
        &c,
        vec![
            user_info(&c, 2, "10.0.0.9"),
            friend_set(&a, true, 0),
            sync_info(&a, 1, "Alice"),
            ServerMsg::UserDataReset,
            group_set(7, "team"),
            friend_set(&b, true, 7),
            friend_set(&a, true, 0),
            sync_info(&c, 2, "10.0.0.9"),
            sync_info(&b, 1, "Bobby"),
            sync_info(&b, 3, "signature"),
            sync_info(&a, 1, "Alice"),
            ServerMsg::UserDataUpdated,
        ],
    )]);
    // An info of a user not online is not sent (nor kept).
    w.logout(&b);
    w.drain();
    w.set_info(&bs, b.id, 1, "gone");
    w.control(&bs, c.id, SYNCDATA, 0, 0, "");
    let d = w.drain();
    assert!(!d.to(c.conn).iter().any(|m| matches!(m, ServerMsg::SyncInfo { user_id, .. } if *user_id == b.id)));
    assert!(d.to(c.conn).contains(&friend_set(&b, false, 7)));
}

/// What the business server sets is bounded: groups, friends, infos, names
/// and values over their limits are ignored and counted.
#[test]
fn friends_data_is_bounded() {
    use crate::wire::protocol::{MAX_FRIENDS, MAX_GROUPS, MAX_GROUP_NAME_LEN, MAX_INFOS, MAX_INFO_LEN};
    let (mut w, a, _, _) = three();
    let bs = w.link_business();
    for g in 1..=MAX_GROUPS as u32 + 1 {
        w.control(&bs, a.id, ADDGROUP, g, 0, "g");
    }
    for f in 1..=MAX_FRIENDS as u32 + 1 {
        w.control(&bs, a.id, ADDFRIEND, 10_000 + f, 0, "");
    }
    for i in 1..=MAX_INFOS as u32 + 1 {
        w.set_info(&bs, a.id, i, "v");
    }
    w.control(&bs, a.id, ADDGROUP, 1, 0, &"n".repeat(MAX_GROUP_NAME_LEN + 1));
    w.set_info(&bs, a.id, 1, &"v".repeat(MAX_INFO_LEN + 1));
    w.end_of_burst();
    let d = w.drain();
    let sent = d.to(a.conn);
    assert_eq!(sent.iter().filter(|m| matches!(m, ServerMsg::GroupSet { .. })).count(), MAX_GROUPS);
    assert_eq!(sent.iter().filter(|m| matches!(m, ServerMsg::FriendSet { .. })).count(), MAX_FRIENDS);
    assert_eq!(sent.iter().filter(|m| matches!(m, ServerMsg::UserInfo { .. })).count(), MAX_INFOS);
    assert_eq!(sent.last(), Some(&ServerMsg::UserDataUpdated));
    assert_eq!(w.core.stats().user_data_refused, 5);
    // At logout it is all forgotten.
    w.logout(&a);
    assert!(w.core.friend_of.is_empty());
}

/// BLOCKIP: clients from a matching address are refused (`Refused{203}` at
/// the handshake, `LoginResult{203}` for one already connected) until
/// UNBLOCKIP; an UNBLOCKIP inside a blocked pattern is an exception; users
/// already logged in stay; the business listener is never blocked.
#[test]
fn business_blockip_refuses_clients_until_unblockip() {
    let (mut w, a, _, _) = three();
    let bs = w.link_business();
    let early = w.connect();
    w.control(&bs, 0, BRAS_USERINFO_CTRLCODE_BLOCKIP, 0, 0, "127.0.0.*");
    w.drain().expect_nothing();
    let hello = ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 };
    let conn = w.raw_connect_on(false, "127.0.0.1");
    w.send(conn, hello.clone());
    w.drain().expect_with_closes(
        &[(&anon(conn), vec![ServerMsg::Refused { code: GV_ERR_IPADDR_LOCK }])],
        &[(conn, CloseReason::Handshake)],
    );
    w.send(early, ClientMsg::Login { name: b"eve".to_vec(), password: vec![], pass_enc_type: 0 });
    let refused = ServerMsg::LoginResult {
        user_id: 0,
        code: GV_ERR_IPADDR_LOCK,
        name: b"eve".to_vec(),
        level: 0,
        nick: vec![],
        address: vec![],
    };
    w.drain().expect(&[(&anon(early), vec![refused])]);
    // Another address connects; a is still there.
    let other = w.raw_connect_on(false, "10.1.2.3");
    w.send(other, hello.clone());
    assert!(matches!(w.take_conn(other).as_slice(), [ServerMsg::Welcome { .. }]));
    assert!(w.core.users.contains_key(&a.id));
    // Everything blocked but one address; then unblocked.
    w.control(&bs, 0, BRAS_USERINFO_CTRLCODE_UNBLOCKIP, 0, 0, "127.0.0.*");
    w.control(&bs, 0, BRAS_USERINFO_CTRLCODE_BLOCKIP, 0, 0, "*");
    w.control(&bs, 0, BRAS_USERINFO_CTRLCODE_UNBLOCKIP, 0, 0, "127.0.0.1");
    assert!(w.core.ip_blocked("10.1.2.3"));
    assert!(w.core.ip_blocked("::1"));
    assert!(!w.core.ip_blocked("127.0.0.1"));
    assert!(!w.core.ip_blocked("::ffff:127.0.0.1"));
    w.login_verified(&bs, "frank");
    w.control(&bs, 0, BRAS_USERINFO_CTRLCODE_UNBLOCKIP, 0, 0, "*");
    assert!(!w.core.ip_blocked("10.1.2.3"));
    // The business listener is never blocked.
    w.control(&bs, 0, BRAS_USERINFO_CTRLCODE_BLOCKIP, 0, 0, "*");
    w.close(bs.conn);
    w.advance(w.core.config().business_timeout, &[]);
    w.link_business();
    assert_eq!(w.core.stats().ip_refusals, 2);
}

// ----- the journal: call records, missed calls, restored state ---------------

/// Wall-clock milliseconds the journal tests' clock starts at.
const WALL0: u64 = 1_700_000_000_000;

fn journal_world() -> World {
    let mut w = World::new();
    let t0 = w.t0;
    w.core = Core::new(CoreConfig {
        journal: true,
        missed_calls: true,
        wall_clock: Some((t0, WALL0)),
        ring_timeout: secs(60),
        keepalive_timeout: secs(15),
        ..CoreConfig::default()
    });
    w
}

impl World {
    /// The journal events output since the last drain (other outputs dropped).
    fn journal(&mut self) -> Vec<Journal> {
        self.drain().journal
    }

    /// The one call record among the journal events since the last drain.
    #[track_caller]
    fn record(&mut self) -> CallRecord {
        let records: Vec<CallRecord> = self
            .journal()
            .into_iter()
            .filter_map(|j| match j {
                Journal::Call(r) => Some(*r),
                _ => None,
            })
            .collect();
        assert_eq!(records.len(), 1, "one call record: {records:?}");
        records.into_iter().next().unwrap()
    }

    /// Logs `name` in; returns the user and what it was sent after its
    /// `LoginResult`.
    fn login_seeing(&mut self, name: &str) -> (User, Vec<ServerMsg>) {
        let conn = self.connect();
        self.send(conn, ClientMsg::Login { name: name.as_bytes().to_vec(), password: vec![], pass_enc_type: 0 });
        let mut msgs = self.take_conn(conn);
        let ServerMsg::LoginResult { user_id, code: 0, .. } = msgs.remove(0) else { panic!("login of {name}") };
        let name = name.as_bytes().to_vec();
        (User { conn, id: user_id, nick: name.clone(), name, level: 0 }, msgs)
    }

    fn wall(&self) -> u64 {
        WALL0 + (self.now - self.t0).as_millis() as u64
    }
}

#[test]
fn journal_answered_call_has_one_record_with_times_parties_and_room() {
    let mut w = journal_world();
    let a = w.login("alice");
    let b = w.login("bob");
    let ids = w.journal();
    assert_eq!(
        ids,
        vec![
            Journal::UserId { name: b"alice".to_vec(), id: a.id },
            Journal::UserId { name: b"bob".to_vec(), id: b.id }
        ],
        "new user ids are journaled"
    );
    w.advance(secs(1), &[]);
    let requested = w.wall();
    w.ring(&a, &b);
    w.advance(secs(3), &[]);
    w.reply(&b, &a, 0, B_PARAM, B_STR);
    let started = w.wall();
    let j = w.journal();
    let [Journal::CallStarted { call_id, setup }] = j.as_slice() else { panic!("started: {j:?}") };
    assert_eq!(*setup, secs(3));
    w.advance(secs(10), &[]);
    w.finish(&b, &a, 0, 0, b"");
    let r = w.record();
    assert_eq!(r.call_id, *call_id);
    assert_eq!((r.caller, r.callee, r.flags), (a.id, b.id, FLAGS));
    assert_eq!((r.caller_name.as_str(), r.callee_name.as_str()), ("alice", "bob"));
    assert_eq!((r.caller_addr.as_str(), r.callee_addr.as_str()), ("127.0.0.1", "127.0.0.1"));
    assert_eq!((r.requested_ms, r.started_ms, r.ended_ms), (requested, Some(started), w.wall()));
    assert_eq!((r.setup_ms(), r.duration_ms()), (Some(3000), 10_000));
    assert_eq!((r.outcome, r.ended_by, r.code), (Outcome::Answered, EndedBy::Callee, 0));
    assert!(r.room.is_some_and(|room| room >= CALL_ROOM_BASE));
    assert!(!r.missed);
}

#[test]
fn journal_outcome_and_who_ended_each_kind_of_attempt() {
    type Scene = fn(&mut World, &User, &User);
    let scenes: [(&str, Scene, Outcome, EndedBy, u32, bool); 8] = [
        (
            "refused",
            |w, a, b| w.reply(b, a, AC_ERROR_VIDEOCALL_REJECT, 0, b""),
            Outcome::Refused,
            EndedBy::Callee,
            AC_ERROR_VIDEOCALL_REJECT,
            false,
        ),
        (
            "cancelled",
            |w, a, b| w.reply(a, b, AC_ERROR_VIDEOCALL_CANCEL, 0, b""),
            Outcome::Cancelled,
            EndedBy::Caller,
            AC_ERROR_VIDEOCALL_CANCEL,
            true,
        ),
        (
            "time-out",
            |w, _, _| w.advance(secs(61), &[]),
            Outcome::Timeout,
            EndedBy::Server,
            AC_ERROR_VIDEOCALL_TIMEOUT,
            true,
        ),
        ("caller lost", |w, a, _| w.close(a.conn), Outcome::Lost, EndedBy::Caller, AC_ERROR_VIDEOCALL_DISCONNECT, true),
        (
            "callee lost",
            |w, _, b| w.close(b.conn),
            Outcome::Lost,
            EndedBy::Callee,
            AC_ERROR_VIDEOCALL_DISCONNECT,
            false,
        ),
        ("callee logout", |w, _, b| w.logout(b), Outcome::Refused, EndedBy::Callee, AC_ERROR_VIDEOCALL_REJECT, false),
        ("caller logout", |w, a, _| w.logout(a), Outcome::Cancelled, EndedBy::Caller, AC_ERROR_VIDEOCALL_CANCEL, true),
        (
            "answered, then lost",
            |w, a, b| {
                w.reply(b, a, 0, 0, b"");
                w.close(a.conn)
            },
            Outcome::Answered,
            EndedBy::Caller,
            AC_ERROR_VIDEOCALL_DISCONNECT,
            false,
        ),
    ];
    for (what, scene, outcome, by, code, missed) in scenes {
        let mut w = journal_world();
        let a = w.login("alice");
        let b = w.login("bob");
        w.ring(&a, &b);
        w.journal();
        scene(&mut w, &a, &b);
        let r = w.record();
        assert_eq!((r.outcome, r.ended_by, r.code, r.missed), (outcome, by, code, missed), "{what}");
        assert_eq!(r.started_ms.is_some(), outcome == Outcome::Answered, "{what}");
    }
}

#[test]
fn journal_requests_refused_at_once_are_recorded_too() {
    let mut w = journal_world();
    let a = w.login("alice");
    let b = w.login("bob");
    let c = w.login("carol");
    w.journal();
    // Busy: bob is in a call with carol.
    w.ring(&c, &b);
    w.journal();
    w.request(&a, &b, 0, b"");
    let r = w.record();
    assert_eq!(
        (r.outcome, r.ended_by, r.code, r.missed),
        (Outcome::Busy, EndedBy::Server, AC_ERROR_VIDEOCALL_BUSY, true)
    );
    assert_eq!(r.started_ms, None);
    assert_eq!(r.requested_ms, r.ended_ms);
    // The caller itself busy: nothing missed by the callee.
    w.request(&c, &a, 0, b"");
    let r = w.record();
    assert_eq!((r.outcome, r.ended_by, r.missed), (Outcome::Busy, EndedBy::Caller, false));
    // Offline: an id nobody has.
    w.video_call(&a, REQUEST, 4242, 0, FLAGS, 0, b"");
    let r = w.record();
    assert_eq!((r.callee, r.outcome, r.ended_by, r.missed), (4242, Outcome::Offline, EndedBy::Server, true));
    assert_eq!(r.callee_name, "");
    let ids: Vec<u64> = [r.call_id].to_vec();
    assert!(ids[0] >= 3, "every attempt has a call id of its own");
}

#[test]
fn journal_missed_calls_are_shown_at_the_next_login_once() {
    let mut w = journal_world();
    let a = w.login("alice");
    let b = w.login("bob");
    w.logout(&b);
    w.journal();
    w.advance(secs(2), &[]);
    let at = w.wall();
    w.video_call(&a, REQUEST, b.id, 0, FLAGS, 0, b"");
    let missed = w.record();
    assert_eq!((missed.outcome, missed.missed), (Outcome::Offline, true));
    // Another one that rang out while bob was away again later is kept too.
    let (b2, shown) = w.login_seeing("bob");
    assert_eq!(b2.id, b.id, "same name, same id");
    let j = w.drain();
    let line = format!("{at}\t{}\talice\t{FLAGS}\toffline\n", a.id);
    assert_eq!(
        shown,
        &[ServerMsg::UserInfo { user_id: b.id, info_id: MISSED_CALLS_INFO, value: line.into_bytes() }],
        "missed call shown as the user's own info 900"
    );
    assert_eq!(j.journal, vec![Journal::MissedShown { user_id: b.id, call_ids: vec![missed.call_id] }]);
    // Shown once: the next login has nothing to show.
    w.logout(&b2);
    let (_, shown) = w.login_seeing("bob");
    assert!(shown.is_empty(), "nothing missed since");
}

#[test]
fn journal_restored_names_call_ids_and_missed_calls_continue() {
    let mut w = journal_world();
    let missed =
        Missed { call_id: 77, caller: 41, caller_name: "dave".into(), flags: 1, at_ms: 5, outcome: Outcome::Timeout };
    w.core.restore(Restored {
        ids_by_name: vec![(b"carol".to_vec(), 40), (b"dave".to_vec(), 41)],
        next_call_id: 500,
        missed: vec![(40, missed)],
    });
    let (c, shown) = w.login_seeing("carol");
    assert_eq!(c.id, 40, "a restored name keeps its id");
    assert_eq!(
        shown,
        &[ServerMsg::UserInfo {
            user_id: 40,
            info_id: MISSED_CALLS_INFO,
            value: b"5\t41\tdave\t1\ttimeout\n".to_vec()
        }]
    );
    let e = w.login("erin");
    assert_eq!(e.id, 42, "new names get ids after the restored ones");
    w.journal();
    w.request(&e, &c, 0, b"");
    w.drain();
    w.reply(&c, &e, AC_ERROR_VIDEOCALL_REJECT, 0, b"");
    assert_eq!(w.record().call_id, 500, "call ids continue after the recorded ones");
}

#[test]
fn journal_off_emits_nothing_and_keeps_no_missed_calls() {
    let mut w = World::new();
    let a = w.login("alice");
    let b = w.login("bob");
    w.logout(&b);
    w.video_call(&a, REQUEST, b.id, 0, FLAGS, 0, b"");
    assert!(w.drain().journal.is_empty());
    let (_, shown) = w.login_seeing("bob");
    assert!(shown.is_empty());
}

#[test]
fn journal_status_lists_users_calls_and_rooms() {
    let mut w = journal_world();
    let a = w.login("alice");
    let b = w.login("bob");
    w.ring(&a, &b);
    w.advance(secs(2), &[]);
    w.reply(&b, &a, 0, 0, b"");
    w.advance(secs(5), &[]);
    let s = w.core.status(w.now, 10);
    assert_eq!(s.users_online, 2);
    assert_eq!(s.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), vec!["alice", "bob"]);
    assert_eq!((s.calls_vetting, s.calls_ringing, s.calls_active), (0, 0, 1));
    let call = &s.calls[0];
    assert_eq!((call.caller_name.as_str(), call.callee_name.as_str(), call.state), ("alice", "bob", "active"));
    assert_eq!((call.age_ms, call.talk_ms), (7000, Some(5000)));
    assert_eq!(s.rooms.len(), 1, "the call's room");
    assert_eq!(s.rooms[0].call, Some(call.call_id));
    assert!(w.core.status(w.now, 1).users.len() == 1, "lists are capped");
}

#[test]
fn journal_without_missed_calls_records_them_but_shows_nothing() {
    let mut w = journal_world();
    let t0 = w.t0;
    w.core = Core::new(CoreConfig { journal: true, wall_clock: Some((t0, WALL0)), ..CoreConfig::default() });
    let a = w.login("alice");
    let b = w.login("bob");
    w.logout(&b);
    w.journal();
    w.video_call(&a, REQUEST, b.id, 0, FLAGS, 0, b"");
    assert!(w.record().missed, "the record says the callee missed it");
    let (_, shown) = w.login_seeing("bob");
    assert!(shown.is_empty(), "without missed_calls nothing is shown at login");
}

#[test]
fn journal_calls_ended_while_vetted_never_rang_and_are_not_missed() {
    let mut w = journal_world();
    let a = w.login("alice");
    let b = w.login("bob");
    let bs = w.link_business();
    // Cancelled before the business server answered.
    w.ask_call(&bs, &a, &b);
    w.journal();
    w.reply(&a, &b, AC_ERROR_VIDEOCALL_CANCEL, 0, b"");
    let r = w.record();
    assert_eq!((r.outcome, r.ended_by, r.missed), (Outcome::Cancelled, EndedBy::Caller, false));
    // Vetoed: the business server's answer is timed.
    w.advance(secs(1), &[]);
    let q = w.ask_call(&bs, &a, &b);
    w.journal();
    w.advance(secs(2), &[]);
    w.verdict(&bs, q, 4242);
    let j = w.journal();
    assert!(j.contains(&Journal::BusinessAnswer { latency: secs(2), answered: true }), "{j:?}");
    let Some(Journal::Call(r)) = j.iter().find(|e| matches!(e, Journal::Call(_))) else { panic!("{j:?}") };
    assert_eq!((r.outcome, r.ended_by, r.code, r.missed), (Outcome::Vetoed, EndedBy::Business, 4242, false));
}

/// An Opus audio frame from `u`; returns the codecs each of `all` got, and
/// the `AudioCodec` switches `u` was sent.
fn send_audio(w: &mut World, u: &User, codec: u32, all: &[&User]) -> (Vec<(u32, u32)>, Vec<bool>) {
    w.drain();
    let header = MediaHeader { kind: MEDIA_AUDIO, key: true, codec, timestamp: 20, a: 16000, b: 0x1_0010 };
    w.send(u.conn, ClientMsg::Media { header, data: vec![1, 2] });
    let d = w.drain();
    let (mut got, mut switches) = (Vec::new(), Vec::new());
    for r in all {
        for m in d.to(r.conn) {
            match m {
                ServerMsg::Media { header, .. } => got.push((r.id, header.codec)),
                ServerMsg::AudioCodec { pcm } if r.id == u.id => switches.push(*pcm),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    (got, switches)
}

#[test]
fn opus_audio_falls_back_to_pcm_while_a_receiver_cannot_decode_it() {
    use crate::wire::protocol::{CAP_OPUS, CODEC_OPUS};
    let (mut w, a, b, c) = three();
    for u in [&a, &b, &c] {
        w.enter(u, 10);
    }
    w.send(a.conn, ClientMsg::Caps { caps: CAP_OPUS });
    w.send(b.conn, ClientMsg::Caps { caps: CAP_OPUS });
    // C sent no Caps (a version 2 client, or one built without Opus).
    open_devices(&mut w, &a);
    sub(&mut w, &b, &a, MEDIA_AUDIO);
    let all = [&a, &b, &c];
    assert_eq!(send_audio(&mut w, &a, CODEC_OPUS, &all), (vec![(b.id, CODEC_OPUS)], vec![]));
    // C subscribes: it does not get Opus, and A is asked for PCM, once.
    sub(&mut w, &c, &a, MEDIA_AUDIO);
    assert_eq!(send_audio(&mut w, &a, CODEC_OPUS, &all), (vec![(b.id, CODEC_OPUS)], vec![true]));
    assert_eq!(send_audio(&mut w, &a, CODEC_OPUS, &all), (vec![(b.id, CODEC_OPUS)], vec![]));
    assert_eq!(send_audio(&mut w, &a, 0, &all), (vec![(b.id, 0), (c.id, 0)], vec![]));
    // C leaves: the next PCM frame brings Opus back.
    sub_off(&mut w, &c, &a, MEDIA_AUDIO);
    assert_eq!(send_audio(&mut w, &a, 0, &all), (vec![(b.id, 0)], vec![false]));
    assert_eq!(send_audio(&mut w, &a, CODEC_OPUS, &all), (vec![(b.id, CODEC_OPUS)], vec![]));
}

// ----- drain (SIGTERM) ----------------------------------------------------------

/// Refuses a new login with the drain's code.
fn assert_login_refused_draining(w: &mut World, name: &str) {
    let conn = w.connect();
    let name = name.as_bytes().to_vec();
    w.send(conn, ClientMsg::Login { name: name.clone(), password: Vec::new(), pass_enc_type: 0 });
    let (nick, address) = (Vec::new(), Vec::new());
    let refused = ServerMsg::LoginResult { user_id: 0, code: DRAIN_CODE, name, level: 0, nick, address };
    assert_eq!(w.take_conn(conn), vec![refused]);
    // The client gives up (as the library does on a refused login).
    w.close(conn);
}

#[test]
fn drain_refuses_logins_and_requests_lets_calls_go_on_then_ends_them_at_the_deadline() {
    let mut w = World::new();
    let (a, b, c, d, e) = (w.login("a"), w.login("b"), w.login("c"), w.login("d"), w.login("e"));
    w.start(&a, &b);
    w.ring(&c, &d);
    w.core.start_drain(w.now, w.now + secs(30));
    assert!(w.core.draining() && !w.core.drained());
    w.drain().expect_nothing();
    assert_login_refused_draining(&mut w, "late");
    // A new Request is refused; the caller alone hears of it.
    w.request(&e, &a, A_PARAM, A_STR);
    w.drain().expect(&[(&e, vec![call_ev(REPLY, &a, DRAIN_CODE, 0, b"")])]);
    // The calls go on until the deadline: media, a ringing call answered.
    w.advance(secs(29), &[]);
    w.drain().expect_nothing();
    w.reply(&d, &c, 0, B_PARAM, B_STR);
    let started = w.drain();
    assert!(matches!(started.to(c.conn), [ServerMsg::VideoCall { ev, .. }] if ev.event == START));
    assert!(!w.core.drained());
    w.advance(secs(1), &[]);
    let f = DRAIN_CODE;
    w.drain().expect(&[
        (&a, vec![call_ev(FINISH, &b, f, 0, b"")]),
        (&b, vec![call_ev(FINISH, &a, f, 0, b"")]),
        (&c, vec![call_ev(FINISH, &d, f, 0, b"")]),
        (&d, vec![call_ev(FINISH, &c, f, 0, b"")]),
    ]);
    assert!(w.core.drained());
    assert_eq!(w.core.calls_in_progress(), 0);
}

#[test]
fn drain_ends_ringing_calls_with_reply_and_is_done_early_when_calls_end() {
    let (mut w, a, b, c) = three();
    w.ring(&a, &b);
    w.core.start_drain(w.now, w.now + secs(10));
    w.advance(secs(10), &[]);
    let r = DRAIN_CODE;
    w.drain().expect(&[(&a, vec![call_ev(REPLY, &b, r, 0, b"")]), (&b, vec![call_ev(REPLY, &a, r, 0, b"")])]);
    assert!(w.core.drained());
    // Drained before the deadline: the last call ended by itself.
    let mut w = World::new();
    let (a, b) = (w.login("a"), w.login("b"));
    w.start(&a, &b);
    w.core.start_drain(w.now, w.now + secs(60));
    w.finish(&a, &b, 0, 0, b"");
    w.drain();
    assert!(w.core.drained());
    // Nothing is left to end at the deadline.
    w.advance(secs(60), &[]);
    w.drain().expect_nothing();
    let _ = c;
}

#[test]
fn drain_again_brings_the_deadline_closer_and_now_ends_calls_at_once() {
    let (mut w, a, b, _) = three();
    w.start(&a, &b);
    w.core.start_drain(w.now, w.now + secs(30));
    // A later deadline does not push it back.
    w.core.start_drain(w.now, w.now + secs(300));
    w.advance(secs(30), &[]);
    assert!(w.core.drained(), "the first deadline holds");
    let (mut w, a, b, _) = three();
    w.start(&a, &b);
    w.core.start_drain(w.now, w.now + secs(30));
    w.core.start_drain(w.now, w.now);
    let f = DRAIN_CODE;
    w.drain().expect(&[(&a, vec![call_ev(FINISH, &b, f, 0, b"")]), (&b, vec![call_ev(FINISH, &a, f, 0, b"")])]);
    assert!(w.core.drained());
}

#[test]
fn business_drain_tells_the_business_server_of_every_call_it_ends() {
    let mut w = World::new();
    let bs = w.link_business();
    let (a, b) = (w.login_verified(&bs, "a"), w.login_verified(&bs, "b"));
    let (c, d) = (w.login_verified(&bs, "c"), w.login_verified(&bs, "d"));
    w.drain();
    w.start_vetted(&bs, &a, &b);
    let _query = w.ask_call(&bs, &c, &d);
    // (Before the business time-out of the question, 5 s.)
    w.core.start_drain(w.now, w.now + secs(3));
    // Logins are refused without asking the business server.
    assert_login_refused_draining(&mut w, "late");
    w.drain().expect_biz(&bs, vec![], &[]);
    w.advance(secs(3), &[]);
    let f = DRAIN_CODE;
    w.drain().expect_biz(
        &bs,
        vec![note(FINISH, 0, b.id, f, 0, b""), note(FINISH, 0, d.id, f, 0, b"")],
        &[
            (&a, vec![call_ev(FINISH, &b, f, 0, b"")]),
            (&b, vec![call_ev(FINISH, &a, f, 0, b"")]),
            (&c, vec![call_ev(REPLY, &d, f, 0, b"")]),
        ],
    );
    assert!(w.core.drained());
}

#[test]
fn reconfigure_applies_new_ring_timeout_and_rate_limits() {
    let (mut w, a, b, _) = three();
    let config = CoreConfig { ring_timeout: secs(5), ..w.core.config().clone() };
    w.core.reconfigure(config);
    w.ring(&a, &b);
    w.advance(secs(5), &[]);
    let t = AC_ERROR_VIDEOCALL_TIMEOUT;
    w.drain().expect(&[(&a, vec![call_ev(REPLY, &b, t, 0, b"")]), (&b, vec![call_ev(REPLY, &a, t, 0, b"")])]);
}

// ----- server queries (BRAC_QueryInfoFromServer) -------------------------------

#[test]
fn queries_give_ids_by_name_names_by_id_and_the_number_online() {
    use crate::wire::constants::{
        ANYCHAT_SERVERQUERY_NAMEBYUSERID as NAME, ANYCHAT_SERVERQUERY_ONLINEUSERS as ONLINE,
        ANYCHAT_SERVERQUERY_USERIDBYNAME as ID, ANYCHAT_SERVERQUERY_USERIDBYSTRID as STRID,
    };
    let (mut w, a, b, _c) = three();
    let ask = |w: &mut World, info: u32, input: &[u8]| {
        w.send(a.conn, ClientMsg::Query { id: 9, info, input: input.to_vec() });
        match w.take_conn(a.conn).as_slice() {
            [ServerMsg::QueryResult { id: 9, code, output }] => (*code, output.clone()),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(ask(&mut w, ID, &b.name), (0, b.id.to_le_bytes().to_vec()));
    assert_eq!(ask(&mut w, ID, b"nobody"), (GV_ERR_INVALID_USERID, vec![]));
    let mut name = b.name.clone();
    name.push(0);
    assert_eq!(ask(&mut w, NAME, &b.id.to_le_bytes()), (0, name));
    assert_eq!(ask(&mut w, NAME, &[1, 2]), (GV_ERR_FUNCOPTERROR, vec![]));
    assert_eq!(ask(&mut w, ONLINE, &[]), (0, 3u32.to_le_bytes().to_vec()));
    assert_eq!(ask(&mut w, STRID, b"x"), (GV_ERR_FUNCNOTALLOW, vec![]));
    // A name that logged out is still known by its kept id.
    w.logout(&b);
    assert_eq!(ask(&mut w, ID, &b.name), (0, b.id.to_le_bytes().to_vec()));
    // Before a login: 208.
    let conn = w.connect();
    w.send(conn, ClientMsg::Query { id: 1, info: ID, input: b"x".to_vec() });
    let refused = ServerMsg::QueryResult { id: 1, code: GV_ERR_NOTLOGIN, output: vec![] };
    assert_eq!(w.take_conn(conn), vec![refused]);
}

// ----- a cluster's remote business link (src/cluster/business.rs) -------------

/// A business server linked to another server of a cluster, attached as a
/// remote link: it learns the calls in progress, is asked and answers like
/// one linked here, a second one linking here is refused (201); unlinked,
/// its questions time out (207) as when a business server's link is lost.
#[test]
fn business_remote_link_is_asked_and_told_like_a_local_one() {
    let (mut w, a, b, c) = three();
    let d = w.login("dave");
    let room = w.start(&a, &b);
    let bs = Biz { conn: ConnId(0xFFFF_FFFF_FFFF_FFFE) };
    assert!(w.core.attach_remote_business(w.now, bs.conn, 77));
    assert!(!w.core.attach_remote_business(w.now, bs.conn, 78), "one business link at a time");
    assert_eq!(w.core.business_link(), Some((bs.conn, 77)));
    w.drain().expect_biz(&bs, vec![note(START, a.id, b.id, 0, room, b"")], &[]);
    w.assert_refused(true, biz_hello(b""), GV_ERR_ALREADY_LOGIN);
    // A call between two others: asked of the remote link, rings on its answer.
    let q = w.ask_call(&bs, &c, &d);
    w.verdict(&bs, q, 4242);
    w.drain().expect(&[(&c, vec![call_ev(REPLY, &d, 4242, 0, b"")])]);
    assert!(q < super::QUERY_IDS_END, "the core's ids leave room for a cluster's");
    // Unlinked: the question asked meanwhile waits, then gets 207.
    w.core.unlink_business(w.now, 0);
    let d = w.drain();
    assert_eq!(d.closed, vec![(bs.conn, CloseReason::Handshake)]);
    assert!(w.core.business_link().is_none());
    w.finish(&a, &b, 0, 0, b"");
    w.drain();
    w.request(&c, &b, A_PARAM, A_STR);
    w.drain().expect_nothing();
    w.advance(secs(5), &[]);
    let late = GV_ERR_SERVERSDK_TIMEOUT;
    w.drain().expect(&[(&c, vec![call_ev(REPLY, &b, late, 0, b"")])]);
    // Attached again (the token held): the next question goes to it.
    assert!(w.core.attach_remote_business(w.now, bs.conn, 77));
    w.drain();
    w.ask_call(&bs, &c, &b);
}
