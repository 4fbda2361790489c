//! The implemented `BRAC_*` functions: a thin layer over [`crate::client`].
//!
//! Every exported function's body is one `ffi_boundary!`: it checks its
//! arguments, turns them into a call on the process's one [`Client`], and
//! returns a `GV_ERR_*` code; a panic becomes
//! [`ERR_INTERNAL`](crate::abi::boundary::ERR_INTERNAL) and never unwinds
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

use std::ffi::{c_char, c_int};
use std::sync::Arc;
use std::time::Instant;

use super::{callbacks, media, with_sdk, SDK};
use crate::abi::boundary::{
    build_description, bytes_in, c_bytes, copy_out, ffi_boundary, fill_ids, put, put_f64, put_u32, write_version,
    Registered,
};
use crate::abi::types::*;
use crate::client::{Client, Event, StreamInfo, MAX_NAME_LEN, MAX_USER_STR_LEN};
use crate::wire::constants::*;
use crate::wire::protocol::{DEVICE_CAMERA, DEVICE_MIC, MAX_BLOB_LEN};

/// Delivers one event of the client engine to the app's callbacks (on the
/// callback thread, with no lock held).
fn deliver(ev: Event) {
    match ev {
        Event::Video { .. } | Event::Audio { .. } => media::deliver_media(ev),
        other => callbacks::deliver(other),
    }
}

// ----- version, init, release -------------------------------------------

/// Writes the library version and a build description.
/// `lpCompileTime` (may be NULL) receives at most `dwBufLen` bytes: too
/// small, what fits (NUL-terminated) and 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetSDKVersion(
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

/// Turns the call log on (non-zero) or off: the library's log lines (each call
/// with its result, each event delivered to a callback, warnings) are appended
/// to `AnyChatCore.log` beside the executable (else in the working directory),
/// or to the file `ANYCHAT_LOG_FILE` names; `ANYCHAT_LOG_STDERR=1` copies them
/// to standard error, and either of these two variables turns the log on
/// without this call; `ANYCHAT_LOG` sets the level (`info`; e.g. `debug`). Off
/// by default; works before `BRAC_InitSDK`. Off writes out what was logged and
/// closes the file (unless the environment turned the log on). Never blocks:
/// lines the file cannot take fast enough are dropped and counted. No file can
/// be opened: 20. A program with its own `tracing` subscriber gets the lines
/// there instead.
#[no_mangle]
pub extern "C" fn BRAC_ActiveCallLog(bActive: BOOL) -> DWORD {
    ffi_boundary! {
        match crate::logging::set_active(bActive != 0) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("anychat: BRAC_ActiveCallLog: {e}");
                GV_ERR_FUNCNOTALLOW
            }
        }
    }
}

/// Starts the SDK (its network thread). `hWnd` is ignored (no window
/// messages on Linux; use `BRAC_SetNotifyMessageCallBack`). Of `dwFuncMode`,
/// `BRAC_FUNC_VIDEO_AUTODISP` lets `BRAC_SetVideoPos` draw video into X11
/// windows; `BRAC_FUNC_AUDIO_AUTOPLAY` plays every user's audio received,
/// mixed, on the selected speaker (a thread of its own; a speaker that
/// cannot open: `WM_GV_AUDIOPLAYCTRL(0, 1)`), and without it
/// `BRAC_FetchAudioPlayBuffer` serves the mix; video and audio are handed to
/// the data callbacks whatever the other bits say. Calling it again while
/// initialised returns 0 and changes nothing.
#[no_mangle]
pub extern "C" fn BRAC_InitSDK(hWnd: HWND, dwFuncMode: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = hWnd;
        super::video::set_func_mode(dwFuncMode);
        let mut sdk = SDK.lock();
        if sdk.is_some() {
            return 0;
        }
        match Client::start(Box::new(deliver)) {
            Ok(c) => {
                c.audio().set_autoplay(dwFuncMode & BRAC_FUNC_AUDIO_AUTOPLAY != 0);
                *sdk = Some(Arc::new(c));
                0
            }
            Err(e) => {
                tracing::error!("BRAC_InitSDK: cannot start the network thread: {e}");
                GV_ERR_MEMORYFAIL
            }
        }
    }
}

/// Logs out if logged in, closes the link and stops the network thread.
/// No callback runs after it returns (unless called from a callback).
/// Registered callbacks stay registered for a later `BRAC_InitSDK`.
#[no_mangle]
pub extern "C" fn BRAC_Release() -> DWORD {
    ffi_boundary! {
        let client = SDK.lock().take();
        super::video::release();
        match client {
            Some(c) => {
                c.shutdown();
                0
            }
            None => GV_ERR_NOTINIT,
        }
    }
}

// ----- callbacks ----------------------------------------------------------

/// Registers (or, with NULL, removes) the `WM_GV_*` notification callback.
#[no_mangle]
pub extern "C" fn BRAC_SetNotifyMessageCallBack(lpFunction: BRAC_NotifyMessage_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.notify = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the video-call event callback.
#[no_mangle]
pub extern "C" fn BRAC_SetVideoCallEventCallBack(
    lpFunction: BRAC_VideoCallEvent_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.video_call = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback for relayed bytes.
#[no_mangle]
pub extern "C" fn BRAC_SetTransBufferCallBack(lpFunction: BRAC_TransBuffer_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.trans_buffer = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the text-message callback.
#[no_mangle]
pub extern "C" fn BRAC_SetTextMessageCallBack(lpFunction: BRAC_TextMessage_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.text = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (or, with NULL, removes) the callback for `BRAC_TransBufferEx` data.
#[no_mangle]
pub extern "C" fn BRAC_SetTransBufferExCallBack(lpFunction: BRAC_TransBufferEx_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.trans_buffer_ex = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (NULL removes) the callback for the data the business server sends this user (`BRAS_SendBufToUser`, `BRAS_SendBufToRoom`).
#[no_mangle]
pub extern "C" fn BRAC_SetSDKFilterDataCallBack(lpFunction: BRAC_SDKFilterData_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.sdk_filter_data = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers a callback by type (`BRAC_CBTYPE_*`). Called: NOTIFYMESSAGE,
/// VIDEOCALLEVENT, TEXTMESSAGE, TRANSBUFFER, TRANSBUFFEREX, SDKFILTERDATA,
/// VIDEODATA, VIDEODATAEX and VIDEODATAEX2 (in the pixel format last given to
/// `BRAC_SetVideoDataCallBack` / `BRAC_SetVideoDataExCallBack`, RGB24 by
/// default), AUDIODATA, AUDIODATAEX and AUDIODATAEX2. The types of the
/// features this library does not provide (files, volume, recording, screen
/// events, encryption, network output, objects, core SDK events) are
/// accepted, and never called; an unknown type returns `GV_ERR_FUNCOPTERROR`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_SetCallBack(dwCBType: DWORD, lpFunction: LPVOID, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        // SAFETY: the app passes a function of the type `dwCBType` names, or NULL.
        unsafe { callbacks::register_by_type(dwCBType, lpFunction, lpUserValue) }
    }
}

// ----- connection and session ----------------------------------------------

/// Connects to the core server at `lpServerAddr` (host name or IP) and
/// `dwPort`. Returns at once; the result arrives as `WM_GV_CONNECT(1|0)`.
/// `BRAC_Login`, `BRAC_EnterRoom` and the calls after them may follow at
/// once: they wait for the step before them (README, "Calls in a row").
/// The same server again while connected or connecting keeps the session
/// and gets its own `WM_GV_CONNECT`; another server ends the session as
/// `BRAC_Logout` would, then connects. `tls://host` (or `ANYCHAT_TLS=1` in
/// the environment) connects over TLS; a TLS set-up error or a failed
/// handshake is `WM_GV_CONNECT(0)`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_Connect(lpServerAddr: LPCTSTR, dwPort: DWORD) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            // SAFETY: a C string from the caller, or NULL.
            let Some(host) = (unsafe { c_bytes(lpServerAddr, MAX_NAME_LEN) }) else { return GV_ERR_FUNCOPTERROR };
            c.connect(&host, dwPort)
        })
    }
}

/// Logs in; may follow `BRAC_Connect` at once (it waits for the connect).
/// Result: `WM_GV_LOGINSYSTEM(userId, code)`, `(0, 101)` when the connect
/// failed. Neither connected nor connecting: 101; another user logged in or
/// logging in: 201; the same user again: 0 and `WM_GV_LOGINSYSTEM(userId, 0)`
/// again, nothing sent.
#[no_mangle]
pub unsafe extern "C" fn BRAC_Login(lpUserName: LPCTSTR, lpPassword: LPCTSTR, dwPassEncType: DWORD) -> DWORD {
    ffi_boundary! {
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
}

/// Logs out and closes the link (a new `BRAC_Connect` is needed to log in
/// again). A call in progress ends as if the user had sent Finish. Calls
/// still waiting for a step are dropped unanswered.
#[no_mangle]
pub extern "C" fn BRAC_Logout() -> DWORD {
    ffi_boundary! {
        with_sdk(|c| c.logout())
    }
}

// ----- rooms --------------------------------------------------------------

/// Enters room `dwRoomid`; result `WM_GV_ENTERROOM(room, code)`, then
/// `WM_GV_ONLINEUSER(count, room)` on success. May follow `BRAC_Login` at
/// once: it waits for the login (`WM_GV_ENTERROOM(room, 208)` if the login
/// fails) and for a room entry under way. The room one is in again: the
/// same success again (`WM_GV_ENTERROOM(room, 0)`, `WM_GV_ONLINEUSER`).
/// Room 0 or -1: 21; no login done or issued: 208.
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnterRoom(dwRoomid: DWORD, lpRoomPass: LPCTSTR, dwPassEncType: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = dwPassEncType;
        with_sdk(|c| {
            // SAFETY: a C string from the caller, or NULL.
            let Some(pass) = (unsafe { c_bytes(lpRoomPass, MAX_NAME_LEN) }) else { return GV_ERR_FUNCOPTERROR };
            c.enter_room(dwRoomid, &pass)
        })
    }
}

/// Enters the room named `lpRoomName` (the server maps names to room ids);
/// otherwise as `BRAC_EnterRoom` (a failure before the server named the
/// room: `WM_GV_ENTERROOM(0, code)`).
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnterRoomEx(lpRoomName: LPCTSTR, lpRoomPass: LPCTSTR) -> DWORD {
    ffi_boundary! {
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
}

/// Leaves the room (`dwRoomid` = the current room's id, or -1).
#[no_mangle]
pub extern "C" fn BRAC_LeaveRoom(dwRoomid: DWORD) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| c.leave_room(dwRoomid))
    }
}

/// The other users in the current room (self excluded). Two-step habit:
/// NULL array → `*dwUserNum` = count; else fills up to `*dwUserNum` ids.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetOnlineUser(lpUserIDArray: LPDWORD, dwUserNum: *mut DWORD) -> DWORD {
    ffi_boundary! {
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
}

/// Everyone in room `dwRoomId`, self included. Only the room this client is
/// in is known; another id returns `GV_ERR_NOTINROOM`.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetRoomOnlineUsers(
    dwRoomId: DWORD,
    lpUserIDArray: LPDWORD,
    dwUserNum: *mut DWORD,
) -> DWORD {
    ffi_boundary! {
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
}

// ----- users --------------------------------------------------------------

/// The name of a user this client knows (self: -1 or its own id; users met
/// in its room or in a call). Unknown users return `GV_ERR_INVALID_USERID`.
/// A buffer too small: what fits (NUL-terminated) and 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserName(dwUserid: DWORD, lpUserName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
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
}

/// `BRAC_USERSTATE_*` infos: NICKNAME (string: the nick name the business
/// server or `BRAC_LoginEx` gave, else the user name), LEVEL, CAMERA and
/// HOLDMIC (DWORD), SPEAKVOLUME (0–100, a DOUBLE as the vendor's when
/// `infolen` is 8, else a DWORD: the RMS of the last audio chunk received
/// from the user, or of one's own input for -1, from -60 dBFS = 0 to 0 dBFS
/// = 100; 0 when none came in the last 500 ms),
/// VIDEOBITRATE and AUDIOBITRATE (DWORD bits per second received from the
/// user over the last second, or sent for -1; 0 when nothing came for 2 s),
/// VIDEOSIZE (DWORD: width in the low 16 bits, height in the high 16, as
/// `WM_GV_VIDEOSIZECHG`), VIDEOCODECID and AUDIOCODECID (DWORD, as
/// `BRAC_GetUserStreamInfo`; 0 before any frame), RECORDING, P2PCONNECT,
/// PACKLOSSRATE, RESENDLOSSRATE, VIDEOROTATION and VIDEOMIRRORED (DWORD 0:
/// no recording, every stream goes through the server over TCP, pictures
/// as sent), DEVICETYPE (DWORD 5 = Linux), LOCALIP (string: this client's
/// address on its link to the server) and INTERNETIP (string: its address
/// as the server saw it at login) — these three for oneself only —,
/// SELFUSERSTATUS and SELFUSERID (DWORD). NETWORKSTATUS and infos of others
/// that are for oneself only: `GV_ERR_FUNCNOTALLOW`; a user this client does
/// not know: 205. A buffer too small for a string: what fits
/// (NUL-terminated) and 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_QueryUserState(
    dwUserId: DWORD,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            if infoval.is_null() || infolen <= 0 {
                return GV_ERR_FUNCOPTERROR;
            }
            let len = infolen as usize;
            // SAFETY: `infolen` writable bytes at `infoval`, checked non-NULL.
            let put_dword = |v: u32| -> DWORD { unsafe { put_u32(infoval, len, v) } };
            let Ok(info) = u32::try_from(infoname) else { return GV_ERR_FUNCOPTERROR };
            let stream = |f: fn(&StreamInfo, Instant) -> u32| match c.stream_state(dwUserId, f) {
                Ok(v) => put_dword(v),
                Err(e) => e,
            };
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
                BRAC_USERSTATE_SPEAKVOLUME => match c.speak_level(dwUserId) {
                    // The vendor's DOUBLE when the buffer is one, else a DWORD.
                    // SAFETY: `infolen` writable bytes at `infoval`, checked non-NULL.
                    Ok(level) if len == 8 => unsafe { put_f64(infoval, len, f64::from(level)) },
                    Ok(level) => put_dword(level),
                    Err(e) => e,
                },
                BRAC_USERSTATE_VIDEOBITRATE => stream(|s, now| s.video_meter.bps(now)),
                BRAC_USERSTATE_AUDIOBITRATE => stream(|s, now| s.audio_meter.bps(now)),
                BRAC_USERSTATE_VIDEOSIZE => stream(|s, _| (s.width & 0xFFFF) | ((s.height & 0xFFFF) << 16)),
                BRAC_USERSTATE_VIDEOCODECID => stream(|s, _| s.video_codec),
                BRAC_USERSTATE_AUDIOCODECID => stream(|s, _| s.audio_codec),
                BRAC_USERSTATE_RECORDING
                | BRAC_USERSTATE_P2PCONNECT
                | BRAC_USERSTATE_PACKLOSSRATE
                | BRAC_USERSTATE_RESENDLOSSRATE
                | BRAC_USERSTATE_VIDEOROTATION
                | BRAC_USERSTATE_VIDEOMIRRORED => stream(|_, _| 0),
                BRAC_USERSTATE_LOCALIP | BRAC_USERSTATE_INTERNETIP => {
                    let ip = c.with_state(|st| {
                        let me = dwUserId == u32::MAX || st.self_id == Some(dwUserId);
                        me.then(|| if info == BRAC_USERSTATE_LOCALIP { st.local_ip.clone() } else { st.internet_ip.clone() })
                    });
                    match ip {
                        // SAFETY: `infolen` writable bytes, checked non-NULL.
                        Some(ip) => unsafe { copy_out(infoval, len, &ip) },
                        None => GV_ERR_FUNCNOTALLOW,
                    }
                }
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
}

// ----- video call ---------------------------------------------------------

/// Sends a video-call event to `dwUserId` (Request, Reply, Finish).
/// Returns 208 when not logged in, 21 for a Request to oneself, with a flag
/// bit that is no `BRAC_VIDEOCALL_FLAGS_*`, an unknown event type or a
/// `lpUserStr` over 2048 bytes, 20 for an event that
/// does not fit this client's call (see `docs/ARCHITECTURE.md`). Issued
/// while the login (or a room entry) is under way, it returns 0 once its
/// arguments pass and is checked when it runs; a failure then arrives in
/// the video-call callback from `dwUserId` with the code (`REPLY` for a
/// Request or a Reply, `FINISH` for a Finish).
#[no_mangle]
pub unsafe extern "C" fn BRAC_VideoCallControl(
    dwEventType: DWORD,
    dwUserId: DWORD,
    dwErrorCode: DWORD,
    dwFlags: DWORD,
    dwParam: DWORD,
    lpUserStr: LPCTSTR,
) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            // SAFETY: a C string from the caller, or NULL.
            let Some(s) = (unsafe { c_bytes(lpUserStr, MAX_USER_STR_LEN) }) else { return GV_ERR_FUNCOPTERROR };
            c.video_call(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, &s)
        })
    }
}

// ----- issue-5 functions: login with an id, text, buffers, device states -----

/// Logs in with the app's own identity: `lpStrUserId` (or, when NULL or
/// empty, `lpNickName`) is the user name, `dwUserId` the user id the app
/// gives (0: the server assigns one by name; a business server's answer
/// wins), `lpNickName` the nick name, `lpSigStr` the password the business
/// server verifies. `lpAppId`, `dwTimeStamp` and `lpStrParam` are ignored.
/// Waits for the connect and is answered as `BRAC_Login`.
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
    ffi_boundary! {
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
}

/// Sends a text message to a user of this client's room, or to everyone in
/// it (`dwUserid` 0 or -1). Not logged in: 208; not in a room: 3; a user not
/// in the room: 205; `dwLen` 0, over 65,472, or a NULL buffer: 21. It
/// arrives in the receivers' `BRAC_TextMessage_CallBack` (and the business
/// server's `BRAS_OnRecvUserTextMsg_CallBack`). Issued while the login or a
/// room entry is under way, it waits and is checked when it runs (dropped,
/// with no callback, if it fails then).
#[no_mangle]
pub unsafe extern "C" fn BRAC_SendTextMessage(
    dwUserid: DWORD,
    bSecret: BOOL,
    lpMsgBuf: LPCTSTR,
    dwLen: DWORD,
) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            // SAFETY: the caller gave `dwLen` readable bytes at `lpMsgBuf`.
            match unsafe { bytes_in(lpMsgBuf as *const u8, dwLen, MAX_BLOB_LEN) } {
                Ok(text) => c.send_text(dwUserid, bSecret != 0, text),
                Err(e) => e,
            }
        })
    }
}

/// Relays `dwLen` bytes (1 … 65,472) to a user this client knows (in its
/// room, or its call peer), or to the business server (`dwUserid` 0). An
/// unknown user: 205. They arrive in `BRAC_TransBuffer_CallBack`. Issued
/// while the login or a room entry is under way, it waits and is checked
/// when it runs (dropped if it fails then).
#[no_mangle]
pub unsafe extern "C" fn BRAC_TransBuffer(dwUserid: DWORD, lpBuf: LPBYTE, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            // SAFETY: the caller gave `dwLen` readable bytes at `lpBuf`.
            match unsafe { bytes_in(lpBuf, dwLen, MAX_BLOB_LEN) } {
                Ok(data) => c.trans_buffer(dwUserid, data, None).0,
                Err(e) => e,
            }
        })
    }
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
    ffi_boundary! {
        let _ = dwFlags;
        with_sdk(|c| {
            if dwTaskId.is_null() {
                return GV_ERR_FUNCOPTERROR;
            }
            // SAFETY: the caller gave `dwLen` readable bytes at `lpBuf`.
            let data = match unsafe { bytes_in(lpBuf, dwLen, MAX_BLOB_LEN) } {
                Ok(data) => data,
                Err(e) => return e,
            };
            let (code, task) = c.trans_buffer(dwUserid, data, Some((wParam, lParam)));
            if code == 0 {
                // SAFETY: checked non-NULL; a DWORD the caller owns.
                unsafe { *dwTaskId = task };
            }
            code
        })
    }
}

/// Opens or closes one's own camera (`dwUserid` -1 or one's own id): the
/// core server keeps the state and the room gets `WM_GV_CAMERASTATE`; unless
/// external video input is on, the selected camera (`BRAC_SelectVideoCapture`,
/// else the first listed) captures at the LOCALVIDEO size and rate and its
/// pictures are sent (a camera missing, failing or ending:
/// `WM_GV_SDKWARNING(802, 0)`); closing stops it and releases the device.
/// While it is open, one's own frames (captured or input) also reach the
/// video data callbacks with one's own user id (self-view). For another user (in the room or the
/// call) it starts (or stops) receiving that user's video, delivered to the
/// video data callbacks: 0. Unknown user: 205. Issued while the login or a
/// room entry is under way, it waits and is checked when it runs.
#[no_mangle]
pub extern "C" fn BRAC_UserCameraControl(dwUserid: DWORD, bOpen: BOOL) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| c.device(DEVICE_CAMERA, dwUserid, bOpen != 0))
    }
}

/// As `BRAC_UserCameraControl` for the microphone (`WM_GV_MICSTATECHANGE`).
#[no_mangle]
pub extern "C" fn BRAC_UserSpeakControl(dwUserid: DWORD, bOpen: BOOL) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| c.device(DEVICE_MIC, dwUserid, bOpen != 0))
    }
}

/// `BRAC_UserCameraControl` for stream 0 (`dwFlags` and `lpStrParam` ignored); other streams: 20.
#[no_mangle]
pub extern "C" fn BRAC_UserCameraControlEx(
    dwUserid: DWORD,
    bOpen: BOOL,
    dwStreamIndex: DWORD,
    dwFlags: DWORD,
    lpStrParam: LPCTSTR,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwFlags, lpStrParam);
        if dwStreamIndex != 0 {
            return GV_ERR_FUNCNOTALLOW;
        }
        with_sdk(|c| c.device(DEVICE_CAMERA, dwUserid, bOpen != 0))
    }
}

/// `BRAC_UserSpeakControl` for stream 0 (`dwFlags` and `lpStrParam` ignored); other streams: 20.
#[no_mangle]
pub extern "C" fn BRAC_UserSpeakControlEx(
    dwUserid: DWORD,
    bOpen: BOOL,
    dwStreamIndex: DWORD,
    dwFlags: DWORD,
    lpStrParam: LPCTSTR,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwFlags, lpStrParam);
        if dwStreamIndex != 0 {
            return GV_ERR_FUNCNOTALLOW;
        }
        with_sdk(|c| c.device(DEVICE_MIC, dwUserid, bOpen != 0))
    }
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
        // SAFETY: `out` is a writable DWORD, as the caller promised.
        Ok(Some(v)) => unsafe { put(out, v) },
    }
}

/// A user's camera state (`GV_CAMERA_STATE_*`: 1 closed, 2 open), for
/// oneself (-1) and users met in the room or a call.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetCameraState(dwUserid: DWORD, dwState: *mut DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        with_sdk(|c| unsafe { user_field(c, dwUserid, dwState, |u| u.camera) })
    }
}

/// A user's microphone state (`GV_AUDIO_STATE_*`: 1 closed, 2 open).
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetSpeakState(dwUserid: DWORD, dwState: *mut DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        with_sdk(|c| unsafe { user_field(c, dwUserid, dwState, |u| u.mic) })
    }
}

/// A user's level (set by the business server at login; 0 without one).
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserLevel(dwUserid: DWORD, dwLevel: *mut DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        with_sdk(|c| unsafe { user_field(c, dwUserid, dwLevel, |u| u.level) })
    }
}

/// The name of the room this client is in: the name given to
/// `BRAC_EnterRoomEx`, or the room number in decimal for a room entered by
/// number. Another room: 3. A buffer too small: what fits (NUL-terminated)
/// and 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetRoomName(dwRoomId: DWORD, lpRoomName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
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
}

/// Options kept by this library (`BRAC_SO_*`, an `int` value of 4 bytes):
/// EXTVIDEOINPUT and EXTAUDIOINPUT (non-zero: `BRAC_InputVideoData` /
/// `BRAC_InputAudioData` accepted, and no camera opened), the camera's
/// LOCALVIDEO_WIDTHCTRL, HEIGHTCTRL, FPSCTRL (320×240 at 15 fps when unset;
/// the device may pick the nearest it has) and BITRATECTRL (bit/s; 0: from
/// the size), read when the camera opens, LOCALVIDEO_APPLYPARAM (non-zero:
/// a camera capturing now restarts with them), AUTORECONNECT and
/// LOWDELAYCTRL (stored and read back, without effect),
/// and AUDIO_ECHOCTRL, NSCTRL, AGCCTRL and VADCTRL (non-zero: echo
/// cancellation, noise suppression, gain control, voice detection of the
/// microphone, from its next 20 ms; 20 in a build without the audio
/// processing module); others: 20. A value of another size: 21.
/// Works before `BRAC_InitSDK` too.
#[no_mangle]
pub unsafe extern "C" fn BRAC_SetSDKOption(optname: c_int, optval: *const c_char, optlen: c_int) -> DWORD {
    ffi_boundary! {
        let Ok(opt) = u32::try_from(optname) else { return GV_ERR_FUNCOPTERROR };
        if !crate::client::is_kept_option(opt) {
            return GV_ERR_FUNCNOTALLOW;
        }
        if optval.is_null() || optlen != 4 {
            return GV_ERR_FUNCOPTERROR;
        }
        // SAFETY: 4 readable bytes at `optval`, checked above; unaligned read.
        let v = unsafe { std::ptr::read_unaligned(optval as *const i32) };
        crate::client::set_sdk_option(opt, v);
        if opt == BRAC_SO_LOCALVIDEO_APPLYPARAM && v != 0 {
            if let Ok(c) = super::sdk() {
                // Outside any library lock: the capture thread is joined.
                c.apply_camera_params();
            }
        }
        0
    }
}

/// Reads an option: the kept ones, and CORESDK_MAINVERSION, SUBVERSION
/// (int) and BUILDTIME (string; a buffer too small: what fits and 21).
/// Others: 20.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetSDKOption(optname: c_int, optval: *mut c_char, optlen: c_int) -> DWORD {
    ffi_boundary! {
        let Ok(opt) = u32::try_from(optname) else { return GV_ERR_FUNCOPTERROR };
        if optval.is_null() || optlen <= 0 {
            return GV_ERR_FUNCOPTERROR;
        }
        let int = match opt {
            BRAC_SO_CORESDK_MAINVERSION => env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0),
            BRAC_SO_CORESDK_SUBVERSION => env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0),
            BRAC_SO_CORESDK_BUILDTIME => {
                // SAFETY: `optlen` writable bytes, checked above.
                return unsafe { copy_out(optval, optlen as usize, build_description().as_bytes()) };
            }
            o if crate::client::is_kept_option(o) => crate::client::sdk_option(o).unwrap_or(0),
            _ => return GV_ERR_FUNCNOTALLOW,
        };
        // SAFETY: `optlen` writable bytes at `optval`, checked non-NULL.
        unsafe { put_u32(optval, optlen as usize, int as u32) }
    }
}

/// An info the business server set (`BRAS_SetUserInfo`) for this user (-1)
/// or a friend of it, seen through `WM_GV_USERINFOUPDATE(user, info id)` (or
/// `(0, 0)` after a friend was added or a sync). Nothing set: 205; a NULL
/// `lpInfoValue` or `dwLen` 0: 21; a buffer too small: what fits
/// (NUL-terminated) and 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserInfo(
    dwUserId: DWORD,
    dwInfoId: DWORD,
    lpInfoValue: *mut TCHAR,
    dwLen: DWORD,
) -> DWORD {
    ffi_boundary! {
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
}

// ----- friends and groups ----------------------------------------------------

/// Gives the ids `list` reads from the state, with the two-step habit.
///
/// # Safety
/// `arr` and `num` as for [`fill_ids`].
unsafe fn list_ids(
    arr: LPDWORD,
    num: *mut DWORD,
    list: impl FnOnce(&crate::client::State) -> Result<Vec<u32>, DWORD>,
) -> DWORD {
    with_sdk(|c| match c.with_state(list) {
        // SAFETY: pointers from the caller, checked inside.
        Ok(ids) => unsafe { fill_ids(arr, num, &ids) },
        Err(e) => e,
    })
}

/// The friends the business server gave this user (`BRAS_UserInfoControl`
/// ADDFRIEND, SETGROUPRELATION), in the order added, online or not. A NULL
/// `lpUserIDArray` writes their number to `dwUserNum`; else up to
/// `dwUserNum` ids are written and `dwUserNum` set to the number written.
/// Without a business server: none. A NULL `dwUserNum`: 21; not logged in: 208.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserFriends(lpUserIDArray: LPDWORD, dwUserNum: *mut DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        unsafe { list_ids(lpUserIDArray, dwUserNum, |st| st.friend_ids()) }
    }
}

/// Writes to `dwStatus` whether a friend is online (1) or not (0); changes
/// arrive as `WM_GV_FRIENDSTATUS(friend, 1 or 0)`. Not a friend: 205; a
/// NULL `dwStatus`: 21; not logged in: 208.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetFriendStatus(dwFriendUserId: DWORD, dwStatus: *mut DWORD) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            if dwStatus.is_null() {
                return GV_ERR_FUNCOPTERROR;
            }
            match c.with_state(|st| st.friend_status(dwFriendUserId)) {
                // SAFETY: checked non-NULL; the caller's DWORD.
                Ok(v) => unsafe { put(dwStatus, v) },
                Err(e) => e,
            }
        })
    }
}

/// The groups the business server gave this user (ADDGROUP), in the order
/// added, with the two-step habit of `BRAC_GetUserFriends`. Without a
/// business server: none. A NULL `dwGroupNum`: 21; not logged in: 208.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserGroups(lpGroupIDArray: LPDWORD, dwGroupNum: *mut DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        unsafe { list_ids(lpGroupIDArray, dwGroupNum, |st| st.group_ids()) }
    }
}

/// The friends in group `dwGroupId` (SETGROUPRELATION; a friend is in one
/// group at most), with the two-step habit of `BRAC_GetUserFriends`. A group
/// this user does not have or a NULL `dwUserNum`: 21; not logged in: 208.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetGroupFriends(
    dwGroupId: DWORD,
    lpUserIDArray: LPDWORD,
    dwUserNum: *mut DWORD,
) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        unsafe { list_ids(lpUserIDArray, dwUserNum, |st| st.group_friends(dwGroupId)) }
    }
}

/// The name of group `dwGroupId` (ADDGROUP's `lpStrValue`). A buffer too
/// small: what fits (NUL-terminated) and 21. A group this user does not
/// have, a NULL `lpGroupName` or `dwLen` 0: 21; not logged in: 208.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetGroupName(dwGroupId: DWORD, lpGroupName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            if lpGroupName.is_null() || dwLen == 0 {
                return GV_ERR_FUNCOPTERROR;
            }
            match c.with_state(|st| st.group_name(dwGroupId)) {
                // SAFETY: `dwLen` writable bytes, checked non-NULL.
                Ok(name) => unsafe { copy_out(lpGroupName, dwLen as usize, &name) },
                Err(e) => e,
            }
        })
    }
}

// ----- server queries ---------------------------------------------------------

/// How long `BRAC_QueryInfoFromServer` waits for the server's answer.
const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Asks the core server, and waits (at most 5 s) for its answer:
/// `ANYCHAT_SERVERQUERY_USERIDBYNAME` (`lpInParam` a user name: its id, a
/// DWORD, for a user logged in since the server started or kept by its call
/// records), `NAMEBYUSERID` (`lpInParam` a DWORD user id: the name,
/// NUL-terminated) and `ONLINEUSERS` (the number of users online, a DWORD).
/// `*dwOutSize` is the size of `lpResult` and becomes the size of the
/// answer; a NULL `lpResult` only asks for that size (the query runs). A
/// result larger than `*dwOutSize`: 21 (nothing written). Unknown user:
/// 205; the other queries (str ids, files, queues, status): 20; no answer
/// within 5 s: 100; not logged in: 208; a NULL `dwOutSize`, or input
/// missing: 21. `dwFlags` ignored.
#[no_mangle]
pub unsafe extern "C" fn BRAC_QueryInfoFromServer(
    dwInfoName: DWORD,
    lpInParam: *mut TCHAR,
    dwInSize: DWORD,
    lpResult: *mut TCHAR,
    dwOutSize: *mut DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        if dwOutSize.is_null() || (lpInParam.is_null() && dwInSize > 0) {
            return GV_ERR_FUNCOPTERROR;
        }
        let input = if dwInSize == 0 {
            Vec::new()
        } else {
            // SAFETY: `dwInSize` readable bytes at `lpInParam`, checked non-NULL.
            match unsafe { bytes_in(lpInParam as *const u8, dwInSize, MAX_NAME_LEN * 4) } {
                Ok(b) => b.to_vec(),
                Err(e) => return e,
            }
        };
        with_sdk(|c| match c.query_server(dwInfoName, input, QUERY_TIMEOUT) {
            Err(code) => code,
            Ok(out) => {
                // SAFETY: checked non-NULL; the caller's DWORD.
                let room = unsafe { *dwOutSize } as usize;
                // SAFETY: as above.
                unsafe { *dwOutSize = out.len() as DWORD };
                if lpResult.is_null() {
                    return 0;
                }
                if out.len() > room {
                    return GV_ERR_FUNCOPTERROR;
                }
                // SAFETY: `room` >= `out.len()` writable bytes at `lpResult`.
                unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), lpResult as *mut u8, out.len()) };
                0
            }
        })
    }
}
