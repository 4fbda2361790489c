//! Core servers forming a cluster over Redis: real `redis-server` and
//! `anychat-server` processes, clients through the C ABI (`anychat-cli`).
//! Every row of the call contract with caller and callee on different
//! servers, ids and presence across servers, a server killed, the engine
//! lost and back.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{establish, member, Redis};
use common::{field, num, Cli, Server};

#[test]
fn ids_names_and_login_elsewhere_across_servers() {
    let redis = Redis::start();
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", &[]);
    let mut a1 = Cli::login(&s1, "alice", &[]);
    let mut b = Cli::login(&s2, "bob", &[]);
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
    // What the server is asked about users (BRAC_QueryInfoFromServer) is
    // answered for the whole cluster: a name logged in only on the other
    // server, its id, and the number online on all servers.
    let mut c = Cli::login(&s1, "carol", &[]);
    assert_eq!(c.cmd("query 1 bob"), 0);
    assert_eq!(c.expect("query 1 "), format!("query 1 {}", b.user_id));
    assert_eq!(c.cmd(&format!("query 4 {}", b.user_id)), 0);
    assert_eq!(c.expect("query 4 "), "query 4 bob");
    assert_ne!(c.cmd("query 1 nobody-at-all"), 0, "a name never seen anywhere");
    // alice (s1), bob, carol: each server publishes its count once per
    // lease third (0.5 s here).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert_eq!(c.cmd("query 201"), 0);
        if c.expect("query 201 ") == "query 201 3" {
            break;
        }
        assert!(Instant::now() < deadline, "the number online never counted both servers");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A call by name to a user of the other server.
    assert_eq!(c.cmd("call bob"), 0);
    b.expect_call("REQUEST", c.user_id, 0);
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
    // The ring time-out leaves room for the busy checks below on a loaded
    // machine (each is a few engine hops).
    let s1 = member(&redis, "s1", &["--ring-timeout", "3"]);
    let s2 = member(&redis, "s2", &["--ring-timeout", "3"]);
    let s3 = member(&redis, "s3", &["--ring-timeout", "3"]);
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
    ring(&mut a, &mut b);
    assert_eq!(a.cmd(&format!("reply {} 100101", b.user_id)), 0);
    b.expect_call("REPLY", a.user_id, 100101);
    // Busy, cluster-wide: while A rings B, C (a third server) reaches
    // neither, and B reaches nobody.
    ring(&mut a, &mut b);
    assert_eq!(c.cmd(&format!("request {}", a.user_id)), 0);
    c.expect_call("REPLY", a.user_id, 100103);
    assert_eq!(c.cmd(&format!("request {}", b.user_id)), 0);
    c.expect_call("REPLY", b.user_id, 100103);
    // The ring time-out reaches both.
    a.expect_call("REPLY", b.user_id, 100105);
    b.expect_call("REPLY", a.user_id, 100105);
    // Free again: C calls A and A accepts... by Finish while ringing = refusal.
    ring(&mut c, &mut a);
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
    ring(&mut a, &mut c);
    assert_eq!(a.cmd("logout"), 0);
    c.expect_call("REPLY", a.user_id, 100101);
    // The callee logs out while ringing: a refusal.
    let mut a = Cli::login(&s1, "alice", &[]);
    ring(&mut a, &mut c);
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

/// A call between users of two servers, streaming both ways; `s2_extra`:
/// flags of the second server.
fn media_across(s2_extra: &[&str]) -> (Server, Server, Redis) {
    let redis = Redis::start();
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", s2_extra);
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
    // Frames of the other server's user arrive.
    for (rx, from) in [(&mut a, bid), (&mut b, aid)] {
        for _ in 0..5 {
            rx.expect_within(&format!("video from={from} "), Duration::from_secs(20));
        }
        for _ in 0..10 {
            rx.expect_within(&format!("audio from={from} "), Duration::from_secs(20));
        }
    }
    (s1, s2, redis)
}

#[test]
fn call_across_servers_carries_video_and_audio_both_ways_over_media_links() {
    let (s1, s2, _redis) = media_across(&[]);
    // Each server opened a direct link to the other for the media it sends.
    for s in [&s1, &s2] {
        let seen = [s.expect_log("cluster: media link "), s.expect_log("cluster: media link ")];
        assert!(seen.iter().any(|l| l.contains("media link from another server")), "{seen:?}");
        assert!(seen.iter().any(|l| l.contains("media link up")), "{seen:?}");
    }
    // A link that does not present the server's token is refused.
    use anychat::wire::protocol::{ClientMsg, Role, ServerMsg, PROTOCOL_VERSION};
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", s1.port)).unwrap();
    let mut hello = Vec::new();
    let secret = b"not the token".to_vec();
    ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Peer as u8, secret, token: 0 }.encode(&mut hello);
    tcp.write_all(&hello).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let refused = ServerMsg::decode(&answer[4..]).expect("an answer, then the link closed");
    assert!(matches!(refused, ServerMsg::Refused { .. }), "{refused:?}");
}

#[test]
fn media_goes_through_the_engine_when_no_link_can_be_made() {
    // s2 advertises an address nobody listens on: s1 cannot open a link to
    // it, and relays its media through the engine instead.
    let (s1, _s2, _redis) = media_across(&["--cluster-advertise", "127.0.0.1:1"]);
    s1.expect_log("cluster: no media link, media goes through the engine");
}

/// `result="dropped"` of `anychat_media_frames_total` on the admin
/// listener at `port`.
fn media_frames_dropped(port: u16) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the admin listener");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read /metrics");
    let line = text
        .lines()
        .find(|l| l.starts_with("anychat_media_frames_total{result=\"dropped\"} "))
        .unwrap_or_else(|| panic!("no dropped media frames in\n{text}"));
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("bad line {line}"))
}

/// A server that stops reading the media link of a call across (SIGSTOP,
/// with a lease long enough to outlive the stop) costs the sending server a
/// bounded queue: video is dropped there (and counted), it goes on serving
/// its own users, and the call's media flows again once the receiver reads.
#[test]
fn a_server_that_stops_reading_its_media_link_costs_the_sender_a_bounded_queue() {
    let redis = Redis::start();
    let admin = common::free_port();
    let admin_listen = format!("127.0.0.1:{admin}");
    // The link's queue: 16 × 8 KiB.
    let s1_extra = ["--cluster-lease", "60", "--admin-listen", &admin_listen, "--max-media", "8192"];
    let s1 = member(&redis, "s1", &s1_extra);
    let s2 = member(&redis, "s2", &["--cluster-lease", "60"]);
    // A's video is its pictures' bytes, unencoded: 160 × 120 × 3 bytes at
    // 15 frames/s, about 860 KB/s.
    let mut a = Cli::login(&s1, "alice", &["--auto-enter", "--input-codec", "999"]);
    let mut b = Cli::login(&s2, "bob", &["--auto-accept", "--auto-enter"]);
    establish(&mut a, &mut b);
    for what in ["camera", "mic"] {
        assert_eq!(b.cmd(&format!("{what} {} 1", a.user_id)), 0);
    }
    assert_eq!(a.cmd("stream 300 160 120 15"), 0);
    let streaming = Instant::now();
    b.expect_within(&format!("video from={} ", a.user_id), Duration::from_secs(20));
    s1.expect_log("cluster: media link up");
    let before = media_frames_dropped(admin);
    s2.signal(libc::SIGSTOP);
    // The kernel's buffers fill, then the link's queue: video is dropped.
    let stopped = Instant::now();
    let dropped = loop {
        let now = media_frames_dropped(admin);
        if now > before {
            break now - before;
        }
        assert!(stopped.elapsed() < Duration::from_secs(40), "no video dropped for the stopped server");
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("video dropped for the stopped server {:?} after the stop: {dropped} frames", stopped.elapsed());
    // Nothing piles up past the bound: every new frame of video is dropped.
    while media_frames_dropped(admin) - before < dropped + 10 {
        assert!(stopped.elapsed() < Duration::from_secs(50), "video stopped being dropped");
        std::thread::sleep(Duration::from_millis(100));
    }
    // s1 goes on serving its own users.
    let mut c = Cli::login(&s1, "carol", &[]);
    let d = Cli::login(&s1, "dave", &["--auto-accept"]);
    assert_eq!(c.cmd(&format!("request {}", d.user_id)), 0);
    c.expect_call("START", d.user_id, 0);
    // Reading again: the call is still up, what was sent at once through
    // the engine arrives (its subscription lived through the stop), and
    // the media flows.
    b.forget();
    s2.signal(libc::SIGCONT);
    assert_eq!(a.cmd(&format!("trans {} after the stop", b.user_id)), 0);
    b.expect(&format!("trans from={} len=14 data=after the stop", a.user_id));
    // Video sent after the stop, from its next key frame on (what the
    // kernel's buffers held comes first).
    let resumed = streaming.elapsed().as_millis() as i64;
    let deadline = Instant::now() + Duration::from_secs(20);
    while num(&b.expect_within(&format!("video from={} ", a.user_id), Duration::from_secs(20)), "ts") <= resumed {
        assert!(Instant::now() < deadline, "no video sent after the stop");
    }
    b.expect_within(&format!("audio from={} ", a.user_id), Duration::from_secs(20));
    assert_eq!(a.cmd("stopstream"), 0);
    a.expect_within("streamed ", Duration::from_secs(30));
    assert_eq!(a.cmd(&format!("finish {}", b.user_id)), 0);
    b.expect_call("FINISH", a.user_id, 0);
    let lines = b.transcript();
    assert!(!lines.iter().any(|l| l.contains("code=100106")), "the call was lost: {lines:?}");
}

/// A rings B: B gets the Request, A the Reply 0.
fn ring(a: &mut Cli, b: &mut Cli) {
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", b.user_id, 0);
}

/// An engine and three core servers of a cluster on it.
fn three_servers() -> (Redis, [Server; 3]) {
    let redis = Redis::start();
    let servers = ["s1", "s2", "s3"].map(|name| member(&redis, name, &[]));
    (redis, servers)
}

/// Enters ordinary room `room` and waits for the entry and the listing.
fn enter(c: &mut Cli, room: u32) {
    assert_eq!(c.cmd(&format!("enter {room}")), 0);
    c.expect(&format!("notify ENTERROOM {room} 0"));
    c.expect("notify ONLINEUSER ");
}

/// The users `c` sees in its room, sorted.
fn online(c: &mut Cli) -> Vec<u32> {
    assert_eq!(c.cmd("online"), 0);
    let line = c.expect("users ");
    line["users ".len()..].split(',').filter(|v| !v.is_empty()).map(|v| v.parse().unwrap()).collect()
}

#[test]
fn ordinary_room_spans_servers_text_buffers_media_and_departures() {
    let (_redis, [s1, s2, s3]) = three_servers();
    let fmt = ["--video-fmt", "yuv420p"];
    let mut a = Cli::login(&s1, "alice", &fmt);
    let mut b = Cli::login(&s2, "bob", &fmt);
    let mut c = Cli::login(&s3, "carol", &fmt);
    let mut d = Cli::login(&s2, "dave", &fmt);
    // Four users of three servers enter room 100, one after the other:
    // each newcomer is listed to those inside, and sees them all.
    enter(&mut a, 100);
    let mut inside: Vec<u32> = vec![a.user_id];
    for n in [&mut b, &mut c, &mut d] {
        enter(n, 100);
        let mut want = inside.clone();
        want.sort_unstable();
        assert_eq!(online(n), want, "the room as user {} sees it", n.user_id);
        inside.push(n.user_id);
    }
    for (who, arrivals) in [(&mut a, vec![b.user_id, c.user_id, d.user_id]), (&mut b, vec![c.user_id, d.user_id])] {
        for id in arrivals {
            who.expect(&format!("notify USERATROOM {id} 1"));
        }
    }
    c.expect(&format!("notify USERATROOM {} 1", d.user_id));
    // Text to the room reaches everyone on every server; a private message
    // and a buffer reach their one addressee.
    assert_eq!(c.cmd("text 0 0 hello room"), 0);
    for n in [&mut a, &mut b, &mut d] {
        n.expect(&format!("text from={} to=0 secret=0 msg=hello room", c.user_id));
    }
    assert_eq!(a.cmd(&format!("text {} 1 psst", d.user_id)), 0);
    d.expect(&format!("text from={} to={} secret=1 msg=psst", a.user_id, d.user_id));
    assert_eq!(d.cmd(&format!("trans {} ping from dave", c.user_id)), 0);
    c.expect(&format!("trans from={} len=14 data=ping from dave", d.user_id));
    // Media between users of two servers neither of which holds the room.
    assert_eq!(d.cmd(&format!("camera {} 1", c.user_id)), 0);
    assert_eq!(d.cmd(&format!("mic {} 1", c.user_id)), 0);
    assert_eq!(c.cmd("stream 1"), 0);
    for _ in 0..3 {
        d.expect_within(&format!("video from={} ", c.user_id), Duration::from_secs(20));
    }
    d.expect_within(&format!("audio from={} ", c.user_id), Duration::from_secs(20));
    // Departures: one leaves, one's link drops; the others see both go.
    assert_eq!(b.cmd("leave 100"), 0);
    for n in [&mut a, &mut c, &mut d] {
        n.expect(&format!("notify USERATROOM {} 0", b.user_id));
    }
    d.kill(9);
    for n in [&mut a, &mut c] {
        n.expect_within(&format!("notify USERATROOM {} 0", d.user_id), Duration::from_secs(20));
    }
    let mut want = vec![a.user_id, c.user_id];
    want.sort_unstable();
    assert_eq!(online(&mut a), vec![c.user_id]);
    assert_eq!(online(&mut c), vec![a.user_id]);
    // The one who left comes back: the room is still one.
    enter(&mut b, 100);
    want.sort_unstable();
    assert_eq!(online(&mut b), want);
}

#[test]
fn call_room_admits_only_its_parties_and_a_lost_room_holder_empties_its_room() {
    let (_redis, [s1, s2, s3]) = three_servers();
    let mut a = Cli::login(&s1, "alice", &[]);
    let mut b = Cli::login(&s2, "bob", &["--auto-enter"]);
    let mut c = Cli::login(&s3, "carol", &["--auto-accept", "--auto-enter"]);
    // s1 holds room 7 (its user entered first); b and c are in it too.
    enter(&mut a, 7);
    enter(&mut b, 7);
    enter(&mut c, 7);
    // b calls c: both go into the call's room, leaving room 7.
    let call_room = establish(&mut b, &mut c);
    a.expect(&format!("notify USERATROOM {} 0", b.user_id));
    a.expect(&format!("notify USERATROOM {} 0", c.user_id));
    // Nobody else may enter the call's room, from any server.
    assert_eq!(a.cmd(&format!("enter {call_room}")), 0);
    a.expect(&format!("notify ENTERROOM {call_room} 300"));
    let mut e = Cli::login(&s3, "erin", &[]);
    assert_eq!(e.cmd(&format!("enter {call_room}")), 0);
    e.expect(&format!("notify ENTERROOM {call_room} 300"));
    assert_eq!(b.cmd(&format!("finish {}", c.user_id)), 0);
    c.expect_call("FINISH", b.user_id, 0);
    // Back in room 7; then the room's holder (s1) dies: the members on the
    // other servers see everyone leave, and a new entry makes a new room.
    enter(&mut b, 7);
    enter(&mut e, 7);
    b.expect(&format!("notify USERATROOM {} 1", e.user_id));
    s1.kill();
    let (aid, bid, eid) = (a.user_id, b.user_id, e.user_id);
    for (n, others) in [(&mut b, [aid, eid]), (&mut e, [aid, bid])] {
        for id in others {
            n.expect_within(&format!("notify USERATROOM {id} 0"), Duration::from_secs(5));
        }
        assert_ne!(n.cmd("online"), 0, "out of the room");
    }
    enter(&mut e, 7);
    enter(&mut b, 7);
    assert_eq!(online(&mut b), vec![e.user_id]);
}

#[test]
fn room_entered_by_name_is_one_room_across_servers() {
    let (_redis, [s1, s2, s3]) = three_servers();
    let mut a = Cli::login(&s1, "alice", &[]);
    let mut b = Cli::login(&s2, "bob", &[]);
    let mut c = Cli::login(&s3, "carol", &[]);
    // The same name on three servers: one room id, one room.
    let mut room = None;
    for n in [&mut a, &mut b, &mut c] {
        assert_eq!(n.cmd("enterex lobby"), 0);
        let line = n.expect("notify ENTERROOM ");
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts[3], "0", "{line}");
        let id: u32 = parts[2].parse().unwrap();
        assert_eq!(*room.get_or_insert(id), id, "one id for the name on every server");
        assert_eq!(n.cmd(&format!("roomname {id}")), 0);
        n.expect("roomname lobby");
    }
    let mut want = vec![a.user_id, b.user_id];
    want.sort_unstable();
    assert_eq!(online(&mut c), want);
    assert_eq!(a.cmd("text 0 0 hi lobby"), 0);
    for n in [&mut b, &mut c] {
        n.expect(&format!("text from={} to=0 secret=0 msg=hi lobby", a.user_id));
    }
    // Another name is another room.
    assert_eq!(b.cmd("enterex hall"), 0);
    let line = b.expect("notify ENTERROOM ");
    assert_ne!(line.split_whitespace().nth(2).unwrap().parse::<u32>().unwrap(), room.unwrap());
    for n in [&mut a, &mut c] {
        n.expect(&format!("notify USERATROOM {} 0", b.user_id));
    }
}
