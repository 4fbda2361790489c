//! `anychat-bras-cli`: a line-oriented business server built on the
//! `BRAS_*` C ABI, for people and test scripts.
//!
//! It connects to the core server named by `ANYCHAT_CORE_ADDR` (secret in
//! `ANYCHAT_BUSINESS_SECRET`), prints one line per callback, answers
//! questions as its options say, and reads commands on standard input:
//! `finish USER CODE [PARAM] [STR]`, `kick USER [CODE]`, `sendbuf USER TEXT`,
//! `sendroom ROOM TEXT`, `transbuf USER TEXT`, `setinfo USER ID VALUE`, `getinfo USER ID`,
//! `event TYPE USER CODE` (raw `BRAS_VideoCallControl`), the
//! `BRAS_UserInfoControl` codes `addgroup USER GROUP NAME`, `groupname USER
//! GROUP NAME` (ADDGROUP again: a rename), `delgroup USER GROUP`, `addfriend
//! USER FRIEND`, `delfriend USER FRIEND`, `setrelation USER GROUP FRIEND`,
//! `sync USER`, `blockip PATTERN`, `unblockip PATTERN`, `control USER CODE
//! WPARAM LPARAM [STR]` (any code), and `quit`.
//!
//! Options:
//! - `--refuse-to USER:CODE` — a Request to USER is answered CODE (repeatable);
//! - `--delay-ms MS` — the Request callback sleeps MS before answering (a hung business server);
//! - `--finish-on-start CODE` — on START, calls `BRAS_VideoCallControl(FINISH)`
//!   for the caller from inside the callback;
//! - `--verify-refuse NAME:CODE` — the login of NAME is refused with CODE (repeatable);
//! - `--verify-id NAME:ID` — NAME logs in with user id ID and level 7 (repeatable);
//! - `--prepare-refuse ROOM:CODE` — entering ROOM is refused with CODE (repeatable);
//! - `--timer-ms MS` — prints `timer` every MS milliseconds;
//! - `--call-center` — fills friends and groups from inside the login
//!   callback as the vendor's call-center sample does: the newcomer gets
//!   groups 1 "agents" and 2 "guests", every user online as a friend (in
//!   group 2 when its name starts with `guest`, else 1) and infos 1 (its
//!   name) and 2 (its address); every user online gets the newcomer the same
//!   way; each is sent SYNCDATA. Prints `callcenter user=U friends=N` (or
//!   `callcenter-error …` for a call that did not return 0).
//!
//! - `--core ADDR` — the core server's business listener (instead of
//!   `ANYCHAT_CORE_ADDR`; `tls://HOST:PORT` for TLS);
//! - `--ask` — each Request waits for a decision typed on standard input:
//!   it prints `ask REQUEST src=… tar=…`, then `allow` lets the call ring and
//!   `deny [CODE]` refuses it (100104 by default); the line `request … ->
//!   CODE` follows. The core server's `--business-timeout` (5 s) still
//!   applies: a slower decision is too late (the caller got 207).
//!
//! `--help` lists the options, `--version` shows the version, `help` the
//! commands. On a terminal it shows a prompt.
//!
//! Every callback checks that it runs on the same thread as the previous
//! ones and prints `THREAD CHANGED` otherwise. The library's warnings go to
//! standard error (`ANYCHAT_LOG=debug` shows more).

mod anychat_cli_common;

use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use anychat::abi::bras::api::*;
use anychat::abi::types::{BOOL, DWORD, LPCTSTR, LPDWORD, LPVOID};
use anychat::wire::constants::*;

#[derive(Default)]
struct Options {
    refuse_to: HashMap<u32, u32>,
    delay_ms: u64,
    finish_on_start: Option<u32>,
    verify_refuse: HashMap<String, u32>,
    verify_id: HashMap<String, u32>,
    prepare_refuse: HashMap<u32, u32>,
    timer_ms: u32,
    call_center: bool,
    core: Option<String>,
    ask: bool,
}

/// Standard input is a terminal: a prompt and `# …` lines with code names.
static HUMAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--ask`: decisions typed on standard input, for the Request waiting.
static DECISIONS: OnceLock<(Sender<u32>, Receiver<u32>)> = OnceLock::new();
/// How long a Request waits for a typed decision before it is let through.
const ASK_WAIT: Duration = Duration::from_secs(30);

const USAGE: &str = "\
usage: anychat-bras-cli [OPTIONS], then commands on standard input (`help` lists them)
  --core ADDR               the core server's business listener (default: $ANYCHAT_CORE_ADDR or 127.0.0.1:8907)
  --ask                     decide each call Request from the prompt (allow / deny [CODE])
  --refuse-to USER:CODE     answer a Request to USER with CODE (repeatable)
  --delay-ms MS             the Request callback sleeps MS before answering
  --finish-on-start CODE    end each call at its START with FINISH(CODE)
  --verify-refuse NAME:CODE refuse NAME's login with CODE (repeatable)
  --verify-id NAME:ID       log NAME in as user ID, level 7 (repeatable)
  --prepare-refuse ROOM:CODE refuse entering ROOM with CODE (repeatable)
  --timer-ms MS             print `timer` every MS milliseconds
  --call-center             fill friends and groups as the vendor's call-center sample
  -V, --version             print the version
  -h, --help                print this
The business secret comes from $ANYCHAT_BUSINESS_SECRET, else the core server's state folder.";

const COMMANDS: &str = "\
commands: allow | deny [CODE] (with --ask), finish USER CODE [PARAM] [STR], kick USER [CODE],
  sendbuf USER TEXT, sendroom ROOM TEXT, transbuf USER TEXT, setinfo USER ID VALUE, getinfo USER ID,
  event TYPE USER CODE, addgroup USER GROUP NAME, groupname USER GROUP NAME, delgroup USER GROUP,
  addfriend USER FRIEND, delfriend USER FRIEND, setrelation USER GROUP FRIEND, sync USER,
  blockip PATTERN, unblockip PATTERN, control USER CODE WPARAM LPARAM [STR], quit";

static OPTS: OnceLock<Options> = OnceLock::new();
static CB_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);
/// `--call-center`: the users online (id, name), in login order.
static ONLINE: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

fn opts() -> &'static Options {
    OPTS.get().expect("options set")
}

fn same_thread() {
    let me = std::thread::current().id();
    let mut t = CB_THREAD.lock().unwrap_or_else(|e| e.into_inner());
    match *t {
        None => *t = Some(me),
        Some(prev) if prev != me => println!("THREAD CHANGED"),
        _ => {}
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn text(p: LPCTSTR) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: as the function's contract says.
    String::from_utf8_lossy(unsafe { CStr::from_ptr(p) }.to_bytes()).into_owned()
}

fn event_name(ev: u32) -> String {
    match ev {
        BRAS_VIDEOCALL_EVENT_REQUEST => "REQUEST".into(),
        BRAS_VIDEOCALL_EVENT_REPLY => "REPLY".into(),
        BRAS_VIDEOCALL_EVENT_START => "START".into(),
        BRAS_VIDEOCALL_EVENT_FINISH => "FINISH".into(),
        other => format!("EVENT{other}"),
    }
}

unsafe extern "system" fn on_app_message_ex(msg: DWORD, wparam: DWORD, _lparam: DWORD, _u: LPVOID) {
    same_thread();
    if msg == BRAS_MESSAGE_CORESERVERCONN {
        if wparam == 0 {
            println!("link up");
        } else {
            println!("link down {wparam}");
        }
    }
}

unsafe extern "system" fn on_app_message(msg: DWORD, _u: LPVOID) {
    same_thread();
    println!("appmsg {msg}");
}

unsafe extern "system" fn on_timer(_u: LPVOID) {
    same_thread();
    println!("timer");
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn on_call(
    event: DWORD,
    src: DWORD,
    tar: DWORD,
    code: DWORD,
    flags: DWORD,
    param: DWORD,
    user_str: LPCTSTR,
    _u: LPVOID,
) -> DWORD {
    same_thread();
    // SAFETY: the library passes a NUL-terminated string.
    let s = unsafe { text(user_str) };
    let o = opts();
    let line = format!("{} src={src} tar={tar} code={code} flags={flags} param={param} str={s}", event_name(event));
    if event == BRAS_VIDEOCALL_EVENT_REQUEST {
        if o.delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(o.delay_ms));
        }
        let mut answer = o.refuse_to.get(&tar).copied().unwrap_or(0);
        if let Some((_, decisions)) = DECISIONS.get() {
            // Decisions typed for an earlier Request that did not wait are stale.
            while decisions.try_recv().is_ok() {}
            println!("ask {line}");
            println!("# allow or deny [CODE]?");
            let _ = std::io::stdout().flush();
            answer = decisions.recv_timeout(ASK_WAIT).unwrap_or(answer);
        }
        println!("request {line} -> {answer}");
        return answer;
    }
    println!("note {line}");
    if code != 0 && HUMAN.load(std::sync::atomic::Ordering::SeqCst) {
        if let Some(name) = anychat_cli_common::code_name(code) {
            println!("# {code} is {name}");
        }
    }
    if event == BRAS_VIDEOCALL_EVENT_START {
        if let Some(code) = o.finish_on_start {
            // Re-entrant call from inside the callback.
            // SAFETY: a NULL user string is allowed.
            let r = unsafe { BRAS_VideoCallControl(BRAS_VIDEOCALL_EVENT_FINISH, src, code, 0, 0, std::ptr::null()) };
            println!("ret finish-on-start {r}");
        }
    }
    0
}

unsafe extern "system" fn on_verify(
    name: LPCTSTR,
    _pass: LPCTSTR,
    user_id: LPDWORD,
    level: LPDWORD,
    nick: *mut c_char,
    nick_len: DWORD,
    _u: LPVOID,
) -> DWORD {
    same_thread();
    // SAFETY: the library passes NUL-terminated strings and valid out-pointers.
    unsafe {
        let n = text(name);
        let o = opts();
        if let Some(code) = o.verify_refuse.get(&n) {
            println!("verify {n} -> {code}");
            return *code;
        }
        if let Some(id) = o.verify_id.get(&n) {
            *user_id = *id;
            *level = 7;
        }
        let nick_text = format!("Nick-{n}");
        let len = nick_text.len().min(nick_len.saturating_sub(1) as usize);
        std::ptr::copy_nonoverlapping(nick_text.as_ptr(), nick as *mut u8, len);
        *nick.add(len) = 0;
        println!("verify {n} -> 0 id={}", *user_id);
    }
    0
}

unsafe extern "system" fn on_prepare(user: DWORD, room: DWORD, _name: LPCTSTR, _pass: LPCTSTR, _u: LPVOID) -> DWORD {
    same_thread();
    let code = opts().prepare_refuse.get(&room).copied().unwrap_or(0);
    println!("prepare user={user} room={room} -> {code}");
    code
}

unsafe extern "system" fn on_login(user: DWORD, name: LPCTSTR, level: DWORD, ip: LPCTSTR, _u: LPVOID) {
    same_thread();
    // SAFETY: NUL-terminated strings from the library.
    let (n, i) = unsafe { (text(name), text(ip)) };
    println!("login user={user} name={n} level={level} ip={i}");
    if opts().call_center {
        call_center_login(user, &n, &i);
    }
}

/// `--call-center`: the vendor sample's login callback, re-entrant calls
/// of `BRAS_UserInfoControl` and `BRAS_SetUserInfo` from inside it.
fn call_center_login(user: DWORD, name: &str, ip: &str) {
    let group_of = |name: &str| if name.starts_with("guest") { 2 } else { 1 };
    let check = |what: &str, r: DWORD| {
        if r != 0 {
            println!("callcenter-error {what} {r}");
        }
    };
    let mut online = ONLINE.lock().unwrap_or_else(|e| e.into_inner());
    online.retain(|(id, _)| *id != user);
    let (agents, guests) = (CString::new("agents").unwrap_or_default(), CString::new("guests").unwrap_or_default());
    let (name_c, ip_c) = (CString::new(name).unwrap_or_default(), CString::new(ip).unwrap_or_default());
    let null = std::ptr::null();
    // SAFETY (all calls below): every pointer is a live CString or NULL.
    unsafe {
        check("addgroup", BRAS_UserInfoControl(user, BRAS_USERINFO_CTRLCODE_ADDGROUP, 1, 0, agents.as_ptr()));
        check("addgroup", BRAS_UserInfoControl(user, BRAS_USERINFO_CTRLCODE_ADDGROUP, 2, 0, guests.as_ptr()));
        for (other, other_name) in online.iter() {
            check("addfriend", BRAS_UserInfoControl(user, BRAS_USERINFO_CTRLCODE_ADDFRIEND, *other, 0, null));
            let g = group_of(other_name);
            check("relation", BRAS_UserInfoControl(user, BRAS_USERINFO_CTRLCODE_SETGROUPRELATION, g, *other, null));
        }
        check("setinfo", BRAS_SetUserInfo(user, 1, name_c.as_ptr(), 0));
        check("setinfo", BRAS_SetUserInfo(user, 2, ip_c.as_ptr(), 0));
        for (other, _) in online.iter() {
            check("addfriend", BRAS_UserInfoControl(*other, BRAS_USERINFO_CTRLCODE_ADDFRIEND, user, 0, null));
            let g = group_of(name);
            check("relation", BRAS_UserInfoControl(*other, BRAS_USERINFO_CTRLCODE_SETGROUPRELATION, g, user, null));
            check("sync", BRAS_UserInfoControl(*other, BRAS_USERINFO_CTRLCODE_SYNCDATA, 0, 0, null));
        }
        check("sync", BRAS_UserInfoControl(user, BRAS_USERINFO_CTRLCODE_SYNCDATA, 0, 0, null));
    }
    println!("callcenter user={user} friends={}", online.len());
    online.push((user, name.to_string()));
}

unsafe extern "system" fn on_logout_ex(user: DWORD, code: DWORD, _u: LPVOID) {
    same_thread();
    println!("logout user={user} code={code}");
    ONLINE.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != user);
}

unsafe extern "system" fn on_enter(user: DWORD, room: DWORD, _u: LPVOID) {
    same_thread();
    println!("enter user={user} room={room}");
}

unsafe extern "system" fn on_text(
    room: DWORD,
    src: DWORD,
    tar: DWORD,
    secret: BOOL,
    msg: LPCTSTR,
    len: DWORD,
    _u: LPVOID,
) {
    same_thread();
    // SAFETY: the library passes `len` readable bytes.
    let t = unsafe { String::from_utf8_lossy(std::slice::from_raw_parts(msg as *const u8, len as usize)) };
    println!("text room={room} src={src} tar={tar} secret={secret} msg={t}");
}

unsafe extern "system" fn on_trans(user: DWORD, buf: *mut u8, len: DWORD, _u: LPVOID) {
    same_thread();
    // SAFETY: the library passes `len` readable bytes.
    let t = unsafe { String::from_utf8_lossy(std::slice::from_raw_parts(buf, len as usize)) };
    println!("trans user={user} data={t}");
}

unsafe extern "system" fn on_leave(user: DWORD, room: DWORD, _u: LPVOID) {
    same_thread();
    println!("leave user={user} room={room}");
}

fn pair(s: &str) -> Option<(String, u32)> {
    let (a, b) = s.rsplit_once(':')?;
    Some((a.to_string(), b.parse().ok()?))
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--refuse-to" | "--prepare-refuse" => {
                let v = val()?;
                let (k, code) = pair(&v).ok_or_else(|| format!("bad {a} value '{v}'"))?;
                let k: u32 = k.parse().map_err(|_| format!("bad id in '{v}'"))?;
                if a == "--refuse-to" {
                    o.refuse_to.insert(k, code)
                } else {
                    o.prepare_refuse.insert(k, code)
                };
            }
            "--verify-refuse" | "--verify-id" => {
                let v = val()?;
                let (k, n) = pair(&v).ok_or_else(|| format!("bad {a} value '{v}'"))?;
                if a == "--verify-refuse" {
                    o.verify_refuse.insert(k, n)
                } else {
                    o.verify_id.insert(k, n)
                };
            }
            "--delay-ms" => o.delay_ms = val()?.parse().map_err(|_| "bad --delay-ms".to_string())?,
            "--finish-on-start" => {
                o.finish_on_start = Some(val()?.parse().map_err(|_| "bad --finish-on-start".to_string())?)
            }
            "--timer-ms" => o.timer_ms = val()?.parse().map_err(|_| "bad --timer-ms".to_string())?,
            "--call-center" => o.call_center = true,
            "--core" => o.core = Some(val()?),
            "--ask" => o.ask = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "-V" | "--version" => {
                println!("anychat-bras-cli {}", anychat_cli_common::VERSION);
                std::process::exit(0);
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(o)
}

fn run_command(line: &str) -> Result<bool, String> {
    let mut it = line.split_whitespace();
    let Some(cmd) = it.next() else { return Ok(true) };
    let args: Vec<&str> = it.collect();
    let num = |i: usize| -> Result<u32, String> {
        let s = args.get(i).ok_or_else(|| format!("'{cmd}' needs more arguments"))?;
        s.parse::<u32>().or_else(|_| s.parse::<i64>().map(|v| v as u32)).map_err(|_| format!("bad number '{s}'"))
    };
    // SAFETY (all calls below): every pointer is a live CString or NULL.
    let r = unsafe {
        match cmd {
            "finish" => {
                let s = CString::new(args.get(3..).map(|a| a.join(" ")).unwrap_or_default()).unwrap_or_default();
                let param = num(2).unwrap_or(0);
                BRAS_VideoCallControl(BRAS_VIDEOCALL_EVENT_FINISH, num(0)?, num(1)?, 0, param, s.as_ptr())
            }
            "event" => BRAS_VideoCallControl(num(0)?, num(1)?, num(2)?, 0, 0, std::ptr::null()),
            "kick" => {
                BRAS_UserInfoControl(num(0)?, BRAS_USERINFO_CTRLCODE_KICKOUT, num(1).unwrap_or(0), 0, std::ptr::null())
            }
            "sendbuf" => {
                let data = args.get(1..).map(|a| a.join(" ")).unwrap_or_default();
                BRAS_SendBufToUser(num(0)?, data.as_ptr() as LPCTSTR, data.len() as DWORD)
            }
            "sendroom" | "transbuf" => {
                let data = args.get(1..).map(|a| a.join(" ")).unwrap_or_default();
                let len = data.len() as DWORD;
                if cmd == "sendroom" {
                    BRAS_SendBufToRoom(num(0)?, data.as_ptr() as LPCTSTR, len)
                } else {
                    BRAS_TransBuffer(num(0)?, data.as_ptr() as *mut u8, len)
                }
            }
            "setinfo" => {
                let v = CString::new(args.get(2..).map(|a| a.join(" ")).unwrap_or_default()).unwrap_or_default();
                BRAS_SetUserInfo(num(0)?, num(1)?, v.as_ptr(), 0)
            }
            "getinfo" => {
                let mut buf = [0 as c_char; 256];
                let r = BRAS_GetUserInfo(num(0)?, num(1)?, buf.as_mut_ptr(), buf.len() as DWORD);
                if r == 0 {
                    println!("info {}", text(buf.as_ptr()));
                }
                r
            }
            "addgroup" | "groupname" | "delgroup" | "addfriend" | "delfriend" | "setrelation" | "sync" => {
                let user = num(0)?;
                let rest = CString::new(args.get(2..).map(|a| a.join(" ")).unwrap_or_default()).unwrap_or_default();
                let (code, w, l, s) = match cmd {
                    "addgroup" | "groupname" => (BRAS_USERINFO_CTRLCODE_ADDGROUP, num(1)?, 0, rest.as_ptr()),
                    "delgroup" => (BRAS_USERINFO_CTRLCODE_DELGROUP, num(1)?, 0, std::ptr::null()),
                    "addfriend" => (BRAS_USERINFO_CTRLCODE_ADDFRIEND, num(1)?, 0, std::ptr::null()),
                    "delfriend" => (BRAS_USERINFO_CTRLCODE_DELFRIEND, num(1)?, 0, std::ptr::null()),
                    "setrelation" => (BRAS_USERINFO_CTRLCODE_SETGROUPRELATION, num(1)?, num(2)?, std::ptr::null()),
                    _ => (BRAS_USERINFO_CTRLCODE_SYNCDATA, 0, 0, std::ptr::null()),
                };
                BRAS_UserInfoControl(user, code, w, l, s)
            }
            "blockip" | "unblockip" => {
                let p = CString::new(args.first().copied().unwrap_or_default()).unwrap_or_default();
                let code =
                    if cmd == "blockip" { BRAS_USERINFO_CTRLCODE_BLOCKIP } else { BRAS_USERINFO_CTRLCODE_UNBLOCKIP };
                BRAS_UserInfoControl(0, code, 0, 0, p.as_ptr())
            }
            "control" => {
                let s = CString::new(args.get(4..).map(|a| a.join(" ")).unwrap_or_default()).unwrap_or_default();
                BRAS_UserInfoControl(num(0)?, num(1)?, num(2)?, num(3)?, s.as_ptr())
            }
            "allow" | "deny" => {
                let Some((tx, _)) = DECISIONS.get() else { return Err(format!("'{cmd}' needs --ask")) };
                let code = if cmd == "allow" { 0 } else { num(0).unwrap_or(AC_ERROR_VIDEOCALL_REJECT) };
                let _ = tx.send(code);
                0
            }
            "help" => {
                println!("{COMMANDS}");
                0
            }
            "quit" => return Ok(false),
            _ => return Err(format!("unknown command '{cmd}'")),
        }
    };
    println!("ret {cmd} {r}");
    Ok(true)
}

/// The library's log (e.g. why a TLS connect failed) on stderr: warnings by
/// default, `ANYCHAT_LOG` (a tracing filter such as `debug`) for more.
fn init_log() {
    let filter = std::env::var("ANYCHAT_LOG").unwrap_or_else(|_| "warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        eprintln!("anychat-bras-cli: bad ANYCHAT_LOG '{filter}': {e}");
        tracing_subscriber::EnvFilter::new("warn")
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::io::stderr).init();
}

fn main() {
    init_log();
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("anychat-bras-cli: {e}");
            std::process::exit(2);
        }
    };
    let timer_ms = o.timer_ms;
    if let Some(core) = &o.core {
        // Read by BRAS_InitSDK; no other thread runs yet.
        std::env::set_var("ANYCHAT_CORE_ADDR", core);
    }
    if o.ask {
        let _ = DECISIONS.set(crossbeam_channel::unbounded());
    }
    let _ = OPTS.set(o);
    let null = std::ptr::null_mut();
    BRAS_SetOnServerAppMessageCallBack(Some(on_app_message), null);
    BRAS_SetOnServerAppMessageExCallBack(Some(on_app_message_ex), null);
    BRAS_SetOnVideoCallEventCallBack(Some(on_call), null);
    BRAS_SetVerifyUserCallBack(Some(on_verify), null);
    BRAS_SetPrepareEnterRoomCallBack(Some(on_prepare), null);
    BRAS_SetOnUserLoginActionCallBack(Some(on_login), null);
    BRAS_SetOnUserLogoutActionExCallBack(Some(on_logout_ex), null);
    BRAS_SetOnUserEnterRoomActionCallBack(Some(on_enter), null);
    BRAS_SetOnUserLeaveRoomActionCallBack(Some(on_leave), null);
    BRAS_SetOnRecvUserTextMsgCallBack(Some(on_text), null);
    BRAS_SetOnTransBufferCallBack(Some(on_trans), null);
    if timer_ms > 0 {
        BRAS_SetTimerEventCallBack(timer_ms, Some(on_timer), null);
    }
    println!("ret init {}", BRAS_InitSDK(0));
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    HUMAN.store(prompt, std::sync::atomic::Ordering::SeqCst);
    let mut lines = stdin.lock().lines();
    loop {
        if prompt {
            print!("bras> ");
            let _ = std::io::stdout().flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        match run_command(line.trim()) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => println!("error {e}"),
        }
    }
    BRAS_Release();
}
