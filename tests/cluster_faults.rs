//! Faults of a cluster of core servers, with real `redis-server` and
//! `anychat-server` processes: a silent network cut between one server and
//! the engine (no RST, the bytes just stop) and its healing — made by a
//! blackholing proxy in this process, and by a real link taken down between
//! two network namespaces — and the engine restarted with persistence.
//! Bounds are asserted against the 1.5 s lease the servers run with.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{establish, member, member_at, member_via, Blackhole, Netns, Redis};
use common::{field, Cli, TempDir};

/// The servers' lease (`member`).
const LEASE: Duration = Duration::from_millis(1500);
/// A peer of a lost server hears of it within the lease and a third of it
/// (its lease checks); slack for the processes of a loaded machine.
const BOUND: Duration = Duration::from_millis(2000 + 700);

/// Waits for `line` on `cli` and returns how long after `since` it came.
fn within(cli: &mut Cli, line: &str, since: Instant) -> Duration {
    cli.expect_within(line, Duration::from_secs(6));
    since.elapsed()
}

fn call_line(event: &str, peer: &Cli, code: u32) -> String {
    format!("call {event} user={} code={code} ", peer.user_id)
}

/// After a heal: `from` calls `to` until the Request goes through (the
/// healed server is back in the cluster); `to` rings once. Returns how
/// long after `heal` it went through.
fn ring_once_healed(from: &mut Cli, to: &mut Cli, heal: Instant) -> Duration {
    let healed = loop {
        assert_eq!(from.cmd(&format!("request {}", to.user_id)), 0);
        let line = from.expect("call REPLY ");
        if field(&line, "code") == "0" {
            break heal.elapsed();
        }
        assert!(heal.elapsed() < Duration::from_secs(5), "no heal: {line}");
        std::thread::sleep(Duration::from_millis(50));
    };
    to.expect_call("REQUEST", from.user_id, 0);
    let lines = to.transcript();
    let rung = lines.iter().filter(|l| l.starts_with("call REQUEST ")).count();
    assert_eq!(rung, 1, "{}: {lines:?}", to.name);
    healed
}

/// Each of `clis` heard exactly one call end with 100106.
fn ended_once(clis: &mut [&mut Cli]) {
    for x in clis {
        let lines = x.transcript();
        let ends = lines.iter().filter(|l| l.contains(" code=100106 ")).count();
        assert_eq!(ends, 1, "{}: {lines:?}", x.name);
    }
}

#[test]
fn silent_cut_ends_calls_across_it_on_both_sides_within_the_lease_and_heals() {
    let redis = Redis::start();
    let proxy = Blackhole::start(redis.port);
    let s1 = member(&redis, "s1", &[]);
    let s2 = member_at(&proxy.url(), "s2", &[]);
    let s3 = member(&redis, "s3", &[]);
    let (acc, ent) = (["--auto-accept", "--auto-enter"], ["--auto-enter"]);
    // A (s1) in a call that s2 holds with B; C (s2) in a call that s3 holds
    // with D; H (s1) ringing I (s2); E and F in a call within s2.
    let mut a = Cli::login(&s1, "alice", &ent);
    let mut b = Cli::login(&s2, "bob", &acc);
    establish(&mut a, &mut b);
    let mut c = Cli::login(&s2, "carol", &ent);
    let mut d = Cli::login(&s3, "dave", &acc);
    establish(&mut c, &mut d);
    let mut h = Cli::login(&s1, "heidi", &[]);
    let mut i = Cli::login(&s2, "ivan", &[]);
    assert_eq!(h.cmd(&format!("request {}", i.user_id)), 0);
    i.expect_call("REQUEST", h.user_id, 0);
    h.expect_call("REPLY", i.user_id, 0);
    let mut e = Cli::login(&s2, "erin", &ent);
    let mut f = Cli::login(&s2, "frank", &acc);
    establish(&mut e, &mut f);
    let mut j = Cli::login(&s1, "judy", &[]);
    let mut k = Cli::login(&s2, "ken", &[]);

    let cut = Instant::now();
    proxy.cut();
    // A Request into the cut before s2's lease ran out is published (Redis
    // still counts s2's subscription) and lost: the caller hears
    // REPLY(100106) when the lease runs out, never a hang.
    assert_eq!(j.cmd(&format!("request {}", k.user_id)), 0);
    let mut took = vec![("request into the cut", within(&mut j, &call_line("REPLY", &k, 100106), cut))];
    // Both sides of every call across the cut end with 100106: the other
    // servers when s2's lease ran out, s2 when it knows its lease did.
    took.push(("s1: A, call held by s2", within(&mut a, &call_line("FINISH", &b, 100106), cut)));
    took.push(("s2: B, holder", within(&mut b, &call_line("FINISH", &a, 100106), cut)));
    took.push(("s2: C, call held by s3", within(&mut c, &call_line("FINISH", &d, 100106), cut)));
    took.push(("s3: D, holder", within(&mut d, &call_line("FINISH", &c, 100106), cut)));
    took.push(("s1: H, ringing", within(&mut h, &call_line("REPLY", &i, 100106), cut)));
    took.push(("s2: I, rung", within(&mut i, &call_line("REPLY", &h, 100106), cut)));
    for (what, t) in &took {
        eprintln!("cut → 100106: {what}: {t:?}");
        assert!(*t <= BOUND, "{what}: 100106 after {t:?} (lease {LEASE:?})");
    }
    s2.expect_log("lease ran out while the engine was unreachable");
    // The call within s2 went on, and new calls within a server work.
    assert_eq!(e.cmd(&format!("finish {} 7", f.user_id)), 0);
    e.expect_call("FINISH", f.user_id, 7);
    f.expect_call("FINISH", e.user_id, 7);
    establish(&mut e, &mut f);
    assert_eq!(f.cmd(&format!("finish {}", e.user_id)), 0);
    e.expect_call("FINISH", f.user_id, 0);
    f.expect_call("FINISH", e.user_id, 0);
    for x in [&mut e, &mut f] {
        let lines = x.transcript();
        assert!(!lines.iter().any(|l| l.contains("code=100106")), "{}: a call within s2 was cut", x.name);
    }
    // Now s2's users are offline for the others: REPLY(100102) at once.
    let t = Instant::now();
    assert_eq!(a.cmd(&format!("request {}", k.user_id)), 0);
    let offline = within(&mut a, &call_line("REPLY", &k, 100102), t);
    assert!(offline < Duration::from_secs(1), "offline after {offline:?}");
    // A login on s2 fails with 100 (no cluster-wide id), within a second.
    let t = Instant::now();
    let (_z, _, code) = Cli::try_login(&s2, "zed", &[]);
    let refused = t.elapsed();
    assert_eq!(code, 100);
    assert!(refused < Duration::from_millis(1500), "login refused after {refused:?}");
    // B logs in on s1 meanwhile: that login is the newer one.
    let mut b2 = Cli::login(&s1, "bob", &acc);
    assert_eq!(b2.user_id, b.user_id);

    let heal = Instant::now();
    proxy.heal();
    s2.expect_log("cluster engine reachable");
    // s2 sets its sessions again, but not B's: that session is closed as
    // a login elsewhere.
    let kicked = within(&mut b, "notify LINKCLOSE 209 0", heal);
    // B's key still names s1: D (s3) reaches B there.
    establish(&mut d, &mut b2);
    assert_eq!(d.cmd(&format!("finish {}", b2.user_id)), 0);
    b2.expect_call("FINISH", d.user_id, 0);
    // s2 is back in the cluster: a call across to it works again.
    let healed = ring_once_healed(&mut j, &mut k, heal);
    assert_eq!(k.cmd(&format!("reply {} 0", j.user_id)), 0);
    j.expect_call("START", k.user_id, 0);
    k.expect_call("START", j.user_id, 0);
    eprintln!("heal → LINKCLOSE(209) of the displaced session: {kicked:?}; → a call across works: {healed:?}");
    assert!(kicked < Duration::from_secs(2), "209 after {kicked:?}");
    // Each call across the cut ended exactly once, on both sides, and the
    // Request into the cut never rang.
    ended_once(&mut [&mut a, &mut b, &mut c, &mut d, &mut h, &mut i, &mut j]);
}

/// The cut of `docs/CLUSTER.md` with network namespaces: Redis, s1 and its
/// clients here; s2 and its clients in a namespace of their own, whose only
/// way out is a veth pair. The cut takes this side's end down: s2's
/// packets are lost, nothing is reset.
#[test]
fn cut_between_network_namespaces_ends_calls_across_it_and_heals() {
    let ns = Netns::new();
    let redis = Redis::start_also_on(&ns.host);
    let s1 = member(&redis, "s1", &[]);
    let s2 = member_via(&ns.exec(), &format!("{}:0", ns.addr), &redis.url_at(&ns.host), "s2", &[]);
    let in_ns = |name: &str, opts: &[&str]| Cli::login_with(&s2, name, Cli::spawn_via(&ns.exec(), name, opts));
    let (acc, ent) = (["--auto-accept", "--auto-enter"], ["--auto-enter"]);
    // A (s1) in a call that s2 holds with B; C (s2) in a call that s1 holds
    // with D; E and F in a call within s2.
    let mut a = Cli::login(&s1, "alice", &ent);
    let mut b = in_ns("bob", &acc);
    let held_by_s2 = establish(&mut a, &mut b);
    let mut c = in_ns("carol", &ent);
    let mut d = Cli::login(&s1, "dave", &acc);
    let held_by_s1 = establish(&mut c, &mut d);
    assert_ne!(held_by_s1, held_by_s2, "call room ids are the cluster's, not a server's");
    let mut e = in_ns("erin", &ent);
    let mut f = in_ns("frank", &acc);
    establish(&mut e, &mut f);

    let cut = Instant::now();
    ns.cut();
    let took = [
        ("s1: A, call held by s2", within(&mut a, &call_line("FINISH", &b, 100106), cut)),
        ("s2: B, holder", within(&mut b, &call_line("FINISH", &a, 100106), cut)),
        ("s2: C, call held by s1", within(&mut c, &call_line("FINISH", &d, 100106), cut)),
        ("s1: D, holder", within(&mut d, &call_line("FINISH", &c, 100106), cut)),
    ];
    for (what, t) in &took {
        eprintln!("namespace cut → 100106: {what}: {t:?}");
        assert!(*t <= BOUND, "{what}: 100106 after {t:?} (lease {LEASE:?})");
    }
    s2.expect_log("lease ran out while the engine was unreachable");
    // The call within s2 went on.
    assert_eq!(e.cmd(&format!("finish {} 7", f.user_id)), 0);
    f.expect_call("FINISH", e.user_id, 7);
    // B logs in on s1 during the cut: the newer login.
    let mut b2 = Cli::login(&s1, "bob", &acc);
    assert_eq!(b2.user_id, b.user_id);

    let heal = Instant::now();
    ns.heal();
    s2.expect_log("cluster engine reachable");
    let kicked = within(&mut b, "notify LINKCLOSE 209 0", heal);
    // A call across works again, both ways.
    let healed = ring_once_healed(&mut a, &mut c, heal);
    assert_eq!(c.cmd(&format!("reply {} 0", a.user_id)), 0);
    a.expect_call("START", c.user_id, 0);
    c.expect_call("START", a.user_id, 0);
    establish(&mut e, &mut b2);
    eprintln!(
        "namespace heal → LINKCLOSE(209) of the displaced session: {kicked:?}; → a call across works: {healed:?}"
    );
    assert!(kicked < Duration::from_secs(2), "209 after {kicked:?}");
    // Each call across the cut ended exactly once, on both sides.
    ended_once(&mut [&mut a, &mut b, &mut c, &mut d]);
    assert!(!e.transcript().iter().any(|l| l.contains("code=100106")), "the call within s2 was cut");
}

#[test]
fn engine_restarted_with_persistence_keeps_ids() {
    let dir = TempDir::new("redis");
    let port = common::free_port();
    let redis = Redis::start_persistent(port, &dir.0);
    let s1 = member(&redis, "s1", &[]);
    let s2 = member(&redis, "s2", &[]);
    let s3 = member(&redis, "s3", &[]);
    let ann = Cli::login(&s1, "ann", &[]);
    let ben = Cli::login(&s2, "ben", &[]);
    let cid = Cli::login(&s3, "cid", &[]);
    // Killed (kill -9) and started again on its files.
    drop(redis);
    for s in [&s1, &s2, &s3] {
        s.expect_log("cluster engine unreachable");
    }
    let _redis = Redis::start_persistent(port, &dir.0);
    for s in [&s1, &s2, &s3] {
        s.expect_log("cluster engine reachable");
    }
    // The same names keep their ids on any server; a new name gets a new one.
    let mut ann2 = Cli::login(&s2, "ann", &["--auto-accept"]);
    assert_eq!(ann2.user_id, ann.user_id);
    let ben2 = Cli::login(&s3, "ben", &[]);
    assert_eq!(ben2.user_id, ben.user_id);
    let mut dan = Cli::login(&s3, "dan", &[]);
    assert!(![ann.user_id, ben.user_id, cid.user_id].contains(&dan.user_id), "a new id: {}", dan.user_id);
    // Calls across servers work on the restarted engine.
    assert_eq!(dan.cmd(&format!("request {}", ann2.user_id)), 0);
    ann2.expect_call("REQUEST", dan.user_id, 0);
    dan.expect_call("START", ann2.user_id, 0);
}
