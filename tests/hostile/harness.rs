//! The frame every hostile test runs in: a real `anychat-server` process,
//! an honest pair of users placing calls in a loop, a probe user measuring
//! Ping→Pong round trips, and the server's memory sampled — before, during
//! and after an attack. [`Harness::finish`] prints the figures and checks
//! what every attack must leave intact.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anychat::wire::protocol::{ClientMsg, ServerMsg};

use super::client::{call, reset_pair, CallError, Raw, RecvError};

/// Flags today's server does not know; `HOSTILE_OLD_SERVER=1` leaves them
/// out so that the suite can run against it and show what it fails.
pub const NEW_FLAGS: &[&str] = &["--max-connections", "--max-connections-per-ip", "--login-timeout"];

/// The loopback address honest users connect from.
pub const HONEST_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// The loopback address attackers connect from (another "host").
pub const ATTACKER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Each step of an honest call must come within this.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between two honest calls.
/// (About three calls a second: far more than a person, few enough for
/// any per-user call rate limit.)
pub const CALL_PAUSE: Duration = Duration::from_millis(250);
/// The probe sends a Ping this often, whatever the answers (open loop, so
/// that a stall shows in every ping sent during it, not in one). The
/// server's ping rate limit must allow 10 a second.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Round trip the probe's pings must stay under (99th percentile).
pub const MAX_P99: Duration = Duration::from_millis(500);
/// How far above its pre-attack baseline the server's RSS may stay...
pub const RSS_MARGIN_KIB: u64 = 10 * 1024;
/// ...once this long after the attack has passed.
pub const RSS_RECOVERY: Duration = Duration::from_secs(15);
/// Default bound on RSS growth during an attack.
pub const DEFAULT_PEAK_GROWTH_KIB: u64 = 64 * 1024;

pub fn old_server() -> bool {
    std::env::var("HOSTILE_OLD_SERVER").is_ok_and(|v| !v.is_empty() && v != "0")
}

// ----- the server's /proc figures --------------------------------------------

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory (VmRSS) in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:").unwrap_or(0)
}

/// Peak resident memory since the process started (VmHWM) in KiB.
pub fn hwm_kib(pid: u32) -> u64 {
    status_field(pid, "VmHWM:").unwrap_or(0)
}

/// Open file descriptors.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// CPU time used (user + system).
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &s[s.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: u64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

// ----- the server process ------------------------------------------------------

/// Options of one server: flags and an fd limit.
#[derive(Default, Clone)]
pub struct ServerOpts {
    args: Vec<String>,
    nofile: Option<u64>,
    /// Client and business listeners (default: free loopback ports).
    listen: Option<(SocketAddr, SocketAddr)>,
    envs: Vec<(String, String)>,
    log_level: Option<String>,
    /// A file every line of the server's log is appended to.
    log_file: Option<std::path::PathBuf>,
    /// Arguments passed as they are, after the flags.
    extra: Vec<String>,
}

impl ServerOpts {
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag and its value (left out against an old server if it is one of [`NEW_FLAGS`]).
    pub fn flag(mut self, name: &str, value: impl ToString) -> Self {
        self.args.push(name.to_string());
        self.args.push(value.to_string());
        self
    }

    /// Runs the server under `RLIMIT_NOFILE = n`.
    pub fn nofile(mut self, n: u64) -> Self {
        self.nofile = Some(n);
        self
    }

    /// An argument passed as it is (after the flags).
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra.push(arg.to_string());
        self
    }

    /// Listens on these addresses (client, business) instead of free ports.
    pub fn listen(mut self, client: SocketAddr, business: SocketAddr) -> Self {
        self.listen = Some((client, business));
        self
    }

    /// An environment variable of the server process.
    pub fn env(mut self, name: &str, value: impl ToString) -> Self {
        self.envs.push((name.to_string(), value.to_string()));
        self
    }

    /// `--log-level` (default: `$HOSTILE_LOG_LEVEL`, else `warn`).
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_string());
        self
    }

    /// Appends every line the server logs to `path`.
    pub fn log_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }
}

/// A core server process on free loopback ports, killed when dropped.
pub struct ServerProc {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub business_addr: SocketAddr,
    /// The last lines of its log.
    log: Arc<Mutex<VecDeque<String>>>,
    pub args: Vec<String>,
}

impl ServerProc {
    /// Starts a server; panics if it does not print its addresses.
    pub fn start(opts: &ServerOpts) -> ServerProc {
        Self::try_start(opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server: `Err` (with its last log lines) if it does not
    /// print its addresses within 10 s.
    pub fn try_start(opts: &ServerOpts) -> Result<ServerProc, String> {
        let mut args = Vec::new();
        let mut it = opts.args.iter();
        while let Some(name) = it.next() {
            let value = it.next().expect("flag value");
            if old_server() && NEW_FLAGS.contains(&name.as_str()) {
                continue;
            }
            args.push(name.clone());
            args.push(value.clone());
        }
        let level = opts
            .log_level
            .clone()
            .unwrap_or_else(|| std::env::var("HOSTILE_LOG_LEVEL").unwrap_or_else(|_| "warn".into()));
        let (listen, business) = match opts.listen {
            Some((c, b)) => (c.to_string(), b.to_string()),
            None => ("127.0.0.1:0".to_string(), "127.0.0.1:0".to_string()),
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anychat-server"));
        cmd.args(["--listen", &listen, "--business-listen", &business, "--log-level", &level])
            .args(&args)
            .args(&opts.extra)
            .env_remove("ANYCHAT_BUSINESS_SECRET")
            .envs(opts.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(n) = opts.nofile {
            // SAFETY: setrlimit is async-signal-safe; it only lowers this
            // child's own limit between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start anychat-server: {e}"))?;
        let pid = child.id();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let mut log_file = match &opts.log_file {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("{}: {e}", p.display()))?,
            ),
            None => None,
        };
        {
            let log = log.clone();
            let err = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if let Some(f) = log_file.as_mut() {
                        let _ = writeln!(f, "{line}");
                    }
                    let mut l = log.lock().unwrap();
                    if l.len() >= 400 {
                        l.pop_front();
                    }
                    l.push_back(line);
                }
            });
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addr_of = |what: &str| -> Result<SocketAddr, String> {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => line.rsplit(' ').next().and_then(|a| a.parse().ok()).ok_or(format!("bad line {line}")),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(100)); // let the log thread read the last lines
                    Err(format!(
                        "anychat-server {args:?} did not print its {what} address (with today's server, set \
                         HOSTILE_OLD_SERVER=1 to leave out {NEW_FLAGS:?}):\n{}",
                        log.lock().unwrap().iter().cloned().collect::<Vec<_>>().join("\n")
                    ))
                }
            }
        };
        let addr = addr_of("client")?;
        let business_addr = addr_of("business")?;
        Ok(ServerProc { child, pid, addr, business_addr, log, args })
    }

    /// Stops the server with SIGTERM and waits up to `wait` for it to exit
    /// (then kills it): its exit status, or why it had to be killed.
    pub fn terminate(&mut self, wait: Duration) -> Result<std::process::ExitStatus, String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(format!("had already exited: {status}"));
        }
        // SAFETY: kill has no memory-safety preconditions; the pid is our
        // child's, not yet reaped (try_wait above saw it running).
        if unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) } != 0 {
            return Err(format!("SIGTERM: {}", std::io::Error::last_os_error()));
        }
        let deadline = Instant::now() + wait;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("still running {wait:?} after SIGTERM: killed"));
                }
                Err(e) => return Err(format!("wait: {e}")),
            }
        }
    }

    /// CPU time the server has used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid)
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    pub fn fds(&self) -> usize {
        fd_count(self.pid)
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let l = self.log.lock().unwrap();
        l.iter().skip(l.len().saturating_sub(n)).cloned().collect::<Vec<_>>().join("\n")
    }

    /// Whether the server process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- the honest pair -------------------------------------------------------

#[derive(Default)]
pub struct PairStats {
    pub made: AtomicU64,
    pub failed: AtomicU64,
    /// When each successful call completed.
    pub done_at: Mutex<Vec<Instant>>,
    pub failures: Mutex<Vec<String>>,
    pub disconnected: Mutex<Option<String>>,
}

/// Two honest users calling each other in a loop in a background thread:
/// each call must go through, every step within [`STEP_TIMEOUT`].
pub struct HonestPair {
    pub stats: Arc<PairStats>,
    pub ids: (u32, u32),
    /// One item per call ended (true: it went through) or disconnection (false).
    outcomes: crossbeam_channel::Receiver<(Instant, bool)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HonestPair {
    /// Logs both in and waits for their first call to complete.
    pub fn start(addr: SocketAddr, tag: &str) -> HonestPair {
        let wait = Duration::from_secs(5);
        let mut a = Raw::login(addr, &format!("honest-a-{tag}"), wait).unwrap_or_else(|e| panic!("{e}"));
        let mut b = Raw::login(addr, &format!("honest-b-{tag}"), wait).unwrap_or_else(|e| panic!("{e}"));
        call(&mut a, &mut b, 1, Duration::from_secs(5)).unwrap_or_else(|e| panic!("first honest call: {e}"));
        let stats = Arc::new(PairStats::default());
        stats.made.fetch_add(1, Ordering::SeqCst);
        let stop = Arc::new(AtomicBool::new(false));
        let ids = (a.user_id, b.user_id);
        let (tx, outcomes) = crossbeam_channel::unbounded();
        let thread = {
            let (stats, stop) = (stats.clone(), stop.clone());
            std::thread::spawn(move || {
                let tell = |ok: bool| {
                    let _ = tx.send((Instant::now(), ok));
                };
                let mut n = 2u32;
                while !stop.load(Ordering::SeqCst) {
                    match call(&mut a, &mut b, n, STEP_TIMEOUT) {
                        Ok(_) => {
                            stats.made.fetch_add(1, Ordering::SeqCst);
                            stats.done_at.lock().unwrap().push(Instant::now());
                            tell(true);
                        }
                        Err(CallError::Disconnected(why)) => {
                            *stats.disconnected.lock().unwrap() = Some(why);
                            tell(false);
                            return;
                        }
                        Err(e) => {
                            stats.failed.fetch_add(1, Ordering::SeqCst);
                            stats.failures.lock().unwrap().push(format!("call {n}: {e}"));
                            tell(false);
                            if let Err(e) = reset_pair(&mut a, &mut b, Duration::from_secs(10)) {
                                if e.is_disconnect() {
                                    *stats.disconnected.lock().unwrap() = Some(format!("after call {n}: {e}"));
                                    return;
                                }
                            }
                        }
                    }
                    n += 1;
                    std::thread::sleep(CALL_PAUSE);
                }
            })
        };
        HonestPair { stats, ids, outcomes, stop, thread: Some(thread) }
    }

    /// Waits for a call that goes through after `after`, up to
    /// `deadline`; false on a disconnection or time-out.
    pub fn next_call_after(&self, after: Instant, deadline: Instant) -> bool {
        loop {
            match self.outcomes.recv_deadline(deadline) {
                Ok((t, true)) if t > after => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Calls completed between `from` and `to`.
    pub fn made_between(&self, from: Instant, to: Instant) -> usize {
        self.stats.done_at.lock().unwrap().iter().filter(|t| **t >= from && **t <= to).count()
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HonestPair {
    fn drop(&mut self) {
        self.stop();
    }
}

// ----- the probe -------------------------------------------------------------

/// Round-trip figures of the probe's pings sent in a window.
#[derive(Debug, Clone, Copy, Default)]
pub struct PingStats {
    pub count: usize,
    pub unanswered: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

struct ProbeLog {
    sent: Vec<Instant>,
    rtt: Vec<Option<Duration>>,
}

/// A logged-in user sending a Ping every [`PROBE_INTERVAL`] from one thread
/// and timing the Pongs in another.
pub struct Probe {
    log: Arc<Mutex<ProbeLog>>,
    /// When each answered ping was sent.
    answered: crossbeam_channel::Receiver<Instant>,
    pub disconnected: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Probe {
    pub fn start(addr: SocketAddr, tag: &str) -> Probe {
        let mut raw =
            Raw::login(addr, &format!("probe-{tag}"), Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
        raw.sync(Instant::now() + Duration::from_secs(5)).expect("probe's first ping");
        let log = Arc::new(Mutex::new(ProbeLog { sent: Vec::new(), rtt: Vec::new() }));
        let disconnected = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let mut writer: TcpStream = raw.stream.try_clone().expect("clone socket");
        let sender = {
            let (log, stop, disc) = (log.clone(), stop.clone(), disconnected.clone());
            std::thread::spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let seq = {
                        let mut l = log.lock().unwrap();
                        l.sent.push(Instant::now());
                        l.rtt.push(None);
                        l.sent.len() as u32 - 1
                    };
                    let mut bytes = Vec::new();
                    ClientMsg::Ping { seq }.encode(&mut bytes);
                    if let Err(e) = writer.write_all(&bytes) {
                        disc.lock().unwrap().get_or_insert(format!("probe: write: {e}"));
                        return;
                    }
                    next += PROBE_INTERVAL;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        next = now;
                    }
                }
            })
        };
        let (answered_tx, answered) = crossbeam_channel::unbounded();
        let reader = {
            let (log, stop, disc) = (log.clone(), stop.clone(), disconnected.clone());
            std::thread::spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                match raw.recv(Instant::now() + Duration::from_millis(200)) {
                    Ok(ServerMsg::Pong { seq }) => {
                        let now = Instant::now();
                        let mut l = log.lock().unwrap();
                        if let Some(sent) = l.sent.get(seq as usize).copied() {
                            l.rtt[seq as usize] = Some(now - sent);
                            let _ = answered_tx.send(sent);
                        }
                    }
                    Ok(ServerMsg::LinkClose { code }) => {
                        disc.lock().unwrap().get_or_insert(format!("probe: LinkClose({code})"));
                    }
                    Ok(_) | Err(RecvError::Timeout) => {}
                    Err(e) => {
                        if !stop.load(Ordering::SeqCst) {
                            disc.lock().unwrap().get_or_insert(format!("probe: {e}"));
                        }
                        return;
                    }
                }
            })
        };
        Probe { log, answered, disconnected, stop, threads: vec![sender, reader] }
    }

    /// Waits until a ping sent after `after` is answered, up to `deadline`.
    pub fn answered_after(&self, after: Instant, deadline: Instant) -> bool {
        loop {
            match self.answered.recv_deadline(deadline) {
                Ok(sent) if sent > after => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Figures of the pings sent between `from` and `to`; a ping not
    /// answered yet counts with the time it has waited so far.
    pub fn stats(&self, from: Instant, to: Instant) -> PingStats {
        let now = Instant::now();
        let l = self.log.lock().unwrap();
        let mut rtts: Vec<Duration> = Vec::new();
        let mut unanswered = 0;
        for (sent, rtt) in l.sent.iter().zip(&l.rtt) {
            if *sent < from || *sent > to {
                continue;
            }
            rtts.push(rtt.unwrap_or_else(|| {
                unanswered += 1;
                now - *sent
            }));
        }
        rtts.sort();
        let pct = |p: f64| -> Duration {
            if rtts.is_empty() {
                return Duration::ZERO;
            }
            let i = ((p * rtts.len() as f64).ceil() as usize).clamp(1, rtts.len()) - 1;
            rtts[i]
        };
        PingStats {
            count: rtts.len(),
            unanswered,
            p50: pct(0.50),
            p99: pct(0.99),
            max: rtts.last().copied().unwrap_or_default(),
        }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop();
    }
}

// ----- memory sampling -------------------------------------------------------

/// Samples the server's RSS and fd count every 50 ms, keeping the peaks.
pub struct Sampler {
    pub peak_rss: Arc<AtomicU64>,
    pub peak_fds: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let peak_rss = Arc::new(AtomicU64::new(rss_kib(pid)));
        let peak_fds = Arc::new(AtomicU64::new(fd_count(pid) as u64));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (r, f, stop) = (peak_rss.clone(), peak_fds.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    r.fetch_max(rss_kib(pid), Ordering::SeqCst);
                    f.fetch_max(fd_count(pid) as u64, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Sampler { peak_rss, peak_fds, stop, thread: Some(thread) }
    }

    pub fn reset(&self, pid: u32) {
        self.peak_rss.store(rss_kib(pid), Ordering::SeqCst);
        self.peak_fds.store(fd_count(pid) as u64, Ordering::SeqCst);
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ----- one attack --------------------------------------------------------------

/// One attack's run: the server, the honest users, the figures.
pub struct Harness {
    pub name: &'static str,
    pub server: ServerProc,
    pub pair: Option<HonestPair>,
    pub probe: Option<Probe>,
    sampler: Sampler,
    started: Instant,
    base_rss: u64,
    base_fds: usize,
    attack: Option<(Instant, Option<Instant>)>,
    /// Bound on RSS growth during the attack.
    pub peak_growth_kib: u64,
    /// What the attack sent (for the figures).
    pub attack_msgs: u64,
    /// Lines of the attack's own figures.
    figures: Vec<String>,
    /// The attack's own failed checks (all reported at the end).
    failures: Vec<String>,
}

impl Harness {
    /// A server only (start honest users with [`Harness::honest`]).
    pub fn new(name: &'static str, opts: ServerOpts) -> Harness {
        let server = ServerProc::start(&opts);
        let sampler = Sampler::start(server.pid);
        Harness {
            name,
            server,
            pair: None,
            probe: None,
            sampler,
            started: Instant::now(),
            base_rss: 0,
            base_fds: 0,
            attack: None,
            peak_growth_kib: DEFAULT_PEAK_GROWTH_KIB,
            attack_msgs: 0,
            figures: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// A server with the honest pair calling and the probe pinging.
    pub fn start(name: &'static str, opts: ServerOpts) -> Harness {
        let mut h = Harness::new(name, opts);
        h.honest();
        h
    }

    pub fn honest(&mut self) {
        self.pair = Some(HonestPair::start(self.server.addr, self.name));
        self.probe = Some(Probe::start(self.server.addr, self.name));
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn pid(&self) -> u32 {
        self.server.pid
    }

    /// The attack starts now: the baseline is taken.
    pub fn begin_attack(&mut self) {
        self.base_rss = self.server.rss_kib();
        self.base_fds = self.server.fds();
        self.sampler.reset(self.server.pid);
        self.attack = Some((Instant::now(), None));
    }

    /// The attack is over (its connections closed).
    pub fn end_attack(&mut self) {
        if let Some((_, end)) = self.attack.as_mut() {
            end.get_or_insert(Instant::now());
        }
    }

    pub fn base_fds(&self) -> usize {
        self.base_fds
    }

    pub fn peak_fds(&self) -> usize {
        self.sampler.peak_fds.load(Ordering::SeqCst) as usize
    }

    /// Adds a line to the attack's figures.
    pub fn figure(&mut self, line: impl Into<String>) {
        let line = line.into();
        eprintln!("[{}] {line}", self.name);
        self.figures.push(line);
    }

    /// Records a failed check of the attack's own (the test goes on).
    pub fn fail(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("[{}] FAILED: {what}", self.name);
        self.failures.push(what);
    }

    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.fail(what);
        }
    }

    /// Waits until the server's open fds are back to at most `limit`, up to
    /// `wait`; returns the last count.
    pub fn wait_fds_at_most(&self, limit: usize, wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        loop {
            let n = self.server.fds();
            if n <= limit || Instant::now() >= deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ends the attack if not done, waits for the server's memory to come
    /// back, stops the honest users, prints every figure and fails the test
    /// if any check failed: no honest call failed, nobody honest
    /// disconnected, p99 of the probe under [`MAX_P99`] during the attack,
    /// RSS growth under the peak bound and back within [`RSS_MARGIN_KIB`] of
    /// the baseline within [`RSS_RECOVERY`], plus the attack's own checks.
    pub fn finish(mut self) {
        self.end_attack();
        let (a_start, a_end) = match self.attack {
            Some((s, e)) => (s, e.unwrap()),
            None => panic!("{}: begin_attack was never called", self.name),
        };
        let mut failures = Vec::new();
        // Memory back (polled; the server may give memory back on a timer).
        let recovery_deadline = a_end + RSS_RECOVERY;
        let mut after = self.server.rss_kib();
        while after > self.base_rss + RSS_MARGIN_KIB && Instant::now() < recovery_deadline {
            std::thread::sleep(Duration::from_millis(250));
            after = self.server.rss_kib();
        }
        let recovered_in = Instant::now().saturating_duration_since(a_end);
        let peak = self.sampler.peak_rss.load(Ordering::SeqCst).max(after);
        let hwm = hwm_kib(self.server.pid);
        // The honest users are still served after the attack: a call that
        // ends after it went through, a ping sent after it was answered.
        let after_deadline = Instant::now() + 3 * STEP_TIMEOUT;
        let call_after = self.pair.as_ref().is_none_or(|p| p.next_call_after(a_end, after_deadline));
        let ping_after = self.probe.as_ref().is_none_or(|p| p.answered_after(a_end, after_deadline));
        let pings = self.probe.as_ref().map(|p| p.stats(a_start, a_end)).unwrap_or_default();
        let during = self.pair.as_ref().map_or(0, |p| p.made_between(a_start, a_end));
        if let Some(p) = self.pair.as_mut() {
            p.stop();
        }
        if let Some(p) = self.probe.as_mut() {
            p.stop();
        }
        let running = self.server.running();

        let name = self.name;
        eprintln!(
            "[{name}] ---- figures ({} total, attack {:.1} s) ----",
            fmt_d(self.started.elapsed()),
            (a_end - a_start).as_secs_f64()
        );
        eprintln!(
            "[{name}] server RSS: before {} peak {} after {} (after {:.1} s; VmHWM {}); fds before {} peak {} now {}",
            mib(self.base_rss),
            mib(peak),
            mib(after),
            recovered_in.as_secs_f64(),
            mib(hwm),
            self.base_fds,
            self.peak_fds(),
            self.server.fds()
        );
        eprintln!(
            "[{name}] probe ping during the attack: {} sent, {} unanswered, p50 {} p99 {} max {}",
            pings.count,
            pings.unanswered,
            fmt_d(pings.p50),
            fmt_d(pings.p99),
            fmt_d(pings.max)
        );
        if let Some(p) = self.pair.as_ref() {
            eprintln!(
                "[{name}] honest calls: {} made ({during} during the attack), {} failed",
                p.stats.made.load(Ordering::SeqCst),
                p.stats.failed.load(Ordering::SeqCst)
            );
        }
        eprintln!("[{name}] attack messages sent: {}", self.attack_msgs);

        if !running {
            failures.push("the server process exited".to_string());
        }
        if let Some(p) = self.pair.as_ref() {
            let failed = p.stats.failed.load(Ordering::SeqCst);
            if failed > 0 {
                let f = p.stats.failures.lock().unwrap();
                failures.push(format!("{failed} honest calls failed: {:?}", &f[..f.len().min(5)]));
            }
            if let Some(why) = p.stats.disconnected.lock().unwrap().clone() {
                failures.push(format!("an honest caller was disconnected: {why}"));
            }
            if during == 0
                && a_end - a_start >= Duration::from_secs(1)
                && p.stats.disconnected.lock().unwrap().is_none()
            {
                failures.push("no honest call completed during the attack".into());
            }
        }
        if let Some(p) = self.probe.as_ref() {
            if let Some(why) = p.disconnected.lock().unwrap().clone() {
                failures.push(format!("the probe was disconnected: {why}"));
            }
            if pings.p99 >= MAX_P99 {
                failures.push(format!(
                    "probe ping p99 {} ≥ {} (max {})",
                    fmt_d(pings.p99),
                    fmt_d(MAX_P99),
                    fmt_d(pings.max)
                ));
            }
        }
        if !call_after {
            failures.push("no honest call went through after the attack".into());
        }
        if !ping_after {
            failures.push("the probe's pings were not answered after the attack".into());
        }
        if peak > self.base_rss + self.peak_growth_kib {
            failures.push(format!(
                "server RSS grew from {} to {} (more than {})",
                mib(self.base_rss),
                mib(peak),
                mib(self.peak_growth_kib)
            ));
        }
        if after > self.base_rss + RSS_MARGIN_KIB {
            failures.push(format!(
                "server RSS still {} {} s after the attack (baseline {})",
                mib(after),
                RSS_RECOVERY.as_secs(),
                mib(self.base_rss)
            ));
        }
        failures.extend(self.failures.iter().cloned());
        if !failures.is_empty() {
            let log = self.server.log_tail(15);
            panic!(
                "{name}: {} check(s) failed:\n  - {}\nfigures:\n  {}{}",
                failures.len(),
                failures.join("\n  - "),
                self.figures.join("\n  "),
                if log.is_empty() { String::new() } else { format!("\nserver log (last lines):\n{log}") }
            );
        }
        eprintln!("[{name}] ok");
    }
}

pub fn fmt_d(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}
