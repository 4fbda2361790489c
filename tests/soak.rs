//! The soak run: one real `anychat-server` process for `SOAK_SECONDS`
//! (60 by default; `scripts/soak.sh` runs an hour) with, all at once:
//!
//! - honest pairs placing calls in a loop (Request → REPLY(0) → Reply 0 →
//!   START both → Finish → FINISH both, each step within 2 s);
//! - rooms whose users leave and enter again, send room texts and
//!   trans-buffers, every member checked to receive each one (and a user
//!   who has left, none);
//! - calls streaming opaque video at 15 fps and audio at 50 fps both ways
//!   through the server (Device open + Subscribe), the relay latency read
//!   from a timestamp in each payload;
//! - a business server (linked with the secret the server generated in its
//!   state folder) answering every question;
//! - the hostile suite's attacks taking turns every `SOAK_FLOOD_EVERY` s
//!   for `SOAK_FLOOD_SECONDS` s each (see `hostile/attacks.rs`);
//! - every `SOAK_RESTART_EVERY` s the server stopped with SIGTERM and
//!   started again on the same ports with the same state folder: every
//!   client notices, reconnects and logs in again, the business server
//!   links again; what a restart cuts is counted apart, not as a failure;
//! - every `SOAK_SAMPLE_EVERY` (10) s: the server's RSS and fds, the probe's
//!   ping round trip (one Ping every 100 ms), calls/s, frames/s.
//!
//! At the end it prints a summary (and writes it as JSON to `SOAK_JSON`)
//! and fails if an honest call failed or an honest user was disconnected
//! outside restarts, a room message was lost or misdelivered outside
//! restarts, the probe's p99 over the run reached 500 ms, or the RSS at the
//! end exceeds the first baseline by more than 32 MiB.
//!
//! Settings (environment): `SOAK_SECONDS` (60), `SOAK_PAIRS` (4),
//! `SOAK_ROOMS` (3), `SOAK_ROOM_USERS` (5), `SOAK_MEDIA_CALLS` (3),
//! `SOAK_MEDIA_CALL_SECONDS` (60, then the call ends and another starts),
//! `SOAK_RESTART_EVERY` (900; 0 = never), `SOAK_FLOOD_EVERY` (60; 0 = never),
//! `SOAK_FLOOD_SECONDS` (3), `SOAK_SAMPLE_EVERY` (10), `SOAK_JSON` (a path),
//! `SOAK_SERVER_LOG` (a path the server's log is appended to),
//! `SOAK_LOG_LEVEL` (`warn,anychat::server=info,anychat_server=info`: the
//! server's warnings and its 10-s "limits since start" lines),
//! `SOAK_STATE_DIR` (the server's state folder, used as it is; by default a
//! fresh one in the temp folder, removed at the end), `SOAK_SERVER_ARGS`
//! (more flags for the server, split at white space: e.g. `--rate call=1
//! --rate-action disconnect` makes the checks fail), `SOAK_FLOODS` (the
//! floods that take turns, comma-separated; default all: `ping_flood`,
//! `leave_room_flood`, `request_cancel_flood`, `subscribe_flood`,
//! `room_text_burst`, `partial_frames`, `connection_burst`).
//!
//! Floods of messages (pings, LeaveRoom, Request+Cancel, Subscribe) last
//! longer than `SOAK_FLOOD_SECONDS`, up to 5 s more: a flood stops only
//! between two whole messages, and the server, throttling the attacker,
//! reads its socket slowly.
//!
//! Run: `scripts/soak.sh [SECONDS]`, or for a quick try
//! `SOAK_SECONDS=120 SOAK_RESTART_EVERY=60 SOAK_FLOOD_EVERY=20 cargo test
//! --release -j1 --test soak -- --ignored --nocapture`.

#[path = "hostile/attacks.rs"]
mod attacks;
#[path = "hostile/client.rs"]
mod client;
#[path = "hostile/harness.rs"]
mod harness;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anychat::wire::protocol::{ClientMsg, MediaHeader, ServerMsg, DEVICE_CAMERA, DEVICE_MIC, MEDIA_AUDIO, MEDIA_VIDEO};
use crossbeam_channel::{Receiver, Sender};
use serde_json::json;

use attacks::*;
use client::*;
use harness::*;

// ----- sizes and limits ----------------------------------------------------------

/// Each step of an honest call must come within this.
const STEP: Duration = STEP_TIMEOUT;
/// How long the probe's p99 over the run may be.
const MAX_PING_P99: Duration = MAX_P99;
/// How far above the first baseline the RSS at the end may be.
const RSS_GROWTH_LIMIT_KIB: u64 = 32 * 1024;
/// The baseline of a server process: its RSS at the first sample this long
/// after it started (every honest user back and busy).
const BASELINE_AFTER: Duration = Duration::from_secs(10);
/// Rooms of the room users (`ROOM_BASE + i`); the floods use 900 and 910.
const ROOM_BASE: u32 = 5_000;
const SUBSCRIBE_FLOOD_ROOM: u32 = 900;
const TEXT_BURST_ROOM: u32 = 910;
/// Pause between two rounds of a room.
const ROOM_PAUSE: Duration = Duration::from_millis(250);
/// How long the members of a room may take to receive a round's messages.
const ROOM_WAIT: Duration = Duration::from_secs(5);
/// Media: frames per second, sizes (640×480 H.264 at ~720 kbit/s; 20 ms of
/// 16 kHz mono PCM), key frame interval.
const VIDEO_FPS: u64 = 15;
const AUDIO_FPS: u64 = 50;
const VIDEO_BYTES: usize = 6_000;
const AUDIO_BYTES: usize = 640;
const KEY_EVERY: u64 = 30;
/// Opaque (pre-encoded) codec ids: relayed, never decoded.
const VIDEO_CODEC: u32 = 999;
const AUDIO_CODEC: u32 = 998;
/// After a media call stops streaming, how long its last frames may take.
const MEDIA_DRAIN: Duration = Duration::from_secs(3);
/// Pause between two media calls of the same users.
const MEDIA_PAUSE: Duration = Duration::from_secs(1);
/// Flood sizes (the hostile suite's, see `tests/hostile.rs`).
const PARTIAL_CONNS: usize = 200;
const CONN_BURST: usize = 1_000;
const CONN_BURST_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const ROOM_TEXT_BURST: usize = 3_000_000;
const BURSTS: usize = 3;
const BURST_GAP: Duration = Duration::from_millis(500);
/// After a flood, failures this long after its end still count against it.
const FLOOD_AFTERMATH: Duration = Duration::from_secs(5);
/// A restart that does not bring the server back within this ends the run.
const RESTART_GIVE_UP: Duration = Duration::from_secs(60);
const FLOOD_KINDS: [&str; 7] = [
    "ping_flood",
    "leave_room_flood",
    "request_cancel_flood",
    "subscribe_flood",
    "room_text_burst",
    "partial_frames",
    "connection_burst",
];

// ----- settings --------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Settings {
    seconds: u64,
    pairs: usize,
    rooms: usize,
    room_users: usize,
    media_calls: usize,
    media_call_seconds: u64,
    restart_every: u64,
    flood_every: u64,
    flood_seconds: u64,
    sample_every: u64,
    json: Option<PathBuf>,
    server_log: Option<PathBuf>,
    log_level: String,
    state_dir: Option<PathBuf>,
    server_args: Vec<String>,
    /// The floods that take turns (default: all of [`FLOOD_KINDS`]).
    floods: Vec<&'static str>,
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        _ => default,
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl Settings {
    fn from_env() -> Settings {
        let s = Settings {
            seconds: env_num("SOAK_SECONDS", 60),
            pairs: env_num("SOAK_PAIRS", 4) as usize,
            rooms: env_num("SOAK_ROOMS", 3) as usize,
            room_users: env_num("SOAK_ROOM_USERS", 5) as usize,
            media_calls: env_num("SOAK_MEDIA_CALLS", 3) as usize,
            media_call_seconds: env_num("SOAK_MEDIA_CALL_SECONDS", 60).max(1),
            restart_every: env_num("SOAK_RESTART_EVERY", 900),
            flood_every: env_num("SOAK_FLOOD_EVERY", 60),
            flood_seconds: env_num("SOAK_FLOOD_SECONDS", 3).max(1),
            sample_every: env_num("SOAK_SAMPLE_EVERY", 10).max(1),
            json: env_path("SOAK_JSON"),
            server_log: env_path("SOAK_SERVER_LOG"),
            log_level: std::env::var("SOAK_LOG_LEVEL")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "warn,anychat::server=info,anychat_server=info".into()),
            state_dir: env_path("SOAK_STATE_DIR"),
            server_args: std::env::var("SOAK_SERVER_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect(),
            floods: match std::env::var("SOAK_FLOODS") {
                Ok(v) if !v.trim().is_empty() => v
                    .split(',')
                    .map(|k| {
                        let k = k.trim();
                        *FLOOD_KINDS.iter().find(|x| **x == k).unwrap_or_else(|| {
                            panic!("SOAK_FLOODS: unknown flood {k:?} (known: {})", FLOOD_KINDS.join(","))
                        })
                    })
                    .collect(),
                _ => FLOOD_KINDS.to_vec(),
            },
        };
        assert!(s.room_users >= 3 || s.rooms == 0, "SOAK_ROOM_USERS must be at least 3");
        s
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "seconds": self.seconds,
            "pairs": self.pairs,
            "rooms": self.rooms,
            "room_users": self.room_users,
            "media_calls": self.media_calls,
            "media_call_seconds": self.media_call_seconds,
            "restart_every": self.restart_every,
            "flood_every": self.flood_every,
            "flood_seconds": self.flood_seconds,
            "sample_every": self.sample_every,
            "log_level": self.log_level,
            "server_args": self.server_args,
            "floods": self.floods,
        })
    }
}

// ----- time --------------------------------------------------------------------------

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process's origin (the payloads' timestamps).
fn now_ns() -> u64 {
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The value at percentile `p` of sorted samples (0 when empty).
fn pct<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

// ----- shared state ----------------------------------------------------------------

#[derive(Default)]
struct Counters {
    calls_made: AtomicU64,
    calls_failed: AtomicU64,
    calls_cut: AtomicU64,
    media_calls_made: AtomicU64,
    media_calls_failed: AtomicU64,
    media_calls_cut: AtomicU64,
    room_rounds: AtomicU64,
    room_rounds_cut: AtomicU64,
    /// Deliveries expected (one per message and receiver).
    room_sent: AtomicU64,
    room_received: AtomicU64,
    room_lost: AtomicU64,
    room_cut: AtomicU64,
    room_misdelivered: AtomicU64,
    video_sent: AtomicU64,
    video_received: AtomicU64,
    video_lost: AtomicU64,
    video_cut: AtomicU64,
    audio_sent: AtomicU64,
    audio_received: AtomicU64,
    audio_lost: AtomicU64,
    audio_cut: AtomicU64,
    need_key_frames: AtomicU64,
    /// Honest users disconnected outside restarts.
    disconnects: AtomicU64,
    /// Frames received, whatever the call (for frames/s).
    frames_in: AtomicU64,
}

fn add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// What one ping became.
#[derive(Clone, Copy)]
enum Ping {
    Pending,
    Answered(Duration),
    /// Its connection was cut by a restart (or the run ended): left out.
    Cut,
    /// Its connection was lost outside a restart: counted with the time it
    /// waited.
    Lost(Duration),
}

#[derive(Default)]
struct ProbeLog {
    sent: Vec<Instant>,
    state: Vec<Ping>,
}

#[derive(Clone, Copy, Default, Debug)]
struct PingFigures {
    count: usize,
    lost: usize,
    cut: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl ProbeLog {
    fn figures(&self, from: Instant, to: Instant) -> PingFigures {
        let now = Instant::now();
        let mut f = PingFigures::default();
        let mut rtts = Vec::new();
        for (sent, state) in self.sent.iter().zip(&self.state) {
            if *sent < from || *sent >= to {
                continue;
            }
            match state {
                Ping::Answered(d) => rtts.push(*d),
                Ping::Pending => rtts.push(now - *sent),
                Ping::Lost(d) => {
                    f.lost += 1;
                    rtts.push(*d);
                }
                Ping::Cut => f.cut += 1,
            }
        }
        rtts.sort();
        f.count = rtts.len();
        f.p50 = pct(&rtts, 0.50);
        f.p99 = pct(&rtts, 0.99);
        f.max = rtts.last().copied().unwrap_or_default();
        f
    }
}

/// One restart, as measured.
struct Restart {
    at: Instant,
    /// The generation the new server runs under.
    gen: u64,
    exit: String,
    stopped_in: Duration,
    down_for: Duration,
    up_at: Instant,
    rss_before_kib: u64,
    fds_before: usize,
    biz_linked: Result<(), String>,
    secret_kept: bool,
}

/// One flood, as run.
struct FloodRun {
    kind: &'static str,
    start: Instant,
    end: Instant,
    detail: String,
    problems: Vec<String>,
    calls_during: u64,
    frames_during: u64,
    room_during: u64,
}

/// One 10-s sample.
struct Sample {
    at: Instant,
    gen: u64,
    rss_kib: u64,
    fds: usize,
    cpu: Duration,
    calls: u64,
    frames: u64,
    room: u64,
}

struct Ctl {
    set: Settings,
    addr: SocketAddr,
    biz_addr: SocketAddr,
    state_dir: PathBuf,
    secret: Vec<u8>,
    opts: ServerOpts,
    /// Even: the server of this generation is up; odd: a restart is under way.
    gen: AtomicU64,
    stop: AtomicBool,
    run_start: OnceLock<Instant>,
    server: Mutex<Option<ServerProc>>,
    pid: AtomicU32,
    /// CPU of the server processes already stopped.
    cpu_done: Mutex<Duration>,
    biz: Mutex<Option<BizServer>>,
    biz_asked: AtomicU64,
    c: Counters,
    failures: Mutex<Vec<(Instant, String)>>,
    cuts: Mutex<Vec<(Instant, String)>>,
    /// (generation, user name, when) of every honest login.
    logins: Mutex<Vec<(u64, String, Instant)>>,
    setup_us: Mutex<Vec<u32>>,
    media_us: Mutex<Vec<u32>>,
    probe: Mutex<ProbeLog>,
}

impl Ctl {
    fn gen(&self) -> u64 {
        self.gen.load(Ordering::SeqCst)
    }

    /// Whether a connection made under generation `g` may have been cut by
    /// a restart (one is under way or has happened since).
    fn cut(&self, g: u64) -> bool {
        self.gen() != g
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn t(&self, at: Instant) -> f64 {
        match self.run_start.get() {
            Some(s) if at >= *s => (at - *s).as_secs_f64(),
            Some(s) => -((*s - at).as_secs_f64()),
            None => 0.0,
        }
    }

    /// An honest failure outside restarts.
    fn fail(&self, what: String) {
        let now = Instant::now();
        eprintln!("[soak {:7.1}s] FAILED: {what}", self.t(now));
        self.failures.lock().unwrap().push((now, what));
    }

    /// An honest user lost its connection outside a restart.
    fn disconnected(&self, what: String) {
        add(&self.c.disconnects, 1);
        self.fail(format!("disconnected: {what}"));
    }

    /// Something a restart cut (counted apart).
    fn note_cut(&self, what: String) {
        self.cuts.lock().unwrap().push((Instant::now(), what));
    }

    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() {
            let now = Instant::now();
            if now >= until {
                return;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(100)));
        }
    }

    /// Logs `name` in on the server of the current generation, waiting out a
    /// restart; a login that fails outside a restart is a failure (and is
    /// tried again a second later). `None` once the run is stopping.
    fn login(&self, name: &str) -> Option<(Raw, u64)> {
        loop {
            if self.stopped() {
                return None;
            }
            let g = self.gen();
            if !g.is_multiple_of(2) {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            match Raw::login(self.addr, name, WAIT) {
                Ok(raw) if !self.cut(g) => {
                    self.logins.lock().unwrap().push((g, name.to_string(), Instant::now()));
                    return Some((raw, g));
                }
                Ok(_) => {}
                Err(e) => {
                    if !self.cut(g) {
                        self.fail(format!("{name}: cannot log in: {e}"));
                        self.sleep(Duration::from_secs(1));
                    }
                }
            }
        }
    }

    /// Two users logged in on the same server.
    fn login_two(&self, a: &str, b: &str) -> Option<(Raw, Raw, u64)> {
        loop {
            let (ra, ga) = self.login(a)?;
            let (rb, gb) = self.login(b)?;
            if ga == gb && !self.cut(ga) {
                return Some((ra, rb, ga));
            }
        }
    }

    fn server_cpu(&self) -> Duration {
        *self.cpu_done.lock().unwrap() + cpu_time(self.pid.load(Ordering::SeqCst))
    }

    fn failures_between(&self, from: Instant, to: Instant) -> Vec<String> {
        self.failures.lock().unwrap().iter().filter(|(t, _)| *t >= from && *t <= to).map(|(_, w)| w.clone()).collect()
    }
}

/// Links the business server with the secret of the state folder.
fn link_business(ctl: &Ctl) -> Result<(), String> {
    let secret = anychat::net::secret::read_secret(&ctl.state_dir)
        .map_err(|e| format!("reading the secret: {e}"))?
        .ok_or("no business secret in the state folder")?;
    if secret != ctl.secret {
        return Err("the business secret changed".into());
    }
    let b = BizServer::link(ctl.biz_addr, &secret, WAIT).map_err(|code| format!("business link refused ({code})"))?;
    if let Some(old) = ctl.biz.lock().unwrap().replace(b) {
        add(&ctl.biz_asked, get(&old.stats.asked_calls));
    }
    Ok(())
}

// ----- honest pairs --------------------------------------------------------------------

fn pair_worker(ctl: Arc<Ctl>, i: usize, ready: Sender<()>) {
    let (na, nb) = (format!("soak-pair{i}-a"), format!("soak-pair{i}-b"));
    let mut ready = Some(ready);
    let mut n = 0u32;
    'conn: while !ctl.stopped() {
        let Some((mut a, mut b, g)) = ctl.login_two(&na, &nb) else { return };
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        while !ctl.stopped() {
            n = n.wrapping_add(1);
            let t0 = Instant::now();
            let r = start_call(&mut a, &mut b, n, STEP).and_then(|_| {
                let setup = t0.elapsed();
                finish_call(&mut a, &mut b, n, STEP).map(|()| setup)
            });
            match r {
                Ok(setup) => {
                    add(&ctl.c.calls_made, 1);
                    ctl.setup_us.lock().unwrap().push(setup.as_micros().min(u32::MAX as u128) as u32);
                }
                Err(e) if ctl.cut(g) => {
                    add(&ctl.c.calls_cut, 1);
                    ctl.note_cut(format!("pair {i}: call {n}: {e}"));
                    continue 'conn;
                }
                Err(e) => {
                    add(&ctl.c.calls_failed, 1);
                    ctl.fail(format!("pair {i}: call {n}: {e}"));
                    if matches!(e, CallError::Disconnected(_)) {
                        ctl.disconnected(format!("pair {i}: {e}"));
                        continue 'conn;
                    }
                    match reset_pair(&mut a, &mut b, Duration::from_secs(10)) {
                        Ok(()) => {}
                        Err(_) if ctl.cut(g) => continue 'conn,
                        Err(e) => {
                            if e.is_disconnect() {
                                ctl.disconnected(format!("pair {i} after call {n}: {e}"));
                            }
                            continue 'conn;
                        }
                    }
                }
            }
            std::thread::sleep(CALL_PAUSE);
        }
    }
}

// ----- the probe -------------------------------------------------------------------

fn probe_worker(ctl: Arc<Ctl>, ready: Sender<()>) {
    let mut ready = Some(ready);
    while !ctl.stopped() {
        let Some((raw, g)) = ctl.login("soak-probe") else { return };
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        let mut writer = raw.stream.try_clone().expect("clone socket");
        let dead = Arc::new(Mutex::new(None::<String>));
        let first = ctl.probe.lock().unwrap().sent.len();
        let reader = {
            let (ctl, dead) = (ctl.clone(), dead.clone());
            let mut raw = raw;
            std::thread::spawn(move || loop {
                if ctl.stopped() {
                    return;
                }
                match raw.recv(Instant::now() + Duration::from_millis(200)) {
                    Ok(ServerMsg::Pong { seq }) => {
                        let now = Instant::now();
                        let mut l = ctl.probe.lock().unwrap();
                        let i = seq as usize;
                        if i < l.sent.len() && matches!(l.state[i], Ping::Pending) {
                            l.state[i] = Ping::Answered(now - l.sent[i]);
                        }
                    }
                    Ok(ServerMsg::LinkClose { code }) => {
                        dead.lock().unwrap().get_or_insert(format!("LinkClose({code})"));
                    }
                    Ok(_) | Err(RecvError::Timeout) => {}
                    Err(e) => {
                        dead.lock().unwrap().get_or_insert(e.to_string());
                        return;
                    }
                }
            })
        };
        let mut next = Instant::now();
        let why = loop {
            if ctl.stopped() {
                break None;
            }
            if let Some(w) = dead.lock().unwrap().clone() {
                break Some(w);
            }
            let seq = {
                let mut l = ctl.probe.lock().unwrap();
                l.sent.push(Instant::now());
                l.state.push(Ping::Pending);
                l.sent.len() as u32 - 1
            };
            if let Err(e) = std::io::Write::write_all(&mut writer, &frames(&[ClientMsg::Ping { seq }])) {
                break Some(format!("write: {e}"));
            }
            next += PROBE_INTERVAL;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        };
        if why.is_some() {
            // Give the reader a moment for a Pong already on its way.
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = writer.shutdown(std::net::Shutdown::Both);
        let _ = reader.join();
        let cut = why.is_none() || ctl.cut(g);
        let now = Instant::now();
        {
            let mut l = ctl.probe.lock().unwrap();
            for i in first..l.sent.len() {
                if matches!(l.state[i], Ping::Pending) {
                    l.state[i] = if cut { Ping::Cut } else { Ping::Lost(now - l.sent[i]) };
                }
            }
        }
        match why {
            Some(w) if !cut => ctl.disconnected(format!("probe: {w}")),
            Some(w) => ctl.note_cut(format!("probe: {w}")),
            None => {}
        }
    }
}

// ----- rooms -----------------------------------------------------------------------

fn room_worker(ctl: Arc<Ctl>, r: usize, ready: Sender<()>) {
    let room = ROOM_BASE + r as u32;
    let names: Vec<String> = (0..ctl.set.room_users).map(|k| format!("soak-room{r}-u{k}")).collect();
    let mut ready = Some(ready);
    let mut round = 0u64;
    'conn: while !ctl.stopped() {
        let mut users = Vec::new();
        let mut gen = None;
        for name in &names {
            let Some((mut raw, g)) = ctl.login(name) else { return };
            if gen.is_some_and(|x| x != g) {
                continue 'conn;
            }
            gen = Some(g);
            if let Err(e) = try_enter(&mut raw, room) {
                if !ctl.cut(g) {
                    ctl.fail(format!("room {room}: {e}"));
                    ctl.sleep(Duration::from_secs(1));
                }
                continue 'conn;
            }
            users.push(Watcher::new(raw));
        }
        let g = gen.expect("room users");
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        while !ctl.stopped() {
            round += 1;
            match room_round(&ctl, &mut users, room, round, g) {
                Ok(()) => add(&ctl.c.room_rounds, 1),
                Err(e) if ctl.cut(g) => {
                    add(&ctl.c.room_rounds_cut, 1);
                    ctl.note_cut(format!("room {room}, round {round}: {e}"));
                    continue 'conn;
                }
                Err(e) => {
                    ctl.fail(format!("room {room}, round {round}: {e}"));
                    for u in &users {
                        if let Some(how) = u.ended() {
                            ctl.disconnected(format!("{}: {how}", u.name));
                        }
                    }
                    continue 'conn;
                }
            }
            std::thread::sleep(ROOM_PAUSE);
        }
    }
}

fn padded(tag: &str, len: usize) -> Vec<u8> {
    let mut v = tag.as_bytes().to_vec();
    v.resize(len.max(tag.len()), b'.');
    v
}

/// One round: a user leaves, every other member sends a room text and one
/// sends a trans-buffer to another; each member must receive every text of
/// the others and the buffer meant for it, the user who left none; then it
/// enters again.
fn room_round(ctl: &Ctl, users: &mut [Watcher], room: u32, round: u64, g: u64) -> Result<(), String> {
    let n = users.len();
    let out = (round as usize) % n;
    for u in users.iter() {
        if let Some(how) = u.ended() {
            return Err(format!("{}: {how}", u.name));
        }
    }
    // Leave, and wait until the server has done it.
    users[out].send(&ClientMsg::LeaveRoom { room_id: room }).map_err(|e| format!("LeaveRoom: {e}"))?;
    users[out].alive(WAIT)?;
    let members: Vec<usize> = (0..n).filter(|k| *k != out).collect();
    let mut expect: HashMap<usize, Vec<Vec<u8>>> = HashMap::new();
    let prefix = format!("soak|{room}|{round}|");
    for (j, &s) in members.iter().enumerate() {
        let tag = format!("{prefix}t{s}|");
        let len = 64 + (round as usize * 131 + s * 17) % 4_000;
        users[s]
            .send(&ClientMsg::Text { to: 0, secret: false, text: padded(&tag, len) })
            .map_err(|e| format!("{}: Text: {e}", users[s].name))?;
        for &m in &members {
            if m != s {
                expect.entry(m).or_default().push(tag.clone().into_bytes());
            }
        }
        if j == (round as usize) % members.len() {
            let to = members[(j + 1) % members.len()];
            let tag = format!("{prefix}b{s}|");
            let len = 1_000 + (round as usize * 977) % 15_000;
            let msg = ClientMsg::TransBuffer {
                to: users[to].user_id,
                ex: false,
                wparam: 0,
                lparam: 0,
                task_id: 0,
                data: padded(&tag, len),
            };
            users[s].send(&msg).map_err(|e| format!("{}: TransBuffer: {e}", users[s].name))?;
            expect.entry(to).or_default().push(tag.into_bytes());
        }
    }
    let expected: u64 = expect.values().map(|v| v.len() as u64).sum();
    add(&ctl.c.room_sent, expected);
    let deadline = Instant::now() + ROOM_WAIT;
    let mut received = 0u64;
    let mut missing = Vec::new();
    for (m, mut tags) in expect {
        while !tags.is_empty() {
            let Some(msg) =
                users[m].wait_event(deadline, |x| matches!(x, ServerMsg::Text { .. } | ServerMsg::TransBuffer { .. }))
            else {
                break;
            };
            let body = match &msg {
                ServerMsg::Text { text, .. } => text,
                ServerMsg::TransBuffer { data, .. } => data,
                _ => continue,
            };
            if let Some(i) = tags.iter().position(|t| body.starts_with(t)) {
                tags.swap_remove(i);
                received += 1;
            }
        }
        for t in tags {
            missing.push(format!("{} lacks {}", users[m].name, String::from_utf8_lossy(&t)));
        }
    }
    add(&ctl.c.room_received, received);
    // The user who left must have received none of this round's texts.
    let leaked = users[out]
        .drain_events()
        .iter()
        .filter(|x| matches!(x, ServerMsg::Text { text, .. } if text.starts_with(prefix.as_bytes())))
        .count() as u64;
    if !missing.is_empty() {
        if ctl.cut(g) {
            add(&ctl.c.room_cut, missing.len() as u64);
            return Err(format!("{} deliveries cut", missing.len()));
        }
        add(&ctl.c.room_lost, missing.len() as u64);
        ctl.fail(format!("room {room}, round {round}: {} of {expected} deliveries lost: {:?}", missing.len(), missing));
    }
    if leaked > 0 {
        add(&ctl.c.room_misdelivered, leaked);
        ctl.fail(format!("room {room}, round {round}: {leaked} texts reached {} after it left", users[out].name));
    }
    // Enter again.
    users[out]
        .send(&ClientMsg::EnterRoom { room_id: room, password: vec![] })
        .map_err(|e| format!("EnterRoom: {e}"))?;
    match users[out].wait_event(Instant::now() + WAIT, |x| matches!(x, ServerMsg::EnterRoomResult { .. })) {
        Some(ServerMsg::EnterRoomResult { code: 0, .. }) => {}
        other => return Err(format!("{} entering {room} again: {other:?}", users[out].name)),
    }
    if round.is_multiple_of(20) {
        for u in users.iter_mut() {
            u.alive(WAIT)?;
        }
    }
    Ok(())
}

// ----- media -----------------------------------------------------------------------

/// What one media user received.
#[derive(Default)]
struct Received {
    video: AtomicU64,
    audio: AtomicU64,
    /// Relay latencies (µs) not yet moved to the run's list.
    lat: Mutex<Vec<u32>>,
}

/// Reads one user's media frames until its connection ends.
fn consume_media(ctl: Arc<Ctl>, rx: Receiver<ServerMsg>, got: Arc<Received>) {
    for m in rx.iter() {
        let ServerMsg::Media { header, data, .. } = m else { continue };
        let now = now_ns();
        if data.len() >= 8 {
            let sent = u64::from_be_bytes(data[..8].try_into().unwrap());
            let us = now.saturating_sub(sent) / 1_000;
            got.lat.lock().unwrap().push(us.min(u32::MAX as u64) as u32);
        }
        if header.kind == MEDIA_VIDEO {
            add(&got.video, 1);
        } else {
            add(&got.audio, 1);
        }
        add(&ctl.c.frames_in, 1);
    }
}

fn media_frame(kind: u8, key: bool, seq: u64, from: u32) -> ClientMsg {
    let (len, header) = if kind == MEDIA_VIDEO {
        let len = VIDEO_BYTES - VIDEO_BYTES / 10 + (seq as usize * 37) % (VIDEO_BYTES / 5);
        (len, MediaHeader { kind, key, codec: VIDEO_CODEC, timestamp: 0, a: 640, b: 480 })
    } else {
        (AUDIO_BYTES, MediaHeader { kind, key: true, codec: AUDIO_CODEC, timestamp: 0, a: 16_000, b: (1 << 16) | 16 })
    };
    let ts = now_ns();
    let mut data = vec![0x5A; len];
    data[..8].copy_from_slice(&ts.to_be_bytes());
    data[8..12].copy_from_slice(&(seq as u32).to_be_bytes());
    data[12..16].copy_from_slice(&from.to_be_bytes());
    ClientMsg::Media { header: MediaHeader { timestamp: (ts / 1_000_000) as u32, ..header }, data }
}

fn is_ev(m: &ServerMsg, event: u32, peer: u32) -> bool {
    matches!(m, ServerMsg::VideoCall { ev, .. } if ev.event == event && ev.user_id == peer)
}

fn media_worker(ctl: Arc<Ctl>, i: usize, ready: Sender<()>) {
    let (na, nb) = (format!("soak-media{i}-a"), format!("soak-media{i}-b"));
    let mut ready = Some(ready);
    let mut n = 0u32;
    'conn: while !ctl.stopped() {
        let Some((ra, rb, g)) = ctl.login_two(&na, &nb) else { return };
        let (mut a, ma) = Watcher::with_media_channel(ra);
        let (mut b, mb) = Watcher::with_media_channel(rb);
        for w in [&a, &b] {
            let _ = w.writer().lock().unwrap().set_write_timeout(Some(WAIT));
        }
        let (got_a, got_b) = (Arc::new(Received::default()), Arc::new(Received::default()));
        let consumers = [(ma, got_a.clone()), (mb, got_b.clone())].map(|(rx, got)| {
            let ctl = ctl.clone();
            std::thread::spawn(move || consume_media(ctl, rx, got))
        });
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        while !ctl.stopped() {
            n = n.wrapping_add(1);
            let r = media_call(&ctl, &mut a, &mut b, [&got_a, &got_b], n, g);
            for got in [&got_a, &got_b] {
                let lat = std::mem::take(&mut *got.lat.lock().unwrap());
                ctl.media_us.lock().unwrap().extend(lat);
            }
            match r {
                Ok(()) => add(&ctl.c.media_calls_made, 1),
                Err(e) if ctl.cut(g) => {
                    add(&ctl.c.media_calls_cut, 1);
                    ctl.note_cut(format!("media call {i}/{n}: {e}"));
                    break;
                }
                Err(e) => {
                    add(&ctl.c.media_calls_failed, 1);
                    ctl.fail(format!("media call {i}/{n}: {e}"));
                    for w in [&a, &b] {
                        if let Some(how) = w.ended() {
                            ctl.disconnected(format!("{}: {how}", w.name));
                        }
                    }
                    break;
                }
            }
            ctl.sleep(MEDIA_PAUSE);
        }
        a.close();
        b.close();
        for c in consumers {
            let _ = c.join();
        }
        if ctl.stopped() {
            break 'conn;
        }
    }
}

/// One media call: set up, stream both ways for the call's time, wait for
/// the last frames, count, hang up.
fn media_call(
    ctl: &Ctl,
    a: &mut Watcher,
    b: &mut Watcher,
    got: [&Arc<Received>; 2],
    n: u32,
    g: u64,
) -> Result<(), String> {
    let (ida, idb) = (a.user_id, b.user_id);
    let step = |w: &Watcher, what: &str, want: &dyn Fn(&ServerMsg) -> bool| -> Result<ServerMsg, String> {
        w.wait_event(Instant::now() + STEP, want).ok_or_else(|| match w.ended() {
            Some(how) => format!("{}: {what}: {how}", w.name),
            None => format!("{}: {what}: timed out", w.name),
        })
    };
    let send = |w: &Watcher, m: &[ClientMsg]| w.send_all(m).map_err(|e| format!("{}: send: {e}", w.name));
    send(a, &[call_msg(REQUEST, idb, 0, n, b"soak-media")])?;
    step(
        b,
        "REQUEST",
        &|m| matches!(m, ServerMsg::VideoCall { ev, .. } if ev.event == REQUEST && ev.user_id == ida && ev.param == n),
    )?;
    match step(a, "ringing", &|m| is_ev(m, REPLY, idb))? {
        ServerMsg::VideoCall { ev, .. } if ev.error_code == 0 => {}
        other => return Err(format!("the caller got {other:?} instead of REPLY(0)")),
    }
    send(b, &[call_msg(REPLY, ida, 0, n, b"")])?;
    step(a, "START", &|m| is_ev(m, START, idb))?;
    step(b, "START", &|m| is_ev(m, START, ida))?;
    // Devices and subscriptions, done before either side streams.
    for (w, peer) in [(&*a, idb), (&*b, ida)] {
        send(
            w,
            &[
                ClientMsg::Device { kind: DEVICE_CAMERA, open: true },
                ClientMsg::Device { kind: DEVICE_MIC, open: true },
                ClientMsg::Subscribe { user_id: peer, kind: MEDIA_VIDEO, on: true },
                ClientMsg::Subscribe { user_id: peer, kind: MEDIA_AUDIO, on: true },
            ],
        )?;
    }
    a.alive(WAIT)?;
    b.alive(WAIT)?;
    // got[0]: what a received (b's frames), got[1]: what b received.
    let base = [(get(&got[0].video), get(&got[0].audio)), (get(&got[1].video), get(&got[1].audio))];
    let mut sent = [(0u64, 0u64); 2]; // [a's (video, audio), b's]
    let mut keys_asked = [get(&a.seen.need_key_frames), get(&b.seen.need_key_frames)];
    let keys_base = keys_asked;
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(ctl.set.media_call_seconds);
    let tick = Duration::from_micros(1_000_000 / AUDIO_FPS);
    let mut ticks = 0u64;
    let mut error = None;
    'stream: while Instant::now() < until && !ctl.stopped() {
        for (s, w) in [&*a, &*b].into_iter().enumerate() {
            if let Some(how) = w.ended() {
                error = Some(format!("{}: {how}", w.name));
                break 'stream;
            }
            let mut msgs = vec![media_frame(MEDIA_AUDIO, true, sent[s].1, w.user_id)];
            if (ticks + 1) * VIDEO_FPS / AUDIO_FPS > sent[s].0 {
                let asked = get(&w.seen.need_key_frames);
                let key = sent[s].0.is_multiple_of(KEY_EVERY) || asked > keys_asked[s];
                keys_asked[s] = asked;
                msgs.push(media_frame(MEDIA_VIDEO, key, sent[s].0, w.user_id));
                sent[s].0 += 1;
            }
            sent[s].1 += 1;
            if let Err(e) = send(w, &msgs) {
                error = Some(e);
                break 'stream;
            }
        }
        ticks += 1;
        let next = t0 + tick * ticks as u32;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    // The last frames.
    let received = |k: usize| (get(&got[k].video) - base[k].0, get(&got[k].audio) - base[k].1);
    let drain_until = Instant::now() + MEDIA_DRAIN;
    while error.is_none() && Instant::now() < drain_until {
        if received(1) == sent[0] && received(0) == sent[1] {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ra, rb) = (received(1), received(0)); // what came of a's frames, of b's
    let video = (sent[0].0 + sent[1].0, ra.0 + rb.0);
    let audio = (sent[0].1 + sent[1].1, ra.1 + rb.1);
    add(&ctl.c.video_sent, video.0);
    add(&ctl.c.video_received, video.1);
    add(&ctl.c.audio_sent, audio.0);
    add(&ctl.c.audio_received, audio.1);
    add(
        &ctl.c.need_key_frames,
        (get(&a.seen.need_key_frames) - keys_base[0]) + (get(&b.seen.need_key_frames) - keys_base[1]),
    );
    let (vl, al) = (video.0.saturating_sub(video.1), audio.0.saturating_sub(audio.1));
    if error.is_some() && ctl.cut(g) {
        add(&ctl.c.video_cut, vl);
        add(&ctl.c.audio_cut, al);
    } else {
        add(&ctl.c.video_lost, vl);
        add(&ctl.c.audio_lost, al);
    }
    if let Some(e) = error {
        return Err(e);
    }
    send(a, &[call_msg(FINISH, idb, 0, n, b"bye")])?;
    step(a, "FINISH", &|m| is_ev(m, FINISH, idb))?;
    step(b, "FINISH", &|m| is_ev(m, FINISH, ida))?;
    Ok(())
}

// ----- floods ------------------------------------------------------------------------

/// Runs one flood for `dur`: (what it did, problems for honest users).
fn run_flood(ctl: &Ctl, kind: &str, dur: Duration) -> Result<(String, Vec<String>), String> {
    let addr = ctl.addr;
    let mut problems = Vec::new();
    let detail = match kind {
        "ping_flood" | "leave_room_flood" => {
            let unit = if kind == "ping_flood" { ping_unit() } else { leave_room_unit() };
            let conns = try_hello_attackers(addr, FLOOD_CONNS)?;
            let (floods, units) = flood_all(conns, &unit, dur);
            format!("{units} messages before login on {FLOOD_CONNS} connections: {}", describe(&floods))
        }
        "request_cancel_flood" => {
            let mut acc = Watcher::new(try_attacker_login(addr, "soak-accomplice-rc")?);
            let conns = try_attackers(addr, "soak-mallory-rc", None, FLOOD_CONNS)?;
            let (floods, units) = flood_all(conns, &request_cancel_unit(acc.user_id), dur);
            let state = acc.alive(WAIT).map(|_| "connected".to_string()).unwrap_or_else(|e| e);
            acc.close();
            format!("{units} Request+Cancel pairs: {}; the target: {state}", describe(&floods))
        }
        "subscribe_flood" => {
            let mut raw = try_attacker_login(addr, "soak-accomplice-sub")?;
            try_enter(&mut raw, SUBSCRIBE_FLOOD_ROOM)?;
            let mut acc = Watcher::new(raw);
            let conns = try_attackers(addr, "soak-mallory-sub", Some(SUBSCRIBE_FLOOD_ROOM), FLOOD_CONNS)?;
            let (floods, units) = flood_all(conns, &subscribe_unit(acc.user_id), dur);
            let state = acc.alive(WAIT).map(|_| "connected".to_string()).unwrap_or_else(|e| e);
            acc.close();
            format!("{units} Subscribe on/off pairs: {}; the target: {state}", describe(&floods))
        }
        "room_text_burst" => {
            // The member is an honest user (from the honest address).
            let mut raw = Raw::login(addr, "soak-member", WAIT)?;
            try_enter(&mut raw, TEXT_BURST_ROOM)?;
            let mut member = Watcher::new(raw);
            let mut m = try_attacker_login(addr, "soak-mallory-text")?;
            try_enter(&mut m, TEXT_BURST_ROOM)?;
            let drain = drain_in_background(&m.stream);
            let unit = room_text_unit();
            let n = (ROOM_TEXT_BURST / unit.len() + 1) as u64;
            let b = bursts(&mut m.stream, &unit, n, BURSTS, BURST_GAP, dur);
            hang_up(m, drain);
            let state = match member.alive(WAIT) {
                Ok(rtt) => format!("connected (ping {})", fmt_d(rtt)),
                Err(e) => {
                    problems.push(format!("the member under the burst was disconnected: {e}"));
                    ctl.disconnected(format!("room text burst: the member: {e}"));
                    e
                }
            };
            let got = member.seen.messages.load(Ordering::SeqCst);
            member.close();
            format!(
                "bursts of {} bytes: {}; the member received {got} messages, {state}",
                n * unit.len() as u64,
                describe(&b)
            )
        }
        "partial_frames" => {
            let t0 = Instant::now();
            let mut conns = partial_frames(addr, PARTIAL_CONNS);
            let closed = count_closed(&mut conns, Instant::now() + Duration::from_secs(2));
            if closed != conns.len() {
                problems.push(format!("{} connections holding a partial 1 MiB frame were kept", conns.len() - closed));
            }
            if let Some(rest) = dur.checked_sub(t0.elapsed()) {
                std::thread::sleep(rest);
            }
            let n = conns.len();
            drop(conns);
            format!("{n} connections sent a 1 MiB partial frame; {closed} closed by the server")
        }
        "connection_burst" => {
            let pid = ctl.pid.load(Ordering::SeqCst);
            let before = fd_count(pid);
            let t0 = Instant::now();
            let (conns, logged_in) = connection_burst(addr, CONN_BURST_IP, "soak-burst", CONN_BURST, dur);
            let opened_in = t0.elapsed();
            let during = fd_count(pid);
            if let Some(rest) = dur.checked_sub(t0.elapsed()) {
                std::thread::sleep(rest);
            }
            let n = conns.len();
            drop(conns);
            let limit = before + 8;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut after = fd_count(pid);
            while after > limit && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
                after = fd_count(pid);
            }
            if after > limit {
                problems.push(format!("server fds {after} 10 s after the burst (before {before})"));
            }
            format!(
                "{n} connections opened in {} ({logged_in} logged in, the others silent); server fds {before} → \
                 {during} → {after}",
                fmt_d(opened_in)
            )
        }
        other => return Err(format!("unknown flood {other}")),
    };
    Ok((detail, problems))
}

// ----- restarts ----------------------------------------------------------------------

fn restart(ctl: &Ctl) -> Restart {
    let at = Instant::now();
    ctl.gen.fetch_add(1, Ordering::SeqCst); // odd: restarting
    let mut guard = ctl.server.lock().unwrap();
    let mut old = guard.take().expect("a server");
    // Its business link is going away with it.
    if let Some(b) = ctl.biz.lock().unwrap().as_ref() {
        if let Some(how) = b.ended() {
            ctl.fail(format!("the business server's link had ended before the restart: {how}"));
        }
    }
    let rss_before_kib = old.rss_kib();
    let fds_before = old.fds();
    let cpu = old.cpu_time();
    let exit = match old.terminate(Duration::from_secs(10)) {
        Ok(s) if s.success() => "exit 0".to_string(),
        Ok(s) => {
            ctl.fail(format!("the server stopped on SIGTERM with {s}"));
            s.to_string()
        }
        Err(e) => {
            ctl.fail(format!("stopping the server with SIGTERM: {e}"));
            e
        }
    };
    *ctl.cpu_done.lock().unwrap() += cpu;
    let stopped_in = at.elapsed();
    drop(old);
    let mut last = String::new();
    let started = loop {
        match ServerProc::try_start(&ctl.opts) {
            Ok(s) => break Some(s),
            Err(e) => last = e,
        }
        if at.elapsed() > RESTART_GIVE_UP {
            break None;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let Some(server) = started else {
        ctl.fail(format!("the server did not start again within {RESTART_GIVE_UP:?}: {last}"));
        ctl.stop.store(true, Ordering::SeqCst);
        return Restart {
            at,
            gen: ctl.gen(),
            exit,
            stopped_in,
            down_for: at.elapsed(),
            up_at: Instant::now(),
            rss_before_kib,
            fds_before,
            biz_linked: Err("no server".into()),
            secret_kept: false,
        };
    };
    assert_eq!((server.addr, server.business_addr), (ctl.addr, ctl.biz_addr), "the server moved ports");
    ctl.pid.store(server.pid, Ordering::SeqCst);
    *guard = Some(server);
    drop(guard);
    let secret_kept =
        anychat::net::secret::read_secret(&ctl.state_dir).ok().flatten().as_deref() == Some(&ctl.secret[..]);
    let biz_linked = link_business(ctl);
    if let Err(e) = &biz_linked {
        ctl.fail(format!("the business server could not link again after the restart: {e}"));
    }
    let up_at = Instant::now();
    ctl.gen.fetch_add(1, Ordering::SeqCst); // even: up
    Restart {
        at,
        gen: ctl.gen(),
        exit,
        stopped_in,
        down_for: up_at - at,
        up_at,
        rss_before_kib,
        fds_before,
        biz_linked,
        secret_kept,
    }
}

// ----- sampling ----------------------------------------------------------------------

fn sampler(ctl: Arc<Ctl>, samples: Arc<Mutex<Vec<Sample>>>) {
    let start = *ctl.run_start.get().unwrap();
    let every = Duration::from_secs(ctl.set.sample_every);
    let mut k = 1u32;
    let mut prev = (start, 0u64, 0u64, 0u64, ctl.server_cpu());
    loop {
        let due = start + every * k;
        while Instant::now() < due {
            if ctl.stopped() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50).min(due.saturating_duration_since(Instant::now())));
        }
        k += 1;
        let g = ctl.gen();
        let pid = ctl.pid.load(Ordering::SeqCst);
        let s = Sample {
            at: Instant::now(),
            gen: g,
            rss_kib: rss_kib(pid),
            fds: fd_count(pid),
            cpu: ctl.server_cpu(),
            calls: get(&ctl.c.calls_made),
            frames: get(&ctl.c.frames_in),
            room: get(&ctl.c.room_received),
        };
        // The business link, outside restarts.
        if g.is_multiple_of(2) {
            let ended = ctl.biz.lock().unwrap().as_ref().and_then(|b| b.ended());
            if let Some(how) = ended {
                if ctl.gen() == g {
                    ctl.fail(format!("the business server's link ended: {how}"));
                    if let Err(e) = link_business(&ctl) {
                        ctl.fail(format!("the business server could not link again: {e}"));
                    }
                }
            }
            if s.rss_kib == 0 && ctl.gen() == g {
                ctl.fail("the server process is gone".into());
            }
        }
        let secs = (s.at - prev.0).as_secs_f64();
        let pings = ctl.probe.lock().unwrap().figures(prev.0, s.at);
        eprintln!(
            "[soak {:7.1}s] gen {g} RSS {} fds {} CPU {:4.1}% | ping p50 {} p99 {} max {} ({} sent) | calls/s {:.1} \
             frames/s {:.0} room msgs/s {:.0}",
            ctl.t(s.at),
            mib(s.rss_kib),
            s.fds,
            (s.cpu.saturating_sub(prev.4)).as_secs_f64() * 100.0 / secs,
            fmt_d(pings.p50),
            fmt_d(pings.p99),
            fmt_d(pings.max),
            pings.count,
            (s.calls - prev.1) as f64 / secs,
            (s.frames - prev.2) as f64 / secs,
            (s.room - prev.3) as f64 / secs,
        );
        prev = (s.at, s.calls, s.frames, s.room, s.cpu);
        samples.lock().unwrap().push(s);
    }
}

fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

// ----- the run -----------------------------------------------------------------------

/// What the run left for the report.
struct Run {
    start: Instant,
    end: Instant,
    honest_users: usize,
    rss_start: u64,
    fds_start: usize,
    rss_end: u64,
    fds_end: usize,
    hwm_end: u64,
    cpu_total: Duration,
    final_exit: String,
    samples: Vec<Sample>,
    floods: Vec<FloodRun>,
    restarts: Vec<Restart>,
}

/// Computes the figures, prints the summary and returns it (as JSON) with
/// the checks that failed.
fn report(ctl: &Ctl, run: Run) -> (serde_json::Value, Vec<String>) {
    let set = &ctl.set;
    let Run {
        start: run_start,
        end: run_end,
        honest_users,
        rss_start,
        fds_start,
        rss_end,
        fds_end,
        hwm_end,
        cpu_total,
        final_exit,
        samples,
        floods,
        restarts,
    } = run;
    let duration = run_end - run_start;
    let probe = ctl.probe.lock().unwrap();
    let pings = probe.figures(run_start, run_end);
    // Each sampling interval's pings, and the worst one.
    let every = Duration::from_secs(set.sample_every);
    let mut worst: Option<(f64, PingFigures)> = None;
    let mut from = run_start;
    while from < run_end {
        let to = (from + every).min(run_end);
        let f = probe.figures(from, to);
        let at = ctl.t(from);
        if f.count > 0 && worst.is_none_or(|(_, w)| f.p99 > w.p99) {
            worst = Some((at, f));
        }
        from = to;
    }
    drop(probe);
    let mut setup = std::mem::take(&mut *ctl.setup_us.lock().unwrap());
    setup.sort_unstable();
    let mut media = std::mem::take(&mut *ctl.media_us.lock().unwrap());
    media.sort_unstable();
    let us = |v: u32| v as f64 / 1000.0;
    let rss_max = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0).max(rss_start).max(rss_end);
    let fds_max = samples.iter().map(|s| s.fds).max().unwrap_or(0).max(fds_start).max(fds_end);
    // Per server process: its baseline (first sample BASELINE_AFTER after it
    // started), its maximum and its last sample.
    let mut epochs: BTreeMap<u64, (Instant, Option<u64>, u64, u64)> = BTreeMap::new();
    epochs.insert(0, (run_start, None, 0, 0));
    for r in &restarts {
        epochs.insert(r.gen, (r.up_at, None, 0, 0));
    }
    for s in &samples {
        if !s.gen.is_multiple_of(2) {
            continue;
        }
        if let Some(e) = epochs.get_mut(&s.gen) {
            if e.1.is_none() && s.at >= e.0 + BASELINE_AFTER {
                e.1 = Some(s.rss_kib);
            }
            e.2 = e.2.max(s.rss_kib);
            e.3 = s.rss_kib;
        }
    }
    let baseline0 = epochs.get(&0).and_then(|e| e.1).unwrap_or(rss_start);
    // Who came back after each restart, and when the last one did.
    let logins = ctl.logins.lock().unwrap().clone();
    let back = |g: u64, up: Instant| -> (usize, Option<Duration>) {
        let mut first: HashMap<&str, Instant> = HashMap::new();
        for (lg, name, at) in &logins {
            if *lg == g {
                first.entry(name.as_str()).or_insert(*at);
            }
        }
        (first.len(), first.values().max().map(|t| t.saturating_duration_since(up)))
    };
    let failures = ctl.failures.lock().unwrap().clone();
    let cuts = ctl.cuts.lock().unwrap().clone();
    let c = &ctl.c;
    let mut by_kind: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let flood_json: Vec<_> = floods
        .iter()
        .map(|f| {
            let fails = ctl.failures_between(f.start, f.end + FLOOD_AFTERMATH);
            let p = ctl.probe.lock().unwrap().figures(f.start, f.end);
            let survived = fails.is_empty()
                && f.problems.is_empty()
                && p.p99 < MAX_PING_P99
                && (set.pairs == 0 || f.calls_during > 0)
                && (set.media_calls == 0 || f.frames_during > 0)
                && (set.rooms == 0 || f.room_during > 0);
            let e = by_kind.entry(f.kind).or_default();
            e.0 += 1;
            e.1 += survived as u32;
            json!({
                "kind": f.kind,
                "at_s": ctl.t(f.start),
                "seconds": (f.end - f.start).as_secs_f64(),
                "detail": f.detail,
                "problems": f.problems,
                "honest_failures": fails,
                "calls_during": f.calls_during,
                "frames_during": f.frames_during,
                "room_messages_during": f.room_during,
                "ping_p99_ms": ms(p.p99),
                "ping_max_ms": ms(p.max),
                "survived": survived,
            })
        })
        .collect();
    let restart_json: Vec<_> = restarts
        .iter()
        .map(|r| {
            let (n, last) = back(r.gen, r.up_at);
            json!({
                "at_s": ctl.t(r.at),
                "exit": r.exit,
                "stopped_in_ms": ms(r.stopped_in),
                "down_ms": ms(r.down_for),
                "users_back": n,
                "users": honest_users,
                "all_back_after_ms": last.map(ms),
                "rss_before_kib": r.rss_before_kib,
                "fds_before": r.fds_before,
                "business_relinked": r.biz_linked.is_ok(),
                "secret_kept": r.secret_kept,
            })
        })
        .collect();
    let epoch_json: Vec<_> = epochs
        .iter()
        .map(|(g, (start, base, max, last))| {
            json!({"gen": g, "start_s": ctl.t(*start), "baseline_kib": base, "max_kib": max, "last_kib": last})
        })
        .collect();
    let interval_json: Vec<_> = samples
        .iter()
        .zip(std::iter::once(None).chain(samples.iter().map(Some)))
        .map(|(s, prev)| {
            let (t0, calls0, frames0, room0, cpu0) =
                prev.map_or((run_start, 0, 0, 0, Duration::ZERO), |p| (p.at, p.calls, p.frames, p.room, p.cpu));
            let secs = (s.at - t0).as_secs_f64().max(1e-3);
            let f = ctl.probe.lock().unwrap().figures(t0, s.at);
            json!({
                "t_s": ctl.t(s.at),
                "gen": s.gen,
                "rss_kib": s.rss_kib,
                "fds": s.fds,
                "cpu_pct": s.cpu.saturating_sub(cpu0).as_secs_f64() * 100.0 / secs,
                "ping_p50_ms": ms(f.p50),
                "ping_p99_ms": ms(f.p99),
                "ping_max_ms": ms(f.max),
                "pings": f.count,
                "calls_per_s": (s.calls - calls0) as f64 / secs,
                "frames_per_s": (s.frames - frames0) as f64 / secs,
                "room_msgs_per_s": (s.room - room0) as f64 / secs,
            })
        })
        .collect();

    // The checks.
    let mut checks = Vec::new();
    let calls_failed = get(&c.calls_failed) + get(&c.media_calls_failed);
    if calls_failed > 0 {
        checks.push(format!("{calls_failed} honest calls failed outside restarts"));
    }
    if get(&c.disconnects) > 0 {
        checks.push(format!("{} honest users were disconnected outside restarts", get(&c.disconnects)));
    }
    if get(&c.room_lost) + get(&c.room_misdelivered) > 0 {
        checks.push(format!(
            "room messages: {} lost, {} misdelivered outside restarts",
            get(&c.room_lost),
            get(&c.room_misdelivered)
        ));
    }
    if pings.p99 >= MAX_PING_P99 {
        checks.push(format!("probe ping p99 over the run {} ≥ {}", fmt_d(pings.p99), fmt_d(MAX_PING_P99)));
    }
    if rss_end > baseline0 + RSS_GROWTH_LIMIT_KIB {
        checks.push(format!(
            "RSS at the end {} exceeds the first baseline {} by more than {}",
            mib(rss_end),
            mib(baseline0),
            mib(RSS_GROWTH_LIMIT_KIB)
        ));
    }
    if !failures.is_empty() {
        checks.push(format!("{} failures recorded (listed above)", failures.len()));
    }
    for r in &restarts {
        let (n, _) = back(r.gen, r.up_at);
        if n < honest_users {
            checks
                .push(format!("after the restart at {:.0} s only {n} of {honest_users} users came back", ctl.t(r.at)));
        }
    }
    let passed = checks.is_empty();

    let summary = json!({
        "date": std::process::Command::new("date").arg("-u").arg("+%Y-%m-%dT%H:%M:%SZ").output().ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
        "passed": passed,
        "checks_failed": checks,
        "duration_s": duration.as_secs_f64(),
        "settings": set.to_json(),
        "honest_users": honest_users,
        "calls": {
            "made": get(&c.calls_made),
            "failed": get(&c.calls_failed),
            "cut_by_restart": get(&c.calls_cut),
            "per_s": get(&c.calls_made) as f64 / duration.as_secs_f64(),
            "setup_ms": {"p50": us(pct(&setup, 0.5)), "p99": us(pct(&setup, 0.99)), "max": us(setup.last().copied().unwrap_or(0))},
        },
        "media_calls": {
            "made": get(&c.media_calls_made),
            "failed": get(&c.media_calls_failed),
            "cut_by_restart": get(&c.media_calls_cut),
        },
        "rooms": {
            "rounds": get(&c.room_rounds),
            "rounds_cut_by_restart": get(&c.room_rounds_cut),
            "deliveries_expected": get(&c.room_sent),
            "received": get(&c.room_received),
            "lost": get(&c.room_lost),
            "cut_by_restart": get(&c.room_cut),
            "misdelivered": get(&c.room_misdelivered),
        },
        "media": {
            "video": {"sent": get(&c.video_sent), "received": get(&c.video_received), "lost": get(&c.video_lost), "cut_by_restart": get(&c.video_cut)},
            "audio": {"sent": get(&c.audio_sent), "received": get(&c.audio_received), "lost": get(&c.audio_lost), "cut_by_restart": get(&c.audio_cut)},
            "relay_ms": {"p50": us(pct(&media, 0.5)), "p99": us(pct(&media, 0.99)), "p999": us(pct(&media, 0.999)), "max": us(media.last().copied().unwrap_or(0))},
            "need_key_frames": get(&c.need_key_frames),
        },
        "business": {"asked_calls": get(&ctl.biz_asked)},
        "floods": flood_json,
        "floods_by_kind": by_kind.iter().map(|(k, (n, ok))| (k.to_string(), json!({"runs": n, "survived": ok}))).collect::<serde_json::Map<_, _>>(),
        "restarts": restart_json,
        "ping": {
            "count": pings.count, "lost": pings.lost, "cut_by_restart": pings.cut,
            "p50_ms": ms(pings.p50), "p99_ms": ms(pings.p99), "max_ms": ms(pings.max),
            "worst_interval": worst.map(|(at, f)| json!({"at_s": at, "p50_ms": ms(f.p50), "p99_ms": ms(f.p99), "max_ms": ms(f.max)})),
        },
        "rss_kib": {"start": rss_start, "baseline_first": baseline0, "max": rss_max, "end": rss_end, "vmhwm_end": hwm_end, "per_server": epoch_json},
        "fds": {"start": fds_start, "max": fds_max, "end": fds_end},
        "server_cpu_s": cpu_total.as_secs_f64(),
        "server_exit": final_exit,
        "failures": failures.iter().map(|(t, w)| json!({"at_s": ctl.t(*t), "what": w})).collect::<Vec<_>>(),
        "cut_events": cuts.len(),
        "cut_by_restarts": cuts.iter().take(200).map(|(t, w)| json!({"at_s": ctl.t(*t), "what": w})).collect::<Vec<_>>(),
        "intervals": interval_json,
    });

    // ----- the summary -----
    let p = |s: String| eprintln!("[soak] {s}");
    p(format!("==== summary: {} s, {} ====", duration.as_secs(), if passed { "PASSED" } else { "FAILED" }));
    p(format!(
        "calls: {} made ({:.1}/s), {} failed, {} cut by restarts; setup p50 {} p99 {} max {}",
        get(&c.calls_made),
        get(&c.calls_made) as f64 / duration.as_secs_f64(),
        get(&c.calls_failed),
        get(&c.calls_cut),
        fmt_d(Duration::from_micros(pct(&setup, 0.5) as u64)),
        fmt_d(Duration::from_micros(pct(&setup, 0.99) as u64)),
        fmt_d(Duration::from_micros(setup.last().copied().unwrap_or(0) as u64)),
    ));
    p(format!(
        "media calls: {} made, {} failed, {} cut; video {} sent {} received {} lost {} cut; audio {} sent {} received {} lost {} cut; relay p50 {} p99 {} p99.9 {} max {}; NeedKeyFrame {}",
        get(&c.media_calls_made),
        get(&c.media_calls_failed),
        get(&c.media_calls_cut),
        get(&c.video_sent),
        get(&c.video_received),
        get(&c.video_lost),
        get(&c.video_cut),
        get(&c.audio_sent),
        get(&c.audio_received),
        get(&c.audio_lost),
        get(&c.audio_cut),
        fmt_d(Duration::from_micros(pct(&media, 0.5) as u64)),
        fmt_d(Duration::from_micros(pct(&media, 0.99) as u64)),
        fmt_d(Duration::from_micros(pct(&media, 0.999) as u64)),
        fmt_d(Duration::from_micros(media.last().copied().unwrap_or(0) as u64)),
        get(&c.need_key_frames),
    ));
    p(format!(
        "rooms: {} rounds ({} cut); {} deliveries expected, {} received, {} lost, {} cut by restarts, {} misdelivered",
        get(&c.room_rounds),
        get(&c.room_rounds_cut),
        get(&c.room_sent),
        get(&c.room_received),
        get(&c.room_lost),
        get(&c.room_cut),
        get(&c.room_misdelivered),
    ));
    p(format!(
        "floods: {} run: {}",
        floods.len(),
        by_kind.iter().map(|(k, (n, ok))| format!("{k} {ok}/{n} survived")).collect::<Vec<_>>().join(", ")
    ));
    for (f, j) in floods.iter().zip(&flood_json) {
        p(format!(
            "  {:7.1}s {:<21} survived {} (ping p99 {} ms, {} calls, {} frames, {} room msgs during) {}",
            ctl.t(f.start),
            f.kind,
            j["survived"],
            j["ping_p99_ms"],
            f.calls_during,
            f.frames_during,
            f.room_during,
            f.detail
        ));
    }
    p(format!("restarts: {}", restarts.len()));
    for (r, j) in restarts.iter().zip(&restart_json) {
        p(format!(
            "  {:7.1}s {}, stopped in {}, down {}, {} of {honest_users} users back after {} ms, business relinked {}, secret kept {}",
            ctl.t(r.at),
            r.exit,
            fmt_d(r.stopped_in),
            fmt_d(r.down_for),
            j["users_back"],
            j["all_back_after_ms"],
            r.biz_linked.is_ok(),
            r.secret_kept
        ));
    }
    p(format!(
        "probe ping: {} answered or lost ({} lost, {} cut by restarts): p50 {} p99 {} max {}; worst {} s interval: {}",
        pings.count,
        pings.lost,
        pings.cut,
        fmt_d(pings.p50),
        fmt_d(pings.p99),
        fmt_d(pings.max),
        set.sample_every,
        worst.map_or("-".into(), |(at, f)| format!(
            "at {at:.0} s p50 {} p99 {} max {}",
            fmt_d(f.p50),
            fmt_d(f.p99),
            fmt_d(f.max)
        ))
    ));
    p(format!(
        "server RSS: start {} first baseline {} max {} end {} (VmHWM {}); per server process (baseline / max / last): {}",
        mib(rss_start),
        mib(baseline0),
        mib(rss_max),
        mib(rss_end),
        mib(hwm_end),
        epochs
            .values()
            .map(|(_, b, m, l)| format!("{} / {} / {}", b.map_or("-".into(), mib), mib(*m), mib(*l)))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    p(format!(
        "server fds: start {fds_start} max {fds_max} end {fds_end}; CPU {:.1} s; final stop: {final_exit}",
        cpu_total.as_secs_f64()
    ));
    p(format!("business server: {} calls asked", get(&ctl.biz_asked)));
    if !failures.is_empty() {
        p(format!("{} failures:", failures.len()));
        for (t, w) in failures.iter().take(50) {
            p(format!("  {:7.1}s {w}", ctl.t(*t)));
        }
    }
    (summary, checks)
}

#[test]
#[ignore = "a soak run (SOAK_SECONDS, 60 by default): scripts/soak.sh, or cargo test --release --test soak -- --ignored"]
fn soak() {
    let set = Settings::from_env();
    now_ns();
    raise_nofile();
    eprintln!("[soak] settings: {set:?}");
    // A fresh state folder (removed at the end), unless one is given.
    let (state_dir, fresh) = match &set.state_dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("anychat-soak-{}", std::process::id())), true),
    };
    if fresh {
        let _ = std::fs::remove_dir_all(&state_dir);
    }
    std::fs::create_dir_all(&state_dir).expect("state folder");
    let mut opts = ServerOpts::new().env("ANYCHAT_STATE_DIR", state_dir.display()).log_level(&set.log_level);
    if let Some(p) = &set.server_log {
        opts = opts.log_file(p);
    }
    for a in &set.server_args {
        opts = opts.arg(a);
    }
    let first = ServerProc::start(&opts);
    let opts = opts.listen(first.addr, first.business_addr);
    eprintln!("[soak] server pid {} on {} (business {})", first.pid, first.addr, first.business_addr);
    // The secret the server generated at its first start.
    let deadline = Instant::now() + WAIT;
    let secret = loop {
        match anychat::net::secret::read_secret(&state_dir) {
            Ok(Some(s)) => break s,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("no business secret in {}: {other:?}", state_dir.display()),
        }
    };
    let ctl = Arc::new(Ctl {
        addr: first.addr,
        biz_addr: first.business_addr,
        pid: AtomicU32::new(first.pid),
        server: Mutex::new(Some(first)),
        set: set.clone(),
        state_dir: state_dir.clone(),
        secret,
        opts,
        gen: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        run_start: OnceLock::new(),
        cpu_done: Mutex::new(Duration::ZERO),
        biz: Mutex::new(None),
        biz_asked: AtomicU64::new(0),
        c: Counters::default(),
        failures: Mutex::new(Vec::new()),
        cuts: Mutex::new(Vec::new()),
        logins: Mutex::new(Vec::new()),
        setup_us: Mutex::new(Vec::new()),
        media_us: Mutex::new(Vec::new()),
        probe: Mutex::new(ProbeLog::default()),
    });
    link_business(&ctl).unwrap_or_else(|e| panic!("the business server: {e}"));

    // Every honest worker; each says when it is in.
    let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let spawn = |name: String, f: Box<dyn FnOnce() + Send>| std::thread::Builder::new().name(name).spawn(f).unwrap();
    for i in 0..set.pairs {
        let (c, r) = (ctl.clone(), ready_tx.clone());
        workers.push(spawn(format!("pair{i}"), Box::new(move || pair_worker(c, i, r))));
    }
    for i in 0..set.rooms {
        let (c, r) = (ctl.clone(), ready_tx.clone());
        workers.push(spawn(format!("room{i}"), Box::new(move || room_worker(c, i, r))));
    }
    for i in 0..set.media_calls {
        let (c, r) = (ctl.clone(), ready_tx.clone());
        workers.push(spawn(format!("media{i}"), Box::new(move || media_worker(c, i, r))));
    }
    {
        let (c, r) = (ctl.clone(), ready_tx.clone());
        workers.push(spawn("probe".into(), Box::new(move || probe_worker(c, r))));
    }
    drop(ready_tx);
    let honest_users = 2 * set.pairs + set.rooms * set.room_users + 2 * set.media_calls + 1;
    for k in 0..workers.len() {
        if ready_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            ctl.stop.store(true, Ordering::SeqCst);
            panic!("only {k} of {} workers got going: {:?}", workers.len(), ctl.failures.lock().unwrap());
        }
    }
    let run_start = Instant::now();
    ctl.run_start.set(run_start).unwrap();
    let (rss_start, fds_start) = {
        let pid = ctl.pid.load(Ordering::SeqCst);
        (rss_kib(pid), fd_count(pid))
    };
    eprintln!(
        "[soak] {honest_users} honest users in after {}; RSS {} fds {fds_start}; running {} s",
        fmt_d(ORIGIN.get().unwrap().elapsed()),
        mib(rss_start),
        set.seconds
    );
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler_thread = {
        let (c, s) = (ctl.clone(), samples.clone());
        std::thread::spawn(move || sampler(c, s))
    };

    // Floods and restarts take turns in this thread, never at once.
    let end = run_start + Duration::from_secs(set.seconds);
    let flood_every = Duration::from_secs(set.flood_every);
    let restart_every = Duration::from_secs(set.restart_every);
    let flood_dur = Duration::from_secs(set.flood_seconds);
    let mut next_flood = (set.flood_every > 0).then(|| run_start + flood_every / 2);
    let mut next_restart = (set.restart_every > 0).then(|| run_start + restart_every);
    let mut floods: Vec<FloodRun> = Vec::new();
    let mut restarts: Vec<Restart> = Vec::new();
    while !ctl.stopped() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if next_restart.is_some_and(|t| now >= t) {
            next_restart = next_restart.map(|t| t + restart_every);
            if end.saturating_duration_since(now) < BASELINE_AFTER * 2 {
                continue; // too close to the end to measure anything after it
            }
            eprintln!("[soak {:7.1}s] restart {}: SIGTERM", ctl.t(now), restarts.len() + 1);
            let r = restart(&ctl);
            eprintln!(
                "[soak {:7.1}s] restart {}: {} after {}, up again after {} (business link: {:?})",
                ctl.t(Instant::now()),
                restarts.len() + 1,
                r.exit,
                fmt_d(r.stopped_in),
                fmt_d(r.down_for),
                r.biz_linked
            );
            restarts.push(r);
            continue;
        }
        if next_flood.is_some_and(|t| now >= t) {
            next_flood = next_flood.map(|t| t + flood_every);
            if end.saturating_duration_since(now) < flood_dur + FLOOD_AFTERMATH {
                continue;
            }
            let kind = set.floods[floods.len() % set.floods.len()];
            let counts = || (get(&ctl.c.calls_made), get(&ctl.c.frames_in), get(&ctl.c.room_received));
            let before = counts();
            let start = Instant::now();
            let (detail, problems) = match run_flood(&ctl, kind, flood_dur) {
                Ok(x) => x,
                Err(e) => (format!("could not be run: {e}"), vec![format!("setting up the flood: {e}")]),
            };
            let fend = Instant::now();
            let after = counts();
            eprintln!("[soak {:7.1}s] flood {kind}: {detail}", ctl.t(start));
            for p in &problems {
                eprintln!("[soak {:7.1}s] flood {kind}: PROBLEM: {p}", ctl.t(fend));
            }
            floods.push(FloodRun {
                kind,
                start,
                end: fend,
                detail,
                problems,
                calls_during: after.0 - before.0,
                frames_during: after.1 - before.1,
                room_during: after.2 - before.2,
            });
            continue;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let run_end = Instant::now();

    // The end: figures under load, then everyone stops.
    let pid = ctl.pid.load(Ordering::SeqCst);
    let (rss_end, fds_end, hwm_end) = (rss_kib(pid), fd_count(pid), hwm_kib(pid));
    ctl.stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    let _ = sampler_thread.join();
    let cpu_total = ctl.server_cpu();
    if let Some(b) = ctl.biz.lock().unwrap().take() {
        if let Some(how) = b.ended() {
            ctl.fail(format!("the business server's link ended: {how}"));
        }
        add(&ctl.biz_asked, get(&b.stats.asked_calls));
    }
    let final_exit = match ctl.server.lock().unwrap().as_mut().map(|s| s.terminate(Duration::from_secs(10))) {
        Some(Ok(s)) if s.success() => "exit 0".to_string(),
        Some(Ok(s)) => {
            ctl.fail(format!("the server stopped on SIGTERM with {s}"));
            s.to_string()
        }
        Some(Err(e)) => {
            ctl.fail(format!("stopping the server: {e}"));
            e
        }
        None => "no server".into(),
    };
    if fresh {
        let _ = std::fs::remove_dir_all(&state_dir);
    }

    let run = Run {
        start: run_start,
        end: run_end,
        honest_users,
        rss_start,
        fds_start,
        rss_end,
        fds_end,
        hwm_end,
        cpu_total,
        final_exit,
        samples: std::mem::take(&mut *samples.lock().unwrap()),
        floods,
        restarts,
    };
    let (summary, checks) = report(&ctl, run);
    if let Some(path) = &set.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary).unwrap() + "\n")
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("[soak] summary written to {}", path.display());
    }
    assert!(checks.is_empty(), "the soak failed {} check(s):\n  - {}", checks.len(), checks.join("\n  - "));
}
