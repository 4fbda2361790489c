//! The `BRAS_*` functions of the vendor's business-server SDK whose feature
//! this product does not provide (SDK filter data, file transfer, server
//! recording), with the conventions of [`crate::abi::brac::unsupported`]:
//! exact vendor parameters, one `ffi_boundary!` per body, 21
//! (`GV_ERR_FUNCOPTERROR`) for a NULL required pointer or a zero required
//! length, else 20 (`GV_ERR_FUNCNOTALLOW`), and 720 (`GV_ERR_RECORD_NOTASK`)
//! for stopping a recording, which cannot exist here.
//!
//! The setters of the callbacks of these features accept the registration
//! (NULL removes it) and return 0; the registrations are kept in the
//! registry (`bras::callbacks`), and never called.
#![allow(non_snake_case, non_camel_case_types, clippy::missing_safety_doc, clippy::too_many_arguments)]

use super::callbacks;
use crate::abi::boundary::{ffi_boundary, Registered};
use crate::abi::brac::unsupported::record_ctrl;
use crate::abi::types::*;
use crate::wire::constants::*;

// ----- callbacks of the features not provided --------------------------------

/// Accepts the registration (NULL removes it), returns 0; never called yet (no SDK filter data).
#[no_mangle]
pub extern "C" fn BRAS_SetOnRecvUserFilterDataCallBack(
    lpFunction: BRAS_OnRecvUserFilterData_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.filter_data = Registered::new(lpFunction, lpUserValue))
    }
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no buffer tasks to the server).
#[no_mangle]
pub extern "C" fn BRAS_SetOnTransBufferExCallBack(
    lpFunction: BRAS_OnTransBufferEx_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.trans_buffer_ex = Registered::new(lpFunction, lpUserValue))
    }
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no file transfer).
#[no_mangle]
pub extern "C" fn BRAS_SetOnTransFileCallBack(lpFunction: BRAS_OnTransFile_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.trans_file = Registered::new(lpFunction, lpUserValue))
    }
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no recording server).
#[no_mangle]
pub extern "C" fn BRAS_SetOnServerRecordCallBack(
    lpFunction: BRAS_OnServerRecord_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.server_record = Registered::new(lpFunction, lpUserValue))
    }
}

// ----- transfers and recording ------------------------------------------------

/// Not supported (no buffer tasks; use `BRAS_TransBuffer`): returns 20; a NULL `lpBuf` or `dwTaskId`, or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAS_TransBufferEx(
    dwUserId: DWORD,
    lpBuf: LPBYTE,
    dwLen: DWORD,
    wParam: DWORD,
    lParam: DWORD,
    dwFlags: DWORD,
    dwTaskId: *mut DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, wParam, lParam, dwFlags);
        if lpBuf.is_null() || dwLen == 0 || dwTaskId.is_null() {
            GV_ERR_FUNCOPTERROR
        } else {
            GV_ERR_FUNCNOTALLOW
        }
    }
}

/// Not supported (no file transfer): returns 20; a NULL `lpLocalPathName` or `dwTaskId`: 21.
#[no_mangle]
pub extern "C" fn BRAS_TransFile(
    dwUserId: DWORD,
    lpLocalPathName: LPCTSTR,
    wParam: DWORD,
    lParam: DWORD,
    dwFlags: DWORD,
    dwTaskId: *mut DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, wParam, lParam, dwFlags);
        if lpLocalPathName.is_null() || dwTaskId.is_null() { GV_ERR_FUNCOPTERROR } else { GV_ERR_FUNCNOTALLOW }
    }
}

/// Not supported (no recording server): starting returns 20, stopping 720 (`GV_ERR_RECORD_NOTASK`).
#[no_mangle]
pub extern "C" fn BRAS_StreamRecordCtrl(
    dwUserId: DWORD,
    bStartRecord: BOOL,
    dwFlags: DWORD,
    dwParam: DWORD,
    dwRecordServerId: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwFlags, dwParam, dwRecordServerId);
        record_ctrl(bStartRecord)
    }
}

/// Not supported (no recording server): starting returns 20, stopping 720 (`GV_ERR_RECORD_NOTASK`).
#[no_mangle]
pub extern "C" fn BRAS_StreamRecordCtrlEx(
    dwUserId: DWORD,
    bStartRecord: BOOL,
    dwFlags: DWORD,
    dwParam: DWORD,
    lpUserStr: LPCTSTR,
    dwRecordServerId: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwFlags, dwParam, lpUserStr, dwRecordServerId);
        record_ctrl(bStartRecord)
    }
}

/// Not supported (no recording server): returns 20; a NULL `lpBuf` or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAS_TransBuffer2RecordServer(
    dwUserId: DWORD,
    lpBuf: LPBYTE,
    dwLen: DWORD,
    dwParam: DWORD,
    dwRecordServerId: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = (dwUserId, dwParam, dwRecordServerId);
        if lpBuf.is_null() || dwLen == 0 { GV_ERR_FUNCOPTERROR } else { GV_ERR_FUNCNOTALLOW }
    }
}
