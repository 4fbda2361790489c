//! Unit tests of the client library in simulated time, in the manner of
//! `src/core/tests.rs`: the [`Engine`] is driven as its network thread
//! drives it, and the API calls run as [`super::Client`] runs them (the
//! pure [`State`] method, then the command), so each test asserts exactly
//! what the client sends, what it delivers to the app and what the API
//! returns — login, rooms, the call from both sides, link loss at each
//! step, keep-alive, the connect time-out, logout and release, media, and
//! every return code of `BRAC_VideoCallControl`.
//!
//! Time is `Sim::now`, taken once from `Instant::now()` and only moved
//! forward; [`Sim::advance`] fires the engine's deadlines in order, as the
//! driver would. Unless a test says otherwise the server answers every
//! `Ping` at once (and those pings are left out of what tests see), so
//! only the tests about keep-alive see the link go silent.
//!
//! The last tests (`thread_*`) run the real threads against a fake server
//! on loopback: a panic in a callback or on the network thread reaches the
//! app as a lost link, and the API goes on working.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{Command, Engine, Event, LinkLoss, Output, OwnVideo, CODEC_H264, CONNECT_TIMEOUT, RELEASE_LINGER};
use super::state::{
    pcm_level, CallPhase, ClientCall, Code, LinkState, Meter, ServerAddr, State, Submitted, MAX_NAME_LEN, MAX_QUEUED,
    MAX_USER_STR_LEN,
};
use crate::wire::constants::*;
use crate::wire::protocol::{
    CallEvent, ClientMsg, MediaHeader, MediaOut, Role, RoomUser, ServerMsg, DEVICE_CAMERA, DEVICE_MIC, MEDIA_AUDIO,
    MEDIA_VIDEO, PROTOCOL_VERSION,
};

const REQUEST: u32 = BRAC_VIDEOCALL_EVENT_REQUEST;
const REPLY: u32 = BRAC_VIDEOCALL_EVENT_REPLY;
const START: u32 = BRAC_VIDEOCALL_EVENT_START;
const FINISH: u32 = BRAC_VIDEOCALL_EVENT_FINISH;
const FLAGS: u32 = BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO;

/// This client's user id, its peer's, and a third user's.
const ME: u32 = 7;
const PEER: u32 = 9;
const OTHER: u32 = 11;
/// The room of the call, and an ordinary room.
const CALL_ROOM: u32 = 0x7000_0000;
const ROOM: u32 = 42;
/// `dwParam` / `lpUserStr` this client puts on its events, and the peer's.
const MY_PARAM: u32 = 0xA11C_E000;
const MY_STR: &[u8] = b"mine\0\xff";
const PEER_PARAM: u32 = 0xB0B0;
const PEER_STR: &[u8] = b"peer's";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn addrs() -> Vec<SocketAddr> {
    vec!["192.0.2.1:8906".parse().unwrap(), "192.0.2.2:8906".parse().unwrap()]
}

fn hello() -> ClientMsg {
    ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: Vec::new(), token: 0 }
}

fn welcome(keepalive_ms: u32) -> ServerMsg {
    ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms, token: 0 }
}

fn login_msg() -> ClientMsg {
    ClientMsg::Login { name: b"me".to_vec(), password: Vec::new(), pass_enc_type: 0 }
}

fn login_result(user_id: u32, code: u32) -> ServerMsg {
    let address = if code == 0 { b"198.51.100.7".to_vec() } else { Vec::new() };
    ServerMsg::LoginResult { user_id, code, name: b"me".to_vec(), level: 0, nick: b"me".to_vec(), address }
}

fn room_user(id: u32) -> RoomUser {
    RoomUser {
        user_id: id,
        name: format!("user{id}").into_bytes(),
        nick: format!("nick{id}").into_bytes(),
        level: id,
        camera: GV_CAMERA_STATE_NORMAL,
        mic: GV_AUDIO_STATE_NORMAL,
    }
}

fn notify(msg: u32, wparam: u32, lparam: u32) -> Output {
    Output::Deliver(Event::Notify { msg, wparam, lparam })
}

/// A call event the server sends this client (`user_id`: the other party).
fn from_server(event: u32, user_id: u32, error_code: u32, param: u32, user_str: &[u8]) -> ServerMsg {
    let ev = CallEvent { event, user_id, error_code, flags: FLAGS, param, user_str: user_str.to_vec() };
    ServerMsg::VideoCall { ev, peer: room_user(user_id) }
}

/// The app receives that call event.
fn delivered(event: u32, user_id: u32, error_code: u32, param: u32, user_str: &[u8]) -> Output {
    let user_str = user_str.to_vec();
    Output::Deliver(Event::VideoCall { event, user_id, error_code, flags: FLAGS, param, user_str })
}

/// The end of a call the library reports itself when its link is lost.
fn lost_call(event: u32, peer: u32) -> Output {
    let error_code = AC_ERROR_VIDEOCALL_DISCONNECT;
    Output::Deliver(Event::VideoCall { event, user_id: peer, error_code, flags: 0, param: 0, user_str: Vec::new() })
}

/// This client sends that call event (with its own param and string).
fn sent_call(event: u32, user_id: u32, error_code: u32) -> Output {
    let ev = CallEvent { event, user_id, error_code, flags: FLAGS, param: MY_PARAM, user_str: MY_STR.to_vec() };
    Output::Send(ClientMsg::VideoCall(ev))
}

/// An engine, the state it shares with the API, and a simulated clock.
struct Sim {
    engine: Engine,
    st: State,
    t0: Instant,
    now: Instant,
    /// Outputs pumped from the engine and not drained yet.
    out: Vec<Output>,
    /// The server answers every ping at once (and pings are left out of
    /// `out`); else pings are outputs like the others.
    pongs: bool,
    /// Times (since `t0`) and sequence numbers of the pings answered.
    pings: Vec<(Duration, u32)>,
}

impl Sim {
    fn new() -> Sim {
        let t0 = Instant::now();
        Sim { engine: Engine::new(), st: State::new(), t0, now: t0, out: Vec::new(), pongs: true, pings: Vec::new() }
    }

    fn pump(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Send(ClientMsg::Ping { seq }) if self.pongs => {
                    self.pings.push((self.now - self.t0, seq));
                    self.engine.on_message(self.now, &mut self.st, ServerMsg::Pong { seq });
                }
                o => self.out.push(o),
            }
        }
    }

    /// Everything output since the last drain.
    fn drain(&mut self) -> Vec<Output> {
        self.pump();
        std::mem::take(&mut self.out)
    }

    #[track_caller]
    fn expect(&mut self, want: Vec<Output>) {
        assert_eq!(self.drain(), want);
    }

    #[track_caller]
    fn expect_nothing(&mut self) {
        self.expect(Vec::new());
    }

    fn cmd(&mut self, cmd: Command) {
        self.engine.on_command(self.now, &mut self.st, cmd);
        self.pump();
    }

    /// An API call as `Client` makes it: the state part, then the message
    /// (or, for a call that waits, the engine woken for its queue).
    fn api(&mut self, f: impl FnOnce(&mut State) -> Result<Submitted, Code>) -> Code {
        match f(&mut self.st) {
            Ok(Submitted::Send(msg)) => {
                self.cmd(Command::Send(msg));
                0
            }
            Ok(Submitted::Queued) => {
                self.cmd(Command::RunQueue);
                0
            }
            Err(code) => code,
        }
    }

    /// `BRAC_VideoCallControl` with this client's param and string.
    fn call(&mut self, event: u32, user_id: u32, error_code: u32) -> Code {
        self.api(|st| st.video_call(event, user_id, error_code, FLAGS, MY_PARAM, MY_STR))
    }

    fn api_connect(&mut self) {
        self.api_connect_to("core.example");
    }

    /// `BRAC_Connect` as `Client` makes it.
    fn api_connect_to(&mut self, host: &str) {
        let server = ServerAddr { host: host.into(), port: 8906, tls: false };
        let session = self.st.connect(server.clone());
        self.cmd(Command::Connect { server, session });
    }

    fn api_logout(&mut self) -> Code {
        match self.st.logout() {
            Ok(()) => {
                self.cmd(Command::Logout);
                0
            }
            Err(code) => code,
        }
    }

    fn resolved(&mut self, attempt: u64, addrs: Vec<SocketAddr>) {
        self.engine.on_resolved(self.now, &mut self.st, attempt, addrs);
        self.pump();
    }

    fn link_up(&mut self) {
        let local = SocketAddr::from(([192, 168, 1, 20], 50_000));
        self.engine.on_link_up(self.now, &mut self.st, Some(local));
        self.pump();
    }

    fn server(&mut self, msg: ServerMsg) {
        self.engine.on_received(self.now);
        self.engine.on_message(self.now, &mut self.st, msg);
        self.pump();
    }

    fn lose(&mut self, why: LinkLoss) {
        self.engine.on_link_lost(self.now, &mut self.st, why);
        self.pump();
    }

    /// Moves time forward by `d`, firing every deadline on the way at its time.
    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(t) = self.engine.next_deadline().filter(|t| *t <= target) {
            self.now = self.now.max(t);
            self.engine.on_timeout(self.now, &mut self.st);
            self.pump();
            assert!(self.engine.next_deadline().is_none_or(|n| n > t), "the engine's deadline does not move");
        }
        self.now = target;
    }

    /// Time since the start.
    fn at(&self) -> Duration {
        self.now - self.t0
    }

    fn call_state(&self) -> Option<ClientCall> {
        self.st.call
    }
}

/// Connected: the handshake done, not logged in.
fn connected() -> Sim {
    let mut s = Sim::new();
    s.api_connect();
    s.expect(vec![Output::Resolve { attempt: 1, host: "core.example".into(), port: 8906 }]);
    s.resolved(1, addrs());
    s.expect(vec![Output::Open { addrs: addrs(), hello: hello() }]);
    s.link_up();
    s.server(welcome(15_000));
    s.expect(vec![notify(WM_GV_CONNECT, 1, 0)]);
    s
}

fn logged_in() -> Sim {
    let mut s = connected();
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.expect(vec![Output::Send(login_msg())]);
    s.server(login_result(ME, 0));
    s.expect(vec![notify(WM_GV_LOGINSYSTEM, ME, 0)]);
    s
}

/// Logged in and inside `room` with `PEER`.
fn in_room(room: u32) -> Sim {
    let mut s = logged_in();
    enter(&mut s, room);
    s
}

fn enter(s: &mut Sim, room: u32) {
    assert_eq!(s.api(|st| st.enter_room(room, b"")), 0);
    s.expect(vec![Output::Send(ClientMsg::EnterRoom { room_id: room, password: Vec::new() })]);
    s.server(ServerMsg::EnterRoomResult { room_id: room, code: 0 });
    s.expect_nothing();
    s.server(ServerMsg::RoomUsers { room_id: room, users: vec![room_user(ME), room_user(PEER)], more: false });
    s.expect(vec![notify(WM_GV_ENTERROOM, room, 0), notify(WM_GV_ONLINEUSER, 2, room)]);
}

/// This client called `PEER`, which has not rung yet.
fn dialing() -> Sim {
    let mut s = logged_in();
    assert_eq!(s.call(REQUEST, PEER, 0), 0);
    s.expect(vec![sent_call(REQUEST, PEER, 0)]);
    assert_eq!(s.call_state(), Some(ClientCall { peer: PEER, caller: true, phase: CallPhase::Dialing }));
    s
}

/// Ringing, this client the caller or the callee.
fn ringing(caller: bool) -> Sim {
    if caller {
        let mut s = dialing();
        s.server(from_server(REPLY, PEER, 0, 0, b""));
        s.expect(vec![delivered(REPLY, PEER, 0, 0, b"")]);
        assert_eq!(s.call_state(), Some(ClientCall { peer: PEER, caller: true, phase: CallPhase::Ringing }));
        s
    } else {
        let mut s = logged_in();
        s.server(from_server(REQUEST, PEER, 0, PEER_PARAM, PEER_STR));
        s.expect(vec![delivered(REQUEST, PEER, 0, PEER_PARAM, PEER_STR)]);
        assert_eq!(s.call_state(), Some(ClientCall { peer: PEER, caller: false, phase: CallPhase::Ringing }));
        s
    }
}

/// The callee accepted (its Reply 0 sent), no START yet.
fn accepted() -> Sim {
    let mut s = ringing(false);
    assert_eq!(s.call(REPLY, PEER, 0), 0);
    s.expect(vec![sent_call(REPLY, PEER, 0)]);
    assert_eq!(s.call_state(), Some(ClientCall { peer: PEER, caller: false, phase: CallPhase::Accepted }));
    s
}

/// In a call with `PEER` (room `CALL_ROOM`), this client the caller or the callee.
fn in_call(caller: bool) -> Sim {
    let mut s = if caller { ringing(true) } else { accepted() };
    let user_str: &[u8] = if caller { PEER_STR } else { MY_STR };
    s.server(from_server(START, PEER, 0, CALL_ROOM, user_str));
    s.expect(vec![delivered(START, PEER, 0, CALL_ROOM, user_str)]);
    assert_eq!(s.call_state(), Some(ClientCall { peer: PEER, caller, phase: CallPhase::Active(CALL_ROOM) }));
    s
}

/// What a closed link leaves: nothing of the session.
#[track_caller]
fn assert_link_closed(s: &Sim, status: u32) {
    assert_eq!(s.st.link, LinkState::Idle);
    assert!(!s.st.logged_in);
    assert_eq!(s.st.room, None);
    assert!(s.st.room_users.is_empty());
    assert_eq!(s.st.call, None);
    assert_eq!(s.st.status, status);
}

// ----- connect and login ----------------------------------------------------

#[test]
fn connect_resolves_then_opens_the_link_with_hello_first() {
    let mut s = Sim::new();
    assert_eq!(s.engine.next_deadline(), None);
    s.api_connect();
    assert_eq!(s.st.link, LinkState::Connecting);
    s.expect(vec![Output::Resolve { attempt: 1, host: "core.example".into(), port: 8906 }]);
    // No time-out while the name resolves (the helper thread always answers).
    assert_eq!(s.engine.next_deadline(), None);
    s.resolved(1, addrs());
    s.expect(vec![Output::Open { addrs: addrs(), hello: hello() }]);
    assert_eq!(s.engine.next_deadline(), Some(s.now + CONNECT_TIMEOUT));
    s.link_up();
    s.expect_nothing();
    assert_eq!(s.st.status, 0);
    s.server(welcome(15_000));
    s.expect(vec![notify(WM_GV_CONNECT, 1, 0)]);
    assert_eq!(s.st.link, LinkState::Connected);
    assert_eq!(s.st.status, 1);
    assert!(s.engine.is_ready());
    assert_eq!(s.engine.keepalive(), Some(secs(15)));
    // A second Welcome changes nothing.
    s.server(welcome(3_000));
    s.expect_nothing();
    assert_eq!(s.engine.keepalive(), Some(secs(15)));
}

#[test]
fn login_before_the_connect_completes_is_queued_behind_hello() {
    let mut s = Sim::new();
    s.api_connect();
    s.drain();
    // The vendor's samples call BRAC_Login right after BRAC_Connect.
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    // Another user's login while this one is under way: refused.
    assert_eq!(s.api(|st| st.login_ex(b"x", b"n", 5, b"pw")), GV_ERR_ALREADY_LOGIN);
    assert_eq!(s.st.queue.len(), 1);
    s.expect_nothing();
    s.resolved(1, addrs());
    s.expect(vec![Output::Open { addrs: addrs(), hello: hello() }, Output::Send(login_msg())]);
    s.link_up();
    s.server(welcome(15_000));
    s.server(login_result(ME, 0));
    s.expect(vec![notify(WM_GV_CONNECT, 1, 0), notify(WM_GV_LOGINSYSTEM, ME, 0)]);
    assert!(s.st.logged_in);
    assert_eq!(s.st.self_id, Some(ME));
    assert_eq!(s.st.status, 2);
    assert_eq!(s.st.user(u32::MAX).map(|u| u.name.clone()), Some(b"me".to_vec()));
}

#[test]
fn login_after_the_link_opened_goes_out_at_once() {
    let mut s = Sim::new();
    s.api_connect();
    s.resolved(1, addrs());
    s.drain();
    // The link queues it behind its Hello until the connect completes.
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.expect(vec![Output::Send(login_msg())]);
    s.link_up();
    s.server(welcome(15_000));
    s.server(login_result(ME, 0));
    s.expect(vec![notify(WM_GV_CONNECT, 1, 0), notify(WM_GV_LOGINSYSTEM, ME, 0)]);
}

#[test]
fn a_refused_login_may_be_tried_again() {
    let mut s = connected();
    assert_eq!(s.api(|st| st.login(b"me", b"bad", 0)), 0);
    s.drain();
    s.server(login_result(0, GV_ERR_CERTIFY_FAIL));
    s.expect(vec![notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CERTIFY_FAIL)]);
    assert!(!s.st.logged_in);
    assert_eq!(s.st.status, 1);
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.expect(vec![Output::Send(login_msg())]);
}

#[test]
fn login_return_codes() {
    let mut s = Sim::new();
    // Not connected: connection aborted, nothing sent.
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), GV_ERR_CONNECT_ABORT);
    assert_eq!(s.api(|st| st.login_ex(b"me", b"", 0, b"")), GV_ERR_CONNECT_ABORT);
    s.api_connect();
    s.drain();
    let long = vec![b'x'; MAX_NAME_LEN + 1];
    assert_eq!(s.api(|st| st.login(b"", b"", 0)), GV_ERR_FUNCOPTERROR);
    assert_eq!(s.api(|st| st.login(&long, b"", 0)), GV_ERR_FUNCOPTERROR);
    assert_eq!(s.api(|st| st.login(b"me", &long, 0)), GV_ERR_FUNCOPTERROR);
    assert_eq!(s.api(|st| st.login_ex(b"me", &long, 0, b"")), GV_ERR_FUNCOPTERROR);
    s.expect_nothing();
    let mut s = logged_in();
    assert_eq!(s.api(|st| st.login(b"other", b"", 0)), GV_ERR_ALREADY_LOGIN);
    assert_eq!(s.api(|st| st.login_ex(b"other", b"", 1, b"")), GV_ERR_ALREADY_LOGIN);
    s.expect_nothing();
    // The same user again (a GUI's button pressed twice): its success
    // again, nothing sent.
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    assert_eq!(s.api(|st| st.login_ex(b"me", b"", 1, b"")), 0);
    s.expect(vec![notify(WM_GV_LOGINSYSTEM, ME, 0), notify(WM_GV_LOGINSYSTEM, ME, 0)]);
    assert!(s.st.queue.is_empty());
}

#[test]
fn the_connect_fails_when_the_name_does_not_resolve() {
    let mut s = Sim::new();
    s.api_connect();
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.drain();
    s.resolved(1, Vec::new());
    // The queued login is answered (as BRAC_Login without a link would be),
    // then the connect's failure.
    s.expect(vec![notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CONNECT_ABORT), notify(WM_GV_CONNECT, 0, 0)]);
    assert!(s.st.queue.is_empty());
    assert_link_closed(&s, 0);
    assert_eq!(s.engine.next_deadline(), None);
}

#[test]
fn the_connect_fails_when_no_address_takes_it() {
    for why in [LinkLoss::ConnectFailed, LinkLoss::Tls("handshake failed".into()), LinkLoss::Closed] {
        let mut s = Sim::new();
        s.api_connect();
        s.resolved(1, addrs());
        s.drain();
        s.lose(why);
        s.expect(vec![notify(WM_GV_CONNECT, 0, 0)]);
        assert_link_closed(&s, 0);
    }
}

#[test]
fn the_connect_times_out_without_the_servers_welcome() {
    let mut s = Sim::new();
    s.api_connect();
    s.resolved(1, addrs());
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.drain();
    // The TCP connect completes, but the server never answers the Hello.
    s.advance(secs(3));
    s.link_up();
    s.advance(CONNECT_TIMEOUT - secs(3) - ms(1));
    s.expect_nothing();
    s.advance(ms(1));
    assert_eq!(s.at(), CONNECT_TIMEOUT);
    s.expect(vec![Output::Close, notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CONNECT_ABORT), notify(WM_GV_CONNECT, 0, 0)]);
    assert_link_closed(&s, 0);
    assert_eq!(s.engine.next_deadline(), None);
}

#[test]
fn a_refused_handshake_is_a_failed_connect() {
    let mut s = Sim::new();
    s.api_connect();
    s.resolved(1, addrs());
    s.link_up();
    s.drain();
    s.server(ServerMsg::Refused { code: GV_ERR_CONNECT_OLDVERSION });
    s.expect(vec![Output::Close, notify(WM_GV_CONNECT, 0, 0)]);
    assert_link_closed(&s, 0);
    // What the closed link still delivers is ignored.
    s.server(welcome(15_000));
    s.lose(LinkLoss::Closed);
    s.expect_nothing();
}

#[test]
fn a_connect_to_another_server_replaces_the_link_and_a_late_answer_is_ignored() {
    let mut s = connected();
    s.api_connect_to("other.example");
    // The old session is logged out (the driver writes what it can before closing).
    s.expect(vec![
        Output::Send(ClientMsg::Logout),
        Output::Close,
        Output::Resolve { attempt: 2, host: "other.example".into(), port: 8906 },
    ]);
    assert_eq!(s.st.link, LinkState::Connecting);
    // Another connect while resolving: the first answer comes late.
    s.api_connect_to("third.example");
    s.expect(vec![Output::Resolve { attempt: 3, host: "third.example".into(), port: 8906 }]);
    s.resolved(2, addrs());
    s.expect_nothing();
    s.resolved(3, addrs());
    s.expect(vec![Output::Open { addrs: addrs(), hello: hello() }]);
    assert_eq!(s.st.link, LinkState::Connecting);
}

// ----- the queue: calls issued before their step completed ------------------

/// The vendor's samples: login, enter, then what needs the room, without
/// waiting for any callback.
fn issue_in_a_row(s: &mut Sim) {
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    assert_eq!(s.api(|st| st.enter_room(ROOM, b"")), 0);
    assert_eq!(s.call(REQUEST, PEER, 0), 0);
    assert_eq!(s.api(|st| st.send_text(0, false, b"hi")), 0);
    assert_eq!(s.api(|st| st.device(DEVICE_CAMERA, u32::MAX, true)), 0);
}

fn enter_msg(room: u32) -> Output {
    Output::Send(ClientMsg::EnterRoom { room_id: room, password: Vec::new() })
}

fn text_msg() -> Output {
    Output::Send(ClientMsg::Text { to: 0, secret: false, text: b"hi".to_vec() })
}

fn camera_msg() -> Output {
    Output::Send(ClientMsg::Device { kind: DEVICE_CAMERA, open: true })
}

/// The room `ROOM` entered (the server's answer and its user list).
fn room_entered(s: &mut Sim) {
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM, code: 0 });
    s.server(ServerMsg::RoomUsers { room_id: ROOM, users: vec![room_user(ME), room_user(PEER)], more: false });
}

/// A failed call that waited, the vendor's way: a Request ends in REPLY(code).
fn failed_call(event: u32, user_id: u32, code: u32) -> Output {
    Output::Deliver(Event::VideoCall { event, user_id, error_code: code, flags: FLAGS, param: 0, user_str: vec![] })
}

/// What the app hears of the calls after the login when the login, or the
/// connect before it, failed: the entry and the Request answered as without
/// a login (208); the text and the camera dropped (no such report).
fn answered_without_login() -> Vec<Output> {
    vec![notify(WM_GV_ENTERROOM, ROOM, GV_ERR_NOTLOGIN), failed_call(REPLY, PEER, GV_ERR_NOTLOGIN)]
}

#[track_caller]
fn assert_nothing_waits(s: &Sim) {
    assert!(s.st.queue.is_empty());
    assert!(!s.st.busy());
}

#[test]
fn calls_in_a_row_run_each_when_the_step_before_completed() {
    let mut s = Sim::new();
    s.api_connect();
    issue_in_a_row(&mut s);
    assert_eq!(s.st.queue.len(), 5);
    s.expect(vec![Output::Resolve { attempt: 1, host: "core.example".into(), port: 8906 }]);
    // The login goes out behind Hello; the rest waits for its answer.
    s.resolved(1, addrs());
    s.expect(vec![Output::Open { addrs: addrs(), hello: hello() }, Output::Send(login_msg())]);
    s.link_up();
    s.server(welcome(15_000));
    s.expect(vec![notify(WM_GV_CONNECT, 1, 0)]);
    s.server(login_result(ME, 0));
    s.expect(vec![notify(WM_GV_LOGINSYSTEM, ME, 0), enter_msg(ROOM)]);
    // What follows the entry waits for the room's user list.
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM, code: 0 });
    s.expect_nothing();
    s.server(ServerMsg::RoomUsers { room_id: ROOM, users: vec![room_user(ME), room_user(PEER)], more: false });
    s.expect(vec![
        notify(WM_GV_ENTERROOM, ROOM, 0),
        notify(WM_GV_ONLINEUSER, 2, ROOM),
        sent_call(REQUEST, PEER, 0),
        text_msg(),
        camera_msg(),
    ]);
    assert_nothing_waits(&s);
    assert_eq!(s.call_state(), Some(ClientCall { peer: PEER, caller: true, phase: CallPhase::Dialing }));
    // With nothing under way, calls run at once and are checked at once.
    assert_eq!(s.api(|st| st.send_text(OTHER, false, b"x")), GV_ERR_INVALID_USERID);
    assert_eq!(s.api(|st| st.send_text(PEER, false, b"x")), 0);
    s.expect(vec![Output::Send(ClientMsg::Text { to: PEER, secret: false, text: b"x".to_vec() })]);
    // A call that needs a login never issued is refused at once.
    let mut s = Sim::new();
    s.api_connect();
    assert_eq!(s.api(|st| st.enter_room(ROOM, b"")), GV_ERR_NOTLOGIN);
    assert_eq!(s.call(REQUEST, PEER, 0), GV_ERR_NOTLOGIN);
    assert_eq!(s.api(|st| st.send_text(0, false, b"hi")), GV_ERR_NOTLOGIN);
    assert_nothing_waits(&Sim::new());
}

#[test]
fn every_step_failing_in_turn_answers_the_calls_after_it() {
    let connect_failed = |s: &mut Sim, before: Vec<Output>| {
        let mut want = before;
        want.push(notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CONNECT_ABORT));
        want.extend(answered_without_login());
        want.push(notify(WM_GV_CONNECT, 0, 0));
        s.expect(want);
        assert_link_closed(s, 0);
        assert_nothing_waits(s);
    };
    let started = || {
        let mut s = Sim::new();
        s.api_connect();
        issue_in_a_row(&mut s);
        s.drain();
        s
    };
    // The name does not resolve.
    let mut s = started();
    s.resolved(1, Vec::new());
    connect_failed(&mut s, vec![]);
    // No address takes the connect (the login was written behind Hello).
    let mut s = started();
    s.resolved(1, addrs());
    s.drain();
    s.lose(LinkLoss::ConnectFailed);
    connect_failed(&mut s, vec![]);
    // The server refuses the handshake.
    let mut s = started();
    s.resolved(1, addrs());
    s.link_up();
    s.drain();
    s.server(ServerMsg::Refused { code: GV_ERR_CONNECT_OLDVERSION });
    connect_failed(&mut s, vec![Output::Close]);
    // The connect times out.
    let mut s = started();
    s.resolved(1, addrs());
    s.drain();
    s.advance(CONNECT_TIMEOUT);
    connect_failed(&mut s, vec![Output::Close]);
    // The login is refused: the link stays, the app may log in again.
    let mut s = started();
    s.resolved(1, addrs());
    s.server(welcome(15_000));
    s.drain();
    s.server(login_result(0, GV_ERR_CERTIFY_FAIL));
    let mut want = vec![notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CERTIFY_FAIL)];
    want.extend(answered_without_login());
    s.expect(want);
    assert_nothing_waits(&s);
    assert_eq!((s.st.link, s.st.logged_in, s.st.call), (LinkState::Connected, false, None));
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.expect(vec![Output::Send(login_msg())]);
    // The link is lost while the login is under way.
    let mut s = started();
    s.resolved(1, addrs());
    s.server(welcome(15_000));
    s.drain();
    s.lose(LinkLoss::Closed);
    let mut want = vec![notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CONNECT_ABORT)];
    want.extend(answered_without_login());
    want.push(notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0));
    s.expect(want);
    assert_link_closed(&s, 5);
    assert_nothing_waits(&s);
    // The room entry is refused: what needs only the login runs (the
    // Request, the camera), the text has no room (dropped).
    let mut s = started();
    s.resolved(1, addrs());
    s.server(welcome(15_000));
    s.server(login_result(ME, 0));
    s.drain();
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM, code: GV_ERR_ROOM_PASSERR });
    s.expect(vec![notify(WM_GV_ENTERROOM, ROOM, GV_ERR_ROOM_PASSERR), sent_call(REQUEST, PEER, 0), camera_msg()]);
    assert_nothing_waits(&s);
    assert_eq!((s.st.room, s.st.status), (None, 2));
    // The link is lost while entering.
    let mut s = started();
    s.resolved(1, addrs());
    s.server(welcome(15_000));
    s.server(login_result(ME, 0));
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM, code: 0 });
    s.drain();
    s.lose(LinkLoss::Closed);
    let mut want = answered_without_login();
    want.push(notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0));
    s.expect(want);
    assert_link_closed(&s, 5);
    assert_nothing_waits(&s);
}

#[test]
fn video_call_control_while_the_login_is_under_way() {
    let mut s = Sim::new();
    s.api_connect();
    // No login issued: 208, as before.
    assert_eq!(s.call(REQUEST, PEER, 0), GV_ERR_NOTLOGIN);
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    let ev = |s: &mut Sim, event: u32, user: u32, code: u32, flags: u32, len: usize| {
        let user_str = vec![b'u'; len];
        s.api(|st| st.video_call(event, user, code, flags, MY_PARAM, &user_str))
    };
    // Checked at once: the arguments.
    assert_eq!(ev(&mut s, REQUEST, 0, 0, FLAGS, 4), GV_ERR_FUNCOPTERROR);
    assert_eq!(ev(&mut s, REQUEST, u32::MAX, 0, FLAGS, 4), GV_ERR_FUNCOPTERROR);
    assert_eq!(ev(&mut s, REQUEST, PEER, 0, 0x400, 4), GV_ERR_FUNCOPTERROR);
    assert_eq!(ev(&mut s, REQUEST, PEER, 0, FLAGS, MAX_USER_STR_LEN + 1), GV_ERR_FUNCOPTERROR);
    assert_eq!(ev(&mut s, 9, PEER, 0, FLAGS, 4), GV_ERR_FUNCOPTERROR);
    assert_eq!(ev(&mut s, START, PEER, 0, FLAGS, 4), GV_ERR_FUNCNOTALLOW);
    assert_eq!(s.st.queue.len(), 1);
    // Accepted, and checked against the call when they run: a Reply and a
    // Finish with no call (20), a Request to oneself (its id unknown until
    // the login: 21), a Request (sent), a second Request (20), the Finish
    // of the first (sent).
    for (event, user) in
        [(REPLY, PEER), (FINISH, OTHER), (REQUEST, ME), (REQUEST, PEER), (REQUEST, OTHER), (FINISH, PEER)]
    {
        assert_eq!(s.call(event, user, 0), 0, "{event} to {user}");
    }
    assert_eq!(s.st.queue.len(), 7);
    assert_eq!(s.call_state(), None);
    s.resolved(1, addrs());
    s.server(welcome(15_000));
    s.drain();
    s.server(login_result(ME, 0));
    s.expect(vec![
        notify(WM_GV_LOGINSYSTEM, ME, 0),
        failed_call(REPLY, PEER, GV_ERR_FUNCNOTALLOW),
        failed_call(FINISH, OTHER, GV_ERR_FUNCNOTALLOW),
        failed_call(REPLY, ME, GV_ERR_FUNCOPTERROR),
        sent_call(REQUEST, PEER, 0),
        failed_call(REPLY, OTHER, GV_ERR_FUNCNOTALLOW),
        sent_call(FINISH, PEER, 0),
    ]);
    assert_eq!(s.call_state(), None);
    assert_nothing_waits(&s);
}

#[test]
fn the_queue_is_bounded() {
    let mut s = Sim::new();
    s.api_connect();
    s.drain();
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    for i in 1..MAX_QUEUED {
        assert_eq!(s.api(|st| st.send_text(0, false, b"hi")), 0, "call {i}");
    }
    assert_eq!(s.st.queue.len(), MAX_QUEUED);
    // One more: refused, whatever it is (a buffer with the transfer's code).
    assert_eq!(s.api(|st| st.send_text(0, false, b"hi")), GV_ERR_FUNCNOTALLOW);
    assert_eq!(s.api(|st| st.enter_room(ROOM, b"")), GV_ERR_FUNCNOTALLOW);
    assert_eq!(s.call(REQUEST, PEER, 0), GV_ERR_FUNCNOTALLOW);
    assert_eq!(s.api(|st| st.trans_buffer(0, b"b", None).map(|m| m.0)), GV_ERR_TRANSBUF_CREATEFAIL);
    assert_eq!(s.st.queue.len(), MAX_QUEUED);
    // The login runs and the queue drains; calls are accepted again.
    s.resolved(1, addrs());
    s.server(welcome(15_000));
    s.server(login_result(ME, 0));
    let out = s.drain();
    // Texts without a room are dropped: only the login and its answer.
    assert_eq!(
        out,
        vec![
            Output::Open { addrs: addrs(), hello: hello() },
            Output::Send(login_msg()),
            notify(WM_GV_CONNECT, 1, 0),
            notify(WM_GV_LOGINSYSTEM, ME, 0),
        ]
    );
    assert_nothing_waits(&s);
    assert_eq!(s.call(REQUEST, PEER, 0), 0);
}

#[test]
fn connect_login_enter_again_keep_the_session_and_answer_again() {
    let mut s = in_room(ROOM);
    let before = s.st.clone();
    // A GUI's button pressed twice: the same server, user and room. The
    // connect and the login are answered at once; the entry goes to the
    // server, whose "already in the room" is the entry's success.
    s.api_connect();
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    assert_eq!(s.api(|st| st.enter_room(ROOM, b"")), 0);
    s.expect(vec![notify(WM_GV_CONNECT, 1, 0), notify(WM_GV_LOGINSYSTEM, ME, 0), enter_msg(ROOM)]);
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM, code: GV_ERR_ROOM_ALREADIN });
    s.expect(vec![notify(WM_GV_ENTERROOM, ROOM, 0), notify(WM_GV_ONLINEUSER, 2, ROOM)]);
    // The session as it was.
    assert_eq!(s.st, before);
    // A room entered by name, entered by name again.
    let mut s = logged_in();
    assert_eq!(s.api(|st| st.enter_room_by_name(b"lobby", b"")), 0);
    s.drain();
    room_entered(&mut s);
    s.drain();
    assert_eq!(s.api(|st| st.enter_room_by_name(b"lobby", b"")), 0);
    s.drain();
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM, code: GV_ERR_ROOM_ALREADIN });
    s.expect(vec![notify(WM_GV_ENTERROOM, ROOM, 0), notify(WM_GV_ONLINEUSER, 2, ROOM)]);
    assert_eq!((s.st.room, s.st.room_name.as_slice()), (Some(ROOM), &b"lobby"[..]));
    // 308 for another room than one's own stays an error.
    assert_eq!(s.api(|st| st.enter_room(ROOM + 2, b"")), 0);
    s.drain();
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM + 2, code: GV_ERR_ROOM_ALREADIN });
    s.expect(vec![notify(WM_GV_ENTERROOM, ROOM + 2, GV_ERR_ROOM_ALREADIN)]);
    // Another room is entered as usual.
    assert_eq!(s.api(|st| st.enter_room(ROOM + 1, b"")), 0);
    s.expect(vec![enter_msg(ROOM + 1)]);
}

#[test]
fn the_same_calls_twice_while_connecting_run_once_and_each_is_answered() {
    let mut s = Sim::new();
    for _ in 0..2 {
        s.api_connect();
        assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
        assert_eq!(s.api(|st| st.enter_room(ROOM, b"")), 0);
    }
    // One connect, one login.
    s.expect(vec![Output::Resolve { attempt: 1, host: "core.example".into(), port: 8906 }]);
    s.resolved(1, addrs());
    s.expect(vec![Output::Open { addrs: addrs(), hello: hello() }, Output::Send(login_msg())]);
    s.link_up();
    s.server(welcome(15_000));
    s.expect(vec![notify(WM_GV_CONNECT, 1, 0), notify(WM_GV_CONNECT, 1, 0)]);
    s.server(login_result(ME, 0));
    s.expect(vec![notify(WM_GV_LOGINSYSTEM, ME, 0), enter_msg(ROOM)]);
    room_entered(&mut s);
    s.expect(vec![
        notify(WM_GV_ENTERROOM, ROOM, 0),
        notify(WM_GV_ONLINEUSER, 2, ROOM),
        notify(WM_GV_LOGINSYSTEM, ME, 0),
        enter_msg(ROOM),
    ]);
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM, code: GV_ERR_ROOM_ALREADIN });
    s.expect(vec![notify(WM_GV_ENTERROOM, ROOM, 0), notify(WM_GV_ONLINEUSER, 2, ROOM)]);
    assert_nothing_waits(&s);
    assert_eq!(s.st.status, 3);
    // A connect that fails is answered once per BRAC_Connect too.
    let mut s = Sim::new();
    s.api_connect();
    s.api_connect();
    s.resolved(1, Vec::new());
    s.expect(vec![
        Output::Resolve { attempt: 1, host: "core.example".into(), port: 8906 },
        notify(WM_GV_CONNECT, 0, 0),
        notify(WM_GV_CONNECT, 0, 0),
    ]);
}

#[test]
fn a_connect_to_another_server_ends_the_session_cleanly() {
    let mut s = in_call(true);
    enter(&mut s, CALL_ROOM);
    s.api_connect_to("other.example");
    // At once, the API answers for the new session: its login is no
    // "already logged in", and nothing of the old one is left.
    assert_eq!(
        (s.st.link, s.st.logged_in, s.st.room, s.st.call, s.st.status),
        (LinkState::Connecting, false, None, None, 4)
    );
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    assert_eq!(s.api(|st| st.enter_room(ROOM, b"")), 0);
    // The old session is logged out (the server ends its call as the
    // user's own Finish) and closed; the app hears nothing of it.
    s.expect(vec![
        Output::Send(ClientMsg::Logout),
        Output::Close,
        Output::Resolve { attempt: 2, host: "other.example".into(), port: 8906 },
    ]);
    s.resolved(2, addrs());
    s.server(welcome(15_000));
    s.server(login_result(ME, 0));
    room_entered(&mut s);
    s.expect(vec![
        Output::Open { addrs: addrs(), hello: hello() },
        Output::Send(login_msg()),
        notify(WM_GV_CONNECT, 1, 0),
        notify(WM_GV_LOGINSYSTEM, ME, 0),
        enter_msg(ROOM),
        notify(WM_GV_ENTERROOM, ROOM, 0),
        notify(WM_GV_ONLINEUSER, 2, ROOM),
    ]);
    // The old link's news between the API's connect and the engine's is
    // not the new session's.
    let mut s = in_room(ROOM);
    let server = ServerAddr { host: "other.example".into(), port: 8906, tls: false };
    let session = s.st.connect(server.clone());
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.server(ServerMsg::UserAtRoom { room_id: ROOM, user: room_user(OTHER), entered: true });
    s.server(login_result(ME, 0));
    s.lose(LinkLoss::Closed);
    s.expect_nothing();
    assert_eq!((s.st.link, s.st.logged_in, s.st.queue.len()), (LinkState::Connecting, false, 1));
    s.cmd(Command::Connect { server, session });
    s.expect(vec![Output::Resolve { attempt: 2, host: "other.example".into(), port: 8906 }]);
    s.resolved(2, addrs());
    s.expect(vec![Output::Open { addrs: addrs(), hello: hello() }, Output::Send(login_msg())]);
}

#[test]
fn logout_drops_what_waits_unanswered() {
    let mut s = Sim::new();
    s.api_connect();
    issue_in_a_row(&mut s);
    s.drain();
    assert_eq!(s.api_logout(), 0);
    assert_nothing_waits(&s);
    s.resolved(1, addrs());
    s.expect_nothing();
    // Entering, with a text behind: the logout goes out, nothing else.
    let mut s = logged_in();
    assert_eq!(s.api(|st| st.enter_room(ROOM, b"")), 0);
    assert_eq!(s.api(|st| st.send_text(0, false, b"hi")), 0);
    s.expect(vec![enter_msg(ROOM)]);
    assert_eq!(s.api_logout(), 0);
    s.expect(vec![Output::Send(ClientMsg::Logout)]);
    room_entered(&mut s);
    s.lose(LinkLoss::Closed);
    s.expect_nothing();
    assert_link_closed(&s, 4);
    // A new BRAC_Connect is needed to log in again.
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), GV_ERR_CONNECT_ABORT);
}

// ----- self-view and speech levels ---------------------------------------------

#[test]
fn own_frames_are_shown_back_while_the_camera_is_open() {
    let raw = OwnVideo {
        w: 4,
        h: 2,
        timestamp: 5,
        codec: CODEC_H264,
        pix_fmt: Some(BRAC_PIX_FMT_RGB24),
        data: vec![7; 4 * 2 * 3],
    };
    let mut s = logged_in();
    // Camera closed: nothing.
    s.cmd(Command::OwnVideo(raw.clone()));
    s.expect_nothing();
    s.server(ServerMsg::Device { user_id: ME, kind: DEVICE_CAMERA, state: GV_CAMERA_STATE_OPEN });
    s.drain();
    s.cmd(Command::OwnVideo(raw.clone()));
    s.expect(vec![
        notify(WM_GV_VIDEOSIZECHG, ME, 4 | (2 << 16)),
        Output::Deliver(Event::Video {
            from: ME,
            w: 4,
            h: 2,
            codec: CODEC_H264,
            timestamp: 5,
            data: raw.data.clone(),
            decoded: true,
            pix_fmt: BRAC_PIX_FMT_RGB24,
        }),
    ]);
    assert_eq!((s.st.streams[&ME].width, s.st.streams[&ME].height), (4, 2));
    // Input already encoded: H.264 is decoded (by the driver) like a
    // peer's, with a decoder kept for oneself; another codec as it came.
    assert!(s.st.in_sight(ME));
    let h264 = OwnVideo { pix_fmt: None, data: vec![0, 0, 0, 1, 0x65], ..raw.clone() };
    s.cmd(Command::OwnVideo(h264));
    let header = MediaHeader { kind: MEDIA_VIDEO, key: false, codec: CODEC_H264, timestamp: 5, a: 4, b: 2 };
    s.expect(vec![Output::Decode { from: ME, header, data: vec![0, 0, 0, 1, 0x65] }]);
    let other = OwnVideo { codec: 77, pix_fmt: None, data: b"frame".to_vec(), ..raw.clone() };
    s.cmd(Command::OwnVideo(other));
    s.expect(vec![Output::Deliver(Event::Video {
        from: ME,
        w: 4,
        h: 2,
        codec: 77,
        timestamp: 5,
        data: b"frame".to_vec(),
        decoded: false,
        pix_fmt: 0,
    })]);
    // Camera closed again: nothing.
    s.server(ServerMsg::Device { user_id: ME, kind: DEVICE_CAMERA, state: GV_CAMERA_STATE_NORMAL });
    s.drain();
    s.cmd(Command::OwnVideo(raw));
    s.expect_nothing();
}

/// `n` samples of a 440 Hz sine of peak `amplitude` at 16 kHz, 16-bit PCM.
fn sine(amplitude: f64, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let v = amplitude * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 16_000.0).sin();
            (v.round() as i16).to_le_bytes()
        })
        .collect()
}

#[test]
fn speech_levels_of_pcm() {
    assert_eq!(pcm_level(&[]), 0);
    assert_eq!(pcm_level(&[0; 640]), 0);
    // A full-scale square wave: 0 dBFS.
    let square: Vec<u8> =
        (0..320).flat_map(|i: i32| if i % 2 == 0 { 32767i16 } else { -32767 }.to_le_bytes()).collect();
    assert_eq!(pcm_level(&square), 100);
    // A sine of peak 8000 is -15.3 dBFS; a tenth of it -35.3 dBFS.
    assert_eq!(pcm_level(&sine(8000.0, 16_000)), 75);
    assert_eq!(pcm_level(&sine(800.0, 16_000)), 41);
    // -60 dBFS and below: 0.
    assert_eq!(pcm_level(&sine(40.0, 16_000)), 0);
}

#[test]
fn speech_levels_of_audio_received_and_of_ones_own() {
    let mut s = in_room(ROOM);
    let header = MediaHeader { kind: MEDIA_AUDIO, key: true, codec: 0, timestamp: 20, a: 16_000, b: (1 << 16) | 16 };
    s.server(ServerMsg::Media { from: PEER, header, data: sine(8000.0, 320) });
    s.drain();
    let level = s.st.levels[&PEER];
    assert!((74..=76).contains(&level.value), "{level:?}");
    assert_eq!(level.at, s.now);
    // Silence brings it down; audio of another codec says nothing of it.
    s.advance(ms(20));
    s.server(ServerMsg::Media { from: PEER, header, data: vec![0; 640] });
    assert_eq!(s.st.levels[&PEER], super::state::Level { value: 0, at: s.now });
    let opus = MediaHeader { codec: 5, ..header };
    s.server(ServerMsg::Media { from: PEER, header: opus, data: vec![9; 40] });
    assert_eq!(s.st.levels[&PEER].value, 0);
    // One's own input.
    s.st.own_level(42, s.now);
    assert_eq!(s.st.levels[&ME].value, 42);
}

// ----- rooms ----------------------------------------------------------------

#[test]
fn entering_a_room_then_users_come_and_go() {
    let mut s = in_room(ROOM);
    assert_eq!(s.st.room, Some(ROOM));
    assert_eq!(s.st.room_users, vec![ME, PEER]);
    assert_eq!(s.st.status, 3);
    assert_eq!(s.st.user(PEER).map(|u| u.nick.clone()), Some(b"nick9".to_vec()));
    s.server(ServerMsg::UserAtRoom { room_id: ROOM, user: room_user(OTHER), entered: true });
    s.expect(vec![notify(WM_GV_USERATROOM, OTHER, 1)]);
    assert_eq!(s.st.room_users, vec![ME, PEER, OTHER]);
    assert!(s.st.knows(OTHER));
    s.server(ServerMsg::UserAtRoom { room_id: ROOM, user: room_user(OTHER), entered: false });
    s.expect(vec![notify(WM_GV_USERATROOM, OTHER, 0)]);
    assert!(!s.st.knows(OTHER));
    assert_eq!(s.st.user(OTHER), None);
    // News of another room is not ours.
    s.server(ServerMsg::UserAtRoom { room_id: ROOM + 1, user: room_user(OTHER), entered: true });
    s.expect_nothing();
    // Devices of the room.
    s.server(ServerMsg::Device { user_id: PEER, kind: DEVICE_CAMERA, state: GV_CAMERA_STATE_OPEN });
    s.server(ServerMsg::Device { user_id: PEER, kind: DEVICE_MIC, state: GV_AUDIO_STATE_OPEN });
    s.expect(vec![notify(WM_GV_CAMERASTATE, PEER, GV_CAMERA_STATE_OPEN), notify(WM_GV_MICSTATECHANGE, PEER, 1)]);
    assert_eq!(s.st.user(PEER).map(|u| (u.camera, u.mic)), Some((GV_CAMERA_STATE_OPEN, GV_AUDIO_STATE_OPEN)));
}

#[test]
fn a_room_listed_in_several_messages_is_entered_after_the_last() {
    let mut s = logged_in();
    assert_eq!(s.api(|st| st.enter_room_by_name(b"lobby", b"pw")), 0);
    s.expect(vec![Output::Send(ClientMsg::EnterRoomByName { name: b"lobby".to_vec(), password: b"pw".to_vec() })]);
    s.server(ServerMsg::EnterRoomResult { room_id: ROOM, code: 0 });
    s.server(ServerMsg::RoomUsers { room_id: ROOM, users: vec![room_user(ME)], more: true });
    s.expect_nothing();
    assert_eq!(s.st.room, None);
    s.server(ServerMsg::RoomUsers { room_id: ROOM, users: vec![room_user(PEER), room_user(OTHER)], more: false });
    s.expect(vec![notify(WM_GV_ENTERROOM, ROOM, 0), notify(WM_GV_ONLINEUSER, 3, ROOM)]);
    assert_eq!(s.st.room_name, b"lobby".to_vec());
    assert_eq!(s.st.room_users, vec![ME, PEER, OTHER]);
}

#[test]
fn a_refused_enter_says_why() {
    let mut s = logged_in();
    assert_eq!(s.api(|st| st.enter_room(CALL_ROOM, b"")), 0);
    s.drain();
    s.server(ServerMsg::EnterRoomResult { room_id: CALL_ROOM, code: GV_ERR_ROOM_LOCK });
    s.expect(vec![notify(WM_GV_ENTERROOM, CALL_ROOM, GV_ERR_ROOM_LOCK)]);
    assert_eq!(s.st.room, None);
    assert_eq!(s.st.status, 2);
}

#[test]
fn room_return_codes() {
    let mut s = connected();
    // Not logged in yet: refused, not queued (the login must complete first).
    assert_eq!(s.api(|st| st.enter_room(ROOM, b"")), GV_ERR_NOTLOGIN);
    assert_eq!(s.api(|st| st.enter_room_by_name(b"lobby", b"")), GV_ERR_NOTLOGIN);
    assert_eq!(s.api(|st| st.leave_room(u32::MAX)), GV_ERR_NOTLOGIN);
    let mut s = logged_in();
    let long = vec![b'p'; MAX_NAME_LEN + 1];
    assert_eq!(s.api(|st| st.enter_room(0, b"")), GV_ERR_FUNCOPTERROR);
    assert_eq!(s.api(|st| st.enter_room(u32::MAX, b"")), GV_ERR_FUNCOPTERROR);
    assert_eq!(s.api(|st| st.enter_room(ROOM, &long)), GV_ERR_FUNCOPTERROR);
    assert_eq!(s.api(|st| st.enter_room_by_name(b"", b"")), GV_ERR_FUNCOPTERROR);
    assert_eq!(s.api(|st| st.leave_room(u32::MAX)), GV_ERR_NOTINROOM);
    s.expect_nothing();
    enter(&mut s, ROOM);
    assert_eq!(s.api(|st| st.leave_room(ROOM + 1)), GV_ERR_NOTINROOM);
    // Leaving takes effect at once for the API.
    assert_eq!(s.api(|st| st.leave_room(ROOM)), 0);
    s.expect(vec![Output::Send(ClientMsg::LeaveRoom { room_id: ROOM })]);
    assert_eq!((s.st.room, s.st.status), (None, 2));
    assert_eq!(s.api(|st| st.leave_room(u32::MAX)), GV_ERR_NOTINROOM);
}

#[test]
fn text_buffers_and_data_reach_the_app_and_their_return_codes() {
    let mut s = logged_in();
    assert_eq!(s.api(|st| st.send_text(0, false, b"hi")), GV_ERR_NOTINROOM);
    assert_eq!(s.api(|st| st.trans_buffer(PEER, b"x", None).map(|m| m.0)), GV_ERR_INVALID_USERID);
    // To the business server (0), anytime.
    let (msg, task) = s.st.trans_buffer(0, b"biz", Some((1, 2))).unwrap();
    assert_eq!(task, 1);
    assert_eq!(
        msg,
        Submitted::Send(ClientMsg::TransBuffer {
            to: 0,
            ex: true,
            wparam: 1,
            lparam: 2,
            task_id: 1,
            data: b"biz".to_vec()
        })
    );
    enter(&mut s, ROOM);
    assert_eq!(s.api(|st| st.send_text(ME, false, b"hi")), GV_ERR_INVALID_USERID);
    assert_eq!(s.api(|st| st.send_text(OTHER, false, b"hi")), GV_ERR_INVALID_USERID);
    assert_eq!(s.api(|st| st.send_text(PEER, false, b"")), GV_ERR_FUNCOPTERROR);
    assert_eq!(s.api(|st| st.send_text(PEER, true, b"hi")), 0);
    assert_eq!(s.api(|st| st.send_text(u32::MAX, false, b"all")), 0);
    assert_eq!(s.api(|st| st.trans_buffer(PEER, b"buf", None).map(|m| m.0)), 0);
    s.expect(vec![
        Output::Send(ClientMsg::Text { to: PEER, secret: true, text: b"hi".to_vec() }),
        Output::Send(ClientMsg::Text { to: u32::MAX, secret: false, text: b"all".to_vec() }),
        Output::Send(ClientMsg::TransBuffer {
            to: PEER,
            ex: false,
            wparam: 0,
            lparam: 0,
            task_id: 2,
            data: b"buf".to_vec(),
        }),
    ]);
    s.server(ServerMsg::Text { from: PEER, to: 0, secret: false, text: b"yo".to_vec() });
    s.server(ServerMsg::TransBuffer { from: 0, ex: false, wparam: 0, lparam: 0, task_id: 0, data: b"b".to_vec() });
    s.server(ServerMsg::FilterData { data: b"f".to_vec() });
    s.server(ServerMsg::UserInfo { user_id: ME, info_id: 3, value: b"v".to_vec() });
    s.expect(vec![
        Output::Deliver(Event::Text { from: PEER, to: 0, secret: false, text: b"yo".to_vec() }),
        Output::Deliver(Event::TransBuffer {
            from: 0,
            ex: false,
            wparam: 0,
            lparam: 0,
            task_id: 0,
            data: b"b".to_vec(),
        }),
        Output::Deliver(Event::FilterData { data: b"f".to_vec() }),
        notify(WM_GV_USERINFOUPDATE, ME, 3),
    ]);
    assert_eq!(s.st.infos.get(&(ME, 3)), Some(&b"v".to_vec()));
}

/// Friends and groups from the business server: the lists follow the
/// server's messages without a notification each, `UserDataUpdated` is
/// `WM_GV_USERINFOUPDATE(0, 0)`, `FriendStatus` is `WM_GV_FRIENDSTATUS`,
/// `SyncInfo` is kept quietly, `UserDataReset` starts over; the API reads
/// them (208 before login, empty lists without a business server), and a
/// new login starts with none.
#[test]
fn friends_and_groups_from_the_business_server() {
    let s = connected();
    assert_eq!(s.st.friend_ids(), Err(GV_ERR_NOTLOGIN));
    assert_eq!(s.st.group_ids(), Err(GV_ERR_NOTLOGIN));
    assert_eq!(s.st.friend_status(PEER), Err(GV_ERR_NOTLOGIN));
    let mut s = logged_in();
    assert_eq!(s.st.friend_ids(), Ok(vec![]));
    assert_eq!(s.st.group_ids(), Ok(vec![]));
    assert_eq!(s.st.friend_status(PEER), Err(GV_ERR_INVALID_USERID));
    assert_eq!(s.st.group_friends(1), Err(GV_ERR_FUNCOPTERROR));
    assert_eq!(s.st.group_name(1), Err(GV_ERR_FUNCOPTERROR));

    for m in [
        ServerMsg::GroupSet { group_id: 1, name: b"agents".to_vec() },
        ServerMsg::GroupSet { group_id: 2, name: b"guests".to_vec() },
        ServerMsg::FriendSet { user_id: PEER, online: true, group: 1 },
        ServerMsg::FriendSet { user_id: OTHER, online: false, group: 0 },
        ServerMsg::SyncInfo { user_id: PEER, info_id: 1, value: b"Peer".to_vec() },
        ServerMsg::FriendSet { user_id: OTHER, online: false, group: 2 },
        ServerMsg::GroupSet { group_id: 1, name: b"team".to_vec() },
    ] {
        s.server(m);
    }
    s.expect_nothing();
    s.server(ServerMsg::UserDataUpdated);
    s.expect(vec![notify(WM_GV_USERINFOUPDATE, 0, 0)]);
    assert_eq!(s.st.friend_ids(), Ok(vec![PEER, OTHER]));
    assert_eq!(s.st.group_ids(), Ok(vec![1, 2]));
    assert_eq!(s.st.group_friends(1), Ok(vec![PEER]));
    assert_eq!(s.st.group_friends(2), Ok(vec![OTHER]));
    assert_eq!(s.st.group_name(1), Ok(b"team".to_vec()));
    assert_eq!(s.st.friend_status(PEER), Ok(1));
    assert_eq!(s.st.friend_status(OTHER), Ok(0));
    assert_eq!(s.st.infos.get(&(PEER, 1)), Some(&b"Peer".to_vec()));

    s.server(ServerMsg::FriendStatus { user_id: OTHER, online: true });
    s.server(ServerMsg::FriendStatus { user_id: PEER, online: false });
    s.expect(vec![notify(WM_GV_FRIENDSTATUS, OTHER, 1), notify(WM_GV_FRIENDSTATUS, PEER, 0)]);
    assert_eq!(s.st.friend_status(OTHER), Ok(1));
    assert_eq!(s.st.friend_status(PEER), Ok(0));

    // A group removed leaves its friends in none; a friend removed.
    s.server(ServerMsg::GroupGone { group_id: 2 });
    s.server(ServerMsg::FriendGone { user_id: PEER });
    assert_eq!(s.st.group_ids(), Ok(vec![1]));
    assert_eq!(s.st.group_friends(2), Err(GV_ERR_FUNCOPTERROR));
    assert_eq!(s.st.group_friends(1), Ok(vec![]));
    assert_eq!(s.st.friend_ids(), Ok(vec![OTHER]));
    assert_eq!(s.st.friend_status(PEER), Err(GV_ERR_INVALID_USERID));

    // A sync starts over.
    s.server(ServerMsg::UserDataReset);
    s.server(ServerMsg::FriendSet { user_id: PEER, online: true, group: 0 });
    s.server(ServerMsg::UserDataUpdated);
    s.expect(vec![notify(WM_GV_USERINFOUPDATE, 0, 0)]);
    assert_eq!(s.st.friend_ids(), Ok(vec![PEER]));
    assert_eq!(s.st.group_ids(), Ok(vec![]));

    // Logged out: 208; logged in again: nothing left.
    assert_eq!(s.api_logout(), 0);
    assert_eq!(s.st.friend_ids(), Err(GV_ERR_NOTLOGIN));
    let mut s = connected_again(s);
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.server(login_result(ME, 0));
    s.drain();
    assert_eq!(s.st.friend_ids(), Ok(vec![]));
    assert!(s.st.infos.is_empty());
}

/// The same engine and state connected again after a logout.
fn connected_again(mut s: Sim) -> Sim {
    s.drain();
    s.lose(LinkLoss::Closed);
    s.api_connect();
    s.resolved(2, addrs());
    s.link_up();
    s.server(welcome(15_000));
    s.drain();
    s
}

#[test]
fn devices_of_self_and_subscriptions_to_others() {
    let mut s = logged_in();
    assert_eq!(s.api(|st| st.device(DEVICE_CAMERA, u32::MAX, true)), 0);
    assert_eq!(s.api(|st| st.device(DEVICE_MIC, ME, false)), 0);
    assert_eq!(s.api(|st| st.device(DEVICE_CAMERA, PEER, true)), GV_ERR_INVALID_USERID);
    s.expect(vec![
        Output::Send(ClientMsg::Device { kind: DEVICE_CAMERA, open: true }),
        Output::Send(ClientMsg::Device { kind: DEVICE_MIC, open: false }),
    ]);
    enter(&mut s, ROOM);
    assert_eq!(s.api(|st| st.device(DEVICE_CAMERA, PEER, true)), 0);
    assert_eq!(s.api(|st| st.device(DEVICE_MIC, PEER, false)), 0);
    s.expect(vec![
        Output::Send(ClientMsg::Subscribe { user_id: PEER, kind: MEDIA_VIDEO, on: true }),
        Output::Send(ClientMsg::Subscribe { user_id: PEER, kind: MEDIA_AUDIO, on: false }),
    ]);
    assert_eq!(Sim::new().st.device(DEVICE_CAMERA, u32::MAX, true), Err(GV_ERR_NOTLOGIN));
}

// ----- the call, from both sides ----------------------------------------------

#[test]
fn call_as_the_caller_request_ringing_start_room_finish() {
    let mut s = in_call(true);
    // Both parties enter the call's room on START.
    enter(&mut s, CALL_ROOM);
    assert!(s.st.in_sight(PEER));
    assert_eq!(s.call(FINISH, PEER, 0), 0);
    s.expect(vec![sent_call(FINISH, PEER, 0)]);
    assert_eq!(s.call_state(), None);
    // The server confirms to both, and closes the call's room.
    s.server(from_server(FINISH, PEER, 0, MY_PARAM, MY_STR));
    s.server(ServerMsg::LeftRoom { room_id: CALL_ROOM });
    s.expect(vec![delivered(FINISH, PEER, 0, MY_PARAM, MY_STR)]);
    assert_eq!((s.st.room, s.st.status), (None, 2));
    // A new call may be placed.
    assert_eq!(s.call(REQUEST, OTHER, 0), 0);
    s.expect(vec![sent_call(REQUEST, OTHER, 0)]);
}

#[test]
fn call_as_the_callee_request_reply_start_finish_by_the_peer() {
    let mut s = in_call(false);
    enter(&mut s, CALL_ROOM);
    // The peer hangs up; the server's FINISH ends the call here too.
    s.server(ServerMsg::UserAtRoom { room_id: CALL_ROOM, user: room_user(PEER), entered: false });
    s.server(from_server(FINISH, PEER, 0, PEER_PARAM, PEER_STR));
    s.server(ServerMsg::LeftRoom { room_id: CALL_ROOM });
    s.expect(vec![notify(WM_GV_USERATROOM, PEER, 0), delivered(FINISH, PEER, 0, PEER_PARAM, PEER_STR)]);
    assert_eq!(s.call_state(), None);
    assert_eq!(s.st.room, None);
    // The peer's infos stay known while it was the call's peer.
    assert!(s.st.user(PEER).is_some());
}

#[test]
fn the_callee_refuses_and_the_caller_hears_it() {
    let mut s = ringing(false);
    assert_eq!(s.call(REPLY, PEER, AC_ERROR_VIDEOCALL_REJECT), 0);
    s.expect(vec![sent_call(REPLY, PEER, AC_ERROR_VIDEOCALL_REJECT)]);
    assert_eq!(s.call_state(), None);
    let mut s = ringing(true);
    s.server(from_server(REPLY, PEER, AC_ERROR_VIDEOCALL_REJECT, PEER_PARAM, PEER_STR));
    s.expect(vec![delivered(REPLY, PEER, AC_ERROR_VIDEOCALL_REJECT, PEER_PARAM, PEER_STR)]);
    assert_eq!(s.call_state(), None);
}

#[test]
fn the_caller_cancels_and_the_callee_hears_it() {
    for event in [REPLY, FINISH] {
        let mut s = ringing(true);
        let code = if event == REPLY { AC_ERROR_VIDEOCALL_CANCEL } else { 0 };
        assert_eq!(s.call(event, PEER, code), 0);
        s.expect(vec![sent_call(event, PEER, code)]);
        assert_eq!(s.call_state(), None);
    }
    let mut s = ringing(false);
    s.server(from_server(REPLY, PEER, AC_ERROR_VIDEOCALL_CANCEL, PEER_PARAM, PEER_STR));
    s.expect(vec![delivered(REPLY, PEER, AC_ERROR_VIDEOCALL_CANCEL, PEER_PARAM, PEER_STR)]);
    assert_eq!(s.call_state(), None);
}

#[test]
fn the_ring_timeout_ends_the_call_on_both_sides() {
    for caller in [true, false] {
        let mut s = ringing(caller);
        s.advance(secs(60));
        s.server(from_server(REPLY, PEER, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b""));
        s.expect(vec![delivered(REPLY, PEER, AC_ERROR_VIDEOCALL_TIMEOUT, 0, b"")]);
        assert_eq!(s.call_state(), None, "caller: {caller}");
        // The link stayed alive meanwhile (the server answered the pings).
        assert_eq!(s.pings.len(), 12);
        assert!(s.engine.is_ready());
    }
}

#[test]
fn busy_offline_or_refused_by_the_business_server_ends_a_request() {
    for code in [AC_ERROR_VIDEOCALL_BUSY, AC_ERROR_VIDEOCALL_OFFLINE, GV_ERR_SERVERSDK_TIMEOUT, 12345] {
        let mut s = dialing();
        s.server(from_server(REPLY, PEER, code, 0, b""));
        s.expect(vec![delivered(REPLY, PEER, code, 0, b"")]);
        assert_eq!(s.call_state(), None, "{code}");
        assert_eq!(s.call(REQUEST, PEER, 0), 0);
    }
    // A callee that hears BUSY or OFFLINE from its caller (an answer to a
    // request of its own that crossed) keeps its ringing call.
    let mut s = ringing(false);
    s.server(from_server(REPLY, PEER, AC_ERROR_VIDEOCALL_BUSY, 0, b""));
    s.drain();
    assert_eq!(s.call_state().map(|c| c.phase), Some(CallPhase::Ringing));
}

// ----- every return code of BRAC_VideoCallControl ---------------------------

/// Where the client stands when the app calls `BRAC_VideoCallControl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    NotConnected,
    NotLoggedIn,
    NoCall,
    Dialing,
    RingingCaller,
    RingingCallee,
    Accepted,
    InCallCaller,
    InCallCallee,
}

fn at(situation: At) -> Sim {
    match situation {
        At::NotConnected => Sim::new(),
        At::NotLoggedIn => connected(),
        At::NoCall => logged_in(),
        At::Dialing => dialing(),
        At::RingingCaller => ringing(true),
        At::RingingCallee => ringing(false),
        At::Accepted => accepted(),
        At::InCallCaller => in_call(true),
        At::InCallCallee => in_call(false),
    }
}

#[test]
fn video_call_control_return_codes() {
    use At::*;
    const ALL_FLAGS: u32 = super::state::VIDEOCALL_KNOWN_FLAGS;
    let dialing = Some(ClientCall { peer: PEER, caller: true, phase: CallPhase::Dialing });
    let accepted = Some(ClientCall { peer: PEER, caller: false, phase: CallPhase::Accepted });
    // (where, event, user, error code, flags, lpUserStr length, code
    // returned, the call afterwards when it changes: `Some(x)`).
    #[allow(clippy::type_complexity)]
    let rows: &[(At, u32, u32, u32, u32, usize, Code, Option<Option<ClientCall>>)] = &[
        // 208: not logged in, whatever the event.
        (NotConnected, REQUEST, PEER, 0, FLAGS, 4, GV_ERR_NOTLOGIN, None),
        (NotLoggedIn, REQUEST, PEER, 0, FLAGS, 4, GV_ERR_NOTLOGIN, None),
        (NotLoggedIn, REPLY, PEER, 0, FLAGS, 4, GV_ERR_NOTLOGIN, None),
        (NotLoggedIn, START, PEER, 0, FLAGS, 4, GV_ERR_NOTLOGIN, None),
        (NotLoggedIn, FINISH, PEER, 0, FLAGS, 4, GV_ERR_NOTLOGIN, None),
        (NotLoggedIn, 9, PEER, 0, FLAGS, 4, GV_ERR_NOTLOGIN, None),
        // 21: a bad argument (a string too long is refused before anything else).
        (NotLoggedIn, REQUEST, PEER, 0, FLAGS, MAX_USER_STR_LEN + 1, GV_ERR_FUNCOPTERROR, None),
        (NoCall, REQUEST, PEER, 0, FLAGS, MAX_USER_STR_LEN + 1, GV_ERR_FUNCOPTERROR, None),
        (NoCall, REQUEST, ME, 0, FLAGS, 4, GV_ERR_FUNCOPTERROR, None),
        (NoCall, REQUEST, 0, 0, FLAGS, 4, GV_ERR_FUNCOPTERROR, None),
        (NoCall, REQUEST, u32::MAX, 0, FLAGS, 4, GV_ERR_FUNCOPTERROR, None),
        (NoCall, REQUEST, PEER, 0, 0x400, 4, GV_ERR_FUNCOPTERROR, None),
        (NoCall, REQUEST, PEER, 0, FLAGS | 0x8000_0000, 4, GV_ERR_FUNCOPTERROR, None),
        (NoCall, 0, PEER, 0, FLAGS, 4, GV_ERR_FUNCOPTERROR, None),
        (NoCall, 5, PEER, 0, FLAGS, 4, GV_ERR_FUNCOPTERROR, None),
        (Dialing, REQUEST, ME, 0, FLAGS, 4, GV_ERR_FUNCOPTERROR, None),
        (InCallCaller, 7, PEER, 0, FLAGS, 4, GV_ERR_FUNCOPTERROR, None),
        // 0: a Request with no call (any known flag, the longest string).
        (NoCall, REQUEST, PEER, 0, FLAGS, 4, 0, Some(dialing)),
        (NoCall, REQUEST, PEER, 0, ALL_FLAGS, MAX_USER_STR_LEN, 0, Some(dialing)),
        // 20: events that do not fit, with no call.
        (NoCall, REPLY, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (NoCall, REPLY, PEER, AC_ERROR_VIDEOCALL_REJECT, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (NoCall, FINISH, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (NoCall, START, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        // The caller, before and while ringing.
        (Dialing, REQUEST, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Dialing, REQUEST, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Dialing, REPLY, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Dialing, REPLY, OTHER, AC_ERROR_VIDEOCALL_CANCEL, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Dialing, FINISH, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Dialing, START, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Dialing, REPLY, PEER, AC_ERROR_VIDEOCALL_CANCEL, FLAGS, 4, 0, Some(None)),
        (Dialing, REPLY, PEER, 5, FLAGS, 4, 0, Some(None)),
        (Dialing, FINISH, PEER, 0, FLAGS, 4, 0, Some(None)),
        (RingingCaller, REQUEST, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCaller, REPLY, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCaller, START, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCaller, FINISH, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCaller, REPLY, PEER, AC_ERROR_VIDEOCALL_CANCEL, FLAGS, 4, 0, Some(None)),
        (RingingCaller, FINISH, PEER, 0, FLAGS, 4, 0, Some(None)),
        // The callee, ringing and after its answer.
        (RingingCallee, REQUEST, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCallee, REQUEST, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCallee, REPLY, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCallee, FINISH, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCallee, START, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (RingingCallee, REPLY, PEER, 0, FLAGS, 4, 0, Some(accepted)),
        (RingingCallee, REPLY, PEER, AC_ERROR_VIDEOCALL_REJECT, FLAGS, 4, 0, Some(None)),
        (RingingCallee, FINISH, PEER, 0, FLAGS, 4, 0, Some(None)),
        (Accepted, REPLY, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Accepted, REPLY, PEER, AC_ERROR_VIDEOCALL_REJECT, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Accepted, REQUEST, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Accepted, START, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (Accepted, FINISH, PEER, 0, FLAGS, 4, 0, Some(None)),
        // In the call, either side.
        (InCallCaller, REQUEST, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCaller, REPLY, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCaller, REPLY, PEER, AC_ERROR_VIDEOCALL_CANCEL, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCaller, START, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCaller, FINISH, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCaller, FINISH, PEER, 0, FLAGS, 4, 0, Some(None)),
        (InCallCallee, REQUEST, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCallee, REPLY, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCallee, REPLY, PEER, AC_ERROR_VIDEOCALL_REJECT, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCallee, START, PEER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCallee, FINISH, OTHER, 0, FLAGS, 4, GV_ERR_FUNCNOTALLOW, None),
        (InCallCallee, FINISH, PEER, 1234, FLAGS, 4, 0, Some(None)),
    ];
    let mut codes = std::collections::BTreeSet::new();
    for (i, &(where_, event, user, error_code, flags, len, want, after)) in rows.iter().enumerate() {
        let mut s = at(where_);
        let before = s.call_state();
        let user_str = vec![b'u'; len];
        let got = s.api(|st| st.video_call(event, user, error_code, flags, 77, &user_str));
        let ctx = format!("row {i}: {where_:?} event {event} to {user} code {error_code}");
        assert_eq!(got, want, "{ctx}");
        codes.insert(got);
        let sent = if want == 0 {
            let ev = CallEvent { event, user_id: user, error_code, flags, param: 77, user_str };
            vec![Output::Send(ClientMsg::VideoCall(ev))]
        } else {
            Vec::new()
        };
        assert_eq!(s.drain(), sent, "{ctx}");
        assert_eq!(s.call_state(), after.unwrap_or(before), "{ctx}");
    }
    let all: std::collections::BTreeSet<Code> =
        [0, GV_ERR_FUNCNOTALLOW, GV_ERR_FUNCOPTERROR, GV_ERR_NOTLOGIN].into_iter().collect();
    assert_eq!(codes, all);
}

// ----- link loss at each step -------------------------------------------------

#[test]
fn link_lost_while_ringing_ends_the_call_as_the_peer_would_hear() {
    for situation in [At::Dialing, At::RingingCaller, At::RingingCallee, At::Accepted] {
        let mut s = at(situation);
        s.lose(LinkLoss::Closed);
        s.expect(vec![lost_call(REPLY, PEER), notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0)]);
        assert_link_closed(&s, 5);
        assert_eq!(s.engine.next_deadline(), None, "{situation:?}");
        // The API answers as logged out.
        assert_eq!(s.call(FINISH, PEER, 0), GV_ERR_NOTLOGIN);
    }
}

#[test]
fn link_lost_in_a_call_finishes_it() {
    for caller in [true, false] {
        let mut s = in_call(caller);
        enter(&mut s, CALL_ROOM);
        s.lose(LinkLoss::Error("connection reset by peer".into()));
        s.expect(vec![lost_call(FINISH, PEER), notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0)]);
        assert_link_closed(&s, 5);
    }
}

#[test]
fn link_lost_in_a_room() {
    let mut s = in_room(ROOM);
    s.lose(LinkLoss::Closed);
    s.expect(vec![notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0)]);
    assert_link_closed(&s, 5);
    assert_eq!(s.api(|st| st.send_text(0, false, b"x")), GV_ERR_NOTLOGIN);
}

#[test]
fn link_lost_while_logging_in() {
    // After the handshake: a lost link; the login never completes.
    let mut s = connected();
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.drain();
    s.lose(LinkLoss::Closed);
    // The login is answered, then the link's loss.
    s.expect(vec![
        notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CONNECT_ABORT),
        notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0),
    ]);
    assert_link_closed(&s, 5);
    // Before it: a failed connect.
    let mut s = Sim::new();
    s.api_connect();
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.resolved(1, addrs());
    s.link_up();
    s.drain();
    s.lose(LinkLoss::Closed);
    s.expect(vec![notify(WM_GV_LOGINSYSTEM, 0, GV_ERR_CONNECT_ABORT), notify(WM_GV_CONNECT, 0, 0)]);
    assert_link_closed(&s, 0);
}

#[test]
fn the_servers_reason_is_reported_when_it_closes() {
    let mut s = in_call(true);
    // Logged in elsewhere: the server says why, then closes.
    s.server(ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN });
    s.expect_nothing();
    s.lose(LinkLoss::Closed);
    s.expect(vec![lost_call(FINISH, PEER), notify(WM_GV_LINKCLOSE, GV_ERR_LOGIN_NEWLOGIN, 0)]);
    assert_link_closed(&s, 5);
}

#[test]
fn after_a_lost_link_the_app_connects_and_logs_in_again() {
    let mut s = in_room(ROOM);
    s.lose(LinkLoss::Closed);
    s.drain();
    s.api_connect();
    assert_eq!(s.api(|st| st.login(b"me", b"", 0)), 0);
    s.expect(vec![Output::Resolve { attempt: 2, host: "core.example".into(), port: 8906 }]);
    s.resolved(2, addrs());
    s.link_up();
    s.server(welcome(15_000));
    s.server(login_result(ME, 0));
    s.expect(vec![
        Output::Open { addrs: addrs(), hello: hello() },
        Output::Send(login_msg()),
        notify(WM_GV_CONNECT, 1, 0),
        notify(WM_GV_LOGINSYSTEM, ME, 0),
    ]);
    assert_eq!(s.st.status, 2);
}

// ----- keep-alive -----------------------------------------------------------

#[test]
fn pings_go_out_every_third_of_the_servers_keepalive() {
    let mut s = logged_in();
    s.advance(secs(60));
    let want: Vec<(Duration, u32)> = (1..=12).map(|n| (secs(5 * n as u64), n)).collect();
    assert_eq!(s.pings, want);
    s.expect_nothing();
    assert!(s.engine.is_ready());
    // A server asking for 3 s is pinged every second.
    let mut s = Sim::new();
    s.api_connect();
    s.resolved(1, addrs());
    s.server(welcome(3_000));
    s.drain();
    s.advance(ms(3500));
    assert_eq!(s.pings, vec![(secs(1), 1), (secs(2), 2), (secs(3), 3)]);
    // One asking for nothing is held to the floor (300 ms: a ping every 100 ms).
    let mut s = Sim::new();
    s.api_connect();
    s.resolved(1, addrs());
    s.server(welcome(0));
    s.drain();
    s.advance(ms(350));
    assert_eq!(s.pings.len(), 3);
}

#[test]
fn a_silent_server_is_lost_after_the_keepalive_time() {
    let mut s = in_call(false);
    s.pongs = false;
    let ping = |seq| Output::Send(ClientMsg::Ping { seq });
    s.advance(secs(5));
    s.expect(vec![ping(1)]);
    s.advance(secs(10) - ms(1));
    s.expect(vec![ping(2)]);
    s.advance(ms(1));
    assert_eq!(s.at(), secs(15));
    s.expect(vec![Output::Close, lost_call(FINISH, PEER), notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0)]);
    assert_link_closed(&s, 5);
    assert_eq!(s.engine.next_deadline(), None);
}

#[test]
fn any_bytes_from_the_server_keep_the_link() {
    let mut s = logged_in();
    s.pongs = false;
    s.advance(secs(12));
    // Part of a large frame arrives: no complete message, but not silent.
    s.engine.on_received(s.now);
    s.advance(secs(14));
    assert!(s.engine.is_ready());
    s.drain();
    // Any message counts too.
    s.server(ServerMsg::Text { from: PEER, to: 0, secret: false, text: b"x".to_vec() });
    s.advance(secs(15) - ms(1));
    assert!(s.engine.is_ready());
    s.drain();
    s.advance(ms(1));
    assert_eq!(s.at(), secs(41));
    assert_eq!(s.drain().last(), Some(&notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0)));
}

#[test]
fn silence_after_a_logout_is_quiet() {
    let mut s = logged_in();
    s.pongs = false;
    assert_eq!(s.api_logout(), 0);
    s.expect(vec![Output::Send(ClientMsg::Logout)]);
    // The server never closes, nor answers.
    s.advance(secs(15));
    let out: Vec<Output> =
        s.drain().into_iter().filter(|o| !matches!(o, Output::Send(ClientMsg::Ping { .. }))).collect();
    assert_eq!(out, vec![Output::Close]);
    assert_link_closed(&s, 4);
}

// ----- logout and release ---------------------------------------------------

#[test]
fn logout_sends_logout_and_the_servers_close_is_quiet() {
    let mut s = in_call(true);
    assert_eq!(s.api_logout(), 0);
    // The API answers as logged out at once.
    assert!(!s.st.logged_in);
    assert_eq!(s.st.status, 4);
    assert_eq!(s.call(FINISH, PEER, 0), GV_ERR_NOTLOGIN);
    s.expect(vec![Output::Send(ClientMsg::Logout)]);
    s.lose(LinkLoss::Closed);
    s.expect_nothing();
    assert_link_closed(&s, 4);
    // Logged out and unlinked: nothing to log out of.
    assert_eq!(s.api_logout(), GV_ERR_NOTLOGIN);
}

#[test]
fn logout_before_the_handshake_closes_the_link_quietly() {
    let mut s = Sim::new();
    assert_eq!(s.api_logout(), GV_ERR_NOTLOGIN);
    s.api_connect();
    s.drain();
    // While resolving: the late answer finds nothing to open.
    assert_eq!(s.api_logout(), 0);
    s.expect_nothing();
    s.resolved(1, addrs());
    s.expect_nothing();
    assert_link_closed(&s, 0);
    // While connecting.
    s.api_connect();
    s.resolved(2, addrs());
    s.drain();
    assert_eq!(s.api_logout(), 0);
    s.expect(vec![Output::Close]);
    assert_link_closed(&s, 0);
}

#[test]
fn release_logs_out_and_waits_for_the_servers_close_with_no_more_events() {
    let mut s = in_call(true);
    s.cmd(Command::Shutdown);
    s.expect(vec![Output::Send(ClientMsg::Logout)]);
    assert!(!s.engine.is_finished());
    // Nothing more goes out, nor reaches the app.
    assert_eq!(s.call(FINISH, PEER, 0), 0);
    s.api_connect_to("elsewhere");
    s.server(from_server(FINISH, PEER, 0, 0, b""));
    s.expect_nothing();
    s.lose(LinkLoss::Closed);
    s.expect_nothing();
    assert!(s.engine.is_finished());
    assert_eq!(s.engine.next_deadline(), None);
}

#[test]
fn release_waits_for_the_logout_at_most_its_linger() {
    let mut s = logged_in();
    s.cmd(Command::Shutdown);
    s.expect(vec![Output::Send(ClientMsg::Logout)]);
    s.advance(RELEASE_LINGER - ms(1));
    assert!(!s.engine.is_finished());
    s.advance(ms(1));
    s.expect(vec![Output::Close]);
    assert!(s.engine.is_finished());
}

#[test]
fn release_before_login_closes_at_once() {
    let mut s = connected();
    s.cmd(Command::Shutdown);
    s.expect(vec![Output::Close]);
    assert!(s.engine.is_finished());
    let mut s = Sim::new();
    s.cmd(Command::Shutdown);
    s.expect_nothing();
    assert!(s.engine.is_finished());
}

// ----- media ------------------------------------------------------------------

#[test]
fn audio_reaches_the_app_with_its_stream_info() {
    let mut s = in_room(ROOM);
    let header = MediaHeader { kind: MEDIA_AUDIO, key: true, codec: 0, timestamp: 20, a: 16_000, b: (1 << 16) | 16 };
    s.server(ServerMsg::Media { from: PEER, header, data: vec![1, 2, 3, 4] });
    s.expect(vec![Output::Deliver(Event::Audio {
        from: PEER,
        channels: 1,
        rate: 16_000,
        bits: 16,
        codec: 0,
        timestamp: 20,
        data: vec![1, 2, 3, 4],
    })]);
    let info = s.st.streams[&PEER];
    assert_eq!((info.channels, info.rate, info.audio_codec), (1, 16_000, 0));
}

#[test]
fn h264_is_decoded_by_the_driver_then_delivered() {
    let mut s = in_room(ROOM);
    let header = MediaHeader { kind: MEDIA_VIDEO, key: true, codec: CODEC_H264, timestamp: 66, a: 640, b: 480 };
    s.server(ServerMsg::Media { from: PEER, header, data: vec![0, 0, 0, 1, 0x65] });
    s.expect(vec![Output::Decode { from: PEER, header, data: vec![0, 0, 0, 1, 0x65] }]);
    // Its size is not known until the picture comes back (its bytes are counted).
    let info = s.st.streams[&PEER];
    assert_eq!((info.width, info.height, info.video_codec), (0, 0, 0));
    assert!(info.video_meter != Default::default());
    let picture = vec![9; 4 * 2 * 3 / 2];
    for _ in 0..2 {
        s.engine.on_decoded(&mut s.st, PEER, header, 4, 2, picture.clone());
    }
    let video = Output::Deliver(Event::Video {
        from: PEER,
        w: 4,
        h: 2,
        codec: CODEC_H264,
        timestamp: 66,
        data: picture.clone(),
        decoded: true,
        pix_fmt: BRAC_PIX_FMT_YUV420P,
    });
    // The size is announced once, before the first frame of that size.
    s.expect(vec![notify(WM_GV_VIDEOSIZECHG, PEER, 4 | (2 << 16)), video.clone(), video]);
    assert_eq!((s.st.streams[&PEER].width, s.st.streams[&PEER].height), (4, 2));
}

#[test]
fn other_video_is_delivered_as_sent() {
    let mut s = in_room(ROOM);
    let header = MediaHeader { kind: MEDIA_VIDEO, key: true, codec: 77, timestamp: 1, a: 320, b: 240 };
    s.server(ServerMsg::Media { from: PEER, header, data: b"frame".to_vec() });
    s.expect(vec![
        notify(WM_GV_VIDEOSIZECHG, PEER, 320 | (240 << 16)),
        Output::Deliver(Event::Video {
            from: PEER,
            w: 320,
            h: 240,
            codec: 77,
            timestamp: 1,
            data: b"frame".to_vec(),
            decoded: false,
            pix_fmt: 0,
        }),
    ]);
}

#[test]
fn own_media_goes_out_only_on_a_ready_link_and_key_frames_are_asked_for() {
    let frame = Arc::new(MediaOut { bytes: vec![0, 0, 0, 1, 0x0D], from: 0, video: true, key: true });
    let mut s = Sim::new();
    s.api_connect();
    s.resolved(1, addrs());
    s.drain();
    s.cmd(Command::Media(frame.clone()));
    s.expect_nothing();
    s.server(welcome(15_000));
    s.drain();
    s.cmd(Command::Media(frame.clone()));
    s.expect(vec![Output::SendMedia(frame)]);
    s.server(ServerMsg::NeedKeyFrame);
    s.expect(vec![Output::KeyFrame]);
    // The API's own check: logged in, that device open.
    let mut s = logged_in();
    assert_eq!(s.st.may_send(true), Ok(false));
    s.server(ServerMsg::Device { user_id: ME, kind: DEVICE_CAMERA, state: GV_CAMERA_STATE_OPEN });
    assert_eq!(s.st.may_send(true), Ok(true));
    assert_eq!(s.st.may_send(false), Ok(false));
    assert_eq!(Sim::new().st.may_send(true), Err(GV_ERR_NOTLOGIN));
}

// ----- internal errors ----------------------------------------------------------

#[test]
fn an_internal_error_is_reported_as_a_lost_link() {
    let mut s = in_call(true);
    // Outputs not yet carried out are dropped with the session.
    let text = ServerMsg::Text { from: PEER, to: 0, secret: false, text: b"x".to_vec() };
    s.engine.on_message(s.now, &mut s.st, text);
    s.engine.on_internal_error(s.now, &mut s.st, "a callback panicked");
    s.expect(vec![Output::Close, lost_call(FINISH, PEER), notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0)]);
    assert_link_closed(&s, 5);
    // The app may connect again.
    s.api_connect();
    s.expect(vec![Output::Resolve { attempt: 2, host: "core.example".into(), port: 8906 }]);
    // While connecting, too, the app hears of it.
    s.engine.on_internal_error(s.now, &mut s.st, "the network thread panicked");
    s.expect(vec![notify(WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT, 0)]);
    assert_link_closed(&s, 5);
    // With no link, there is nothing to report.
    s.engine.on_internal_error(s.now, &mut s.st, "again");
    s.expect_nothing();
    // During a release, nothing is delivered.
    let mut s = logged_in();
    s.cmd(Command::Shutdown);
    s.drain();
    s.engine.on_internal_error(s.now, &mut s.st, "a callback panicked");
    s.expect(vec![Output::Close]);
    assert!(s.engine.is_finished());
}

/// The engine and the state are pure: no I/O, thread, clock, lock or
/// channel, and no import of the layers above them.
#[test]
fn the_engine_and_the_state_do_no_io() {
    for (file, text) in [
        ("engine.rs", include_str!("engine.rs")),
        ("state.rs", include_str!("state.rs")),
        ("friends.rs", include_str!("friends.rs")),
    ] {
        for banned in [
            "crate::net",
            "crate::codec",
            "crate::abi",
            "std::thread",
            "std::io",
            "Instant::now",
            "SystemTime",
            "Mutex",
            "mio::",
            "crossbeam",
        ] {
            assert!(!text.contains(banned), "{file} uses {banned}");
        }
    }
}

// ----- the real threads ---------------------------------------------------------

mod threads {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crossbeam_channel::Receiver;

    use super::super::{Client, Event, LinkState};
    use crate::wire::constants::*;
    use crate::wire::protocol::{FrameBuffer, ServerMsg, PROTOCOL_VERSION};

    const WAIT: Duration = Duration::from_secs(10);

    /// A core server that welcomes every connection and then only reads.
    fn fake_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                std::thread::spawn(move || serve(conn));
            }
        });
        port
    }

    fn serve(mut conn: TcpStream) {
        let mut frames = FrameBuffer::new();
        let mut buf = [0u8; 4096];
        let mut welcomed = false;
        loop {
            let n = match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            frames.extend(&buf[..n]);
            while let Ok(Some(_)) = frames.next_frame() {
                if !welcomed {
                    welcomed = true;
                    let mut out = Vec::new();
                    ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms: 15_000, token: 0 }.encode(&mut out);
                    if conn.write_all(&out).is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// A client whose callbacks pass each event to the returned channel,
    /// and panic on the first `WM_GV_CONNECT(1)` `panics` times.
    fn client(panics: u32) -> (Client, Receiver<Event>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let left = Arc::new(AtomicU32::new(panics));
        let sink = move |ev: Event| {
            let connected = ev == Event::Notify { msg: WM_GV_CONNECT, wparam: 1, lparam: 0 };
            let _ = tx.send(ev);
            if connected && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                panic!("the app's callback fails");
            }
        };
        (Client::start(Box::new(sink)).unwrap(), rx)
    }

    #[track_caller]
    fn expect_notify(rx: &Receiver<Event>, msg: u32, wparam: u32) {
        match rx.recv_timeout(WAIT) {
            Ok(Event::Notify { msg: m, wparam: w, .. }) if (m, w) == (msg, wparam) => {}
            other => panic!("expected notify {msg}({wparam}), got {other:?}"),
        }
    }

    #[test]
    fn thread_a_panicking_callback_is_reported_as_a_lost_link() {
        let port = fake_server();
        let (c, rx) = client(1);
        assert_eq!(c.connect(b"127.0.0.1", port as u32), 0);
        expect_notify(&rx, WM_GV_CONNECT, 1);
        expect_notify(&rx, WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT);
        assert_eq!(c.with_state(|st| (st.link, st.status)), (LinkState::Idle, 5));
        // The library goes on: connect and log in again.
        assert_eq!(c.connect(b"127.0.0.1", port as u32), 0);
        expect_notify(&rx, WM_GV_CONNECT, 1);
        assert_eq!(c.login(b"me", b"", 0), 0);
        c.shutdown();
    }

    #[test]
    fn thread_a_panic_on_the_network_thread_is_reported_as_a_lost_link() {
        let port = fake_server();
        let (c, rx) = client(0);
        assert_eq!(c.connect(b"127.0.0.1", port as u32), 0);
        expect_notify(&rx, WM_GV_CONNECT, 1);
        c.inject_panic();
        expect_notify(&rx, WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT);
        assert_eq!(c.with_state(|st| st.link), LinkState::Idle);
        assert_eq!(c.login(b"me", b"", 0), GV_ERR_CONNECT_ABORT);
        assert_eq!(c.connect(b"127.0.0.1", port as u32), 0);
        expect_notify(&rx, WM_GV_CONNECT, 1);
        c.shutdown();
    }

    #[test]
    fn thread_the_network_thread_gives_up_after_repeated_panics() {
        let port = fake_server();
        let (c, rx) = client(0);
        assert_eq!(c.connect(b"127.0.0.1", port as u32), 0);
        expect_notify(&rx, WM_GV_CONNECT, 1);
        for _ in 0..crate::net::link::MAX_PANICS {
            c.inject_panic();
        }
        expect_notify(&rx, WM_GV_LINKCLOSE, GV_ERR_CONNECT_ABORT);
        let deadline = std::time::Instant::now() + WAIT;
        while !c.net.is_finished() {
            assert!(std::time::Instant::now() < deadline, "the network thread did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
        // A clear code, never a hang.
        assert_eq!(c.connect(b"127.0.0.1", port as u32), GV_ERR_NOTINIT);
        assert_eq!(c.login(b"me", b"", 0), GV_ERR_CONNECT_ABORT);
        assert_eq!(c.enter_room(1, b""), GV_ERR_NOTLOGIN);
        c.shutdown();
        // The callback thread ended with it.
        assert!(rx.recv_timeout(WAIT).is_err());
    }
}

// ----- stream figures (BRAC_QueryUserState) ------------------------------------

#[test]
fn a_meter_gives_the_bit_rate_of_the_last_whole_second_and_zero_when_quiet() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut m = Meter::default();
    assert_eq!(m.bps(t0), 0, "nothing yet");
    // 25 frames of 500 bytes a second: 100 kbit/s.
    for i in 0..=50 {
        m.add(ms(i * 40), 500);
    }
    assert_eq!(m.bps(ms(2000)), 100_000);
    // Still known 2 s after the last frame, then 0.
    assert_eq!(m.bps(ms(4000)), 100_000);
    assert_eq!(m.bps(ms(4001)), 0);
    // A new start after a pause: the old rate is not carried over.
    m.add(ms(10_000), 100_000);
    assert_eq!(m.bps(ms(10_000)), 0, "no whole second yet");
    m.add(ms(11_000), 1);
    assert_eq!(m.bps(ms(11_000)), 800_000);
}

#[test]
fn bytes_received_and_sent_are_counted_per_user_and_kind() {
    let mut s = in_room(ROOM);
    let video = MediaHeader { kind: MEDIA_VIDEO, key: true, codec: 7, timestamp: 0, a: 4, b: 2 };
    let audio = MediaHeader { kind: MEDIA_AUDIO, key: true, codec: 0, timestamp: 0, a: 16_000, b: (1 << 16) | 16 };
    for i in 0..=10u64 {
        s.server(ServerMsg::Media { from: PEER, header: video, data: vec![0; 1000] });
        s.server(ServerMsg::Media { from: PEER, header: audio, data: vec![0; 100] });
        s.engine.on_command(
            s.now,
            &mut s.st,
            Command::Media(Arc::new(MediaOut { bytes: vec![0; 250], from: ME, video: true, key: true })),
        );
        if i < 10 {
            s.advance(Duration::from_millis(100));
        }
    }
    s.out.clear();
    let (peer, me) = (s.st.streams[&PEER], s.st.streams[&ME]);
    // 10 frames counted over the first whole second (the 11th starts the next).
    assert_eq!(peer.video_meter.bps(s.now), 80_000);
    assert_eq!(peer.audio_meter.bps(s.now), 8_000);
    assert_eq!((peer.width, peer.height, peer.video_codec), (4, 2, 7));
    assert_eq!(me.video_meter.bps(s.now), 20_000);
    assert_eq!(me.audio_meter.bps(s.now), 0, "no audio sent");
}

#[test]
fn the_local_and_the_servers_view_of_ones_address_are_kept() {
    let s = logged_in();
    assert_eq!(s.st.local_ip, b"192.168.1.20");
    assert_eq!(s.st.internet_ip, b"198.51.100.7");
}
