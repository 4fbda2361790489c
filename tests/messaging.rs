//! How AnyChat apps talk to each other, end to end: text messages, trans
//! buffers (`BRAC_TransBuffer(Ex)`), camera and microphone states, levels
//! and nick names, `BRAC_LoginEx`, the business server's buffers and user
//! infos (`BRAS_SendBufToUser`, `BRAS_SendBufToRoom`, `BRAS_TransBuffer`,
//! `BRAS_SetUserInfo`/`BRAS_GetUserInfo`) and room names — between a real core
//! server, `anychat-cli` client processes and `anychat-bras-cli` business
//! servers (see `tests/common`).
//!
//! "Never arrives" is checked only after a later event on the same
//! connection proves that it would have arrived by then (see [`sync`]).

mod common;

use anychat::wire::constants::*;
use common::{Bras, Cli, Server};

/// How `anychat-cli` prints the user id `-1` (oneself) in its answers.
const SELF: &str = "4294967295";

/// `c` enters `room`; everyone in `already` (in that room now) sees it
/// arrive, so that all of them know each other when this returns.
fn enter(c: &mut Cli, room: u32, already: &mut [&mut Cli]) {
    assert_eq!(c.cmd(&format!("enter {room}")), 0);
    c.expect(&format!("notify ENTERROOM {room} 0"));
    for o in already.iter_mut() {
        o.expect(&format!("notify USERATROOM {} 1", c.user_id));
    }
}

/// A round trip through the core server for `c`, which is in `room`:
/// entering the room it is in again goes to the server (whose "already in
/// the room" the library answers as the entry's success), and that answer
/// comes after everything the server sent `c` before it handled the
/// request. Anything caused by an event the test has already seen arrive
/// elsewhere has therefore reached `c` when this returns.
fn sync(c: &mut Cli, room: u32) {
    assert_eq!(c.cmd(&format!("enter {room}")), 0);
    c.expect(&format!("notify ENTERROOM {room} 0"));
    c.expect("notify ONLINEUSER ");
}

/// Sends a query command (`camstate`, `level`, `nick`, …) that prints a
/// line starting with its own name on success, and returns that line.
fn query(c: &mut Cli, line: &str) -> String {
    assert_eq!(c.cmd(line), 0, "{}: {line}", c.name);
    let word = line.split_whitespace().next().unwrap();
    c.expect(&format!("{word} "))
}

/// How many lines `c` printed so far that start with `prefix`.
fn count(c: &mut Cli, prefix: &str) -> usize {
    c.transcript().iter().filter(|l| l.starts_with(prefix)).count()
}

/// A client connected to `server` but not logged in.
fn connected(server: &Server, name: &str) -> Cli {
    let mut c = Cli::spawn(name, &[]);
    assert_eq!(c.cmd(&format!("connect 127.0.0.1 {}", server.port)), 0);
    c.expect("notify CONNECT 1 0");
    c
}

/// A, B and C in room 100, D in room 200; a business server sees it all.
/// A text to one user reaches that user only, byte for byte (UTF-8 included)
/// and with its secret flag; a text to the room (user 0 or -1) reaches
/// everyone else in the room as `to=0`, and never another room nor the
/// sender; a user of another room, oneself or an unknown user: 205.
#[test]
fn text_messages_reach_their_addressees_in_the_room_only() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut c = Cli::login(&server, "carol", &[]);
    let mut d = Cli::login(&server, "dave", &[]);
    let (ia, ib, id) = (a.user_id, b.user_id, d.user_id);
    enter(&mut a, 100, &mut []);
    enter(&mut b, 100, &mut [&mut a]);
    enter(&mut c, 100, &mut [&mut a, &mut b]);
    enter(&mut d, 200, &mut []);

    // To one user: exactly the text sent, with its secret flag; the
    // business server sees each one with the room.
    assert_eq!(a.cmd(&format!("text {ib} 0 hello bob")), 0);
    assert_eq!(b.expect("text "), format!("text from={ia} to={ib} secret=0 msg=hello bob"));
    assert_eq!(bras.expect("text "), format!("text room=100 src={ia} tar={ib} secret=0 msg=hello bob"));
    let utf8 = "héllo wörld — 你好 👋";
    assert_eq!(a.cmd(&format!("text {ib} 1 {utf8}")), 0);
    assert_eq!(b.expect("text "), format!("text from={ia} to={ib} secret=1 msg={utf8}"));
    assert_eq!(bras.expect("text "), format!("text room=100 src={ia} tar={ib} secret=1 msg={utf8}"));
    // C, in the same room, got neither.
    sync(&mut c, 100);
    c.assert_not_seen("text ");

    // To the room, as user 0 and as user -1: everyone else in it, as `to=0`.
    for to in ["0", "-1"] {
        let msg = format!("to all via {to}");
        assert_eq!(a.cmd(&format!("text {to} 0 {msg}")), 0);
        for r in [&mut b, &mut c] {
            assert_eq!(r.expect("text "), format!("text from={ia} to=0 secret=0 msg={msg}"));
        }
        assert_eq!(bras.expect("text "), format!("text room=100 src={ia} tar=0 secret=0 msg={msg}"));
    }
    // Never to another room, never back to the sender, each text once.
    sync(&mut d, 200);
    d.assert_not_seen("text ");
    sync(&mut a, 100);
    a.assert_not_seen("text ");
    sync(&mut b, 100);
    assert_eq!(count(&mut b, "text "), 4);
    sync(&mut c, 100);
    assert_eq!(count(&mut c, "text "), 2);

    // D's own room text stays in room 200.
    assert_eq!(d.cmd("text 0 0 room 200 only"), 0);
    assert_eq!(bras.expect("text "), format!("text room=200 src={id} tar=0 secret=0 msg=room 200 only"));
    for (x, room) in [(&mut a, 100), (&mut b, 100), (&mut c, 100)] {
        sync(x, room);
        x.assert_not_seen(&format!("text from={id} "));
    }

    // Users A may not address: 205; nothing is sent.
    assert_eq!(a.cmd(&format!("text {id} 0 other room")), GV_ERR_INVALID_USERID);
    assert_eq!(a.cmd(&format!("text {ia} 0 myself")), GV_ERR_INVALID_USERID);
    assert_eq!(a.cmd("text 4242 0 nobody"), GV_ERR_INVALID_USERID);
    // An empty text: 21.
    assert_eq!(a.cmd(&format!("text {ib}")), GV_ERR_FUNCOPTERROR);
    // The business server's next text is the next valid one.
    assert_eq!(a.cmd(&format!("text {ib} 0 last")), 0);
    assert_eq!(b.expect("text "), format!("text from={ia} to={ib} secret=0 msg=last"));
    assert_eq!(bras.expect("text "), format!("text room=100 src={ia} tar={ib} secret=0 msg=last"));
    sync(&mut d, 200);
    d.assert_not_seen(&format!("text from={ia} "));
}

/// Not logged in (connected or not): 208; logged in but in no room: 3, to a
/// user as to the room; after leaving the room: 3 again, and the others
/// cannot address the one who left (205).
#[test]
fn text_messages_need_a_login_and_a_room() {
    let server = Server::start(&[]);
    let mut x = Cli::spawn("x", &[]);
    assert_eq!(x.cmd("text 1 0 hi"), GV_ERR_NOTLOGIN);
    assert_eq!(x.cmd("text 0 0 hi"), GV_ERR_NOTLOGIN);
    let mut x = connected(&server, "x");
    assert_eq!(x.cmd("text 1 0 hi"), GV_ERR_NOTLOGIN);
    assert_eq!(x.cmd("text -1 0 hi"), GV_ERR_NOTLOGIN);

    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let (ia, ib) = (a.user_id, b.user_id);
    assert_eq!(a.cmd(&format!("text {ib} 0 hi")), GV_ERR_NOTINROOM);
    assert_eq!(a.cmd("text 0 0 hi"), GV_ERR_NOTINROOM);
    assert_eq!(a.cmd("text -1 0 hi"), GV_ERR_NOTINROOM);

    enter(&mut a, 100, &mut []);
    enter(&mut b, 100, &mut [&mut a]);
    assert_eq!(a.cmd(&format!("text {ib} 0 now it works")), 0);
    assert_eq!(b.expect("text "), format!("text from={ia} to={ib} secret=0 msg=now it works"));

    assert_eq!(a.cmd("leave 100"), 0);
    b.expect(&format!("notify USERATROOM {ia} 0"));
    assert_eq!(a.cmd("text 0 0 gone"), GV_ERR_NOTINROOM);
    assert_eq!(a.cmd(&format!("text {ib} 0 gone")), GV_ERR_NOTINROOM);
    assert_eq!(b.cmd(&format!("text {ia} 0 where are you")), GV_ERR_INVALID_USERID);
    // B alone in the room: a room text is accepted and reaches nobody.
    assert_eq!(b.cmd("text 0 0 anyone"), 0);
    sync(&mut b, 100);
    b.assert_not_seen(&format!("text from={ib} "));
    assert_eq!(count(&mut b, "text "), 1);
}

/// `BRAC_TransBuffer` reaches the user's trans-buffer callback;
/// `BRAC_TransBufferEx` reaches the Ex callback with wParam, lParam and the
/// task id the sender got. Unknown, offline, other-room users and oneself:
/// 205; empty: 21; not logged in: 208.
#[test]
fn trans_buffers_between_users_of_a_room() {
    let server = Server::start(&[]);
    let mut x = Cli::spawn("x", &[]);
    assert_eq!(x.cmd("trans 1 data"), GV_ERR_NOTLOGIN);
    assert_eq!(x.cmd("transex 1 7 8 data"), GV_ERR_NOTLOGIN);

    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut d = Cli::login(&server, "dave", &[]);
    let (ia, ib, id) = (a.user_id, b.user_id, d.user_id);
    enter(&mut a, 100, &mut []);
    enter(&mut b, 100, &mut [&mut a]);
    enter(&mut d, 200, &mut []);

    assert_eq!(a.cmd(&format!("trans {ib} hello world")), 0);
    assert_eq!(b.expect("trans "), format!("trans from={ia} len=11 data=hello world"));

    assert_eq!(a.cmd(&format!("transex {ib} 7 8 some data")), 0);
    let task: u32 = a.expect("task ")["task ".len()..].parse().unwrap();
    assert!(task > 0);
    assert_eq!(b.expect("transex "), format!("transex from={ia} len=9 wparam=7 lparam=8 task={task} data=some data"));
    // Each transfer has its own task id.
    assert_eq!(a.cmd(&format!("transex {ib} 4294967295 0 é")), 0);
    let task2: u32 = a.expect("task ")["task ".len()..].parse().unwrap();
    assert_ne!(task2, task);
    assert_eq!(b.expect("transex "), format!("transex from={ia} len=2 wparam=4294967295 lparam=0 task={task2} data=é"));

    // And back.
    assert_eq!(b.cmd(&format!("trans {ia} pong")), 0);
    assert_eq!(a.expect("trans "), format!("trans from={ib} len=4 data=pong"));

    // Users A cannot address: 205, and no task id.
    assert_eq!(a.cmd("trans 4242 x"), GV_ERR_INVALID_USERID);
    assert_eq!(a.cmd("transex 4242 1 2 x"), GV_ERR_INVALID_USERID);
    assert_eq!(a.cmd(&format!("trans {id} other room")), GV_ERR_INVALID_USERID);
    assert_eq!(a.cmd(&format!("transex {id} 1 2 other room")), GV_ERR_INVALID_USERID);
    assert_eq!(a.cmd(&format!("trans {ia} myself")), GV_ERR_INVALID_USERID);
    assert_eq!(a.cmd(&format!("trans {ib}")), GV_ERR_FUNCOPTERROR);
    assert_eq!(count(&mut a, "task "), 2);

    // Each buffer through its own callback, once; D (another room) got nothing.
    sync(&mut b, 100);
    assert_eq!(count(&mut b, "trans "), 1);
    assert_eq!(count(&mut b, "transex "), 2);
    sync(&mut d, 200);
    d.assert_not_seen("trans");

    // B goes offline: A can no longer address it.
    b.quit();
    a.expect(&format!("notify USERATROOM {ib} 0"));
    assert_eq!(a.cmd(&format!("trans {ib} too late")), GV_ERR_INVALID_USERID);
    assert_eq!(a.cmd(&format!("transex {ib} 1 2 too late")), GV_ERR_INVALID_USERID);
}

/// A buffer to user 0 goes to the business server's trans-buffer callback
/// (from a room or from none, plain or Ex); without a business server it is
/// accepted and dropped.
#[test]
fn trans_buffers_to_the_business_server() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let ia = a.user_id;

    assert_eq!(a.cmd("trans 0 for the business server"), 0);
    assert_eq!(bras.expect("trans "), format!("trans user={ia} data=for the business server"));
    assert_eq!(a.cmd("transex 0 1 2 ex too"), 0);
    a.expect("task ");
    assert_eq!(bras.expect("trans "), format!("trans user={ia} data=ex too"));
    enter(&mut a, 100, &mut []);
    assert_eq!(a.cmd("trans 0 from room 100"), 0);
    assert_eq!(bras.expect("trans "), format!("trans user={ia} data=from room 100"));
    // Nothing comes back to the sender.
    sync(&mut a, 100);
    a.assert_not_seen("trans");

    let lone = Server::start(&[]);
    let mut z = Cli::login(&lone, "zoe", &[]);
    assert_eq!(z.cmd("trans 0 into the void"), 0);
    enter(&mut z, 100, &mut []);
    sync(&mut z, 100);
    z.assert_not_seen("trans");
}

/// A call's peer can be addressed without a room: A calls B, B accepts,
/// neither enters a room; buffers go both ways. Before the call and after
/// it ends: 205.
#[test]
fn trans_buffers_to_a_call_peer_outside_any_room() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let (ia, ib) = (a.user_id, b.user_id);
    assert_eq!(a.cmd(&format!("trans {ib} too early")), GV_ERR_INVALID_USERID);

    assert_eq!(a.cmd(&format!("request {ib}")), 0);
    b.expect_call("REQUEST", ia, 0);
    a.expect_call("REPLY", ib, 0);
    assert_eq!(b.cmd(&format!("reply {ia} 0")), 0);
    a.expect_call("START", ib, 0);
    b.expect_call("START", ia, 0);
    for c in [&mut a, &mut b] {
        assert_eq!(query(c, "status"), "status 2", "{} is in no room", c.name);
    }

    assert_eq!(a.cmd(&format!("trans {ib} over the call")), 0);
    assert_eq!(b.expect("trans "), format!("trans from={ia} len=13 data=over the call"));
    assert_eq!(b.cmd(&format!("transex {ia} 3 4 back")), 0);
    let task: u32 = b.expect("task ")["task ".len()..].parse().unwrap();
    assert_eq!(a.expect("transex "), format!("transex from={ib} len=4 wparam=3 lparam=4 task={task} data=back"));

    assert_eq!(a.cmd(&format!("finish {ib}")), 0);
    a.expect_call("FINISH", ib, 0);
    b.expect_call("FINISH", ia, 0);
    assert_eq!(a.cmd(&format!("trans {ib} too late")), GV_ERR_INVALID_USERID);
    assert_eq!(b.cmd(&format!("trans {ia} too late")), GV_ERR_INVALID_USERID);
}

/// `BRAC_UserCameraControl`/`BRAC_UserSpeakControl` for oneself: the core
/// server keeps the state, the room hears `WM_GV_CAMERASTATE` /
/// `WM_GV_MICSTATECHANGE`, `BRAC_GetCameraState`/`BRAC_GetSpeakState` read
/// it (also for one who enters later); another room never hears of it.
#[test]
fn camera_and_microphone_states() {
    let server = Server::start(&[]);
    let mut x = Cli::spawn("x", &[]);
    assert_eq!(x.cmd("camera -1 1"), GV_ERR_NOTLOGIN);
    assert_eq!(x.cmd("mic -1 1"), GV_ERR_NOTLOGIN);
    assert_eq!(x.cmd("camstate -1"), GV_ERR_NOTLOGIN);

    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut d = Cli::login(&server, "dave", &[]);
    let (ia, ib) = (a.user_id, b.user_id);
    enter(&mut a, 100, &mut []);
    enter(&mut b, 100, &mut [&mut a]);
    enter(&mut d, 200, &mut []);

    // Closed to begin with.
    assert_eq!(query(&mut b, &format!("camstate {ia}")), format!("camstate {ia} 1"));
    assert_eq!(query(&mut b, &format!("micstate {ia}")), format!("micstate {ia} 1"));
    assert_eq!(query(&mut a, "camstate -1"), format!("camstate {SELF} 1"));

    assert_eq!(a.cmd("camera -1 1"), 0);
    for c in [&mut a, &mut b] {
        assert_eq!(c.expect("notify CAMERASTATE "), format!("notify CAMERASTATE {ia} 2"));
    }
    assert_eq!(query(&mut b, &format!("camstate {ia}")), format!("camstate {ia} 2"));
    assert_eq!(query(&mut a, "camstate -1"), format!("camstate {SELF} 2"));
    assert_eq!(query(&mut a, &format!("camstate {ia}")), format!("camstate {ia} 2"));

    assert_eq!(a.cmd("camera -1 0"), 0);
    for c in [&mut a, &mut b] {
        assert_eq!(c.expect("notify CAMERASTATE "), format!("notify CAMERASTATE {ia} 1"));
    }
    assert_eq!(query(&mut b, &format!("camstate {ia}")), format!("camstate {ia} 1"));

    assert_eq!(a.cmd("mic -1 1"), 0);
    for c in [&mut a, &mut b] {
        assert_eq!(c.expect("notify MICSTATECHANGE "), format!("notify MICSTATECHANGE {ia} 1"));
    }
    assert_eq!(query(&mut b, &format!("micstate {ia}")), format!("micstate {ia} 2"));
    assert_eq!(query(&mut a, "micstate -1"), format!("micstate {SELF} 2"));

    // Naming oneself by id works as -1.
    assert_eq!(a.cmd(&format!("camera {ia} 1")), 0);
    for c in [&mut a, &mut b] {
        assert_eq!(c.expect("notify CAMERASTATE "), format!("notify CAMERASTATE {ia} 2"));
    }

    // One who enters later learns the states with the room's user list.
    let mut e = Cli::login(&server, "erin", &[]);
    enter(&mut e, 100, &mut [&mut a, &mut b]);
    assert_eq!(query(&mut e, &format!("camstate {ia}")), format!("camstate {ia} 2"));
    assert_eq!(query(&mut e, &format!("micstate {ia}")), format!("micstate {ia} 2"));
    assert_eq!(query(&mut e, &format!("camstate {ib}")), format!("camstate {ib} 1"));
    assert_eq!(a.cmd("mic -1 0"), 0);
    for c in [&mut a, &mut b, &mut e] {
        assert_eq!(c.expect("notify MICSTATECHANGE "), format!("notify MICSTATECHANGE {ia} 0"));
    }
    assert_eq!(query(&mut e, &format!("micstate {ia}")), format!("micstate {ia} 1"));

    // Another user's devices: asking for its stream is accepted and changes
    // nothing (no media relay); an unknown user: 205.
    assert_eq!(b.cmd(&format!("camera {ia} 0")), 0);
    assert_eq!(b.cmd(&format!("mic {ia} 1")), 0);
    assert_eq!(b.cmd("camera 4242 1"), GV_ERR_INVALID_USERID);
    assert_eq!(b.cmd("mic 4242 1"), GV_ERR_INVALID_USERID);
    assert_eq!(query(&mut b, &format!("camstate {ia}")), format!("camstate {ia} 2"));
    assert_eq!(query(&mut b, &format!("micstate {ia}")), format!("micstate {ia} 1"));
    sync(&mut a, 100);
    assert_eq!(count(&mut a, "notify CAMERASTATE "), 3);
    assert_eq!(count(&mut a, "notify MICSTATECHANGE "), 2);

    // D, in another room, never heard of A's devices and does not know A.
    sync(&mut d, 200);
    d.assert_not_seen("notify CAMERASTATE");
    d.assert_not_seen("notify MICSTATECHANGE");
    assert_eq!(d.cmd(&format!("camstate {ia}")), GV_ERR_INVALID_USERID);
    assert_eq!(d.cmd(&format!("micstate {ia}")), GV_ERR_INVALID_USERID);
    assert_eq!(d.cmd("camstate 4242"), GV_ERR_INVALID_USERID);
    assert_eq!(d.cmd("micstate 4242"), GV_ERR_INVALID_USERID);

    // In no room, a user hears of its own state only.
    let mut f = Cli::login(&server, "frank", &[]);
    let i_f = f.user_id;
    assert_eq!(f.cmd("camera -1 1"), 0);
    assert_eq!(f.expect("notify CAMERASTATE "), format!("notify CAMERASTATE {i_f} 2"));
    assert_eq!(query(&mut f, "camstate -1"), format!("camstate {SELF} 2"));
    for (c, room) in [(&mut a, 100), (&mut d, 200)] {
        sync(c, room);
        c.assert_not_seen(&format!("notify CAMERASTATE {i_f} "));
    }
}

/// A business server gives carol id 9000, level 7 and nick `Nick-carol`
/// at login: carol reads them for herself, and a user of her room reads
/// them for her; a user the business server gave nothing has level 0.
#[test]
fn level_and_nick_name_from_the_business_server() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &["--verify-id", "carol:9000"]);
    let mut carol = Cli::login(&server, "carol", &[]);
    assert_eq!(carol.user_id, 9000);
    assert_eq!(query(&mut carol, "level -1"), format!("level {SELF} 7"));
    assert_eq!(query(&mut carol, "nick -1"), format!("nick {SELF} Nick-carol"));
    assert_eq!(query(&mut carol, "name -1"), format!("name {SELF} carol"));
    assert_eq!(query(&mut carol, "level 9000"), "level 9000 7");

    let mut dave = Cli::login(&server, "dave", &[]);
    let idd = dave.user_id;
    assert_eq!(query(&mut dave, "level -1"), format!("level {SELF} 0"));
    // Not met yet: unknown.
    assert_eq!(dave.cmd("level 9000"), GV_ERR_INVALID_USERID);

    enter(&mut carol, 100, &mut []);
    enter(&mut dave, 100, &mut [&mut carol]);
    assert_eq!(query(&mut dave, "level 9000"), "level 9000 7");
    assert_eq!(query(&mut dave, "nick 9000"), "nick 9000 Nick-carol");
    assert_eq!(query(&mut dave, "name 9000"), "name 9000 carol");
    assert_eq!(query(&mut carol, &format!("level {idd}")), format!("level {idd} 0"));
    assert_eq!(query(&mut carol, &format!("nick {idd}")), format!("nick {idd} Nick-dave"));
    assert_eq!(dave.cmd("level 4242"), GV_ERR_INVALID_USERID);

    // The business server knows the same.
    assert_eq!(bras.cmd("getinfo 9000 2"), 0);
    assert_eq!(bras.expect("info "), "info 7");
    assert_eq!(bras.cmd("getinfo 9000 1"), 0);
    assert_eq!(bras.expect("info "), "info carol");
}

/// `BRAC_LoginEx` without a business server: the app's user id, string id
/// (the user name) and nick name are the user's, for itself and for others.
/// Without a string id, the nick is the user name; without a user id, the
/// server assigns one.
#[test]
fn login_ex_without_a_business_server() {
    let server = Server::start(&[]);
    let mut x = Cli::spawn("x", &[]);
    assert_eq!(x.cmd("loginex Zed 5000 zed"), GV_ERR_CONNECT_ABORT, "not connected");

    let mut zed = connected(&server, "zed");
    assert_eq!(zed.cmd("loginex Zed 5000 zed"), 0);
    assert_eq!(zed.expect("notify LOGINSYSTEM "), "notify LOGINSYSTEM 5000 0");
    zed.user_id = 5000;
    assert_eq!(query(&mut zed, "nick -1"), format!("nick {SELF} Zed"));
    assert_eq!(query(&mut zed, "name -1"), format!("name {SELF} zed"));
    assert_eq!(query(&mut zed, "selfid"), "selfid 5000");
    assert_eq!(query(&mut zed, "level -1"), format!("level {SELF} 0"));
    // The same user again (a GUI's button pressed twice): its success
    // again; another user: 201.
    assert_eq!(zed.cmd("loginex Zed 5000 zed"), 0);
    assert_eq!(zed.expect("notify LOGINSYSTEM "), "notify LOGINSYSTEM 5000 0");
    assert_eq!(zed.cmd("login zed"), 0);
    assert_eq!(zed.expect("notify LOGINSYSTEM "), "notify LOGINSYSTEM 5000 0");
    assert_eq!(zed.cmd("login amy"), GV_ERR_ALREADY_LOGIN);

    let mut amy = Cli::login(&server, "amy", &[]);
    assert_ne!(amy.user_id, 5000);
    enter(&mut zed, 100, &mut []);
    enter(&mut amy, 100, &mut [&mut zed]);
    assert_eq!(query(&mut amy, "nick 5000"), "nick 5000 Zed");
    assert_eq!(query(&mut amy, "name 5000"), "name 5000 zed");
    assert_eq!(query(&mut zed, &format!("nick {}", amy.user_id)), format!("nick {} amy", amy.user_id));

    let mut yo = connected(&server, "yo");
    assert_eq!(yo.cmd("loginex Yoyo"), 0);
    let line = yo.expect("notify LOGINSYSTEM ");
    let iy: u32 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(line.ends_with(" 0") && iy > 0 && iy != 5000 && iy != amy.user_id, "{line}");
    assert_eq!(query(&mut yo, "name -1"), format!("name {SELF} Yoyo"));
    assert_eq!(query(&mut yo, "nick -1"), format!("nick {SELF} Yoyo"));
}

/// The business server's channels: `BRAS_SendBufToUser` → the user's
/// SDK-filter-data callback; `BRAS_SendBufToRoom` → that callback of
/// everyone in the room (not another room); `BRAS_TransBuffer` → the user's
/// trans-buffer callback from user 0; `BRAS_SetUserInfo` →
/// `WM_GV_USERINFOUPDATE(user, info id)` and `BRAS_GetUserInfo`.
#[test]
fn business_server_buffers_and_user_infos() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut c = Cli::login(&server, "carol", &[]);
    let (ia, ib, ic) = (a.user_id, b.user_id, c.user_id);
    enter(&mut a, 100, &mut []);
    enter(&mut b, 100, &mut [&mut a]);
    enter(&mut c, 200, &mut []);

    assert_eq!(bras.cmd(&format!("sendbuf {ia} hello")), 0);
    assert_eq!(a.expect("filter "), "filter len=5 data=hello");

    assert_eq!(bras.cmd("sendroom 100 hi"), 0);
    assert_eq!(a.expect("filter "), "filter len=2 data=hi");
    assert_eq!(b.expect("filter "), "filter len=2 data=hi");
    // A later buffer from the business server proves C and B got nothing else.
    for (x, ix) in [(&mut c, ic), (&mut b, ib)] {
        assert_eq!(bras.cmd(&format!("sendbuf {ix} sync")), 0);
        assert_eq!(x.expect("filter "), "filter len=4 data=sync");
    }
    c.assert_not_seen("filter len=2 ");
    c.assert_not_seen("filter len=5 ");
    b.assert_not_seen("filter len=5 ");

    assert_eq!(bras.cmd(&format!("transbuf {ia} xyz")), 0);
    assert_eq!(a.expect("trans "), "trans from=0 len=3 data=xyz");
    a.assert_not_seen("transex ");

    assert_eq!(bras.cmd(&format!("setinfo {ia} 5 gold")), 0);
    assert_eq!(a.expect("notify USERINFOUPDATE "), format!("notify USERINFOUPDATE {ia} 5"));
    assert_eq!(bras.cmd(&format!("getinfo {ia} 5")), 0);
    assert_eq!(bras.expect("info "), "info gold");
    assert_eq!(bras.cmd(&format!("getinfo {ia} 1")), 0);
    assert_eq!(bras.expect("info "), "info alice");
    assert_eq!(bras.cmd(&format!("getinfo {ia} 6")), GV_ERR_INVALID_USERID);
    assert_eq!(bras.cmd("getinfo 4242 5"), GV_ERR_INVALID_USERID);
    assert_eq!(bras.cmd("getinfo 4242 1"), GV_ERR_INVALID_USERID);
    // A new value replaces the old one.
    assert_eq!(bras.cmd(&format!("setinfo {ia} 5 silver coins")), 0);
    assert_eq!(a.expect("notify USERINFOUPDATE "), format!("notify USERINFOUPDATE {ia} 5"));
    assert_eq!(bras.cmd(&format!("getinfo {ia} 5")), 0);
    assert_eq!(bras.expect("info "), "info silver coins");

    // Nobody there: accepted and dropped; an info of a user offline is kept.
    assert_eq!(bras.cmd("sendbuf 4242 lost"), 0);
    assert_eq!(bras.cmd("transbuf 4242 lost"), 0);
    assert_eq!(bras.cmd("sendroom 555 nobody"), 0);
    assert_eq!(bras.cmd("setinfo 4242 5 later"), 0);
    assert_eq!(bras.cmd("getinfo 4242 5"), 0);
    assert_eq!(bras.expect("info "), "info later");
    // And the link is still fine.
    assert_eq!(bras.cmd(&format!("sendbuf {ic} still here")), 0);
    assert_eq!(c.expect("filter "), "filter len=10 data=still here");
}

/// `BRAC_GetRoomName`: the name given to `BRAC_EnterRoomEx`, or the number
/// of a room entered by number; a room one is not in: 3.
#[test]
fn room_names() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    assert_eq!(a.cmd("roomname -1"), GV_ERR_NOTINROOM);

    assert_eq!(a.cmd("enterex lobby"), 0);
    let line = a.expect("notify ENTERROOM ");
    let lobby: u32 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(line.ends_with(" 0") && lobby != 0, "{line}");
    assert_eq!(query(&mut a, "roomname -1"), "roomname lobby");
    assert_eq!(query(&mut a, &format!("roomname {lobby}")), "roomname lobby");

    // The same name is the same room.
    assert_eq!(b.cmd("enterex lobby"), 0);
    b.expect(&format!("notify ENTERROOM {lobby} 0"));
    a.expect(&format!("notify USERATROOM {} 1", b.user_id));
    assert_eq!(query(&mut b, "roomname -1"), "roomname lobby");

    enter(&mut a, 100, &mut []);
    assert_eq!(query(&mut a, "roomname 100"), "roomname 100");
    assert_eq!(query(&mut a, "roomname -1"), "roomname 100");
    assert_eq!(a.cmd("roomname 555"), GV_ERR_NOTINROOM);
    assert_eq!(a.cmd(&format!("roomname {lobby}")), GV_ERR_NOTINROOM);
    assert_eq!(query(&mut b, &format!("roomname {lobby}")), "roomname lobby");

    assert_eq!(a.cmd("leave 100"), 0);
    assert_eq!(a.cmd("roomname -1"), GV_ERR_NOTINROOM);
    assert_eq!(a.cmd("roomname 100"), GV_ERR_NOTINROOM);
}

/// The size limit (65,472 bytes): the largest text and buffers arrive
/// whole, through the core server and the business server; one byte more
/// is refused with 21.
#[test]
fn largest_texts_and_buffers() {
    const MAX: usize = 65_472;
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let (ia, ib) = (a.user_id, b.user_id);
    enter(&mut a, 100, &mut []);
    enter(&mut b, 100, &mut [&mut a]);
    let big = "x".repeat(MAX);
    let over = "y".repeat(MAX + 1);

    assert_eq!(a.cmd(&format!("text {ib} 0 {over}")), GV_ERR_FUNCOPTERROR);
    assert_eq!(a.cmd(&format!("trans {ib} {over}")), GV_ERR_FUNCOPTERROR);
    assert_eq!(a.cmd(&format!("transex {ib} 1 2 {over}")), GV_ERR_FUNCOPTERROR);
    assert_eq!(a.cmd(&format!("trans 0 {over}")), GV_ERR_FUNCOPTERROR);
    for cmd in [format!("sendbuf {ia}"), "sendroom 100".into(), format!("transbuf {ia}")] {
        assert_eq!(bras.cmd(&format!("{cmd} {over}")), GV_ERR_FUNCOPTERROR, "{cmd}");
    }

    assert_eq!(a.cmd(&format!("text {ib} 0 {big}")), 0);
    assert!(b.expect("text ") == format!("text from={ia} to={ib} secret=0 msg={big}"), "the largest text at B");
    assert!(bras.expect("text ") == format!("text room=100 src={ia} tar={ib} secret=0 msg={big}"), "at the bras");
    assert_eq!(a.cmd(&format!("trans {ib} {big}")), 0);
    assert!(b.expect("trans ") == format!("trans from={ia} len={MAX} data={big}"), "the largest buffer");
    assert_eq!(a.cmd(&format!("transex {ib} 1 2 {big}")), 0);
    let task: u32 = a.expect("task ")["task ".len()..].parse().unwrap();
    let ex = b.expect("transex ");
    assert!(ex == format!("transex from={ia} len={MAX} wparam=1 lparam=2 task={task} data={big}"), "largest Ex");
    assert_eq!(a.cmd(&format!("trans 0 {big}")), 0);
    assert!(bras.expect("trans ") == format!("trans user={ia} data={big}"), "the largest buffer at the bras");

    assert_eq!(bras.cmd(&format!("sendbuf {ib} {big}")), 0);
    assert!(b.expect("filter ") == format!("filter len={MAX} data={big}"), "the largest SendBufToUser");
    assert_eq!(bras.cmd(&format!("sendroom 100 {big}")), 0);
    for c in [&mut a, &mut b] {
        assert!(c.expect("filter ") == format!("filter len={MAX} data={big}"), "the largest SendBufToRoom");
    }
    assert_eq!(bras.cmd(&format!("transbuf {ia} {big}")), 0);
    assert!(a.expect("trans ") == format!("trans from=0 len={MAX} data={big}"), "the largest BRAS_TransBuffer");
    // Nothing was cut short or dropped on the way: the links are fine.
    assert_eq!(a.cmd(&format!("text {ib} 0 after")), 0);
    assert_eq!(b.expect("text "), format!("text from={ia} to={ib} secret=0 msg=after"));
}

/// A sender the server reads slowly (over its text rate) fills its uplink:
/// past the library's bound `BRAC_SendTextMessage` refuses (20) instead of
/// queueing without end; the receiver keeps getting what was accepted, in
/// order, and the sender's session goes on.
#[test]
fn a_full_uplink_refuses_more_text() {
    let server = Server::start(&["--rate", "text=1,1000"]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    for c in [&mut a, &mut b] {
        assert_eq!(c.cmd("enter 7"), 0);
        c.expect("notify ENTERROOM 7 0");
    }
    let text = "y".repeat(60_000);
    let mut accepted = 0;
    let refused = loop {
        let code = a.cmd(&format!("text 0 0 {text}"));
        if code != 0 {
            break code;
        }
        accepted += 1;
        assert!(accepted < 1_000, "60 MB taken without a refusal");
    };
    assert_eq!(refused, 20);
    // Kernel buffers and the library's 4 MiB: well under the 60 MB tried.
    assert!(accepted * 60_000 > 4 * 1024 * 1024, "refused early: {accepted}");
    // The first text arrived; Alice is still connected and served.
    b.expect(&format!("text from={} ", a.user_id));
    assert_eq!(a.cmd("status"), 0);
    assert_eq!(a.expect("status "), "status 3");
}
