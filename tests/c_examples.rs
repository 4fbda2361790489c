//! Builds the C programs in `c_examples/` with gcc against `include/anychat.h`
//! (or `include/anychatserver.h`) and the freshly built `libanychat.so`, then
//! runs a whole video call between `callee` and `caller` through a live
//! `anychat-server`, `business_server` (a `BRAS_*` program) vetting calls
//! between `anychat-cli` clients, the call log, and the vendor-style C++
//! programs: `hello.cpp` three to a room, `callcenter.cpp` with
//! `callcenter_server.c`.
//!
//! gcc and g++ are required (CI installs them).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVER: &str = env!("CARGO_BIN_EXE_anychat-server");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// How long the server may take to print its listening line.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the callee and caller may take, together, from the callee's start.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The warnings every C build must pass without.
const C_FLAGS: &[&str] = &["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"];
const CXX_FLAGS: &[&str] = &["-Wall", "-Wextra", "-Werror", "-pthread", "-x", "c++"];

// ----- tools and paths ------------------------------------------------------

/// True when `tool --version` runs. Other failures than "not found" panic.
fn have_tool(tool: &str) -> bool {
    match Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(status) => status.success(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => panic!("cannot run `{tool} --version`: {e}"),
    }
}

fn require_gcc() {
    if !have_tool("gcc") {
        panic!(
            "gcc was not found on PATH: the tests in tests/c_examples.rs compile the C programs in \
             c_examples/ and need it (CI installs it; locally: apt-get install gcc)"
        );
    }
}

/// The directory holding the `libanychat.so` of this build. Cargo writes the
/// cdylib to `deps/` beside the binaries whenever it builds the library, and
/// copies it up next to them only when the library itself is a build target
/// (`cargo build`), so the copy beside the binaries may be missing or stale
/// under `cargo test`: `deps/` comes first.
fn lib_dir() -> PathBuf {
    let bin_dir = Path::new(SERVER).parent().expect("the server binary has a parent directory");
    [bin_dir.join("deps"), bin_dir.to_path_buf()]
        .into_iter()
        .find(|dir| dir.join("libanychat.so").is_file())
        .unwrap_or_else(|| panic!("libanychat.so not found in {0}/deps or {0}", bin_dir.display()))
}

fn source(name: &str) -> PathBuf {
    Path::new(MANIFEST_DIR).join("c_examples").join(name)
}

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!(
            "anychat-c-examples-{tag}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles and links `src` into `out` with `compiler` and `flags`, against
/// the header and `libanychat.so`. Panics with the compiler's output on failure.
fn compile(compiler: &str, flags: &[&str], src: &Path, out: &Path) {
    let lib = lib_dir();
    let include = Path::new(MANIFEST_DIR).join("include");
    let mut cmd = Command::new(compiler);
    cmd.args(flags)
        .arg("-I")
        .arg(&include)
        .arg(src)
        .arg("-o")
        .arg(out)
        .arg("-L")
        .arg(&lib)
        .arg("-lanychat")
        .arg(format!("-Wl,-rpath,{}", lib.display()));
    let output = cmd.output().unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ----- child processes ------------------------------------------------------

/// What the reader threads of a child's stdout and stderr send.
enum Output {
    Line { stderr: bool, text: String },
    Eof,
}

/// A child process whose stdout and stderr are read, line by line, by two
/// threads into a channel. Killed (and reaped) on drop, so a failing test
/// leaves nothing running.
struct Proc {
    name: &'static str,
    child: Child,
    /// The write end of its standard input, when it was asked for.
    stdin: Option<ChildStdin>,
    rx: Receiver<Output>,
    open_streams: usize,
    transcript: Vec<String>,
}

fn spawn_reader(stream: impl Read + Send + 'static, stderr: bool, tx: Sender<Output>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(Output::Line { stderr, text }).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Output::Eof);
    });
}

impl Proc {
    fn spawn(name: &'static str, program: &Path, args: &[&str]) -> Proc {
        Proc::spawn_with(name, program, args, &[], false)
    }

    /// Like `spawn`, with `envs` added to its environment and, with
    /// `piped_stdin`, a standard input that stays open until `close_stdin`.
    fn spawn_with(name: &'static str, program: &Path, args: &[&str], envs: &[(&str, &str)], piped_stdin: bool) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(if piped_stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let (tx, rx) = mpsc::channel();
        spawn_reader(child.stdout.take().expect("piped stdout"), false, tx.clone());
        spawn_reader(child.stderr.take().expect("piped stderr"), true, tx);
        let stdin = child.stdin.take();
        Proc { name, child, stdin, rx, open_streams: 2, transcript: Vec::new() }
    }

    /// Closes its standard input: the child reads end of file.
    fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// Like `wait_for_line`, but a missing line fails the test with the
    /// child's output.
    fn expect_line(&mut self, prefix: &str, deadline: Instant) -> String {
        match self.wait_for_line(prefix, deadline) {
            Some(rest) => format!("{prefix}{rest}"),
            None => {
                let name = self.name;
                panic!("{name} never printed a line '{prefix}...':\n{}", self.transcript())
            }
        }
    }

    /// Records one message; returns the text of a stdout line.
    fn record(&mut self, msg: Output) -> Option<String> {
        match msg {
            Output::Line { stderr, text } => {
                self.transcript.push(format!("{} {}: {text}", self.name, if stderr { "stderr" } else { "stdout" }));
                (!stderr).then_some(text)
            }
            Output::Eof => {
                self.open_streams -= 1;
                None
            }
        }
    }

    /// Reads output until a stdout line starts with `prefix`; returns the
    /// rest of that line, or `None` on `deadline` or when the output ends.
    fn wait_for_line(&mut self, prefix: &str, deadline: Instant) -> Option<String> {
        while self.open_streams > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(msg) => {
                    if let Some(rest) = self.record(msg).and_then(|line| line.strip_prefix(prefix).map(str::to_owned)) {
                        return Some(rest);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }

    /// Waits until the child has closed its output (it exits) and reaps it;
    /// `None` if that does not happen before `deadline`.
    fn wait_exit(&mut self, deadline: Instant) -> Option<ExitStatus> {
        while self.open_streams > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(msg) => {
                    self.record(msg);
                }
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // Both pipes are closed: the process is exiting, so this returns promptly.
        Some(self.child.wait().unwrap_or_else(|e| panic!("waiting for {}: {e}", self.name)))
    }

    /// Everything the child printed so far.
    fn transcript(&mut self) -> String {
        while let Ok(msg) = self.rx.try_recv() {
            self.record(msg);
        }
        if self.transcript.is_empty() {
            format!("{}: (no output)\n", self.name)
        } else {
            self.transcript.join("\n") + "\n"
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Both are harmless when the child already exited and was reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `anychat-server` on a free port of 127.0.0.1; returns it and the port.
fn start_server() -> (Proc, u16) {
    let mut server = Proc::spawn(
        "server",
        Path::new(SERVER),
        &["--listen", "127.0.0.1:0", "--business-listen", "off", "--log-level", "warn", "--records", "off"],
    );
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    let Some(addr) = server.wait_for_line("anychat-server listening on ", deadline) else {
        panic!("the server did not print its listening line within {SERVER_START_TIMEOUT:?}:\n{}", server.transcript());
    };
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or_else(|| panic!("cannot read a port in the server's address '{addr}'"));
    (server, port)
}

// ----- tests ----------------------------------------------------------------

/// callee.c and caller.c make a whole call through a live server: Request,
/// Reply 0 (ringing), Start, both in the call's room, Finish.
#[test]
fn c_callee_and_caller_complete_a_call() {
    require_gcc();
    let dir = TempDir::new("call");
    let callee_bin = dir.path().join("callee");
    let caller_bin = dir.path().join("caller");
    compile("gcc", C_FLAGS, &source("callee.c"), &callee_bin);
    compile("gcc", C_FLAGS, &source("caller.c"), &caller_bin);

    let (mut server, port) = start_server();
    let port = port.to_string();
    let deadline = Instant::now() + CALL_TIMEOUT;

    let mut callee = Proc::spawn("callee", &callee_bin, &["127.0.0.1", &port, "c-example-callee"]);
    let Some(callee_id) = callee.wait_for_line("callee ready ", deadline) else {
        panic!(
            "the callee did not print 'callee ready <id>' within {CALL_TIMEOUT:?}\n--- callee ---\n{}--- server ---\n{}",
            callee.transcript(),
            server.transcript()
        );
    };
    let callee_id = callee_id.trim().to_string();
    assert!(callee_id.parse::<u32>().is_ok_and(|id| id > 0), "bad callee user id '{callee_id}'");

    let mut caller = Proc::spawn("caller", &caller_bin, &["127.0.0.1", &port, "c-example-caller", &callee_id]);
    let caller_status = caller.wait_exit(deadline);
    let callee_status = callee.wait_exit(deadline);
    let ok = |s: Option<ExitStatus>| s.is_some_and(|s| s.success());
    if !ok(caller_status) || !ok(callee_status) {
        let show = |s: Option<ExitStatus>| {
            s.map_or_else(|| format!("still running after {CALL_TIMEOUT:?}"), |s| s.to_string())
        };
        panic!(
            "the C call failed: caller {}, callee {}\n--- caller ---\n{}--- callee ---\n{}--- server ---\n{}",
            show(caller_status),
            show(callee_status),
            caller.transcript(),
            callee.transcript(),
            server.transcript()
        );
    }
    // Spot checks of what both printed (the programs check every event themselves).
    let caller_out = caller.transcript();
    let callee_out = callee.transcript();
    assert!(caller_out.contains("call START"), "caller output:\n{caller_out}");
    assert!(caller_out.contains("caller done"), "caller output:\n{caller_out}");
    assert!(callee_out.contains("call REQUEST") && callee_out.contains("str=hello from caller.c"), "{callee_out}");
    assert!(callee_out.contains("callee done"), "callee output:\n{callee_out}");
    // `server` is killed when dropped, here or while unwinding from a panic.
}

/// The header compiles cleanly as C11 and as C++; both
/// builds link against libanychat.so (so the C++ declarations are `extern "C"`)
/// and run a few calls that need no server.
#[test]
fn header_compiles_as_c_and_cxx() {
    require_gcc();
    let dir = TempDir::new("header");
    let src = source("header_check.c");
    assert!(have_tool("g++"), "g++ is needed to compile include/anychat.h as C++ (CI installs it)");
    let builds =
        [("gcc", C_FLAGS, dir.path().join("header_check_c")), ("g++", CXX_FLAGS, dir.path().join("header_check_cxx"))];
    for (compiler, flags, out) in builds {
        compile(compiler, flags, &src, &out);
        let run = Command::new(&out).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", out.display()));
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success() && stdout.contains("header_check ok"),
            "{} built with {compiler} failed ({}):\n{stdout}{}",
            out.display(),
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

/// business_server.c, a business server on `include/anychatserver.h`: calls
/// to the user it was given are refused with its code (the caller gets
/// REPLY(code), the callee never rings), other calls ring; it logs every
/// event and exits with status 0 when its standard input ends.
#[test]
fn c_business_server_vetoes_calls_and_logs_events() {
    use common::{Cli, Server};

    require_gcc();
    let dir = TempDir::new("business");
    let bin = dir.path().join("business_server");
    compile("gcc", C_FLAGS, &source("business_server.c"), &bin);

    // The harness's server listens for business servers on 127.0.0.1:0 and
    // reads the port from its second line ("business listener on ...").
    let server = Server::start(&[]);
    assert_ne!(server.business_port, 0, "no business listener");
    // Logged in before the business server links: the core server gives the ids.
    let mut alice = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut bob = Cli::login(&server, "bob", &[]);
    let (ia, ib) = (alice.user_id, bob.user_id);

    let core_addr = format!("127.0.0.1:{}", server.business_port);
    let refused = ib.to_string();
    // On the same machine, the library finds the secret the core server
    // generated in its state folder.
    let state = server.state.0.to_string_lossy().into_owned();
    let env = [("ANYCHAT_CORE_ADDR", core_addr.as_str()), ("ANYCHAT_STATE_DIR", state.as_str())];
    let mut biz = Proc::spawn_with("business_server", &bin, &[&refused, "4321"], &env, true);
    let deadline = Instant::now() + CALL_TIMEOUT;
    biz.expect_line("link up", deadline);

    let mut carol = Cli::login(&server, "carol", &["--auto-accept", "--auto-enter"]);
    let ic = carol.user_id;
    biz.expect_line(&format!("login user={ic} name=carol level=0 ip=127.0.0.1"), deadline);

    // A call to the refused user: REPLY(4321) and no ringing.
    assert_eq!(alice.cmd(&format!("request {ib} 3 7 hi")), 0);
    alice.expect_call("REPLY", ib, 4321);
    biz.expect_line(&format!("request src={ia} tar={ib} flags=3 param=7 str=hi -> 4321"), deadline);

    // A call to another user rings, is accepted and starts.
    assert_eq!(alice.cmd(&format!("request {ic}")), 0);
    carol.expect_call("REQUEST", ia, 0);
    alice.expect_call("REPLY", ic, 0);
    let start = alice.expect_call("START", ic, 0);
    carol.expect_call("START", ia, 0);
    let room = start.split_whitespace().find_map(|f| f.strip_prefix("param=")).expect("a room id").to_string();
    alice.expect(&format!("notify ENTERROOM {room} 0"));
    carol.expect(&format!("notify ENTERROOM {room} 0"));
    // Bob's next event (Alice is busy) comes after anything the refused
    // call could have sent him: he never rang.
    assert_eq!(bob.cmd(&format!("request {ia}")), 0);
    bob.expect_call("REPLY", ia, 100103);
    bob.assert_not_seen("call REQUEST");

    biz.expect_line(&format!("request src={ia} tar={ic} flags=3 param=0 str= -> 0"), deadline);
    biz.expect_line(&format!("REPLY src={ic} tar={ia} code=0 "), deadline);
    biz.expect_line(&format!("START src={ia} tar={ic} code=0 flags=3 param={room} "), deadline);
    let mut entered = [biz.expect_line("enter user=", deadline), biz.expect_line("enter user=", deadline)];
    entered.sort();
    let mut want = [format!("enter user={ia} room={room}"), format!("enter user={ic} room={room}")];
    want.sort();
    assert_eq!(entered, want);

    assert_eq!(alice.cmd(&format!("finish {ic} 5")), 0);
    alice.expect_call("FINISH", ic, 5);
    carol.expect_call("FINISH", ia, 5);
    biz.expect_line(&format!("FINISH src={ia} tar={ic} code=5 "), deadline);
    let mut left = [biz.expect_line("leave user=", deadline), biz.expect_line("leave user=", deadline)];
    left.sort();
    let mut want = [format!("leave user={ia} room={room}"), format!("leave user={ic} room={room}")];
    want.sort();
    assert_eq!(left, want);

    carol.quit();
    biz.expect_line(&format!("logout user={ic} code=0"), deadline);

    // End of standard input: BRAS_Release and exit status 0.
    biz.close_stdin();
    let status = biz.wait_exit(deadline);
    let out = biz.transcript();
    assert!(status.is_some_and(|s| s.success()), "business_server ended with {status:?}:\n{out}");
    assert!(out.contains("business_server stdout: business_server done (release 0)"), "{out}");
    assert!(!out.contains("stderr:"), "business_server wrote to stderr:\n{out}");
}

// ----- the call log ---------------------------------------------------------

/// Runs `call_log` (built in `dir`) against a server with `args` after the
/// host, port and name, and `envs` (the `ANYCHAT_LOG*` variables of the
/// test's own environment removed); returns its output once it exited 0.
fn run_call_log(dir: &TempDir, port: u16, name: &'static str, args: &[&str], envs: &[(&str, &str)]) -> String {
    let bin = dir.path().join("call_log");
    if !bin.is_file() {
        compile("gcc", C_FLAGS, &source("call_log.c"), &bin);
    }
    let port = port.to_string();
    let mut all = vec!["127.0.0.1", port.as_str(), name];
    all.extend_from_slice(args);
    let mut cmd = Command::new(&bin);
    cmd.args(&all).stdin(Stdio::null());
    for var in ["ANYCHAT_LOG", "ANYCHAT_LOG_FILE", "ANYCHAT_LOG_STDERR"] {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().copied());
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let text = format!(
        "--- stdout ---\n{}--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("call_log done"),
        "call_log {all:?} failed ({}):\n{text}",
        out.status
    );
    text
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `BRAC_ActiveCallLog(TRUE)`, called before `BRAC_InitSDK` as vendor apps
/// do, appends the calls and the events delivered to `AnyChatCore.log`
/// beside the executable; `BRAC_ActiveCallLog(FALSE)` stops it (the calls
/// after it are not in the file). Nothing on standard error, and no file
/// without it.
#[test]
fn call_log_is_written_beside_the_app_when_turned_on() {
    require_gcc();
    let dir = TempDir::new("calllog");
    let (_server, port) = start_server();
    let out = run_call_log(&dir, port, "logger", &[], &[]);
    let log_path = dir.path().join("AnyChatCore.log");
    let log = read(&log_path);
    let id = out.lines().find_map(|l| l.strip_prefix("logged in ")).expect("a 'logged in' line").trim().to_string();
    for want in [
        "anychat::call: BRAC_ActiveCallLog -> 0",
        "anychat::call: BRAC_SetNotifyMessageCallBack -> 0",
        "anychat::call: BRAC_InitSDK -> 0",
        "anychat::call: BRAC_Connect -> 0",
        "anychat::call: BRAC_Login -> 0",
        "anychat::event: WM_GV_CONNECT(1225) wParam=1 lParam=0",
        &format!("anychat::event: WM_GV_LOGINSYSTEM(1226) wParam={id} lParam=0"),
    ] {
        assert!(log.lines().any(|l| l.contains(" INFO ") && l.contains(want)), "no line with '{want}' in:\n{log}");
    }
    // The events come from the library's callback thread.
    assert!(log.contains("anychat-cb"), "thread names in the lines:\n{log}");
    // Turned off before these calls.
    for absent in ["BRAC_GetUserName", "BRAC_Logout", "BRAC_Release"] {
        assert!(!log.contains(absent), "'{absent}' logged after BRAC_ActiveCallLog(FALSE):\n{log}");
    }
    assert!(out.contains("log off 0"), "{out}");
    assert!(out.ends_with("--- stderr ---\n"), "the log went to standard error:\n{out}");

    // A second run appends.
    let lines = log.lines().count();
    run_call_log(&dir, port, "logger2", &[], &[]);
    let again = read(&log_path);
    assert!(again.starts_with(&log) && again.lines().count() > lines, "not appended:\n{again}");

    // Off by default: a run that never turns it on writes no file.
    let quiet = TempDir::new("calllog-off");
    run_call_log(&quiet, port, "quiet", &["off"], &[]);
    assert!(!quiet.path().join("AnyChatCore.log").exists(), "a log file without BRAC_ActiveCallLog");
}

/// The environment turns the log on for an app that never calls
/// `BRAC_ActiveCallLog`: `ANYCHAT_LOG_FILE` names the file, `ANYCHAT_LOG`
/// the level, `ANYCHAT_LOG_STDERR=1` copies the lines to standard error.
/// Turned on that way, `BRAC_ActiveCallLog(FALSE)` does not turn it off.
#[test]
fn call_log_env_vars_turn_it_on_without_code_changes() {
    require_gcc();
    let dir = TempDir::new("calllog-env");
    let (_server, port) = start_server();
    let file = dir.path().join("custom.log");
    let file_str = file.to_string_lossy().into_owned();

    // The file only, at the default level: every call, the release's included.
    let out = run_call_log(&dir, port, "env1", &["off"], &[("ANYCHAT_LOG_FILE", &file_str)]);
    let log = read(&file);
    for want in
        ["BRAC_Connect -> 0", "BRAC_Login -> 0", "WM_GV_LOGINSYSTEM", "BRAC_GetUserName -> 0", "BRAC_Release -> 0"]
    {
        assert!(log.contains(want), "no '{want}' in:\n{log}");
    }
    assert!(!dir.path().join("AnyChatCore.log").exists(), "the default file was written too");
    assert!(out.ends_with("--- stderr ---\n"), "{out}");
    std::fs::remove_file(&file).unwrap();

    // Standard error too; BRAC_ActiveCallLog(FALSE) leaves it on.
    let envs = [("ANYCHAT_LOG_FILE", file_str.as_str()), ("ANYCHAT_LOG_STDERR", "1")];
    let out = run_call_log(&dir, port, "env2", &["on"], &envs);
    let log = read(&file);
    for text in [&log, &out] {
        assert!(text.contains("BRAC_Login -> 0") && text.contains("BRAC_Logout -> 0"), "{text}");
    }
    std::fs::remove_file(&file).unwrap();

    // ANYCHAT_LOG_STDERR=1 alone: the default file beside the app, and standard error.
    let out = run_call_log(&dir, port, "env3", &["off"], &[("ANYCHAT_LOG_STDERR", "1")]);
    assert!(out.contains("anychat::call: BRAC_Login -> 0"), "{out}");
    assert!(read(&dir.path().join("AnyChatCore.log")).contains("BRAC_Login -> 0"));

    // ANYCHAT_LOG=warn: no call lines (they are at info).
    let out = run_call_log(&dir, port, "env4", &["off"], &[("ANYCHAT_LOG_FILE", &file_str), ("ANYCHAT_LOG", "warn")]);
    let log = read(&file);
    assert!(!log.contains("BRAC_Login"), "info lines at level warn:\n{log}");
    assert!(out.ends_with("--- stderr ---\n"), "{out}");
}

// ----- the vendor-style hello program ------------------------------------------

/// The C++ flags the hello program builds with (as a vendor sample would,
/// plus the warnings).
const HELLO_FLAGS: &[&str] = &["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pthread"];

/// Builds `hello.cpp` with g++ against the vendor headers, runs one instance
/// per name in room 100 (each with `extra` arguments) and checks that each
/// drew every other's picture and its own top-down in RGB24 and RGB32, chatted, and
/// left, logged out and released cleanly.
fn run_hello(extra: &[&str]) {
    assert!(have_tool("g++"), "g++ is needed to build c_examples/hello.cpp (CI installs it)");
    let dir = TempDir::new("hello");
    let bin = dir.path().join("hello");
    compile("g++", HELLO_FLAGS, &source("hello.cpp"), &bin);
    let (mut server, port) = start_server();
    let port = port.to_string();
    let names = ["hello-alice", "hello-bob", "hello-carol"];
    let peers = (names.len() - 1).to_string();
    let mut procs: Vec<Proc> = names
        .iter()
        .map(|name| {
            let mut args = vec!["127.0.0.1", port.as_str(), name, "100", peers.as_str()];
            args.extend_from_slice(extra);
            Proc::spawn(name, &bin, &args)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let statuses: Vec<Option<ExitStatus>> = procs.iter_mut().map(|p| p.wait_exit(deadline)).collect();
    let mut outputs: Vec<String> = procs.iter_mut().map(|p| p.transcript()).collect();
    outputs.push(server.transcript());
    let all = outputs.join("");
    assert!(statuses.iter().all(|s| s.is_some_and(|s| s.success())), "hello failed: {statuses:?}\n{all}");
    for out in &outputs[..names.len()] {
        for line in
            ["init 0", "inputformat 0 0", "enterroom ret 0", "sent done", "leaveroom 0", "logout 0", "release 0"]
        {
            assert!(out.contains(&format!("stdout: {line}")), "no '{line}':\n{out}");
        }
        // Every other user's picture, drawn in both formats, first rows white.
        assert_eq!(out.matches(" rgb24 320x240 top=").count(), names.len() - 1, "{out}");
        assert_eq!(out.matches(" rgb32 320x240 top=").count(), names.len() - 1, "{out}");
        assert!(!out.contains("bad picture"), "{out}");
        // Its own picture too (self-view), upright, in both formats.
        assert!(out.contains("stdout: self-view drawn"), "no self-view:\n{out}");
        assert!(!out.contains("bad self-view"), "{out}");
        let me = out.split_whitespace().next().unwrap_or_default();
        for other in names.iter().filter(|n| **n != me) {
            assert!(out.contains(&format!("'hello from {other}'")), "no hello from {other}:\n{out}");
        }
        assert!(out.contains("stdout: hello done"), "{out}");
    }
    // The call log it turned on, beside the program.
    let log = read(&dir.path().join("AnyChatCore.log"));
    assert!(log.contains("BRAC_EnterRoom -> 0") && log.contains("BRAC_Release -> 0"), "{log}");
}

/// The hello program as an app that waits for each step's notification
/// before the next (Connect, then Login, then EnterRoom): every remote
/// picture arrives top-down with a positive `biHeight`.
#[test]
fn cpp_hello_stepwise_draws_every_peer_top_down() {
    run_hello(&["stepwise"]);
}

/// The hello program as the vendor's samples are written: Connect, Login
/// and EnterRoom one after another without waiting.
#[test]
fn cpp_hello_back_to_back_like_the_vendor_samples() {
    run_hello(&[]);
}

// ----- the vendor-style call center ---------------------------------------------

/// The call center of the vendor's samples: `callcenter_server.c` fills
/// every user's groups, friends and nick name from its login callback;
/// `callcenter.cpp` as a customer lists its friends in the group "Agents",
/// finds the agent online and calls it; the agent accepts a friend from its
/// group "Customers"; both enter the call's room, draw each other's
/// pictures top-down, and the customer hangs up.
#[test]
fn cpp_call_center_finds_an_agent_among_its_friends_and_calls_it() {
    use common::Server;

    assert!(have_tool("g++"), "g++ is needed to build c_examples/callcenter.cpp (CI installs it)");
    require_gcc();
    let dir = TempDir::new("callcenter");
    let (client_bin, server_bin) = (dir.path().join("callcenter"), dir.path().join("callcenter_server"));
    compile("g++", HELLO_FLAGS, &source("callcenter.cpp"), &client_bin);
    compile("gcc", C_FLAGS, &source("callcenter_server.c"), &server_bin);

    let server = Server::start(&[]);
    let core_addr = format!("127.0.0.1:{}", server.business_port);
    let state = server.state.0.to_string_lossy().into_owned();
    let env = [("ANYCHAT_CORE_ADDR", core_addr.as_str()), ("ANYCHAT_STATE_DIR", state.as_str())];
    let mut biz = Proc::spawn_with("callcenter_server", &server_bin, &[], &env, true);
    let deadline = Instant::now() + CALL_TIMEOUT;
    biz.expect_line("link up", deadline);

    let port = server.port.to_string();
    let mut agent = Proc::spawn("agent", &client_bin, &["127.0.0.1", &port, "agent-alice", "agent"]);
    let ia = agent.expect_line("ready ", deadline).trim_start_matches("ready ").to_string();
    biz.expect_line(&format!("login user={ia} name=agent-alice role=agent friends=0"), deadline);

    let mut customer = Proc::spawn("customer", &client_bin, &["127.0.0.1", &port, "customer-carol", "customer"]);
    let statuses = [customer.wait_exit(deadline), agent.wait_exit(deadline)];
    biz.close_stdin();
    let biz_status = biz.wait_exit(deadline);
    let (c_out, a_out, b_out) = (customer.transcript(), agent.transcript(), biz.transcript());
    let all = format!("{c_out}{a_out}{b_out}");
    assert!(statuses.iter().all(|s| s.is_some_and(|s| s.success())), "the call center failed: {statuses:?}\n{all}");
    assert!(biz_status.is_some_and(|s| s.success()), "callcenter_server ended with {biz_status:?}:\n{all}");

    // "login ID 0", the notification (not "login ret 0", the call's result).
    let ic = c_out
        .lines()
        .filter_map(|l| l.strip_prefix("customer stdout: login "))
        .find_map(|rest| rest.strip_suffix(" 0").filter(|id| id.parse::<u32>().is_ok()))
        .expect("a login notification")
        .to_string();
    // The customer found the agent through its lists and called it.
    for line in [
        format!("agent {ia} nick=alice status=1 (0)"),
        format!("request {ia} -> 0"),
        "enterroom ret 0".to_string(),
        format!("drawn {ia} 320x240"),
        format!("text {ia}->{ic} secret=0 'I see you'"),
        "finish -> 0".to_string(),
        format!("call event=4 user={ia} code=0"),
        "callcenter done".to_string(),
    ] {
        assert!(c_out.contains(&format!("customer stdout: {line}")), "no '{line}' from the customer:\n{all}");
    }
    // The agent accepted a customer among its friends and saw her.
    for line in [
        format!("call event=1 user={ic} code=0 flags=3 param=0 str=a question"),
        "reply 0 customer=1 -> 0".to_string(),
        format!("drawn {ic} 320x240"),
        format!("text {ic}->{ia} secret=0 'thank you'"),
        format!("call event=4 user={ic} code=0"),
        "callcenter done".to_string(),
    ] {
        assert!(a_out.contains(&format!("agent stdout: {line}")), "no '{line}' from the agent:\n{all}");
    }
    assert!(!all.contains("bad picture"), "{all}");
    // The business server filled both and saw the whole call.
    for line in [
        format!("login user={ic} name=customer-carol role=customer friends=1"),
        format!("request src={ic} tar={ia} -> 0"),
        format!("START src={ic} tar={ia} room="),
        format!("FINISH src={ic} tar={ia} code=0"),
        "callcenter_server done (release 0)".to_string(),
    ] {
        assert!(b_out.contains(&format!("callcenter_server stdout: {line}")), "no '{line}' from the server:\n{all}");
    }
    assert!(!b_out.contains("stdout: error "), "a BRAS_* call failed:\n{b_out}");
    assert!(!b_out.contains("stderr:"), "callcenter_server wrote to stderr:\n{b_out}");
}
