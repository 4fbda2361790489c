//! The business server end to end: a real core server, a business server
//! (`anychat-bras-cli`, i.e. the `BRAS_*` C ABI of libanychat) and client
//! processes (`anychat-cli`, the `BRAC_*` C ABI), as in
//! `/work/shared/spec/videocall.md` ("What the business server sees",
//! "Logging in" and the rows naming the business server).

mod common;

use std::time::{Duration, Instant};

use common::{call_to_start, free_port, Bras, Cli, Server};

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// A REQUEST the business server answers with 4242: the caller gets
/// REPLY(4242), the callee never rings; calls to others still ring.
#[test]
fn veto_with_a_custom_code() {
    let server = Server::start(&[]);
    // Logged in before the business server links: the core server assigns ids.
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut c = Cli::login(&server, "carol", &[]);
    let mut bras = Bras::start(&server, &["--refuse-to", &format!("{}:4242", b.user_id)]);

    assert_eq!(a.cmd(&format!("request {} 3 42 hi", b.user_id)), 0);
    let r = a.expect_call("REPLY", b.user_id, 4242);
    assert!(r.ends_with("flags=3 param=0 str="), "{r}");
    let q = bras.expect("request REQUEST ");
    assert_eq!(
        q,
        format!("request REQUEST src={} tar={} code=0 flags=3 param=42 str=hi -> 4242", a.user_id, b.user_id)
    );

    // A call to another user still works: it is put to the business server
    // and rings.
    assert_eq!(a.cmd(&format!("request {} 1", c.user_id)), 0);
    c.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", c.user_id, 0);
    bras.expect(&format!("request REQUEST src={} tar={} ", a.user_id, c.user_id));

    // B's next event (A is busy now) comes after anything the refused call
    // could have sent B: B never rang.
    assert_eq!(b.cmd(&format!("request {}", a.user_id)), 0);
    b.expect_call("REPLY", a.user_id, 100103);
    b.assert_not_seen("call REQUEST");
    // A never heard "ringing" for B.
    a.assert_not_seen(&format!("call REPLY user={} code=0 ", b.user_id));
}

/// A business server slower than `--business-timeout`: REPLY(207), no ringing,
/// and the late answer changes nothing.
#[test]
fn veto_time_out_gives_207_and_the_callee_never_rings() {
    let server = Server::start(&["--business-timeout", "1"]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut bras = Bras::start(&server, &["--delay-ms", "3000"]);

    let t0 = Instant::now();
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    a.expect_call("REPLY", b.user_id, 207);
    let waited = t0.elapsed();
    assert!(waited < Duration::from_millis(2900), "207 after {waited:?}: the server waited for the slow answer");
    // The business server answers at last (too late) and is told how the call ended.
    bras.expect(&format!("request REQUEST src={} tar={} ", a.user_id, b.user_id));
    let note = bras.expect("note FINISH ");
    assert!(note.starts_with(&format!("note FINISH src=0 tar={} code=207 ", b.user_id)), "{note}");

    // Synchronise with the business server's link: B enters a room, which
    // the business server is asked about after its late verdict went out,
    // so the core server has dealt with that verdict before B's answer.
    assert_eq!(b.cmd("enter 100"), 0);
    bras.expect(&format!("prepare user={} room=100 -> 0", b.user_id));
    b.expect("notify ENTERROOM 100 0");
    b.assert_not_seen("call REQUEST");
    a.assert_not_seen(&format!("call REPLY user={} code=0 ", b.user_id));
    // Both are free: a new call is vetted (slowly again) and times out again.
    assert_eq!(b.cmd(&format!("request {}", a.user_id)), 0);
    b.expect_call("REPLY", a.user_id, 207);
}

/// The callback's view: REQUEST (src caller, tar callee), REPLY (src = who
/// replied), START (param = the clients' room id), FINISH (src = who ended it),
/// in that order; room entries and departures of the call's room.
#[test]
fn what_the_business_server_sees() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    let c = Cli::login(&server, "carol", &["--auto-refuse", "100104"]);
    let (ia, ib, ic) = (a.user_id, b.user_id, c.user_id);

    // 1. A calls B, B accepts, A hangs up.
    assert_eq!(a.cmd(&format!("request {ib} 3 42 hello there")), 0);
    b.expect_call("REQUEST", ia, 0);
    a.expect_call("REPLY", ib, 0);
    let start = a.expect_call("START", ib, 0);
    b.expect_call("START", ia, 0);
    let room: u32 = field(&start, "param").parse().unwrap();
    a.expect(&format!("notify ENTERROOM {room} 0"));
    b.expect(&format!("notify ENTERROOM {room} 0"));
    assert_eq!(a.cmd(&format!("finish {ib} 9 5 bye now")), 0);
    a.expect_call("FINISH", ib, 9);
    b.expect_call("FINISH", ia, 9);

    let request = format!("request REQUEST src={ia} tar={ib} code=0 flags=3 param=42 str=hello there -> 0");
    let reply = format!("note REPLY src={ib} tar={ia} code=0 flags=3 param=0 str=");
    let started = format!("note START src={ia} tar={ib} code=0 flags=3 param={room} str=");
    let finish = format!("note FINISH src={ia} tar={ib} code=9 flags=3 param=5 str=bye now");
    for l in [&request, &reply, &started, &finish] {
        bras.expect(l);
    }
    // Both parties enter the call's room (after START) and leave it (after FINISH).
    for u in [ia, ib] {
        bras.expect(&format!("enter user={u} room={room}"));
        bras.expect(&format!("leave user={u} room={room}"));
    }
    let t = bras.transcript();
    let at = |l: &str| t.iter().position(|x| x == l).unwrap_or_else(|| panic!("no '{l}' in {t:#?}"));
    assert!(at(&request) < at(&reply) && at(&reply) < at(&started) && at(&started) < at(&finish), "{t:#?}");
    assert!(at(&started) < at(&format!("enter user={ia} room={room}")), "{t:#?}");
    assert!(at(&finish) < at(&format!("leave user={ia} room={room}")), "{t:#?}");

    // 2. B calls A; A refuses by hand: src is the one who replied.
    assert_eq!(b.cmd(&format!("request {ia} 1 0")), 0);
    a.expect_call("REQUEST", ib, 0);
    assert_eq!(a.cmd(&format!("reply {ib} 100104 3 no")), 0);
    b.expect_call("REPLY", ia, 100104);
    bras.expect(&format!("request REQUEST src={ib} tar={ia} "));
    bras.expect(&format!("note REPLY src={ia} tar={ib} code=100104 flags=1 param=3 str=no"));

    // 3. The callee ends the call: src is the callee.
    let room = call_to_start(&mut a, &mut b);
    assert_eq!(b.cmd(&format!("finish {ia} 11")), 0);
    a.expect_call("FINISH", ib, 11);
    b.expect_call("FINISH", ia, 11);
    bras.expect(&format!("note START src={ia} tar={ib} code=0 flags=3 param={room} "));
    bras.expect(&format!("note FINISH src={ib} tar={ia} code=11 "));

    // 4. A callee refusing from its callback.
    assert_eq!(a.cmd(&format!("request {ic}")), 0);
    a.expect_call("REPLY", ic, 100104);
    bras.expect(&format!("note REPLY src={ic} tar={ia} code=100104 "));
}

/// `BRAS_VideoCallControl(FINISH)`: while ringing both get REPLY(100101 or
/// the code), during a call both get FINISH(code); a user not in a call: 20.
#[test]
fn forced_finish_while_ringing_and_during_a_call() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut c = Cli::login(&server, "carol", &["--auto-accept"]);
    let (ia, ib, ic) = (a.user_id, b.user_id, c.user_id);

    // Ringing, code 0: both get REPLY(100101), with the business server's param and string.
    assert_eq!(a.cmd(&format!("request {ib} 2")), 0);
    b.expect_call("REQUEST", ia, 0);
    a.expect_call("REPLY", ib, 0);
    assert_eq!(bras.cmd(&format!("finish {ib} 0 8 go away")), 0);
    let ra = a.expect_call("REPLY", ib, 100101);
    let rb = b.expect_call("REPLY", ia, 100101);
    assert!(ra.ends_with("flags=2 param=8 str=go away"), "{ra}");
    assert!(rb.ends_with("flags=2 param=8 str=go away"), "{rb}");
    bras.expect(&format!("note FINISH src=0 tar={ib} code=100101 "));
    // The call is over for both.
    assert_eq!(b.cmd(&format!("reply {ia} 0")), 20);

    // Ringing, with a code: both get REPLY(code); naming the caller works too.
    assert_eq!(a.cmd(&format!("request {ib}")), 0);
    b.expect_call("REQUEST", ia, 0);
    a.expect_call("REPLY", ib, 0);
    assert_eq!(bras.cmd(&format!("finish {ia} 4444")), 0);
    a.expect_call("REPLY", ib, 4444);
    b.expect_call("REPLY", ia, 4444);
    bras.expect("note FINISH src=0 ");

    // During a call: both get FINISH(code).
    call_to_start(&mut a, &mut c);
    assert_eq!(bras.cmd(&format!("finish {ic} 555")), 0);
    a.expect_call("FINISH", ic, 555);
    c.expect_call("FINISH", ia, 555);
    bras.expect(&format!("note FINISH src=0 tar={ic} code=555 "));
    assert_eq!(a.cmd(&format!("finish {ic}")), 20, "the call is over");

    // Users not in a call: 20, and nothing is sent.
    assert_eq!(bras.cmd(&format!("finish {ic} 556")), 20);
    assert_eq!(bras.cmd(&format!("finish {ia} 556")), 20);
    assert_eq!(bras.cmd("finish 4242 556"), 20);
    // Next events of A and C come after anything such a Finish could have caused.
    call_to_start(&mut a, &mut c);
    a.assert_not_seen(&format!("call FINISH user={ic} code=556 "));
    a.assert_not_seen(&format!("call REPLY user={ic} code=556 "));
    c.assert_not_seen(&format!("call FINISH user={ia} code=556 "));
    c.assert_not_seen(&format!("call REPLY user={ia} code=556 "));
    // Other event types are not for the business server to send.
    assert_eq!(bras.cmd(&format!("event 2 {ia} 0")), 20);
    assert_eq!(bras.cmd(&format!("event 9 {ia} 0")), 21);
}

/// `BRAS_UserInfoControl(KICKOUT)`: the user gets `WM_GV_LINKCLOSE`, its
/// call peer FINISH(100106).
#[test]
fn kickout_closes_the_link_and_ends_the_call() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept"]);
    let (ia, ib) = (a.user_id, b.user_id);
    call_to_start(&mut a, &mut b);

    assert_eq!(bras.cmd(&format!("kick {ib}")), 0);
    b.expect("notify LINKCLOSE 101 0");
    a.expect_call("FINISH", ib, 100106);
    bras.expect(&format!("logout user={ib} code=101"));
    let note = bras.expect("note FINISH ");
    assert!(note.starts_with("note FINISH src=0 ") && note.contains(" code=100106 "), "{note}");

    // With a code of its own.
    let mut c = Cli::login(&server, "carol", &[]);
    assert_eq!(bras.cmd(&format!("kick {} 4321", c.user_id)), 0);
    c.expect("notify LINKCLOSE 4321 0");
    // A is free again.
    let mut d = Cli::login(&server, "dave", &[]);
    assert_eq!(d.cmd(&format!("request {ia}")), 0);
    a.expect_call("REQUEST", d.user_id, 0);
}

/// `BRAS_VerifyUser_CallBack` refuses a login with its code or gives the
/// user id; login and logout actions are reported.
#[test]
fn login_verification() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &["--verify-refuse", "mallory:202", "--verify-id", "carol:9000"]);

    let (mut m, _, code) = Cli::try_login(&server, "mallory", &[]);
    assert_eq!(code, 202);
    bras.expect("verify mallory -> 202");
    assert_eq!(m.cmd("selfid"), 0);
    assert_eq!(m.expect("selfid "), "selfid -1");

    let carol = Cli::login(&server, "carol", &[]);
    assert_eq!(carol.user_id, 9000);
    bras.expect("verify carol -> 0 id=9000");
    bras.expect("login user=9000 name=carol level=7 ip=127.0.0.1");

    // No id given: the core server assigns one.
    let mut dave = Cli::login(&server, "dave", &[]);
    bras.expect("verify dave -> 0 id=0");
    let login = bras.expect(&format!("login user={} name=dave level=0 ", dave.user_id));
    assert!(dave.user_id != 9000 && dave.user_id > 0, "{login}");
    bras.assert_not_seen_containing("name=mallory");

    // Logging out is code 0; a lost connection 101.
    carol.quit();
    bras.expect("logout user=9000 code=0");
    dave.kill(libc::SIGKILL);
    bras.expect(&format!("logout user={} code=101", dave.user_id));
    // Carol logs in again with the same id.
    let carol = Cli::login(&server, "carol", &[]);
    assert_eq!(carol.user_id, 9000);
}

/// `BRAS_PrepareEnterRoom_CallBack` refuses an ordinary room with its code;
/// a call's room is entered by its parties without being asked.
#[test]
fn prepare_enter_room() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &["--prepare-refuse", "555:305"]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    let (ia, ib) = (a.user_id, b.user_id);

    assert_eq!(a.cmd("enter 555"), 0);
    a.expect("notify ENTERROOM 555 305");
    bras.expect(&format!("prepare user={ia} room=555 -> 305"));
    assert_eq!(a.cmd("enter 556"), 0);
    a.expect("notify ENTERROOM 556 0");
    bras.expect(&format!("prepare user={ia} room=556 -> 0"));
    bras.expect(&format!("enter user={ia} room=556"));
    bras.assert_not_seen(&format!("enter user={ia} room=555"));

    // The call's room: its parties enter it with no question asked.
    let room = call_to_start(&mut a, &mut b);
    a.expect(&format!("notify ENTERROOM {room} 0"));
    b.expect(&format!("notify ENTERROOM {room} 0"));
    bras.expect(&format!("leave user={ia} room=556"));
    bras.expect(&format!("enter user={ia} room={room}"));
    bras.expect(&format!("enter user={ib} room={room}"));
    bras.assert_not_seen(&format!("prepare user={ia} room={room}"));
    bras.assert_not_seen(&format!("prepare user={ib} room={room}"));
}

/// The business server crashes (SIGKILL) during a call: the call goes on
/// and ends normally. Nothing is decided without it: a new call and a login
/// wait for it to come back and get 207 at the business time-out (1 s here);
/// a business server started again links (once the slot held for the lost
/// one is free) and is asked as before.
#[test]
fn business_server_killed_mid_call() {
    let server = Server::start(&["--business-timeout", "1"]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept"]);
    let (ia, ib) = (a.user_id, b.user_id);
    call_to_start(&mut a, &mut b);
    bras.expect("note START ");

    bras.kill_now();
    server.expect_log("business server link lost");
    // The call goes on and a party ends it.
    assert_eq!(a.cmd(&format!("finish {ib} 7")), 0);
    a.expect_call("FINISH", ib, 7);
    b.expect_call("FINISH", ia, 7);
    // A new call waits for a business server, then times out; B never rings.
    assert_eq!(a.cmd(&format!("request {ib} 1")), 0);
    a.expect_call("REPLY", ib, 207);
    let (_c, _, code) = Cli::try_login(&server, "carol", &[]);
    assert_eq!(code, 207);
    let rang = b.transcript().iter().filter(|l| l.starts_with("call REQUEST")).count();
    assert_eq!(rang, 1, "B rang for the first call only");
    // Started again, a business server links and decides again.
    let mut again = Bras::start(&server, &[]);
    assert_eq!(a.cmd(&format!("request {ib} 1")), 0);
    again.expect(&format!("request REQUEST src={ia} tar={ib} "));
    b.expect_call("REQUEST", ia, 0);
    a.expect_call("REPLY", ib, 0);
    b.expect_call("START", ia, 0);
}

/// `BRAS_VideoCallControl` called from inside the START callback (re-entrant).
#[test]
fn finish_from_inside_the_start_callback() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &["--finish-on-start", "77"]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept"]);
    let (ia, ib) = (a.user_id, b.user_id);
    call_to_start(&mut a, &mut b);
    a.expect_call("FINISH", ib, 77);
    b.expect_call("FINISH", ia, 77);
    bras.expect("note START ");
    bras.expect("ret finish-on-start 0");
    bras.expect(&format!("note FINISH src=0 tar={ib} code=77 "));
    bras.assert_not_seen("THREAD CHANGED");
}

/// Only one business server at a time; the refused one takes over when the
/// first goes.
#[test]
fn a_second_business_server_is_refused() {
    let server = Server::start(&[]);
    let mut first = Bras::start(&server, &[]);
    let mut second = Bras::spawn("second", server.business_port, Some(&server.secret()), &[]);
    server.expect_log("another one is already linked");
    second.assert_not_seen("link up");

    // The first keeps working.
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    first.expect(&format!("login user={} name=alice ", a.user_id));
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    first.expect(&format!("request REQUEST src={} tar={} ", a.user_id, b.user_id));
    second.assert_not_seen("link up");
    second.assert_not_seen("request ");
    second.assert_not_seen("login ");

    // When the first goes, the second (retrying every ≤ 5 s) takes over.
    first.kill_now();
    server.expect_log("business server link lost");
    second.expect_within("link up", Duration::from_secs(15));
    let c = Cli::login(&server, "carol", &[]);
    second.expect(&format!("login user={} name=carol ", c.user_id));
}

/// `--require-business`: logins (and calls) fail with 206 while no business
/// server is linked.
#[test]
fn require_business_refuses_logins_until_one_links() {
    let server = Server::start(&["--require-business", "--business-timeout", "1"]);
    let (_m, _, code) = Cli::try_login(&server, "alice", &[]);
    assert_eq!(code, 206);

    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    bras.expect(&format!("login user={} name=alice ", a.user_id));

    // Without it again: for the business time-out (1 s here) questions wait
    // for it to come back, then get 207; after that, calls fail with 206.
    bras.kill_now();
    server.expect_log("business server link lost");
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    a.expect_call("REPLY", b.user_id, 207);
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    a.expect_call("REPLY", b.user_id, 206);
    let (_e, _, code) = Cli::try_login(&server, "eve", &[]);
    assert_eq!(code, 206);
    b.assert_not_seen("call REQUEST");
}

/// `--business-secret`: a wrong or missing secret is refused, the right one links.
#[test]
fn wrong_secret_is_refused_right_secret_links() {
    let server = Server::start(&["--business-secret", "s3cret"]);
    let mut wrong = Bras::spawn("wrong", server.business_port, Some("wrong"), &[]);
    server.expect_log("wrong secret");
    wrong.assert_not_seen("link up");
    let mut none = Bras::spawn("none", server.business_port, None, &[]);
    server.expect_log("wrong secret");

    let mut right = Bras::spawn("right", server.business_port, Some("s3cret"), &[]);
    right.expect("link up");
    let a = Cli::login(&server, "alice", &[]);
    right.expect(&format!("login user={} name=alice ", a.user_id));
    wrong.assert_not_seen("link up");
    none.assert_not_seen("link up");
}

/// `BRAS_SetTimerEventCallBack` fires repeatedly, on the same thread as every
/// other callback.
#[test]
fn timer_fires_on_the_one_callback_thread() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &["--timer-ms", "100"]);
    // Other callbacks in between, to compare threads with.
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept"]);
    call_to_start(&mut a, &mut b);
    bras.expect("note START ");
    for _ in 0..3 {
        bras.expect("timer");
    }
    bras.expect(&format!("login user={} ", a.user_id));
    bras.assert_not_seen("THREAD CHANGED");
    // The timer keeps going.
    for _ in 0..3 {
        bras.expect("timer");
    }
    bras.assert_not_seen("THREAD CHANGED");
}

/// The library reconnects by itself (backoff ≤ 5 s) to a core server
/// restarted on the same ports.
#[test]
fn reconnects_to_a_restarted_core_server() {
    let (port, biz_port) = (free_port(), free_port());
    let listen = format!("127.0.0.1:{port}");
    let business = format!("127.0.0.1:{biz_port}");
    let server = Server::start_at(&listen, &business, &[]);
    assert_eq!((server.port, server.business_port), (port, biz_port));
    let mut bras = Bras::start(&server, &[]);
    let a = Cli::login(&server, "alice", &[]);
    bras.expect(&format!("login user={} name=alice ", a.user_id));

    let server_state = server.state.clone();
    server.kill();
    bras.expect("link down 101");
    drop(a);

    let server = Server::start_in(server_state, &listen, &business, &[]);
    bras.expect("link up");
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    bras.expect(&format!("login user={} name=alice ", a.user_id));
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    bras.expect(&format!("request REQUEST src={} tar={} ", a.user_id, b.user_id));
    bras.assert_not_seen("THREAD CHANGED");
}

/// A client that pipelines Login and what follows it (as a library with a
/// queue does) while the business server is asked about the login: what
/// came after the Login is served once the login is answered, in order —
/// never dropped as "not logged in".
#[test]
fn messages_pipelined_after_a_login_being_verified_are_served_after_it() {
    use anychat::wire::protocol::{ClientMsg, FrameBuffer, Role, ServerMsg, PROTOCOL_VERSION};
    use std::io::{Read, Write};
    let server = Server::start(&[]);
    let _bras = Bras::start(&server, &[]);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut out = Vec::new();
    ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 }.encode(&mut out);
    ClientMsg::Login { name: b"piper".to_vec(), password: vec![], pass_enc_type: 0 }.encode(&mut out);
    ClientMsg::EnterRoom { room_id: 7, password: vec![] }.encode(&mut out);
    ClientMsg::Ping { seq: 9 }.encode(&mut out);
    raw.write_all(&out).unwrap();
    raw.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut frames = FrameBuffer::new();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let done = |got: &[ServerMsg]| {
        got.iter().any(|m| matches!(m, ServerMsg::Pong { seq: 9 }))
            && got.iter().any(|m| matches!(m, ServerMsg::EnterRoomResult { .. }))
    };
    while !done(&got) {
        let n = raw.read(&mut buf).expect("the server answers within the wait");
        assert!(n > 0, "closed; got {got:?}");
        frames.extend(&buf[..n]);
        while let Some(body) = frames.next_frame().unwrap() {
            got.push(ServerMsg::decode(body).unwrap());
        }
    }
    let kinds: Vec<&str> = got
        .iter()
        .filter_map(|m| match m {
            ServerMsg::LoginResult { code: 0, .. } => Some("login"),
            ServerMsg::EnterRoomResult { room_id: 7, code: 0 } => Some("enter"),
            ServerMsg::Pong { seq: 9 } => Some("pong"),
            _ => None,
        })
        .collect();
    // The room entry is put to the business server in turn, so the Pong may
    // come before its answer; both come after the login.
    assert_eq!(kinds[0], "login", "{got:?}");
    assert!(kinds.contains(&"enter") && kinds.contains(&"pong") && kinds.len() == 3, "{got:?}");
}
