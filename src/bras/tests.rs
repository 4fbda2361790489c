//! Unit tests of the business-server library's [`Engine`] in simulated
//! time, in the manner of `src/core/tests.rs`: the link (connect at once,
//! reconnect with a doubling backoff and the last link's token, connect
//! time-out, keep-alive), the questions and their answers (an answer goes
//! back only on the link its question came on), the set of users in a
//! call, the notes, the app's timer, release, and internal errors.
//!
//! Time is `Sim::now`, only moved forward; [`Sim::advance`] fires the
//! engine's deadlines in order, as the driver would. Unless a test says
//! otherwise the core server answers every `Ping` at once and those pings
//! are left out of what tests see.
//!
//! The last tests (`thread_*`) run the real thread against a fake core
//! server on loopback: a panic in a callback or in the loop reaches the
//! app as the link going down, and the library links again.

use std::time::{Duration, Instant};

use super::engine::{
    Answer, BizEvent, BizState, Command, Engine, LinkLoss, Output, BACKOFF_MAX, BACKOFF_MIN, CONNECT_TIMEOUT,
};
use crate::wire::constants::*;
use crate::wire::protocol::{ClientMsg, Role, ServerMsg, PROTOCOL_VERSION};

const SECRET: &[u8] = b"s3cret";
const TOKEN: u64 = 0x7070_7070;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn hello(token: u64) -> ClientMsg {
    ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Business as u8, secret: SECRET.to_vec(), token }
}

fn welcome() -> ServerMsg {
    ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms: 15_000, token: TOKEN }
}

fn deliver(ev: BizEvent) -> Output {
    Output::Deliver(ev)
}

fn link_down() -> Output {
    deliver(BizEvent::LinkDown { code: GV_ERR_CONNECT_ABORT })
}

fn ask_call(query: u32, src: u32, tar: u32) -> ServerMsg {
    ServerMsg::BizAskCall { query, src, tar, flags: 3, param: 5, user_str: b"s".to_vec() }
}

fn asked_call(id: u64, src: u32, tar: u32) -> Output {
    Output::Ask { id, event: BizEvent::AskCall { src, tar, flags: 3, param: 5, user_str: b"s".to_vec() } }
}

fn note(event: u32, src: u32, tar: u32, error_code: u32) -> ServerMsg {
    ServerMsg::BizCallNote { event, src, tar, error_code, flags: 3, param: 0, user_str: Vec::new() }
}

fn noted(event: u32, src: u32, tar: u32, error_code: u32) -> Output {
    deliver(BizEvent::CallNote { event, src, tar, error_code, flags: 3, param: 0, user_str: Vec::new() })
}

struct Sim {
    engine: Engine,
    st: BizState,
    t0: Instant,
    now: Instant,
    out: Vec<Output>,
    /// The core server answers every ping at once (pings left out of `out`).
    pongs: bool,
}

impl Sim {
    fn new() -> Sim {
        let t0 = Instant::now();
        Sim {
            engine: Engine::new(t0, SECRET.to_vec()),
            st: BizState::default(),
            t0,
            now: t0,
            out: Vec::new(),
            pongs: true,
        }
    }

    fn pump(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Send(ClientMsg::Ping { seq }) if self.pongs => {
                    self.engine.on_message(self.now, &mut self.st, ServerMsg::Pong { seq })
                }
                o => self.out.push(o),
            }
        }
    }

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

    fn server(&mut self, msg: ServerMsg) {
        self.engine.on_received(self.now);
        self.engine.on_message(self.now, &mut self.st, msg);
        self.pump();
    }

    fn answer(&mut self, id: u64, answer: Answer) {
        self.engine.on_answer(self.now, &mut self.st, id, answer);
        self.pump();
    }

    fn lose(&mut self, why: LinkLoss) {
        self.engine.on_link_lost(self.now, &mut self.st, why);
        self.pump();
    }

    fn link_up(&mut self) {
        self.engine.on_link_up(self.now);
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

    fn at(&self) -> Duration {
        self.now - self.t0
    }
}

/// Linked: the handshake done, the token kept.
fn linked() -> Sim {
    let mut s = Sim::new();
    s.advance(Duration::ZERO);
    s.expect(vec![Output::Connect { hello: hello(0) }]);
    s.link_up();
    s.server(welcome());
    s.expect(vec![deliver(BizEvent::LinkUp)]);
    assert!(s.st.linked);
    s
}

#[test]
fn it_connects_at_once_with_its_secret() {
    let mut s = Sim::new();
    assert_eq!(s.engine.next_deadline(), Some(s.t0));
    s.advance(Duration::ZERO);
    s.expect(vec![Output::Connect { hello: hello(0) }]);
    assert!(!s.st.linked);
    assert_eq!(s.engine.next_deadline(), Some(s.t0 + CONNECT_TIMEOUT));
    s.link_up();
    s.expect_nothing();
    s.server(welcome());
    s.expect(vec![deliver(BizEvent::LinkUp)]);
    assert!(s.st.linked);
    assert!(s.engine.is_ready());
}

#[test]
fn it_reconnects_with_a_doubling_backoff_and_its_last_token() {
    let mut s = linked();
    s.advance(secs(1));
    s.lose(LinkLoss::Closed);
    s.expect(vec![link_down()]);
    assert!(!s.st.linked);
    // Attempts at +100 ms, then 200, 400 … up to 5 s apart, each failing.
    let mut waits = Vec::new();
    let mut last = s.at();
    for _ in 0..9 {
        let next = s.engine.next_deadline().unwrap() - s.t0;
        s.advance(next - s.at());
        // The token of the last Welcome takes the held slot back.
        s.expect(vec![Output::Connect { hello: hello(TOKEN) }]);
        waits.push(s.at() - last);
        last = s.at();
        s.lose(LinkLoss::ConnectFailed);
        // A link that never came up is not reported down.
        s.expect_nothing();
    }
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000].map(ms));
    assert_eq!(s.engine.backoff(), BACKOFF_MAX);
    // Linked again: the backoff starts over.
    s.advance(BACKOFF_MAX);
    s.expect(vec![Output::Connect { hello: hello(TOKEN) }]);
    s.server(welcome());
    s.expect(vec![deliver(BizEvent::LinkUp)]);
    assert_eq!(s.engine.backoff(), BACKOFF_MIN);
    s.lose(LinkLoss::Error("reset".into()));
    s.expect(vec![link_down()]);
    assert_eq!(s.engine.next_deadline(), Some(s.now + BACKOFF_MIN));
}

#[test]
fn a_connect_that_does_not_complete_in_time_is_tried_again() {
    let mut s = Sim::new();
    s.advance(Duration::ZERO);
    s.drain();
    s.link_up();
    s.advance(CONNECT_TIMEOUT - ms(1));
    s.expect_nothing();
    s.advance(ms(1));
    s.expect(vec![Output::Close]);
    s.advance(BACKOFF_MIN);
    s.expect(vec![Output::Connect { hello: hello(0) }]);
}

#[test]
fn a_refusal_closes_and_tries_again_unreported() {
    let mut s = Sim::new();
    s.advance(Duration::ZERO);
    s.drain();
    s.server(ServerMsg::Refused { code: GV_ERR_CONNECT_AUTHFAIL });
    s.expect(vec![Output::Close]);
    assert!(!s.st.linked);
    s.advance(BACKOFF_MIN);
    s.expect(vec![Output::Connect { hello: hello(0) }]);
    // TLS failures too (the driver says why in the log).
    s.lose(LinkLoss::Tls("bad certificate".into()));
    s.expect_nothing();
    assert_eq!(s.engine.next_deadline(), Some(s.now + 2 * BACKOFF_MIN));
}

#[test]
fn keepalive_pings_and_a_silent_core_server() {
    let mut s = linked();
    s.advance(secs(60));
    s.expect_nothing();
    assert!(s.st.linked);
    s.pongs = false;
    let t = s.at();
    s.advance(secs(15));
    let ping = |seq| Output::Send(ClientMsg::Ping { seq });
    // Pings every 5 s (12 answered before), then silence for 15 s.
    s.expect(vec![ping(13), ping(14), Output::Close, link_down()]);
    assert_eq!(s.at() - t, secs(15));
    assert!(!s.st.linked);
    assert_eq!(s.engine.next_deadline(), Some(s.now + BACKOFF_MIN));
}

#[test]
fn questions_are_put_to_the_app_and_answered_on_their_link() {
    let mut s = linked();
    s.server(ask_call(1, 10, 20));
    s.expect(vec![asked_call(1, 10, 20)]);
    // Both count as in a call while the app decides (so that the app may
    // finish it from inside the callback).
    assert_eq!(s.st.in_call.get(&10), Some(&20));
    assert_eq!(s.st.in_call.get(&20), Some(&10));
    s.answer(1, Answer::Code(0));
    s.expect(vec![Output::Send(ClientMsg::BizCallVerdict { query: 1, code: 0 })]);
    assert!(s.st.in_call.contains_key(&10));
    // A refusal takes them out of the call set.
    s.server(ask_call(2, 30, 40));
    s.drain();
    s.answer(2, Answer::Code(GV_ERR_SERVERSDK_FAIL));
    s.expect(vec![Output::Send(ClientMsg::BizCallVerdict { query: 2, code: GV_ERR_SERVERSDK_FAIL })]);
    assert!(!s.st.in_call.contains_key(&30) && !s.st.in_call.contains_key(&40));
    // Logins.
    s.server(ServerMsg::BizAskVerify {
        query: 3,
        name: b"n".to_vec(),
        password: b"p".to_vec(),
        ip: b"ip".to_vec(),
        user_id: 5,
    });
    let ask = BizEvent::AskVerify { name: b"n".to_vec(), password: b"p".to_vec(), ip: b"ip".to_vec(), user_id: 5 };
    s.expect(vec![Output::Ask { id: 3, event: ask }]);
    s.answer(3, Answer::Verify { code: 0, user_id: 5, level: 2, nick: b"nick".to_vec() });
    s.expect(vec![Output::Send(ClientMsg::BizVerifyResult {
        query: 3,
        code: 0,
        user_id: 5,
        level: 2,
        nick: b"nick".to_vec(),
    })]);
    // A question answered with no answer of its kind: yes, with nothing set.
    s.server(ServerMsg::BizAskVerify {
        query: 4,
        name: b"m".to_vec(),
        password: Vec::new(),
        ip: Vec::new(),
        user_id: 0,
    });
    s.drain();
    s.answer(4, Answer::None);
    s.expect(vec![Output::Send(ClientMsg::BizVerifyResult {
        query: 4,
        code: 0,
        user_id: 0,
        level: 0,
        nick: Vec::new(),
    })]);
    // Entering rooms.
    s.server(ServerMsg::BizAskEnter {
        query: 5,
        user_id: 5,
        room_id: 9,
        room_name: b"r".to_vec(),
        password: Vec::new(),
    });
    let ask = BizEvent::AskEnter { user_id: 5, room_id: 9, room_name: b"r".to_vec(), password: Vec::new() };
    s.expect(vec![Output::Ask { id: 5, event: ask }]);
    s.answer(5, Answer::Code(GV_ERR_ROOM_REJECT));
    s.expect(vec![Output::Send(ClientMsg::BizEnterVerdict { query: 5, code: GV_ERR_ROOM_REJECT })]);
    // An answer given twice goes once.
    s.answer(5, Answer::Code(0));
    s.expect_nothing();
}

#[test]
fn an_answer_after_its_link_was_lost_is_dropped() {
    let mut s = linked();
    s.server(ask_call(1, 10, 20));
    s.drain();
    s.lose(LinkLoss::Closed);
    s.expect(vec![link_down()]);
    assert!(s.st.in_call.is_empty());
    s.answer(1, Answer::Code(0));
    s.expect_nothing();
    // Linked again, the core server asks again; the old answer still goes nowhere.
    s.advance(BACKOFF_MIN);
    s.server(welcome());
    s.server(ask_call(1, 10, 20));
    s.expect(vec![Output::Connect { hello: hello(TOKEN) }, deliver(BizEvent::LinkUp), asked_call(2, 10, 20)]);
    s.answer(1, Answer::Code(0));
    s.expect_nothing();
    s.answer(2, Answer::Code(0));
    s.expect(vec![Output::Send(ClientMsg::BizCallVerdict { query: 1, code: 0 })]);
}

#[test]
fn the_call_set_follows_the_notes() {
    let mut s = linked();
    for (q, a, b) in [(1, 10, 20), (2, 30, 40), (3, 50, 60)] {
        s.server(ask_call(q, a, b));
        s.answer(q as u64, Answer::Code(0));
    }
    s.drain();
    s.server(note(BRAS_VIDEOCALL_EVENT_REPLY, 20, 10, 0));
    s.server(note(BRAS_VIDEOCALL_EVENT_START, 10, 20, 0));
    assert_eq!(s.st.in_call.len(), 6);
    // Finished by a party; refused; ended by the core server (src 0).
    s.server(note(BRAS_VIDEOCALL_EVENT_FINISH, 10, 20, 0));
    s.server(note(BRAS_VIDEOCALL_EVENT_REPLY, 40, 30, AC_ERROR_VIDEOCALL_REJECT));
    let mut left: Vec<u32> = s.st.in_call.keys().copied().collect();
    left.sort();
    assert_eq!(left, vec![50, 60]);
    s.server(note(BRAS_VIDEOCALL_EVENT_FINISH, 0, 60, AC_ERROR_VIDEOCALL_DISCONNECT));
    assert!(s.st.in_call.is_empty());
    s.expect(vec![
        noted(BRAS_VIDEOCALL_EVENT_REPLY, 20, 10, 0),
        noted(BRAS_VIDEOCALL_EVENT_START, 10, 20, 0),
        noted(BRAS_VIDEOCALL_EVENT_FINISH, 10, 20, 0),
        noted(BRAS_VIDEOCALL_EVENT_REPLY, 40, 30, AC_ERROR_VIDEOCALL_REJECT),
        noted(BRAS_VIDEOCALL_EVENT_FINISH, 0, 60, AC_ERROR_VIDEOCALL_DISCONNECT),
    ]);
}

#[test]
fn notes_reach_the_app_and_the_user_list() {
    let mut s = linked();
    s.server(ServerMsg::BizUserLogin { user_id: 5, name: b"ann".to_vec(), level: 3, ip: b"1.2.3.4".to_vec() });
    assert_eq!(s.st.users.get(&5), Some(&(b"ann".to_vec(), 3)));
    s.server(ServerMsg::BizUserRoom { user_id: 5, room_id: 9, entered: true });
    s.server(ServerMsg::BizText { room_id: 9, src: 5, tar: 0, secret: false, text: b"hi".to_vec() });
    s.server(ServerMsg::BizTransBuffer { user_id: 5, data: b"d".to_vec() });
    s.server(ServerMsg::BizUserLogout { user_id: 5, code: 0 });
    assert!(s.st.users.is_empty());
    s.expect(vec![
        deliver(BizEvent::UserLogin { user_id: 5, name: b"ann".to_vec(), level: 3, ip: b"1.2.3.4".to_vec() }),
        deliver(BizEvent::UserRoom { user_id: 5, room_id: 9, entered: true }),
        deliver(BizEvent::Text { room_id: 9, src: 5, tar: 0, secret: false, text: b"hi".to_vec() }),
        deliver(BizEvent::TransBuffer { user_id: 5, data: b"d".to_vec() }),
        deliver(BizEvent::UserLogout { user_id: 5, code: 0 }),
    ]);
}

#[test]
fn commands_go_out_only_on_a_ready_link() {
    let kick = ClientMsg::BizUserControl { user_id: 5, ctrl: 1, wparam: 0, lparam: 0, text: Vec::new() };
    let mut s = Sim::new();
    s.cmd(Command::Send(kick.clone()));
    s.advance(Duration::ZERO);
    s.cmd(Command::Send(kick.clone()));
    s.expect(vec![Output::Connect { hello: hello(0) }]);
    s.server(welcome());
    s.drain();
    s.cmd(Command::Send(kick.clone()));
    s.expect(vec![Output::Send(kick)]);
}

#[test]
fn the_apps_timer_fires_every_interval_linked_or_not() {
    let mut s = Sim::new();
    s.cmd(Command::Timer(Some(ms(300))));
    s.advance(Duration::ZERO);
    s.drain();
    s.advance(ms(1000));
    s.expect(vec![deliver(BizEvent::Timer), deliver(BizEvent::Timer), deliver(BizEvent::Timer)]);
    s.cmd(Command::Timer(Some(secs(1))));
    s.advance(ms(999));
    s.expect_nothing();
    s.advance(ms(1));
    s.expect(vec![deliver(BizEvent::Timer)]);
    s.cmd(Command::Timer(None));
    s.advance(secs(4));
    // Only the connect attempt's time-out and retry happened.
    assert!(s.drain().iter().all(|o| !matches!(o, Output::Deliver(BizEvent::Timer))));
}

#[test]
fn release_closes_the_link_and_finishes() {
    let mut s = linked();
    s.cmd(Command::Timer(Some(ms(100))));
    s.cmd(Command::Shutdown);
    s.expect(vec![Output::Close]);
    assert!(s.engine.is_finished());
    assert_eq!(s.engine.next_deadline(), None);
    let mut s = Sim::new();
    s.cmd(Command::Shutdown);
    s.expect_nothing();
    assert!(s.engine.is_finished());
}

#[test]
fn an_internal_error_is_reported_as_the_link_going_down() {
    let mut s = linked();
    s.server(ask_call(1, 10, 20));
    s.drain();
    // Outputs not yet carried out are dropped with the link.
    s.engine.on_message(s.now, &mut s.st, ServerMsg::BizUserRoom { user_id: 5, room_id: 9, entered: true });
    s.engine.on_internal_error(s.now, &mut s.st, "a callback panicked");
    s.expect(vec![Output::Close, link_down()]);
    assert!(!s.st.linked && s.st.in_call.is_empty());
    s.answer(1, Answer::Code(0));
    s.expect_nothing();
    // It links again after the backoff.
    s.advance(BACKOFF_MIN);
    s.expect(vec![Output::Connect { hello: hello(TOKEN) }]);
    // Not yet up: closed, retried, not reported.
    s.engine.on_internal_error(s.now, &mut s.st, "again");
    s.expect(vec![Output::Close]);
    // With no link: nothing to report.
    s.engine.on_internal_error(s.now, &mut s.st, "again");
    s.expect_nothing();
}

/// `BRAS_UserInfoControl`'s checks: what each code sends (only the strings
/// the core server uses travel) and the codes it returns at once.
#[test]
fn user_control_codes() {
    use super::user_control_msg as msg;
    let ctl = |user_id, ctrl, wparam, lparam, text: &[u8]| {
        Ok(ClientMsg::BizUserControl { user_id, ctrl, wparam, lparam, text: text.to_vec() })
    };
    let long = vec![b'x'; 257];
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_KICKOUT, 7, 8, b"bye"), ctl(5, 1, 7, 8, b""));
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_SYNCDATA, 1, 2, b"x"), ctl(5, 2, 1, 2, b""));
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_ADDGROUP, 1, 0, "好友".as_bytes()), ctl(5, 20, 1, 0, "好友".as_bytes()));
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_ADDGROUP, 1, 0, b""), ctl(5, 20, 1, 0, b""));
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_DELGROUP, 1, 0, b"x"), ctl(5, 21, 1, 0, b""));
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_ADDFRIEND, 6, 0, b""), ctl(5, 22, 6, 0, b""));
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_DELFRIEND, 6, 0, b""), ctl(5, 23, 6, 0, b""));
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_SETGROUPRELATION, 1, 6, b""), ctl(5, 24, 1, 6, b""));
    assert_eq!(msg(5, BRAS_USERINFO_CTRLCODE_SETGROUPRELATION, 0, 6, b""), ctl(5, 24, 0, 6, b""));
    assert_eq!(msg(0, BRAS_USERINFO_CTRLCODE_BLOCKIP, 0, 0, b"10.*"), ctl(0, 4, 0, 0, b"10.*"));
    assert_eq!(msg(0, BRAS_USERINFO_CTRLCODE_UNBLOCKIP, 0, 0, b"10.*"), ctl(0, 5, 0, 0, b"10.*"));
    for (user, ctrl, w, l, text) in [
        (0, BRAS_USERINFO_CTRLCODE_SYNCDATA, 0, 0, &b""[..]),
        (u32::MAX, BRAS_USERINFO_CTRLCODE_ADDFRIEND, 6, 0, b""),
        (5, BRAS_USERINFO_CTRLCODE_ADDFRIEND, 0, 0, b""),
        (5, BRAS_USERINFO_CTRLCODE_DELFRIEND, u32::MAX, 0, b""),
        (5, BRAS_USERINFO_CTRLCODE_ADDGROUP, 0, 0, b"g"),
        (5, BRAS_USERINFO_CTRLCODE_ADDGROUP, 1, 0, &long),
        (5, BRAS_USERINFO_CTRLCODE_DELGROUP, u32::MAX, 0, b""),
        (5, BRAS_USERINFO_CTRLCODE_SETGROUPRELATION, 1, 0, b""),
        (5, BRAS_USERINFO_CTRLCODE_SETGROUPRELATION, u32::MAX, 6, b""),
        (0, BRAS_USERINFO_CTRLCODE_BLOCKIP, 0, 0, b""),
        (0, BRAS_USERINFO_CTRLCODE_UNBLOCKIP, 0, 0, &long),
        (5, 0, 0, 0, b""),
        (5, 6, 0, 0, b""),
        (5, 25, 0, 0, b""),
        (5, 99, 0, 0, b""),
    ] {
        assert_eq!(msg(user, ctrl, w, l, text), Err(GV_ERR_FUNCOPTERROR), "{user} {ctrl} {w} {l}");
    }
    for ctrl in [BRAS_USERINFO_CTRLCODE_FUNCCTRL, BRAS_USERINFO_CTRLCODE_APPDEFINE, 101, u32::MAX] {
        assert_eq!(msg(5, ctrl, 1, 1, b"x"), Err(GV_ERR_FUNCNOTALLOW), "{ctrl}");
    }
}

/// The engine is pure: no I/O, thread, clock, lock or channel, and no
/// import of the layers above it.
#[test]
fn the_engine_does_no_io() {
    let text = include_str!("engine.rs");
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
        assert!(!text.contains(banned), "engine.rs uses {banned}");
    }
}

// ----- the real thread ----------------------------------------------------------

mod threads {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crossbeam_channel::Receiver;

    use super::super::{Answer, BizConfig, BizEvent, Business};
    use crate::net::link::TlsEnv;
    use crate::wire::constants::*;
    use crate::wire::protocol::{FrameBuffer, ServerMsg, PROTOCOL_VERSION};

    const WAIT: Duration = Duration::from_secs(10);

    /// A core server's business listener that welcomes every connection
    /// and then only reads.
    fn fake_core() -> u16 {
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
                    ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms: 15_000, token: 1 }.encode(&mut out);
                    if conn.write_all(&out).is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// A business server whose callbacks pass each event to the returned
    /// channel, and panic on the first `LinkUp` `panics` times.
    fn business(port: u16, panics: u32) -> (Business, Receiver<BizEvent>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let left = Arc::new(AtomicU32::new(panics));
        let sink = move |ev: BizEvent| {
            let up = ev == BizEvent::LinkUp;
            let _ = tx.send(ev);
            if up && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                panic!("the app's callback fails");
            }
            Answer::None
        };
        let config =
            BizConfig { core_addr: format!("127.0.0.1:{port}"), secret: Vec::new(), tls: Ok(TlsEnv::default()) };
        (Business::start(config, Box::new(sink)).unwrap(), rx)
    }

    #[track_caller]
    fn expect(rx: &Receiver<BizEvent>, want: BizEvent) {
        assert_eq!(rx.recv_timeout(WAIT), Ok(want));
    }

    #[test]
    fn thread_a_panicking_callback_is_reported_as_the_link_going_down() {
        let (b, rx) = business(fake_core(), 1);
        expect(&rx, BizEvent::LinkUp);
        expect(&rx, BizEvent::LinkDown { code: GV_ERR_CONNECT_ABORT });
        // It links again after its backoff.
        expect(&rx, BizEvent::LinkUp);
        assert!(b.with_state(|st| st.linked));
        b.shutdown();
    }

    #[test]
    fn thread_a_panic_in_the_loop_is_reported_as_the_link_going_down() {
        let (b, rx) = business(fake_core(), 0);
        expect(&rx, BizEvent::LinkUp);
        b.inject_panic();
        expect(&rx, BizEvent::LinkDown { code: GV_ERR_CONNECT_ABORT });
        expect(&rx, BizEvent::LinkUp);
        // The API answers as linked again.
        assert_eq!(b.user_control(5, BRAS_USERINFO_CTRLCODE_KICKOUT, 0, 0, b""), 0);
        b.shutdown();
    }

    #[test]
    fn thread_the_thread_gives_up_after_repeated_panics() {
        let (b, rx) = business(fake_core(), 0);
        expect(&rx, BizEvent::LinkUp);
        for _ in 0..crate::net::link::MAX_PANICS {
            b.inject_panic();
        }
        expect(&rx, BizEvent::LinkDown { code: GV_ERR_CONNECT_ABORT });
        let deadline = std::time::Instant::now() + WAIT;
        while !b.net.is_finished() {
            assert!(std::time::Instant::now() < deadline, "the thread did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
        // A clear code, never a hang.
        assert_eq!(b.user_control(5, BRAS_USERINFO_CTRLCODE_KICKOUT, 0, 0, b""), GV_ERR_CONNECT_ABORT);
        b.shutdown();
    }
}
