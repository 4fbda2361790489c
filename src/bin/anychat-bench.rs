//! `anychat-bench`: load generator for the core server (`anychat-server`).
//!
//! Simulated clients speak the real wire protocol (`anychat::wire::protocol`), many
//! per thread on a few mio loops. Modes:
//!
//! ```text
//! anychat-bench calls --server 127.0.0.1:8906 --pairs 1000 --rate 5000 --duration 30 --server-pid PID
//! anychat-bench ramp  --server 127.0.0.1:8906 --pairs 1000 --start 5000 --step 5000 --max 60000 --step-seconds 10
//! anychat-bench idle  --server 127.0.0.1:8906 --users 100000 --sources 8 --hold 20 --server-pid PID
//! anychat-bench media --server 127.0.0.1:8906 --calls 500 --seconds 20 --fps 15 --frame-bytes 6000 --server-pid PID
//! anychat-bench compare --server 127.0.0.1:8906 --server-pid PID --other 127.0.0.1:9906 --other-pid PID2 --rate 5000
//! anychat-bench media --server 127.0.0.1:8906 --calls 200 --seconds 20 --audio-codec opus --server-pid PID
//! ```
//!
//! - `calls`: caller/callee pairs place complete calls (Request, ringing
//!   Reply(0), callee Reply(0), Start to both, Finish by the caller, Finish
//!   to both) at a target rate; prints offered and achieved calls/s, failed
//!   calls by reason, setup latency (Request sent → caller's Start)
//!   percentiles and, given `--server-pid`, the server's CPU seconds per
//!   1,000 calls and its RSS.
//! - `ramp`: steps the rate up and reports the highest step with no failed
//!   call, p99 within `--p99-ms` (10 ms) and at least 95% of the offered rate
//!   achieved.
//! - `idle`: logs users in and keeps them connected (Pings answered), then
//!   reports the server's RSS per connected user.
//! - `media`: N calls held at once, each streaming synthetic pre-encoded
//!   video (codec 201, `--frame-bytes` per frame at `--fps`, a key frame
//!   every `--key-every` frames and on `NeedKeyFrame`) and with `--audio`
//!   20 ms PCM chunks, both ways; prints offered and relayed frames/s, frame
//!   latency (send → receive, stamped in the payload) percentiles, frames
//!   lost, NeedKeyFrame received, audio bytes per stream on the wire and,
//!   given `--server-pid`, the server's CPU seconds per stream per second
//!   and its RSS. `--audio-codec opus` first times the library's Opus
//!   encoder and decoder (µs per 20 ms frame, share of one core per
//!   stream, bytes per second against PCM), then sends audio frames of the
//!   sizes of the packets it made.
//!
//! - `compare`: calls mode against two servers in one run (e.g. one with
//!   call records and metrics on, one with them off), alternately
//!   (A B B A …) for `--rounds` rounds on pairs logged in to each; prints
//!   both sides' calls/s, failures, latency and server CPU per 1,000 calls,
//!   and how far apart they are.
//!
//! Every mode prints a progress line per second and, with `--json FILE`,
//! writes its summary as JSON. Only loopback servers are accepted, and every
//! loop is bounded in count and time.

mod anychat_bench;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anychat_bench::audio_codec;
use anychat_bench::media::{self as bench_media, MediaPlan, MediaResult, StreamStats};
use anychat_bench::procfs::{self, ProcSample};
use anychat_bench::stats::{round3, Percentiles, StepResult};
use anychat_bench::worker::{Command, Report, Shared, UserSpec, Worker, WorkerConfig};
use clap::{Args, Parser, Subcommand};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::{json, Value};

/// Load generator for the anychat-rs core server (loopback only).
#[derive(Parser, Debug)]
#[command(name = "anychat-bench", version, about = "Load generator for the anychat-rs core server (loopback only)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Place complete calls at a target rate for a duration.
    Calls(CallsArgs),
    /// Raise the call rate step by step; report the highest clean rate.
    Ramp(RampArgs),
    /// Keep many users logged in and measure the server's memory per user.
    Idle(IdleArgs),
    /// Hold N calls streaming synthetic video (and audio) both ways; measure the relay.
    Media(MediaArgs),
    /// Calls mode against two servers alternately in one run; how far apart they are.
    Compare(CompareArgs),
}

/// Calls mode's settings apply to each server and round (`--duration`:
/// seconds per round and server; `--pairs`: pairs per server).
#[derive(Args, Debug, Clone)]
struct CompareArgs {
    #[command(flatten)]
    calls: CallsArgs,
    /// The second server's client address (a loopback address).
    #[arg(long)]
    other: SocketAddr,
    /// The second server's process id.
    #[arg(long)]
    other_pid: Option<u32>,
    /// What the first server is (printed).
    #[arg(long, default_value = "A")]
    label: String,
    /// What the second server is (printed).
    #[arg(long, default_value = "B")]
    other_label: String,
    /// Rounds (each runs both servers, in turn: A B, then B A, …).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// The core server's client address (a loopback address).
    #[arg(long)]
    server: SocketAddr,
    /// The server's process id: CPU time and memory are read from /proc/PID.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Load-generating threads (each one mio loop over its share of the clients).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    threads: u16,
    /// Connections being set up at once (per thread), at most.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Seconds one connection may take to connect and log in.
    #[arg(long, default_value_t = 30.0)]
    login_timeout: f64,
    /// Prefix of the user names (default: bench-PID-); names are PREFIX + index.
    #[arg(long)]
    name_prefix: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct CallsArgs {
    #[command(flatten)]
    common: Common,
    /// Caller/callee pairs; each pair has at most one call at a time.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// Target complete calls per second.
    #[arg(long)]
    rate: f64,
    /// Seconds during which calls are placed.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds after which a call not complete counts as failed.
    #[arg(long, default_value_t = 5.0)]
    call_timeout: f64,
    #[command(flatten)]
    cluster: ClusterOpts,
}

/// A cluster run (docs/CLUSTER.md): the run is made twice, both parties of
/// every call on --server ("within"), then callers on --server and callees
/// on --peer-server ("across"), side by side.
#[derive(Args, Debug, Clone, Default)]
struct ClusterOpts {
    /// Another core server of the same cluster (a loopback address).
    #[arg(long)]
    peer_server: Option<SocketAddr>,
    /// That server's process id: its CPU time is reported.
    #[arg(long)]
    peer_pid: Option<u32>,
    /// The cluster engine's (redis-server's) process id: its CPU time per
    /// call, or per relayed frame, is reported.
    #[arg(long)]
    engine_pid: Option<u32>,
}

#[derive(Args, Debug, Clone)]
struct RampArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// First rate (calls/s).
    #[arg(long)]
    start: f64,
    /// Rate added at each step (calls/s).
    #[arg(long)]
    step: f64,
    /// Highest rate tried (calls/s).
    #[arg(long)]
    max: f64,
    /// Seconds per step.
    #[arg(long, default_value_t = 10.0)]
    step_seconds: f64,
    #[arg(long, default_value_t = 5.0)]
    call_timeout: f64,
    /// A step is clean when its setup p99 is at most this (ms), with no failure.
    #[arg(long, default_value_t = 10.0)]
    p99_ms: f64,
}

#[derive(Args, Debug, Clone)]
struct IdleArgs {
    #[command(flatten)]
    common: Common,
    /// Users to log in and keep connected.
    #[arg(long)]
    users: usize,
    /// Spread connections over source addresses 127.0.0.1 ..= 127.0.0.K.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    sources: u8,
    /// Seconds to keep everyone connected before measuring.
    #[arg(long, default_value_t = 20.0)]
    hold: f64,
}

#[derive(Args, Debug, Clone)]
struct MediaArgs {
    #[command(flatten)]
    common: Common,
    /// Concurrent calls (two connections each), each streaming both ways.
    #[arg(long)]
    calls: usize,
    /// Seconds of streaming (from the moment the calls are placed).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Video frames per second per stream.
    #[arg(long, default_value_t = 15.0)]
    fps: f64,
    /// Mean payload bytes of a video frame (each frame within ±10%).
    #[arg(long, default_value_t = 6000)]
    frame_bytes: usize,
    /// A key frame every this many video frames (and whenever NeedKeyFrame comes).
    #[arg(long, default_value_t = 30)]
    key_every: u64,
    /// Also send 20 ms PCM chunks (640 bytes, 16 kHz mono) at 50/s each way.
    #[arg(long)]
    audio: bool,
    /// Audio codec of `--audio`: `pcm`, or `opus` (implies `--audio`): first
    /// times the library's Opus encoder and decoder in-process over
    /// `--codec-seconds` of a synthetic voice, then sends packets of the
    /// sizes they made.
    #[arg(long, value_enum, default_value_t = AudioCodecArg::Pcm)]
    audio_codec: AudioCodecArg,
    /// Seconds of audio the Opus encoder and decoder are timed over.
    #[arg(long, default_value_t = 20.0)]
    codec_seconds: f64,
    /// Seconds to wait, once the sending stops, for frames still in flight.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    #[command(flatten)]
    cluster: ClusterOpts,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum AudioCodecArg {
    Pcm,
    Opus,
}

const MAX_RATE: f64 = 1_000_000.0;
const MAX_SECONDS: f64 = 3600.0;
const MAX_PAIRS: usize = 500_000;
const MAX_USERS: usize = 1_000_000;
const MAX_MEDIA_CALLS: usize = 20_000;
/// Seconds for a media call to start and, at the end, to finish.
const MEDIA_CALL_TIMEOUT: f64 = 5.0;
/// File descriptors kept free for everything that is not a client socket.
const SPARE_FDS: u64 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Calls(a) => calls(a),
        Mode::Ramp(a) => ramp(a),
        Mode::Idle(a) => idle(a),
        Mode::Media(a) => media(a),
        Mode::Compare(a) => compare(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anychat-bench: {e}");
            ExitCode::from(1)
        }
    }
}

type Result<T> = std::result::Result<T, String>;

fn check_common(c: &Common) -> Result<()> {
    if !c.server.ip().is_loopback() {
        return Err(format!("{} is not a loopback address: anychat-bench only loads a local server", c.server));
    }
    if !(c.login_timeout > 0.0 && c.login_timeout <= MAX_SECONDS) {
        return Err("--login-timeout must be in (0, 3600] seconds".into());
    }
    if c.connect_concurrency == 0 || c.connect_concurrency > 100_000 {
        return Err("--connect-concurrency must be in 1..=100000".into());
    }
    if let Some(pid) = c.server_pid {
        if procfs::sample(pid).is_none() {
            return Err(format!("cannot read /proc/{pid}: is the server's pid right?"));
        }
    }
    Ok(())
}

fn check_range(name: &str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if v.is_finite() && v > lo && v <= hi {
        Ok(())
    } else {
        Err(format!("--{name} must be in ({lo}, {hi}]"))
    }
}

fn name_prefix(c: &Common) -> String {
    c.name_prefix.clone().unwrap_or_else(|| format!("bench-{}-", std::process::id()))
}

fn write_json(c: &Common, v: &Value) -> Result<()> {
    if let Some(path) = &c.json {
        let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ----- the fleet of workers ------------------------------------------------

/// The worker threads and the channels to them.
struct Fleet {
    commands: Vec<Sender<Command>>,
    reports: Receiver<Report>,
    handles: Vec<JoinHandle<()>>,
    shared: Vec<Arc<Shared>>,
    deadline: Instant,
    server_pid: Option<u32>,
    users: usize,
}

/// Totals of the workers' counters.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    logged_in: u64,
    login_failed: u64,
    placed: u64,
    completed: u64,
    failed: u64,
    disconnected: u64,
    pongs: u64,
    calls_up: u64,
    video_sent: u64,
    video_received: u64,
    audio_sent: u64,
    audio_received: u64,
    media_gaps: u64,
    need_key: u64,
}

/// Results of the login phase.
struct LoginSummary {
    ok: u64,
    failed: BTreeMap<String, u64>,
    pairs_ready: u64,
    seconds: f64,
}

/// CPU seconds used during a step by the load generator and by the whole machine.
#[derive(Debug, Default, Clone, Copy)]
struct Cpu {
    bench: f64,
    machine: Option<f64>,
}

/// The server's CPU and memory over one step.
#[derive(Debug, Default, Clone, Copy)]
struct ServerUse {
    before: ProcSample,
    after: ProcSample,
    peak_rss_kib: u64,
}

impl ServerUse {
    fn cpu_s(&self) -> f64 {
        self.after.cpu_s - self.before.cpu_s
    }
}

impl Fleet {
    /// Starts `threads` workers over `users`. With `pairs`, users `2k` and
    /// `2k + 1` are a caller and its callee and stay on the same worker.
    fn start(common: &Common, users: Vec<UserSpec>, pairs: bool, deadline: Instant) -> Result<Fleet> {
        let threads = common.threads as usize;
        let mut per_worker: Vec<Vec<UserSpec>> = vec![Vec::new(); threads];
        if pairs {
            for (k, pair) in users.chunks(2).enumerate() {
                per_worker[k % threads].extend_from_slice(pair);
            }
        } else {
            for (i, u) in users.iter().enumerate() {
                per_worker[i % threads].push(u.clone());
            }
        }
        let (report_tx, reports) = crossbeam_channel::unbounded();
        let mut fleet = Fleet {
            commands: Vec::new(),
            reports,
            handles: Vec::new(),
            shared: Vec::new(),
            deadline,
            server_pid: common.server_pid,
            users: users.len(),
        };
        for (w, users) in per_worker.into_iter().enumerate() {
            let cfg = WorkerConfig {
                server: common.server,
                users,
                pairs,
                connect_concurrency: common.connect_concurrency,
                login_timeout: Duration::from_secs_f64(common.login_timeout),
                deadline,
            };
            let shared = Arc::new(Shared::default());
            let worker = Worker::new(cfg, shared.clone()).map_err(|e| format!("cannot create a poll: {e}"))?;
            let (tx, rx) = crossbeam_channel::unbounded();
            let report_tx = report_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("bench-{w}"))
                .spawn(move || worker.run(rx, report_tx))
                .map_err(|e| format!("cannot start a thread: {e}"))?;
            fleet.commands.push(tx);
            fleet.handles.push(handle);
            fleet.shared.push(shared);
        }
        Ok(fleet)
    }

    fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in &self.shared {
            t.logged_in += s.logged_in.load(Ordering::Relaxed);
            t.login_failed += s.login_failed.load(Ordering::Relaxed);
            t.placed += s.placed.load(Ordering::Relaxed);
            t.completed += s.completed.load(Ordering::Relaxed);
            t.failed += s.failed.load(Ordering::Relaxed);
            t.disconnected += s.disconnected.load(Ordering::Relaxed);
            t.pongs += s.pongs.load(Ordering::Relaxed);
            t.calls_up += s.calls_up.load(Ordering::Relaxed);
            t.video_sent += s.video_sent.load(Ordering::Relaxed);
            t.video_received += s.video_received.load(Ordering::Relaxed);
            t.audio_sent += s.audio_sent.load(Ordering::Relaxed);
            t.audio_received += s.audio_received.load(Ordering::Relaxed);
            t.media_gaps += s.media_gaps.load(Ordering::Relaxed);
            t.need_key += s.need_key.load(Ordering::Relaxed);
        }
        t
    }

    fn take_max_latency_ms(&self) -> f64 {
        self.shared.iter().map(|s| s.max_latency_ns.swap(0, Ordering::Relaxed)).max().unwrap_or(0) as f64 / 1e6
    }

    /// Waits for a report, printing progress once a second through `tick`.
    fn next_report(&self, tick: &mut dyn FnMut(&Fleet)) -> Result<Report> {
        let mut next_tick = Instant::now() + Duration::from_secs(1);
        loop {
            let wait = next_tick.min(self.deadline + Duration::from_secs(5));
            match self.reports.recv_deadline(wait) {
                Ok(r) => return Ok(r),
                Err(RecvTimeoutError::Timeout) => {
                    if Instant::now() >= self.deadline + Duration::from_secs(5) {
                        return Err("the run went past its time limit".into());
                    }
                    tick(self);
                    next_tick += Duration::from_secs(1);
                }
                Err(RecvTimeoutError::Disconnected) => return Err("the workers stopped".into()),
            }
        }
    }

    fn wait_login(&self) -> Result<LoginSummary> {
        let t0 = Instant::now();
        let mut s = LoginSummary { ok: 0, failed: BTreeMap::new(), pairs_ready: 0, seconds: 0.0 };
        let mut got = 0;
        let total = self.users;
        let mut tick = |f: &Fleet| {
            let t = f.totals();
            println!(
                "[{:>4.0}s] login: {} of {} logged in, {} failed",
                t0.elapsed().as_secs_f64(),
                t.logged_in,
                total,
                t.login_failed
            );
        };
        while got < self.commands.len() {
            match self.next_report(&mut tick)? {
                Report::LoggedIn { ok, failed, pairs_ready } => {
                    got += 1;
                    s.ok += ok;
                    s.pairs_ready += pairs_ready;
                    for (k, v) in failed {
                        *s.failed.entry(k).or_default() += v;
                    }
                }
                Report::Step(_) | Report::Media(_) => return Err("unexpected step report".into()),
            }
        }
        s.seconds = t0.elapsed().as_secs_f64();
        println!("login: {} logged in, {} failed in {:.1} s", s.ok, s.failed.values().sum::<u64>(), s.seconds);
        for (k, v) in &s.failed {
            println!("  login failed: {v} x {k}");
        }
        Ok(s)
    }

    /// One step of load at `rate` calls/s for `duration`, with progress lines.
    fn step(&self, rate: f64, duration: Duration, call_timeout: Duration) -> Result<(StepResult, ServerUse, Cpu)> {
        let threads = self.commands.len() as f64;
        let pid = self.server_pid;
        let mut server = ServerUse::default();
        if let Some(pid) = pid {
            server.before = procfs::sample(pid).ok_or("the server process is gone")?;
            server.peak_rss_kib = server.before.rss_kib;
        }
        let cpu0 = procfs::own_cpu_seconds();
        let machine0 = procfs::machine_busy_seconds();
        for c in &self.commands {
            let cmd = Command::Step { rate: rate / threads, duration, call_timeout };
            c.send(cmd).map_err(|_| "a worker stopped")?;
        }
        let t0 = Instant::now();
        let mut last = self.totals();
        let mut last_cpu = server.before.cpu_s;
        let mut last_t = t0;
        let mut peak = server.peak_rss_kib;
        let mut tick = |f: &Fleet| {
            let now = Instant::now();
            let dt = now.duration_since(last_t).as_secs_f64().max(1e-3);
            let t = f.totals();
            let mut line = format!(
                "[{:>4.0}s] placed {:>6.0}/s  completed {:>6.0}/s  failed {:>4}  max setup {:>7.3} ms",
                now.duration_since(t0).as_secs_f64(),
                (t.placed - last.placed) as f64 / dt,
                (t.completed - last.completed) as f64 / dt,
                t.failed - last.failed,
                f.take_max_latency_ms(),
            );
            if let Some(s) = pid.and_then(procfs::sample) {
                line +=
                    &format!("  server cpu {:>3.0}%  rss {:.1} MiB", (s.cpu_s - last_cpu) / dt * 100.0, mib(s.rss_kib));
                last_cpu = s.cpu_s;
                peak = peak.max(s.rss_kib);
            }
            println!("{line}");
            last = t;
            last_t = now;
        };
        let mut result = StepResult::default();
        let mut got = 0;
        while got < self.commands.len() {
            match self.next_report(&mut tick)? {
                Report::Step(r) => {
                    got += 1;
                    result.merge(r);
                }
                Report::LoggedIn { .. } | Report::Media(_) => return Err("unexpected report".into()),
            }
        }
        let bench = procfs::own_cpu_seconds() - cpu0;
        if let Some(pid) = pid {
            server.after = procfs::sample(pid).ok_or("the server process is gone")?;
            server.peak_rss_kib = peak.max(server.after.rss_kib);
        }
        let machine = match (machine0, procfs::machine_busy_seconds()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        Ok((result, server, Cpu { bench, machine }))
    }

    /// A media run: every worker's pairs call and stream as planned. Prints a
    /// progress line per second; the CPU and memory figures cover the
    /// streaming window (from the command to `plan.seconds` later).
    fn media(&self, plan: MediaPlan) -> Result<(MediaResult, ServerUse, Cpu, f64)> {
        let pid = self.server_pid;
        let mut server = ServerUse::default();
        if let Some(pid) = pid {
            server.before = procfs::sample(pid).ok_or("the server process is gone")?;
            server.peak_rss_kib = server.before.rss_kib;
        }
        let cpu0 = procfs::own_cpu_seconds();
        let machine0 = procfs::machine_busy_seconds();
        for c in &self.commands {
            c.send(Command::Media(plan)).map_err(|_| "a worker stopped")?;
        }
        let t0 = Instant::now();
        let window_end = t0 + plan.seconds;
        let hard_end = self.deadline + Duration::from_secs(5);
        let mut window: Option<(f64, Cpu)> = None;
        let mut next_tick = t0 + Duration::from_secs(1);
        let (mut last, mut last_t, mut last_cpu) = (self.totals(), t0, server.before.cpu_s);
        let mut result = MediaResult::default();
        let mut got = 0;
        while got < self.commands.len() {
            let wake = if window.is_none() { next_tick.min(window_end) } else { next_tick };
            match self.reports.recv_deadline(wake.min(hard_end)) {
                Ok(Report::Media(r)) => {
                    got += 1;
                    result.merge(*r);
                }
                Ok(_) => return Err("unexpected report".into()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err("the workers stopped".into()),
            }
            let now = Instant::now();
            if now >= hard_end {
                return Err("the run went past its time limit".into());
            }
            if window.is_none() && (now >= window_end || got == self.commands.len()) {
                // The streaming window ends: its CPU and memory.
                let machine = match (machine0, procfs::machine_busy_seconds()) {
                    (Some(a), Some(b)) => Some(b - a),
                    _ => None,
                };
                let cpu = Cpu { bench: procfs::own_cpu_seconds() - cpu0, machine };
                if let Some(pid) = pid {
                    server.after = procfs::sample(pid).ok_or("the server process is gone")?;
                    server.peak_rss_kib = server.peak_rss_kib.max(server.after.rss_kib);
                }
                window = Some((now.duration_since(t0).as_secs_f64(), cpu));
            }
            if now >= next_tick {
                next_tick += Duration::from_secs(1);
                let dt = now.duration_since(last_t).as_secs_f64().max(1e-3);
                let t = self.totals();
                let max_ms = self.shared.iter().map(|s| s.max_frame_latency_ns.swap(0, Ordering::Relaxed)).max();
                let mut line = format!(
                    "[{:>4.0}s] calls up {:>5}  video sent {:>6.0}/s recv {:>6.0}/s",
                    now.duration_since(t0).as_secs_f64(),
                    t.calls_up,
                    (t.video_sent - last.video_sent) as f64 / dt,
                    (t.video_received - last.video_received) as f64 / dt,
                );
                if plan.audio {
                    line += &format!(
                        "  audio sent {:>6.0}/s recv {:>6.0}/s",
                        (t.audio_sent - last.audio_sent) as f64 / dt,
                        (t.audio_received - last.audio_received) as f64 / dt
                    );
                }
                line += &format!(
                    "  lost {:>4}  need-key {:>4}  failed {:>3}  max latency {:>7.3} ms",
                    t.media_gaps - last.media_gaps,
                    t.need_key - last.need_key,
                    t.failed,
                    max_ms.unwrap_or(0) as f64 / 1e6
                );
                if let Some(s) = pid.and_then(procfs::sample) {
                    line += &format!(
                        "  server cpu {:>3.0}%  rss {:.1} MiB",
                        (s.cpu_s - last_cpu) / dt * 100.0,
                        mib(s.rss_kib)
                    );
                    last_cpu = s.cpu_s;
                    if window.is_none() {
                        server.peak_rss_kib = server.peak_rss_kib.max(s.rss_kib);
                    }
                }
                println!("{line}");
                last = t;
                last_t = now;
            }
        }
        let (window_s, cpu) = window.unwrap_or((t0.elapsed().as_secs_f64(), Cpu::default()));
        result.calls.elapsed_s = t0.elapsed().as_secs_f64();
        Ok((result, server, cpu, window_s))
    }

    fn stop(self) {
        for c in &self.commands {
            let _ = c.send(Command::Stop);
        }
        for h in self.handles {
            let _ = h.join();
        }
    }
}

fn pair_users(prefix: &str, pairs: usize) -> Vec<UserSpec> {
    (0..2 * pairs).map(|i| UserSpec { name: format!("{prefix}{i}").into_bytes(), source: None, server: None }).collect()
}

/// Raises the open-file limit for `conns` sockets; fails when it cannot.
fn fds_for(conns: usize) -> Result<()> {
    let want = conns as u64 + SPARE_FDS;
    let (soft, hard) = procfs::raise_nofile(want);
    if soft < want {
        return Err(format!(
            "{conns} connections need {want} file descriptors; RLIMIT_NOFILE is {soft} (hard {hard}): use fewer"
        ));
    }
    Ok(())
}

// ----- calls ---------------------------------------------------------------

/// The summary of one step of calls, printed and as JSON.
fn step_summary(rate: f64, duration: f64, r: &mut StepResult, server: Option<ServerUse>, cpu: Cpu) -> Value {
    let bench_cpu = cpu.bench;
    let p = Percentiles::of(&mut r.latencies_ns);
    let achieved = r.completed as f64 / duration;
    println!("offered    {} calls at {rate}/s over {duration} s", r.offered);
    println!("placed     {} (a call is placed when a pair is free)", r.placed);
    println!("completed  {} = {achieved:.1} calls/s achieved", r.completed);
    println!("failed     {}", r.failed_total());
    for (k, v) in &r.failed {
        println!("  {v} x {k}");
    }
    println!(
        "setup latency (Request sent -> caller's START), ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({} samples)",
        p.p50, p.p90, p.p99, p.p999, p.max, p.samples
    );
    let mut v = json!({
        "rate_offered": rate,
        "duration_s": duration,
        "offered": r.offered,
        "placed": r.placed,
        "completed": r.completed,
        "achieved_cps": round3(achieved),
        "failed": r.failed_total(),
        "failed_by_reason": r.failed,
        "setup_latency_ms": p.to_json(),
        "drain_s": round3(r.elapsed_s - duration),
        "bench_cpu_s": round3(bench_cpu),
    });
    if let Some(s) = server {
        let per_1000 = if r.completed > 0 { s.cpu_s() / r.completed as f64 * 1000.0 } else { 0.0 };
        println!(
            "server     cpu {:.2} s = {:.4} s per 1,000 calls ({:.0}% of one core); RSS {:.1} MiB before, {:.1} MiB \
             after, {:.1} MiB peak sampled, VmHWM {:.1} MiB",
            s.cpu_s(),
            per_1000,
            s.cpu_s() / r.elapsed_s.max(1e-3) * 100.0,
            mib(s.before.rss_kib),
            mib(s.after.rss_kib),
            mib(s.peak_rss_kib),
            mib(s.after.hwm_kib),
        );
        v["server"] = json!({
            "cpu_s": round3(s.cpu_s()),
            "cpu_s_per_1000_calls": (per_1000 * 1e5).round() / 1e5,
            "cpu_share_of_one_core": round3(s.cpu_s() / r.elapsed_s.max(1e-3)),
            "rss_kib_before": s.before.rss_kib,
            "rss_kib_after": s.after.rss_kib,
            "rss_kib_peak_sampled": s.peak_rss_kib,
            "vm_hwm_kib": s.after.hwm_kib,
        });
    }
    let wall = r.elapsed_s.max(1e-3);
    println!("load generator cpu {:.2} s ({:.0}% of one core)", bench_cpu, bench_cpu / wall * 100.0);
    if let Some(m) = cpu.machine {
        // Whatever else ran on the machine meanwhile (other processes, and
        // interrupt time not charged to ours) competed with the server.
        let others = (m - bench_cpu - server.map_or(0.0, |s| s.cpu_s())).max(0.0);
        println!(
            "machine    {:.2} cores busy on average of {}; {:.2} cores by other processes and interrupts",
            m / wall,
            online_cpus(),
            others / wall
        );
        v["machine_busy_cores"] = json!(round3(m / wall));
        v["other_busy_cores"] = json!(round3(others / wall));
    }
    v
}

fn login_json(l: &LoginSummary) -> Value {
    json!({ "ok": l.ok, "failed": l.failed, "seconds": round3(l.seconds), "pairs_ready": l.pairs_ready })
}

fn check_calls(a: &CallsArgs) -> Result<()> {
    check_common(&a.common)?;
    check_range("rate", a.rate, 0.0, MAX_RATE)?;
    check_range("duration", a.duration, 0.0, MAX_SECONDS)?;
    check_range("call-timeout", a.call_timeout, 0.0, 600.0)?;
    if a.pairs == 0 || a.pairs > MAX_PAIRS {
        return Err(format!("--pairs must be in 1..={MAX_PAIRS}"));
    }
    if a.pairs < a.common.threads as usize {
        return Err("--pairs must be at least --threads".into());
    }
    Ok(())
}

fn calls(a: CallsArgs) -> Result<()> {
    check_calls(&a)?;
    fds_for(2 * a.pairs)?;
    if a.cluster.peer_server.is_none() {
        return calls_run(&a, None).and_then(|v| write_json(&a.common, &v));
    }
    let (within, across) = cluster_runs(&a.cluster, |peer| calls_run(&a, peer))?;
    let p = |v: &Value, q: &str| v["setup_latency_ms"][q].as_f64().unwrap_or(f64::NAN);
    let rate = |v: &Value| v["achieved_cps"].as_f64().unwrap_or(f64::NAN);
    let per_call = |v: &Value| {
        let calls = v["completed"].as_f64().unwrap_or(0.0).max(1.0);
        v["engine_cpu_s"].as_f64().map_or("-".to_string(), |s| format!("{:.3}", s * 1000.0 / calls))
    };
    println!("cluster: setup latency ms   p50      p99      calls/s   engine CPU ms/call");
    for (what, v) in [("within one server", &within), ("across servers   ", &across)] {
        println!("  {what}    {:>7.3}  {:>7.3}  {:>9.0}   {:>8}", p(v, "p50"), p(v, "p99"), rate(v), per_call(v));
    }
    write_json(&a.common, &json!({ "mode": "cluster", "within": within, "across": across }))
}

/// Runs `run` within one server, then across two (`run(Some(peer))`), each
/// with the CPU time the peer server and the engine used meanwhile.
fn cluster_runs(o: &ClusterOpts, run: impl Fn(Option<SocketAddr>) -> Result<Value>) -> Result<(Value, Value)> {
    let peer = o.peer_server.ok_or("no --peer-server")?;
    if !peer.ip().is_loopback() {
        return Err(format!("{peer} is not a loopback address: anychat-bench only loads local servers"));
    }
    for (flag, pid) in [("--peer-pid", o.peer_pid), ("--engine-pid", o.engine_pid)] {
        if pid.is_some_and(|p| procfs::cpu_seconds(p).is_none()) {
            return Err(format!("{flag}: cannot read /proc/{}/stat", pid.unwrap_or(0)));
        }
    }
    let measured = |peer: Option<SocketAddr>| -> Result<Value> {
        let cpu = |pid: Option<u32>| pid.and_then(procfs::cpu_seconds);
        let (peer0, engine0) = (cpu(o.peer_pid), cpu(o.engine_pid));
        let mut v = run(peer)?;
        if let (Some(a), Some(b)) = (peer0, cpu(o.peer_pid)) {
            v["peer_cpu_s"] = json!(round3(b - a));
        }
        if let (Some(a), Some(b)) = (engine0, cpu(o.engine_pid)) {
            v["engine_cpu_s"] = json!(round3(b - a));
        }
        Ok(v)
    };
    Ok((measured(None)?, measured(Some(peer))?))
}

/// One calls run; with `peer`, the callees log in to that server.
fn calls_run(a: &CallsArgs, peer: Option<SocketAddr>) -> Result<Value> {
    let c = &a.common;
    let deadline = Instant::now()
        + Duration::from_secs_f64(c.login_timeout + a.duration + a.call_timeout + 60.0 + a.pairs as f64 / 100.0);
    println!(
        "anychat-bench calls: {} pairs, {}/s for {} s against {}{} ({} thread(s))",
        a.pairs,
        a.rate,
        a.duration,
        c.server,
        peer.map(|p| format!(", callees on {p}")).unwrap_or_default(),
        c.threads
    );
    let tag = if peer.is_some() { "x" } else { "" };
    let mut users = pair_users(&format!("{}{tag}", name_prefix(c)), a.pairs);
    for callee in users.iter_mut().skip(1).step_by(2) {
        callee.server = peer;
    }
    let fleet = Fleet::start(c, users, true, deadline)?;
    let run = || -> Result<Value> {
        let login = fleet.wait_login()?;
        if login.pairs_ready < c.threads as u64 {
            return Err(format!("only {} pairs logged in", login.pairs_ready));
        }
        let (mut r, server, cpu) =
            fleet.step(a.rate, Duration::from_secs_f64(a.duration), Duration::from_secs_f64(a.call_timeout))?;
        let mut v = step_summary(a.rate, a.duration, &mut r, c.server_pid.map(|_| server), cpu);
        v["mode"] = json!("calls");
        v["server_addr"] = json!(c.server.to_string());
        if let Some(p) = peer {
            v["peer_server_addr"] = json!(p.to_string());
        }
        v["pairs"] = json!(a.pairs);
        v["threads"] = json!(c.threads);
        v["login"] = login_json(&login);
        Ok(v)
    };
    let v = run();
    fleet.stop();
    v
}

// ----- compare -------------------------------------------------------------

/// One side of a comparison: its steps merged.
#[derive(Default)]
struct Side {
    result: StepResult,
    server_cpu_s: f64,
    seconds: f64,
}

fn compare(c: CompareArgs) -> Result<()> {
    let a = &c.calls;
    check_calls(a)?;
    let mut other = a.common.clone();
    other.server = c.other;
    other.server_pid = c.other_pid;
    check_common(&other)?;
    fds_for(4 * a.pairs)?;
    let per_round = 2.0 * (a.duration + a.call_timeout + 5.0);
    let deadline = Instant::now()
        + Duration::from_secs_f64(a.common.login_timeout + c.rounds as f64 * per_round + 60.0 + a.pairs as f64 / 50.0);
    println!(
        "anychat-bench compare: {} pairs each, {}/s for {} s x {} rounds: {} ({}) vs {} ({})",
        a.pairs, a.rate, a.duration, c.rounds, c.label, a.common.server, c.other_label, c.other
    );
    let prefix = name_prefix(&a.common);
    let fleets = [
        Fleet::start(&a.common, pair_users(&prefix, a.pairs), true, deadline)?,
        Fleet::start(&other, pair_users(&prefix, a.pairs), true, deadline)?,
    ];
    let labels = [c.label.as_str(), c.other_label.as_str()];
    let run = || -> Result<Value> {
        for (f, label) in fleets.iter().zip(labels) {
            let login = f.wait_login()?;
            if login.pairs_ready < a.common.threads as u64 {
                return Err(format!("{label}: only {} pairs logged in", login.pairs_ready));
            }
        }
        let mut sides = [Side::default(), Side::default()];
        let mut rounds = Vec::new();
        for round in 0..c.rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                println!("--- round {}: {} at {}/s for {} s", round + 1, labels[i], a.rate, a.duration);
                let (mut r, server, cpu) = fleets[i].step(
                    a.rate,
                    Duration::from_secs_f64(a.duration),
                    Duration::from_secs_f64(a.call_timeout),
                )?;
                let mut v = step_summary(a.rate, a.duration, &mut r, fleets[i].server_pid.map(|_| server), cpu);
                v["server_label"] = json!(labels[i]);
                v["round"] = json!(round + 1);
                rounds.push(v);
                let side = &mut sides[i];
                side.server_cpu_s += server.cpu_s();
                side.seconds += a.duration;
                side.result.merge(r);
            }
        }
        println!("--- compare: {} rounds of {} s per server at {}/s offered", c.rounds, a.duration, a.rate);
        let mut summary = Vec::new();
        for (side, label) in sides.iter_mut().zip(labels) {
            let r = &mut side.result;
            let p = Percentiles::of(&mut r.latencies_ns);
            let cps = r.completed as f64 / side.seconds;
            let per_1000 = if r.completed > 0 { side.server_cpu_s / r.completed as f64 * 1000.0 } else { 0.0 };
            println!(
                "{label:>12}: {cps:.1} calls/s achieved, {} failed, setup p50 {:.3} ms p99 {:.3} ms, server cpu {:.4} s per 1,000 calls",
                r.failed_total(),
                p.p50,
                p.p99,
                per_1000
            );
            summary.push(json!({
                "label": label,
                "achieved_cps": round3(cps),
                "failed": r.failed_total(),
                "setup_latency_ms": p.to_json(),
                "server_cpu_s_per_1000_calls": (per_1000 * 1e5).round() / 1e5,
            }));
        }
        let pct = |b: f64, a: f64| if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
        let cps = |i: usize| summary[i]["achieved_cps"].as_f64().unwrap_or(0.0);
        let cpu = |i: usize| summary[i]["server_cpu_s_per_1000_calls"].as_f64().unwrap_or(0.0);
        let (d_cps, d_cpu) = (pct(cps(1), cps(0)), pct(cpu(1), cpu(0)));
        println!("{} vs {}: calls/s {d_cps:+.1}%, server cpu per call {d_cpu:+.1}%", labels[1], labels[0]);
        Ok(json!({
            "mode": "compare",
            "pairs": a.pairs,
            "rate_offered": a.rate,
            "duration_s": a.duration,
            "rounds": rounds,
            "summary": summary,
            "calls_per_s_diff_pct": round3(d_cps),
            "server_cpu_per_call_diff_pct": round3(d_cpu),
        }))
    };
    let v = run();
    for f in fleets {
        f.stop();
    }
    write_json(&a.common, &v?)
}

// ----- ramp ----------------------------------------------------------------

fn ramp(a: RampArgs) -> Result<()> {
    check_common(&a.common)?;
    check_range("start", a.start, 0.0, MAX_RATE)?;
    check_range("step", a.step, 0.0, MAX_RATE)?;
    check_range("max", a.max, 0.0, MAX_RATE)?;
    check_range("step-seconds", a.step_seconds, 0.0, 600.0)?;
    check_range("call-timeout", a.call_timeout, 0.0, 600.0)?;
    check_range("p99-ms", a.p99_ms, 0.0, 10_000.0)?;
    if a.start > a.max {
        return Err("--start is above --max".into());
    }
    if a.pairs == 0 || a.pairs > MAX_PAIRS || a.pairs < a.common.threads as usize {
        return Err(format!("--pairs must be in {}..={MAX_PAIRS}", a.common.threads));
    }
    let steps = ((a.max - a.start) / a.step).floor() as usize + 1;
    if steps > 1000 {
        return Err("more than 1000 steps: raise --step".into());
    }
    fds_for(2 * a.pairs)?;
    let c = &a.common;
    let per_step = a.step_seconds + a.call_timeout + 5.0;
    let deadline = Instant::now()
        + Duration::from_secs_f64(c.login_timeout + steps as f64 * per_step + 60.0 + a.pairs as f64 / 100.0);
    println!(
        "anychat-bench ramp: {} pairs, {}/s to {}/s by {}/s, {} s per step, against {}",
        a.pairs, a.start, a.max, a.step, a.step_seconds, c.server
    );
    let fleet = Fleet::start(c, pair_users(&name_prefix(c), a.pairs), true, deadline)?;
    let run = || -> Result<Value> {
        let login = fleet.wait_login()?;
        if login.pairs_ready < c.threads as u64 {
            return Err(format!("only {} pairs logged in", login.pairs_ready));
        }
        let mut best: Option<f64> = None;
        let mut rows = Vec::new();
        for k in 0..steps {
            let rate = a.start + k as f64 * a.step;
            println!("--- ramp step {}: {rate}/s for {} s", k + 1, a.step_seconds);
            let (mut r, server, cpu) =
                fleet.step(rate, Duration::from_secs_f64(a.step_seconds), Duration::from_secs_f64(a.call_timeout))?;
            let mut v = step_summary(rate, a.step_seconds, &mut r, c.server_pid.map(|_| server), cpu);
            let p99 = v["setup_latency_ms"]["p99"].as_f64().unwrap_or(f64::MAX);
            let achieved = r.completed as f64 / a.step_seconds;
            let clean = r.failed_total() == 0 && p99 <= a.p99_ms && achieved >= 0.95 * rate;
            v["clean"] = json!(clean);
            println!(
                "ramp step {}: {rate}/s -> {achieved:.0}/s achieved, {} failed, p99 {p99:.3} ms: {}",
                k + 1,
                r.failed_total(),
                if clean { "clean" } else { "NOT clean" }
            );
            rows.push(v);
            if !clean {
                break;
            }
            best = Some(rate);
        }
        match best {
            Some(b) => println!("ramp: highest clean rate {b}/s (no failed call, p99 <= {} ms)", a.p99_ms),
            None => println!("ramp: no clean step (the first rate already failed the criteria)"),
        }
        Ok(json!({
            "mode": "ramp",
            "server_addr": c.server.to_string(),
            "pairs": a.pairs,
            "threads": c.threads,
            "criteria": { "failed": 0, "p99_ms_max": a.p99_ms, "achieved_min_share": 0.95 },
            "highest_clean_rate": best,
            "login": login_json(&login),
            "steps": rows,
        }))
    };
    let v = run();
    fleet.stop();
    write_json(c, &v?)
}

// ----- idle ----------------------------------------------------------------

fn idle(a: IdleArgs) -> Result<()> {
    check_common(&a.common)?;
    check_range("hold", a.hold, 0.0, MAX_SECONDS)?;
    let c = &a.common;
    let pid = c.server_pid.ok_or("idle mode needs --server-pid (the RSS is read from /proc)")?;
    if a.users == 0 || a.users > MAX_USERS {
        return Err(format!("--users must be in 1..={MAX_USERS}"));
    }
    let mut notes = Vec::new();
    let (soft, hard) = procfs::raise_nofile(a.users as u64 + SPARE_FDS);
    let room = soft.saturating_sub(SPARE_FDS) as usize;
    let users = if room < a.users {
        let n = format!(
            "RLIMIT_NOFILE: this process may have {soft} files open (hard limit {hard}), so it connects {room} \
             users, not {}",
            a.users
        );
        println!("{n}");
        notes.push(n);
        room
    } else {
        println!("RLIMIT_NOFILE raised to {soft} (hard limit {hard})");
        a.users
    };
    if users == 0 {
        return Err("no file descriptor left for connections".into());
    }
    let server_nofile = procfs::max_open_files(pid);
    if let Some(n) = server_nofile {
        if (n as usize) < users + 16 {
            let note = format!(
                "the server's open-file limit is {n}: it can accept about {} connections, fewer than {users}",
                n.saturating_sub(16)
            );
            println!("{note}");
            notes.push(note);
        }
    }
    let ports = port_range().map(|(lo, hi)| hi - lo + 1);
    if let Some(p) = ports {
        let per_source = users.div_ceil(a.sources as usize) as u64;
        if per_source > p {
            let note =
                format!("{per_source} connections per source address exceed the {p} ephemeral ports: raise --sources");
            println!("{note}");
            notes.push(note);
        }
    }
    let prefix = name_prefix(c);
    let specs: Vec<UserSpec> = (0..users)
        .map(|i| UserSpec {
            name: format!("{prefix}{i}").into_bytes(),
            source: Some(Ipv4Addr::new(127, 0, 0, 1 + (i % a.sources as usize) as u8)),
            server: None,
        })
        .collect();
    let before = procfs::sample(pid).ok_or("the server process is gone")?;
    let sock_before = procfs::tcp_sockstat();
    println!(
        "anychat-bench idle: {users} users over {} source address(es) against {}; server RSS {:.1} MiB before",
        a.sources,
        c.server,
        mib(before.rss_kib)
    );
    let deadline = Instant::now() + Duration::from_secs_f64(c.login_timeout + a.hold + 120.0 + users as f64 / 500.0);
    let fleet = Fleet::start(c, specs, false, deadline)?;
    let run = || -> Result<Value> {
        let login = fleet.wait_login()?;
        let t0 = Instant::now();
        let hold = Duration::from_secs_f64(a.hold);
        let mut next = t0 + Duration::from_secs(1);
        while Instant::now() < t0 + hold {
            std::thread::sleep(next.saturating_duration_since(Instant::now()).min(hold));
            next += Duration::from_secs(1);
            let t = fleet.totals();
            let s = procfs::sample(pid).ok_or("the server process is gone")?;
            println!(
                "[{:>4.0}s] holding: {} connected, {} dropped, {} pongs; server rss {:.1} MiB",
                t0.elapsed().as_secs_f64(),
                t.logged_in - t.disconnected,
                t.disconnected,
                t.pongs,
                mib(s.rss_kib)
            );
        }
        let after = procfs::sample(pid).ok_or("the server process is gone")?;
        let sock_after = procfs::tcp_sockstat();
        let t = fleet.totals();
        let connected = t.logged_in - t.disconnected;
        let per_user = if connected > 0 {
            (after.rss_kib as f64 - before.rss_kib as f64) * 1024.0 / connected as f64
        } else {
            0.0
        };
        println!(
            "idle: {connected} users connected and logged in ({} dropped, {} pongs received)",
            t.disconnected, t.pongs
        );
        println!(
            "server RSS {:.1} MiB before, {:.1} MiB with the users: {:.0} bytes ({:.2} KiB) per connected user; VmHWM \
             {:.1} MiB",
            mib(before.rss_kib),
            mib(after.rss_kib),
            per_user,
            per_user / 1024.0,
            mib(after.hwm_kib)
        );
        let sock = match (sock_before, sock_after) {
            (Some((i0, m0)), Some((i1, m1))) => {
                println!("kernel TCP sockets (whole machine): {i0} -> {i1} in use, memory {m0} -> {m1} pages");
                json!({ "inuse_before": i0, "inuse_after": i1, "mem_pages_before": m0, "mem_pages_after": m1 })
            }
            _ => Value::Null,
        };
        Ok(json!({
            "mode": "idle",
            "server_addr": c.server.to_string(),
            "users_requested": a.users,
            "users_tried": users,
            "sources": a.sources,
            "threads": c.threads,
            "rlimit_nofile": { "soft": soft, "hard": hard, "server_soft": server_nofile },
            "login": login_json(&login),
            "hold_s": a.hold,
            "connected": connected,
            "dropped": t.disconnected,
            "pongs": t.pongs,
            "server": {
                "rss_kib_before": before.rss_kib,
                "rss_kib_after": after.rss_kib,
                "vm_hwm_kib": after.hwm_kib,
                "rss_bytes_per_user": per_user.round(),
            },
            "tcp_sockstat": sock,
            "notes": notes,
        }))
    };
    let v = run();
    fleet.stop();
    let mut v = v?;
    // After the clients are gone: does the server give the memory back?
    let t0 = Instant::now();
    let mut last = procfs::sample(pid);
    while t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(500));
        last = procfs::sample(pid);
    }
    if let Some(s) = last {
        println!("server RSS {:.1} MiB 3 s after every user disconnected", mib(s.rss_kib));
        v["server"]["rss_kib_after_disconnect"] = json!(s.rss_kib);
    }
    write_json(c, &v)
}

// ----- media ---------------------------------------------------------------

fn media(a: MediaArgs) -> Result<()> {
    check_common(&a.common)?;
    check_range("seconds", a.seconds, 0.0, MAX_SECONDS)?;
    check_range("fps", a.fps, 0.0, 240.0)?;
    check_range("drain", a.drain, 0.0, 60.0)?;
    if a.calls == 0 || a.calls > MAX_MEDIA_CALLS || a.calls < a.common.threads as usize {
        return Err(format!("--calls must be in {}..={MAX_MEDIA_CALLS}", a.common.threads));
    }
    if a.frame_bytes < bench_media::STAMP_LEN || a.frame_bytes > anychat::wire::protocol::MAX_MEDIA_LEN * 9 / 10 {
        return Err(format!(
            "--frame-bytes must be in {}..={}",
            bench_media::STAMP_LEN,
            anychat::wire::protocol::MAX_MEDIA_LEN * 9 / 10
        ));
    }
    if a.key_every == 0 || a.key_every > 1_000_000 {
        return Err("--key-every must be in 1..=1000000".into());
    }
    fds_for(2 * a.calls)?;
    let mut a = a;
    let opus = if a.audio_codec == AudioCodecArg::Opus {
        check_range("codec-seconds", a.codec_seconds, 0.1, MAX_SECONDS)?;
        if !anychat::codec::audio::opus_built() {
            return Err("--audio-codec opus: this build has no Opus (feature `opus`)".into());
        }
        a.audio = true;
        let cost = audio_codec::measure(a.codec_seconds)?;
        cost.print();
        Some(cost)
    } else {
        None
    };
    let a = a;
    let c = &a.common;
    let plan = MediaPlan {
        seconds: Duration::from_secs_f64(a.seconds),
        fps: a.fps,
        frame_bytes: a.frame_bytes,
        key_every: a.key_every,
        audio: a.audio,
        opus_sizes: opus.as_ref().map(|o| &*Vec::leak(o.packet_sizes.clone())),
        drain: Duration::from_secs_f64(a.drain),
        call_timeout: Duration::from_secs_f64(MEDIA_CALL_TIMEOUT),
    };
    let deadline = Instant::now()
        + Duration::from_secs_f64(
            c.login_timeout + a.seconds + a.drain + 2.0 * MEDIA_CALL_TIMEOUT + 60.0 + a.calls as f64 / 100.0,
        );
    let kbps = a.frame_bytes as f64 * 8.0 * a.fps / 1000.0;
    println!(
        "anychat-bench media: {} calls x 2 streams, video {} fps x {} B ({kbps:.0} kbit/s), key every {}{}, {} s, \
         against {} ({} thread(s))",
        a.calls,
        a.fps,
        a.frame_bytes,
        a.key_every,
        match (a.audio, &opus) {
            (false, _) => String::new(),
            (true, None) => ", audio PCM 50/s x 640 B".into(),
            (true, Some(o)) => format!(", audio Opus 50/s x {:.0} B on average", o.payload_bytes_per_s / 50.0),
        },
        a.seconds,
        c.server,
        c.threads
    );
    bench_media::now_ns();
    let run = |peer| media_run(&a, plan, opus.as_ref(), peer, deadline);
    if a.cluster.peer_server.is_none() {
        return run(None).and_then(|v| write_json(c, &v));
    }
    let (within, across) = cluster_runs(&a.cluster, run)?;
    println!("cluster: latency ms (send -> receive)   p50      p99   engine CPU us/frame");
    let frames =
        |v: &Value| v["video"]["received"].as_f64().unwrap_or(0.0) + v["audio"]["received"].as_f64().unwrap_or(0.0);
    for (what, v) in [("within one server", &within), ("across servers   ", &across)] {
        for kind in ["video", "audio"].into_iter().filter(|k| !v[*k].is_null()) {
            let q = |p: &str| v[kind]["latency_ms"][p].as_f64().unwrap_or(f64::NAN);
            let engine =
                v["engine_cpu_s"].as_f64().map_or("-".to_string(), |s| format!("{:.1}", s * 1e6 / frames(v).max(1.0)));
            println!("  {what} {kind}      {:>7.3}  {:>7.3}   {:>8}", q("p50"), q("p99"), engine);
        }
    }
    write_json(c, &json!({ "mode": "cluster-media", "within": within, "across": across }))
}

/// One media run; with `peer`, the callees log in to that server.
fn media_run(
    a: &MediaArgs,
    plan: MediaPlan,
    opus: Option<&audio_codec::OpusCost>,
    peer: Option<SocketAddr>,
    deadline: Instant,
) -> Result<Value> {
    let c = &a.common;
    let tag = if peer.is_some() { "x" } else { "" };
    let mut users = pair_users(&format!("{}{tag}", name_prefix(c)), a.calls);
    for callee in users.iter_mut().skip(1).step_by(2) {
        callee.server = peer;
    }
    if let Some(p) = peer {
        println!("callees on {p}");
    }
    let fleet = Fleet::start(c, users, true, deadline)?;
    let run = || -> Result<Value> {
        let login = fleet.wait_login()?;
        if login.pairs_ready == 0 {
            return Err("no pair logged in".into());
        }
        let (mut r, server, cpu, window_s) = fleet.media(plan)?;
        let mut v = media_summary(a, &mut r, c.server_pid.map(|_| server), cpu, window_s);
        if let Some(o) = opus {
            v["opus"] = o.to_json();
        }
        v["login"] = login_json(&login);
        v["server_addr"] = json!(c.server.to_string());
        if let Some(p) = peer {
            v["peer_server_addr"] = json!(p.to_string());
        }
        v["threads"] = json!(c.threads);
        Ok(v)
    };
    let v = run();
    fleet.stop();
    v
}

fn stream_lines(what: &str, s: &StreamStats, seconds: f64) {
    let p = s.latency.percentiles();
    println!(
        "{what}: {} streams; sent {} ({:.0}/s offered, {} key), received {} ({:.0}/s relayed); lost {}, out of order \
         {}, sent before the first received {}, silent streams {}, skipped by the sender {}",
        s.streams,
        s.sent,
        s.sent as f64 / seconds,
        s.key_sent,
        s.received,
        s.received as f64 / seconds,
        s.dropped,
        s.out_of_order,
        s.before_first,
        s.silent,
        s.skipped_by_sender
    );
    println!(
        "{what} latency (send -> receive), ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({} samples)",
        p.p50, p.p90, p.p99, p.p999, p.max, p.samples
    );
}

/// The summary of a media run, printed and as JSON.
fn media_summary(a: &MediaArgs, r: &mut MediaResult, server: Option<ServerUse>, cpu: Cpu, window_s: f64) -> Value {
    let seconds = a.seconds;
    let calls = &mut r.calls;
    let setup = Percentiles::of(&mut calls.latencies_ns);
    println!(
        "calls      {} placed, {} up (both STARTs), {} finished cleanly, {} failed",
        calls.placed,
        r.up,
        calls.completed,
        calls.failed_total()
    );
    for (k, v) in &calls.failed {
        println!("  {v} x {k}");
    }
    println!(
        "setup latency (Request -> caller's START), ms: p50 {:.3}  p99 {:.3}  max {:.3}",
        setup.p50, setup.p99, setup.max
    );
    stream_lines("video", &r.video, seconds);
    println!(
        "NeedKeyFrame received {} ({} video streams: one each comes with the subscription)",
        r.need_key, r.video.streams
    );
    if a.audio {
        stream_lines("audio", &r.audio, seconds);
        let per_frame = r.audio.wire_bytes_sent as f64 / r.audio.sent.max(1) as f64;
        println!(
            "audio on the wire ({}): {per_frame:.1} B per message sent = {:.0} B/s = {:.1} kbit/s per stream \
             (sender -> server)",
            if a.audio_codec == AudioCodecArg::Opus { "Opus" } else { "PCM" },
            per_frame * bench_media::AUDIO_PER_SECOND,
            per_frame * bench_media::AUDIO_PER_SECOND * 8.0 / 1000.0
        );
    }
    let lag = r.send_lag.percentiles();
    println!(
        "load generator: frame due -> written p50 {:.3}  p99 {:.3}  max {:.3} ms; {} writes left bytes queued",
        lag.p50, lag.p99, lag.max, r.send_backlog
    );
    let mut v = json!({
        "mode": "media",
        "calls": a.calls,
        "seconds": seconds,
        "fps": a.fps,
        "frame_bytes": a.frame_bytes,
        "key_every": a.key_every,
        "audio": a.audio,
        "audio_codec": if a.audio_codec == AudioCodecArg::Opus { "opus" } else { "pcm" },
        "placed": calls.placed,
        "calls_up": r.up,
        "completed": calls.completed,
        "failed": calls.failed_total(),
        "failed_by_reason": calls.failed,
        "setup_latency_ms": setup.to_json(),
        "video": r.video.to_json(seconds, Some(r.need_key)),
        "send_lag_ms": lag.to_json(),
        "send_backlog": r.send_backlog,
        "window_s": round3(window_s),
        "bench_cpu_s": round3(cpu.bench),
        "elapsed_s": round3(calls.elapsed_s),
    });
    if a.audio {
        v["audio"] = r.audio.to_json(seconds, None);
    }
    // A stream is one direction of one call (its video, and its audio with --audio).
    let streams = if r.video.streams > 0 { r.video.streams } else { 2 * r.up };
    let wall = window_s.max(1e-3);
    if let Some(s) = server {
        let per_stream = if streams > 0 { s.cpu_s() / (streams as f64 * wall) } else { 0.0 };
        println!(
            "server     cpu {:.2} s over {:.1} s = {:.0}% of one core = {:.3} ms of CPU per stream per second \
             ({streams} streams); RSS {:.1} MiB before, {:.1} MiB after, {:.1} MiB peak sampled, VmHWM {:.1} MiB",
            s.cpu_s(),
            wall,
            s.cpu_s() / wall * 100.0,
            per_stream * 1000.0,
            mib(s.before.rss_kib),
            mib(s.after.rss_kib),
            mib(s.peak_rss_kib),
            mib(s.after.hwm_kib),
        );
        v["server"] = json!({
            "cpu_s": round3(s.cpu_s()),
            "streams": streams,
            "cpu_s_per_stream_per_s": (per_stream * 1e7).round() / 1e7,
            "cpu_share_of_one_core": round3(s.cpu_s() / wall),
            "rss_kib_before": s.before.rss_kib,
            "rss_kib_after": s.after.rss_kib,
            "rss_kib_peak_sampled": s.peak_rss_kib,
            "vm_hwm_kib": s.after.hwm_kib,
        });
    }
    println!("load generator cpu {:.2} s ({:.0}% of one core)", cpu.bench, cpu.bench / wall * 100.0);
    if let Some(m) = cpu.machine {
        let others = (m - cpu.bench - server.map_or(0.0, |s| s.cpu_s())).max(0.0);
        println!(
            "machine    {:.2} cores busy on average of {}; {:.2} cores by other processes and interrupts",
            m / wall,
            online_cpus(),
            others / wall
        );
        v["machine_busy_cores"] = json!(round3(m / wall));
        v["other_busy_cores"] = json!(round3(others / wall));
    }
    v
}

/// Processors online (not just those this process may run on).
fn online_cpus() -> i64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }
}

/// The kernel's ephemeral port range.
fn port_range() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<u64>());
    Some((it.next()?.ok()?, it.next()?.ok()?))
}
