//! Raw protocol clients for the hostile-client suite (and soak scripts):
//! plain blocking sockets speaking `anychat::wire::protocol` frames, with no
//! client library in between, so that a test can send exactly what an
//! attacker would and see exactly what the server answers.
//!
//! - [`Raw`]: one connection; send messages or raw bytes, receive decoded
//!   server messages with a deadline.
//! - [`connect_from`]: a connection from a chosen loopback source address
//!   (`127.0.0.x`, to look like another host) and receive-buffer size.
//! - [`Watcher`]: a connection read by a background thread (a user that
//!   reads normally) that can still be written to and pinged.
//! - [`Flood`]: writes a repeating chunk of frames as fast as the server
//!   takes them, never cutting a frame, until a deadline.
//! - [`BizServer`]: a raw business server that answers every question.
//! - [`call`]: one whole video call between two raw clients.
//!
//! The attacks built on these are in `attacks.rs`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anychat::wire::protocol::{
    CallEvent, ClientMsg, FrameBuffer, MediaHeader, Role, ServerMsg, MEDIA_VIDEO, PROTOCOL_VERSION,
};
use crossbeam_channel::{Receiver, Sender};

pub const REQUEST: u32 = 1;
pub const REPLY: u32 = 2;
pub const START: u32 = 3;
pub const FINISH: u32 = 4;
/// The caller cancels a ringing call (`AC_ERROR_VIDEOCALL_CANCEL`).
pub const CANCEL: u32 = 100_101;
/// The callee refuses (`AC_ERROR_VIDEOCALL_REJECT`).
pub const REJECT: u32 = 100_104;
/// A party's connection was lost (`AC_ERROR_VIDEOCALL_DISCONNECT`).
pub const DISCONNECT: u32 = 100_106;

/// Why a receive ended without the message wanted.
#[derive(Debug)]
pub enum RecvError {
    /// Nothing (or nothing wanted) before the deadline.
    Timeout,
    /// The server closed the connection (EOF or reset).
    Closed,
    /// The server sent `LinkClose{code}` (it then closes).
    LinkClose(u32),
    /// The server sent `Refused{code}` (it then closes).
    Refused(u32),
    Io(io::ErrorKind),
    /// The server sent bytes that do not decode.
    Bad(String),
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvError::Timeout => write!(f, "timed out"),
            RecvError::Closed => write!(f, "connection closed by the server"),
            RecvError::LinkClose(c) => write!(f, "LinkClose({c})"),
            RecvError::Refused(c) => write!(f, "Refused({c})"),
            RecvError::Io(k) => write!(f, "i/o error {k:?}"),
            RecvError::Bad(e) => write!(f, "bad frame from the server: {e}"),
        }
    }
}

impl RecvError {
    /// The connection is gone (as opposed to a time-out).
    pub fn is_disconnect(&self) -> bool {
        !matches!(self, RecvError::Timeout)
    }
}

fn closed_kind(k: io::ErrorKind) -> bool {
    matches!(
        k,
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}

/// Encodes messages into one buffer (to be written in one go).
pub fn frames(msgs: &[ClientMsg]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        m.encode(&mut out);
    }
    out
}

pub fn hello() -> ClientMsg {
    ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 }
}

pub fn biz_hello(secret: &[u8]) -> ClientMsg {
    ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Business as u8, secret: secret.to_vec(), token: 0 }
}

pub fn login_msg(name: &str) -> ClientMsg {
    ClientMsg::Login { name: name.as_bytes().to_vec(), password: vec![], pass_enc_type: 0 }
}

pub fn call_msg(event: u32, to: u32, code: u32, param: u32, user_str: &[u8]) -> ClientMsg {
    ClientMsg::VideoCall(CallEvent {
        event,
        user_id: to,
        error_code: code,
        flags: 3,
        param,
        user_str: user_str.to_vec(),
    })
}

pub fn video(key: bool, len: usize, fill: u8) -> ClientMsg {
    let header = MediaHeader { kind: MEDIA_VIDEO, key, codec: 999, timestamp: 0, a: 320, b: 240 };
    ClientMsg::Media { header, data: vec![fill; len] }
}

/// A TCP connection to `to` from the loopback address `from` (any
/// `127.0.0.x` works on Linux), optionally with a small receive buffer (set
/// before connecting, so that the window stays small), within `timeout`.
pub fn connect_from(from: Ipv4Addr, to: SocketAddr, rcvbuf: Option<usize>, timeout: Duration) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n)?;
    }
    s.bind(&SocketAddr::new(IpAddr::V4(from), 0).into())?;
    s.connect_timeout(&to.into(), timeout)?;
    s.set_tcp_nodelay(true)?;
    Ok(s.into())
}

/// One raw connection.
pub struct Raw {
    pub stream: TcpStream,
    input: FrameBuffer,
    /// Set by [`Raw::login`].
    pub user_id: u32,
    pub name: String,
    next_seq: u32,
    /// Bytes read from the socket so far.
    pub bytes_in: u64,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> io::Result<Raw> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_nodelay(true)?;
        Ok(Raw::from_stream(s))
    }

    pub fn from_stream(stream: TcpStream) -> Raw {
        Raw { stream, input: FrameBuffer::new(), user_id: 0, name: String::new(), next_seq: 1, bytes_in: 0 }
    }

    /// Connects, says Hello and logs in as `name`; fails unless both the
    /// handshake and the login succeed within `wait`.
    pub fn login(addr: SocketAddr, name: &str, wait: Duration) -> Result<Raw, String> {
        let mut c = Raw::connect(addr).map_err(|e| format!("{name}: connect: {e}"))?;
        c.login_here(name, wait)?;
        Ok(c)
    }

    /// Says Hello and logs in on this connection.
    pub fn login_here(&mut self, name: &str, wait: Duration) -> Result<u32, String> {
        let deadline = Instant::now() + wait;
        self.send_all(&[hello(), login_msg(name)]).map_err(|e| format!("{name}: send: {e}"))?;
        self.recv_until(deadline, |m| matches!(m, ServerMsg::Welcome { .. }))
            .map_err(|e| format!("{name}: no Welcome: {e}"))?;
        match self.recv_until(deadline, |m| matches!(m, ServerMsg::LoginResult { .. })) {
            Ok(ServerMsg::LoginResult { user_id, code: 0, .. }) => {
                self.user_id = user_id;
                self.name = name.to_string();
                Ok(user_id)
            }
            Ok(other) => Err(format!("{name}: login refused: {other:?}")),
            Err(e) => Err(format!("{name}: no LoginResult: {e}")),
        }
    }

    pub fn send(&mut self, msg: &ClientMsg) -> io::Result<()> {
        self.stream.write_all(&frames(std::slice::from_ref(msg)))
    }

    /// Sends several messages in one write.
    pub fn send_all(&mut self, msgs: &[ClientMsg]) -> io::Result<()> {
        self.stream.write_all(&frames(msgs))
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next message, waiting until `deadline`.
    pub fn recv(&mut self, deadline: Instant) -> Result<ServerMsg, RecvError> {
        loop {
            match self.input.next_frame() {
                Ok(Some(body)) => return ServerMsg::decode(body).map_err(|e| RecvError::Bad(e.to_string())),
                Ok(None) => {}
                Err(e) => return Err(RecvError::Bad(e.to_string())),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RecvError::Timeout);
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait)).map_err(|e| RecvError::Io(e.kind()))?;
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(RecvError::Closed),
                Ok(n) => {
                    self.input.extend(&chunk[..n]);
                    self.bytes_in += n as u64;
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {}
                    io::ErrorKind::Interrupted => {}
                    k if closed_kind(k) => return Err(RecvError::Closed),
                    k => return Err(RecvError::Io(k)),
                },
            }
        }
    }

    /// The first message for which `want` is true, skipping others, until
    /// `deadline`. `LinkClose` and `Refused` (unless wanted) end the wait as
    /// errors: the server is closing.
    pub fn recv_until(
        &mut self,
        deadline: Instant,
        mut want: impl FnMut(&ServerMsg) -> bool,
    ) -> Result<ServerMsg, RecvError> {
        loop {
            let m = self.recv(deadline)?;
            if want(&m) {
                return Ok(m);
            }
            match m {
                ServerMsg::LinkClose { code } => return Err(RecvError::LinkClose(code)),
                ServerMsg::Refused { code } => return Err(RecvError::Refused(code)),
                _ => {}
            }
        }
    }

    /// Ping, then everything up to its Pong: the server has processed all
    /// this connection sent before, and what it queued for us before that
    /// (signalling) has been read. Returns the messages skipped.
    pub fn sync(&mut self, deadline: Instant) -> Result<Vec<ServerMsg>, RecvError> {
        let seq = 0x5000_0000 | self.next_seq;
        self.next_seq += 1;
        self.send(&ClientMsg::Ping { seq }).map_err(|e| RecvError::Io(e.kind()))?;
        let mut skipped = Vec::new();
        loop {
            match self.recv(deadline)? {
                ServerMsg::Pong { seq: s } if s == seq => return Ok(skipped),
                ServerMsg::LinkClose { code } => return Err(RecvError::LinkClose(code)),
                m => skipped.push(m),
            }
        }
    }

    /// Reads (and discards) until the server closes the connection or
    /// `deadline`: true when it closed.
    pub fn closed_by(&mut self, deadline: Instant) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            if self.stream.set_read_timeout(Some(wait)).is_err() {
                return true;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Err(e) if closed_kind(e.kind()) => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Bytes (a Refused, say): the close may come right behind them.
                Ok(_) => {}
                Err(_) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                }
            }
        }
    }
}

/// Counts how many of `conns` the server closes by `deadline` (connections
/// still open are checked once the deadline has passed, without waiting).
pub fn count_closed(conns: &mut [Raw], deadline: Instant) -> usize {
    conns.iter_mut().map(|c| c.closed_by(deadline)).filter(|closed| *closed).count()
}

/// One whole call from `a` to `b`: Request → ringing REPLY(0) → callee's
/// Reply 0 → START to both (same room) → Finish → FINISH to both. Every
/// step must come within `step`. `n` tags the call (Request's and Finish's
/// `dwParam`), so that a late event of an earlier call is not taken for one
/// of this call. Returns the call's room.
pub fn call(a: &mut Raw, b: &mut Raw, n: u32, step: Duration) -> Result<u32, CallError> {
    let room = start_call(a, b, n, step)?;
    finish_call(a, b, n, step)?;
    Ok(room)
}

fn is_call(m: &ServerMsg, event: u32, peer: u32) -> bool {
    matches!(m, ServerMsg::VideoCall { ev, .. } if ev.event == event && ev.user_id == peer)
}

fn send_or_disconnected(c: &mut Raw, m: ClientMsg) -> Result<(), CallError> {
    c.send(&m).map_err(|e| CallError::Disconnected(format!("{}: send: {e}", c.name)))
}

/// The first half of [`call`]: up to START on both sides; returns the room.
pub fn start_call(a: &mut Raw, b: &mut Raw, n: u32, step: Duration) -> Result<u32, CallError> {
    let (ida, idb) = (a.user_id, b.user_id);
    let fail = |what: &str, e: RecvError| CallError::from_recv(what, e);
    send_or_disconnected(a, call_msg(REQUEST, idb, 0, n, b"hostile"))?;
    let d = Instant::now() + step;
    let req = b
        .recv_until(d, |m| matches!(m, ServerMsg::VideoCall { .. }))
        .map_err(|e| fail("callee waits for REQUEST", e))?;
    match &req {
        ServerMsg::VideoCall { ev, .. } if ev.event == REQUEST && ev.user_id == ida && ev.param == n => {}
        other => return Err(CallError::Wrong(format!("callee got {other:?} instead of REQUEST"))),
    }
    let d = Instant::now() + step;
    let ring = a
        .recv_until(d, |m| matches!(m, ServerMsg::VideoCall { .. }))
        .map_err(|e| fail("caller waits for ringing", e))?;
    match &ring {
        ServerMsg::VideoCall { ev, .. } if ev.event == REPLY && ev.user_id == idb && ev.error_code == 0 => {}
        other => return Err(CallError::Wrong(format!("caller got {other:?} instead of REPLY(0)"))),
    }
    send_or_disconnected(b, call_msg(REPLY, ida, 0, n, b""))?;
    let d = Instant::now() + step;
    let sa = a.recv_until(d, |m| is_call(m, START, idb)).map_err(|e| fail("caller waits for START", e))?;
    let d = Instant::now() + step;
    let sb = b.recv_until(d, |m| is_call(m, START, ida)).map_err(|e| fail("callee waits for START", e))?;
    match (&sa, &sb) {
        (ServerMsg::VideoCall { ev: x, .. }, ServerMsg::VideoCall { ev: y, .. }) if x.param == y.param => Ok(x.param),
        _ => Err(CallError::Wrong(format!("START rooms differ: {sa:?} / {sb:?}"))),
    }
}

/// The second half of [`call`]: `a` hangs up, both get FINISH.
pub fn finish_call(a: &mut Raw, b: &mut Raw, n: u32, step: Duration) -> Result<(), CallError> {
    let (ida, idb) = (a.user_id, b.user_id);
    let fail = |what: &str, e: RecvError| CallError::from_recv(what, e);
    send_or_disconnected(a, call_msg(FINISH, idb, 0, n, b"bye"))?;
    let d = Instant::now() + step;
    a.recv_until(d, |m| is_call(m, FINISH, idb)).map_err(|e| fail("caller waits for FINISH", e))?;
    let d = Instant::now() + step;
    b.recv_until(d, |m| is_call(m, FINISH, ida)).map_err(|e| fail("callee waits for FINISH", e))?;
    Ok(())
}

#[derive(Debug)]
pub enum CallError {
    /// A step did not come in time.
    Timeout(String),
    /// Something else than the step came (busy, refused, wrong room).
    Wrong(String),
    /// A party's connection was closed or told LinkClose.
    Disconnected(String),
}

impl CallError {
    fn from_recv(what: &str, e: RecvError) -> CallError {
        match e {
            RecvError::Timeout => CallError::Timeout(format!("{what}: timed out")),
            e => CallError::Disconnected(format!("{what}: {e}")),
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Timeout(s) | CallError::Wrong(s) | CallError::Disconnected(s) => f.write_str(s),
        }
    }
}

/// After a failed call: both parties hang up whatever is left and read
/// until their own Pong, so that no event of that call is left unread.
pub fn reset_pair(a: &mut Raw, b: &mut Raw, wait: Duration) -> Result<(), RecvError> {
    let (ida, idb) = (a.user_id, b.user_id);
    let _ = a.send(&call_msg(FINISH, idb, 0, 0, b""));
    let d = Instant::now() + wait;
    a.sync(d)?;
    let _ = b.send(&call_msg(FINISH, ida, 0, 0, b""));
    b.sync(d)?;
    a.sync(d)?;
    Ok(())
}

/// Bytes per write of a [`Flood`].
pub const FLOOD_CHUNK: usize = 1 << 20;

/// Writes a unit of frames (`unit`: one or more whole frames) over and
/// over until `until`, as fast as the server takes it. A write that times
/// out is retried from where it stopped, and the flood stops only between
/// two units, so the stream never ends inside a frame.
pub struct Flood {
    /// Whole units written.
    pub units: u64,
    /// How long it ran.
    pub elapsed: Duration,
    /// Why it stopped before `until`, if it did (the server closed, …).
    pub error: Option<io::ErrorKind>,
}

impl Flood {
    pub fn run(stream: &mut TcpStream, unit: &[u8], until: Instant) -> Flood {
        Self::run_limited(stream, unit, until, u64::MAX)
    }

    /// As [`Flood::run`], stopping after `max_units` units.
    pub fn run_limited(stream: &mut TcpStream, unit: &[u8], until: Instant, max_units: u64) -> Flood {
        assert!(!unit.is_empty());
        let t0 = Instant::now();
        // Big writes: the server must find its socket full at every read
        // (an attacker's tool does not stop to breathe).
        let reps = (FLOOD_CHUNK / unit.len()).max(1);
        let chunk: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * reps).collect();
        let _ = stream.set_write_timeout(Some(Duration::from_millis(50)));
        let mut bytes = 0u64;
        let mut at = 0usize;
        let mut error = None;
        let max_bytes = max_units.saturating_mul(unit.len() as u64);
        let give_up = until + Duration::from_secs(5);
        while bytes < max_bytes {
            let now = Instant::now();
            let boundary = bytes.is_multiple_of(unit.len() as u64);
            if (boundary && now >= until) || now >= give_up {
                break;
            }
            let end = chunk.len().min(at + (max_bytes - bytes).min(usize::MAX as u64) as usize);
            match stream.write(&chunk[at..end]) {
                Ok(0) => {
                    error = Some(io::ErrorKind::WriteZero);
                    break;
                }
                Ok(n) => {
                    at += n;
                    bytes += n as u64;
                    if at == chunk.len() {
                        at = 0;
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e.kind());
                    break;
                }
            }
        }
        Flood { units: bytes / unit.len() as u64, elapsed: t0.elapsed(), error }
    }
}

impl std::fmt::Display for Flood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} units in {:.2} s", self.units, self.elapsed.as_secs_f64())?;
        if let Some(e) = self.error {
            write!(f, " (stopped: {e:?})")?;
        }
        Ok(())
    }
}

/// Spawns a thread that reads and discards everything a connection
/// receives (an attacker or accomplice that keeps its socket drained).
pub fn drain_in_background(stream: &TcpStream) -> JoinHandle<u64> {
    let mut s = stream.try_clone().expect("clone socket");
    std::thread::spawn(move || {
        let _ = s.set_read_timeout(None);
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return total,
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return total,
            }
        }
    })
}

/// What a [`Watcher`] saw.
#[derive(Default)]
pub struct Seen {
    pub messages: AtomicU64,
    pub media: AtomicU64,
    pub need_key_frames: AtomicU64,
    /// Set once the connection ended: how (LinkClose code, close, …).
    pub ended: Mutex<Option<String>>,
}

/// A logged-in user whose connection a background thread reads the way a
/// normal client does (as fast as messages come); messages can be sent,
/// aliveness checked with a Ping, and other messages forwarded to `events`.
pub struct Watcher {
    pub name: String,
    pub user_id: u32,
    writer: Arc<Mutex<TcpStream>>,
    pub seen: Arc<Seen>,
    pongs: Receiver<u32>,
    /// Every message other than Pong, in order.
    pub events: Receiver<ServerMsg>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    next_seq: u32,
}

impl Watcher {
    /// Wraps a logged-in raw client.
    pub fn new(raw: Raw) -> Watcher {
        Watcher::paced(raw, None)
    }

    /// Wraps a logged-in raw client that reads at most `rate` bytes per
    /// second (a busy client: slow, but reading all the time).
    pub fn paced(raw: Raw, rate: Option<u64>) -> Watcher {
        Watcher::spawn(raw, rate, None)
    }

    /// Wraps a logged-in raw client whose media frames go to the returned
    /// channel instead of [`Watcher::events`] (for a thread that consumes
    /// them while another waits for events).
    pub fn with_media_channel(raw: Raw) -> (Watcher, Receiver<ServerMsg>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Watcher::spawn(raw, None, Some(tx)), rx)
    }

    fn spawn(raw: Raw, rate: Option<u64>, media: Option<Sender<ServerMsg>>) -> Watcher {
        let writer = Arc::new(Mutex::new(raw.stream.try_clone().expect("clone socket")));
        let seen = Arc::new(Seen::default());
        let (pong_tx, pongs) = crossbeam_channel::unbounded();
        let (ev_tx, events) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let (name, user_id) = (raw.name.clone(), raw.user_id);
        let reader = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || watch(raw, rate, seen, stop, pong_tx, ev_tx, media))
        };
        Watcher { name, user_id, writer, seen, pongs, events, stop, reader: Some(reader), next_seq: 1 }
    }

    pub fn login(addr: SocketAddr, name: &str) -> Watcher {
        Watcher::new(Raw::login(addr, name, Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}")))
    }

    pub fn send(&self, msg: &ClientMsg) -> io::Result<()> {
        self.writer.lock().unwrap().write_all(&frames(std::slice::from_ref(msg)))
    }

    pub fn send_all(&self, msgs: &[ClientMsg]) -> io::Result<()> {
        self.writer.lock().unwrap().write_all(&frames(msgs))
    }

    /// A clone of the write side (for a sender thread).
    pub fn writer(&self) -> Arc<Mutex<TcpStream>> {
        self.writer.clone()
    }

    /// How the connection ended, if it did.
    pub fn ended(&self) -> Option<String> {
        self.seen.ended.lock().unwrap().clone()
    }

    /// Sends a Ping and waits for its Pong: the user is still connected and
    /// served. Returns the round trip.
    pub fn alive(&mut self, wait: Duration) -> Result<Duration, String> {
        if let Some(how) = self.ended() {
            return Err(format!("{}: {how}", self.name));
        }
        let seq = 0x6000_0000 | self.next_seq;
        self.next_seq += 1;
        let t0 = Instant::now();
        self.send(&ClientMsg::Ping { seq }).map_err(|e| format!("{}: send Ping: {e}", self.name))?;
        let deadline = t0 + wait;
        loop {
            match self.pongs.recv_deadline(deadline) {
                Ok(s) if s == seq => return Ok(t0.elapsed()),
                Ok(_) => {}
                Err(_) => {
                    return Err(match self.ended() {
                        Some(how) => format!("{}: {how}", self.name),
                        None => format!("{}: no Pong within {wait:?}", self.name),
                    })
                }
            }
        }
    }

    /// The first event for which `want` is true, until `deadline`.
    pub fn wait_event(&self, deadline: Instant, mut want: impl FnMut(&ServerMsg) -> bool) -> Option<ServerMsg> {
        loop {
            match self.events.recv_deadline(deadline) {
                Ok(m) if want(&m) => return Some(m),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Events received so far and not yet taken.
    pub fn drain_events(&self) -> Vec<ServerMsg> {
        self.events.try_iter().collect()
    }

    pub fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.writer.lock().unwrap().shutdown(Shutdown::Both);
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
    }
}

fn watch(
    mut raw: Raw,
    rate: Option<u64>,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    pongs: Sender<u32>,
    events: Sender<ServerMsg>,
    media: Option<Sender<ServerMsg>>,
) {
    let (start, start_bytes) = (Instant::now(), raw.bytes_in);
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64((raw.bytes_in - start_bytes) as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep((due - now).min(Duration::from_millis(200)));
                continue;
            }
        }
        match raw.recv(Instant::now() + Duration::from_millis(200)) {
            Ok(m) => {
                seen.messages.fetch_add(1, Ordering::Relaxed);
                match m {
                    ServerMsg::Pong { seq } => {
                        let _ = pongs.send(seq);
                    }
                    ServerMsg::LinkClose { code } => {
                        *seen.ended.lock().unwrap() = Some(format!("LinkClose({code})"));
                        let _ = events.send(ServerMsg::LinkClose { code });
                        // The server closes next; keep reading to see it.
                    }
                    ServerMsg::Media { .. } => {
                        seen.media.fetch_add(1, Ordering::Relaxed);
                        let _ = media.as_ref().unwrap_or(&events).send(m);
                    }
                    ServerMsg::NeedKeyFrame => {
                        seen.need_key_frames.fetch_add(1, Ordering::Relaxed);
                        let _ = events.send(m);
                    }
                    m => {
                        let _ = events.send(m);
                    }
                }
            }
            Err(RecvError::Timeout) => {}
            Err(e) => {
                if !stop.load(Ordering::SeqCst) {
                    let mut ended = seen.ended.lock().unwrap();
                    if ended.is_none() {
                        *ended = Some(e.to_string());
                    }
                }
                return;
            }
        }
    }
}

/// Statistics of a [`BizServer`].
#[derive(Default)]
pub struct BizStats {
    pub messages: AtomicU64,
    pub trans_buffers: AtomicU64,
    pub asked_calls: AtomicU64,
    /// Set when the link ended (how).
    pub ended: Mutex<Option<String>>,
}

/// A raw business server on the business listener: links with `secret`,
/// then answers every question at once — logins admitted (the server
/// assigns ids), rooms admitted, calls let through unless the callee is in
/// `veto` (user id → refusal code) — pings every second, and counts.
pub struct BizServer {
    pub stats: Arc<BizStats>,
    /// Callee user id → the code its calls are refused with.
    pub veto: Arc<Mutex<HashMap<u32, u32>>>,
    stop: Arc<AtomicBool>,
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
}

impl BizServer {
    /// Connects and says Hello: `Ok` once Welcome came, `Err(code)` for a
    /// `Refused{code}` (0: no answer within `wait`, or the connection closed).
    pub fn link(addr: SocketAddr, secret: &[u8], wait: Duration) -> Result<BizServer, u32> {
        let mut raw = Raw::connect(addr).map_err(|_| 0u32)?;
        raw.send(&biz_hello(secret)).map_err(|_| 0u32)?;
        match raw.recv(Instant::now() + wait) {
            Ok(ServerMsg::Welcome { .. }) => {}
            Ok(ServerMsg::Refused { code }) => return Err(code),
            _ => return Err(0),
        }
        let stats = Arc::new(BizStats::default());
        let veto = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let stream = raw.stream.try_clone().expect("clone socket");
        let thread = {
            let (stats, veto, stop) = (stats.clone(), veto.clone(), stop.clone());
            std::thread::spawn(move || biz_loop(raw, stats, veto, stop))
        };
        Ok(BizServer { stats, veto, stop, stream, thread: Some(thread) })
    }

    pub fn ended(&self) -> Option<String> {
        self.stats.ended.lock().unwrap().clone()
    }
}

impl Drop for BizServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn biz_loop(mut raw: Raw, stats: Arc<BizStats>, veto: Arc<Mutex<HashMap<u32, u32>>>, stop: Arc<AtomicBool>) {
    let mut next_ping = Instant::now() + Duration::from_secs(1);
    let mut seq = 0;
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let now = Instant::now();
        if now >= next_ping {
            seq += 1;
            let _ = raw.send(&ClientMsg::Ping { seq });
            next_ping = now + Duration::from_secs(1);
        }
        let answer = match raw.recv(next_ping) {
            Ok(m) => {
                stats.messages.fetch_add(1, Ordering::Relaxed);
                match m {
                    ServerMsg::BizAskVerify { query, .. } => {
                        Some(ClientMsg::BizVerifyResult { query, code: 0, user_id: 0, level: 0, nick: vec![] })
                    }
                    ServerMsg::BizAskEnter { query, .. } => Some(ClientMsg::BizEnterVerdict { query, code: 0 }),
                    ServerMsg::BizAskCall { query, tar, .. } => {
                        stats.asked_calls.fetch_add(1, Ordering::Relaxed);
                        let code = veto.lock().unwrap().get(&tar).copied().unwrap_or(0);
                        Some(ClientMsg::BizCallVerdict { query, code })
                    }
                    ServerMsg::BizTransBuffer { .. } => {
                        stats.trans_buffers.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    _ => None,
                }
            }
            Err(RecvError::Timeout) => None,
            Err(e) => {
                if !stop.load(Ordering::SeqCst) {
                    *stats.ended.lock().unwrap() = Some(e.to_string());
                }
                return;
            }
        };
        if let Some(a) = answer {
            if let Err(e) = raw.send(&a) {
                if !stop.load(Ordering::SeqCst) {
                    *stats.ended.lock().unwrap() = Some(format!("write: {e}"));
                }
                return;
            }
        }
    }
}
