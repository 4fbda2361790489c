//! Friends, groups and user infos through the business server, end to end:
//! a real core server, a business server (`anychat-bras-cli`, the `BRAS_*`
//! C ABI) filling its users' lists with `BRAS_UserInfoControl` and
//! `BRAS_SetUserInfo` — from inside its login callback, as the vendor's
//! call-center sample does (`--call-center`), or by command — and client
//! processes (`anychat-cli`, the `BRAC_*` C ABI) reading them
//! (`BRAC_GetUserFriends`, `BRAC_GetFriendStatus`, `BRAC_GetUserGroups`,
//! `BRAC_GetGroupFriends`, `BRAC_GetGroupName`, `BRAC_GetUserInfo`) and
//! told of changes (`WM_GV_USERINFOUPDATE`, `WM_GV_FRIENDSTATUS`).

mod common;

use common::{poll, query, Bras, Cli, Server};

/// The vendor's call-center flow: the business server fills each newcomer's
/// groups and friends (everyone online) and adds the newcomer to everyone's
/// lists from inside its login callback. Clients list their friends and
/// groups, read their friends' infos, see a friend go offline and come back
/// (`WM_GV_FRIENDSTATUS`), get `WM_GV_USERINFOUPDATE` when an info changes,
/// and call a friend found in a group.
#[test]
fn call_center_lists_friends_and_groups_and_calls_a_friend() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &["--call-center"]);
    let mut a = Cli::login(&server, "alice", &[]);
    let ia = a.user_id;
    bras.expect(&format!("callcenter user={ia} friends=0"));
    a.expect("notify USERINFOUPDATE 0 0");
    poll(&mut a, "groups", "groups 1,2");
    poll(&mut a, "groupname 1", "groupname 1 agents");
    poll(&mut a, "groupname 2", "groupname 2 guests");
    poll(&mut a, "friends", "friends ");
    poll(&mut a, "userinfo -1 1", "userinfo -1 1 alice");
    poll(&mut a, "userinfo -1 2", "userinfo -1 2 127.0.0.1");

    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    let ib = b.user_id;
    bras.expect(&format!("callcenter user={ib} friends=1"));
    poll(&mut a, "friends", &format!("friends {ib}"));
    poll(&mut b, "friends", &format!("friends {ia}"));
    poll(&mut a, &format!("friendstatus {ib}"), &format!("friendstatus {ib} 1"));
    poll(&mut a, "groupfriends 1", &format!("groupfriends 1 {ib}"));
    poll(&mut a, "groupfriends 2", "groupfriends 2 ");
    poll(&mut a, &format!("userinfo {ib} 1"), &format!("userinfo {ib} 1 bob"));
    poll(&mut b, &format!("userinfo {ia} 1"), &format!("userinfo {ia} 1 alice"));
    poll(&mut b, "groupfriends 1", &format!("groupfriends 1 {ia}"));

    // A guest lands in group 2 of everyone's lists.
    let g = Cli::login(&server, "guest1", &[]);
    let ig = g.user_id;
    bras.expect(&format!("callcenter user={ig} friends=2"));
    poll(&mut a, "friends", &format!("friends {ib},{ig}"));
    poll(&mut a, "groupfriends 2", &format!("groupfriends 2 {ig}"));
    poll(&mut b, "groupfriends 2", &format!("groupfriends 2 {ig}"));

    // The guest goes offline: its friends are told, and it stays a friend.
    g.quit();
    a.expect(&format!("notify FRIENDSTATUS {ig} 0"));
    b.expect(&format!("notify FRIENDSTATUS {ig} 0"));
    poll(&mut a, &format!("friendstatus {ig}"), &format!("friendstatus {ig} 0"));
    poll(&mut a, "friends", &format!("friends {ib},{ig}"));
    // And comes back (same id: the core server keeps it for the name).
    let g = Cli::login(&server, "guest1", &[]);
    assert_eq!(g.user_id, ig);
    a.expect(&format!("notify FRIENDSTATUS {ig} 1"));
    b.expect(&format!("notify FRIENDSTATUS {ig} 1"));
    poll(&mut a, &format!("friendstatus {ig}"), &format!("friendstatus {ig} 1"));

    // An info changes: the user and those who have it as a friend are told.
    assert_eq!(bras.cmd(&format!("setinfo {ib} 3 on a call")), 0);
    b.expect(&format!("notify USERINFOUPDATE {ib} 3"));
    a.expect(&format!("notify USERINFOUPDATE {ib} 3"));
    poll(&mut a, &format!("userinfo {ib} 3"), &format!("userinfo {ib} 3 on a call"));
    // A group renamed.
    assert_eq!(bras.cmd(&format!("groupname {ia} 1 team")), 0);
    poll(&mut a, "groupname 1", "groupname 1 team");

    // Alice calls the friend she finds in her first group.
    let (code, line) = query(&mut a, "groupfriends 1");
    assert_eq!(code, 0);
    let peer: u32 = line.rsplit(' ').next().unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(peer, ib);
    assert_eq!(a.cmd(&format!("request {peer}")), 0);
    b.expect_call("REQUEST", ia, 0);
    a.expect_call("REPLY", ib, 0);
    a.expect_call("START", ib, 0);
    b.expect_call("START", ia, 0);
    bras.assert_not_seen("callcenter-error");
}

/// The controls one by one, by command: the lists change, and the codes
/// `BRAS_UserInfoControl` returns for bad arguments, FUNCCTRL and the
/// app-defined codes.
#[test]
fn user_info_controls_by_command() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let b = Cli::login(&server, "bob", &[]);
    let (ia, ib) = (a.user_id, b.user_id);

    assert_eq!(bras.cmd(&format!("addgroup {ia} 5 客户")), 0);
    assert_eq!(bras.cmd(&format!("setrelation {ia} 5 {ib}")), 0);
    a.expect("notify USERINFOUPDATE 0 0");
    poll(&mut a, "groupfriends 5", &format!("groupfriends 5 {ib}"));
    poll(&mut a, "groupname 5", "groupname 5 客户");
    poll(&mut a, "friends", &format!("friends {ib}"));
    assert_eq!(bras.cmd(&format!("addfriend {ia} 4242")), 0);
    poll(&mut a, "friends", &format!("friends {ib},4242"));
    poll(&mut a, "friendstatus 4242", "friendstatus 4242 0");
    assert_eq!(bras.cmd(&format!("delgroup {ia} 5")), 0);
    assert_eq!(bras.cmd(&format!("delfriend {ia} 4242")), 0);
    poll(&mut a, "groups", "groups ");
    poll(&mut a, "friends", &format!("friends {ib}"));
    assert_eq!(a.cmd("groupfriends 5"), 21);
    assert_eq!(a.cmd("friendstatus 4242"), 205);
    assert_eq!(bras.cmd(&format!("sync {ia}")), 0);
    poll(&mut a, "friends", &format!("friends {ib}"));

    let long = "x".repeat(300);
    for (line, code) in [
        (format!("addfriend {ia} 0"), 21),
        (format!("addfriend 0 {ib}"), 21),
        (format!("addgroup {ia} 0 zero"), 21),
        (format!("addgroup {ia} 6 {long}"), 21),
        (format!("setrelation {ia} 1 0"), 21),
        (format!("control {ia} 3 1 0"), 20),
        (format!("control {ia} 100 1 0"), 20),
        (format!("control {ia} 7 0 0"), 21),
        ("blockip".to_string(), 21),
    ] {
        assert_eq!(bras.cmd(&line), code, "{line}");
    }
}

/// Without a business server the lists are empty and the functions
/// succeed; before login they return 208.
#[test]
fn without_a_business_server_the_lists_are_empty() {
    let server = Server::start(&[]);
    let mut early = Cli::spawn("early", &[]);
    assert_eq!(early.cmd("friends"), 208);
    assert_eq!(early.cmd("groups"), 208);
    let mut a = Cli::login(&server, "alice", &[]);
    assert_eq!(query(&mut a, "friends"), (0, "friends ".to_string()));
    assert_eq!(query(&mut a, "groups"), (0, "groups ".to_string()));
    assert_eq!(a.cmd("friendstatus 2"), 205);
    assert_eq!(a.cmd("groupfriends 1"), 21);
    assert_eq!(a.cmd("groupname 1"), 21);
    assert_eq!(a.cmd("userinfo -1 1"), 205);
}

/// BLOCKIP: a client from a blocked address cannot connect
/// (`WM_GV_CONNECT(0)`) until UNBLOCKIP; users logged in stay.
#[test]
fn blockip_refuses_clients_until_unblockip() {
    let server = Server::start(&[]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let ia = a.user_id;
    // The business server's link is in order: once `a` has the buffer sent
    // after it, the core server has applied the rule.
    let sync = |bras: &mut Bras, a: &mut Cli, word: &str| {
        assert_eq!(bras.cmd(&format!("sendbuf {ia} {word}")), 0);
        a.expect(&format!("filter len={} data={word}", word.len()));
    };
    assert_eq!(bras.cmd("blockip 127.0.0.*"), 0);
    sync(&mut bras, &mut a, "blocked");
    let mut c = Cli::spawn("carol", &[]);
    c.send(&format!("connect 127.0.0.1 {}", server.port));
    c.expect("ret connect 0");
    c.expect("notify CONNECT 0 0");
    assert_eq!(a.cmd("friends"), 0, "a user logged in stays");

    assert_eq!(bras.cmd("unblockip 127.0.0.*"), 0);
    sync(&mut bras, &mut a, "open");
    Cli::login(&server, "carol", &[]);
}
