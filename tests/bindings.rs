//! The C#, Delphi / Free Pascal and Python bindings under `bindings/`: for
//! each, the binding's test program is built and places a real video call
//! between two processes (callee, then caller) against a running core
//! server: request, ringing, start, both enter the call's room, a text
//! message each way, finish, release.
//!
//! Toolchains: `mcs` + `mono` (Debian `mono-mcs`, `mono-runtime`), `fpc`
//! (Debian `fpc`), `python3` + pytest. A missing one is installed when
//! running as root with `CI` or `ANYCHAT_INSTALL_TOOLCHAINS` set (apt-get;
//! pytest with pip); if it still is not there, the test says so in a banner
//! on stderr and passes without running (`.ci/run` installs all of them).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

/// Longest a whole call may take (each party gives up by itself after 20 s).
const CALL_WAIT: Duration = Duration::from_secs(40);
/// Longest the pytest run may take (it runs a call of its own).
const PYTEST_WAIT: Duration = Duration::from_secs(90);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of `libanychat.so` (as `tests/install.rs` finds it).
fn lib_dir() -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_anychat-server")).parent().unwrap().to_path_buf();
    [bin_dir.join("deps"), bin_dir.clone()]
        .into_iter()
        .find(|d| d.join("libanychat.so").is_file())
        .expect("libanychat.so next to the test binaries")
}

/// `LD_LIBRARY_PATH` with the library's directory first.
fn ld_library_path() -> String {
    let mut path = lib_dir().display().to_string();
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
        path = format!("{path}:{}", old.to_string_lossy());
    }
    path
}

// ---- toolchains

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn have(tool: &str) -> bool {
    succeeds(Command::new("sh").args(["-c", &format!("command -v {tool}")]))
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Installing is allowed in CI or when asked for.
fn may_install() -> bool {
    env_set("CI") || env_set("ANYCHAT_INSTALL_TOOLCHAINS")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Serialises installations (the tests run in parallel; dpkg has one lock).
/// The flag says whether `apt-get update` already ran.
static INSTALL: Mutex<bool> = Mutex::new(false);

fn apt_get_install(packages: &[&str]) {
    if !(is_root() && may_install() && have("apt-get")) {
        return;
    }
    let mut updated = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !*updated {
        *updated = true;
        let _ = Command::new("apt-get").args(["update", "-qq"]).env("DEBIAN_FRONTEND", "noninteractive").status();
    }
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
}

/// Says loudly that a test did not run. Written straight to the process's
/// stderr: `eprintln!` in a passing test is captured and never shown.
fn skip(binding: &str, what: &str) {
    let bar = "!".repeat(78);
    let text = format!(
        "\n{bar}\n!!! SKIPPED: the {binding} binding test did not run: {what} not available.\n\
         !!! Install it, or run as root with CI=1 or ANYCHAT_INSTALL_TOOLCHAINS=1 (.ci/run does).\n{bar}\n"
    );
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// True when every tool is on PATH, after installing `packages` if not.
fn toolchain(binding: &str, tools: &[&str], packages: &[&str]) -> bool {
    if tools.iter().all(|t| have(t)) {
        return true;
    }
    apt_get_install(packages);
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    skip(binding, &format!("{} (Debian: {})", missing.join(", "), packages.join(" ")));
    false
}

fn pytest_available() -> bool {
    succeeds(Command::new("python3").args(["-m", "pytest", "--version"]))
}

fn python_toolchain() -> bool {
    if !toolchain("Python", &["python3"], &["python3"]) {
        return false;
    }
    if pytest_available() {
        return true;
    }
    if may_install() {
        let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("python3").args(["-m", "pip", "install", "-q", "pytest"]).status();
    }
    if !pytest_available() {
        // A distribution's own python3 may refuse pip: its package, then.
        apt_get_install(&["python3-pytest"]);
    }
    if pytest_available() {
        return true;
    }
    skip("Python", "pytest (python3 -m pip install pytest, or Debian python3-pytest)");
    false
}

// ---- processes

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("anychat-bindings-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a build step; panics with its output if it fails.
fn build(cmd: &mut Command) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pump(reader: impl Read + Send + 'static, tx: Sender<String>, prefix: &'static str) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(format!("{prefix}{line}")).is_err() {
                break;
            }
        }
    });
}

/// A child process whose stdout and stderr lines arrive on one channel,
/// which disconnects when the process has closed both (it has exited).
struct Party {
    name: String,
    child: Child,
    lines: Receiver<String>,
    transcript: Vec<String>,
}

impl Party {
    fn spawn(name: &str, mut cmd: Command) -> Party {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
        let (tx, lines) = crossbeam_channel::unbounded();
        pump(child.stdout.take().unwrap(), tx.clone(), "");
        pump(child.stderr.take().unwrap(), tx, "stderr: ");
        Party { name: name.into(), child, lines, transcript: Vec::new() }
    }

    fn report(&self) -> String {
        format!("--- {} printed:\n  {}", self.name, self.transcript.join("\n  "))
    }

    /// The first line starting with `prefix`, before `deadline`.
    fn expect(&mut self, prefix: &str, deadline: Instant) -> Result<String, String> {
        loop {
            match self.lines.recv_deadline(deadline) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if line.starts_with(prefix) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Err(format!("{}: no line '{prefix}' in time", self.name)),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    return Err(format!("{}: exited ({status}) before printing '{prefix}'", self.name));
                }
            }
        }
    }

    /// Collects the output until the process has exited, then its status;
    /// kills it at `deadline`.
    fn wait_exit(&mut self, deadline: Instant) -> Result<ExitStatus, String> {
        loop {
            match self.lines.recv_deadline(deadline) {
                Ok(line) => self.transcript.push(line),
                Err(RecvTimeoutError::Disconnected) => return self.child.wait().map_err(|e| e.to_string()),
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("{}: still running at the deadline, killed", self.name));
                }
            }
        }
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A core server on a free loopback port (no business listener), killed
/// when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_anychat-server"))
            .args(["--listen", "127.0.0.1:0", "--business-listen", "off", "--records", "off"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start anychat-server");
        let (tx, lines) = crossbeam_channel::unbounded();
        pump(child.stdout.take().unwrap(), tx, "");
        let first = lines.recv_timeout(Duration::from_secs(10)).expect("anychat-server printed no address");
        let port = first
            .strip_prefix("anychat-server listening on ")
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line of anychat-server: {first}"));
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server, the callee (`party(["callee", HOST, PORT, NAME])`),
/// waits for its `userid N`, starts the caller (`party(["caller", HOST,
/// PORT, NAME, N])`) and requires both to exit 0 after a complete call.
fn place_call(binding: &str, party: impl Fn(&[&str]) -> Command) {
    let server = Server::start();
    let port = server.port.to_string();
    let deadline = Instant::now() + CALL_WAIT;
    let mut callee = Party::spawn(&format!("{binding} callee"), party(&["callee", "127.0.0.1", &port, "bob"]));
    let uid = match callee.expect("userid ", deadline) {
        Ok(line) => line["userid ".len()..].trim().to_string(),
        Err(e) => panic!("{e}\n{}", callee.report()),
    };
    let mut caller = Party::spawn(&format!("{binding} caller"), party(&["caller", "127.0.0.1", &port, "alice", &uid]));
    let caller_status = caller.wait_exit(deadline);
    let callee_status = callee.wait_exit(deadline);
    let report = format!("{}\n{}", callee.report(), caller.report());
    for (who, status) in [("caller", &caller_status), ("callee", &callee_status)] {
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("{binding} {who} failed ({s})\n{report}"),
            Err(e) => panic!("{e}\n{report}"),
        }
    }
    assert!(caller.transcript.iter().any(|l| l == "caller done"), "{report}");
    assert!(callee.transcript.iter().any(|l| l == "callee done"), "{report}");
    drop(server);
}

// ---- the bindings

#[test]
fn csharp_binding_places_a_call() {
    if !toolchain("C#", &["mcs", "mono"], &["mono-mcs", "mono-runtime"]) {
        return;
    }
    let dir = root().join("bindings/csharp");
    let tmp = TempDir::new("csharp");
    let exe = tmp.0.join("CallTest.exe");
    build(
        Command::new("mcs")
            .arg("-warnaserror+")
            .arg(format!("-out:{}", exe.display()))
            .arg(dir.join("AnyChat.cs"))
            .arg(dir.join("CallTest.cs")),
    );
    place_call("C#", |args| {
        let mut cmd = Command::new("mono");
        cmd.arg(&exe).args(args).env("LD_LIBRARY_PATH", ld_library_path());
        cmd
    });
}

#[test]
fn delphi_binding_places_a_call() {
    if !toolchain("Delphi / Free Pascal", &["fpc"], &["fpc"]) {
        return;
    }
    let dir = root().join("bindings/delphi");
    let tmp = TempDir::new("delphi");
    // Units and the program go to the temporary directory, not the source tree.
    build(
        Command::new("fpc")
            .args(["-vewn", "-Sew"])
            .arg(format!("-Fu{}", dir.display()))
            .arg(format!("-FU{}", tmp.0.display()))
            .arg(format!("-FE{}", tmp.0.display()))
            .arg(format!("-Fl{}", lib_dir().display()))
            .arg(dir.join("calltest.pas")),
    );
    let exe = tmp.0.join("calltest");
    place_call("Delphi", |args| {
        let mut cmd = Command::new(&exe);
        cmd.args(args).env("LD_LIBRARY_PATH", ld_library_path());
        cmd
    });
}

#[test]
fn python_binding_places_a_call() {
    if !python_toolchain() {
        return;
    }
    let dir = root().join("bindings/python");
    let lib = lib_dir().join("libanychat.so");
    // The two parties directly, against a server of this test…
    place_call("Python", |args| {
        let mut cmd = Command::new("python3");
        cmd.arg("-B")
            .arg(dir.join("call_party.py"))
            .args(args)
            .env("ANYCHAT_LIB", &lib)
            .env("LD_LIBRARY_PATH", ld_library_path());
        cmd
    });
    // …and the binding's own pytest test, which starts its server itself.
    let mut pytest = Command::new("python3");
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(dir.join("test_call.py"))
        .current_dir(root())
        .env("ANYCHAT_SERVER", env!("CARGO_BIN_EXE_anychat-server"))
        .env("ANYCHAT_LIB", &lib)
        .env("LD_LIBRARY_PATH", ld_library_path())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let mut run = Party::spawn("pytest", pytest);
    match run.wait_exit(Instant::now() + PYTEST_WAIT) {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("pytest failed ({s})\n{}", run.report()),
        Err(e) => panic!("{e}\n{}", run.report()),
    }
}
