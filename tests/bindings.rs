//! The C#, Delphi / Free Pascal and Python bindings under `bindings/`.
//!
//! C# and Python: the binding is built and packaged as a user gets it (C#:
//! `AnyChat.dll` by mcs, its NuGet package, an app written in the vendor's
//! style compiled against it; Python: a wheel built with pip and installed
//! into a temporary directory), every declared function is resolved in the
//! library, then three processes written in that language run against a
//! real `anychat-server`: a business server (`BRAS_*`) that refuses the
//! first call request and lets the next ring, a callee and a caller. The
//! parties feed pictures through external input, check each other's decoded
//! frames in the video data callback, exchange a text message and hang up
//! (`bindings/csharp/VideoCall.cs`, `bindings/python/examples/videocall.py`).
//! Delphi / Free Pascal: the unit with every declaration compiles, and its
//! test program places a call between two processes.
//!
//! Toolchains: `mcs` + `mono` (Debian `mono-mcs`, `mono-runtime`), `fpc`
//! (Debian `fpc`), `python3` with pip, setuptools, wheel and pytest. A
//! missing one is installed when running as root with `CI` or
//! `ANYCHAT_INSTALL_TOOLCHAINS` set (apt-get; pip); if it still is not there
//! the test fails and says what to install (`.ci/run` installs all of them).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use common::{Server, TempDir};

/// Longest a whole call may take (each party gives up by itself after 20 s).
const CALL_WAIT: Duration = Duration::from_secs(40);
/// Longest the binding's own unit tests (pytest) may take.
const PYTEST_WAIT: Duration = Duration::from_secs(60);

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

/// Panics unless every tool is on PATH (after installing `packages` if
/// allowed), naming what to install.
fn toolchain(binding: &str, tools: &[&str], packages: &[&str]) {
    if tools.iter().all(|t| have(t)) {
        return;
    }
    apt_get_install(packages);
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    assert!(
        missing.is_empty(),
        "the {binding} binding test needs {} (Debian: {}); install it, or run as root with CI=1 or \
         ANYCHAT_INSTALL_TOOLCHAINS=1 (.ci/run does)",
        missing.join(", "),
        packages.join(" ")
    );
}

fn python_has(module: &str) -> bool {
    succeeds(Command::new("python3").args(["-c", &format!("import {module}")]))
}

/// python3 with pip, setuptools, wheel (to build the wheel) and pytest.
fn python_toolchain() {
    toolchain("Python", &["python3"], &["python3", "python3-pip"]);
    let modules = [
        ("pip", "python3-pip"),
        ("setuptools", "python3-setuptools"),
        ("wheel", "python3-wheel"),
        ("pytest", "python3-pytest"),
    ];
    for (module, package) in modules {
        if python_has(module) {
            continue;
        }
        if may_install() && module != "pip" {
            let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
            let _ = Command::new("python3").args(["-m", "pip", "install", "-q", module]).status();
        }
        if !python_has(module) {
            // A distribution's own python3 may refuse pip: its package, then.
            apt_get_install(&[package]);
        }
        assert!(
            python_has(module),
            "the Python binding test needs the python3 module {module} (python3 -m pip install {module}, or \
             Debian {package})"
        );
    }
}

// ---- processes

/// Runs a build step; panics with its output if it fails. Returns stdout.
fn build(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    transcript: Vec<String>,
}

impl Party {
    /// Starts `cmd`; its stdin stays open until [`Party::close_stdin`].
    fn spawn(name: &str, mut cmd: Command) -> Party {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
        let (tx, lines) = crossbeam_channel::unbounded();
        pump(child.stdout.take().unwrap(), tx.clone(), "");
        pump(child.stderr.take().unwrap(), tx, "stderr: ");
        let stdin = child.stdin.take();
        Party { name: name.into(), child, stdin, lines, transcript: Vec::new() }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn report(&self) -> String {
        format!("--- {} printed:\n  {}", self.name, self.transcript.join("\n  "))
    }

    fn saw(&self, prefix: &str) -> bool {
        self.transcript.iter().any(|l| l.starts_with(prefix))
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

    /// Waits for a successful exit; panics with `report` otherwise.
    fn succeed(&mut self, deadline: Instant, report: impl Fn(&Party) -> String) {
        match self.wait_exit(deadline) {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("{} failed ({s})\n{}", self.name, report(self)),
            Err(e) => panic!("{e}\n{}", report(self)),
        }
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server, the callee (`party(["callee", HOST, PORT, NAME])`),
/// waits for its `userid N`, starts the caller (`party(["caller", HOST,
/// PORT, NAME, N])`) and requires both to exit 0 after a complete call.
/// With `business`, first a business server (`party(["bras"])`, linked to
/// the server through the environment) which must refuse the first call
/// request and let the second ring.
fn place_call(binding: &str, business: bool, party: impl Fn(&[&str]) -> Command) -> Transcripts {
    let server = Server::start(&[]);
    let port = server.port.to_string();
    let deadline = Instant::now() + CALL_WAIT;
    let mut bras = business.then(|| {
        let mut cmd = party(&["bras"]);
        cmd.env("ANYCHAT_CORE_ADDR", format!("127.0.0.1:{}", server.business_port))
            .env("ANYCHAT_BUSINESS_SECRET", server.secret());
        let mut bras = Party::spawn(&format!("{binding} business server"), cmd);
        if let Err(e) = bras.expect("link up", deadline) {
            panic!("{e}\n{}", bras.report());
        }
        bras
    });
    let mut callee = Party::spawn(&format!("{binding} callee"), party(&["callee", "127.0.0.1", &port, "bob"]));
    let uid = match callee.expect("userid ", deadline) {
        Ok(line) => line["userid ".len()..].trim().to_string(),
        Err(e) => panic!("{e}\n{}", callee.report()),
    };
    let mut caller = Party::spawn(&format!("{binding} caller"), party(&["caller", "127.0.0.1", &port, "alice", &uid]));
    let caller_status = caller.wait_exit(deadline);
    let callee_status = callee.wait_exit(deadline);
    if let Some(b) = bras.as_mut() {
        b.close_stdin();
        let _ = b.wait_exit(deadline);
    }
    let mut report = format!("{}\n{}", callee.report(), caller.report());
    if let Some(b) = &bras {
        report = format!("{}\n{report}", b.report());
    }
    for (who, status) in [("caller", &caller_status), ("callee", &callee_status)] {
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("{binding} {who} failed ({s})\n{report}"),
            Err(e) => panic!("{e}\n{report}"),
        }
    }
    assert!(caller.saw("caller done") && callee.saw("callee done"), "{report}");
    if let Some(b) = &bras {
        // What each user saw: the caller's first request refused, the
        // second one ringing at the callee, pictures and text both ways.
        assert!(b.saw("bras done"), "{report}");
        let answers: Vec<&String> = b.transcript.iter().filter(|l| l.starts_with("request ")).collect();
        assert_eq!(answers.len(), 2, "{report}");
        assert!(answers[0].ends_with("str=first -> 100104") && answers[1].ends_with("str=second -> 0"), "{report}");
        assert!(caller.saw("refused 100104"), "{report}");
        let rang: Vec<&String> = callee.transcript.iter().filter(|l| l.starts_with("rang from ")).collect();
        assert!(rang.len() == 1 && rang[0].ends_with(" str=second"), "{report}");
        for p in [&caller, &callee] {
            assert!(p.saw("picture ok from ") && p.saw("text from "), "{report}");
        }
        assert!(callee.transcript.iter().any(|l| l.ends_with(": héllo from the caller")), "{report}");
        assert!(caller.transcript.iter().any(|l| l.ends_with(": héllo from the callee")), "{report}");
    }
    drop(server);
    Transcripts {
        bras: bras.map(|b| b.transcript.clone()).unwrap_or_default(),
        callee: callee.transcript.clone(),
        caller: caller.transcript.clone(),
        report,
    }
}

/// What each party of `place_call` printed, and all of it as one report.
struct Transcripts {
    bras: Vec<String>,
    callee: Vec<String>,
    caller: Vec<String>,
    report: String,
}

// ---- the bindings

/// Builds `AnyChat.dll` (with its XML documentation where `doc` names a
/// file) and the programs `apps` (`bindings/csharp/<app>.cs` ->
/// `<out>/<app>.exe`) against it, warnings as errors.
fn csharp_build(out: &Path, doc: Option<&Path>, apps: &[&str]) {
    let dir = root().join("bindings/csharp");
    let dll = out.join("AnyChat.dll");
    let mut lib = Command::new("mcs");
    lib.args(["-target:library", "-warnaserror+", "-nowarn:1591"]);
    if let Some(doc) = doc {
        lib.arg(format!("-doc:{}", doc.display()));
    }
    build(
        lib.arg(format!("-out:{}", dll.display()))
            .args(["AnyChatSDK.g.cs", "AnyChatSDK.cs", "AnyChat.cs"].map(|f| dir.join(f))),
    );
    for app in apps {
        build(
            Command::new("mcs")
                .arg("-warnaserror+")
                .arg(format!("-r:{}", dll.display()))
                .arg(format!("-out:{}", out.join(format!("{app}.exe")).display()))
                .arg(dir.join(format!("{app}.cs"))),
        );
    }
}

#[test]
fn csharp_binding_builds_packs_and_places_a_vetoed_then_ringing_call() {
    toolchain("C#", &["mcs", "mono", "python3"], &["mono-mcs", "mono-runtime", "python3"]);
    let dir = root().join("bindings/csharp");
    let tmp = TempDir::new("bindings-csharp");
    let out = |name: &str| tmp.0.join(name);
    // The class library (with its XML documentation), as the package ships it,
    // and apps against it: the one written like the vendor's demos and the call.
    csharp_build(&tmp.0, Some(&out("AnyChat.xml")), &["VendorApp", "VideoCall"]);
    // Its NuGet package.
    let nupkg = build(Command::new("python3").arg("-B").arg(dir.join("pack.py")).arg(&tmp.0).arg(&tmp.0));
    let nupkg = PathBuf::from(nupkg.trim());
    let listing = build(Command::new("python3").args(["-m", "zipfile", "-l"]).arg(&nupkg));
    for part in ["AnyChat.nuspec", "lib/net45/AnyChat.dll", "lib/net45/AnyChat.xml", "[Content_Types].xml"] {
        assert!(listing.contains(part), "{} lacks {part}:\n{listing}", nupkg.display());
    }
    let mono = |exe: &str| {
        let mut cmd = Command::new("mono");
        cmd.arg(out(exe)).env("LD_LIBRARY_PATH", ld_library_path());
        cmd
    };
    let offline = build(mono("VendorApp.exe").arg("offline"));
    assert!(offline.contains("before init 2"), "{offline}");
    // Every declaration resolves in the library.
    let symbols = build(mono("VideoCall.exe").arg("symbols"));
    assert!(symbols.contains("Core functions 111 delegates 24"), "{symbols}");
    assert!(symbols.contains("Server functions 34 delegates 18"), "{symbols}");
    assert!(symbols.contains("AnyChatCoreSDK delegates 26 "), "{symbols}");
    assert!(symbols.contains("AnyChatServerSDK delegates 18 "), "{symbols}");
    place_call("C#", true, |args| {
        let mut cmd = mono("VideoCall.exe");
        cmd.args(args);
        cmd
    });
}

#[test]
fn csharp_vendor_style_app_places_a_call_with_a_business_server() {
    toolchain("C#", &["mcs", "mono"], &["mono-mcs", "mono-runtime"]);
    let tmp = TempDir::new("bindings-csharp-vendor");
    let out = |name: &str| tmp.0.join(name);
    csharp_build(&tmp.0, None, &["VendorApp"]);
    let t = place_call("C# vendor-style", true, |args| {
        let mut cmd = Command::new("mono");
        cmd.arg(out("VendorApp.exe")).args(args).env("LD_LIBRARY_PATH", ld_library_path());
        cmd
    });
    let report = &t.report;
    // The business server's VerifyUser handler gave the ids (ref int), the
    // clients saw them (WM_GV_LOGINSYSTEM, BRAC_USERSTATE_SELFUSERID).
    for line in ["verify alice -> 1001", "verify bob -> 1002", "login bob 1002 level 1"] {
        assert!(t.bras.iter().any(|l| l == line), "no '{line}'\n{report}");
    }
    assert!(t.callee.iter().any(|l| l == "userid 1002"), "{report}");
    assert!(t.callee.iter().any(|l| l.starts_with("rang from 1001 ")), "{report}");
    // Each found the other in the room by name (GetOnlineUser, GetUserName).
    assert!(t.callee.iter().any(|l| l.ends_with(" with alice (1 other users)")), "{report}");
    assert!(t.caller.iter().any(|l| l.ends_with(" with bob (1 other users)")), "{report}");
    assert!(!t.callee.iter().chain(&t.caller).any(|l| l.starts_with("bad user value")), "{report}");
}

#[test]
fn delphi_binding_compiles_and_places_a_call() {
    toolchain("Delphi / Free Pascal", &["fpc"], &["fpc"]);
    let dir = root().join("bindings/delphi");
    let tmp = TempDir::new("bindings-delphi");
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
    place_call("Delphi", false, |args| {
        let mut cmd = Command::new(&exe);
        cmd.args(args).env("LD_LIBRARY_PATH", ld_library_path());
        cmd
    });
}

/// Copies the files of `from` (a directory tree) into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_tree(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn python_binding_installs_from_a_wheel_and_places_a_vetoed_then_ringing_call() {
    python_toolchain();
    let dir = root().join("bindings/python");
    let tmp = TempDir::new("bindings-python");
    // The wheel, built from a copy (setuptools writes build/ and *.egg-info
    // next to the sources) without network access, then installed.
    let src = tmp.0.join("src");
    copy_tree(&dir, &src);
    let dist = tmp.0.join("dist");
    build(
        Command::new("python3")
            .args(["-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "--no-index", "-w"])
            .arg(&dist)
            .arg(&src),
    );
    let wheel = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("pip wheel made no .whl");
    let site = tmp.0.join("site");
    build(
        Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target"])
            .arg(&site)
            .arg(&wheel),
    );
    let python = |args: &[&std::ffi::OsStr]| {
        let mut cmd = Command::new("python3");
        cmd.arg("-B")
            .args(args)
            .env("PYTHONPATH", &site)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("ANYCHAT_LIB_DIR", lib_dir())
            .env_remove("ANYCHAT_LIB")
            .current_dir(&tmp.0);
        cmd
    };
    // The package's own tests, against the installed package.
    let mut cmd = python(&["-m", "pytest", "-q", "-p", "no:cacheprovider"].map(std::ffi::OsStr::new));
    cmd.arg(dir.join("tests")).arg(format!("--rootdir={}", tmp.0.display()));
    let mut pytest = Party::spawn("pytest", cmd);
    pytest.close_stdin();
    pytest.succeed(Instant::now() + PYTEST_WAIT, Party::report);
    let example = dir.join("examples/videocall.py");
    place_call("Python", true, |args| {
        let mut cmd = python(&[example.as_os_str()]);
        cmd.args(args);
        cmd
    });
}
