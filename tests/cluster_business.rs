//! One business server for a cluster of three core servers: it links to one
//! of them (`anychat-bras-cli`, the `BRAS_*` C ABI) and decides and sees
//! the calls and logins of all of them (`anychat-cli` clients, the `BRAC_*`
//! C ABI); its forced finish, kick-out and friends reach users on every
//! server. Real `redis-server` and `anychat-server` processes.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{member, Redis};
use common::{call_to_start, poll, Bras, Cli, Server};

const ATTACHED: &str = "the business server is linked to that server";
const GONE: &str = "the business server of the cluster is gone";

/// Three core servers on one engine; the business server is to link to the first.
fn cluster(redis: &Redis, extra: &[&str]) -> (Server, Server, Server) {
    (member(redis, "s1", extra), member(redis, "s2", extra), member(redis, "s3", extra))
}

/// A business server linked to `home`; `others` have attached it.
fn bras_on(home: &Server, others: &[&Server], opts: &[&str]) -> Bras {
    let bras = Bras::start(home, opts);
    for s in others {
        s.expect_log(ATTACHED);
    }
    bras
}

/// How many lines the business server printed so far start with `prefix`.
fn count(bras: &mut Bras, prefix: &str) -> usize {
    bras.transcript().iter().filter(|l| l.starts_with(prefix)).count()
}

/// X calls Y, Y accepts, X hangs up: the business server sees the Request,
/// the acceptance, START and FINISH once each (with `servers` synchronised).
fn seen_once(bras: &mut Bras, servers: [&Server; 2], x: &mut Cli, y: &mut Cli) {
    let (ix, iy) = (x.user_id, y.user_id);
    call_to_start(x, y);
    assert_eq!(x.cmd(&format!("finish {iy} 9")), 0);
    x.expect_call("FINISH", iy, 9);
    y.expect_call("FINISH", ix, 9);
    let request = format!("request REQUEST src={ix} tar={iy} code=0 ");
    let reply = format!("note REPLY src={iy} tar={ix} code=0 ");
    let start = format!("note START src={ix} tar={iy} code=0 ");
    let finish = format!("note FINISH src={ix} tar={iy} code=9 ");
    for l in [&request, &reply, &start, &finish] {
        bras.expect(l);
    }
    // Synchronise: a login on each server is reported after anything that
    // server told the business server before it.
    for (i, s) in servers.into_iter().enumerate() {
        let u = Cli::login(s, &format!("sync{i}-{iy}"), &[]);
        bras.expect(&format!("login user={} ", u.user_id));
    }
    for l in [&request, &reply, &start, &finish] {
        assert_eq!(count(bras, l), 1, "'{l}' in {:#?}", bras.transcript());
    }
}

/// Linked to server 1, the business server vetoes a call between users of
/// servers 2 and 3, sees each call (across servers 2–3, within server 2)
/// exactly once, and its forced finish ends calls held on either server,
/// naming either party. A second business server is refused on another
/// server of the cluster.
#[test]
fn business_server_on_one_server_decides_and_ends_calls_on_the_others() {
    let redis = Redis::start();
    let (s1, s2, s3) = cluster(&redis, &[]);
    let mut a = Cli::login(&s2, "alice", &[]);
    let mut c = Cli::login(&s2, "carol", &["--auto-accept"]);
    let mut b = Cli::login(&s3, "bob", &["--auto-accept"]);
    let mut v = Cli::login(&s3, "victor", &[]);
    let (ia, ib, iv) = (a.user_id, b.user_id, v.user_id);
    let mut bras = bras_on(&s1, &[&s2, &s3], &["--refuse-to", &format!("{iv}:4242")]);

    // (a) A veto: the caller gets REPLY with its code, the callee never rings.
    assert_eq!(a.cmd(&format!("request {iv} 3 42 hi")), 0);
    a.expect_call("REPLY", iv, 4242);
    let q = bras.expect("request REQUEST ");
    assert_eq!(q, format!("request REQUEST src={ia} tar={iv} code=0 flags=3 param=42 str=hi -> 4242"));

    // (b) Across servers 2–3, and within server 2: each event once.
    seen_once(&mut bras, [&s2, &s3], &mut a, &mut b);
    seen_once(&mut bras, [&s2, &s3], &mut a, &mut c);
    // Each login once, from the server it happened on.
    assert_eq!(count(&mut bras, &format!("login user={ia} ")), 0, "logged in before the link");
    let d = Cli::login(&s2, "dave", &[]);
    bras.expect(&format!("login user={} name=dave ", d.user_id));
    let e = Cli::login(&s3, "erin", &[]);
    bras.expect(&format!("login user={} name=erin ", e.user_id));
    assert_eq!(count(&mut bras, &format!("login user={} ", d.user_id)), 1);

    // (d) Forced finish of a call held on server 3 (the callee's), naming
    // the callee, then naming the caller (whose home is server 2).
    for (who, code) in [(ib, 555), (ia, 556)] {
        call_to_start(&mut a, &mut b);
        assert_eq!(bras.cmd(&format!("finish {who} {code}")), 0);
        a.expect_call("FINISH", ib, code);
        b.expect_call("FINISH", ia, code);
        bras.expect(&format!("note FINISH src=0 tar={ib} code={code} "));
    }
    // And one ringing within server 2: both get REPLY(code).
    let mut f = Cli::login(&s2, "frank", &[]);
    assert_eq!(a.cmd(&format!("request {}", f.user_id)), 0);
    f.expect_call("REQUEST", ia, 0);
    a.expect_call("REPLY", f.user_id, 0);
    assert_eq!(bras.cmd(&format!("finish {} 4444", f.user_id)), 0);
    a.expect_call("REPLY", f.user_id, 4444);
    f.expect_call("REPLY", ia, 4444);

    // A second business server, on another server of the cluster: refused.
    let mut second = Bras::spawn("second", s2.business_port, Some(&s2.secret()), &[]);
    s2.expect_log("business server refused: another one is already linked");
    let g = Cli::login(&s3, "gina", &[]);
    bras.expect(&format!("login user={} name=gina ", g.user_id));
    second.assert_not_seen("link up");
    second.assert_not_seen("login ");
    v.assert_not_seen("call REQUEST");
}

/// Linked to server 1, the business server answers the login questions of
/// server 3 (a refusal with its code; an acceptance with its id and nick
/// name), kicks a user of server 3 out, fills friends and groups of users
/// of servers 2 and 3 from its login callback, reaches the members of a
/// room spanning servers once, and hears of the users of a server killed as
/// logged out.
#[test]
fn business_server_on_one_server_answers_logins_kicks_out_and_fills_friends_on_the_others() {
    let redis = Redis::start();
    let (s1, s2, s3) = cluster(&redis, &[]);
    let opts = ["--verify-refuse", "mallory:202", "--verify-id", "carol:9000", "--call-center"];
    let mut bras = bras_on(&s1, &[&s2, &s3], &opts);

    // (c) Login questions of server 3.
    let (_m, _, code) = Cli::try_login(&s3, "mallory", &[]);
    assert_eq!(code, 202);
    bras.expect("verify mallory -> 202");
    let mut carol = Cli::login(&s3, "carol", &[]);
    assert_eq!(carol.user_id, 9000);
    bras.expect("verify carol -> 0 id=9000");
    bras.expect("login user=9000 name=carol level=7 ");
    assert_eq!(carol.cmd("nick 9000"), 0);
    carol.expect("nick 9000 Nick-carol");
    bras.expect("callcenter user=9000 friends=0");

    // (e) Kick-out of a user of server 3.
    assert_eq!(bras.cmd("kick 9000 4321"), 0);
    carol.expect("notify LINKCLOSE 4321 0");
    bras.expect("logout user=9000 code=101");

    // (f) Friends and groups, filled in the login callback, reach users of
    // servers 2 and 3.
    let mut a = Cli::login(&s2, "alice", &[]);
    let ia = a.user_id;
    bras.expect(&format!("callcenter user={ia} friends=0"));
    let mut b = Cli::login(&s3, "bob", &[]);
    let ib = b.user_id;
    bras.expect(&format!("callcenter user={ib} friends=1"));
    poll(&mut a, "groups", "groups 1,2");
    poll(&mut a, "groupname 1", "groupname 1 agents");
    poll(&mut a, "friends", &format!("friends {ib}"));
    poll(&mut a, "groupfriends 1", &format!("groupfriends 1 {ib}"));
    poll(&mut a, "userinfo -1 1", "userinfo -1 1 alice");
    poll(&mut b, "friends", &format!("friends {ia}"));
    poll(&mut b, "groups", "groups 1,2");
    bras.assert_not_seen("callcenter-error");
    // Friends' status across servers: B's friend A (server 2) reads online
    // as soon as B's lists are announced (WM_GV_USERINFOUPDATE waited for
    // it); A hears that its friend B (server 3) logged in.
    b.expect("notify USERINFOUPDATE 0 0");
    assert_eq!(b.cmd(&format!("friendstatus {ia}")), 0);
    assert_eq!(b.expect("friendstatus "), format!("friendstatus {ia} 1"));
    // ... and its infos, which the business server set on server 2; a
    // change of them there reaches B.
    assert_eq!(b.cmd(&format!("userinfo {ia} 1")), 0);
    assert_eq!(b.expect("userinfo "), format!("userinfo {ia} 1 alice"));
    assert_eq!(bras.cmd(&format!("setinfo {ia} 1 Alice-2")), 0);
    b.expect(&format!("notify USERINFOUPDATE {ia} 1"));
    assert_eq!(b.cmd(&format!("userinfo {ia} 1")), 0);
    assert_eq!(b.expect("userinfo "), format!("userinfo {ia} 1 Alice-2"));
    a.expect(&format!("notify FRIENDSTATUS {ib} 1"));
    assert_eq!(a.cmd(&format!("friendstatus {ib}")), 0);
    assert_eq!(a.expect("friendstatus "), format!("friendstatus {ib} 1"));
    // B leaves and comes back: A hears both.
    b.quit();
    a.expect(&format!("notify FRIENDSTATUS {ib} 0"));
    let mut b = Cli::login(&s3, "bob", &[]);
    a.expect(&format!("notify FRIENDSTATUS {ib} 1"));

    // A room held by server 2 with a member of server 3: each entry is put
    // to the business server once, and its room buffer reaches each member once.
    for (c, id) in [(&mut a, ia), (&mut b, ib)] {
        assert_eq!(c.cmd("enter 100"), 0);
        c.expect("notify ENTERROOM 100 0");
        bras.expect(&format!("prepare user={id} room=100 -> 0"));
    }
    assert_eq!(bras.cmd("sendroom 100 hello"), 0);
    for (c, id) in [(&mut a, ia), (&mut b, ib)] {
        c.expect("filter len=5 data=hello");
        // Synchronise: a buffer for the user alone comes after any second copy.
        assert_eq!(bras.cmd(&format!("sendbuf {id} x")), 0);
        c.expect("filter len=1 data=x");
        let copies = c.transcript().iter().filter(|l| l.starts_with("filter len=5")).count();
        assert_eq!(copies, 1, "{}", c.name);
        assert_eq!(count(&mut bras, &format!("prepare user={id} ")), 1);
    }

    // Server 3 killed: the business server hears that its user is gone
    // (within the lease and a third of it), as a lost connection.
    s3.kill();
    bras.expect_within(&format!("logout user={ib} code=101"), Duration::from_secs(4));
    bras.assert_not_seen(&format!("logout user={ia} "));
    // ... and so does its friend on server 2: B is offline.
    a.expect_within(&format!("notify FRIENDSTATUS {ib} 0"), Duration::from_secs(4));
}

/// The business server unlinks: the other servers detach it and behave as
/// a server whose business server went away (questions wait, then 207);
/// one linking to another server is picked up by all; its server killed,
/// the others detach it within the lease (and a third of it).
#[test]
fn business_server_lost_and_linked_again_elsewhere() {
    let redis = Redis::start();
    let (s1, s2, s3) = cluster(&redis, &["--business-timeout", "1"]);
    let mut a = Cli::login(&s2, "alice", &[]);
    let mut b = Cli::login(&s2, "bob", &["--auto-accept"]);
    let (ia, ib) = (a.user_id, b.user_id);
    let mut first = bras_on(&s1, &[&s2, &s3], &[]);
    assert_eq!(a.cmd(&format!("request {ib}")), 0);
    a.expect_call("START", ib, 0);
    first.expect(&format!("request REQUEST src={ia} tar={ib} "));
    assert_eq!(a.cmd(&format!("finish {ib}")), 0);
    b.expect_call("FINISH", ia, 0);

    first.kill_now();
    s2.expect_log(GONE);
    s3.expect_log(GONE);
    assert_eq!(a.cmd(&format!("request {ib}")), 0);
    a.expect_call("REPLY", ib, 207);
    let rang = b.transcript().iter().filter(|l| l.starts_with("call REQUEST")).count();
    assert_eq!(rang, 1, "the callee rang only for the first call");

    // Another one, linked to server 3, decides the calls of server 2.
    let mut second = bras_on(&s3, &[&s1, &s2], &["--refuse-to", &format!("{ib}:4343")]);
    assert_eq!(a.cmd(&format!("request {ib}")), 0);
    a.expect_call("REPLY", ib, 4343);
    second.expect(&format!("request REQUEST src={ia} tar={ib} "));

    // Its server dies: the others detach it within the lease (1.5 s) and a third of it.
    let t = Instant::now();
    s3.kill();
    s2.expect_log(GONE);
    let took = t.elapsed();
    assert!(took <= Duration::from_millis(2500), "detached after {took:?}");
    assert_eq!(a.cmd(&format!("request {ib}")), 0);
    a.expect_call("REPLY", ib, 207);
}
