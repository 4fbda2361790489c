//! TLS on the libraries' links, end to end: real `anychat-cli` and
//! `anychat-bras-cli` processes (the `BRAC_*` / `BRAS_*` C ABI) reach a real
//! `anychat-server` through a small TLS-terminating proxy (TLS in, plain
//! TCP out), written here on [`anychat::tls::Stream`] the way the server's
//! loop will use it. Certificates are made at test time.

#[path = "support/certs.rs"]
mod certs;
mod common;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anychat::tls::{self, ServerConfig, Stream};
use certs::Pki;
use common::{Bras, Cli, Server, WAIT};
use crossbeam_channel::{Receiver, Sender};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Bytes a proxy direction buffers before it stops reading its source.
const CAP: usize = 256 * 1024;

/// A TLS-terminating proxy on a loopback port: each connection accepted is
/// a TLS session ([`Stream::tls_server`]) whose plaintext goes to a plain
/// TCP connection to `upstream`, and back. It reports TLS failures on a
/// channel. Stopped when dropped.
struct Proxy {
    port: u16,
    events: Receiver<String>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One side of a proxied connection, as the server's loop holds one.
struct Side {
    stream: Stream,
    token: Token,
    /// Bytes for this side, and how much of them was written.
    out: Vec<u8>,
    written: usize,
    writable: bool,
}

impl Side {
    fn pending(&self) -> usize {
        self.out.len() - self.written
    }

    /// Writes `out` until `WouldBlock`; true if anything went out.
    fn flush(&mut self) -> io::Result<bool> {
        let mut progress = false;
        self.stream.write_pending()?;
        while self.pending() > 0 {
            match self.stream.write(&self.out[self.written..]) {
                Ok(n) => {
                    self.written += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.pending() == 0 {
            self.out.clear();
            self.written = 0;
        }
        Ok(progress)
    }

    /// WRITABLE interest while anything waits (ours or the stream's).
    fn interest(&mut self, poll: &Poll) {
        let want = self.pending() > 0 || self.stream.wants_write();
        if want != self.writable {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let _ = poll.registry().reregister(&mut self.stream, self.token, interest);
            self.writable = want;
        }
    }
}

/// Reads from `from` into `to.out` until `WouldBlock` or `CAP`: true if
/// anything was read; `Err` for a close (`Ok(0)`, as an error "closed") or
/// a failure.
fn pump(from: &mut Side, to: &mut Side, scratch: &mut [u8]) -> io::Result<bool> {
    let mut progress = false;
    while to.pending() < CAP {
        match from.stream.read(scratch) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed")),
            Ok(n) => {
                to.out.extend_from_slice(&scratch[..n]);
                progress = true;
                if n < scratch.len() && !from.stream.more_to_read() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(progress)
}

struct Pair {
    /// The TLS side (towards the library).
    down: Side,
    /// The plain side (towards the server).
    up: Side,
    handshake_reported: bool,
}

impl Proxy {
    fn start(upstream: u16, config: Arc<ServerConfig>) -> Proxy {
        let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        let poll = Poll::new().unwrap();
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE).unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, events) = crossbeam_channel::unbounded();
        let st = stop.clone();
        let upstream: SocketAddr = format!("127.0.0.1:{upstream}").parse().unwrap();
        let thread = std::thread::spawn(move || run_proxy(poll, listener, upstream, config, st, tx));
        Proxy { port, events, stop, waker, thread: Some(thread) }
    }

    /// Waits for a proxy event (e.g. a TLS failure) containing `needle`.
    fn expect(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            match self.events.recv_deadline(deadline) {
                Ok(e) if e.contains(needle) => return e,
                Ok(e) => seen.push(e),
                Err(_) => panic!("proxy: nothing containing '{needle}'; saw {seen:?}"),
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run_proxy(
    mut poll: Poll,
    listener: TcpListener,
    upstream: SocketAddr,
    config: Arc<ServerConfig>,
    stop: Arc<AtomicBool>,
    tx: Sender<String>,
) {
    let mut pairs: HashMap<usize, Pair> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(64);
    let mut scratch = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        if poll.poll(&mut events, None).is_err() {
            continue;
        }
        let mut touched = Vec::new();
        for ev in events.iter() {
            match ev.token() {
                LISTENER => loop {
                    let Ok((tcp, _)) = listener.accept() else { break };
                    let _ = tcp.set_nodelay(true);
                    let (Ok(down), Ok(up)) = (Stream::tls_server(tcp, config.clone()), TcpStream::connect(upstream))
                    else {
                        continue;
                    };
                    let key = next;
                    next += 1;
                    let mut down =
                        Side { stream: down, token: Token(2 + 2 * key), out: Vec::new(), written: 0, writable: false };
                    let mut up = Side {
                        stream: Stream::plain(up),
                        token: Token(3 + 2 * key),
                        out: Vec::new(),
                        written: 0,
                        writable: true,
                    };
                    poll.registry().register(&mut down.stream, down.token, Interest::READABLE).unwrap();
                    poll.registry()
                        .register(&mut up.stream, up.token, Interest::READABLE | Interest::WRITABLE)
                        .unwrap();
                    pairs.insert(key, Pair { down, up, handshake_reported: false });
                    touched.push(key);
                },
                WAKER => {}
                Token(t) => touched.push((t - 2) / 2),
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for key in touched {
            let Some(pair) = pairs.get_mut(&key) else { continue };
            if let Err(why) = step(pair, &mut scratch, &poll) {
                let _ = tx.send(why);
                if let Some(mut pair) = pairs.remove(&key) {
                    // Best effort: what is left for each side, a close_notify.
                    let _ = pair.down.flush();
                    let _ = pair.up.flush();
                    pair.down.stream.send_close_notify();
                    let _ = poll.registry().deregister(&mut pair.down.stream);
                    let _ = poll.registry().deregister(&mut pair.up.stream);
                }
                continue;
            }
            if !pair.handshake_reported && !pair.down.stream.is_handshaking() {
                pair.handshake_reported = true;
                let _ = tx.send("handshake done".into());
            }
        }
    }
}

/// Moves data both ways until nothing moves; `Err` says why the pair ends.
fn step(pair: &mut Pair, scratch: &mut [u8], poll: &Poll) -> Result<(), String> {
    loop {
        let mut progress = pump(&mut pair.down, &mut pair.up, scratch).map_err(|e| format!("library side: {e}"))?;
        progress |= pump(&mut pair.up, &mut pair.down, scratch).map_err(|e| format!("server side: {e}"))?;
        progress |= pair.up.flush().map_err(|e| format!("server side: {e}"))?;
        progress |= pair.down.flush().map_err(|e| format!("library side: {e}"))?;
        if !progress {
            break;
        }
    }
    pair.down.interest(poll);
    pair.up.interest(poll);
    Ok(())
}

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
fn a_client_logs_in_and_calls_over_tls() {
    let server = Server::start(&[]);
    let p = core_pki("login", &["localhost", "127.0.0.1"]);
    let proxy = Proxy::start(server.port, tls::server_config(&p.core.cert, &p.core.key, None).unwrap());

    let mut alice = Cli::spawn_env("alice", &["--auto-enter"], &[("ANYCHAT_TLS_CA", path(&p.ca.cert))]);
    alice.user_id = connect_and_login(&mut alice, "tls://127.0.0.1", proxy.port, "alice");
    proxy.expect("handshake done");
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
    let server = Server::start(&[]);
    // A certificate for a name only: the app connects by IP address.
    let p = core_pki("legacy", &["anychat.test"]);
    let proxy = Proxy::start(server.port, tls::server_config(&p.core.cert, &p.core.key, None).unwrap());
    let ca = path(&p.ca.cert);

    let env = [("ANYCHAT_TLS", "1"), ("ANYCHAT_TLS_CA", ca), ("ANYCHAT_TLS_SERVER_NAME", "anychat.test")];
    let mut app = Cli::spawn_env("legacy", &[], &env);
    connect_and_login(&mut app, "127.0.0.1", proxy.port, "legacy");
    proxy.expect("handshake done");

    // Without the name override the certificate does not match the address.
    let mut app2 = Cli::spawn_env("legacy2", &[], &[("ANYCHAT_TLS", "1"), ("ANYCHAT_TLS_CA", ca)]);
    app2.send(&format!("connect 127.0.0.1 {}", proxy.port));
    app2.expect("ret connect 0");
    app2.expect("notify CONNECT 0 0");
    let log = app2.expect_log("NotValidForName");
    assert!(log.contains("WARN") && log.contains("over TLS"), "{log}");
}

#[test]
fn tls_failures_are_connect_failures_with_a_warning() {
    let server = Server::start(&[]);
    let p = core_pki("fail", &["localhost", "127.0.0.1"]);
    let other = p.pki.ca("other");
    let proxy = Proxy::start(server.port, tls::server_config(&p.core.cert, &p.core.key, None).unwrap());
    let connect_fails = |cli: &mut Cli, addr: &str, port: u16| {
        cli.send(&format!("connect {addr} {port}"));
        cli.expect("ret connect 0");
        cli.expect("notify CONNECT 0 0");
    };

    // A server whose CA the client does not trust.
    let mut cli = Cli::spawn_env("untrusting", &[], &[("ANYCHAT_TLS_CA", path(&other.cert))]);
    connect_fails(&mut cli, "tls://127.0.0.1", proxy.port);
    let log = cli.expect_log("UnknownIssuer");
    assert!(log.contains("WARN") && log.contains("not issued by a trusted CA"), "{log}");
    proxy.expect("library side: TLS: the peer refused the session");
    // The SDK stays usable: plain TCP to the server itself.
    connect_and_login(&mut cli, "127.0.0.1", server.port, "untrusting");

    // A CA file that does not exist.
    let missing = p.pki.path("missing-ca.pem");
    let mut cli = Cli::spawn_env("no-ca-file", &[], &[("ANYCHAT_TLS_CA", path(&missing))]);
    connect_fails(&mut cli, "tls://127.0.0.1", proxy.port);
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
    let server = Server::start(&[]);
    let p = core_pki("bras", &["localhost", "127.0.0.1"]);
    let clients = p.pki.ca("business-clients");
    let bras_cert = p.pki.leaf(&clients, "bras", &["bras.test"], true);
    let config = tls::server_config(&p.core.cert, &p.core.key, Some(&clients.cert)).unwrap();
    let proxy = Proxy::start(server.business_port, config);
    let addr = format!("tls://127.0.0.1:{}", proxy.port);
    let ca = path(&p.ca.cert);

    // Without a client certificate: refused, and the library says why.
    let mut rogue = Bras::spawn_env("no-cert", 0, &[], &[("ANYCHAT_CORE_ADDR", &addr), ("ANYCHAT_TLS_CA", ca)]);
    proxy.expect("library side: TLS: the peer presented no certificate");
    let log = rogue.expect_log("cannot link to the core server over TLS");
    assert!(log.contains("CertificateRequired"), "{log}");
    rogue.quit();

    // With it: linked, and questions and answers flow (the login of carol
    // is put to the business server, which gives her id 4321).
    let env = [
        ("ANYCHAT_CORE_ADDR", addr.as_str()),
        ("ANYCHAT_TLS_CA", ca),
        ("ANYCHAT_TLS_CERT", path(&bras_cert.cert)),
        ("ANYCHAT_TLS_KEY", path(&bras_cert.key)),
    ];
    let mut bras = Bras::spawn_env("bras", 0, &["--verify-id", "carol:4321"], &env);
    bras.expect("link up");
    let (_carol, id, code) = Cli::try_login(&server, "carol", &[]);
    assert_eq!((id, code), (4321, 0));
    bras.expect("verify carol -> 0 id=4321");
    bras.expect("login user=4321 name=carol");
}
