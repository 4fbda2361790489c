//! The `BRAC_*` C ABI: a thin layer over [`crate::client`].
//!
//! Every exported function checks its arguments, turns them into a call on
//! the process's one [`Client`], and returns a `GV_ERR_*` code. Each body runs
//! inside `guard`, so a panic becomes [`ERR_INTERNAL`] and never unwinds
//! into C. Types follow the vendor's Linux headers: `DWORD` is `u32`, `BOOL`
//! and `LONG` are C `long`, strings are NUL-terminated byte strings carried
//! unchanged (never assumed to be UTF-8), a NULL string counts as "".
//!
//! Ownership: the library never keeps a pointer the app passed in, except
//! the callback function pointers and their `lpUserValue`, which it hands
//! back unchanged. Output buffers belong to the caller and are written only
//! within the length the caller gave.
//!
//! Callbacks run on the library's callback thread, one at a time, with no
//! library lock held: a callback may call any `BRAC_` function, including
//! `BRAC_Release` (which then returns without waiting for the thread).
#![allow(non_snake_case, non_camel_case_types, clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_long, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::abi::bras::api::Inner;
use crate::abi::types::{BRAC_TextMessage_CallBack, BRAC_TransBufferEx_CallBack};
use crate::client::{Client, Event, MAX_NAME_LEN, MAX_USER_STR_LEN};
use crate::wire::constants::*;
use crate::wire::protocol::{DEVICE_CAMERA, DEVICE_MIC, MAX_BLOB_LEN};

pub type DWORD = u32;
pub type BOOL = c_long;
pub type LONG = c_long;
pub type TCHAR = c_char;
pub type LPCTSTR = *const c_char;
pub type LPVOID = *mut c_void;
pub type HWND = *mut c_void;
pub type LPDWORD = *mut DWORD;
pub type LPBYTE = *mut u8;

/// `WM_GV_*` notifications: `(dwNotifyMsg, wParam, lParam, lpUserValue)`.
pub type BRAC_NotifyMessage_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, LPVOID)>;
/// Video-call events: `(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, lpUserStr, lpUserValue)`.
pub type BRAC_VideoCallEvent_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, DWORD, DWORD, LPCTSTR, LPVOID)>;

/// Bytes relayed to this user: `(dwUserid, lpBuf, dwLen, lpUserValue)`;
/// `dwUserid` 0 means the business server (`BRAS_SendBufToUser`).
pub type BRAC_TransBuffer_CallBack = Option<unsafe extern "system" fn(DWORD, LPBYTE, DWORD, LPVOID)>;

/// Returned when a panic was caught inside the library (an internal error).
pub const ERR_INTERNAL: DWORD = GV_ERR_MEMORYFAIL;

/// A callback and its user value, stored as plain words so they may cross threads.
#[derive(Clone, Copy)]
pub(crate) struct Registered<F> {
    pub(crate) func: F,
    pub(crate) user: usize,
}

impl<F> Registered<F> {
    /// A registration from the app's (function, user value); NULL → None.
    pub(crate) fn new(func: Option<F>, user: LPVOID) -> Option<Self> {
        func.map(|func| Registered { func, user: user as usize })
    }

    pub(crate) fn user(&self) -> LPVOID {
        self.user as LPVOID
    }
}

#[derive(Default)]
struct Callbacks {
    notify: Option<Registered<unsafe extern "system" fn(DWORD, DWORD, DWORD, LPVOID)>>,
    video_call: Option<Registered<unsafe extern "system" fn(DWORD, DWORD, DWORD, DWORD, DWORD, LPCTSTR, LPVOID)>>,
    trans_buffer: Option<Registered<unsafe extern "system" fn(DWORD, LPBYTE, DWORD, LPVOID)>>,
    trans_buffer_ex: Option<Registered<Inner<BRAC_TransBufferEx_CallBack>>>,
    text: Option<Registered<Inner<BRAC_TextMessage_CallBack>>>,
}

static CALLBACKS: RwLock<Callbacks> =
    RwLock::new(Callbacks { notify: None, video_call: None, trans_buffer: None, trans_buffer_ex: None, text: None });
static SDK: Mutex<Option<Arc<Client>>> = Mutex::new(None);

/// Runs an exported function's body; a panic becomes [`ERR_INTERNAL`].
pub(crate) fn guard(body: impl FnOnce() -> DWORD) -> DWORD {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(ERR_INTERNAL)
}

/// The initialised SDK, or `GV_ERR_NOTINIT`. The global lock is held only
/// while the `Arc` is cloned.
fn sdk() -> Result<Arc<Client>, DWORD> {
    SDK.lock().clone().ok_or(GV_ERR_NOTINIT)
}

/// An exported function's body that needs the SDK: `GV_ERR_NOTINIT`
/// without one, a panic becomes [`ERR_INTERNAL`].
pub(crate) fn with_sdk(body: impl FnOnce(&Client) -> DWORD) -> DWORD {
    guard(|| match sdk() {
        Ok(c) => body(&c),
        Err(e) => e,
    })
}

/// Reads a NUL-terminated string of at most `max` bytes; NULL reads as "".
/// `None` when longer than `max`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn c_bytes(p: *const c_char, max: usize) -> Option<Vec<u8>> {
    if p.is_null() {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for i in 0..=max {
        // SAFETY: the caller guarantees a NUL-terminated string; we stop at the NUL.
        let b = unsafe { *p.add(i) } as u8;
        if b == 0 {
            return Some(out);
        }
        out.push(b);
    }
    None
}

/// Copies `bytes` and a NUL into `buf` of `len` bytes, cut to fit.
///
/// # Safety
/// `buf` points to `len` writable bytes (checked non-NULL here).
pub(crate) unsafe fn copy_out(buf: *mut c_char, len: usize, bytes: &[u8]) -> DWORD {
    if buf.is_null() || len == 0 {
        return GV_ERR_FUNCOPTERROR;
    }
    let n = bytes.len().min(len - 1);
    // SAFETY: `n + 1 <= len` bytes of `buf` are writable, as the caller promised.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
    0
}

/// The two-step (array, count) habit: NULL array → write the count; else
/// fill up to `*num` ids and set `*num` to the number written.
///
/// # Safety
/// `num` is NULL or valid; `arr`, when not NULL, has room for `*num` ids.
unsafe fn fill_ids(arr: LPDWORD, num: *mut DWORD, ids: &[u32]) -> DWORD {
    if num.is_null() {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: `num` is non-NULL and points to a DWORD the caller owns.
    unsafe {
        if arr.is_null() {
            *num = ids.len() as DWORD;
        } else {
            let n = ids.len().min(*num as usize);
            std::ptr::copy_nonoverlapping(ids.as_ptr(), arr, n);
            *num = n as DWORD;
        }
    }
    0
}

/// Delivers one event to the registered callback, with no lock held.
fn deliver(ev: Event) {
    match ev {
        Event::Notify { msg, wparam, lparam } => {
            let cb = CALLBACKS.read().notify;
            if let Some(cb) = cb {
                // SAFETY: the app registered this function with this signature.
                unsafe { (cb.func)(msg, wparam, lparam, cb.user as LPVOID) };
            }
        }
        Event::VideoCall { event, user_id, error_code, flags, param, mut user_str } => {
            let cb = CALLBACKS.read().video_call;
            if let Some(cb) = cb {
                user_str.push(0);
                let s = user_str.as_ptr() as LPCTSTR;
                // SAFETY: the app registered this function with this signature;
                // `s` is NUL-terminated and lives until the call returns.
                unsafe { (cb.func)(event, user_id, error_code, flags, param, s, cb.user as LPVOID) };
            }
        }
        ev @ (Event::Video { .. } | Event::Audio { .. }) => crate::abi::brac::media::deliver_media(ev),
        Event::Text { from, to, secret, mut text } => {
            let cb = CALLBACKS.read().text;
            if let Some(cb) = cb {
                let len = text.len() as DWORD;
                text.push(0);
                // SAFETY: the app registered this function with this signature;
                // the text is NUL-terminated and lives until the call returns.
                unsafe { (cb.func)(from, to, secret as BOOL, text.as_ptr() as LPCTSTR, len, cb.user()) };
            }
        }
        Event::FilterData { mut data } => {
            let cb = crate::abi::brac::unsupported::STUB_CALLBACKS.read().sdk_filter_data;
            if let Some(cb) = cb {
                let len = data.len() as DWORD;
                // SAFETY: the app registered this function with this signature.
                unsafe { (cb.func)(data.as_mut_ptr(), len, cb.user()) };
            }
        }
        Event::TransBuffer { from, ex: true, wparam, lparam, task_id, mut data } => {
            let cb = CALLBACKS.read().trans_buffer_ex;
            if let Some(cb) = cb {
                let len = data.len() as DWORD;
                // SAFETY: the app registered this function with this signature.
                unsafe { (cb.func)(from, data.as_mut_ptr(), len, wparam, lparam, task_id, cb.user()) };
            }
        }
        Event::TransBuffer { from, mut data, .. } => {
            let cb = CALLBACKS.read().trans_buffer;
            if let Some(cb) = cb {
                let len = data.len() as DWORD;
                // SAFETY: the app registered this function with this signature;
                // the buffer lives until the call returns.
                unsafe { (cb.func)(from, data.as_mut_ptr(), len, cb.user as LPVOID) };
            }
        }
    }
}

// ----- version, init, release -------------------------------------------

/// Writes the library version and a build description.
/// `lpCompileTime` (may be NULL) receives at most `dwBufLen` bytes.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetSDKVersion(
    dwMainVer: *mut DWORD,
    dwSubVer: *mut DWORD,
    lpCompileTime: *mut TCHAR,
    dwBufLen: DWORD,
) -> DWORD {
    guard(|| {
        // SAFETY: forwarded from our caller with the same contract.
        unsafe { write_version(dwMainVer, dwSubVer, lpCompileTime, dwBufLen) }
    })
}

/// Body of `BRAC_GetSDKVersion` and `BRAS_GetSDKVersion`.
///
/// # Safety
/// Non-NULL pointers are valid; `lpCompileTime` has `dwBufLen` bytes.
pub(crate) unsafe fn write_version(
    dwMainVer: *mut DWORD,
    dwSubVer: *mut DWORD,
    lpCompileTime: *mut TCHAR,
    dwBufLen: DWORD,
) -> DWORD {
    if dwMainVer.is_null() || dwSubVer.is_null() {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: both pointers were checked non-NULL.
    unsafe {
        *dwMainVer = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
        *dwSubVer = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    }
    if !lpCompileTime.is_null() && dwBufLen > 0 {
        let text = concat!("anychat-rs ", env!("CARGO_PKG_VERSION"));
        // SAFETY: the caller gave `dwBufLen` writable bytes.
        return unsafe { copy_out(lpCompileTime, dwBufLen as usize, text.as_bytes()) };
    }
    0
}

/// Starts the SDK (its network thread). `hWnd` is ignored (no window
/// messages on Linux; use `BRAC_SetNotifyMessageCallBack`). Calling it again
/// while initialised returns 0 and changes nothing.
#[no_mangle]
pub extern "C" fn BRAC_InitSDK(hWnd: HWND, dwFuncMode: DWORD) -> DWORD {
    let _ = (hWnd, dwFuncMode);
    guard(|| {
        let mut sdk = SDK.lock();
        if sdk.is_some() {
            return 0;
        }
        match Client::start(Box::new(deliver)) {
            Ok(c) => {
                *sdk = Some(Arc::new(c));
                0
            }
            Err(e) => {
                tracing::error!("BRAC_InitSDK: cannot start the network thread: {e}");
                GV_ERR_MEMORYFAIL
            }
        }
    })
}

/// Logs out if logged in, closes the link and stops the network thread.
/// No callback runs after it returns (unless called from a callback).
/// Registered callbacks stay registered for a later `BRAC_InitSDK`.
#[no_mangle]
pub extern "C" fn BRAC_Release() -> DWORD {
    guard(|| {
        let client = SDK.lock().take();
        match client {
            Some(c) => {
                c.shutdown();
                0
            }
            None => GV_ERR_NOTINIT,
        }
    })
}

// ----- callbacks ----------------------------------------------------------

/// Registers (or, with NULL, removes) the `WM_GV_*` notification callback.
#[no_mangle]
pub extern "C" fn BRAC_SetNotifyMessageCallBack(lpFunction: BRAC_NotifyMessage_CallBack, lpUserValue: LPVOID) -> DWORD {
    guard(|| {
        CALLBACKS.write().notify = Registered::new(lpFunction, lpUserValue);
        0
    })
}

/// Registers (or, with NULL, removes) the video-call event callback.
#[no_mangle]
pub extern "C" fn BRAC_SetVideoCallEventCallBack(
    lpFunction: BRAC_VideoCallEvent_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    guard(|| {
        CALLBACKS.write().video_call = Registered::new(lpFunction, lpUserValue);
        0
    })
}

/// Registers (or, with NULL, removes) the callback for relayed bytes.
#[no_mangle]
pub extern "C" fn BRAC_SetTransBufferCallBack(lpFunction: BRAC_TransBuffer_CallBack, lpUserValue: LPVOID) -> DWORD {
    guard(|| {
        CALLBACKS.write().trans_buffer = Registered::new(lpFunction, lpUserValue);
        0
    })
}

/// Registers (or, with NULL, removes) the text-message callback.
#[no_mangle]
pub extern "C" fn BRAC_SetTextMessageCallBack(lpFunction: BRAC_TextMessage_CallBack, lpUserValue: LPVOID) -> DWORD {
    guard(|| {
        CALLBACKS.write().text = Registered::new(lpFunction, lpUserValue);
        0
    })
}

/// Registers (or, with NULL, removes) the callback for `BRAC_TransBufferEx` data.
#[no_mangle]
pub extern "C" fn BRAC_SetTransBufferExCallBack(lpFunction: BRAC_TransBufferEx_CallBack, lpUserValue: LPVOID) -> DWORD {
    guard(|| {
        CALLBACKS.write().trans_buffer_ex = Registered::new(lpFunction, lpUserValue);
        0
    })
}

/// Registers a callback by type (`BRAC_CBTYPE_*`). Supported here:
/// `BRAC_CBTYPE_NOTIFYMESSAGE`, `BRAC_CBTYPE_VIDEOCALLEVENT` and
/// `BRAC_CBTYPE_TRANSBUFFER`; the types of the features this library does not
/// provide (video and audio data, files, recording…) are accepted, and never
/// called; any other
/// type returns `GV_ERR_FUNCNOTALLOW`, an unknown one `GV_ERR_FUNCOPTERROR`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_SetCallBack(dwCBType: DWORD, lpFunction: LPVOID, lpUserValue: LPVOID) -> DWORD {
    guard(|| match dwCBType {
        BRAC_CBTYPE_NOTIFYMESSAGE => {
            // SAFETY: the app passes a function of this type for this
            // callback type (the vendor's contract); NULL maps to None.
            let f: BRAC_NotifyMessage_CallBack = unsafe { std::mem::transmute(lpFunction) };
            BRAC_SetNotifyMessageCallBack(f, lpUserValue)
        }
        BRAC_CBTYPE_VIDEOCALLEVENT => {
            // SAFETY: as above, for the video-call callback type.
            let f: BRAC_VideoCallEvent_CallBack = unsafe { std::mem::transmute(lpFunction) };
            BRAC_SetVideoCallEventCallBack(f, lpUserValue)
        }
        BRAC_CBTYPE_TEXTMESSAGE => {
            // SAFETY: as above, for the text-message callback type.
            let f: BRAC_TextMessage_CallBack = unsafe { std::mem::transmute(lpFunction) };
            BRAC_SetTextMessageCallBack(f, lpUserValue)
        }
        BRAC_CBTYPE_TRANSBUFFEREX => {
            // SAFETY: as above, for the trans-buffer-ex callback type.
            let f: BRAC_TransBufferEx_CallBack = unsafe { std::mem::transmute(lpFunction) };
            BRAC_SetTransBufferExCallBack(f, lpUserValue)
        }
        BRAC_CBTYPE_TRANSBUFFER => {
            // SAFETY: as above, for the trans-buffer callback type.
            let f: BRAC_TransBuffer_CallBack = unsafe { std::mem::transmute(lpFunction) };
            BRAC_SetTransBufferCallBack(f, lpUserValue)
        }
        // SAFETY: as above, for the type `t` names.
        t => unsafe { crate::abi::brac::unsupported::set_callback(t, lpFunction, lpUserValue) },
    })
}

// ----- connection and session ----------------------------------------------

/// Connects to the core server at `lpServerAddr` (host name or IP) and
/// `dwPort`. Returns at once; the result arrives as `WM_GV_CONNECT(1|0)`.
/// `tls://host` (or `ANYCHAT_TLS=1` in the environment) connects over TLS;
/// a TLS set-up error or a failed handshake is `WM_GV_CONNECT(0)`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_Connect(lpServerAddr: LPCTSTR, dwPort: DWORD) -> DWORD {
    with_sdk(|c| {
        // SAFETY: a C string from the caller, or NULL.
        let Some(host) = (unsafe { c_bytes(lpServerAddr, MAX_NAME_LEN) }) else { return GV_ERR_FUNCOPTERROR };
        c.connect(&host, dwPort)
    })
}

/// Logs in (queued until connected). Result: `WM_GV_LOGINSYSTEM(userId, code)`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_Login(lpUserName: LPCTSTR, lpPassword: LPCTSTR, dwPassEncType: DWORD) -> DWORD {
    with_sdk(|c| {
        // SAFETY: C strings from the caller, or NULL.
        let (Some(name), Some(pass)) =
            (unsafe { c_bytes(lpUserName, MAX_NAME_LEN) }, unsafe { c_bytes(lpPassword, MAX_NAME_LEN) })
        else {
            return GV_ERR_FUNCOPTERROR;
        };
        c.login(&name, &pass, dwPassEncType)
    })
}

/// Logs out and closes the link (a new `BRAC_Connect` is needed to log in
/// again). A call in progress ends as if the user had sent Finish.
#[no_mangle]
pub extern "C" fn BRAC_Logout() -> DWORD {
    with_sdk(|c| c.logout())
}

// ----- rooms --------------------------------------------------------------

/// Enters room `dwRoomid`; result `WM_GV_ENTERROOM(room, code)`, then
/// `WM_GV_ONLINEUSER(count, room)` on success.
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnterRoom(dwRoomid: DWORD, lpRoomPass: LPCTSTR, dwPassEncType: DWORD) -> DWORD {
    let _ = dwPassEncType;
    with_sdk(|c| {
        // SAFETY: a C string from the caller, or NULL.
        let Some(pass) = (unsafe { c_bytes(lpRoomPass, MAX_NAME_LEN) }) else { return GV_ERR_FUNCOPTERROR };
        c.enter_room(dwRoomid, &pass)
    })
}

/// Enters the room named `lpRoomName` (the server maps names to room ids).
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnterRoomEx(lpRoomName: LPCTSTR, lpRoomPass: LPCTSTR) -> DWORD {
    with_sdk(|c| {
        // SAFETY: C strings from the caller, or NULL.
        let (Some(name), Some(pass)) =
            (unsafe { c_bytes(lpRoomName, MAX_NAME_LEN) }, unsafe { c_bytes(lpRoomPass, MAX_NAME_LEN) })
        else {
            return GV_ERR_FUNCOPTERROR;
        };
        c.enter_room_by_name(&name, &pass)
    })
}

/// Leaves the room (`dwRoomid` = the current room's id, or -1).
#[no_mangle]
pub extern "C" fn BRAC_LeaveRoom(dwRoomid: DWORD) -> DWORD {
    with_sdk(|c| c.leave_room(dwRoomid))
}

/// The other users in the current room (self excluded). Two-step habit:
/// NULL array → `*dwUserNum` = count; else fills up to `*dwUserNum` ids.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetOnlineUser(lpUserIDArray: LPDWORD, dwUserNum: *mut DWORD) -> DWORD {
    with_sdk(|c| {
        let ids: Result<Vec<u32>, DWORD> = c.with_state(|st| {
            if !st.logged_in {
                return Err(GV_ERR_NOTLOGIN);
            }
            if st.room.is_none() {
                return Err(GV_ERR_NOTINROOM);
            }
            Ok(st.room_users.iter().copied().filter(|u| Some(*u) != st.self_id).collect())
        });
        match ids {
            // SAFETY: pointers from the caller, checked inside.
            Ok(ids) => unsafe { fill_ids(lpUserIDArray, dwUserNum, &ids) },
            Err(e) => e,
        }
    })
}

/// Everyone in room `dwRoomId`, self included. Only the room this client is
/// in is known; another id returns `GV_ERR_NOTINROOM`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetRoomOnlineUsers(
    dwRoomId: DWORD,
    lpUserIDArray: LPDWORD,
    dwUserNum: *mut DWORD,
) -> DWORD {
    with_sdk(|c| {
        let ids = c.with_state(|st| match st.room {
            _ if !st.logged_in => Err(GV_ERR_NOTLOGIN),
            Some(r) if r == dwRoomId || dwRoomId == u32::MAX => Ok(st.room_users.clone()),
            _ => Err(GV_ERR_NOTINROOM),
        });
        match ids {
            // SAFETY: pointers from the caller, checked inside.
            Ok(ids) => unsafe { fill_ids(lpUserIDArray, dwUserNum, &ids) },
            Err(e) => e,
        }
    })
}

// ----- users --------------------------------------------------------------

/// The name of a user this client knows (self: -1 or its own id; users met
/// in its room or in a call). Unknown users return `GV_ERR_INVALID_USERID`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserName(dwUserid: DWORD, lpUserName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    with_sdk(|c| {
        if lpUserName.is_null() || dwLen == 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        match c.with_state(|st| st.name_of(dwUserid)) {
            // SAFETY: the caller gave `dwLen` writable bytes, checked non-NULL.
            Some(name) => unsafe { copy_out(lpUserName, dwLen as usize, &name) },
            None => GV_ERR_INVALID_USERID,
        }
    })
}

/// `BRAC_USERSTATE_*` infos: NICKNAME (string: the nick name the business
/// server or `BRAC_LoginEx` gave, else the user name), LEVEL, CAMERA and
/// HOLDMIC (DWORD), DEVICETYPE (DWORD 5 = Linux, self
/// only), SELFUSERSTATUS and SELFUSERID (DWORD). Others: `GV_ERR_FUNCNOTALLOW`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_QueryUserState(
    dwUserId: DWORD,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    with_sdk(|c| {
        if infoval.is_null() || infolen <= 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        let len = infolen as usize;
        let put_dword = |v: u32| -> DWORD {
            if len < 4 {
                return GV_ERR_FUNCOPTERROR;
            }
            // SAFETY: at least 4 writable bytes at `infoval`; unaligned write.
            unsafe { std::ptr::write_unaligned(infoval as *mut u32, v) };
            0
        };
        let Ok(info) = u32::try_from(infoname) else { return GV_ERR_FUNCOPTERROR };
        match info {
            BRAC_USERSTATE_LEVEL => match c.with_state(|st| st.user(dwUserId).map(|u| u.level)) {
                Some(level) => put_dword(level),
                None => GV_ERR_INVALID_USERID,
            },
            BRAC_USERSTATE_CAMERA => match c.with_state(|st| st.user(dwUserId).map(|u| u.camera)) {
                Some(state) => put_dword(state),
                None => GV_ERR_INVALID_USERID,
            },
            BRAC_USERSTATE_HOLDMIC => match c.with_state(|st| st.user(dwUserId).map(|u| u.mic)) {
                Some(state) => put_dword((state == GV_AUDIO_STATE_OPEN) as u32),
                None => GV_ERR_INVALID_USERID,
            },
            BRAC_USERSTATE_NICKNAME => match c.with_state(|st| st.user(dwUserId).map(|u| u.nick.clone())) {
                // SAFETY: `infolen` writable bytes, checked non-NULL.
                Some(name) => unsafe { copy_out(infoval, len, &name) },
                None => GV_ERR_INVALID_USERID,
            },
            BRAC_USERSTATE_SELFUSERID => put_dword(c.with_state(|st| st.self_id.unwrap_or(u32::MAX))),
            BRAC_USERSTATE_SELFUSERSTATUS => put_dword(c.with_state(|st| st.status)),
            BRAC_USERSTATE_DEVICETYPE => {
                let me = c.with_state(|st| dwUserId == u32::MAX || Some(dwUserId) == st.self_id);
                if me {
                    put_dword(5)
                } else {
                    GV_ERR_FUNCNOTALLOW
                }
            }
            i if (1..=BRAC_USERSTATE_RESENDLOSSRATE).contains(&i) => GV_ERR_FUNCNOTALLOW,
            _ => GV_ERR_FUNCOPTERROR,
        }
    })
}

// ----- video call ---------------------------------------------------------

/// Sends a video-call event to `dwUserId` (Request, Reply, Finish).
/// Returns 208 when not logged in, 21 for a Request to oneself, with a flag
/// bit that is no `BRAC_VIDEOCALL_FLAGS_*`, an unknown event type or a
/// `lpUserStr` over 2048 bytes, 20 for an event that
/// does not fit this client's call (see `docs/ARCHITECTURE.md`).
#[no_mangle]
pub unsafe extern "C" fn BRAC_VideoCallControl(
    dwEventType: DWORD,
    dwUserId: DWORD,
    dwErrorCode: DWORD,
    dwFlags: DWORD,
    dwParam: DWORD,
    lpUserStr: LPCTSTR,
) -> DWORD {
    with_sdk(|c| {
        // SAFETY: a C string from the caller, or NULL.
        let Some(s) = (unsafe { c_bytes(lpUserStr, MAX_USER_STR_LEN) }) else { return GV_ERR_FUNCOPTERROR };
        c.video_call(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, &s)
    })
}

// ----- issue-5 functions: login with an id, text, buffers, device states -----

/// Logs in with the app's own identity: `lpStrUserId` (or, when NULL or
/// empty, `lpNickName`) is the user name, `dwUserId` the user id the app
/// gives (0: the server assigns one by name; a business server's answer
/// wins), `lpNickName` the nick name, `lpSigStr` the password the business
/// server verifies. `lpAppId`, `dwTimeStamp` and `lpStrParam` are ignored.
#[no_mangle]
pub unsafe extern "C" fn BRAC_LoginEx(
    lpNickName: LPCTSTR,
    dwUserId: DWORD,
    lpStrUserId: LPCTSTR,
    lpAppId: LPCTSTR,
    dwTimeStamp: DWORD,
    lpSigStr: LPCTSTR,
    lpStrParam: LPCTSTR,
) -> DWORD {
    let _ = (lpAppId, dwTimeStamp, lpStrParam);
    with_sdk(|c| {
        // SAFETY: C strings from the caller, or NULL.
        let (Some(nick), Some(str_id), Some(sig)) =
            (unsafe { c_bytes(lpNickName, MAX_NAME_LEN) }, unsafe { c_bytes(lpStrUserId, MAX_NAME_LEN) }, unsafe {
                c_bytes(lpSigStr, MAX_NAME_LEN)
            })
        else {
            return GV_ERR_FUNCOPTERROR;
        };
        let name = if str_id.is_empty() { &nick } else { &str_id };
        c.login_ex(name, &nick, dwUserId, &sig)
    })
}

/// Sends a text message to a user of this client's room, or to everyone in
/// it (`dwUserid` 0 or -1). Not logged in: 208; not in a room: 3; a user not
/// in the room: 205; `dwLen` 0, over 65,472, or a NULL buffer: 21. It
/// arrives in the receivers' `BRAC_TextMessage_CallBack` (and the business
/// server's `BRAS_OnRecvUserTextMsg_CallBack`).
#[no_mangle]
pub unsafe extern "C" fn BRAC_SendTextMessage(
    dwUserid: DWORD,
    bSecret: BOOL,
    lpMsgBuf: LPCTSTR,
    dwLen: DWORD,
) -> DWORD {
    with_sdk(|c| {
        if lpMsgBuf.is_null() || dwLen == 0 || dwLen as usize > MAX_BLOB_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        // SAFETY: the caller gave `dwLen` readable bytes at `lpMsgBuf`.
        let text = unsafe { std::slice::from_raw_parts(lpMsgBuf as *const u8, dwLen as usize) };
        c.send_text(dwUserid, bSecret != 0, text)
    })
}

/// Relays `dwLen` bytes (1 … 65,472) to a user this client knows (in its
/// room, or its call peer), or to the business server (`dwUserid` 0). An
/// unknown user: 205. They arrive in `BRAC_TransBuffer_CallBack`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_TransBuffer(dwUserid: DWORD, lpBuf: LPBYTE, dwLen: DWORD) -> DWORD {
    with_sdk(|c| {
        if lpBuf.is_null() || dwLen == 0 || dwLen as usize > MAX_BLOB_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        // SAFETY: the caller gave `dwLen` readable bytes at `lpBuf`.
        let data = unsafe { std::slice::from_raw_parts(lpBuf as *const u8, dwLen as usize) };
        c.trans_buffer(dwUserid, data, None).0
    })
}

/// As `BRAC_TransBuffer`, with `wParam`/`lParam` carried to the receiver's
/// `BRAC_TransBufferEx_CallBack` and a task id written to `*dwTaskId`
/// (`dwFlags` ignored: the relay is always reliable).
#[no_mangle]
pub unsafe extern "C" fn BRAC_TransBufferEx(
    dwUserid: DWORD,
    lpBuf: LPBYTE,
    dwLen: DWORD,
    wParam: DWORD,
    lParam: DWORD,
    dwFlags: DWORD,
    dwTaskId: *mut DWORD,
) -> DWORD {
    let _ = dwFlags;
    with_sdk(|c| {
        if lpBuf.is_null() || dwTaskId.is_null() || dwLen == 0 || dwLen as usize > MAX_BLOB_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        // SAFETY: the caller gave `dwLen` readable bytes at `lpBuf`.
        let data = unsafe { std::slice::from_raw_parts(lpBuf as *const u8, dwLen as usize) };
        let (code, task) = c.trans_buffer(dwUserid, data, Some((wParam, lParam)));
        if code == 0 {
            // SAFETY: checked non-NULL; a DWORD the caller owns.
            unsafe { *dwTaskId = task };
        }
        code
    })
}

/// Opens or closes one's own camera (`dwUserid` -1 or one's own id): the
/// core server keeps the state and the room gets `WM_GV_CAMERASTATE`. For
/// another user (in the room or the call) it asks for the video, which is
/// not relayed yet: 0. Unknown user: 205.
#[no_mangle]
pub extern "C" fn BRAC_UserCameraControl(dwUserid: DWORD, bOpen: BOOL) -> DWORD {
    with_sdk(|c| c.device(DEVICE_CAMERA, dwUserid, bOpen != 0))
}

/// As `BRAC_UserCameraControl` for the microphone (`WM_GV_MICSTATECHANGE`).
#[no_mangle]
pub extern "C" fn BRAC_UserSpeakControl(dwUserid: DWORD, bOpen: BOOL) -> DWORD {
    with_sdk(|c| c.device(DEVICE_MIC, dwUserid, bOpen != 0))
}

/// Writes one field of what this client knows of a user (self: -1).
///
/// # Safety
/// `out` is NULL or a writable DWORD.
unsafe fn user_field(
    c: &Client,
    user: DWORD,
    out: *mut DWORD,
    field: impl FnOnce(&crate::client::UserInfo) -> u32,
) -> DWORD {
    if out.is_null() {
        return GV_ERR_FUNCOPTERROR;
    }
    match c.with_state(|st| if st.logged_in { Ok(st.user(user).map(field)) } else { Err(GV_ERR_NOTLOGIN) }) {
        Err(e) => e,
        Ok(None) => GV_ERR_INVALID_USERID,
        Ok(Some(v)) => {
            // SAFETY: checked non-NULL, as the caller promised.
            unsafe { *out = v };
            0
        }
    }
}

/// A user's camera state (`GV_CAMERA_STATE_*`: 1 closed, 2 open), for
/// oneself (-1) and users met in the room or a call.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetCameraState(dwUserid: DWORD, dwState: *mut DWORD) -> DWORD {
    // SAFETY: forwarded from our caller.
    with_sdk(|c| unsafe { user_field(c, dwUserid, dwState, |u| u.camera) })
}

/// A user's microphone state (`GV_AUDIO_STATE_*`: 1 closed, 2 open).
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetSpeakState(dwUserid: DWORD, dwState: *mut DWORD) -> DWORD {
    // SAFETY: forwarded from our caller.
    with_sdk(|c| unsafe { user_field(c, dwUserid, dwState, |u| u.mic) })
}

/// A user's level (set by the business server at login; 0 without one).
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserLevel(dwUserid: DWORD, dwLevel: *mut DWORD) -> DWORD {
    // SAFETY: forwarded from our caller.
    with_sdk(|c| unsafe { user_field(c, dwUserid, dwLevel, |u| u.level) })
}

/// The name of the room this client is in: the name given to
/// `BRAC_EnterRoomEx`, or the room number in decimal for a room entered by
/// number. Another room: 3.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetRoomName(dwRoomId: DWORD, lpRoomName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    with_sdk(|c| {
        if lpRoomName.is_null() || dwLen == 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        let name = c.with_state(|st| match st.room {
            Some(r) if r == dwRoomId || dwRoomId == u32::MAX => {
                Ok(if st.room_name.is_empty() { r.to_string().into_bytes() } else { st.room_name.clone() })
            }
            _ => Err(GV_ERR_NOTINROOM),
        });
        match name {
            // SAFETY: `dwLen` writable bytes, checked non-NULL.
            Ok(name) => unsafe { copy_out(lpRoomName, dwLen as usize, &name) },
            Err(e) => e,
        }
    })
}

/// Options kept by this library (`BRAC_SO_*`, an `int` value of 4 bytes):
/// EXTVIDEOINPUT, EXTAUDIOINPUT, AUTORECONNECT and LOWDELAYCTRL are stored
/// and read back (they do not change behaviour yet); others: 20. A value of
/// another size: 21. Works before `BRAC_InitSDK` too.
#[no_mangle]
pub unsafe extern "C" fn BRAC_SetSDKOption(optname: c_int, optval: *const c_char, optlen: c_int) -> DWORD {
    guard(|| {
        let Ok(opt) = u32::try_from(optname) else { return GV_ERR_FUNCOPTERROR };
        if !crate::client::KEPT_OPTIONS.contains(&opt) {
            return GV_ERR_FUNCNOTALLOW;
        }
        if optval.is_null() || optlen != 4 {
            return GV_ERR_FUNCOPTERROR;
        }
        // SAFETY: 4 readable bytes at `optval`, checked above; unaligned read.
        let v = unsafe { std::ptr::read_unaligned(optval as *const i32) };
        crate::client::set_sdk_option(opt, v);
        0
    })
}

/// Reads an option: the kept ones, and CORESDK_MAINVERSION, SUBVERSION
/// (int) and BUILDTIME (string). Others: 20.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetSDKOption(optname: c_int, optval: *mut c_char, optlen: c_int) -> DWORD {
    guard(|| {
        let Ok(opt) = u32::try_from(optname) else { return GV_ERR_FUNCOPTERROR };
        if optval.is_null() || optlen <= 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        let int = match opt {
            BRAC_SO_CORESDK_MAINVERSION => env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0),
            BRAC_SO_CORESDK_SUBVERSION => env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0),
            BRAC_SO_CORESDK_BUILDTIME => {
                let text = concat!("anychat-rs ", env!("CARGO_PKG_VERSION"));
                // SAFETY: `optlen` writable bytes, checked above.
                return unsafe { copy_out(optval, optlen as usize, text.as_bytes()) };
            }
            o if crate::client::KEPT_OPTIONS.contains(&o) => crate::client::sdk_option(o).unwrap_or(0),
            _ => return GV_ERR_FUNCNOTALLOW,
        };
        if optlen < 4 {
            return GV_ERR_FUNCOPTERROR;
        }
        // SAFETY: at least 4 writable bytes at `optval`; unaligned write.
        unsafe { std::ptr::write_unaligned(optval as *mut i32, int) };
        0
    })
}

/// An info the business server set for a user (`BRAS_SetUserInfo`, seen by
/// this client through `WM_GV_USERINFOUPDATE(user, info id)`); self: -1.
/// Nothing set: 205; a NULL `lpInfoValue` or `dwLen` 0: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserInfo(
    dwUserId: DWORD,
    dwInfoId: DWORD,
    lpInfoValue: *mut TCHAR,
    dwLen: DWORD,
) -> DWORD {
    with_sdk(|c| {
        if lpInfoValue.is_null() || dwLen == 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        let value = c.with_state(|st| st.resolve(dwUserId).and_then(|u| st.infos.get(&(u, dwInfoId)).cloned()));
        match value {
            // SAFETY: `dwLen` writable bytes, checked non-NULL.
            Some(v) => unsafe { copy_out(lpInfoValue, dwLen as usize, &v) },
            None => GV_ERR_INVALID_USERID,
        }
    })
}
