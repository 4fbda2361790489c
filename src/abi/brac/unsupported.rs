//! The `BRAC_*` functions of the vendor's client SDK whose feature this
//! product does not provide (recording,
//! file transfer, stream playback, image helpers, friends and business
//! objects…). They exist so that legacy programs link and run unchanged.
//!
//! Each one takes exactly the vendor's parameters, runs inside
//! `ffi_boundary!`, never dereferences memory it cannot check, and returns:
//! - 21 (`GV_ERR_FUNCOPTERROR`) when a required pointer is NULL, a required
//!   length is 0 (or negative), or an enumerated argument is out of range;
//! - otherwise 20 (`GV_ERR_FUNCNOTALLOW`), unless the truthful answer is
//!   known: no recording task and no GUID file task can exist (720 / 701),
//!   and the two settings without effect are accepted.
//!
//! The setters of the callbacks of these features accept the registration
//! (NULL removes it) and return 0, because apps register every callback at
//! start and give up on an error; the registrations are kept in the
//! registry (`brac::callbacks`), and never called.
#![allow(non_snake_case, non_camel_case_types, clippy::missing_safety_doc, clippy::too_many_arguments)]

use std::ffi::{c_char, c_int};

use super::callbacks;
use crate::abi::boundary::{ffi_boundary, Registered};
use crate::abi::types::*;
use crate::wire::constants::*;

/// 20 (`GV_ERR_FUNCNOTALLOW`) when the arguments pass the checks, else 21
/// (`GV_ERR_FUNCOPTERROR`).
fn unsupported(args_ok: bool) -> DWORD {
    if args_ok {
        GV_ERR_FUNCNOTALLOW
    } else {
        GV_ERR_FUNCOPTERROR
    }
}

/// An (info buffer, length) pair of the `int infolen` kind: non-NULL, length > 0.
fn info_buf(p: *const c_char, len: c_int) -> bool {
    !p.is_null() && len > 0
}

/// Start recording: 20 (no recording here); stop: 720 (`GV_ERR_RECORD_NOTASK`).
pub(crate) fn record_ctrl(bStartRecord: BOOL) -> DWORD {
    if bStartRecord != 0 {
        GV_ERR_FUNCNOTALLOW
    } else {
        GV_ERR_RECORD_NOTASK
    }
}

// ----- settings -------------------------------------------------------------

/// Accepted without effect (the core server has no server password): returns 0.
#[no_mangle]
pub extern "C" fn BRAC_SetServerAuthPass(lpPassword: LPCTSTR) -> DWORD {
    ffi_boundary! {
        let _ = lpPassword;
        0
    }
}

// ----- callbacks of the features not provided --------------------------------

/// Accepts the registration (NULL removes it), returns 0; never called yet (no file transfer).
#[no_mangle]
pub extern "C" fn BRAC_SetTransFileCallBack(lpFunction: BRAC_TransFile_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.trans_file = Registered::new(lpFunction, lpUserValue))
    }
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no local audio devices).
#[no_mangle]
pub extern "C" fn BRAC_SetVolumeChangeCallBack(lpFunction: BRAC_VolumeChange_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.volume_change = Registered::new(lpFunction, lpUserValue))
    }
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no recording or snapshots).
#[no_mangle]
pub extern "C" fn BRAC_SetRecordSnapShotCallBack(
    lpFunction: BRAC_RecordSnapShot_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.record_snapshot = Registered::new(lpFunction, lpUserValue))
    }
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no video windows).
#[no_mangle]
pub extern "C" fn BRAC_SetScreenEventCallBack(
    lpFunction: BRAC_VideoScreenEvent_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.screen_event = Registered::new(lpFunction, lpUserValue))
    }
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no media to encrypt).
#[no_mangle]
pub extern "C" fn BRAC_SetDataEncDecCallBack(lpFunction: BRAC_DataEncDec_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.data_enc_dec = Registered::new(lpFunction, lpUserValue))
    }
}

// ----- rooms and local devices ------------------------------------------------

/// Not supported (no video property dialog): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_ShowLVProperty(hParent: HWND, szCaption: LPCTSTR, dwX: DWORD, dwY: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = (hParent, szCaption, dwX, dwY);
        GV_ERR_FUNCNOTALLOW
    }
}

/// Not supported (no room states): returns 20; a NULL `infoval` or `infolen` <= 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_QueryRoomState(dwRoomId: DWORD, infoname: c_int, infoval: *mut c_char, infolen: c_int) -> DWORD {
    ffi_boundary! {
        let _ = (dwRoomId, infoname);
        unsupported(info_buf(infoval, infolen))
    }
}

// ----- media streams and rendering ----------------------------------------------

/// Not supported (no video rendering): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_RepaintVideo(dwUserId: DWORD, hDC: HDC) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, hDC);
        GV_ERR_FUNCNOTALLOW
    }
}

/// Not supported (no media streams): returns 20; a NULL `infoval` or `infolen` <= 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_SetUserStreamInfo(
    dwUserId: DWORD,
    dwStreamIndex: DWORD,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwStreamIndex, infoname);
        unsupported(info_buf(infoval, infolen))
    }
}

// ----- recording and snapshots -------------------------------------------------

/// Not supported (no recording): starting returns 20, stopping 720 (`GV_ERR_RECORD_NOTASK`).
#[no_mangle]
pub extern "C" fn BRAC_StreamRecordCtrl(dwUserId: DWORD, bStartRecord: BOOL, dwFlags: DWORD, dwParam: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwFlags, dwParam);
        record_ctrl(bStartRecord)
    }
}

/// Not supported (no recording): starting returns 20, stopping 720 (`GV_ERR_RECORD_NOTASK`).
#[no_mangle]
pub extern "C" fn BRAC_StreamRecordCtrlEx(
    dwUserId: DWORD,
    bStartRecord: BOOL,
    dwFlags: DWORD,
    dwParam: DWORD,
    lpUserStr: LPCTSTR,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwFlags, dwParam, lpUserStr);
        record_ctrl(bStartRecord)
    }
}

/// Not supported (no video to snap): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_SnapShot(dwUserId: DWORD, dwFlags: DWORD, dwParam: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwFlags, dwParam);
        GV_ERR_FUNCNOTALLOW
    }
}

// ----- file transfer ---------------------------------------------------------------

/// Not supported (no file transfer): returns 20; a NULL `lpLocalPathName` or `dwTaskId`: 21.
#[no_mangle]
pub extern "C" fn BRAC_TransFile(
    dwUserid: DWORD,
    lpLocalPathName: LPCTSTR,
    wParam: DWORD,
    lParam: DWORD,
    dwFlags: DWORD,
    dwTaskId: *mut DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserid, wParam, lParam, dwFlags);
        unsupported(!lpLocalPathName.is_null() && !dwTaskId.is_null())
    }
}

/// Not supported (no task progress): returns 20; a NULL `infoval` or `infolen` <= 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_QueryTransTaskInfo(
    dwUserid: DWORD,
    dwTaskId: DWORD,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserid, dwTaskId, infoname);
        unsupported(info_buf(infoval, infolen))
    }
}

/// Not supported (transfers cannot be cancelled): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_CancelTransTask(dwUserid: DWORD, dwTaskId: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserid, dwTaskId);
        GV_ERR_FUNCNOTALLOW
    }
}

/// Not supported (no file transfer): returns 20; a NULL `lpTaskGuid` or `lpLocalPathName`: 21.
#[no_mangle]
pub extern "C" fn BRAC_TransFileEx(
    lpTaskGuid: *mut CHAR,
    dwUserId: DWORD,
    lpLocalPathName: LPCTSTR,
    dwFlags: DWORD,
    lpUserString: *mut CHAR,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwFlags, lpUserString);
        unsupported(!lpTaskGuid.is_null() && !lpLocalPathName.is_null())
    }
}

/// No file task can exist: returns 701 (`GV_ERR_TRANSBUF_NOTASK`); a NULL pointer or `infolen` <= 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_QueryTransTaskInfoEx(
    lpTaskGuid: *mut CHAR,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    ffi_boundary! {
        let _ = infoname;
        if lpTaskGuid.is_null() || !info_buf(infoval, infolen) {
            GV_ERR_FUNCOPTERROR
        } else {
            GV_ERR_TRANSBUF_NOTASK
        }
    }
}

/// No file task can exist: returns 701 (`GV_ERR_TRANSBUF_NOTASK`); a NULL `lpTaskGuid`: 21.
#[no_mangle]
pub extern "C" fn BRAC_CancelTransTaskEx(lpTaskGuid: *mut CHAR, dwFlags: DWORD, dwErrorCode: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = (dwFlags, dwErrorCode);
        if lpTaskGuid.is_null() { GV_ERR_FUNCOPTERROR } else { GV_ERR_TRANSBUF_NOTASK }
    }
}

/// Not supported (no business-server filter data): returns 20; a NULL `lpBuf` or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_SendSDKFilterData(lpBuf: LPBYTE, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        unsupported(!lpBuf.is_null() && dwLen > 0)
    }
}

// ----- chat modes and private chat ------------------------------------------------

/// Not supported (no chat modes): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_ChangeChatMode(dwChatMode: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = dwChatMode;
        GV_ERR_FUNCNOTALLOW
    }
}

/// Not supported (no chat modes): returns 20; a NULL `dwChatMode`: 21.
#[no_mangle]
pub extern "C" fn BRAC_GetUserChatMode(dwUserid: DWORD, dwChatMode: *mut DWORD) -> DWORD {
    ffi_boundary! {
        let _ = dwUserid;
        unsupported(!dwChatMode.is_null())
    }
}

/// Not supported (no private chat; use the video call): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_PrivateChatRequest(dwUserid: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = dwUserid;
        GV_ERR_FUNCNOTALLOW
    }
}

/// Not supported (no private chat; use the video call): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_PrivateChatEcho(dwUserid: DWORD, dwRequestid: DWORD, bAccept: BOOL) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserid, dwRequestid, bAccept);
        GV_ERR_FUNCNOTALLOW
    }
}

/// Not supported (no private chat; use the video call): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_PrivateChatEchoEx(dwUserid: DWORD, dwRequestid: DWORD, dwErrorCode: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserid, dwRequestid, dwErrorCode);
        GV_ERR_FUNCNOTALLOW
    }
}

/// Not supported (no private chat; use the video call): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_PrivateChatExit(dwUserid: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = dwUserid;
        GV_ERR_FUNCNOTALLOW
    }
}

/// Not supported (no multicast): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_MultiCastControl(
    lpMultiCastAddr: LPCTSTR,
    dwPort: DWORD,
    lpNicAddr: LPCTSTR,
    dwTTL: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (lpMultiCastAddr, dwPort, lpNicAddr, dwTTL, dwFlags);
        GV_ERR_FUNCNOTALLOW
    }
}

// ----- external media input ------------------------------------------------------

// ----- server queries and SDK control -------------------------------------------

/// Not supported (no SDK control codes): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_SDKControl(
    dwCtrlCode: DWORD,
    lpInParam: *mut CHAR,
    lpResult: *mut CHAR,
    dwBufSize: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwCtrlCode, lpInParam, lpResult, dwBufSize);
        GV_ERR_FUNCNOTALLOW
    }
}

// ----- friends, groups and user infos ----------------------------------------------

/// Not supported (no client-side user control): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_UserInfoControl(
    dwUserId: DWORD,
    dwCtrlCode: DWORD,
    wParam: DWORD,
    lParam: DWORD,
    lpStrValue: LPCTSTR,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwCtrlCode, wParam, lParam, lpStrValue);
        GV_ERR_FUNCNOTALLOW
    }
}

// ----- business objects ---------------------------------------------------------------

/// Not supported (no business objects): returns 20; a NULL `dwIdNum`: 21.
#[no_mangle]
pub extern "C" fn BRAC_ObjectGetIdList(dwObjectType: DWORD, lpIdArray: LPDWORD, dwIdNum: *mut DWORD) -> DWORD {
    ffi_boundary! {
        let _ = (dwObjectType, lpIdArray);
        unsupported(!dwIdNum.is_null())
    }
}

/// Not supported (no business objects): returns 20; a NULL `lpInfoValue` or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_ObjectGetValue(
    dwObjectType: DWORD,
    dwObjectId: DWORD,
    dwInfoName: DWORD,
    lpInfoValue: *mut TCHAR,
    dwLen: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwObjectType, dwObjectId, dwInfoName);
        unsupported(!lpInfoValue.is_null() && dwLen > 0)
    }
}

/// Not supported (no business objects): returns 20; a NULL `lpInfoValue` with `dwLen` > 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_ObjectSetValue(
    dwObjectType: DWORD,
    dwObjectId: DWORD,
    dwInfoName: DWORD,
    lpInfoValue: *mut TCHAR,
    dwLen: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwObjectType, dwObjectId, dwInfoName);
        unsupported(!lpInfoValue.is_null() || dwLen == 0)
    }
}

/// Not supported (no business objects): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_ObjectControl(
    dwObjectType: DWORD,
    dwObjectId: DWORD,
    dwCtrlCode: DWORD,
    dwParam1: DWORD,
    dwParam2: DWORD,
    dwParam3: DWORD,
    dwParam4: DWORD,
    lpStrValue: LPCTSTR,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwObjectType, dwObjectId, dwCtrlCode, dwParam1, dwParam2, dwParam3, dwParam4, lpStrValue);
        GV_ERR_FUNCNOTALLOW
    }
}

// ----- stream playback -------------------------------------------------------------------

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid` or `lpStreamPath`: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlayInit(
    lpTaskGuid: *mut CHAR,
    lpStreamPath: *mut CHAR,
    dwFlags: DWORD,
    lpStrParam: *mut CHAR,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwFlags, lpStrParam);
        unsupported(!lpTaskGuid.is_null() && !lpStreamPath.is_null())
    }
}

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid`: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlayControl(
    lpTaskGuid: *mut CHAR,
    dwCtrlCode: DWORD,
    dwParam: DWORD,
    dwFlags: DWORD,
    lpStrParam: *mut CHAR,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwCtrlCode, dwParam, dwFlags, lpStrParam);
        unsupported(!lpTaskGuid.is_null())
    }
}

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid`: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlaySetVideoPos(
    lpTaskGuid: *mut CHAR,
    hWnd: HWND,
    dwLeft: DWORD,
    dwTop: DWORD,
    dwRight: DWORD,
    dwBottom: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (hWnd, dwLeft, dwTop, dwRight, dwBottom);
        unsupported(!lpTaskGuid.is_null())
    }
}

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid` or `infoValue`, or `dwSize` 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlayGetInfo(
    lpTaskGuid: *mut CHAR,
    dwInfoName: DWORD,
    infoValue: *mut CHAR,
    dwSize: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwInfoName;
        unsupported(!lpTaskGuid.is_null() && !infoValue.is_null() && dwSize > 0)
    }
}

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid`: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlayDestroy(lpTaskGuid: *mut CHAR, dwFlags: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        unsupported(!lpTaskGuid.is_null())
    }
}

// ----- image helpers --------------------------------------------------------------------------

/// Not supported (no image processing): returns 20; a NULL `lpInFrame` or `dwOutSize`: 21.
#[no_mangle]
pub extern "C" fn BRAC_ImageScale(
    dwSrcWidth: DWORD,
    dwSrcHeight: DWORD,
    dwSrcFmt: DWORD,
    lpInFrame: *mut CHAR,
    dwDesWidth: DWORD,
    dwDesHeight: DWORD,
    dwDesFmt: DWORD,
    lpOutFrame: *mut CHAR,
    dwOutSize: *mut DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwSrcWidth, dwSrcHeight, dwSrcFmt, dwDesWidth, dwDesHeight, dwDesFmt, lpOutFrame);
        unsupported(!lpInFrame.is_null() && !dwOutSize.is_null())
    }
}

/// Not supported (no image processing): returns 20; a NULL `lpInFrame` or `lpOutFrame`: 21.
#[no_mangle]
pub extern "C" fn BRAC_RotateYUV420PFrame(
    dwWidth: DWORD,
    dwHeight: DWORD,
    lpInFrame: *mut CHAR,
    lpOutFrame: *mut CHAR,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwWidth, dwHeight, dwFlags);
        unsupported(!lpInFrame.is_null() && !lpOutFrame.is_null())
    }
}

/// Not supported (no image processing): returns 20; a NULL `lpFilePath`, `dwWidth`, `dwHeight` or `dwOutSize`: 21.
#[no_mangle]
pub extern "C" fn BRAC_ImageDecode(
    lpFilePath: *mut CHAR,
    dwWidth: *mut DWORD,
    dwHeight: *mut DWORD,
    dwOutFmt: DWORD,
    lpOutFrame: *mut CHAR,
    dwOutSize: *mut DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwOutFmt, lpOutFrame);
        unsupported(!lpFilePath.is_null() && !dwWidth.is_null() && !dwHeight.is_null() && !dwOutSize.is_null())
    }
}
