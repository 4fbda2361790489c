//! `scripts/install.sh` into a temporary prefix, then a C program built with
//! `pkg-config --cflags --libs anychatcore anychatserversdk` links and runs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn lib_path() -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_anychat-server")).parent().unwrap().to_path_buf();
    [bin_dir.join("deps"), bin_dir.clone()]
        .into_iter()
        .map(|d| d.join("libanychat.so"))
        .find(|p| p.is_file())
        .expect("libanychat.so next to the test binaries")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Installs once per test process into a temporary prefix; returns it.
fn installed_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let prefix = std::env::temp_dir().join(format!("anychat-install-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&prefix);
        run(Command::new(root.join("scripts/install.sh"))
            .env("PREFIX", &prefix)
            .env("LIB", lib_path())
            .env("BIN", env!("CARGO_BIN_EXE_anychat-server"))
            .env("LDCONFIG", "0"));
        // As after ldconfig: the loader finds the SONAME links in the library directory.
        run(Command::new("ldconfig").arg("-n").arg(prefix.join("lib")));
        prefix
    })
}

fn pkg_config(prefix: &Path, libs: &[&str]) -> Vec<String> {
    let flags = run(Command::new("pkg-config")
        .args(["--cflags", "--libs"])
        .args(libs)
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    flags.split_whitespace().map(String::from).collect()
}

/// The C++ legacy-style sample (vendor header names, a class derived from
/// CBRAnyChatSDKProc, default arguments, `DWORD&`), built with
/// `g++ -Wall -Werror` and `-lanychatcore` from the installed prefix,
/// places a call with a text exchange between two processes.
#[test]
fn cpp_legacy_sample_places_a_call_against_the_installed_library() {
    let prefix = installed_prefix();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = prefix.join("legacy_sample");
    let mut gxx = Command::new("g++");
    gxx.args(["-std=c++11", "-Wall", "-Wextra", "-Werror"])
        .arg(root.join("c_examples/legacy_sample.cpp"))
        .arg("-o")
        .arg(&exe)
        .args(pkg_config(prefix, &["anychatcore"]));
    run(&mut gxx);
    let needed = run(Command::new("readelf").arg("-d").arg(&exe));
    assert!(needed.contains("[libanychatcore.so.0]"), "{needed}");

    let server = common::Server::start(&[]);
    let port = server.port.to_string();
    let lib = prefix.join("lib");
    let mut callee = Command::new(&exe)
        .args(["callee", "127.0.0.1", &port, "bob"])
        .env("LD_LIBRARY_PATH", &lib)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start callee");
    let (tx, rx) = crossbeam_channel::unbounded();
    let out = callee.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut transcript = Vec::new();
    let callee_id = loop {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("callee logs in");
        transcript.push(line.clone());
        if let Some(rest) = line.strip_prefix("login ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let caller = Command::new(&exe)
        .args(["caller", "127.0.0.1", &port, "alice", &callee_id])
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .expect("run caller");
    let caller_out = format!("{}{}", String::from_utf8_lossy(&caller.stdout), String::from_utf8_lossy(&caller.stderr));
    // The callee ends by itself once the call is finished.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = callee.try_wait().unwrap() {
            break status;
        }
        match rx.recv_deadline(deadline) {
            Ok(line) => transcript.push(line),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break callee.wait().unwrap(),
            Err(_) => {
                let _ = callee.kill();
                panic!("callee did not finish:\n{}\ncaller:\n{caller_out}", transcript.join("\n"));
            }
        }
    };
    transcript.extend(rx.try_iter());
    assert!(caller.status.success(), "caller failed:\n{caller_out}");
    assert!(caller_out.contains("text") && caller_out.contains("hello back from the callee"), "{caller_out}");
    assert!(status.success(), "callee failed:\n{}", transcript.join("\n"));
    assert!(transcript.iter().any(|l| l.contains("'hello from the caller'")), "{}", transcript.join("\n"));
}

#[test]
fn install_into_a_prefix_and_link_with_pkg_config() {
    for tool in ["patchelf", "pkg-config", "gcc"] {
        assert!(
            Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success()),
            "{tool} is needed (.ci/run installs it)"
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prefix = installed_prefix();
    let lib = prefix.join("lib");
    // One real file, stripped, under both vendor names.
    let real = std::fs::canonicalize(lib.join("libanychatcore.so")).unwrap();
    for name in ["libanychatcore.so", "libanychatcore.so.0", "libanychatserversdk.so", "libanychatserversdk.so.0"] {
        assert!(std::fs::symlink_metadata(lib.join(name)).unwrap().file_type().is_symlink(), "{name} is a symlink");
        assert_eq!(std::fs::canonicalize(lib.join(name)).unwrap(), real, "{name} names the one library");
    }
    let files: Vec<_> = std::fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()) && e.file_name().to_string_lossy().contains(".so"))
        .map(|e| e.file_name())
        .collect();
    assert_eq!(files.len(), 1, "one library file: {files:?}");
    let dynamic = run(Command::new("readelf").arg("-d").arg(&real));
    assert!(dynamic.contains("Library soname: [libanychatcore.so.0]"), "{dynamic}");
    let sections = run(Command::new("readelf").arg("-S").arg(&real));
    assert!(!sections.contains(".debug_info") && !sections.contains(".symtab"), "not stripped: {sections}");
    let unit = std::fs::read_to_string(lib.join("systemd/system/anychat-server.service")).unwrap();
    assert!(unit.contains(&format!("ExecStart={}/bin/anychat-server", prefix.display())), "{unit}");
    assert!(unit.contains("LimitNOFILE=") && unit.contains("ExecReload=/bin/kill -HUP $MAINPID"), "{unit}");
    assert!(prefix.join("bin/anychat-server").is_file());

    let flags = pkg_config(prefix, &["anychatcore", "anychatserversdk"]).join(" ");
    let exe = prefix.join("pkgconfig_check");
    let mut gcc = Command::new("gcc");
    gcc.args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
        .arg(root.join("c_examples/pkgconfig_check.c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace());
    run(&mut gcc);
    let needed = run(Command::new("readelf").arg("-d").arg(&exe));
    assert!(needed.contains("[libanychatcore.so.0]"), "linked by SONAME: {needed}");
    let out = run(Command::new(&exe).env("LD_LIBRARY_PATH", &lib));
    assert!(out.starts_with("linked anychat-rs "), "{out}");
}
