//! Test harness: a real `anychat-server` process, `anychat-cli` client
//! processes (each one user, driven through the library's `BRAC_*` C ABI) and
//! `anychat-bras-cli` business-server processes (driven through the `BRAS_*`
//! C ABI), talked to over pipes. Waits are on channels with a timeout as a
//! failure guard.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

pub mod cluster;

/// Longest wait for an expected line before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

fn lines_of(reader: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A loopback port that was free a moment ago (bound, read, released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// The lines a child process printed on stdout, consumed by `expect`.
struct Lines {
    name: String,
    rx: Receiver<String>,
    /// Lines received and not consumed by an `expect`.
    backlog: Vec<String>,
    /// Everything received, for failure messages and `assert_not_seen`.
    transcript: Vec<String>,
}

impl Lines {
    fn new(name: &str, rx: Receiver<String>) -> Lines {
        Lines { name: name.into(), rx, backlog: Vec::new(), transcript: Vec::new() }
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{}: {what}\ntranscript:\n  {}", self.name, self.transcript.join("\n  "))
    }

    /// Waits for (and consumes) the first line starting with `prefix`.
    fn expect_within(&mut self, prefix: &str, wait: Duration) -> String {
        if let Some(i) = self.backlog.iter().position(|l| l.starts_with(prefix)) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + wait;
        loop {
            match self.rx.recv_deadline(deadline) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                    self.backlog.push(line);
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("no line '{prefix}' within {wait:?}")),
                Err(RecvTimeoutError::Disconnected) => self.fail(&format!("exited before '{prefix}'")),
            }
        }
    }

    /// Moves what has arrived so far into the backlog and the transcript.
    fn drain(&mut self) {
        while let Ok(line) = self.rx.try_recv() {
            self.transcript.push(line.clone());
            self.backlog.push(line);
        }
    }

    /// Fails if any line received so far is `bad`.
    fn assert_none(&mut self, what: &str, bad: impl Fn(&str) -> bool) {
        self.drain();
        if let Some(l) = self.transcript.iter().find(|l| bad(l)) {
            self.fail(&format!("unexpected {what}: '{l}'"));
        }
    }

    /// Consumes every line received so far: `expect` waits for new ones.
    fn forget(&mut self) {
        self.drain();
        self.backlog.clear();
    }

    /// Everything received so far, in order (consumed lines included).
    fn transcript(&mut self) -> Vec<String> {
        self.drain();
        self.transcript.clone()
    }
}

/// A folder of its own under the system's temporary folder, removed when
/// dropped (a server's state folder: its generated business secret).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("anychat-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a temporary folder");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The command that runs `program`: itself, or started by `by` (a program
/// and its arguments that run the rest of the line, e.g. `ip netns exec NS`).
fn command(by: &[&str], program: &str) -> Command {
    match by.split_first() {
        None => Command::new(program),
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
    }
}

/// A core server on a free loopback port, killed when dropped.
pub struct Server {
    child: Child,
    /// The address its clients connect to (127.0.0.1 unless it listens
    /// on another address).
    pub host: String,
    pub port: u16,
    /// The business listener's port (0 when off).
    pub business_port: u16,
    /// The TLS listener's port (0 when off).
    pub tls_port: u16,
    log: Receiver<String>,
    /// Log lines read by `log_contains` and not yet consumed by `expect_log`.
    seen: std::cell::RefCell<Vec<String>>,
    /// Its state folder (shared with a server that takes its place).
    pub state: std::sync::Arc<TempDir>,
}

impl Server {
    /// A server on free loopback ports (client and business listeners).
    pub fn start(extra: &[&str]) -> Server {
        Server::start_at("127.0.0.1:0", "127.0.0.1:0", extra)
    }

    /// A server on the given client and business listen addresses (`off`
    /// for no business listener): with fixed ports from [`free_port`], a new
    /// server can take the place of one that was stopped.
    pub fn start_at(listen: &str, business_listen: &str, extra: &[&str]) -> Server {
        let state = std::sync::Arc::new(TempDir::new("state"));
        Server::start_in(state, listen, business_listen, extra)
    }

    /// A server with the state folder `state` (a restarted server keeps its
    /// generated business secret).
    pub fn start_in(state: std::sync::Arc<TempDir>, listen: &str, business_listen: &str, extra: &[&str]) -> Server {
        Server::start_by(&[], state, listen, business_listen, extra)
    }

    /// A server started by the command `by` (e.g. `ip netns exec NS`)
    /// listening on `listen`, with a business listener on a free port.
    pub fn start_via(by: &[&str], listen: &str, extra: &[&str]) -> Server {
        let state = std::sync::Arc::new(TempDir::new("state"));
        Server::start_by(by, state, listen, "127.0.0.1:0", extra)
    }

    fn start_by(
        by: &[&str],
        state: std::sync::Arc<TempDir>,
        listen: &str,
        business_listen: &str,
        extra: &[&str],
    ) -> Server {
        let server = env!("CARGO_BIN_EXE_anychat-server");
        let mut child = command(by, server)
            .args(["--listen", listen, "--business-listen", business_listen])
            .args(extra)
            .env_remove("ANYCHAT_BUSINESS_SECRET")
            // The log at its default level (info) unless a test's config file says otherwise.
            .env_remove("ANYCHAT_LOG_LEVEL")
            .env_remove("RUST_LOG")
            .env("ANYCHAT_STATE_DIR", &state.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start anychat-server");
        let out = lines_of(child.stdout.take().unwrap());
        let log = lines_of(child.stderr.take().unwrap());
        let line = out.recv_timeout(WAIT).expect("server did not print its address");
        let port = line.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("bad line {line}"));
        let line = out.recv_timeout(WAIT).expect("server did not print its business address");
        let business_port = line.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let mut tls_port = 0;
        if extra.contains(&"--tls-listen") {
            let line = out.recv_timeout(WAIT).expect("server did not print its TLS address");
            tls_port =
                line.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("bad line {line}"));
        }
        let host = match listen.rsplit_once(':').map(|(h, _)| h) {
            Some(h) if h != "0.0.0.0" => h.to_string(),
            _ => "127.0.0.1".to_string(),
        };
        Server { child, host, port, business_port, tls_port, log, seen: Default::default(), state }
    }

    /// The business secret the server generated (started without
    /// `--business-secret`).
    pub fn secret(&self) -> String {
        match std::fs::read_to_string(self.state.0.join("business-secret")) {
            Ok(s) => s.trim().to_string(),
            Err(e) => panic!("no generated business secret in {}: {e}", self.state.0.display()),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a log line containing `needle`.
    pub fn expect_log(&self, needle: &str) -> String {
        {
            let mut seen = self.seen.borrow_mut();
            if let Some(i) = seen.iter().position(|l| l.contains(needle)) {
                return seen.remove(i);
            }
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.log.recv_deadline(deadline) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("server never logged '{needle}'"),
            }
        }
    }

    /// Whether a log line received so far contains `needle` (does not wait).
    pub fn log_contains(&self, needle: &str) -> bool {
        let mut seen = self.seen.borrow_mut();
        seen.extend(self.log.try_iter());
        seen.iter().any(|l| l.contains(needle))
    }

    /// Sends the server a signal (SIGTERM, SIGHUP, ...).
    pub fn signal(&self, signal: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits until the server exits (its log closes) within `within`, and
    /// returns its exit status; the log lines not consumed stay readable.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            match self.log.recv_deadline(deadline) {
                Ok(l) => self.seen.borrow_mut().push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("server still running after {within:?}"),
            }
        }
        self.child.wait().expect("wait for the server")
    }

    /// Kills the server (SIGKILL) and waits until it is gone, so that its
    /// ports are free and its connections closed when this returns.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client process (`anychat-cli`).
pub struct Cli {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines,
    /// The library's log on stderr (only with [`Cli::spawn_env`]).
    err: Option<Lines>,
    pub user_id: u32,
}

impl Cli {
    pub fn spawn(name: &str, opts: &[&str]) -> Cli {
        Cli::spawn_with(&[], name, opts, None)
    }

    /// As [`Cli::spawn`], started by the command `by` (e.g. `ip netns exec NS`).
    pub fn spawn_via(by: &[&str], name: &str, opts: &[&str]) -> Cli {
        Cli::spawn_with(by, name, opts, None)
    }

    /// As [`Cli::spawn`], with environment variables `env` set for the
    /// process, and its stderr (the library's warnings) kept for
    /// [`Cli::expect_log`].
    pub fn spawn_env(name: &str, opts: &[&str], env: &[(&str, &str)]) -> Cli {
        Cli::spawn_with(&[], name, opts, Some(env))
    }

    fn spawn_with(by: &[&str], name: &str, opts: &[&str], env: Option<&[(&str, &str)]>) -> Cli {
        let mut cmd = command(by, env!("CARGO_BIN_EXE_anychat-cli"));
        cmd.args(opts).stdin(Stdio::piped()).stdout(Stdio::piped());
        match env {
            Some(env) => cmd.envs(env.iter().copied()).stderr(Stdio::piped()),
            None => cmd.stderr(Stdio::null()),
        };
        let mut child = cmd.spawn().expect("start anychat-cli");
        let rx = lines_of(child.stdout.take().unwrap());
        let err = child.stderr.take().map(|e| Lines::new(&format!("{name} (stderr)"), lines_of(e)));
        let stdin = child.stdin.take();
        let mut cli = Cli { name: name.into(), child, stdin, out: Lines::new(name, rx), err, user_id: 0 };
        if !opts.contains(&"--no-init") {
            cli.expect("ret init 0");
        }
        cli
    }

    /// Starts a client, connects to `server` and logs in as `name`.
    pub fn login(server: &Server, name: &str, opts: &[&str]) -> Cli {
        Cli::login_with(server, name, Cli::spawn(name, opts))
    }

    /// As [`Cli::login`], with environment variables `env` set (see
    /// [`Cli::spawn_env`]).
    pub fn login_env(server: &Server, name: &str, opts: &[&str], env: &[(&str, &str)]) -> Cli {
        Cli::login_with(server, name, Cli::spawn_env(name, opts, env))
    }

    /// Connects the client `cli` to `server` and logs in as `name`.
    pub fn login_with(server: &Server, name: &str, mut cli: Cli) -> Cli {
        cli.send(&format!("connect {} {}", server.host, server.port));
        cli.expect("ret connect 0");
        cli.send(&format!("login {name}"));
        cli.expect("ret login 0");
        cli.expect("notify CONNECT 1 0");
        let line = cli.expect("notify LOGINSYSTEM ");
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[3], "0", "{name}: login failed: {line}");
        cli.user_id = fields[2].parse().unwrap();
        assert!(cli.user_id > 0);
        cli
    }

    /// Starts a client, connects to `server`, tries to log in as `name` and
    /// returns the `(wParam, lParam)` of its `WM_GV_LOGINSYSTEM`; on success
    /// `user_id` is set.
    pub fn try_login(server: &Server, name: &str, opts: &[&str]) -> (Cli, u32, u32) {
        let mut cli = Cli::spawn(name, opts);
        cli.send(&format!("connect {} {}", server.host, server.port));
        cli.expect("ret connect 0");
        cli.expect("notify CONNECT 1 0");
        cli.send(&format!("login {name}"));
        cli.expect("ret login 0");
        let line = cli.expect("notify LOGINSYSTEM ");
        let fields: Vec<u32> = line.split_whitespace().skip(2).map(|f| f.parse::<i64>().unwrap() as u32).collect();
        if fields[1] == 0 {
            cli.user_id = fields[0];
        }
        (cli, fields[0], fields[1])
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to cli");
        stdin.flush().unwrap();
    }

    /// Sends a command and returns the code it printed (`ret <cmd> <code>`).
    pub fn cmd(&mut self, line: &str) -> u32 {
        self.send(line);
        let word = line.split_whitespace().next().unwrap();
        let ret = self.expect(&format!("ret {word} "));
        ret.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// Waits for (and consumes) the first line starting with `prefix`.
    pub fn expect(&mut self, prefix: &str) -> String {
        self.out.expect_within(prefix, WAIT)
    }

    pub fn expect_within(&mut self, prefix: &str, wait: Duration) -> String {
        self.out.expect_within(prefix, wait)
    }

    /// Waits for a line of the library's log (stderr) containing `needle`
    /// (a client started with [`Cli::spawn_env`]).
    pub fn expect_log(&mut self, needle: &str) -> String {
        let err = self.err.as_mut().expect("stderr is kept only with Cli::spawn_env");
        expect_containing(err, needle)
    }

    /// Asserts that no line received so far starts with `prefix`.
    /// Call after a later event that the server sends after the one that
    /// must not come, so that "not yet" cannot pass for "never".
    pub fn assert_not_seen(&mut self, prefix: &str) {
        self.out.assert_none(&format!("line '{prefix}'"), |l| l.starts_with(prefix));
    }

    /// Everything this client printed so far, in order (consumed lines included).
    pub fn transcript(&mut self) -> Vec<String> {
        self.out.transcript()
    }

    /// Consumes every line printed so far: `expect` waits for new ones.
    pub fn forget(&mut self) {
        self.out.forget();
    }

    /// The video-call event line this client's callback printed.
    pub fn expect_call(&mut self, event: &str, peer: u32, code: u32) -> String {
        self.expect(&format!("call {event} user={peer} code={code} "))
    }

    pub fn kill(&mut self, signal: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Closes stdin (the cli then releases the SDK and exits) and waits.
    pub fn quit(mut self) {
        self.send("quit");
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for (and consumes) the first line of `lines` containing `needle`.
fn expect_containing(lines: &mut Lines, needle: &str) -> String {
    if let Some(i) = lines.backlog.iter().position(|l| l.contains(needle)) {
        return lines.backlog.remove(i);
    }
    let deadline = Instant::now() + WAIT;
    loop {
        match lines.rx.recv_deadline(deadline) {
            Ok(line) => {
                lines.transcript.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
                lines.backlog.push(line);
            }
            Err(_) => lines.fail(&format!("no line containing '{needle}'")),
        }
    }
}

/// One business-server process (`anychat-bras-cli`): the `BRAS_*` library
/// linked to a core server's business listener.
pub struct Bras {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines,
    /// The library's log on stderr (only with [`Bras::spawn_env`]).
    err: Option<Lines>,
}

impl Bras {
    /// Starts a business server for the core server whose business listener
    /// is on `127.0.0.1:core_port`, presenting `secret` (`None`: the
    /// variable is not set), with the options of `anychat-bras-cli`. Waits
    /// for `ret init 0` only, not for the link.
    pub fn spawn(name: &str, core_port: u16, secret: Option<&str>, opts: &[&str]) -> Bras {
        Bras::spawn_with(name, core_port, secret, opts, None)
    }

    /// As [`Bras::spawn`], with environment variables `env` set for the
    /// process (after the defaults, so `ANYCHAT_CORE_ADDR` may be given),
    /// and its stderr (the library's warnings) kept for [`Bras::expect_log`].
    pub fn spawn_env(name: &str, core_port: u16, opts: &[&str], env: &[(&str, &str)]) -> Bras {
        Bras::spawn_with(name, core_port, None, opts, Some(env))
    }

    fn spawn_with(
        name: &str,
        core_port: u16,
        secret: Option<&str>,
        opts: &[&str],
        env: Option<&[(&str, &str)]>,
    ) -> Bras {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anychat-bras-cli"));
        // No state folder with a secret in it: only `secret` counts.
        cmd.args(opts)
            .env("ANYCHAT_CORE_ADDR", format!("127.0.0.1:{core_port}"))
            .env_remove("ANYCHAT_BUSINESS_SECRET")
            .env("ANYCHAT_STATE_DIR", "/nonexistent/anychat-test")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        match env {
            Some(env) => cmd.envs(env.iter().copied()).stderr(Stdio::piped()),
            None => cmd.stderr(Stdio::null()),
        };
        if let Some(s) = secret {
            cmd.env("ANYCHAT_BUSINESS_SECRET", s);
        }
        let mut child = cmd.spawn().expect("start anychat-bras-cli");
        let rx = lines_of(child.stdout.take().unwrap());
        let err = child.stderr.take().map(|e| Lines::new(&format!("{name} (stderr)"), lines_of(e)));
        let stdin = child.stdin.take();
        let mut bras = Bras { name: name.into(), child, stdin, out: Lines::new(name, rx), err };
        bras.expect("ret init 0");
        bras
    }

    /// Starts a business server linked to `server` (with the secret the
    /// server generated) and waits until its link is up.
    pub fn start(server: &Server, opts: &[&str]) -> Bras {
        assert_ne!(server.business_port, 0, "the server has no business listener");
        let mut bras = Bras::spawn("bras", server.business_port, Some(&server.secret()), opts);
        bras.expect("link up");
        bras
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to bras-cli");
        stdin.flush().unwrap();
    }

    /// Sends a command and returns the code it printed (`ret <cmd> <code>`).
    pub fn cmd(&mut self, line: &str) -> u32 {
        self.send(line);
        let word = line.split_whitespace().next().unwrap();
        let ret = self.expect(&format!("ret {word} "));
        ret.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// Waits for (and consumes) the first line starting with `prefix`.
    pub fn expect(&mut self, prefix: &str) -> String {
        self.out.expect_within(prefix, WAIT)
    }

    pub fn expect_within(&mut self, prefix: &str, wait: Duration) -> String {
        self.out.expect_within(prefix, wait)
    }

    /// Waits for a line of the library's log (stderr) containing `needle`
    /// (a business server started with [`Bras::spawn_env`]).
    pub fn expect_log(&mut self, needle: &str) -> String {
        let err = self.err.as_mut().expect("stderr is kept only with Bras::spawn_env");
        expect_containing(err, needle)
    }

    /// Asserts that no line received so far starts with `prefix` (after a
    /// later, synchronising line, as for [`Cli::assert_not_seen`]).
    pub fn assert_not_seen(&mut self, prefix: &str) {
        self.out.assert_none(&format!("line '{prefix}'"), |l| l.starts_with(prefix));
    }

    /// Asserts that no line received so far contains `needle`.
    pub fn assert_not_seen_containing(&mut self, needle: &str) {
        self.out.assert_none(&format!("line with '{needle}'"), |l| l.contains(needle));
    }

    /// Everything printed so far, in order.
    pub fn transcript(&mut self) -> Vec<String> {
        self.out.transcript()
    }

    pub fn kill(&mut self, signal: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Kills the process with SIGKILL and reaps it: when this returns, its
    /// socket is closed.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `quit` (the process releases the SDK and exits) and waits.
    pub fn quit(mut self) {
        self.send("quit");
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Bras {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=` in an output line of `anychat-cli`.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// The number after `key=` in an output line of `anychat-cli`.
pub fn num(line: &str, key: &str) -> i64 {
    field(line, key).parse().unwrap_or_else(|_| panic!("bad {key} in {line}"))
}

/// A calls B (B answers as its options say) up to START for both; returns
/// the room id.
pub fn call_to_start(a: &mut Cli, b: &mut Cli) -> u32 {
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", b.user_id, 0);
    let sa = a.expect_call("START", b.user_id, 0);
    let sb = b.expect_call("START", a.user_id, 0);
    assert_eq!(field(&sa, "param"), field(&sb, "param"));
    field(&sa, "param").parse().unwrap()
}

/// Runs a query command: its code and, when 0, the line it printed.
pub fn query(cli: &mut Cli, cmd: &str) -> (u32, String) {
    let code = cli.cmd(cmd);
    let word = cmd.split_whitespace().next().unwrap();
    let line = if code == 0 { cli.expect(&format!("{word} ")) } else { String::new() };
    (code, line)
}

/// Runs a query command until it prints `want` (what the business server
/// did reaches the client on its own link, a moment later).
#[track_caller]
pub fn poll(cli: &mut Cli, cmd: &str, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, line) = query(cli, cmd);
        if code == 0 && line == want {
            return;
        }
        assert!(Instant::now() < deadline, "{}: '{cmd}' gave {code} '{line}', not '{want}'", cli.name);
        std::thread::sleep(Duration::from_millis(50));
    }
}
