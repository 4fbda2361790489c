//! The core server's event loop: one mio `Poll`, a slab of connections.
//!
//! The loop owns the sockets and the clock; all decisions are made by
//! [`Core`]. Per iteration it reads every readable connection until
//! `WouldBlock`, feeds each decoded frame to the core, fires due timers, turns
//! the core's outputs into bytes in each connection's output buffer, and then
//! writes every buffer that has something pending — one `write` per
//! connection per iteration in the common case. WRITABLE interest is
//! registered only while a buffer could not be written out completely.
//!
//! A connection whose output buffer exceeds `max_output` (it stopped reading)
//! is disconnected, and the core treats that as a lost connection. A frame
//! that does not decode closes that connection only, with a logged reason.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::core::{ConnId, Core, CoreConfig, Output};
use crate::media_queue::MediaQueue;
use crate::protocol::{split_frame, ClientMsg, DecodeError};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const BUSINESS_LISTENER: Token = Token(2);
const FIRST_CONN: usize = 3;
/// How often the loop checks whether to give memory back.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);
/// Bytes read per `read` call into the shared scratch buffer.
const READ_CHUNK: usize = 64 * 1024;

/// Settings of one core server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where clients connect (default `0.0.0.0:8906`).
    pub listen: SocketAddr,
    /// Where the business server connects (default `127.0.0.1:8907`; None: no listener).
    pub business_listen: Option<SocketAddr>,
    /// Ring and keep-alive timings.
    pub core: CoreConfig,
    /// Output bytes a connection may have pending before it is dropped.
    pub max_output: usize,
    /// Media bytes queued for a receiver before video frames are dropped.
    pub max_media: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8906)),
            business_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8907))),
            core: CoreConfig::default(),
            max_output: 1024 * 1024,
            max_media: 256 * 1024,
        }
    }
}

/// Stops a running [`Server`] from another thread (e.g. a signal handler thread).
#[derive(Clone)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the loop to stop; it returns from [`Server::run`] promptly.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            tracing::error!("cannot wake the server loop: {e}");
        }
    }
}

struct Connection {
    stream: TcpStream,
    id: ConnId,
    peer: SocketAddr,
    /// Bytes of an incomplete frame carried over between reads.
    partial: Vec<u8>,
    /// Encoded frames not yet written; `out[written..]` is pending.
    out: Vec<u8>,
    written: usize,
    /// Media frames for this receiver, sent after `out` (see `MediaQueue`).
    media: MediaQueue,
    /// The core has closed the session: flush `out`, then drop.
    closing: bool,
    writable: bool,
    /// Already in the list of connections to flush this iteration.
    dirty: bool,
}

impl Connection {
    fn pending(&self) -> usize {
        self.out.len() - self.written
    }
}

/// The core server: listener, connections and the [`Core`] they feed.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    business_listener: Option<TcpListener>,
    conns: Slab<Connection>,
    core: Core,
    generation: u32,
    scratch: Vec<u8>,
    dirty: Vec<usize>,
    max_output: usize,
    max_media: usize,
    /// Senders whose video a slow receiver lost (reused buffer).
    dropped: Vec<u32>,
    next_housekeeping: Instant,
    /// Most connections seen since memory was last given back.
    peak_conns: usize,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Server {
    /// Binds the listener. The loop starts with [`Server::run`].
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let business_listener = match config.business_listen {
            Some(addr) => {
                let mut l = TcpListener::bind(addr)?;
                poll.registry().register(&mut l, BUSINESS_LISTENER, Interest::READABLE)?;
                Some(l)
            }
            None => None,
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Server {
            poll,
            listener,
            business_listener,
            conns: Slab::new(),
            core: Core::new(config.core),
            generation: 0,
            scratch: vec![0; READ_CHUNK],
            dirty: Vec::new(),
            max_output: config.max_output,
            max_media: config.max_media,
            dropped: Vec::new(),
            next_housekeeping: Instant::now() + HOUSEKEEPING_EVERY,
            peak_conns: 0,
            stop: Arc::new(AtomicBool::new(false)),
            waker,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The business listener's bound address, if it has one.
    pub fn business_addr(&self) -> Option<SocketAddr> {
        self.business_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle that stops [`Server::run`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle { flag: self.stop.clone(), waker: self.waker.clone() }
    }

    /// Runs the loop until stopped through a [`StopHandle`].
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !self.stop.load(Ordering::SeqCst) {
            let timeout = self.core.next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
            // Round up so that a timer is not polled for just before it is due.
            let timeout = timeout.map(|t| t + Duration::from_micros(500));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now, false),
                    BUSINESS_LISTENER => self.accept(now, true),
                    WAKER => {}
                    Token(t) => {
                        let key = t - FIRST_CONN;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(now, key);
                        }
                        if event.is_writable() {
                            self.mark_dirty(key);
                        }
                    }
                }
            }
            self.core.on_timeout(now);
            self.apply_outputs(now);
            self.flush_dirty(now);
            if now >= self.next_housekeeping {
                self.housekeeping(now);
            }
        }
        tracing::info!(users = self.core.online_users(), "server stopping");
        Ok(())
    }

    fn accept(&mut self, now: Instant, business: bool) {
        loop {
            let listener = if business { self.business_listener.as_ref() } else { Some(&self.listener) };
            let Some(listener) = listener else { return };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let entry = self.conns.vacant_entry();
                    let key = entry.key();
                    self.generation = self.generation.wrapping_add(1);
                    let id = ConnId(((self.generation as u64) << 32) | key as u64);
                    if let Err(e) =
                        self.poll.registry().register(&mut stream, Token(key + FIRST_CONN), Interest::READABLE)
                    {
                        tracing::warn!(%peer, "cannot register connection: {e}");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    entry.insert(Connection {
                        stream,
                        id,
                        peer,
                        partial: Vec::new(),
                        out: Vec::new(),
                        written: 0,
                        media: MediaQueue::new(self.max_media),
                        closing: false,
                        writable: false,
                        dirty: false,
                    });
                    tracing::debug!(%peer, conn = id.0, business, "accepted");
                    self.core.on_connect(now, id, business, peer.ip().to_string());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors and the like: keep serving the others.
                    tracing::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Reads until `WouldBlock`, feeding complete frames to the core.
    fn read(&mut self, now: Instant, key: usize) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else { return };
            if conn.closing {
                return;
            }
            let id = conn.id;
            let n = match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    tracing::debug!(conn = id.0, "peer closed");
                    self.drop_conn(now, key, true);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::info!(conn = id.0, "read error: {e}");
                    self.drop_conn(now, key, true);
                    return;
                }
            };
            let result = if conn.partial.is_empty() {
                let used = feed_frames(&mut self.core, now, id, &self.scratch[..n]);
                used.map(|used| conn.partial.extend_from_slice(&self.scratch[used..n]))
            } else {
                conn.partial.extend_from_slice(&self.scratch[..n]);
                let used = feed_frames(&mut self.core, now, id, &conn.partial);
                used.map(|used| {
                    conn.partial.drain(..used);
                    if conn.partial.is_empty() {
                        conn.partial = Vec::new();
                    }
                })
            };
            if let Err(e) = result {
                tracing::warn!(conn = id.0, peer = %conn.peer, "bad frame, closing connection: {e}");
                self.drop_conn(now, key, true);
                return;
            }
            // A short read emptied the socket: the next data brings a new
            // (edge-triggered) event, so the extra read that would only
            // return WouldBlock is skipped.
            if n < self.scratch.len() {
                return;
            }
        }
    }

    /// Carries out the core's outputs: encode messages, schedule closes.
    fn apply_outputs(&mut self, now: Instant) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Send(id, msg) => {
                    let Some(key) = self.key_of(id) else { continue };
                    let conn = &mut self.conns[key];
                    msg.encode(&mut conn.out);
                    if conn.pending() > self.max_output {
                        tracing::warn!(conn = id.0, peer = %conn.peer, "output buffer full (peer not reading), closing");
                        self.drop_conn(now, key, true);
                        continue;
                    }
                    self.mark_dirty(key);
                }
                Output::Media(id, frame) => {
                    let Some(key) = self.key_of(id) else { continue };
                    self.conns[key].media.push(frame, &mut self.dropped);
                    for from in self.dropped.drain(..) {
                        tracing::debug!(conn = id.0, from, "slow receiver: video frames dropped");
                        self.core.on_media_dropped(from);
                    }
                    self.mark_dirty(key);
                }
                Output::Close(id, reason) => {
                    let Some(key) = self.key_of(id) else { continue };
                    tracing::debug!(conn = id.0, ?reason, "closing");
                    self.conns[key].closing = true;
                    self.mark_dirty(key);
                }
            }
        }
    }

    fn key_of(&self, id: ConnId) -> Option<usize> {
        let key = (id.0 & 0xFFFF_FFFF) as usize;
        self.conns.get(key).filter(|c| c.id == id).map(|_| key)
    }

    fn mark_dirty(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    fn flush_dirty(&mut self, now: Instant) {
        let dirty = std::mem::take(&mut self.dirty);
        for &key in &dirty {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            conn.dirty = false;
            let mut failed = false;
            // A media frame half written goes first (frames are never cut),
            // then signalling, then media.
            if conn.media.in_flight() {
                failed |= conn.media.write_to(&mut conn.stream, true).is_err();
            }
            while !failed && !conn.media.in_flight() && conn.pending() > 0 {
                match conn.stream.write(&conn.out[conn.written..]) {
                    Ok(0) => {
                        failed = true;
                        break;
                    }
                    Ok(n) => conn.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::debug!(conn = conn.id.0, "write error: {e}");
                        failed = true;
                        break;
                    }
                }
            }
            if !failed && conn.pending() == 0 && !conn.closing {
                failed = conn.media.write_to(&mut conn.stream, false).is_err();
            }
            if failed {
                self.drop_conn(now, key, true);
                continue;
            }
            if conn.pending() == 0 {
                conn.written = 0;
                if conn.out.capacity() > 16 * 1024 {
                    conn.out = Vec::new();
                } else {
                    conn.out.clear();
                }
                if conn.closing {
                    self.drop_conn(now, key, false);
                    continue;
                }
            }
            let want_writable = conn.pending() > 0 || !conn.media.is_empty();
            if want_writable != conn.writable {
                let interest = if want_writable { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                let token = Token(key + FIRST_CONN);
                if let Err(e) = self.poll.registry().reregister(&mut conn.stream, token, interest) {
                    tracing::warn!(conn = conn.id.0, "reregister failed: {e}");
                }
                conn.writable = want_writable;
            }
        }
        // Dropping connections may have produced outputs for others.
        if self.core.has_output() {
            self.apply_outputs(now);
            self.flush_dirty(now);
        }
    }

    /// Every few seconds: when the load has fallen, give memory back (the
    /// connection slab, the core's tables, and what the allocator holds).
    fn housekeeping(&mut self, now: Instant) {
        self.next_housekeeping = now + HOUSEKEEPING_EVERY;
        let live = self.conns.len();
        if live * 2 < self.peak_conns || self.core.shrink() {
            self.peak_conns = live;
            self.conns.shrink_to_fit();
            // SAFETY: malloc_trim only returns free heap memory to the system;
            // it has no preconditions and touches no live allocation.
            unsafe { libc::malloc_trim(0) };
        }
        self.peak_conns = self.peak_conns.max(live);
    }

    /// Removes a connection. With `tell_core`, the core learns it was lost.
    fn drop_conn(&mut self, now: Instant, key: usize, tell_core: bool) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        tracing::debug!(conn = conn.id.0, peer = %conn.peer, "connection removed");
        if tell_core {
            self.core.on_closed(now, conn.id);
        }
    }
}

/// Decodes and feeds every complete frame of `buf`; returns the bytes used.
fn feed_frames(core: &mut Core, now: Instant, id: ConnId, buf: &[u8]) -> Result<usize, DecodeError> {
    let mut used = 0;
    while let Some((body, n)) = split_frame(&buf[used..])? {
        let msg = ClientMsg::decode(body)?;
        core.on_message(now, id, msg);
        used += n;
    }
    Ok(used)
}
