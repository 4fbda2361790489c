//! Running the server as an operator does: its settings from flags,
//! `ANYCHAT_*` variables and a TOML file (precedence, and every kind of bad
//! value refused at start naming where it came from), the drain on SIGTERM
//! (calls in progress end with FINISH at the drain time, seen by both
//! parties and the business server; new logins and calls refused
//! meanwhile), SIGHUP reloading the file, `--version`, a busy port named.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Bras, Cli, Server, TempDir, WAIT};

/// The drain's code (`GV_ERR_CONNECT_OVERFLOW`).
const DRAIN: u32 = 104;

fn server_cmd(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anychat-server"));
    // Only what the test gives: no variable of the developer's shell.
    for (k, _) in std::env::vars() {
        if k.starts_with("ANYCHAT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).envs(env.iter().copied()).output().expect("run anychat-server")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `--print-config` with `args`, `env` and a file: the line of each key.
fn effective(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut all = vec!["--print-config"];
    all.extend(args);
    let o = server_cmd(&all, env);
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap().lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

fn has(lines: &[String], want: &str) -> bool {
    lines.iter().any(|l| l == want)
}

#[test]
fn settings_precedence_flag_env_file_default() {
    let dir = TempDir::new("config");
    let file = dir.0.join("server.toml");
    std::fs::write(
        &file,
        "ring-timeout = 20\nkeepalive_timeout = 7.5\nlogin-timeout = 9\nrate = [\"call=5\", \"text=10,4096\"]\n\
         require-business = true\nlisten = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let env = [("ANYCHAT_RING_TIMEOUT", "33"), ("ANYCHAT_LOGIN_TIMEOUT", "8"), ("ANYCHAT_MAX_MEDIA", "")];
    let lines = effective(&["--config", f, "--ring-timeout", "44"], &env);
    let lines_str = lines.join("\n");
    // flag > env > file > default, and the source of each.
    assert!(has(&lines, "ring-timeout = 44 # command line"), "{lines_str}");
    assert!(has(&lines, "login-timeout = 8 # environment"), "{lines_str}");
    assert!(has(&lines, "keepalive-timeout = 7.5 # config file"), "{lines_str}");
    assert!(has(&lines, "listen = \"127.0.0.1:9999\" # config file"), "{lines_str}");
    assert!(has(&lines, "rate = [\"call=5\", \"text=10,4096\"] # config file"), "{lines_str}");
    assert!(has(&lines, "require-business = true # config file"), "{lines_str}");
    // An empty variable counts as unset.
    assert!(has(&lines, "max-media = 262144 # default"), "{lines_str}");
    assert!(has(&lines, "business-timeout = 5 # default"), "{lines_str}");
    // ANYCHAT_CONFIG names the file; env switches and repeatable values.
    let env = [
        ("ANYCHAT_CONFIG", f),
        ("ANYCHAT_REQUIRE_BUSINESS", "off"),
        ("ANYCHAT_RATE", "call=1 room=2,100"),
        ("ANYCHAT_NO_RATE_LIMITS", "yes"),
    ];
    let lines = effective(&[], &env);
    let lines_str = lines.join("\n");
    assert!(has(&lines, "ring-timeout = 20 # config file"), "{lines_str}");
    assert!(has(&lines, "require-business = false # environment"), "{lines_str}");
    assert!(has(&lines, "no-rate-limits = true # environment"), "{lines_str}");
    assert!(has(&lines, "rate = [\"call=1\", \"room=2,100\"] # environment"), "{lines_str}");
    // What --print-config prints is a file that gives the same settings.
    let o = server_cmd(&["--print-config"], &env);
    let again = dir.0.join("again.toml");
    std::fs::write(&again, &o.stdout).unwrap();
    let lines = effective(&["--config", again.to_str().unwrap()], &[]);
    assert!(has(&lines, "rate = [\"call=1\", \"room=2,100\"] # config file"), "{}", lines.join("\n"));
    assert!(has(&lines, "ring-timeout = 20 # config file"), "{}", lines.join("\n"));
}

#[test]
fn every_bad_setting_is_refused_at_start_naming_it() {
    let dir = TempDir::new("config-bad");
    let file = dir.0.join("bad.toml");
    let f = file.to_str().unwrap().to_string();
    // (file content, environment, flags, what stderr must say)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: &[Case] = &[
        ("ringtimeout = 3", &[], &[], "unknown key `ringtimeout`"),
        ("ring-timeout = 'soon'", &[], &[], "key `ring-timeout`: invalid value 'soon'"),
        ("ring-timeout = -1", &[], &[], "key `ring-timeout`: invalid value '-1'"),
        ("ring-timeout = [1]", &[], &[], "key `ring-timeout`: expected one value, found an array"),
        ("require-business = 'yes'", &[], &[], "key `require-business`: expected true or false"),
        ("rate = ['call=x']", &[], &[], "key `rate`: invalid value 'call=x'"),
        ("rate-action = 'shout'", &[], &[], "key `rate-action`: invalid value 'shout'"),
        ("log-level = 'verbose'", &[], &[], "key `log-level`: invalid value 'verbose'"),
        ("log-format = 'xml'", &[], &[], "key `log-format`: invalid value 'xml'"),
        ("listen = 'nowhere'", &[], &[], "key `listen`: invalid value 'nowhere'"),
        ("config = 'other.toml'", &[], &[], "key `config` cannot be set in the file"),
        ("ring-timeout = ", &[], &[], "TOML parse error at line 1"),
        ("[server]\nlisten = '127.0.0.1:1'", &[], &[], "unknown key `server`"),
        ("listen = { port = 1 }", &[], &[], "key `listen`: expected a value, found table"),
        (
            "",
            &[("ANYCHAT_LOG_LEVEL", "verbose")],
            &[],
            "environment variable ANYCHAT_LOG_LEVEL: invalid value 'verbose'",
        ),
        ("", &[("ANYCHAT_MAX_OUTPUT", "0")], &[], "environment variable ANYCHAT_MAX_OUTPUT: invalid value '0'"),
        ("", &[("ANYCHAT_BUSINESS_TLS", "maybe")], &[], "ANYCHAT_BUSINESS_TLS: 'maybe' is not a switch value"),
        ("", &[("RUST_LOG", "verbose")], &[], "environment variable RUST_LOG: 'verbose' is not a log level"),
        ("", &[], &["--log-level", "verbose"], "invalid value 'verbose' for '--log-level"),
        ("", &[], &["--drain-timeout", "forever"], "invalid value 'forever' for '--drain-timeout"),
    ];
    for (content, env, flags, want) in cases {
        std::fs::write(&file, content).unwrap();
        let mut args = vec!["--config", f.as_str(), "--listen", "127.0.0.1:0", "--business-listen", "off"];
        args.extend(flags.iter());
        let o = server_cmd(&args, env);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{content:?} {env:?} {flags:?}: exit code; stderr: {err}");
        assert!(err.contains(want), "{content:?} {env:?} {flags:?}: stderr lacks '{want}': {err}");
        assert!(o.stdout.is_empty(), "nothing started: {}", String::from_utf8_lossy(&o.stdout));
    }
    // A named file that does not exist.
    let o = server_cmd(&["--config", "/nonexistent/anychat.toml"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read the config file /nonexistent/anychat.toml"), "{}", stderr(&o));
    // RUST_LOG is honoured when --log-level is not given, a given one wins.
    let o = server_cmd(&["--print-config"], &[("RUST_LOG", "anychat=debug")]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn version_shows_the_commit_and_a_busy_port_is_named() {
    let o = server_cmd(&["--version"], &[]);
    assert!(o.status.success());
    let v = String::from_utf8_lossy(&o.stdout);
    assert!(v.starts_with("anychat-server ") && v.contains("(commit "), "{v}");
    // The business port busy: the message names that listener.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let o = server_cmd(&["--listen", "127.0.0.1:0", "--business-listen", &addr, "--business-secret", "s"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(&format!("business listener {addr} (--business-listen)")), "{err}");
    let o = server_cmd(&["--listen", &addr, "--business-listen", "off"], &[]);
    assert!(stderr(&o).contains(&format!("client listener {addr} (--listen)")), "{}", stderr(&o));
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// A calls B, B accepts: both at START.
fn call_to_start(a: &mut Cli, b: &mut Cli) {
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    assert_eq!(b.cmd(&format!("reply {} 0", a.user_id)), 0);
    a.expect_call("START", b.user_id, 0);
    b.expect_call("START", a.user_id, 0);
}

/// SIGTERM: new logins and calls are refused with 104, the calls in
/// progress go on and end with FINISH(104) at the drain time, which the
/// business server sees too; then the server exits with 0.
#[test]
fn sigterm_drains_calls_until_the_drain_timeout_then_exits() {
    let mut server = Server::start(&["--drain-timeout", "2"]);
    let mut bras = Bras::start(&server, &[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    let mut c = Cli::login(&server, "carol", &[]);
    let d = Cli::login(&server, "dave", &[]);
    call_to_start(&mut a, &mut b);
    bras.expect(&format!("note START src={} tar={} ", a.user_id, b.user_id));

    let t0 = Instant::now();
    server.signal(libc::SIGTERM);
    server.expect_log("draining: no more logins nor calls");
    // New calls and logins are refused meanwhile.
    assert_eq!(c.cmd(&format!("request {}", d.user_id)), 0);
    c.expect_call("REPLY", d.user_id, DRAIN);
    let (_late, id, code) = Cli::try_login(&server, "late", &[]);
    assert_eq!((id, code), (0, DRAIN), "a login while draining");
    // The call goes on until the drain time, then both parties get FINISH.
    a.expect_call("FINISH", b.user_id, DRAIN);
    let ended = t0.elapsed();
    b.expect_call("FINISH", a.user_id, DRAIN);
    assert!(ended >= Duration::from_millis(1900), "FINISH after {ended:?}, before the drain time (2 s)");
    let note = bras.expect("note FINISH ");
    assert_eq!(field(&note, "src"), "0", "{note}");
    assert_eq!(field(&note, "code"), DRAIN.to_string(), "{note}");
    let status = server.wait_exit(WAIT);
    assert!(status.success(), "exit status {status:?}");
    assert!(server.log_contains("drained"));
}

/// A second SIGTERM ends the calls at once; with no call, the first one
/// stops the server at once.
#[test]
fn second_sigterm_ends_calls_at_once() {
    let mut server = Server::start(&["--drain-timeout", "600"]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    call_to_start(&mut a, &mut b);
    let t0 = Instant::now();
    server.signal(libc::SIGTERM);
    server.expect_log("draining");
    server.signal(libc::SIGTERM);
    a.expect_call("FINISH", b.user_id, DRAIN);
    b.expect_call("FINISH", a.user_id, DRAIN);
    assert!(server.wait_exit(WAIT).success());
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());

    let mut idle = Server::start(&["--drain-timeout", "600"]);
    let _c = Cli::login(&idle, "carol", &[]);
    idle.signal(libc::SIGINT);
    assert!(idle.wait_exit(WAIT).success());
}

/// SIGHUP reads the file again: the log says what changed, a new ring
/// time-out applies to the next call; a bad file changes nothing and the
/// server keeps running; a change of format waits for a restart.
#[test]
fn sighup_reloads_the_config_file() {
    let dir = TempDir::new("reload");
    let file = dir.0.join("server.toml");
    std::fs::write(&file, "ring-timeout = 60\n").unwrap();
    let server = Server::start(&["--config", file.to_str().unwrap()]);
    let mut a = Cli::login(&server, "alice", &[]);
    let b = Cli::login(&server, "bob", &[]);

    std::fs::write(&file, "ring-timeout = 1\nlog-level = \"debug\"\nlog-format = \"json\"\n").unwrap();
    server.signal(libc::SIGHUP);
    let line = server.expect_log("SIGHUP: settings reloaded");
    assert!(line.contains("ring-timeout: 60 -> 1") && line.contains("log-level: info -> debug"), "{line}");
    let line = server.expect_log("take effect at the next start");
    assert!(line.contains("log-format"), "{line}");
    // The new ring time-out: the call rings out after about a second.
    let t0 = Instant::now();
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    a.expect_call("REPLY", b.user_id, 0);
    a.expect_call("REPLY", b.user_id, 100105);
    assert!(t0.elapsed() < Duration::from_secs(5), "rang out after {:?}", t0.elapsed());
    // The debug level is in force: a connection accepted is a debug line.
    let _d = Cli::login(&server, "dave", &[]);
    assert!(server.expect_log(" accepted").contains("DEBUG"));

    // A bad file: refused, named, and the server goes on.
    std::fs::write(&file, "ring-timeout = 'never'\n").unwrap();
    server.signal(libc::SIGHUP);
    let line = server.expect_log("SIGHUP: settings refused, nothing changed");
    assert!(line.contains("key `ring-timeout`"), "{line}");
    let c = Cli::login(&server, "carol", &[]);
    assert!(c.user_id > 0);
}

// ----- the command-line clients for a person ---------------------------------

fn run_bin(exe: &str, args: &[&str]) -> Output {
    Command::new(exe).args(args).stdin(std::process::Stdio::null()).output().expect("run")
}

#[test]
fn cli_help_and_version() {
    for (exe, name) in [
        (env!("CARGO_BIN_EXE_anychat-cli"), "anychat-cli"),
        (env!("CARGO_BIN_EXE_anychat-bras-cli"), "anychat-bras-cli"),
    ] {
        let o = run_bin(exe, &["--version"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && out.starts_with(&format!("{name} 0.")) && out.contains("(commit "), "{out}");
        let o = run_bin(exe, &["--help"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{name} --help exits 0: {o:?}");
        assert!(out.contains("usage:"), "{out}");
    }
    let o = run_bin(env!("CARGO_BIN_EXE_anychat-bras-cli"), &["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("--core ADDR") && out.contains("--ask"), "{out}");
}

/// Names instead of ids, `accept`, `refuse`, `hangup`, the call's room
/// entered on Start and the codes' names, as a person uses the client.
#[test]
fn cli_calls_by_name_for_a_person() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &["--interactive"]);
    let mut b = Cli::login(&server, "bob", &["--interactive"]);
    a.send("help");
    a.expect("commands (USER:");
    a.expect("ret help 0");
    // A name the server does not know is an error that says what to do.
    a.send("call zed");
    let error = a.expect("error unknown user 'zed'");
    assert!(error.contains("answered 205") && error.contains("give the id"), "{error}");
    // A name never seen here: the server tells its id
    // (BRAC_QueryInfoFromServer(USERIDBYNAME)).
    assert_eq!(a.cmd("call bob"), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    assert_eq!(b.cmd("refuse"), 0);
    a.expect_call("REPLY", b.user_id, 100104);
    // In one room, users know each other's names.
    assert_eq!(a.cmd("enter 1"), 0);
    assert_eq!(b.cmd("enter 1"), 0);
    a.expect("# bob (");
    assert_eq!(a.cmd("call bob"), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    b.expect(&format!("# alice ({}) is calling you: accept or refuse", a.user_id));
    assert_eq!(b.cmd("accept"), 0);
    let start = a.expect_call("START", b.user_id, 0);
    b.expect_call("START", a.user_id, 0);
    let room = field(&start, "param").to_string();
    // The call's room is entered on Start.
    a.expect("ret auto-enter 0");
    a.expect(&format!("notify ENTERROOM {room} 0"));
    b.expect(&format!("notify ENTERROOM {room} 0"));
    assert_eq!(a.cmd("hangup"), 0);
    b.expect_call("FINISH", a.user_id, 0);
    b.expect(&format!("# call with alice ({}) ended: 0 GV_ERR_SUCCESS", a.user_id));
    // Refused: the caller reads the code's name.
    assert_eq!(a.cmd("call bob"), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    assert_eq!(b.cmd("refuse"), 0);
    a.expect_call("REPLY", b.user_id, 100104);
    a.expect(&format!("# call with bob ({}) did not start: 100104 AC_ERROR_VIDEOCALL_REJECT", b.user_id));
    // Nothing to answer or end: said so.
    b.send("accept");
    b.expect("error accept: nobody is calling");
    a.send("hangup");
    a.expect("error hangup: no call");
    // A failed command's ret line carries the code's name.
    a.send("enter 0");
    let ret = a.expect("ret enter ");
    assert!(ret.split_whitespace().count() == 4 && ret.contains("GV_ERR_"), "{ret}");
}

/// `anychat-bras-cli --core ADDR --ask`: the address from the flag, and
/// each Request decided on its standard input.
#[test]
fn bras_cli_core_flag_and_decisions_from_its_prompt() {
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", &[]);
    // ANYCHAT_CORE_ADDR points nowhere: --core wins.
    let core = format!("127.0.0.1:{}", server.business_port);
    let mut bras = Bras::spawn("bras", 1, Some(&server.secret()), &["--core", &core, "--ask"]);
    bras.expect("link up");
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    bras.expect(&format!("ask REQUEST src={} tar={} ", a.user_id, b.user_id));
    bras.send("deny 4242");
    a.expect_call("REPLY", b.user_id, 4242);
    bras.expect("request REQUEST ");
    assert_eq!(a.cmd(&format!("request {}", b.user_id)), 0);
    bras.expect("ask REQUEST ");
    bras.send("allow");
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("REPLY", b.user_id, 0);
}
