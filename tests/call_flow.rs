//! End-to-end video calls between separate client processes and a real
//! core server, through the library's C ABI (see `tests/common`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Cli, Server};

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// A calls B, B accepts from inside its callback; both enter the call's
/// room from inside their START callbacks. Returns the room id.
fn establish(a: &mut Cli, b: &mut Cli) -> u32 {
    assert_eq!(a.cmd(&format!("request {} 3 42 hello there", b.user_id)), 0);
    let req = b.expect_call("REQUEST", a.user_id, 0);
    assert!(req.ends_with("flags=3 param=42 str=hello there"), "{req}");
    let ringing = a.expect_call("REPLY", b.user_id, 0);
    assert!(ringing.ends_with("flags=3 param=0 str="), "{ringing}");
    let sa = a.expect_call("START", b.user_id, 0);
    let sb = b.expect_call("START", a.user_id, 0);
    assert_eq!(field(&sa, "param"), field(&sb, "param"));
    assert_eq!(field(&sa, "flags"), "3");
    let room: u32 = field(&sa, "param").parse().unwrap();
    for c in [&mut *a, &mut *b] {
        c.expect("ret auto-enter 0");
        c.expect(&format!("notify ENTERROOM {room} 0"));
    }
    room
}

#[test]
fn full_call_accepted_talked_finished() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    assert_ne!(a.user_id, b.user_id);
    let room = establish(&mut a, &mut b);
    b.expect("ret auto-reply 0");
    assert!(room >= 0x7000_0000, "call rooms come from their own range: {room}");
    // Whoever entered first sees the other arrive; the second sees both listed.
    let (first, second) = {
        let la = a.expect("notify ONLINEUSER ");
        let lb = b.expect("notify ONLINEUSER ");
        if la.starts_with("notify ONLINEUSER 1 ") {
            assert_eq!(lb, format!("notify ONLINEUSER 2 {room}"));
            (&mut a, &mut b)
        } else {
            assert_eq!(la, format!("notify ONLINEUSER 2 {room}"));
            assert_eq!(lb, format!("notify ONLINEUSER 1 {room}"));
            (&mut b, &mut a)
        }
    };
    let second_id = second.user_id;
    first.expect(&format!("notify USERATROOM {second_id} 1"));
    // Both see each other in the room and know each other's names.
    assert_eq!(a.cmd("online"), 0);
    assert_eq!(a.expect("users "), format!("users {}", b.user_id));
    assert_eq!(b.cmd(&format!("roomusers {room}")), 0);
    let mut ids = [a.user_id, b.user_id];
    ids.sort();
    assert_eq!(b.expect("users "), format!("users {},{}", ids[0], ids[1]));
    assert_eq!(b.cmd(&format!("name {}", a.user_id)), 0);
    assert_eq!(b.expect("name "), format!("name {} alice", a.user_id));
    assert_eq!(a.cmd("status"), 0);
    assert_eq!(a.expect("status "), "status 3");

    // A hangs up: both get FINISH with A's code, param and string.
    assert_eq!(a.cmd(&format!("finish {} 0 5 bye now", b.user_id)), 0);
    let fa = a.expect_call("FINISH", b.user_id, 0);
    let fb = b.expect_call("FINISH", a.user_id, 0);
    assert!(fa.ends_with("flags=3 param=5 str=bye now"), "{fa}");
    assert!(fb.ends_with("flags=3 param=5 str=bye now"), "{fb}");
    // The call's room closes: each sees the other leave.
    a.expect(&format!("notify USERATROOM {} 0", b.user_id));
    b.expect(&format!("notify USERATROOM {} 0", a.user_id));
    // A second Finish does not fit any call any more.
    assert_eq!(a.cmd(&format!("finish {}", b.user_id)), 20);
    // And a new call between the same two works.
    assert_eq!(b.cmd(&format!("request {} 1", a.user_id)), 0);
    a.expect_call("REQUEST", b.user_id, 0);
}

#[test]
fn callee_refuses() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    assert_eq!(a.cmd(&format!("request {} 2", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", b.user_id, 0);
    assert_eq!(b.cmd(&format!("reply {} 100104 9 not now", a.user_id)), 0);
    let r = a.expect_call("REPLY", b.user_id, 100104);
    assert!(r.ends_with("flags=2 param=9 str=not now"), "{r}");
    // The call is over for both: B cannot answer it again, A can call again.
    assert_eq!(b.cmd(&format!("reply {} 0", a.user_id)), 20);
    assert_eq!(a.cmd(&format!("request {} 2", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
}

#[test]
fn caller_cancels_with_reply_100101() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    a.expect_call("REPLY", b.user_id, 0);
    b.expect_call("REQUEST", a.user_id, 0);
    assert_eq!(a.cmd(&format!("reply {} 100101", b.user_id)), 0);
    b.expect_call("REPLY", a.user_id, 100101);
    assert_eq!(b.cmd(&format!("reply {} 0", a.user_id)), 20);
}

#[test]
fn third_party_gets_busy_and_callee_never_rings_for_it() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut c = Cli::login(&server, "carol", &[]);
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    a.expect_call("REPLY", b.user_id, 0);
    b.expect_call("REQUEST", a.user_id, 0);
    // Both parties of a ringing call are busy, in either role.
    assert_eq!(c.cmd(&format!("request {}", b.user_id)), 0);
    c.expect_call("REPLY", b.user_id, 100103);
    assert_eq!(c.cmd(&format!("request {}", a.user_id)), 0);
    c.expect_call("REPLY", a.user_id, 100103);
    // A cancels; B's next event is that cancel, with no request from C before it.
    assert_eq!(a.cmd(&format!("finish {}", b.user_id)), 0);
    b.expect_call("REPLY", a.user_id, 100101);
    b.assert_not_seen(&format!("call REQUEST user={}", c.user_id));
    a.assert_not_seen(&format!("call REQUEST user={}", c.user_id));
}

#[test]
fn every_known_flag_is_carried_unchanged() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let all = 0x3F3; // AUDIO|VIDEO|FBSRC*|FBTAR*|ASSISTREQ|CONTROLREQ
    assert_eq!(a.cmd(&format!("request {} {all}", b.user_id)), 0);
    let req = b.expect_call("REQUEST", a.user_id, 0);
    assert!(req.contains(&format!("flags={all} ")), "{req}");
    a.expect(&format!("call REPLY user={} code=0 flags={all} ", b.user_id));
}

#[test]
fn request_to_offline_user() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    assert_eq!(a.cmd("request 4242"), 0);
    a.expect_call("REPLY", 4242, 100102);
}

#[test]
fn ring_timeout_reaches_both() {
    let server = Server::start(&["--ring-timeout", "1"]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", b.user_id, 0);
    a.expect_call("REPLY", b.user_id, 100105);
    b.expect_call("REPLY", a.user_id, 100105);
    assert_eq!(b.cmd(&format!("reply {} 0", a.user_id)), 20);
}

#[test]
fn peer_killed_mid_call_gets_finish_100106() {
    let server = Server::start(&["--keepalive-timeout", "3"]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    establish(&mut a, &mut b);
    b.kill(libc::SIGKILL);
    // Within the keep-alive time (a closed socket is noticed at once).
    a.expect_within(&format!("call FINISH user={} code=100106 ", b.user_id), Duration::from_secs(3));
    a.expect(&format!("notify USERATROOM {} 0", b.user_id));
    // A is free again.
    let mut c = Cli::login(&server, "carol", &[]);
    assert_eq!(c.cmd(&format!("request {}", a.user_id)), 0);
    a.expect_call("REQUEST", c.user_id, 0);
}

#[test]
fn silent_peer_mid_call_is_noticed_by_keepalive() {
    let server = Server::start(&["--keepalive-timeout", "1.5"]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    establish(&mut a, &mut b);
    // B's process stops: its socket stays open but it sends nothing.
    b.kill(libc::SIGSTOP);
    a.expect_within(&format!("call FINISH user={} code=100106 ", b.user_id), Duration::from_secs(4));
    server.expect_log("keep-alive timeout");
    b.kill(libc::SIGCONT);
}

#[test]
fn caller_lost_while_ringing() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    a.expect_call("REPLY", b.user_id, 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.kill(libc::SIGKILL);
    b.expect_call("REPLY", a.user_id, 100106);
}

#[test]
fn same_user_logging_in_elsewhere_closes_the_old_session() {
    let server = Server::start(&[]);
    let mut a1 = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    establish(&mut a1, &mut b);
    let a2 = Cli::login(&server, "alice", &[]);
    assert_eq!(a2.user_id, a1.user_id, "same name, same id");
    a1.expect("notify LINKCLOSE 209 0");
    // The old session's app hears its call end too.
    a1.expect_call("FINISH", b.user_id, 100106);
    b.expect_call("FINISH", a1.user_id, 100106);
}

#[test]
fn release_during_a_call_finishes_it() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    establish(&mut a, &mut b);
    let bid = b.user_id;
    b.quit();
    a.expect_call("FINISH", bid, 0);
}

#[test]
fn logout_while_ringing_refuses_the_call() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    assert_eq!(b.cmd("logout"), 0);
    a.expect_call("REPLY", b.user_id, 100104);
    assert_eq!(b.cmd("status"), 0);
    assert_eq!(b.expect("status "), "status 4");
    assert_eq!(b.cmd(&format!("request {}", a.user_id)), 208);
}

#[test]
fn api_return_codes() {
    let server = Server::start(&[]);
    let mut a = Cli::spawn("alice", &[]);
    assert_eq!(a.cmd("request 2"), 208, "not logged in");
    assert_eq!(a.cmd("selfid"), 0);
    assert_eq!(a.expect("selfid "), "selfid -1");
    drop(a);
    let mut a = Cli::login(&server, "alice", &[]);
    let b = Cli::login(&server, "bob", &[]);
    let me = a.user_id;
    assert_eq!(a.cmd(&format!("request {me}")), 21, "request to itself");
    assert_eq!(a.cmd("request -1"), 21);
    assert_eq!(a.cmd(&format!("event 9 {}", b.user_id)), 21, "unknown event type");
    assert_eq!(a.cmd(&format!("request {} 4", b.user_id)), 21, "an unknown flag bit");
    assert_eq!(a.cmd(&format!("request {} 1024", b.user_id)), 21, "an unknown flag bit");
    assert_eq!(a.cmd(&format!("reply {} 0", b.user_id)), 20, "reply with no ringing call");
    assert_eq!(a.cmd(&format!("finish {}", b.user_id)), 20, "finish with no call");
    assert_eq!(a.cmd(&format!("event 3 {}", b.user_id)), 20, "clients do not send START");
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 20, "already in a call");
    assert_eq!(a.cmd(&format!("reply {} 0", b.user_id)), 20, "caller replying 0");
    assert_eq!(a.cmd("finish 777"), 20, "not the peer");
    assert_eq!(a.cmd("selfid"), 0);
    assert_eq!(a.expect("selfid "), format!("selfid {me}"));
    assert_eq!(a.cmd("name -1"), 0);
    assert_eq!(a.expect("name "), "name 4294967295 alice");
    assert_eq!(a.cmd("nick -1"), 0);
    assert_eq!(a.expect("nick "), "nick 4294967295 alice");
    assert_eq!(a.cmd("name 31337"), 205, "unknown user");
    assert_eq!(a.cmd("online"), 3, "not in a room");
}

#[test]
fn stranger_cannot_enter_a_calls_room() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    let mut c = Cli::login(&server, "carol", &[]);
    let room = establish(&mut a, &mut b);
    assert_eq!(c.cmd(&format!("enter {room}")), 0);
    c.expect(&format!("notify ENTERROOM {room} 300"));
    a.assert_not_seen(&format!("notify USERATROOM {}", c.user_id));
}

#[test]
fn ordinary_rooms_by_number_and_by_name() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    assert_eq!(a.cmd("enter 100"), 0);
    a.expect("notify ENTERROOM 100 0");
    a.expect("notify ONLINEUSER 1 100");
    assert_eq!(b.cmd("enter 100"), 0);
    b.expect("notify ENTERROOM 100 0");
    b.expect("notify ONLINEUSER 2 100");
    a.expect(&format!("notify USERATROOM {} 1", b.user_id));
    // Entering another room leaves the first one.
    assert_eq!(b.cmd("enterex lobby"), 0);
    let line = b.expect("notify ENTERROOM ");
    assert!(line.ends_with(" 0"), "{line}");
    a.expect(&format!("notify USERATROOM {} 0", b.user_id));
    assert_eq!(a.cmd("enterex lobby"), 0);
    let line_a = a.expect("notify ENTERROOM ");
    assert_eq!(line_a, line, "the same name is the same room");
    b.expect(&format!("notify USERATROOM {} 1", a.user_id));
    assert_eq!(a.cmd("leave -1"), 0);
    b.expect(&format!("notify USERATROOM {} 0", a.user_id));
    assert_eq!(a.cmd("leave -1"), 3);
}

#[test]
fn a_bad_frame_closes_only_that_connection() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    establish(&mut a, &mut b);
    // A raw connection that sends a length prefix out of range.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    raw.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
    raw.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(raw.read(&mut buf).unwrap_or(0), 0, "the server closes the bad connection");
    server.expect_log("bad frame");
    // The call is not disturbed.
    assert_eq!(b.cmd(&format!("finish {} 7", a.user_id)), 0);
    a.expect_call("FINISH", b.user_id, 7);
    b.expect_call("FINISH", a.user_id, 7);
}

#[test]
fn connect_failures_are_reported_not_hung() {
    let _server = Server::start(&[]);
    let mut a = Cli::spawn("alice", &[]);
    assert_eq!(a.cmd("connect no-such-host.invalid 8906"), 0);
    a.expect("notify CONNECT 0 0");
    // A closed port: take a free one and release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    assert_eq!(a.cmd(&format!("connect 127.0.0.1 {port}")), 0);
    a.expect("notify CONNECT 0 0");
    assert_eq!(a.cmd("login alice"), 101, "login needs a connection");
}

#[test]
fn release_from_inside_a_callback_does_not_deadlock() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter", "--release-on-finish"]);
    establish(&mut a, &mut b);
    assert_eq!(a.cmd(&format!("finish {}", b.user_id)), 0);
    b.expect_call("FINISH", a.user_id, 0);
    b.expect("ret release-in-callback 0");
    // The SDK is released: the API answers "not initialised", and the
    // process still takes commands (no thread is stuck).
    assert_eq!(b.cmd("status"), 2);
    assert_eq!(b.cmd("init"), 0);
    assert_eq!(b.cmd(&format!("connect 127.0.0.1 {}", server.port)), 0);
    b.expect("notify CONNECT 1 0");
}

/// A client that stops reading is disconnected once its output passes
/// `--max-output` for `--slow-reader-timeout`; it does not grow the
/// server's memory, and nobody else is disturbed.
#[test]
fn a_client_that_stops_reading_is_disconnected() {
    use anychat::wire::protocol::{ClientMsg, Role, PROTOCOL_VERSION};
    let server = Server::start(&["--max-output", "65536", "--slow-reader-timeout", "2"]);
    // A raw client: logs in, enters room 100, then never reads.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut out = Vec::new();
    ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 }.encode(&mut out);
    ClientMsg::Login { name: b"sleepy".to_vec(), password: vec![], pass_enc_type: 0 }.encode(&mut out);
    ClientMsg::EnterRoom { room_id: 100, password: vec![] }.encode(&mut out);
    raw.write_all(&out).unwrap();
    let mut a = Cli::login(&server, "alice", &[]);
    assert_eq!(a.cmd("enter 100"), 0);
    a.expect("notify ONLINEUSER 2 100");
    assert_eq!(a.cmd("online"), 0);
    let sleepy = a.expect("users ").trim_start_matches("users ").to_string();
    // Room texts of 60 KB each until the server gives up on the sleeper
    // (the kernel's socket buffers take a few MB first; bounded loop).
    let text = "x".repeat(60_000);
    let mut sent = 0;
    while a.cmd(&format!("text 0 0 {text}")) == 0 {
        sent += 1;
        if server.log_contains("output buffer full") {
            break;
        }
        assert!(sent < 2_000, "the server never dropped the client that does not read");
    }
    server.expect_log("output buffer full");
    // Alice saw it leave the room and goes on as before.
    a.expect(&format!("notify USERATROOM {sleepy} 0"));
    assert_eq!(a.cmd("status"), 0);
    assert_eq!(a.expect("status "), "status 3");
}
