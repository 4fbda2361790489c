//! `anychat::net::tls`: configurations from PEM files and the [`Stream`] over
//! real loopback sockets, driven by a mio loop written the way the server
//! and the libraries drive their sockets (read until `WouldBlock`, write
//! from an output buffer, WRITABLE interest only while something waits).
//! Certificates are made at test time (`support/certs.rs`). No sleeps: the
//! poll time-outs only guard against a hang.

#[path = "support/certs.rs"]
mod certs;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anychat::net::tls::{self, Stream, TlsError, TLS_BUFFER_LIMIT};
use certs::{Leaf, Pki};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};

/// Longest wait for any event before a test fails as hung.
const GUARD: Duration = Duration::from_secs(20);
const A: Token = Token(0);
const B: Token = Token(1);

/// A connected loopback TCP pair `(accepted, connecting)`, non-blocking;
/// with `buf`, both sockets' kernel buffers are set that small (before the
/// connection, so that the window stays small).
fn tcp_pair(buf: Option<usize>) -> (TcpStream, TcpStream) {
    let new = || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        if let Some(b) = buf {
            s.set_recv_buffer_size(b).unwrap();
            s.set_send_buffer_size(b).unwrap();
        }
        s
    };
    let listener = new();
    listener.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    listener.listen(8).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = new();
    client.connect(&addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    for s in [&server, &client] {
        s.set_nonblocking(true).unwrap();
        s.set_tcp_nodelay(true).unwrap();
    }
    (TcpStream::from_std(server.into()), TcpStream::from_std(client.into()))
}

/// One end of a connection, as an event loop holds it.
struct End {
    name: &'static str,
    stream: Stream,
    token: Token,
    /// The loop's own output buffer and how much of it was written.
    out: Vec<u8>,
    written: usize,
    /// Plaintext accepted by the stream, in total.
    accepted: usize,
    got: Vec<u8>,
    /// Bytes received, in total (`got` may be consumed).
    received: usize,
    closed: bool,
    error: Option<io::Error>,
    writable: bool,
    /// Largest `buffered_out()` seen after a write.
    max_buffered: usize,
    would_block: usize,
}

impl End {
    fn new(poll: &Poll, name: &'static str, mut stream: Stream, token: Token) -> End {
        poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).unwrap();
        End {
            name,
            stream,
            token,
            out: Vec::new(),
            written: 0,
            accepted: 0,
            got: Vec::new(),
            received: 0,
            closed: false,
            error: None,
            writable: true,
            max_buffered: 0,
            would_block: 0,
        }
    }

    fn done(&self) -> bool {
        self.closed || self.error.is_some()
    }

    /// One `read` into a buffer of `size`; true if it gave data.
    fn read_once(&mut self, size: usize) -> bool {
        let mut buf = vec![0u8; size];
        match self.stream.read(&mut buf) {
            Ok(0) => self.closed = true,
            Ok(n) => {
                self.got.extend_from_slice(&buf[..n]);
                self.received += n;
                return true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.error = Some(e),
        }
        false
    }

    /// Reads until `WouldBlock`, with the server loop's short-read shortcut.
    fn read_all(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        while !self.done() {
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    self.got.extend_from_slice(&buf[..n]);
                    self.received += n;
                    if n < buf.len() && !self.stream.more_to_read() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// Writes what is queued until `WouldBlock`; WRITABLE interest while
    /// anything waits (the loop's buffer or the stream's ciphertext).
    fn flush(&mut self, poll: &Poll) {
        if self.done() {
            return;
        }
        if let Err(e) = self.stream.write_pending() {
            self.error = Some(e);
            return;
        }
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => panic!("{}: write returned Ok(0) for a non-empty buffer", self.name),
                Ok(n) => {
                    self.written += n;
                    self.accepted += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.would_block += 1;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
            self.max_buffered = self.max_buffered.max(self.stream.buffered_out());
        }
        self.max_buffered = self.max_buffered.max(self.stream.buffered_out());
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
        let want = self.written < self.out.len() || self.stream.wants_write();
        if want != self.writable {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            poll.registry().reregister(&mut self.stream, self.token, interest).unwrap();
            self.writable = want;
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}: received {} closed {} error {:?} queued {} handshaking {}",
            self.name,
            self.received,
            self.closed,
            self.error,
            self.out.len() - self.written,
            self.stream.is_handshaking()
        )
    }
}

/// Drives both ends until `done`: every event reads its end until
/// `WouldBlock`; then `step` may move data; then both ends flush.
fn run(
    poll: &mut Poll,
    a: &mut End,
    b: &mut End,
    mut step: impl FnMut(&mut End, &mut End),
    done: impl Fn(&End, &End) -> bool,
) {
    let mut events = Events::with_capacity(16);
    let start = Instant::now();
    a.flush(poll);
    b.flush(poll);
    while !done(a, b) {
        poll.poll(&mut events, Some(GUARD)).unwrap();
        assert!(!events.is_empty() && start.elapsed() < 3 * GUARD, "stalled:\n  {}\n  {}", a.describe(), b.describe());
        for ev in events.iter() {
            let end = if ev.token() == a.token { &mut *a } else { &mut *b };
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                end.read_all();
            }
        }
        step(a, b);
        a.flush(poll);
        b.flush(poll);
    }
}

/// A repeatable byte pattern (not periodic at small sizes).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

struct Setup {
    pki: Pki,
    ca: certs::Ca,
    server: Leaf,
}

fn setup(tag: &str) -> Setup {
    let pki = Pki::new(tag);
    let ca = pki.ca("main");
    let server = pki.leaf(&ca, "server", &["localhost", "127.0.0.1"], false);
    Setup { pki, ca, server }
}

/// A TLS pair over loopback: (server end, client end).
fn tls_pair(
    poll: &Poll,
    server: Arc<tls::ServerConfig>,
    client: Arc<tls::ClientConfig>,
    name: &str,
    buf: Option<usize>,
) -> (End, End) {
    let (s, c) = tcp_pair(buf);
    let s = Stream::tls_server(s, server).unwrap();
    let c = Stream::tls_client(c, client, tls::server_name(name).unwrap()).unwrap();
    assert!(s.is_tls() && c.is_tls() && s.is_handshaking() && c.is_handshaking());
    (End::new(poll, "server", s, A), End::new(poll, "client", c, B))
}

fn echo(s: &mut End, _c: &mut End) {
    let got = std::mem::take(&mut s.got);
    s.out.extend_from_slice(&got);
}

#[test]
fn handshake_and_echo_both_ways() {
    let st = setup("echo");
    let server_cfg = tls::server_config(&st.server.cert, &st.server.key, None).unwrap();
    let client_cfg = tls::client_config(Some(&st.ca.cert), None).unwrap();

    // The handshake alone, timed.
    let mut poll = Poll::new().unwrap();
    let t0 = Instant::now();
    let (mut s, mut c) = tls_pair(&poll, server_cfg.clone(), client_cfg.clone(), "localhost", None);
    run(&mut poll, &mut s, &mut c, |_, _| {}, |s, c| !s.stream.is_handshaking() && !c.stream.is_handshaking());
    let handshake = t0.elapsed();
    eprintln!("figure: TLS handshake on loopback (debug build): {:.2} ms", handshake.as_secs_f64() * 1e3);

    // Data queued before the handshake (both sides), more than the
    // stream's buffer limit from the client, then echoed by the server.
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg, client_cfg, "127.0.0.1", None);
    let greeting = b"welcome from the server".to_vec();
    let msg = pattern(3 * TLS_BUFFER_LIMIT + 123, 1);
    s.out.extend_from_slice(&greeting);
    c.out.extend_from_slice(&msg);
    let total = greeting.len() + msg.len();
    run(&mut poll, &mut s, &mut c, echo, |s, c| c.received >= total || s.done() || c.done());
    assert!(s.error.is_none() && c.error.is_none(), "{}\n{}", s.describe(), c.describe());
    assert_eq!(&c.got[..greeting.len()], &greeting[..]);
    assert!(c.got[greeting.len()..] == msg[..], "echo differs");
    assert!(!s.stream.wants_write() && !c.stream.wants_write());

    // A clean close: close_notify, then the peer reads Ok(0).
    c.stream.send_close_notify();
    run(&mut poll, &mut s, &mut c, |_, _| {}, |s, _| s.done());
    assert!(s.closed && s.error.is_none(), "{}", s.describe());
}

#[test]
fn eof_without_close_notify_is_a_close() {
    let st = setup("eof");
    let server_cfg = tls::server_config(&st.server.cert, &st.server.key, None).unwrap();
    let client_cfg = tls::client_config(Some(&st.ca.cert), None).unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg, client_cfg, "localhost", None);
    c.out.extend_from_slice(b"last words");
    run(&mut poll, &mut s, &mut c, |_, _| {}, |s, _| s.received == 10);
    // The client's socket closes without a TLS close_notify.
    c.stream.tcp().shutdown(std::net::Shutdown::Write).unwrap();
    run(&mut poll, &mut s, &mut c, |_, _| {}, |s, _| s.done());
    assert!(s.closed && s.error.is_none(), "{}", s.describe());
    assert_eq!(s.got, b"last words");
}

#[test]
fn five_mb_through_a_slow_reader_stays_bounded() {
    const TOTAL: usize = 5 * 1024 * 1024;
    const SOCKET_BUF: usize = 32 * 1024;
    let st = setup("slow");
    let server_cfg = tls::server_config(&st.server.cert, &st.server.key, None).unwrap();
    let client_cfg = tls::client_config(Some(&st.ca.cert), None).unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg, client_cfg, "localhost", Some(SOCKET_BUF));
    // What the kernel may hold in between (it reports the doubled sizes).
    let kernel = {
        let ss = socket2::SockRef::from(s.stream.tcp());
        let cs = socket2::SockRef::from(c.stream.tcp());
        ss.send_buffer_size().unwrap()
            + ss.recv_buffer_size().unwrap()
            + cs.send_buffer_size().unwrap()
            + cs.recv_buffer_size().unwrap()
    };
    let data = pattern(TOTAL, 7);
    s.out = data.clone();
    let mut max_in_flight = 0;
    let mut events = Events::with_capacity(16);
    let start = Instant::now();
    s.flush(&poll);
    c.flush(&poll);
    let mut reader_may_have_more = true;
    while c.received < TOTAL {
        // The reader takes one small read per round: when it may have more,
        // the round does not wait for readiness.
        let timeout = if reader_may_have_more { Duration::ZERO } else { GUARD };
        poll.poll(&mut events, Some(timeout)).unwrap();
        assert!(reader_may_have_more || !events.is_empty(), "stalled:\n  {}\n  {}", s.describe(), c.describe());
        assert!(start.elapsed() < 6 * GUARD, "too slow");
        for ev in events.iter() {
            if ev.token() == A && (ev.is_readable() || ev.is_read_closed()) {
                s.read_all();
            }
        }
        reader_may_have_more = c.read_once(4 * 1024);
        s.flush(&poll);
        c.flush(&poll);
        assert!(!s.done() && !c.done(), "{}\n{}", s.describe(), c.describe());
        max_in_flight = max_in_flight.max(s.accepted - c.received);
    }
    let elapsed = start.elapsed();
    assert!(c.got == data, "the data differs");
    assert!(s.would_block > 0, "the writer never had to wait: the test did not test anything");
    // The stream's own buffer never exceeds its limit (plus record overhead).
    assert!(
        s.max_buffered <= TLS_BUFFER_LIMIT + 1024,
        "TLS buffer grew to {} (limit {TLS_BUFFER_LIMIT})",
        s.max_buffered
    );
    // Accepted but not yet read: the stream's buffer, the kernel's and
    // rustls's read side (at most a record or so), never the 5 MB.
    let bound = TLS_BUFFER_LIMIT + kernel + 64 * 1024;
    assert!(max_in_flight <= bound, "{max_in_flight} bytes in flight (bound {bound})");
    eprintln!(
        "figure: 5 MB through a slow reader (4 KiB reads, {SOCKET_BUF} B socket buffers): {:.1} MB/s, \
         writer blocked {} times, TLS buffer max {} B, in flight max {} B",
        TOTAL as f64 / 1e6 / elapsed.as_secs_f64(),
        s.would_block,
        s.max_buffered,
        max_in_flight
    );
}

#[test]
fn five_mb_throughput() {
    const TOTAL: usize = 5 * 1024 * 1024;
    let st = setup("fast");
    let server_cfg = tls::server_config(&st.server.cert, &st.server.key, None).unwrap();
    let client_cfg = tls::client_config(Some(&st.ca.cert), None).unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg, client_cfg, "localhost", None);
    run(&mut poll, &mut s, &mut c, |_, _| {}, |s, c| !s.stream.is_handshaking() && !c.stream.is_handshaking());
    let data = pattern(TOTAL, 9);
    c.out = data.clone();
    let start = Instant::now();
    run(&mut poll, &mut s, &mut c, |_, _| {}, |s, c| s.received >= TOTAL || s.done() || c.done());
    let elapsed = start.elapsed();
    assert!(s.got == data, "the data differs: {}", s.describe());
    assert!(c.max_buffered <= TLS_BUFFER_LIMIT + 1024, "TLS buffer grew to {}", c.max_buffered);
    eprintln!(
        "figure: 5 MB client -> server over TLS on loopback (debug build): {:.1} MB/s",
        TOTAL as f64 / 1e6 / elapsed.as_secs_f64()
    );
}

/// Runs a pair until both ends failed or closed; returns their errors.
fn until_both_fail(poll: &mut Poll, s: &mut End, c: &mut End) -> (String, String) {
    run(poll, s, c, |_, _| {}, |s, c| s.done() && c.done());
    let msg = |e: &End| match &e.error {
        Some(err) => {
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{}", e.describe());
            err.to_string()
        }
        None => "closed".into(),
    };
    let (se, ce) = (msg(s), msg(c));
    eprintln!("server: {se}\nclient: {ce}");
    (se, ce)
}

#[test]
fn a_client_that_does_not_trust_the_server_fails_clearly() {
    let st = setup("untrusted");
    let other = st.pki.ca("other");
    let server_cfg = tls::server_config(&st.server.cert, &st.server.key, None).unwrap();

    // Another CA.
    let client_cfg = tls::client_config(Some(&other.cert), None).unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg.clone(), client_cfg, "localhost", None);
    c.out.extend_from_slice(b"secret");
    let (se, ce) = until_both_fail(&mut poll, &mut s, &mut c);
    assert!(ce.contains("certificate is not accepted") && ce.contains("UnknownIssuer"), "client: {ce}");
    assert!(se.contains("alert"), "server: {se}");
    assert!(s.got.is_empty(), "the server got plaintext from a failed handshake");
    // Every later call repeats the error.
    let e = c.stream.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert_eq!(c.stream.write(b"x").unwrap_err().kind(), io::ErrorKind::InvalidData);

    // The right CA, the wrong name.
    let client_cfg = tls::client_config(Some(&st.ca.cert), None).unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg, client_cfg, "elsewhere.example", None);
    let (_se, ce) = until_both_fail(&mut poll, &mut s, &mut c);
    assert!(ce.contains("NotValidForName"), "client: {ce}");
}

#[test]
fn mutual_tls_requires_the_right_client_certificate() {
    let st = setup("mtls");
    let client_ca = st.pki.ca("clients");
    let good = st.pki.leaf(&client_ca, "bras", &["bras.test"], true);
    let rogue_ca = st.pki.ca("rogue");
    let rogue = st.pki.leaf(&rogue_ca, "rogue", &["bras.test"], true);
    let server_cfg = tls::server_config(&st.server.cert, &st.server.key, Some(&client_ca.cert)).unwrap();

    // No client certificate.
    let client_cfg = tls::client_config(Some(&st.ca.cert), None).unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg.clone(), client_cfg, "localhost", None);
    c.out.extend_from_slice(b"hello");
    let (se, ce) = until_both_fail(&mut poll, &mut s, &mut c);
    assert!(se.contains("no certificate"), "server: {se}");
    assert!(ce.contains("alert"), "client: {ce}");
    assert!(s.got.is_empty());

    // A certificate from another CA.
    let client_cfg = tls::client_config(Some(&st.ca.cert), Some((&rogue.cert, &rogue.key))).unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg.clone(), client_cfg, "localhost", None);
    c.out.extend_from_slice(b"hello");
    let (se, ce) = until_both_fail(&mut poll, &mut s, &mut c);
    assert!(se.contains("UnknownIssuer"), "server: {se}");
    assert!(ce.contains("alert"), "client: {ce}");
    assert!(s.got.is_empty());

    // The right one.
    let client_cfg = tls::client_config(Some(&st.ca.cert), Some((&good.cert, &good.key))).unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut s, mut c) = tls_pair(&poll, server_cfg, client_cfg, "localhost", None);
    c.out.extend_from_slice(b"hello");
    run(&mut poll, &mut s, &mut c, echo, |_, c| c.received >= 5 || c.done());
    assert_eq!(c.got, b"hello", "{}", c.describe());
}

#[test]
fn garbage_from_a_peer_is_invalid_data_not_a_panic() {
    let st = setup("garbage");
    let server_cfg = tls::server_config(&st.server.cert, &st.server.key, None).unwrap();
    let client_cfg = tls::client_config(Some(&st.ca.cert), None).unwrap();
    let mut inputs: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        // The protocol's own Hello, as a plain client would send it.
        vec![0, 0, 0, 8, 1, b'A', b'N', b'Y', b'C', 0, 1, 1],
        // A handshake record holding nonsense.
        [&[0x16, 0x03, 0x03, 0x00, 0x20][..], &pattern(32, 3)].concat(),
        // A record header announcing far too much.
        [&[0x17, 0x03, 0x03, 0xff, 0xff][..], &pattern(64, 4)].concat(),
    ];
    for seed in 0..12 {
        // Whole records (the length field matches) of every content type
        // around the valid ones, holding random bytes.
        let mut g = pattern(200 + seed as usize * 97, 100 + seed);
        let len = (g.len() - 5) as u16;
        g[0] = 0x14 + (seed as u8 % 6);
        g[3..5].copy_from_slice(&len.to_be_bytes());
        inputs.push(g);
    }
    for (i, garbage) in inputs.iter().enumerate() {
        // Garbage to a TLS server.
        let mut poll = Poll::new().unwrap();
        let (sock, peer) = tcp_pair(None);
        let mut s = End::new(&poll, "server", Stream::tls_server(sock, server_cfg.clone()).unwrap(), A);
        let mut p = End::new(&poll, "raw peer", Stream::plain(peer), B);
        p.out = garbage.clone();
        run(&mut poll, &mut s, &mut p, |_, _| {}, |s, _| s.done());
        let e = s.error.as_ref().unwrap_or_else(|| panic!("input {i}: no error: {}", s.describe()));
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "input {i}: {e}");
        assert!(s.got.is_empty());

        // Garbage to a TLS client (answering its ClientHello).
        let mut poll = Poll::new().unwrap();
        let (peer, sock) = tcp_pair(None);
        let name = tls::server_name("localhost").unwrap();
        let mut c = End::new(&poll, "client", Stream::tls_client(sock, client_cfg.clone(), name).unwrap(), A);
        let mut p = End::new(&poll, "raw peer", Stream::plain(peer), B);
        p.out = garbage.clone();
        run(&mut poll, &mut c, &mut p, |_, _| {}, |c, _| c.done());
        let e = c.error.as_ref().unwrap_or_else(|| panic!("input {i}: no error: {}", c.describe()));
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "input {i}: {e}");
    }
}

#[test]
fn a_plain_stream_passes_through() {
    let mut poll = Poll::new().unwrap();
    let (a, b) = tcp_pair(None);
    let mut s = End::new(&poll, "server", Stream::plain(a), A);
    let mut c = End::new(&poll, "client", Stream::plain(b), B);
    assert!(!s.stream.is_tls() && !s.stream.is_handshaking());
    let msg = pattern(300_000, 5);
    c.out = msg.clone();
    run(&mut poll, &mut s, &mut c, echo, |_, c| c.received >= msg.len() || c.done());
    assert!(c.got == msg);
    assert!(!c.stream.wants_write() && !c.stream.more_to_read() && c.stream.buffered_out() == 0);
    assert!(c.stream.peer_addr().is_ok() && c.stream.take_error().unwrap().is_none());
}

fn err_text<T: std::fmt::Debug>(r: Result<T, TlsError>) -> String {
    let e = r.expect_err("expected a TLS configuration error").to_string();
    eprintln!("{e}");
    e
}

#[test]
fn configuration_errors_name_the_file_and_the_problem() {
    let st = setup("config");
    let missing = st.pki.path("missing.pem");
    let empty = st.pki.write("empty.pem", "");
    let junk = st.pki.write("junk.pem", "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n");
    let other = st.pki.leaf(&st.ca, "other", &["localhost"], false);

    let e = err_text(tls::server_config(&missing, &st.server.key, None));
    assert!(e.contains("certificate chain") && e.contains("missing.pem") && e.contains("cannot open"), "{e}");
    let e = err_text(tls::server_config(&empty, &st.server.key, None));
    assert!(e.contains("empty.pem") && e.contains("no certificate"), "{e}");
    let e = err_text(tls::server_config(&junk, &st.server.key, None));
    assert!(e.contains("junk.pem") && e.contains("not valid PEM"), "{e}");
    // The certificate where the key should be.
    let e = err_text(tls::server_config(&st.server.cert, &st.server.cert, None));
    assert!(e.contains("private key") && e.contains("server.pem") && e.contains("no private key"), "{e}");
    // A key that belongs to another certificate.
    let e = err_text(tls::server_config(&st.server.cert, &other.key, None));
    assert!(e.contains("server.pem") && e.contains("other.key") && e.contains("belong"), "{e}");
    let e = err_text(tls::server_config(&st.server.cert, &st.server.key, Some(&empty)));
    assert!(e.contains("client CA") && e.contains("empty.pem"), "{e}");

    let e = err_text(tls::client_config(Some(&missing), None));
    assert!(e.contains("CA certificates") && e.contains("missing.pem"), "{e}");
    let e = err_text(tls::client_config(Some(&st.ca.cert), Some((&st.server.cert, &missing))));
    assert!(e.contains("private key") && e.contains("missing.pem"), "{e}");
    let e = err_text(tls::client_config(Some(&st.ca.cert), Some((&st.server.cert, &other.key))));
    assert!(e.contains("client certificate") && e.contains("belong"), "{e}");
    let e = err_text(tls::server_name("not a name!"));
    assert!(e.contains("not a name!"), "{e}");
    // A directory is not a PEM file either.
    let e = err_text(tls::client_config(Some(&st.pki.dir), None));
    assert!(e.contains("CA certificates"), "{e}");

    // The system trust store: usable here or reported as such.
    match tls::client_config(None, None) {
        Ok(_) => {}
        Err(e) => assert!(e.to_string().contains("system trust store"), "{e}"),
    }

    // The right files work, with and without client verification.
    tls::server_config(&st.server.cert, &st.server.key, Some(&st.ca.cert)).unwrap();
    tls::client_config(Some(&st.ca.cert), Some((&other.cert, &other.key))).unwrap();
}
