//! The core server's event loop: one mio `Poll`, a slab of connections.
//!
//! The loop owns the sockets and the clock; all decisions about users, calls
//! and rooms are made by [`Core`]. What the loop decides is how much of each
//! peer it serves, so that no peer can starve, freeze or empty the others:
//!
//! - **Fair reading.** Connections with something to read are kept in a
//!   ready list. Per iteration each gets at most [`READ_BUDGET`] bytes read
//!   and [`MESSAGE_BUDGET`] messages fed to the core, then the next one's
//!   turn comes; whatever is left waits for the next iteration (which then
//!   polls without blocking). Timers and keep-alives run every iteration.
//! - **Back-pressure.** A connection is not read while the core says it is
//!   over its rate ([`Core::read_pause`]), nor while its own unwritten output
//!   is above a quarter of `max_output` (it asks faster than it reads). Its
//!   bytes then wait in the kernel's socket buffers, not in ours.
//! - **Output accounting.** Unwritten output above `max_output` drops the
//!   bulk messages (text, buffers) queued for that receiver, never
//!   signalling; the receiver itself is disconnected only when it stays above
//!   `max_output` for `slow_reader_timeout` (it stopped reading), or at once
//!   above eight times `max_output`.
//! - **Connection lifecycle.** Frames are limited before `Hello` and before
//!   login ([`Core::frame_limit`]); a connection must log in within the
//!   core's login time-out; connections are capped in total and per source
//!   address below the descriptor limit; `accept` survives running out of
//!   descriptors (a reserved descriptor is freed to accept and close the
//!   waiting connections, as mature servers do); a connection the core
//!   closed is flushed within [`CLOSE_LINGER`] or dropped; a FIN read with
//!   the last data is acted on at once.
//! - **Memory that comes back.** Buffers are freed when they empty, and a
//!   housekeeping pass every [`HOUSEKEEPING_EVERY`] shrinks the tables and
//!   returns free heap to the system after a peak.
//!
//! Writing: signalling first (a media frame half written is finished
//! before), then the receiver's media queue; WRITABLE interest is registered
//! only while something is left to write.
//!
//! TLS: a third listener (`tls_listen`) takes clients over TLS, and the
//! business listener may require TLS (with client certificates). Each
//! connection holds a [`Stream`], plain or TLS, driven as `crate::net::tls`
//! describes: ciphertext waiting counts as something left to write.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::cluster::{Cluster, ClusterConfig};
use crate::core::journal::Restored;
use crate::core::{ConnId, Core, CoreConfig, Output};
use crate::net::framed::{Framed, ReadEnd, ReadError, ReadOutcome, Take};
use crate::net::tls::Stream;
use crate::ops::{Ops, OpsConfig};
use crate::wire::constants::{GV_ERR_CONNECT_OVERFLOW, GV_ERR_IPADDR_LOCK};
use crate::wire::protocol::{ClientMsg, ServerMsg};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const BUSINESS_LISTENER: Token = Token(2);
const TLS_LISTENER: Token = Token(3);
const FIRST_CONN: usize = 4;
/// How often the loop checks whether to give memory back.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);
/// Bytes read per `read` call into the shared scratch buffer.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read from one connection per loop iteration.
pub const READ_BUDGET: usize = 64 * 1024;
/// Messages of one connection fed to the core per loop iteration.
pub const MESSAGE_BUDGET: usize = 64;
/// How long a connection the core closed may take to flush what it was sent.
pub const CLOSE_LINGER: Duration = Duration::from_secs(5);
/// When `accept` fails for another reason than a connection aborted, it is
/// tried again after this.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// A connection whose login waits for its cluster-wide id is looked at
/// again after this (the answer resumes it sooner).
const CLUSTER_HOLD: Duration = Duration::from_secs(1);
/// A media link between two servers queues this many times `max_media`
/// (it carries the streams of many users).
const LINK_MEDIA_SHARE: usize = 16;
/// Descriptors kept free below the process's limit (logs, the reserve, epoll)
/// when the connection cap is taken from it.
const FD_RESERVE: u64 = 64;

/// Settings of one core server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where clients connect (default `0.0.0.0:8906`).
    pub listen: SocketAddr,
    /// Where the business server connects (default `127.0.0.1:8907`; None: no listener).
    pub business_listen: Option<SocketAddr>,
    /// Ring and keep-alive timings, rate limits, business server.
    pub core: CoreConfig,
    /// Unwritten output bytes a receiver may have before its bulk messages
    /// are dropped, and for `slow_reader_timeout` before it is disconnected.
    pub max_output: usize,
    /// How long a receiver may stay above `max_output`.
    pub slow_reader_timeout: Duration,
    /// Media bytes queued for a receiver before video frames are dropped.
    pub max_media: usize,
    /// Connections at most, both listeners (0: the descriptor limit less a reserve).
    pub max_connections: usize,
    /// Connections at most from one source address (0: no limit).
    pub max_connections_per_ip: usize,
    /// Where clients connect over TLS, with this configuration (None: no TLS listener).
    pub tls_listen: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    /// The business listener speaks TLS with this configuration (None: plain TCP).
    pub business_tls: Option<Arc<rustls::ServerConfig>>,
    /// Call records and the admin listener (`crate::ops`).
    pub ops: OpsConfig,
    /// Form a cluster with other core servers (None: a server alone).
    pub cluster: Option<ClusterConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8906)),
            business_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8907))),
            core: CoreConfig::default(),
            max_output: 1024 * 1024,
            slow_reader_timeout: Duration::from_secs(10),
            max_media: 256 * 1024,
            max_connections: 0,
            max_connections_per_ip: 4096,
            tls_listen: None,
            business_tls: None,
            ops: OpsConfig::default(),
            cluster: None,
        }
    }
}

/// What the loop counted since it started (the core counts the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Connections accepted and closed at once: over the total cap.
    pub refused_full: u64,
    /// Connections accepted and closed at once: over the cap of their address.
    pub refused_per_ip: u64,
    /// `accept` failures (out of descriptors and the like).
    pub accept_errors: u64,
    /// Receivers disconnected for not reading.
    pub slow_readers: u64,
    /// Bulk messages not queued for a receiver far behind.
    pub bulk_dropped: u64,
    /// Closing connections dropped unflushed after [`CLOSE_LINGER`].
    pub linger_drops: u64,
    /// Connections closed for a bad frame (or one too long for their state).
    pub bad_frames: u64,
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

/// What another thread asks of a running [`Server`], through a
/// [`ControlHandle`].
#[derive(Debug, Clone)]
pub enum Control {
    /// Drain (SIGTERM): no more logins nor calls; the calls in progress go
    /// on for at most this long, then end with a FINISH that both parties and
    /// the business server see (see [`Core::start_drain`]); once no call is
    /// left and what was sent is flushed, [`Server::run`] returns. Asked
    /// again, the deadline can only come closer (`Duration::ZERO`: end the
    /// calls at once).
    Drain(Duration),
    /// New settings (SIGHUP): the core's time-outs, rate limits and secret,
    /// the output and media limits, the connection caps. The listeners and
    /// TLS stay as they were bound.
    Reload(Box<ServerConfig>),
}

/// Sends [`Control`]s to a running [`Server`] from another thread.
#[derive(Clone)]
pub struct ControlHandle {
    tx: crossbeam_channel::Sender<Control>,
    waker: Arc<Waker>,
}

impl ControlHandle {
    /// Hands `c` to the loop, which acts on it promptly.
    pub fn send(&self, c: Control) {
        if self.tx.send(c).is_ok() {
            if let Err(e) = self.waker.wake() {
                tracing::error!("cannot wake the server loop: {e}");
            }
        }
    }
}

/// After a drain, how long the loop keeps flushing what it sent before it
/// returns anyway.
pub const DRAIN_FLUSH: Duration = Duration::from_secs(2);

struct Connection {
    /// The socket, the frames received and the bounded output.
    framed: Framed,
    id: ConnId,
    peer: SocketAddr,
    /// The core has closed the session: flush by this time, then drop.
    closing: Option<Instant>,
    /// Already in the list of connections to flush this iteration.
    dirty: bool,
    /// In the ready list: the socket may have bytes, or frames are buffered.
    ready: bool,
    /// The peer sent its FIN (read until end of stream).
    read_closed: bool,
    /// Not read until its unwritten output drains.
    held_by_output: bool,
    /// Unwritten output above `max_output` since then.
    over_since: Option<Instant>,
}

/// Timers of the loop itself (the core keeps its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LoopTimer {
    /// A connection paused for its rate may be read again.
    Resume(ConnId),
    /// Is the receiver still above `max_output`?
    SlowReader(ConnId),
    /// A closing connection's time to flush is up.
    Linger(ConnId),
    /// Try `accept` again.
    Accept,
}

/// The listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    Client,
    Business,
    Tls,
}

/// Why a connection's turn stopped taking frames.
enum Stop {
    /// The message budget is spent.
    Budget,
    /// The core says: not now (rate), until then.
    Paused(Instant),
    /// The core closed the connection.
    Closed,
}

/// The core server: listeners, connections and the [`Core`] they feed.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    business_listener: Option<TcpListener>,
    tls_listener: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    business_tls: Option<Arc<rustls::ServerConfig>>,
    conns: Slab<Connection>,
    core: Core,
    /// Per slab slot, how many connections it held: the high half of their
    /// ids, so that an id is reused only after 2^32 connections in one slot.
    generations: Vec<u32>,
    scratch: Vec<u8>,
    dirty: Vec<usize>,
    /// Connections to read this iteration.
    ready: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, LoopTimer)>>,
    max_output: usize,
    slow_reader_timeout: Duration,
    max_media: usize,
    max_connections: usize,
    max_per_ip: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// A descriptor held in reserve, given up to accept (and close) when the
    /// process is out of descriptors.
    reserve_fd: Option<std::fs::File>,
    /// Senders whose video a slow receiver lost (reused buffer).
    dropped: Vec<u32>,
    next_housekeeping: Instant,
    /// Most connections seen since memory was last given back.
    peak_conns: usize,
    stats: LoopStats,
    /// The figures last logged by housekeeping.
    logged: (LoopStats, crate::core::Stats),
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    control: (crossbeam_channel::Sender<Control>, crossbeam_channel::Receiver<Control>),
    /// Drained: return once flushed, or at this time.
    exit_by: Option<Instant>,
    /// Metrics, records hand-off, admin requests.
    ops: Ops,
    admin_addr: Option<SocketAddr>,
    /// The cluster (src/cluster/), when one is configured.
    cluster: Option<Cluster>,
}

impl Server {
    /// Binds the listeners. The loop starts with [`Server::run`].
    pub fn bind(mut config: ServerConfig) -> io::Result<Server> {
        let poll = Poll::new()?;
        let listen = config.listen;
        let mut listener =
            TcpListener::bind(listen).map_err(|e| annotate(e, &format!("client listener {listen} (--listen)")))?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let business_listener = match config.business_listen {
            Some(addr) => {
                let mut l = TcpListener::bind(addr)
                    .map_err(|e| annotate(e, &format!("business listener {addr} (--business-listen)")))?;
                poll.registry().register(&mut l, BUSINESS_LISTENER, Interest::READABLE)?;
                Some(l)
            }
            None => None,
        };
        let tls_listener = match config.tls_listen {
            Some((addr, tls)) => {
                let mut l =
                    TcpListener::bind(addr).map_err(|e| annotate(e, &format!("TLS listener {addr} (--tls-listen)")))?;
                poll.registry().register(&mut l, TLS_LISTENER, Interest::READABLE)?;
                Some((l, tls))
            }
            None => None,
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        if config.core.seed == 0 {
            config.core.seed = random_seed();
        }
        let started = Instant::now();
        config.core.wall_clock = Some((started, crate::ops::unix_ms_now()));
        let (admin, admin_rx, admin_addr) = match config.ops.admin_listen {
            Some(addr) => {
                let (admin, rx) =
                    crate::ops::admin::bind(addr).map_err(|e| annotate(e, &format!("admin listener {addr}")))?;
                let bound = admin.local_addr()?;
                (Some(admin), Some(rx), Some(bound))
            }
            None => (None, None, None),
        };
        let cluster = match &config.cluster {
            Some(c) => {
                let me = format!("{}.{:08x}", c.name, config.core.seed as u32);
                let w = waker.clone();
                let notify: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                    let _ = w.wake();
                });
                // Media links from the other servers come in on the client
                // listener, with this token.
                let address = match &c.advertise {
                    Some(a) => a.clone(),
                    None => listener.local_addr()?.to_string(),
                };
                let token = format!("{:016x}{:016x}", random_seed(), random_seed());
                let peer = crate::cluster::engine::PeerEntry { address: address.clone(), token: token.clone() };
                let link = crate::cluster::engine::spawn(&c.engine, &me, c.lease, peer, notify)?;
                tracing::info!(instance = %me, engine = %c.engine, advertise = %address, "cluster on");
                Some(Cluster::new(me, link, token))
            }
            None => None,
        };
        let ops = Ops::new(config.ops.records.clone(), admin_rx, started);
        config.core.journal |= ops.wants_journal();
        config.core.missed_calls |= config.ops.records.is_some();
        if let Some(admin) = admin {
            let w = waker.clone();
            admin.spawn(Arc::new(move || {
                let _ = w.wake();
            }))?;
        }
        let max_connections = connection_cap(config.max_connections);
        Ok(Server {
            poll,
            listener,
            business_listener,
            tls_listener,
            business_tls: config.business_tls,
            conns: Slab::new(),
            core: Core::new(config.core),
            generations: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            dirty: Vec::new(),
            ready: Vec::new(),
            timers: BinaryHeap::new(),
            max_output: config.max_output,
            slow_reader_timeout: config.slow_reader_timeout,
            max_media: config.max_media,
            max_connections,
            max_per_ip: config.max_connections_per_ip,
            per_ip: HashMap::new(),
            reserve_fd: std::fs::File::open("/dev/null").ok(),
            dropped: Vec::new(),
            next_housekeeping: Instant::now() + HOUSEKEEPING_EVERY,
            peak_conns: 0,
            stats: LoopStats::default(),
            logged: Default::default(),
            stop: Arc::new(AtomicBool::new(false)),
            waker,
            control: crossbeam_channel::unbounded(),
            exit_by: None,
            ops,
            admin_addr,
            cluster,
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

    /// The TLS listener's bound address, if it has one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_listener.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The admin listener's bound address, if it has one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Gives the core back what the call records kept (before [`Server::run`]).
    pub fn restore(&mut self, restored: Restored) {
        self.core.restore(restored);
    }

    /// Connections accepted at most at a time.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// A handle that stops [`Server::run`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle { flag: self.stop.clone(), waker: self.waker.clone() }
    }

    /// A handle that drains or reconfigures the running loop from another
    /// thread.
    pub fn control_handle(&self) -> ControlHandle {
        ControlHandle { tx: self.control.0.clone(), waker: self.waker.clone() }
    }

    /// Runs the loop until stopped through a [`StopHandle`], or drained
    /// ([`Control::Drain`]).
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !self.stop.load(Ordering::SeqCst) {
            let cluster_pending = self.cluster.as_ref().is_some_and(|c| c.pending());
            let timeout = if self.ready.is_empty() && !cluster_pending {
                let next = [self.core.next_deadline(), self.timers.peek().map(|Reverse((t, _))| *t), self.exit_by]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(self.next_housekeeping)
                    .min(self.next_housekeeping);
                // Round up so that a timer is not polled for just before it is due.
                Some(next.saturating_duration_since(Instant::now()) + Duration::from_micros(500))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now, Listener::Client),
                    BUSINESS_LISTENER => self.accept(now, Listener::Business),
                    TLS_LISTENER => self.accept(now, Listener::Tls),
                    WAKER => {}
                    Token(t) => {
                        let key = t - FIRST_CONN;
                        let Some(conn) = self.conns.get_mut(key) else { continue };
                        if event.is_read_closed() || event.is_error() {
                            conn.read_closed = true;
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.mark_ready(key);
                        }
                        if event.is_writable() {
                            self.mark_dirty(key);
                        }
                    }
                }
            }
            self.take_controls(now);
            self.fire_timers(now);
            self.read_ready(now);
            if let Some(c) = &mut self.cluster {
                c.on_engine(&mut self.core, now);
                for (server, tcp) in c.take_dialed() {
                    self.adopt_link(now, server, tcp);
                }
            }
            self.core.on_timeout(now);
            self.apply_outputs(now);
            self.flush_dirty(now);
            if now >= self.next_housekeeping {
                self.housekeeping(now);
            }
            let l = &self.stats;
            let figures = crate::ops::LoopFigures {
                refused_full: l.refused_full,
                refused_per_ip: l.refused_per_ip,
                bad_frames: l.bad_frames,
                slow_readers: l.slow_readers,
                bulk_dropped: l.bulk_dropped,
            };
            self.ops.serve_admin(now, &self.core, self.conns.len(), figures);
            if self.core.drained() {
                let exit_by = *self.exit_by.get_or_insert(now + DRAIN_FLUSH);
                let flushed = self.conns.iter().all(|(_, c)| c.framed.pending() == 0 && !c.framed.stream.wants_write());
                if flushed || now >= exit_by {
                    tracing::info!(users = self.core.online_users(), flushed, "drained");
                    break;
                }
            }
        }
        tracing::info!(users = self.core.online_users(), "server stopping");
        Ok(())
    }

    /// Acts on what other threads asked ([`Control`]).
    fn take_controls(&mut self, now: Instant) {
        while let Ok(control) = self.control.1.try_recv() {
            match control {
                Control::Drain(d) => self.core.start_drain(now, now + d),
                Control::Reload(config) => {
                    let config = *config;
                    self.core.reconfigure(config.core);
                    self.max_output = config.max_output;
                    self.slow_reader_timeout = config.slow_reader_timeout;
                    self.max_media = config.max_media;
                    self.max_connections = connection_cap(config.max_connections);
                    self.max_per_ip = config.max_connections_per_ip;
                }
            }
        }
    }

    // ----- accepting --------------------------------------------------------

    fn accept(&mut self, now: Instant, which: Listener) {
        loop {
            let listener = match which {
                Listener::Client => Some(&self.listener),
                Listener::Business => self.business_listener.as_ref(),
                Listener::Tls => self.tls_listener.as_ref().map(|(l, _)| l),
            };
            let Some(listener) = listener else { return };
            match listener.accept() {
                Ok((tcp, peer)) => {
                    let tls = match which {
                        Listener::Client => None,
                        Listener::Business => self.business_tls.clone(),
                        Listener::Tls => self.tls_listener.as_ref().map(|(_, c)| c.clone()),
                    };
                    let stream = match tls {
                        None => Stream::plain(tcp),
                        Some(config) => match Stream::tls_server(tcp, config) {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!(%peer, "cannot start TLS: {e}");
                                continue;
                            }
                        },
                    };
                    self.admit(now, stream, peer, which == Listener::Business)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    self.stats.accept_errors += 1;
                    let out_of_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                    if out_of_fds {
                        if let Some(reserve) = self.reserve_fd.take() {
                            // Give up the reserve to take the waiting
                            // connection off the backlog, close it, and take
                            // the reserve back; then go on draining.
                            drop(reserve);
                            if let Ok((stream, peer)) = listener.accept() {
                                tracing::warn!(%peer, "out of file descriptors: connection closed at once");
                                drop(stream);
                            }
                            self.reserve_fd = std::fs::File::open("/dev/null").ok();
                            if self.reserve_fd.is_some() {
                                continue;
                            }
                        }
                    }
                    // The listener stays registered: try again shortly, as
                    // edge-triggered readiness will not report the backlog again.
                    tracing::warn!("accept failed: {e}; retrying in {ACCEPT_RETRY:?}");
                    self.timers.push(Reverse((now + ACCEPT_RETRY, LoopTimer::Accept)));
                    return;
                }
            }
        }
    }

    /// A new connection: over a cap it is refused at once, else registered
    /// and given to the core.
    fn admit(&mut self, now: Instant, mut stream: Stream, peer: SocketAddr, business: bool) {
        let ip = peer.ip();
        let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        let refusal = if self.conns.len() >= self.max_connections {
            self.stats.refused_full += 1;
            Some(("the server is full", GV_ERR_CONNECT_OVERFLOW))
        } else if self.max_per_ip > 0 && from_ip >= self.max_per_ip {
            self.stats.refused_per_ip += 1;
            Some(("too many connections from its address", GV_ERR_IPADDR_LOCK))
        } else {
            None
        };
        if let Some((why, code)) = refusal {
            tracing::debug!(%peer, "connection refused: {why}");
            if !stream.is_tls() {
                let mut frame = Vec::new();
                ServerMsg::Refused { code }.encode(&mut frame);
                // Best effort: the socket buffer takes a few bytes at once.
                let _ = stream.write(&frame);
            }
            return;
        }
        let _ = stream.set_nodelay(true);
        let Some((key, id)) = self.insert_conn(stream, peer, self.max_media) else { return };
        tracing::debug!(%peer, conn = %id, business, "accepted");
        self.core.on_connect(now, id, business, ip.to_string());
        // Bytes may have arrived with the connection.
        self.mark_ready(key);
    }

    /// A media link to another server of the cluster, connected (and its
    /// `Hello` sent) by the engine thread: served like any connection,
    /// with a larger media queue (it carries many users' streams).
    fn adopt_link(&mut self, now: Instant, server: String, tcp: std::net::TcpStream) {
        let peer = match tcp.peer_addr() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%server, "cluster: media link lost before use: {e}");
                return;
            }
        };
        let stream = Stream::plain(mio::net::TcpStream::from_std(tcp));
        let Some((_, id)) = self.insert_conn(stream, peer, self.max_media.saturating_mul(LINK_MEDIA_SHARE)) else {
            return;
        };
        self.core.on_connect(now, id, false, peer.ip().to_string());
        self.core.make_peer(id);
        if let Some(c) = &mut self.cluster {
            c.link_up(server, id);
        }
    }

    /// Registers a connection in the poll and the slab (its id: the slot
    /// and the slot's generation), with a media queue of `max_media` bytes.
    fn insert_conn(&mut self, mut stream: Stream, peer: SocketAddr, max_media: usize) -> Option<(usize, ConnId)> {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if self.generations.len() <= key {
            self.generations.resize(key + 1, 0);
        }
        self.generations[key] = self.generations[key].wrapping_add(1);
        let id = ConnId(((self.generations[key] as u64) << 32) | key as u64);
        if let Err(e) = self.poll.registry().register(&mut stream, Token(key + FIRST_CONN), Interest::READABLE) {
            tracing::warn!(%peer, "cannot register connection: {e}");
            return None;
        }
        entry.insert(Connection {
            framed: Framed::new(stream, max_media, false),
            id,
            peer,
            closing: None,
            dirty: false,
            ready: false,
            read_closed: false,
            held_by_output: false,
            over_since: None,
        });
        *self.per_ip.entry(peer.ip()).or_insert(0) += 1;
        Some((key, id))
    }

    // ----- reading ----------------------------------------------------------

    fn mark_ready(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key) {
            if !c.ready {
                c.ready = true;
                self.ready.push(key);
            }
        }
    }

    /// Gives every ready connection its turn; those with more to read stay
    /// ready for the next iteration.
    fn read_ready(&mut self, now: Instant) {
        let ready = std::mem::take(&mut self.ready);
        let mut again = Vec::new();
        for key in ready {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            conn.ready = false;
            let more = self.read(now, key);
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if more {
                conn.ready = true;
                again.push(key);
            }
            // A TLS handshake answer (or alert) may wait to go out.
            if conn.framed.stream.wants_write() {
                self.mark_dirty(key);
            }
        }
        // Connections made ready meanwhile (accepted, resumed) keep their turn.
        again.append(&mut self.ready);
        self.ready = again;
    }

    /// One turn of a connection: feeds its buffered frames, then reads,
    /// within the budgets. True when it has more to read.
    fn read(&mut self, now: Instant, key: usize) -> bool {
        let Some(conn) = self.conns.get_mut(key) else { return false };
        let id = conn.id;
        if conn.closing.is_some() || !self.core.is_open(id) {
            return false;
        }
        if conn.framed.pending() > self.max_output / 4 {
            // It asks faster than it reads its answers: wait for it.
            conn.held_by_output = true;
            return false;
        }
        if let Some(until) = self.core.read_pause(id, now) {
            return self.pause(key, until);
        }
        if self.cluster.as_ref().is_some_and(|c| c.holds(id)) {
            return self.pause(key, now + CLUSTER_HOLD);
        }
        let core = &mut self.core;
        let mut cluster = self.cluster.as_mut();
        let limit = Cell::new(core.frame_limit(id));
        let mut messages = MESSAGE_BUDGET;
        let mut stop = Stop::Budget;
        let read = conn.framed.read_frames(
            &mut self.scratch,
            READ_BUDGET,
            conn.read_closed,
            || limit.get(),
            |body| {
                if !core.is_open(id) {
                    stop = Stop::Closed;
                    return Ok(Take::Stop);
                }
                if let Some(until) = core.read_pause(id, now) {
                    stop = Stop::Paused(until);
                    return Ok(Take::Stop);
                }
                if cluster.as_ref().is_some_and(|c| c.holds(id)) {
                    stop = Stop::Paused(now + CLUSTER_HOLD);
                    return Ok(Take::Stop);
                }
                if messages == 0 {
                    stop = Stop::Budget;
                    return Ok(Take::Stop);
                }
                let msg = ClientMsg::decode(body)?;
                // A cluster sees the message first (and may take it).
                let msg = match cluster.as_mut() {
                    Some(c) => c.on_client(core, now, id, msg),
                    None => Some(msg),
                };
                if let Some(msg) = msg {
                    core.on_message(now, id, msg);
                }
                messages -= 1;
                limit.set(core.frame_limit(id));
                Ok(Take::Taken)
            },
        );
        let peer = conn.peer;
        match read {
            Ok(ReadOutcome { end: ReadEnd::Drained, .. }) => false,
            Ok(ReadOutcome { end: ReadEnd::Budget, .. }) => true,
            Ok(ReadOutcome { end: ReadEnd::Stopped, .. }) => match stop {
                Stop::Budget => true,
                Stop::Paused(until) => self.pause(key, until),
                Stop::Closed => false,
            },
            Ok(ReadOutcome { end: ReadEnd::Closed, .. }) => {
                tracing::debug!(conn = %id, "peer closed");
                self.drop_conn(now, key, true);
                false
            }
            Err(ReadError::Frame(e)) => {
                tracing::warn!(conn = %id, %peer, "bad frame, closing connection: {e}");
                self.stats.bad_frames += 1;
                self.drop_conn(now, key, true);
                false
            }
            Err(ReadError::Tls(e)) => {
                tracing::warn!(conn = %id, %peer, "TLS error, closing connection: {e}");
                self.stats.bad_frames += 1;
                self.drop_conn(now, key, true);
                false
            }
            Err(ReadError::Io(e)) => {
                tracing::info!(conn = %id, "read error: {e}");
                self.drop_conn(now, key, true);
                false
            }
        }
    }

    /// The connection is over its rate: read it again at `until`.
    fn pause(&mut self, key: usize, until: Instant) -> bool {
        if let Some(conn) = self.conns.get(key) {
            self.timers.push(Reverse((until, LoopTimer::Resume(conn.id))));
        }
        false
    }

    // ----- the core's outputs -----------------------------------------------

    /// Carries out the core's outputs: encode messages, schedule closes.
    fn apply_outputs(&mut self, now: Instant) {
        loop {
            self.apply_outputs_once(now);
            // Remote users whose call ended go once their events went out.
            if !self.cluster.as_mut().is_some_and(|c| c.after_step(&mut self.core)) {
                break;
            }
        }
    }

    fn apply_outputs_once(&mut self, now: Instant) {
        loop {
            let out = match self.core.poll_output() {
                Some(out) => out,
                None => match self.cluster.as_mut().and_then(|c| c.poll_output()) {
                    Some(out) => out,
                    None => break,
                },
            };
            let out = match self.cluster.as_mut() {
                Some(c) => match c.on_output(now, out) {
                    Some(out) => out,
                    None => continue,
                },
                None => out,
            };
            match out {
                Output::Send(id, msg) => {
                    let Some(key) = self.key_of(id) else { continue };
                    let conn = &mut self.conns[key];
                    if msg.is_bulk() && conn.framed.pending() > self.max_output {
                        // The receiver is far behind: bulk data is dropped,
                        // signalling always goes.
                        self.stats.bulk_dropped += 1;
                        continue;
                    }
                    msg.encode(conn.framed.out());
                    if conn.framed.pending() > self.max_output * 8 {
                        tracing::warn!(conn = %id, peer = %conn.peer, "output buffer full (8 x max-output), closing");
                        self.stats.slow_readers += 1;
                        self.drop_conn(now, key, true);
                        continue;
                    }
                    self.mark_dirty(key);
                }
                Output::Media(id, frame) => {
                    let Some(key) = self.key_of(id) else { continue };
                    let framed = &mut self.conns[key].framed;
                    let (frames, bytes) = framed.media_backlog();
                    let len = frame.bytes.len();
                    framed.push_media(frame, &mut self.dropped);
                    let (frames_after, bytes_after) = framed.media_backlog();
                    self.ops.media(
                        len,
                        frames + 1 - frames_after.min(frames + 1),
                        bytes + len - bytes_after.min(bytes + len),
                    );
                    for from in self.dropped.drain(..) {
                        tracing::debug!(conn = %id, from, "slow receiver: video frames dropped");
                        self.core.on_media_dropped(now, from);
                    }
                    self.mark_dirty(key);
                }
                Output::Close(id, reason) => {
                    let Some(key) = self.key_of(id) else { continue };
                    tracing::debug!(conn = %id, ?reason, "closing");
                    self.conns[key].closing = Some(now + CLOSE_LINGER);
                    self.timers.push(Reverse((now + CLOSE_LINGER, LoopTimer::Linger(id))));
                    self.mark_dirty(key);
                }
                Output::Resume(id) => {
                    if let Some(key) = self.key_of(id) {
                        self.mark_ready(key);
                    }
                }
                Output::Journal(event) => self.ops.journal(event),
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

    // ----- writing ----------------------------------------------------------

    fn flush_dirty(&mut self, now: Instant) {
        let dirty = std::mem::take(&mut self.dirty);
        for &key in &dirty {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            conn.dirty = false;
            // A closing connection gets its signalling out, not its media.
            if let Err(e) = conn.framed.flush(conn.closing.is_none()) {
                tracing::debug!(conn = %conn.id, "write error: {e}");
                self.drop_conn(now, key, true);
                continue;
            }
            let pending = conn.framed.pending();
            if pending == 0 && conn.closing.is_some() && !conn.framed.stream.wants_write() {
                conn.framed.stream.send_close_notify();
                self.drop_conn(now, key, false);
                continue;
            }
            // A receiver stays above `max_output` only so long.
            if pending > self.max_output {
                if conn.over_since.is_none() {
                    conn.over_since = Some(now);
                    self.timers.push(Reverse((now + self.slow_reader_timeout, LoopTimer::SlowReader(conn.id))));
                }
            } else {
                conn.over_since = None;
            }
            let resume = conn.held_by_output && pending <= self.max_output / 8;
            if let Err(e) = conn.framed.update_interest(self.poll.registry(), Token(key + FIRST_CONN)) {
                tracing::warn!(conn = %conn.id, "reregister failed: {e}");
            }
            if resume {
                conn.held_by_output = false;
                self.mark_ready(key);
            }
        }
        // Dropping connections may have produced outputs for others.
        if self.core.has_output() {
            self.apply_outputs(now);
            self.flush_dirty(now);
        }
    }

    // ----- timers and housekeeping ------------------------------------------

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                LoopTimer::Accept => {
                    for which in [Listener::Client, Listener::Business, Listener::Tls] {
                        self.accept(now, which);
                    }
                }
                LoopTimer::Resume(id) => {
                    let Some(key) = self.key_of(id) else { continue };
                    match self.core.read_pause(id, now) {
                        Some(until) => self.timers.push(Reverse((until, LoopTimer::Resume(id)))),
                        None => self.mark_ready(key),
                    }
                }
                LoopTimer::Linger(id) => {
                    let Some(key) = self.key_of(id) else { continue };
                    tracing::info!(conn = %id, "closing connection not flushed in time: dropped");
                    self.stats.linger_drops += 1;
                    self.drop_conn(now, key, false);
                }
                LoopTimer::SlowReader(id) => {
                    let Some(key) = self.key_of(id) else { continue };
                    let conn = &self.conns[key];
                    match conn.over_since {
                        Some(since) if since + self.slow_reader_timeout <= now => {
                            tracing::warn!(
                                conn = %id,
                                peer = %conn.peer,
                                pending = conn.framed.pending(),
                                "output buffer full for {:?} (peer not reading), closing",
                                self.slow_reader_timeout
                            );
                            self.stats.slow_readers += 1;
                            self.drop_conn(now, key, true);
                        }
                        Some(since) => {
                            self.timers.push(Reverse((since + self.slow_reader_timeout, LoopTimer::SlowReader(id))));
                        }
                        None => {}
                    }
                }
            }
        }
        // Dead entries (connections gone) go when the heap is mostly dead.
        if self.timers.len() > 4096 && self.timers.len() > self.conns.len() * 8 {
            let conns = &self.conns;
            let live = |id: &ConnId| conns.get((id.0 & 0xFFFF_FFFF) as usize).is_some_and(|c| c.id == *id);
            self.timers.retain(|Reverse((_, t))| match t {
                LoopTimer::Resume(id) | LoopTimer::SlowReader(id) | LoopTimer::Linger(id) => live(id),
                LoopTimer::Accept => true,
            });
        }
    }

    /// Every few seconds: when the load has fallen, give memory back (the
    /// connection slab, the core's tables, and what the allocator holds);
    /// and log what the limits did since the last time.
    fn housekeeping(&mut self, now: Instant) {
        self.next_housekeeping = now + HOUSEKEEPING_EVERY;
        let live = self.conns.len();
        let shrink_lists = self.ready.capacity() > 1024 || self.dirty.capacity() > 1024;
        if live * 2 < self.peak_conns || self.core.shrink() || shrink_lists {
            self.peak_conns = live;
            self.conns.shrink_to_fit();
            self.ready.shrink_to_fit();
            self.dirty.shrink_to_fit();
            self.per_ip.shrink_to_fit();
            self.timers.shrink_to_fit();
            crate::net::memory::give_back();
        }
        self.peak_conns = self.peak_conns.max(live);
        let figures = (self.stats.clone(), self.core.stats().clone());
        if figures != self.logged {
            let (l, c) = &figures;
            let throttled: Vec<String> = crate::core::limits::Class::ALL
                .iter()
                .zip(c.throttled.iter())
                .filter(|(_, n)| **n > 0)
                .map(|(class, n)| format!("{class}={n}"))
                .collect();
            tracing::info!(
                connections = live,
                refused_full = l.refused_full,
                refused_per_ip = l.refused_per_ip,
                accept_errors = l.accept_errors,
                slow_readers = l.slow_readers,
                bulk_dropped = l.bulk_dropped,
                linger_drops = l.linger_drops,
                bad_frames = l.bad_frames,
                throttled = %throttled.join(","),
                rate_disconnects = c.rate_disconnects,
                login_timeouts = c.login_timeouts,
                secret_refusals = c.secret_refusals,
                id_claims_refused = c.id_claims_refused,
                subscriptions_refused = c.subscriptions_refused,
                "limits since start"
            );
            self.logged = figures;
        }
    }

    /// What the loop counted.
    pub fn stats(&self) -> &LoopStats {
        &self.stats
    }

    /// Removes a connection. With `tell_core`, the core learns it was lost.
    fn drop_conn(&mut self, now: Instant, key: usize, tell_core: bool) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.framed.stream);
        let ip = conn.peer.ip();
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        tracing::debug!(conn = %conn.id, peer = %conn.peer, "connection removed");
        if tell_core {
            self.core.on_closed(now, conn.id);
            if let Some(c) = &mut self.cluster {
                c.on_closed(conn.id);
            }
        }
    }
}

fn annotate(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Connections at most for `--max-connections` (0: the descriptor limit
/// less a reserve).
fn connection_cap(configured: usize) -> usize {
    match configured {
        0 => fd_limit().saturating_sub(FD_RESERVE).max(16) as usize,
        n => n,
    }
}

/// The process's descriptor limit (soft).
fn fd_limit() -> u64 {
    rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).unwrap_or(1024)
}

/// Raises the process's descriptor limit to its hard limit (as servers do at
/// start); returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("cannot raise the descriptor limit: {e}");
            fd_limit()
        }
    }
}

/// Randomness for the core (tokens): from the system's random source, else
/// from the clock and the process id.
fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)) {
        Ok(()) => u64::from_ne_bytes(b),
        Err(_) => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
        }
    }
}
