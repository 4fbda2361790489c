//! The implemented `BRAS_*` functions of the business-server library: a
//! thin layer over [`crate::bras`], with the same conventions as
//! [`crate::abi::brac::api`] (one `ffi_boundary!` per body, argument
//! checks, `GV_ERR_*` codes, strings as bytes).
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

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::callbacks;
use crate::abi::boundary::{bytes_in, c_bytes, copy_out, ffi_boundary, write_version, Registered};
use crate::abi::types::*;
use crate::bras::{BizConfig, Business};
use crate::client::MAX_USER_STR_LEN;
use crate::wire::constants::*;
use crate::wire::protocol::MAX_BLOB_LEN;

/// The business-server engine `BRAS_InitSDK` started (`None` before it and
/// after `BRAS_Release`).
static SDK: Mutex<Option<Arc<Business>>> = Mutex::new(None);
/// Timer interval asked before `BRAS_InitSDK`, applied when it starts.
static TIMER_MS: Mutex<u32> = Mutex::new(0);

fn sdk() -> Result<Arc<Business>, DWORD> {
    SDK.lock().clone().ok_or(GV_ERR_NOTINIT)
}

/// Runs `body` with the SDK: `GV_ERR_NOTINIT` without one.
fn with_sdk(body: impl FnOnce(&Business) -> DWORD) -> DWORD {
    match sdk() {
        Ok(b) => body(&b),
        Err(e) => e,
    }
}

// ----- version, init, release -------------------------------------------

/// Writes the library version and a build description (may be NULL; a
/// buffer too small: what fits, NUL-terminated, and 21).
#[no_mangle]
pub unsafe extern "C" fn BRAS_GetSDKVersion(
    dwMainVer: *mut DWORD,
    dwSubVer: *mut DWORD,
    lpCompileTime: *mut TCHAR,
    dwBufLen: DWORD,
) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller with the same contract.
        unsafe { write_version(dwMainVer, dwSubVer, lpCompileTime, dwBufLen) }
    }
}

/// Starts the network thread, which connects to the core server and keeps
/// reconnecting (100 ms … 5 s backoff) whenever the link drops. Link state
/// arrives through the server-app-message callbacks. Again while started: 0.
#[no_mangle]
pub extern "C" fn BRAS_InitSDK(dwReserved: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = dwReserved;
        let mut sdk = SDK.lock();
        if sdk.is_some() {
            return 0;
        }
        match Business::start(BizConfig::from_env(), Box::new(callbacks::deliver)) {
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
    }
}

/// Closes the link and stops the thread; no callback runs after it returns
/// (unless called from a callback, which it may be).
#[no_mangle]
pub extern "C" fn BRAS_Release() -> DWORD {
    ffi_boundary! {
        match SDK.lock().take() {
            Some(b) => {
                b.shutdown();
                0
            }
            None => GV_ERR_NOTINIT,
        }
    }
}

// ----- callbacks ----------------------------------------------------------

/// Registers (or, with NULL, removes) the link callback: `BRAS_SERVERAPPMSG_CONNECTED` / `_DISCONNECT`.
#[no_mangle]
pub extern "C" fn BRAS_SetOnServerAppMessageCallBack(
    lpFunction: BRAS_OnServerAppMessage_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.app_message = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the link callback `(BRAS_MESSAGE_CORESERVERCONN, 0 or error code, 0)`.
#[no_mangle]
pub extern "C" fn BRAS_SetOnServerAppMessageExCallBack(
    lpFunction: BRAS_OnServerAppMessageEx_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.app_message_ex = Registered::new(lpFunction, lpUserValue))
    }
}

/// Fires `lpFunction` every `dwElapse` ms on the network thread (0 or NULL
/// stops it). May be set before or after `BRAS_InitSDK`.
#[no_mangle]
pub extern "C" fn BRAS_SetTimerEventCallBack(
    dwElapse: DWORD,
    lpFunction: BRAS_OnTimerEvent_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        let ms = if lpFunction.is_some() { dwElapse } else { 0 };
        callbacks::register(|c| c.timer = Registered::new(lpFunction, lpUserValue));
        *TIMER_MS.lock() = ms;
        if let Ok(b) = sdk() {
            b.set_timer((ms > 0).then(|| Duration::from_millis(ms as u64)));
        }
        0
    }
}

/// Registers (or, with NULL, removes) the login decision callback (none: every login is admitted, ids by name).
#[no_mangle]
pub extern "C" fn BRAS_SetVerifyUserCallBack(lpFunction: BRAS_VerifyUser_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.verify = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback deciding entries into ordinary rooms (a call's room is for its parties only).
#[no_mangle]
pub extern "C" fn BRAS_SetPrepareEnterRoomCallBack(
    lpFunction: BRAS_PrepareEnterRoom_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.prepare_enter = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback told of every login.
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserLoginActionCallBack(
    lpFunction: BRAS_OnUserLoginAction_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.login = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback told of every session end.
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserLogoutActionCallBack(
    lpFunction: BRAS_OnUserLogoutAction_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.logout = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback told of every session end with its code (0 logout, 209 elsewhere, 101 lost or kicked).
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserLogoutActionExCallBack(
    lpFunction: BRAS_OnUserLogoutActionEx_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.logout_ex = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback told of every room entry.
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserEnterRoomActionCallBack(
    lpFunction: BRAS_OnUserEnterRoomAction_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.enter_room = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback told of every room departure (a call's room closing included).
#[no_mangle]
pub extern "C" fn BRAS_SetOnUserLeaveRoomActionCallBack(
    lpFunction: BRAS_OnUserLeaveRoomAction_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.leave_room = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the video-call callback: sees every Request first (its return value decides), then REPLY, START and FINISH.
#[no_mangle]
pub extern "C" fn BRAS_SetOnVideoCallEventCallBack(
    lpFunction: BRAS_OnVideoCallEvent_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.video_call = Registered::new(lpFunction, lpUserValue))
    }
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
    ffi_boundary! {
        // SAFETY: the app passes a function of the type `dwCBType` names, or NULL.
        unsafe { callbacks::register_by_type(dwCBType, lpFunction, lpUserValue) }
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
    ffi_boundary! {
        with_sdk(|b| {
            // SAFETY: a C string from the caller, or NULL.
            let Some(s) = (unsafe { c_bytes(lpUserStr, MAX_USER_STR_LEN) }) else { return GV_ERR_FUNCOPTERROR };
            b.video_call(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, &s)
        })
    }
}

/// By code: KICKOUT disconnects the user with `WM_GV_LINKCLOSE(wParam, or
/// 101 when 0)`, its call ending as for a lost connection. ADDGROUP
/// (`wParam` group id, `lpStrValue` its name, at most 256 bytes; again:
/// renames), DELGROUP (`wParam`), ADDFRIEND and DELFRIEND (`wParam` the
/// friend's id), SETGROUPRELATION (`wParam` the group, 0 for none; `lParam`
/// the friend, made one if it is not): the user's client has the change at
/// once (`BRAC_GetUserFriends`…), and one `WM_GV_USERINFOUPDATE(0, 0)` per
/// burst of changes; SYNCDATA sends it all again. Lists exist while the user
/// is online (empty at login): a user not online is ignored. BLOCKIP /
/// UNBLOCKIP (`lpStrValue` an address pattern, `*` any run of characters):
/// clients from a blocked address are refused (203) until unblocked; an
/// UNBLOCKIP within a blocked pattern makes an exception. FUNCCTRL and the
/// APPDEFINE codes: 20 (not carried to clients). A bad id or string, an
/// unknown code: 21; link down: 101.
#[no_mangle]
pub unsafe extern "C" fn BRAS_UserInfoControl(
    dwUserId: DWORD,
    dwCtrlCode: DWORD,
    wParam: DWORD,
    lParam: DWORD,
    lpStrValue: LPCTSTR,
) -> DWORD {
    ffi_boundary! {
        with_sdk(|b| {
            // SAFETY: a C string from the caller, or NULL.
            let Some(s) = (unsafe { c_bytes(lpStrValue, MAX_USER_STR_LEN) }) else { return GV_ERR_FUNCOPTERROR };
            b.user_control(dwUserId, dwCtrlCode, wParam, lParam, &s)
        })
    }
}

/// Sends `dwLen` bytes (1 ..= 65,472) to a user; they arrive through its
/// `BRAC_SDKFilterData_CallBack` (`BRAS_TransBuffer` is the one that reaches
/// `BRAC_TransBuffer_CallBack`, from user 0). An offline user: dropped.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SendBufToUser(dwUserId: DWORD, lpBuf: LPCTSTR, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        unsafe { send(dwUserId, lpBuf as *const u8, dwLen, false, false) }
    }
}

/// Accepts the `BRAS_SO_*` options (recording settings have no effect here:
/// no recording server); unknown options: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SetSDKOption(optname: DWORD, optval: *mut CHAR, optlen: DWORD) -> DWORD {
    ffi_boundary! {
        if optval.is_null() || optlen == 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        match optname {
            o if (BRAS_SO_GETTRANSBUFTIMESTAMP..=BRAS_SO_RECORD_FILENAMERULE).contains(&o) => 0,
            _ => GV_ERR_FUNCOPTERROR,
        }
    }
}

/// Registers (or, with NULL, removes) the callback for text messages
/// between users: `(room, src, tar (0: the room), bSecret, text, len)`.
#[no_mangle]
pub extern "C" fn BRAS_SetOnRecvUserTextMsgCallBack(
    lpFunction: BRAS_OnRecvUserTextMsg_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.text = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback for bytes users send to
/// the business server (`BRAC_TransBuffer` to user 0).
#[no_mangle]
pub extern "C" fn BRAS_SetOnTransBufferCallBack(lpFunction: BRAS_OnTransBuffer_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.trans_buffer = Registered::new(lpFunction, lpUserValue))
    }
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
    // SAFETY: the caller gave `len` readable bytes at `buf`.
    match unsafe { bytes_in(buf, len, MAX_BLOB_LEN) } {
        Ok(data) => b.send_buf(target, data, to_room, trans),
        Err(e) => e,
    }
}

/// Sends `dwLen` bytes (1 … 65,472) to everyone in room `dwRoomId`; they
/// arrive in each client's `BRAC_SDKFilterData_CallBack`.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SendBufToRoom(dwRoomId: DWORD, lpBuf: LPCTSTR, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        unsafe { send(dwRoomId, lpBuf as *const u8, dwLen, true, false) }
    }
}

/// Sends `dwLen` bytes (1 … 65,472) to a user; they arrive in its
/// `BRAC_TransBuffer_CallBack` with `dwUserid` 0.
#[no_mangle]
pub unsafe extern "C" fn BRAS_TransBuffer(dwUserId: DWORD, lpBuf: LPBYTE, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        unsafe { send(dwUserId, lpBuf, dwLen, false, true) }
    }
}

/// Sets an info of a user (any `dwInfoId`; a NUL-terminated value of at
/// most 2,048 bytes): kept for `BRAS_GetUserInfo`, and, if the user is
/// online, sent to it and to the users who have it as a friend
/// (`WM_GV_USERINFOUPDATE(user, info id)`, read with `BRAC_GetUserInfo`;
/// 32 info ids per user at most). `dwFlags` ignored.
#[no_mangle]
pub unsafe extern "C" fn BRAS_SetUserInfo(
    dwUserId: DWORD,
    dwInfoId: DWORD,
    lpInfoValue: LPCTSTR,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        with_sdk(|b| {
            // SAFETY: a C string from the caller, or NULL.
            let Some(v) = (unsafe { c_bytes(lpInfoValue, MAX_USER_STR_LEN) }) else { return GV_ERR_FUNCOPTERROR };
            b.set_user_info(dwUserId, dwInfoId, &v)
        })
    }
}

/// Reads an info set with `BRAS_SetUserInfo`. For a user logged in, info id
/// 1 (its user name) and 2 (its level, as decimal text) are known without
/// being set. Nothing known: 205. A buffer too small: what fits
/// (NUL-terminated) and 21.
#[no_mangle]
pub unsafe extern "C" fn BRAS_GetUserInfo(
    dwUserId: DWORD,
    dwInfoId: DWORD,
    lpInfoValue: *mut TCHAR,
    dwSize: DWORD,
) -> DWORD {
    ffi_boundary! {
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
}
