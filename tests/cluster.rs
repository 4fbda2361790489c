//! Core servers forming a cluster over Redis: real `redis-server` and
//! `anychat-server` processes, clients through the C ABI (`anychat-cli`).
//! Every row of the call contract with caller and callee on different
//! servers, ids and presence across servers, a server killed, the engine
//! lost and back.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{establish, member, Redis};
use common::{field, Cli};

#[test]
fn ids_names_and_login_elsewhere_across_servers() {
    let redis = Redis::start();
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", &[]);
    let mut a1 = Cli::login(&s1, "alice", &[]);
    let b = Cli::login(&s2, "bob", &[]);
    assert_ne!(a1.user_id, b.user_id, "ids are unique across servers");
    // The same name on the other server: the same id, and the old session
    // is closed with LINKCLOSE(209).
    let mut a2 = Cli::login(&s2, "alice", &[]);
    assert_eq!(a2.user_id, a1.user_id, "ids are stable across servers");
    a1.expect("notify LINKCLOSE 209 0");
    // Back on the first server: the second session goes the same way.
    let a3 = Cli::login(&s1, "alice", &[]);
    assert_eq!(a3.user_id, a1.user_id);
    a2.expect("notify LINKCLOSE 209 0");
    // A restarted server keeps giving the same ids (they live in the engine).
    drop(s1);
    let s3 = member(&redis, "s3", &[]);
    let b2 = Cli::login(&s3, "bob", &[]);
    assert_eq!(b2.user_id, b.user_id);
}

#[test]
fn call_accepted_across_servers_room_names_and_finish_by_either() {
    let redis = Redis::start();
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", &[]);
    let mut a = Cli::login(&s1, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&s2, "bob", &["--auto-accept", "--auto-enter"]);
    let room = establish(&mut a, &mut b);
    // Both are in the call's room: whoever entered second sees both listed,
    // the first sees the second arrive.
    let la = a.expect("notify ONLINEUSER ");
    let lb = b.expect("notify ONLINEUSER ");
    if la.starts_with("notify ONLINEUSER 1 ") {
        assert_eq!(lb, format!("notify ONLINEUSER 2 {room}"));
        a.expect(&format!("notify USERATROOM {} 1", b.user_id));
    } else {
        assert_eq!(la, format!("notify ONLINEUSER 2 {room}"));
        assert_eq!(lb, format!("notify ONLINEUSER 1 {room}"));
        b.expect(&format!("notify USERATROOM {} 1", a.user_id));
    }
    // They see each other, and each other's names.
    assert_eq!(a.cmd("online"), 0);
    assert_eq!(a.expect("users "), format!("users {}", b.user_id));
    assert_eq!(b.cmd("online"), 0);
    assert_eq!(b.expect("users "), format!("users {}", a.user_id));
    assert_eq!(b.cmd(&format!("name {}", a.user_id)), 0);
    assert_eq!(b.expect("name "), format!("name {} alice", a.user_id));
    assert_eq!(a.cmd(&format!("name {}", b.user_id)), 0);
    assert_eq!(a.expect("name "), format!("name {} bob", b.user_id));
    // Text reaches the other server's user in the call's room.
    assert_eq!(a.cmd("text 0 hello from s1"), 0);
    b.expect(&format!("text from={} ", a.user_id));
    // The caller hangs up: FINISH with its code, param and string to both.
    assert_eq!(a.cmd(&format!("finish {} 0 5 bye now", b.user_id)), 0);
    let fa = a.expect_call("FINISH", b.user_id, 0);
    let fb = b.expect_call("FINISH", a.user_id, 0);
    assert!(fa.ends_with("param=5 str=bye now") && fb.ends_with("param=5 str=bye now"), "{fa} / {fb}");
    assert!(room >= 0x7000_0000);
    // Again, the other way round, and the callee (a) hangs up.
    a.quit();
    let mut a = Cli::login(&s1, "alice", &["--auto-accept", "--auto-enter"]);
    establish(&mut b, &mut a);
    assert_eq!(a.cmd(&format!("finish {} 7", b.user_id)), 0);
    a.expect_call("FINISH", b.user_id, 7);
    b.expect_call("FINISH", a.user_id, 7);
}

#[test]
fn offline_busy_refuse_cancel_and_ring_timeout_across_servers() {
    let redis = Redis::start();
    let s1 = member(&redis, "s1", &["--ring-timeout", "1"]);
    let s2 = member(&redis, "s2", &["--ring-timeout", "1"]);
    let s3 = member(&redis, "s3", &["--ring-timeout", "1"]);
    let mut a = Cli::login(&s1, "alice", &[]);
    let mut b = Cli::login(&s2, "bob", &[]);
    let mut c = Cli::login(&s3, "carol", &[]);
    // Offline: a user id nobody is logged in with.
    assert_eq!(a.cmd("request 4242"), 0);
    a.expect_call("REPLY", 4242, 100102);
    // Refuse.
    assert_eq!(a.cmd(&format!("request {} 1 9 hi", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", b.user_id, 0);
    assert_eq!(b.cmd(&format!("reply {} 100104 3 no", a.user_id)), 0);
    let r = a.expect_call("REPLY", b.user_id, 100104);
    assert!(r.ends_with("param=3 str=no"), "{r}");
    // Cancel by the caller (Reply 100101).
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", b.user_id, 0);
    assert_eq!(a.cmd(&format!("reply {} 100101", b.user_id)), 0);
    b.expect_call("REPLY", a.user_id, 100101);
    // Busy, cluster-wide: while A rings B, C (a third server) reaches
    // neither, and B reaches nobody.
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", b.user_id, 0);
    assert_eq!(c.cmd(&format!("request {}", a.user_id)), 0);
    c.expect_call("REPLY", a.user_id, 100103);
    assert_eq!(c.cmd(&format!("request {}", b.user_id)), 0);
    c.expect_call("REPLY", b.user_id, 100103);
    // The ring time-out reaches both.
    a.expect_call("REPLY", b.user_id, 100105);
    b.expect_call("REPLY", a.user_id, 100105);
    // Free again: C calls A and A accepts... by Finish while ringing = refusal.
    assert_eq!(c.cmd(&format!("request {}", a.user_id)), 0);
    a.expect_call("REQUEST", c.user_id, 0);
    c.expect_call("REPLY", a.user_id, 0);
    assert_eq!(a.cmd(&format!("finish {}", c.user_id)), 0);
    c.expect_call("REPLY", a.user_id, 100104);
}

#[test]
fn lost_connection_logout_and_login_elsewhere_end_calls_across_servers() {
    let redis = Redis::start();
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", &[]);
    // The caller's process is killed during the call.
    let mut a = Cli::login(&s1, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&s2, "bob", &["--auto-accept", "--auto-enter"]);
    establish(&mut a, &mut b);
    a.kill(libc::SIGKILL);
    b.expect_within(&format!("call FINISH user={} code=100106 ", a.user_id), Duration::from_secs(3));
    // The caller logs out while ringing: a cancel.
    let mut a = Cli::login(&s1, "alice", &[]);
    let mut c = Cli::login(&s2, "carol", &[]);
    assert_eq!(a.cmd(&format!("request {}", c.user_id)), 0);
    c.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", c.user_id, 0);
    assert_eq!(a.cmd("logout"), 0);
    c.expect_call("REPLY", a.user_id, 100101);
    // The callee logs out while ringing: a refusal.
    let mut a = Cli::login(&s1, "alice", &[]);
    assert_eq!(a.cmd(&format!("request {}", c.user_id)), 0);
    c.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", c.user_id, 0);
    assert_eq!(c.cmd("logout"), 0);
    a.expect_call("REPLY", c.user_id, 100104);
    // The caller logs out during the call: FINISH(0) to the other.
    drop(a);
    let mut a = Cli::login(&s1, "alice", &["--auto-enter"]);
    establish(&mut a, &mut b);
    assert_eq!(a.cmd("logout"), 0);
    b.expect_call("FINISH", a.user_id, 0);
    // The caller logs in on the callee's server during the call: its old
    // session gets LINKCLOSE(209), and the call ends as for a lost link.
    drop(a);
    let mut a = Cli::login(&s1, "alice", &["--auto-enter"]);
    establish(&mut a, &mut b);
    let a2 = Cli::login(&s2, "alice", &[]);
    assert_eq!(a2.user_id, a.user_id);
    a.expect("notify LINKCLOSE 209 0");
    b.expect_call("FINISH", a.user_id, 100106);
}

#[test]
fn killed_server_ends_its_calls_within_the_lease_and_its_users_log_in_elsewhere() {
    let redis = Redis::start();
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", &[]);
    let mut a = Cli::login(&s1, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&s2, "bob", &["--auto-accept", "--auto-enter"]);
    establish(&mut a, &mut b);
    // The caller's server dies (kill -9): the callee hears FINISH(100106)
    // within the lease (1.5 s) and a third of it.
    let t = Instant::now();
    s1.kill();
    b.expect_within(&format!("call FINISH user={} code=100106 ", a.user_id), Duration::from_secs(4));
    let took = t.elapsed();
    assert!(took <= Duration::from_millis(2500), "FINISH after {took:?}");
    // Its user logs in elsewhere at once, and calls again.
    let mut a2 = Cli::login(&s2, "alice", &[]);
    assert_eq!(a2.user_id, a.user_id);
    assert_eq!(a2.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a2.user_id, 0);
    a2.expect_call("START", b.user_id, 0);
    assert_eq!(b.cmd(&format!("finish {}", a2.user_id)), 0);
    a2.expect_call("FINISH", b.user_id, 0);
    // Now the other way: the callee's server (holding the call) dies.
    let s3 = member(&redis, "s3", &[]);
    let mut c = Cli::login(&s3, "carol", &["--auto-enter"]);
    let mut d = Cli::login(&s2, "dave", &["--auto-accept", "--auto-enter"]);
    establish(&mut c, &mut d);
    s2.kill();
    c.expect_within(&format!("call FINISH user={} code=100106 ", d.user_id), Duration::from_secs(4));
}

#[test]
fn engine_lost_local_calls_go_on_cross_server_requests_fail_fast_then_heal() {
    let redis = Redis::start();
    let port = redis.port;
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", &[]);
    let mut a = Cli::login(&s1, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&s2, "bob", &[]);
    let mut c = Cli::login(&s1, "carol", &["--auto-accept", "--auto-enter"]);
    drop(redis);
    s1.expect_log("cluster engine unreachable");
    // A call within one server goes on.
    establish(&mut a, &mut c);
    assert_eq!(a.cmd(&format!("finish {}", c.user_id)), 0);
    c.expect_call("FINISH", a.user_id, 0);
    // Across servers: a clear code at once, no hang.
    let t = Instant::now();
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    a.expect_call("REPLY", b.user_id, 100106);
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    // A new login cannot get a cluster-wide id: refused with 100, at once.
    let (_d, _, code) = Cli::try_login(&s1, "dave", &[]);
    assert_eq!(code, 100);
    // The engine comes back (empty): the servers register again and calls
    // across servers work.
    let _redis = Redis::start_on(port);
    s1.expect_log("cluster engine reachable");
    s2.expect_log("cluster engine reachable");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
        let line = a.expect("call REPLY ");
        if field(&line, "code") == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "no heal: {line}");
        std::thread::sleep(Duration::from_millis(100));
    }
    b.expect_call("REQUEST", a.user_id, 0);
}

#[test]
fn call_across_servers_carries_video_and_audio_both_ways() {
    let redis = Redis::start();
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", &[]);
    let fmt = ["--video-fmt", "yuv420p"];
    let mut a = Cli::login(&s1, "alice", &[&["--auto-enter"][..], &fmt].concat());
    let mut b = Cli::login(&s2, "bob", &[&["--auto-accept", "--auto-enter"][..], &fmt].concat());
    establish(&mut a, &mut b);
    let (aid, bid) = (a.user_id, b.user_id);
    for (rx, of) in [(&mut a, bid), (&mut b, aid)] {
        assert_eq!(rx.cmd(&format!("camera {of} 1")), 0);
        assert_eq!(rx.cmd(&format!("mic {of} 1")), 0);
    }
    for tx in [&mut a, &mut b] {
        assert_eq!(tx.cmd("stream 1"), 0);
    }
    // Frames of the other server's user arrive (relayed through the engine).
    for (rx, from) in [(&mut a, bid), (&mut b, aid)] {
        for _ in 0..5 {
            rx.expect_within(&format!("video from={from} "), Duration::from_secs(20));
        }
        for _ in 0..10 {
            rx.expect_within(&format!("audio from={from} "), Duration::from_secs(20));
        }
    }
}
