//! TLS end to end: real `anychat-cli` and `anychat-bras-cli` processes (the
//! `BRAC_*` / `BRAS_*` C ABI) and a real `anychat-server` with its TLS
//! listener (`--tls-listen`) and a TLS business listener (`--business-tls`,
//! `--business-client-ca`). Certificates are made at test time.

#[path = "support/certs.rs"]
mod certs;
mod common;

use std::time::Duration;

use certs::Pki;
use common::{Bras, Cli, Server};

/// A CA and a certificate for the core server valid for `names`.
struct CorePki {
    pki: Pki,
    ca: certs::Ca,
    core: certs::Leaf,
}

fn core_pki(tag: &str, names: &[&str]) -> CorePki {
    let pki = Pki::new(tag);
    let ca = pki.ca("core");
    let core = pki.leaf(&ca, "core", names, false);
    CorePki { pki, ca, core }
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// A server with a TLS listener using `p`'s certificate, plus `extra` flags.
fn tls_server(p: &CorePki, extra: &[&str]) -> Server {
    let mut args =
        vec!["--tls-listen", "127.0.0.1:0", "--tls-cert", path(&p.core.cert), "--tls-key", path(&p.core.key)];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Connects (`connect ADDR PORT`) and logs in as `name`; returns the user id.
fn connect_and_login(cli: &mut Cli, addr: &str, port: u16, name: &str) -> u32 {
    cli.send(&format!("connect {addr} {port}"));
    cli.expect("ret connect 0");
    cli.expect("notify CONNECT 1 0");
    cli.send(&format!("login {name}"));
    cli.expect("ret login 0");
    let line = cli.expect("notify LOGINSYSTEM ");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], "0", "{name}: login failed: {line}");
    fields[2].parse().unwrap()
}

#[test]
// It streams raw video, which the library encodes with H.264.
#[cfg_attr(not(feature = "h264"), ignore)]
fn a_client_logs_in_and_calls_over_tls() {
    let p = core_pki("login", &["localhost", "127.0.0.1"]);
    let server = tls_server(&p, &[]);

    let mut alice = Cli::spawn_env("alice", &["--auto-enter"], &[("ANYCHAT_TLS_CA", path(&p.ca.cert))]);
    alice.user_id = connect_and_login(&mut alice, "tls://127.0.0.1", server.tls_port, "alice");
    // Bob on plain TCP, straight to the server.
    let mut bob = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);

    // A call both ways through the TLS link, then buffers in the call's room.
    assert_eq!(alice.cmd(&format!("request {} 3 0 over tls", bob.user_id)), 0);
    bob.expect_call("REQUEST", alice.user_id, 0);
    alice.expect_call("REPLY", bob.user_id, 0);
    let start = alice.expect_call("START", bob.user_id, 0);
    bob.expect_call("START", alice.user_id, 0);
    assert!(start.contains("flags=3"), "{start}");
    alice.expect("ret auto-enter 0");
    bob.expect("ret auto-enter 0");
    alice.expect("notify ENTERROOM ");
    bob.expect("notify ENTERROOM ");
    let big = "x".repeat(30_000);
    assert_eq!(bob.cmd(&format!("trans {} {big}", alice.user_id)), 0);
    assert_eq!(alice.expect("trans "), format!("trans from={} len=30000 data={big}", bob.user_id));
    assert_eq!(alice.cmd(&format!("trans {} pong", bob.user_id)), 0);
    assert_eq!(bob.expect("trans "), format!("trans from={} len=4 data=pong", alice.user_id));
    // Media both ways (H.264 and PCM): alice's uplink goes through her TLS
    // link's bounded queues, bob's stream comes down through it.
    let (aid, bid) = (alice.user_id, bob.user_id);
    for (rx, of) in [(&mut alice, bid), (&mut bob, aid)] {
        assert_eq!(rx.cmd(&format!("camera {of} 1")), 0);
        assert_eq!(rx.cmd(&format!("mic {of} 1")), 0);
    }
    assert_eq!(alice.cmd("stream 2 320 240 15"), 0);
    assert_eq!(bob.cmd("stream 2 320 240 15"), 0);
    for (rx, from) in [(&mut alice, bid), (&mut bob, aid)] {
        for _ in 0..10 {
            rx.expect_within(&format!("video from={from} w=320 h=240 "), Duration::from_secs(30));
        }
        rx.expect_within(&format!("audio from={from} "), Duration::from_secs(30));
    }
    for tx in [&mut alice, &mut bob] {
        tx.expect_within("streamed ", Duration::from_secs(30));
    }
    assert_eq!(alice.cmd(&format!("finish {}", bob.user_id)), 0);
    bob.expect_call("FINISH", alice.user_id, 0);
    let alice_id = alice.user_id;
    alice.quit();
    bob.expect(&format!("notify USERATROOM {alice_id} 0"));
}

#[test]
fn a_legacy_app_gets_tls_from_the_environment() {
    // A certificate for a name only: the app connects by IP address.
    let p = core_pki("legacy", &["anychat.test"]);
    let server = tls_server(&p, &[]);
    let ca = path(&p.ca.cert);

    let env = [("ANYCHAT_TLS", "1"), ("ANYCHAT_TLS_CA", ca), ("ANYCHAT_TLS_SERVER_NAME", "anychat.test")];
    let mut app = Cli::spawn_env("legacy", &[], &env);
    connect_and_login(&mut app, "127.0.0.1", server.tls_port, "legacy");

    // Without the name override the certificate does not match the address.
    let mut app2 = Cli::spawn_env("legacy2", &[], &[("ANYCHAT_TLS", "1"), ("ANYCHAT_TLS_CA", ca)]);
    app2.send(&format!("connect 127.0.0.1 {}", server.tls_port));
    app2.expect("ret connect 0");
    app2.expect("notify CONNECT 0 0");
    let log = app2.expect_log("NotValidForName");
    assert!(log.contains("WARN") && log.contains("over TLS"), "{log}");
}

#[test]
fn tls_failures_are_connect_failures_with_a_warning() {
    let p = core_pki("fail", &["localhost", "127.0.0.1"]);
    let other = p.pki.ca("other");
    let server = tls_server(&p, &[]);
    let connect_fails = |cli: &mut Cli, addr: &str, port: u16| {
        cli.send(&format!("connect {addr} {port}"));
        cli.expect("ret connect 0");
        cli.expect("notify CONNECT 0 0");
    };

    // A server whose CA the client does not trust.
    let mut cli = Cli::spawn_env("untrusting", &[], &[("ANYCHAT_TLS_CA", path(&other.cert))]);
    connect_fails(&mut cli, "tls://127.0.0.1", server.tls_port);
    let log = cli.expect_log("UnknownIssuer");
    assert!(log.contains("WARN") && log.contains("not issued by a trusted CA"), "{log}");
    server.expect_log("TLS error");
    // The SDK stays usable: plain TCP to the server itself.
    connect_and_login(&mut cli, "127.0.0.1", server.port, "untrusting");

    // A CA file that does not exist.
    let missing = p.pki.path("missing-ca.pem");
    let mut cli = Cli::spawn_env("no-ca-file", &[], &[("ANYCHAT_TLS_CA", path(&missing))]);
    connect_fails(&mut cli, "tls://127.0.0.1", server.tls_port);
    let log = cli.expect_log("missing-ca.pem");
    assert!(log.contains("WARN") && log.contains("cannot open"), "{log}");

    // A typo in ANYCHAT_TLS never means plain TCP.
    let mut cli = Cli::spawn_env("typo", &[], &[("ANYCHAT_TLS", "ture")]);
    connect_fails(&mut cli, "127.0.0.1", server.port);
    cli.expect_log("ANYCHAT_TLS: 'ture' is not 1 or 0");

    // TLS to a plain-TCP port: the server closes on the first bytes.
    let mut cli = Cli::spawn_env("wrong-port", &[], &[("ANYCHAT_TLS_CA", path(&p.ca.cert))]);
    connect_fails(&mut cli, "tls://127.0.0.1", server.port);
    let log = cli.expect_log("over TLS");
    assert!(log.contains("handshake"), "{log}");
    server.expect_log("bad frame");
}

#[test]
fn the_business_link_runs_over_mutual_tls() {
    let p = core_pki("bras", &["localhost", "127.0.0.1"]);
    let clients = p.pki.ca("business-clients");
    let bras_cert = p.pki.leaf(&clients, "bras", &["bras.test"], true);
    let (cert, key) = (path(&p.core.cert), path(&p.core.key));
    let server = Server::start(&[
        "--business-tls",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--business-client-ca",
        path(&clients.cert),
    ]);
    let addr = format!("tls://127.0.0.1:{}", server.business_port);
    let ca = path(&p.ca.cert);
    let secret = server.secret();

    // Without a client certificate: refused, and the library says why.
    let env = [("ANYCHAT_CORE_ADDR", addr.as_str()), ("ANYCHAT_TLS_CA", ca), ("ANYCHAT_BUSINESS_SECRET", &secret)];
    let mut rogue = Bras::spawn_env("no-cert", 0, &[], &env);
    let log = rogue.expect_log("cannot link to the core server over TLS");
    assert!(log.contains("CertificateRequired"), "{log}");
    server.expect_log("TLS error");
    rogue.quit();

    // Plain TCP to the TLS business listener: not a business server.
    let mut plain = Bras::spawn("plain", server.business_port, Some(&secret), &[]);
    server.expect_log("TLS error");
    plain.assert_not_seen("link up");

    // With it: linked, and questions and answers flow (the login of carol
    // is put to the business server, which gives her id 4321).
    let env = [
        ("ANYCHAT_CORE_ADDR", addr.as_str()),
        ("ANYCHAT_TLS_CA", ca),
        ("ANYCHAT_TLS_CERT", path(&bras_cert.cert)),
        ("ANYCHAT_TLS_KEY", path(&bras_cert.key)),
        ("ANYCHAT_BUSINESS_SECRET", &secret),
    ];
    let mut bras = Bras::spawn_env("bras", 0, &["--verify-id", "carol:4321"], &env);
    bras.expect("link up");
    let (_carol, id, code) = Cli::try_login(&server, "carol", &[]);
    assert_eq!((id, code), (4321, 0));
    bras.expect("verify carol -> 0 id=4321");
    bras.expect("login user=4321 name=carol");
}

/// Flags that make no TLS set-up are refused at start, naming what is wrong.
#[test]
fn bad_tls_flags_are_refused_at_start() {
    let p = core_pki("flags", &["localhost"]);
    let missing = p.pki.path("nope.pem");
    for (args, says) in [
        (vec!["--tls-listen", "127.0.0.1:0", "--tls-cert", path(&p.core.cert)], "both --tls-cert and --tls-key"),
        (vec!["--tls-listen", "127.0.0.1:0", "--tls-cert", path(&missing), "--tls-key", path(&p.core.key)], "nope.pem"),
        (vec!["--business-client-ca", path(&p.ca.cert)], "--business-client-ca needs --business-tls"),
        (vec!["--tls-cert", path(&p.core.cert), "--tls-key", path(&p.core.key)], "need --tls-listen or --business-tls"),
    ] {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_anychat-server"))
            .args(["--listen", "127.0.0.1:0", "--business-listen", "off", "--records", "off"])
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run anychat-server");
        // It must stop by itself; a server that started is killed and fails the test.
        let pid = child.id() as i32;
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        let Ok(out) = rx.recv_timeout(common::WAIT) else {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{args:?}: the server started instead of refusing the flags");
        };
        let out = out.expect("wait for anychat-server");
        let (status, err) = (out.status, String::from_utf8_lossy(&out.stderr).into_owned());
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
