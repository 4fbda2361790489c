//! The `BRAS_*` C ABI of the business-server library: a thin layer over
//! [`crate::bras`], with the same conventions as [`crate::abi::brac::api`] (argument
//! checks, `GV_ERR_*` codes, panics caught, strings as bytes).
//!
//! The core server's address comes from `ANYCHAT_CORE_ADDR` (default
//! `127.0.0.1:8907`; `tls://host:port` links over TLS, as does
//! `ANYCHAT_TLS=1`, with the `ANYCHAT_TLS*` settings of `docs/TLS.md`) and the
//! shared secret from `ANYCHAT_BUSINESS_SECRET`.
//! All callbacks — the timer included — run on the library's one network
//! thread, one at a time, in order, with no library lock held, whether or
//! not `BRAS_InitSDK` got `BRAS_INITFLAGS_MULTITHREADS`. A callback may call
//! any `BRAS_` function. A question callback (video-call REQUEST, verify
//! user, prepare enter room) that takes longer than the core server's limit
//! (5 s by default) is answered by the core server with its time-out code.
#![allow(non_snake_case, non_camel_case_types, clippy::missing_safety_doc)]

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::abi::brac::api::{
    c_bytes, copy_out, guard, write_version, Registered, BOOL, DWORD, LPBYTE, LPCTSTR, LPDWORD, LPVOID, TCHAR,
};
use crate::abi::types::{BRAS_OnRecvUserTextMsg_CallBack, BRAS_OnTransBuffer_CallBack};
use crate::bras::{Answer, BizConfig, BizEvent, Business};
use crate::client::MAX_USER_STR_LEN;
use crate::wire::constants::*;
use crate::wire::protocol::MAX_BLOB_LEN;

pub type LPTSTR = *mut c_char;
pub type CHAR = c_char;

/// Link notices: `BRAS_SERVERAPPMSG_CONNECTED` / `_DISCONNECT`.
pub type BRAS_OnServerAppMessage_CallBack = Option<unsafe extern "system" fn(DWORD, LPVOID)>;
/// Link notices: `(BRAS_MESSAGE_CORESERVERCONN, 0 or error code, 0)`.
pub type BRAS_OnServerAppMessageEx_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, LPVOID)>;
/// The timer of `BRAS_SetTimerEventCallBack`.
pub type BRAS_OnTimerEvent_CallBack = Option<unsafe extern "system" fn(LPVOID)>;
/// Login decision: return 0 and fill `*lpUserID` (0: the core server assigns
/// one), `*lpUserLevel` and `lpNickName` (`dwNCLen` bytes), or an error code.
pub type BRAS_VerifyUser_CallBack =
    Option<unsafe extern "system" fn(LPCTSTR, LPCTSTR, LPDWORD, LPDWORD, LPTSTR, DWORD, LPVOID) -> DWORD>;
/// Entering an ordinary room: 0 admits, anything else is the user's error code.
pub type BRAS_PrepareEnterRoom_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, LPCTSTR, LPCTSTR, LPVOID) -> DWORD>;
pub type BRAS_OnUserLoginAction_CallBack = Option<unsafe extern "system" fn(DWORD, LPCTSTR, DWORD, LPCTSTR, LPVOID)>;
pub type BRAS_OnUserLogoutAction_CallBack = Option<unsafe extern "system" fn(DWORD, LPVOID)>;
pub type BRAS_OnUserLogoutActionEx_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, LPVOID)>;
pub type BRAS_OnUserEnterRoomAction_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, LPVOID)>;
pub type BRAS_OnUserLeaveRoomAction_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, LPVOID)>;
/// Every call event; for REQUEST the return value decides (0 = proceed).
pub type BRAS_OnVideoCallEvent_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, DWORD, DWORD, DWORD, LPCTSTR, LPVOID) -> DWORD>;

type Slot<F> = Option<Registered<F>>;
pub(crate) type Inner<T> = <T as Unwrap>::F;

/// The function type inside a callback's `Option`.
pub trait Unwrap {
    type F: Copy;
}
impl<F: Copy> Unwrap for Option<F> {
    type F = F;
}

#[derive(Default)]
struct BizCallbacks {
    app_message: Slot<Inner<BRAS_OnServerAppMessage_CallBack>>,
    app_message_ex: Slot<Inner<BRAS_OnServerAppMessageEx_CallBack>>,
    timer: Slot<Inner<BRAS_OnTimerEvent_CallBack>>,
    verify: Slot<Inner<BRAS_VerifyUser_CallBack>>,
    prepare_enter: Slot<Inner<BRAS_PrepareEnterRoom_CallBack>>,
    login: Slot<Inner<BRAS_OnUserLoginAction_CallBack>>,
    logout: Slot<Inner<BRAS_OnUserLogoutAction_CallBack>>,
    logout_ex: Slot<Inner<BRAS_OnUserLogoutActionEx_CallBack>>,
    enter_room: Slot<Inner<BRAS_OnUserEnterRoomAction_CallBack>>,
    leave_room: Slot<Inner<BRAS_OnUserLeaveRoomAction_CallBack>>,
    video_call: Slot<Inner<BRAS_OnVideoCallEvent_CallBack>>,
    text: Slot<Inner<BRAS_OnRecvUserTextMsg_CallBack>>,
    trans_buffer: Slot<Inner<BRAS_OnTransBuffer_CallBack>>,
}

static CALLBACKS: RwLock<BizCallbacks> = RwLock::new(BizCallbacks {
    app_message: None,
    app_message_ex: None,
    timer: None,
    verify: None,
    prepare_enter: None,
    login: None,
    logout: None,
    logout_ex: None,
    enter_room: None,
    leave_room: None,
    video_call: None,
    text: None,
    trans_buffer: None,
});
static SDK: Mutex<Option<Arc<Business>>> = Mutex::new(None);
/// Timer interval asked before `BRAS_InitSDK`, applied when it starts.
static TIMER_MS: Mutex<u32> = Mutex::new(0);

fn sdk() -> Result<Arc<Business>, DWORD> {
    SDK.lock().clone().ok_or(GV_ERR_NOTINIT)
}

/// An exported function's body that needs the SDK (`GV_ERR_NOTINIT` without one).
fn with_sdk(body: impl FnOnce(&Business) -> DWORD) -> DWORD {
    guard(|| match sdk() {
        Ok(b) => body(&b),
        Err(e) => e,
    })
}

/// A NUL-terminated copy, valid while it lives.
fn z(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.extend_from_slice(bytes);
    v.push(0);
    v
}

fn cs(v: &[u8]) -> LPCTSTR {
    v.as_ptr() as LPCTSTR
}

/// Calls the app's callbacks for one event, with no lock held.
fn deliver(ev: BizEvent) -> Answer {
    let cb = {
        let c = CALLBACKS.read();
        (
            c.app_message,
            c.app_message_ex,
            c.timer,
            c.verify,
            c.prepare_enter,
            c.login,
            c.logout,
            c.logout_ex,
            c.enter_room,
            c.leave_room,
            c.video_call,
            c.text,
            c.trans_buffer,
        )
    };
    let (app, app_ex, timer, verify, prepare, login, logout, logout_ex, enter, leave, call, text_cb, trans_cb) = cb;
    // SAFETY (every call below): the app registered each function with the
    // signature of its type; strings passed are NUL-terminated copies that
    // live until the call returns; out-pointers point to our locals.
    unsafe {
        match ev {
            BizEvent::LinkUp | BizEvent::LinkDown { .. } => {
                let (msg, code) = match ev {
                    BizEvent::LinkDown { code } => (BRAS_SERVERAPPMSG_DISCONNECT, code),
                    _ => (BRAS_SERVERAPPMSG_CONNECTED, 0),
                };
                if let Some(f) = app {
                    (f.func)(msg, f.user());
                }
                if let Some(f) = app_ex {
                    (f.func)(BRAS_MESSAGE_CORESERVERCONN, code, 0, f.user());
                }
                Answer::None
            }
            BizEvent::Timer => {
                if let Some(f) = timer {
                    (f.func)(f.user());
                }
                Answer::None
            }
            BizEvent::AskCall { src, tar, flags, param, user_str } => match call {
                Some(f) => {
                    let s = z(&user_str);
                    Answer::Code((f.func)(BRAS_VIDEOCALL_EVENT_REQUEST, src, tar, 0, flags, param, cs(&s), f.user()))
                }
                None => Answer::Code(0),
            },
            BizEvent::CallNote { event, src, tar, error_code, flags, param, user_str } => {
                if let Some(f) = call {
                    let s = z(&user_str);
                    (f.func)(event, src, tar, error_code, flags, param, cs(&s), f.user());
                }
                Answer::None
            }
            BizEvent::AskVerify { name, password, user_id, .. } => match verify {
                Some(f) => {
                    let (n, p) = (z(&name), z(&password));
                    // `*lpUserID` comes in as the id a `BRAC_LoginEx` claims
                    // (0: none): left as it is, it is granted; 0 lets the core
                    // server keep the id it has for the name.
                    let (mut uid, mut level) = (user_id, 0u32);
                    let mut nick = [0 as c_char; 256];
                    let code = (f.func)(cs(&n), cs(&p), &mut uid, &mut level, nick.as_mut_ptr(), 256, f.user());
                    nick[255] = 0;
                    let nick = c_bytes(nick.as_ptr(), 255).unwrap_or_default();
                    Answer::Verify { code, user_id: uid, level, nick }
                }
                None => Answer::Verify { code: 0, user_id: 0, level: 0, nick: Vec::new() },
            },
            BizEvent::AskEnter { user_id, room_id, room_name, password } => match prepare {
                Some(f) => {
                    let (n, p) = (z(&room_name), z(&password));
                    Answer::Code((f.func)(user_id, room_id, cs(&n), cs(&p), f.user()))
                }
                None => Answer::Code(0),
            },
            BizEvent::UserLogin { user_id, name, level, ip } => {
                if let Some(f) = login {
                    let (n, i) = (z(&name), z(&ip));
                    (f.func)(user_id, cs(&n), level, cs(&i), f.user());
                }
                Answer::None
            }
            BizEvent::UserLogout { user_id, code } => {
                if let Some(f) = logout {
                    (f.func)(user_id, f.user());
                }
                if let Some(f) = logout_ex {
                    (f.func)(user_id, code, f.user());
                }
                Answer::None
            }
            BizEvent::Text { room_id, src, tar, secret, text } => {
                if let Some(f) = text_cb {
                    let len = text.len() as DWORD;
                    let t = z(&text);
                    (f.func)(room_id, src, tar, secret as BOOL, cs(&t), len, f.user());
                }
                Answer::None
            }
            BizEvent::TransBuffer { user_id, mut data } => {
                if let Some(f) = trans_cb {
                    let len = data.len() as DWORD;
                    (f.func)(user_id, data.as_mut_ptr(), len, f.user());
                }
                Answer::None
            }
            BizEvent::UserRoom { user_id, room_id, entered } => {
                let f = if entered { enter } else { leave };
                if let Some(f) = f {
                    (f.func)(user_id, room_id, f.user());
                }
                Answer::None
            }
        }
    }
}

// ----- version, init, release -------------------------------------------

/// Writes the library version and a build description (may be NULL).
#[no_mangle]
pub unsafe extern "C" fn BRAS_GetSDKVersion(
    dwMainVer: *mut DWORD,
    dwSubVer: *mut DWORD,
    lpCompileTime: *mut TCHAR,
    dwBufLen: DWORD,
) -> DWORD {
    // SAFETY: forwarded from our caller with the same contract.
    guard(|| unsafe { write_version(dwMainVer, dwSubVer, lpCompileTime, dwBufLen) })
}

/// Starts the network thread, which connects to the core server and keeps
/// reconnecting (100 ms … 5 s backoff) whenever the link drops. Link state
/// arrives through the server-app-message callbacks. Again while started: 0.
#[no_mangle]
pub extern "C" fn BRAS_InitSDK(dwReserved: DWORD) -> DWORD {
    let _ = dwReserved;
    guard(|| {
        let mut sdk = SDK.lock();
        if sdk.is_some() {
            return 0;
        }
        match Business::start(BizConfig::from_env(), Box::new(deliver)) {
            Ok(b) => {
                let ms = *TIMER_MS.lock();
                if ms > 0 {
                    b.set_timer(Some(Duration::from_millis(ms as u64)));
                }
                *sdk = Some(Arc::new(b));
                0
            }
            Err(e) => {
                tracing::error!("BRAS_InitSDK: cannot start the network thread: {e}");
                GV_ERR_MEMORYFAIL
            }
        }
    })
}

/// Closes the link and stops the thread; no callback runs after it returns
/// (unless called from a callback, which it may be).
#[no_mangle]
pub extern "C" fn BRAS_Release() -> DWORD {
    guard(|| match SDK.lock().take() {
        Some(b) => {
            b.shutdown();
            0
        }
        None => GV_ERR_NOTINIT,
    })
}

// ----- callbacks ----------------------------------------------------------

fn set(f: impl FnOnce(&mut BizCallbacks)) -> DWORD {
    guard(|| {
        f(&mut CALLBACKS.write());
        0
    })
}

/// Registers (or, with NULL, removes) the link callback: `BRAS_SERVERAPPMSG_CONNECTED` / `_DISCONNECT`.
#[no_mangle]
pub extern "C" fn BRAS_SetOnServerAppMessageCallBack(
    lpFunction: BRAS_OnServerAppMessage_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.app_message = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the link callback `(BRAS_MESSAGE_CORESERVERCONN, 0 or error code, 0)`.
#[no_mangle]
pub extern "C" fn BRAS_SetOnServerAppMessageExCallBack(
    lpFunction: BRAS_OnServerAppMessageEx_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.app_message_ex = Registered::new(lpFunction, lpUserValue))
}

/// Fires `lpFunction` every `dwElapse` ms on the network thread (0 or NULL
/// stops it). May be set before or after `BRAS_InitSDK`.
#[no_mangle]
pub extern "C" fn BRAS_SetTimerEventCallBack(
    dwElapse: DWORD,
    lpFunction: BRAS_OnTimerEvent_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    guard(|| {
        let ms = if lpFunction.is_some() { dwElapse } else { 0 };
        CALLBACKS.write().timer = Registered::new(lpFunction, lpUserValue);
        *TIMER_MS.lock() = ms;
        if let Ok(b) = sdk() {
            b.set_timer((ms > 0).then(|| Duration::from_millis(ms as u64)));
        }
        0
    })
}

/// Registers (or, with NULL, removes) the login decision callback (none: every login is admitted, ids by name).
#[no_mangle]
pub extern "C" fn BRAS_SetVerifyUserCallBack(lpFunction: BRAS_VerifyUser_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.verify = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the callback deciding entries into ordinary rooms (a call's room is for its parties only).
#[no_mangle]
pub extern "C" fn BRAS_SetPrepareEnterRoomCallBack(
    lpFunction: BRAS_PrepareEnterRoom_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.prepare_enter = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the callback told of every login.
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserLoginActionCallBack(
    lpFunction: BRAS_OnUserLoginAction_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.login = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the callback told of every session end.
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserLogoutActionCallBack(
    lpFunction: BRAS_OnUserLogoutAction_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.logout = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the callback told of every session end with its code (0 logout, 209 elsewhere, 101 lost or kicked).
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserLogoutActionExCallBack(
    lpFunction: BRAS_OnUserLogoutActionEx_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.logout_ex = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the callback told of every room entry.
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserEnterRoomActionCallBack(
    lpFunction: BRAS_OnUserEnterRoomAction_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.enter_room = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the callback told of every room departure (a call's room closing included).
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserLeaveRoomActionCallBack(
    lpFunction: BRAS_OnUserLeaveRoomAction_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.leave_room = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the video-call callback: sees every Request first (its return value decides), then REPLY, START and FINISH.
#[no_mangle]
pub extern "C" fn BRAS_SetOnVideoCallEventCallBack(
    lpFunction: BRAS_OnVideoCallEvent_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.video_call = Registered::new(lpFunction, lpUserValue))
}

/// Registers a callback by type (`BRAS_CBTYPE_*`): APPMESSAGE, APPMESSAGEEX,
/// VERIFYUSER, PERPAREENTERROOM, USERLOGIN, USERLOGOUT, USERLOGOUTEX,
/// USERENTERROOM, USERLEAVEROOM and VIDEOCALL; FILTERDATA, TRANSBUFFEREX,
/// TRANSFILE, SERVERRECORD and SERVERRECORDEX are accepted, and never called
/// (features not provided). ONTIMER needs an interval:
/// use `BRAS_SetTimerEventCallBack` (here: 20). Other known types: 20;
/// unknown: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SetCallBack(dwCBType: DWORD, lpFunction: LPVOID, lpUserValue: LPVOID) -> DWORD {
    macro_rules! as_fn {
        ($t:ty) => {{
            // SAFETY: the app passes a function of the type that goes with
            // `dwCBType` (the vendor's contract); NULL maps to None.
            let f: $t = unsafe { std::mem::transmute::<LPVOID, $t>(lpFunction) };
            f
        }};
    }
    let u = lpUserValue;
    match dwCBType {
        BRAS_CBTYPE_APPMESSAGE => BRAS_SetOnServerAppMessageCallBack(as_fn!(BRAS_OnServerAppMessage_CallBack), u),
        BRAS_CBTYPE_APPMESSAGEEX => BRAS_SetOnServerAppMessageExCallBack(as_fn!(BRAS_OnServerAppMessageEx_CallBack), u),
        BRAS_CBTYPE_VERIFYUSER => BRAS_SetVerifyUserCallBack(as_fn!(BRAS_VerifyUser_CallBack), u),
        BRAS_CBTYPE_PERPAREENTERROOM => BRAS_SetPrepareEnterRoomCallBack(as_fn!(BRAS_PrepareEnterRoom_CallBack), u),
        BRAS_CBTYPE_USERLOGIN => BRAS_SetOnUserLoginActionCallBack(as_fn!(BRAS_OnUserLoginAction_CallBack), u),
        BRAS_CBTYPE_USERLOGOUT => BRAS_SetOnUserLogoutActionCallBack(as_fn!(BRAS_OnUserLogoutAction_CallBack), u),
        BRAS_CBTYPE_USERLOGOUTEX => BRAS_SetOnUserLogoutActionExCallBack(as_fn!(BRAS_OnUserLogoutActionEx_CallBack), u),
        BRAS_CBTYPE_USERENTERROOM => {
            BRAS_SetOnUserEnterRoomActionCallBack(as_fn!(BRAS_OnUserEnterRoomAction_CallBack), u)
        }
        BRAS_CBTYPE_USERLEAVEROOM => {
            BRAS_SetOnUserLeaveRoomActionCallBack(as_fn!(BRAS_OnUserLeaveRoomAction_CallBack), u)
        }
        BRAS_CBTYPE_VIDEOCALL => BRAS_SetOnVideoCallEventCallBack(as_fn!(BRAS_OnVideoCallEvent_CallBack), u),
        BRAS_CBTYPE_TEXTMESSAGE => BRAS_SetOnRecvUserTextMsgCallBack(as_fn!(BRAS_OnRecvUserTextMsg_CallBack), u),
        BRAS_CBTYPE_TRANSBUFFER => BRAS_SetOnTransBufferCallBack(as_fn!(BRAS_OnTransBuffer_CallBack), u),
        // SAFETY: the app passes a function of the type `t` names.
        t => unsafe { crate::abi::bras::unsupported::set_callback(t, lpFunction, u) },
    }
}

// ----- actions ------------------------------------------------------------

/// Ends `dwUserId`'s call (`BRAS_VIDEOCALL_EVENT_FINISH` only): during a
/// call both parties get FINISH(`dwErrorCode`); while ringing both get
/// REPLY(`dwErrorCode`, or 100101 when 0). A user not in a call: 20; other
/// event types: 20 (REQUEST/REPLY/START) or 21; link down: 101.
#[no_mangle]
pub unsafe extern "C" fn BRAS_VideoCallControl(
    dwEventType: DWORD,
    dwUserId: DWORD,
    dwErrorCode: DWORD,
    dwFlags: DWORD,
    dwParam: DWORD,
    lpUserStr: LPCTSTR,
) -> DWORD {
    with_sdk(|b| {
        // SAFETY: a C string from the caller, or NULL.
        let Some(s) = (unsafe { c_bytes(lpUserStr, MAX_USER_STR_LEN) }) else { return GV_ERR_FUNCOPTERROR };
        b.video_call(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, &s)
    })
}

/// `BRAS_USERINFO_CTRLCODE_KICKOUT`: the user is disconnected with
/// `WM_GV_LINKCLOSE(wParam, or 101 when 0)` and its call ends as for a lost
/// connection. Other codes: 20.
#[no_mangle]
pub unsafe extern "C" fn BRAS_UserInfoControl(
    dwUserId: DWORD,
    dwCtrlCode: DWORD,
    wParam: DWORD,
    lParam: DWORD,
    lpStrValue: LPCTSTR,
) -> DWORD {
    with_sdk(|b| {
        // SAFETY: a C string from the caller, or NULL.
        let Some(s) = (unsafe { c_bytes(lpStrValue, MAX_USER_STR_LEN) }) else { return GV_ERR_FUNCOPTERROR };
        b.user_control(dwUserId, dwCtrlCode, wParam, lParam, &s)
    })
}

/// Sends `dwLen` bytes (1 ..= 65,472) to a user; they arrive through its
/// `BRAC_SDKFilterData_CallBack` (`BRAS_TransBuffer` is the one that reaches
/// `BRAC_TransBuffer_CallBack`, from user 0). An offline user: dropped.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SendBufToUser(dwUserId: DWORD, lpBuf: LPCTSTR, dwLen: DWORD) -> DWORD {
    with_sdk(|b| {
        if lpBuf.is_null() || dwLen == 0 || dwLen as usize > MAX_BLOB_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        // SAFETY: the caller gave `dwLen` readable bytes at `lpBuf`.
        let data = unsafe { std::slice::from_raw_parts(lpBuf as *const u8, dwLen as usize) };
        b.send_buf(dwUserId, data, false, false)
    })
}

/// Accepts the `BRAS_SO_*` options (recording settings have no effect here:
/// no recording server); unknown options: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SetSDKOption(optname: DWORD, optval: *mut CHAR, optlen: DWORD) -> DWORD {
    guard(|| {
        if optval.is_null() || optlen == 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        match optname {
            o if (BRAS_SO_GETTRANSBUFTIMESTAMP..=BRAS_SO_RECORD_FILENAMERULE).contains(&o) => 0,
            _ => GV_ERR_FUNCOPTERROR,
        }
    })
}

/// Registers (or, with NULL, removes) the callback for text messages
/// between users: `(room, src, tar (0: the room), bSecret, text, len)`.
#[no_mangle]
pub extern "C" fn BRAS_SetOnRecvUserTextMsgCallBack(
    lpFunction: BRAS_OnRecvUserTextMsg_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.text = Registered::new(lpFunction, lpUserValue))
}

/// Registers (or, with NULL, removes) the callback for bytes users send to
/// the business server (`BRAC_TransBuffer` to user 0).
#[no_mangle]
pub extern "C" fn BRAS_SetOnTransBufferCallBack(lpFunction: BRAS_OnTransBuffer_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.trans_buffer = Registered::new(lpFunction, lpUserValue))
}

/// Sends buffer bytes through one of the business server's channels.
///
/// # Safety
/// `buf` is NULL or has `len` readable bytes.
unsafe fn send(target: DWORD, buf: *const u8, len: DWORD, to_room: bool, trans: bool) -> DWORD {
    let b = match sdk() {
        Ok(b) => b,
        Err(e) => return e,
    };
    if buf.is_null() || len == 0 || len as usize > MAX_BLOB_LEN {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: the caller gave `len` readable bytes at `buf`.
    let data = unsafe { std::slice::from_raw_parts(buf, len as usize) };
    b.send_buf(target, data, to_room, trans)
}

/// Sends `dwLen` bytes (1 … 65,472) to everyone in room `dwRoomId`; they
/// arrive in each client's `BRAC_SDKFilterData_CallBack`.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SendBufToRoom(dwRoomId: DWORD, lpBuf: LPCTSTR, dwLen: DWORD) -> DWORD {
    // SAFETY: forwarded from our caller.
    guard(|| unsafe { send(dwRoomId, lpBuf as *const u8, dwLen, true, false) })
}

/// Sends `dwLen` bytes (1 … 65,472) to a user; they arrive in its
/// `BRAC_TransBuffer_CallBack` with `dwUserid` 0.
#[no_mangle]
pub unsafe extern "C" fn BRAS_TransBuffer(dwUserId: DWORD, lpBuf: LPBYTE, dwLen: DWORD) -> DWORD {
    // SAFETY: forwarded from our caller.
    guard(|| unsafe { send(dwUserId, lpBuf, dwLen, false, true) })
}

/// Sets an info of a user (any `dwInfoId`; a NUL-terminated value of at
/// most 2,048 bytes): kept for `BRAS_GetUserInfo`, and sent to the user if
/// it is online (`WM_GV_USERINFOUPDATE(user, info id)`). `dwFlags` ignored.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SetUserInfo(
    dwUserId: DWORD,
    dwInfoId: DWORD,
    lpInfoValue: LPCTSTR,
    dwFlags: DWORD,
) -> DWORD {
    let _ = dwFlags;
    with_sdk(|b| {
        // SAFETY: a C string from the caller, or NULL.
        let Some(v) = (unsafe { c_bytes(lpInfoValue, MAX_USER_STR_LEN) }) else { return GV_ERR_FUNCOPTERROR };
        b.set_user_info(dwUserId, dwInfoId, &v)
    })
}

/// Reads an info set with `BRAS_SetUserInfo`. For a user logged in, info id
/// 1 (its user name) and 2 (its level, as decimal text) are known without
/// being set. Nothing known: 205.
#[no_mangle]
pub unsafe extern "C" fn BRAS_GetUserInfo(
    dwUserId: DWORD,
    dwInfoId: DWORD,
    lpInfoValue: *mut TCHAR,
    dwSize: DWORD,
) -> DWORD {
    with_sdk(|b| {
        if lpInfoValue.is_null() || dwSize == 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        let value = b.with_state(|st| {
            st.user_infos.get(&(dwUserId, dwInfoId)).cloned().or_else(|| {
                let (name, level) = st.users.get(&dwUserId)?;
                match dwInfoId {
                    1 => Some(name.clone()),
                    2 => Some(level.to_string().into_bytes()),
                    _ => None,
                }
            })
        });
        match value {
            // SAFETY: `dwSize` writable bytes, checked non-NULL.
            Some(v) => unsafe { copy_out(lpInfoValue, dwSize as usize, &v) },
            None => GV_ERR_INVALID_USERID,
        }
    })
}
