//! `anychat-cli`: a line-oriented client built on the library's C ABI.
//!
//! It reads commands on standard input, calls the matching `BRAC_*`
//! function, and prints one line per result and per callback on standard
//! output, so that people and test scripts can drive a real client process:
//!
//! ```text
//! connect 127.0.0.1 8906      -> ret connect 0
//!                             -> notify CONNECT 1 0
//! login alice                 -> ret login 0
//!                             -> notify LOGINSYSTEM 1 0
//! request 2 3 0 hello         -> ret request 0        (flags 3, param 0, str "hello")
//!                             -> call REPLY user=2 code=0 flags=3 param=0 str=
//! ```
//! Commands: `init`, `connect HOST PORT`, `login NAME [PASS]`, `logout`,
//! `release`, `enter ROOM`, `enterex NAME`, `leave ROOM`, `request USER
//! [FLAGS] [PARAM] [STR]`, `reply USER CODE [PARAM] [STR]`, `finish USER
//! [CODE] [PARAM] [STR]`, `event TYPE USER CODE` (any raw event), `online`,
//! `roomusers ROOM`, `name USER`, `nick USER`, `status`, `selfid`, `sleep
//! MS`, `quit`, `loginex NICK ID [STRID]`, `text USER SECRET MSG`, `trans
//! USER DATA`, `transex USER W L DATA`, `camera USER 0|1`, `mic USER 0|1`,
//! `camstate USER`, `micstate USER`, `level USER`, `volume USER` (the
//! speech level, `BRAC_USERSTATE_SPEAKVOLUME`, read as a DWORD and as a
//! DOUBLE: printed `volume USER N N.0`), `userstate USER INFO` (any
//! `BRAC_USERSTATE_*` number; printed `userstate USER INFO VALUE`, a DWORD in
//! decimal or the string), `query INFO [ARG]` (`BRAC_QueryInfoFromServer`:
//! an `ANYCHAT_SERVERQUERY_*` number and its text, or an id for
//! NAMEBYUSERID; printed `query INFO VALUE`), `roomname ROOM`,
//! `friends`, `groups`, `groupfriends GROUP` (printed `friends 5,7`, `groups
//! 1,2`, `groupfriends 1 5,7`, in the library's order), `groupname GROUP`,
//! `friendstatus USER`, `userinfo USER ID`, `mics`, `speakers` (the
//! devices, a `device NAME` line each), `selectmic NAME`, `selectspeaker
//! NAME`, `curmic`, `curspeaker`, `getvol in|out`, `setvol in|out V`,
//! `fetch MS` (`BRAC_FetchAudioPlayBuffer` for MS ms in real time, printed
//! `fetched BYTES rms=R`), `stream SECS [W H FPS]` (feeds a test picture
//! and a tone through the external input for SECS seconds, then prints
//! `streamed V A V_FED A_FED`), `stopstream` (ends it sooner). User and
//! room ids accept `-1`.
//! Text, buffers and filter data received are printed
//! as `text …`, `trans …`, `transex …`, `filter …` lines.
//!
//! Options: `--auto-accept` answers every Request with Reply 0 and
//! `--auto-refuse CODE` with Reply CODE, from inside the callback;
//! `--auto-enter` enters the call's room on Start, from inside the callback
//! (the vendor apps' habit). `--no-init` skips the automatic `BRAC_InitSDK`;
//! `--func-mode N` is its `dwFuncMode` (8: `BRAC_FUNC_AUDIO_AUTOPLAY`).
//! `--video-fmt F` is the pixel format the video callback asks for,
//! `--input-fmt F` the one `stream` feeds (`rgb24` by default; also `rgb32`,
//! `bgr32`, `rgb565`, `rgb555`, `yuv420p`, `yv12`, `nv12`, `nv21`, `nv16`,
//! `yuy2`), `--picture halfwhite` makes `stream` feed a picture whose top
//! half is white instead of the moving test pattern, `--input-codec ID`
//! makes `stream` declare its video already encoded with codec `ID` and
//! feed the RGB24 picture's bytes as that (relayed unchanged: a stream as
//! large as the picture; a key frame every second).
//!
//! Video frames received are printed as `video from=U w=W h=H bits=B len=L
//! ts=T n=N sig=S top=Y0 bottom=Y1`: `h` is `biHeight` as the callback got
//! it, `n` and `sig` the test pattern's frame number and signature, `top`
//! and `bottom` the mean luma of the first and the last row in memory.
//!
//! The library's warnings (e.g. why a TLS connect failed) go to standard
//! error; `ANYCHAT_LOG=debug` shows more. `connect tls://HOST PORT` connects
//! over TLS (see `docs/TLS.md`).
//!
//! For a person: wherever a user id is expected a user's name works too
//! (one this client has seen: in its room, in a call, among its friends;
//! else asked of the server with `BRAC_QueryInfoFromServer`),
//! and `call USER`, `accept`, `refuse [CODE]`, `hangup` act on the call
//! going on; `help` lists the commands. When standard input is a terminal
//! it shows a prompt, and then (or with `--interactive`) it explains events in
//! `# …` lines with the names of their codes (`100104
//! AC_ERROR_VIDEOCALL_REJECT`), adds the name to `ret` lines that failed
//! and enters the call's room on Start (as `--auto-enter`). Scripts (no
//! terminal) get exactly the lines above.

mod anychat_cli_common;

use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use anychat_cli_common::{readable, VERSION};

use anychat::abi::brac::api::*;
use anychat::abi::brac::audio::*;
use anychat::abi::brac::devices::*;
use anychat::abi::brac::media::*;
use anychat::abi::brac::video::*;
use anychat::abi::types::*;
use anychat::wire::constants::*;

/// `--func-mode N`: `BRAC_InitSDK`'s `dwFuncMode` (e.g. 8, `BRAC_FUNC_AUDIO_AUTOPLAY`).
static FUNC_MODE: AtomicU32 = AtomicU32::new(0);
static AUTO_REPLY: AtomicU32 = AtomicU32::new(u32::MAX);
/// `--slow-video MS`: the first video callback blocks that long.
static SLOW_VIDEO_MS: AtomicU32 = AtomicU32::new(0);
/// `--video-fmt F`: the pixel format the video callback asks for.
static VIDEO_FMT: AtomicU32 = AtomicU32::new(BRAC_PIX_FMT_RGB24);
/// `--input-fmt F`: the pixel format `stream` feeds.
static INPUT_FMT: AtomicU32 = AtomicU32::new(BRAC_PIX_FMT_RGB24);
/// `--picture halfwhite`: `stream` feeds a picture whose top half is white.
static HALF_WHITE: AtomicU32 = AtomicU32::new(0);
/// `--input-codec ID`: `stream` declares its video already encoded with
/// codec `ID` (`BRAC_SetInputVideoFormatEx`) and feeds the RGB24 picture's
/// bytes as such: relayed unchanged, at the picture's size.
static INPUT_CODEC: AtomicU32 = AtomicU32::new(0);
/// `stopstream`: the running `stream` ends before its time.
static STOP_STREAM: AtomicBool = AtomicBool::new(false);

/// The `BRAC_PIX_FMT_*` value of a format name of `--video-fmt` and `--input-fmt`.
fn format_by_name(name: &str) -> Option<u32> {
    Some(match name {
        "rgb24" => BRAC_PIX_FMT_RGB24,
        "rgb32" => BRAC_PIX_FMT_RGB32,
        "bgr32" => BRAC_PIX_FMT_BGR32,
        "rgb565" => BRAC_PIX_FMT_RGB565,
        "rgb555" => BRAC_PIX_FMT_RGB555,
        "yuv420p" => BRAC_PIX_FMT_YUV420P,
        "yv12" => BRAC_PIX_FMT_YV12,
        "nv12" => BRAC_PIX_FMT_NV12,
        "nv21" => BRAC_PIX_FMT_NV21,
        "nv16" => BRAC_PIX_FMT_NV16,
        "yuy2" => BRAC_PIX_FMT_YUY2,
        _ => return None,
    })
}

/// The mean luma of the first and of the last row in memory of a frame in
/// the `BRAC_PIX_FMT_*` format `fmt` (-1 when it is not a raw frame).
fn memory_rows(fmt: u32, w: u32, h: u32, data: &[u8]) -> (i64, i64) {
    use anychat::codec::{to_i420_with, RowOrder};
    // Read top-down, memory row 0 is the Y plane's row 0 whatever the format.
    let Some(fmt) = pixel_format(fmt as i32) else { return (-1, -1) };
    let Ok(i420) = to_i420_with(RowOrder::TopDown, fmt, w, h, data) else { return (-1, -1) };
    let (w, h) = (w as usize, h as usize);
    let mean = |row: usize| i420[row * w..][..w].iter().map(|&v| i64::from(v)).sum::<i64>() / w as i64;
    (mean(0), mean(h - 1))
}
static AUTO_ENTER: AtomicU32 = AtomicU32::new(0);
/// For a person (a terminal, or `--interactive`): prompt and `# …` lines.
static HUMAN: AtomicBool = AtomicBool::new(false);
/// No user.
const NOBODY: u32 = u32::MAX;
/// Who rings this client now (a Request not answered yet).
static INCOMING: AtomicU32 = AtomicU32::new(NOBODY);
/// The peer of the call going on (requested, ringing or started).
static PEER: AtomicU32 = AtomicU32::new(NOBODY);
/// Names of the users this client has seen, for `call bob`.
static NAMES: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

fn human() -> bool {
    HUMAN.load(Ordering::SeqCst)
}

/// The name the library knows for `user` (remembered for name lookups).
fn user_name(user: u32) -> Option<String> {
    let mut buf = [0 as c_char; 256];
    // SAFETY: `buf` is a live buffer of the length given.
    let r = unsafe { BRAC_GetUserName(user, buf.as_mut_ptr(), buf.len() as DWORD) };
    if r != 0 {
        return None;
    }
    // SAFETY: the library wrote a NUL-terminated string into `buf`.
    let name = String::from_utf8_lossy(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes()).into_owned();
    if !name.is_empty() {
        NAMES.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashMap::new).insert(name.clone(), user);
    }
    Some(name)
}

/// `bob (7)`, or `7` when the name is unknown (the library's, else the
/// one remembered).
fn who(user: u32) -> String {
    let remembered = || {
        let names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        names.as_ref().and_then(|m| m.iter().find(|(_, id)| **id == user).map(|(n, _)| n.clone()))
    };
    match user_name(user).filter(|n| !n.is_empty()).or_else(remembered) {
        Some(n) => format!("{n} ({user})"),
        None => user.to_string(),
    }
}

/// A user argument: an id, or a user's name: one this client has seen (its
/// room's users and its friends are looked at again first), else the
/// server's answer to `BRAC_QueryInfoFromServer(USERIDBYNAME)`.
fn user_arg(s: Option<&str>) -> Result<u32, String> {
    let s = s.ok_or("a user (name or id) is needed")?;
    if let Some(v) = id(Some(s)) {
        return Ok(v);
    }
    let known = |s: &str| NAMES.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|m| m.get(s).copied());
    if let Some(v) = known(s) {
        return Ok(v);
    }
    for list in [BRAC_GetOnlineUser as unsafe extern "C" fn(*mut u32, *mut DWORD) -> DWORD, BRAC_GetUserFriends] {
        let mut n: DWORD = 0;
        // SAFETY: a NULL array asks for the count; then `ids` holds `n`.
        unsafe {
            if list(std::ptr::null_mut(), &mut n) == 0 && n > 0 {
                let mut ids = vec![0u32; n as usize];
                if list(ids.as_mut_ptr(), &mut n) == 0 {
                    ids.truncate(n as usize);
                    for u in ids {
                        user_name(u);
                    }
                }
            }
        }
    }
    if let Some(v) = known(s) {
        return Ok(v);
    }
    // Not seen here: the server knows (BRAC_QueryInfoFromServer).
    let name = s.as_bytes();
    let mut out = [0u8; 4];
    let mut size = out.len() as DWORD;
    // SAFETY: `name` and `out` are live buffers of the lengths given.
    let r = unsafe {
        BRAC_QueryInfoFromServer(
            ANYCHAT_SERVERQUERY_USERIDBYNAME,
            name.as_ptr() as *mut c_char,
            name.len() as DWORD,
            out.as_mut_ptr() as *mut c_char,
            &mut size,
            0,
        )
    };
    if r == 0 && size == 4 {
        return Ok(u32::from_le_bytes(out));
    }
    Err(format!("unknown user '{s}' (the server answered {r}; give the id)"))
}

/// A `# …` line for a person.
fn explain(text: impl std::fmt::Display) {
    if human() {
        println!("# {text}");
    }
}
/// `--release-on-finish`: calls `BRAC_Release` from inside the FINISH callback.
static RELEASE_ON_FINISH: AtomicU32 = AtomicU32::new(0);

fn notify_name(msg: u32) -> String {
    match msg {
        WM_GV_CONNECT => "CONNECT".into(),
        WM_GV_LOGINSYSTEM => "LOGINSYSTEM".into(),
        WM_GV_ENTERROOM => "ENTERROOM".into(),
        WM_GV_MICSTATECHANGE => "MICSTATECHANGE".into(),
        WM_GV_USERATROOM => "USERATROOM".into(),
        WM_GV_LINKCLOSE => "LINKCLOSE".into(),
        WM_GV_ONLINEUSER => "ONLINEUSER".into(),
        WM_GV_CAMERASTATE => "CAMERASTATE".into(),
        WM_GV_USERINFOUPDATE => "USERINFOUPDATE".into(),
        WM_GV_FRIENDSTATUS => "FRIENDSTATUS".into(),
        WM_GV_AUDIORECCTRL => "AUDIORECCTRL".into(),
        WM_GV_AUDIOPLAYCTRL => "AUDIOPLAYCTRL".into(),
        WM_GV_SDKWARNING => "SDKWARNING".into(),
        other => format!("MSG{other}"),
    }
}

fn event_name(ev: u32) -> String {
    match ev {
        BRAC_VIDEOCALL_EVENT_REQUEST => "REQUEST".into(),
        BRAC_VIDEOCALL_EVENT_REPLY => "REPLY".into(),
        BRAC_VIDEOCALL_EVENT_START => "START".into(),
        BRAC_VIDEOCALL_EVENT_FINISH => "FINISH".into(),
        other => format!("EVENT{other}"),
    }
}

unsafe extern "system" fn on_notify(msg: DWORD, wparam: DWORD, lparam: DWORD, _user: LPVOID) {
    println!("notify {} {} {}", notify_name(msg), wparam as i32, lparam);
    if !human() {
        return;
    }
    match msg {
        WM_GV_CONNECT if wparam == 1 => explain("connected"),
        WM_GV_CONNECT => explain("cannot connect"),
        WM_GV_LOGINSYSTEM if lparam == 0 => explain(format!("logged in as {}", who(wparam))),
        WM_GV_LOGINSYSTEM => explain(format!("login failed: {}", readable(lparam))),
        WM_GV_ENTERROOM if lparam == 0 => explain(format!("in room {wparam}")),
        WM_GV_ENTERROOM => explain(format!("cannot enter room {wparam}: {}", readable(lparam))),
        WM_GV_USERATROOM => {
            let what = if lparam != 0 { "came into" } else { "left" };
            explain(format!("{} {what} the room", who(wparam)))
        }
        WM_GV_LINKCLOSE => explain(format!("disconnected: {}", readable(wparam))),
        _ => {}
    }
}

unsafe extern "system" fn on_call(
    event: DWORD,
    user: DWORD,
    code: DWORD,
    flags: DWORD,
    param: DWORD,
    user_str: LPCTSTR,
    _user_value: LPVOID,
) {
    let s = if user_str.is_null() {
        String::new()
    } else {
        // SAFETY: the library passes a NUL-terminated string valid for this call.
        String::from_utf8_lossy(unsafe { CStr::from_ptr(user_str) }.to_bytes()).into_owned()
    };
    // The incoming call is known before its line is printed: a script that
    // answers on that line finds it.
    if event == BRAC_VIDEOCALL_EVENT_REQUEST {
        INCOMING.store(user, Ordering::SeqCst);
        PEER.store(user, Ordering::SeqCst);
    }
    println!("call {} user={user} code={code} flags={flags} param={param} str={s}", event_name(event));
    let peer = who(user);
    let clear = |slot: &AtomicU32| {
        let _ = slot.compare_exchange(user, NOBODY, Ordering::SeqCst, Ordering::SeqCst);
    };
    match event {
        BRAC_VIDEOCALL_EVENT_REQUEST => explain(format!("{peer} is calling you: accept or refuse")),
        BRAC_VIDEOCALL_EVENT_REPLY if code == 0 => explain(format!("{peer} is ringing (hangup cancels)")),
        BRAC_VIDEOCALL_EVENT_REPLY => {
            clear(&INCOMING);
            clear(&PEER);
            explain(format!("call with {peer} did not start: {}", readable(code)));
        }
        BRAC_VIDEOCALL_EVENT_START => {
            clear(&INCOMING);
            PEER.store(user, Ordering::SeqCst);
            explain(format!("call with {peer} started in room {param} (hangup ends it)"));
        }
        BRAC_VIDEOCALL_EVENT_FINISH => {
            clear(&INCOMING);
            clear(&PEER);
            explain(format!("call with {peer} ended: {}", readable(code)));
        }
        _ => {}
    }
    let auto = AUTO_REPLY.load(Ordering::SeqCst);
    if event == BRAC_VIDEOCALL_EVENT_REQUEST && auto != u32::MAX {
        // Re-entrant call from inside the callback, as vendor apps do.
        // SAFETY: a NULL user string is allowed.
        let r = unsafe { BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REPLY, user, auto, 0, 0, std::ptr::null()) };
        println!("ret auto-reply {r}");
    }
    if event == BRAC_VIDEOCALL_EVENT_FINISH && RELEASE_ON_FINISH.load(Ordering::SeqCst) == 1 {
        // Re-entrant release from inside the callback: must not deadlock.
        let r = BRAC_Release();
        println!("ret release-in-callback {r}");
    }
    if event == BRAC_VIDEOCALL_EVENT_START && AUTO_ENTER.load(Ordering::SeqCst) == 1 {
        let pass = CString::default();
        // SAFETY: `pass` is a valid empty C string.
        let r = unsafe { BRAC_EnterRoom(param, pass.as_ptr(), 0) };
        println!("ret auto-enter {r}");
    }
}

/// # Safety
/// `p` points to `len` readable bytes.
unsafe fn bytes_text(p: *const u8, len: DWORD) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: as the function's contract says.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(p, len as usize) }).into_owned()
}

unsafe extern "system" fn on_text(from: DWORD, to: DWORD, secret: BOOL, msg: LPCTSTR, len: DWORD, _u: LPVOID) {
    // SAFETY: the library passes `len` readable bytes.
    let t = unsafe { bytes_text(msg as *const u8, len) };
    println!("text from={from} to={to} secret={secret} msg={t}");
}

unsafe extern "system" fn on_trans(from: DWORD, buf: LPBYTE, len: DWORD, _u: LPVOID) {
    // SAFETY: the library passes `len` readable bytes.
    let t = unsafe { bytes_text(buf, len) };
    println!("trans from={from} len={len} data={t}");
}

unsafe extern "system" fn on_trans_ex(
    from: DWORD,
    buf: LPBYTE,
    len: DWORD,
    w: DWORD,
    l: DWORD,
    task: DWORD,
    _u: LPVOID,
) {
    // SAFETY: the library passes `len` readable bytes.
    let t = unsafe { bytes_text(buf, len) };
    println!("transex from={from} len={len} wparam={w} lparam={l} task={task} data={t}");
}

unsafe extern "system" fn on_filter(buf: LPBYTE, len: DWORD, _u: LPVOID) {
    // SAFETY: the library passes `len` readable bytes.
    let t = unsafe { bytes_text(buf, len) };
    println!("filter len={len} data={t}");
}

unsafe extern "system" fn on_video(from: DWORD, buf: LPVOID, len: DWORD, bmi: BITMAPINFOHEADER, ts: DWORD, _u: LPVOID) {
    let (w, h) = (bmi.biWidth as u32, bmi.biHeight.unsigned_abs() as u32);
    // SAFETY: the library passes `len` readable bytes.
    let data = unsafe { std::slice::from_raw_parts(buf as *const u8, len as usize) };
    let fmt = VIDEO_FMT.load(Ordering::SeqCst);
    let (n, sig) = patterns::recognise(fmt, w, h, data);
    let (top, bottom) = memory_rows(fmt, w, h, data);
    println!(
        "video from={from} w={w} h={} bits={} len={len} ts={ts} n={n} sig={sig} top={top} bottom={bottom}",
        bmi.biHeight, bmi.biBitCount
    );
    let slow = SLOW_VIDEO_MS.swap(0, Ordering::SeqCst);
    if slow > 0 {
        println!("slow start {slow}");
        std::thread::sleep(std::time::Duration::from_millis(slow as u64));
        println!("slow end");
    }
}

unsafe extern "system" fn on_audio(from: DWORD, buf: LPVOID, len: DWORD, wf: WAVEFORMATEX, ts: DWORD, _u: LPVOID) {
    // SAFETY: the library passes `len` readable bytes.
    let data = unsafe { std::slice::from_raw_parts(buf as *const u8, len as usize) };
    let rms = patterns::rms(data);
    println!(
        "audio from={from} rate={} ch={} bits={} len={len} ts={ts} rms={rms:.0}",
        wf.nSamplesPerSec, wf.nChannels, wf.wBitsPerSample
    );
}

/// The test patterns: recognising the frames and tones received, and
/// `stream`. They need the library's `test-patterns` feature, which the
/// tests turn on (`cargo build --features test-patterns` for a build by
/// hand); without it, video lines show `n=-1 sig=`, audio lines `rms=-1`,
/// and `stream` is refused.
#[cfg(feature = "test-patterns")]
mod patterns {
    use super::*;
    use anychat::codec::patterns::{
        energy, frame_signature, half_white_rgb24, pattern_frame_number, test_pattern_rgb24, tone_pcm16,
    };

    /// The frame number and signature of a test-pattern frame in the
    /// `BRAC_PIX_FMT_*` format `fmt` (-1 and "" when not recognised).
    pub fn recognise(fmt: u32, w: u32, h: u32, data: &[u8]) -> (i64, String) {
        let Some(fmt) = pixel_format(fmt as i32) else { return (-1, String::new()) };
        let n = pattern_frame_number(fmt, w, h, data).map(|n| n as i64).unwrap_or(-1);
        let sig = frame_signature(fmt, w, h, data).map(hex).unwrap_or_default();
        (n, sig)
    }

    /// The RMS of 16-bit samples.
    pub fn rms(data: &[u8]) -> f64 {
        energy(data)
    }

    fn hex(b: Vec<u8>) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// `stream SECONDS [W H FPS]`: feeds a moving test pattern (or, with
    /// `--picture halfwhite`, a picture whose top half is white) in the
    /// `--input-fmt` format (RGB24 by default) and a 440 Hz tone (16 kHz
    /// mono, 20 ms chunks) as this client's camera and microphone, in real
    /// time, from a thread of its own; prints `streamed VIDEO AUDIO
    /// VIDEO_FED AUDIO_FED` (frames accepted, then frames fed) at the end.
    pub fn stream(secs: u32, w: u32, h: u32, fps: u32) -> Result<DWORD, String> {
        let one = 1i32.to_ne_bytes();
        // SAFETY: 4 readable bytes for each option value.
        unsafe {
            BRAC_SetSDKOption(BRAC_SO_CORESDK_EXTVIDEOINPUT as i32, one.as_ptr().cast(), 4);
            BRAC_SetSDKOption(BRAC_SO_CORESDK_EXTAUDIOINPUT as i32, one.as_ptr().cast(), 4);
        }
        let input = INPUT_FMT.load(Ordering::SeqCst);
        let Some(input_fmt) = pixel_format(input as i32) else { return Ok(GV_ERR_FUNCOPTERROR) };
        let codec = super::INPUT_CODEC.load(Ordering::SeqCst);
        let r = match codec {
            0 => BRAC_SetInputVideoFormat(input as i32, w, h, fps, 0),
            _ => BRAC_SetInputVideoFormatEx(0, codec, input, w, h, fps, 0),
        };
        if r != 0 {
            return Ok(r);
        }
        let half_white = HALF_WHITE.load(Ordering::SeqCst) == 1;
        // An RGB24 picture in the input format.
        let picture = move |rgb: Vec<u8>| -> Vec<u8> {
            if input_fmt == anychat::codec::PixelFormat::Rgb24 || codec != 0 {
                return rgb;
            }
            anychat::codec::to_i420(anychat::codec::PixelFormat::Rgb24, w, h, &rgb)
                .and_then(|i420| anychat::codec::from_i420(input_fmt, w, h, &i420))
                .unwrap_or_default()
        };
        let r = BRAC_SetInputAudioFormat(1, 16000, 16, 0);
        if r != 0 {
            return Ok(r);
        }
        BRAC_UserCameraControl(u32::MAX, 1);
        BRAC_UserSpeakControl(u32::MAX, 1);
        super::STOP_STREAM.store(false, Ordering::SeqCst);
        std::thread::spawn(move || {
            let fmt = anychat::codec::AudioFormat { channels: 1, samples_per_sec: 16000, bits_per_sample: 16 };
            let start = std::time::Instant::now();
            let (mut vn, mut an, mut v_ok, mut a_ok) = (0u32, 0u64, 0u32, 0u32);
            let end = std::time::Duration::from_secs(secs as u64);
            while start.elapsed() < end && !super::STOP_STREAM.load(Ordering::SeqCst) {
                let t = start.elapsed();
                if t.as_secs_f64() * fps as f64 >= vn as f64 {
                    let rgb = if half_white { half_white_rgb24(w, h) } else { test_pattern_rgb24(w, h, vn) };
                    let mut frame = picture(rgb.unwrap_or_default());
                    let (len, ts) = (frame.len() as DWORD, t.as_millis() as DWORD);
                    // SAFETY: `frame` is a live buffer of the length given.
                    let r = unsafe {
                        match codec {
                            0 => BRAC_InputVideoData(frame.as_mut_ptr(), len, ts),
                            // Already encoded: a key frame every second.
                            _ => BRAC_InputVideoDataEx(0, frame.as_mut_ptr(), len, ts, (vn % fps == 0) as DWORD),
                        }
                    };
                    v_ok += (r == 0) as u32;
                    vn += 1;
                }
                if t.as_secs_f64() * 50.0 >= (an / 320) as f64 {
                    let mut pcm = tone_pcm16(&fmt, 440.0, 8000, an, 320);
                    // SAFETY: `pcm` is a live buffer of the length given.
                    let r =
                        unsafe { BRAC_InputAudioData(pcm.as_mut_ptr(), pcm.len() as DWORD, t.as_millis() as DWORD) };
                    a_ok += (r == 0) as u32;
                    an += 320;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            // Taken by the library, then fed (a loaded machine feeds fewer in time).
            println!("streamed {v_ok} {a_ok} {vn} {}", an / 320);
        });
        Ok(0)
    }
}

#[cfg(not(feature = "test-patterns"))]
mod patterns {
    use super::DWORD;

    pub fn recognise(_fmt: u32, _w: u32, _h: u32, _data: &[u8]) -> (i64, String) {
        (-1, String::new())
    }

    pub fn rms(_data: &[u8]) -> f64 {
        -1.0
    }

    pub fn stream(_secs: u32, _w: u32, _h: u32, _fps: u32) -> Result<DWORD, String> {
        Err("stream: anychat-cli was built without the test-patterns feature".into())
    }
}

fn id(s: Option<&str>) -> Option<u32> {
    let s = s?;
    s.parse::<u32>().ok().or_else(|| s.parse::<i64>().ok().map(|v| v as u32))
}

fn cstring(s: Option<&str>) -> CString {
    CString::new(s.unwrap_or("")).unwrap_or_default()
}

fn run_command(line: &str) -> Result<bool, String> {
    let mut it = line.split_whitespace();
    let Some(cmd) = it.next() else { return Ok(true) };
    let mut args: Vec<&str> = it.collect();
    // The user string is the rest of the line after the fixed arguments.
    let rest = |n: usize, args: &mut Vec<&str>| -> CString {
        let s = if args.len() > n { args.split_off(n).join(" ") } else { String::new() };
        CString::new(s).unwrap_or_default()
    };
    let bad = || format!("bad arguments for '{cmd}'");
    // SAFETY (all calls below): every pointer passed is a live CString or a
    // local buffer of the length given.
    let r = unsafe {
        match cmd {
            // init [FUNCMODE]: BRAC_InitSDK with the BRAC_FUNC_* bits given.
            "init" => BRAC_InitSDK(std::ptr::null_mut(), args.first().and_then(|m| m.parse().ok()).unwrap_or(0)),
            // videopos USER WINDOW L T R B: BRAC_SetVideoPos (WINDOW an X window id).
            "videopos" => {
                let n: Vec<u32> = args.iter().filter_map(|a| id(Some(a))).collect();
                let [user, window, l, t, r, b] = n[..] else { return Err(bad()) };
                BRAC_SetVideoPos(user, window as usize as HWND, l, t, r, b)
            }
            "release" => BRAC_Release(),
            "connect" => {
                let host = cstring(args.first().copied());
                let port = id(args.get(1).copied()).ok_or_else(bad)?;
                BRAC_Connect(host.as_ptr(), port)
            }
            "login" => {
                let name = cstring(args.first().copied());
                let pass = cstring(args.get(1).copied());
                BRAC_Login(name.as_ptr(), pass.as_ptr(), 0)
            }
            "logout" => BRAC_Logout(),
            "loginex" => {
                let nick = cstring(args.first().copied());
                let uid = id(args.get(1).copied()).unwrap_or(0);
                let str_id = cstring(args.get(2).copied());
                BRAC_LoginEx(
                    nick.as_ptr(),
                    uid,
                    str_id.as_ptr(),
                    std::ptr::null(),
                    0,
                    std::ptr::null(),
                    std::ptr::null(),
                )
            }
            "text" => {
                let user = user_arg(args.first().copied())?;
                let secret = id(args.get(1).copied()).unwrap_or(0) as BOOL;
                let msg = rest(2, &mut args);
                BRAC_SendTextMessage(user, secret, msg.as_ptr(), msg.as_bytes().len() as DWORD)
            }
            "trans" => {
                let user = user_arg(args.first().copied())?;
                let data = rest(1, &mut args);
                BRAC_TransBuffer(user, data.as_ptr() as LPBYTE, data.as_bytes().len() as DWORD)
            }
            "transex" => {
                let user = user_arg(args.first().copied())?;
                let (w, l) = (id(args.get(1).copied()).unwrap_or(0), id(args.get(2).copied()).unwrap_or(0));
                let data = rest(3, &mut args);
                let mut task: DWORD = 0;
                let len = data.as_bytes().len() as DWORD;
                let r = BRAC_TransBufferEx(user, data.as_ptr() as LPBYTE, len, w, l, 0, &mut task);
                if r == 0 {
                    println!("task {task}");
                }
                r
            }
            "camera" | "mic" => {
                let user = user_arg(args.first().copied())?;
                let open = id(args.get(1).copied()).unwrap_or(1) as BOOL;
                if cmd == "camera" {
                    BRAC_UserCameraControl(user, open)
                } else {
                    BRAC_UserSpeakControl(user, open)
                }
            }
            "camstate" | "micstate" | "level" => {
                let user = user_arg(args.first().copied())?;
                let mut v: DWORD = 0;
                let r = match cmd {
                    "camstate" => BRAC_GetCameraState(user, &mut v),
                    "micstate" => BRAC_GetSpeakState(user, &mut v),
                    _ => BRAC_GetUserLevel(user, &mut v),
                };
                if r == 0 {
                    println!("{cmd} {user} {v}");
                }
                r
            }
            "stream" => {
                let secs = id(args.first().copied()).ok_or_else(bad)?;
                let w = id(args.get(1).copied()).unwrap_or(640);
                let h = id(args.get(2).copied()).unwrap_or(480);
                let fps = id(args.get(3).copied()).unwrap_or(15);
                patterns::stream(secs, w, h, fps)?
            }
            "stopstream" => {
                STOP_STREAM.store(true, Ordering::SeqCst);
                0
            }
            "streaminfo" => {
                let user = id(args.first().copied()).ok_or_else(bad)?;
                let mut vals = Vec::new();
                let mut r = 0;
                for info in [BRAC_STREAMINFO_VIDEOWIDTH, BRAC_STREAMINFO_VIDEOHEIGHT, BRAC_STREAMINFO_AUDIOSAMPLERATE] {
                    let mut v: u32 = 0;
                    r = BRAC_GetUserStreamInfo(user, 0, info as i32, &mut v as *mut u32 as *mut c_char, 4);
                    vals.push(v.to_string());
                }
                if r == 0 {
                    println!("streaminfo {user} {}", vals.join(" "));
                }
                r
            }
            "roomname" => {
                let room = id(args.first().copied()).ok_or_else(bad)?;
                let mut buf = [0 as c_char; 256];
                let r = BRAC_GetRoomName(room, buf.as_mut_ptr(), buf.len() as DWORD);
                if r == 0 {
                    println!("roomname {}", String::from_utf8_lossy(CStr::from_ptr(buf.as_ptr()).to_bytes()));
                }
                r
            }
            "cams" => {
                // The vendor's habit: an array of slots, each name malloc'd.
                let mut names = [std::ptr::null_mut::<c_char>(); 16];
                let mut n: DWORD = names.len() as DWORD;
                let r = BRAC_EnumVideoCapture(names.as_mut_ptr(), &mut n);
                let mut list = Vec::new();
                for p in names.iter().take(n as usize) {
                    list.push(String::from_utf8_lossy(CStr::from_ptr(*p).to_bytes()).into_owned());
                    libc::free((*p).cast());
                }
                println!("cams {}", list.join("|"));
                r
            }
            "selectcam" => {
                let name = cstring(Some(&args.join(" ")));
                BRAC_SelectVideoCapture(name.as_ptr())
            }
            "curcam" => {
                let mut buf = [0 as c_char; 1024];
                let r = BRAC_GetCurVideoCapture(buf.as_mut_ptr(), buf.len() as DWORD);
                println!("curcam {}", String::from_utf8_lossy(CStr::from_ptr(buf.as_ptr()).to_bytes()));
                r
            }
            "option" => {
                // option NUMBER VALUE: BRAC_SetSDKOption with an int.
                let opt = id(args.first().copied()).ok_or_else(bad)?;
                let v: i32 = args.get(1).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
                BRAC_SetSDKOption(opt as i32, v.to_ne_bytes().as_ptr().cast(), 4)
            }
            "getoption" => {
                // getoption NUMBER: BRAC_GetSDKOption as an int, printed.
                let opt = id(args.first().copied()).ok_or_else(bad)?;
                let mut v = [0u8; 4];
                let r = BRAC_GetSDKOption(opt as i32, v.as_mut_ptr().cast(), 4);
                println!("option {opt} {}", i32::from_ne_bytes(v));
                r
            }
            "enter" => BRAC_EnterRoom(id(args.first().copied()).ok_or_else(bad)?, std::ptr::null(), 0),
            "enterex" => {
                let name = cstring(args.first().copied());
                BRAC_EnterRoomEx(name.as_ptr(), std::ptr::null())
            }
            "leave" => BRAC_LeaveRoom(id(args.first().copied()).ok_or_else(bad)?),
            "call" => {
                let user = user_arg(args.first().copied())?;
                let flags = id(args.get(1).copied()).unwrap_or(BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO);
                let param = id(args.get(2).copied()).unwrap_or(0);
                let s = rest(3, &mut args);
                let r = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REQUEST, user, 0, flags, param, s.as_ptr());
                if r == 0 {
                    PEER.store(user, Ordering::SeqCst);
                }
                r
            }
            "accept" | "refuse" => {
                let from = match args.first() {
                    Some(a) if cmd == "accept" || id(Some(a)).is_none_or(|v| v < 100_000) => user_arg(Some(a))?,
                    _ => INCOMING.load(Ordering::SeqCst),
                };
                if from == NOBODY {
                    return Err(format!("{cmd}: nobody is calling"));
                }
                let code = match cmd {
                    "accept" => 0,
                    _ => args
                        .iter()
                        .rev()
                        .find_map(|a| id(Some(a)).filter(|v| *v >= 100_000))
                        .unwrap_or(AC_ERROR_VIDEOCALL_REJECT),
                };
                let r = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REPLY, from, code, 0, 0, std::ptr::null());
                // A refusal is not answered back: the call is over here.
                if r == 0 {
                    let _ = INCOMING.compare_exchange(from, NOBODY, Ordering::SeqCst, Ordering::SeqCst);
                    if code != 0 {
                        let _ = PEER.compare_exchange(from, NOBODY, Ordering::SeqCst, Ordering::SeqCst);
                    }
                }
                r
            }
            "hangup" => {
                let peer = PEER.load(Ordering::SeqCst);
                if peer == NOBODY {
                    return Err("hangup: no call".into());
                }
                // While ringing a Finish is a cancel (caller) or a refusal (callee).
                let r = BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_FINISH, peer, 0, 0, 0, std::ptr::null());
                if r == 0 {
                    let _ = INCOMING.compare_exchange(peer, NOBODY, Ordering::SeqCst, Ordering::SeqCst);
                    let _ = PEER.compare_exchange(peer, NOBODY, Ordering::SeqCst, Ordering::SeqCst);
                }
                r
            }
            "help" => {
                println!("{HELP}");
                0
            }
            "request" => {
                let user = user_arg(args.first().copied())?;
                let flags = id(args.get(1).copied()).unwrap_or(BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO);
                let param = id(args.get(2).copied()).unwrap_or(0);
                let s = rest(3, &mut args);
                BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REQUEST, user, 0, flags, param, s.as_ptr())
            }
            "reply" => {
                let user = user_arg(args.first().copied())?;
                let code = id(args.get(1).copied()).ok_or_else(bad)?;
                let param = id(args.get(2).copied()).unwrap_or(0);
                let s = rest(3, &mut args);
                BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REPLY, user, code, 0, param, s.as_ptr())
            }
            "finish" => {
                let user = user_arg(args.first().copied())?;
                let code = id(args.get(1).copied()).unwrap_or(0);
                let param = id(args.get(2).copied()).unwrap_or(0);
                let s = rest(3, &mut args);
                BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_FINISH, user, code, 0, param, s.as_ptr())
            }
            "event" => {
                let ev = id(args.first().copied()).ok_or_else(bad)?;
                let user = id(args.get(1).copied()).ok_or_else(bad)?;
                let code = id(args.get(2).copied()).unwrap_or(0);
                BRAC_VideoCallControl(ev, user, code, 0, 0, std::ptr::null())
            }
            "online" | "roomusers" => {
                let room = id(args.first().copied());
                let mut n: DWORD = 0;
                let first = match (cmd, room) {
                    ("online", _) => BRAC_GetOnlineUser(std::ptr::null_mut(), &mut n),
                    (_, Some(room)) => BRAC_GetRoomOnlineUsers(room, std::ptr::null_mut(), &mut n),
                    _ => return Err(bad()),
                };
                if first != 0 {
                    first
                } else {
                    let mut ids = vec![0u32; n as usize];
                    let r = match (cmd, room) {
                        ("online", _) => BRAC_GetOnlineUser(ids.as_mut_ptr(), &mut n),
                        (_, Some(room)) => BRAC_GetRoomOnlineUsers(room, ids.as_mut_ptr(), &mut n),
                        _ => return Err(bad()),
                    };
                    ids.truncate(n as usize);
                    ids.sort_unstable();
                    let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                    println!("users {}", list.join(","));
                    r
                }
            }
            "name" | "nick" => {
                let user = user_arg(args.first().copied())?;
                let mut buf = [0 as c_char; 256];
                let r = if cmd == "name" {
                    BRAC_GetUserName(user, buf.as_mut_ptr(), buf.len() as DWORD)
                } else {
                    BRAC_QueryUserState(user, BRAC_USERSTATE_NICKNAME as i32, buf.as_mut_ptr(), buf.len() as i32)
                };
                if r == 0 {
                    let s = CStr::from_ptr(buf.as_ptr());
                    println!("{cmd} {user} {}", String::from_utf8_lossy(s.to_bytes()));
                }
                r
            }
            "volume" => {
                let user = user_arg(args.first().copied())?;
                let mut v: u32 = 0;
                let info = BRAC_USERSTATE_SPEAKVOLUME as i32;
                let r = BRAC_QueryUserState(user, info, &mut v as *mut u32 as *mut c_char, 4);
                // The vendor's DOUBLE too (an 8-byte buffer).
                let mut d: f64 = -1.0;
                let rd = BRAC_QueryUserState(user, info, &mut d as *mut f64 as *mut c_char, 8);
                if r == 0 && rd == 0 {
                    println!("volume {} {v} {d:.1}", user as i32);
                }
                if r == 0 {
                    rd
                } else {
                    r
                }
            }
            "userstate" => {
                let (Some(user), Some(info)) =
                    (id(args.first().copied()), args.get(1).and_then(|a| a.parse::<u32>().ok()))
                else {
                    return Err(bad());
                };
                let text = [BRAC_USERSTATE_NICKNAME, BRAC_USERSTATE_LOCALIP, BRAC_USERSTATE_INTERNETIP].contains(&info);
                let mut buf = [0u8; 256];
                let r = BRAC_QueryUserState(user, info as i32, buf.as_mut_ptr() as *mut c_char, buf.len() as i32);
                if r == 0 {
                    let value = if text {
                        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
                        String::from_utf8_lossy(&buf[..end]).into_owned()
                    } else {
                        u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]).to_string()
                    };
                    println!("userstate {} {info} {value}", user as i32);
                }
                r
            }
            "query" => {
                // BRAC_QueryInfoFromServer: NAMEBYUSERID (4) takes an id,
                // the others a text; a 4-byte answer is printed as a number
                // unless it is a name.
                let info = id(args.first().copied()).ok_or_else(bad)?;
                let arg = args.get(1).copied().unwrap_or("");
                let input = if info == ANYCHAT_SERVERQUERY_NAMEBYUSERID {
                    id(Some(arg)).ok_or_else(bad)?.to_le_bytes().to_vec()
                } else {
                    arg.as_bytes().to_vec()
                };
                let mut out = [0u8; 256];
                let mut size = out.len() as DWORD;
                let r = BRAC_QueryInfoFromServer(
                    info,
                    input.as_ptr() as *mut c_char,
                    input.len() as DWORD,
                    out.as_mut_ptr() as *mut c_char,
                    &mut size,
                    0,
                );
                if r == 0 {
                    let out = &out[..(size as usize).min(out.len())];
                    let value = match <[u8; 4]>::try_from(out) {
                        Ok(v) if info != ANYCHAT_SERVERQUERY_NAMEBYUSERID => u32::from_le_bytes(v).to_string(),
                        _ => String::from_utf8_lossy(out.split(|b| *b == 0).next().unwrap_or_default()).into_owned(),
                    };
                    println!("query {info} {value}");
                }
                r
            }
            "status" | "selfid" => {
                let info = if cmd == "status" { BRAC_USERSTATE_SELFUSERSTATUS } else { BRAC_USERSTATE_SELFUSERID };
                let mut v: u32 = 0;
                let r = BRAC_QueryUserState(u32::MAX, info as i32, &mut v as *mut u32 as *mut c_char, 4);
                if r == 0 {
                    println!("{cmd} {}", v as i32);
                }
                r
            }
            "friends" | "groups" | "groupfriends" => {
                let group = id(args.first().copied());
                let list = |arr: *mut u32, n: &mut DWORD| match (cmd, group) {
                    ("friends", _) => BRAC_GetUserFriends(arr, n),
                    ("groups", _) => BRAC_GetUserGroups(arr, n),
                    (_, Some(g)) => BRAC_GetGroupFriends(g, arr, n),
                    _ => GV_ERR_FUNCOPTERROR,
                };
                let mut n: DWORD = 0;
                let mut r = list(std::ptr::null_mut(), &mut n);
                if r == 0 {
                    let mut ids = vec![0u32; n as usize];
                    r = list(ids.as_mut_ptr(), &mut n);
                    ids.truncate(n as usize);
                    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                    match group.filter(|_| cmd == "groupfriends") {
                        Some(g) => println!("{cmd} {g} {}", ids.join(",")),
                        None => println!("{cmd} {}", ids.join(",")),
                    }
                }
                r
            }
            "groupname" | "userinfo" => {
                let a = id(args.first().copied()).ok_or_else(bad)?;
                let mut buf = [0 as c_char; 2100];
                let (r, what) = if cmd == "groupname" {
                    (BRAC_GetGroupName(a, buf.as_mut_ptr(), buf.len() as DWORD), format!("{}", a as i32))
                } else {
                    let info = id(args.get(1).copied()).ok_or_else(bad)?;
                    (BRAC_GetUserInfo(a, info, buf.as_mut_ptr(), buf.len() as DWORD), format!("{} {info}", a as i32))
                };
                if r == 0 {
                    let v = CStr::from_ptr(buf.as_ptr());
                    println!("{cmd} {what} {}", String::from_utf8_lossy(v.to_bytes()));
                }
                r
            }
            "friendstatus" => {
                let user = user_arg(args.first().copied())?;
                let mut v: DWORD = 0;
                let r = BRAC_GetFriendStatus(user, &mut v);
                if r == 0 {
                    println!("friendstatus {} {v}", user as i32);
                }
                r
            }
            "mics" | "speakers" => {
                // The device names, one `device NAME` line each.
                let mut num: DWORD = 0;
                let en = if cmd == "mics" { BRAC_EnumAudioCapture } else { BRAC_EnumAudioPlayback };
                let mut r = en(std::ptr::null_mut(), &mut num);
                if r == 0 && num > 0 {
                    let mut names = vec![std::ptr::null_mut::<c_char>(); num as usize];
                    r = en(names.as_mut_ptr(), &mut num);
                    for n in names.into_iter().take(num as usize).filter(|n| !n.is_null()) {
                        println!("device {}", CStr::from_ptr(n).to_string_lossy());
                        libc::free(n.cast());
                    }
                }
                println!("devices {num}");
                r
            }
            "selectmic" | "selectspeaker" => {
                let name = rest(0, &mut args);
                if cmd == "selectmic" {
                    BRAC_SelectAudioCapture(name.as_ptr())
                } else {
                    BRAC_SelectAudioPlayback(name.as_ptr())
                }
            }
            "curmic" | "curspeaker" => {
                let mut buf = [0 as c_char; 256];
                let r = if cmd == "curmic" {
                    BRAC_GetCurAudioCapture(buf.as_mut_ptr(), buf.len() as DWORD)
                } else {
                    BRAC_GetCurAudioPlayback(buf.as_mut_ptr(), buf.len() as DWORD)
                };
                println!("{cmd} {}", CStr::from_ptr(buf.as_ptr()).to_string_lossy());
                r
            }
            "getvol" | "setvol" => {
                let dev = if args.first() == Some(&"out") { BRAC_AD_WAVEOUT } else { BRAC_AD_WAVEIN } as i32;
                if cmd == "getvol" {
                    let mut v: DWORD = 0;
                    let r = BRAC_AudioGetVolume(dev, &mut v);
                    println!("vol {v}");
                    r
                } else {
                    BRAC_AudioSetVolume(dev, id(args.get(1).copied()).ok_or_else(bad)?)
                }
            }
            "fetch" => {
                // `fetch MS`: MS ms of the mix (16 kHz mono), fetched 20 ms at
                // a time in real time; prints its RMS and strongest frequency.
                let ms = id(args.first().copied()).ok_or_else(bad)?;
                let mut all = Vec::new();
                let mut r = 0;
                let start = std::time::Instant::now();
                for i in 0..ms / 20 {
                    let mut chunk = [0u8; 640];
                    r = BRAC_FetchAudioPlayBuffer(chunk.as_mut_ptr(), chunk.len() as DWORD, 0);
                    if r != 0 {
                        break;
                    }
                    all.extend_from_slice(&chunk);
                    let due = start + std::time::Duration::from_millis(20 * (i as u64 + 1));
                    std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
                }
                println!("fetched {} rms={:.0}", all.len(), patterns::rms(&all));
                r
            }
            "sleep" => {
                let ms = id(args.first().copied()).ok_or_else(bad)?;
                std::thread::sleep(std::time::Duration::from_millis(ms as u64));
                0
            }
            "quit" => return Ok(false),
            _ => return Err(format!("unknown command '{cmd}'")),
        }
    };
    match code_name_if_human(r) {
        Some(name) => println!("ret {cmd} {r} {name}"),
        None => println!("ret {cmd} {r}"),
    }
    Ok(true)
}

/// The name of a failed command's code, for a person.
fn code_name_if_human(r: DWORD) -> Option<&'static str> {
    (human() && r != 0).then(|| anychat_cli_common::code_name(r)).flatten()
}

const HELP: &str = "\
commands (USER: a name (seen here, or asked of the server) or an id):
  connect HOST PORT          connect to a core server (tls://HOST for TLS)
  login NAME [PASS]          log in; logout, release
  call USER [FLAGS]          place a call (flags: 1 audio, 2 video, 3 both)
  accept | refuse [CODE]     answer the call ringing here (or: accept USER, refuse USER CODE)
  hangup                     end (or cancel) the call going on
  enter ROOM | enterex NAME  enter a room; leave ROOM
  online | roomusers ROOM    users of one's room
  text USER SECRET MSG       text to a user of the room (USER 0: everyone)
  camera USER 0|1, mic USER 0|1, friends, groups, name USER, status, selfid
  query INFO [ARG]           ask the server (1 id by name, 4 name by id, 201 users online)
  request, reply, finish, event, trans, transex, ...: the raw BRAC_* calls
  quit";

/// The library's log (e.g. why a TLS connect failed) on stderr: warnings by
/// default, `ANYCHAT_LOG` (a tracing filter such as `debug`) for more.
fn init_log() {
    let filter = std::env::var("ANYCHAT_LOG").unwrap_or_else(|_| "warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        eprintln!("anychat-cli: bad ANYCHAT_LOG '{filter}': {e}");
        tracing_subscriber::EnvFilter::new("warn")
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::io::stderr).init();
}

fn main() {
    init_log();
    let mut init = true;
    let mut interactive = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--auto-accept" => AUTO_REPLY.store(0, Ordering::SeqCst),
            "--auto-refuse" => {
                let code = args.next().and_then(|c| c.parse().ok()).unwrap_or(AC_ERROR_VIDEOCALL_REJECT);
                AUTO_REPLY.store(code, Ordering::SeqCst);
            }
            "--auto-enter" => AUTO_ENTER.store(1, Ordering::SeqCst),
            "--release-on-finish" => RELEASE_ON_FINISH.store(1, Ordering::SeqCst),
            "--slow-video" => {
                SLOW_VIDEO_MS.store(args.next().and_then(|v| v.parse().ok()).unwrap_or(3000), Ordering::SeqCst)
            }
            "--video-fmt" | "--input-fmt" => {
                let name = args.next().unwrap_or_default();
                let Some(f) = format_by_name(&name) else {
                    eprintln!("anychat-cli: unknown pixel format '{name}'");
                    std::process::exit(2);
                };
                let slot = if a == "--video-fmt" { &VIDEO_FMT } else { &INPUT_FMT };
                slot.store(f, Ordering::SeqCst);
            }
            "--input-codec" => {
                INPUT_CODEC.store(args.next().and_then(|v| v.parse().ok()).unwrap_or(0), Ordering::SeqCst)
            }
            "--picture" => match args.next().as_deref() {
                Some("halfwhite") => HALF_WHITE.store(1, Ordering::SeqCst),
                Some("pattern") => HALF_WHITE.store(0, Ordering::SeqCst),
                other => {
                    eprintln!("anychat-cli: unknown picture {other:?} (pattern or halfwhite)");
                    std::process::exit(2);
                }
            },
            "--no-init" => init = false,
            "--func-mode" => FUNC_MODE.store(args.next().and_then(|v| v.parse().ok()).unwrap_or(0), Ordering::SeqCst),
            "--interactive" => interactive = Some(true),
            "--script" => interactive = Some(false),
            "-V" | "--version" => {
                println!("anychat-cli {VERSION}");
                return;
            }
            "-h" | "--help" => {
                println!(
                    "usage: anychat-cli [--interactive|--script] [--auto-accept] [--auto-refuse CODE] [--auto-enter] \
                     [--no-init] [--video-fmt F] [--input-fmt F] [--picture pattern|halfwhite] [--slow-video MS] \
                     [--func-mode N] [--version]"
                );
                println!("then commands on standard input, one per line; `help` lists them.");
                println!("--interactive (the default on a terminal): prompt, explanations, call room entered on Start");
                return;
            }
            other => {
                eprintln!("anychat-cli: unknown option '{other}'");
                std::process::exit(2);
            }
        }
    }
    BRAC_SetNotifyMessageCallBack(Some(on_notify), std::ptr::null_mut());
    BRAC_SetVideoCallEventCallBack(Some(on_call), std::ptr::null_mut());
    BRAC_SetTextMessageCallBack(Some(on_text), std::ptr::null_mut());
    BRAC_SetTransBufferCallBack(Some(on_trans), std::ptr::null_mut());
    BRAC_SetTransBufferExCallBack(Some(on_trans_ex), std::ptr::null_mut());
    BRAC_SetSDKFilterDataCallBack(Some(on_filter), std::ptr::null_mut());
    BRAC_SetVideoDataExCallBack(VIDEO_FMT.load(Ordering::SeqCst) as i32, Some(on_video), std::ptr::null_mut());
    BRAC_SetAudioDataExCallBack(Some(on_audio), std::ptr::null_mut());
    if init {
        let r = BRAC_InitSDK(std::ptr::null_mut(), FUNC_MODE.load(Ordering::SeqCst));
        println!("ret init {r}");
    }
    let stdin = std::io::stdin();
    // The prompt only on a terminal: a pipe's reader wants whole lines.
    let prompt = stdin.is_terminal();
    let interactive = interactive.unwrap_or(prompt);
    HUMAN.store(interactive, Ordering::SeqCst);
    if interactive {
        AUTO_ENTER.store(1, Ordering::SeqCst);
        println!("# anychat-cli {VERSION}: `help` lists the commands");
    }
    let mut lines = stdin.lock().lines();
    loop {
        if prompt {
            print!("anychat> ");
            let _ = std::io::stdout().flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        match run_command(line.trim()) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => println!("error {e}"),
        }
    }
    BRAC_Release();
}
