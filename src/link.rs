//! One framed TCP link from a library (client or business server) to the
//! core server, driven by the owner's mio loop.
//!
//! A [`Link`] starts a non-blocking connect to the first address that takes
//! one, queues the `Hello` and whatever the owner sends before the connect
//! completes, writes them once it does, reassembles incoming frames, and keeps
//! the link alive: a `Ping` every third of the server's keep-alive time, and
//! the link counts as lost when the server is silent for that whole time.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::media_queue::MediaQueue;
use crate::protocol::{ClientMsg, DecodeError, FrameBuffer, ServerMsg};

/// Media bytes a client keeps queued for the server before it drops its own
/// oldest video frames (a slow uplink never grows the sender's memory).
pub const MAX_MEDIA_QUEUE: usize = 512 * 1024;

/// Why a link ended.
#[derive(Debug)]
pub enum LinkError {
    /// No address accepted the connection, or it did not complete in time.
    ConnectFailed,
    /// The server closed the connection.
    Closed,
    /// Nothing from the server for the keep-alive time.
    Silent,
    /// The server sent bytes that do not decode.
    BadFrame(DecodeError),
    /// A socket error.
    Io(io::Error),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::ConnectFailed => write!(f, "connect failed"),
            LinkError::Closed => write!(f, "closed by the server"),
            LinkError::Silent => write!(f, "server silent for the keep-alive time"),
            LinkError::BadFrame(e) => write!(f, "bad frame from the server: {e}"),
            LinkError::Io(e) => write!(f, "{e}"),
        }
    }
}

pub struct Link {
    stream: TcpStream,
    token: Token,
    addrs: Vec<SocketAddr>,
    connected: bool,
    ready: bool,
    connect_deadline: Instant,
    connect_timeout: Duration,
    last_rx: Instant,
    keepalive: Duration,
    next_ping: Instant,
    ping_seq: u32,
    input: FrameBuffer,
    out: Vec<u8>,
    written: usize,
    /// Media frames to send, after `out`, bounded (see `MediaQueue`).
    media: MediaQueue,
    writable: bool,
    /// The first message on every connection attempt.
    hello: Vec<u8>,
}

impl Link {
    /// Starts connecting to the first of `addrs` that takes a connect;
    /// `hello` is written first once connected.
    pub fn connect(
        registry: &Registry,
        token: Token,
        addrs: Vec<SocketAddr>,
        hello: &ClientMsg,
        connect_timeout: Duration,
    ) -> Result<Link, LinkError> {
        let mut frame = Vec::new();
        hello.encode(&mut frame);
        let mut addrs = addrs;
        let stream = Self::start(registry, token, &mut addrs)?;
        let now = Instant::now();
        Ok(Link {
            stream,
            token,
            addrs,
            connected: false,
            ready: false,
            connect_deadline: now + connect_timeout,
            connect_timeout,
            last_rx: now,
            keepalive: Duration::from_secs(15),
            next_ping: now,
            ping_seq: 0,
            input: FrameBuffer::new(),
            out: frame.clone(),
            written: 0,
            media: MediaQueue::new(MAX_MEDIA_QUEUE),
            writable: true,
            hello: frame,
        })
    }

    fn start(registry: &Registry, token: Token, addrs: &mut Vec<SocketAddr>) -> Result<TcpStream, LinkError> {
        while !addrs.is_empty() {
            let addr = addrs.remove(0);
            match TcpStream::connect(addr) {
                Ok(mut stream) => {
                    if registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).is_ok() {
                        return Ok(stream);
                    }
                }
                Err(e) => tracing::debug!(%addr, "connect failed: {e}"),
            }
        }
        Err(LinkError::ConnectFailed)
    }

    /// The server accepted the handshake; `keepalive` is what it asked for.
    pub fn set_ready(&mut self, keepalive: Duration) {
        self.ready = true;
        self.keepalive = keepalive.max(Duration::from_millis(300));
        self.next_ping = Instant::now() + self.keepalive / 3;
    }

    /// Whether the handshake completed.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Bytes queued and not yet written (signalling and media).
    pub fn pending_bytes(&self) -> usize {
        self.out.len() - self.written + self.media.pending_bytes()
    }

    /// Queues a message; it is written once connected, after `Hello`.
    pub fn send(&mut self, msg: &ClientMsg) {
        msg.encode(&mut self.out);
    }

    /// When [`Link::poll_timers`] has something to do.
    pub fn next_deadline(&self) -> Instant {
        if self.ready {
            self.next_ping.min(self.last_rx + self.keepalive)
        } else {
            self.connect_deadline
        }
    }

    /// Connect time-out, silence, and pings.
    pub fn poll_timers(&mut self, now: Instant) -> Result<(), LinkError> {
        if !self.ready {
            return if now >= self.connect_deadline { Err(LinkError::ConnectFailed) } else { Ok(()) };
        }
        if now >= self.last_rx + self.keepalive {
            return Err(LinkError::Silent);
        }
        if now >= self.next_ping {
            self.next_ping = now + self.keepalive / 3;
            self.ping_seq = self.ping_seq.wrapping_add(1);
            self.send(&ClientMsg::Ping { seq: self.ping_seq });
        }
        Ok(())
    }

    /// Handles a readiness event: completes the connect, then reads every
    /// complete message into `msgs`.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        writable: bool,
        readable: bool,
        msgs: &mut Vec<ServerMsg>,
    ) -> Result<(), LinkError> {
        if !self.connected {
            if !(writable || readable) {
                return Ok(());
            }
            match self.stream.take_error() {
                Ok(None) if self.stream.peer_addr().is_ok() => self.connected = true,
                // Not connected yet (a spurious wake-up).
                Ok(None) if !readable => return Ok(()),
                _ => return self.next_address(registry),
            }
        }
        if readable {
            self.read(msgs)?;
        }
        Ok(())
    }

    /// The attempt failed: try the next address, if any.
    fn next_address(&mut self, registry: &Registry) -> Result<(), LinkError> {
        let _ = registry.deregister(&mut self.stream);
        self.stream = Self::start(registry, self.token, &mut self.addrs)?;
        self.connect_deadline = Instant::now() + self.connect_timeout;
        self.out = self.hello.clone();
        self.written = 0;
        self.writable = true;
        Ok(())
    }

    fn read(&mut self, msgs: &mut Vec<ServerMsg>) -> Result<(), LinkError> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(LinkError::Closed),
                Ok(n) => {
                    self.last_rx = Instant::now();
                    self.input.extend(&buf[..n]);
                    while let Some(body) = self.input.next_frame().map_err(LinkError::BadFrame)? {
                        msgs.push(ServerMsg::decode(body).map_err(LinkError::BadFrame)?);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Io(e)),
            }
        }
    }

    /// Writes what is queued; WRITABLE interest only while some is left.
    /// Queues a media frame (encoded message bytes); returns true when the
    /// queue had to drop this client's own video (the encoder should send a
    /// key frame next).
    pub fn send_media(&mut self, frame: std::sync::Arc<crate::core::MediaOut>) -> bool {
        let mut dropped = Vec::new();
        self.media.push(frame, &mut dropped);
        !dropped.is_empty()
    }

    pub fn flush(&mut self, registry: &Registry) -> Result<(), LinkError> {
        if !self.connected {
            return Ok(());
        }
        // A media frame half written first (never cut), then signalling, then media.
        if self.media.in_flight() {
            self.media.write_to(&mut self.stream, true).map_err(LinkError::Io)?;
        }
        while !self.media.in_flight() && self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(LinkError::Closed),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Io(e)),
            }
        }
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            self.media.write_to(&mut self.stream, false).map_err(LinkError::Io)?;
        }
        let want = self.written < self.out.len() || !self.media.is_empty();
        if want != self.writable {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            registry.reregister(&mut self.stream, self.token, interest).map_err(LinkError::Io)?;
            self.writable = want;
        }
        Ok(())
    }

    /// Unregisters the socket; dropping the link closes it.
    pub fn close(mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}

/// How API threads reach a library's network thread: a command queue and
/// the `Waker` of its `Poll`.
pub struct Mailbox<C> {
    tx: crossbeam_channel::Sender<C>,
    waker: std::sync::Arc<mio::Waker>,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Mailbox { tx: self.tx.clone(), waker: self.waker.clone() }
    }
}

impl<C> Mailbox<C> {
    /// Queues a command and wakes the network thread.
    pub fn send(&self, cmd: C) {
        if self.tx.send(cmd).is_ok() {
            if let Err(e) = self.waker.wake() {
                tracing::error!("cannot wake the network thread: {e}");
            }
        }
    }
}

/// A library's network thread, as the API threads hold it.
pub struct NetThread<C> {
    mailbox: Mailbox<C>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    thread_id: std::thread::ThreadId,
    /// Set by [`NetThread::stop`]: the thread delivers no event after it.
    stopped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<C: Send + 'static> NetThread<C> {
    /// Spawns thread `name` running `body` with the `Poll` (whose `Waker`
    /// is registered with `waker_token`), the command queue, a mailbox to
    /// itself (for helper threads) and the stop flag.
    pub fn spawn<F>(name: &str, poll: mio::Poll, waker_token: Token, body: F) -> io::Result<NetThread<C>>
    where
        F: FnOnce(mio::Poll, crossbeam_channel::Receiver<C>, Mailbox<C>, std::sync::Arc<std::sync::atomic::AtomicBool>)
            + Send
            + 'static,
    {
        let waker = std::sync::Arc::new(mio::Waker::new(poll.registry(), waker_token)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let mailbox = Mailbox { tx, waker };
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (mb, st) = (mailbox.clone(), stopped.clone());
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || body(poll, rx, mb, st))?;
        let thread_id = thread.thread().id();
        Ok(NetThread { mailbox, thread: parking_lot::Mutex::new(Some(thread)), thread_id, stopped })
    }

    /// Queues a command for the network thread.
    pub fn command(&self, cmd: C) {
        self.mailbox.send(cmd);
    }

    /// Stops delivering events, sends `cmd` (the thread's "shut down") and
    /// joins the thread — unless called on that thread (from a callback),
    /// which then ends as soon as the callback returns.
    pub fn stop(&self, cmd: C) {
        self.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        self.command(cmd);
        if std::thread::current().id() == self.thread_id {
            return;
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}
