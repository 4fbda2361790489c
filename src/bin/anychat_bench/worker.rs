//! One load-generating thread: a mio `Poll` driving many simulated clients.
//!
//! Each client is one real protocol connection (Hello, Login, keep-alive
//! Pings). In calls mode the clients come in pairs (caller, callee) that live
//! on the same worker, so a call's state machine is checked without locks:
//! Request → caller gets REPLY(0), callee gets REQUEST → callee Reply(0) →
//! both get START → caller Finish → both get FINISH. Anything else, or a call
//! not complete within the call time-out, fails the call and retires its pair.
//!
//! Per loop iteration the worker reads every readable socket, places the calls
//! due at the target rate, sends due Pings, and then writes each connection's
//! pending bytes with one `write` (the messages of an iteration are batched).
//! Every loop here is bounded: the worker stops at its hard deadline whatever
//! it is told.
//!
//! In media mode every pair places one call and holds it: on its START each
//! side opens its camera (and microphone), subscribes to the peer's streams
//! and sends synthetic frames at the planned rate until the run's end; the
//! frames in flight are then awaited (the drain), the caller finishes the
//! call, and the worker reports. A frame's send time is written into its
//! payload just before the connection's bytes go to `write`; the receiver
//! reads the clock right after the `read` that brought the frame.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anychat::wire::constants::*;
use anychat::wire::protocol::{
    split_frame, CallEvent, ClientMsg, MediaHeader, Role, ServerMsg, CAP_OPUS, DEVICE_CAMERA, DEVICE_MIC, MEDIA_AUDIO,
    MEDIA_VIDEO, PROTOCOL_VERSION,
};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::media::{self, MediaPlan, MediaResult, Noise, Side};
use super::stats::{reason_code, StepResult};

const REQUEST: u32 = BRAC_VIDEOCALL_EVENT_REQUEST;
const REPLY: u32 = BRAC_VIDEOCALL_EVENT_REPLY;
const START: u32 = BRAC_VIDEOCALL_EVENT_START;
const FINISH: u32 = BRAC_VIDEOCALL_EVENT_FINISH;
const CALL_FLAGS: u32 = BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO;
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Calls due before a step's end may be placed this long after it (the poll
/// wakes on whole milliseconds).
const PLACING_GRACE: Duration = Duration::from_millis(2);
/// Longest the loop sleeps when nothing is due (commands are checked between polls).
const IDLE_WAIT: Duration = Duration::from_millis(20);
/// Media mode: a connection with this many bytes not yet written skips its
/// next video frames (the load generator's own uplink is full).
const MAX_MEDIA_BACKLOG: usize = 1024 * 1024;
/// Media mode: frames sent per loop iteration at most (reads come in between).
const MAX_FRAMES_PER_ITERATION: usize = 10_000;

/// Counters the main thread reads for its once-a-second progress line.
#[derive(Debug, Default)]
pub struct Shared {
    pub logged_in: AtomicU64,
    pub login_failed: AtomicU64,
    pub placed: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub disconnected: AtomicU64,
    pub pongs: AtomicU64,
    /// Largest setup latency (ns) since the main thread last took it.
    pub max_latency_ns: AtomicU64,
    /// Media mode: calls with both STARTs, frames sent and received, frames
    /// lost (gaps seen so far), NeedKeyFrame received.
    pub calls_up: AtomicU64,
    pub video_sent: AtomicU64,
    pub video_received: AtomicU64,
    pub audio_sent: AtomicU64,
    pub audio_received: AtomicU64,
    pub media_gaps: AtomicU64,
    pub need_key: AtomicU64,
    /// Largest frame latency (ns) since the main thread last took it.
    pub max_frame_latency_ns: AtomicU64,
}

/// One simulated user: its login name and the source address to bind.
#[derive(Debug, Clone)]
pub struct UserSpec {
    pub name: Vec<u8>,
    pub source: Option<Ipv4Addr>,
    /// Another server of a cluster for this user (None: `WorkerConfig::server`).
    pub server: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub server: SocketAddr,
    /// In calls mode: caller of pair k at `2k`, its callee at `2k + 1`.
    pub users: Vec<UserSpec>,
    pub pairs: bool,
    /// Connections being set up (connect + Hello + Login) at once, at most.
    pub connect_concurrency: usize,
    pub login_timeout: Duration,
    /// The worker stops at this instant whatever it is told (a bound on the run).
    pub deadline: Instant,
}

#[derive(Debug, Clone, Copy)]
pub enum Command {
    /// Place calls at `rate` per second for `duration`, then report once every
    /// call placed has ended (completed, failed or timed out after `call_timeout`).
    Step { rate: f64, duration: Duration, call_timeout: Duration },
    /// Media mode: every free pair places one call and streams as planned,
    /// then finishes it; report once every call has ended.
    Media(MediaPlan),
    /// Close every connection and end the thread.
    Stop,
}

#[derive(Debug)]
pub enum Report {
    /// Every connection is logged in or has failed to.
    LoggedIn {
        ok: u64,
        failed: BTreeMap<String, u64>,
        pairs_ready: u64,
    },
    Step(StepResult),
    Media(Box<MediaResult>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotStarted,
    Connecting,
    WaitLogin,
    LoggedIn,
    Dead,
}

struct Conn {
    stream: Option<TcpStream>,
    phase: Phase,
    user_id: u32,
    started: Instant,
    /// Bytes of an incomplete frame carried over between reads.
    partial: Vec<u8>,
    /// Encoded messages not written yet: `out[written..]`.
    out: Vec<u8>,
    written: usize,
    dirty: bool,
    ping_every: Duration,
    ping_seq: u32,
    /// Media mode: what this connection sends and receives.
    media: Side,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairState {
    Idle,
    InCall,
    /// A side failed to log in, was disconnected, or a call failed: no more calls.
    Retired,
}

struct Pair {
    state: PairState,
    seq: u32,
    sent_at: Instant,
    ringing: bool,
    got_request: bool,
    caller_start: bool,
    callee_start: bool,
    caller_finish: bool,
    callee_finish: bool,
}

/// A media run in progress.
struct MediaRun {
    plan: MediaPlan,
    /// The sending stops here.
    stop_at: Instant,
    /// Set once the sending stopped: frames in flight are awaited until then.
    drain_until: Option<Instant>,
    /// The callers have sent FINISH: report once every call has ended.
    hung_up: bool,
    /// Next frame due per connection and kind: `(due, connection, kind)`.
    due: BinaryHeap<Reverse<(Instant, usize, u8)>>,
    result: MediaResult,
}

struct ActiveStep {
    start: Instant,
    rate: f64,
    duration: Duration,
    call_timeout: Duration,
    total: u64,
    placed: u64,
}

pub struct Worker {
    cfg: WorkerConfig,
    poll: Poll,
    conns: Vec<Conn>,
    pairs: Vec<Pair>,
    idle_pairs: VecDeque<usize>,
    next_connect: usize,
    connecting: usize,
    /// Connections in set-up, in the order started (login time-outs, FIFO).
    login_deadlines: VecDeque<(Instant, usize)>,
    login_failed: BTreeMap<String, u64>,
    login_reported: bool,
    /// Next Ping per connection. First Pings are spread over one period so
    /// that connections logged in together do not ping in bursts.
    pings: BinaryHeap<Reverse<(Instant, usize)>>,
    /// `(deadline, pair, seq)` of calls placed, in order placed.
    call_deadlines: VecDeque<(Instant, usize, u32)>,
    in_flight: u64,
    step: Option<ActiveStep>,
    result: StepResult,
    dirty: Vec<usize>,
    /// Pairs whose Request was queued this iteration: stamped just before the write.
    just_placed: Vec<usize>,
    shared: Arc<Shared>,
    /// A media command was received: media, device and key-frame messages are expected.
    media_mode: bool,
    media: Option<MediaRun>,
    noise: Option<Noise>,
    /// The clock (`media::now_ns`) right after the last `read` returned data.
    recv_ns: u64,
}

impl Worker {
    pub fn new(cfg: WorkerConfig, shared: Arc<Shared>) -> io::Result<Worker> {
        let now = Instant::now();
        let conns = (0..cfg.users.len())
            .map(|_| Conn {
                stream: None,
                phase: Phase::NotStarted,
                user_id: 0,
                started: now,
                partial: Vec::new(),
                out: Vec::new(),
                written: 0,
                dirty: false,
                ping_every: Duration::from_secs(1),
                ping_seq: 0,
                media: Side::default(),
            })
            .collect();
        let npairs = if cfg.pairs { cfg.users.len() / 2 } else { 0 };
        let pairs = (0..npairs)
            .map(|_| Pair {
                state: PairState::Idle,
                seq: 0,
                sent_at: now,
                ringing: false,
                got_request: false,
                caller_start: false,
                callee_start: false,
                caller_finish: false,
                callee_finish: false,
            })
            .collect();
        Ok(Worker {
            poll: Poll::new()?,
            conns,
            pairs,
            idle_pairs: VecDeque::new(),
            next_connect: 0,
            connecting: 0,
            login_deadlines: VecDeque::new(),
            login_failed: BTreeMap::new(),
            login_reported: false,
            pings: BinaryHeap::new(),
            call_deadlines: VecDeque::new(),
            in_flight: 0,
            step: None,
            result: StepResult::default(),
            dirty: Vec::new(),
            just_placed: Vec::new(),
            shared,
            media_mode: false,
            media: None,
            noise: None,
            recv_ns: 0,
            cfg,
        })
    }

    /// The worker's loop; returns on `Stop`, when the main thread is gone, or
    /// at the hard deadline.
    pub fn run(mut self, commands: Receiver<Command>, reports: Sender<Report>) {
        let mut events = Events::with_capacity(1024);
        let mut scratch = vec![0u8; READ_CHUNK];
        loop {
            let now = Instant::now();
            if now >= self.cfg.deadline {
                eprintln!("anychat-bench: worker reached its time limit, stopping");
                break;
            }
            match commands.try_recv() {
                Ok(Command::Step { rate, duration, call_timeout }) => {
                    let total = (rate * duration.as_secs_f64()).round() as u64;
                    self.result = StepResult { offered: total, ..StepResult::default() };
                    self.step = Some(ActiveStep { start: now, rate, duration, call_timeout, total, placed: 0 });
                }
                Ok(Command::Media(plan)) => self.start_media(now, plan),
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
            self.start_connects(now);
            let timeout = self.next_wake(now);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("anychat-bench: poll failed: {e}");
                break;
            }
            let now = Instant::now();
            for event in events.iter() {
                let idx = event.token().0;
                if self.conns[idx].phase == Phase::Connecting {
                    self.check_connected(now, idx, event.is_error());
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(now, idx, &mut scratch);
                }
                if event.is_writable() && self.conns[idx].out.len() > self.conns[idx].written {
                    self.mark_dirty(idx);
                }
            }
            self.expire_logins(now);
            self.place_calls(now);
            self.expire_calls(now);
            self.media_tick(Instant::now());
            self.send_pings(now);
            // Setup latency runs from just before the Request is written.
            let sent = Instant::now();
            for p in self.just_placed.drain(..) {
                self.pairs[p].sent_at = sent;
            }
            self.flush(now);
            self.report(now, &reports);
        }
        for c in &mut self.conns {
            if let Some(mut s) = c.stream.take() {
                let _ = self.poll.registry().deregister(&mut s);
            }
        }
    }

    // ----- connections ------------------------------------------------------

    fn start_connects(&mut self, now: Instant) {
        while self.connecting < self.cfg.connect_concurrency && self.next_connect < self.conns.len() {
            let idx = self.next_connect;
            self.next_connect += 1;
            match open(self.cfg.users[idx].server.unwrap_or(self.cfg.server), self.cfg.users[idx].source) {
                Ok(mut stream) => {
                    let token = Token(idx);
                    if let Err(e) =
                        self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    {
                        self.login_failure(idx, format!("register: {}", e.kind()));
                        continue;
                    }
                    let c = &mut self.conns[idx];
                    c.stream = Some(stream);
                    c.phase = Phase::Connecting;
                    c.started = now;
                    self.connecting += 1;
                    self.login_deadlines.push_back((now + self.cfg.login_timeout, idx));
                }
                Err(e) => {
                    let what = match e.raw_os_error() {
                        Some(libc::EMFILE) | Some(libc::ENFILE) => "connect: out of file descriptors".to_string(),
                        Some(libc::EADDRNOTAVAIL) => "connect: no free source port".to_string(),
                        _ => format!("connect: {}", e.kind()),
                    };
                    self.login_failure(idx, what);
                }
            }
        }
    }

    fn check_connected(&mut self, _now: Instant, idx: usize, error: bool) {
        let c = &mut self.conns[idx];
        let Some(stream) = c.stream.as_ref() else { return };
        if let Ok(Some(e)) | Err(e) = stream.take_error() {
            self.kill(idx, format!("connect: {}", e.kind()));
            return;
        }
        if error {
            self.kill(idx, "connect: error".into());
            return;
        }
        match stream.peer_addr() {
            Ok(_) => {
                let _ = stream.set_nodelay(true);
                c.phase = Phase::WaitLogin;
                // Hello and Login go together: the server handles them in order.
                ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 }
                    .encode(&mut c.out);
                let name = self.cfg.users[idx].name.clone();
                ClientMsg::Login { name, password: vec![], pass_enc_type: 0 }.encode(&mut c.out);
                self.mark_dirty(idx);
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            Err(e) => self.kill(idx, format!("connect: {}", e.kind())),
        }
    }

    /// A connection failed before its login completed.
    fn login_failure(&mut self, idx: usize, reason: String) {
        let c = &mut self.conns[idx];
        if matches!(c.phase, Phase::Connecting | Phase::WaitLogin) {
            self.connecting -= 1;
        }
        c.phase = Phase::Dead;
        *self.login_failed.entry(reason).or_default() += 1;
        self.shared.login_failed.fetch_add(1, Ordering::Relaxed);
        if self.cfg.pairs {
            self.retire(idx / 2, None);
        }
    }

    /// Closes a connection; `reason` is what its call (or login) failed with.
    fn kill(&mut self, idx: usize, reason: String) {
        let phase = self.conns[idx].phase;
        if phase == Phase::Dead {
            return;
        }
        if let Some(mut s) = self.conns[idx].stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        self.conns[idx].out = Vec::new();
        self.conns[idx].partial = Vec::new();
        self.conns[idx].written = 0;
        self.conns[idx].media.streaming = false;
        self.conns[idx].media.stamps.clear();
        match phase {
            Phase::Connecting | Phase::WaitLogin => self.login_failure(idx, reason),
            _ => {
                self.conns[idx].phase = Phase::Dead;
                self.shared.disconnected.fetch_add(1, Ordering::Relaxed);
                if self.cfg.pairs {
                    self.retire(idx / 2, Some(reason));
                }
            }
        }
    }

    fn expire_logins(&mut self, now: Instant) {
        while let Some(&(at, idx)) = self.login_deadlines.front() {
            if at > now {
                break;
            }
            self.login_deadlines.pop_front();
            if matches!(self.conns[idx].phase, Phase::Connecting | Phase::WaitLogin) {
                self.kill(idx, "login timeout".into());
            }
        }
    }

    fn read(&mut self, now: Instant, idx: usize, scratch: &mut [u8]) {
        // At most a bounded number of reads per event: the loop comes back.
        for _ in 0..64 {
            let c = &mut self.conns[idx];
            let Some(stream) = c.stream.as_mut() else { return };
            let n = match stream.read(scratch) {
                Ok(0) => {
                    self.kill(idx, "disconnected".into());
                    return;
                }
                Ok(n) => {
                    if self.media_mode {
                        self.recv_ns = media::now_ns();
                    }
                    n
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if c.phase == Phase::Connecting && e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => {
                    self.kill(idx, "disconnected".into());
                    return;
                }
            };
            let mut buf = std::mem::take(&mut c.partial);
            let data: &[u8] = if buf.is_empty() {
                &scratch[..n]
            } else {
                buf.extend_from_slice(&scratch[..n]);
                &buf
            };
            let mut used = 0;
            loop {
                match split_frame(&data[used..]) {
                    Ok(Some((body, len))) => {
                        used += len;
                        match ServerMsg::decode(body) {
                            Ok(msg) => self.on_message(now, idx, msg),
                            Err(e) => {
                                self.kill(idx, format!("bad message: {e}"));
                                return;
                            }
                        }
                        if self.conns[idx].phase == Phase::Dead {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.kill(idx, format!("bad frame: {e}"));
                        return;
                    }
                }
            }
            let rest = &data[used..];
            let c = &mut self.conns[idx];
            if !rest.is_empty() {
                c.partial = rest.to_vec();
            }
            // A short read emptied the socket's queue: with edge-triggered
            // readiness, data arriving later raises a new event.
            if n < scratch.len() {
                return;
            }
        }
    }

    fn on_message(&mut self, now: Instant, idx: usize, msg: ServerMsg) {
        let phase = self.conns[idx].phase;
        match msg {
            ServerMsg::Pong { .. } => {
                self.shared.pongs.fetch_add(1, Ordering::Relaxed);
            }
            ServerMsg::Welcome { keepalive_ms, .. } if phase == Phase::WaitLogin => {
                let every = Duration::from_millis((keepalive_ms / 3).max(100) as u64);
                self.conns[idx].ping_every = every;
                let spread = (idx as u64).wrapping_mul(2_654_435_761) % 1024;
                self.pings.push(Reverse((now + every.mul_f64(spread as f64 / 1024.0), idx)));
            }
            ServerMsg::Refused { code } => self.kill(idx, format!("refused {code}")),
            ServerMsg::LoginResult { user_id, code, .. } if phase == Phase::WaitLogin => {
                if code != 0 {
                    self.kill(idx, format!("login {code}"));
                    return;
                }
                let c = &mut self.conns[idx];
                c.phase = Phase::LoggedIn;
                c.user_id = user_id;
                self.connecting -= 1;
                self.shared.logged_in.fetch_add(1, Ordering::Relaxed);
            }
            ServerMsg::LinkClose { code } => self.kill(idx, format!("link close {code}")),
            ServerMsg::VideoCall { ev, .. } if phase == Phase::LoggedIn && self.cfg.pairs => {
                self.on_call_event(now, idx, ev)
            }
            ServerMsg::Media { from, header, data } if phase == Phase::LoggedIn && self.media_mode => {
                self.on_media(idx, from, header, &data)
            }
            ServerMsg::NeedKeyFrame if phase == Phase::LoggedIn && self.media_mode => {
                self.conns[idx].media.key_pending = true;
                self.shared.need_key.fetch_add(1, Ordering::Relaxed);
                if let Some(m) = self.media.as_mut() {
                    m.result.need_key += 1;
                }
            }
            // Camera and microphone states (ours and the peer's): nothing to check.
            ServerMsg::Device { .. } if phase == Phase::LoggedIn && self.media_mode => {}
            // Opus audio sent before the peer said it decodes Opus: the
            // server asks for PCM (the frames meanwhile are not relayed, and
            // count as sent before the first received), then for Opus again.
            ServerMsg::AudioCodec { .. } if phase == Phase::LoggedIn && self.media_mode => {}
            _ => {
                if self.cfg.pairs {
                    self.retire(idx / 2, Some("unexpected".into()));
                } else {
                    *self.result.failed.entry("unexpected".into()).or_default() += 1;
                }
            }
        }
    }

    // ----- calls ------------------------------------------------------------

    fn on_call_event(&mut self, now: Instant, idx: usize, ev: CallEvent) {
        let p = idx / 2;
        let is_caller = idx.is_multiple_of(2);
        let (caller, callee) = (2 * p, 2 * p + 1);
        let peer_uid = self.conns[if is_caller { callee } else { caller }].user_id;
        let pair = &mut self.pairs[p];
        if pair.state != PairState::InCall || ev.user_id != peer_uid {
            self.retire(p, Some("unexpected".into()));
            return;
        }
        if ev.error_code != 0 {
            self.retire(p, Some(reason_code(ev.error_code)));
            return;
        }
        // What the event asks of the simulated clients, if it is the one expected.
        enum Next {
            Nothing,
            CalleeReplies,
            CallerFinishes,
            /// Media mode: this side opens its devices and starts streaming.
            Stream,
        }
        let media_mode = self.media_mode;
        // Media mode: a FINISH is expected only once the caller has hung up.
        let finish_ok = !media_mode || self.media.as_ref().is_some_and(|m| m.hung_up);
        let next = match (is_caller, ev.event) {
            (true, REPLY) if !pair.ringing => {
                pair.ringing = true;
                Some(Next::Nothing)
            }
            (false, REQUEST) if !pair.got_request => {
                pair.got_request = true;
                Some(Next::CalleeReplies)
            }
            (true, START) if pair.ringing && pair.got_request && !pair.caller_start => {
                pair.caller_start = true;
                let lat = now.saturating_duration_since(pair.sent_at).as_nanos() as u64;
                self.result.latencies_ns.push(lat);
                self.shared.max_latency_ns.fetch_max(lat, Ordering::Relaxed);
                Some(if media_mode { Next::Stream } else { Next::CallerFinishes })
            }
            (false, START) if pair.got_request && !pair.callee_start => {
                pair.callee_start = true;
                Some(if media_mode { Next::Stream } else { Next::Nothing })
            }
            (true, FINISH) if pair.caller_start && !pair.caller_finish && finish_ok => {
                pair.caller_finish = true;
                Some(Next::Nothing)
            }
            (false, FINISH) if pair.callee_start && !pair.callee_finish && finish_ok => {
                pair.callee_finish = true;
                Some(Next::Nothing)
            }
            _ => None,
        };
        let (from, event) = match next {
            None => {
                self.retire(p, Some("unexpected".into()));
                return;
            }
            Some(Next::Nothing) => (None, 0),
            Some(Next::CalleeReplies) => (Some(callee), REPLY),
            Some(Next::CallerFinishes) => (Some(caller), FINISH),
            Some(Next::Stream) => {
                self.start_side(now, idx);
                (None, 0)
            }
        };
        if let Some(from) = from {
            let ev = CallEvent { event, user_id: peer_uid, error_code: 0, flags: 0, param: 0, user_str: vec![] };
            ClientMsg::VideoCall(ev).encode(&mut self.conns[from].out);
            self.mark_dirty(from);
        }
        let pair = &mut self.pairs[p];
        if pair.caller_finish && pair.callee_finish {
            pair.state = PairState::Idle;
            self.in_flight -= 1;
            self.result.completed += 1;
            self.shared.completed.fetch_add(1, Ordering::Relaxed);
            self.idle_pairs.push_back(p);
        }
    }

    /// Takes a pair out of service; a call in progress fails with `reason`.
    fn retire(&mut self, p: usize, reason: Option<String>) {
        let pair = &mut self.pairs[p];
        let was = pair.state;
        pair.state = PairState::Retired;
        if was == PairState::InCall {
            self.in_flight -= 1;
            let reason = reason.unwrap_or_else(|| "disconnected".into());
            *self.result.failed.entry(reason).or_default() += 1;
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
        } else if was == PairState::Idle && self.login_reported {
            // Stray event or a drop between calls: count it too, it is a failure.
            if let Some(reason) = reason {
                *self.result.failed.entry(reason).or_default() += 1;
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if was == PairState::Idle {
            self.idle_pairs.retain(|&q| q != p);
        }
    }

    fn place_calls(&mut self, now: Instant) {
        let Some(step) = self.step.as_mut() else { return };
        let elapsed = now.saturating_duration_since(step.start);
        // The poll wakes on whole milliseconds: calls due in the step's last
        // millisecond may go out just after its end, but no later.
        if elapsed >= step.duration + PLACING_GRACE {
            return;
        }
        let due = ((elapsed.min(step.duration).as_secs_f64() * step.rate) as u64 + 1).min(step.total);
        let timeout = step.call_timeout;
        while step.placed < due {
            let Some(p) = self.idle_pairs.pop_front() else { break };
            step.placed += 1;
            let callee_uid = self.conns[2 * p + 1].user_id;
            let pair = &mut self.pairs[p];
            pair.state = PairState::InCall;
            pair.seq = pair.seq.wrapping_add(1);
            pair.sent_at = now;
            pair.ringing = false;
            pair.got_request = false;
            pair.caller_start = false;
            pair.callee_start = false;
            pair.caller_finish = false;
            pair.callee_finish = false;
            self.call_deadlines.push_back((now + timeout, p, pair.seq));
            let req = CallEvent {
                event: REQUEST,
                user_id: callee_uid,
                error_code: 0,
                flags: CALL_FLAGS,
                param: pair.seq,
                user_str: vec![],
            };
            ClientMsg::VideoCall(req).encode(&mut self.conns[2 * p].out);
            self.just_placed.push(p);
            self.in_flight += 1;
            self.result.placed += 1;
            self.shared.placed.fetch_add(1, Ordering::Relaxed);
            if !self.conns[2 * p].dirty {
                self.conns[2 * p].dirty = true;
                self.dirty.push(2 * p);
            }
        }
    }

    fn expire_calls(&mut self, now: Instant) {
        while let Some(&(at, p, seq)) = self.call_deadlines.front() {
            if at > now {
                break;
            }
            self.call_deadlines.pop_front();
            let pair = &self.pairs[p];
            if pair.state == PairState::InCall && pair.seq == seq {
                self.retire(p, Some("timeout".into()));
            }
        }
    }

    // ----- media --------------------------------------------------------------

    /// Media mode: every free pair places its call now; each side streams
    /// from its START until `plan.seconds` from now.
    fn start_media(&mut self, now: Instant, plan: MediaPlan) {
        self.media_mode = true;
        if self.noise.is_none() {
            self.noise = Some(Noise::new(self.cfg.users.len() as u64 ^ std::process::id() as u64));
        }
        for c in &mut self.conns {
            c.media = Side::default();
        }
        self.result = StepResult::default();
        let stop_at = now + plan.seconds;
        // A call that has not ended by then (started, streamed, drained and
        // finished) fails as timed out.
        let deadline = stop_at + plan.drain + plan.call_timeout;
        while let Some(p) = self.idle_pairs.pop_front() {
            let callee_uid = self.conns[2 * p + 1].user_id;
            let pair = &mut self.pairs[p];
            pair.state = PairState::InCall;
            pair.seq = pair.seq.wrapping_add(1);
            pair.sent_at = now;
            pair.ringing = false;
            pair.got_request = false;
            pair.caller_start = false;
            pair.callee_start = false;
            pair.caller_finish = false;
            pair.callee_finish = false;
            self.call_deadlines.push_back((deadline, p, pair.seq));
            let req = CallEvent {
                event: REQUEST,
                user_id: callee_uid,
                error_code: 0,
                flags: CALL_FLAGS,
                param: pair.seq,
                user_str: vec![],
            };
            ClientMsg::VideoCall(req).encode(&mut self.conns[2 * p].out);
            self.just_placed.push(p);
            self.in_flight += 1;
            self.result.offered += 1;
            self.result.placed += 1;
            self.shared.placed.fetch_add(1, Ordering::Relaxed);
            self.mark_dirty(2 * p);
        }
        self.media = Some(MediaRun {
            plan,
            stop_at,
            drain_until: None,
            hung_up: false,
            due: BinaryHeap::new(),
            result: MediaResult::default(),
        });
    }

    /// A side of a call got its START: it opens its camera (and microphone),
    /// subscribes to the peer's streams and schedules its first frames,
    /// spread over one period so that the streams do not send in step.
    fn start_side(&mut self, now: Instant, idx: usize) {
        let Some(m) = self.media.as_mut() else { return };
        if now >= m.stop_at {
            return;
        }
        let peer = self.conns[idx ^ 1].user_id;
        let audio = m.plan.audio;
        let c = &mut self.conns[idx];
        ClientMsg::Device { kind: DEVICE_CAMERA, open: true }.encode(&mut c.out);
        ClientMsg::Subscribe { user_id: peer, kind: MEDIA_VIDEO, on: true }.encode(&mut c.out);
        if audio {
            if m.plan.opus_sizes.is_some() {
                // As a client with Opus: the server relays Opus to it.
                ClientMsg::Caps { caps: CAP_OPUS }.encode(&mut c.out);
            }
            ClientMsg::Device { kind: DEVICE_MIC, open: true }.encode(&mut c.out);
            ClientMsg::Subscribe { user_id: peer, kind: MEDIA_AUDIO, on: true }.encode(&mut c.out);
        }
        c.media.streaming = true;
        c.media.since = Some(now);
        let spread = (media::mix(idx as u64) % 1024) as f64 / 1024.0;
        m.due.push(Reverse((now + m.plan.video_period().mul_f64(spread), idx, MEDIA_VIDEO)));
        if audio {
            m.due.push(Reverse((now + m.plan.audio_period().mul_f64(spread), idx, MEDIA_AUDIO)));
        }
        let p = idx / 2;
        if self.pairs[p].caller_start && self.pairs[p].callee_start {
            m.result.up += 1;
            self.shared.calls_up.fetch_add(1, Ordering::Relaxed);
        }
        self.mark_dirty(idx);
    }

    /// Sends the frames due, ends the sending at the run's end, waits for the
    /// frames in flight, then hangs up.
    fn media_tick(&mut self, now: Instant) {
        let Some(m) = self.media.as_ref() else { return };
        if m.hung_up {
            return;
        }
        if m.drain_until.is_none() {
            for _ in 0..MAX_FRAMES_PER_ITERATION {
                let Some(m) = self.media.as_mut() else { return };
                let Some(&Reverse((due, idx, kind))) = m.due.peek() else { break };
                if due > now || due >= m.stop_at {
                    break;
                }
                m.due.pop();
                self.send_frame(due, idx, kind);
            }
            let Some(m) = self.media.as_mut() else { return };
            if now >= m.stop_at {
                m.due.clear();
                m.drain_until = Some(now + m.plan.drain);
            }
            return;
        }
        let until = m.drain_until.unwrap_or(now);
        if now < until && !self.drained() {
            return;
        }
        self.hang_up();
    }

    /// One frame of connection `idx`'s `kind` stream, due at `due`; the next
    /// one is scheduled one period later.
    fn send_frame(&mut self, due: Instant, idx: usize, kind: u8) {
        let (Some(m), Some(noise)) = (self.media.as_mut(), self.noise.as_ref()) else { return };
        let p = idx / 2;
        let c = &mut self.conns[idx];
        if self.pairs[p].state != PairState::InCall || c.phase != Phase::LoggedIn || !c.media.streaming {
            return;
        }
        let video = kind == MEDIA_VIDEO;
        let period = if video { m.plan.video_period() } else { m.plan.audio_period() };
        m.due.push(Reverse((due + period, idx, kind)));
        let side = &mut c.media;
        let stats = if video { &mut m.result.video } else { &mut m.result.audio };
        if c.out.len() - c.written > MAX_MEDIA_BACKLOG {
            stats.skipped_by_sender += 1;
            if video {
                // As an encoder whose output was lost: the next frame is a key frame.
                side.key_pending = true;
            }
            return;
        }
        let timestamp = due.saturating_duration_since(side.since.unwrap_or(due)).as_millis() as u32;
        let (header, data) = if video {
            let seq = side.video_sent;
            let key = seq == 0 || side.key_pending || side.since_key + 1 >= m.plan.key_every;
            if key {
                side.since_key = 0;
                side.key_pending = false;
                stats.key_sent += 1;
            } else {
                side.since_key += 1;
            }
            side.video_sent += 1;
            let salt = (idx as u64) << 32;
            (media::video_header(key, timestamp), noise.payload(m.plan.video_bytes(seq, salt), salt ^ seq, seq))
        } else {
            let seq = side.audio_sent;
            side.audio_sent += 1;
            let (header, len) = m.plan.audio_frame(seq, timestamp);
            (header, noise.payload(len, !((idx as u64) << 32) ^ seq, seq))
        };
        let len = data.len();
        let before = c.out.len();
        ClientMsg::Media { header, data }.encode(&mut c.out);
        stats.wire_bytes_sent += (c.out.len() - before) as u64;
        // The payload is the message's last field.
        side.stamps.push((c.out.len() - len, due));
        stats.sent += 1;
        let counter = if video { &self.shared.video_sent } else { &self.shared.audio_sent };
        counter.fetch_add(1, Ordering::Relaxed);
        self.mark_dirty(idx);
    }

    /// A frame relayed to connection `idx`: from its peer, in sequence.
    fn on_media(&mut self, idx: usize, from: u32, header: MediaHeader, data: &[u8]) {
        let p = idx / 2;
        if from != self.conns[idx ^ 1].user_id {
            self.retire(p, Some("media from another user".into()));
            return;
        }
        let Some((sent_ns, seq)) = media::read_stamp(data).filter(|_| header.kind <= MEDIA_AUDIO) else {
            self.retire(p, Some("unexpected media".into()));
            return;
        };
        // A frame still queued at the server when the call ended (media is
        // written after signalling, so FINISH may overtake it): not counted.
        let Some(m) = self.media.as_mut().filter(|_| self.pairs[p].state == PairState::InCall) else { return };
        let video = header.kind == MEDIA_VIDEO;
        let lat = self.recv_ns.saturating_sub(sent_ns);
        let lost = self.conns[idx].media.rx[header.kind as usize].on_seq(seq);
        let stats = if video { &mut m.result.video } else { &mut m.result.audio };
        stats.received += 1;
        stats.latency.record(lat);
        let counter = if video { &self.shared.video_received } else { &self.shared.audio_received };
        counter.fetch_add(1, Ordering::Relaxed);
        if lost > 0 {
            self.shared.media_gaps.fetch_add(lost, Ordering::Relaxed);
        }
        self.shared.max_frame_latency_ns.fetch_max(lat, Ordering::Relaxed);
    }

    /// Whether every frame sent in a started call has reached the peer.
    fn drained(&self) -> bool {
        (0..self.pairs.len()).all(|p| {
            let pair = &self.pairs[p];
            if pair.state != PairState::InCall || !(pair.caller_start && pair.callee_start) {
                return true;
            }
            [2 * p, 2 * p + 1].iter().all(|&rx| {
                let (sender, receiver) = (&self.conns[rx ^ 1].media, &self.conns[rx].media);
                receiver.rx[0].next >= sender.video_sent && receiver.rx[1].next >= sender.audio_sent
            })
        })
    }

    /// The end of the run: every stream of a started call is accounted for
    /// (frames never received), and the callers finish their calls; calls that
    /// never started fail.
    fn hang_up(&mut self) {
        let Some(m) = self.media.as_mut() else { return };
        m.hung_up = true;
        let (mut not_started, mut finishing) = (Vec::new(), Vec::new());
        for p in 0..self.pairs.len() {
            let pair = &self.pairs[p];
            if pair.state != PairState::InCall {
                continue;
            }
            if !(pair.caller_start && pair.callee_start) {
                not_started.push(p);
                continue;
            }
            for rx in [2 * p, 2 * p + 1] {
                let (sender, receiver) = (&self.conns[rx ^ 1].media, &self.conns[rx].media);
                m.result.video.close_stream(sender.video_sent, &receiver.rx[0]);
                m.result.audio.close_stream(sender.audio_sent, &receiver.rx[1]);
            }
            self.conns[2 * p].media.streaming = false;
            self.conns[2 * p + 1].media.streaming = false;
            let callee_uid = self.conns[2 * p + 1].user_id;
            let ev =
                CallEvent { event: FINISH, user_id: callee_uid, error_code: 0, flags: 0, param: 0, user_str: vec![] };
            ClientMsg::VideoCall(ev).encode(&mut self.conns[2 * p].out);
            finishing.push(2 * p);
        }
        for idx in finishing {
            self.mark_dirty(idx);
        }
        for p in not_started {
            self.retire(p, Some("not started".into()));
        }
    }

    // ----- output -----------------------------------------------------------

    fn send_pings(&mut self, now: Instant) {
        while let Some(&Reverse((at, idx))) = self.pings.peek() {
            if at > now {
                break;
            }
            self.pings.pop();
            let c = &mut self.conns[idx];
            if !matches!(c.phase, Phase::WaitLogin | Phase::LoggedIn) {
                continue;
            }
            c.ping_seq = c.ping_seq.wrapping_add(1);
            ClientMsg::Ping { seq: c.ping_seq }.encode(&mut c.out);
            let every = c.ping_every;
            self.pings.push(Reverse((now + every, idx)));
            self.mark_dirty(idx);
        }
    }

    fn mark_dirty(&mut self, idx: usize) {
        let c = &mut self.conns[idx];
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(idx);
        }
    }

    fn flush(&mut self, _now: Instant) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for idx in dirty.drain(..) {
            let c = &mut self.conns[idx];
            c.dirty = false;
            if c.phase == Phase::Connecting {
                continue;
            }
            let Some(stream) = c.stream.as_mut() else { continue };
            if !c.media.stamps.is_empty() {
                // The send time of each frame queued since the last write.
                let (t, at) = (media::now_ns(), Instant::now());
                for (offset, due) in c.media.stamps.drain(..) {
                    media::stamp_time(&mut c.out, offset, t);
                    if let Some(m) = self.media.as_mut() {
                        m.result.send_lag.record(at.saturating_duration_since(due).as_nanos() as u64);
                    }
                }
            }
            let mut failed = None;
            while c.written < c.out.len() {
                match stream.write(&c.out[c.written..]) {
                    Ok(0) => {
                        failed = Some("disconnected".to_string());
                        break;
                    }
                    Ok(n) => c.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        failed = Some("disconnected".to_string());
                        break;
                    }
                }
            }
            if c.written == c.out.len() {
                c.out.clear();
                c.written = 0;
            } else if let Some(m) = self.media.as_mut() {
                m.result.send_backlog += 1;
            }
            if let Some(reason) = failed {
                self.kill(idx, reason);
            }
        }
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    // ----- timing and reports -----------------------------------------------

    fn next_wake(&self, now: Instant) -> Duration {
        let mut wake = now + IDLE_WAIT;
        if let Some(step) = &self.step {
            if step.placed < step.total && !self.idle_pairs.is_empty() {
                let at = step.start + Duration::from_secs_f64(step.placed as f64 / step.rate);
                wake = wake.min(at);
            }
            wake = wake.min(step.start + step.duration + PLACING_GRACE);
        }
        if let Some(m) = &self.media {
            if let Some(Reverse((at, _, _))) = m.due.peek() {
                wake = wake.min(*at);
            }
            match m.drain_until {
                None => wake = wake.min(m.stop_at),
                Some(at) if !m.hung_up => wake = wake.min(at),
                Some(_) => {}
            }
        }
        for at in [
            self.pings.peek().map(|p| p.0 .0),
            self.call_deadlines.front().map(|c| c.0),
            self.login_deadlines.front().map(|l| l.0),
        ]
        .into_iter()
        .flatten()
        {
            wake = wake.min(at);
        }
        wake.min(self.cfg.deadline).saturating_duration_since(now)
    }

    fn report(&mut self, now: Instant, reports: &Sender<Report>) {
        if !self.login_reported && self.next_connect == self.conns.len() && self.connecting == 0 {
            self.login_reported = true;
            let ok = self.conns.iter().filter(|c| c.phase == Phase::LoggedIn).count() as u64;
            if self.cfg.pairs {
                for p in 0..self.pairs.len() {
                    if self.pairs[p].state == PairState::Idle {
                        self.idle_pairs.push_back(p);
                    }
                }
            }
            let failed = std::mem::take(&mut self.login_failed);
            let pairs_ready = self.idle_pairs.len() as u64;
            let _ = reports.send(Report::LoggedIn { ok, failed, pairs_ready });
        }
        if self.media.as_ref().is_some_and(|m| m.hung_up) && self.in_flight == 0 {
            let mut run = self.media.take().expect("a media run");
            run.result.calls = std::mem::take(&mut self.result);
            let _ = reports.send(Report::Media(Box::new(run.result)));
        }
        let Some(step) = &self.step else { return };
        let elapsed = now.saturating_duration_since(step.start);
        if elapsed >= step.duration + PLACING_GRACE && self.in_flight == 0 {
            let mut result = std::mem::take(&mut self.result);
            result.elapsed_s = elapsed.as_secs_f64();
            self.step = None;
            let _ = reports.send(Report::Step(result));
        }
    }
}

/// A non-blocking TCP connection to `server` under way, from `source` if given.
fn open(server: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(server), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    if let Some(ip) = source {
        // Leave the port to connect(): ports are then shared between source
        // addresses and destinations instead of reserved at bind.
        let one: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value of the right size.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        sock.bind(&SocketAddr::new(ip.into(), 0).into())?;
    }
    match sock.connect(&server.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let std: std::net::TcpStream = sock.into();
    Ok(TcpStream::from_std(std))
}
